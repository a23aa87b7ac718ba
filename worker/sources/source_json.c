/* source_json: JSON records (ndjson lines, http_json pages) into rows:
 * flattening nested objects into "a.b" columns, keeping arrays as JSON or
 * exploding them into one row per element, the columns of a record stream
 * (first-seen order, types inferred from a bounded sample), and JSON
 * Pointer / dotted path lookups. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "source_internal.h"

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

/* ---- flattening ------------------------------------------------------------ */

void src_flat_init(src_flat_t *flat, bool flatten, bool explode, const char *sep)
{
    memset(flat, 0, sizeof(*flat));
    flat->flatten = flatten;
    flat->explode = explode;
    flat->seplen = strnlen(sep, sizeof(flat->sep) - 1);
    memcpy(flat->sep, sep, flat->seplen);
    flat->sep[flat->seplen] = '\0';
}

void src_flat_free(src_flat_t *flat)
{
    for (size_t i = 0; i < flat->rows_cap; i++)
        free(flat->rows[i].pairs);
    free(flat->rows);
    free(flat->names);
    memset(flat, 0, sizeof(*flat));
}

typedef struct flat_ctx {
    src_flat_t *flat;
    int64_t row;
    const char *note;
    df_error_t *err;
} flat_ctx_t;

/* Append prefix (an earlier name, by offset) + sep + key to the names;
 * off and len get the new name. */
static df_code_t make_name(flat_ctx_t *x, size_t prefix_off, size_t prefix_len, bool has_prefix,
                           const char *key, size_t *off, size_t *len)
{
    src_flat_t *f = x->flat;
    size_t klen = strlen(key);
    size_t need = (has_prefix ? prefix_len + f->seplen : 0) + klen;

    if (f->names_cap - f->names_len < need) {
        size_t cap = f->names_cap ? f->names_cap * 2 : 1024;
        char *names;
        while (cap - f->names_len < need)
            cap *= 2;
        names = realloc(f->names, cap);
        if (!names)
            return nomem(x->err);
        f->names = names;
        f->names_cap = cap;
    }
    *off = f->names_len;
    if (has_prefix) {
        memmove(f->names + f->names_len, f->names + prefix_off, prefix_len);
        memcpy(f->names + f->names_len + prefix_len, f->sep, f->seplen);
        f->names_len += prefix_len + f->seplen;
    }
    memcpy(f->names + f->names_len, key, klen);
    f->names_len += klen;
    *len = need;
    return DF_OK;
}

static df_code_t push_pair(flat_ctx_t *x, src_flat_row_t *r, size_t off, size_t len,
                           const json_t *value)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        src_pair_t *pairs = realloc(r->pairs, cap * sizeof(*pairs));
        if (!pairs)
            return nomem(x->err);
        r->pairs = pairs;
        r->cap = cap;
    }
    r->pairs[r->n].name_off = off;
    r->pairs[r->n].name_len = len;
    r->pairs[r->n].value = value;
    r->n++;
    return DF_OK;
}

/* A new row at the end, a copy of row `from` (or empty when from is
 * SIZE_MAX). */
static df_code_t push_row(flat_ctx_t *x, size_t from)
{
    src_flat_t *f = x->flat;
    src_flat_row_t *r;

    if (f->nrows >= 2 * (size_t)SRC_EXPLODE_MAX)
        return src_row_error(x->err, x->row, x->note, "arrays explode into more than %d rows",
                             SRC_EXPLODE_MAX);
    if (f->nrows == f->rows_cap) {
        size_t cap = f->rows_cap ? f->rows_cap * 2 : 4;
        src_flat_row_t *rows = realloc(f->rows, cap * sizeof(*rows));
        if (!rows)
            return nomem(x->err);
        memset(rows + f->rows_cap, 0, (cap - f->rows_cap) * sizeof(*rows));
        f->rows = rows;
        f->rows_cap = cap;
    }
    r = &f->rows[f->nrows++];
    r->n = 0;
    if (from != SIZE_MAX) {
        const src_flat_row_t *src = &f->rows[from];
        for (size_t i = 0; i < src->n; i++) {
            df_code_t rc = push_pair(x, r, src->pairs[i].name_off, src->pairs[i].name_len,
                                     src->pairs[i].value);
            if (rc != DF_OK)
                return rc;
        }
    }
    return DF_OK;
}

