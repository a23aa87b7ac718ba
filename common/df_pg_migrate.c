/* df_pg_migrate: the schema migrations of schemas/sql, applied in order,
 * once, under an advisory lock, with their checksums recorded (declared in
 * df_pg.h with the rest of the PostgreSQL adapter). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "df_build.h"
#include "df_log.h"
#include "df_pg.h"

/* pg_advisory_xact_lock key of migrations: the bytes of "dfmigrat". */
#define MIGRATE_LOCK_KEY "7234590150891823476"

typedef struct migration {
    int version;
    char file[256]; /* "001_init.sql" */
} migration_t;

const char *df_pg_migrations_dir(char *buf, size_t len)
{
    const char *env = getenv("DATAFLEET_MIGRATIONS_DIR");
    struct stat st;

    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return buf;
    }
    snprintf(buf, len, "%s/schemas/sql", DF_SOURCE_DIR);
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        return buf;
    snprintf(buf, len, "%s/schemas/sql", DF_DATADIR);
    return buf;
}

/* "NNN_name.sql" -> version. Returns -1 when the name does not match. */
static int migration_version(const char *file)
{
    size_t len = strlen(file), digits = 0, i;
    long version = 0;

    while (isdigit((unsigned char)file[digits]))
        digits++;
    if (digits == 0 || digits > 9 || file[digits] != '_' || len < digits + 6 ||
        strcmp(file + len - 4, ".sql") != 0)
        return -1;
    for (i = digits + 1; i < len - 4; i++) {
        unsigned char c = (unsigned char)file[i];
        if (!(isalnum(c) || c == '_' || c == '-'))
            return -1;
    }
    for (i = 0; i < digits; i++)
        version = version * 10 + (file[i] - '0');
    return (int)version;
}

