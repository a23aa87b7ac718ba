/* df_lineage: reading the lineage graph in PostgreSQL (lineage_nodes,
 * lineage_edges; docs/LINEAGE.md), shared by GET /v1/lineage and
 * `datafleet-submit lineage show`. */
#ifndef DF_LINEAGE_H
#define DF_LINEAGE_H

#include <jansson.h>

#include "df_error.h"
#include "df_pg.h"

#define DF_LINEAGE_DEPTH_MAX 10
#define DF_LINEAGE_NODES_MAX 5000

/* The graph around node ("<namespace>|<name>", or a node id in decimal)
 * within depth edges (1..DF_LINEAGE_DEPTH_MAX), following edges "up"
 * (towards sources), "down" or "both": *out gets
 * {"node": {id, namespace, name, kind}, "nodes": [{..., attrs, depth,
 * first_seen, last_seen}], "edges": [{from, to, kind, attrs, first_seen,
 * last_seen}], "direction", "depth"} (new reference). Errors:
 * DF_ERR_INVALID naming "node", "direction" or "depth"; DF_ERR_NOT_FOUND
 * (field "node") when no node has that name; DF_ERR_PG. */
df_code_t df_lineage_walk(df_pg_t *pg, const char *node, const char *direction, int depth,
                          json_t **out, df_error_t *err);

#endif
