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
} df_outcome_kind_t;

/* What an operation reports. result (owned; may be NULL) becomes the
 * event's `result`. error says why for anything but OK. */
typedef struct df_outcome {
    df_outcome_kind_t kind;
    int64_t retry_after_ms;
    char code[64]; /* machine-readable error code, e.g. "rate_limited" */
    df_error_t error;
    json_t *result;
} df_outcome_t;

void df_outcome_init(df_outcome_t *out);
void df_outcome_free(df_outcome_t *out);
/* Set kind, code and a message; returns kind. */
df_outcome_kind_t df_outcome_set(df_outcome_t *out, df_outcome_kind_t kind, const char *code,
                                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Why a running task is asked to stop (0: it is not). */
typedef enum df_stop_reason {
    DF_STOP_NONE = 0,
    DF_STOP_CANCELLED = 1, /* df:cancel:{id} was set */
    DF_STOP_HANDBACK = 2,  /* the worker is shutting down: hand the task back */
    DF_STOP_LEASE_LOST = 3,
    DF_STOP_DEADLINE = 4,
} df_stop_reason_t;

/* What an operation gets: the task (borrowed), its connector's definition
 * and a way to ask whether to stop and to report progress. */
typedef struct df_task_ctx {
    const json_t *task;
    const json_t *params;
    const char *task_id;
    const char *connector;
    const json_t *connector_config;  /* the connector's `config` (borrowed) */
    const json_t *connector_secrets; /* name -> secret string (borrowed; never log) */
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
    void *runner;                            /* the runner's own state */
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

/* The built-in kinds. */
extern const df_connector_ops_t df_connector_noop;

#endif
