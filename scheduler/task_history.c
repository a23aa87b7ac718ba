/* task_history: a task's log lines and events as JSON (see
 * task_history.h). PostgreSQL builds each row's JSON. */
#include "task_history.h"

#include <stdio.h>
#include <string.h>

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char logs_sql[] =
    "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id, 'attempt', attempt,"
    "                                             'at', " UTC(
        "at") ", 'level', level,"
              "                                             'message', message) ORDER BY id), "
              "'[]')::text"
              "  FROM (SELECT id, attempt, at, level, message FROM task_logs"
              "         WHERE task_id = $1 AND ($2::integer = 0 OR attempt = $2::integer)"
              "           AND id > $3::bigint"
              "         ORDER BY id LIMIT $4::integer) AS l";

static const char events_sql[] =
    "SELECT COALESCE(jsonb_agg(jsonb_build_object('event_id', event_id, 'attempt', attempt,"
    "              'state', state, 'at', " UTC(
        "at") ", 'worker', worker, 'progress', progress,"
              "              'error', error, 'result', result, 'recorded_at', " UTC(
                  "recorded_at") ")"
                                 "              ORDER BY at, event_id), '[]')::text"
                                 "  FROM (SELECT * FROM task_events"
                                 "         WHERE task_id = $1"
                                 "           AND ($2::text IS NULL"
                                 "                OR (at, event_id) > (SELECT at, event_id FROM "
                                 "task_events"
                                 "                                      WHERE event_id = $2 AND "
                                 "task_id = $1))"
                                 "         ORDER BY at, event_id LIMIT $3::integer) AS e";

static const char event_exists_sql[] =
    "SELECT 1 FROM task_events WHERE event_id = $1 AND task_id = $2";

static df_code_t check_args(const char *task_id, int limit, df_error_t *err)
{
    if (!task_id || !*task_id || strlen(task_id) > 256)
        return df_error_set(err, DF_ERR_INVALID, "task_id", "task_id must be 1..256 bytes");
    if (limit < 1 || limit > DF_TASK_HISTORY_LIST_MAX)
        return df_error_set(err, DF_ERR_INVALID, "limit", "limit must be 1..%d, got %d",
                            DF_TASK_HISTORY_LIST_MAX, limit);
    return DF_OK;
}

/* The single JSON value of res (freed here) into *out. */
static df_code_t take_json(PGresult *res, json_t **out, df_error_t *err)
{
    json_error_t jerr;

    *out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    if (!*out)
        return df_error_set(err, DF_ERR_INTERNAL, "task_history", "rows are not JSON: %s",
                            jerr.text);
    return DF_OK;
}

df_code_t df_task_logs_list(df_pg_t *pg, const char *task_id, int attempt, int64_t after_id,
                            int limit, json_t **out, df_error_t *err)
{
    char attempt_text[16], after[24], count[16];
    const char *params[4] = { task_id, attempt_text, after, count };
    PGresult *res;

    *out = NULL;
    if (check_args(task_id, limit, err))
        return err->code;
    if (attempt < 0)
        return df_error_set(err, DF_ERR_INVALID, "attempt", "attempt must be >= 1 (or 0: all)");
    if (after_id < 0)
        return df_error_set(err, DF_ERR_INVALID, "after", "the cursor must be an id >= 0");
    snprintf(attempt_text, sizeof(attempt_text), "%d", attempt);
    snprintf(after, sizeof(after), "%lld", (long long)after_id);
    snprintf(count, sizeof(count), "%d", limit);
    res = df_pg_exec(pg, logs_sql, 4, params, err);
    return res ? take_json(res, out, err) : err->code;
}

df_code_t df_task_events_list(df_pg_t *pg, const char *task_id, const char *after_event_id,
                              int limit, json_t **out, df_error_t *err)
{
    char count[16];
    const char *after = after_event_id && *after_event_id ? after_event_id : NULL;
    const char *params[3] = { task_id, after, count };
    PGresult *res;

    *out = NULL;
    if (check_args(task_id, limit, err))
        return err->code;
    if (after) {
        const char *exists_params[2] = { after, task_id };
        res = df_pg_exec(pg, event_exists_sql, 2, exists_params, err);
        if (!res)
            return err->code;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return df_error_set(err, DF_ERR_NOT_FOUND, "after",
                                "task %s has no event %.64s to continue after", task_id, after);
        }
        PQclear(res);
    }
    snprintf(count, sizeof(count), "%d", limit);
    res = df_pg_exec(pg, events_sql, 3, params, err);
    return res ? take_json(res, out, err) : err->code;
}
