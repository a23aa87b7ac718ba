/* powerbi: the push dataset routes of Power BI REST. Requests need an
 * Entra bearer token issued by the sandbox; limits answer as Power BI
 * does (429 with Retry-After for the rate limits, 400 for the size
 * limits), errors in the shape {"error":{"code","message"}}. */
#include "powerbi.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "powerbi_model.h"
#include "powerbi_refresh.h"
#include "tokens.h"

struct sb_powerbi {
    pbi_dataset_t *head;
    size_t count;
    int64_t serials; /* the last dataset's serial */
};

static const char *const control_keys[] = { "id", "group_id", "defaultRetentionPolicy", NULL };

sb_powerbi_t *sb_powerbi_new(void)
{
    return calloc(1, sizeof(sb_powerbi_t));
}

void sb_powerbi_reset(sb_powerbi_t *pbi)
{
    while (pbi->head) {
        pbi_dataset_t *next = pbi->head->next;

        pbi_dataset_free(pbi->head);
        pbi->head = next;
    }
    pbi->count = 0;
}

void sb_powerbi_destroy(sb_powerbi_t *pbi)
{
    if (!pbi)
        return;
    sb_powerbi_reset(pbi);
    free(pbi);
}

/* ---- answers ---- */

void sb_powerbi_error(sb_response_t *res, int status, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    sb_res_json(res, status,
                json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static void model_error(sb_response_t *res, const pbi_error_t *err, const char *target)
{
    if (err->kind == PBI_ERR_BINDING)
        sb_res_json(res, 400,
                    json_pack("{s:{s:s, s:s, s:[{s:s, s:s}]}}", "error", "code", "BadRequest",
                              "message", "Bad Request", "details", "message", err->message,
                              "target", target));
    else
        sb_powerbi_error(res, 400, "InvalidRequest", "%s", err->message);
}

static void not_found_dataset(sb_response_t *res, const char *id)
{
    sb_powerbi_error(res, 404, "ItemNotFound",
                     "Dataset %s is not found! please verify datasetId is correct and user have "
                     "sufficient permissions.",
                     id);
}

static void throttled(sb_state_t *st, const sb_request_t *req, sb_response_t *res, int64_t minutes,
                      const char *message)
{
    sb_powerbi_error(res, 429, "TooManyRequests", "%s", message);
    sb_res_header(res, "Retry-After", "%lld",
                  (long long)sb_clock_retry_after_s(&st->clock, req->arrived_ms, minutes));
}

/* The caller's token: false (res answered) when missing, unknown or
 * expired. */
static bool authorize(sb_state_t *st, const sb_request_t *req, sb_response_t *res)
{
    const sb_token_info_t *info;
    sb_token_check_t check = sb_tokens_check(st->tokens, sb_req_bearer(req), SB_TOKEN_ENTRA,
                                             sb_clock_now(&st->clock), &info);

    if (check == SB_TOKEN_OK)
        return true;
    if (check == SB_TOKEN_EXPIRED) {
        sb_powerbi_error(res, (int)st->cfg->pbi_expired_status, "TokenExpired",
                         "Access token has expired, resubmit with a new access token");
    } else {
        sb_res_json(res, 401,
                    json_pack("{s:{s:s, s:{s:s, s:{}, s:[], s:i}}}", "error", "code",
                              "PowerBINotAuthorizedException", "pbi.error", "code",
                              "PowerBINotAuthorizedException", "parameters", "details",
                              "exceptionCulprit", 1));
    }
    sb_res_header(res, "WWW-Authenticate",
                  "Bearer authorization_uri=\"https://login.microsoftonline.com/common/oauth2/"
                  "authorize\", error=\"invalid_token\"");
    return false;
}

bool sb_powerbi_authorize(sb_state_t *st, const sb_request_t *req, sb_response_t *res)
{
    return authorize(st, req, res);
}

/* The request's JSON body: NULL (res answered) when the content type or
 * the JSON is wrong. */
static json_t *json_body(const sb_request_t *req, sb_response_t *res, const char *target)
{
    char err[256];
    json_t *doc;
    pbi_error_t perr = { PBI_ERR_BINDING, "" };

    if (!sb_req_content_type_is(req, "application/json")) {
        const char *ct = sb_req_header(req, "Content-Type");

        sb_powerbi_error(res, 415, "UnsupportedMediaType",
                         "The request entity's media type '%s' is not supported for this "
                         "resource.",
                         ct ? ct : "application/octet-stream");
        return NULL;
    }
    doc = sb_req_json(req, err, sizeof(err));
    if (!doc) {
        snprintf(perr.message, sizeof(perr.message), "Invalid JSON: %s", err);
        model_error(res, &perr, target);
    }
    return doc;
}

static pbi_dataset_t *find_dataset(const sb_powerbi_t *pbi, const char *group, const char *id)
{
    for (pbi_dataset_t *ds = pbi->head; ds; ds = ds->next) {
        bool same_group =
            group ? ds->group_id && strcasecmp(ds->group_id, group) == 0 : ds->group_id == NULL;

        if (same_group && strcasecmp(ds->id, id) == 0)
            return ds;
    }
    return NULL;
}

static void odata_context(char *buf, size_t len, sb_state_t *st, const char *group,
                          const char *what)
{
    if (group)
        snprintf(buf, len, "%s/v1.0/myorg/groups/%s/$metadata#%s", st->base_url, group, what);
    else
        snprintf(buf, len, "%s/v1.0/myorg/$metadata#%s", st->base_url, what);
}

static json_t *dataset_json(const pbi_dataset_t *ds)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:b, s:b, s:b, s:b, s:s, s:s}", "id", ds->id, "name",
                     ds->name, "addRowsAPIEnabled", 1, "configuredBy", ds->configured_by,
                     "isRefreshable", 0, "isEffectiveIdentityRequired", 0,
                     "isEffectiveIdentityRolesRequired", 0, "isOnPremGatewayRequired", 0,
                     "defaultRetentionPolicy", ds->retention, "defaultMode", ds->default_mode);
}

