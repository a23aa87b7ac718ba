/* http_test: the parts of df_http that need no server: form encoding, URL
 * joining and escaping, URLs for logs (no query, no password), Retry-After
 * parsing, status classification and the vendor messages of the common
 * JSON error shapes (truncated, redacted), and request validation. */
#include <string.h>

#include "df_http.h"
#include "df_log.h"
#include "df_test.h"

static void test_form_encoding(void)
{
    df_http_buf_t form;
    df_error_t err;

    df_error_init(&err);
    df_http_buf_init(&form, 0);
    CHECK_INT(df_http_form_append(&form, "grant_type", "client_credentials", &err), DF_OK);
    CHECK_INT(df_http_form_append(&form, "scope", "https://analysis.windows.net/.default", &err),
              DF_OK);
    CHECK_INT(df_http_form_append(&form, "client_secret", "a+b/c=d&e f~g.h_i-j%", &err), DF_OK);
    CHECK_INT(df_http_form_append(&form, "empty", NULL, &err), DF_OK);
    CHECK_INT(df_http_form_append(&form, "k y", "\xc3\xa9", &err), DF_OK);
    CHECK_STR(form.data, "grant_type=client_credentials"
                         "&scope=https%3A%2F%2Fanalysis.windows.net%2F.default"
                         "&client_secret=a%2Bb%2Fc%3Dd%26e%20f~g.h_i-j%25"
                         "&empty="
                         "&k%20y=%C3%A9");
    CHECK_INT(form.len, strlen(form.data));
    df_http_buf_free(&form);
    CHECK(form.data == NULL && form.len == 0);

    /* Bounded: the limit is kept, the error says so. */
    df_http_buf_init(&form, 16);
    CHECK_INT(df_http_form_append(&form, "a", "0123456789", &err), DF_OK);
    CHECK_INT(df_http_form_append(&form, "b", "0123456789", &err), DF_ERR_INVALID);
    CHECK(strstr(err.message, "16") != NULL);
    df_http_buf_free(&form);
}

static void join_ok(const char *base, const char *path, const char *want)
{
    char out[256];
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_http_url_join(base, path, out, sizeof(out), &err) == DF_OK, "%s + %s: %s", base,
              path ? path : "(null)", err.message);
    CHECK_STR(out, want);
}

static void test_url_join(void)
{
    char out[32];
    df_error_t err;

    join_ok("https://api.powerbi.com/v1.0/myorg", "/groups",
            "https://api.powerbi.com/v1.0/myorg/groups");
    join_ok("https://api.powerbi.com/v1.0/myorg/", "groups",
            "https://api.powerbi.com/v1.0/myorg/groups");
    join_ok("https://api.powerbi.com/v1.0/myorg//", "//groups/1/datasets?$top=5",
            "https://api.powerbi.com/v1.0/myorg/groups/1/datasets?$top=5");
    join_ok("http://127.0.0.1:8443", "/v4/spreadsheets/x",
            "http://127.0.0.1:8443/v4/spreadsheets/x");
    join_ok("http://127.0.0.1:8443/", "", "http://127.0.0.1:8443");
    join_ok("https://sandbox/api", NULL, "https://sandbox/api");

    df_error_init(&err);
    CHECK_INT(df_http_url_join("ftp://x", "/a", out, sizeof(out), &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "api_base_url");
    CHECK_INT(df_http_url_join("https://x/a?key=1", "/b", out, sizeof(out), &err), DF_ERR_INVALID);
    CHECK_INT(df_http_url_join("https://x", "https://evil/b", out, sizeof(out), &err),
              DF_ERR_INVALID);
    CHECK_STR(err.field, "path");
    CHECK_INT(df_http_url_join("https://", "a", out, sizeof(out), &err), DF_ERR_INVALID);
    CHECK_INT(df_http_url_join("https://example.com/a/long/base", "and/a/long/path", out,
                               sizeof(out), &err),
              DF_ERR_INVALID);
    CHECK_STR(out, "");
}

static void test_path_escape(void)
{
    char out[64];
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_http_path_escape("Sheet 1!A1:B2", out, sizeof(out), &err), DF_OK);
    CHECK_STR(out, "Sheet%201%21A1%3AB2");
    CHECK_INT(df_http_path_escape("a/b?c#d", out, sizeof(out), &err), DF_OK);
    CHECK_STR(out, "a%2Fb%3Fc%23d");
    CHECK_INT(df_http_path_escape("f3d3c2a0-1b2c-4d5e-8f90-123456789abc", out, sizeof(out), &err),
              DF_OK);
    CHECK_STR(out, "f3d3c2a0-1b2c-4d5e-8f90-123456789abc");
    CHECK_INT(df_http_path_escape("////////////////////////", out, sizeof(out), &err),
              DF_ERR_INVALID);
}

