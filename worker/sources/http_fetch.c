/* http_fetch: the HTTP transport of the http_json source, on libcurl
 * directly: it needs the response's Link header (RFC 8288 pagination),
 * which common/df_http does not expose. One curl handle per source
 * (connections reused), bounded response bodies, retries of 408/425/429/5xx
 * and transport failures with exponential backoff and full jitter that
 * honours Retry-After, cancellation between and during requests. CURLcode
 * and statuses become df_error_t here; request headers and bodies are never
 * logged. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "df_log.h"
#include "source_internal.h"

#define LINK_MAX    8192 /* bytes of Link header values kept */
#define SNIPPET_MAX 200  /* bytes of an error body quoted */

struct src_http {
    CURL *curl;
    struct curl_slist *headers;      /* Accept and the source's headers */
    struct curl_slist *json_headers; /* the same with Content-Type: application/json */
    src_http_opts_t opts;
    char *basic_user, *basic_password;
    /* the response being received */
    char *body;
    size_t len, cap;
    bool too_big;
    char link[LINK_MAX];
    size_t link_len;
    int64_t retry_after_ms;
    bool stopped;
    char *next_link;
    unsigned rng;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    src_http_t *h = userdata;
    size_t n = size * nmemb;

    if (h->len + n > h->opts.max_body) {
        h->too_big = true;
        return 0;
    }
    if (h->cap - h->len < n + 1) {
        size_t cap = h->cap ? h->cap : 16384;
        char *body;
        while (cap - h->len < n + 1)
            cap *= 2;
        body = realloc(h->body, cap);
        if (!body)
            return 0;
        h->body = body;
        h->cap = cap;
    }
    memcpy(h->body + h->len, data, n);
    h->len += n;
    h->body[h->len] = '\0';
    return n;
}

/* Retry-After: delay-seconds or an HTTP-date. -1 when unparsable. */
static int64_t parse_retry_after(const char *v)
{
    char *end;
    long long secs = strtoll(v, &end, 10);
    time_t at;

    if (end != v && (*end == '\0' || *end == '\r' || *end == '\n' || *end == ' '))
        return secs < 0 ? 0 : secs * 1000;
    at = curl_getdate(v, NULL);
    if (at < 0)
        return -1;
    return at > time(NULL) ? ((int64_t)at - (int64_t)time(NULL)) * 1000 : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    src_http_t *h = userdata;
    size_t n = size * nmemb, vlen;
    const char *v;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (after 100 Continue) */
        h->link_len = 0;
        h->retry_after_ms = -1;
        return n;
    }
    if (n > 5 && strncasecmp(data, "Link:", 5) == 0)
        v = data + 5;
    else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        v = data + 12;
    else
        return n;
    vlen = n - (size_t)(v - data);
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (data[0] == 'L' || data[0] == 'l') {
        /* Several Link headers are one list. */
        if (h->link_len + vlen + 3 < sizeof(h->link)) {
            if (h->link_len) {
                memcpy(h->link + h->link_len, ", ", 2);
                h->link_len += 2;
            }
            memcpy(h->link + h->link_len, v, vlen);
            h->link_len += vlen;
            h->link[h->link_len] = '\0';
        }
    } else {
        char value[128];
        snprintf(value, sizeof(value), "%.*s", (int)(vlen < 127 ? vlen : 127), v);
        h->retry_after_ms = parse_retry_after(value);
    }
    return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    src_http_t *h = userdata;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (h->opts.should_stop && h->opts.should_stop(h->opts.stop_ctx)) {
        h->stopped = true;
        return 1;
    }
    return 0;
}

/* Accept (+ Content-Type) and the source's headers; NULL when out of
 * memory. */
static struct curl_slist *header_list(const src_http_opts_t *opts, bool json_body)
{
    struct curl_slist *list = curl_slist_append(NULL, "Accept: application/json");
    if (list && json_body) {
        struct curl_slist *l = curl_slist_append(list, "Content-Type: application/json");
        if (!l) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = l;
    }
    for (size_t i = 0; list && i < opts->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(list, opts->headers[i]);
        if (!l) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = l;
    }
    return list;
}

