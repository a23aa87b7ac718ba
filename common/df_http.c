/* df_http: the libcurl client: one reused easy handle, bounded responses,
 * Retry-After and Content-Type captured, transport errors turned into
 * df_error_t with the URL minus its query, a debug line per request (see
 * df_http.h; the text helpers are in df_http_text.c). */
#include "df_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_build.h"
#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"

#define HEADER_LINE_MAX 8192
#define LOG_EXTRA_MAX   1536

struct df_http {
    CURL *curl;
    int connect_timeout_ms;
    int timeout_ms;
    size_t max_response_bytes;
    bool follow_redirects;
    bool (*should_stop)(void *ctx);
    void *stop_ctx;
    char *user_agent;
    char *ca_file;
    char traceparent[DF_HTTP_TRACEPARENT_MAX];
    char errbuf[CURL_ERROR_SIZE];
    char platform[32];
};

/* What the callbacks of one transfer fill in. */
typedef struct transfer {
    df_http_response_t *resp;
    df_http_buf_t body;
    bool too_large;
    df_http_t *http;
    bool cancelled;
} transfer_t;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

df_http_t *df_http_new(const df_http_options_t *opts, df_error_t *err)
{
    df_http_options_t none = { 0 };
    df_http_t *http;

    if (!opts)
        opts = &none;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        df_error_set(err, DF_ERR_HTTP, "curl_global_init", "curl_global_init: %s",
                     curl_easy_strerror(global_rc));
        return NULL;
    }
    http = calloc(1, sizeof(*http));
    if (!http) {
        df_error_set(err, DF_ERR_NOMEM, "df_http_new", "out of memory");
        return NULL;
    }
    http->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DF_HTTP_CONNECT_TIMEOUT_DEFAULT;
    http->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DF_HTTP_TIMEOUT_DEFAULT;
    http->max_response_bytes =
        opts->max_response_bytes ? opts->max_response_bytes : DF_HTTP_MAX_RESPONSE_DEFAULT;
    http->follow_redirects = opts->follow_redirects;
    http->should_stop = opts->should_stop;
    http->stop_ctx = opts->stop_ctx;
    http->user_agent = strdup(opts->user_agent ? opts->user_agent : "datafleet/" DF_VERSION);
    snprintf(http->platform, sizeof(http->platform), "%s",
             opts->platform && *opts->platform ? opts->platform : "other");
    http->ca_file = dup_or_null(opts->ca_file);
    http->curl = curl_easy_init();
    if (!http->user_agent || (opts->ca_file && !http->ca_file) || !http->curl) {
        df_http_destroy(http);
        df_error_set(err, DF_ERR_NOMEM, "df_http_new", "out of memory");
        return NULL;
    }
    return http;
}

void df_http_destroy(df_http_t *http)
{
    if (!http)
        return;
    if (http->curl)
        curl_easy_cleanup(http->curl);
    free(http->user_agent);
    free(http->ca_file);
    free(http);
}

void df_http_set_traceparent(df_http_t *http, const char *traceparent)
{
    size_t n;

    http->traceparent[0] = '\0';
    if (!traceparent)
        return;
    n = strlen(traceparent);
    if (n == 0 || n >= sizeof(http->traceparent))
        return;
    for (size_t i = 0; i < n; i++) {
        char c = traceparent[i];
        if (!isxdigit((unsigned char)c) && c != '-')
            return;
    }
    memcpy(http->traceparent, traceparent, n + 1);
}

/* ---- responses ----------------------------------------------------------- */

void df_http_response_init(df_http_response_t *resp)
{
    resp->status = 0;
    resp->body = NULL;
    resp->body_len = 0;
    resp->retry_after_ms = -1;
    resp->content_type[0] = '\0';
}

