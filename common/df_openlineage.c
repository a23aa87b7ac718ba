/* df_openlineage: see df_openlineage.h. One sender thread per emitter: it
 * takes the oldest queued event, posts it, and on a transient failure
 * keeps it at the head and waits before the next try; emit appends under
 * the lock and drops the oldest when the buffer is full. */
#include "df_openlineage.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"

#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  30000
#define POST_TIMEOUT_MS 5000

struct df_openlineage {
    char *url;
    char *auth; /* "Authorization: Bearer ..." or NULL */
    size_t cap;
    json_t **ring; /* cap slots, head..head+count */
    size_t head, count;
    bool stopping;
    int drain_deadline_set;
    int64_t drain_until_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
};

static df_metric_t *m_events;

static void count(const char *result)
{
    df_metric_inc(m_events, 1, result);
}

/* ---- the event ------------------------------------------------------------ */

/* A UUID (version 4 layout) from SHA-256 of task id and attempt: the same
 * run gets the same id on every worker. */
static void run_uuid(const char *task_id, int attempt, char out[37])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char seed[320];
    int len = snprintf(seed, sizeof(seed), "datafleet-run:%s:%d", task_id, attempt);

    EVP_Digest(seed, (size_t)(len < (int)sizeof(seed) ? len : (int)sizeof(seed) - 1), md, &n,
               EVP_sha256(), NULL);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x40);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

/* Append ns/name of end (an edge's from or to) to list unless it is there. */
static void add_dataset(json_t *list, const json_t *end)
{
    const char *ns = json_string_value(json_object_get(end, "namespace"));
    const char *name = json_string_value(json_object_get(end, "name"));
    size_t i;
    json_t *d;

    if (!ns || !name || !*ns || !*name)
        return;
    json_array_foreach(list, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "namespace")), ns) == 0 &&
            strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
            return;
    }
    json_array_append_new(list, json_pack("{s:s, s:s}", "namespace", ns, "name", name));
}

json_t *df_openlineage_run_event(const char *event_type, const char *task_id, int attempt,
                                 const char *type, const char *connector, const json_t *lineage,
                                 const char *error)
{
    char run_id[37], at[40], job[300];
    json_t *inputs = json_array(), *outputs = json_array(), *ev;
    const json_t *edges = json_object_get(lineage, "edges");
    size_t i;
    const json_t *e;

    run_uuid(task_id, attempt, run_id);
    df_time_format(df_now_ms(), at, sizeof(at));
    snprintf(job, sizeof(job), "%s.%s", type ? type : "task", connector ? connector : "unknown");
    json_array_foreach(edges, i, e)
    {
        add_dataset(inputs, json_object_get(e, "from"));
        add_dataset(outputs, json_object_get(e, "to"));
    }
    ev =
        json_pack("{s:s, s:s, s:{s:s, s:{}}, s:{s:s, s:s}, s:o, s:o, s:s, s:s}", "eventType",
                  event_type, "eventTime", at, "run", "runId", run_id, "facets", "job", "namespace",
                  DF_OPENLINEAGE_NAMESPACE, "name", job, "inputs", inputs, "outputs", outputs,
                  "producer", DF_OPENLINEAGE_PRODUCER, "schemaURL", DF_OPENLINEAGE_SCHEMA_URL);
    if (ev && error && *error) {
        char message[DF_ERR_MSG_MAX];
        snprintf(message, sizeof(message), "%s", error);
        df_log_redact(message);
        json_object_set_new(
            json_object_get(json_object_get(ev, "run"), "facets"), "errorMessage",
            json_pack("{s:s, s:s, s:s, s:s}", "_producer", DF_OPENLINEAGE_PRODUCER, "_schemaURL",
                      "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json"
                      "#/$defs/ErrorMessageRunFacet",
                      "message", message, "programmingLanguage", "C"));
    }
    return ev;
}

/* ---- sending ---------------------------------------------------------------- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* 1: sent; 0: try again later; -1: the endpoint refuses it for good. */
static int post(df_openlineage_t *ol, CURL *curl, const char *body)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    CURLcode rc;

    if (ol->auth)
        headers = curl_slist_append(headers, ol->auth);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, ol->url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)POST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        return 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return 1;
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return -1;
    return 0;
}

