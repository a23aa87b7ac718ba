/* cli_common: see cli_common.h. */
#include "cli_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "df_log.h"

int df_cli_fail(const df_program_t *prog, int code, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (code == DF_EXIT_USAGE)
        fprintf(stderr, "Try '%s --help' for more information.\n", prog->name);
    return code;
}

int df_cli_overview(const df_program_t *overview, const char *expected, int argc, char **argv)
{
    /* room for any command's config: only its leading common part is set */
    union {
        df_common_config_t common;
        max_align_t align;
        char bytes[1024];
    } cfg;
    df_args_t args;
    df_parse_result_t parsed;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(overview, &cfg, argc, argv, &args);
    df_config_free(overview, &cfg);
    df_args_free(&args);
    if (parsed == DF_PARSE_EXIT)
        return DF_EXIT_OK;
    if (parsed == DF_PARSE_RUN) {
        if (argc > 1)
            return df_cli_fail(overview, DF_EXIT_USAGE, "unknown command \"%s\"", argv[1]);
        return df_cli_fail(overview, DF_EXIT_USAGE, "expected a command (%s)", expected);
    }
    return DF_EXIT_USAGE;
}

void df_cli_log_init(const df_common_config_t *common)
{
    bool debug = common->log_level && strcmp(common->log_level, "debug") == 0;

    df_log_init("scheduler", debug ? DF_LOG_DEBUG : DF_LOG_WARN);
}
