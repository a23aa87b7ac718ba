/* df_auth: OAuth2 client credentials and service-account JWT bearer
 * tokens, cached for the fleet in Redis under a single-flight lock (see
 * df_auth.h). */
#include "df_auth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_id.h"
#include "df_jwt.h"
#include "df_log.h"

#define POLL_MS          50
#define GRACE_MAX_MS     60000
#define FORM_MAX         (256u * 1024u)
#define REDACT_VALUE_MAX 511 /* df_log ignores longer values */
#define GRANT_JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"

typedef struct token {
    char value[DF_AUTH_TOKEN_MAX]; /* "" when none */
    int64_t expires_at;            /* unix ms */
    int64_t refresh_at;            /* unix ms: after this, get a new one */
} token_t;

struct df_auth {
    df_auth_kind_t kind;
    char *token_url;
    char *scope;
    char *client_id;
    char *client_secret;
    char *client_email;
    char *private_key_pem;
    char *private_key_id;
    char *subject;
    char *site; /* DF_AUTH_TABLEAU_PAT: the site's contentUrl (NULL: the default site) */
    int cache_wait_ms;
    int lock_ttl_ms;
    const df_secret_keyring_t *keyring;
    char cache_key[DF_AUTH_CACHE_KEY_MAX];
    char lock_key[DF_AUTH_CACHE_KEY_MAX + 8];
    pthread_mutex_t mu;         /* guards local */
    pthread_mutex_t refresh_mu; /* one refresh at a time in this process */
    token_t local;
};

/* Release the lock only when it is still ours (it may have expired and
 * been taken by another worker). */
static const char *const unlock_lua = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                      "  return redis.call('DEL', KEYS[1])\n"
                                      "end\n"
                                      "return 0\n";
static df_redis_script_t unlock_script;
static pthread_once_t unlock_once = PTHREAD_ONCE_INIT;

static void unlock_init(void)
{
    df_redis_script_init(&unlock_script, unlock_lua);
}

/* ---- redaction ----------------------------------------------------------- */

/* Register a token with the logger. Values of 512 bytes or more do not fit
 * its table: for a JWT (Entra tokens are 1-3 KB) the signature is what
 * makes it usable, so that part is registered. */
static void redact_token(const char *value)
{
    const char *dot;

    if (strlen(value) <= REDACT_VALUE_MAX) {
        df_log_redact_add(value);
        return;
    }
    dot = strrchr(value, '.');
    if (dot && strlen(dot + 1) <= REDACT_VALUE_MAX && strlen(dot + 1) >= 16)
        df_log_redact_add(dot + 1);
    else {
        char head[REDACT_VALUE_MAX + 1];
        memcpy(head, value, REDACT_VALUE_MAX);
        head[REDACT_VALUE_MAX] = '\0';
        df_log_redact_add(head);
        sodium_memzero(head, sizeof(head));
    }
}

/* A PEM key is far longer than the logger's table takes: register its
 * first, middle and last base64 lines. */
static void redact_pem(const char *pem)
{
    const char *lines[64];
    size_t nlines = 0;
    const char *p = strstr(pem, "-----BEGIN ");

    if (!p)
        return;
    p = strchr(p, '\n');
    while (p && nlines < sizeof(lines) / sizeof(lines[0])) {
        p++;
        if (strncmp(p, "-----END", 8) == 0 || !*p)
            break;
        lines[nlines++] = p;
        p = strchr(p, '\n');
    }
    for (size_t i = 0; i < nlines; i++) {
        char line[REDACT_VALUE_MAX + 1];
        size_t n;
        if (i != 0 && i != nlines / 2 && i + 1 != nlines)
            continue;
        n = strcspn(lines[i], "\r\n");
        if (n > REDACT_VALUE_MAX)
            n = REDACT_VALUE_MAX;
        memcpy(line, lines[i], n);
        line[n] = '\0';
        if (n >= 16)
            df_log_redact_add(line);
        sodium_memzero(line, sizeof(line));
    }
}

/* ---- construction -------------------------------------------------------- */

static void free_secret(char **s)
{
    df_secret_free_str(*s);
    *s = NULL;
}

