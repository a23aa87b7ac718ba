/* df_kafka_consumer: group member with cooperative-sticky assignment and
 * caller-stored offsets (see df_kafka_consumer.h). */
#include "df_kafka_consumer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "df_metrics.h"

struct df_kafka_consumer {
    rd_kafka_t *rk;
    df_kafka_rebalance_fn on_rebalance;
    void *opaque;
    bool closed;
    bool closing; /* df_kafka_consumer_close runs: assignments are not reported */
    char group[DF_KAFKA_GROUP_MAX];
};

static df_metric_t *lag_metric;

static void init_metrics(void)
{
    lag_metric = df_metric_gauge(
        "datafleet_kafka_consumer_lag",
        "Messages between a partition's end and this consumer's position, for the partitions "
        "this process consumes (from librdkafka statistics).",
        "group,topic,partition");
}

/* librdkafka statistics (every statistics.interval.ms, served by the
 * consumer poll): consumer lag of the partitions this consumer wants;
 * series of partitions it no longer has are dropped. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    df_kafka_consumer_t *consumer = opaque;
    json_t *root = json_loadb(json, json_len, 0, NULL);
    json_t *topics = root ? json_object_get(root, "topics") : NULL, *topic;
    const char *name;

    (void)rk;
    json_object_foreach(topics, name, topic)
    {
        json_t *parts = json_object_get(topic, "partitions"), *part;
        const char *pname;
        json_object_foreach(parts, pname, part)
        {
            json_int_t lag = json_integer_value(json_object_get(part, "consumer_lag"));
            if (strcmp(pname, "-1") == 0)
                continue;
            if (json_is_true(json_object_get(part, "desired")) && lag >= 0)
                df_metric_set(lag_metric, (double)lag, consumer->group, name, pname);
            else
                df_metric_remove(lag_metric, consumer->group, name, pname);
        }
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static const char *const event_names[] = { "assigned", "revoked", "lost" };

/* Logs a partition list as "topic[p,p,...] ..." bounded to buf. */
static void format_partitions(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
    size_t used = 0;
    int i;

    buf[0] = '\0';
    for (i = 0; i < parts->cnt && used + 1 < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s[%d]", i ? " " : "", parts->elems[i].topic,
                         (int)parts->elems[i].partition);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static void notify(df_kafka_consumer_t *consumer, df_kafka_rebalance_t event,
                   const rd_kafka_topic_partition_list_t *parts)
{
    char list[512];

    /* A cooperative rebalance that changes nothing for this member still
     * calls back (with an empty list): nothing to tell. */
    if (parts->cnt == 0)
        return;
    if (df_log_enabled(DF_LOG_INFO)) {
        format_partitions(parts, list, sizeof(list));
        df_info("kafka partitions %s (%s): %s", event_names[event],
                rd_kafka_rebalance_protocol(consumer->rk), list);
    }
    if (consumer->on_rebalance)
        consumer->on_rebalance(consumer->opaque, event, parts);
}

static void log_kafka_error(const char *what, rd_kafka_error_t *kerror)
{
    df_error_t err;

    df_error_init(&err);
    df_kafka_error_from(&err, kerror, what);
    df_error("%s", err.message);
}

/* Incremental (COOPERATIVE) or full (EAGER, when an operator overrides the
 * assignment strategy) assignment changes. On revoke the caller's hook runs
 * first, while the partitions are still ours, so it can store final
 * offsets; the unassign then makes librdkafka commit the stored offsets of
 * the removed partitions (enable.auto.commit=true), and the member rejoins
 * only once that commit is done, so the next owner starts where we stopped
 * instead of redoing finished tasks. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t code,
                         rd_kafka_topic_partition_list_t *parts, void *conf_opaque)
{
    df_kafka_consumer_t *consumer = conf_opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    switch (code) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if (cooperative) {
            rd_kafka_error_t *kerror = rd_kafka_incremental_assign(rk, parts);
            if (kerror) {
                log_kafka_error("rd_kafka_incremental_assign", kerror);
                return;
            }
        } else {
            rd_kafka_resp_err_t assign_code = rd_kafka_assign(rk, parts);
            if (assign_code) {
                df_error("rd_kafka_assign: %s", rd_kafka_err2str(assign_code));
                return;
            }
        }
        if (!consumer->closing)
            notify(consumer, DF_KAFKA_ASSIGNED, parts);
        break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        if (rd_kafka_assignment_lost(rk)) {
            notify(consumer, DF_KAFKA_LOST, parts);
        } else {
            notify(consumer, DF_KAFKA_REVOKED, parts);
        }
        if (cooperative) {
            rd_kafka_error_t *kerror = rd_kafka_incremental_unassign(rk, parts);
            if (kerror)
                log_kafka_error("rd_kafka_incremental_unassign", kerror);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        break;

    default:
        df_error("kafka rebalance error: %s", rd_kafka_err2str(code));
        if (!cooperative)
            rd_kafka_assign(rk, NULL);
        break;
    }
}

static void error_cb(rd_kafka_t *rk, int code, const char *reason, void *conf_opaque)
{
    (void)rk;
    (void)conf_opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL)
        df_error("kafka consumer fatal error: %s", reason);
    else
        df_warn("kafka consumer: %s (%s)", reason, rd_kafka_err2name((rd_kafka_resp_err_t)code));
}

df_kafka_consumer_t *df_kafka_consumer_new(const df_kafka_config_t *cfg, const char *group_id,
                                           df_kafka_rebalance_fn on_rebalance, void *opaque,
                                           df_error_t *err)
{
    /* clang-format off */
    const char *defaults[] = {
        "group.id", group_id,
        "partition.assignment.strategy", "cooperative-sticky",
        "enable.auto.offset.store", "false",
        "enable.auto.commit", "true",
        "auto.commit.interval.ms", "1000",
        "auto.offset.reset", "earliest",
        "enable.partition.eof", "false",
        "allow.auto.create.topics", "false",
        "statistics.interval.ms", "5000",
        NULL, NULL,
    };
    /* clang-format on */
    df_kafka_consumer_t *consumer;
    rd_kafka_conf_t *conf;
    char errstr[512];

    if (!group_id || !*group_id || strlen(group_id) >= DF_KAFKA_GROUP_MAX) {
        df_error_set(err, DF_ERR_INVALID, "group.id", "kafka group id must be 1..%d bytes",
                     DF_KAFKA_GROUP_MAX - 1);
        return NULL;
    }
    consumer = calloc(1, sizeof(*consumer));
    if (!consumer) {
        df_error_set(err, DF_ERR_NOMEM, "df_kafka_consumer_new", "out of memory");
        return NULL;
    }
    consumer->on_rebalance = on_rebalance;
    consumer->opaque = opaque;
    snprintf(consumer->group, sizeof(consumer->group), "%s", group_id);
    {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, init_metrics);
    }

    conf = df_kafka_conf_new(cfg, defaults, err);
    if (!conf) {
        free(consumer);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, consumer);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);

    consumer->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!consumer->rk) {
        rd_kafka_conf_destroy(conf);
        free(consumer);
        df_error_set(err, DF_ERR_KAFKA, "rd_kafka_new", "kafka consumer: %s", errstr);
        return NULL;
    }
    /* Errors and other events come out of rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(consumer->rk);
    return consumer;
}

void df_kafka_consumer_destroy(df_kafka_consumer_t *consumer)
{
    df_error_t err;

    if (!consumer)
        return;
    df_error_init(&err);
    if (df_kafka_consumer_close(consumer, &err) != DF_OK)
        df_warn("%s", err.message);
    rd_kafka_destroy(consumer->rk);
    free(consumer);
}

rd_kafka_t *df_kafka_consumer_handle(df_kafka_consumer_t *consumer)
{
    return consumer->rk;
}

df_code_t df_kafka_consumer_subscribe(df_kafka_consumer_t *consumer, const char *const *topics,
                                      size_t ntopics, df_error_t *err)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(ntopics > 0 ? (int)ntopics : 1);
    rd_kafka_resp_err_t code;
    size_t i;

    for (i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    code = rd_kafka_subscribe(consumer->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    return df_kafka_error_from_code(err, code, "rd_kafka_subscribe");
}

rd_kafka_message_t *df_kafka_consumer_poll(df_kafka_consumer_t *consumer, int timeout_ms,
                                           df_error_t *err)
{
    rd_kafka_message_t *msg;

    df_error_clear(err);
    msg = rd_kafka_consumer_poll(consumer->rk, timeout_ms);
    if (!msg || msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return msg;

    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
        char reason[512];
        rd_kafka_resp_err_t code = rd_kafka_fatal_error(consumer->rk, reason, sizeof(reason));
        df_error_set(err, DF_ERR_KAFKA, "consumer",
                     "kafka consumer fatal error %s: %s (the consumer must be recreated)",
                     rd_kafka_err2name(code), reason);
    } else {
        df_kafka_error_from_code(err, msg->err, "consume");
        if (err)
            snprintf(err->message, sizeof(err->message), "consume%s%s: %s (%s)",
                     msg->rkt ? " " : "", msg->rkt ? rd_kafka_topic_name(msg->rkt) : "",
                     rd_kafka_message_errstr(msg), rd_kafka_err2name(msg->err));
    }
    rd_kafka_message_destroy(msg);
    return NULL;
}

df_code_t df_kafka_consumer_store(df_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset, df_error_t *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *elem = rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resp_err_t code;
    df_code_t rc;

    elem->offset = next_offset;
    code = rd_kafka_offsets_store(consumer->rk, list);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        code = elem->err;
    rd_kafka_topic_partition_list_destroy(list);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        return DF_OK;
    if (code == RD_KAFKA_RESP_ERR__STATE) {
        /* librdkafka refuses offsets of partitions no longer assigned. */
        return df_error_set(err, DF_ERR_CONFLICT, "rd_kafka_offsets_store",
                            "store offset %lld for %s [%d]: partition no longer assigned to "
                            "this consumer",
                            (long long)next_offset, topic, (int)partition);
    }
    rc = df_kafka_error_from_code(err, code, "rd_kafka_offsets_store");
    if (err)
        df_error_prefix(err, "%s [%d] offset %lld", topic, (int)partition, (long long)next_offset);
    return rc;
}

