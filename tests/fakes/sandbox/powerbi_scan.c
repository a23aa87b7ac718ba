/* powerbi_scan: the Power BI admin scanner (WorkspaceInfo APIs of
 * specs/powerbi/swagger.json) over a seeded lineage fixture: two
 * workspaces whose datasets use data sources (datasourceUsages ->
 * datasourceInstances), reports on datasets (one across workspaces,
 * datasetWorkspaceId), dashboards whose tiles show reports or datasets.
 * POST getInfo answers 202 {id, createdDateTime, status: NotStarted}; the
 * scan is NotStarted for its first third, Running until scan_ms has
 * passed, then Succeeded, and scanResult answers the requested workspaces.
 * getInfo takes 500 requests an hour (sandbox hours) and 1 to 100
 * workspaces. The fixture's expected lineage graph is written out below
 * by hand, independently of how the connector derives it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_id.h"
#include "ids.h"
#include "powerbi.h"
#include "powerbi_refresh.h"

#define SCANS_PER_HOUR  500
#define SCAN_WS_MAX     100
#define SCAN_MS_DEFAULT 600

#define WS_SALES        "5a1e5000-0000-4000-8000-000000000001"
#define WS_FIN          "f1a4ce00-0000-4000-8000-000000000002"
#define DS_SALES        "d5000001-0000-4000-8000-000000000001"
#define DS_TARGETS      "d5000002-0000-4000-8000-000000000002"
#define DS_FIN          "d5000003-0000-4000-8000-000000000003"
#define SRC_PG          "5c000001-0000-4000-8000-000000000001"
#define SRC_SQL         "5c000002-0000-4000-8000-000000000002"
#define SRC_SP          "5c000003-0000-4000-8000-000000000003"
#define RP_SALES        "4e000001-0000-4000-8000-000000000001"
#define RP_TARGETS      "4e000002-0000-4000-8000-000000000002"
#define RP_BUDGET       "4e000003-0000-4000-8000-000000000003"
#define RP_REGION       "4e000004-0000-4000-8000-000000000004"
#define DB_EXEC         "db000001-0000-4000-8000-000000000001"
#define DB_CFO          "db000002-0000-4000-8000-000000000002"

/* The scanResult of every fixture workspace (lineage and data source
 * details on). */
