/* registry_sync: the worker's PostgreSQL registry follower (see
 * registry_sync.h). */
#include "registry_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_connector_store.h"
#include "df_log.h"
#include "df_pg.h"
#include "registry.h"

struct df_registry_sync {
    const char *url;
    const df_secret_keyring_t *keyring;
    int64_t poll_ms;
    df_pg_t *pg;
    int64_t version; /* loaded; -1 before the first load */
    char last_problem[DF_ERR_MSG_MAX];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop; /* under lock */
};

/* Log a problem once until it changes or things work again. */
static void problem(df_registry_sync_t *s, const df_error_t *err)
{
    bool missing = strcmp(df_pg_sqlstate(err), "42P01") == 0;

    if (strcmp(s->last_problem, err->message) == 0)
        return;
    snprintf(s->last_problem, sizeof(s->last_problem), "%s", err->message);
    if (missing)
        df_warn("connector registry: PostgreSQL has no connectors registry yet (run "
                "'datafleet-scheduler migrate'): %s; trying again every %lld ms",
                err->message, (long long)s->poll_ms);
    else
        df_warn("connector registry: %s; the connectors loaded last stay in use, trying again "
                "every %lld ms",
                err->message, (long long)s->poll_ms);
}

/* One look: connect when needed, read the version, reload when it moved. */
static void sync_once(df_registry_sync_t *s)
{
    df_error_t err;
    int64_t version = 0;

    df_error_init(&err);
    if (!s->pg && !(s->pg = df_pg_new(s->url, &err))) {
        problem(s, &err);
        return;
    }
    if (df_connector_store_version(s->pg, &version, &err)) {
        /* No registry in this database: nothing for lookups to wait for. */
        if (strcmp(df_pg_sqlstate(&err), "42P01") == 0)
            df_registry_expect_pg(false);
        goto failed;
    }
    df_registry_expect_pg(true);
    if (version == s->version)
        return;
    if (df_registry_load_pg(s->pg, s->keyring, &version, &err))
        goto failed;
    if (s->last_problem[0])
        df_info("connector registry: PostgreSQL answers again");
    s->last_problem[0] = '\0';
    s->version = version;
    return;
failed:
    problem(s, &err);
    if (!df_pg_connected(s->pg)) { /* connect again next time */
        df_pg_destroy(s->pg);
        s->pg = NULL;
    }
}

static void *sync_main(void *arg)
{
    df_registry_sync_t *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->poll_ms / 1000;
        until.tv_nsec += (long)(s->poll_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);
        sync_once(s);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

df_registry_sync_t *df_registry_sync_start(const char *database_url,
                                           const df_secret_keyring_t *keyring, int64_t poll_ms,
                                           df_error_t *err)
{
    df_registry_sync_t *s = calloc(1, sizeof(*s));

    if (!s) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    s->url = database_url;
    s->keyring = keyring;
    s->poll_ms = poll_ms > 0 ? poll_ms : 1;
    s->version = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    df_registry_expect_pg(true);
    sync_once(s);
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        df_error_set(err, DF_ERR_INTERNAL, "pthread_create",
                     "cannot start the connector registry thread");
        df_pg_destroy(s->pg);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        free(s);
        return NULL;
    }
    return s;
}

void df_registry_sync_stop(df_registry_sync_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    df_pg_destroy(s->pg);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
