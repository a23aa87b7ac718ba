/* api_misc: the routes without a token: /healthz (the process answers),
 * /readyz (Kafka, Redis and PostgreSQL, each named), /metrics (the
 * process's Prometheus registry), /openapi.json (schemas/openapi.yaml,
 * embedded as JSON at build time). */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "df_metrics.h"
#include "df_ready.h"

static void healthz(api_req_t *req, api_resp_t *resp)
{
    (void)req;
    api_json(resp, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Each dependency on its own, so the answer names every one that is down. */
static void readyz(api_req_t *req, api_resp_t *resp)
{
    const df_scheduler_config_t *cfg = api_config(req->server);
    static const char *const names[] = { "kafka", "redis", "postgres" };
    json_t *checks = json_object();
    bool all = true;

    for (int i = 0; i < 3; i++) {
        df_ready_needs_t needs = {
            .common = &cfg->common, .kafka = i == 0, .redis = i == 1, .postgres = i == 2
        };
        char why[256] = "";
        bool ok = df_ready_check(&needs, why, sizeof(why));
        all = all && ok;
        json_object_set_new(checks, names[i],
                            ok ? json_pack("{s:b}", "ok", 1)
                               : json_pack("{s:b, s:s}", "ok", 0, "error", why));
    }
    api_json(resp, all ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
             json_pack("{s:s, s:o}", "status", all ? "ready" : "not_ready", "checks", checks));
}

static void metrics(api_req_t *req, api_resp_t *resp)
{
    size_t len = 0;
    char *text = df_metrics_render(&len);

    (void)req;
    if (!text) {
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "out of memory");
        return;
    }
    resp->status = MHD_HTTP_OK;
    resp->raw = text;
    resp->raw_len = len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The document is static data: sent as it is, never copied or freed. */
static void openapi(api_req_t *req, api_resp_t *resp)
{
    (void)req;
    resp->status = MHD_HTTP_OK;
    resp->raw = (char *)api_openapi_json;
    resp->raw_len = api_openapi_json_len;
    resp->raw_static = true;
    resp->content_type = "application/json";
}

const api_route_t api_misc_routes[] = {
    { "GET", "/healthz", API_ROLE_NONE, 0, healthz },
    { "GET", "/readyz", API_ROLE_NONE, 0, readyz },
    { "GET", "/metrics", API_ROLE_NONE, 0, metrics },
    { "GET", "/openapi.json", API_ROLE_NONE, 0, openapi },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
