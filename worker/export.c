/* export: the export task runner (see export.h). Memory is bounded by one
 * chunk; the checkpoint (df:ckpt:{task_id}: rows, chunks) is written after
 * each chunk the platform acknowledged and removed when the export ends. */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "df_redis.h"
#include "metrics.h"

#define DEFAULT_CHUNK_ROWS 10000
#define CKPT_KEEP_S        (7 * 24 * 3600)

static bool source_should_stop(void *opaque)
{
    df_task_ctx_t *ctx = opaque;
    return ctx->should_stop(ctx) != DF_STOP_NONE;
}

static void ckpt_key(char *buf, size_t len, const char *task_id)
{
    snprintf(buf, len, "df:ckpt:%s", task_id);
}

/* Rows and chunks written by earlier attempts (0 when none or no Redis). */
static void ckpt_read(df_task_ctx_t *ctx, int64_t *rows, int64_t *chunks)
{
    char key[128];
    df_error_t err;
    redisReply *r;

    *rows = *chunks = 0;
    if (!ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(key, sizeof(key), ctx->task_id);
    r = df_redis_command(ctx->redis, &err, "HMGET %s rows chunks", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            *rows = strtoll(r->element[0]->str, NULL, 10);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            *chunks = strtoll(r->element[1]->str, NULL, 10);
    }
    freeReplyObject(r);
}

/* Record a chunk the platform acknowledged. A failure only costs a resend
 * of this chunk if the task is resumed, so it is logged, not fatal. */
static void ckpt_write(df_task_ctx_t *ctx, int64_t rows, int64_t chunks)
{
    char key[128], rows_s[32], chunks_s[32];
    df_error_t err;
    redisReply *r;

    if (!ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(key, sizeof(key), ctx->task_id);
    snprintf(rows_s, sizeof(rows_s), "%lld", (long long)rows);
    snprintf(chunks_s, sizeof(chunks_s), "%lld", (long long)chunks);
    r = df_redis_command(ctx->redis, &err, "HSET %s rows %s chunks %s", key, rows_s, chunks_s);
    if (!r)
        df_warn("checkpoint after chunk %lld not saved: %s", (long long)chunks, err.message);
    freeReplyObject(r);
    r = df_redis_command(ctx->redis, &err, "EXPIRE %s %d", key, CKPT_KEEP_S);
    freeReplyObject(r);
}

static void ckpt_clear(df_task_ctx_t *ctx)
{
    char key[128];
    df_error_t err;
    redisReply *r;

    if (!ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(key, sizeof(key), ctx->task_id);
    r = df_redis_command(ctx->redis, &err, "DEL %s", key);
    freeReplyObject(r);
}

/* A source failure as an outcome: bad data is permanent, a connection
 * problem retryable. */
static df_outcome_kind_t source_failed(const df_error_t *err, df_outcome_t *out)
{
    if (err->retryable) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "source_unavailable", "source: %s", err->message);
        out->retry_after_ms = err->retry_after_ms >= 0 ? err->retry_after_ms : 2000;
        out->error.retry_after_ms = out->retry_after_ms;
    } else {
        df_outcome_set(out, DF_OUTCOME_PERMANENT,
                       err->code == DF_ERR_INVALID ? "invalid_source" : "source_failed",
                       "source: %s", err->message);
    }
    snprintf(out->error.field, sizeof(out->error.field), "%s", err->field);
    return out->kind;
}

static df_outcome_kind_t stopped(df_stop_reason_t why, df_outcome_t *out)
{
    if (why == DF_STOP_DEADLINE)
        return df_outcome_set(out, DF_OUTCOME_CANCELLED, "deadline_exceeded",
                              "the task's deadline passed during the export");
    return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled",
                          "stopped between chunks (cancelled or handed back)");
}

