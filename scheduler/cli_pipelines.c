/* cli_pipelines: the `pipelines` command of datafleet-scheduler (see
 * commands.h): define pipelines, start and follow runs, re-run a failed
 * one from its failed step. It talks to PostgreSQL directly; the cron
 * leader's pipelines tick publishes the steps. Tables for people, --json
 * for scripts. docs/PIPELINES.md describes the model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "df_config.h"
#include "df_id.h"
#include "df_log.h"
#include "df_pg.h"
#include "pipeline_def.h"
#include "pipelines.h"

#define EXIT_RUN_FAILED  4 /* --wait: the run ended failed or cancelled */
#define EXIT_RUN_TIMEOUT 5 /* --wait: --wait-timeout passed first */
#define WAIT_POLL_MS     500
#define ERROR_COLUMN_MAX 60 /* characters of an error in a table */

typedef struct cli_config {
    char *database_url;
    char *log_level;
    char *file;
    char *description;
    bool replace;
    bool json;
    bool wait;
    int64_t wait_timeout_ms;
    int64_t limit;
    bool current_definition;
} cli_config_t;

static const df_option_t options[] = {
    { "database-url", "DATAFLEET_DATABASE_URL", DF_OPT_STRING,
      "postgresql://datafleet@127.0.0.1:15432/datafleet", 0, 0, NULL,
      "PostgreSQL holding the pipelines", offsetof(cli_config_t, database_url), 0 },
    { "log-level", "DATAFLEET_LOG_LEVEL", DF_OPT_ENUM, "warn", 0, 0, "debug|info|warn|error",
      "lowest level logged (JSON lines on stderr)", offsetof(cli_config_t, log_level), 0 },
    { "file", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "add: the definition (JSON, schemas/pipeline.v1.schema.json; '-' for stdin)",
      offsetof(cli_config_t, file), 0 },
    { "description", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "add: what the pipeline is for (default: the definition's description)",
      offsetof(cli_config_t, description), 0 },
    { "replace", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "add: replace the definition of a pipeline that exists (runs in flight keep theirs)",
      offsetof(cli_config_t, replace), 0 },
    { "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON instead of tables",
      offsetof(cli_config_t, json), 0 },
    { "wait", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "run, rerun: follow the run until it ends; the exit code tells how it ended",
      offsetof(cli_config_t, wait), 0 },
    { "wait-timeout", NULL, DF_OPT_DURATION, "0", 0, 604800000, NULL,
      "run, rerun: give up waiting after this long (0: no limit)",
      offsetof(cli_config_t, wait_timeout_ms), 0 },
    { "limit", NULL, DF_OPT_INT, "20", 1, 10000, NULL, "runs: how many runs to list",
      offsetof(cli_config_t, limit), 0 },
    { "current-definition", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "rerun: use the pipeline's definition as it is now instead of the run's copy",
      offsetof(cli_config_t, current_definition), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "done (with --wait: the run succeeded)" },
    { DF_EXIT_FAILURE,
      "PostgreSQL failed, or the pipeline or run is unknown, exists already or cannot be re-run" },
    { DF_EXIT_USAGE, "bad option, command or arguments, or a definition that does not validate" },
    { EXIT_RUN_FAILED, "--wait: the run ended failed or cancelled" },
    { EXIT_RUN_TIMEOUT, "--wait: --wait-timeout passed before the run ended" },
};

