/* connector: the operations a platform connector offers the task runner,
 * and the outcome every operation returns. One file per platform in
 * worker/connectors/ fills a df_connector_ops_t. */
#ifndef DF_CONNECTOR_H
#define DF_CONNECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"

typedef enum df_outcome_kind {
    DF_OUTCOME_OK = 0,
    DF_OUTCOME_RETRY = 1,     /* retryable; retry_after_ms says when (-1: backoff decides) */
    DF_OUTCOME_PERMANENT = 2, /* will fail again: the task fails */
    DF_OUTCOME_AUTH = 3,      /* credentials refused (after one refresh) */
    DF_OUTCOME_CANCELLED = 4, /* stopped on request (cancel flag, shutdown, deadline) */
    DF_OUTCOME_POLL = 5,      /* the platform's operation goes on: poll it after retry_after_ms */
} df_outcome_kind_t;

/* What an operation reports. result (owned; may be NULL) becomes the
 * event's `result`. error says why for anything but OK and POLL.
 *
 * retry_after_ms: for RETRY, the platform's Retry-After (-1: it gave none;
 * the retry policy decides the wait, worker/retry.h, and a hint only
 * raises it); for POLL, when to look at the operation again.
 *
 * job (owned; POLL only): the operation's state, a JSON object the
 * connector reads back from ctx->job when it is called again to poll (for
 * example {"refresh_id": "..."}). It travels in Kafka and is kept in Redis
 * and PostgreSQL: never put a credential in it. */
typedef struct df_outcome {
    df_outcome_kind_t kind;
    int64_t retry_after_ms;
    char code[64]; /* machine-readable error code, e.g. "rate_limited" */
    df_error_t error;
    json_t *result;
    json_t *job;
} df_outcome_t;

void df_outcome_init(df_outcome_t *out);
void df_outcome_free(df_outcome_t *out);
/* Set kind, code and a message; returns kind. */
df_outcome_kind_t df_outcome_set(df_outcome_t *out, df_outcome_kind_t kind, const char *code,
                                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "Poll again after after_ms": kind POLL with the operation's state job
 * (a JSON object; the reference is stolen). Returns DF_OUTCOME_POLL. */
df_outcome_kind_t df_outcome_poll(df_outcome_t *out, json_t *job, int64_t after_ms);

/* Why a running task is asked to stop (0: it is not). */
typedef enum df_stop_reason {
    DF_STOP_NONE = 0,
    DF_STOP_CANCELLED = 1, /* df:cancel:{id} was set */
    DF_STOP_HANDBACK = 2,  /* the worker is shutting down: hand the task back */
    DF_STOP_LEASE_LOST = 3,
    DF_STOP_DEADLINE = 4,
} df_stop_reason_t;

/* What an operation gets: the task (borrowed), its connector's definition
 * and a way to ask whether to stop and to report progress.
 *
 * Long platform operations (a dataset refresh): the operation starts the
 * platform's job, saves its state with df_task_ctx_job_put as soon as the
 * platform accepted it (so a worker that dies before its POLL outcome is
 * recorded does not start a second job), and returns POLL with the state.
 * The runner calls the operation again later, maybe on another worker and
 * in a later attempt, with ctx->job set: it then polls the job instead of
 * starting one (docs/RETRIES.md). */
typedef struct df_task_ctx {
    const json_t *task;
    const json_t *params;
    const char *task_id;
    const char *connector;
    const char *connector_kind;      /* its kind ("powerbi", "noop"...) */
    const json_t *connector_config;  /* the connector's `config` (borrowed) */
    const json_t *connector_secrets; /* name -> secret string (borrowed; never log) */
    const json_t *connector_limits;  /* the connector's `limits` (borrowed; may be NULL) */
    int attempt;
    int64_t deadline_ms; /* unix ms, 0 when none */
    /* Non-zero when the operation should stop now (checks the deadline too). */
    df_stop_reason_t (*should_stop)(struct df_task_ctx *ctx);
    /* Report progress (cumulative); cheap to call often. */
    void (*progress)(struct df_task_ctx *ctx, int64_t rows, int64_t bytes, int64_t chunks);
    struct df_redis *redis;   /* the runner's Redis connection (borrowed; this thread only) */
    const char *database_url; /* the worker's PostgreSQL (default export source database) */
    const struct df_secret_keyring *keyring; /* seals the fleet token cache; NULL: cache off */
    const char *traceparent;                 /* of the task message, for outbound requests */
    /* The platform operation under way (borrowed; NULL: start one), as the
     * last POLL outcome or df_task_ctx_job_put left it. */
    const json_t *job;
    int polls;             /* POLL outcomes of this attempt so far */
    int64_t poll_since_ms; /* unix ms when polling began (0: not polling) */
    /* Save the operation's state (NULL: forget it); see df_task_ctx_job_put. */
    df_code_t (*job_put)(struct df_task_ctx *ctx, const json_t *job, df_error_t *err);
    void *runner; /* the runner's own state */
} df_task_ctx_t;

typedef df_outcome_kind_t (*df_connector_op_fn)(df_task_ctx_t *ctx, df_outcome_t *out);

struct df_export_ops;

typedef struct df_connector_ops {
    const char *kind;
    /* Exports with a `source`: the runner streams the source into these
     * (worker/export.c); NULL when the kind only does export_rows. */
    const struct df_export_ops *export_ops;
    df_connector_op_fn probe;
    df_connector_op_fn export_rows; /* `export` */
    df_connector_op_fn refresh;
    df_connector_op_fn lineage;
} df_connector_ops_t;

/* Sleep up to ms, waking early when ctx->should_stop says so. Returns the
 * stop reason (DF_STOP_NONE when the whole time passed). */
df_stop_reason_t df_task_ctx_sleep(df_task_ctx_t *ctx, int64_t ms);

/* Save the state of the platform operation this task started (a JSON
 * object, copied; NULL forgets it) where any worker finds it: ctx->job of
 * every later call of the task's operations, this attempt or a later one,
 * until the task ends. Call it once the platform accepted the job, before
 * returning POLL. DF_ERR_CONFLICT when this run lost its lease (stop);
 * DF_ERR_REDIS when Redis is unreachable (return POLL anyway: the runner
 * keeps the state with the outcome, only a crash in between is then
 * unprotected). */
df_code_t df_task_ctx_job_put(df_task_ctx_t *ctx, const json_t *job, df_error_t *err);

/* The built-in kinds. */
extern const df_connector_ops_t df_connector_noop;
/* A PostgreSQL database as a lineage source (connectors/postgres_lineage.c). */
extern const df_connector_ops_t df_connector_postgres;
/* Tableau Server / Cloud: extract refresh, Metadata API lineage (connectors/tableau.c). */
extern const df_connector_ops_t df_connector_tableau;
/* Qlik Cloud: app reloads (connectors/qlik.c). */
extern const df_connector_ops_t df_connector_qlik;
/* Looker API 4.0: PDT rebuilds, datagroup triggers, lineage (connectors/looker.c). */
extern const df_connector_ops_t df_connector_looker;

#endif
