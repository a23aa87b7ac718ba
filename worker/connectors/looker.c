/* looker: the connector kind of a Looker instance through API 4.0
 * (docs/CONNECTORS.md, "Looker"; specs/looker/Looker.4.0.oas.json).
 *
 * Auth: POST <base_url>/login with the API client's id and secret (form
 * fields) answers an access token, sent as "Authorization: token <t>". It
 * goes through df_auth (client credentials against <base_url>/login), so
 * the token is cached fleet-wide in Redis; a 401 logs in again once.
 *
 * refresh, two forms:
 *   {"pdt": {"model", "view"}, "full_rebuild"?: bool}: a persistent derived
 *     table rebuilt, as a polled operation guarded so the fleet builds a PDT
 *     once at a time (worker/refresh_guard.h, target
 *     "looker:pdt:<model>.<view>"; a second task joins: coalesced_into).
 *     start_pdt_build (GET derived_table/{model}/{view}/start?force_rebuild)
 *     answers the materialization id, saved before the first poll;
 *     check_pdt_build (GET derived_table/{id}/status) is polled until its
 *     resp_text says done (succeeded) or error (refresh_failed, with
 *     Looker's message). resp_text is free text in the spec; it is read as
 *     JSON {"status", "message"} when it is, else by its words. A 429 or
 *     5xx while polling resumes the same materialization.
 *   {"datagroup": "<id or model::name>"}: update_datagroup with
 *     triggered_at = now (PATCH datagroups/{id}): Looker rebuilds what the
 *     datagroup governs on its own schedule; one call, idempotent.
 * lineage: all_lookml_models (explores), all_looks (each look's query
 *   model and view), all_dashboards + dashboard (its elements: a look, or a
 *   query) -> result.lineage in namespace looker://<host>:
 *   models/<m>/explores/<e> -> looks/<id> -> dashboards/<id>, and explore ->
 *   dashboard for a query tile (all "feeds").
 * probe: log in and read the API user (GET user). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connector.h"
#include "df_auth.h"
#include "df_http.h"
#include "df_id.h"
#include "df_log.h"
#include "refresh_guard.h"

#define POLL_START_MS_DEF 5000
#define POLL_CAP_MS_DEF   60000
#define WAIT_POLL_MS      1000
#define MESSAGE_MAX       400
#define NAME_MAX_         128
#define DASHBOARDS_MAX    1000

typedef struct lk {
    df_task_ctx_t *ctx;
    const char *base; /* config.base_url */
    size_t base_len;
    df_http_t *http;
    df_auth_t *auth;
    char token[DF_AUTH_TOKEN_MAX];
    bool have_token;
    df_http_response_t resp;
    df_refresh_cadence_t cadence;
    int64_t pending_timeout_ms;
    char model[NAME_MAX_], view[NAME_MAX_];
    char target[DF_REFRESH_TARGET_MAX];
} lk_t;

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

/* A LookML name: letters, digits, '_' (and ':' for a datagroup id). */
static bool lookml_name(const char *s, bool colon)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= NAME_MAX_)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(colon && *s == ':'))
            return false;
    return true;
}

