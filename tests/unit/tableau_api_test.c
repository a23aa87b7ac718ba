/* tableau_api_test: how the tableau connector reads Tableau's answers,
 * without a server: Tableau's error document as a message, a Query Job's
 * finishCode (a string in Tableau's JSON, absent while the job runs), the
 * shape of a LUID, the lineage namespace of a site (user info dropped,
 * port kept, the default site ""), and a Metadata API answer turned into
 * result.lineage's graph (nodes named and kinded as docs/LINEAGE.md says,
 * a node met twice kept once, items without an id skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/tableau_api.h"
#include "df_test.h"

#define NS "tableau://tab.example.com/acme"

static void test_message(void)
{
    char buf[200];
    const char *doc = "{\"error\": {\"summary\": \"Signin Error\", \"detail\": \"Error signing in "
                      "to Tableau Server\", \"code\": \"401001\"}}";

    df_tableau_message(doc, strlen(doc), buf, sizeof(buf));
    CHECK_STR(buf, "401001 Signin Error: Error signing in to Tableau Server");

    doc = "{\"error\": {\"detail\": \"no code here\"}}";
    df_tableau_message(doc, strlen(doc), buf, sizeof(buf));
    CHECK_STR(buf, ": no code here");

    doc = "upstream connect error";
    df_tableau_message(doc, strlen(doc), buf, sizeof(buf));
    CHECK_STR(buf, "upstream connect error"); /* a body that is not Tableau's */

    doc = "<html>Bad Gateway</html>"; /* an HTML page says nothing useful */
    df_tableau_message(doc, strlen(doc), buf, sizeof(buf));
    CHECK_STR(buf, "");

    df_tableau_message(NULL, 0, buf, sizeof(buf));
    CHECK(strlen(buf) < sizeof(buf));

    doc = "{\"error\": {\"summary\": \"S\", \"detail\": \"a very long detail\", \"code\": \"1\"}}";
    df_tableau_message(doc, strlen(doc), buf, 8);
    CHECK_INT(strlen(buf), 7);
}

static int code_of(const char *job_json)
{
    json_t *job = json_loads(job_json, 0, NULL);
    int code = df_tableau_finish_code(job);

    json_decref(job);
    return code;
}

static void test_finish_code(void)
{
    CHECK_INT(code_of("{\"id\": \"j\", \"progress\": \"0\"}"), -1);
    CHECK_INT(code_of("{\"finishCode\": \"\"}"), -1);
    CHECK_INT(code_of("{\"finishCode\": null}"), -1);
    CHECK_INT(code_of("{\"finishCode\": \"0\"}"), 0);
    CHECK_INT(code_of("{\"finishCode\": \"1\"}"), 1);
    CHECK_INT(code_of("{\"finishCode\": \"2\"}"), 2);
    CHECK_INT(code_of("{\"finishCode\": 1}"), 1);
    CHECK_INT(df_tableau_finish_code(NULL), -1);
}

static void test_luid(void)
{
    CHECK(df_tableau_is_luid("9f8c4f39-2a32-4b4b-9a35-1f1b3e0c7d2a"));
    CHECK(df_tableau_is_luid("9F8C4F39-2A32-4B4B-9A35-1F1B3E0C7D2A"));
    CHECK(!df_tableau_is_luid("9f8c4f39-2a32-4b4b-9a35-1f1b3e0c7d2"));
    CHECK(!df_tableau_is_luid("9f8c4f39-2a32-4b4b-9a35-1f1b3e0c7d2az"));
    CHECK(!df_tableau_is_luid("9f8c4f39x2a32-4b4b-9a35-1f1b3e0c7d2a"));
    CHECK(!df_tableau_is_luid("9g8c4f39-2a32-4b4b-9a35-1f1b3e0c7d2a"));
    CHECK(!df_tableau_is_luid("Sales Extract"));
    CHECK(!df_tableau_is_luid(""));
    CHECK(!df_tableau_is_luid(NULL));
}

