/* postgres: the postgres source kind. Runs the task's query (its text as
 * given; values travel in `args` as bound parameters, never spliced in) on
 * a read-only session and streams the rows in libpq's single-row mode, so
 * memory holds one row at a time whatever the result's size. Column types
 * come from the described statement before any row is read: integers ->
 * INT, float4/float8/numeric -> FLOAT (numeric declared with more than 15
 * digits of precision -> STRING, exact), bool, date, timestamp and
 * timestamptz -> DATETIME (UTC), json/jsonb/arrays -> JSON, anything else
 * -> STRING. A query the server refuses is a permanent DF_ERR_INVALID; a
 * lost or unreachable server is retryable.
 *
 * Lineage: before the rows, the query's plan (EXPLAIN, not run) names the
 * relations it scans; they become df_source_lineage's inputs, so an
 * export's edge starts at the tables its query reads (a view's own tables:
 * the planner expands views). Best effort: a plan that cannot be had
 * leaves the inputs empty, never fails the export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_log.h"
#include "df_pg.h"
#include "source_internal.h"

#define PG_STATEMENT      "df_source"
#define NUMERIC_EXACT_MAX 15 /* digits a double holds exactly */

/* Type OIDs of pg_type.dat (stable across releases). */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_DATE = 1082,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

/* How a column's text is read. */
typedef enum pg_conv {
    CONV_TEXT,     /* STRING (and exact numeric) */
    CONV_INT,      /* INT */
    CONV_FLOAT,    /* FLOAT */
    CONV_BOOL,     /* 't' / 'f' */
    CONV_DATE,     /* DATE */
    CONV_DATETIME, /* DATETIME */
    CONV_JSON,     /* JSON kept as is */
    CONV_ARRAY,    /* a PostgreSQL array literal -> JSON */
} pg_conv_t;

/* How array elements become JSON. */
typedef enum pg_elem {
    ELEM_STRING,
    ELEM_NUMBER,
    ELEM_BOOL,
    ELEM_JSON,
} pg_elem_t;

typedef struct pg_src {
    df_source_t base;
    df_pg_t *pg;
    PGresult *pending; /* a row result read ahead, or NULL */
    bool running;      /* the query's results are not all read */
    pg_conv_t *conv;
    pg_elem_t *elem;
    int64_t row;
    char *scratch; /* array -> JSON text */
    size_t scratch_len, scratch_cap;
    bool scratch_oom;
} pg_src_t;

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

/* A failed result (res may be NULL) -> err: permanent DF_ERR_INVALID
 * naming /params/source/query when the server refused the query,
 * retryable DF_ERR_PG for connection and transient failures. */
static df_code_t query_error(pg_src_t *p, const PGresult *res, df_error_t *err)
{
    df_pg_result_error(p->pg, res, "query", err);
    if (err && !err->retryable) {
        err->code = DF_ERR_INVALID;
        snprintf(err->field, sizeof(err->field), "%s", SRC_PATH "/query");
    }
    return err ? err->code : DF_ERR_PG;
}

/* ---- arrays -> JSON ---------------------------------------------------------- */

static bool put(pg_src_t *p, const char *s, size_t len)
{
    if (p->scratch_cap - p->scratch_len < len) {
        size_t cap = p->scratch_cap ? p->scratch_cap : 256;
        char *buf;
        while (cap - p->scratch_len < len)
            cap *= 2;
        buf = realloc(p->scratch, cap);
        if (!buf) {
            p->scratch_oom = true;
            return false;
        }
        p->scratch = buf;
        p->scratch_cap = cap;
    }
    memcpy(p->scratch + p->scratch_len, s, len);
    p->scratch_len += len;
    return true;
}

static bool put_json_string(pg_src_t *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!put(p, "\"", 1))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        bool ok;
        if (c == '"' || c == '\\') {
            char two[2] = { '\\', (char)c };
            ok = put(p, two, 2);
        } else if (c < 0x20) {
            ok = put(p, esc, 6);
        } else {
            ok = put(p, (const char *)&s[i], 1);
        }
        if (!ok)
            return false;
    }
    return put(p, "\"", 1);
}

