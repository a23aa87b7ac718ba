/* datafleet-worker: consumes tasks from Kafka and runs them. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "df_metrics.h"
#include "df_program.h"
#include "df_ready.h"
#include "worker.h"

static const df_option_t options[] = {
    DF_COMMON_OPTIONS(df_worker_config_t),
    { "types", "DATAFLEET_TYPES", DF_OPT_STRING, "export,refresh,lineage", 0, 0, NULL,
      "task topics to consume, comma-separated: export, refresh, lineage",
      offsetof(df_worker_config_t, types), 0 },
    { "group", "DATAFLEET_GROUP", DF_OPT_STRING, "datafleet-workers", 0, 0, NULL,
      "consumer group prefix shared by the fleet's workers: each task topic is consumed by group "
      "GROUP.TYPE (e.g. datafleet-workers.export), so each topic is balanced on its own",
      offsetof(df_worker_config_t, group), 0 },
    { "worker-id", "DATAFLEET_WORKER_ID", DF_OPT_STRING, NULL, 0, 0, NULL,
      "this worker's id in logs, leases and heartbeats (default: host-pid)",
      offsetof(df_worker_config_t, worker_id), 0 },
    { "concurrency", "DATAFLEET_CONCURRENCY", DF_OPT_INT, "16", 1, 4096, NULL,
      "tasks in flight at once", offsetof(df_worker_config_t, concurrency), 0 },
    { "grace", "DATAFLEET_GRACE", DF_OPT_DURATION, "30s", 0, 3600000, NULL,
      "on SIGTERM, time given to in-flight tasks before they are handed back",
      offsetof(df_worker_config_t, grace_ms), 0 },
    { "lease-ttl", "DATAFLEET_LEASE_TTL", DF_OPT_DURATION, "30s", 1000, 3600000, NULL,
      "lifetime of a task lease; renewed by heartbeat", offsetof(df_worker_config_t, lease_ttl_ms),
      0 },
    { "heartbeat", "DATAFLEET_HEARTBEAT", DF_OPT_DURATION, "5s", 100, 600000, NULL,
      "interval of lease renewal and worker heartbeats", offsetof(df_worker_config_t, heartbeat_ms),
      0 },
    { "max-takeovers", "DATAFLEET_MAX_TAKEOVERS", DF_OPT_INT, "3", 1, 100, NULL,
      "a task whose lease was taken over this many times (it crashed its workers) is quarantined",
      offsetof(df_worker_config_t, max_takeovers), 0 },
    { "max-attempts", "DATAFLEET_MAX_ATTEMPTS", DF_OPT_INT, "3", 1, 100, NULL,
      "attempts for tasks that do not set max_attempts", offsetof(df_worker_config_t, max_attempts),
      0 },
    { "inline-retry-max", "DATAFLEET_INLINE_RETRY_MAX", DF_OPT_DURATION, "2s", 0, 600000, NULL,
      "retries due sooner than this run in place; later ones go back to the scheduler",
      offsetof(df_worker_config_t, inline_retry_max_ms), 0 },
    { "max-message-bytes", "DATAFLEET_MAX_MESSAGE_BYTES", DF_OPT_INT, "1048576", 1024, 67108864,
      NULL, "task messages larger than this go to the DLQ",
      offsetof(df_worker_config_t, max_message_bytes), 0 },
    { "kafka-props", "DATAFLEET_KAFKA_PROPS", DF_OPT_STRING, NULL, 0, 0, NULL,
      "extra librdkafka properties, key=value;key=value", offsetof(df_worker_config_t, kafka_props),
      0 },
    { "connectors", "DATAFLEET_CONNECTORS", DF_OPT_STRING, NULL, 0, 0, NULL,
      "connectors file (JSON, schemas/connector.v1.schema.json; secrets inline or {\"env\"} / "
      "{\"file\"} references)",
      offsetof(df_worker_config_t, connectors_file), 0 },
    { "registry-poll", "DATAFLEET_REGISTRY_POLL", DF_OPT_DURATION, "2s", 0, 3600000, NULL,
      "how often the connector registry in PostgreSQL (--database-url) is checked for changes; "
      "0 turns it off (connectors then come from --connectors only). A --connectors entry wins "
      "over a registered connector of the same name",
      offsetof(df_worker_config_t, registry_poll_ms), 0 },
    { "openlineage-url", "DATAFLEET_OPENLINEAGE_URL", DF_OPT_STRING, NULL, 0, 0, NULL,
      "send OpenLineage run events (START, COMPLETE, FAIL, ABORT) of every task to this "
      "endpoint, e.g. http://marquez:5000/api/v1/lineage (docs/LINEAGE.md); off when unset",
      offsetof(df_worker_config_t, openlineage_url), 0 },
    { "openlineage-token", "DATAFLEET_OPENLINEAGE_TOKEN", DF_OPT_STRING, NULL, 0, 0, NULL,
      "bearer token of the OpenLineage endpoint", offsetof(df_worker_config_t, openlineage_token),
      DF_OPT_SECRET },
    { "openlineage-buffer", "DATAFLEET_OPENLINEAGE_BUFFER", DF_OPT_INT, "10000", 1, 10000000, NULL,
      "OpenLineage events held while the endpoint cannot take them (the oldest is dropped "
      "beyond)",
      offsetof(df_worker_config_t, openlineage_buffer), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "stopped cleanly after SIGTERM/SIGINT" },
    { DF_EXIT_FAILURE, "could not start or lost a dependency for good" },
    { DF_EXIT_USAGE, "bad option or value" },
};

static const df_program_t program = {
    .name = "datafleet-worker",
    .summary = "Consume datafleet tasks from Kafka and run them against the platforms.",
    .usage = "[OPTIONS]",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

int main(int argc, char **argv)
{
    df_worker_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_program_start(&program, &cfg, &cfg.common, "worker", argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (args.count > 0) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", program.name, args.values[0]);
        fprintf(stderr, "Try '%s --help' for more information.\n", program.name);
        rc = DF_EXIT_USAGE;
    } else if (!df_program_serve_metrics(&program, &cfg.common)) {
        rc = DF_EXIT_FAILURE;
    } else {
        /* /readyz: Kafka and Redis answer (PostgreSQL only serves sources). */
        static df_ready_needs_t needs;
        needs = (df_ready_needs_t){ .common = &cfg.common, .kafka = true, .redis = true };
        df_metrics_set_ready(df_ready_check, &needs);
        df_program_handle_signals();
        rc = df_worker_run(&cfg);
        df_metrics_stop();
    }
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
