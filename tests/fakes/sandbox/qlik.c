/* qlik: Qlik Cloud reloads (see qlik.h and tests/fakes/specs/qlik-reloads.md).
 *
 * Every route but the control API needs "Authorization: Bearer <key>" with
 * a key registered through /_sandbox/qlik/api-keys (else 401). A reload
 * POSTed for a registered app is answered 201 QUEUED; it starts when the
 * app's previous reload ended and its queue_ms passed (RELOADING), runs
 * run_ms, then ends as the app's outcome says (SUCCEEDED, or FAILED with
 * the app's log message at the end of the script log). More than
 * --qlik-reload-posts POSTs (250) in a 5-minute window (sandbox minutes)
 * are 429 with Retry-After. */
#include "qlik.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "ids.h"

#define KEYS_MAX   8
#define KEY_LEN    128
#define LOG_MAX    512
#define WINDOW_MIN 5
#define TENANT_ID  "sandbox-tenant"
#define USER_ID    "sandbox-user"

typedef struct app {
    char id[SB_UUID_BUF];
    char name[128];
    int64_t queue_ms; /* -1: never starts */
    int64_t run_ms;
    bool fail;
    char log[LOG_MAX];
    int64_t posts;
    struct app *next;
} app_t;

typedef struct reload {
    char id[SB_UUID_BUF];
    app_t *app;
    bool partial;
    int64_t at, start_at, end_at; /* sandbox clock; start_at -1: never */
    int64_t wall_ms;              /* unix ms at the POST */
    bool fail;
    char log[LOG_MAX];
    struct reload *next;
} reload_t;

struct sb_qlik {
    char keys[KEYS_MAX][KEY_LEN];
    size_t nkeys;
    app_t *apps;
    reload_t *reloads; /* newest first */
    sb_window_t posts;
    int64_t rate_limited;
};

static void forget(sb_qlik_t *q)
{
    while (q->apps) {
        app_t *a = q->apps;
        q->apps = a->next;
        free(a);
    }
    while (q->reloads) {
        reload_t *r = q->reloads;
        q->reloads = r->next;
        free(r);
    }
    memset(q->keys, 0, sizeof(q->keys));
    q->nkeys = 0;
    memset(&q->posts, 0, sizeof(q->posts));
    q->rate_limited = 0;
}

sb_qlik_t *sb_qlik_new(void)
{
    return calloc(1, sizeof(sb_qlik_t));
}

void sb_qlik_reset(sb_qlik_t *q)
{
    forget(q);
}

void sb_qlik_destroy(sb_qlik_t *q)
{
    if (!q)
        return;
    forget(q);
    free(q);
}

void sb_qlik_error(sb_response_t *res, int status, const char *code, const char *title,
                   const char *fmt, ...)
{
    char detail[512], st[8], trace[SB_UUID_BUF];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(st, sizeof(st), "%d", status);
    sb_ids_uuid(trace);
    sb_res_json(res, status,
                json_pack("{s:[{s:s, s:s, s:s, s:s}], s:s}", "errors", "code", code, "title", title,
                          "detail", detail, "status", st, "traceId", trace));
}

static bool authorize(sb_state_t *st, const sb_request_t *req, sb_response_t *res)
{
    const char *key = sb_req_bearer(req);

    for (size_t i = 0; key && i < st->qlik->nkeys; i++)
        if (strcmp(st->qlik->keys[i], key) == 0)
            return true;
    sb_qlik_error(res, 401, "HTTP-401", "Unauthorized",
                  "Authentication required: a valid "
                  "API key or access token.");
    return false;
}

static app_t *find_app(const sb_qlik_t *q, const char *id)
{
    for (app_t *a = q->apps; a; a = a->next)
        if (strcmp(a->id, id) == 0)
            return a;
    return NULL;
}

static const char *status_of(const reload_t *r, int64_t now)
{
    if (r->start_at < 0 || now < r->start_at)
        return "QUEUED";
    if (now < r->end_at)
        return "RELOADING";
    return r->fail ? "FAILED" : "SUCCEEDED";
}

