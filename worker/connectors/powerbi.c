/* powerbi: the powerbi connector kind (see powerbi.h): probe, and export
 * operations for the export runner (worker/export.c).
 *
 * An export opens its push dataset (powerbi_dataset.c: found, or created),
 * clears the table for `replace` on a fresh start, then POSTs each chunk
 * as one rows request (powerbi_rows.c encodes it), paced fleet-wide per
 * dataset: POST rows requests per minute, rows per hour, and at most 5
 * POST rows requests in progress at once (a slot per request, df_slots).
 *
 * No duplicates on resume: before each POST the connector records the
 * chunk in flight in the task's checkpoint hash (df:ckpt:{task_id}: fields
 * inflight_chunk, inflight_rows = the table's row count before the POST,
 * inflight_n, inflight_skip); the export runner records the chunk as
 * written only after the POST was acknowledged. A resumed attempt that
 * finds the chunk after its checkpoint in flight counts the table's rows
 * (executeQueries) to learn whether that POST landed, and skips its rows
 * when it did. When Power BI cannot count, a `replace` restarts from the
 * first row and an `append` sends the chunk again, reported in the result
 * as possible_duplicate_rows. docs/CONNECTORS.md states the guarantee. */
#include "powerbi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "df_ratelimit.h"
#include "df_redis.h"
#include "df_slots.h"
#include "export.h"
#include "powerbi_api.h"
#include "powerbi_dataset.h"
#include "powerbi_refresh.h"
#include "powerbi_rows.h"

#define CKPT_KEEP_S        (7 * 24 * 3600) /* as the runner keeps its checkpoint */
#define RESENDS_MAX        3 /* sends of a chunk whose earlier send's fate is unknown */
#define POST_ROWS_TIMEOUT  120000
#define PENDING_TTL_MS     (POST_ROWS_TIMEOUT + 10000) /* a slot outlasts its request */
#define POSTS_BURST_MAX    4
#define ROWS_BODY_MAX_BYTE (256u * 1024u * 1024u)

typedef struct pbi_export {
    df_task_ctx_t *ctx;
    df_powerbi_config_t cfg;
    df_powerbi_client_t *client;
    df_powerbi_columns_t cols;
    df_powerbi_target_t target; /* the dataset and table */
    const char *mode;
    int64_t table_rows;   /* rows in the table before the next POST; -1: unknown */
    int64_t skip_rows;    /* rows of the next chunks Power BI already has */
    int64_t chunk_no;     /* the export's chunk number of the last chunk written */
    int64_t skipped_rows; /* rows not sent again because they had landed */
    int64_t possible_dups;
    int64_t posts_limit, posts_burst, rows_limit, rows_burst;
    char rows_path[1200];
    char posts_key[DF_RATELIMIT_KEY_MAX];
    char rows_key[DF_RATELIMIT_KEY_MAX];
    char pending_key[DF_SLOTS_KEY_MAX];
    bool holding; /* a pending slot, given back once the POST is answered */
    df_http_buf_t body;
    df_http_response_t resp;
} pbi_export_t;

/* What the last attempt left in the checkpoint about a chunk in flight. */
typedef struct inflight {
    int64_t chunk, rows, n, skip; /* chunk 0: none */
} inflight_t;

static df_outcome_kind_t nomem(df_outcome_t *out)
{
    return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
}

/* ---- the chunk in flight ------------------------------------------------- */

static void ckpt_key(const pbi_export_t *s, char *key, size_t len)
{
    snprintf(key, len, "df:ckpt:%s", s->ctx->task_id);
}