static int compare_migrations(const void *a, const void *b)
{
    const migration_t *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* The NNN_name.sql files of dir, sorted, checked for gaps and duplicates.
 * Caller frees *out. */
static df_code_t list_migrations(const char *dir, migration_t **out, size_t *count, df_error_t *err)
{
    DIR *d = opendir(dir);
    migration_t *list = NULL;
    size_t n = 0, cap = 0, i;
    struct dirent *entry;
    df_code_t rc = DF_OK;

    *out = NULL;
    *count = 0;
    if (!d) {
        rc = df_error_errno(err, "opendir", errno);
        if (err)
            df_error_prefix(err, "migrations folder %s", dir);
        return rc;
    }
    while ((entry = readdir(d)) != NULL) {
        const char *file = entry->d_name;
        size_t len = strlen(file);
        int version;

        if (file[0] == '.' || len < 4 || strcmp(file + len - 4, ".sql") != 0)
            continue;
        version = migration_version(file);
        if (version < 0 || len >= sizeof(list->file)) {
            rc = df_error_set(err, DF_ERR_INVALID, file,
                              "migration %s/%s: name must be NNN_name.sql (digits, '_', then "
                              "letters, digits, '_' or '-')",
                              dir, file);
            goto done;
        }
        if (n == cap) {
            migration_t *grown;
            if (cap >= DF_PG_MIGRATION_FILES_MAX) {
                rc = df_error_set(err, DF_ERR_INVALID, dir,
                                  "migrations folder %s: more than %d files", dir,
                                  DF_PG_MIGRATION_FILES_MAX);
                goto done;
            }
            cap = cap ? cap * 2 : 16;
            grown = realloc(list, cap * sizeof(*list));
            if (!grown) {
                rc = df_error_set(err, DF_ERR_NOMEM, dir, "out of memory");
                goto done;
            }
            list = grown;
        }
        list[n].version = version;
        snprintf(list[n].file, sizeof(list[n].file), "%s", file);
        n++;
    }
    qsort(list, n, sizeof(*list), compare_migrations);
    for (i = 0; i < n; i++) {
        if (i > 0 && list[i].version == list[i - 1].version) {
            rc = df_error_set(err, DF_ERR_INVALID, list[i].file,
                              "migrations %s and %s in %s have the same version %d",
                              list[i - 1].file, list[i].file, dir, list[i].version);
            goto done;
        }
        if (list[i].version != (int)i + 1) {
            rc = df_error_set(err, DF_ERR_INVALID, list[i].file,
                              "migrations in %s: version %d is missing (%s%s%s): versions go "
                              "1, 2, 3... without gaps",
                              dir, (int)i + 1, i ? "after " : "before ", i ? list[i - 1].file : "",
                              i ? "" : list[i].file);
            goto done;
        }
    }
done:
    closedir(d);
    if (rc != DF_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return DF_OK;
}

/* Whole file into a NUL-terminated buffer the caller frees. */
static df_code_t read_file(const char *path, char **out, size_t *len, df_error_t *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf;
    size_t got;

    *out = NULL;
    if (!f) {
        df_error_errno(err, "fopen", errno);
        df_error_prefix(err, "%s", path);
        return DF_ERR_IO;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size > DF_PG_MIGRATION_SIZE_MAX) {
        fclose(f);
        return df_error_set(err, DF_ERR_INVALID, path, "%s: unreadable or larger than %d bytes",
                            path, DF_PG_MIGRATION_SIZE_MAX);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return df_error_set(err, DF_ERR_NOMEM, path, "out of memory");
    }
    got = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (got != (size_t)st.st_size) {
        free(buf);
        return df_error_set(err, DF_ERR_IO, path, "%s: short read", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return DF_OK;
}

/* SHA-256 of the file's bytes, computed by the server (sha256(), PG 11+),
 * sent as a binary bytea parameter so no encoding touches it. */
static df_code_t file_checksum(df_pg_t *pg, const char *content, size_t len, char out[65],
                               df_error_t *err)
{
    const char *values[1] = { content };
    int lengths[1] = { (int)len };
    int formats[1] = { 1 };
    PGresult *res = PQexecParams(df_pg_conn(pg), "SELECT encode(sha256($1::bytea), 'hex')", 1, NULL,
                                 values, lengths, formats, 0);
    df_code_t rc = DF_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        rc = df_pg_result_error(pg, res, "checksum", err);
    else
        snprintf(out, 65, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* 1-based line of a 1-based character position in text (UTF-8). */
static int line_of(const char *text, long position)
{
    int line = 1;
    long chars = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) != 0x80 && ++chars >= position)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

static df_code_t lock_migrations(df_pg_t *pg, df_error_t *err)
{
    const char *params[1] = { MIGRATE_LOCK_KEY };
    return df_pg_run(pg, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params, NULL, err);
}

/* Roll back after a failure that is already in err. */
static void rollback_quietly(df_pg_t *pg)
{
    df_error_t ignored;

    df_error_init(&ignored);
    df_pg_rollback(pg, &ignored);
}

/* Apply one file in its own transaction unless already recorded. */
static df_code_t apply_migration(df_pg_t *pg, const char *dir, const migration_t *m, bool *applied,
                                 df_error_t *err)
{
    char path[4096 + 256];
    char version[16];
    char checksum[65];
    char *sql = NULL;
    size_t len = 0;
    PGresult *res = NULL;
    df_code_t rc;

    *applied = false;
    snprintf(path, sizeof(path), "%s/%s", dir, m->file);
    snprintf(version, sizeof(version), "%d", m->version);
    rc = read_file(path, &sql, &len, err);
    if (rc != DF_OK)
        return rc;
    rc = file_checksum(pg, sql, len, checksum, err);
    if (rc != DF_OK)
        goto done;
    if ((rc = df_pg_begin(pg, err)) != DF_OK || (rc = lock_migrations(pg, err)) != DF_OK)
        goto fail;
    {
        const char *params[1] = { version };
        res = df_pg_exec(pg, "SELECT checksum, name FROM schema_migrations WHERE version = $1", 1,
                         params, err);
    }
    if (!res) {
        rc = err ? err->code : DF_ERR_PG;
        goto fail;
    }
    if (PQntuples(res) == 1) {
        const char *recorded = PQgetvalue(res, 0, 0);
        if (strcmp(recorded, checksum) != 0) {
            rc = df_error_set(err, DF_ERR_CONFLICT, m->file,
                              "migration %s was changed after it was applied (recorded sha256 "
                              "%.12s..., file now %.12s...): restore the file and put the change "
                              "in a new migration",
                              path, recorded, checksum);
            goto fail;
        }
        if (strcmp(PQgetvalue(res, 0, 1), m->file) != 0)
            df_warn("migration %d applied as %s is now named %s (same content)", m->version,
                    PQgetvalue(res, 0, 1), m->file);
        rc = df_pg_rollback(pg, err);
        goto done;
    }
    PQclear(res);

    /* The one place SQL runs through PQexec without parameters: a migration
     * file is several statements, which only the simple query protocol
     * accepts. The text is a file of the release, never input. */
    res = PQexec(df_pg_conn(pg), sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
        PQresultStatus(res) != PGRES_EMPTY_QUERY) {
        const char *position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        rc = df_pg_result_error(pg, res, "", err);
        if (err) {
            if (position)
                df_error_prefix(err, "migration %s line %d", path,
                                line_of(sql, strtol(position, NULL, 10)));
            else
                df_error_prefix(err, "migration %s", path);
        }
        goto fail;
    }
    if (PQtransactionStatus(df_pg_conn(pg)) != PQTRANS_INTRANS) {
        rc = df_error_set(err, DF_ERR_INVALID, m->file,
                          "migration %s ended the transaction itself: migration files must not "
                          "contain BEGIN, COMMIT or ROLLBACK (check the database by hand)",
                          path);
        goto fail;
    }
    PQclear(res);
    {
        const char *params[3] = { version, m->file, checksum };
        res = df_pg_exec(pg,
                         "INSERT INTO schema_migrations (version, name, checksum) "
                         "VALUES ($1::integer, $2, $3)",
                         3, params, err);
    }
    if (!res) {
        rc = err ? err->code : DF_ERR_PG;
        goto fail;
    }
    rc = df_pg_commit(pg, err);
    if (rc != DF_OK)
        goto fail;
    *applied = true;
    df_info("applied migration %s", m->file);
    goto done;
fail:
    rollback_quietly(pg);
done:
    PQclear(res);
    free(sql);
    return rc;
}

df_code_t df_pg_migrate(df_pg_t *pg, const char *dir, int *applied, df_error_t *err)
{
    char default_dir[4096];
    migration_t *list = NULL;
    size_t count = 0, i;
    df_code_t rc;
    int done = 0;

    if (applied)
        *applied = 0;
    if (!dir)
        dir = df_pg_migrations_dir(default_dir, sizeof(default_dir));
    rc = list_migrations(dir, &list, &count, err);
    if (rc != DF_OK)
        return rc;

    /* The bookkeeping table, created under the same lock so two programs
     * starting together do not both try. */
    if ((rc = df_pg_begin(pg, err)) != DF_OK || (rc = lock_migrations(pg, err)) != DF_OK ||
        (rc = df_pg_run(pg,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version integer PRIMARY KEY,"
                        " name text NOT NULL,"
                        " checksum text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        0, NULL, NULL, err)) != DF_OK ||
        (rc = df_pg_commit(pg, err)) != DF_OK) {
        rollback_quietly(pg);
        free(list);
        return rc;
    }

    for (i = 0; i < count; i++) {
        bool did = false;
        rc = apply_migration(pg, dir, &list[i], &did, err);
        if (rc != DF_OK)
            break;
        done += did;
    }
    if (rc == DF_OK) {
        /* A newer program may have migrated further: say so, do not fail
         * (migrations are additive, older programs keep working). */
        char last[16];
        const char *params[1] = { last };
        PGresult *res;
        df_error_t ignored;

        snprintf(last, sizeof(last), "%zu", count);
        df_error_init(&ignored);
        res = df_pg_exec(pg,
                         "SELECT version, name FROM schema_migrations WHERE version > $1 "
                         "ORDER BY version",
                         1, params, &ignored);
        for (int r = 0; res && r < PQntuples(res); r++)
            df_warn("database has migration %s (%s) that %s does not have", PQgetvalue(res, r, 0),
                    PQgetvalue(res, r, 1), dir);
        PQclear(res);
    }
    free(list);
    if (applied)
        *applied = done;
    return rc;
}