/* One element's text (unescaped) as JSON. */
static bool put_element(pg_src_t *p, pg_elem_t kind, const char *s, size_t len)
{
    double f;
    switch (kind) {
    case ELEM_NUMBER:
        if (src_parse_float(s, len, &f))
            return put(p, s, len);
        return put_json_string(p, s, len); /* NaN, Infinity */
    case ELEM_BOOL:
        if (len == 1 && (s[0] == 't' || s[0] == 'f'))
            return s[0] == 't' ? put(p, "true", 4) : put(p, "false", 5);
        return put_json_string(p, s, len);
    case ELEM_JSON: return put(p, s, len);
    case ELEM_STRING: break;
    }
    return put_json_string(p, s, len);
}

/* Parse the array literal at *s (after an optional "[1:2]=" dimension
 * prefix) into JSON: nested braces become nested arrays, unquoted NULL
 * becomes null. false on a malformed literal or out of memory. */
static bool array_to_json(pg_src_t *p, pg_elem_t kind, const char **s, const char *end,
                          char *elem_buf, size_t elem_cap)
{
    const char *c = *s;
    bool first = true;

    if (c >= end || *c != '{' || !put(p, "[", 1))
        return false;
    c++;
    while (c < end && *c != '}') {
        if (!first) {
            if (*c != ',' || !put(p, ",", 1))
                return false;
            c++;
        }
        first = false;
        while (c < end && *c == ' ')
            c++;
        if (c < end && *c == '{') {
            if (!array_to_json(p, kind, &c, end, elem_buf, elem_cap))
                return false;
        } else if (c < end && *c == '"') {
            size_t n = 0;
            c++;
            while (c < end && *c != '"') {
                if (*c == '\\' && c + 1 < end)
                    c++;
                if (n + 1 >= elem_cap)
                    return false;
                elem_buf[n++] = *c++;
            }
            if (c >= end)
                return false;
            c++;
            if (!put_element(p, kind, elem_buf, n))
                return false;
        } else {
            const char *start = c;
            size_t n;
            while (c < end && *c != ',' && *c != '}')
                c++;
            n = (size_t)(c - start);
            while (n && start[n - 1] == ' ')
                n--;
            if (n == 4 && strncasecmp(start, "NULL", 4) == 0) {
                if (!put(p, "null", 4))
                    return false;
            } else if (!put_element(p, kind, start, n)) {
                return false;
            }
        }
        while (c < end && *c == ' ')
            c++;
    }
    if (c >= end || !put(p, "]", 1))
        return false;
    *s = c + 1;
    return true;
}

static df_code_t cell_from_array(pg_src_t *p, df_chunk_t *chunk, df_cell_t *cell, pg_elem_t kind,
                                 const char *text, size_t len, const src_where_t *where,
                                 df_error_t *err)
{
    const char *s = text, *end = text + len;
    char *elem = malloc(len + 1);
    bool ok;

    if (!elem)
        return nomem(err);
    p->scratch_len = 0;
    p->scratch_oom = false;
    if (len && *s == '[') { /* "[0:1]={...}": bounds other than the default */
        const char *eq = memchr(s, '=', len);
        s = eq ? eq + 1 : end;
    }
    ok = array_to_json(p, kind, &s, end, elem, len + 1) && s == end;
    free(elem);
    if (!ok)
        return p->scratch_oom ? nomem(err) : src_value_error(where, "array", text, len, err);
    return df_chunk_set_str(chunk, cell, p->scratch, p->scratch_len) ? DF_OK : nomem(err);
}

/* ---- rows -------------------------------------------------------------------- */