/* ---- creating ---- */

/* Add a dataset parsed from body; answers res with 201 or the error. */
static void create_dataset(sb_state_t *st, const json_t *body, const char *group,
                           const char *retention, const char *id, const char *configured_by,
                           const char *const *extra_keys, sb_response_t *res)
{
    pbi_error_t err;
    pbi_dataset_t *ds, **tail;
    char context[512];

    if (retention && strcasecmp(retention, "None") != 0 &&
        strcasecmp(retention, "basicFIFO") != 0) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "defaultRetentionPolicy '%s' is not valid: None or basicFIFO.", retention);
        return;
    }
    if (id && find_dataset(st->powerbi, group, id)) {
        sb_powerbi_error(res, 409, "DuplicateDatasetId", "Dataset %s already exists.", id);
        return;
    }
    ds = pbi_dataset_parse(body, st->cfg, extra_keys, &err);
    if (!ds) {
        model_error(res, &err, "dataset");
        return;
    }
    if (id)
        snprintf(ds->id, sizeof(ds->id), "%s", id);
    else
        sb_ids_uuid(ds->id);
    ds->group_id = group ? strdup(group) : NULL;
    ds->serial = ++st->powerbi->serials;
    ds->retention =
        strdup(retention && strcasecmp(retention, "basicFIFO") == 0 ? "basicFIFO" : "None");
    ds->configured_by = strdup(configured_by ? configured_by : "");
    for (tail = &st->powerbi->head; *tail; tail = &(*tail)->next)
        ;
    *tail = ds;
    st->powerbi->count++;
    odata_context(context, sizeof(context), st, group, "datasets/$entity");
    sb_res_json(res, 201,
                json_pack("{s:s, s:s, s:s, s:s}", "@odata.context", context, "id", ds->id, "name",
                          ds->name, "defaultRetentionPolicy", ds->retention));
    sb_res_header(res, "Location", "%s/v1.0/myorg/%s%sdatasets/%s", st->base_url,
                  group ? "groups/" : "", group ? group : "", ds->id);
}