static void test_url_for_log(void)
{
    char out[128];

    df_http_url_for_log("https://api.x.com/v1/items?key=s3cr3t&x=1", out, sizeof(out));
    CHECK_STR(out, "https://api.x.com/v1/items");
    df_http_url_for_log("https://api.x.com/v1/items#frag", out, sizeof(out));
    CHECK_STR(out, "https://api.x.com/v1/items");
    df_http_url_for_log("https://user:pa55word@proxy.local:8080/path?q=1", out, sizeof(out));
    CHECK_STR(out, "https://user:***@proxy.local:8080/path");
    df_http_url_for_log("https://user@host/p", out, sizeof(out));
    CHECK_STR(out, "https://user@host/p");
    df_http_url_for_log("http://h/a@b:c", out, sizeof(out));
    CHECK_STR(out, "http://h/a@b:c");
    df_http_url_for_log("https://averyveryverylonghostname.example.com/", out, 12);
    CHECK_STR(out, "https://ave");
}

static void test_retry_after(void)
{
    int64_t now = 1784000000000; /* 2026-07-14 */

    CHECK_INT(df_http_retry_after_parse("3", now), 3000);
    CHECK_INT(df_http_retry_after_parse(" 120 ", now), 120000);
    CHECK_INT(df_http_retry_after_parse("0", now), 0);
    CHECK_INT(df_http_retry_after_parse(NULL, now), -1);
    CHECK_INT(df_http_retry_after_parse("", now), -1);
    CHECK_INT(df_http_retry_after_parse("soon", now), -1);
    CHECK_INT(df_http_retry_after_parse("-5", now), -1);
    /* HTTP-date 90 s after now (RFC 7231 IMF-fixdate), and one in the past. */
    CHECK_INT(df_http_retry_after_parse("Tue, 14 Jul 2026 03:34:50 GMT", now), 90000);
    CHECK_INT(df_http_retry_after_parse("Tue, 14 Jul 2026 03:34:50 GMT", now + 500), 89500);
    CHECK_INT(df_http_retry_after_parse("Mon, 01 Jan 2001 00:00:00 GMT", now), 0);
}

static df_http_response_t response(long status, const char *body, int64_t retry_after)
{
    df_http_response_t r;

    df_http_response_init(&r);
    r.status = status;
    r.body = (char *)body;
    r.body_len = body ? strlen(body) : 0;
    r.retry_after_ms = retry_after;
    return r;
}

static void classify_is(long status, const char *body, df_http_class_t want, df_code_t code,
                        const char *message)
{
    df_http_response_t r = response(status, body, 2500);
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_http_classify(&r, &err) == want, "status %ld", status);
    if (want == DF_HTTP_OK) {
        CHECK_INT(err.code, DF_OK);
        return;
    }
    CHECK_MSG(err.code == code, "status %ld: %s", status, df_code_name(err.code));
    CHECK_STR(err.message, message);
    CHECK_INT(err.retryable, want == DF_HTTP_RETRY);
    CHECK_INT(err.retry_after_ms, want == DF_HTTP_RETRY ? 2500 : -1);
}

static void test_classify(void)
{
    classify_is(200, "{}", DF_HTTP_OK, DF_OK, "");
    classify_is(204, NULL, DF_HTTP_OK, DF_OK, "");
    classify_is(429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"Slow down\"}}",
                DF_HTTP_RETRY, DF_ERR_HTTP, "HTTP 429: TooManyRequests: Slow down");
    classify_is(503, "", DF_HTTP_RETRY, DF_ERR_HTTP, "HTTP 503");
    classify_is(500, "<html><body>oops</body></html>", DF_HTTP_RETRY, DF_ERR_HTTP, "HTTP 500");
    classify_is(408, "request timeout\n", DF_HTTP_RETRY, DF_ERR_HTTP, "HTTP 408: request timeout");
    classify_is(425, NULL, DF_HTTP_RETRY, DF_ERR_HTTP, "HTTP 425");
    classify_is(401,
                "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid "
                "client secret provided.\"}",
                DF_HTTP_AUTH, DF_ERR_AUTH,
                "HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.");
    classify_is(403,
                "{\"error\":{\"code\":403,\"message\":\"The caller does not have permission\","
                "\"status\":\"PERMISSION_DENIED\"}}",
                DF_HTTP_PERMANENT, DF_ERR_AUTH,
                "HTTP 403: PERMISSION_DENIED: The caller does not have permission");
    classify_is(404, "{\"error\":{\"code\":\"ItemNotFound\",\"pbi.error\":{}}}", DF_HTTP_PERMANENT,
                DF_ERR_HTTP, "HTTP 404: ItemNotFound");
    classify_is(400, "{\"message\":\"Invalid column 'x'\"}", DF_HTTP_PERMANENT, DF_ERR_HTTP,
                "HTTP 400: Invalid column 'x'");
    classify_is(400, "{\"error_code\":\"INVALID_PARAMETER_VALUE\",\"message\":\"bad\"}",
                DF_HTTP_PERMANENT, DF_ERR_HTTP, "HTTP 400: INVALID_PARAMETER_VALUE: bad");
    classify_is(400, "{\"errors\":[{\"code\":\"x1\",\"message\":\"first\"},{\"message\":\"2\"}]}",
                DF_HTTP_PERMANENT, DF_ERR_HTTP, "HTTP 400: x1: first");
    classify_is(409, "{\"error\":\"conflict\"}", DF_HTTP_PERMANENT, DF_ERR_HTTP,
                "HTTP 409: conflict");
    classify_is(422, "{\"detail\":\"unprocessable\"}", DF_HTTP_PERMANENT, DF_ERR_HTTP,
                "HTTP 422: unprocessable");
    classify_is(400, "{not json", DF_HTTP_PERMANENT, DF_ERR_HTTP, "HTTP 400: {not json");
    classify_is(301, "", DF_HTTP_PERMANENT, DF_ERR_HTTP, "HTTP 301");
}

