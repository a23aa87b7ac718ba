/* recorder_log: the human log line the recorder writes into task_logs for
 * each event it records (see recorder.h): what happened to the attempt, in
 * one sentence, at a level that follows the state (error for failed and
 * dead, warn for retrying and cancelled, info otherwise). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "df_task.h"
#include "recorder.h"

/* Append to buf at *used, bounded (a line longer than len is cut). */
static void add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n >= len ? len - 1 : *used + (size_t)n;
}

static long long int_of(const json_t *obj, const char *name, bool *found)
{
    json_t *v = json_object_get(obj, name);

    *found = json_is_integer(v);
    return *found ? (long long)json_integer_value(v) : 0;
}

/* "20000 rows, 3 chunks, 1200000 bytes" from a progress object; "" when it
 * has no totals. */
static void add_totals(char *buf, size_t len, size_t *used, const json_t *progress)
{
    static const char *const names[] = { "rows", "chunks", "bytes", "polls" };
    const char *sep = "";
    bool found;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        long long v = int_of(progress, names[i], &found);
        if (!found)
            continue;
        add(buf, len, used, "%s%lld %s", sep, v, names[i]);
        sep = ", ";
    }
}

/* ": <code>: <message>" of an event's error, when it has one. */
static void add_error(char *buf, size_t len, size_t *used, const json_t *event)
{
    const json_t *error = json_object_get(event, "error");
    const char *code = df_task_str(error, "code"), *message = df_task_str(error, "message");

    if (code)
        add(buf, len, used, ": %s", code);
    if (message && *message)
        add(buf, len, used, ": %s", message);
}

const char *df_recorder_log_line(const json_t *event, char *buf, size_t len)
{
    const char *state = df_task_str(event, "state");
    const char *worker = df_task_str(event, "worker");
    const json_t *task = json_object_get(event, "task");
    long long attempt = json_integer_value(json_object_get(event, "attempt"));
    const char *level = "info";
    size_t used = 0;
    bool found;

    buf[0] = '\0';
    if (!state)
        state = "?";
    if (strcmp(state, DF_STATE_QUEUED) == 0) {
        const char *type = df_task_str(event, "type"), *connector = df_task_str(event, "connector");
        if (attempt > 1)
            add(buf, len, &used, "attempt %lld queued", attempt);
        else
            add(buf, len, &used, "queued");
        if (type && connector)
            add(buf, len, &used, " (%s via connector %s)", type, connector);
    } else if (strcmp(state, DF_STATE_RUNNING) == 0) {
        add(buf, len, &used, "attempt %lld started", attempt);
        if (worker)
            add(buf, len, &used, " on worker %s", worker);
    } else if (strcmp(state, DF_STATE_PROGRESS) == 0) {
        const json_t *poll = json_object_get(task, "poll");
        add(buf, len, &used, "progress");
        if (json_object_size(json_object_get(event, "progress")) > 0) {
            add(buf, len, &used, ": ");
            add_totals(buf, len, &used, json_object_get(event, "progress"));
        }
        if (json_is_object(poll)) {
            long long after = int_of(poll, "after_ms", &found);
            add(buf, len, &used, "; the platform is still working, next look in %lld ms",
                found ? after : 0);
        }
    } else if (strcmp(state, DF_STATE_SUCCEEDED) == 0) {
        const json_t *result = json_object_get(event, "result");
        long long rows = int_of(result, "rows_written", &found);
        if (!found)
            rows = int_of(result, "rows", &found);
        add(buf, len, &used, "attempt %lld succeeded", attempt);
        if (found)
            add(buf, len, &used, ": %lld rows written", rows);
    } else if (strcmp(state, DF_STATE_RETRYING) == 0) {
        long long wait = int_of(json_object_get(event, "error"), "retry_after_ms", &found);
        level = "warn";
        add(buf, len, &used, "attempt %lld failed", attempt);
        add_error(buf, len, &used, event);
        add(buf, len, &used, "; retrying in %lld ms", found ? wait : 0);
    } else if (strcmp(state, DF_STATE_FAILED) == 0 || strcmp(state, DF_STATE_DEAD) == 0) {
        level = "error";
        add(buf, len, &used, "attempt %lld %s", attempt, state);
        add_error(buf, len, &used, event);
    } else if (strcmp(state, DF_STATE_CANCELLED) == 0) {
        level = "warn";
        add(buf, len, &used, "attempt %lld cancelled", attempt);
        add_error(buf, len, &used, event);
    } else {
        add(buf, len, &used, "attempt %lld: %s", attempt, state);
    }
    return level;
}
