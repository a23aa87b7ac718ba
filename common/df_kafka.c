/* df_kafka: shared Kafka settings, topic names, error conversion, headers,
 * topic creation and readiness (see df_kafka.h). */
#include "df_kafka.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "df_log.h"

/* How long one metadata request may take inside a wait loop, and the pause
 * between two attempts. */
#define METADATA_STEP_MS 2000
#define RETRY_PAUSE_MS   100

static const char *const topic_suffixes[DF_KAFKA_TOPIC_COUNT] = {
    [DF_KAFKA_TOPIC_TASKS_EXPORT] = "tasks.export",
    [DF_KAFKA_TOPIC_TASKS_REFRESH] = "tasks.refresh",
    [DF_KAFKA_TOPIC_TASKS_LINEAGE] = "tasks.lineage",
    [DF_KAFKA_TOPIC_EVENTS] = "events",
    [DF_KAFKA_TOPIC_DLQ] = "dlq",
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

void df_kafka_config_init(df_kafka_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->brokers, sizeof(cfg->brokers), "%s", "127.0.0.1:9092");
    snprintf(cfg->prefix, sizeof(cfg->prefix), "%s", DF_KAFKA_PREFIX_DEFAULT);
    snprintf(cfg->client_id, sizeof(cfg->client_id), "%s", "datafleet");
    cfg->partitions = DF_KAFKA_PARTITIONS_DEFAULT;
    cfg->replication_factor = -1;
}

/* Properties whose values are credentials or key material: never echoed. */
static bool prop_is_sensitive(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "sasl.oauthbearer") ||
           strncmp(key, "ssl.key", 7) == 0 || strstr(key, "keystore") || strstr(key, "sasl.jaas");
}

