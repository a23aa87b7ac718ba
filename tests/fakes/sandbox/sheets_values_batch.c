/* sheets_values_batch: spreadsheets.values.batchUpdate (POST
 * /v4/spreadsheets/{id}/values:batchUpdate, a BatchUpdateValuesRequest):
 * each ValueRange of data[] is written as values.update writes one, to a
 * copy of the spreadsheet that replaces it only when every range was
 * written, so a request with one bad range changes nothing. Answers a
 * BatchUpdateValuesResponse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheets_internal.h"

static const char *const batch_keys[] = { "valueInputOption",
                                          "data",
                                          "includeValuesInResponse",
                                          "responseValueRenderOption",
                                          "responseDateTimeRenderOption",
                                          NULL };
static const char *const value_range_keys[] = { "range", "majorDimension", "values", NULL };

/* field of body, when present, is one of choices (NULL-terminated); false
 * (res answered, naming proto_field and type) when not. */
static bool body_enum(const json_t *body, const char *field, const char *proto_field,
                      const char *type, const char *const *choices, sb_response_t *res)
{
    const json_t *v = json_object_get(body, field);

    if (!v)
        return true;
    for (const char *const *c = choices; json_is_string(v) && *c; c++)
        if (strcmp(*c, json_string_value(v)) == 0)
            return true;
    sb_sheets_error(res, 400, NULL, "Invalid value at '%s' (%s), \"%s\"", proto_field, type,
                    json_is_string(v) ? json_string_value(v) : "?");
    return false;
}

/* The request's options (valueInputOption is required, as in the
 * query of values.update); false when res was answered. */
static bool batch_options(const json_t *body, sheets_write_t *how, sb_response_t *res)
{
    static const char *const renders[] = { "FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA",
                                           NULL };
    static const char *const date_renders[] = { "SERIAL_NUMBER", "FORMATTED_STRING", NULL };
    const json_t *input = json_object_get(body, "valueInputOption");
    const json_t *include = json_object_get(body, "includeValuesInResponse");
    const json_t *render = json_object_get(body, "responseValueRenderOption");

    if (input && !json_is_string(input)) {
        sb_sheets_error(res, 400, NULL,
                        "Invalid value at 'value_input_option' "
                        "(type.googleapis.com/google.apps.sheets.v4.ValueInputOption)");
        return false;
    }
    if (include && !json_is_boolean(include)) {
        sb_sheets_error(res, 400, NULL,
                        "Invalid value at 'include_values_in_response' (TYPE_BOOL)");
        return false;
    }
    if (!body_enum(body, "responseValueRenderOption", "response_value_render_option",
                   "type.googleapis.com/google.apps.sheets.v4.ValueRenderOption", renders, res) ||
        !body_enum(body, "responseDateTimeRenderOption", "response_date_time_render_option",
                   "type.googleapis.com/google.apps.sheets.v4.DateTimeRenderOption", date_renders,
                   res) ||
        !sheets_input_option(json_string_value(input), &how->user_entered, res))
        return false;
    how->include = json_is_true(include);
    how->formatted = !render || strcmp(json_string_value(render), "FORMATTED_VALUE") == 0;
    return true;
}

/* Write data[i] into book (the copy); its UpdateValuesResponse (new
 * reference) and its sheet, or NULL when res was answered. */
static json_t *write_one(sb_state_t *st, sg_book_t *book, const json_t *item, size_t i,
                         const sheets_write_t *how, sg_sheet_t **sheet, sb_response_t *res)
{
    const json_t *range = json_object_get(item, "range");
    char where[32];
    sg_box_t box;
    json_t *rows, *one;

    snprintf(where, sizeof(where), "data[%zu]", i);
    if (!json_is_object(item)) {
        sb_sheets_error(res, 400, NULL,
                        "Invalid value at '%s' (type.googleapis.com/"
                        "google.apps.sheets.v4.ValueRange)",
                        where);
        return NULL;
    }
    if (!sheets_known_keys(item, value_range_keys, where, res))
        return NULL;
    if (!json_is_string(range) || json_string_length(range) == 0) {
        sb_sheets_error(res, 400, NULL, "Invalid %s: the range is required", where);
        return NULL;
    }
    if (!sg_range_parse(book, json_string_value(range), sheet, &box)) {
        sb_sheets_error(res, 400, NULL, "Unable to parse range: %s", json_string_value(range));
        return NULL;
    }
    if (!(rows = sheets_value_rows(item, res)))
        return NULL;
    one = sheets_values_write(st, book, *sheet, box, rows, how, res);
    json_decref(rows);
    return one;
}

void sheets_values_batch_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                                sb_response_t *res)
{
    sheets_call_t call;
    sheets_write_t how = { false, false, true };
    json_t *body, *responses = NULL, *one;
    const json_t *data, *item;
    sg_book_t *copy = NULL;
    sg_sheet_t **touched = NULL;
    size_t i, n_touched = 0;
    json_int_t rows = 0, columns = 0, cells = 0;

    if (!sheets_begin(st, req, route, true, &call, res) || !(body = sheets_body(req, res)))
        return;
    if (!sheets_known_keys(body, batch_keys, NULL, res) || !batch_options(body, &how, res))
        goto done;
    data = json_object_get(body, "data");
    if (data && !json_is_array(data)) {
        sb_sheets_error(res, 400, NULL,
                        "Invalid value at 'data' (type.googleapis.com/"
                        "google.apps.sheets.v4.ValueRange): expected a list");
        goto done;
    }
    copy = sg_book_clone(call.book);
    responses = json_array();
    touched = calloc(json_array_size(data) + 1, sizeof(*touched));
    if (!copy || !responses || !touched) {
        sb_sheets_error(res, 500, NULL, "Internal error encountered.");
        goto done;
    }
    json_array_foreach(data, i, item)
    {
        sg_sheet_t *sheet;
        json_int_t updated;
        size_t t = 0;

        if (!(one = write_one(st, copy, item, i, &how, &sheet, res)))
            goto done;
        rows += json_integer_value(json_object_get(one, "updatedRows"));
        columns += json_integer_value(json_object_get(one, "updatedColumns"));
        updated = json_integer_value(json_object_get(one, "updatedCells"));
        cells += updated;
        while (t < n_touched && touched[t] != sheet)
            t++;
        if (updated > 0 && t == n_touched)
            touched[n_touched++] = sheet;
        json_array_append_new(responses, one);
    }
    sheets_replace_book(st->sheets, call.book, copy);
    sb_res_json(res, 200,
                json_pack("{s:s, s:I, s:I, s:I, s:I, s:O}", "spreadsheetId", copy->id,
                          "totalUpdatedRows", rows, "totalUpdatedColumns", columns,
                          "totalUpdatedCells", cells, "totalUpdatedSheets", (json_int_t)n_touched,
                          "responses", responses));
    copy = NULL; /* now the spreadsheet */
done:
    sg_book_free(copy);
    free(touched);
    json_decref(responses);
    json_decref(body);
}
