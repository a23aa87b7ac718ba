/* df_kafka: what producers and consumers share: the Kafka settings of a
 * program (brokers, topic prefix, partition count, extra librdkafka
 * properties), the topic names of DESIGN.md, librdkafka errors turned into
 * df_error_t, the `schema` / `traceparent` message headers, topic creation
 * through the Admin API and a metadata readiness check.
 *
 * The producer lives in df_kafka_producer.h, the consumer in
 * df_kafka_consumer.h. librdkafka's handle and message types are part of
 * this API (the worker needs them); its error types are not: every failure
 * comes back as DF_ERR_KAFKA (or DF_ERR_TIMEOUT / DF_ERR_INVALID) with
 * librdkafka's own text kept in the message. */
#ifndef DF_KAFKA_H
#define DF_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"

#define DF_KAFKA_PREFIX_DEFAULT     "datafleet."
#define DF_KAFKA_PARTITIONS_DEFAULT 12
#define DF_KAFKA_BROKERS_MAX        1024
#define DF_KAFKA_PREFIX_MAX         96
#define DF_KAFKA_CLIENT_ID_MAX      128
#define DF_KAFKA_TOPIC_MAX          250 /* Kafka's own limit is 249 characters */
#define DF_KAFKA_PROPS_MAX          32
#define DF_KAFKA_PROP_KEY_MAX       128
#define DF_KAFKA_PROP_VALUE_MAX     1024
/* max.message.bytes of the topics datafleet creates (4 MiB), and the
 * producers' message.max.bytes (room for the DLQ copy of such a message). */
#define DF_KAFKA_TOPIC_MAX_MESSAGE_BYTES    "4194304"
#define DF_KAFKA_PRODUCER_MAX_MESSAGE_BYTES "5242880"

/* The message headers every datafleet message carries. */
#define DF_KAFKA_HEADER_SCHEMA      "schema"
#define DF_KAFKA_HEADER_TRACEPARENT "traceparent"

/* The topics of DESIGN.md, named prefix + suffix. */
typedef enum df_kafka_topic {
    DF_KAFKA_TOPIC_TASKS_EXPORT = 0,
    DF_KAFKA_TOPIC_TASKS_REFRESH = 1,
    DF_KAFKA_TOPIC_TASKS_LINEAGE = 2,
    DF_KAFKA_TOPIC_EVENTS = 3,
    DF_KAFKA_TOPIC_DLQ = 4,
} df_kafka_topic_t;
#define DF_KAFKA_TOPIC_COUNT 5

/* One extra librdkafka property, applied after datafleet's own defaults
 * (so it overrides them). */
typedef struct df_kafka_prop {
    char key[DF_KAFKA_PROP_KEY_MAX];
    char value[DF_KAFKA_PROP_VALUE_MAX];
} df_kafka_prop_t;

/* A program's Kafka settings: plain data, fill it with df_kafka_config_init
 * and then set fields. Copied by the _new functions that take it. */
typedef struct df_kafka_config {
    char brokers[DF_KAFKA_BROKERS_MAX]; /* bootstrap.servers, "host:port,..." */
    char prefix[DF_KAFKA_PREFIX_MAX];   /* topic prefix, "datafleet." */
    char client_id[DF_KAFKA_CLIENT_ID_MAX];
    int partitions;         /* for topics created at start-up */
    int replication_factor; /* -1: the broker's default */
    df_kafka_prop_t props[DF_KAFKA_PROPS_MAX];
    size_t nprops;
} df_kafka_config_t;

/* Defaults: brokers "127.0.0.1:9092", prefix DF_KAFKA_PREFIX_DEFAULT,
 * client_id "datafleet", DF_KAFKA_PARTITIONS_DEFAULT partitions,
 * replication factor -1, no extra properties. Cannot fail. */
void df_kafka_config_init(df_kafka_config_t *cfg);

/* Add one extra property from "key=value" (surrounding blanks trimmed; the
 * value may contain '=' and ','). A later property with the same key
 * replaces the earlier one. DF_ERR_INVALID when malformed, too long or the
 * table is full. The value is never echoed in errors (it may be a
 * password); sensitive values are registered with df_log_redact_add. */
df_code_t df_kafka_config_add_prop(df_kafka_config_t *cfg, const char *key_value, df_error_t *err);

/* Add a list of "key=value" properties separated by ';' or newlines
 * (',' is not a separator: librdkafka values such as debug contexts and
 * broker lists contain commas). Empty items and lines starting with '#'
 * are skipped. Stops at the first bad item. */
df_code_t df_kafka_config_add_props(df_kafka_config_t *cfg, const char *list, df_error_t *err);

/* Check prefix and partitions are usable (Kafka topic characters, length,
 * 1..10000 partitions). */
