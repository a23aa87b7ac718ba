/* scheduler: the `migrate` and `run` commands of datafleet-scheduler. `run`
 * applies pending migrations, then runs the roles named by --roles, each on
 * its own thread, until SIGTERM/SIGINT. */
#include "scheduler.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "df_log.h"
#include "df_pg.h"
#include "df_program.h"
#include "roles.h"

int df_scheduler_migrate(const df_scheduler_config_t *cfg)
{
    df_error_t err;
    df_pg_t *pg;
    char dirbuf[1024];
    const char *dir =
        cfg->migrations_dir ? cfg->migrations_dir : df_pg_migrations_dir(dirbuf, sizeof(dirbuf));
    int applied = 0;

    df_error_init(&err);
    pg = df_pg_new(cfg->common.database_url, &err);
    if (!pg) {
        df_error("cannot connect to PostgreSQL: %s", err.message);
        return DF_EXIT_FAILURE;
    }
    if (df_pg_migrate(pg, dir, &applied, &err)) {
        df_error("migration failed: %s", err.message);
        df_pg_destroy(pg);
        return DF_EXIT_FAILURE;
    }
    df_info("migrations applied: %d (from %s)", applied, dir);
    df_pg_destroy(pg);
    return DF_EXIT_OK;
}

/* The roles a process can run, in start order. */
static const struct role {
    const char *name;
    int (*run)(const df_scheduler_config_t *cfg);
} roles[] = {
    { "recorder", df_role_recorder_run },
    { "cron", df_role_cron_run },
    { "api", df_role_api_run },
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

typedef struct role_thread {
    const struct role *role;
    const df_scheduler_config_t *cfg;
    pthread_t thread;
    int rc;
} role_thread_t;

static void *role_main(void *arg)
{
    role_thread_t *rt = arg;
    rt->rc = rt->role->run(rt->cfg);
    if (rt->rc != DF_EXIT_OK) {
        df_error("role %s stopped with status %d: stopping the process", rt->role->name, rt->rc);
        df_program_request_stop();
    }
    return NULL;
}

/* Parse --roles into enabled[]; prints the bad name and returns false. */
static bool parse_roles(const char *text, bool enabled[NROLES])
{
    const char *p = text;

    memset(enabled, 0, NROLES * sizeof(bool));
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < NROLES; i++) {
            if (strlen(roles[i].name) == len && strncmp(roles[i].name, p, len) == 0) {
                enabled[i] = found = true;
            }
        }
        if (!found && len > 0) {
            fprintf(stderr,
                    "datafleet-scheduler: --roles: unknown role \"%.*s\" (expected: cron, "
                    "recorder, api)\n",
                    (int)len, p);
            return false;
        }
        p = comma ? comma + 1 : NULL;
    }
    return true;
}

int df_scheduler_run(const df_scheduler_config_t *cfg)
{
    bool enabled[NROLES];
    role_thread_t threads[NROLES];
    size_t started = 0;
    int rc;

    if (!parse_roles(cfg->roles, enabled))
        return DF_EXIT_USAGE;
    rc = df_scheduler_migrate(cfg);
    if (rc != DF_EXIT_OK)
        return rc;
    for (size_t i = 0; i < NROLES; i++) {
        if (!enabled[i])
            continue;
        threads[started].role = &roles[i];
        threads[started].cfg = cfg;
        threads[started].rc = DF_EXIT_OK;
        if (pthread_create(&threads[started].thread, NULL, role_main, &threads[started]) != 0) {
            df_error("cannot start role %s", roles[i].name);
            df_program_request_stop();
            rc = DF_EXIT_FAILURE;
            break;
        }
        df_info("role %s started", roles[i].name);
        started++;
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(threads[i].thread, NULL);
        if (threads[i].rc != DF_EXIT_OK)
            rc = threads[i].rc;
    }
    df_info("scheduler stopped");
    return rc;
}
