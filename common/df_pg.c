/* df_pg: PostgreSQL connection, parameterised statements, error
 * conversion, transactions and reconnect (see df_pg.h; the migrations
 * declared there live in df_pg_migrate.c). */
#include "df_pg.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"

#define PASSWORD_MAX     256
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   5000

struct df_pg {
    PGconn *conn;
    char where[DF_PG_WHERE_MAX];
    /* Secrets to remove from messages: the password as libpq decoded it and
     * as it was written in the URL (they differ when %-escaped). */
    char password[PASSWORD_MAX];
    char password_raw[PASSWORD_MAX];
};

/* ---- secrets ------------------------------------------------------------- */

/* Replace every occurrence of needle in text (a buffer of size len) with
 * with. */
static void replace_all(char *text, size_t len, const char *needle, const char *with)
{
    char out[DF_ERR_MSG_MAX > DF_PG_WHERE_MAX ? DF_ERR_MSG_MAX : DF_PG_WHERE_MAX];
    size_t needle_len = strlen(needle), with_len = strlen(with);
    size_t o = 0;
    const char *p = text;

    if (needle_len == 0 || !strstr(text, needle))
        return;
    while (*p && o + 1 < sizeof(out)) {
        if (strncmp(p, needle, needle_len) == 0) {
            size_t n = o + with_len < sizeof(out) ? with_len : sizeof(out) - 1 - o;
            memcpy(out + o, with, n);
            o += n;
            p += needle_len;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(text, len, "%s", out);
}

/* Server and connection messages never quote the password; masking it
 * anyway is a second line of defence, for passwords long enough not to
 * mask ordinary words (the rule df_log uses). */
#define SCRUB_MIN_LEN 4

static void scrub_all(const df_pg_t *pg, char *text, size_t len)
{
    if (strlen(pg->password) >= SCRUB_MIN_LEN)
        replace_all(text, len, pg->password, "***");
    if (strlen(pg->password_raw) >= SCRUB_MIN_LEN)
        replace_all(text, len, pg->password_raw, "***");
}

/* Where the password is written in url, found without libpq: the userinfo
 * password of a URI, else the value of a password= item. *start is NULL
 * when there is none. */
static void find_raw_password(const char *url, const char **start, size_t *len)
{
    const char *p, *at = NULL, *end;

    *start = NULL;
    *len = 0;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        p = strstr(url, "://") + 3;
        end = p + strcspn(p, "/?#");
        for (const char *q = p; q < end; q++)
            if (*q == '@')
                at = q;
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            if (colon) {
                *start = colon + 1;
                *len = (size_t)(at - colon - 1);
                return;
            }
        }
    }
    p = strstr(url, "password");
    if (!p)
        return;
    p += strlen("password");
    while (*p == ' ')
        p++;
    if (*p != '=')
        return;
    p++;
    while (*p == ' ')
        p++;
    if (*p == '\'')
        p++;
    *start = p;
    *len = strcspn(p, p[-1] == '\'' ? "'" : " &#");
}

/* libpq quotes a malformed URL in its message: show it with the password
 * replaced, whatever the password's length. */
static void mask_url_in(char *text, size_t len, const char *url)
{
    char masked[DF_ERR_MSG_MAX];
    const char *start;
    size_t n;

    find_raw_password(url, &start, &n);
    if (!start || n == 0)
        return;
    snprintf(masked, sizeof(masked), "%.*s***%s", (int)(start - url), url, start + n);
    replace_all(text, len, url, masked);
    /* A message that quotes only part of the URL may still hold it. */
    if (n >= SCRUB_MIN_LEN) {
        char secret[PASSWORD_MAX];
        snprintf(secret, sizeof(secret), "%.*s", (int)n, start);
        replace_all(text, len, secret, "***");
    }
}

/* ---- errors -------------------------------------------------------------- */

