/* runner: runs one consumed task message from validation to its outcome:
 * poison messages to the DLQ, the lease, the connector call with in-place
 * retries and polls, the Redis status and the events, and the hand-back on
 * shutdown. Waits longer than --inline-retry-max go to the scheduler
 * instead of holding a slot: a `retrying` event carries the next attempt,
 * a `progress` event the next poll of a platform operation (the recorder
 * keeps both in delayed_tasks; docs/RETRIES.md; runner_poll.c does the
 * polling part). Each runner thread has its own Redis connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connector.h"
#include "export.h"
#include "df_id.h"
#include "df_log.h"
#include "df_openlineage.h"
#include "df_redis.h"
#include "df_task.h"
#include "df_trace.h"
#include "lease.h"
#include "metrics.h"
#include "registry.h"
#include "retry.h"
#include "run.h"
#include "runtime.h"

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int slot_stop(const df_slot_t *slot)
{
    return __atomic_load_n(&slot->stop, __ATOMIC_RELAXED);
}

/* The runner's Redis connection, (re)connected when needed. NULL (after a
 * paced warning) while Redis is unreachable. */
df_redis_t *df_run_redis(runner_t *r)
{
    df_error_t err;

    if (r->redis)
        return r->redis;
    df_error_init(&err);
    r->redis = df_redis_new(r->rt->cfg->common.redis_url, 2000, 5000, &err);
    if (!r->redis) {
        int64_t now = df_mono_ms();
        if (r->redis_warned_ms == 0 || now - r->redis_warned_ms > 5000) {
            df_warn("Redis unreachable: %s", err.message);
            r->redis_warned_ms = now;
        }
    }
    return r->redis;
}

/* A Redis call failed: keep the connection (df_redis reconnects) unless it
 * is unusable, and wait a little before the caller retries. */
static void redis_failed(runner_t *r, const df_error_t *err)
{
    int64_t now = df_mono_ms();
    if (r->redis_warned_ms == 0 || now - r->redis_warned_ms > 5000) {
        df_warn("Redis call failed: %s (retrying)", err->message);
        r->redis_warned_ms = now;
    }
    sleep_ms(200);
}

static df_stop_reason_t ctx_should_stop(df_task_ctx_t *ctx)
{
    run_t *run = ctx->runner;
    int stop = slot_stop(run->slot);

    if (stop)
        return (df_stop_reason_t)stop;
    if (run->deadline_ms && df_now_ms() >= run->deadline_ms)
        return DF_STOP_DEADLINE;
    return DF_STOP_NONE;
}

void df_run_send(run_t *run, json_t *ev, df_slot_t *track)
{
    df_runtime_send(run->r->rt, run->r->rt->events_topic, run->task_id, ev, DF_EVENT_SCHEMA,
                    run->traceparent[0] ? run->traceparent : NULL, track);
}

json_t *df_run_event(run_t *run, const char *state)
{
    json_t *ev = df_event_new(run->task_id, run->attempt, state, run->r->rt->worker_id);
    if (ev && run->type)
        json_object_set_new(ev, "type", json_string(run->type));
    if (ev && run->connector)
        json_object_set_new(ev, "connector", json_string(run->connector));
    return ev;
}

static void ctx_progress(df_task_ctx_t *ctx, int64_t rows, int64_t bytes, int64_t chunks)
{
    run_t *run = ctx->runner;
    int64_t now = df_mono_ms();
    json_t *ev;

    if (now - run->last_progress_ms < 1000) /* at most one progress event a second */
        return;
    run->last_progress_ms = now;
    ev = df_run_event(run, DF_STATE_PROGRESS);
    if (!ev)
        return;
    json_object_set_new(ev, "progress",
                        json_pack("{s:I, s:I, s:I}", "rows", (json_int_t)rows, "bytes",
                                  (json_int_t)bytes, "chunks", (json_int_t)chunks));
    df_run_send(run, ev, NULL);
    json_decref(ev);
}

/* Update Redis until it works or the worker stops handing tasks on.
 * Returns false when it gave up (worker stopping with Redis down). */