static void inflight_read(pbi_export_t *s, inflight_t *f)
{
    char key[160];
    df_error_t err;
    redisReply *r;
    int64_t *dst[4] = { &f->chunk, &f->rows, &f->n, &f->skip };

    memset(f, 0, sizeof(*f));
    f->rows = -1;
    if (!s->ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(s, key, sizeof(key));
    r = df_redis_command(s->ctx->redis, &err,
                         "HMGET %s inflight_chunk inflight_rows inflight_n inflight_skip", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4)
        for (size_t i = 0; i < 4; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                *dst[i] = strtoll(r->element[i]->str, NULL, 10);
    if (!r)
        df_warn("cannot read the chunk in flight of the last attempt: %s", err.message);
    freeReplyObject(r);
}

/* Record the chunk about to be sent. Without Redis there is no checkpoint
 * to resume from either, so nothing is lost by going on. */
static void inflight_write(pbi_export_t *s, int64_t n, int64_t skip)
{
    char key[160], v[4][24];
    df_error_t err;
    redisReply *r;

    if (!s->ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(s, key, sizeof(key));
    snprintf(v[0], sizeof(v[0]), "%lld", (long long)s->chunk_no);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)s->table_rows);
    snprintf(v[2], sizeof(v[2]), "%lld", (long long)n);
    snprintf(v[3], sizeof(v[3]), "%lld", (long long)skip);
    r = df_redis_command(s->ctx->redis, &err,
                         "HSET %s inflight_chunk %s inflight_rows %s inflight_n %s "
                         "inflight_skip %s",
                         key, v[0], v[1], v[2], v[3]);
    if (!r)
        df_warn("chunk %lld in flight not recorded: %s", (long long)s->chunk_no, err.message);
    freeReplyObject(r);
    freeReplyObject(df_redis_command(s->ctx->redis, &err, "EXPIRE %s %d", key, CKPT_KEEP_S));
}

/* The chunk in flight is known not to be in Power BI. */
static void inflight_clear(pbi_export_t *s)
{
    char key[160];
    df_error_t err;

    if (!s->ctx->redis)
        return;
    df_error_init(&err);
    ckpt_key(s, key, sizeof(key));
    freeReplyObject(df_redis_command(s->ctx->redis, &err,
                                     "HDEL %s inflight_chunk inflight_rows inflight_n "
                                     "inflight_skip",
                                     key));
}

/* The table's rows now, or -1 when Power BI cannot say. */
static int64_t count_rows(pbi_export_t *s)
{
    int64_t rows;
    return df_powerbi_count_rows(s->client, s->target.dataset_id, s->target.table, &rows) ? rows
                                                                                          : -1;
}

static int64_t after_post(const pbi_export_t *s, int64_t before, int64_t n)
{
    if (before < 0)
        return -1;
    return s->target.fifo_cap > 0 && before + n > s->target.fifo_cap ? s->target.fifo_cap
                                                                     : before + n;
}

/* A resumed export: settle the chunk the last attempt had in flight. */
static df_outcome_kind_t settle_inflight(pbi_export_t *s, const df_export_ctx_t *x,
                                         df_outcome_t *out)
{
    inflight_t f;
    df_powerbi_landed_t landed;

    inflight_read(s, &f);
    s->table_rows = count_rows(s);
    if (f.chunk != x->resume_chunks + 1 || f.n <= 0)
        return DF_OUTCOME_OK; /* none, or one the runner checkpointed */
    landed = df_powerbi_landed(f.rows, f.n, s->table_rows, s->target.fifo_cap);
    if (landed == DF_POWERBI_LANDED_YES) {
        s->skip_rows = f.skip + f.n;
        df_info("chunk %lld was in flight when the last attempt stopped and Power BI has its %lld "
                "rows (table: %lld rows): not sending them again",
                (long long)f.chunk, (long long)f.n, (long long)s->table_rows);
        return DF_OUTCOME_OK;
    }
    s->skip_rows = f.skip;
    if (landed == DF_POWERBI_LANDED_NO) {
        df_info("chunk %lld was in flight when the last attempt stopped; Power BI does not have "
                "it: sending it again",
                (long long)f.chunk);
        return DF_OUTCOME_OK;
    }
    if (strcmp(s->mode, "replace") == 0) {
        char key[160];
        df_error_t err;

        /* Start over: the next attempt clears the table and sends every row. */
        df_error_init(&err);
        ckpt_key(s, key, sizeof(key));
        freeReplyObject(df_redis_command(s->ctx->redis, &err, "DEL %s", key));
        df_outcome_set(out, DF_OUTCOME_RETRY, "restart_replace",
                       "chunk %lld was in flight when the last attempt stopped and Power BI "
                       "cannot tell whether it arrived: restarting the replace from the first row",
                       (long long)f.chunk);
        out->retry_after_ms = 0;
        return out->kind;
    }
    s->possible_dups += f.n;
    df_warn("chunk %lld (%lld rows) was in flight when the last attempt stopped and Power BI "
            "cannot tell whether it arrived: sending it again (its rows may be there twice)",
            (long long)f.chunk, (long long)f.n);
    return DF_OUTCOME_OK;
}

/* ---- limits --------------------------------------------------------------- */

/* The paces of a dataset. POST rows requests go 1/40 under the limit (at
 * least 1 under from 40 a minute): the fleet's clock is Redis's and the
 * platform counts by its own, so network jitter must not tip a window over.
 * Rows per hour: a chunk's rows are one cost, so the burst is a chunk. */
static void limits_init(pbi_export_t *s, size_t max_chunk)
{
    char id[DF_POWERBI_DATASET_ID_MAX];

    s->posts_limit = s->cfg.requests_per_minute;
    if (s->posts_limit >= 40)
        s->posts_limit -= s->posts_limit / 40;
    s->posts_burst = s->posts_limit < POSTS_BURST_MAX ? s->posts_limit : POSTS_BURST_MAX;
    s->rows_limit = s->cfg.rows_per_hour;
    s->rows_burst = (int64_t)max_chunk;
    snprintf(id, sizeof(id), "%.80s", s->target.dataset_id);
    snprintf(s->posts_key, sizeof(s->posts_key), "powerbi:%s:posts", id);
    snprintf(s->rows_key, sizeof(s->rows_key), "powerbi:%s:rows", id);
    snprintf(s->pending_key, sizeof(s->pending_key), "powerbi:%s:pending", id);
}

static bool ctx_stop(void *opaque)
{
    df_task_ctx_t *ctx = opaque;
    return ctx->should_stop(ctx) != DF_STOP_NONE;
}

/* A fleet-wide limiter (df_ratelimit, df_slots) did not admit: cancelled,
 * a wait too long for the worker's slot (a retry), or Redis failing. */
static df_outcome_kind_t limiter_failed(const df_error_t *e, df_outcome_t *out)
{
    df_error_t err = *e;

    if (err.code == DF_ERR_CANCELLED)
        return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled", "%s", err.message);
    if (err.code == DF_ERR_TIMEOUT) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "rate_limited", "%s", err.message);
        out->retry_after_ms = err.retry_after_ms;
        out->error.retry_after_ms = err.retry_after_ms;
        return out->kind;
    }
    df_outcome_set(out, DF_OUTCOME_RETRY, "rate_limiter_unavailable", "%s", err.message);
    out->retry_after_ms = 2000;
    return out->kind;
}

