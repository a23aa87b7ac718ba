/* tableau: Tableau REST and Metadata API routes (see tableau.h).
 *
 * Sign-in: POST /api/{v}/auth/signin {"credentials": {"personalAccessToken
 * Name", "personalAccessTokenSecret", "site": {"contentUrl"}}} with a PAT
 * registered through /_sandbox/tableau/pats answers the credentials token
 * (valid --token-ttl seconds), the site's id and the user's id; a wrong PAT
 * is 401 with code 401001. Every other route needs X-Tableau-Auth: a
 * missing, unknown or expired token is 401 with code 401002, a site id in
 * the path other than the token's is 403 with code 403000.
 *
 * Refresh: POST .../sites/{site}/{datasources|workbooks}/{id}/refresh
 * answers 202 with a job (type RefreshExtract). The job queues for the
 * item's queue_ms (progress "0", no startedAt), runs for run_ms (startedAt,
 * progress "50"), then ends (completedAt, finishCode "0" success, "1"
 * failed with the item's notes, "2" cancelled). A refresh of an item whose
 * job has not ended is 409 with code 409093 ("already queued"). More than
 * --tableau-refreshes-per-minute refresh requests in a sandbox minute are
 * 429 with Retry-After. Values are strings, as Tableau's JSON renders its
 * XML attributes.
 *
 * Metadata API: POST /api/metadata/graphql {"query": ...} answers the
 * lineage fields of the fixture (publishedDatasources with upstreamTables,
 * workbooks with sheets and upstreamDatasources) that the query asks for;
 * a query that does not parse as a selection set gets GraphQL's
 * {"errors": [{"message"}]}. */
#include "tableau.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_id.h"
#include "ids.h"
#include "tokens.h"

#define SITE_MAX  8
#define NAME_MAX_ 128
#define NOTES_MAX 256

/* ---- the fixture: tables -> published datasources -> workbooks -> sheets ---- */

typedef struct fx_table {
    const char *luid, *name, *schema, *db, *type;
} fx_table_t;

static const fx_table_t fx_tables[] = {
    { "7ab1e000-0000-4000-8000-000000000001", "orders", "public", "sales_dw", "postgres" },
    { "7ab1e000-0000-4000-8000-000000000002", "customers", "public", "sales_dw", "postgres" },
    { "7ab1e000-0000-4000-8000-000000000003", "budget", "dbo", "finance", "sqlserver" },
};

typedef struct fx_datasource {
    const char *luid, *name;
    int tables[3]; /* indexes into fx_tables, -1 ends */
} fx_datasource_t;

static const fx_datasource_t fx_datasources[] = {
    { "da7a5000-0000-4000-8000-000000000001", "Orders", { 0, 1, -1 } },
    { "da7a5000-0000-4000-8000-000000000002", "Budget", { 2, -1, -1 } },
};

typedef struct fx_workbook {
    const char *luid, *name, *project;
    const char *sheets[3][2]; /* {id, name}, NULL ends */
    int datasources[3];       /* -1 ends */
} fx_workbook_t;