static const df_program_t program = {
    .name = "datafleet-scheduler pipelines",
    .summary = "Pipelines: ordered steps, each a task template; runs, and re-runs from a failed "
               "step.",
    .usage = "COMMAND [ARGS] [OPTIONS]",
    .details = "Commands:\n"
               "  add NAME --file DEF.json [--description TEXT] [--replace]\n"
               "                  define a pipeline (or replace its definition)\n"
               "  list            the pipelines, their last run and runs in flight\n"
               "  run NAME [--wait [--wait-timeout D]]\n"
               "                  start a run (its id on the first line); the cron leader\n"
               "                  publishes the steps\n"
               "  show RUN_ID     a run and its steps: state, task id, times, error\n"
               "  runs [NAME] [--limit N]\n"
               "                  recent runs, newest first\n"
               "  rerun RUN_ID [--current-definition] [--wait [--wait-timeout D]]\n"
               "                  re-run a failed run from its failed step(s); steps that\n"
               "                  succeeded keep their results\n"
               "  enable NAME, disable NAME\n"
               "                  whether new runs may start (runs in flight go on)\n"
               "Times are UTC. See docs/PIPELINES.md.\n",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", program.name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int exit_for(df_code_t code)
{
    return code == DF_ERR_INVALID ? DF_EXIT_USAGE : DF_EXIT_FAILURE;
}

/* ---- output ---- */

/* Milliseconds text from SQL (NULL or "") -> "2026-11-22 03:04:05", or "-". */
static const char *table_time(const char *ms_text, char *buf, size_t len)
{
    time_t t;
    struct tm tm;

    if (!ms_text || !*ms_text)
        return "-";
    t = (time_t)(strtoll(ms_text, NULL, 10) / 1000);
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* Milliseconds text -> RFC 3339 JSON string, or JSON null. */
static json_t *json_time(const char *ms_text)
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

static void print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
}

/* A table: rows of cells (json strings), the first row the header; columns
 * padded to their widest cell. */
static void print_table(const json_t *rows)
{
    size_t widths[16] = { 0 }, ncols = json_array_size(json_array_get(rows, 0));
    const json_t *row;
    size_t i;

    if (ncols > 16)
        ncols = 16;
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < ncols; c++) {
            size_t w = strlen(json_string_value(json_array_get(row, c)));
            widths[c] = w > widths[c] ? w : widths[c];
        }
    }
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = json_string_value(json_array_get(row, c));
            if (c + 1 == ncols)
                printf("%s\n", cell);
            else
                printf("%-*s  ", (int)widths[c], cell);
        }
    }
}

/* Short form of text for a table cell (one line, at most max characters). */
static json_t *cell(const char *text, size_t max)
{
    char buf[256];
    size_t n = 0;

    if (!text || !*text)
        return json_string("-");
    for (const char *p = text; *p && n + 4 < sizeof(buf); p++) {
        if (n >= max) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        buf[n++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
    }
    buf[n] = '\0';
    return json_string(buf);
}

/* ---- show ---- */

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

/* The run as one JSON object (new reference), NULL with err set. */
static json_t *describe(df_pg_t *pg, const char *run_id, df_error_t *err)
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
        json_object_set_new(step, "started_at", json_time(column(steps, i, 4)));
        json_object_set_new(step, "finished_at", json_time(column(steps, i, 5)));
        json_object_set_new(step, "result", json_column(steps, i, 6));
        json_object_set_new(step, "error", json_column(steps, i, 7));
        json_object_set_new(step, "params", json_column(steps, i, 9));
        json_array_append_new(list, step);
    }
    out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "run_id", run_id, "pipeline",
                    PQgetvalue(run, 0, 1), "state", PQgetvalue(run, 0, 2), "started_at",
                    json_time(column(run, 0, 3)), "finished_at", json_time(column(run, 0, 4)),
                    "schedule_id", json_text(run, 0, 5), "fire_time", json_time(column(run, 0, 6)),
                    "reason", json_text(run, 0, 7), "steps", list);
    PQclear(run);
    PQclear(steps);
    if (!out)
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    return out;
}

static const char *str_or(const json_t *v, const char *none)
{
    return json_is_string(v) ? json_string_value(v) : none;
}

/* An RFC 3339 JSON time -> the table form. */
static const char *time_cell(const json_t *v, char *buf, size_t len)
{
    int64_t ms;
    char text[24];

    if (!json_is_string(v) || !df_time_parse(json_string_value(v), &ms))
        return "-";
    snprintf(text, sizeof(text), "%lld", (long long)ms);
    return table_time(text, buf, len);
}

