/* schedule_slot: which due slots fire under each misfire policy, derived
 * slot ids and traceparents, and the task a slot publishes. */
#include <string.h>

#include "df_test.h"
#include "schedule_slot.h"

#define T      1700000000000LL /* a whole second (2023-11-14T22:13:20Z) */
#define SEC    1000LL
#define GRACE  2000LL
#define DAY_MS 86400000LL

static int64_t slots[DF_SCHEDULE_SLOTS_MAX];

static df_cron_t *parse(const char *expr)
{
    df_error_t err;
    df_cron_t *cron;

    df_error_init(&err);
    cron = df_cron_parse(expr, "UTC", &err);
    REQUIRE(cron != NULL);
    return cron;
}

/* Slots are ascending, one second apart, from first to last. */
static void check_run(size_t n, int64_t first, int64_t last)
{
    CHECK_INT(n, (last - first) / SEC + 1);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(slots[i], first + (int64_t)i * SEC);
}

static void on_time_slots_each_fire(void)
{
    df_cron_t *every = parse("* * * * * *");
    bool dropped = true;
    size_t n;

    /* not due yet */
    CHECK_INT(df_schedule_slots(every, T, T - 1, DF_MISFIRE_COALESCE, 10, GRACE, slots, &dropped),
              0);
    /* the usual case: one slot, a few ms late */
    n = df_schedule_slots(every, T, T + 3, DF_MISFIRE_COALESCE, 10, GRACE, slots, &dropped);
    check_run(n, T, T);
    CHECK(!dropped);
    /* a slow tick: every due slot is within the grace, so each fires, whatever the policy */
    for (int p = 0; p < 3; p++) {
        n = df_schedule_slots(every, T, T + GRACE, (df_misfire_t)p, 0, GRACE, slots, &dropped);
        check_run(n, T, T + GRACE);
        CHECK(!dropped);
    }
    df_cron_free(every);
}

static void coalesce_fires_the_latest_slot_once(void)
{
    df_cron_t *every = parse("* * * * * *");
    bool dropped = false;
    size_t n;

    /* down 10.3 s: slots T .. T+10 s are due, the oldest ones missed */
    n = df_schedule_slots(every, T, T + 10300, DF_MISFIRE_COALESCE, 10, GRACE, slots, &dropped);
    check_run(n, T + 10 * SEC, T + 10 * SEC);
    CHECK(dropped);
    /* exactly one slot past the grace is enough to coalesce */
    n = df_schedule_slots(every, T, T + GRACE + 1, DF_MISFIRE_COALESCE, 10, GRACE, slots, &dropped);
    check_run(n, T + GRACE, T + GRACE);
    CHECK(dropped);
    df_cron_free(every);
}

static void skip_fires_only_on_time_slots(void)
{
    df_cron_t *every = parse("* * * * * *");
    bool dropped = false;
    size_t n;

    /* on time: now - slot <= 2 s, i.e. T+8.3 s .. T+10.3 s: T+9 and T+10 */
    n = df_schedule_slots(every, T, T + 10300, DF_MISFIRE_SKIP, 10, GRACE, slots, &dropped);
    check_run(n, T + 9 * SEC, T + 10 * SEC);
    CHECK(dropped);
    /* the boundary: a slot exactly the grace late is on time */
    n = df_schedule_slots(every, T, T + 10 * SEC, DF_MISFIRE_SKIP, 10, GRACE, slots, &dropped);
    check_run(n, T + 8 * SEC, T + 10 * SEC);
    /* everything missed and nothing on time (an hourly schedule, down 3 h) */
    {
        df_cron_t *hourly = parse("0 0 * * * *");
        n = df_schedule_slots(hourly, T - 3 * 3600 * SEC + 200 * SEC, T + 100 * SEC,
                              DF_MISFIRE_SKIP, 10, GRACE, slots, &dropped);
        CHECK_INT(n, 0);
        CHECK(dropped);
        df_cron_free(hourly);
    }
    df_cron_free(every);
}

