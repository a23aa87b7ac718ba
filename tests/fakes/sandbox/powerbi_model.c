/* powerbi_model: push dataset schemas, row checks and row storage. */
#include "powerbi_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const dataset_keys[] = { "name",        "tables",      "relationships",
                                            "datasources", "defaultMode", NULL };
static const char *const table_keys[] = { "name",     "columns",     "rows",   "measures",
                                          "isHidden", "description", "source", NULL };
static const char *const column_keys[] = { "name",         "dataType",
                                           "formatString", "sortByColumn",
                                           "dataCategory", "isHidden",
                                           "summarizeBy",  NULL };

static bool set_error(pbi_error_t *err, pbi_error_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool set_error(pbi_error_t *err, pbi_error_kind_t kind, const char *fmt, ...)
{
    va_list ap;

    err->kind = kind;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

static bool in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* ASP.NET model binding refuses properties the contract type lacks. */
static bool known_keys(const json_t *obj, const char *const *keys, const char *const *extra,
                       const char *type, pbi_error_t *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        if (!in_list(keys, key) && !in_list(extra, key))
            return set_error(err, PBI_ERR_BINDING,
                             "The property '%s' does not exist on type "
                             "'Microsoft.PowerBI.ServiceContracts.Api.%s'. Make sure to only use "
                             "property names that are defined by the type.",
                             key, type);
    }
    return true;
}

/* Table names follow the swagger pattern: 1 to 100 characters, none of
 * ! " $ % & ' ( ) * + , . / : ; < = > ? [ \ ] ` { | }. */
static bool table_name_ok(const char *name)
{
    static const char forbidden[] = "!\"$%&'()*+,./:;<=>?[\\]`{|}";
    size_t chars = 0;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            chars++;
        if (*p < 0x80 &&
            (strchr(forbidden, *p) || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')))
            return false;
    }
    return chars >= 1 && chars <= 100;
}

static bool parse_type(const char *text, pbi_type_t *out)
{
    static const struct {
        const char *name;
        pbi_type_t type;
    } names[] = {
        { "Int64", PBI_INT64 },     { "Double", PBI_DOUBLE },     { "Boolean", PBI_BOOLEAN },
        { "bool", PBI_BOOLEAN },    { "DateTime", PBI_DATETIME }, { "String", PBI_STRING },
        { "Decimal", PBI_DECIMAL },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].type;
            return true;
        }
    }
    return false;
}

static const char *type_name(pbi_type_t type)
{
    static const char *const names[] = { "Int64",    "Double", "Boolean",
                                         "DateTime", "String", "Decimal" };

    return names[type];
}

void pbi_table_free(pbi_table_t *table)
{
    if (!table)
        return;
    for (size_t i = 0; i < table->n_columns; i++) {
        free(table->columns[i].name);
        free(table->columns[i].data_type);
    }
    free(table->columns);
    free(table->name);
    free(table->text);
    free(table->offsets);
    memset(table, 0, sizeof(*table));
}

