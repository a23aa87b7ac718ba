/* source: where export data is read from. A source streams rows in chunks
 * of typed cells, never the whole export: memory is bounded by the chunk
 * size. Kinds: postgres, csv, ndjson, http_json (one file each in
 * worker/sources/). Bad source data fails with the row number and column
 * named in the error, never a crash. */
#ifndef DF_SOURCE_H
#define DF_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

typedef enum df_col_type {
    DF_COL_STRING = 0,
    DF_COL_INT = 1,   /* int64 */
    DF_COL_FLOAT = 2, /* double */
    DF_COL_BOOL = 3,
    DF_COL_DATE = 4,     /* text "YYYY-MM-DD" */
    DF_COL_DATETIME = 5, /* text RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" */
    DF_COL_JSON = 6,     /* text: a JSON value kept as-is (nested arrays/objects) */
} df_col_type_t;

const char *df_col_type_name(df_col_type_t type);

#define DF_COLUMN_NAME_MAX 256

typedef struct df_column {
    char name[DF_COLUMN_NAME_MAX];
    df_col_type_t type;
} df_column_t;

/* One cell. Strings (STRING, DATE, DATETIME, JSON) point into the chunk's
 * arena and are valid until the chunk is reset; each is followed by a NUL
 * (not counted in len). */
typedef struct df_cell {
    bool null;
    union {
        int64_t i;
        double f;
        bool b;
        struct {
            const char *ptr;
            size_t len;
        } s;
    } v;
} df_cell_t;

/* A chunk of rows: cells are row-major (row r, column c at
 * cells[r * ncols + c]); each cell has its column's type. */
typedef struct df_chunk {
    size_t ncols;
    size_t nrows;
    size_t cap_rows;
    int64_t first_row; /* 0-based index in the whole export of rows[0] */
    df_cell_t *cells;
    /* String storage: a chain of blocks that never move; arena is the newest
     * block's data (arena_len of arena_cap bytes used). Reset keeps that
     * block and frees the others. */
    char *arena;
    size_t arena_len, arena_cap;
} df_chunk_t;

void df_chunk_init(df_chunk_t *chunk);
void df_chunk_free(df_chunk_t *chunk); /* leaves it reusable (as after init) */
/* Empty the chunk for ncols columns starting at export row first_row. */
void df_chunk_reset(df_chunk_t *chunk, size_t ncols, int64_t first_row);
/* Append one row of NULL cells and return it (ncols cells; valid until
 * the next add_row), or NULL when out of memory or ncols is 0. */
df_cell_t *df_chunk_add_row(df_chunk_t *chunk);
/* Copy len bytes into the arena; the cell points at the copy. false when
 * out of memory. Pointers to earlier strings stay valid (the arena grows by
 * blocks, never moving strings). */
bool df_chunk_set_str(df_chunk_t *chunk, df_cell_t *cell, const char *s, size_t len);
/* Cell of row r, column c. */
static inline const df_cell_t *df_chunk_cell(const df_chunk_t *chunk, size_t r, size_t c)
{
    return &chunk->cells[r * chunk->ncols + c];
}
/* Approximate bytes held (for memory accounting and benchmarks). */
size_t df_chunk_bytes(const df_chunk_t *chunk);

/* What a source may use besides its settings. */
typedef struct df_source_env {
    const char *database_url;       /* for kind postgres without its own url */
    df_error_t *cancel_err;         /* unused; reserved */
    bool (*should_stop)(void *ctx); /* checked between pages/batches; may be NULL */
    void *stop_ctx;
    const char *traceparent; /* W3C trace context sent on HTTP requests; may be NULL */
} df_source_env_t;

typedef struct df_source df_source_t;

/* Open the source described by params.source (borrowed; see
 * schemas/task.v1.schema.json: {"kind": "...", ...settings}). Errors name
 * the setting (err->field "/params/source/..."), or the system that failed
 * (retryable when it is a connection problem). Caller closes. */
df_source_t *df_source_open(const json_t *source, const df_source_env_t *env, df_error_t *err);

/* The columns (borrowed, valid until close). Known after open (a source
 * that infers types reads ahead as needed, still bounded). A JSON source
 * whose sample holds no record (and no columns setting) has 0 columns and
 * no rows. */
const df_column_t *df_source_columns(const df_source_t *src, size_t *ncols);

/* Fill chunk with up to max_rows next rows (chunk is reset first).
 * chunk->nrows == 0 means the end. Bad data: DF_ERR_INVALID with
 * err->field "row N, column NAME" (N counting from 1 in the source) and
 * what was expected. */
df_code_t df_source_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err);

/* Skip the next rows rows (a resumed export skips what was already
 * written); they are read (and checked) and dropped. DF_ERR_INVALID when
 * the source ends first. */
df_code_t df_source_skip(df_source_t *src, int64_t rows, df_error_t *err);

/* What the source read, for the export's lineage edge (docs/LINEAGE.md):
 * {"namespace": "postgres://host:port", "database": "<db>", "inputs":
 * [{"namespace", "name", "kind"}...]} for kind postgres (the relations its
 * query's plan scans, named <db>.<schema>.<relation> as the postgres
 * connector's catalogue lineage names them), NULL for kinds that do not
 * tell. Borrowed; valid until close. Known after open. */
const json_t *df_source_lineage(const df_source_t *src);

void df_source_close(df_source_t *src);

#endif
