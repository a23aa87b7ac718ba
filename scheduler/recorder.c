/* recorder: the recorder role of datafleet-scheduler. It consumes the
 * events topic and writes the PostgreSQL history (`tasks`, latest state;
 * `task_events`, every event once; `task_logs`, a line per event), in
 * batches of up to batch_size messages or batch_wait_ms, one transaction
 * each (recorder_sql.c). Offsets are stored only after the COMMIT, so an
 * event is recorded at least once and, being keyed by event_id, stored
 * once.
 *
 * The same consumer also reads the DLQ topic (one subscription, one
 * batch): its messages become `dlq_messages` rows (recorder_dlq.c) in the
 * same transaction, keyed by (topic, partition, offset), so the outage,
 * pause and offset rules below hold for both topics alike.
 *
 * Invalid messages are logged and skipped; they never block a partition.
 * When PostgreSQL is unavailable the batch stays in memory, the assigned
 * partitions are paused (the consumer keeps polling, so it keeps its group
 * membership and serves rebalances), the connection is retried with
 * exponential backoff, and the same batch is written when it is back.
 * After each batch, the live status Redis lost is put back
 * (recorder_redis.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_id.h"
#include "df_kafka.h"
#include "df_kafka_consumer.h"
#include "df_log.h"
#include "df_metrics.h"
#include "df_pg.h"
#include "df_program.h"
#include "df_task.h"
#include "df_trace.h"
#include "recorder.h"
#include "roles.h"

#define IDLE_POLL_MS          200 /* poll timeout with no batch open */
#define OUTAGE_POLL_MS        100 /* poll timeout while PostgreSQL is away */
#define BACKOFF_FIRST_MS      100 /* PostgreSQL retry: 100 ms doubling to 5 s */
#define BACKOFF_MAX_MS        5000
#define STOP_RECONNECT_MS     2000 /* last chance to record the batch when stopping */
#define TOPIC_CREATE_MS       10000
#define STATS_EVERY_MS        60000
#define SKIP_WARNS_PER_MINUTE 20

/* One consumed message of the open batch. */
typedef struct entry {
    bool dlq; /* from the DLQ topic (record: a dlq_messages row) */
    int32_t partition;
    int64_t offset;
    json_t *record; /* NULL: skipped (invalid, or refused by PostgreSQL) */
} entry_t;

typedef struct counts {
    unsigned long long recorded, duplicates, skipped, batches, dlq;
} counts_t;

typedef struct recorder {
    const df_scheduler_config_t *cfg;
    char topic[DF_KAFKA_TOPIC_MAX];     /* events */
    char dlq_topic[DF_KAFKA_TOPIC_MAX]; /* dead letters */
    df_kafka_consumer_t *consumer;
    df_pg_t *pg;
    df_recorder_redis_t *redis;

    entry_t *batch;
    size_t n, cap;
    int64_t batch_opened_ms; /* when the first entry came */

    bool outage; /* PostgreSQL is away: batch held, partitions paused */
    int64_t outage_since_ms, retry_at_ms, backoff_ms;

    counts_t counts;
    int64_t counts_since_ms;
    int skip_warnings; /* this minute */
    bool failed;       /* a fatal error: the role stops with DF_EXIT_FAILURE */
} recorder_t;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- logging --------------------------------------------------------------- */

static void log_counts(recorder_t *r, bool now)
{
    int64_t t = df_mono_ms();
    counts_t *c = &r->counts;

    if (!now && t - r->counts_since_ms < STATS_EVERY_MS)
        return;
    if (c->batches || c->skipped)
        df_info("recorder: %llu events recorded, %llu duplicates ignored, %llu skipped, %llu DLQ "
                "messages recorded, in %llu batches (last %lld s)",
                c->recorded, c->duplicates, c->skipped, c->dlq, c->batches,
                (long long)((t - r->counts_since_ms) / 1000));
    memset(c, 0, sizeof(*c));
    r->counts_since_ms = t;
    r->skip_warnings = 0;
}

/* A message that is not recorded: warn with where it is (paced). */
static void log_skip(recorder_t *r, const entry_t *e, const char *why, const char *detail)
{
    char where[96];

    r->counts.skipped++;
    if (r->skip_warnings++ >= SKIP_WARNS_PER_MINUTE)
        return;
    snprintf(where, sizeof(where), "{\"partition\":%d,\"offset\":%lld}", (int)e->partition,
             (long long)e->offset);
    df_log_write_kv(DF_LOG_WARN, where, "skipping the message at %s [%d] offset %lld: %s: %s",
                    e->dlq ? r->dlq_topic : r->topic, (int)e->partition, (long long)e->offset, why,
                    detail);
}

