/* df_slots: fleet-wide concurrency limits in one Redis Lua script (see
 * df_slots.h). */
#include "df_slots.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "df_id.h"

#define POLL_FIRST_MS 2
#define POLL_MAX_MS   32

/* KEYS[1] = df:slots:<key>; ARGV = holder, limit, ttl_ms. Scores are
 * expiry times in ms from Redis TIME. Returns 1 when holder holds a slot
 * (added, or renewed), 0 when all are taken. The key lives as long as its
 * longest slot. */
static const char *const take_lua =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local limit = tonumber(ARGV[2])\n"
    "local ttl = tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and\n"
    "   redis.call('ZCARD', KEYS[1]) >= limit then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
    "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
    "return 1\n";

static df_redis_script_t take_script;
static pthread_once_t take_once = PTHREAD_ONCE_INIT;

static void take_init(void)
{
    df_redis_script_init(&take_script, take_lua);
}

static df_code_t check_names(const char *key, const char *holder, df_error_t *err)
{
    if (!key || !*key || strlen(key) > DF_SLOTS_KEY_MAX)
        return df_error_set(err, DF_ERR_INVALID, "key", "slots key must be 1-%d bytes",
                            DF_SLOTS_KEY_MAX);
    if (!holder || !*holder || strlen(holder) > DF_SLOTS_HOLDER_MAX)
        return df_error_set(err, DF_ERR_INVALID, "holder", "slots %s: holder must be 1-%d bytes",
                            key, DF_SLOTS_HOLDER_MAX);
    return DF_OK;
}

df_code_t df_slots_take(df_redis_t *redis, const char *key, const char *holder, int64_t limit,
                        int64_t ttl_ms, bool *taken, df_error_t *err)
{
    char rkey[sizeof(DF_SLOTS_PREFIX) + DF_SLOTS_KEY_MAX], a_limit[24], a_ttl[24];
    const char *keys[1] = { rkey };
    const char *args[3] = { holder, a_limit, a_ttl };
    redisReply *reply;
    df_code_t rc;

    *taken = false;
    if ((rc = check_names(key, holder, err)) != DF_OK)
        return rc;
    if (limit < 1 || limit > ((int64_t)1 << 40) || ttl_ms < 1 || ttl_ms > ((int64_t)1 << 40))
        return df_error_set(err, DF_ERR_INVALID, "limit",
                            "slots %s: limit and ttl_ms must be positive", key);
    pthread_once(&take_once, take_init);
    snprintf(rkey, sizeof(rkey), "%s%s", DF_SLOTS_PREFIX, key);
    snprintf(a_limit, sizeof(a_limit), "%lld", (long long)limit);
    snprintf(a_ttl, sizeof(a_ttl), "%lld", (long long)ttl_ms);
    reply = df_redis_evalsha(redis, &take_script, 1, keys, 3, args, err);
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    if (reply->type == REDIS_REPLY_INTEGER)
        *taken = reply->integer == 1;
    else
        rc = df_error_set(err, DF_ERR_REDIS, "EVALSHA",
                          "slots %s: unexpected reply from the slots script", key);
    freeReplyObject(reply);
    return rc;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

df_code_t df_slots_wait(df_redis_t *redis, const char *key, const char *holder, int64_t limit,
                        int64_t ttl_ms, int64_t max_wait_ms, df_ratelimit_stop_fn should_stop,
                        void *ctx, int64_t *waited_ms, df_error_t *err)
{
    int64_t started = df_mono_ms(), poll = POLL_FIRST_MS;
    bool taken = false;
    df_code_t rc;

    for (;;) {
        rc = df_slots_take(redis, key, holder, limit, ttl_ms, &taken, err);
        if (rc != DF_OK || taken)
            break;
        if (should_stop && should_stop(ctx)) {
            rc = df_error_set(err, DF_ERR_CANCELLED, "slots", "slots %s: stopped while waiting",
                              key);
            break;
        }
        if (max_wait_ms > 0 && df_mono_ms() - started + poll > max_wait_ms) {
            rc = df_error_set(err, DF_ERR_TIMEOUT, "slots",
                              "slots %s: all %lld taken for over %lld ms", key, (long long)limit,
                              (long long)max_wait_ms);
            if (err) {
                err->retryable = true;
                err->retry_after_ms = 1000;
            }
            break;
        }
        sleep_ms(poll);
        poll = poll * 2 < POLL_MAX_MS ? poll * 2 : POLL_MAX_MS;
    }
    if (waited_ms)
        *waited_ms = df_mono_ms() - started;
    return rc;
}

df_code_t df_slots_release(df_redis_t *redis, const char *key, const char *holder, df_error_t *err)
{
    char rkey[sizeof(DF_SLOTS_PREFIX) + DF_SLOTS_KEY_MAX];
    redisReply *reply;
    df_code_t rc;

    if ((rc = check_names(key, holder, err)) != DF_OK)
        return rc;
    snprintf(rkey, sizeof(rkey), "%s%s", DF_SLOTS_PREFIX, key);
    reply = df_redis_command(redis, err, "ZREM %s %s", rkey, holder);
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    freeReplyObject(reply);
    return DF_OK;
}
