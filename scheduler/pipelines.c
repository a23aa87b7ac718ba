/* pipelines: creating and re-running pipeline runs (pipelines.h), and the
 * pipelines part of the cron leader's loop (cron_role.h).
 *
 * The tick, in one transaction, over a page of live runs (state running;
 * the partial index pipeline_runs_live_idx keeps history out of it), each
 * under a transaction-scoped advisory lock it only tries, so a run being
 * re-run from the command line is left for the next tick:
 *   1. steps whose task is published take their task's state, times,
 *      result and error from `tasks` (the recorder writes it from the
 *      events; retrying counts as running);
 *   2. pending steps of healthy runs whose predecessors all succeeded get
 *      their task built (templates filled in from the predecessors'
 *      results) and are published; those Kafka acknowledged become queued,
 *      those whose task cannot be built fail with the reason;
 *   3. pending steps of runs with a failed step are skipped, and runs with
 *      no step left in flight end: succeeded when every step did, else
 *      failed.
 * A crash or a failed commit after publishing leaves the steps pending:
 * the next tick publishes them again under the same task ids, which run
 * once. */
#include "pipelines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_role.h"
#include "df_id.h"
#include "df_log.h"
#include "pipeline_def.h"

/* The advisory lock class of runs (two-key form: never the cron leader's
 * or the migrations' one-key locks); the second key is hashtext(run id). */
#define RUN_LOCK_CLASS     "1684435049"
#define RUNS_PER_TICK      500
#define PUBLISH_TIMEOUT_MS 10000
#define IDLE_WAIT_MS       1000
#define RETRY_WAIT_MS      1000

static const char find_pipeline_sql[] =
    "SELECT id, definition::text FROM pipelines WHERE name = $1 AND enabled";

static const char insert_run_sql[] =
    "INSERT INTO pipeline_runs (id, pipeline_id, definition, schedule_id, fire_time)"
    " VALUES ($1, $2, $3::jsonb, $4,"
    "         'epoch'::timestamptz + $5::bigint * interval '1 millisecond')"
    " ON CONFLICT (id) DO NOTHING";

static const char insert_steps_sql[] =
    "INSERT INTO pipeline_steps (run_id, step, task_id)"
    " SELECT $1, s.step, s.task_id FROM jsonb_to_recordset($2::jsonb) AS s (step text, task_id "
    "text)";

static const char lock_run_sql[] = "SELECT pg_advisory_xact_lock(" RUN_LOCK_CLASS ", hashtext($1))";

/* ---- creating a run ---- */

