/* schedule_store: reading and changing the schedules table (see
 * schedule_store.h), for the `schedules` command and the REST API. */
#include "schedule_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_cron.h"
#include "pipelines.h"
#include "schedule_slot.h"

/* ---- reading ---- */

static const char schedules_sql[] =
    "SELECT s.id, s.name, s.expression, s.timezone, s.task_template::text, s.pipeline::text,"
    "       s.enabled, s.paused, s.misfire_policy, s.catch_up_limit,"
    "       (extract(epoch FROM s.last_fired_at) * 1000)::bigint,"
    "       (extract(epoch FROM s.next_fire_at) * 1000)::bigint,"
    "       (extract(epoch FROM f.fire_time) * 1000)::bigint,"
    "       f.task_id, f.pipeline_run_id, COALESCE(t.state, r.state),"
    "       (extract(epoch FROM s.created_at) * 1000)::bigint,"
    "       (extract(epoch FROM s.updated_at) * 1000)::bigint"
    "  FROM schedules AS s"
    "  LEFT JOIN LATERAL (SELECT fire_time, task_id, pipeline_run_id FROM schedule_fires"
    "                      WHERE schedule_id = s.id ORDER BY fire_time DESC LIMIT 1) AS f ON true"
    "  LEFT JOIN tasks AS t ON t.task_id = f.task_id"
    "  LEFT JOIN pipeline_runs AS r ON r.id = f.pipeline_run_id"
    " WHERE $1::text IS NULL OR s.name = $1"
    " ORDER BY s.name";

static const char fires_sql[] = "SELECT (extract(epoch FROM f.fire_time) * 1000)::bigint,"
                                "       f.task_id, f.pipeline_run_id, COALESCE(t.state, r.state),"
                                "       (extract(epoch FROM f.fired_at) * 1000)::bigint"
                                "  FROM schedule_fires AS f"
                                "  LEFT JOIN tasks AS t ON t.task_id = f.task_id"
                                "  LEFT JOIN pipeline_runs AS r ON r.id = f.pipeline_run_id"
                                " WHERE f.schedule_id = $1"
                                " ORDER BY f.fire_time DESC LIMIT $2::integer";