static void print_run(const json_t *run)
{
    const json_t *step;
    json_t *rows = json_array();
    char t1[32], t2[32], state[96];
    size_t i;

    snprintf(state, sizeof(state), "%s%s", json_string_value(json_object_get(run, "state")),
             strcmp(json_string_value(json_object_get(run, "state")), "running") == 0 &&
                     json_is_string(json_object_get(run, "reason"))
                 ? " (stopping: waiting for the steps in flight)"
                 : "");
    printf("run       %s\n", json_string_value(json_object_get(run, "run_id")));
    printf("pipeline  %s\n", json_string_value(json_object_get(run, "pipeline")));
    printf("state     %s\n", state);
    printf("started   %s\n", time_cell(json_object_get(run, "started_at"), t1, sizeof(t1)));
    printf("finished  %s\n", time_cell(json_object_get(run, "finished_at"), t2, sizeof(t2)));
    if (json_is_string(json_object_get(run, "schedule_id")))
        printf("schedule  %s (slot %s)\n", json_string_value(json_object_get(run, "schedule_id")),
               time_cell(json_object_get(run, "fire_time"), t1, sizeof(t1)));
    if (json_is_string(json_object_get(run, "reason")))
        printf("reason    %s\n", json_string_value(json_object_get(run, "reason")));
    printf("\n");
    json_array_append_new(rows, json_pack("[s,s,s,s,s,s,s,s]", "STEP", "AFTER", "STATE", "TASK",
                                          "RERUN", "STARTED", "FINISHED", "ERROR"));
    json_array_foreach(json_object_get(run, "steps"), i, step)
    {
        const json_t *after = json_object_get(step, "after"), *a, *error;
        char waits[256] = "", rerun[16] = "-", message[DF_ERR_MSG_MAX + 64] = "";
        size_t k;

        json_array_foreach(after, k, a)
        {
            size_t used = strlen(waits);
            snprintf(waits + used, sizeof(waits) - used, "%s%s", k ? "," : "",
                     json_string_value(a));
        }
        if (json_integer_value(json_object_get(step, "rerun")) > 0)
            snprintf(rerun, sizeof(rerun), "%lld",
                     (long long)json_integer_value(json_object_get(step, "rerun")));
        error = json_object_get(step, "error");
        if (json_is_object(error))
            snprintf(message, sizeof(message), "%s%s%s", str_or(json_object_get(error, "code"), ""),
                     json_is_string(json_object_get(error, "code")) ? ": " : "",
                     str_or(json_object_get(error, "message"), ""));
        json_array_append_new(
            rows, json_pack("[s,o,s,s,s,s,s,o]", json_string_value(json_object_get(step, "step")),
                            cell(waits, 40), json_string_value(json_object_get(step, "state")),
                            str_or(json_object_get(step, "task_id"), "-"), rerun,
                            time_cell(json_object_get(step, "started_at"), t1, sizeof(t1)),
                            time_cell(json_object_get(step, "finished_at"), t2, sizeof(t2)),
                            cell(message, ERROR_COLUMN_MAX)));
    }
    print_table(rows);
    json_decref(rows);
}

static int show(df_pg_t *pg, const cli_config_t *cfg, const char *run_id)
{
    df_error_t err;
    json_t *run;

    df_error_init(&err);
    if (!(run = describe(pg, run_id, &err))) {
        fail("%s", err.message);
        return DF_EXIT_FAILURE;
    }
    if (cfg->json)
        print_json(run);
    else
        print_run(run);
    json_decref(run);
    return DF_EXIT_OK;
}

/* ---- run, rerun and --wait ---- */

static const char run_state_sql[] = "SELECT state FROM pipeline_runs WHERE id = $1";

