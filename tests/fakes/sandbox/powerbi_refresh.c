/* powerbi_refresh: dataset refreshes of Power BI REST (see
 * powerbi_refresh.h). A refresh is accepted with 202 (its request id in
 * the RequestId and x-ms-request-id headers, Location pointing at it),
 * queues for the dataset's queue_ms (history: status Unknown, no
 * refreshAttempts), runs for duration_ms (Unknown, one attempt), then ends
 * as the dataset's outcome says (Completed, Failed with
 * serviceExceptionJson, Disabled). A second POST while one has not ended
 * is refused (400 InvalidRequest "Another refresh request is already
 * executing"); a dataset on shared capacity takes --powerbi-refreshes-per-day
 * (8) refreshes a "day" (1440 sandbox minutes), then 429 with Retry-After
 * until the day ends. */
#include "powerbi_refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_id.h"
#include "ids.h"
#include "powerbi.h"

#define DAY_MINUTES 1440

typedef struct behaviour {
    int64_t queue_ms; /* -1: never starts */
    int64_t duration_ms;
    char outcome[16]; /* Completed | Failed | Disabled */
    char error_code[128];
    char error_description[256];
} behaviour_t;

typedef struct refresh {
    int64_t id;
    char request_id[SB_UUID_BUF];
    int64_t at;      /* sandbox clock at the POST */
    int64_t wall_ms; /* unix ms at the POST */
    behaviour_t b;   /* as the dataset's was at the POST */
    char notify[24];
} refresh_t;

typedef struct refreshable {
    char id[SB_UUID_BUF];
    char *group_id; /* NULL: My workspace */
    char *name;
    behaviour_t b;
    sb_window_t day;
    refresh_t *refreshes; /* oldest first */
    size_t n, cap;
    int64_t conflicts, over_limit;
    struct refreshable *next;
} refreshable_t;

struct sb_pbi_refresh {
    refreshable_t *head;
    int64_t ids;
    sb_pbi_scans_t *scans;
};

static void behaviour_default(behaviour_t *b)
{
    memset(b, 0, sizeof(*b));
    b->duration_ms = 1000;
    snprintf(b->outcome, sizeof(b->outcome), "Completed");
    snprintf(b->error_code, sizeof(b->error_code), "ModelRefresh_ShortMessage_ProcessingError");
    snprintf(b->error_description, sizeof(b->error_description),
             "The data source returned an error while the dataset was refreshed.");
}

static void refreshable_free(refreshable_t *d)
{
    if (!d)
        return;
    free(d->group_id);
    free(d->name);
    free(d->refreshes);
    free(d);
}

static refreshable_t *refreshable_add(sb_pbi_refresh_t *r, const char *id, const char *group,
                                      const char *name)
{
    refreshable_t *d = calloc(1, sizeof(*d)), **tail;

    if (!d)
        return NULL;
    if (id)
        snprintf(d->id, sizeof(d->id), "%s", id);
    else
        sb_ids_uuid(d->id);
    d->group_id = group ? strdup(group) : NULL;
    d->name = strdup(name);
    behaviour_default(&d->b);
    for (tail = &r->head; *tail; tail = &(*tail)->next)
        ;
    *tail = d;
    return d;
}

/* The fixture's datasets, refreshable in their workspaces. */
static void seed(sb_pbi_refresh_t *r)
{
    json_t *ws;
    size_t i, j;

    json_array_foreach(json_object_get(sb_pbi_fixture(), "workspaces"), i, ws)
    {
        json_t *ds;
        json_array_foreach(json_object_get(ws, "datasets"), j, ds)
        {
            refreshable_add(r, json_string_value(json_object_get(ds, "id")),
                            json_string_value(json_object_get(ws, "id")),
                            json_string_value(json_object_get(ds, "name")));
        }
    }
}

sb_pbi_refresh_t *sb_pbi_refresh_new(void)
{
    sb_pbi_refresh_t *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->scans = sb_pbi_scans_new();
    if (!r->scans) {
        free(r);
        return NULL;
    }
    seed(r);
    return r;
}

void sb_pbi_refresh_reset(sb_pbi_refresh_t *r)
{
    while (r->head) {
        refreshable_t *next = r->head->next;
        refreshable_free(r->head);
        r->head = next;
    }
    sb_pbi_scans_reset(r->scans);
    seed(r);
}

void sb_pbi_refresh_destroy(sb_pbi_refresh_t *r)
{
    if (!r)
        return;
    sb_pbi_refresh_reset(r);
    while (r->head) {
        refreshable_t *next = r->head->next;
        refreshable_free(r->head);
        r->head = next;
    }
    sb_pbi_scans_destroy(r->scans);
    free(r);
}

