/* cron_test: df_cron and df_tz: parsing (fields, names, steps, macros,
 * @every), errors with positions, next fire times in UTC, day-of-month /
 * day-of-week, leap days, 6-field seconds, daylight-saving changes in
 * Europe/Berlin, America/New_York, Australia/Lord_Howe (30-minute DST),
 * Australia/Sydney, Europe/Dublin (negative DST), Pacific/Apia (a skipped
 * day), America/St_Johns (a fall-back at 00:01), far-future times from
 * the TZif footer rule, ISO 8601 text, and sharing between threads.
 * The fire times of random expressions are checked against croniter by
 * cron_oracle_test. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_cron.h"
#include "df_test.h"
#include "df_tz.h"

/* Instant of ISO 8601 text (with an offset, or local in zone). */
static int64_t at(const char *iso, const char *zone)
{
    df_error_t err;
    int64_t ms = 0;
    const df_tz_t *tz;

    df_error_init(&err);
    tz = df_tz_get(zone, &err);
    REQUIRE(tz != NULL);
    if (!df_tz_parse_time(tz, iso, &ms, &err))
        fprintf(stderr, "bad time in test: %s: %s\n", iso, err.message);
    return ms;
}

/* The next fire times of expr in zone after `from` must be the ISO texts
 * given (NULL-terminated; "none" for no further fire time). */
static void expect_next(const char *expr, const char *zone, const char *from, ...)
{
    df_error_t err;
    df_cron_t *cron;
    int64_t after;
    va_list ap;
    const char *want;

    df_error_init(&err);
    cron = df_cron_parse(expr, zone, &err);
    CHECK_MSG(cron != NULL, "%s: %s", expr, err.message);
    if (!cron)
        return;
    after = at(from, zone);
    va_start(ap, from);
    while ((want = va_arg(ap, const char *)) != NULL) {
        int64_t next = 0;
        char got[64] = "none";
        if (df_cron_next(cron, after, &next)) {
            df_cron_format(cron, next, got, sizeof(got));
            CHECK_MSG(next > after, "%s: %s is not after the previous time", expr, got);
        }
        CHECK_MSG(strcmp(got, want) == 0, "%s [%s] after %s: got %s, want %s", expr,
                  zone ? zone : "UTC", from, got, want);
        if (strcmp(got, "none") == 0)
            break;
        after = next;
    }
    va_end(ap);
    df_cron_free(cron);
}

static void expect_error(const char *expr, const char *zone, const char *field, const char *msg)
{
    df_error_t err;
    df_cron_t *cron;

    df_error_init(&err);
    cron = df_cron_parse(expr, zone, &err);
    CHECK_MSG(cron == NULL, "\"%s\" parsed", expr);
    df_cron_free(cron);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_STR(err.field, field);
    CHECK_MSG(strcmp(err.message, msg) == 0, "\"%s\":\n  got  %s\n  want %s", expr, err.message,
              msg);
}

