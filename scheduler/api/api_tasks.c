/* api_tasks: /v1/tasks. Submitting goes through the same df_submit path as
 * the CLI (validation, the `queued` event, Kafka's acks=all before 202);
 * reading merges PostgreSQL's history (tasks, task_events, task_logs) with
 * the live hash in Redis (df:task:{id}), which is ahead of the history by
 * the recorder's batch. Cancel sets the flag workers check between chunks
 * and polls (df:cancel:{id}); retry submits a new task with the same
 * message, labelled retry_of. */
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "df_id.h"
#include "df_log.h"
#include "df_task.h"
#include "task_history.h"

/* One task row as JSON, built by PostgreSQL (df_ts: RFC 3339 UTC). */
#define TASK_JSON                                                                             \
    "jsonb_build_object('task_id', task_id, 'type', type, 'connector', connector, 'state',"   \
    " state, 'attempt', attempt, 'max_attempts', max_attempts, 'ordering_key', ordering_key," \
    " 'schedule_id', schedule_id, 'pipeline_run_id', pipeline_run_id, 'pipeline_step',"       \
    " pipeline_step, 'submitted_by', submitted_by, 'submitted_at', df_ts(submitted_at),"      \
    " 'started_at', df_ts(started_at), 'finished_at', df_ts(finished_at), 'updated_at',"      \
    " df_ts(updated_at), 'deadline', df_ts(deadline), 'worker', worker, 'error', CASE WHEN"   \
    " error_code IS NULL THEN NULL ELSE jsonb_build_object('code', error_code, 'message',"    \
    " error_message) END, 'result', result, 'progress', progress, 'labels', labels)"

#define IDEM_TTL_S 86400

/* ---- submit ---------------------------------------------------------------------------- */

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static void accepted(api_resp_t *resp, unsigned status, const char *task_id, json_t *extra)
{
    json_t *body = json_pack("{s:s, s:s, s:{s:s+}}", "task_id", task_id, "state", "queued", "links",
                             "self", "/v1/tasks/", task_id);

    if (extra)
        json_object_update(body, extra);
    json_decref(extra);
    api_header(resp, "Location", "/v1/tasks/%s", task_id);
    api_json(resp, status, body);
}

/* Idempotency-Key: the first request with a key claims it for its task id
 * (Redis, 24 h, per token); a repeat with the same body gets that task id
 * back (200) without submitting again, one with another body a 409. */
static bool idempotency_claim(api_req_t *req, api_resp_t *resp, const char *key,
                              const char *body_hash, const char *task_id, char *rkey,
                              size_t rkey_len)
{
    char keyhash[65], value[128];
    redisReply *r;
    df_error_t err;
    size_t klen = strlen(key);

    if (klen < 1 || klen > 255) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "Idempotency-Key",
                  "Idempotency-Key: expected 1 to 255 characters");
        return false;
    }
    for (size_t i = 0; i < klen; i++) {
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e) {
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "Idempotency-Key",
                      "Idempotency-Key: expected printable ASCII without spaces");
            return false;
        }
    }
    if (!api_need_redis(req, resp))
        return false;
    sha256_hex(key, klen, keyhash);
    snprintf(rkey, rkey_len, "df:idem:%s:%s", req->actor, keyhash);
    snprintf(value, sizeof(value), "%s %s", task_id, body_hash);
    df_error_init(&err);
    r = df_redis_command(req->redis, &err, "SET %s %s NX EX %d", rkey, value, IDEM_TTL_S);
    if (!r) {
        api_df_error(resp, &err);
        return false;
    }
    if (r->type == REDIS_REPLY_STATUS) {
        freeReplyObject(r);
        return true; /* claimed: go on and submit */
    }
    freeReplyObject(r);
    r = df_redis_command(req->redis, &err, "GET %s", rkey);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r)
            freeReplyObject(r);
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "Idempotency-Key",
                  "a request with this Idempotency-Key is being processed; retry shortly");
        api_header(resp, "Retry-After", "1");
        return false;
    }
    {
        char earlier[DF_ID_BUF] = "", hash[65] = "";
        if (sscanf(r->str, "%31s %64s", earlier, hash) == 2 && strcmp(hash, body_hash) == 0)
            accepted(resp, MHD_HTTP_OK, earlier, json_pack("{s:b}", "idempotent_replay", 1));
        else
            api_error(resp, MHD_HTTP_CONFLICT, "conflict", "Idempotency-Key",
                      "this Idempotency-Key was used with a different body");
    }
    freeReplyObject(r);
    return false;
}

