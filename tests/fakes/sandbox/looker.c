/* looker: Looker API 4.0 (see looker.h).
 *
 * Login: POST /api/4.0/login with client_id and client_secret (form body or
 * query) of a client registered through /_sandbox/looker/clients answers
 * {"access_token", "token_type": "Bearer", "expires_in"}; other credentials
 * get 404 {"message": "Not found"} as Looker answers. Every other route
 * needs "Authorization: token <access_token>" (or "Bearer"): else 401
 * {"message": "Requires authentication."}.
 *
 * PDTs: GET /derived_table/{model}/{view}/start starts a build of a PDT
 * registered through /_sandbox/looker/pdts (404 for others) and answers
 * MaterializePDT {"materialization_id", "resp_text"}; while a build of that
 * PDT runs, a start answers the running build's materialization id (no
 * second build). GET /derived_table/{id}/status answers MaterializePDT
 * whose resp_text is a JSON text {"status": "queued" | "running" | "done" | "error",
 * "message"}: the sandbox's reading of Looker's free-text field, which the
 * connector reads (docs/CONNECTORS.md). A build queues queue_ms (-1:
 * forever), runs run_ms then ends done,
 * or error with the PDT's message.
 *
 * Datagroups, models, looks and dashboards come from a seeded fixture;
 * PATCH /datagroups/{id} {"triggered_at": unix seconds} sets it (422 for a
 * time in the future or not an integer). */
#include "looker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "df_id.h"
#include "ids.h"
#include "tokens.h"

#define CLIENTS_MAX 8
#define FIELD_MAX   128
#define DOCS_URL    "https://cloud.google.com/looker/docs/"
#define NELEM(a)    (sizeof(a) / sizeof((a)[0]))

/* ---- the fixture ---- */

static const char *const fx_models[][3] = {
    /* model, explore, explore (NULL: none) */
    { "sales", "orders", "customers" },
    { "finance", "budget", NULL },
};

typedef struct fx_look {
    int id;
    const char *title, *model, *view;
} fx_look_t;

static const fx_look_t fx_looks[] = {
    { 1, "Revenue by month", "sales", "orders" },
    { 2, "Top customers", "sales", "customers" },
    { 3, "Budget vs actual", "finance", "budget" },
};

typedef struct fx_element {
    int id, look_id;          /* look_id 0: a query tile */
    const char *model, *view; /* of a query tile */
} fx_element_t;

typedef struct fx_dashboard {
    int id;
    const char *title;
    fx_element_t elements[4]; /* id 0 ends */
} fx_dashboard_t;

static const fx_dashboard_t fx_dashboards[] = {
    { 10,
      "Sales",
      { { 101, 1, NULL, NULL }, { 102, 2, NULL, NULL }, { 103, 0, "sales", "orders" } } },
    { 11, "CFO", { { 111, 3, NULL, NULL }, { 112, 1, NULL, NULL } } },
};

/* ---- state ---- */

typedef struct pdt {
    char model[FIELD_MAX], view[FIELD_MAX];
    int64_t queue_ms; /* -1: the build never starts */
    int64_t run_ms;
    bool fail;
    char message[256];
    int64_t starts, start_calls;
    struct pdt *next;
} pdt_t;

typedef struct build {
    char id[SB_UUID_BUF];
    pdt_t *pdt;
    int64_t at, start_at, end_at; /* start_at -1: never */
    bool fail, full;
    char message[256];
    struct build *next;
} build_t;

typedef struct datagroup {
    char id[FIELD_MAX], model[FIELD_MAX], name[FIELD_MAX];
    int64_t triggered_at, triggers;
} datagroup_t;

struct sb_looker {
    char clients[CLIENTS_MAX][2][FIELD_MAX];
    size_t nclients;
    pdt_t *pdts;
    build_t *builds;
    datagroup_t datagroups[2];
};

