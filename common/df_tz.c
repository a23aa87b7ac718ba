/* df_tz: IANA time zones from TZif files (RFC 8536), read without the C
 * library's TZ machinery (see df_tz.h).
 *
 * A zone is its table of transitions (64-bit data of version 2+ files) plus
 * the footer's POSIX TZ rule for the times after the last transition
 * (Debian's files are "slim": recent years come from the rule alone). */
#include "df_tz.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_MAX_BYTES (1 << 20)
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* When a POSIX rule changes the offset in a year: "Mm.w.d", "Jn" (1-365,
 * Feb 29 never counted) or "n" (0-365), at `time` seconds of local time. */
typedef struct rule_date {
    char kind; /* 'M', 'J' or 'N' */
    int m, w, d, n;
    int32_t time;
} rule_date_t;

typedef struct posix_rule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    rule_date_t start, end; /* DST starts (in standard time) and ends (in DST) */
} posix_rule_t;

struct df_tz {
    char name[DF_TZ_NAME_MAX + 1];
    int64_t *times;   /* transitions, ascending */
    int32_t *offsets; /* offsets[i]: in force from times[i] */
    size_t n;
    int32_t initial; /* before the first transition (time type 0) */
    bool has_rule;   /* the footer's rule governs times >= the last transition */
    posix_rule_t rule;
    struct df_tz *next; /* the cache list */
};

static struct df_tz utc_zone = { .name = "UTC" };
static struct df_tz *cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- civil dates (proleptic Gregorian) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t df_tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void df_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* ---- POSIX TZ rules (the TZif footer) ---- */

/* Days since the epoch of a rule's date in year y. */
static int64_t rule_day(const rule_date_t *r, int64_t y)
{
    int64_t jan1 = df_tz_days_from_civil(y, 1, 1);

    if (r->kind == 'J')
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'N')
        return jan1 + r->n;
    {
        int64_t first = df_tz_days_from_civil(y, r->m, 1);
        int wd = (int)(((first + 4) % 7 + 7) % 7);
        int64_t day = first + (r->d - wd + 7) % 7 + (int64_t)(r->w - 1) * 7;
        while (day - first >= month_days(y, r->m))
            day -= 7;
        return day;
    }
}

/* The instants (UTC) DST starts and ends in year y. */
static void rule_year(const posix_rule_t *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    *end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
}

static int64_t year_of(int64_t t, int32_t off)
{
    int64_t y;
    int m, d;
    df_tz_civil_from_days(floor_div(t + off, 86400), &y, &m, &d);
    return y;
}

/* Keep rule arithmetic far from int64 overflow (about +-300 million years). */
static int64_t clamp_time(int64_t t)
{
    const int64_t lim = 10000000000000000LL;
    return t < -lim ? -lim : t > lim ? lim : t;
}

static int32_t rule_offset(const posix_rule_t *r, int64_t t)
{
    int64_t start, end;

    if (!r->has_dst)
        return r->std_off;
    t = clamp_time(t);
    rule_year(r, year_of(t, r->std_off), &start, &end);
    if (start < end)
        return t >= start && t < end ? r->dst_off : r->std_off;
    return t >= end && t < start ? r->std_off : r->dst_off;
}

static bool parse_rule_name(const char **s)
{
    const char *p = *s;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return false;
        *s = p + 1;
        return true;
    }
    while (isalpha((unsigned char)*p))
        p++;
    if (p - *s < 3)
        return false;
    *s = p;
    return true;
}

/* [+-]h[h[h]][:mm[:ss]] in seconds. */
static bool parse_rule_hms(const char **s, int32_t *out, int max_hours)
{
    const char *p = *s;
    int sign = 1, h = 0, mi = 0, se = 0, nd = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (isdigit((unsigned char)*p) && nd < 3) {
        h = h * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || h > max_hours)
        return false;
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return false;
        mi = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
                return false;
            se = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (mi > 59 || se > 59)
        return false;
    *out = sign * (h * 3600 + mi * 60 + se);
    *s = p;
    return true;
}

static bool parse_rule_int(const char **s, int lo, int hi, int *out)
{
    const char *p = *s;
    int v = 0, nd = 0;
    while (isdigit((unsigned char)*p) && nd < 4) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || v < lo || v > hi)
        return false;
    *out = v;
    *s = p;
    return true;
}

static bool parse_rule_date(const char **s, rule_date_t *r)
{
    const char *p = *s;

    memset(r, 0, sizeof(*r));
    if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (!parse_rule_int(&p, 1, 12, &r->m) || *p++ != '.' || !parse_rule_int(&p, 1, 5, &r->w) ||
            *p++ != '.' || !parse_rule_int(&p, 0, 6, &r->d))
            return false;
    } else if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (!parse_rule_int(&p, 1, 365, &r->n))
            return false;
    } else {
        r->kind = 'N';
        if (!parse_rule_int(&p, 0, 365, &r->n))
            return false;
    }
    r->time = 7200;
    if (*p == '/') {
        p++;
        if (!parse_rule_hms(&p, &r->time, 167))
            return false;
    }
    *s = p;
    return true;
}

