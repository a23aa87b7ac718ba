/* api_status: GET /v1/stats, the one summary the status page (GET /) polls,
 * built from PostgreSQL's history and Redis' live worker set. Each part is
 * a bounded query on an index: live states (tasks_state_idx), the last
 * 24 h (tasks_submitted_at_idx), failures (state), running pipeline runs
 * (pipeline_runs_live_idx), schedules (at most 50, each with its last fire
 * from schedule_fires' primary key). The PostgreSQL part is cached for
 * STATS_CACHE_MS so that many open pages cost one computation per second.
 *
 * The answer (docs/API.md, "Status page"):
 *
 * {"generated_at": time,
 *  "tasks": {
 *    "live": {"queued": n, "running": n, "retrying": n},     all tasks now in a live state
 *    "last_24h": {"since": time, "total": n,                  tasks submitted since `since`
 *                 "by_state": {state: n},                     (only states seen)
 *                 "by_type": {type: {state: n}}}},            type "unknown" when not recorded
 *  "throughput": {"bucket_seconds": 60, "buckets": [           30 minutes, oldest first,
 *                 {"at": time, "succeeded": n, "failed": n}]}, by finished_at (failed + dead)
 *  "recent_failures": [{"task_id", "type", "connector", "state" (failed|dead), "attempt",
 *                       "error": {"code", "message"}|null, "at"}],  last 24 h, newest first, <= 20
 *  "dlq": {"dead": n, "requeued": n, "purged": n, "total": n, "last_received_at": time|null}
 *         | null (no dlq_messages table in this database yet),
 *  "pipelines": {"running": n, "runs": [{"run_id", "pipeline", "schedule_id", "started_at",
 *                "steps_total", "steps_succeeded", "steps": [{"step", "state", "task_id"}]}]},
 *                                                             newest first, <= 20
 *  "schedules": {"total": n, "enabled": n, "paused": n,
 *                "items": [{"id", "name", "expression", "timezone", "kind" (task|pipeline),
 *                           "enabled", "paused", "last_fired_at", "next_fire_at",
 *                           "last_run": {"fire_time", "task_id", "pipeline_run_id",
 *                                        "state"}|null}]},   by next fire, <= 50
 *  "workers": {"alive": n, "stale": n, "running_tasks": n} | null (Redis not reachable)}
 *
 * Workers are alive when their heartbeat (df:workers) is under 15 s old,
 * as datafleet_workers_alive counts them; running_tasks adds up what the
 * alive ones announce. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "df_id.h"
#include "df_log.h"

#define STATS_CACHE_MS  1000
#define WORKER_FRESH_MS 15000

/* Everything but the DLQ, in one statement (one snapshot). dlq_table says
 * whether the DLQ table exists: its query cannot even be planned before. */
