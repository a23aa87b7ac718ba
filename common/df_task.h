/* df_task: the task and event messages of DESIGN.md as the code sees them:
 * filling a task's defaults, validating tasks and events against
 * schemas/{task,event}.v1.schema.json, the Kafka key of a task, and building
 * events. The schemas are loaded once per process, on first use. */
#ifndef DF_TASK_H
#define DF_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"

#define DF_TASK_SCHEMA  "datafleet.task/v1"
#define DF_EVENT_SCHEMA "datafleet.event/v1"

/* How long df:task:{id} is kept in Redis after the task ended. */
#define DF_TASK_KEEP_S (3 * 24 * 3600)

/* Task states (the `state` of events, df:task:{id} and the tasks table). */
#define DF_STATE_QUEUED    "queued"
#define DF_STATE_RUNNING   "running"
#define DF_STATE_PROGRESS  "progress"
#define DF_STATE_SUCCEEDED "succeeded"
#define DF_STATE_FAILED    "failed"
#define DF_STATE_RETRYING  "retrying"
#define DF_STATE_DEAD      "dead"
#define DF_STATE_CANCELLED "cancelled"

/* succeeded, failed, dead, cancelled. */
bool df_state_is_terminal(const char *state);

/* Give a task what a producer adds: a ULID task_id when absent,
 * submitted_at (now), submitted_by (when given and absent), attempt 1. Then
 * validate it. task is borrowed and modified. DF_ERR_INVALID with the JSON
 * path in err->field when it does not validate. */
df_code_t df_task_prepare(json_t *task, const char *submitted_by, df_error_t *err);

/* Validate against the task / event schema (loaded on first use). */
df_code_t df_task_validate(const json_t *task, df_error_t *err);
df_code_t df_event_validate(const json_t *event, df_error_t *err);

/* Borrowed strings of a task (NULL when absent or not a string). */
const char *df_task_str(const json_t *task, const char *field);
/* The Kafka key: ordering_key when set, else task_id. */
const char *df_task_key(const json_t *task);
/* attempt (1 when absent). */
int df_task_attempt(const json_t *task);

/* A new event object with event_id, task_id, attempt, state, at (now) and
 * worker (left out when NULL). Caller owns the result (json_decref). */
json_t *df_event_new(const char *task_id, int attempt, const char *state, const char *worker);

/* Add {"code","message","retryable"[,"retry_after_ms"][,"field"]} from err
 * to event as "error". The message goes through the log redaction rules. */
void df_event_set_error(json_t *event, const char *code, const df_error_t *err);

#endif
