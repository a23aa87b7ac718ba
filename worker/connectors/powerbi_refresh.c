/* powerbi_refresh: a Power BI dataset refresh as a polled platform
 * operation (DF_OUTCOME_POLL, docs/RETRIES.md), guarded so the fleet runs
 * one refresh per dataset (worker/refresh_guard.h).
 *
 * Start (no ctx->job): the dataset (a GUID, or a name looked up in the
 * workspace) becomes the target "pbi:dataset:<id>".
 *   - JOIN: another task's refresh of the dataset runs: poll it, and end
 *     with it ("coalesced_into": that task).
 *   - WAIT: its owner has not stored its refresh yet: look again shortly.
 *   - OWNER: when the history shows a refresh in progress (started
 *     outside datafleet, or by this task's POST whose answer was lost), it
 *     is adopted; else POST refreshes. Power BI's 202 carries the request
 *     id in a header the HTTP client does not keep, so the job is saved
 *     first ({dataset_id, requested_at}, in the task and in the lock) and
 *     the refresh is then identified in the history (newest entry started
 *     since the request). "Another refresh request is already executing":
 *     that refresh is adopted, never a second one posted.
 * Poll (ctx->job): GET refreshes?$top=5; Unknown without refreshAttempts
 * is queued (pending_timeout_ms, then refresh_pending_timeout), Unknown
 * with attempts runs, Completed succeeds, Failed fails with Power BI's
 * serviceExceptionJson, Disabled fails. A 5xx or 429 while polling is a
 * RETRY whose next attempt polls the same job: nothing is posted again. */
#include "powerbi_refresh.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "powerbi_api.h"
#include "powerbi_dataset.h"
#include "refresh_guard.h"

#define POLL_START_MS_DEF   5000
#define POLL_CAP_MS_DEF     120000
#define WAIT_POLL_MS        1000
#define HISTORY_TOP         "5"
#define START_SKEW_MS       60000 /* clocks of Power BI and the worker may differ */
#define TARGET_PREFIX       "pbi:dataset:"
#define NOTIFY_DEFAULT      "NoNotification"
#define DATASET_NAME_LEN    256
#define REFRESH_JOB_ID_LEN  128
#define REFRESH_MESSAGE_MAX 400

typedef struct refresh {
    df_task_ctx_t *ctx;
    df_powerbi_config_t cfg;
    df_powerbi_client_t *client;
    df_refresh_cadence_t cadence;
    int64_t pending_timeout_ms;
    const char *dataset; /* params.dataset */
    const char *notify;
    char dataset_id[DF_POWERBI_DATASET_ID_MAX];
    char target[DF_REFRESH_TARGET_MAX];
    df_http_response_t resp;
} refresh_t;

static df_outcome_kind_t bad_param(df_outcome_t *out, const char *name, const char *expected)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params", "params.%s: expected %s", name,
                   expected);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/%s", name);
    return out->kind;
}

static bool is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int64_t config_ms(const df_task_ctx_t *ctx, const char *key, int64_t def)
{
    json_t *v = json_object_get(ctx->connector_config, key);

    return json_is_integer(v) && json_integer_value(v) >= 1 ? json_integer_value(v) : def;
}

