/* reconcile: the cron leader's reconciler (see cron_role.h). Every
 * --reconcile-every it looks in the history for tasks that nobody is
 * running and nothing will wake:
 *
 *   - `queued` for longer than --stuck-queued (a lost dispatch: the task
 *     message never reached Kafka, or its topic was lost), or
 *   - `running` or `retrying` with no event for longer than --stuck-running,
 *
 * and that have no live lease in Redis, no terminal state in Redis (the
 * history may lag behind), and no delayed re-publish pending. Such a task
 * is published again from the message the history kept (same task id, so
 * it still runs once), or, when its deadline has passed or its message is
 * unknown and it can never run, ended `dead` (code `lost`) with a copy in
 * the DLQ. Each action is logged with the task id; totals are kept for the
 * metrics. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_role.h"
#include "df_id.h"
#include "df_kafka.h"
#include "df_kafka_producer.h"
#include "df_log.h"
#include "df_metrics.h"
#include "df_task.h"

#define BATCH    "200" /* tasks looked at per pass */
#define FLUSH_MS 10000

typedef struct reconcile {
    int64_t next_ms; /* monotonic time of the next pass */
    df_kafka_config_t kcfg;
    df_kafka_producer_t *producer; /* events and DLQ */
    char events_topic[DF_KAFKA_TOPIC_MAX];
    char dlq_topic[DF_KAFKA_TOPIC_MAX];
    df_redis_script_t end_script;
    unsigned long long republished, ended;
    df_metric_t *actions;
} reconcile_t;

/* KEYS: task hash, lease. ARGV: state, attempt, now, error code, error
 * message, event text, keep_s. Ends the task unless a run holds it or it
 * ended meanwhile. */
static const char end_lua[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 'busy' end\n"
    "local cur = redis.call('HGET', KEYS[1], 'state')\n"
    "if cur == 'succeeded' or cur == 'failed' or cur == 'dead' or cur == 'cancelled' then\n"
    "  return 'terminal' end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'attempt', ARGV[2], 'updated_at', ARGV[3],\n"
    "  'finished_at', ARGV[3], 'error_code', ARGV[4], 'error', ARGV[5], 'event', ARGV[6])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[7])\n"
    "redis.call('PUBLISH', 'df:status', cjson.encode({task_id = string.sub(KEYS[1], 9),\n"
    "  state = ARGV[1], attempt = tonumber(ARGV[2]), at = ARGV[3], error_code = ARGV[4]}))\n"
    "return 'ok'\n";

static reconcile_t *state_of(df_cron_ctx_t *ctx)
{
    reconcile_t *rc = ctx->reconcile;
    df_error_t err;

    if (rc)
        return rc;
    rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    df_error_init(&err);
    df_kafka_config_init(&rc->kcfg);
    snprintf(rc->kcfg.brokers, sizeof(rc->kcfg.brokers), "%s", ctx->cfg->common.kafka_brokers);
    snprintf(rc->kcfg.client_id, sizeof(rc->kcfg.client_id), "datafleet-scheduler-reconciler");
    if (ctx->cfg->common.topic_prefix)
        snprintf(rc->kcfg.prefix, sizeof(rc->kcfg.prefix), "%s", ctx->cfg->common.topic_prefix);
    if (df_kafka_topic_name(&rc->kcfg, DF_KAFKA_TOPIC_EVENTS, rc->events_topic,
                            sizeof(rc->events_topic), &err) ||
        df_kafka_topic_name(&rc->kcfg, DF_KAFKA_TOPIC_DLQ, rc->dlq_topic, sizeof(rc->dlq_topic),
                            &err) ||
        !(rc->producer = df_kafka_producer_new(&rc->kcfg, NULL, NULL, &err))) {
        df_warn("reconciler: Kafka: %s", err.message);
        free(rc);
        return NULL;
    }
    df_redis_script_init(&rc->end_script, end_lua);
    rc->actions =
        df_metric_counter("datafleet_reconciler_actions_total",
                          "Tasks the reconciler found with nobody on them, by what it did "
                          "(republished, ended).",
                          "action");
    /* Both series exist from the start: a board or rule reading them gets
     * 0, not "no data", until the reconciler first acts. */
    df_metric_inc(rc->actions, 0, "republished");
    df_metric_inc(rc->actions, 0, "ended");
    rc->next_ms = df_mono_ms() + ctx->cfg->reconcile_every_ms;
    ctx->reconcile = rc;
    return rc;
}

void df_reconcile_stop(df_cron_ctx_t *ctx)
{
    reconcile_t *rc = ctx->reconcile;

    if (!rc)
        return;
    df_kafka_producer_destroy(rc->producer);
    free(rc);
    ctx->reconcile = NULL;
}

/* What Redis knows of the task: "lease" (a run holds it), "terminal",
 * "" (neither), or NULL when Redis cannot tell now. */
static const char *redis_view(df_cron_ctx_t *ctx, const char *task_id)
{
    df_error_t err;
    redisReply *reply;
    char lease[300], hash[300];
    const char *view = "";

    snprintf(lease, sizeof(lease), "df:lease:%s", task_id);
    snprintf(hash, sizeof(hash), "df:task:%s", task_id);
    df_error_init(&err);
    reply = df_redis_command(ctx->redis, &err, "EXISTS %s", lease);
    if (!reply)
        return NULL;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        view = "lease";
    freeReplyObject(reply);
    if (*view)
        return view;
    reply = df_redis_command(ctx->redis, &err, "HGET %s state", hash);
    if (!reply)
        return NULL;
    if (reply->type == REDIS_REPLY_STRING && df_state_is_terminal(reply->str))
        view = "terminal";
    freeReplyObject(reply);
    return view;
}

static void send_json(reconcile_t *rc, const char *topic, const char *key, json_t *doc,
                      const char *schema, const char *reason)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    df_error_t err;

    df_error_init(&err);
    rd_kafka_header_add(h, "schema", -1, schema, -1);
    if (reason) {
        rd_kafka_header_add(h, "dlq_reason", -1, reason, -1);
        rd_kafka_header_add(h, "dlq_error", -1, "no worker ran the task before its deadline", -1);
        rd_kafka_header_add(h, "dlq_worker", -1, "datafleet-scheduler", -1);
    }
    if (!text || df_kafka_producer_send(rc->producer, topic, key, strlen(key), text, strlen(text),
                                        h, NULL, &err))
        df_error("reconciler: cannot send to %s: %s", topic, err.message);
    free(text);
}

