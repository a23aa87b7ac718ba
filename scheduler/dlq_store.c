/* dlq_store: list, show, requeue and purge the dead letters of
 * dlq_messages (see dlq_store.h). Rows are turned into JSON by
 * PostgreSQL itself (jsonb_build_object), times as RFC 3339 UTC. */
#include "dlq_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_task.h"

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The columns of a message in a list. */
#define SUMMARY_FIELDS                                                                     \
    "'id', id, 'topic', topic, 'partition', partition, 'offset', \"offset\","              \
    " 'task_id', task_id, 'reason', reason, 'error', error, 'worker', worker, 'key', key," \
    " 'payload_encoding', payload_encoding, 'payload_truncated', payload_truncated,"       \
    " 'payload_bytes', payload_bytes, 'produced_at', " UTC(                                \
        "produced_at") ","                                                                 \
                       " 'received_at', " UTC(                                             \
                           "received_at") ", 'state', state, 'requeued_as', requeued_as,"  \
                                          " 'requeued_at', " UTC(                          \
                                              "requeued_at") ", 'purged_at', " UTC("purged_at")

/* The filter of dlq_store.h as SQL on parameters $2..$5. */
#define FILTER_SQL                                                                  \
    " ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR task_id = $3)"      \
    " AND ($4::bigint IS NULL OR received_at >= to_timestamp($4::bigint / 1000.0))" \
    " AND ($5::bigint IS NULL OR received_at < to_timestamp($5::bigint / 1000.0))"

static const char list_sql[] =
    "SELECT jsonb_build_object(" SUMMARY_FIELDS ")::text"
    "  FROM dlq_messages"
    " WHERE id > $1::bigint AND" FILTER_SQL " ORDER BY id LIMIT $6::integer";

static const char get_sql[] = "SELECT (jsonb_build_object(" SUMMARY_FIELDS ")"
                              "        || jsonb_build_object('payload', payload,"
                              "                              'headers', headers))::text"
                              "  FROM dlq_messages WHERE id = $1::bigint";

static const char requeue_load_sql[] =
    "SELECT state, payload, payload_encoding, payload_truncated, requeued_as"
    "  FROM dlq_messages WHERE id = $1::bigint";

/* The new id, reserved once: a second requeue (after a failure, or at the
 * same time) gets the one reserved first. */
static const char requeue_reserve_sql[] =
    "UPDATE dlq_messages SET requeued_as = COALESCE(requeued_as, $2)"
    " WHERE id = $1::bigint AND state = 'dead' RETURNING requeued_as";

static const char requeue_done_sql[] =
    "UPDATE dlq_messages SET state = 'requeued', requeued_at = now()"
    " WHERE id = $1::bigint AND requeued_as = $2 AND state <> 'requeued'";

#define PURGE_SET                                                                \
    "UPDATE dlq_messages SET state = 'purged', purged_at = now(), payload = ''," \
    "       payload_encoding = 'text', payload_truncated = false, headers = '{}'"

static const char purge_one_sql[] = PURGE_SET " WHERE id = $1::bigint AND state <> 'purged'";

static const char purge_filter_sql[] =
    PURGE_SET " WHERE state <> 'purged' AND $1::bigint IS NULL AND" FILTER_SQL;

static const char exists_sql[] = "SELECT 1 FROM dlq_messages WHERE id = $1::bigint";

/* ---- filters ---------------------------------------------------------------- */

typedef struct filter_params {
    char since[24], before[24];
    const char *values[4]; /* state, task_id, since, before: $2..$5 */
} filter_params_t;