/* [{step, task_id}] of a normalized definition's steps, first run. */
static json_t *first_steps(const json_t *def, const char *run_id)
{
    json_t *rows = json_array(), *step;
    size_t i;

    json_array_foreach(json_object_get(def, "steps"), i, step)
    {
        const char *name = json_string_value(json_object_get(step, "name"));
        char id[DF_ID_BUF];
        if (!rows || !df_pipeline_step_task_id(run_id, name, 0, id) ||
            json_array_append_new(rows, json_pack("{s:s, s:s}", "step", name, "task_id", id))) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

df_code_t df_pipeline_run_create(df_pg_t *pg, const json_t *ref, const char *run_id,
                                 const char *schedule_id, int64_t fire_time_ms, bool *created,
                                 df_error_t *err)
{
    const char *name = json_string_value(json_object_get(ref, "name"));
    json_t *def = NULL, *norm = NULL, *steps = NULL;
    char *def_text = NULL, *steps_text = NULL, fire[24];
    PGresult *res = NULL;
    long long rows = 0;
    df_code_t rc;

    *created = false;
    if (!json_is_object(ref) || !name || !*name)
        return df_error_set(err, DF_ERR_INVALID, "/pipeline/name",
                            "expected {\"name\": \"<pipeline name>\"}");
    if (!df_pipeline_run_id_valid(run_id))
        return df_error_set(err, DF_ERR_INVALID, "run_id",
                            "run id \"%s\": expected a ULID or a lower-case UUIDv7",
                            run_id ? run_id : "");
    res = df_pg_exec(pg, find_pipeline_sql, 1, (const char *[]){ name }, err);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1) {
        rc = df_error_set(err, DF_ERR_NOT_FOUND, "/pipeline/name",
                          "no enabled pipeline is named \"%s\"", name);
        goto out;
    }
    def = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (!def || (rc = df_pipeline_def_check(def, err)) != DF_OK) {
        if (!def)
            df_error_set(err, DF_ERR_INVALID, "/definition", "not JSON");
        df_error_prefix(err, "pipeline %s: its definition at %s", name,
                        err->field[0] ? err->field : "/");
        rc = DF_ERR_INVALID;
        goto out;
    }
    norm = df_pipeline_def_normalize(def);
    steps = norm ? first_steps(norm, run_id) : NULL;
    def_text = norm ? json_dumps(norm, JSON_COMPACT) : NULL;
    steps_text = steps ? json_dumps(steps, JSON_COMPACT) : NULL;
    if (!def_text || !steps_text) {
        rc = df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    snprintf(fire, sizeof(fire), "%lld", (long long)fire_time_ms);
    {
        const char *params[] = { run_id, PQgetvalue(res, 0, 0), def_text, schedule_id,
                                 fire_time_ms ? fire : NULL };
        if ((rc = df_pg_run(pg, insert_run_sql, 5, params, &rows, err)) != DF_OK)
            goto out;
    }
    if (rows == 1) {
        const char *params[] = { run_id, steps_text };
        if ((rc = df_pg_run(pg, insert_steps_sql, 2, params, NULL, err)) != DF_OK)
            goto out;
        *created = true;
        df_info("pipeline %s: run %s created (%zu steps)%s%s", name, run_id, json_array_size(steps),
                schedule_id ? " by schedule " : "", schedule_id ? schedule_id : "");
    }
    rc = DF_OK;
out:
    PQclear(res);
    json_decref(def);
    json_decref(norm);
    json_decref(steps);
    free(def_text);
    free(steps_text);
    return rc;
}

df_code_t df_pipeline_lock_run(df_pg_t *pg, const char *run_id, df_error_t *err)
{
    return df_pg_run(pg, lock_run_sql, 1, (const char *[]){ run_id }, NULL, err);
}

/* ---- re-running ---- */

static const char rerun_run_sql[] =
    "SELECT r.state, r.definition::text, p.definition::text, p.name"
    "  FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
    " WHERE r.id = $1 FOR UPDATE OF r";

static const char rerun_steps_sql[] =
    "SELECT step, state, task_id FROM pipeline_steps WHERE run_id = $1";

static const char reset_steps_sql[] =
    "UPDATE pipeline_steps s SET state = 'pending', task_id = q.task_id, result = NULL,"
    "       error = NULL, started_at = NULL, finished_at = NULL, updated_at = now()"
    "  FROM jsonb_to_recordset($2::jsonb) AS q (step text, task_id text)"
    " WHERE s.run_id = $1 AND s.step = q.step";

static const char reopen_run_sql[] =
    "UPDATE pipeline_runs SET state = 'running', finished_at = NULL, updated_at = now(),"
    "       definition = COALESCE($2::jsonb, definition)"
    " WHERE id = $1";

static bool is_failure(const char *state)
{
    return strcmp(state, "failed") == 0 || strcmp(state, "dead") == 0 ||
           strcmp(state, "cancelled") == 0;
}

/* The definition the re-run uses: the run's copy, or the pipeline's
 * current one when it has the same step names as the run. New reference
 * or NULL with err set. */
static json_t *rerun_definition(PGresult *run, PGresult *steps, bool current, df_error_t *err)
{
    const char *name = PQgetvalue(run, 0, 3);
    json_t *def = json_loads(PQgetvalue(run, 0, current ? 2 : 1), 0, NULL), *norm, *step;
    size_t i;

    if (!def) {
        df_error_set(err, DF_ERR_INVALID, "/definition", "the stored definition is not JSON");
        return NULL;
    }
    if (!current)
        return def;
    if (df_pipeline_def_check(def, err) != DF_OK) {
        df_error_prefix(err, "pipeline %s: its definition at %s", name,
                        err->field[0] ? err->field : "/");
        json_decref(def);
        return NULL;
    }
    norm = df_pipeline_def_normalize(def);
    json_decref(def);
    if (!norm) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    /* the same step names: every definition step has a row, and as many */
    json_array_foreach(json_object_get(norm, "steps"), i, step)
    {
        const char *s = json_string_value(json_object_get(step, "name"));
        bool found = false;
        for (int r = 0; r < PQntuples(steps) && !found; r++)
            found = strcmp(PQgetvalue(steps, r, 0), s) == 0;
        if (!found)
            break;
    }
    if (i != json_array_size(json_object_get(norm, "steps")) ||
        (size_t)PQntuples(steps) != json_array_size(json_object_get(norm, "steps"))) {
        df_error_set(err, DF_ERR_CONFLICT, "/steps",
                     "pipeline %s's steps are no longer the run's steps: start a new run "
                     "(pipelines run %s) instead",
                     name, name);
        json_decref(norm);
        return NULL;
    }
    return norm;
}

/* Which steps go back to pending: failed ones, skipped ones, and those
 * waiting for any of them (directly or through others). reset[] is
 * indexed like the definition's steps; row[] gives each one's result row. */
static void mark_reset(const json_t *def, PGresult *steps, bool *reset, int *row)
{
    const json_t *list = json_object_get(def, "steps");
    size_t n = json_array_size(list);
    bool changed = true;

    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(list, i), "name"));
        row[i] = -1;
        for (int r = 0; r < PQntuples(steps); r++)
            if (strcmp(PQgetvalue(steps, r, 0), name) == 0)
                row[i] = r;
        reset[i] = row[i] >= 0 && (is_failure(PQgetvalue(steps, row[i], 1)) ||
                                   strcmp(PQgetvalue(steps, row[i], 1), "skipped") == 0);
    }
    while (changed) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            const json_t *after = json_object_get(json_array_get(list, i), "after"), *a;
            size_t k;
            if (reset[i])
                continue;
            json_array_foreach(after, k, a)
            {
                for (size_t j = 0; j < n && !reset[i]; j++) {
                    const char *name =
                        json_string_value(json_object_get(json_array_get(list, j), "name"));
                    if (reset[j] && strcmp(name, json_string_value(a)) == 0)
                        reset[i] = changed = true;
                }
            }
        }
    }
}