df_code_t df_kafka_config_check(const df_kafka_config_t *cfg, df_error_t *err);

/* The suffix of a topic, e.g. "tasks.export". Static; NULL for an unknown
 * value. */
const char *df_kafka_topic_suffix(df_kafka_topic_t topic);

/* Write prefix + suffix into buf (size len). DF_ERR_INVALID when it does not
 * fit or the topic is unknown. */
df_code_t df_kafka_topic_name(const df_kafka_config_t *cfg, df_kafka_topic_t topic, char *buf,
                              size_t len, df_error_t *err);

/* The task topic of a task type: "export", "refresh", "lineage". "probe"
 * tasks are sent to the refresh topic (they are short control calls).
 * Returns false for anything else. */
bool df_kafka_topic_for_task_type(const char *type, df_kafka_topic_t *out);

/* A librdkafka configuration with bootstrap.servers and client.id from cfg,
 * then `defaults` (NULL-terminated key, value, key, value, ... array; may be
 * NULL), then cfg's extra properties, and librdkafka's log lines routed to
 * df_log. Caller owns the result (rd_kafka_conf_destroy, or pass it to
 * rd_kafka_new which takes it on success). NULL and err set on a bad
 * property. */
rd_kafka_conf_t *df_kafka_conf_new(const df_kafka_config_t *cfg, const char *const *defaults,
                                   df_error_t *err);

/* librdkafka errors -> df_error_t. `call` names what failed (goes to
 * err->field and prefixes the message). The message is librdkafka's text
 * and code name; retryable is set for transient conditions (connection,
 * leader change, timeouts, full queue, coordinator moves). Returns
 * DF_ERR_KAFKA, or DF_OK when code is RD_KAFKA_RESP_ERR_NO_ERROR (err
 * untouched). */
df_code_t df_kafka_error_from_code(df_error_t *err, rd_kafka_resp_err_t code, const char *call);

/* Same from an rd_kafka_error_t, using rd_kafka_error_is_retriable (and
 * never retryable when fatal). Takes ownership of kerror (destroys it).
 * DF_OK when kerror is NULL. */
df_code_t df_kafka_error_from(df_error_t *err, rd_kafka_error_t *kerror, const char *call);

/* Headers with `schema` and `traceparent` (either may be NULL to leave it
 * out). Caller owns the result: hand it to df_kafka_producer_send (which
 * takes it) or free with rd_kafka_headers_destroy. NULL only on allocation
 * failure. */
rd_kafka_headers_t *df_kafka_headers_new(const char *schema, const char *traceparent);

/* Copy the last header called name of msg into buf as a NUL-terminated
 * string. Returns false when missing, NULL-valued, containing a NUL byte or
 * longer than len - 1 (buf then holds ""). */
bool df_kafka_header_get(const rd_kafka_message_t *msg, const char *name, char *buf, size_t len);

/* Create one topic through the Admin API and wait (up to timeout_ms in all)
 * until the metadata of rk shows it with its partitions, so a producer
 * started next does not race the creation. A topic that already exists is
 * fine (DF_OK; *created, when not NULL, says which). replication_factor -1
 * means the broker's default. rk is borrowed (a producer or consumer
 * handle both work). */
df_code_t df_kafka_topic_create(rd_kafka_t *rk, const char *name, int partitions,
                                int replication_factor, int timeout_ms, bool *created,
                                df_error_t *err);

/* Delete a topic (tests clean up with it). A missing topic is DF_OK. */
df_code_t df_kafka_topic_delete(rd_kafka_t *rk, const char *name, int timeout_ms, df_error_t *err);

/* Make sure the five topics of cfg exist (creating the missing ones with
 * cfg->partitions partitions) and are visible in metadata. A topic that
 * already exists with a different partition count is logged as a warning,
 * not changed. */
df_code_t df_kafka_topics_ensure(rd_kafka_t *rk, const df_kafka_config_t *cfg, int timeout_ms,
                                 df_error_t *err);

/* Readiness: within timeout_ms, a broker answers a metadata request and,
 * when cfg is not NULL, the five topics of cfg exist with a leader for
 * every partition. DF_ERR_TIMEOUT (retryable, last Kafka error in the
 * message) when no broker answered in time, DF_ERR_NOT_FOUND naming the
 * first missing topic, DF_ERR_KAFKA for another metadata error. */
df_code_t df_kafka_ready(rd_kafka_t *rk, const df_kafka_config_t *cfg, int timeout_ms,
                         df_error_t *err);

/* Partition count of a topic from a metadata request: > 0, or 0 with
 * DF_ERR_NOT_FOUND set when the topic does not exist, or -1 on another
 * error. */
int df_kafka_topic_partitions(rd_kafka_t *rk, const char *name, int timeout_ms, df_error_t *err);

#endif
