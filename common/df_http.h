/* df_http: the HTTP client every connector uses (libcurl). A df_http_t wraps
 * one curl easy handle, so connections (and TLS sessions) are reused from
 * one request to the next; it belongs to one thread or task at a time and is
 * never shared across threads.
 *
 * Transport failures (DNS, refused or dropped connections, empty replies,
 * timeouts) become df_error_t (DF_ERR_HTTP or DF_ERR_TIMEOUT, retryable)
 * carrying curl's text and the URL without its query string (queries may
 * carry secrets). HTTP statuses are not errors at this layer:
 * df_http_classify turns a response into ok / retry / auth / permanent and
 * extracts the vendor's error message.
 *
 * Every request is logged at debug level (method, URL without query,
 * status, milliseconds): never headers or bodies. */
#ifndef DF_HTTP_H
#define DF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

#define DF_HTTP_MAX_RESPONSE_DEFAULT    (16u * 1024u * 1024u)
#define DF_HTTP_CONNECT_TIMEOUT_DEFAULT 10000 /* ms */
#define DF_HTTP_TIMEOUT_DEFAULT         60000 /* ms, whole request */
#define DF_HTTP_CONTENT_TYPE_MAX        128
#define DF_HTTP_VENDOR_MESSAGE_MAX      300 /* bytes of a vendor message kept */
#define DF_HTTP_TRACEPARENT_MAX         128
#define DF_HTTP_URL_MAX                 4096

/* Options of a client; every field may be left 0 / NULL for its default.
 * Strings are copied by df_http_new. */
typedef struct df_http_options {
    int connect_timeout_ms;    /* <= 0: DF_HTTP_CONNECT_TIMEOUT_DEFAULT */
    int timeout_ms;            /* whole request; <= 0: DF_HTTP_TIMEOUT_DEFAULT */
    size_t max_response_bytes; /* 0: DF_HTTP_MAX_RESPONSE_DEFAULT */
    const char *user_agent;    /* NULL: "datafleet/<version>" */
    const char *ca_file;       /* PEM bundle; NULL: the system's trust store */
    bool follow_redirects;     /* default off: APIs answer where they are asked */
    /* The platform label of this client's request metrics ("powerbi",
     * "google", ...: a fixed word, never a URL); NULL: "other". */
    const char *platform;
    /* Checked while a request runs (curl's progress callback: several
     * times a second, at least once a second); returning true aborts it
     * with DF_ERR_CANCELLED. NULL: never. */
    bool (*should_stop)(void *ctx);
    void *stop_ctx;
} df_http_options_t;

typedef struct df_http df_http_t;

/* A new client (opts may be NULL for all defaults). NULL with err set on
 * allocation failure. Caller destroys. */
df_http_t *df_http_new(const df_http_options_t *opts, df_error_t *err);

/* Close its connections and free. NULL is a no-op. */
void df_http_destroy(df_http_t *http);

/* W3C traceparent sent on every later request (copied; NULL or "" stops
 * sending it). Values with characters outside a traceparent's alphabet are
 * ignored. */
void df_http_set_traceparent(df_http_t *http, const char *traceparent);

/* One request header; both strings borrowed. */
typedef struct df_http_header {
    const char *name;
    const char *value;
} df_http_header_t;

/* A request; everything borrowed for the duration of df_http_send. */
typedef struct df_http_request {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"...
                           NULL: POST when there is a body, else GET */
    const char *url;    /* http:// or https:// */
    const df_http_header_t *headers;
    size_t nheaders;
    const char *body; /* may be NULL */
    size_t body_len;
    const char *content_type; /* sent as Content-Type when non-NULL */
    int timeout_ms;           /* > 0: this request's own limit */
    /* A call that must not reach the server twice (not idempotent: a row
     * push, a refresh or reload start). libcurl sends a request again, once,
     * when the reused connection it went out on turns out closed, although
     * the server may have acted on it: such calls go out on a new
     * connection, where libcurl never re-sends. Nor is such a call
     * abandoned midway when should_stop says stop (a cancel, a deadline):
     * it runs to its answer (within its timeout), which says whether it
     * happened, so a cancelled export's count matches what the platform
     * holds. */
    bool once;
} df_http_request_t;

/* A response. body is heap, always NUL-terminated after a successful send
 * (an empty body is ""), owned by the response: release with
 * df_http_response_free (which zeroes it: bodies may hold tokens). */
typedef struct df_http_response {
    long status;
    char *body;
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After (seconds or HTTP-date); -1 if none */
    char content_type[DF_HTTP_CONTENT_TYPE_MAX]; /* "" when absent */
} df_http_response_t;

void df_http_response_init(df_http_response_t *resp);
/* Free the body and reset to the init state (reusable). */
void df_http_response_free(df_http_response_t *resp);