/* [{step, task_id}] of the steps to reset, with their next task ids. */
static json_t *reset_rows(const char *run_id, const json_t *def, PGresult *steps, const bool *reset,
                          const int *row, df_error_t *err)
{
    const json_t *list = json_object_get(def, "steps");
    json_t *rows = json_array();

    for (size_t i = 0; rows && i < json_array_size(list); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(list, i), "name"));
        const char *state, *task_id;
        char next[DF_ID_BUF];
        int rerun;

        if (!reset[i])
            continue;
        state = PQgetvalue(steps, row[i], 1);
        task_id = PQgetvalue(steps, row[i], 2);
        /* a step that never ran keeps its task id: if it was published
         * after all (a tick that died before its commit), it runs once */
        if (strcmp(state, "skipped") == 0 || strcmp(state, "pending") == 0) {
            snprintf(next, sizeof(next), "%s", task_id);
        } else {
            rerun = df_pipeline_step_rerun(run_id, name, task_id);
            if (rerun < 0 || rerun + 1 >= DF_PIPELINE_RERUNS_MAX) {
                if (rerun < 0)
                    df_error_set(err, DF_ERR_INVALID, name,
                                 "step %s: task id %s is not one this run's steps are given", name,
                                 task_id);
                else
                    df_error_set(err, DF_ERR_CONFLICT, name, "step %s: re-run %d times already",
                                 name, rerun);
                json_decref(rows);
                return NULL;
            }
            df_pipeline_step_task_id(run_id, name, rerun + 1, next);
        }
        if (json_array_append_new(rows, json_pack("{s:s, s:s}", "step", name, "task_id", next))) {
            json_decref(rows);
            rows = NULL;
        }
    }
    if (!rows)
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    return rows;
}

