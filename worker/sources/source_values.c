/* source_values: reading one value as a typed cell (text from files,
 * values from JSON), the strict parsers behind it, type inference from a
 * sample, and the row/column errors bad values give. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "source_internal.h"

#define SHOW_MAX 64 /* bytes of a bad value quoted in an error */

/* ---- errors -------------------------------------------------------------- */

/* Quote s for a message: at most SHOW_MAX bytes (cut on a character
 * boundary), quotes and backslashes escaped, control characters shown as
 * \n, \r, \t or '?'. */
static void quote_value(char *out, size_t out_len, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    size_t shown = len > SHOW_MAX ? SHOW_MAX : len;

    while (shown < len && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
        shown--;
    out[o++] = '"';
    for (; i < shown && o + 6 < out_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '?';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    if (shown < len && o + 4 < out_len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

df_code_t src_value_error(const src_where_t *where, const char *expected, const char *s, size_t len,
                          df_error_t *err)
{
    char field[DF_ERR_FIELD_MAX];
    char shown[SHOW_MAX * 2 + 16];

    if (!err)
        return DF_ERR_INVALID;
    snprintf(field, sizeof(field), "row %lld, column %s", (long long)where->row, where->column);
    quote_value(shown, sizeof(shown), s, len);
    df_error_set(err, DF_ERR_INVALID, field, "%s: expected %s, got %s%s%s%s", field, expected,
                 shown, where->note ? " (" : "", where->note ? where->note : "",
                 where->note ? ")" : "");
    return DF_ERR_INVALID;
}

df_code_t src_row_error(df_error_t *err, int64_t row, const char *note, const char *fmt, ...)
{
    char field[DF_ERR_FIELD_MAX];
    char text[DF_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return DF_ERR_INVALID;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(field, sizeof(field), "row %lld", (long long)row);
    df_error_set(err, DF_ERR_INVALID, field, "%s: %s%s%s%s", field, text, note ? " (" : "",
                 note ? note : "", note ? ")" : "");
    return DF_ERR_INVALID;
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t src_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (i + n >= len)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

/* ---- strict parsers -------------------------------------------------------- */

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

bool src_parse_int(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    char *end;
    long long v;
    size_t i = 0;

    trim(&s, &len);
    if (len == 0 || len >= sizeof(buf))
        return false;
    if (s[0] == '-' || s[0] == '+')
        i++;
    if (i == len)
        return false;
    for (size_t k = i; k < len; k++)
        if (!isdigit((unsigned char)s[k]))
            return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

bool src_parse_float(const char *s, size_t len, double *out)
{
    char buf[512];
    char *end;
    double v;
    size_t i = 0, digits = 0;

    trim(&s, &len);
    if (len == 0 || len >= sizeof(buf))
        return false;
    /* [+-] digits [. digits] [e [+-] digits]: no hex, inf or nan. */
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (i < len && isdigit((unsigned char)s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    if (i != len)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool src_parse_bool(const char *s, size_t len, bool *out)
{
    static const char *const yes[] = { "true", "t", "yes", "y", "1" };
    static const char *const no[] = { "false", "f", "no", "n", "0" };

    trim(&s, &len);
    for (size_t i = 0; i < 5; i++) {
        if (len == strlen(yes[i]) && strncasecmp(s, yes[i], len) == 0) {
            *out = true;
            return true;
        }
        if (len == strlen(no[i]) && strncasecmp(s, no[i], len) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

static bool read_date(const char *s, size_t len, int *y, int *m, int *d)
{
    if (len < 10 || s[4] != '-' || s[7] != '-')
        return false;
    *y = digits(s, 4);
    *m = digits(s + 5, 2);
    *d = digits(s + 8, 2);
    return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

bool src_parse_date(const char *s, size_t len)
{
    int y, m, d;
    trim(&s, &len);
    return len == 10 && read_date(s, len, &y, &m, &d);
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool src_date_to_days(const char *s, int64_t *days)
{
    int y, m, d;
    if (!s || strlen(s) != 10 || !read_date(s, 10, &y, &m, &d))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

void src_days_to_date(int64_t days, char *out, size_t len)
{
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, len, "%04d-%02d-%02d", (int)y, m, d);
}

/* v (0 <= v < 10^n) as n decimal digits at p; returns p + n. */
static char *put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

bool src_parse_datetime(const char *s, size_t len, char *out, size_t out_len)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    const char *frac = NULL;
    size_t frac_len = 0, i;
    int64_t days, secs;
    int64_t oy;
    int om, od;
    char *p;

    trim(&s, &len);
    if (out_len < 40 || !read_date(s, len, &y, &mo, &d))
        return false;
    i = 10;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return false;
        i++;
        if (len - i < 5 || s[i + 2] != ':')
            return false;
        h = digits(s + i, 2);
        mi = digits(s + i + 3, 2);
        i += 5;
        if (i < len && s[i] == ':') {
            if (len - i < 3)
                return false;
            sec = digits(s + i + 1, 2);
            i += 3;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                frac = s + i + 1;
                i++;
                while (i < len && isdigit((unsigned char)s[i]))
                    i++;
                frac_len = (size_t)(s + i - frac);
                if (frac_len == 0 || frac_len > 9)
                    return false;
            }
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
            return false;
        if (i < len) {
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i] == '-' ? -1 : 1, oh, om2 = 0;
                size_t rest = len - i - 1;
                const char *z = s + i + 1;
                if (rest == 2) {
                    oh = digits(z, 2);
                } else if (rest == 4) {
                    oh = digits(z, 2);
                    om2 = digits(z + 2, 2);
                } else if (rest == 5 && z[2] == ':') {
                    oh = digits(z, 2);
                    om2 = digits(z + 3, 2);
                } else {
                    return false;
                }
                if (oh < 0 || oh > 23 || om2 < 0 || om2 > 59)
                    return false;
                off = sign * (oh * 60 + om2);
                i = len;
            } else {
                return false;
            }
        }
    }
    if (i != len)
        return false;
    days = days_from_civil(y, mo, d);
    secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    secs -= days * 86400;
    civil_from_days(days, &oy, &om, &od);
    if (oy < 1 || oy > 9999)
        return false;
    /* By hand, not snprintf: this runs once per datetime cell of every
     * export, and printf's machinery was a fifth of a worker's CPU. */
    p = put_digits(out, (int)oy, 4);
    *p++ = '-';
    p = put_digits(p, om, 2);
    *p++ = '-';
    p = put_digits(p, od, 2);
    *p++ = 'T';
    p = put_digits(p, (int)(secs / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (int)(secs / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (int)(secs % 60), 2);
    if (frac) {
        *p++ = '.';
        memcpy(p, frac, frac_len);
        p += frac_len;
    }
    *p++ = 'Z';
    *p = '\0';
    return true;
}

/* A number written with a leading zero ("007", "-01.5") is an identifier
 * or a code, not a quantity: inference keeps it as text. */
static bool leading_zero(const char *s, size_t len)
{
    trim(&s, &len);
    if (len && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    return len >= 2 && s[0] == '0' && isdigit((unsigned char)s[1]);
}

/* ---- inference ------------------------------------------------------------- */

void src_infer_init(src_infer_t *inf)
{
    inf->can = SRC_CAN_ALL;
    inf->seen = false;
    inf->nested = false;
}

void src_infer_text(src_infer_t *inf, const char *s, size_t len)
{
    unsigned can = inf->can;
    int64_t i;
    double f;
    bool b;
    char dt[48];

    inf->seen = true;
    if (!can)
        return;
    if ((can & (SRC_CAN_INT | SRC_CAN_FLOAT)) && leading_zero(s, len))
        can &= ~(unsigned)(SRC_CAN_INT | SRC_CAN_FLOAT);
    if ((can & SRC_CAN_INT) && !src_parse_int(s, len, &i))
        can &= ~(unsigned)SRC_CAN_INT;
    if ((can & SRC_CAN_FLOAT) && !src_parse_float(s, len, &f))
        can &= ~(unsigned)SRC_CAN_FLOAT;
    /* "1" and "0" read as booleans too, but a column of them is INT first. */
    if ((can & SRC_CAN_BOOL) && !src_parse_bool(s, len, &b))
        can &= ~(unsigned)SRC_CAN_BOOL;
    if ((can & SRC_CAN_DATE) && !src_parse_date(s, len))
        can &= ~(unsigned)SRC_CAN_DATE;
    if ((can & SRC_CAN_DATETIME) && !src_parse_datetime(s, len, dt, sizeof(dt)))
        can &= ~(unsigned)SRC_CAN_DATETIME;
    inf->can = can;
}

void src_infer_json(src_infer_t *inf, const json_t *value)
{
    unsigned can = 0;
    char dt[48];

    switch (json_typeof(value)) {
    case JSON_NULL: return;
    case JSON_INTEGER: can = SRC_CAN_INT | SRC_CAN_FLOAT; break;
    case JSON_REAL: can = SRC_CAN_FLOAT; break;
    case JSON_TRUE:
    case JSON_FALSE: can = SRC_CAN_BOOL; break;
    case JSON_STRING: {
        const char *s = json_string_value(value);
        size_t len = json_string_length(value);
        if (src_parse_date(s, len))
            can |= SRC_CAN_DATE;
        if (src_parse_datetime(s, len, dt, sizeof(dt)))
            can |= SRC_CAN_DATETIME;
        break;
    }
    case JSON_OBJECT:
    case JSON_ARRAY: inf->nested = true; break;
    }
    inf->seen = true;
    inf->can &= can;
}

df_col_type_t src_infer_result(const src_infer_t *inf)
{
    if (!inf->seen)
        return DF_COL_STRING;
    if (inf->can & SRC_CAN_INT)
        return DF_COL_INT;
    if (inf->can & SRC_CAN_FLOAT)
        return DF_COL_FLOAT;
    if (inf->can & SRC_CAN_BOOL)
        return DF_COL_BOOL;
    if (inf->can & SRC_CAN_DATE)
        return DF_COL_DATE;
    if (inf->can & SRC_CAN_DATETIME)
        return DF_COL_DATETIME;
    return inf->nested ? DF_COL_JSON : DF_COL_STRING;
}

/* ---- cells ---------------------------------------------------------------- */

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

static df_code_t set_str(df_chunk_t *chunk, df_cell_t *cell, const char *s, size_t len,
                         df_error_t *err)
{
    return df_chunk_set_str(chunk, cell, s, len) ? DF_OK : nomem(err);
}

df_code_t src_cell_from_text(df_chunk_t *chunk, df_cell_t *cell, df_col_type_t type, const char *s,
                             size_t len, const src_where_t *where, df_error_t *err)
{
    char dt[48];

    switch (type) {
    case DF_COL_STRING: return set_str(chunk, cell, s, len, err);
    case DF_COL_INT:
        if (!src_parse_int(s, len, &cell->v.i))
            return src_value_error(where, "integer", s, len, err);
        break;
    case DF_COL_FLOAT:
        if (!src_parse_float(s, len, &cell->v.f))
            return src_value_error(where, "number", s, len, err);
        break;
    case DF_COL_BOOL:
        if (!src_parse_bool(s, len, &cell->v.b))
            return src_value_error(where, "boolean", s, len, err);
        break;
    case DF_COL_DATE: {
        const char *t = s;
        size_t tl = len;
        if (!src_parse_date(s, len))
            return src_value_error(where, "date (YYYY-MM-DD)", s, len, err);
        trim(&t, &tl);
        return set_str(chunk, cell, t, tl, err);
    }
    case DF_COL_DATETIME:
        if (!src_parse_datetime(s, len, dt, sizeof(dt)))
            return src_value_error(where, "datetime (RFC 3339)", s, len, err);
        return set_str(chunk, cell, dt, strlen(dt), err);
    case DF_COL_JSON: {
        json_error_t jerr;
        json_t *v = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
        if (!v)
            return src_value_error(where, "JSON", s, len, err);
        json_decref(v);
        return set_str(chunk, cell, s, len, err);
    }
    }
    cell->null = false;
    return DF_OK;
}

/* Shortest text that reads back as the same double. */
static void format_double(char *out, size_t len, double v)
{
    snprintf(out, len, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, len, "%.17g", v);
}

/* A JSON value as text for messages and STRING cells: strings as they are,
 * other values as compact JSON. Caller frees. */
static char *json_text(const json_t *value, size_t *len)
{
    char *text;
    if (json_is_string(value)) {
        *len = json_string_length(value);
        text = malloc(*len + 1);
        if (text)
            memcpy(text, json_string_value(value), *len + 1);
        return text;
    }
    if (json_is_real(value)) {
        text = malloc(32);
        if (text) {
            format_double(text, 32, json_real_value(value));
            *len = strlen(text);
        }
        return text;
    }
    text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    *len = text ? strlen(text) : 0;
    return text;
}

static df_code_t json_value_error(const src_where_t *where, const char *expected,
                                  const json_t *value, df_error_t *err)
{
    size_t len = 0;
    char *text = json_text(value, &len);
    df_code_t rc;
    if (!text)
        return nomem(err);
    rc = src_value_error(where, expected, text, len, err);
    free(text);
    return rc;
}

df_code_t src_cell_from_json(df_chunk_t *chunk, df_cell_t *cell, df_col_type_t type,
                             const json_t *value, const src_where_t *where, df_error_t *err)
{
    if (!value || json_is_null(value)) {
        cell->null = true;
        return DF_OK;
    }
    switch (type) {
    case DF_COL_STRING:
    case DF_COL_JSON: {
        size_t len = 0;
        char *text;
        df_code_t rc;
        if (type == DF_COL_JSON) {
            text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            len = text ? strlen(text) : 0;
        } else {
            text = json_text(value, &len);
        }
        if (!text)
            return nomem(err);
        if (len > SRC_FIELD_MAX)
            rc = src_value_error(where, "a value of at most 1 MiB", text, len, err);
        else
            rc = set_str(chunk, cell, text, len, err);
        free(text);
        return rc;
    }
    case DF_COL_INT:
        if (json_is_integer(value)) {
            cell->v.i = (int64_t)json_integer_value(value);
        } else if (json_is_real(value) && fabs(json_real_value(value)) < 9.2e18 &&
                   (double)(int64_t)json_real_value(value) == json_real_value(value)) {
            cell->v.i = (int64_t)json_real_value(value);
        } else if (!json_is_string(value) ||
                   !src_parse_int(json_string_value(value), json_string_length(value),
                                  &cell->v.i)) {
            return json_value_error(where, "integer", value, err);
        }
        break;
    case DF_COL_FLOAT:
        if (json_is_number(value))
            cell->v.f = json_number_value(value);
        else if (!json_is_string(value) ||
                 !src_parse_float(json_string_value(value), json_string_length(value), &cell->v.f))
            return json_value_error(where, "number", value, err);
        break;
    case DF_COL_BOOL:
        if (json_is_boolean(value))
            cell->v.b = json_is_true(value);
        else if (json_is_integer(value) &&
                 (json_integer_value(value) == 0 || json_integer_value(value) == 1))
            cell->v.b = json_integer_value(value) == 1;
        else if (!json_is_string(value) ||
                 !src_parse_bool(json_string_value(value), json_string_length(value), &cell->v.b))
            return json_value_error(where, "boolean", value, err);
        break;
    case DF_COL_DATE:
    case DF_COL_DATETIME:
        if (!json_is_string(value))
            return json_value_error(
                where, type == DF_COL_DATE ? "date (YYYY-MM-DD)" : "datetime (RFC 3339)", value,
                err);
        return src_cell_from_text(chunk, cell, type, json_string_value(value),
                                  json_string_length(value), where, err);
    }
    cell->null = false;
    return DF_OK;
}