static bool copy_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src || !*src)
        return true;
    *dst = strdup(src);
    return *dst != NULL;
}

static df_code_t expand_token_url(const df_auth_config_t *cfg, char **out, df_error_t *err)
{
    const char *tmpl = cfg->token_url && *cfg->token_url      ? cfg->token_url
                       : cfg->kind == DF_AUTH_SERVICE_ACCOUNT ? DF_AUTH_GOOGLE_TOKEN_URL
                                                              : DF_AUTH_ENTRA_TOKEN_URL;
    const char *hole = strstr(tmpl, "{tenant}");
    char tenant[256];
    size_t n;

    *out = NULL;
    if (strncmp(tmpl, "https://", 8) != 0 && strncmp(tmpl, "http://", 7) != 0)
        return df_error_set(err, DF_ERR_INVALID, "token_url",
                            "token URL must start with https:// or http://");
    if (!hole) {
        *out = strdup(tmpl);
        return *out ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "token_url", "out of memory");
    }
    if (!cfg->tenant || !*cfg->tenant)
        return df_error_set(err, DF_ERR_INVALID, "tenant", "tenant is required by token URL %.200s",
                            tmpl);
    if (df_http_path_escape(cfg->tenant, tenant, sizeof(tenant), err) != DF_OK)
        return df_error_set(err, DF_ERR_INVALID, "tenant", "tenant longer than %zu bytes",
                            sizeof(tenant) / 3);
    n = strlen(tmpl) - strlen("{tenant}") + strlen(tenant) + 1;
    *out = malloc(n);
    if (!*out)
        return df_error_set(err, DF_ERR_NOMEM, "token_url", "out of memory");
    snprintf(*out, n, "%.*s%s%s", (int)(hole - tmpl), tmpl, tenant, hole + strlen("{tenant}"));
    return DF_OK;
}

static void compute_cache_key(df_auth_t *auth)
{
    const char *kind = auth->kind == DF_AUTH_SERVICE_ACCOUNT ? "service_account"
                       : auth->kind == DF_AUTH_TABLEAU_PAT   ? "tableau_pat"
                                                             : "client_credentials";
    const char *id = auth->kind == DF_AUTH_SERVICE_ACCOUNT ? auth->client_email : auth->client_id;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char hex[65];
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(md, kind, strlen(kind));
        EVP_DigestUpdate(md, "|", 1);
        EVP_DigestUpdate(md, auth->token_url, strlen(auth->token_url));
        EVP_DigestUpdate(md, "|", 1);
        EVP_DigestUpdate(md, id, strlen(id));
        EVP_DigestUpdate(md, "|", 1);
        if (auth->scope)
            EVP_DigestUpdate(md, auth->scope, strlen(auth->scope));
        if (auth->subject) {
            EVP_DigestUpdate(md, "|", 1);
            EVP_DigestUpdate(md, auth->subject, strlen(auth->subject));
        }
        if (auth->kind == DF_AUTH_TABLEAU_PAT) {
            EVP_DigestUpdate(md, "|site:", 6);
            if (auth->site)
                EVP_DigestUpdate(md, auth->site, strlen(auth->site));
        }
        /* The credential too: a connector with a wrong secret must never be
         * handed the token another connector's right secret got. */
        {
            const char *cred =
                auth->kind == DF_AUTH_SERVICE_ACCOUNT ? auth->private_key_pem : auth->client_secret;
            EVP_DigestUpdate(md, "|", 1);
            if (cred)
                EVP_DigestUpdate(md, cred, strlen(cred));
        }
        EVP_DigestFinal_ex(md, digest, &dlen);
    }
    EVP_MD_CTX_free(md);
    sodium_bin2hex(hex, sizeof(hex), digest, dlen == 32 ? 32 : 0);
    snprintf(auth->cache_key, sizeof(auth->cache_key), "%s%s", DF_AUTH_CACHE_PREFIX, hex);
    snprintf(auth->lock_key, sizeof(auth->lock_key), "%s:lock", auth->cache_key);
}