/* ---- Kafka ----------------------------------------------------------------- */

static void pause_list(recorder_t *r, rd_kafka_topic_partition_list_t *parts, bool pause)
{
    rd_kafka_t *rk = df_kafka_consumer_handle(r->consumer);
    rd_kafka_resp_err_t code;

    if (!parts || parts->cnt == 0)
        return;
    code = pause ? rd_kafka_pause_partitions(rk, parts) : rd_kafka_resume_partitions(rk, parts);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        df_warn("kafka %s partitions: %s", pause ? "pause" : "resume", rd_kafka_err2str(code));
}

/* Pause or resume everything assigned to this member now. */
static void pause_assigned(recorder_t *r, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t code = rd_kafka_assignment(df_kafka_consumer_handle(r->consumer), &parts);

    if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
        df_warn("kafka assignment: %s", rd_kafka_err2str(code));
    else
        pause_list(r, parts, pause);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
}

/* Store, for each partition of the batch, the offset after its last
 * message, then commit. A partition revoked meanwhile refuses the store:
 * its new owner reads those messages again, which is harmless. */
static void store_offsets(recorder_t *r)
{
    struct next_offset {
        bool dlq;
        int32_t partition;
        int64_t next;
    } *parts = calloc(r->n, sizeof(*parts));
    size_t nparts = 0;
    df_error_t err;

    if (!parts) {
        df_warn("recorder: out of memory storing offsets (the events are read again after a "
                "restart)");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        size_t j = 0;
        while (j < nparts &&
               (parts[j].partition != r->batch[i].partition || parts[j].dlq != r->batch[i].dlq))
            j++;
        if (j == nparts)
            parts[nparts++] = (struct next_offset){ r->batch[i].dlq, r->batch[i].partition, 0 };
        if (r->batch[i].offset + 1 > parts[j].next)
            parts[j].next = r->batch[i].offset + 1;
    }
    for (size_t j = 0; j < nparts; j++) {
        df_error_init(&err);
        if (df_kafka_consumer_store(r->consumer, parts[j].dlq ? r->dlq_topic : r->topic,
                                    parts[j].partition, parts[j].next, &err) == DF_OK)
            continue;
        if (err.code == DF_ERR_CONFLICT)
            df_debug("%s", err.message);
        else
            df_warn("%s", err.message);
    }
    free(parts);
    df_error_init(&err);
    if (df_kafka_consumer_commit(r->consumer, &err) != DF_OK)
        df_debug("kafka commit after a batch: %s (auto-commit retries)", err.message);
}

/* ---- the batch ------------------------------------------------------------- */

static void clear_batch(recorder_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->batch[i].record);
    r->n = 0;
}

/* Add one message (borrowed) to the batch: as a record, or skipped.
 * Returns false only when out of memory. */
static bool take(recorder_t *r, const rd_kafka_message_t *msg)
{
    entry_t *e;
    json_t *event;
    json_error_t jerr;
    df_error_t err;
    char schema[64], detail[DF_ERR_MSG_MAX + DF_ERR_FIELD_MAX + 8];

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : (size_t)r->cfg->batch_size + 16;
        entry_t *grown = realloc(r->batch, cap * sizeof(*grown));
        if (!grown) {
            df_error("recorder: out of memory growing the batch to %zu messages", cap);
            return false;
        }
        r->batch = grown;
        r->cap = cap;
    }
    if (r->n == 0)
        r->batch_opened_ms = df_mono_ms();
    e = &r->batch[r->n++];
    e->dlq = strcmp(rd_kafka_topic_name(msg->rkt), r->dlq_topic) == 0;
    e->partition = msg->partition;
    e->offset = msg->offset;
    e->record = NULL;
    if (e->dlq) {
        /* Every dead letter is kept, whatever it holds. */
        df_error_init(&err);
        e->record = df_recorder_dlq_record_new(msg, &err);
        if (!e->record) {
            r->n--;
            df_error("recorder: %s recording a DLQ message", err.message);
            return false;
        }
        return true;
    }

    if (df_kafka_header_get(msg, DF_KAFKA_HEADER_SCHEMA, schema, sizeof(schema)) &&
        strcmp(schema, DF_EVENT_SCHEMA) != 0) {
        log_skip(r, e, "not an event message (schema header)", schema);
        return true;
    }
    event = msg->payload ? json_loadb(msg->payload, msg->len, 0, &jerr) : NULL;
    if (!event) {
        log_skip(r, e, "not JSON", msg->payload ? jerr.text : "empty");
        return true;
    }
    df_error_init(&err);
    if (df_event_validate(event, &err) == DF_OK)
        e->record = df_recorder_record_new(event, &err);
    if (e->record && json_is_object(json_object_get(e->record, "delay"))) {
        /* The re-publish continues the trace of the run that asked for it. */
        char tp[DF_TRACEPARENT_LEN + 1] = "";
        df_kafka_header_get(msg, DF_KAFKA_HEADER_TRACEPARENT, tp, sizeof(tp));
        if (df_trace_valid(tp))
            json_object_set_new(json_object_get(e->record, "delay"), "traceparent",
                                json_string(tp));
    }
    if (!e->record) {
        snprintf(detail, sizeof(detail), "%s%s%s", err.field, err.field[0] ? ": " : "",
                 err.message);
        log_skip(r, e, "not a valid " DF_EVENT_SCHEMA, detail);
    }
    json_decref(event);
    return true;
}

