/* df_pg: the PostgreSQL connection datafleet programs keep history and
 * control data with: connect from a URL, parameterised statements only
 * (values travel as parameters, never spliced into SQL), libpq errors
 * turned into df_error_t carrying the SQLSTATE, transactions, reconnect
 * with backoff, and the schema migrations of schemas/sql.
 *
 * Passwords never appear in error messages or log lines: they are removed
 * from every message built here and registered with df_log_redact_add.
 *
 * A df_pg_t is one connection: use it from one thread at a time. libpq's
 * PGresult is the result type (read it with PQgetvalue & co, free it with
 * PQclear). */
#ifndef DF_PG_H
#define DF_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"

#define DF_PG_WHERE_MAX           512
#define DF_PG_MIGRATION_FILES_MAX 1000
#define DF_PG_MIGRATION_SIZE_MAX  (4 * 1024 * 1024)
#define DF_PG_CONNECT_TIMEOUT_S   "10"

typedef struct df_pg df_pg_t;

/* Connect to url: a libpq URI (postgresql://user:pw@host:port/db?...) or a
 * key=value conninfo string. connect_timeout defaults to
 * DF_PG_CONNECT_TIMEOUT_S seconds and application_name to "datafleet"
 * unless the URL sets them. Returns NULL with err set (field "08001"):
 * DF_ERR_INVALID for a malformed URL, DF_ERR_AUTH when the server refused
 * the credentials, DF_ERR_PG otherwise: retryable when the server could
 * not be reached or is starting, not when the database or role does not
 * exist. Caller destroys. */
df_pg_t *df_pg_new(const char *url, df_error_t *err);

/* Close and free. NULL is a no-op. */
void df_pg_destroy(df_pg_t *pg);

/* The libpq connection (borrowed; replaced by nothing: df_pg_reconnect
 * resets it in place). For libpq calls df_pg does not wrap (COPY,
 * LISTEN/NOTIFY). */
PGconn *df_pg_conn(df_pg_t *pg);

/* "host=... port=... dbname=... user=..." of this connection, for messages
 * (borrowed; never holds the password). */
const char *df_pg_where(const df_pg_t *pg);

/* True when the connection is usable (PQstatus is CONNECTION_OK). */
bool df_pg_connected(const df_pg_t *pg);

/* Run one statement with text parameters ($1..$n; params[i] NULL is SQL
 * NULL). Returns the result (caller PQclears) when it succeeded (rows or
 * command), or NULL with DF_ERR_PG: err->field is the five-character
 * SQLSTATE ("08006" when the connection was lost), the message is
 * "postgres: SQLSTATE XXXXX: <primary message>", retryable for
 * connection, serialization, deadlock, lock-timeout, resource and
 * shutdown errors. sql must be a constant: values go in params. */
PGresult *df_pg_exec(df_pg_t *pg, const char *sql, int nparams, const char *const *params,
                     df_error_t *err);

/* df_pg_exec for statements whose rows are not needed: frees the result;
 * *rows (may be NULL) gets PQcmdTuples as a number (0 when none). */
df_code_t df_pg_run(df_pg_t *pg, const char *sql, int nparams, const char *const *params,
                    long long *rows, df_error_t *err);

df_code_t df_pg_begin(df_pg_t *pg, df_error_t *err);
df_code_t df_pg_commit(df_pg_t *pg, df_error_t *err);
/* Roll back the open transaction; a no-op when none is open or the
 * connection is gone (it has rolled back by itself). */
df_code_t df_pg_rollback(df_pg_t *pg, df_error_t *err);

/* A failed result -> err, exactly as df_pg_exec reports it: for callers
 * that use libpq directly (COPY, the multi-statement migration files). res
 * may be NULL (the failure is then read from the connection); context (may
 * be NULL) names what ran and prefixes the message. Returns DF_ERR_PG. */
df_code_t df_pg_result_error(df_pg_t *pg, const PGresult *res, const char *context,
                             df_error_t *err);

/* The SQLSTATE of an error set by df_pg ("" when err is not a df_pg
 * error). */
const char *df_pg_sqlstate(const df_error_t *err);

/* Reset the connection, retrying with exponential backoff (100 ms doubling
 * to 5 s, full jitter) until it works or timeout_ms has passed; then the
 * last failure as df_pg_new reports it. Each attempt can itself take up to
 * connect_timeout. A connection that is fine is reset too (callers use
 * this after a failure); an open transaction is lost. */
df_code_t df_pg_reconnect(df_pg_t *pg, int timeout_ms, df_error_t *err);

/* ident quoted as an SQL identifier by PQescapeIdentifier: for the rare
 * statement where an identifier, not a value, varies (creating a scratch
 * database in tests). Caller frees with free(). NULL with err set on
 * failure. */
char *df_pg_escape_identifier(df_pg_t *pg, const char *ident, df_error_t *err);

/* ---- migrations (df_pg_migrate.c) ---- */

/* The default migrations folder: $DATAFLEET_MIGRATIONS_DIR, else the source
 * tree's schemas/sql when it exists (DF_SOURCE_DIR), else the installed
 * DF_DATADIR/schemas/sql. Written to buf; returns buf. */
const char *df_pg_migrations_dir(char *buf, size_t len);

/* Apply the migrations of dir (NULL: df_pg_migrations_dir) in version
 * order. Files are named NNN_name.sql (NNN: the version, 1, 2, 3, ... with
 * no gap and no duplicate); other files are ignored. Each pending file runs
 * in its own transaction, under pg_advisory_xact_lock so that programs
 * migrating at once apply each file once, and is recorded in
 * schema_migrations (version, name, sha256 checksum, applied_at), which is
 * created when missing. Files already applied are skipped.
 *
 * Refuses (DF_ERR_CONFLICT, nothing more applied) when an applied file's
 * checksum changed; DF_ERR_INVALID for a badly named file, a gap or a
 * duplicate version (before touching the database); DF_ERR_PG naming the
 * file and line when a statement fails (that file is rolled back).
 * *applied (may be NULL) gets how many files were applied by this call.
 * Migration files must not contain transaction control (BEGIN/COMMIT). */
df_code_t df_pg_migrate(df_pg_t *pg, const char *dir, int *applied, df_error_t *err);

#endif
