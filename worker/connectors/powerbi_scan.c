/* powerbi_scan: the powerbi connector's `lineage` operation over the admin
 * scanner (WorkspaceInfo APIs): POST admin/workspaces/getInfo?lineage=True
 * &datasourceDetails=True starts a scan (its id saved before the first
 * poll), scanStatus is polled through the scheduler (DF_OUTCOME_POLL)
 * until Succeeded, then scanResult becomes result.lineage:
 *   datasource --feeds--> dataset   (datasets[].datasourceUsages)
 *   dataset    --feeds--> report    (reports[].datasetId, datasetWorkspaceId)
 *   report     --feeds--> dashboard (dashboards[].tiles[].reportId)
 *   dataset    --feeds--> dashboard (a tile with a datasetId and no report)
 * Nodes live in namespace "powerbi://<tenant_id>", named
 * "datasources/<id>" and "workspaces/<ws>/{datasets,reports,dashboards}/<id>"
 * (docs/CONNECTORS.md, "Power BI lineage"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "powerbi_api.h"
#include "powerbi_refresh.h"
#include "refresh_guard.h"

#define SCAN_POLL_MS_DEF  2000
#define SCAN_POLL_CAP_DEF 30000
#define SCAN_WS_MAX       100
#define LINEAGE_MAX_BYTES (900 * 1024)

typedef struct scan {
    df_task_ctx_t *ctx;
    df_powerbi_config_t cfg;
    df_powerbi_client_t *client;
    df_http_response_t resp;
    const char *default_ws; /* config.workspace_id */
    char ns[300];
} scan_t;

/* ---- the graph ---- */

typedef struct graph {
    const char *ns;
    json_t *nodes; /* name -> node */
    json_t *edges; /* "from\nto" -> edge */
} graph_t;

static void node(graph_t *g, const char *name, const char *kind, json_t *attrs)
{
    json_t *have = json_object_get(g->nodes, name);

    if (have) { /* keep the richer attrs */
        if (attrs && json_object_size(attrs) > 0)
            json_object_set(have, "attrs", attrs);
        json_decref(attrs);
        return;
    }
    json_object_set_new(g->nodes, name,
                        json_pack("{s:s, s:s, s:s, s:o}", "namespace", g->ns, "name", name, "kind",
                                  kind, "attrs", attrs ? attrs : json_object()));
}

static void edge(graph_t *g, const char *from, const char *to)
{
    char key[1200];

    snprintf(key, sizeof(key), "%s\n%s", from, to);
    if (json_object_get(g->edges, key))
        return;
    json_object_set_new(g->edges, key,
                        json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:{}}", "from", "namespace",
                                  g->ns, "name", from, "to", "namespace", g->ns, "name", to, "kind",
                                  "feeds", "attrs"));
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void item_name(char *buf, size_t len, const char *ws, const char *what, const char *id)
{
    snprintf(buf, len, "workspaces/%s/%s/%s", ws, what, id);
}

static json_t *datasource_attrs(const json_t *instances, const char *id)
{
    json_t *inst;
    size_t i;

    json_array_foreach(instances, i, inst)
    {
        if (str(inst, "datasourceId") && strcmp(str(inst, "datasourceId"), id) == 0)
            return json_pack("{s:s?, s:O?}", "datasourceType", str(inst, "datasourceType"),
                             "connectionDetails", json_object_get(inst, "connectionDetails"));
    }
    return json_object();
}

static void add_datasets(graph_t *g, const char *ws, const json_t *w, const json_t *instances)
{
    json_t *ds, *use;
    size_t i, j;
    char name[600], src[300];

    json_array_foreach(json_object_get(w, "datasets"), i, ds)
    {
        if (!str(ds, "id"))
            continue;
        item_name(name, sizeof(name), ws, "datasets", str(ds, "id"));
        node(g, name, "dataset",
             json_pack("{s:s?, s:s, s:s?}", "name", str(ds, "name"), "workspace_id", ws,
                       "workspace", str(w, "name")));
        json_array_foreach(json_object_get(ds, "datasourceUsages"), j, use)
        {
            const char *id = str(use, "datasourceInstanceId");
            if (!id)
                continue;
            snprintf(src, sizeof(src), "datasources/%s", id);
            node(g, src, "datasource", datasource_attrs(instances, id));
            edge(g, src, name);
        }
    }
}

