-- 007_lineage: what the lineage graph needs beyond 001's lineage_nodes and
-- lineage_edges (docs/LINEAGE.md).
--
-- The recorder merges the `result.lineage` of succeeded task events into
-- these tables in the same transaction as the events (scheduler/
-- recorder_lineage.c): a node by (namespace, name), an edge by (from_node,
-- to_node, kind). first_seen and last_seen are the times of the events that
-- first and last reported the node or edge; kind and attrs are those of the
-- latest report; task_id names the task of that report (the last writer),
-- so an export edge says which export last moved the rows.

ALTER TABLE lineage_nodes
    ADD COLUMN task_id text CHECK (task_id IS NULL OR length(task_id) BETWEEN 1 AND 256),
    ADD CONSTRAINT lineage_nodes_attrs_object CHECK (jsonb_typeof(attrs) = 'object'),
    ADD CONSTRAINT lineage_nodes_name_size
        CHECK (length(namespace) BETWEEN 1 AND 1024 AND length(name) BETWEEN 1 AND 2048
               AND length(kind) BETWEEN 1 AND 64);

ALTER TABLE lineage_edges
    ADD COLUMN task_id text CHECK (task_id IS NULL OR length(task_id) BETWEEN 1 AND 256),
    ADD CONSTRAINT lineage_edges_attrs_object CHECK (jsonb_typeof(attrs) = 'object'),
    ADD CONSTRAINT lineage_edges_kind_size CHECK (length(kind) BETWEEN 1 AND 64);

COMMENT ON COLUMN lineage_nodes.task_id IS
    'The task whose result last reported this node (its kind and attrs are that report''s).';
COMMENT ON COLUMN lineage_edges.task_id IS
    'The task whose result last reported this edge (for an export edge: the last export).';
COMMENT ON COLUMN lineage_edges.attrs IS
    'Edge attributes of the latest report, e.g. {"rows": n, "mapping": {...}, "task_id": ...} '
    'for the edge an export adds.';

-- Walking the graph downstream goes by from_node (the primary key's first
-- column), upstream by to_node (001's lineage_edges_to_idx). Nodes are
-- listed by namespace and looked up by kind on the status page.
CREATE INDEX lineage_nodes_kind_idx ON lineage_nodes (kind);
