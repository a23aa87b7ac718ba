/* control: /_sandbox/ routes. Everything answers JSON; errors are
 * {"error": "..."} with 400 (bad request), 404 or 409. */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra.h"
#include "faults.h"
#include "google_oauth.h"
#include "powerbi.h"
#include "sheets.h"
#include "stats.h"
#include "tokens.h"

static void fail(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

/* The JSON object body; NULL (res answered) when it is not one. */
static json_t *object_body(const sb_request_t *req, sb_response_t *res)
{
    char err[256], message[320];
    json_t *doc = sb_req_json(req, err, sizeof(err));

    if (!doc || !json_is_object(doc)) {
        snprintf(message, sizeof(message), "expected a JSON object body: %s",
                 doc ? "not an object" : err);
        fail(res, 400, message);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static void health(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                   sb_response_t *res)
{
    (void)req;
    (void)route;
    sb_res_json(res, 200, json_pack("{s:b, s:s}", "ok", 1, "base_url", st->base_url));
}

static void reset(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                  sb_response_t *res)
{
    (void)req;
    (void)route;
    sb_state_reset(st);
    sb_res_json(res, 200, json_pack("{s:b}", "reset", 1));
}

static void clock_now(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    int64_t t = sb_clock_now(&st->clock);

    (void)req;
    (void)route;
    sb_res_json(
        res, 200,
        json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I}", "minute_ms", (json_int_t)st->clock.minute_ms,
            "elapsed_ms", (json_int_t)t, "minute", (json_int_t)sb_clock_window(&st->clock, t, 1),
            "ms_to_next_minute", (json_int_t)sb_clock_ms_to_window_end(&st->clock, t, 1), "hour",
            (json_int_t)sb_clock_window(&st->clock, t, SB_MINUTES_PER_HOUR), "ms_to_next_hour",
            (json_int_t)sb_clock_ms_to_window_end(&st->clock, t, SB_MINUTES_PER_HOUR)));
}

static void entra_apps(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res)
{
    char err[256], token_url[512];
    json_t *body = object_body(req, res);

    (void)route;
    if (!body)
        return;
    if (!sb_entra_register(st->entra, body, err, sizeof(err))) {
        fail(res, 400, err);
    } else {
        snprintf(token_url, sizeof(token_url), "%s/%s/oauth2/v2.0/token", st->base_url,
                 json_string_value(json_object_get(body, "tenant")));
        sb_res_json(res, 201,
                    json_pack("{s:O, s:O, s:s}", "tenant", json_object_get(body, "tenant"),
                              "client_id", json_object_get(body, "client_id"), "token_url",
                              token_url));
    }
    json_decref(body);
}

static void google_accounts(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char err[256];
    json_t *body = object_body(req, res);

    (void)route;
    if (!body)
        return;
    if (!sb_google_register(st->google, body, err, sizeof(err)))
        fail(res, 400, err);
    else
        sb_res_json(res, 201,
                    json_pack("{s:O, s:s}", "client_email", json_object_get(body, "client_email"),
                              "token_audience", st->google_audience));
    json_decref(body);
}

static void sheets_create(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    json_t *body = object_body(req, res);

    (void)route;
    if (!body)
        return;
    sb_sheets_create_control(st, body, res);
    json_decref(body);
}

static void sheets_inspect(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    json_t *doc = sb_sheets_inspect(st->sheets, route->param[0]);

    (void)req;
    if (!doc)
        fail(res, 404, "no spreadsheet with this id");
    else
        sb_res_json(res, 200, doc);
}

static void powerbi_datasets(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                             sb_response_t *res)
{
    json_t *body;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        sb_res_json(res, 200, sb_powerbi_inspect(st->powerbi));
        return;
    }
    body = object_body(req, res);
    if (!body)
        return;
    sb_powerbi_create(st, body, res);
    json_decref(body);
}

static void powerbi_rows(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    size_t len = 0;
    char *text = sb_powerbi_rows_text(st->powerbi, route->param[0], route->param[1], &len);

    (void)req;
    if (!text) {
        fail(res, 404, "no such dataset or table");
        return;
    }
    sb_res_json(res, 200, NULL);
    res->body = text;
    res->body_len = len;
    res->content_type = "application/json; charset=utf-8";
}

static void faults(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                   sb_response_t *res)
{
    char err[256];
    json_t *body;
    int id;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        sb_res_json(res, 200, sb_faults_json(st->faults));
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        size_t n = sb_faults_clear(st->faults);

        sb_res_json(res, 200, json_pack("{s:I}", "cleared", (json_int_t)n));
        return;
    }
    body = object_body(req, res);
    if (!body)
        return;
    id = sb_faults_add(st->faults, body, err, sizeof(err));
    if (id == 0)
        fail(res, 400, err);
    else
        sb_res_json(res, 201, json_pack("{s:i}", "id", id));
    json_decref(body);
}