bool pbi_table_parse(const json_t *body, const sb_config_t *cfg, pbi_table_t *out, pbi_error_t *err)
{
    const json_t *name = json_object_get(body, "name");
    const json_t *columns = json_object_get(body, "columns");
    size_t i;

    if (!json_is_object(body))
        return set_error(err, PBI_ERR_BINDING, "A table must be a JSON object.");
    if (!known_keys(body, table_keys, NULL, "Table", err))
        return false;
    if (!json_is_string(name))
        return set_error(err, PBI_ERR_BINDING, "Required property 'name' not found in JSON.");
    if (!table_name_ok(json_string_value(name)))
        return set_error(err, PBI_ERR_INVALID,
                         "Table name '%s' is not valid: 1 to 100 characters, without "
                         "!\"$%%&'()*+,./:;<=>?[\\]`{|}.",
                         json_string_value(name));
    if (!json_is_array(columns))
        return set_error(err, PBI_ERR_BINDING,
                         "Required property 'columns' not found in JSON (table '%s').",
                         json_string_value(name));
    if ((int64_t)json_array_size(columns) > cfg->pbi_max_columns)
        return set_error(err, PBI_ERR_INVALID,
                         "Table '%s' has %zu columns; a push dataset table allows at most %lld.",
                         json_string_value(name), json_array_size(columns),
                         (long long)cfg->pbi_max_columns);
    out->name = strdup(json_string_value(name));
    out->columns = calloc(json_array_size(columns) + 1, sizeof(*out->columns));
    if (!out->name || !out->columns)
        return set_error(err, PBI_ERR_INVALID, "The sandbox ran out of memory.");
    for (i = 0; i < json_array_size(columns); i++) {
        const json_t *col = json_array_get(columns, i);
        const json_t *cname = json_object_get(col, "name");
        const json_t *ctype = json_object_get(col, "dataType");
        pbi_column_t *c = &out->columns[out->n_columns];

        if (!json_is_object(col))
            return set_error(err, PBI_ERR_BINDING, "Column %zu of table '%s' is not an object.", i,
                             out->name);
        if (!known_keys(col, column_keys, NULL, "Column", err))
            return false;
        if (!json_is_string(cname) || json_string_length(cname) == 0)
            return set_error(err, PBI_ERR_BINDING,
                             "Required property 'name' not found in JSON (column %zu of table "
                             "'%s').",
                             i, out->name);
        if (!json_is_string(ctype))
            return set_error(err, PBI_ERR_BINDING,
                             "Required property 'dataType' not found in JSON (column '%s' of "
                             "table '%s').",
                             json_string_value(cname), out->name);
        for (size_t j = 0; j < out->n_columns; j++)
            if (strcasecmp(out->columns[j].name, json_string_value(cname)) == 0)
                return set_error(err, PBI_ERR_INVALID, "Column '%s' appears twice in table '%s'.",
                                 json_string_value(cname), out->name);
        if (!parse_type(json_string_value(ctype), &c->type))
            return set_error(err, PBI_ERR_INVALID,
                             "Column '%s' of table '%s' has the unsupported dataType '%s' "
                             "(push datasets take Int64, Double, Boolean, DateTime, String, "
                             "Decimal).",
                             json_string_value(cname), out->name, json_string_value(ctype));
        c->name = strdup(json_string_value(cname));
        c->data_type = strdup(json_string_value(ctype));
        out->n_columns++;
        if (!c->name || !c->data_type)
            return set_error(err, PBI_ERR_INVALID, "The sandbox ran out of memory.");
    }
    return true;
}

void pbi_table_take_columns(pbi_table_t *table, pbi_table_t *from)
{
    for (size_t i = 0; i < table->n_columns; i++) {
        free(table->columns[i].name);
        free(table->columns[i].data_type);
    }
    free(table->columns);
    table->columns = from->columns;
    table->n_columns = from->n_columns;
    from->columns = NULL;
    from->n_columns = 0;
}

void pbi_dataset_free(pbi_dataset_t *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n_tables; i++)
        pbi_table_free(&ds->tables[i]);
    free(ds->tables);
    free(ds->group_id);
    free(ds->name);
    free(ds->default_mode);
    free(ds->retention);
    free(ds->configured_by);
    free(ds);
}

