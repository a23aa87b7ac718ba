/* task_history: a task's history as the REST API and the command-line
 * tools show it, read from PostgreSQL: its log lines (task_logs, one per
 * recorded event, written by the recorder) and its events (task_events).
 * Both answer with a JSON array; times are RFC 3339 UTC with
 * milliseconds. A task with no rows (or no such task) gives an empty
 * array: whether the task exists is the `tasks` table's to say. */
#ifndef DF_TASK_HISTORY_H
#define DF_TASK_HISTORY_H

#include <jansson.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"

/* The largest page either list returns. */
#define DF_TASK_HISTORY_LIST_MAX 1000

/* The log lines of task_id, of one attempt (attempt > 0) or of all
 * (attempt 0), with id > after_id (0: from the first), at most limit
 * (1..DF_TASK_HISTORY_LIST_MAX), in id order (the order the recorder wrote
 * them: event order within a batch). *out: a new array of
 * {"id", "attempt", "at", "level", "message"} (caller json_decrefs); the
 * last element's id is the cursor of the next page. DF_ERR_INVALID naming
 * the argument when one is out of range; DF_ERR_PG. */
df_code_t df_task_logs_list(df_pg_t *pg, const char *task_id, int attempt, int64_t after_id,
                            int limit, json_t **out, df_error_t *err);

/* The events of task_id in order (at, then event_id), after the event
 * after_event_id (NULL or "": from the first; an id that is not one of the
 * task's events gives DF_ERR_NOT_FOUND), at most limit
 * (1..DF_TASK_HISTORY_LIST_MAX). *out: a new array of {"event_id",
 * "attempt", "state", "at", "worker", "progress", "error", "result",
 * "recorded_at"} (absent JSON columns are null; caller json_decrefs).
 * DF_ERR_INVALID naming the argument when one is out of range; DF_ERR_PG. */
df_code_t df_task_events_list(df_pg_t *pg, const char *task_id, const char *after_event_id,
                              int limit, json_t **out, df_error_t *err);

#endif