/* "STD offset [DST [offset] [,start[/time],end[/time]]]"; POSIX offsets
 * count west of UTC, ours east. An empty string means no rule. */
static bool parse_posix_rule(const char *s, posix_rule_t *r, bool *present)
{
    int32_t v;

    memset(r, 0, sizeof(*r));
    *present = false;
    if (!*s)
        return true;
    if (!parse_rule_name(&s) || !parse_rule_hms(&s, &v, 24))
        return false;
    r->std_off = -v;
    *present = true;
    if (!*s)
        return true;
    if (!parse_rule_name(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!parse_rule_hms(&s, &v, 24))
            return false;
        r->dst_off = -v;
    }
    if (!*s) {
        /* No dates: the US rules POSIX implies. */
        const char *us = ",M3.2.0,M11.1.0";
        s = us;
    }
    if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
        !parse_rule_date(&s, &r->end) || *s)
        return false;
    return true;
}

/* ---- TZif files ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts_t;

static bool read_header(const unsigned char *p, size_t len, tzif_counts_t *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= 100000 && c->chars <= 100000 &&
           c->leap <= 100000 && c->isut <= 256 && c->isstd <= 256;
}

static size_t block_size(const tzif_counts_t *c, size_t time_size)
{
    return c->time * time_size + c->time + c->type * 6 + c->chars + c->leap * (time_size + 4) +
           c->isstd + c->isut;
}

/* Fill tz from a TZif image. false with a reason in *why. */
static bool parse_tzif(struct df_tz *tz, const unsigned char *p, size_t len, const char **why)
{
    tzif_counts_t c;
    size_t tsize = 4, body;
    const unsigned char *times, *idx, *types;

    *why = "not a TZif file";
    if (!read_header(p, len, &c))
        return false;
    body = 44 + block_size(&c, 4);
    if (p[4] >= '2') {
        /* Skip the 32-bit block: the 64-bit one follows with its own header. */
        if (len < body || !read_header(p + body, len - body, &c))
            return false;
        p += body;
        len -= body;
        tsize = 8;
    }
    if (len < 44 + block_size(&c, tsize))
        return false;
    if (c.leap > 0) {
        *why = "zones with leap seconds (right/...) are not supported";
        return false;
    }
    times = p + 44;
    idx = times + c.time * tsize;
    types = idx + c.time;
    tz->n = c.time;
    tz->times = calloc(c.time ? c.time : 1, sizeof(int64_t));
    tz->offsets = calloc(c.time ? c.time : 1, sizeof(int32_t));
    *why = "out of memory";
    if (!tz->times || !tz->offsets)
        return false;
    *why = "corrupt TZif data";
    for (uint32_t i = 0; i < c.time; i++) {
        tz->times[i] = tsize == 8 ? be64(times + i * 8) : (int64_t)(int32_t)be32(times + i * 4);
        if (idx[i] >= c.type || (i > 0 && tz->times[i] <= tz->times[i - 1]))
            return false;
        tz->offsets[i] = (int32_t)be32(types + idx[i] * 6);
    }
    tz->initial = (int32_t)be32(types);
    if (tsize == 8) {
        const unsigned char *footer = p + 44 + block_size(&c, 8);
        const unsigned char *stop = p + len;
        char rule[256];
        size_t n = 0;

        if (footer < stop && *footer == '\n') {
            footer++;
            while (footer < stop && *footer != '\n' && n + 1 < sizeof(rule))
                rule[n++] = (char)*footer++;
            rule[n] = '\0';
            *why = "unreadable POSIX TZ rule in the footer";
            if (!parse_posix_rule(rule, &tz->rule, &tz->has_rule))
                return false;
        }
    }
    return true;
}

/* Zone names as tzdata spells them: no absolute paths, no "..". */
static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > DF_TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("/_+-.", *p))
            return false;
        if (*p == '.' && (p == name || p[-1] == '/'))
            return false;
        if (*p == '/' && p[1] == '/')
            return false;
    }
    return true;
}

static struct df_tz *load_zone(const char *name, df_error_t *err)
{
    const char *dir = getenv("TZDIR");
    char path[DF_TZ_NAME_MAX + 512];
    unsigned char *data = NULL;
    struct df_tz *tz = NULL;
    const char *why = "unknown";
    size_t len = 0;
    FILE *f;

