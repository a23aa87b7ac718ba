/* api_fleet: /v1/workers (the heartbeats in Redis, with the tasks the
 * history shows each worker running) and /v1/dlq (the dead letters the
 * recorder keeps in PostgreSQL: browse, requeue one as a new task, purge;
 * dlq_store.h). */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dlq_store.h"
#include "df_id.h"
#include "df_submit.h"
#include "workers_view.h"

static void list_workers(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "stale_ms", NULL };
    int64_t stale_ms;
    json_t *workers = NULL, *running;
    df_error_t err;
    size_t i;
    json_t *w;

    if (!api_query_only(req, resp, allowed) ||
        !api_query_int(req, resp, "stale_ms", 15000, 1, 86400000, &stale_ms) ||
        !api_need_redis(req, resp))
        return;
    df_error_init(&err);
    if (df_workers_list(req->redis, stale_ms, &workers, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    /* what each runs, as the history knows it */
    running = api_pg_json(req, resp,
                          "SELECT coalesce(jsonb_object_agg(worker, tasks), '{}')::text FROM"
                          " (SELECT worker, jsonb_agg(jsonb_build_object('task_id', task_id,"
                          " 'type', type, 'connector', connector, 'started_at', df_ts(started_at))"
                          " ORDER BY started_at) AS tasks FROM tasks WHERE state = 'running'"
                          " AND worker IS NOT NULL GROUP BY worker) s",
                          0, NULL);
    if (!running) {
        json_decref(workers);
        return;
    }
    json_array_foreach(workers, i, w)
    {
        json_t *tasks = json_object_get(running, json_string_value(json_object_get(w, "id")));
        json_object_set(w, "tasks", tasks ? tasks : json_array());
        if (!tasks)
            json_decref(json_object_get(w, "tasks")); /* the empty array's own reference */
    }
    json_decref(running);
    api_json(resp, MHD_HTTP_OK, json_pack("{s:o}", "workers", workers));
}

/* ---- the DLQ ---------------------------------------------------------------------- */

/* A DLQ message id in the path. */
static bool dlq_id(api_req_t *req, api_resp_t *resp, int64_t *id)
{
    const char *text = req->params[0];
    char *end;
    long long v = strtoll(text, &end, 10);

    if (!*text || *end || v < 1) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "id",
                  "id: expected a DLQ message id (a positive integer), got \"%.64s\"", text);
        return false;
    }
    *id = v;
    return true;
}

static void list_dlq(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "state", "task_id", "since", "before",
                                           "limit", "cursor",  NULL };
    const char *cursor = api_query(req, "cursor");
    df_dlq_filter_t filter = { 0 };
    int64_t limit, after = 0;
    bool has;
    char text[32];
    json_t *page = NULL, *next;
    df_error_t err;

    if (!api_query_only(req, resp, allowed) ||
        !api_query_enum(req, resp, "state", "dead|requeued|purged", &filter.state) ||
        !api_query_int(req, resp, "limit", 50, 1, 500, &limit) ||
        !api_query_time(req, resp, "since", &filter.since_ms, &has) ||
        !api_query_time(req, resp, "before", &filter.before_ms, &has) || !api_need_pg(req, resp))
        return;
    filter.task_id = api_query(req, "task_id");
    if (cursor) {
        char *end;
        if (!api_cursor_decode(cursor, resp, text, sizeof(text)))
            return;
        after = strtoll(text, &end, 10);
        if (*end || after < 0) {
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "cursor",
                      "cursor: not a cursor this API gave out");
            return;
        }
    }
    df_error_init(&err);
    if (df_dlq_list(req->pg, &filter, after, (int)limit, &page, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    next = json_object_get(page, "next_after");
    if (json_is_integer(next)) {
        char *c;
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(next));
        c = api_cursor_encode(text);
        json_object_set_new(page, "next_cursor", c ? json_string(c) : json_null());
        free(c);
    } else {
        json_object_set_new(page, "next_cursor", json_null());
    }
    json_object_del(page, "next_after");
    api_json(resp, MHD_HTTP_OK, page);
}