static void forget(sb_looker_t *l)
{
    while (l->pdts) {
        pdt_t *p = l->pdts;
        l->pdts = p->next;
        free(p);
    }
    while (l->builds) {
        build_t *b = l->builds;
        l->builds = b->next;
        free(b);
    }
    memset(l->clients, 0, sizeof(l->clients));
    l->nclients = 0;
}

static void seed(sb_looker_t *l)
{
    memset(l->datagroups, 0, sizeof(l->datagroups));
    snprintf(l->datagroups[0].id, FIELD_MAX, "sales::nightly");
    snprintf(l->datagroups[0].model, FIELD_MAX, "sales");
    snprintf(l->datagroups[0].name, FIELD_MAX, "nightly");
    snprintf(l->datagroups[1].id, FIELD_MAX, "finance::monthly");
    snprintf(l->datagroups[1].model, FIELD_MAX, "finance");
    snprintf(l->datagroups[1].name, FIELD_MAX, "monthly");
}

sb_looker_t *sb_looker_new(void)
{
    sb_looker_t *l = calloc(1, sizeof(*l));
    if (l)
        seed(l);
    return l;
}

void sb_looker_reset(sb_looker_t *l)
{
    forget(l);
    seed(l);
}

void sb_looker_destroy(sb_looker_t *l)
{
    if (!l)
        return;
    forget(l);
    free(l);
}

void sb_looker_error(sb_response_t *res, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sb_res_json(res, status,
                json_pack("{s:s, s:s}", "message", msg, "documentation_url", DOCS_URL));
}

/* ---- auth ---- */

static char *param(const sb_request_t *req, const char *name)
{
    char *v = sb_req_query(req, name);
    if (!v && req->body)
        v = sb_form_get(req->body, req->body_len, name);
    return v;
}

static void login(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                  sb_response_t *res)
{
    char *id = param(req, "client_id"), *secret = param(req, "client_secret");
    char token[SB_TOKEN_MAX];
    bool ok = false;

    (void)route;
    for (size_t i = 0; id && secret && i < st->looker->nclients; i++)
        if (strcmp(st->looker->clients[i][0], id) == 0 &&
            strcmp(st->looker->clients[i][1], secret) == 0)
            ok = true;
    if (!ok) {
        sb_looker_error(res, 404, "Not found");
    } else if (!sb_tokens_issue(st->tokens, SB_TOKEN_LOOKER, id, "", "", req->arrived_ms,
                                st->cfg->token_ttl_s * 1000, token)) {
        sb_looker_error(res, 500, "out of memory");
    } else {
        sb_res_json(res, 200,
                    json_pack("{s:s, s:s, s:I}", "access_token", token, "token_type", "Bearer",
                              "expires_in", (json_int_t)st->cfg->token_ttl_s));
    }
    free(id);
    free(secret);
}

static bool authorize(sb_state_t *st, const sb_request_t *req, sb_response_t *res)
{
    const char *h = sb_req_header(req, "Authorization");
    const sb_token_info_t *info = NULL;
    const char *token = NULL;

    if (h && strncasecmp(h, "token ", 6) == 0)
        token = h + 6;
    else if (h && strncasecmp(h, "Bearer ", 7) == 0)
        token = h + 7;
    if (token &&
        sb_tokens_check(st->tokens, token, SB_TOKEN_LOOKER, req->arrived_ms, &info) == SB_TOKEN_OK)
        return true;
    sb_looker_error(res, 401, "Requires authentication.");
    return false;
}

/* ---- PDTs ---- */

static pdt_t *find_pdt(const sb_looker_t *l, const char *model, const char *view)
{
    for (pdt_t *p = l->pdts; p; p = p->next)
        if (strcmp(p->model, model) == 0 && strcmp(p->view, view) == 0)
            return p;
    return NULL;
}

