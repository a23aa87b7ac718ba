/* google_sheets_api: the Sheets API v4 client of the google_sheets
 * connector: the connector's settings, a service-account token from
 * df_auth (JWT grant, shared by the fleet through Redis; one new token
 * after a 401), the account's fleet-wide request budget (df_ratelimit,
 * separate read and write budgets), bounded retries of 429, 5xx and
 * transport failures, and the mapping of Google's answers to outcomes.
 * Also the pure helpers the connector is built on: A1 ranges, the encoding
 * of cells (valueInputOption=RAW) and of upsert keys. */
#ifndef DF_GOOGLE_SHEETS_API_H
#define DF_GOOGLE_SHEETS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connector.h"
#include "df_http.h"
#include "sources/source.h"

#define DF_SHEETS_SCOPE           "https://www.googleapis.com/auth/spreadsheets"
#define DF_SHEETS_API_BASE        "https://sheets.googleapis.com"
#define DF_SHEETS_RPM_DEFAULT     60       /* Google: reads, and writes, per minute per user */
#define DF_SHEETS_TRIES           6        /* sends of one call, retries included */
#define DF_SHEETS_CELL_CHARS_MAX  50000    /* characters in one cell (Google's limit) */
#define DF_SHEETS_CELLS_MAX       10000000 /* cells of a spreadsheet, all sheets' grids */
#define DF_SHEETS_A1_MAX          1200     /* a range: a quoted 256-character title and cells */
#define DF_SHEETS_SPREADSHEET_MAX 256

/* ---- pure helpers --------------------------------------------------------- */

/* Letters of a 0-based column index ("A", "Z", "AA", ...) into out (8
 * bytes are enough: Google's last column is 18,278, "ZZZ"). */
void df_sheets_column(size_t col, char *out, size_t len);

/* An A1 range of sheet: columns col0..col1 (0-based, inclusive), rows
 * row0..row1 (1-based, inclusive; row1 0: down to the sheet's end; row0 0:
 * the whole sheet, columns ignored). The title is always quoted, with its
 * quotes doubled: ("My 'q'", 0, 3, 2, 0) -> "'My ''q'''!A2:D". false when
 * out (len bytes) is too small. */
bool df_sheets_a1(const char *sheet, size_t col0, size_t col1, int64_t row0, int64_t row1,
                  char *out, size_t len);

/* The first and last row a range of an API answer names
 * ("Sheet1!A5:D9" -> 5, 9; "'It''s'!B7" -> 7, 7). false when it names no
 * row ("Sheet1!A:D", "Sheet1") or is malformed. */
bool df_sheets_range_rows(const char *range, int64_t *first, int64_t *last);

/* One cell of a column of type as the JSON value written with
 * valueInputOption=RAW (*value: new reference): integers as numbers (as
 * text beyond +-2^53, which a Sheets number, a double, cannot hold),
 * floats as numbers (NaN and infinities as text), booleans as booleans,
 * strings, dates, date-times and JSON as text (dates in ISO 8601), NULL as
 * "" (an empty cell, also over an old value). DF_ERR_INVALID when the text
 * is not UTF-8 or longer than DF_SHEETS_CELL_CHARS_MAX characters. err may
 * be NULL. */
df_code_t df_sheets_cell_json(const df_cell_t *cell, df_col_type_t type, json_t **value,
                              df_error_t *err);

/* Append to key the text that identifies value (a key cell as written, or
 * as values.get returns it with UNFORMATTED_VALUE): strings as they are,
 * numbers in one canonical form (3 and 3.0 alike), booleans TRUE/FALSE;
 * nothing for NULL. false when out of memory or over key's limit. */
bool df_sheets_key_append(df_http_buf_t *key, const json_t *value);

/* What an HTTP answer of the Sheets API means: OK for 2xx; RETRY for 408,
 * 429 (code "rate_limited") and 5xx ("unavailable"), retry_after_ms from
 * Retry-After (-1 when absent: back off); AUTH for 401 ("auth_failed": get
 * a new token once); PERMANENT for any other status, coded from it
 * ("permission_denied", "not_found", "payload_too_large", "cell_limit",
 * "invalid_argument", "http_error"). The message carries Google's own
 * ("HTTP 404: NOT_FOUND: Requested entity was not found."). Returns
 * out->kind. */
