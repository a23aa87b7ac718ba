/* auth_test: the fleet token cache against the real Redis
 * (DATAFLEET_REDIS_URL) and a local token server (token_server.py) that
 * counts token requests. Two df_auth users (two workers' authenticators
 * for one connector) with eight concurrent callers make one token request;
 * a token near expiry is refreshed; force_refresh after a 401 makes one
 * new request, also when four callers force at once; the value in Redis is
 * sealed (not the token); refused credentials are DF_ERR_AUTH with the
 * provider's message and 503 is retryable; the service-account JWT grant
 * is accepted by a server that verifies the signature; no Redis, and a
 * cache sealed under another key, fall back to the provider. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_auth.h"
#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"
#include "df_secret.h"
#include "token_server.h"

#define CALLERS 8

static const char *redis_url;
static token_server_t server;
static df_secret_keyring_t *keyring;
static char key_dir[] = "/tmp/df-auth-it-XXXXXX";
static char pub_path[128];
static char *key_pem;

static df_redis_t *connect_redis(void)
{
    df_error_t err;
    df_redis_t *redis;

    df_error_init(&err);
    redis = df_redis_new(redis_url, 2000, 2000, &err);
    REQUIRE(redis != NULL);
    return redis;
}

static df_http_t *new_http(void)
{
    df_http_options_t opts = { .timeout_ms = 5000 };
    df_error_t err;
    df_http_t *http;

    df_error_init(&err);
    http = df_http_new(&opts, &err);
    REQUIRE(http != NULL);
    return http;
}

/* Client-credentials settings against the local server; scope makes each
 * test's cache key its own. */
static df_auth_t *cc_auth(const char *scope, const char *secret, const df_secret_keyring_t *kr)
{
    char url[160];
    df_auth_config_t cfg = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                             .tenant = "contoso",
                             .client_id = "app-id",
                             .client_secret = secret,
                             .scope = scope };
    df_error_t err;
    df_auth_t *auth;

    snprintf(url, sizeof(url), "%s/{tenant}/oauth2/v2.0/token", server.base);
    cfg.token_url = url;
    df_error_init(&err);
    auth = df_auth_new(&cfg, kr, &err);
    CHECK_MSG(auth != NULL, "%s", err.message);
    return auth;
}

static void unique_scope(char *buf, size_t len, const char *name)
{
    char id[DF_ID_BUF];
    df_id_ulid(id);
    snprintf(buf, len, "https://test/%s/%s/.default", name, id);
}

/* One call with its own connections; token copied to out. */
static df_code_t token_once(df_auth_t *auth, bool force, char *out, size_t len, df_error_t *err)
{
    df_redis_t *redis = connect_redis();
    df_http_t *http = new_http();
    df_code_t rc;

    df_error_init(err);
    rc = df_auth_token(auth, redis, http, force, out, len, err);
    df_http_destroy(http);
    df_redis_destroy(redis);
    return rc;
}

typedef struct caller {
    df_auth_t *auth;
    bool force;
    pthread_barrier_t *start;
    df_code_t rc;
    char token[DF_AUTH_TOKEN_MAX];
    char error[DF_ERR_MSG_MAX];
} caller_t;

static void *call(void *arg)
{
    caller_t *c = arg;
    df_redis_t *redis = connect_redis();
    df_http_t *http = new_http();
    df_error_t err;

    df_error_init(&err);
    pthread_barrier_wait(c->start);
    c->rc = df_auth_token(c->auth, redis, http, c->force, c->token, sizeof(c->token), &err);
    snprintf(c->error, sizeof(c->error), "%s", err.message);
    df_http_destroy(http);
    df_redis_destroy(redis);
    return NULL;
}

