/* sheets_grid: books, sheets, cells and A1 notation. */
#include "sheets_grid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COLUMN_LETTERS 3
#define MAX_ROW_NUMBER     100000000LL

/* ---- books and sheets ---- */

static void row_free(sg_row_t *row)
{
    for (size_t i = 0; i < row->n; i++)
        json_decref(row->cells[i]);
    free(row->cells);
    row->cells = NULL;
    row->n = 0;
}

static void sheet_free(sg_sheet_t *sheet)
{
    if (!sheet)
        return;
    for (size_t i = 0; i < sheet->n_rows; i++)
        row_free(&sheet->rows[i]);
    free(sheet->rows);
    free(sheet->title);
    free(sheet);
}

sg_book_t *sg_book_new(const char *id, const char *title)
{
    sg_book_t *book = calloc(1, sizeof(*book));

    if (!book)
        return NULL;
    book->id = strdup(id);
    book->title = strdup(title ? title : "Untitled spreadsheet");
    if (!book->id || !book->title) {
        sg_book_free(book);
        return NULL;
    }
    return book;
}

void sg_book_free(sg_book_t *book)
{
    if (!book)
        return;
    for (size_t i = 0; i < book->n_sheets; i++)
        sheet_free(book->sheets[i]);
    for (size_t i = 0; i < book->n_editors; i++)
        free(book->editors[i]);
    free(book->editors);
    free(book->sheets);
    free(book->id);
    free(book->title);
    free(book);
}

static sg_sheet_t *sheet_clone(const sg_sheet_t *src)
{
    sg_sheet_t *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    *s = *src;
    s->title = strdup(src->title);
    s->rows = src->n_rows ? calloc(src->n_rows, sizeof(*s->rows)) : NULL;
    s->n_rows = 0;
    if (!s->title || (src->n_rows && !s->rows)) {
        sheet_free(s);
        return NULL;
    }
    for (size_t r = 0; r < src->n_rows; r++) {
        const sg_row_t *from = &src->rows[r];

        s->n_rows++;
        if (from->n == 0)
            continue;
        s->rows[r].cells = calloc(from->n, sizeof(json_t *));
        if (!s->rows[r].cells) {
            sheet_free(s);
            return NULL;
        }
        s->rows[r].n = from->n;
        for (size_t c = 0; c < from->n; c++)
            s->rows[r].cells[c] = from->cells[c] ? json_incref(from->cells[c]) : NULL;
    }
    return s;
}

sg_book_t *sg_book_clone(const sg_book_t *book)
{
    sg_book_t *copy = sg_book_new(book->id, book->title);

    if (!copy)
        return NULL;
    copy->next_sheet_id = book->next_sheet_id;
    copy->sheets = calloc(book->n_sheets + 1, sizeof(*copy->sheets));
    copy->editors = calloc(book->n_editors + 1, sizeof(*copy->editors));
    if (!copy->sheets || !copy->editors) {
        sg_book_free(copy);
        return NULL;
    }
    for (size_t i = 0; i < book->n_sheets; i++) {
        copy->sheets[i] = sheet_clone(book->sheets[i]);
        if (!copy->sheets[i]) {
            sg_book_free(copy);
            return NULL;
        }
        copy->n_sheets++;
    }
    for (size_t i = 0; i < book->n_editors; i++) {
        copy->editors[i] = strdup(book->editors[i]);
        if (!copy->editors[i]) {
            sg_book_free(copy);
            return NULL;
        }
        copy->n_editors++;
    }
    return copy;
}

sg_sheet_t *sg_book_add_sheet(sg_book_t *book, const char *title, int64_t sheet_id, int64_t rows,
                              int64_t columns)
{
    sg_sheet_t **grown = realloc(book->sheets, (book->n_sheets + 1) * sizeof(*grown));
    sg_sheet_t *s;

    if (!grown)
        return NULL;
    book->sheets = grown;
    s = calloc(1, sizeof(*s));
    if (!s || !(s->title = strdup(title))) {
        free(s);
        return NULL;
    }
    if (sheet_id < 0) {
        while (sg_book_sheet_id(book, book->next_sheet_id))
            book->next_sheet_id++;
        sheet_id = book->next_sheet_id++;
    }
    s->sheet_id = sheet_id;
    s->row_count = rows;
    s->column_count = columns;
    book->sheets[book->n_sheets++] = s;
    return s;
}

