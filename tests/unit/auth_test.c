/* auth_test: df_auth without a server: configuration checks naming the
 * field, token URL defaults and {tenant}, the fleet cache key (sha256 of
 * kind|token_url|id|scope), Google JSON key files, and that client secrets
 * and private keys are redacted from logs once an authenticator exists.
 * The token flows themselves are in tests/integration/auth_test.c. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "df_auth.h"
#include "df_log.h"
#include "df_test.h"

static char dir[] = "/tmp/df-auth-test-XXXXXX";
static char *key_pem;

static void setup_key(void)
{
    char cmd[512], path[256];
    FILE *f;
    long n;

    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/key.pem "
             "2>/dev/null",
             dir);
    REQUIRE(system(cmd) == 0);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    f = fopen(path, "r");
    REQUIRE(f != NULL);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    key_pem = calloc(1, (size_t)n + 1);
    REQUIRE(key_pem && fread(key_pem, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    unlink(path);
    rmdir(dir);
}

static void sha256_hex(const char *text, char out[65])
{
    unsigned char d[32];
    unsigned int n = 0;

    EVP_Digest(text, strlen(text), d, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void new_fails(const df_auth_config_t *cfg, df_code_t code, const char *field)
{
    df_error_t err;
    df_auth_t *auth;

    df_error_init(&err);
    auth = df_auth_new(cfg, NULL, &err);
    CHECK(auth == NULL);
    df_auth_destroy(auth);
    CHECK_MSG(err.code == code, "%s: %s", field, df_code_name(err.code));
    CHECK_STR(err.field, field);
}

static void test_config_checks(void)
{
    df_auth_config_t cc = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                            .tenant = "contoso.onmicrosoft.com",
                            .client_id = "app",
                            .client_secret = "shh-very-secret" };
    df_auth_config_t sa = { .kind = DF_AUTH_SERVICE_ACCOUNT,
                            .client_email = "sa@p",
                            .private_key_pem = key_pem,
                            .scope = "s" };
    df_auth_config_t c;

    new_fails(NULL, DF_ERR_INVALID, "auth");
    c = cc;
    c.kind = (df_auth_kind_t)7;
    new_fails(&c, DF_ERR_INVALID, "kind");
    c = cc;
    c.client_id = "";
    new_fails(&c, DF_ERR_INVALID, "client_id");
    c = cc;
    c.client_secret = NULL;
    new_fails(&c, DF_ERR_INVALID, "client_secret");
    c = cc;
    c.tenant = NULL; /* the Entra default needs one */
    new_fails(&c, DF_ERR_INVALID, "tenant");
    c = cc;
    c.token_url = "ftp://login/token";
    new_fails(&c, DF_ERR_INVALID, "token_url");

    c = sa;
    c.client_email = NULL;
    new_fails(&c, DF_ERR_INVALID, "client_email");
    c = sa;
    c.scope = NULL;
    new_fails(&c, DF_ERR_INVALID, "scope");
    c = sa;
    c.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n";
    new_fails(&c, DF_ERR_INVALID, "private_key");
}

static void test_token_urls_and_cache_key(void)
{
    df_auth_config_t cc = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                            .tenant = "contoso.onmicrosoft.com",
                            .client_id = "app-id",
                            .client_secret = "shh-very-secret",
                            .scope = "https://analysis.windows.net/powerbi/api/.default" };
    df_auth_config_t sa = { .kind = DF_AUTH_SERVICE_ACCOUNT,
                            .client_email = "sa@p.iam",
                            .private_key_pem = key_pem,
                            .scope = "a b" };
    char want[128], hex[65], spec[8192];
    df_error_t err;
    df_auth_t *auth;

    df_error_init(&err);
    auth = df_auth_new(&cc, NULL, &err);
    REQUIRE(auth != NULL);
    CHECK_STR(df_auth_token_url(auth),
              "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    sha256_hex("client_credentials|https://login.microsoftonline.com/contoso.onmicrosoft.com/"
               "oauth2/v2.0/token|app-id|https://analysis.windows.net/powerbi/api/.default"
               "|shh-very-secret",
               hex);
    snprintf(want, sizeof(want), "df:token:%s", hex);
    CHECK_STR(df_auth_cache_key(auth), want);
    df_auth_destroy(auth);

    /* The same app with another secret never shares the cached token. */
    cc.client_secret = "a-wrong-secret";
    auth = df_auth_new(&cc, NULL, &err);
    REQUIRE(auth != NULL);
    CHECK(strcmp(df_auth_cache_key(auth), want) != 0);
    df_auth_destroy(auth);
    cc.client_secret = "shh-very-secret";

    /* Sovereign cloud template, with a tenant that needs escaping. */
    cc.token_url = "https://login.chinacloudapi.cn/{tenant}/oauth2/v2.0/token?x=1";
    cc.tenant = "a b";
    auth = df_auth_new(&cc, NULL, &err);
    REQUIRE(auth != NULL);
    CHECK_STR(df_auth_token_url(auth),
              "https://login.chinacloudapi.cn/a%20b/oauth2/v2.0/token?x=1");
    df_auth_destroy(auth);

    auth = df_auth_new(&sa, NULL, &err);
    REQUIRE(auth != NULL);
    CHECK_STR(df_auth_token_url(auth), DF_AUTH_GOOGLE_TOKEN_URL);
    snprintf(spec, sizeof(spec),
             "service_account|https://oauth2.googleapis.com/token|sa@p.iam|a b|%s", key_pem);
    sha256_hex(spec, hex);
    snprintf(want, sizeof(want), "df:token:%s", hex);
    CHECK_STR(df_auth_cache_key(auth), want);
    df_auth_destroy(auth);

    /* A delegated subject is another token. */
    sa.subject = "user@example.com";
    auth = df_auth_new(&sa, NULL, &err);
    REQUIRE(auth != NULL);
    snprintf(spec, sizeof(spec),
             "service_account|https://oauth2.googleapis.com/token|sa@p.iam|a b|user@example.com|%s",
             key_pem);
    sha256_hex(spec, hex);
    snprintf(want, sizeof(want), "df:token:%s", hex);
    CHECK_STR(df_auth_cache_key(auth), want);
    df_auth_destroy(auth);
    df_auth_destroy(NULL);
}

