/* worker: datafleet-worker's consumer loop. It joins the workers' consumer
 * group on the task topics, hands messages to dispatch (runner threads run
 * them), pauses fetching when enough work is buffered, stores offsets as
 * partitions' commit points advance, and drains on SIGTERM/SIGINT: stop
 * fetching, let in-flight tasks finish within --grace, hand the rest back,
 * commit, leave the group. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_id.h"
#include "df_log.h"
#include "df_openlineage.h"
#include "metrics.h"
#include "df_program.h"
#include "df_redis.h"
#include "df_secret.h"
#include "df_task.h"
#include "connector.h"
#include "lease.h"
#include "registry.h"
#include "registry_sync.h"
#include "runtime.h"

df_code_t df_runtime_send(df_runtime_t *rt, const char *topic, const char *key, json_t *doc,
                          const char *schema, const char *traceparent, df_slot_t *slot)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    df_error_t err;
    df_code_t rc;

    df_error_init(&err);
    if (!body) {
        df_error("cannot encode a message for %s", topic);
        return DF_ERR_NOMEM;
    }
    rc = df_kafka_producer_send(rt->producer, topic, key, strlen(key), body, strlen(body),
                                df_kafka_headers_new(schema, traceparent), slot, &err);
    if (rc)
        df_error("cannot send to %s: %s", topic, err.message);
    free(body);
    return rc;
}

/* Delivery reports (on the consumer loop's thread, from producer polls). A
 * tracked message that failed is sent again: its slot must not be done
 * before its outcome is in Kafka. */
static void on_delivery(void *opaque, const rd_kafka_message_t *msg, void *msg_opaque,
                        const df_error_t *err)
{
    df_runtime_t *rt = opaque;
    df_slot_t *slot = msg_opaque;
    rd_kafka_headers_t *headers = NULL, *copy = NULL;
    df_error_t serr;

    if (!slot || !__atomic_load_n(&rt->dispatch, __ATOMIC_ACQUIRE))
        return; /* untracked, or shutting down (the slot is gone) */
    if (!err) {
        df_dispatch_done(rt->dispatch, slot);
        return;
    }
    df_warn("delivery to %s failed (%s): sending again", rd_kafka_topic_name(msg->rkt),
            err->message);
    if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR)
        copy = rd_kafka_headers_copy(headers);
    df_error_init(&serr);
    if (df_kafka_producer_send(rt->producer, rd_kafka_topic_name(msg->rkt), msg->key, msg->key_len,
                               msg->payload, msg->len, copy, slot, &serr))
        df_error("cannot send again to %s: %s; the task's offset stays uncommitted",
                 rd_kafka_topic_name(msg->rkt), serr.message);
}

static void on_store(void *opaque, const char *topic, int32_t partition, int64_t next_offset)
{
    df_runtime_t *rt = opaque;
    df_error_t err;

    df_error_init(&err);
    for (size_t i = 0; i < rt->nconsumers; i++) {
        if (strcmp(rt->consumer_topics[i], topic) != 0)
            continue;
        if (df_kafka_consumer_store(rt->consumers[i], topic, partition, next_offset, &err) &&
            err.code != DF_ERR_CONFLICT)
            df_warn("cannot store offset %lld for %s/%d: %s", (long long)next_offset, topic,
                    (int)partition, err.message);
        return;
    }
}

typedef struct loop_state {
    df_runtime_t *rt;
} loop_state_t;

static void on_rebalance(void *opaque, df_kafka_rebalance_t event,
                         const rd_kafka_topic_partition_list_t *parts)
{
    loop_state_t *ls = opaque;

    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (event == DF_KAFKA_ASSIGNED)
            df_dispatch_assign(ls->rt->dispatch, p->topic, p->partition);
        else
            df_dispatch_revoke(ls->rt->dispatch, p->topic, p->partition);
    }
    df_info("rebalance: %s %d partition(s)",
            event == DF_KAFKA_ASSIGNED  ? "assigned"
            : event == DF_KAFKA_REVOKED ? "revoked"
                                        : "lost",
            parts->cnt);
}

/* Stop fetching (draining at shutdown). */
static void pause_all(df_runtime_t *rt)
{
    for (size_t i = 0; i < rt->nconsumers; i++) {
        rd_kafka_t *rk = df_kafka_consumer_handle(rt->consumers[i]);
        rd_kafka_topic_partition_list_t *assigned = NULL;
        if (rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned) {
            rd_kafka_pause_partitions(rk, assigned);
            rd_kafka_topic_partition_list_destroy(assigned);
        }
    }
}

/* Make librdkafka write a byte to the wake pipe when queue q (borrowed
 * from rk) turns non-empty, so the loop can wait on every consumer and
 * the producer at once. */
