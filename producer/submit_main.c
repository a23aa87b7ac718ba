/* datafleet-submit: submit tasks from the command line: one from flags or a
 * JSON file, many from NDJSON. Prints each accepted task id on stdout. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_id.h"
#include "df_lineage.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_program.h"
#include "df_redis.h"
#include "df_submit.h"
#include "df_task.h"
#include "df_trace.h"
#include "follow.h"

#define EXIT_REJECTED 3 /* some tasks were invalid or not acknowledged by Kafka */

typedef struct submit_config {
    df_common_config_t common;
    char *type;
    char *connector;
    char *params;
    char *file;
    char *ndjson;
    char *task_id;
    char *ordering_key;
    int64_t max_attempts;
    char *deadline;
    char *labels;
    char *submitted_by;
    char *traceparent;
    char *kafka_props;
    bool dry_run;
    int64_t timeout_ms;
    bool wait;
    int64_t wait_timeout_ms;
} submit_config_t;

static const df_option_t options[] = {
    DF_COMMON_OPTIONS(submit_config_t),
    { "type", NULL, DF_OPT_ENUM, NULL, 0, 0, "export|refresh|lineage|probe", "task type",
      offsetof(submit_config_t, type), 0 },
    { "connector", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "registered connector name",
      offsetof(submit_config_t, connector), 0 },
    { "params", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "task parameters as a JSON object",
      offsetof(submit_config_t, params), 0 },
    { "file", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "read the task from this JSON file (flags override its fields)",
      offsetof(submit_config_t, file), 0 },
    { "ndjson", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "submit one task per line of this NDJSON file ('-' for stdin)",
      offsetof(submit_config_t, ndjson), 0 },
    { "task-id", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "task id (ULID or UUID); a new ULID when absent", offsetof(submit_config_t, task_id), 0 },
    { "ordering-key", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "tasks sharing this key run one at a time, in order", offsetof(submit_config_t, ordering_key),
      0 },
    { "max-attempts", NULL, DF_OPT_INT, NULL, 1, 100, NULL,
      "attempts allowed for retryable failures", offsetof(submit_config_t, max_attempts), 0 },
    { "deadline", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "RFC 3339 time or a duration from now (e.g. 10m) by which the task must finish",
      offsetof(submit_config_t, deadline), 0 },
    { "labels", NULL, DF_OPT_STRING, NULL, 0, 0, NULL, "labels as a JSON object of strings",
      offsetof(submit_config_t, labels), 0 },
    { "submitted-by", "DATAFLEET_SUBMITTED_BY", DF_OPT_STRING, NULL, 0, 0, NULL,
      "who submits, for the history (default: $USER)", offsetof(submit_config_t, submitted_by), 0 },
    { "traceparent", "TRACEPARENT", DF_OPT_STRING, NULL, 0, 0, NULL,
      "W3C trace context to continue (default: a new trace per task)",
      offsetof(submit_config_t, traceparent), 0 },
    { "kafka-props", "DATAFLEET_KAFKA_PROPS", DF_OPT_STRING, NULL, 0, 0, NULL,
      "extra librdkafka properties, key=value;key=value", offsetof(submit_config_t, kafka_props),
      0 },
    { "dry-run", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "validate and print the tasks as they would be sent; send nothing",
      offsetof(submit_config_t, dry_run), 0 },
    { "wait", NULL, DF_OPT_BOOL, "false", 0, 0, NULL,
      "follow the tasks live until they end; the exit code tells how they ended",
      offsetof(submit_config_t, wait), 0 },
    { "wait-timeout", NULL, DF_OPT_DURATION, "0", 0, 604800000, NULL,
      "with --wait, give up after this long (0: no limit)",
      offsetof(submit_config_t, wait_timeout_ms), 0 },
    { "timeout", "DATAFLEET_SUBMIT_TIMEOUT", DF_OPT_DURATION, "30s", 100, 3600000, NULL,
      "how long to wait for Kafka to acknowledge the tasks", offsetof(submit_config_t, timeout_ms),
      0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "every task was accepted (acknowledged by Kafka)" },
    { DF_EXIT_FAILURE, "could not reach Kafka or read the input" },
    { DF_EXIT_USAGE, "bad option or value, or a single task that does not validate" },
    { EXIT_REJECTED, "some tasks were invalid or not acknowledged (named on stderr)" },
    { DF_FOLLOW_EXIT_FAILED, "--wait: some task ended failed, dead or cancelled" },
    { DF_FOLLOW_EXIT_TIMEOUT, "--wait: --wait-timeout passed before every task ended" },
};

