/* tableau: the connector kind of a Tableau Server or Tableau Cloud site
 * (docs/CONNECTORS.md, "Tableau").
 *
 * Sessions: REST sign-in with a personal access token (config pat_name,
 * secret pat_secret) through df_auth's DF_AUTH_TABLEAU_PAT kind, so the
 * session is shared fleet-wide in Redis (sealed): signing in again with a
 * PAT ends its earlier session, so workers must not each sign in. Requests
 * carry X-Tableau-Auth; a 401 signs in again once.
 *
 * refresh: an extract refresh of a data source or workbook (params
 * datasource | workbook: a LUID or a name), as a polled platform operation
 * (DF_OUTCOME_POLL, docs/RETRIES.md) guarded so the fleet runs one refresh
 * per item (worker/refresh_guard.h, target "tableau:<kind>:<luid>"):
 *   start  POST .../{datasources|workbooks}/{luid}/refresh -> 202 with the
 *          job, saved (task and lock) before the first poll. 409093 ("job
 *          already queued": one started outside datafleet, or this task's
 *          POST whose answer was lost) adopts that job, found in Query Jobs
 *          (Pending or InProgress, title = the item's name): never a
 *          second refresh.
 *   poll   GET .../jobs/{id}: no startedAt -> pending (pending_timeout_ms,
 *          then refresh_pending_timeout); finishCode 0 -> succeeded, 1 ->
 *          refresh_failed with Tableau's notes, 2 -> refresh_cancelled. A
 *          429 or 5xx while polling is a RETRY whose next attempt polls the
 *          same job.
 * lineage: one Metadata API GraphQL query (published data sources with
 *   their upstream tables, workbooks with their sheets and upstream data
 *   sources) -> result.lineage in namespace tableau://<host>/<site>:
 *   tables/<luid> -> datasources/<luid> -> workbooks/<luid> (feeds), and
 *   workbooks/<luid> -> workbooks/<luid>/sheets/<id> (contains); the
 *   query and the reading of its answer are in tableau_api.c.
 * probe: sign in and read the site. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "df_auth.h"
#include "df_http.h"
#include "df_id.h"
#include "df_log.h"
#include "refresh_guard.h"
#include "tableau_api.h"

#define API_VERSION_DEF   "3.21"
#define POLL_START_MS_DEF 5000
#define POLL_CAP_MS_DEF   60000
#define WAIT_POLL_MS      1000
#define MESSAGE_MAX       400
#define LUID_MAX          64
#define NAME_MAX_         256
#define LINEAGE_MAX_BYTES (900 * 1024)
#define TABLEAU_PLATFORM  "tableau"

typedef struct tb {
    df_task_ctx_t *ctx;
    const char *server; /* config.server_url, no trailing '/' in use */
    size_t server_len;
    char version[16];
    const char *site; /* contentUrl */
    df_http_t *http;
    df_auth_t *auth;
    char session[DF_AUTH_TOKEN_MAX]; /* "<token>|<site id>" */
    const char *token;               /* into session */
    const char *site_id;             /* into session */
    df_http_response_t resp;
    df_refresh_cadence_t cadence;
    int64_t pending_timeout_ms;
    char kind[16]; /* datasource | workbook */
    char item_id[LUID_MAX];
    char item_name[NAME_MAX_];
    char target[DF_REFRESH_TARGET_MAX];
} tb_t;

/* ---- helpers ---- */

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
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "connector config.%s: expected %s",
                   name, expected);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/config/%s", name);
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