static df_outcome_kind_t lk_open(lk_t *l, df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *cfg = ctx->connector_config;
    const char *id = json_string_value(json_object_get(cfg, "client_id"));
    const char *secret =
        json_string_value(json_object_get(ctx->connector_secrets, "client_secret"));
    df_http_options_t opts = { .should_stop = http_should_stop,
                               .stop_ctx = ctx,
                               .platform = "looker" };
    char login[DF_HTTP_URL_MAX];
    df_error_t err;

    memset(l, 0, sizeof(*l));
    l->ctx = ctx;
    df_http_response_init(&l->resp);
    l->base = json_string_value(json_object_get(cfg, "base_url"));
    if (!l->base || (strncmp(l->base, "https://", 8) != 0 && strncmp(l->base, "http://", 7) != 0))
        return bad_config(out, "config.base_url", "the API's URL (https://<instance>/api/4.0)");
    l->base_len = strlen(l->base);
    while (l->base_len > 0 && l->base[l->base_len - 1] == '/')
        l->base_len--;
    if (!id || !*id)
        return bad_config(out, "config.client_id", "the API client's id");
    if (!secret || !*secret)
        return bad_config(out, "secrets.client_secret", "the API client's secret");
    l->cadence.start_ms = cfg_int(cfg, "refresh_poll_ms", POLL_START_MS_DEF);
    l->cadence.cap_ms = cfg_int(cfg, "refresh_poll_max_ms", POLL_CAP_MS_DEF);
    if (l->cadence.cap_ms < l->cadence.start_ms)
        l->cadence.cap_ms = l->cadence.start_ms;
    l->cadence.growth = DF_REFRESH_GROWTH_DEF;
    l->pending_timeout_ms = df_refresh_pending_timeout_ms(ctx, DF_REFRESH_PENDING_DEF_MS);
    snprintf(login, sizeof(login), "%.*s/login", (int)l->base_len, l->base);
    df_error_init(&err);
    {
        df_auth_config_t ac = { .kind = DF_AUTH_CLIENT_CREDENTIALS,
                                .token_url = login,
                                .client_id = id,
                                .client_secret = secret };
        l->auth = df_auth_new(&ac, ctx->keyring, &err);
    }
    if (l->auth)
        l->http = df_http_new(&opts, &err);
    if (!l->auth || !l->http)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config", "looker: %s",
                              err.message);
    return DF_OUTCOME_OK;
}

static void lk_close(lk_t *l)
{
    df_http_response_free(&l->resp);
    df_http_destroy(l->http);
    df_auth_destroy(l->auth);
    memset(l->token, 0, sizeof(l->token));
}

static void looker_message(const df_http_response_t *resp, char *buf, size_t len)
{
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *m = json_string_value(json_object_get(root, "message"));
    json_t *e = json_array_get(json_object_get(root, "errors"), 0);
    const char *em = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));

    if (m)
        snprintf(buf, len, "%s%s%s%s%s", m, em ? ": " : "", field ? field : "",
                 field && em ? " " : "", em ? em : "");
    else
        df_http_vendor_message(resp->body, resp->body_len, buf, len);
    json_decref(root);
}

/* Send method <base>/<path>; DF_OUTCOME_OK with a 2xx in l->resp. */
static df_outcome_kind_t send(lk_t *l, const char *method, const char *path, const char *body,
                              df_outcome_t *out)
{
    char url[DF_HTTP_URL_MAX], header[DF_AUTH_TOKEN_MAX + 8], msg[MESSAGE_MAX];

    snprintf(url, sizeof(url), "%.*s/%s", (int)l->base_len, l->base, path);
    for (int tries = 0;; tries++) {
        df_http_header_t headers[2] = { { "Accept", "application/json" },
                                        { "Authorization", header } };
        df_http_request_t req = { .method = method,
                                  .url = url,
                                  .headers = headers,
                                  .nheaders = 2,
                                  .body = body,
                                  .body_len = body ? strlen(body) : 0,
                                  .content_type = body ? "application/json" : NULL,
                                  .once =
                                      strcmp(method, "GET") != 0 && strcmp(method, "PATCH") != 0 };
        df_error_t err;

        df_error_init(&err);
        if (!l->have_token || tries > 0) {
            if (df_auth_token(l->auth, l->ctx->redis, l->http, tries > 0, l->token,
                              sizeof(l->token), &err) != DF_OK) {
                df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                               err.code == DF_ERR_AUTH ? "auth_failed" : "platform_unavailable",
                               "Looker login: %s", err.message);
                out->retry_after_ms = err.retry_after_ms;
                return out->kind;
            }
            l->have_token = true;
        }
        snprintf(header, sizeof(header), "token %s", l->token);
        if (df_http_send(l->http, &req, &l->resp, &err) != DF_OK)
            return df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                                  "platform_unavailable", "Looker: %s", err.message);
        if (l->resp.status == 401 && tries == 0)
            continue;
        if (l->resp.status >= 200 && l->resp.status < 300)
            return DF_OUTCOME_OK;
        looker_message(&l->resp, msg, sizeof(msg));
        if (l->resp.status == 429 || l->resp.status >= 500 || l->resp.status == 408) {
            df_outcome_set(out, DF_OUTCOME_RETRY,
                           l->resp.status == 429 ? "rate_limited" : "platform_unavailable",
                           "Looker: %s %s: HTTP %ld: %s", method, path, l->resp.status, msg);
            out->retry_after_ms = l->resp.retry_after_ms;
            return out->kind;
        }
        return df_outcome_set(out, DF_OUTCOME_PERMANENT,
                              l->resp.status == 401   ? "auth_failed"
                              : l->resp.status == 404 ? "not_found"
                                                      : "platform_rejected",
                              "Looker: %s %s: HTTP %ld: %s", method, path, l->resp.status, msg);
    }
}

