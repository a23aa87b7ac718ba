/* worker: the datafleet-worker process: its configuration and entry point.
 * The consumer loop, the task runner and the connectors live beside it. */
#ifndef DF_WORKER_H
#define DF_WORKER_H

#include <stdint.h>

#include "df_config.h"

typedef struct df_worker_config {
    df_common_config_t common;
    char *types;
    char *group;
    char *worker_id;
    int64_t concurrency;
    int64_t grace_ms;
    int64_t lease_ttl_ms;
    int64_t heartbeat_ms;
    int64_t max_takeovers;
    int64_t max_attempts;
    int64_t inline_retry_max_ms;
    int64_t max_message_bytes;
    char *kafka_props;
    char *connectors_file;
    int64_t registry_poll_ms;
    /* OpenLineage (df_openlineage.h): off when url is NULL */
    char *openlineage_url;
    char *openlineage_token;
    int64_t openlineage_buffer;
} df_worker_config_t;

/* Run until SIGTERM/SIGINT (then drain within grace_ms). Returns an exit
 * code. */
int df_worker_run(const df_worker_config_t *cfg);

#endif