static const char *value(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t ms_value(PGresult *res, int row, int col)
{
    const char *v = value(res, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

static json_t *json_time(PGresult *res, int row, int col)
{
    char buf[40];

    if (!value(res, row, col))
        return json_null();
    df_time_format(ms_value(res, row, col), buf, sizeof(buf));
    return json_string(buf);
}

static json_t *json_text(const char *text)
{
    return text ? json_string(text) : json_null();
}

static json_t *json_doc(const char *text)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    return doc ? doc : json_null();
}

static bool is_true(PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

PGresult *df_schedule_query(df_pg_t *pg, const char *name, df_error_t *err)
{
    const char *params[1] = { name };
    return df_pg_exec(pg, schedules_sql, 1, params, err);
}

const char *df_schedule_row_state(PGresult *res, int row)
{
    if (!is_true(res, row, DF_SCHED_C_ENABLED))
        return "disabled";
    return is_true(res, row, DF_SCHED_C_PAUSED) ? "paused" : "enabled";
}

json_t *df_schedule_row_json(PGresult *res, int row)
{
    json_t *o = json_object(), *run = json_null();

    if (value(res, row, DF_SCHED_C_RUN_FIRE)) {
        run = json_object();
        json_object_set_new(run, "fire_time", json_time(res, row, DF_SCHED_C_RUN_FIRE));
        json_object_set_new(run, "task_id", json_text(value(res, row, DF_SCHED_C_RUN_TASK)));
        json_object_set_new(run, "pipeline_run_id",
                            json_text(value(res, row, DF_SCHED_C_RUN_PIPELINE)));
        json_object_set_new(run, "state", json_text(value(res, row, DF_SCHED_C_RUN_STATE)));
    }
    json_object_set_new(o, "id", json_string(PQgetvalue(res, row, DF_SCHED_C_ID)));
    json_object_set_new(o, "name", json_string(PQgetvalue(res, row, DF_SCHED_C_NAME)));
    json_object_set_new(o, "expression", json_string(PQgetvalue(res, row, DF_SCHED_C_EXPR)));
    json_object_set_new(o, "timezone", json_string(PQgetvalue(res, row, DF_SCHED_C_TZ)));
    json_object_set_new(o, "task_template", json_doc(value(res, row, DF_SCHED_C_TEMPLATE)));
    json_object_set_new(o, "pipeline", json_doc(value(res, row, DF_SCHED_C_PIPELINE)));
    json_object_set_new(o, "state", json_string(df_schedule_row_state(res, row)));
    json_object_set_new(o, "enabled", json_boolean(is_true(res, row, DF_SCHED_C_ENABLED)));
    json_object_set_new(o, "paused", json_boolean(is_true(res, row, DF_SCHED_C_PAUSED)));
    json_object_set_new(o, "misfire_policy", json_string(PQgetvalue(res, row, DF_SCHED_C_MISFIRE)));
    json_object_set_new(o, "catch_up_limit", json_integer(ms_value(res, row, DF_SCHED_C_LIMIT)));
    json_object_set_new(o, "last_fired_at", json_time(res, row, DF_SCHED_C_LAST_FIRED));
    json_object_set_new(o, "next_fire_at", json_time(res, row, DF_SCHED_C_NEXT));
    json_object_set_new(o, "last_run", run);
    json_object_set_new(o, "created_at", json_time(res, row, DF_SCHED_C_CREATED));
    json_object_set_new(o, "updated_at", json_time(res, row, DF_SCHED_C_UPDATED));
    return o;
}

json_t *df_schedule_upcoming(PGresult *res, int row, int n)
{
    json_t *arr = json_array();
    df_error_t err;
    df_cron_t *cron;
    int64_t t;

    if (!value(res, row, DF_SCHED_C_NEXT) || strcmp(df_schedule_row_state(res, row), "enabled"))
        return arr;
    df_error_init(&err);
    cron = df_cron_parse(PQgetvalue(res, row, DF_SCHED_C_EXPR), PQgetvalue(res, row, DF_SCHED_C_TZ),
                         &err);
    t = ms_value(res, row, DF_SCHED_C_NEXT) - 1;
    for (int i = 0; cron && i < n && df_cron_next(cron, t, &t); i++) {
        char buf[40];
        df_time_format(t, buf, sizeof(buf));
        json_array_append_new(arr, json_string(buf));
    }
    df_cron_free(cron);
    return arr;
}

json_t *df_schedule_fires(df_pg_t *pg, const char *id, int64_t limit, df_error_t *err)
{
    char limit_text[24];
    const char *params[2] = { id, limit_text };
    json_t *arr;
    PGresult *res;

    snprintf(limit_text, sizeof(limit_text), "%lld", (long long)limit);
    res = df_pg_exec(pg, fires_sql, 2, params, err);
    if (!res)
        return NULL;
    arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        json_object_set_new(o, "fire_time", json_time(res, r, 0));
        json_object_set_new(o, "task_id", json_text(value(res, r, 1)));
        json_object_set_new(o, "pipeline_run_id", json_text(value(res, r, 2)));
        json_object_set_new(o, "state", json_text(value(res, r, 3)));
        json_object_set_new(o, "fired_at", json_time(res, r, 4));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return arr;
}

/* ---- checking ---- */

bool df_schedule_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len < 1 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("_.:-", c)))
            return false;
    }
    return true;
}

df_code_t df_schedule_first_slot(const char *expr, const char *tz, int64_t now_ms, int64_t *next,
                                 df_error_t *err)
{
    df_cron_t *cron = df_cron_parse(expr, tz, err);
    bool fires;

    if (!cron)
        return err->code ? err->code : DF_ERR_INVALID;
    fires = df_cron_next(cron, now_ms, next);
    df_cron_free(cron);
    if (!fires)
        return df_error_set(err, DF_ERR_INVALID, "expression", "\"%s\" never fires", expr);
    return DF_OK;
}

