/* cron_role: leader election and the leader's loop (see cron_role.h). */
#include "cron_role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "df_hmap.h"
#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"
#include "df_program.h"
#include "df_task.h"
#include "roles.h"

/* The advisory lock key of the cron leader: "dfcron" as a bigint, so it
 * does not collide with the migration lock. */
#define LEADER_LOCK_KEY "110429098193518"
#define HEALTH_EVERY_MS 1000 /* the leader checks its lock connection */
#define RECONNECT_MS    5000 /* one reconnect attempt's budget */
#define SLEEP_SLICE_MS  50   /* sleeps wake this often to see a stop */

static void sleep_ms(int64_t ms)
{
    while (ms > 0 && !df_program_stopping()) {
        int64_t step = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* ---- publishing ---- */

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    df_cron_ctx_t *ctx = opaque;
    bool *ok = ctx->pending ? df_hmap_remove(ctx->pending, task_id, strlen(task_id)) : NULL;

    if (!ok)
        return;
    if (err)
        df_warn("task %s not published: %s", task_id, err->message);
    else
        *ok = true;
}

size_t df_cron_publish(df_cron_ctx_t *ctx, json_t *const *tasks, const char *const *traceparents,
                       size_t n, bool *ok, int timeout_ms)
{
    size_t acked = 0;
    df_error_t err;

    df_error_init(&err);
    ctx->pending = df_hmap_new();
    for (size_t i = 0; i < n; i++) {
        const char *id = df_task_str(tasks[i], "task_id");
        ok[i] = false;
        if (!ctx->pending || !id || !df_hmap_put(ctx->pending, id, strlen(id), &ok[i])) {
            df_error("cannot publish a task without a task_id (or out of memory)");
            continue;
        }
        if (df_submit(ctx->submitter, tasks[i], traceparents ? traceparents[i] : NULL, &err)) {
            df_hmap_remove(ctx->pending, id, strlen(id));
            df_error("task %s not published: %s%s%s", id, err.message, err.field[0] ? " at " : "",
                     err.field);
            df_error_init(&err);
        }
    }
    if (df_submit_flush(ctx->submitter, timeout_ms, &err))
        df_warn("publishing: %s", err.message);
    df_hmap_destroy(ctx->pending);
    ctx->pending = NULL;
    for (size_t i = 0; i < n; i++)
        acked += ok[i];
    return acked;
}

/* ---- leadership ---- */

typedef struct role {
    const df_scheduler_config_t *cfg;
    df_pg_t *lock; /* holds the advisory lock while leader */
    bool leader;
    df_metric_t *leader_gauge, *workers_gauge;
    char node[64];
    df_cron_ctx_t ctx;
} role_t;

/* Try the lock once. true when this process holds it now. */
static bool try_lead(role_t *r)
{
    const char *params[] = { LEADER_LOCK_KEY };
    df_error_t err;
    PGresult *res;
    bool got;

    df_error_init(&err);
    if (!r->lock || !df_pg_connected(r->lock)) {
        if (!r->lock)
            r->lock = df_pg_new(r->cfg->common.database_url, &err);
        else
            df_pg_reconnect(r->lock, RECONNECT_MS, &err);
        if (!r->lock || err.code) {
            df_warn("cron role: PostgreSQL unavailable for the leader lock: %s", err.message);
            return false;
        }
    }
    res = df_pg_exec(r->lock, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &err);
    if (!res) {
        df_warn("cron role: leader lock: %s", err.message);
        return false;
    }
    got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return got;
}

/* The leader checks that its lock connection is alive: if it is gone, so
 * is the lock (PostgreSQL released it), and another scheduler may lead. */
static bool still_leader(role_t *r)
{
    df_error_t err;

    df_error_init(&err);
    if (df_pg_run(r->lock, "SELECT 1", 0, NULL, NULL, &err)) {
        df_warn("cron role: lost the leader lock's connection (%s): standing by", err.message);
        return false;
    }
    return true;
}

static bool open_work(role_t *r)
{
    df_error_t err;
    df_submit_config_t scfg = {
        .brokers = r->cfg->common.kafka_brokers,
        .topic_prefix = r->cfg->common.topic_prefix,
        .partitions = (int)r->cfg->common.partitions,
        .ensure_topics = true,
        .submitted_by = "datafleet-scheduler",
        .source = "datafleet-scheduler",
    };

    df_error_init(&err);
    if (!r->ctx.pg) {
        r->ctx.pg = df_pg_new(r->cfg->common.database_url, &err);
        if (!r->ctx.pg) {
            df_warn("cron role: PostgreSQL: %s", err.message);
            return false;
        }
    } else if (!df_pg_connected(r->ctx.pg) && df_pg_reconnect(r->ctx.pg, RECONNECT_MS, &err)) {
        df_warn("cron role: PostgreSQL: %s", err.message);
        return false;
    }
    if (!r->ctx.submitter) {
        r->ctx.submitter = df_submitter_new(&scfg, on_report, &r->ctx, &err);
        if (!r->ctx.submitter) {
            df_warn("cron role: Kafka: %s", err.message);
            return false;
        }
    }
    if (!r->ctx.redis) {
        r->ctx.redis = df_redis_new(r->cfg->common.redis_url, 2000, 2000, &err);
        if (!r->ctx.redis)
            df_warn("cron role: Redis: %s (the reconciler waits for it)", err.message);
    }
    return true;
}

static void stop_parts(role_t *r)
{
    df_schedules_stop(&r->ctx);
    df_delayed_stop(&r->ctx);
    df_pipelines_stop(&r->ctx);
    df_reconcile_stop(&r->ctx);
}

/* datafleet_workers_alive: workers whose heartbeat (df:workers, scored by
 * the time of their last beat) is fresher than WORKER_FRESH_MS. */
#define WORKER_FRESH_MS 15000
static void count_workers(role_t *r)
{
    df_error_t err;
    redisReply *reply;
    char since[24];

    if (!r->ctx.redis)
        return;
    df_error_init(&err);
    snprintf(since, sizeof(since), "%lld", (long long)(df_now_ms() - WORKER_FRESH_MS));
    reply = df_redis_command(r->ctx.redis, &err, "ZCOUNT df:workers %s +inf", since);
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        df_metric_set(r->workers_gauge, (double)reply->integer);
    if (reply)
        freeReplyObject(reply);
}

static void lead(role_t *r)
{
    int64_t last_health = df_mono_ms();

    df_info("cron role: leader now (%s)", r->node);
    df_metric_set(r->leader_gauge, 1);
    while (!df_program_stopping()) {
        int64_t wait = r->cfg->tick_ms, w;

        if (df_mono_ms() - last_health >= HEALTH_EVERY_MS) {
            if (!still_leader(r))
                break;
            last_health = df_mono_ms();
            count_workers(r);
        }
        if (!open_work(r)) {
            sleep_ms(1000);
            continue;
        }
        w = df_schedules_tick(&r->ctx);
        wait = w < wait ? w : wait;
        w = df_delayed_tick(&r->ctx);
        wait = w < wait ? w : wait;
        w = df_pipelines_tick(&r->ctx);
        wait = w < wait ? w : wait;
        w = df_reconcile_tick(&r->ctx);
        wait = w < wait ? w : wait;
        if (wait > HEALTH_EVERY_MS)
            wait = HEALTH_EVERY_MS;
        sleep_ms(wait < 1 ? 1 : wait);
    }
    stop_parts(r);
    r->leader = false;
    df_metric_set(r->leader_gauge, 0);
    df_metric_remove(r->workers_gauge); /* only the leader reports it */
}

int df_role_cron_run(const df_scheduler_config_t *cfg)
{
    role_t r;
    char host[48] = "";

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    gethostname(host, sizeof(host) - 1);
    snprintf(r.node, sizeof(r.node), "%s:%ld", host, (long)getpid());
    r.ctx.cfg = cfg;
    r.ctx.node = r.node;
    r.leader_gauge = df_metric_gauge("datafleet_scheduler_leader",
                                     "1 while this scheduler is the cron leader, else 0.", "");
    df_metric_set(r.leader_gauge, 0);
    r.workers_gauge = df_metric_gauge(
        "datafleet_workers_alive",
        "Workers with a heartbeat in the last 15 s (reported by the cron leader).", "");

    df_info("cron role: standing by for the leader lock (trying every %lld ms)",
            (long long)cfg->leader_poll_ms);
    while (!df_program_stopping()) {
        if (try_lead(&r)) {
            r.leader = true;
            lead(&r);
            /* Leadership ended: drop the lock connection (releasing the
             * lock if it is still held) before trying again. */
            df_pg_destroy(r.lock);
            r.lock = NULL;
            if (!df_program_stopping())
                df_info("cron role: no longer leader");
            continue;
        }
        sleep_ms(cfg->leader_poll_ms);
    }
    df_submitter_destroy(r.ctx.submitter);
    df_redis_destroy(r.ctx.redis);
    df_pg_destroy(r.ctx.pg);
    df_pg_destroy(r.lock);
    return DF_EXIT_OK;
}