/* Wait for cost under a fleet-wide limit; a long wait is handed back to the
 * scheduler as a retry so the worker's slot is free meanwhile. */
static df_outcome_kind_t pace(pbi_export_t *s, const char *key, int64_t limit, int64_t period_ms,
                              int64_t burst, int64_t cost, df_outcome_t *out)
{
    df_error_t err;
    int64_t waited;

    if (!s->ctx->redis)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "rate_limiter_unavailable",
                              "Redis is unreachable: the fleet-wide Power BI limits cannot be "
                              "kept");
    df_error_init(&err);
    if (df_ratelimit_wait(s->ctx->redis, key, limit, period_ms, burst, cost,
                          DF_POWERBI_INPLACE_WAIT_MAX, ctx_stop, s->ctx, &waited, &err) == DF_OK)
        return DF_OUTCOME_OK;
    return limiter_failed(&err, out);
}

/* Before each send of a POST rows request: its turn under the per-minute
 * limit, then one of the dataset's pending slots (taking it again on a
 * resend renews it). */
static df_outcome_kind_t pace_post(void *arg, df_outcome_t *out)
{
    pbi_export_t *s = arg;
    df_error_t err;

    if (pace(s, s->posts_key, s->posts_limit, s->cfg.minute_ms, s->posts_burst, 1, out) !=
        DF_OUTCOME_OK)
        return out->kind;
    df_error_init(&err);
    if (df_slots_wait(s->ctx->redis, s->pending_key, s->ctx->task_id, DF_POWERBI_MAX_PENDING_POSTS,
                      PENDING_TTL_MS, DF_POWERBI_INPLACE_WAIT_MAX, ctx_stop, s->ctx, NULL,
                      &err) != DF_OK)
        return limiter_failed(&err, out);
    s->holding = true;
    return DF_OUTCOME_OK;
}

