/* sheets_book: spreadsheets.create, spreadsheets.get and
 * spreadsheets.batchUpdate (addSheet, deleteSheet, updateSheetProperties,
 * appendDimension, insertDimension, deleteDimension), plus the control
 * API's spreadsheet creation and inspection. A batchUpdate applies to a
 * copy of the spreadsheet that replaces it only when every request
 * succeeded: "If any request is not valid, no requests will be applied." */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "sheets_internal.h"

static const char *const batch_keys[] = { "requests", "includeSpreadsheetInResponse",
                                          "responseRanges", "responseIncludeGridData", NULL };

/* ---- resources ---- */

static json_t *sheet_properties(const sg_book_t *book, const sg_sheet_t *sheet)
{
    size_t index = 0;

    while (index < book->n_sheets && book->sheets[index] != sheet)
        index++;
    return json_pack("{s:I, s:s, s:I, s:s, s:{s:I, s:I}}", "sheetId", (json_int_t)sheet->sheet_id,
                     "title", sheet->title, "index", (json_int_t)index, "sheetType", "GRID",
                     "gridProperties", "rowCount", (json_int_t)sheet->row_count, "columnCount",
                     (json_int_t)sheet->column_count);
}

json_t *sheets_book_json(sb_state_t *st, const sg_book_t *book)
{
    json_t *sheets = json_array();
    char url[512];

    for (size_t i = 0; i < book->n_sheets; i++)
        json_array_append_new(
            sheets, json_pack("{s:o}", "properties", sheet_properties(book, book->sheets[i])));
    snprintf(url, sizeof(url), "%s/spreadsheets/d/%s/edit", st->base_url, book->id);
    return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:o, s:s}", "spreadsheetId", book->id,
                     "properties", "title", book->title, "locale", "en_US", "autoRecalc",
                     "ON_CHANGE", "timeZone", "Etc/GMT", "sheets", sheets, "spreadsheetUrl", url);
}

static bool add_book(sb_state_t *st, sg_book_t *book)
{
    sg_book_t **tail = &st->sheets->books;

    while (*tail)
        tail = &(*tail)->next;
    *tail = book;
    return true;
}

/* ---- spreadsheets.create ---- */

void sheets_create(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                   sb_response_t *res)
{
    sheets_call_t call;
    json_t *body;
    const json_t *props, *sheets, *item;
    const char *title;
    char id[64];
    sg_book_t *book;
    size_t i;

    if (!sheets_begin(st, req, route, true, &call, res) || !(body = sheets_body(req, res)))
        return;
    props = json_object_get(body, "properties");
    sheets = json_object_get(body, "sheets");
    title = json_string_value(json_object_get(props, "title"));
    sb_ids_token(id, sizeof(id), "", 44);
    book = sg_book_new(id, title ? title : "Untitled spreadsheet");
    if (!book) {
        sb_sheets_error(res, 500, NULL, "Internal error encountered.");
        json_decref(body);
        return;
    }
    json_array_foreach(sheets, i, item)
    {
        const json_t *p = json_object_get(item, "properties");
        const json_t *grid = json_object_get(p, "gridProperties");
        const char *t = json_string_value(json_object_get(p, "title"));
        json_int_t rows = json_integer_value(json_object_get(grid, "rowCount"));
        json_int_t cols = json_integer_value(json_object_get(grid, "columnCount"));
        char name[32];

        snprintf(name, sizeof(name), "Sheet%zu", i + 1);
        if (sg_book_sheet_titled(book, t ? t : name)) {
            sb_sheets_error(res, 400, NULL,
                            "Invalid sheets[%zu]: A sheet with the name \"%s\" already exists. "
                            "Please enter another name.",
                            i, t ? t : name);
            sg_book_free(book);
            json_decref(body);
            return;
        }
        sg_book_add_sheet(book, t ? t : name, -1, rows > 0 ? rows : SG_DEFAULT_ROWS,
                          cols > 0 ? cols : SG_DEFAULT_COLUMNS);
    }
    if (book->n_sheets == 0)
        sg_book_add_sheet(book, "Sheet1", 0, SG_DEFAULT_ROWS, SG_DEFAULT_COLUMNS);
    if (sg_book_cells(book) > st->cfg->sheets_max_cells) {
        sb_sheets_error(res, 400, NULL,
                        "This action would increase the number of cells in the workbook above "
                        "the limit of %lld cells.",
                        (long long)st->cfg->sheets_max_cells);
        sg_book_free(book);
        json_decref(body);
        return;
    }
    add_book(st, book);
    sb_res_json(res, 200, sheets_book_json(st, book));
    json_decref(body);
}