static df_outcome_kind_t tb_open(tb_t *t, df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *cfg = ctx->connector_config;
    const char *version = json_string_value(json_object_get(cfg, "api_version"));
    const char *pat_name = json_string_value(json_object_get(cfg, "pat_name"));
    const char *pat_secret =
        json_string_value(json_object_get(ctx->connector_secrets, "pat_secret"));
    df_http_options_t opts = { .should_stop = http_should_stop,
                               .stop_ctx = ctx,
                               .platform = TABLEAU_PLATFORM };
    char signin[DF_HTTP_URL_MAX];
    df_error_t err;

    memset(t, 0, sizeof(*t));
    t->ctx = ctx;
    df_http_response_init(&t->resp);
    df_error_init(&err);
    t->server = json_string_value(json_object_get(cfg, "server_url"));
    if (!t->server || (strncmp(t->server, "https://", 8) != 0 && strncmp(t->server, "http://", 7)))
        return bad_config(out, "server_url", "the server's URL (https://...)");
    t->server_len = strlen(t->server);
    while (t->server_len > 0 && t->server[t->server_len - 1] == '/')
        t->server_len--;
    if (version && (!*version || strlen(version) >= sizeof(t->version) ||
                    strspn(version, "0123456789.") != strlen(version)))
        return bad_config(out, "api_version", "a REST API version such as \"3.21\"");
    snprintf(t->version, sizeof(t->version), "%s", version ? version : API_VERSION_DEF);
    t->site = json_string_value(json_object_get(cfg, "site"));
    if (!t->site)
        t->site = "";
    if (!pat_name || !*pat_name)
        return bad_config(out, "pat_name", "the personal access token's name");
    if (!pat_secret || !*pat_secret) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config",
                       "connector secrets.pat_secret: expected the personal access token's "
                       "secret");
        out->error.code = DF_ERR_INVALID;
        return out->kind;
    }
    t->cadence.start_ms = cfg_int(cfg, "refresh_poll_ms", POLL_START_MS_DEF);
    t->cadence.cap_ms = cfg_int(cfg, "refresh_poll_max_ms", POLL_CAP_MS_DEF);
    if (t->cadence.cap_ms < t->cadence.start_ms)
        t->cadence.cap_ms = t->cadence.start_ms;
    t->cadence.growth = DF_REFRESH_GROWTH_DEF;
    t->pending_timeout_ms = df_refresh_pending_timeout_ms(ctx, DF_REFRESH_PENDING_DEF_MS);
    snprintf(signin, sizeof(signin), "%.*s/api/%s/auth/signin", (int)t->server_len, t->server,
             t->version);
    {
        df_auth_config_t ac = { .kind = DF_AUTH_TABLEAU_PAT,
                                .token_url = signin,
                                .tenant = t->site,
                                .client_id = pat_name,
                                .client_secret = pat_secret };
        t->auth = df_auth_new(&ac, ctx->keyring, &err);
    }
    if (t->auth)
        t->http = df_http_new(&opts, &err);
    if (!t->auth || !t->http)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "tableau: %s",
                              err.message);
    return DF_OUTCOME_OK;
}

static void tb_close(tb_t *t)
{
    df_http_response_free(&t->resp);
    df_http_destroy(t->http);
    df_auth_destroy(t->auth);
    memset(t->session, 0, sizeof(t->session));
}

/* A session (force: the last one was refused). */
static df_outcome_kind_t session(tb_t *t, bool force, df_outcome_t *out)
{
    df_error_t err;
    char *bar;

    df_error_init(&err);
    if (df_auth_token(t->auth, t->ctx->redis, t->http, force, t->session, sizeof(t->session),
                      &err) != DF_OK) {
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       err.code == DF_ERR_AUTH ? "auth_failed" : "platform_unavailable",
                       "Tableau sign-in: %s", err.message);
        out->retry_after_ms = err.retry_after_ms;
        return out->kind;
    }
    bar = strrchr(t->session, '|');
    if (!bar)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "auth_failed",
                              "Tableau sign-in: a session without its site id");
    *bar = '\0';
    t->token = t->session;
    t->site_id = bar + 1;
    return DF_OUTCOME_OK;
}

/* Send method url (body: JSON text or NULL). DF_OUTCOME_OK when an answer
 * arrived: t->resp holds it, whatever its status, except: a 401 signs in
 * again once; 429, 5xx and transport failures are RETRY (Retry-After
 * honoured). */