static df_code_t read_row(pg_src_t *p, const PGresult *res, df_chunk_t *chunk, df_error_t *err)
{
    df_cell_t *cells = df_chunk_add_row(chunk);

    if (!cells)
        return nomem(err);
    p->row++;
    for (size_t c = 0; c < p->base.ncols; c++) {
        const df_column_t *col = &p->base.columns[c];
        const char *v;
        size_t len;
        src_where_t where = { p->row, col->name, NULL };
        df_code_t rc = DF_OK;

        if (PQgetisnull(res, 0, (int)c))
            continue;
        v = PQgetvalue(res, 0, (int)c);
        len = (size_t)PQgetlength(res, 0, (int)c);
        switch (p->conv[c]) {
        case CONV_BOOL:
            cells[c].null = false;
            cells[c].v.b = v[0] == 't';
            break;
        case CONV_FLOAT:
            if (!src_parse_float(v, len, &cells[c].v.f))
                rc = src_value_error(&where, "a finite number that fits a double", v, len, err);
            else
                cells[c].null = false;
            break;
        case CONV_ARRAY:
            rc = cell_from_array(p, chunk, &cells[c], p->elem[c], v, len, &where, err);
            break;
        case CONV_TEXT:
        case CONV_JSON: rc = df_chunk_set_str(chunk, &cells[c], v, len) ? DF_OK : nomem(err); break;
        case CONV_INT:
        case CONV_DATE:
        case CONV_DATETIME:
            rc = src_cell_from_text(chunk, &cells[c], col->type, v, len, &where, err);
            break;
        }
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

/* Read what is left of the query's results (after its end or an error). */
static void drain(pg_src_t *p)
{
    PGresult *res;
    while ((res = PQgetResult(df_pg_conn(p->pg))) != NULL)
        PQclear(res);
    p->running = false;
}

static df_code_t pg_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err)
{
    pg_src_t *p = (pg_src_t *)src;

    while (p->running && chunk->nrows < max_rows) {
        PGresult *res = p->pending ? p->pending : PQgetResult(df_pg_conn(p->pg));
        df_code_t rc = DF_OK;

        p->pending = NULL;
        if (!res) {
            p->running = false;
            break;
        }
        switch (PQresultStatus(res)) {
        case PGRES_SINGLE_TUPLE: rc = read_row(p, res, chunk, err); break;
        case PGRES_TUPLES_OK:
            PQclear(res);
            drain(p);
            return DF_OK;
        default:
            rc = query_error(p, res, err);
            if (err)
                df_error_prefix(err, "row %lld", (long long)p->row + 1);
            PQclear(res);
            drain(p);
            return rc;
        }
        PQclear(res);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static void pg_close(df_source_t *src)
{
    pg_src_t *p = (pg_src_t *)src;

    PQclear(p->pending);
    if (p->running && p->pg) {
        /* Stop the server's work before hanging up. */
        PGcancel *cancel = PQgetCancel(df_pg_conn(p->pg));
        char errbuf[256];
        if (cancel) {
            PQcancel(cancel, errbuf, sizeof(errbuf));
            PQfreeCancel(cancel);
        }
    }
    df_pg_destroy(p->pg);
    free(p->conv);
    free(p->elem);
    free(p->scratch);
    src_base_free(src);
    free(p);
}

static const src_ops_t pg_ops = { "postgres", pg_next, pg_close };

static const char *const pg_settings[] = { "kind", "query", "args", "url", NULL };

/* ---- opening ------------------------------------------------------------------ */

/* `args` as text parameters: strings as they are, numbers in decimal,
 * booleans "true"/"false", null as SQL NULL. texts[] keeps the numbers'
 * text (caller frees each). */
static df_code_t read_args(const json_t *source, const char ***params, char ***texts, int *n,
                           df_error_t *err)
{
    const json_t *args = json_object_get(source, "args");
    size_t count;

    *params = NULL;
    *texts = NULL;
    *n = 0;
    if (!args || json_is_null(args))
        return DF_OK;
    if (!json_is_array(args) || json_array_size(args) > 65535)
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/args",
                            SRC_PATH "/args: expected an array of strings, numbers, booleans or "
                                     "nulls");
    count = json_array_size(args);
    *params = calloc(count ? count : 1, sizeof(char *));
    *texts = calloc(count ? count : 1, sizeof(char *));
    if (!*params || !*texts)
        return nomem(err);
    *n = (int)count;
    for (size_t i = 0; i < count; i++) {
        const json_t *a = json_array_get(args, i);
        char num[64];
        if (json_is_string(a)) {
            (*params)[i] = json_string_value(a);
            continue;
        }
        if (json_is_null(a))
            continue;
        if (json_is_integer(a))
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(a));
        else if (json_is_real(a))
            snprintf(num, sizeof(num), "%.17g", json_real_value(a));
        else if (json_is_boolean(a))
            snprintf(num, sizeof(num), "%s", json_is_true(a) ? "true" : "false");
        else {
            char field[DF_ERR_FIELD_MAX];
            snprintf(field, sizeof(field), SRC_PATH "/args/%zu", i);
            return df_error_set(err, DF_ERR_INVALID, field,
                                "%s: expected a string, number, boolean or null", field);
        }
        (*texts)[i] = strdup(num);
        if (!(*texts)[i])
            return nomem(err);
        (*params)[i] = (*texts)[i];
    }
    return DF_OK;
}

/* Column conversions from the described statement: built-in scalar types
 * by OID; the others (arrays, enums, extension types) from pg_type. */
static df_code_t settle_columns(pg_src_t *p, const PGresult *desc, df_error_t *err)
{
    int n = PQnfields(desc);
    df_column_t *cols;
    char oids[4096];
    size_t used = 0;
    bool lookup = false;
    df_code_t rc = DF_OK;

    if (n == 0)
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/query",
                            SRC_PATH "/query: the statement returns no rows (not a query)");
    cols = calloc((size_t)n, sizeof(*cols));
    p->conv = calloc((size_t)n, sizeof(*p->conv));
    p->elem = calloc((size_t)n, sizeof(*p->elem));
    if (!cols || !p->conv || !p->elem) {
        free(cols);
        return nomem(err);
    }
    oids[used++] = '{';
    for (int c = 0; c < n; c++) {
        const char *name = PQfname(desc, c);
        Oid oid = PQftype(desc, c);
        df_col_type_t type = DF_COL_STRING;
        pg_conv_t conv = CONV_TEXT;

        snprintf(cols[c].name, sizeof(cols[c].name), "%s", name);
        switch (oid) {
        case OID_INT2:
        case OID_INT4:
        case OID_INT8:
        case OID_OID: type = DF_COL_INT, conv = CONV_INT; break;
        case OID_FLOAT4:
        case OID_FLOAT8: type = DF_COL_FLOAT, conv = CONV_FLOAT; break;
        case OID_NUMERIC: {
            /* typmod: ((precision << 16) | scale) + 4, or -1 when unconstrained. */
            int mod = PQfmod(desc, c);
            int precision = mod >= 4 ? ((mod - 4) >> 16) & 0xffff : 0;
            if (precision <= NUMERIC_EXACT_MAX)
                type = DF_COL_FLOAT, conv = CONV_FLOAT;
            break;
        }
        case OID_BOOL: type = DF_COL_BOOL, conv = CONV_BOOL; break;
        case OID_DATE: type = DF_COL_DATE, conv = CONV_DATE; break;
        case OID_TIMESTAMP:
        case OID_TIMESTAMPTZ: type = DF_COL_DATETIME, conv = CONV_DATETIME; break;
        case OID_JSON:
        case OID_JSONB: type = DF_COL_JSON, conv = CONV_JSON; break;
        default: {
            int w = snprintf(oids + used, sizeof(oids) - used, "%s%u", lookup ? "," : "",
                             (unsigned)oid);
            if (w > 0 && (size_t)w < sizeof(oids) - used - 2) {
                used += (size_t)w;
                lookup = true;
            }
        }
        }
        cols[c].type = type;
        p->conv[c] = conv;
    }
    oids[used++] = '}';
    oids[used] = '\0';
    if (lookup) {
        /* Arrays (category A) by their element's category. */
        const char *params[1] = { oids };
        PGresult *res = df_pg_exec(p->pg,
                                   "SELECT t.oid::int8, t.typcategory, e.oid::int8, e.typcategory "
                                   "FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem "
                                   "WHERE t.oid = ANY($1::oid[])",
                                   1, params, err);
        if (!res) {
            free(cols);
            return err ? err->code : DF_ERR_PG;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            Oid oid = (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10);
            const char *cat = PQgetvalue(res, r, 1);
            Oid elem = (Oid)strtoul(PQgetvalue(res, r, 2), NULL, 10);
            const char *ecat = PQgetvalue(res, r, 3);
            if (cat[0] != 'A')
                continue;
            for (int c = 0; c < n; c++) {
                if (PQftype(desc, c) != oid)
                    continue;
                cols[c].type = DF_COL_JSON;
                p->conv[c] = CONV_ARRAY;
                p->elem[c] = elem == OID_JSON || elem == OID_JSONB ? ELEM_JSON
                             : ecat[0] == 'N'                      ? ELEM_NUMBER
                             : ecat[0] == 'B'                      ? ELEM_BOOL
                                                                   : ELEM_STRING;
            }
        }
        PQclear(res);
    }
    if (!src_set_columns(&p->base, cols, (size_t)n))
        rc = nomem(err);
    free(cols);
    return rc;
}

