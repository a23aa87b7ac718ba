/* retry: how long a retryable failure waits before the next attempt, and
 * how many attempts a task gets. A policy {base_ms, cap_ms, max_attempts}
 * comes from the connector's kind (its defaults, then its defaults for the
 * task type), overridden by the connector definition's `retry` object (then
 * its `retry.by_type.<type>`), field by field (docs/RETRIES.md).
 *
 * The wait after attempt n failed is "full jitter": a uniformly random time
 * in [0, min(cap_ms, base_ms * 2^(n-1))], raised to the platform's
 * Retry-After when the connector reported one. The random source is a
 * parameter so tests are deterministic. */
#ifndef DF_RETRY_H
#define DF_RETRY_H

#include <jansson.h>
#include <stdint.h>

/* The task types a policy can be given for (by_type). */
typedef enum df_retry_type {
    DF_RETRY_EXPORT = 0,
    DF_RETRY_REFRESH,
    DF_RETRY_LINEAGE,
    DF_RETRY_PROBE,
    DF_RETRY_TYPES
} df_retry_type_t;

/* One policy. In defaults and overrides, 0 means "not set here: inherit". */
typedef struct df_retry_policy {
    int64_t base_ms;  /* the first wait's ceiling */
    int64_t cap_ms;   /* no wait's ceiling grows past this */
    int max_attempts; /* attempts at most (a task's own max_attempts may lower it) */
} df_retry_policy_t;

/* A connector kind's defaults: for every task type, then per type. */
typedef struct df_retry_defaults {
    df_retry_policy_t all;
    df_retry_policy_t by_type[DF_RETRY_TYPES];
} df_retry_defaults_t;

/* What a kind with no defaults of its own gets (1 s, 5 min, 10 attempts). */
extern const df_retry_defaults_t df_retry_fallback;

/* The index of a task type ("export", ...), or -1 for anything else. */
int df_retry_type_index(const char *type);

/* The policy for a task of type (may be NULL or unknown: the kind's `all`
 * only) on a connector of a kind with defaults kind (NULL: the fallback)
 * whose definition has the `retry` object conn_retry (borrowed; may be
 * NULL). Fields missing everywhere take the fallback's. */
void df_retry_policy_resolve(const df_retry_defaults_t *kind, const json_t *conn_retry,
                             const char *type, df_retry_policy_t *out);

/* Attempts a task gets: the smaller of its own max_attempts and the
 * policy's (at least 1). */
int df_retry_max_attempts(const df_retry_policy_t *policy, int task_max_attempts);

/* A source of uniformly random 64-bit numbers. */
typedef uint64_t (*df_retry_random_fn)(void *state);

/* The wait after attempt `attempt` (1, 2, ...) failed: full jitter drawn
 * with rnd(state), at least hint_ms when hint_ms >= 0 (the platform's
 * Retry-After; -1 when the connector gave none). */
int64_t df_retry_wait_ms(const df_retry_policy_t *policy, int attempt, int64_t hint_ms,
                         df_retry_random_fn rnd, void *state);

/* A small fast generator (xorshift64*) for df_retry_wait_ms: seed *state
 * with df_retry_seed, then pass df_retry_random and &state. One state per
 * thread. */
uint64_t df_retry_seed(void);
uint64_t df_retry_random(void *state);

#endif