void sb_powerbi_create(sb_state_t *st, const json_t *spec, sb_response_t *res)
{
    const json_t *id = json_object_get(spec, "id");
    const json_t *group = json_object_get(spec, "group_id");
    const json_t *retention = json_object_get(spec, "defaultRetentionPolicy");

    if ((id && !json_is_string(id)) || (group && !json_is_string(group)) ||
        (retention && !json_is_string(retention))) {
        sb_res_json(
            res, 400,
            json_pack("{s:s}", "error", "id, group_id and defaultRetentionPolicy must be strings"));
        return;
    }
    create_dataset(st, spec, json_string_value(group), json_string_value(retention),
                   json_string_value(id), "sandbox-control", control_keys, res);
}

/* ---- handlers ---- */

static void datasets_list(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    const char *group = route->param[0];
    json_t *value = json_array();
    char context[512];

    if (!authorize(st, req, res)) {
        json_decref(value);
        return;
    }
    for (const pbi_dataset_t *ds = st->powerbi->head; ds; ds = ds->next) {
        bool same = group ? ds->group_id && strcasecmp(ds->group_id, group) == 0 : !ds->group_id;

        if (same)
            json_array_append_new(value, dataset_json(ds));
    }
    sb_pbi_refresh_list(st, group, value);
    odata_context(context, sizeof(context), st, group, "datasets");
    sb_res_json(res, 200, json_pack("{s:s, s:o}", "@odata.context", context, "value", value));
}

static void datasets_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    json_t *body;
    char *retention;
    const sb_token_info_t *info = NULL;

    if (!authorize(st, req, res))
        return;
    body = json_body(req, res, "dataset");
    if (!body)
        return;
    sb_tokens_check(st->tokens, sb_req_bearer(req), SB_TOKEN_ENTRA, sb_clock_now(&st->clock),
                    &info);
    retention = sb_req_query(req, "defaultRetentionPolicy");
    create_dataset(st, body, route->param[0], retention, NULL, info ? info->principal : NULL, NULL,
                   res);
    free(retention);
    json_decref(body);
}

static void dataset_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    pbi_dataset_t *ds;

    if (!authorize(st, req, res))
        return;
    ds = find_dataset(st->powerbi, route->param[0], route->param[1]);
    if (!ds) {
        not_found_dataset(res, route->param[1]);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        sb_res_json(res, 200, dataset_json(ds));
        return;
    }
    for (pbi_dataset_t **link = &st->powerbi->head; *link; link = &(*link)->next) {
        if (*link == ds) {
            *link = ds->next;
            break;
        }
    }
    pbi_dataset_free(ds);
    st->powerbi->count--;
    sb_res_json(res, 200, NULL);
}

static void tables_list(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    pbi_dataset_t *ds;
    json_t *value;
    char context[512];

    if (!authorize(st, req, res))
        return;
    ds = find_dataset(st->powerbi, route->param[0], route->param[1]);
    if (!ds) {
        not_found_dataset(res, route->param[1]);
        return;
    }
    value = json_array();
    for (size_t i = 0; i < ds->n_tables; i++)
        json_array_append_new(value, pbi_table_json(&ds->tables[i]));
    odata_context(context, sizeof(context), st, route->param[0], "tables");
    sb_res_json(res, 200, json_pack("{s:s, s:o}", "@odata.context", context, "value", value));
}

/* The dataset and table of a table route: NULL (res answered) when
 * either does not exist. */
