/* recorder_sql: the recorder's PostgreSQL side (see recorder.h): events
 * turned into records, and a batch of records written in one transaction
 * by statements that each take the whole batch as one JSON array: the
 * tasks' latest state, the delayed re-publishes some events ask for
 * (retries and polls, docs/RETRIES.md), the events themselves, their log
 * lines (task_logs), the lineage of succeeded events (recorder_lineage.c)
 * and the batch's DLQ messages (dlq_messages). */
#include "recorder.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_task.h"

/* The columns of a task row for Redis (recorder.h, DF_RECORDER_COL_*). */
#define TASK_ROW_COLUMNS                                                                   \
    "task_id, state, attempt, type, connector, worker, "                                   \
    "floor(extract(epoch FROM last_event_at) * 1000)::bigint, error_code, error_message, " \
    "result::text, floor(extract(epoch FROM started_at) * 1000)::bigint, "                 \
    "floor(extract(epoch FROM finished_at) * 1000)::bigint"

/* States in the order that breaks ties between events of one attempt at the
 * same instant; from position 4 on they are terminal. */
#define STATE_ORDER "'{queued,running,retrying,succeeded,failed,dead,cancelled}'::text[]"

/* (1) One row per task of the batch, latest state wins.
 *
 * Within the batch: the event that sets the state is the greatest by
 * (attempt, terminal, at, state order): a terminal state of an attempt beats
 * every live state of that attempt whatever the clocks say, a later attempt
 * beats an earlier one. `progress` events never set the state: they carry
 * progress totals, which only grow within an attempt (jsonb orders objects
 * with the same keys by value). The task message (on `queued` and
 * `retrying` events) fills the columns that describe the task.
 *
 * Against the stored row, the same key decides (`newer`), so recording in
 * any order, or twice, ends in the same row. A late `running` cannot reopen a
 * finished attempt; a `queued`/`running` of the next attempt after
 * `retrying` wins. Columns describing the task are only ever filled, not
 * erased, by events without a task message. */
