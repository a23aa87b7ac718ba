/* qlik: the connector kind of a Qlik Cloud tenant (docs/CONNECTORS.md,
 * "Qlik Cloud"; the contract in tests/fakes/specs/qlik-reloads.md).
 *
 * refresh: an app reload, as a polled platform operation (DF_OUTCOME_POLL)
 * guarded so the fleet runs one reload per app (worker/refresh_guard.h,
 * target "qlik:app:<appId>"; a second task joins it: coalesced_into).
 *   start  the app's newest reload is read first (GET /api/v1/reloads?
 *          appId=...&limit=1: the baseline, "before"); the job {"app_id",
 *          "requested_at", "before"} is saved (task and lock) BEFORE
 *          POST /api/v1/reloads, because the POST is not idempotent: a job
 *          without a reload id means "a POST may have been made".
 *          201 -> the reload id is saved too; then polls. A reload that
 *          ended before the request is never taken for this one: the data
 *          it read may predate the request.
 *   resume a job without a reload id (the POST's answer was lost, a 429 or
 *          5xx, a killed worker): the first reload of the app listed above
 *          the baseline and created since requested_at is adopted
 *          (df_qlik_reload_since); only when there is none does the owner
 *          POST again. A task that joined never POSTs: it waits for the
 *          owner's reload id.
 *   poll   GET /api/v1/reloads/{id}: QUEUED -> pending (pending_timeout_ms,
 *          then refresh_pending_timeout), RELOADING / CANCELING -> polls
 *          on, SUCCEEDED -> succeeded, FAILED -> refresh_failed with the end
 *          of Qlik's script log, CANCELED -> refresh_cancelled,
 *          EXCEEDED_LIMIT -> refresh_exceeded_limit. 429 and 5xx are RETRYs
 *          that resume the same reload.
 * probe: GET /api/v1/users/me.
 * The API key (secrets.api_key) travels only in the Authorization header. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "df_http.h"
#include "df_id.h"
#include "df_log.h"
#include "qlik_reloads.h"
#include "refresh_guard.h"

#define POLL_START_MS_DEF 5000
#define POLL_CAP_MS_DEF   60000
#define WAIT_POLL_MS      1000
#define MESSAGE_MAX       400
#define LOG_TAIL          300
#define LIST_LIMIT        "20"
#define APP_ID_MAX        64

typedef struct qk {
    df_task_ctx_t *ctx;
    const char *tenant; /* config.tenant_url */
    size_t tenant_len;
    char auth[600]; /* "Bearer <key>" */
    df_http_t *http;
    df_http_response_t resp;
    df_refresh_cadence_t cadence;
    int64_t pending_timeout_ms;
    char app_id[APP_ID_MAX];
    bool partial;
    char target[DF_REFRESH_TARGET_MAX];
} qk_t;

static df_outcome_kind_t bad_param(df_outcome_t *out, const char *name, const char *expected)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params", "params.%s: expected %s", name,
                   expected);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/%s", name);
    return out->kind;
}

static df_outcome_kind_t bad_config(df_outcome_t *out, const char *name, const char *expected)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "connector %s: expected %s", name,
                   expected);
    out->error.code = DF_ERR_INVALID;
    return out->kind;
}

static int64_t cfg_int(const json_t *cfg, const char *key, int64_t def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) && json_integer_value(v) >= 1 ? json_integer_value(v) : def;
}

static bool http_should_stop(void *opaque)
{
    df_task_ctx_t *ctx = opaque;
    return ctx->should_stop(ctx) != DF_STOP_NONE;
}

static bool is_app_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= APP_ID_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return false;
    return true;
}

