/* csv: the csv source kind. Reads an RFC 4180 file (quoted fields with
 * doubled quotes, delimiters and line breaks inside quotes, CRLF or LF
 * lines) as a stream through a bounded buffer, converting latin-1,
 * windows-1252 or UTF-16 to UTF-8 with iconv on the way. Column types come
 * from the `columns` setting or are inferred from a sample of the first
 * rows (the file is then read again from its start). Bad data stops the
 * export with the row and column named. */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "source_internal.h"

#define CSV_BUF        (64 * 1024)
#define CSV_RECORD_MAX (16 * 1024 * 1024)

typedef enum csv_enc {
    ENC_UTF8,
    ENC_LATIN1,
    ENC_CP1252,
    ENC_UTF16,
    ENC_UTF16LE,
    ENC_UTF16BE,
} csv_enc_t;

typedef struct csv_src {
    df_source_t base;
    char path[1024];
    int fd;
    /* settings */
    char delim, quote;
    bool header;
    csv_enc_t enc;
    const char *enc_name;
    df_column_t *given; /* the columns setting, or NULL */
    bool *typed;        /* given[i] has a type */
    size_t ngiven;
    char **null_values;
    size_t *null_lens;
    size_t nnull;
    /* decoding: raw file bytes -> UTF-8 in buf */
    iconv_t cd; /* (iconv_t)-1 for UTF-8 input */
    char raw[CSV_BUF];
    size_t raw_len, raw_pos;
    bool raw_eof;
    int64_t raw_base; /* file offset of raw[0] */
    char buf[CSV_BUF * 4];
    size_t buf_len, buf_pos;
    bool eof;
    int io_errno;      /* a read failed */
    bool bad_encoding; /* iconv refused the input */
    int64_t bad_offset;
    bool pending_cr; /* a CR ended a line: skip the LF that may follow */
    /* the current record */
    char *rec;
    size_t rec_len, rec_cap;
    size_t *fstart, *flen;
    bool *fquoted;
    size_t nfields, fcap;
    int64_t line;     /* line number of the next byte */
    int64_t rec_line; /* line the current record starts on */
    int64_t row;      /* data records read (the current one's number) */
} csv_src_t;

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

/* ---- decoding ------------------------------------------------------------- */

