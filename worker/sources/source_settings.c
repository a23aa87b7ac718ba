/* source_settings: reading a source's settings from params.source, with
 * errors that name the setting's JSON path (/params/source/<setting>) and
 * what was expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_internal.h"

/* field = base/key. */
static void path_of(char *field, size_t len, const char *base, const char *key)
{
    snprintf(field, len, "%s/%s", base, key);
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static df_code_t bad(df_error_t *err, const char *base, const char *key, const char *expected,
                     const json_t *got)
{
    char field[DF_ERR_FIELD_MAX];
    path_of(field, sizeof(field), base, key);
    return df_error_set(err, DF_ERR_INVALID, field, "%s: expected %s, got %s", field, expected,
                        json_kind(got));
}

df_code_t src_check_keys(const json_t *obj, const char *base, const char *what,
                         const char *const *allowed, df_error_t *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char field[DF_ERR_FIELD_MAX];
            path_of(field, sizeof(field), base, key);
            return df_error_set(err, DF_ERR_INVALID, field, "%s: unknown setting for %s", field,
                                what);
        }
    }
    return DF_OK;
}

df_code_t src_get_str(const json_t *obj, const char *base, const char *key, bool required,
                      const char *def, const char **out, df_error_t *err)
{
    const json_t *v = json_object_get(obj, key);

    *out = def;
    if (!v || json_is_null(v)) {
        if (required) {
            char field[DF_ERR_FIELD_MAX];
            path_of(field, sizeof(field), base, key);
            return df_error_set(err, DF_ERR_INVALID, field, "%s: required", field);
        }
        return DF_OK;
    }
    if (!json_is_string(v))
        return bad(err, base, key, "a string", v);
    if (required && json_string_length(v) == 0) {
        char field[DF_ERR_FIELD_MAX];
        path_of(field, sizeof(field), base, key);
        return df_error_set(err, DF_ERR_INVALID, field, "%s: expected a non-empty string", field);
    }
    *out = json_string_value(v);
    return DF_OK;
}

df_code_t src_get_bool(const json_t *obj, const char *base, const char *key, bool def, bool *out,
                       df_error_t *err)
{
    const json_t *v = json_object_get(obj, key);

    *out = def;
    if (!v || json_is_null(v))
        return DF_OK;
    if (!json_is_boolean(v))
        return bad(err, base, key, "true or false", v);
    *out = json_is_true(v);
    return DF_OK;
}

df_code_t src_get_int(const json_t *obj, const char *base, const char *key, int64_t min,
                      int64_t max, int64_t def, int64_t *out, df_error_t *err)
{
    const json_t *v = json_object_get(obj, key);
    int64_t n;

    *out = def;
    if (!v || json_is_null(v))
        return DF_OK;
    if (!json_is_integer(v))
        return bad(err, base, key, "an integer", v);
    n = (int64_t)json_integer_value(v);
    if (n < min || n > max) {
        char field[DF_ERR_FIELD_MAX];
        path_of(field, sizeof(field), base, key);
        return df_error_set(err, DF_ERR_INVALID, field,
                            "%s: expected an integer from %lld to %lld, got %lld", field,
                            (long long)min, (long long)max, (long long)n);
    }
    *out = n;
    return DF_OK;
}

df_code_t src_get_char(const json_t *obj, const char *base, const char *key, char def, char *out,
                       df_error_t *err)
{
    const char *s;
    df_code_t rc = src_get_str(obj, base, key, false, NULL, &s, err);

    *out = def;
    if (rc != DF_OK || !s)
        return rc;
    if (strlen(s) != 1 || (unsigned char)s[0] >= 0x80 || s[0] == '\n' || s[0] == '\r') {
        char field[DF_ERR_FIELD_MAX];
        path_of(field, sizeof(field), base, key);
        return df_error_set(err, DF_ERR_INVALID, field,
                            "%s: expected one ASCII character (not a line break), got \"%.16s\"",
                            field, s);
    }
    *out = s[0];
    return DF_OK;
}

df_code_t src_get_enum(const json_t *obj, const char *base, const char *key,
                       const char *const *choices, int def, int *out, df_error_t *err)
{
    const char *s;
    df_code_t rc = src_get_str(obj, base, key, false, NULL, &s, err);
    char list[256];
    size_t used = 0;

    *out = def;
    if (rc != DF_OK || !s)
        return rc;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], s) == 0) {
            *out = i;
            return DF_OK;
        }
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"", i ? ", " : "",
                                 choices[i]);
        if (used >= sizeof(list))
            used = sizeof(list) - 1;
    }
    {
        char field[DF_ERR_FIELD_MAX];
        path_of(field, sizeof(field), base, key);
        return df_error_set(err, DF_ERR_INVALID, field, "%s: expected one of %s, got \"%.64s\"",
                            field, list, s);
    }
}

