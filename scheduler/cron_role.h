/* cron_role: what the leader of the cron role does, and what it offers the
 * parts that do it.
 *
 * Several schedulers may run the cron role; a PostgreSQL advisory lock
 * held on a dedicated connection makes one of them the leader, and the
 * others stand by, trying the lock every --leader-poll. The leader runs a
 * loop of "ticks", each a part of the role in its own file:
 *
 *   schedules.c   cron slots whose time has come -> tasks or pipeline runs
 *   delayed.c     delayed_tasks rows whose due_at has come -> re-published
 *   pipelines.c   pipeline runs: publish the steps whose predecessors ended
 *   reconcile.c   tasks stuck queued or running with nobody on them
 *
 * A tick does the work that is due, then returns how many milliseconds it
 * can sleep before it has more (the loop sleeps the smallest of these, at
 * most --tick). Correctness never rests on there being one leader: slots
 * are claimed in schedule_fires, delayed rows are taken FOR UPDATE SKIP
 * LOCKED, and every published task id is an idempotency key, so two
 * leaders for a moment (a lock connection that died unnoticed) publish
 * nothing twice that runs twice. */
#ifndef DF_CRON_ROLE_H
#define DF_CRON_ROLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"
#include "df_redis.h"
#include "df_submit.h"
#include "scheduler.h"

typedef struct df_cron_ctx {
    const df_scheduler_config_t *cfg;
    df_pg_t *pg;               /* the leader's work connection (not the lock's) */
    df_redis_t *redis;         /* live state (may be NULL while Redis is away) */
    df_submitter_t *submitter; /* tasks + their queued events */
    const char *node;          /* this scheduler's id, for logs and claims */
    /* per-part state, owned by each part (created on its first tick, freed
     * by its _stop function) */
    void *schedules, *delayed, *pipelines, *reconcile;
    /* publish bookkeeping (cron_role.c) */
    void *pending;
} df_cron_ctx_t;

/* Publish n tasks (each a datafleet.task/v1 object with its task_id set)
 * and wait up to timeout_ms for Kafka to acknowledge them; each goes with
 * a `queued` event carrying it (worker "datafleet-scheduler"), like a
 * submit. traceparents may be NULL, or hold NULLs. ok[i] tells whether
 * task i was acknowledged; a task that fails validation is logged with
 * the field and is not sent (ok[i] false). Returns how many were
 * acknowledged. */
size_t df_cron_publish(df_cron_ctx_t *ctx, json_t *const *tasks, const char *const *traceparents,
                       size_t n, bool *ok, int timeout_ms);

/* The ticks (see above). Each returns the milliseconds until it has more
 * to do; a PostgreSQL failure is logged by the tick, which returns a short
 * wait: the loop reconnects when the work connection is gone. */
int64_t df_schedules_tick(df_cron_ctx_t *ctx);
int64_t df_delayed_tick(df_cron_ctx_t *ctx);
int64_t df_pipelines_tick(df_cron_ctx_t *ctx);
int64_t df_reconcile_tick(df_cron_ctx_t *ctx);

/* Free each part's state when leadership ends or the role stops. */
void df_schedules_stop(df_cron_ctx_t *ctx);
void df_delayed_stop(df_cron_ctx_t *ctx);
void df_pipelines_stop(df_cron_ctx_t *ctx);
void df_reconcile_stop(df_cron_ctx_t *ctx);

#endif
