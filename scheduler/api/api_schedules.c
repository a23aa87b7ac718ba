/* api_schedules: /v1/schedules. The same reads and changes as the
 * `schedules` command, through schedule_store.h: a schedule is shown with
 * its latest fired slot (and that task's or pipeline run's state in the
 * history) and its next fire time; adding and replacing check the
 * expression, the zone and the task template as the command does; trigger
 * claims the slot of the current second like any slot and publishes its
 * task through the API's submitter (Kafka's acknowledgement before 202).
 * docs/API.md, "Schedules". */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "schedule_slot.h"
#include "schedule_store.h"

#define FIRES_DEFAULT 10
#define UPCOMING      3

/* ---- the Schedule object ------------------------------------------------------------- */

/* The API's form of a df_schedule_row_json object (stolen). */
static json_t *schedule_json(json_t *row)
{
    json_t *out = json_object(), *pipe = json_object_get(row, "pipeline");
    static const char *const same[] = { "name",          "id",       "catch_up_limit", "paused",
                                        "enabled",       "state",    "created_at",     "updated_at",
                                        "last_fired_at", "last_run", "next_fire_at",   NULL };

    json_object_set(out, "cron", json_object_get(row, "expression"));
    json_object_set(out, "tz", json_object_get(row, "timezone"));
    json_object_set(out, "misfire", json_object_get(row, "misfire_policy"));
    json_object_set(out, "task", json_object_get(row, "task_template"));
    json_object_set_new(out, "pipeline",
                        json_is_object(pipe) ? json_incref(json_object_get(pipe, "name"))
                                             : json_null());
    for (size_t i = 0; same[i]; i++)
        json_object_set(out, same[i], json_object_get(row, same[i]));
    json_decref(row);
    return out;
}

/* Schedule `name` in the API's form (with upcoming fire times and the
 * latest `fires` fired slots when fires >= 0), or NULL with an answer set
 * (404 when there is none). */
static json_t *load(api_req_t *req, api_resp_t *resp, const char *name, int64_t fires)
{
    df_error_t err;
    PGresult *res;
    json_t *doc;

    if (!api_need_pg(req, resp))
        return NULL;
    df_error_init(&err);
    res = df_schedule_query(req->pg, name, &err);
    if (!res) {
        api_df_error(resp, &err);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "name", "no schedule named \"%s\"", name);
        return NULL;
    }
    doc = schedule_json(df_schedule_row_json(res, 0));
    if (fires >= 0) {
        json_t *list = df_schedule_fires(req->pg, PQgetvalue(res, 0, DF_SCHED_C_ID), fires, &err);
        if (!list) {
            PQclear(res);
            json_decref(doc);
            api_df_error(resp, &err);
            return NULL;
        }
        json_object_set_new(doc, "upcoming", df_schedule_upcoming(res, 0, UPCOMING));
        json_object_set_new(doc, "fires", list);
    }
    PQclear(res);
    return doc;
}

/* The path's {name}: 400 unless it can be a schedule's name. */
static bool name_param(const api_req_t *req, api_resp_t *resp)
{
    if (df_schedule_name_ok(req->params[0]))
        return true;
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
              "name: expected 1 to 128 letters, digits, '_', '.', ':' or '-', starting with a "
              "letter or digit, got \"%.64s\"",
              req->params[0]);
    return false;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void list_schedules(api_req_t *req, api_resp_t *resp)
{
    json_t *list;
    df_error_t err;
    PGresult *res;

    if (!api_query_only(req, resp, NULL) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    res = df_schedule_query(req->pg, NULL, &err);
    if (!res) {
        api_df_error(resp, &err);
        return;
    }
    list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, schedule_json(df_schedule_row_json(res, r)));
    PQclear(res);
    api_json(resp, MHD_HTTP_OK, json_pack("{s:o}", "schedules", list));
}

static void get_schedule(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "fires", NULL };
    int64_t fires;
    json_t *doc;

    if (!api_query_only(req, resp, allowed) || !name_param(req, resp) ||
        !api_query_int(req, resp, "fires", FIRES_DEFAULT, 0, 1000, &fires))
        return;
    doc = load(req, resp, req->params[0], fires);
    if (doc)
        api_json(resp, MHD_HTTP_OK, doc);
}