static json_t *reload_json(const sb_state_t *st, const reload_t *r, int64_t now, bool log)
{
    const char *status = status_of(r, now);
    char at[40], href[256];
    json_t *doc;

    df_time_format(r->wall_ms, at, sizeof(at));
    snprintf(href, sizeof(href), "%s/api/v1/reloads/%s", st->base_url, r->id);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:{s:{s:s}}}", "id", r->id, "appId",
                    r->app->id, "tenantId", TENANT_ID, "userId", USER_ID, "type", "external",
                    "status", status, "partial", r->partial, "creationTime", at, "links", "self",
                    "href", href);
    if (strcmp(status, "QUEUED") != 0) {
        df_time_format(r->wall_ms + (r->start_at - r->at), at, sizeof(at));
        json_object_set_new(doc, "startTime", json_string(at));
    }
    if (strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0) {
        char dur[32];
        df_time_format(r->wall_ms + (r->end_at - r->at), at, sizeof(at));
        json_object_set_new(doc, "endTime", json_string(at));
        snprintf(dur, sizeof(dur), "PT%lld.%03lldS", (long long)((r->end_at - r->start_at) / 1000),
                 (long long)((r->end_at - r->start_at) % 1000));
        json_object_set_new(doc, "duration", json_string(dur));
        json_object_set_new(doc, "engineTime", json_string(dur));
    }
    if (log) {
        char text[LOG_MAX + 256];
        if (strcmp(status, "FAILED") == 0)
            snprintf(text, sizeof(text),
                     "Started loading data\nConnecting to the data source\n%s\nExecution Failed\n",
                     r->log);
        else if (strcmp(status, "SUCCEEDED") == 0)
            snprintf(text, sizeof(text),
                     "Started loading data\nApp saved\nFinished successfully\n");
        else
            snprintf(text, sizeof(text), "%s",
                     strcmp(status, "QUEUED") == 0 ? "" : "Started loading data\n");
        json_object_set_new(doc, "log", json_string(text));
    }
    return doc;
}

static bool log_wanted(const sb_request_t *req)
{
    char *v = sb_req_query(req, "log");
    bool want = !v || strcmp(v, "false") != 0;
    free(v);
    return want;
}

static void reloads_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    sb_qlik_t *q = st->qlik;
    int64_t now = req->arrived_ms, after = now;
    char err[256];
    json_t *doc, *partial;
    const char *app_id;
    app_t *a;
    reload_t *r;

    (void)route;
    if (!authorize(st, req, res))
        return;
    if (!sb_req_content_type_is(req, "application/json")) {
        sb_qlik_error(res, 415, "HTTP-415", "Unsupported Media Type",
                      "Content-Type must be application/json.");
        return;
    }
    doc = sb_req_json(req, err, sizeof(err));
    app_id = json_string_value(json_object_get(doc, "appId"));
    partial = json_object_get(doc, "partial");
    if (!json_is_object(doc) || !app_id || (partial && !json_is_boolean(partial))) {
        json_decref(doc);
        sb_qlik_error(res, 400, "HTTP-400", "Bad Request",
                      "The body must be {\"appId\": string, \"partial\"?: boolean}.");
        return;
    }
    if (!(a = find_app(q, app_id))) {
        sb_qlik_error(res, 404, "HTTP-404", "Not Found", "App '%.100s' not found.", app_id);
        json_decref(doc);
        return;
    }
    if (!sb_window_take(&q->posts, sb_clock_window(&st->clock, now, WINDOW_MIN), 1,
                        st->cfg->qlik_reload_posts)) {
        q->rate_limited++;
        sb_qlik_error(res, 429, "HTTP-429", "Too Many Requests",
                      "Rate limit exceeded: %lld reload requests per %d minutes.",
                      (long long)st->cfg->qlik_reload_posts, WINDOW_MIN);
        sb_res_header(res, "Retry-After", "%lld",
                      (long long)sb_clock_retry_after_s(&st->clock, now, WINDOW_MIN));
        json_decref(doc);
        return;
    }
    if (!(r = calloc(1, sizeof(*r)))) {
        json_decref(doc);
        sb_qlik_error(res, 500, "HTTP-500", "Internal Server Error", "out of memory");
        return;
    }
    for (reload_t *p = q->reloads; p; p = p->next) /* one reload of an app at a time */
        if (p->app == a && (p->start_at < 0 || p->end_at > after))
            after = p->start_at < 0 ? -1 : p->end_at;
    sb_ids_uuid(r->id);
    r->app = a;
    r->partial = json_is_true(partial);
    r->at = now;
    r->wall_ms = df_now_ms();
    r->start_at = a->queue_ms < 0 || after < 0 ? -1 : after + a->queue_ms;
    r->end_at = r->start_at < 0 ? -1 : r->start_at + a->run_ms;
    r->fail = a->fail;
    snprintf(r->log, sizeof(r->log), "%s", a->log);
    r->next = q->reloads;
    q->reloads = r;
    a->posts++;
    sb_res_json(res, 201, reload_json(st, r, now, true));
    json_decref(doc);
}