void df_http_response_free(df_http_response_t *resp)
{
    if (resp->body) {
        explicit_bzero(resp->body, resp->body_len);
        free(resp->body);
    }
    df_http_response_init(resp);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *x = userdata;
    size_t n = size * nmemb;

    if (n > x->body.max || x->body.len > x->body.max - n) {
        x->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (df_http_buf_append(&x->body, data, n, NULL) != DF_OK)
        return 0;
    return n;
}

/* Trimmed value of "Name: value\r\n" when the line is that header. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
    size_t nlen = strlen(name), vlen;
    const char *v;

    if (n <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return false;
    v = line + nlen + 1;
    vlen = n - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && isspace((unsigned char)v[vlen - 1]))
        vlen--;
    if (vlen >= len)
        vlen = len - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *x = userdata;
    size_t n = size * nmemb;
    char value[256];

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response begins (after 100 Continue or a redirect). */
        x->resp->retry_after_ms = -1;
        x->resp->content_type[0] = '\0';
    } else if (n < HEADER_LINE_MAX) {
        if (header_value(data, n, "Retry-After", value, sizeof(value)))
            x->resp->retry_after_ms = df_http_retry_after_parse(value, df_now_ms());
        else
            header_value(data, n, "Content-Type", x->resp->content_type,
                         sizeof(x->resp->content_type));
    }
    return n;
}

static int progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer_t *x = userdata;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (x->http->should_stop && x->http->should_stop(x->http->stop_ctx)) {
        x->cancelled = true;
        return 1;
    }
    return 0;
}

static bool is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* ---- sending ------------------------------------------------------------- */

static bool header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

static df_code_t add_header(struct curl_slist **list, const char *name, const char *value,
                            df_error_t *err)
{
    char line[HEADER_LINE_MAX];
    struct curl_slist *next;
    int n;

    if (!header_safe(name) || !*name || strchr(name, ':') || !header_safe(value))
        return df_error_set(err, DF_ERR_INVALID, "headers",
                            "header name or value is empty or holds CR, LF or ':'");
    /* "Name;" is curl's way to send a header with an empty value. */
    if (*value)
        n = snprintf(line, sizeof(line), "%s: %s", name, value);
    else
        n = snprintf(line, sizeof(line), "%s;", name);
    if (n < 0 || (size_t)n >= sizeof(line))
        return df_error_set(err, DF_ERR_INVALID, "headers", "header %.64s longer than %zu bytes",
                            name, sizeof(line));
    next = curl_slist_append(*list, line);
    explicit_bzero(line, sizeof(line)); /* may have been an Authorization header */
    if (!next)
        return df_error_set(err, DF_ERR_NOMEM, "curl_slist_append", "out of memory");
    *list = next;
    return DF_OK;
}

static bool method_valid(const char *m)
{
    if (!*m || strlen(m) > 16)
        return false;
    for (; *m; m++) {
        if (!isupper((unsigned char)*m))
            return false;
    }
    return true;
}

/* Set the options of one request on a freshly reset handle. */
static df_code_t setup(df_http_t *http, const df_http_request_t *req, const char *method,
                       struct curl_slist *headers, transfer_t *x)
{
    CURL *c = http->curl;
    int timeout = req->timeout_ms > 0 ? req->timeout_ms : http->timeout_ms;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                           \
    do {                                        \
        if (rc == CURLE_OK)                     \
            rc = curl_easy_setopt(c, opt, val); \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, http->errbuf);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)http->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout);
    SET(CURLOPT_USERAGENT, http->user_agent);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_FRESH_CONNECT, req->once ? 1L : 0L);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)http->max_response_bytes);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, x);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (http->ca_file)
        SET(CURLOPT_CAINFO, http->ca_file);
    if (http->follow_redirects) {
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, 5L);
    }
    if (http->should_stop && !req->once) { /* a once call is never abandoned midway */
        SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
        SET(CURLOPT_XFERINFODATA, x);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
    if (strcmp(method, "GET") == 0 && !req->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
        if (req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
            strcmp(method, "PATCH") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
            SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
    }
#undef SET
    return rc == CURLE_OK ? DF_OK : DF_ERR_INTERNAL;
}

static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_AGAIN:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_PROXY: return true;
    default: return false;
    }
}