static void trim_span(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

/* Add the item [start, end) ("key=value"). */
static df_code_t add_prop_span(df_kafka_config_t *cfg, const char *start, const char *end,
                               df_error_t *err)
{
    const char *eq;
    const char *key_end;
    const char *value;
    size_t key_len, value_len, i;
    df_kafka_prop_t *slot = NULL;

    trim_span(&start, &end);
    eq = memchr(start, '=', (size_t)(end - start));
    if (!eq)
        return df_error_set(err, DF_ERR_INVALID, "kafka property",
                            "kafka property: expected key=value, got an item without '='");
    key_end = eq;
    value = eq + 1;
    trim_span(&start, &key_end);
    trim_span(&value, &end);
    key_len = (size_t)(key_end - start);
    value_len = (size_t)(end - value);
    if (key_len == 0)
        return df_error_set(err, DF_ERR_INVALID, "kafka property",
                            "kafka property: empty key before '='");
    if (key_len >= DF_KAFKA_PROP_KEY_MAX)
        return df_error_set(err, DF_ERR_INVALID, "kafka property",
                            "kafka property: key longer than %d bytes", DF_KAFKA_PROP_KEY_MAX - 1);
    for (i = 0; i < key_len; i++) {
        unsigned char c = (unsigned char)start[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return df_error_set(err, DF_ERR_INVALID, "kafka property",
                                "kafka property: key \"%.*s\" has a character outside "
                                "[A-Za-z0-9._-]",
                                (int)key_len, start);
    }
    if (value_len >= DF_KAFKA_PROP_VALUE_MAX)
        return df_error_set(err, DF_ERR_INVALID, "kafka property",
                            "kafka property %.*s: value longer than %d bytes", (int)key_len, start,
                            DF_KAFKA_PROP_VALUE_MAX - 1);

    for (i = 0; i < cfg->nprops; i++) {
        if (strlen(cfg->props[i].key) == key_len &&
            memcmp(cfg->props[i].key, start, key_len) == 0) {
            slot = &cfg->props[i];
            break;
        }
    }
    if (!slot) {
        if (cfg->nprops >= DF_KAFKA_PROPS_MAX)
            return df_error_set(err, DF_ERR_INVALID, "kafka property",
                                "kafka property %.*s: more than %d extra properties", (int)key_len,
                                start, DF_KAFKA_PROPS_MAX);
        slot = &cfg->props[cfg->nprops++];
    }
    memcpy(slot->key, start, key_len);
    slot->key[key_len] = '\0';
    memcpy(slot->value, value, value_len);
    slot->value[value_len] = '\0';
    if (prop_is_sensitive(slot->key))
        df_log_redact_add(slot->value);
    return DF_OK;
}

df_code_t df_kafka_config_add_prop(df_kafka_config_t *cfg, const char *key_value, df_error_t *err)
{
    if (!key_value)
        return df_error_set(err, DF_ERR_INVALID, "kafka property", "kafka property: NULL");
    return add_prop_span(cfg, key_value, key_value + strlen(key_value), err);
}

df_code_t df_kafka_config_add_props(df_kafka_config_t *cfg, const char *list, df_error_t *err)
{
    const char *p = list;

    if (!list)
        return DF_OK;
    while (*p) {
        const char *end = p + strcspn(p, ";\n");
        const char *s = p, *e = end;
        df_code_t rc;

        trim_span(&s, &e);
        if (s < e && *s != '#') {
            rc = add_prop_span(cfg, s, e, err);
            if (rc != DF_OK)
                return rc;
        }
        p = *end ? end + 1 : end;
    }
    return DF_OK;
}

static bool topic_chars_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

df_code_t df_kafka_config_check(const df_kafka_config_t *cfg, df_error_t *err)
{
    if (!cfg->brokers[0])
        return df_error_set(err, DF_ERR_INVALID, "kafka.brokers", "kafka brokers: empty");
    if (!topic_chars_ok(cfg->prefix))
        return df_error_set(err, DF_ERR_INVALID, "kafka.prefix",
                            "kafka topic prefix \"%s\": only [A-Za-z0-9._-] are allowed",
                            cfg->prefix);
    if (strlen(cfg->prefix) + strlen("tasks.refresh") >= DF_KAFKA_TOPIC_MAX)
        return df_error_set(err, DF_ERR_INVALID, "kafka.prefix",
                            "kafka topic prefix: topic names would exceed %d characters",
                            DF_KAFKA_TOPIC_MAX - 1);
    if (cfg->partitions < 1 || cfg->partitions > 10000)
        return df_error_set(err, DF_ERR_INVALID, "kafka.partitions",
                            "kafka partitions %d: expected 1..10000", cfg->partitions);
    if (cfg->replication_factor == 0 || cfg->replication_factor < -1)
        return df_error_set(err, DF_ERR_INVALID, "kafka.replication_factor",
                            "kafka replication factor %d: expected -1 (broker default) or >= 1",
                            cfg->replication_factor);
    return DF_OK;
}

const char *df_kafka_topic_suffix(df_kafka_topic_t topic)
{
    if ((int)topic < 0 || (int)topic >= DF_KAFKA_TOPIC_COUNT)
        return NULL;
    return topic_suffixes[topic];
}

df_code_t df_kafka_topic_name(const df_kafka_config_t *cfg, df_kafka_topic_t topic, char *buf,
                              size_t len, df_error_t *err)
{
    const char *suffix = df_kafka_topic_suffix(topic);
    int n;

    if (!suffix)
        return df_error_set(err, DF_ERR_INVALID, "topic", "unknown topic %d", (int)topic);
    n = snprintf(buf, len, "%s%s", cfg->prefix, suffix);
    if (n < 0 || (size_t)n >= len)
        return df_error_set(err, DF_ERR_INVALID, "topic", "topic name %s%s does not fit %zu bytes",
                            cfg->prefix, suffix, len);
    return DF_OK;
}

bool df_kafka_topic_for_task_type(const char *type, df_kafka_topic_t *out)
{
    if (!type)
        return false;
    if (strcmp(type, "export") == 0)
        *out = DF_KAFKA_TOPIC_TASKS_EXPORT;
    else if (strcmp(type, "refresh") == 0 || strcmp(type, "probe") == 0)
        *out = DF_KAFKA_TOPIC_TASKS_REFRESH;
    else if (strcmp(type, "lineage") == 0)
        *out = DF_KAFKA_TOPIC_TASKS_LINEAGE;
    else
        return false;
    return true;
}

/* librdkafka log lines (syslog levels) -> df_log. Called from librdkafka's
 * threads; df_log is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    df_log_level_t lvl = level <= 3   ? DF_LOG_ERROR
                         : level == 4 ? DF_LOG_WARN
                         : level <= 6 ? DF_LOG_INFO
                                      : DF_LOG_DEBUG;
    if (df_log_enabled(lvl))
        df_log_write(lvl, "librdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static df_code_t conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                          df_error_t *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return DF_OK;
    if (prop_is_sensitive(key))
        return df_error_set(err, DF_ERR_INVALID, key,
                            "kafka property %s: rejected by librdkafka (value not shown)", key);
    return df_error_set(err, DF_ERR_INVALID, key, "kafka property %s: %s", key, errstr);
}

rd_kafka_conf_t *df_kafka_conf_new(const df_kafka_config_t *cfg, const char *const *defaults,
                                   df_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i;

    if (!conf) {
        df_error_set(err, DF_ERR_NOMEM, "rd_kafka_conf_new", "rd_kafka_conf_new failed");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (conf_set(conf, "bootstrap.servers", cfg->brokers, err) != DF_OK ||
        conf_set(conf, "client.id", cfg->client_id[0] ? cfg->client_id : "datafleet", err) != DF_OK)
        goto fail;
    for (i = 0; defaults && defaults[i] && defaults[i + 1]; i += 2)
        if (conf_set(conf, defaults[i], defaults[i + 1], err) != DF_OK)
            goto fail;
    for (i = 0; i < cfg->nprops; i++)
        if (conf_set(conf, cfg->props[i].key, cfg->props[i].value, err) != DF_OK)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Transient broker and client conditions: trying again later can succeed. */
static bool code_is_retryable(rd_kafka_resp_err_t code)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT: return true;
    default: return false;
    }
}

