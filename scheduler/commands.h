/* commands: datafleet-scheduler's command-line tools beside `run` and
 * `migrate`. Each gets the arguments after the program name (argv[0] is
 * the command's own name, e.g. "cron"), parses its own options, and
 * returns an exit code (0 ok, 1 failure, 2 usage). */
#ifndef DF_COMMANDS_H
#define DF_COMMANDS_H

/* cron next EXPR [--tz ZONE] [--from TIME] [--count N]   (cli_cron.c) */
int df_cmd_cron(int argc, char **argv);

/* schedules list|add|show|pause|resume|delete|trigger ...  (cli_schedules.c) */
int df_cmd_schedules(int argc, char **argv);

/* pipelines add|list|run|show|runs|rerun|enable|disable ...  (cli_pipelines.c) */
int df_cmd_pipelines(int argc, char **argv);

/* tokens create|list|revoke ...  (api/api_tokens.c) */
int df_cmd_tokens(int argc, char **argv);
/* dlq list|show|requeue|purge ...  (cli_dlq.c) */
int df_cmd_dlq(int argc, char **argv);

/* workers [--stale DURATION] [--json]  (cli_workers.c) */
int df_cmd_workers(int argc, char **argv);
/* connectors list|show|apply|delete ...  (cli_connectors.c) */
int df_cmd_connectors(int argc, char **argv);

/* keys generate|rotate  (cli_connectors.c) */
int df_cmd_keys(int argc, char **argv);

#endif