/* Params and settings; the client for the task's workspace. */
static df_outcome_kind_t refresh_open(refresh_t *r, df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *p = ctx->params;
    json_t *ws = json_object_get(p, "workspace");

    memset(r, 0, sizeof(*r));
    r->ctx = ctx;
    df_http_response_init(&r->resp);
    if (!ws)
        ws = json_object_get(p, "group");
    r->dataset = json_string_value(json_object_get(p, "dataset"));
    r->notify = json_string_value(json_object_get(p, "notify_option"));
    if (!r->dataset || !*r->dataset || strlen(r->dataset) >= DATASET_NAME_LEN)
        return bad_param(out, "dataset", "the dataset to refresh (its id or name)");
    if (ws && (!json_is_string(ws) || !json_string_length(ws)))
        return bad_param(out, "workspace", "a workspace (group) id");
    if (json_object_get(p, "notify_option") &&
        (!r->notify ||
         (strcmp(r->notify, "NoNotification") != 0 && strcmp(r->notify, "MailOnFailure") != 0 &&
          strcmp(r->notify, "MailOnCompletion") != 0)))
        return bad_param(out, "notify_option",
                         "\"NoNotification\", \"MailOnFailure\" or \"MailOnCompletion\"");
    if (!r->notify)
        r->notify = NOTIFY_DEFAULT;
    if (df_powerbi_config_read(ctx, &r->cfg, out) != DF_OUTCOME_OK)
        return out->kind;
    if (ws)
        r->cfg.workspace_id = json_string_value(ws);
    r->cadence.start_ms = config_ms(ctx, "refresh_poll_ms", POLL_START_MS_DEF);
    r->cadence.cap_ms = config_ms(ctx, "refresh_poll_max_ms", POLL_CAP_MS_DEF);
    r->cadence.growth = DF_REFRESH_GROWTH_DEF;
    r->pending_timeout_ms = df_refresh_pending_timeout_ms(ctx, DF_REFRESH_PENDING_DEF_MS);
    r->client = df_powerbi_client_open(ctx, &r->cfg, out);
    return r->client ? DF_OUTCOME_OK : out->kind;
}

static void refresh_close(refresh_t *r)
{
    df_powerbi_client_close(r->client);
    df_http_response_free(&r->resp);
}

/* GET path as JSON (new reference), or NULL with out set. */
static json_t *get_json(refresh_t *r, const char *path, df_outcome_t *out)
{
    df_powerbi_call_t call = { .method = "GET", .path = path, .idempotent = true };
    json_t *doc;

    if (df_powerbi_send(r->client, &call, &r->resp, out) != DF_OUTCOME_OK)
        return NULL;
    doc = json_loadb(r->resp.body, r->resp.body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_unavailable",
                       "Power BI answered GET %s with a body that is not a JSON object", path);
        return NULL;
    }
    return doc;
}

/* The dataset's id: params.dataset when it is a GUID, else the dataset of
 * that name in the workspace. */
static df_outcome_kind_t resolve_dataset(refresh_t *r, df_outcome_t *out)
{
    json_t *doc, *ds;
    size_t i;

    if (is_guid(r->dataset)) {
        snprintf(r->dataset_id, sizeof(r->dataset_id), "%s", r->dataset);
        return DF_OUTCOME_OK;
    }
    if (!(doc = get_json(r, "datasets", out)))
        return out->kind;
    json_array_foreach(json_object_get(doc, "value"), i, ds)
    {
        const char *name = json_string_value(json_object_get(ds, "name"));
        const char *id = json_string_value(json_object_get(ds, "id"));
        if (name && id && strcmp(name, r->dataset) == 0) {
            snprintf(r->dataset_id, sizeof(r->dataset_id), "%s", id);
            break;
        }
    }
    json_decref(doc);
    if (!r->dataset_id[0])
        return df_powerbi_target_invalid(
            out, "/params/dataset", "no Power BI dataset named %s in the workspace", r->dataset);
    return DF_OUTCOME_OK;
}

/* The dataset's latest refreshes (new reference: the "value" array), or
 * NULL with out set. */
static json_t *history(refresh_t *r, const char *top, df_outcome_t *out)
{
    char path[600], tail[64];
    json_t *doc, *value;

    snprintf(tail, sizeof(tail), "refreshes?$top=%s", top);
    if (!df_powerbi_dataset_path(path, sizeof(path), r->dataset_id, NULL, tail)) {
        df_powerbi_target_invalid(out, "/params/dataset", "bad dataset id %s", r->dataset_id);
        return NULL;
    }
    if (!(doc = get_json(r, path, out)))
        return NULL;
    value = json_incref(json_object_get(doc, "value"));
    json_decref(doc);
    if (!json_is_array(value)) {
        json_decref(value);
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_unavailable",
                       "Power BI's refresh history of dataset %s has no value array",
                       r->dataset_id);
        return NULL;
    }
    return value;
}

