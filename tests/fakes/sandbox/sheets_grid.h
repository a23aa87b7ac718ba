/* sheets_grid: spreadsheets as the Sheets API sees them: a book of grid
 * sheets (title, sheetId, rowCount x columnCount) whose cells hold a
 * string, a number or a boolean; and A1 notation ("Sheet1",
 * "'My sheet'!A1:D", "A:C", "2:5") resolved against a book. */
#ifndef SB_SHEETS_GRID_H
#define SB_SHEETS_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SG_UNBOUNDED       INT64_MAX
#define SG_DEFAULT_ROWS    1000
#define SG_DEFAULT_COLUMNS 26
#define SG_RANGE_TEXT      600

typedef struct sg_row {
    json_t **cells; /* NULL = empty cell */
    size_t n;       /* cells allocated and in use */
} sg_row_t;

typedef struct sg_sheet {
    int64_t sheet_id;
    char *title;
    int64_t row_count, column_count; /* the grid's size */
    sg_row_t *rows;                  /* rows [0, n_rows) may hold values */
    size_t n_rows;
} sg_sheet_t;

typedef struct sg_book {
    char *id;
    char *title;
    sg_sheet_t **sheets; /* in index order */
    size_t n_sheets;
    char **editors; /* who may use it; none = any account */
    size_t n_editors;
    int64_t next_sheet_id;
    struct sg_book *next;
} sg_book_t;

/* A box of cells: rows [r0, r1), columns [c0, c1), 0-based; r1 or c1 may
 * be SG_UNBOUNDED ("to the end of the sheet"). */
typedef struct sg_box {
    int64_t r0, c0, r1, c1;
} sg_box_t;

/* New empty book (id and title copied); NULL on allocation failure. */
sg_book_t *sg_book_new(const char *id, const char *title);
void sg_book_free(sg_book_t *book);
/* A deep copy (cells share their immutable JSON values); NULL on failure. */
sg_book_t *sg_book_clone(const sg_book_t *book);

/* Add a sheet at the end (sheet_id < 0 picks the next free id). Returns
 * the sheet (borrowed) or NULL on allocation failure. */
sg_sheet_t *sg_book_add_sheet(sg_book_t *book, const char *title, int64_t sheet_id, int64_t rows,
                              int64_t columns);
/* Remove and free the sheet at index i. */
void sg_book_remove_sheet(sg_book_t *book, size_t i);
/* Lookups (case-insensitive titles); NULL when absent. Borrowed. */
sg_sheet_t *sg_book_sheet_titled(const sg_book_t *book, const char *title);
sg_sheet_t *sg_book_sheet_id(const sg_book_t *book, int64_t sheet_id);
/* Cells of every sheet's grid together (the 10 million cells limit). */
int64_t sg_book_cells(const sg_book_t *book);

/* The value at (r, c), borrowed, or NULL when empty. */
json_t *sg_cell(const sg_sheet_t *sheet, int64_t r, int64_t c);
/* Set (r, c) to value (reference stolen; NULL empties). false on
 * allocation failure. Does not grow the grid. */
bool sg_cell_set(sg_sheet_t *sheet, int64_t r, int64_t c, json_t *value);
/* Empty every cell of box (clipped to the grid). */
void sg_clear(sg_sheet_t *sheet, const sg_box_t *box);
/* Rows up to the last that holds a value. */
int64_t sg_used_rows(const sg_sheet_t *sheet);
/* Whether row r has a value in columns [c0, c1). */
bool sg_row_has_value(const sg_sheet_t *sheet, int64_t r, int64_t c0, int64_t c1);

/* Insert n empty rows (columns) before index at; delete [start, end).
 * Grid sizes change with them. false on allocation failure. */
bool sg_insert_rows(sg_sheet_t *sheet, int64_t at, int64_t n);
void sg_delete_rows(sg_sheet_t *sheet, int64_t start, int64_t end);
bool sg_insert_columns(sg_sheet_t *sheet, int64_t at, int64_t n);
void sg_delete_columns(sg_sheet_t *sheet, int64_t start, int64_t end);
/* Set the grid size, dropping values outside it. */
void sg_resize(sg_sheet_t *sheet, int64_t rows, int64_t columns);

/* Resolve A1 text against book: the sheet (borrowed) and box. A text
 * without '!' names a sheet when one has that title, otherwise a range of
 * the first sheet. false when it does not parse or names no sheet. */
bool sg_range_parse(const sg_book_t *book, const char *text, sg_sheet_t **sheet, sg_box_t *box);
/* Clip box's unbounded ends to the sheet's grid. */
void sg_box_clip(const sg_sheet_t *sheet, sg_box_t *box);
/* A1 text of a box ("Sheet1!A1:C3", "'My sheet'!B2") into buf. */
void sg_range_format(const sg_sheet_t *sheet, const sg_box_t *box, char *buf, size_t len);
/* Column letters of 0-based column c ("A", "AA") into buf (8 bytes). */
void sg_column_name(int64_t c, char *buf);

#endif