df_code_t df_kafka_error_from_code(df_error_t *err, rd_kafka_resp_err_t code, const char *call)
{
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        return DF_OK;
    df_error_set(err, DF_ERR_KAFKA, call, "%s: %s (%s)", call ? call : "kafka",
                 rd_kafka_err2str(code), rd_kafka_err2name(code));
    if (err)
        err->retryable = code_is_retryable(code);
    return DF_ERR_KAFKA;
}

df_code_t df_kafka_error_from(df_error_t *err, rd_kafka_error_t *kerror, const char *call)
{
    if (!kerror)
        return DF_OK;
    df_error_set(err, DF_ERR_KAFKA, call, "%s: %s (%s)%s", call ? call : "kafka",
                 rd_kafka_error_string(kerror), rd_kafka_error_name(kerror),
                 rd_kafka_error_is_fatal(kerror) ? " [fatal]" : "");
    if (err)
        err->retryable =
            !rd_kafka_error_is_fatal(kerror) &&
            (rd_kafka_error_is_retriable(kerror) || code_is_retryable(rd_kafka_error_code(kerror)));
    rd_kafka_error_destroy(kerror);
    return DF_ERR_KAFKA;
}

rd_kafka_headers_t *df_kafka_headers_new(const char *schema, const char *traceparent)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);

    if (!hdrs)
        return NULL;
    if (schema)
        rd_kafka_header_add(hdrs, DF_KAFKA_HEADER_SCHEMA, -1, schema, -1);
    if (traceparent)
        rd_kafka_header_add(hdrs, DF_KAFKA_HEADER_TRACEPARENT, -1, traceparent, -1);
    return hdrs;
}

bool df_kafka_header_get(const rd_kafka_message_t *msg, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *value = NULL;
    size_t size = 0;

    if (len > 0)
        buf[0] = '\0';
    /* rd_kafka_message_headers takes a non-const message: it parses the
     * headers lazily and caches them in the message. */
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    if (rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !value)
        return false;
    if (size >= len || memchr(value, '\0', size))
        return false;
    memcpy(buf, value, size);
    buf[size] = '\0';
    return true;
}