/* End a task that can never run: Redis, the `dead` event, a DLQ copy. */
static void end_lost(df_cron_ctx_t *ctx, reconcile_t *rc, const char *task_id, int attempt,
                     json_t *task, const char *why)
{
    char now[40], attempt_text[16], keep[24], *event_text;
    char hash[300], lease[300];
    const char *keys[2], *args[7];
    df_error_t err, cause;
    redisReply *reply;
    json_t *ev;

    df_error_init(&err);
    df_error_init(&cause);
    df_error_set(&cause, DF_ERR_TIMEOUT, NULL, "%s", why);
    ev = df_event_new(task_id, attempt, DF_STATE_DEAD, "datafleet-scheduler");
    if (!ev)
        return;
    df_event_set_error(ev, "lost", &cause);
    event_text = json_dumps(ev, JSON_COMPACT);
    df_time_format(df_now_ms(), now, sizeof(now));
    snprintf(attempt_text, sizeof(attempt_text), "%d", attempt);
    snprintf(keep, sizeof(keep), "%lld", (long long)DF_TASK_KEEP_S);
    snprintf(hash, sizeof(hash), "df:task:%s", task_id);
    snprintf(lease, sizeof(lease), "df:lease:%s", task_id);
    keys[0] = hash;
    keys[1] = lease;
    args[0] = DF_STATE_DEAD;
    args[1] = attempt_text;
    args[2] = now;
    args[3] = "lost";
    args[4] = cause.message;
    args[5] = event_text ? event_text : "";
    args[6] = keep;
    reply = df_redis_evalsha(ctx->redis, &rc->end_script, 2, keys, 7, args, &err);
    if (!reply) {
        df_warn("reconciler: task %s: Redis: %s (trying again next pass)", task_id, err.message);
    } else if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->str, "ok") == 0) {
            send_json(rc, rc->events_topic, task_id, ev, DF_EVENT_SCHEMA, NULL);
            if (task)
                send_json(rc, rc->dlq_topic, df_task_key(task), task, DF_TASK_SCHEMA, "lost");
            rc->ended++;
            df_metric_inc(rc->actions, 1, "ended");
            df_warn("reconciler: task %s ended dead (lost): %s", task_id, why);
        }
    }
    if (reply)
        freeReplyObject(reply);
    free(event_text);
    json_decref(ev);
}