static const char fixture_text[] =
    "{\"workspaces\": ["
    " {\"id\": \"" WS_SALES
    "\", \"name\": \"Sales\", \"type\": \"Workspace\", \"state\": \"Active\","
    "  \"isOnDedicatedCapacity\": false,"
    "  \"datasets\": ["
    "   {\"id\": \"" DS_SALES
    "\", \"name\": \"Sales Model\", \"configuredBy\": \"ana@contoso.com\","
    "    \"targetStorageMode\": \"Abf\", \"datasourceUsages\": ["
    "     {\"datasourceInstanceId\": \"" SRC_PG "\"}, {\"datasourceInstanceId\": \"" SRC_SQL
    "\"}]},"
    "   {\"id\": \"" DS_TARGETS "\", \"name\": \"Targets\", \"configuredBy\": \"ana@contoso.com\","
    "    \"targetStorageMode\": \"Abf\", \"datasourceUsages\": ["
    "     {\"datasourceInstanceId\": \"" SRC_SP "\"}]}],"
    "  \"reports\": ["
    "   {\"id\": \"" RP_SALES "\", \"name\": \"Sales Overview\", \"datasetId\": \"" DS_SALES "\","
    "    \"reportType\": \"PowerBIReport\"},"
    "   {\"id\": \"" RP_TARGETS "\", \"name\": \"Targets vs Actuals\", \"datasetId\": \"" DS_TARGETS
    "\", \"reportType\": \"PowerBIReport\"}],"
    "  \"dashboards\": ["
    "   {\"id\": \"" DB_EXEC
    "\", \"displayName\": \"Executive\", \"isReadOnly\": false, \"tiles\": ["
    "     {\"id\": \"7e000001-0000-4000-8000-000000000001\", \"title\": \"Revenue\","
    "      \"reportId\": \"" RP_SALES "\", \"datasetId\": \"" DS_SALES "\"},"
    "     {\"id\": \"7e000002-0000-4000-8000-000000000002\", \"title\": \"Targets\","
    "      \"reportId\": \"" RP_TARGETS "\", \"datasetId\": \"" DS_TARGETS "\"},"
    "     {\"id\": \"7e000003-0000-4000-8000-000000000003\", \"title\": \"Ask a question\","
    "      \"datasetId\": \"" DS_SALES "\"}]}]},"
    " {\"id\": \"" WS_FIN
    "\", \"name\": \"Finance\", \"type\": \"Workspace\", \"state\": \"Active\","
    "  \"isOnDedicatedCapacity\": false,"
    "  \"datasets\": ["
    "   {\"id\": \"" DS_FIN
    "\", \"name\": \"Finance Model\", \"configuredBy\": \"raj@contoso.com\","
    "    \"targetStorageMode\": \"Abf\", \"datasourceUsages\": ["
    "     {\"datasourceInstanceId\": \"" SRC_SQL "\"}]}],"
    "  \"reports\": ["
    "   {\"id\": \"" RP_BUDGET "\", \"name\": \"Budget\", \"datasetId\": \"" DS_FIN "\","
    "    \"reportType\": \"PowerBIReport\"},"
    "   {\"id\": \"" RP_REGION "\", \"name\": \"Sales by Region\", \"datasetId\": \"" DS_SALES "\","
    "    \"datasetWorkspaceId\": \"" WS_SALES "\", \"reportType\": \"PowerBIReport\"}],"
    "  \"dashboards\": ["
    "   {\"id\": \"" DB_CFO "\", \"displayName\": \"CFO\", \"isReadOnly\": false, \"tiles\": ["
    "     {\"id\": \"7e000004-0000-4000-8000-000000000004\", \"title\": \"Budget\","
    "      \"reportId\": \"" RP_BUDGET "\", \"datasetId\": \"" DS_FIN "\"},"
    "     {\"id\": \"7e000005-0000-4000-8000-000000000005\", \"title\": \"Regions\","
    "      \"reportId\": \"" RP_REGION "\", \"datasetId\": \"" DS_SALES "\"}]}]}],"
    " \"datasourceInstances\": ["
    "  {\"datasourceType\": \"PostgreSql\", \"connectionDetails\": {\"server\": "
    "\"pg.contoso.net:5432\", \"database\": \"sales\"}, \"datasourceId\": \"" SRC_PG "\","
    "   \"gatewayId\": \"9a000001-0000-4000-8000-000000000001\"},"
    "  {\"datasourceType\": \"Sql\", \"connectionDetails\": {\"server\": "
    "\"sql.contoso.net\", \"database\": \"finance\"}, \"datasourceId\": \"" SRC_SQL "\","
    "   \"gatewayId\": \"9a000001-0000-4000-8000-000000000001\"},"
    "  {\"datasourceType\": \"SharePointList\", \"connectionDetails\": {\"url\": "
    "\"https://contoso.sharepoint.com/sites/sales\"}, \"datasourceId\": \"" SRC_SP "\"}]}";

/* The graph datafleet must extract from it: [kind, name] nodes and
 * [from, to] "feeds" edges, names relative to the tenant's namespace. */
static const char *const fixture_nodes[][2] = {
    { "datasource", "datasources/" SRC_PG },
    { "datasource", "datasources/" SRC_SQL },
    { "datasource", "datasources/" SRC_SP },
    { "dataset", "workspaces/" WS_SALES "/datasets/" DS_SALES },
    { "dataset", "workspaces/" WS_SALES "/datasets/" DS_TARGETS },
    { "dataset", "workspaces/" WS_FIN "/datasets/" DS_FIN },
    { "report", "workspaces/" WS_SALES "/reports/" RP_SALES },
    { "report", "workspaces/" WS_SALES "/reports/" RP_TARGETS },
    { "report", "workspaces/" WS_FIN "/reports/" RP_BUDGET },
    { "report", "workspaces/" WS_FIN "/reports/" RP_REGION },
    { "dashboard", "workspaces/" WS_SALES "/dashboards/" DB_EXEC },
    { "dashboard", "workspaces/" WS_FIN "/dashboards/" DB_CFO },
};

