/* follow: datafleet-submit --wait: follows submitted tasks live through
 * Redis (df:status pub/sub, with df:task:{id} reads to catch up after a
 * reconnect), prints each state change, and keeps a progress line on a
 * terminal. */
#ifndef DF_FOLLOW_H
#define DF_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "df_error.h"

#define DF_FOLLOW_EXIT_FAILED  4 /* some task ended failed, dead or cancelled */
#define DF_FOLLOW_EXIT_TIMEOUT 5 /* --wait-timeout passed first */

typedef struct df_follow df_follow_t;

/* Subscribe now (before the tasks are sent, so no change is missed). */
df_follow_t *df_follow_new(const char *redis_url, df_error_t *err);
void df_follow_destroy(df_follow_t *f);

/* Follow this task (id copied). */
void df_follow_add(df_follow_t *f, const char *task_id);

/* Wait until every followed task is terminal or timeout_ms (0: no limit)
 * passes. Prints state changes to out; the progress line goes to progress
 * (NULL: none). Returns 0, DF_FOLLOW_EXIT_FAILED or
 * DF_FOLLOW_EXIT_TIMEOUT. */
int df_follow_run(df_follow_t *f, int64_t timeout_ms, FILE *out, FILE *progress);

#endif
