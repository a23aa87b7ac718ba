/* powerbi_api: settings, tokens, requests and answers of the Power BI REST
 * API (see powerbi_api.h). Authenticators are kept for the process, one per
 * connector and credentials, so the tasks of a worker share the token in
 * memory (and the fleet shares it through df_auth's Redis cache). */
#include "powerbi_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_auth.h"
#include "df_id.h"
#include "df_log.h"
#include "df_ratelimit.h"
#include "df_secret.h"
#include "registry.h"

#define POSTS_PER_MINUTE_DEFAULT 120     /* POST rows requests per minute per dataset */
#define ROWS_PER_HOUR_DEFAULT    1000000 /* rows per hour per dataset */
#define QUERIES_PER_MINUTE       120     /* executeQueries per minute per user */
#define AUTH_CACHE_MAX           32
#define COUNT_WAIT_MAX_MS        2000

struct df_powerbi_client {
    df_task_ctx_t *ctx;
    const df_powerbi_config_t *cfg;
    df_auth_t *auth;
    bool own_auth;
    df_http_t *http;
    bool count_logged;
    char base[DF_HTTP_URL_MAX];
    char token[DF_AUTH_TOKEN_MAX]; /* "" until the first request */
};

/* ---- settings ----------------------------------------------------------- */

static df_outcome_kind_t bad_config(df_outcome_t *out, const char *field, const char *what)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "powerbi connector: %s: %s", field,
                   what);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "%s", field);
    return out->kind;
}

/* An optional string setting: NULL when absent; false when not a string. */
static bool opt_string(const json_t *obj, const char *key, const char **value)
{
    const json_t *v = json_object_get(obj, key);

    *value = json_string_value(v);
    return !v || (json_is_string(v) && json_string_length(v) > 0);
}

static bool opt_positive(const json_t *obj, const char *key, int64_t *value)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return false;
    *value = json_integer_value(v);
    return true;
}

df_outcome_kind_t df_powerbi_config_read(df_task_ctx_t *ctx, df_powerbi_config_t *cfg,
                                         df_outcome_t *out)
{
    const json_t *config = ctx->connector_config;
    const json_t *limits = ctx->connector_limits;

    memset(cfg, 0, sizeof(*cfg));
    cfg->requests_per_minute = POSTS_PER_MINUTE_DEFAULT;
    cfg->rows_per_hour = ROWS_PER_HOUR_DEFAULT;
    cfg->minute_ms = 60000;
    if (!opt_string(config, "tenant_id", &cfg->tenant_id) || !cfg->tenant_id)
        return bad_config(out, "config.tenant_id", "expected the Entra tenant (id or domain)");
    if (!opt_string(config, "client_id", &cfg->client_id) || !cfg->client_id)
        return bad_config(out, "config.client_id", "expected the app's client id");
    if (!opt_string(config, "token_url", &cfg->token_url))
        return bad_config(out, "config.token_url", "expected a URL");
    if (!opt_string(config, "api_base_url", &cfg->api_base_url))
        return bad_config(out, "config.api_base_url", "expected a URL");
    if (!opt_string(config, "workspace_id", &cfg->workspace_id))
        return bad_config(out, "config.workspace_id", "expected a workspace (group) id");
    if (!opt_positive(config, "minute_ms", &cfg->minute_ms))
        return bad_config(out, "config.minute_ms", "expected a number of milliseconds >= 1");
    if (!cfg->api_base_url)
        cfg->api_base_url = DF_POWERBI_API_BASE_DEFAULT;
    if (!opt_string(ctx->connector_secrets, "client_secret", &cfg->client_secret) ||
        !cfg->client_secret)
        return bad_config(out, "secrets.client_secret", "expected the app's client secret");
    if (!opt_positive(limits, "requests_per_minute", &cfg->requests_per_minute))
        return bad_config(out, "limits.requests_per_minute", "expected an integer >= 1");
    if (!opt_positive(limits, "rows_per_hour", &cfg->rows_per_hour))
        return bad_config(out, "limits.rows_per_hour", "expected an integer >= 1");
    return DF_OUTCOME_OK;
}

/* ---- authenticators, one per connector and credentials ------------------ */

typedef struct auth_entry {
    char *key;
    df_auth_t *auth;
} auth_entry_t;