df_code_t df_schedule_pipeline_check(df_pg_t *pg, const char *pipeline, bool *enabled,
                                     df_error_t *err)
{
    const char *params[1] = { pipeline };
    PGresult *res;
    df_code_t rc = DF_OK;

    res = df_pg_exec(pg, "SELECT enabled FROM pipelines WHERE name = $1", 1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0)
        rc = df_error_set(err, DF_ERR_NOT_FOUND, "pipeline", "no pipeline named \"%s\"", pipeline);
    else
        *enabled = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* ---- changing ---- */

/* The `pipeline` column of a spec: {"name": ...} as text (caller frees),
 * or NULL for a task schedule. */
static char *pipeline_ref(const df_schedule_spec_t *spec)
{
    json_t *ref;
    char *text;

    if (!spec->pipeline)
        return NULL;
    ref = json_pack("{s:s}", "name", spec->pipeline);
    text = ref ? json_dumps(ref, JSON_COMPACT) : NULL;
    json_decref(ref);
    return text;
}

df_code_t df_schedule_add(df_pg_t *pg, const df_schedule_spec_t *spec, int64_t next_ms,
                          char id[DF_ID_BUF], df_error_t *err)
{
    char next_text[24], limit_text[24], *pipe_text = pipeline_ref(spec);
    PGresult *res;
    df_code_t rc = DF_OK;

    df_id_ulid(id);
    snprintf(next_text, sizeof(next_text), "%lld", (long long)next_ms);
    snprintf(limit_text, sizeof(limit_text), "%lld", (long long)spec->catch_up_limit);
    {
        const char *params[] = { id,
                                 spec->name,
                                 spec->expression,
                                 spec->timezone,
                                 spec->pipeline ? NULL : spec->task_template,
                                 pipe_text,
                                 spec->paused ? "true" : "false",
                                 spec->misfire,
                                 limit_text,
                                 next_text };
        res = df_pg_exec(pg,
                         "INSERT INTO schedules (id, name, expression, timezone, task_template,"
                         "       pipeline, paused, misfire_policy, catch_up_limit, next_fire_at)"
                         " VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::boolean, $8,"
                         "         $9::integer, to_timestamp($10::bigint / 1000.0))"
                         " ON CONFLICT (name) DO NOTHING RETURNING id",
                         10, params, err);
    }
    free(pipe_text);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0)
        rc = df_error_set(err, DF_ERR_CONFLICT, "name", "a schedule named \"%s\" exists",
                          spec->name);
    PQclear(res);
    return rc;
}

df_code_t df_schedule_replace(df_pg_t *pg, const df_schedule_spec_t *spec, int64_t next_ms,
                              df_error_t *err)
{
    char next_text[24], limit_text[24], *pipe_text = pipeline_ref(spec);
    long long rows = 0;
    df_code_t rc;

    snprintf(next_text, sizeof(next_text), "%lld", (long long)next_ms);
    snprintf(limit_text, sizeof(limit_text), "%lld", (long long)spec->catch_up_limit);
    {
        const char *params[] = { spec->name,     spec->expression,
                                 spec->timezone, spec->pipeline ? NULL : spec->task_template,
                                 pipe_text,      spec->paused ? "true" : "false",
                                 spec->misfire,  limit_text,
                                 next_text };
        rc = df_pg_run(pg,
                       "UPDATE schedules SET expression = $2, timezone = $3,"
                       "       task_template = $4::jsonb, pipeline = $5::jsonb,"
                       "       next_fire_at = CASE WHEN expression <> $2 OR timezone <> $3"
                       "                             OR (paused AND NOT $6::boolean)"
                       "                           THEN to_timestamp($9::bigint / 1000.0)"
                       "                           ELSE next_fire_at END,"
                       "       paused = $6::boolean, misfire_policy = $7,"
                       "       catch_up_limit = $8::integer, updated_at = now()"
                       " WHERE name = $1",
                       9, params, &rows, err);
    }
    free(pipe_text);
    if (rc == DF_OK && rows == 0)
        rc = df_error_set(err, DF_ERR_NOT_FOUND, "name", "no schedule named \"%s\"", spec->name);
    return rc;
}

