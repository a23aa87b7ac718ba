/* cli_dlq: the `dlq` command of datafleet-scheduler (see commands.h):
 * browse the dead letters the recorder keeps in PostgreSQL
 * (dlq_messages), requeue one as a new task, purge them. Each subcommand
 * has its own option table and --help; dlq_store.h does the work.
 * docs/DLQ.md shows them at work. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "df_config.h"
#include "df_id.h"
#include "df_log.h"
#include "dlq_store.h"

#define EXIT_NOT_FOUND 3 /* no message has that id */
#define EXIT_CONFLICT  4 /* requeue/purge: already requeued or purged */
#define EXIT_NOT_TASK  5 /* requeue: the payload is not a task that can run */
#define ERROR_SHOWN    60

typedef struct dlq_cli_config {
    df_common_config_t common;
    char *state, *task_id, *since, *before;
    int64_t limit, after, timeout_ms;
    bool json, all;
} dlq_cli_config_t;

typedef struct dlq_cli {
    dlq_cli_config_t cfg;
    const df_program_t *program;
    df_pg_t *pg;
} dlq_cli_t;

#define OPT_JSON                                                                                  \
    {                                                                                             \
        "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON for scripts instead of text", \
            offsetof(dlq_cli_config_t, json), 0                                                   \
    }
#define OPT_STATE(def_, help_)                                                     \
    {                                                                              \
        "state", NULL, DF_OPT_ENUM, def_, 0, 0, "dead|requeued|purged|any", help_, \
            offsetof(dlq_cli_config_t, state), 0                                   \
    }
#define OPT_TASK                                                                               \
    {                                                                                          \
        "task-id", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "only the messages of this task id", \
            offsetof(dlq_cli_config_t, task_id), 0                                             \
    }

static const df_option_t overview_options[] = { DF_COMMON_OPTIONS(dlq_cli_config_t) };

static const df_option_t list_options[] = {
    DF_COMMON_OPTIONS(dlq_cli_config_t),
    OPT_JSON,
    OPT_STATE("any", "only the messages in this state"),
    OPT_TASK,
    { "since", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "only the messages recorded at or after TIME (RFC 3339, or a duration ago: 90m, 24h)",
      offsetof(dlq_cli_config_t, since), 0 },
    { "after", NULL, DF_OPT_INT, "0", 0, 0, NULL,
      "the page after this message id (the last id of the previous page)",
      offsetof(dlq_cli_config_t, after), 0 },
    { "limit", NULL, DF_OPT_INT, "50", 1, DF_DLQ_LIST_MAX, NULL, "at most this many messages",
      offsetof(dlq_cli_config_t, limit), 0 },
};

static const df_option_t show_options[] = { DF_COMMON_OPTIONS(dlq_cli_config_t), OPT_JSON };

static const df_option_t requeue_options[] = {
    DF_COMMON_OPTIONS(dlq_cli_config_t),
    OPT_JSON,
    { "timeout", NULL, DF_OPT_DURATION, "30s", 100, 600000, NULL,
      "how long to wait for Kafka to acknowledge the task", offsetof(dlq_cli_config_t, timeout_ms),
      0 },
};

static const df_option_t purge_options[] = {
    DF_COMMON_OPTIONS(dlq_cli_config_t),
    { "before", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "purge the messages recorded before TIME (RFC 3339, or a duration ago: 90m, 168h)",
      offsetof(dlq_cli_config_t, before), 0 },
    { "all", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "purge every message (with --state / --task-id: every matching one)",
      offsetof(dlq_cli_config_t, all), 0 },
    OPT_STATE(NULL, "only the messages in this state"),
    OPT_TASK,
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "done" },
    { DF_EXIT_FAILURE, "PostgreSQL or Kafka failed, or the requeued task was not acknowledged" },
    { DF_EXIT_USAGE, "bad option, value or argument" },
    { EXIT_NOT_FOUND, "no DLQ message has that id" },
    { EXIT_CONFLICT, "requeue: the message was requeued or purged already" },
    { EXIT_NOT_TASK, "requeue: the message's payload is not a task that can run (binary, cut, "
                     "not JSON, or not valid under the task schema)" },
};

