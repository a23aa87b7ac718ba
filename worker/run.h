/* run: what the task runner's two files share. runner.c runs one consumed
 * task message from validation to its outcome (the lease, the connector
 * call with its retries, the Redis status and the events); runner_poll.c
 * does the runner's part of platform operations that are polled
 * (DF_OUTCOME_POLL, docs/RETRIES.md). A run lives on one runner thread. */
#ifndef DF_RUN_H
#define DF_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "df_redis.h"
#include "dispatch.h"
#include "retry.h"
#include "runtime.h"

/* One runner thread. */
typedef struct runner {
    df_runtime_t *rt;
    df_redis_t *redis;
    int64_t redis_warned_ms; /* last warning of a Redis failure (one each 5 s at most) */
    uint64_t rng;            /* backoff jitter (df_retry_random) */
} runner_t;

/* One task message being run. Strings borrow from task. */
typedef struct run {
    runner_t *r;
    df_slot_t *slot;
    json_t *task;
    const char *task_id;
    const char *type;
    const char *connector;
    const char *kind;       /* the connector's kind, once resolved (metrics) */
    int64_t run_started_ms; /* monotonic, when the lease was taken (0: not yet) */
    char traceparent[64];
    int attempt;
    int max_attempts;
    df_retry_policy_t policy;
    int64_t deadline_ms;
    int64_t last_progress_ms;
    /* polling a platform operation (DF_OUTCOME_POLL) */
    int poll_seq;          /* the message's poll.seq (0: a task message) */
    int polls;             /* POLL outcomes so far (poll_seq - 1 when the message is a poll) */
    int64_t poll_since_ms; /* when polling began (0: not polling) */
    json_t *job;           /* the operation's state (owned; NULL: none) */
} run_t;

/* ---- runner.c -------------------------------------------------------------- */

/* The runner's Redis connection, (re)connected when needed; NULL (after a
 * paced warning) while Redis is unreachable. Borrowed. */
df_redis_t *df_run_redis(runner_t *r);

/* A new event of the run (caller json_decrefs), NULL when out of memory. */
json_t *df_run_event(run_t *run, const char *state);

/* Send ev (borrowed) to the events topic; track (may be NULL) is marked done
 * when Kafka has it. */
void df_run_send(run_t *run, json_t *ev, df_slot_t *track);

/* Record a state change in Redis (df_lease_update), retrying until it works
 * or the worker stops handing tasks on (then false). */
bool df_run_update(run_t *run, const char *state, int final, const char *fields, int *fenced);

/* End the run with a terminal or retrying state: Redis, then the event that
 * marks the slot done. */
void df_run_finish(run_t *run, const char *state, const char *code, df_outcome_t *out);

/* ---- runner_poll.c --------------------------------------------------------- */

/* ctx->job_put (see df_task_ctx_job_put). */
df_code_t df_run_job_put(df_task_ctx_t *ctx, const json_t *job, df_error_t *err);

/* A POLL outcome: take its job state into the run (saved when it changed)
 * and count the poll. False (out turned into a permanent failure) when the
 * connector gave no state to poll with. */
bool df_run_take_poll(run_t *run, df_task_ctx_t *ctx, df_outcome_t *out);

/* The wait before the next poll: as the connector asked, never past the
 * task's deadline. */
int64_t df_run_poll_wait(const run_t *run, const df_outcome_t *out);

/* A `progress` event with the polls so far (at most one a second). */
void df_run_poll_progress(run_t *run);

/* Hand the next poll to the scheduler (the slot is done when the event
 * carrying it is in Kafka); a job state that cannot travel fails the task
 * (out). */
void df_run_hand_off_poll(run_t *run, int64_t after_ms, df_outcome_t *out);

/* A poll message: its position and job state into the run. */
void df_run_read_poll(run_t *run);

/* The job state kept in Redis, when there is one, into the run (after the
 * lease is taken). */
void df_run_load_job(run_t *run);

#endif
