/* noop: the built-in connector kind that calls no platform, for tests and
 * benchmarks (docs/CONNECTORS.md). Every task type takes these params:
 *   sleep_ms       integer, or [min, max] for a random sleep (default 0)
 *   fail           "none" | "retryable" | "permanent" (default "none")
 *   fail_attempts  fail only the first N attempts (default: every attempt)
 *   retry_after_ms the Retry-After of a retryable failure (default: none,
 *                  the retry policy decides the wait)
 *   rows           rows reported written (default 0)
 * A `refresh` with `duration_ms` simulates a long platform operation that
 * the worker polls (params duration_ms, poll_ms, job_fail, poll_fail; a
 * failing poll reports retry_after_ms as its Retry-After): the
 * operation lives in Redis (df:noop:job:{job_id}), so any worker can poll
 * it, and df:noop:starts:{task_id} counts the operations a task started.
 * With `refresh_target` (a string), one operation per target runs across the
 * fleet and refreshes asked for meanwhile join it (refresh_guard.h).
 * A `lineage` task that succeeds reports a graph in result.lineage:
 * params.lineage as given, or source -> target in namespace noop://.
 * Bad params fail the task permanently, naming the field. */
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "refresh_guard.h"
#include "export.h"
#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"

#define NOOP_JOB_KEEP_S  86400 /* a simulated operation's keys live a day */
#define NOOP_POLL_MS_DEF 1000

static df_outcome_kind_t stopped(df_stop_reason_t why, df_outcome_t *out)
{
    if (why == DF_STOP_DEADLINE)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "deadline_exceeded",
                              "the task's deadline passed while it ran");
    return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled", "stopped on request");
}

/* Pick the sleep: an integer, or a uniform draw from [min, max]. */
static bool sleep_param(const json_t *params, int64_t *ms, df_outcome_t *out)
{
    json_t *v = json_object_get(params, "sleep_ms");

    *ms = 0;
    if (!v)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return true;
    }
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
        json_is_integer(json_array_get(v, 1))) {
        int64_t lo = json_integer_value(json_array_get(v, 0));
        int64_t hi = json_integer_value(json_array_get(v, 1));
        if (lo >= 0 && hi >= lo) {
            uint64_t r = ((uint64_t)rand() << 31) ^ (uint64_t)rand();
            *ms = lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
            return true;
        }
    }
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                   "params.sleep_ms: expected an integer >= 0 or [min, max]");
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/sleep_ms");
    return false;
}

static df_outcome_kind_t noop_run(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *params = ctx->params;
    const char *fail = json_string_value(json_object_get(params, "fail"));
    json_t *fa = json_object_get(params, "fail_attempts");
    json_t *ra = json_object_get(params, "retry_after_ms");
    json_t *rows = json_object_get(params, "rows");
    int64_t sleep_ms;
    df_stop_reason_t why;

    if (!sleep_param(params, &sleep_ms, out))
        return out->kind;
    if (fail && strcmp(fail, "none") != 0 && strcmp(fail, "retryable") != 0 &&
        strcmp(fail, "permanent") != 0)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                              "params.fail: expected \"none\", \"retryable\" or \"permanent\", "
                              "got \"%s\"",
                              fail);
    if (sleep_ms > 0 && (why = df_task_ctx_sleep(ctx, sleep_ms)) != DF_STOP_NONE)
        return stopped(why, out);
    if ((why = ctx->should_stop(ctx)) != DF_STOP_NONE)
        return stopped(why, out);

    if (fail && strcmp(fail, "none") != 0 &&
        (!json_is_integer(fa) || ctx->attempt <= json_integer_value(fa))) {
        if (strcmp(fail, "retryable") == 0) {
            df_outcome_set(out, DF_OUTCOME_RETRY, "noop_retryable",
                           "noop asked to fail (retryable) on attempt %d", ctx->attempt);
            out->retry_after_ms = json_is_integer(ra) ? json_integer_value(ra) : -1;
            out->error.retry_after_ms = out->retry_after_ms;
            return DF_OUTCOME_RETRY;
        }
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "noop_permanent",
                              "noop asked to fail (permanent) on attempt %d", ctx->attempt);
    }
    if (json_is_integer(rows)) {
        ctx->progress(ctx, json_integer_value(rows), 0, 1);
        out->result = json_pack("{s:I}", "rows_written", (json_int_t)json_integer_value(rows));
    }
    return DF_OUTCOME_OK;
}

