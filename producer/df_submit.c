/* df_submit: the submit API (see df_submit.h). */
#include "df_submit.h"

#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_kafka.h"
#include "df_kafka_producer.h"
#include "df_log.h"
#include "df_task.h"
#include "df_trace.h"

/* One task waiting for its delivery report. */
typedef struct pending {
    char task_id[DF_ID_BUF + 64];
    bool is_event; /* the queued event: failures are logged, not reported */
} pending_t;

struct df_submitter {
    df_kafka_config_t kcfg;
    df_kafka_producer_t *producer;
    df_submit_report_fn report;
    void *opaque;
    char events_topic[DF_KAFKA_TOPIC_MAX];
    char source[64];
};

static void on_delivery(void *opaque, const rd_kafka_message_t *msg, void *msg_opaque,
                        const df_error_t *err)
{
    df_submitter_t *s = opaque;
    pending_t *p = msg_opaque;

    (void)msg;
    if (!p)
        return;
    if (p->is_event) {
        if (err)
            df_warn("queued event for task %s not delivered: %s", p->task_id, err->message);
    } else if (s->report) {
        s->report(s->opaque, p->task_id, err);
    }
    free(p);
}

df_submitter_t *df_submitter_new(const df_submit_config_t *cfg, df_submit_report_fn report,
                                 void *opaque, df_error_t *err)
{
    df_submitter_t *s;

    if (!cfg || !cfg->brokers || !*cfg->brokers) {
        df_error_set(err, DF_ERR_INVALID, "brokers", "Kafka brokers are required");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    s->report = report;
    s->opaque = opaque;
    snprintf(s->source, sizeof(s->source), "%s", cfg->source ? cfg->source : "datafleet-submit");
    df_kafka_config_init(&s->kcfg);
    snprintf(s->kcfg.brokers, sizeof(s->kcfg.brokers), "%s", cfg->brokers);
    snprintf(s->kcfg.client_id, sizeof(s->kcfg.client_id), "%s", s->source);
    if (cfg->topic_prefix)
        snprintf(s->kcfg.prefix, sizeof(s->kcfg.prefix), "%s", cfg->topic_prefix);
    if (cfg->partitions > 0)
        s->kcfg.partitions = cfg->partitions;
    if ((cfg->kafka_props && df_kafka_config_add_props(&s->kcfg, cfg->kafka_props, err)) ||
        df_kafka_config_check(&s->kcfg, err) ||
        df_kafka_topic_name(&s->kcfg, DF_KAFKA_TOPIC_EVENTS, s->events_topic,
                            sizeof(s->events_topic), err))
        goto fail;
    s->producer = df_kafka_producer_new(&s->kcfg, on_delivery, s, err);
    if (!s->producer)
        goto fail;
    if (cfg->ensure_topics &&
        df_kafka_topics_ensure(df_kafka_producer_handle(s->producer), &s->kcfg, 30000, err))
        goto fail;
    return s;
fail:
    df_kafka_producer_destroy(s->producer);
    free(s);
    return NULL;
}

void df_submitter_destroy(df_submitter_t *s)
{
    if (!s)
        return;
    df_submit_flush(s, 10000, NULL);
    df_kafka_producer_destroy(s->producer);
    free(s);
}

static df_code_t send_json(df_submitter_t *s, const char *topic, const char *key, json_t *doc,
                           const char *schema, const char *traceparent, pending_t *p,
                           df_error_t *err)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    df_code_t rc;

    if (!body) {
        free(p);
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    }
    rc = df_kafka_producer_send(s->producer, topic, key, strlen(key), body, strlen(body),
                                df_kafka_headers_new(schema, traceparent), p, err);
    if (rc)
        free(p);
    free(body);
    return rc;
}

df_code_t df_submit(df_submitter_t *s, json_t *task, const char *traceparent, df_error_t *err)
{
    char fresh[DF_TRACEPARENT_LEN + 1];
    df_kafka_topic_t topic_id;
    char topic[DF_KAFKA_TOPIC_MAX];
    const char *task_id;
    pending_t *p, *pe;
    json_t *queued;
    df_code_t rc;

    rc = df_task_prepare(task, NULL, err);
    if (rc)
        return rc;
    /* Every task travels in a trace: the caller's, or one started here. */
    if (!traceparent || !df_trace_valid(traceparent)) {
        df_trace_new(fresh, sizeof(fresh));
        traceparent = fresh;
    }
    task_id = df_task_str(task, "task_id");
    if (!df_kafka_topic_for_task_type(df_task_str(task, "type"), &topic_id))
        return df_error_set(err, DF_ERR_INVALID, "/type", "no topic for task type");
    rc = df_kafka_topic_name(&s->kcfg, topic_id, topic, sizeof(topic), err);
    if (rc)
        return rc;

    p = calloc(1, sizeof(*p));
    pe = calloc(1, sizeof(*pe));
    queued = df_event_new(task_id, df_task_attempt(task), DF_STATE_QUEUED, s->source);
    if (!p || !pe || !queued) {
        free(p);
        free(pe);
        json_decref(queued);
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    }
    snprintf(p->task_id, sizeof(p->task_id), "%s", task_id);
    snprintf(pe->task_id, sizeof(pe->task_id), "%s", task_id);
    pe->is_event = true;
    json_object_set_new(queued, "type", json_string(df_task_str(task, "type")));
    json_object_set_new(queued, "connector", json_string(df_task_str(task, "connector")));
    json_object_set(queued, "task", task);

    /* The queued event carries the whole task, so the history (and the
     * scheduler's reconciler) knows of it even if no worker ever does. */
    rc = send_json(s, s->events_topic, task_id, queued, DF_EVENT_SCHEMA, traceparent, pe, err);
    json_decref(queued);
    if (rc) {
        free(p);
        return rc;
    }
    return send_json(s, topic, df_task_key(task), task, DF_TASK_SCHEMA, traceparent, p, err);
}

df_code_t df_submit_flush(df_submitter_t *s, int timeout_ms, df_error_t *err)
{
    return df_kafka_producer_flush(s->producer, timeout_ms, err);
}

void df_submit_poll(df_submitter_t *s)
{
    df_kafka_producer_poll(s->producer, 0);
}
