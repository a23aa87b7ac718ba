/* google_sheets_api: the Sheets API client of the google_sheets connector
 * and its pure helpers (see google_sheets_api.h). */
#include "google_sheets_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_auth.h"
#include "df_id.h"
#include "df_log.h"
#include "df_ratelimit.h"
#include "registry.h"

#define RL_BURST       5     /* requests that may go at once after a quiet spell */
#define RL_MAX_WAIT_MS 60000 /* longer waits for the budget free the worker slot */

struct df_sheets_client {
    df_task_ctx_t *ctx;
    df_http_t *http;
    df_auth_t *auth;
    char token[DF_AUTH_TOKEN_MAX];
    char base[DF_HTTP_URL_MAX]; /* .../v4/spreadsheets[/<id>] */
    char rl_read[DF_RATELIMIT_KEY_MAX], rl_write[DF_RATELIMIT_KEY_MAX];
    int64_t rpm, minute_ms;
    unsigned seed;
    int64_t requests;
};

/* ---- pure helpers (google_sheets_api.h) -------------------------------------- */

void df_sheets_column(size_t col, char *out, size_t len)
{
    char rev[8];
    size_t n = 0;

    for (col++; col > 0 && n < sizeof(rev); col = (col - 1) / 26)
        rev[n++] = (char)('A' + (col - 1) % 26);
    for (size_t i = 0; len > 0 && i < n && i + 1 < len; i++)
        out[i] = rev[n - 1 - i];
    if (len > 0)
        out[n < len ? n : len - 1] = '\0';
}

bool df_sheets_a1(const char *sheet, size_t col0, size_t col1, int64_t row0, int64_t row1,
                  char *out, size_t len)
{
    char a[8], b[8];
    size_t o = 0;
    int n;

    if (len < 3)
        return false;
    out[o++] = '\'';
    for (const char *p = sheet; *p; p++) {
        if (o + (*p == '\'' ? 2 : 1) + 2 > len) /* and the closing quote, the NUL */
            return false;
        if (*p == '\'')
            out[o++] = '\'';
        out[o++] = *p;
    }
    out[o++] = '\'';
    out[o] = '\0';
    if (row0 <= 0)
        return true;
    df_sheets_column(col0, a, sizeof(a));
    df_sheets_column(col1, b, sizeof(b));
    if (row1 > 0)
        n = snprintf(out + o, len - o, "!%s%lld:%s%lld", a, (long long)row0, b, (long long)row1);
    else
        n = snprintf(out + o, len - o, "!%s%lld:%s", a, (long long)row0, b);
    return n > 0 && (size_t)n < len - o;
}

/* Digits after the column letters at *p: the row, or 0 when none. */
static int64_t cell_row(const char **p)
{
    int64_t row = 0;

    while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z') || **p == '$')
        (*p)++;
    while (**p >= '0' && **p <= '9' && row < ((int64_t)1 << 40))
        row = row * 10 + (*(*p)++ - '0');
    return row;
}

bool df_sheets_range_rows(const char *range, int64_t *first, int64_t *last)
{
    const char *p = range;

    if (*p == '\'') {
        for (p++; *p && !(p[0] == '\'' && p[1] != '\''); p += p[0] == '\'' ? 2 : 1)
            ;
        if (*p++ != '\'')
            return false;
    } else {
        p = strchr(p, '!');
        if (!p)
            return false;
    }
    if (*p++ != '!' || (*first = cell_row(&p)) <= 0)
        return false;
    if (*p == '\0') {
        *last = *first;
        return true;
    }
    if (*p++ != ':' || (*last = cell_row(&p)) < *first || *p != '\0')
        return false;
    return true;
}