/* Mask the query of url wherever it shows up in text (curl's messages
 * rarely echo it; "rarely" is not "never"). */
static void mask_query(char *text, const char *url)
{
    const char *q = strchr(url, '?');
    size_t qlen;
    char *hit;

    if (!q)
        return;
    q++;
    qlen = strcspn(q, "#");
    if (qlen < 4)
        return;
    while ((hit = strstr(text, "?")) != NULL) {
        if (strncmp(hit + 1, q, qlen) != 0) {
            text = hit + 1;
            continue;
        }
        memmove(hit + 4, hit + 1 + qlen, strlen(hit + 1 + qlen) + 1);
        memcpy(hit + 1, "***", 3);
        text = hit + 4;
    }
}

static df_code_t transport_error(df_http_t *http, CURLcode rc, const transfer_t *x,
                                 const char *method, const char *url, const char *log_url,
                                 df_error_t *err)
{
    char detail[CURL_ERROR_SIZE];
    size_t n;
    df_code_t code = DF_ERR_HTTP;
    bool retryable = curl_retryable(rc);

    snprintf(detail, sizeof(detail), "%s", http->errbuf);
    n = strlen(detail);
    while (n && isspace((unsigned char)detail[n - 1]))
        detail[--n] = '\0';

    if (x->cancelled || rc == CURLE_ABORTED_BY_CALLBACK) {
        df_error_set(err, DF_ERR_CANCELLED, "curl_easy_perform", "%s %s: cancelled", method,
                     log_url);
        return DF_ERR_CANCELLED;
    }
    if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        df_error_set(err, DF_ERR_HTTP, "curl_easy_perform",
                     "%s %s: response larger than %zu bytes (max_response_bytes)", method, log_url,
                     http->max_response_bytes);
        return DF_ERR_HTTP;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        code = DF_ERR_TIMEOUT;
        retryable = true;
    } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        code = DF_ERR_INVALID;
    } else if (rc == CURLE_OUT_OF_MEMORY) {
        code = DF_ERR_NOMEM;
    }
    df_error_set(err, code, "curl_easy_perform", "%s %s: curl error %d (%s)%s%s", method, log_url,
                 (int)rc, curl_easy_strerror(rc), detail[0] ? ": " : "", detail);
    if (err) {
        err->retryable = retryable;
        mask_query(err->message, url);
        df_log_redact(err->message);
    }
    return code;
}

/* s as the body of a JSON string (no quotes) into out; control characters
 * dropped; always NUL-terminated, truncated to fit. */
static void json_text(const char *s, char *out, size_t len)
{
    size_t at = 0;

    for (; *s && at + 2 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            continue;
        if (c == '"' || c == '\\')
            out[at++] = '\\';
        out[at++] = (char)c;
    }
    out[at] = '\0';
}

static df_metric_t *requests_metric, *duration_metric;

static void init_metrics(void)
{
    requests_metric = df_metric_counter(
        "datafleet_http_requests_total",
        "Outbound HTTP requests by platform, method and status code (\"error\": no response).",
        "platform,method,status");
    duration_metric =
        df_metric_histogram("datafleet_http_request_duration_seconds",
                            "Outbound HTTP request latency by platform.", "platform", NULL, 0);
}

/* Metrics of every request, and a debug log line. */
static void log_request(const df_http_t *http, const char *method, const char *log_url, long status,
                        int64_t ms, const df_error_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char extra[LOG_EXTRA_MAX];
    char m[40], u[LOG_EXTRA_MAX - 200], code[16];

    pthread_once(&once, init_metrics);
    if (err && err->code != DF_OK)
        snprintf(code, sizeof(code), "error");
    else
        snprintf(code, sizeof(code), "%ld", status);
    df_metric_inc(requests_metric, 1, http->platform, method, code);
    df_metric_observe(duration_metric, (double)ms / 1000.0, http->platform);
    if (!df_log_enabled(DF_LOG_DEBUG))
        return;
    json_text(method, m, sizeof(m));
    json_text(log_url, u, sizeof(u));
    if (err && err->code != DF_OK)
        snprintf(extra, sizeof(extra),
                 "{\"method\":\"%s\",\"url\":\"%s\",\"status\":0,\"ms\":%lld,\"error\":\"%s\"}", m,
                 u, (long long)ms, df_code_name(err->code));
    else
        snprintf(extra, sizeof(extra),
                 "{\"method\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"ms\":%lld}", m, u, status,
                 (long long)ms);
    df_log_write_kv(DF_LOG_DEBUG, extra, "http request");
}

