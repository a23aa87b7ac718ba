/* api_server: the libmicrohttpd daemon of the `api` role. Per request:
 * read the body (refusing more than --api-body-limit), match the route
 * (404/405), authenticate the bearer token (401) and check its role (403),
 * apply the token's rate limit (429 + Retry-After), parse the JSON body
 * (400), call the handler, record an audit row for a successful change,
 * and count the request in datafleet_api_requests_total. Handlers run on
 * the daemon's pool threads, each with its own PostgreSQL and Redis
 * connections (made on first use, remade when lost). */
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "df_audit.h"
#include "df_hmap.h"
#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"
#include "df_submit.h"

struct api_server {
    const df_scheduler_config_t *cfg;
    struct MHD_Daemon *daemon;
    int port;
    char *tls_cert, *tls_key;
    /* the shared submitter */
    pthread_mutex_t submit_lock;
    df_submitter_t *submitter;
    df_error_t submit_err; /* report of the last task submitted */
    bool submit_reported;
    /* per-token rate limits */
    pthread_mutex_t rate_lock;
    df_hmap_t *buckets;
    df_secret_keyring_t *keyring; /* NULL: no DATAFLEET_SECRET_KEY */
    /* each pool thread's connections */
    pthread_key_t conns_key;
};

typedef struct conns {
    df_pg_t *pg;
    df_redis_t *redis;
} conns_t;

typedef struct bucket {
    double tokens;
    int64_t at_ms;
} bucket_t;

/* What a request keeps between the daemon's calls. */
typedef struct pending {
    char *body;
    size_t len, cap;
    bool too_big;
} pending_t;

static df_metric_t *m_requests, *m_duration;

static const api_route_t *const route_tables[] = { api_tasks_routes,     api_connectors_routes,
                                                   api_fleet_routes,     api_schedules_routes,
                                                   api_pipelines_routes, api_misc_routes };

const api_route_t *const *api_route_tables(size_t *n)
{
    *n = sizeof(route_tables) / sizeof(route_tables[0]);
    return route_tables;
}

/* ---- roles ------------------------------------------------------------------- */