sb_pbi_scans_t *sb_pbi_refresh_scans(sb_pbi_refresh_t *r)
{
    return r->scans;
}

static refreshable_t *find(const sb_pbi_refresh_t *r, const char *group, const char *id)
{
    for (refreshable_t *d = r->head; d; d = d->next) {
        bool same_group =
            group ? d->group_id && strcasecmp(d->group_id, group) == 0 : d->group_id == NULL;
        if (same_group && strcasecmp(d->id, id) == 0)
            return d;
    }
    return NULL;
}

void sb_pbi_refresh_list(const sb_state_t *st, const char *group, json_t *value)
{
    for (const refreshable_t *d = st->pbi_refresh->head; d; d = d->next) {
        bool same = group ? d->group_id && strcasecmp(d->group_id, group) == 0 : !d->group_id;
        if (same)
            json_array_append_new(
                value,
                json_pack("{s:s, s:s, s:b, s:s, s:b, s:b, s:b, s:b, s:s}", "id", d->id, "name",
                          d->name, "addRowsAPIEnabled", 0, "configuredBy", "sandbox-fixture",
                          "isRefreshable", 1, "isEffectiveIdentityRequired", 0,
                          "isEffectiveIdentityRolesRequired", 0, "isOnPremGatewayRequired", 0,
                          "targetStorageMode", "Abf"));
    }
}

/* ---- a refresh's state ---- */

typedef enum phase { QUEUED, RUNNING, ENDED } phase_t;

static phase_t phase_of(const refresh_t *f, int64_t now)
{
    int64_t t = now - f->at;

    if (f->b.queue_ms < 0 || t < f->b.queue_ms)
        return QUEUED;
    if (t < f->b.queue_ms + f->b.duration_ms)
        return RUNNING;
    return ENDED;
}

static json_t *refresh_json(const refresh_t *f, int64_t now, bool control)
{
    phase_t phase = phase_of(f, now);
    char start[40], end[40];
    json_t *doc;

    df_time_format(f->wall_ms, start, sizeof(start));
    doc = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)f->id, "requestId",
                    f->request_id, "refreshType", "ViaApi", "startTime", start, "status",
                    phase == ENDED ? f->b.outcome : "Unknown");
    if (phase != QUEUED) {
        int64_t run_start = f->wall_ms + f->b.queue_ms;
        json_t *attempt;

        df_time_format(run_start, start, sizeof(start));
        attempt = json_pack("{s:i, s:s, s:s}", "attemptId", 1, "startTime", start, "type", "Data");
        if (phase == ENDED) {
            df_time_format(run_start + f->b.duration_ms, end, sizeof(end));
            json_object_set_new(doc, "endTime", json_string(end));
            json_object_set_new(attempt, "endTime", json_string(end));
        }
        json_object_set_new(doc, "refreshAttempts", json_pack("[o]", attempt));
    }
    if (phase == ENDED && strcmp(f->b.outcome, "Failed") == 0) {
        json_t *ex = json_pack("{s:s, s:s}", "errorCode", f->b.error_code, "errorDescription",
                               f->b.error_description);
        char *text = json_dumps(ex, JSON_COMPACT | JSON_PRESERVE_ORDER);

        json_object_set_new(doc, "serviceExceptionJson", json_string(text ? text : ""));
        free(text);
        json_decref(ex);
    }
    if (control) {
        json_object_set_new(doc, "notifyOption", json_string(f->notify));
        json_object_set_new(doc, "phase",
                            json_string(phase == QUEUED    ? "queued"
                                        : phase == RUNNING ? "running"
                                                           : "ended"));
    }
    return doc;
}

static void not_found(sb_response_t *res, const char *id)
{
    sb_powerbi_error(res, 404, "ItemNotFound",
                     "Dataset %s is not found! please verify datasetId is correct and user have "
                     "sufficient permissions.",
                     id);
}

/* ---- handlers ---- */

