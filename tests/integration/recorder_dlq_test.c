/* recorder_dlq_test: what the recorder keeps beside the task history, and
 * the APIs that read it, against the real Kafka, Redis and PostgreSQL (a
 * scratch database, a topic prefix of its own, Redis db 9):
 *   (a) DLQ messages (a valid task with the worker's dlq_* headers, a
 *       payload that is not JSON, binary junk with NUL and invalid UTF-8
 *       bytes and a binary key, a 1.5 MiB text payload) end up in
 *       dlq_messages once each, also when a second recorder (another
 *       consumer group) reads the whole topic again, and when the same
 *       batch is written twice;
 *   (b) df_dlq_list filters and pages; df_dlq_get shows payload and
 *       headers;
 *   (c) df_dlq_requeue publishes the task again under a new id, attempt 1,
 *       labelled requeued_from, seen by a consumer of the task topic; the
 *       row is requeued; requeuing again is a conflict; a payload that is
 *       not JSON, binary, cut, or not a valid task is refused with
 *       DF_ERR_INVALID saying why;
 *   (d) df_dlq_purge of one id, by filter (before), and its refusals;
 *   (e) task_logs: one line per event, once, also for an event recorded
 *       twice; df_task_logs_list in order, by attempt, paged;
 *       df_task_events_list in order, paged;
 *   (f) df_workers_list from df:worker:{id} hashes written here: live,
 *       stale and gone workers. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "df_id.h"
#include "df_kafka.h"
#include "df_kafka_consumer.h"
#include "df_kafka_producer.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_program.h"
#include "df_redis.h"
#include "df_submit.h"
#include "df_task.h"
#include "df_test.h"
#include "df_test_pg.h"
#include "dlq_store.h"
#include "recorder.h"
#include "roles.h"
#include "task_history.h"
#include "workers_view.h"

#define PARTITIONS 3
#define REDIS_DB   "9"
#define WAIT_MS    60000
#define BIG_BYTES  (1536 * 1024)

static char prefix[64], events_topic[DF_KAFKA_TOPIC_MAX], dlq_topic[DF_KAFKA_TOPIC_MAX];
static char export_topic[DF_KAFKA_TOPIC_MAX], group[96], group2[96];
static char db_name[64], db_url[2048], redis_url[1024], log_path[256];
static df_scheduler_config_t cfg, cfg2;
static df_kafka_config_t kcfg;
static df_kafka_producer_t *producer;
static df_pg_t *admin, *pg;
static df_redis_t *redis;
static char valid_task_id[DF_ID_BUF];

/* ---- helpers -------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void redis_url_with_db(const char *url, char *out, size_t len)
{
    const char *slash = strrchr(url, '/');
    size_t keep = strlen(url);

    if (slash && slash > url && slash[-1] != '/' && strspn(slash + 1, "0123456789") > 0 &&
        slash[1 + strspn(slash + 1, "0123456789")] == '\0')
        keep = (size_t)(slash - url);
    REQUIRE(keep + sizeof("/" REDIS_DB) <= len);
    snprintf(out, len, "%.*s/%s", (int)keep, url, REDIS_DB);
}

static df_code_t database_ddl(const char *verb, const char *suffix, df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, db_name, err);
    char ddl[256];

    if (!quoted)
        return err->code;
    snprintf(ddl, sizeof(ddl), "%s %s%s", verb, quoted, suffix);
    free(quoted);
    return df_pg_run(admin, ddl, 0, NULL, NULL, err);
}

static long long scalar(const char *sql, const char *param)
{
    const char *params[1] = { param };
    df_error_t err;
    PGresult *res;
    long long v = -1;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, param ? 1 : 0, param ? params : NULL, &err);
    CHECK_MSG(res != NULL, "%s: %s", sql, err.message);
    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static long long wait_scalar(const char *sql, const char *param, long long want)
{
    int64_t deadline = df_mono_ms() + WAIT_MS;
    long long v;

    while ((v = scalar(sql, param)) != want && df_mono_ms() < deadline)
        sleep_ms(50);
    return v;
}

/* One text value ("" for NULL, "(none)" without a row). */
static void text_value(const char *sql, const char *param, char *out, size_t len)
{
    const char *params[1] = { param };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, 1, params, &err);
    CHECK_MSG(res != NULL, "%s", err.message);
    snprintf(out, len, "%s",
             !res || PQntuples(res) != 1 ? "(none)"
             : PQgetisnull(res, 0, 0)    ? ""
                                         : PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void send_msg(const char *topic, const void *key, size_t key_len, const void *value,
                     size_t len, rd_kafka_headers_t *headers)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_kafka_producer_send(producer, topic, key, key_len, value, len, headers, NULL,
                                     &err) == DF_OK,
              "send: %s", err.message);
}