const char *api_role_name(api_role_t role)
{
    switch (role) {
    case API_ROLE_READ: return "read";
    case API_ROLE_SUBMIT: return "submit";
    case API_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}

bool api_role_parse(const char *text, api_role_t *out)
{
    static const api_role_t all[] = { API_ROLE_READ, API_ROLE_SUBMIT, API_ROLE_ADMIN };

    for (size_t i = 0; text && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(text, api_role_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

/* ---- answers ----------------------------------------------------------------- */

void api_json(api_resp_t *resp, unsigned status, json_t *body)
{
    json_decref(resp->json);
    resp->status = status;
    resp->json = body ? body : json_object();
}

/* The length of the well-formed UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* text with every byte that is not part of well-formed UTF-8 (a client's
 * path or parameter, cut by a %.64s in the middle of a character) made '?',
 * so the error can be JSON. In place. */
static void utf8_clean(char *text)
{
    unsigned char *s = (unsigned char *)text;

    while (*s) {
        size_t n = utf8_seq(s);
        if (n == 0)
            *s++ = '?';
        else
            s += n;
    }
}

void api_error(api_resp_t *resp, unsigned status, const char *code, const char *field,
               const char *fmt, ...)
{
    char message[DF_ERR_MSG_MAX], name[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    df_log_redact(message);
    utf8_clean(message);
    snprintf(name, sizeof(name), "%s", field ? field : "");
    utf8_clean(name);
    api_json(resp, status,
             json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code, "message", message, "field",
                       name[0] ? name : NULL));
}

void api_header(api_resp_t *resp, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (resp->nheaders >= API_HEADERS_MAX)
        return;
    resp->headers[resp->nheaders].name = name;
    va_start(ap, fmt);
    vsnprintf(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), fmt, ap);
    va_end(ap);
    resp->nheaders++;
}

void api_df_error(api_resp_t *resp, const df_error_t *err)
{
    const char *field = err->field[0] ? err->field : NULL;

    switch (err->code) {
    case DF_ERR_INVALID:
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", field, "%s", err->message);
        break;
    case DF_ERR_NOT_FOUND:
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", field, "%s", err->message);
        break;
    case DF_ERR_CONFLICT:
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", field, "%s", err->message);
        break;
    case DF_ERR_AUTH:
        api_error(resp, MHD_HTTP_FORBIDDEN, "forbidden", field, "%s", err->message);
        break;
    case DF_ERR_TIMEOUT:
        api_error(resp, MHD_HTTP_GATEWAY_TIMEOUT, "timeout", NULL, "%s", err->message);
        break;
    case DF_ERR_UNSUPPORTED:
        api_error(resp, MHD_HTTP_UNPROCESSABLE_CONTENT, "unsupported", field, "%s", err->message);
        break;
    case DF_ERR_PG:
    case DF_ERR_REDIS:
    case DF_ERR_KAFKA:
        /* field holds a SQLSTATE or a call name: not the client's field */
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, "%s", err->message);
        api_header(resp, "Retry-After", "5");
        break;
    default:
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "%s", err->message);
        break;
    }
}

/* ---- reading requests ----------------------------------------------------------- */

const char *api_query(const api_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *api_header_in(const api_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

typedef struct query_check {
    const char *const *allowed;
    const char *unknown;
} query_check_t;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    query_check_t *qc = cls;

    (void)kind;
    (void)value;
    for (size_t i = 0; qc->allowed && qc->allowed[i]; i++) {
        if (strcmp(qc->allowed[i], key) == 0)
            return MHD_YES;
    }
    qc->unknown = key;
    return MHD_NO;
}

bool api_query_only(const api_req_t *req, api_resp_t *resp, const char *const *allowed)
{
    query_check_t qc = { allowed, NULL };
    char list[256] = "";
    size_t used = 0;

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &qc);
    if (!qc.unknown)
        return true;
    for (size_t i = 0; allowed && allowed[i] && used < sizeof(list); i++)
        used +=
            (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed[i]);
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", qc.unknown,
              "unknown query parameter \"%.64s\" (expected one of: %s)", qc.unknown,
              used ? list : "none");
    return false;
}

bool api_query_int(const api_req_t *req, api_resp_t *resp, const char *name, int64_t def,
                   int64_t min, int64_t max, int64_t *out)
{
    const char *text = api_query(req, name);
    char *end;
    long long v;

    if (!text) {
        *out = def;
        return true;
    }
    v = strtoll(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", name,
                  "%s: expected an integer from %lld to %lld, got \"%.64s\"", name, (long long)min,
                  (long long)max, text);
        return false;
    }
    *out = v;
    return true;
}

bool api_query_time(const api_req_t *req, api_resp_t *resp, const char *name, int64_t *out,
                    bool *set)
{
    const char *text = api_query(req, name);
    char *end;
    long long v;

    *set = false;
    if (!text)
        return true;
    v = strtoll(text, &end, 10);
    if (*text && !*end && v >= 0) {
        *out = v;
    } else if (!df_time_parse(text, out)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", name,
                  "%s: expected an RFC 3339 time (2026-01-31T12:00:00Z) or Unix milliseconds, "
                  "got \"%.64s\"",
                  name, text);
        return false;
    }
    *set = true;
    return true;
}

bool api_query_enum(const api_req_t *req, api_resp_t *resp, const char *name, const char *choices,
                    const char **out)
{
    const char *text = api_query(req, name);
    const char *p = choices;
    size_t len;

    *out = NULL;
    if (!text)
        return true;
    len = strlen(text);
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, text, n) == 0) {
            *out = text;
            return true;
        }
        p = bar ? bar + 1 : NULL;
    }
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", name, "%s: expected one of %s, got \"%.64s\"",
              name, choices, text);
    return false;
}