/* Partition count of name as the cluster reports it now: > 0, 0 when the
 * topic does not exist (or has no partition with a leader yet), -1 on
 * error (err set). */
static int metadata_partitions(rd_kafka_t *rk, const char *name, int timeout_ms, df_error_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t code;
    int count = -1;
    int i;

    if (!rkt) {
        df_kafka_error_from_code(err, rd_kafka_last_error(), "rd_kafka_topic_new");
        return -1;
    }
    code = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        df_kafka_error_from_code(err, code, "rd_kafka_metadata");
        return -1;
    }
    count = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = md->topics[0].partition_cnt;
        for (i = 0; i < md->topics[0].partition_cnt; i++)
            if (md->topics[0].partitions[i].leader < 0)
                count = 0;
    } else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
               md->topics[0].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
        df_kafka_error_from_code(err, md->topics[0].err, "topic metadata");
        count = -1;
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

int df_kafka_topic_partitions(rd_kafka_t *rk, const char *name, int timeout_ms, df_error_t *err)
{
    int count = metadata_partitions(rk, name, timeout_ms, err);

    if (count == 0)
        df_error_set(err, DF_ERR_NOT_FOUND, name,
                     "kafka topic %s does not exist (or has no leader yet)", name);
    return count;
}

/* Wait until name shows up in metadata with a leader for each partition. */
static df_code_t wait_topic_visible(rd_kafka_t *rk, const char *name, int64_t deadline,
                                    df_error_t *err)
{
    df_error_t last;

    df_error_init(&last);
    for (;;) {
        int left = remaining_ms(deadline);
        int count =
            metadata_partitions(rk, name, left < METADATA_STEP_MS ? left : METADATA_STEP_MS, &last);
        if (count > 0)
            return DF_OK;
        if (remaining_ms(deadline) < RETRY_PAUSE_MS) {
            df_code_t rc = df_error_set(err, DF_ERR_TIMEOUT, name,
                                        "kafka topic %s not visible in metadata in time%s%s", name,
                                        last.code ? ": " : "", last.code ? last.message : "");
            if (err)
                err->retryable = true;
            return rc;
        }
        sleep_ms(RETRY_PAUSE_MS);
    }
}

/* Create names[0..n) in one CreateTopics request. created[i] says which
 * were new. Topics that already exist are not an error. */
