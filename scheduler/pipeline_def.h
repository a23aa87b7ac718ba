/* pipeline_def: pipeline definitions (schemas/pipeline.v1.schema.json) as
 * the scheduler uses them, with no I/O: checking a definition, the steps
 * each step waits for, the task a step publishes and the task ids of a
 * run's steps (templates: pipeline_template.h). pipelines.c (runs and the
 * cron tick) and cli_pipelines.c (the `pipelines` command) build on it.
 * docs/PIPELINES.md describes the model. */
#ifndef DF_PIPELINE_DEF_H
#define DF_PIPELINE_DEF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "pipeline_template.h"

#define DF_PIPELINE_STEPS_MAX  100     /* the schema's maxItems */
#define DF_PIPELINE_RERUNS_MAX 1000    /* re-runs of one step of one run */
#define DF_PIPELINE_DEF_MAX    1048576 /* bytes of a definition document */

/* Check a definition: the pipeline schema, then what a schema cannot say:
 * step names unique, `after` naming known steps and no cycle, every
 * template well formed, naming a known run field or a step this step waits
 * for (directly or through others). def is borrowed. DF_ERR_INVALID with
 * err->field the JSON Pointer of the culprit ("/steps/2/after/0") and a
 * message saying what was expected; the schema's load error when it cannot
 * be loaded. */
df_code_t df_pipeline_def_check(const json_t *def, df_error_t *err);

/* A deep copy of a checked definition in which every step has an explicit
 * `after` (the step listed before it when the definition left it out): the
 * form a run keeps, so the tick can read what a step waits for in SQL.
 * Returns a new reference (caller decrefs), NULL when out of memory. */
json_t *df_pipeline_def_normalize(const json_t *def);

/* The names step i of a checked definition waits for: its `after`, or the
 * step before it. Returns a new array (caller decrefs); NULL when out of
 * memory or i is out of range. */
json_t *df_pipeline_def_after(const json_t *def, size_t i);

/* The task step (a step object of a checked definition, borrowed)
 * publishes for run run_id: type, connector, params (templates filled in
 * from scope), the optional task fields, deadline now_ms plus the step's
 * duration, pipeline {run_id, step}, submitted_by "pipeline:<pipeline>",
 * schedule_id (may be NULL), task_id; then prepared and validated as a
 * task (df_task_prepare). Returns a new object (caller decrefs) or NULL
 * with err set (DF_ERR_INVALID naming the task's field). */
json_t *df_pipeline_step_task(const json_t *step, const json_t *scope, const char *run_id,
                              const char *task_id, const char *pipeline, const char *schedule_id,
                              int64_t now_ms, df_error_t *err);

/* True when run_id can be a run id: a ULID or a lower-case UUIDv7, as
 * the task schema's `pipeline.run_id` wants. */
bool df_pipeline_run_id_valid(const char *run_id);

/* The task id of step `step` of run run_id on its rerun-th run (0 the
 * first): a ULID with run_id's time and 80 bits of SHA-256 over (run_id,
 * step, rerun), so publishing a step twice publishes one task id. buf: at
 * least DF_ID_BUF bytes. false when run_id is not valid. */
bool df_pipeline_step_task_id(const char *run_id, const char *step, int rerun, char *buf);

/* Which rerun of (run_id, step) task_id is: 0 .. DF_PIPELINE_RERUNS_MAX-1,
 * or -1 when it is none of them. */
int df_pipeline_step_rerun(const char *run_id, const char *step, const char *task_id);

#endif
