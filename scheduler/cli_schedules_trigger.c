/* cli_schedules_trigger: `schedules trigger NAME` (see cli_schedules.h):
 * fire a schedule now. The slot is the current second, claimed in
 * schedule_fires like a cron slot, in one transaction that holds the
 * schedule's row: claim, publish the task (or create the pipeline run),
 * wait for Kafka's acknowledgement, record last_fired_at, commit. A slot
 * that is claimed already (a second trigger within the same second, or the
 * cron leader firing that very second) is not fired again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schedules.h"
#include "df_id.h"
#include "df_submit.h"
#include "pipelines.h"
#include "schedule_slot.h"

typedef struct trigger {
    df_sched_cli_t *cli;
    const char *id, *name;
    int64_t slot;
    char slot_id[DF_ID_BUF], when[40];
    bool acked;
    df_error_t kafka_err;
} trigger_t;

static void on_report(void *opaque, const char *task_id, const df_error_t *err)
{
    trigger_t *t = opaque;

    if (strcmp(task_id, t->slot_id) != 0)
        return;
    t->acked = err == NULL;
    if (err)
        t->kafka_err = *err;
}

/* Publish the slot's task and wait for Kafka. DF_EXIT_* */
static int publish(trigger_t *t, const char *template_text)
{
    const df_sched_cli_config_t *cfg = &t->cli->cfg;
    df_submit_config_t scfg = {
        .brokers = cfg->common.kafka_brokers,
        .topic_prefix = cfg->common.topic_prefix,
        .partitions = (int)cfg->common.partitions,
        .ensure_topics = true,
        .submitted_by = "datafleet-scheduler",
        .source = "datafleet-scheduler",
    };
    char traceparent[DF_SCHEDULE_TRACEPARENT];
    json_t *tmpl = json_loads(template_text, 0, NULL), *task = NULL;
    df_submitter_t *sub = NULL;
    df_error_t err;
    int rc = DF_EXIT_FAILURE;

    df_error_init(&err);
    df_error_init(&t->kafka_err);
    if (df_schedule_template_check(tmpl, t->name, &err)) {
        df_sched_cli_fail(t->cli, DF_EXIT_FAILURE,
                          "schedule %s: its task_template is invalid: %s%s%s", t->name, err.field,
                          err.field[0] ? ": " : "", err.message);
        goto out;
    }
    task = df_schedule_task(tmpl, t->id, t->name, t->slot, &err);
    sub = task ? df_submitter_new(&scfg, on_report, t, &err) : NULL;
    if (!sub) {
        df_sched_cli_fail(t->cli, DF_EXIT_FAILURE, "Kafka: %s", err.message);
        goto out;
    }
    df_schedule_slot_traceparent(t->id, t->slot, traceparent);
    if (df_submit(sub, task, traceparent, &err) ||
        df_submit_flush(sub, (int)cfg->timeout_ms, &err) || !t->acked) {
        df_sched_cli_fail(t->cli, DF_EXIT_FAILURE, "task %s not acknowledged by Kafka: %s",
                          t->slot_id, t->kafka_err.code ? t->kafka_err.message : err.message);
        goto out;
    }
    rc = DF_EXIT_OK;
out:
    df_submitter_destroy(sub);
    json_decref(task);
    json_decref(tmpl);
    return rc;
}

/* The slot was claimed already: say by what, exit 0. */
static int already_fired(trigger_t *t)
{
    char slot_text[24];
    const char *params[2] = { t->id, slot_text };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    snprintf(slot_text, sizeof(slot_text), "%lld", (long long)t->slot);
    res = df_pg_exec(t->cli->pg,
                     "SELECT COALESCE(task_id, pipeline_run_id) FROM schedule_fires"
                     " WHERE schedule_id = $1 AND fire_time = to_timestamp($2::bigint / 1000.0)",
                     2, params, &err);
    printf("%s: slot %s already fired: %s\n", t->name, t->when,
           res && PQntuples(res) ? PQgetvalue(res, 0, 0) : t->slot_id);
    PQclear(res);
    return DF_EXIT_OK;
}

int df_sched_cli_trigger(df_sched_cli_t *cli, char **args)
{
    trigger_t t = { .cli = cli, .name = args[0] };
    const char *params[4];
    char slot_text[24];
    df_error_t err;
    PGresult *row = NULL, *res;
    bool pipeline, created = false;
    int rc = DF_EXIT_FAILURE;

    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    if (df_pg_begin(cli->pg, &err))
        return df_sched_cli_pg_fail(cli, &err);
    params[0] = args[0];
    row = df_pg_exec(cli->pg,
                     "SELECT id, task_template::text, pipeline::text FROM schedules"
                     " WHERE name = $1 FOR UPDATE",
                     1, params, &err);
    if (!row)
        goto pg_fail;
    if (PQntuples(row) == 0) {
        PQclear(row);
        df_pg_rollback(cli->pg, NULL);
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_NOT_FOUND, "no schedule named \"%s\"", args[0]);
    }
    t.id = PQgetvalue(row, 0, 0);
    pipeline = PQgetisnull(row, 0, 1);
    t.slot = df_now_ms() / 1000 * 1000;
    df_schedule_slot_id(t.id, t.slot, t.slot_id);
    df_sched_cli_time(t.slot, t.when, sizeof(t.when));
    snprintf(slot_text, sizeof(slot_text), "%lld", (long long)t.slot);
    params[0] = t.id;
    params[1] = slot_text;
    params[2] = pipeline ? NULL : t.slot_id;
    params[3] = pipeline ? t.slot_id : NULL;
    res = df_pg_exec(cli->pg,
                     "INSERT INTO schedule_fires (schedule_id, fire_time, task_id, pipeline_run_id,"
                     "       fired_at)"
                     " VALUES ($1, to_timestamp($2::bigint / 1000.0), $3, $4, clock_timestamp())"
                     " ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING 1",
                     4, params, &err);
    if (!res)
        goto pg_fail;
    if (PQntuples(res) == 0) {
        PQclear(res);
        df_pg_rollback(cli->pg, NULL);
        rc = already_fired(&t);
        PQclear(row);
        return rc;
    }
    PQclear(res);
    if (pipeline) {
        json_t *ref = json_loads(PQgetvalue(row, 0, 2), 0, NULL);
        df_code_t code =
            df_pipeline_run_create(cli->pg, ref, t.slot_id, t.id, t.slot, &created, &err);
        json_decref(ref);
        if (code) {
            df_sched_cli_fail(cli, DF_EXIT_FAILURE, "pipeline run not created: %s%s%s", err.field,
                              err.field[0] ? ": " : "", err.message);
            goto rollback;
        }
    } else if (publish(&t, PQgetvalue(row, 0, 1)) != DF_EXIT_OK) {
        goto rollback;
    }
    df_error_init(&err);
    if (df_pg_run(
            cli->pg,
            "UPDATE schedules"
            "   SET last_fired_at = GREATEST(last_fired_at, to_timestamp($2::bigint / 1000.0))"
            " WHERE id = $1",
            2, params, NULL, &err) ||
        df_pg_commit(cli->pg, &err))
        goto pg_fail;
    printf("%s: slot %s fired: %s %s\n", args[0], t.when, pipeline ? "pipeline run" : "task",
           t.slot_id);
    PQclear(row);
    return DF_EXIT_OK;
pg_fail:
    rc = df_sched_cli_pg_fail(cli, &err);
rollback:
    df_pg_rollback(cli->pg, NULL);
    PQclear(row);
    return rc;
}
