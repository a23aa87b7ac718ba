/* recorder: what the recorder role's files share. recorder.c runs the loop
 * (events and DLQ topics, batches, offsets, PostgreSQL outages);
 * recorder_sql.c turns events into the rows of `tasks`, `task_events` and
 * `task_logs` and writes a batch in one transaction; recorder_log.c words
 * the log line of an event; recorder_dlq.c turns a DLQ message into a
 * `dlq_messages` row; recorder_lineage.c merges the `result.lineage` of
 * succeeded events into lineage_nodes and lineage_edges (docs/LINEAGE.md),
 * in the batch's transaction; recorder_redis.c restores the live status
 * (df:task:{id}) that Redis lost, from what PostgreSQL holds. */
#ifndef DF_RECORDER_H
#define DF_RECORDER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "df_error.h"
#include "df_pg.h"

/* How long df:task:{id} of a finished task lives, and how far back the
 * restore after a Redis restart goes (the same 3 days the worker keeps). */
#define DF_RECORDER_KEEP_S (3 * 24 * 3600)

/* The columns of a "task row" result, as returned by df_recorder_sql_write
 * and df_recorder_sql_recent (times in Unix milliseconds, NULL when unset). */
enum {
    DF_RECORDER_COL_TASK_ID = 0,
    DF_RECORDER_COL_STATE,
    DF_RECORDER_COL_ATTEMPT,
    DF_RECORDER_COL_TYPE,
    DF_RECORDER_COL_CONNECTOR,
    DF_RECORDER_COL_WORKER,
    DF_RECORDER_COL_AT_MS, /* last_event_at: when the current state was reached */
    DF_RECORDER_COL_ERROR_CODE,
    DF_RECORDER_COL_ERROR_MESSAGE,
    DF_RECORDER_COL_RESULT, /* JSON text */
    DF_RECORDER_COL_STARTED_MS,
    DF_RECORDER_COL_FINISHED_MS,
};

/* ---- recorder_sql.c ------------------------------------------------------ */

/* The record the batch statements take for one event (event is borrowed and
 * must already be valid under the event schema): its fields with `at`
 * normalised to UTC milliseconds, the task's type and connector, the
 * task message's fields the `tasks` table keeps (each only when it has the
 * right type, so a sloppy task message cannot fail a batch), and `delay`
 * ({attempt, poll_seq, due_at, reason}) when the event asks for a delayed
 * re-publish of the task it carries (a valid task message). Returns a new
 * object (caller json_decref) or NULL with err set (DF_ERR_INVALID) when a
 * value is out of what the tables accept. */
json_t *df_recorder_record_new(const json_t *event, df_error_t *err);

/* Record a batch (records: a JSON array of df_recorder_record_new objects;
 * dlq: one of df_recorder_dlq_record_new objects, may be NULL or empty;
 * both borrowed) in one transaction: upsert the `tasks` rows (latest state
 * wins), insert the delayed re-publishes that new `retrying` events and
 * poll hand-offs (`progress` events carrying a task with `poll`) ask for
 * into `delayed_tasks`, insert the events into `task_events` (duplicates
 * ignored), their log lines into `task_logs` (one per event id), and the
 * DLQ messages into `dlq_messages` (one per topic, partition and offset).
 * On DF_OK, *tasks gets the batch's task rows after the upsert (the
 * DF_RECORDER_COL_* columns; caller PQclears; NULL when records is empty),
 * *inserted the number of events that were new and *dlq_inserted the DLQ
 * messages that were. On failure the transaction is rolled back (or gone
 * with the connection) and err says why (retryable for connection-type
 * failures). */
df_code_t df_recorder_sql_write(df_pg_t *pg, const json_t *records, const json_t *dlq,
                                PGresult **tasks, long long *inserted, long long *dlq_inserted,
                                df_error_t *err);

/* Task rows (DF_RECORDER_COL_* columns) updated in the last
 * DF_RECORDER_KEEP_S seconds with task_id > after ("" for the first page),
 * in task_id order, at most limit. Caller PQclears; NULL with err set. */
