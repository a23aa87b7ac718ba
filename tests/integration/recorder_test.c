/* recorder_test: the scheduler's recorder role against the real Kafka,
 * Redis and PostgreSQL. One recorder session (df_program_request_stop is
 * process-wide and one-way) on a scratch database, a topic prefix of its
 * own and Redis db 9, through which:
 *   (a) 1,000 tasks x (queued, running, succeeded), with 100 duplicated
 *       messages and 100 tasks whose `succeeded` comes before `running`,
 *       end as 1,000 succeeded rows with the task message's columns and
 *       3,000 task_events rows;
 *   (b) a late `running` does not reopen a finished task; `retrying` then
 *       attempt 2 ends succeeded at attempt 2 (across batches and within
 *       one); progress totals never go down and never change the state;
 *   (c) a message that is not JSON, one that fails the event schema and
 *       one with another schema header are skipped (logged with partition
 *       and offset), and the valid event after them on the same partition
 *       is recorded; so are the events around one PostgreSQL refuses;
 *   (e) a `retrying` event carrying the next attempt's task, and a
 *       `progress` event handing off a poll (its task has `poll`), become
 *       delayed_tasks rows due retry_after_ms / poll.after_ms after `at`;
 *       the same event recorded again schedules nothing more, even once
 *       the row is gone (published); a carried task that is invalid or
 *       another task's schedules nothing, and its event is still recorded;
 *   (d) df:task:{id} deleted comes back with the next event of the task; a
 *       newer hash is left alone, an older one is replaced; after FLUSHDB
 *       the epoch check restores the hashes of the recent tasks;
 * and at the end the recorder stops cleanly with every offset committed.
 * Start-up with a bad configuration fails at once. */
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
#include "df_task.h"
#include "df_test.h"
#include "df_test_pg.h"
#include "roles.h"

#define TASKS       1000
#define PARTITIONS  3
#define REDIS_DB    "9"
#define WAIT_MS     60000
#define TASK_KEEP_S (3 * 24 * 3600)

static char prefix[64], topic[DF_KAFKA_TOPIC_MAX], group[96];
static char db_name[64], db_url[2048], redis_url[1024], log_path[256];
static df_scheduler_config_t cfg;
static df_kafka_config_t kcfg;
static df_kafka_producer_t *producer;
static df_pg_t *admin, *pg;
static df_redis_t *redis;
static int64_t base_ms; /* event times start here */
static char task_ids[TASKS][DF_ID_BUF];
static char *succeeded_events[TASKS]; /* the JSON text sent, for resending */

/* ---- helpers -------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The Redis URL of the stack with db REDIS_DB instead of its own. */
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

/* CREATE/DROP DATABASE take an identifier, not a value. */
static df_code_t database_ddl(const char *verb, const char *suffix, df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, db_name, err);
    char ddl[256];
    df_code_t rc;

    if (!quoted)
        return err->code;
    snprintf(ddl, sizeof(ddl), "%s %s%s", verb, quoted, suffix);
    free(quoted);
    rc = df_pg_run(admin, ddl, 0, NULL, NULL, err);
    return rc;
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

/* Poll scalar(sql, param) until it is `want` or WAIT_MS passed; returns the
 * last value. */
static long long wait_scalar(const char *sql, const char *param, long long want)
{
    int64_t deadline = df_mono_ms() + WAIT_MS;
    long long v;

    while ((v = scalar(sql, param)) != want && df_mono_ms() < deadline)
        sleep_ms(50);
    return v;
}

static long long events_of(const char *task_id, long long want)
{
    return wait_scalar("SELECT count(*) FROM task_events WHERE task_id = $1", task_id, want);
}

/* One column of a task's row as text ("" for NULL, "(none)" without row). */
static void task_column(const char *task_id, const char *sql, char *out, size_t len)
{
    const char *params[1] = { task_id };
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

#define STATE_SQL    "SELECT state || '/' || attempt FROM tasks WHERE task_id = $1"
#define FINISHED_SQL "SELECT finished_at::text FROM tasks WHERE task_id = $1"

static void check_state(const char *task_id, const char *want)
{
    char got[64];
    task_column(task_id, STATE_SQL, got, sizeof(got));
    CHECK_MSG(strcmp(got, want) == 0, "task %s: %s, expected %s", task_id, got, want);
}

static void at_text(int64_t ms, char *buf)
{
    df_time_format(ms, buf, 40);
}

/* A new event (caller json_decref). */
static json_t *event(const char *task_id, int attempt, const char *state, int64_t at_ms)
{
    char id[DF_ID_BUF], at[40];

    df_id_ulid(id);
    at_text(at_ms, at);
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "event_id", id, "task_id", task_id,
                     "attempt", attempt, "state", state, "at", at, "worker", "recorder-test-worker",
                     "type", "export", "connector", "noop");
}

