/* df_slots: fleet-wide concurrency limits through Redis: at most `limit`
 * holders of a key at once, all workers together (e.g. Power BI's "5 max
 * pending POST rows requests per dataset"), where df_ratelimit bounds how
 * many start per period.
 *
 * A key is a sorted set "df:slots:<key>" of holder -> the time its slot
 * expires (Redis TIME, ms). One Lua script drops the expired holders and
 * admits the caller when fewer than limit remain, atomically however many
 * workers share the key. A holder that dies without giving its slot back
 * (kill -9) loses it when its ttl has passed, so the ttl must outlast what
 * the slot guards (a request's timeout); until then the fleet has one
 * slot fewer. Holders are names unique among the key's users (a task id):
 * taking again a slot one already holds renews it and takes no other. */
#ifndef DF_SLOTS_H
#define DF_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "df_error.h"
#include "df_ratelimit.h"
#include "df_redis.h"

#define DF_SLOTS_PREFIX     "df:slots:"
#define DF_SLOTS_KEY_MAX    200
#define DF_SLOTS_HOLDER_MAX 128

/* Take a slot of key (Redis key "df:slots:<key>") for holder, for ttl_ms.
 * *taken: whether holder now holds one (renewed when it already did).
 * limit >= 1, 1 <= ttl_ms <= 2^40, key and holder 1 to DF_SLOTS_KEY_MAX /
 * DF_SLOTS_HOLDER_MAX bytes: else DF_ERR_INVALID. Redis errors as df_redis
 * gives them (retryable where they are). */
df_code_t df_slots_take(df_redis_t *redis, const char *key, const char *holder, int64_t limit,
                        int64_t ttl_ms, bool *taken, df_error_t *err);

/* Take, polling (from 2 ms, doubling to 32 ms: a slot frees when a
 * holder's request is answered, which no one announces) until admitted.
 * should_stop (may be NULL) is checked between polls: DF_ERR_CANCELLED.
 * max_wait_ms > 0 bounds the wait: DF_ERR_TIMEOUT, retryable, with
 * retry_after_ms 1000. *waited_ms (may be NULL): the milliseconds spent,
 * whatever the outcome. */
df_code_t df_slots_wait(df_redis_t *redis, const char *key, const char *holder, int64_t limit,
                        int64_t ttl_ms, int64_t max_wait_ms, df_ratelimit_stop_fn should_stop,
                        void *ctx, int64_t *waited_ms, df_error_t *err);

/* Give holder's slot of key back (nothing when it holds none). */
df_code_t df_slots_release(df_redis_t *redis, const char *key, const char *holder, df_error_t *err);

#endif
