/* cli_cron: the `cron` command of datafleet-scheduler (see commands.h):
 * `cron next EXPR [--tz ZONE] [--from TIME] [--count N]` prints an
 * expression's next fire times in ISO 8601 with the zone's UTC offset, one a
 * line, so a schedule can be checked before it is saved (docs/CRON.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "df_config.h"
#include "df_cron.h"
#include "df_id.h"
#include "df_tz.h"

typedef struct cron_cli_config {
    char *tz;
    char *from;
    int64_t count;
} cron_cli_config_t;

static const df_option_t options[] = {
    { "tz", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "IANA time zone the expression is read in, e.g. Europe/Berlin (default: UTC)",
      offsetof(cron_cli_config_t, tz), 0 },
    { "from", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "list fire times after this ISO 8601 time: 2026-03-29T01:30:00Z, with an offset, or "
      "local to --tz without one (default: now)",
      offsetof(cron_cli_config_t, from), 0 },
    { "count", NULL, DF_OPT_INT, "5", 1, 10000, NULL, "how many fire times to print",
      offsetof(cron_cli_config_t, count), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "the fire times were printed" },
    { DF_EXIT_FAILURE, "the expression never fires (e.g. \"0 0 30 2 *\")" },
    { DF_EXIT_USAGE, "bad expression, zone, time or option (the message says where and why)" },
};

static const df_program_t program = {
    .name = "datafleet-scheduler cron",
    .summary = "Show when a cron expression fires.",
    .usage = "next EXPR [--tz ZONE] [--from TIME] [--count N]",
    .details = "EXPR has 5 fields (minute hour day-of-month month day-of-week), 6 with\n"
               "seconds first, or is a macro (@hourly @daily @weekly @monthly @yearly,\n"
               "@every 90s); quote it, or give its fields as separate arguments.\n"
               "Fire times are printed one a line in ISO 8601 with the zone's UTC offset,\n"
               "e.g. 2026-03-29T03:00:00+02:00. Syntax and daylight-saving rules:\n"
               "docs/CRON.md.\n",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

static int usage_error(const char *message)
{
    fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", program.name, message,
            program.name);
    return DF_EXIT_USAGE;
}

/* The expression: the positional arguments after "next", joined by spaces
 * (so `cron next 0 9 '*' '*' MON-FRI` works as well as one quoted word). */
static bool join_expression(const df_args_t *args, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 1; i < args->count; i++) {
        size_t n = strlen(args->values[i]);
        if (len + n + 2 > size)
            return false;
        if (i > 1)
            buf[len++] = ' ';
        memcpy(buf + len, args->values[i], n + 1);
        len += n;
    }
    return true;
}

/* "position N: ..." errors get the expression and a caret under N. */
static void print_expression_error(const char *expr, const df_error_t *err)
{
    int pos = 0;

    fprintf(stderr, "%s next: %s\n", program.name, err->message);
    if (strcmp(err->field, "expression") == 0 && sscanf(err->message, "position %d", &pos) == 1 &&
        pos >= 1 && (size_t)pos <= strlen(expr) + 1) {
        fprintf(stderr, "  %s\n  %*s^\n", expr, pos - 1, "");
    }
}

static int cron_next(const cron_cli_config_t *cfg, const df_args_t *args)
{
    char expr[DF_CRON_EXPR_MAX + 2];
    char text[64];
    df_error_t err;
    df_cron_t *cron;
    const df_tz_t *tz;
    int64_t after, next;
    int64_t printed = 0;

    if (args->count < 2)
        return usage_error("next: expected a cron expression after \"next\"");
    if (!join_expression(args, expr, sizeof(expr))) {
        fprintf(stderr, "%s next: expected at most %d characters in the expression\n", program.name,
                DF_CRON_EXPR_MAX);
        return DF_EXIT_USAGE;
    }
    df_error_init(&err);
    cron = df_cron_parse(expr, cfg->tz, &err);
    if (!cron) {
        if (strcmp(err.field, "timezone") == 0)
            fprintf(stderr, "%s next: --tz: %s\n", program.name, err.message);
        else
            print_expression_error(expr, &err);
        return DF_EXIT_USAGE;
    }
    tz = df_tz_get(cfg->tz, &err); /* cached: the zone the expression was parsed with */
    after = df_now_ms();
    if (cfg->from && strcmp(cfg->from, "now") != 0 &&
        !df_tz_parse_time(tz, cfg->from, &after, &err)) {
        fprintf(stderr, "%s next: --from: %s\n", program.name, err.message);
        df_cron_free(cron);
        return DF_EXIT_USAGE;
    }
    while (printed < cfg->count && df_cron_next(cron, after, &next)) {
        df_cron_format(cron, next, text, sizeof(text));
        printf("%s\n", text);
        printed++;
        after = next;
    }
    if (printed < cfg->count) {
        df_tz_format(tz, after, text, sizeof(text));
        fprintf(stderr, "%s next: \"%s\" does not fire within %d years after %s\n", program.name,
                expr, DF_CRON_HORIZON_YEARS, text);
    }
    df_cron_free(cron);
    return printed > 0 ? DF_EXIT_OK : DF_EXIT_FAILURE;
}

int df_cmd_cron(int argc, char **argv)
{
    cron_cli_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(&program, &cfg, argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        df_config_free(&program, &cfg);
        df_args_free(&args);
        return parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    }
    if (args.count == 0) {
        rc = usage_error("expected a subcommand: next");
    } else if (strcmp(args.values[0], "next") != 0) {
        char message[160];
        snprintf(message, sizeof(message), "expected the subcommand next, got \"%.64s\"",
                 args.values[0]);
        rc = usage_error(message);
    } else
        rc = cron_next(&cfg, &args);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