typedef struct command {
    const char *name;
    int min_args, max_args; /* the message ID */
    int (*run)(dlq_cli_t *cli, char **args, int nargs);
    df_program_t program;
} command_t;

#define PROGRAM(cmd, usage_, summary_, details_, opts)                                        \
    {                                                                                         \
        .name = "datafleet-scheduler dlq " cmd, .usage = usage_, .summary = summary_,         \
        .details = details_, .options = opts, .n_options = sizeof(opts) / sizeof(opts[0]),    \
        .exit_codes = exit_codes, .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]), \
    }

#define fail(cli, code, ...) df_cli_fail((cli)->program, (code), __VA_ARGS__)

/* A dlq_store error as an exit code, after saying it; invalid_code is
 * the code of DF_ERR_INVALID. */
static int store_fail(const dlq_cli_t *cli, const df_error_t *err, int invalid_code)
{
    int code = DF_EXIT_FAILURE;
    const char *hint = "";

    if (err->code == DF_ERR_NOT_FOUND)
        code = EXIT_NOT_FOUND;
    else if (err->code == DF_ERR_CONFLICT)
        code = EXIT_CONFLICT;
    else if (err->code == DF_ERR_INVALID)
        code = invalid_code;
    if (strcmp(df_pg_sqlstate(err), "42P01") == 0)
        hint = " (no dlq_messages table: run 'datafleet-scheduler migrate' first)";
    return fail(cli, code, "%s%s", err->message, hint);
}

static bool connect_pg(dlq_cli_t *cli)
{
    df_error_t err;

    df_error_init(&err);
    cli->pg = df_pg_new(cli->cfg.common.database_url, &err);
    if (!cli->pg)
        fail(cli, DF_EXIT_FAILURE, "cannot connect to PostgreSQL: %s", err.message);
    return cli->pg != NULL;
}

/* A message ID argument; 0 after printing why not. */
static int64_t id_arg(const dlq_cli_t *cli, const char *text)
{
    char *end;
    long long id = strtoll(text, &end, 10);

    if (*text == '\0' || *end != '\0' || id < 1) {
        fail(cli, DF_EXIT_USAGE, "ID \"%s\": expected a DLQ message id (a number >= 1)", text);
        return 0;
    }
    return id;
}

/* TIME: RFC 3339, or a duration meaning that long ago. -1 after printing
 * why not. */
static int64_t time_arg(const dlq_cli_t *cli, const char *option, const char *text)
{
    int64_t ms;
    df_error_t err;

    if (df_time_parse(text, &ms))
        return ms;
    df_error_init(&err);
    if (df_config_parse_duration(text, &ms, &err) == DF_OK && ms >= 0)
        return df_now_ms() - ms;
    fail(cli, DF_EXIT_USAGE,
         "--%s \"%s\": expected an RFC 3339 time (2026-05-01T00:00:00Z) or a duration ago "
         "(90m, 24h)",
         option, text);
    return -1;
}

static int print_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(doc);
    if (!text)
        return DF_EXIT_FAILURE;
    puts(text);
    free(text);
    return DF_EXIT_OK;
}

static const char *str(const json_t *o, const char *name, const char *none)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? v : none;
}

/* ---- list ---- */

#define LIST_COLS 6

static void list_row(const json_t *m, char cells[LIST_COLS][ERROR_SHOWN + 8])
{
    const char *error = str(m, "error", "-");

    snprintf(cells[0], ERROR_SHOWN + 8, "%lld",
             (long long)json_integer_value(json_object_get(m, "id")));
    snprintf(cells[1], ERROR_SHOWN + 8, "%s", str(m, "received_at", "-"));
    snprintf(cells[2], ERROR_SHOWN + 8, "%s", str(m, "state", "-"));
    snprintf(cells[3], ERROR_SHOWN + 8, "%s", str(m, "reason", "-"));
    snprintf(cells[4], ERROR_SHOWN + 8, "%s", str(m, "task_id", "-"));
    snprintf(cells[5], ERROR_SHOWN + 8, "%.*s%s", ERROR_SHOWN, error,
             strlen(error) > ERROR_SHOWN ? "..." : "");
}

