/* runner_poll: the runner's side of platform operations that outlive one
 * call (DF_OUTCOME_POLL, docs/RETRIES.md): the operation's state kept in
 * the run and in Redis, polls in place, and the hand-off of a longer wait
 * to the scheduler, whose next poll message any worker picks up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_task.h"
#include "lease.h"
#include "run.h"
#include "runtime.h"

/* ctx->job_put: keep the operation's state in the run (the hand-off
 * carries it) and in Redis, fenced by the lease. */
df_code_t df_run_job_put(df_task_ctx_t *ctx, const json_t *job, df_error_t *err)
{
    run_t *run = ctx->runner;
    json_t *copy = job ? json_deep_copy(job) : NULL;
    char *text = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
    df_redis_t *redis;
    int fenced = 0;
    df_code_t rc;

    if (job && (!copy || !text)) {
        json_decref(copy);
        free(text);
        return df_error_set(err, DF_ERR_NOMEM, "job", "out of memory keeping the job state");
    }
    json_decref(run->job);
    run->job = copy;
    ctx->job = run->job;
    redis = df_run_redis(run->r);
    if (!redis) {
        free(text);
        return df_error_set(err, DF_ERR_REDIS, "job", "Redis is unreachable: job state not kept");
    }
    rc = df_lease_job_put(redis, run->task_id, run->slot->token[0] ? run->slot->token : NULL, text,
                          &fenced, err);
    free(text);
    if (rc == DF_OK && fenced)
        rc = df_error_set(err, DF_ERR_CONFLICT, "lease",
                          "the task's lease belongs to another run: job state not kept");
    return rc;
}

/* A `progress` event with the polls so far (at most one a second). */
void df_run_poll_progress(run_t *run)
{
    int64_t now = df_mono_ms();
    json_t *ev;

    if (now - run->last_progress_ms < 1000)
        return;
    run->last_progress_ms = now;
    ev = df_run_event(run, DF_STATE_PROGRESS);
    if (!ev)
        return;
    json_object_set_new(ev, "progress", json_pack("{s:i}", "polls", run->polls));
    df_run_send(run, ev, NULL);
    json_decref(ev);
}

/* A POLL outcome: take its job state into the run (saving it when it
 * changed). False (out turned into a permanent failure) when the
 * connector gave no state to poll with. */
bool df_run_take_poll(run_t *run, df_task_ctx_t *ctx, df_outcome_t *out)
{
    df_error_t err;

    if (!json_is_object(out->job) && !run->job) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "connector_error",
                       "connector %s asked to poll without a job state", ctx->connector);
        return false;
    }
    if (json_is_object(out->job) && !(run->job && json_equal(run->job, out->job))) {
        df_error_init(&err);
        if (df_run_job_put(ctx, out->job, &err))
            df_debug("job state of task %s not saved yet: %s", run->task_id, err.message);
    }
    json_decref(out->job);
    out->job = NULL;
    run->polls++;
    if (!run->poll_since_ms)
        run->poll_since_ms = df_now_ms();
    return true;
}

/* The wait before the next poll: as the connector asked, but never past
 * the deadline (the run then stops as the deadline says). */
int64_t df_run_poll_wait(const run_t *run, const df_outcome_t *out)
{
    int64_t wait = out->retry_after_ms < 0 ? 0 : out->retry_after_ms;

    if (run->deadline_ms) {
        int64_t left = run->deadline_ms - df_now_ms();
        if (left < wait)
            wait = left < 0 ? 0 : left;
    }
    return wait;
}

/* Hand a platform operation that is still going to the scheduler: the lease
 * is released (the state stays `running`, with the next poll's position),
 * and a `progress` event carries the next poll message, which the recorder
 * keeps in delayed_tasks until after_ms have passed. The slot is done when
 * the event is in Kafka. A job state that cannot travel in a task message
 * (a key naming a secret) fails the task: nobody could poll it. */