static df_code_t create_topics(rd_kafka_t *rk, const char *const *names, size_t n, int partitions,
                               int replication_factor, int timeout_ms, bool *created,
                               df_error_t *err)
{
    rd_kafka_NewTopic_t *new_topics[DF_KAFKA_TOPIC_COUNT];
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *event = NULL;
    const rd_kafka_CreateTopics_result_t *result;
    const rd_kafka_topic_result_t **results;
    size_t i, count = 0, made = 0;
    char errstr[512];
    df_code_t rc = DF_OK;

    if (n > DF_KAFKA_TOPIC_COUNT)
        return df_error_set(err, DF_ERR_INTERNAL, "CreateTopics", "too many topics at once");
    for (i = 0; i < n; i++) {
        created[i] = false;
        new_topics[i] =
            rd_kafka_NewTopic_new(names[i], partitions, replication_factor, errstr, sizeof(errstr));
        if (!new_topics[i]) {
            rc =
                df_error_set(err, DF_ERR_INVALID, names[i], "kafka topic %s: %s", names[i], errstr);
            goto done;
        }
        made++;
        /* Room for messages over the workers' own size limit, so an
         * oversized task reaches a worker (which sends it to the DLQ with the
         * reason) instead of failing at produce time with no record. */
        if (rd_kafka_NewTopic_set_config(new_topics[i], "max.message.bytes",
                                         DF_KAFKA_TOPIC_MAX_MESSAGE_BYTES)) {
            rc = df_error_set(err, DF_ERR_INTERNAL, names[i], "kafka topic %s: bad config",
                              names[i]);
            goto done;
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (!opts ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof(errstr)) ||
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr))) {
        rc = df_error_set(err, DF_ERR_KAFKA, "rd_kafka_AdminOptions", "admin options: %s",
                          opts ? errstr : "allocation failed");
        goto done;
    }
    queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, new_topics, n, opts, queue);
    /* The request carries its own timeout; give the result a little more. */
    event = rd_kafka_queue_poll(queue, timeout_ms + 2000);
    if (!event) {
        rc = df_error_set(err, DF_ERR_TIMEOUT, "CreateTopics",
                          "CreateTopics: no answer within %d ms", timeout_ms);
        if (err)
            err->retryable = true;
        goto done;
    }
    if (rd_kafka_event_error(event)) {
        df_kafka_error_from_code(err, rd_kafka_event_error(event), "CreateTopics");
        if (err)
            snprintf(err->message, sizeof(err->message), "CreateTopics: %s",
                     rd_kafka_event_error_string(event));
        rc = DF_ERR_KAFKA;
        goto done;
    }
    result = rd_kafka_event_CreateTopics_result(event);
    results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (i = 0; i < count; i++) {
        const char *name = rd_kafka_topic_result_name(results[i]);
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
        size_t k;

        if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            continue;
        if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *text = rd_kafka_topic_result_error_string(results[i]);
            rc = df_kafka_error_from_code(err, code, name);
            if (err)
                snprintf(err->message, sizeof(err->message), "create kafka topic %s: %s (%s)", name,
                         text ? text : rd_kafka_err2str(code), rd_kafka_err2name(code));
            goto done;
        }
        for (k = 0; k < n; k++)
            if (strcmp(names[k], name) == 0)
                created[k] = true;
    }
done:
    if (event)
        rd_kafka_event_destroy(event);
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    for (i = 0; i < made; i++)
        rd_kafka_NewTopic_destroy(new_topics[i]);
    return rc;
}

df_code_t df_kafka_topic_create(rd_kafka_t *rk, const char *name, int partitions,
                                int replication_factor, int timeout_ms, bool *created,
                                df_error_t *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    bool made = false;
    df_code_t rc;

    if (!name || !*name || strlen(name) >= DF_KAFKA_TOPIC_MAX || !topic_chars_ok(name))
        return df_error_set(err, DF_ERR_INVALID, "topic",
                            "kafka topic name must be 1..%d characters of [A-Za-z0-9._-]",
                            DF_KAFKA_TOPIC_MAX - 1);
    rc = create_topics(rk, &name, 1, partitions, replication_factor, timeout_ms, &made, err);
    if (rc != DF_OK)
        return rc;
    if (created)
        *created = made;
    if (made)
        df_info("created kafka topic %s with %d partitions", name, partitions);
    return wait_topic_visible(rk, name, deadline, err);
}

df_code_t df_kafka_topic_delete(rd_kafka_t *rk, const char *name, int timeout_ms, df_error_t *err)
{
    rd_kafka_DeleteTopic_t *topic = rd_kafka_DeleteTopic_new(name);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_event_t *event = NULL;
    df_code_t rc = DF_OK;
    char errstr[256];

    if (!topic || !opts || !queue) {
        rc = df_error_set(err, DF_ERR_NOMEM, "DeleteTopics", "DeleteTopics: allocation failed");
        goto done;
    }
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DeleteTopics(rk, &topic, 1, opts, queue);
    event = rd_kafka_queue_poll(queue, timeout_ms + 2000);
    if (!event) {
        rc = df_error_set(err, DF_ERR_TIMEOUT, "DeleteTopics",
                          "DeleteTopics %s: no answer within %d ms", name, timeout_ms);
    } else if (rd_kafka_event_error(event)) {
        rc = df_kafka_error_from_code(err, rd_kafka_event_error(event), "DeleteTopics");
    } else {
        size_t count = 0;
        const rd_kafka_topic_result_t **results =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count);
        if (count == 1) {
            rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
            if (code != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                rc = df_kafka_error_from_code(err, code, "DeleteTopics");
        }
    }
done:
    if (event)
        rd_kafka_event_destroy(event);
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (topic)
        rd_kafka_DeleteTopic_destroy(topic);
    return rc;
}

