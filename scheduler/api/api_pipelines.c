/* api_pipelines: /v1/pipelines and /v1/pipeline-runs. The same reads and
 * changes as the `pipelines` command, through pipeline_store.h: a
 * definition (schemas/pipeline.v1.schema.json, plus its name) is checked
 * as `pipelines add` checks it; starting a run creates it for the cron
 * leader's pipelines tick to publish its steps; a failed run is re-run
 * from its failed steps. docs/API.md, "Pipelines". */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "pipeline_def.h"
#include "pipeline_store.h"

#define RECENT_RUNS 10

/* ---- the Pipeline object ------------------------------------------------------------------ */

/* Row i of df_pipeline_list_query in the API's form; with detail, the
 * definition too. New reference. */
static json_t *pipeline_json(PGresult *res, int i, bool detail)
{
    json_t *row = df_pipeline_list_row_json(res, i), *out, *last = json_null();

    if (!PQgetisnull(res, i, DF_PIPE_L_LAST_ID))
        last = json_pack("{s:O, s:O, s:O}", "run_id", json_object_get(row, "last_run_id"), "state",
                         json_object_get(row, "last_run_state"), "started_at",
                         json_object_get(row, "last_run_started_at"));
    out = json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:o, s:o, s:o}", "name",
                    json_object_get(row, "name"), "id", PQgetvalue(res, i, DF_PIPE_L_ID),
                    "description", json_object_get(row, "description"), "enabled",
                    json_object_get(row, "enabled"), "steps", json_object_get(row, "steps"),
                    "running", json_object_get(row, "running"), "last_run", last, "created_at",
                    df_pipeline_time_json(PQgetvalue(res, i, DF_PIPE_L_CREATED)), "updated_at",
                    df_pipeline_time_json(PQgetvalue(res, i, DF_PIPE_L_UPDATED)));
    if (detail)
        json_object_set(out, "definition", json_object_get(row, "definition"));
    json_decref(row);
    return out;
}

/* Runs of pipeline name (NULL: all), newest first, at most limit, from
 * the position before_us/before_id (NULL: the newest). cursor_text gets
 * the position of the next page ("" when this is the last). New array, or
 * NULL with an answer set. */
static json_t *runs_page(api_req_t *req, api_resp_t *resp, const char *name, int64_t limit,
                         const char *before_us, const char *before_id, char *cursor_text,
                         size_t cursor_len)
{
    df_error_t err;
    PGresult *res;
    json_t *runs;
    int n;

    df_error_init(&err);
    res = df_pipeline_runs_query(req->pg, name, limit + 1, before_us, before_id, &err);
    if (!res) {
        api_df_error(resp, &err);
        return NULL;
    }
    n = PQntuples(res);
    runs = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(runs, df_pipeline_runs_row_json(res, i));
    cursor_text[0] = '\0';
    if (n > limit)
        snprintf(cursor_text, cursor_len, "%s|%s",
                 PQgetvalue(res, (int)limit - 1, DF_PIPE_R_STARTED_US),
                 PQgetvalue(res, (int)limit - 1, DF_PIPE_R_ID));
    PQclear(res);
    return runs;
}

/* Pipeline `name` in the API's form (detail: with its definition and
 * recent runs), or NULL with an answer set (404 when there is none). */
static json_t *load(api_req_t *req, api_resp_t *resp, const char *name, bool detail)
{
    df_error_t err;
    PGresult *res;
    json_t *doc, *runs;
    char next[300];

    if (!api_need_pg(req, resp))
        return NULL;
    df_error_init(&err);
    res = df_pipeline_list_query(req->pg, name, &err);
    if (!res) {
        api_df_error(resp, &err);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "name", "no pipeline named \"%s\"", name);
        return NULL;
    }
    doc = pipeline_json(res, 0, detail);
    PQclear(res);
    if (detail) {
        runs = runs_page(req, resp, name, RECENT_RUNS, NULL, NULL, next, sizeof(next));
        if (!runs) {
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "recent_runs", runs);
    }
    return doc;
}

static bool name_param(const api_req_t *req, api_resp_t *resp)
{
    if (df_pipeline_name_ok(req->params[0]))
        return true;
    api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
              "name: expected 1 to 128 of a-z, 0-9, '_', '.' and '-', starting with a letter or "
              "digit, got \"%.64s\"",
              req->params[0]);
    return false;
}

/* ---- pipelines ------------------------------------------------------------------------------- */

static void list_pipelines(api_req_t *req, api_resp_t *resp)
{
    df_error_t err;
    PGresult *res;
    json_t *list;

    if (!api_query_only(req, resp, NULL) || !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    res = df_pipeline_list_query(req->pg, NULL, &err);
    if (!res) {
        api_df_error(resp, &err);
        return;
    }
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(list, pipeline_json(res, i, false));
    PQclear(res);
    api_json(resp, MHD_HTTP_OK, json_pack("{s:o}", "pipelines", list));
}

static void get_pipeline(api_req_t *req, api_resp_t *resp)
{
    json_t *doc;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp))
        return;
    if ((doc = load(req, resp, req->params[0], true)) != NULL)
        api_json(resp, MHD_HTTP_OK, doc);
}