static void catch_up_fires_the_latest_missed_up_to_the_limit(void)
{
    df_cron_t *every = parse("* * * * * *");
    bool dropped = true;
    size_t n;

    /* limit 3: the 3 latest missed (T+6..T+8) and the on-time ones (T+9, T+10) */
    n = df_schedule_slots(every, T, T + 10300, DF_MISFIRE_CATCH_UP, 3, GRACE, slots, &dropped);
    check_run(n, T + 6 * SEC, T + 10 * SEC);
    CHECK(dropped);
    /* a limit above what was missed: every slot, nothing dropped */
    n = df_schedule_slots(every, T, T + 10300, DF_MISFIRE_CATCH_UP, 100, GRACE, slots, &dropped);
    check_run(n, T, T + 10 * SEC);
    CHECK(!dropped);
    /* limit 0 is skip */
    n = df_schedule_slots(every, T, T + 10300, DF_MISFIRE_CATCH_UP, 0, GRACE, slots, &dropped);
    check_run(n, T + 9 * SEC, T + 10 * SEC);
    CHECK(dropped);
    /* a limit above the hard maximum is held to it */
    n = df_schedule_slots(every, T, T + 5000 * SEC, DF_MISFIRE_CATCH_UP, 1000000, GRACE, slots,
                          &dropped);
    check_run(n, T + 5000 * SEC - GRACE - DF_SCHEDULE_CATCH_UP_MAX * SEC, T + 5000 * SEC);
    CHECK(dropped);
    df_cron_free(every);
}

static void a_year_of_missed_seconds_costs_little(void)
{
    df_cron_t *every = parse("* * * * * *");
    bool dropped = false;
    size_t n;

    n = df_schedule_slots(every, T - 365 * DAY_MS, T + 500, DF_MISFIRE_COALESCE, 10, GRACE, slots,
                          &dropped);
    check_run(n, T, T);
    CHECK(dropped);
    n = df_schedule_slots(every, T - 365 * DAY_MS, T + 500, DF_MISFIRE_CATCH_UP, 10, GRACE, slots,
                          &dropped);
    check_run(n, T - 11 * SEC, T);
    n = df_schedule_slots(every, T - 365 * DAY_MS, T + 500, DF_MISFIRE_SKIP, 10, GRACE, slots,
                          &dropped);
    check_run(n, T - 1 * SEC, T);
    df_cron_free(every);
}

static void minute_schedule(void)
{
    df_cron_t *minutely = parse("* * * * *"); /* 5 fields: second 0 of each minute */
    int64_t minute = T - T % 60000 + 60000;
    bool dropped = true;
    size_t n;

    n = df_schedule_slots(minutely, minute, minute + 30 * SEC, DF_MISFIRE_COALESCE, 10, GRACE,
                          slots, &dropped);
    CHECK_INT(n, 1);
    CHECK_INT(slots[0], minute);
    CHECK(!dropped);
    /* down 3 min 30 s with catch_up: the 3 missed minutes and the one on time */
    n = df_schedule_slots(minutely, minute, minute + 3 * 60000 + 1000, DF_MISFIRE_CATCH_UP, 10,
                          GRACE, slots, &dropped);
    CHECK_INT(n, 4);
    CHECK_INT(slots[3], minute + 3 * 60000);
    df_cron_free(minutely);
}