static const fx_workbook_t fx_workbooks[] = {
    { "b00c0000-0000-4000-8000-000000000001",
      "Sales Dashboard",
      "Sales",
      { { "5ee70000-0000-4000-8000-000000000001", "Revenue" },
        { "5ee70000-0000-4000-8000-000000000002", "Top Customers" },
        { NULL, NULL } },
      { 0, -1, -1 } },
    { "b00c0000-0000-4000-8000-000000000002",
      "Finance Review",
      "Finance",
      { { "5ee70000-0000-4000-8000-000000000003", "Budget vs Actual" }, { NULL, NULL } },
      { 0, 1, -1 } },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- state ---- */

typedef struct behaviour {
    int64_t queue_ms; /* -1: never starts */
    int64_t run_ms;
    int finish_code; /* 0 success, 1 failed, 2 cancelled */
    char notes[NOTES_MAX];
} behaviour_t;

typedef struct item {
    char id[SB_UUID_BUF];
    char kind[16]; /* datasource | workbook */
    char name[NAME_MAX_];
    behaviour_t b;
    int64_t refreshes, conflicts;
    struct item *next;
} item_t;

typedef struct job {
    char id[SB_UUID_BUF];
    item_t *item;
    int64_t at;      /* sandbox clock at the POST */
    int64_t wall_ms; /* unix ms at the POST */
    behaviour_t b;
    struct job *next;
} job_t;

typedef struct pat {
    char name[NAME_MAX_], secret[NAME_MAX_], site[NAME_MAX_];
    struct pat *next;
} pat_t;

typedef struct site {
    char content_url[NAME_MAX_];
    char id[SB_UUID_BUF];
} site_t;

struct sb_tableau {
    pat_t *pats;
    site_t sites[SITE_MAX];
    size_t nsites;
    item_t *items;
    job_t *jobs;
    sb_window_t minute;
    int64_t rate_limited;
};

static void behaviour_default(behaviour_t *b)
{
    memset(b, 0, sizeof(*b));
    b->run_ms = 1000;
    snprintf(b->notes, sizeof(b->notes),
             "The extract refresh failed: the data source returned an "
             "error.");
}

static item_t *item_add(sb_tableau_t *t, const char *id, const char *kind, const char *name)
{
    item_t *it = calloc(1, sizeof(*it)), **tail;

    if (!it)
        return NULL;
    if (id)
        snprintf(it->id, sizeof(it->id), "%s", id);
    else
        sb_ids_uuid(it->id);
    snprintf(it->kind, sizeof(it->kind), "%s", kind);
    snprintf(it->name, sizeof(it->name), "%s", name);
    behaviour_default(&it->b);
    for (tail = &t->items; *tail; tail = &(*tail)->next)
        ;
    *tail = it;
    return it;
}

static void forget(sb_tableau_t *t)
{
    while (t->pats) {
        pat_t *p = t->pats;
        t->pats = p->next;
        free(p);
    }
    while (t->items) {
        item_t *it = t->items;
        t->items = it->next;
        free(it);
    }
    while (t->jobs) {
        job_t *j = t->jobs;
        t->jobs = j->next;
        free(j);
    }
    t->nsites = 0;
    memset(&t->minute, 0, sizeof(t->minute));
    t->rate_limited = 0;
}

static void seed(sb_tableau_t *t)
{
    for (size_t i = 0; i < NELEM(fx_datasources); i++)
        item_add(t, fx_datasources[i].luid, "datasource", fx_datasources[i].name);
    for (size_t i = 0; i < NELEM(fx_workbooks); i++)
        item_add(t, fx_workbooks[i].luid, "workbook", fx_workbooks[i].name);
}

sb_tableau_t *sb_tableau_new(void)
{
    sb_tableau_t *t = calloc(1, sizeof(*t));

    if (t)
        seed(t);
    return t;
}

void sb_tableau_reset(sb_tableau_t *t)
{
    forget(t);
    seed(t);
}

void sb_tableau_destroy(sb_tableau_t *t)
{
    if (!t)
        return;
    forget(t);
    free(t);
}

void sb_tableau_error(sb_response_t *res, int status, const char *code, const char *summary,
                      const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    sb_res_json(res, status,
                json_pack("{s:{s:s, s:s, s:s}}", "error", "summary", summary, "detail", detail,
                          "code", code));
}

static const site_t *site_of(sb_tableau_t *t, const char *content_url)
{
    for (size_t i = 0; i < t->nsites; i++)
        if (strcmp(t->sites[i].content_url, content_url) == 0)
            return &t->sites[i];
    if (t->nsites == SITE_MAX)
        return NULL;
    snprintf(t->sites[t->nsites].content_url, NAME_MAX_, "%s", content_url);
    sb_ids_uuid(t->sites[t->nsites].id);
    return &t->sites[t->nsites++];
}

/* ---- auth ---- */

static json_t *json_body(const sb_request_t *req, sb_response_t *res)
{
    char err[256];
    json_t *doc;

    if (!sb_req_content_type_is(req, "application/json")) {
        sb_tableau_error(res, 415, "415000", "Unsupported Media Type",
                         "The sandbox speaks Tableau's JSON form only: send Content-Type "
                         "application/json.");
        return NULL;
    }
    doc = sb_req_json(req, err, sizeof(err));
    if (!json_is_object(doc)) {
        json_decref(doc);
        sb_tableau_error(res, 400, "400000", "Bad Request",
                         "There was a problem parsing the request body: %s",
                         err[0] ? err : "not an object");
        return NULL;
    }
    return doc;
}

static void signin(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                   sb_response_t *res)
{
    json_t *doc = json_body(req, res), *cred;
    const char *name, *secret, *content_url;
    const site_t *site;
    char token[SB_TOKEN_MAX], user[SB_UUID_BUF];
    pat_t *p;

    (void)route;
    if (!doc)
        return;
    cred = json_object_get(doc, "credentials");
    name = json_string_value(json_object_get(cred, "personalAccessTokenName"));
    secret = json_string_value(json_object_get(cred, "personalAccessTokenSecret"));
    content_url = json_string_value(json_object_get(json_object_get(cred, "site"), "contentUrl"));
    if (!name || !secret || !content_url) {
        json_decref(doc);
        sb_tableau_error(res, 400, "400000", "Bad Request",
                         "credentials needs personalAccessTokenName, personalAccessTokenSecret "
                         "and site.contentUrl");
        return;
    }
    for (p = st->tableau->pats; p; p = p->next)
        if (strcmp(p->name, name) == 0 && strcmp(p->secret, secret) == 0 &&
            strcmp(p->site, content_url) == 0)
            break;
    if (!p || !(site = site_of(st->tableau, content_url))) {
        json_decref(doc);
        sb_tableau_error(res, 401, "401001", "Signin Error", "Error signing in to Tableau Server");
        return;
    }
    if (!sb_tokens_issue(st->tokens, SB_TOKEN_TABLEAU, name, site->id, "", req->arrived_ms,
                         st->cfg->token_ttl_s * 1000, token)) {
        json_decref(doc);
        sb_tableau_error(res, 500, "500000", "Internal Server Error", "out of memory");
        return;
    }
    sb_ids_uuid(user);
    sb_res_json(res, 200,
                json_pack("{s:{s:{s:s, s:s}, s:{s:s}, s:s, s:s}}", "credentials", "site", "id",
                          site->id, "contentUrl", site->content_url, "user", "id", user, "token",
                          token, "estimatedTimeToExpiration", "240:0:0"));
    json_decref(doc);
}

/* The token's site id, or NULL (res answered). */
static const char *authorize(sb_state_t *st, const sb_request_t *req, const char *site_in_path,
                             sb_response_t *res)
{
    const sb_token_info_t *info = NULL;
    const char *token = sb_req_header(req, "X-Tableau-Auth");

    if (!token || sb_tokens_check(st->tokens, token, SB_TOKEN_TABLEAU, req->arrived_ms, &info) !=
                      SB_TOKEN_OK) {
        sb_tableau_error(res, 401, "401002", "Unauthorized Access",
                         "Invalid authentication credentials were provided.");
        return NULL;
    }
    if (site_in_path && strcmp(site_in_path, info->project) != 0) {
        sb_tableau_error(res, 403, "403000", "Forbidden",
                         "The credentials token is not for site '%s'.", site_in_path);
        return NULL;
    }
    return info->project;
}

/* ---- jobs ---- */

typedef enum phase { QUEUED, RUNNING, ENDED } phase_t;

static phase_t phase_of(const job_t *j, int64_t now)
{
    int64_t t = now - j->at;

    if (j->b.queue_ms < 0 || t < j->b.queue_ms)
        return QUEUED;
    if (t < j->b.queue_ms + j->b.run_ms)
        return RUNNING;
    return ENDED;
}

static json_t *job_json(const job_t *j, int64_t now)
{
    phase_t phase = phase_of(j, now);
    char at[40];
    json_t *doc, *x;

    df_time_format(j->wall_ms, at, sizeof(at));
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", j->id, "mode", "Asynchronous", "type",
                    "RefreshExtract", "createdAt", at, "progress",
                    phase == QUEUED    ? "0"
                    : phase == RUNNING ? "50"
                                       : "100");
    if (phase != QUEUED) {
        df_time_format(j->wall_ms + j->b.queue_ms, at, sizeof(at));
        json_object_set_new(doc, "startedAt", json_string(at));
    }
    x = json_pack("{s:{s:s, s:s}}", j->item->kind, "id", j->item->id, "name", j->item->name);
    if (phase == ENDED) {
        char code[4];
        df_time_format(j->wall_ms + j->b.queue_ms + j->b.run_ms, at, sizeof(at));
        json_object_set_new(doc, "completedAt", json_string(at));
        snprintf(code, sizeof(code), "%d", j->b.finish_code);
        json_object_set_new(doc, "finishCode", json_string(code));
        if (j->b.finish_code != 0)
            json_object_set_new(x, "notes", json_string(j->b.notes));
    }
    json_object_set_new(doc, "extractRefreshJob", x);
    return doc;
}