static void test_google_key_json(void)
{
    json_t *key =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "client_email",
                  "exporter@proj.iam.gserviceaccount.com", "private_key", key_pem, "private_key_id",
                  "abc123", "token_uri", "https://oauth2.googleapis.com/token");
    char *text = json_dumps(key, 0);
    df_error_t err;
    df_auth_t *auth;

    REQUIRE(text != NULL);
    df_error_init(&err);
    auth = df_auth_new_google_key(text, "https://www.googleapis.com/auth/spreadsheets", NULL, NULL,
                                  &err);
    CHECK_MSG(auth != NULL, "%s", err.message);
    if (auth)
        CHECK_STR(df_auth_token_url(auth), "https://oauth2.googleapis.com/token");
    df_auth_destroy(auth);
    auth = df_auth_new_google_key(text, "s", "http://127.0.0.1:9/token", NULL, &err);
    CHECK(auth && strcmp(df_auth_token_url(auth), "http://127.0.0.1:9/token") == 0);
    df_auth_destroy(auth);
    free(text);

    json_object_set_new(key, "type", json_string("authorized_user"));
    text = json_dumps(key, 0);
    auth = df_auth_new_google_key(text, "s", NULL, NULL, &err);
    CHECK(auth == NULL);
    CHECK_STR(err.field, "key_json.type");
    free(text);
    json_decref(key);

    auth = df_auth_new_google_key("not json", "s", NULL, NULL, &err);
    CHECK(auth == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    auth = df_auth_new_google_key("{\"type\":\"service_account\"}", "s", NULL, NULL, &err);
    CHECK(auth == NULL);
    CHECK_STR(err.field, "client_email");
}

static void test_secrets_redacted_in_logs(void)
{
    df_auth_config_t cc = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                            .token_url = "https://t/token",
                            .client_id = "app",
                            .client_secret = "Zq8~client.secret-VALUE" };
    df_auth_config_t sa = { .kind = DF_AUTH_SERVICE_ACCOUNT,
                            .client_email = "sa@p",
                            .private_key_pem = key_pem,
                            .scope = "s" };
    char first_line[80], buf[8192];
    const char *p;
    df_auth_t *a, *b;
    df_error_t err;
    int fds[2];
    ssize_t n;

    df_error_init(&err);
    a = df_auth_new(&cc, NULL, &err);
    b = df_auth_new(&sa, NULL, &err);
    REQUIRE(a && b);
    p = strchr(key_pem, '\n') + 1;
    snprintf(first_line, sizeof(first_line), "%.*s", (int)strcspn(p, "\n"), p);

    REQUIRE(pipe(fds) == 0);
    df_log_set_fd(fds[1]);
    df_info("oops, logged the secret %s and a key line %s", "Zq8~client.secret-VALUE", first_line);
    df_log_set_fd(2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    REQUIRE(n > 0);
    buf[n] = '\0';
    CHECK_MSG(!strstr(buf, "Zq8~client.secret-VALUE"), "%s", buf);
    CHECK_MSG(!strstr(buf, first_line), "%s", buf);
    CHECK(strstr(buf, "the secret ***") != NULL);
    df_auth_destroy(a);
    df_auth_destroy(b);
}

int main(void)
{
    df_log_init("auth-test", DF_LOG_INFO);
    setup_key();
    RUN(test_config_checks);
    RUN(test_token_urls_and_cache_key);
    RUN(test_google_key_json);
    RUN(test_secrets_redacted_in_logs);
    free(key_pem);
    return df_test_done();
}