static void add_reports(graph_t *g, const char *ws, const json_t *w)
{
    json_t *rp;
    size_t i;
    char name[600], ds[600];

    json_array_foreach(json_object_get(w, "reports"), i, rp)
    {
        const char *ds_ws = str(rp, "datasetWorkspaceId") ? str(rp, "datasetWorkspaceId") : ws;
        if (!str(rp, "id"))
            continue;
        item_name(name, sizeof(name), ws, "reports", str(rp, "id"));
        node(g, name, "report",
             json_pack("{s:s?, s:s, s:s?}", "name", str(rp, "name"), "workspace_id", ws,
                       "reportType", str(rp, "reportType")));
        if (!str(rp, "datasetId"))
            continue;
        item_name(ds, sizeof(ds), ds_ws, "datasets", str(rp, "datasetId"));
        node(g, ds, "dataset", NULL);
        edge(g, ds, name);
    }
}

static void add_dashboards(graph_t *g, const char *ws, const json_t *w)
{
    json_t *db, *tile;
    size_t i, j;
    char name[600], from[600];

    json_array_foreach(json_object_get(w, "dashboards"), i, db)
    {
        if (!str(db, "id"))
            continue;
        item_name(name, sizeof(name), ws, "dashboards", str(db, "id"));
        node(g, name, "dashboard",
             json_pack("{s:s?, s:s}", "name", str(db, "displayName"), "workspace_id", ws));
        json_array_foreach(json_object_get(db, "tiles"), j, tile)
        {
            if (str(tile, "reportId")) {
                item_name(from, sizeof(from), ws, "reports", str(tile, "reportId"));
                node(g, from, "report", NULL);
            } else if (str(tile, "datasetId")) {
                item_name(from, sizeof(from), ws, "datasets", str(tile, "datasetId"));
                node(g, from, "dataset", NULL);
            } else {
                continue;
            }
            edge(g, from, name);
        }
    }
}

/* Object values into an array (new reference). */
static json_t *values(json_t *obj)
{
    json_t *list = json_array(), *v;
    const char *k;

    json_object_foreach(obj, k, v) json_array_append(list, v);
    return list;
}

/* The scan result as {nodes, edges} (new reference), cut to fit a Kafka
 * message ("truncated": true) when it is too large. */
static json_t *lineage_of(const char *ns, const json_t *doc, const char *task_id)
{
    graph_t g = { ns, json_object(), json_object() };
    const json_t *instances = json_object_get(doc, "datasourceInstances");
    json_t *w, *graph;
    size_t i, size;

    json_array_foreach(json_object_get(doc, "workspaces"), i, w)
    {
        const char *ws = str(w, "id");
        if (!ws)
            continue;
        add_datasets(&g, ws, w, instances);
        add_reports(&g, ws, w);
        add_dashboards(&g, ws, w);
    }
    graph = json_pack("{s:o, s:o}", "nodes", values(g.nodes), "edges", values(g.edges));
    json_decref(g.nodes);
    json_decref(g.edges);
    while ((size = json_dumpb(graph, NULL, 0, JSON_COMPACT)) > LINEAGE_MAX_BYTES) {
        json_t *nodes = json_object_get(graph, "nodes"), *edges = json_object_get(graph, "edges");
        size_t ne = json_array_size(edges), nn = json_array_size(nodes);
        if (ne > 0)
            while (json_array_size(edges) > ne / 2)
                json_array_remove(edges, json_array_size(edges) - 1);
        else
            while (json_array_size(nodes) > nn / 2)
                json_array_remove(nodes, json_array_size(nodes) - 1);
        json_object_set_new(graph, "truncated", json_true());
    }
    if (json_is_true(json_object_get(graph, "truncated")))
        df_warn("task %s: the Power BI lineage graph was cut to %zu nodes and %zu edges to fit a "
                "message",
                task_id, json_array_size(json_object_get(graph, "nodes")),
                json_array_size(json_object_get(graph, "edges")));
    return graph;
}

/* ---- the scan ---- */

static json_t *send_json(scan_t *s, const char *method, const char *path, const char *body,
                         df_outcome_t *out)
{
    df_powerbi_call_t call = { .method = method,
                               .path = path,
                               .body = body,
                               .body_len = body ? strlen(body) : 0,
                               .idempotent = true };
    json_t *doc;

    if (df_powerbi_send(s->client, &call, &s->resp, out) != DF_OUTCOME_OK)
        return NULL;
    doc = json_loadb(s->resp.body, s->resp.body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_unavailable",
                       "Power BI answered %s %s with a body that is not a JSON object", method,
                       path);
    }
    return doc;
}

static int64_t scan_delay(const scan_t *s)
{
    json_t *start = json_object_get(s->ctx->connector_config, "scan_poll_ms");
    df_refresh_cadence_t c = {
        .start_ms = json_is_integer(start) && json_integer_value(start) > 0
                        ? json_integer_value(start)
                        : SCAN_POLL_MS_DEF,
        .cap_ms = SCAN_POLL_CAP_DEF,
        .growth = DF_REFRESH_GROWTH_DEF,
    };
    return df_refresh_poll_delay(&c, s->ctx->polls, -1, df_now_ms(), s->ctx->deadline_ms);
}