df_outcome_kind_t df_sheets_classify(const df_http_response_t *resp, df_outcome_t *out);

/* Row r of chunk c as the JSON array text of its cells (malloc'd; see
 * df_sheets_cell_json), types and names (a JSON array of strings) being the
 * columns'. NULL with out set: PERMANENT "invalid_value" naming the row
 * (from 1 in the export) and the column, "row_too_large" past max_bytes;
 * RETRY "nomem". */
char *df_sheets_row_text(const df_chunk_t *c, size_t r, const df_col_type_t *types,
                         const json_t *names, size_t max_bytes, df_outcome_t *out);

/* A ValueRange body {<extra>"majorDimension":"ROWS","values":[rows]}
 * (malloc'd) of n row texts; extra is "" or fields each followed by a
 * comma. NULL when out of memory. */
char *df_sheets_values_body(const char *extra, char *const *rows, size_t n);

/* ---- the client ------------------------------------------------------------ */

typedef enum df_sheets_call_kind {
    DF_SHEETS_READ = 0,   /* spreadsheets.get, values.get: the read budget */
    DF_SHEETS_WRITE = 1,  /* idempotent writes (update, clear, batchUpdate) */
    DF_SHEETS_APPEND = 2, /* values.append: not idempotent, see df_sheets_call */
} df_sheets_call_kind_t;

typedef struct df_sheets_client df_sheets_client_t;

/* A client of ctx's connector (config.client_email, secrets.private_key:
 * a PEM key or a whole service-account key file; token_url, api_base_url,
 * minute_ms; limits.requests_per_minute) for the spreadsheet
 * spreadsheet_id (NULL: none, only tokens). ctx is borrowed and must
 * outlive the client. NULL with out set (PERMANENT "invalid_config" or
 * "invalid_credentials") when the settings are unusable. Caller closes. */
df_sheets_client_t *df_sheets_client_open(df_task_ctx_t *ctx, const char *spreadsheet_id,
                                          df_outcome_t *out);
void df_sheets_client_close(df_sheets_client_t *c);

/* One call: method on the spreadsheet's URL + path ("" for
 * spreadsheets.get, ":batchUpdate", "/values/..." with its query), body
 * JSON text or NULL. Waits for the account's read or write budget, sends
 * with a token, refreshes the token once after a 401, retries 429 (after
 * Retry-After, else backing off from 2 s) and 5xx and transport failures
 * (backing off from 0.5 s) up to DF_SHEETS_TRIES sends, then returns RETRY
 * with retry_after_ms. A DF_SHEETS_APPEND call that fails in a way that
 * may have been applied (5xx, transport failure, timeout) is not resent:
 * *ambiguous (may be NULL for other kinds) is set and the caller finds out
 * from the sheet. OK: *reply is the answer (new reference; NULL
 * otherwise). */
df_outcome_kind_t df_sheets_call(df_sheets_client_t *c, const char *method, const char *path,
                                 const char *body, df_sheets_call_kind_t kind, json_t **reply,
                                 bool *ambiguous, df_outcome_t *out);

/* An access token (probe): OK, AUTH with Google's message (e.g.
 * "invalid_grant: Invalid JWT Signature."), RETRY or PERMANENT. */
df_outcome_kind_t df_sheets_client_token(df_sheets_client_t *c, df_outcome_t *out);

/* Sleep the backoff of the tries-th failed attempt (from 0.5 s, doubling,
 * jittered, at most 32 s). CANCELLED outcome when the task is to stop. */
df_outcome_kind_t df_sheets_client_pause(df_sheets_client_t *c, int tries, df_outcome_t *out);

/* Requests sent so far. */
int64_t df_sheets_client_requests(const df_sheets_client_t *c);

/* "/values/<range, percent-encoded><suffix>" into path (len bytes).
 * PERMANENT "invalid_target" when it does not fit. */
df_outcome_kind_t df_sheets_values_path(const char *range, const char *suffix, char *path,
                                        size_t len, df_outcome_t *out);

#endif
