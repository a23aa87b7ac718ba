/* cli_schedules: the `schedules` command of datafleet-scheduler (see
 * commands.h): list, add, show, pause, resume, delete and trigger cron
 * schedules, talking to PostgreSQL directly (and to Kafka for trigger).
 * Each subcommand has its own option table and --help. docs/SCHEDULES.md
 * shows them at work. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schedules.h"
#include "cli_common.h"
#include "commands.h"
#include "df_log.h"
#include "schedule_slot.h"
#include "schedule_store.h"

static const df_option_t overview_options[] = { DF_COMMON_OPTIONS(df_sched_cli_config_t) };

#define OPT_JSON                                                                                  \
    {                                                                                             \
        "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON for scripts instead of text", \
            offsetof(df_sched_cli_config_t, json), 0                                              \
    }

static const df_option_t list_options[] = { DF_COMMON_OPTIONS(df_sched_cli_config_t), OPT_JSON };

static const df_option_t show_options[] = {
    DF_COMMON_OPTIONS(df_sched_cli_config_t),
    OPT_JSON,
    { "fires", NULL, DF_OPT_INT, "10", 0, 1000, NULL, "how many of the latest fired slots to show",
      offsetof(df_sched_cli_config_t, fires), 0 },
};

static const df_option_t add_options[] = {
    DF_COMMON_OPTIONS(df_sched_cli_config_t),
    { "cron", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "the cron expression: 5 fields (minute first) or 6 (second first), names, @hourly.., "
      "@every 90s",
      offsetof(df_sched_cli_config_t, cron), DF_OPT_REQUIRED },
    { "tz", NULL, DF_OPT_STRING, "UTC", 0, 0, NULL,
      "IANA time zone the expression is read in (e.g. Europe/Paris)",
      offsetof(df_sched_cli_config_t, tz), 0 },
    { "task", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "what each slot publishes: a task template as a JSON object (a task without task_id, "
      "attempt, submitted_at)",
      offsetof(df_sched_cli_config_t, task), 0 },
    { "task-file", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "the task template from this JSON file",
      offsetof(df_sched_cli_config_t, task_file), 0 },
    { "pipeline", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "what each slot starts instead: a run of this pipeline",
      offsetof(df_sched_cli_config_t, pipeline), 0 },
    { "misfire", NULL, DF_OPT_ENUM, "coalesce", 0, 0, "coalesce|skip|catch_up",
      "slots missed while no scheduler could fire them: one firing for all (coalesce), none "
      "(skip), or each (catch_up)",
      offsetof(df_sched_cli_config_t, misfire), 0 },
    { "catch-up-limit", NULL, DF_OPT_INT, "10", 0, DF_SCHEDULE_CATCH_UP_MAX, NULL,
      "catch_up: at most this many missed slots fire (the latest ones)",
      offsetof(df_sched_cli_config_t, catch_up_limit), 0 },
    { "paused", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "add it paused (resume starts it)",
      offsetof(df_sched_cli_config_t, paused), 0 },
};

static const df_option_t name_options[] = { DF_COMMON_OPTIONS(df_sched_cli_config_t) };

static const df_option_t trigger_options[] = {
    DF_COMMON_OPTIONS(df_sched_cli_config_t),
    { "timeout", NULL, DF_OPT_DURATION, "30s", 100, 600000, NULL,
      "how long to wait for Kafka to acknowledge the task",
      offsetof(df_sched_cli_config_t, timeout_ms), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "done (pause/resume of a schedule already in that state, and a trigger whose "
                  "slot had fired already, are done too)" },
    { DF_EXIT_FAILURE, "PostgreSQL or Kafka failed, or the triggered task was not acknowledged" },
    { DF_EXIT_USAGE, "bad option or value: an invalid expression, zone, template or name" },
    { DF_SCHED_EXIT_NOT_FOUND, "no schedule has that name" },
    { DF_SCHED_EXIT_EXISTS, "add: a schedule with that name exists already" },
};

typedef struct command {
    const char *name;
    int nargs; /* positional arguments after the command (the NAME) */
    int (*run)(df_sched_cli_t *cli, char **args);
    df_program_t program;
} command_t;

#define PROGRAM(cmd, usage_, summary_, details_, opts)                                        \
    {                                                                                         \
        .name = "datafleet-scheduler schedules " cmd, .usage = usage_, .summary = summary_,   \
        .details = details_, .options = opts, .n_options = sizeof(opts) / sizeof(opts[0]),    \
        .exit_codes = exit_codes, .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]), \
    }