static json_t *body_json(const lk_t *l)
{
    return json_loadb(l->resp.body, l->resp.body_len, 0, NULL);
}

/* ---- PDT refresh ---- */

static int64_t next_delay(const lk_t *l)
{
    return df_refresh_poll_delay(&l->cadence, l->ctx->polls, -1, df_now_ms(), l->ctx->deadline_ms);
}

static void job_save(lk_t *l, const json_t *job, bool owner, int64_t ttl_ms)
{
    df_error_t err;

    df_error_init(&err);
    if (df_task_ctx_job_put(l->ctx, job, &err) != DF_OK)
        df_warn("task %s: Looker build of %s not saved yet: %s", l->ctx->task_id, l->target,
                err.message);
    df_error_init(&err);
    if (owner && df_refresh_guard_set_job(l->ctx, l->target, job, ttl_ms, &err) != DF_OK)
        df_warn("task %s: Looker build of %s not stored in its lock: %s", l->ctx->task_id,
                l->target, err.message);
}

static void guard_release(lk_t *l)
{
    df_error_t err;

    df_error_init(&err);
    if (df_refresh_guard_end(l->ctx, l->target, &err) != DF_OK)
        df_warn("task %s: refresh lock of %s not released (it expires): %s", l->ctx->task_id,
                l->target, err.message);
}

/* resp_text -> "queued" | "running" | "done" | "error" and Looker's message. */
static const char *build_state(const char *resp_text, char *msg, size_t len)
{
    json_t *r = resp_text ? json_loads(resp_text, 0, NULL) : NULL;
    const char *status = json_string_value(json_object_get(r, "status"));
    const char *m = json_string_value(json_object_get(r, "message"));
    const char *state;

    snprintf(msg, len, "%s", m ? m : resp_text ? resp_text : "");
    if (status)
        state = strcmp(status, "done") == 0 || strcmp(status, "complete") == 0 ||
                        strcmp(status, "success") == 0
                    ? "done"
                : strcmp(status, "error") == 0 || strcmp(status, "failed") == 0   ? "error"
                : strcmp(status, "queued") == 0 || strcmp(status, "pending") == 0 ? "queued"
                                                                                  : "running";
    else if (resp_text && (strstr(resp_text, "rror") || strstr(resp_text, "ailed")))
        state = "error";
    else if (resp_text && (strstr(resp_text, "omplete") || strstr(resp_text, "uccess")))
        state = "done";
    else
        state = "running";
    json_decref(r);
    return state;
}

