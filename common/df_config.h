/* df_config: each program's options as one table (name, env var, type,
 * default, range, help). From it come command-line parsing, DATAFLEET_*
 * environment variables (flags win over the environment, the environment
 * over defaults), --help, and the Markdown table in README.md. */
#ifndef DF_CONFIG_H
#define DF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "df_error.h"

typedef enum df_opt_type {
    DF_OPT_STRING,   /* char * (owned by the config; freed by df_config_free) */
    DF_OPT_INT,      /* int64_t, within [min, max] */
    DF_OPT_BOOL,     /* bool; flag alone means true; env/value true|false|1|0|yes|no */
    DF_OPT_DURATION, /* int64_t milliseconds; text "250ms", "5s", "2m", "1h", or bare ms */
    DF_OPT_ENUM,     /* char *, one of choices ("a|b|c") */
} df_opt_type_t;

enum {
    DF_OPT_SECRET = 1u << 0,   /* never printed (help shows no default/value) */
    DF_OPT_REQUIRED = 1u << 1, /* must be set by flag or env */
};

typedef struct df_option {
    const char *name; /* long flag without dashes, e.g. "kafka-brokers" */
    const char *env;  /* e.g. "DATAFLEET_KAFKA_BROKERS", or NULL */
    df_opt_type_t type;
    const char *def;     /* default as text, or NULL for unset */
    int64_t min, max;    /* INT and DURATION (ms); both 0 means unbounded */
    const char *choices; /* ENUM: "debug|info|warn|error" */
    const char *help;    /* one sentence */
    size_t offset;       /* offsetof(the program's config struct, field) */
    unsigned flags;
} df_option_t;

typedef struct df_exit_code {
    int code;
    const char *meaning;
} df_exit_code_t;

typedef struct df_program {
    const char *name;    /* "datafleet-worker" */
    const char *summary; /* one line */
    const char *usage;   /* e.g. "[OPTIONS]" or "[OPTIONS] COMMAND ..." */
    const char *details; /* extra help text (commands), or NULL */
    const df_option_t *options;
    size_t n_options;
    const df_exit_code_t *exit_codes;
    size_t n_exit_codes;
} df_program_t;

/* Exit codes every program shares. */
#define DF_EXIT_OK      0
#define DF_EXIT_FAILURE 1 /* runtime failure (a dependency unreachable, ...) */
#define DF_EXIT_USAGE   2 /* bad option, bad value, bad command */

typedef enum df_parse_result {
    DF_PARSE_RUN = 0,  /* go on; positional arguments are in args */
    DF_PARSE_EXIT = 1, /* --help or --version printed: exit 0 */
    DF_PARSE_USAGE = 2 /* error printed to stderr naming the option: exit 2 */
} df_parse_result_t;

/* Positional arguments, borrowed from argv. */
typedef struct df_args {
    int count;
    char **values;
} df_args_t;

/* Fill cfg (zeroed by the caller) from defaults, then the environment, then
 * argv. Handles --help, --version, --help-markdown (the configuration table).
 * Options and positionals may be mixed; "--" ends options. On
 * DF_PARSE_USAGE the message is already printed. args->values is heap
 * allocated: free with df_args_free. */
df_parse_result_t df_config_parse(const df_program_t *prog, void *cfg, int argc, char **argv,
                                  df_args_t *args);
void df_args_free(df_args_t *args);

/* Free every STRING/ENUM value in cfg and zero them. */
void df_config_free(const df_program_t *prog, void *cfg);

void df_config_print_help(const df_program_t *prog, FILE *out);
void df_config_print_markdown(const df_program_t *prog, FILE *out);

/* Parse one value of the given type into *out (int64_t or bool); used by
 * the table and by commands that take typed arguments. */
df_code_t df_config_parse_int(const char *text, int64_t *out, df_error_t *err);
df_code_t df_config_parse_duration(const char *text, int64_t *out_ms, df_error_t *err);
df_code_t df_config_parse_bool(const char *text, bool *out, df_error_t *err);

/* Options every program shares; a program's config struct embeds this as
 * `common` and its option table starts with DF_COMMON_OPTIONS(its_type). */
typedef struct df_common_config {
    char *kafka_brokers;
    char *redis_url;
    char *database_url;
    char *topic_prefix;
    int64_t partitions;
    char *log_level;
    char *metrics_listen;
} df_common_config_t;

#define DF_COMMON_OPTIONS(T)                                                           \
    { "kafka-brokers",                                                                 \
      "DATAFLEET_KAFKA_BROKERS",                                                       \
      DF_OPT_STRING,                                                                   \
      "127.0.0.1:19092",                                                               \
      0,                                                                               \
      0,                                                                               \
      NULL,                                                                            \
      "Kafka bootstrap servers, host:port[,host:port...]",                             \
      offsetof(T, common.kafka_brokers),                                               \
      0 },                                                                             \
        { "redis-url",                                                                 \
          "DATAFLEET_REDIS_URL",                                                       \
          DF_OPT_STRING,                                                               \
          "redis://127.0.0.1:16379/0",                                                 \
          0,                                                                           \
          0,                                                                           \
          NULL,                                                                        \
          "Redis for live status, leases and heartbeats",                              \
          offsetof(T, common.redis_url),                                               \
          0 },                                                                         \
        { "database-url",                                                              \
          "DATAFLEET_DATABASE_URL",                                                    \
          DF_OPT_STRING,                                                               \
          "postgresql://datafleet@127.0.0.1:15432/datafleet",                          \
          0,                                                                           \
          0,                                                                           \
          NULL,                                                                        \
          "PostgreSQL for durable history and control data",                           \
          offsetof(T, common.database_url),                                            \
          0 },                                                                         \
        { "topic-prefix",                                                              \
          "DATAFLEET_TOPIC_PREFIX",                                                    \
          DF_OPT_STRING,                                                               \
          "datafleet.",                                                                \
          0,                                                                           \
          0,                                                                           \
          NULL,                                                                        \
          "prefix of every Kafka topic name",                                          \
          offsetof(T, common.topic_prefix),                                            \
          0 },                                                                         \
        { "partitions",                                                                \
          "DATAFLEET_PARTITIONS",                                                      \
          DF_OPT_INT,                                                                  \
          "12",                                                                        \
          1,                                                                           \
          10000,                                                                       \
          NULL,                                                                        \
          "partitions of topics created at start-up",                                  \
          offsetof(T, common.partitions),                                              \
          0 },                                                                         \
        { "log-level",                                                                 \
          "DATAFLEET_LOG_LEVEL",                                                       \
          DF_OPT_ENUM,                                                                 \
          "info",                                                                      \
          0,                                                                           \
          0,                                                                           \
          "debug|info|warn|error",                                                     \
          "lowest level logged (JSON lines on stderr)",                                \
          offsetof(T, common.log_level),                                               \
          0 },                                                                         \
    {                                                                                  \
        "metrics-listen", "DATAFLEET_METRICS_LISTEN", DF_OPT_STRING, NULL, 0, 0, NULL, \
            "serve Prometheus metrics on host:port (off when unset)",                  \
            offsetof(T, common.metrics_listen), 0                                      \
    }

#endif
