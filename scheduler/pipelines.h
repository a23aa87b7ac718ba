/* pipelines: runs of pipelines (ordered steps, each a task template),
 * started by a schedule's slot or on request, advanced by the cron
 * leader's pipelines tick (pipelines.c), re-run from their failed steps on
 * request. Definitions, templates and step task ids: pipeline_def.h. The
 * model: docs/PIPELINES.md. */
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
 * DF_ERR_INVALID for a bad ref, a run id that is not a ULID or a lower-case
 * UUIDv7 (the task schema's pipeline.run_id), or a stored definition that
 * no longer validates; DF_ERR_PG for a database failure. */
df_code_t df_pipeline_run_create(df_pg_t *pg, const json_t *ref, const char *run_id,
                                 const char *schedule_id, int64_t fire_time_ms, bool *created,
                                 df_error_t *err);

/* Re-run run_id from its failed steps, inside the caller's open
 * transaction on pg: the steps that ended failed, dead or cancelled, those
 * skipped because of them, and any step waiting for one of these (directly
 * or through others) go back to pending; each one that had run gets its
 * next task id (pipeline_def.h: rerun + 1), so it runs again; steps that
 * succeeded keep their results. The run goes back to running; the tick
 * does the rest. With current_definition the run takes the pipeline's
 * definition as it is now (it must have the same step names) instead of
 * the copy it started with. *reset (may be NULL) gets a new array of the
 * steps reset (caller decrefs). DF_ERR_NOT_FOUND for an unknown run,
 * DF_ERR_CONFLICT when the run is still running or succeeded, or the
 * pipeline's steps changed; DF_ERR_PG for a database failure. */
df_code_t df_pipeline_rerun(df_pg_t *pg, const char *run_id, bool current_definition,
                            json_t **reset, df_error_t *err);

/* SQL text: the readable reason a run failed ("step refresh failed:
 * noop_permanent: ..."), from its first failed step, for the run whose id
 * is r.id in the statement it is put in (NULL when no step failed). */
#define DF_PIPELINE_REASON_SQL                                                          \
    "(SELECT 'step ' || f.step || ' ' || f.state"                                       \
    "        || COALESCE(': ' || (f.error->>'code'), '')"                               \
    "        || COALESCE(': ' || (f.error->>'message'), '')"                            \
    "   FROM pipeline_steps f WHERE f.run_id = r.id AND f.state IN ('failed', 'dead', " \
    "'cancelled')"                                                                      \
    "  ORDER BY f.finished_at NULLS LAST, f.step LIMIT 1)"

/* Take the lock that keeps the tick away from run_id until the caller's
 * transaction ends (the tick skips locked runs). */
df_code_t df_pipeline_lock_run(df_pg_t *pg, const char *run_id, df_error_t *err);

#endif
