/* export: the export task runner and the operations a connector offers it.
 * The runner opens the task's source, reads it chunk by chunk (never the
 * whole export), and hands each chunk to the connector; after each chunk
 * the platform acknowledged, it checkpoints in Redis (df:ckpt:{task_id}:
 * chunks and rows written) so a resumed attempt, on any worker, starts
 * after the last acknowledged chunk. Cancellation and the deadline are
 * checked between chunks. */
#ifndef DF_EXPORT_H
#define DF_EXPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "sources/source.h"

/* What an export connector gets. */
typedef struct df_export_ctx {
    df_task_ctx_t *task;        /* should_stop, progress, connector config */
    const json_t *target;       /* params.target (borrowed) */
    const char *mode;           /* "append" | "replace" | "upsert" */
    const json_t *mapping;      /* params.mapping or NULL: source column -> target column */
    const df_column_t *columns; /* the source's columns */
    size_t ncols;
    int64_t resume_rows; /* rows already written by earlier attempts (0: fresh) */
    int64_t resume_chunks;
} df_export_ctx_t;

typedef struct df_export_ops {
    /* Prepare the target (create the table/sheet when needed; for replace on
     * a fresh start, clear it). *state is the connector's own, freed by end
     * or abort. max_chunk_rows: the platform's largest batch (e.g. 10,000
     * rows per Power BI POST); the runner never sends more. */
    df_outcome_kind_t (*begin)(df_export_ctx_t *x, void **state, size_t *max_chunk_rows,
                               df_outcome_t *out);
    /* Write one chunk; OK only when the platform acknowledged every row. */
    df_outcome_kind_t (*write)(void *state, const df_chunk_t *chunk, df_outcome_t *out);
    /* Finish (commit, flush); out->result gets what the connector reports. */
    df_outcome_kind_t (*end)(void *state, df_outcome_t *out);
    /* Free the state after a failure (no platform call needed). */
    void (*abort)(void *state);
} df_export_ops_t;

/* Run an export task that has params.source with the connector's export
 * ops: stream the source in chunks of at most min(params.chunk_rows,
 * the connector's limit) rows, checkpoint after each acknowledged chunk,
 * resume after the last checkpoint on a later attempt. Fills out (result:
 * rows_written, chunks, resumed_rows) and returns its kind. Source data
 * errors are permanent and name the row and column. */
df_outcome_kind_t df_export_run(df_task_ctx_t *ctx, const df_export_ops_t *ops, df_outcome_t *out);

/* The built-in sink of the noop connector: counts rows, writes nothing. */
extern const df_export_ops_t df_export_noop_sink;

#endif