/* PostgreSQL refuses the data, not the connection (data exception,
 * integrity violation, a value too large): some event of the batch is to
 * blame. */
static bool refused_data(const df_error_t *err)
{
    const char *state = df_pg_sqlstate(err);
    return strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
           strncmp(state, "54", 2) == 0;
}

/* Find the events PostgreSQL refuses by writing them one at a time, and
 * drop those (logged), so one bad event cannot hold its partition forever.
 * Returns false with err set when PostgreSQL became unusable meanwhile. */
static bool drop_refused(recorder_t *r, df_error_t *err)
{
    for (size_t i = 0; i < r->n; i++) {
        entry_t *e = &r->batch[i];
        json_t *one;
        PGresult *rows = NULL;
        long long inserted, dlq_inserted;
        json_t *none;
        df_code_t rc;

        if (!e->record)
            continue;
        one = json_array();
        none = json_array();
        json_array_append(one, e->record);
        df_error_init(err);
        rc = df_recorder_sql_write(r->pg, e->dlq ? none : one, e->dlq ? one : none, &rows,
                                   &inserted, &dlq_inserted, err);
        json_decref(one);
        json_decref(none);
        PQclear(rows);
        if (rc == DF_OK)
            continue;
        if (!refused_data(err) || !df_pg_connected(r->pg))
            return false;
        log_skip(r, e, "refused by PostgreSQL", err->message);
        json_decref(e->record);
        e->record = NULL;
    }
    return true;
}