static df_outcome_kind_t send(tb_t *t, const char *method, const char *url, const char *body,
                              df_outcome_t *out)
{
    for (int tries = 0;; tries++) {
        df_http_header_t headers[2] = { { "Accept", "application/json" },
                                        { "X-Tableau-Auth", NULL } };
        df_http_request_t req = { .method = method,
                                  .url = url,
                                  .headers = headers,
                                  .nheaders = 2,
                                  .body = body,
                                  .body_len = body ? strlen(body) : 0,
                                  .content_type = body ? "application/json" : NULL,
                                  .once = strcmp(method, "POST") == 0 };
        df_error_t err;
        char msg[MESSAGE_MAX], shown[DF_HTTP_URL_MAX];

        if (!t->token && session(t, tries > 0, out) != DF_OUTCOME_OK)
            return out->kind;
        headers[1].value = t->token;
        df_error_init(&err);
        df_http_url_for_log(url, shown, sizeof(shown));
        if (df_http_send(t->http, &req, &t->resp, &err) != DF_OK)
            return df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                                  "platform_unavailable", "Tableau: %s", err.message);
        if (t->resp.status == 401 && tries == 0) {
            t->token = NULL; /* the session ended: sign in again */
            continue;
        }
        if (t->resp.status == 429 || t->resp.status >= 500 || t->resp.status == 408) {
            df_tableau_message(t->resp.body, t->resp.body_len, msg, sizeof(msg));
            df_outcome_set(out, DF_OUTCOME_RETRY,
                           t->resp.status == 429 ? "rate_limited" : "platform_unavailable",
                           "Tableau: %s %s: HTTP %ld: %s", method, shown, t->resp.status, msg);
            out->retry_after_ms = t->resp.retry_after_ms;
            return out->kind;
        }
        if (t->resp.status == 401) {
            df_tableau_message(t->resp.body, t->resp.body_len, msg, sizeof(msg));
            return df_outcome_set(out, DF_OUTCOME_PERMANENT, "auth_failed",
                                  "Tableau: %s %s: HTTP 401: %s", method, shown, msg);
        }
        return DF_OUTCOME_OK;
    }
}

/* The answer was not 2xx: a permanent failure naming Tableau's error. */
static df_outcome_kind_t refused(tb_t *t, const char *what, df_outcome_t *out)
{
    char msg[MESSAGE_MAX];

    df_tableau_message(t->resp.body, t->resp.body_len, msg, sizeof(msg));
    return df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_rejected",
                          "Tableau: %s: HTTP %ld: %s", what, t->resp.status, msg);
}

static bool ok2xx(const tb_t *t)
{
    return t->resp.status >= 200 && t->resp.status < 300;
}

static json_t *body_json(const tb_t *t)
{
    return json_loadb(t->resp.body, t->resp.body_len, 0, NULL);
}

/* url <- <server>/api/<version>/sites/<site id>/<rest> */
static void site_url(const tb_t *t, char *url, size_t len, const char *rest)
{
    snprintf(url, len, "%.*s/api/%s/sites/%s/%s", (int)t->server_len, t->server, t->version,
             t->site_id, rest);
}

/* The session first, so the site id is known. */
static df_outcome_kind_t ready(tb_t *t, df_outcome_t *out)
{
    return t->token ? DF_OUTCOME_OK : session(t, false, out);
}

/* ---- refresh ---- */

/* params -> kind and the item's LUID (a name looked up). */
static df_outcome_kind_t resolve_item(tb_t *t, df_outcome_t *out)
{
    const json_t *params = t->ctx->params;
    const char *ds = json_string_value(json_object_get(params, "datasource"));
    const char *wb = json_string_value(json_object_get(params, "workbook"));
    const char *key, *value;
    char esc[3 * NAME_MAX_], rest[4 * NAME_MAX_], url[DF_HTTP_URL_MAX];
    json_t *root, *list;
    df_error_t err;

    if (!json_is_object(params) || (!ds == !wb) || json_object_size(params) != 1)
        return bad_param(out, "datasource",
                         "exactly one of params.datasource or params.workbook (a LUID or a "
                         "name), and nothing else");
    key = ds ? "datasource" : "workbook";
    value = ds ? ds : wb;
    if (!*value || strlen(value) >= NAME_MAX_ || strpbrk(value, ",:"))
        return bad_param(out, key, "a LUID or a name of 1 to 255 characters without ',' or ':'");
    snprintf(t->kind, sizeof(t->kind), "%s", key);
    if (df_tableau_is_luid(value)) {
        snprintf(t->item_id, sizeof(t->item_id), "%s", value);
        snprintf(t->item_name, sizeof(t->item_name), "%s", value);
        return DF_OUTCOME_OK;
    }
    if (ready(t, out) != DF_OUTCOME_OK)
        return out->kind;
    df_error_init(&err);
    if (df_http_path_escape(value, esc, sizeof(esc), &err) != DF_OK)
        return bad_param(out, key, "a shorter name");
    snprintf(rest, sizeof(rest), "%ss?filter=name:eq:%s", key, esc);
    site_url(t, url, sizeof(url), rest);
    if (send(t, "GET", url, NULL, out) != DF_OUTCOME_OK)
        return out->kind;
    if (!ok2xx(t))
        return refused(t, "looking up the item by name", out);
    root = body_json(t);
    list = json_object_get(json_object_get(root, ds ? "datasources" : "workbooks"), key);
    if (json_array_size(list) != 1) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, json_array_size(list) ? "ambiguous" : "not_found",
                       "params.%s: %zu %ss named \"%s\" on site \"%s\"%s", key,
                       json_array_size(list), key, value, t->site,
                       json_array_size(list) ? ": give its LUID" : "");
        json_decref(root);
        return out->kind;
    }
    snprintf(t->item_id, sizeof(t->item_id), "%s",
             json_string_value(json_object_get(json_array_get(list, 0), "id"))
                 ? json_string_value(json_object_get(json_array_get(list, 0), "id"))
                 : "");
    snprintf(t->item_name, sizeof(t->item_name), "%s", value);
    json_decref(root);
    if (!df_tableau_is_luid(t->item_id))
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_rejected",
                              "Tableau: the %s \"%s\" has no usable id", key, value);
    return DF_OUTCOME_OK;
}

