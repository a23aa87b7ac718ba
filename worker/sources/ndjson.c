/* ndjson: the ndjson source kind. One JSON object per line of a file,
 * read as a stream (one line in memory, at most SRC_LINE_MAX bytes).
 * Columns are the union of the (flattened) keys of a sample of the first
 * lines in first-seen order, or the `columns` setting; types are inferred
 * from the same sample. Row numbers in errors are line numbers. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_internal.h"

#define ND_READ (64 * 1024)

typedef struct nd_src {
    df_source_t base;
    char path[1024];
    int fd;
    /* line reader: buf[pos, len) is unread */
    char *buf;
    size_t len, pos, cap;
    bool eof;
    int64_t line; /* number of the line last read */
    /* records */
    src_flat_t flat;
    src_schema_t schema;
    json_t *record; /* the record being emitted (rows flat.rows[emitted..]) */
    size_t emitted;
    int64_t record_line;
} nd_src_t;

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

static df_code_t rewind_file(nd_src_t *n, df_error_t *err)
{
    if (lseek(n->fd, 0, SEEK_SET) < 0)
        return df_error_set(err, DF_ERR_IO, SRC_PATH "/path", "lseek %s: %s", n->path,
                            strerror(errno));
    n->len = n->pos = 0;
    n->eof = false;
    n->line = 0;
    return DF_OK;
}

/* The next line (without its line break; valid until the next call) in
 * line and line_len; *got = false at the end of the file. */