static df_outcome_kind_t qk_open(qk_t *q, df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *cfg = ctx->connector_config;
    const char *key = json_string_value(json_object_get(ctx->connector_secrets, "api_key"));
    df_http_options_t opts = { .should_stop = http_should_stop,
                               .stop_ctx = ctx,
                               .platform = "qlik" };
    df_error_t err;

    memset(q, 0, sizeof(*q));
    q->ctx = ctx;
    df_http_response_init(&q->resp);
    q->tenant = json_string_value(json_object_get(cfg, "tenant_url"));
    if (!q->tenant ||
        (strncmp(q->tenant, "https://", 8) != 0 && strncmp(q->tenant, "http://", 7) != 0))
        return bad_config(out, "config.tenant_url",
                          "the tenant's URL (https://<tenant>.<region>.qlikcloud.com)");
    q->tenant_len = strlen(q->tenant);
    while (q->tenant_len > 0 && q->tenant[q->tenant_len - 1] == '/')
        q->tenant_len--;
    if (!key || !*key || strlen(key) > 500 || strpbrk(key, "\r\n"))
        return bad_config(out, "secrets.api_key", "the tenant's API key (or an access token)");
    snprintf(q->auth, sizeof(q->auth), "Bearer %s", key);
    q->cadence.start_ms = cfg_int(cfg, "refresh_poll_ms", POLL_START_MS_DEF);
    q->cadence.cap_ms = cfg_int(cfg, "refresh_poll_max_ms", POLL_CAP_MS_DEF);
    if (q->cadence.cap_ms < q->cadence.start_ms)
        q->cadence.cap_ms = q->cadence.start_ms;
    q->cadence.growth = DF_REFRESH_GROWTH_DEF;
    q->pending_timeout_ms = df_refresh_pending_timeout_ms(ctx, DF_REFRESH_PENDING_DEF_MS);
    q->partial = json_is_true(json_object_get(cfg, "partial"));
    df_error_init(&err);
    if (!(q->http = df_http_new(&opts, &err)))
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "qlik: %s", err.message);
    return DF_OUTCOME_OK;
}

static void qk_close(qk_t *q)
{
    df_http_response_free(&q->resp);
    df_http_destroy(q->http);
    memset(q->auth, 0, sizeof(q->auth));
}

/* Send; DF_OUTCOME_OK with a 2xx in q->resp. 429 / 5xx / transport: RETRY
 * (Retry-After honoured); 401: auth_failed; others: platform_rejected. */
static df_outcome_kind_t send(qk_t *q, const char *method, const char *path, const char *body,
                              df_outcome_t *out)
{
    df_http_header_t headers[2] = { { "Accept", "application/json" },
                                    { "Authorization", q->auth } };
    char url[DF_HTTP_URL_MAX], msg[MESSAGE_MAX];
    df_http_request_t req = { .method = method,
                              .url = url,
                              .headers = headers,
                              .nheaders = 2,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .content_type = body ? "application/json" : NULL,
                              .once = strcmp(method, "POST") == 0 };
    df_error_t err;

    snprintf(url, sizeof(url), "%.*s%s", (int)q->tenant_len, q->tenant, path);
    df_error_init(&err);
    if (df_http_send(q->http, &req, &q->resp, &err) != DF_OK)
        return df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                              "platform_unavailable", "Qlik: %s", err.message);
    if (q->resp.status >= 200 && q->resp.status < 300)
        return DF_OUTCOME_OK;
    df_qlik_error_message(q->resp.body, q->resp.body_len, msg, sizeof(msg));
    if (q->resp.status == 429 || q->resp.status >= 500 || q->resp.status == 408) {
        df_outcome_set(out, DF_OUTCOME_RETRY,
                       q->resp.status == 429 ? "rate_limited" : "platform_unavailable",
                       "Qlik: %s %s: HTTP %ld: %s", method, path, q->resp.status, msg);
        out->retry_after_ms = q->resp.retry_after_ms;
        return out->kind;
    }
    return df_outcome_set(out, DF_OUTCOME_PERMANENT,
                          q->resp.status == 401 || q->resp.status == 403 ? "auth_failed"
                          : q->resp.status == 404                        ? "not_found"
                                                                         : "platform_rejected",
                          "Qlik: %s %s: HTTP %ld: %s", method, path, q->resp.status, msg);
}

static int64_t next_delay(const qk_t *q)
{
    return df_refresh_poll_delay(&q->cadence, q->ctx->polls, -1, df_now_ms(), q->ctx->deadline_ms);
}

/* Save job in the task (and, for the owner, in the lock). Returns whether
 * the task's copy was saved: a retry resumes from that one. */
static bool job_save(qk_t *q, const json_t *job, bool owner, int64_t ttl_ms)
{
    df_error_t err;
    bool saved = true;

    df_error_init(&err);
    if (df_task_ctx_job_put(q->ctx, job, &err) != DF_OK) {
        saved = false;
        df_warn("task %s: Qlik reload of app %s not saved yet: %s", q->ctx->task_id, q->app_id,
                err.message);
    }
    df_error_init(&err);
    if (owner && df_refresh_guard_set_job(q->ctx, q->target, job, ttl_ms, &err) != DF_OK)
        df_warn("task %s: Qlik reload of app %s not stored in its lock: %s", q->ctx->task_id,
                q->app_id, err.message);
    return saved;
}