/* The task message carried by queued/retrying events. */
static json_t *task_message(const char *task_id, int attempt)
{
    char at[40];

    at_text(base_ms, at);
    return json_pack("{s:s, s:s, s:s, s:{}, s:i, s:i, s:s, s:s, s:{s:s}}", "task_id", task_id,
                     "type", "export", "connector", "noop", "params", "attempt", attempt,
                     "max_attempts", 3, "submitted_at", at, "submitted_by", "recorder_test",
                     "labels", "suite", "recorder");
}

static void send_raw(const char *key, const char *schema, const char *value)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_kafka_producer_send(producer, topic, key, strlen(key), value, strlen(value),
                                     df_kafka_headers_new(schema, NULL), NULL, &err) == DF_OK,
              "send: %s", err.message);
}

/* Send ev (stolen); returns its JSON text when keep (caller frees). */
static char *send_event(json_t *ev, bool keep)
{
    char *text = json_dumps(ev, JSON_COMPACT);

    REQUIRE(text != NULL);
    send_raw(json_string_value(json_object_get(ev, "task_id")), DF_EVENT_SCHEMA, text);
    json_decref(ev);
    if (keep)
        return text;
    free(text);
    return NULL;
}

static void flush_producer(void)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_kafka_producer_flush(producer, 30000, &err) == DF_OK, "flush: %s", err.message);
}

static redisReply *redis_cmd(const char *fmt, const char *a, const char *b)
{
    df_error_t err;
    redisReply *r;

    df_error_init(&err);
    r = df_redis_command(redis, &err, fmt, a, b);
    CHECK_MSG(r != NULL, "redis %s: %s", fmt, err.message);
    return r;
}

static void hash_field(const char *task_id, const char *field, char *out, size_t len)
{
    char key[128];
    redisReply *r;

    snprintf(key, sizeof(key), "df:task:%s", task_id);
    r = redis_cmd("HGET %s %s", key, field);
    snprintf(out, len, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    freeReplyObject(r);
}

static long long redis_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redis_cmd(fmt, a, b);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* The recorder's log lines go to log_path, for log_has. */
static void open_log(void)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

    REQUIRE(fd >= 0);
    df_log_set_fd(fd);
}

/* On failure: the warnings and errors of the log, to see why. */
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