static df_code_t read_line(nd_src_t *n, const char **line, size_t *line_len, bool *got,
                           df_error_t *err)
{
    size_t scanned = 0;

    for (;;) {
        char *nl = n->len > n->pos + scanned
                       ? memchr(n->buf + n->pos + scanned, '\n', n->len - n->pos - scanned)
                       : NULL;
        if (nl || (n->eof && n->pos < n->len)) {
            size_t l = nl ? (size_t)(nl - (n->buf + n->pos)) : n->len - n->pos;
            *line = n->buf + n->pos;
            *line_len = l;
            n->pos += l + (nl ? 1 : 0);
            n->line++;
            if (*line_len && (*line)[*line_len - 1] == '\r')
                (*line_len)--;
            if (n->line == 1 && *line_len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
                *line += 3;
                *line_len -= 3;
            }
            *got = true;
            return DF_OK;
        }
        if (n->eof) {
            *got = false;
            return DF_OK;
        }
        scanned = n->len - n->pos;
        if (scanned > SRC_LINE_MAX)
            return src_row_error(err, n->line + 1, NULL, "line longer than %d MiB",
                                 SRC_LINE_MAX / (1024 * 1024));
        /* Make room: drop what was read, grow when the line fills the buffer. */
        if (n->pos > 0) {
            memmove(n->buf, n->buf + n->pos, n->len - n->pos);
            n->len -= n->pos;
            n->pos = 0;
        }
        if (n->cap - n->len < ND_READ) {
            size_t cap = n->cap ? n->cap * 2 : 4 * ND_READ;
            char *buf = realloc(n->buf, cap);
            if (!buf)
                return nomem(err);
            n->buf = buf;
            n->cap = cap;
        }
        {
            ssize_t r;
            do {
                r = read(n->fd, n->buf + n->len, n->cap - n->len);
            } while (r < 0 && errno == EINTR);
            if (r < 0)
                return df_error_set(err, DF_ERR_IO, SRC_PATH "/path", "read %s: %s", n->path,
                                    strerror(errno));
            if (r == 0)
                n->eof = true;
            n->len += (size_t)r;
        }
    }
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Read and flatten the next record into n->record / n->flat. *got = false
 * at the end. */
static df_code_t next_record(nd_src_t *n, bool *got, df_error_t *err)
{
    for (;;) {
        const char *line = NULL;
        size_t len = 0;
        json_error_t jerr;
        df_code_t rc = read_line(n, &line, &len, got, err);

        if (rc != DF_OK || !*got)
            return rc;
        if (blank(line, len))
            continue;
        json_decref(n->record);
        n->record = NULL;
        n->record_line = n->line;
        if (src_utf8_valid(line, len) != len)
            return src_row_error(err, n->line, NULL, "not JSON: invalid UTF-8 at byte %zu",
                                 src_utf8_valid(line, len) + 1);
        n->record = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
        if (!n->record)
            return src_row_error(err, n->line, NULL, "not JSON: %s (at character %d)", jerr.text,
                                 jerr.column);
        if (!json_is_object(n->record))
            return src_row_error(err, n->line, NULL, "expected a JSON object, got %s",
                                 json_is_array(n->record) ? "an array" : "a scalar value");
        n->emitted = 0;
        return src_flat_record(&n->flat, n->record, n->line, NULL, err);
    }
}

static df_code_t nd_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err)
{
    nd_src_t *n = (nd_src_t *)src;

    while (chunk->nrows < max_rows) {
        df_code_t rc;
        if (!n->record || n->emitted >= n->flat.nrows) {
            bool got;
            rc = next_record(n, &got, err);
            if (rc != DF_OK)
                return rc;
            if (!got)
                break;
        }
        rc = src_schema_emit(&n->schema, &n->flat, &n->emitted, chunk, max_rows, n->record_line,
                             NULL, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static void nd_close(df_source_t *src)
{
    nd_src_t *n = (nd_src_t *)src;
    if (n->fd >= 0)
        close(n->fd);
    free(n->buf);
    json_decref(n->record);
    src_flat_free(&n->flat);
    src_schema_free(&n->schema);
    src_base_free(src);
    free(n);
}

static const src_ops_t nd_ops = { "ndjson", nd_next, nd_close };

static const char *const nd_settings[] = {
    "kind",   "path",        "columns",      "flatten", "flatten_separator",
    "arrays", "sample_rows", "unknown_keys", NULL
};

/* Columns from a sample of the first lines; leaves the file rewound. A
 * line that does not parse ends the sample (reading reports it at its
 * place) unless no column was found before it. */
static df_code_t sample(nd_src_t *n, int64_t sample_rows, df_error_t *err)
{
    bool need = !n->schema.frozen;
    df_error_t first_error;

    df_error_init(&first_error);
    for (size_t c = 0; c < n->schema.ncols; c++)
        need |= !n->schema.typed[c];
    for (int64_t seen = 0; need && seen < sample_rows; seen++) {
        bool got;
        if (next_record(n, &got, &first_error) != DF_OK)
            break;
        if (!got)
            break;
        if (src_schema_sample(&n->schema, &n->flat, n->record_line, NULL, err) != DF_OK)
            return err->code;
    }
    if (n->schema.ncols == 0 && first_error.code != DF_OK) {
        *err = first_error;
        return err->code;
    }
    json_decref(n->record);
    n->record = NULL;
    if (src_schema_freeze(&n->schema, n->flat.sep, err) != DF_OK)
        return err->code;
    return rewind_file(n, err);
}

df_source_t *src_ndjson_open(const json_t *source, const df_source_env_t *env, df_error_t *err)
{
    nd_src_t *n = calloc(1, sizeof(*n));
    const char *path;
    int64_t sample_rows;
    df_code_t rc;

    if (!n) {
        nomem(err);
        return NULL;
    }
    src_base_init(&n->base, &nd_ops, env);
    n->fd = -1;
    src_flat_init(&n->flat, true, false, ".");
    rc = src_schema_init(&n->schema, err);
    if (rc == DF_OK)
        rc = src_check_keys(source, SRC_PATH, "kind ndjson", nd_settings, err);
    if (rc == DF_OK)
        rc = src_get_str(source, SRC_PATH, "path", true, NULL, &path, err);
    if (rc == DF_OK)
        rc = src_get_shape(source, &n->flat, &n->schema, err);
    if (rc == DF_OK)
        rc = src_get_int(source, SRC_PATH, "sample_rows", 1, SRC_SAMPLE_MAX, SRC_SAMPLE_DEFAULT,
                         &sample_rows, err);
    if (rc == DF_OK)
        rc = src_schema_given(&n->schema, source, err);
    if (rc == DF_OK) {
        snprintf(n->path, sizeof(n->path), "%s", path);
        n->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (n->fd < 0)
            rc = df_error_set(err, DF_ERR_IO, SRC_PATH "/path", SRC_PATH "/path: open %s: %s", path,
                              strerror(errno));
    }
    if (rc == DF_OK)
        rc = sample(n, sample_rows, err);
    if (rc == DF_OK && !src_set_columns(&n->base, n->schema.columns, n->schema.ncols))
        rc = nomem(err);
    if (rc != DF_OK) {
        nd_close(&n->base);
        return NULL;
    }
    return &n->base;
}