static const df_program_t program = {
    .name = "datafleet-submit",
    .summary = "Submit datafleet tasks to Kafka: one from flags or --file, many with --ndjson.",
    .usage = "[OPTIONS] | cancel TASK_ID... | lineage CONNECTOR | lineage show NODE [up|down|both] "
             "[DEPTH]",
    .details = "Commands:\n"
               "  cancel TASK_ID...   ask the fleet to cancel these tasks (df:cancel:{id}); a\n"
               "                      running task stops at its next check, a queued one\n"
               "                      ends cancelled when a worker reaches it\n"
               "  lineage CONNECTOR   submit a lineage task for the connector (the options\n"
               "                      --params, --wait... apply)\n"
               "  lineage show NODE [up|down|both] [DEPTH]\n"
               "                      print the lineage graph around NODE (\"<namespace>|<name>\"\n"
               "                      or a node id) from PostgreSQL, both ways, 3 edges deep\n"
               "                      by default (docs/LINEAGE.md)\n\n"
               "Examples:\n"
               "  datafleet-submit --type export --connector noop --params '{\"rows\":10}'\n"
               "  datafleet-submit --file task.json\n"
               "  datafleet-submit --ndjson - < tasks.ndjson\n",
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

typedef struct run_state {
    int accepted;
    int rejected;
    df_follow_t *follow; /* --wait */
} run_state_t;

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    run_state_t *st = opaque;

    if (err) {
        st->rejected++;
        fprintf(stderr, "%s: task %s not accepted by Kafka: %s\n", program.name, task_id,
                err->message);
        return;
    }
    st->accepted++;
    printf("%s\n", task_id);
    if (st->follow)
        df_follow_add(st->follow, task_id);
}

/* Parse a JSON object given on the command line; NULL and a message naming
 * the option when it is not one. */