/* Send req and wait for the whole response. resp (initialized once with
 * df_http_response_init) is reset first: a body it held is freed, so one
 * response may serve many requests. DF_OK whenever an HTTP response arrived, whatever its
 * status. Errors:
 *   DF_ERR_INVALID    bad request (no URL, unsupported scheme, CR/LF in a header)
 *   DF_ERR_HTTP       transport failure, retryable (DNS, refused, dropped,
 *                     empty reply, TLS handshake); not retryable for
 *                     certificate problems and for a response larger than
 *                     max_response_bytes (the transfer stops there)
 *   DF_ERR_TIMEOUT    connect or total time limit passed, retryable
 *   DF_ERR_CANCELLED  should_stop returned true
 * Messages name the method and the URL without its query and carry curl's
 * text ("curl error N (...): ..."). */
df_code_t df_http_send(df_http_t *http, const df_http_request_t *req, df_http_response_t *resp,
                       df_error_t *err);

/* What a status means to a caller. */
typedef enum df_http_class {
    DF_HTTP_OK = 0,        /* 2xx */
    DF_HTTP_RETRY = 1,     /* 408, 425, 429, 5xx: err->retryable, retry_after_ms */
    DF_HTTP_AUTH = 2,      /* 401: refresh the token once, then fail */
    DF_HTTP_PERMANENT = 3, /* any other status */
} df_http_class_t;

/* Classify resp. For anything but DF_HTTP_OK, err (may be NULL) is set:
 * DF_ERR_AUTH for 401 and 403, DF_ERR_HTTP otherwise; message
 * "HTTP <status>: <vendor message>" (see df_http_vendor_message), redacted
 * by df_log_redact; retryable and retry_after_ms for DF_HTTP_RETRY. For
 * DF_HTTP_OK err is left untouched. */
df_http_class_t df_http_classify(const df_http_response_t *resp, df_error_t *err);

/* The vendor's error message in body, from the common JSON shapes
 *   {"error":{"code":"X","message":"Y"}}        -> "X: Y"
 *   {"error":"x","error_description":"Y"}       -> "x: Y"   (OAuth2)
 *   {"message":"Y"} {"error_code":"X","message":"Y"} {"errors":[{"message":"Y"}]}
 *   {"error":"x"} {"detail":"Y"} {"error":{"code":"X"}}
 * else the body itself when it is short readable text (not HTML), with
 * control characters turned into spaces. Truncated to
 * DF_HTTP_VENDOR_MESSAGE_MAX bytes (on a UTF-8 boundary, "..." appended)
 * and passed through df_log_redact. Writes "" when nothing fits. Always
 * NUL-terminates out. */
void df_http_vendor_message(const char *body, size_t body_len, char *out, size_t len);

/* Retry-After value -> milliseconds from now_ms (seconds, or an HTTP-date;
 * a date in the past gives 0). -1 when value is NULL or unparsable. */
int64_t df_http_retry_after_parse(const char *value, int64_t now_ms);

/* A growable byte buffer with a size limit, for request bodies such as
 * forms. data is NUL-terminated whenever non-NULL. df_http_buf_free zeroes
 * it (forms carry client secrets) and leaves the buffer reusable. */
typedef struct df_http_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0: DF_HTTP_MAX_RESPONSE_DEFAULT */
} df_http_buf_t;

void df_http_buf_init(df_http_buf_t *buf, size_t max);
void df_http_buf_free(df_http_buf_t *buf);
/* Append len bytes. DF_ERR_NOMEM, or DF_ERR_INVALID past buf->max. */
df_code_t df_http_buf_append(df_http_buf_t *buf, const char *data, size_t len, df_error_t *err);

/* Append "key=value" to an application/x-www-form-urlencoded body, with
 * "&" first when buf is not empty; both percent-encoded (curl_easy_escape:
 * everything but A-Z a-z 0-9 - . _ ~). value NULL appends "key=". */
df_code_t df_http_form_append(df_http_buf_t *buf, const char *key, const char *value,
                              df_error_t *err);

/* base + "/" + path with exactly one slash between them (a base override,
 * e.g. api_base_url "https://sandbox:8443/v1.0/myorg/" + "/groups"). base
 * must be an http(s) URL without query or fragment; path must be relative
 * (no scheme); an empty path gives base without trailing slash. Always
 * NUL-terminates out. DF_ERR_INVALID when the result does not fit or the
 * parts are malformed. */
df_code_t df_http_url_join(const char *base, const char *path, char *out, size_t len,
                           df_error_t *err);

/* Percent-encode one path segment (ids, sheet names: "/" and "?" are
 * escaped too). DF_ERR_INVALID when it does not fit. */
df_code_t df_http_path_escape(const char *segment, char *out, size_t len, df_error_t *err);

/* url for messages and logs: without query and fragment, and with a
 * userinfo password replaced by "***". Always NUL-terminates out. */
void df_http_url_for_log(const char *url, char *out, size_t len);

#endif
