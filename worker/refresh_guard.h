/* refresh_guard: one refresh per platform target fleet-wide, coalescing of
 * the refreshes requested while one runs, and the polling cadence of
 * refresh connectors (docs/CONNECTORS.md, docs/RETRIES.md).
 *
 * The lock. A target is "<connector kind>:<platform target id>" (for
 * example "pbi:dataset:<id>", "tableau:datasource:<id>"). Redis key
 * df:refresh:<target> holds the JSON object
 *   {"task_id": "<owner task id>", "job": {...} | null, "since_ms": <unix ms>}
 * with a TTL (PX), renewed by the owner on every poll
 * (df_refresh_guard_touch): an owner that vanished lets it expire.
 *
 * A refresh operation called without ctx->job:
 *   df_refresh_guard_begin ->
 *     OWNER: this task holds the target. Start the platform's job, then
 *            store it: df_task_ctx_job_put (so a retry resumes it) AND
 *            df_refresh_guard_set_job (so other tasks can join it), both
 *            before returning the first POLL. The owner calls
 *            df_refresh_guard_touch on each poll and df_refresh_guard_end
 *            when the job ended (or starting it failed). begin is
 *            re-entrant: a task that already owns the target is OWNER again
 *            (claim->job then holds what it stored).
 *     JOIN:  another task owns the target and its job runs: poll THAT job
 *            (claim->job; keep it with df_task_ctx_job_put, marked as
 *            joined) and end with it; the result says
 *            "coalesced_into": claim->owner. A joiner never ends the lock.
 *     WAIT:  another task owns the target but has not stored its job yet:
 *            return POLL (a small job state such as {"waiting": target})
 *            and call begin again at the next poll.
 * A platform that refuses a start as "already in progress" although this
 * task owns the lock (a refresh started outside datafleet) is the
 * connector's business: it finds that job and polls it.
 *
 * The cadence. df_refresh_poll_delay: the first poll after start_ms, each
 * next one growth times later (x1.5 by default) up to cap_ms; a platform's
 * Retry-After raises it; never past the task's deadline.
 * A job still pending on the platform (queued, not running) longer than the
 * connector's pending_timeout_ms fails the task: df_refresh_pending_check.
 *
 * All functions here use ctx->redis and ctx->task_id only (a test can fill
 * just those). Nothing in the lock may be a credential: it is readable by
 * every task of every connector. */
#ifndef DF_REFRESH_GUARD_H
#define DF_REFRESH_GUARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "df_error.h"

#define DF_REFRESH_TARGET_MAX     512
#define DF_REFRESH_OWNER_MAX      128
#define DF_REFRESH_GUARD_GRACE_MS 30000 /* lock TTL beyond the next poll */
#define DF_REFRESH_PENDING_DEF_MS 600000
#define DF_REFRESH_GROWTH_DEF     1.5

typedef enum df_refresh_role {
    DF_REFRESH_OWNER = 0,
    DF_REFRESH_JOIN = 1,
    DF_REFRESH_WAIT = 2,
} df_refresh_role_t;

/* What df_refresh_guard_begin found. */
typedef struct df_refresh_claim {
    df_refresh_role_t role;
    char owner[DF_REFRESH_OWNER_MAX]; /* the owner's task id (this task's for OWNER) */
    json_t *job;                      /* the stored job (owned; NULL: none yet) */
    int64_t since_ms;                 /* when the owner took the target */
} df_refresh_claim_t;

void df_refresh_claim_init(df_refresh_claim_t *claim);
void df_refresh_claim_free(df_refresh_claim_t *claim);

/* Take the target or find its owner (see above). ttl_ms: the lock's
 * lifetime until the next touch (df_refresh_guard_ttl). DF_ERR_INVALID for
 * an empty or too long target, DF_ERR_REDIS (retryable) when Redis is
 * unreachable: the caller retries, it must not start a job unguarded. */
df_code_t df_refresh_guard_begin(df_task_ctx_t *ctx, const char *target, int64_t ttl_ms,
                                 df_refresh_claim_t *claim, df_error_t *err);

/* The owner stores its platform job (a JSON object, borrowed) in the lock
 * and renews it. DF_ERR_CONFLICT when this task does not own the target
 * (any more: the lock expired and another task took it). */
df_code_t df_refresh_guard_set_job(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                   int64_t ttl_ms, df_error_t *err);

/* The owner renews the lock (on every poll). A lock that expired while its
 * owner still polls is taken again, with job (borrowed; may be NULL), when
 * nobody else took it. DF_ERR_CONFLICT when another task owns it; the lock
 * is then left alone. */
df_code_t df_refresh_guard_touch(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                 int64_t ttl_ms, df_error_t *err);

/* The owner releases the target (only when it still owns it; otherwise a
 * no-op). DF_ERR_REDIS when Redis is unreachable (the TTL then ends it). */
df_code_t df_refresh_guard_end(df_task_ctx_t *ctx, const char *target, df_error_t *err);

/* The lock's TTL for a next poll in delay_ms: 2 x delay + the grace. */
int64_t df_refresh_guard_ttl(int64_t delay_ms);

/* The polling cadence of a connector (plain data). */
typedef struct df_refresh_cadence {
    int64_t start_ms; /* the first poll's delay (> 0) */
    int64_t cap_ms;   /* the longest delay (>= start_ms) */
    double growth;    /* factor between polls (>= 1; 0 takes 1.5) */
} df_refresh_cadence_t;

/* The delay before poll number polls + 1 (polls: the polls made so far):
 * start_ms x growth^polls, at most cap_ms; raised to retry_after_ms when
 * the platform gave one (>= 0); never past deadline_ms (unix ms, 0: none)
 * counted from now_ms (0 when it has passed). */
int64_t df_refresh_poll_delay(const df_refresh_cadence_t *cadence, int polls,
                              int64_t retry_after_ms, int64_t now_ms, int64_t deadline_ms);

/* A connector's pending_timeout_ms (config key "pending_timeout_ms", an
 * integer >= 1), def when absent or invalid. */
int64_t df_refresh_pending_timeout_ms(const df_task_ctx_t *ctx, int64_t def);

/* A job pending since pending_since_ms (unix ms; 0: not pending): false
 * while it may wait on; true once it waited longer than timeout_ms, with
 * out set to a permanent failure, code "refresh_pending_timeout", naming
 * what (e.g. "refresh 42 of dataset ...") and how long it waited. */
bool df_refresh_pending_check(int64_t pending_since_ms, int64_t now_ms, int64_t timeout_ms,
                              const char *what, df_outcome_t *out);

#endif
