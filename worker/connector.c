/* connector: outcome helpers shared by the connectors. */
#include "connector.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "df_id.h"

void df_outcome_init(df_outcome_t *out)
{
    out->kind = DF_OUTCOME_OK;
    out->retry_after_ms = -1;
    out->code[0] = '\0';
    df_error_init(&out->error);
    out->result = NULL;
    out->job = NULL;
}

void df_outcome_free(df_outcome_t *out)
{
    json_decref(out->result);
    out->result = NULL;
    json_decref(out->job);
    out->job = NULL;
}

df_outcome_kind_t df_outcome_set(df_outcome_t *out, df_outcome_kind_t kind, const char *code,
                                 const char *fmt, ...)
{
    va_list ap;

    out->kind = kind;
    snprintf(out->code, sizeof(out->code), "%s", code);
    va_start(ap, fmt);
    df_error_setv(&out->error, kind == DF_OUTCOME_AUTH ? DF_ERR_AUTH : DF_ERR_INTERNAL, NULL, fmt,
                  ap);
    va_end(ap);
    out->error.retryable = kind == DF_OUTCOME_RETRY;
    return kind;
}

df_outcome_kind_t df_outcome_poll(df_outcome_t *out, json_t *job, int64_t after_ms)
{
    json_decref(out->job);
    out->kind = DF_OUTCOME_POLL;
    out->job = job;
    out->retry_after_ms = after_ms < 0 ? 0 : after_ms;
    out->code[0] = '\0';
    df_error_init(&out->error);
    return DF_OUTCOME_POLL;
}

df_code_t df_task_ctx_job_put(df_task_ctx_t *ctx, const json_t *job, df_error_t *err)
{
    if (job && !json_is_object(job))
        return df_error_set(err, DF_ERR_INVALID, "job", "a job state must be a JSON object");
    if (!ctx->job_put) /* a context without a runner (tests): nothing to keep */
        return DF_OK;
    return ctx->job_put(ctx, job, err);
}

df_stop_reason_t df_task_ctx_sleep(df_task_ctx_t *ctx, int64_t ms)
{
    int64_t end = df_mono_ms() + ms;
    df_stop_reason_t why;

    for (;;) {
        int64_t left = end - df_mono_ms();
        struct timespec ts;
        if ((why = ctx->should_stop(ctx)) != DF_STOP_NONE)
            return why;
        if (left <= 0)
            return DF_STOP_NONE;
        if (left > 20)
            left = 20;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}
