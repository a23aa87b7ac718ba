/* lineage_merge: the recorder's merge of `result.lineage` into
 * lineage_nodes / lineage_edges (scheduler/recorder_lineage.c), through the
 * recorder's own batch write (df_recorder_record_new +
 * df_recorder_sql_write) on a scratch database with the migrations applied.
 *   (a) a succeeded event's lineage ends as exactly its nodes and edges,
 *       with first_seen = last_seen = the event's time and its task id;
 *   (b) the same event recorded again (alone and inside a batch) changes
 *       nothing at all;
 *   (c) a later report updates kind/attrs/task_id and moves last_seen
 *       forward, first_seen kept; an older report recorded late changes
 *       nothing but first_seen (which only moves back);
 *   (d) two events of one batch naming the same node and edge (a case
 *       ON CONFLICT refuses when not folded) are merged, the later wins;
 *   (e) lineage of the wrong shape is skipped and the event still recorded:
 *       not an object, nodes not an array, a node without kind, attrs not
 *       an object, a kind over 64 bytes, an edge to a node not in the
 *       lineage, an edge kind not a string, an end not an object;
 *   (f) lineage on a non-succeeded event is ignored. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_task.h"
#include "df_test.h"
#include "df_test_pg.h"
#include "recorder.h"

static df_pg_t *admin, *pg;
static char db_name[64], db_url[2048];

#define BASE_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static df_code_t database_ddl(const char *verb, const char *suffix, df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, db_name, err);
    char ddl[256];
    df_code_t rc;

    if (!quoted)
        return err->code;
    snprintf(ddl, sizeof(ddl), "%s %s%s", verb, quoted, suffix); /* lint: allow quoted ident */
    free(quoted);
    rc = df_pg_run(admin, ddl, 0, NULL, NULL, err);
    return rc;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);

    if (!doc)
        fprintf(stderr, "bad test JSON: %s: %s\n", jerr.text, text);
    REQUIRE(doc != NULL);
    return doc;
}

/* A new event of task_id at BASE_MS + offset_ms with result (JSON text,
 * may be NULL). Caller json_decrefs. */
static json_t *event(const char *event_id, const char *task_id, const char *state,
                     int64_t offset_ms, const char *result)
{
    char at[40];
    json_t *ev;

    df_time_format(BASE_MS + offset_ms, at, sizeof(at));
    ev = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "event_id", event_id, "task_id",
                   task_id, "attempt", 1, "state", state, "at", at, "worker", "w-lineage", "type",
                   "lineage", "connector", "pg-src");
    REQUIRE(ev != NULL);
    if (result)
        json_object_set_new(ev, "result", parse(result));
    if (strcmp(state, DF_STATE_FAILED) == 0)
        json_object_set_new(ev, "error", json_pack("{s:s, s:s}", "code", "x", "message", "y"));
    return ev;
}

/* Record the events (a NULL-ended list, each consumed) as one batch. */
static void record(json_t *first, ...)
{
    json_t *records = json_array(), *ev = first;
    PGresult *rows = NULL;
    long long inserted, dlq_inserted;
    df_error_t err;
    va_list ap;

    df_error_init(&err);
    va_start(ap, first);
    while (ev) {
        json_t *rec = df_recorder_record_new(ev, &err);
        CHECK_MSG(rec != NULL, "%s", err.message);
        if (rec)
            json_array_append_new(records, rec);
        json_decref(ev);
        ev = va_arg(ap, json_t *);
    }
    va_end(ap);
    CHECK_MSG(df_recorder_sql_write(pg, records, NULL, &rows, &inserted, &dlq_inserted, &err) ==
                  DF_OK,
              "%s", err.message);
    PQclear(rows);
    json_decref(records);
}

/* The whole graph as text: one line per node and edge, sorted, with
 * times as milliseconds after BASE_MS. Caller frees. */
