/* pipelines: runs against the real PostgreSQL, on a scratch database with
 * the migrations applied, with no Kafka: the tick is driven by hand (it
 * publishes nothing when no step is ready, and a step whose task cannot be
 * built fails before publishing), and task rows are written as the
 * recorder would.
 *   (a) df_pipeline_run_create: a run with the definition's copy (every
 *       `after` explicit) and its steps pending under derived task ids;
 *       the same run id twice creates one run; bad refs, bad run ids,
 *       unknown and disabled pipelines and stored definitions that do not
 *       validate are refused;
 *   (b) the tick: steps take their task's state and result; a run whose
 *       steps all succeeded ends succeeded; a run locked by someone else
 *       (a re-run in progress) is left alone until the lock goes; a step
 *       whose template names a missing value fails with invalid_step, the
 *       steps after it are skipped and the run fails, with its reason;
 *   (c) df_pipeline_rerun: refused for a running, succeeded or unknown
 *       run; resets failed and skipped steps (the failed one under its
 *       next task id, the skipped one under the same), keeps the succeeded
 *       one; --current-definition refuses a pipeline whose steps changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_role.h"
#include "df_id.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_test.h"
#include "df_test_pg.h"
#include "pipeline_def.h"
#include "pipelines.h"

static df_pg_t *admin, *pg, *other;
static char db_name[64], db_url[2048];
static df_scheduler_config_t cfg;

static const char def_text[] =
    "{\"steps\":["
    "{\"name\":\"extract\",\"type\":\"export\",\"connector\":\"noop\",\"params\":{\"rows\":5}},"
    "{\"name\":\"refresh\",\"type\":\"refresh\",\"connector\":\"noop\","
    " \"params\":{\"rows\":\"${steps.extract.result.rows_written}\"}},"
    "{\"name\":\"lineage\",\"type\":\"lineage\",\"connector\":\"noop\","
    " \"params\":{\"table\":\"${steps.extract.result.table}\"}}]}";

/* CREATE/DROP DATABASE take an identifier, not a value. */
static df_code_t database_ddl(const char *verb, const char *suffix, df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, db_name, err);
    char ddl[256];
    df_code_t rc;

    if (!quoted)
        return err->code;
    snprintf(ddl, sizeof(ddl), "%s %s%s", verb, quoted, suffix); /* lint: allow quoted ident */
    free(quoted);
    rc = df_pg_run(admin, ddl, 0, NULL, NULL, err);
    return rc;
}

/* One value of a query as text ("(none)" without a row, "" for NULL). */
static void value(const char *sql, const char *param, char *out, size_t len)
{
    const char *params[1] = { param };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, param ? 1 : 0, param ? params : NULL, &err);
    CHECK_MSG(res != NULL, "%s: %s", sql, err.message);
    snprintf(out, len, "%s",
             !res || PQntuples(res) != 1 ? "(none)"
             : PQgetisnull(res, 0, 0)    ? ""
                                         : PQgetvalue(res, 0, 0));
    PQclear(res);
}

#define CHECK_VALUE(sql, param, want)                                                       \
    do {                                                                                    \
        char got_[1024];                                                                    \
        value(sql, param, got_, sizeof(got_));                                              \
        CHECK_MSG(strcmp(got_, want) == 0, "%s: got \"%s\", want \"%s\"", sql, got_, want); \
    } while (0)

static void exec_ok(const char *sql, int n, const char *const *params)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_pg_run(pg, sql, n, params, NULL, &err) == DF_OK, "%s: %s", sql, err.message);
}

static void add_pipeline(const char *name, const char *definition, bool enabled)
{
    char id[DF_ID_BUF];
    const char *params[] = { id, name, definition, enabled ? "true" : "false" };

    df_id_ulid(id);
    exec_ok("INSERT INTO pipelines (id, name, definition, enabled) VALUES ($1, $2, $3::jsonb, $4)",
            4, params);
}

/* df_pipeline_run_create in its own transaction. */
static df_code_t create(const char *json_ref, const char *run_id, const char *schedule,
                        int64_t fire_ms, bool *created, df_error_t *err)
{
    json_t *ref = json_loads(json_ref, 0, NULL);
    df_error_t ignored;
    df_code_t rc;

    df_error_init(err);
    df_error_init(&ignored);
    REQUIRE(df_pg_begin(pg, err) == DF_OK);
    rc = df_pipeline_run_create(pg, ref, run_id, schedule, fire_ms, created, err);
    if (rc == DF_OK)
        rc = df_pg_commit(pg, err);
    else
        df_pg_rollback(pg, &ignored);
    json_decref(ref);
    return rc;
}

