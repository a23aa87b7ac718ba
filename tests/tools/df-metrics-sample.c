/* df-metrics-sample: registers metrics of every kind, with label values
 * that need escaping, and prints the exposition text, so that a test can
 * check it with promtool. */
#include <stdio.h>
#include <stdlib.h>

#include "df_metrics.h"

static void collect(df_metric_t *gauge, void *opaque)
{
    (void)opaque;
    df_metric_clear(gauge);
    df_metric_set(gauge, 42, "tasks.export", "3");
}

int main(void)
{
    static const double buckets[] = { 0.1, 1, 10 };
    df_metric_t *c =
        df_metric_counter("datafleet_sample_total", "A counter.\nSecond \\ line.", "type,outcome");
    df_metric_t *g = df_metric_gauge("datafleet_sample_in_flight", "A gauge.", "");
    df_metric_t *h =
        df_metric_histogram("datafleet_sample_seconds", "A histogram.", "type", buckets, 3);
    char *text;

    df_metrics_process("df-metrics-sample", "0.0.0");
    df_metric_inc(c, 3, "export", "succeeded");
    df_metric_inc(c, 1, "export", "quote\"back\\slash\nnewline");
    df_metric_set(g, -2.5);
    df_metric_observe(h, 0.05, "export");
    df_metric_observe(h, 5, "export");
    df_metric_observe(h, 500, "refresh");
    df_metric_gauge_fn("datafleet_sample_lag", "A gauge computed at scrape time.",
                       "topic,partition", collect, NULL);
    text = df_metrics_render(NULL);
    if (!text)
        return 1;
    fputs(text, stdout);
    free(text);
    return 0;
}