static void idempotency_release(api_req_t *req, const char *rkey)
{
    df_error_t err;
    redisReply *r;

    df_error_init(&err);
    r = df_redis_command(req->redis, &err, "DEL %s", rkey);
    if (r)
        freeReplyObject(r);
}

/* Submit task (borrowed, filled in) on behalf of req's token. */
static bool submit(api_req_t *req, api_resp_t *resp, json_t *task)
{
    df_error_t err;
    const char *traceparent = api_header_in(req, "traceparent");

    if (!json_object_get(task, "submitted_by"))
        json_object_set_new(task, "submitted_by", json_string(req->actor));
    df_error_init(&err);
    if (api_submit(req->server, task, traceparent, &err) != DF_OK) {
        if (err.code == DF_ERR_INVALID)
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", err.field, "%s", err.message);
        else
            api_df_error(resp, &err);
        return false;
    }
    return true;
}

static void post_task(api_req_t *req, api_resp_t *resp)
{
    const char *key = api_header_in(req, "Idempotency-Key");
    char rkey[200] = "", body_hash[65], task_id[DF_ID_BUF];
    json_t *task;
    char *canon;

    if (!api_query_only(req, resp, NULL))
        return;
    /* the message schema takes any 26 base32 characters, but an id that is
     * not a ULID or a UUID could not be read back at /v1/tasks/{id} */
    if (json_is_string(json_object_get(req->body, "task_id")) &&
        !df_id_valid(json_string_value(json_object_get(req->body, "task_id")))) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "/task_id",
                  "task_id: expected a ULID (26 base32 characters, the first 0 to 7) or a UUID");
        return;
    }
    task = json_deep_copy(req->body);
    if (!task) {
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "out of memory");
        return;
    }
    if (key) {
        canon = json_dumps(req->body, JSON_COMPACT | JSON_SORT_KEYS);
        sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, body_hash);
        free(canon);
        if (json_is_string(json_object_get(task, "task_id")))
            snprintf(task_id, sizeof(task_id), "%s",
                     json_string_value(json_object_get(task, "task_id")));
        else
            df_id_ulid(task_id);
        if (!json_object_get(task, "task_id"))
            json_object_set_new(task, "task_id", json_string(task_id));
        if (!idempotency_claim(req, resp, key, body_hash, task_id, rkey, sizeof(rkey))) {
            json_decref(task);
            return;
        }
    }
    if (submit(req, resp, task)) {
        accepted(resp, MHD_HTTP_ACCEPTED, json_string_value(json_object_get(task, "task_id")),
                 NULL);
    } else if (rkey[0]) {
        idempotency_release(req, rkey);
    }
    json_decref(task);
}

/* ---- list ---------------------------------------------------------------------------------- */

static void list_tasks(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "state", "type",  "connector", "schedule",     "since",
                                           "until", "limit", "cursor",    "pipeline_run", NULL };
    const char *state, *type, *cursor = api_query(req, "cursor");
    const char *connector = api_query(req, "connector"), *schedule = api_query(req, "schedule");
    const char *pipeline_run = api_query(req, "pipeline_run");
    int64_t limit, since, until;
    bool has_since, has_until;
    char after[300] = "", since_s[24], until_s[24], limit_s[24];
    const char *params[9];
    json_t *rows, *page;
    size_t n;

    if (!api_query_only(req, resp, allowed) ||
        !api_query_enum(req, resp, "state",
                        "queued|running|retrying|succeeded|failed|dead|cancelled", &state) ||
        !api_query_enum(req, resp, "type", "export|refresh|lineage|probe", &type) ||
        !api_query_int(req, resp, "limit", 50, 1, 500, &limit) ||
        !api_query_time(req, resp, "since", &since, &has_since) ||
        !api_query_time(req, resp, "until", &until, &has_until))
        return;
    if (cursor && !api_cursor_decode(cursor, resp, after, sizeof(after)))
        return;
    snprintf(since_s, sizeof(since_s), "%lld", (long long)since);
    snprintf(until_s, sizeof(until_s), "%lld", (long long)until);
    snprintf(limit_s, sizeof(limit_s), "%lld", (long long)limit + 1);
    params[0] = state;
    params[1] = type;
    params[2] = connector;
    params[3] = schedule;
    params[4] = has_since ? since_s : NULL;
    params[5] = has_until ? until_s : NULL;
    params[6] = after[0] ? after : NULL;
    params[7] = limit_s;
    params[8] = pipeline_run;
    rows = api_pg_json(
        req, resp,
        "SELECT coalesce(jsonb_agg(t ORDER BY task_id DESC), '[]')::text FROM (SELECT " TASK_JSON
        " AS t, task_id FROM tasks WHERE ($1::text IS NULL OR state = $1)"
        " AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR connector = $3)"
        " AND ($4::text IS NULL OR schedule_id = $4)"
        " AND ($5::bigint IS NULL OR coalesce(submitted_at, updated_at) >= to_timestamp($5::bigint"
        " / 1000.0)) AND ($6::bigint IS NULL OR coalesce(submitted_at, updated_at) <"
        " to_timestamp($6::bigint / 1000.0)) AND ($7::text IS NULL OR task_id < $7)"
        " AND ($9::text IS NULL OR pipeline_run_id = $9)"
        " ORDER BY task_id DESC LIMIT $8::integer) s",
        9, params);
    if (!rows)
        return;
    n = json_array_size(rows);
    page = json_object();
    if (n > (size_t)limit) {
        const char *last =
            json_string_value(json_object_get(json_array_get(rows, (size_t)limit - 1), "task_id"));
        char *next = api_cursor_encode(last ? last : "");
        json_array_remove(rows, (size_t)limit);
        json_object_set_new(page, "next_cursor", next ? json_string(next) : json_null());
        free(next);
    } else {
        json_object_set_new(page, "next_cursor", json_null());
    }
    json_object_set_new(page, "tasks", rows);
    api_json(resp, MHD_HTTP_OK, page);
}