static ssize_t read_some(int fd, char *to, size_t len)
{
    ssize_t n;
    do {
        n = read(fd, to, len);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* More raw bytes (keeping the unconverted rest). false at end of file or on
 * an error (io_errno). */
static bool read_raw(csv_src_t *c)
{
    ssize_t n;
    if (c->raw_pos > 0) {
        memmove(c->raw, c->raw + c->raw_pos, c->raw_len - c->raw_pos);
        c->raw_base += (int64_t)c->raw_pos;
        c->raw_len -= c->raw_pos;
        c->raw_pos = 0;
    }
    n = read_some(c->fd, c->raw + c->raw_len, sizeof(c->raw) - c->raw_len);
    if (n < 0) {
        c->io_errno = errno;
        return false;
    }
    if (n == 0) {
        c->raw_eof = true;
        return false;
    }
    c->raw_len += (size_t)n;
    return true;
}

/* Refill buf with decoded bytes. false when nothing more comes (end of
 * file, or an error recorded in io_errno / bad_encoding). */
static bool refill(csv_src_t *c)
{
    c->buf_pos = 0;
    c->buf_len = 0;
    if (c->io_errno || c->bad_encoding || c->eof)
        return false;
    if (c->cd == (iconv_t)-1) {
        ssize_t n = read_some(c->fd, c->buf, sizeof(c->buf));
        if (n < 0) {
            c->io_errno = errno;
            return false;
        }
        if (n == 0) {
            c->eof = true;
            return false;
        }
        c->buf_len = (size_t)n;
        return true;
    }
    for (;;) {
        if (c->raw_pos < c->raw_len) {
            char *in = c->raw + c->raw_pos, *out = c->buf;
            size_t inleft = c->raw_len - c->raw_pos, outleft = sizeof(c->buf);
            size_t r = iconv(c->cd, &in, &inleft, &out, &outleft);
            int e = errno;
            c->raw_pos = (size_t)(in - c->raw);
            c->buf_len = sizeof(c->buf) - outleft;
            if (r == (size_t)-1 && e == EILSEQ) {
                c->bad_encoding = true;
                c->bad_offset = c->raw_base + (int64_t)c->raw_pos;
                return c->buf_len > 0;
            }
            if (c->buf_len > 0)
                return true;
        }
        if (!read_raw(c)) {
            if (c->io_errno)
                return false;
            if (c->raw_pos < c->raw_len) { /* a character cut by the end of the file */
                c->bad_encoding = true;
                c->bad_offset = c->raw_base + (int64_t)c->raw_pos;
                return false;
            }
            c->eof = true;
            return false;
        }
    }
}

/* Next decoded byte, -1 at the end, -2 on an error. */
static inline int next_byte(csv_src_t *c)
{
    if (c->buf_pos < c->buf_len)
        return (unsigned char)c->buf[c->buf_pos++];
    if (!refill(c))
        return c->io_errno || c->bad_encoding ? -2 : -1;
    return (unsigned char)c->buf[c->buf_pos++];
}

static df_code_t decode_error(csv_src_t *c, df_error_t *err)
{
    if (c->io_errno)
        return df_error_set(err, DF_ERR_IO, SRC_PATH "/path", "read %s: %s", c->path,
                            strerror(c->io_errno));
    return src_row_error(err, c->row, NULL, "invalid %s input at byte offset %lld", c->enc_name,
                         (long long)c->bad_offset);
}

static const char *iconv_name(csv_enc_t enc)
{
    switch (enc) {
    case ENC_LATIN1: return "ISO-8859-1";
    case ENC_CP1252: return "CP1252";
    case ENC_UTF16:
    case ENC_UTF16LE: return "UTF-16LE";
    case ENC_UTF16BE: return "UTF-16BE";
    case ENC_UTF8: break;
    }
    return NULL;
}

/* (Re)start reading at the beginning of the file, skipping a byte order
 * mark; for "utf-16" the mark chooses the byte order (little-endian when
 * there is none). */
static df_code_t start_reading(csv_src_t *c, df_error_t *err)
{
    if (lseek(c->fd, 0, SEEK_SET) < 0)
        return df_error_set(err, DF_ERR_IO, SRC_PATH "/path", "lseek %s: %s", c->path,
                            strerror(errno));
    c->raw_len = c->raw_pos = 0;
    c->raw_base = 0;
    c->raw_eof = c->eof = c->bad_encoding = c->pending_cr = false;
    c->io_errno = 0;
    c->buf_len = c->buf_pos = 0;
    c->line = 1;
    c->row = c->header ? -1 : 0; /* the header is row 0, data rows count from 1 */
    if (c->enc == ENC_UTF8) {
        if (!refill(c) && c->io_errno)
            return decode_error(c, err);
        if (c->buf_len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
            c->buf_pos = 3;
        return DF_OK;
    }
    while (c->raw_len < 2 && read_raw(c))
        ;
    if (c->io_errno)
        return decode_error(c, err);
    if (c->enc != ENC_LATIN1 && c->enc != ENC_CP1252 && c->raw_len >= 2) {
        bool le = memcmp(c->raw, "\xFF\xFE", 2) == 0, be = memcmp(c->raw, "\xFE\xFF", 2) == 0;
        if (c->enc == ENC_UTF16 && be)
            c->enc = ENC_UTF16BE;
        if ((le && c->enc != ENC_UTF16BE) || (be && c->enc == ENC_UTF16BE))
            c->raw_pos = 2;
    }
    if (c->cd == (iconv_t)-1) {
        c->cd = iconv_open("UTF-8", iconv_name(c->enc));
        if (c->cd == (iconv_t)-1)
            return df_error_set(err, DF_ERR_UNSUPPORTED, SRC_PATH "/encoding",
                                SRC_PATH "/encoding: iconv_open %s: %s", iconv_name(c->enc),
                                strerror(errno));
    } else {
        iconv(c->cd, NULL, NULL, NULL, NULL);
    }
    return DF_OK;
}

/* ---- records -------------------------------------------------------------- */

static df_code_t grow_record(csv_src_t *c, df_error_t *err)
{
    size_t cap = c->rec_cap ? c->rec_cap * 2 : 4096;
    char *rec;
    if (c->rec_cap >= CSV_RECORD_MAX)
        return src_row_error(err, c->row, NULL, "record longer than %d MiB (line %lld)",
                             CSV_RECORD_MAX / (1024 * 1024), (long long)c->rec_line);
    rec = realloc(c->rec, cap);
    if (!rec)
        return nomem(err);
    c->rec = rec;
    c->rec_cap = cap;
    return DF_OK;
}

static df_code_t begin_field(csv_src_t *c, df_error_t *err)
{
    if (c->nfields == c->fcap) {
        size_t cap = c->fcap ? c->fcap * 2 : 32;
        size_t *fs, *fl;
        bool *fq;
        if (c->fcap >= SRC_COLUMNS_MAX)
            return src_row_error(err, c->row, NULL, "more than %d fields (line %lld)",
                                 SRC_COLUMNS_MAX, (long long)c->rec_line);
        fs = realloc(c->fstart, cap * sizeof(*fs));
        if (!fs)
            return nomem(err);
        c->fstart = fs;
        fl = realloc(c->flen, cap * sizeof(*fl));
        if (!fl)
            return nomem(err);
        c->flen = fl;
        fq = realloc(c->fquoted, cap * sizeof(*fq));
        if (!fq)
            return nomem(err);
        c->fquoted = fq;
        c->fcap = cap;
    }
    c->fstart[c->nfields] = c->rec_len;
    c->flen[c->nfields] = 0;
    c->fquoted[c->nfields] = false;
    c->nfields++;
    return DF_OK;
}

/* Name of field i for messages: the column's when known. */
static void field_name(const csv_src_t *c, size_t i, char *out, size_t len)
{
    if (i < c->base.ncols)
        snprintf(out, len, "%s", c->base.columns[i].name);
    else
        snprintf(out, len, "c%zu", i + 1);
}

/* A syntax error in field i: field "row N, column NAME". */
static df_code_t field_error(const csv_src_t *c, size_t i, const char *what, int64_t line,
                             df_error_t *err)
{
    char name[DF_COLUMN_NAME_MAX], field[DF_ERR_FIELD_MAX];
    field_name(c, i, name, sizeof(name));
    snprintf(field, sizeof(field), "row %lld, column %.200s", (long long)c->row, name);
    return df_error_set(err, DF_ERR_INVALID, field, "%s: %s (line %lld)", field, what,
                        (long long)line);
}

static df_code_t add_byte(csv_src_t *c, int ch, df_error_t *err)
{
    if (c->rec_len == c->rec_cap) {
        df_code_t rc = grow_record(c, err);
        if (rc != DF_OK)
            return rc;
    }
    c->rec[c->rec_len++] = (char)ch;
    if (++c->flen[c->nfields - 1] > SRC_FIELD_MAX) {
        char name[DF_COLUMN_NAME_MAX];
        src_where_t where = { c->row, name, NULL };
        field_name(c, c->nfields - 1, name, sizeof(name));
        return src_value_error(&where, "a field of at most 1 MiB",
                               c->rec + c->fstart[c->nfields - 1], c->flen[c->nfields - 1], err);
    }
    return DF_OK;
}

typedef enum { F_START, F_UNQUOTED, F_QUOTED, F_QUOTE_IN_QUOTED } fstate_t;

/* Read the next record into rec/fields (c->row counts it). *got = false at
 * the end of the file. Blank lines are skipped. */
static df_code_t read_record(csv_src_t *c, bool *got, df_error_t *err)
{
    for (;;) {
        fstate_t st = F_START;
        df_code_t rc;
        int ch;
        bool any = false; /* a byte of this record was read */

        c->rec_len = 0;
        c->nfields = 0;
        c->rec_line = c->line;
        c->row++;
        if ((rc = begin_field(c, err)) != DF_OK)
            return rc;
        for (;;) {
            ch = next_byte(c);
            if (ch == -2)
                return decode_error(c, err);
            if (c->pending_cr) {
                c->pending_cr = false;
                if (ch == '\n')
                    continue;
            }
            if (ch == -1) {
                if (st == F_QUOTED)
                    return field_error(c, c->nfields - 1,
                                       "unterminated quoted field: the file ends inside quotes",
                                       c->rec_line, err);
                if (!any) {
                    c->row--;
                    *got = false;
                    return DF_OK;
                }
                break;
            }
            any = true;
            if (ch == '\n')
                c->line++;
            if (st == F_QUOTED) {
                if (ch == c->quote)
                    st = F_QUOTE_IN_QUOTED;
                else if ((rc = add_byte(c, ch, err)) != DF_OK)
                    return rc;
                continue;
            }
            if (st == F_QUOTE_IN_QUOTED && ch == c->quote) {
                if ((rc = add_byte(c, ch, err)) != DF_OK)
                    return rc;
                st = F_QUOTED;
                continue;
            }
            if (ch == c->delim) {
                if ((rc = begin_field(c, err)) != DF_OK)
                    return rc;
                st = F_START;
                continue;
            }
            if (ch == '\n' || ch == '\r') {
                if (ch == '\r') {
                    c->pending_cr = true;
                    c->line++;
                }
                break;
            }
            if (st == F_QUOTE_IN_QUOTED)
                return field_error(c, c->nfields - 1,
                                   "unexpected character after a closing quote (a quote inside "
                                   "a quoted field is written twice)",
                                   c->line, err);
            if (st == F_START && ch == c->quote) {
                c->fquoted[c->nfields - 1] = true;
                st = F_QUOTED;
                continue;
            }
            st = F_UNQUOTED;
            if ((rc = add_byte(c, ch, err)) != DF_OK)
                return rc;
        }
        /* A blank line is no record. */
        if (c->nfields == 1 && c->rec_len == 0 && !c->fquoted[0]) {
            c->row--;
            continue;
        }
        *got = true;
        return DF_OK;
    }
}

/* Every field of the record is valid UTF-8 (else a row/column error). */
static df_code_t check_utf8(csv_src_t *c, df_error_t *err)
{
    if (src_utf8_valid(c->rec, c->rec_len) == c->rec_len)
        return DF_OK;
    for (size_t i = 0; i < c->nfields; i++) {
        const char *f = c->rec + c->fstart[i];
        size_t ok = src_utf8_valid(f, c->flen[i]);
        if (ok != c->flen[i]) {
            char name[DF_COLUMN_NAME_MAX], field[DF_ERR_FIELD_MAX];
            field_name(c, i, name, sizeof(name));
            snprintf(field, sizeof(field), "row %lld, column %.200s", (long long)c->row, name);
            return df_error_set(err, DF_ERR_INVALID, field,
                                "%s: invalid UTF-8 at byte %zu of the value (line %lld); set "
                                "encoding if the file is not UTF-8",
                                field, ok + 1, (long long)c->rec_line);
        }
    }
    return DF_OK;
}

/* NULL: an unquoted field equal to one of null_values (by default only
 * the empty one), or an empty field (even quoted) of a non-string column. */
static bool is_null(const csv_src_t *c, size_t i, df_col_type_t type)
{
    if (c->flen[i] == 0 && type != DF_COL_STRING)
        return true;
    if (c->fquoted[i])
        return false;
    for (size_t k = 0; k < c->nnull; k++)
        if (c->null_lens[k] == c->flen[i] &&
            memcmp(c->null_values[k], c->rec + c->fstart[i], c->flen[i]) == 0)
            return true;
    return false;
}

static df_code_t check_count(csv_src_t *c, df_error_t *err)
{
    if (c->nfields == c->base.ncols)
        return DF_OK;
    return src_row_error(err, c->row, NULL, "expected %zu fields, got %zu (line %lld)",
                         c->base.ncols, c->nfields, (long long)c->rec_line);
}

/* ---- the source ------------------------------------------------------------ */

static df_code_t csv_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err)
{
    csv_src_t *c = (csv_src_t *)src;
    char note[40];

    while (chunk->nrows < max_rows) {
        bool got;
        df_cell_t *cells;
        df_code_t rc = read_record(c, &got, err);
        if (rc != DF_OK)
            return rc;
        if (!got)
            break;
        if ((rc = check_count(c, err)) != DF_OK || (rc = check_utf8(c, err)) != DF_OK)
            return rc;
        cells = df_chunk_add_row(chunk);
        if (!cells)
            return nomem(err);
        snprintf(note, sizeof(note), "line %lld", (long long)c->rec_line);
        for (size_t i = 0; i < c->nfields; i++) {
            const df_column_t *col = &c->base.columns[i];
            src_where_t where = { c->row, col->name, note };
            if (is_null(c, i, col->type))
                continue;
            rc = src_cell_from_text(chunk, &cells[i], col->type, c->rec + c->fstart[i], c->flen[i],
                                    &where, err);
            if (rc != DF_OK)
                return rc;
        }
    }
    return DF_OK;
}

static void csv_close(df_source_t *src)
{
    csv_src_t *c = (csv_src_t *)src;
    if (c->fd >= 0)
        close(c->fd);
    if (c->cd != (iconv_t)-1)
        iconv_close(c->cd);
    for (size_t i = 0; i < c->nnull; i++)
        free(c->null_values[i]);
    free(c->null_values);
    free(c->null_lens);
    free(c->given);
    free(c->typed);
    free(c->rec);
    free(c->fstart);
    free(c->flen);
    free(c->fquoted);
    src_base_free(src);
    free(c);
}

static const src_ops_t csv_ops = { "csv", csv_next, csv_close };

static const char *const csv_settings[] = { "kind",        "path",     "header",  "delimiter",
                                            "quote",       "encoding", "columns", "null_values",
                                            "sample_rows", NULL };

static df_code_t read_encoding(csv_src_t *c, const json_t *source, df_error_t *err)
{
    static const struct {
        const char *name;
        csv_enc_t enc;
    } names[] = {
        { "utf-8", ENC_UTF8 },       { "utf8", ENC_UTF8 },         { "latin-1", ENC_LATIN1 },
        { "latin1", ENC_LATIN1 },    { "iso-8859-1", ENC_LATIN1 }, { "windows-1252", ENC_CP1252 },
        { "cp1252", ENC_CP1252 },    { "utf-16", ENC_UTF16 },      { "utf-16le", ENC_UTF16LE },
        { "utf-16be", ENC_UTF16BE },
    };
    const char *s;
    df_code_t rc = src_get_str(source, SRC_PATH, "encoding", false, "utf-8", &s, err);
    if (rc != DF_OK)
        return rc;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(names[i].name, s) == 0) {
            c->enc = names[i].enc;
            c->enc_name = names[i].name;
            return DF_OK;
        }
    }
    return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/encoding",
                        SRC_PATH "/encoding: expected utf-8, latin-1 (iso-8859-1), windows-1252, "
                                 "utf-16, utf-16le or utf-16be, got \"%.32s\"",
                        s);
}