static df_outcome_kind_t pdt_start(lk_t *l, bool full, df_outcome_t *out)
{
    char path[400];
    json_t *root, *job;
    const char *id;

    snprintf(path, sizeof(path), "derived_table/%s/%s/start?force_rebuild=%s&source=datafleet",
             l->model, l->view, full ? "true" : "false");
    if (send(l, "GET", path, NULL, out) != DF_OUTCOME_OK) {
        if (out->kind != DF_OUTCOME_RETRY)
            guard_release(l);
        return out->kind;
    }
    root = body_json(l);
    id = json_string_value(json_object_get(root, "materialization_id"));
    if (!id || !*id || strlen(id) >= 100 || strpbrk(id, "/?#")) {
        json_decref(root);
        guard_release(l);
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_rejected",
                              "Looker: start_pdt_build answered no usable materialization_id");
    }
    job = json_pack("{s:s, s:s, s:s, s:s, s:I}", "model", l->model, "view", l->view, "target",
                    l->target, "materialization_id", id, "requested_at", (json_int_t)df_now_ms());
    json_decref(root);
    job_save(l, job, true, df_refresh_guard_ttl(next_delay(l)));
    df_info("task %s: Looker builds PDT %s.%s (materialization %s)", l->ctx->task_id, l->model,
            l->view, json_string_value(json_object_get(job, "materialization_id")));
    return df_outcome_poll(out, job, next_delay(l));
}

static df_outcome_kind_t pdt_begin(lk_t *l, bool full, df_outcome_t *out)
{
    df_refresh_claim_t claim;
    df_error_t err;
    json_t *job;
    df_outcome_kind_t kind;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    if (df_refresh_guard_begin(l->ctx, l->target, df_refresh_guard_ttl(l->cadence.start_ms), &claim,
                               &err) != DF_OK) {
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       "refresh_guard_unavailable", "%s", err.message);
        return out->kind;
    }
    switch (claim.role) {
    case DF_REFRESH_WAIT:
        job = json_pack("{s:s, s:s, s:s, s:b, s:s}", "model", l->model, "view", l->view, "target",
                        l->target, "waiting", 1, "owner", claim.owner);
        job_save(l, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    case DF_REFRESH_JOIN:
        job = json_deep_copy(claim.job);
        json_object_set_new(job, "joined", json_string(claim.owner));
        df_info("task %s: PDT %s.%s already builds for task %s: coalesced into it", l->ctx->task_id,
                l->model, l->view, claim.owner);
        job_save(l, job, false, 0);
        kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        break;
    default:
        if (claim.job && json_is_string(json_object_get(claim.job, "materialization_id"))) {
            job = json_deep_copy(claim.job);
            job_save(l, job, false, 0);
            kind = df_outcome_poll(out, job, WAIT_POLL_MS);
        } else {
            kind = pdt_start(l, full, out);
        }
    }
    df_refresh_claim_free(&claim);
    return kind;
}

static df_outcome_kind_t pdt_poll(lk_t *l, df_outcome_t *out)
{
    json_t *job = json_deep_copy(l->ctx->job), *root;
    bool owner = !json_object_get(job, "joined");
    const char *id = json_string_value(json_object_get(job, "materialization_id"));
    char path[200], msg[MESSAGE_MAX];
    int64_t delay = next_delay(l);
    const char *state;
    df_error_t err;

    if (!id || strlen(id) >= 100 || strpbrk(id, "/?#")) {
        json_decref(job);
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_job",
                              "Looker: the saved build has no usable materialization id");
    }
    if (owner) {
        df_error_init(&err);
        if (df_refresh_guard_touch(l->ctx, l->target, job, df_refresh_guard_ttl(delay), &err))
            df_debug("task %s: refresh lock of %s: %s", l->ctx->task_id, l->target, err.message);
    }
    snprintf(path, sizeof(path), "derived_table/%s/status", id);
    if (send(l, "GET", path, NULL, out) != DF_OUTCOME_OK) {
        if (out->kind != DF_OUTCOME_RETRY && owner)
            guard_release(l);
        json_decref(job);
        return out->kind; /* RETRY: the next attempt polls this build again */
    }
    root = body_json(l);
    state = build_state(json_string_value(json_object_get(root, "resp_text")), msg, sizeof(msg));
    json_decref(root);
    if (strcmp(state, "queued") == 0) {
        char what[300];
        snprintf(what, sizeof(what), "the build of Looker PDT %s.%s (materialization %s)", l->model,
                 l->view, id);
        if (df_refresh_pending_check(json_integer_value(json_object_get(job, "requested_at")),
                                     df_now_ms(), l->pending_timeout_ms, what, out)) {
            if (owner)
                guard_release(l);
            json_decref(job);
            return out->kind;
        }
    }
    if (strcmp(state, "running") == 0 || strcmp(state, "queued") == 0)
        return df_outcome_poll(out, job, delay);
    if (strcmp(state, "done") == 0) {
        out->kind = DF_OUTCOME_OK;
    } else {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_failed",
                       "Looker: the build of PDT %s.%s (materialization %s) failed: %.300s",
                       l->model, l->view, id, msg);
    }
    out->result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "model", l->model, "view", l->view,
                            "materialization_id", id, "status", state, "message", msg, "polls",
                            l->ctx->polls + 1);
    if (json_is_string(json_object_get(job, "joined")))
        json_object_set(out->result, "coalesced_into", json_object_get(job, "joined"));
    if (owner)
        guard_release(l);
    json_decref(job);
    return out->kind;
}

