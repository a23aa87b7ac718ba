/* kafka_test: df_kafka against a real broker (DATAFLEET_KAFKA_BROKERS).
 * Creates a uniquely named 6-partition topic through the Admin API,
 * produces keyed messages with `schema` / `traceparent` headers through the
 * idempotent producer (every delivery report OK), consumes them with a
 * group of two members polled alternately from one thread and checks: the
 * six partitions are split between them (each >= 1, no overlap, union = 6,
 * incrementally: the first member keeps some of its partitions), every
 * message arrives once with its headers, from the member that owns its
 * partition; and that the stored offsets were committed (a third member of
 * the group, after both closed, gets all six partitions and nothing to
 * read, and the committed offsets are the end of each partition); and that
 * a message read but not stored is read again. Also: the five topics of a
 * prefix created at start-up, readiness, and errors from the Admin API,
 * readiness and delivery reports. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "df_kafka.h"
#include "df_kafka_consumer.h"
#include "df_kafka_producer.h"
#include "df_test.h"

#define PARTITIONS   6
#define FIRST_BATCH  120
#define SECOND_BATCH 60
#define TOTAL        (FIRST_BATCH + SECOND_BATCH)
#define SCHEMA       "datafleet.test/v1"
#define TIMEOUT_MS   60000

static df_kafka_config_t cfg;
static char topic[128];
static char group[128];

/* ---- producer side -------------------------------------------------------- */

typedef struct deliveries {
    int ok;
    int failed;
    int seen[TOTAL];
    int32_t partition[TOTAL];
    char last_error[DF_ERR_MSG_MAX];
} deliveries_t;

static void on_delivery(void *opaque, const rd_kafka_message_t *msg, void *msg_opaque,
                        const df_error_t *err)
{
    deliveries_t *d = opaque;
    intptr_t index = (intptr_t)msg_opaque - 1;

    if (err) {
        d->failed++;
        snprintf(d->last_error, sizeof(d->last_error), "%s", err->message);
        return;
    }
    d->ok++;
    if (index >= 0 && index < TOTAL) {
        d->seen[index]++;
        d->partition[index] = msg->partition;
    }
}

static void traceparent_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "00-%032x-%016x-01", (unsigned)(i + 1), (unsigned)(i + 7));
}

static void produce_range(df_kafka_producer_t *producer, int from, int to)
{
    df_error_t err;

    df_error_init(&err);
    for (int i = from; i < to; i++) {
        char key[32], value[64], traceparent[64];
        traceparent_of(i, traceparent, sizeof(traceparent));
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(value, sizeof(value), "{\"n\":%d}", i);
        CHECK_INT(df_kafka_producer_send(producer, topic, key, strlen(key), value, strlen(value),
                                         df_kafka_headers_new(SCHEMA, traceparent),
                                         (void *)(intptr_t)(i + 1), &err),
                  DF_OK);
    }
    CHECK_MSG(df_kafka_producer_flush(producer, 30000, &err) == DF_OK, "%s", err.message);
}

/* ---- consumer side -------------------------------------------------------- */

typedef struct member {
    const char *name;
    df_kafka_consumer_t *consumer;
    bool owned[PARTITIONS];
    int assigned_events;
    int revoked_events;
    int lost_events;
    int received;
    int wrong_owner;      /* messages from a partition the hook says it does not own */
    int most_owned;       /* highest owned count so far */
    bool dropped_to_zero; /* owned nothing at some point after owning some */
} member_t;

static void on_rebalance(void *opaque, df_kafka_rebalance_t event,
                         const rd_kafka_topic_partition_list_t *parts)
{
    member_t *m = opaque;

    for (int i = 0; i < parts->cnt; i++) {
        int p = parts->elems[i].partition;
        if (strcmp(parts->elems[i].topic, topic) != 0 || p < 0 || p >= PARTITIONS)
            continue;
        m->owned[p] = event == DF_KAFKA_ASSIGNED;
    }
    {
        int n = 0;
        for (int p = 0; p < PARTITIONS; p++)
            n += m->owned[p];
        if (n > m->most_owned)
            m->most_owned = n;
        if (n == 0 && m->most_owned > 0)
            m->dropped_to_zero = true;
    }
    if (event == DF_KAFKA_ASSIGNED)
        m->assigned_events++;
    else if (event == DF_KAFKA_REVOKED)
        m->revoked_events++;
    else
        m->lost_events++;
}