static void wake_on(df_runtime_t *rt, rd_kafka_queue_t *q)
{
    rd_kafka_queue_io_event_enable(q, rt->wake_fd[1], "w", 1);
    rd_kafka_queue_destroy(q);
}

/* One consumer per task topic named by --types, in group GROUP.TYPE: each
 * topic's partitions are then balanced over the workers on their own (one
 * group over the three topics balances only the total, and can give one
 * worker every partition of the busy topic). */
static df_code_t subscribe(df_runtime_t *rt, loop_state_t *ls, df_error_t *err)
{
    static const struct {
        const char *type;
        df_kafka_topic_t topic;
    } types[] = { { "export", DF_KAFKA_TOPIC_TASKS_EXPORT },
                  { "refresh", DF_KAFKA_TOPIC_TASKS_REFRESH },
                  { "lineage", DF_KAFKA_TOPIC_TASKS_LINEAGE } };
    df_kafka_config_t ccfg = rt->kcfg;
    bool wanted[3] = { false, false, false };
    const char *p = rt->cfg->types;

    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < 3; i++) {
            if (strlen(types[i].type) == len && strncmp(types[i].type, p, len) == 0)
                wanted[i] = found = true;
        }
        if (!found && len > 0)
            return df_error_set(err, DF_ERR_INVALID, "--types",
                                "unknown task type \"%.*s\" (expected export, refresh, lineage)",
                                (int)len, p);
        p = comma ? comma + 1 : NULL;
    }
    /* Bound librdkafka's own prefetch (the dispatch buffer bounds the rest). */
    ccfg.nprops = 0;
    if (df_kafka_config_add_prop(&ccfg, "queued.max.messages.kbytes=16384", err) ||
        df_kafka_config_add_prop(&ccfg, "queued.min.messages=10000", err))
        return err->code;
    for (size_t i = 0; i < rt->kcfg.nprops; i++) /* the user's win */
        ccfg.props[ccfg.nprops++] = rt->kcfg.props[i];
    for (size_t i = 0; i < 3; i++) {
        char group[DF_KAFKA_GROUP_MAX];
        const char *topic = rt->consumer_topics[rt->nconsumers];
        df_kafka_consumer_t *c;

        if (!wanted[i])
            continue;
        if (df_kafka_topic_name(&rt->kcfg, types[i].topic, rt->consumer_topics[rt->nconsumers],
                                DF_KAFKA_TOPIC_MAX, err))
            return err->code;
        snprintf(group, sizeof(group), "%s.%s", rt->cfg->group, types[i].type);
        c = df_kafka_consumer_new(&ccfg, group, on_rebalance, ls, err);
        if (!c)
            return err->code;
        rt->consumers[rt->nconsumers++] = c;
        if (df_kafka_consumer_subscribe(c, &topic, 1, err))
            return err->code;
        wake_on(rt, rd_kafka_queue_get_consumer(df_kafka_consumer_handle(c)));
    }
    if (rt->nconsumers == 0)
        return df_error_set(err, DF_ERR_INVALID, "--types", "no task type given");
    return DF_OK;
}