static int64_t next_delay(const tb_t *t)
{
    return df_refresh_poll_delay(&t->cadence, t->ctx->polls, -1, df_now_ms(), t->ctx->deadline_ms);
}

static void job_save(tb_t *t, json_t *job, bool owner, int64_t ttl_ms)
{
    df_error_t err;

    df_error_init(&err);
    if (df_task_ctx_job_put(t->ctx, job, &err) != DF_OK)
        df_warn("task %s: Tableau job of %s not saved yet: %s", t->ctx->task_id, t->target,
                err.message);
    df_error_init(&err);
    if (owner && df_refresh_guard_set_job(t->ctx, t->target, job, ttl_ms, &err) != DF_OK)
        df_warn("task %s: Tableau job of %s not stored in its lock: %s", t->ctx->task_id, t->target,
                err.message);
}

static void guard_release(tb_t *t)
{
    df_error_t err;

    df_error_init(&err);
    if (df_refresh_guard_end(t->ctx, t->target, &err) != DF_OK)
        df_warn("task %s: refresh lock of %s not released (it expires): %s", t->ctx->task_id,
                t->target, err.message);
}

static json_t *new_job(const tb_t *t, const char *job_id)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I}", "kind", t->kind, "item_id", t->item_id,
                     "item_name", t->item_name, "target", t->target, "job_id", job_id,
                     "requested_at", (json_int_t)df_now_ms());
}

/* The item's job still queued or running (Query Jobs), or NULL. */
static char *running_job_id(tb_t *t, df_outcome_t *out)
{
    char url[DF_HTTP_URL_MAX];
    json_t *root, *list, *j;
    char *found = NULL;
    size_t i;

    if (df_tableau_is_luid(t->item_name)) { /* given by LUID: its name titles its jobs */
        char rest[200];
        snprintf(rest, sizeof(rest), "%ss/%s", t->kind, t->item_id);
        site_url(t, url, sizeof(url), rest);
        if (send(t, "GET", url, NULL, out) != DF_OUTCOME_OK)
            return NULL;
        if (!ok2xx(t)) {
            refused(t, "reading the item", out);
            return NULL;
        }
        root = body_json(t);
        if (json_string_value(json_object_get(json_object_get(root, t->kind), "name")))
            snprintf(t->item_name, sizeof(t->item_name), "%s",
                     json_string_value(json_object_get(json_object_get(root, t->kind), "name")));
        json_decref(root);
    }
    site_url(t, url, sizeof(url), "jobs?filter=status:in:[Pending,InProgress]");
    if (send(t, "GET", url, NULL, out) != DF_OUTCOME_OK || !ok2xx(t))
        return NULL;
    root = body_json(t);
    list = json_object_get(json_object_get(root, "backgroundJobs"), "backgroundJob");
    json_array_foreach(list, i, j)
    {
        const char *title = json_string_value(json_object_get(j, "title"));
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id && title && strcmp(title, t->item_name) == 0) {
            found = strdup(id);
            break;
        }
    }
    json_decref(root);
    return found;
}