static void test_fields_utc(void)
{
    expect_next("*/5 * * * *", NULL, "2026-01-01T00:02:00Z", "2026-01-01T00:05:00+00:00",
                "2026-01-01T00:10:00+00:00", NULL);
    /* Strictly after: a fire time is not its own successor. */
    expect_next("0 * * * *", NULL, "2026-01-01T01:00:00Z", "2026-01-01T02:00:00+00:00", NULL);
    expect_next("0 * * * *", NULL, "2026-01-01T00:59:59.999Z", "2026-01-01T01:00:00+00:00", NULL);
    expect_next("10-40/10 3 * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T03:10:00+00:00",
                "2026-01-01T03:20:00+00:00", "2026-01-01T03:30:00+00:00",
                "2026-01-01T03:40:00+00:00", "2026-01-02T03:10:00+00:00", NULL);
    expect_next("5/15 0 * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:05:00+00:00",
                "2026-01-01T00:20:00+00:00", "2026-01-01T00:35:00+00:00",
                "2026-01-01T00:50:00+00:00", "2026-01-02T00:05:00+00:00", NULL);
    expect_next("0 9 * * MON-FRI", NULL, "2026-01-02T10:00:00Z", /* a Friday */
                "2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00", NULL);
    expect_next("0 9 * * mon-fri", NULL, "2026-01-02T10:00:00Z", "2026-01-05T09:00:00+00:00", NULL);
    expect_next("0 0 1 jan,Jul *", NULL, "2026-02-01T00:00:00Z", "2026-07-01T00:00:00+00:00",
                "2027-01-01T00:00:00+00:00", NULL);
    /* 0 and 7 are both Sunday; a range may end on Sunday. */
    expect_next("0 0 * * 7", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00+00:00", NULL);
    expect_next("0 0 * * 0", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00+00:00", NULL);
    expect_next("0 0 * * FRI-SUN", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00+00:00",
                "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
                "2026-01-09T00:00:00+00:00", NULL);
    expect_next("0 0 * * 5-7", NULL, "2026-01-03T12:00:00Z", "2026-01-04T00:00:00+00:00",
                "2026-01-09T00:00:00+00:00", NULL);
    expect_next("0 0 * * */3", NULL, "2026-01-01T00:00:00Z", /* Sun, Wed, Sat */
                "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
                "2026-01-07T00:00:00+00:00", NULL);
    expect_next("15,45 8-9 * * *", NULL, "2026-01-01T08:20:00Z", "2026-01-01T08:45:00+00:00",
                "2026-01-01T09:15:00+00:00", "2026-01-01T09:45:00+00:00",
                "2026-01-02T08:15:00+00:00", NULL);
    /* Spaces and tabs around and between fields. */
    expect_next("  0\t12  *  *  *  ", NULL, "2026-01-01T00:00:00Z", "2026-01-01T12:00:00+00:00",
                NULL);
    /* Before 1970. */
    expect_next("0 0 1 1 *", NULL, "1960-06-01T00:00:00Z", "1961-01-01T00:00:00+00:00", NULL);
}

static void test_seconds(void)
{
    expect_next("*/15 * * * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:00:15+00:00",
                "2026-01-01T00:00:30+00:00", "2026-01-01T00:00:45+00:00",
                "2026-01-01T00:01:00+00:00", NULL);
    expect_next("30 0 0 1 1 *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:00:30+00:00",
                "2027-01-01T00:00:30+00:00", NULL);
    /* Fractions of a second: the next whole matching second after. */
    expect_next("* * * * * *", NULL, "2026-01-01T00:00:00.250Z", "2026-01-01T00:00:01+00:00", NULL);
    expect_next("0,59 59 23 31 12 *", NULL, "2026-12-31T23:59:00Z", "2026-12-31T23:59:59+00:00",
                "2027-12-31T23:59:00+00:00", NULL);
}

static void test_days(void)
{
    /* Both day fields restricted: either matches (13th or a Friday). */
    expect_next("0 0 13 * FRI", NULL, "2026-02-01T00:00:00Z", "2026-02-06T00:00:00+00:00",
                "2026-02-13T00:00:00+00:00", "2026-02-20T00:00:00+00:00",
                "2026-02-27T00:00:00+00:00", "2026-03-06T00:00:00+00:00",
                "2026-03-13T00:00:00+00:00", NULL);
    /* One of them covers every value: the other alone decides. */
    expect_next("0 0 * * FRI", NULL, "2026-02-01T00:00:00Z", "2026-02-06T00:00:00+00:00", NULL);
    expect_next("0 0 1-31 * FRI", NULL, "2026-02-01T00:00:00Z", "2026-02-06T00:00:00+00:00", NULL);
    expect_next("0 0 13 * ?", NULL, "2026-02-01T00:00:00Z", "2026-02-13T00:00:00+00:00", NULL);
    expect_next("0 0 ? * SUN-SAT", NULL, "2026-02-01T00:00:00Z", "2026-02-02T00:00:00+00:00", NULL);
    /* The 31st skips the months that have no 31st. */
    expect_next("0 0 31 * *", NULL, "2026-01-31T00:00:00Z", "2026-03-31T00:00:00+00:00",
                "2026-05-31T00:00:00+00:00", NULL);
    /* Leap days: every fourth year, but not 2100. */
    expect_next("0 0 29 2 *", NULL, "2024-03-01T00:00:00Z", "2028-02-29T00:00:00+00:00",
                "2032-02-29T00:00:00+00:00", NULL);
    expect_next("0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00+00:00", NULL);
    expect_next("0 12 29 FEB *", "Europe/Berlin", "2023-06-01T00:00:00Z",
                "2024-02-29T12:00:00+01:00", NULL);
    /* Never: no month has such a day. */
    expect_next("0 0 30 2 *", NULL, "2026-01-01T00:00:00Z", "none", NULL);
    expect_next("0 0 31 4,6,9,11 *", NULL, "2026-01-01T00:00:00Z", "none", NULL);
    /* ... unless a weekday may match instead. */
    expect_next("0 0 30 2 MON", NULL, "2026-01-01T00:00:00Z", "2026-02-02T00:00:00+00:00", NULL);
}

static void test_macros(void)
{
    expect_next("@hourly", NULL, "2026-01-01T00:30:00Z", "2026-01-01T01:00:00+00:00", NULL);
    expect_next("@daily", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00+00:00", NULL);
    expect_next("@MIDNIGHT", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00+00:00", NULL);
    expect_next("@weekly", NULL, "2026-01-01T00:30:00Z", "2026-01-04T00:00:00+00:00", NULL);
    expect_next("@monthly", NULL, "2026-01-01T00:30:00Z", "2026-02-01T00:00:00+00:00", NULL);
    expect_next("@yearly", NULL, "2026-01-01T00:30:00Z", "2027-01-01T00:00:00+00:00", NULL);
    expect_next("@annually", "Europe/Berlin", "2026-01-01T00:30:00Z", "2027-01-01T00:00:00+01:00",
                NULL);
    expect_next(" @daily ", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00+00:00", NULL);
}

static void test_every(void)
{
    df_error_t err;
    df_cron_t *c;
    int64_t period = 0, next = 0;

    /* Anchored at the Unix epoch: multiples of the period. */
    expect_next("@every 90s", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:01:30+00:00",
                "2026-01-01T00:03:00+00:00", NULL);
    expect_next("@every 1h30m", NULL, "2026-01-01T00:00:00Z", "2026-01-01T01:30:00+00:00",
                "2026-01-01T03:00:00+00:00", NULL);
    expect_next("@EVERY 2d", NULL, "2026-01-01T00:00:00Z", /* day 20454 since the epoch */
                "2026-01-03T00:00:00+00:00", "2026-01-05T00:00:00+00:00", NULL);
    /* Real time, whatever the zone: 15 minutes across a spring-forward. */
    expect_next("@every 15m", "Europe/Berlin", "2024-03-31T01:40:00+01:00",
                "2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:15:00+02:00", NULL);
    df_error_init(&err);
    c = df_cron_parse("@every 1d2h3m4s", NULL, &err);
    REQUIRE(c != NULL);
    CHECK(df_cron_is_every(c, &period));
    CHECK_INT(period, ((26 * 60 + 3) * 60 + 4) * 1000LL);
    CHECK(df_cron_next(c, -1, &next));
    CHECK_INT(next, 0);
    CHECK(df_cron_next(c, 0, &next));
    CHECK_INT(next, period);
    df_cron_free(c);
}

static void test_errors(void)
{
    const char *E = "expression";
    expect_error("", NULL, E,
                 "position 1: expected a cron expression (5 or 6 fields, or a macro such as "
                 "@daily), got nothing");
    expect_error("* * * *", NULL, E,
                 "position 8: expected 5 fields (minute, hour, day of month, month, day of week) "
                 "or 6 (seconds first), got 4: the day of week field is missing");
    expect_error("* * * * * * *", NULL, E,
                 "position 13: expected at most 6 fields (seconds, minute, hour, day of month, "
                 "month, day of week), got a 7th: \"*\"");
    expect_error("0 0 32 * *", NULL, E, "position 5: expected a day of month 1-31, got 32");
    expect_error("30 0 32 * *", NULL, E, "position 6: expected a day of month 1-31, got 32");
    expect_error("0 24 * * *", NULL, E, "position 3: expected an hour 0-23, got 24");
    expect_error("60 * * * * *", NULL, E, "position 1: expected a second 0-59, got 60");
    expect_error("* * * 13 *", NULL, E, "position 7: expected a month 1-12 or JAN-DEC, got 13");
    expect_error("* * * 0 *", NULL, E, "position 7: expected a month 1-12 or JAN-DEC, got 0");
    expect_error("0 0 * * 8", NULL, E, "position 9: expected a day of week 0-7 or SUN-SAT, got 8");
    expect_error("x * * * *", NULL, E, "position 1: expected a minute 0-59, got \"x\"");
    expect_error("5a * * * *", NULL, E, "position 1: expected a minute 0-59, got \"5a\"");
    expect_error("0 0 * JNA *", NULL, E,
                 "position 7: expected a month 1-12 or JAN-DEC, got \"JNA\"");
    expect_error("0 0 * * MONDAY", NULL, E,
                 "position 9: expected a day of week 0-7 or SUN-SAT, got \"MONDAY\"");
    expect_error("MON * * * *", NULL, E, "position 1: expected a minute 0-59, got \"MON\"");
    expect_error("*/0 * * * *", NULL, E, "position 3: expected a step 1-60 after '/', got 0");
    expect_error("*/61 * * * *", NULL, E, "position 3: expected a step 1-60 after '/', got 61");
    expect_error("0 0 * * */8", NULL, E, "position 11: expected a step 1-7 after '/', got 8");
    expect_error("*/ * * * *", NULL, E, "position 3: expected a step 1-60 after '/', got nothing");
    expect_error("*/x * * * *", NULL, E, "position 3: expected a step 1-60 after '/', got \"x\"");
    expect_error("40-10 * * * *", NULL, E,
                 "position 1: expected a range whose start is not after its end, got \"40-10\"");
    expect_error("1,,2 * * * *", NULL, E, "position 3: expected a minute 0-59, got nothing");
    expect_error("1, * * * *", NULL, E, "position 3: expected a minute 0-59, got nothing");
    expect_error("5- * * * *", NULL, E, "position 3: expected a minute 0-59, got nothing");
    expect_error("*-5 * * * *", NULL, E,
                 "position 2: expected '/', ',' or the end of the field after \"*\", got \"-5\"");
    expect_error("0 0 * * MON#2", NULL, E,
                 "position 12: expected '-', '/', ',' or the end of the field after \"MON\", got "
                 "\"#2\"");
    expect_error("0 0 L * *", NULL, E, "position 5: expected a day of month 1-31, got \"L\"");
    expect_error("? * * * *", NULL, E, "position 1: expected a minute 0-59, got \"?\"");
    expect_error("H * * * *", NULL, E, "position 1: expected a minute 0-59, got \"H\"");
    expect_error("99999999999 * * * *", NULL, E,
                 "position 1: expected a minute 0-59, got 99999999...");
    expect_error("@dayly", NULL, E,
                 "position 1: expected a macro (@hourly, @daily, @midnight, @weekly, @monthly, "
                 "@yearly, @annually or @every DURATION), got \"@dayly\"");
    expect_error("@daily 5", NULL, E, "position 8: expected nothing after @daily, got \"5\"");
    expect_error("@every", NULL, E,
                 "position 7: expected a duration such as 90s, 15m, 1h30m or 2d, got nothing");
    expect_error("@every 90", NULL, E,
                 "position 10: expected a unit (d, h, m or s) after 90, got nothing");
    expect_error("@every 90x", NULL, E,
                 "position 10: expected a unit (d, h, m or s) after 90, got \"x\"");
    expect_error("@every 0s", NULL, E,
                 "position 8: expected a duration of at least 1s, got \"0s\"");
    expect_error("@every 1m30h", NULL, E,
                 "position 12: expected units in the order d, h, m, s, each at most once, got h");
    expect_error("@every 4000d", NULL, E,
                 "position 8: expected a duration of at most 3650d, got \"4000d\"");
    expect_error("@every 1h x", NULL, E,
                 "position 11: expected nothing after the duration, got \"x\"");
    {
        char longer[DF_CRON_EXPR_MAX + 8];
        memset(longer, '1', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        expect_error(longer, NULL, E, "position 257: expected at most 256 characters, got 263");
    }
    expect_error("0 * * * *", "Mars/Olympus_Mons", "timezone",
                 "expected an IANA time zone name such as Europe/Berlin, got "
                 "\"Mars/Olympus_Mons\" (/usr/share/zoneinfo/Mars/Olympus_Mons: No such file or "
                 "directory)");
    expect_error("0 * * * *", "../../etc/passwd", "timezone",
                 "expected an IANA time zone name such as Europe/Berlin, got \"../../etc/passwd\"");
    expect_error("0 * * * *", "Europe", "timezone",
                 "expected an IANA time zone name such as Europe/Berlin, got \"Europe\" "
                 "(/usr/share/zoneinfo/Europe: not a TZif file)");
    /* The expression is checked before the zone. */
    expect_error("0 0 32 * *", "Mars/Olympus_Mons", E,
                 "position 5: expected a day of month 1-31, got 32");
}

/* Europe/Berlin: 2024-03-31 02:00 CET -> 03:00 CEST; 2024-10-27 03:00 CEST -> 02:00 CET. */
static void test_dst_berlin(void)
{
    const char *z = "Europe/Berlin";
    /* A slot inside the gap fires once, when the clock jumps. */
    expect_next("30 2 * * *", z, "2024-03-30T12:00", "2024-03-31T03:00:00+02:00",
                "2024-04-01T02:30:00+02:00", NULL);
    expect_next("0,45 2-3 * * *", z, "2024-03-31T00:30", "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:45:00+02:00", "2024-04-01T02:00:00+02:00", NULL);
    /* Following the wall clock (every hour): the skipped times do not exist. */
    expect_next("*/15 * * * *", z, "2024-03-31T01:30", "2024-03-31T01:45:00+01:00",
                "2024-03-31T03:00:00+02:00", "2024-03-31T03:15:00+02:00", NULL);
    expect_next("30 * * * *", z, "2024-03-31T01:00", "2024-03-31T01:30:00+01:00",
                "2024-03-31T03:30:00+02:00", NULL);
    /* A repeated slot fires in the first pass only... */
    expect_next("30 2 * * *", z, "2024-10-26T12:00", "2024-10-27T02:30:00+02:00",
                "2024-10-28T02:30:00+01:00", NULL);
    expect_next("*/20 2 * * *", z, "2024-10-27T01:00", "2024-10-27T02:00:00+02:00",
                "2024-10-27T02:20:00+02:00", "2024-10-27T02:40:00+02:00",
                "2024-10-28T02:00:00+01:00", NULL);
    /* ... and in both when the expression follows the wall clock. */
    expect_next("*/30 * * * *", z, "2024-10-27T01:00", "2024-10-27T01:30:00+02:00",
                "2024-10-27T02:00:00+02:00", "2024-10-27T02:30:00+02:00",
                "2024-10-27T02:00:00+01:00", "2024-10-27T02:30:00+01:00",
                "2024-10-27T03:00:00+01:00", NULL);
    expect_next("@hourly", z, "2024-10-27T00:30", "2024-10-27T01:00:00+02:00",
                "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
                "2024-10-27T03:00:00+01:00", NULL);
    /* Starting inside the second pass: the repeated slot already fired. */
    expect_next("30 2 * * *", z, "2024-10-27T02:10:00+01:00", "2024-10-28T02:30:00+01:00", NULL);
    expect_next("*/30 * * * *", z, "2024-10-27T02:10:00+01:00", "2024-10-27T02:30:00+01:00", NULL);
    /* Midnight and days are local. */
    expect_next("@daily", z, "2024-03-30T12:00", "2024-03-31T00:00:00+01:00",
                "2024-04-01T00:00:00+02:00", NULL);
    /* Far beyond the table in the file: the footer rule (last Sunday of March). */
    expect_next("0 2 * * *", z, "2100-03-27T12:00", "2100-03-28T03:00:00+02:00",
                "2100-03-29T02:00:00+02:00", NULL);
    expect_next("0 3 * 3 SUN", z, "2300-03-20T00:00", "2300-03-25T03:00:00+02:00", NULL);
}

/* America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT; 2025-11-02 02:00 EDT -> 01:00 EST. */
static void test_dst_new_york(void)
{
    const char *z = "America/New_York";
    expect_next("30 2 * * *", z, "2025-03-08T12:00", "2025-03-09T03:00:00-04:00",
                "2025-03-10T02:30:00-04:00", NULL);
    expect_next("0 2 * * *", z, "2025-03-08T12:00", "2025-03-09T03:00:00-04:00", NULL);
    expect_next("30 1 * * *", z, "2025-11-01T12:00", "2025-11-02T01:30:00-04:00",
                "2025-11-03T01:30:00-05:00", NULL);
    expect_next("30 * * * *", z, "2025-11-02T00:45", "2025-11-02T01:30:00-04:00",
                "2025-11-02T01:30:00-05:00", "2025-11-02T02:30:00-05:00", NULL);
    expect_next("0 0 * * *", z, "2024-11-02T12:00", "2024-11-03T00:00:00-04:00",
                "2024-11-04T00:00:00-05:00", NULL);
}

/* Australia/Lord_Howe moves by 30 minutes: 2024-10-06 02:00 (+10:30) ->
 * 02:30 (+11:00); 2025-04-06 02:00 (+11:00) -> 01:30 (+10:30). */
static void test_dst_lord_howe(void)
{
    const char *z = "Australia/Lord_Howe";
    expect_next("15 2 * * *", z, "2024-10-05T12:00", "2024-10-06T02:30:00+11:00",
                "2024-10-07T02:15:00+11:00", NULL);
    expect_next("*/10 * * * *", z, "2024-10-06T01:45", "2024-10-06T01:50:00+10:30",
                "2024-10-06T02:30:00+11:00", "2024-10-06T02:40:00+11:00", NULL);
    expect_next("45 1 * * *", z, "2025-04-05T12:00", "2025-04-06T01:45:00+11:00",
                "2025-04-07T01:45:00+10:30", NULL);
    expect_next("*/15 * * * *", z, "2025-04-06T01:20:00+11:00", "2025-04-06T01:30:00+11:00",
                "2025-04-06T01:45:00+11:00", "2025-04-06T01:30:00+10:30",
                "2025-04-06T01:45:00+10:30", "2025-04-06T02:00:00+10:30", NULL);
    /* 6 fields inside the gap: the slot fires when the clock jumps. */
    expect_next("30 10 2 * * *", z, "2024-10-05T12:00", "2024-10-06T02:30:00+11:00",
                "2024-10-07T02:10:30+11:00", NULL);
}

/* Southern hemisphere and negative DST. */
static void test_dst_other_zones(void)
{
    /* Sydney: 2025-04-06 03:00 AEDT -> 02:00 AEST; 2025-10-05 02:00 AEST -> 03:00 AEDT. */
    expect_next("30 2 * * *", "Australia/Sydney", "2025-04-05T12:00", "2025-04-06T02:30:00+11:00",
                "2025-04-07T02:30:00+10:00", NULL);
    expect_next("30 2 * * *", "Australia/Sydney", "2025-10-04T12:00", "2025-10-05T03:00:00+11:00",
                "2025-10-06T02:30:00+11:00", NULL);
    /* Dublin (standard time in summer, negative DST in winter): 2025-03-30 01:00 GMT -> 02:00 IST.
     */
    expect_next("0 1 * * *", "Europe/Dublin", "2025-03-29T12:00", "2025-03-30T02:00:00+01:00",
                "2025-03-31T01:00:00+01:00", NULL);
    /* Apia skipped 2011-12-30 (-10:00 -> +14:00): a time-of-day slot on the
     * lost day fires when the clock jumps, the wall clock goes on after it. */
    expect_next("0 12 * * *", "Pacific/Apia", "2011-12-29T00:00", "2011-12-29T12:00:00-10:00",
                "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00", NULL);
    expect_next("0 0 30 12 *", "Pacific/Apia", "2011-06-01T00:00", "2011-12-31T00:00:00+14:00",
                "2012-12-30T00:00:00+14:00", NULL);
    expect_next("30 * * * *", "Pacific/Apia", "2011-12-29T22:45", "2011-12-29T23:30:00-10:00",
                "2011-12-31T00:30:00+14:00", NULL);
    /* St John's went back at 00:01 (1990-10-28 00:01 NDT -> 1990-10-27 23:01 NST):
     * the repeated wall time spans midnight. */
    expect_next("*/15 * * * *", "America/St_Johns", "1990-10-27T23:40:00-02:30",
                "1990-10-27T23:45:00-02:30", "1990-10-28T00:00:00-02:30",
                "1990-10-27T23:15:00-03:30", "1990-10-27T23:30:00-03:30",
                "1990-10-27T23:45:00-03:30", "1990-10-28T00:00:00-03:30",
                "1990-10-28T00:15:00-03:30", NULL);
    expect_next("30 23 * * *", "America/St_Johns", "1990-10-27T12:00", "1990-10-27T23:30:00-02:30",
                "1990-10-28T23:30:00-03:30", NULL);
    /* A zone without DST, and UTC by name. */
    expect_next("0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00+05:30",
                NULL);
    expect_next("0 9 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00+00:00", NULL);
    expect_next("0 9 * * *", "Etc/UTC", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00+00:00", NULL);
}

static void test_accessors(void)
{
    df_error_t err;
    df_cron_t *c;

    df_error_init(&err);
    c = df_cron_parse("  0 9 * * MON-FRI  ", "Europe/Berlin", &err);
    REQUIRE(c != NULL);
    CHECK_STR(df_cron_expression(c), "0 9 * * MON-FRI");
    CHECK_STR(df_cron_zone(c), "Europe/Berlin");
    CHECK(!df_cron_is_every(c, NULL));
    df_cron_free(c);
    c = df_cron_parse("@daily", NULL, &err);
    REQUIRE(c != NULL);
    CHECK_STR(df_cron_zone(c), "UTC");
    df_cron_free(c);
    c = df_cron_parse("@daily", "", &err);
    REQUIRE(c != NULL);
    CHECK_STR(df_cron_zone(c), "UTC");
    df_cron_free(c);
    df_cron_free(NULL);
}

static void test_tz_text(void)
{
    df_error_t err;
    const df_tz_t *berlin, *utc = df_tz_utc();
    char buf[64];
    int64_t ms = 0;

    df_error_init(&err);
    berlin = df_tz_get("Europe/Berlin", &err);
    REQUIRE(berlin != NULL);
    CHECK(df_tz_get("Europe/Berlin", &err) == berlin); /* cached */
    df_tz_format(berlin, 1711846800000LL, buf, sizeof(buf));
    CHECK_STR(buf, "2024-03-31T03:00:00+02:00");
    df_tz_format(utc, 1711846800123LL, buf, sizeof(buf));
    CHECK_STR(buf, "2024-03-31T01:00:00.123+00:00");
    df_tz_format(utc, -1, buf, sizeof(buf));
    CHECK_STR(buf, "1969-12-31T23:59:59.999+00:00");
    CHECK(df_tz_parse_time(utc, "2024-03-31T01:00:00Z", &ms, &err));
    CHECK_INT(ms, 1711846800000LL);
    CHECK(df_tz_parse_time(utc, "2024-03-31T03:00:00+02:00", &ms, &err));
    CHECK_INT(ms, 1711846800000LL);
    CHECK(df_tz_parse_time(utc, "2024-03-31T03:00:00.5+0200", &ms, &err));
    CHECK_INT(ms, 1711846800500LL);
    CHECK(df_tz_parse_time(berlin, "2024-03-31 03:00", &ms, &err));
    CHECK_INT(ms, 1711846800000LL);
    CHECK(df_tz_parse_time(berlin, "2024-03-31", &ms, &err));
    CHECK_INT(ms, 1711839600000LL); /* 00:00 CET */
    /* Local times: a skipped one reads with the offset before the change, a
     * repeated one is its first occurrence. */
    CHECK(df_tz_parse_time(berlin, "2024-03-31T02:30", &ms, &err));
    CHECK_INT(ms, 1711848600000LL); /* 01:30Z = 03:30 CEST */
    CHECK(df_tz_parse_time(berlin, "2024-10-27T02:30", &ms, &err));
    CHECK_INT(ms, 1729989000000LL); /* 00:30Z = 02:30 CEST */
    CHECK(!df_tz_parse_time(utc, "2024-02-30T00:00:00Z", &ms, &err));
    CHECK(!df_tz_parse_time(utc, "yesterday", &ms, &err));
    CHECK(strstr(err.message, "expected an ISO 8601 time") != NULL);
    CHECK(!df_tz_parse_time(utc, "2024-03-31T25:00:00Z", &ms, &err));
    CHECK(!df_tz_parse_time(utc, "2024-03-31T01:00:00Zjunk", &ms, &err));
}

/* One parsed expression shared by threads gives each the same answers. */
typedef struct thread_case {
    const df_cron_t *cron;
    int64_t from;
    int64_t got[200];
} thread_case_t;

static void *walk(void *arg)
{
    thread_case_t *tc = arg;
    int64_t after = tc->from;
    for (int i = 0; i < 200; i++) {
        if (!df_cron_next(tc->cron, after, &tc->got[i]))
            tc->got[i] = -1;
        after = tc->got[i];
    }
    return NULL;
}

static void *parse_zones(void *arg)
{
    static const char *zones[] = { "Asia/Tokyo", "America/Chicago", "Africa/Cairo",
                                   "Pacific/Chatham", "America/Santiago" };
    int *ok = arg;
    *ok = 1;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
            df_error_t err;
            df_cron_t *c;
            df_error_init(&err);
            c = df_cron_parse("0 * * * *", zones[i], &err);
            if (!c || strcmp(df_cron_zone(c), zones[i]) != 0)
                *ok = 0;
            df_cron_free(c);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    df_error_t err;
    df_cron_t *c;
    thread_case_t cases[4], ref;
    pthread_t th[4];
    int ok[4];

    df_error_init(&err);
    c = df_cron_parse("*/7 1-3 * * *", "America/New_York", &err);
    REQUIRE(c != NULL);
    ref.cron = c;
    ref.from = at("2025-10-20T00:00:00Z", NULL);
    walk(&ref);
    for (int i = 0; i < 4; i++) {
        cases[i].cron = c;
        cases[i].from = ref.from;
        CHECK(pthread_create(&th[i], NULL, walk, &cases[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(memcmp(cases[i].got, ref.got, sizeof(ref.got)) == 0);
    }
    df_cron_free(c);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, parse_zones, &ok[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(ok[i] == 1);
    }
}

int main(void)
{
    RUN(test_fields_utc);
    RUN(test_seconds);
    RUN(test_days);
    RUN(test_macros);
    RUN(test_every);
    RUN(test_errors);
    RUN(test_dst_berlin);
    RUN(test_dst_new_york);
    RUN(test_dst_lord_howe);
    RUN(test_dst_other_zones);
    RUN(test_accessors);
    RUN(test_tz_text);
    RUN(test_threads);
    return df_test_done();
}