static bool in_progress(const json_t *entry)
{
    const char *status = json_string_value(json_object_get(entry, "status"));
    return status && strcmp(status, "Unknown") == 0 && !json_object_get(entry, "endTime");
}

/* Save the job in the task (and in the lock when this task owns it). */
static void job_save(refresh_t *r, json_t *job, bool owner, int64_t ttl_ms)
{
    df_error_t err;

    df_error_init(&err);
    if (df_task_ctx_job_put(r->ctx, job, &err) != DF_OK)
        df_warn("task %s: refresh job of dataset %s not saved yet: %s", r->ctx->task_id,
                r->dataset_id, err.message);
    df_error_init(&err);
    if (owner && df_refresh_guard_set_job(r->ctx, r->target, job, ttl_ms, &err) != DF_OK)
        df_warn("task %s: refresh job of dataset %s not stored in its lock: %s", r->ctx->task_id,
                r->dataset_id, err.message);
}

static void guard_release(refresh_t *r)
{
    df_error_t err;

    df_error_init(&err);
    if (df_refresh_guard_end(r->ctx, r->target, &err) != DF_OK)
        df_warn("task %s: refresh lock of %s not released (it expires): %s", r->ctx->task_id,
                r->target, err.message);
}

static int64_t next_delay(const refresh_t *r)
{
    return df_refresh_poll_delay(&r->cadence, r->ctx->polls, -1, df_now_ms(), r->ctx->deadline_ms);
}

static json_t *new_job(const refresh_t *r, int64_t requested_at)
{
    return json_pack("{s:s, s:s, s:s?, s:I}", "dataset_id", r->dataset_id, "target", r->target,
                     "workspace", r->cfg.workspace_id, "requested_at", (json_int_t)requested_at);
}

/* Whether Power BI's answer says a refresh is already running. */
static bool already_running(const df_outcome_t *out)
{
    return out->kind == DF_OUTCOME_PERMANENT && (strstr(out->error.message, "already executing") ||
                                                 strstr(out->error.message, "HTTP 409"));
}

/* The owner starts a refresh (or adopts the one in progress). */
static df_outcome_kind_t start(refresh_t *r, df_outcome_t *out)
{
    char path[600], body[96];
    df_powerbi_call_t post = { .method = "POST", .path = path, .idempotent = false };
    int64_t requested_at = df_now_ms();
    json_t *recent, *job;
    bool lost = false;

    post.maybe_applied = &lost;
    if (!(recent = history(r, "1", out)))
        goto fail;
    if (in_progress(json_array_get(recent, 0))) {
        const char *id = json_string_value(json_object_get(json_array_get(recent, 0), "requestId"));
        df_info("task %s: dataset %s already refreshes (request %s): polling that refresh",
                r->ctx->task_id, r->dataset_id, id ? id : "?");
        job = new_job(r, requested_at - START_SKEW_MS);
        if (id)
            json_object_set_new(job, "refresh_id", json_string(id));
        json_object_set_new(job, "adopted", json_true());
        json_decref(recent);
        job_save(r, job, true, df_refresh_guard_ttl(next_delay(r)));
        return df_outcome_poll(out, job, next_delay(r));
    }
    json_decref(recent);
    snprintf(body, sizeof(body), "{\"notifyOption\":\"%s\"}", r->notify);
    post.body = body;
    post.body_len = strlen(body);
    df_powerbi_dataset_path(path, sizeof(path), r->dataset_id, NULL, "refreshes");
    if (df_powerbi_send(r->client, &post, &r->resp, out) != DF_OUTCOME_OK) {
        if (already_running(out)) {
            df_outcome_free(out);
            df_outcome_init(out);
            df_info("task %s: Power BI says dataset %s already refreshes: polling that refresh",
                    r->ctx->task_id, r->dataset_id);
            job = new_job(r, requested_at - START_SKEW_MS);
            json_object_set_new(job, "adopted", json_true());
            job_save(r, job, true, df_refresh_guard_ttl(next_delay(r)));
            return df_outcome_poll(out, job, WAIT_POLL_MS);
        }
        /* lost: the next attempt's history check adopts the refresh if
         * the POST started one */
        goto fail;
    }
    /* accepted: saved before anything else can fail */
    job = new_job(r, requested_at);
    job_save(r, job, true, df_refresh_guard_ttl(next_delay(r)));
    df_info("task %s: Power BI accepted a refresh of dataset %s (notify %s)", r->ctx->task_id,
            r->dataset_id, r->notify);
    return df_outcome_poll(out, job, next_delay(r));
fail:
    guard_release(r);
    return out->kind;
}