/* The body: a pipeline.v1 definition with the pipeline's "name" (for PUT,
 * the path's, or absent). Returns the definition without the name (new
 * reference), checked, or NULL with an answer set. */
static json_t *read_definition(api_req_t *req, api_resp_t *resp, const char *path_name,
                               const char **name)
{
    static const char *const allowed[] = { "name", "description", "steps", NULL };
    json_t *vname = json_object_get(req->body, "name"), *def;
    df_error_t err;

    if (!api_body_only(req, resp, allowed))
        return NULL;
    if (vname && !json_is_string(vname)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name", "name: expected a string");
        return NULL;
    }
    if (path_name && vname && strcmp(json_string_value(vname), path_name) != 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: the body's name must be the path's (\"%s\") or absent", path_name);
        return NULL;
    }
    *name = path_name ? path_name : json_string_value(vname);
    if (!*name) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: required (the pipeline's name, beside its definition)");
        return NULL;
    }
    if (!df_pipeline_name_ok(*name)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "name",
                  "name: expected 1 to 128 of a-z, 0-9, '_', '.' and '-', starting with a letter "
                  "or digit, got \"%.64s\"",
                  *name);
        return NULL;
    }
    def = json_deep_copy(req->body);
    json_object_del(def, "name");
    df_error_init(&err);
    if (df_pipeline_def_check(def, &err) != DF_OK) {
        if (err.code == DF_ERR_INVALID)
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", err.field[0] ? err.field : "body",
                      "%s: %s", err.field[0] ? err.field : "/", err.message);
        else
            api_df_error(resp, &err);
        json_decref(def);
        return NULL;
    }
    return def;
}

static void save(api_req_t *req, api_resp_t *resp, const char *path_name,
                 df_pipeline_save_mode_t mode)
{
    const char *name = NULL;
    char id[DF_PIPELINE_ID_BUF];
    bool replaced = false;
    df_error_t err;
    json_t *def, *doc;

    if (!api_query_only(req, resp, NULL) || (path_name && !name_param(req, resp)) ||
        !api_need_pg(req, resp) || !(def = read_definition(req, resp, path_name, &name)))
        return;
    df_error_init(&err);
    if (df_pipeline_save(req->pg, name, json_string_value(json_object_get(def, "description")), def,
                         mode, id, &replaced, &err) != DF_OK) {
        api_df_error(resp, &err);
        json_decref(def);
        return;
    }
    if ((doc = load(req, resp, name, true)) != NULL) {
        if (mode == DF_PIPELINE_ADD)
            api_header(resp, "Location", "/v1/pipelines/%s", name);
        api_json(resp, mode == DF_PIPELINE_ADD ? MHD_HTTP_CREATED : MHD_HTTP_OK, doc);
        snprintf(resp->audit_target, sizeof(resp->audit_target), "%s", name);
        resp->audit =
            json_pack("{s:s, s:i, s:b}", "id", id, "steps",
                      (int)json_array_size(json_object_get(def, "steps")), "replaced", replaced);
    }
    json_decref(def);
}

static void post_pipeline(api_req_t *req, api_resp_t *resp)
{
    save(req, resp, NULL, DF_PIPELINE_ADD);
}

static void put_pipeline(api_req_t *req, api_resp_t *resp)
{
    save(req, resp, req->params[0], DF_PIPELINE_REPLACE);
}

/* ---- runs ------------------------------------------------------------------------------------ */

static void start_run(api_req_t *req, api_resp_t *resp)
{
    char run_id[DF_ID_BUF];
    df_error_t err;
    json_t *doc;
    df_code_t code;

    if (!api_query_only(req, resp, NULL) || !name_param(req, resp) ||
        !(doc = load(req, resp, req->params[0], false)))
        return;
    if (!json_is_true(json_object_get(doc, "enabled"))) {
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "name",
                  "pipeline %s is disabled: new runs do not start (datafleet-scheduler pipelines "
                  "enable %s)",
                  req->params[0], req->params[0]);
        json_decref(doc);
        return;
    }
    json_decref(doc);
    df_error_init(&err);
    code = df_pipeline_start(req->pg, req->params[0], run_id, &err);
    if (code == DF_ERR_NOT_FOUND) {
        /* disabled or deleted between the two statements */
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "name", "%s", err.message);
        return;
    }
    if (code == DF_ERR_INVALID) {
        api_error(resp, MHD_HTTP_CONFLICT, "conflict", "name", "%s", err.message);
        return;
    }
    if (code) {
        api_df_error(resp, &err);
        return;
    }
    api_header(resp, "Location", "/v1/pipeline-runs/%s", run_id);
    api_json(resp, MHD_HTTP_ACCEPTED,
             json_pack("{s:s, s:s, s:s, s:{s:s+}}", "run_id", run_id, "pipeline", req->params[0],
                       "state", "running", "links", "self", "/v1/pipeline-runs/", run_id));
    resp->audit = json_pack("{s:s}", "run_id", run_id);
}