void sheets_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                sb_response_t *res)
{
    sheets_call_t call;

    if (!sheets_begin(st, req, route, false, &call, res))
        return;
    sb_res_json(res, 200, sheets_book_json(st, call.book));
}

/* ---- spreadsheets.batchUpdate ---- */

typedef struct batch_ctx {
    sb_state_t *st;
    sg_book_t *book; /* the copy being changed */
    size_t index;    /* of the request, for messages */
    const char *kind;
    char message[768];
} batch_ctx_t;

static bool fail(batch_ctx_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(batch_ctx_t *b, const char *fmt, ...)
{
    char text[640];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(b->message, sizeof(b->message), "Invalid requests[%zu].%s: %s", b->index, b->kind,
             text);
    return false;
}

static bool get_sheet(batch_ctx_t *b, const json_t *id, sg_sheet_t **out)
{
    if (!json_is_integer(id))
        return fail(b, "sheetId is required");
    *out = sg_book_sheet_id(b->book, json_integer_value(id));
    if (!*out)
        return fail(b, "No grid with id: %lld", (long long)json_integer_value(id));
    return true;
}

static bool add_sheet(batch_ctx_t *b, const json_t *req, json_t **reply)
{
    const json_t *p = json_object_get(req, "properties");
    const json_t *grid = json_object_get(p, "gridProperties");
    const json_t *id = json_object_get(p, "sheetId");
    const json_t *index = json_object_get(p, "index");
    const char *title = json_string_value(json_object_get(p, "title"));
    json_int_t rows = json_integer_value(json_object_get(grid, "rowCount"));
    json_int_t cols = json_integer_value(json_object_get(grid, "columnCount"));
    char name[32];
    sg_sheet_t *sheet;

    for (size_t n = b->book->n_sheets + 1; !title; n++) {
        snprintf(name, sizeof(name), "Sheet%zu", n);
        if (!sg_book_sheet_titled(b->book, name))
            title = name;
    }
    if (sg_book_sheet_titled(b->book, title))
        return fail(b, "A sheet with the name \"%s\" already exists. Please enter another name.",
                    title);
    if (id && (!json_is_integer(id) || json_integer_value(id) < 0))
        return fail(b, "sheetId must be a non-negative integer");
    if (id && sg_book_sheet_id(b->book, json_integer_value(id)))
        return fail(b, "Sheet with id %lld already exists.", (long long)json_integer_value(id));
    sheet =
        sg_book_add_sheet(b->book, title, id ? json_integer_value(id) : -1,
                          rows > 0 ? rows : SG_DEFAULT_ROWS, cols > 0 ? cols : SG_DEFAULT_COLUMNS);
    if (!sheet)
        return fail(b, "out of memory");
    if (json_is_integer(index) && json_integer_value(index) >= 0 &&
        (size_t)json_integer_value(index) < b->book->n_sheets - 1) {
        size_t at = (size_t)json_integer_value(index);

        memmove(&b->book->sheets[at + 1], &b->book->sheets[at],
                (b->book->n_sheets - 1 - at) * sizeof(*b->book->sheets));
        b->book->sheets[at] = sheet;
    }
    *reply = json_pack("{s:{s:o}}", "addSheet", "properties", sheet_properties(b->book, sheet));
    return true;
}

static bool delete_sheet(batch_ctx_t *b, const json_t *req)
{
    sg_sheet_t *sheet;
    size_t i = 0;

    if (!get_sheet(b, json_object_get(req, "sheetId"), &sheet))
        return false;
    if (b->book->n_sheets == 1)
        return fail(b, "You can't remove all the sheets in a document.");
    while (b->book->sheets[i] != sheet)
        i++;
    sg_book_remove_sheet(b->book, i);
    return true;
}

static bool has_field(const char *fields, const char *name)
{
    size_t n = strlen(name);

    if (strcmp(fields, "*") == 0)
        return true;
    for (const char *p = fields; (p = strstr(p, name)) != NULL; p += n) {
        bool start = p == fields || p[-1] == ',';
        bool end = p[n] == '\0' || p[n] == ',';

        if (start && end)
            return true;
    }
    return false;
}

static bool update_sheet_properties(batch_ctx_t *b, const json_t *req)
{
    const json_t *p = json_object_get(req, "properties");
    const json_t *grid = json_object_get(p, "gridProperties");
    const char *fields = json_string_value(json_object_get(req, "fields"));
    sg_sheet_t *sheet;
    int64_t rows, cols;

    if (!fields || !*fields)
        return fail(b, "At least one field must be specified.");
    if (!get_sheet(b, json_object_get(p, "sheetId"), &sheet))
        return false;
    if (has_field(fields, "title")) {
        const char *title = json_string_value(json_object_get(p, "title"));
        sg_sheet_t *other = title ? sg_book_sheet_titled(b->book, title) : NULL;
        char *copy;

        if (!title || !*title)
            return fail(b, "The sheet name cannot be empty.");
        if (other && other != sheet)
            return fail(b,
                        "A sheet with the name \"%s\" already exists. Please enter another name.",
                        title);
        copy = strdup(title);
        if (!copy)
            return fail(b, "out of memory");
        free(sheet->title);
        sheet->title = copy;
    }
    rows = has_field(fields, "gridProperties.rowCount") || has_field(fields, "gridProperties")
               ? json_integer_value(json_object_get(grid, "rowCount"))
               : sheet->row_count;
    cols = has_field(fields, "gridProperties.columnCount") || has_field(fields, "gridProperties")
               ? json_integer_value(json_object_get(grid, "columnCount"))
               : sheet->column_count;
    if (rows < 1 || cols < 1)
        return fail(b, "rowCount and columnCount must be positive.");
    sg_resize(sheet, rows, cols);
    return true;
}

static bool dimension_of(batch_ctx_t *b, const json_t *v, bool *rows)
{
    const char *d = json_string_value(v);

    if (d && strcmp(d, "ROWS") == 0)
        *rows = true;
    else if (d && strcmp(d, "COLUMNS") == 0)
        *rows = false;
    else
        return fail(b, "dimension must be ROWS or COLUMNS");
    return true;
}

static bool append_dimension(batch_ctx_t *b, const json_t *req)
{
    sg_sheet_t *sheet;
    bool rows;
    json_int_t length = json_integer_value(json_object_get(req, "length"));

    if (!get_sheet(b, json_object_get(req, "sheetId"), &sheet) ||
        !dimension_of(b, json_object_get(req, "dimension"), &rows))
        return false;
    if (length < 1)
        return fail(b, "length must be greater than zero");
    if (rows)
        sheet->row_count += length;
    else
        sheet->column_count += length;
    return true;
}

/* A DimensionRange: sheet, dimension and [start, end) within the grid. */
static bool dimension_range(batch_ctx_t *b, const json_t *range, bool insert, sg_sheet_t **sheet,
                            bool *rows, int64_t *start, int64_t *end)
{
    const json_t *s = json_object_get(range, "startIndex");
    const json_t *e = json_object_get(range, "endIndex");
    int64_t size;

    if (!json_is_object(range))
        return fail(b, "range is required");
    if (!get_sheet(b, json_object_get(range, "sheetId"), sheet) ||
        !dimension_of(b, json_object_get(range, "dimension"), rows))
        return false;
    size = *rows ? (*sheet)->row_count : (*sheet)->column_count;
    *start = json_is_integer(s) ? json_integer_value(s) : 0;
    *end = json_is_integer(e) ? json_integer_value(e) : size;
    if (*start < 0 || *end <= *start || (insert ? *start > size : *end > size))
        return fail(b, "Invalid dimension range [%lld, %lld) for a grid of %lld %s",
                    (long long)*start, (long long)*end, (long long)size,
                    *rows ? "rows" : "columns");
    return true;
}

static bool insert_dimension(batch_ctx_t *b, const json_t *req)
{
    sg_sheet_t *sheet;
    bool rows, ok;
    int64_t start, end;

    if (!dimension_range(b, json_object_get(req, "range"), true, &sheet, &rows, &start, &end))
        return false;
    ok = rows ? sg_insert_rows(sheet, start, end - start)
              : sg_insert_columns(sheet, start, end - start);
    return ok ? true : fail(b, "out of memory");
}

static bool delete_dimension(batch_ctx_t *b, const json_t *req)
{
    sg_sheet_t *sheet;
    bool rows;
    int64_t start, end;

    if (!dimension_range(b, json_object_get(req, "range"), false, &sheet, &rows, &start, &end))
        return false;
    if (rows && end - start >= sheet->row_count)
        return fail(b, "You can't delete all the rows on the sheet.");
    if (!rows && end - start >= sheet->column_count)
        return fail(b, "You can't delete all the columns on the sheet.");
    if (rows)
        sg_delete_rows(sheet, start, end);
    else
        sg_delete_columns(sheet, start, end);
    return true;
}

/* Apply one Request to the copy; *reply is its Response (new reference). */
static bool apply_one(batch_ctx_t *b, const json_t *request, json_t **reply)
{
    const char *kind;
    json_t *body;

    *reply = NULL;
    b->kind = "";
    if (!json_is_object(request) || json_object_size(request) != 1) {
        snprintf(b->message, sizeof(b->message), "Invalid requests[%zu]: %s", b->index,
                 json_object_size(request) == 0 ? "No request set."
                                                : "Exactly one kind of request must be set.");
        return false;
    }
    json_object_foreach((json_t *)request, kind, body)
    {
        b->kind = kind;
        if (!json_is_object(body))
            return fail(b, "expected an object");
        if (strcmp(kind, "addSheet") == 0)
            return add_sheet(b, body, reply);
        if (strcmp(kind, "deleteSheet") == 0)
            return delete_sheet(b, body);
        if (strcmp(kind, "updateSheetProperties") == 0)
            return update_sheet_properties(b, body);
        if (strcmp(kind, "appendDimension") == 0)
            return append_dimension(b, body);
        if (strcmp(kind, "insertDimension") == 0)
            return insert_dimension(b, body);
        if (strcmp(kind, "deleteDimension") == 0)
            return delete_dimension(b, body);
        return fail(b, "datafleet-sandbox does not implement this request (see docs/SANDBOX.md)");
    }
    return false;
}

void sheets_batch_update(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    sheets_call_t call;
    json_t *body, *replies, *reply, *out;
    const json_t *requests, *request;
    batch_ctx_t b;
    size_t i;

    if (!sheets_begin(st, req, route, true, &call, res) || !(body = sheets_body(req, res)))
        return;
    if (!sheets_known_keys(body, batch_keys, NULL, res)) {
        json_decref(body);
        return;
    }
    requests = json_object_get(body, "requests");
    if (!json_is_array(requests) || json_array_size(requests) == 0) {
        sb_sheets_error(res, 400, NULL, "Must specify at least one request.");
        json_decref(body);
        return;
    }
    memset(&b, 0, sizeof(b));
    b.st = st;
    b.book = sg_book_clone(call.book);
    replies = json_array();
    json_array_foreach(requests, i, request)
    {
        b.index = i;
        if (!b.book || !apply_one(&b, request, &reply)) {
            sb_sheets_error(res, 400, NULL, "%s", b.book ? b.message : "Internal error.");
            sg_book_free(b.book);
            json_decref(replies);
            json_decref(body);
            return;
        }
        json_array_append_new(replies, reply ? reply : json_object());
    }
    if (sg_book_cells(b.book) > st->cfg->sheets_max_cells) {
        sb_sheets_error(res, 400, NULL,
                        "This action would increase the number of cells in the workbook above "
                        "the limit of %lld cells.",
                        (long long)st->cfg->sheets_max_cells);
        sg_book_free(b.book);
        json_decref(replies);
        json_decref(body);
        return;
    }
    sheets_replace_book(st->sheets, call.book, b.book);
    out = json_pack("{s:s, s:o}", "spreadsheetId", b.book->id, "replies", replies);
    if (json_is_true(json_object_get(body, "includeSpreadsheetInResponse")))
        json_object_set_new(out, "updatedSpreadsheet", sheets_book_json(st, b.book));
    sb_res_json(res, 200, out);
    json_decref(body);
}

/* ---- control and inspection ---- */

static void control_error(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

void sb_sheets_create_control(sb_state_t *st, const json_t *spec, sb_response_t *res)
{
    const json_t *id = json_object_get(spec, "spreadsheet_id");
    const json_t *title = json_object_get(spec, "title");
    const json_t *sheets = json_object_get(spec, "sheets");
    const json_t *editors = json_object_get(spec, "editors");
    json_int_t rows = json_integer_value(json_object_get(spec, "row_count"));
    json_int_t cols = json_integer_value(json_object_get(spec, "column_count"));
    const json_t *item;
    char generated[64];
    sg_book_t *book;
    size_t i;

    if ((id && (!json_is_string(id) || json_string_length(id) == 0 ||
                strpbrk(json_string_value(id), "/:?#"))) ||
        (title && !json_is_string(title)) || (sheets && !json_is_array(sheets)) ||
        (editors && !json_is_array(editors))) {
        control_error(res, 400,
                      "spreadsheet_id (string without / : ? #), title (string), sheets and "
                      "editors (arrays of strings) expected");
        return;
    }
    if (id && sheets_find(st->sheets, json_string_value(id))) {
        control_error(res, 409, "a spreadsheet with this spreadsheet_id exists");
        return;
    }
    sb_ids_token(generated, sizeof(generated), "", 44);
    book = sg_book_new(id ? json_string_value(id) : generated,
                       title ? json_string_value(title) : "Untitled spreadsheet");
    if (!book) {
        control_error(res, 500, "out of memory");
        return;
    }
    json_array_foreach(sheets, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0 ||
            sg_book_sheet_titled(book, json_string_value(item))) {
            control_error(res, 400, "sheets: expected distinct, non-empty sheet titles");
            sg_book_free(book);
            return;
        }
        sg_book_add_sheet(book, json_string_value(item), -1, rows > 0 ? rows : SG_DEFAULT_ROWS,
                          cols > 0 ? cols : SG_DEFAULT_COLUMNS);
    }
    if (book->n_sheets == 0)
        sg_book_add_sheet(book, "Sheet1", 0, rows > 0 ? rows : SG_DEFAULT_ROWS,
                          cols > 0 ? cols : SG_DEFAULT_COLUMNS);
    book->editors = calloc(json_array_size(editors) + 1, sizeof(char *));
    json_array_foreach(editors, i, item)
    {
        if (book->editors && json_is_string(item))
            book->editors[book->n_editors++] = strdup(json_string_value(item));
    }
    if (sg_book_cells(book) > st->cfg->sheets_max_cells) {
        control_error(res, 400, "the sheets pass the --sheets-max-cells limit");
        sg_book_free(book);
        return;
    }
    add_book(st, book);
    sb_res_json(res, 201, sheets_book_json(st, book));
}

json_t *sb_sheets_inspect(const sb_sheets_t *sheets, const char *spreadsheet_id)
{
    const sg_book_t *book = sheets_find(sheets, spreadsheet_id);
    json_t *list;

    if (!book)
        return NULL;
    list = json_array();
    for (size_t i = 0; i < book->n_sheets; i++) {
        const sg_sheet_t *s = book->sheets[i];
        json_t *values = json_array();
        int64_t used = sg_used_rows(s);

        for (int64_t r = 0; r < used; r++) {
            json_t *row = json_array();
            size_t last = s->rows[r].n;

            while (last > 0 && !s->rows[r].cells[last - 1])
                last--;
            for (size_t c = 0; c < last; c++)
                json_array_append_new(row, s->rows[r].cells[c] ? json_incref(s->rows[r].cells[c])
                                                               : json_null());
            json_array_append_new(values, row);
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "title", s->title,
                                        "sheet_id", (json_int_t)s->sheet_id, "index", (json_int_t)i,
                                        "row_count", (json_int_t)s->row_count, "column_count",
                                        (json_int_t)s->column_count, "values", values));
    }
    return json_pack("{s:s, s:s, s:o}", "spreadsheet_id", book->id, "title", book->title, "sheets",
                     list);
}