bool api_body_only(const api_req_t *req, api_resp_t *resp, const char *const *allowed)
{
    const char *key;
    json_t *value;

    json_object_foreach(req->body, key, value)
    {
        bool known = false;
        (void)value;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", key, "unknown field \"%.64s\"", key);
            return false;
        }
    }
    return true;
}

bool api_param_id(const api_req_t *req, api_resp_t *resp, int i, const char *what)
{
    if (req->params[i] && df_id_valid(req->params[i]))
        return true;
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", what,
              "%s: expected a ULID or a UUID, got \"%.64s\"", what,
              req->params[i] ? req->params[i] : "");
    return false;
}

bool api_need_pg(api_req_t *req, api_resp_t *resp)
{
    if (req->pg)
        return true;
    api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
              "PostgreSQL is not reachable");
    api_header(resp, "Retry-After", "5");
    return false;
}

bool api_need_redis(api_req_t *req, api_resp_t *resp)
{
    if (req->redis)
        return true;
    api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, "Redis is not reachable");
    api_header(resp, "Retry-After", "5");
    return false;
}

/* text with every integer literal too long for 64 bits given a ".0", so
 * jansson reads it as a real instead of failing: PostgreSQL's jsonb writes
 * numbers such as 1e300 (which a task may hold) in full. Caller frees. */
static char *widen_big_integers(const char *text)
{
    size_t n = strlen(text), o = 0;
    char *out = malloc(n + n / 9 + 3); /* at most 2 per 19 digits */
    bool in_string = false;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        char c = text[i];
        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < n)
                out[o++] = text[++i];
            else if (c == '"')
                in_string = false;
            i++;
        } else if (c == '"') {
            in_string = true;
            out[o++] = text[i++];
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i, digits = 0;
            bool integer;
            if (c == '-')
                i++;
            while (i < n && text[i] >= '0' && text[i] <= '9') {
                i++;
                digits++;
            }
            integer = i >= n || !strchr(".eE", text[i]);
            /* the rest of the number: fraction and exponent */
            while (i < n && strchr("0123456789.eE+-", text[i]))
                i++;
            memcpy(out + o, text + start, i - start);
            o += i - start;
            if (integer && digits > 18) {
                out[o++] = '.';
                out[o++] = '0';
            }
        } else {
            out[o++] = text[i++];
        }
    }
    out[o] = '\0';
    return out;
}

json_t *api_pg_json(api_req_t *req, api_resp_t *resp, const char *sql, int nparams,
                    const char *const *params)
{
    df_error_t err;
    PGresult *res;
    json_t *out;
    json_error_t jerr;

    if (!api_need_pg(req, resp))
        return NULL;
    df_error_init(&err);
    res = df_pg_exec(req->pg, sql, nparams, params, &err);
    if (!res) {
        /* 22xxx: the client's value did not fit the column's type */
        if (strncmp(df_pg_sqlstate(&err), "22", 2) == 0)
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", NULL, "%s", err.message);
        else
            api_df_error(resp, &err);
        return NULL;
    }
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return json_null();
    }
    out = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
    if (!out) {
        char *wide = widen_big_integers(PQgetvalue(res, 0, 0));
        out = wide ? json_loads(wide, JSON_DECODE_ANY, &jerr) : NULL;
        free(wide);
    }
    PQclear(res);
    if (!out)
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL,
                  "cannot read PostgreSQL's JSON: %s", jerr.text);
    return out;
}