df_code_t src_get_obj(const json_t *obj, const char *base, const char *key, const json_t **out,
                      df_error_t *err)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return DF_OK;
    if (!json_is_object(v))
        return bad(err, base, key, "an object", v);
    *out = v;
    return DF_OK;
}

bool src_type_parse(const char *name, df_col_type_t *out)
{
    static const struct {
        const char *name;
        df_col_type_t type;
    } names[] = {
        { "string", DF_COL_STRING },     { "text", DF_COL_STRING },
        { "integer", DF_COL_INT },       { "int", DF_COL_INT },
        { "float", DF_COL_FLOAT },       { "number", DF_COL_FLOAT },
        { "double", DF_COL_FLOAT },      { "boolean", DF_COL_BOOL },
        { "bool", DF_COL_BOOL },         { "date", DF_COL_DATE },
        { "datetime", DF_COL_DATETIME }, { "timestamp", DF_COL_DATETIME },
        { "json", DF_COL_JSON },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i].name, name) == 0) {
            *out = names[i].type;
            return true;
        }
    }
    return false;
}

bool src_column_name_ok(const char *name, size_t len)
{
    return len > 0 && len < DF_COLUMN_NAME_MAX && src_utf8_valid(name, len) == len &&
           memchr(name, '\0', len) == NULL;
}

df_code_t src_get_columns(const json_t *source, df_column_t **out, bool **typed, size_t *ncols,
                          df_error_t *err)
{
    const json_t *arr = json_object_get(source, "columns");
    df_column_t *cols;
    bool *has_type;
    size_t n;
    char field[DF_ERR_FIELD_MAX];

    *out = NULL;
    *typed = NULL;
    *ncols = 0;
    if (!arr || json_is_null(arr))
        return DF_OK;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > SRC_COLUMNS_MAX)
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/columns",
                            SRC_PATH "/columns: expected an array of 1 to %d columns "
                                     "({\"name\": ..., \"type\": ...} or names)",
                            SRC_COLUMNS_MAX);
    n = json_array_size(arr);
    cols = calloc(n, sizeof(*cols));
    has_type = calloc(n, sizeof(*has_type));
    if (!cols || !has_type) {
        free(cols);
        free(has_type);
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(arr, i);
        const json_t *name = json_is_object(c) ? json_object_get(c, "name") : c;
        const json_t *type = json_is_object(c) ? json_object_get(c, "type") : NULL;

        snprintf(field, sizeof(field), SRC_PATH "/columns/%zu", i);
        if (json_is_object(c)) {
            const char *key;
            json_t *v;
            json_object_foreach((json_t *)c, key, v)
            {
                if (strcmp(key, "name") && strcmp(key, "type")) {
                    snprintf(field, sizeof(field), SRC_PATH "/columns/%zu/%s", i, key);
                    df_error_set(err, DF_ERR_INVALID, field,
                                 "%s: unknown setting (a column has name and type)", field);
                    goto fail;
                }
            }
            snprintf(field, sizeof(field), SRC_PATH "/columns/%zu/name", i);
        }
        if (!json_is_string(name) ||
            !src_column_name_ok(json_string_value(name), json_string_length(name))) {
            df_error_set(err, DF_ERR_INVALID, field,
                         "%s: expected a column name (1 to %d bytes of UTF-8)", field,
                         DF_COLUMN_NAME_MAX - 1);
            goto fail;
        }
        memcpy(cols[i].name, json_string_value(name), json_string_length(name) + 1);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cols[j].name, cols[i].name) == 0) {
                df_error_set(err, DF_ERR_INVALID, field, "%s: duplicate column name \"%s\"", field,
                             cols[i].name);
                goto fail;
            }
        }
        cols[i].type = DF_COL_STRING;
        if (type && !json_is_null(type)) {
            snprintf(field, sizeof(field), SRC_PATH "/columns/%zu/type", i);
            if (!json_is_string(type) || !src_type_parse(json_string_value(type), &cols[i].type)) {
                df_error_set(err, DF_ERR_INVALID, field,
                             "%s: expected one of string, integer, float, boolean, date, "
                             "datetime, json",
                             field);
                goto fail;
            }
            has_type[i] = true;
        }
    }
    *out = cols;
    *typed = has_type;
    *ncols = n;
    return DF_OK;
fail:
    free(cols);
    free(has_type);
    return err ? err->code : DF_ERR_INVALID;
}
