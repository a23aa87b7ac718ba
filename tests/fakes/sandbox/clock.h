/* clock: the sandbox's scalable time. Every per-minute and per-hour quota
 * counts in fixed windows of "sandbox minutes" (--minute-ms real
 * milliseconds; an hour is 60 of them) measured from the sandbox's start
 * on the monotonic clock, so tests can run an hour's limit in seconds.
 * Windows are refilled whole when the next one starts, as Google and
 * Power BI describe their per-minute quotas. */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define SB_MINUTES_PER_HOUR 60

typedef struct sb_clock {
    int64_t start_mono_ms; /* df_mono_ms() at start-up */
    int64_t minute_ms;     /* length of one sandbox minute in real ms */
} sb_clock_t;

/* A fixed-window counter: `count` units used in window number `window`. */
typedef struct sb_window {
    int64_t window;
    int64_t count;
} sb_window_t;

void sb_clock_init(sb_clock_t *clock, int64_t minute_ms);

/* Real milliseconds since start-up. */
int64_t sb_clock_now(const sb_clock_t *clock);

/* Index of the window of `minutes` sandbox minutes that holds time t
 * (ms since start-up). minutes = 1 gives the sandbox minute. */
int64_t sb_clock_window(const sb_clock_t *clock, int64_t t, int64_t minutes);

/* Whole seconds (at least 1) from t until that window ends: the value of a
 * Retry-After header. */
int64_t sb_clock_retry_after_s(const sb_clock_t *clock, int64_t t, int64_t minutes);

/* Milliseconds from t until the window ends. */
int64_t sb_clock_ms_to_window_end(const sb_clock_t *clock, int64_t t, int64_t minutes);

/* The count of w in window `window` (0 when w holds an older window). */
int64_t sb_window_used(const sb_window_t *w, int64_t window);

/* Add amount to w in window `window` unless that would pass limit.
 * Returns false (and changes nothing) when it would. */
bool sb_window_take(sb_window_t *w, int64_t window, int64_t amount, int64_t limit);

#endif