static pbi_table_t *find_table(sb_state_t *st, const sb_route_t *route, sb_response_t *res,
                               pbi_dataset_t **ds_out)
{
    pbi_dataset_t *ds = find_dataset(st->powerbi, route->param[0], route->param[1]);
    pbi_table_t *table;

    if (!ds) {
        not_found_dataset(res, route->param[1]);
        return NULL;
    }
    table = pbi_dataset_table(ds, route->param[2]);
    if (!table) {
        sb_powerbi_error(res, 404, "ItemNotFound", "Table %s is not found in dataset %s.",
                         route->param[2], ds->id);
        return NULL;
    }
    *ds_out = ds;
    return table;
}

static void table_put(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    pbi_dataset_t *ds;
    pbi_table_t *table, parsed;
    pbi_error_t err;
    json_t *body;

    if (!authorize(st, req, res) || !(table = find_table(st, route, res, &ds)))
        return;
    body = json_body(req, res, "requestMessage");
    if (!body)
        return;
    memset(&parsed, 0, sizeof(parsed));
    if (!pbi_table_parse(body, st->cfg, &parsed, &err)) {
        model_error(res, &err, "requestMessage");
    } else if (strcasecmp(parsed.name, table->name) != 0) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "The table name '%s' in the body does not match the table '%s' of the "
                         "URL.",
                         parsed.name, table->name);
    } else {
        pbi_table_take_columns(table, &parsed);
        sb_res_json(res, 200, pbi_table_json(table));
    }
    pbi_table_free(&parsed);
    json_decref(body);
}

static void rows_delete(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    pbi_dataset_t *ds;
    pbi_table_t *table;

    if (!authorize(st, req, res) || !(table = find_table(st, route, res, &ds)))
        return;
    pbi_rows_clear(table);
    sb_res_json(res, 200, NULL);
}

/* "5 max pending POST rows requests per dataset": a POST rows request is
 * pending from its arrival until it is answered; one that arrives while
 * the dataset has the maximum is refused (rows_post) and not counted.
 * Requests for a dataset that does not exist are not counted (404). */
static bool rows_enter(sb_state_t *st, sb_route_t *route)
{
    pbi_dataset_t *ds = find_dataset(st->powerbi, route->param[0], route->param[1]);

    if (!ds)
        return true;
    if (ds->pending >= st->cfg->pbi_max_pending_posts) {
        ds->pending_refused++;
        return false;
    }
    ds->pending++;
    ds->max_pending = ds->pending > ds->max_pending ? ds->pending : ds->max_pending;
    route->pending_tag = ds->serial;
    return true;
}

/* The dataset may have been deleted (or the sandbox reset) meanwhile:
 * found by its serial, never by a pointer. */
static void rows_leave(sb_state_t *st, const sb_route_t *route)
{
    for (pbi_dataset_t *ds = st->powerbi->head; ds; ds = ds->next) {
        if (ds->serial == route->pending_tag) {
            ds->pending -= ds->pending > 0;
            return;
        }
    }
}

