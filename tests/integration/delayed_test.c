/* delayed_test: the cron role's delayed re-publishes (scheduler/delayed.c)
 * against the real Kafka and PostgreSQL. The role runs on a thread, on a
 * scratch database and a topic prefix of its own; rows are put in
 * delayed_tasks directly (as the recorder does):
 *   (a) rows already due are published to their type's topic (with their
 *       `queued` event) and deleted; a retry and a poll of one task are two
 *       rows, published as they are (attempt, poll);
 *   (b) a row due in two seconds waits until it is due, then goes;
 *   (c) a row another transaction holds (a leader that is mid-tick, or
 *       died mid-tick without committing) is skipped, not published twice,
 *       and goes once that transaction ends without deleting it: a crash
 *       between publishing and COMMIT leaves the row for the next tick;
 *   (d) a row whose task cannot be published (not a valid task message) is
 *       dropped with an error, and does not hold the others back;
 *   (e) more due rows than --publish-batch all go, batch after batch. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_id.h"
#include "df_kafka.h"
#include "df_kafka_consumer.h"
#include "df_kafka_producer.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_program.h"
#include "df_task.h"
#include "df_test.h"
#include "df_test_pg.h"
#include "roles.h"

#define PARTITIONS 2
#define WAIT_MS    30000
#define MANY       25

static char prefix[64], db_name[64], db_url[2048], topics[2][DF_KAFKA_TOPIC_MAX];
static df_scheduler_config_t cfg;
static df_kafka_config_t kcfg;
static df_kafka_consumer_t *consumer;
static df_pg_t *admin, *pg;
static json_t *seen; /* task_id -> array of "attempt/poll_seq" consumed */

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