/* ---- one task ------------------------------------------------------------------------------ */

static bool in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* The live hash df:task:{id} as an object (NULL when Redis has none or
 * cannot be asked: the history answers alone then). Workers and the
 * recorder write its times as RFC 3339 text, shown as they are; a time
 * held as Unix milliseconds (digits only) is formatted. */
static json_t *live_state(api_req_t *req, const char *id)
{
    static const char *const fields[] = { "state",      "attempt",    "worker", "type",
                                          "connector",  "rows",       "chunks", "updated_at",
                                          "started_at", "error_code", "error",  "finished_at",
                                          NULL };
    static const char *const numbers[] = { "attempt", "rows", "chunks", NULL };
    static const char *const times[] = { "updated_at", "started_at", "finished_at", NULL };
    df_error_t err;
    redisReply *r;
    json_t *live;

    if (!req->redis)
        return NULL;
    df_error_init(&err);
    r = df_redis_command(req->redis, &err, "HGETALL df:task:%s", id);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        if (r)
            freeReplyObject(r);
        return NULL;
    }
    live = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        if (!k || !v || !in_list(fields, k))
            continue;
        if (in_list(numbers, k)) {
            json_object_set_new(live, k, json_integer(strtoll(v, NULL, 10)));
        } else if (in_list(times, k) && *v && strspn(v, "0123456789") == strlen(v)) {
            char ts[40];
            df_time_format(strtoll(v, NULL, 10), ts, sizeof(ts));
            json_object_set_new(live, k, json_string(ts));
        } else {
            json_object_set_new(live, k, json_string(v));
        }
    }
    freeReplyObject(r);
    return live;
}

/* The history row (JSON null when PostgreSQL has none), or NULL with an
 * answer set. with_message adds the original task message. */
static json_t *history_row(api_req_t *req, api_resp_t *resp, const char *id, bool with_message)
{
    const char *params[1] = { id };

    return api_pg_json(req, resp,
                       with_message ? "SELECT (" TASK_JSON " || jsonb_build_object('task', task))"
                                      "::text FROM tasks WHERE task_id = $1"
                                    : "SELECT " TASK_JSON "::text FROM tasks WHERE task_id = $1",
                       1, params);
}

/* A task the history has not recorded yet (the recorder's batch is behind
 * Redis), in the history's shape from its live hash: what the hash does not
 * hold is null. NULL when the hash has no state or time to show. */