static df_outcome_kind_t start(tb_t *t, df_outcome_t *out)
{
    char rest[200], url[DF_HTTP_URL_MAX], *adopt;
    json_t *root, *job;
    const char *id;

    snprintf(rest, sizeof(rest), "%ss/%s/refresh", t->kind, t->item_id);
    site_url(t, url, sizeof(url), rest);
    if (send(t, "POST", url, "{}", out) != DF_OUTCOME_OK)
        goto fail; /* a lost answer: the next attempt's POST meets 409093 and adopts */
    if (t->resp.status == 409) {
        df_outcome_init(out);
        if (!(adopt = running_job_id(t, out))) {
            if (out->kind != DF_OUTCOME_OK)
                goto fail;
            return df_outcome_set(out, DF_OUTCOME_RETRY, "refresh_conflict",
                                  "Tableau: a refresh of %s %s is already queued and its job is "
                                  "not listed yet",
                                  t->kind, t->item_id);
        }
        df_info("task %s: Tableau already refreshes %s %s (job %s): polling that job",
                t->ctx->task_id, t->kind, t->item_id, adopt);
        job = new_job(t, adopt);
        free(adopt);
        json_object_set_new(job, "adopted", json_true());
        job_save(t, job, true, df_refresh_guard_ttl(next_delay(t)));
        return df_outcome_poll(out, job, next_delay(t));
    }
    if (!ok2xx(t)) {
        refused(t, "refresh request", out);
        goto fail;
    }
    root = body_json(t);
    id = json_string_value(json_object_get(json_object_get(root, "job"), "id"));
    if (!id) {
        json_decref(root);
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_rejected",
                       "Tableau: a refresh answer without a job id");
        goto fail;
    }
    job = new_job(t, id);
    json_decref(root);
    job_save(t, job, true, df_refresh_guard_ttl(next_delay(t)));
    df_info("task %s: Tableau queued an extract refresh of %s %s", t->ctx->task_id, t->kind,
            t->item_id);
    return df_outcome_poll(out, job, next_delay(t));
fail:
    if (out->kind != DF_OUTCOME_RETRY)
        guard_release(t);
    return out->kind;
}

static df_outcome_kind_t begin(tb_t *t, df_outcome_t *out)
{
    df_refresh_claim_t claim;
    df_error_t err;
    json_t *job;
    df_outcome_kind_t kind;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    snprintf(t->target, sizeof(t->target), "tableau:%s:%s", t->kind, t->item_id);
    if (df_refresh_guard_begin(t->ctx, t->target, df_refresh_guard_ttl(t->cadence.start_ms), &claim,
                               &err) != DF_OK) {
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       "refresh_guard_unavailable", "%s", err.message);
        return out->kind;
    }
    switch (claim.role) {
    case DF_REFRESH_WAIT:
        job = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "kind", t->kind, "item_id", t->item_id,
                        "item_name", t->item_name, "target", t->target, "waiting", 1, "owner",
                        claim.owner);
        job_save(t, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    case DF_REFRESH_JOIN:
        job = json_deep_copy(claim.job);
        json_object_set_new(job, "joined", json_string(claim.owner));
        json_object_del(job, "adopted");
        df_info("task %s: %s already refreshes for task %s: coalesced into it", t->ctx->task_id,
                t->target, claim.owner);
        job_save(t, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    default:
        if (claim.job && json_is_string(json_object_get(claim.job, "job_id"))) {
            job = json_deep_copy(claim.job);
            job_save(t, job, false, 0);
            kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        } else if (ready(t, out) == DF_OUTCOME_OK) {
            kind = start(t, out);
        } else {
            kind = out->kind;
            if (kind != DF_OUTCOME_RETRY)
                guard_release(t);
        }
    }
    df_refresh_claim_free(&claim);
    return kind;
}

