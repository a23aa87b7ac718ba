/* sheets_values: spreadsheets.values get, update, append and clear.
 * valueInputOption RAW keeps the JSON types; USER_ENTERED reads numbers
 * and booleans out of strings like the Sheets UI (formulas are kept as
 * text: the sandbox does not evaluate them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sheets_internal.h"

static const char *const value_range_keys[] = { "range", "majorDimension", "values", NULL };

/* An enum query parameter: def when absent; false (res answered) when
 * not one of choices. */
static bool query_enum(const sb_request_t *req, const char *name, const char *field,
                       const char *const *choices, const char *def, char *out, size_t len,
                       sb_response_t *res)
{
    char *v = sb_req_query(req, name);

    snprintf(out, len, "%s", v ? v : def);
    for (const char *const *c = choices; *c; c++) {
        if (strcmp(*c, out) == 0) {
            free(v);
            return true;
        }
    }
    sb_sheets_error(res, 400, NULL, "Invalid value at '%s', \"%s\"", field, v ? v : "");
    free(v);
    return false;
}

bool sheets_input_option(const char *v, bool *user_entered, sb_response_t *res)
{
    if (!v) {
        sb_sheets_error(res, 400, NULL, "'valueInputOption' is required but not specified");
        return false;
    }
    if (strcmp(v, "RAW") == 0 || strcmp(v, "USER_ENTERED") == 0) {
        *user_entered = v[0] == 'U';
        return true;
    }
    if (strcmp(v, "INPUT_VALUE_OPTION_UNSPECIFIED") == 0)
        sb_sheets_error(res, 400, NULL, "Invalid valueInputOption: %s", v);
    else
        sb_sheets_error(res, 400, NULL,
                        "Invalid value at 'value_input_option' "
                        "(type.googleapis.com/"
                        "google.apps.sheets.v4.ValueInputOption), \"%s\"",
                        v);
    return false;
}

static bool input_option(const sb_request_t *req, bool *user_entered, sb_response_t *res)
{
    char *v = sb_req_query(req, "valueInputOption");
    bool ok = sheets_input_option(v, user_entered, res);

    free(v);
    return ok;
}

/* What a cell holds after input: RAW keeps JSON types; USER_ENTERED reads
 * numbers and booleans out of strings (a leading ' keeps the text).
 * Formulas are kept as text: the sandbox does not evaluate them. */
static json_t *input_value(const json_t *v, bool user_entered)
{
    const char *s;
    char *end;
    double d;

    if (!json_is_string(v) || !user_entered)
        return json_copy((json_t *)v);
    s = json_string_value(v);
    if (s[0] == '\'')
        return json_string(s + 1);
    if (strcasecmp(s, "TRUE") == 0 || strcasecmp(s, "FALSE") == 0)
        return json_boolean(strcasecmp(s, "TRUE") == 0);
    if (*s && strspn(s, "0123456789+-.eE") == strlen(s)) {
        d = strtod(s, &end);
        if (*end == '\0' && isfinite(d)) {
            if (d == floor(d) && fabs(d) < 9e15)
                return json_integer((json_int_t)d);
            return json_real(d);
        }
    }
    return json_string(s);
}

/* A cell as the response shows it: FORMATTED_VALUE as text, otherwise the
 * typed value (integral numbers without a fraction). */
static json_t *output_value(const json_t *v, bool formatted)
{
    char buf[64];

    if (!v)
        return json_string("");
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15) {
        if (!formatted)
            return json_integer((json_int_t)json_real_value(v));
        snprintf(buf, sizeof(buf), "%.0f", json_real_value(v));
        return json_string(buf);
    }
    if (!formatted)
        return json_incref((json_t *)v);
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "TRUE" : "FALSE");
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
        return json_string(buf);
    }
    return json_incref((json_t *)v);
}

/* The values of box (clipped) without trailing empty rows and cells, by
 * rows or by columns. */
