/* postgres: the connector kind of a PostgreSQL database as a lineage
 * source (docs/LINEAGE.md). `lineage` reads the catalogue: the tables,
 * views and materialized views of the schemas asked for, and which
 * relations each view reads (pg_depend on its rewrite rule), as nodes
 * postgres://<host>:<port> / <db>.<schema>.<relation> and edges relation ->
 * view. `probe` connects and runs SELECT 1.
 *
 * The database: the connector's secret `url` (a libpq URL, which may hold a
 * password: that is why it is a secret), else its config `url` (without a
 * password), else the worker's --database-url. The session is read-only.
 * params.schemas: the schemas to read (default ["public"]). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "df_pg.h"

#define SCHEMAS_MAX 64

/* Every relation of the schemas, and every relation a view of them reads
 * ($1: the schemas as a text array). Rows: kind ('node' | 'edge'),
 * schema, relation, relkind, and for edges the view's schema and name. */
static const char catalogue_sql[] =
    "SELECT 'node', n.nspname, c.relname, c.relkind::text, NULL, NULL"
    "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')"
    " UNION "
    "SELECT DISTINCT 'edge', tn.nspname, t.relname, t.relkind::text, vn.nspname, v.relname"
    "  FROM pg_depend d"
    "  JOIN pg_rewrite r ON r.oid = d.objid"
    "  JOIN pg_class v ON v.oid = r.ev_class"
    "  JOIN pg_namespace vn ON vn.oid = v.relnamespace"
    "  JOIN pg_class t ON t.oid = d.refobjid"
    "  JOIN pg_namespace tn ON tn.oid = t.relnamespace"
    " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
    "   AND d.deptype = 'n' AND v.oid <> t.oid AND v.relkind IN ('v', 'm')"
    "   AND vn.nspname = ANY ($1::text[]) AND t.relkind IN ('r', 'v', 'm', 'p', 'f')"
    " ORDER BY 1 DESC, 2, 3, 5, 6";

static const char *relkind_name(const char *relkind)
{
    switch (relkind[0]) {
    case 'v': return "view";
    case 'm': return "materialized_view";
    case 'f': return "foreign_table";
    default: return "table";
    }
}

/* The database URL to read (borrowed). */
static const char *database_url(const df_task_ctx_t *ctx)
{
    const char *url = json_string_value(json_object_get(ctx->connector_secrets, "url"));

    if (!url)
        url = json_string_value(json_object_get(ctx->connector_config, "url"));
    return url ? url : ctx->database_url;
}

/* A read-only connection, or NULL with the outcome set. */
static df_pg_t *connect_ro(const df_task_ctx_t *ctx, df_outcome_t *out)
{
    const char *url = database_url(ctx);
    df_error_t err;
    df_pg_t *pg;

    df_error_init(&err);
    if (!url)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_config",
                              "connector %s: no database (secret url, config url, or the "
                              "worker's --database-url)",
                              ctx->connector),
               NULL;
    pg = df_pg_new(url, &err);
    if (pg && df_pg_run(pg, "SELECT set_config('default_transaction_read_only', 'on', false)", 0,
                        NULL, NULL, &err) != DF_OK) {
        df_pg_destroy(pg);
        pg = NULL;
    }
    if (!pg)
        df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                       "postgres_unavailable", "%s", err.message);
    return pg;
}

/* The schemas param as a PostgreSQL text array literal in buf. */
static bool schemas_param(const df_task_ctx_t *ctx, char *buf, size_t len, df_outcome_t *out)
{
    const json_t *schemas = json_object_get(ctx->params, "schemas");
    size_t used = 0, i;
    const json_t *s;

    if (!schemas) {
        snprintf(buf, len, "{public}");
        return true;
    }
    if (!json_is_array(schemas) || json_array_size(schemas) == 0 ||
        json_array_size(schemas) > SCHEMAS_MAX) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                       "params.schemas: expected an array of 1 to %d schema names", SCHEMAS_MAX);
        return false;
    }
    used += (size_t)snprintf(buf, len, "{");
    json_array_foreach(schemas, i, s)
    {
        const char *name = json_string_value(s);
        if (!name || !*name || strlen(name) > 63 || strpbrk(name, "\"\\{},")) {
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                           "params.schemas[%zu]: expected a schema name (1-63 characters, no "
                           "quotes, backslashes, braces or commas)",
                           i);
            return false;
        }
        used += (size_t)snprintf(buf + used, len > used ? len - used : 0, "%s\"%s\"", i ? "," : "",
                                 name);
    }
    if (used + 2 > len) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params", "params.schemas: too long");
        return false;
    }
    snprintf(buf + used, len - used, "}");
    return true;
}