static df_code_t read_nulls(csv_src_t *c, const json_t *source, df_error_t *err)
{
    const json_t *arr = json_object_get(source, "null_values");
    size_t n;

    if (!arr || json_is_null(arr)) {
        c->null_values = calloc(1, sizeof(char *));
        c->null_lens = calloc(1, sizeof(size_t));
        if (!c->null_values || !c->null_lens || !(c->null_values[0] = strdup("")))
            return nomem(err);
        c->nnull = 1; /* the default: [""] */
        return DF_OK;
    }
    if (!json_is_array(arr) || json_array_size(arr) > 64)
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/null_values",
                            SRC_PATH "/null_values: expected an array of at most 64 strings");
    n = json_array_size(arr);
    c->null_values = calloc(n ? n : 1, sizeof(char *));
    c->null_lens = calloc(n ? n : 1, sizeof(size_t));
    if (!c->null_values || !c->null_lens)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            char field[DF_ERR_FIELD_MAX];
            snprintf(field, sizeof(field), SRC_PATH "/null_values/%zu", i);
            return df_error_set(err, DF_ERR_INVALID, field, "%s: expected a string", field);
        }
        c->null_values[i] = strdup(json_string_value(v));
        if (!c->null_values[i])
            return nomem(err);
        c->null_lens[i] = json_string_length(v);
        c->nnull = i + 1;
    }
    return DF_OK;
}