static df_code_t check_config(const df_auth_config_t *cfg, df_error_t *err)
{
    if (!cfg)
        return df_error_set(err, DF_ERR_INVALID, "auth", "no authentication settings");
    if (cfg->kind == DF_AUTH_CLIENT_CREDENTIALS) {
        if (!cfg->client_id || !*cfg->client_id)
            return df_error_set(err, DF_ERR_INVALID, "client_id", "client_id is required");
        if (!cfg->client_secret || !*cfg->client_secret)
            return df_error_set(err, DF_ERR_INVALID, "client_secret", "client_secret is required");
        return DF_OK;
    }
    if (cfg->kind == DF_AUTH_SERVICE_ACCOUNT) {
        if (!cfg->client_email || !*cfg->client_email)
            return df_error_set(err, DF_ERR_INVALID, "client_email", "client_email is required");
        if (!cfg->private_key_pem || !*cfg->private_key_pem)
            return df_error_set(err, DF_ERR_INVALID, "private_key", "private_key is required");
        if (!cfg->scope || !*cfg->scope)
            return df_error_set(err, DF_ERR_INVALID, "scope",
                                "scope is required for a service account");
        if (df_jwt_check_key(cfg->private_key_pem, err) != DF_OK) {
            if (err)
                snprintf(err->field, sizeof(err->field), "private_key");
            return err ? err->code : DF_ERR_INVALID;
        }
        return DF_OK;
    }
    if (cfg->kind == DF_AUTH_TABLEAU_PAT) {
        if (!cfg->token_url || !*cfg->token_url)
            return df_error_set(err, DF_ERR_INVALID, "token_url",
                                "token_url (the sign-in URL) is required");
        if (!cfg->client_id || !*cfg->client_id)
            return df_error_set(err, DF_ERR_INVALID, "pat_name", "pat_name is required");
        if (!cfg->client_secret || !*cfg->client_secret)
            return df_error_set(err, DF_ERR_INVALID, "pat_secret", "pat_secret is required");
        return DF_OK;
    }
    return df_error_set(err, DF_ERR_INVALID, "kind", "unknown authentication kind %d",
                        (int)cfg->kind);
}