/* ---- adding and replacing ---------------------------------------------------------------- */

/* A POST or PUT body, checked: the definition and its first slot. */
typedef struct body {
    df_schedule_spec_t spec;
    const json_t *task;  /* borrowed from the body */
    char *template_text; /* owned */
    int64_t next;
} body_t;

static bool field_type(api_resp_t *resp, const json_t *v, const char *field, bool ok,
                       const char *expected)
{
    if (!v || ok)
        return true;
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", field, "%s: expected %s", field, expected);
    return false;
}

/* Read and check the body into b (name: the path's for PUT, NULL for
 * POST). false with an answer set. */
static bool read_body(api_req_t *req, api_resp_t *resp, const char *name, body_t *b)
{
    static const char *const allowed[] = { "name",           "cron",     "tz",
                                           "task",           "pipeline", "misfire",
                                           "catch_up_limit", "paused",   NULL };
    const json_t *body = req->body;
    json_t *vname = json_object_get(body, "name"), *cron = json_object_get(body, "cron");
    json_t *tz = json_object_get(body, "tz"), *task = json_object_get(body, "task");
    json_t *pipe = json_object_get(body, "pipeline"), *misfire = json_object_get(body, "misfire");
    json_t *limit = json_object_get(body, "catch_up_limit"),
           *paused = json_object_get(body, "paused");
    df_misfire_t policy;
    df_error_t err;
    bool enabled;
    df_code_t code;

    memset(b, 0, sizeof(*b));
    /* null is absent (a Schedule's unused target is null) */
    if (json_is_null(tz))
        tz = NULL;
    if (json_is_null(task))
        task = NULL;
    if (json_is_null(pipe))
        pipe = NULL;
    if (json_is_null(misfire))
        misfire = NULL;
    if (json_is_null(limit))
        limit = NULL;
    if (json_is_null(paused))
        paused = NULL;
    if (!api_body_only(req, resp, allowed) ||
        !field_type(resp, vname, "name", json_is_string(vname), "a string") ||
        !field_type(resp, cron, "cron", json_is_string(cron), "a string (a cron expression)") ||
        !field_type(resp, tz, "tz", json_is_string(tz), "a string (an IANA time zone)") ||
        !field_type(resp, task, "task", json_is_object(task), "an object (a task template)") ||
        !field_type(resp, pipe, "pipeline", json_is_string(pipe), "a string (a pipeline's name)") ||
        !field_type(resp, misfire, "misfire", json_is_string(misfire),
                    "one of \"coalesce\", \"skip\", \"catch_up\"") ||
        !field_type(resp, limit, "catch_up_limit",
                    json_is_integer(limit) && json_integer_value(limit) >= 0 &&
                        json_integer_value(limit) <= DF_SCHEDULE_CATCH_UP_MAX,
                    "an integer from 0 to 1000") ||
        !field_type(resp, paused, "paused", json_is_boolean(paused), "true or false"))
        return false;
    if (name && vname && strcmp(json_string_value(vname), name) != 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: a schedule is renamed by adding it anew; the body's name must be the "
                  "path's (\"%s\") or absent",
                  name);
        return false;
    }
    b->spec.name = name ? name : json_string_value(vname);
    if (!b->spec.name) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name", "name: required");
        return false;
    }
    if (!df_schedule_name_ok(b->spec.name)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: expected 1 to 128 letters, digits, '_', '.', ':' or '-', starting with a "
                  "letter or digit, got \"%.64s\"",
                  b->spec.name);
        return false;
    }
    if (!cron) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "cron",
                  "cron: required (e.g. \"0 2 * * *\", \"@hourly\", \"@every 90s\")");
        return false;
    }
    if ((task != NULL) == (pipe != NULL)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", task ? "pipeline" : "task",
                  "expected exactly one of task (a task template) and pipeline (a pipeline's "
                  "name)");
        return false;
    }
    b->spec.expression = json_string_value(cron);
    b->spec.timezone = tz ? json_string_value(tz) : "UTC";
    b->spec.pipeline = json_string_value(pipe);
    policy = DF_MISFIRE_COALESCE;
    if (misfire && !df_misfire_parse(json_string_value(misfire), &policy)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "misfire",
                  "misfire: expected one of \"coalesce\", \"skip\", \"catch_up\", got \"%.64s\"",
                  json_string_value(misfire));
        return false;
    }
    b->spec.misfire = df_misfire_name(policy);
    b->spec.catch_up_limit = limit ? json_integer_value(limit) : 10;
    b->spec.paused = json_is_true(paused);
    df_error_init(&err);
    if (df_schedule_first_slot(b->spec.expression, b->spec.timezone, df_now_ms(), &b->next, &err)) {
        const char *field = strcmp(err.field, "timezone") == 0 ? "tz" : "cron";
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", field, "%s: %s", field, err.message);
        return false;
    }
    if (task) {
        char field[DF_ERR_FIELD_MAX + 8];
        if (df_schedule_template_check(task, b->spec.name, &err)) {
            snprintf(field, sizeof(field), "/task%s", err.field);
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", field, "%s: %s", field, err.message);
            return false;
        }
        b->task = task;
        b->template_text = json_dumps(task, JSON_COMPACT);
        b->spec.task_template = b->template_text;
        return true;
    }
    if (!api_need_pg(req, resp))
        return false;
    code = df_schedule_pipeline_check(req->pg, b->spec.pipeline, &enabled, &err);
    if (code == DF_ERR_NOT_FOUND)
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "pipeline",
                  "pipeline: no pipeline named \"%.128s\"", b->spec.pipeline);
    else if (code)
        api_df_error(resp, &err);
    return code == DF_OK;
}