static int owned_count(const member_t *m)
{
    int n = 0;
    for (int p = 0; p < PARTITIONS; p++)
        n += m->owned[p];
    return n;
}

/* librdkafka's own view of the assignment matches what the hook told us. */
static void check_assignment_matches(const member_t *m)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    bool actual[PARTITIONS] = { false };

    CHECK(rd_kafka_assignment(df_kafka_consumer_handle(m->consumer), &list) == 0);
    if (!list)
        return;
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].partition >= 0 && list->elems[i].partition < PARTITIONS)
            actual[list->elems[i].partition] = true;
    for (int p = 0; p < PARTITIONS; p++)
        CHECK_MSG(actual[p] == m->owned[p], "%s partition %d: librdkafka %d, hook %d", m->name, p,
                  actual[p], m->owned[p]);
    rd_kafka_topic_partition_list_destroy(list);
}

static member_t *member_new(member_t *m, const char *name)
{
    df_error_t err;
    const char *topics[1] = { topic };

    memset(m, 0, sizeof(*m));
    m->name = name;
    df_error_init(&err);
    m->consumer = df_kafka_consumer_new(&cfg, group, on_rebalance, m, &err);
    REQUIRE(m->consumer != NULL);
    CHECK_INT(df_kafka_consumer_subscribe(m->consumer, topics, 1, &err), DF_OK);
    return m;
}

