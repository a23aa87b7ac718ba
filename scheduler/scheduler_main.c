/* datafleet-scheduler: the control plane. Commands:
 *   run        run the roles (cron and recorder by default)
 *   migrate    apply the PostgreSQL migrations and exit
 *   cron, schedules, pipelines, tokens, dlq, workers, connectors, keys
 *              tools with options of their own (commands.h); they must
 *              come first on the command line */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "df_log.h"
#include "df_metrics.h"
#include "df_program.h"
#include "df_ready.h"
#include "commands.h"
#include "scheduler.h"

static const df_option_t options[] = {
    DF_COMMON_OPTIONS(df_scheduler_config_t),
    { "roles", "DATAFLEET_ROLES", DF_OPT_STRING, "cron,recorder", 0, 0, NULL,
      "roles this process runs, comma-separated (cron, recorder, api)",
      offsetof(df_scheduler_config_t, roles), 0 },
    { "migrations-dir", "DATAFLEET_MIGRATIONS_DIR", DF_OPT_STRING, NULL, 0, 0, NULL,
      "folder of NNN_name.sql migrations (default: the installed schemas/sql)",
      offsetof(df_scheduler_config_t, migrations_dir), 0 },
    { "group", "DATAFLEET_RECORDER_GROUP", DF_OPT_STRING, "datafleet-recorder", 0, 0, NULL,
      "consumer group of the recorder role", offsetof(df_scheduler_config_t, recorder_group), 0 },
    { "batch-size", "DATAFLEET_RECORDER_BATCH", DF_OPT_INT, "500", 1, 100000, NULL,
      "events written to PostgreSQL per transaction by the recorder",
      offsetof(df_scheduler_config_t, batch_size), 0 },
    { "batch-wait", "DATAFLEET_RECORDER_BATCH_WAIT", DF_OPT_DURATION, "100ms", 1, 60000, NULL,
      "longest wait to fill a recorder batch", offsetof(df_scheduler_config_t, batch_wait_ms), 0 },
    { "leader-poll", "DATAFLEET_LEADER_POLL", DF_OPT_DURATION, "1s", 50, 60000, NULL,
      "how often a standby scheduler tries to become the cron leader",
      offsetof(df_scheduler_config_t, leader_poll_ms), 0 },
    { "tick", "DATAFLEET_CRON_TICK", DF_OPT_DURATION, "250ms", 10, 10000, NULL,
      "longest sleep of the cron leader between looks at what is due",
      offsetof(df_scheduler_config_t, tick_ms), 0 },
    { "publish-batch", "DATAFLEET_PUBLISH_BATCH", DF_OPT_INT, "10000", 1, 100000, NULL,
      "tasks the cron leader publishes per Kafka flush",
      offsetof(df_scheduler_config_t, publish_batch), 0 },
    { "reconcile-every", "DATAFLEET_RECONCILE_EVERY", DF_OPT_DURATION, "30s", 100, 3600000, NULL,
      "how often the reconciler looks for tasks nobody is running",
      offsetof(df_scheduler_config_t, reconcile_every_ms), 0 },
    { "stuck-queued", "DATAFLEET_STUCK_QUEUED", DF_OPT_DURATION, "15m", 1000, 604800000, NULL,
      "a task queued this long without a worker taking it is published again",
      offsetof(df_scheduler_config_t, stuck_queued_ms), 0 },
    { "stuck-running", "DATAFLEET_STUCK_RUNNING", DF_OPT_DURATION, "2m", 1000, 604800000, NULL,
      "a running task with no lease and no event for this long is taken as lost",
      offsetof(df_scheduler_config_t, stuck_running_ms), 0 },
    { "misfire-grace", "DATAFLEET_MISFIRE_GRACE", DF_OPT_DURATION, "5s", 100, 3600000, NULL,
      "a schedule's slot not fired within this long of its time is missed: its misfire policy "
      "decides whether it fires",
      offsetof(df_scheduler_config_t, misfire_grace_ms), 0 },
    { "api-listen", "DATAFLEET_API_LISTEN", DF_OPT_STRING, "127.0.0.1:8470", 0, 0, NULL,
      "address of the api role's REST API and status page, host:port (127.0.0.1: this host "
      "only)",
      offsetof(df_scheduler_config_t, api_listen), 0 },
    { "tls-cert", "DATAFLEET_TLS_CERT", DF_OPT_STRING, NULL, 0, 0, NULL,
      "PEM certificate (chain) file: the api role serves HTTPS (with --tls-key)",
      offsetof(df_scheduler_config_t, tls_cert), 0 },
    { "tls-key", "DATAFLEET_TLS_KEY", DF_OPT_STRING, NULL, 0, 0, NULL,
      "PEM private key file of --tls-cert", offsetof(df_scheduler_config_t, tls_key), 0 },
    { "api-body-limit", "DATAFLEET_API_BODY_LIMIT", DF_OPT_INT, "1048576", 1024, 67108864, NULL,
      "largest request body the API reads, in bytes (larger: 413)",
      offsetof(df_scheduler_config_t, api_body_limit), 0 },
    { "api-rate", "DATAFLEET_API_RATE", DF_OPT_INT, "20", 1, 100000, NULL,
      "requests per second each API token may make on average (more: 429 with Retry-After)",
      offsetof(df_scheduler_config_t, api_rate), 0 },
    { "api-burst", "DATAFLEET_API_BURST", DF_OPT_INT, "100", 1, 100000, NULL,
      "requests an API token may make at once above --api-rate",
      offsetof(df_scheduler_config_t, api_burst), 0 },
    { "api-threads", "DATAFLEET_API_THREADS", DF_OPT_INT, "4", 1, 64, NULL,
      "threads serving API requests", offsetof(df_scheduler_config_t, api_threads), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "stopped cleanly, or the command succeeded" },
    { DF_EXIT_FAILURE, "a dependency failed (Kafka, Redis or PostgreSQL) or a migration failed" },
    { DF_EXIT_USAGE, "bad option, value or command" },
};