static df_code_t rerun(const char *run_id, bool current, json_t **reset, df_error_t *err)
{
    df_error_t ignored;
    df_code_t rc;

    df_error_init(err);
    df_error_init(&ignored);
    REQUIRE(df_pg_begin(pg, err) == DF_OK);
    rc = df_pipeline_rerun(pg, run_id, current, reset, err);
    if (rc == DF_OK)
        rc = df_pg_commit(pg, err);
    else
        df_pg_rollback(pg, &ignored);
    return rc;
}

/* A task row as the recorder leaves it. */
static void task_row(const char *task_id, const char *state, const char *result,
                     const char *error_code)
{
    const char *params[] = { task_id, state, result, error_code };
    exec_ok(
        "INSERT INTO tasks (task_id, state, result, error_code, error_message, started_at,"
        "                   finished_at, last_event_at)"
        " VALUES ($1, $2, $3::jsonb, $4::text, CASE WHEN $4::text IS NOT NULL THEN 'it broke' END,"
        "         now(), CASE WHEN $2 IN ('succeeded', 'failed', 'dead') THEN now() END, now())"
        " ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, result = excluded.result,"
        "   error_code = excluded.error_code, error_message = excluded.error_message,"
        "   finished_at = excluded.finished_at",
        4, params);
}

