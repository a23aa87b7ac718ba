/* df_program: what every datafleet program does first (parse its option
 * table, set up logging, install signal handlers) so the three mains share
 * one start-up path. */
#ifndef DF_PROGRAM_H
#define DF_PROGRAM_H

#include <signal.h>
#include <stdbool.h>

#include "df_config.h"

/* Parse options (df_config_parse) and set up JSON logging for component with
 * the level from common->log_level. Returns DF_PARSE_RUN to go on; otherwise
 * the caller exits with 0 (DF_PARSE_EXIT) or 2 (DF_PARSE_USAGE). */
df_parse_result_t df_program_start(const df_program_t *prog, void *cfg,
                                   const df_common_config_t *common, const char *component,
                                   int argc, char **argv, df_args_t *args);

/* For long-running commands: record datafleet_build_info and, when
 * common->metrics_listen is set, serve /metrics, /healthz and /readyz there
 * (df_metrics.h). false, with the reason logged, when it cannot listen:
 * the caller exits with DF_EXIT_FAILURE. */
bool df_program_serve_metrics(const df_program_t *prog, const df_common_config_t *common);

/* SIGTERM/SIGINT handling shared by long-running programs: the first signal
 * sets the stop flag (df_program_stopping() becomes true); a second one
 * exits the process at once with status 128 + the signal number. SIGPIPE is
 * ignored. */
void df_program_handle_signals(void);
bool df_program_stopping(void);
/* Ask the process to stop as if signalled (tests, fatal paths). */
void df_program_request_stop(void);

#endif