/* The namespace of the database: postgres://host:port (no user, no
 * password), and its name. */
static void namespace_of(df_pg_t *pg, char *ns, size_t ns_len, char *db, size_t db_len)
{
    PGconn *conn = df_pg_conn(pg);
    const char *host = PQhost(conn), *port = PQport(conn);

    snprintf(ns, ns_len, "postgres://%s:%s", host && *host && host[0] != '/' ? host : "localhost",
             port && *port ? port : "5432");
    snprintf(db, db_len, "%s", PQdb(conn) ? PQdb(conn) : "postgres");
}

static json_t *node(const char *ns, const char *db, const char *schema, const char *rel,
                    const char *kind)
{
    char name[400];

    snprintf(name, sizeof(name), "%s.%s.%s", db, schema, rel);
    return json_pack("{s:s, s:s, s:s}", "namespace", ns, "name", name, "kind", kind);
}

static df_outcome_kind_t pg_lineage(df_task_ctx_t *ctx, df_outcome_t *out)
{
    char schemas[4096], ns[300], db[128];
    const char *params[1] = { schemas };
    json_t *nodes, *edges;
    df_error_t err;
    PGresult *res;
    df_pg_t *pg;

    if (!schemas_param(ctx, schemas, sizeof(schemas), out) || !(pg = connect_ro(ctx, out)))
        return out->kind;
    df_error_init(&err);
    res = df_pg_exec(pg, catalogue_sql, 1, params, &err);
    if (!res) {
        df_pg_destroy(pg);
        return df_outcome_set(out, err.retryable ? DF_OUTCOME_RETRY : DF_OUTCOME_PERMANENT,
                              "postgres_catalogue", "%s", err.message);
    }
    namespace_of(pg, ns, sizeof(ns), db, sizeof(db));
    nodes = json_array();
    edges = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *what = PQgetvalue(res, i, 0);
        json_t *from = node(ns, db, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                            relkind_name(PQgetvalue(res, i, 3)));
        if (strcmp(what, "node") == 0) {
            json_array_append_new(nodes, from);
            continue;
        }
        json_t *to = node(ns, db, PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), "view");
        json_array_append_new(edges,
                              json_pack("{s:{s:O, s:O}, s:{s:O, s:O}, s:s}", "from", "namespace",
                                        json_object_get(from, "namespace"), "name",
                                        json_object_get(from, "name"), "to", "namespace",
                                        json_object_get(to, "namespace"), "name",
                                        json_object_get(to, "name"), "kind", "feeds"));
        json_decref(from);
        json_decref(to);
    }
    PQclear(res);
    df_pg_destroy(pg);
    out->result = json_pack(
        "{s:I, s:I, s:{s:o, s:o}}", "node_count", (json_int_t)json_array_size(nodes), "edge_count",
        (json_int_t)json_array_size(edges), "lineage", "nodes", nodes, "edges", edges);
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t pg_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    df_pg_t *pg = connect_ro(ctx, out);
    df_error_t err;

    if (!pg)
        return out->kind;
    df_error_init(&err);
    if (df_pg_run(pg, "SELECT 1", 0, NULL, NULL, &err) != DF_OK) {
        df_pg_destroy(pg);
        return df_outcome_set(out, DF_OUTCOME_RETRY, "postgres_unavailable", "%s", err.message);
    }
    df_pg_destroy(pg);
    return DF_OUTCOME_OK;
}

const df_connector_ops_t df_connector_postgres = {
    .kind = "postgres",
    .probe = pg_probe,
    .lineage = pg_lineage,
};