pbi_dataset_t *pbi_dataset_parse(const json_t *body, const sb_config_t *cfg,
                                 const char *const *extra_keys, pbi_error_t *err)
{
    const json_t *name = json_object_get(body, "name");
    const json_t *tables = json_object_get(body, "tables");
    const json_t *mode = json_object_get(body, "defaultMode");
    pbi_dataset_t *ds;

    if (!json_is_object(body)) {
        set_error(err, PBI_ERR_BINDING, "The request body must be a JSON object.");
        return NULL;
    }
    if (!known_keys(body, dataset_keys, extra_keys, "Dataset", err))
        return NULL;
    if (!json_is_string(name) || json_string_length(name) == 0) {
        set_error(err, PBI_ERR_BINDING, "Required property 'name' not found in JSON.");
        return NULL;
    }
    if (!json_is_array(tables)) {
        set_error(err, PBI_ERR_BINDING, "Required property 'tables' not found in JSON.");
        return NULL;
    }
    if (mode && !json_is_null(mode)) {
        const char *m = json_is_string(mode) ? json_string_value(mode) : "";

        if (strcasecmp(m, "Push") != 0 && strcasecmp(m, "PushStreaming") != 0 &&
            strcasecmp(m, "Streaming") != 0) {
            set_error(err, PBI_ERR_INVALID,
                      "defaultMode '%s' is not supported here: this API call only supports push "
                      "datasets (Push, PushStreaming, Streaming).",
                      m);
            return NULL;
        }
    }
    if (json_array_size(tables) == 0 || (int64_t)json_array_size(tables) > cfg->pbi_max_tables) {
        set_error(err, PBI_ERR_INVALID,
                  "A push dataset has from 1 to %lld tables; the request has %zu.",
                  (long long)cfg->pbi_max_tables, json_array_size(tables));
        return NULL;
    }
    ds = calloc(1, sizeof(*ds));
    if (!ds || !(ds->tables = calloc(json_array_size(tables), sizeof(*ds->tables)))) {
        free(ds);
        set_error(err, PBI_ERR_INVALID, "The sandbox ran out of memory.");
        return NULL;
    }
    ds->name = strdup(json_string_value(name));
    ds->default_mode = strdup(json_is_string(mode) ? json_string_value(mode) : "Push");
    for (size_t i = 0; i < json_array_size(tables); i++) {
        pbi_table_t *t = &ds->tables[ds->n_tables];

        if (!pbi_table_parse(json_array_get(tables, i), cfg, t, err)) {
            ds->n_tables++;
            pbi_dataset_free(ds);
            return NULL;
        }
        ds->n_tables++;
        for (size_t j = 0; j + 1 < ds->n_tables; j++) {
            if (strcasecmp(ds->tables[j].name, t->name) == 0) {
                set_error(err, PBI_ERR_INVALID, "Table '%s' appears twice in the dataset.",
                          t->name);
                pbi_dataset_free(ds);
                return NULL;
            }
        }
    }
    return ds;
}

pbi_table_t *pbi_dataset_table(const pbi_dataset_t *ds, const char *name)
{
    if (!ds || !name)
        return NULL;
    for (size_t i = 0; i < ds->n_tables; i++)
        if (strcasecmp(ds->tables[i].name, name) == 0)
            return &ds->tables[i];
    return NULL;
}

/* ---- rows ---- */

/* Length in UTF-16 code units, as .NET counts a string's characters. */
static size_t utf16_length(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) == 0x80)
            continue;
        n += *p >= 0xf0 ? 2 : 1;
    }
    return n;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* ISO 8601 date or date-time (offset optional), or the US form
 * MM/DD/YYYY[ HH:MM[:SS]] of the swagger's example. */
static bool datetime_ok(const char *s)
{
    size_t n = strlen(s);
    const char *t;

    if (n >= 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' &&
        digits(s + 8, 2)) {
        t = s + 10;
    } else if (n >= 8 && strchr(s, '/')) {
        int mo, d, y, used = 0;

        if (sscanf(s, "%2d/%2d/%4d%n", &mo, &d, &y, &used) != 3 || mo < 1 || mo > 12 || d < 1 ||
            d > 31)
            return false;
        t = s + used;
        if (*t == '\0')
            return true;
        if (*t != ' ')
            return false;
        t++;
        return strlen(t) >= 5 && digits(t, 2) && t[2] == ':' && digits(t + 3, 2);
    } else {
        return false;
    }
    if (*t == '\0')
        return true;
    if (*t != 'T' && *t != ' ')
        return false;
    t++;
    if (strlen(t) < 5 || !digits(t, 2) || t[2] != ':' || !digits(t + 3, 2))
        return false;
    t += 5;
    if (*t == ':') {
        if (!digits(t + 1, 2))
            return false;
        t += 3;
        if (*t == '.') {
            t++;
            while (*t >= '0' && *t <= '9')
                t++;
        }
    }
    if (*t == 'Z')
        t++;
    else if ((*t == '+' || *t == '-') && digits(t + 1, 2) && t[3] == ':' && digits(t + 4, 2))
        t += 6;
    return *t == '\0';
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
    default: return "null";
    }
}

static bool value_ok(const pbi_column_t *col, const json_t *v)
{
    switch (col->type) {
    case PBI_INT64:
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                fabs(json_real_value(v)) < 9.2e18);
    case PBI_DOUBLE:
    case PBI_DECIMAL: return json_is_number(v);
    case PBI_BOOLEAN: return json_is_boolean(v);
    case PBI_DATETIME: return json_is_string(v) && datetime_ok(json_string_value(v));
    case PBI_STRING: return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
    }
    return false;
}