static void rows_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    const sb_config_t *cfg = st->cfg;
    int64_t minute = sb_clock_window(&st->clock, req->arrived_ms, 1);
    int64_t hour = sb_clock_window(&st->clock, req->arrived_ms, SB_MINUTES_PER_HOUR);
    pbi_dataset_t *ds;
    pbi_table_t *table;
    pbi_error_t err;
    json_t *body, *rows;
    size_t n;

    if (!authorize(st, req, res) || !(table = find_table(st, route, res, &ds)))
        return;
    if (route->over_pending) {
        sb_powerbi_error(res, 429, "TooManyRequests",
                         "Dataset %s already has %lld POST rows requests in progress; at most "
                         "%lld may be pending at once.",
                         ds->id, (long long)ds->pending, (long long)cfg->pbi_max_pending_posts);
        sb_res_header(res, "Retry-After", "1");
        return;
    }
    if (!sb_window_take(&ds->posts_minute, minute, 1, cfg->pbi_posts_per_minute)) {
        throttled(st, req, res, 1,
                  "You have exceeded the amount of requests allowed in the current time frame "
                  "and further requests will fail.");
        return;
    }
    if ((int64_t)table->n_rows >= cfg->pbi_large_table_rows &&
        sb_window_used(&ds->posts_hour, hour) >= cfg->pbi_large_posts_per_hour) {
        throttled(st, req, res, SB_MINUTES_PER_HOUR,
                  "You have exceeded the amount of POST rows requests allowed per hour for a "
                  "dataset with a table of 250,000 or more rows.");
        return;
    }
    sb_window_take(&ds->posts_hour, hour, 1, INT64_MAX);
    body = json_body(req, res, "requestMessage");
    if (!body)
        return;
    rows = json_object_get(body, "rows");
    if (!json_is_object(body) || !json_is_array(rows)) {
        err.kind = PBI_ERR_BINDING;
        snprintf(err.message, sizeof(err.message), "Required property 'rows' not found in JSON.");
        model_error(res, &err, "requestMessage");
        goto done;
    }
    n = json_array_size(rows);
    if ((int64_t)n > cfg->pbi_max_rows_per_post) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "The request has %zu rows; a POST rows request takes at most %lld "
                         "rows.",
                         n, (long long)cfg->pbi_max_rows_per_post);
        goto done;
    }
    if (!pbi_rows_check(table, rows, cfg, &err)) {
        model_error(res, &err, "requestMessage");
        goto done;
    }
    if (strcmp(ds->retention, "None") == 0 &&
        (int64_t)(table->n_rows + n) > cfg->pbi_max_rows_per_table) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "Table '%s' would hold %zu rows; a table of a dataset without a "
                         "retention policy holds at most %lld.",
                         table->name, table->n_rows + n, (long long)cfg->pbi_max_rows_per_table);
        goto done;
    }
    if (!sb_window_take(&ds->rows_hour, hour, (int64_t)n, cfg->pbi_rows_per_hour)) {
        throttled(st, req, res, SB_MINUTES_PER_HOUR,
                  "You are over your rows per hour limit for this dataset. To push more rows per "
                  "hour, upgrade your account to Power BI Pro or retry your push later.");
        goto done;
    }
    if (!pbi_rows_append(table, rows,
                         strcmp(ds->retention, "basicFIFO") == 0 ? (size_t)cfg->pbi_fifo_max_rows
                                                                 : 0)) {
        sb_powerbi_error(res, 500, "InternalError", "The sandbox ran out of memory.");
        goto done;
    }
    ds->rows_posted += (int64_t)n;
    sb_res_json(res, 200, NULL);
done:
    json_decref(body);
}

/* Parse the one DAX query the sandbox answers:
 *   EVALUATE ROW("<name>", COUNTROWS('<table>'))   ('' escapes a quote)
 * into name and table (caller-sized buffers). False for anything else. */
static bool parse_countrows(const char *dax, char *name, size_t nlen, char *table, size_t tlen)
{
    const char *p = dax, *q;
    size_t n = 0;

    while (*p == ' ' || *p == '\n' || *p == '\t')
        p++;
    if (strncasecmp(p, "EVALUATE", 8) != 0)
        return false;
    p = strstr(p, "ROW(");
    if (!p || !(p = strchr(p, '"')))
        return false;
    q = strchr(p + 1, '"');
    if (!q || (size_t)(q - p - 1) >= nlen)
        return false;
    memcpy(name, p + 1, (size_t)(q - p - 1));
    name[q - p - 1] = '\0';
    p = strstr(q, "COUNTROWS('");
    if (!p)
        return false;
    for (p += 11; *p; p++) {
        if (*p == '\'') {
            if (p[1] == '\'') {
                p++;
            } else {
                break;
            }
        }
        if (n + 1 >= tlen)
            return false;
        table[n++] = *p;
    }
    table[n] = '\0';
    return *p == '\'' && strstr(p, "))") != NULL && n > 0;
}

/* POST datasets/{id}/executeQueries: only the COUNTROWS query above, the
 * answer in the documented shape {"results":[{"tables":[{"rows":[{"[n]":N}]}]}]}. */