void sg_book_remove_sheet(sg_book_t *book, size_t i)
{
    if (i >= book->n_sheets)
        return;
    sheet_free(book->sheets[i]);
    memmove(&book->sheets[i], &book->sheets[i + 1],
            (book->n_sheets - i - 1) * sizeof(*book->sheets));
    book->n_sheets--;
}

sg_sheet_t *sg_book_sheet_titled(const sg_book_t *book, const char *title)
{
    for (size_t i = 0; i < book->n_sheets; i++)
        if (strcasecmp(book->sheets[i]->title, title) == 0)
            return book->sheets[i];
    return NULL;
}

sg_sheet_t *sg_book_sheet_id(const sg_book_t *book, int64_t sheet_id)
{
    for (size_t i = 0; i < book->n_sheets; i++)
        if (book->sheets[i]->sheet_id == sheet_id)
            return book->sheets[i];
    return NULL;
}

int64_t sg_book_cells(const sg_book_t *book)
{
    int64_t total = 0;

    for (size_t i = 0; i < book->n_sheets; i++)
        total += book->sheets[i]->row_count * book->sheets[i]->column_count;
    return total;
}

/* ---- cells ---- */

json_t *sg_cell(const sg_sheet_t *sheet, int64_t r, int64_t c)
{
    if (r < 0 || c < 0 || (size_t)r >= sheet->n_rows || (size_t)c >= sheet->rows[r].n)
        return NULL;
    return sheet->rows[r].cells[c];
}

bool sg_cell_set(sg_sheet_t *sheet, int64_t r, int64_t c, json_t *value)
{
    sg_row_t *row;

    if (r < 0 || c < 0) {
        json_decref(value);
        return false;
    }
    if ((size_t)r >= sheet->n_rows) {
        sg_row_t *grown;
        size_t n = (size_t)r + 1;

        if (!value)
            return true;
        grown = realloc(sheet->rows, n * sizeof(*grown));
        if (!grown) {
            json_decref(value);
            return false;
        }
        memset(grown + sheet->n_rows, 0, (n - sheet->n_rows) * sizeof(*grown));
        sheet->rows = grown;
        sheet->n_rows = n;
    }
    row = &sheet->rows[r];
    if ((size_t)c >= row->n) {
        json_t **grown;
        size_t n = (size_t)c + 1;

        if (!value)
            return true;
        grown = realloc(row->cells, n * sizeof(*grown));
        if (!grown) {
            json_decref(value);
            return false;
        }
        memset(grown + row->n, 0, (n - row->n) * sizeof(*grown));
        row->cells = grown;
        row->n = n;
    }
    json_decref(row->cells[c]);
    row->cells[c] = value;
    return true;
}

void sg_clear(sg_sheet_t *sheet, const sg_box_t *box)
{
    for (int64_t r = box->r0; r < box->r1 && (size_t)r < sheet->n_rows; r++) {
        sg_row_t *row = &sheet->rows[r];

        for (int64_t c = box->c0; c < box->c1 && (size_t)c < row->n; c++) {
            json_decref(row->cells[c]);
            row->cells[c] = NULL;
        }
    }
}

bool sg_row_has_value(const sg_sheet_t *sheet, int64_t r, int64_t c0, int64_t c1)
{
    const sg_row_t *row;

    if (r < 0 || (size_t)r >= sheet->n_rows)
        return false;
    row = &sheet->rows[r];
    for (int64_t c = c0; c < c1 && (size_t)c < row->n; c++)
        if (row->cells[c])
            return true;
    return false;
}

int64_t sg_used_rows(const sg_sheet_t *sheet)
{
    int64_t r = (int64_t)sheet->n_rows;

    while (r > 0 && !sg_row_has_value(sheet, r - 1, 0, SG_UNBOUNDED))
        r--;
    return r;
}

bool sg_insert_rows(sg_sheet_t *sheet, int64_t at, int64_t n)
{
    if (n <= 0)
        return true;
    if ((size_t)at < sheet->n_rows) {
        size_t total = sheet->n_rows + (size_t)n;
        sg_row_t *grown = realloc(sheet->rows, total * sizeof(*grown));

        if (!grown)
            return false;
        memmove(grown + at + n, grown + at, (sheet->n_rows - (size_t)at) * sizeof(*grown));
        memset(grown + at, 0, (size_t)n * sizeof(*grown));
        sheet->rows = grown;
        sheet->n_rows = total;
    }
    sheet->row_count += n;
    return true;
}