static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;
static auth_entry_t auth_cache[AUTH_CACHE_MAX];
static size_t auth_count;

/* FNV-1a of the secret: tells credentials apart in this process's table
 * without keeping another copy of the secret. */
static unsigned long long fnv1a(const char *s)
{
    unsigned long long h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static df_auth_t *auth_new(df_task_ctx_t *ctx, const df_powerbi_config_t *cfg, df_error_t *err)
{
    df_auth_config_t ac = {
        .kind = DF_AUTH_CLIENT_CREDENTIALS,
        .token_url = cfg->token_url,
        .tenant = cfg->tenant_id,
        .scope = DF_POWERBI_SCOPE,
        .client_id = cfg->client_id,
        .client_secret = cfg->client_secret,
    };
    return df_auth_new(&ac, ctx->keyring, err);
}

/* The process's authenticator for these credentials (borrowed), or a new
 * one the caller owns (*own) when the table is full. */
static df_auth_t *auth_get(df_task_ctx_t *ctx, const df_powerbi_config_t *cfg, bool *own,
                           df_error_t *err)
{
    df_auth_t *auth = NULL;
    char *key = NULL;

    *own = false;
    if (asprintf(&key, "%s\n%s\n%s\n%s\n%016llx\n%p", ctx->connector ? ctx->connector : "",
                 cfg->tenant_id, cfg->client_id, cfg->token_url ? cfg->token_url : "",
                 fnv1a(cfg->client_secret), (const void *)ctx->keyring) < 0) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&auth_mu);
    for (size_t i = 0; i < auth_count; i++) {
        if (strcmp(auth_cache[i].key, key) == 0) {
            auth = auth_cache[i].auth;
            break;
        }
    }
    if (!auth) {
        auth = auth_new(ctx, cfg, err);
        if (auth && auth_count < AUTH_CACHE_MAX) {
            auth_cache[auth_count].key = key; /* the table keeps it */
            auth_cache[auth_count++].auth = auth;
            key = NULL;
        } else if (auth) {
            *own = true;
        }
    }
    pthread_mutex_unlock(&auth_mu);
    free(key);
    return auth;
}

/* ---- the client --------------------------------------------------------- */

static bool http_should_stop(void *opaque)
{
    df_task_ctx_t *ctx = opaque;
    return ctx->should_stop(ctx) != DF_STOP_NONE;
}

df_powerbi_client_t *df_powerbi_client_open(df_task_ctx_t *ctx, const df_powerbi_config_t *cfg,
                                            df_outcome_t *out)
{
    df_http_options_t opts = { .should_stop = http_should_stop,
                               .stop_ctx = ctx,
                               .platform = "powerbi" };
    df_powerbi_client_t *c = calloc(1, sizeof(*c));
    df_error_t err;
    char ws[768], path[800];

    df_error_init(&err);
    if (!c) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
        return NULL;
    }
    c->ctx = ctx;
    c->cfg = cfg;
    if (cfg->workspace_id) {
        if (df_http_path_escape(cfg->workspace_id, ws, sizeof(ws), &err) == DF_OK)
            snprintf(path, sizeof(path), "groups/%s", ws);
    } else {
        path[0] = '\0';
    }
    if (err.code || df_http_url_join(cfg->api_base_url, path, c->base, sizeof(c->base), &err)) {
        bad_config(out, "config.api_base_url", err.message);
        goto fail;
    }
    c->auth = auth_get(ctx, cfg, &c->own_auth, &err);
    if (!c->auth) {
        bad_config(out, err.field[0] ? err.field : "config", err.message);
        goto fail;
    }
    c->http = df_http_new(&opts, &err);
    if (!c->http) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "HTTP client: %s", err.message);
        goto fail;
    }
    df_http_set_traceparent(c->http, ctx->traceparent);
    return c;
fail:
    df_powerbi_client_close(c);
    return NULL;
}

void df_powerbi_client_close(df_powerbi_client_t *c)
{
    if (!c)
        return;
    df_http_destroy(c->http);
    if (c->own_auth)
        df_auth_destroy(c->auth);
    df_secret_free(c, sizeof(*c)); /* the token */
}