static void outage_begin(recorder_t *r, const df_error_t *err)
{
    int64_t now = df_mono_ms();

    if (!r->outage) {
        r->outage = true;
        r->outage_since_ms = now;
        r->backoff_ms = BACKOFF_FIRST_MS;
        df_warn("PostgreSQL unavailable (%s): holding %zu events, partitions paused, retrying "
                "with backoff",
                err->message, r->n);
        pause_assigned(r, true);
    } else {
        df_debug("PostgreSQL still unavailable: %s", err->message);
    }
    r->retry_at_ms = now + r->backoff_ms;
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static df_metric_t *events_metric, *dlq_metric, *batch_metric, *lag_metric;

static void init_metrics(void)
{
    static const double sizes[] = { 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };

    events_metric = df_metric_counter(
        "datafleet_recorder_events_total",
        "Events the recorder wrote to the history (new: stored; duplicate: already there).",
        "result");
    batch_metric =
        df_metric_histogram("datafleet_recorder_batch_size", "Events per recorder transaction.", "",
                            sizes, sizeof(sizes) / sizeof(sizes[0]));
    lag_metric = df_metric_gauge(
        "datafleet_recorder_lag_seconds",
        "Age of the newest event in the last batch written: how far the history is behind.", "");
    dlq_metric = df_metric_counter("datafleet_recorder_dlq_messages_total",
                                   "Messages of the DLQ topic the recorder wrote to dlq_messages "
                                   "(new: stored; duplicate: already there).",
                                   "result");
    df_metric_inc(events_metric, 0, "new");
    df_metric_inc(events_metric, 0, "duplicate");
    df_metric_inc(dlq_metric, 0, "new");
    df_metric_inc(dlq_metric, 0, "duplicate");
}

/* Metrics of a written batch; newest_ms is the latest event `at` in it. */
static void count_batch(size_t valid, long long inserted, int64_t newest_ms)
{
    df_metric_inc(events_metric, (double)inserted, "new");
    df_metric_inc(events_metric, (double)((long long)valid - inserted), "duplicate");
    df_metric_observe(batch_metric, (double)valid);
    if (newest_ms > 0)
        df_metric_set(lag_metric, (double)(df_now_ms() - newest_ms) / 1000.0);
}

/* Record the batch in one transaction, store its offsets, restore Redis.
 * Returns true when the batch is done (it is then empty); false when
 * PostgreSQL failed (the batch is kept and an outage begun or extended). */
static bool flush(recorder_t *r)
{
    json_t *records, *dlq;
    PGresult *rows = NULL;
    long long inserted = 0, dlq_inserted = 0;
    df_error_t err;
    int64_t t0 = df_mono_ms();
    size_t valid, dead_letters;
    bool retried = false;
    int64_t newest_ms = 0;

    if (r->n == 0)
        return true;
again:
    records = json_array();
    dlq = json_array();
    if (!records || !dlq) {
        json_decref(records);
        json_decref(dlq);
        return false;
    }
    for (size_t i = 0; i < r->n; i++) {
        int64_t at;
        if (!r->batch[i].record)
            continue;
        if (r->batch[i].dlq) {
            json_array_append(dlq, r->batch[i].record);
            continue;
        }
        json_array_append(records, r->batch[i].record);
        if (df_time_parse(json_string_value(json_object_get(r->batch[i].record, "at")), &at) &&
            at > newest_ms)
            newest_ms = at;
    }
    valid = json_array_size(records);
    dead_letters = json_array_size(dlq);
    df_error_init(&err);
    if (valid + dead_letters > 0 && df_recorder_sql_write(r->pg, records, dlq, &rows, &inserted,
                                                          &dlq_inserted, &err) != DF_OK) {
        json_decref(records);
        json_decref(dlq);
        if (!retried && refused_data(&err) && df_pg_connected(r->pg)) {
            df_warn("PostgreSQL refused a batch (%s): looking for the messages to blame",
                    err.message);
            retried = true;
            if (drop_refused(r, &err))
                goto again;
        }
        outage_begin(r, &err);
        return false;
    }
    json_decref(records);
    json_decref(dlq);
    r->counts.recorded += (unsigned long long)inserted;
    r->counts.duplicates += (unsigned long long)valid - (unsigned long long)inserted;
    r->counts.dlq += (unsigned long long)dlq_inserted;
    r->counts.batches++;
    if (valid > 0)
        count_batch(valid, inserted, newest_ms);
    if (dead_letters > 0) {
        df_metric_inc(dlq_metric, (double)dlq_inserted, "new");
        df_metric_inc(dlq_metric, (double)((long long)dead_letters - dlq_inserted), "duplicate");
    }
    store_offsets(r);
    df_recorder_redis_restore(r->redis, rows);
    df_debug("recorder batch: %zu messages, %zu events, %lld new, %zu DLQ messages, %lld new, %d "
             "tasks, %lld ms",
             r->n, valid, inserted, dead_letters, dlq_inserted, rows ? PQntuples(rows) : 0,
             (long long)(df_mono_ms() - t0));
    PQclear(rows);
    clear_batch(r);
    return true;
}

/* While PostgreSQL is away: reconnect when due, write the held batch,
 * resume the partitions. */
static void outage_try_end(recorder_t *r)
{
    df_error_t err;

    if (df_mono_ms() < r->retry_at_ms)
        return;
    df_error_init(&err);
    if (!df_pg_connected(r->pg) && df_pg_reconnect(r->pg, 0, &err) != DF_OK) {
        outage_begin(r, &err);
        return;
    }
    if (!flush(r))
        return;
    r->outage = false;
    pause_assigned(r, false);
    df_info("PostgreSQL is back after a %lld ms outage: held events recorded, partitions resumed",
            (long long)(df_mono_ms() - r->outage_since_ms));
}

/* Rebalance hook (polling thread). Partitions assigned during an outage
 * start paused too; before partitions go, the batch is recorded if it
 * can be, so their new owner does not record it again. */
static void on_rebalance(void *opaque, df_kafka_rebalance_t event,
                         const rd_kafka_topic_partition_list_t *partitions)
{
    recorder_t *r = opaque;

    if (event == DF_KAFKA_ASSIGNED && r->outage) {
        rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(partitions);
        pause_list(r, copy, true);
        rd_kafka_topic_partition_list_destroy(copy);
    } else if (event == DF_KAFKA_REVOKED && !r->outage) {
        flush(r);
    }
}

/* ---- start, loop, stop ----------------------------------------------------- */

static bool config_ok(const df_scheduler_config_t *cfg, df_kafka_config_t *kafka, df_error_t *err)
{
    const df_common_config_t *c = &cfg->common;

    df_kafka_config_init(kafka);
    if (cfg->batch_size < 1 || cfg->batch_size > 100000 || cfg->batch_wait_ms < 1 ||
        cfg->batch_wait_ms > 60000) {
        df_error_set(err, DF_ERR_INVALID, "batch-size",
                     "batch size 1..100000 and batch wait 1..60000 ms expected, got %lld and %lld",
                     (long long)cfg->batch_size, (long long)cfg->batch_wait_ms);
        return false;
    }
    if (!cfg->recorder_group || !*cfg->recorder_group || !c->database_url || !*c->database_url ||
        !c->kafka_brokers || !*c->kafka_brokers) {
        df_error_set(err, DF_ERR_INVALID, "recorder",
                     "kafka brokers, recorder group and database URL must be set");
        return false;
    }
    if ((size_t)snprintf(kafka->brokers, sizeof(kafka->brokers), "%s", c->kafka_brokers) >=
            sizeof(kafka->brokers) ||
        (c->topic_prefix && (size_t)snprintf(kafka->prefix, sizeof(kafka->prefix), "%s",
                                             c->topic_prefix) >= sizeof(kafka->prefix))) {
        df_error_set(err, DF_ERR_INVALID, "kafka-brokers",
                     "kafka brokers or topic prefix too long");
        return false;
    }
    if (c->partitions > 0)
        kafka->partitions = (int)c->partitions;
    snprintf(kafka->client_id, sizeof(kafka->client_id), "datafleet-recorder");
    return df_kafka_config_check(kafka, err) == DF_OK;
}

/* Connect to PostgreSQL, waiting (with backoff) while it is unreachable.
 * False on a bad URL, or when asked to stop first. */
static bool connect_pg(recorder_t *r, df_error_t *err)
{
    int64_t delay = BACKOFF_FIRST_MS;
    bool warned = false;

    while (!df_program_stopping()) {
        df_error_init(err);
        r->pg = df_pg_new(r->cfg->common.database_url, err);
        if (r->pg)
            return true;
        if (!err->retryable)
            return false;
        if (!warned)
            df_warn("recorder: waiting for PostgreSQL: %s", err->message);
        warned = true;
        sleep_ms(delay);
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
    df_error_clear(err); /* asked to stop: not a failure */
    return false;
}

/* Make sure a topic exists, waiting while Kafka is unreachable. */
static bool ensure_topic(recorder_t *r, const char *topic, int partitions, df_error_t *err)
{
    rd_kafka_t *rk = df_kafka_consumer_handle(r->consumer);
    bool warned = false;

    while (!df_program_stopping()) {
        df_error_init(err);
        if (df_kafka_topic_create(rk, topic, partitions, -1, TOPIC_CREATE_MS, NULL, err) == DF_OK)
            return true;
        if (err->code == DF_ERR_INVALID)
            return false;
        if (!warned)
            df_warn("recorder: waiting for Kafka to have topic %s: %s", topic, err->message);
        warned = true;
        sleep_ms(1000);
    }
    df_error_clear(err);
    return false;
}

/* Everything the loop needs. False with err set on a fatal problem (or
 * with err clear when asked to stop while waiting for a server). */
static bool start(recorder_t *r, df_error_t *err)
{
    df_kafka_config_t kafka;
    const char *topics[2] = { r->topic, r->dlq_topic };

    if (!config_ok(r->cfg, &kafka, err) ||
        df_kafka_topic_name(&kafka, DF_KAFKA_TOPIC_EVENTS, r->topic, sizeof(r->topic), err) ||
        df_kafka_topic_name(&kafka, DF_KAFKA_TOPIC_DLQ, r->dlq_topic, sizeof(r->dlq_topic), err))
        return false;
    if (r->cfg->common.redis_url && *r->cfg->common.redis_url) {
        r->redis = df_recorder_redis_new(r->cfg->common.redis_url, err);
        if (!r->redis)
            return false;
    } else {
        df_warn("recorder: no Redis URL: live status is not restored");
    }
    r->consumer = df_kafka_consumer_new(&kafka, r->cfg->recorder_group, on_rebalance, r, err);
    if (!r->consumer || !connect_pg(r, err) || !ensure_topic(r, r->topic, kafka.partitions, err) ||
        !ensure_topic(r, r->dlq_topic, kafka.partitions, err))
        return false;
    return df_kafka_consumer_subscribe(r->consumer, topics, 2, err) == DF_OK;
}

/* One turn of the loop: poll one message (or time out), flush when the
 * batch is full or old enough, housekeeping. */
static void step(recorder_t *r)
{
    int64_t now = df_mono_ms();
    int timeout = IDLE_POLL_MS;
    rd_kafka_message_t *msg;
    df_error_t err;

    log_counts(r, false);
    if (!r->outage && !df_pg_connected(r->pg)) {
        df_error_set(&err, DF_ERR_PG, "08003", "connection lost");
        outage_begin(r, &err);
    }
    if (r->outage) {
        timeout = OUTAGE_POLL_MS;
    } else {
        df_recorder_redis_tick(r->redis, r->pg);
        if (r->n > 0) {
            int64_t left = r->batch_opened_ms + r->cfg->batch_wait_ms - now;
            timeout = left > 0 ? (int)left : 0;
        }
    }
    df_error_init(&err);
    msg = df_kafka_consumer_poll(r->consumer, timeout, &err);
    if (msg) {
        if (!take(r, msg))
            r->failed = true;
        rd_kafka_message_destroy(msg);
    } else if (err.code != DF_OK) {
        char reason[256];
        if (rd_kafka_fatal_error(df_kafka_consumer_handle(r->consumer), reason, sizeof(reason))) {
            df_error("recorder: %s", err.message);
            r->failed = true;
        } else {
            df_debug("recorder: %s", err.message);
        }
    }
    if (r->outage)
        outage_try_end(r);
    else if (r->n > 0 && ((int64_t)r->n >= r->cfg->batch_size ||
                          df_mono_ms() - r->batch_opened_ms >= r->cfg->batch_wait_ms))
        flush(r);
}

/* Stopping: record the open batch if PostgreSQL can be reached, then leave
 * the group (which commits the stored offsets). */
static void stop(recorder_t *r)
{
    df_error_t err;

    if (r->n > 0 && r->pg) {
        df_error_init(&err);
        if (!df_pg_connected(r->pg))
            df_pg_reconnect(r->pg, STOP_RECONNECT_MS, &err);
        if (df_pg_connected(r->pg))
            flush(r);
        if (r->n > 0)
            df_warn("recorder: stopping with %zu messages not recorded (PostgreSQL unavailable); "
                    "their offsets are not committed, so they are read again at the next start",
                    r->n);
    }
    log_counts(r, true);
    if (r->consumer) {
        df_error_init(&err);
        if (df_kafka_consumer_close(r->consumer, &err) != DF_OK)
            df_warn("recorder: leaving the consumer group: %s", err.message);
    }
}

int df_role_recorder_run(const df_scheduler_config_t *cfg)
{
    recorder_t r;
    df_error_t err;
    int rc = DF_EXIT_OK;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.counts_since_ms = df_mono_ms();
    init_metrics();
    df_error_init(&err);
    if (start(&r, &err)) {
        df_info("recorder: recording %s and %s into PostgreSQL %s (group %s, batches of %lld "
                "messages or %lld ms)",
                r.topic, r.dlq_topic, df_pg_where(r.pg), cfg->recorder_group,
                (long long)cfg->batch_size, (long long)cfg->batch_wait_ms);
        while (!df_program_stopping() && !r.failed)
            step(&r);
        stop(&r);
        if (r.failed)
            rc = DF_EXIT_FAILURE;
    } else if (err.code != DF_OK) {
        df_error("recorder: cannot start: %s", err.message);
        rc = DF_EXIT_FAILURE;
    }
    clear_batch(&r);
    free(r.batch);
    df_kafka_consumer_destroy(r.consumer);
    df_pg_destroy(r.pg);
    df_recorder_redis_destroy(r.redis);
    df_info("recorder: stopped");
    return rc;
}