static df_code_t filter_check(const df_dlq_filter_t *f, filter_params_t *p, df_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (!f)
        return DF_OK;
    if (f->state && strcmp(f->state, "dead") != 0 && strcmp(f->state, "requeued") != 0 &&
        strcmp(f->state, "purged") != 0)
        return df_error_set(err, DF_ERR_INVALID, "state",
                            "state must be dead, requeued or purged, got \"%.64s\"", f->state);
    if (f->task_id && (!*f->task_id || strlen(f->task_id) > 256))
        return df_error_set(err, DF_ERR_INVALID, "task_id", "task_id must be 1..256 bytes");
    if (f->since_ms < 0 || f->before_ms < 0)
        return df_error_set(err, DF_ERR_INVALID, f->since_ms < 0 ? "since" : "before",
                            "times must be Unix milliseconds >= 0");
    p->values[0] = f->state;
    p->values[1] = f->task_id;
    if (f->since_ms > 0) {
        snprintf(p->since, sizeof(p->since), "%lld", (long long)f->since_ms);
        p->values[2] = p->since;
    }
    if (f->before_ms > 0) {
        snprintf(p->before, sizeof(p->before), "%lld", (long long)f->before_ms);
        p->values[3] = p->before;
    }
    return DF_OK;
}

static bool filter_empty(const df_dlq_filter_t *f)
{
    return !f->state && !f->task_id && f->since_ms <= 0 && f->before_ms <= 0;
}

/* ---- list and get ------------------------------------------------------------ */

/* Row i, column 0 of res as JSON (NULL on a parse failure: never expected). */
static json_t *row_json(PGresult *res, int i, df_error_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(PQgetvalue(res, i, 0), 0, &jerr);

    if (!doc)
        df_error_set(err, DF_ERR_INTERNAL, "dlq_messages", "row is not JSON: %s", jerr.text);
    return doc;
}

df_code_t df_dlq_list(df_pg_t *pg, const df_dlq_filter_t *filter, int64_t after_id, int limit,
                      json_t **out, df_error_t *err)
{
    filter_params_t fp;
    char after[24], count[16];
    const char *params[6];
    json_t *messages, *last = NULL;
    PGresult *res;
    int n;

    *out = NULL;
    if (filter_check(filter, &fp, err))
        return err->code;
    if (limit < 1 || limit > DF_DLQ_LIST_MAX)
        return df_error_set(err, DF_ERR_INVALID, "limit", "limit must be 1..%d, got %d",
                            DF_DLQ_LIST_MAX, limit);
    if (after_id < 0)
        return df_error_set(err, DF_ERR_INVALID, "after", "the cursor must be an id >= 0");
    snprintf(after, sizeof(after), "%lld", (long long)after_id);
    snprintf(count, sizeof(count), "%d", limit + 1); /* one more: is there a next page? */
    params[0] = after;
    memcpy(&params[1], fp.values, sizeof(fp.values));
    params[5] = count;
    res = df_pg_exec(pg, list_sql, 6, params, err);
    if (!res)
        return err->code;
    messages = json_array();
    n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++) {
        json_t *doc = row_json(res, i, err);
        if (!doc) {
            PQclear(res);
            json_decref(messages);
            return err->code;
        }
        json_array_append_new(messages, doc);
        last = doc;
    }
    *out = json_pack("{s:o, s:o}", "messages", messages, "next_after",
                     n > limit && last ? json_incref(json_object_get(last, "id")) : json_null());
    PQclear(res);
    if (!*out)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    return DF_OK;
}

df_code_t df_dlq_get(df_pg_t *pg, int64_t id, json_t **out, df_error_t *err)
{
    char id_text[24];
    const char *params[1] = { id_text };
    PGresult *res;

    *out = NULL;
    snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
    res = df_pg_exec(pg, get_sql, 1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "id", "no DLQ message has id %lld",
                            (long long)id);
    }
    *out = row_json(res, 0, err);
    PQclear(res);
    return *out ? DF_OK : err->code;
}

/* ---- requeue ----------------------------------------------------------------- */

typedef struct report {
    const char *task_id;
    bool acked, reported;
    df_error_t err;
} report_t;

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    report_t *r = opaque;

    if (strcmp(task_id, r->task_id) != 0)
        return;
    r->reported = true;
    r->acked = err == NULL;
    if (err)
        r->err = *err;
}

/* The task to publish again, from the stored payload (row of
 * requeue_load_sql), under a placeholder id; *old_id gets the message's
 * task id (borrowed from the result). NULL with err set (DF_ERR_INVALID)
 * when the payload is not a task that can run again. */