/* What the audit row keeps of a definition: no template params. */
static json_t *audit_details(const body_t *b)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:b}", "cron", b->spec.expression, "tz",
                          b->spec.timezone, "misfire", b->spec.misfire, "paused", b->spec.paused);

    if (b->spec.pipeline)
        json_object_set_new(d, "pipeline", json_string(b->spec.pipeline));
    else
        json_object_update_new(d, json_pack("{s:O?, s:O?}", "task_type",
                                            json_object_get(b->task, "type"), "task_connector",
                                            json_object_get(b->task, "connector")));
    return d;
}

static void post_schedule(api_req_t *req, api_resp_t *resp)
{
    char id[DF_ID_BUF];
    df_error_t err;
    body_t b;
    json_t *doc;

    if (!api_query_only(req, resp, NULL) || !read_body(req, resp, NULL, &b))
        return;
    df_error_init(&err);
    if (!api_need_pg(req, resp) || df_schedule_add(req->pg, &b.spec, b.next, id, &err) != DF_OK) {
        if (req->pg)
            api_df_error(resp, &err);
        free(b.template_text);
        return;
    }
    doc = load(req, resp, b.spec.name, -1);
    if (doc) {
        api_header(resp, "Location", "/v1/schedules/%s", b.spec.name);
        api_json(resp, MHD_HTTP_CREATED, doc);
        snprintf(resp->audit_target, sizeof(resp->audit_target), "%s", b.spec.name);
        resp->audit = audit_details(&b);
        json_object_set_new(resp->audit, "id", json_string(id));
    }
    free(b.template_text);
}

static void put_schedule(api_req_t *req, api_resp_t *resp)
{
    df_error_t err;
    body_t b;
    json_t *doc;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) ||
        !read_body(req, resp, req->params[0], &b))
        return;
    df_error_init(&err);
    if (!api_need_pg(req, resp) || df_schedule_replace(req->pg, &b.spec, b.next, &err) != DF_OK) {
        if (req->pg)
            api_df_error(resp, &err);
        free(b.template_text);
        return;
    }
    doc = load(req, resp, b.spec.name, -1);
    if (doc) {
        api_json(resp, MHD_HTTP_OK, doc);
        resp->audit = audit_details(&b);
    }
    free(b.template_text);
}