static json_t *result_of(const tb_t *t, const json_t *job, const json_t *j)
{
    json_t *res =
        json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:i}", "kind", t->kind, "item_id",
                  t->item_id, "job_id", json_string_value(json_object_get(job, "job_id")),
                  "finish_code", json_string_value(json_object_get(j, "finishCode")), "created_at",
                  json_string_value(json_object_get(j, "createdAt")), "started_at",
                  json_string_value(json_object_get(j, "startedAt")), "completed_at",
                  json_string_value(json_object_get(j, "completedAt")), "polls", t->ctx->polls + 1);
    const char *joined = json_string_value(json_object_get(job, "joined"));

    if (joined)
        json_object_set_new(res, "coalesced_into", json_string(joined));
    if (json_is_true(json_object_get(job, "adopted")))
        json_object_set_new(res, "adopted", json_true());
    return res;
}

static df_outcome_kind_t poll(tb_t *t, df_outcome_t *out)
{
    json_t *job = json_deep_copy(t->ctx->job), *root, *j, *notes_of;
    bool owner = !json_object_get(job, "joined");
    const char *job_id = json_string_value(json_object_get(job, "job_id"));
    char rest[200], url[DF_HTTP_URL_MAX], what[300];
    int64_t delay = next_delay(t);
    const char *notes;
    int code;
    df_error_t err;

    if (owner) {
        df_error_init(&err);
        if (df_refresh_guard_touch(t->ctx, t->target, job, df_refresh_guard_ttl(delay), &err))
            df_debug("task %s: refresh lock of %s: %s", t->ctx->task_id, t->target, err.message);
    }
    snprintf(what, sizeof(what), "extract refresh job %s of %s %s", job_id ? job_id : "?", t->kind,
             t->item_id);
    if (!job_id || strlen(job_id) >= 100 || strchr(job_id, '/')) {
        json_decref(job);
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_job",
                              "Tableau: the saved job has no usable job id");
    }
    snprintf(rest, sizeof(rest), "jobs/%s", job_id);
    if (ready(t, out) != DF_OUTCOME_OK) {
        json_decref(job);
        return out->kind;
    }
    site_url(t, url, sizeof(url), rest);
    if (send(t, "GET", url, NULL, out) != DF_OUTCOME_OK) {
        json_decref(job);
        return out->kind; /* RETRY: the next attempt polls this job again */
    }
    if (!ok2xx(t)) {
        refused(t, what, out);
        if (owner)
            guard_release(t);
        json_decref(job);
        return out->kind;
    }
    root = body_json(t);
    j = json_object_get(root, "job");
    code = df_tableau_finish_code(j);
    if (code < 0) {
        if (!json_object_get(j, "startedAt") &&
            df_refresh_pending_check(json_integer_value(json_object_get(job, "requested_at")),
                                     df_now_ms(), t->pending_timeout_ms, what, out)) {
            if (owner)
                guard_release(t);
        } else {
            df_outcome_poll(out, job, delay);
            job = NULL;
        }
        json_decref(root);
        json_decref(job);
        return out->kind;
    }
    notes_of = json_object_get(json_object_get(j, "extractRefreshJob"), "notes");
    notes = json_string_value(notes_of) ? json_string_value(notes_of) : "no notes given";
    if (code == 0) {
        out->kind = DF_OUTCOME_OK;
    } else if (code == 2) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_cancelled",
                       "Tableau: %s was cancelled: %.300s", what, notes);
    } else {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_failed", "Tableau: %s failed: %.300s",
                       what, notes);
    }
    out->result = result_of(t, job, j);
    if (owner)
        guard_release(t);
    json_decref(root);
    json_decref(job);
    return out->kind;
}

static df_outcome_kind_t tb_refresh(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *job = ctx->job;
    tb_t t;
    df_outcome_kind_t kind;

    if (tb_open(&t, ctx, out) != DF_OUTCOME_OK) {
        tb_close(&t);
        return out->kind;
    }
    if (json_is_string(json_object_get(job, "item_id")) &&
        json_is_string(json_object_get(job, "kind"))) {
        snprintf(t.kind, sizeof(t.kind), "%s", json_string_value(json_object_get(job, "kind")));
        snprintf(t.item_id, sizeof(t.item_id), "%s",
                 json_string_value(json_object_get(job, "item_id")));
        snprintf(t.item_name, sizeof(t.item_name), "%s",
                 json_string_value(json_object_get(job, "item_name"))
                     ? json_string_value(json_object_get(job, "item_name"))
                     : t.item_id);
        snprintf(t.target, sizeof(t.target), "tableau:%s:%s", t.kind, t.item_id);
        kind = json_is_true(json_object_get(job, "waiting")) ? begin(&t, out) : poll(&t, out);
    } else if (resolve_item(&t, out) == DF_OUTCOME_OK) {
        kind = begin(&t, out);
    } else {
        kind = out->kind;
    }
    tb_close(&t);
    return kind;
}