/* Follow the run until it ends, then show it. Returns the exit code. */
static int wait_run(df_pg_t *pg, const cli_config_t *cfg, const char *run_id)
{
    int64_t end = cfg->wait_timeout_ms > 0 ? df_mono_ms() + cfg->wait_timeout_ms : 0;
    char state[32] = "running";
    df_error_t err;
    int rc;

    df_error_init(&err);
    for (;;) {
        PGresult *res = df_pg_exec(pg, run_state_sql, 1, (const char *[]){ run_id }, &err);
        if (!res) {
            fail("following run %s: %s", run_id, err.message);
            return DF_EXIT_FAILURE;
        }
        if (PQntuples(res) == 1)
            snprintf(state, sizeof(state), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (strcmp(state, "running") != 0)
            break;
        if (end && df_mono_ms() >= end) {
            show(pg, cfg, run_id);
            fail("run %s has not ended after --wait-timeout", run_id);
            return EXIT_RUN_TIMEOUT;
        }
        struct timespec ts = { 0, WAIT_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    rc = show(pg, cfg, run_id);
    if (rc != DF_EXIT_OK)
        return rc;
    return strcmp(state, "succeeded") == 0 ? DF_EXIT_OK : EXIT_RUN_FAILED;
}

/* Run fn(pg, ...) in a transaction; on failure print err and roll back. */
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

static int run_pipeline(df_pg_t *pg, const cli_config_t *cfg, const char *name)
{
    char run_id[DF_ID_BUF];
    json_t *ref = json_pack("{s:s}", "name", name);
    bool created = false;
    df_error_t err;
    df_code_t rc;

    df_error_init(&err);
    df_id_ulid(run_id);
    rc = df_pg_begin(pg, &err);
    if (rc == DF_OK)
        rc = df_pipeline_run_create(pg, ref, run_id, NULL, 0, &created, &err);
    rc = commit_or_rollback(pg, rc, &err);
    json_decref(ref);
    if (rc != DF_OK) {
        fail("%s", err.message);
        return DF_EXIT_FAILURE;
    }
    /* --json --wait prints the run once it ended (its run_id in it) */
    if (cfg->json && !cfg->wait) {
        json_t *out =
            json_pack("{s:s, s:s, s:s}", "run_id", run_id, "pipeline", name, "state", "running");
        print_json(out);
        json_decref(out);
    } else if (!cfg->json) {
        printf("%s\n", run_id);
        fflush(stdout);
    }
    return cfg->wait ? wait_run(pg, cfg, run_id) : DF_EXIT_OK;
}

static int rerun(df_pg_t *pg, const cli_config_t *cfg, const char *run_id)
{
    json_t *reset = NULL, *name;
    df_error_t err;
    df_code_t rc;
    size_t i;

    df_error_init(&err);
    rc = df_pg_begin(pg, &err);
    if (rc == DF_OK)
        rc = df_pipeline_rerun(pg, run_id, cfg->current_definition, &reset, &err);
    rc = commit_or_rollback(pg, rc, &err);
    if (rc != DF_OK) {
        fail("%s", err.message);
        return DF_EXIT_FAILURE;
    }
    if (cfg->json && !cfg->wait) {
        json_t *out = json_pack("{s:s, s:O}", "run_id", run_id, "reset", reset);
        print_json(out);
        json_decref(out);
    } else if (!cfg->json) {
        printf("run %s: running again from step(s) ", run_id);
        json_array_foreach(reset, i, name) printf("%s%s", i ? ", " : "", json_string_value(name));
        printf("\n");
        fflush(stdout);
    }
    json_decref(reset);
    return cfg->wait ? wait_run(pg, cfg, run_id) : DF_EXIT_OK;
}

/* ---- add, list, runs ---- */

static const char add_sql[] =
    "INSERT INTO pipelines (id, name, description, definition) VALUES ($1, $2, $3, $4::jsonb)"
    " ON CONFLICT (name) DO UPDATE SET description = excluded.description,"
    "        definition = excluded.definition, updated_at = now()"
    "  WHERE $5::boolean"
    " RETURNING id";

static bool name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n < 1 || n > 128 ||
        !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static json_t *read_definition(const char *path, df_error_t *err)
{
    json_error_t jerr;
    struct stat st;
    json_t *def;

    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && st.st_size > DF_PIPELINE_DEF_MAX) {
        df_error_set(err, DF_ERR_INVALID, path, "%s: over %d bytes", path, DF_PIPELINE_DEF_MAX);
        return NULL;
    }
    def = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                 : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!def)
        df_error_set(err, DF_ERR_INVALID, path, "%s: line %d: %s", path, jerr.line, jerr.text);
    return def;
}

static int add(df_pg_t *pg, const cli_config_t *cfg, const char *name, json_t *def)
{
    char id[DF_ID_BUF], *text = json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *description = cfg->description
                                  ? cfg->description
                                  : json_string_value(json_object_get(def, "description"));
    const char *params[] = { id, name, description, text, cfg->replace ? "true" : "false" };
    df_error_t err;
    PGresult *res;
    int rc = DF_EXIT_OK;

    df_error_init(&err);
    df_id_ulid(id);
    if (!text || !(res = df_pg_exec(pg, add_sql, 5, params, &err))) {
        fail("%s", text ? err.message : "out of memory");
        free(text);
        return DF_EXIT_FAILURE;
    }
    if (PQntuples(res) != 1) {
        fail("a pipeline named \"%s\" exists already (add --replace to replace its definition)",
             name);
        rc = DF_EXIT_FAILURE;
    } else if (cfg->json) {
        json_t *out = json_pack("{s:s, s:s, s:b, s:i}", "id", PQgetvalue(res, 0, 0), "name", name,
                                "replaced", strcmp(PQgetvalue(res, 0, 0), id) != 0, "steps",
                                (int)json_array_size(json_object_get(def, "steps")));
        print_json(out);
        json_decref(out);
    } else {
        printf("pipeline %s %s (%zu steps)\n", name,
               strcmp(PQgetvalue(res, 0, 0), id) != 0 ? "replaced" : "added",
               json_array_size(json_object_get(def, "steps")));
    }
    PQclear(res);
    free(text);
    return rc;
}

static const char enable_sql[] =
    "UPDATE pipelines SET enabled = $2::boolean, updated_at = now() WHERE name = $1";

/* enable / disable: whether new runs may start (runs in flight go on). */
static int set_enabled(df_pg_t *pg, const char *name, bool enabled)
{
    const char *params[] = { name, enabled ? "true" : "false" };
    long long rows = 0;
    df_error_t err;

    df_error_init(&err);
    if (df_pg_run(pg, enable_sql, 2, params, &rows, &err) != DF_OK) {
        fail("%s", err.message);
        return DF_EXIT_FAILURE;
    }
    if (rows != 1) {
        fail("no pipeline is named \"%s\"", name);
        return DF_EXIT_FAILURE;
    }
    printf("pipeline %s %s\n", name, enabled ? "enabled" : "disabled");
    return DF_EXIT_OK;
}

static const char list_sql[] =
    "SELECT p.name, jsonb_array_length(p.definition->'steps'), p.enabled, p.description,"
    "       (SELECT count(*) FROM pipeline_runs r WHERE r.pipeline_id = p.id"
    "           AND r.state = 'running'),"
    "       l.id, l.state, floor(extract(epoch FROM l.started_at) * 1000)::bigint,"
    "       p.definition"
    "  FROM pipelines p LEFT JOIN LATERAL ("
    "       SELECT id, state, started_at FROM pipeline_runs r WHERE r.pipeline_id = p.id"
    "        ORDER BY started_at DESC, id DESC LIMIT 1) AS l ON true"
    " ORDER BY p.name";

static const char runs_sql[] =
    "SELECT r.id, p.name, r.state, floor(extract(epoch FROM r.started_at) * 1000)::bigint,"
    "       floor(extract(epoch FROM r.finished_at) * 1000)::bigint,"
    "       (SELECT count(*) FILTER (WHERE s.state = 'succeeded') || '/' || count(*)"
    "          FROM pipeline_steps s WHERE s.run_id = r.id),"
    "       " DF_PIPELINE_REASON_SQL ", r.schedule_id"
    "  FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
    " WHERE $1::text IS NULL OR p.name = $1"
    " ORDER BY r.started_at DESC, r.id DESC LIMIT $2::integer";

static int list(df_pg_t *pg, const cli_config_t *cfg)
{
    df_error_t err;
    PGresult *res;
    json_t *rows = json_array();
    char t[32];

    df_error_init(&err);
    if (!(res = df_pg_exec(pg, list_sql, 0, NULL, &err))) {
        fail("%s", err.message);
        json_decref(rows);
        return DF_EXIT_FAILURE;
    }
    if (!cfg->json)
        json_array_append_new(rows, json_pack("[s,s,s,s,s,s,s]", "NAME", "STEPS", "ENABLED",
                                              "RUNNING", "LAST RUN", "STARTED", "DESCRIPTION"));
    for (int i = 0; i < PQntuples(res); i++) {
        bool enabled = strcmp(PQgetvalue(res, i, 2), "t") == 0;
        if (cfg->json) {
            json_array_append_new(
                rows,
                json_pack("{s:s, s:i, s:b, s:o, s:i, s:o, s:o, s:o, s:o}", "name",
                          PQgetvalue(res, i, 0), "steps", atoi(PQgetvalue(res, i, 1)), "enabled",
                          enabled, "description", json_text(res, i, 3), "running",
                          atoi(PQgetvalue(res, i, 4)), "last_run_id", json_text(res, i, 5),
                          "last_run_state", json_text(res, i, 6), "last_run_started_at",
                          json_time(column(res, i, 7)), "definition", json_column(res, i, 8)));
            continue;
        }
        char last[64];
        snprintf(last, sizeof(last), "%s", PQgetisnull(res, i, 6) ? "-" : PQgetvalue(res, i, 6));
        json_array_append_new(rows, json_pack("[s,s,s,s,s,s,o]", PQgetvalue(res, i, 0),
                                              PQgetvalue(res, i, 1), enabled ? "yes" : "no",
                                              PQgetvalue(res, i, 4), last,
                                              table_time(column(res, i, 7), t, sizeof(t)),
                                              cell(column(res, i, 3), 50)));
    }
    if (cfg->json)
        print_json(rows);
    else
        print_table(rows);
    PQclear(res);
    json_decref(rows);
    return DF_EXIT_OK;
}

static int runs(df_pg_t *pg, const cli_config_t *cfg, const char *name)
{
    char limit[24], t1[32], t2[32];
    const char *params[] = { name, limit };
    df_error_t err;
    PGresult *res;
    json_t *rows = json_array();

    df_error_init(&err);
    snprintf(limit, sizeof(limit), "%lld", (long long)cfg->limit);
    if (!(res = df_pg_exec(pg, runs_sql, 2, params, &err))) {
        fail("%s", err.message);
        json_decref(rows);
        return DF_EXIT_FAILURE;
    }
    if (!cfg->json)
        json_array_append_new(rows, json_pack("[s,s,s,s,s,s,s]", "RUN", "PIPELINE", "STATE",
                                              "STEPS OK", "STARTED", "FINISHED", "REASON"));
    for (int i = 0; i < PQntuples(res); i++) {
        if (cfg->json) {
            json_array_append_new(
                rows, json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "run_id",
                                PQgetvalue(res, i, 0), "pipeline", PQgetvalue(res, i, 1), "state",
                                PQgetvalue(res, i, 2), "started_at", json_time(column(res, i, 3)),
                                "finished_at", json_time(column(res, i, 4)), "steps_succeeded",
                                PQgetvalue(res, i, 5), "reason", json_text(res, i, 6),
                                "schedule_id", json_text(res, i, 7)));
            continue;
        }
        json_array_append_new(rows, json_pack("[s,s,s,s,s,s,o]", PQgetvalue(res, i, 0),
                                              PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                                              PQgetvalue(res, i, 5),
                                              table_time(column(res, i, 3), t1, sizeof(t1)),
                                              table_time(column(res, i, 4), t2, sizeof(t2)),
                                              cell(column(res, i, 6), ERROR_COLUMN_MAX)));
    }
    if (cfg->json)
        print_json(rows);
    else
        print_table(rows);
    PQclear(res);
    json_decref(rows);
    return DF_EXIT_OK;
}

