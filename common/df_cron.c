/* df_cron: parsing cron expressions and finding their next fire time in an
 * IANA time zone (the rules are in df_cron.h and docs/CRON.md).
 *
 * A parsed expression is one bit set per field. The next fire time is found
 * on the zone's timeline one span of constant UTC offset at a time: inside
 * a span, wall-clock time and UTC differ by a constant, so the search is a
 * plain calendar search over wall-clock seconds (next_wall); the edges of a
 * span carry the daylight-saving rules (next_fire). */
#include "df_cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_tz.h"

#define SECONDS_PER_DAY 86400
/* Instants handled: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TIME_MIN  (-62135596800LL)
#define TIME_MAX  253402300799LL
#define HORIZON_S ((int64_t)DF_CRON_HORIZON_YEARS * 366 * SECONDS_PER_DAY)
#define NONE      INT64_MAX
/* @every: at most ten years. */
#define EVERY_MAX_MS (3650LL * SECONDS_PER_DAY * 1000)

enum field_id { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

typedef struct field_spec {
    const char *what;         /* "a minute 0-59": what a value must be */
    int min, max;             /* values accepted (day of week: 0-7) */
    int star_max;             /* last value of "*" and of "N/step" */
    const char *const *names; /* three-letter names, or NULL */
    int name_base;            /* value of names[0] */
} field_spec_t;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                           "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const weekday_names[] = {
    "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL
};

static const field_spec_t specs[F_COUNT] = {
    [F_SEC] = { "a second 0-59", 0, 59, 59, NULL, 0 },
    [F_MIN] = { "a minute 0-59", 0, 59, 59, NULL, 0 },
    [F_HOUR] = { "an hour 0-23", 0, 23, 23, NULL, 0 },
    [F_DOM] = { "a day of month 1-31", 1, 31, 31, NULL, 0 },
    [F_MON] = { "a month 1-12 or JAN-DEC", 1, 12, 12, month_names, 1 },
    [F_DOW] = { "a day of week 0-7 or SUN-SAT", 0, 7, 6, weekday_names, 0 },
};

struct df_cron {
    uint64_t bits[F_COUNT]; /* bit v set: value v matches (day of week: 0-6) */
    bool dom_all, dow_all;  /* the day field covers every value */
    bool hour_all;          /* every hour: the expression follows the wall clock */
    bool never;             /* no calendar date can match (e.g. Feb 30) */
    int64_t every_ms;       /* > 0 for @every */
    const df_tz_t *tz;      /* borrowed from the zone cache */
    char expr[DF_CRON_EXPR_MAX + 1];
};

/* ---- errors ---- */

typedef struct parser {
    const char *expr; /* the text as given: positions count from its start */
    df_error_t *err;
} parser_t;

/* What the user wrote at p: up to the next ',' or space, quoted, or
 * "nothing" at the end of the field. */