static json_t *read_values(const sg_sheet_t *sheet, const sg_box_t *box, bool by_columns,
                           bool formatted)
{
    json_t *outer = json_array();
    int64_t major_end = by_columns ? box->c1 : box->r1, minor_end = by_columns ? box->r1 : box->c1;
    int64_t major0 = by_columns ? box->c0 : box->r0, minor0 = by_columns ? box->r0 : box->c0;
    int64_t last_nonempty = -1;

    if (!by_columns && major_end > (int64_t)sheet->n_rows)
        major_end = (int64_t)sheet->n_rows;
    for (int64_t i = major0; i < major_end; i++) {
        json_t *inner = json_array();
        int64_t last = -1;

        for (int64_t j = minor0; j < minor_end; j++) {
            const json_t *v = by_columns ? sg_cell(sheet, j, i) : sg_cell(sheet, i, j);

            if (v)
                last = j;
            if (!by_columns && (size_t)j >= sheet->rows[i].n)
                break;
        }
        for (int64_t j = minor0; j <= last; j++)
            json_array_append_new(
                inner,
                output_value(by_columns ? sg_cell(sheet, j, i) : sg_cell(sheet, i, j), formatted));
        if (last >= 0)
            last_nonempty = (int64_t)json_array_size(outer);
        json_array_append_new(outer, inner);
    }
    while ((int64_t)json_array_size(outer) > last_nonempty + 1)
        json_array_remove(outer, json_array_size(outer) - 1);
    return outer;
}

static bool parse_range(const sg_book_t *book, const char *text, sg_sheet_t **sheet, sg_box_t *box,
                        sb_response_t *res)
{
    if (!sg_range_parse(book, text, sheet, box)) {
        sb_sheets_error(res, 400, NULL, "Unable to parse range: %s", text);
        return false;
    }
    return true;
}

void sheets_values_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                       sb_response_t *res)
{
    static const char *const dims[] = { "ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED", NULL };
    static const char *const renders[] = { "FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA",
                                           NULL };
    sheets_call_t call;
    sg_sheet_t *sheet;
    sg_box_t box;
    char dim[32], render[32], text[SG_RANGE_TEXT];
    json_t *values, *out;

    if (!sheets_begin(st, req, route, false, &call, res) ||
        !parse_range(call.book, route->param[1], &sheet, &box, res) ||
        !query_enum(req, "majorDimension", "major_dimension", dims, "ROWS", dim, sizeof(dim),
                    res) ||
        !query_enum(req, "valueRenderOption", "value_render_option", renders, "FORMATTED_VALUE",
                    render, sizeof(render), res))
        return;
    if ((box.r1 != SG_UNBOUNDED && box.r1 > sheet->row_count) ||
        (box.c1 != SG_UNBOUNDED && box.c1 > sheet->column_count) || box.r0 >= sheet->row_count ||
        box.c0 >= sheet->column_count) {
        sg_range_format(sheet, &box, text, sizeof(text));
        sb_sheets_error(res, 400, NULL,
                        "Range (%s) exceeds grid limits. Max rows: %lld, max columns: %lld", text,
                        (long long)sheet->row_count, (long long)sheet->column_count);
        return;
    }
    sg_box_clip(sheet, &box);
    sg_range_format(sheet, &box, text, sizeof(text));
    if (strcmp(dim, "DIMENSION_UNSPECIFIED") == 0)
        snprintf(dim, sizeof(dim), "ROWS");
    values = read_values(sheet, &box, dim[0] == 'C', strcmp(render, "FORMATTED_VALUE") == 0);
    out = json_pack("{s:s, s:s}", "range", text, "majorDimension", dim);
    if (json_array_size(values) > 0)
        json_object_set_new(out, "values", values);
    else
        json_decref(values);
    sb_res_json(res, 200, out);
}