static void step_task_id(const char *run_id, const char *step, char *out)
{
    const char *params[] = { run_id, step };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    res = df_pg_exec(pg, "SELECT task_id FROM pipeline_steps WHERE run_id = $1 AND step = $2", 2,
                     params, &err);
    REQUIRE(res && PQntuples(res) == 1);
    snprintf(out, DF_ID_BUF, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void set_step(const char *run_id, const char *step, const char *state)
{
    const char *params[] = { run_id, step, state };
    exec_ok("UPDATE pipeline_steps SET state = $3 WHERE run_id = $1 AND step = $2", 3, params);
}

static void tick(void)
{
    df_cron_ctx_t ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = &cfg;
    ctx.pg = pg;
    CHECK(df_pipelines_tick(&ctx) >= 0);
    df_pipelines_stop(&ctx);
}

#define STEPS_SQL                                                                           \
    "SELECT string_agg(step || '=' || state, ',' ORDER BY step) FROM pipeline_steps WHERE " \
    "run_id = $1"

/* ---- (a) ---- */

static char run_a[DF_ID_BUF];

static void test_create(void)
{
    df_error_t err;
    bool created = true;
    char want[DF_ID_BUF], got[DF_ID_BUF];

    add_pipeline("etl", def_text, true);
    df_id_ulid(run_a);
    CHECK_INT(create("{\"name\":\"etl\"}", run_a, "sched-1", 1700000000123LL, &created, &err),
              DF_OK);
    CHECK(created);
    CHECK_VALUE("SELECT state || ' ' || schedule_id || ' ' || "
                "(fire_time = 'epoch'::timestamptz + interval '1700000000.123 seconds')"
                " FROM pipeline_runs WHERE id = $1",
                run_a, "running sched-1 true");
    CHECK_VALUE(STEPS_SQL, run_a, "extract=pending,lineage=pending,refresh=pending");
    CHECK_VALUE("SELECT (definition->'steps'->0->'after') || (definition->'steps'->2->'after')"
                " FROM pipeline_runs WHERE id = $1",
                run_a, "[\"refresh\"]");
    CHECK_VALUE("SELECT jsonb_array_length(definition->'steps'->0->'after')"
                " FROM pipeline_runs WHERE id = $1",
                run_a, "0");
    REQUIRE(df_pipeline_step_task_id(run_a, "refresh", 0, want));
    step_task_id(run_a, "refresh", got);
    CHECK_STR(got, want);

    /* the same run id again: one run */
    CHECK_INT(create("{\"name\":\"etl\"}", run_a, NULL, 0, &created, &err), DF_OK);
    CHECK(!created);
    CHECK_VALUE("SELECT count(*) FROM pipeline_steps WHERE run_id = $1", run_a, "3");

    /* refused */
    CHECK_INT(create("{\"pipeline\":\"etl\"}", want, NULL, 0, &created, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "/pipeline/name");
    CHECK_INT(create("[\"etl\"]", want, NULL, 0, &created, &err), DF_ERR_INVALID);
    CHECK_INT(create("{\"name\":\"etl\"}", "run-1", NULL, 0, &created, &err), DF_ERR_INVALID);
    CHECK_INT(create("{\"name\":\"nope\"}", want, NULL, 0, &created, &err), DF_ERR_NOT_FOUND);
    add_pipeline("off", def_text, false);
    CHECK_INT(create("{\"name\":\"off\"}", want, NULL, 0, &created, &err), DF_ERR_NOT_FOUND);
    add_pipeline("broken",
                 "{\"steps\":[{\"name\":\"a\",\"type\":\"export\",\"connector\":\"noop\","
                 "\"after\":[\"b\"]}]}",
                 true);
    CHECK_INT(create("{\"name\":\"broken\"}", want, NULL, 0, &created, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "/steps/0/after/0") != NULL, "%s", err.message);
    CHECK_VALUE("SELECT count(*) FROM pipeline_runs", NULL, "1");
}

/* ---- (b) ---- */

static void test_tick(void)
{
    char extract[DF_ID_BUF], refresh[DF_ID_BUF], lineage[DF_ID_BUF], run_b[DF_ID_BUF];
    bool created;
    df_error_t err;

    /* run a: every step published and succeeding, as the recorder says */
    step_task_id(run_a, "extract", extract);
    step_task_id(run_a, "refresh", refresh);
    step_task_id(run_a, "lineage", lineage);
    set_step(run_a, "extract", "queued");
    set_step(run_a, "refresh", "queued");
    set_step(run_a, "lineage", "queued");
    task_row(extract, "succeeded", "{\"rows_written\": 5, \"table\": \"t\"}", NULL);
    task_row(refresh, "running", NULL, NULL);
    tick();
    CHECK_VALUE(STEPS_SQL, run_a, "extract=succeeded,lineage=queued,refresh=running");
    CHECK_VALUE("SELECT result->>'table' FROM pipeline_steps WHERE run_id = $1 AND step = "
                "'extract'",
                run_a, "t");

    /* someone holds the run's lock: the tick leaves it alone */
    {
        df_error_t e;
        df_error_init(&e);
        REQUIRE(df_pg_begin(other, &e) == DF_OK);
        REQUIRE(df_pipeline_lock_run(other, run_a, &e) == DF_OK);
    }
    task_row(refresh, "succeeded", "{}", NULL);
    task_row(lineage, "succeeded", NULL, NULL);
    tick();
    CHECK_VALUE(STEPS_SQL, run_a, "extract=succeeded,lineage=queued,refresh=running");
    {
        df_error_t e;
        df_error_init(&e);
        df_pg_rollback(other, &e);
    }
    tick();
    CHECK_VALUE(STEPS_SQL, run_a, "extract=succeeded,lineage=succeeded,refresh=succeeded");
    CHECK_VALUE("SELECT state || ' ' || (finished_at IS NOT NULL) FROM pipeline_runs WHERE id = $1",
                run_a, "succeeded true");

    /* run b: extract succeeds without a table; lineage's template names it */
    df_id_ulid(run_b);
    CHECK_INT(create("{\"name\":\"etl\"}", run_b, NULL, 0, &created, &err), DF_OK);
    step_task_id(run_b, "extract", extract);
    step_task_id(run_b, "refresh", refresh);
    set_step(run_b, "extract", "queued");
    set_step(run_b, "refresh", "queued");
    task_row(extract, "succeeded", "{\"rows_written\": 5}", NULL);
    task_row(refresh, "succeeded", "{}", NULL);
    tick();
    CHECK_VALUE(STEPS_SQL, run_b, "extract=succeeded,lineage=failed,refresh=succeeded");
    CHECK_VALUE("SELECT (error->>'code') || ' ' || (error->>'field') || ' ' || (error->>'message')"
                " FROM pipeline_steps WHERE run_id = $1 AND step = 'lineage'",
                run_b,
                "invalid_step /params/table ${steps.extract.result.table}: "
                "steps.extract.result has no \"table\"");
    CHECK_VALUE("SELECT state FROM pipeline_runs WHERE id = $1", run_b, "failed");
    CHECK_VALUE("SELECT count(*) FROM tasks WHERE pipeline_run_id = $1", run_b, "0");

    /* run c: refresh dies; lineage is skipped and the run fails */
    df_id_ulid(run_b);
    CHECK_INT(create("{\"name\":\"etl\"}", run_b, NULL, 0, &created, &err), DF_OK);
    step_task_id(run_b, "extract", extract);
    step_task_id(run_b, "refresh", refresh);
    set_step(run_b, "extract", "succeeded");
    set_step(run_b, "refresh", "queued");
    task_row(refresh, "dead", NULL, "unknown_connector");
    tick();
    CHECK_VALUE(STEPS_SQL, run_b, "extract=succeeded,lineage=skipped,refresh=dead");
    CHECK_VALUE("SELECT state || ': ' || " DF_PIPELINE_REASON_SQL
                " FROM pipeline_runs r WHERE id = $1",
                run_b, "failed: step refresh dead: unknown_connector: it broke");
}

/* ---- (c) ---- */

static void test_rerun(void)
{
    char run[DF_ID_BUF], extract[DF_ID_BUF], refresh[DF_ID_BUF], lineage[DF_ID_BUF];
    char want[DF_ID_BUF], got[DF_ID_BUF];
    json_t *reset = NULL;
    bool created;
    df_error_t err;

    df_id_ulid(run);
    CHECK_INT(create("{\"name\":\"etl\"}", run, NULL, 0, &created, &err), DF_OK);
    CHECK_INT(rerun(run, false, NULL, &err), DF_ERR_CONFLICT);
    CHECK_MSG(strstr(err.message, "still running"), "%s", err.message);
    CHECK_INT(rerun(run_a, false, NULL, &err), DF_ERR_CONFLICT);
    CHECK_MSG(strstr(err.message, "nothing to re-run"), "%s", err.message);
    CHECK_INT(rerun("01J0000000000000000000000A", false, NULL, &err), DF_ERR_NOT_FOUND);

    step_task_id(run, "extract", extract);
    step_task_id(run, "refresh", refresh);
    step_task_id(run, "lineage", lineage);
    set_step(run, "extract", "succeeded");
    set_step(run, "refresh", "failed");
    set_step(run, "lineage", "skipped");
    exec_ok("UPDATE pipeline_runs SET state = 'failed' WHERE id = $1", 1, (const char *[]){ run });

    /* the pipeline's steps changed: --current-definition is refused */
    exec_ok("UPDATE pipelines SET definition = jsonb_set(definition, '{steps,2,name}',"
            " '\"graph\"') WHERE name = 'etl'",
            0, NULL);
    CHECK_INT(rerun(run, true, NULL, &err), DF_ERR_CONFLICT);
    CHECK_MSG(strstr(err.message, "start a new run"), "%s", err.message);

    CHECK_INT(rerun(run, false, &reset, &err), DF_OK);
    CHECK_MSG(err.code == DF_OK, "%s", err.message);
    CHECK_INT(json_array_size(reset), 2);
    CHECK_STR(json_string_value(json_array_get(reset, 0)), "refresh");
    json_decref(reset);
    CHECK_VALUE(STEPS_SQL, run, "extract=succeeded,lineage=pending,refresh=pending");
    CHECK_VALUE("SELECT state FROM pipeline_runs WHERE id = $1", run, "running");
    REQUIRE(df_pipeline_step_task_id(run, "refresh", 1, want));
    step_task_id(run, "refresh", got);
    CHECK_STR(got, want);
    step_task_id(run, "lineage", got);
    CHECK_STR(got, lineage);
    step_task_id(run, "extract", got);
    CHECK_STR(got, extract);
    CHECK(strcmp(want, refresh) != 0);
}

int main(void)
{
    const char *url = df_test_env("DATAFLEET_DATABASE_URL");
    char suffix[16];
    df_error_t err;
    int rc;

    df_log_init("pipelines-test", DF_LOG_WARN);
    df_error_init(&err);
    cfg.publish_batch = 100;
    admin = df_pg_new(url, &err);
    REQUIRE(admin != NULL);
    df_id_ulid(suffix);
    suffix[10] = '\0';
    snprintf(db_name, sizeof(db_name), "df_pipelines_%s", suffix);
    for (char *p = db_name; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    REQUIRE(database_ddl("CREATE DATABASE", "", &err) == DF_OK);
    df_test_url_with_dbname(url, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    other = df_pg_new(db_url, &err);
    REQUIRE(pg && other && df_pg_migrate(pg, NULL, NULL, &err) == DF_OK);

    RUN(test_create);
    RUN(test_tick);
    RUN(test_rerun);

    rc = df_test_done();
    df_pg_destroy(pg);
    df_pg_destroy(other);
    df_error_init(&err);
    database_ddl("DROP DATABASE", " WITH (FORCE)", &err);
    df_pg_destroy(admin);
    return rc;
}