/* ---- cursors ----------------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *api_cursor_encode(const char *text)
{
    size_t n = strlen(text), o = 3;
    char *out = malloc(3 + (n + 2) / 3 * 4 + 1);

    if (!out)
        return NULL;
    memcpy(out, "c1.", 3);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)text[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)text[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)text[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return out;
}

bool api_cursor_decode(const char *cursor, api_resp_t *resp, char *out, size_t len)
{
    size_t n, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (strncmp(cursor, "c1.", 3) != 0)
        goto bad;
    cursor += 3;
    n = strlen(cursor);
    if (n == 0 || n % 4 == 1)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(b64url, cursor[i]);
        if (!p || !cursor[i])
            goto bad;
        acc = (acc << 6) | (uint32_t)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= len)
                goto bad;
            out[o++] = (char)((acc >> bits) & 0xff);
            if (out[o - 1] == '\0')
                goto bad;
        }
    }
    out[o] = '\0';
    return true;
bad:
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "cursor",
              "cursor: not a cursor this API gave out (pass `next_cursor` from a previous page)");
    return false;
}

/* ---- audit --------------------------------------------------------------------------- */

void api_audit(api_req_t *req, const char *action, const char *target_kind, const char *target,
               json_t *details)
{
    df_error_t err;

    df_error_init(&err);
    if (!req->pg || df_audit_record(req->pg, req->actor, action, target_kind, target, details,
                                    req->remote_addr[0] ? req->remote_addr : NULL, &err) != DF_OK)
        df_warn("api: audit of %s %s by %s not recorded: %s", action, target ? target : "",
                req->actor, req->pg ? err.message : "PostgreSQL is not reachable");
}

/* ---- submitting ------------------------------------------------------------------------ */

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    api_server_t *s = opaque;

    (void)task_id;
    s->submit_reported = true;
    if (err)
        s->submit_err = *err;
}

df_code_t api_submit(api_server_t *s, json_t *task, const char *traceparent, df_error_t *err)
{
    df_code_t rc;

    pthread_mutex_lock(&s->submit_lock);
    if (!s->submitter) {
        df_submit_config_t sc = {
            .brokers = s->cfg->common.kafka_brokers,
            .topic_prefix = s->cfg->common.topic_prefix,
            .partitions = (int)s->cfg->common.partitions,
            .ensure_topics = true,
            .source = "datafleet-api",
        };
        s->submitter = df_submitter_new(&sc, on_report, s, err);
        if (!s->submitter) {
            pthread_mutex_unlock(&s->submit_lock);
            return err->code;
        }
    }
    df_error_init(&s->submit_err);
    s->submit_reported = false;
    rc = df_submit(s->submitter, task, traceparent, err);
    if (rc == DF_OK)
        rc = df_submit_flush(s->submitter, 15000, err);
    if (rc == DF_OK && s->submit_err.code != DF_OK) {
        *err = s->submit_err;
        rc = err->code;
    }
    pthread_mutex_unlock(&s->submit_lock);
    return rc;
}

const df_secret_keyring_t *api_keyring(const api_server_t *server)
{
    return server->keyring;
}

const df_scheduler_config_t *api_config(const api_server_t *server)
{
    return server->cfg;
}

/* ---- per-thread connections -------------------------------------------------------------- */

static void conns_free(void *p)
{
    conns_t *c = p;

    df_pg_destroy(c->pg);
    df_redis_destroy(c->redis);
    free(c);
}

static conns_t *thread_conns(api_server_t *s)
{
    conns_t *c = pthread_getspecific(s->conns_key);
    df_error_t err;

    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return NULL;
        pthread_setspecific(s->conns_key, c);
    }
    df_error_init(&err);
    if (c->pg && !df_pg_connected(c->pg) && df_pg_reconnect(c->pg, 2000, &err) != DF_OK) {
        df_pg_destroy(c->pg);
        c->pg = NULL;
    }
    if (!c->pg) {
        c->pg = df_pg_new(s->cfg->common.database_url, &err);
        if (!c->pg)
            df_warn("api: PostgreSQL: %s", err.message);
    }
    if (!c->redis) {
        c->redis = df_redis_new(s->cfg->common.redis_url, 2000, 5000, &err);
        if (!c->redis)
            df_warn("api: Redis: %s", err.message);
    }
    return c;
}

/* ---- rate limits --------------------------------------------------------------------------- */

/* Take one request from the token's bucket: 0 when admitted, else the
 * milliseconds until one is. */