static item_t *find_item(const sb_tableau_t *t, const char *kind, const char *id)
{
    for (item_t *it = t->items; it; it = it->next)
        if (strcmp(it->kind, kind) == 0 && strcmp(it->id, id) == 0)
            return it;
    return NULL;
}

static const job_t *running_job(const sb_tableau_t *t, const item_t *it, int64_t now)
{
    for (const job_t *j = t->jobs; j; j = j->next)
        if (j->item == it && phase_of(j, now) != ENDED)
            return j;
    return NULL;
}

static void refresh_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    sb_tableau_t *t = st->tableau;
    const char *kind = strcmp(route->param[1], "datasources") == 0 ? "datasource" : "workbook";
    int64_t now = req->arrived_ms;
    item_t *it;
    job_t *j, **tail;

    if (!authorize(st, req, route->param[0], res))
        return;
    if (req->body_len > 0 && !sb_req_content_type_is(req, "application/json")) {
        sb_tableau_error(res, 415, "415000", "Unsupported Media Type",
                         "The sandbox speaks Tableau's JSON form only: send Content-Type "
                         "application/json.");
        return;
    }
    it = find_item(t, kind, route->param[2]);
    if (!it) {
        sb_tableau_error(res, 404, strcmp(kind, "datasource") == 0 ? "404011" : "404006",
                         "Resource Not Found", "The %s '%s' could not be found.",
                         strcmp(kind, "datasource") == 0 ? "data source" : "workbook",
                         route->param[2]);
        return;
    }
    if (!sb_window_take(&t->minute, sb_clock_window(&st->clock, now, 1), 1,
                        st->cfg->tableau_refreshes_per_minute)) {
        t->rate_limited++;
        sb_tableau_error(res, 429, "429000", "Too Many Requests",
                         "The rate limit of %lld refresh requests per minute was exceeded.",
                         (long long)st->cfg->tableau_refreshes_per_minute);
        sb_res_header(res, "Retry-After", "%lld",
                      (long long)sb_clock_retry_after_s(&st->clock, now, 1));
        return;
    }
    if (running_job(t, it, now)) {
        it->conflicts++;
        sb_tableau_error(res, 409, "409093", "Resource Conflict",
                         "Job for '%s' is already queued. Not queuing a duplicate.", it->name);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        sb_tableau_error(res, 500, "500000", "Internal Server Error", "out of memory");
        return;
    }
    sb_ids_uuid(j->id);
    j->item = it;
    j->at = now;
    j->wall_ms = df_now_ms();
    j->b = it->b;
    for (tail = &t->jobs; *tail; tail = &(*tail)->next)
        ;
    *tail = j;
    it->refreshes++;
    {
        json_t *doc = job_json(j, now);
        json_object_del(doc, "progress");
        json_object_del(doc, "startedAt");
        json_object_del(doc, "extractRefreshJob");
        sb_res_json(res, 202, json_pack("{s:o}", "job", doc));
    }
}