json_t *sheets_value_rows(const json_t *body, sb_response_t *res)
{
    const json_t *values = json_object_get(body, "values");
    const json_t *dim = json_object_get(body, "majorDimension");
    bool by_columns = json_is_string(dim) && strcmp(json_string_value(dim), "COLUMNS") == 0;
    json_t *rows = json_array();
    size_t i, j, width = 0;
    const json_t *line, *cell;

    if (dim && (!json_is_string(dim) || (strcmp(json_string_value(dim), "ROWS") != 0 &&
                                         strcmp(json_string_value(dim), "COLUMNS") != 0 &&
                                         strcmp(json_string_value(dim), "DIMENSION_UNSPECIFIED"))))
        goto bad_dim;
    if (values && !json_is_array(values))
        goto bad;
    json_array_foreach(values, i, line)
    {
        if (!json_is_array(line))
            goto bad;
        json_array_foreach(line, j, cell)
        {
            if (json_is_object(cell) || json_is_array(cell))
                goto bad;
        }
        if (json_array_size(line) > width)
            width = json_array_size(line);
        json_array_append(rows, (json_t *)line);
    }
    if (by_columns) {
        json_t *t = json_array();

        for (j = 0; j < width; j++) {
            json_t *row = json_array();

            json_array_foreach(rows, i, line)
            {
                json_array_append(row, j < json_array_size(line) ? json_array_get(line, j)
                                                                 : json_null());
            }
            json_array_append_new(t, row);
        }
        json_decref(rows);
        rows = t;
    }
    return rows;
bad_dim:
    json_decref(rows);
    sb_sheets_error(res, 400, NULL,
                    "Invalid value at 'data.major_dimension' "
                    "(type.googleapis.com/google.apps.sheets.v4.Dimension)");
    return NULL;
bad:
    json_decref(rows);
    sb_sheets_error(res, 400, NULL,
                    "Invalid value at 'data.values' (type.googleapis.com/"
                    "google.protobuf.ListValue): each row must be a list of strings, numbers "
                    "and booleans");
    return NULL;
}

/* Grow the sheet's grid to hold rows x cols from (r0, c0); false (res
 * answered) when the book would pass the cells limit. */
static bool grow_grid(sb_state_t *st, sg_book_t *book, sg_sheet_t *sheet, int64_t r_end,
                      int64_t c_end, sb_response_t *res)
{
    int64_t rows = r_end > sheet->row_count ? r_end : sheet->row_count;
    int64_t cols = c_end > sheet->column_count ? c_end : sheet->column_count;
    int64_t cells = sg_book_cells(book) - sheet->row_count * sheet->column_count + rows * cols;

    if (cells > st->cfg->sheets_max_cells) {
        sb_sheets_error(res, 400, NULL,
                        "This action would increase the number of cells in the workbook above "
                        "the limit of %lld cells.",
                        (long long)st->cfg->sheets_max_cells);
        return false;
    }
    sheet->row_count = rows;
    sheet->column_count = cols;
    return true;
}

/* Write rows at (r0, c0); fills the UpdateValuesResponse counts. */
static json_t *write_rows(const sg_book_t *book, sg_sheet_t *sheet, const json_t *rows, int64_t r0,
                          int64_t c0, bool user_entered, bool include, bool formatted)
{
    size_t i, j, width = 0;
    int64_t cells = 0, used_rows = 0;
    int64_t *col_used;
    int64_t used_cols = 0;
    const json_t *line, *cell;
    sg_box_t box;
    char text[SG_RANGE_TEXT];
    json_t *out;

    json_array_foreach(rows, i, line)
    {
        if (json_array_size(line) > width)
            width = json_array_size(line);
    }
    col_used = calloc(width + 1, sizeof(*col_used));
    json_array_foreach(rows, i, line)
    {
        bool row_used = false;

        json_array_foreach(line, j, cell)
        {
            if (json_is_null(cell))
                continue;
            sg_cell_set(sheet, r0 + (int64_t)i, c0 + (int64_t)j, input_value(cell, user_entered));
            cells++;
            row_used = true;
            if (col_used && !col_used[j]++)
                used_cols++;
        }
        used_rows += row_used;
    }
    free(col_used);
    box = (sg_box_t){ r0, c0, r0 + (int64_t)(json_array_size(rows) ? json_array_size(rows) : 1),
                      c0 + (int64_t)(width ? width : 1) };
    sg_range_format(sheet, &box, text, sizeof(text));
    out = json_pack("{s:s, s:s, s:I, s:I, s:I}", "spreadsheetId", book->id, "updatedRange", text,
                    "updatedRows", (json_int_t)used_rows, "updatedColumns", (json_int_t)used_cols,
                    "updatedCells", (json_int_t)cells);
    if (include) {
        json_t *data = json_pack("{s:s, s:s}", "range", text, "majorDimension", "ROWS");

        json_object_set_new(data, "values", read_values(sheet, &box, false, formatted));
        json_object_set_new(out, "updatedData", data);
    }
    return out;
}