static const char stats_sql[] =
    "WITH recent AS MATERIALIZED ("
    "  SELECT type, state, finished_at FROM tasks"
    "  WHERE submitted_at >= now() - interval '24 hours'),"
    " live AS (SELECT state, count(*) AS n FROM tasks"
    "  WHERE state IN ('queued', 'running', 'retrying') GROUP BY state),"
    " by_type AS (SELECT coalesce(type, 'unknown') AS type, jsonb_object_agg(state, n) AS states"
    "  FROM (SELECT type, state, count(*) AS n FROM recent GROUP BY type, state) c"
    "  GROUP BY coalesce(type, 'unknown')),"
    " minutes AS (SELECT m FROM generate_series(date_trunc('minute', now())"
    "  - interval '29 minutes', date_trunc('minute', now()), interval '1 minute') m),"
    " done AS (SELECT date_trunc('minute', finished_at) AS m,"
    "  count(*) FILTER (WHERE state = 'succeeded') AS ok,"
    "  count(*) FILTER (WHERE state IN ('failed', 'dead')) AS bad FROM recent"
    "  WHERE finished_at >= date_trunc('minute', now()) - interval '29 minutes' GROUP BY 1),"
    " failures AS (SELECT task_id, type, connector, state, attempt, error_code,"
    "  left(error_message, 500) AS error_message, coalesce(finished_at, updated_at) AS at"
    "  FROM tasks WHERE state IN ('failed', 'dead')"
    "  AND coalesce(finished_at, updated_at) >= now() - interval '24 hours'"
    "  ORDER BY coalesce(finished_at, updated_at) DESC LIMIT 20),"
    " runs AS (SELECT r.id, p.name, r.schedule_id, r.started_at FROM pipeline_runs r"
    "  JOIN pipelines p ON p.id = r.pipeline_id WHERE r.state = 'running'"
    "  ORDER BY r.started_at DESC LIMIT 20),"
    " scheds AS (SELECT * FROM schedules ORDER BY next_fire_at NULLS LAST, name LIMIT 50)"
    " SELECT jsonb_build_object("
    " 'generated_at', df_ts(now()),"
    " 'dlq_table', to_regclass('dlq_messages') IS NOT NULL,"
    " 'tasks', jsonb_build_object("
    "  'live', (SELECT jsonb_object_agg(s, coalesce(live.n, 0))"
    "   FROM unnest(ARRAY['queued', 'running', 'retrying']) s LEFT JOIN live ON live.state = s),"
    "  'last_24h', jsonb_build_object("
    "   'since', df_ts(now() - interval '24 hours'),"
    "   'total', (SELECT count(*) FROM recent),"
    "   'by_state', (SELECT coalesce(jsonb_object_agg(state, n), '{}')"
    "    FROM (SELECT state, count(*) AS n FROM recent GROUP BY state) s),"
    "   'by_type', (SELECT coalesce(jsonb_object_agg(type, states), '{}') FROM by_type))),"
    " 'throughput', jsonb_build_object('bucket_seconds', 60, 'buckets',"
    "  (SELECT jsonb_agg(jsonb_build_object('at', df_ts(minutes.m), 'succeeded',"
    "   coalesce(done.ok, 0), 'failed', coalesce(done.bad, 0)) ORDER BY minutes.m)"
    "   FROM minutes LEFT JOIN done ON done.m = minutes.m)),"
    " 'recent_failures', (SELECT coalesce(jsonb_agg(jsonb_build_object('task_id', task_id,"
    "  'type', type, 'connector', connector, 'state', state, 'attempt', attempt, 'error',"
    "  CASE WHEN error_code IS NULL AND error_message IS NULL THEN NULL ELSE"
    "  jsonb_build_object('code', error_code, 'message', error_message) END,"
    "  'at', df_ts(at)) ORDER BY at DESC), '[]') FROM failures),"
    " 'pipelines', jsonb_build_object("
    "  'running', (SELECT count(*) FROM pipeline_runs WHERE state = 'running'),"
    "  'runs', (SELECT coalesce(jsonb_agg(jsonb_build_object('run_id', runs.id, 'pipeline',"
    "   runs.name, 'schedule_id', runs.schedule_id, 'started_at', df_ts(runs.started_at),"
    "   'steps_total', st.total, 'steps_succeeded', st.ok, 'steps', st.steps)"
    "   ORDER BY runs.started_at DESC), '[]') FROM runs"
    "   LEFT JOIN LATERAL (SELECT count(*) AS total,"
    "    count(*) FILTER (WHERE state = 'succeeded') AS ok,"
    "    coalesce(jsonb_agg(jsonb_build_object('step', step, 'state', state, 'task_id', task_id)"
    "    ORDER BY started_at NULLS LAST, step), '[]') AS steps"
    "    FROM pipeline_steps WHERE run_id = runs.id) st ON true)),"
    " 'schedules', jsonb_build_object("
    "  'total', (SELECT count(*) FROM schedules),"
    "  'enabled', (SELECT count(*) FROM schedules WHERE enabled AND NOT paused),"
    "  'paused', (SELECT count(*) FROM schedules WHERE paused),"
    "  'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', scheds.id, 'name',"
    "   scheds.name, 'expression', scheds.expression, 'timezone', scheds.timezone, 'kind',"
    "   CASE WHEN scheds.pipeline IS NULL THEN 'task' ELSE 'pipeline' END,"
    "   'enabled', scheds.enabled, 'paused', scheds.paused,"
    "   'last_fired_at', df_ts(scheds.last_fired_at),"
    "   'next_fire_at', df_ts(scheds.next_fire_at), 'last_run', CASE WHEN lf.fire_time IS NULL"
    "   THEN NULL ELSE jsonb_build_object('fire_time', df_ts(lf.fire_time), 'task_id',"
    "   lf.task_id, 'pipeline_run_id', lf.pipeline_run_id, 'state', lf.state) END)"
    "   ORDER BY scheds.next_fire_at NULLS LAST, scheds.name), '[]') FROM scheds"
    "   LEFT JOIN LATERAL (SELECT f.fire_time, f.task_id, f.pipeline_run_id,"
    "    coalesce(t.state, pr.state) AS state FROM schedule_fires f"
    "    LEFT JOIN tasks t ON t.task_id = f.task_id"
    "    LEFT JOIN pipeline_runs pr ON pr.id = f.pipeline_run_id"
    "    WHERE f.schedule_id = scheds.id ORDER BY f.fire_time DESC LIMIT 1) lf ON true))"
    ")::text";