static void job_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                    sb_response_t *res)
{
    if (!authorize(st, req, route->param[0], res))
        return;
    for (job_t *j = st->tableau->jobs; j; j = j->next) {
        if (strcmp(j->id, route->param[1]) == 0) {
            sb_res_json(res, 200, json_pack("{s:o}", "job", job_json(j, req->arrived_ms)));
            return;
        }
    }
    sb_tableau_error(res, 404, "404003", "Resource Not Found", "Job '%s' could not be found.",
                     route->param[1]);
}

/* GET .../jobs[?filter=status:in:[Pending,InProgress]]: Query Jobs, the
 * background jobs with their title (the item's name) and status. */
static void jobs_list(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    char *filter = sb_req_query(req, "filter");
    bool open_only = filter && strstr(filter, "InProgress") && strstr(filter, "Pending");
    json_t *list = json_array();

    free(filter);
    if (!authorize(st, req, route->param[0], res)) {
        json_decref(list);
        return;
    }
    for (job_t *j = st->tableau->jobs; j; j = j->next) {
        phase_t phase = phase_of(j, req->arrived_ms);
        const char *status = phase == QUEUED         ? "Pending"
                             : phase == RUNNING      ? "InProgress"
                             : j->b.finish_code == 0 ? "Success"
                             : j->b.finish_code == 2 ? "Cancelled"
                                                     : "Failed";
        if (open_only && phase == ENDED)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "id", j->id, "jobType",
                                              "refresh_extracts", "status", status, "title",
                                              j->item->name));
    }
    sb_res_json(res, 200, json_pack("{s:{s:o}}", "backgroundJobs", "backgroundJob", list));
}

