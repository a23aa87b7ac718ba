/* dlq_store: the dead letters the recorder keeps in dlq_messages
 * (schemas/sql/005_dlq.sql, docs/DLQ.md): list them, show one, requeue one
 * (publish its task again under a new task id) and purge them. The `dlq`
 * command of datafleet-scheduler (cli_dlq.c) and the REST API both use
 * it; every function takes a borrowed PostgreSQL connection and answers in
 * JSON.
 *
 * A message's JSON (df_dlq_get; df_dlq_list leaves out payload and
 * headers):
 *   {"id": 12, "topic": "datafleet.dlq", "partition": 0, "offset": 3,
 *    "task_id": "01J..." | null, "reason": "schema_invalid" | null,
 *    "error": "..." | null, "worker": "host-123" | null, "key": "..." | null,
 *    "payload": "...", "payload_encoding": "text" | "base64",
 *    "payload_truncated": false, "payload_bytes": 240,
 *    "headers": {"schema": "datafleet.task/v1", "dlq_reason": "...", ...},
 *    "produced_at": "2026-...Z" | null, "received_at": "2026-...Z",
 *    "state": "dead" | "requeued" | "purged", "requeued_as": "01J..." | null,
 *    "requeued_at": "..." | null, "purged_at": "..." | null}
 * Times are RFC 3339 UTC with milliseconds. */
#ifndef DF_DLQ_STORE_H
#define DF_DLQ_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"
#include "df_submit.h"

/* The most of a payload the recorder keeps (bytes of the original). */
#define DF_DLQ_PAYLOAD_MAX (1024 * 1024)
/* The largest page df_dlq_list returns. */
#define DF_DLQ_LIST_MAX 1000
/* The label a requeued task carries: the task id it was requeued from. */
#define DF_DLQ_REQUEUED_LABEL "requeued_from"

/* Which messages: every field set narrows (NULL / 0: no condition). */
typedef struct df_dlq_filter {
    const char *state;   /* "dead", "requeued" or "purged" */
    const char *task_id; /* the message's task id */
    int64_t since_ms;    /* received_at >= since (Unix ms) */
    int64_t before_ms;   /* received_at < before (Unix ms) */
} df_dlq_filter_t;

/* A page of messages in id order (oldest first): those with id > after_id
 * (0: from the start) that match filter (NULL: all), at most limit
 * (1..DF_DLQ_LIST_MAX). *out gets {"messages": [...], "next_after": id of
 * the last one, or null when this is the last page}; caller json_decrefs.
 * DF_ERR_INVALID naming the field for a bad filter, limit or cursor;
 * DF_ERR_PG otherwise. */
df_code_t df_dlq_list(df_pg_t *pg, const df_dlq_filter_t *filter, int64_t after_id, int limit,
                      json_t **out, df_error_t *err);

/* One message in full (payload and headers included). *out: caller
 * json_decrefs. DF_ERR_NOT_FOUND when no message has that id. */
df_code_t df_dlq_get(df_pg_t *pg, int64_t id, json_t **out, df_error_t *err);

/* Publish the task of message id again, through df_submit, to its type's
 * task topic: the same task under a new task id, attempt 1, submitted now
 * by requeued_by (NULL: "datafleet-scheduler dlq"), with the label
 * DF_DLQ_REQUEUED_LABEL = the old task id; a deadline that has passed, a
 * pending `poll` and the `pipeline` reference are left out (the task runs
 * on its own). Then the row is marked requeued with requeued_as and
 * requeued_at. kafka: how to reach Kafka (copied; a submitter lives for
 * this call only); timeout_ms: how long to wait for Kafka's
 * acknowledgement.
 *
 * The new id is reserved in the row before the publish, so a requeue that
 * fails after Kafka took the task (or two requeues at once) publishes the
 * same id again: the task runs once.
 *
 * *out (may be NULL) gets {"id", "task_id" (old), "requeued_as" (new)}.
 * Errors: DF_ERR_NOT_FOUND (no such message); DF_ERR_CONFLICT (already
 * requeued, or purged); DF_ERR_INVALID with a message saying why when the
 * payload is not a task that can run again (not text, truncated, not JSON,
 * not valid under the task schema: the JSON path in err->field);
 * DF_ERR_KAFKA / DF_ERR_TIMEOUT when Kafka did not acknowledge it (the row
 * stays dead); DF_ERR_PG. */
df_code_t df_dlq_requeue(df_pg_t *pg, const df_submit_config_t *kafka, int64_t id,
                         const char *requeued_by, int timeout_ms, json_t **out, df_error_t *err);

/* Purge message id (> 0), or, with id 0, every message matching filter
 * (NULL: every message). Purging keeps the row (so reading the message
 * from Kafka again does not bring it back) but empties its payload and
 * headers, and sets state "purged" and purged_at; rows purged already are
 * left alone. *purged (may be NULL) gets the number of rows purged now.
 * DF_ERR_NOT_FOUND when id names no message; DF_ERR_INVALID for a filter
 * with no condition set (pass NULL to mean all) or a bad one. */
df_code_t df_dlq_purge(df_pg_t *pg, int64_t id, const df_dlq_filter_t *filter, long long *purged,
                       df_error_t *err);

#endif
