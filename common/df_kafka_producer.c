/* df_kafka_producer: idempotent producer and delivery-report plumbing (see
 * df_kafka_producer.h). */
#include "df_kafka_producer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_log.h"

struct df_kafka_producer {
    rd_kafka_t *rk;
    df_kafka_delivery_fn on_delivery;
    void *opaque;
    atomic_bool fatal;
    atomic_uint_least64_t sent;
    atomic_uint_least64_t delivered;
    atomic_uint_least64_t failed;
};

/* datafleet's producer settings (DESIGN.md: idempotent, acks=all). Topics
 * are created with the configured partition count at start-up, never
 * implicitly by a produce or a metadata request. */
/* clang-format off */
static const char *const producer_defaults[] = {
    "enable.idempotence", "true",
    "acks", "all",
    "max.in.flight.requests.per.connection", "5",
    "linger.ms", "5",
    "batch.num.messages", "10000",
    "batch.size", "1000000",
    "compression.type", "lz4",
    "allow.auto.create.topics", "false",
    "message.max.bytes", DF_KAFKA_PRODUCER_MAX_MESSAGE_BYTES,
    NULL, NULL,
};
/* clang-format on */

/* The fatal error of rk, into err. */
static void fatal_error(rd_kafka_t *rk, df_error_t *err)
{
    char reason[512];
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, reason, sizeof(reason));

    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(reason, sizeof(reason), "unknown fatal error");
    df_error_set(err, DF_ERR_KAFKA, "producer",
                 "kafka producer fatal error %s: %s (the producer must be recreated)",
                 rd_kafka_err2name(code), reason);
}

/* Runs on the thread that polls (rd_kafka_poll / flush). */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *conf_opaque)
{
    df_kafka_producer_t *producer = conf_opaque;
    df_error_t err;

    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&producer->delivered, 1);
        if (producer->on_delivery)
            producer->on_delivery(producer->opaque, msg, msg->_private, NULL);
        return;
    }
    atomic_fetch_add(&producer->failed, 1);
    df_error_init(&err);
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL)
        fatal_error(rk, &err);
    else
        df_kafka_error_from_code(&err, msg->err, "delivery");
    df_debug("kafka delivery to %s [%d] failed: %s", rd_kafka_topic_name(msg->rkt),
             (int)msg->partition, err.message);
    if (producer->on_delivery)
        producer->on_delivery(producer->opaque, msg, msg->_private, &err);
}

/* Client-level errors (brokers down, fatal idempotence errors): most are
 * informational, librdkafka recovers by itself. */
static void error_cb(rd_kafka_t *rk, int code, const char *reason, void *conf_opaque)
{
    df_kafka_producer_t *producer = conf_opaque;

    (void)rk;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        atomic_store(&producer->fatal, true);
        df_error("kafka producer fatal error: %s", reason);
        return;
    }
    df_warn("kafka producer: %s (%s)", reason, rd_kafka_err2name((rd_kafka_resp_err_t)code));
}

df_kafka_producer_t *df_kafka_producer_new(const df_kafka_config_t *cfg,
                                           df_kafka_delivery_fn on_delivery, void *opaque,
                                           df_error_t *err)
{
    df_kafka_producer_t *producer;
    rd_kafka_conf_t *conf;
    char errstr[512];

    producer = calloc(1, sizeof(*producer));
    if (!producer) {
        df_error_set(err, DF_ERR_NOMEM, "df_kafka_producer_new", "out of memory");
        return NULL;
    }
    producer->on_delivery = on_delivery;
    producer->opaque = opaque;
    atomic_init(&producer->fatal, false);
    atomic_init(&producer->sent, 0);
    atomic_init(&producer->delivered, 0);
    atomic_init(&producer->failed, 0);

    conf = df_kafka_conf_new(cfg, producer_defaults, err);
    if (!conf) {
        free(producer);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, producer);
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);

    producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!producer->rk) {
        rd_kafka_conf_destroy(conf);
        free(producer);
        df_error_set(err, DF_ERR_KAFKA, "rd_kafka_new", "kafka producer: %s", errstr);
        return NULL;
    }
    return producer;
}

void df_kafka_producer_destroy(df_kafka_producer_t *producer)
{
    if (!producer)
        return;
    if (rd_kafka_flush(producer->rk, DF_KAFKA_PRODUCER_CLOSE_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        df_warn("kafka producer closing with %d undelivered messages: purging them",
                rd_kafka_outq_len(producer->rk));
        rd_kafka_purge(producer->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        /* Purged messages get their (failed) delivery reports here. */
        rd_kafka_flush(producer->rk, 1000);
    }
    rd_kafka_destroy(producer->rk);
    free(producer);
}

rd_kafka_t *df_kafka_producer_handle(df_kafka_producer_t *producer)
{
    return producer->rk;
}

df_code_t df_kafka_producer_send(df_kafka_producer_t *producer, const char *topic, const void *key,
                                 size_t key_len, const void *value, size_t value_len,
                                 rd_kafka_headers_t *headers, void *msg_opaque, df_error_t *err)
{
    struct timespec start, now;
    rd_kafka_resp_err_t code;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        code = rd_kafka_producev(
            producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
            DF_KAFKA_PRODUCER_BLOCK_MS)
            break;
        /* Delivery reports free room in the queue. */
        rd_kafka_poll(producer->rk, 100);
    }
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&producer->sent, 1);
        return DF_OK; /* librdkafka owns headers now */
    }
    if (headers)
        rd_kafka_headers_destroy(headers);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        atomic_store(&producer->fatal, true);
        fatal_error(producer->rk, err);
        return DF_ERR_KAFKA;
    }
    df_kafka_error_from_code(err, code, "produce");
    if (err)
        df_error_prefix(err, "topic %s", topic);
    return DF_ERR_KAFKA;
}

int df_kafka_producer_poll(df_kafka_producer_t *producer, int timeout_ms)
{
    return rd_kafka_poll(producer->rk, timeout_ms);
}

df_code_t df_kafka_producer_flush(df_kafka_producer_t *producer, int timeout_ms, df_error_t *err)
{
    rd_kafka_resp_err_t code = rd_kafka_flush(producer->rk, timeout_ms);
    df_code_t rc;

    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        return DF_OK;
    if (code == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        rc = df_error_set(err, DF_ERR_TIMEOUT, "rd_kafka_flush",
                          "kafka flush: %d messages still undelivered after %d ms",
                          rd_kafka_outq_len(producer->rk), timeout_ms);
        if (err)
            err->retryable = true;
        return rc;
    }
    return df_kafka_error_from_code(err, code, "rd_kafka_flush");
}

int df_kafka_producer_outstanding(df_kafka_producer_t *producer)
{
    return rd_kafka_outq_len(producer->rk);
}

bool df_kafka_producer_fatal(df_kafka_producer_t *producer, df_error_t *err)
{
    char reason[8];

    /* error_cb only runs when someone polls: ask librdkafka directly too. */
    if (!atomic_load(&producer->fatal) &&
        rd_kafka_fatal_error(producer->rk, reason, sizeof(reason)) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    atomic_store(&producer->fatal, true);
    fatal_error(producer->rk, err);
    return true;
}

void df_kafka_producer_stats(df_kafka_producer_t *producer, df_kafka_producer_stats_t *out)
{
    out->sent = atomic_load(&producer->sent);
    out->delivered = atomic_load(&producer->delivered);
    out->failed = atomic_load(&producer->failed);
}