const char *df_powerbi_client_base(const df_powerbi_client_t *c)
{
    return c->base;
}

/* ---- answers ------------------------------------------------------------- */

df_http_class_t df_powerbi_classify(const df_http_response_t *resp, df_error_t *err)
{
    df_http_class_t cls = df_http_classify(resp, err);

    if (cls == DF_HTTP_PERMANENT && resp->status == 403 && resp->body) {
        json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *code =
            json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
        if (code && strcmp(code, "TokenExpired") == 0)
            cls = DF_HTTP_AUTH;
        json_decref(doc);
    }
    return cls;
}

int64_t df_powerbi_backoff_ms(int tries)
{
    int64_t base = 250;

    for (int i = 1; i < tries && base < 4000; i++)
        base *= 2;
    if (base > 4000)
        base = 4000;
    return base / 2 + (int64_t)(rand() % (int)(base / 2 + 1)); /* full jitter over the upper half */
}

/* ---- requests ------------------------------------------------------------ */

static df_outcome_kind_t stopped(df_task_ctx_t *ctx, df_outcome_t *out)
{
    if (ctx->should_stop(ctx) == DF_STOP_DEADLINE)
        return df_outcome_set(out, DF_OUTCOME_CANCELLED, "deadline_exceeded",
                              "the task's deadline passed during a Power BI request");
    return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled",
                          "stopped during a Power BI request (cancelled or handed back)");
}

/* A token into c->token: a new one when refresh (the current one was
 * refused), unless another thread or worker already replaced it. */
static df_code_t get_token(df_powerbi_client_t *c, bool refresh, df_error_t *err)
{
    char *fresh;
    df_code_t rc;

    if (!refresh)
        return df_auth_token(c->auth, c->ctx->redis, c->http, false, c->token, sizeof(c->token),
                             err);
    fresh = calloc(1, DF_AUTH_TOKEN_MAX);
    if (!fresh)
        return df_error_set(err, DF_ERR_NOMEM, "token", "out of memory");
    rc = df_auth_token(c->auth, c->ctx->redis, c->http, false, fresh, DF_AUTH_TOKEN_MAX, err);
    if (rc == DF_OK && strcmp(fresh, c->token) == 0)
        rc = df_auth_token(c->auth, c->ctx->redis, c->http, true, fresh, DF_AUTH_TOKEN_MAX, err);
    if (rc == DF_OK)
        memcpy(c->token, fresh, strlen(fresh) + 1);
    df_secret_free(fresh, DF_AUTH_TOKEN_MAX);
    return rc;
}

/* A retryable failure: wait in place when allowed (true: send again), else
 * fill out. */
static bool retry_in_place(df_powerbi_client_t *c, int tries, int64_t retry_after_ms,
                           const char *code, const df_error_t *err, df_outcome_t *out)
{
    int64_t wait = retry_after_ms >= 0 ? retry_after_ms : df_powerbi_backoff_ms(tries);

    if (tries < DF_POWERBI_INPLACE_TRIES_MAX && wait <= DF_POWERBI_INPLACE_WAIT_MAX) {
        df_info("Power BI: %s; retrying in %lld ms (try %d of %d)", err->message, (long long)wait,
                tries + 1, DF_POWERBI_INPLACE_TRIES_MAX);
        if (df_task_ctx_sleep(c->ctx, wait) == DF_STOP_NONE)
            return true;
        stopped(c->ctx, out);
        return false;
    }
    df_outcome_set(out, DF_OUTCOME_RETRY, code, "Power BI: %s", err->message);
    out->retry_after_ms = wait;
    out->error.retry_after_ms = wait;
    return false;
}

/* The request never left: a bad request, or no connection was made (DNS,
 * refused: curl errors 5, 6 and 7, in df_http's "curl error N (" text). */
static bool nothing_sent(const df_error_t *err)
{
    return err->code == DF_ERR_INVALID || strstr(err->message, "curl error 5 (") ||
           strstr(err->message, "curl error 6 (") || strstr(err->message, "curl error 7 (");
}