static json_t *materialize(const build_t *b, int64_t now)
{
    const char *status = b->start_at < 0 || now < b->start_at ? "queued"
                         : now < b->end_at                    ? "running"
                         : b->fail                            ? "error"
                                                              : "done";
    json_t *resp =
        json_pack("{s:s, s:s}", "status", status, "message",
                  strcmp(status, "error") == 0    ? b->message
                  : strcmp(status, "done") == 0   ? "The persistent derived table was rebuilt."
                  : strcmp(status, "queued") == 0 ? "The build waits for a free connection."
                                                  : "The persistent derived table is being built.");
    char *text = json_dumps(resp, JSON_COMPACT);
    json_t *doc =
        json_pack("{s:s, s:s}", "materialization_id", b->id, "resp_text", text ? text : "");

    free(text);
    json_decref(resp);
    return doc;
}

static void pdt_start(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    sb_looker_t *l = st->looker;
    pdt_t *p;
    build_t *b;
    char *force = sb_req_query(req, "force_rebuild");

    if (!authorize(st, req, res)) {
        free(force);
        return;
    }
    if (!(p = find_pdt(l, route->param[0], route->param[1]))) {
        free(force);
        sb_looker_error(res, 404, "No persistent derived table %s in model %s", route->param[1],
                        route->param[0]);
        return;
    }
    p->start_calls++;
    for (b = l->builds; b; b = b->next)
        if (b->pdt == p && (b->start_at < 0 || req->arrived_ms < b->end_at))
            break;
    if (!b) { /* no build running: a new one */
        if (!(b = calloc(1, sizeof(*b)))) {
            free(force);
            sb_looker_error(res, 500, "out of memory");
            return;
        }
        sb_ids_uuid(b->id);
        b->pdt = p;
        b->at = req->arrived_ms;
        b->start_at = p->queue_ms < 0 ? -1 : b->at + p->queue_ms;
        b->end_at = b->start_at < 0 ? -1 : b->start_at + p->run_ms;
        b->fail = p->fail;
        b->full = force && strcmp(force, "true") == 0;
        snprintf(b->message, sizeof(b->message), "%s", p->message);
        b->next = l->builds;
        l->builds = b;
        p->starts++;
    }
    free(force);
    sb_res_json(res, 200, materialize(b, req->arrived_ms));
}

static void pdt_status(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res)
{
    if (!authorize(st, req, res))
        return;
    for (build_t *b = st->looker->builds; b; b = b->next)
        if (strcmp(b->id, route->param[0]) == 0) {
            sb_res_json(res, 200, materialize(b, req->arrived_ms));
            return;
        }
    sb_looker_error(res, 404, "Not found");
}

/* GET /derived_table/{id}/stop: the build ends now, as failed ("stopped"). */
static void pdt_stop(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    if (!authorize(st, req, res))
        return;
    for (build_t *b = st->looker->builds; b; b = b->next)
        if (strcmp(b->id, route->param[0]) == 0) {
            if (b->start_at < 0 || req->arrived_ms < b->end_at) {
                if (b->start_at < 0)
                    b->start_at = req->arrived_ms;
                b->end_at = req->arrived_ms;
                b->fail = true;
                snprintf(b->message, sizeof(b->message), "The build was stopped.");
            }
            sb_res_json(res, 200, materialize(b, req->arrived_ms));
            return;
        }
    sb_looker_error(res, 404, "Not found");
}

/* ---- running looks and queries ---- */

/* The rows a look or query of model/view gives: a few fixed ones. */
static void run_rows(const char *model, const char *view, const char *format, sb_response_t *res)
{
    static const char *const regions[] = { "north", "south", "east" };
    json_t *rows = json_array();
    char field[300];

    if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
        json_decref(rows);
        sb_looker_error(res, 400, "Unsupported result format '%s' (the sandbox runs json and csv)",
                        format);
        return;
    }
    snprintf(field, sizeof(field), "%s.count", view);
    for (int i = 0; i < 3; i++) {
        char key[300];
        json_t *r = json_object();
        snprintf(key, sizeof(key), "%s.region", view);
        json_object_set_new(r, key, json_string(regions[i]));
        json_object_set_new(r, field, json_integer(10 * (i + 1)));
        json_array_append_new(rows, r);
    }
    (void)model;
    if (strcmp(format, "json") == 0) {
        sb_res_json(res, 200, rows);
        return;
    }
    {
        char text[1024];
        int n = snprintf(text, sizeof(text), "%s.region,%s\n", view, field);
        for (int i = 0; i < 3 && n > 0 && (size_t)n < sizeof(text); i++)
            n += snprintf(text + n, sizeof(text) - (size_t)n, "%s,%d\n", regions[i], 10 * (i + 1));
        json_decref(rows);
        sb_res_json(res, 200, NULL);
        res->body = strdup(text);
        res->body_len = res->body ? strlen(text) : 0;
        res->content_type = "text/csv";
    }
}