df_code_t df_sheets_cell_json(const df_cell_t *cell, df_col_type_t type, json_t **value,
                              df_error_t *err)
{
    char text[32];
    size_t chars = 0;

    *value = NULL;
    if (cell->null) {
        *value = json_string("");
    } else if (type == DF_COL_INT) {
        if (cell->v.i > ((int64_t)1 << 53) || cell->v.i < -((int64_t)1 << 53)) {
            snprintf(text, sizeof(text), "%lld", (long long)cell->v.i);
            *value = json_string(text);
        } else {
            *value = json_integer((json_int_t)cell->v.i);
        }
    } else if (type == DF_COL_FLOAT) {
        double d = cell->v.f;
        *value = d != d                        ? json_string("NaN")
                 : d > 1.7976931348623157e308  ? json_string("Infinity")
                 : d < -1.7976931348623157e308 ? json_string("-Infinity")
                                               : json_real(d);
    } else if (type == DF_COL_BOOL) {
        *value = json_boolean(cell->v.b);
    } else {
        for (size_t i = 0; i < cell->v.s.len; i++)
            chars += ((unsigned char)cell->v.s.ptr[i] & 0xC0) != 0x80;
        if (chars > DF_SHEETS_CELL_CHARS_MAX)
            return df_error_set(err, DF_ERR_INVALID, NULL,
                                "%zu characters; a Google Sheets cell holds at most %d", chars,
                                DF_SHEETS_CELL_CHARS_MAX);
        *value = json_stringn(cell->v.s.ptr, cell->v.s.len);
        if (!*value)
            return df_error_set(err, DF_ERR_INVALID, NULL, "text is not valid UTF-8");
    }
    return *value ? DF_OK : df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

bool df_sheets_key_append(df_http_buf_t *key, const json_t *value)
{
    char num[64];
    const char *s = num;
    size_t n = 0;

    if (json_is_string(value)) {
        s = json_string_value(value);
        n = json_string_length(value);
    } else if (json_is_integer(value)) {
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(value));
    } else if (json_is_real(value)) {
        double d = json_real_value(value);
        if (d > -9e15 && d < 9e15 && d == (double)(long long)d)
            n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            n = (size_t)snprintf(num, sizeof(num), "%.15g", d);
    } else if (json_is_boolean(value)) {
        s = json_is_true(value) ? "TRUE" : "FALSE";
        n = strlen(s);
    }
    return df_http_buf_append(key, s, n, NULL) == DF_OK;
}

df_outcome_kind_t df_sheets_classify(const df_http_response_t *resp, df_outcome_t *out)
{
    long s = resp->status;
    df_http_class_t cls;
    df_error_t e;
    const char *code = "http_error";

    df_error_init(&e);
    cls = df_http_classify(resp, &e);
    if (cls == DF_HTTP_OK) {
        out->kind = DF_OUTCOME_OK;
        return DF_OUTCOME_OK;
    }
    if (s == 429)
        code = "rate_limited";
    else if (cls == DF_HTTP_RETRY)
        code = "unavailable";
    else if (s == 401)
        code = "auth_failed";
    else if (s == 403)
        code = "permission_denied";
    else if (s == 404)
        code = "not_found";
    else if (s == 413)
        code = "payload_too_large";
    else if (s == 400 && strstr(e.message, "number of cells in the workbook above the limit"))
        code = "cell_limit";
    else if (s == 400)
        code = "invalid_argument";
    df_outcome_set(out,
                   cls == DF_HTTP_RETRY  ? DF_OUTCOME_RETRY
                   : cls == DF_HTTP_AUTH ? DF_OUTCOME_AUTH
                                         : DF_OUTCOME_PERMANENT,
                   code, "%s", e.message);
    out->retry_after_ms = out->error.retry_after_ms = cls == DF_HTTP_RETRY ? e.retry_after_ms : -1;
    return out->kind;
}

/* ---- bodies ---- */

char *df_sheets_row_text(const df_chunk_t *c, size_t r, const df_col_type_t *types,
                         const json_t *names, size_t max_bytes, df_outcome_t *out)
{
    json_t *row = json_array(), *v;
    df_error_t err;
    char *text;

    df_error_init(&err);
    for (size_t i = 0; row && i < c->ncols; i++) {
        if (df_sheets_cell_json(df_chunk_cell(c, r, i), types[i], &v, &err) != DF_OK) {
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_value", "row %lld, column %s: %s",
                           (long long)(c->first_row + (int64_t)r + 1),
                           json_string_value(json_array_get(names, i)), err.message);
            json_decref(row);
            return NULL;
        }
        json_array_append_new(row, v);
    }
    text = row ? json_dumps(row, JSON_COMPACT) : NULL;
    json_decref(row);
    if (!text && out->kind == DF_OUTCOME_OK)
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    else if (text && strlen(text) > max_bytes)
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "row_too_large",
                       "row %lld is %zu bytes of JSON; a request carries at most %zu",
                       (long long)(c->first_row + (int64_t)r + 1), strlen(text), max_bytes);
    if (out->kind != DF_OUTCOME_OK) {
        free(text);
        return NULL;
    }
    return text;
}