/* ---- datagroup trigger ---- */

static df_outcome_kind_t datagroup_trigger(lk_t *l, const char *want, df_outcome_t *out)
{
    json_t *root, *d, *found = NULL;
    char path[300], body[64];
    size_t i;
    int64_t now = (int64_t)time(NULL);

    if (send(l, "GET", "datagroups", NULL, out) != DF_OUTCOME_OK)
        return out->kind;
    root = body_json(l);
    json_array_foreach(root, i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *model = json_string_value(json_object_get(d, "model_name"));
        const char *name = json_string_value(json_object_get(d, "name"));
        char both[2 * NAME_MAX_ + 4];
        snprintf(both, sizeof(both), "%s::%s", model ? model : "", name ? name : "");
        if ((id && strcmp(id, want) == 0) || strcmp(both, want) == 0) {
            found = d;
            break;
        }
    }
    if (!found || !json_string_value(json_object_get(found, "id"))) {
        json_decref(root);
        return bad_param(out, "datagroup", "a datagroup of the instance (its id, or model::name)");
    }
    snprintf(path, sizeof(path), "datagroups/%s", json_string_value(json_object_get(found, "id")));
    json_decref(root);
    snprintf(body, sizeof(body), "{\"triggered_at\":%lld}", (long long)now);
    if (send(l, "PATCH", path, body, out) != DF_OUTCOME_OK)
        return out->kind;
    root = body_json(l);
    out->result = json_pack("{s:s?, s:s?, s:s?, s:O?}", "datagroup",
                            json_string_value(json_object_get(root, "id")), "model",
                            json_string_value(json_object_get(root, "model_name")), "name",
                            json_string_value(json_object_get(root, "name")), "triggered_at",
                            json_object_get(root, "triggered_at"));
    json_decref(root);
    out->kind = DF_OUTCOME_OK;
    return out->kind;
}