static char *graph(void)
{
    static const char sql[] =
        "SELECT string_agg(line, E'\\n' ORDER BY line) FROM ("
        " SELECT 'N ' || namespace || ' ' || name || ' ' || kind || ' ' || attrs::text || ' '"
        "        || (extract(epoch FROM first_seen) * 1000 - $1::bigint)::bigint || ' '"
        "        || (extract(epoch FROM last_seen) * 1000 - $1::bigint)::bigint || ' '"
        "        || COALESCE(task_id, '-') AS line FROM lineage_nodes"
        " UNION ALL"
        " SELECT 'E ' || f.namespace || '|' || f.name || ' -' || e.kind || '-> ' || t.namespace"
        "        || '|' || t.name || ' ' || e.attrs::text || ' '"
        "        || (extract(epoch FROM e.first_seen) * 1000 - $1::bigint)::bigint || ' '"
        "        || (extract(epoch FROM e.last_seen) * 1000 - $1::bigint)::bigint || ' '"
        "        || COALESCE(e.task_id, '-')"
        "   FROM lineage_edges e JOIN lineage_nodes f ON f.id = e.from_node"
        "   JOIN lineage_nodes t ON t.id = e.to_node) AS g";
    char base[32];
    const char *params[1] = { base };
    df_error_t err;
    PGresult *res;
    char *out;

    snprintf(base, sizeof(base), "%lld", BASE_MS);
    df_error_init(&err);
    res = df_pg_exec(pg, sql, 1, params, &err);
    REQUIRE(res != NULL);
    out = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

static void check_graph(const char *want)
{
    char *got = graph();
    CHECK_MSG(strcmp(got, want) == 0, "graph:\n%s\nexpected:\n%s", got, want);
    free(got);
}

static long long count(const char *sql)
{
    df_error_t err;
    PGresult *res;
    long long n;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, 0, NULL, &err);
    REQUIRE(res != NULL);
    n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static void clear(void)
{
    df_error_t err;
    df_error_init(&err);
    REQUIRE(df_pg_run(pg, "TRUNCATE lineage_edges, lineage_nodes, task_events, task_logs, tasks", 0,
                      NULL, NULL, &err) == DF_OK);
}

#define V1_RESULT                                                                          \
    "{\"lineage\": {\"nodes\": ["                                                          \
    "{\"namespace\": \"postgres://db:5432\", \"name\": \"app.public.orders\", \"kind\": "  \
    "\"table\"},"                                                                          \
    "{\"namespace\": \"postgres://db:5432\", \"name\": \"app.public.v_sales\", \"kind\": " \
    "\"view\", \"attrs\": {\"owner\": \"ana\"}}],"                                         \
    "\"edges\": [{\"from\": {\"namespace\": \"postgres://db:5432\", \"name\": "            \
    "\"app.public.orders\"}, \"to\": {\"namespace\": \"postgres://db:5432\", \"name\": "   \
    "\"app.public.v_sales\"}, \"kind\": \"feeds\", \"attrs\": {\"columns\": [\"id\"]}}]}}"

#define V1_GRAPH                                                                             \
    "E postgres://db:5432|app.public.orders -feeds-> postgres://db:5432|app.public.v_sales " \
    "{\"columns\": [\"id\"]} 1000 1000 T1\n"                                                 \
    "N postgres://db:5432 app.public.orders table {} 1000 1000 T1\n"                         \
    "N postgres://db:5432 app.public.v_sales view {\"owner\": \"ana\"} 1000 1000 T1"

static void test_merge_and_idempotence(void)
{
    clear();
    record(event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT), NULL);
    check_graph(V1_GRAPH);
    /* (b) again, alone and in a batch with a copy of itself */
    record(event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT), NULL);
    check_graph(V1_GRAPH);
    record(event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT),
           event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT), NULL);
    check_graph(V1_GRAPH);
    CHECK_INT(count("SELECT count(*) FROM task_events"), 1);
}