df_code_t df_kafka_consumer_store_message(df_kafka_consumer_t *consumer,
                                          const rd_kafka_message_t *msg, df_error_t *err)
{
    return df_kafka_consumer_store(consumer, rd_kafka_topic_name(msg->rkt), msg->partition,
                                   msg->offset + 1, err);
}

df_code_t df_kafka_consumer_commit(df_kafka_consumer_t *consumer, df_error_t *err)
{
    rd_kafka_resp_err_t code = rd_kafka_commit(consumer->rk, NULL, 0);

    if (code == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return DF_OK;
    return df_kafka_error_from_code(err, code, "rd_kafka_commit");
}

/* Whether anything is assigned (true when it cannot be told). */
static bool has_assignment(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    bool any = true;

    if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts)
        any = parts->cnt > 0;
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return any;
}

/* librdkafka before 2.4 (Debian's is 2.0) can hang for good in
 * rd_kafka_consumer_close when a cooperative assignment arrives while it
 * closes (librdkafka issue #4527: the unassign of the close waits on an
 * assign call that never comes). So the consumer first leaves the group:
 * unsubscribe, then serve the rebalance callbacks (revokes are reported
 * as usual, so final offsets are stored and committed; an assignment that
 * still arrives is taken and given back, not reported) until nothing is
 * assigned, for at most CLOSE_DRAIN_MS; only then close. Messages polled
 * meanwhile are dropped: their offsets were never stored, so the
 * partition's next owner reads them. */
#define CLOSE_DRAIN_MS 15000

df_code_t df_kafka_consumer_close(df_kafka_consumer_t *consumer, df_error_t *err)
{
    rd_kafka_resp_err_t code;

    if (consumer->closed)
        return DF_OK;
    consumer->closed = true;
    consumer->closing = true;
    if (rd_kafka_unsubscribe(consumer->rk) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int waited = 0; waited < CLOSE_DRAIN_MS && has_assignment(consumer->rk);
             waited += 100) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer->rk, 100);
            if (m)
                rd_kafka_message_destroy(m);
        }
    }
    code = rd_kafka_consumer_close(consumer->rk);
    return df_kafka_error_from_code(err, code, "rd_kafka_consumer_close");
}