    if (!dir || !*dir || strlen(dir) > 400)
        dir = TZ_DEFAULT_DIR;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        df_error_set(err, DF_ERR_INVALID, "timezone",
                     "expected an IANA time zone name such as Europe/Berlin, got \"%s\" (%s: %s)",
                     name, path, strerror(errno));
        return NULL;
    }
    data = malloc(TZIF_MAX_BYTES);
    if (data)
        len = fread(data, 1, TZIF_MAX_BYTES, f);
    fclose(f);
    tz = calloc(1, sizeof(*tz));
    if (!data || !tz) {
        free(data);
        free(tz);
        df_error_set(err, DF_ERR_NOMEM, "timezone", "out of memory");
        return NULL;
    }
    if (!parse_tzif(tz, data, len, &why)) {
        free(data);
        free(tz->times);
        free(tz->offsets);
        free(tz);
        df_error_set(err, DF_ERR_INVALID, "timezone",
                     "expected an IANA time zone name such as Europe/Berlin, got \"%s\" (%s: %s)",
                     name, path, why);
        return NULL;
    }
    free(data);
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    return tz;
}

const df_tz_t *df_tz_utc(void)
{
    return &utc_zone;
}

const df_tz_t *df_tz_get(const char *name, df_error_t *err)
{
    struct df_tz *tz;

    if (!name || !*name || strcmp(name, "UTC") == 0)
        return &utc_zone;
    if (!valid_name(name)) {
        df_error_set(err, DF_ERR_INVALID, "timezone",
                     "expected an IANA time zone name such as Europe/Berlin, got \"%.*s\"",
                     DF_TZ_NAME_MAX, name);
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    for (tz = cache; tz; tz = tz->next) {
        if (strcmp(tz->name, name) == 0)
            break;
    }
    if (!tz) {
        tz = load_zone(name, err);
        if (tz) {
            tz->next = cache;
            cache = tz;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return tz;
}

const char *df_tz_name(const df_tz_t *tz)
{
    return tz->name;
}

/* ---- offsets and spans ---- */

/* Index of the last transition <= t, or -1. */
static ptrdiff_t last_at_or_before(const df_tz_t *tz, int64_t t)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)tz->n; /* first index with times > t */
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

/* Does the footer rule govern instant t? */
static bool ruled(const df_tz_t *tz, int64_t t)
{
    return tz->has_rule && (tz->n == 0 || t >= tz->times[tz->n - 1]);
}

int32_t df_tz_offset(const df_tz_t *tz, int64_t t)
{
    ptrdiff_t i;

    if (ruled(tz, t))
        return rule_offset(&tz->rule, t);
    i = last_at_or_before(tz, t);
    return i < 0 ? tz->initial : tz->offsets[i];
}

static bool changes_at(const df_tz_t *tz, int64_t x)
{
    return x != INT64_MIN && df_tz_offset(tz, x - 1) != df_tz_offset(tz, x);
}

/* Rule transitions in years y0..y0+3 that lie in (after, before], sorted. */
static size_t rule_candidates(const df_tz_t *tz, int64_t y0, int64_t after, int64_t before,
                              int64_t out[8])
{
    size_t n = 0;
    for (int64_t y = y0; y < y0 + 4; y++) {
        int64_t pair[2];
        rule_year(&tz->rule, y, &pair[0], &pair[1]);
        for (int k = 0; k < 2; k++) {
            if (pair[k] > after && pair[k] <= before)
                out[n++] = pair[k];
        }
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int64_t tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
        }
    }
    return n;
}

/* The first offset change after t, or INT64_MAX. */
static int64_t next_change(const df_tz_t *tz, int64_t t)
{
    size_t i = (size_t)(last_at_or_before(tz, t) + 1);
    int64_t base;

    for (; i < tz->n; i++) {
        if (changes_at(tz, tz->times[i]))
            return tz->times[i];
    }
    if (!tz->has_rule || !tz->rule.has_dst)
        return INT64_MAX;
    base = clamp_time(tz->n > 0 && tz->times[tz->n - 1] > t ? tz->times[tz->n - 1] : t);
    for (int64_t y = year_of(base, tz->rule.std_off) - 1;; y += 4) {
        int64_t cand[8];
        size_t n = rule_candidates(tz, y, base, INT64_MAX, cand);
        for (size_t k = 0; k < n; k++) {
            if (changes_at(tz, cand[k]))
                return cand[k];
        }
        if (y > year_of(base, tz->rule.std_off) + 8)
            return INT64_MAX; /* a rule that never changes the offset */
    }
}

/* The last offset change at or before t, or INT64_MIN. */
static int64_t prev_change(const df_tz_t *tz, int64_t t)
{
    ptrdiff_t i;

    if (tz->has_rule && tz->rule.has_dst && ruled(tz, t)) {
        int64_t floor_t = tz->n > 0 ? tz->times[tz->n - 1] : INT64_MIN;
        int64_t ct = clamp_time(t);
        int64_t y = year_of(ct, tz->rule.std_off);
        for (int64_t y0 = y - 2; y0 > y - 14; y0 -= 4) {
            int64_t cand[8];
            size_t n = rule_candidates(tz, y0, floor_t, ct, cand);
            for (; n > 0; n--) {
                if (changes_at(tz, cand[n - 1]))
                    return cand[n - 1];
            }
        }
    }
    for (i = last_at_or_before(tz, t); i >= 0; i--) {
        if (changes_at(tz, tz->times[i]))
            return tz->times[i];
    }
    return INT64_MIN;
}

void df_tz_span(const df_tz_t *tz, int64_t t, df_tz_span_t *span)
{
    span->start = prev_change(tz, t);
    span->end = next_change(tz, t);
    span->offset = df_tz_offset(tz, t);
    span->offset_before =
        span->start == INT64_MIN ? span->offset : df_tz_offset(tz, span->start - 1);
}

/* ---- text ---- */

size_t df_tz_format(const df_tz_t *tz, int64_t unix_ms, char *buf, size_t size)
{
    int64_t secs = floor_div(unix_ms, 1000), days, y;
    int ms = (int)(unix_ms - secs * 1000), off = df_tz_offset(tz, secs), sod, m, d, aoff, n;
    char frac[8] = "", zone[16];

    days = floor_div(secs + off, 86400);
    sod = (int)(secs + off - days * 86400);
    df_tz_civil_from_days(days, &y, &m, &d);
    if (ms)
        snprintf(frac, sizeof(frac), ".%03d", ms);
    aoff = off < 0 ? -off : off;
    if (aoff % 60)
        snprintf(zone, sizeof(zone), "%c%02d:%02d:%02d", off < 0 ? '-' : '+', aoff / 3600,
                 aoff / 60 % 60, aoff % 60);
    else
        snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+', aoff / 3600,
                 aoff / 60 % 60);
    n = snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d%s%s", (long long)y, m, d, sod / 3600,
                 sod / 60 % 60, sod % 60, frac, zone);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static bool digits_at(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* The instant wall-clock second w shows in tz: its first occurrence, or for
 * a skipped time the reading with the offset before the change. */
static int64_t resolve_wall(const df_tz_t *tz, int64_t w)
{
    int32_t offs[3] = { df_tz_offset(tz, w - 86400), df_tz_offset(tz, w),
                        df_tz_offset(tz, w + 86400) };
    int64_t best = INT64_MAX;
    int32_t before = offs[0];

    for (int i = 0; i < 3; i++) {
        int64_t t = w - offs[i];
        if (df_tz_offset(tz, t) == offs[i] && t < best)
            best = t;
        if (offs[i] < before)
            before = offs[i];
    }
    return best != INT64_MAX ? best : w - before;
}

bool df_tz_parse_time(const df_tz_t *tz, const char *text, int64_t *unix_ms, df_error_t *err)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
    bool has_offset = false;
    int off = 0;
    int64_t wall;

    if (!p || !digits_at(p, 4, &y) || p[4] != '-' || !digits_at(p + 5, 2, &mo) || p[7] != '-' ||
        !digits_at(p + 8, 2, &d))
        goto bad;
    p += 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!digits_at(p + 1, 2, &h) || p[3] != ':' || !digits_at(p + 4, 2, &mi))
            goto bad;
        p += 6;
        if (*p == ':') {
            if (!digits_at(p + 1, 2, &s))
                goto bad;
            p += 3;
            if (*p == '.' || *p == ',') {
                int scale = 100;
                p++;
                if (!isdigit((unsigned char)*p))
                    goto bad;
                for (; isdigit((unsigned char)*p); p++, scale /= 10)
                    ms += (*p - '0') * scale;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            has_offset = true;
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            int sign = *p == '-' ? -1 : 1;
            if (!digits_at(p + 1, 2, &oh))
                goto bad;
            p += 3;
            if (*p == ':')
                p++;
            if (!digits_at(p, 2, &om) || oh > 23 || om > 59)
                goto bad;
            p += 2;
            off = sign * (oh * 3600 + om * 60);
            has_offset = true;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || s > 59)
        goto bad;
    wall = df_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    *unix_ms = (has_offset ? wall - off : resolve_wall(tz, wall)) * 1000 + ms;
    return true;
bad:
    df_error_set(err, DF_ERR_INVALID, NULL,
                 "expected an ISO 8601 time such as 2026-03-29T01:30:00Z, "
                 "2026-03-29T03:00:00+02:00, 2026-03-29T01:30 (in the zone) or 2026-03-29, "
                 "got \"%.64s\"",
                 text ? text : "");
    return false;
}