static df_outcome_kind_t lk_refresh(df_task_ctx_t *ctx, df_outcome_t *out)
{
    const json_t *params = ctx->params, *job = ctx->job;
    json_t *pdt = json_object_get(params, "pdt"), *full = json_object_get(params, "full_rebuild");
    const char *dg = json_string_value(json_object_get(params, "datagroup"));
    const char *model, *view;
    lk_t l;
    df_outcome_kind_t kind;

    if (lk_open(&l, ctx, out) != DF_OUTCOME_OK) {
        lk_close(&l);
        return out->kind;
    }
    if (!pdt == !dg || (dg && json_object_size(params) != 1) ||
        (pdt && json_object_size(params) != (full ? 2u : 1u))) {
        lk_close(&l);
        return bad_param(out, "pdt",
                         "exactly one of params.pdt ({\"model\", \"view\"}, with full_rebuild?) "
                         "or params.datagroup, and nothing else");
    }
    if (dg) {
        kind = lookml_name(dg, true) ? datagroup_trigger(&l, dg, out)
                                     : bad_param(out, "datagroup", "a datagroup id or model::name");
        lk_close(&l);
        return kind;
    }
    model = json_string_value(json_object_get(pdt, "model"));
    view = json_string_value(json_object_get(pdt, "view"));
    if (!lookml_name(model, false) || !lookml_name(view, false) || json_object_size(pdt) != 2) {
        lk_close(&l);
        return bad_param(out, "pdt", "{\"model\": a LookML model, \"view\": its PDT's view}");
    }
    if (full && !json_is_boolean(full)) {
        lk_close(&l);
        return bad_param(out, "full_rebuild", "true or false");
    }
    snprintf(l.model, sizeof(l.model), "%s", model);
    snprintf(l.view, sizeof(l.view), "%s", view);
    snprintf(l.target, sizeof(l.target), "looker:pdt:%s.%s", model, view);
    if (job && !json_is_true(json_object_get(job, "waiting")))
        kind = pdt_poll(&l, out);
    else
        kind = pdt_begin(&l, json_is_true(full), out);
    lk_close(&l);
    return kind;
}

/* ---- lineage ---- */

typedef struct graph {
    char ns[300];
    json_t *nodes; /* name -> node */
    json_t *edges; /* "from\nto" -> edge */
} graph_t;

static void g_node(graph_t *g, const char *name, const char *kind, json_t *attrs)
{
    if (!json_object_get(g->nodes, name))
        json_object_set_new(g->nodes, name,
                            json_pack("{s:s, s:s, s:s, s:o}", "namespace", g->ns, "name", name,
                                      "kind", kind, "attrs", attrs ? attrs : json_object()));
    else
        json_decref(attrs);
}

static void g_edge(graph_t *g, const char *from, const char *to)
{
    char key[600];

    snprintf(key, sizeof(key), "%s\n%s", from, to);
    if (!json_object_get(g->edges, key))
        json_object_set_new(g->edges, key,
                            json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "namespace",
                                      g->ns, "name", from, "to", "namespace", g->ns, "name", to,
                                      "kind", "feeds"));
}

static json_t *values(json_t *obj)
{
    json_t *arr = json_array(), *v;
    const char *k;

    json_object_foreach(obj, k, v) json_array_append(arr, v);
    return arr;
}

/* "<id>" of a JSON id that Looker gives as a number or a string. */
static bool id_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && *json_string_value(v) && !strchr(json_string_value(v), '/'))
        snprintf(buf, len, "%.60s", json_string_value(v));
    else
        return false;
    return true;
}

static void explore_name(const json_t *query, char *buf, size_t len)
{
    snprintf(buf, len, "models/%.100s/explores/%.100s",
             json_string_value(json_object_get(query, "model")),
             json_string_value(json_object_get(query, "view")));
}

