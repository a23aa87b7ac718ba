/* df_cron: cron expressions for the scheduler: parse once, then ask for the
 * next fire time after any instant, in an IANA time zone (docs/CRON.md).
 *
 * Syntax: 5 fields "minute hour day-of-month month day-of-week" or 6 with
 * seconds first; in each field "*", numbers, lists "1,5", ranges "1-5",
 * steps (a star then "/5", "10-40/10", "5/15"); month names JAN-DEC
 * and weekday names SUN-SAT (any case); 0 and 7 are both Sunday; "?" as a
 * whole day field means "*". Macros @hourly @daily @midnight @weekly
 * @monthly @yearly @annually, and "@every DURATION" (e.g. "@every 1h30m":
 * fires at the multiples of DURATION since the Unix epoch, in real time,
 * whatever the zone).
 *
 * When both day-of-month and day-of-week are restricted (neither covers
 * every value) a day matches if either does (classic cron); otherwise both
 * must. Daylight-saving changes (see docs/CRON.md for worked examples): an
 * expression whose hour field covers all 24 hours follows the wall clock
 * (times skipped by a spring-forward do not fire, times repeated by a
 * fall-back fire in both passes); any other expression fires each day's
 * slot once (a slot skipped by a spring-forward fires at the instant the
 * clock jumps, a repeated slot only in its first pass). */
#ifndef DF_CRON_H
#define DF_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

typedef struct df_cron df_cron_t;

/* Longest expression accepted (bytes). */
#define DF_CRON_EXPR_MAX 256

/* How far df_cron_next looks ahead before it gives up (any expression that
 * can fire at all fires at least every 8 years: Feb 29). */
#define DF_CRON_HORIZON_YEARS 50

/* Parse expr for time zone tz (IANA name; NULL or "" = UTC). NULL on error with err set:
 * DF_ERR_INVALID, err->field "expression" or "timezone", message naming the 1-based position
 * in the expression and what was expected (e.g. "position 9: expected a day of month 1-31, got
 * 32"). The result is owned by the caller: df_cron_free. */
df_cron_t *df_cron_parse(const char *expr, const char *tz, df_error_t *err);

/* Free a parsed expression; NULL is a no-op. */
void df_cron_free(df_cron_t *cron);

/* First fire time strictly after after_ms (Unix ms, UTC) into *next_ms; false when there is none
 * within the search horizon (e.g. "0 0 30 2 *"). const objects are safe to share between threads.
 */
bool df_cron_next(const df_cron_t *cron, int64_t after_ms, int64_t *next_ms);

/* The expression as given, without surrounding spaces. Borrowed. */
const char *df_cron_expression(const df_cron_t *cron);

/* The time zone's name ("UTC" when none was given). Borrowed. */
const char *df_cron_zone(const df_cron_t *cron);

/* True for "@every DURATION"; *period_ms (may be NULL) gets the duration. */
bool df_cron_is_every(const df_cron_t *cron, int64_t *period_ms);

/* ISO 8601 text of unix_ms in the expression's zone with its UTC offset,
 * e.g. "2026-03-29T03:00:00+02:00" (see df_tz_format). Returns the length. */
size_t df_cron_format(const df_cron_t *cron, int64_t unix_ms, char *buf, size_t size);

#endif