char *df_sheets_values_body(const char *extra, char *const *texts, size_t n)
{
    df_http_buf_t b;
    bool ok;

    df_http_buf_init(&b, 0);
    ok = df_http_buf_append(&b, "{", 1, NULL) == DF_OK &&
         df_http_buf_append(&b, extra, strlen(extra), NULL) == DF_OK &&
         df_http_buf_append(&b, "\"majorDimension\":\"ROWS\",\"values\":[", 34, NULL) == DF_OK;
    for (size_t i = 0; ok && i < n; i++)
        ok = (i == 0 || df_http_buf_append(&b, ",", 1, NULL) == DF_OK) &&
             df_http_buf_append(&b, texts[i], strlen(texts[i]), NULL) == DF_OK;
    if (!ok || df_http_buf_append(&b, "]}", 2, NULL) != DF_OK) {
        df_http_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- calls: pacing, token, retries ---------------------------------------- */

static bool stop_requested(void *opaque)
{
    df_task_ctx_t *ctx = opaque;
    return ctx->should_stop(ctx) != DF_STOP_NONE;
}

static df_outcome_kind_t stopped(df_task_ctx_t *ctx, df_outcome_t *out)
{
    if (ctx->should_stop(ctx) == DF_STOP_DEADLINE)
        return df_outcome_set(out, DF_OUTCOME_CANCELLED, "deadline_exceeded",
                              "the task's deadline passed during a Google Sheets call");
    return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled",
                          "stopped during a Google Sheets call (cancelled or handed back)");
}

static df_outcome_kind_t retry_in(df_outcome_t *out, int64_t ms)
{
    out->retry_after_ms = out->error.retry_after_ms = ms;
    return out->kind;
}

/* Wait for a slot of the account's fleet-wide read or write budget. A
 * Redis failure lets the call go unpaced (Google's 429 still stops it). */
static df_outcome_kind_t pace(df_sheets_client_t *c, bool write, df_outcome_t *out)
{
    df_error_t err;
    df_code_t rc;

    if (!c->ctx->redis)
        return DF_OUTCOME_OK;
    df_error_init(&err);
    rc = df_ratelimit_wait(c->ctx->redis, write ? c->rl_write : c->rl_read, c->rpm, c->minute_ms,
                           c->rpm < RL_BURST ? c->rpm : RL_BURST, 1, RL_MAX_WAIT_MS, stop_requested,
                           c->ctx, NULL, &err);
    if (rc == DF_ERR_CANCELLED)
        return stopped(c->ctx, out);
    if (rc == DF_ERR_TIMEOUT) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "rate_limited", "fleet rate limit %s: %s",
                       write ? c->rl_write : c->rl_read, err.message);
        return retry_in(out, err.retry_after_ms);
    }
    if (rc != DF_OK)
        df_warn("rate limit %s not applied: %s", c->rl_write, err.message);
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t get_token(df_sheets_client_t *c, bool force, df_outcome_t *out)
{
    df_error_t err;

    df_error_init(&err);
    if (df_auth_token(c->auth, c->ctx->redis, c->http, force, c->token, sizeof(c->token), &err) ==
        DF_OK)
        return DF_OUTCOME_OK;
    if (err.code == DF_ERR_CANCELLED)
        return stopped(c->ctx, out);
    if (err.code == DF_ERR_AUTH)
        return df_outcome_set(out, DF_OUTCOME_AUTH, "auth_failed", "Google token: %s", err.message);
    df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                   err.retryable ? "unavailable" : "auth_failed", "Google token: %s", err.message);
    return retry_in(out, err.retry_after_ms);
}

/* Exponential backoff from base ms with equal jitter, capped at 32 s. */
static int64_t backoff(df_sheets_client_t *c, int tries, int64_t base)
{
    int64_t b = base << (tries < 7 ? tries - 1 : 6);

    b = b > 32000 ? 32000 : b;
    return b / 2 + rand_r(&c->seed) % (b / 2 + 1);
}