static void execute_queries(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    pbi_dataset_t *ds;
    pbi_table_t *table;
    json_t *body, *query;
    char name[128], tname[256], key[140];

    if (!authorize(st, req, res))
        return;
    ds = find_dataset(st->powerbi, route->param[0], route->param[1]);
    if (!ds) {
        not_found_dataset(res, route->param[1]);
        return;
    }
    body = json_body(req, res, "queryRequest");
    if (!body)
        return;
    query = json_object_get(json_array_get(json_object_get(body, "queries"), 0), "query");
    if (!json_is_string(query) ||
        !parse_countrows(json_string_value(query), name, sizeof(name), tname, sizeof(tname))) {
        sb_powerbi_error(res, 400, "DatasetExecuteQueriesError",
                         "The sandbox answers only EVALUATE ROW(\"n\", COUNTROWS('Table')).");
        json_decref(body);
        return;
    }
    json_decref(body);
    table = pbi_dataset_table(ds, tname);
    if (!table) {
        sb_powerbi_error(res, 404, "ItemNotFound", "Table %s is not found in dataset %s.", tname,
                         ds->id);
        return;
    }
    snprintf(key, sizeof(key), "[%s]", name);
    sb_res_json(res, 200,
                json_pack("{s:[{s:[{s:[{s:I}]}]}]}", "results", "tables", "rows", key,
                          (json_int_t)table->n_rows));
}

static void method_not_allowed(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                               sb_response_t *res)
{
    (void)st;
    sb_powerbi_error(res, 405, "UnsupportedHttpMethod",
                     "The requested resource does not support http method '%s'.", req->method);
    sb_res_header(res, "Allow", "%s", route->allow);
}

static void no_route(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    (void)st;
    (void)route;
    sb_powerbi_error(res, 404, "NoHttpResource",
                     "No HTTP resource was found that matches the request URI '%s'.", req->raw_uri);
}

/* ---- routing ---- */

static bool set(sb_route_t *route, const char *name, sb_handler_fn handler)
{
    route->name = name;
    route->vendor = SB_VENDOR_POWERBI;
    route->handler = handler;
    return true;
}

static bool pick(const sb_request_t *req, sb_route_t *route, const char *allow,
                 const char *get_name, sb_handler_fn get_fn, const char *other_method,
                 const char *other_name, sb_handler_fn other_fn)
{
    if (get_name && strcmp(req->method, "GET") == 0)
        return set(route, get_name, get_fn);
    if (other_method && strcmp(req->method, other_method) == 0)
        return set(route, other_name, other_fn);
    route->allow = allow;
    return set(route, "powerbi.unknown", method_not_allowed);
}

bool sb_powerbi_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = (char *const *)req->seg;
    size_t n = req->nseg, i = 2;

    if (n < 2 || strcmp(s[0], "v1.0") != 0 || strcasecmp(s[1], "myorg") != 0)
        return false;
    if (n >= 4 && strcasecmp(s[2], "groups") == 0) {
        route->param[0] = s[3];
        i = 4;
    }
    n -= i;
    s += i;
    if (n >= 1 && strcasecmp(s[0], "datasets") == 0) {
        if (n >= 2)
            route->param[1] = s[1];
        if (n >= 4)
            route->param[2] = s[3];
        if (n == 1)
            return pick(req, route, "GET, POST", "powerbi.datasets.list", datasets_list, "POST",
                        "powerbi.datasets.post", datasets_post);
        if (n == 2)
            return pick(req, route, "GET, DELETE", "powerbi.datasets.get", dataset_get, "DELETE",
                        "powerbi.datasets.delete", dataset_get);
        if (n == 3 && strcasecmp(s[2], "tables") == 0)
            return pick(req, route, "GET", "powerbi.tables.list", tables_list, NULL, NULL, NULL);
        if (n == 3 && strcasecmp(s[2], "executeQueries") == 0)
            return pick(req, route, "POST", NULL, NULL, "POST", "powerbi.datasets.executeQueries",
                        execute_queries);
        if (n == 4 && strcasecmp(s[2], "tables") == 0)
            return pick(req, route, "PUT", NULL, NULL, "PUT", "powerbi.tables.put", table_put);
        if (n == 5 && strcasecmp(s[2], "tables") == 0 && strcasecmp(s[4], "rows") == 0) {
            if (strcmp(req->method, "POST") == 0) {
                route->enter = rows_enter;
                route->leave = rows_leave;
            }
            return pick(req, route, "POST, DELETE", NULL, NULL,
                        strcmp(req->method, "POST") == 0 ? "POST" : "DELETE",
                        strcmp(req->method, "POST") == 0 ? "powerbi.rows.post"
                                                         : "powerbi.rows.delete",
                        strcmp(req->method, "POST") == 0 ? rows_post : rows_delete);
        }
    }
    return set(route, "powerbi.unknown", no_route);
}

