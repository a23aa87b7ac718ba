/* scheduler: the datafleet-scheduler process: its configuration and the
 * entry points of its commands. */
#ifndef DF_SCHEDULER_H
#define DF_SCHEDULER_H

#include <stdint.h>

#include "df_config.h"

typedef struct df_scheduler_config {
    df_common_config_t common;
    char *roles;
    char *migrations_dir;
    char *recorder_group;
    int64_t batch_size;
    int64_t batch_wait_ms;
    /* cron role (cron_role.c and its ticks) */
    int64_t leader_poll_ms;     /* how often a standby tries the leader lock */
    int64_t tick_ms;            /* longest sleep of the leader's loop */
    int64_t publish_batch;      /* tasks published per Kafka flush */
    int64_t reconcile_every_ms; /* reconciler period */
    int64_t stuck_queued_ms;    /* a task queued this long with no worker is re-published */
    int64_t stuck_running_ms;   /* running, lease gone, no event for this long: lost */
    /* schedules (schedules.c) */
    int64_t misfire_grace_ms; /* a slot later than this is missed (misfire policy) */
    /* api role (api/) */
    char *api_listen;
    char *tls_cert, *tls_key;
    int64_t api_body_limit; /* bytes */
    int64_t api_rate;       /* requests per second per token */
    int64_t api_burst;
    int64_t api_threads;
} df_scheduler_config_t;

/* `migrate`: apply pending migrations. Returns an exit code. */
int df_scheduler_migrate(const df_scheduler_config_t *cfg);

/* `run`: migrate, then run the configured roles until SIGTERM/SIGINT.
 * Returns an exit code. */
int df_scheduler_run(const df_scheduler_config_t *cfg);

#endif