static json_t *requeue_task(PGresult *row, int64_t id, const char *requeued_by, char *old_id,
                            size_t old_len, df_error_t *err)
{
    const char *payload = PQgetvalue(row, 0, 1);
    json_error_t jerr;
    json_t *task, *labels;
    const char *deadline, *task_id;
    int64_t deadline_ms;
    char now[40], fresh[DF_ID_BUF];

    if (strcmp(PQgetvalue(row, 0, 2), "text") != 0) {
        df_error_set(err, DF_ERR_INVALID, "payload",
                     "DLQ message %lld cannot be requeued: its payload is binary, not a JSON task",
                     (long long)id);
        return NULL;
    }
    if (strcmp(PQgetvalue(row, 0, 3), "t") == 0) {
        df_error_set(err, DF_ERR_INVALID, "payload",
                     "DLQ message %lld cannot be requeued: its payload was truncated to %d bytes "
                     "when recorded",
                     (long long)id, DF_DLQ_PAYLOAD_MAX);
        return NULL;
    }
    task = json_loads(payload, JSON_REJECT_DUPLICATES, &jerr);
    if (!task || !json_is_object(task)) {
        df_error_set(err, DF_ERR_INVALID, "payload",
                     "DLQ message %lld cannot be requeued: its payload is not a JSON object (%s)",
                     (long long)id, task ? "another JSON value" : jerr.text);
        json_decref(task);
        return NULL;
    }
    task_id = df_task_str(task, "task_id");
    if (!task_id || !*task_id || strlen(task_id) >= old_len) {
        df_error_set(err, DF_ERR_INVALID, "/task_id",
                     "DLQ message %lld cannot be requeued: its payload has no usable task_id",
                     (long long)id);
        json_decref(task);
        return NULL;
    }
    snprintf(old_id, old_len, "%s", task_id);

    /* A new run of the same work: new identity, first attempt, now. */
    df_id_ulid(fresh);
    df_time_format(df_now_ms(), now, sizeof(now));
    json_object_set_new(task, "task_id", json_string(fresh));
    json_object_set_new(task, "attempt", json_integer(1));
    json_object_set_new(task, "submitted_at", json_string(now));
    json_object_set_new(task, "submitted_by",
                        json_string(requeued_by ? requeued_by : "datafleet-scheduler dlq"));
    json_object_del(task, "poll");
    json_object_del(task, "pipeline");
    deadline = df_task_str(task, "deadline");
    if (deadline && df_time_parse(deadline, &deadline_ms) && deadline_ms <= df_now_ms())
        json_object_del(task, "deadline");
    labels = json_object_get(task, "labels");
    if (!labels) {
        labels = json_object();
        json_object_set_new(task, "labels", labels);
    }
    if (json_is_object(labels))
        json_object_set_new(labels, DF_DLQ_REQUEUED_LABEL, json_string(old_id));

    if (df_task_validate(task, err) != DF_OK) {
        char why[DF_ERR_MSG_MAX], field[DF_ERR_FIELD_MAX];
        snprintf(why, sizeof(why), "%s", err->message);
        snprintf(field, sizeof(field), "%s", err->field);
        df_error_set(err, DF_ERR_INVALID, field,
                     "DLQ message %lld cannot be requeued: its payload is not a valid task: "
                     "%s%s%s",
                     (long long)id, field, field[0] ? ": " : "", why);
        json_decref(task);
        return NULL;
    }
    return task;
}

/* The reserved id, or DF_ERR_CONFLICT when the row left `dead` meanwhile. */
static df_code_t reserve(df_pg_t *pg, const char *id_text, char *new_id, df_error_t *err)
{
    const char *params[2] = { id_text, new_id };
    PGresult *res = df_pg_exec(pg, requeue_reserve_sql, 2, params, err);

    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_CONFLICT, "state",
                            "DLQ message %s was requeued or purged meanwhile", id_text);
    }
    snprintf(new_id, DF_ID_BUF, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return DF_OK;
}