static void delete_schedule(api_req_t *req, api_resp_t *resp)
{
    char id[DF_SCHEDULE_ID_BUF];
    df_error_t err;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_schedule_delete(req->pg, req->params[0], id, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    resp->status = MHD_HTTP_NO_CONTENT;
    resp->raw = (char *)"";
    resp->raw_len = 0;
    resp->raw_static = true;
    resp->content_type = "application/json";
    resp->audit = json_pack("{s:s}", "id", id);
}

/* ---- pause, resume, trigger ---------------------------------------------------------------- */

static void pause_schedule(api_req_t *req, api_resp_t *resp)
{
    df_error_t err;
    bool was = false;
    json_t *doc;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_schedule_pause(req->pg, req->params[0], &was, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    if ((doc = load(req, resp, req->params[0], -1)) != NULL) {
        api_json(resp, MHD_HTTP_OK, doc);
        resp->audit = json_pack("{s:b}", "was_paused", was);
    }
}

static void resume_schedule(api_req_t *req, api_resp_t *resp)
{
    df_error_t err, note;
    bool was = false;
    int64_t next = 0;
    json_t *doc;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    df_error_init(&note);
    if (df_schedule_resume(req->pg, req->params[0], &was, &next, &note, &err) != DF_OK) {
        api_df_error(resp, &err);
        return;
    }
    if ((doc = load(req, resp, req->params[0], -1)) != NULL) {
        /* an expression that no longer fires: resumed, but say so */
        if (note.code)
            json_object_set_new(doc, "warning", json_string(note.message));
        api_json(resp, MHD_HTTP_OK, doc);
        resp->audit = json_pack("{s:b}", "was_paused", was);
    }
}

/* df_schedule_publish_fn: the API's shared submitter, Kafka's ack awaited. */
static df_code_t publish(void *ctx, json_t *task, const char *traceparent, df_error_t *err)
{
    api_req_t *req = ctx;
    return api_submit(req->server, task, traceparent, err);
}

static void trigger_schedule(api_req_t *req, api_resp_t *resp)
{
    df_schedule_fire_t fire;
    const char *fired;
    char slot[40];
    df_error_t err;
    df_code_t code;
    json_t *out;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    code = df_schedule_trigger(req->pg, req->params[0], publish, req, &fire, &err);
    if (code) {
        if (fire.stage == DF_SCHEDULE_STAGE_TEMPLATE)
            api_error(resp, MHD_HTTP_CONFLICT, "conflict", "task",
                      "schedule %s: its stored task template no longer validates: %s%s%s",
                      req->params[0], err.field, err.field[0] ? ": " : "", err.message);
        else if (fire.stage == DF_SCHEDULE_STAGE_PIPELINE &&
                 (code == DF_ERR_NOT_FOUND || code == DF_ERR_INVALID))
            api_error(resp, MHD_HTTP_CONFLICT, "conflict", "pipeline",
                      "schedule %s: pipeline run not created: %s", req->params[0], err.message);
        else
            api_df_error(resp, &err);
        return;
    }
    fired = fire.already && fire.fired_id[0] ? fire.fired_id : fire.slot_id;
    df_time_format(fire.slot, slot, sizeof(slot));
    out = json_pack("{s:s, s:s, s:b}", "schedule", req->params[0], "slot", slot, "already_fired",
                    fire.already);
    json_object_set_new(out, fire.pipeline ? "pipeline_run_id" : "task_id", json_string(fired));
    api_header(resp, "Location", "%s%s", fire.pipeline ? "/v1/pipeline-runs/" : "/v1/tasks/",
               fired);
    resp->audit = json_deep_copy(out);
    api_json(resp, fire.already ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED, out);
}

const api_route_t api_schedules_routes[] = {
    { "GET", "/v1/schedules", API_ROLE_READ, 0, list_schedules },
    { "POST", "/v1/schedules", API_ROLE_ADMIN, API_BODY | API_AUDIT, post_schedule },
    { "GET", "/v1/schedules/{name}", API_ROLE_READ, 0, get_schedule },
    { "PUT", "/v1/schedules/{name}", API_ROLE_ADMIN, API_BODY | API_AUDIT, put_schedule },
    { "DELETE", "/v1/schedules/{name}", API_ROLE_ADMIN, API_AUDIT, delete_schedule },
    { "POST", "/v1/schedules/{name}/pause", API_ROLE_ADMIN, API_AUDIT, pause_schedule },
    { "POST", "/v1/schedules/{name}/resume", API_ROLE_ADMIN, API_AUDIT, resume_schedule },
    { "POST", "/v1/schedules/{name}/trigger", API_ROLE_SUBMIT, API_AUDIT, trigger_schedule },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