static void flush_producer(void)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_kafka_producer_flush(producer, 30000, &err) == DF_OK, "flush: %s", err.message);
}

/* The headers a worker puts on a poison message. */
static rd_kafka_headers_t *dlq_headers(const char *reason, const char *error)
{
    rd_kafka_headers_t *h = df_kafka_headers_new(DF_TASK_SCHEMA, NULL);

    rd_kafka_header_add(h, "dlq_reason", -1, reason, -1);
    rd_kafka_header_add(h, "dlq_error", -1, error, -1);
    rd_kafka_header_add(h, "dlq_topic", -1, export_topic, -1);
    rd_kafka_header_add(h, "dlq_worker", -1, "dlq-test-worker", -1);
    return h;
}

static int64_t dlq_id_where(const char *condition_sql)
{
    return (int64_t)scalar(condition_sql, NULL);
}

static void open_log(void)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

    REQUIRE(fd >= 0);
    df_log_set_fd(fd);
}

static void show_log_problems(void)
{
    FILE *f = fopen(log_path, "r");
    char line[4096];
    int shown = 0;

    while (f && shown < 60 && fgets(line, sizeof(line), f))
        if (strstr(line, "\"level\":\"warn\"") || strstr(line, "\"level\":\"error\"")) {
            fputs(line, stderr);
            shown++;
        }
    if (f)
        fclose(f);
}

static pthread_t recorder_thread, recorder2_thread;
static int recorder_rc = -1, recorder2_rc = -1;

static void *recorder_main(void *arg)
{
    recorder_rc = df_role_recorder_run(arg);
    return NULL;
}

static void *recorder2_main(void *arg)
{
    recorder2_rc = df_role_recorder_run(arg);
    return NULL;
}

/* ---- (a) DLQ messages recorded once ---------------------------------------- */