df_outcome_kind_t df_powerbi_send(df_powerbi_client_t *c, const df_powerbi_call_t *call,
                                  df_http_response_t *resp, df_outcome_t *out)
{
    char url[DF_HTTP_URL_MAX], auth_header[DF_AUTH_TOKEN_MAX + 16];
    df_http_header_t headers[2] = { { "Authorization", auth_header },
                                    { "Accept", "application/json" } };
    df_http_request_t req = {
        .method = call->method,
        .url = url,
        .headers = headers,
        .nheaders = 2,
        .body = call->body,
        .body_len = call->body_len,
        .content_type = call->body ? "application/json; charset=utf-8" : NULL,
        .timeout_ms = call->timeout_ms,
        .once = !call->idempotent,
    };
    bool refresh = false, refreshed = false;
    df_error_t err;
    int tries = 0;

    df_error_init(&err);
    if (df_http_url_join(c->base, call->path, url, sizeof(url), &err))
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", "%s", err.message);
    for (;;) {
        df_http_class_t cls;

        df_error_init(&err);
        if (c->ctx->should_stop(c->ctx) != DF_STOP_NONE)
            return stopped(c->ctx, out);
        tries++;
        if ((!c->token[0] || refresh) && get_token(c, refresh, &err) != DF_OK) {
            if (err.code == DF_ERR_AUTH)
                return df_outcome_set(out, DF_OUTCOME_AUTH, "auth",
                                      "Entra ID refused the credentials of app %s: %s",
                                      c->cfg->client_id, err.message);
            if (err.retryable &&
                retry_in_place(c, tries, err.retry_after_ms, "platform_unavailable", &err, out))
                continue;
            if (!err.retryable)
                df_outcome_set(out, DF_OUTCOME_PERMANENT, "auth_failed", "Entra ID token: %s",
                               err.message);
            return out->kind;
        }
        refresh = false;
        snprintf(auth_header, sizeof(auth_header), "Bearer %s", c->token);
        if (call->before_send && call->before_send(call->arg, out) != DF_OUTCOME_OK)
            return out->kind;
        if (df_http_send(c->http, &req, resp, &err) != DF_OK) {
            bool unsent = nothing_sent(&err);
            if (!call->idempotent && call->maybe_applied && !unsent)
                *call->maybe_applied = true;
            if (err.code == DF_ERR_CANCELLED)
                return stopped(c->ctx, out);
            if (!err.retryable)
                return df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_unreachable",
                                      "Power BI: %s", err.message);
            if (!call->idempotent && !unsent) {
                df_outcome_set(out, DF_OUTCOME_RETRY, "connection_lost", "Power BI: %s",
                               err.message);
                return out->kind; /* the caller finds out whether it was applied */
            }
            if (retry_in_place(c, tries, -1, "platform_unavailable", &err, out))
                continue;
            return out->kind;
        }
        cls = df_powerbi_classify(resp, &err);
        switch (cls) {
        case DF_HTTP_OK: return DF_OUTCOME_OK;
        case DF_HTTP_AUTH:
            if (!refreshed) {
                df_info("Power BI refused the access token (%s): getting a new one", err.message);
                refresh = refreshed = true;
                tries--; /* a refresh is not a retry */
                continue;
            }
            return df_outcome_set(out, DF_OUTCOME_AUTH, "auth",
                                  "Power BI refused a fresh access token: %s", err.message);
        case DF_HTTP_RETRY:
            if (retry_in_place(c, tries, resp->retry_after_ms,
                               resp->status == 429 ? "rate_limited" : "platform_unavailable", &err,
                               out))
                continue;
            return out->kind;
        case DF_HTTP_PERMANENT: break;
        }
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_rejected", "Power BI: %s", err.message);
        out->error.code = err.code;
        return out->kind;
    }
}

/* ---- counting rows ------------------------------------------------------- */

bool df_powerbi_count_query(const char *table, char *out, size_t len)
{
    static const char head[] = "EVALUATE ROW(\"n\", COUNTROWS('";
    static const char tail[] = "'))";
    size_t n = sizeof(head) - 1;

    if (len < n + sizeof(tail)) {
        if (len)
            out[0] = '\0';
        return false;
    }
    memcpy(out, head, n);
    for (const char *p = table; *p; p++) {
        if (n + (*p == '\'' ? 2 : 1) + sizeof(tail) > len) {
            out[0] = '\0';
            return false;
        }
        if (*p == '\'')
            out[n++] = '\'';
        out[n++] = *p;
    }
    memcpy(out + n, tail, sizeof(tail));
    return true;
}