void df_run_hand_off_poll(run_t *run, int64_t after_ms, df_outcome_t *out)
{
    json_t *ev = df_run_event(run, DF_STATE_PROGRESS), *next, *f = NULL;
    char since[40], *event_text = NULL, *fields = NULL;
    int seq = run->polls + 1, fenced = 0;
    df_error_t err;

    if (!ev)
        return;
    df_time_format(run->poll_since_ms, since, sizeof(since));
    next = json_deep_copy(run->task);
    if (next) {
        json_object_set_new(next, "attempt", json_integer(run->attempt));
        json_object_set_new(next, "poll",
                            json_pack("{s:O, s:i, s:I, s:s}", "job", run->job, "seq", seq,
                                      "after_ms", (json_int_t)after_ms, "since", since));
        df_error_init(&err);
        if (df_task_validate(next, &err) != DF_OK) {
            json_decref(next);
            json_decref(ev);
            __atomic_add_fetch(&run->r->rt->tasks_failed, 1, __ATOMIC_RELAXED);
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "connector_error",
                           "the job state of connector %s cannot travel in a poll message: %s%s%s",
                           run->connector, err.field, err.field[0] ? ": " : "", err.message);
            df_run_finish(run, DF_STATE_FAILED, "connector_error", out);
            return;
        }
        json_object_set_new(ev, "task", next);
    }
    json_object_set_new(ev, "progress", json_pack("{s:i}", "polls", run->polls));
    event_text = json_dumps(ev, JSON_COMPACT);
    if (event_text)
        f = json_pack("{s:i, s:i, s:s, s:s, s:O}", "pos_attempt", run->attempt, "poll_seq", seq,
                      "waiting", "poll", "event", event_text, "job", run->job);
    fields = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    free(event_text);
    if (!next || !fields) {
        df_error("task %s: out of memory handing the poll to the scheduler", run->task_id);
        free(fields);
        json_decref(ev);
        return; /* not done: the message comes back after a restart */
    }
    df_info("task %s: platform operation under way (%d polls): next poll in %lld ms, through the "
            "scheduler",
            run->task_id, run->polls, (long long)after_ms);
    if (!df_run_update(run, DF_STATE_RUNNING, DF_LEASE_RELEASE, fields, &fenced)) {
        free(fields);
        json_decref(ev);
        return;
    }
    free(fields);
    if (fenced) {
        df_warn("task %s: the lease was taken by another run; leaving the polling to it",
                run->task_id);
        df_dispatch_done(run->r->rt->dispatch, run->slot);
    } else {
        df_run_send(run, ev, run->slot);
    }
    json_decref(ev);
}

/* A poll message (task.poll, schema-checked): its position and the
 * operation's state as the hand-off recorded it. */
void df_run_read_poll(run_t *run)
{
    json_t *poll = json_object_get(run->task, "poll");
    int64_t since = 0;

    if (!json_is_object(poll))
        return;
    run->poll_seq = (int)json_integer_value(json_object_get(poll, "seq"));
    run->polls = run->poll_seq > 0 ? run->poll_seq - 1 : 0;
    if (df_time_parse(df_task_str(poll, "since"), &since))
        run->poll_since_ms = since;
    if (json_is_object(json_object_get(poll, "job")))
        run->job = json_deep_copy(json_object_get(poll, "job"));
}

/* The operation state kept in Redis (newer than the message's when both
 * exist: a connector may update it while it polls). With none, what the
 * message carries stays (Redis lost it). */
void df_run_load_job(run_t *run)
{
    df_redis_t *redis = df_run_redis(run->r);
    char *text = NULL;
    json_t *job;
    df_error_t err;

    df_error_init(&err);
    if (!redis || df_lease_job_get(redis, run->task_id, &text, &err) != DF_OK) {
        if (redis)
            df_warn("task %s: cannot read its job state: %s", run->task_id, err.message);
        return;
    }
    job = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (json_is_object(job)) {
        json_decref(run->job);
        run->job = job;
    } else {
        json_decref(job);
    }
}