static bool include_values(const sb_request_t *req)
{
    char *v = sb_req_query(req, "includeValuesInResponse");
    bool yes = v && strcmp(v, "true") == 0;

    free(v);
    return yes;
}

static bool response_formatted(const sb_request_t *req)
{
    char *v = sb_req_query(req, "responseValueRenderOption");
    bool formatted = !v || strcmp(v, "FORMATTED_VALUE") == 0;

    free(v);
    return formatted;
}

/* The shared start of update and append: the call, the range, the input
 * option and the body's rows. */
static json_t *begin_write(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sheets_call_t *call, sg_sheet_t **sheet, sg_box_t *box,
                           bool *user_entered, sb_response_t *res)
{
    json_t *body, *rows;
    const json_t *body_range;

    if (!sheets_begin(st, req, route, true, call, res) ||
        !parse_range(call->book, route->param[1], sheet, box, res) ||
        !input_option(req, user_entered, res) || !(body = sheets_body(req, res)))
        return NULL;
    if (!sheets_known_keys(body, value_range_keys, NULL, res)) {
        json_decref(body);
        return NULL;
    }
    body_range = json_object_get(body, "range");
    if (body_range) {
        sg_sheet_t *s2;
        sg_box_t b2;

        if (!json_is_string(body_range) ||
            !sg_range_parse(call->book, json_string_value(body_range), &s2, &b2) || s2 != *sheet ||
            memcmp(&b2, box, sizeof(b2)) != 0) {
            sb_sheets_error(res, 400, NULL,
                            "Invalid ValueRange: the range in the body (%s) does not match the "
                            "range in the URL (%s)",
                            json_is_string(body_range) ? json_string_value(body_range) : "?",
                            route->param[1]);
            json_decref(body);
            return NULL;
        }
    }
    rows = sheets_value_rows(body, res);
    json_decref(body);
    return rows;
}

json_t *sheets_values_write(sb_state_t *st, sg_book_t *book, sg_sheet_t *sheet, sg_box_t box,
                            const json_t *rows, const sheets_write_t *how, sb_response_t *res)
{
    size_t i, width = 0;
    const json_t *line;
    char text[SG_RANGE_TEXT], col[8];

    json_array_foreach(rows, i, line)
    {
        if (json_array_size(line) > width)
            width = json_array_size(line);
    }
    sg_range_format(sheet, &box, text, sizeof(text));
    /* A single cell anchors the values: they are written from there. */
    if (box.r1 - box.r0 == 1 && box.c1 - box.c0 == 1)
        box.r1 = box.c1 = SG_UNBOUNDED;
    if (box.r1 != SG_UNBOUNDED && box.r0 + (int64_t)json_array_size(rows) > box.r1) {
        sb_sheets_error(res, 400, NULL,
                        "Requested writing within range [%s], but tried writing to row [%lld]",
                        text, (long long)(box.r1 + 1));
        return NULL;
    }
    if (box.c1 != SG_UNBOUNDED && box.c0 + (int64_t)width > box.c1) {
        sg_column_name(box.c1, col);
        sb_sheets_error(res, 400, NULL,
                        "Requested writing within range [%s], but tried writing to column [%s]",
                        text, col);
        return NULL;
    }
    if (!grow_grid(st, book, sheet, box.r0 + (int64_t)json_array_size(rows),
                   box.c0 + (int64_t)width, res))
        return NULL;
    return write_rows(book, sheet, rows, box.r0, box.c0, how->user_entered, how->include,
                      how->formatted);
}

void sheets_values_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    sheets_call_t call;
    sg_sheet_t *sheet;
    sg_box_t box;
    sheets_write_t how = { false, include_values(req), response_formatted(req) };
    json_t *rows = begin_write(st, req, route, &call, &sheet, &box, &how.user_entered, res), *out;

    if (!rows)
        return;
    out = sheets_values_write(st, call.book, sheet, box, rows, &how, res);
    if (out)
        sb_res_json(res, 200, out);
    json_decref(rows);
}