src_http_t *src_http_new(const src_http_opts_t *opts, df_error_t *err)
{
    src_http_t *h = calloc(1, sizeof(*h));

    if (!h || !(h->curl = curl_easy_init())) {
        free(h);
        df_error_set(err, DF_ERR_NOMEM, "curl_easy_init", "out of memory");
        return NULL;
    }
    h->opts = *opts;
    h->opts.headers = NULL;
    h->headers = header_list(opts, false);
    h->json_headers = header_list(opts, true);
    if (opts->basic_user) {
        h->basic_user = strdup(opts->basic_user);
        h->basic_password = strdup(opts->basic_password ? opts->basic_password : "");
    }
    if (!h->headers || !h->json_headers ||
        (opts->basic_user && (!h->basic_user || !h->basic_password))) {
        src_http_destroy(h);
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    h->rng = (unsigned)now_ms() ^ (unsigned)(uintptr_t)h;
    return h;
}

void src_http_destroy(src_http_t *http)
{
    if (!http)
        return;
    curl_easy_cleanup(http->curl);
    curl_slist_free_all(http->headers);
    curl_slist_free_all(http->json_headers);
    if (http->basic_password)
        memset(http->basic_password, 0, strlen(http->basic_password));
    free(http->basic_user);
    free(http->basic_password);
    free(http->body);
    free(http->next_link);
    free(http);
}

/* url for messages: no query or fragment, no userinfo. */
static void url_for_log(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    size_t n;

    if (at && (!slash || at < slash))
        host = at + 1;
    n = strcspn(host, "?#");
    snprintf(out, len, "%.*s%.*s", scheme ? (int)(scheme + 3 - url) : 0, url, (int)n, host);
}

/* The rel="next" target of a Link header value (RFC 8288), or NULL. */
static char *next_from_link(const char *v)
{
    while (*v) {
        const char *start, *end;
        bool next = false;
        while (*v == ' ' || *v == ',' || *v == '\t')
            v++;
        if (*v != '<')
            return NULL;
        start = ++v;
        end = strchr(v, '>');
        if (!end)
            return NULL;
        v = end + 1;
        /* parameters up to the next link */
        while (*v && *v != ',') {
            char name[16];
            size_t n = 0;
            while (*v == ';' || *v == ' ' || *v == '\t')
                v++;
            while (*v && *v != '=' && *v != ';' && *v != ',' && *v != ' ')
                if (n + 1 < sizeof(name))
                    name[n++] = *v++;
                else
                    v++;
            name[n] = '\0';
            while (*v == ' ')
                v++;
            if (*v != '=')
                continue;
            v++;
            while (*v == ' ')
                v++;
            {
                char value[128];
                size_t m = 0;
                bool quoted = *v == '"';
                if (quoted)
                    v++;
                while (*v && (quoted ? *v != '"' : (*v != ';' && *v != ',')))
                    if (m + 1 < sizeof(value))
                        value[m++] = *v++;
                    else
                        v++;
                if (quoted && *v == '"')
                    v++;
                value[m] = '\0';
                if (strcasecmp(name, "rel") == 0) {
                    /* rel may list several types: "next last" */
                    char *save = NULL;
                    for (char *t = strtok_r(value, " \t", &save); t;
                         t = strtok_r(NULL, " \t", &save))
                        next |= strcasecmp(t, "next") == 0;
                }
            }
        }
        if (next)
            return strndup(start, (size_t)(end - start));
    }
    return NULL;
}

/* target resolved against base; NULL unless it is http(s). */
static char *resolve(const char *base, const char *target)
{
    CURLU *u = curl_url();
    char *out = NULL, *copy = NULL;

    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, target, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK &&
        (strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0))
        copy = strdup(out);
    curl_free(out);
    curl_url_cleanup(u);
    return copy;
}

char *src_http_escape(src_http_t *http, const char *s)
{
    char *e = curl_easy_escape(http->curl, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    return copy;
}

char *src_http_add_param(src_http_t *http, const char *url, const char *name, const char *value)
{
    char *n = src_http_escape(http, name), *v = src_http_escape(http, value), *out = NULL;
    const char *hash = strchr(url, '#');
    size_t base = hash ? (size_t)(hash - url) : strlen(url);

    if (n && v) {
        size_t len = base + strlen(n) + strlen(v) + 3;
        out = malloc(len);
        if (out) {
            bool has_query = memchr(url, '?', base) != NULL;
            bool ends = base > 0 && (url[base - 1] == '?' || url[base - 1] == '&');
            snprintf(out, len, "%.*s%s%s=%s", (int)base, url,
                     ends        ? ""
                     : has_query ? "&"
                                 : "?",
                     n, v);
        }
    }
    free(n);
    free(v);
    return out;
}

/* One attempt. DF_OK when a response arrived (any status). */
static df_code_t perform(src_http_t *h, const char *method, const char *url, const char *body,
                         const char *shown, df_error_t *err)
{
    CURL *c = h->curl;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;

    h->len = 0;
    h->too_big = false;
    h->stopped = false;
    h->link_len = 0;
    h->link[0] = '\0';
    h->retry_after_ms = -1;
    curl_easy_reset(c);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, body ? h->json_headers : h->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->opts.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "datafleet-worker");
    if (h->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, h->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, h->basic_password);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        return DF_OK;
    if (h->stopped)
        return df_error_set(err, DF_ERR_CANCELLED, NULL, "%s %s: stopped", method, shown);
    if (h->too_big)
        return df_error_set(err, DF_ERR_HTTP, "curl", "%s %s: response larger than %zu bytes",
                            method, shown, h->opts.max_body);
    df_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? DF_ERR_TIMEOUT : DF_ERR_HTTP, "curl",
                 "%s %s: curl error %d (%s): %s", method, shown, (int)cc, curl_easy_strerror(cc),
                 errbuf);
    err->retryable = cc != CURLE_URL_MALFORMAT && cc != CURLE_UNSUPPORTED_PROTOCOL &&
                     cc != CURLE_PEER_FAILED_VERIFICATION && cc != CURLE_SSL_CACERT_BADFILE &&
                     cc != CURLE_OUT_OF_MEMORY;
    return err->code;
}

