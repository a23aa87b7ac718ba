/* source: chunks of typed cells, and the dispatch of df_source_* calls to
 * the kind that serves the task's params.source (see source.h). */
#include "source.h"

#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "source_internal.h"

/* ---- chunks -------------------------------------------------------------- */

/* The arena is a chain of blocks: a block never moves, so strings handed
 * out stay where they are until the chunk is reset. chunk->arena points at
 * the newest block's data; its header sits just before it. */
typedef struct arena_block {
    struct arena_block *prev;
    size_t cap;
    char data[];
} arena_block_t;

#define ARENA_FIRST_BLOCK (64 * 1024)
#define ARENA_MAX_STEP    (8 * 1024 * 1024)

static arena_block_t *arena_head(const df_chunk_t *chunk)
{
    if (!chunk->arena)
        return NULL;
    return (arena_block_t *)(void *)(chunk->arena - offsetof(arena_block_t, data));
}

const char *df_col_type_name(df_col_type_t type)
{
    switch (type) {
    case DF_COL_STRING: return "string";
    case DF_COL_INT: return "integer";
    case DF_COL_FLOAT: return "float";
    case DF_COL_BOOL: return "boolean";
    case DF_COL_DATE: return "date";
    case DF_COL_DATETIME: return "datetime";
    case DF_COL_JSON: return "json";
    }
    return "unknown";
}

void df_chunk_init(df_chunk_t *chunk)
{
    memset(chunk, 0, sizeof(*chunk));
}

void df_chunk_free(df_chunk_t *chunk)
{
    arena_block_t *b = arena_head(chunk);
    while (b) {
        arena_block_t *prev = b->prev;
        free(b);
        b = prev;
    }
    free(chunk->cells);
    df_chunk_init(chunk);
}

void df_chunk_reset(df_chunk_t *chunk, size_t ncols, int64_t first_row)
{
    arena_block_t *head = arena_head(chunk);

    /* Keep the newest (largest) block for the next chunk, free the rest. */
    if (head) {
        arena_block_t *b = head->prev;
        while (b) {
            arena_block_t *prev = b->prev;
            free(b);
            b = prev;
        }
        head->prev = NULL;
    }
    chunk->arena_len = 0;
    /* cap_rows counts rows of the old width: keep the cell capacity. */
    if (ncols != chunk->ncols) {
        size_t cells = chunk->cap_rows * chunk->ncols;
        chunk->cap_rows = ncols ? cells / ncols : 0;
    }
    chunk->ncols = ncols;
    chunk->nrows = 0;
    chunk->first_row = first_row;
}

df_cell_t *df_chunk_add_row(df_chunk_t *chunk)
{
    df_cell_t *row;

    if (chunk->ncols == 0)
        return NULL;
    if (chunk->nrows == chunk->cap_rows) {
        size_t cap = chunk->cap_rows ? chunk->cap_rows * 2 : 64;
        df_cell_t *cells;
        if (cap > SIZE_MAX / sizeof(df_cell_t) / chunk->ncols)
            return NULL;
        cells = realloc(chunk->cells, cap * chunk->ncols * sizeof(df_cell_t));
        if (!cells)
            return NULL;
        chunk->cells = cells;
        chunk->cap_rows = cap;
    }
    row = &chunk->cells[chunk->nrows * chunk->ncols];
    memset(row, 0, chunk->ncols * sizeof(df_cell_t));
    for (size_t c = 0; c < chunk->ncols; c++)
        row[c].null = true;
    chunk->nrows++;
    return row;
}

/* Room for len bytes in the arena, or NULL. */
static char *arena_alloc(df_chunk_t *chunk, size_t len)
{
    arena_block_t *head = arena_head(chunk);
    char *p;

    if (!head || chunk->arena_cap - chunk->arena_len < len) {
        size_t cap = head ? head->cap * 2 : ARENA_FIRST_BLOCK;
        arena_block_t *b;
        if (head && cap > ARENA_MAX_STEP)
            cap = head->cap > ARENA_MAX_STEP ? head->cap : ARENA_MAX_STEP;
        if (cap < len)
            cap = len;
        if (cap > SIZE_MAX - sizeof(arena_block_t))
            return NULL;
        b = malloc(sizeof(arena_block_t) + cap);
        if (!b)
            return NULL;
        b->prev = head;
        b->cap = cap;
        chunk->arena = b->data;
        chunk->arena_cap = cap;
        chunk->arena_len = 0;
    }
    p = chunk->arena + chunk->arena_len;
    chunk->arena_len += len;
    return p;
}

bool df_chunk_set_str(df_chunk_t *chunk, df_cell_t *cell, const char *s, size_t len)
{
    /* A NUL after each string lets readers use it as a C string too. */
    char *p = arena_alloc(chunk, len + 1);
    if (!p)
        return false;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    cell->null = false;
    cell->v.s.ptr = p;
    cell->v.s.len = len;
    return true;
}

size_t df_chunk_bytes(const df_chunk_t *chunk)
{
    size_t n = sizeof(*chunk) + chunk->cap_rows * chunk->ncols * sizeof(df_cell_t);
    for (arena_block_t *b = arena_head(chunk); b; b = b->prev)
        n += sizeof(*b) + b->cap;
    return n;
}

/* ---- the source object ----------------------------------------------------- */