static void test_vendor_message_bounded_and_redacted(void)
{
    char body[4096], out[512];
    df_http_response_t r;
    df_error_t err;
    size_t n;

    /* Long messages are cut on a UTF-8 boundary and marked. */
    n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9");
    snprintf(body + n, sizeof(body) - n, "\"}");
    df_http_vendor_message(body, strlen(body), out, sizeof(out));
    CHECK(strlen(out) <= DF_HTTP_VENDOR_MESSAGE_MAX);
    CHECK(strlen(out) >= DF_HTTP_VENDOR_MESSAGE_MAX - 4);
    CHECK(strcmp(out + strlen(out) - 3, "...") == 0);
    CHECK(((unsigned char)out[strlen(out) - 4] & 0xC0) == 0x80); /* ends after a whole é */

    /* Secrets echoed by a vendor are redacted: registered ones and bearer tokens. */
    df_log_redact_add("sup3r-s3cret-value");
    snprintf(body, sizeof(body),
             "{\"error\":{\"message\":\"bad secret sup3r-s3cret-value in "
             "Authorization: Bearer eyJabc.def.ghi\"}}");
    r = response(400, body, -1);
    df_error_init(&err);
    CHECK_INT(df_http_classify(&r, &err), DF_HTTP_PERMANENT);
    CHECK_MSG(!strstr(err.message, "sup3r-s3cret-value"), "%s", err.message);
    CHECK_MSG(!strstr(err.message, "eyJabc"), "%s", err.message);
    CHECK(strstr(err.message, "bad secret ***") != NULL);

    /* Control characters become spaces; a small out buffer is respected. */
    df_http_vendor_message("line1\nline2\ttab\r\n", 17, out, sizeof(out));
    CHECK_STR(out, "line1 line2 tab");
    df_http_vendor_message("{\"message\":\"abcdefghij\"}", 24, out, 5);
    CHECK_STR(out, "abcd");
    df_http_vendor_message(NULL, 0, out, sizeof(out));
    CHECK_STR(out, "");
}

static void test_send_validates(void)
{
    df_http_t *http;
    df_http_response_t resp;
    df_http_request_t req = { 0 };
    df_http_header_t bad[] = { { "X-Evil", "a\r\nInjected: 1" } };
    df_error_t err;

    df_error_init(&err);
    http = df_http_new(NULL, &err);
    REQUIRE(http != NULL);
    df_http_response_init(&resp);

    req.url = "ftp://example.com/x";
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_ERR_INVALID);
    req.url = "http://127.0.0.1:9/x";
    req.method = "get";
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_ERR_INVALID);
    req.method = "GET";
    req.headers = bad;
    req.nheaders = 1;
    CHECK_INT(df_http_send(http, &req, &resp, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "headers");
    CHECK(resp.body == NULL);
    df_http_response_free(&resp);
    df_http_destroy(http);
    df_http_destroy(NULL);
}

int main(void)
{
    df_log_init("http-test", DF_LOG_WARN);
    RUN(test_form_encoding);
    RUN(test_url_join);
    RUN(test_path_escape);
    RUN(test_url_for_log);
    RUN(test_retry_after);
    RUN(test_classify);
    RUN(test_vendor_message_bounded_and_redacted);
    RUN(test_send_validates);
    return df_test_done();
}
