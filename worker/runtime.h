/* runtime: the state one datafleet-worker process shares between its
 * consumer loop (worker.c), its runner threads (runner.c) and its
 * heartbeat thread (heartbeat.c). */
#ifndef DF_RUNTIME_H
#define DF_RUNTIME_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "df_kafka.h"
#include "df_kafka_consumer.h"
#include "df_kafka_producer.h"
#include "dispatch.h"
#include "worker.h"

#define DF_TASK_KEEP_S (3 * 24 * 3600) /* df:task:{id} lives this long after the end */

typedef struct df_runtime {
    const df_worker_config_t *cfg;
    char worker_id[128];
    df_kafka_config_t kcfg;
    df_kafka_consumer_t *consumers[3]; /* one per task topic consumed */
    char consumer_topics[3][DF_KAFKA_TOPIC_MAX];
    size_t nconsumers;
    int wake_fd[2]; /* librdkafka queues write here when they turn non-empty */
    df_kafka_producer_t *producer;
    df_dispatch_t *dispatch;
    char events_topic[DF_KAFKA_TOPIC_MAX];
    char dlq_topic[DF_KAFKA_TOPIC_MAX];
    int runners_exit;   /* atomic: runner threads return when set */
    int heartbeat_exit; /* atomic */
    int64_t started_ms;
    struct df_secret_keyring *keyring;      /* DATAFLEET_SECRET_KEY; NULL when unset */
    struct df_registry_sync *registry_sync; /* NULL when --registry-poll is 0 */
    struct df_openlineage *openlineage;     /* NULL without --openlineage-url */
    /* counters (atomic) */
    long long tasks_started, tasks_succeeded, tasks_failed, tasks_dlq;
} df_runtime_t;

/* Runner thread body: arg is the df_runtime_t. */
void *df_runner_main(void *arg);
/* Heartbeat thread body: lease renewal, cancel flags, worker liveness. */
void *df_heartbeat_main(void *arg);

/* Produce a JSON document to topic keyed by key, with the `schema` header
 * and the traceparent of the task message (may be NULL). slot (may be
 * NULL) is marked done when the broker has it. On failure to queue, the
 * slot is left not done (the task comes back after a restart) and an
 * error is logged. Returns DF_OK when queued. */
df_code_t df_runtime_send(df_runtime_t *rt, const char *topic, const char *key, json_t *doc,
                          const char *schema, const char *traceparent, df_slot_t *slot);

#endif