static const char *const fixture_edges[][2] = {
    { "datasources/" SRC_PG, "workspaces/" WS_SALES "/datasets/" DS_SALES },
    { "datasources/" SRC_SQL, "workspaces/" WS_SALES "/datasets/" DS_SALES },
    { "datasources/" SRC_SP, "workspaces/" WS_SALES "/datasets/" DS_TARGETS },
    { "datasources/" SRC_SQL, "workspaces/" WS_FIN "/datasets/" DS_FIN },
    { "workspaces/" WS_SALES "/datasets/" DS_SALES, "workspaces/" WS_SALES "/reports/" RP_SALES },
    { "workspaces/" WS_SALES "/datasets/" DS_TARGETS,
      "workspaces/" WS_SALES "/reports/" RP_TARGETS },
    { "workspaces/" WS_FIN "/datasets/" DS_FIN, "workspaces/" WS_FIN "/reports/" RP_BUDGET },
    { "workspaces/" WS_SALES "/datasets/" DS_SALES, "workspaces/" WS_FIN "/reports/" RP_REGION },
    { "workspaces/" WS_SALES "/reports/" RP_SALES, "workspaces/" WS_SALES "/dashboards/" DB_EXEC },
    { "workspaces/" WS_SALES "/reports/" RP_TARGETS,
      "workspaces/" WS_SALES "/dashboards/" DB_EXEC },
    { "workspaces/" WS_SALES "/datasets/" DS_SALES,
      "workspaces/" WS_SALES "/dashboards/" DB_EXEC }, /* the Q&A tile */
    { "workspaces/" WS_FIN "/reports/" RP_BUDGET, "workspaces/" WS_FIN "/dashboards/" DB_CFO },
    { "workspaces/" WS_FIN "/reports/" RP_REGION, "workspaces/" WS_FIN "/dashboards/" DB_CFO },
};

static json_t *fixture;
static pthread_once_t fixture_once = PTHREAD_ONCE_INIT;

static void fixture_load(void)
{
    json_error_t err;

    fixture = json_loads(fixture_text, 0, &err);
    if (!fixture) {
        fprintf(stderr, "powerbi_scan: the fixture is not JSON: %s (line %d)\n", err.text,
                err.line);
        abort();
    }
}

const json_t *sb_pbi_fixture(void)
{
    pthread_once(&fixture_once, fixture_load);
    return fixture;
}

json_t *sb_pbi_fixture_lineage(const char *tenant)
{
    char ns[300];
    json_t *nodes = json_array(), *edges = json_array();

    snprintf(ns, sizeof(ns), "powerbi://%s", tenant);
    for (size_t i = 0; i < sizeof(fixture_nodes) / sizeof(fixture_nodes[0]); i++)
        json_array_append_new(nodes, json_pack("{s:s, s:s, s:s}", "namespace", ns, "name",
                                               fixture_nodes[i][1], "kind", fixture_nodes[i][0]));
    for (size_t i = 0; i < sizeof(fixture_edges) / sizeof(fixture_edges[0]); i++)
        json_array_append_new(edges,
                              json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "namespace",
                                        ns, "name", fixture_edges[i][0], "to", "namespace", ns,
                                        "name", fixture_edges[i][1], "kind", "feeds"));
    return json_pack("{s:s, s:s, s:o, s:o}", "namespace", ns, "workspaces_hint",
                     WS_SALES " " WS_FIN, "nodes", nodes, "edges", edges);
}

/* ---- scans ---- */

typedef struct scan {
    char id[SB_UUID_BUF];
    int64_t at, wall_ms;
    json_t *workspaces; /* the requested ids */
    bool lineage, details;
    int64_t polls;
    struct scan *next;
} scan_t;

struct sb_pbi_scans {
    scan_t *head;
    int64_t scan_ms;
    sb_window_t hour;
    int64_t refused;
};

