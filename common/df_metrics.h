/* df_metrics: a process's Prometheus metrics: counters, gauges and
 * histograms with fixed label names, rendered in the text exposition
 * format (version 0.0.4) for GET /metrics.
 *
 *   static df_metric_t *finished;
 *   finished = df_metric_counter("datafleet_tasks_finished_total",
 *                                "Tasks that reached an outcome.", "type,kind,outcome");
 *   df_metric_inc(finished, 1, "export", "powerbi", "succeeded");
 *
 * Metrics live in one registry per process, are created once (creating a
 * name again returns the same metric when the kind and labels agree) and
 * never freed before exit. Every function is thread-safe; updating a
 * series is a mutex-guarded hash lookup (well under a microsecond).
 *
 * Label values must be bounded (a task type, a connector kind, an HTTP
 * status class), never a task id, URL or secret: each metric keeps at most
 * DF_METRICS_MAX_SERIES series; updates of further ones are dropped and
 * counted in datafleet_metrics_series_dropped_total. */
#ifndef DF_METRICS_H
#define DF_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#define DF_METRICS_MAX_LABELS 6
#define DF_METRICS_MAX_SERIES 2000

typedef struct df_metric df_metric_t;

/* labels: comma-separated label names ("" or NULL for none). Returns NULL
 * only on a programming error (bad name, a name reused with another kind or
 * other labels), which is also logged. */
df_metric_t *df_metric_counter(const char *name, const char *help, const char *labels);
df_metric_t *df_metric_gauge(const char *name, const char *help, const char *labels);
/* buckets: ascending upper bounds (the +Inf bucket is implied); NULL for
 * the default latency buckets in seconds (5 ms .. 60 s). */
df_metric_t *df_metric_histogram(const char *name, const char *help, const char *labels,
                                 const double *buckets, size_t nbuckets);

/* Each takes exactly as many label values (const char *) as the metric has
 * label names; a NULL value is rendered "". A NULL metric is a no-op. */
void df_metric_inc(df_metric_t *m, double by, ...);        /* counters and gauges */
void df_metric_set(df_metric_t *m, double value, ...);     /* gauges */
void df_metric_observe(df_metric_t *m, double value, ...); /* histograms */

/* A gauge computed at scrape time: fn is called (from the scraping thread)
 * and reports its series through df_metric_set on the same metric. Metrics
 * live until the process exits, so opaque must too. */
typedef void (*df_metric_collect_fn)(df_metric_t *gauge, void *opaque);
df_metric_t *df_metric_gauge_fn(const char *name, const char *help, const char *labels,
                                df_metric_collect_fn fn, void *opaque);

/* Drop one series (the label values as for df_metric_set), if it exists. */
void df_metric_remove(df_metric_t *m, ...);

/* Drop every series of a gauge (before a collect function re-reports the
 * current ones, so that gone partitions disappear). */
void df_metric_clear(df_metric_t *m);

/* datafleet_build_info{program,version} 1 and
 * datafleet_process_start_time_seconds: call once at start. */
void df_metrics_process(const char *program, const char *version);

/* The whole registry in the text format; caller frees. NULL on allocation
 * failure. */
char *df_metrics_render(size_t *len);

/* ---- the metrics listener (df_metrics_http.c) ---- */

/* Called for GET /readyz: true when the process can do its work; why gets
 * a short reason otherwise ("kafka: ...", "postgres: ..."). */
typedef bool (*df_ready_fn)(void *opaque, char *why, size_t why_len);

/* Serve GET /metrics, /healthz (always 200 while the process runs) and
 * /readyz on listen ("host:port", "port" or ":port"; port 0 picks a free
 * one) from a thread of its own. Returns false with a message in
 * why (the address, and what failed). ready may be NULL (always ready). */
bool df_metrics_listen(const char *listen, df_ready_fn ready, void *opaque, char *why,
                       size_t why_len);

/* "host:port", "port" or ":port" (host an IPv4 address or "localhost";
 * default 127.0.0.1) -> sa. false with why naming option and the value. */
struct sockaddr_in;
bool df_listen_parse(const char *listen, const char *option, struct sockaddr_in *sa, char *why,
                     size_t why_len);

/* Set (or replace) the /readyz callback of a running listener. */
void df_metrics_set_ready(df_ready_fn ready, void *opaque);

/* The port actually bound (after listen with port 0), or 0 when not
 * listening. */
int df_metrics_port(void);

/* Stop serving (at exit). */
void df_metrics_stop(void);

#endif