static void test_namespace(void)
{
    char ns[300];
    const char *url = "https://10ax.online.tableau.com";

    df_tableau_namespace(url, strlen(url), "acme", ns, sizeof(ns));
    CHECK_STR(ns, "tableau://10ax.online.tableau.com/acme");

    url = "http://reader:pw@127.0.0.1:8080/";
    df_tableau_namespace(url, strlen(url) - 1, "", ns, sizeof(ns));
    CHECK_STR(ns, "tableau://127.0.0.1:8080/");

    url = "https://tab.example.com/tableau/path";
    df_tableau_namespace(url, strlen("https://tab.example.com"), "acme", ns, sizeof(ns));
    CHECK_STR(ns, NS);

    url = "https://tab.example.comEXTRA";
    df_tableau_namespace(url, strlen("https://tab.example.com"), "acme", ns, sizeof(ns));
    CHECK_STR(ns, NS);

    df_tableau_namespace(url, strlen(url), NULL, ns, 12);
    CHECK_STR(ns, "tableau://t");
}

/* The node of graph named name, or NULL. */
static const json_t *node(const json_t *graph, const char *name)
{
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(graph, "nodes"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
            return n;
    }
    return NULL;
}

/* The kind of the edge from -> to, or NULL. */
static const char *edge(const json_t *graph, const char *from, const char *to)
{
    size_t i;
    json_t *e, *f, *t;

    json_array_foreach(json_object_get(graph, "edges"), i, e)
    {
        f = json_object_get(e, "from");
        t = json_object_get(e, "to");
        if (strcmp(json_string_value(json_object_get(f, "name")), from) == 0 &&
            strcmp(json_string_value(json_object_get(t, "name")), to) == 0 &&
            strcmp(json_string_value(json_object_get(f, "namespace")), NS) == 0 &&
            strcmp(json_string_value(json_object_get(t, "namespace")), NS) == 0)
            return json_string_value(json_object_get(e, "kind"));
    }
    return NULL;
}

static const char *attr(const json_t *n, const char *key)
{
    return json_string_value(json_object_get(json_object_get(n, "attrs"), key));
}

static const char answer[] =
    "{\"publishedDatasources\": ["
    " {\"luid\": \"ds-a\", \"name\": \"Orders\", \"upstreamTables\": ["
    "   {\"luid\": \"t-1\", \"name\": \"orders\", \"fullName\": \"[public].[orders]\","
    "    \"schema\": \"public\", \"database\": {\"name\": \"sales_dw\", \"connectionType\": "
    "\"postgres\"}},"
    "   {\"luid\": \"t-2\", \"name\": \"customers\", \"schema\": \"public\", \"database\": null},"
    "   {\"name\": \"a table without a luid\"}]},"
    " {\"luid\": \"ds-b\", \"name\": \"Customers\", \"upstreamTables\": ["
    "   {\"luid\": \"t-2\", \"name\": \"customers (again)\"}]},"
    " {\"name\": \"a data source without a luid\", \"upstreamTables\": [{\"luid\": \"t-9\"}]}],"
    " \"workbooks\": ["
    " {\"luid\": \"wb-1\", \"name\": \"Sales\", \"projectName\": \"Finance\","
    "  \"sheets\": [{\"id\": \"s-1\", \"name\": \"Revenue\"}, {\"id\": \"s-2\", \"name\": \"Map\"},"
    "              {\"name\": \"a sheet without an id\"}],"
    "  \"upstreamDatasources\": [{\"luid\": \"ds-a\", \"name\": \"renamed\"},"
    "                           {\"luid\": \"ds-e\", \"name\": \"Embedded\"}]},"
    " {\"luid\": \"wb-2\", \"name\": \"Churn\", \"sheets\": [],"
    "  \"upstreamDatasources\": [{\"luid\": \"ds-a\"}, {\"luid\": \"ds-b\"}]},"
    " {\"name\": \"a workbook without a luid\", \"sheets\": [{\"id\": \"s-9\"}]}]}";

