/* df_ratelimit: fleet-wide rate limits through Redis, so all workers that
 * call one platform together stay within its documented limit (requests
 * per minute, rows per hour...).
 *
 * One GCRA (generic cell rate algorithm) state per key in Redis
 * ("df:rl:<key>", a theoretical arrival time with a TTL), updated by one
 * Lua script that reads the clock with Redis TIME: the server's clock, so
 * workers' clock skew does not matter, and the check and the update are
 * atomic however many workers share the key.
 *
 * The guarantee: in ANY window of period_ms, the costs admitted under a key
 * add up to at most limit, for all workers together. burst is the largest
 * cost that may go at once after an idle spell; it is paid for in
 * sustained rate, which is (limit - burst + 1) per period_ms: a token
 * bucket of capacity burst refilled at that rate hands out, within any
 * half-open window of period_ms, strictly less than burst + (limit -
 * burst + 1) = limit + 1 units, so at most limit whole ones. So
 * burst = 1 paces evenly at exactly limit per period, but banks nothing:
 * a slot no worker is ready for is lost; a burst of a few absorbs workers'
 * scheduling jitter, a larger one lets a batch start at once. A cost
 * larger than burst could never be admitted and is refused. Example: 120
 * requests per minute, burst 5: 5 at once, then 116 per minute. */
#ifndef DF_RATELIMIT_H
#define DF_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"
#include "df_redis.h"

#define DF_RATELIMIT_PREFIX  "df:rl:"
#define DF_RATELIMIT_KEY_MAX 200

/* Take cost units under key (its Redis key is "df:rl:<key>"). *wait_ms is
 * 0 when the cost was admitted now (and recorded), else the milliseconds
 * until it would be (nothing recorded: take again then). limit >= 1,
 * period_ms >= 1, 1 <= cost <= burst <= limit; burst <= 0 means burst =
 * cost. DF_ERR_INVALID for parameters out of range, Redis errors as
 * df_redis gives them (retryable where they are). */
df_code_t df_ratelimit_take(df_redis_t *redis, const char *key, int64_t limit, int64_t period_ms,
                            int64_t burst, int64_t cost, int64_t *wait_ms, df_error_t *err);

/* Returns true when the caller should stop waiting (cancelled, shutting
 * down). */
typedef bool (*df_ratelimit_stop_fn)(void *ctx);

/* Take, sleeping as long as told and taking again, until admitted.
 * should_stop (may be NULL) is checked at least every 100 ms while
 * sleeping: DF_ERR_CANCELLED when it says stop. max_wait_ms > 0 bounds the
 * total wait: when admission is further away than that, DF_ERR_TIMEOUT,
 * retryable, retry_after_ms = the wait Redis announced (so a task can go
 * back to the scheduler instead of holding a slot). *waited_ms (may be
 * NULL) gets the milliseconds spent waiting, whatever the outcome. */
df_code_t df_ratelimit_wait(df_redis_t *redis, const char *key, int64_t limit, int64_t period_ms,
                            int64_t burst, int64_t cost, int64_t max_wait_ms,
                            df_ratelimit_stop_fn should_stop, void *ctx, int64_t *waited_ms,
                            df_error_t *err);

#endif