df_outcome_kind_t df_export_run(df_task_ctx_t *ctx, const df_export_ops_t *ops, df_outcome_t *out)
{
    const json_t *source = json_object_get(ctx->params, "source");
    const json_t *target = json_object_get(ctx->params, "target");
    const json_t *chunk_rows_j = json_object_get(ctx->params, "chunk_rows");
    size_t chunk_rows = json_is_integer(chunk_rows_j) ? (size_t)json_integer_value(chunk_rows_j)
                                                      : DEFAULT_CHUNK_ROWS;
    df_source_env_t env = {
        .database_url = ctx->database_url,
        .should_stop = source_should_stop,
        .stop_ctx = ctx,
        .traceparent = ctx->traceparent,
    };
    df_export_ctx_t x = { .task = ctx, .target = target };
    df_source_t *src;
    df_chunk_t chunk;
    df_error_t err;
    void *state = NULL;
    size_t max_chunk = chunk_rows;
    int64_t rows, chunks, bytes = 0;
    df_stop_reason_t why;

    df_error_init(&err);
    x.mode = json_string_value(json_object_get(target, "mode"));
    if (!x.mode)
        x.mode = "append";
    x.mapping = json_object_get(ctx->params, "mapping");
    ckpt_read(ctx, &x.resume_rows, &x.resume_chunks);
    rows = x.resume_rows;
    chunks = x.resume_chunks;

    src = df_source_open(source, &env, &err);
    if (!src)
        return source_failed(&err, out);
    x.columns = df_source_columns(src, &x.ncols);
    if (x.resume_rows > 0) {
        df_info("resuming the export after %lld rows (%lld chunks) already written",
                (long long)x.resume_rows, (long long)x.resume_chunks);
        if (df_source_skip(src, x.resume_rows, &err)) {
            df_source_close(src);
            return source_failed(&err, out);
        }
    }
    if (ops->begin(&x, &state, &max_chunk, out) != DF_OUTCOME_OK) {
        df_source_close(src);
        return out->kind;
    }
    if (max_chunk == 0 || max_chunk > chunk_rows)
        max_chunk = chunk_rows;

    df_chunk_init(&chunk);
    for (;;) {
        if ((why = ctx->should_stop(ctx)) != DF_STOP_NONE) {
            stopped(why, out);
            goto fail;
        }
        if (df_source_next(src, &chunk, max_chunk, &err)) {
            source_failed(&err, out);
            goto fail;
        }
        if (chunk.nrows == 0)
            break;
        if (ops->write(state, &chunk, out) != DF_OUTCOME_OK)
            goto fail;
        rows += (int64_t)chunk.nrows;
        df_wm_export_rows(ctx->connector, (int64_t)chunk.nrows);
        chunks++;
        bytes += (int64_t)df_chunk_bytes(&chunk);
        ckpt_write(ctx, rows, chunks);
        ctx->progress(ctx, rows, bytes, chunks);
    }
    df_chunk_free(&chunk);
    df_source_close(src);
    if (ops->end(state, out) != DF_OUTCOME_OK)
        return out->kind; /* end frees its state whatever happens */
    ckpt_clear(ctx);
    if (!out->result)
        out->result = json_object();
    json_object_set_new(out->result, "rows_written", json_integer(rows));
    json_object_set_new(out->result, "chunks", json_integer(chunks));
    if (x.resume_rows > 0)
        json_object_set_new(out->result, "resumed_after_rows", json_integer(x.resume_rows));
    return DF_OUTCOME_OK;
fail:
    df_chunk_free(&chunk);
    df_source_close(src);
    ops->abort(state);
    return out->kind;
}

/* ---- the noop sink ------------------------------------------------------ */

typedef struct sink {
    int64_t rows;
} sink_t;

static df_outcome_kind_t sink_begin(df_export_ctx_t *x, void **state, size_t *max_chunk_rows,
                                    df_outcome_t *out)
{
    sink_t *s = calloc(1, sizeof(*s));
    (void)x;
    if (!s)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    *state = s;
    *max_chunk_rows = 0; /* no limit of its own */
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t sink_write(void *state, const df_chunk_t *chunk, df_outcome_t *out)
{
    sink_t *s = state;
    (void)out;
    s->rows += (int64_t)chunk->nrows;
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t sink_end(void *state, df_outcome_t *out)
{
    (void)out;
    free(state);
    return DF_OUTCOME_OK;
}

static void sink_abort(void *state)
{
    free(state);
}

const df_export_ops_t df_export_noop_sink = {
    .begin = sink_begin,
    .write = sink_write,
    .end = sink_end,
    .abort = sink_abort,
};
