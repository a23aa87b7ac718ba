/* recorder_lineage: the lineage graph side of the recorder (see recorder.h,
 * docs/LINEAGE.md). A `succeeded` event whose result holds "lineage"
 * ({"nodes": [...], "edges": [...]}, the shape every lineage op and every
 * export produces) is checked and normalised here when its record is made,
 * and the batch's lineage is merged into lineage_nodes and lineage_edges in
 * the batch's transaction. A node or edge of the wrong shape is skipped
 * with a warning; a lineage of the wrong shape as a whole is skipped; the
 * event itself is always recorded. */
#include "recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "df_task.h"

#define NAMESPACE_MAX 1024
#define NAME_MAX_LEN  2048
#define KIND_MAX      64
#define ATTRS_DEPTH   16 /* nesting allowed in attrs before it is refused */
#define DEFAULT_EDGE  "feeds"

/* (1) Nodes, by (namespace, name). Across the batch the latest report wins
 * (event time, then event id) and first_seen is the earliest; against the stored row a report at
 * least as recent as last_seen sets kind, attrs and task_id, first_seen only goes back and
 * last_seen only forward: recording an event twice, or an older event late, changes nothing. Rows
 * are written in key order, so two recorders never deadlock. */
static const char upsert_nodes_sql[] =
    "WITH n AS ("
    " SELECT DISTINCT ON (x.namespace, x.name) x.namespace, x.name, x.kind,"
    "        COALESCE(x.attrs, '{}') AS attrs, r.at, r.task_id,"
    "        min(r.at) OVER (PARTITION BY x.namespace, x.name) AS first_at"
    "   FROM jsonb_to_recordset($1::jsonb) AS r (event_id text, task_id text, at timestamptz,"
    "        lineage jsonb)"
    "  CROSS JOIN LATERAL jsonb_to_recordset(r.lineage->'nodes') AS x (namespace text,"
    "        name text, kind text, attrs jsonb)"
    "  ORDER BY x.namespace, x.name, r.at DESC, r.event_id DESC"
    ")"
    " INSERT INTO lineage_nodes AS t (namespace, name, kind, attrs, first_seen, last_seen,"
    "        task_id)"
    " SELECT namespace, name, kind, attrs, first_at, at, task_id FROM n"
    "  ORDER BY namespace, name"
    " ON CONFLICT (namespace, name) DO UPDATE SET"
    "  kind = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.kind ELSE t.kind END,"
    "  attrs = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.attrs ELSE t.attrs END,"
    "  task_id = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.task_id"
    "                 ELSE t.task_id END,"
    "  first_seen = LEAST(t.first_seen, excluded.first_seen),"
    "  last_seen = GREATEST(t.last_seen, excluded.last_seen)";

/* (2) Edges, by (from_node, to_node, kind), with the same rules; runs after
 * (1), so both ends exist (df_recorder_lineage_of keeps only edges whose
 * ends are nodes of the same lineage). */
static const char upsert_edges_sql[] =
    "WITH e AS ("
    " SELECT DISTINCT ON (f.id, g.id, x.kind) f.id AS from_node, g.id AS to_node, x.kind,"
    "        COALESCE(x.attrs, '{}') AS attrs, r.at, r.task_id,"
    "        min(r.at) OVER (PARTITION BY f.id, g.id, x.kind) AS first_at"
    "   FROM jsonb_to_recordset($1::jsonb) AS r (event_id text, task_id text, at timestamptz,"
    "        lineage jsonb)"
    "  CROSS JOIN LATERAL jsonb_to_recordset(r.lineage->'edges') AS x (from_namespace text,"
    "        from_name text, to_namespace text, to_name text, kind text, attrs jsonb)"
    "  JOIN lineage_nodes f ON f.namespace = x.from_namespace AND f.name = x.from_name"
    "  JOIN lineage_nodes g ON g.namespace = x.to_namespace AND g.name = x.to_name"
    "  ORDER BY f.id, g.id, x.kind, r.at DESC, r.event_id DESC"
    ")"
    " INSERT INTO lineage_edges AS t (from_node, to_node, kind, attrs, first_seen, last_seen,"
    "        task_id)"
    " SELECT from_node, to_node, kind, attrs, first_at, at, task_id FROM e"
    "  ORDER BY from_node, to_node, kind"
    " ON CONFLICT (from_node, to_node, kind) DO UPDATE SET"
    "  attrs = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.attrs ELSE t.attrs END,"
    "  task_id = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.task_id"
    "                 ELSE t.task_id END,"
    "  first_seen = LEAST(t.first_seen, excluded.first_seen),"
    "  last_seen = GREATEST(t.last_seen, excluded.last_seen)";