static void derived_ids(void)
{
    char a[DF_ID_BUF], b[DF_ID_BUF], c[DF_ID_BUF], d[DF_ID_BUF];
    char tp1[DF_SCHEDULE_TRACEPARENT], tp2[DF_SCHEDULE_TRACEPARENT];
    char expect[DF_ID_BUF];
    uint8_t zero[10] = { 0 };

    df_schedule_slot_id("sched-1", T, a);
    df_schedule_slot_id("sched-1", T, b);
    df_schedule_slot_id("sched-1", T + SEC, c);
    df_schedule_slot_id("sched-2", T, d);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK(strcmp(a, d) != 0);
    CHECK(df_id_valid(a));
    CHECK_INT(strlen(a), DF_ULID_LEN);
    /* the ULID's time part is the fire time */
    df_id_ulid_at(expect, T, zero);
    CHECK(strncmp(a, expect, 10) == 0);
    df_schedule_slot_traceparent("sched-1", T, tp1);
    df_schedule_slot_traceparent("sched-1", T, tp2);
    CHECK_STR(tp1, tp2);
    CHECK_INT(strlen(tp1), 55);
    CHECK(strncmp(tp1, "00-", 3) == 0 && tp1[35] == '-' && strcmp(tp1 + 52, "-01") == 0);
    df_schedule_slot_traceparent("sched-1", T + SEC, tp2);
    CHECK(strcmp(tp1, tp2) != 0);
}

static void slot_task_and_template_check(void)
{
    json_t *tmpl = json_pack("{s:s, s:s, s:{s:i}, s:{s:s}}", "type", "export", "connector", "noop",
                             "params", "sleep_ms", 5, "labels", "team", "bi");
    char id[DF_ID_BUF];
    df_error_t err;
    json_t *task;

    df_error_init(&err);
    CHECK_INT(df_schedule_template_check(tmpl, "nightly", &err), DF_OK);
    task = df_schedule_task(tmpl, "sched-1", "nightly", T, &err);
    REQUIRE(task != NULL);
    df_schedule_slot_id("sched-1", T, id);
    CHECK_STR(json_string_value(json_object_get(task, "task_id")), id);
    CHECK_STR(json_string_value(json_object_get(task, "schedule_id")), "sched-1");
    CHECK_STR(json_string_value(json_object_get(task, "submitted_by")), "scheduler:nightly");
    CHECK_INT(json_integer_value(json_object_get(task, "attempt")), 1);
    CHECK(json_object_get(task, "submitted_at") != NULL);
    CHECK(json_object_get(tmpl, "task_id") == NULL); /* the template is not touched */
    json_decref(task);

    json_object_set_new(tmpl, "task_id", json_string(id));
    CHECK_INT(df_schedule_template_check(tmpl, "nightly", &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "/task_id");
    json_object_del(tmpl, "task_id");

    json_object_set_new(json_object_get(tmpl, "params"), "fail", json_string("sometimes"));
    df_error_init(&err);
    CHECK_INT(df_schedule_template_check(tmpl, "nightly", &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "/params/fail");
    json_decref(tmpl);

    tmpl = json_pack("{s:s}", "type", "export");
    df_error_init(&err);
    CHECK_INT(df_schedule_template_check(tmpl, "nightly", &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "/connector");
    json_decref(tmpl);

    tmpl = json_string("not an object");
    CHECK_INT(df_schedule_template_check(tmpl, "nightly", &err), DF_ERR_INVALID);
    json_decref(tmpl);
}

static void misfire_names(void)
{
    df_misfire_t p = DF_MISFIRE_SKIP;

    CHECK(df_misfire_parse("catch_up", &p) && p == DF_MISFIRE_CATCH_UP);
    CHECK(df_misfire_parse("coalesce", &p) && p == DF_MISFIRE_COALESCE);
    CHECK(!df_misfire_parse("catchup", &p));
    CHECK(!df_misfire_parse(NULL, &p));
    CHECK_STR(df_misfire_name(DF_MISFIRE_SKIP), "skip");
}

int main(void)
{
    RUN(on_time_slots_each_fire);
    RUN(coalesce_fires_the_latest_slot_once);
    RUN(skip_fires_only_on_time_slots);
    RUN(catch_up_fires_the_latest_missed_up_to_the_limit);
    RUN(a_year_of_missed_seconds_costs_little);
    RUN(minute_schedule);
    RUN(derived_ids);
    RUN(slot_task_and_template_check);
    RUN(misfire_names);
    return df_test_done();
}
