/* Option tables: defaults, environment, flags (flags win), typed values,
 * and the errors that name the option. */
#include <stddef.h>
#include <stdlib.h>

#include "df_config.h"
#include "df_test.h"

typedef struct test_config {
    df_common_config_t common;
    int64_t concurrency;
    int64_t grace_ms;
    bool wait;
    char *name;
} test_config_t;

static const df_option_t options[] = {
    DF_COMMON_OPTIONS(test_config_t),
    { "concurrency", "DATAFLEET_TEST_CONCURRENCY", DF_OPT_INT, "16", 1, 1000, NULL,
      "tasks in flight", offsetof(test_config_t, concurrency), 0 },
    { "grace", "DATAFLEET_TEST_GRACE", DF_OPT_DURATION, "30s", 0, 3600000, NULL, "drain time",
      offsetof(test_config_t, grace_ms), 0 },
    { "wait", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "follow the task",
      offsetof(test_config_t, wait), 0 },
    { "name", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "a name", offsetof(test_config_t, name), 0 },
};

static const df_program_t program = {
    .name = "config-test",
    .summary = "test program",
    .usage = "[OPTIONS]",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
};

static df_parse_result_t parse(test_config_t *cfg, df_args_t *args, int argc, char **argv)
{
    memset(cfg, 0, sizeof(*cfg));
    return df_config_parse(&program, cfg, argc, argv, args);
}

static void test_defaults(void)
{
    test_config_t cfg;
    df_args_t args;
    char *argv[] = { "t", NULL };

    unsetenv("DATAFLEET_TEST_CONCURRENCY");
    CHECK_INT(parse(&cfg, &args, 1, argv), DF_PARSE_RUN);
    CHECK_INT(cfg.concurrency, 16);
    CHECK_INT(cfg.grace_ms, 30000);
    CHECK(!cfg.wait);
    CHECK(cfg.name == NULL);
    CHECK_STR(cfg.common.topic_prefix, "datafleet.");
    CHECK_INT(cfg.common.partitions, 12);
    CHECK_INT(args.count, 0);
    df_config_free(&program, &cfg);
    df_args_free(&args);
}

static void test_env_then_flags_win(void)
{
    test_config_t cfg;
    df_args_t args;
    char *argv[] = { "t", "pos1", "--concurrency", "7", "--grace=1.5s", "--wait", "pos2", NULL };

    setenv("DATAFLEET_TEST_CONCURRENCY", "3", 1);
    setenv("DATAFLEET_TEST_GRACE", "2m", 1);
    CHECK_INT(parse(&cfg, &args, 7, argv), DF_PARSE_RUN);
    CHECK_INT(cfg.concurrency, 7);
    CHECK_INT(cfg.grace_ms, 1500);
    CHECK(cfg.wait);
    CHECK_INT(args.count, 2);
    CHECK_STR(args.values[0], "pos1");
    CHECK_STR(args.values[1], "pos2");
    df_config_free(&program, &cfg);
    df_args_free(&args);

    char *argv2[] = { "t", NULL };
    CHECK_INT(parse(&cfg, &args, 1, argv2), DF_PARSE_RUN);
    CHECK_INT(cfg.concurrency, 3);
    CHECK_INT(cfg.grace_ms, 120000);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    unsetenv("DATAFLEET_TEST_CONCURRENCY");
    unsetenv("DATAFLEET_TEST_GRACE");
}

static void test_bad_values_are_usage_errors(void)
{
    test_config_t cfg;
    df_args_t args;
    char *out_of_range[] = { "t", "--concurrency", "0", NULL };
    char *not_int[] = { "t", "--concurrency=lots", NULL };
    char *unknown[] = { "t", "--frobnicate", NULL };
    char *missing[] = { "t", "--name", NULL };
    char *bad_enum[] = { "t", "--log-level", "loud", NULL };
    char *bad_duration[] = { "t", "--grace", "5 parsecs", NULL };

    CHECK_INT(parse(&cfg, &args, 3, out_of_range), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    CHECK_INT(parse(&cfg, &args, 2, not_int), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    CHECK_INT(parse(&cfg, &args, 2, unknown), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    CHECK_INT(parse(&cfg, &args, 2, missing), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    CHECK_INT(parse(&cfg, &args, 3, bad_enum), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    CHECK_INT(parse(&cfg, &args, 3, bad_duration), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);

    setenv("DATAFLEET_TEST_CONCURRENCY", "many", 1);
    char *plain[] = { "t", NULL };
    CHECK_INT(parse(&cfg, &args, 1, plain), DF_PARSE_USAGE);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    unsetenv("DATAFLEET_TEST_CONCURRENCY");
}

static void test_typed_parsers(void)
{
    int64_t v;
    bool b;
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_config_parse_duration("250ms", &v, &err), DF_OK);
    CHECK_INT(v, 250);
    CHECK_INT(df_config_parse_duration("2h", &v, &err), DF_OK);
    CHECK_INT(v, 7200000);
    CHECK_INT(df_config_parse_duration("40", &v, &err), DF_OK);
    CHECK_INT(v, 40);
    CHECK_INT(df_config_parse_duration("-1s", &v, &err), DF_ERR_INVALID);
    CHECK(strstr(err.message, "duration") != NULL);
    CHECK_INT(df_config_parse_bool("YES", &b, &err), DF_OK);
    CHECK(b);
    CHECK_INT(df_config_parse_bool("off", &b, &err), DF_OK);
    CHECK(!b);
    CHECK_INT(df_config_parse_bool("maybe", &b, &err), DF_ERR_INVALID);
    CHECK_INT(df_config_parse_int("12x", &v, &err), DF_ERR_INVALID);
}

static void test_help_lists_every_option(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    REQUIRE(out != NULL);
    df_config_print_help(&program, out);
    fclose(out);
    for (size_t i = 0; i < program.n_options; i++)
        CHECK_MSG(strstr(text, program.options[i].name) != NULL, "%s", program.options[i].name);
    CHECK(strstr(text, "DATAFLEET_KAFKA_BROKERS") != NULL);
    CHECK(strstr(text, "(default: 16)") != NULL);
    free(text);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_env_then_flags_win);
    RUN(test_bad_values_are_usage_errors);
    RUN(test_typed_parsers);
    RUN(test_help_lists_every_option);
    return df_test_done();
}