df_code_t df_pipeline_rerun(df_pg_t *pg, const char *run_id, bool current_definition,
                            json_t **reset_out, df_error_t *err)
{
    PGresult *run = NULL, *steps = NULL;
    json_t *def = NULL, *rows = NULL, *names = NULL, *r;
    char *rows_text = NULL, *def_text = NULL;
    bool reset[DF_PIPELINE_STEPS_MAX];
    int row[DF_PIPELINE_STEPS_MAX];
    const char *state;
    df_code_t rc;
    size_t i;

    if (reset_out)
        *reset_out = NULL;
    if ((rc = df_pipeline_lock_run(pg, run_id, err)) != DF_OK)
        return rc;
    if (!(run = df_pg_exec(pg, rerun_run_sql, 1, (const char *[]){ run_id }, err)))
        return err->code;
    if (PQntuples(run) != 1) {
        rc = df_error_set(err, DF_ERR_NOT_FOUND, "run_id", "no pipeline run has id \"%s\"", run_id);
        goto out;
    }
    state = PQgetvalue(run, 0, 0);
    if (strcmp(state, "failed") != 0 && strcmp(state, "cancelled") != 0) {
        rc = df_error_set(err, DF_ERR_CONFLICT, "run_id",
                          strcmp(state, "running") == 0
                              ? "run %s is still running: re-run it once it has ended"
                              : "run %s succeeded: there is nothing to re-run",
                          run_id);
        goto out;
    }
    if (!(steps = df_pg_exec(pg, rerun_steps_sql, 1, (const char *[]){ run_id }, err))) {
        rc = err->code;
        goto out;
    }
    if (!(def = rerun_definition(run, steps, current_definition, err))) {
        rc = err->code;
        goto out;
    }
    if (json_array_size(json_object_get(def, "steps")) > DF_PIPELINE_STEPS_MAX) {
        rc = df_error_set(err, DF_ERR_INVALID, "/steps", "more than %d steps",
                          DF_PIPELINE_STEPS_MAX);
        goto out;
    }
    mark_reset(def, steps, reset, row);
    if (!(rows = reset_rows(run_id, def, steps, reset, row, err))) {
        rc = err->code;
        goto out;
    }
    rows_text = json_dumps(rows, JSON_COMPACT);
    def_text = current_definition ? json_dumps(def, JSON_COMPACT) : NULL;
    if (!rows_text || (current_definition && !def_text)) {
        rc = df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc =
             df_pg_run(pg, reset_steps_sql, 2, (const char *[]){ run_id, rows_text }, NULL, err)) ||
        (rc = df_pg_run(pg, reopen_run_sql, 2, (const char *[]){ run_id, def_text }, NULL, err)))
        goto out;
    names = json_array();
    json_array_foreach(rows, i, r) json_array_append(names, json_object_get(r, "step"));
    df_info("pipeline %s: run %s re-run from %zu step(s)%s", PQgetvalue(run, 0, 3), run_id,
            json_array_size(rows), current_definition ? " with the current definition" : "");
    if (reset_out) {
        *reset_out = names;
        names = NULL;
    }
    rc = DF_OK;
out:
    PQclear(run);
    PQclear(steps);
    json_decref(def);
    json_decref(rows);
    json_decref(names);
    free(rows_text);
    free(def_text);
    return rc;
}

/* ---- the tick ---- */

typedef struct tick_state {
    char cursor[300]; /* the last run id of the previous page ("" to start over) */
} tick_state_t;

/* A page of live runs after the cursor, each with whether its lock was
 * taken. */
static const char live_runs_sql[] =
    "SELECT id, pg_try_advisory_xact_lock(" RUN_LOCK_CLASS ", hashtext(id)) FROM ("
    " SELECT id FROM pipeline_runs WHERE state = 'running' AND id > $1"
    "  ORDER BY id LIMIT $2::integer) AS page";

/* 1. Published steps take their task's state from `tasks`. */
static const char sync_steps_sql[] =
    "WITH cur AS ("
    " SELECT s.run_id, s.step,"
    "        CASE t.state WHEN 'retrying' THEN 'running' ELSE t.state END AS state,"
    "        t.started_at, t.finished_at,"
    "        CASE WHEN t.state = 'succeeded' THEN t.result END AS result,"
    "        CASE WHEN t.error_code IS NOT NULL OR t.error_message IS NOT NULL"
    "             THEN jsonb_strip_nulls(jsonb_build_object('code', t.error_code,"
    "                                                       'message', t.error_message))"
    "        END AS error"
    "   FROM pipeline_steps s JOIN tasks t ON t.task_id = s.task_id"
    "  WHERE s.run_id = ANY($1::text[]) AND s.state IN ('queued', 'running')"
    ")"
    " UPDATE pipeline_steps s SET state = cur.state, started_at = cur.started_at,"
    "        finished_at = cur.finished_at, result = cur.result, error = cur.error,"
    "        updated_at = now()"
    "   FROM cur"
    "  WHERE s.run_id = cur.run_id AND s.step = cur.step"
    "    AND (s.state, s.started_at, s.finished_at, s.result, s.error)"
    "        IS DISTINCT FROM (cur.state, cur.started_at, cur.finished_at, cur.result, cur.error)"
    " RETURNING s.run_id, s.step, s.state";