/* A string member of obj of 1..max bytes without NUL (PostgreSQL text
 * cannot hold one), or NULL. */
static const char *bounded_string(const json_t *obj, const char *name, size_t max)
{
    const json_t *v = json_object_get(obj, name);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);

    if (!s || len == 0 || len > max || strlen(s) != len)
        return NULL;
    return s;
}

/* Whether value can be stored in jsonb: no NUL in any string or key, and
 * nested at most depth deep. */
static bool storable(const json_t *value, int depth)
{
    const char *key;
    json_t *member;
    size_t i;

    if (depth <= 0)
        return false;
    if (json_is_string(value))
        return strlen(json_string_value(value)) == json_string_length(value);
    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key,
                            member) if (!storable(member, depth - 1)) return false;
        return true;
    }
    if (json_is_array(value)) {
        json_array_foreach(value, i, member) if (!storable(member, depth - 1)) return false;
    }
    return true;
}

/* Whether the attrs member of obj is usable: absent or null (stored as
 * {}; *attrs NULL), or an object jsonb can store (*attrs borrowed). */
static bool attrs_of(const json_t *obj, json_t **attrs)
{
    *attrs = json_object_get(obj, "attrs");
    if (json_is_null(*attrs))
        *attrs = NULL;
    return !*attrs || (json_is_object(*attrs) && storable(*attrs, ATTRS_DEPTH));
}

/* "namespace\x1fname": the key of a node in the index (caller frees). */
static char *node_key(const char *ns, const char *name)
{
    size_t len = strlen(ns) + strlen(name) + 2;
    char *key = malloc(len);

    if (key)
        snprintf(key, len, "%s\x1f%s", ns, name);
    return key;
}

/* A node of the result as a row, or NULL (wrong shape). */
static json_t *node_row(const json_t *node)
{
    const char *ns = bounded_string(node, "namespace", NAMESPACE_MAX);
    const char *name = bounded_string(node, "name", NAME_MAX_LEN);
    const char *kind = bounded_string(node, "kind", KIND_MAX);
    json_t *attrs;

    if (!json_is_object(node) || !ns || !name || !kind || !attrs_of(node, &attrs))
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:O?}", "namespace", ns, "name", name, "kind", kind, "attrs",
                     attrs);
}

/* An edge of the result as a row, or NULL (wrong shape, or an end that is
 * not a node of index). */
static json_t *edge_row(const json_t *edge, const json_t *index)
{
    const json_t *from = json_object_get(edge, "from"), *to = json_object_get(edge, "to");
    const char *fns = bounded_string(from, "namespace", NAMESPACE_MAX);
    const char *fname = bounded_string(from, "name", NAME_MAX_LEN);
    const char *tns = bounded_string(to, "namespace", NAMESPACE_MAX);
    const char *tname = bounded_string(to, "name", NAME_MAX_LEN);
    const char *kind =
        json_object_get(edge, "kind") ? bounded_string(edge, "kind", KIND_MAX) : DEFAULT_EDGE;
    json_t *attrs;
    char *fkey, *tkey;
    bool known;

    if (!json_is_object(edge) || !fns || !fname || !tns || !tname || !kind ||
        !attrs_of(edge, &attrs))
        return NULL;
    fkey = node_key(fns, fname);
    tkey = node_key(tns, tname);
    known = fkey && tkey && json_object_get(index, fkey) && json_object_get(index, tkey);
    free(fkey);
    free(tkey);
    if (!known)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:O?}", "from_namespace", fns, "from_name", fname,
                     "to_namespace", tns, "to_name", tname, "kind", kind, "attrs", attrs);
}

/* Append row to rows, replacing the earlier row of the same key (the
 * later report in one result wins). index maps key -> position. */
static void put_row(json_t *rows, json_t *index, const char *key, json_t *row)
{
    json_t *at = json_object_get(index, key);

    if (at) {
        json_array_set_new(rows, (size_t)json_integer_value(at), row);
        return;
    }
    json_object_set_new(index, key, json_integer((json_int_t)json_array_size(rows)));
    json_array_append_new(rows, row);
}

/* The usable nodes of list (borrowed) into rows, indexed in index. Returns
 * how many were skipped. */