static int64_t rate_take(api_server_t *s, const char *token_id)
{
    double rate = (double)s->cfg->api_rate, burst = (double)s->cfg->api_burst;
    int64_t now = df_mono_ms(), wait = 0;
    bucket_t *b;

    pthread_mutex_lock(&s->rate_lock);
    b = df_hmap_get(s->buckets, token_id, strlen(token_id));
    if (!b && (b = calloc(1, sizeof(*b))) != NULL) {
        b->tokens = burst;
        b->at_ms = now;
        if (!df_hmap_put(s->buckets, token_id, strlen(token_id), b)) {
            free(b);
            b = NULL;
        }
    }
    if (b) {
        b->tokens = fmin(burst, b->tokens + (double)(now - b->at_ms) * rate / 1000.0);
        b->at_ms = now;
        if (b->tokens >= 1.0)
            b->tokens -= 1.0;
        else
            wait = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / rate);
    }
    pthread_mutex_unlock(&s->rate_lock);
    return wait;
}

/* ---- routing ------------------------------------------------------------------------------- */

/* Does path match pattern? Fills params (pointers into segs, a copy of path
 * split at '/'). */
static bool match(const char *pattern, char *segs, const char **params)
{
    const char *p = pattern;
    char *q = segs;
    int np = 0;

    while (*p && *q) {
        if (*p != '/' || *q != '/')
            return false;
        p++;
        q++;
        const char *pend = strchr(p, '/');
        char *qend = strchr(q, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t qlen = qend ? (size_t)(qend - q) : strlen(q);
        if (plen > 1 && p[0] == '{') {
            if (qlen == 0 || np >= API_PARAMS_MAX)
                return false;
            params[np++] = q;
        } else if (plen != qlen || strncmp(p, q, plen) != 0) {
            return false;
        }
        p += plen;
        q += qlen;
    }
    if (*p || *q)
        return false;
    /* cut the parameters out of segs */
    for (int i = 0; i < np; i++) {
        char *slash = strchr(params[i], '/');
        if (slash)
            *slash = '\0';
    }
    return true;
}

/* Add method to the comma-separated list allow (once). */
static void allow_add(char *allow, size_t len, const char *method)
{
    size_t used = strlen(allow), n = strlen(method);
    const char *p = allow;

    while ((p = strstr(p, method)) != NULL) {
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return;
        p += n;
    }
    if (used + n + 3 < len)
        snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

/* The route for method + path; *path_known tells a 405 from a 404, and
 * allow lists the methods the path takes (for the 405's Allow header). */
static const api_route_t *find_route(const char *method, const char *path, char *segs,
                                     size_t segs_len, const char **params, bool *path_known,
                                     char *allow, size_t allow_len)
{
    *path_known = false;
    allow[0] = '\0';
    for (size_t t = 0; t < sizeof(route_tables) / sizeof(route_tables[0]); t++) {
        for (const api_route_t *r = route_tables[t]; r->method; r++) {
            const char *tmp[API_PARAMS_MAX] = { 0 };
            snprintf(segs, segs_len, "%s", path);
            if (!match(r->pattern, segs, tmp))
                continue;
            *path_known = true;
            allow_add(allow, allow_len, r->method);
            if (strcmp(r->method, "GET") == 0)
                allow_add(allow, allow_len, "HEAD");
            if (strcmp(r->method, method) == 0 ||
                (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
                memcpy(params, tmp, sizeof(tmp));
                return r;
            }
        }
    }
    return NULL;
}

/* ---- the daemon ------------------------------------------------------------------------------ */

static enum MHD_Result send_resp(struct MHD_Connection *conn, api_resp_t *resp)
{
    struct MHD_Response *r;
    enum MHD_Result rc;
    char *text = NULL;
    size_t len = 0;

    if (resp->raw) {
        r = MHD_create_response_from_buffer(resp->raw_len, resp->raw,
                                            resp->raw_static ? MHD_RESPMEM_PERSISTENT
                                                             : MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->raw = NULL;
    } else {
        text = json_dumps(resp->json ? resp->json : json_object(), JSON_COMPACT | JSON_ENCODE_ANY);
        len = text ? strlen(text) : 0;
        r = text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
        if (!r)
            free(text);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            resp->raw            ? resp->content_type
                            : resp->content_type ? resp->content_type
                                                 : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    rc = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

static void resp_free(api_resp_t *resp)
{
    json_decref(resp->json);
    json_decref(resp->audit);
    if (!resp->raw_static)
        free(resp->raw);
}

/* The bearer token of the request: DF_OK with info, or an answer set. */
static bool authenticate(api_req_t *req, api_resp_t *resp, api_token_info_t *info)
{
    const char *auth = api_header_in(req, MHD_HTTP_HEADER_AUTHORIZATION);
    df_error_t err;
    df_code_t rc;

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        api_error(resp, MHD_HTTP_UNAUTHORIZED, "unauthorized", "Authorization",
                  "an API token is required in the Authorization header (scheme \"Bearer\"); "
                  "create one with: datafleet-scheduler tokens create");
        api_header(resp, "WWW-Authenticate", "Bearer realm=\"datafleet\"");
        return false;
    }
    if (!api_need_pg(req, resp))
        return false;
    df_error_init(&err);
    rc = api_token_check(req->pg, auth + 7, info, &err);
    if (rc == DF_ERR_AUTH) {
        api_error(resp, MHD_HTTP_UNAUTHORIZED, "unauthorized", "Authorization", "%s", err.message);
        api_header(resp, "WWW-Authenticate", "Bearer realm=\"datafleet\", error=\"invalid_token\"");
        return false;
    }
    if (rc != DF_OK) {
        api_df_error(resp, &err);
        return false;
    }
    return true;
}

static bool parse_body(api_req_t *req, api_resp_t *resp, const pending_t *pd,
                       const api_route_t *route)
{
    json_error_t jerr;

    if (!(route->flags & API_BODY)) {
        if (pd->len) {
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "body", "%s %s takes no request body",
                      route->method, route->pattern);
            return false;
        }
        return true;
    }
    if (!pd->len) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "body", "a JSON object body is required");
        return false;
    }
    req->body = json_loadb(pd->body, pd->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req->body) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "body",
                  "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(req->body)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "body",
                  "expected a JSON object as the body");
        return false;
    }
    return true;
}

