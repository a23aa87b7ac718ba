/* cli_workers: the `workers` command of datafleet-scheduler (see
 * commands.h): the workers Redis knows (workers_view.h) as a table, or
 * JSON, with the ones whose heartbeat is older than --stale marked. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "df_config.h"
#include "df_log.h"
#include "workers_view.h"

#define COLS     7
#define CELL_MAX 300

typedef struct workers_config {
    df_common_config_t common;
    int64_t stale_ms;
    bool json;
} workers_config_t;

static const df_option_t options[] = {
    DF_COMMON_OPTIONS(workers_config_t),
    { "stale", NULL, DF_OPT_DURATION, "15s", 1, 86400000, NULL,
      "a worker whose last heartbeat is older than this is shown stale",
      offsetof(workers_config_t, stale_ms), 0 },
    { "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON for scripts instead of text",
      offsetof(workers_config_t, json), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "listed (an empty fleet too)" },
    { DF_EXIT_FAILURE, "Redis failed" },
    { DF_EXIT_USAGE, "bad option or value" },
};

static const df_program_t program = {
    .name = "datafleet-scheduler workers",
    .summary = "List the workers: id, state (live or stale), last heartbeat, tasks running, "
               "version.",
    .usage = "[OPTIONS]",
    .details = "Read from Redis (df:workers and the df:worker:{id} hashes the workers' heartbeat\n"
               "writes). A worker that stopped cleanly removed itself; one that was killed\n"
               "stays, stale, and \"gone\" once its hash expired (three heartbeats).\n",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

static const char *text(const json_t *w, const char *name)
{
    const char *v = json_string_value(json_object_get(w, name));
    return v ? v : "-";
}

static void row(const json_t *w, char cells[COLS][CELL_MAX])
{
    json_t *running = json_object_get(w, "running");
    long long age = (long long)json_integer_value(json_object_get(w, "age_ms"));

    snprintf(cells[0], CELL_MAX, "%s", text(w, "id"));
    snprintf(cells[1], CELL_MAX, "%s",
             json_is_true(json_object_get(w, "gone"))    ? "gone"
             : json_is_true(json_object_get(w, "stale")) ? "stale"
                                                         : "live");
    snprintf(cells[2], CELL_MAX, "%s (%lld.%llds ago)", text(w, "heartbeat_at"), age / 1000,
             (age % 1000) / 100);
    if (json_is_integer(running))
        snprintf(cells[3], CELL_MAX, "%lld", (long long)json_integer_value(running));
    else
        snprintf(cells[3], CELL_MAX, "-");
    snprintf(cells[4], CELL_MAX, "%s", text(w, "types"));
    snprintf(cells[5], CELL_MAX, "%s", text(w, "started_at"));
    snprintf(cells[6], CELL_MAX, "%s", text(w, "version"));
}

static int print_table(json_t *workers)
{
    static const char *const heads[COLS] = { "WORKER",  "STATE", "LAST HEARTBEAT (UTC)",
                                             "RUNNING", "TYPES", "STARTED (UTC)",
                                             "VERSION" };
    size_t n = json_array_size(workers), width[COLS];
    char(*cells)[COLS][CELL_MAX] = calloc(n + 1, sizeof(*cells));

    if (!cells)
        return DF_EXIT_FAILURE;
    for (int c = 0; c < COLS; c++)
        snprintf(cells[0][c], CELL_MAX, "%s", heads[c]);
    for (size_t r = 0; r < n; r++)
        row(json_array_get(workers, r), cells[r + 1]);
    for (int c = 0; c < COLS; c++) {
        width[c] = 0;
        for (size_t r = 0; r <= n; r++)
            width[c] = strlen(cells[r][c]) > width[c] ? strlen(cells[r][c]) : width[c];
    }
    for (size_t r = 0; n > 0 && r <= n; r++)
        for (int c = 0; c < COLS; c++)
            printf(c < COLS - 1 ? "%-*s  " : "%-*s\n", c < COLS - 1 ? (int)width[c] : 0,
                   cells[r][c]);
    if (n == 0)
        printf("(no workers)\n");
    free(cells);
    return DF_EXIT_OK;
}

int df_cmd_workers(int argc, char **argv)
{
    workers_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    df_redis_t *redis = NULL;
    json_t *workers = NULL;
    df_error_t err;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(&program, &cfg, argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
        goto out;
    }
    if (args.count != 0) {
        fprintf(stderr, "%s: expected no arguments\nTry '%s --help' for more information.\n",
                program.name, program.name);
        rc = DF_EXIT_USAGE;
        goto out;
    }
    df_log_init("scheduler", DF_LOG_WARN);
    df_error_init(&err);
    redis = df_redis_new(cfg.common.redis_url, 2000, 5000, &err);
    if (!redis || df_workers_list(redis, cfg.stale_ms, &workers, &err)) {
        fprintf(stderr, "%s: Redis: %s\n", program.name, err.message);
        rc = DF_EXIT_FAILURE;
        goto out;
    }
    if (cfg.json) {
        char *out = json_dumps(workers, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        rc = out ? DF_EXIT_OK : DF_EXIT_FAILURE;
        if (out)
            puts(out);
        free(out);
    } else {
        rc = print_table(workers);
    }
out:
    json_decref(workers);
    df_redis_destroy(redis);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