static const char upsert_tasks_sql[] =
    "WITH ev AS ("
    " SELECT e.*, array_position(" STATE_ORDER ", e.state) AS rank"
    "   FROM jsonb_to_recordset($1::jsonb) AS e ("
    "        task_id text, attempt integer, state text, at timestamptz, worker text,"
    "        type text, connector text, progress jsonb, error jsonb, result jsonb, task jsonb,"
    "        submitted_at timestamptz, submitted_by text, ordering_key text, schedule_id text,"
    "        max_attempts integer, deadline timestamptz, labels jsonb,"
    "        pipeline_run_id text, pipeline_step text)"
    "), latest AS ("
    " SELECT DISTINCT ON (task_id) * FROM ev WHERE state <> 'progress'"
    "  ORDER BY task_id, attempt DESC, rank >= 4 DESC, at DESC, rank DESC"
    "), prog AS ("
    " SELECT DISTINCT ON (ev.task_id) ev.task_id, ev.attempt, ev.at, ev.progress"
    "   FROM ev LEFT JOIN latest ON latest.task_id = ev.task_id"
    "  WHERE ev.progress IS NOT NULL AND ev.attempt = COALESCE(latest.attempt, ev.attempt)"
    "  ORDER BY ev.task_id, ev.attempt DESC, ev.progress DESC"
    "), msg AS ("
    " SELECT DISTINCT ON (task_id) * FROM ev WHERE task IS NOT NULL"
    "  ORDER BY task_id, attempt DESC, at DESC"
    "), per_task AS ("
    " SELECT task_id, max(type) AS type, max(connector) AS connector,"
    "        min(at) FILTER (WHERE state = 'running') AS started_at,"
    "        max(attempt) AS attempt, max(at) AS at"
    "   FROM ev GROUP BY task_id"
    ")"
    " INSERT INTO tasks AS t (task_id, type, connector, state, attempt, worker, last_event_at,"
    "        started_at, finished_at, updated_at, error_code, error_message, result, progress,"
    "        task, submitted_at, submitted_by, ordering_key, schedule_id, max_attempts, deadline,"
    "        labels, pipeline_run_id, pipeline_step)"
    " SELECT a.task_id, a.type, a.connector, COALESCE(l.state, 'running'),"
    "        COALESCE(l.attempt, p.attempt, a.attempt), l.worker, l.at, a.started_at,"
    "        CASE WHEN l.rank >= 4 THEN l.at END, COALESCE(GREATEST(l.at, p.at), a.at),"
    "        l.error->>'code', l.error->>'message', l.result, p.progress, m.task,"
    "        m.submitted_at, m.submitted_by, m.ordering_key, m.schedule_id, m.max_attempts,"
    "        m.deadline, COALESCE(m.labels, '{}'), m.pipeline_run_id, m.pipeline_step"
    "   FROM per_task a"
    "   LEFT JOIN latest l ON l.task_id = a.task_id"
    "   LEFT JOIN prog p ON p.task_id = a.task_id"
    "   LEFT JOIN msg m ON m.task_id = a.task_id"
    "  ORDER BY a.task_id" /* rows locked in one order: no deadlock between recorders */
    " ON CONFLICT (task_id) DO UPDATE SET"
    " (state, attempt, worker, last_event_at, finished_at, error_code, error_message, result,"
    "  progress, updated_at, started_at, type, connector, task, submitted_at, submitted_by,"
    "  ordering_key, schedule_id, max_attempts, deadline, labels, pipeline_run_id,"
    "  pipeline_step) ="
    " (SELECT CASE WHEN d.newer THEN excluded.state ELSE t.state END,"
    "         CASE WHEN d.newer THEN excluded.attempt ELSE t.attempt END,"
    "         CASE WHEN d.newer THEN excluded.worker ELSE t.worker END,"
    "         CASE WHEN d.newer THEN excluded.last_event_at ELSE t.last_event_at END,"
    "         CASE WHEN d.newer THEN excluded.finished_at ELSE t.finished_at END,"
    "         CASE WHEN d.newer THEN excluded.error_code ELSE t.error_code END,"
    "         CASE WHEN d.newer THEN excluded.error_message ELSE t.error_message END,"
    "         CASE WHEN d.newer THEN excluded.result ELSE t.result END,"
    "         CASE WHEN d.progressed THEN excluded.progress"
    "              WHEN d.newer AND excluded.attempt > t.attempt THEN NULL"
    "              ELSE t.progress END,"
    "         CASE WHEN d.newer OR d.progressed"
    "              THEN GREATEST(t.updated_at, excluded.updated_at) ELSE t.updated_at END,"
    "         LEAST(t.started_at, excluded.started_at),"
    "         COALESCE(t.type, excluded.type),"
    "         COALESCE(t.connector, excluded.connector),"
    "         CASE WHEN excluded.task IS NOT NULL AND (d.newer OR t.task IS NULL)"
    "              THEN excluded.task ELSE t.task END,"
    "         COALESCE(excluded.submitted_at, t.submitted_at),"
    "         COALESCE(excluded.submitted_by, t.submitted_by),"
    "         COALESCE(excluded.ordering_key, t.ordering_key),"
    "         COALESCE(excluded.schedule_id, t.schedule_id),"
    "         COALESCE(excluded.max_attempts, t.max_attempts),"
    "         COALESCE(excluded.deadline, t.deadline),"
    "         CASE WHEN excluded.task IS NOT NULL THEN excluded.labels ELSE t.labels END,"
    "         COALESCE(excluded.pipeline_run_id, t.pipeline_run_id),"
    "         COALESCE(excluded.pipeline_step, t.pipeline_step)"
    "    FROM (SELECT n.newer,"
    "                 excluded.progress IS NOT NULL"
    "                 AND ((n.newer AND excluded.attempt > t.attempt)"
    "                      OR (excluded.attempt = t.attempt"
    "                          AND (t.progress IS NULL OR excluded.progress > t.progress)))"
    "                 AS progressed"
    "            FROM (SELECT excluded.last_event_at IS NOT NULL"
    "                         AND (excluded.attempt, r.new >= 4, excluded.last_event_at, r.new)"
    "                          >= (t.attempt, r.old >= 4,"
    "                              COALESCE(t.last_event_at, '-infinity'), r.old) AS newer"
    "                    FROM (SELECT array_position(" STATE_ORDER ", excluded.state) AS new,"
    "                                 array_position(" STATE_ORDER ", t.state) AS old) AS r"
    "                 ) AS n"
    "         ) AS d)"
    " RETURNING " TASK_ROW_COLUMNS;

/* (2) Delayed re-publishes: a `retrying` event carrying the next attempt's
 * task, or a `progress` event carrying the next poll of a platform
 * operation, becomes a delayed_tasks row (its `delay`, worked out by
 * df_recorder_record_new). Only events not recorded before count, so an
 * event recorded twice (redelivered, or re-sent by a worker) schedules one
 * re-publish even when the first row was already published and deleted;
 * the key (task_id, attempt, poll_seq) keeps two copies of one event within
 * a batch, or two recorders at once, to one row. Runs before (3). */