/* Start, join or wait (see the top of this file). */
static df_outcome_kind_t begin(refresh_t *r, df_outcome_t *out)
{
    df_refresh_claim_t claim;
    df_error_t err;
    json_t *job;
    df_outcome_kind_t kind;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    snprintf(r->target, sizeof(r->target), TARGET_PREFIX "%s", r->dataset_id);
    if (df_refresh_guard_begin(r->ctx, r->target, df_refresh_guard_ttl(r->cadence.start_ms), &claim,
                               &err) != DF_OK) {
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       "refresh_guard_unavailable", "%s", err.message);
        return out->kind;
    }
    switch (claim.role) {
    case DF_REFRESH_WAIT:
        job = json_pack("{s:s, s:s, s:s?, s:b, s:s}", "dataset_id", r->dataset_id, "target",
                        r->target, "workspace", r->cfg.workspace_id, "waiting", 1, "owner",
                        claim.owner);
        job_save(r, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    case DF_REFRESH_JOIN:
        job = json_deep_copy(claim.job);
        json_object_set_new(job, "joined", json_string(claim.owner));
        json_object_del(job, "adopted");
        df_info("task %s: dataset %s already refreshes for task %s: coalesced into it",
                r->ctx->task_id, r->dataset_id, claim.owner);
        job_save(r, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    default:
        if (claim.job) { /* this task stored it before (a lost answer) */
            job = json_deep_copy(claim.job);
            job_save(r, job, false, 0);
            kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        } else {
            kind = start(r, out);
        }
    }
    df_refresh_claim_free(&claim);
    return kind;
}

/* The refresh of job in the history: by request id, else the newest one
 * started since the request (its id then kept in job). Borrowed from
 * value; NULL when not listed yet. */
static json_t *find_entry(json_t *value, json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "refresh_id"));
    int64_t requested = json_integer_value(json_object_get(job, "requested_at"));
    json_t *entry;
    size_t i;

    json_array_foreach(value, i, entry)
    {
        const char *rid = json_string_value(json_object_get(entry, "requestId"));
        int64_t started = 0;
        if (id) {
            if (rid && strcmp(rid, id) == 0)
                return entry;
            continue;
        }
        if (df_time_parse(json_string_value(json_object_get(entry, "startTime")), &started) &&
            started >= requested - START_SKEW_MS && rid) {
            json_object_set_new(job, "refresh_id", json_string(rid));
            return entry;
        }
    }
    return NULL;
}

/* Power BI's reason for a failed refresh, from serviceExceptionJson. */
static void failure_reason(const json_t *entry, char *buf, size_t len)
{
    const char *text = json_string_value(json_object_get(entry, "serviceExceptionJson"));
    json_t *ex = text ? json_loads(text, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(ex, "errorCode"));
    const char *desc = json_string_value(json_object_get(ex, "errorDescription"));

    if (code)
        snprintf(buf, len, "%s%s%s", code, desc ? ": " : "", desc ? desc : "");
    else
        snprintf(buf, len, "%s", text && *text ? text : "no serviceExceptionJson given");
    json_decref(ex);
}

