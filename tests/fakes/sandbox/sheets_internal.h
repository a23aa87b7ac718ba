/* sheets_internal: what sheets.c (routing, auth, quotas, errors),
 * sheets_values.c (spreadsheets.values), sheets_values_batch.c
 * (values.batchUpdate) and sheets_book.c (spreadsheets create/get/batchUpdate,
 * control and inspection) share. Not for other modules. */
#ifndef SB_SHEETS_INTERNAL_H
#define SB_SHEETS_INTERNAL_H

#include <stdbool.h>

#include "df_hmap.h"
#include "sheets.h"
#include "sheets_grid.h"
#include "tokens.h"

struct sb_sheets {
    sg_book_t *books; /* linked through next */
    df_hmap_t *quota; /* "p:<project>" / "u:<email>" -> sheets_quota_t* */
};

/* What every Sheets call establishes first (sheets_begin). */
typedef struct sheets_call {
    const sb_token_info_t *who;
    sg_book_t *book; /* NULL for routes without a spreadsheet id */
} sheets_call_t;

/* Authenticate (token, scope), check the payload size and the read or
 * write quota, find the spreadsheet of the route (route->param[0]) when
 * it has one and check the caller may use it. false when res was
 * answered with an error. */
bool sheets_begin(sb_state_t *st, const sb_request_t *req, const sb_route_t *route, bool write,
                  sheets_call_t *call, sb_response_t *res);

/* How values are written: valueInputOption USER_ENTERED (else RAW), and
 * the answer's updatedData (includeValuesInResponse) as FORMATTED_VALUE
 * text or typed values. */
typedef struct sheets_write {
    bool user_entered;
    bool include;
    bool formatted;
} sheets_write_t;

/* The request's JSON body as an object (new reference; an empty body is
 * {}); NULL when res was answered with Google's error. */
json_t *sheets_body(const sb_request_t *req, sb_response_t *res);

/* Whether the keys of obj are all in allowed (NULL-terminated); when not,
 * answers res with Google's "Unknown name" error. */
bool sheets_known_keys(const json_t *obj, const char *const *allowed, const char *where,
                       sb_response_t *res);

/* The spreadsheet resource of spreadsheets.get (new reference). */
json_t *sheets_book_json(sb_state_t *st, const sg_book_t *book);

/* Replace book (in the list) with its updated copy; book is freed. */
void sheets_replace_book(sb_sheets_t *sheets, sg_book_t *book, sg_book_t *updated);

/* Find a spreadsheet by id; NULL when there is none. Borrowed. */
sg_book_t *sheets_find(const sb_sheets_t *sheets, const char *id);

/* Route handlers of sheets_book.c. */
void sheets_create(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                   sb_response_t *res);
void sheets_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                sb_response_t *res);
void sheets_batch_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res);

/* A valueInputOption's text (NULL: absent): false (res answered with
 * Google's error) unless RAW or USER_ENTERED. */
bool sheets_input_option(const char *v, bool *user_entered, sb_response_t *res);

/* The rows of a ValueRange's values (transposed when it is by columns), as
 * a new array of arrays; NULL (res answered) when invalid. */
json_t *sheets_value_rows(const json_t *value_range, sb_response_t *res);

/* values.update's write of rows into box of sheet (one of book's): a
 * single cell anchors values of any size, a bounded box refuses values
 * outside it, the grid grows as needed within --sheets-max-cells. The
 * UpdateValuesResponse (new reference), or NULL when res was answered
 * with Google's error (then nothing was written). */
json_t *sheets_values_write(sb_state_t *st, sg_book_t *book, sg_sheet_t *sheet, sg_box_t box,
                            const json_t *rows, const sheets_write_t *how, sb_response_t *res);

/* Route handlers of sheets_values.c. */
void sheets_values_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res);
void sheets_values_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res);
void sheets_values_append(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res);
void sheets_values_clear(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res);

/* Route handler of sheets_values_batch.c. */
void sheets_values_batch_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                                sb_response_t *res);

#endif