bool df_powerbi_count_parse(const char *body, size_t len, int64_t *rows)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *result = json_array_get(json_object_get(doc, "results"), 0);
    json_t *table = json_array_get(json_object_get(result, "tables"), 0);
    json_t *row = json_array_get(json_object_get(table, "rows"), 0);
    void *it = json_object_iter(row);
    json_t *value = it ? json_object_iter_value(it) : NULL;
    bool ok = false;

    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *rows = json_integer_value(value);
        ok = true;
    } else if (json_is_real(value) && json_real_value(value) >= 0 &&
               json_real_value(value) < 9e15 &&
               json_real_value(value) == (double)(int64_t)json_real_value(value)) {
        *rows = (int64_t)json_real_value(value);
        ok = true;
    }
    json_decref(doc);
    return ok;
}

df_powerbi_landed_t df_powerbi_landed(int64_t before, int64_t n, int64_t now, int64_t cap)
{
    int64_t without = before, with = before + n;

    if (before < 0 || now < 0 || n <= 0)
        return DF_POWERBI_LANDED_UNKNOWN;
    if (cap > 0) {
        without = without < cap ? without : cap;
        with = with < cap ? with : cap;
    }
    if (with == without)
        return DF_POWERBI_LANDED_UNKNOWN;
    if (now == with)
        return DF_POWERBI_LANDED_YES;
    if (now == without)
        return DF_POWERBI_LANDED_NO;
    return DF_POWERBI_LANDED_UNKNOWN;
}

/* Said once per client; a warning only the first time in this process (a
 * tenant without the API would say it for every task). */
static void count_unavailable(df_powerbi_client_t *c, const char *table, const char *why)
{
    static int warned;

    if (c->count_logged)
        return;
    c->count_logged = true;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        df_warn("cannot count the rows of Power BI table %s (%s): a chunk whose POST outcome "
                "is unknown is sent again unverified (said once; then at debug level)",
                table, why);
    else
        df_debug("cannot count the rows of Power BI table %s (%s)", table, why);
}

bool df_powerbi_count_rows(df_powerbi_client_t *c, const char *dataset_id, const char *table,
                           int64_t *rows)
{
    char query[1200], escaped[512], path[600], key[DF_RATELIMIT_KEY_MAX];
    df_http_response_t resp;
    df_outcome_t out;
    df_error_t err;
    df_powerbi_call_t call = { .method = "POST", .path = path, .idempotent = true };
    json_t *body;
    char *text;
    bool ok = false;
    int64_t waited;

    df_error_init(&err);
    if (!df_powerbi_count_query(table, query, sizeof(query)) ||
        df_http_path_escape(dataset_id, escaped, sizeof(escaped), &err) != DF_OK) {
        count_unavailable(c, table, "the name does not fit a query");
        return false;
    }
    /* Power BI: 120 query requests per minute per user (the app). */
    snprintf(key, sizeof(key), "powerbi:%.80s:queries", c->cfg->client_id);
    if (c->ctx->redis &&
        df_ratelimit_wait(c->ctx->redis, key, QUERIES_PER_MINUTE, c->cfg->minute_ms, 1, 1,
                          COUNT_WAIT_MAX_MS, http_should_stop, c->ctx, &waited, &err) != DF_OK) {
        count_unavailable(c, table, err.message);
        return false;
    }
    snprintf(path, sizeof(path), "datasets/%s/executeQueries", escaped);
    body = json_pack("{s:[{s:s}], s:{s:b}}", "queries", "query", query, "serializerSettings",
                     "includeNulls", 1);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return false;
    call.body = text;
    call.body_len = strlen(text);
    df_http_response_init(&resp);
    df_outcome_init(&out);
    if (df_powerbi_send(c, &call, &resp, &out) != DF_OUTCOME_OK)
        count_unavailable(c, table, out.error.message);
    else if (!(ok = df_powerbi_count_parse(resp.body, resp.body_len, rows)))
        count_unavailable(c, table, "executeQueries answered without a row count");
    df_outcome_free(&out);
    df_http_response_free(&resp);
    free(text);
    return ok;
}
