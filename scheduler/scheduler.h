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
} df_scheduler_config_t;

/* `migrate`: apply pending migrations. Returns an exit code. */
int df_scheduler_migrate(const df_scheduler_config_t *cfg);

/* `run`: migrate, then run the configured roles until SIGTERM/SIGINT.
 * Returns an exit code. */
int df_scheduler_run(const df_scheduler_config_t *cfg);

#endif