static long long scalar(df_pg_t *conn, const char *sql, const char *param)
{
    const char *params[1] = { param };
    df_error_t err;
    PGresult *res;
    long long v = -1;

    df_error_init(&err);
    res = df_pg_exec(conn, sql, param ? 1 : 0, param ? params : NULL, &err);
    CHECK_MSG(res != NULL, "%s: %s", sql, err.message);
    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* A task message of id (attempt, and a poll when seq > 0). */
static json_t *task_message(const char *id, const char *type, int attempt, int seq)
{
    char at[40];
    json_t *task;

    df_time_format(df_now_ms(), at, sizeof(at));
    task = json_pack("{s:s, s:s, s:s, s:{}, s:i, s:s}", "task_id", id, "type", type, "connector",
                     "noop", "params", "attempt", attempt, "submitted_at", at);
    if (seq > 0)
        json_object_set_new(task, "poll",
                            json_pack("{s:{s:s}, s:i, s:i, s:s}", "job", "job_id", "J", "seq", seq,
                                      "after_ms", 1000, "since", at));
    return task;
}

/* INSERT a delayed row due in due_ms (may be negative); task stolen. */
static void put_row(const char *id, int attempt, int seq, int due_ms, json_t *task)
{
    char a[16], s[16], due[24];
    char *text = json_dumps(task, JSON_COMPACT);
    const char *params[5] = { id, a, s, due, text };
    df_error_t err;

    snprintf(a, sizeof(a), "%d", attempt);
    snprintf(s, sizeof(s), "%d", seq);
    snprintf(due, sizeof(due), "%d", due_ms);
    df_error_init(&err);
    CHECK_MSG(df_pg_run(pg,
                        "INSERT INTO delayed_tasks (task_id, attempt, poll_seq, due_at, task,"
                        " reason) VALUES ($1, $2::integer, $3::integer,"
                        " now() + make_interval(secs => $4::integer / 1000.0), $5::jsonb, 'test')",
                        5, params, NULL, &err) == DF_OK,
              "insert: %s", err.message);
    free(text);
    json_decref(task);
}

/* Consume for up to ms, recording what arrives in `seen`. */
static void consume(int ms)
{
    int64_t end = df_mono_ms() + ms;
    df_error_t err;

    while (df_mono_ms() < end) {
        rd_kafka_message_t *m;
        json_t *task, *list;
        const char *id;
        char pos[32];

        df_error_init(&err);
        m = df_kafka_consumer_poll(consumer, 100, &err);
        if (!m)
            continue;
        task = json_loadb(m->payload, m->len, 0, NULL);
        id = df_task_str(task, "task_id");
        if (id) {
            list = json_object_get(seen, id);
            if (!list) {
                list = json_array();
                json_object_set_new(seen, id, list);
            }
            snprintf(
                pos, sizeof(pos), "%d/%d", df_task_attempt(task),
                (int)json_integer_value(json_object_get(json_object_get(task, "poll"), "seq")));
            json_array_append_new(list, json_string(pos));
        }
        json_decref(task);
        rd_kafka_message_destroy(m);
    }
}

/* The positions seen for id, joined ("" when none). */
static void seen_of(const char *id, char *out, size_t len)
{
    json_t *list = json_object_get(seen, id), *v;
    size_t i, used = 0;

    out[0] = '\0';
    json_array_foreach(list, i, v)
    {
        used +=
            (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "", json_string_value(v));
        if (used >= len)
            break;
    }
}

/* Consume until id has been seen n times or WAIT_MS passed. */
static void wait_seen(const char *id, size_t n)
{
    int64_t end = df_mono_ms() + WAIT_MS;

    while (json_array_size(json_object_get(seen, id)) < n && df_mono_ms() < end)
        consume(100);
}

static long long rows_of(const char *id)
{
    return scalar(pg, "SELECT count(*) FROM delayed_tasks WHERE task_id = $1", id);
}

/* The leader publishes, then commits the DELETE: a consumer can see the
 * message a moment before the row is gone. Rows left after WAIT_MS. */
static long long rows_left(const char *id)
{
    int64_t end = df_mono_ms() + WAIT_MS;
    long long n;

    while ((n = rows_of(id)) > 0 && df_mono_ms() < end)
        usleep(50 * 1000);
    return n;
}

/* ---- the role on a thread -------------------------------------------------- */

static pthread_t cron_thread;
static int cron_rc = -1;

static void *cron_main(void *arg)
{
    cron_rc = df_role_cron_run(arg);
    return NULL;
}

/* ---- cases ----------------------------------------------------------------- */

static void test_due_rows_published(void)
{
    char retry[DF_ID_BUF], poll[DF_ID_BUF], got[256];

    df_id_ulid(retry);
    df_id_ulid(poll);
    put_row(retry, 2, 0, -500, task_message(retry, "export", 2, 0));
    put_row(poll, 1, 3, -100, task_message(poll, "refresh", 1, 3));
    put_row(poll, 2, 0, -50, task_message(poll, "refresh", 2, 0));
    wait_seen(retry, 1);
    wait_seen(poll, 2);
    seen_of(retry, got, sizeof(got));
    CHECK_STR(got, "2/0");
    seen_of(poll, got, sizeof(got));
    CHECK_STR(got, "1/3 2/0"); /* oldest due first, one partition (same key) */
    CHECK_INT(rows_left(retry), 0);
    CHECK_INT(rows_left(poll), 0);
    /* nothing twice */
    consume(1500);
    CHECK_INT(json_array_size(json_object_get(seen, retry)), 1);
    CHECK_INT(json_array_size(json_object_get(seen, poll)), 2);
}

static void test_future_row_waits(void)
{
    char id[DF_ID_BUF];
    int64_t t0 = df_mono_ms(), took;

    df_id_ulid(id);
    put_row(id, 2, 0, 2000, task_message(id, "export", 2, 0));
    consume(1200);
    CHECK_INT(json_array_size(json_object_get(seen, id)), 0);
    CHECK_INT(rows_of(id), 1);
    wait_seen(id, 1);
    took = df_mono_ms() - t0;
    CHECK_MSG(took >= 1900 && took < 6000, "published after %lld ms, due after 2000",
              (long long)took);
    CHECK_INT(rows_left(id), 0);
}

static void test_locked_row_skipped_then_published(void)
{
    char id[DF_ID_BUF];
    const char *params[1] = { id };
    df_pg_t *other;
    df_error_t err;
    PGresult *res;

    df_id_ulid(id);
    df_error_init(&err);
    other = df_pg_new(db_url, &err);
    REQUIRE(other != NULL);
    put_row(id, 2, 0, -100, task_message(id, "export", 2, 0));
    /* Another leader's tick holds the row (it published it, maybe, and has
     * not committed the DELETE yet). */
    REQUIRE(df_pg_begin(other, &err) == DF_OK);
    res = df_pg_exec(other, "SELECT task_id FROM delayed_tasks WHERE task_id = $1 FOR UPDATE", 1,
                     params, &err);
    CHECK_MSG(res && PQntuples(res) == 1, "lock: %s", err.message);
    PQclear(res);
    consume(2000);
    CHECK_INT(json_array_size(json_object_get(seen, id)), 0);
    /* It dies: its transaction rolls back, the row is still there... */
    df_pg_destroy(other);
    /* ...and this leader publishes it. */
    wait_seen(id, 1);
    CHECK_INT(json_array_size(json_object_get(seen, id)), 1);
    CHECK_INT(rows_left(id), 0);
}

static void test_invalid_row_dropped(void)
{
    char bad[DF_ID_BUF], good[DF_ID_BUF];
    json_t *task;

    df_id_ulid(bad);
    df_id_ulid(good);
    task = task_message(bad, "export", 2, 0);
    json_object_set_new(task, "connector", json_string("Not A Name"));
    put_row(bad, 2, 0, -300, task);
    put_row(good, 2, 0, -200, task_message(good, "export", 2, 0));
    wait_seen(good, 1);
    CHECK_INT(json_array_size(json_object_get(seen, good)), 1);
    CHECK_INT(rows_left(good), 0);
    CHECK_INT(rows_left(bad), 0);
    CHECK_INT(json_array_size(json_object_get(seen, bad)), 0);
}

static void test_more_than_a_batch(void)
{
    char ids[MANY][DF_ID_BUF];
    int64_t end = df_mono_ms() + WAIT_MS;
    size_t all = 0;

    for (int i = 0; i < MANY; i++) {
        df_id_ulid(ids[i]);
        put_row(ids[i], 2, 0, -1000 + i, task_message(ids[i], "lineage", 2, 0));
    }
    while (all < MANY && df_mono_ms() < end) {
        consume(200);
        all = 0;
        for (int i = 0; i < MANY; i++)
            all += json_array_size(json_object_get(seen, ids[i])) == 1;
    }
    CHECK_INT(all, MANY);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM delayed_tasks", NULL), 0);
}

/* ---- main ------------------------------------------------------------------ */

static void setup(void)
{
    const char *brokers = df_test_env("DATAFLEET_KAFKA_BROKERS");
    const char *base_db = df_test_env("DATAFLEET_DATABASE_URL");
    const char *subscribe[3];
    char group[96];
    df_error_t err;
    int applied = 0;

    snprintf(prefix, sizeof(prefix), "dt%d.", (int)getpid());
    snprintf(group, sizeof(group), "dt%d-reader", (int)getpid());
    snprintf(db_name, sizeof(db_name), "df_delayed_test_%d", (int)getpid());
    df_error_init(&err);
    admin = df_pg_new(base_db, &err);
    REQUIRE(admin != NULL);
    REQUIRE(database_ddl("DROP DATABASE IF EXISTS", "", &err) == DF_OK);
    REQUIRE(database_ddl("CREATE DATABASE", "", &err) == DF_OK);
    df_test_url_with_dbname(base_db, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    REQUIRE(pg != NULL);
    REQUIRE(df_pg_migrate(pg, NULL, &applied, &err) == DF_OK);

    df_kafka_config_init(&kcfg);
    snprintf(kcfg.brokers, sizeof(kcfg.brokers), "%s", brokers);
    snprintf(kcfg.prefix, sizeof(kcfg.prefix), "%s", prefix);
    kcfg.partitions = PARTITIONS;
    consumer = df_kafka_consumer_new(&kcfg, group, NULL, NULL, &err);
    REQUIRE(consumer != NULL);
    REQUIRE(df_kafka_topics_ensure(df_kafka_consumer_handle(consumer), &kcfg, 30000, &err) ==
            DF_OK);
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_TASKS_EXPORT, topics[0], sizeof(topics[0]),
                                &err) == DF_OK);
    REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_TASKS_REFRESH, topics[1], sizeof(topics[1]),
                                &err) == DF_OK);
    {
        static char lineage[DF_KAFKA_TOPIC_MAX];
        REQUIRE(df_kafka_topic_name(&kcfg, DF_KAFKA_TOPIC_TASKS_LINEAGE, lineage, sizeof(lineage),
                                    &err) == DF_OK);
        subscribe[0] = topics[0];
        subscribe[1] = topics[1];
        subscribe[2] = lineage;
    }
    REQUIRE(df_kafka_consumer_subscribe(consumer, subscribe, 3, &err) == DF_OK);
    consume(3000); /* join the group before anything is published */
    seen = json_object();

    cfg.common.kafka_brokers = (char *)brokers;
    cfg.common.redis_url = (char *)df_test_env("DATAFLEET_REDIS_URL");
    cfg.common.database_url = db_url;
    cfg.common.topic_prefix = prefix;
    cfg.common.partitions = PARTITIONS;
    cfg.leader_poll_ms = 100;
    cfg.tick_ms = 100;
    cfg.publish_batch = 10;
    cfg.reconcile_every_ms = 3600000;
    cfg.stuck_queued_ms = 604800000;
    cfg.stuck_running_ms = 604800000;
}