static bool log_has(const char *needle)
{
    FILE *f = fopen(log_path, "r");
    char line[4096];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* ---- the recorder on a thread --------------------------------------------- */

static pthread_t recorder_thread;
static int recorder_rc = -1;

static void *recorder_main(void *arg)
{
    recorder_rc = df_role_recorder_run(arg);
    return NULL;
}

/* ---- cases ---------------------------------------------------------------- */

static void test_bad_config_fails_at_start(void)
{
    df_scheduler_config_t bad = cfg;
    int64_t t0 = df_mono_ms();

    bad.common.topic_prefix = "bad prefix!";
    CHECK_INT(df_role_recorder_run(&bad), DF_EXIT_FAILURE);
    bad = cfg;
    bad.common.redis_url = "rediss://127.0.0.1:1/0";
    CHECK_INT(df_role_recorder_run(&bad), DF_EXIT_FAILURE);
    bad = cfg;
    bad.batch_size = 0;
    CHECK_INT(df_role_recorder_run(&bad), DF_EXIT_FAILURE);
    bad = cfg;
    bad.common.database_url = "postgresql://[::1";
    CHECK_INT(df_role_recorder_run(&bad), DF_EXIT_FAILURE);
    CHECK_MSG(df_mono_ms() - t0 < 10000, "bad configurations took %lld ms",
              (long long)(df_mono_ms() - t0));
    CHECK(log_has("recorder: cannot start"));
}

static void test_thousand_tasks(void)
{
    int64_t t0 = df_mono_ms();

    for (int i = 0; i < TASKS; i++) {
        const char *id = task_ids[i];
        int64_t at = base_ms + i * 10;
        json_t *queued = event(id, 1, DF_STATE_QUEUED, at);
        json_t *running = event(id, 1, DF_STATE_RUNNING, at + 1);
        json_t *done = event(id, 1, DF_STATE_SUCCEEDED, at + 2);
        char *running_text;

        json_object_set_new(queued, "task", task_message(id, 1));
        json_object_set_new(done, "result", json_pack("{s:i}", "rows", i));
        json_object_set_new(done, "progress",
                            json_pack("{s:i, s:i, s:i}", "rows", i, "bytes", i * 100, "chunks", 1));
        send_event(queued, false);
        if (i % 10 == 0) { /* out of order: the outcome first */
            succeeded_events[i] = send_event(done, true);
            running_text = send_event(running, true);
        } else {
            running_text = send_event(running, true);
            succeeded_events[i] = send_event(done, true);
        }
        if (i % 10 == 5) /* at-least-once delivery: the same message twice */
            send_raw(id, DF_EVENT_SCHEMA, running_text);
        free(running_text);
    }
    flush_producer();

    CHECK_INT(wait_scalar("SELECT count(*) FROM task_events", NULL, 3 * TASKS), 3 * TASKS);
    CHECK_INT(wait_scalar("SELECT count(*) FROM tasks WHERE state = 'succeeded'", NULL, TASKS),
              TASKS);
    fprintf(stderr, "recorded %d events of %d tasks in %lld ms\n", 3 * TASKS, TASKS,
            (long long)(df_mono_ms() - t0));
    CHECK_INT(scalar("SELECT count(*) FROM tasks", NULL), TASKS);
    /* Every column the events and task messages fill. */
    CHECK_INT(scalar("SELECT count(*) FROM tasks WHERE attempt = 1 AND type = 'export'"
                     " AND connector = 'noop' AND worker = 'recorder-test-worker'"
                     " AND submitted_by = 'recorder_test' AND submitted_at IS NOT NULL"
                     " AND max_attempts = 3 AND labels = '{\"suite\": \"recorder\"}'"
                     " AND task->>'task_id' = task_id AND started_at < finished_at"
                     " AND finished_at = last_event_at AND updated_at = finished_at"
                     " AND (result->>'rows')::int = (progress->>'rows')::int"
                     " AND error_code IS NULL",
                     NULL),
              TASKS);
    CHECK_INT(
        scalar("SELECT count(DISTINCT task_id) FROM task_events WHERE state = 'running'", NULL),
        TASKS);
    /* Duplicates stay out, a moment later too. */
    sleep_ms(500);
    CHECK_INT(scalar("SELECT count(*) FROM task_events", NULL), 3 * TASKS);
}

static void test_late_running_keeps_finished(void)
{
    char id[DF_ID_BUF], finished[64], again[64];
    int64_t at = base_ms + 20000;

    df_id_ulid(id);
    send_event(event(id, 1, DF_STATE_QUEUED, at), false);
    send_event(event(id, 1, DF_STATE_RUNNING, at + 10), false);
    send_event(event(id, 1, DF_STATE_SUCCEEDED, at + 20), false);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    check_state(id, "succeeded/1");
    task_column(id, FINISHED_SQL, finished, sizeof(finished));

    /* A redelivered run reports `running` later, by a later clock. */
    send_event(event(id, 1, DF_STATE_RUNNING, at + 5000), false);
    flush_producer();
    CHECK_INT(events_of(id, 4), 4);
    check_state(id, "succeeded/1");
    task_column(id, FINISHED_SQL, again, sizeof(again));
    CHECK_STR(again, finished);
}

static json_t *retrying_event(const char *id, int64_t at)
{
    json_t *ev = event(id, 1, DF_STATE_RETRYING, at);
    json_object_set_new(ev, "error",
                        json_pack("{s:s, s:s, s:b, s:i}", "code", "http", "message",
                                  "503 from the platform", "retryable", 1, "retry_after_ms", 10));
    json_object_set_new(ev, "task", task_message(id, 2));
    return ev;
}

static void test_retry_ends_at_attempt_two(void)
{
    char id[DF_ID_BUF], code[64], id2[DF_ID_BUF];
    int64_t at = base_ms + 30000;
    char *retrying_text;

    df_id_ulid(id);
    /* One step at a time: each lands in its own batch. */
    send_event(event(id, 1, DF_STATE_QUEUED, at), false);
    send_event(event(id, 1, DF_STATE_RUNNING, at + 10), false);
    flush_producer();
    CHECK_INT(events_of(id, 2), 2);
    check_state(id, "running/1");
    retrying_text = send_event(retrying_event(id, at + 20), true);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    check_state(id, "retrying/1");
    task_column(id, "SELECT error_code FROM tasks WHERE task_id = $1", code, sizeof(code));
    CHECK_STR(code, "http");
    send_event(event(id, 2, DF_STATE_QUEUED, at + 40), false);
    send_event(event(id, 2, DF_STATE_RUNNING, at + 50), false);
    flush_producer();
    CHECK_INT(events_of(id, 5), 5);
    check_state(id, "running/2");
    task_column(id, FINISHED_SQL, code, sizeof(code));
    CHECK_STR(code, "");
    send_event(event(id, 2, DF_STATE_SUCCEEDED, at + 60), false);
    flush_producer();
    CHECK_INT(events_of(id, 6), 6);
    check_state(id, "succeeded/2");
    /* Late news of attempt 1 changes nothing. */
    send_raw(id, DF_EVENT_SCHEMA, retrying_text);
    send_event(event(id, 1, DF_STATE_RUNNING, at + 70), false);
    flush_producer();
    CHECK_INT(events_of(id, 7), 7);
    check_state(id, "succeeded/2");
    free(retrying_text);

    /* The same story in one batch, with the late `running` in it. */
    df_id_ulid(id2);
    send_event(event(id2, 1, DF_STATE_QUEUED, at), false);
    send_event(event(id2, 1, DF_STATE_RUNNING, at + 10), false);
    send_event(retrying_event(id2, at + 20), false);
    send_event(event(id2, 2, DF_STATE_RUNNING, at + 50), false);
    send_event(event(id2, 2, DF_STATE_SUCCEEDED, at + 60), false);
    send_event(event(id2, 1, DF_STATE_RUNNING, at + 70), false);
    flush_producer();
    CHECK_INT(events_of(id2, 6), 6);
    check_state(id2, "succeeded/2");
    task_column(id2, "SELECT task->>'attempt' FROM tasks WHERE task_id = $1", code, sizeof(code));
    CHECK_STR(code, "2");
}

static json_t *progress_event(const char *id, int64_t at, int rows)
{
    json_t *ev = event(id, 1, DF_STATE_PROGRESS, at);
    json_object_set_new(
        ev, "progress",
        json_pack("{s:i, s:i, s:i}", "rows", rows, "bytes", rows * 10, "chunks", rows / 10));
    return ev;
}

static void test_progress(void)
{
    char id[DF_ID_BUF], rows[32];
    int64_t at = base_ms + 40000;
    const char *rows_sql = "SELECT progress->>'rows' FROM tasks WHERE task_id = $1";

    df_id_ulid(id);
    send_event(event(id, 1, DF_STATE_RUNNING, at), false);
    send_event(progress_event(id, at + 10, 10), false);
    send_event(progress_event(id, at + 20, 20), false);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    check_state(id, "running/1");
    task_column(id, rows_sql, rows, sizeof(rows));
    CHECK_STR(rows, "20");
    /* An older total, recorded late, does not win. */
    send_event(progress_event(id, at + 15, 15), false);
    flush_producer();
    CHECK_INT(events_of(id, 4), 4);
    task_column(id, rows_sql, rows, sizeof(rows));
    CHECK_STR(rows, "20");
    check_state(id, "running/1");
    send_event(event(id, 1, DF_STATE_SUCCEEDED, at + 30), false);
    /* Late, after the end: no effect on the state; a larger total is
     * still news about the attempt. */
    send_event(progress_event(id, at + 25, 25), false);
    flush_producer();
    CHECK_INT(events_of(id, 6), 6);
    check_state(id, "succeeded/1");
    task_column(id, rows_sql, rows, sizeof(rows));
    CHECK_STR(rows, "25");

    /* A bare `progress` (no totals) as the first news of a task. */
    df_id_ulid(id);
    send_event(event(id, 1, DF_STATE_PROGRESS, at), false);
    flush_producer();
    CHECK_INT(events_of(id, 1), 1);
    check_state(id, "running/1");
}

static void test_invalid_messages_skipped(void)
{
    char id[DF_ID_BUF], bad_id[DF_ID_BUF], at[40];
    char text[512];

    df_id_ulid(id);
    df_id_ulid(bad_id);
    at_text(base_ms + 50000, at);
    /* All keyed by the same task: the same partition, before the valid one. */
    send_raw(id, DF_EVENT_SCHEMA, "this is not JSON {");
    snprintf(text, sizeof(text),
             "{\"event_id\":\"%s\",\"task_id\":\"%s\",\"attempt\":1,\"state\":\"exploded\","
             "\"at\":\"%s\",\"worker\":\"w\"}",
             bad_id, id, at);
    send_raw(id, DF_EVENT_SCHEMA, text);
    snprintf(text, sizeof(text),
             "{\"event_id\":\"%s\",\"task_id\":\"%s\",\"attempt\":1,\"state\":\"failed\","
             "\"at\":\"%s\",\"worker\":\"w\"}",
             bad_id, id, at); /* failed without error */
    send_raw(id, DF_EVENT_SCHEMA, text);
    send_raw(id, DF_TASK_SCHEMA, "{\"task_id\":\"x\"}");
    send_event(event(id, 1, DF_STATE_QUEUED, base_ms + 50010), false);
    flush_producer();
    CHECK_INT(events_of(id, 1), 1);
    check_state(id, "queued/1");
    CHECK_INT(scalar("SELECT count(*) FROM task_events WHERE event_id = $1", bad_id), 0);
    CHECK(log_has("not JSON"));
    /* (not the schema's full name: the stack's password, "datafleet", is
     * redacted from every log line) */
    CHECK(log_has("not a valid"));
    CHECK(log_has("missing required property"));
    CHECK(log_has("schema header"));
    CHECK(log_has("\"partition\":"));
    CHECK(log_has("\"offset\":"));
}

/* An event PostgreSQL refuses (here: a CHECK the test adds) is dropped,
 * logged; the events around it on its partition are recorded. */
static void test_refused_event_skipped(void)
{
    char id[DF_ID_BUF];
    json_t *poison;
    df_error_t err;
    int64_t at = base_ms + 55000;

    df_error_init(&err);
    CHECK_MSG(df_pg_run(pg,
                        "ALTER TABLE task_events ADD CONSTRAINT recorder_test_poison"
                        " CHECK (worker <> 'poison')",
                        0, NULL, NULL, &err) == DF_OK,
              "%s", err.message);
    df_id_ulid(id);
    send_event(event(id, 1, DF_STATE_QUEUED, at), false);
    poison = event(id, 1, DF_STATE_RUNNING, at + 10);
    json_object_set_new(poison, "worker", json_string("poison"));
    send_event(poison, false);
    send_event(event(id, 1, DF_STATE_RUNNING, at + 20), false);
    send_event(event(id, 1, DF_STATE_SUCCEEDED, at + 30), false);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    check_state(id, "succeeded/1");
    CHECK(log_has("refused by PostgreSQL"));
    CHECK(!log_has("PostgreSQL unavailable")); /* dropped, not retried forever */
    CHECK_MSG(df_pg_run(pg, "ALTER TABLE task_events DROP CONSTRAINT recorder_test_poison", 0, NULL,
                        NULL, &err) == DF_OK,
              "%s", err.message);
}

static void test_redis_hash_restored_by_next_event(void)
{
    const char *gone = task_ids[3], *newer = task_ids[4], *older = task_ids[6];
    char key[128], value[256], future[40], past[40];

    /* The batches of test_thousand_tasks wrote every hash (none existed). */
    hash_field(task_ids[0], "state", value, sizeof(value));
    CHECK_STR(value, "succeeded");
    snprintf(key, sizeof(key), "df:task:%s", task_ids[0]);
    CHECK(redis_int("TTL %s", key, NULL) > TASK_KEEP_S - 600);
    CHECK(redis_int("TTL %s", key, NULL) <= TASK_KEEP_S);

    /* Lost: the next event of the task (here the same event again) brings
     * it back. */
    snprintf(key, sizeof(key), "df:task:%s", gone);
    CHECK_INT(redis_int("DEL %s", key, NULL), 1);
    send_raw(gone, DF_EVENT_SCHEMA, succeeded_events[3]);
    /* A worker already runs attempt 2 of `newer`: its hash stays. */
    at_text(df_now_ms() + 3600 * 1000, future);
    snprintf(key, sizeof(key), "df:task:%s", newer);
    freeReplyObject(redis_cmd("HSET %s state running", key, NULL));
    freeReplyObject(redis_cmd("HSET %s attempt 2", key, NULL));
    freeReplyObject(redis_cmd("HSET %s updated_at %s", key, future));
    send_event(event(newer, 1, DF_STATE_RUNNING, base_ms + 60000), false);
    /* An older live state of `older` is replaced by the recorded end. */
    at_text(base_ms, past);
    snprintf(key, sizeof(key), "df:task:%s", older);
    freeReplyObject(redis_cmd("HSET %s state running", key, NULL));
    freeReplyObject(redis_cmd("PERSIST %s", key, NULL));
    freeReplyObject(redis_cmd("HSET %s updated_at %s", key, past));
    send_event(event(older, 1, DF_STATE_RUNNING, base_ms + 60000), false);
    flush_producer();

    CHECK_INT(events_of(newer, 4), 4);
    CHECK_INT(events_of(older, 4), 4);
    sleep_ms(500); /* the hashes are written right after the batch's COMMIT */
    snprintf(key, sizeof(key), "df:task:%s", gone);
    for (int i = 0; i < 100 && redis_int("EXISTS %s", key, NULL) != 1; i++)
        sleep_ms(100);
    hash_field(gone, "state", value, sizeof(value));
    CHECK_STR(value, "succeeded");
    hash_field(gone, "attempt", value, sizeof(value));
    CHECK_STR(value, "1");
    hash_field(gone, "result", value, sizeof(value));
    CHECK_STR(value, "{\"rows\": 3}");
    hash_field(gone, "connector", value, sizeof(value));
    CHECK_STR(value, "noop");
    hash_field(gone, "finished_at", value, sizeof(value));
    CHECK(strlen(value) == 24 && value[23] == 'Z');
    CHECK(redis_int("TTL %s", key, NULL) > TASK_KEEP_S - 600);

    hash_field(newer, "state", value, sizeof(value));
    CHECK_STR(value, "running");
    hash_field(newer, "attempt", value, sizeof(value));
    CHECK_STR(value, "2");
    hash_field(older, "state", value, sizeof(value));
    CHECK_STR(value, "succeeded");
    snprintf(key, sizeof(key), "df:task:%s", older);
    CHECK(redis_int("TTL %s", key, NULL) > 0);
}

static void test_redis_flushed_is_restored(void)
{
    const char **argv = calloc(TASKS + 1, sizeof(char *));
    char(*keys)[64] = calloc(TASKS, 64);
    df_error_t err;
    redisReply *r;
    long long present = -1;
    int64_t t0, deadline;
    char value[64];

    REQUIRE(argv && keys);
    CHECK_INT(redis_int("EXISTS %s", "df:recorder:epoch", NULL), 1);
    freeReplyObject(redis_cmd("FLUSHDB", NULL, NULL));
    t0 = df_mono_ms();
    deadline = t0 + WAIT_MS;
    argv[0] = "EXISTS";
    for (int i = 0; i < TASKS; i++) {
        snprintf(keys[i], 64, "df:task:%.36s", task_ids[i]);
        argv[i + 1] = keys[i];
    }
    while (df_mono_ms() < deadline) {
        df_error_init(&err);
        r = df_redis_commandv(redis, TASKS + 1, argv, NULL, &err);
        present = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (present == TASKS && redis_int("EXISTS %s", "df:recorder:epoch", NULL) == 1)
            break;
        sleep_ms(100);
    }
    fprintf(stderr, "hashes restored %lld ms after FLUSHDB\n", (long long)(df_mono_ms() - t0));
    CHECK_INT(present, TASKS);
    CHECK_INT(redis_int("EXISTS %s", "df:recorder:epoch", NULL), 1);
    hash_field(task_ids[TASKS - 1], "state", value, sizeof(value));
    CHECK_STR(value, "succeeded");
    CHECK(redis_int("TTL %s", keys[TASKS - 1], NULL) > TASK_KEEP_S - 600);
    CHECK(log_has("df:recorder:epoch is missing"));
    free(argv);
    free(keys);
}

#define DELAYED_SQL                                                                          \
    "SELECT attempt || '/' || poll_seq || '/' || reason || '/' ||"                           \
    " (extract(epoch FROM due_at) * 1000)::bigint - $2::bigint || '/' || (task->>'attempt')" \
    " FROM delayed_tasks WHERE task_id = $1 ORDER BY attempt, poll_seq"

/* The task's delayed rows, "attempt/poll_seq/reason/due_at - at_ms/task
 * attempt" each, joined by spaces. */
static void delayed_rows(const char *task_id, int64_t at_ms, char *out, size_t len)
{
    char at[24];
    const char *params[2] = { task_id, at };
    df_error_t err;
    PGresult *res;
    size_t used = 0;

    snprintf(at, sizeof(at), "%lld", (long long)at_ms);
    df_error_init(&err);
    res = df_pg_exec(pg, DELAYED_SQL, 2, params, &err);
    CHECK_MSG(res != NULL, "%s", err.message);
    out[0] = '\0';
    for (int i = 0; res && i < PQntuples(res) && used < len; i++)
        used +=
            (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "", PQgetvalue(res, i, 0));
    PQclear(res);
}

static json_t *poll_handoff_event(const char *id, int64_t at, int seq, int after_ms)
{
    json_t *ev = event(id, 1, DF_STATE_PROGRESS, at);
    json_t *task = task_message(id, 1);
    char since[40];

    at_text(at - 1000, since);
    json_object_set_new(task, "poll",
                        json_pack("{s:{s:s}, s:i, s:i, s:s}", "job", "job_id", "J1", "seq", seq,
                                  "after_ms", after_ms, "since", since));
    json_object_set_new(ev, "progress", json_pack("{s:i}", "polls", seq - 1));
    json_object_set_new(ev, "task", task);
    return ev;
}

static void test_delayed_rows(void)
{
    char id[DF_ID_BUF], other[DF_ID_BUF], rows[256];
    int64_t at = base_ms + 50000;
    char *retrying_text, *handoff_text;
    json_t *ev;
    const char *params[1];

    df_id_ulid(id);
    retrying_text = send_event(retrying_event(id, at), true);
    flush_producer();
    CHECK_INT(events_of(id, 1), 1);
    delayed_rows(id, at, rows, sizeof(rows));
    CHECK_STR(rows, "2/0/http/10/2");

    /* Recorded again (a worker re-sends it): still one row... */
    send_raw(id, DF_EVENT_SCHEMA, retrying_text);
    send_event(event(id, 1, DF_STATE_RUNNING, at - 10), false); /* a marker after it */
    flush_producer();
    CHECK_INT(events_of(id, 2), 2);
    delayed_rows(id, at, rows, sizeof(rows));
    CHECK_STR(rows, "2/0/http/10/2");
    /* ...and none once the row was published (deleted). */
    params[0] = id;
    {
        df_error_t err;
        df_error_init(&err);
        CHECK(df_pg_run(pg, "DELETE FROM delayed_tasks WHERE task_id = $1", 1, params, NULL,
                        &err) == DF_OK);
    }
    send_raw(id, DF_EVENT_SCHEMA, retrying_text);
    send_event(event(id, 2, DF_STATE_QUEUED, at + 20), false);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    delayed_rows(id, at, rows, sizeof(rows));
    CHECK_STR(rows, "");
    free(retrying_text);

    /* A poll hand-off: same attempt, its poll's seq, due after_ms later;
     * twice in one batch: one row. A progress event without a task: none. */
    df_id_ulid(id);
    send_event(event(id, 1, DF_STATE_RUNNING, at), false);
    handoff_text = send_event(poll_handoff_event(id, at + 100, 3, 5000), true);
    send_raw(id, DF_EVENT_SCHEMA, handoff_text);
    send_event(progress_event(id, at + 200, 10), false);
    flush_producer();
    CHECK_INT(events_of(id, 3), 3);
    delayed_rows(id, at + 100, rows, sizeof(rows));
    CHECK_STR(rows, "1/3/poll/5000/1");
    check_state(id, "running/1");
    free(handoff_text);

    /* Another task's message, and an invalid one: no row; events kept. */
    df_id_ulid(id);
    df_id_ulid(other);
    ev = retrying_event(id, at);
    json_object_set_new(ev, "task", task_message(other, 2));
    send_event(ev, false);
    ev = retrying_event(id, at + 10);
    json_object_del(json_object_get(ev, "task"), "params");
    send_event(ev, false);
    flush_producer();
    CHECK_INT(events_of(id, 2), 2);
    delayed_rows(id, at, rows, sizeof(rows));
    CHECK_STR(rows, "");
    CHECK(log_has("no re-publish"));
}

/* After the stop, the group's committed offsets are the end of each
 * partition: everything read was recorded and acknowledged. */
static void test_offsets_committed(void)
{
    df_kafka_consumer_t *c;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    df_error_t err;

    df_error_init(&err);
    c = df_kafka_consumer_new(&kcfg, group, NULL, NULL, &err);
    REQUIRE(c != NULL);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    CHECK_INT(rd_kafka_committed(df_kafka_consumer_handle(c), parts, 10000), 0);
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t low = -1, high = -1;
        rd_kafka_query_watermark_offsets(df_kafka_consumer_handle(c), topic, p, &low, &high, 10000);
        CHECK_MSG(parts->elems[p].offset == high, "partition %d: committed %lld, end %lld", p,
                  (long long)parts->elems[p].offset, (long long)high);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    df_kafka_consumer_destroy(c);
}

/* ---- main ----------------------------------------------------------------- */

static void setup(void)
{
    const char *brokers = df_test_env("DATAFLEET_KAFKA_BROKERS");
    const char *base_redis = df_test_env("DATAFLEET_REDIS_URL");
    const char *base_db = df_test_env("DATAFLEET_DATABASE_URL");
    df_error_t err;
    int applied = 0;

    snprintf(log_path, sizeof(log_path), "/tmp/recorder_test.%d.log", (int)getpid());
    open_log();
    snprintf(prefix, sizeof(prefix), "rt%d.", (int)getpid());
    snprintf(group, sizeof(group), "rt%d-recorder", (int)getpid());
    snprintf(db_name, sizeof(db_name), "df_recorder_test_%d", (int)getpid());
    base_ms = df_now_ms() - 120000;
    for (int i = 0; i < TASKS; i++)
        df_id_ulid(task_ids[i]);

    df_error_init(&err);
    admin = df_pg_new(base_db, &err);
    REQUIRE(admin != NULL);
    REQUIRE(database_ddl("DROP DATABASE IF EXISTS", "", &err) == DF_OK);
    if (database_ddl("CREATE DATABASE", "", &err) != DF_OK) {
        fprintf(stderr,
                "cannot create a scratch database (the datafleet role needs CREATEDB): "
                "%s\n",
                err.message);
        REQUIRE(false);
    }
    df_test_url_with_dbname(base_db, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    REQUIRE(pg != NULL);
    REQUIRE(df_pg_migrate(pg, NULL, &applied, &err) == DF_OK);

    redis_url_with_db(base_redis, redis_url, sizeof(redis_url));
    redis = df_redis_new(redis_url, 2000, 5000, &err);
    REQUIRE(redis != NULL);
    freeReplyObject(redis_cmd("FLUSHDB", NULL, NULL));

    df_kafka_config_init(&kcfg);
    snprintf(kcfg.brokers, sizeof(kcfg.brokers), "%s", brokers);
    snprintf(kcfg.prefix, sizeof(kcfg.prefix), "%s", prefix);
    kcfg.partitions = PARTITIONS;
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_EVENTS, topic, sizeof(topic), &err) == 0);
    producer = df_kafka_producer_new(&kcfg, NULL, NULL, &err);
    REQUIRE(producer != NULL);
    REQUIRE(df_kafka_topic_create(df_kafka_producer_handle(producer), topic, PARTITIONS, -1, 30000,
                                  NULL, &err) == DF_OK);

    cfg.common.kafka_brokers = (char *)brokers;
    cfg.common.redis_url = redis_url;
    cfg.common.database_url = db_url;
    cfg.common.topic_prefix = prefix;
    cfg.common.partitions = PARTITIONS;
    cfg.recorder_group = group;
    cfg.batch_size = 200;
    cfg.batch_wait_ms = 50;
}