static size_t collect_nodes(const json_t *list, json_t *rows, json_t *index)
{
    size_t i, skipped = 0;
    json_t *node;

    json_array_foreach(list, i, node)
    {
        json_t *row = node_row(node);
        char *key = row ? node_key(json_string_value(json_object_get(row, "namespace")),
                                   json_string_value(json_object_get(row, "name")))
                        : NULL;
        if (!key) {
            json_decref(row);
            skipped++;
            continue;
        }
        put_row(rows, index, key, row);
        free(key);
    }
    return skipped;
}

/* The usable edges of list into rows. Returns how many were skipped. */
static size_t collect_edges(const json_t *list, const json_t *node_index, json_t *rows)
{
    json_t *index = json_object();
    size_t i, skipped = 0;
    json_t *edge;

    json_array_foreach(list, i, edge)
    {
        json_t *row = edge_row(edge, node_index);
        char key[NAMESPACE_MAX * 2 + NAME_MAX_LEN * 2 + KIND_MAX + 8];

        if (!row || !index) {
            json_decref(row);
            skipped++;
            continue;
        }
        snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s\x1f%s",
                 json_string_value(json_object_get(row, "from_namespace")),
                 json_string_value(json_object_get(row, "from_name")),
                 json_string_value(json_object_get(row, "to_namespace")),
                 json_string_value(json_object_get(row, "to_name")),
                 json_string_value(json_object_get(row, "kind")));
        put_row(rows, index, key, row);
    }
    json_decref(index);
    return skipped;
}

json_t *df_recorder_lineage_of(const json_t *event)
{
    const json_t *lineage = json_object_get(json_object_get(event, "result"), "lineage");
    const json_t *nodes = json_object_get(lineage, "nodes");
    const json_t *edges = json_object_get(lineage, "edges");
    const char *event_id = df_task_str(event, "event_id");
    json_t *out, *node_rows, *edge_rows, *index;
    size_t bad_nodes, bad_edges;

    if (!lineage || !df_task_str(event, "state") ||
        strcmp(df_task_str(event, "state"), DF_STATE_SUCCEEDED) != 0)
        return NULL;
    if (!json_is_object(lineage) || (nodes && !json_is_array(nodes)) ||
        (edges && !json_is_array(edges))) {
        df_warn("event %s: result.lineage is not {\"nodes\": [...], \"edges\": [...]}: "
                "lineage skipped",
                event_id ? event_id : "?");
        return NULL;
    }
    node_rows = json_array();
    edge_rows = json_array();
    index = json_object();
    if (!node_rows || !edge_rows || !index) {
        json_decref(node_rows);
        json_decref(edge_rows);
        json_decref(index);
        df_warn("event %s: out of memory reading result.lineage: lineage skipped",
                event_id ? event_id : "?");
        return NULL;
    }
    bad_nodes = collect_nodes(nodes, node_rows, index);
    bad_edges = collect_edges(edges, index, edge_rows);
    json_decref(index);
    if (bad_nodes + bad_edges > 0)
        df_warn("event %s: result.lineage: %zu of %zu nodes and %zu of %zu edges skipped "
                "(a node needs namespace, name and kind strings and object attrs; an edge "
                "needs from/to naming nodes of the same lineage)",
                event_id ? event_id : "?", bad_nodes, json_array_size(nodes), bad_edges,
                json_array_size(edges));
    if (json_array_size(node_rows) == 0) {
        json_decref(node_rows);
        json_decref(edge_rows);
        return NULL;
    }
    out = json_pack("{s:o, s:o}", "nodes", node_rows, "edges", edge_rows);
    return out;
}

df_code_t df_recorder_lineage_write(df_pg_t *pg, const json_t *records, long long *nodes,
                                    long long *edges, df_error_t *err)
{
    json_t *batch = json_array(), *rec;
    const char *params[1];
    char *text;
    size_t i;
    df_code_t rc;

    *nodes = 0;
    *edges = 0;
    if (!batch)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory collecting lineage");
    json_array_foreach(records, i, rec)
    {
        json_t *lineage = json_object_get(rec, "lineage");
        if (lineage)
            json_array_append_new(batch, json_pack("{s:O?, s:O?, s:O?, s:O}", "event_id",
                                                   json_object_get(rec, "event_id"), "task_id",
                                                   json_object_get(rec, "task_id"), "at",
                                                   json_object_get(rec, "at"), "lineage", lineage));
    }
    if (json_array_size(batch) == 0) {
        json_decref(batch);
        return DF_OK;
    }
    text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory encoding lineage");
    params[0] = text;
    rc = df_pg_run(pg, upsert_nodes_sql, 1, params, nodes, err);
    if (rc == DF_OK)
        rc = df_pg_run(pg, upsert_edges_sql, 1, params, edges, err);
    free(text);
    return rc;
}
