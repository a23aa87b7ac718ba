/* dispatch: the worker's in-process task scheduling. Messages arrive from
 * Kafka in offset order per partition; dispatch lets tasks of different
 * keys run concurrently while tasks sharing a key run one at a time in
 * order, and computes each partition's commit point: the lowest offset not
 * yet done (a message is done when its outcome is safely in Kafka).
 *
 * Threads: the consumer thread adds slots and handles rebalances; runner
 * threads take ready slots and finish them; the producer's delivery
 * reports mark them done. One internal mutex guards everything. */
#ifndef DF_DISPATCH_H
#define DF_DISPATCH_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease.h"

typedef struct df_part df_part_t;
typedef struct df_keyq df_keyq_t;

/* One consumed message on its way through the worker. The runner owns the
 * run fields while the slot is RUNNING; dispatch owns the links. */
typedef struct df_slot {
    rd_kafka_message_t *msg; /* owned; freed with the slot (by the free_msg hook) */
    int64_t offset;
    int64_t received_ms; /* monotonic, when consumed */
    df_part_t *part;
    df_keyq_t *keyq; /* NULL: no ordering key (the message had no key) */
    struct df_slot *next_in_part;
    struct df_slot *next_in_key;
    struct df_slot *next_ready;
    bool finished; /* the runner is done with it */
    bool done;     /* its outcome is in Kafka: the offset may pass it */
    bool running;
    int stop; /* df_stop_reason_t, set by other threads (atomic) */
    char task_id[64];
    char token[DF_LEASE_TOKEN_MAX]; /* lease token while running, "" when none */
} df_slot_t;

typedef struct df_dispatch df_dispatch_t;

/* store(opaque, topic, partition, next_offset) is called (under the
 * dispatch lock, from whichever thread advanced the partition) when a
 * partition's commit point moves; it must not call back into dispatch. */
typedef void (*df_dispatch_store_fn)(void *opaque, const char *topic, int32_t partition,
                                     int64_t next_offset);

/* free_msg frees a slot's message (NULL: rd_kafka_message_destroy). */
df_dispatch_t *df_dispatch_new(df_dispatch_store_fn store, void *opaque,
                               void (*free_msg)(rd_kafka_message_t *msg));
/* Frees everything still held (messages included). NULL is a no-op. */
void df_dispatch_destroy(df_dispatch_t *d);

/* Partitions gained / given up. A revoked partition's slots that have not
 * started are dropped unrun when a runner reaches them (the partition's new
 * owner will deliver them again); running ones finish, but no offset is
 * stored for the partition any more. */
void df_dispatch_assign(df_dispatch_t *d, const char *topic, int32_t partition);
void df_dispatch_revoke(df_dispatch_t *d, const char *topic, int32_t partition);

/* Take a consumed message (ownership passes to dispatch) and queue it
 * behind earlier messages of its key. Returns the slot, or NULL on
 * allocation failure (the message is then destroyed and will come again
 * after a restart, since its offset is never passed). */
df_slot_t *df_dispatch_add(df_dispatch_t *d, rd_kafka_message_t *msg);
/* The same with the message's coordinates given apart (msg is only
 * carried, never read): for tests. */
df_slot_t *df_dispatch_add_at(df_dispatch_t *d, rd_kafka_message_t *msg, const char *topic,
                              int32_t partition, int64_t offset, const void *key, size_t key_len);

/* For runners: the next ready slot, waiting up to timeout_ms; NULL on
 * timeout or once closed. A slot of a revoked partition is never handed
 * out: it is dropped. */
df_slot_t *df_dispatch_next(df_dispatch_t *d, int timeout_ms);

/* The runner is done with slot: the next slot of its key becomes ready. */
void df_dispatch_finished(df_dispatch_t *d, df_slot_t *slot);
/* The slot's outcome is in Kafka (or it needed none): its offset may be
 * passed. May come before or after _finished. */
void df_dispatch_done(df_dispatch_t *d, df_slot_t *slot);

/* Slots held (consumed and not yet done), and slots running. */
size_t df_dispatch_buffered(df_dispatch_t *d);
size_t df_dispatch_running(df_dispatch_t *d);

/* Set stop = reason on every running slot (and remember it for slots that
 * start later when sticky is true). */
void df_dispatch_stop_all(df_dispatch_t *d, int reason, bool sticky);
/* Remember reason for the slots that start from now on; the running ones
 * go on untouched (a drain: no new starts, in-flight tasks finish). */
void df_dispatch_stop_new(df_dispatch_t *d, int reason);
/* The sticky stop reason set by _stop_all or _stop_new, or 0. */
int df_dispatch_stop_reason(df_dispatch_t *d);

/* For runners: slot now holds its lease (slot->token set); heartbeats
 * renew it until _finished. */
void df_dispatch_leased(df_dispatch_t *d, df_slot_t *slot);

/* Copy up to max (task_id, token) pairs of running slots with a lease. */
size_t df_dispatch_leases(df_dispatch_t *d, char (*task_ids)[64],
                          char (*tokens)[DF_LEASE_TOKEN_MAX], size_t max);
/* Set stop = reason on the running slot holding task_id, if any. */
void df_dispatch_stop_task(df_dispatch_t *d, const char *task_id, int reason);

/* Wake every runner waiting in _next; later calls return NULL. */
void df_dispatch_close(df_dispatch_t *d);

#endif