df_code_t df_schedule_pause(df_pg_t *pg, const char *name, bool *was_paused, df_error_t *err)
{
    const char *params[1] = { name };
    PGresult *res;

    res = df_pg_exec(pg,
                     "WITH old AS (SELECT id, paused FROM schedules WHERE name = $1 FOR UPDATE)"
                     " UPDATE schedules AS s SET paused = true,"
                     "        updated_at = CASE WHEN old.paused THEN s.updated_at ELSE now() END"
                     "   FROM old WHERE s.id = old.id RETURNING old.paused",
                     1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no schedule named \"%s\"", name);
    }
    *was_paused = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return DF_OK;
}

df_code_t df_schedule_resume(df_pg_t *pg, const char *name, bool *was_paused, int64_t *next,
                             df_error_t *note, df_error_t *err)
{
    const char *params[2] = { name, NULL };
    char next_text[24];
    df_cron_t *cron;
    PGresult *res;

    *was_paused = false;
    *next = 0;
    if (df_pg_begin(pg, err))
        return err->code;
    res = df_pg_exec(
        pg, "SELECT expression, timezone, paused FROM schedules WHERE name = $1 FOR UPDATE", 1,
        params, err);
    if (!res)
        goto fail;
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        bool found = PQntuples(res) != 0;
        PQclear(res);
        df_pg_rollback(pg, NULL);
        if (!found)
            return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no schedule named \"%s\"", name);
        return DF_OK;
    }
    *was_paused = true;
    /* From now on: the slots of the pause are not missed ones. An
     * expression that no longer parses is left for the leader to report. */
    cron = df_cron_parse(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), note);
    PQclear(res);
    if (!cron || !df_cron_next(cron, df_now_ms(), next)) {
        if (cron)
            df_error_set(note, DF_ERR_INVALID, "expression", "the expression never fires");
        *next = 0;
    }
    df_cron_free(cron);
    snprintf(next_text, sizeof(next_text), "%lld", (long long)*next);
    params[1] = *next ? next_text : NULL;
    if (df_pg_run(pg,
                  "UPDATE schedules SET paused = false, updated_at = now(),"
                  "       next_fire_at = to_timestamp($2::bigint / 1000.0) WHERE name = $1",
                  2, params, NULL, err) ||
        df_pg_commit(pg, err))
        goto fail;
    return DF_OK;
fail:
    df_pg_rollback(pg, NULL);
    return err->code;
}

df_code_t df_schedule_delete(df_pg_t *pg, const char *name, char id[DF_SCHEDULE_ID_BUF],
                             df_error_t *err)
{
    const char *params[1] = { name };
    PGresult *res;

    res = df_pg_exec(pg, "DELETE FROM schedules WHERE name = $1 RETURNING id", 1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no schedule named \"%s\"", name);
    }
    snprintf(id, DF_SCHEDULE_ID_BUF, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return DF_OK;
}

/* ---- firing now ---- */