static void test_dlq_recorded_once(void)
{
    static const unsigned char junk[] = { 0x00, 0xff, 0xfe, 'x', 0x00, 0x80, 0xc3 };
    static const unsigned char junk_key[] = { 0xff, 0x00, 0x01 };
    char task_text[1024], at[40], value[512];
    char *big = malloc(BIG_BYTES + 1);
    df_error_t err;

    REQUIRE(big != NULL);
    df_id_ulid(valid_task_id);
    df_time_format(df_now_ms(), at, sizeof(at));
    snprintf(
        task_text, sizeof(task_text),
        "{\"task_id\":\"%s\",\"type\":\"export\",\"connector\":\"noop\",\"params\":{},"
        "\"attempt\":3,\"max_attempts\":3,\"submitted_at\":\"%s\",\"submitted_by\":\"dlq_test\","
        "\"labels\":{\"suite\":\"dlq\"}}",
        valid_task_id, at);
    send_msg(dlq_topic, valid_task_id, strlen(valid_task_id), task_text, strlen(task_text),
             dlq_headers("attempts_exhausted", "http: 503 from the platform"));
    send_msg(dlq_topic, "k-json", 6, "{\"task_id\": oops", 16,
             dlq_headers("invalid_json", "payload is not JSON"));
    send_msg(dlq_topic, junk_key, sizeof(junk_key), junk, sizeof(junk),
             dlq_headers("invalid_json", "binary"));
    memset(big, 'a', BIG_BYTES);
    big[BIG_BYTES] = '\0';
    send_msg(dlq_topic, "k-big", 5, big, BIG_BYTES,
             dlq_headers("message_too_large", "message too large"));
    free(big);
    flush_producer();

    CHECK_INT(wait_scalar("SELECT count(*) FROM dlq_messages", NULL, 4), 4);
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages WHERE task_id = $1", valid_task_id), 1);
    text_value("SELECT reason || '/' || error || '/' || worker || '/' || state || '/' ||"
               " payload_encoding || '/' || (headers->>'dlq_topic') FROM dlq_messages"
               " WHERE task_id = $1",
               valid_task_id, value, sizeof(value));
    {
        char want[512];
        snprintf(want, sizeof(want),
                 "attempts_exhausted/http: 503 from the platform/"
                 "dlq-test-worker/dead/text/%s",
                 export_topic);
        CHECK_STR(value, want);
    }
    text_value(
        "SELECT payload_encoding || '/' || payload || '/' || key || '/' || payload_bytes"
        " || '/' || (task_id IS NULL) FROM dlq_messages WHERE reason = $1 AND error = 'binary'",
        "invalid_json", value, sizeof(value));
    CHECK_STR(value, "base64/AP/+eACAww==/base64:/wAB/7/true");
    text_value("SELECT payload_encoding || '/' || payload || '/' || (task_id IS NULL) FROM"
               " dlq_messages WHERE key = $1",
               "k-json", value, sizeof(value));
    CHECK_STR(value, "text/{\"task_id\": oops/true");
    text_value("SELECT payload_truncated || '/' || length(payload) || '/' || payload_bytes FROM"
               " dlq_messages WHERE key = $1",
               "k-big", value, sizeof(value));
    snprintf(task_text, sizeof(task_text), "true/%d/%d", DF_DLQ_PAYLOAD_MAX, BIG_BYTES);
    CHECK_STR(value, task_text);
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages WHERE produced_at IS NULL", NULL), 0);

    /* The same batch written again changes nothing. */
    {
        json_t *dlq = json_array(), *none = json_array();
        PGresult *rows = NULL;
        long long inserted = -1, dlq_inserted = -1;
        json_int_t partition =
            scalar("SELECT partition FROM dlq_messages WHERE key = 'k-json'", NULL);
        json_int_t offset =
            scalar("SELECT \"offset\" FROM dlq_messages WHERE key = 'k-json'", NULL);
        json_array_append_new(dlq, json_pack("{s:s, s:I, s:I, s:s, s:s, s:b, s:i}", "topic",
                                             dlq_topic, "partition", partition, "offset", offset,
                                             "payload", "x", "payload_encoding", "text",
                                             "payload_truncated", 0, "payload_bytes", 1));
        df_error_init(&err);
        CHECK(df_recorder_sql_write(pg, none, dlq, &rows, &inserted, &dlq_inserted, &err) == DF_OK);
        CHECK_INT(dlq_inserted, 0);
        PQclear(rows);
        json_decref(dlq);
        json_decref(none);
    }

    /* A second recorder in another group reads the whole topic again. */
    REQUIRE(pthread_create(&recorder2_thread, NULL, recorder2_main, &cfg2) == 0);
    {
        df_kafka_consumer_t *c;
        rd_kafka_topic_partition_list_t *parts;
        int64_t deadline = df_mono_ms() + WAIT_MS;
        bool caught_up = false;
        df_error_init(&err);
        c = df_kafka_consumer_new(&kcfg, group2, NULL, NULL, &err);
        REQUIRE(c != NULL);
        while (!caught_up && df_mono_ms() < deadline) {
            caught_up = true;
            parts = rd_kafka_topic_partition_list_new(PARTITIONS);
            for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, dlq_topic, p);
            rd_kafka_committed(df_kafka_consumer_handle(c), parts, 10000);
            for (int p = 0; p < PARTITIONS; p++) {
                int64_t low = -1, high = -1;
                rd_kafka_query_watermark_offsets(df_kafka_consumer_handle(c), dlq_topic, p, &low,
                                                 &high, 10000);
                if (high > 0 && parts->elems[p].offset != high)
                    caught_up = false;
            }
            rd_kafka_topic_partition_list_destroy(parts);
            if (!caught_up)
                sleep_ms(200);
        }
        CHECK_MSG(caught_up, "the second recorder did not commit the end of %s", dlq_topic);
        df_kafka_consumer_destroy(c);
    }
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages", NULL), 4);
}

/* ---- (b) list and get --------------------------------------------------------- */