static void *sender(void *arg)
{
    df_openlineage_t *ol = arg;
    CURL *curl = curl_easy_init();
    int64_t backoff = 0, failing_since = 0;
    bool warned = false;

    pthread_mutex_lock(&ol->lock);
    for (;;) {
        json_t *ev;
        char *body;
        int sent;

        while (ol->count == 0 && !ol->stopping)
            pthread_cond_wait(&ol->wake, &ol->lock);
        if (ol->count == 0 || (ol->stopping && df_mono_ms() >= ol->drain_until_ms))
            break;
        ev = json_incref(ol->ring[ol->head]);
        pthread_mutex_unlock(&ol->lock);
        body = json_dumps(ev, JSON_COMPACT);
        sent = body && curl ? post(ol, curl, body) : -1;
        free(body);
        pthread_mutex_lock(&ol->lock);
        /* the head may have been dropped meanwhile (buffer full) */
        if (ol->count > 0 && ol->ring[ol->head] == ev && sent != 0) {
            json_decref(ol->ring[ol->head]);
            ol->head = (ol->head + 1) % ol->cap;
            ol->count--;
        }
        json_decref(ev);
        if (sent == 1) {
            count("sent");
            if (warned)
                df_info("openlineage: the endpoint takes events again");
            backoff = 0;
            failing_since = 0;
            warned = false;
            continue;
        }
        if (sent < 0) {
            count("rejected");
            df_warn("openlineage: the endpoint refused an event (4xx): dropped");
            continue;
        }
        count("retried");
        if (ol->stopping)
            break; /* no waiting out the endpoint at exit */
        if (!failing_since)
            failing_since = df_mono_ms();
        if (!warned) {
            df_warn("openlineage: cannot post to the endpoint; keeping up to %zu events and "
                    "trying again",
                    ol->cap);
            warned = true;
        }
        backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                          : BACKOFF_MIN_MS;
        {
            struct timespec until;
            int64_t wake_ms;
            clock_gettime(CLOCK_REALTIME, &until);
            wake_ms = (int64_t)until.tv_sec * 1000 + until.tv_nsec / 1000000 + backoff;
            until.tv_sec = (time_t)(wake_ms / 1000);
            until.tv_nsec = (long)(wake_ms % 1000) * 1000000;
            while (!ol->stopping && pthread_cond_timedwait(&ol->wake, &ol->lock, &until) == 0) {
            }
        }
    }
    pthread_mutex_unlock(&ol->lock);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

df_openlineage_t *df_openlineage_start(const char *url, const char *token, size_t buffer,
                                       df_error_t *err)
{
    df_openlineage_t *ol;

    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        df_error_set(err, DF_ERR_INVALID, "openlineage-url",
                     "--openlineage-url: expected an http:// or https:// URL");
        return NULL;
    }
    if (buffer < 1) {
        df_error_set(err, DF_ERR_INVALID, "openlineage-buffer",
                     "--openlineage-buffer: expected at least 1");
        return NULL;
    }
    if (!m_events)
        m_events = df_metric_counter("datafleet_openlineage_events_total",
                                     "OpenLineage events by what became of them: sent, retried "
                                     "(a failed post, tried again), dropped (buffer full), "
                                     "rejected (4xx).",
                                     "result");
    ol = calloc(1, sizeof(*ol));
    if (!ol || !(ol->ring = calloc(buffer, sizeof(json_t *))) || !(ol->url = strdup(url))) {
        if (ol)
            free(ol->ring);
        free(ol);
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    ol->cap = buffer;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        ol->auth = malloc(n);
        if (ol->auth)
            snprintf(ol->auth, n, "Authorization: Bearer %s", token);
        df_log_redact_add(token);
    }
    pthread_mutex_init(&ol->lock, NULL);
    pthread_cond_init(&ol->wake, NULL);
    if (pthread_create(&ol->thread, NULL, sender, ol) != 0) {
        pthread_mutex_destroy(&ol->lock);
        pthread_cond_destroy(&ol->wake);
        free(ol->auth);
        free(ol->url);
        free(ol->ring);
        free(ol);
        df_error_set(err, DF_ERR_IO, NULL, "cannot start the OpenLineage sender thread");
        return NULL;
    }
    return ol;
}

void df_openlineage_emit(df_openlineage_t *ol, json_t *event)
{
    if (!ol || !event) {
        json_decref(event);
        return;
    }
    pthread_mutex_lock(&ol->lock);
    if (ol->count == ol->cap) {
        json_decref(ol->ring[ol->head]);
        ol->head = (ol->head + 1) % ol->cap;
        ol->count--;
        count("dropped");
    }
    ol->ring[(ol->head + ol->count) % ol->cap] = event;
    ol->count++;
    pthread_cond_signal(&ol->wake);
    pthread_mutex_unlock(&ol->lock);
}

size_t df_openlineage_pending(df_openlineage_t *ol)
{
    size_t n;

    if (!ol)
        return 0;
    pthread_mutex_lock(&ol->lock);
    n = ol->count;
    pthread_mutex_unlock(&ol->lock);
    return n;
}

void df_openlineage_stop(df_openlineage_t *ol, int drain_ms)
{
    if (!ol)
        return;
    pthread_mutex_lock(&ol->lock);
    ol->stopping = true;
    ol->drain_until_ms = df_mono_ms() + drain_ms;
    pthread_cond_broadcast(&ol->wake);
    pthread_mutex_unlock(&ol->lock);
    pthread_join(ol->thread, NULL);
    while (ol->count > 0) {
        json_decref(ol->ring[ol->head]);
        ol->head = (ol->head + 1) % ol->cap;
        ol->count--;
    }
    pthread_mutex_destroy(&ol->lock);
    pthread_cond_destroy(&ol->wake);
    if (ol->auth) {
        memset(ol->auth, 0, strlen(ol->auth));
        free(ol->auth);
    }
    free(ol->url);
    free(ol->ring);
    free(ol);
}