static json_t *json_option(const char *name, const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(v)) {
        fprintf(stderr, "%s: --%s: expected a JSON object%s%s\n", program.name, name, v ? "" : ": ",
                v ? "" : jerr.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Build the single task from --file and the flags. NULL after printing why. */
static json_t *task_from_flags(const submit_config_t *cfg)
{
    json_error_t jerr;
    json_t *task;

    if (cfg->file) {
        task = json_load_file(cfg->file, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(task)) {
            fprintf(stderr, "%s: --file %s: %s\n", program.name, cfg->file,
                    task ? "expected a JSON object" : jerr.text);
            json_decref(task);
            return NULL;
        }
    } else {
        task = json_object();
    }
    if (cfg->type)
        json_object_set_new(task, "type", json_string(cfg->type));
    if (cfg->connector)
        json_object_set_new(task, "connector", json_string(cfg->connector));
    if (cfg->task_id)
        json_object_set_new(task, "task_id", json_string(cfg->task_id));
    if (cfg->ordering_key)
        json_object_set_new(task, "ordering_key", json_string(cfg->ordering_key));
    if (cfg->max_attempts)
        json_object_set_new(task, "max_attempts", json_integer(cfg->max_attempts));
    if (cfg->params) {
        json_t *params = json_option("params", cfg->params);
        if (!params)
            goto fail;
        json_object_set_new(task, "params", params);
    }
    if (cfg->labels) {
        json_t *labels = json_option("labels", cfg->labels);
        if (!labels)
            goto fail;
        json_object_set_new(task, "labels", labels);
    }
    if (cfg->deadline) {
        int64_t at, ms;
        df_error_t err;
        char buf[40];
        df_error_init(&err);
        if (!df_time_parse(cfg->deadline, &at)) {
            if (df_config_parse_duration(cfg->deadline, &ms, &err)) {
                fprintf(stderr,
                        "%s: --deadline: expected an RFC 3339 time or a duration, got \"%s\"\n",
                        program.name, cfg->deadline);
                goto fail;
            }
            at = df_now_ms() + ms;
        }
        df_time_format(at, buf, sizeof(buf));
        json_object_set_new(task, "deadline", json_string(buf));
    }
    if (!json_object_get(task, "type") || !json_object_get(task, "connector")) {
        fprintf(stderr, "%s: a task needs --type and --connector (or --file, or --ndjson)\n",
                program.name);
        goto fail;
    }
    return task;
fail:
    json_decref(task);
    return NULL;
}

static const char *default_submitter(const submit_config_t *cfg)
{
    const char *user = getenv("USER");
    return cfg->submitted_by ? cfg->submitted_by : (user ? user : "datafleet-submit");
}

/* Prepare and print (dry run) or submit one task. Returns DF_OK, or the
 * error code after printing why (DF_ERR_INVALID: the task does not
 * validate). */
static df_code_t submit_one(const submit_config_t *cfg, df_submitter_t *s, json_t *task,
                            const char *where)
{
    df_error_t err;

    df_error_init(&err);
    if (!json_object_get(task, "submitted_by") ||
        !json_is_string(json_object_get(task, "submitted_by")))
        json_object_set_new(task, "submitted_by", json_string(default_submitter(cfg)));
    if (cfg->dry_run) {
        char *text;
        if (df_task_prepare(task, NULL, &err)) {
            fprintf(stderr, "%s: %s: invalid task at %s: %s\n", program.name, where,
                    err.field[0] ? err.field : "/", err.message);
            return err.code;
        }
        text = json_dumps(task, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", text ? text : "");
        free(text);
        return DF_OK;
    }
    if (df_submit(s, task, cfg->traceparent, &err)) {
        fprintf(stderr, "%s: %s: %s at %s: %s\n", program.name, where,
                err.code == DF_ERR_INVALID ? "invalid task" : "not sent",
                err.field[0] ? err.field : "/", err.message);
        return err.code;
    }
    df_submit_poll(s);
    return DF_OK;
}

/* Submit every line of an NDJSON stream. Returns the number rejected
 * before sending (delivery failures are counted by the report callback). */
static int submit_ndjson(const submit_config_t *cfg, df_submitter_t *s, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rejected = 0;

    while ((len = getline(&line, &cap, in)) != -1) {
        char where[64];
        json_error_t jerr;
        json_t *task;

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        snprintf(where, sizeof(where), "line %ld", lineno);
        task = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(task)) {
            fprintf(stderr, "%s: %s: %s\n", program.name, where,
                    task ? "expected a JSON object (a task)" : jerr.text);
            json_decref(task);
            rejected++;
            continue;
        }
        if (submit_one(cfg, s, task, where) != DF_OK)
            rejected++;
        json_decref(task);
    }
    free(line);
    return rejected;
}

static int run(const submit_config_t *cfg)
{
    run_state_t st = { .accepted = 0 };
    df_submitter_t *s = NULL;
    df_error_t err;
    int rejected = 0;
    json_t *task = NULL;
    FILE *in = NULL;

    df_error_init(&err);
    if (cfg->ndjson) {
        if (cfg->type || cfg->connector || cfg->params || cfg->file || cfg->task_id) {
            fprintf(stderr, "%s: --ndjson takes whole tasks; do not combine it with task flags\n",
                    program.name);
            return DF_EXIT_USAGE;
        }
        in = strcmp(cfg->ndjson, "-") == 0 ? stdin : fopen(cfg->ndjson, "r");
        if (!in) {
            fprintf(stderr, "%s: --ndjson %s: %s\n", program.name, cfg->ndjson, strerror(errno));
            return DF_EXIT_FAILURE;
        }
    } else {
        task = task_from_flags(cfg);
        if (!task)
            return DF_EXIT_USAGE;
    }

    if (cfg->wait && !cfg->dry_run) {
        /* Subscribe before sending so no state change is missed. */
        st.follow = df_follow_new(cfg->common.redis_url, &err);
        if (!st.follow) {
            fprintf(stderr, "%s: --wait needs Redis: %s\n", program.name, err.message);
            json_decref(task);
            if (in && in != stdin)
                fclose(in);
            return DF_EXIT_FAILURE;
        }
    }
    if (!cfg->dry_run) {
        df_submit_config_t scfg = {
            .brokers = cfg->common.kafka_brokers,
            .topic_prefix = cfg->common.topic_prefix,
            .kafka_props = cfg->kafka_props,
            .partitions = (int)cfg->common.partitions,
            .ensure_topics = true,
        };
        s = df_submitter_new(&scfg, on_report, &st, &err);
        if (!s) {
            fprintf(stderr, "%s: cannot connect to Kafka: %s\n", program.name, err.message);
            df_follow_destroy(st.follow);
            json_decref(task);
            if (in && in != stdin)
                fclose(in);
            return DF_EXIT_FAILURE;
        }
    }

    if (task) {
        df_code_t rc = submit_one(cfg, s, task, "task");
        json_decref(task);
        if (rc == DF_ERR_INVALID) { /* the one task given does not validate */
            df_submitter_destroy(s);
            df_follow_destroy(st.follow);
            return DF_EXIT_USAGE;
        }
        if (rc)
            rejected = 1;
    } else {
        rejected = submit_ndjson(cfg, s, in);
        if (in != stdin)
            fclose(in);
    }

    if (s) {
        if (df_submit_flush(s, (int)cfg->timeout_ms, &err))
            fprintf(stderr, "%s: %s\n", program.name, err.message);
        df_submitter_destroy(s);
    }
    fflush(stdout);
    if (st.follow) {
        int follow_rc = DF_EXIT_OK;
        if (st.accepted > 0) {
            df_program_handle_signals();
            follow_rc =
                df_follow_run(st.follow, cfg->wait_timeout_ms, stdout, isatty(2) ? stderr : NULL);
        }
        df_follow_destroy(st.follow);
        if (rejected + st.rejected)
            return EXIT_REJECTED;
        return follow_rc;
    }
    return rejected + st.rejected ? EXIT_REJECTED : DF_EXIT_OK;
}

/* `lineage show NODE [DIRECTION] [DEPTH]`: the graph around NODE, one
 * edge per line ("from -> to  kind  attrs"), nodes first. */
static int lineage_show(const submit_config_t *cfg, int n, char **args)
{
    const char *direction = n > 1 ? args[1] : "both";
    char *end = NULL;
    long depth = n > 2 ? strtol(args[2], &end, 10) : 3;
    json_t *graph = NULL, *names, *x;
    df_error_t err;
    df_pg_t *pg;
    size_t i;

    if (n < 1 || n > 3 || (end && *end)) {
        fprintf(stderr, "%s: lineage show: expected NODE [up|down|both] [DEPTH]\n", program.name);
        return DF_EXIT_USAGE;
    }
    df_error_init(&err);
    pg = df_pg_new(cfg->common.database_url, &err);
    if (!pg) {
        fprintf(stderr, "%s: lineage show needs PostgreSQL: %s\n", program.name, err.message);
        return DF_EXIT_FAILURE;
    }
    if (df_lineage_walk(pg, args[0], direction, (int)depth, &graph, &err) != DF_OK) {
        df_pg_destroy(pg);
        fprintf(stderr, "%s: lineage show: %s\n", program.name, err.message);
        return err.code == DF_ERR_INVALID ? DF_EXIT_USAGE : DF_EXIT_FAILURE;
    }
    df_pg_destroy(pg);
    names = json_object();
    json_array_foreach(json_object_get(graph, "nodes"), i, x)
    {
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(x, "id")));
        printf("node  %lld  %s|%s  %s  (depth %lld)\n",
               (long long)json_integer_value(json_object_get(x, "id")),
               json_string_value(json_object_get(x, "namespace")),
               json_string_value(json_object_get(x, "name")),
               json_string_value(json_object_get(x, "kind")),
               (long long)json_integer_value(json_object_get(x, "depth")));
        json_object_set_new(names, key,
                            json_sprintf("%s|%s",
                                         json_string_value(json_object_get(x, "namespace")),
                                         json_string_value(json_object_get(x, "name"))));
    }
    json_array_foreach(json_object_get(graph, "edges"), i, x)
    {
        char from[24], to[24];
        char *attrs = json_dumps(json_object_get(x, "attrs"), JSON_COMPACT);
        snprintf(from, sizeof(from), "%lld",
                 (long long)json_integer_value(json_object_get(x, "from")));
        snprintf(to, sizeof(to), "%lld", (long long)json_integer_value(json_object_get(x, "to")));
        printf("edge  %s -> %s  %s  %s\n", json_string_value(json_object_get(names, from)),
               json_string_value(json_object_get(names, to)),
               json_string_value(json_object_get(x, "kind")), attrs ? attrs : "{}");
        free(attrs);
    }
    json_decref(names);
    json_decref(graph);
    return DF_EXIT_OK;
}

