/* source_internal: what the source kinds (postgres.c, csv.c, ndjson.c,
 * http_json.c) share and nothing outside worker/sources/ uses: the source
 * object every kind embeds, settings readers whose errors name
 * /params/source/<setting>, text and JSON value parsing into typed cells,
 * type inference, and the flattening of JSON records into rows. */
#ifndef DF_SOURCE_INTERNAL_H
#define DF_SOURCE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_hmap.h"
#include "source.h"

#define SRC_PATH           "/params/source"
#define SRC_COLUMNS_MAX    4096
#define SRC_SAMPLE_DEFAULT 1000
#define SRC_SAMPLE_MAX     100000
#define SRC_FIELD_MAX      (1024 * 1024)      /* one CSV field or JSON cell */
#define SRC_LINE_MAX       (16 * 1024 * 1024) /* one NDJSON line */
#define SRC_EXPLODE_MAX    10000              /* rows one record may explode into */

/* ---- the source object (source.c) ---------------------------------------- */

typedef struct src_ops {
    const char *kind;
    /* Append up to max_rows rows to chunk (already reset for ncols columns).
     * Zero rows appended means the end. */
    df_code_t (*next)(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err);
    /* Free the kind's state and src itself. */
    void (*close)(df_source_t *src);
} src_ops_t;

/* Every kind's state starts with this (first member). */
struct df_source {
    const src_ops_t *ops;
    df_column_t *columns; /* owned; ncols entries */
    size_t ncols;
    int64_t rows_out; /* rows handed out so far (next chunk's first_row) */
    bool done;
    bool failed;
    df_error_t failure; /* repeated by every later next/skip after a failure */
    json_t *lineage;    /* owned; what df_source_lineage answers (NULL: nothing) */
    bool (*should_stop)(void *ctx);
    void *stop_ctx;
};

/* Fill the common part (ops, stop hook). Cannot fail. */
void src_base_init(df_source_t *src, const src_ops_t *ops, const df_source_env_t *env);
/* Free the columns and lineage (kinds call this from their close). */
void src_base_free(df_source_t *src);
/* Copy columns in (ncols entries). false when out of memory. */
bool src_set_columns(df_source_t *src, const df_column_t *columns, size_t ncols);
/* True when the task asked to stop (cancel, deadline): checked between
 * pages and batches. */
bool src_should_stop(const df_source_t *src);

/* Kinds (one file each). Same contract as df_source_open. */
df_source_t *src_postgres_open(const json_t *source, const df_source_env_t *env, df_error_t *err);
df_source_t *src_csv_open(const json_t *source, const df_source_env_t *env, df_error_t *err);
df_source_t *src_ndjson_open(const json_t *source, const df_source_env_t *env, df_error_t *err);
df_source_t *src_http_json_open(const json_t *source, const df_source_env_t *env, df_error_t *err);

/* ---- settings (source_settings.c) ---------------------------------------- */

/* Refuse keys of obj not in allowed (NULL-terminated): the error names
 * base/<key> ("unknown setting"). */
df_code_t src_check_keys(const json_t *obj, const char *base, const char *what,
                         const char *const *allowed, df_error_t *err);
/* obj.key as a string (borrowed from obj): *out = def when absent (or
 * null); DF_ERR_INVALID naming base/key when required and absent, or not a
 * string, or empty while min_len is 1. */
df_code_t src_get_str(const json_t *obj, const char *base, const char *key, bool required,
                      const char *def, const char **out, df_error_t *err);
df_code_t src_get_bool(const json_t *obj, const char *base, const char *key, bool def, bool *out,
                       df_error_t *err);
df_code_t src_get_int(const json_t *obj, const char *base, const char *key, int64_t min,
                      int64_t max, int64_t def, int64_t *out, df_error_t *err);
/* A one-byte (ASCII) character setting such as a delimiter. */
df_code_t src_get_char(const json_t *obj, const char *base, const char *key, char def, char *out,
                       df_error_t *err);
/* One of the choices (NULL-terminated); *out gets the index, def when
 * absent. */
df_code_t src_get_enum(const json_t *obj, const char *base, const char *key,
                       const char *const *choices, int def, int *out, df_error_t *err);
/* An object setting (borrowed) or NULL when absent; error when not an
 * object. */
df_code_t src_get_obj(const json_t *obj, const char *base, const char *key, const json_t **out,
                      df_error_t *err);

/* The `columns` setting: an array of {"name": ..., "type": ...} (type
 * optional) or plain name strings. *out (caller frees) gets ncols columns;
 * typed[i] (caller frees) tells whether column i had a type. *out = NULL
 * when the setting is absent. */
df_code_t src_get_columns(const json_t *source, df_column_t **out, bool **typed, size_t *ncols,
                          df_error_t *err);

/* Type from its name ("integer", "int", "float", "number", ...). */
bool src_type_parse(const char *name, df_col_type_t *out);

/* A column name check: 1..DF_COLUMN_NAME_MAX-1 bytes of valid UTF-8. */
bool src_column_name_ok(const char *name, size_t len);