static void test_later_and_older_reports(void)
{
    clear();
    record(event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT), NULL);
    /* (c) a later report: the view is now a table with other attrs, by T2 */
    record(event("E2", "T2", DF_STATE_SUCCEEDED, 5000,
                 "{\"lineage\": {\"nodes\": [{\"namespace\": \"postgres://db:5432\", \"name\": "
                 "\"app.public.v_sales\", \"kind\": \"table\", \"attrs\": {\"owner\": \"bo\"}}]}}"),
           NULL);
    check_graph(
        "E postgres://db:5432|app.public.orders -feeds-> postgres://db:5432|app.public.v_sales "
        "{\"columns\": [\"id\"]} 1000 1000 T1\n"
        "N postgres://db:5432 app.public.orders table {} 1000 1000 T1\n"
        "N postgres://db:5432 app.public.v_sales table {\"owner\": \"bo\"} 1000 5000 T2");
    /* an older report recorded late: only first_seen moves back */
    record(event("E0", "T0", DF_STATE_SUCCEEDED, 200, V1_RESULT), NULL);
    check_graph(
        "E postgres://db:5432|app.public.orders -feeds-> postgres://db:5432|app.public.v_sales "
        "{\"columns\": [\"id\"]} 200 1000 T1\n"
        "N postgres://db:5432 app.public.orders table {} 200 1000 T1\n"
        "N postgres://db:5432 app.public.v_sales table {\"owner\": \"bo\"} 200 5000 T2");
}

static void test_same_node_twice_in_batch(void)
{
    clear();
    /* (d) one batch, two events naming the same node and edge; and one
     * result naming a node twice (the later entry wins) */
    record(event("E1", "T1", DF_STATE_SUCCEEDED, 1000, V1_RESULT),
           event("E2", "T2", DF_STATE_SUCCEEDED, 2000,
                 "{\"lineage\": {\"nodes\": ["
                 "{\"namespace\": \"postgres://db:5432\", \"name\": \"app.public.orders\", "
                 "\"kind\": \"view\"},"
                 "{\"namespace\": \"postgres://db:5432\", \"name\": \"app.public.orders\", "
                 "\"kind\": \"table\", \"attrs\": {\"n\": 2}},"
                 "{\"namespace\": \"postgres://db:5432\", \"name\": \"app.public.v_sales\", "
                 "\"kind\": \"view\", \"attrs\": {\"owner\": \"ana\"}}],"
                 "\"edges\": [{\"from\": {\"namespace\": \"postgres://db:5432\", \"name\": "
                 "\"app.public.orders\"}, \"to\": {\"namespace\": \"postgres://db:5432\", "
                 "\"name\": \"app.public.v_sales\"}}]}}"),
           NULL);
    check_graph(
        "E postgres://db:5432|app.public.orders -feeds-> postgres://db:5432|app.public.v_sales "
        "{} 1000 2000 T2\n"
        "N postgres://db:5432 app.public.orders table {\"n\": 2} 1000 2000 T2\n"
        "N postgres://db:5432 app.public.v_sales view {\"owner\": \"ana\"} 1000 2000 T2");
}

#define KIND65 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"

