/* schedule_slot: what a schedule's slot is and what it publishes, shared by the
 * cron leader's schedules tick (schedules.c) and the `schedules` command
 * (cli_schedules.c). docs/SCHEDULES.md tells the rules in prose.
 *
 * A slot is one fire time of a schedule's cron expression (Unix ms, UTC).
 * The schedule row's next_fire_at is its oldest slot not yet fired; when
 * the leader looks at time `now`, the due slots are the expression's fire
 * times in [next_fire_at, now]. A due slot is on time when it is at most
 * the misfire grace old (now - slot <= grace), and *missed* when older: the
 * scheduler was down, had no leader, or was too busy to fire it. The
 * misfire policy decides which due slots fire:
 *
 *   coalesce   no missed slot: each due slot fires. Some missed slot: the
 *              due slots collapse into ONE firing, at the latest due slot.
 *   skip       the on-time slots fire; missed ones never do.
 *   catch_up   the on-time slots fire, and the latest catch_up_limit missed
 *              ones (at most DF_SCHEDULE_CATCH_UP_MAX); older missed slots
 *              are dropped.
 *
 * Every slot that fires is claimed in schedule_fires (primary key
 * (schedule_id, fire_time)) before its task is published, and its task id
 * (or pipeline run id) is derived from (schedule id, fire time): a ULID
 * whose time is the fire time and whose 80 random bits come from a SHA-256
 * of the pair, so publishing a slot twice publishes one task. */
#ifndef DF_SCHEDULE_SLOT_H
#define DF_SCHEDULE_SLOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_cron.h"
#include "df_error.h"
#include "df_id.h"

#define DF_SCHEDULE_CATCH_UP_MAX  1000 /* missed slots one schedule catches up, at most */
#define DF_SCHEDULE_ON_TIME_MAX   1000 /* on-time slots fired at once, at most */
#define DF_SCHEDULE_SLOTS_MAX     (DF_SCHEDULE_CATCH_UP_MAX + DF_SCHEDULE_ON_TIME_MAX)
#define DF_SCHEDULE_TRACEPARENT   56 /* "00-" 32 hex "-" 16 hex "-01" and a NUL */
#define DF_SCHEDULE_SUBMITTED_MAX 160

typedef enum df_misfire {
    DF_MISFIRE_COALESCE = 0,
    DF_MISFIRE_SKIP = 1,
    DF_MISFIRE_CATCH_UP = 2,
} df_misfire_t;

/* "coalesce" | "skip" | "catch_up" -> *out. false for anything else. */
bool df_misfire_parse(const char *text, df_misfire_t *out);
const char *df_misfire_name(df_misfire_t policy);

/* Which slots fire (see the top of this file): the due slots of cron in
 * [next_fire_ms, now_ms], chosen by policy with the given catch-up limit
 * and grace. Writes them ascending into slots (room for
 * DF_SCHEDULE_SLOTS_MAX) and returns how many. *dropped (may be NULL) gets
 * whether some due slot was left out (skip, coalesce, or catch_up over its
 * limit). */
size_t df_schedule_slots(const df_cron_t *cron, int64_t next_fire_ms, int64_t now_ms,
                         df_misfire_t policy, int64_t catch_up_limit, int64_t grace_ms,
                         int64_t *slots, bool *dropped);

/* The id of a slot: a ULID with time fire_ms and 80 bits of
 * SHA-256(schedule_id, fire_ms) into buf (DF_ID_BUF bytes). The same pair
 * always gives the same id. */
void df_schedule_slot_id(const char *schedule_id, int64_t fire_ms, char *buf);

/* The slot's W3C traceparent, derived from the same hash (trace id and
 * parent id), flags "01", into buf (DF_SCHEDULE_TRACEPARENT bytes). */
void df_schedule_slot_traceparent(const char *schedule_id, int64_t fire_ms, char *buf);

/* The task a slot publishes: a copy of template (borrowed) with task_id
 * (derived), schedule_id, attempt 1, submitted_at (now) and submitted_by
 * ("scheduler:<schedule name>") set. NULL with err set (field "task_template")
 * when template is not an object. Caller owns the result. Not validated:
 * see df_schedule_template_check. */
json_t *df_schedule_task(const json_t *template, const char *schedule_id, const char *name,
                         int64_t fire_ms, df_error_t *err);

/* Check a task template as the slot's task will be checked: an object
 * without the fields a slot sets (task_id, attempt, submitted_at,
 * schedule_id, pipeline) nor a fixed deadline, whose slot task validates
 * against the task schema. DF_ERR_INVALID with err->field naming the JSON
 * path inside the template ("/params/fail"). */
df_code_t df_schedule_template_check(const json_t *template, const char *name, df_error_t *err);

#endif
