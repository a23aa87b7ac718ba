/* df_tz: IANA time zones read from the system's TZif files (RFC 8536;
 * /usr/share/zoneinfo, Debian package tzdata, or $TZDIR), for turning
 * instants into local wall-clock time and back without the C library's
 * process-wide TZ state: nothing here reads or sets the TZ environment
 * variable or calls tzset/localtime. Zones are loaded once, cached for the
 * life of the process and immutable, so a df_tz_t is safe to share between
 * threads. Times are Unix seconds (UTC); offsets are seconds east of UTC. */
#ifndef DF_TZ_H
#define DF_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

typedef struct df_tz df_tz_t;

#define DF_TZ_NAME_MAX 128

/* The zone named name: NULL, "" and "UTC" give the built-in UTC (needs no
 * file); anything else is read from $TZDIR (default /usr/share/zoneinfo).
 * Borrowed: valid for the life of the process (zones are cached). NULL with
 * err set (DF_ERR_INVALID, field "timezone") for an unknown or unreadable
 * zone. Thread-safe. */
const df_tz_t *df_tz_get(const char *name, df_error_t *err);

/* The built-in UTC zone (never NULL). */
const df_tz_t *df_tz_utc(void);

/* The zone's name as given to df_tz_get ("UTC" for the built-in one). Borrowed. */
const char *df_tz_name(const df_tz_t *tz);

/* UTC offset (seconds east) in force at instant t. */
int32_t df_tz_offset(const df_tz_t *tz, int64_t t);

/* The longest span of time around t with one UTC offset: t lies in
 * [start, end) (INT64_MIN / INT64_MAX when unbounded), offset is in force
 * there, offset_before is the offset in force just before start (equal to
 * offset when start is INT64_MIN). Transitions that change only a zone's
 * abbreviation or DST flag, not its offset, do not end a span. */
typedef struct df_tz_span {
    int64_t start;
    int64_t end;
    int32_t offset;
    int32_t offset_before;
} df_tz_span_t;

void df_tz_span(const df_tz_t *tz, int64_t t, df_tz_span_t *span);

/* Civil date helpers shared with the cron code: days since 1970-01-01 of a
 * proleptic Gregorian date, and back. Valid for any int32 year. */
int64_t df_tz_days_from_civil(int64_t y, int m, int d);
void df_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* ISO 8601 text of instant unix_ms in zone tz with its UTC offset, e.g.
 * "2026-03-29T03:00:00+02:00" (milliseconds shown only when not zero; UTC
 * shown as "+00:00"). Returns the length written (buf at least 40 bytes). */
size_t df_tz_format(const df_tz_t *tz, int64_t unix_ms, char *buf, size_t size);

/* Parse ISO 8601 / RFC 3339 date-time text: "YYYY-MM-DDTHH:MM[:SS[.fff]]"
 * followed by "Z", "+hh:mm", "-hh:mm" (or "+hhmm"), or by nothing, in which
 * case it is a wall-clock time in tz (a time skipped by a DST change is read
 * with the offset before the change, a repeated one as its first
 * occurrence); a date alone "YYYY-MM-DD" is its local midnight. 'T' may be a
 * space. false with err set (field NULL) on anything else. */
bool df_tz_parse_time(const df_tz_t *tz, const char *text, int64_t *unix_ms, df_error_t *err);

#endif