static void got_text(const char *p, char *buf, size_t size)
{
    size_t n = 0;

    if (!*p || isspace((unsigned char)*p) || *p == ',') {
        snprintf(buf, size, "nothing");
        return;
    }
    buf[n++] = '"';
    while (*p && !isspace((unsigned char)*p) && *p != ',' && n + 5 < size) {
        buf[n++] = isprint((unsigned char)*p) ? *p : '?';
        p++;
    }
    if (*p && !isspace((unsigned char)*p) && *p != ',') {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

static bool fail(parser_t *p, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set the error "position N: <message>" for the character at `at`. */
static bool fail(parser_t *p, const char *at, const char *fmt, ...)
{
    char msg[DF_ERR_MSG_MAX - 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    df_error_set(p->err, DF_ERR_INVALID, "expression", "position %d: %s", (int)(at - p->expr) + 1,
                 msg);
    return false;
}

/* "expected <what>, got <text at p>". */
static bool fail_expected(parser_t *p, const char *at, const char *what)
{
    char got[48];
    got_text(at, got, sizeof(got));
    return fail(p, at, "expected %s, got %s", what, got);
}

/* ---- fields ---- */

static bool is_end(const char *s, const char *e)
{
    return s >= e;
}

/* A number or a name at *s (an alphanumeric run) for field f. */
static bool parse_value(parser_t *p, int f, const char **s, const char *e, int *out)
{
    const field_spec_t *spec = &specs[f];
    const char *b = *s, *q = *s;
    bool digits = true, letters = true;
    size_t len;

    while (q < e && isalnum((unsigned char)*q)) {
        digits = digits && isdigit((unsigned char)*q);
        letters = letters && isalpha((unsigned char)*q);
        q++;
    }
    len = (size_t)(q - b);
    if (len == 0)
        return fail_expected(p, b, spec->what);
    if (digits) {
        long v = 0;
        for (const char *d = b; d < q; d++)
            v = v < 100000 ? v * 10 + (*d - '0') : v;
        if (v < spec->min || v > spec->max) {
            if (len > 8)
                return fail(p, b, "expected %s, got %.8s...", spec->what, b);
            return fail(p, b, "expected %s, got %.*s", spec->what, (int)len, b);
        }
        *out = (int)v;
        *s = q;
        return true;
    }
    if (letters && spec->names && len == 3) {
        for (int i = 0; spec->names[i]; i++) {
            if (strncasecmp(b, spec->names[i], 3) == 0) {
                *out = spec->name_base + i;
                *s = q;
                return true;
            }
        }
    }
    if (len > 16)
        return fail(p, b, "expected %s, got \"%.16s...\"", spec->what, b);
    return fail(p, b, "expected %s, got \"%.*s\"", spec->what, (int)len, b);
}

/* The step after '/' at *s: 1 up to the number of values of the field. */
static bool parse_step(parser_t *p, int f, const char **s, const char *e, int *out)
{
    const field_spec_t *spec = &specs[f];
    int span = spec->star_max - spec->min + 1;
    const char *b = *s, *q = *s;
    char what[48];
    long v = 0;

    snprintf(what, sizeof(what), "a step 1-%d after '/'", span);
    while (q < e && isdigit((unsigned char)*q)) {
        v = v < 100000 ? v * 10 + (*q - '0') : v;
        q++;
    }
    if (q == b || (q < e && isalnum((unsigned char)*q)))
        return fail_expected(p, b, what);
    if (v < 1 || v > span) {
        if (q - b > 8)
            return fail(p, b, "expected %s, got %.8s...", what, b);
        return fail(p, b, "expected %s, got %.*s", what, (int)(q - b), b);
    }
    *out = (int)v;
    *s = q;
    return true;
}

/* One list item: "*", "V", "V-V", each optionally followed by "/STEP". */
static bool parse_item(parser_t *p, int f, const char **s, const char *e, uint64_t *bits)
{
    const field_spec_t *spec = &specs[f];
    const char *b = *s;
    int lo, hi, step = 1;
    bool star = false, range = false;

    if (!is_end(*s, e) && **s == '*') {
        star = true;
        lo = spec->min;
        hi = spec->star_max;
        (*s)++;
    } else {
        if (!parse_value(p, f, s, e, &lo))
            return false;
        if (f == F_DOW && lo == 7)
            lo = 0; /* 7 is Sunday too */
        hi = lo;
        if (!is_end(*s, e) && **s == '-') {
            (*s)++;
            if (!parse_value(p, f, s, e, &hi))
                return false;
            /* A day-of-week range may end on Sunday written as 0 or SUN. */
            if (f == F_DOW && hi == 0 && lo > 0)
                hi = 7;
            range = true;
        }
    }
    if (!is_end(*s, e) && **s == '/') {
        (*s)++;
        if (!parse_step(p, f, s, e, &step))
            return false;
        if (!star && !range)
            hi = spec->star_max; /* "5/15" is "5-59/15" */
    }
    if (!is_end(*s, e) && **s != ',') {
        char got[48];
        got_text(*s, got, sizeof(got));
        return fail(p, *s, "expected %s after \"%.*s\", got %s",
                    star ? "'/', ',' or the end of the field"
                         : "'-', '/', ',' or the end of the field",
                    (int)(*s - b), b, got);
    }
    if (lo > hi) {
        if (range)
            return fail(p, b, "expected a range whose start is not after its end, got \"%.*s\"",
                        (int)(*s - b), b);
        return fail(p, b, "expected a start no later than %d before '/', got \"%.*s\"",
                    spec->star_max, (int)(*s - b), b);
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << (f == F_DOW && v == 7 ? 0 : v);
    return true;
}

/* A whole field [b, e): items separated by ','. */
static bool parse_field(parser_t *p, int f, const char *b, const char *e, uint64_t *bits)
{
    const char *s = b;

    *bits = 0;
    if (e - b == 1 && *b == '?') {
        if (f != F_DOM && f != F_DOW)
            return fail_expected(p, b, specs[f].what);
        for (int v = specs[f].min; v <= specs[f].star_max; v++)
            *bits |= 1ULL << v;
        return true;
    }
    for (;;) {
        if (!parse_item(p, f, &s, e, bits))
            return false;
        if (is_end(s, e))
            return true;
        s++; /* ',' */
    }
}

static uint64_t full_bits(int f)
{
    uint64_t bits = 0;
    for (int v = specs[f].min; v <= specs[f].star_max; v++)
        bits |= 1ULL << v;
    return bits;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Derived flags; `never` when the day-of-month field is the only day
 * restriction and no chosen month has any of its days (Feb 30, Apr 31). */
static void finish_fields(df_cron_t *c)
{
    c->dom_all = c->bits[F_DOM] == full_bits(F_DOM);
    c->dow_all = c->bits[F_DOW] == full_bits(F_DOW);
    c->hour_all = c->bits[F_HOUR] == full_bits(F_HOUR);
    c->never = false;
    if (c->dow_all && !c->dom_all) {
        c->never = true;
        for (int m = 1; m <= 12; m++) {
            int last = m == 2 ? 29 : days_in_month(2001, m);
            if ((c->bits[F_MON] >> m & 1) && (c->bits[F_DOM] & ((2ULL << last) - 2)))
                c->never = false;
        }
    }
}

static const char *skip_space(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static const char *skip_word(const char *s)
{
    while (*s && !isspace((unsigned char)*s))
        s++;
    return s;
}

/* 5 or 6 whitespace-separated fields. */
static bool parse_fields(parser_t *p, df_cron_t *c, const char *text)
{
    static const int five[] = { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };
    static const int six[] = { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };
    const char *b[7], *e[7];
    const char *s = skip_space(text);
    int n = 0;

    while (*s && n < 7) {
        b[n] = s;
        e[n] = skip_word(s);
        s = skip_space(e[n]);
        n++;
    }
    if (n == 7)
        return fail(p, b[6],
                    "expected at most 6 fields (seconds, minute, hour, day of month, month, day "
                    "of week), got a 7th: \"%.*s\"",
                    (int)(e[6] - b[6] < 16 ? e[6] - b[6] : 16), b[6]);
    if (n < 5) {
        static const char *const missing[] = { "minute", "hour", "day of month", "month",
                                               "day of week" };
        return fail(p, text + strlen(text),
                    "expected 5 fields (minute, hour, day of month, month, day of week) or 6 "
                    "(seconds first), got %d: the %s field is missing",
                    n, missing[n]);
    }
    for (int i = 0; i < n; i++) {
        int f = n == 5 ? five[i] : six[i];
        if (!parse_field(p, f, b[i], e[i], &c->bits[f]))
            return false;
    }
    if (n == 5)
        c->bits[F_SEC] = 1; /* second 0 */
    finish_fields(c);
    return true;
}

/* "@every" duration at s: one or more NUMBER UNIT with units d, h, m, s in
 * that order, e.g. 90s, 1h30m, 2d. */
static bool parse_every(parser_t *p, df_cron_t *c, const char *s)
{
    static const char units[] = "dhms";
    static const int64_t unit_ms[] = { 86400000LL, 3600000LL, 60000LL, 1000LL };
    const char *what = "a duration such as 90s, 15m, 1h30m or 2d";
    const char *b = s;
    int64_t total = 0;
    int next_unit = 0;

    if (!*s)
        return fail_expected(p, s, what);
    while (*s && !isspace((unsigned char)*s)) {
        const char *num = s;
        int64_t v = 0;
        const char *u;
        while (isdigit((unsigned char)*s)) {
            v = v < EVERY_MAX_MS ? v * 10 + (*s - '0') : v;
            s++;
        }
        if (s == num)
            return fail_expected(p, s, what);
        if (!*s || isspace((unsigned char)*s))
            return fail(p, s, "expected a unit (d, h, m or s) after %.*s, got nothing",
                        (int)(s - num), num);
        u = strchr(units, tolower((unsigned char)*s));
        if (!u || !*u) {
            char got[48];
            got_text(s, got, sizeof(got));
            return fail(p, s, "expected a unit (d, h, m or s) after %.*s, got %s", (int)(s - num),
                        num, got);
        }
        if (u - units < next_unit)
            return fail(p, s, "expected units in the order d, h, m, s, each at most once, got %c",
                        *s);
        next_unit = (int)(u - units) + 1;
        total += v * unit_ms[u - units];
        if (total > EVERY_MAX_MS)
            return fail(p, b, "expected a duration of at most 3650d, got \"%.*s\"",
                        (int)(skip_word(b) - b), b);
        s++;
    }
    if (total < 1000)
        return fail(p, b, "expected a duration of at least 1s, got \"%.*s\"", (int)(s - b), b);
    s = skip_space(s);
    if (*s)
        return fail(p, s, "expected nothing after the duration, got \"%.*s\"",
                    (int)(skip_word(s) - s < 16 ? skip_word(s) - s : 16), s);
    c->every_ms = total;
    return true;
}

/* "@name" macros. */
static bool parse_macro(parser_t *p, df_cron_t *c, const char *at)
{
    static const struct {
        const char *name, *fields;
    } macros[] = {
        { "hourly", "0 * * * *" },   { "daily", "0 0 * * *" },   { "midnight", "0 0 * * *" },
        { "weekly", "0 0 * * 0" },   { "monthly", "0 0 1 * *" }, { "yearly", "0 0 1 1 *" },
        { "annually", "0 0 1 1 *" },
    };
    const char *name = at + 1, *end = skip_word(at);
    size_t len = (size_t)(end - name);
    const char *rest;

    if (len == 5 && strncasecmp(name, "every", 5) == 0)
        return parse_every(p, c, skip_space(end));
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
        if (strlen(macros[i].name) != len || strncasecmp(name, macros[i].name, len) != 0)
            continue;
        rest = skip_space(end);
        if (*rest)
            return fail(p, rest, "expected nothing after @%s, got \"%.*s\"", macros[i].name,
                        (int)(skip_word(rest) - rest < 16 ? skip_word(rest) - rest : 16), rest);
        {
            parser_t inner = { macros[i].fields, p->err };
            return parse_fields(&inner, c, macros[i].fields);
        }
    }
    return fail(p, at,
                "expected a macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, "
                "@annually or @every DURATION), got \"%.*s\"",
                (int)(len + 1 < 24 ? len + 1 : 24), at);
}

df_cron_t *df_cron_parse(const char *expr, const char *tz, df_error_t *err)
{
    parser_t p = { expr, err };
    df_cron_t *c;
    const char *s, *end;
    size_t len;

    if (!expr)
        expr = p.expr = "";
    s = skip_space(expr);
    if (!*s) {
        fail(&p, s,
             "expected a cron expression (5 or 6 fields, or a macro such as @daily), got nothing");
        return NULL;
    }
    len = strlen(expr);
    if (len > DF_CRON_EXPR_MAX) {
        fail(&p, expr + DF_CRON_EXPR_MAX, "expected at most %d characters, got %zu",
             DF_CRON_EXPR_MAX, len);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        df_error_set(err, DF_ERR_NOMEM, "expression", "out of memory");
        return NULL;
    }
    if (!(*s == '@' ? parse_macro(&p, c, s) : parse_fields(&p, c, expr))) {
        free(c);
        return NULL;
    }
    c->tz = df_tz_get(tz, err);
    if (!c->tz) {
        free(c);
        return NULL;
    }
    end = expr + len;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    memcpy(c->expr, s, (size_t)(end - s));
    c->expr[end - s] = '\0';
    return c;
}

void df_cron_free(df_cron_t *cron)
{
    free(cron);
}

const char *df_cron_expression(const df_cron_t *cron)
{
    return cron->expr;
}

const char *df_cron_zone(const df_cron_t *cron)
{
    return df_tz_name(cron->tz);
}

bool df_cron_is_every(const df_cron_t *cron, int64_t *period_ms)
{
    if (period_ms)
        *period_ms = cron->every_ms;
    return cron->every_ms > 0;
}

size_t df_cron_format(const df_cron_t *cron, int64_t unix_ms, char *buf, size_t size)
{
    return df_tz_format(cron->tz, unix_ms, buf, size);
}

/* ---- next fire time ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Smallest set bit >= from, or -1. */
static int next_bit(uint64_t bits, int from)
{
    if (from >= 64)
        return -1;
    bits &= ~0ULL << from;
    return bits ? __builtin_ctzll(bits) : -1;
}

static bool day_matches(const df_cron_t *c, int d, int64_t days)
{
    bool dom = c->bits[F_DOM] >> d & 1;
    bool dow = c->bits[F_DOW] >> (int)(((days + 4) % 7 + 7) % 7) & 1; /* 1970-01-01: Thursday */

    if (c->dom_all)
        return dow;
    if (c->dow_all)
        return dom;
    return dom || dow; /* both restricted: either will do */
}

/* A calendar position in wall-clock time, walked forward by next_wall. */
typedef struct civil {
    int64_t days, y;
    int mo, d, h, mi, s;
} civil_t;

static void next_day(civil_t *t)
{
    t->days++;
    if (++t->d > days_in_month(t->y, t->mo)) {
        t->d = 1;
        if (++t->mo > 12) {
            t->mo = 1;
            t->y++;
        }
    }
    t->h = t->mi = t->s = 0;
}

static void next_month(civil_t *t)
{
    t->days += days_in_month(t->y, t->mo) - t->d + 1;
    t->d = 1;
    if (++t->mo > 12) {
        t->mo = 1;
        t->y++;
    }
    t->h = t->mi = t->s = 0;
}

/* The first wall-clock second >= from and < limit (seconds since
 * 1970-01-01T00:00 on the wall clock) that the fields match, or NONE. */
static int64_t next_wall(const df_cron_t *c, int64_t from, int64_t limit)
{
    civil_t t;
    int sod;

    t.days = floor_div(from, SECONDS_PER_DAY);
    sod = (int)(from - t.days * SECONDS_PER_DAY);
    t.h = sod / 3600;
    t.mi = sod / 60 % 60;
    t.s = sod % 60;
    df_tz_civil_from_days(t.days, &t.y, &t.mo, &t.d);
    while (t.days * SECONDS_PER_DAY < limit) {
        int v;
        int64_t w;

        if (!(c->bits[F_MON] >> t.mo & 1)) {
            next_month(&t);
            continue;
        }
        if (!day_matches(c, t.d, t.days)) {
            next_day(&t);
            continue;
        }
        if ((v = next_bit(c->bits[F_HOUR], t.h)) < 0) {
            next_day(&t);
            continue;
        }
        if (v != t.h) {
            t.h = v;
            t.mi = t.s = 0;
        }
        if ((v = next_bit(c->bits[F_MIN], t.mi)) < 0) {
            t.h++;
            t.mi = t.s = 0;
            continue; /* hour 24 finds no bit: next day */
        }
        if (v != t.mi) {
            t.mi = v;
            t.s = 0;
        }
        if ((v = next_bit(c->bits[F_SEC], t.s)) < 0) {
            t.s = 0;
            if (++t.mi == 60) {
                t.mi = 0;
                t.h++;
            }
            continue;
        }
        w = t.days * SECONDS_PER_DAY + t.h * 3600 + t.mi * 60 + v;
        return w < limit ? w : NONE;
    }
    return NONE;
}

/* The first fire instant >= s before horizon, walking the zone's spans of
 * constant offset. At a span's start the rules for daylight-saving changes
 * apply (df_cron.h): walls skipped by a forward jump fire at the jump unless
 * the expression follows the wall clock (hour_all); walls repeated after a
 * backward jump fire again only when it does. */
static bool next_fire(const df_cron_t *c, int64_t s, int64_t horizon, int64_t *out)
{
    int64_t t = s;

    while (t < horizon) {
        df_tz_span_t sp;
        int64_t end, from, w;

        df_tz_span(c->tz, t, &sp);
        end = sp.end < horizon ? sp.end : horizon;
        if (!c->hour_all && sp.start == t && sp.offset > sp.offset_before &&
            next_wall(c, t + sp.offset_before, t + sp.offset) != NONE) {
            *out = t;
            return true;
        }
        from = t + sp.offset;
        if (!c->hour_all && sp.start != INT64_MIN && sp.offset < sp.offset_before &&
            from < sp.start + sp.offset_before)
            from = sp.start + sp.offset_before;
        w = next_wall(c, from, end + sp.offset);
        if (w != NONE) {
            *out = w - sp.offset;
            return true;
        }
        t = end;
    }
    return false;
}

bool df_cron_next(const df_cron_t *cron, int64_t after_ms, int64_t *next_ms)
{
    int64_t s = floor_div(after_ms, 1000) + 1; /* whole seconds, strictly after */
    int64_t horizon, fire;

    if (!cron)
        return false;
    if (cron->every_ms > 0) {
        int64_t k = floor_div(after_ms, cron->every_ms) + 1;
        if (k > floor_div(TIME_MAX * 1000, cron->every_ms))
            return false;
        *next_ms = k * cron->every_ms;
        return true;
    }
    if (cron->never || s > TIME_MAX)
        return false;
    if (s < TIME_MIN)
        s = TIME_MIN;
    horizon = s + HORIZON_S < TIME_MAX + 1 ? s + HORIZON_S : TIME_MAX + 1;
    if (!next_fire(cron, s, horizon, &fire))
        return false;
    *next_ms = fire * 1000;
    return true;
}
