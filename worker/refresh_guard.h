/* refresh_guard: one platform refresh per target across the fleet, and
 * refreshes asked for while one runs coalesced into it (docs/RETRIES.md).
 *
 * The target ("<connector>:<what it refreshes>", e.g. "pbi:dataset:<id>")
 * has a Redis key df:refresh:{target} holding {"task_id", "job"} with a
 * TTL that every poll renews, so an owner that vanished frees the target
 * after the TTL. A refresh operation asks df_refresh_guard_begin first:
 *   OWNER  this task refreshes: start the platform's job, then record it
 *          with df_refresh_guard_set_job (besides df_task_ctx_job_put),
 *          and df_refresh_guard_end when it finished;
 *   JOIN   another task's job runs: poll that job (*job) and end with it,
 *          saying in the result whose it was;
 *   WAIT   another task holds the target but has not started its job yet:
 *          POLL again shortly.
 * A task that asks again (a retry, or a poll on another worker) while it
 * owns the target is the OWNER again. */
#ifndef DF_REFRESH_GUARD_H
#define DF_REFRESH_GUARD_H

#include <jansson.h>
#include <stdint.h>

#include "connector.h"

#define DF_REFRESH_GUARD_TTL_MS 120000 /* renewed by every poll */

typedef enum df_refresh_role {
    DF_REFRESH_OWNER = 0,
    DF_REFRESH_JOIN = 1,
    DF_REFRESH_WAIT = 2,
} df_refresh_role_t;

/* Ask for target. *job (JOIN: the owner's job, new reference) and owner
 * (JOIN/WAIT: the owner's task id, at least DF_ID_BUF bytes, may be NULL).
 * DF_ERR_REDIS when Redis cannot be asked (the caller retries). */
df_code_t df_refresh_guard_begin(df_task_ctx_t *ctx, const char *target, df_refresh_role_t *role,
                                 json_t **job, char *owner, df_error_t *err);

/* Record the owner's job (borrowed) and renew the TTL. DF_ERR_CONFLICT
 * when this task does not own target (any more). */
df_code_t df_refresh_guard_set_job(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                   df_error_t *err);

/* Renew the TTL while polling (owner or not: the target stays taken while
 * anyone polls its job). Best effort. */
void df_refresh_guard_touch(df_task_ctx_t *ctx, const char *target);

/* Free target if this task owns it. Best effort. */
void df_refresh_guard_end(df_task_ctx_t *ctx, const char *target);

#endif