static void test_graph(void)
{
    json_t *data = json_loads(answer, 0, NULL), *graph;
    const json_t *n;

    REQUIRE(data != NULL);
    graph = df_tableau_lineage_graph(data, NS);
    REQUIRE(graph != NULL);

    /* t-1 t-2 ds-a ds-b ds-e wb-1 wb-2 s-1 s-2 */
    CHECK_INT(json_array_size(json_object_get(graph, "nodes")), 9);
    /* t-1>ds-a t-2>ds-a t-2>ds-b ds-a>wb-1 ds-e>wb-1 wb-1>s-1 wb-1>s-2 ds-a>wb-2 ds-b>wb-2 */
    CHECK_INT(json_array_size(json_object_get(graph, "edges")), 9);

    n = node(graph, "tables/t-1");
    REQUIRE(n != NULL);
    CHECK_STR(json_string_value(json_object_get(n, "namespace")), NS);
    CHECK_STR(json_string_value(json_object_get(n, "kind")), "table");
    CHECK_STR(attr(n, "name"), "orders");
    CHECK_STR(attr(n, "full_name"), "[public].[orders]");
    CHECK_STR(attr(n, "schema"), "public");
    CHECK_STR(attr(n, "database"), "sales_dw");
    CHECK_STR(attr(n, "connection_type"), "postgres");

    n = node(graph, "tables/t-2");
    REQUIRE(n != NULL);
    CHECK_STR(attr(n, "name"), "customers"); /* the first attributes kept */
    CHECK(!json_is_string(json_object_get(json_object_get(n, "attrs"), "database")));

    n = node(graph, "datasources/ds-a");
    REQUIRE(n != NULL);
    CHECK_STR(json_string_value(json_object_get(n, "kind")), "datasource");
    CHECK_STR(attr(n, "name"), "Orders");
    n = node(graph, "datasources/ds-e");
    REQUIRE(n != NULL);
    CHECK_STR(attr(n, "name"), "Embedded");

    n = node(graph, "workbooks/wb-1");
    REQUIRE(n != NULL);
    CHECK_STR(json_string_value(json_object_get(n, "kind")), "workbook");
    CHECK_STR(attr(n, "project"), "Finance");
    n = node(graph, "workbooks/wb-1/sheets/s-2");
    REQUIRE(n != NULL);
    CHECK_STR(json_string_value(json_object_get(n, "kind")), "sheet");
    CHECK_STR(attr(n, "name"), "Map");
    CHECK(node(graph, "workbooks/wb-2") != NULL);
    CHECK(node(graph, "tables/t-9") == NULL);

    CHECK_STR(edge(graph, "tables/t-1", "datasources/ds-a"), "feeds");
    CHECK_STR(edge(graph, "tables/t-2", "datasources/ds-a"), "feeds");
    CHECK_STR(edge(graph, "tables/t-2", "datasources/ds-b"), "feeds");
    CHECK_STR(edge(graph, "datasources/ds-a", "workbooks/wb-1"), "feeds");
    CHECK_STR(edge(graph, "datasources/ds-e", "workbooks/wb-1"), "feeds");
    CHECK_STR(edge(graph, "datasources/ds-b", "workbooks/wb-2"), "feeds");
    CHECK_STR(edge(graph, "workbooks/wb-1", "workbooks/wb-1/sheets/s-1"), "contains");
    CHECK_STR(edge(graph, "workbooks/wb-1", "workbooks/wb-1/sheets/s-2"), "contains");
    CHECK(edge(graph, "datasources/ds-a", "tables/t-1") == NULL);

    json_decref(graph);
    json_decref(data);
}

static void test_graph_empty(void)
{
    json_t *graph = df_tableau_lineage_graph(NULL, NS), *data;

    REQUIRE(graph != NULL);
    CHECK_INT(json_array_size(json_object_get(graph, "nodes")), 0);
    CHECK_INT(json_array_size(json_object_get(graph, "edges")), 0);
    CHECK(json_is_array(json_object_get(graph, "nodes")));
    json_decref(graph);

    data =
        json_loads("{\"publishedDatasources\": {\"not\": \"a list\"}, \"workbooks\": 3}", 0, NULL);
    graph = df_tableau_lineage_graph(data, NS);
    REQUIRE(graph != NULL);
    CHECK_INT(json_array_size(json_object_get(graph, "nodes")), 0);
    json_decref(graph);
    json_decref(data);
}

static void test_query(void)
{
    const char *q = df_tableau_lineage_query;
    int depth = 0;

    for (const char *p = q; *p; p++)
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
    CHECK_INT(depth, 0);
    CHECK(strstr(q, "publishedDatasources {") != NULL);
    CHECK(strstr(q, "upstreamTables {") != NULL);
    CHECK(strstr(q, "workbooks {") != NULL);
    CHECK(strstr(q, "sheets { id name }") != NULL);
    CHECK(strstr(q, "upstreamDatasources { luid name }") != NULL);
}

int main(void)
{
    RUN(test_message);
    RUN(test_finish_code);
    RUN(test_luid);
    RUN(test_namespace);
    RUN(test_graph);
    RUN(test_graph_empty);
    RUN(test_query);
    return df_test_done();
}