/* GET /looks/{id}/run/{format} */
static void look_run(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    if (!authorize(st, req, res))
        return;
    for (size_t i = 0; i < NELEM(fx_looks); i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", fx_looks[i].id);
        if (strcmp(id, route->param[0]) == 0) {
            run_rows(fx_looks[i].model, fx_looks[i].view, route->param[1], res);
            return;
        }
    }
    sb_looker_error(res, 404, "Not found");
}

/* GET /queries/{id}/run/{format}: query ids are the fixture's looks' ids
 * (each look's query) plus 103, the query tile of dashboard 10. */
static void query_run(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    if (!authorize(st, req, res))
        return;
    if (strcmp(route->param[0], "103") == 0) {
        run_rows("sales", "orders", route->param[1], res);
        return;
    }
    look_run(st, req, route, res);
}

/* ---- datagroups, models, looks, dashboards, user ---- */

static json_t *datagroup_json(const datagroup_t *d)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:b}", "id", d->id, "model_name", d->model, "name",
                     d->name, "triggered_at",
                     d->triggered_at ? json_integer(d->triggered_at) : json_null(), "can", "update",
                     1);
}

static void datagroups_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    json_t *list = json_array();

    (void)route;
    if (!authorize(st, req, res)) {
        json_decref(list);
        return;
    }
    for (size_t i = 0; i < NELEM(st->looker->datagroups); i++)
        json_array_append_new(list, datagroup_json(&st->looker->datagroups[i]));
    sb_res_json(res, 200, list);
}

static void datagroup_patch(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char err[256];
    json_t *doc, *at;
    datagroup_t *d = NULL;

    if (!authorize(st, req, res))
        return;
    for (size_t i = 0; i < NELEM(st->looker->datagroups); i++)
        if (strcmp(st->looker->datagroups[i].id, route->param[0]) == 0)
            d = &st->looker->datagroups[i];
    if (!d) {
        sb_looker_error(res, 404, "Not found");
        return;
    }
    doc = sb_req_json(req, err, sizeof(err));
    at = json_object_get(doc, "triggered_at");
    if (!json_is_integer(at) || json_integer_value(at) <= 0 ||
        json_integer_value(at) > (json_int_t)time(NULL) + 5) {
        json_decref(doc);
        sb_res_json(res, 422,
                    json_pack("{s:s, s:[{s:s, s:s, s:s}], s:s}", "message", "Validation Failed",
                              "errors", "field", "triggered_at", "code", "invalid", "message",
                              "must be a UNIX time in seconds, not in the future",
                              "documentation_url", DOCS_URL));
        return;
    }
    d->triggered_at = json_integer_value(at);
    d->triggers++;
    json_decref(doc);
    sb_res_json(res, 200, datagroup_json(d));
}

static void models_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res)
{
    json_t *list = json_array();

    (void)route;
    if (!authorize(st, req, res)) {
        json_decref(list);
        return;
    }
    for (size_t i = 0; i < NELEM(fx_models); i++) {
        json_t *ex = json_array();
        for (int k = 1; k < 3 && fx_models[i][k]; k++)
            json_array_append_new(ex, json_pack("{s:s}", "name", fx_models[i][k]));
        json_array_append_new(list,
                              json_pack("{s:s, s:o}", "name", fx_models[i][0], "explores", ex));
    }
    sb_res_json(res, 200, list);
}