/* See google_sheets_api.h. */
df_outcome_kind_t df_sheets_call(df_sheets_client_t *c, const char *method, const char *path,
                                 const char *body, df_sheets_call_kind_t kind, json_t **reply,
                                 bool *ambiguous, df_outcome_t *out)
{
    char url[DF_HTTP_URL_MAX], bearer[DF_AUTH_TOKEN_MAX + 8];
    df_http_header_t hdr[] = { { "Authorization", bearer }, { "Accept", "application/json" } };
    df_http_request_t req = { .method = method, .url = url, .headers = hdr, .nheaders = 2 };
    df_http_response_t resp;
    bool force = false;
    df_error_t err;

    *reply = NULL;
    if (ambiguous)
        *ambiguous = false;
    if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url))
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", "URL too long");
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.content_type = body ? "application/json" : NULL;
    req.once = kind == DF_SHEETS_APPEND;
    df_http_response_init(&resp);
    for (int tries = 1;; tries++) {
        df_error_init(&err);
        out->retry_after_ms = -1;
        if (pace(c, kind != DF_SHEETS_READ, out) != DF_OUTCOME_OK)
            break;
        if (get_token(c, force, out) != DF_OUTCOME_OK) {
            if (out->kind != DF_OUTCOME_RETRY)
                break;
        } else {
            snprintf(bearer, sizeof(bearer), "Bearer %s", c->token);
            c->requests++;
            if (df_http_send(c->http, &req, &resp, &err) == DF_OK) {
                df_sheets_classify(&resp, out);
            } else if (err.code == DF_ERR_CANCELLED) {
                stopped(c->ctx, out);
                break;
            } else {
                df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                               err.retryable ? "unavailable" : "http_failed", "%s", err.message);
            }
            if (out->kind == DF_OUTCOME_OK) {
                *reply =
                    resp.body_len ? json_loadb(resp.body, resp.body_len, 0, NULL) : json_object();
                if (!*reply)
                    df_outcome_set(out, DF_OUTCOME_PERMANENT, "bad_response",
                                   "%s %s: the answer is not JSON", method, path);
                break;
            }
            if (out->kind == DF_OUTCOME_AUTH && !force) {
                force = true; /* the token was refused: one new one */
                tries--;
                continue;
            }
            if (out->kind != DF_OUTCOME_RETRY)
                break;
            if (kind == DF_SHEETS_APPEND && strcmp(out->code, "rate_limited") != 0) {
                *ambiguous = true;
                break;
            }
        }
        force = false;
        if (out->retry_after_ms < 0)
            retry_in(out, backoff(c, tries, strcmp(out->code, "rate_limited") ? 500 : 2000));
        if (tries >= DF_SHEETS_TRIES)
            break;
        df_info("google sheets %s: %s; retry %d of %d in %lld ms", method, out->error.message,
                tries, DF_SHEETS_TRIES - 1, (long long)out->retry_after_ms);
        if (df_task_ctx_sleep(c->ctx, out->retry_after_ms) != DF_STOP_NONE) {
            stopped(c->ctx, out);
            break;
        }
    }
    explicit_bzero(bearer, sizeof(bearer));
    df_http_response_free(&resp);
    return out->kind;
}

df_outcome_kind_t df_sheets_values_path(const char *range, const char *suffix, char *path,
                                        size_t len, df_outcome_t *out)
{
    char esc[DF_SHEETS_A1_MAX * 3];
    df_error_t err;

    df_error_init(&err);
    if (df_http_path_escape(range, esc, sizeof(esc), &err) != DF_OK ||
        (size_t)snprintf(path, len, "/values/%s%s", esc, suffix) >= len)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", "range %s too long",
                              range);
    return DF_OUTCOME_OK;
}

/* ---- the client ------------------------------------------------------------ */

static const char *str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s && *s ? s : NULL;
}

void df_sheets_client_close(df_sheets_client_t *c)
{
    if (!c)
        return;
    df_http_destroy(c->http);
    df_auth_destroy(c->auth);
    explicit_bzero(c->token, sizeof(c->token));
    free(c);
}