bool df_run_update(run_t *run, const char *state, int final, const char *fields, int *fenced)
{
    df_error_t err;

    *fenced = 0;
    for (;;) {
        df_redis_t *redis = df_run_redis(run->r);
        df_error_init(&err);
        if (redis && df_lease_update(
                         redis, run->task_id, run->slot->token[0] ? run->slot->token : NULL, state,
                         run->attempt, final, DF_TASK_KEEP_S, fields, fenced, &err) == DF_OK)
            return true;
        if (redis)
            redis_failed(run->r, &err);
        else
            sleep_ms(500);
        if (__atomic_load_n(&run->r->rt->runners_exit, __ATOMIC_RELAXED))
            return false;
    }
}

/* Redis fields for an outcome: error code/message, result. Caller frees. */
static char *outcome_fields(const df_outcome_t *out, const char *code)
{
    json_t *f = json_object();
    char *text;

    if (code) {
        char message[DF_ERR_MSG_MAX];
        memcpy(message, out->error.message, sizeof(message));
        df_log_redact(message);
        json_object_set_new(f, "error_code", json_string(code));
        json_object_set_new(f, "error", json_string(message));
    }
    if (out->result)
        json_object_set(f, "result", out->result);
    text = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    return text;
}

/* Send the original message to the DLQ with the reason in its headers.
 * When track is set, the slot is done when the DLQ has it. */
