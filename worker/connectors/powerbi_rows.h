/* powerbi_rows: what datafleet rows look like to Power BI push datasets:
 * the column data types, the definition of a new dataset's table, and a
 * chunk encoded as the body of a POST rows request ({"rows":[{...}]}).
 * Values Power BI would refuse (strings over 4,000 characters, NaN) are
 * caught here, naming the row and column, before any request is sent.
 * No I/O: the connector (powerbi.c) and the unit tests use it. */
#ifndef DF_POWERBI_ROWS_H
#define DF_POWERBI_ROWS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_http.h"
#include "sources/source.h"

/* Power BI REST API push dataset limits (Microsoft Learn, "Push semantic
 * model limitations"). */
#define DF_POWERBI_MAX_ROWS_PER_POST 10000
#define DF_POWERBI_MAX_STRING_CHARS  4000 /* UTF-16 code units of one value */
#define DF_POWERBI_MAX_COLUMNS       75
#define DF_POWERBI_FIFO_MAX_ROWS     200000 /* rows a basicFIFO table keeps */
#define DF_POWERBI_MAX_PENDING_POSTS 5      /* POST rows requests in progress per dataset */

/* The Power BI dataType of a source column type: Int64, Double, Boolean,
 * DateTime (dates too) or String (JSON values are sent as their text).
 * Static string. */
const char *df_powerbi_data_type(df_col_type_t type);

/* The target columns of an export: the source's columns, renamed by the
 * task's mapping (source column -> target column; the others keep their
 * name). Plain data; fill with df_powerbi_columns_init, release with
 * df_powerbi_columns_free. */
typedef struct df_powerbi_columns {
    size_t n;
    const df_column_t *source; /* borrowed: the source's columns */
    char **names;              /* n target names (owned) */
    char **keys;               /* n JSON object keys: "\"name\":" (owned) */
} df_powerbi_columns_t;

/* Resolve the target columns. Errors (DF_ERR_INVALID, err->field
 * "/params/mapping..."): a mapping entry naming a column the source does
 * not have or that is not a string, two columns ending with the same name
 * (Power BI names are case-insensitive), more than 75 columns. On error
 * cols is left empty (safe to free). */
df_code_t df_powerbi_columns_init(df_powerbi_columns_t *cols, const df_column_t *source, size_t n,
                                  const json_t *mapping, df_error_t *err);
void df_powerbi_columns_free(df_powerbi_columns_t *cols);

/* The index of the target column named name (case-insensitive), or -1. */
long df_powerbi_columns_find(const df_powerbi_columns_t *cols, const char *name);

/* The body of POST datasets: {"name", "defaultMode": "Push", "tables":
 * [{"name": table, "columns": [{"name", "dataType"}...]}]}. New reference
 * (caller decrefs); NULL when out of memory. */
json_t *df_powerbi_dataset_body(const char *dataset, const char *table,
                                const df_powerbi_columns_t *cols);

/* Append to buf the POST rows body of rows [from, chunk->nrows) of chunk:
 * {"rows":[{"col":value,...},...]} with every column present, NULL as
 * null, dates and date-times as their ISO 8601 text, JSON values as
 * strings. Errors, DF_ERR_INVALID with err->field "row N, column NAME" (N
 * counting from 1 in the whole export, NAME the source column): a string
 * over DF_POWERBI_MAX_STRING_CHARS UTF-16 units, text that is not UTF-8, a
 * NaN or infinite number. DF_ERR_NOMEM / DF_ERR_INVALID from buf when it
 * is full. buf is left partly filled on error. */
df_code_t df_powerbi_rows_encode(const df_chunk_t *chunk, size_t from,
                                 const df_powerbi_columns_t *cols, df_http_buf_t *buf,
                                 df_error_t *err);

/* UTF-16 code units of the UTF-8 text s (len bytes), as Power BI counts a
 * string's characters; -1 when s is not valid UTF-8. */
int64_t df_powerbi_utf16_len(const char *s, size_t len);

/* Append the JSON string literal of s (len bytes, UTF-8) to buf. */
df_code_t df_powerbi_json_string(df_http_buf_t *buf, const char *s, size_t len, df_error_t *err);

#endif
