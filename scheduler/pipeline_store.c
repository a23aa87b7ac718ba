/* pipeline_store: pipeline definitions and runs as the `pipelines` command
 * and the REST API read and change them (see pipeline_store.h). */
#include "pipeline_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_def.h"
#include "pipelines.h"

/* ---- shared helpers ---- */

bool df_pipeline_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n < 1 || n > 128 ||
        !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

json_t *df_pipeline_time_json(const char *ms_text)
{
    char buf[40];

    if (!ms_text || !*ms_text)
        return json_null();
    df_time_format(strtoll(ms_text, NULL, 10), buf, sizeof(buf));
    return json_string(buf);
}

static json_t *json_text(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* A jsonb column -> its value, or JSON null. */
static json_t *json_column(PGresult *res, int row, int col)
{
    json_t *v = PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
    return v ? v : json_null();
}

/* A nullable text column as a C string (NULL when SQL NULL). */
static const char *column(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* On failure roll back (err keeps the first failure). */
static df_code_t commit_or_rollback(df_pg_t *pg, df_code_t rc, df_error_t *err)
{
    df_error_t ignored;

    if (rc == DF_OK)
        rc = df_pg_commit(pg, err);
    if (rc != DF_OK) {
        df_error_init(&ignored);
        df_pg_rollback(pg, &ignored);
    }
    return rc;
}

/* ---- definitions ---- */

static const char add_sql[] =
    "INSERT INTO pipelines (id, name, description, definition) VALUES ($1, $2, $3, $4::jsonb)"
    " ON CONFLICT (name) DO UPDATE SET description = excluded.description,"
    "        definition = excluded.definition, updated_at = now()"
    "  WHERE $5::boolean"
    " RETURNING id";

static const char replace_sql[] =
    "UPDATE pipelines SET description = $2, definition = $3::jsonb, updated_at = now()"
    " WHERE name = $1 RETURNING id";

df_code_t df_pipeline_save(df_pg_t *pg, const char *name, const char *description,
                           const json_t *def, df_pipeline_save_mode_t mode,
                           char id[DF_PIPELINE_ID_BUF], bool *replaced, df_error_t *err)
{
    char new_id[DF_ID_BUF], *text = json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *params[] = { new_id, name, description, text,
                             mode == DF_PIPELINE_ADD ? "false" : "true" };
    PGresult *res;
    df_code_t rc = DF_OK;

    *replaced = false;
    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    df_id_ulid(new_id);
    if (mode == DF_PIPELINE_REPLACE)
        res = df_pg_exec(pg, replace_sql, 3, params + 1, err);
    else
        res = df_pg_exec(pg, add_sql, 5, params, err);
    free(text);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1) {
        rc = mode == DF_PIPELINE_REPLACE
                 ? df_error_set(err, DF_ERR_NOT_FOUND, "name", "no pipeline is named \"%s\"", name)
                 : df_error_set(err, DF_ERR_CONFLICT, "name",
                                "a pipeline named \"%s\" exists already", name);
    } else {
        snprintf(id, DF_PIPELINE_ID_BUF, "%s", PQgetvalue(res, 0, 0));
        *replaced = strcmp(id, new_id) != 0;
    }
    PQclear(res);
    return rc;
}

static const char list_sql[] =
    "SELECT p.name, jsonb_array_length(p.definition->'steps'), p.enabled, p.description,"
    "       (SELECT count(*) FROM pipeline_runs r WHERE r.pipeline_id = p.id"
    "           AND r.state = 'running'),"
    "       l.id, l.state, floor(extract(epoch FROM l.started_at) * 1000)::bigint,"
    "       p.definition, p.id, floor(extract(epoch FROM p.created_at) * 1000)::bigint,"
    "       floor(extract(epoch FROM p.updated_at) * 1000)::bigint"
    "  FROM pipelines p LEFT JOIN LATERAL ("
    "       SELECT id, state, started_at FROM pipeline_runs r WHERE r.pipeline_id = p.id"
    "        ORDER BY started_at DESC, id DESC LIMIT 1) AS l ON true"
    " WHERE $1::text IS NULL OR p.name = $1"
    " ORDER BY p.name";

PGresult *df_pipeline_list_query(df_pg_t *pg, const char *name, df_error_t *err)
{
    return df_pg_exec(pg, list_sql, 1, (const char *[]){ name }, err);
}

json_t *df_pipeline_list_row_json(PGresult *res, int i)
{
    return json_pack("{s:s, s:i, s:b, s:o, s:i, s:o, s:o, s:o, s:o}", "name",
                     PQgetvalue(res, i, DF_PIPE_L_NAME), "steps",
                     atoi(PQgetvalue(res, i, DF_PIPE_L_STEPS)), "enabled",
                     strcmp(PQgetvalue(res, i, DF_PIPE_L_ENABLED), "t") == 0, "description",
                     json_text(res, i, DF_PIPE_L_DESCRIPTION), "running",
                     atoi(PQgetvalue(res, i, DF_PIPE_L_RUNNING)), "last_run_id",
                     json_text(res, i, DF_PIPE_L_LAST_ID), "last_run_state",
                     json_text(res, i, DF_PIPE_L_LAST_STATE), "last_run_started_at",
                     df_pipeline_time_json(column(res, i, DF_PIPE_L_LAST_STARTED)), "definition",
                     json_column(res, i, DF_PIPE_L_DEFINITION));
}

/* ---- runs ---- */

static const char runs_sql[] =
    "SELECT r.id, p.name, r.state, floor(extract(epoch FROM r.started_at) * 1000)::bigint,"
    "       floor(extract(epoch FROM r.finished_at) * 1000)::bigint,"
    "       (SELECT count(*) FILTER (WHERE s.state = 'succeeded') || '/' || count(*)"
    "          FROM pipeline_steps s WHERE s.run_id = r.id),"
    "       " DF_PIPELINE_REASON_SQL ", r.schedule_id,"
    "       (extract(epoch FROM r.started_at) * 1000000)::bigint"
    "  FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
    " WHERE ($1::text IS NULL OR p.name = $1)"
    "   AND ($3::bigint IS NULL OR (r.started_at, r.id) <"
    "        ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text))"
    " ORDER BY r.started_at DESC, r.id DESC LIMIT $2::integer";

PGresult *df_pipeline_runs_query(df_pg_t *pg, const char *name, int64_t limit,
                                 const char *before_us, const char *before_id, df_error_t *err)
{
    char limit_text[24];
    const char *params[] = { name, limit_text, before_id ? before_us : NULL,
                             before_us ? before_id : NULL };

    snprintf(limit_text, sizeof(limit_text), "%lld", (long long)limit);
    return df_pg_exec(pg, runs_sql, 4, params, err);
}

json_t *df_pipeline_runs_row_json(PGresult *res, int i)
{
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "run_id", PQgetvalue(res, i, DF_PIPE_R_ID),
        "pipeline", PQgetvalue(res, i, DF_PIPE_R_PIPELINE), "state",
        PQgetvalue(res, i, DF_PIPE_R_STATE), "started_at",
        df_pipeline_time_json(column(res, i, DF_PIPE_R_STARTED)), "finished_at",
        df_pipeline_time_json(column(res, i, DF_PIPE_R_FINISHED)), "steps_succeeded",
        PQgetvalue(res, i, DF_PIPE_R_STEPS_OK), "reason", json_text(res, i, DF_PIPE_R_REASON),
        "schedule_id", json_text(res, i, DF_PIPE_R_SCHEDULE));
}