df_code_t df_kafka_topics_ensure(rd_kafka_t *rk, const df_kafka_config_t *cfg, int timeout_ms,
                                 df_error_t *err)
{
    char names[DF_KAFKA_TOPIC_COUNT][DF_KAFKA_TOPIC_MAX];
    const char *name_ptrs[DF_KAFKA_TOPIC_COUNT];
    bool created[DF_KAFKA_TOPIC_COUNT];
    int64_t deadline = now_ms() + timeout_ms;
    df_code_t rc;
    int i;

    rc = df_kafka_config_check(cfg, err);
    if (rc != DF_OK)
        return rc;
    for (i = 0; i < DF_KAFKA_TOPIC_COUNT; i++) {
        rc = df_kafka_topic_name(cfg, (df_kafka_topic_t)i, names[i], sizeof(names[i]), err);
        if (rc != DF_OK)
            return rc;
        name_ptrs[i] = names[i];
    }
    rc = create_topics(rk, name_ptrs, DF_KAFKA_TOPIC_COUNT, cfg->partitions,
                       cfg->replication_factor, timeout_ms, created, err);
    if (rc != DF_OK)
        return rc;
    for (i = 0; i < DF_KAFKA_TOPIC_COUNT; i++) {
        rc = wait_topic_visible(rk, names[i], deadline, err);
        if (rc != DF_OK)
            return rc;
        if (created[i]) {
            df_info("created kafka topic %s with %d partitions", names[i], cfg->partitions);
        } else {
            df_error_t ignored;
            int count;

            df_error_init(&ignored);
            count = metadata_partitions(rk, names[i], METADATA_STEP_MS, &ignored);
            if (count > 0 && count != cfg->partitions)
                df_warn("kafka topic %s has %d partitions, configured %d: left as is", names[i],
                        count, cfg->partitions);
        }
    }
    return DF_OK;
}

df_code_t df_kafka_ready(rd_kafka_t *rk, const df_kafka_config_t *cfg, int timeout_ms,
                         df_error_t *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    df_error_t last;
    df_code_t rc;
    int i;

    df_error_init(&last);
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int left = remaining_ms(deadline);
        rd_kafka_resp_err_t code =
            rd_kafka_metadata(rk, 0, NULL, &md, left < METADATA_STEP_MS ? left : METADATA_STEP_MS);

        if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0)
                break;
            df_error_set(&last, DF_ERR_KAFKA, "rd_kafka_metadata", "no broker in metadata");
        } else {
            df_kafka_error_from_code(&last, code, "rd_kafka_metadata");
        }
        if (remaining_ms(deadline) < RETRY_PAUSE_MS) {
            rc = df_error_set(err, DF_ERR_TIMEOUT, "kafka", "kafka not ready within %d ms: %s",
                              timeout_ms, last.message);
            if (err)
                err->retryable = true;
            return rc;
        }
        sleep_ms(RETRY_PAUSE_MS);
    }
    if (!cfg)
        return DF_OK;
    for (i = 0; i < DF_KAFKA_TOPIC_COUNT; i++) {
        char name[DF_KAFKA_TOPIC_MAX];
        int left = remaining_ms(deadline);
        df_error_t topic_err;

        rc = df_kafka_topic_name(cfg, (df_kafka_topic_t)i, name, sizeof(name), err);
        if (rc != DF_OK)
            return rc;
        df_error_init(&topic_err);
        if (df_kafka_topic_partitions(rk, name, left > 0 ? left : 1, &topic_err) <= 0) {
            if (err)
                *err = topic_err;
            return topic_err.code;
        }
    }
    return DF_OK;
}