df_code_t df_http_send(df_http_t *http, const df_http_request_t *req, df_http_response_t *resp,
                       df_error_t *err)
{
    struct curl_slist *headers = NULL;
    char log_url[DF_HTTP_URL_MAX];
    const char *method;
    transfer_t x;
    int64_t started;
    CURLcode rc;
    df_code_t code = DF_OK;
    df_error_t local;

    if (!err) {
        df_error_init(&local);
        err = &local;
    }
    df_http_response_free(resp);
    if (!req || !req->url || !is_http_url(req->url))
        return df_error_set(err, DF_ERR_INVALID, "url", "request URL must be http:// or https://");
    df_http_url_for_log(req->url, log_url, sizeof(log_url));
    method = req->method ? req->method : (req->body ? "POST" : "GET");
    if (!method_valid(method))
        return df_error_set(err, DF_ERR_INVALID, "method", "bad HTTP method \"%.16s\"", method);
    if (req->nheaders && !req->headers)
        return df_error_set(err, DF_ERR_INVALID, "headers", "nheaders without headers");

    for (size_t i = 0; code == DF_OK && i < req->nheaders; i++)
        code = add_header(&headers, req->headers[i].name, req->headers[i].value, err);
    if (code == DF_OK && req->content_type)
        code = add_header(&headers, "Content-Type", req->content_type, err);
    if (code == DF_OK && http->traceparent[0])
        code = add_header(&headers, "traceparent", http->traceparent, err);
    if (code == DF_OK && req->body) { /* "Expect:" removes curl's 100-continue wait */
        struct curl_slist *next = curl_slist_append(headers, "Expect:");
        if (next)
            headers = next;
        else
            code = df_error_set(err, DF_ERR_NOMEM, "curl_slist_append", "out of memory");
    }
    if (code != DF_OK) {
        curl_slist_free_all(headers);
        return code;
    }

    memset(&x, 0, sizeof(x));
    x.resp = resp;
    x.http = http;
    df_http_buf_init(&x.body, http->max_response_bytes);
    http->errbuf[0] = '\0';
    curl_easy_reset(http->curl); /* keeps live connections, DNS and TLS session caches */
    if (setup(http, req, method, headers, &x) != DF_OK) {
        curl_slist_free_all(headers);
        return df_error_set(err, DF_ERR_INTERNAL, "curl_easy_setopt",
                            "%s %s: curl refused an option", method, log_url);
    }

    started = df_mono_ms();
    rc = curl_easy_perform(http->curl);
    curl_slist_free_all(headers);
    /* Drop the pointers into this call's stack and the caller's memory. */
    curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(http->curl, CURLOPT_POSTFIELDS, (char *)NULL);

    if (rc != CURLE_OK) {
        df_http_buf_free(&x.body);
        df_http_response_init(resp);
        code = transport_error(http, rc, &x, method, req->url, log_url, err);
        log_request(http, method, log_url, 0, df_mono_ms() - started, err);
        return code;
    }
    if (!x.body.data && df_http_buf_append(&x.body, "", 0, err) != DF_OK) {
        df_http_response_init(resp);
        return DF_ERR_NOMEM;
    }
    curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = x.body.data;
    resp->body_len = x.body.len;
    log_request(http, method, log_url, resp->status, df_mono_ms() - started, NULL);
    return DF_OK;
}
