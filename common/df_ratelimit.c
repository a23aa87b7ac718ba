/* df_ratelimit: GCRA in one Redis Lua script (see df_ratelimit.h). */
#include "df_ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "df_id.h"
#include "df_metrics.h"

#define SLEEP_SLICE_MS 100

/* KEYS[1] = df:rl:<key>; ARGV = limit, period_ms, burst, cost.
 * Times in microseconds from Redis TIME. The state is the theoretical
 * arrival time (tat): the bucket holds burst - (tat - now) / interval
 * units. Returns 0 when admitted (tat advanced), else the milliseconds
 * until the cost would be admitted (nothing written). replicate_commands
 * lets Redis < 5 accept a write after TIME; later versions always do. */
static const char *const gcra_lua =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local limit = tonumber(ARGV[1])\n"
    "local period = tonumber(ARGV[2]) * 1000\n"
    "local burst = tonumber(ARGV[3])\n"
    "local cost = tonumber(ARGV[4])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local interval = period / (limit - burst + 1)\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "if tat < now then tat = now end\n"
    "local new_tat = tat + cost * interval\n"
    "local allow_at = new_tat - burst * interval\n"
    "if allow_at > now then\n"
    "  return math.ceil((allow_at - now) / 1000)\n"
    "end\n"
    "new_tat = math.ceil(new_tat)\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',\n"
    "           math.ceil((new_tat - now) / 1000) + 1)\n"
    "return 0\n";

static df_redis_script_t gcra_script;
static pthread_once_t gcra_once = PTHREAD_ONCE_INIT;

static void gcra_init(void)
{
    df_redis_script_init(&gcra_script, gcra_lua);
}

df_code_t df_ratelimit_take(df_redis_t *redis, const char *key, int64_t limit, int64_t period_ms,
                            int64_t burst, int64_t cost, int64_t *wait_ms, df_error_t *err)
{
    char rkey[sizeof(DF_RATELIMIT_PREFIX) + DF_RATELIMIT_KEY_MAX];
    char a_limit[24], a_period[24], a_burst[24], a_cost[24];
    const char *keys[1] = { rkey };
    const char *args[4] = { a_limit, a_period, a_burst, a_cost };
    redisReply *reply;
    df_code_t rc = DF_OK;

    *wait_ms = 0;
    if (burst <= 0)
        burst = cost;
    if (!key || !*key || strlen(key) > DF_RATELIMIT_KEY_MAX)
        return df_error_set(err, DF_ERR_INVALID, "key", "rate limit key must be 1-%d bytes",
                            DF_RATELIMIT_KEY_MAX);
    if (limit < 1 || period_ms < 1 || cost < 1 || limit > ((int64_t)1 << 40) ||
        period_ms > ((int64_t)1 << 40))
        return df_error_set(err, DF_ERR_INVALID, "limit",
                            "rate limit %s: limit, period_ms and cost must be positive", key);
    if (burst > limit)
        return df_error_set(err, DF_ERR_INVALID, "burst",
                            "rate limit %s: burst %lld is above limit %lld", key, (long long)burst,
                            (long long)limit);
    if (cost > burst)
        return df_error_set(err, DF_ERR_INVALID, "cost",
                            "rate limit %s: cost %lld is above burst %lld and could never be "
                            "admitted",
                            key, (long long)cost, (long long)burst);

    pthread_once(&gcra_once, gcra_init);
    snprintf(rkey, sizeof(rkey), "%s%s", DF_RATELIMIT_PREFIX, key);
    snprintf(a_limit, sizeof(a_limit), "%lld", (long long)limit);
    snprintf(a_period, sizeof(a_period), "%lld", (long long)period_ms);
    snprintf(a_burst, sizeof(a_burst), "%lld", (long long)burst);
    snprintf(a_cost, sizeof(a_cost), "%lld", (long long)cost);
    reply = df_redis_evalsha(redis, &gcra_script, 1, keys, 4, args, err);
    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
        *wait_ms = reply->integer;
    else
        rc = df_error_set(err, DF_ERR_REDIS, "EVALSHA",
                          "rate limit %s: unexpected reply from the rate limit script", key);
    freeReplyObject(reply);
    return rc;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A few ms of jitter so workers told the same wait do not all come back in
 * the same millisecond. */
static int64_t jitter_ms(int64_t wait)
{
    static _Thread_local uint64_t state;
    int64_t span = wait / 8;

    if (span > 20)
        span = 20;
    if (span < 1)
        return 0;
    if (!state)
        state = (uint64_t)df_mono_ms() ^ (uint64_t)(uintptr_t)&state ^ 0x9e3779b97f4a7c15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (int64_t)(state % (uint64_t)(span + 1));
}

static df_metric_t *waits_metric, *wait_seconds_metric;

static void init_metrics(void)
{
    waits_metric = df_metric_counter(
        "datafleet_ratelimit_waits_total",
        "Requests that waited for the fleet-wide rate limiter, by platform and limit.",
        "platform,limit");
    wait_seconds_metric =
        df_metric_counter("datafleet_ratelimit_wait_seconds_total",
                          "Time spent waiting for the fleet-wide rate limiter.", "platform,limit");
}

/* Labels from a key "platform:target:limit": its first and last parts
 * (bounded words; the target, a dataset or an account, is left out). */
static void count_wait(const char *key, int64_t waited_ms)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char platform[32] = "other", limit[32] = "";
    const char *colon = strchr(key, ':'), *last = strrchr(key, ':');

    pthread_once(&once, init_metrics);
    if (colon)
        snprintf(platform, sizeof(platform), "%.*s", (int)(colon - key), key);
    if (last)
        snprintf(limit, sizeof(limit), "%s", last + 1);
    df_metric_inc(waits_metric, 1, platform, limit);
    df_metric_inc(wait_seconds_metric, (double)waited_ms / 1000.0, platform, limit);
}

df_code_t df_ratelimit_wait(df_redis_t *redis, const char *key, int64_t limit, int64_t period_ms,
                            int64_t burst, int64_t cost, int64_t max_wait_ms,
                            df_ratelimit_stop_fn should_stop, void *ctx, int64_t *waited_ms,
                            df_error_t *err)
{
    int64_t started = df_mono_ms(), waited = 0;
    df_code_t rc;

    for (;;) {
        int64_t wait = 0, until;

        rc = df_ratelimit_take(redis, key, limit, period_ms, burst, cost, &wait, err);
        waited = df_mono_ms() - started;
        if (rc != DF_OK || wait == 0)
            break;
        if (max_wait_ms > 0 && waited + wait > max_wait_ms) {
            rc = df_error_set(err, DF_ERR_TIMEOUT, "rate_limit",
                              "rate limit %s: next slot in %lld ms, beyond the %lld ms allowed",
                              key, (long long)wait, (long long)max_wait_ms);
            if (err) {
                err->retryable = true;
                err->retry_after_ms = wait;
            }
            break;
        }
        until = df_mono_ms() + wait + jitter_ms(wait);
        for (;;) {
            int64_t left = until - df_mono_ms();
            if (should_stop && should_stop(ctx)) {
                rc = df_error_set(err, DF_ERR_CANCELLED, "rate_limit",
                                  "rate limit %s: stopped while waiting", key);
                break;
            }
            if (left <= 0)
                break;
            sleep_ms(left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS);
        }
        if (rc != DF_OK) {
            waited = df_mono_ms() - started;
            break;
        }
    }
    if (waited > 0)
        count_wait(key, waited);
    if (waited_ms)
        *waited_ms = waited;
    return rc;
}