static void reload_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res)
{
    if (!authorize(st, req, res))
        return;
    for (reload_t *r = st->qlik->reloads; r; r = r->next) {
        if (strcmp(r->id, route->param[0]) == 0) {
            sb_res_json(res, 200, reload_json(st, r, req->arrived_ms, log_wanted(req)));
            return;
        }
    }
    sb_qlik_error(res, 404, "HTTP-404", "Not Found", "Reload '%.100s' not found.", route->param[0]);
}

static void reloads_list(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    char *app_id = sb_req_query(req, "appId"), *limit_s = sb_req_query(req, "limit");
    long limit = limit_s ? strtol(limit_s, NULL, 10) : 10;
    bool log = log_wanted(req);
    json_t *data;
    char href[256];

    (void)route;
    if (!authorize(st, req, res))
        goto done;
    if (!app_id || !*app_id) {
        sb_qlik_error(res, 400, "HTTP-400", "Bad Request", "appId is required.");
        goto done;
    }
    if (limit < 1 || limit > 100) {
        sb_qlik_error(res, 400, "HTTP-400", "Bad Request", "limit must be 1 to 100.");
        goto done;
    }
    data = json_array();
    for (reload_t *r = st->qlik->reloads; r && (long)json_array_size(data) < limit; r = r->next)
        if (strcmp(r->app->id, app_id) == 0)
            json_array_append_new(data, reload_json(st, r, req->arrived_ms, log));
    snprintf(href, sizeof(href), "%s/api/v1/reloads?appId=%s", st->base_url, app_id);
    sb_res_json(res, 200,
                json_pack("{s:o, s:{s:{s:s}}}", "data", data, "links", "self", "href", href));
done:
    free(app_id);
    free(limit_s);
}

static void users_me(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    (void)route;
    if (!authorize(st, req, res))
        return;
    sb_res_json(res, 200,
                json_pack("{s:s, s:s, s:s, s:s}", "id", USER_ID, "tenantId", TENANT_ID, "name",
                          "datafleet sandbox user", "status", "active"));
}

/* ---- control ---- */

static void control_fail(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

static json_t *app_json(const sb_qlik_t *q, const app_t *a)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:b, s:s, s:I, s:I}", "id", a->id, "name", a->name,
                     "queue_ms", (json_int_t)a->queue_ms, "run_ms", (json_int_t)a->run_ms, "fail",
                     a->fail, "log", a->log, "posts", (json_int_t)a->posts, "rate_limited",
                     (json_int_t)q->rate_limited);
}

static bool app_read(const json_t *doc, app_t *a, char *err, size_t len)
{
    json_t *v;

    if ((v = json_object_get(doc, "queue_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < -1)
            return snprintf(err, len, "queue_ms: an integer >= -1 (-1: never starts)"), false;
        a->queue_ms = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "run_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return snprintf(err, len, "run_ms: an integer >= 0"), false;
        a->run_ms = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "fail"))) {
        if (!json_is_boolean(v))
            return snprintf(err, len, "fail: a boolean"), false;
        a->fail = json_is_true(v);
    }
    if ((v = json_object_get(doc, "log"))) {
        if (!json_is_string(v))
            return snprintf(err, len, "log: a string"), false;
        snprintf(a->log, sizeof(a->log), "%s", json_string_value(v));
    }
    return true;
}

/* POST /_sandbox/qlik/api-keys {"key"} */
static void control_keys(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    char err[256];
    json_t *doc = sb_req_json(req, err, sizeof(err));
    const char *key = json_string_value(json_object_get(doc, "key"));

    (void)route;
    if (!key || !*key || strlen(key) >= KEY_LEN || st->qlik->nkeys == KEYS_MAX) {
        json_decref(doc);
        control_fail(res, 400, "{\"key\": 1 to 127 characters} (at most 8 keys)");
        return;
    }
    snprintf(st->qlik->keys[st->qlik->nkeys++], KEY_LEN, "%s", key);
    json_decref(doc);
    sb_res_json(res, 201, json_pack("{s:b}", "registered", 1));
}

