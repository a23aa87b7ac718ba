/* df_kafka_producer: the idempotent Kafka producer every datafleet program
 * sends tasks, events and DLQ messages with (enable.idempotence=true,
 * acks=all, a short linger, lz4 batches, no topic auto-creation), and the
 * plumbing that hands each message's delivery report back to the caller.
 *
 * Threads: send and poll may be called from any thread (librdkafka's
 * producer is thread-safe); delivery reports run on whichever thread calls
 * df_kafka_producer_poll / _flush / _send (when the queue is full) /
 * _destroy. */
#ifndef DF_KAFKA_PRODUCER_H
#define DF_KAFKA_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_kafka.h"

/* How long _send waits for room when librdkafka's queue is full, and how
 * long _destroy flushes before purging what is left. */
#define DF_KAFKA_PRODUCER_BLOCK_MS 5000
#define DF_KAFKA_PRODUCER_CLOSE_MS 10000

typedef struct df_kafka_producer df_kafka_producer_t;

/* Delivery report, once per message sent. opaque: the hook opaque given to
 * _new. msg: borrowed, valid during the call only (topic through
 * rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset, msg->key).
 * msg_opaque: what _send got. err: NULL when the broker acknowledged the
 * message (acks=all), else the failure (borrowed). Must not destroy the
 * producer. */
typedef void (*df_kafka_delivery_fn)(void *opaque, const rd_kafka_message_t *msg, void *msg_opaque,
                                     const df_error_t *err);

typedef struct df_kafka_producer_stats {
    uint64_t sent;      /* accepted by _send */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* delivery failed (after librdkafka's own retries) */
} df_kafka_producer_stats_t;

/* A producer for cfg (copied; brokers, client id and extra properties are
 * used; extra properties are applied last and can override the defaults).
 * on_delivery may be NULL. Returns NULL with err set on a bad property or
 * when librdkafka cannot create the handle. Caller destroys. Connecting is
 * lazy: use df_kafka_ready to wait for the cluster. */
df_kafka_producer_t *df_kafka_producer_new(const df_kafka_config_t *cfg,
                                           df_kafka_delivery_fn on_delivery, void *opaque,
                                           df_error_t *err);

/* Flush for up to DF_KAFKA_PRODUCER_CLOSE_MS, purge what is still queued
 * (those messages get failed delivery reports), then free. NULL is a
 * no-op. */
void df_kafka_producer_destroy(df_kafka_producer_t *producer);

/* The librdkafka handle (borrowed, lives as long as the producer): for
 * df_kafka_topic_create, df_kafka_ready and metadata. */
rd_kafka_t *df_kafka_producer_handle(df_kafka_producer_t *producer);

/* Queue one message. key may be NULL (key_len 0); key and value are
 * copied. headers: ownership is always taken (freed even on failure); NULL
 * for none. msg_opaque comes back in the delivery report. When the local
 * queue is full, serves delivery reports and waits up to
 * DF_KAFKA_PRODUCER_BLOCK_MS for room before failing (retryable).
 * DF_ERR_KAFKA on failure; after a fatal idempotence error the message says
 * so and the producer must be destroyed and recreated. */
df_code_t df_kafka_producer_send(df_kafka_producer_t *producer, const char *topic, const void *key,
                                 size_t key_len, const void *value, size_t value_len,
                                 rd_kafka_headers_t *headers, void *msg_opaque, df_error_t *err);

/* Serve delivery reports, waiting up to timeout_ms for the first one.
 * Returns the number of events served. */
int df_kafka_producer_poll(df_kafka_producer_t *producer, int timeout_ms);

/* Wait until every queued message has a delivery report (served on this
 * thread). DF_ERR_TIMEOUT (retryable) when some are still outstanding after
 * timeout_ms. */
df_code_t df_kafka_producer_flush(df_kafka_producer_t *producer, int timeout_ms, df_error_t *err);

/* Messages queued or in flight without a delivery report yet. */
int df_kafka_producer_outstanding(df_kafka_producer_t *producer);

/* True when librdkafka raised a fatal error (the idempotent producer can no
 * longer guarantee ordering or exactly-once per partition): err gets its
 * text. The producer must then be destroyed and recreated. */
bool df_kafka_producer_fatal(df_kafka_producer_t *producer, df_error_t *err);

/* Counters since _new (thread-safe snapshot). */
void df_kafka_producer_stats(df_kafka_producer_t *producer, df_kafka_producer_stats_t *out);

#endif