/* ---- refresh: a simulated platform operation ---------------------------- */

static df_outcome_kind_t bad_param(df_outcome_t *out, const char *name, const char *expected)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params", "params.%s: expected %s", name,
                   expected);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/%s", name);
    return out->kind;
}

/* An integer param >= min, or def when absent. False (out set) otherwise. */
static bool int_param(const json_t *params, const char *name, int64_t min, int64_t def,
                      int64_t *value, df_outcome_t *out)
{
    json_t *v = json_object_get(params, name);

    *value = def;
    if (!v)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= min) {
        *value = json_integer_value(v);
        return true;
    }
    bad_param(out, name, min > 0 ? "an integer >= 1" : "an integer >= 0");
    return false;
}

static df_outcome_kind_t redis_gone(df_outcome_t *out, const df_error_t *err)
{
    df_outcome_set(out, DF_OUTCOME_RETRY, "noop_unavailable",
                   "the simulated platform (Redis) is unreachable%s%s", err ? ": " : "",
                   err ? err->message : "");
    return DF_OUTCOME_RETRY;
}

/* Start an operation: its record in Redis, the task's start counter, and
 * the job state saved before the first POLL. */
static df_outcome_kind_t job_start(df_task_ctx_t *ctx, int64_t duration_ms, int64_t poll_ms,
                                   df_outcome_t *out)
{
    const json_t *params = ctx->params;
    const char *fail = json_string_value(json_object_get(params, "job_fail"));
    json_t *pf = json_object_get(params, "poll_fail");
    char id[DF_ID_BUF], key[128], starts[128], started[24], ends[24], poll_fail[24];
    int64_t now = df_now_ms();
    df_error_t err;
    redisReply *r;
    json_t *job;

    if (!ctx->redis)
        return redis_gone(out, NULL);
    df_id_ulid(id);
    snprintf(key, sizeof(key), "df:noop:job:%s", id);
    snprintf(starts, sizeof(starts), "df:noop:starts:%s", ctx->task_id);
    snprintf(started, sizeof(started), "%lld", (long long)now);
    snprintf(ends, sizeof(ends), "%lld", (long long)(now + duration_ms));
    snprintf(poll_fail, sizeof(poll_fail), "%lld",
             json_is_integer(pf) ? (long long)json_integer_value(pf) : 0LL);
    df_error_init(&err);
    {
        df_redis_field_t fields[] = {
            { "task_id", ctx->task_id }, { "started_ms", started },
            { "ends_ms", ends },         { "polls", "0" },
            { "poll_fail", poll_fail },  { "fail", fail ? fail : "" },
        };
        if (df_redis_hset(ctx->redis, key, fields, sizeof(fields) / sizeof(fields[0]), &err))
            return redis_gone(out, &err);
    }
    freeReplyObject(df_redis_command(ctx->redis, &err, "EXPIRE %s %d", key, NOOP_JOB_KEEP_S));
    r = df_redis_command(ctx->redis, &err, "INCR %s", starts);
    freeReplyObject(r);
    freeReplyObject(df_redis_command(ctx->redis, &err, "EXPIRE %s %d", starts, NOOP_JOB_KEEP_S));
    job = json_pack("{s:s}", "job_id", id);
    df_error_init(&err);
    if (df_task_ctx_job_put(ctx, job, &err) != DF_OK)
        df_warn("noop: job state of task %s not saved: %s", ctx->task_id, err.message);
    return df_outcome_poll(out, job, poll_ms);
}