sb_pbi_scans_t *sb_pbi_scans_new(void)
{
    sb_pbi_scans_t *s = calloc(1, sizeof(*s));

    if (s)
        s->scan_ms = SCAN_MS_DEFAULT;
    return s;
}

void sb_pbi_scans_reset(sb_pbi_scans_t *s)
{
    while (s->head) {
        scan_t *next = s->head->next;
        json_decref(s->head->workspaces);
        free(s->head);
        s->head = next;
    }
    memset(&s->hour, 0, sizeof(s->hour));
    s->scan_ms = SCAN_MS_DEFAULT;
    s->refused = 0;
}

void sb_pbi_scans_destroy(sb_pbi_scans_t *s)
{
    if (!s)
        return;
    sb_pbi_scans_reset(s);
    free(s);
}

static const char *scan_status(const sb_pbi_scans_t *s, const scan_t *scan, int64_t now)
{
    int64_t t = now - scan->at;

    if (t < s->scan_ms / 3)
        return "NotStarted";
    return t < s->scan_ms ? "Running" : "Succeeded";
}

static json_t *scan_json(const sb_pbi_scans_t *s, const scan_t *scan, int64_t now)
{
    char created[40];

    df_time_format(scan->wall_ms, created, sizeof(created));
    return json_pack("{s:s, s:s, s:s}", "id", scan->id, "createdDateTime", created, "status",
                     scan_status(s, scan, now));
}

/* lineage/datasourceDetails query flags: "True"/"true". */
static bool flag(const sb_request_t *req, const char *name)
{
    char *v = sb_req_query(req, name);
    bool on = v && strcasecmp(v, "true") == 0;

    free(v);
    return on;
}

void sb_pbi_scan_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    sb_pbi_scans_t *s = sb_pbi_refresh_scans(st->pbi_refresh);
    char err[256];
    json_t *body, *ws, *v;
    scan_t *scan, **tail;
    size_t i;

    (void)route;
    if (!sb_powerbi_authorize(st, req, res))
        return;
    body = sb_req_json(req, err, sizeof(err));
    ws = json_object_get(body, "workspaces");
    if (!json_is_array(ws) || json_array_size(ws) < 1 || json_array_size(ws) > SCAN_WS_MAX) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "requiredWorkspaces.workspaces: expected 1 to %d workspace ids",
                         SCAN_WS_MAX);
        json_decref(body);
        return;
    }
    json_array_foreach(ws, i, v)
    {
        if (!json_is_string(v)) {
            sb_powerbi_error(res, 400, "InvalidRequest",
                             "requiredWorkspaces.workspaces[%zu]: expected a workspace id", i);
            json_decref(body);
            return;
        }
    }
    if (!sb_window_take(&s->hour, sb_clock_window(&st->clock, req->arrived_ms, 60), 1,
                        SCANS_PER_HOUR)) {
        s->refused++;
        sb_powerbi_error(res, 429, "TooManyRequests",
                         "You have exceeded the amount of requests allowed in the current time "
                         "frame and further requests will fail.");
        sb_res_header(res, "Retry-After", "%lld",
                      (long long)sb_clock_retry_after_s(&st->clock, req->arrived_ms, 60));
        json_decref(body);
        return;
    }
    scan = calloc(1, sizeof(*scan));
    if (!scan) {
        sb_powerbi_error(res, 500, "InternalError", "The sandbox ran out of memory.");
        json_decref(body);
        return;
    }
    sb_ids_uuid(scan->id);
    scan->at = req->arrived_ms;
    scan->wall_ms = df_now_ms();
    scan->workspaces = json_incref(ws);
    scan->lineage = flag(req, "lineage");
    scan->details = flag(req, "datasourceDetails");
    for (tail = &s->head; *tail; tail = &(*tail)->next)
        ;
    *tail = scan;
    json_decref(body);
    sb_res_json(res, 202, scan_json(s, scan, req->arrived_ms));
    sb_res_header(res, "Location", "%s/v1.0/myorg/admin/workspaces/scanStatus/%s", st->base_url,
                  scan->id);
}

