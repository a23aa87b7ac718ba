/* df_error: the project's error type (see df_error.h). */
#include "df_error.h"

#include <stdio.h>
#include <string.h>

void df_error_init(df_error_t *err)
{
    err->code = DF_OK;
    err->retryable = false;
    err->retry_after_ms = -1;
    err->field[0] = '\0';
    err->message[0] = '\0';
}

void df_error_clear(df_error_t *err)
{
    if (err)
        df_error_init(err);
}

df_code_t df_error_setv(df_error_t *err, df_code_t code, const char *field, const char *fmt,
                        va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->retryable = false;
    err->retry_after_ms = -1;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return code;
}

df_code_t df_error_set(df_error_t *err, df_code_t code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    df_error_setv(err, code, field, fmt, ap);
    va_end(ap);
    return code;
}

df_code_t df_error_errno(df_error_t *err, const char *call, int errnum)
{
    return df_error_set(err, DF_ERR_IO, call, "%s: %s", call, strerror(errnum));
}

void df_error_prefix(df_error_t *err, const char *fmt, ...)
{
    char prefix[DF_ERR_MSG_MAX];
    char old[DF_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    {
        size_t plen = strnlen(prefix, sizeof(err->message) - 3);
        size_t olen = strnlen(old, sizeof(err->message) - 3 - plen);
        memcpy(err->message, prefix, plen);
        memcpy(err->message + plen, ": ", 2);
        memcpy(err->message + plen + 2, old, olen);
        err->message[plen + 2 + olen] = '\0';
    }
}

const char *df_code_name(df_code_t code)
{
    switch (code) {
    case DF_OK: return "ok";
    case DF_ERR_INVALID: return "invalid";
    case DF_ERR_NOMEM: return "nomem";
    case DF_ERR_IO: return "io";
    case DF_ERR_KAFKA: return "kafka";
    case DF_ERR_REDIS: return "redis";
    case DF_ERR_PG: return "postgres";
    case DF_ERR_HTTP: return "http";
    case DF_ERR_TIMEOUT: return "timeout";
    case DF_ERR_NOT_FOUND: return "not_found";
    case DF_ERR_AUTH: return "auth";
    case DF_ERR_CANCELLED: return "cancelled";
    case DF_ERR_CONFLICT: return "conflict";
    case DF_ERR_UNSUPPORTED: return "unsupported";
    case DF_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}