/* ---- values (source_values.c) -------------------------------------------- */

/* Candidate types of inference, as bits. */
enum {
    SRC_CAN_INT = 1u << 0,
    SRC_CAN_FLOAT = 1u << 1,
    SRC_CAN_BOOL = 1u << 2,
    SRC_CAN_DATE = 1u << 3,
    SRC_CAN_DATETIME = 1u << 4,
    SRC_CAN_ALL = 0x1f,
};

/* What the sample said about one column so far. */
typedef struct src_infer {
    unsigned can; /* types every value seen parses as */
    bool seen;    /* a non-null value was seen */
    bool nested;  /* an object or array was seen (JSON sources) */
} src_infer_t;

void src_infer_init(src_infer_t *inf);
/* A text value (CSV): narrows the candidates. */
void src_infer_text(src_infer_t *inf, const char *s, size_t len);
/* A JSON value: integers may be INT or FLOAT, reals FLOAT, booleans BOOL,
 * strings DATE or DATETIME when they read as such (never numbers), objects
 * and arrays JSON. null says nothing. */
void src_infer_json(src_infer_t *inf, const json_t *value);
/* The narrowest type the values fit: INT, FLOAT, BOOL, DATE, DATETIME in
 * that order, else JSON when nested values were seen, else STRING (also
 * when no value was seen). */
df_col_type_t src_infer_result(const src_infer_t *inf);

/* Where a bad value was: a row (1-based, as the source counts it), the
 * column, and an optional note appended to the message (e.g. "line 7",
 * "page 3"). */
typedef struct src_where {
    int64_t row;
    const char *column;
    const char *note; /* may be NULL */
} src_where_t;

/* Set the cell from text as type (copied into the chunk's arena for text
 * types). Bad value: DF_ERR_INVALID, field "row N, column NAME", message
 * "row N, column NAME: expected integer, got \"abc\"". The text is valid
 * UTF-8 (callers check). Whitespace around numbers, booleans and dates is
 * ignored. */
df_code_t src_cell_from_text(df_chunk_t *chunk, df_cell_t *cell, df_col_type_t type, const char *s,
                             size_t len, const src_where_t *where, df_error_t *err);
/* Set the cell from a JSON value as type: null -> NULL; STRING takes any
 * scalar's text (objects and arrays as JSON text); JSON takes any value as
 * compact JSON text; the others take their JSON type or a string that
 * reads as one. */
df_code_t src_cell_from_json(df_chunk_t *chunk, df_cell_t *cell, df_col_type_t type,
                             const json_t *value, const src_where_t *where, df_error_t *err);

/* Set err to the row/column error "expected <what>, got <value>" (value
 * quoted and shortened). Returns DF_ERR_INVALID. */
df_code_t src_value_error(const src_where_t *where, const char *expected, const char *s, size_t len,
                          df_error_t *err);