static const char dlq_sql[] =
    "SELECT jsonb_build_object('dead', count(*) FILTER (WHERE state = 'dead'),"
    " 'requeued', count(*) FILTER (WHERE state = 'requeued'),"
    " 'purged', count(*) FILTER (WHERE state = 'purged'), 'total', count(*),"
    " 'last_received_at', df_ts(max(received_at)))::text FROM dlq_messages";

/* Alive workers and what they run, in one round trip. */
static const char workers_lua[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf') "
    "local running = 0 "
    "for _, id in ipairs(ids) do "
    "  running = running + (tonumber(redis.call('HGET', 'df:worker:' .. id, 'running')) or 0) "
    "end "
    "return {#ids, redis.call('ZCARD', KEYS[1]) - #ids, running}";

/* The last PostgreSQL part computed, shared by the pool threads. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *cache_body;
static int64_t cache_at_ms;

/* The PostgreSQL part (new reference), or NULL with an answer set. */
static json_t *pg_part(api_req_t *req, api_resp_t *resp)
{
    json_t *body, *dlq = NULL;

    pthread_mutex_lock(&cache_lock);
    if (cache_body && df_mono_ms() - cache_at_ms < STATS_CACHE_MS) {
        body = json_deep_copy(cache_body);
        pthread_mutex_unlock(&cache_lock);
        return body;
    }
    pthread_mutex_unlock(&cache_lock);

    body = api_pg_json(req, resp, stats_sql, 0, NULL);
    if (!body)
        return NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL,
                  "the statistics query gave no row");
        return NULL;
    }
    if (json_is_true(json_object_get(body, "dlq_table"))) {
        dlq = api_pg_json(req, resp, dlq_sql, 0, NULL);
        if (!dlq) {
            json_decref(body);
            return NULL;
        }
    }
    json_object_del(body, "dlq_table");
    json_object_set_new(body, "dlq", dlq ? dlq : json_null());

    pthread_mutex_lock(&cache_lock);
    json_decref(cache_body);
    cache_body = json_deep_copy(body);
    cache_at_ms = df_mono_ms();
    pthread_mutex_unlock(&cache_lock);
    return body;
}

/* {"alive", "stale", "running_tasks"}, or JSON null when Redis cannot say. */
static json_t *workers_part(api_req_t *req)
{
    char since[24];
    df_error_t err;
    redisReply *r;
    json_t *out = NULL;

    if (!req->redis)
        return json_null();
    df_error_init(&err);
    snprintf(since, sizeof(since), "%lld", (long long)(df_now_ms() - WORKER_FRESH_MS));
    r = df_redis_command(req->redis, &err, "EVAL %s 1 df:workers %s", workers_lua, since);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[2]->type == REDIS_REPLY_INTEGER)
        out = json_pack("{s:I, s:I, s:I}", "alive", (json_int_t)r->element[0]->integer, "stale",
                        (json_int_t)r->element[1]->integer, "running_tasks",
                        (json_int_t)r->element[2]->integer);
    else
        df_warn("api: stats: workers from Redis: %s", r ? "unexpected reply" : err.message);
    if (r)
        freeReplyObject(r);
    return out ? out : json_null();
}

static void get_stats(api_req_t *req, api_resp_t *resp)
{
    json_t *body;

    if (!api_query_only(req, resp, NULL))
        return;
    body = pg_part(req, resp);
    if (!body)
        return;
    json_object_set_new(body, "workers", workers_part(req));
    api_json(resp, MHD_HTTP_OK, body);
}

const api_route_t api_status_routes[] = {
    { "GET", "/v1/stats", API_ROLE_READ, 0, get_stats },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