static const pbi_column_t *find_column(const pbi_table_t *table, const char *name)
{
    for (size_t i = 0; i < table->n_columns; i++)
        if (strcasecmp(table->columns[i].name, name) == 0)
            return &table->columns[i];
    return NULL;
}

bool pbi_rows_check(const pbi_table_t *table, const json_t *rows, const sb_config_t *cfg,
                    pbi_error_t *err)
{
    size_t i;
    const json_t *row;

    json_array_foreach(rows, i, row)
    {
        const char *key;
        json_t *v;

        if (!json_is_object(row))
            return set_error(err, PBI_ERR_BINDING, "rows[%zu]: expected an object, got %s.", i,
                             json_kind(row));
        json_object_foreach((json_t *)row, key, v)
        {
            const pbi_column_t *col = find_column(table, key);

            if (!col)
                return set_error(err, PBI_ERR_INVALID,
                                 "rows[%zu]: column '%s' does not exist in table '%s'.", i, key,
                                 table->name);
            if (json_is_null(v))
                continue;
            if (!value_ok(col, v))
                return set_error(err, PBI_ERR_INVALID,
                                 "rows[%zu]: column '%s' of table '%s' is %s; got %s.", i,
                                 col->name, table->name, type_name(col->type), json_kind(v));
            if (col->type == PBI_STRING && json_is_string(v) &&
                (int64_t)utf16_length(json_string_value(v)) > cfg->pbi_max_string_chars)
                return set_error(err, PBI_ERR_INVALID,
                                 "rows[%zu]: the value of column '%s' of table '%s' has %zu "
                                 "characters; a string value has at most %lld.",
                                 i, col->name, table->name, utf16_length(json_string_value(v)),
                                 (long long)cfg->pbi_max_string_chars);
        }
    }
    return true;
}

static bool reserve(pbi_table_t *t, size_t more_text, size_t more_rows)
{
    if (t->text_len + more_text > t->text_cap) {
        size_t cap = t->text_cap ? t->text_cap : 4096;
        char *grown;

        while (cap < t->text_len + more_text)
            cap *= 2;
        grown = realloc(t->text, cap);
        if (!grown)
            return false;
        t->text = grown;
        t->text_cap = cap;
    }
    if (t->n_rows + more_rows > t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows : 256;
        size_t *grown;

        while (cap < t->n_rows + more_rows)
            cap *= 2;
        grown = realloc(t->offsets, cap * sizeof(*grown));
        if (!grown)
            return false;
        t->offsets = grown;
        t->cap_rows = cap;
    }
    return true;
}

/* Drop the oldest `drop` rows (a basicFIFO table keeps the newest). */
static void drop_oldest(pbi_table_t *t, size_t drop)
{
    size_t cut = drop < t->n_rows ? t->offsets[drop] : t->text_len;

    memmove(t->text, t->text + cut, t->text_len - cut);
    t->text_len -= cut;
    for (size_t i = drop; i < t->n_rows; i++)
        t->offsets[i - drop] = t->offsets[i] - cut;
    t->n_rows -= drop;
    t->trimmed += drop;
}

bool pbi_rows_append(pbi_table_t *table, const json_t *rows, size_t fifo_max)
{
    size_t n = json_array_size(rows), old_text = table->text_len, old_rows = table->n_rows;

    if (!reserve(table, 0, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        char *text = json_dumps(json_array_get(rows, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t len = text ? strlen(text) + 1 : 0;

        if (!text || !reserve(table, len, 0)) {
            free(text);
            table->text_len = old_text;
            table->n_rows = old_rows;
            return false;
        }
        table->offsets[table->n_rows++] = table->text_len;
        memcpy(table->text + table->text_len, text, len);
        table->text_len += len;
        free(text);
    }
    if (fifo_max > 0 && table->n_rows > fifo_max)
        drop_oldest(table, table->n_rows - fifo_max);
    return true;
}

void pbi_rows_clear(pbi_table_t *table)
{
    table->text_len = 0;
    table->n_rows = 0;
}

json_t *pbi_table_json(const pbi_table_t *table)
{
    json_t *columns = json_array();

    for (size_t i = 0; i < table->n_columns; i++)
        json_array_append_new(columns, json_pack("{s:s, s:s}", "name", table->columns[i].name,
                                                 "dataType", table->columns[i].data_type));
    return json_pack("{s:s, s:o}", "name", table->name, "columns", columns);
}
