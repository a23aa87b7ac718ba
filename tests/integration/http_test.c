/* http_test: df_http against a real local server (token_server.py): what a
 * request carries (method, body, content type, user agent, traceparent),
 * connection reuse, statuses with Retry-After (seconds and HTTP-date), the
 * response size limit, and transport failures (dropped connection, refused
 * port, timeout, cancellation) as retryable errors whose messages show the
 * URL without its query. Also the debug log line: method, URL, status, ms,
 * never headers or bodies. */
#include <netinet/in.h>
#include <sys/socket.h>

#include "df_build.h"
#include "df_http.h"
#include "df_id.h"
#include "df_log.h"
#include "token_server.h"

static token_server_t server;

static void url_of(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "%s%s", server.base, path);
}

static df_http_t *client(int timeout_ms, size_t max_bytes)
{
    df_http_options_t opts = { .timeout_ms = timeout_ms,
                               .max_response_bytes = max_bytes,
                               .connect_timeout_ms = 2000 };
    df_error_t err;
    df_http_t *http;

    df_error_init(&err);
    http = df_http_new(&opts, &err);
    REQUIRE(http != NULL);
    return http;
}

/* GET path; returns the send code, resp filled. */
static df_code_t get(df_http_t *http, const char *path, df_http_response_t *resp, df_error_t *err)
{
    char url[256];
    df_http_request_t req = { 0 };

    url_of(url, sizeof(url), path);
    req.url = url;
    df_error_init(err);
    return df_http_send(http, &req, resp, err);
}

static void test_request_and_reuse(void)
{
    df_http_t *http = client(0, 0);
    df_http_header_t headers[] = { { "Authorization", "Bearer not-in-logs-123" },
                                   { "X-Empty", "" } };
    df_http_request_t req = { 0 };
    df_http_response_t resp;
    df_error_t err;
    json_t *echo, *h;
    char url[256];
    long port1 = -1, port2 = -2;

    df_http_response_init(&resp);
    df_http_set_traceparent(http, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    url_of(url, sizeof(url), "/echo?x=1");
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.nheaders = 2;
    req.body = "a=1&b=2";
    req.body_len = 7;
    req.content_type = "application/x-www-form-urlencoded";
    df_error_init(&err);
    CHECK_MSG(df_http_send(http, &req, &resp, &err) == DF_OK, "%s", err.message);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.content_type, "application/json");
    CHECK_INT(resp.retry_after_ms, -1);
    CHECK(resp.body && resp.body[resp.body_len] == '\0');
    echo = json_loadb(resp.body, resp.body_len, 0, NULL);
    REQUIRE(echo != NULL);
    h = json_object_get(echo, "headers");
    CHECK_STR(json_string_value(json_object_get(echo, "method")), "POST");
    CHECK_STR(json_string_value(json_object_get(echo, "query")), "x=1");
    CHECK_STR(json_string_value(json_object_get(echo, "body")), "a=1&b=2");
    CHECK_STR(json_string_value(json_object_get(h, "content-type")),
              "application/x-www-form-urlencoded");
    CHECK_STR(json_string_value(json_object_get(h, "user-agent")), "datafleet/" DF_VERSION);
    CHECK_STR(json_string_value(json_object_get(h, "traceparent")),
              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    CHECK_STR(json_string_value(json_object_get(h, "authorization")), "Bearer not-in-logs-123");
    CHECK_STR(json_string_value(json_object_get(h, "x-empty")), "");
    CHECK(json_object_get(h, "expect") == NULL);
    port1 = (long)json_integer_value(json_object_get(echo, "client_port"));
    json_decref(echo);

    /* The same handle reuses the connection; other methods go through. */
    static const char *const methods[] = { "GET", "PUT", "PATCH", "DELETE" };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        df_http_request_t r = { .method = methods[i], .url = url };
        if (i == 1) {
            r.body = "{}";
            r.body_len = 2;
            r.content_type = "application/json";
        }
        CHECK_INT(df_http_send(http, &r, &resp, &err), DF_OK);
        echo = json_loadb(resp.body, resp.body_len, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(echo, "method")), methods[i]);
        CHECK_STR(json_string_value(json_object_get(echo, "body")), i == 1 ? "{}" : "");
        port2 = (long)json_integer_value(json_object_get(echo, "client_port"));
        CHECK_MSG(port2 == port1, "%s: new connection (port %ld, was %ld)", methods[i], port2,
                  port1);
        json_decref(echo);
    }
    {
        df_http_request_t r = { .method = "HEAD", .url = url };
        CHECK_INT(df_http_send(http, &r, &resp, &err), DF_OK);
        CHECK_INT(resp.status, 200);
        CHECK_INT(resp.body_len, 0);
        CHECK_STR(resp.body, "");
    }
    /* No traceparent once cleared. */
    df_http_set_traceparent(http, NULL);
    CHECK_INT(get(http, "/echo", &resp, &err), DF_OK);
    echo = json_loadb(resp.body, resp.body_len, 0, NULL);
    CHECK(json_object_get(json_object_get(echo, "headers"), "traceparent") == NULL);
    json_decref(echo);
    df_http_response_free(&resp);
    df_http_destroy(http);
}