/* The relations a plan (EXPLAIN's JSON, $1) scans, from the catalogue:
 * schema, name, kind as the postgres connector's lineage names them. */
static const char plan_inputs_sql[] =
    "WITH RECURSIVE p(j) AS (SELECT $1::json -> 0 -> 'Plan'"
    " UNION ALL SELECT c FROM p CROSS JOIN LATERAL json_array_elements("
    "  CASE WHEN json_typeof(p.j -> 'Plans') = 'array' THEN p.j -> 'Plans' ELSE '[]' END) AS x(c))"
    " SELECT DISTINCT n.nspname, c.relname, CASE c.relkind WHEN 'v' THEN 'view'"
    "  WHEN 'm' THEN 'materialized_view' WHEN 'f' THEN 'foreign_table' ELSE 'table' END"
    "  FROM p JOIN pg_namespace n ON n.nspname = p.j ->> 'Schema'"
    "  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.j ->> 'Relation Name'"
    " ORDER BY 1, 2";

#define INPUTS_MAX 256

/* Fill p->base.lineage: the database's namespace and the plan's inputs. */
static void plan_inputs(pg_src_t *p, const char *query, const char *const *params, int nparams)
{
    PGconn *conn = df_pg_conn(p->pg);
    const char *host = PQhost(conn), *port = PQport(conn), *db = PQdb(conn);
    char ns[300], name[600];
    size_t qlen = strlen(query);
    char *explain = malloc(qlen + 40);
    PGresult *plan = NULL, *rels = NULL;
    json_t *inputs = json_array();

    snprintf(ns, sizeof(ns), "postgres://%.200s:%.20s",
             host && *host && host[0] != '/' ? host : "localhost", port && *port ? port : "5432");
    if (!db || !*db)
        db = "postgres";
    if (explain && inputs) {
        snprintf(explain, qlen + 40, "EXPLAIN (VERBOSE, FORMAT JSON) %s", query);
        plan = PQexecParams(conn, explain, nparams, NULL, params, NULL, NULL, 0);
        if (plan && PQresultStatus(plan) == PGRES_TUPLES_OK && PQntuples(plan) == 1) {
            const char *text = PQgetvalue(plan, 0, 0);
            rels = PQexecParams(conn, plan_inputs_sql, 1, NULL, &text, NULL, NULL, 0);
        }
        if (rels && PQresultStatus(rels) == PGRES_TUPLES_OK) {
            for (int i = 0; i < PQntuples(rels) && i < INPUTS_MAX; i++) {
                snprintf(name, sizeof(name), "%.128s.%.200s.%.200s", db, PQgetvalue(rels, i, 0),
                         PQgetvalue(rels, i, 1));
                json_array_append_new(inputs, json_pack("{s:s, s:s, s:s}", "namespace", ns, "name",
                                                        name, "kind", PQgetvalue(rels, i, 2)));
            }
        } else {
            df_debug("source postgres: no plan for the lineage inputs: %s",
                     PQresultErrorMessage(rels ? rels : plan));
        }
    }
    PQclear(plan);
    PQclear(rels);
    free(explain);
    p->base.lineage =
        inputs ? json_pack("{s:s, s:s, s:o}", "namespace", ns, "database", db, "inputs", inputs)
               : NULL;
}

