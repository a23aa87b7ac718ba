/* export: the export task runner (see export.h). Memory is bounded by one
 * chunk; the checkpoint (df:ckpt:{task_id}: rows, chunks) is written after
 * each chunk the platform acknowledged and removed when the export ends. */
#include "export.h"

#include <libpq-fe.h>
#include <openssl/evp.h>
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

/* ---- the export's own lineage edge (docs/LINEAGE.md) ---------------------- */

/* A lineage node {namespace, name, kind}. */
static json_t *lineage_node(const char *ns, const char *name, const char *kind)
{
    return json_pack("{s:s, s:s, s:s}", "namespace", ns, "name", name, "kind", kind);
}

/* The source's node: postgres://host:port + db/query/<hash> (a query has
 * no one table), file://<path> for csv/ndjson files, the URL without its
 * query for http_json. Never a credential: userinfo, passwords and query
 * strings are left out. seen: what the opened source said it read
 * (df_source_lineage; NULL: nothing), whose namespace and database name
 * the query node when given. */
static json_t *source_node(const json_t *source, const json_t *seen, const char *database_url)
{
    const char *kind = json_string_value(json_object_get(source, "kind"));
    const char *url = json_string_value(json_object_get(source, "url"));
    const char *path = json_string_value(json_object_get(source, "path"));
    char ns[300], name[600];

    if (kind && strcmp(kind, "postgres") == 0) {
        const char *query = json_string_value(json_object_get(source, "query"));
        PQconninfoOption *opts = PQconninfoParse(url            ? url
                                                 : database_url ? database_url
                                                                : "",
                                                 NULL);
        const char *host = "localhost", *port = "5432", *db = "postgres";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        char hex[13] = "";
        for (PQconninfoOption *o = opts; o && o->keyword; o++) {
            if (!o->val || !*o->val)
                continue;
            if (strcmp(o->keyword, "host") == 0)
                host = o->val;
            else if (strcmp(o->keyword, "port") == 0)
                port = o->val;
            else if (strcmp(o->keyword, "dbname") == 0)
                db = o->val;
        }
        snprintf(ns, sizeof(ns), "postgres://%.200s:%.20s", host, port);
        EVP_Digest(query ? query : "", query ? strlen(query) : 0, md, &n, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 6 && i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (json_is_string(json_object_get(seen, "namespace")) &&
            json_is_string(json_object_get(seen, "database"))) {
            snprintf(ns, sizeof(ns), "%s", json_string_value(json_object_get(seen, "namespace")));
            db = json_string_value(json_object_get(seen, "database"));
        }
        snprintf(name, sizeof(name), "%.200s/query/%s", db, hex);
        PQconninfoFree(opts);
        return lineage_node(ns, name, "query");
    }
    if (path) {
        snprintf(name, sizeof(name), "%.590s", path);
        return lineage_node("file://", name, "file");
    }
    if (url) {
        size_t cut = strcspn(url, "?#");
        const char *scheme_end = strstr(url, "://");
        const char *host = scheme_end ? scheme_end + 3 : url;
        const char *at = memchr(host, '@', strcspn(host, "/?#"));
        size_t hlen;
        if (at)
            host = at + 1;
        hlen = strcspn(host, "/?#");
        snprintf(ns, sizeof(ns), "%.*s%.*s", (int)(scheme_end ? scheme_end - url + 3 : 0), url,
                 (int)(hlen < 200 ? hlen : 200), host);
        snprintf(name, sizeof(name), "%.*s",
                 (int)(url + cut > host + hlen ? (url + cut) - (host + hlen) : 0), host + hlen);
        return lineage_node(ns, name[0] ? name : "/", "api");
    }
    return lineage_node("unknown://", kind ? kind : "source", "source");
}

/* The target's node, by connector kind: Power BI's table in its dataset,
 * Google Sheets' sheet, otherwise the connector itself. */
static json_t *target_node(const df_task_ctx_t *ctx, const json_t *target)
{
    const char *kind = ctx->connector_kind ? ctx->connector_kind : "unknown";
    const json_t *cfg = ctx->connector_config;
    char ns[300], name[600];

    if (strcmp(kind, "powerbi") == 0) {
        const char *tenant = json_string_value(json_object_get(cfg, "tenant_id"));
        const char *ws = json_string_value(json_object_get(target, "workspace"));
        if (!ws)
            ws = json_string_value(json_object_get(cfg, "workspace_id"));
        snprintf(ns, sizeof(ns), "powerbi://%.200s", tenant ? tenant : ctx->connector);
        snprintf(name, sizeof(name), "workspaces/%.100s/datasets/%.200s/tables/%.200s",
                 ws ? ws : "myorg",
                 json_string_value(json_object_get(target, "dataset"))
                     ? json_string_value(json_object_get(target, "dataset"))
                     : "?",
                 json_string_value(json_object_get(target, "table"))
                     ? json_string_value(json_object_get(target, "table"))
                     : "?");
        return lineage_node(ns, name, "table");
    }
    if (strcmp(kind, "google_sheets") == 0) {
        const char *id = json_string_value(json_object_get(target, "spreadsheet_id"));
        const char *sheet = json_string_value(json_object_get(target, "sheet"));
        if (!id)
            id = json_string_value(json_object_get(cfg, "spreadsheet_id"));
        snprintf(ns, sizeof(ns), "sheets://%.200s", id ? id : ctx->connector);
        return lineage_node(ns, sheet ? sheet : "Sheet1", "sheet");
    }
    snprintf(ns, sizeof(ns), "%.60s://%.200s", kind, ctx->connector);
    return lineage_node(ns, "target", "dataset");
}

/* result.lineage of a finished export: source -> target, with the rows
 * written, the column mapping and the task; and the relations the source
 * read (seen's inputs) -> the source. */
static json_t *export_lineage(const df_task_ctx_t *ctx, const json_t *source, const json_t *seen,
                              const json_t *target, const json_t *mapping, int64_t rows)
{
    json_t *from = source_node(source, seen, ctx->database_url);
    json_t *to = target_node(ctx, target);
    json_t *attrs = json_pack("{s:I, s:s}", "rows", (json_int_t)rows, "task_id", ctx->task_id);
    json_t *graph, *nodes, *edges, *input;
    size_t i;

    if (json_is_object(mapping))
        json_object_set(attrs, "mapping", (json_t *)mapping);
    /* the arguments are read before json_pack steals from and to */
    graph = json_pack("{s:[o, o], s:[{s:{s:O, s:O}, s:{s:O, s:O}, s:s, s:o}]}", "nodes", from, to,
                      "edges", "from", "namespace", json_object_get(from, "namespace"), "name",
                      json_object_get(from, "name"), "to", "namespace",
                      json_object_get(to, "namespace"), "name", json_object_get(to, "name"), "kind",
                      "feeds", "attrs", attrs);
    nodes = json_object_get(graph, "nodes");
    edges = json_object_get(graph, "edges");
    json_array_foreach(json_object_get(seen, "inputs"), i, input)
    {
        if (!nodes || !edges || !json_is_string(json_object_get(input, "namespace")) ||
            !json_is_string(json_object_get(input, "name")))
            continue;
        json_array_append(nodes, input);
        json_array_append_new(edges,
                              json_pack("{s:{s:O, s:O}, s:{s:O, s:O}, s:s}", "from", "namespace",
                                        json_object_get(input, "namespace"), "name",
                                        json_object_get(input, "name"), "to", "namespace",
                                        json_object_get(from, "namespace"), "name",
                                        json_object_get(from, "name"), "kind", "feeds"));
    }
    return graph;
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
    json_t *seen;
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
    seen = json_incref((json_t *)df_source_lineage(src));
    df_source_close(src);
    if (ops->end(state, out) != DF_OUTCOME_OK) {
        json_decref(seen);
        return out->kind; /* end frees its state whatever happens */
    }
    ckpt_clear(ctx);
    if (!out->result)
        out->result = json_object();
    json_object_set_new(out->result, "rows_written", json_integer(rows));
    json_object_set_new(out->result, "chunks", json_integer(chunks));
    if (x.resume_rows > 0)
        json_object_set_new(out->result, "resumed_after_rows", json_integer(x.resume_rows));
    json_object_set_new(out->result, "lineage",
                        export_lineage(ctx, source, seen, target, x.mapping, rows));
    json_decref(seen);
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
