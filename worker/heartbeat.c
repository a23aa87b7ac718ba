/* heartbeat: the worker's background duties against Redis: renew the leases
 * of running tasks, pick up cancel flags (df:cancel:{id}) several times a
 * second, and publish this worker's liveness (df:worker:{id}, df:workers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connector.h"
#include "df_build.h"
#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"
#include "lease.h"
#include "runtime.h"

#define CANCEL_POLL_MS 250

typedef struct beat {
    df_runtime_t *rt;
    df_redis_t *redis;
    size_t cap;
    char (*task_ids)[64];
    char (*tokens)[DF_LEASE_TOKEN_MAX];
    const char **idp, **tokp;
    int *lost;
    int64_t last_warn_ms;
} beat_t;

static void warn_paced(beat_t *b, const df_error_t *err)
{
    int64_t now = df_mono_ms();
    if (now - b->last_warn_ms > 5000) {
        df_warn("heartbeat: %s", err->message);
        b->last_warn_ms = now;
    }
}

static bool connect_redis(beat_t *b)
{
    df_error_t err;
    if (b->redis)
        return true;
    df_error_init(&err);
    b->redis = df_redis_new(b->rt->cfg->common.redis_url, 2000, 5000, &err);
    if (!b->redis)
        warn_paced(b, &err);
    return b->redis != NULL;
}

static void check_cancels(beat_t *b, size_t n)
{
    const char **argv = calloc(n + 1, sizeof(char *));
    char(*keys)[80] = calloc(n, 80);
    df_error_t err;
    redisReply *r;

    if (!argv || !keys)
        goto out;
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], 80, "df:cancel:%s", b->task_ids[i]);
        argv[i + 1] = keys[i];
    }
    df_error_init(&err);
    r = df_redis_commandv(b->redis, (int)n + 1, argv, NULL, &err);
    if (!r) {
        warn_paced(b, &err);
        goto out;
    }
    for (size_t i = 0; i < n && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING) {
            df_info("task %s: cancel requested", b->task_ids[i]);
            df_dispatch_stop_task(b->rt->dispatch, b->task_ids[i], DF_STOP_CANCELLED);
        }
    }
    freeReplyObject(r);
out:
    free(argv);
    free(keys);
}

static void renew(beat_t *b, size_t n)
{
    df_error_t err;

    df_error_init(&err);
    for (size_t i = 0; i < n; i++) {
        b->idp[i] = b->task_ids[i];
        b->tokp[i] = b->tokens[i];
    }
    if (df_lease_renew(b->redis, n, b->idp, b->tokp, b->rt->cfg->lease_ttl_ms, b->lost, &err)) {
        warn_paced(b, &err);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (b->lost[i])
            df_dispatch_stop_task(b->rt->dispatch, b->task_ids[i], DF_STOP_LEASE_LOST);
}

static void announce(beat_t *b)
{
    char key[200], now[40], running[24], started[40], ttl[24];
    df_error_t err;
    redisReply *r;
    long long score = (long long)df_now_ms();

    df_error_init(&err);
    snprintf(key, sizeof(key), "df:worker:%s", b->rt->worker_id);
    df_time_format(df_now_ms(), now, sizeof(now));
    df_time_format(b->rt->started_ms, started, sizeof(started));
    snprintf(running, sizeof(running), "%zu", df_dispatch_running(b->rt->dispatch));
    df_redis_field_t fields[] = {
        { "worker", b->rt->worker_id }, { "heartbeat_at", now },   { "started_at", started },
        { "running", running },         { "version", DF_VERSION }, { "types", b->rt->cfg->types },
    };
    if (df_redis_hset(b->redis, key, fields, sizeof(fields) / sizeof(fields[0]), &err)) {
        warn_paced(b, &err);
        return;
    }
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(b->rt->cfg->heartbeat_ms * 3 / 1000 + 1));
    r = df_redis_command(b->redis, &err, "EXPIRE %s %s", key, ttl);
    freeReplyObject(r);
    r = df_redis_command(b->redis, &err, "ZADD df:workers %lld %s", score, b->rt->worker_id);
    freeReplyObject(r);
}

void *df_heartbeat_main(void *arg)
{
    beat_t b = { .rt = arg };
    int64_t last_renew = 0;

    b.cap = (size_t)b.rt->cfg->concurrency + 16;
    b.task_ids = calloc(b.cap, 64);
    b.tokens = calloc(b.cap, DF_LEASE_TOKEN_MAX);
    b.idp = calloc(b.cap, sizeof(char *));
    b.tokp = calloc(b.cap, sizeof(char *));
    b.lost = calloc(b.cap, sizeof(int));
    if (!b.task_ids || !b.tokens || !b.idp || !b.tokp || !b.lost) {
        df_error("heartbeat: out of memory");
        goto out;
    }
    while (!__atomic_load_n(&b.rt->heartbeat_exit, __ATOMIC_RELAXED)) {
        int64_t now = df_mono_ms();
        if (connect_redis(&b)) {
            size_t n = df_dispatch_leases(b.rt->dispatch, b.task_ids, b.tokens, b.cap);
            if (n)
                check_cancels(&b, n);
            if (now - last_renew >= b.rt->cfg->heartbeat_ms) {
                if (n)
                    renew(&b, n);
                announce(&b);
                last_renew = now;
            }
        }
        usleep(CANCEL_POLL_MS * 1000);
    }
    if (b.redis) { /* leaving: say so at once instead of letting the entry expire */
        df_error_t err;
        char key[200];
        redisReply *r;
        df_error_init(&err);
        snprintf(key, sizeof(key), "df:worker:%s", b.rt->worker_id);
        r = df_redis_command(b.redis, &err, "DEL %s", key);
        freeReplyObject(r);
        r = df_redis_command(b.redis, &err, "ZREM df:workers %s", b.rt->worker_id);
        freeReplyObject(r);
    }
out:
    df_redis_destroy(b.redis);
    free(b.task_ids);
    free(b.tokens);
    free(b.idp);
    free(b.tokp);
    free(b.lost);
    return NULL;
}
