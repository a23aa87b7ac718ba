/* schedule_slot: which slots of a schedule fire, their derived ids, and the
 * task a slot publishes (see schedule_slot.h). */
#include "schedule_slot.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "df_task.h"

#define FIRST_WINDOW_MS 60000 /* latest_slots looks this far back first */
#define SUBMITTED_BY    "scheduler:"

bool df_misfire_parse(const char *text, df_misfire_t *out)
{
    static const char *const names[] = { "coalesce", "skip", "catch_up" };

    for (int i = 0; text && i < 3; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (df_misfire_t)i;
            return true;
        }
    }
    return false;
}

const char *df_misfire_name(df_misfire_t policy)
{
    switch (policy) {
    case DF_MISFIRE_COALESCE: return "coalesce";
    case DF_MISFIRE_SKIP: return "skip";
    case DF_MISFIRE_CATCH_UP: return "catch_up";
    }
    return "coalesce";
}

/* ---- which slots ---- */

static void reverse(int64_t *v, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        int64_t t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
}

/* The latest cap slots of cron in (after, upto], ascending, into out.
 * Returns how many; *more tells whether older slots of the range were left
 * out. A range of years of one-second slots costs little: the range is
 * walked from its end backwards in growing windows (60 s, x8 each time)
 * until a window holds cap slots or reaches `after`, and only that window
 * is enumerated. */
static size_t latest_slots(const df_cron_t *cron, int64_t after, int64_t upto, size_t cap,
                           int64_t *out, bool *more)
{
    int64_t window = FIRST_WINDOW_MS, s;

    *more = false;
    if (upto <= after)
        return 0;
    if (cap == 0) {
        *more = df_cron_next(cron, after, &s) && s <= upto;
        return 0;
    }
    for (;;) {
        int64_t from = upto - after > window ? upto - window : after;
        int64_t t = from;
        size_t total = 0, n, start;

        while (df_cron_next(cron, t, &s) && s <= upto && s > t) {
            out[total % cap] = s;
            total++;
            t = s;
        }
        if (total < cap && from > after) {
            window = window > INT64_MAX / 8 ? INT64_MAX : window * 8;
            continue;
        }
        n = total < cap ? total : cap;
        start = total > cap ? total % cap : 0;
        /* out is a ring whose oldest element is at start: rotate it. */
        reverse(out, start);
        reverse(out + start, n - start);
        reverse(out, n);
        *more = total > cap || (from > after && df_cron_next(cron, after, &s) && s <= from);
        return n;
    }
}

size_t df_schedule_slots(const df_cron_t *cron, int64_t next_fire_ms, int64_t now_ms,
                         df_misfire_t policy, int64_t catch_up_limit, int64_t grace_ms,
                         int64_t *slots, bool *dropped)
{
    int64_t after = next_fire_ms - 1;     /* due: (after, now] */
    int64_t edge = now_ms - grace_ms - 1; /* missed: (after, edge]; on time: (edge, now] */
    int64_t first;
    bool any_missed, missed_more = false, on_time_more = false;
    size_t n = 0, cap;

    if (dropped)
        *dropped = false;
    if (now_ms < next_fire_ms)
        return 0;
    any_missed = edge > after && df_cron_next(cron, after, &first) && first <= edge;
    if (any_missed && policy == DF_MISFIRE_COALESCE) {
        n = latest_slots(cron, after, now_ms, 1, slots, &missed_more);
        if (dropped)
            *dropped = missed_more;
        return n;
    }
    if (any_missed && policy == DF_MISFIRE_CATCH_UP) {
        cap = catch_up_limit < 0                          ? 0
              : catch_up_limit > DF_SCHEDULE_CATCH_UP_MAX ? DF_SCHEDULE_CATCH_UP_MAX
                                                          : (size_t)catch_up_limit;
        n = latest_slots(cron, after, edge, cap, slots, &missed_more);
    } else {
        missed_more = any_missed;
    }
    n += latest_slots(cron, edge > after ? edge : after, now_ms, DF_SCHEDULE_ON_TIME_MAX, slots + n,
                      &on_time_more);
    if (dropped)
        *dropped = missed_more || on_time_more;
    return n;
}

/* ---- derived ids ---- */

