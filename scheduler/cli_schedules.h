/* cli_schedules: the parts of the `schedules` command (commands.h) shared
 * by its files: cli_schedules.c (dispatch, add, pause, resume, delete),
 * cli_schedules_view.c (list, show) and cli_schedules_trigger.c. */
#ifndef DF_CLI_SCHEDULES_H
#define DF_CLI_SCHEDULES_H

#include <stdbool.h>
#include <stdint.h>

#include "df_config.h"
#include "df_pg.h"

/* Exit codes beyond the shared 0/1/2. */
#define DF_SCHED_EXIT_NOT_FOUND 3 /* no schedule has that name */
#define DF_SCHED_EXIT_EXISTS    4 /* add: the name is taken */

/* The options of every subcommand (each table uses some of them). */
typedef struct df_sched_cli_config {
    df_common_config_t common;
    char *cron, *tz, *task, *task_file, *pipeline, *misfire;
    int64_t catch_up_limit;
    bool paused;
    bool json;
    int64_t fires;
    int64_t timeout_ms;
} df_sched_cli_config_t;

typedef struct df_sched_cli {
    df_sched_cli_config_t cfg;
    const df_program_t *program; /* the subcommand's, for messages */
    df_pg_t *pg;                 /* opened by df_sched_cli_pg, closed by the dispatcher */
} df_sched_cli_t;

/* The subcommands: args are the positional arguments (the NAME). Each
 * returns an exit code. */
int df_sched_cli_list(df_sched_cli_t *cli, char **args);
int df_sched_cli_show(df_sched_cli_t *cli, char **args);
int df_sched_cli_add(df_sched_cli_t *cli, char **args);
int df_sched_cli_pause(df_sched_cli_t *cli, char **args);
int df_sched_cli_resume(df_sched_cli_t *cli, char **args);
int df_sched_cli_delete(df_sched_cli_t *cli, char **args);
int df_sched_cli_trigger(df_sched_cli_t *cli, char **args);

/* Print "PROGRAM: message" on stderr (and the --help hint for usage
 * errors); returns code. */
int df_sched_cli_fail(const df_sched_cli_t *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The connection (opened on first use; owned by cli). NULL after printing
 * why. */
df_pg_t *df_sched_cli_pg(df_sched_cli_t *cli);

/* Print a PostgreSQL failure (with a hint when the schema is missing);
 * returns DF_EXIT_FAILURE. */
int df_sched_cli_pg_fail(const df_sched_cli_t *cli, const df_error_t *err);

/* RFC 3339 UTC, without ".000" for whole seconds, into buf (>= 40 bytes). */
void df_sched_cli_time(int64_t ms, char *buf, size_t len);

#endif
