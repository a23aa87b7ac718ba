/* pipeline_store: reading and changing pipeline definitions and runs as the
 * `pipelines` command (cli_pipelines.c) and the REST API
 * (api/api_pipelines.c) do: add or replace a definition, list pipelines and
 * runs, describe a run with its steps, start a run, re-run a failed one.
 * Nothing here prints. Runs themselves: pipelines.h; definitions:
 * pipeline_def.h. */
#ifndef DF_PIPELINE_STORE_H
#define DF_PIPELINE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"
#include "df_id.h"
#include "df_pg.h"

#define DF_PIPELINE_ID_BUF 129 /* a pipelines.id, with the NUL */

/* A pipeline's name: 1 to 128 of a-z, 0-9, '_', '.', '-', starting with a
 * letter or digit. */
bool df_pipeline_name_ok(const char *name);

/* Milliseconds as SQL text (NULL or "": none) -> an RFC 3339 JSON string,
 * or JSON null. New reference. */
json_t *df_pipeline_time_json(const char *ms_text);

/* ---- definitions ------------------------------------------------------------- */

typedef enum df_pipeline_save_mode {
    DF_PIPELINE_ADD = 0,        /* a new name only: DF_ERR_CONFLICT when it exists */
    DF_PIPELINE_ADD_OR_REPLACE, /* add, or replace the definition of the one that exists */
    DF_PIPELINE_REPLACE,        /* an existing one only: DF_ERR_NOT_FOUND otherwise */
} df_pipeline_save_mode_t;

/* Store def (checked by the caller with df_pipeline_def_check; borrowed)
 * as pipeline `name` with description (may be NULL). Runs in flight keep
 * the definition they started with. id gets the pipeline's id, *replaced
 * whether it existed. DF_ERR_CONFLICT / DF_ERR_NOT_FOUND (field "name")
 * per mode, DF_ERR_PG, DF_ERR_NOMEM. */
df_code_t df_pipeline_save(df_pg_t *pg, const char *name, const char *description,
                           const json_t *def, df_pipeline_save_mode_t mode,
                           char id[DF_PIPELINE_ID_BUF], bool *replaced, df_error_t *err);

/* The columns of df_pipeline_list_query's rows. */
enum df_pipeline_list_col {
    DF_PIPE_L_NAME,
    DF_PIPE_L_STEPS,
    DF_PIPE_L_ENABLED,
    DF_PIPE_L_DESCRIPTION,
    DF_PIPE_L_RUNNING,
    DF_PIPE_L_LAST_ID,
    DF_PIPE_L_LAST_STATE,
    DF_PIPE_L_LAST_STARTED,
    DF_PIPE_L_DEFINITION,
    DF_PIPE_L_ID,
    DF_PIPE_L_CREATED,
    DF_PIPE_L_UPDATED,
};

/* The pipelines (name NULL: all, by name; else that one) with their step
 * count, runs in flight and last run. Caller PQclears; NULL with err set. */
PGresult *df_pipeline_list_query(df_pg_t *pg, const char *name, df_error_t *err);

/* Row `row` as the `pipelines list --json` object (name, steps, enabled,
 * description, running, last_run_id, last_run_state, last_run_started_at,
 * definition). New reference. */
json_t *df_pipeline_list_row_json(PGresult *res, int row);

/* ---- runs ----------------------------------------------------------------------- */

/* The columns of df_pipeline_runs_query's rows. */
enum df_pipeline_runs_col {
    DF_PIPE_R_ID,
    DF_PIPE_R_PIPELINE,
    DF_PIPE_R_STATE,
    DF_PIPE_R_STARTED,
    DF_PIPE_R_FINISHED,
    DF_PIPE_R_STEPS_OK,
    DF_PIPE_R_REASON,
    DF_PIPE_R_SCHEDULE,
    DF_PIPE_R_STARTED_US, /* started_at in Unix microseconds: a page's position */
};

/* Runs, newest first (name NULL: of every pipeline), at most limit; with
 * before_us and before_id (both or neither) only those started before
 * that position (a row's STARTED_US and ID: the next page). Caller
 * PQclears; NULL with err set. */
PGresult *df_pipeline_runs_query(df_pg_t *pg, const char *name, int64_t limit,
                                 const char *before_us, const char *before_id, df_error_t *err);

/* Row `row` as the `pipelines runs --json` object (run_id, pipeline,
 * state, started_at, finished_at, steps_succeeded "ok/total", reason,
 * schedule_id). New reference. */
json_t *df_pipeline_runs_row_json(PGresult *res, int row);

/* A run with its steps (`pipelines show --json`): run_id, pipeline, state,
 * started_at, finished_at, schedule_id, fire_time, reason, steps [{step,
 * after, state, task_id, rerun, attempt, started_at, finished_at, result,
 * error, params}] in definition order. New reference, or NULL with err set
 * (DF_ERR_NOT_FOUND, field "run_id", for an unknown run). */
json_t *df_pipeline_run_describe(df_pg_t *pg, const char *run_id, df_error_t *err);

/* Start a run of pipeline `name` now (its own transaction); its new id
 * into run_id. The cron leader's tick publishes the steps.
 * DF_ERR_NOT_FOUND for an unknown or disabled pipeline, DF_ERR_INVALID
 * for a stored definition that no longer validates, DF_ERR_PG. */
df_code_t df_pipeline_start(df_pg_t *pg, const char *name, char run_id[DF_ID_BUF], df_error_t *err);

/* df_pipeline_rerun (pipelines.h) in a transaction of its own. */
df_code_t df_pipeline_rerun_commit(df_pg_t *pg, const char *run_id, bool current_definition,
                                   json_t **reset, df_error_t *err);

#endif
