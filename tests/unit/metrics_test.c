/* metrics_test: df_metrics' registry and text exposition (counter, gauge,
 * histogram, label escaping, re-registration, the series limit) and the
 * metrics listener's routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_http.h"
#include "df_metrics.h"
#include "df_test.h"

static char *render(void)
{
    char *text = df_metrics_render(NULL);
    REQUIRE(text != NULL);
    return text;
}

static void test_counter_and_labels(void)
{
    df_metric_t *c = df_metric_counter("t_requests_total", "Requests.", "method,code");
    char *text;

    REQUIRE(c != NULL);
    df_metric_inc(c, 1, "GET", "200");
    df_metric_inc(c, 2, "GET", "200");
    df_metric_inc(c, 1, "say \"hi\"\\", "a\nb");
    text = render();
    CHECK(strstr(text, "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"));
    CHECK(strstr(text, "t_requests_total{method=\"GET\",code=\"200\"} 3\n"));
    CHECK(strstr(text, "t_requests_total{method=\"say \\\"hi\\\"\\\\\",code=\"a\\nb\"} 1\n"));
    free(text);

    /* The same name and shape: the same metric; another shape: refused. */
    CHECK(df_metric_counter("t_requests_total", "Requests.", "method,code") == c);
    CHECK(df_metric_counter("t_requests_total", "Requests.", "method") == NULL);
    CHECK(df_metric_gauge("t_requests_total", "Requests.", "method,code") == NULL);
    CHECK(df_metric_counter("bad name", "x", "") == NULL);
    CHECK(df_metric_counter("t_ok_total", "x", "__reserved") == NULL);
    df_metric_inc(NULL, 1, "ignored"); /* a no-op */
}

static void test_gauge_and_histogram(void)
{
    static const double b[] = { 0.5, 2 };
    df_metric_t *g = df_metric_gauge("t_in_flight", "In flight.", "");
    df_metric_t *h = df_metric_histogram("t_duration_seconds", "Durations.", "type", b, 2);
    char *text;

    df_metric_set(g, 7);
    df_metric_inc(g, -2);
    df_metric_observe(h, 0.1, "export");
    df_metric_observe(h, 0.5, "export"); /* le is inclusive */
    df_metric_observe(h, 1, "export");
    df_metric_observe(h, 100, "export");
    text = render();
    CHECK(strstr(text, "t_in_flight 5\n"));
    CHECK(strstr(text, "t_duration_seconds_bucket{type=\"export\",le=\"0.5\"} 2\n"));
    CHECK(strstr(text, "t_duration_seconds_bucket{type=\"export\",le=\"2\"} 3\n"));
    CHECK(strstr(text, "t_duration_seconds_bucket{type=\"export\",le=\"+Inf\"} 4\n"));
    CHECK(strstr(text, "t_duration_seconds_sum{type=\"export\"} 101.59999999999999\n") ||
          strstr(text, "t_duration_seconds_sum{type=\"export\"} 101.6\n"));
    CHECK(strstr(text, "t_duration_seconds_count{type=\"export\"} 4\n"));
    free(text);
}

static void collect(df_metric_t *gauge, void *opaque)
{
    int *calls = opaque;
    (*calls)++;
    df_metric_clear(gauge);
    df_metric_set(gauge, *calls, "p0");
}

static void test_series_limit_and_collect(void)
{
    df_metric_t *c = df_metric_counter("t_many_total", "Many.", "n");
    df_metric_t *g;
    char label[16], *text;
    static int calls; /* the collect function outlives this test (the registry is global) */

    df_metrics_process("metrics_test", "1.2.3");
    for (int i = 0; i < DF_METRICS_MAX_SERIES + 5; i++) {
        snprintf(label, sizeof(label), "%d", i);
        df_metric_inc(c, 1, label);
    }
    g = df_metric_gauge_fn("t_lag", "Lag.", "partition", collect, &calls);
    REQUIRE(g != NULL);
    text = render();
    CHECK(strstr(text, "t_many_total{n=\"1999\"} 1\n"));
    CHECK(strstr(text, "t_many_total{n=\"2000\"}") == NULL);
    CHECK(strstr(text, "datafleet_metrics_series_dropped_total 5\n"));
    CHECK(strstr(text, "datafleet_build_info{program=\"metrics_test\",version=\"1.2.3\"} 1\n"));
    CHECK(strstr(text, "t_lag{partition=\"p0\"} 1\n"));
    free(text);
    text = render();
    CHECK(strstr(text, "t_lag{partition=\"p0\"} 2\n"));
    free(text);
}

static bool not_ready(void *opaque, char *why, size_t len)
{
    (void)opaque;
    snprintf(why, len, "postgres: connection refused");
    return false;
}

static long get(df_http_t *http, const char *path, df_http_response_t *resp)
{
    char url[128];
    df_http_request_t req = { .method = "GET", .url = url };
    df_error_t err;

    df_error_init(&err);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", df_metrics_port(), path);
    if (df_http_send(http, &req, resp, &err))
        return -1;
    return resp->status;
}

static void test_listener(void)
{
    df_http_options_t opts = { 0 };
    df_http_response_t resp;
    df_http_t *http;
    df_error_t err;
    char why[256];

    CHECK(!df_metrics_listen("127.0.0.1:http", NULL, NULL, why, sizeof(why)));
    CHECK(strstr(why, "expected host:port") != NULL);
    REQUIRE(df_metrics_listen("127.0.0.1:0", not_ready, NULL, why, sizeof(why)));
    CHECK(df_metrics_port() > 0);
    df_error_init(&err);
    http = df_http_new(&opts, &err);
    REQUIRE(http != NULL);
    df_http_response_init(&resp);
    CHECK_INT(get(http, "/metrics", &resp), 200);
    CHECK(strstr(resp.body, "# TYPE t_in_flight gauge") != NULL);
    CHECK(strstr(resp.content_type, "version=0.0.4") != NULL);
    CHECK_INT(get(http, "/healthz", &resp), 200);
    CHECK_INT(get(http, "/readyz", &resp), 503);
    CHECK(strstr(resp.body, "postgres: connection refused") != NULL);
    CHECK_INT(get(http, "/nope", &resp), 404);
    df_http_response_free(&resp);
    df_http_destroy(http);
    df_metrics_stop();
    CHECK_INT(df_metrics_port(), 0);
}

int main(void)
{
    RUN(test_counter_and_labels);
    RUN(test_gauge_and_histogram);
    RUN(test_series_limit_and_collect);
    RUN(test_listener);
    return df_test_done();
}