df_auth_t *df_auth_new(const df_auth_config_t *cfg, const df_secret_keyring_t *keyring,
                       df_error_t *err)
{
    df_auth_t *auth;

    if (check_config(cfg, err) != DF_OK)
        return NULL;
    auth = calloc(1, sizeof(*auth));
    if (!auth) {
        df_error_set(err, DF_ERR_NOMEM, "df_auth_new", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&auth->mu, NULL);
    pthread_mutex_init(&auth->refresh_mu, NULL);
    auth->kind = cfg->kind;
    auth->keyring = keyring;
    auth->cache_wait_ms = cfg->cache_wait_ms > 0 ? cfg->cache_wait_ms : DF_AUTH_CACHE_WAIT_DEFAULT;
    auth->lock_ttl_ms = cfg->lock_ttl_ms > 0 ? cfg->lock_ttl_ms : DF_AUTH_LOCK_TTL_DEFAULT;
    if (expand_token_url(cfg, &auth->token_url, err) != DF_OK) {
        df_auth_destroy(auth);
        return NULL;
    }
    if (!copy_opt(&auth->scope, cfg->scope) || !copy_opt(&auth->subject, cfg->subject) ||
        !copy_opt(&auth->client_id, cfg->client_id) ||
        !copy_opt(&auth->client_secret, cfg->client_secret) ||
        !copy_opt(&auth->client_email, cfg->client_email) ||
        !copy_opt(&auth->private_key_pem, cfg->private_key_pem) ||
        !copy_opt(&auth->private_key_id, cfg->private_key_id) ||
        (cfg->kind == DF_AUTH_TABLEAU_PAT && !copy_opt(&auth->site, cfg->tenant))) {
        df_auth_destroy(auth);
        df_error_set(err, DF_ERR_NOMEM, "df_auth_new", "out of memory");
        return NULL;
    }
    if (auth->client_secret)
        df_log_redact_add(auth->client_secret);
    if (auth->private_key_pem)
        redact_pem(auth->private_key_pem);
    compute_cache_key(auth);
    return auth;
}

df_auth_t *df_auth_new_google_key(const char *key_json, const char *scope, const char *token_url,
                                  const df_secret_keyring_t *keyring, df_error_t *err)
{
    df_auth_config_t cfg = { .kind = DF_AUTH_SERVICE_ACCOUNT, .scope = scope };
    json_t *root = key_json ? json_loads(key_json, 0, NULL) : NULL;
    const char *type;
    df_auth_t *auth;

    if (!json_is_object(root)) {
        json_decref(root);
        df_error_set(err, DF_ERR_INVALID, "key_json", "service account key is not a JSON object");
        return NULL;
    }
    type = json_string_value(json_object_get(root, "type"));
    if (type && strcmp(type, "service_account") != 0) {
        df_error_set(err, DF_ERR_INVALID, "key_json.type",
                     "key type is \"%.64s\", want \"service_account\"", type);
        json_decref(root);
        return NULL;
    }
    cfg.client_email = json_string_value(json_object_get(root, "client_email"));
    cfg.private_key_pem = json_string_value(json_object_get(root, "private_key"));
    cfg.private_key_id = json_string_value(json_object_get(root, "private_key_id"));
    cfg.token_url =
        token_url && *token_url ? token_url : json_string_value(json_object_get(root, "token_uri"));
    auth = df_auth_new(&cfg, keyring, err);
    /* The decoded key text lives in jansson's memory: wipe it before freeing. */
    if (cfg.private_key_pem)
        sodium_memzero((char *)cfg.private_key_pem, strlen(cfg.private_key_pem));
    json_decref(root);
    return auth;
}

void df_auth_destroy(df_auth_t *auth)
{
    if (!auth)
        return;
    free(auth->token_url);
    free(auth->scope);
    free(auth->subject);
    free(auth->site);
    free(auth->client_id);
    free_secret(&auth->client_secret);
    free(auth->client_email);
    free_secret(&auth->private_key_pem);
    free(auth->private_key_id);
    sodium_memzero(&auth->local, sizeof(auth->local));
    pthread_mutex_destroy(&auth->mu);
    pthread_mutex_destroy(&auth->refresh_mu);
    free(auth);
}

const char *df_auth_cache_key(const df_auth_t *auth)
{
    return auth->cache_key;
}

const char *df_auth_token_url(const df_auth_t *auth)
{
    return auth->token_url;
}

/* ---- asking the provider ------------------------------------------------- */

/* Renew 5 minutes before expiry, or at 80% of a lifetime under 25 minutes. */
static void set_lifetime(token_t *tok, int64_t now, int64_t lifetime_ms)
{
    int64_t margin = lifetime_ms / 5;

    if (margin > DF_AUTH_MIN_VALIDITY_MS)
        margin = DF_AUTH_MIN_VALIDITY_MS;
    tok->expires_at = now + lifetime_ms;
    tok->refresh_at = tok->expires_at - margin;
}

/* Tableau's sign-in answer: {"credentials": {"token", "site": {"id"},
 * "estimatedTimeToExpiration": "hh:mm:ss"}} -> "<token>|<site id>". */
static df_code_t parse_tableau_signin(const df_auth_t *auth, const df_http_response_t *resp,
                                      token_t *tok, df_error_t *err)
{
    char url[DF_HTTP_URL_MAX];
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *cred = json_object_get(root, "credentials");
    json_t *value = json_object_get(cred, "token");
    const char *site = json_string_value(json_object_get(json_object_get(cred, "site"), "id"));
    const char *ttl = json_string_value(json_object_get(cred, "estimatedTimeToExpiration"));
    int64_t lifetime_s = 3600;
    int hh = 0, mm = 0, ss = 0;
    df_code_t rc = DF_OK;

    df_http_url_for_log(auth->token_url, url, sizeof(url));
    if (!json_is_string(value) || json_string_length(value) == 0 || !site || !*site ||
        strchr(site, '|') || strpbrk(json_string_value(value), "\r\n ") ||
        json_string_length(value) + strlen(site) + 2 > sizeof(tok->value)) {
        rc = df_error_set(err, DF_ERR_HTTP, "credentials",
                          "sign-in answer of %s has no usable credentials token and site id", url);
    } else {
        snprintf(tok->value, sizeof(tok->value), "%s|%s", json_string_value(value), site);
        if (ttl && sscanf(ttl, "%d:%d:%d", &hh, &mm, &ss) == 3 && hh >= 0 && mm >= 0 && ss >= 0)
            lifetime_s = (int64_t)hh * 3600 + mm * 60 + ss;
        if (lifetime_s < 1)
            lifetime_s = 1;
        set_lifetime(tok, df_now_ms(), lifetime_s * 1000);
        redact_token(json_string_value(value));
        df_info("Tableau session opened at %s (expires in %lld s)", url, (long long)lifetime_s);
    }
    if (json_is_string(value))
        sodium_memzero((char *)json_string_value(value), json_string_length(value));
    json_decref(root);
    return rc;
}

static df_code_t parse_token_response(const df_auth_t *auth, const df_http_response_t *resp,
                                      token_t *tok, df_error_t *err)
{
    char url[DF_HTTP_URL_MAX];
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *value = json_object_get(root, "access_token");
    json_t *expires = json_object_get(root, "expires_in");
    int64_t lifetime_s = 3600;
    size_t n;
    df_code_t rc = DF_OK;

    df_http_url_for_log(auth->token_url, url, sizeof(url));
    if (!json_is_string(value) || (n = json_string_length(value)) == 0) {
        rc = df_error_set(err, DF_ERR_HTTP, "access_token",
                          "token response of %s has no access_token", url);
    } else if (n >= sizeof(tok->value) || strlen(json_string_value(value)) != n ||
               strpbrk(json_string_value(value), "\r\n ")) {
        rc = df_error_set(err, DF_ERR_HTTP, "access_token",
                          "token response of %s has an unusable access_token", url);
    } else {
        memcpy(tok->value, json_string_value(value), n + 1);
        if (json_is_integer(expires))
            lifetime_s = (int64_t)json_integer_value(expires);
        else if (json_is_real(expires))
            lifetime_s = (int64_t)json_real_value(expires);
        else if (json_is_string(expires)) /* Entra v1 sends "3599" */
            lifetime_s = strtoll(json_string_value(expires), NULL, 10);
        if (lifetime_s < 1)
            lifetime_s = 1;
        set_lifetime(tok, df_now_ms(), lifetime_s * 1000);
        redact_token(tok->value);
        df_info("access token obtained from %s (expires in %lld s)", url, (long long)lifetime_s);
    }
    /* Wipe jansson's copy of the token before it goes back to the heap. */
    if (json_is_string(value))
        sodium_memzero((char *)json_string_value(value), json_string_length(value));
    json_decref(root);
    return rc;
}

static df_code_t build_form(df_auth_t *auth, df_http_buf_t *form, df_error_t *err)
{
    df_code_t rc;
    char *assertion = NULL;

    if (auth->kind == DF_AUTH_TABLEAU_PAT) {
        json_t *body =
            json_pack("{s:{s:s, s:s, s:{s:s}}}", "credentials", "personalAccessTokenName",
                      auth->client_id, "personalAccessTokenSecret", auth->client_secret, "site",
                      "contentUrl", auth->site ? auth->site : "");
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        rc = text ? df_http_buf_append(form, text, strlen(text), err)
                  : df_error_set(err, DF_ERR_NOMEM, "sign-in", "out of memory");
        if (text)
            df_secret_free_str(text);
        json_decref(body);
        return rc;
    }
    if (auth->kind == DF_AUTH_CLIENT_CREDENTIALS) {
        rc = df_http_form_append(form, "grant_type", "client_credentials", err);
        if (rc == DF_OK)
            rc = df_http_form_append(form, "client_id", auth->client_id, err);
        if (rc == DF_OK)
            rc = df_http_form_append(form, "client_secret", auth->client_secret, err);
        if (rc == DF_OK && auth->scope)
            rc = df_http_form_append(form, "scope", auth->scope, err);
        return rc;
    }
    rc = df_jwt_google_assertion(auth->private_key_pem, auth->private_key_id, auth->client_email,
                                 auth->scope, auth->token_url, auth->subject, (int64_t)time(NULL),
                                 &assertion, err);
    if (rc != DF_OK)
        return rc;
    redact_token(assertion); /* exchangeable for a token for an hour */
    rc = df_http_form_append(form, "grant_type", GRANT_JWT_BEARER, err);
    if (rc == DF_OK)
        rc = df_http_form_append(form, "assertion", assertion, err);
    df_secret_free_str(assertion);
    return rc;
}

static df_code_t mint(df_auth_t *auth, df_http_t *http, token_t *tok, df_error_t *err)
{
    static const df_http_header_t accept[] = { { "Accept", "application/json" } };
    char url[DF_HTTP_URL_MAX];
    df_http_buf_t form;
    df_http_response_t resp;
    df_http_request_t req = { 0 };
    df_error_t herr;
    df_http_class_t cls;
    df_code_t rc;

    memset(tok, 0, sizeof(*tok));
    df_http_buf_init(&form, FORM_MAX);
    df_http_response_init(&resp);
    rc = build_form(auth, &form, err);
    if (rc != DF_OK) {
        df_http_buf_free(&form);
        return rc;
    }
    req.method = "POST";
    req.url = auth->token_url;
    req.headers = accept;
    req.nheaders = 1;
    req.body = form.data;
    req.body_len = form.len;
    req.content_type = auth->kind == DF_AUTH_TABLEAU_PAT ? "application/json"
                                                         : "application/x-www-form-urlencoded";
    req.timeout_ms = auth->lock_ttl_ms; /* a request never outlives its fleet lock by much */
    rc = df_http_send(http, &req, &resp, err);
    df_http_buf_free(&form);
    if (rc != DF_OK) {
        df_error_prefix(err, "token request");
        return rc;
    }
    df_error_init(&herr);
    cls = df_http_classify(&resp, &herr);
    if (cls == DF_HTTP_OK) {
        rc = auth->kind == DF_AUTH_TABLEAU_PAT ? parse_tableau_signin(auth, &resp, tok, err)
                                               : parse_token_response(auth, &resp, tok, err);
    } else {
        df_http_url_for_log(auth->token_url, url, sizeof(url));
        rc = df_error_set(err, cls == DF_HTTP_RETRY ? DF_ERR_HTTP : DF_ERR_AUTH, "token_url",
                          "token request to %s refused: %s", url, herr.message);
        if (err && cls == DF_HTTP_RETRY) {
            err->retryable = true;
            err->retry_after_ms = herr.retry_after_ms;
        }
    }
    df_http_response_free(&resp);
    return rc;
}

/* ---- the fleet cache ----------------------------------------------------- */

static bool usable(const token_t *tok, const char *stale, int64_t now)
{
    return tok->value[0] && now < tok->refresh_at && !(stale && strcmp(tok->value, stale) == 0);
}

/* GET and open the cached token. *hit is false for a missing entry and for
 * one that does not open (sealed under a key no longer in the keyring, or
 * damaged): a refresh replaces it. Only Redis errors are errors. */
static df_code_t cache_get(df_auth_t *auth, df_redis_t *redis, token_t *tok, bool *hit,
                           df_error_t *err)
{
    redisReply *reply = df_redis_command(redis, err, "GET %s", auth->cache_key);
    df_error_t oerr;
    char *plain = NULL;
    size_t plen = 0;
    json_t *root, *value;

    *hit = false;
    memset(tok, 0, sizeof(*tok));
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    if (reply->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return DF_OK;
    }
    df_error_init(&oerr);
    if (df_secret_open(auth->keyring, reply->str, auth->cache_key, &plain, &plen, &oerr) != DF_OK) {
        df_warn("cached token %s does not open (%s): getting a new one", auth->cache_key,
                oerr.message);
        freeReplyObject(reply);
        return DF_OK;
    }
    freeReplyObject(reply);
    root = json_loadb(plain, plen, 0, NULL);
    value = json_object_get(root, "access_token");
    if (json_is_string(value) && json_string_length(value) > 0 &&
        json_string_length(value) < sizeof(tok->value)) {
        memcpy(tok->value, json_string_value(value), json_string_length(value) + 1);
        tok->expires_at = (int64_t)json_integer_value(json_object_get(root, "expires_at"));
        tok->refresh_at = (int64_t)json_integer_value(json_object_get(root, "refresh_at"));
        *hit = true;
        redact_token(tok->value);
        sodium_memzero((char *)json_string_value(value), json_string_length(value));
    }
    json_decref(root);
    df_secret_free(plain, plen);
    return DF_OK;
}

static df_code_t cache_put(df_auth_t *auth, df_redis_t *redis, const token_t *tok, df_error_t *err)
{
    int64_t ttl = tok->expires_at - df_now_ms();
    json_t *obj;
    char *text, *sealed = NULL, px[24];
    const char *argv[5];
    redisReply *reply;
    df_code_t rc;

    if (ttl < 1000)
        return DF_OK; /* about to expire: not worth sharing */
    obj = json_pack("{s:s,s:I,s:I}", "access_token", tok->value, "expires_at",
                    (json_int_t)tok->expires_at, "refresh_at", (json_int_t)tok->refresh_at);
    text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (obj) {
        json_t *v = json_object_get(obj, "access_token");
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
    json_decref(obj);
    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, "cache", "out of memory");
    rc = df_secret_seal(auth->keyring, text, strlen(text), auth->cache_key, &sealed, err);
    df_secret_free_str(text);
    if (rc != DF_OK)
        return rc;
    snprintf(px, sizeof(px), "%lld", (long long)ttl);
    argv[0] = "SET";
    argv[1] = auth->cache_key;
    argv[2] = sealed;
    argv[3] = "PX";
    argv[4] = px;
    reply = df_redis_commandv(redis, 5, argv, NULL, err);
    free(sealed);
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    freeReplyObject(reply);
    return DF_OK;
}

static df_code_t lock_take(df_auth_t *auth, df_redis_t *redis, const char *owner, bool *got,
                           df_error_t *err)
{
    char px[24];
    const char *argv[6] = { "SET", auth->lock_key, owner, "NX", "PX", px };
    redisReply *reply;

    *got = false;
    snprintf(px, sizeof(px), "%d", auth->lock_ttl_ms);
    reply = df_redis_commandv(redis, 6, argv, NULL, err);
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    *got = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    return DF_OK;
}

static void lock_release(df_auth_t *auth, df_redis_t *redis, const char *owner)
{
    const char *keys[1] = { auth->lock_key };
    const char *args[1] = { owner };
    df_error_t err;
    redisReply *reply;

    pthread_once(&unlock_once, unlock_init);
    df_error_init(&err);
    reply = df_redis_evalsha(redis, &unlock_script, 1, keys, 1, args, &err);
    if (!reply)
        df_warn("token refresh lock %s not released (%s): it expires by itself", auth->lock_key,
                err.message);
    freeReplyObject(reply);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static df_code_t mint_and_share(df_auth_t *auth, df_redis_t *redis, df_http_t *http, token_t *tok,
                                df_error_t *err)
{
    df_error_t cerr;
    df_code_t rc = mint(auth, http, tok, err);

    df_error_init(&cerr);
    if (rc == DF_OK && redis && cache_put(auth, redis, tok, &cerr) != DF_OK)
        df_warn("token not shared through %s: %s", auth->cache_key, cerr.message);
    return rc;
}

/* The single flight: the cache, else the lock and the provider, else wait
 * for the worker that holds the lock. Redis trouble falls back to asking
 * the provider directly: a token cache must not stop exports. */
static df_code_t refresh_fleet(df_auth_t *auth, df_redis_t *redis, df_http_t *http,
                               const char *stale, token_t *tok, df_error_t *err)
{
    char owner[DF_ID_BUF];
    int64_t deadline = df_mono_ms() + auth->cache_wait_ms;
    df_error_t rerr;
    bool hit, got;
    df_code_t rc;

    df_id_ulid(owner);
    df_error_init(&rerr);
    for (;;) {
        if (cache_get(auth, redis, tok, &hit, &rerr) != DF_OK)
            goto redis_down;
        if (hit && usable(tok, stale, df_now_ms()))
            return DF_OK;
        if (lock_take(auth, redis, owner, &got, &rerr) != DF_OK)
            goto redis_down;
        if (got) {
            /* Someone may have refreshed between our GET and our lock. */
            if (cache_get(auth, redis, tok, &hit, &rerr) == DF_OK && hit &&
                usable(tok, stale, df_now_ms())) {
                lock_release(auth, redis, owner);
                return DF_OK;
            }
            rc = mint_and_share(auth, redis, http, tok, err);
            lock_release(auth, redis, owner);
            return rc;
        }
        if (df_mono_ms() >= deadline)
            break;
        sleep_ms(POLL_MS);
    }
    df_warn("token refresh by another worker took over %d ms: asking %s directly",
            auth->cache_wait_ms, auth->cache_key);
    return mint_and_share(auth, redis, http, tok, err);

redis_down:
    df_warn("token cache unavailable (%s): asking the provider directly", rerr.message);
    return mint(auth, http, tok, err);
}

/* The least life a token must have left to be used when renewing it
 * failed: half its renewal margin, at most a minute. */
static int64_t grace_ms(const token_t *tok)
{
    int64_t half_margin = (tok->expires_at - tok->refresh_at) / 2;
    return half_margin < GRACE_MAX_MS ? half_margin : GRACE_MAX_MS;
}

static df_code_t copy_out(const token_t *tok, char *out, size_t len, df_error_t *err)
{
    size_t n = strlen(tok->value);

    if (n >= len)
        return df_error_set(err, DF_ERR_INVALID, "token",
                            "access token (%zu bytes) does not fit the buffer (%zu)", n, len);
    memcpy(out, tok->value, n + 1);
    return DF_OK;
}

df_code_t df_auth_token(df_auth_t *auth, df_redis_t *redis, df_http_t *http, bool force_refresh,
                        char *out, size_t len, df_error_t *err)
{
    char *stale = NULL; /* the token the caller saw refused */
    bool had_token = false;
    token_t *tok;
    df_code_t rc;

    if (len)
        out[0] = '\0';
    pthread_mutex_lock(&auth->mu);
    if (!force_refresh && usable(&auth->local, NULL, df_now_ms())) {
        rc = copy_out(&auth->local, out, len, err);
        pthread_mutex_unlock(&auth->mu);
        return rc;
    }
    if (force_refresh && auth->local.value[0]) {
        had_token = true;
        stale = strdup(auth->local.value);
    }
    pthread_mutex_unlock(&auth->mu);
    if (had_token && !stale)
        return df_error_set(err, DF_ERR_NOMEM, "df_auth_token", "out of memory");

    tok = calloc(1, sizeof(*tok));
    if (!tok) {
        df_secret_free_str(stale);
        return df_error_set(err, DF_ERR_NOMEM, "df_auth_token", "out of memory");
    }
    pthread_mutex_lock(&auth->refresh_mu);
    /* Another thread of this process may have refreshed while we waited. */
    pthread_mutex_lock(&auth->mu);
    if (usable(&auth->local, stale, df_now_ms())) {
        rc = copy_out(&auth->local, out, len, err);
        pthread_mutex_unlock(&auth->mu);
        goto done;
    }
    pthread_mutex_unlock(&auth->mu);

    if (redis && auth->keyring)
        rc = refresh_fleet(auth, redis, http, stale, tok, err);
    else
        rc = mint(auth, http, tok, err);
    if (rc == DF_OK) {
        pthread_mutex_lock(&auth->mu);
        auth->local = *tok;
        pthread_mutex_unlock(&auth->mu);
        rc = copy_out(tok, out, len, err);
    } else if (!force_refresh && err && err->retryable) {
        /* The provider is down while the token we hold still has a while
         * to live (we renew minutes early): keep using it. */
        pthread_mutex_lock(&auth->mu);
        if (auth->local.value[0] && df_now_ms() + grace_ms(&auth->local) < auth->local.expires_at) {
            df_warn("token renewal failed (%s): using the current token until it expires",
                    err->message);
            df_error_clear(err);
            rc = copy_out(&auth->local, out, len, err);
        }
        pthread_mutex_unlock(&auth->mu);
    }
done:
    pthread_mutex_unlock(&auth->refresh_mu);
    df_secret_free(tok, sizeof(*tok));
    df_secret_free_str(stale);
    return rc;
}