/* GET .../{datasources|workbooks}?filter=name:eq:<name> */
static void items_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    const char *kind = strcmp(route->param[1], "datasources") == 0 ? "datasource" : "workbook";
    char *filter = sb_req_query(req, "filter");
    const char *want = NULL;
    json_t *list = json_array();

    if (!authorize(st, req, route->param[0], res)) {
        free(filter);
        json_decref(list);
        return;
    }
    if (filter) {
        if (strncmp(filter, "name:eq:", 8) != 0) {
            sb_tableau_error(res, 400, "400065", "Bad Request",
                             "The filter expression '%s' is not supported (name:eq:<name>).",
                             filter);
            free(filter);
            json_decref(list);
            return;
        }
        want = filter + 8;
    }
    for (item_t *it = st->tableau->items; it; it = it->next)
        if (strcmp(it->kind, kind) == 0 && (!want || strcmp(it->name, want) == 0))
            json_array_append_new(list, json_pack("{s:s, s:s}", "id", it->id, "name", it->name));
    {
        char total[24];
        snprintf(total, sizeof(total), "%zu", json_array_size(list));
        sb_res_json(res, 200,
                    json_pack("{s:{s:s, s:s, s:s}, s:{s:o}}", "pagination", "pageNumber", "1",
                              "pageSize", "100", "totalAvailable", total, route->param[1], kind,
                              list));
    }
    free(filter);
}

/* GET .../{datasources|workbooks}/{id}: Query Data Source / Workbook. */
static void item_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    const char *kind = strcmp(route->param[1], "datasources") == 0 ? "datasource" : "workbook";
    item_t *it;

    if (!authorize(st, req, route->param[0], res))
        return;
    if (!(it = find_item(st->tableau, kind, route->param[2]))) {
        sb_tableau_error(res, 404, strcmp(kind, "datasource") == 0 ? "404011" : "404006",
                         "Resource Not Found", "The %s '%s' could not be found.", kind,
                         route->param[2]);
        return;
    }
    sb_res_json(res, 200, json_pack("{s:{s:s, s:s}}", kind, "id", it->id, "name", it->name));
}

static void site_get(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                     sb_response_t *res)
{
    const char *site = authorize(st, req, route->param[0], res);

    if (!site)
        return;
    for (size_t i = 0; i < st->tableau->nsites; i++)
        if (strcmp(st->tableau->sites[i].id, site) == 0)
            sb_res_json(
                res, 200,
                json_pack("{s:{s:s, s:s, s:s, s:s}}", "site", "id", site, "name",
                          st->tableau->sites[i].content_url[0] ? st->tableau->sites[i].content_url
                                                               : "Default",
                          "contentUrl", st->tableau->sites[i].content_url, "state", "Active"));
}

/* ---- the Metadata API ---- */

/* Whether text is a GraphQL document made of balanced selection sets
 * whose top level is "{...}" or "query [Name] {...}". */
static bool graphql_shape(const char *q)
{
    int depth = 0;
    bool opened = false;

    while (isspace((unsigned char)*q))
        q++;
    if (strncmp(q, "query", 5) == 0) {
        q += 5;
        while (*q && *q != '{') {
            if (!isalnum((unsigned char)*q) && *q != '_' && !isspace((unsigned char)*q))
                return false;
            q++;
        }
    }
    for (; *q; q++) {
        if (*q == '{') {
            depth++;
            opened = true;
        } else if (*q == '}') {
            if (--depth < 0)
                return false;
        } else if (!isalnum((unsigned char)*q) && *q != '_' && !isspace((unsigned char)*q)) {
            return false;
        }
    }
    return opened && depth == 0;
}

static json_t *fx_datasources_json(void)
{
    json_t *list = json_array();

    for (size_t i = 0; i < NELEM(fx_datasources); i++) {
        json_t *tables = json_array();
        for (int k = 0; k < 3 && fx_datasources[i].tables[k] >= 0; k++) {
            const fx_table_t *tb = &fx_tables[fx_datasources[i].tables[k]];
            char full[200];
            snprintf(full, sizeof(full), "[%s].[%s]", tb->schema, tb->name);
            json_array_append_new(tables, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "luid",
                                                    tb->luid, "name", tb->name, "fullName", full,
                                                    "schema", tb->schema, "database", "name",
                                                    tb->db, "connectionType", tb->type));
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:o}", "luid", fx_datasources[i].luid, "name",
                                        fx_datasources[i].name, "upstreamTables", tables));
    }
    return list;
}

static json_t *fx_workbooks_json(void)
{
    json_t *list = json_array();

    for (size_t i = 0; i < NELEM(fx_workbooks); i++) {
        const fx_workbook_t *w = &fx_workbooks[i];
        json_t *sheets = json_array(), *ds = json_array();
        for (int k = 0; k < 3 && w->sheets[k][0]; k++)
            json_array_append_new(
                sheets, json_pack("{s:s, s:s}", "id", w->sheets[k][0], "name", w->sheets[k][1]));
        for (int k = 0; k < 3 && w->datasources[k] >= 0; k++)
            json_array_append_new(ds, json_pack("{s:s, s:s}", "luid",
                                                fx_datasources[w->datasources[k]].luid, "name",
                                                fx_datasources[w->datasources[k]].name));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:o}", "luid", w->luid, "name",
                                              w->name, "projectName", w->project, "sheets", sheets,
                                              "upstreamDatasources", ds));
    }
    return list;
}