static const char insert_delayed_sql[] =
    "INSERT INTO delayed_tasks (task_id, attempt, poll_seq, due_at, task, reason, traceparent)"
    " SELECT e.task_id, (e.delay->>'attempt')::integer, (e.delay->>'poll_seq')::integer,"
    "        (e.delay->>'due_at')::timestamptz, e.task, e.delay->>'reason',"
    "        e.delay->>'traceparent'"
    "   FROM jsonb_to_recordset($1::jsonb) AS e (event_id text, task_id text, task jsonb,"
    "        delay jsonb)"
    "  WHERE e.delay IS NOT NULL"
    "    AND NOT EXISTS (SELECT 1 FROM task_events t WHERE t.event_id = e.event_id)"
    "  ORDER BY 1, 2, 3"
    " ON CONFLICT DO NOTHING";

/* (3) The events themselves; the same event_id twice is stored once. */
static const char insert_events_sql[] =
    "INSERT INTO task_events (event_id, task_id, attempt, state, at, worker, progress, error,"
    "                         result)"
    " SELECT event_id, task_id, attempt, state, at, worker, progress, error, result"
    "   FROM jsonb_to_recordset($1::jsonb) AS e ("
    "        event_id text, task_id text, attempt integer, state text, at timestamptz,"
    "        worker text, progress jsonb, error jsonb, result jsonb)"
    "  ORDER BY event_id"
    " ON CONFLICT (event_id) DO NOTHING";

/* (4) One log line per event (df_recorder_log_line), keyed by the event's
 * id: an event recorded twice keeps its one line. Runs after (1), which
 * made the tasks rows the lines refer to; inserted in event order so that
 * ids follow it within a batch. */
static const char insert_logs_sql[] =
    "INSERT INTO task_logs (task_id, attempt, at, level, message, event_id)"
    " SELECT task_id, attempt, at, log_level, log_message, event_id"
    "   FROM jsonb_to_recordset($1::jsonb) AS e ("
    "        event_id text, task_id text, attempt integer, at timestamptz, log_level text,"
    "        log_message text)"
    "  WHERE log_message IS NOT NULL"
    "  ORDER BY at, event_id"
    " ON CONFLICT (event_id) DO NOTHING";

/* (5) The messages of the DLQ topic (df_recorder_dlq_record_new), once per
 * (topic, partition, offset). */
static const char insert_dlq_sql[] =
    "INSERT INTO dlq_messages (topic, partition, \"offset\", task_id, reason, error, worker, key,"
    "                          payload, payload_encoding, payload_truncated, payload_bytes,"
    "                          headers, produced_at)"
    " SELECT topic, partition, \"offset\", task_id, reason, error, worker, key, payload,"
    "        payload_encoding, payload_truncated, payload_bytes, COALESCE(headers, '{}'),"
    "        produced_at"
    "   FROM jsonb_to_recordset($1::jsonb) AS d ("
    "        topic text, partition integer, \"offset\" bigint, task_id text, reason text,"
    "        error text, worker text, key text, payload text, payload_encoding text,"
    "        payload_truncated boolean, payload_bytes integer, headers jsonb,"
    "        produced_at timestamptz)"
    "  ORDER BY topic, partition, \"offset\""
    " ON CONFLICT (topic, partition, \"offset\") DO NOTHING";

static const char recent_tasks_sql[] =
    "SELECT " TASK_ROW_COLUMNS " FROM tasks"
    " WHERE updated_at >= now() - make_interval(secs => $2::integer) AND task_id > $1"
    " ORDER BY task_id LIMIT $3::integer";

/* Times from 1970 to 9999: PostgreSQL takes all of them, and anything
 * outside is a broken clock, not an event time. */
#define TIME_MIN_MS 0LL
#define TIME_MAX_MS 253402300799999LL

/* text as a normalised RFC 3339 UTC time (buf: at least 32 bytes). */
static bool normal_time(const char *text, char *buf, size_t len)
{
    int64_t ms;

    if (!text || !df_time_parse(text, &ms) || ms < TIME_MIN_MS || ms > TIME_MAX_MS)
        return false;
    df_time_format(ms, buf, len);
    return true;
}