static df_code_t setup(df_runtime_t *rt, loop_state_t *ls, df_error_t *err)
{
    const df_worker_config_t *cfg = rt->cfg;
    char host[64];
    df_redis_t *redis;

    if (cfg->worker_id) {
        snprintf(rt->worker_id, sizeof(rt->worker_id), "%s", cfg->worker_id);
    } else {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "worker");
        host[sizeof(host) - 1] = '\0';
        snprintf(rt->worker_id, sizeof(rt->worker_id), "%s-%d", host, (int)getpid());
    }
    df_log_set_worker(rt->worker_id);
    rt->started_ms = df_now_ms();
    if (cfg->connectors_file && df_registry_load_file(cfg->connectors_file, err))
        return err->code;
    rt->keyring = df_secret_keyring_from_env(err);
    if (!rt->keyring) {
        if (err->code != DF_ERR_NOT_FOUND)
            return err->code; /* a key is set but unusable: say so */
        df_warn("DATAFLEET_SECRET_KEY is not set: platform tokens are not shared across the "
                "fleet (each worker fetches its own), and registered connectors with sealed "
                "secrets cannot be used");
        df_error_init(err);
    }
    if (cfg->openlineage_url && cfg->openlineage_url[0]) {
        rt->openlineage = df_openlineage_start(cfg->openlineage_url, cfg->openlineage_token,
                                               (size_t)cfg->openlineage_buffer, err);
        if (!rt->openlineage)
            return err->code;
    }
    if (cfg->registry_poll_ms > 0 && cfg->common.database_url && cfg->common.database_url[0]) {
        rt->registry_sync = df_registry_sync_start(cfg->common.database_url, rt->keyring,
                                                   cfg->registry_poll_ms, err);
        if (!rt->registry_sync)
            return err->code;
    }

    df_kafka_config_init(&rt->kcfg);
    snprintf(rt->kcfg.brokers, sizeof(rt->kcfg.brokers), "%s", cfg->common.kafka_brokers);
    snprintf(rt->kcfg.prefix, sizeof(rt->kcfg.prefix), "%s", cfg->common.topic_prefix);
    snprintf(rt->kcfg.client_id, sizeof(rt->kcfg.client_id), "%s", rt->worker_id);
    rt->kcfg.partitions = (int)cfg->common.partitions;
    if ((cfg->kafka_props && df_kafka_config_add_props(&rt->kcfg, cfg->kafka_props, err)) ||
        df_kafka_config_check(&rt->kcfg, err) ||
        df_kafka_topic_name(&rt->kcfg, DF_KAFKA_TOPIC_EVENTS, rt->events_topic,
                            sizeof(rt->events_topic), err) ||
        df_kafka_topic_name(&rt->kcfg, DF_KAFKA_TOPIC_DLQ, rt->dlq_topic, sizeof(rt->dlq_topic),
                            err))
        return err->code;

    /* Fail early on Redis and on the task schema, before joining the group. */
    redis = df_redis_new(cfg->common.redis_url, 2000, 5000, err);
    if (!redis)
        return err->code;
    if (df_lease_prepare(redis, err)) {
        df_redis_destroy(redis);
        return err->code;
    }
    df_redis_destroy(redis);
    {
        json_t *probe = json_object();
        df_task_validate(probe, err); /* loads the schema; an invalid {} is expected */
        json_decref(probe);
        if (err->code != DF_ERR_INVALID)
            return err->code ? err->code
                             : df_error_set(err, DF_ERR_INTERNAL, "schema",
                                            "the task schema accepted {}");
        df_error_init(err);
    }

    rt->dispatch = df_dispatch_new(on_store, rt, NULL);
    if (!rt->dispatch)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    rt->producer = df_kafka_producer_new(&rt->kcfg, on_delivery, rt, err);
    if (!rt->producer)
        return err->code;
    if (df_kafka_topics_ensure(df_kafka_producer_handle(rt->producer), &rt->kcfg, 30000, err))
        return err->code;
    if (pipe2(rt->wake_fd, O_NONBLOCK | O_CLOEXEC) != 0)
        return df_error_errno(err, "pipe2", errno);
    wake_on(rt, rd_kafka_queue_get_main(df_kafka_producer_handle(rt->producer)));
    return subscribe(rt, ls, err);
}

/* After the stop signal: finish in-flight tasks within the grace period,
 * then hand the rest back. */
static void drain(df_runtime_t *rt, loop_state_t *ls)
{
    int64_t grace_end = df_mono_ms() + rt->cfg->grace_ms;
    df_error_t err;

    (void)ls;
    pause_all(rt);
    df_info("stopping: %zu task(s) running, %lld ms to finish", df_dispatch_running(rt->dispatch),
            (long long)rt->cfg->grace_ms);
    /* New starts are refused from now on: queued slots are handed back.
     * The running ones go on, their stop flag untouched: a flag set and
     * cleared again here could be seen in between by a connector, which
     * would end its task as cancelled. */
    df_dispatch_stop_new(rt->dispatch, DF_STOP_HANDBACK);
    while (df_dispatch_running(rt->dispatch) > 0 && df_mono_ms() < grace_end) {
        for (size_t i = 0; i < rt->nconsumers; i++) {
            rd_kafka_message_t *msg;
            df_error_init(&err);
            msg = df_kafka_consumer_poll(rt->consumers[i], 0, &err);
            if (msg) /* fetched before the pause: not tracked, so it comes again */
                rd_kafka_message_destroy(msg);
        }
        df_kafka_producer_poll(rt->producer, 20);
    }
    if (df_dispatch_running(rt->dispatch) > 0) {
        df_info("grace period over: handing back %zu running task(s)",
                df_dispatch_running(rt->dispatch));
        df_dispatch_stop_all(rt->dispatch, DF_STOP_HANDBACK, true);
        while (df_dispatch_running(rt->dispatch) > 0) {
            df_kafka_producer_poll(rt->producer, 20);
        }
    }
}