/* The body of a refresh request: notifyOption only (shared capacity). */
static bool notify_option(const sb_request_t *req, sb_response_t *res, char *notify, size_t len)
{
    char err[256];
    json_t *body, *opt;
    const char *key;
    json_t *v;

    snprintf(notify, len, "NoNotification");
    if (req->body_len == 0)
        return true;
    body = sb_req_json(req, err, sizeof(err));
    if (!json_is_object(body)) {
        sb_powerbi_error(res, 400, "BadRequest", "Invalid refresh request body: %s",
                         body ? "not a JSON object" : err);
        json_decref(body);
        return false;
    }
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "notifyOption") != 0) {
            sb_powerbi_error(res, 400, "InvalidRequest",
                             "Invalid dataset refresh request: '%s' is not supported. Enhanced "
                             "refresh is not supported for shared capacities: only notifyOption "
                             "can be specified.",
                             key);
            json_decref(body);
            return false;
        }
    }
    opt = json_object_get(body, "notifyOption");
    if (opt &&
        (!json_is_string(opt) || (strcmp(json_string_value(opt), "NoNotification") != 0 &&
                                  strcmp(json_string_value(opt), "MailOnFailure") != 0 &&
                                  strcmp(json_string_value(opt), "MailOnCompletion") != 0))) {
        sb_powerbi_error(res, 400, "BadRequest",
                         "notifyOption: expected NoNotification, MailOnFailure or "
                         "MailOnCompletion");
        json_decref(body);
        return false;
    }
    if (opt)
        snprintf(notify, len, "%s", json_string_value(opt));
    json_decref(body);
    return true;
}

static void refreshes_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    int64_t now = req->arrived_ms;
    refreshable_t *d;
    refresh_t *f;
    char notify[24];

    if (!sb_powerbi_authorize(st, req, res))
        return;
    d = find(st->pbi_refresh, route->param[0], route->param[1]);
    if (!d) {
        not_found(res, route->param[1]);
        return;
    }
    if (!notify_option(req, res, notify, sizeof(notify)))
        return;
    if (d->n > 0 && phase_of(&d->refreshes[d->n - 1], now) != ENDED) {
        d->conflicts++;
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "Invalid dataset refresh request. Another refresh request is already "
                         "executing");
        return;
    }
    if (!sb_window_take(&d->day, sb_clock_window(&st->clock, now, DAY_MINUTES), 1,
                        st->cfg->pbi_refreshes_per_day)) {
        d->over_limit++;
        sb_powerbi_error(res, 429, "TooManyRequests",
                         "Invalid dataset refresh request. The dataset reached the limit of %lld "
                         "refreshes per day on shared capacity; retry tomorrow.",
                         (long long)st->cfg->pbi_refreshes_per_day);
        sb_res_header(res, "Retry-After", "%lld",
                      (long long)sb_clock_retry_after_s(&st->clock, now, DAY_MINUTES));
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        refresh_t *grown = realloc(d->refreshes, cap * sizeof(*grown));
        if (!grown) {
            sb_powerbi_error(res, 500, "InternalError", "The sandbox ran out of memory.");
            return;
        }
        d->refreshes = grown;
        d->cap = cap;
    }
    f = &d->refreshes[d->n++];
    memset(f, 0, sizeof(*f));
    f->id = ++st->pbi_refresh->ids;
    sb_ids_uuid(f->request_id);
    f->at = now;
    f->wall_ms = df_now_ms();
    f->b = d->b;
    snprintf(f->notify, sizeof(f->notify), "%s", notify);
    sb_res_json(res, 202, NULL);
    sb_res_header(res, "RequestId", "%s", f->request_id);
    sb_res_header(res, "x-ms-request-id", "%s", f->request_id);
    sb_res_header(res, "Location", "%s/v1.0/myorg/%s%s%sdatasets/%s/refreshes/%s", st->base_url,
                  d->group_id ? "groups/" : "", d->group_id ? d->group_id : "",
                  d->group_id ? "/" : "", d->id, f->request_id);
}

static void refreshes_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    int64_t now = sb_clock_now(&st->clock);
    char *top_text = sb_req_query(req, "$top"), *end = NULL;
    long long top = -1;
    refreshable_t *d;
    json_t *value;

    if (top_text) {
        top = strtoll(top_text, &end, 10);
        if (!*top_text || *end || top < 1) {
            sb_powerbi_error(res, 400, "BadRequest", "$top: expected an integer >= 1, got '%s'",
                             top_text);
            free(top_text);
            return;
        }
        free(top_text);
    }
    if (!sb_powerbi_authorize(st, req, res))
        return;
    d = find(st->pbi_refresh, route->param[0], route->param[1]);
    if (!d) {
        not_found(res, route->param[1]);
        return;
    }
    value = json_array();
    for (size_t i = d->n; i > 0 && (top < 0 || (long long)json_array_size(value) < top); i--)
        json_array_append_new(value, refresh_json(&d->refreshes[i - 1], now, false));
    sb_res_json(res, 200, json_pack("{s:o}", "value", value));
}

/* ---- control ---- */

