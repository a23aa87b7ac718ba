/* roles: the entry points of the scheduler's roles. Each runs on its own
 * thread until df_program_stopping() and returns an exit code. */
#ifndef DF_ROLES_H
#define DF_ROLES_H

#include "scheduler.h"

/* recorder: events topic -> PostgreSQL history (recorder.c). */
int df_role_recorder_run(const df_scheduler_config_t *cfg);

/* cron: leader election, then schedules, delayed re-publishes, pipelines
 * and the reconciler (cron_role.c). */
int df_role_cron_run(const df_scheduler_config_t *cfg);

/* api: the REST API and the status page (api/api_role.c). */
int df_role_api_run(const df_scheduler_config_t *cfg);

#endif