/* `cancel ID...`: set each task's cancel flag (kept a week). */
static int cancel_tasks(const submit_config_t *cfg, int n, char **ids)
{
    df_error_t err;
    df_redis_t *redis;
    int failed = 0;

    if (n == 0) {
        fprintf(stderr, "%s: cancel: expected at least one task id\n", program.name);
        return DF_EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        if (!df_id_valid(ids[i])) {
            fprintf(stderr, "%s: cancel: \"%s\" is not a task id (expected a ULID or UUID)\n",
                    program.name, ids[i]);
            return DF_EXIT_USAGE;
        }
    }
    df_error_init(&err);
    redis = df_redis_new(cfg->common.redis_url, 2000, 5000, &err);
    if (!redis) {
        fprintf(stderr, "%s: cancel needs Redis: %s\n", program.name, err.message);
        return DF_EXIT_FAILURE;
    }
    for (int i = 0; i < n; i++) {
        char key[96];
        redisReply *r;
        snprintf(key, sizeof(key), "df:cancel:%s", ids[i]);
        r = df_redis_command(redis, &err, "SET %s 1 EX 604800", key);
        if (!r) {
            fprintf(stderr, "%s: cancel %s: %s\n", program.name, ids[i], err.message);
            failed++;
            continue;
        }
        freeReplyObject(r);
        printf("cancel requested: %s\n", ids[i]);
    }
    df_redis_destroy(redis);
    return failed ? DF_EXIT_FAILURE : DF_EXIT_OK;
}

