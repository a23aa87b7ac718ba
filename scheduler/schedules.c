/* schedules: the cron leader's schedules tick (see cron_role.h): slots
 * whose time has come become tasks (or pipeline runs).
 *
 * One batch, in one transaction:
 *   1. take up to --publish-batch due schedules (enabled, not paused,
 *      next_fire_at <= now, or next_fire_at not computed yet) FOR UPDATE
 *      SKIP LOCKED;
 *   2. for each, the slots its misfire policy fires (schedule_slot.h); a
 *      schedule whose expression, zone or template is invalid is logged
 *      with its name and the field, and looked at again a minute later;
 *   3. claim every slot in schedule_fires (INSERT ... ON CONFLICT DO
 *      NOTHING: a slot someone already fired is not fired again);
 *   4. create the pipeline runs, publish the tasks (with their `queued`
 *      events) and wait for Kafka's acknowledgements;
 *   5. release the claims of what was not published, move next_fire_at
 *      past now (and last_fired_at) for the schedules that fired all
 *      their slots, and COMMIT.
 * A crash before the commit leaves nothing claimed: the next leader fires
 * the same slots with the same derived task ids, which run once.
 *
 * When many schedules share the next fire time (PREPARE_MIN_ROWS or more),
 * steps 1-3 for all of them (up to PREPARE_MAX_ROWS) run ahead of that
 * time, in one transaction that then waits for it: at the slot's time only
 * the publishing (step 4) and the commit are left. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron_role.h"
#include "df_hmap.h"
#include "df_log.h"
#include "df_metrics.h"
#include "df_program.h"
#include "pipelines.h"
#include "schedule_slot.h"

#define INVALID_RETRY_MS   60000 /* an invalid schedule is looked at again after this */
#define ERROR_WAIT_MS      1000  /* after a PostgreSQL or Kafka failure */
#define LOCKED_WAIT_MS     50    /* due rows all locked by someone else (a trigger) */
#define IDLE_WAIT_MS       60000 /* nothing scheduled at all */
#define PUBLISH_TIMEOUT_MS 10000 /* wait for Kafka's acknowledgements */
#define TICK_BUDGET_MS     5000  /* one tick fires batches for at most this long */
#define CACHE_MAX          4096  /* parsed expressions / checked templates kept */

/* Many slots at one time (10,000 schedules "at 02:00"): the PostgreSQL
 * part of their batch (select, claim) is done before the slot, in one
 * transaction that then waits for the slot's time, publishes and commits;
 * only the publishing is left after the slot. It starts this much ahead
 * per slot, within bounds. */
#define PREPARE_MIN_ROWS     200   /* fewer slots at one time: fired at their time */
#define PREPARE_US_PER_ROW   150   /* PostgreSQL work per slot before its publish */
#define PREPARE_AHEAD_MAX_MS 2000  /* never more ahead than this */
#define PREPARE_MAX_ROWS     20000 /* schedules in one prepared batch, at most */

/* ---- per-leader state: parsed expressions and checked templates ---- */

typedef struct cache_entry {
    df_cron_t *cron; /* expressions: NULL when invalid */
    df_error_t err;  /* why not, for both kinds */
} cache_entry_t;

typedef struct state {
    df_hmap_t *crons;     /* "expression\ntimezone" -> entry */
    df_hmap_t *templates; /* template text -> entry (err.code 0: valid) */
} state_t;

static void free_entry(void *ctx, const char *key, void *value)
{
    cache_entry_t *e = value;
    (void)ctx;
    (void)key;
    df_cron_free(e->cron);
    free(e);
}

static void cache_clear(df_hmap_t **map)
{
    if (*map) {
        df_hmap_each(*map, free_entry, NULL);
        df_hmap_destroy(*map);
    }
    *map = df_hmap_new();
}

void df_schedules_stop(df_cron_ctx_t *ctx)
{
    state_t *st = ctx->schedules;

    if (!st)
        return;
    if (st->crons)
        df_hmap_each(st->crons, free_entry, NULL);
    if (st->templates)
        df_hmap_each(st->templates, free_entry, NULL);
    df_hmap_destroy(st->crons);
    df_hmap_destroy(st->templates);
    free(st);
    ctx->schedules = NULL;
}