/* 2. Pending steps whose predecessors all succeeded, in runs with no
 * failed step, with what their templates may use. */
static const char ready_steps_sql[] =
    "WITH runs AS ("
    " SELECT r.id, r.definition, r.schedule_id, p.name,"
    "        floor(extract(epoch FROM r.started_at) * 1000)::bigint AS started_ms,"
    "        floor(extract(epoch FROM r.fire_time) * 1000)::bigint AS fire_ms"
    "   FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
    "  WHERE r.id = ANY($1::text[]) AND r.state = 'running'"
    "    AND NOT EXISTS (SELECT 1 FROM pipeline_steps f WHERE f.run_id = r.id"
    "                       AND f.state IN ('failed', 'dead', 'cancelled'))"
    "), ready AS ("
    " SELECT runs.*, d.value AS template, d.ord, s.step, s.task_id"
    "   FROM runs CROSS JOIN LATERAL"
    "        jsonb_array_elements(runs.definition->'steps') WITH ORDINALITY AS d (value, ord)"
    "   JOIN pipeline_steps s ON s.run_id = runs.id AND s.step = d.value->>'name'"
    "  WHERE s.state = 'pending'"
    "    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(d.value->'after') AS a (name)"
    "                      JOIN pipeline_steps p ON p.run_id = s.run_id AND p.step = a.name"
    "                     WHERE p.state <> 'succeeded')"
    ")"
    " SELECT ready.id, ready.step, ready.task_id, ready.template::text, ready.name,"
    "        ready.schedule_id, ready.started_ms, ready.fire_ms,"
    "        (SELECT jsonb_object_agg(p.step,"
    "                   CASE WHEN p.result IS NULL THEN jsonb_build_object('task_id', p.task_id)"
    "                        ELSE jsonb_build_object('result', p.result, 'task_id', p.task_id)"
    "                   END)"
    "           FROM pipeline_steps p"
    "          WHERE p.run_id = ready.id AND p.state = 'succeeded')::text"
    "   FROM ready ORDER BY ready.id, ready.ord LIMIT $2::integer";

/* Steps published (queued) or failed before publishing (failed, error). */
static const char mark_steps_sql[] =
    "UPDATE pipeline_steps s SET state = q.state, error = q.error, result = NULL,"
    "       started_at = NULL,"
    "       finished_at = CASE WHEN q.state = 'failed' THEN now() END, updated_at = now()"
    "  FROM jsonb_to_recordset($1::jsonb) AS q (run_id text, step text, state text, error jsonb)"
    " WHERE s.run_id = q.run_id AND s.step = q.step AND s.state = 'pending'";

/* 3. A failed step stops the run: nothing else starts. */
static const char skip_steps_sql[] =
    "UPDATE pipeline_steps s SET state = 'skipped', updated_at = now()"
    " WHERE s.run_id = ANY($1::text[]) AND s.state = 'pending'"
    "   AND EXISTS (SELECT 1 FROM pipeline_steps f WHERE f.run_id = s.run_id"
    "                  AND f.state IN ('failed', 'dead', 'cancelled'))";

/* Runs with no step left in flight end. */
static const char finish_runs_sql[] =
    "UPDATE pipeline_runs r SET state = CASE WHEN c.all_ok THEN 'succeeded' ELSE 'failed' END,"
    "       finished_at = now(), updated_at = now()"
    "  FROM (SELECT run_id, bool_and(state = 'succeeded') AS all_ok,"
    "               bool_or(state IN ('pending', 'queued', 'running')) AS live"
    "          FROM pipeline_steps WHERE run_id = ANY($1::text[]) GROUP BY run_id) AS c"
    " WHERE r.id = c.run_id AND r.state = 'running' AND NOT c.live"
    " RETURNING r.id, r.state, " DF_PIPELINE_REASON_SQL;

/* The ids of the live runs of this page whose lock was taken, as a
 * PostgreSQL array literal (ids are ULIDs or UUIDs: no quoting needed, but
 * each is quoted anyway). *full: the page was full (more may follow). */