static json_t *row_from_live(const char *id, json_t *live)
{
    static const char *const from_live[] = { "type",       "connector",   "worker",
                                             "started_at", "finished_at", NULL };
    static const char *const unset[] = { "max_attempts",    "ordering_key",  "schedule_id",
                                         "pipeline_run_id", "pipeline_step", "submitted_by",
                                         "submitted_at",    "deadline",      "result",
                                         "progress",        "task",          NULL };
    json_t *state = json_object_get(live, "state"), *updated = json_object_get(live, "updated_at");
    json_t *attempt = json_object_get(live, "attempt"), *code = json_object_get(live, "error_code");
    json_int_t n = json_integer_value(attempt);
    json_t *row;

    if (!json_is_string(state) || !json_is_string(updated))
        return NULL;
    row = json_pack("{s:s, s:O, s:O, s:I, s:{}}", "task_id", id, "state", state, "updated_at",
                    updated, "attempt", n > 0 ? n : 1, "labels");
    for (size_t i = 0; from_live[i]; i++) {
        json_t *v = json_object_get(live, from_live[i]);
        json_object_set_new(row, from_live[i], v ? json_incref(v) : json_null());
    }
    for (size_t i = 0; unset[i]; i++)
        json_object_set_new(row, unset[i], json_null());
    json_object_set_new(row, "error",
                        json_is_string(code) ? json_pack("{s:O, s:O?}", "code", code, "message",
                                                         json_object_get(live, "error"))
                                             : json_null());
    return row;
}

static void get_task(api_req_t *req, api_resp_t *resp)
{
    const char *id = req->params[0];
    json_t *row, *live;

    if (!api_query_only(req, resp, NULL) || !api_param_id(req, resp, 0, "id"))
        return;
    row = history_row(req, resp, id, true);
    if (!row)
        return;
    live = live_state(req, id);
    if (json_is_null(row)) {
        json_decref(row);
        row = live ? row_from_live(id, live) : NULL;
        if (!row) {
            json_decref(live);
            api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "id", "no task %s", id);
            return;
        }
    }
    if (live) {
        const char *live_state_s = json_string_value(json_object_get(live, "state"));
        const char *pg_state = json_string_value(json_object_get(row, "state"));
        /* Redis is ahead of the recorder's batch; a recorded terminal
         * state is final all the same. */
        if (live_state_s && !(pg_state && df_state_is_terminal(pg_state))) {
            json_object_set(row, "state", json_object_get(live, "state"));
            if (json_object_get(live, "attempt"))
                json_object_set(row, "attempt", json_object_get(live, "attempt"));
            if (json_object_get(live, "worker"))
                json_object_set(row, "worker", json_object_get(live, "worker"));
        }
        json_object_set_new(row, "live", live);
    } else {
        json_object_set_new(row, "live", json_null());
    }
    api_json(resp, MHD_HTTP_OK, row);
}

/* 404 unless the task is known to the history or to Redis. */
static bool task_known(api_req_t *req, api_resp_t *resp, const char *id)
{
    const char *params[1] = { id };
    json_t *found, *live;

    found = api_pg_json(req, resp, "SELECT 'true' FROM tasks WHERE task_id = $1", 1, params);
    if (!found)
        return false;
    if (json_is_true(found)) {
        json_decref(found);
        return true;
    }
    json_decref(found);
    live = live_state(req, id);
    if (live) {
        json_decref(live);
        return true;
    }
    api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "id", "no task %s", id);
    return false;
}

/* A history list (events or logs) of a known task, as {"task_id", key: [...]}. */
static void history_list(api_req_t *req, api_resp_t *resp, const char *key, df_code_t rc,
                         json_t *list, const df_error_t *err)
{
    if (rc != DF_OK) {
        api_df_error(resp, err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, json_pack("{s:s, s:o}", "task_id", req->params[0], key, list));
}

static void get_events(api_req_t *req, api_resp_t *resp)
{
    json_t *events = NULL;
    df_error_t err;
    df_code_t rc;

    if (!api_query_only(req, resp, NULL) || !api_param_id(req, resp, 0, "id") ||
        !task_known(req, resp, req->params[0]))
        return;
    df_error_init(&err);
    rc =
        df_task_events_list(req->pg, req->params[0], NULL, DF_TASK_HISTORY_LIST_MAX, &events, &err);
    history_list(req, resp, "events", rc, events, &err);
}

static void get_logs(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "attempt", NULL };
    int64_t attempt;
    json_t *logs = NULL;
    df_error_t err;
    df_code_t rc;

    if (!api_query_only(req, resp, allowed) || !api_param_id(req, resp, 0, "id") ||
        !api_query_int(req, resp, "attempt", 0, 0, 100, &attempt) ||
        !task_known(req, resp, req->params[0]))
        return;
    df_error_init(&err);
    rc = df_task_logs_list(req->pg, req->params[0], (int)attempt, 0, DF_TASK_HISTORY_LIST_MAX,
                           &logs, &err);
    history_list(req, resp, "logs", rc, logs, &err);
}

/* ---- cancel and retry -------------------------------------------------------------------------
 */

