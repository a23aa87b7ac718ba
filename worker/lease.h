/* lease: the Redis side of running a task, each step one Lua script so it
 * is atomic and one round trip: take the lease (df:lease:{id}, with a
 * fencing counter), record state changes in df:task:{id} and publish them
 * on df:status, renew leases, release or hand back a task, and keep the
 * state of a platform operation a task polls (docs/RETRIES.md). */
#ifndef DF_LEASE_H
#define DF_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_redis.h"

#define DF_LEASE_TOKEN_MAX 192

typedef enum df_lease_start {
    DF_LEASE_ACQUIRED = 0,   /* run it; token filled in */
    DF_LEASE_TERMINAL = 1,   /* already succeeded/failed/dead/cancelled: acknowledge */
    DF_LEASE_BUSY = 2,       /* another run holds a live lease: wait */
    DF_LEASE_CANCELLED = 3,  /* df:cancel:{id} is set: record cancelled */
    DF_LEASE_QUARANTINE = 4, /* taken over max_takeovers times: to the DLQ */
    DF_LEASE_STALE = 5,      /* a later attempt or poll of the task took over: acknowledge */
} df_lease_start_t;

typedef struct df_lease_request {
    const char *task_id;
    const char *worker;
    const char *type;
    const char *connector;
    int attempt;
    int poll_seq; /* the message's poll.seq; 0 for a task message */
    int64_t ttl_ms;
    int max_takeovers;
} df_lease_request_t;

/* Load the scripts into this connection's server (fails early on a bad
 * script). */
df_code_t df_lease_prepare(df_redis_t *redis, df_error_t *err);

/* Try to take the lease. token (DF_LEASE_TOKEN_MAX) gets "worker|fence" on
 * ACQUIRED; *takeovers gets the task's takeover count. The pair (attempt,
 * poll_seq) is the run's position: a message behind the position Redis
 * holds is STALE (a retry of this attempt was already handed back, or a
 * poll of a platform operation took over from this message). On TERMINAL
 * and STALE, *event gets the event the task recorded last (caller frees;
 * NULL when none was kept): a redelivered message re-sends it, so an
 * outcome or hand-off whose event was lost in a crash still reaches the
 * history (same event_id, so never twice). A run that takes over a task
 * whose lease was released for a durable poll (hash field waiting = poll)
 * is no takeover. */
df_code_t df_lease_start(df_redis_t *redis, const df_lease_request_t *req, df_lease_start_t *result,
                         char *token, int *takeovers, char **event, df_error_t *err);

/* Record a state change. final: DF_LEASE_RUNNING (the run goes on),
 * DF_LEASE_FINAL (terminal: the lease is released and the hash expires
 * after keep_s seconds) or DF_LEASE_RELEASE (the run ended, the task is not
 * terminal, e.g. retrying: the lease is released). fields_json: a
 * JSON object text of extra hash fields (error, result, progress), may be
 * NULL. *fenced is set when the lease belongs to another run now (the
 * state is then left alone). token may be NULL (no lease was taken). */
enum { DF_LEASE_RUNNING = 0, DF_LEASE_FINAL = 1, DF_LEASE_RELEASE = 2 };

df_code_t df_lease_update(df_redis_t *redis, const char *task_id, const char *token,
                          const char *state, int attempt, int final, int64_t keep_s,
                          const char *fields_json, int *fenced, df_error_t *err);

/* Give the task back (shutdown): state back to queued, lease released when
 * ours, so another worker can start it at once. */
df_code_t df_lease_handback(df_redis_t *redis, const char *task_id, const char *token,
                            df_error_t *err);

/* Save (job_json, a JSON object text) or forget (NULL) the state of the
 * platform operation the task started, in the hash field `job`. *fenced is
 * set (and nothing changed) when another run holds the lease. */
df_code_t df_lease_job_put(df_redis_t *redis, const char *task_id, const char *token,
                           const char *job_json, int *fenced, df_error_t *err);

/* The saved operation state (*job_json: caller frees; NULL when none). */
df_code_t df_lease_job_get(df_redis_t *redis, const char *task_id, char **job_json,
                           df_error_t *err);

/* Renew n leases (task ids and tokens). lost[i] is set to 1 for each lease
 * that is no longer ours. */
df_code_t df_lease_renew(df_redis_t *redis, size_t n, const char *const *task_ids,
                         const char *const *tokens, int64_t ttl_ms, int *lost, df_error_t *err);

#endif
