/* powerbi_rows: Power BI push dataset types, table definitions and POST
 * rows bodies (see powerbi_rows.h). */
#include "powerbi_rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *df_powerbi_data_type(df_col_type_t type)
{
    switch (type) {
    case DF_COL_INT: return "Int64";
    case DF_COL_FLOAT: return "Double";
    case DF_COL_BOOL: return "Boolean";
    case DF_COL_DATE:
    case DF_COL_DATETIME: return "DateTime";
    case DF_COL_STRING:
    case DF_COL_JSON: break;
    }
    return "String";
}

int64_t df_powerbi_utf16_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    int64_t units = 0;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        unsigned cp;
        size_t need;

        if (c < 0x80) {
            i++;
            units++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return -1; /* continuation byte, overlong lead (C0, C1) or > F4 */
        }
        if (len - i <= need)
            return -1;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;
        units += need == 3 ? 2 : 1; /* beyond the BMP: a surrogate pair */
        i += need + 1;
    }
    return units;
}

static df_code_t put(df_http_buf_t *buf, const char *s, size_t len, df_error_t *err)
{
    return df_http_buf_append(buf, s, len, err);
}

/* The two-character escape of a control character, or NULL (\u00XX). */
static const char *short_escape(unsigned char c)
{
    switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: return NULL;
    }
}

df_code_t df_powerbi_json_string(df_http_buf_t *buf, const char *s, size_t len, df_error_t *err)
{
    size_t run = 0; /* start of the bytes not yet copied */

    if (put(buf, "\"", 1, err))
        return err->code;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t n;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 && short_escape(c)) {
            memcpy(esc, short_escape(c), 2);
            n = 2;
        } else if (c < 0x20) {
            n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else {
            continue; /* UTF-8 goes as it is */
        }
        if ((i > run && put(buf, s + run, i - run, err)) || put(buf, esc, n, err))
            return err->code;
        run = i + 1;
    }
    if ((len > run && put(buf, s + run, len - run, err)) || put(buf, "\"", 1, err))
        return err->code;
    return DF_OK;
}

void df_powerbi_columns_free(df_powerbi_columns_t *cols)
{
    for (size_t i = 0; i < cols->n; i++) {
        free(cols->names ? cols->names[i] : NULL);
        free(cols->keys ? cols->keys[i] : NULL);
    }
    free(cols->names);
    free(cols->keys);
    memset(cols, 0, sizeof(*cols));
}

long df_powerbi_columns_find(const df_powerbi_columns_t *cols, const char *name)
{
    for (size_t i = 0; i < cols->n; i++)
        if (strcasecmp(cols->names[i], name) == 0)
            return (long)i;
    return -1;
}

/* "\"name\":" as JSON text. NULL when out of memory. */
static char *object_key(const char *name, df_error_t *err)
{
    df_http_buf_t b;
    char *out = NULL;

    df_http_buf_init(&b, 0);
    if (df_powerbi_json_string(&b, name, strlen(name), err) == DF_OK &&
        df_http_buf_append(&b, ":", 1, err) == DF_OK)
        out = strdup(b.data);
    df_http_buf_free(&b);
    return out;
}

df_code_t df_powerbi_columns_init(df_powerbi_columns_t *cols, const df_column_t *source, size_t n,
                                  const json_t *mapping, df_error_t *err)
{
    const char *key;
    json_t *value;

    memset(cols, 0, sizeof(*cols));
    if (n > DF_POWERBI_MAX_COLUMNS)
        return df_error_set(err, DF_ERR_INVALID, "/params/source",
                            "the source has %zu columns; a Power BI table takes at most %d", n,
                            DF_POWERBI_MAX_COLUMNS);
    json_object_foreach((json_t *)mapping, key, value)
    {
        size_t i = 0;

        while (i < n && strcmp(source[i].name, key) != 0)
            i++;
        if (i == n)
            return df_error_set(err, DF_ERR_INVALID, "/params/mapping",
                                "mapping names column \"%s\", which the source does not have", key);
        if (!json_is_string(value) || json_string_length(value) == 0)
            return df_error_set(err, DF_ERR_INVALID, "/params/mapping",
                                "mapping of column \"%s\": expected a non-empty column name", key);
    }
    cols->source = source;
    cols->names = calloc(n ? n : 1, sizeof(char *));
    cols->keys = calloc(n ? n : 1, sizeof(char *));
    if (!cols->names || !cols->keys) {
        df_powerbi_columns_free(cols);
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *target = json_string_value(json_object_get(mapping, source[i].name));

        cols->n = i + 1;
        cols->names[i] = strdup(target ? target : source[i].name);
        if (!cols->names[i] || !(cols->keys[i] = object_key(cols->names[i], err))) {
            df_powerbi_columns_free(cols);
            return err->code ? err->code : df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(cols->names[j], cols->names[i]) == 0) {
                df_error_set(err, DF_ERR_INVALID, "/params/mapping",
                             "columns \"%s\" and \"%s\" would both be column \"%s\" of the "
                             "Power BI table (names are case-insensitive)",
                             source[j].name, source[i].name, cols->names[i]);
                df_powerbi_columns_free(cols);
                return err->code;
            }
        }
    }
    return DF_OK;
}

