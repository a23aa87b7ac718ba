/* api_lineage: GET /v1/lineage, the lineage graph around one node
 * (docs/LINEAGE.md): the nodes reachable upstream, downstream or both
 * within depth edges, with the edges between them. A node is named
 * "<namespace>|<name>" (as the tasks reported it) or by its id. The walk
 * is one recursive query, bounded by depth (1..10) and by 5000 nodes. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define LINEAGE_NODES_MAX "5000"

/* The walk: seed (the node), then each step follows edges against
 * (up: to -> from) or along (down: from -> to) their direction, never past
 * depth. $1 node id or NULL, $2 namespace, $3 name, $4 direction, $5 depth. */
static const char lineage_sql[] =
    "WITH RECURSIVE seed AS ("
    "  SELECT id FROM lineage_nodes WHERE ($1::bigint IS NOT NULL AND id = $1::bigint)"
    "     OR ($1::bigint IS NULL AND namespace = $2 AND name = $3)"
    "), walk(id, depth) AS ("
    "  SELECT id, 0 FROM seed"
    "  UNION"
    "  SELECT CASE WHEN e.from_node = w.id THEN e.to_node ELSE e.from_node END, w.depth + 1"
    "    FROM walk w JOIN lineage_edges e"
    "      ON ($4 IN ('down', 'both') AND e.from_node = w.id)"
    "      OR ($4 IN ('up', 'both') AND e.to_node = w.id)"
    "   WHERE w.depth < $5::integer"
    "), reached AS ("
    "  SELECT id, min(depth) AS depth FROM walk GROUP BY id ORDER BY min(depth), id"
    "  LIMIT " LINEAGE_NODES_MAX ")"
    " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM seed) THEN NULL ELSE jsonb_build_object("
    "  'node', (SELECT jsonb_build_object('id', n.id, 'namespace', n.namespace, 'name', n.name,"
    "           'kind', n.kind) FROM lineage_nodes n JOIN seed USING (id)),"
    "  'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', n.id, 'namespace',"
    "           n.namespace, 'name', n.name, 'kind', n.kind, 'attrs', n.attrs, 'depth', r.depth,"
    "           'first_seen', df_ts(n.first_seen), 'last_seen', df_ts(n.last_seen))"
    "           ORDER BY r.depth, n.id), '[]') FROM reached r JOIN lineage_nodes n USING (id)),"
    "  'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object('from', e.from_node, 'to',"
    "           e.to_node, 'kind', e.kind, 'attrs', e.attrs, 'first_seen', df_ts(e.first_seen),"
    "           'last_seen', df_ts(e.last_seen)) ORDER BY e.from_node, e.to_node, e.kind), '[]')"
    "           FROM lineage_edges e JOIN reached f ON f.id = e.from_node"
    "           JOIN reached t ON t.id = e.to_node))"
    " END::text";

static void get_lineage(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "node", "direction", "depth", NULL };
    const char *node = api_query(req, "node"), *direction, *bar;
    char id[24] = "", ns[1024] = "", depth_s[8];
    const char *params[5];
    int64_t depth;
    json_t *graph;

    if (!api_query_only(req, resp, allowed) ||
        !api_query_enum(req, resp, "direction", "up|down|both", &direction) ||
        !api_query_int(req, resp, "depth", 3, 1, 10, &depth))
        return;
    if (!node || !*node) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "node",
                  "node: required, as \"<namespace>|<name>\" or a node id");
        return;
    }
    bar = strchr(node, '|');
    if (!bar && strspn(node, "0123456789") == strlen(node) && strlen(node) < 19) {
        snprintf(id, sizeof(id), "%s", node);
    } else if (!bar || bar == node || !bar[1] || (size_t)(bar - node) >= sizeof(ns)) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "node",
                  "node: expected \"<namespace>|<name>\" (e.g. \"postgres://db:5432|sales.public."
                  "orders\") or a node id");
        return;
    } else {
        snprintf(ns, sizeof(ns), "%.*s", (int)(bar - node), node);
    }
    snprintf(depth_s, sizeof(depth_s), "%lld", (long long)depth);
    params[0] = id[0] ? id : NULL;
    params[1] = id[0] ? NULL : ns;
    params[2] = id[0] ? NULL : bar + 1;
    params[3] = direction ? direction : "both";
    params[4] = depth_s;
    graph = api_pg_json(req, resp, lineage_sql, 5, params);
    if (!graph)
        return;
    if (json_is_null(graph)) {
        json_decref(graph);
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "node", "no lineage node %s", node);
        return;
    }
    json_object_set_new(graph, "direction", json_string(params[3]));
    json_object_set_new(graph, "depth", json_integer(depth));
    api_json(resp, MHD_HTTP_OK, graph);
}

const api_route_t api_lineage_routes[] = {
    { "GET", "/v1/lineage", API_ROLE_READ, 0, get_lineage },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