void sheets_values_append(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    static const char *const inserts[] = { "OVERWRITE", "INSERT_ROWS", NULL };
    sheets_call_t call;
    sg_sheet_t *sheet;
    sg_box_t box, table;
    bool user_entered = false, found = false, insert_rows;
    char insert[32], text[SG_RANGE_TEXT];
    json_t *rows = begin_write(st, req, route, &call, &sheet, &box, &user_entered, res), *out;
    int64_t r, c_first = SG_UNBOUNDED, c_last = -1, n_rows, width = 0, end_rows, rows_after;
    size_t i;
    const json_t *line;

    if (!rows)
        return;
    if (!query_enum(req, "insertDataOption", "insert_data_option", inserts, "OVERWRITE", insert,
                    sizeof(insert), res)) {
        json_decref(rows);
        return;
    }
    insert_rows = strcmp(insert, "INSERT_ROWS") == 0;
    sg_box_clip(sheet, &box);
    /* The table: from the first row at or below the range's start with a
     * value in its columns, down to the row before the next empty one
     * (Google extends a table past the end of the given range, and past a
     * single-cell range's column to the data next to it). */
    if (box.c1 - box.c0 == 1 && box.r1 - box.r0 == 1)
        box.c1 = SG_UNBOUNDED;
    end_rows = (int64_t)sheet->n_rows;
    for (r = box.r0; r < end_rows && !sg_row_has_value(sheet, r, box.c0, box.c1); r++)
        ;
    table = (sg_box_t){ r, box.c0, r, box.c1 };
    for (; r < end_rows && sg_row_has_value(sheet, r, box.c0, box.c1); r++) {
        for (int64_t c = box.c0; c < box.c1 && (size_t)c < sheet->rows[r].n; c++) {
            if (sheet->rows[r].cells[c]) {
                c_first = c < c_first ? c : c_first;
                c_last = c > c_last ? c : c_last;
            }
        }
        found = true;
    }
    table.r1 = r;
    json_array_foreach(rows, i, line)
    {
        if ((int64_t)json_array_size(line) > width)
            width = (int64_t)json_array_size(line);
    }
    n_rows = (int64_t)json_array_size(rows);
    if (found) {
        table.c0 = c_first;
        table.c1 = c_last + 1;
    }
    r = found ? table.r1 : box.r0;
    rows_after = insert_rows ? sheet->row_count + n_rows
                             : (r + n_rows > sheet->row_count ? r + n_rows : sheet->row_count);
    if (!grow_grid(st, call.book, sheet, rows_after, table.c0 + width, res)) {
        json_decref(rows);
        return;
    }
    if (insert_rows && n_rows > 0) {
        sheet->row_count -= n_rows; /* sg_insert_rows adds them back */
        if (!sg_insert_rows(sheet, r, n_rows)) {
            sb_sheets_error(res, 500, NULL, "Internal error encountered.");
            json_decref(rows);
            return;
        }
    }
    out = json_pack("{s:s}", "spreadsheetId", call.book->id);
    if (found) {
        sg_range_format(sheet, &table, text, sizeof(text));
        json_object_set_new(out, "tableRange", json_string(text));
    }
    json_object_set_new(out, "updates",
                        write_rows(call.book, sheet, rows, r, table.c0, user_entered,
                                   include_values(req), response_formatted(req)));
    sb_res_json(res, 200, out);
    json_decref(rows);
}

void sheets_values_clear(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    static const char *const none[] = { NULL };
    sheets_call_t call;
    sg_sheet_t *sheet;
    sg_box_t box;
    char text[SG_RANGE_TEXT];
    json_t *body;

    if (!sheets_begin(st, req, route, true, &call, res) ||
        !parse_range(call.book, route->param[1], &sheet, &box, res) ||
        !(body = sheets_body(req, res)))
        return;
    if (sheets_known_keys(body, none, NULL, res)) {
        sg_box_clip(sheet, &box);
        if (box.r1 > sheet->row_count)
            box.r1 = sheet->row_count;
        if (box.c1 > sheet->column_count)
            box.c1 = sheet->column_count;
        sg_clear(sheet, &box);
        sg_range_format(sheet, &box, text, sizeof(text));
        sb_res_json(res, 200,
                    json_pack("{s:s, s:s}", "spreadsheetId", call.book->id, "clearedRange", text));
    }
    json_decref(body);
}
