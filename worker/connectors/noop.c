/* noop: the built-in connector kind that calls no platform, for tests and
 * benchmarks. Every task type runs the same way. Params:
 *   sleep_ms       integer, or [min, max] for a random sleep (default 0)
 *   fail           "none" | "retryable" | "permanent" (default "none")
 *   fail_attempts  fail only the first N attempts (default: every attempt)
 *   retry_after_ms delay asked for by a retryable failure (default 100)
 *   rows           rows reported written (default 0)
 * Bad params fail the task permanently, naming the field. */
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "export.h"
#include "df_id.h"

static df_outcome_kind_t stopped(df_stop_reason_t why, df_outcome_t *out)
{
    if (why == DF_STOP_DEADLINE)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "deadline_exceeded",
                              "the task's deadline passed while it ran");
    return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled", "stopped on request");
}

/* Pick the sleep: an integer, or a uniform draw from [min, max]. */
static bool sleep_param(const json_t *params, int64_t *ms, df_outcome_t *out)
{
    json_t *v = json_object_get(params, "sleep_ms");

    *ms = 0;
    if (!v)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return true;
    }
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
        json_is_integer(json_array_get(v, 1))) {
        int64_t lo = json_integer_value(json_array_get(v, 0));
        int64_t hi = json_integer_value(json_array_get(v, 1));
        if (lo >= 0 && hi >= lo) {
            uint64_t r = ((uint64_t)rand() << 31) ^ (uint64_t)rand();
            *ms = lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
            return true;
        }
    }
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                   "params.sleep_ms: expected an integer >= 0 or [min, max]");
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/sleep_ms");
    return false;
}

static df_outcome_kind_t noop_run(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *params = ctx->params;
    const char *fail = json_string_value(json_object_get(params, "fail"));
    json_t *fa = json_object_get(params, "fail_attempts");
    json_t *ra = json_object_get(params, "retry_after_ms");
    json_t *rows = json_object_get(params, "rows");
    int64_t sleep_ms;
    df_stop_reason_t why;

    if (!sleep_param(params, &sleep_ms, out))
        return out->kind;
    if (fail && strcmp(fail, "none") != 0 && strcmp(fail, "retryable") != 0 &&
        strcmp(fail, "permanent") != 0)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                              "params.fail: expected \"none\", \"retryable\" or \"permanent\", "
                              "got \"%s\"",
                              fail);
    if (sleep_ms > 0 && (why = df_task_ctx_sleep(ctx, sleep_ms)) != DF_STOP_NONE)
        return stopped(why, out);
    if ((why = ctx->should_stop(ctx)) != DF_STOP_NONE)
        return stopped(why, out);

    if (fail && strcmp(fail, "none") != 0 &&
        (!json_is_integer(fa) || ctx->attempt <= json_integer_value(fa))) {
        if (strcmp(fail, "retryable") == 0) {
            df_outcome_set(out, DF_OUTCOME_RETRY, "noop_retryable",
                           "noop asked to fail (retryable) on attempt %d", ctx->attempt);
            out->retry_after_ms = json_is_integer(ra) ? json_integer_value(ra) : 100;
            out->error.retry_after_ms = out->retry_after_ms;
            return DF_OUTCOME_RETRY;
        }
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "noop_permanent",
                              "noop asked to fail (permanent) on attempt %d", ctx->attempt);
    }
    if (json_is_integer(rows)) {
        ctx->progress(ctx, json_integer_value(rows), 0, 1);
        out->result = json_pack("{s:I}", "rows_written", (json_int_t)json_integer_value(rows));
    }
    return DF_OUTCOME_OK;
}

const df_connector_ops_t df_connector_noop = {
    .kind = "noop",
    .export_ops = &df_export_noop_sink,
    .probe = noop_run,
    .export_rows = noop_run,
    .refresh = noop_run,
    .lineage = noop_run,
};
