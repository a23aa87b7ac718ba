/* migrate_test: df_pg_migrate and df_pg against a real PostgreSQL
 * (DATAFLEET_DATABASE_URL): a fresh scratch database gets every migration
 * and every table, a second run applies nothing, two programs migrating at
 * once apply each file once, a changed applied file / a gap / a duplicate /
 * a bad name / a failing statement / transaction control are refused, and
 * df_pg errors carry the SQLSTATE, are retryable when they should be and
 * never show the password. Scratch databases are dropped at the end. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "df_pg.h"
#include "df_test.h"
#include "df_test_pg.h"

static const char *base_url;
static df_pg_t *admin;
static char scratch_names[2][64];
static char scratch_urls[2][1024];
static char work_dir[256];
static int source_files; /* migrations in the source tree */

/* The tables 001_init.sql promises (plus the bookkeeping one). */
static const char *const expected_tables =
    "{tasks,task_events,task_logs,schedules,schedule_fires,pipelines,pipeline_runs,"
    "pipeline_steps,delayed_tasks,connectors,api_tokens,audit_log,lineage_nodes,"
    "lineage_edges,schema_migrations}";
#define EXPECTED_TABLE_COUNT 15

/* ---- helpers -------------------------------------------------------------- */

/* CREATE/DROP DATABASE take an identifier, not a value: the one place SQL is
 * assembled, from PQescapeIdentifier's quoting. */
static df_code_t database_ddl(const char *verb, const char *name, const char *suffix,
                              df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, name, err);
    char sql[256];
    df_code_t rc;

    if (!quoted)
        return err->code;
    snprintf(sql, sizeof sql, "%s %s%s", verb, quoted, suffix); /* lint: allow quoted ident */
    free(quoted);
    rc = df_pg_run(admin, sql, 0, NULL, NULL, err);
    return rc;
}

static df_pg_t *connect_ok(const char *url)
{
    df_error_t err;
    df_pg_t *pg;

    df_error_init(&err);
    pg = df_pg_new(url, &err);
    CHECK_MSG(pg != NULL, "connect: %s", err.message);
    return pg;
}

static long long scalar(df_pg_t *pg, const char *sql, int nparams, const char *const *params)
{
    df_error_t err;
    PGresult *res;
    long long v = -1;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, nparams, params, &err);
    CHECK_MSG(res != NULL, "%s: %s", sql, err.message);
    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", work_dir, name);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", work_dir, name);
    unlink(path);
}

/* Copy the source tree's migrations into work_dir, so the test can add and
 * change files without touching the repository. Returns how many. */
static int copy_migrations(const char *from)
{
    DIR *d = opendir(from);
    struct dirent *entry;
    int count = 0;

    REQUIRE(d != NULL);
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        char src[2048], dst[512], buf[8192];
        FILE *in, *out;
        size_t n;

        if (len < 5 || strcmp(entry->d_name + len - 4, ".sql") != 0)
            continue;
        snprintf(src, sizeof(src), "%s/%s", from, entry->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", work_dir, entry->d_name);
        in = fopen(src, "rb");
        out = fopen(dst, "wb");
        REQUIRE(in && out);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            REQUIRE(fwrite(buf, 1, n, out) == n);
        fclose(in);
        fclose(out);
        count += isdigit((unsigned char)entry->d_name[0]) != 0;
    }
    closedir(d);
    return count;
}

/* rm -r work_dir (flat). */
static void remove_work_dir(void)
{
    DIR *d = opendir(work_dir);
    struct dirent *entry;

    if (!d)
        return;
    while ((entry = readdir(d)) != NULL)
        if (entry->d_name[0] != '.')
            remove_file(entry->d_name);
    closedir(d);
    CHECK(rmdir(work_dir) == 0);
}

static df_code_t migrate(df_pg_t *pg, int *applied, df_error_t *err)
{
    df_error_init(err);
    *applied = -1;
    return df_pg_migrate(pg, work_dir, applied, err);
}

/* ---- cases ---------------------------------------------------------------- */