static df_code_t publish(const df_submit_config_t *kafka, json_t *task, int timeout_ms,
                         df_error_t *err)
{
    report_t rep = { .task_id = df_task_str(task, "task_id") };
    df_submitter_t *sub;
    df_code_t rc;

    df_error_init(&rep.err);
    sub = df_submitter_new(kafka, on_report, &rep, err);
    if (!sub)
        return err->code;
    rc = df_submit(sub, task, NULL, err);
    if (rc == DF_OK)
        rc = df_submit_flush(sub, timeout_ms, err);
    if (rc == DF_OK && !rep.acked) {
        if (rep.reported)
            *err = rep.err;
        else
            df_error_set(err, DF_ERR_TIMEOUT, "kafka", "Kafka did not acknowledge the task");
        rc = err->code ? err->code : DF_ERR_KAFKA;
    }
    df_submitter_destroy(sub);
    return rc;
}

df_code_t df_dlq_requeue(df_pg_t *pg, const df_submit_config_t *kafka, int64_t id,
                         const char *requeued_by, int timeout_ms, json_t **out, df_error_t *err)
{
    char id_text[24], old_id[257], new_id[DF_ID_BUF];
    const char *params[2] = { id_text, new_id };
    const char *state;
    json_t *task;
    PGresult *row;
    df_code_t rc;

    if (out)
        *out = NULL;
    snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
    row = df_pg_exec(pg, requeue_load_sql, 1, params, err);
    if (!row)
        return err->code;
    if (PQntuples(row) == 0) {
        PQclear(row);
        return df_error_set(err, DF_ERR_NOT_FOUND, "id", "no DLQ message has id %lld",
                            (long long)id);
    }
    state = PQgetvalue(row, 0, 0);
    if (strcmp(state, "dead") != 0) {
        rc = df_error_set(err, DF_ERR_CONFLICT, "state", "DLQ message %lld is %s%s%s",
                          (long long)id, state, PQgetisnull(row, 0, 4) ? "" : " as ",
                          PQgetisnull(row, 0, 4) ? "" : PQgetvalue(row, 0, 4));
        PQclear(row);
        return rc;
    }
    task = requeue_task(row, id, requeued_by, old_id, sizeof(old_id), err);
    PQclear(row);
    if (!task)
        return err->code;
    snprintf(new_id, sizeof(new_id), "%s", df_task_str(task, "task_id"));
    rc = reserve(pg, id_text, new_id, err);
    if (rc == DF_OK) {
        json_object_set_new(task, "task_id", json_string(new_id));
        rc = publish(kafka, task, timeout_ms, err);
    }
    json_decref(task);
    if (rc == DF_OK)
        rc = df_pg_run(pg, requeue_done_sql, 2, params, NULL, err);
    if (rc == DF_OK && out)
        *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "task_id", old_id, "requeued_as",
                         new_id);
    return rc;
}

/* ---- purge ------------------------------------------------------------------- */

df_code_t df_dlq_purge(df_pg_t *pg, int64_t id, const df_dlq_filter_t *filter, long long *purged,
                       df_error_t *err)
{
    char id_text[24];
    const char *params[5] = { id_text };
    filter_params_t fp;
    long long rows = 0;
    PGresult *res;

    if (purged)
        *purged = 0;
    if (id < 0)
        return df_error_set(err, DF_ERR_INVALID, "id", "id must be > 0 (or 0 to use a filter)");
    if (id > 0) {
        snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
        if (df_pg_run(pg, purge_one_sql, 1, params, &rows, err) != DF_OK)
            return err->code;
        if (rows == 0) {
            res = df_pg_exec(pg, exists_sql, 1, params, err);
            if (!res)
                return err->code;
            if (PQntuples(res) == 0) {
                PQclear(res);
                return df_error_set(err, DF_ERR_NOT_FOUND, "id", "no DLQ message has id %lld",
                                    (long long)id);
            }
            PQclear(res);
        }
    } else {
        if (filter && filter_empty(filter))
            return df_error_set(err, DF_ERR_INVALID, "filter",
                                "the purge filter sets no condition (to purge every message, "
                                "pass no filter)");
        if (filter_check(filter, &fp, err))
            return err->code;
        params[0] = NULL;
        memcpy(&params[1], fp.values, sizeof(fp.values));
        if (df_pg_run(pg, purge_filter_sql, 5, params, &rows, err) != DF_OK)
            return err->code;
    }
    if (purged)
        *purged = rows;
    return DF_OK;
}