static bool sqlstate_retryable(const char *state)
{
    return strncmp(state, "08", 2) == 0 || /* connection exception */
           strcmp(state, "40001") == 0 ||  /* serialization failure */
           strcmp(state, "40P01") == 0 ||  /* deadlock detected */
           strcmp(state, "55P03") == 0 ||  /* lock not available */
           strncmp(state, "53", 2) == 0 || /* insufficient resources */
           strcmp(state, "57P01") == 0 ||  /* admin shutdown */
           strcmp(state, "57P02") == 0 ||  /* crash shutdown */
           strcmp(state, "57P03") == 0 ||  /* cannot connect now */
           strcmp(state, "57014") == 0;    /* query canceled (statement timeout) */
}

/* A failed result (res may be NULL) -> err. context (may be "") names what
 * ran. */
static df_code_t result_error(const df_pg_t *pg, const PGresult *res, const char *context,
                              df_error_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* A failed connection attempt has no result: 08001, unable to connect. */
    bool connecting = strcmp(context, "connect") == 0;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char text[DF_ERR_MSG_MAX];
    size_t n;

    if (!err)
        return DF_ERR_PG;
    if (primary && *primary)
        snprintf(text, sizeof(text), "%s", primary);
    else if (res && PQresultStatus(res) == PGRES_EMPTY_QUERY)
        snprintf(text, sizeof(text), "empty query");
    else
        snprintf(text, sizeof(text), "%s", PQerrorMessage(pg->conn));
    /* libpq's own messages span lines ("...failed: Connection refused\n\tIs
     * the server running..."): one line reads better in logs. */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    if (!state || !*state)
        state = connecting ? "08001" : PQstatus(pg->conn) == CONNECTION_BAD ? "08006" : "";
    df_error_set(err, DF_ERR_PG, state, "postgres%s%s: SQLSTATE %s: %s", *context ? " " : "",
                 context, *state ? state : "?????", text);
    scrub_all(pg, err->message, sizeof(err->message));
    err->retryable = *state && sqlstate_retryable(state);
    return DF_ERR_PG;
}

df_code_t df_pg_result_error(df_pg_t *pg, const PGresult *res, const char *context, df_error_t *err)
{
    return result_error(pg, res, context ? context : "", err);
}

const char *df_pg_sqlstate(const df_error_t *err)
{
    return err && err->code == DF_ERR_PG ? err->field : "";
}

/* ---- connection ---------------------------------------------------------- */

/* "host=... port=... dbname=... user=..." from the parsed options. */
static void describe(df_pg_t *pg, const char *url)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    size_t used = 0;

    snprintf(pg->where, sizeof(pg->where), "(unparsable database URL)");
    if (!opts)
        return;
    pg->where[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            snprintf(pg->password, sizeof(pg->password), "%s", o->val);
            continue;
        }
        if (strcmp(o->keyword, "host") && strcmp(o->keyword, "hostaddr") &&
            strcmp(o->keyword, "port") && strcmp(o->keyword, "dbname") &&
            strcmp(o->keyword, "user"))
            continue;
        if (used + 1 < sizeof(pg->where)) {
            int n = snprintf(pg->where + used, sizeof(pg->where) - used, "%s%s=%s", used ? " " : "",
                             o->keyword, o->val);
            if (n > 0)
                used += (size_t)n;
        }
    }
    PQconninfoFree(opts);
}

/* Server notices (NOTICE: relation exists, skipping; WARNING: ...) go to
 * df_log instead of libpq's default, stderr. */
static void notice_cb(void *arg, const PGresult *res)
{
    const df_pg_t *pg = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char text[DF_ERR_MSG_MAX];
    bool warning = severity && strcmp(severity, "WARNING") == 0;

    if (!df_log_enabled(warning ? DF_LOG_WARN : DF_LOG_DEBUG))
        return;
    snprintf(text, sizeof(text), "%s", primary ? primary : "");
    scrub_all(pg, text, sizeof(text));
    if (warning)
        df_warn("postgres %s: %s", pg->where, text);
    else
        df_debug("postgres %s: %s: %s", pg->where, severity ? severity : "NOTICE", text);
}

/* A failed connection attempt -> err. libpq gives no SQLSTATE here: the
 * field says 08001 (unable to connect). Refused credentials and a missing
 * database or role will not fix themselves (not retryable); anything else
 * (server down, starting, unreachable) may. */