static void test_status_and_retry_after(void)
{
    df_http_t *http = client(0, 0);
    df_http_response_t resp;
    df_error_t err, cerr;

    df_http_response_init(&resp);
    CHECK_INT(get(http, "/status/503?retry_after=3", &resp, &err), DF_OK);
    CHECK_INT(resp.status, 503);
    CHECK_INT(resp.retry_after_ms, 3000);
    df_error_init(&cerr);
    CHECK_INT(df_http_classify(&resp, &cerr), DF_HTTP_RETRY);
    CHECK(cerr.retryable);
    CHECK_INT(cerr.retry_after_ms, 3000);
    CHECK_STR(cerr.message, "HTTP 503: Status503: status 503 as asked");

    CHECK_INT(get(http, "/status/429?retry_after_date=10", &resp, &err), DF_OK);
    CHECK_INT(resp.status, 429);
    CHECK_MSG(resp.retry_after_ms > 8000 && resp.retry_after_ms <= 10000, "%lld",
              (long long)resp.retry_after_ms);

    CHECK_INT(get(http, "/status/401", &resp, &err), DF_OK);
    CHECK_INT(resp.retry_after_ms, -1);
    CHECK_INT(df_http_classify(&resp, &cerr), DF_HTTP_AUTH);
    CHECK_INT(cerr.code, DF_ERR_AUTH);
    CHECK_INT(get(http, "/status/404", &resp, &err), DF_OK);
    CHECK_INT(df_http_classify(&resp, &cerr), DF_HTTP_PERMANENT);
    CHECK_INT(get(http, "/status/204", &resp, &err), DF_OK);
    CHECK_INT(df_http_classify(&resp, &cerr), DF_HTTP_OK);
    df_http_response_free(&resp);
    df_http_destroy(http);
}

static void test_body_limit(void)
{
    df_http_t *http = client(0, 1000);
    df_http_response_t resp;
    df_error_t err;

    df_http_response_init(&resp);
    CHECK_INT(get(http, "/bytes/1000", &resp, &err), DF_OK);
    CHECK_INT(resp.body_len, 1000);
    CHECK_INT(strlen(resp.body), 1000);

    /* Announced by Content-Length, and streamed in chunks without one. */
    CHECK_INT(get(http, "/bytes/1001", &resp, &err), DF_ERR_HTTP);
    CHECK(!err.retryable);
    CHECK_MSG(strstr(err.message, "larger than 1000 bytes") != NULL, "%s", err.message);
    CHECK(resp.body == NULL && resp.status == 0);
    CHECK_INT(get(http, "/bytes/50000?chunked=1", &resp, &err), DF_ERR_HTTP);
    CHECK_MSG(strstr(err.message, "larger than 1000 bytes") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "chunked"), "query in message: %s", err.message);

    /* The handle still works afterwards. */
    CHECK_INT(get(http, "/bytes/10?chunked=1", &resp, &err), DF_OK);
    CHECK_STR(resp.body, "xxxxxxxxxx");
    df_http_response_free(&resp);
    df_http_destroy(http);

    /* The default limit is 16 MiB. */
    http = client(0, 0);
    CHECK_INT(get(http, "/bytes/2000000", &resp, &err), DF_OK);
    CHECK_INT(resp.body_len, 2000000);
    df_http_response_free(&resp);
    df_http_destroy(http);
}