static const char run_sql[] =
    "SELECT r.id, p.name, r.state,"
    "       floor(extract(epoch FROM r.started_at) * 1000)::bigint,"
    "       floor(extract(epoch FROM r.finished_at) * 1000)::bigint,"
    "       r.schedule_id, floor(extract(epoch FROM r.fire_time) * 1000)::bigint,"
    "       " DF_PIPELINE_REASON_SQL
    " FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
    " WHERE r.id = $1";

static const char run_steps_sql[] =
    "SELECT s.step, d.value->'after', s.state, s.task_id,"
    "       floor(extract(epoch FROM s.started_at) * 1000)::bigint,"
    "       floor(extract(epoch FROM s.finished_at) * 1000)::bigint,"
    "       s.result, s.error, t.attempt, t.task->'params'"
    "  FROM pipeline_runs r"
    "  CROSS JOIN LATERAL jsonb_array_elements(r.definition->'steps') WITH ORDINALITY AS d (value, "
    "ord)"
    "  JOIN pipeline_steps s ON s.run_id = r.id AND s.step = d.value->>'name'"
    "  LEFT JOIN tasks t ON t.task_id = s.task_id"
    " WHERE r.id = $1 ORDER BY d.ord";

static bool published(const char *state)
{
    return strcmp(state, "pending") != 0 && strcmp(state, "skipped") != 0;
}