/* Give the pending slot back (the POST was answered, or given up). */
static void pending_release(pbi_export_t *s)
{
    df_error_t err;

    if (!s->holding)
        return;
    s->holding = false;
    df_error_init(&err);
    if (df_slots_release(s->ctx->redis, s->pending_key, s->ctx->task_id, &err) != DF_OK)
        df_warn("cannot give back the pending POST rows slot of dataset %s (%s): it frees "
                "itself within %d s",
                s->target.dataset_id, err.message, PENDING_TTL_MS / 1000);
}

/* ---- export operations ---------------------------------------------------- */

static void export_free(pbi_export_t *s)
{
    if (!s)
        return;
    pending_release(s);
    df_powerbi_client_close(s->client);
    df_powerbi_columns_free(&s->cols);
    df_http_buf_free(&s->body);
    df_http_response_free(&s->resp);
    df_http_response_free(&s->target.resp);
    free(s);
}

static df_outcome_kind_t read_target(pbi_export_t *s, const df_export_ctx_t *x, df_outcome_t *out)
{
    s->target.dataset = json_string_value(json_object_get(x->target, "dataset"));
    s->target.table = json_string_value(json_object_get(x->target, "table"));
    s->mode = x->mode;
    if (!json_is_object(x->target))
        return df_powerbi_target_invalid(
            out, "/params/target", "%s",
            "a powerbi export needs params.target {dataset, table, mode}");
    if (!s->target.dataset || !*s->target.dataset)
        return df_powerbi_target_invalid(
            out, "/params/target/dataset", "%s",
            "a powerbi export needs target.dataset (the push dataset's name)");
    if (!s->target.table || !*s->target.table)
        return df_powerbi_target_invalid(out, "/params/target/table", "%s",
                                         "a powerbi export needs target.table");
    if (strcmp(s->mode, "upsert") == 0)
        return df_powerbi_target_invalid(
            out, "/params/target/mode", "%s",
            "Power BI push datasets cannot update rows: mode upsert is not "
            "supported (use append or replace)");
    if (strcmp(s->mode, "append") != 0 && strcmp(s->mode, "replace") != 0)
        return df_powerbi_target_invalid(out, "/params/target/mode", "unknown mode %s", s->mode);
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t export_begin(df_export_ctx_t *x, void **state, size_t *max_chunk_rows,
                                      df_outcome_t *out)
{
    pbi_export_t *s = calloc(1, sizeof(*s));
    df_powerbi_call_t clear = { .method = "DELETE", .idempotent = true };
    size_t max_chunk = DF_POWERBI_MAX_ROWS_PER_POST;
    df_error_t err;

    df_error_init(&err);
    if (!s)
        return nomem(out);
    s->ctx = x->task;
    s->table_rows = -1;
    s->chunk_no = x->resume_chunks;
    df_http_buf_init(&s->body, ROWS_BODY_MAX_BYTE);
    df_http_response_init(&s->resp);
    df_http_response_init(&s->target.resp);
    if (read_target(s, x, out) || df_powerbi_config_read(s->ctx, &s->cfg, out))
        goto fail;
    if (df_powerbi_columns_init(&s->cols, x->columns, x->ncols, x->mapping, &err)) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params", "%s", err.message);
        out->error.code = err.code;
        snprintf(out->error.field, sizeof(out->error.field), "%s", err.field);
        goto fail;
    }
    if (!(s->client = df_powerbi_client_open(s->ctx, &s->cfg, out)))
        goto fail;
    s->target.ctx = s->ctx;
    s->target.client = s->client;
    s->target.cols = &s->cols;
    if (df_powerbi_target_open(&s->target, out) != DF_OUTCOME_OK)
        goto fail;
    if (!df_powerbi_dataset_path(s->rows_path, sizeof(s->rows_path), s->target.dataset_id,
                                 s->target.table, "rows")) {
        df_powerbi_target_invalid(out, "/params/target/table", "table name %s is too long",
                                  s->target.table);
        goto fail;
    }
    if ((int64_t)max_chunk > s->cfg.rows_per_hour)
        max_chunk = (size_t)s->cfg.rows_per_hour; /* one chunk must fit the hourly budget */
    limits_init(s, max_chunk);

    if (s->target.created) {
        s->table_rows = 0;
    } else if (strcmp(s->mode, "replace") == 0 && x->resume_rows == 0) {
        clear.path = s->rows_path;
        if (df_powerbi_send(s->client, &clear, &s->resp, out) != DF_OUTCOME_OK)
            goto fail;
        s->table_rows = 0;
        inflight_clear(s);
        df_info("replace: cleared table %s of dataset %s", s->target.table, s->target.dataset);
    } else if (settle_inflight(s, x, out) != DF_OUTCOME_OK) {
        goto fail;
    }
    *state = s;
    *max_chunk_rows = max_chunk;
    return DF_OUTCOME_OK;
fail:
    export_free(s);
    return out->kind;
}

