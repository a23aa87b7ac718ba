/* api_connectors: /v1/connectors, the connector registry in PostgreSQL
 * (df_connector_store.h): definitions validated against
 * connector.v1.schema.json, inline secrets sealed with the process's
 * keyring (DATAFLEET_SECRET_KEY) and shown as "***" in every answer and
 * audit row. `test` runs a probe task on a worker and waits for its
 * outcome. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "df_connector_store.h"
#include "df_id.h"
#include "df_task.h"

/* A connector name in the path, as the schema wants it. */
static bool name_ok(api_req_t *req, api_resp_t *resp)
{
    const char *n = req->params[0];
    size_t len = strlen(n);
    bool ok = len >= 1 && len <= 63 && n[0] >= 'a' && n[0] <= 'z';

    for (size_t i = 1; ok && i < len; i++)
        ok = (n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_' ||
             n[i] == '-';
    if (!ok)
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: expected a lower-case letter, then up to 62 lower-case letters, digits, "
                  "`_` or `-`, got \"%.64s\"",
                  n);
    return ok;
}

static void store_error(api_resp_t *resp, const df_error_t *err)
{
    if (err->code == DF_ERR_UNSUPPORTED)
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                  "this API process has no secret key (DATAFLEET_SECRET_KEY or "
                  "DATAFLEET_SECRET_KEY_FILE), so it cannot store or open connector secrets");
    else
        api_df_error(resp, err);
}

static void list_connectors(api_req_t *req, api_resp_t *resp)
{
    json_t *views = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_connector_store_list(req->pg, &views, &err) != DF_OK) {
        store_error(resp, &err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, json_pack("{s:o}", "connectors", views));
}

static void get_connector(api_req_t *req, api_resp_t *resp)
{
    json_t *view = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !name_ok(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_connector_store_get(req->pg, req->params[0], &view, &err) != DF_OK) {
        store_error(resp, &err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, view);
}

static void create_connector(api_req_t *req, api_resp_t *resp)
{
    json_t *view = NULL;
    df_error_t err;
    const char *name = json_string_value(json_object_get(req->body, "name"));

    if (!api_query_only(req, resp, NULL) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_connector_store_create(req->pg, api_keyring(req->server), req->body, &view, &err) !=
        DF_OK) {
        store_error(resp, &err);
        return;
    }
    api_header(resp, "Location", "/v1/connectors/%s", name ? name : "");
    snprintf(resp->audit_target, sizeof(resp->audit_target), "%s", name ? name : "");
    resp->audit = json_incref(view);
    api_json(resp, MHD_HTTP_CREATED, view);
}

static void replace_connector(api_req_t *req, api_resp_t *resp)
{
    json_t *view = NULL, *def;
    df_connector_write_t what;
    df_error_t err;
    const char *body_name = json_string_value(json_object_get(req->body, "name"));

    if (!api_query_only(req, resp, NULL) || !name_ok(req, resp) || !api_need_pg(req, resp))
        return;
    if (json_object_get(req->body, "name") && (!body_name || strcmp(body_name, req->params[0]))) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "/name",
                  "name: must be the name in the path (\"%s\"); connectors are not renamed",
                  req->params[0]);
        return;
    }
    def = json_deep_copy(req->body);
    json_object_set_new(def, "name", json_string(req->params[0]));
    df_error_init(&err);
    if (df_connector_store_replace(req->pg, api_keyring(req->server), req->params[0], def, &what,
                                   &view, &err) != DF_OK) {
        json_decref(def);
        store_error(resp, &err);
        return;
    }
    json_decref(def);
    resp->audit =
        json_pack("{s:b, s:O}", "changed", what != DF_CONNECTOR_UNCHANGED, "connector", view);
    api_json(resp, MHD_HTTP_OK, view);
}

static void delete_connector(api_req_t *req, api_resp_t *resp)
{
    json_t *view = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !name_ok(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_connector_store_delete(req->pg, req->params[0], &view, &err) != DF_OK) {
        store_error(resp, &err);
        return;
    }
    resp->audit = view;
    resp->status = MHD_HTTP_NO_CONTENT;
    resp->raw = (char *)"";
    resp->raw_len = 0;
    resp->raw_static = true;
    resp->content_type = "application/json";
}