/* Set err to a row error (no column): field "row N", message "row N: ...". */
df_code_t src_row_error(df_error_t *err, int64_t row, const char *note, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Strict parsers (exposed for the postgres source and tests). */
bool src_parse_int(const char *s, size_t len, int64_t *out);
bool src_parse_float(const char *s, size_t len, double *out);
bool src_parse_bool(const char *s, size_t len, bool *out);
/* "YYYY-MM-DD" with a real calendar date. */
bool src_parse_date(const char *s, size_t len);
/* A date, or a date and time ("T", "t" or " " between) with optional
 * seconds, fraction (up to 9 digits) and zone (Z, +HH, +HH:MM, +HHMM; none
 * means UTC). out (>= 40 bytes) gets it in UTC as
 * "YYYY-MM-DDTHH:MM:SS[.fff]Z". */
bool src_parse_datetime(const char *s, size_t len, char *out, size_t out_len);

/* A "YYYY-MM-DD" date as days since 1970-01-01, and back (out >= 11
 * bytes). */
bool src_date_to_days(const char *s, int64_t *days);
void src_days_to_date(int64_t days, char *out, size_t len);

/* Length of the valid UTF-8 prefix of s (== len when all is valid). */
size_t src_utf8_valid(const char *s, size_t len);

/* ---- HTTP for http_json (http_fetch.c) ----------------------------------- */

typedef struct src_http src_http_t;

typedef struct src_http_opts {
    const char *const *headers; /* "Name: value" lines (borrowed) */
    size_t nheaders;
    const char *basic_user; /* HTTP basic auth when non-NULL (borrowed) */
    const char *basic_password;
    int timeout_ms;  /* per request */
    int retries;     /* extra attempts for 429, 5xx and transport failures */
    int max_wait_ms; /* longest single wait between attempts */
    size_t max_body; /* bytes of one response */
    bool (*should_stop)(void *ctx);
    void *stop_ctx;
} src_http_opts_t;

typedef struct src_http_resp {
    long status;
    char *body; /* NUL-terminated; owned by the client, valid until the next request */
    size_t len;
    char *next_link; /* rel="next" of the Link header, absolute; NULL when none */
} src_http_resp_t;
/* (status is also set when src_http_fetch fails on an HTTP status.) */

/* A client (one curl handle, connections kept). opts copied. Caller
 * destroys. */
src_http_t *src_http_new(const src_http_opts_t *opts, df_error_t *err);
void src_http_destroy(src_http_t *http);
/* Send method url (body: JSON text or NULL) and wait for a 2xx response,
 * retrying 408/425/429/5xx and transport failures with exponential backoff
 * (full jitter) that honours Retry-After, at most opts.retries times.
 * Errors: DF_ERR_AUTH (401, 403), DF_ERR_HTTP (other statuses; retryable
 * with retry_after_ms when retries ran out on a retryable one),
 * DF_ERR_TIMEOUT, DF_ERR_CANCELLED; messages name what (e.g. "page 3"),
 * the method and the URL without its query. */
df_code_t src_http_fetch(src_http_t *http, const char *what, const char *method, const char *url,
                         const char *body, src_http_resp_t *resp, df_error_t *err);
/* url with "name=value" appended to its query (value percent-encoded).
 * Caller frees. NULL when out of memory. */
char *src_http_add_param(src_http_t *http, const char *url, const char *name, const char *value);
/* Percent-encode s. Caller frees with free(). */
char *src_http_escape(src_http_t *http, const char *s);

/* ---- JSON records (source_json.c) ----------------------------------------- */

/* One output column's value in a flattened row: the column name is
 * names[name_off .. name_off + name_len). */
typedef struct src_pair {
    size_t name_off, name_len;
    const json_t *value; /* borrowed from the record */
} src_pair_t;

typedef struct src_flat_row {
    src_pair_t *pairs;
    size_t n, cap;
} src_flat_row_t;

/* Flattening of JSON records into rows: nested objects become columns
 * named "a.b" (flatten), arrays stay JSON or explode into one row per
 * element (explode; several arrays give their product, at most
 * SRC_EXPLODE_MAX rows per record). */
typedef struct src_flat {
    bool flatten;
    bool explode;
    char sep[9];
    size_t seplen;
    char *names; /* name bytes of the current record's pairs */
    size_t names_len, names_cap;
    src_flat_row_t *rows; /* rows of the current record */
    size_t nrows, rows_cap;
} src_flat_t;

void src_flat_init(src_flat_t *flat, bool flatten, bool explode, const char *sep);
void src_flat_free(src_flat_t *flat);
/* Flatten one record (borrowed; must outlive the rows). DF_ERR_INVALID
 * naming the row when it explodes into too many rows. */
df_code_t src_flat_record(src_flat_t *flat, const json_t *record, int64_t row, const char *note,
                          df_error_t *err);

/* Columns of JSON records: first-seen order, types inferred from a sample,
 * or given. */
typedef struct src_schema {
    df_hmap_t *index; /* name -> column index + 1 */
    df_column_t *columns;
    src_infer_t *infer;
    bool *typed; /* type given by the settings: not inferred */
    size_t ncols, cap;
    bool frozen;          /* no new columns: the sample is over, or columns were given */
    bool unknown_error;   /* a key outside the columns is an error, not ignored */
    int64_t unknown_seen; /* keys ignored (for the warning) */
    bool warned;
} src_schema_t;

df_code_t src_schema_init(src_schema_t *schema, df_error_t *err);
void src_schema_free(src_schema_t *schema);
/* Take the `columns` setting (frozen then; untyped ones are inferred). */
df_code_t src_schema_given(src_schema_t *schema, const json_t *source, df_error_t *err);
/* Learn from one flattened record (new columns unless frozen; inference). */
df_code_t src_schema_sample(src_schema_t *schema, const src_flat_t *flat, int64_t row,
                            const char *note, df_error_t *err);
/* End of the sample: types settled, no new columns. Keys that were only
 * null and have columns under them (sep-joined) are dropped. A sample
 * without keys leaves no columns (an empty source: no rows either). */
df_code_t src_schema_freeze(src_schema_t *schema, const char *sep, df_error_t *err);
/* Append the flattened record's rows from *pos on to chunk while it has
 * fewer than max_rows rows (frozen schema); *pos advances (== flat->nrows
 * when the record is done). Keys outside the columns: ignored (logged
 * once) or an error. */
df_code_t src_schema_emit(src_schema_t *schema, const src_flat_t *flat, size_t *pos,
                          df_chunk_t *chunk, size_t max_rows, int64_t row, const char *note,
                          df_error_t *err);

/* The settings that shape JSON records into rows (ndjson, http_json):
 * flatten (default true), flatten_separator (default "."), arrays ("json"
 * default, or "explode"), unknown_keys ("ignore" default, or "error").
 * Re-initialises flat. */
df_code_t src_get_shape(const json_t *source, src_flat_t *flat, src_schema_t *schema,
                        df_error_t *err);

/* The value at path in root (borrowed) or NULL: a JSON Pointer ("/a/0/b")
 * or a dotted path ("a.b"; "" is root). */
const json_t *src_json_path(const json_t *root, const char *path);

#endif