/* n concurrent callers alternating between a and b; all must agree. */
static void concurrent(df_auth_t *a, df_auth_t *b, int n, bool force, char *agreed, size_t len)
{
    caller_t *callers = calloc((size_t)n, sizeof(*callers));
    pthread_t threads[CALLERS];
    pthread_barrier_t start;

    REQUIRE(callers != NULL && n <= CALLERS);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        callers[i].auth = i % 2 ? b : a;
        callers[i].force = force;
        callers[i].start = &start;
        REQUIRE(pthread_create(&threads[i], NULL, call, &callers[i]) == 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < n; i++) {
        CHECK_MSG(callers[i].rc == DF_OK, "caller %d: %s", i, callers[i].error);
        CHECK_MSG(strcmp(callers[i].token, callers[0].token) == 0, "caller %d: %s vs %s", i,
                  callers[i].token, callers[0].token);
    }
    snprintf(agreed, len, "%s", callers[0].token);
    pthread_barrier_destroy(&start);
    free(callers);
}

static void test_single_flight_and_sealed_cache(void)
{
    char scope[128], token[DF_AUTH_TOKEN_MAX], again[DF_AUTH_TOKEN_MAX];
    df_auth_t *a, *b;
    long before;
    df_redis_t *redis;
    redisReply *reply;
    df_error_t err;

    unique_scope(scope, sizeof(scope), "flight");
    a = cc_auth(scope, "app-secret", keyring);
    b = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a && b);
    CHECK_STR(df_auth_cache_key(a), df_auth_cache_key(b));
    token_server_control(&server, "{\"reset\":true,\"delay_ms\":300}");
    before = token_server_count(&server, "token_requests");

    concurrent(a, b, CALLERS, false, token, sizeof(token));
    CHECK(strncmp(token, "tok-", 4) == 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 1);

    /* Cached: more calls ask nobody. */
    CHECK_INT(token_once(a, false, again, sizeof(again), &err), DF_OK);
    CHECK_STR(again, token);
    CHECK_INT(token_once(b, false, again, sizeof(again), &err), DF_OK);
    CHECK_STR(again, token);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 1);

    /* What Redis holds is sealed, bound to its key, and lives as long as the token. */
    redis = connect_redis();
    df_error_init(&err);
    reply = df_redis_command(redis, &err, "GET %s", df_auth_cache_key(a));
    REQUIRE(reply && reply->type == REDIS_REPLY_STRING);
    CHECK(strncmp(reply->str, "v1:", 3) == 0);
    CHECK_MSG(!strstr(reply->str, token) && !strstr(reply->str, "tok-"), "%s", reply->str);
    {
        char *plain = NULL;
        size_t len = 0;
        CHECK_INT(df_secret_open(keyring, reply->str, df_auth_cache_key(a), &plain, &len, &err),
                  DF_OK);
        CHECK(plain && strstr(plain, token) != NULL);
        df_secret_free(plain, len);
        CHECK_INT(df_secret_open(keyring, reply->str, "df:token:other", &plain, &len, &err),
                  DF_ERR_INVALID);
    }
    freeReplyObject(reply);
    reply = df_redis_command(redis, &err, "PTTL %s", df_auth_cache_key(a));
    REQUIRE(reply != NULL);
    CHECK_MSG(reply->integer > 3590000 && reply->integer <= 3600000, "pttl %lld", reply->integer);
    freeReplyObject(reply);
    df_redis_destroy(redis);
    df_auth_destroy(a);
    df_auth_destroy(b);
}

static void test_refresh_before_expiry(void)
{
    char scope[128], t1[DF_AUTH_TOKEN_MAX], t2[DF_AUTH_TOKEN_MAX], t3[DF_AUTH_TOKEN_MAX];
    df_auth_t *a;
    df_error_t err;
    long before;

    unique_scope(scope, sizeof(scope), "expiry");
    a = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a != NULL);
    /* A 2 s token is renewed at 80% of its life: after 1.6 s. */
    token_server_control(&server, "{\"reset\":true,\"expires_in\":2}");
    before = token_server_count(&server, "token_requests");
    CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_OK);
    CHECK_INT(token_once(a, false, t2, sizeof(t2), &err), DF_OK);
    CHECK_STR(t2, t1);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 1);
    usleep(1700 * 1000);
    CHECK_INT(token_once(a, false, t3, sizeof(t3), &err), DF_OK);
    CHECK(strcmp(t3, t1) != 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);
    token_server_control(&server, "{\"reset\":true}");
    df_auth_destroy(a);
}