/* The workspaces to scan: params.workspaces, else the connector's. */
static json_t *workspaces(scan_t *s, df_outcome_t *out)
{
    json_t *ws = json_object_get(s->ctx->params, "workspaces"), *v;
    size_t i;

    if (!ws && s->default_ws)
        return json_pack("[s]", s->default_ws);
    if (!json_is_array(ws) || json_array_size(ws) < 1 || json_array_size(ws) > SCAN_WS_MAX)
        goto bad;
    json_array_foreach(ws, i, v) if (!json_is_string(v) || !json_string_length(v)) goto bad;
    return json_incref(ws);
bad:
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                   "params.workspaces: expected 1 to %d workspace ids (or config.workspace_id)",
                   SCAN_WS_MAX);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "/params/workspaces");
    return NULL;
}

static df_outcome_kind_t scan_start(scan_t *s, df_outcome_t *out)
{
    json_t *ws = workspaces(s, out), *body, *doc, *job;
    const char *id;
    char *text;
    df_error_t err;

    if (!ws)
        return out->kind;
    body = json_pack("{s:O}", "workspaces", ws);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    doc = text
              ? send_json(s, "POST", "admin/workspaces/getInfo?lineage=True&datasourceDetails=True",
                          text, out)
              : NULL;
    free(text);
    id = str(doc, "id");
    if (!doc || !id) {
        if (doc)
            df_outcome_set(out, DF_OUTCOME_RETRY, "platform_unavailable",
                           "Power BI started a scan without an id");
        json_decref(doc);
        json_decref(ws);
        return out->kind;
    }
    job = json_pack("{s:s, s:I}", "scan_id", id, "workspaces", (json_int_t)json_array_size(ws));
    json_decref(doc);
    json_decref(ws);
    df_error_init(&err);
    if (df_task_ctx_job_put(s->ctx, job, &err) != DF_OK)
        df_warn("task %s: scan job not saved yet: %s", s->ctx->task_id, err.message);
    return df_outcome_poll(out, job, scan_delay(s));
}

static df_outcome_kind_t scan_poll(scan_t *s, df_outcome_t *out)
{
    const char *id = str(s->ctx->job, "scan_id");
    const char *status;
    char path[300];
    json_t *doc;

    if (!id)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "connector_error",
                              "the lineage job state has no scan_id");
    snprintf(path, sizeof(path), "admin/workspaces/scanStatus/%s", id);
    if (!(doc = send_json(s, "GET", path, NULL, out)))
        return out->kind;
    status = str(doc, "status");
    if (status && strcmp(status, "Succeeded") == 0) {
        json_decref(doc);
        snprintf(path, sizeof(path), "admin/workspaces/scanResult/%s", id);
        if (!(doc = send_json(s, "GET", path, NULL, out)))
            return out->kind;
        out->result = json_pack("{s:s, s:I, s:o}", "scan_id", id, "workspaces",
                                (json_int_t)json_array_size(json_object_get(doc, "workspaces")),
                                "lineage", lineage_of(s->ns, doc, s->ctx->task_id));
        json_decref(doc);
        return out->kind = DF_OUTCOME_OK;
    }
    if (status && strcmp(status, "Failed") == 0) {
        const char *msg = str(json_object_get(doc, "error"), "message");
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "scan_failed", "Power BI scan %s failed: %s", id,
                       msg ? msg : "(no message)");
        json_decref(doc);
        return out->kind;
    }
    json_decref(doc);
    return df_outcome_poll(out, json_deep_copy(s->ctx->job), scan_delay(s));
}

df_outcome_kind_t df_powerbi_lineage(df_task_ctx_t *ctx, df_outcome_t *out)
{
    scan_t s;
    df_outcome_kind_t kind;

    memset(&s, 0, sizeof(s));
    s.ctx = ctx;
    df_http_response_init(&s.resp);
    if (df_powerbi_config_read(ctx, &s.cfg, out) != DF_OUTCOME_OK)
        return out->kind;
    snprintf(s.ns, sizeof(s.ns), "powerbi://%s", s.cfg.tenant_id);
    s.default_ws = s.cfg.workspace_id;
    s.cfg.workspace_id = NULL; /* the admin APIs live under myorg */
    if (!(s.client = df_powerbi_client_open(ctx, &s.cfg, out)))
        return out->kind;
    kind = ctx->job ? scan_poll(&s, out) : scan_start(&s, out);
    df_powerbi_client_close(s.client);
    df_http_response_free(&s.resp);
    return kind;
}