static void connect_error(const df_pg_t *pg, df_error_t *err)
{
    const char *text = PQerrorMessage(pg->conn);
    bool refused = strstr(text, "password authentication failed") ||
                   strstr(text, "no pg_hba.conf entry") || strstr(text, "does not exist");

    result_error(pg, NULL, "connect", err);
    if (!err)
        return;
    if (strstr(text, "password authentication failed") || strstr(text, "no pg_hba.conf entry"))
        err->code = DF_ERR_AUTH;
    err->retryable = !refused;
}

df_pg_t *df_pg_new(const char *url, df_error_t *err)
{
    /* Earlier keywords are defaults: the URL (expanded from dbname)
     * overrides them. */
    const char *keywords[] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
    const char *values[] = { DF_PG_CONNECT_TIMEOUT_S, "datafleet", url, NULL };
    char *parse_error = NULL;
    PQconninfoOption *check;
    df_pg_t *pg;

    if (!url || !*url) {
        df_error_set(err, DF_ERR_INVALID, "database url", "database URL: empty");
        return NULL;
    }
    pg = calloc(1, sizeof(*pg));
    if (!pg) {
        df_error_set(err, DF_ERR_NOMEM, "df_pg_new", "out of memory");
        return NULL;
    }
    {
        const char *start;
        size_t n;
        find_raw_password(url, &start, &n);
        if (start)
            snprintf(pg->password_raw, sizeof(pg->password_raw), "%.*s", (int)n, start);
    }
    check = PQconninfoParse(url, &parse_error);
    if (!check) {
        df_error_set(err, DF_ERR_INVALID, "database url", "database URL: %s",
                     parse_error ? parse_error : "out of memory");
        if (err)
            mask_url_in(err->message, sizeof(err->message), url);
        PQfreemem(parse_error);
        df_pg_destroy(pg);
        return NULL;
    }
    PQconninfoFree(check);
    describe(pg, url);
    if (pg->password[0])
        df_log_redact_add(pg->password);
    if (pg->password_raw[0])
        df_log_redact_add(pg->password_raw);
    scrub_all(pg, pg->where, sizeof(pg->where));

    pg->conn = PQconnectdbParams(keywords, values, 1);
    if (!pg->conn) {
        df_error_set(err, DF_ERR_NOMEM, "PQconnectdb", "postgres connect: out of memory");
        df_pg_destroy(pg);
        return NULL;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        connect_error(pg, err);
        df_pg_destroy(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg->conn, notice_cb, pg);
    /* The password PGPASSWORD or a .pgpass file supplied is a secret too. */
    if (!pg->password[0] && PQpass(pg->conn) && *PQpass(pg->conn)) {
        snprintf(pg->password, sizeof(pg->password), "%s", PQpass(pg->conn));
        df_log_redact_add(pg->password);
        scrub_all(pg, pg->where, sizeof(pg->where));
    }
    return pg;
}

void df_pg_destroy(df_pg_t *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    memset(pg->password, 0, sizeof(pg->password));
    memset(pg->password_raw, 0, sizeof(pg->password_raw));
    free(pg);
}

PGconn *df_pg_conn(df_pg_t *pg)
{
    return pg->conn;
}

const char *df_pg_where(const df_pg_t *pg)
{
    return pg->where;
}

bool df_pg_connected(const df_pg_t *pg)
{
    return pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
}

static df_metric_t *duration_metric, *errors_metric;

static void init_metrics(void)
{
    duration_metric = df_metric_histogram("datafleet_postgres_query_duration_seconds",
                                          "PostgreSQL statement latency.", "", NULL, 0);
    errors_metric = df_metric_counter(
        "datafleet_postgres_errors_total",
        "PostgreSQL statements that failed, by SQLSTATE class (08: connection, 40: "
        "serialization/deadlock, 23: constraint, ...).",
        "sqlstate_class");
}

/* Metrics of one statement: its latency, and its failure's SQLSTATE class. */
static void count_statement(int64_t started_ms, const df_error_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char klass[3] = "";

    pthread_once(&once, init_metrics);
    df_metric_observe(duration_metric, (double)(df_mono_ms() - started_ms) / 1000.0);
    if (err) {
        snprintf(klass, sizeof(klass), "%.2s", err->field[0] ? err->field : "XX");
        df_metric_inc(errors_metric, 1, klass);
    }
}

PGresult *df_pg_exec(df_pg_t *pg, const char *sql, int nparams, const char *const *params,
                     df_error_t *err)
{
    PGresult *res;
    ExecStatusType status;
    int64_t started = df_mono_ms();
    df_error_t local;

    if (!err) {
        df_error_init(&local);
        err = &local;
    }
    if (!df_pg_connected(pg)) {
        df_error_set(err, DF_ERR_PG, "08003",
                     "postgres: SQLSTATE 08003: connection to %s is not open (reconnect first)",
                     pg->where);
        err->retryable = true;
        count_statement(started, err);
        return NULL;
    }
    res = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    status = PQresultStatus(res);
    if (res && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)) {
        count_statement(started, NULL);
        return res;
    }
    result_error(pg, res, "", err);
    count_statement(started, err);
    PQclear(res);
    return NULL;
}