PGresult *df_recorder_sql_recent(df_pg_t *pg, const char *after, int limit, df_error_t *err);

/* ---- recorder_lineage.c -------------------------------------------------- */

/* The lineage an event (borrowed) brings: for a `succeeded` event whose
 * result has "lineage", its usable nodes and edges as rows
 * {"nodes": [{namespace, name, kind, attrs}], "edges": [{from_namespace,
 * from_name, to_namespace, to_name, kind, attrs}]} (within one result the
 * later of two reports of a node or edge wins; an edge's kind defaults to
 * "feeds"). Nodes and edges of the wrong shape, and edges whose ends are not
 * nodes of the same lineage, are skipped with one warning; a lineage that
 * is not an object with arrays is skipped whole (warned). New object
 * (caller json_decref), or NULL when there is nothing to merge. */
json_t *df_recorder_lineage_of(const json_t *event);

/* Merge the lineage of the records (borrowed; those with a "lineage"
 * member, set by df_recorder_record_new from df_recorder_lineage_of) into
 * lineage_nodes and lineage_edges, inside the caller's transaction. A node
 * is keyed by (namespace, name), an edge by (from, to, kind); the latest
 * report (event time) sets kind, attrs and task_id, first_seen only moves
 * back and last_seen forward, so recording an event twice changes nothing.
 * *nodes and *edges get the rows written. DF_OK, or err set (the caller
 * rolls back). */
df_code_t df_recorder_lineage_write(df_pg_t *pg, const json_t *records, long long *nodes,
                                    long long *edges, df_error_t *err);

/* ---- recorder_log.c -------------------------------------------------------- */

#define DF_RECORDER_LOG_LINE_MAX 4608 /* an error message is at most 4096 bytes */

/* The task_logs line of an event (borrowed, valid under the event schema),
 * e.g. "attempt 2 started on worker w-1", "progress: 20000 rows",
 * "attempt 1 failed: http: 503 ...; retrying in 5000 ms", written into buf
 * (cut to len). Returns its level: "error" (failed, dead), "warn"
 * (retrying, cancelled) or "info" (static). */
const char *df_recorder_log_line(const json_t *event, char *buf, size_t len);

/* ---- recorder_dlq.c -------------------------------------------------------- */

/* The dlq_messages record of a message of the DLQ topic (borrowed): topic,
 * partition, offset, key, payload (text or base64, cut to
 * DF_DLQ_PAYLOAD_MAX), headers, the dlq_reason / dlq_error / dlq_worker
 * headers, Kafka's timestamp and the task id when the payload has one.
 * Any message makes a record. New object (caller json_decref), or NULL
 * with err set (DF_ERR_NOMEM). */
json_t *df_recorder_dlq_record_new(const rd_kafka_message_t *msg, df_error_t *err);

/* ---- recorder_redis.c ---------------------------------------------------- */

typedef struct df_recorder_redis df_recorder_redis_t;

/* The Redis side of the recorder for url (copied). Connects lazily, so a
 * Redis that is down does not stop the recorder. NULL with err set
 * (DF_ERR_INVALID / DF_ERR_UNSUPPORTED) when the URL is unusable. Caller
 * destroys. */
df_recorder_redis_t *df_recorder_redis_new(const char *url, df_error_t *err);
void df_recorder_redis_destroy(df_recorder_redis_t *rr);

/* Write the task rows of rows (borrowed) into df:task:{id} where Redis does
 * not already hold the same or a newer state. Best effort: Redis errors are
 * logged (paced), never returned. */
void df_recorder_redis_restore(df_recorder_redis_t *rr, const PGresult *rows);

/* Housekeeping, called from the loop: reconnect when due, check the
 * df:recorder:epoch marker every few seconds, and while a restore from
 * PostgreSQL is under way, do one page of it (pg borrowed; skipped when it
 * is not connected). */
void df_recorder_redis_tick(df_recorder_redis_t *rr, df_pg_t *pg);

#endif