json_t *df_pipeline_run_describe(df_pg_t *pg, const char *run_id, df_error_t *err)
{
    PGresult *run, *steps;
    json_t *out, *list;

    if (!(run = df_pg_exec(pg, run_sql, 1, (const char *[]){ run_id }, err)))
        return NULL;
    if (PQntuples(run) != 1) {
        PQclear(run);
        df_error_set(err, DF_ERR_NOT_FOUND, "run_id", "no pipeline run has id \"%s\"", run_id);
        return NULL;
    }
    if (!(steps = df_pg_exec(pg, run_steps_sql, 1, (const char *[]){ run_id }, err))) {
        PQclear(run);
        return NULL;
    }
    list = json_array();
    for (int i = 0; i < PQntuples(steps); i++) {
        const char *name = PQgetvalue(steps, i, 0), *state = PQgetvalue(steps, i, 2);
        const char *task_id = column(steps, i, 3);
        json_t *step = json_pack("{s:s, s:o, s:s}", "step", name, "after", json_column(steps, i, 1),
                                 "state", state);
        json_object_set_new(step, "task_id",
                            task_id && published(state) ? json_string(task_id) : json_null());
        json_object_set_new(step, "rerun",
                            json_integer(df_pipeline_step_rerun(run_id, name, task_id)));
        json_object_set_new(step, "attempt",
                            PQgetisnull(steps, i, 8)
                                ? json_null()
                                : json_integer(strtol(PQgetvalue(steps, i, 8), NULL, 10)));
        json_object_set_new(step, "started_at", df_pipeline_time_json(column(steps, i, 4)));
        json_object_set_new(step, "finished_at", df_pipeline_time_json(column(steps, i, 5)));
        json_object_set_new(step, "result", json_column(steps, i, 6));
        json_object_set_new(step, "error", json_column(steps, i, 7));
        json_object_set_new(step, "params", json_column(steps, i, 9));
        json_array_append_new(list, step);
    }
    out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "run_id", run_id, "pipeline",
                    PQgetvalue(run, 0, 1), "state", PQgetvalue(run, 0, 2), "started_at",
                    df_pipeline_time_json(column(run, 0, 3)), "finished_at",
                    df_pipeline_time_json(column(run, 0, 4)), "schedule_id", json_text(run, 0, 5),
                    "fire_time", df_pipeline_time_json(column(run, 0, 6)), "reason",
                    json_text(run, 0, 7), "steps", list);
    PQclear(run);
    PQclear(steps);
    if (!out)
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    return out;
}

df_code_t df_pipeline_start(df_pg_t *pg, const char *name, char run_id[DF_ID_BUF], df_error_t *err)
{
    json_t *ref = json_pack("{s:s}", "name", name);
    bool created = false;
    df_code_t rc;

    df_id_ulid(run_id);
    rc = df_pg_begin(pg, err);
    if (rc == DF_OK)
        rc = df_pipeline_run_create(pg, ref, run_id, NULL, 0, &created, err);
    rc = commit_or_rollback(pg, rc, err);
    json_decref(ref);
    return rc;
}

df_code_t df_pipeline_rerun_commit(df_pg_t *pg, const char *run_id, bool current_definition,
                                   json_t **reset, df_error_t *err)
{
    df_code_t rc = df_pg_begin(pg, err);

    if (rc == DF_OK)
        rc = df_pipeline_rerun(pg, run_id, current_definition, reset, err);
    return commit_or_rollback(pg, rc, err);
}