static void teardown(void)
{
    df_error_t err;

    df_error_init(&err);
    if (df_kafka_topic_delete(df_kafka_producer_handle(producer), topic, 10000, &err) != DF_OK)
        fprintf(stderr, "deleting %s: %s\n", topic, err.message);
    {
        /* the recorder created its DLQ topic too */
        char dlq[DF_KAFKA_TOPIC_MAX];
        df_error_init(&err);
        if (df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_DLQ, dlq, sizeof(dlq), &err) == DF_OK &&
            df_kafka_topic_delete(df_kafka_producer_handle(producer), dlq, 10000, &err) != DF_OK)
            fprintf(stderr, "deleting %s: %s\n", dlq, err.message);
    }
    df_kafka_producer_destroy(producer);
    freeReplyObject(redis_cmd("FLUSHDB", NULL, NULL));
    df_redis_destroy(redis);
    df_pg_destroy(pg);
    if (database_ddl("DROP DATABASE IF EXISTS", " WITH (FORCE)", &err) != DF_OK)
        fprintf(stderr, "dropping %s: %s\n", db_name, err.message);
    df_pg_destroy(admin);
    for (int i = 0; i < TASKS; i++)
        free(succeeded_events[i]);
}

int main(void)
{
    int64_t t0 = df_mono_ms();
    int rc;

    df_log_init("recorder_test", DF_LOG_INFO);
    setup();
    RUN(test_bad_config_fails_at_start);

    REQUIRE(pthread_create(&recorder_thread, NULL, recorder_main, &cfg) == 0);
    RUN(test_thousand_tasks);
    RUN(test_late_running_keeps_finished);
    RUN(test_retry_ends_at_attempt_two);
    RUN(test_progress);
    RUN(test_delayed_rows);
    RUN(test_invalid_messages_skipped);
    RUN(test_refused_event_skipped);
    RUN(test_redis_hash_restored_by_next_event);
    RUN(test_redis_flushed_is_restored);

    df_program_request_stop();
    pthread_join(recorder_thread, NULL);
    CHECK_INT(recorder_rc, DF_EXIT_OK);
    RUN(test_offsets_committed);

    teardown();
    fprintf(stderr, "recorder_test: %lld ms (recorder log: %s)\n", (long long)(df_mono_ms() - t0),
            log_path);
    rc = df_test_done();
    if (rc == 0)
        unlink(log_path);
    else
        show_log_problems();
    return rc;
}