int main(int argc, char **argv)
{
    submit_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_program_start(&program, &cfg, &cfg.common, "submit", argc, argv, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (cfg.traceparent && !df_trace_valid(cfg.traceparent)) {
        fprintf(stderr,
                "%s: --traceparent: expected a W3C traceparent "
                "(00-<32 hex>-<16 hex>-<2 hex>, lowercase, ids not all zero)\n",
                program.name);
        rc = DF_EXIT_USAGE;
    } else if (args.count > 0 && strcmp(args.values[0], "cancel") == 0) {
        rc = cancel_tasks(&cfg, args.count - 1, args.values + 1);
    } else if (args.count > 1 && strcmp(args.values[0], "lineage") == 0 &&
               strcmp(args.values[1], "show") == 0) {
        rc = lineage_show(&cfg, args.count - 2, args.values + 2);
    } else if (args.count == 2 && strcmp(args.values[0], "lineage") == 0) {
        free(cfg.type);
        free(cfg.connector);
        cfg.type = strdup("lineage");
        cfg.connector = strdup(args.values[1]);
        rc = cfg.type && cfg.connector ? run(&cfg) : DF_EXIT_FAILURE;
    } else if (args.count > 0) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", program.name, args.values[0]);
        fprintf(stderr, "Try '%s --help' for more information.\n", program.name);
        rc = DF_EXIT_USAGE;
    } else {
        rc = run(&cfg);
    }
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