/* Power BI has the chunk: the count follows it. */
static df_outcome_kind_t chunk_landed(pbi_export_t *s, int64_t n)
{
    s->table_rows = after_post(s, s->table_rows, n);
    return DF_OUTCOME_OK;
}

/* POST the encoded chunk (n rows), resending while it is known not to have
 * landed; a send whose answer was lost is settled by counting the table. */
static df_outcome_kind_t post_rows(pbi_export_t *s, int64_t n, df_outcome_t *out)
{
    bool maybe_applied, unsettled = false;
    df_powerbi_call_t call = {
        .method = "POST",
        .path = s->rows_path,
        .body = s->body.data,
        .body_len = s->body.len,
        .timeout_ms = POST_ROWS_TIMEOUT,
        .maybe_applied = &maybe_applied,
        .before_send = pace_post,
        .arg = s,
    };

    for (int sends = 1;; sends++) {
        int64_t now;
        df_powerbi_landed_t landed;

        maybe_applied = false;
        df_powerbi_send(s->client, &call, &s->resp, out);
        pending_release(s);
        if (out->kind == DF_OUTCOME_OK)
            return chunk_landed(s, n);
        if (!maybe_applied) {
            if (!unsettled)
                inflight_clear(s); /* a refusal: nothing of this chunk is in Power BI */
            return out->kind;
        }
        if (out->kind == DF_OUTCOME_CANCELLED)
            return out->kind; /* the next attempt settles the chunk in flight */
        now = count_rows(s);
        landed = df_powerbi_landed(s->table_rows, n, now, s->target.fifo_cap);
        if (landed == DF_POWERBI_LANDED_YES) {
            df_info("chunk %lld: the answer was lost but Power BI has the rows",
                    (long long)s->chunk_no);
            return chunk_landed(s, n);
        }
        unsettled = landed == DF_POWERBI_LANDED_UNKNOWN;
        if (sends >= RESENDS_MAX) {
            if (!unsettled)
                inflight_clear(s);
            out->retry_after_ms = df_powerbi_backoff_ms(sends);
            return out->kind; /* retryable: "connection_lost" */
        }
        if (unsettled)
            s->possible_dups += n;
        df_info("chunk %lld: %s; sending it again", (long long)s->chunk_no, out->error.message);
        df_outcome_free(out);
        df_outcome_init(out);
        if (df_task_ctx_sleep(s->ctx, df_powerbi_backoff_ms(sends)) != DF_STOP_NONE)
            return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled",
                                  "stopped before sending chunk %lld again",
                                  (long long)s->chunk_no);
    }
}

