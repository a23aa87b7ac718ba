/* cli_common: what the datafleet-scheduler command-line tools (commands.h)
 * share: the one way they report a failure, answer a missing or unknown
 * subcommand, and set up their quiet logging. */
#ifndef DF_CLI_COMMON_H
#define DF_CLI_COMMON_H

#include "df_config.h"

/* Print "PROGRAM: message" on stderr, and the --help hint when code is
 * DF_EXIT_USAGE; returns code. */
int df_cli_fail(const df_program_t *prog, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `datafleet-scheduler X` without a known subcommand (argv[0] is "X",
 * argv[1] the unknown word, if any): --help prints the overview and gives
 * DF_EXIT_OK; otherwise an error naming the unknown command, or saying the
 * commands expected ("list, show, ..."), and DF_EXIT_USAGE. The overview's
 * options may only be DF_COMMON_OPTIONS of a struct whose first member is
 * its df_common_config_t. */
int df_cli_overview(const df_program_t *overview, const char *expected, int argc, char **argv);

/* A command's output is its own: library logs say only what went wrong
 * (warn), or everything with --log-level debug. */
void df_cli_log_init(const df_common_config_t *common);

#endif
