/* clock: scalable sandbox time and fixed-window quota counters. */
#include "clock.h"

#include "df_id.h"

void sb_clock_init(sb_clock_t *clock, int64_t minute_ms)
{
    clock->start_mono_ms = df_mono_ms();
    clock->minute_ms = minute_ms > 0 ? minute_ms : 60000;
}

int64_t sb_clock_now(const sb_clock_t *clock)
{
    return df_mono_ms() - clock->start_mono_ms;
}

int64_t sb_clock_window(const sb_clock_t *clock, int64_t t, int64_t minutes)
{
    return t / (clock->minute_ms * minutes);
}

int64_t sb_clock_ms_to_window_end(const sb_clock_t *clock, int64_t t, int64_t minutes)
{
    int64_t span = clock->minute_ms * minutes;

    return (t / span + 1) * span - t;
}

int64_t sb_clock_retry_after_s(const sb_clock_t *clock, int64_t t, int64_t minutes)
{
    int64_t ms = sb_clock_ms_to_window_end(clock, t, minutes);
    int64_t s = (ms + 999) / 1000;

    return s < 1 ? 1 : s;
}

int64_t sb_window_used(const sb_window_t *w, int64_t window)
{
    return w->window == window ? w->count : 0;
}

bool sb_window_take(sb_window_t *w, int64_t window, int64_t amount, int64_t limit)
{
    int64_t used = sb_window_used(w, window);

    if (used + amount > limit)
        return false;
    w->window = window;
    w->count = used + amount;
    return true;
}