static void test_dlq_list_and_get(void)
{
    df_dlq_filter_t filter = { 0 };
    json_t *page = NULL, *page2 = NULL, *one = NULL;
    df_error_t err;
    int64_t next, id;

    df_error_init(&err);
    CHECK(df_dlq_list(pg, NULL, 0, 3, &page, &err) == DF_OK);
    CHECK_INT(json_array_size(json_object_get(page, "messages")), 3);
    next = json_integer_value(json_object_get(page, "next_after"));
    CHECK(next > 0);
    CHECK(json_object_get(json_array_get(json_object_get(page, "messages"), 0), "payload") == NULL);
    CHECK(df_dlq_list(pg, NULL, next, 3, &page2, &err) == DF_OK);
    CHECK_INT(json_array_size(json_object_get(page2, "messages")), 1);
    CHECK(json_is_null(json_object_get(page2, "next_after")));
    json_decref(page);
    json_decref(page2);

    filter.task_id = valid_task_id;
    filter.state = "dead";
    CHECK(df_dlq_list(pg, &filter, 0, 10, &page, &err) == DF_OK);
    CHECK_INT(json_array_size(json_object_get(page, "messages")), 1);
    id = json_integer_value(
        json_object_get(json_array_get(json_object_get(page, "messages"), 0), "id"));
    json_decref(page);
    filter.task_id = NULL;
    filter.since_ms = df_now_ms() + 3600000;
    CHECK(df_dlq_list(pg, &filter, 0, 10, &page, &err) == DF_OK);
    CHECK_INT(json_array_size(json_object_get(page, "messages")), 0);
    json_decref(page);

    filter.state = "zombie";
    CHECK_INT(df_dlq_list(pg, &filter, 0, 10, &page, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "state");
    df_error_init(&err);
    CHECK_INT(df_dlq_list(pg, NULL, 0, 0, &page, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "limit");

    df_error_init(&err);
    CHECK(df_dlq_get(pg, id, &one, &err) == DF_OK);
    CHECK_STR(json_string_value(json_object_get(one, "task_id")), valid_task_id);
    CHECK_STR(json_string_value(json_object_get(json_object_get(one, "headers"), "dlq_reason")),
              "attempts_exhausted");
    CHECK(strstr(json_string_value(json_object_get(one, "payload")), valid_task_id) != NULL);
    CHECK_STR(json_string_value(json_object_get(one, "state")), "dead");
    json_decref(one);
    df_error_init(&err);
    CHECK_INT(df_dlq_get(pg, 999999, &one, &err), DF_ERR_NOT_FOUND);
}

/* ---- (c) requeue --------------------------------------------------------------- */

static void test_dlq_requeue(void)
{
    df_submit_config_t kafka = {
        .brokers = cfg.common.kafka_brokers,
        .topic_prefix = prefix,
        .partitions = PARTITIONS,
        .ensure_topics = true,
    };
    char id_text[32], new_id[DF_ID_BUF] = "", value[256];
    const char *topics[1] = { export_topic };
    json_t *done = NULL, *seen = NULL;
    df_kafka_consumer_t *c;
    df_error_t err;
    int64_t id, deadline;

    id = dlq_id_where("SELECT id FROM dlq_messages WHERE task_id IS NOT NULL");
    REQUIRE(id > 0);
    df_error_init(&err);
    CHECK_MSG(df_dlq_requeue(pg, &kafka, id, "dlq_test", 30000, &done, &err) == DF_OK, "%s",
              err.message);
    if (done)
        snprintf(new_id, sizeof(new_id), "%s",
                 json_string_value(json_object_get(done, "requeued_as")));
    CHECK(df_id_valid(new_id));
    CHECK(strcmp(new_id, valid_task_id) != 0);
    CHECK_STR(json_string_value(json_object_get(done, "task_id")), valid_task_id);
    json_decref(done);

    /* A consumer of the task topic sees it. */
    c = df_kafka_consumer_new(&kcfg, "dlq-test-tasks", NULL, NULL, &err);
    REQUIRE(c != NULL);
    REQUIRE(df_kafka_consumer_subscribe(c, topics, 1, &err) == DF_OK);
    deadline = df_mono_ms() + WAIT_MS;
    while (!seen && df_mono_ms() < deadline) {
        rd_kafka_message_t *msg = df_kafka_consumer_poll(c, 200, &err);
        json_t *task = msg ? json_loadb(msg->payload, msg->len, 0, NULL) : NULL;
        if (task && strcmp(df_task_str(task, "task_id"), new_id) == 0)
            seen = task;
        else
            json_decref(task);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    df_kafka_consumer_destroy(c);
    CHECK_MSG(seen != NULL, "task %s not seen on %s", new_id, export_topic);
    CHECK_STR(df_task_str(json_object_get(seen, "labels"), DF_DLQ_REQUEUED_LABEL), valid_task_id);
    CHECK_STR(df_task_str(json_object_get(seen, "labels"), "suite"), "dlq");
    CHECK_INT(df_task_attempt(seen), 1);
    CHECK_INT(json_integer_value(json_object_get(seen, "max_attempts")), 3);
    CHECK_STR(df_task_str(seen, "submitted_by"), "dlq_test");
    df_error_init(&err);
    CHECK(seen && df_task_validate(seen, &err) == DF_OK);
    json_decref(seen);

    snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
    text_value("SELECT state || '/' || requeued_as || '/' || (requeued_at IS NOT NULL)"
               " FROM dlq_messages WHERE id = $1::bigint",
               id_text, value, sizeof(value));
    {
        char want[128];
        snprintf(want, sizeof(want), "requeued/%s/true", new_id);
        CHECK_STR(value, want);
    }
    /* Only once. */
    df_error_init(&err);
    CHECK_INT(df_dlq_requeue(pg, &kafka, id, NULL, 30000, NULL, &err), DF_ERR_CONFLICT);
    CHECK(strstr(err.message, new_id) != NULL);

    /* Not tasks: each refused, saying why. */
    df_error_init(&err);
    id = dlq_id_where("SELECT id FROM dlq_messages WHERE key = 'k-json'");
    CHECK_INT(df_dlq_requeue(pg, &kafka, id, NULL, 30000, NULL, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "not a JSON object") != NULL, "%s", err.message);
    df_error_init(&err);
    id = dlq_id_where("SELECT id FROM dlq_messages WHERE payload_encoding = 'base64'");
    CHECK_INT(df_dlq_requeue(pg, &kafka, id, NULL, 30000, NULL, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "binary") != NULL, "%s", err.message);
    df_error_init(&err);
    id = dlq_id_where("SELECT id FROM dlq_messages WHERE key = 'k-big'");
    CHECK_INT(df_dlq_requeue(pg, &kafka, id, NULL, 30000, NULL, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "truncated") != NULL, "%s", err.message);
    /* A JSON object that is no valid task (a worker's schema_invalid). */
    {
        char bad_id[DF_ID_BUF], text[256];
        df_id_ulid(bad_id);
        snprintf(text, sizeof(text),
                 "{\"task_id\":\"%s\",\"type\":\"explode\",\"connector\":\"noop\",\"params\":{}}",
                 bad_id);
        send_msg(dlq_topic, bad_id, strlen(bad_id), text, strlen(text),
                 dlq_headers("schema_invalid", "/type: not one of the enum"));
        flush_producer();
        CHECK_INT(wait_scalar("SELECT count(*) FROM dlq_messages WHERE task_id = $1", bad_id, 1),
                  1);
        id = dlq_id_where("SELECT max(id) FROM dlq_messages");
        df_error_init(&err);
        CHECK_INT(df_dlq_requeue(pg, &kafka, id, NULL, 30000, NULL, &err), DF_ERR_INVALID);
        CHECK_STR(err.field, "/type");
        CHECK_MSG(strstr(err.message, "not a valid task") != NULL, "%s", err.message);
        CHECK_INT(scalar("SELECT count(*) FROM dlq_messages WHERE task_id = $1 AND state = 'dead'"
                         " AND requeued_as IS NULL",
                         bad_id),
                  1);
    }
    df_error_init(&err);
    CHECK_INT(df_dlq_requeue(pg, &kafka, 999999, NULL, 30000, NULL, &err), DF_ERR_NOT_FOUND);
}

/* ---- (d) purge ----------------------------------------------------------------- */

static void test_dlq_purge(void)
{
    df_dlq_filter_t filter = { 0 };
    df_error_t err;
    long long purged = -1;
    int64_t id = dlq_id_where("SELECT id FROM dlq_messages WHERE key = 'k-big'");
    json_t *one = NULL;

    df_error_init(&err);
    CHECK(df_dlq_purge(pg, id, NULL, &purged, &err) == DF_OK);
    CHECK_INT(purged, 1);
    CHECK(df_dlq_get(pg, id, &one, &err) == DF_OK);
    CHECK_STR(json_string_value(json_object_get(one, "state")), "purged");
    CHECK_STR(json_string_value(json_object_get(one, "payload")), "");
    CHECK_INT(json_object_size(json_object_get(one, "headers")), 0);
    CHECK_STR(json_string_value(json_object_get(one, "reason")), "message_too_large");
    CHECK(json_is_string(json_object_get(one, "purged_at")));
    json_decref(one);
    CHECK(df_dlq_purge(pg, id, NULL, &purged, &err) == DF_OK);
    CHECK_INT(purged, 0);
    CHECK_INT(df_dlq_purge(pg, 999999, NULL, &purged, &err), DF_ERR_NOT_FOUND);
    df_error_init(&err);
    CHECK_INT(df_dlq_purge(pg, 0, &filter, &purged, &err), DF_ERR_INVALID);

    /* Older than an hour from now, still dead: the other three dead ones. */
    df_error_init(&err);
    filter.state = "dead";
    filter.before_ms = df_now_ms() + 3600000;
    CHECK(df_dlq_purge(pg, 0, &filter, &purged, &err) == DF_OK);
    CHECK_INT(purged, 3);
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages WHERE state = 'requeued'", NULL), 1);
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages WHERE state = 'purged'", NULL), 4);
    /* Purged rows stay: the topic read again does not bring them back. */
    CHECK_INT(scalar("SELECT count(*) FROM dlq_messages", NULL), 5);
}

/* ---- (e) task logs and events --------------------------------------------------- */

static char *send_event(const char *task_id, int attempt, const char *state, int64_t at_ms,
                        json_t *extra)
{
    char id[DF_ID_BUF], at[40], *text;
    json_t *ev;
    const char *name;
    json_t *v;

    df_id_ulid(id);
    df_time_format(at_ms, at, sizeof(at));
    ev = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "event_id", id, "task_id", task_id,
                   "attempt", attempt, "state", state, "at", at, "worker", "w-1", "type", "export",
                   "connector", "noop");
    json_object_foreach(extra, name, v)
    {
        json_object_set(ev, name, v);
    }
    json_decref(extra);
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    send_msg(events_topic, task_id, strlen(task_id), text, strlen(text),
             df_kafka_headers_new(DF_EVENT_SCHEMA, NULL));
    return text;
}

static void test_task_logs(void)
{
    char id[DF_ID_BUF];
    int64_t at = df_now_ms() - 60000;
    char *running;
    json_t *logs = NULL, *events = NULL;
    df_error_t err;
    static const char *const want[] = {
        "info|queued (export via connector noop)",
        "info|attempt 1 started on worker w-1",
        "info|progress: 20000 rows, 2 chunks",
        "warn|attempt 1 failed: http: 503 from the platform; retrying in 5000 ms",
        "info|attempt 2 started on worker w-1",
        "info|attempt 2 succeeded: 1000 rows written",
    };
    const size_t nwant = sizeof(want) / sizeof(want[0]);

    df_id_ulid(id);
    free(send_event(id, 1, DF_STATE_QUEUED, at, NULL));
    running = send_event(id, 1, DF_STATE_RUNNING, at + 10, NULL);
    free(send_event(id, 1, DF_STATE_PROGRESS, at + 20,
                    json_pack("{s:{s:i, s:i}}", "progress", "rows", 20000, "chunks", 2)));
    free(send_event(id, 1, DF_STATE_RETRYING, at + 30,
                    json_pack("{s:{s:s, s:s, s:b, s:i}}", "error", "code", "http", "message",
                              "503 from the platform", "retryable", 1, "retry_after_ms", 5000)));
    flush_producer();
    CHECK_INT(wait_scalar("SELECT count(*) FROM task_events WHERE task_id = $1", id, 4), 4);
    /* The `running` event again (a redelivery), then attempt 2. */
    send_msg(events_topic, id, strlen(id), running, strlen(running),
             df_kafka_headers_new(DF_EVENT_SCHEMA, NULL));
    free(running);
    free(send_event(id, 2, DF_STATE_RUNNING, at + 40, NULL));
    free(send_event(id, 2, DF_STATE_SUCCEEDED, at + 50,
                    json_pack("{s:{s:i}}", "result", "rows_written", 1000)));
    flush_producer();
    CHECK_INT(wait_scalar("SELECT count(*) FROM task_events WHERE task_id = $1", id, 6), 6);
    CHECK_INT(wait_scalar("SELECT count(*) FROM task_logs WHERE task_id = $1", id, 6), 6);
    sleep_ms(300);
    CHECK_INT(scalar("SELECT count(*) FROM task_logs WHERE task_id = $1", id), 6);

    df_error_init(&err);
    CHECK(df_task_logs_list(pg, id, 0, 0, 100, &logs, &err) == DF_OK);
    CHECK_INT(json_array_size(logs), nwant);
    for (size_t i = 0; i < nwant && i < json_array_size(logs); i++) {
        json_t *line = json_array_get(logs, i);
        char got[512];
        snprintf(got, sizeof(got), "%s|%s", json_string_value(json_object_get(line, "level")),
                 json_string_value(json_object_get(line, "message")));
        CHECK_STR(got, want[i]);
        CHECK(json_is_string(json_object_get(line, "at")));
        if (i > 0)
            CHECK(json_integer_value(json_object_get(line, "id")) >
                  json_integer_value(json_object_get(json_array_get(logs, i - 1), "id")));
    }
    /* One attempt; then a page after the first line. */
    if (json_array_size(logs) == nwant) {
        json_t *page = NULL;
        int64_t first = json_integer_value(json_object_get(json_array_get(logs, 0), "id"));
        CHECK(df_task_logs_list(pg, id, 2, 0, 100, &page, &err) == DF_OK);
        CHECK_INT(json_array_size(page), 2);
        CHECK_INT(json_integer_value(json_object_get(json_array_get(page, 0), "attempt")), 2);
        json_decref(page);
        CHECK(df_task_logs_list(pg, id, 0, first, 2, &page, &err) == DF_OK);
        CHECK_INT(json_array_size(page), 2);
        CHECK_STR(json_string_value(json_object_get(json_array_get(page, 0), "message")),
                  "attempt 1 started on worker w-1");
        json_decref(page);
    }
    json_decref(logs);
    CHECK_INT(df_task_logs_list(pg, id, 0, 0, 0, &logs, &err), DF_ERR_INVALID);
    df_error_init(&err);
    CHECK(df_task_logs_list(pg, "no-such-task", 0, 0, 10, &logs, &err) == DF_OK);
    CHECK_INT(json_array_size(logs), 0);
    json_decref(logs);

    /* Events in order; a page after the third. */
    CHECK(df_task_events_list(pg, id, NULL, 100, &events, &err) == DF_OK);
    CHECK_INT(json_array_size(events), 6);
    if (json_array_size(events) == 6) {
        static const char *const states[] = { "queued",   "running", "progress",
                                              "retrying", "running", "succeeded" };
        json_t *page = NULL;
        for (int i = 0; i < 6; i++)
            CHECK_STR(
                json_string_value(json_object_get(json_array_get(events, (size_t)i), "state")),
                states[i]);
        CHECK_STR(json_string_value(
                      json_object_get(json_object_get(json_array_get(events, 3), "error"), "code")),
                  "http");
        CHECK(df_task_events_list(
                  pg, id, json_string_value(json_object_get(json_array_get(events, 2), "event_id")),
                  2, &page, &err) == DF_OK);
        CHECK_INT(json_array_size(page), 2);
        CHECK_STR(json_string_value(json_object_get(json_array_get(page, 0), "state")), "retrying");
        json_decref(page);
    }
    json_decref(events);
    df_error_init(&err);
    CHECK_INT(df_task_events_list(pg, id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 10, &events, &err),
              DF_ERR_NOT_FOUND);
}

/* ---- (f) workers --------------------------------------------------------------- */

static void redis_do(const char *fmt, const char *a, const char *b, const char *c)
{
    df_error_t err;
    redisReply *r;

    df_error_init(&err);
    r = df_redis_command(redis, &err, fmt, a, b, c);
    CHECK_MSG(r != NULL, "redis %s: %s", fmt, err.message);
    freeReplyObject(r);
}

static void test_workers_list(void)
{
    char now[24], old[24], started[40];
    json_t *workers = NULL;
    df_error_t err;

    snprintf(now, sizeof(now), "%lld", (long long)df_now_ms());
    snprintf(old, sizeof(old), "%lld", (long long)(df_now_ms() - 120000));
    df_time_format(df_now_ms() - 3600000, started, sizeof(started));
    redis_do("DEL df:workers", NULL, NULL, NULL);
    redis_do("HSET df:worker:w-live started_at %s running %s", started, "3", NULL);
    redis_do("HSET df:worker:w-live version %s types %s", "1.2.3", "export,refresh", NULL);
    redis_do("ZADD df:workers %s %s", now, "w-live", NULL);
    redis_do("HSET df:worker:w-stale started_at %s running %s", started, "0", NULL);
    redis_do("ZADD df:workers %s %s", old, "w-stale", NULL);
    redis_do("ZADD df:workers %s %s", old, "w-gone", NULL); /* killed: its hash expired */

    df_error_init(&err);
    CHECK_MSG(df_workers_list(redis, 15000, &workers, &err) == DF_OK, "%s", err.message);
    CHECK_INT(json_array_size(workers), 3);
    if (json_array_size(workers) == 3) {
        json_t *gone = json_array_get(workers, 0), *live = json_array_get(workers, 1),
               *stale = json_array_get(workers, 2);
        CHECK_STR(json_string_value(json_object_get(gone, "id")), "w-gone");
        CHECK(json_is_true(json_object_get(gone, "gone")));
        CHECK(json_is_true(json_object_get(gone, "stale")));
        CHECK(json_is_null(json_object_get(gone, "running")));
        CHECK_STR(json_string_value(json_object_get(live, "id")), "w-live");
        CHECK(json_is_false(json_object_get(live, "stale")));
        CHECK(json_is_false(json_object_get(live, "gone")));
        CHECK_INT(json_integer_value(json_object_get(live, "running")), 3);
        CHECK_STR(json_string_value(json_object_get(live, "version")), "1.2.3");
        CHECK_STR(json_string_value(json_object_get(live, "types")), "export,refresh");
        CHECK_STR(json_string_value(json_object_get(live, "started_at")), started);
        CHECK(json_integer_value(json_object_get(live, "age_ms")) < 15000);
        CHECK_STR(json_string_value(json_object_get(stale, "id")), "w-stale");
        CHECK(json_is_true(json_object_get(stale, "stale")));
        CHECK(json_is_false(json_object_get(stale, "gone")));
        CHECK(json_integer_value(json_object_get(stale, "age_ms")) >= 120000);
    }
    json_decref(workers);
    CHECK_INT(df_workers_list(redis, 0, &workers, &err), DF_ERR_INVALID);
    redis_do("DEL df:workers df:worker:w-live df:worker:w-stale", NULL, NULL, NULL);
    df_error_init(&err);
    CHECK(df_workers_list(redis, 15000, &workers, &err) == DF_OK);
    CHECK_INT(json_array_size(workers), 0);
    json_decref(workers);
}

/* ---- main ----------------------------------------------------------------- */

static void setup(void)
{
    const char *brokers = df_test_env("DATAFLEET_KAFKA_BROKERS");
    const char *base_redis = df_test_env("DATAFLEET_REDIS_URL");
    const char *base_db = df_test_env("DATAFLEET_DATABASE_URL");
    df_error_t err;
    int applied = 0;
    rd_kafka_t *rk;

    snprintf(log_path, sizeof(log_path), "/tmp/recorder_dlq_test.%d.log", (int)getpid());
    open_log();
    snprintf(prefix, sizeof(prefix), "rdt%d.", (int)getpid());
    snprintf(group, sizeof(group), "rdt%d-recorder", (int)getpid());
    snprintf(group2, sizeof(group2), "rdt%d-recorder-2", (int)getpid());
    snprintf(db_name, sizeof(db_name), "df_recorder_dlq_test_%d", (int)getpid());

    df_error_init(&err);
    admin = df_pg_new(base_db, &err);
    REQUIRE(admin != NULL);
    REQUIRE(database_ddl("DROP DATABASE IF EXISTS", "", &err) == DF_OK);
    if (database_ddl("CREATE DATABASE", "", &err) != DF_OK) {
        fprintf(stderr, "cannot create a scratch database: %s\n", err.message);
        REQUIRE(false);
    }
    df_test_url_with_dbname(base_db, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    REQUIRE(pg != NULL);
    if (df_pg_migrate(pg, NULL, &applied, &err) != DF_OK) {
        fprintf(stderr, "migrate: %s\n", err.message);
        REQUIRE(false);
    }

    redis_url_with_db(base_redis, redis_url, sizeof(redis_url));
    redis = df_redis_new(redis_url, 2000, 5000, &err);
    REQUIRE(redis != NULL);

    df_kafka_config_init(&kcfg);
    snprintf(kcfg.brokers, sizeof(kcfg.brokers), "%s", brokers);
    snprintf(kcfg.prefix, sizeof(kcfg.prefix), "%s", prefix);
    kcfg.partitions = PARTITIONS;
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_EVENTS, events_topic, sizeof(events_topic),
                                &err) == DF_OK);
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_DLQ, dlq_topic, sizeof(dlq_topic), &err) ==
            DF_OK);
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_TASKS_EXPORT, export_topic,
                                sizeof(export_topic), &err) == DF_OK);
    producer = df_kafka_producer_new(&kcfg, NULL, NULL, &err);
    REQUIRE(producer != NULL);
    rk = df_kafka_producer_handle(producer);
    REQUIRE(df_kafka_topics_ensure(rk, &kcfg, 30000, &err) == DF_OK);

    cfg.common.kafka_brokers = (char *)brokers;
    cfg.common.redis_url = redis_url;
    cfg.common.database_url = db_url;
    cfg.common.topic_prefix = prefix;
    cfg.common.partitions = PARTITIONS;
    cfg.recorder_group = group;
    cfg.batch_size = 200;
    cfg.batch_wait_ms = 50;
    cfg2 = cfg;
    cfg2.recorder_group = group2;
}