static void looks_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    json_t *list = json_array();

    (void)route;
    if (!authorize(st, req, res)) {
        json_decref(list);
        return;
    }
    for (size_t i = 0; i < NELEM(fx_looks); i++)
        json_array_append_new(list, json_pack("{s:i, s:s, s:{s:s, s:s}}", "id", fx_looks[i].id,
                                              "title", fx_looks[i].title, "query", "model",
                                              fx_looks[i].model, "view", fx_looks[i].view));
    sb_res_json(res, 200, list);
}

static json_t *dashboard_json(const fx_dashboard_t *d, bool elements)
{
    json_t *doc = json_pack("{s:s, s:s}", "id", "", "title", d->title);
    char id[16];

    snprintf(id, sizeof(id), "%d", d->id);
    json_object_set_new(doc, "id", json_string(id));
    if (elements) {
        json_t *list = json_array();
        for (int k = 0; k < 4 && d->elements[k].id; k++) {
            const fx_element_t *e = &d->elements[k];
            char eid[16];
            snprintf(eid, sizeof(eid), "%d", e->id);
            json_array_append_new(
                list, json_pack("{s:s, s:o, s:o}", "id", eid, "look_id",
                                e->look_id ? json_integer(e->look_id) : json_null(), "query",
                                e->look_id
                                    ? json_null()
                                    : json_pack("{s:s, s:s}", "model", e->model, "view", e->view)));
        }
        json_object_set_new(doc, "dashboard_elements", list);
    }
    return doc;
}

static void dashboards_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    json_t *list;

    if (!authorize(st, req, res))
        return;
    if (route->param[0]) {
        for (size_t i = 0; i < NELEM(fx_dashboards); i++) {
            char id[16];
            snprintf(id, sizeof(id), "%d", fx_dashboards[i].id);
            if (strcmp(id, route->param[0]) == 0) {
                sb_res_json(res, 200, dashboard_json(&fx_dashboards[i], true));
                return;
            }
        }
        sb_looker_error(res, 404, "Not found");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < NELEM(fx_dashboards); i++)
        json_array_append_new(list, dashboard_json(&fx_dashboards[i], false));
    sb_res_json(res, 200, list);
}

static void user_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    (void)route;
    if (!authorize(st, req, res))
        return;
    sb_res_json(res, 200, json_pack("{s:s, s:s}", "id", "7", "display_name", "datafleet API user"));
}

/* ---- control ---- */

static void control_fail(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

static void control_clients(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char err[256];
    json_t *doc = sb_req_json(req, err, sizeof(err));
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    const char *secret = json_string_value(json_object_get(doc, "client_secret"));

    (void)route;
    if (!id || !secret || !*id || !*secret || strlen(id) >= FIELD_MAX ||
        strlen(secret) >= FIELD_MAX || st->looker->nclients == CLIENTS_MAX) {
        json_decref(doc);
        control_fail(res, 400, "{\"client_id\", \"client_secret\"}: 1 to 127 characters each");
        return;
    }
    snprintf(st->looker->clients[st->looker->nclients][0], FIELD_MAX, "%s", id);
    snprintf(st->looker->clients[st->looker->nclients++][1], FIELD_MAX, "%s", secret);
    json_decref(doc);
    sb_res_json(res, 201, json_pack("{s:s}", "client_id", id));
}

static json_t *pdt_json(const pdt_t *p)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:b, s:s, s:I, s:I}", "model", p->model, "view", p->view,
                     "queue_ms", (json_int_t)p->queue_ms, "run_ms", (json_int_t)p->run_ms, "fail",
                     p->fail, "message", p->message, "starts", (json_int_t)p->starts, "start_calls",
                     (json_int_t)p->start_calls);
}

/* POST /_sandbox/looker/pdts {"model", "view", "run_ms"?, "fail"?, "message"?}
 * (creates or changes); GET: the list with their build counts. */