static int closed_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    REQUIRE(fd >= 0);
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &n) == 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void test_transport_failures(void)
{
    df_http_t *http = client(400, 0);
    df_http_response_t resp;
    df_http_request_t req = { 0 };
    df_error_t err;
    char url[256];
    int64_t t0;

    df_http_response_init(&resp);
    /* The server closes the connection without a word. */
    CHECK_INT(get(http, "/drop?api_key=S3CRETQUERY", &resp, &err), DF_ERR_HTTP);
    CHECK(err.retryable);
    CHECK_MSG(strstr(err.message, "curl error 52") != NULL, "%s", err.message);
    CHECK_MSG(strstr(err.message, "GET http://127.0.0.1:") != NULL, "%s", err.message);
    CHECK_MSG(strstr(err.message, "/drop:") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "S3CRETQUERY") && !strstr(err.message, "api_key"), "%s",
              err.message);
    CHECK_STR(err.field, "curl_easy_perform");

    /* Nobody listens. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x?token=S3CRETQUERY", closed_port());
    req.url = url;
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_ERR_HTTP);
    CHECK(err.retryable);
    CHECK_MSG(strstr(err.message, "curl error 7") != NULL, "%s", err.message);
    CHECK(!strstr(err.message, "S3CRETQUERY"));

    /* Too slow: the total time limit. */
    t0 = df_mono_ms();
    CHECK_INT(get(http, "/slow/3000?sig=S3CRETQUERY", &resp, &err), DF_ERR_TIMEOUT);
    CHECK(df_mono_ms() - t0 < 2000);
    CHECK(err.retryable);
    CHECK_MSG(strstr(err.message, "curl error 28") != NULL, "%s", err.message);
    CHECK(!strstr(err.message, "S3CRETQUERY"));

    /* A name that does not resolve. */
    req.url = "http://datafleet-test.invalid/x";
    CHECK(df_http_send(http, &req, &resp, &err) != DF_OK);
    CHECK(err.retryable);
    CHECK(err.code == DF_ERR_HTTP || err.code == DF_ERR_TIMEOUT);

    /* A request's own time limit overrides the handle's. */
    url_of(url, sizeof(url), "/slow/600");
    req.url = url;
    req.timeout_ms = 3000;
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_OK);
    CHECK_INT(resp.status, 200);
    df_http_response_free(&resp);
    df_http_destroy(http);
}

static int64_t stop_at;
static bool stop_after_deadline(void *ctx)
{
    (void)ctx;
    return df_mono_ms() >= stop_at;
}

static void test_cancel(void)
{
    df_http_options_t opts = { .should_stop = stop_after_deadline };
    df_http_response_t resp;
    df_error_t err;
    df_http_t *http;
    int64_t t0 = df_mono_ms();

    df_error_init(&err);
    http = df_http_new(&opts, &err);
    REQUIRE(http != NULL);
    df_http_response_init(&resp);
    stop_at = t0 + 300;
    CHECK_INT(get(http, "/slow/5000", &resp, &err), DF_ERR_CANCELLED);
    CHECK_MSG(df_mono_ms() - t0 < 2000, "took %lld ms", (long long)(df_mono_ms() - t0));
    CHECK(!err.retryable);
    df_http_destroy(http);
}

static void test_debug_log_line(void)
{
    df_http_t *http = client(0, 0);
    df_http_header_t auth[] = { { "Authorization", "Bearer hidden-token-value" } };
    df_http_request_t req = { 0 };
    df_http_response_t resp;
    df_error_t err;
    char url[256], buf[8192];
    json_t *line;
    int fds[2];
    ssize_t n;

    df_http_response_init(&resp);
    REQUIRE(pipe(fds) == 0);
    df_log_init("http-test", DF_LOG_DEBUG);
    df_log_set_fd(fds[1]);
    url_of(url, sizeof(url), "/echo?signature=QUERYVALUE");
    req.method = "POST";
    req.url = url;
    req.headers = auth;
    req.nheaders = 1;
    req.body = "BODYVALUE";
    req.body_len = 9;
    df_error_init(&err);
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_OK);
    df_log_set_fd(2);
    df_log_init("http-test", DF_LOG_INFO);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    REQUIRE(n > 0);
    buf[n] = '\0';
    line = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    REQUIRE(line != NULL);
    CHECK_STR(json_string_value(json_object_get(line, "level")), "debug");
    CHECK_STR(json_string_value(json_object_get(line, "method")), "POST");
    CHECK(strncmp(json_string_value(json_object_get(line, "url")), server.base,
                  strlen(server.base)) == 0);
    CHECK(strstr(json_string_value(json_object_get(line, "url")), "/echo") != NULL);
    CHECK_INT(json_integer_value(json_object_get(line, "status")), 200);
    CHECK(json_is_integer(json_object_get(line, "ms")));
    CHECK_MSG(!strstr(buf, "QUERYVALUE") && !strstr(buf, "BODYVALUE") &&
                  !strstr(buf, "hidden-token-value"),
              "%s", buf);
    json_decref(line);
    df_http_response_free(&resp);
    df_http_destroy(http);
}

int main(void)
{
    df_log_init("http-test", DF_LOG_INFO);
    token_server_start(&server, NULL);
    RUN(test_request_and_reuse);
    RUN(test_status_and_retry_after);
    RUN(test_body_limit);
    RUN(test_transport_failures);
    RUN(test_cancel);
    RUN(test_debug_log_line);
    token_server_stop(&server);
    return df_test_done();
}