static scan_t *find_scan(sb_state_t *st, const char *id, sb_response_t *res)
{
    for (scan_t *scan = sb_pbi_refresh_scans(st->pbi_refresh)->head; scan; scan = scan->next)
        if (strcasecmp(scan->id, id) == 0)
            return scan;
    sb_powerbi_error(res, 404, "ItemNotFound", "Scan %s is not found.", id);
    return NULL;
}

void sb_pbi_scan_status(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    scan_t *scan;

    if (!sb_powerbi_authorize(st, req, res) || !(scan = find_scan(st, route->param[0], res)))
        return;
    scan->polls++;
    sb_res_json(res, 200, scan_json(sb_pbi_refresh_scans(st->pbi_refresh), scan, req->arrived_ms));
}

/* A fixture workspace as a scan with these flags shows it. */
static json_t *workspace_view(const json_t *ws, bool lineage)
{
    json_t *copy = json_deep_copy(ws), *ds, *db, *tile;
    size_t i, j;

    if (lineage)
        return copy;
    json_array_foreach(json_object_get(copy, "datasets"), i, ds)
        json_object_del(ds, "datasourceUsages");
    json_array_foreach(json_object_get(copy, "dashboards"), i, db)
        json_array_foreach(json_object_get(db, "tiles"), j, tile)
    {
        json_object_del(tile, "reportId");
        json_object_del(tile, "datasetId");
    }
    return copy;
}

void sb_pbi_scan_result(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res)
{
    sb_pbi_scans_t *s = sb_pbi_refresh_scans(st->pbi_refresh);
    json_t *list, *id, *ws;
    scan_t *scan;
    size_t i, j;

    if (!sb_powerbi_authorize(st, req, res) || !(scan = find_scan(st, route->param[0], res)))
        return;
    if (strcmp(scan_status(s, scan, req->arrived_ms), "Succeeded") != 0) {
        sb_powerbi_error(res, 400, "InvalidRequest",
                         "Scan %s has not completed: ask scanStatus until it is Succeeded.",
                         scan->id);
        return;
    }
    list = json_array();
    json_array_foreach(scan->workspaces, i, id)
    {
        json_array_foreach(json_object_get(sb_pbi_fixture(), "workspaces"), j, ws)
        {
            if (strcasecmp(json_string_value(json_object_get(ws, "id")), json_string_value(id)) ==
                0)
                json_array_append_new(list, workspace_view(ws, scan->lineage));
        }
    }
    ws = json_pack("{s:o}", "workspaces", list);
    if (scan->details)
        json_object_set_new(
            ws, "datasourceInstances",
            json_deep_copy(json_object_get(sb_pbi_fixture(), "datasourceInstances")));
    sb_res_json(res, 200, ws);
}

void sb_pbi_scan_control(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res)
{
    sb_pbi_scans_t *s = sb_pbi_refresh_scans(st->pbi_refresh);
    int64_t now = sb_clock_now(&st->clock);
    char err[256];
    json_t *list, *body, *v;

    (void)route;
    if (strcmp(req->method, "POST") == 0) {
        body = sb_req_json(req, err, sizeof(err));
        v = json_object_get(body, "scan_ms");
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            sb_res_json(res, 400, json_pack("{s:s}", "error", "scan_ms: expected an integer >= 0"));
            json_decref(body);
            return;
        }
        s->scan_ms = json_integer_value(v);
        json_decref(body);
    }
    list = json_array();
    for (scan_t *scan = s->head; scan; scan = scan->next) {
        json_t *doc = scan_json(s, scan, now);
        json_object_set(doc, "workspaces", scan->workspaces);
        json_object_set_new(doc, "lineage", json_boolean(scan->lineage));
        json_object_set_new(doc, "datasourceDetails", json_boolean(scan->details));
        json_object_set_new(doc, "status_polls", json_integer((json_int_t)scan->polls));
        json_array_append_new(list, doc);
    }
    sb_res_json(res, 200,
                json_pack("{s:I, s:I, s:o}", "scan_ms", (json_int_t)s->scan_ms, "refused",
                          (json_int_t)s->refused, "scans", list));
}