static void tokens_expire(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    size_t n = sb_tokens_expire_all(st->tokens, sb_clock_now(&st->clock));

    (void)req;
    (void)route;
    sb_res_json(res, 200, json_pack("{s:I}", "expired", (json_int_t)n));
}

static void requests(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    char *filter = sb_req_query(req, "route");
    json_t *doc = sb_stats_json(st->stats, filter);
    json_t *routes = json_object_get(doc, "routes");

    (void)route;
    /* An exact route never called still answers, with zeros. */
    if (filter && *filter && filter[strlen(filter) - 1] != '*' && !json_object_get(routes, filter))
        json_object_set_new(routes, filter,
                            json_pack("{s:i, s:{}, s:[], s:i}", "total", 0, "by_status", "windows",
                                      "max_per_window", 0));
    json_object_set_new(doc, "minute_ms", json_integer((json_int_t)st->clock.minute_ms));
    sb_res_json(res, 200, doc);
    free(filter);
}

static void not_allowed(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    (void)st;
    (void)req;
    (void)route;
    fail(res, 405, "method not allowed on this /_sandbox/ route (see docs/SANDBOX.md)");
}

static void unknown(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                    sb_response_t *res)
{
    (void)st;
    (void)req;
    (void)route;
    fail(res, 404, "no such /_sandbox/ route (see docs/SANDBOX.md)");
}

static bool set(sb_route_t *route, const char *name, sb_handler_fn handler)
{
    route->name = name;
    route->vendor = SB_VENDOR_SANDBOX;
    route->handler = handler;
    return true;
}

/* name/handler when the method is one of methods ("GET POST"), else 405. */
static bool on(const sb_request_t *req, sb_route_t *route, const char *methods, const char *name,
               sb_handler_fn handler)
{
    const char *p = strstr(methods, req->method);
    size_t n = strlen(req->method);

    if (p && (p == methods || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
        return set(route, name, handler);
    return set(route, "sandbox.not_allowed", not_allowed);
}

bool sb_control_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (n < 1 || strcmp(s[0], "_sandbox") != 0)
        return false;
    if (n == 2 && strcmp(s[1], "health") == 0)
        return on(req, route, "GET", "sandbox.health", health);
    if (n == 2 && strcmp(s[1], "reset") == 0)
        return on(req, route, "POST", "sandbox.reset", reset);
    if (n == 2 && strcmp(s[1], "clock") == 0)
        return on(req, route, "GET", "sandbox.clock", clock_now);
    if (n == 3 && strcmp(s[1], "entra") == 0 && strcmp(s[2], "apps") == 0)
        return on(req, route, "POST", "sandbox.entra.apps", entra_apps);
    if (n == 3 && strcmp(s[1], "google") == 0 && strcmp(s[2], "service-accounts") == 0)
        return on(req, route, "POST", "sandbox.google.accounts", google_accounts);
    if (n == 2 && strcmp(s[1], "sheets") == 0)
        return on(req, route, "POST", "sandbox.sheets.create", sheets_create);
    if (n == 3 && strcmp(s[1], "sheets") == 0) {
        route->param[0] = s[2];
        return on(req, route, "GET", "sandbox.sheets.inspect", sheets_inspect);
    }
    if (n == 3 && strcmp(s[1], "powerbi") == 0 && strcmp(s[2], "datasets") == 0)
        return on(req, route, "GET POST", "sandbox.powerbi.datasets", powerbi_datasets);
    if (n == 7 && strcmp(s[1], "powerbi") == 0 && strcmp(s[2], "datasets") == 0 &&
        strcmp(s[4], "tables") == 0 && strcmp(s[6], "rows") == 0) {
        route->param[0] = s[3];
        route->param[1] = s[5];
        return on(req, route, "GET", "sandbox.powerbi.rows", powerbi_rows);
    }
    if (n == 2 && strcmp(s[1], "faults") == 0)
        return on(req, route, "GET POST DELETE", "sandbox.faults", faults);
    if (n == 3 && strcmp(s[1], "tokens") == 0 && strcmp(s[2], "expire") == 0)
        return on(req, route, "POST", "sandbox.tokens.expire", tokens_expire);
    if (n == 2 && strcmp(s[1], "requests") == 0)
        return on(req, route, "GET", "sandbox.requests", requests);
    return set(route, "sandbox.unknown", unknown);
}
