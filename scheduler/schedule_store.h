/* schedule_store: reading and changing the schedules table, shared by the
 * `schedules` command (cli_schedules*.c) and the REST API
 * (api/api_schedules.c). Nothing here prints: each function reports what
 * happened through its results and a df_error_t, and the callers word it.
 * What a slot is and what it publishes: schedule_slot.h. */
#ifndef DF_SCHEDULE_STORE_H
#define DF_SCHEDULE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"
#include "df_id.h"
#include "df_pg.h"

#define DF_SCHEDULE_ID_BUF 129 /* a schedules.id, with the NUL */

/* ---- reading -------------------------------------------------------------- */

/* The columns of df_schedule_query's rows. */
enum df_schedule_col {
    DF_SCHED_C_ID,
    DF_SCHED_C_NAME,
    DF_SCHED_C_EXPR,
    DF_SCHED_C_TZ,
    DF_SCHED_C_TEMPLATE,
    DF_SCHED_C_PIPELINE,
    DF_SCHED_C_ENABLED,
    DF_SCHED_C_PAUSED,
    DF_SCHED_C_MISFIRE,
    DF_SCHED_C_LIMIT,
    DF_SCHED_C_LAST_FIRED,
    DF_SCHED_C_NEXT,
    DF_SCHED_C_RUN_FIRE,
    DF_SCHED_C_RUN_TASK,
    DF_SCHED_C_RUN_PIPELINE,
    DF_SCHED_C_RUN_STATE,
    DF_SCHED_C_CREATED,
    DF_SCHED_C_UPDATED,
};

/* One row per schedule (name NULL: all, by name; else that one), each with
 * its latest fired slot and that slot's state in the history (the task's,
 * or the pipeline run's). Times are Unix ms as text. Caller PQclears; NULL
 * with err set when PostgreSQL failed. */
PGresult *df_schedule_query(df_pg_t *pg, const char *name, df_error_t *err);

/* "enabled", "paused" or "disabled" for row `row` of df_schedule_query. */
const char *df_schedule_row_state(PGresult *res, int row);

/* Row `row` as the `schedules list --json` object (id, name, expression,
 * timezone, task_template, pipeline, state, enabled, paused,
 * misfire_policy, catch_up_limit, last_fired_at, next_fire_at, last_run,
 * created_at, updated_at). New reference. */
json_t *df_schedule_row_json(PGresult *res, int row);

/* The next n fire times (RFC 3339 strings) of row `row` from its
 * next_fire_at on; [] when it is not enabled. New reference. */
json_t *df_schedule_upcoming(PGresult *res, int row, int n);

/* The latest `limit` fired slots of schedule id, newest first:
 * [{fire_time, task_id, pipeline_run_id, state, fired_at}]. New reference,
 * or NULL with err set. */
json_t *df_schedule_fires(df_pg_t *pg, const char *id, int64_t limit, df_error_t *err);

/* ---- checking a definition ------------------------------------------------- */

/* NAME: 1 to 128 letters, digits, '_', '.', ':', '-', a letter or digit first. */
bool df_schedule_name_ok(const char *name);

/* The first fire time after now_ms of cron expression expr read in zone
 * tz. DF_ERR_INVALID with err->field "timezone" for a bad zone,
 * "expression" for a bad expression (message "position N: ...") or one
 * that never fires (message "\"EXPR\" never fires"). */
df_code_t df_schedule_first_slot(const char *expr, const char *tz, int64_t now_ms, int64_t *next,
                                 df_error_t *err);

/* Whether the pipeline a schedule would start exists: DF_OK with *enabled,
 * DF_ERR_NOT_FOUND, or DF_ERR_PG. */
df_code_t df_schedule_pipeline_check(df_pg_t *pg, const char *pipeline, bool *enabled,
                                     df_error_t *err);

/* ---- changing ---------------------------------------------------------------- */

/* A schedule's definition, checked by the caller (name, expression, zone,
 * template: df_schedule_template_check, pipeline). Exactly one of
 * task_template (the template as JSON text) and pipeline (a pipeline's
 * name) is set. Everything is borrowed. */