/* Columns from the header (or c1..cN), the `columns` setting, and a
 * sample. Leaves the reader at the first data row. */
static df_code_t settle_columns(csv_src_t *c, int64_t sample_rows, df_error_t *err)
{
    const df_column_t *given = c->given;
    const bool *typed = c->typed;
    df_column_t *cols = NULL;
    bool got = false, infer = false;
    src_infer_t *inf = NULL;
    size_t n, ngiven = c->ngiven;
    df_code_t rc;

    if ((rc = read_record(c, &got, err)) != DF_OK)
        goto out;
    if (!got && !given) {
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/path",
                          "%s: empty file: no header and no columns", c->path);
        goto out;
    }
    n = given ? ngiven : c->nfields;
    if (given && c->header && got && c->nfields != ngiven) {
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/columns",
                          SRC_PATH "/columns: %zu columns given, but the header has %zu fields",
                          ngiven, c->nfields);
        goto out;
    }
    cols = calloc(n, sizeof(*cols));
    inf = calloc(n, sizeof(*inf));
    if (!cols || !inf) {
        rc = nomem(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        src_infer_init(&inf[i]);
        if (given) {
            cols[i] = given[i];
            infer |= !typed[i];
        } else if (c->header) {
            const char *name = c->rec + c->fstart[i];
            size_t len = c->flen[i];
            if (src_utf8_valid(name, len) != len || len >= DF_COLUMN_NAME_MAX) {
                rc = df_error_set(err, DF_ERR_INVALID, "header",
                                  "header, column %zu: a name must be 1 to %d bytes of UTF-8",
                                  i + 1, DF_COLUMN_NAME_MAX - 1);
                goto out;
            }
            if (len == 0)
                snprintf(cols[i].name, sizeof(cols[i].name), "c%zu", i + 1);
            else
                memcpy(cols[i].name, name, len);
            for (size_t j = 0; j < i; j++) {
                if (strcmp(cols[j].name, cols[i].name) == 0) {
                    rc = df_error_set(err, DF_ERR_INVALID, "header",
                                      "header: duplicate column name \"%s\" (columns %zu and %zu)",
                                      cols[i].name, j + 1, i + 1);
                    goto out;
                }
            }
            infer = true;
        } else {
            snprintf(cols[i].name, sizeof(cols[i].name), "c%zu", i + 1);
            infer = true;
        }
    }
    if (!src_set_columns(&c->base, cols, n)) {
        rc = nomem(err);
        goto out;
    }
    /* The sample: rows that do not parse end it early; reading reports them
     * again at their place. */
    if (infer) {
        bool first = !c->header && got; /* the first record is data */
        for (int64_t seen = 0; seen < sample_rows; seen++) {
            df_error_t ignored;
            df_error_init(&ignored);
            if (!first && (read_record(c, &got, &ignored) != DF_OK || !got))
                break;
            first = false;
            if (c->nfields != n || check_utf8(c, &ignored) != DF_OK)
                break;
            for (size_t i = 0; i < n; i++)
                if (!is_null(c, i, DF_COL_INT))
                    src_infer_text(&inf[i], c->rec + c->fstart[i], c->flen[i]);
        }
        for (size_t i = 0; i < n; i++)
            if (!given || !typed[i])
                c->base.columns[i].type = src_infer_result(&inf[i]);
    }
    if ((rc = start_reading(c, err)) != DF_OK)
        goto out;
    if (c->header)
        rc = read_record(c, &got, err);
out:
    free(cols);
    free(inf);
    return rc;
}