/* ---- inspection ---- */

json_t *sb_powerbi_inspect(const sb_powerbi_t *pbi)
{
    json_t *list = json_array();

    for (const pbi_dataset_t *ds = pbi->head; ds; ds = ds->next) {
        json_t *tables = json_array();

        for (size_t i = 0; i < ds->n_tables; i++) {
            json_t *t = pbi_table_json(&ds->tables[i]);

            json_object_set_new(t, "row_count", json_integer((json_int_t)ds->tables[i].n_rows));
            json_object_set_new(t, "rows_dropped_fifo",
                                json_integer((json_int_t)ds->tables[i].trimmed));
            json_array_append_new(tables, t);
        }
        json_array_append_new(
            list,
            json_pack("{s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "id", ds->id,
                      "group_id", ds->group_id, "name", ds->name, "defaultMode", ds->default_mode,
                      "defaultRetentionPolicy", ds->retention, "rows_posted",
                      (json_int_t)ds->rows_posted, "pending_posts", (json_int_t)ds->pending,
                      "max_pending_posts", (json_int_t)ds->max_pending, "pending_posts_refused",
                      (json_int_t)ds->pending_refused, "tables", tables));
    }
    return json_pack("{s:o}", "datasets", list);
}

char *sb_powerbi_rows_text(const sb_powerbi_t *pbi, const char *dataset_id, const char *table,
                           size_t *len)
{
    const pbi_dataset_t *ds = pbi->head;
    const pbi_table_t *t;
    json_t *head;
    char *prefix, *out;
    size_t prefix_len, total;

    while (ds && strcasecmp(ds->id, dataset_id) != 0)
        ds = ds->next;
    t = ds ? pbi_dataset_table(ds, table) : NULL;
    if (!t)
        return NULL;
    head = json_pack("{s:s, s:s, s:I}", "dataset", ds->id, "table", t->name, "row_count",
                     (json_int_t)t->n_rows);
    prefix = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(head);
    if (!prefix)
        return NULL;
    /* '{...,"rows":[' + rows joined by ',' + ']}': the stored texts are
     * copied as they are, without re-parsing a million rows. */
    prefix_len = strlen(prefix) - 1;
    total = prefix_len + 10 + t->text_len + 4;
    out = malloc(total);
    if (!out) {
        free(prefix);
        return NULL;
    }
    memcpy(out, prefix, prefix_len);
    *len = prefix_len;
    memcpy(out + *len, ",\"rows\":[", 9);
    *len += 9;
    for (size_t i = 0; i < t->n_rows; i++) {
        const char *row = t->text + t->offsets[i];
        size_t row_len = strlen(row);

        if (i > 0)
            out[(*len)++] = ',';
        memcpy(out + *len, row, row_len);
        *len += row_len;
    }
    memcpy(out + *len, "]}", 3);
    *len += 2;
    free(prefix);
    return out;
}