static const char stuck_sql[] =
    "SELECT t.task_id, t.state, t.attempt, t.task::text,"
    "       coalesce(t.deadline < now(), false),"
    "       (extract(epoch FROM now() - t.last_event_at) * 1000)::bigint"
    "  FROM tasks t"
    " WHERE t.state IN ('queued', 'running', 'retrying')"
    "   AND t.last_event_at < now() - make_interval(secs => (CASE t.state WHEN 'queued'"
    "       THEN $1::bigint ELSE $2::bigint END) / 1000.0)"
    "   AND NOT EXISTS (SELECT 1 FROM delayed_tasks d WHERE d.task_id = t.task_id)"
    " ORDER BY t.last_event_at"
    " LIMIT " BATCH;

int64_t df_reconcile_tick(df_cron_ctx_t *ctx)
{
    reconcile_t *rc = state_of(ctx);
    char queued_ms[24], running_ms[24];
    const char *params[2] = { queued_ms, running_ms };
    json_t **tasks = NULL;
    bool *ok = NULL;
    size_t n = 0;
    df_error_t err;
    PGresult *res;
    int rows;

    if (!rc)
        return 1000;
    if (df_mono_ms() < rc->next_ms)
        return rc->next_ms - df_mono_ms();
    rc->next_ms = df_mono_ms() + ctx->cfg->reconcile_every_ms;
    if (!ctx->redis)
        return ctx->cfg->reconcile_every_ms; /* cannot tell live runs from lost ones */
    snprintf(queued_ms, sizeof(queued_ms), "%lld", (long long)ctx->cfg->stuck_queued_ms);
    snprintf(running_ms, sizeof(running_ms), "%lld", (long long)ctx->cfg->stuck_running_ms);
    df_error_init(&err);
    res = df_pg_exec(ctx->pg, stuck_sql, 2, params, &err);
    if (!res) {
        df_warn("reconciler: %s", err.message);
        return ctx->cfg->reconcile_every_ms;
    }
    rows = PQntuples(res);
    if (rows > 0) {
        tasks = calloc((size_t)rows, sizeof(*tasks));
        ok = calloc((size_t)rows, sizeof(*ok));
    }
    for (int i = 0; i < rows && tasks && ok; i++) {
        const char *id = PQgetvalue(res, i, 0), *state = PQgetvalue(res, i, 1);
        int attempt = atoi(PQgetvalue(res, i, 2));
        bool has_task = !PQgetisnull(res, i, 3), past_deadline = PQgetvalue(res, i, 4)[0] == 't';
        const char *view = redis_view(ctx, id);
        json_t *task = has_task ? json_loads(PQgetvalue(res, i, 3), 0, NULL) : NULL;

        if (!view) {
            df_warn("reconciler: Redis unavailable: pass stopped");
            json_decref(task);
            break;
        }
        if (*view) { /* running somewhere, or ended and the history lags */
            json_decref(task);
            continue;
        }
        if (past_deadline || !task) {
            end_lost(ctx, rc, id, attempt, task,
                     past_deadline ? "no worker ran the task before its deadline"
                                   : "the task's message is unknown and no worker has it");
            json_decref(task);
            continue;
        }
        /* The next attempt for a task whose retry was lost; else the
         * attempt it was at. */
        json_object_set_new(
            task, "attempt",
            json_integer(strcmp(state, DF_STATE_RETRYING) == 0 ? attempt + 1 : attempt));
        df_warn("reconciler: task %s %s for %s ms with nobody on it: publishing it again", id,
                state, PQgetvalue(res, i, 5));
        tasks[n++] = task;
    }
    PQclear(res);
    if (n > 0) {
        size_t sent = df_cron_publish(ctx, tasks, NULL, n, ok, FLUSH_MS);
        rc->republished += sent;
        df_metric_inc(rc->actions, (double)sent, "republished");
        for (size_t i = 0; i < n; i++)
            json_decref(tasks[i]);
    }
    df_kafka_producer_flush(rc->producer, FLUSH_MS, NULL);
    free(tasks);
    free(ok);
    return ctx->cfg->reconcile_every_ms;
}