/* Poll an operation: done, failed, a simulated 5xx, or not yet. */
static df_outcome_kind_t job_poll(df_task_ctx_t *ctx, int64_t poll_ms, df_outcome_t *out)
{
    const char *id = json_string_value(json_object_get(ctx->job, "job_id"));
    char key[128];
    df_error_t err;
    redisReply *r;
    long long polls, ends = 0, started = 0, poll_fail = 0;
    const char *fail = "";
    df_outcome_kind_t kind;

    if (!id)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "noop_job_lost",
                              "the job state has no job_id");
    if (!ctx->redis)
        return redis_gone(out, NULL);
    snprintf(key, sizeof(key), "df:noop:job:%s", id);
    df_error_init(&err);
    r = df_redis_command(ctx->redis, &err, "HMGET %s ends_ms started_ms poll_fail fail", key);
    if (!r)
        return redis_gone(out, &err);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "noop_job_lost",
                              "simulated operation %s is unknown to the platform", id);
    }
    ends = atoll(r->element[0]->str);
    if (r->element[1]->type == REDIS_REPLY_STRING)
        started = atoll(r->element[1]->str);
    if (r->element[2]->type == REDIS_REPLY_STRING)
        poll_fail = atoll(r->element[2]->str);
    if (r->element[3]->type == REDIS_REPLY_STRING)
        fail = r->element[3]->str;
    {
        redisReply *p = df_redis_command(ctx->redis, &err, "HINCRBY %s polls 1", key);
        polls = p && p->type == REDIS_REPLY_INTEGER ? p->integer : 0;
        freeReplyObject(p);
    }
    if (poll_fail > 0 && polls == poll_fail) {
        json_t *ra = json_object_get(ctx->params, "retry_after_ms");
        df_outcome_set(out, DF_OUTCOME_RETRY, "noop_unavailable",
                       "the simulated platform answered 503 to poll %lld of operation %s", polls,
                       id);
        out->retry_after_ms = json_is_integer(ra) ? json_integer_value(ra) : -1;
        out->error.retry_after_ms = out->retry_after_ms;
        kind = DF_OUTCOME_RETRY;
    } else if (df_now_ms() < ends) {
        kind = df_outcome_poll(out, json_deep_copy(ctx->job), poll_ms);
    } else if (*fail) {
        kind = df_outcome_set(out, DF_OUTCOME_PERMANENT, "noop_job_failed",
                              "simulated operation %s failed: %s", id, fail);
    } else {
        out->result = json_pack("{s:s, s:I, s:I}", "refresh_id", id, "polls", (json_int_t)polls,
                                "duration_ms", (json_int_t)(ends - started));
        kind = DF_OUTCOME_OK;
    }
    freeReplyObject(r);
    return kind;
}

/* With params.refresh_target, one operation per target runs across the fleet
 * (refresh_guard.h): the first task starts it, tasks asking meanwhile
 * join it (their result says coalesced_into), and a task that finds the
 * target taken before its operation started polls again shortly. */
#define NOOP_WAIT_MS 300

static df_outcome_kind_t guarded_poll(df_task_ctx_t *ctx, const char *target, int64_t poll_ms,
                                      df_outcome_t *out)
{
    const char *owner = json_string_value(json_object_get(ctx->job, "coalesced_into"));
    df_outcome_kind_t kind;

    df_error_t err;

    df_error_init(&err);
    if (!owner &&
        df_refresh_guard_touch(ctx, target, ctx->job, df_refresh_guard_ttl(poll_ms), &err) != DF_OK)
        df_warn("noop: refresh of %s: %s", target, err.message);
    kind = job_poll(ctx, poll_ms, out);
    if (kind == DF_OUTCOME_POLL || kind == DF_OUTCOME_RETRY)
        return kind;
    if (owner && kind == DF_OUTCOME_OK)
        json_object_set_new(out->result, "coalesced_into", json_string(owner));
    if (!owner && df_refresh_guard_end(ctx, target, &err) != DF_OK)
        df_warn("noop: refresh of %s not released: %s", target, err.message);
    return kind;
}