static void test_renewal_failure_keeps_valid_token(void)
{
    char scope[128], t1[DF_AUTH_TOKEN_MAX], t2[DF_AUTH_TOKEN_MAX];
    df_auth_t *a;
    df_error_t err;

    unique_scope(scope, sizeof(scope), "grace");
    a = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a != NULL);
    /* A 4 s token is renewed after 3.2 s; while the provider is down it is
     * still used until 0.4 s (half the margin) before it expires. */
    token_server_control(&server, "{\"reset\":true,\"expires_in\":4}");
    CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_OK);
    token_server_control(&server, "{\"fail\":\"503\"}");
    usleep(3300 * 1000);
    df_log_init("auth-test", DF_LOG_ERROR); /* the expected warning */
    CHECK_MSG(token_once(a, false, t2, sizeof(t2), &err) == DF_OK, "%s", err.message);
    CHECK_STR(t2, t1);
    /* A 401 means this token is refused: no grace then. */
    CHECK_INT(token_once(a, true, t2, sizeof(t2), &err), DF_ERR_HTTP);
    usleep(500 * 1000);
    CHECK_INT(token_once(a, false, t2, sizeof(t2), &err), DF_ERR_HTTP);
    CHECK(err.retryable);
    df_log_init("auth-test", DF_LOG_INFO);
    token_server_control(&server, "{\"reset\":true}");
    df_auth_destroy(a);
}

static void test_force_refresh_after_401(void)
{
    char scope[128], t1[DF_AUTH_TOKEN_MAX], t2[DF_AUTH_TOKEN_MAX], t3[DF_AUTH_TOKEN_MAX];
    df_auth_t *a, *b;
    df_error_t err;
    long before;

    unique_scope(scope, sizeof(scope), "force");
    a = cc_auth(scope, "app-secret", keyring);
    b = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a && b);
    token_server_control(&server, "{\"reset\":true}");
    before = token_server_count(&server, "token_requests");
    CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_OK);
    CHECK_INT(token_once(b, false, t2, sizeof(t2), &err), DF_OK);
    CHECK_STR(t2, t1);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 1);

    /* The API said 401 to t1: one new request, a new token. */
    CHECK_INT(token_once(a, true, t2, sizeof(t2), &err), DF_OK);
    CHECK(strcmp(t2, t1) != 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);
    /* The other worker, refused with t1 too, picks up t2 without asking. */
    CHECK_INT(token_once(b, true, t3, sizeof(t3), &err), DF_OK);
    CHECK_STR(t3, t2);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);

    /* Four callers refused at once: still one request. */
    token_server_control(&server, "{\"delay_ms\":300}");
    concurrent(a, b, 4, true, t3, sizeof(t3));
    CHECK(strcmp(t3, t2) != 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 3);
    token_server_control(&server, "{\"reset\":true}");
    df_auth_destroy(a);
    df_auth_destroy(b);
}

static void test_provider_errors(void)
{
    char scope[128], token[DF_AUTH_TOKEN_MAX];
    df_auth_t *a;
    df_error_t err;
    long before;

    unique_scope(scope, sizeof(scope), "errors");
    a = cc_auth(scope, "wr0ng-s3cret-value", keyring);
    REQUIRE(a != NULL);
    token_server_control(&server, "{\"reset\":true}");
    before = token_server_count(&server, "token_requests");
    CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_ERR_AUTH);
    CHECK(!err.retryable);
    CHECK_MSG(strstr(err.message, "invalid_client: AADSTS7000215: Invalid client secret") != NULL,
              "%s", err.message);
    CHECK_MSG(strstr(err.message, "/contoso/oauth2/v2.0/token") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "wr0ng-s3cret-value"), "%s", err.message);
    CHECK_STR(token, "");
    /* The lock was released: the next call asks again at once. */
    CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_ERR_AUTH);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);
    df_auth_destroy(a);

    /* The provider is down: retryable, with its Retry-After. */
    unique_scope(scope, sizeof(scope), "down");
    a = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a != NULL);
    token_server_control(&server, "{\"fail\":\"503\"}");
    CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_ERR_HTTP);
    CHECK(err.retryable);
    CHECK_INT(err.retry_after_ms, 2000);
    CHECK_MSG(strstr(err.message, "HTTP 503") != NULL, "%s", err.message);
    token_server_control(&server, "{\"reset\":true}");
    CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_OK);
    df_auth_destroy(a);

    /* Nobody listens at the token URL: retryable transport error. */
    {
        df_auth_config_t cfg = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                                 .token_url = "http://127.0.0.1:9/token?x=y",
                                 .client_id = "a",
                                 .client_secret = "b-secret" };
        df_error_init(&err);
        a = df_auth_new(&cfg, keyring, &err);
        REQUIRE(a != NULL);
        CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_ERR_HTTP);
        CHECK(err.retryable);
        CHECK_MSG(strstr(err.message, "token request") != NULL, "%s", err.message);
        CHECK(!strstr(err.message, "x=y"));
        df_auth_destroy(a);
    }
}