/* Prepare and describe the query, then start it in single-row mode. */
static df_code_t start_query(pg_src_t *p, const char *query, const char *const *params, int nparams,
                             df_error_t *err)
{
    PGconn *conn = df_pg_conn(p->pg);
    PGresult *res;
    df_code_t rc;

    res = PQprepare(conn, PG_STATEMENT, query, 0, NULL);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = query_error(p, res, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    res = PQdescribePrepared(conn, PG_STATEMENT);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = query_error(p, res, err);
        PQclear(res);
        return rc;
    }
    if (PQnparams(res) != nparams) {
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/args",
                          SRC_PATH "/args: the query has %d parameter%s, args gives %d",
                          PQnparams(res), PQnparams(res) == 1 ? "" : "s", nparams);
        PQclear(res);
        return rc;
    }
    rc = settle_columns(p, res, err);
    PQclear(res);
    if (rc != DF_OK)
        return rc;
    plan_inputs(p, query, params, nparams);
    if (!PQsendQueryPrepared(conn, PG_STATEMENT, nparams, params, NULL, NULL, 0))
        return query_error(p, NULL, err);
    p->running = true;
    if (!PQsetSingleRowMode(conn))
        return df_error_set(err, DF_ERR_INTERNAL, "PQsetSingleRowMode",
                            "postgres: single-row mode refused");
    /* Read the first result now: an error at execution start shows at open. */
    p->pending = PQgetResult(conn);
    if (p->pending && PQresultStatus(p->pending) != PGRES_SINGLE_TUPLE &&
        PQresultStatus(p->pending) != PGRES_TUPLES_OK) {
        rc = query_error(p, p->pending, err);
        PQclear(p->pending);
        p->pending = NULL;
        drain(p);
        return rc;
    }
    return DF_OK;
}