static char *lock_page(df_cron_ctx_t *ctx, tick_state_t *st, int *count, bool *full,
                       df_error_t *err)
{
    char limit[16];
    const char *params[] = { st->cursor, limit };
    PGresult *res;
    size_t cap = 3, used = 0;
    char *ids;
    int n;

    snprintf(limit, sizeof(limit), "%d", RUNS_PER_TICK);
    if (!(res = df_pg_exec(ctx->pg, live_runs_sql, 2, params, err)))
        return NULL;
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        cap += strlen(PQgetvalue(res, i, 0)) + 3;
    ids = malloc(cap);
    if (!ids) {
        PQclear(res);
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    ids[used++] = '{';
    *count = 0;
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, i, 0);
        if (strcmp(PQgetvalue(res, i, 1), "t") != 0 || strpbrk(id, "\"\\,{} "))
            continue;
        used += (size_t)snprintf(ids + used, cap - used, "%s\"%s\"", *count ? "," : "", id);
        (*count)++;
    }
    snprintf(ids + used, cap - used, "}");
    *full = n == RUNS_PER_TICK;
    if (*full)
        snprintf(st->cursor, sizeof(st->cursor), "%s", PQgetvalue(res, n - 1, 0));
    else
        st->cursor[0] = '\0';
    PQclear(res);
    return ids;
}

/* The scope templates read: {"steps": {...}, "run": {...}}. */
static json_t *scope_of(PGresult *res, int i)
{
    json_t *steps =
        PQgetisnull(res, i, 8) ? json_object() : json_loads(PQgetvalue(res, i, 8), 0, NULL);
    json_t *run =
        json_pack("{s:s, s:s}", "id", PQgetvalue(res, i, 0), "pipeline", PQgetvalue(res, i, 4));
    char when[40];

    if (run && !PQgetisnull(res, i, 6)) {
        df_time_format(strtoll(PQgetvalue(res, i, 6), NULL, 10), when, sizeof(when));
        json_object_set_new(run, "started_at", json_string(when));
    }
    if (run && !PQgetisnull(res, i, 7)) {
        df_time_format(strtoll(PQgetvalue(res, i, 7), NULL, 10), when, sizeof(when));
        json_object_set_new(run, "fire_time", json_string(when));
    }
    if (!steps || !run) {
        json_decref(steps);
        json_decref(run);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "steps", steps, "run", run);
}

/* Build the task of ready row i; NULL with err set when it cannot be. */
static json_t *build_task(PGresult *res, int i, df_error_t *err)
{
    json_t *step = json_loads(PQgetvalue(res, i, 3), 0, NULL);
    json_t *scope = scope_of(res, i), *task = NULL;

    if (step && scope)
        task = df_pipeline_step_task(
            step, scope, PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), PQgetvalue(res, i, 4),
            PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5), df_now_ms(), err);
    else
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory reading the step");
    json_decref(step);
    json_decref(scope);
    return task;
}

static json_t *mark(PGresult *res, int i, const char *state, const df_error_t *why)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "run_id", PQgetvalue(res, i, 0), "step",
                          PQgetvalue(res, i, 1), "state", state);
    if (m && why)
        json_object_set_new(m, "error",
                            json_pack("{s:s, s:s, s:s}", "code",
                                      why->code == DF_ERR_INVALID ? "invalid_step" : "step_error",
                                      "message", why->message, "field", why->field));
    return m;
}

/* Publish the ready steps of the locked runs; marks gets what happened
 * to each. Returns how many were published (-1 with err set on a database
 * failure); *more when the batch was full, *unacked when Kafka did not
 * acknowledge some. */