static void graphql(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                    sb_response_t *res)
{
    json_t *doc, *data;
    const char *q;

    (void)route;
    if (!authorize(st, req, NULL, res))
        return;
    if (!(doc = json_body(req, res)))
        return;
    q = json_string_value(json_object_get(doc, "query"));
    if (!q || !graphql_shape(q)) {
        sb_res_json(res, 200,
                    json_pack("{s:[{s:s}]}", "errors", "message",
                              "Validation error: the query is not a valid GraphQL document"));
        json_decref(doc);
        return;
    }
    data = json_object();
    if (strstr(q, "publishedDatasources"))
        json_object_set_new(data, "publishedDatasources", fx_datasources_json());
    if (strstr(q, "workbooks"))
        json_object_set_new(data, "workbooks", fx_workbooks_json());
    sb_res_json(res, 200, json_pack("{s:o}", "data", data));
    json_decref(doc);
}

/* ---- control ---- */

/* A node; attrs is stolen (the attributes the connector reads from the
 * Metadata API's answer). */
static json_t *node(const char *ns, const char *name, const char *kind, json_t *attrs)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "namespace", ns, "name", name, "kind", kind, "attrs",
                     attrs);
}

static json_t *edge(const char *ns, const char *from, const char *to, const char *kind)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "namespace", ns, "name", from,
                     "to", "namespace", ns, "name", to, "kind", kind);
}

/* GET /_sandbox/tableau/lineage-fixture?namespace=...: the graph the
 * Metadata API describes, in result.lineage's form. */
static void control_fixture(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                            sb_response_t *res)
{
    char *ns = sb_req_query(req, "namespace");
    json_t *nodes = json_array(), *edges = json_array();
    char a[200], b[200];

    (void)st;
    (void)route;
    if (!ns)
        ns = strdup("tableau://sandbox/");
    for (size_t i = 0; i < NELEM(fx_tables); i++) {
        snprintf(a, sizeof(a), "tables/%s", fx_tables[i].luid);
        const fx_table_t *tb = &fx_tables[i];
        char full[200];
        snprintf(full, sizeof(full), "[%s].[%s]", tb->schema, tb->name);
        json_array_append_new(
            nodes,
            node(ns, a, "table",
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", tb->name, "full_name", full,
                           "schema", tb->schema, "database", tb->db, "connection_type", tb->type)));
    }
    for (size_t i = 0; i < NELEM(fx_datasources); i++) {
        snprintf(b, sizeof(b), "datasources/%s", fx_datasources[i].luid);
        json_array_append_new(
            nodes, node(ns, b, "datasource", json_pack("{s:s}", "name", fx_datasources[i].name)));
        for (int k = 0; k < 3 && fx_datasources[i].tables[k] >= 0; k++) {
            snprintf(a, sizeof(a), "tables/%s", fx_tables[fx_datasources[i].tables[k]].luid);
            json_array_append_new(edges, edge(ns, a, b, "feeds"));
        }
    }
    for (size_t i = 0; i < NELEM(fx_workbooks); i++) {
        const fx_workbook_t *w = &fx_workbooks[i];
        snprintf(b, sizeof(b), "workbooks/%s", w->luid);
        json_array_append_new(
            nodes, node(ns, b, "workbook",
                        json_pack("{s:s, s:s}", "name", w->name, "project", w->project)));
        for (int k = 0; k < 3 && w->datasources[k] >= 0; k++) {
            snprintf(a, sizeof(a), "datasources/%s", fx_datasources[w->datasources[k]].luid);
            json_array_append_new(edges, edge(ns, a, b, "feeds"));
        }
        for (int k = 0; k < 3 && w->sheets[k][0]; k++) {
            snprintf(a, sizeof(a), "workbooks/%s/sheets/%s", w->luid, w->sheets[k][0]);
            json_array_append_new(
                nodes, node(ns, a, "sheet", json_pack("{s:s}", "name", w->sheets[k][1])));
            json_array_append_new(edges, edge(ns, b, a, "contains"));
        }
    }
    sb_res_json(res, 200, json_pack("{s:o, s:o}", "nodes", nodes, "edges", edges));
    free(ns);
}

static void control_fail(sb_response_t *res, int status, const char *message)
{
    sb_res_json(res, status, json_pack("{s:s}", "error", message));
}