static void guard_release(qk_t *q)
{
    df_error_t err;

    df_error_init(&err);
    if (df_refresh_guard_end(q->ctx, q->target, &err) != DF_OK)
        df_warn("task %s: refresh lock of %s not released (it expires): %s", q->ctx->task_id,
                q->target, err.message);
}

/* GET the app's reloads (newest first, no logs, at most limit): the
 * parsed answer (caller frees), or NULL with out set. */
static json_t *list_reloads(qk_t *q, const char *limit, df_outcome_t *out)
{
    char path[200];
    json_t *root;

    snprintf(path, sizeof(path), "/api/v1/reloads?appId=%s&limit=%s&log=false", q->app_id, limit);
    if (send(q, "GET", path, NULL, out) != DF_OUTCOME_OK)
        return NULL;
    root = json_loadb(q->resp.body, q->resp.body_len, 0, NULL);
    if (!json_is_array(json_object_get(root, "data"))) {
        json_decref(root);
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_rejected",
                       "Qlik: the reloads of app %s listed without a data array", q->app_id);
        return NULL;
    }
    return root;
}

/* The reload a POST of job made (a new string), or NULL: none (out OK) or
 * the listing failed (out set). */
static char *find_reload(qk_t *q, const json_t *job, df_outcome_t *out)
{
    json_t *root = list_reloads(q, LIST_LIMIT, out), *before = json_object_get(job, "before");
    const char *id;
    char *found;

    if (!root)
        return NULL;
    id = df_qlik_reload_since(json_object_get(root, "data"), json_string_value(before),
                              before != NULL,
                              json_integer_value(json_object_get(job, "requested_at")));
    found = id ? strdup(id) : NULL;
    json_decref(root);
    return found;
}

/* The owner POSTs the reload of job (owned; saved already) and polls it. */
static df_outcome_kind_t post(qk_t *q, json_t *job, df_outcome_t *out)
{
    char body[200];
    json_t *root;
    const char *rid;

    snprintf(body, sizeof(body), "{\"appId\":\"%s\",\"partial\":%s}", q->app_id,
             json_is_true(json_object_get(job, "partial")) ? "true" : "false");
    if (send(q, "POST", "/api/v1/reloads", body, out) != DF_OUTCOME_OK) {
        if (out->kind != DF_OUTCOME_RETRY)
            guard_release(q);
        json_decref(job);
        return out->kind; /* RETRY: the next attempt looks for the reload first */
    }
    root = json_loadb(q->resp.body, q->resp.body_len, 0, NULL);
    rid = json_string_value(json_object_get(root, "id"));
    if (!rid) {
        json_decref(root);
        json_decref(job);
        return df_outcome_set(out, DF_OUTCOME_RETRY, "platform_rejected",
                              "Qlik: a reload answer without an id");
    }
    json_object_set_new(job, "reload_id", json_string(rid));
    json_decref(root);
    job_save(q, job, true, df_refresh_guard_ttl(next_delay(q)));
    df_info("task %s: Qlik queued reload %s of app %s", q->ctx->task_id,
            json_string_value(json_object_get(job, "reload_id")), q->app_id);
    return df_outcome_poll(out, job, next_delay(q));
}

/* The owner's job has no reload id although a POST may have been made:
 * adopt the reload it made, or POST. job: owned. */
static df_outcome_kind_t post_or_adopt(qk_t *q, json_t *job, df_outcome_t *out)
{
    char *id;

    if ((id = find_reload(q, job, out))) {
        df_info("task %s: Qlik reload %s of app %s found: polling it", q->ctx->task_id, id,
                q->app_id);
        json_object_set_new(job, "reload_id", json_string(id));
        json_object_set_new(job, "adopted", json_true());
        free(id);
        job_save(q, job, true, df_refresh_guard_ttl(next_delay(q)));
        return df_outcome_poll(out, job, next_delay(q));
    }
    if (out->kind != DF_OUTCOME_OK) {
        if (out->kind != DF_OUTCOME_RETRY)
            guard_release(q);
        json_decref(job);
        return out->kind;
    }
    return post(q, job, out);
}

/* A new reload: the app's newest reload (the baseline a lost POST's reload
 * is found above), the job saved, then the POST. */