static int cmd_list(dlq_cli_t *cli, char **args, int nargs)
{
    static const char *const heads[LIST_COLS] = { "ID",     "RECEIVED (UTC)", "STATE",
                                                  "REASON", "TASK",           "ERROR" };
    const dlq_cli_config_t *cfg = &cli->cfg;
    df_dlq_filter_t filter = { 0 };
    char(*cells)[LIST_COLS][ERROR_SHOWN + 8];
    size_t width[LIST_COLS], n;
    json_t *page, *messages, *next;
    df_error_t err;

    (void)args;
    (void)nargs;
    if (cfg->state && strcmp(cfg->state, "any") != 0)
        filter.state = cfg->state;
    filter.task_id = cfg->task_id;
    if (cfg->since && (filter.since_ms = time_arg(cli, "since", cfg->since)) < 0)
        return DF_EXIT_USAGE;
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    df_error_init(&err);
    if (df_dlq_list(cli->pg, &filter, cfg->after, (int)cfg->limit, &page, &err))
        return store_fail(cli, &err, DF_EXIT_USAGE);
    if (cfg->json)
        return print_json(page);
    messages = json_object_get(page, "messages");
    next = json_object_get(page, "next_after");
    n = json_array_size(messages);
    cells = calloc(n + 1, sizeof(*cells));
    if (!cells) {
        json_decref(page);
        return fail(cli, DF_EXIT_FAILURE, "out of memory");
    }
    for (int c = 0; c < LIST_COLS; c++)
        snprintf(cells[0][c], sizeof(cells[0][c]), "%s", heads[c]);
    for (size_t r = 0; r < n; r++)
        list_row(json_array_get(messages, r), cells[r + 1]);
    for (int c = 0; c < LIST_COLS; c++) {
        width[c] = 0;
        for (size_t r = 0; r <= n; r++)
            width[c] = strlen(cells[r][c]) > width[c] ? strlen(cells[r][c]) : width[c];
    }
    for (size_t r = 0; n > 0 && r <= n; r++)
        for (int c = 0; c < LIST_COLS; c++)
            printf(c < LIST_COLS - 1 ? "%-*s  " : "%-*s\n", c < LIST_COLS - 1 ? (int)width[c] : 0,
                   cells[r][c]);
    if (n == 0)
        printf("(no DLQ messages)\n");
    if (json_is_integer(next))
        printf("(more: --after %lld)\n", (long long)json_integer_value(next));
    free(cells);
    json_decref(page);
    return DF_EXIT_OK;
}

/* ---- show ---- */