/* GET|POST /_sandbox/qlik/apps: list; create {"name", behaviour} */
static void control_apps(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    sb_qlik_t *q = st->qlik;
    char err[256];
    json_t *doc;
    app_t *a, **tail;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        json_t *list = json_array();
        for (a = q->apps; a; a = a->next)
            json_array_append_new(list, app_json(q, a));
        sb_res_json(res, 200, json_pack("{s:o}", "apps", list));
        return;
    }
    doc = sb_req_json(req, err, sizeof(err));
    if (!json_is_object(doc) || !(a = calloc(1, sizeof(*a)))) {
        json_decref(doc);
        control_fail(res, 400, "the body must be a JSON object");
        return;
    }
    a->run_ms = 1000;
    snprintf(a->log, sizeof(a->log), "Error: the script failed");
    snprintf(a->name, sizeof(a->name), "%s",
             json_string_value(json_object_get(doc, "name"))
                 ? json_string_value(json_object_get(doc, "name"))
                 : "app");
    if (!app_read(doc, a, err, sizeof(err))) {
        free(a);
        json_decref(doc);
        control_fail(res, 400, err);
        return;
    }
    sb_ids_uuid(a->id);
    for (tail = &q->apps; *tail; tail = &(*tail)->next)
        ;
    *tail = a;
    json_decref(doc);
    sb_res_json(res, 201, app_json(q, a));
}

/* GET|POST /_sandbox/qlik/apps/{id}: show; change the behaviour */
static void control_app(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    app_t *a = find_app(st->qlik, route->param[0]), b;
    char err[256];
    json_t *doc;

    if (!a) {
        control_fail(res, 404, "no such app");
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        doc = sb_req_json(req, err, sizeof(err));
        b = *a;
        if (!json_is_object(doc) || !app_read(doc, &b, err, sizeof(err))) {
            json_decref(doc);
            control_fail(res, 400, json_is_object(doc) ? err : "the body must be a JSON object");
            return;
        }
        a->queue_ms = b.queue_ms;
        a->run_ms = b.run_ms;
        a->fail = b.fail;
        memcpy(a->log, b.log, sizeof(a->log));
        json_decref(doc);
    }
    sb_res_json(res, 200, app_json(st->qlik, a));
}

/* ---- routing ---- */

static void wrong_method(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    (void)st;
    if (route->vendor == SB_VENDOR_SANDBOX) {
        control_fail(res, 405, "method not allowed on this /_sandbox/ route (see docs/SANDBOX.md)");
        return;
    }
    sb_qlik_error(res, 405, "HTTP-405", "Method Not Allowed", "%s is not allowed here.",
                  req->method);
    sb_res_header(res, "Allow", "%s", route->allow);
}

static bool on(const sb_request_t *req, sb_route_t *route, sb_vendor_t vendor, const char *methods,
               const char *name, sb_handler_fn handler)
{
    const char *p = strstr(methods, req->method);
    size_t n = strlen(req->method);

    route->vendor = vendor;
    if (p && (p == methods || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
        route->name = name;
        route->handler = handler;
        return true;
    }
    route->allow = methods;
    route->name = vendor == SB_VENDOR_SANDBOX ? "sandbox.not_allowed" : "qlik.unknown";
    route->handler = wrong_method;
    return true;
}

bool sb_qlik_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (n >= 3 && strcmp(s[0], "_sandbox") == 0 && strcmp(s[1], "qlik") == 0) {
        if (n == 3 && strcmp(s[2], "api-keys") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "POST", "sandbox.qlik.keys", control_keys);
        if (n == 3 && strcmp(s[2], "apps") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.qlik.apps", control_apps);
        if (n == 4 && strcmp(s[2], "apps") == 0) {
            route->param[0] = s[3];
            return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.qlik.app", control_app);
        }
        return false;
    }
    if (n < 3 || strcmp(s[0], "api") != 0 || strcmp(s[1], "v1") != 0)
        return false;
    if (n == 3 && strcmp(s[2], "reloads") == 0) {
        if (strcmp(req->method, "POST") == 0)
            return on(req, route, SB_VENDOR_QLIK, "POST", "qlik.reloads.post", reloads_post);
        return on(req, route, SB_VENDOR_QLIK, "GET POST", "qlik.reloads.list", reloads_list);
    }
    if (n == 4 && strcmp(s[2], "reloads") == 0) {
        route->param[0] = s[3];
        return on(req, route, SB_VENDOR_QLIK, "GET", "qlik.reloads.get", reload_get);
    }
    if (n == 4 && strcmp(s[2], "users") == 0 && strcmp(s[3], "me") == 0)
        return on(req, route, SB_VENDOR_QLIK, "GET", "qlik.users.me", users_me);
    return false;
}