static void get_dlq(api_req_t *req, api_resp_t *resp)
{
    int64_t id;
    json_t *msg = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !dlq_id(req, resp, &id) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_dlq_get(req->pg, id, &msg, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, msg);
}

static void requeue_dlq(api_req_t *req, api_resp_t *resp)
{
    const df_scheduler_config_t *cfg = api_config(req->server);
    df_submit_config_t kafka = {
        .brokers = cfg->common.kafka_brokers,
        .topic_prefix = cfg->common.topic_prefix,
        .partitions = (int)cfg->common.partitions,
        .ensure_topics = true,
        .source = "datafleet-api",
    };
    int64_t id;
    json_t *out = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !dlq_id(req, resp, &id) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_dlq_requeue(req->pg, &kafka, id, req->actor, 15000, &out, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    resp->audit = json_incref(out);
    api_json(resp, MHD_HTTP_ACCEPTED,
             json_pack("{s:O, s:O, s:O, s:s}", "id", json_object_get(out, "id"), "task_id",
                       json_object_get(out, "requeued_as"), "requeued_from",
                       json_object_get(out, "task_id"), "state", "queued"));
    json_decref(out);
}

static void purge_dlq(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "before", "all", "task_id", NULL };
    json_t *before = json_object_get(req->body, "before");
    json_t *all = json_object_get(req->body, "all");
    json_t *task_id = json_object_get(req->body, "task_id");
    df_dlq_filter_t filter = { 0 };
    long long purged = 0;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !api_body_only(req, resp, allowed))
        return;
    if (all && !json_is_boolean(all)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "/all", "all: expected true or false");
        return;
    }
    if (task_id && !json_is_string(task_id)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "/task_id", "task_id: expected a string");
        return;
    }
    /* a time at or before 1970 would be no condition at all: purge everything */
    if (before &&
        (!json_is_string(before) || !df_time_parse(json_string_value(before), &filter.before_ms) ||
         filter.before_ms <= 0)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "/before",
                  "before: expected an RFC 3339 time after 1970 (2026-01-31T12:00:00Z)");
        return;
    }
    if (!json_is_true(all) && !before && !task_id) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "body",
                  "say what to purge: \"before\" (a time), \"task_id\", or \"all\": true");
        return;
    }
    if (!api_need_pg(req, resp))
        return;
    filter.state = "dead";
    filter.task_id = json_string_value(task_id);
    df_error_init(&err);
    if (df_dlq_purge(req->pg, 0, &filter, &purged, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    resp->audit = json_pack("{s:O?, s:O?, s:O?, s:I}", "before", before, "task_id", task_id, "all",
                            all, "purged", (json_int_t)purged);
    api_json(resp, MHD_HTTP_OK, json_pack("{s:I}", "purged", (json_int_t)purged));
}

static void delete_dlq(api_req_t *req, api_resp_t *resp)
{
    int64_t id;
    long long purged = 0;
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !dlq_id(req, resp, &id) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_dlq_purge(req->pg, id, NULL, &purged, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, json_pack("{s:I}", "purged", (json_int_t)purged));
}

const api_route_t api_fleet_routes[] = {
    { "GET", "/v1/workers", API_ROLE_READ, 0, list_workers },
    { "GET", "/v1/dlq", API_ROLE_READ, 0, list_dlq },
    { "POST", "/v1/dlq/purge", API_ROLE_ADMIN, API_BODY | API_AUDIT, purge_dlq },
    { "GET", "/v1/dlq/{id}", API_ROLE_READ, 0, get_dlq },
    { "DELETE", "/v1/dlq/{id}", API_ROLE_ADMIN, API_AUDIT, delete_dlq },
    { "POST", "/v1/dlq/{id}/requeue", API_ROLE_ADMIN, API_AUDIT, requeue_dlq },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