void sg_delete_rows(sg_sheet_t *sheet, int64_t start, int64_t end)
{
    int64_t have = (int64_t)sheet->n_rows;

    if (end > sheet->row_count)
        end = sheet->row_count;
    if (start >= end)
        return;
    for (int64_t r = start; r < end && r < have; r++)
        row_free(&sheet->rows[r]);
    if (start < have) {
        int64_t stop = end < have ? end : have;

        memmove(sheet->rows + start, sheet->rows + stop,
                (size_t)(have - stop) * sizeof(*sheet->rows));
        sheet->n_rows -= (size_t)(stop - start);
    }
    sheet->row_count -= end - start;
}

bool sg_insert_columns(sg_sheet_t *sheet, int64_t at, int64_t n)
{
    if (n <= 0)
        return true;
    for (size_t r = 0; r < sheet->n_rows; r++) {
        sg_row_t *row = &sheet->rows[r];
        json_t **grown;

        if ((size_t)at >= row->n)
            continue;
        grown = realloc(row->cells, (row->n + (size_t)n) * sizeof(*grown));
        if (!grown)
            return false;
        memmove(grown + at + n, grown + at, (row->n - (size_t)at) * sizeof(*grown));
        memset(grown + at, 0, (size_t)n * sizeof(*grown));
        row->cells = grown;
        row->n += (size_t)n;
    }
    sheet->column_count += n;
    return true;
}

void sg_delete_columns(sg_sheet_t *sheet, int64_t start, int64_t end)
{
    if (end > sheet->column_count)
        end = sheet->column_count;
    if (start >= end)
        return;
    for (size_t r = 0; r < sheet->n_rows; r++) {
        sg_row_t *row = &sheet->rows[r];
        int64_t have = (int64_t)row->n, stop = end < have ? end : have;

        if (start >= have)
            continue;
        for (int64_t c = start; c < stop; c++)
            json_decref(row->cells[c]);
        memmove(row->cells + start, row->cells + stop, (size_t)(have - stop) * sizeof(json_t *));
        row->n -= (size_t)(stop - start);
    }
    sheet->column_count -= end - start;
}

void sg_resize(sg_sheet_t *sheet, int64_t rows, int64_t columns)
{
    if (rows < sheet->row_count)
        sg_delete_rows(sheet, rows, sheet->row_count);
    if (columns < sheet->column_count)
        sg_delete_columns(sheet, columns, sheet->column_count);
    sheet->row_count = rows;
    sheet->column_count = columns;
}

/* ---- A1 notation ---- */

void sg_column_name(int64_t c, char *buf)
{
    char tmp[8];
    int n = 0;

    c++;
    while (c > 0 && n < 7) {
        tmp[n++] = (char)('A' + (c - 1) % 26);
        c = (c - 1) / 26;
    }
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
}

/* One reference: letters then digits, either part optional (not both).
 * Returns the characters used, 0 when it is not a reference. */
static size_t parse_ref(const char *s, int64_t *col, int64_t *row)
{
    size_t i = 0, letters = 0;
    int64_t c = 0, r = 0;

    while (isalpha((unsigned char)s[i])) {
        c = c * 26 + (toupper((unsigned char)s[i]) - 'A' + 1);
        i++;
        letters++;
    }
    if (letters > MAX_COLUMN_LETTERS)
        return 0;
    while (isdigit((unsigned char)s[i])) {
        r = r * 10 + (s[i] - '0');
        if (r > MAX_ROW_NUMBER)
            return 0;
        i++;
    }
    if (i == 0 || (i > letters && r == 0))
        return 0;
    *col = letters ? c - 1 : -1;
    *row = i > letters ? r - 1 : -1;
    return i;
}