/* ---- lineage ---- */

static df_outcome_kind_t tb_lineage(df_task_ctx_t *ctx, df_outcome_t *out)
{
    tb_t t;
    json_t *body = NULL, *root = NULL, *graph = NULL, *errors;
    char url[DF_HTTP_URL_MAX], ns[300], *text = NULL;

    if (tb_open(&t, ctx, out) != DF_OUTCOME_OK || ready(&t, out) != DF_OUTCOME_OK)
        goto done;
    if (json_object_size(ctx->params) > 0) {
        bad_param(out, "(any)", "no params (the whole site's lineage is read)");
        goto done;
    }
    df_tableau_namespace(t.server, t.server_len, t.site, ns, sizeof(ns));
    snprintf(url, sizeof(url), "%.*s/api/metadata/graphql", (int)t.server_len, t.server);
    body = json_pack("{s:s}", "query", df_tableau_lineage_query);
    text = json_dumps(body, JSON_COMPACT);
    if (send(&t, "POST", url, text, out) != DF_OUTCOME_OK)
        goto done;
    if (!ok2xx(&t)) {
        refused(&t, "Metadata API", out);
        goto done;
    }
    root = body_json(&t);
    errors = json_object_get(root, "errors");
    if (json_array_size(errors) > 0) {
        const char *m = json_string_value(json_object_get(json_array_get(errors, 0), "message"));
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "lineage_failed", "Tableau Metadata API: %.300s",
                       m ? m : "an error without a message");
        goto done;
    }
    if (!(graph = df_tableau_lineage_graph(json_object_get(root, "data"), ns))) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem",
                       "Tableau: out of memory building the lineage graph");
        goto done;
    }
    out->result = json_pack("{s:O, s:I, s:I}", "lineage", graph, "nodes",
                            (json_int_t)json_array_size(json_object_get(graph, "nodes")), "edges",
                            (json_int_t)json_array_size(json_object_get(graph, "edges")));
    {
        char *dump = json_dumps(out->result, JSON_COMPACT);
        size_t n = dump ? strlen(dump) : 0;
        free(dump);
        if (n > LINEAGE_MAX_BYTES) {
            json_decref(out->result);
            out->result = NULL;
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "lineage_too_large",
                           "Tableau: the site's lineage (%zu bytes) is larger than a result may "
                           "be (%d bytes)",
                           n, LINEAGE_MAX_BYTES);
            goto done;
        }
    }
    out->kind = DF_OUTCOME_OK;
done:
    free(text);
    json_decref(body);
    json_decref(root);
    json_decref(graph);
    tb_close(&t);
    return out->kind;
}

/* ---- probe ---- */

static df_outcome_kind_t tb_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    tb_t t;
    char url[DF_HTTP_URL_MAX];
    json_t *root;

    if (tb_open(&t, ctx, out) == DF_OUTCOME_OK && ready(&t, out) == DF_OUTCOME_OK) {
        snprintf(url, sizeof(url), "%.*s/api/%s/sites/%s", (int)t.server_len, t.server, t.version,
                 t.site_id);
        if (send(&t, "GET", url, NULL, out) == DF_OUTCOME_OK) {
            if (!ok2xx(&t)) {
                refused(&t, "reading the site", out);
            } else {
                root = body_json(&t);
                out->result = json_pack(
                    "{s:s, s:s?, s:s}", "site_id", t.site_id, "site_name",
                    json_string_value(json_object_get(json_object_get(root, "site"), "name")),
                    "api_version", t.version);
                json_decref(root);
                out->kind = DF_OUTCOME_OK;
            }
        }
    }
    tb_close(&t);
    return out->kind;
}

const df_connector_ops_t df_connector_tableau = {
    .kind = "tableau",
    .probe = tb_probe,
    .refresh = tb_refresh,
    .lineage = tb_lineage,
};
