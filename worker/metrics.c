/* metrics: the worker's Prometheus metrics (see metrics.h). */
#include "metrics.h"

#include <pthread.h>

#include "df_metrics.h"

static df_metric_t *started, *finished, *duration, *in_flight, *errors, *dlq, *quarantined,
    *export_rows;

static void create(void)
{
    static const double buckets[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,
                                      10,   30,   60,  120,  300, 900, 1800, 3600 };

    started = df_metric_counter("datafleet_tasks_started_total",
                                "Task runs started (the worker took the lease).", "type,kind");
    finished = df_metric_counter(
        "datafleet_tasks_finished_total",
        "Task runs ended, by outcome (succeeded, failed, retrying, dead, cancelled).",
        "type,kind,outcome");
    duration = df_metric_histogram("datafleet_task_duration_seconds",
                                   "Duration of task runs, from the lease to the outcome.",
                                   "type,kind", buckets, sizeof(buckets) / sizeof(buckets[0]));
    in_flight = df_metric_gauge("datafleet_tasks_in_flight", "Task runs in progress.", "type");
    errors = df_metric_counter("datafleet_task_errors_total",
                               "Task runs that ended in error, by error code.", "type,kind,code");
    dlq = df_metric_counter("datafleet_dlq_messages_total",
                            "Messages sent to the dead-letter topic, by reason.", "reason");
    quarantined = df_metric_counter(
        "datafleet_tasks_quarantined_total",
        "Tasks quarantined because their runs kept ending with the worker lost.", "");
    export_rows = df_metric_counter("datafleet_export_rows_total",
                                    "Rows written by exports (acknowledged chunks).", "connector");
    df_metric_inc(quarantined, 0);
    for (const char *const *t =
             (const char *const[]){ "export", "refresh", "lineage", "probe", NULL };
         *t; t++)
        df_metric_inc(in_flight, 0, *t);
}

void df_wm_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, create);
}

static const char *or_unknown(const char *s)
{
    return s && *s ? s : "unknown";
}

void df_wm_started(const char *type, const char *kind)
{
    df_wm_init();
    df_metric_inc(started, 1, or_unknown(type), or_unknown(kind));
    df_metric_inc(in_flight, 1, or_unknown(type));
}

void df_wm_ended(const char *type)
{
    df_metric_inc(in_flight, -1, or_unknown(type));
}

void df_wm_finished(const char *type, const char *kind, const char *outcome, const char *code,
                    double seconds)
{
    df_wm_init();
    df_metric_inc(finished, 1, or_unknown(type), or_unknown(kind), outcome);
    if (code && *code && outcome[0] != 's') /* not succeeded */
        df_metric_inc(errors, 1, or_unknown(type), or_unknown(kind), code);
    if (seconds >= 0)
        df_metric_observe(duration, seconds, or_unknown(type), or_unknown(kind));
}

void df_wm_dlq(const char *reason)
{
    df_wm_init();
    df_metric_inc(dlq, 1, or_unknown(reason));
}

void df_wm_quarantined(void)
{
    df_wm_init();
    df_metric_inc(quarantined, 1);
}

void df_wm_export_rows(const char *connector, int64_t rows)
{
    df_wm_init();
    df_metric_inc(export_rows, (double)rows, or_unknown(connector));
}