static void test_default_dir(void)
{
    char buf[1024];
    char expected[1024];

    unsetenv("DATAFLEET_MIGRATIONS_DIR");
    snprintf(expected, sizeof(expected), "%s/schemas/sql", getenv("DF_SOURCE_DIR"));
    CHECK_STR(df_pg_migrations_dir(buf, sizeof(buf)), expected);
    setenv("DATAFLEET_MIGRATIONS_DIR", "/somewhere/else", 1);
    CHECK_STR(df_pg_migrations_dir(buf, sizeof(buf)), "/somewhere/else");
    unsetenv("DATAFLEET_MIGRATIONS_DIR");
}

static void test_fresh_then_again(void)
{
    df_pg_t *pg = connect_ok(scratch_urls[0]);
    df_error_t err;
    int applied;
    const char *params[1] = { expected_tables };
    PGresult *res;

    if (!pg)
        return;
    /* NULL dir: the default, which is the source tree here. */
    df_error_init(&err);
    CHECK_MSG(df_pg_migrate(pg, NULL, &applied, &err) == DF_OK, "%s", err.message);
    CHECK_INT(applied, source_files);
    CHECK(applied >= 1);
    CHECK_INT(scalar(pg,
                     "SELECT count(*) FROM information_schema.tables "
                     "WHERE table_schema = 'public' AND table_name = ANY($1::text[])",
                     1, params),
              EXPECTED_TABLE_COUNT);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM schema_migrations", 0, NULL), source_files);
    res = df_pg_exec(pg, "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
                     0, NULL, &err);
    CHECK(res != NULL);
    if (res) {
        CHECK_INT(PQntuples(res), source_files);
        CHECK_STR(PQgetvalue(res, 0, 0), "1");
        CHECK_STR(PQgetvalue(res, 0, 1), "001_init.sql");
        CHECK_INT(strlen(PQgetvalue(res, 0, 2)), 64);
        PQclear(res);
    }

    /* Again, from the copy (same bytes): nothing to do. */
    CHECK_MSG(migrate(pg, &applied, &err) == DF_OK, "%s", err.message);
    CHECK_INT(applied, 0);
    df_pg_destroy(pg);
}

static void test_constraints_hold(void)
{
    df_pg_t *pg = connect_ok(scratch_urls[0]);
    df_error_t err;
    const char *bad_state[2] = { "01HZXBADSTATE0000000000000", "progress" };
    const char *good[2] = { "01HZXGOODSTATE000000000000", "queued" };
    const char *event[3] = { "01HZXEVENT0000000000000000", "01HZXGOODSTATE000000000000",
                             "progress" };

    if (!pg)
        return;
    df_error_init(&err);
    /* A task row's state is a task state: progress is an event. */
    CHECK_INT(df_pg_run(pg, "INSERT INTO tasks (task_id, state) VALUES ($1, $2)", 2, bad_state,
                        NULL, &err),
              DF_ERR_PG);
    CHECK_STR(df_pg_sqlstate(&err), "23514");
    CHECK_INT(
        df_pg_run(pg, "INSERT INTO tasks (task_id, state) VALUES ($1, $2)", 2, good, NULL, &err),
        DF_OK);
    CHECK_INT(df_pg_run(pg,
                        "INSERT INTO task_events (event_id, task_id, attempt, state, at, worker) "
                        "VALUES ($1, $2, 1, $3, now(), 'w1')",
                        3, event, NULL, &err),
              DF_OK);
    /* The same event twice is stored once. */
    {
        long long rows = -1;
        CHECK_INT(df_pg_run(pg,
                            "INSERT INTO task_events (event_id, task_id, attempt, state, at, "
                            "worker) VALUES ($1, $2, 1, $3, now(), 'w1') "
                            "ON CONFLICT (event_id) DO NOTHING",
                            3, event, &rows, &err),
                  DF_OK);
        CHECK_INT(rows, 0);
    }
    /* A schedule fires a slot once. */
    CHECK_INT(df_pg_run(pg,
                        "INSERT INTO schedules (id, name, expression, task_template) "
                        "VALUES ('s1', 'nightly', '0 2 * * *', '{}')",
                        0, NULL, NULL, &err),
              DF_OK);
    CHECK_INT(df_pg_run(pg,
                        "INSERT INTO schedule_fires (schedule_id, fire_time) "
                        "VALUES ('s1', '2026-01-01T02:00:00Z')",
                        0, NULL, NULL, &err),
              DF_OK);
    CHECK_INT(df_pg_run(pg,
                        "INSERT INTO schedule_fires (schedule_id, fire_time) "
                        "VALUES ('s1', '2026-01-01T02:00:00Z')",
                        0, NULL, NULL, &err),
              DF_ERR_PG);
    CHECK_STR(df_pg_sqlstate(&err), "23505");
    CHECK(!err.retryable);
    CHECK_MSG(strstr(err.message, "SQLSTATE 23505") != NULL, "%s", err.message);
    CHECK_INT(df_pg_run(pg, "UPDATE schedules SET misfire_policy = 'sometimes' WHERE id = 's1'", 0,
                        NULL, NULL, &err),
              DF_ERR_PG);
    CHECK_STR(df_pg_sqlstate(&err), "23514");
    CHECK_INT(df_pg_run(pg, "DELETE FROM tasks", 0, NULL, NULL, &err), DF_OK);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM task_events", 0, NULL), 0);
    CHECK_INT(df_pg_run(pg, "DELETE FROM schedules", 0, NULL, NULL, &err), DF_OK);
    df_pg_destroy(pg);
}