static int cmd_show(dlq_cli_t *cli, char **args, int nargs)
{
    int64_t id = id_arg(cli, args[0]);
    json_t *m, *headers, *v;
    const char *name;
    df_error_t err;

    (void)nargs;
    if (!id)
        return DF_EXIT_USAGE;
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    df_error_init(&err);
    if (df_dlq_get(cli->pg, id, &m, &err))
        return store_fail(cli, &err, DF_EXIT_USAGE);
    if (cli->cfg.json)
        return print_json(m);
    printf("id:          %lld\n", (long long)id);
    printf("state:       %s", str(m, "state", "-"));
    if (json_is_string(json_object_get(m, "requeued_as")))
        printf(" (as task %s, %s)", str(m, "requeued_as", ""), str(m, "requeued_at", "not yet"));
    if (json_is_string(json_object_get(m, "purged_at")))
        printf(" (%s)", str(m, "purged_at", ""));
    printf("\nreason:      %s\n", str(m, "reason", "-"));
    printf("error:       %s\n", str(m, "error", "-"));
    printf("worker:      %s\n", str(m, "worker", "-"));
    printf("task:        %s\n", str(m, "task_id", "-"));
    printf("key:         %s\n", str(m, "key", "-"));
    printf("where:       %s [%lld] offset %lld\n", str(m, "topic", "?"),
           (long long)json_integer_value(json_object_get(m, "partition")),
           (long long)json_integer_value(json_object_get(m, "offset")));
    printf("produced:    %s\n", str(m, "produced_at", "-"));
    printf("received:    %s\n", str(m, "received_at", "-"));
    headers = json_object_get(m, "headers");
    printf("headers:%s\n", json_object_size(headers) ? "" : "     (none)");
    json_object_foreach(headers, name, v)
    {
        printf("  %s: %s\n", name, json_is_string(v) ? json_string_value(v) : "(null)");
    }
    printf("payload:     %lld bytes%s%s\n",
           (long long)json_integer_value(json_object_get(m, "payload_bytes")),
           strcmp(str(m, "payload_encoding", "text"), "base64") == 0 ? ", shown as base64" : "",
           json_is_true(json_object_get(m, "payload_truncated")) ? ", cut to the first 1 MiB" : "");
    printf("%s\n", str(m, "payload", ""));
    json_decref(m);
    return DF_EXIT_OK;
}

/* ---- requeue ---- */

static int cmd_requeue(dlq_cli_t *cli, char **args, int nargs)
{
    const dlq_cli_config_t *cfg = &cli->cfg;
    int64_t id = id_arg(cli, args[0]);
    df_submit_config_t kafka = {
        .brokers = cfg->common.kafka_brokers,
        .topic_prefix = cfg->common.topic_prefix,
        .partitions = (int)cfg->common.partitions,
        .ensure_topics = true,
        .submitted_by = "datafleet-scheduler dlq",
        .source = "datafleet-scheduler",
    };
    json_t *done;
    df_error_t err;

    (void)nargs;
    if (!id)
        return DF_EXIT_USAGE;
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    df_error_init(&err);
    if (df_dlq_requeue(cli->pg, &kafka, id, "datafleet-scheduler dlq", (int)cfg->timeout_ms, &done,
                       &err))
        return store_fail(cli, &err, EXIT_NOT_TASK);
    if (cfg->json)
        return print_json(done);
    printf("DLQ message %lld requeued: task %s is published as %s\n", (long long)id,
           str(done, "task_id", "?"), str(done, "requeued_as", "?"));
    json_decref(done);
    return DF_EXIT_OK;
}

/* ---- purge ---- */

static int cmd_purge(dlq_cli_t *cli, char **args, int nargs)
{
    const dlq_cli_config_t *cfg = &cli->cfg;
    df_dlq_filter_t filter = { .state = cfg->state, .task_id = cfg->task_id };
    bool filtered = cfg->before || cfg->state || cfg->task_id;
    int64_t id = 0;
    long long purged = 0;
    df_error_t err;

    if (nargs == 1 && (filtered || cfg->all))
        return fail(cli, DF_EXIT_USAGE, "give either an ID or --before/--all, not both");
    if (nargs == 0 && !cfg->before && !cfg->all)
        return fail(cli, DF_EXIT_USAGE,
                    "expected an ID, --before TIME or --all (nothing is purged by default)");
    if (nargs == 1 && !(id = id_arg(cli, args[0])))
        return DF_EXIT_USAGE;
    if (filter.state && strcmp(filter.state, "any") == 0)
        filter.state = NULL;
    if (cfg->before && (filter.before_ms = time_arg(cli, "before", cfg->before)) < 0)
        return DF_EXIT_USAGE;
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    df_error_init(&err);
    if (df_dlq_purge(cli->pg, id, id || !filtered ? NULL : &filter, &purged, &err))
        return store_fail(cli, &err, DF_EXIT_USAGE);
    if (id)
        printf(purged ? "DLQ message %lld purged\n" : "DLQ message %lld was purged already\n",
               (long long)id);
    else
        printf("%lld DLQ messages purged\n", purged);
    return DF_EXIT_OK;
}