/* A cursor of this listing: "<started_at in µs>|<run id>". */
static bool split_cursor(api_resp_t *resp, char *text, const char **us, const char **id)
{
    char *bar = strchr(text, '|');

    if (!bar || bar == text || strspn(text, "0123456789") != (size_t)(bar - text) ||
        bar - text > 18 || !bar[1]) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "cursor",
                  "cursor: not a cursor of this listing (pass `next_cursor` from its previous "
                  "page)");
        return false;
    }
    *bar = '\0';
    *us = text;
    *id = bar + 1;
    return true;
}

static void list_runs(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "limit", "cursor", NULL };
    const char *cursor = api_query(req, "cursor"), *us = NULL, *id = NULL;
    char after[300] = "", next[300];
    int64_t limit;
    json_t *doc, *runs, *page;

    if (!api_query_only(req, resp, allowed) || !name_param(req, resp) ||
        !api_query_int(req, resp, "limit", 50, 1, 500, &limit))
        return;
    if (cursor && (!api_cursor_decode(cursor, resp, after, sizeof(after)) ||
                   !split_cursor(resp, after, &us, &id)))
        return;
    if (!(doc = load(req, resp, req->params[0], false)))
        return;
    json_decref(doc);
    runs = runs_page(req, resp, req->params[0], limit, us, id, next, sizeof(next));
    if (!runs)
        return;
    page = json_pack("{s:o}", "runs", runs);
    if (next[0]) {
        char *c = api_cursor_encode(next);
        json_object_set_new(page, "next_cursor", c ? json_string(c) : json_null());
        free(c);
    } else {
        json_object_set_new(page, "next_cursor", json_null());
    }
    api_json(resp, MHD_HTTP_OK, page);
}

static void get_run(api_req_t *req, api_resp_t *resp)
{
    df_error_t err;
    json_t *run;

    if (!api_query_only(req, resp, NULL) || !api_param_id(req, resp, 0, "run_id") ||
        !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (!(run = df_pipeline_run_describe(req->pg, req->params[0], &err)))
        api_df_error(resp, &err);
    else
        api_json(resp, MHD_HTTP_OK, run);
}

static void rerun_run(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "current_definition", NULL };
    const char *current;
    json_t *reset = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, allowed) || !api_param_id(req, resp, 0, "run_id") ||
        !api_query_enum(req, resp, "current_definition", "true|false", &current) ||
        !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_pipeline_rerun_commit(req->pg, req->params[0], current && strcmp(current, "true") == 0,
                                 &reset, &err) != DF_OK) {
        if (err.code == DF_ERR_INVALID)
            api_error(resp, MHD_HTTP_CONFLICT, "conflict", "run_id", "%s", err.message);
        else
            api_df_error(resp, &err);
        return;
    }
    api_header(resp, "Location", "/v1/pipeline-runs/%s", req->params[0]);
    api_json(resp, MHD_HTTP_ACCEPTED,
             json_pack("{s:s, s:s, s:O?, s:{s:s+}}", "run_id", req->params[0], "state", "running",
                       "reset", reset, "links", "self", "/v1/pipeline-runs/", req->params[0]));
    resp->audit = json_pack("{s:o?, s:b}", "reset", reset, "current_definition",
                            current && strcmp(current, "true") == 0);
}

const api_route_t api_pipelines_routes[] = {
    { "GET", "/v1/pipelines", API_ROLE_READ, 0, list_pipelines },
    { "POST", "/v1/pipelines", API_ROLE_ADMIN, API_BODY | API_AUDIT, post_pipeline },
    { "GET", "/v1/pipelines/{name}", API_ROLE_READ, 0, get_pipeline },
    { "PUT", "/v1/pipelines/{name}", API_ROLE_ADMIN, API_BODY | API_AUDIT, put_pipeline },
    { "POST", "/v1/pipelines/{name}/runs", API_ROLE_SUBMIT, API_AUDIT, start_run },
    { "GET", "/v1/pipelines/{name}/runs", API_ROLE_READ, 0, list_runs },
    { "GET", "/v1/pipeline-runs/{run_id}", API_ROLE_READ, 0, get_run },
    { "POST", "/v1/pipeline-runs/{run_id}/rerun", API_ROLE_SUBMIT, API_AUDIT, rerun_run },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
