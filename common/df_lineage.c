/* df_lineage: see df_lineage.h. */
#include "df_lineage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x)  STR_(x)

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
    "  LIMIT " STR(
        DF_LINEAGE_NODES_MAX) ")"
                              " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM seed) THEN NULL ELSE "
                              "jsonb_build_object("
                              "  'node', (SELECT jsonb_build_object('id', n.id, 'namespace', "
                              "n.namespace, 'name', n.name,"
                              "           'kind', n.kind) FROM lineage_nodes n JOIN seed USING "
                              "(id)),"
                              "  'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', "
                              "n.id, 'namespace',"
                              "           n.namespace, 'name', n.name, 'kind', n.kind, 'attrs', "
                              "n.attrs, 'depth', r.depth,"
                              "           'first_seen', df_ts(n.first_seen), 'last_seen', "
                              "df_ts(n.last_seen))"
                              "           ORDER BY r.depth, n.id), '[]') FROM reached r JOIN "
                              "lineage_nodes n USING (id)),"
                              "  'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object('from', "
                              "e.from_node, 'to',"
                              "           e.to_node, 'kind', e.kind, 'attrs', e.attrs, "
                              "'first_seen', df_ts(e.first_seen),"
                              "           'last_seen', df_ts(e.last_seen)) ORDER BY e.from_node, "
                              "e.to_node, e.kind), '[]')"
                              "           FROM lineage_edges e JOIN reached f ON f.id = e.from_node"
                              "           JOIN reached t ON t.id = e.to_node))"
                              " END::text";

df_code_t df_lineage_walk(df_pg_t *pg, const char *node, const char *direction, int depth,
                          json_t **out, df_error_t *err)
{
    const char *bar = node ? strchr(node, '|') : NULL;
    char id[24] = "", ns[1024] = "", depth_s[8];
    const char *params[5];
    json_error_t jerr;
    PGresult *res;

    *out = NULL;
    if (!direction)
        direction = "both";
    if (strcmp(direction, "up") != 0 && strcmp(direction, "down") != 0 &&
        strcmp(direction, "both") != 0)
        return df_error_set(err, DF_ERR_INVALID, "direction",
                            "direction: expected up, down or both, got \"%.32s\"", direction);
    if (depth < 1 || depth > DF_LINEAGE_DEPTH_MAX)
        return df_error_set(err, DF_ERR_INVALID, "depth", "depth: expected 1 to %d, got %d",
                            DF_LINEAGE_DEPTH_MAX, depth);
    if (!node || !*node)
        return df_error_set(err, DF_ERR_INVALID, "node",
                            "node: required, as \"<namespace>|<name>\" or a node id");
    if (!bar && strspn(node, "0123456789") == strlen(node) && strlen(node) < 19) {
        snprintf(id, sizeof(id), "%s", node);
    } else if (!bar || bar == node || !bar[1] || (size_t)(bar - node) >= sizeof(ns)) {
        return df_error_set(err, DF_ERR_INVALID, "node",
                            "node: expected \"<namespace>|<name>\" (e.g. "
                            "\"postgres://db:5432|sales.public.orders\") or a node id");
    } else {
        snprintf(ns, sizeof(ns), "%.*s", (int)(bar - node), node);
    }
    snprintf(depth_s, sizeof(depth_s), "%d", depth);
    params[0] = id[0] ? id : NULL;
    params[1] = id[0] ? NULL : ns;
    params[2] = id[0] ? NULL : bar + 1;
    params[3] = direction;
    params[4] = depth_s;
    res = df_pg_exec(pg, lineage_sql, 5, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "node", "no lineage node %.300s", node);
    }
    *out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    if (!*out)
        return df_error_set(err, DF_ERR_INTERNAL, NULL, "cannot read the graph: %s", jerr.text);
    json_object_set_new(*out, "direction", json_string(direction));
    json_object_set_new(*out, "depth", json_integer(depth));
    return DF_OK;
}