static state_t *state_of(df_cron_ctx_t *ctx)
{
    state_t *st = ctx->schedules;

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return NULL;
        st->crons = df_hmap_new();
        st->templates = df_hmap_new();
        if (!st->crons || !st->templates) {
            ctx->schedules = st;
            df_schedules_stop(ctx);
            return NULL;
        }
        ctx->schedules = st;
    }
    return st;
}

/* The parsed expression (borrowed from the cache), or NULL with *why set. */
static const df_cron_t *cron_of(state_t *st, const char *expr, const char *tz,
                                const df_error_t **why)
{
    static const df_error_t nomem = { .code = DF_ERR_NOMEM, .message = "out of memory" };
    char key[1024];
    cache_entry_t *e;
    int n = snprintf(key, sizeof(key), "%s\n%s", expr, tz);

    *why = &nomem;
    if (n < 0 || (size_t)n >= sizeof(key)) {
        static const df_error_t too_long = { .code = DF_ERR_INVALID,
                                             .field = "expression",
                                             .message = "expression and time zone are too long" };
        *why = &too_long;
        return NULL;
    }
    e = df_hmap_get(st->crons, key, (size_t)n);
    if (!e) {
        if (df_hmap_count(st->crons) >= CACHE_MAX)
            cache_clear(&st->crons);
        e = calloc(1, sizeof(*e));
        if (!e || !st->crons) {
            free(e);
            return NULL;
        }
        df_error_init(&e->err);
        e->cron = df_cron_parse(expr, tz, &e->err);
        if (!df_hmap_put(st->crons, key, (size_t)n, e)) {
            free_entry(NULL, NULL, e);
            return NULL;
        }
    }
    *why = &e->err;
    return e->cron;
}

/* Whether a template (its jsonb text) makes valid tasks; checked once per
 * distinct text. NULL when valid, else why not (borrowed). */
static const df_error_t *template_problem(state_t *st, const char *text, const json_t *template,
                                          const char *name)
{
    static const df_error_t nomem = { .code = DF_ERR_NOMEM, .message = "out of memory" };
    size_t len = strlen(text);
    cache_entry_t *e = df_hmap_get(st->templates, text, len);

    if (!e) {
        if (df_hmap_count(st->templates) >= CACHE_MAX)
            cache_clear(&st->templates);
        e = calloc(1, sizeof(*e));
        if (!e || !st->templates) {
            free(e);
            return &nomem;
        }
        df_error_init(&e->err);
        df_schedule_template_check(template, name, &e->err);
        if (!df_hmap_put(st->templates, text, len, e)) {
            free(e);
            return &nomem;
        }
    }
    return e->err.code ? &e->err : NULL;
}

/* ---- one batch ---- */

static const char select_due_sql[] =
    "SELECT id, name, expression, timezone, task_template::text, pipeline::text,"
    "       misfire_policy, catch_up_limit,"
    "       (extract(epoch FROM next_fire_at) * 1000)::bigint"
    "  FROM schedules"
    " WHERE enabled AND NOT paused"
    "   AND (next_fire_at IS NULL OR next_fire_at <= to_timestamp($1::bigint / 1000.0))"
    " ORDER BY next_fire_at NULLS FIRST, id"
    " LIMIT $2"
    " FOR UPDATE SKIP LOCKED";

/* Claims: the slots (i = index in the batch) whose row was inserted.
 * fired_at is the batch's `now` ($2): fired_at - fire_time is how late the
 * leader took the slot, exactly as the misfire policy saw it. Times travel
 * as Unix ms; to_timestamp(ms / 1000.0) is exact to the microsecond. */
static const char claim_sql[] =
    "WITH c AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "   AS c (i integer, schedule_id text, fire_ms bigint, task_id text, run_id text)"
    "), ins AS ("
    " INSERT INTO schedule_fires (schedule_id, fire_time, task_id, pipeline_run_id, fired_at)"
    " SELECT schedule_id, to_timestamp(fire_ms / 1000.0), task_id, run_id,"
    "        to_timestamp($2::bigint / 1000.0)"
    "   FROM c ORDER BY schedule_id, fire_ms"
    " ON CONFLICT (schedule_id, fire_time) DO NOTHING"
    " RETURNING schedule_id, fire_time"
    ")"
    " SELECT c.i FROM c JOIN ins"
    "   ON ins.schedule_id = c.schedule_id"
    "  AND ins.fire_time = to_timestamp(c.fire_ms / 1000.0)";