static df_outcome_kind_t lk_lineage(df_task_ctx_t *ctx, df_outcome_t *out)
{
    graph_t g = { .nodes = json_object(), .edges = json_object() };
    json_t *root = NULL, *x, *y, *dashboards = NULL;
    char a[300], b[300], id[80], path[200];
    const char *host, *model;
    size_t i, k, hlen;
    lk_t l;

    if (lk_open(&l, ctx, out) != DF_OUTCOME_OK)
        goto done;
    if (json_object_size(ctx->params) > 0) {
        bad_param(out, "(any)", "no params (the whole instance's lineage is read)");
        goto done;
    }
    host = strstr(l.base, "://") + 3;
    hlen = strcspn(host, "/?#");
    snprintf(g.ns, sizeof(g.ns), "looker://%.*s", (int)(hlen < 200 ? hlen : 200), host);
    if (send(&l, "GET", "lookml_models?fields=name,explores", NULL, out) != DF_OUTCOME_OK)
        goto done;
    root = body_json(&l);
    json_array_foreach(root, i, x)
    {
        if (!lookml_name(model = json_string_value(json_object_get(x, "name")), false))
            continue;
        json_array_foreach(json_object_get(x, "explores"), k, y)
        {
            const char *e = json_string_value(json_object_get(y, "name"));
            if (!lookml_name(e, false))
                continue;
            snprintf(a, sizeof(a), "models/%s/explores/%s", model, e);
            g_node(&g, a, "explore", json_pack("{s:s, s:s}", "model", model, "explore", e));
        }
    }
    json_decref(root);
    if (send(&l, "GET", "looks?fields=id,title,query", NULL, out) != DF_OUTCOME_OK) {
        root = NULL;
        goto done;
    }
    root = body_json(&l);
    json_array_foreach(root, i, x)
    {
        json_t *q = json_object_get(x, "query");
        if (!id_text(json_object_get(x, "id"), id, sizeof(id)))
            continue;
        snprintf(b, sizeof(b), "looks/%s", id);
        g_node(&g, b, "look",
               json_pack("{s:s?}", "title", json_string_value(json_object_get(x, "title"))));
        if (lookml_name(json_string_value(json_object_get(q, "model")), false) &&
            lookml_name(json_string_value(json_object_get(q, "view")), false)) {
            explore_name(q, a, sizeof(a));
            g_edge(&g, a, b);
        }
    }
    json_decref(root);
    if (send(&l, "GET", "dashboards?fields=id,title", NULL, out) != DF_OUTCOME_OK) {
        root = NULL;
        goto done;
    }
    root = NULL;
    dashboards = body_json(&l);
    json_array_foreach(dashboards, i, x)
    {
        if (i >= DASHBOARDS_MAX || !id_text(json_object_get(x, "id"), id, sizeof(id)))
            continue;
        snprintf(path, sizeof(path), "dashboards/%s?fields=id,title,dashboard_elements", id);
        if (send(&l, "GET", path, NULL, out) != DF_OUTCOME_OK)
            goto done;
        root = body_json(&l);
        snprintf(b, sizeof(b), "dashboards/%s", id);
        g_node(&g, b, "dashboard",
               json_pack("{s:s?}", "title", json_string_value(json_object_get(root, "title"))));
        json_array_foreach(json_object_get(root, "dashboard_elements"), k, y)
        {
            json_t *q = json_object_get(y, "query");
            char lid[80];
            if (id_text(json_object_get(y, "look_id"), lid, sizeof(lid))) {
                snprintf(a, sizeof(a), "looks/%s", lid);
                g_edge(&g, a, b);
            } else if (lookml_name(json_string_value(json_object_get(q, "model")), false) &&
                       lookml_name(json_string_value(json_object_get(q, "view")), false)) {
                explore_name(q, a, sizeof(a));
                g_edge(&g, a, b);
            }
        }
        json_decref(root);
        root = NULL;
    }
    out->result =
        json_pack("{s:{s:o, s:o}, s:I, s:I}", "lineage", "nodes", values(g.nodes), "edges",
                  values(g.edges), "nodes", (json_int_t)json_object_size(g.nodes), "edges",
                  (json_int_t)json_object_size(g.edges));
    out->kind = DF_OUTCOME_OK;
done:
    json_decref(root);
    json_decref(dashboards);
    json_decref(g.nodes);
    json_decref(g.edges);
    lk_close(&l);
    return out->kind;
}

static df_outcome_kind_t lk_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    lk_t l;
    json_t *root;

    if (lk_open(&l, ctx, out) == DF_OUTCOME_OK &&
        send(&l, "GET", "user", NULL, out) == DF_OUTCOME_OK) {
        root = body_json(&l);
        out->result =
            json_pack("{s:O?, s:s?}", "user_id", json_object_get(root, "id"), "display_name",
                      json_string_value(json_object_get(root, "display_name")));
        json_decref(root);
        out->kind = DF_OUTCOME_OK;
    }
    lk_close(&l);
    return out->kind;
}

const df_connector_ops_t df_connector_looker = {
    .kind = "looker",
    .probe = lk_probe,
    .refresh = lk_refresh,
    .lineage = lk_lineage,
};