static void test_service_account_jwt(void)
{
    char url[160], scope[128], t1[DF_AUTH_TOKEN_MAX], t2[DF_AUTH_TOKEN_MAX];
    json_t *key;
    char *key_json;
    df_auth_t *a, *b;
    df_error_t err;
    long before;

    unique_scope(scope, sizeof(scope), "sheets");
    snprintf(url, sizeof(url), "%s/google/token", server.base);
    key = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "client_email",
                    "exporter@proj.iam.gserviceaccount.com", "private_key", key_pem,
                    "private_key_id", "kid-1", "token_uri", "https://oauth2.googleapis.com/token");
    key_json = json_dumps(key, 0);
    json_decref(key);
    REQUIRE(key_json != NULL);
    df_error_init(&err);
    a = df_auth_new_google_key(key_json, scope, url, keyring, &err);
    b = df_auth_new_google_key(key_json, scope, url, keyring, &err);
    free(key_json);
    REQUIRE(a && b);
    before = token_server_count(&server, "jwt_requests");
    CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_OK);
    CHECK_MSG(strncmp(t1, "tok-", 4) == 0, "%s", err.message);
    CHECK_INT(token_once(b, false, t2, sizeof(t2), &err), DF_OK);
    CHECK_STR(t2, t1);
    CHECK_INT(token_server_count(&server, "jwt_requests") - before, 1);
    df_auth_destroy(a);
    df_auth_destroy(b);

    /* A key the server does not trust: its "invalid_grant" comes back. */
    {
        df_auth_config_t cfg = {
            .kind = DF_AUTH_SERVICE_ACCOUNT, .token_url = url, .client_email = "x@y", .scope = scope
        };
        char path[256], cmd[512];
        FILE *f;
        long n;
        char *other;

        snprintf(path, sizeof(path), "%s/other.pem", key_dir);
        snprintf(cmd, sizeof(cmd),
                 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s 2>/dev/null",
                 path);
        REQUIRE(system(cmd) == 0);
        f = fopen(path, "r");
        REQUIRE(f != NULL);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        other = calloc(1, (size_t)n + 1);
        REQUIRE(other && fread(other, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        cfg.private_key_pem = other;
        a = df_auth_new(&cfg, keyring, &err);
        REQUIRE(a != NULL);
        CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_ERR_AUTH);
        CHECK_MSG(strstr(err.message, "invalid_grant: Invalid JWT Signature.") != NULL, "%s",
                  err.message);
        df_auth_destroy(a);
        free(other);
    }
}

