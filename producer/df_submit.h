/* df_submit: submitting tasks to a datafleet fleet from C.
 *
 *   df_submitter_t *s = df_submitter_new(&cfg, on_report, ctx, &err);
 *   json_t *task = json_pack("{s:s, s:s, s:{}}", "type", "export", "connector", "noop", "params");
 *   df_submit(s, task, NULL, &err);       // validates, fills task_id, queues
 *   df_submit_flush(s, 10000, &err);      // waits for every delivery report
 *   df_submitter_destroy(s);
 *
 * Each task goes to its type's topic keyed by its ordering_key (or its
 * task_id) through an idempotent producer with acks=all; a `queued` event
 * carrying the task goes to the events topic so the history knows of it
 * before any worker does. A task id submitted twice runs once: workers
 * acknowledge a task that is already terminal without running it again. */
#ifndef DF_SUBMIT_H
#define DF_SUBMIT_H

#include <jansson.h>
#include <stdbool.h>

#include "df_error.h"

typedef struct df_submit_config {
    const char *brokers;      /* required: "host:port,..." */
    const char *topic_prefix; /* NULL: "datafleet." */
    const char *kafka_props;  /* extra librdkafka properties "k=v;k=v", or NULL */
    const char *submitted_by; /* recorded on tasks that do not say; NULL: none */
    int partitions;           /* for topics created when missing; 0: 12 */
    bool ensure_topics;       /* create missing topics at _new */
    const char *source;       /* `worker` of the queued events; NULL: "datafleet-submit" */
} df_submit_config_t;

typedef struct df_submitter df_submitter_t;

/* Called once per submitted task from df_submit / df_submit_flush (never
 * from another thread). task_id is borrowed for the call; err is NULL when
 * Kafka acknowledged the task (acks=all), else why not. */
typedef void (*df_submit_report_fn)(void *opaque, const char *task_id, const df_error_t *err);

/* Connect a submitter. cfg is copied. report may be NULL. NULL on failure
 * with err set (DF_ERR_INVALID for a bad setting, DF_ERR_KAFKA otherwise). */
df_submitter_t *df_submitter_new(const df_submit_config_t *cfg, df_submit_report_fn report,
                                 void *opaque, df_error_t *err);

/* Flush what is pending (up to 10 s), then free. NULL is a no-op. */
void df_submitter_destroy(df_submitter_t *s);

/* Prepare (defaults, validation) and queue one task. task is borrowed and
 * modified: task_id, submitted_at and attempt are filled in when absent.
 * traceparent (W3C) goes in the headers of the task and its queued event;
 * NULL or an invalid value starts a new trace (df_trace.h). Returns
 * DF_ERR_INVALID, naming the JSON path in err->field, for a task that does
 * not validate (nothing is sent); the outcome of a queued task arrives
 * through the report callback. */
df_code_t df_submit(df_submitter_t *s, json_t *task, const char *traceparent, df_error_t *err);

/* Wait up to timeout_ms for the reports of every queued task. DF_ERR_TIMEOUT
 * when some are still pending. */
df_code_t df_submit_flush(df_submitter_t *s, int timeout_ms, df_error_t *err);

/* Serve pending delivery reports without waiting. */
void df_submit_poll(df_submitter_t *s);

#endif