/* SHA-256 of "<schedule id>\n<fire ms>". */
static void slot_hash(const char *schedule_id, int64_t fire_ms, unsigned char out[32])
{
    char text[256];
    unsigned int len = 0;
    int n = snprintf(text, sizeof(text), "%s\n%lld", schedule_id, (long long)fire_ms);

    if (n < 0 || (size_t)n >= sizeof(text))
        n = (int)strnlen(text, sizeof(text) - 1);
    if (EVP_Digest(text, (size_t)n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
        memset(out, 0x5a, 32); /* cannot happen with OpenSSL's built-in SHA-256 */
}

void df_schedule_slot_id(const char *schedule_id, int64_t fire_ms, char *buf)
{
    unsigned char h[32];

    slot_hash(schedule_id, fire_ms, h);
    df_id_ulid_at(buf, fire_ms, h);
}

void df_schedule_slot_traceparent(const char *schedule_id, int64_t fire_ms, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[32];
    char *p = buf;

    /* trace id: bytes 16..31 of the hash; parent id: bytes 8..15 */
    slot_hash(schedule_id, fire_ms, h);
    h[31] |= 1; /* an all-zero trace id or parent id is invalid */
    h[15] |= 1;
    memcpy(p, "00-", 3);
    p += 3;
    for (int i = 16; i < 32; i++) {
        *p++ = hex[h[i] >> 4];
        *p++ = hex[h[i] & 15];
    }
    *p++ = '-';
    for (int i = 8; i < 16; i++) {
        *p++ = hex[h[i] >> 4];
        *p++ = hex[h[i] & 15];
    }
    memcpy(p, "-01", 4);
}

/* ---- the slot's task ---- */

json_t *df_schedule_task(const json_t *template, const char *schedule_id, const char *name,
                         int64_t fire_ms, df_error_t *err)
{
    char id[DF_ID_BUF], at[40], by[DF_SCHEDULE_SUBMITTED_MAX];
    json_t *task;

    if (!json_is_object(template)) {
        df_error_set(err, DF_ERR_INVALID, "task_template", "expected a JSON object");
        return NULL;
    }
    task = json_deep_copy(template);
    if (!task) {
        df_error_set(err, DF_ERR_NOMEM, "task_template", "out of memory");
        return NULL;
    }
    df_schedule_slot_id(schedule_id, fire_ms, id);
    df_time_format(df_now_ms(), at, sizeof(at));
    snprintf(by, sizeof(by), "%s%s", SUBMITTED_BY, name);
    json_object_set_new(task, "task_id", json_string(id));
    json_object_set_new(task, "schedule_id", json_string(schedule_id));
    json_object_set_new(task, "attempt", json_integer(1));
    json_object_set_new(task, "submitted_at", json_string(at));
    json_object_set_new(task, "submitted_by", json_string(by));
    if (!json_object_get(task, "params"))
        json_object_set_new(task, "params", json_object());
    return task;
}

df_code_t df_schedule_template_check(const json_t *template, const char *name, df_error_t *err)
{
    static const struct {
        const char *field, *why;
    } slot_fields[] = {
        { "task_id",
          "is set by the scheduler for each slot (derived from schedule and fire time)" },
        { "attempt", "is set by the scheduler for each slot" },
        { "submitted_at", "is set by the scheduler for each slot" },
        { "submitted_by", "is set by the scheduler (\"scheduler:<schedule name>\")" },
        { "schedule_id", "is set by the scheduler for each slot" },
        { "pipeline", "is set by pipeline runs: a schedule starts a pipeline with --pipeline" },
        { "deadline", "is a fixed time, which every later slot would be past: leave it out" },
    };
    char path[64];
    json_t *task;
    df_code_t rc;

    if (!json_is_object(template))
        return df_error_set(err, DF_ERR_INVALID, "", "expected a JSON object (the task template)");
    for (size_t i = 0; i < sizeof(slot_fields) / sizeof(slot_fields[0]); i++) {
        if (json_object_get(template, slot_fields[i].field)) {
            snprintf(path, sizeof(path), "/%s", slot_fields[i].field);
            return df_error_set(err, DF_ERR_INVALID, path, "%s", slot_fields[i].why);
        }
    }
    task = df_schedule_task(template, "template-check", name, df_now_ms(), err);
    if (!task)
        return err ? err->code : DF_ERR_INVALID;
    rc = df_task_validate(task, err);
    json_decref(task);
    return rc;
}