void src_base_init(df_source_t *src, const src_ops_t *ops, const df_source_env_t *env)
{
    src->ops = ops;
    src->columns = NULL;
    src->ncols = 0;
    src->rows_out = 0;
    src->done = false;
    src->failed = false;
    df_error_init(&src->failure);
    src->lineage = NULL;
    src->should_stop = env ? env->should_stop : NULL;
    src->stop_ctx = env ? env->stop_ctx : NULL;
}

void src_base_free(df_source_t *src)
{
    free(src->columns);
    src->columns = NULL;
    src->ncols = 0;
    json_decref(src->lineage);
    src->lineage = NULL;
}

const json_t *df_source_lineage(const df_source_t *src)
{
    return src ? src->lineage : NULL;
}

bool src_set_columns(df_source_t *src, const df_column_t *columns, size_t ncols)
{
    df_column_t *copy = malloc((ncols ? ncols : 1) * sizeof(*copy));
    if (!copy)
        return false;
    if (ncols)
        memcpy(copy, columns, ncols * sizeof(*copy));
    free(src->columns);
    src->columns = copy;
    src->ncols = ncols;
    return true;
}

bool src_should_stop(const df_source_t *src)
{
    return src->should_stop && src->should_stop(src->stop_ctx);
}

df_source_t *df_source_open(const json_t *source, const df_source_env_t *env, df_error_t *err)
{
    const char *kind;
    df_source_t *src = NULL;
    df_error_t local;

    if (!err) { /* the kinds always have an error to fill */
        df_error_init(&local);
        err = &local;
    }

    if (!json_is_object(source)) {
        df_error_set(err, DF_ERR_INVALID, SRC_PATH, SRC_PATH ": expected an object");
        return NULL;
    }
    if (src_get_str(source, SRC_PATH, "kind", true, NULL, &kind, err) != DF_OK)
        return NULL;
    if (json_object_get(source, "connector")) {
        df_error_set(err, DF_ERR_UNSUPPORTED, SRC_PATH "/connector",
                     SRC_PATH "/connector: source connectors (registered credentials) are not "
                              "supported yet: give the source's settings in the task");
        return NULL;
    }
    if (strcmp(kind, "postgres") == 0)
        src = src_postgres_open(source, env, err);
    else if (strcmp(kind, "csv") == 0)
        src = src_csv_open(source, env, err);
    else if (strcmp(kind, "ndjson") == 0)
        src = src_ndjson_open(source, env, err);
    else if (strcmp(kind, "http_json") == 0)
        src = src_http_json_open(source, env, err);
    else if (strcmp(kind, "mysql") == 0 || strcmp(kind, "xlsx") == 0)
        df_error_set(err, DF_ERR_UNSUPPORTED, SRC_PATH "/kind",
                     SRC_PATH "/kind: source kind \"%s\" is not supported by this worker", kind);
    else
        df_error_set(err, DF_ERR_INVALID, SRC_PATH "/kind",
                     SRC_PATH "/kind: expected one of postgres, csv, ndjson, http_json, got "
                              "\"%.64s\"",
                     kind);
    if (src)
        df_debug("source %s open: %zu columns", src->ops->kind, src->ncols);
    return src;
}

const df_column_t *df_source_columns(const df_source_t *src, size_t *ncols)
{
    *ncols = src->ncols;
    return src->columns;
}

df_code_t df_source_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err)
{
    df_code_t rc;
    df_error_t local;

    if (!err) {
        df_error_init(&local);
        err = &local;
    }

    df_chunk_reset(chunk, src->ncols, src->rows_out);
    if (src->failed) {
        *err = src->failure;
        return src->failure.code;
    }
    if (src->done)
        return DF_OK;
    if (src->ncols == 0) { /* an empty source (no records, no columns given) */
        src->done = true;
        return DF_OK;
    }
    if (max_rows == 0)
        max_rows = 1;
    if (src_should_stop(src))
        return df_error_set(err, DF_ERR_CANCELLED, NULL, "source %s: stopped", src->ops->kind);
    rc = src->ops->next(src, chunk, max_rows, err);
    if (rc != DF_OK) {
        chunk->nrows = 0;
        /* Cancellation may be resumed by nobody; anything else sticks. */
        if (rc != DF_ERR_CANCELLED) {
            src->failed = true;
            src->failure = *err;
        }
        return rc;
    }
    if (chunk->nrows == 0)
        src->done = true;
    src->rows_out += (int64_t)chunk->nrows;
    return DF_OK;
}

df_code_t df_source_skip(df_source_t *src, int64_t rows, df_error_t *err)
{
    df_chunk_t scratch;
    df_code_t rc = DF_OK;

    df_chunk_init(&scratch);
    while (rows > 0) {
        size_t n = rows > 1000 ? 1000 : (size_t)rows;
        rc = df_source_next(src, &scratch, n, err);
        if (rc != DF_OK)
            break;
        if (scratch.nrows == 0) {
            rc = df_error_set(err, DF_ERR_INVALID, NULL,
                              "source %s: cannot skip %lld more rows: the source ended",
                              src->ops->kind, (long long)rows);
            break;
        }
        rows -= (int64_t)scratch.nrows;
    }
    df_chunk_free(&scratch);
    return rc;
}

void df_source_close(df_source_t *src)
{
    if (!src)
        return;
    src->ops->close(src);
}
