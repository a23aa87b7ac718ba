/* pipelines: runs of pipelines (ordered steps, each a task template),
 * started by a schedule's slot or on request, advanced by the cron
 * leader's pipelines tick (pipelines.c). */
#ifndef DF_PIPELINES_H
#define DF_PIPELINES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"

/* Create a run of the pipeline that ref names ({"name": "..."}: a
 * schedule's `pipeline` column, or a request to run one) inside the
 * caller's open transaction on pg: a pipeline_runs row (with the
 * definition as it is now) and its steps, pending. The leader's pipelines
 * tick publishes the steps. run_id is the caller's: a schedule derives it
 * from (schedule, fire time). A run id that exists already is left as it
 * is (DF_OK, *created false). schedule_id may be NULL; fire_time_ms 0 for
 * none. DF_ERR_NOT_FOUND for an unknown or disabled pipeline,
 * DF_ERR_INVALID for a bad ref, DF_ERR_PG for a database failure. */
df_code_t df_pipeline_run_create(df_pg_t *pg, const json_t *ref, const char *run_id,
                                 const char *schedule_id, int64_t fire_time_ms, bool *created,
                                 df_error_t *err);

#endif
