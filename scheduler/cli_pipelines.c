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
#include "pipeline_store.h"
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
    if (!(run = df_pipeline_run_describe(pg, run_id, &err))) {
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

static int run_pipeline(df_pg_t *pg, const cli_config_t *cfg, const char *name)
{
    char run_id[DF_ID_BUF];
    df_error_t err;

    df_error_init(&err);
    if (df_pipeline_start(pg, name, run_id, &err) != DF_OK) {
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
    rc = df_pipeline_rerun_commit(pg, run_id, cfg->current_definition, &reset, &err);
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
    const char *description = cfg->description
                                  ? cfg->description
                                  : json_string_value(json_object_get(def, "description"));
    char id[DF_PIPELINE_ID_BUF];
    bool replaced = false;
    df_error_t err;
    df_code_t rc;

    df_error_init(&err);
    rc = df_pipeline_save(pg, name, description, def,
                          cfg->replace ? DF_PIPELINE_ADD_OR_REPLACE : DF_PIPELINE_ADD, id,
                          &replaced, &err);
    if (rc == DF_ERR_CONFLICT) {
        fail("a pipeline named \"%s\" exists already (add --replace to replace its definition)",
             name);
        return DF_EXIT_FAILURE;
    }
    if (rc != DF_OK) {
        fail("%s", err.message);
        return DF_EXIT_FAILURE;
    }
    if (cfg->json) {
        json_t *out =
            json_pack("{s:s, s:s, s:b, s:i}", "id", id, "name", name, "replaced", replaced, "steps",
                      (int)json_array_size(json_object_get(def, "steps")));
        print_json(out);
        json_decref(out);
    } else {
        printf("pipeline %s %s (%zu steps)\n", name, replaced ? "replaced" : "added",
               json_array_size(json_object_get(def, "steps")));
    }
    return DF_EXIT_OK;
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

static int list(df_pg_t *pg, const cli_config_t *cfg)
{
    df_error_t err;
    PGresult *res;
    json_t *rows = json_array();
    char t[32];

    df_error_init(&err);
    if (!(res = df_pipeline_list_query(pg, NULL, &err))) {
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
            json_array_append_new(rows, df_pipeline_list_row_json(res, i));
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
    char t1[32], t2[32];
    df_error_t err;
    PGresult *res;
    json_t *rows = json_array();

    df_error_init(&err);
    if (!(res = df_pipeline_runs_query(pg, name, cfg->limit, NULL, NULL, &err))) {
        fail("%s", err.message);
        json_decref(rows);
        return DF_EXIT_FAILURE;
    }
    if (!cfg->json)
        json_array_append_new(rows, json_pack("[s,s,s,s,s,s,s]", "RUN", "PIPELINE", "STATE",
                                              "STEPS OK", "STARTED", "FINISHED", "REASON"));
    for (int i = 0; i < PQntuples(res); i++) {
        if (cfg->json) {
            json_array_append_new(rows, df_pipeline_runs_row_json(res, i));
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
        if (!df_pipeline_name_ok(args->values[1])) {
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