typedef struct racer {
    const char *url;
    int applied;
    df_code_t rc;
    char message[DF_ERR_MSG_MAX];
} racer_t;

static void *race_migrate(void *arg)
{
    racer_t *racer = arg;
    df_error_t err;
    df_pg_t *pg;

    df_error_init(&err);
    pg = df_pg_new(racer->url, &err);
    if (!pg) {
        racer->rc = err.code;
        snprintf(racer->message, sizeof(racer->message), "%s", err.message);
        return NULL;
    }
    racer->rc = df_pg_migrate(pg, work_dir, &racer->applied, &err);
    snprintf(racer->message, sizeof(racer->message), "%s", err.message);
    df_pg_destroy(pg);
    return NULL;
}

/* Two programs starting at once on a fresh database: each file applied
 * once, neither fails. */
static void test_concurrent_migrators(void)
{
    racer_t racers[3];
    pthread_t threads[3];
    int total = 0;

    for (int i = 0; i < 3; i++) {
        memset(&racers[i], 0, sizeof(racers[i]));
        racers[i].url = scratch_urls[1];
        racers[i].applied = -1;
        REQUIRE(pthread_create(&threads[i], NULL, race_migrate, &racers[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CHECK_MSG(racers[i].rc == DF_OK, "racer %d: %s", i, racers[i].message);
        total += racers[i].applied;
    }
    CHECK_INT(total, source_files);
}

static void test_new_file_and_refusals(void)
{
    df_pg_t *pg = connect_ok(scratch_urls[0]);
    char name[64], gap[64], dup[64], broken[64];
    df_error_t err;
    int applied;
    int next = source_files + 1;

    if (!pg)
        return;
    snprintf(name, sizeof(name), "%03d_test_extra.sql", next);
    write_file(name, "CREATE TABLE test_extra (id integer PRIMARY KEY);\n"
                     "COMMENT ON TABLE test_extra IS 'migrate_test';\n");
    CHECK_MSG(migrate(pg, &applied, &err) == DF_OK, "%s", err.message);
    CHECK_INT(applied, 1);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM test_extra", 0, NULL), 0);
    CHECK_MSG(migrate(pg, &applied, &err) == DF_OK, "%s", err.message);
    CHECK_INT(applied, 0);

    /* Gap: next + 2 without next + 1. */
    snprintf(gap, sizeof(gap), "%03d_test_gap.sql", next + 2);
    write_file(gap, "SELECT 1;\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "missing") != NULL, "%s", err.message);
    CHECK_INT(applied, 0);
    remove_file(gap);

    /* Duplicate version. */
    snprintf(dup, sizeof(dup), "%03d_test_dup.sql", next);
    write_file(dup, "SELECT 1;\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "same version") != NULL, "%s", err.message);
    remove_file(dup);

    /* Badly named .sql file. */
    write_file("init_without_version.sql", "SELECT 1;\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "init_without_version.sql") != NULL, "%s", err.message);
    remove_file("init_without_version.sql");
    /* Other files are ignored. */
    write_file("README", "not a migration\n");
    CHECK_MSG(migrate(pg, &applied, &err) == DF_OK, "%s", err.message);
    remove_file("README");

    /* A failing statement: rolled back, not recorded, named by file and
     * line, and the next run tries again. */
    snprintf(broken, sizeof(broken), "%03d_test_broken.sql", next + 1);
    write_file(broken, "CREATE TABLE test_half_done (id integer);\n"
                       "\n"
                       "SELEC 1;\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_PG);
    CHECK_STR(df_pg_sqlstate(&err), "42601");
    CHECK_MSG(strstr(err.message, broken) && strstr(err.message, "line 3"), "%s", err.message);
    CHECK_INT(applied, 0);
    CHECK_INT(
        scalar(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'test_half_done'", 0, NULL),
        0);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM schema_migrations", 0, NULL), next);

    /* Transaction control inside a file is refused. */
    write_file(broken, "SELECT 1;\nCOMMIT;\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "COMMIT") != NULL, "%s", err.message);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM schema_migrations", 0, NULL), next);
    remove_file(broken);

    /* An applied file changed: refused before anything else runs, also a
     * pending file after it. */
    {
        char path[512];
        FILE *f;
        snprintf(path, sizeof(path), "%s/001_init.sql", work_dir);
        f = fopen(path, "a");
        REQUIRE(f != NULL);
        fputs("-- an innocent-looking edit\n", f);
        fclose(f);
    }
    snprintf(broken, sizeof(broken), "%03d_test_after.sql", next + 1);
    write_file(broken, "CREATE TABLE test_after (id integer);\n");
    CHECK_INT(migrate(pg, &applied, &err), DF_ERR_CONFLICT);
    CHECK_MSG(strstr(err.message, "001_init.sql") && strstr(err.message, "changed"), "%s",
              err.message);
    CHECK_INT(applied, 0);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'test_after'", 0, NULL),
              0);
    remove_file(broken);
    df_pg_destroy(pg);
}

static void test_pg_errors(void)
{
    df_pg_t *pg = connect_ok(scratch_urls[0]);
    df_pg_t *killer = connect_ok(scratch_urls[0]);
    df_error_t err;
    PGresult *res;
    char url[1200];
    const char *pid_param[1];
    char pid_text[16];

    if (!pg || !killer)
        goto done;
    df_error_init(&err);

    /* Syntax error: SQLSTATE in field and message. */
    res = df_pg_exec(pg, "SELEC 1", 0, NULL, &err);
    CHECK(res == NULL);
    CHECK_INT(err.code, DF_ERR_PG);
    CHECK_STR(df_pg_sqlstate(&err), "42601");
    CHECK_MSG(strstr(err.message, "syntax error") != NULL, "%s", err.message);

    /* Values travel as parameters: a quote in a value is just data. */
    {
        const char *params[1] = { "it's'; DROP TABLE tasks; --" };
        res = df_pg_exec(pg, "SELECT $1::text", 1, params, &err);
        CHECK(res != NULL);
        if (res)
            CHECK_STR(PQgetvalue(res, 0, 0), params[0]);
        PQclear(res);
    }

    /* Transactions. */
    CHECK_INT(df_pg_rollback(pg, &err), DF_OK); /* none open: no-op */
    CHECK_INT(df_pg_begin(pg, &err), DF_OK);
    CHECK_INT(df_pg_run(pg, "CREATE TABLE test_tx (id integer)", 0, NULL, NULL, &err), DF_OK);
    CHECK_INT(df_pg_rollback(pg, &err), DF_OK);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'test_tx'", 0, NULL), 0);
    CHECK_INT(df_pg_begin(pg, &err), DF_OK);
    CHECK_INT(df_pg_run(pg, "CREATE TABLE test_tx (id integer)", 0, NULL, NULL, &err), DF_OK);
    CHECK_INT(df_pg_commit(pg, &err), DF_OK);
    CHECK_INT(scalar(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'test_tx'", 0, NULL), 1);

    /* The server ends our session: retryable error, then reconnect. */
    snprintf(pid_text, sizeof(pid_text), "%d", PQbackendPID(df_pg_conn(pg)));
    pid_param[0] = pid_text;
    CHECK_INT(scalar(killer, "SELECT pg_terminate_backend($1::integer)::integer", 1, pid_param), 1);
    res = df_pg_exec(pg, "SELECT 1", 0, NULL, &err);
    CHECK(res == NULL);
    CHECK_INT(err.code, DF_ERR_PG);
    CHECK_MSG(err.retryable, "%s (%s)", err.message, err.field);
    CHECK_MSG(strncmp(err.field, "08", 2) == 0 || strncmp(err.field, "57P", 3) == 0, "%s",
              err.field);
    CHECK_INT(df_pg_reconnect(pg, 10000, &err), DF_OK);
    CHECK_INT(scalar(pg, "SELECT 41 + 1", 0, NULL), 42);

    /* Refused port, password in the URL: clean, retryable, no password. */
    snprintf(url, sizeof(url), "postgresql://datafleet:Pg-pw-s3cret@127.0.0.1:1/datafleet");
    CHECK(df_pg_new(url, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_PG);
    CHECK(err.retryable);
    CHECK_MSG(!strstr(err.message, "Pg-pw-s3cret"), "%s", err.message);
    CHECK_MSG(strstr(err.message, "127.0.0.1") != NULL, "%s", err.message);

    /* Unknown database: a server error, not retryable by the SQLSTATE. */
    df_test_url_with_dbname(base_url, "df_no_such_database_here", url, sizeof(url));
    CHECK(df_pg_new(url, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_PG);
    CHECK_MSG(strstr(err.message, "df_no_such_database_here") != NULL, "%s", err.message);
    CHECK(!err.retryable);
    CHECK_MSG(!strchr(err.message, '\n'), "%s", err.message);
done:
    df_pg_destroy(pg);
    df_pg_destroy(killer);
}

int main(void)
{
    df_error_t err;
    char tmpl[] = "/tmp/df-migrate-test-XXXXXX";
    char source_dir[1024];

    base_url = df_test_env("DATAFLEET_DATABASE_URL");
    df_test_env("DF_SOURCE_DIR");
    df_error_init(&err);
    admin = df_pg_new(base_url, &err);
    if (!admin)
        fprintf(stderr, "connect %s: %s\n", base_url, err.message);
    REQUIRE(admin != NULL);

    for (int i = 0; i < 2; i++) {
        snprintf(scratch_names[i], sizeof(scratch_names[i]), "df_migrate_test_%ld_%ld_%d",
                 (long)getpid(), (long)time(NULL), i);
        if (database_ddl("CREATE DATABASE", scratch_names[i], "", &err) != DF_OK)
            fprintf(stderr, "create database: %s\n", err.message);
        REQUIRE(err.code == DF_OK);
        df_test_url_with_dbname(base_url, scratch_names[i], scratch_urls[i],
                                sizeof(scratch_urls[i]));
    }
    REQUIRE(mkdtemp(tmpl) != NULL);
    snprintf(work_dir, sizeof(work_dir), "%s", tmpl);
    unsetenv("DATAFLEET_MIGRATIONS_DIR");
    df_pg_migrations_dir(source_dir, sizeof(source_dir));
    source_files = copy_migrations(source_dir);
    REQUIRE(source_files >= 1);

    RUN(test_default_dir);
    RUN(test_fresh_then_again);
    RUN(test_constraints_hold);
    RUN(test_concurrent_migrators);
    RUN(test_new_file_and_refusals);
    RUN(test_pg_errors);

    for (int i = 0; i < 2; i++) {
        df_error_init(&err);
        CHECK_MSG(database_ddl("DROP DATABASE", scratch_names[i], " WITH (FORCE)", &err) == DF_OK,
                  "drop %s: %s", scratch_names[i], err.message);
    }
    remove_work_dir();
    df_pg_destroy(admin);
    return df_test_done();
}
