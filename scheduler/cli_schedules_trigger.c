/* cli_schedules_trigger: `schedules trigger NAME` (see cli_schedules.h):
 * fire a schedule now through df_schedule_trigger (schedule_store.h),
 * publishing the slot's task with a submitter of its own and waiting for
 * Kafka's acknowledgement up to --timeout. A slot that is claimed already
 * (a second trigger within the same second, or the cron leader firing that
 * very second) is not fired again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schedules.h"
#include "df_id.h"
#include "df_submit.h"
#include "schedule_store.h"

typedef struct trigger {
    df_sched_cli_t *cli;
    const char *task_id;
    bool acked;
    df_error_t kafka_err;
} trigger_t;

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    trigger_t *t = opaque;

    if (!t->task_id || strcmp(task_id, t->task_id) != 0)
        return;
    t->acked = err == NULL;
    if (err)
        t->kafka_err = *err;
}

/* df_schedule_publish_fn: publish the slot's task and wait for Kafka. The
 * failure is printed here. */
static df_code_t publish(void *ctx, json_t *task, const char *traceparent, df_error_t *err)
{
    trigger_t *t = ctx;
    const df_sched_cli_config_t *cfg = &t->cli->cfg;
    df_submit_config_t scfg = {
        .brokers = cfg->common.kafka_brokers,
        .topic_prefix = cfg->common.topic_prefix,
        .partitions = (int)cfg->common.partitions,
        .ensure_topics = true,
        .submitted_by = "datafleet-scheduler",
        .source = "datafleet-scheduler",
    };
    df_submitter_t *sub;
    df_code_t rc = DF_OK;

    df_error_init(&t->kafka_err);
    t->task_id = json_string_value(json_object_get(task, "task_id"));
    sub = df_submitter_new(&scfg, on_report, t, err);
    if (!sub) {
        df_sched_cli_fail(t->cli, DF_EXIT_FAILURE, "Kafka: %s", err->message);
        return err->code ? err->code : DF_ERR_KAFKA;
    }
    if (df_submit(sub, task, traceparent, err) || df_submit_flush(sub, (int)cfg->timeout_ms, err) ||
        !t->acked) {
        df_sched_cli_fail(t->cli, DF_EXIT_FAILURE, "task %s not acknowledged by Kafka: %s",
                          t->task_id, t->kafka_err.code ? t->kafka_err.message : err->message);
        if (t->kafka_err.code)
            *err = t->kafka_err;
        rc = err->code ? err->code : DF_ERR_KAFKA;
    }
    df_submitter_destroy(sub);
    return rc;
}

int df_sched_cli_trigger(df_sched_cli_t *cli, char **args)
{
    trigger_t t = { .cli = cli };
    df_schedule_fire_t fire;
    char when[40];
    df_error_t err;
    df_code_t code;

    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    code = df_schedule_trigger(cli->pg, args[0], publish, &t, &fire, &err);
    df_sched_cli_time(fire.slot, when, sizeof(when));
    if (code == DF_ERR_NOT_FOUND && fire.stage == DF_SCHEDULE_STAGE_PG && !fire.slot)
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_NOT_FOUND, "no schedule named \"%s\"", args[0]);
    if (code) {
        switch (fire.stage) {
        case DF_SCHEDULE_STAGE_TEMPLATE:
            return df_sched_cli_fail(cli, DF_EXIT_FAILURE,
                                     "schedule %s: its task_template is invalid: %s%s%s", args[0],
                                     err.field, err.field[0] ? ": " : "", err.message);
        case DF_SCHEDULE_STAGE_PIPELINE:
            return df_sched_cli_fail(cli, DF_EXIT_FAILURE, "pipeline run not created: %s%s%s",
                                     err.field, err.field[0] ? ": " : "", err.message);
        case DF_SCHEDULE_STAGE_PUBLISH: return DF_EXIT_FAILURE; /* printed by publish */
        default: return df_sched_cli_pg_fail(cli, &err);
        }
    }
    if (fire.already) {
        printf("%s: slot %s already fired: %s\n", args[0], when,
               fire.fired_id[0] ? fire.fired_id : fire.slot_id);
        return DF_EXIT_OK;
    }
    printf("%s: slot %s fired: %s %s\n", args[0], when, fire.pipeline ? "pipeline run" : "task",
           fire.slot_id);
    return DF_EXIT_OK;
}