static void teardown(void)
{
    df_kafka_producer_t *admin_client;
    df_error_t err;

    df_error_init(&err);
    df_kafka_consumer_close(consumer, &err);
    df_kafka_consumer_destroy(consumer);
    admin_client = df_kafka_producer_new(&kcfg, NULL, NULL, &err);
    for (int t = 0; admin_client && t < DF_KAFKA_TOPIC_COUNT; t++) {
        char name[DF_KAFKA_TOPIC_MAX];
        if (df_kafka_topic_name(&kcfg, (df_kafka_topic_t)t, name, sizeof(name), &err) == DF_OK)
            df_kafka_topic_delete(df_kafka_producer_handle(admin_client), name, 10000, &err);
    }
    df_kafka_producer_destroy(admin_client);
    json_decref(seen);
    df_pg_destroy(pg);
    if (database_ddl("DROP DATABASE IF EXISTS", " WITH (FORCE)", &err) != DF_OK)
        fprintf(stderr, "dropping %s: %s\n", db_name, err.message);
    df_pg_destroy(admin);
}

int main(void)
{
    df_log_init("delayed_test", DF_LOG_WARN);
    setup();
    REQUIRE(pthread_create(&cron_thread, NULL, cron_main, &cfg) == 0);
    RUN(test_due_rows_published);
    RUN(test_future_row_waits);
    RUN(test_locked_row_skipped_then_published);
    RUN(test_invalid_row_dropped);
    RUN(test_more_than_a_batch);
    df_program_request_stop();
    pthread_join(cron_thread, NULL);
    CHECK_INT(cron_rc, DF_EXIT_OK);
    teardown();
    return df_test_done();
}