static df_code_t add_to_rows(flat_ctx_t *x, size_t start, size_t off, size_t len,
                             const json_t *value)
{
    for (size_t r = start; r < x->flat->nrows; r++) {
        df_code_t rc = push_pair(x, &x->flat->rows[r], off, len, value);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static df_code_t flatten_value(flat_ctx_t *x, size_t start, size_t off, size_t len,
                               const json_t *value);

/* Apply obj's members (names under the prefix) to rows [start, nrows). */
static df_code_t flatten_object(flat_ctx_t *x, size_t start, size_t prefix_off, size_t prefix_len,
                                bool has_prefix, const json_t *obj)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value)
    {
        size_t off = 0, len = 0;
        df_code_t rc = make_name(x, prefix_off, prefix_len, has_prefix, key, &off, &len);
        if (rc == DF_OK)
            rc = flatten_value(x, start, off, len, value);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

/* Rows [start, nrows) times the array's elements: each row is copied once
 * per element (row order kept, elements in order); an empty array leaves
 * the rows as they are (its column stays NULL). */
static df_code_t explode(flat_ctx_t *x, size_t start, size_t off, size_t len, const json_t *arr)
{
    src_flat_t *f = x->flat;
    size_t end = f->nrows, removed;

    if (json_array_size(arr) == 0)
        return DF_OK;
    for (size_t r = start; r < end; r++) {
        for (size_t i = 0; i < json_array_size(arr); i++) {
            size_t first = f->nrows;
            df_code_t rc = push_row(x, r);
            if (rc == DF_OK)
                rc = flatten_value(x, first, off, len, json_array_get(arr, i));
            if (rc != DF_OK)
                return rc;
        }
    }
    /* Drop the originals (their pair buffers with them). */
    removed = end - start;
    for (size_t r = start; r < end; r++)
        free(f->rows[r].pairs);
    memmove(&f->rows[start], &f->rows[end], (f->nrows - end) * sizeof(src_flat_row_t));
    memset(&f->rows[f->nrows - removed], 0, removed * sizeof(src_flat_row_t));
    f->nrows -= removed;
    return DF_OK;
}

static df_code_t flatten_value(flat_ctx_t *x, size_t start, size_t off, size_t len,
                               const json_t *value)
{
    if (json_is_object(value) && x->flat->flatten && json_object_size(value) > 0)
        return flatten_object(x, start, off, len, true, value);
    if (json_is_array(value) && x->flat->explode)
        return explode(x, start, off, len, value);
    return add_to_rows(x, start, off, len, value);
}

df_code_t src_flat_record(src_flat_t *flat, const json_t *record, int64_t row, const char *note,
                          df_error_t *err)
{
    flat_ctx_t x = { flat, row, note, err };
    df_code_t rc;

    for (size_t r = 0; r < flat->nrows; r++)
        flat->rows[r].n = 0;
    flat->nrows = 0;
    flat->names_len = 0;
    rc = push_row(&x, SIZE_MAX);
    if (rc == DF_OK)
        rc = flatten_object(&x, 0, 0, 0, false, record);
    if (rc == DF_OK && flat->nrows > SRC_EXPLODE_MAX)
        rc =
            src_row_error(err, row, note, "arrays explode into more than %d rows", SRC_EXPLODE_MAX);
    return rc;
}

/* ---- columns of a record stream ---------------------------------------------- */

df_code_t src_schema_init(src_schema_t *schema, df_error_t *err)
{
    memset(schema, 0, sizeof(*schema));
    schema->index = df_hmap_new();
    return schema->index ? DF_OK : nomem(err);
}

void src_schema_free(src_schema_t *schema)
{
    df_hmap_destroy(schema->index);
    free(schema->columns);
    free(schema->infer);
    free(schema->typed);
    memset(schema, 0, sizeof(*schema));
}

static df_code_t add_column(src_schema_t *s, const char *name, size_t len, df_col_type_t type,
                            bool typed, df_error_t *err)
{
    if (s->ncols == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        df_column_t *cols = realloc(s->columns, cap * sizeof(*cols));
        src_infer_t *inf;
        bool *ty;
        if (!cols)
            return nomem(err);
        s->columns = cols;
        inf = realloc(s->infer, cap * sizeof(*inf));
        if (!inf)
            return nomem(err);
        s->infer = inf;
        ty = realloc(s->typed, cap * sizeof(*ty));
        if (!ty)
            return nomem(err);
        s->typed = ty;
        s->cap = cap;
    }
    memcpy(s->columns[s->ncols].name, name, len);
    s->columns[s->ncols].name[len] = '\0';
    s->columns[s->ncols].type = type;
    src_infer_init(&s->infer[s->ncols]);
    s->typed[s->ncols] = typed;
    if (!df_hmap_put(s->index, name, len, (void *)(uintptr_t)(s->ncols + 1)))
        return nomem(err);
    s->ncols++;
    return DF_OK;
}

df_code_t src_schema_given(src_schema_t *schema, const json_t *source, df_error_t *err)
{
    df_column_t *cols;
    bool *typed;
    size_t n;
    df_code_t rc = src_get_columns(source, &cols, &typed, &n, err);

    if (rc != DF_OK || !cols)
        return rc;
    for (size_t i = 0; i < n && rc == DF_OK; i++)
        rc = add_column(schema, cols[i].name, strlen(cols[i].name), cols[i].type, typed[i], err);
    free(cols);
    free(typed);
    schema->frozen = true;
    return rc;
}

df_code_t src_schema_sample(src_schema_t *schema, const src_flat_t *flat, int64_t row,
                            const char *note, df_error_t *err)
{
    for (size_t r = 0; r < flat->nrows; r++) {
        const src_flat_row_t *fr = &flat->rows[r];
        for (size_t i = 0; i < fr->n; i++) {
            const char *name = flat->names + fr->pairs[i].name_off;
            size_t len = fr->pairs[i].name_len;
            uintptr_t idx = (uintptr_t)df_hmap_get(schema->index, name, len);
            if (!idx) {
                df_code_t rc;
                if (schema->frozen)
                    continue;
                if (!src_column_name_ok(name, len))
                    return src_row_error(err, row, note,
                                         "key \"%.*s%s\" is not a column name (1 to %d bytes)",
                                         (int)(len > 64 ? 64 : len), name, len > 64 ? "..." : "",
                                         DF_COLUMN_NAME_MAX - 1);
                if (schema->ncols >= SRC_COLUMNS_MAX)
                    return src_row_error(err, row, note, "more than %d columns", SRC_COLUMNS_MAX);
                rc = add_column(schema, name, len, DF_COL_STRING, false, err);
                if (rc != DF_OK)
                    return rc;
                idx = schema->ncols;
            }
            if (!schema->typed[idx - 1])
                src_infer_json(&schema->infer[idx - 1], fr->pairs[i].value);
        }
    }
    return DF_OK;
}

/* A column that only ever held null while other columns are named under
 * it ("guest": null next to "guest.name") is no column of its own. */
static bool null_prefix(const src_schema_t *s, size_t c, const char *sep)
{
    size_t len = strlen(s->columns[c].name), seplen = strlen(sep);
    if (s->typed[c] || s->infer[c].seen)
        return false;
    for (size_t o = 0; o < s->ncols; o++)
        if (o != c && strncmp(s->columns[o].name, s->columns[c].name, len) == 0 &&
            strncmp(s->columns[o].name + len, sep, seplen) == 0)
            return true;
    return false;
}

df_code_t src_schema_freeze(src_schema_t *schema, const char *sep, df_error_t *err)
{
    size_t kept = 0;

    if (!schema->frozen) {
        for (size_t c = 0; c < schema->ncols; c++) {
            if (null_prefix(schema, c, sep))
                continue;
            schema->columns[kept] = schema->columns[c];
            schema->infer[kept] = schema->infer[c];
            schema->typed[kept] = schema->typed[c];
            kept++;
        }
        if (kept != schema->ncols) {
            df_hmap_t *index = df_hmap_new();
            if (!index)
                return nomem(err);
            for (size_t c = 0; c < kept; c++)
                if (!df_hmap_put(index, schema->columns[c].name, strlen(schema->columns[c].name),
                                 (void *)(uintptr_t)(c + 1))) {
                    df_hmap_destroy(index);
                    return nomem(err);
                }
            df_hmap_destroy(schema->index);
            schema->index = index;
            schema->ncols = kept;
        }
    }
    for (size_t c = 0; c < schema->ncols; c++)
        if (!schema->typed[c])
            schema->columns[c].type = src_infer_result(&schema->infer[c]);
    schema->frozen = true;
    return DF_OK;
}

df_code_t src_schema_emit(src_schema_t *schema, const src_flat_t *flat, size_t *pos,
                          df_chunk_t *chunk, size_t max_rows, int64_t row, const char *note,
                          df_error_t *err)
{
    for (; *pos < flat->nrows && chunk->nrows < max_rows; (*pos)++) {
        const src_flat_row_t *fr = &flat->rows[*pos];
        df_cell_t *cells = df_chunk_add_row(chunk);
        if (!cells)
            return nomem(err);
        for (size_t i = 0; i < fr->n; i++) {
            const char *name = flat->names + fr->pairs[i].name_off;
            size_t len = fr->pairs[i].name_len;
            uintptr_t idx = (uintptr_t)df_hmap_get(schema->index, name, len);
            src_where_t where;
            df_code_t rc;
            if (!idx && json_is_null(fr->pairs[i].value))
                continue; /* nothing lost */
            if (!idx) {
                if (schema->unknown_error)
                    return src_row_error(err, row, note,
                                         "key \"%.*s%s\" is not one of the columns (they come "
                                         "from the sample or the columns setting)",
                                         (int)(len > 64 ? 64 : len), name, len > 64 ? "..." : "");
                schema->unknown_seen++;
                if (!schema->warned) {
                    schema->warned = true;
                    df_warn("source: row %lld: key \"%.*s\" is not one of the columns; ignored "
                            "(keys outside the sample are dropped; set unknown_keys to "
                            "\"error\" to refuse them)",
                            (long long)row, (int)(len > 64 ? 64 : len), name);
                }
                continue;
            }
            where.row = row;
            where.column = schema->columns[idx - 1].name;
            where.note = note;
            rc = src_cell_from_json(chunk, &cells[idx - 1], schema->columns[idx - 1].type,
                                    fr->pairs[i].value, &where, err);
            if (rc != DF_OK)
                return rc;
        }
    }
    return DF_OK;
}

df_code_t src_get_shape(const json_t *source, src_flat_t *flat, src_schema_t *schema,
                        df_error_t *err)
{
    static const char *const arrays[] = { "json", "explode", NULL };
    static const char *const unknown[] = { "ignore", "error", NULL };
    bool flatten;
    const char *sep;
    int arr, unk;
    df_code_t rc = src_get_bool(source, SRC_PATH, "flatten", true, &flatten, err);

    if (rc == DF_OK)
        rc = src_get_str(source, SRC_PATH, "flatten_separator", false, ".", &sep, err);
    if (rc == DF_OK && (strlen(sep) < 1 || strlen(sep) > 8))
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/flatten_separator",
                          SRC_PATH "/flatten_separator: expected 1 to 8 characters");
    if (rc == DF_OK)
        rc = src_get_enum(source, SRC_PATH, "arrays", arrays, 0, &arr, err);
    if (rc == DF_OK)
        rc = src_get_enum(source, SRC_PATH, "unknown_keys", unknown, 0, &unk, err);
    if (rc != DF_OK)
        return rc;
    src_flat_free(flat);
    src_flat_init(flat, flatten, arr == 1, sep);
    schema->unknown_error = unk == 1;
    return DF_OK;
}

/* ---- paths ------------------------------------------------------------------- */

/* Step from v by one path token (len bytes): an object member, or an
 * array index. */
static const json_t *step(const json_t *v, const char *tok, size_t len)
{
    if (json_is_object(v)) {
        char key[1024];
        if (len >= sizeof(key) || memchr(tok, '\0', len))
            return NULL;
        memcpy(key, tok, len);
        key[len] = '\0';
        return json_object_get(v, key);
    }
    if (json_is_array(v) && len > 0 && len < 10) {
        size_t idx = 0;
        for (size_t i = 0; i < len; i++) {
            if (tok[i] < '0' || tok[i] > '9')
                return NULL;
            idx = idx * 10 + (size_t)(tok[i] - '0');
        }
        return json_array_get(v, idx);
    }
    return NULL;
}

const json_t *src_json_path(const json_t *root, const char *path)
{
    const json_t *v = root;

    if (!path || !*path)
        return root;
    if (path[0] == '/') {
        /* JSON Pointer (RFC 6901): "~1" is "/", "~0" is "~". */
        const char *p = path + 1;
        char tok[1024];
        for (;;) {
            size_t n = 0;
            while (*p && *p != '/') {
                char c = *p++;
                if (c == '~' && (*p == '0' || *p == '1'))
                    c = *p++ == '0' ? '~' : '/';
                if (n + 1 >= sizeof(tok))
                    return NULL;
                tok[n++] = c;
            }
            v = step(v, tok, n);
            if (!v || !*p)
                return v;
            p++;
        }
    }
    for (const char *p = path;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        v = step(v, p, n);
        if (!v || !dot)
            return v;
        p = dot + 1;
    }
}