static df_outcome_kind_t start(qk_t *q, df_outcome_t *out)
{
    int64_t requested_at = df_now_ms();
    json_t *root = list_reloads(q, "1", out), *job, *newest;

    if (!root) {
        if (out->kind != DF_OUTCOME_RETRY)
            guard_release(q);
        return out->kind;
    }
    newest = json_object_get(json_array_get(json_object_get(root, "data"), 0), "id");
    job = json_pack("{s:s, s:s, s:b, s:I, s:O}", "app_id", q->app_id, "target", q->target,
                    "partial", q->partial, "requested_at", (json_int_t)requested_at, "before",
                    json_is_string(newest) ? newest : json_null());
    json_decref(root);
    /* saved before the POST: from here a retry looks for the reload. Not
     * saved, a lost answer would be POSTed again: no POST then. */
    if (!job_save(q, job, true, df_refresh_guard_ttl(q->cadence.start_ms))) {
        json_decref(job);
        return df_outcome_set(out, DF_OUTCOME_RETRY, "job_not_saved",
                              "Qlik: the reload of app %s not requested: its job could not be "
                              "saved first",
                              q->app_id);
    }
    return post(q, job, out);
}

static df_outcome_kind_t begin(qk_t *q, df_outcome_t *out)
{
    df_refresh_claim_t claim;
    df_error_t err;
    json_t *job;
    df_outcome_kind_t kind;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    if (df_refresh_guard_begin(q->ctx, q->target, df_refresh_guard_ttl(q->cadence.start_ms), &claim,
                               &err) != DF_OK) {
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       "refresh_guard_unavailable", "%s", err.message);
        return out->kind;
    }
    switch (claim.role) {
    case DF_REFRESH_WAIT:
        job = json_pack("{s:s, s:s, s:b, s:s}", "app_id", q->app_id, "target", q->target, "waiting",
                        1, "owner", claim.owner);
        job_save(q, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    case DF_REFRESH_JOIN:
        job = json_deep_copy(claim.job);
        json_object_set_new(job, "joined", json_string(claim.owner));
        json_object_del(job, "adopted");
        df_info("task %s: app %s already reloads for task %s: coalesced into it", q->ctx->task_id,
                q->app_id, claim.owner);
        job_save(q, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    default:
        if (!claim.job) {
            kind = start(q, out);
            break;
        }
        /* this task owned the app already (a retry, a worker that died):
         * its stored job goes on */
        job = json_deep_copy(claim.job);
        job_save(q, job, true, df_refresh_guard_ttl(q->cadence.start_ms));
        kind = json_object_get(job, "reload_id") ? df_outcome_poll(out, job, WAIT_POLL_MS)
                                                 : post_or_adopt(q, job, out);
    }
    df_refresh_claim_free(&claim);
    return kind;
}

static json_t *result_of(const qk_t *q, const json_t *job, const json_t *r)
{
    json_t *res =
        json_pack("{s:s, s:s?, s:s?, s:b, s:s?, s:s?, s:s?, s:s?, s:i}", "app_id", q->app_id,
                  "reload_id", json_string_value(json_object_get(job, "reload_id")), "status",
                  json_string_value(json_object_get(r, "status")), "partial",
                  json_is_true(json_object_get(r, "partial")), "creation_time",
                  json_string_value(json_object_get(r, "creationTime")), "start_time",
                  json_string_value(json_object_get(r, "startTime")), "end_time",
                  json_string_value(json_object_get(r, "endTime")), "duration",
                  json_string_value(json_object_get(r, "duration")), "polls", q->ctx->polls + 1);
    const char *joined = json_string_value(json_object_get(job, "joined"));

    if (joined)
        json_object_set_new(res, "coalesced_into", json_string(joined));
    if (json_is_true(json_object_get(job, "adopted")))
        json_object_set_new(res, "adopted", json_true());
    return res;
}

static df_outcome_kind_t poll(qk_t *q, df_outcome_t *out)
{
    json_t *job = json_deep_copy(q->ctx->job), *root;
    bool owner = !json_object_get(job, "joined");
    const char *rid = json_string_value(json_object_get(job, "reload_id"));
    char path[200], what[300], tail[LOG_TAIL * 2];
    int64_t delay = next_delay(q);
    const char *status;
    df_error_t err;

    if (owner) {
        df_error_init(&err);
        if (df_refresh_guard_touch(q->ctx, q->target, job, df_refresh_guard_ttl(delay), &err))
            df_debug("task %s: refresh lock of %s: %s", q->ctx->task_id, q->target, err.message);
    }
    if (!rid) {
        if (owner)
            return post_or_adopt(q, job, out);
        /* joined before the owner had its reload id: look at the lock again */
        json_decref(job);
        return begin(q, out);
    }
    if (strlen(rid) >= 100 || strpbrk(rid, "/?#")) {
        json_decref(job);
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_job",
                              "Qlik: the saved reload id is unusable");
    }
    snprintf(what, sizeof(what), "reload %s of Qlik app %s", rid, q->app_id);
    snprintf(path, sizeof(path), "/api/v1/reloads/%s", rid);
    if (send(q, "GET", path, NULL, out) != DF_OUTCOME_OK) {
        if (out->kind != DF_OUTCOME_RETRY && owner)
            guard_release(q);
        json_decref(job);
        return out->kind;
    }
    root = json_loadb(q->resp.body, q->resp.body_len, 0, NULL);
    status = json_string_value(json_object_get(root, "status"));
    if (!status || strcmp(status, "QUEUED") == 0 || strcmp(status, "RELOADING") == 0 ||
        strcmp(status, "CANCELING") == 0) {
        if ((!status || strcmp(status, "QUEUED") == 0) &&
            df_refresh_pending_check(json_integer_value(json_object_get(job, "requested_at")),
                                     df_now_ms(), q->pending_timeout_ms, what, out)) {
            if (owner)
                guard_release(q);
            json_decref(job);
        } else {
            df_outcome_poll(out, job, delay);
        }
        json_decref(root);
        return out->kind;
    }
    if (strcmp(status, "SUCCEEDED") == 0) {
        out->kind = DF_OUTCOME_OK;
    } else {
        df_qlik_log_tail(json_string_value(json_object_get(root, "log")), LOG_TAIL, tail,
                         sizeof(tail));
        df_outcome_set(out, DF_OUTCOME_PERMANENT,
                       strcmp(status, "CANCELED") == 0         ? "refresh_cancelled"
                       : strcmp(status, "EXCEEDED_LIMIT") == 0 ? "refresh_exceeded_limit"
                                                               : "refresh_failed",
                       "Qlik: %s ended %s: %s", what, status, tail);
    }
    out->result = result_of(q, job, root);
    if (owner)
        guard_release(q);
    json_decref(root);
    json_decref(job);
    return out->kind;
}

