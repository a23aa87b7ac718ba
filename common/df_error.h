/* df_error: the project's one error type: a code (0 = OK, never renumbered)
 * plus an embedded error object with a message, the failing field or call,
 * and retry hints. Foreign errors (librdkafka, libcurl, hiredis, libpq,
 * jansson) are turned into this at their adapter in common/. */
#ifndef DF_ERROR_H
#define DF_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Codes are part of the contract (exit codes and events map from them):
 * append new ones at the end, never renumber. */
typedef enum df_code {
    DF_OK = 0,
    DF_ERR_INVALID = 1,   /* bad input: a field, an option, a message */
    DF_ERR_NOMEM = 2,     /* allocation failed */
    DF_ERR_IO = 3,        /* system call or file error (errno kept in message) */
    DF_ERR_KAFKA = 4,     /* librdkafka */
    DF_ERR_REDIS = 5,     /* hiredis */
    DF_ERR_PG = 6,        /* libpq */
    DF_ERR_HTTP = 7,      /* libcurl or an HTTP status */
    DF_ERR_TIMEOUT = 8,   /* a deadline passed */
    DF_ERR_NOT_FOUND = 9, /* a named thing does not exist */
    DF_ERR_AUTH = 10,     /* credentials refused */
    DF_ERR_CANCELLED = 11,
    DF_ERR_CONFLICT = 12, /* already exists / already running */
    DF_ERR_UNSUPPORTED = 13,
    DF_ERR_INTERNAL = 14,
} df_code_t;

#define DF_ERR_MSG_MAX   512
#define DF_ERR_FIELD_MAX 256

/* Embedded error object. df_error_init cannot fail; a set error can be
 * cleared with df_error_clear and reused. */
typedef struct df_error {
    df_code_t code;
    bool retryable;
    int64_t retry_after_ms;       /* -1 when unknown */
    char field[DF_ERR_FIELD_MAX]; /* JSON path, option name or failing call */
    char message[DF_ERR_MSG_MAX];
} df_error_t;

void df_error_init(df_error_t *err);
void df_error_clear(df_error_t *err);

/* Set code, field (may be NULL) and a printf-style message. Returns code so
 * callers can `return df_error_set(...)`. err may be NULL (then only the code
 * is returned). */
df_code_t df_error_set(df_error_t *err, df_code_t code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
df_code_t df_error_setv(df_error_t *err, df_code_t code, const char *field, const char *fmt,
                        va_list ap);

/* Like df_error_set with message "CALL: strerror(errno)". */
df_code_t df_error_errno(df_error_t *err, const char *call, int errnum);

/* Prefix the existing message with "prefix: " (keeps code and field). */
void df_error_prefix(df_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Static name of a code, e.g. "invalid", "kafka". Never NULL. */
const char *df_code_name(df_code_t code);

#endif