/* Poll m once; a message is checked, counted and its offset stored. */
static void poll_member(member_t *m, int timeout_ms, int *seen, int32_t *partition_of)
{
    df_error_t err;
    rd_kafka_message_t *msg = df_kafka_consumer_poll(m->consumer, timeout_ms, &err);
    char header[128], expected[64];
    int n = -1;

    if (!msg) {
        CHECK_MSG(err.code == DF_OK || err.retryable, "%s poll: %s", m->name, err.message);
        return;
    }
    m->received++;
    CHECK_STR(rd_kafka_topic_name(msg->rkt), topic);
    if (!m->owned[msg->partition])
        m->wrong_owner++;
    if (msg->len < 40) {
        char value[48];
        memcpy(value, msg->payload, msg->len);
        value[msg->len] = '\0';
        CHECK(sscanf(value, "{\"n\":%d}", &n) == 1);
    }
    CHECK_MSG(n >= 0 && n < TOTAL, "payload out of range");
    if (n >= 0 && n < TOTAL) {
        char key[32];
        seen[n]++;
        CHECK_INT(msg->partition, partition_of[n]);
        snprintf(key, sizeof(key), "key-%d", n);
        CHECK(msg->key_len == strlen(key) && memcmp(msg->key, key, msg->key_len) == 0);
        CHECK(df_kafka_header_get(msg, DF_KAFKA_HEADER_SCHEMA, header, sizeof(header)));
        CHECK_STR(header, SCHEMA);
        traceparent_of(n, expected, sizeof(expected));
        CHECK(df_kafka_header_get(msg, DF_KAFKA_HEADER_TRACEPARENT, header, sizeof(header)));
        CHECK_STR(header, expected);
        CHECK(!df_kafka_header_get(msg, "no-such-header", header, sizeof(header)));
        CHECK(!df_kafka_header_get(msg, DF_KAFKA_HEADER_SCHEMA, header, 4)); /* too small */
    }
    /* The task's outcome is known: store the offset. */
    CHECK_INT(df_kafka_consumer_store_message(m->consumer, msg, &err), DF_OK);
    rd_kafka_message_destroy(msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_seen(const int *seen, int upto)
{
    int n = 0;
    for (int i = 0; i < upto; i++)
        n += seen[i] > 0;
    return n;
}

static bool split_settled(const member_t *a, const member_t *b)
{
    if (owned_count(a) < 1 || owned_count(b) < 1)
        return false;
    for (int p = 0; p < PARTITIONS; p++)
        if (a->owned[p] == b->owned[p]) /* both or neither */
            return false;
    return true;
}

/* A property of a live handle as librdkafka holds it. */
static void check_conf(rd_kafka_t *rk, const char *key, const char *expected)
{
    char value[256];
    size_t len = sizeof(value);

    CHECK_MSG(rd_kafka_conf_get(rd_kafka_conf(rk), key, value, &len) == RD_KAFKA_CONF_OK,
              "%s unknown", key);
    CHECK_MSG(strcmp(value, expected) == 0, "%s = %s, expected %s", key, value, expected);
}

/* ---- the test ------------------------------------------------------------- */

static void test_group_of_two(void)
{
    static deliveries_t d;
    static int seen[TOTAL];
    df_kafka_producer_t *producer;
    member_t a, b, c;
    df_error_t err;
    bool created = false;
    int64_t t0, deadline;
    int a_before, b_before;

    df_error_init(&err);
    producer = df_kafka_producer_new(&cfg, on_delivery, &d, &err);
    REQUIRE(producer != NULL);
    check_conf(df_kafka_producer_handle(producer), "enable.idempotence", "true");
    check_conf(df_kafka_producer_handle(producer), "acks", "-1"); /* all */
    check_conf(df_kafka_producer_handle(producer), "client.id", "kafka_test");
    if (df_kafka_ready(df_kafka_producer_handle(producer), NULL, 30000, &err) != DF_OK)
        fprintf(stderr, "%s\n", err.message);
    REQUIRE(err.code == DF_OK);

    /* Topic: created once, "already exists" is fine the second time. */
    CHECK_MSG(df_kafka_topic_create(df_kafka_producer_handle(producer), topic, PARTITIONS, -1,
                                    30000, &created, &err) == DF_OK,
              "%s", err.message);
    CHECK(created);
    CHECK_MSG(df_kafka_topic_create(df_kafka_producer_handle(producer), topic, PARTITIONS, -1,
                                    30000, &created, &err) == DF_OK,
              "%s", err.message);
    CHECK(!created);
    CHECK_INT(df_kafka_topic_partitions(df_kafka_producer_handle(producer), topic, 10000, &err),
              PARTITIONS);
    CHECK_INT(df_kafka_topic_partitions(df_kafka_producer_handle(producer), "df-test-no-such-topic",
                                        10000, &err),
              0);
    CHECK_INT(err.code, DF_ERR_NOT_FOUND);

    /* First batch, before anyone consumes. */
    t0 = now_ms();
    produce_range(producer, 0, FIRST_BATCH);
    CHECK_MSG(d.failed == 0, "%d failed: %s", d.failed, d.last_error);
    CHECK_INT(d.ok, FIRST_BATCH);
    for (int i = 0; i < FIRST_BATCH; i++)
        CHECK_INT(d.seen[i], 1);
    fprintf(stderr, "produced %d in %lld ms\n", FIRST_BATCH, (long long)(now_ms() - t0));

    /* The first member alone: it gets all six partitions and reads (and
     * stores the offsets of) the first batch. */
    member_new(&a, "a");
    check_conf(df_kafka_consumer_handle(a.consumer), "partition.assignment.strategy",
               "cooperative-sticky");
    check_conf(df_kafka_consumer_handle(a.consumer), "enable.auto.offset.store", "false");
    check_conf(df_kafka_consumer_handle(a.consumer), "enable.auto.commit", "true");
    check_conf(df_kafka_consumer_handle(a.consumer), "auto.offset.reset", "smallest");
    check_conf(df_kafka_consumer_handle(a.consumer), "group.id", group);
    t0 = now_ms();
    deadline = t0 + TIMEOUT_MS;
    while (now_ms() < deadline &&
           (owned_count(&a) < PARTITIONS || count_seen(seen, FIRST_BATCH) < FIRST_BATCH))
        poll_member(&a, 50, seen, d.partition);
    fprintf(stderr, "first member: 6 partitions and %d messages in %lld ms\n", a.received,
            (long long)(now_ms() - t0));
    CHECK_INT(owned_count(&a), PARTITIONS);
    CHECK_INT(a.received, FIRST_BATCH);

    /* A second member joins (a worker scaling out); both are polled
     * alternately until the split has settled. The partitions it takes over
     * were committed on revoke: nothing of the first batch is read again. */
    member_new(&b, "b");
    t0 = now_ms();
    deadline = t0 + TIMEOUT_MS;
    while (now_ms() < deadline &&
           (!split_settled(&a, &b) || count_seen(seen, FIRST_BATCH) < FIRST_BATCH)) {
        poll_member(&a, 50, seen, d.partition);
        poll_member(&b, 50, seen, d.partition);
    }
    fprintf(stderr, "group settled in %lld ms: a owns %d, b owns %d (protocol %s)\n",
            (long long)(now_ms() - t0), owned_count(&a), owned_count(&b),
            rd_kafka_rebalance_protocol(df_kafka_consumer_handle(a.consumer)));
    CHECK_STR(rd_kafka_rebalance_protocol(df_kafka_consumer_handle(a.consumer)), "COOPERATIVE");
    CHECK(split_settled(&a, &b));
    CHECK(owned_count(&a) + owned_count(&b) == PARTITIONS);
    check_assignment_matches(&a);
    check_assignment_matches(&b);
    /* Incremental: the first member gave up part of its partitions and
     * kept the rest all along (an eager rebalance would take all six away
     * first). */
    CHECK(a.revoked_events >= 1);
    CHECK(!a.dropped_to_zero);
    CHECK_INT(a.lost_events + b.lost_events, 0);
    CHECK_INT(b.received, 0);
    CHECK_INT(count_seen(seen, FIRST_BATCH), FIRST_BATCH);

    /* Second batch, with the split in place: both members get work. */
    a_before = a.received;
    b_before = b.received;
    produce_range(producer, FIRST_BATCH, TOTAL);
    CHECK_INT(d.ok, TOTAL);
    deadline = now_ms() + TIMEOUT_MS;
    while (now_ms() < deadline && count_seen(seen, TOTAL) < TOTAL) {
        poll_member(&a, 50, seen, d.partition);
        poll_member(&b, 50, seen, d.partition);
    }
    /* A little longer: a duplicate would show up now. */
    for (int i = 0; i < 10; i++) {
        poll_member(&a, 50, seen, d.partition);
        poll_member(&b, 50, seen, d.partition);
    }
    CHECK_MSG(a.received > a_before && b.received > b_before, "second batch: a got %d, b got %d",
              a.received - a_before, b.received - b_before);
    CHECK_INT(a.wrong_owner + b.wrong_owner, 0);
    CHECK_INT(count_seen(seen, TOTAL), TOTAL);
    for (int i = 0; i < TOTAL; i++)
        CHECK_MSG(seen[i] == 1, "message %d seen %d times", i, seen[i]);
    CHECK_INT(a.received + b.received, TOTAL);

    /* Both leave; their stored offsets are committed. */
    t0 = now_ms();
    CHECK_INT(df_kafka_consumer_close(a.consumer, &err), DF_OK);
    CHECK_INT(df_kafka_consumer_close(a.consumer, &err), DF_OK); /* idempotent */
    CHECK_INT(df_kafka_consumer_close(b.consumer, &err), DF_OK);
    CHECK_INT(owned_count(&a) + owned_count(&b), 0);
    df_kafka_consumer_destroy(a.consumer);
    df_kafka_consumer_destroy(b.consumer);
    fprintf(stderr, "two members closed in %lld ms\n", (long long)(now_ms() - t0));

    /* A third member of the group: all partitions, nothing left to read. */
    member_new(&c, "c");
    t0 = now_ms();
    deadline = t0 + TIMEOUT_MS;
    while (now_ms() < deadline && owned_count(&c) < PARTITIONS)
        poll_member(&c, 100, seen, d.partition);
    CHECK_INT(owned_count(&c), PARTITIONS);
    for (int i = 0; i < 20; i++)
        poll_member(&c, 100, seen, d.partition);
    CHECK_MSG(c.received == 0, "third member re-read %d messages", c.received);
    {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(PARTITIONS);
        int64_t committed = 0;
        for (int p = 0; p < PARTITIONS; p++)
            rd_kafka_topic_partition_list_add(list, topic, p);
        CHECK_INT(rd_kafka_committed(df_kafka_consumer_handle(c.consumer), list, 10000), 0);
        for (int p = 0; p < PARTITIONS; p++) {
            int64_t low = -1, high = -1;
            CHECK_INT(rd_kafka_query_watermark_offsets(df_kafka_consumer_handle(c.consumer), topic,
                                                       p, &low, &high, 10000),
                      0);
            CHECK_MSG(list->elems[p].offset == high,
                      "partition %d: committed %" PRId64 ", end %" PRId64, p, list->elems[p].offset,
                      high);
            committed += list->elems[p].offset > 0 ? list->elems[p].offset : 0;
        }
        CHECK_INT(committed, TOTAL);
        rd_kafka_topic_partition_list_destroy(list);
    }
    /* Storing an offset for a partition this member does not own. */
    CHECK_INT(df_kafka_consumer_store(c.consumer, topic, PARTITIONS + 3, 1, &err) != DF_OK, 1);

    /* Offsets are stored only by the caller: a message read but never
     * finished (not stored) is read again by the next member. */
    {
        static int seen_again[TOTAL + 1];
        static int32_t partition_of[TOTAL + 1];
        member_t e;

        memcpy(partition_of, d.partition, sizeof(d.partition));
        produce_range(producer, TOTAL - 1, TOTAL); /* a copy of the last message */
        partition_of[TOTAL - 1] = d.partition[TOTAL - 1];
        deadline = now_ms() + TIMEOUT_MS;
        while (now_ms() < deadline && c.received == 0) {
            rd_kafka_message_t *msg = df_kafka_consumer_poll(c.consumer, 100, &err);
            if (msg) {
                c.received++; /* read, not stored */
                rd_kafka_message_destroy(msg);
            }
        }
        CHECK_INT(c.received, 1);
        CHECK_INT(df_kafka_consumer_close(c.consumer, &err), DF_OK);
        df_kafka_consumer_destroy(c.consumer);

        member_new(&e, "e");
        deadline = now_ms() + TIMEOUT_MS;
        while (now_ms() < deadline && e.received == 0)
            poll_member(&e, 100, seen_again, partition_of);
        for (int i = 0; i < 10; i++)
            poll_member(&e, 100, seen_again, partition_of);
        CHECK_INT(e.received, 1);
        CHECK_INT(seen_again[TOTAL - 1], 1);
        df_kafka_consumer_destroy(e.consumer);
    }

    CHECK_INT(df_kafka_topic_delete(df_kafka_producer_handle(producer), topic, 30000, &err), DF_OK);
    {
        df_kafka_producer_stats_t stats;
        df_kafka_producer_stats(producer, &stats);
        CHECK_INT(stats.sent, TOTAL + 1); /* + the unstored copy */
        CHECK_INT(stats.delivered, TOTAL + 1);
        CHECK_INT(stats.failed, 0);
        CHECK(!df_kafka_producer_fatal(producer, &err));
    }
    df_kafka_producer_destroy(producer);
}

/* Admin and readiness errors come back as df_error_t, not as crashes. */
static void test_errors(void)
{
    df_kafka_config_t bad;
    df_kafka_producer_t *producer;
    df_error_t err;
    int64_t t0;

    df_error_init(&err);
    df_kafka_config_init(&bad);
    snprintf(bad.brokers, sizeof(bad.brokers), "127.0.0.1:1");
    CHECK_INT(df_kafka_config_add_prop(&bad, "socket.connection.setup.timeout.ms=1000", &err),
              DF_OK);
    producer = df_kafka_producer_new(&bad, NULL, NULL, &err);
    REQUIRE(producer != NULL);
    t0 = now_ms();
    CHECK_INT(df_kafka_ready(df_kafka_producer_handle(producer), NULL, 1500, &err), DF_ERR_TIMEOUT);
    CHECK(err.retryable);
    CHECK_MSG(now_ms() - t0 < 5000, "readiness took %lld ms", (long long)(now_ms() - t0));
    df_kafka_producer_destroy(producer);

    producer = df_kafka_producer_new(&cfg, NULL, NULL, &err);
    REQUIRE(producer != NULL);
    CHECK_INT(df_kafka_topic_create(df_kafka_producer_handle(producer), "bad topic name!", 1, -1,
                                    5000, NULL, &err),
              DF_ERR_INVALID);
    /* More replicas than brokers: the broker refuses. */
    CHECK_INT(df_kafka_topic_create(df_kafka_producer_handle(producer), "df-test-too-many-replicas",
                                    1, 3, 10000, NULL, &err),
              DF_ERR_KAFKA);
    CHECK_MSG(strstr(err.message, "df-test-too-many-replicas") != NULL, "%s", err.message);
    df_kafka_producer_destroy(producer);

    /* Producing to a topic that does not exist (and is not auto-created)
     * fails in the delivery report, within message.timeout.ms. */
    {
        df_kafka_config_t quick = cfg;
        static deliveries_t d;
        char missing[160];

        CHECK_INT(df_kafka_config_add_prop(&quick, "message.timeout.ms=2000", &err), DF_OK);
        producer = df_kafka_producer_new(&quick, on_delivery, &d, &err);
        REQUIRE(producer != NULL);
        snprintf(missing, sizeof(missing), "%s-missing", topic);
        CHECK_INT(df_kafka_producer_send(producer, missing, "k", 1, "v", 1,
                                         df_kafka_headers_new(SCHEMA, NULL), NULL, &err),
                  DF_OK);
        CHECK_INT(df_kafka_producer_flush(producer, 15000, &err), DF_OK);
        CHECK_INT(d.failed, 1);
        CHECK_INT(d.ok, 0);
        CHECK_MSG(d.last_error[0] != '\0', "no error text");
        fprintf(stderr, "delivery to a missing topic: %s\n", d.last_error);
        df_kafka_producer_destroy(producer);
    }
}

/* Start-up: the five topics of a prefix are created with the configured
 * partition count, a second run finds them, readiness sees them. */
static void test_topics_ensure(void)
{
    df_kafka_config_t mine = cfg;
    df_kafka_config_t other = cfg;
    df_kafka_producer_t *producer;
    df_error_t err;
    rd_kafka_t *rk;

    df_error_init(&err);
    snprintf(mine.prefix, sizeof(mine.prefix), "df-test-%ld-%ld.", (long)getpid(),
             (long)time(NULL));
    mine.partitions = 3;
    producer = df_kafka_producer_new(&mine, NULL, NULL, &err);
    REQUIRE(producer != NULL);
    rk = df_kafka_producer_handle(producer);

    CHECK_INT(df_kafka_ready(rk, &mine, 2000, &err), DF_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "tasks.export") != NULL, "%s", err.message);
    CHECK_MSG(df_kafka_topics_ensure(rk, &mine, 30000, &err) == DF_OK, "%s", err.message);
    CHECK_MSG(df_kafka_topics_ensure(rk, &mine, 30000, &err) == DF_OK, "%s", err.message);
    CHECK_MSG(df_kafka_ready(rk, &mine, 10000, &err) == DF_OK, "%s", err.message);
    for (int t = 0; t < DF_KAFKA_TOPIC_COUNT; t++) {
        char name[DF_KAFKA_TOPIC_MAX];
        CHECK_INT(df_kafka_topic_name(&mine, (df_kafka_topic_t)t, name, sizeof(name), &err), DF_OK);
        CHECK_INT(df_kafka_topic_partitions(rk, name, 10000, &err), 3);
    }
    /* Another prefix has none of them. */
    snprintf(other.prefix, sizeof(other.prefix), "df-test-none-%ld.", (long)getpid());
    CHECK_INT(df_kafka_ready(rk, &other, 2000, &err), DF_ERR_NOT_FOUND);

    for (int t = 0; t < DF_KAFKA_TOPIC_COUNT; t++) {
        char name[DF_KAFKA_TOPIC_MAX];
        df_kafka_topic_name(&mine, (df_kafka_topic_t)t, name, sizeof(name), &err);
        CHECK_INT(df_kafka_topic_delete(rk, name, 30000, &err), DF_OK);
    }
    df_kafka_producer_destroy(producer);
}

int main(void)
{
    df_kafka_config_init(&cfg);
    snprintf(cfg.brokers, sizeof(cfg.brokers), "%s", df_test_env("DATAFLEET_KAFKA_BROKERS"));
    snprintf(cfg.client_id, sizeof(cfg.client_id), "kafka_test");
    /* Only the commits on revoke and on close count in this test: the
     * periodic auto-commit would hide a missing one. */
    REQUIRE(df_kafka_config_add_prop(&cfg, "auto.commit.interval.ms=600000", NULL) == DF_OK);
    snprintf(topic, sizeof(topic), "df-test-kafka-%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(group, sizeof(group), "df-test-group-%ld-%ld", (long)getpid(), (long)time(NULL));

    RUN(test_group_of_two);
    RUN(test_topics_ensure);
    RUN(test_errors);
    return df_test_done();
}