/* ---- the command ---- */

/* The positional arguments each command takes: [min, max] after its name. */
static bool arity(const df_args_t *args, int min, int max, const char *usage)
{
    if (args->count - 1 >= min && args->count - 1 <= max)
        return true;
    fail("usage: pipelines %s (see --help)", usage);
    return false;
}

static int dispatch(const cli_config_t *cfg, const df_args_t *args)
{
    const char *cmd = args->values[0];
    df_pg_t *pg;
    df_error_t err;
    json_t *def = NULL;
    int rc;

    if (strcmp(cmd, "add") == 0) {
        if (!arity(args, 1, 1, "add NAME --file DEF.json"))
            return DF_EXIT_USAGE;
        if (!name_ok(args->values[1])) {
            fail("pipeline name \"%s\": expected 1 to 128 of a-z, 0-9, _, . and -, starting "
                 "with a letter or digit",
                 args->values[1]);
            return DF_EXIT_USAGE;
        }
        if (!cfg->file) {
            fail("add needs --file DEF.json");
            return DF_EXIT_USAGE;
        }
        df_error_init(&err);
        if (!(def = read_definition(cfg->file, &err)) ||
            df_pipeline_def_check(def, &err) != DF_OK) {
            if (def)
                fail("%s: %s: %s", cfg->file, err.field[0] ? err.field : "/", err.message);
            else
                fail("%s", err.message);
            json_decref(def);
            return exit_for(err.code);
        }
    } else if (strcmp(cmd, "list") == 0) {
        if (!arity(args, 0, 0, "list"))
            return DF_EXIT_USAGE;
    } else if (strcmp(cmd, "run") == 0) {
        if (!arity(args, 1, 1, "run NAME [--wait]"))
            return DF_EXIT_USAGE;
    } else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "rerun") == 0) {
        if (!arity(args, 1, 1, strcmp(cmd, "show") == 0 ? "show RUN_ID" : "rerun RUN_ID"))
            return DF_EXIT_USAGE;
    } else if (strcmp(cmd, "runs") == 0) {
        if (!arity(args, 0, 1, "runs [NAME] [--limit N]"))
            return DF_EXIT_USAGE;
    } else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0) {
        if (!arity(args, 1, 1, strcmp(cmd, "enable") == 0 ? "enable NAME" : "disable NAME"))
            return DF_EXIT_USAGE;
    } else {
        fail("unknown command \"%s\" (expected add, list, run, show, runs, rerun, enable or "
             "disable)",
             cmd);
        return DF_EXIT_USAGE;
    }

    df_error_init(&err);
    if (!(pg = df_pg_new(cfg->database_url, &err))) {
        fail("PostgreSQL: %s", err.message);
        json_decref(def);
        return DF_EXIT_FAILURE;
    }
    if (strcmp(cmd, "add") == 0)
        rc = add(pg, cfg, args->values[1], def);
    else if (strcmp(cmd, "list") == 0)
        rc = list(pg, cfg);
    else if (strcmp(cmd, "run") == 0)
        rc = run_pipeline(pg, cfg, args->values[1]);
    else if (strcmp(cmd, "show") == 0)
        rc = show(pg, cfg, args->values[1]);
    else if (strcmp(cmd, "runs") == 0)
        rc = runs(pg, cfg, args->count > 1 ? args->values[1] : NULL);
    else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0)
        rc = set_enabled(pg, args->values[1], strcmp(cmd, "enable") == 0);
    else
        rc = rerun(pg, cfg, args->values[1]);
    df_pg_destroy(pg);
    json_decref(def);
    return rc;
}

int df_cmd_pipelines(int argc, char **argv)
{
    cli_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    df_log_level_t level = DF_LOG_WARN;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(&program, &cfg, argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        df_config_free(&program, &cfg);
        df_args_free(&args);
        return parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    }
    df_log_level_parse(cfg.log_level, &level);
    df_log_init("scheduler", level);
    if (args.count == 0) {
        fail("a command is needed: add, list, run, show, runs, rerun, enable or disable (see "
             "--help)");
        rc = DF_EXIT_USAGE;
    } else {
        rc = dispatch(&cfg, &args);
    }
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