df_source_t *src_postgres_open(const json_t *source, const df_source_env_t *env, df_error_t *err)
{
    pg_src_t *p = calloc(1, sizeof(*p));
    const char *query = NULL, *url = NULL;
    const char **params = NULL;
    char **texts = NULL;
    int nparams = 0;
    df_code_t rc;

    if (!p) {
        nomem(err);
        return NULL;
    }
    src_base_init(&p->base, &pg_ops, env);
    rc = src_check_keys(source, SRC_PATH, "kind postgres", pg_settings, err);
    if (rc == DF_OK)
        rc = src_get_str(source, SRC_PATH, "query", true, NULL, &query, err);
    if (rc == DF_OK)
        rc = src_get_str(source, SRC_PATH, "url", false, env ? env->database_url : NULL, &url, err);
    if (rc == DF_OK && (!url || !*url))
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/url",
                          SRC_PATH "/url: no database: set url, or the worker's --database-url");
    if (rc == DF_OK)
        rc = read_args(source, &params, &texts, &nparams, err);
    if (rc == DF_OK) {
        p->pg = df_pg_new(url, err);
        if (!p->pg)
            rc = err ? err->code : DF_ERR_PG;
    }
    /* A read-only session in UTC with ISO dates: timestamps come back as
     * "YYYY-MM-DD HH:MM:SS+00". */
    if (rc == DF_OK)
        rc = df_pg_run(p->pg,
                       "SELECT set_config('TimeZone', 'UTC', false), "
                       "set_config('DateStyle', 'ISO, YMD', false), "
                       "set_config('default_transaction_read_only', 'on', false)",
                       0, NULL, NULL, err);
    if (rc == DF_OK)
        rc = start_query(p, query, params, nparams, err);
    for (int i = 0; texts && i < nparams; i++)
        free(texts[i]);
    free(texts);
    free(params);
    if (rc != DF_OK) {
        if (err && err->code != DF_ERR_INVALID)
            df_error_prefix(err, "source postgres");
        pg_close(&p->base);
        return NULL;
    }
    df_debug("source postgres: %zu columns, streaming", p->base.ncols);
    return &p->base;
}