static json_t *result_of(const refresh_t *r, const json_t *job, const json_t *entry)
{
    json_t *res =
        json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:i}", "dataset_id", r->dataset_id, "refresh_id",
                  json_string_value(json_object_get(job, "refresh_id")), "status",
                  json_string_value(json_object_get(entry, "status")), "start_time",
                  json_string_value(json_object_get(entry, "startTime")), "end_time",
                  json_string_value(json_object_get(entry, "endTime")), "polls", r->ctx->polls + 1);
    const char *joined = json_string_value(json_object_get(job, "joined"));

    if (joined)
        json_object_set_new(res, "coalesced_into", json_string(joined));
    if (json_is_true(json_object_get(job, "adopted")))
        json_object_set_new(res, "adopted", json_true());
    return res;
}

/* Look at the refresh of ctx->job. */
static df_outcome_kind_t poll(refresh_t *r, df_outcome_t *out)
{
    json_t *job = json_deep_copy(r->ctx->job), *value, *entry;
    bool owner = !json_object_get(job, "joined");
    char what[300], reason[REFRESH_MESSAGE_MAX];
    const char *status;
    int64_t delay = next_delay(r);
    df_error_t err;

    if (owner) {
        df_error_init(&err);
        if (df_refresh_guard_touch(r->ctx, r->target, job, df_refresh_guard_ttl(delay), &err))
            df_debug("task %s: refresh lock of %s: %s", r->ctx->task_id, r->target, err.message);
    }
    if (!(value = history(r, HISTORY_TOP, out))) {
        json_decref(job);
        return out->kind; /* RETRY: the next attempt polls this job again */
    }
    entry = find_entry(value, job);
    snprintf(what, sizeof(what), "refresh %s of Power BI dataset %s",
             json_string_value(json_object_get(job, "refresh_id"))
                 ? json_string_value(json_object_get(job, "refresh_id"))
                 : "(not listed yet)",
             r->dataset_id);
    status = json_string_value(json_object_get(entry, "status"));
    if (!entry || (in_progress(entry) && !json_object_get(entry, "refreshAttempts"))) {
        int64_t since = json_integer_value(json_object_get(job, "requested_at"));
        if (df_refresh_pending_check(since, df_now_ms(), r->pending_timeout_ms, what, out)) {
            if (owner)
                guard_release(r);
            json_decref(value);
            json_decref(job);
            return out->kind;
        }
    }
    if (!entry || in_progress(entry)) {
        if (!json_equal(job, r->ctx->job))
            job_save(r, job, owner, df_refresh_guard_ttl(delay));
        json_decref(value);
        return df_outcome_poll(out, job, delay);
    }
    if (status && strcmp(status, "Completed") == 0) {
        out->result = result_of(r, job, entry);
        out->kind = DF_OUTCOME_OK;
    } else if (status && strcmp(status, "Failed") == 0) {
        failure_reason(entry, reason, sizeof(reason));
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_failed", "Power BI: %s failed: %s", what,
                       reason);
        out->result = result_of(r, job, entry);
    } else {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_disabled",
                       "Power BI: %s ended with status %s", what, status ? status : "(none)");
        out->result = result_of(r, job, entry);
    }
    if (owner)
        guard_release(r);
    json_decref(value);
    json_decref(job);
    return out->kind;
}

df_outcome_kind_t df_powerbi_refresh(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *job = ctx->job;
    const char *id = json_string_value(json_object_get(job, "dataset_id"));
    refresh_t r;
    df_outcome_kind_t kind;

    if (refresh_open(&r, ctx, out) != DF_OUTCOME_OK) {
        refresh_close(&r);
        return out->kind;
    }
    if (id && strlen(id) < sizeof(r.dataset_id)) {
        snprintf(r.dataset_id, sizeof(r.dataset_id), "%s", id);
        snprintf(r.target, sizeof(r.target), TARGET_PREFIX "%s", id);
        kind = json_is_true(json_object_get(job, "waiting")) ? begin(&r, out) : poll(&r, out);
    } else if (resolve_dataset(&r, out) == DF_OUTCOME_OK) {
        kind = begin(&r, out);
    } else {
        kind = out->kind;
    }
    refresh_close(&r);
    return kind;
}
