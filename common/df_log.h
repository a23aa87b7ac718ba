/* df_log: structured logging, one JSON object per line on stderr with ts,
 * level, component, msg, and task_id / connector / worker / trace_id where
 * they apply. Registered secrets and bearer/basic credentials are redacted
 * here, whatever the caller passed. Thread-safe. */
#ifndef DF_LOG_H
#define DF_LOG_H

#include <stdbool.h>

typedef enum df_log_level {
    DF_LOG_DEBUG = 0,
    DF_LOG_INFO = 1,
    DF_LOG_WARN = 2,
    DF_LOG_ERROR = 3,
} df_log_level_t;

/* Process-wide setup. component is borrowed and must outlive logging
 * (a string literal). Safe to call again to change the level. */
void df_log_init(const char *component, df_log_level_t level);

/* Parse "debug|info|warn|error". Returns false on anything else. */
bool df_log_level_parse(const char *text, df_log_level_t *out);
const char *df_log_level_name(df_log_level_t level);

/* Process-wide worker id added to every line (copied). NULL clears. */
void df_log_set_worker(const char *worker_id);

/* Per-thread context added to every line of this thread until cleared.
 * Strings are copied; NULL leaves a field out. */
void df_log_ctx_set(const char *task_id, const char *connector, const char *trace_id);
void df_log_ctx_clear(void);

/* Register a secret value: every later log line replaces it with "***".
 * Values shorter than 4 bytes are ignored (they would mask ordinary text).
 * Copied; bounded table (oldest dropped when full). */
void df_log_redact_add(const char *secret);

/* Redirect output to fd (default 2). For tests. */
void df_log_set_fd(int fd);

bool df_log_enabled(df_log_level_t level);
void df_log_write(df_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like df_log_write with extra top-level fields from a JSON object text
 * (e.g. "{\"partition\":3}"), merged after the standard ones. */
void df_log_write_kv(df_log_level_t level, const char *extra_json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The level check happens before the arguments are evaluated. */
#define DF_LOG(level, ...)                    \
    do {                                      \
        if (df_log_enabled(level))            \
            df_log_write(level, __VA_ARGS__); \
    } while (0)
#define df_debug(...) DF_LOG(DF_LOG_DEBUG, __VA_ARGS__)
#define df_info(...)  DF_LOG(DF_LOG_INFO, __VA_ARGS__)
#define df_warn(...)  DF_LOG(DF_LOG_WARN, __VA_ARGS__)
#define df_error(...) DF_LOG(DF_LOG_ERROR, __VA_ARGS__)

/* Apply the redaction rules to text in place (same or shorter length).
 * Exposed so other outputs (events, API errors) share one rule set. */
void df_log_redact(char *text);

#endif