/* The probe task's state in Redis (the live status), or NULL. */
static char *probe_state(api_req_t *req, const char *id, json_t **error, json_t **result)
{
    df_error_t err;
    redisReply *r;
    char *state = NULL;

    df_error_init(&err);
    r = df_redis_command(req->redis, &err, "HMGET df:task:%s state error_code error result", id);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 && r->element[0]->str) {
        state = strdup(r->element[0]->str);
        if (r->element[1]->str)
            *error = json_pack("{s:s, s:s}", "code", r->element[1]->str, "message",
                               r->element[2]->str ? r->element[2]->str : "");
        if (r->element[3]->str)
            *result = json_loads(r->element[3]->str, 0, NULL);
    }
    if (r)
        freeReplyObject(r);
    return state;
}

static void test_connector(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "timeout_ms", NULL };
    int64_t timeout_ms, end;
    json_t *view = NULL, *task, *error = NULL, *result = NULL;
    df_error_t err;
    char id[DF_ID_BUF];
    char *state = NULL;

    if (!api_query_only(req, resp, allowed) || !name_ok(req, resp) ||
        !api_query_int(req, resp, "timeout_ms", 30000, 100, 120000, &timeout_ms) ||
        !api_need_pg(req, resp) || !api_need_redis(req, resp))
        return;
    df_error_init(&err);
    if (df_connector_store_get(req->pg, req->params[0], &view, &err) != DF_OK) {
        store_error(resp, &err);
        return;
    }
    json_decref(view);
    df_id_ulid(id);
    task = json_pack("{s:s, s:s, s:s, s:{}, s:i, s:s}", "task_id", id, "type", "probe", "connector",
                     req->params[0], "params", "max_attempts", 1, "submitted_by", req->actor);
    if (api_submit(req->server, task, api_header_in(req, "traceparent"), &err) != DF_OK) {
        json_decref(task);
        api_df_error(resp, &err);
        return;
    }
    json_decref(task);
    end = df_mono_ms() + timeout_ms;
    for (;;) {
        free(state);
        json_decref(error);
        json_decref(result);
        error = result = NULL;
        state = probe_state(req, id, &error, &result);
        if ((state && df_state_is_terminal(state)) || df_mono_ms() >= end)
            break;
        usleep(100 * 1000);
    }
    if (!state || !df_state_is_terminal(state)) {
        api_error(resp, MHD_HTTP_GATEWAY_TIMEOUT, "timeout", "timeout_ms",
                  "probe task %s did not finish within %lld ms (state: %s); follow it at "
                  "/v1/tasks/%s",
                  id, (long long)timeout_ms, state ? state : "not started", id);
    } else {
        json_t *body = json_pack("{s:s, s:s, s:s, s:b}", "connector", req->params[0], "task_id", id,
                                 "state", state, "ok", strcmp(state, "succeeded") == 0);
        if (error)
            json_object_set(body, "error", error);
        if (result)
            json_object_set(body, "result", result);
        api_json(resp, MHD_HTTP_OK, body);
    }
    free(state);
    json_decref(error);
    json_decref(result);
}

const api_route_t api_connectors_routes[] = {
    { "GET", "/v1/connectors", API_ROLE_READ, 0, list_connectors },
    { "POST", "/v1/connectors", API_ROLE_ADMIN, API_BODY | API_AUDIT, create_connector },
    { "GET", "/v1/connectors/{name}", API_ROLE_READ, 0, get_connector },
    { "PUT", "/v1/connectors/{name}", API_ROLE_ADMIN, API_BODY | API_AUDIT, replace_connector },
    { "DELETE", "/v1/connectors/{name}", API_ROLE_ADMIN, API_AUDIT, delete_connector },
    { "POST", "/v1/connectors/{name}/test", API_ROLE_SUBMIT, 0, test_connector },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