df_source_t *src_csv_open(const json_t *source, const df_source_env_t *env, df_error_t *err)
{
    csv_src_t *c = calloc(1, sizeof(*c));
    const char *path;
    int64_t sample_rows;
    df_code_t rc;

    if (!c) {
        nomem(err);
        return NULL;
    }
    src_base_init(&c->base, &csv_ops, env);
    c->fd = -1;
    c->cd = (iconv_t)-1;
    rc = src_check_keys(source, SRC_PATH, "kind csv", csv_settings, err);
    if (rc == DF_OK)
        rc = src_get_str(source, SRC_PATH, "path", true, NULL, &path, err);
    if (rc == DF_OK)
        rc = src_get_bool(source, SRC_PATH, "header", true, &c->header, err);
    if (rc == DF_OK)
        rc = src_get_char(source, SRC_PATH, "delimiter", ',', &c->delim, err);
    if (rc == DF_OK)
        rc = src_get_char(source, SRC_PATH, "quote", '"', &c->quote, err);
    if (rc == DF_OK && c->quote == c->delim)
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/quote",
                          SRC_PATH "/quote: must differ from the delimiter");
    if (rc == DF_OK)
        rc = read_encoding(c, source, err);
    if (rc == DF_OK)
        rc = read_nulls(c, source, err);
    if (rc == DF_OK)
        rc = src_get_int(source, SRC_PATH, "sample_rows", 1, SRC_SAMPLE_MAX, SRC_SAMPLE_DEFAULT,
                         &sample_rows, err);
    if (rc == DF_OK)
        rc = src_get_columns(source, &c->given, &c->typed, &c->ngiven, err);
    if (rc == DF_OK) {
        snprintf(c->path, sizeof(c->path), "%s", path);
        c->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (c->fd < 0)
            rc = df_error_set(err, DF_ERR_IO, SRC_PATH "/path", SRC_PATH "/path: open %s: %s", path,
                              strerror(errno));
    }
    if (rc == DF_OK)
        rc = start_reading(c, err);
    if (rc == DF_OK)
        rc = settle_columns(c, sample_rows, err);
    if (rc != DF_OK) {
        csv_close(&c->base);
        return NULL;
    }
    return &c->base;
}
