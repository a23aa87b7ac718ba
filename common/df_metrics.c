/* df_metrics: the registry and the text exposition (see df_metrics.h). */
#include "df_metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_hmap.h"
#include "df_id.h"
#include "df_log.h"

typedef enum kind { COUNTER, GAUGE, HISTOGRAM } kind_t;

static const char *const kind_names[] = { "counter", "gauge", "histogram" };

static const double default_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1,     2.5,  5,     10,   30,  60 };

typedef struct series {
    char **values;    /* one per label */
    double value;     /* counter, gauge */
    uint64_t *counts; /* histogram: per bucket (not cumulative), then +Inf */
    double sum;
    uint64_t count;
} series_t;

struct df_metric {
    char *name, *help;
    kind_t kind;
    char *labels[DF_METRICS_MAX_LABELS];
    size_t nlabels;
    double *buckets;
    size_t nbuckets;
    df_metric_collect_fn collect;
    void *collect_opaque;

    pthread_mutex_t lock;
    df_hmap_t *index; /* joined values -> series */
    series_t **series;
    size_t nseries, cap;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static df_metric_t **metrics;
static size_t nmetrics, metrics_cap;
static df_metric_t *dropped_metric;

static bool valid_name(const char *s)
{
    if (!s || !*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return false;
    return true;
}

static size_t split_labels(const char *text, char *out[DF_METRICS_MAX_LABELS], bool *ok)
{
    size_t n = 0;
    const char *p = text;

    *ok = true;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == DF_METRICS_MAX_LABELS) {
            *ok = false;
            break;
        }
        out[n] = strndup(p, len);
        if (!out[n] || !valid_name(out[n]) || strncmp(out[n], "__", 2) == 0)
            *ok = false;
        n++;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static bool same_shape(const df_metric_t *m, kind_t kind, char *const labels[], size_t n)
{
    if (m->kind != kind || m->nlabels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(m->labels[i], labels[i]) != 0)
            return false;
    return true;
}

static df_metric_t *create(const char *name, const char *help, const char *labels, kind_t kind,
                           const double *buckets, size_t nbuckets)
{
    char *names[DF_METRICS_MAX_LABELS] = { 0 };
    bool ok;
    size_t n = split_labels(labels, names, &ok);
    df_metric_t *m = NULL;

    pthread_mutex_lock(&registry_lock);
    if (!valid_name(name) || !ok) {
        df_error("metrics: bad metric or label name: %s {%s}", name ? name : "(null)",
                 labels ? labels : "");
        goto out;
    }
    for (size_t i = 0; i < nmetrics; i++) {
        if (strcmp(metrics[i]->name, name) == 0) {
            if (same_shape(metrics[i], kind, names, n))
                m = metrics[i];
            else
                df_error("metrics: %s registered twice with different kinds or labels", name);
            goto out;
        }
    }
    if (nmetrics == metrics_cap) {
        size_t cap = metrics_cap ? metrics_cap * 2 : 64;
        df_metric_t **grown = realloc(metrics, cap * sizeof(*grown));
        if (!grown)
            goto out;
        metrics = grown;
        metrics_cap = cap;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        goto out;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    m->kind = kind;
    m->nlabels = n;
    for (size_t i = 0; i < n; i++) {
        m->labels[i] = names[i];
        names[i] = NULL;
    }
    if (kind == HISTOGRAM) {
        if (!buckets) {
            buckets = default_buckets;
            nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
        }
        m->buckets = malloc(nbuckets * sizeof(double));
        if (m->buckets)
            memcpy(m->buckets, buckets, nbuckets * sizeof(double));
        m->nbuckets = nbuckets;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->index = df_hmap_new();
    metrics[nmetrics++] = m;
out:
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return m;
}

df_metric_t *df_metric_counter(const char *name, const char *help, const char *labels)
{
    return create(name, help, labels, COUNTER, NULL, 0);
}

df_metric_t *df_metric_gauge(const char *name, const char *help, const char *labels)
{
    return create(name, help, labels, GAUGE, NULL, 0);
}

df_metric_t *df_metric_histogram(const char *name, const char *help, const char *labels,
                                 const double *buckets, size_t nbuckets)
{
    return create(name, help, labels, HISTOGRAM, buckets, nbuckets);
}

df_metric_t *df_metric_gauge_fn(const char *name, const char *help, const char *labels,
                                df_metric_collect_fn fn, void *opaque)
{
    df_metric_t *m = create(name, help, labels, GAUGE, NULL, 0);

    if (m) {
        pthread_mutex_lock(&m->lock);
        m->collect = fn;
        m->collect_opaque = opaque;
        pthread_mutex_unlock(&m->lock);
    }
    return m;
}

static void count_dropped(const df_metric_t *m);

/* The series for the label values in ap (m->lock held); NULL when the
 * metric is full or memory ran out. */
static series_t *series_for(df_metric_t *m, va_list ap)
{
    const char *values[DF_METRICS_MAX_LABELS];
    char key[1024];
    size_t len = 0;
    series_t *s;

    for (size_t i = 0; i < m->nlabels; i++) {
        const char *v = va_arg(ap, const char *);
        int w;
        values[i] = v ? v : "";
        w = snprintf(key + len, sizeof(key) - len, "%s\x1f", values[i]);
        if (w < 0 || (size_t)w >= sizeof(key) - len)
            return NULL;
        len += (size_t)w;
    }
    s = m->index ? df_hmap_get(m->index, key, len) : NULL;
    if (s)
        return s;
    if (m->nseries >= DF_METRICS_MAX_SERIES || !m->index) {
        count_dropped(m);
        return NULL;
    }
    if (m->nseries == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        series_t **grown = realloc(m->series, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        m->series = grown;
        m->cap = cap;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->values = calloc(m->nlabels ? m->nlabels : 1, sizeof(char *));
    if (m->kind == HISTOGRAM)
        s->counts = calloc(m->nbuckets + 1, sizeof(uint64_t));
    for (size_t i = 0; s->values && i < m->nlabels; i++)
        s->values[i] = strdup(values[i]);
    if (!s->values || (m->kind == HISTOGRAM && !s->counts) || !df_hmap_put(m->index, key, len, s)) {
        free(s->counts);
        free(s->values);
        free(s);
        return NULL;
    }
    m->series[m->nseries++] = s;
    return s;
}

static void count_dropped(const df_metric_t *m)
{
    (void)m;
    /* Counted without taking another metric's lock: a plain atomic. */
    static unsigned long long dropped_total;
    __atomic_add_fetch(&dropped_total, 1, __ATOMIC_RELAXED);
    if (dropped_metric && dropped_metric != m) {
        pthread_mutex_lock(&dropped_metric->lock);
        if (dropped_metric->nseries == 1)
            dropped_metric->series[0]->value = (double)dropped_total;
        pthread_mutex_unlock(&dropped_metric->lock);
    }
}

void df_metric_inc(df_metric_t *m, double by, ...)
{
    va_list ap;
    series_t *s;

    if (!m || m->kind == HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    va_start(ap, by);
    s = series_for(m, ap);
    va_end(ap);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&m->lock);
}

void df_metric_set(df_metric_t *m, double value, ...)
{
    va_list ap;
    series_t *s;

    if (!m || m->kind != GAUGE)
        return;
    pthread_mutex_lock(&m->lock);
    va_start(ap, value);
    s = series_for(m, ap);
    va_end(ap);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void df_metric_observe(df_metric_t *m, double value, ...)
{
    va_list ap;
    series_t *s;
    size_t b;

    if (!m || m->kind != HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    va_start(ap, value);
    s = series_for(m, ap);
    va_end(ap);
    if (s) {
        for (b = 0; b < m->nbuckets && value > m->buckets[b]; b++)
            ;
        s->counts[b]++;
        s->sum += value;
        s->count++;
    }
    pthread_mutex_unlock(&m->lock);
}

static void free_series(series_t *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->counts);
    free(s);
}

void df_metric_remove(df_metric_t *m, ...)
{
    char key[1024];
    size_t len = 0;
    series_t *s;
    va_list ap;

    if (!m)
        return;
    va_start(ap, m);
    for (size_t i = 0; i < m->nlabels; i++) {
        const char *v = va_arg(ap, const char *);
        int w = snprintf(key + len, sizeof(key) - len, "%s\x1f", v ? v : "");
        if (w < 0 || (size_t)w >= sizeof(key) - len) {
            va_end(ap);
            return;
        }
        len += (size_t)w;
    }
    va_end(ap);
    pthread_mutex_lock(&m->lock);
    s = m->index ? df_hmap_remove(m->index, key, len) : NULL;
    if (s) {
        for (size_t i = 0; i < m->nseries; i++) {
            if (m->series[i] == s) {
                memmove(&m->series[i], &m->series[i + 1],
                        (m->nseries - i - 1) * sizeof(m->series[0]));
                m->nseries--;
                break;
            }
        }
        free_series(s, m->nlabels);
    }
    pthread_mutex_unlock(&m->lock);
}

void df_metric_clear(df_metric_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nseries; i++)
        free_series(m->series[i], m->nlabels);
    m->nseries = 0;
    df_hmap_destroy(m->index);
    m->index = df_hmap_new();
    pthread_mutex_unlock(&m->lock);
}

void df_metrics_process(const char *program, const char *version)
{
    df_metric_t *info =
        df_metric_gauge("datafleet_build_info",
                        "The program and version of this process (always 1).", "program,version");
    df_metric_t *start = df_metric_gauge("datafleet_process_start_time_seconds",
                                         "When this process started, in Unix seconds.", "");

    dropped_metric =
        df_metric_counter("datafleet_metrics_series_dropped_total",
                          "Metric updates dropped because a metric reached its series limit.", "");
    df_metric_inc(dropped_metric, 0);
    df_metric_set(info, 1, program, version);
    df_metric_set(start, (double)df_now_ms() / 1000.0);
}

/* ---- rendering ---- */

typedef struct buf {
    char *data;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *grown;
        while (cap < b->len + n + 1)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* HELP text: backslash and newline escaped; label values also '"'. */
static void put_escaped(buf_t *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (quote && *s == '"')
            puts_(b, "\\\"");
        else
            put(b, s, 1);
    }
}

static void put_number(buf_t *b, double v)
{
    char num[40];

    if (isnan(v))
        snprintf(num, sizeof(num), "NaN");
    else if (isinf(v))
        snprintf(num, sizeof(num), v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(num, sizeof(num), "%.17g", v);
    puts_(b, num);
}

/* name{labels[,extra="value"]} */
static void put_series_name(buf_t *b, const df_metric_t *m, const series_t *s, const char *suffix,
                            const char *extra, const char *extra_value)
{
    bool any = m->nlabels > 0 || extra;

    puts_(b, m->name);
    puts_(b, suffix);
    if (!any)
        return;
    puts_(b, "{");
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            puts_(b, ",");
        puts_(b, m->labels[i]);
        puts_(b, "=\"");
        put_escaped(b, s->values[i], true);
        puts_(b, "\"");
    }
    if (extra) {
        if (m->nlabels)
            puts_(b, ",");
        puts_(b, extra);
        puts_(b, "=\"");
        puts_(b, extra_value);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

static void render_metric(buf_t *b, df_metric_t *m)
{
    if (m->collect)
        m->collect(m, m->collect_opaque);
    pthread_mutex_lock(&m->lock);
    puts_(b, "# HELP ");
    puts_(b, m->name);
    puts_(b, " ");
    put_escaped(b, m->help, false);
    puts_(b, "\n# TYPE ");
    puts_(b, m->name);
    puts_(b, " ");
    puts_(b, kind_names[m->kind]);
    puts_(b, "\n");
    for (size_t i = 0; i < m->nseries; i++) {
        const series_t *s = m->series[i];
        if (m->kind != HISTOGRAM) {
            put_series_name(b, m, s, "", NULL, NULL);
            puts_(b, " ");
            put_number(b, s->value);
            puts_(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= m->nbuckets; k++) {
            char le[40];
            cum += s->counts[k];
            if (k < m->nbuckets)
                snprintf(le, sizeof(le), "%.17g", m->buckets[k]);
            else
                snprintf(le, sizeof(le), "+Inf");
            put_series_name(b, m, s, "_bucket", "le", le);
            puts_(b, " ");
            put_number(b, (double)cum);
            puts_(b, "\n");
        }
        put_series_name(b, m, s, "_sum", NULL, NULL);
        puts_(b, " ");
        put_number(b, s->sum);
        puts_(b, "\n");
        put_series_name(b, m, s, "_count", NULL, NULL);
        puts_(b, " ");
        put_number(b, (double)s->count);
        puts_(b, "\n");
    }
    pthread_mutex_unlock(&m->lock);
}

char *df_metrics_render(size_t *len)
{
    buf_t b = { 0 };
    df_metric_t **snapshot;
    size_t n;

    pthread_mutex_lock(&registry_lock);
    n = nmetrics;
    snapshot = n ? malloc(n * sizeof(*snapshot)) : NULL;
    if (snapshot)
        memcpy(snapshot, metrics, n * sizeof(*snapshot));
    pthread_mutex_unlock(&registry_lock);
    if (n && !snapshot)
        return NULL;
    puts_(&b, "");
    for (size_t i = 0; i < n; i++)
        render_metric(&b, snapshot[i]);
    free(snapshot);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}