static void test_wrong_shapes_skipped(void)
{
    static const char *const whole[] = {
        "{\"lineage\": \"x\"}",
        "{\"lineage\": {\"nodes\": {}}}",
        "{\"lineage\": {\"nodes\": [], \"edges\": 3}}",
        "{\"lineage\": []}",
    };
    char id[8];

    clear();
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        snprintf(id, sizeof(id), "W%zu", i);
        record(event(id, id, DF_STATE_SUCCEEDED, 1000, whole[i]), NULL);
    }
    CHECK_INT(count("SELECT count(*) FROM task_events"), 4);
    CHECK_INT(count("SELECT count(*) FROM tasks WHERE state = 'succeeded'"), 4);
    CHECK_INT(count("SELECT count(*) FROM lineage_nodes"), 0);

    /* item by item: only the good node and the edge between good nodes stay */
    record(event("P1", "P1", DF_STATE_SUCCEEDED, 1000,
                 "{\"lineage\": {\"nodes\": ["
                 "{\"namespace\": \"file://h\", \"name\": \"/a.csv\", \"kind\": \"file\"},"
                 "{\"namespace\": \"file://h\", \"name\": \"/b.csv\", \"kind\": \"file\"},"
                 "{\"namespace\": \"file://h\", \"name\": \"/no-kind.csv\"},"
                 "{\"namespace\": \"file://h\", \"name\": \"/attrs.csv\", \"kind\": \"file\", "
                 "\"attrs\": [1]},"
                 "{\"namespace\": \"file://h\", \"name\": \"/long-kind.csv\", \"kind\": "
                 "\"" KIND65 "\"},"
                 "{\"namespace\": \"\", \"name\": \"/empty-ns\", \"kind\": \"file\"},"
                 "7],"
                 "\"edges\": ["
                 "{\"from\": {\"namespace\": \"file://h\", \"name\": \"/a.csv\"}, "
                 "\"to\": {\"namespace\": \"file://h\", \"name\": \"/b.csv\"}},"
                 "{\"from\": {\"namespace\": \"file://h\", \"name\": \"/a.csv\"}, "
                 "\"to\": {\"namespace\": \"file://h\", \"name\": \"/unknown.csv\"}},"
                 "{\"from\": {\"namespace\": \"file://h\", \"name\": \"/a.csv\"}, "
                 "\"to\": {\"namespace\": \"file://h\", \"name\": \"/b.csv\"}, \"kind\": 5},"
                 "{\"from\": \"file://h/a.csv\", \"to\": {\"namespace\": \"file://h\", "
                 "\"name\": \"/b.csv\"}}]}}"),
           NULL);
    check_graph("E file://h|/a.csv -feeds-> file://h|/b.csv {} 1000 1000 P1\n"
                "N file://h /a.csv file {} 1000 1000 P1\n"
                "N file://h /b.csv file {} 1000 1000 P1");
    CHECK_INT(count("SELECT count(*) FROM task_events WHERE task_id = 'P1'"), 1);
}

static void test_not_succeeded_ignored(void)
{
    clear();
    record(event("F1", "F1", DF_STATE_FAILED, 1000, V1_RESULT),
           event("R1", "R1", DF_STATE_RUNNING, 1000, V1_RESULT), NULL);
    CHECK_INT(count("SELECT count(*) FROM task_events"), 2);
    CHECK_INT(count("SELECT count(*) FROM lineage_nodes"), 0);
}

int main(void)
{
    const char *url = df_test_env("DATAFLEET_DATABASE_URL");
    char suffix[16];
    df_error_t err;
    int rc;

    df_log_init("lineage-merge-test", DF_LOG_ERROR);
    df_error_init(&err);
    admin = df_pg_new(url, &err);
    REQUIRE(admin != NULL);
    df_id_ulid(suffix);
    suffix[10] = '\0';
    snprintf(db_name, sizeof(db_name), "df_lmerge_%s", suffix);
    for (char *p = db_name; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    REQUIRE(database_ddl("CREATE DATABASE", "", &err) == DF_OK);
    df_test_url_with_dbname(url, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    REQUIRE(pg && df_pg_migrate(pg, NULL, NULL, &err) == DF_OK);

    RUN(test_merge_and_idempotence);
    RUN(test_later_and_older_reports);
    RUN(test_same_node_twice_in_batch);
    RUN(test_wrong_shapes_skipped);
    RUN(test_not_succeeded_ignored);

    rc = df_test_done();
    df_pg_destroy(pg);
    df_error_init(&err);
    database_ddl("DROP DATABASE", " WITH (FORCE)", &err);
    df_pg_destroy(admin);
    return rc;
}
