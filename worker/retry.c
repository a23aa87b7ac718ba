/* retry: retry policies and backoff waits (see retry.h). */
#include "retry.h"

#include <string.h>
#include <sys/random.h>

#include "df_id.h"

const df_retry_defaults_t df_retry_fallback = {
    .all = { .base_ms = 1000, .cap_ms = 300000, .max_attempts = 10 },
};

int df_retry_type_index(const char *type)
{
    static const char *const names[DF_RETRY_TYPES] = { "export", "refresh", "lineage", "probe" };

    for (int i = 0; type && i < DF_RETRY_TYPES; i++)
        if (strcmp(type, names[i]) == 0)
            return i;
    return -1;
}

/* Fields set in over replace those of p. */
static void merge(df_retry_policy_t *p, const df_retry_policy_t *over)
{
    if (over->base_ms > 0)
        p->base_ms = over->base_ms;
    if (over->cap_ms > 0)
        p->cap_ms = over->cap_ms;
    if (over->max_attempts > 0)
        p->max_attempts = over->max_attempts;
}

/* The fields of a connector's retry object (validated by the schema; a
 * value of the wrong type is ignored). */
static void merge_json(df_retry_policy_t *p, const json_t *obj)
{
    df_retry_policy_t over = { 0, 0, 0 };
    json_t *v;

    if (!json_is_object(obj))
        return;
    if (json_is_integer(v = json_object_get(obj, "base_ms")) && json_integer_value(v) > 0)
        over.base_ms = json_integer_value(v);
    if (json_is_integer(v = json_object_get(obj, "cap_ms")) && json_integer_value(v) > 0)
        over.cap_ms = json_integer_value(v);
    if (json_is_integer(v = json_object_get(obj, "max_attempts")) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 1000)
        over.max_attempts = (int)json_integer_value(v);
    merge(p, &over);
}

void df_retry_policy_resolve(const df_retry_defaults_t *kind, const json_t *conn_retry,
                             const char *type, df_retry_policy_t *out)
{
    int t = df_retry_type_index(type);

    *out = df_retry_fallback.all;
    if (!kind)
        kind = &df_retry_fallback;
    merge(out, &kind->all);
    if (t >= 0)
        merge(out, &kind->by_type[t]);
    merge_json(out, conn_retry);
    if (t >= 0)
        merge_json(out, json_object_get(json_object_get(conn_retry, "by_type"), type));
}

int df_retry_max_attempts(const df_retry_policy_t *policy, int task_max_attempts)
{
    int n = task_max_attempts;

    if (policy->max_attempts > 0 && policy->max_attempts < n)
        n = policy->max_attempts;
    return n < 1 ? 1 : n;
}

int64_t df_retry_wait_ms(const df_retry_policy_t *policy, int attempt, int64_t hint_ms,
                         df_retry_random_fn rnd, void *state)
{
    int64_t ceiling = policy->base_ms > 0 ? policy->base_ms : 0;
    int64_t cap = policy->cap_ms > 0 ? policy->cap_ms : ceiling;
    int64_t wait;

    /* base * 2^(attempt-1), doubling until it reaches the cap (no overflow). */
    for (int i = 1; i < attempt && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    wait = ceiling > 0 ? (int64_t)(rnd(state) % (uint64_t)(ceiling + 1)) : 0;
    return hint_ms > wait ? hint_ms : wait;
}

uint64_t df_retry_seed(void)
{
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) || seed == 0)
        seed = (uint64_t)df_mono_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)df_now_ms();
    return seed ? seed : 0x2545F4914F6CDD1DULL;
}

uint64_t df_retry_random(void *state)
{
    uint64_t *s = state;
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}
