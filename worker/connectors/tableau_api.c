/* tableau_api: how the tableau connector reads Tableau's answers (see
 * tableau_api.h). */
#include "tableau_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_http.h"

#define NODE_NAME_MAX 300
#define NS_HOST_MAX   200

const char df_tableau_lineage_query[] =
    "query datafleetLineage { "
    "publishedDatasources { luid name upstreamTables { luid name fullName schema "
    "database { name connectionType } } } "
    "workbooks { luid name projectName sheets { id name } upstreamDatasources { luid name } } }";

void df_tableau_message(const char *body, size_t body_len, char *buf, size_t len)
{
    json_t *root = body ? json_loadb(body, body_len, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *summary = json_string_value(json_object_get(e, "summary"));
    const char *detail = json_string_value(json_object_get(e, "detail"));

    if (code || detail)
        snprintf(buf, len, "%s%s%s: %s", code ? code : "", code && summary ? " " : "",
                 summary ? summary : "", detail ? detail : "");
    else
        df_http_vendor_message(body ? body : "", body ? body_len : 0, buf, len);
    json_decref(root);
}

int df_tableau_finish_code(const json_t *job)
{
    json_t *v = json_object_get(job, "finishCode");

    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_string(v) && *json_string_value(v))
        return atoi(json_string_value(v));
    return -1;
}

bool df_tableau_is_luid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (!s || strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

void df_tableau_namespace(const char *server_url, size_t server_len, const char *site, char *ns,
                          size_t len)
{
    const char *end = server_url + server_len, *host = server_url, *at;
    size_t hlen;

    for (const char *p = server_url; p + 3 <= end; p++)
        if (memcmp(p, "://", 3) == 0) {
            host = p + 3;
            break;
        }
    hlen = strcspn(host, "/?#");
    if (hlen > (size_t)(end - host))
        hlen = (size_t)(end - host);
    if ((at = memchr(host, '@', hlen))) {
        hlen -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(ns, len, "tableau://%.*s/%s", (int)(hlen < NS_HOST_MAX ? hlen : NS_HOST_MAX), host,
             site ? site : "");
}

/* ---- the graph ---- */

typedef struct graph {
    const char *ns;
    json_t *nodes; /* name -> node */
    json_t *edges; /* "from\nto" -> edge */
} graph_t;

static void g_node(graph_t *g, const char *name, const char *kind, json_t *attrs)
{
    if (!json_object_get(g->nodes, name))
        json_object_set_new(g->nodes, name,
                            json_pack("{s:s, s:s, s:s, s:o}", "namespace", g->ns, "name", name,
                                      "kind", kind, "attrs", attrs ? attrs : json_object()));
    else
        json_decref(attrs);
}

static void g_edge(graph_t *g, const char *from, const char *to, const char *kind)
{
    char key[2 * NODE_NAME_MAX + 2];

    snprintf(key, sizeof(key), "%s\n%s", from, to);
    if (!json_object_get(g->edges, key))
        json_object_set_new(g->edges, key,
                            json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "namespace",
                                      g->ns, "name", from, "to", "namespace", g->ns, "name", to,
                                      "kind", kind));
}

static json_t *values(json_t *obj)
{
    json_t *arr = json_array(), *v;
    const char *k;

    json_object_foreach(obj, k, v) json_array_append(arr, v);
    return arr;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void datasources(graph_t *g, const json_t *list)
{
    char name[NODE_NAME_MAX], table[NODE_NAME_MAX];
    size_t i, k;
    json_t *x, *y;

    json_array_foreach(list, i, x)
    {
        if (!str(x, "luid"))
            continue;
        snprintf(name, sizeof(name), "datasources/%s", str(x, "luid"));
        g_node(g, name, "datasource", json_pack("{s:s?}", "name", str(x, "name")));
        json_array_foreach(json_object_get(x, "upstreamTables"), k, y)
        {
            json_t *db = json_object_get(y, "database");
            if (!str(y, "luid"))
                continue;
            snprintf(table, sizeof(table), "tables/%s", str(y, "luid"));
            g_node(g, table, "table",
                   json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "name", str(y, "name"), "full_name",
                             str(y, "fullName"), "schema", str(y, "schema"), "database",
                             str(db, "name"), "connection_type", str(db, "connectionType")));
            g_edge(g, table, name, "feeds");
        }
    }
}

static void workbooks(graph_t *g, const json_t *list)
{
    char name[NODE_NAME_MAX], other[NODE_NAME_MAX];
    size_t i, k;
    json_t *x, *y;

    json_array_foreach(list, i, x)
    {
        const char *wb = str(x, "luid");
        if (!wb)
            continue;
        snprintf(name, sizeof(name), "workbooks/%s", wb);
        g_node(g, name, "workbook",
               json_pack("{s:s?, s:s?}", "name", str(x, "name"), "project", str(x, "projectName")));
        json_array_foreach(json_object_get(x, "upstreamDatasources"), k, y)
        {
            if (!str(y, "luid"))
                continue;
            snprintf(other, sizeof(other), "datasources/%s", str(y, "luid"));
            g_node(g, other, "datasource", json_pack("{s:s?}", "name", str(y, "name")));
            g_edge(g, other, name, "feeds");
        }
        json_array_foreach(json_object_get(x, "sheets"), k, y)
        {
            if (!str(y, "id"))
                continue;
            snprintf(other, sizeof(other), "workbooks/%s/sheets/%s", wb, str(y, "id"));
            g_node(g, other, "sheet", json_pack("{s:s?}", "name", str(y, "name")));
            g_edge(g, name, other, "contains");
        }
    }
}

json_t *df_tableau_lineage_graph(const json_t *data, const char *ns)
{
    graph_t g = { .ns = ns, .nodes = json_object(), .edges = json_object() };
    json_t *graph = NULL;

    if (g.nodes && g.edges) {
        datasources(&g, json_object_get(data, "publishedDatasources"));
        workbooks(&g, json_object_get(data, "workbooks"));
        graph = json_pack("{s:o, s:o}", "nodes", values(g.nodes), "edges", values(g.edges));
    }
    json_decref(g.nodes);
    json_decref(g.edges);
    return graph;
}