json_t *df_powerbi_dataset_body(const char *dataset, const char *table,
                                const df_powerbi_columns_t *cols)
{
    json_t *columns = json_array();

    for (size_t i = 0; columns && i < cols->n; i++)
        json_array_append_new(columns, json_pack("{s:s, s:s}", "name", cols->names[i], "dataType",
                                                 df_powerbi_data_type(cols->source[i].type)));
    return json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "name", dataset, "defaultMode", "Push", "tables",
                     "name", table, "columns", columns);
}

/* The shortest text that reads back as exactly d (JSON has no NaN/inf). */
static size_t format_double(double d, char *out, size_t len)
{
    int n = 0;

    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, len, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    return (size_t)n;
}

static df_code_t bad_cell(df_error_t *err, const df_chunk_t *chunk, size_t r,
                          const df_powerbi_columns_t *cols, size_t c, const char *what)
{
    char field[DF_ERR_FIELD_MAX];
    long long row = (long long)chunk->first_row + (long long)r + 1;

    snprintf(field, sizeof(field), "row %lld, column %.200s", row, cols->source[c].name);
    return df_error_set(err, DF_ERR_INVALID, field, "row %lld, column %s: %s", row,
                        cols->source[c].name, what);
}

/* Append one cell's JSON value. */
static df_code_t encode_cell(df_http_buf_t *buf, const df_chunk_t *chunk, size_t r,
                             const df_powerbi_columns_t *cols, size_t c, df_error_t *err)
{
    const df_cell_t *cell = df_chunk_cell(chunk, r, c);
    char num[40], what[160];
    size_t n;
    int64_t units;

    if (cell->null)
        return put(buf, "null", 4, err);
    switch (cols->source[c].type) {
    case DF_COL_INT:
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)cell->v.i);
        return put(buf, num, n, err);
    case DF_COL_FLOAT:
        if (!isfinite(cell->v.f))
            return bad_cell(err, chunk, r, cols, c,
                            "NaN and infinite numbers cannot be sent to Power BI (JSON has no "
                            "such values)");
        n = format_double(cell->v.f, num, sizeof(num));
        return put(buf, num, n, err);
    case DF_COL_BOOL: return cell->v.b ? put(buf, "true", 4, err) : put(buf, "false", 5, err);
    case DF_COL_STRING:
    case DF_COL_DATE:
    case DF_COL_DATETIME:
    case DF_COL_JSON: break;
    }
    units = df_powerbi_utf16_len(cell->v.s.ptr, cell->v.s.len);
    if (units < 0)
        return bad_cell(err, chunk, r, cols, c, "the text is not valid UTF-8");
    if (units > DF_POWERBI_MAX_STRING_CHARS) {
        snprintf(what, sizeof(what),
                 "a string of %lld characters; Power BI takes at most %d per value",
                 (long long)units, DF_POWERBI_MAX_STRING_CHARS);
        return bad_cell(err, chunk, r, cols, c, what);
    }
    return df_powerbi_json_string(buf, cell->v.s.ptr, cell->v.s.len, err);
}

df_code_t df_powerbi_rows_encode(const df_chunk_t *chunk, size_t from,
                                 const df_powerbi_columns_t *cols, df_http_buf_t *buf,
                                 df_error_t *err)
{
    if (chunk->nrows > from && chunk->ncols != cols->n)
        return df_error_set(err, DF_ERR_INTERNAL, NULL, "chunk has %zu columns, expected %zu",
                            chunk->ncols, cols->n);
    if (put(buf, "{\"rows\":[", 9, err))
        return err->code;
    for (size_t r = from; r < chunk->nrows; r++) {
        if (put(buf, r > from ? ",{" : "{", r > from ? 2 : 1, err))
            return err->code;
        for (size_t c = 0; c < cols->n; c++) {
            if ((c > 0 && put(buf, ",", 1, err)) ||
                put(buf, cols->keys[c], strlen(cols->keys[c]), err) ||
                encode_cell(buf, chunk, r, cols, c, err))
                return err->code;
        }
        if (put(buf, "}", 1, err))
            return err->code;
    }
    return put(buf, "]}", 2, err);
}