static bool parse_cells(const char *s, sg_box_t *box)
{
    int64_t c0, r0, c1, r1;
    size_t n = parse_ref(s, &c0, &r0);

    if (n == 0)
        return false;
    if (s[n] == '\0') {
        if (c0 < 0 || r0 < 0) /* "A" or "3" alone is not a range */
            return false;
        *box = (sg_box_t){ r0, c0, r0 + 1, c0 + 1 };
        return true;
    }
    if (s[n] != ':')
        return false;
    s += n + 1;
    n = parse_ref(s, &c1, &r1);
    if (n == 0 || s[n] != '\0')
        return false;
    /* "A:B" and "2:5" need the same kind at both ends. */
    if ((r0 < 0) != (r1 < 0) && c0 < 0)
        return false;
    box->c0 = c0 < 0 ? 0 : c0;
    box->r0 = r0 < 0 ? 0 : r0;
    box->c1 = c1 < 0 ? SG_UNBOUNDED : c1 + 1;
    box->r1 = r1 < 0 ? SG_UNBOUNDED : r1 + 1;
    if (box->c1 != SG_UNBOUNDED && box->c1 <= box->c0) {
        int64_t t = box->c0;

        box->c0 = box->c1 - 1;
        box->c1 = t + 1;
    }
    if (box->r1 != SG_UNBOUNDED && box->r1 <= box->r0) {
        int64_t t = box->r0;

        box->r0 = box->r1 - 1;
        box->r1 = t + 1;
    }
    return true;
}

bool sg_range_parse(const sg_book_t *book, const char *text, sg_sheet_t **sheet, sg_box_t *box)
{
    char name[256];
    const char *cells = NULL;
    size_t n = 0;

    *box = (sg_box_t){ 0, 0, SG_UNBOUNDED, SG_UNBOUNDED };
    if (book->n_sheets == 0 || !*text)
        return false;
    if (text[0] == '\'') {
        const char *p = text + 1;

        while (*p && n + 1 < sizeof(name)) {
            if (*p == '\'' && p[1] == '\'') {
                name[n++] = '\'';
                p += 2;
            } else if (*p == '\'') {
                break;
            } else {
                name[n++] = *p++;
            }
        }
        if (*p != '\'')
            return false;
        name[n] = '\0';
        p++;
        if (*p == '!')
            cells = p + 1;
        else if (*p != '\0')
            return false;
    } else {
        const char *bang = strrchr(text, '!');

        if (!bang) {
            *sheet = sg_book_sheet_titled(book, text);
            if (*sheet)
                return true;
            *sheet = book->sheets[0];
            return parse_cells(text, box);
        }
        n = (size_t)(bang - text);
        if (n == 0 || n >= sizeof(name))
            return false;
        memcpy(name, text, n);
        name[n] = '\0';
        cells = bang + 1;
    }
    *sheet = sg_book_sheet_titled(book, name);
    if (!*sheet)
        return false;
    return cells ? parse_cells(cells, box) : true;
}

void sg_box_clip(const sg_sheet_t *sheet, sg_box_t *box)
{
    if (box->r1 == SG_UNBOUNDED)
        box->r1 = sheet->row_count > box->r0 ? sheet->row_count : box->r0 + 1;
    if (box->c1 == SG_UNBOUNDED)
        box->c1 = sheet->column_count > box->c0 ? sheet->column_count : box->c0 + 1;
}

static bool needs_quotes(const char *title)
{
    size_t letters = 0;
    const char *p = title;

    if (isdigit((unsigned char)title[0]))
        return true;
    for (p = title; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return true;
    /* A title like "AB12" would read as a cell. */
    for (p = title; isalpha((unsigned char)*p); p++)
        letters++;
    return letters > 0 && letters <= MAX_COLUMN_LETTERS && isdigit((unsigned char)*p);
}

void sg_range_format(const sg_sheet_t *sheet, const sg_box_t *box, char *buf, size_t len)
{
    char quoted[520], c0[8], c1[8];
    size_t q = 0;
    sg_box_t b = *box;

    if (needs_quotes(sheet->title)) {
        quoted[q++] = '\'';
        for (const char *p = sheet->title; *p && q + 3 < sizeof(quoted); p++) {
            if (*p == '\'')
                quoted[q++] = '\'';
            quoted[q++] = *p;
        }
        quoted[q++] = '\'';
        quoted[q] = '\0';
    } else {
        snprintf(quoted, sizeof(quoted), "%s", sheet->title);
    }
    sg_box_clip(sheet, &b);
    sg_column_name(b.c0, c0);
    sg_column_name(b.c1 - 1, c1);
    if (b.r1 - b.r0 == 1 && b.c1 - b.c0 == 1)
        snprintf(buf, len, "%s!%s%lld", quoted, c0, (long long)b.r0 + 1);
    else
        snprintf(buf, len, "%s!%s%lld:%s%lld", quoted, c0, (long long)b.r0 + 1, c1,
                 (long long)b.r1);
}