static void teardown(void)
{
    rd_kafka_t *rk = df_kafka_producer_handle(producer);
    df_error_t err;

    for (int t = 0; t < DF_KAFKA_TOPIC_COUNT; t++) {
        char name[DF_KAFKA_TOPIC_MAX];
        df_error_init(&err);
        if (df_kafka_topic_name(&kcfg, (df_kafka_topic_t)t, name, sizeof(name), &err) == DF_OK &&
            df_kafka_topic_delete(rk, name, 10000, &err) != DF_OK)
            fprintf(stderr, "deleting %s: %s\n", name, err.message);
    }
    df_kafka_producer_destroy(producer);
    redis_do("FLUSHDB", NULL, NULL, NULL);
    df_redis_destroy(redis);
    df_pg_destroy(pg);
    df_error_init(&err);
    if (database_ddl("DROP DATABASE IF EXISTS", " WITH (FORCE)", &err) != DF_OK)
        fprintf(stderr, "dropping %s: %s\n", db_name, err.message);
    df_pg_destroy(admin);
}

int main(void)
{
    int64_t t0 = df_mono_ms();
    int rc;

    df_log_init("recorder_dlq_test", DF_LOG_INFO);
    setup();
    REQUIRE(pthread_create(&recorder_thread, NULL, recorder_main, &cfg) == 0);
    RUN(test_dlq_recorded_once);
    RUN(test_dlq_list_and_get);
    RUN(test_dlq_requeue);
    RUN(test_dlq_purge);
    RUN(test_task_logs);
    RUN(test_workers_list);

    df_program_request_stop();
    pthread_join(recorder_thread, NULL);
    pthread_join(recorder2_thread, NULL);
    CHECK_INT(recorder_rc, DF_EXIT_OK);
    CHECK_INT(recorder2_rc, DF_EXIT_OK);

    teardown();
    fprintf(stderr, "recorder_dlq_test: %lld ms (recorder log: %s)\n",
            (long long)(df_mono_ms() - t0), log_path);
    rc = df_test_done();
    if (rc == 0)
        unlink(log_path);
    else
        show_log_problems();
    return rc;
}