static void control_pdts(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    char err[256];
    json_t *doc, *v;
    const char *model, *view;
    pdt_t *p;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        json_t *list = json_array();
        for (p = st->looker->pdts; p; p = p->next)
            json_array_append_new(list, pdt_json(p));
        sb_res_json(res, 200, json_pack("{s:o}", "pdts", list));
        return;
    }
    doc = sb_req_json(req, err, sizeof(err));
    model = json_string_value(json_object_get(doc, "model"));
    view = json_string_value(json_object_get(doc, "view"));
    if (!model || !view || !*model || !*view || strlen(model) >= FIELD_MAX ||
        strlen(view) >= FIELD_MAX) {
        json_decref(doc);
        control_fail(res, 400, "model and view: 1 to 127 characters");
        return;
    }
    if (!(p = find_pdt(st->looker, model, view))) {
        if (!(p = calloc(1, sizeof(*p)))) {
            json_decref(doc);
            control_fail(res, 500, "out of memory");
            return;
        }
        snprintf(p->model, FIELD_MAX, "%s", model);
        snprintf(p->view, FIELD_MAX, "%s", view);
        p->run_ms = 1000;
        snprintf(p->message, sizeof(p->message), "The PDT build failed.");
        p->next = st->looker->pdts;
        st->looker->pdts = p;
    }
    if ((v = json_object_get(doc, "queue_ms")) && json_is_integer(v) && json_integer_value(v) >= -1)
        p->queue_ms = json_integer_value(v);
    if ((v = json_object_get(doc, "run_ms")) && json_is_integer(v) && json_integer_value(v) >= 0)
        p->run_ms = json_integer_value(v);
    if ((v = json_object_get(doc, "fail")) && json_is_boolean(v))
        p->fail = json_is_true(v);
    if ((v = json_object_get(doc, "message")) && json_is_string(v))
        snprintf(p->message, sizeof(p->message), "%s", json_string_value(v));
    json_decref(doc);
    sb_res_json(res, 201, pdt_json(p));
}

static void control_datagroups(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                               sb_response_t *res)
{
    json_t *list = json_array();

    (void)req;
    (void)route;
    for (size_t i = 0; i < NELEM(st->looker->datagroups); i++) {
        json_t *d = datagroup_json(&st->looker->datagroups[i]);
        json_object_set_new(d, "triggers", json_integer(st->looker->datagroups[i].triggers));
        json_array_append_new(list, d);
    }
    sb_res_json(res, 200, json_pack("{s:o}", "datagroups", list));
}

static json_t *node(const char *ns, const char *name, const char *kind)
{
    return json_pack("{s:s, s:s, s:s}", "namespace", ns, "name", name, "kind", kind);
}

static json_t *edge(const char *ns, const char *from, const char *to)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "namespace", ns, "name", from,
                     "to", "namespace", ns, "name", to, "kind", "feeds");
}

static void control_fixture(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char *ns = sb_req_query(req, "namespace");
    json_t *nodes = json_array(), *edges = json_array();
    char a[200], b[200];

    (void)st;
    (void)route;
    if (!ns)
        ns = strdup("looker://sandbox");
    for (size_t i = 0; i < NELEM(fx_models); i++)
        for (int k = 1; k < 3 && fx_models[i][k]; k++) {
            snprintf(a, sizeof(a), "models/%s/explores/%s", fx_models[i][0], fx_models[i][k]);
            json_array_append_new(nodes, node(ns, a, "explore"));
        }
    for (size_t i = 0; i < NELEM(fx_looks); i++) {
        snprintf(a, sizeof(a), "models/%s/explores/%s", fx_looks[i].model, fx_looks[i].view);
        snprintf(b, sizeof(b), "looks/%d", fx_looks[i].id);
        json_array_append_new(nodes, node(ns, b, "look"));
        json_array_append_new(edges, edge(ns, a, b));
    }
    for (size_t i = 0; i < NELEM(fx_dashboards); i++) {
        const fx_dashboard_t *d = &fx_dashboards[i];
        snprintf(b, sizeof(b), "dashboards/%d", d->id);
        json_array_append_new(nodes, node(ns, b, "dashboard"));
        for (int k = 0; k < 4 && d->elements[k].id; k++) {
            if (d->elements[k].look_id)
                snprintf(a, sizeof(a), "looks/%d", d->elements[k].look_id);
            else
                snprintf(a, sizeof(a), "models/%s/explores/%s", d->elements[k].model,
                         d->elements[k].view);
            json_array_append_new(edges, edge(ns, a, b));
        }
    }
    sb_res_json(res, 200, json_pack("{s:o, s:o}", "nodes", nodes, "edges", edges));
    free(ns);
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
    sb_looker_error(res, 405, "Method %s Not Allowed", req->method);
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
    route->name = vendor == SB_VENDOR_SANDBOX ? "sandbox.not_allowed" : "looker.unknown";
    route->handler = wrong_method;
    return true;
}