static json_t *control_body(const sb_request_t *req, sb_response_t *res)
{
    char err[256];
    json_t *doc = sb_req_json(req, err, sizeof(err));

    if (!json_is_object(doc)) {
        json_decref(doc);
        control_fail(res, 400, "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* POST /_sandbox/tableau/pats {"name", "secret", "site"} */
static void control_pats(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    json_t *doc = control_body(req, res);
    const char *name, *secret, *site;
    const site_t *s;
    pat_t *p;

    (void)route;
    if (!doc)
        return;
    name = json_string_value(json_object_get(doc, "name"));
    secret = json_string_value(json_object_get(doc, "secret"));
    site = json_string_value(json_object_get(doc, "site"));
    if (!site)
        site = "";
    if (!name || !secret || !*name || !*secret || strlen(name) >= NAME_MAX_ ||
        strlen(secret) >= NAME_MAX_ || strlen(site) >= NAME_MAX_) {
        json_decref(doc);
        control_fail(res, 400,
                     "name and secret: strings of 1 to 127 characters; site: the "
                     "site's contentUrl (\"\" the default site)");
        return;
    }
    if (!(s = site_of(st->tableau, site)) || !(p = calloc(1, sizeof(*p)))) {
        json_decref(doc);
        control_fail(res, 500, "too many sites or out of memory");
        return;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->secret, sizeof(p->secret), "%s", secret);
    snprintf(p->site, sizeof(p->site), "%s", site);
    p->next = st->tableau->pats;
    st->tableau->pats = p;
    sb_res_json(res, 201, json_pack("{s:s, s:s}", "site_id", s->id, "content_url", site));
    json_decref(doc);
}

static bool behaviour_read(const json_t *doc, behaviour_t *b, char *err, size_t len)
{
    json_t *v;

    if ((v = json_object_get(doc, "queue_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < -1)
            return snprintf(err, len, "queue_ms: an integer >= -1 (-1: never starts)"), false;
        b->queue_ms = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "run_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return snprintf(err, len, "run_ms: an integer >= 0"), false;
        b->run_ms = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "finish_code"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2)
            return snprintf(err, len, "finish_code: 0 (success), 1 (failed) or 2 (cancelled)"),
                   false;
        b->finish_code = (int)json_integer_value(v);
    }
    if ((v = json_object_get(doc, "notes"))) {
        if (!json_is_string(v))
            return snprintf(err, len, "notes: a string"), false;
        snprintf(b->notes, sizeof(b->notes), "%s", json_string_value(v));
    }
    return true;
}

static json_t *item_json(const sb_tableau_t *t, const item_t *it, int64_t now)
{
    json_t *jobs = json_array();

    for (const job_t *j = t->jobs; j; j = j->next)
        if (j->item == it)
            json_array_append_new(jobs, job_json(j, now));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "id", it->id, "kind", it->kind, "name",
                     it->name, "refreshes", (json_int_t)it->refreshes, "conflicts",
                     (json_int_t)it->conflicts, "rate_limited", (json_int_t)t->rate_limited, "jobs",
                     jobs);
}

/* GET|POST /_sandbox/tableau/items: list; create {"kind", "name", behaviour} */
static void control_items(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    sb_tableau_t *t = st->tableau;
    json_t *doc;
    const char *kind, *name;
    behaviour_t b;
    char err[200];
    item_t *it;

    (void)route;
    if (strcmp(req->method, "GET") == 0) {
        json_t *list = json_array();
        for (it = t->items; it; it = it->next)
            json_array_append_new(list, item_json(t, it, req->arrived_ms));
        sb_res_json(res, 200, json_pack("{s:o}", "items", list));
        return;
    }
    if (!(doc = control_body(req, res)))
        return;
    kind = json_string_value(json_object_get(doc, "kind"));
    name = json_string_value(json_object_get(doc, "name"));
    behaviour_default(&b);
    if (!kind || (strcmp(kind, "datasource") != 0 && strcmp(kind, "workbook") != 0) || !name ||
        !*name || strlen(name) >= NAME_MAX_) {
        json_decref(doc);
        control_fail(res, 400, "kind: datasource or workbook; name: 1 to 127 characters");
        return;
    }
    if (!behaviour_read(doc, &b, err, sizeof(err))) {
        json_decref(doc);
        control_fail(res, 400, err);
        return;
    }
    if (!(it = item_add(t, NULL, kind, name))) {
        json_decref(doc);
        control_fail(res, 500, "out of memory");
        return;
    }
    it->b = b;
    sb_res_json(res, 201, item_json(t, it, req->arrived_ms));
    json_decref(doc);
}

/* GET|POST /_sandbox/tableau/items/{id}: show; set the behaviour */
static void control_item(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    item_t *it;
    json_t *doc;
    behaviour_t b;
    char err[200];

    for (it = st->tableau->items; it; it = it->next)
        if (strcmp(it->id, route->param[0]) == 0)
            break;
    if (!it) {
        control_fail(res, 404, "no such item");
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        if (!(doc = control_body(req, res)))
            return;
        b = it->b;
        if (!behaviour_read(doc, &b, err, sizeof(err))) {
            json_decref(doc);
            control_fail(res, 400, err);
            return;
        }
        it->b = b;
        json_decref(doc);
    }
    sb_res_json(res, 200, item_json(st->tableau, it, req->arrived_ms));
}

/* ---- routing ---- */

static void wrong_method(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    (void)st;
    if (route->vendor == SB_VENDOR_SANDBOX) {
        control_fail(res, 405, "method not allowed on this /_sandbox/ route (see docs/SANDBOX.md)");
        return;
    }
    sb_tableau_error(res, 405, "405000", "Method Not Allowed",
                     "The method %s is not allowed on this resource.", req->method);
    sb_res_header(res, "Allow", "%s", route->allow);
}

static bool on(const sb_request_t *req, sb_route_t *route, sb_vendor_t vendor, const char *methods,
               const char *name, sb_handler_fn handler)
{
    const char *p = strstr(methods, req->method);
    size_t n = strlen(req->method);

    route->vendor = vendor;
    if (p && (p == methods || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
        route->name = name;
        route->handler = handler;
        return true;
    }
    route->allow = methods;
    route->name = vendor == SB_VENDOR_SANDBOX ? "sandbox.not_allowed" : "tableau.unknown";
    route->handler = wrong_method;
    return true;
}

static bool match_control(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (n < 3 || strcmp(s[0], "_sandbox") != 0 || strcmp(s[1], "tableau") != 0)
        return false;
    if (n == 3 && strcmp(s[2], "pats") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "POST", "sandbox.tableau.pats", control_pats);
    if (n == 3 && strcmp(s[2], "items") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.tableau.items",
                  control_items);
    if (n == 4 && strcmp(s[2], "items") == 0) {
        route->param[0] = s[3];
        return on(req, route, SB_VENDOR_SANDBOX, "GET POST", "sandbox.tableau.item", control_item);
    }
    if (n == 3 && strcmp(s[2], "lineage-fixture") == 0)
        return on(req, route, SB_VENDOR_SANDBOX, "GET", "sandbox.tableau.fixture", control_fixture);
    return false;
}

bool sb_tableau_match(const sb_request_t *req, sb_route_t *route)
{
    char *const *s = req->seg;
    size_t n = req->nseg;

    if (match_control(req, route))
        return true;
    if (n < 2 || strcmp(s[0], "api") != 0)
        return false;
    if (n == 3 && strcmp(s[1], "metadata") == 0 && strcmp(s[2], "graphql") == 0)
        return on(req, route, SB_VENDOR_TABLEAU, "POST", "tableau.metadata.graphql", graphql);
    if (!isdigit((unsigned char)s[1][0]))
        return false;
    if (n == 4 && strcmp(s[2], "auth") == 0 && strcmp(s[3], "signin") == 0)
        return on(req, route, SB_VENDOR_TABLEAU, "POST", "tableau.signin", signin);
    if (n < 4 || strcmp(s[2], "sites") != 0)
        return false;
    route->param[0] = s[3];
    if (n == 4)
        return on(req, route, SB_VENDOR_TABLEAU, "GET", "tableau.site", site_get);
    if (n == 5 && strcmp(s[4], "jobs") == 0)
        return on(req, route, SB_VENDOR_TABLEAU, "GET", "tableau.jobs.list", jobs_list);
    if (n == 6 && strcmp(s[4], "jobs") == 0) {
        route->param[1] = s[5];
        return on(req, route, SB_VENDOR_TABLEAU, "GET", "tableau.jobs.get", job_get);
    }
    if (strcmp(s[4], "datasources") == 0 || strcmp(s[4], "workbooks") == 0) {
        route->param[1] = s[4];
        if (n == 5)
            return on(req, route, SB_VENDOR_TABLEAU, "GET", "tableau.items.get", items_get);
        if (n == 6) {
            route->param[2] = s[5];
            return on(req, route, SB_VENDOR_TABLEAU, "GET", "tableau.item.get", item_get);
        }
        if (n == 7 && strcmp(s[6], "refresh") == 0) {
            route->param[2] = s[5];
            return on(req, route, SB_VENDOR_TABLEAU, "POST", "tableau.refresh.post", refresh_post);
        }
    }
    route->param[0] = route->param[1] = NULL;
    return false;
}