static const command_t commands[] = {
    { "list", 0, df_sched_cli_list,
      PROGRAM("list", "[OPTIONS]",
              "List the schedules: name, expression, zone, target, state, last run and next fire.",
              "Times are UTC. LAST RUN is the state of the task (or pipeline run) of the\n"
              "latest fired slot as the history knows it (\"fired\" until it is recorded).\n",
              list_options) },
    { "show", 1, df_sched_cli_show,
      PROGRAM("show", "NAME [OPTIONS]",
              "Show one schedule in full, with its next fire times and latest fired slots.", NULL,
              show_options) },
    { "add", 1, df_sched_cli_add,
      PROGRAM("add",
              "NAME --cron EXPR [--tz ZONE] (--task JSON | --task-file FILE | --pipeline NAME) "
              "[OPTIONS]",
              "Add a schedule. Its first slot is the first fire time after now.",
              "NAME: 1 to 128 characters: letters, digits, '_', '.', ':', '-' (a letter or\n"
              "digit first). The template is checked like a task: a slot fills in task_id\n"
              "(derived from the schedule and the fire time), attempt, submitted_at,\n"
              "submitted_by (\"scheduler:NAME\") and schedule_id.\n"
              "Example:\n"
              "  datafleet-scheduler schedules add nightly-sales --cron '0 2 * * *' \\\n"
              "      --tz Europe/Paris --task '{\"type\":\"export\",\"connector\":\"noop\","
              "\"params\":{}}'\n",
              add_options) },
    { "pause", 1, df_sched_cli_pause,
      PROGRAM("pause", "NAME [OPTIONS]",
              "Pause a schedule: its slots do not fire until it is resumed.", NULL, name_options) },
    { "resume", 1, df_sched_cli_resume,
      PROGRAM("resume", "NAME [OPTIONS]",
              "Resume a paused schedule from the first fire time after now: the slots of the\n"
              "pause are not fired (pausing is deliberate; the misfire policy is for downtime).",
              NULL, name_options) },
    { "delete", 1, df_sched_cli_delete,
      PROGRAM("delete", "NAME [OPTIONS]",
              "Delete a schedule and its record of fired slots (its tasks stay in the history).",
              NULL, name_options) },
    { "trigger", 1, df_sched_cli_trigger,
      PROGRAM("trigger", "NAME [OPTIONS]", "Fire a schedule now, even a paused or disabled one.",
              "The slot is the current second (UTC), claimed like any other slot: triggering\n"
              "twice within one second, or in the very second a cron slot fires, fires once\n"
              "(the second call prints the slot's task and exits 0). A task schedule's task\n"
              "is published and acknowledged by Kafka before the slot is recorded; a\n"
              "pipeline schedule's run is created for the cron leader to start.\n",
              trigger_options) },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const df_program_t overview = {
    .name = "datafleet-scheduler schedules",
    .summary = "Manage cron schedules (PostgreSQL's schedules table) and fire them by hand.",
    .usage = "COMMAND [ARGS] [OPTIONS]",
    .details = "Commands (each has --help):\n"
               "  list                     the schedules, one per line (--json)\n"
               "  show NAME                one schedule in full (--json)\n"
               "  add NAME --cron EXPR ... add a schedule of a task template or a pipeline\n"
               "  pause NAME | resume NAME stop / restart firing\n"
               "  delete NAME              delete it\n"
               "  trigger NAME             fire it now\n",
    .options = overview_options,
    .n_options = sizeof(overview_options) / sizeof(overview_options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

int df_sched_cli_fail(const df_sched_cli_t *cli, int code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return df_cli_fail(cli->program, code, "%s", message);
}

df_pg_t *df_sched_cli_pg(df_sched_cli_t *cli)
{
    df_error_t err;

    if (cli->pg)
        return cli->pg;
    df_error_init(&err);
    cli->pg = df_pg_new(cli->cfg.common.database_url, &err);
    if (!cli->pg)
        df_sched_cli_fail(cli, DF_EXIT_FAILURE, "cannot connect to PostgreSQL: %s", err.message);
    return cli->pg;
}

int df_sched_cli_pg_fail(const df_sched_cli_t *cli, const df_error_t *err)
{
    const char *hint = strcmp(df_pg_sqlstate(err), "42P01") == 0
                           ? " (no schedules table: run 'datafleet-scheduler migrate' first)"
                           : "";
    return df_sched_cli_fail(cli, DF_EXIT_FAILURE, "%s%s", err->message, hint);
}

void df_sched_cli_time(int64_t ms, char *buf, size_t len)
{
    df_time_format(ms, buf, len);
    /* whole seconds read better without ".000" */
    if (ms % 1000 == 0) {
        char *dot = strrchr(buf, '.');
        if (dot && strlen(dot) == 5)
            memcpy(dot, "Z", 2);
    }
}

/* The template of --task or --task-file, checked; NULL after printing why. */
static json_t *load_template(df_sched_cli_t *cli, const char *name)
{
    const df_sched_cli_config_t *cfg = &cli->cfg;
    const char *opt = cfg->task ? "--task" : "--task-file";
    json_error_t jerr;
    df_error_t err;
    json_t *tmpl;

    tmpl = cfg->task ? json_loads(cfg->task, JSON_REJECT_DUPLICATES, &jerr)
                     : json_load_file(cfg->task_file, JSON_REJECT_DUPLICATES, &jerr);
    if (!tmpl) {
        df_sched_cli_fail(cli, DF_EXIT_USAGE, "%s: not JSON (line %d, column %d): %s", opt,
                          jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    df_error_init(&err);
    if (df_schedule_template_check(tmpl, name, &err)) {
        df_sched_cli_fail(cli, DF_EXIT_USAGE, "%s: %s%s%s", opt, err.field,
                          err.field[0] ? ": " : "", err.message);
        json_decref(tmpl);
        return NULL;
    }
    return tmpl;
}

/* The pipeline a schedule would start: it must exist. */
static int check_pipeline(df_sched_cli_t *cli, const char *pipeline)
{
    bool enabled = true;
    df_error_t err;
    df_code_t code;

    df_error_init(&err);
    code = df_schedule_pipeline_check(cli->pg, pipeline, &enabled, &err);
    if (code == DF_ERR_NOT_FOUND)
        return df_sched_cli_fail(cli, DF_EXIT_USAGE, "--pipeline: no pipeline named \"%s\"",
                                 pipeline);
    if (code)
        return df_sched_cli_pg_fail(cli, &err);
    if (!enabled)
        fprintf(stderr, "%s: note: pipeline \"%s\" is disabled: its runs will not start\n",
                cli->program->name, pipeline);
    return DF_EXIT_OK;
}

/* An invalid --cron or --tz; for a position in the expression, the
 * expression is shown with a caret under it. */
static int cron_error(const df_sched_cli_t *cli, const df_error_t *err)
{
    const char *expr = cli->cfg.cron;
    int pos = 0;

    if (strcmp(err->field, "timezone") == 0)
        return df_sched_cli_fail(cli, DF_EXIT_USAGE, "--tz: %s", err->message);
    if (sscanf(err->message, "position %d", &pos) == 1 && pos >= 1 &&
        (size_t)pos <= strlen(expr) + 1 && strlen(expr) < 200)
        return df_sched_cli_fail(cli, DF_EXIT_USAGE, "--cron: %s\n  %s\n  %*s^", err->message, expr,
                                 pos - 1, "");
    return df_sched_cli_fail(cli, DF_EXIT_USAGE, "--cron: %s", err->message);
}

int df_sched_cli_add(df_sched_cli_t *cli, char **args)
{
    const df_sched_cli_config_t *cfg = &cli->cfg;
    const char *name = args[0];
    int targets = (cfg->task != NULL) + (cfg->task_file != NULL) + (cfg->pipeline != NULL);
    char id[DF_ID_BUF], when[40];
    df_schedule_spec_t spec = {
        .name = name,
        .expression = cfg->cron,
        .timezone = cfg->tz,
        .pipeline = cfg->pipeline,
        .misfire = cfg->misfire,
        .catch_up_limit = cfg->catch_up_limit,
        .paused = cfg->paused,
    };
    char *tmpl_text = NULL;
    df_error_t err;
    df_code_t code;
    int64_t next;

    df_error_init(&err);
    if (!df_schedule_name_ok(name))
        return df_sched_cli_fail(cli, DF_EXIT_USAGE,
                                 "NAME \"%s\": expected 1 to 128 letters, digits, '_', '.', ':' or "
                                 "'-', starting with a letter or digit",
                                 name);
    if (targets != 1)
        return df_sched_cli_fail(cli, DF_EXIT_USAGE,
                                 "expected exactly one of --task, --task-file and --pipeline");
    if (df_schedule_first_slot(cfg->cron, cfg->tz, df_now_ms(), &next, &err))
        return cron_error(cli, &err);
    if (!cfg->pipeline) {
        json_t *tmpl = load_template(cli, name);
        if (!tmpl)
            return DF_EXIT_USAGE;
        tmpl_text = json_dumps(tmpl, JSON_COMPACT);
        json_decref(tmpl);
    }
    if (!df_sched_cli_pg(cli) || (cfg->pipeline && check_pipeline(cli, cfg->pipeline))) {
        free(tmpl_text);
        return cli->pg ? DF_EXIT_USAGE : DF_EXIT_FAILURE;
    }
    spec.task_template = tmpl_text;
    code = df_schedule_add(cli->pg, &spec, next, id, &err);
    free(tmpl_text);
    if (code == DF_ERR_CONFLICT)
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_EXISTS, "a schedule named \"%s\" exists", name);
    if (code)
        return df_sched_cli_pg_fail(cli, &err);
    df_sched_cli_time(next, when, sizeof(when));
    printf("added schedule %s (id %s)%s; first slot %s\n", name, id, cfg->paused ? ", paused" : "",
           when);
    return DF_EXIT_OK;
}

/* A failure of a command on one named schedule. */
static int name_fail(df_sched_cli_t *cli, const char *name, df_code_t code, const df_error_t *err)
{
    if (code == DF_ERR_NOT_FOUND)
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_NOT_FOUND, "no schedule named \"%s\"", name);
    return df_sched_cli_pg_fail(cli, err);
}

/* pause / resume: "already" is not an error. */
int df_sched_cli_pause(df_sched_cli_t *cli, char **args)
{
    df_error_t err;
    df_code_t code;
    bool was = false;

    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    code = df_schedule_pause(cli->pg, args[0], &was, &err);
    if (code)
        return name_fail(cli, args[0], code, &err);
    printf(was ? "schedule %s was already paused\n" : "schedule %s paused\n", args[0]);
    return DF_EXIT_OK;
}

int df_sched_cli_resume(df_sched_cli_t *cli, char **args)
{
    char when[40];
    df_error_t err, note;
    df_code_t code;
    bool was = false;
    int64_t next = 0;

    df_error_init(&err);
    df_error_init(&note);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    code = df_schedule_resume(cli->pg, args[0], &was, &next, &note, &err);
    if (code)
        return name_fail(cli, args[0], code, &err);
    if (!was) {
        printf("schedule %s is not paused\n", args[0]);
        return DF_EXIT_OK;
    }
    if (note.code)
        fprintf(stderr, "%s: note: %s: the cron leader will report it\n", cli->program->name,
                note.message);
    if (next) {
        df_sched_cli_time(next, when, sizeof(when));
        printf("schedule %s resumed; next slot %s\n", args[0], when);
    } else {
        printf("schedule %s resumed\n", args[0]);
    }
    return DF_EXIT_OK;
}

int df_sched_cli_delete(df_sched_cli_t *cli, char **args)
{
    char id[DF_SCHEDULE_ID_BUF];
    df_error_t err;
    df_code_t code;

    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    code = df_schedule_delete(cli->pg, args[0], id, &err);
    if (code)
        return name_fail(cli, args[0], code, &err);
    printf("schedule %s deleted (id %s)\n", args[0], id);
    return DF_EXIT_OK;
}

/* ---- dispatch ---- */

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int df_cmd_schedules(int argc, char **argv)
{
    const command_t *cmd = argc > 1 ? find_command(argv[1]) : NULL;
    df_sched_cli_t cli;
    df_args_t args;
    df_parse_result_t parsed;
    int rc;

    if (!cmd)
        return df_cli_overview(&overview, "list, show, add, pause, resume, delete, trigger", argc,
                               argv);
    memset(&cli, 0, sizeof(cli));
    cli.program = &cmd->program;
    parsed = df_config_parse(&cmd->program, &cli.cfg, argc - 1, argv + 1, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (args.count != cmd->nargs) {
        rc = df_sched_cli_fail(&cli, DF_EXIT_USAGE, "expected %s",
                               cmd->nargs ? "one schedule NAME" : "no arguments");
    } else {
        df_cli_log_init(&cli.cfg.common);
        rc = cmd->run(&cli, args.values);
    }
    df_pg_destroy(cli.pg);
    df_config_free(&cmd->program, &cli.cfg);
    df_args_free(&args);
    return rc;
}