static bool is_task_type(const char *type)
{
    static const char *const types[] = { "export", "refresh", "lineage", "probe" };
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

static void copy_field(json_t *rec, const json_t *from, const char *name)
{
    json_t *v = json_object_get(from, name);
    if (v)
        json_object_set(rec, name, v);
}

static void set_string(json_t *rec, const char *name, const char *value)
{
    if (value)
        json_object_set_new(rec, name, json_string(value));
}

/* The task message's columns, each only when it has the type the table
 * wants: the event schema checks only that the task is an object with a
 * task_id. */
static void add_task_fields(json_t *rec, const json_t *task)
{
    char buf[40];
    json_t *max_attempts = json_object_get(task, "max_attempts");
    json_t *labels = json_object_get(task, "labels");
    json_t *pipeline = json_object_get(task, "pipeline");

    json_object_set(rec, "task", (json_t *)task);
    if (normal_time(df_task_str(task, "submitted_at"), buf, sizeof(buf)))
        set_string(rec, "submitted_at", buf);
    if (normal_time(df_task_str(task, "deadline"), buf, sizeof(buf)))
        set_string(rec, "deadline", buf);
    set_string(rec, "submitted_by", df_task_str(task, "submitted_by"));
    set_string(rec, "ordering_key", df_task_str(task, "ordering_key"));
    set_string(rec, "schedule_id", df_task_str(task, "schedule_id"));
    if (json_is_integer(max_attempts) && json_integer_value(max_attempts) >= 1 &&
        json_integer_value(max_attempts) <= 100)
        json_object_set(rec, "max_attempts", max_attempts);
    if (json_is_object(labels))
        json_object_set(rec, "labels", labels);
    if (json_is_object(pipeline)) {
        set_string(rec, "pipeline_run_id", df_task_str(pipeline, "run_id"));
        set_string(rec, "pipeline_step", df_task_str(pipeline, "step"));
    }
    if (!json_object_get(rec, "type") && is_task_type(df_task_str(task, "type")))
        set_string(rec, "type", df_task_str(task, "type"));
    if (!json_object_get(rec, "connector"))
        set_string(rec, "connector", df_task_str(task, "connector"));
}

/* The delayed re-publish an event asks for, or NULL: a `retrying` event
 * with the next attempt's task (due error.retry_after_ms after `at`), or a
 * `progress` event with the next poll message (due poll.after_ms after
 * `at`). The carried task must be a valid task message of the same task:
 * anything else is no re-publish (logged), never a failed batch. */
static json_t *delay_of(const json_t *event, const json_t *task, int64_t at_ms)
{
    const char *state = df_task_str(event, "state");
    const json_t *poll = json_object_get(task, "poll");
    json_t *wait_v;
    int64_t wait;
    bool retrying;
    char due[40];
    df_error_t err;
    const char *reason;

    if (!state || !json_is_object(task))
        return NULL;
    retrying = strcmp(state, DF_STATE_RETRYING) == 0;
    if (!retrying && !(strcmp(state, DF_STATE_PROGRESS) == 0 && json_is_object(poll)))
        return NULL;
    df_error_init(&err);
    if (strcmp(df_task_str(task, "task_id") ? df_task_str(task, "task_id") : "",
               df_task_str(event, "task_id")) != 0) {
        df_warn("event %s: its task is another task's (%s): no re-publish",
                df_task_str(event, "event_id"), df_task_str(task, "task_id"));
        return NULL;
    }
    if (df_task_validate(task, &err) != DF_OK) {
        df_warn("event %s: its task is not a valid task message (%s%s%s): no re-publish",
                df_task_str(event, "event_id"), err.field, err.field[0] ? ": " : "", err.message);
        return NULL;
    }
    wait_v = retrying ? json_object_get(json_object_get(event, "error"), "retry_after_ms")
                      : json_object_get(poll, "after_ms");
    wait = json_is_integer(wait_v) ? json_integer_value(wait_v) : 0;
    if (wait < 0 || wait > TIME_MAX_MS - at_ms)
        wait = 0;
    df_time_format(at_ms + wait, due, sizeof(due));
    reason = retrying ? json_string_value(json_object_get(json_object_get(event, "error"), "code"))
                      : "poll";
    return json_pack("{s:i, s:i, s:s, s:s}", "attempt", df_task_attempt(task), "poll_seq",
                     retrying ? 0 : (int)json_integer_value(json_object_get(poll, "seq")), "due_at",
                     due, "reason", reason ? reason : "retryable");
}

json_t *df_recorder_record_new(const json_t *event, df_error_t *err)
{
    json_t *attempt = json_object_get(event, "attempt");
    json_t *task = json_object_get(event, "task");
    json_t *rec;
    char at[40];

    if (!json_is_integer(attempt) || json_integer_value(attempt) < 1 ||
        json_integer_value(attempt) > INT_MAX) {
        df_error_set(err, DF_ERR_INVALID, "/attempt", "attempt out of range (1..%d)", INT_MAX);
        return NULL;
    }
    if (!normal_time(df_task_str(event, "at"), at, sizeof(at))) {
        df_error_set(err, DF_ERR_INVALID, "/at", "at is not a time between years 1970 and 9999");
        return NULL;
    }
    rec = json_object();
    if (!rec) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    copy_field(rec, event, "event_id");
    copy_field(rec, event, "task_id");
    copy_field(rec, event, "attempt");
    copy_field(rec, event, "state");
    copy_field(rec, event, "worker");
    copy_field(rec, event, "type");
    copy_field(rec, event, "connector");
    copy_field(rec, event, "progress");
    copy_field(rec, event, "error");
    copy_field(rec, event, "result");
    set_string(rec, "at", at);
    {
        char line[DF_RECORDER_LOG_LINE_MAX];
        const char *level = df_recorder_log_line(event, line, sizeof(line));
        set_string(rec, "log_level", level);
        set_string(rec, "log_message", line);
    }
    {
        json_t *lineage = df_recorder_lineage_of(event);
        if (lineage)
            json_object_set_new(rec, "lineage", lineage);
    }
    if (json_is_object(task)) {
        int64_t at_ms = 0;
        json_t *delay;
        add_task_fields(rec, task);
        df_time_parse(at, &at_ms);
        delay = delay_of(event, task, at_ms);
        if (delay)
            json_object_set_new(rec, "delay", delay);
    }
    return rec;
}

/* records as the batch statements' JSON text, without the normalised
 * lineage (only recorder_lineage.c reads it; the result keeps the original),
 * so a large graph is not parsed by every statement. Caller frees. */
static char *records_text(const json_t *records)
{
    json_t *plain, *rec;
    size_t i;
    char *text;

    json_array_foreach(records, i, rec) if (json_object_get(rec, "lineage")) break;
    if (i == json_array_size(records))
        return json_dumps(records, JSON_COMPACT);
    plain = json_array();
    json_array_foreach(records, i, rec)
    {
        json_t *copy = json_copy(rec);
        if (copy)
            json_object_del(copy, "lineage");
        json_array_append_new(plain, copy);
    }
    text = plain && json_array_size(plain) == json_array_size(records)
               ? json_dumps(plain, JSON_COMPACT)
               : NULL;
    json_decref(plain);
    return text;
}

df_code_t df_recorder_sql_write(df_pg_t *pg, const json_t *records, const json_t *dlq,
                                PGresult **tasks, long long *inserted, long long *dlq_inserted,
                                df_error_t *err)
{
    char *text = records_text(records);
    char *dlq_text = json_array_size(dlq) > 0 ? json_dumps(dlq, JSON_COMPACT) : NULL;
    const char *params[1] = { text };
    const char *dlq_params[1] = { dlq_text };
    PGresult *rows = NULL;
    df_error_t ignored;
    long long lineage_nodes, lineage_edges;

    *tasks = NULL;
    *inserted = 0;
    *dlq_inserted = 0;
    if (!text || (json_array_size(dlq) > 0 && !dlq_text)) {
        free(text);
        free(dlq_text);
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory encoding a batch");
    }
    if (df_pg_begin(pg, err) != DF_OK)
        goto fail;
    if (json_array_size(records) > 0) {
        rows = df_pg_exec(pg, upsert_tasks_sql, 1, params, err);
        if (!rows)
            goto fail;
        if (df_pg_run(pg, insert_delayed_sql, 1, params, NULL, err) != DF_OK ||
            df_pg_run(pg, insert_events_sql, 1, params, inserted, err) != DF_OK ||
            df_pg_run(pg, insert_logs_sql, 1, params, NULL, err) != DF_OK ||
            df_recorder_lineage_write(pg, records, &lineage_nodes, &lineage_edges, err) != DF_OK)
            goto fail;
    }
    if (dlq_text && df_pg_run(pg, insert_dlq_sql, 1, dlq_params, dlq_inserted, err) != DF_OK)
        goto fail;
    if (df_pg_commit(pg, err) != DF_OK)
        goto fail;
    free(text);
    free(dlq_text);
    *tasks = rows;
    return DF_OK;

fail:
    df_error_init(&ignored);
    df_pg_rollback(pg, &ignored);
    PQclear(rows);
    free(text);
    free(dlq_text);
    *inserted = 0;
    *dlq_inserted = 0;
    return err->code ? err->code : DF_ERR_PG;
}

PGresult *df_recorder_sql_recent(df_pg_t *pg, const char *after, int limit, df_error_t *err)
{
    char keep[16], count[16];
    const char *params[3] = { after, keep, count };

    snprintf(keep, sizeof(keep), "%d", DF_RECORDER_KEEP_S);
    snprintf(count, sizeof(count), "%d", limit);
    return df_pg_exec(pg, recent_tasks_sql, 3, params, err);
}