/* ---- dispatch ---- */

static const command_t commands[] = {
    { "list", 0, 0, cmd_list,
      PROGRAM("list", "[OPTIONS]",
              "List the DLQ messages the recorder kept, oldest first, a page at a time.",
              "Times are UTC. A message whose payload is not JSON has no TASK. The last line\n"
              "says how to get the next page (--after ID).\n",
              list_options) },
    { "show", 1, 1, cmd_show,
      PROGRAM("show", "ID [OPTIONS]",
              "Show one DLQ message in full: why it is there, its headers and payload.",
              "A payload that is not UTF-8 text is shown as base64.\n", show_options) },
    { "requeue", 1, 1, cmd_requeue,
      PROGRAM("requeue", "ID [OPTIONS]", "Publish the task of a DLQ message again, as a new task.",
              "The new task is the old one with a new task_id, attempt 1, submitted now,\n"
              "and the label requeued_from=<old task id>; a passed deadline, a pending\n"
              "poll and its pipeline reference are left out. It goes to its type's task\n"
              "topic and must be acknowledged by Kafka; the message is then marked\n"
              "requeued. A message whose payload is not a valid task cannot be requeued\n"
              "(exit 5, saying why).\n",
              requeue_options) },
    { "purge", 0, 1, cmd_purge,
      PROGRAM("purge", "(ID | --before TIME | --all) [OPTIONS]",
              "Purge DLQ messages: drop their payload and headers, keep the row as purged.",
              "The row stays (state purged) so that reading the topic again does not bring\n"
              "the message back; its id, reason, error and task id remain. --state and\n"
              "--task-id narrow --before and --all.\n"
              "Examples:\n"
              "  datafleet-scheduler dlq purge 42\n"
              "  datafleet-scheduler dlq purge --before 168h\n"
              "  datafleet-scheduler dlq purge --all --state requeued\n",
              purge_options) },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const df_program_t overview = {
    .name = "datafleet-scheduler dlq",
    .summary = "Browse, requeue and purge the dead letters (the DLQ topic as the recorder keeps "
               "it in PostgreSQL).",
    .usage = "COMMAND [ARGS] [OPTIONS]",
    .details = "Commands (each has --help):\n"
               "  list                          the messages, a page at a time (--json)\n"
               "  show ID                       one message in full (--json)\n"
               "  requeue ID                    publish its task again as a new task\n"
               "  purge ID | --before TIME | --all   drop payloads, keep the rows\n",
    .options = overview_options,
    .n_options = sizeof(overview_options) / sizeof(overview_options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

int df_cmd_dlq(int argc, char **argv)
{
    const command_t *cmd = NULL;
    dlq_cli_t cli;
    df_args_t args;
    df_parse_result_t parsed;
    int rc;

    for (size_t i = 0; argc > 1 && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            cmd = &commands[i];
    if (!cmd)
        return df_cli_overview(&overview, "list, show, requeue, purge", argc, argv);
    memset(&cli, 0, sizeof(cli));
    cli.program = &cmd->program;
    parsed = df_config_parse(&cmd->program, &cli.cfg, argc - 1, argv + 1, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (args.count < cmd->min_args || args.count > cmd->max_args) {
        rc = fail(&cli, DF_EXIT_USAGE, "expected %s",
                  cmd->max_args == 0   ? "no arguments"
                  : cmd->min_args == 1 ? "one message ID"
                                       : "at most one message ID");
    } else {
        df_cli_log_init(&cli.cfg.common);
        rc = cmd->run(&cli, args.values, args.count);
    }
    df_pg_destroy(cli.pg);
    df_config_free(&cmd->program, &cli.cfg);
    df_args_free(&args);
    return rc;
}