/* The task's current state (live first), or NULL (answer set: 404/503). */
static char *current_state(api_req_t *req, api_resp_t *resp, const char *id)
{
    json_t *row = history_row(req, resp, id, false), *live;
    const char *s = NULL;
    char *out = NULL;

    if (!row)
        return NULL;
    live = live_state(req, id);
    if (json_is_object(row) &&
        df_state_is_terminal(json_string_value(json_object_get(row, "state"))))
        s = json_string_value(json_object_get(row, "state"));
    else if (live)
        s = json_string_value(json_object_get(live, "state"));
    if (!s && json_is_object(row))
        s = json_string_value(json_object_get(row, "state"));
    if (s)
        out = strdup(s);
    else
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "id", "no task %s", id);
    json_decref(row);
    json_decref(live);
    return out;
}

static void cancel_task(api_req_t *req, api_resp_t *resp)
{
    const char *id = req->params[0];
    const char *params[1] = { id };
    char *state;
    df_error_t err;
    redisReply *r;

    if (!api_query_only(req, resp, NULL) || !api_param_id(req, resp, 0, "id") ||
        !api_need_redis(req, resp) || !(state = current_state(req, resp, id)))
        return;
    if (df_state_is_terminal(state)) {
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "id", "task %s is already %s", id, state);
        free(state);
        return;
    }
    df_error_init(&err);
    r = df_redis_command(req->redis, &err, "SET df:cancel:%s %s EX %d", id, req->actor,
                         DF_TASK_KEEP_S);
    if (!r) {
        api_df_error(resp, &err);
        free(state);
        return;
    }
    freeReplyObject(r);
    /* A retry or poll waiting in delayed_tasks is made due now: the worker
     * that takes it sees the flag and ends it cancelled. */
    if (req->pg)
        (void)df_pg_run(req->pg, "UPDATE delayed_tasks SET due_at = now() WHERE task_id = $1", 1,
                        params, NULL, &err);
    api_json(resp, MHD_HTTP_ACCEPTED,
             json_pack("{s:s, s:s, s:b}", "task_id", id, "state", state, "cancel_requested", 1));
    free(state);
}

static void retry_task(api_req_t *req, api_resp_t *resp)
{
    static const char *const drop[] = { "task_id",      "attempt",     "submitted_at", "deadline",
                                        "submitted_by", "schedule_id", "pipeline",     NULL };
    const char *id = req->params[0];
    json_t *row, *task, *labels;
    const char *state;

    if (!api_query_only(req, resp, NULL) || !api_param_id(req, resp, 0, "id"))
        return;
    row = history_row(req, resp, id, true);
    if (!row)
        return;
    if (json_is_null(row)) {
        json_decref(row);
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "id", "no task %s in the history", id);
        return;
    }
    state = json_string_value(json_object_get(row, "state"));
    if (!state || !(strcmp(state, "failed") == 0 || strcmp(state, "dead") == 0 ||
                    strcmp(state, "cancelled") == 0)) {
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "id",
                  "task %s is %s: only failed, dead or cancelled tasks can be retried", id,
                  state ? state : "unknown");
        json_decref(row);
        return;
    }
    task = json_deep_copy(json_object_get(row, "task"));
    json_decref(row);
    if (!json_is_object(task)) {
        json_decref(task);
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "id",
                  "the history does not hold task %s's message, so it cannot be retried", id);
        return;
    }
    for (size_t i = 0; drop[i]; i++)
        json_object_del(task, drop[i]);
    labels = json_object_get(task, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(task, "labels", labels);
    }
    json_object_set_new(labels, "retry_of", json_string(id));
    if (submit(req, resp, task))
        accepted(resp, MHD_HTTP_ACCEPTED, json_string_value(json_object_get(task, "task_id")),
                 json_pack("{s:s}", "retry_of", id));
    json_decref(task);
}

const api_route_t api_tasks_routes[] = {
    { "POST", "/v1/tasks", API_ROLE_SUBMIT, API_BODY, post_task },
    { "GET", "/v1/tasks", API_ROLE_READ, 0, list_tasks },
    { "GET", "/v1/tasks/{id}", API_ROLE_READ, 0, get_task },
    { "GET", "/v1/tasks/{id}/events", API_ROLE_READ, 0, get_events },
    { "GET", "/v1/tasks/{id}/logs", API_ROLE_READ, 0, get_logs },
    { "POST", "/v1/tasks/{id}/cancel", API_ROLE_SUBMIT, 0, cancel_task },
    { "POST", "/v1/tasks/{id}/retry", API_ROLE_SUBMIT, 0, retry_task },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