/* The id the claimed slot fired ("" when it cannot be read). */
static void fired_by(df_pg_t *pg, const char *id, df_schedule_fire_t *out)
{
    char slot_text[24];
    const char *params[2] = { id, slot_text };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    snprintf(slot_text, sizeof(slot_text), "%lld", (long long)out->slot);
    res = df_pg_exec(pg,
                     "SELECT COALESCE(task_id, pipeline_run_id) FROM schedule_fires"
                     " WHERE schedule_id = $1 AND fire_time = to_timestamp($2::bigint / 1000.0)",
                     2, params, &err);
    snprintf(out->fired_id, sizeof(out->fired_id), "%s",
             res && PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

/* Build and publish the slot's task from the stored template. */
static df_code_t publish_slot(const char *template_text, const char *id, const char *name,
                              df_schedule_publish_fn publish, void *ctx, df_schedule_fire_t *out,
                              df_error_t *err)
{
    char traceparent[DF_SCHEDULE_TRACEPARENT];
    json_t *tmpl = json_loads(template_text, 0, NULL), *task = NULL;
    df_code_t rc;

    out->stage = DF_SCHEDULE_STAGE_TEMPLATE;
    rc = df_schedule_template_check(tmpl, name, err);
    if (rc == DF_OK)
        task = df_schedule_task(tmpl, id, name, out->slot, err);
    json_decref(tmpl);
    if (!task)
        return rc ? rc : err->code;
    out->stage = DF_SCHEDULE_STAGE_PUBLISH;
    df_schedule_slot_traceparent(id, out->slot, traceparent);
    rc = publish(ctx, task, traceparent, err);
    json_decref(task);
    return rc;
}

df_code_t df_schedule_trigger(df_pg_t *pg, const char *name, df_schedule_publish_fn publish,
                              void *ctx, df_schedule_fire_t *out, df_error_t *err)
{
    const char *params[4];
    char slot_text[24], id[DF_SCHEDULE_ID_BUF];
    PGresult *row = NULL, *res;
    bool created = false;
    df_code_t rc;

    memset(out, 0, sizeof(*out));
    out->stage = DF_SCHEDULE_STAGE_PG;
    if (df_pg_begin(pg, err))
        return err->code;
    params[0] = name;
    row = df_pg_exec(pg,
                     "SELECT id, task_template::text, pipeline::text FROM schedules"
                     " WHERE name = $1 FOR UPDATE",
                     1, params, err);
    if (!row)
        goto fail;
    if (PQntuples(row) == 0) {
        PQclear(row);
        df_pg_rollback(pg, NULL);
        return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no schedule named \"%s\"", name);
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(row, 0, 0));
    out->pipeline = PQgetisnull(row, 0, 1);
    out->slot = df_now_ms() / 1000 * 1000;
    df_schedule_slot_id(id, out->slot, out->slot_id);
    snprintf(slot_text, sizeof(slot_text), "%lld", (long long)out->slot);
    params[0] = id;
    params[1] = slot_text;
    params[2] = out->pipeline ? NULL : out->slot_id;
    params[3] = out->pipeline ? out->slot_id : NULL;
    res = df_pg_exec(pg,
                     "INSERT INTO schedule_fires (schedule_id, fire_time, task_id, pipeline_run_id,"
                     "       fired_at)"
                     " VALUES ($1, to_timestamp($2::bigint / 1000.0), $3, $4, clock_timestamp())"
                     " ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING 1",
                     4, params, err);
    if (!res)
        goto fail;
    if (PQntuples(res) == 0) {
        PQclear(res);
        PQclear(row);
        df_pg_rollback(pg, NULL);
        out->already = true;
        fired_by(pg, id, out);
        return DF_OK;
    }
    PQclear(res);
    if (out->pipeline) {
        json_t *ref = json_loads(PQgetvalue(row, 0, 2), 0, NULL);
        out->stage = DF_SCHEDULE_STAGE_PIPELINE;
        rc = df_pipeline_run_create(pg, ref, out->slot_id, id, out->slot, &created, err);
        json_decref(ref);
    } else {
        rc = publish_slot(PQgetvalue(row, 0, 1), id, name, publish, ctx, out, err);
    }
    if (rc != DF_OK)
        goto fail;
    out->stage = DF_SCHEDULE_STAGE_PG;
    if (df_pg_run(
            pg,
            "UPDATE schedules"
            "   SET last_fired_at = GREATEST(last_fired_at, to_timestamp($2::bigint / 1000.0))"
            " WHERE id = $1",
            2, params, NULL, err) ||
        df_pg_commit(pg, err))
        goto fail;
    PQclear(row);
    return DF_OK;
fail:
    df_pg_rollback(pg, NULL);
    PQclear(row);
    return err->code ? err->code : DF_ERR_INTERNAL;
}