static const df_program_t program = {
    .name = "datafleet-scheduler",
    .summary = "The datafleet control plane: schedules, delayed retries, pipelines, the event\n"
               "recorder (events -> PostgreSQL history) and the REST API.",
    .usage = "[OPTIONS] [COMMAND]",
    .details = "Commands:\n"
               "  run        run the roles given by --roles (the default command)\n"
               "  migrate    apply pending PostgreSQL migrations and exit\n"
               "  cron next EXPR [--tz ZONE] [--from TIME] [--count N]\n"
               "             print an expression's next fire times\n"
               "  schedules list|add|show|pause|resume|delete|trigger ...\n"
               "  pipelines add|list|run|show|runs|rerun|enable|disable ...\n"
               "  tokens create|list|revoke ...   the REST API's bearer tokens\n"
               "  dlq list|show|requeue|purge ...   the dead letters (docs/DLQ.md)\n"
               "  workers    the workers and their heartbeats\n"
               "  connectors list|show|apply|delete ...\n"
               "             the connector registry (docs/CONNECTORS.md)\n"
               "  keys generate|rotate\n"
               "             the keys connector secrets are sealed with\n"
               "The commands other than run and migrate come first on the command line\n"
               "and take their own options (datafleet-scheduler schedules --help).\n",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

int main(int argc, char **argv)
{
    df_scheduler_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    const char *command;
    int rc;

    if (argc > 1 && strcmp(argv[1], "cron") == 0)
        return df_cmd_cron(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "schedules") == 0)
        return df_cmd_schedules(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "pipelines") == 0)
        return df_cmd_pipelines(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "tokens") == 0)
        return df_cmd_tokens(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "dlq") == 0)
        return df_cmd_dlq(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "workers") == 0)
        return df_cmd_workers(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "connectors") == 0)
        return df_cmd_connectors(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "keys") == 0)
        return df_cmd_keys(argc - 1, argv + 1);
    memset(&cfg, 0, sizeof(cfg));
    parsed = df_program_start(&program, &cfg, &cfg.common, "scheduler", argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        df_config_free(&program, &cfg);
        df_args_free(&args);
        return parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    }
    command = args.count > 0 ? args.values[0] : "run";
    if (strcmp(command, "migrate") == 0 && args.count == 1) {
        rc = df_scheduler_migrate(&cfg);
    } else if (strcmp(command, "run") == 0 && args.count <= 1) {
        /* /readyz: Kafka, Redis and PostgreSQL answer. */
        static df_ready_needs_t needs;
        needs = (df_ready_needs_t){
            .common = &cfg.common, .kafka = true, .redis = true, .postgres = true
        };
        df_program_handle_signals();
        if (df_program_serve_metrics(&program, &cfg.common)) {
            df_metrics_set_ready(df_ready_check, &needs);
            rc = df_scheduler_run(&cfg);
        } else {
            rc = DF_EXIT_FAILURE;
        }
        df_metrics_stop();
    } else {
        fprintf(stderr, "%s: unknown command or extra arguments: \"%s\"\n", program.name, command);
        fprintf(stderr, "Try '%s --help' for more information.\n", program.name);
        rc = DF_EXIT_USAGE;
    }
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