static df_outcome_kind_t guarded_start(df_task_ctx_t *ctx, const char *target, int64_t duration_ms,
                                       int64_t poll_ms, df_outcome_t *out)
{
    df_refresh_claim_t claim;
    df_refresh_role_t role;
    df_error_t err;

    df_error_init(&err);
    df_refresh_claim_init(&claim);
    if (df_refresh_guard_begin(ctx, target, df_refresh_guard_ttl(poll_ms), &claim, &err) != DF_OK)
        return redis_gone(out, &err);
    role = claim.role;
    if (role == DF_REFRESH_WAIT) {
        json_t *w = json_pack("{s:s}", "waiting_for", claim.owner);
        df_refresh_claim_free(&claim);
        return df_outcome_poll(out, w, NOOP_WAIT_MS);
    }
    if (role == DF_REFRESH_JOIN) {
        json_t *joined = json_is_object(claim.job) ? json_deep_copy(claim.job) : json_object();
        json_object_set_new(joined, "coalesced_into", json_string(claim.owner));
        if (df_task_ctx_job_put(ctx, joined, &err) != DF_OK)
            df_warn("noop: job state of task %s not saved: %s", ctx->task_id, err.message);
        df_info("refresh of %s coalesced into task %s's", target, claim.owner);
        df_refresh_claim_free(&claim);
        return df_outcome_poll(out, joined, poll_ms);
    }
    df_refresh_claim_free(&claim);
    if (job_start(ctx, duration_ms, poll_ms, out) == DF_OUTCOME_POLL &&
        df_refresh_guard_set_job(ctx, target, out->job, df_refresh_guard_ttl(poll_ms), &err) !=
            DF_OK)
        df_warn("noop: refresh of %s: %s", target, err.message);
    return out->kind;
}

static df_outcome_kind_t noop_refresh(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *params = ctx->params;
    json_t *jf = json_object_get(params, "job_fail");
    json_t *jt = json_object_get(params, "refresh_target");
    int64_t duration_ms, poll_ms, poll_fail;
    df_stop_reason_t why;
    char target[300] = "";

    if (!json_object_get(params, "duration_ms"))
        return noop_run(ctx, out); /* no operation: like every other type */
    if (!int_param(params, "duration_ms", 0, 0, &duration_ms, out) ||
        !int_param(params, "poll_ms", 0, NOOP_POLL_MS_DEF, &poll_ms, out) ||
        !int_param(params, "poll_fail", 1, 0, &poll_fail, out))
        return out->kind;
    if (jf && !json_is_string(jf))
        return bad_param(out, "job_fail", "a string (the operation's failure message)");
    if (jt &&
        (!json_is_string(jt) || !*json_string_value(jt) || strlen(json_string_value(jt)) > 200))
        return bad_param(out, "refresh_target",
                         "a string of 1 to 200 characters (what is refreshed)");
    if (jt)
        snprintf(target, sizeof(target), "%s:%s", ctx->connector, json_string_value(jt));
    if ((why = ctx->should_stop(ctx)) != DF_STOP_NONE)
        return stopped(why, out);
    if (ctx->job && json_object_get(ctx->job, "job_id"))
        return target[0] ? guarded_poll(ctx, target, poll_ms, out) : job_poll(ctx, poll_ms, out);
    /* Starting: the common params (sleep, injected failures) apply first. */
    if (!ctx->job && noop_run(ctx, out) != DF_OUTCOME_OK)
        return out->kind;
    json_decref(out->result);
    out->result = NULL;
    if (target[0])
        return guarded_start(ctx, target, duration_ms, poll_ms, out);
    return job_start(ctx, duration_ms, poll_ms, out);
}

/* The graph a lineage task reports (docs/LINEAGE.md): params.lineage as
 * given (an object: tests and demos choose the graph), else source ->
 * target in namespace noop://. */
static df_outcome_kind_t noop_lineage(df_task_ctx_t *ctx, df_outcome_t *out)
{
    json_t *given = json_object_get(ctx->params, "lineage"), *graph;

    if (given && !json_is_object(given))
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                              "params.lineage: expected an object {\"nodes\": [...], "
                              "\"edges\": [...]}");
    if (noop_run(ctx, out) != DF_OUTCOME_OK)
        return out->kind;
    graph = given ? json_deep_copy(given)
                  : json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:[{s:{s:s, s:s}, "
                              "s:{s:s, s:s}, s:s}]}",
                              "nodes", "namespace", "noop://", "name", "source", "kind", "dataset",
                              "namespace", "noop://", "name", "target", "kind", "dataset", "edges",
                              "from", "namespace", "noop://", "name", "source", "to", "namespace",
                              "noop://", "name", "target", "kind", "feeds");
    if (!out->result)
        out->result = json_object();
    json_object_set_new(out->result, "lineage", graph);
    return DF_OUTCOME_OK;
}

const df_connector_ops_t df_connector_noop = {
    .kind = "noop",
    .export_ops = &df_export_noop_sink,
    .probe = noop_run,
    .export_rows = noop_run,
    .refresh = noop_refresh,
    .lineage = noop_lineage,
};