static void test_fallbacks(void)
{
    char scope[128], t1[DF_AUTH_TOKEN_MAX], t2[DF_AUTH_TOKEN_MAX];
    df_secret_keyring_t *other_ring;
    df_auth_t *a, *b;
    df_http_t *http = new_http();
    df_error_t err;
    long before;
    char *other_key = df_secret_key_generate();

    unique_scope(scope, sizeof(scope), "fallback");
    token_server_control(&server, "{\"reset\":true}");
    before = token_server_count(&server, "token_requests");

    /* No Redis: each authenticator asks for itself, then keeps its token. */
    a = cc_auth(scope, "app-secret", keyring);
    b = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a && b);
    df_error_init(&err);
    CHECK_INT(df_auth_token(a, NULL, http, false, t1, sizeof(t1), &err), DF_OK);
    CHECK_INT(df_auth_token(a, NULL, http, false, t2, sizeof(t2), &err), DF_OK);
    CHECK_STR(t2, t1);
    CHECK_INT(df_auth_token(b, NULL, http, false, t2, sizeof(t2), &err), DF_OK);
    CHECK(strcmp(t2, t1) != 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);
    /* Too small a buffer is an error, not a truncated token. */
    CHECK_INT(df_auth_token(a, NULL, http, false, t2, 8, &err), DF_ERR_INVALID);
    df_auth_destroy(a);
    df_auth_destroy(b);

    /* A cache sealed under a key this worker does not have: it asks the
     * provider and replaces the entry. */
    REQUIRE(other_key != NULL);
    other_ring = df_secret_keyring_parse(other_key, &err);
    REQUIRE(other_ring != NULL);
    unique_scope(scope, sizeof(scope), "rotated");
    a = cc_auth(scope, "app-secret", keyring);
    b = cc_auth(scope, "app-secret", other_ring);
    REQUIRE(a && b);
    before = token_server_count(&server, "token_requests");
    CHECK_INT(token_once(a, false, t1, sizeof(t1), &err), DF_OK);
    df_log_init("auth-test", DF_LOG_ERROR); /* the expected warning */
    CHECK_INT(token_once(b, false, t2, sizeof(t2), &err), DF_OK);
    df_log_init("auth-test", DF_LOG_INFO);
    CHECK(strcmp(t2, t1) != 0);
    CHECK_INT(token_server_count(&server, "token_requests") - before, 2);
    df_auth_destroy(a);
    df_auth_destroy(b);
    df_secret_keyring_destroy(other_ring);
    df_secret_free_str(other_key);
    df_http_destroy(http);
}

static void test_tokens_redacted(void)
{
    char scope[128], token[DF_AUTH_TOKEN_MAX], buf[8192];
    df_auth_t *a;
    df_error_t err;
    int fds[2];
    ssize_t n;

    unique_scope(scope, sizeof(scope), "redact");
    a = cc_auth(scope, "app-secret", keyring);
    REQUIRE(a != NULL);
    CHECK_INT(token_once(a, false, token, sizeof(token), &err), DF_OK);
    REQUIRE(pipe(fds) == 0);
    df_log_set_fd(fds[1]);
    df_info("a careless line with %s", token);
    df_log_set_fd(2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    REQUIRE(n > 0);
    buf[n] = '\0';
    CHECK_MSG(!strstr(buf, token), "%s", buf);
    df_auth_destroy(a);
}

static void setup(void)
{
    char cmd[1024], path[256];
    char *key = df_secret_key_generate();
    df_error_t err;
    FILE *f;
    long n;

    df_error_init(&err);
    REQUIRE(key != NULL);
    keyring = df_secret_keyring_parse(key, &err);
    df_secret_free_str(key);
    REQUIRE(keyring != NULL);
    REQUIRE(mkdtemp(key_dir) != NULL);
    snprintf(path, sizeof(path), "%s/key.pem", key_dir);
    snprintf(pub_path, sizeof(pub_path), "%s/pub.pem", key_dir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s 2>/dev/null && "
             "openssl pkey -in %s -pubout -out %s",
             path, path, pub_path);
    REQUIRE(system(cmd) == 0);
    f = fopen(path, "r");
    REQUIRE(f != NULL);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    key_pem = calloc(1, (size_t)n + 1);
    REQUIRE(key_pem && fread(key_pem, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    token_server_start(&server, pub_path);
}

static void teardown(void)
{
    char cmd[256];

    token_server_stop(&server);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", key_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", key_dir);
    free(key_pem);
    df_secret_keyring_destroy(keyring);
}

int main(void)
{
    redis_url = df_test_env("DATAFLEET_REDIS_URL");
    df_log_init("auth-test", DF_LOG_INFO);
    setup();
    RUN(test_single_flight_and_sealed_cache);
    RUN(test_refresh_before_expiry);
    RUN(test_renewal_failure_keeps_valid_token);
    RUN(test_force_refresh_after_401);
    RUN(test_provider_errors);
    RUN(test_service_account_jwt);
    RUN(test_fallbacks);
    RUN(test_tokens_redacted);
    teardown();
    return df_test_done();
}