static const char unclaim_sql[] =
    "DELETE FROM schedule_fires AS f"
    " USING jsonb_to_recordset($1::jsonb) AS u (schedule_id text, fire_ms bigint)"
    " WHERE f.schedule_id = u.schedule_id"
    "   AND f.fire_time = to_timestamp(u.fire_ms / 1000.0)";

static const char advance_sql[] =
    "UPDATE schedules AS s"
    "   SET next_fire_at = to_timestamp(u.next_ms / 1000.0),"
    "       last_fired_at = GREATEST(s.last_fired_at, to_timestamp(u.last_ms / 1000.0))"
    "  FROM jsonb_to_recordset($1::jsonb) AS u (id text, next_ms bigint, last_ms bigint)"
    " WHERE s.id = u.id";

typedef struct sched {
    const char *id, *name; /* borrowed from the batch's result */
    json_t *pipeline;      /* the pipeline reference, or NULL for a task schedule */
    int64_t next_ms;       /* new next_fire_at; 0: leave it (something failed) */
    int64_t last_ms;       /* latest slot fired, 0 when none */
    bool failed;           /* a slot was not published: keep next_fire_at, retry */
    bool invalid;          /* logged; looked at again INVALID_RETRY_MS later */
} sched_t;

typedef struct slot {
    sched_t *sched;
    int64_t fire_ms;
    char id[DF_ID_BUF]; /* task id or pipeline run id */
    json_t *task;       /* NULL for a pipeline slot */
    bool claimed, done;
} slot_t;

typedef struct batch {
    df_cron_ctx_t *ctx;
    int64_t now;
    PGresult *rows;
    sched_t *scheds;
    size_t nscheds;
    slot_t *slots;
    size_t nslots, cap;
    size_t fired, late, invalid;
} batch_t;

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->nslots; i++)
        json_decref(b->slots[i].task);
    for (size_t i = 0; i < b->nscheds; i++)
        json_decref(b->scheds[i].pipeline);
    free(b->slots);
    free(b->scheds);
    PQclear(b->rows);
}

