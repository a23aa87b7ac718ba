/* df_kafka_consumer: a member of a Kafka consumer group as datafleet
 * workers use it: cooperative-sticky assignment (a rebalance moves only the
 * partitions that change owner), offsets stored by the caller only after a
 * task's outcome (enable.auto.offset.store=false) and committed
 * automatically (enable.auto.commit=true, every second, on revoke and on
 * close), auto.offset.reset=earliest, and a hook that tells the caller
 * which partitions it gained, gave up or lost.
 *
 * Threads: _poll (and so the rebalance hook) runs on one thread, the
 * polling thread. _store may be called from any thread. */
#ifndef DF_KAFKA_CONSUMER_H
#define DF_KAFKA_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_kafka.h"

#define DF_KAFKA_GROUP_MAX 256

typedef struct df_kafka_consumer df_kafka_consumer_t;

typedef enum df_kafka_rebalance {
    DF_KAFKA_ASSIGNED = 0, /* partitions added to this member (already assigned) */
    DF_KAFKA_REVOKED = 1,  /* partitions about to be taken away, cleanly: offsets
                              stored during the hook are committed before they go */
    DF_KAFKA_LOST = 2,     /* partitions taken away uncleanly (session timed out):
                              another member may already own them; nothing is
                              committed for them */
} df_kafka_rebalance_t;

/* Rebalance hook, run on the polling thread from inside _poll or _close.
 * partitions: borrowed, valid during the call (topic, partition). On
 * REVOKED it runs while the partitions are still assigned, so it can store
 * the final offsets of tasks that already have an outcome (the member
 * cannot store offsets for them afterwards). Must not call _poll, _close or
 * _destroy. */
typedef void (*df_kafka_rebalance_fn)(void *opaque, df_kafka_rebalance_t event,
                                      const rd_kafka_topic_partition_list_t *partitions);

/* A consumer in group_id (copied). cfg is copied; its extra properties are
 * applied last and can override the defaults above. on_rebalance may be
 * NULL. Returns NULL with err set on a bad property or group id. Caller
 * destroys. */
df_kafka_consumer_t *df_kafka_consumer_new(const df_kafka_config_t *cfg, const char *group_id,
                                           df_kafka_rebalance_fn on_rebalance, void *opaque,
                                           df_error_t *err);

/* Close (if not closed yet) and free. NULL is a no-op. */
void df_kafka_consumer_destroy(df_kafka_consumer_t *consumer);

/* The librdkafka handle (borrowed, lives as long as the consumer). */
rd_kafka_t *df_kafka_consumer_handle(df_kafka_consumer_t *consumer);

/* Subscribe to topics (names copied; replaces an earlier subscription). */
df_code_t df_kafka_consumer_subscribe(df_kafka_consumer_t *consumer, const char *const *topics,
                                      size_t ntopics, df_error_t *err);

/* Wait up to timeout_ms for the next message. Returns a message the caller
 * owns (rd_kafka_message_destroy) with msg->err == 0; or NULL with
 * err->code == DF_OK when nothing came; or NULL with err set when the
 * consumer reported an error (the error message was consumed; retryable
 * ones are transient, a fatal one means the consumer must be recreated).
 * err must not be NULL. */
rd_kafka_message_t *df_kafka_consumer_poll(df_kafka_consumer_t *consumer, int timeout_ms,
                                           df_error_t *err);

/* Store next_offset (the offset of the first message NOT yet finished,
 * i.e. last finished + 1) for topic/partition; the auto-commit sends it.
 * DF_ERR_CONFLICT when the partition is no longer assigned to this member
 * (revoked: another member owns it now, do not retry); DF_ERR_KAFKA
 * otherwise. */
df_code_t df_kafka_consumer_store(df_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset, df_error_t *err);

/* Store msg->offset + 1 for msg's partition (borrowed msg). */
df_code_t df_kafka_consumer_store_message(df_kafka_consumer_t *consumer,
                                          const rd_kafka_message_t *msg, df_error_t *err);

/* Commit the stored offsets now and wait for the broker's answer. Nothing
 * stored since the last commit is DF_OK. */
df_code_t df_kafka_consumer_commit(df_kafka_consumer_t *consumer, df_error_t *err);

/* Leave the group: runs the REVOKED hook for the current assignment,
 * commits stored offsets and returns when done. Idempotent. The consumer
 * can only be destroyed afterwards. */
df_code_t df_kafka_consumer_close(df_kafka_consumer_t *consumer, df_error_t *err);

#endif