static void teardown(df_runtime_t *rt, pthread_t *runners, size_t nrunners, bool heartbeat,
                     pthread_t beat)
{
    df_error_t err;

    __atomic_store_n(&rt->runners_exit, 1, __ATOMIC_RELAXED);
    if (rt->dispatch)
        df_dispatch_close(rt->dispatch);
    for (size_t i = 0; i < nrunners; i++)
        pthread_join(runners[i], NULL);
    __atomic_store_n(&rt->heartbeat_exit, 1, __ATOMIC_RELAXED);
    if (heartbeat)
        pthread_join(beat, NULL);
    df_error_init(&err);
    if (rt->producer && df_kafka_producer_flush(rt->producer, 10000, &err))
        df_warn("events still unsent at exit: %s (their tasks will run again)", err.message);
    for (size_t i = 0; i < rt->nconsumers; i++) {
        df_error_init(&err);
        if (df_kafka_consumer_close(rt->consumers[i], &err))
            df_warn("leaving the group: %s", err.message);
    }
    /* librdkafka's destroy waits for every message of the handle to be
     * destroyed: free the slots still held (handed back, never started)
     * first. Delivery reports that come after this (purged at producer
     * destroy) find no dispatch and are ignored. */
    {
        df_dispatch_t *d = rt->dispatch;
        __atomic_store_n(&rt->dispatch, NULL, __ATOMIC_RELEASE);
        df_dispatch_destroy(d);
    }
    for (size_t i = 0; i < rt->nconsumers; i++)
        df_kafka_consumer_destroy(rt->consumers[i]);
    df_kafka_producer_destroy(rt->producer);
    df_registry_sync_stop(rt->registry_sync);
    df_openlineage_stop(rt->openlineage, 3000);
    df_secret_keyring_destroy(rt->keyring);
    if (rt->wake_fd[0] >= 0) {
        close(rt->wake_fd[0]);
        close(rt->wake_fd[1]);
    }
}

int df_worker_run(const df_worker_config_t *cfg)
{
    df_runtime_t rt;
    loop_state_t ls = { .rt = &rt };
    pthread_t *runners;
    pthread_t beat;
    size_t nrunners = 0;
    bool heartbeat = false;
    size_t max_buffered = (size_t)cfg->concurrency * 16;
    int64_t last_poll_full = 0;
    df_error_t err;
    int rc = DF_EXIT_OK;

    df_wm_init();

    if (max_buffered < 1000)
        max_buffered = 1000;
    memset(&rt, 0, sizeof(rt));
    rt.cfg = cfg;
    rt.wake_fd[0] = rt.wake_fd[1] = -1;
    df_error_init(&err);
    runners = calloc((size_t)cfg->concurrency, sizeof(pthread_t));
    if (!runners)
        return DF_EXIT_FAILURE;
    if (setup(&rt, &ls, &err)) {
        df_error("cannot start: %s%s%s", err.field[0] ? err.field : "", err.field[0] ? ": " : "",
                 err.message);
        teardown(&rt, runners, 0, false, beat);
        free(runners);
        return err.code == DF_ERR_INVALID ? DF_EXIT_USAGE : DF_EXIT_FAILURE;
    }
    for (; nrunners < (size_t)cfg->concurrency; nrunners++)
        if (pthread_create(&runners[nrunners], NULL, df_runner_main, &rt) != 0)
            break;
    heartbeat = pthread_create(&beat, NULL, df_heartbeat_main, &rt) == 0;
    if (nrunners == 0 || !heartbeat) {
        df_error("cannot start threads");
        rc = DF_EXIT_FAILURE;
        df_program_request_stop();
    }
    df_info("worker started: group %s, types %s, concurrency %lld", cfg->group, cfg->types,
            (long long)cfg->concurrency);

    while (!df_program_stopping()) {
        bool full = df_dispatch_buffered(rt.dispatch) >= max_buffered;
        int64_t now = df_mono_ms();
        size_t got = 0;

        /* With a full buffer, fetch nothing (librdkafka holds a bounded
         * prefetch) but still poll once a second so rebalances are served
         * and the group keeps us; each such poll adds at most one message
         * per topic. */
        if (!full || now - last_poll_full >= 1000) {
            for (size_t i = 0; i < rt.nconsumers; i++) {
                for (int k = 0; k < (full ? 1 : 256); k++) {
                    rd_kafka_message_t *msg;
                    df_error_init(&err);
                    msg = df_kafka_consumer_poll(rt.consumers[i], 0, &err);
                    if (!msg) {
                        if (err.code)
                            df_warn("consumer: %s", err.message);
                        break;
                    }
                    df_dispatch_add(rt.dispatch, msg);
                    got++;
                }
            }
            if (full)
                last_poll_full = now;
        }
        df_kafka_producer_poll(rt.producer, 0);
        if (!got) {
            struct pollfd pfd = { .fd = rt.wake_fd[0], .events = POLLIN };
            char buf[64];
            if (poll(&pfd, 1, full ? 20 : 100) > 0)
                while (read(rt.wake_fd[0], buf, sizeof(buf)) > 0)
                    ;
        }
    }
    drain(&rt, &ls);
    teardown(&rt, runners, nrunners, heartbeat, beat);
    free(runners);
    df_info("worker stopped: %lld started, %lld succeeded, %lld failed, %lld to the DLQ",
            rt.tasks_started, rt.tasks_succeeded, rt.tasks_failed, rt.tasks_dlq);
    return rc;
}