/* The start of an error body for a message: printable, redacted. */
static void snippet(const src_http_t *h, char *out, size_t len)
{
    size_t n = h->len < SNIPPET_MAX ? h->len : SNIPPET_MAX;
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h->body[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = '\0';
    df_log_redact(out);
}

static bool retryable_status(long s)
{
    return s == 408 || s == 425 || s == 429 || (s >= 500 && s <= 599);
}

df_code_t src_http_fetch(src_http_t *h, const char *what, const char *method, const char *url,
                         const char *body, src_http_resp_t *resp, df_error_t *err)
{
    char shown[512];

    url_for_log(url, shown, sizeof(shown));
    memset(resp, 0, sizeof(*resp));
    for (int attempt = 0;; attempt++) {
        int64_t started = now_ms(), wait;
        df_code_t rc = perform(h, method, url, body, shown, err);
        long status = 0;

        if (rc == DF_OK) {
            curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
            df_debug("source http_json: %s %s: HTTP %ld in %lld ms", method, shown, status,
                     (long long)(now_ms() - started));
            if (status >= 200 && status <= 299) {
                free(h->next_link);
                h->next_link = NULL;
                if (h->link_len) {
                    char *target = next_from_link(h->link);
                    if (target) {
                        h->next_link = resolve(url, target);
                        free(target);
                    }
                }
                resp->status = status;
                resp->body = h->body ? h->body : "";
                resp->len = h->len;
                resp->next_link = h->next_link;
                return DF_OK;
            }
            {
                char text[SNIPPET_MAX + 1];
                snippet(h, text, sizeof(text));
                df_error_set(err, status == 401 || status == 403 ? DF_ERR_AUTH : DF_ERR_HTTP,
                             "http", "%s: %s %s: HTTP %ld%s%s", what, method, shown, status,
                             *text ? ": " : "", text);
            }
            err->retryable = retryable_status(status);
            err->retry_after_ms = h->retry_after_ms;
            resp->status = status;
        } else {
            if (rc == DF_ERR_CANCELLED || !err->retryable) {
                df_error_prefix(err, "%s", what);
                return rc;
            }
            df_error_prefix(err, "%s", what);
        }
        if (!err->retryable || attempt >= h->opts.retries)
            return err->code;
        if (h->retry_after_ms >= 0 && status) {
            wait = h->retry_after_ms;
        } else {
            int64_t cap = 500LL << (attempt < 10 ? attempt : 10);
            if (cap > h->opts.max_wait_ms)
                cap = h->opts.max_wait_ms;
            wait = cap > 0 ? (int64_t)(rand_r(&h->rng) % (unsigned)(cap + 1)) : 0;
        }
        if (wait > h->opts.max_wait_ms) {
            /* Longer than a task should sleep: hand it back to the scheduler. */
            err->retry_after_ms = wait;
            return err->code;
        }
        df_info("source http_json: retrying in %lld ms (attempt %d of %d): %s", (long long)wait,
                attempt + 2, h->opts.retries + 1, err->message);
        for (int64_t until = now_ms() + wait; now_ms() < until;) {
            struct timespec ts = { 0, 50 * 1000000L };
            if (h->opts.should_stop && h->opts.should_stop(h->opts.stop_ctx))
                return df_error_set(err, DF_ERR_CANCELLED, NULL, "%s: stopped", what);
            nanosleep(&ts, NULL);
        }
    }
}