static df_outcome_kind_t qk_refresh(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *params = ctx->params, *job = ctx->job;
    const char *app = json_string_value(json_object_get(job, "app_id"));
    json_t *partial = json_object_get(params, "partial");
    const char *k;
    json_t *v;
    qk_t q;
    df_outcome_kind_t kind;

    if (qk_open(&q, ctx, out) != DF_OUTCOME_OK) {
        qk_close(&q);
        return out->kind;
    }
    json_object_foreach((json_t *)params, k, v)
    {
        if (strcmp(k, "app") != 0 && strcmp(k, "partial") != 0) {
            qk_close(&q);
            return bad_param(out, k, "no such param (app, partial)");
        }
    }
    if (!app)
        app = json_string_value(json_object_get(params, "app"));
    if (!app || !is_app_id(app)) {
        qk_close(&q);
        return bad_param(out, "app", "the app's id (letters, digits and '-', 1 to 63)");
    }
    if (partial && !json_is_boolean(partial)) {
        qk_close(&q);
        return bad_param(out, "partial", "true or false");
    }
    if (partial)
        q.partial = json_is_true(partial);
    snprintf(q.app_id, sizeof(q.app_id), "%s", app);
    snprintf(q.target, sizeof(q.target), "qlik:app:%s", app);
    if (job && !json_is_true(json_object_get(job, "waiting")))
        kind = poll(&q, out);
    else
        kind = begin(&q, out);
    qk_close(&q);
    return kind;
}

static df_outcome_kind_t qk_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    qk_t q;
    json_t *root;

    if (qk_open(&q, ctx, out) == DF_OUTCOME_OK &&
        send(&q, "GET", "/api/v1/users/me", NULL, out) == DF_OUTCOME_OK) {
        root = json_loadb(q.resp.body, q.resp.body_len, 0, NULL);
        out->result =
            json_pack("{s:s?, s:s?}", "user_id", json_string_value(json_object_get(root, "id")),
                      "tenant_id", json_string_value(json_object_get(root, "tenantId")));
        json_decref(root);
        out->kind = DF_OUTCOME_OK;
    }
    qk_close(&q);
    return out->kind;
}

const df_connector_ops_t df_connector_qlik = {
    .kind = "qlik",
    .probe = qk_probe,
    .refresh = qk_refresh,
};