static void to_dlq(runner_t *r, df_slot_t *slot, const char *code, const df_error_t *why,
                   bool track)
{
    rd_kafka_message_t *msg = slot->msg;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    char num[32];
    df_error_t err;
    char message[DF_ERR_MSG_MAX];

    memcpy(message, why->message, sizeof(message));
    df_log_redact(message);
    rd_kafka_header_add(h, "dlq_reason", -1, code, -1);
    rd_kafka_header_add(h, "dlq_error", -1, message, -1);
    if (why->field[0])
        rd_kafka_header_add(h, "dlq_field", -1, why->field, -1);
    rd_kafka_header_add(h, "dlq_topic", -1, rd_kafka_topic_name(msg->rkt), -1);
    snprintf(num, sizeof(num), "%d", (int)msg->partition);
    rd_kafka_header_add(h, "dlq_partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)msg->offset);
    rd_kafka_header_add(h, "dlq_offset", -1, num, -1);
    rd_kafka_header_add(h, "dlq_worker", -1, r->rt->worker_id, -1);
    df_error_init(&err);
    __atomic_add_fetch(&r->rt->tasks_dlq, 1, __ATOMIC_RELAXED);
    df_wm_dlq(code);
    if (df_kafka_producer_send(r->rt->producer, r->rt->dlq_topic, msg->key, msg->key_len,
                               msg->payload, msg->len, h, track ? slot : NULL, &err) != DF_OK)
        df_error("cannot send message %s/%d@%lld to the DLQ: %s", rd_kafka_topic_name(msg->rkt),
                 (int)msg->partition, (long long)msg->offset, err.message);
}

/* A message that cannot run: to the DLQ; its task (when it has a usable id)
 * recorded dead in Redis and the history. */
static void poison(run_t *run, const char *code, const df_error_t *why)
{
    int fenced;

    if (strcmp(code, "schema_invalid") == 0) {
        /* Keep what failed validation out of the event (it would fail too). */
        run->type = NULL;
        run->connector = NULL;
    }

    df_warn("message %s/%d@%lld to the DLQ: %s%s%s: %s", rd_kafka_topic_name(run->slot->msg->rkt),
            (int)run->slot->msg->partition, (long long)run->slot->msg->offset, code,
            why->field[0] ? " at " : "", why->field, why->message);
    if (run->task_id && df_id_valid(run->task_id)) {
        json_t *ev = df_run_event(run, DF_STATE_DEAD);
        df_outcome_t out;
        char *fields;
        df_outcome_init(&out);
        out.error = *why;
        fields = outcome_fields(&out, code);
        df_run_update(run, DF_STATE_DEAD, DF_LEASE_FINAL, fields, &fenced);
        free(fields);
        if (ev) {
            df_event_set_error(ev, code, why);
            df_run_send(run, ev, NULL);
            json_decref(ev);
        }
    }
    to_dlq(run->r, run->slot, code, why, true);
}

/* Take the lease, waiting while another run holds it. Returns the verdict,
 * or -1 when the worker is shutting down first. */
static int take_lease(run_t *run, const df_connector_def_t *def, int *takeovers,
                      char **stored_event)
{
    const df_worker_config_t *cfg = run->r->rt->cfg;
    df_lease_request_t req = {
        .task_id = run->task_id,
        .worker = run->r->rt->worker_id,
        .type = run->type,
        .connector = def->name,
        .attempt = run->attempt,
        .poll_seq = run->poll_seq,
        .ttl_ms = cfg->lease_ttl_ms,
        .max_takeovers = (int)cfg->max_takeovers,
    };
    df_lease_start_t verdict;
    df_error_t err;
    int64_t busy_since = 0;

    for (;;) {
        df_redis_t *redis;
        if (slot_stop(run->slot) == DF_STOP_HANDBACK)
            return -1;
        redis = df_run_redis(run->r);
        if (!redis) {
            sleep_ms(500);
            continue;
        }
        df_error_init(&err);
        if (df_lease_start(redis, &req, &verdict, run->slot->token, takeovers, stored_event,
                           &err) != DF_OK) {
            redis_failed(run->r, &err);
            continue;
        }
        if (verdict != DF_LEASE_BUSY)
            return (int)verdict;
        if (!busy_since) {
            busy_since = df_mono_ms();
            df_info("task %s is running elsewhere (live lease): waiting", run->task_id);
        }
        sleep_ms(250);
    }
}

/* Finish with a terminal or retrying state: Redis, then the event that
 * marks the slot done. */
/* The OpenLineage event that ends this attempt's run: COMPLETE, FAIL
 * (failed, dead, or retrying: the next attempt is another run) or ABORT
 * (cancelled); nothing for a task handed back. */
static void openlineage_end(run_t *run, const char *state, const df_outcome_t *out)
{
    const char *type = strcmp(state, DF_STATE_SUCCEEDED) == 0   ? "COMPLETE"
                       : strcmp(state, DF_STATE_CANCELLED) == 0 ? "ABORT"
                       : strcmp(state, DF_STATE_FAILED) == 0 || strcmp(state, DF_STATE_DEAD) == 0 ||
                               strcmp(state, DF_STATE_RETRYING) == 0
                           ? "FAIL"
                           : NULL;

    if (!type || !run->r->rt->openlineage)
        return;
    df_openlineage_emit(
        run->r->rt->openlineage,
        df_openlineage_run_event(type, run->task_id, run->attempt, run->type, run->connector,
                                 out->result ? json_object_get(out->result, "lineage") : NULL,
                                 strcmp(type, "COMPLETE") != 0 ? out->error.message : NULL));
}

void df_run_finish(run_t *run, const char *state, const char *code, df_outcome_t *out)
{
    int final = df_state_is_terminal(state) ? DF_LEASE_FINAL : DF_LEASE_RELEASE;
    char *fields = NULL, *event_text = NULL;
    int fenced = 0;
    json_t *ev, *f;

    df_wm_finished(run->type, run->kind, state, code,
                   run->run_started_ms ? (double)(df_mono_ms() - run->run_started_ms) / 1000.0
                                       : -1);
    ev = df_run_event(run, state);
    if (!ev)
        return;
    openlineage_end(run, state, out);
    if (code)
        df_event_set_error(ev, code, &out->error);
    if (out->result)
        json_object_set(ev, "result", out->result);
    if (strcmp(state, DF_STATE_RETRYING) == 0) {
        /* The next attempt is a task message again: a platform operation
         * under way is resumed from the job state kept in Redis. */
        json_t *next = json_deep_copy(run->task);
        json_object_set_new(next, "attempt", json_integer(run->attempt + 1));
        json_object_del(next, "poll");
        json_object_set_new(ev, "task", next);
    }
    /* The event is kept with the state: if this worker dies before the event
     * is in Kafka, the next owner of the message re-sends it. */
    event_text = json_dumps(ev, JSON_COMPACT);
    fields = outcome_fields(out, code);
    f = fields ? json_loads(fields, 0, NULL) : NULL;
    free(fields);
    fields = NULL;
    if (f && event_text) {
        json_object_set_new(f, "event", json_string(event_text));
        if (run->job && strcmp(state, DF_STATE_RETRYING) == 0)
            json_object_set(f, "job", run->job);
        fields = json_dumps(f, JSON_COMPACT);
    }
    json_decref(f);
    free(event_text);
    if (!df_run_update(run, state, final, fields, &fenced)) {
        free(fields);
        json_decref(ev);
        return; /* shutting down with Redis gone: the task comes back */
    }
    free(fields);
    if (fenced) {
        df_warn("task %s: the lease was taken by another run; leaving the outcome to it",
                run->task_id);
        df_dispatch_done(run->r->rt->dispatch, run->slot);
    } else {
        df_run_send(run, ev, run->slot);
    }
    json_decref(ev);
}

/* A redelivered message of a task that already ended, or that a later
 * attempt or poll superseded: send the event the task recorded last again
 * (same event_id: the history keeps it once, and the recorder schedules a
 * re-publish once), since the run may have died before it reached Kafka. */
static void resend_outcome(run_t *run, const char *stored_event)
{
    json_t *ev = stored_event ? json_loads(stored_event, 0, NULL) : NULL;

    if (ev)
        df_run_send(run, ev, run->slot);
    else
        df_dispatch_done(run->r->rt->dispatch, run->slot);
    json_decref(ev);
}

static df_connector_op_fn op_for(const df_connector_ops_t *ops, const char *type)
{
    if (strcmp(type, "export") == 0)
        return ops->export_rows;
    if (strcmp(type, "refresh") == 0)
        return ops->refresh;
    if (strcmp(type, "lineage") == 0)
        return ops->lineage;
    if (strcmp(type, "probe") == 0)
        return ops->probe;
    return NULL;
}

/* Call the connector, retrying and polling in place while the wait is
 * short. */
static void execute(run_t *run, const df_connector_def_t *def)
{
    /* Outbound requests carry a child span of the task's trace. */
    char outbound[DF_TRACEPARENT_LEN + 1];
    const df_worker_config_t *cfg = run->r->rt->cfg;
    df_connector_op_fn op = def->ops ? op_for(def->ops, run->type) : NULL;
    df_task_ctx_t ctx = {
        .task = run->task,
        .params = json_object_get(run->task, "params"),
        .task_id = run->task_id,
        .connector = def->name,
        .connector_kind = def->kind,
        .connector_config = def->config,
        .connector_secrets = def->secrets,
        .connector_limits = def->limits,
        .redis = df_run_redis(run->r),
        .database_url = run->r->rt->cfg->common.database_url,
        .keyring = run->r->rt->keyring,
        .traceparent = outbound,
        .deadline_ms = run->deadline_ms,
        .should_stop = ctx_should_stop,
        .progress = ctx_progress,
        .job_put = df_run_job_put,
        .runner = run,
    };
    df_outcome_t out;
    df_stop_reason_t why;
    int64_t wait = 0;

    df_trace_child(run->traceparent, outbound, sizeof(outbound));
    df_outcome_init(&out);
    /* A run starts once: not again when a poll of its operation resumes it. */
    if (run->r->rt->openlineage && !run->job && run->polls == 0)
        df_openlineage_emit(run->r->rt->openlineage,
                            df_openlineage_run_event("START", run->task_id, run->attempt, run->type,
                                                     run->connector, NULL, NULL));
    for (;;) {
        ctx.attempt = run->attempt;
        ctx.job = run->job;
        ctx.polls = run->polls;
        ctx.poll_since_ms = run->poll_since_ms;
        if (def->unavailable)
            df_outcome_set(&out, DF_OUTCOME_PERMANENT, "connector_unavailable",
                           "connector %s cannot be used by this worker: %s", def->name,
                           def->unavailable);
        else if (!def->enabled)
            df_outcome_set(&out, DF_OUTCOME_PERMANENT, "connector_disabled",
                           "connector %s is disabled", def->name);
        else if (!def->ops)
            df_outcome_set(&out, DF_OUTCOME_PERMANENT, "unsupported_kind",
                           "this worker does not implement connector kind %s", def->kind);
        else if (!op)
            df_outcome_set(&out, DF_OUTCOME_PERMANENT, "unsupported",
                           "connector kind %s does not do %s tasks", def->kind, run->type);
        else if (def->ops->export_ops && strcmp(run->type, "export") == 0 &&
                 json_object_get(ctx.params, "source"))
            df_export_run(&ctx, def->ops->export_ops, &out);
        else
            op(&ctx, &out);
        why = ctx_should_stop(&ctx);
        if (why == DF_STOP_HANDBACK || why == DF_STOP_LEASE_LOST)
            break;
        if (out.kind == DF_OUTCOME_POLL) {
            if (!df_run_take_poll(run, &ctx, &out))
                break;
            wait = df_run_poll_wait(run, &out);
            out.retry_after_ms = wait;
            if (wait > cfg->inline_retry_max_ms)
                break;
            df_run_poll_progress(run);
            df_debug("platform operation under way, polling again in %lld ms", (long long)wait);
            if (df_task_ctx_sleep(&ctx, wait) != DF_STOP_NONE)
                break;
            df_outcome_free(&out);
            df_outcome_init(&out);
            continue;
        }
        if (out.kind != DF_OUTCOME_RETRY || run->attempt >= run->max_attempts)
            break;
        wait = df_retry_wait_ms(&run->policy, run->attempt, out.retry_after_ms, df_retry_random,
                                &run->r->rng);
        out.retry_after_ms = wait;
        if (wait > cfg->inline_retry_max_ms)
            break;
        df_info("attempt %d failed (%s), retrying in place in %lld ms", run->attempt,
                out.error.message, (long long)wait);
        /* Counted like a handed-over retry, so short platform errors show
         * on the error panels too (no duration: the run goes on). */
        df_wm_finished(run->type, run->kind, DF_STATE_RETRYING,
                       out.code[0] ? out.code : "retryable", -1);
        if (df_task_ctx_sleep(&ctx, wait) != DF_STOP_NONE)
            continue; /* the next op call sees the stop and returns at once */
        openlineage_end(run, DF_STATE_RETRYING, &out);
        run->attempt++;
        if (run->r->rt->openlineage)
            df_openlineage_emit(run->r->rt->openlineage,
                                df_openlineage_run_event("START", run->task_id, run->attempt,
                                                         run->type, run->connector, NULL, NULL));
        df_outcome_free(&out);
        df_outcome_init(&out);
        {
            int fenced;
            json_t *ev = df_run_event(run, DF_STATE_RUNNING);
            df_run_update(run, DF_STATE_RUNNING, DF_LEASE_RUNNING, NULL, &fenced);
            if (ev) {
                df_run_send(run, ev, NULL);
                json_decref(ev);
            }
        }
    }

    why = ctx_should_stop(&ctx);
    if (why == DF_STOP_HANDBACK && out.kind != DF_OUTCOME_OK) {
        df_error_t err;
        df_redis_t *redis = df_run_redis(run->r);
        df_error_init(&err);
        df_info("handing task %s back (shutting down)", run->task_id);
        if (redis && df_lease_handback(redis, run->task_id, run->slot->token, &err))
            df_warn("hand-back of task %s: %s", run->task_id, err.message);
        /* not done: the offset stays, another worker runs it again */
    } else if (why == DF_STOP_LEASE_LOST && out.kind != DF_OUTCOME_OK) {
        df_warn("task %s: lease lost to another run; stopping this one", run->task_id);
        df_dispatch_done(run->r->rt->dispatch, run->slot);
    } else if (out.kind == DF_OUTCOME_OK) {
        __atomic_add_fetch(&run->r->rt->tasks_succeeded, 1, __ATOMIC_RELAXED);
        df_run_finish(run, DF_STATE_SUCCEEDED, NULL, &out);
    } else if (out.kind == DF_OUTCOME_CANCELLED || why == DF_STOP_CANCELLED ||
               why == DF_STOP_DEADLINE) {
        if (why == DF_STOP_DEADLINE)
            df_outcome_set(&out, DF_OUTCOME_CANCELLED, "deadline_exceeded",
                           "the task's deadline passed while it ran");
        df_run_finish(run, DF_STATE_CANCELLED, out.code[0] ? out.code : "cancelled", &out);
    } else if (out.kind == DF_OUTCOME_POLL) {
        df_run_hand_off_poll(run, wait, &out);
    } else if (out.kind == DF_OUTCOME_RETRY && run->attempt < run->max_attempts) {
        out.error.retryable = true;
        out.error.retry_after_ms = wait;
        df_run_finish(run, DF_STATE_RETRYING, out.code[0] ? out.code : "retryable", &out);
    } else if (out.kind == DF_OUTCOME_RETRY) {
        __atomic_add_fetch(&run->r->rt->tasks_failed, 1, __ATOMIC_RELAXED);
        df_error_prefix(&out.error, "attempts exhausted (%d of %d)", run->attempt,
                        run->max_attempts);
        to_dlq(run->r, run->slot, "attempts_exhausted", &out.error, false);
        df_run_finish(run, DF_STATE_DEAD, "attempts_exhausted", &out);
    } else {
        __atomic_add_fetch(&run->r->rt->tasks_failed, 1, __ATOMIC_RELAXED);
        df_run_finish(run, DF_STATE_FAILED,
                      out.code[0]                   ? out.code
                      : out.kind == DF_OUTCOME_AUTH ? "auth"
                                                    : "failed",
                      &out);
    }
    df_outcome_free(&out);
}

/* The connector's definition (a reference the caller releases). A name
 * not found while the PostgreSQL registry has not loaded yet (the worker
 * just started and PostgreSQL is slow or down) is looked for again for up
 * to REGISTRY_WAIT_MS, rather than dead-lettering a task whose connector
 * is only not known yet. */
#define REGISTRY_WAIT_MS 15000
static bool find_connector(runner_t *r, const char *name, df_connector_def_t *def)
{
    int64_t until = df_mono_ms() + REGISTRY_WAIT_MS;

    while (!df_registry_find(name, def)) {
        if (df_registry_pg_ready() || df_mono_ms() >= until ||
            __atomic_load_n(&r->rt->runners_exit, __ATOMIC_RELAXED))
            return false;
        struct timespec pause = { 0, 100 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    return true;
}

/* Everything before the connector runs: parse, validate, route, lease. */
static void run_slot(runner_t *r, df_slot_t *slot)
{
    const df_worker_config_t *cfg = r->rt->cfg;
    rd_kafka_message_t *msg = slot->msg;
    run_t run = { .r = r, .slot = slot, .attempt = 1 };
    df_connector_def_t def = { .name = NULL };
    df_kafka_topic_t want;
    json_error_t jerr;
    df_error_t err;
    int takeovers = 0;
    char *stored_event = NULL;
    int verdict;

    df_error_init(&err);
    df_kafka_header_get(msg, DF_KAFKA_HEADER_TRACEPARENT, run.traceparent, sizeof(run.traceparent));
    if (!df_trace_valid(run.traceparent)) /* a producer that sent none: the trace starts here */
        df_trace_new(run.traceparent, sizeof(run.traceparent));
    if ((int64_t)msg->len > cfg->max_message_bytes) {
        df_error_set(&err, DF_ERR_INVALID, "", "message of %zu bytes is over the %lld-byte limit",
                     msg->len, (long long)cfg->max_message_bytes);
        poison(&run, "message_too_large", &err);
        goto out;
    }
    run.task = json_loadb(msg->payload, msg->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!run.task) {
        df_error_set(&err, DF_ERR_INVALID, "", "not JSON: %s (line %d, column %d)", jerr.text,
                     jerr.line, jerr.column);
        poison(&run, "invalid_json", &err);
        goto out;
    }
    run.task_id = df_task_str(run.task, "task_id");
    run.type = df_task_str(run.task, "type");
    run.connector = df_task_str(run.task, "connector");
    if (json_is_integer(json_object_get(run.task, "attempt")))
        run.attempt = df_task_attempt(run.task);
    if (run.task_id)
        snprintf(slot->task_id, sizeof(slot->task_id), "%s", run.task_id);
    {
        char trace_id[DF_TRACE_ID_LEN + 1];
        df_trace_id(run.traceparent, trace_id, sizeof(trace_id));
        df_log_ctx_set(run.task_id, run.connector, trace_id[0] ? trace_id : NULL);
    }
    if (df_task_validate(run.task, &err) != DF_OK) {
        poison(&run, "schema_invalid", &err);
        goto out;
    }
    if (!df_kafka_topic_for_task_type(run.type, &want) ||
        strcmp(df_kafka_topic_suffix(want),
               rd_kafka_topic_name(msg->rkt) + strlen(r->rt->kcfg.prefix)) != 0) {
        df_error_set(&err, DF_ERR_INVALID, "/type", "a %s task does not belong on topic %s",
                     run.type, rd_kafka_topic_name(msg->rkt));
        poison(&run, "wrong_topic", &err);
        goto out;
    }
    if (!find_connector(r, run.connector, &def)) {
        df_error_set(&err, DF_ERR_NOT_FOUND, "/connector",
                     "no connector named \"%s\" is registered", run.connector);
        poison(&run, "unknown_connector", &err);
        goto out;
    }
    df_registry_retry_policy(&def, run.type, &run.policy);
    run.max_attempts = df_retry_max_attempts(
        &run.policy, json_is_integer(json_object_get(run.task, "max_attempts"))
                         ? (int)json_integer_value(json_object_get(run.task, "max_attempts"))
                         : (int)cfg->max_attempts);
    if (df_task_str(run.task, "deadline"))
        df_time_parse(df_task_str(run.task, "deadline"), &run.deadline_ms);
    df_run_read_poll(&run);

    verdict = take_lease(&run, &def, &takeovers, &stored_event);
    switch (verdict) {
    case -1: /* shutting down before it started: leave it for the next owner */ goto out;
    case DF_LEASE_TERMINAL:
        df_debug("task %s already finished: acknowledged without running", run.task_id);
        resend_outcome(&run, stored_event);
        goto out;
    case DF_LEASE_STALE:
        df_info("task %s: this message (attempt %d, poll %d) is superseded by a later attempt or "
                "poll: acknowledged without running",
                run.task_id, run.attempt, run.poll_seq);
        resend_outcome(&run, stored_event);
        goto out;
    case DF_LEASE_CANCELLED: {
        df_outcome_t o;
        df_outcome_init(&o);
        df_outcome_set(&o, DF_OUTCOME_CANCELLED, "cancelled", "cancelled before it started");
        df_run_finish(&run, DF_STATE_CANCELLED, "cancelled", &o);
        goto out;
    }
    case DF_LEASE_QUARANTINE:
        df_error_set(&err, DF_ERR_INTERNAL, "",
                     "quarantined: its runs ended with the worker "
                     "lost %d times",
                     takeovers);
        df_wm_quarantined();
        poison(&run, "quarantined", &err);
        goto out;
    default: break;
    }

    df_dispatch_leased(r->rt->dispatch, slot);
    __atomic_add_fetch(&r->rt->tasks_started, 1, __ATOMIC_RELAXED);
    run.kind = def.kind;
    run.run_started_ms = df_mono_ms();
    df_wm_started(run.type, run.kind);
    df_run_load_job(&run);
    if (run.deadline_ms && df_now_ms() >= run.deadline_ms) {
        df_outcome_t o;
        df_outcome_init(&o);
        if (run.poll_seq) { /* it was running: polling stops at the deadline */
            df_outcome_set(&o, DF_OUTCOME_CANCELLED, "deadline_exceeded",
                           "the task's deadline passed while its platform operation ran");
            df_run_finish(&run, DF_STATE_CANCELLED, "deadline_exceeded", &o);
        } else {
            df_outcome_set(&o, DF_OUTCOME_PERMANENT, "deadline_exceeded",
                           "the task's deadline passed before it started");
            df_run_finish(&run, DF_STATE_DEAD, "deadline_exceeded", &o);
        }
        goto out;
    }
    {
        json_t *ev = df_run_event(&run, DF_STATE_RUNNING);
        if (ev) {
            df_run_send(&run, ev, NULL);
            json_decref(ev);
        }
    }
    execute(&run, &def);
out:
    if (run.run_started_ms)
        df_wm_ended(run.type);
    df_registry_release(&def);
    free(stored_event);
    df_log_ctx_clear();
    json_decref(run.job);
    json_decref(run.task);
    df_dispatch_finished(r->rt->dispatch, slot);
}

void *df_runner_main(void *arg)
{
    runner_t r = { .rt = arg, .rng = df_retry_seed() };
    df_slot_t *slot;

    while (!__atomic_load_n(&r.rt->runners_exit, __ATOMIC_RELAXED)) {
        slot = df_dispatch_next(r.rt->dispatch, 200);
        if (slot)
            run_slot(&r, slot);
    }
    df_redis_destroy(r.redis);
    return NULL;
}