bool sb_looker_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (n >= 3 && strcmp(s[0], "_sandbox") == 0 && strcmp(s[1], "looker") == 0) {
        if (n == 3 && strcmp(s[2], "clients") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "POST", "sandbox.looker.clients",
                      control_clients);
        if (n == 3 && strcmp(s[2], "pdts") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.looker.pdts",
                      control_pdts);
        if (n == 3 && strcmp(s[2], "datagroups") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "GET", "sandbox.looker.datagroups",
                      control_datagroups);
        if (n == 3 && strcmp(s[2], "lineage-fixture") == 0)
            return on(req, route, SB_VENDOR_SANDBOX, "GET", "sandbox.looker.fixture",
                      control_fixture);
        return false;
    }
    if (n < 3 || strcmp(s[0], "api") != 0 || strcmp(s[1], "4.0") != 0)
        return false;
    s += 2;
    n -= 2;
    if (n == 1 && strcmp(s[0], "login") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "POST", "looker.login", login);
    if (n == 4 && strcmp(s[0], "derived_table") == 0 && strcmp(s[3], "start") == 0) {
        route->param[0] = s[1];
        route->param[1] = s[2];
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.pdt.start", pdt_start);
    }
    if (n == 3 && strcmp(s[0], "derived_table") == 0 && strcmp(s[2], "status") == 0) {
        route->param[0] = s[1];
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.pdt.status", pdt_status);
    }
    if (n == 3 && strcmp(s[0], "derived_table") == 0 && strcmp(s[2], "stop") == 0) {
        route->param[0] = s[1];
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.pdt.stop", pdt_stop);
    }
    if (n == 4 && (strcmp(s[0], "looks") == 0 || strcmp(s[0], "queries") == 0) &&
        strcmp(s[2], "run") == 0) {
        route->param[0] = s[1];
        route->param[1] = s[3];
        return strcmp(s[0], "looks") == 0
                   ? on(req, route, SB_VENDOR_LOOKER, "GET", "looker.look.run", look_run)
                   : on(req, route, SB_VENDOR_LOOKER, "GET", "looker.query.run", query_run);
    }
    if (n == 1 && strcmp(s[0], "datagroups") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.datagroups.get", datagroups_get);
    if (n == 2 && strcmp(s[0], "datagroups") == 0) {
        route->param[0] = s[1];
        return on(req, route, SB_VENDOR_LOOKER, "PATCH", "looker.datagroups.patch",
                  datagroup_patch);
    }
    if (n == 1 && strcmp(s[0], "lookml_models") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.models.get", models_get);
    if (n == 1 && strcmp(s[0], "looks") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.looks.get", looks_get);
    if (n == 1 && strcmp(s[0], "dashboards") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.dashboards.get", dashboards_get);
    if (n == 2 && strcmp(s[0], "dashboards") == 0) {
        route->param[0] = s[1];
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.dashboard.get", dashboards_get);
    }
    if (n == 1 && strcmp(s[0], "user") == 0)
        return on(req, route, SB_VENDOR_LOOKER, "GET", "looker.user.get", user_get);
    return false;
}