/* What req points into beyond serve: the audit row, written after it,
 * reads the path parameters and the actor. */
typedef struct req_bufs {
    char segs[2048]; /* the path's segments: req->params */
    char actor[160]; /* req->actor */
} req_bufs_t;

static void serve(api_server_t *s, api_req_t *req, api_resp_t *resp, const pending_t *pd,
                  req_bufs_t *bufs)
{
    char allow[64];
    bool path_known;
    const api_route_t *route;
    api_token_info_t info;
    int64_t wait;

    if (strlen(req->path) >= sizeof(bufs->segs)) {
        api_error(resp, MHD_HTTP_URI_TOO_LONG, "invalid", "path", "the path is too long");
        return;
    }
    route = find_route(req->method, req->path, bufs->segs, sizeof(bufs->segs), req->params,
                       &path_known, allow, sizeof(allow));
    if (!route) {
        if (path_known) {
            api_error(resp, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
                      "%.16s is not allowed on %.200s (allowed: %s)", req->method, req->path,
                      allow);
            api_header(resp, "Allow", "%s", allow);
        } else {
            api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "path",
                      "no such endpoint: %.200s (see /openapi.json)", req->path);
        }
        return;
    }
    req->route = route->pattern;
    req->route_flags = route->flags;
    if (pd->too_big) {
        api_error(resp, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body",
                  "the request body is larger than %lld bytes", (long long)s->cfg->api_body_limit);
        return;
    }
    if (route->role != API_ROLE_NONE) {
        conns_t *c = thread_conns(s);
        req->pg = c ? c->pg : NULL;
        req->redis = c ? c->redis : NULL;
        if (!authenticate(req, resp, &info))
            return;
        snprintf(bufs->actor, sizeof(bufs->actor), "token:%s", info.name);
        req->actor = bufs->actor;
        req->role = info.role;
        if (info.role < route->role) {
            api_error(resp, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
                      "%s %s needs a token of role %s or above; this token's role is %s",
                      route->method, route->pattern, api_role_name(route->role),
                      api_role_name(info.role));
            return;
        }
        wait = rate_take(s, info.id);
        if (wait > 0) {
            api_error(resp, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", NULL,
                      "more than %lld requests per second with this token; retry in %lld ms",
                      (long long)s->cfg->api_rate, (long long)wait);
            api_header(resp, "Retry-After", "%lld", (long long)(wait + 999) / 1000);
            return;
        }
    }
    if (!parse_body(req, resp, pd, route))
        return;
    route->fn(req, resp);
    if (!resp->status)
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "no answer");
}