typedef struct df_schedule_spec {
    const char *name;
    const char *expression;
    const char *timezone;
    const char *task_template;
    const char *pipeline;
    const char *misfire; /* "coalesce" | "skip" | "catch_up" */
    int64_t catch_up_limit;
    bool paused;
} df_schedule_spec_t;

/* Add a schedule whose first slot is next_ms; its new id into id.
 * DF_ERR_CONFLICT (field "name") when the name is taken, DF_ERR_PG. */
df_code_t df_schedule_add(df_pg_t *pg, const df_schedule_spec_t *spec, int64_t next_ms,
                          char id[DF_ID_BUF], df_error_t *err);

/* Replace the definition of schedule spec->name. next_fire_at becomes
 * next_ms when the expression or the zone changed or a paused schedule is
 * resumed (the slots of a pause are not missed ones), and stays otherwise.
 * DF_ERR_NOT_FOUND, DF_ERR_PG. */
df_code_t df_schedule_replace(df_pg_t *pg, const df_schedule_spec_t *spec, int64_t next_ms,
                              df_error_t *err);

/* Pause: *was_paused tells whether it was paused already (then nothing
 * changes). DF_ERR_NOT_FOUND, DF_ERR_PG. */
df_code_t df_schedule_pause(df_pg_t *pg, const char *name, bool *was_paused, df_error_t *err);

/* Resume from the first fire time after now: the slots of the pause do not
 * fire. *was_paused false: it was not paused, nothing changed. *next the
 * new next_fire_at, 0 when the stored expression no longer parses or never
 * fires (note says why; the cron leader reports it). DF_ERR_NOT_FOUND,
 * DF_ERR_PG (rolled back). */
df_code_t df_schedule_resume(df_pg_t *pg, const char *name, bool *was_paused, int64_t *next,
                             df_error_t *note, df_error_t *err);

/* Delete a schedule and its fired slots; its id into id. DF_ERR_NOT_FOUND,
 * DF_ERR_PG. */
df_code_t df_schedule_delete(df_pg_t *pg, const char *name, char id[DF_SCHEDULE_ID_BUF],
                             df_error_t *err);

/* ---- firing now ---------------------------------------------------------------- */

/* Publish a slot's task (borrowed, validated) and wait for Kafka's
 * acknowledgement: the caller's submitter. */
typedef df_code_t (*df_schedule_publish_fn)(void *ctx, json_t *task, const char *traceparent,
                                            df_error_t *err);

/* Where a trigger stopped. */
typedef enum df_schedule_stage {
    DF_SCHEDULE_STAGE_PG = 0,   /* PostgreSQL (or no such schedule) */
    DF_SCHEDULE_STAGE_TEMPLATE, /* the stored task_template no longer validates */
    DF_SCHEDULE_STAGE_PUBLISH,  /* publish failed */
    DF_SCHEDULE_STAGE_PIPELINE, /* the pipeline run could not be created */
} df_schedule_stage_t;

typedef struct df_schedule_fire {
    int64_t slot;              /* the slot: the current second, Unix ms */
    char slot_id[DF_ID_BUF];   /* its task id or pipeline run id */
    bool pipeline;             /* a pipeline run, not a task */
    bool already;              /* the slot was claimed already: nothing fired */
    char fired_id[DF_ID_BUF];  /* already: the id that slot fired ("" unknown) */
    df_schedule_stage_t stage; /* on failure */
} df_schedule_fire_t;

/* Fire schedule `name` now (even paused or disabled), in one transaction
 * that holds its row: claim the slot of the current second in
 * schedule_fires, publish its task through publish (or create its
 * pipeline run for the cron leader to start), record last_fired_at,
 * commit. A slot claimed already is not fired again (out->already, DF_OK).
 * DF_ERR_NOT_FOUND for an unknown name; other failures roll back with
 * out->stage telling where. */
df_code_t df_schedule_trigger(df_pg_t *pg, const char *name, df_schedule_publish_fn publish,
                              void *ctx, df_schedule_fire_t *out, df_error_t *err);

#endif
