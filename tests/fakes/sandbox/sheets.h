/* sheets: Google Sheets API v4 (specs/google-sheets/sheets__v4.json):
 * spreadsheets.create/get/batchUpdate and spreadsheets.values
 * get/update/append/clear/batchUpdate, with Google's usage limits: read and write
 * requests per minute per project and per user, cells per spreadsheet,
 * request payload size. */
#ifndef SB_SHEETS_H
#define SB_SHEETS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sandbox_http.h"

sb_sheets_t *sb_sheets_new(void);
void sb_sheets_destroy(sb_sheets_t *sheets);
void sb_sheets_reset(sb_sheets_t *sheets);

/* Whether the request is for a Sheets route; fills route when so. */
bool sb_sheets_match(const sb_request_t *req, sb_route_t *route);

/* Google's error body {"error":{"code","message","status"}} with the
 * HTTP status; reason (or NULL) adds an ErrorInfo detail. */
void sb_sheets_error(sb_response_t *res, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Control API: create a spreadsheet {"spreadsheet_id", "title",
 * "sheets":["Sheet1",...], "row_count", "column_count", "editors"}.
 * Answers res (201 with the spreadsheet, or 400/409). */
void sb_sheets_create_control(sb_state_t *st, const json_t *spec, sb_response_t *res);

/* Inspection: a spreadsheet's sheets with their cell values (new
 * reference), or NULL when it does not exist. */
json_t *sb_sheets_inspect(const sb_sheets_t *sheets, const char *spreadsheet_id);

#endif