/* base: the API root (with or without its /v4) + /v4/spreadsheets[/<id>]. */
static df_code_t make_base(df_sheets_client_t *c, const char *root_url, const char *id,
                           df_error_t *err)
{
    char esc[DF_SHEETS_SPREADSHEET_MAX * 3 + 1], root[DF_HTTP_URL_MAX];
    size_t n;

    snprintf(root, sizeof(root), "%s", root_url ? root_url : DF_SHEETS_API_BASE);
    for (n = strlen(root); n > 0 && root[n - 1] == '/'; n--)
        root[n - 1] = '\0';
    if (df_http_path_escape(id ? id : "", esc, sizeof(esc), err) != DF_OK ||
        df_http_url_join(root, n > 3 && strcmp(root + n - 3, "/v4") == 0 ? "" : "v4", c->base,
                         sizeof(c->base), err) != DF_OK)
        return err->code;
    n = strlen(c->base);
    if ((size_t)snprintf(c->base + n, sizeof(c->base) - n, "/spreadsheets%s%s", id ? "/" : "",
                         esc) >= sizeof(c->base) - n)
        return df_error_set(err, DF_ERR_INVALID, "api_base_url", "URL too long");
    return DF_OK;
}

df_sheets_client_t *df_sheets_client_open(df_task_ctx_t *ctx, const char *spreadsheet_id,
                                          df_outcome_t *out)
{
    const json_t *cfg = ctx->connector_config;
    const char *email = str(cfg, "client_email"), *key = str(ctx->connector_secrets, "private_key");
    df_auth_config_t ac = { .kind = DF_AUTH_SERVICE_ACCOUNT, .scope = DF_SHEETS_SCOPE };
    df_http_options_t ho = { .should_stop = stop_requested,
                             .stop_ctx = ctx,
                             .platform = "google_sheets" };
    df_error_t err;
    df_sheets_client_t *c = calloc(1, sizeof(*c));

    df_error_init(&err);
    if (!c) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
        return NULL;
    }
    c->ctx = ctx;
    c->seed = (unsigned)df_mono_ms() ^ (unsigned)(uintptr_t)c;
    if (!email || !key) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "connector %s: %s is required",
                       ctx->connector, email ? "secrets.private_key" : "config.client_email");
        goto fail;
    }
    ac.client_email = email;
    ac.private_key_pem = key;
    ac.token_url = str(cfg, "token_url");
    /* A whole service-account key file (JSON) is accepted as the key too. */
    c->auth = key[0] == '{'
                  ? df_auth_new_google_key(key, DF_SHEETS_SCOPE, ac.token_url, ctx->keyring, &err)
                  : df_auth_new(&ac, ctx->keyring, &err);
    if (!c->auth) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_credentials", "connector %s: %s",
                       ctx->connector, err.message);
        goto fail;
    }
    if (make_base(c, str(cfg, "api_base_url"), spreadsheet_id, &err) != DF_OK) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "connector %s: %s",
                       ctx->connector, err.message);
        goto fail;
    }
    if (!(c->http = df_http_new(&ho, &err))) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "%s", err.message);
        goto fail;
    }
    df_http_set_traceparent(c->http, ctx->traceparent);
    /* Google counts its quotas per user (the service account) and minute. */
    c->rpm = DF_SHEETS_RPM_DEFAULT;
    if (json_integer_value(json_object_get(ctx->connector_limits, "requests_per_minute")) > 0)
        c->rpm = json_integer_value(json_object_get(ctx->connector_limits, "requests_per_minute"));
    c->minute_ms = json_integer_value(json_object_get(cfg, "minute_ms")) > 0
                       ? json_integer_value(json_object_get(cfg, "minute_ms"))
                       : 60000;
    snprintf(c->rl_read, sizeof(c->rl_read), "google_sheets:%.150s:read", email);
    snprintf(c->rl_write, sizeof(c->rl_write), "google_sheets:%.150s:write", email);
    return c;
fail:
    df_sheets_client_close(c);
    return NULL;
}

df_outcome_kind_t df_sheets_client_token(df_sheets_client_t *c, df_outcome_t *out)
{
    return get_token(c, false, out);
}

df_outcome_kind_t df_sheets_client_pause(df_sheets_client_t *c, int tries, df_outcome_t *out)
{
    if (df_task_ctx_sleep(c->ctx, backoff(c, tries, 500)) != DF_STOP_NONE)
        return stopped(c->ctx, out);
    return DF_OUTCOME_OK;
}

int64_t df_sheets_client_requests(const df_sheets_client_t *c)
{
    return c->requests;
}