static slot_t *add_slot(batch_t *b, sched_t *s, int64_t fire_ms)
{
    slot_t *slot;

    if (b->nslots == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        slot_t *grown = realloc(b->slots, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        b->slots = grown;
        b->cap = cap;
    }
    slot = &b->slots[b->nslots++];
    memset(slot, 0, sizeof(*slot));
    slot->sched = s;
    slot->fire_ms = fire_ms;
    df_schedule_slot_id(s->id, fire_ms, slot->id);
    return slot;
}

/* Log an invalid schedule and look at it again later. column names the
 * schedules column at fault; NULL when why->field already does (the cron
 * parser's "expression" / "timezone"). A JSON path in why->field is shown
 * after the column ("task_template/params/fail"). */
static void invalid(batch_t *b, sched_t *s, const char *column, const df_error_t *why)
{
    const char *path = column ? why->field : "";
    const char *sep = column && path[0] && path[0] != '/' ? "." : "";

    if (s->invalid)
        return;
    df_error("schedule \"%s\" (%s) not fired: %s%s%s: %s; looked at again in %d s", s->name, s->id,
             column          ? column
             : why->field[0] ? why->field
                             : "expression",
             sep, path, why->message, INVALID_RETRY_MS / 1000);
    s->invalid = true;
    s->next_ms = b->now + INVALID_RETRY_MS;
    b->invalid++;
}

/* Step 2 for row i: its slots (and their tasks), or why it is invalid. */
static bool prepare(batch_t *b, state_t *st, size_t i)
{
    PGresult *r = b->rows;
    sched_t *s = &b->scheds[i];
    const char *tmpl_text = PQgetisnull(r, (int)i, 4) ? NULL : PQgetvalue(r, (int)i, 4);
    const char *pipe_text = PQgetisnull(r, (int)i, 5) ? NULL : PQgetvalue(r, (int)i, 5);
    const df_error_t *why;
    const df_cron_t *cron;
    df_misfire_t policy = DF_MISFIRE_COALESCE;
    int64_t slots[DF_SCHEDULE_SLOTS_MAX];
    json_t *template = NULL;
    bool dropped;
    size_t n;

    s->id = PQgetvalue(r, (int)i, 0);
    s->name = PQgetvalue(r, (int)i, 1);
    cron = cron_of(st, PQgetvalue(r, (int)i, 2), PQgetvalue(r, (int)i, 3), &why);
    if (!cron) {
        invalid(b, s, NULL, why);
        return true;
    }
    if (PQgetisnull(r, (int)i, 8)) { /* not computed yet (a row written by SQL) */
        if (!df_cron_next(cron, b->now, &s->next_ms)) {
            df_error_t never = { .code = DF_ERR_INVALID };
            snprintf(never.message, sizeof(never.message), "never fires after now");
            invalid(b, s, "expression", &never);
        }
        return true;
    }
    if (tmpl_text) {
        json_error_t jerr;
        template = json_loads(tmpl_text, 0, &jerr);
        why = template_problem(st, tmpl_text, template, s->name);
        if (why) {
            invalid(b, s, "task_template", why);
            json_decref(template);
            return true;
        }
    } else if (pipe_text) {
        s->pipeline = json_loads(pipe_text, 0, NULL);
    }
    df_misfire_parse(PQgetvalue(r, (int)i, 6), &policy);
    n = df_schedule_slots(cron, strtoll(PQgetvalue(r, (int)i, 8), NULL, 10), b->now, policy,
                          strtoll(PQgetvalue(r, (int)i, 7), NULL, 10),
                          b->ctx->cfg->misfire_grace_ms, slots, &dropped);
    if (dropped) {
        char since[40];
        df_time_format(strtoll(PQgetvalue(r, (int)i, 8), NULL, 10), since, sizeof(since));
        df_info("schedule \"%s\": slots missed since %s; misfire policy %s: %zu of the due "
                "slots fire",
                s->name, since, df_misfire_name(policy), n);
    }
    if (!df_cron_next(cron, b->now, &s->next_ms))
        s->next_ms = b->now + INVALID_RETRY_MS; /* fires no more: look again later */
    for (size_t k = 0; k < n; k++) {
        slot_t *slot = add_slot(b, s, slots[k]);
        df_error_t err;
        if (!slot) {
            json_decref(template);
            return false;
        }
        if (template) {
            df_error_init(&err);
            slot->task = df_schedule_task(template, s->id, s->name, slots[k], &err);
            if (!slot->task) {
                json_decref(template);
                return false;
            }
        }
    }
    json_decref(template);
    return true;
}

/* One JSON array for a statement's $1. Caller frees. */
static char *slots_json(batch_t *b, bool (*want)(const slot_t *), bool with_ids)
{
    json_t *arr = json_array();
    char *text;

    for (size_t i = 0; arr && i < b->nslots; i++) {
        const slot_t *slot = &b->slots[i];
        json_t *o;
        if (!want(slot))
            continue;
        o = json_pack("{s:I, s:s, s:I}", "i", (json_int_t)i, "schedule_id", slot->sched->id,
                      "fire_ms", (json_int_t)slot->fire_ms);
        if (o && with_ids)
            json_object_set_new(o, slot->task ? "task_id" : "run_id", json_string(slot->id));
        json_array_append_new(arr, o);
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

static bool any_slot(const slot_t *slot)
{
    (void)slot;
    return true;
}

static bool claimed_not_done(const slot_t *slot)
{
    return slot->claimed && !slot->done;
}

static df_code_t claim(batch_t *b, df_error_t *err)
{
    char *json = slots_json(b, any_slot, true), now[24];
    const char *params[2] = { json, now };
    PGresult *res;

    if (!json)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    snprintf(now, sizeof(now), "%lld", (long long)b->now);
    res = df_pg_exec(b->ctx->pg, claim_sql, 2, params, err);
    free(json);
    if (!res)
        return err->code;
    for (int r = 0; r < PQntuples(res); r++) {
        long i = strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (i >= 0 && (size_t)i < b->nslots)
            b->slots[i].claimed = true;
    }
    PQclear(res);
    return DF_OK;
}

/* Step 4 for pipeline slots: each run is created under a savepoint, so a
 * refused one leaves the rest of the batch alone. */
static df_code_t create_runs(batch_t *b, df_error_t *err)
{
    df_pg_t *pg = b->ctx->pg;

    for (size_t i = 0; i < b->nslots; i++) {
        slot_t *slot = &b->slots[i];
        sched_t *s = slot->sched;
        df_error_t why;
        bool created = false;
        df_code_t rc;

        if (slot->task || !slot->claimed || s->failed || s->invalid)
            continue;
        df_error_init(&why);
        if (df_pg_run(pg, "SAVEPOINT schedule_slot", 0, NULL, NULL, err))
            return err->code;
        rc = s->pipeline ? df_pipeline_run_create(pg, s->pipeline, slot->id, s->id, slot->fire_ms,
                                                  &created, &why)
                         : df_error_set(&why, DF_ERR_INVALID, "", "expected a JSON object");
        if (rc == DF_OK) {
            if (df_pg_run(pg, "RELEASE SAVEPOINT schedule_slot", 0, NULL, NULL, err))
                return err->code;
            slot->done = true;
            continue;
        }
        if (df_pg_run(pg, "ROLLBACK TO SAVEPOINT schedule_slot", 0, NULL, NULL, err))
            return err->code;
        if (rc == DF_ERR_PG) {
            df_warn("schedule \"%s\": pipeline run %s not created: %s", s->name, slot->id,
                    why.message);
            s->failed = true;
        } else {
            invalid(b, s, "pipeline", &why);
        }
    }
    return DF_OK;
}

static df_metric_t *fires_metric, *lag_metric, *late_metric;

static void init_metrics(void)
{
    static const double buckets[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60 };

    fires_metric = df_metric_counter("datafleet_schedule_fires_total",
                                     "Schedule slots fired (task published or run created).", "");
    lag_metric = df_metric_histogram(
        "datafleet_schedule_fire_lag_seconds",
        "From a slot's time to Kafka acknowledging its task (or its run being created).", "",
        buckets, sizeof(buckets) / sizeof(buckets[0]));
    late_metric = df_metric_counter(
        "datafleet_schedule_misfires_total",
        "Slots fired later than --misfire-grace (the scheduler was down or behind).", "");
    df_metric_inc(fires_metric, 0);
    df_metric_inc(late_metric, 0);
}

/* Step 4 for task slots: publish in chunks of --publish-batch. */
static void publish(batch_t *b)
{
    size_t chunk = (size_t)b->ctx->cfg->publish_batch;
    json_t **tasks = calloc(chunk, sizeof(*tasks));
    char(*tps)[DF_SCHEDULE_TRACEPARENT] = calloc(chunk, sizeof(*tps));
    const char **tp = calloc(chunk, sizeof(*tp));
    slot_t **which = calloc(chunk, sizeof(*which));
    bool *ok = calloc(chunk, sizeof(*ok));
    size_t i = 0;

    if (!tasks || !tps || !tp || !which || !ok) {
        df_error("schedules: out of memory publishing %zu slots", b->nslots);
        i = b->nslots;
    }
    while (i < b->nslots) {
        size_t n = 0;
        for (; i < b->nslots && n < chunk; i++) {
            slot_t *slot = &b->slots[i];
            if (!slot->task || !slot->claimed)
                continue;
            df_schedule_slot_traceparent(slot->sched->id, slot->fire_ms, tps[n]);
            tp[n] = tps[n];
            tasks[n] = slot->task;
            which[n++] = slot;
        }
        if (n == 0)
            break;
        df_cron_publish(b->ctx, tasks, tp, n, ok, PUBLISH_TIMEOUT_MS);
        for (size_t k = 0; k < n; k++) {
            if (ok[k])
                df_metric_observe(lag_metric, (double)(df_now_ms() - which[k]->fire_ms) / 1000.0);
            which[k]->done = ok[k];
            if (!ok[k])
                which[k]->sched->failed = true;
        }
    }
    free(tasks);
    free(tps);
    free(tp);
    free(which);
    free(ok);
}

/* Step 5: release what was not published, advance the others. */
static df_code_t finish(batch_t *b, df_error_t *err)
{
    json_t *arr = json_array();
    char *json;
    const char *params[1];
    df_code_t rc = DF_OK;

    for (size_t i = 0; i < b->nslots; i++) {
        slot_t *slot = &b->slots[i];
        if (slot->done) {
            b->fired++;
            df_metric_inc(fires_metric, 1);
            if (b->now - slot->fire_ms > b->ctx->cfg->misfire_grace_ms) {
                b->late++;
                df_metric_inc(late_metric, 1);
            }
            if (slot->fire_ms > slot->sched->last_ms)
                slot->sched->last_ms = slot->fire_ms;
        }
    }
    json = slots_json(b, claimed_not_done, false);
    params[0] = json;
    if (!json || strcmp(json, "[]") != 0)
        rc = json ? df_pg_run(b->ctx->pg, unclaim_sql, 1, params, NULL, err)
                  : df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    free(json);
    for (size_t i = 0; arr && rc == DF_OK && i < b->nscheds; i++) {
        sched_t *s = &b->scheds[i];
        json_t *o;
        if (s->failed || s->next_ms == 0)
            continue;
        o = json_pack("{s:s, s:I}", "id", s->id, "next_ms", (json_int_t)s->next_ms);
        if (o && s->last_ms)
            json_object_set_new(o, "last_ms", json_integer(s->last_ms));
        json_array_append_new(arr, o);
    }
    json = arr && rc == DF_OK ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    params[0] = json;
    if (rc == DF_OK)
        rc = json ? df_pg_run(b->ctx->pg, advance_sql, 1, params, NULL, err)
                  : df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    free(json);
    return rc;
}

/* Sleep until the wall clock reaches at_ms (a prepared batch's slot time).
 * false when the process is stopping. */
static bool wait_until(int64_t at_ms)
{
    for (;;) {
        int64_t left = at_ms - df_now_ms();
        struct timespec ts;

        if (df_program_stopping())
            return false;
        if (left <= 0)
            return true;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

/* One batch of at most limit schedules, for the slots due at `now` (the
 * clock, or a time just ahead: then the batch is prepared, waits for that
 * time and publishes). Returns DF_OK with *taken rows taken and *retry set when some
 * slot could not be published (Kafka trouble), or the failure. */
static df_code_t fire_batch(df_cron_ctx_t *ctx, state_t *st, int64_t now, int64_t limit,
                            size_t *taken, bool *retry, df_error_t *err)
{
    batch_t b = { .ctx = ctx, .now = now };
    char now_text[24], limit_text[24];
    const char *params[2] = { now_text, limit_text };
    int64_t t[7]; /* when each step ended, for the log */
    df_code_t rc;

    *taken = 0;
    *retry = false;
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    snprintf(limit_text, sizeof(limit_text), "%lld", (long long)limit);
    t[0] = df_mono_ms();
    if (df_pg_begin(ctx->pg, err))
        return err->code;
    b.rows = df_pg_exec(ctx->pg, select_due_sql, 2, params, err);
    if (!b.rows)
        goto fail;
    t[1] = df_mono_ms();
    b.nscheds = (size_t)PQntuples(b.rows);
    *taken = b.nscheds;
    b.scheds = calloc(b.nscheds ? b.nscheds : 1, sizeof(*b.scheds));
    if (!b.scheds) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < b.nscheds; i++) {
        if (!prepare(&b, st, i)) {
            df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
            goto fail;
        }
    }
    t[2] = df_mono_ms();
    if (b.nslots && (claim(&b, err) || create_runs(&b, err)))
        goto fail;
    t[3] = df_mono_ms();
    if (!wait_until(now)) {
        df_error_set(err, DF_ERR_CANCELLED, NULL, "stopping");
        goto fail;
    }
    t[4] = df_mono_ms();
    publish(&b);
    t[5] = df_mono_ms();
    if (finish(&b, err) || df_pg_commit(ctx->pg, err))
        goto fail;
    t[6] = df_mono_ms();
    for (size_t i = 0; i < b.nscheds; i++)
        *retry = *retry || b.scheds[i].failed;
    if (b.fired || b.invalid || *retry)
        df_info("schedules: %zu slots fired from %zu due schedules (%zu more than the grace "
                "late)%s; ms: select %lld, prepare %lld, claim %lld, wait for the slot %lld, "
                "publish %lld, commit %lld",
                b.fired, b.nscheds, b.late, *retry ? "; some not published: retrying" : "",
                (long long)(t[1] - t[0]), (long long)(t[2] - t[1]), (long long)(t[3] - t[2]),
                (long long)(t[4] - t[3]), (long long)(t[5] - t[4]), (long long)(t[6] - t[5]));
    batch_free(&b);
    return DF_OK;
fail:
    rc = err->code ? err->code : DF_ERR_INTERNAL;
    df_pg_rollback(ctx->pg, NULL);
    batch_free(&b);
    return rc;
}

/* Milliseconds until the next schedule is due (0: now; IDLE_WAIT_MS when
 * none is scheduled), and how many schedules are due at that time (up to
 * PREPARE_MAX_ROWS). */
static df_code_t next_due(df_cron_ctx_t *ctx, int64_t now, int64_t *wait, int64_t *rows,
                          df_error_t *err)
{
    static const char sql[] =
        "WITH due AS (SELECT min(next_fire_at) AS at FROM schedules WHERE enabled AND NOT paused)"
        " SELECT (extract(epoch FROM due.at) * 1000)::bigint,"
        "        (SELECT count(*) FROM (SELECT 1 FROM schedules"
        "                                WHERE enabled AND NOT paused AND next_fire_at = due.at"
        "                                LIMIT $1::integer) AS n),"
        "        EXISTS (SELECT 1 FROM schedules"
        "                 WHERE enabled AND NOT paused AND next_fire_at IS NULL)"
        "   FROM due";
    char limit[24];
    const char *params[1] = { limit };
    PGresult *res;

    snprintf(limit, sizeof(limit), "%d", PREPARE_MAX_ROWS);
    res = df_pg_exec(ctx->pg, sql, 1, params, err);
    if (!res)
        return err->code;
    *rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (strcmp(PQgetvalue(res, 0, 2), "t") == 0)
        *wait = 0;
    else if (PQgetisnull(res, 0, 0))
        *wait = IDLE_WAIT_MS;
    else
        *wait = strtoll(PQgetvalue(res, 0, 0), NULL, 10) - now;
    PQclear(res);
    if (*wait < 0)
        *wait = 0;
    return DF_OK;
}

int64_t df_schedules_tick(df_cron_ctx_t *ctx)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    state_t *st = state_of(ctx);
    int64_t started = df_mono_ms();
    size_t taken = 1;
    df_error_t err;

    pthread_once(&once, init_metrics);
    if (!st)
        return ERROR_WAIT_MS;
    df_error_init(&err);
    for (;;) {
        int64_t now = df_now_ms(), wait = 0, rows = 0, ahead = 0;
        bool retry;

        if (next_due(ctx, now, &wait, &rows, &err))
            break;
        if (rows >= PREPARE_MIN_ROWS)
            ahead = rows * PREPARE_US_PER_ROW / 1000;
        if (ahead > PREPARE_AHEAD_MAX_MS)
            ahead = PREPARE_AHEAD_MAX_MS;
        if (wait > ahead)
            return wait - ahead;
        if (taken == 0)
            return LOCKED_WAIT_MS;
        if (df_mono_ms() - started > TICK_BUDGET_MS || df_program_stopping())
            return 0;
        /* due now: batches of --publish-batch; due soon: all of that time's
         * slots prepared ahead (see PREPARE_*) */
        if (wait > 0 ? fire_batch(ctx, st, now + wait, PREPARE_MAX_ROWS, &taken, &retry, &err)
                     : fire_batch(ctx, st, now, ctx->cfg->publish_batch, &taken, &retry, &err))
            break;
        if (retry)
            return ERROR_WAIT_MS;
    }
    df_warn("schedules: %s", err.message);
    return ERROR_WAIT_MS;
}