static int publish_ready(df_cron_ctx_t *ctx, const char *ids, json_t *marks, bool *more,
                         bool *unacked, df_error_t *err)
{
    char limit[16];
    const char *params[] = { ids, limit };
    PGresult *res;
    json_t **tasks;
    bool *ok;
    int n, ntasks = 0, *rows, published = 0;

    snprintf(limit, sizeof(limit), "%lld", (long long)ctx->cfg->publish_batch);
    if (!(res = df_pg_exec(ctx->pg, ready_steps_sql, 2, params, err)))
        return -1;
    n = PQntuples(res);
    *more = n > 0 && n == (int)ctx->cfg->publish_batch;
    tasks = calloc((size_t)n + 1, sizeof(*tasks));
    ok = calloc((size_t)n + 1, sizeof(*ok));
    rows = calloc((size_t)n + 1, sizeof(*rows));
    if (!tasks || !ok || !rows) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        published = -1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        df_error_t why;
        df_error_init(&why);
        if (!(tasks[ntasks] = build_task(res, i, &why))) {
            df_warn("pipeline run %s: step %s cannot start: %s%s%s", PQgetvalue(res, i, 0),
                    PQgetvalue(res, i, 1), why.message, why.field[0] ? " at " : "", why.field);
            json_array_append_new(marks, mark(res, i, "failed", &why));
            continue;
        }
        rows[ntasks++] = i;
    }
    if (ntasks > 0)
        df_cron_publish(ctx, tasks, NULL, (size_t)ntasks, ok, PUBLISH_TIMEOUT_MS);
    for (int k = 0; k < ntasks; k++) {
        if (!ok[k])
            continue;
        df_debug("pipeline run %s: step %s published as task %s", PQgetvalue(res, rows[k], 0),
                 PQgetvalue(res, rows[k], 1), PQgetvalue(res, rows[k], 2));
        json_array_append_new(marks, mark(res, rows[k], "queued", NULL));
        published++;
    }
    if (published < ntasks) {
        df_warn("pipelines: %d of %d steps not acknowledged by Kafka; they stay pending",
                ntasks - published, ntasks);
        *unacked = true;
    }
out:
    for (int k = 0; k < ntasks; k++)
        json_decref(tasks[k]);
    free(tasks);
    free(ok);
    free(rows);
    PQclear(res);
    return published;
}

static void log_finished(PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), "succeeded") == 0)
            df_info("pipeline run %s succeeded", PQgetvalue(res, i, 0));
        else
            df_warn("pipeline run %s failed: %s", PQgetvalue(res, i, 0),
                    PQgetisnull(res, i, 2) ? "a step failed" : PQgetvalue(res, i, 2));
    }
}

/* One tick in one transaction. Returns the wait until the next one (0:
 * more is due now), or -1 with err set (rolled back). */
static int64_t tick(df_cron_ctx_t *ctx, tick_state_t *st, df_error_t *err)
{
    char *ids = NULL, *marks_text = NULL;
    json_t *marks = json_array();
    PGresult *res = NULL;
    bool full = false, more = false, unacked = false;
    int count = 0;
    int64_t wait = -1;
    df_error_t ignored;

    if (!marks || df_pg_begin(ctx->pg, err) != DF_OK)
        goto out;
    if (!(ids = lock_page(ctx, st, &count, &full, err)))
        goto out;
    if (count > 0) {
        if (df_pg_run(ctx->pg, sync_steps_sql, 1, (const char *[]){ ids }, NULL, err) ||
            publish_ready(ctx, ids, marks, &more, &unacked, err) < 0)
            goto out;
        if (json_array_size(marks) > 0) {
            if (!(marks_text = json_dumps(marks, JSON_COMPACT))) {
                df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
                goto out;
            }
            if (df_pg_run(ctx->pg, mark_steps_sql, 1, (const char *[]){ marks_text }, NULL, err))
                goto out;
        }
        if (df_pg_run(ctx->pg, skip_steps_sql, 1, (const char *[]){ ids }, NULL, err) ||
            !(res = df_pg_exec(ctx->pg, finish_runs_sql, 1, (const char *[]){ ids }, err)))
            goto out;
    }
    if (df_pg_commit(ctx->pg, err) != DF_OK)
        goto out;
    if (res)
        log_finished(res);
    wait = unacked ? RETRY_WAIT_MS : (full || more) ? 0 : IDLE_WAIT_MS;
out:
    if (wait < 0) {
        df_error_init(&ignored);
        df_pg_rollback(ctx->pg, &ignored);
    }
    PQclear(res);
    free(ids);
    free(marks_text);
    json_decref(marks);
    return wait;
}

int64_t df_pipelines_tick(df_cron_ctx_t *ctx)
{
    tick_state_t *st = ctx->pipelines;
    df_error_t err;
    int64_t wait;

    if (!st) {
        st = ctx->pipelines = calloc(1, sizeof(*st));
        if (!st)
            return RETRY_WAIT_MS;
    }
    df_error_init(&err);
    wait = tick(ctx, st, &err);
    if (wait < 0) {
        df_warn("pipelines: %s%s%s", err.message, err.field[0] ? " at " : "", err.field);
        return RETRY_WAIT_MS;
    }
    return wait;
}

void df_pipelines_stop(df_cron_ctx_t *ctx)
{
    free(ctx->pipelines);
    ctx->pipelines = NULL;
}