/* The audit row of a successful change: action "POST /v1/connectors",
 * target kind the collection ("connectors"), target the first path
 * parameter or the handler's resp->audit_target, details resp->audit. */
static void audit_route(api_req_t *req, api_resp_t *resp)
{
    char action[160], kind[64] = "";
    const char *p = req->route + (strncmp(req->route, "/v1/", 4) == 0 ? 4 : 1);
    size_t n = strcspn(p, "/");

    snprintf(action, sizeof(action), "%s %s", req->method, req->route);
    snprintf(kind, sizeof(kind), "%.*s", (int)(n < sizeof(kind) ? n : sizeof(kind) - 1), p);
    api_audit(req, action, kind, resp->audit_target[0] ? resp->audit_target : req->params[0],
              resp->audit);
}

/* A Content-Length over the limit is refused before the body is read (the
 * connection is closed after the answer). */
static enum MHD_Result early_reject(api_server_t *s, struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    api_resp_t resp;
    enum MHD_Result rc;

    if (!cl || strtoull(cl, NULL, 10) <= (unsigned long long)s->cfg->api_body_limit)
        return MHD_YES;
    memset(&resp, 0, sizeof(resp));
    api_error(&resp, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body",
              "the request body is larger than %lld bytes", (long long)s->cfg->api_body_limit);
    rc = send_resp(conn, &resp);
    df_metric_inc(m_requests, 1, "unmatched", "-", "413");
    resp_free(&resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    api_server_t *s = cls;
    pending_t *pd = *req_cls;
    api_req_t req;
    api_resp_t resp;
    char remote[64] = "";
    req_bufs_t bufs;
    const union MHD_ConnectionInfo *ci;
    int64_t t0;
    enum MHD_Result rc;
    char status_text[8];

    (void)version;
    if (!pd) {
        pd = calloc(1, sizeof(*pd));
        if (!pd)
            return MHD_NO;
        *req_cls = pd;
        return early_reject(s, conn);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!pd->too_big && pd->len + n > (size_t)s->cfg->api_body_limit) {
            pd->too_big = true;
            free(pd->body);
            pd->body = NULL;
            pd->len = pd->cap = 0;
        }
        if (!pd->too_big) {
            if (pd->len + n > pd->cap) {
                size_t cap = pd->cap ? pd->cap * 2 : 4096;
                while (cap < pd->len + n)
                    cap *= 2;
                char *nb = realloc(pd->body, cap);
                if (!nb)
                    return MHD_NO;
                pd->body = nb;
                pd->cap = cap;
            }
            memcpy(pd->body + pd->len, upload_data, n);
            pd->len += n;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    t0 = df_mono_ms();
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, remote,
                  sizeof(remote));
    req.server = s;
    req.conn = conn;
    req.method = method;
    req.path = url;
    req.actor = "anonymous";
    req.remote_addr = remote;
    serve(s, &req, &resp, pd, &bufs);
    if ((resp.status / 100) == 2 && req.route && (req.route_flags & API_AUDIT))
        audit_route(&req, &resp);
    rc = send_resp(conn, &resp);
    snprintf(status_text, sizeof(status_text), "%u", resp.status);
    df_metric_inc(m_requests, 1, req.route ? req.route : "unmatched", method, status_text);
    df_metric_observe(m_duration, (double)(df_mono_ms() - t0) / 1000.0,
                      req.route ? req.route : "unmatched");
    if (resp.status >= 500)
        df_warn("api: %s %s -> %u", method, req.route ? req.route : url, resp.status);
    json_decref(req.body);
    resp_free(&resp);
    return rc;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    pending_t *pd = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (pd) {
        free(pd->body);
        free(pd);
        *req_cls = NULL;
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static void free_buckets(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    free(value);
}

api_server_t *api_server_start(const df_scheduler_config_t *cfg)
{
    api_server_t *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa;
    char why[256];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    if (!s)
        return NULL;
    s->cfg = cfg;
    pthread_mutex_init(&s->submit_lock, NULL);
    pthread_mutex_init(&s->rate_lock, NULL);
    pthread_key_create(&s->conns_key, conns_free);
    s->buckets = df_hmap_new();
    {
        df_error_t kerr;
        df_error_init(&kerr);
        s->keyring = df_secret_keyring_from_env(&kerr);
        if (!s->keyring && kerr.code == DF_ERR_NOT_FOUND)
            df_warn("api: no DATAFLEET_SECRET_KEY: connectors with inline secrets cannot be "
                    "stored through the API");
        else if (!s->keyring)
            df_error("api: the secret key cannot be read: %s", kerr.message);
        if (!s->keyring && kerr.code != DF_ERR_NOT_FOUND)
            goto fail;
    }
    if (!m_requests) {
        m_requests = df_metric_counter("datafleet_api_requests_total",
                                       "REST API requests, by route pattern, method and status.",
                                       "route,method,status");
        m_duration = df_metric_histogram("datafleet_api_request_duration_seconds",
                                         "REST API request handling time, by route pattern.",
                                         "route", NULL, 0);
    }
    if (!df_listen_parse(cfg->api_listen, "--api-listen", &sa, why, sizeof(why))) {
        df_error("api: %s", why);
        goto fail;
    }
    if ((cfg->tls_cert != NULL) != (cfg->tls_key != NULL)) {
        df_error("api: --tls-cert and --tls-key go together: give both or neither");
        goto fail;
    }
    if (cfg->tls_cert) {
        s->tls_cert = read_file(cfg->tls_cert);
        s->tls_key = read_file(cfg->tls_key);
        if (!s->tls_cert || !s->tls_key) {
            df_error("api: cannot read %s", !s->tls_cert ? "--tls-cert" : "--tls-key");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED,
        request_done, s, s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, s->tls_key, MHD_OPTION_END);
    if (!s->daemon) {
        df_error("api: cannot listen on %s (address in use, not permitted, or a bad TLS "
                 "certificate/key)",
                 cfg->api_listen);
        goto fail;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : ntohs(sa.sin_port);
    df_info("api: listening on %s (port %d)%s", cfg->api_listen, s->port,
            s->tls_cert ? " with TLS" : "");
    return s;
fail:
    api_server_stop(s);
    return NULL;
}

int api_server_port(const api_server_t *server)
{
    return server ? server->port : 0;
}

void api_server_stop(api_server_t *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    df_submitter_destroy(s->submitter);
    df_hmap_each(s->buckets, free_buckets, NULL);
    df_hmap_destroy(s->buckets);
    df_secret_keyring_destroy(s->keyring);
    pthread_key_delete(s->conns_key);
    pthread_mutex_destroy(&s->submit_lock);
    pthread_mutex_destroy(&s->rate_lock);
    if (s->tls_key)
        memset(s->tls_key, 0, strlen(s->tls_key));
    free(s->tls_key);
    free(s->tls_cert);
    free(s);
}