static df_outcome_kind_t export_write(void *state, const df_chunk_t *chunk, df_outcome_t *out)
{
    pbi_export_t *s = state;
    size_t from = 0;
    int64_t n;
    df_error_t err;

    df_error_init(&err);
    s->chunk_no++;
    if (s->skip_rows > 0) {
        from = (int64_t)chunk->nrows < s->skip_rows ? chunk->nrows : (size_t)s->skip_rows;
        s->skip_rows -= (int64_t)from;
        s->skipped_rows += (int64_t)from;
        if (from == chunk->nrows)
            return DF_OUTCOME_OK;
    }
    n = (int64_t)(chunk->nrows - from);
    s->body.len = 0;
    if (df_powerbi_rows_encode(chunk, from, &s->cols, &s->body, &err) != DF_OK) {
        if (err.code == DF_ERR_INVALID && !err.field[0]) /* the body's size limit */
            return df_outcome_set(out, DF_OUTCOME_PERMANENT, "chunk_too_large",
                                  "chunk %lld: its POST rows body is over %u MiB: lower "
                                  "params.chunk_rows",
                                  (long long)s->chunk_no, ROWS_BODY_MAX_BYTE >> 20);
        df_outcome_set(out, err.code == DF_ERR_NOMEM ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       err.code == DF_ERR_INVALID ? "invalid_row" : "encode_failed", "%s",
                       err.message);
        out->error.code = err.code;
        snprintf(out->error.field, sizeof(out->error.field), "%s", err.field);
        return out->kind;
    }
    if (pace(s, s->rows_key, s->rows_limit, 60 * s->cfg.minute_ms, s->rows_burst, n, out))
        return out->kind;
    inflight_write(s, n, (int64_t)from);
    return post_rows(s, n, out);
}

static df_outcome_kind_t export_end(void *state, df_outcome_t *out)
{
    pbi_export_t *s = state;

    out->result = json_pack("{s:s, s:s, s:s, s:s, s:b}", "dataset", s->target.dataset, "dataset_id",
                            s->target.dataset_id, "table", s->target.table, "mode", s->mode,
                            "dataset_created", s->target.created);
    if (out->result && s->skipped_rows > 0)
        json_object_set_new(out->result, "rows_found_landed",
                            json_integer((json_int_t)s->skipped_rows));
    if (out->result && s->possible_dups > 0)
        json_object_set_new(out->result, "possible_duplicate_rows",
                            json_integer((json_int_t)s->possible_dups));
    export_free(s);
    return DF_OUTCOME_OK;
}

static void export_abort(void *state)
{
    export_free(state);
}

static const df_export_ops_t powerbi_export = {
    .begin = export_begin,
    .write = export_write,
    .end = export_end,
    .abort = export_abort,
};

/* ---- probe and the kind ----------------------------------------------------- */

/* Get a token and list the datasets of the workspace. */
static df_outcome_kind_t powerbi_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    df_powerbi_config_t cfg;
    df_powerbi_client_t *client;
    df_powerbi_call_t call = { .method = "GET", .path = "datasets", .idempotent = true };
    df_http_response_t resp;
    json_t *doc;

    if (df_powerbi_config_read(ctx, &cfg, out) ||
        !(client = df_powerbi_client_open(ctx, &cfg, out)))
        return out->kind;
    df_http_response_init(&resp);
    if (df_powerbi_send(client, &call, &resp, out) == DF_OUTCOME_OK) {
        doc = json_loadb(resp.body, resp.body_len, 0, NULL);
        out->result =
            json_pack("{s:s, s:I}", "api_base_url", df_powerbi_client_base(client), "datasets",
                      (json_int_t)json_array_size(json_object_get(doc, "value")));
        json_decref(doc);
    }
    df_http_response_free(&resp);
    df_powerbi_client_close(client);
    return out->kind;
}

/* Reached only by export tasks without params.source. */
static df_outcome_kind_t powerbi_export_rows(df_task_ctx_t *ctx, df_outcome_t *out)
{
    (void)ctx;
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                   "a powerbi export needs params.source (where its rows come from)");
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/source");
    return out->kind;
}

const df_connector_ops_t df_connector_powerbi = {
    .kind = "powerbi",
    .export_ops = &powerbi_export,
    .probe = powerbi_probe,
    .export_rows = powerbi_export_rows,
    .refresh = df_powerbi_refresh,
    .lineage = df_powerbi_lineage,
};