static bool int_field(const json_t *spec, const char *name, int64_t min, int64_t *out, char *err,
                      size_t len)
{
    json_t *v = json_object_get(spec, name);

    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        snprintf(err, len, "%s: expected an integer >= %lld", name, (long long)min);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool str_field(const json_t *spec, const char *name, char *out, size_t cap, char *err,
                      size_t len)
{
    json_t *v = json_object_get(spec, name);

    if (!v)
        return true;
    if (!json_is_string(v) || json_string_length(v) >= cap) {
        snprintf(err, len, "%s: expected a string shorter than %zu characters", name, cap);
        return false;
    }
    snprintf(out, cap, "%s", json_string_value(v));
    return true;
}

static bool behaviour_read(const json_t *spec, behaviour_t *b, char *err, size_t len)
{
    behaviour_t next = *b;

    if (!int_field(spec, "queue_ms", -1, &next.queue_ms, err, len) ||
        !int_field(spec, "duration_ms", 0, &next.duration_ms, err, len) ||
        !str_field(spec, "outcome", next.outcome, sizeof(next.outcome), err, len) ||
        !str_field(spec, "error_code", next.error_code, sizeof(next.error_code), err, len) ||
        !str_field(spec, "error_description", next.error_description,
                   sizeof(next.error_description), err, len))
        return false;
    if (strcmp(next.outcome, "Completed") != 0 && strcmp(next.outcome, "Failed") != 0 &&
        strcmp(next.outcome, "Disabled") != 0) {
        snprintf(err, len, "outcome: expected Completed, Failed or Disabled");
        return false;
    }
    *b = next;
    return true;
}

static json_t *refreshable_json(const refreshable_t *d, int64_t now)
{
    json_t *list = json_array();

    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(list, refresh_json(&d->refreshes[i], now, true));
    return json_pack("{s:s, s:s?, s:s, s:{s:I, s:I, s:s, s:s, s:s}, s:I, s:I, s:I, s:o}", "id",
                     d->id, "group_id", d->group_id, "name", d->name, "behaviour", "queue_ms",
                     (json_int_t)d->b.queue_ms, "duration_ms", (json_int_t)d->b.duration_ms,
                     "outcome", d->b.outcome, "error_code", d->b.error_code, "error_description",
                     d->b.error_description, "refreshes_accepted", (json_int_t)d->n, "conflicts",
                     (json_int_t)d->conflicts, "over_daily_limit", (json_int_t)d->over_limit,
                     "refreshes", list);
}

static void control_fail(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

static json_t *control_body(const sb_request_t *req, sb_response_t *res)
{
    char err[256];
    json_t *doc = sb_req_json(req, err, sizeof(err));

    if (!json_is_object(doc)) {
        control_fail(res, 400, "expected a JSON object body");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* GET: every refreshable dataset; POST: a new one {name, id?, group_id?,
 * behaviour fields}. */
static void control_refreshables(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                                 sb_response_t *res)
{
    int64_t now = sb_clock_now(&st->clock);
    const char *id, *group, *name;
    refreshable_t *d;
    behaviour_t b;
    char err[256];
    json_t *body, *list;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        list = json_array();
        for (d = st->pbi_refresh->head; d; d = d->next)
            json_array_append_new(list, refreshable_json(d, now));
        sb_res_json(res, 200, json_pack("{s:o}", "refreshables", list));
        return;
    }
    if (!(body = control_body(req, res)))
        return;
    id = json_string_value(json_object_get(body, "id"));
    group = json_string_value(json_object_get(body, "group_id"));
    name = json_string_value(json_object_get(body, "name"));
    behaviour_default(&b);
    if (!name || !*name) {
        control_fail(res, 400, "name: expected the dataset's name");
    } else if (!behaviour_read(body, &b, err, sizeof(err))) {
        control_fail(res, 400, err);
    } else if (id && find(st->pbi_refresh, group, id)) {
        control_fail(res, 409, "a refreshable dataset with this id exists in this group");
    } else if (!(d = refreshable_add(st->pbi_refresh, id, group, name))) {
        control_fail(res, 500, "out of memory");
    } else {
        d->b = b;
        sb_res_json(res, 201, refreshable_json(d, now));
    }
    json_decref(body);
}

/* GET one; POST changes its behaviour (for the refreshes posted next). */
static void control_refreshable(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                                sb_response_t *res)
{
    refreshable_t *d = NULL;
    char err[256];
    json_t *body;

    for (refreshable_t *x = st->pbi_refresh->head; x && !d; x = x->next)
        if (strcasecmp(x->id, route->param[0]) == 0)
            d = x;
    if (!d) {
        control_fail(res, 404, "no refreshable dataset with this id");
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        if (!(body = control_body(req, res)))
            return;
        if (!behaviour_read(body, &d->b, err, sizeof(err))) {
            control_fail(res, 400, err);
            json_decref(body);
            return;
        }
        json_decref(body);
    }
    sb_res_json(res, 200, refreshable_json(d, sb_clock_now(&st->clock)));
}

static void control_fixture(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char *tenant = sb_req_query(req, "tenant_id");
    json_t *doc = sb_pbi_fixture_lineage(tenant && *tenant ? tenant : "sandbox");

    (void)st;
    (void)route;
    free(tenant);
    json_object_set(doc, "scanResult", (json_t *)sb_pbi_fixture());
    sb_res_json(res, 200, doc);
}

static void wrong_method(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    (void)st;
    if (route->vendor == SB_VENDOR_SANDBOX) {
        control_fail(res, 405, "method not allowed on this /_sandbox/ route (see docs/SANDBOX.md)");
        return;
    }
    sb_powerbi_error(res, 405, "UnsupportedHttpMethod",
                     "The requested resource does not support http method '%s'.", req->method);
    sb_res_header(res, "Allow", "%s", route->allow);
}

/* ---- routing ---- */

static bool set(sb_route_t *route, sb_vendor_t vendor, const char *name, sb_handler_fn handler)
{
    route->name = name;
    route->vendor = vendor;
    route->handler = handler;
    return true;
}

/* handler when the method is one of methods (space separated), else 405. */
static bool on(const sb_request_t *req, sb_route_t *route, sb_vendor_t vendor, const char *methods,
               const char *name, sb_handler_fn handler)
{
    const char *p = strstr(methods, req->method);
    size_t n = strlen(req->method);

    if (p && (p == methods || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
        return set(route, vendor, name, handler);
    route->allow = methods;
    return set(route, vendor,
               vendor == SB_VENDOR_SANDBOX ? "sandbox.not_allowed" : "powerbi.unknown",
               wrong_method);
}

static bool match_control(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (n < 3 || strcmp(s[0], "_sandbox") != 0 || strcmp(s[1], "powerbi") != 0)
        return false;
    if (n == 3 && strcmp(s[2], "refreshables") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.powerbi.refreshables",
                  control_refreshables);
    if (n == 4 && strcmp(s[2], "refreshables") == 0) {
        route->param[0] = s[3];
        return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.powerbi.refreshable",
                  control_refreshable);
    }
    if (n == 3 && strcmp(s[2], "lineage-fixture") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "GET", "sandbox.powerbi.fixture", control_fixture);
    if (n == 3 && strcmp(s[2], "scanner") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.powerbi.scanner",
                  sb_pbi_scan_control);
    return false;
}

static bool match_admin(const sb_request_t *req, sb_route_t *route, char *const *s, size_t n)
{
    if (n < 2 || strcasecmp(s[0], "admin") != 0 || strcasecmp(s[1], "workspaces") != 0)
        return false;
    if (n == 3 && strcasecmp(s[2], "getInfo") == 0)
        return on(req, route, SB_VENDOR_POWERBI, "POST", "powerbi.admin.getInfo", sb_pbi_scan_post);
    if (n == 4 && strcasecmp(s[2], "scanStatus") == 0) {
        route->param[0] = s[3];
        return on(req, route, SB_VENDOR_POWERBI, "GET", "powerbi.admin.scanStatus",
                  sb_pbi_scan_status);
    }
    if (n == 4 && strcasecmp(s[2], "scanResult") == 0) {
        route->param[0] = s[3];
        return on(req, route, SB_VENDOR_POWERBI, "GET", "powerbi.admin.scanResult",
                  sb_pbi_scan_result);
    }
    return false;
}

bool sb_pbi_refresh_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg, i = 2;

    if (match_control(req, route))
        return true;
    if (n < 2 || strcmp(s[0], "v1.0") != 0 || strcasecmp(s[1], "myorg") != 0)
        return false;
    if (match_admin(req, route, s + 2, n - 2))
        return true;
    if (n >= 4 && strcasecmp(s[2], "groups") == 0) {
        route->param[0] = s[3];
        i = 4;
    }
    if (n - i == 3 && strcasecmp(s[i], "datasets") == 0 && strcasecmp(s[i + 2], "refreshes") == 0) {
        route->param[1] = s[i + 1];
        if (strcmp(req->method, "POST") == 0)
            return set(route, SB_VENDOR_POWERBI, "powerbi.refreshes.post", refreshes_post);
        return on(req, route, SB_VENDOR_POWERBI, "GET POST", "powerbi.refreshes.get",
                  refreshes_get);
    }
    route->param[0] = NULL;
    return false;
}