df_code_t df_pg_run(df_pg_t *pg, const char *sql, int nparams, const char *const *params,
                    long long *rows, df_error_t *err)
{
    df_error_t local;
    PGresult *res;

    df_error_init(&local);
    res = df_pg_exec(pg, sql, nparams, params, &local);
    if (!res) {
        if (err)
            *err = local;
        return local.code;
    }
    if (rows)
        *rows = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return DF_OK;
}

df_code_t df_pg_begin(df_pg_t *pg, df_error_t *err)
{
    return df_pg_run(pg, "BEGIN", 0, NULL, NULL, err);
}

df_code_t df_pg_commit(df_pg_t *pg, df_error_t *err)
{
    return df_pg_run(pg, "COMMIT", 0, NULL, NULL, err);
}

df_code_t df_pg_rollback(df_pg_t *pg, df_error_t *err)
{
    if (!df_pg_connected(pg) || PQtransactionStatus(pg->conn) == PQTRANS_IDLE)
        return DF_OK;
    return df_pg_run(pg, "ROLLBACK", 0, NULL, NULL, err);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

df_code_t df_pg_reconnect(df_pg_t *pg, int timeout_ms, df_error_t *err)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned int seed = (unsigned int)now_ms() ^ (unsigned int)getpid();
    long delay = BACKOFF_FIRST_MS;
    int attempts = 0;

    for (;;) {
        long pause;

        attempts++;
        PQreset(pg->conn);
        if (PQstatus(pg->conn) == CONNECTION_OK) {
            if (attempts > 1)
                df_info("postgres %s: reconnected after %d attempts", pg->where, attempts);
            return DF_OK;
        }
        /* Full jitter: anywhere in [0, delay]. */
        pause = (long)(rand_r(&seed) % (unsigned int)(delay + 1));
        if (now_ms() + pause >= deadline) {
            connect_error(pg, err);
            if (err)
                df_error_prefix(err, "reconnect: %d attempts in %d ms", attempts, timeout_ms);
            return err ? err->code : DF_ERR_PG;
        }
        df_debug("postgres %s: reconnect attempt %d failed, next in %ld ms", pg->where, attempts,
                 pause);
        sleep_ms(pause);
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

char *df_pg_escape_identifier(df_pg_t *pg, const char *ident, df_error_t *err)
{
    char *quoted, *copy;

    if (!ident || !*ident) {
        df_error_set(err, DF_ERR_INVALID, "identifier", "SQL identifier: empty");
        return NULL;
    }
    quoted = PQescapeIdentifier(pg->conn, ident, strlen(ident));
    if (!quoted) {
        result_error(pg, NULL, "PQescapeIdentifier", err);
        return NULL;
    }
    copy = strdup(quoted);
    PQfreemem(quoted);
    if (!copy)
        df_error_set(err, DF_ERR_NOMEM, "identifier", "out of memory");
    return copy;
}
