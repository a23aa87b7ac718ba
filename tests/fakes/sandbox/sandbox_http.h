/* sandbox_http: the HTTP layer of the sandbox on libmicrohttpd: one
 * request object per exchange (raw path split into decoded segments,
 * query, headers, the body up to --max-body-bytes), one response object,
 * and route matching: every vendor endpoint has a route name (e.g.
 * "powerbi.rows.post") used by fault injection and request statistics. */
#ifndef SB_SANDBOX_HTTP_H
#define SB_SANDBOX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sandbox.h"

struct MHD_Connection;
struct MHD_Daemon;

typedef enum sb_vendor {
    SB_VENDOR_SANDBOX = 0,
    SB_VENDOR_ENTRA,
    SB_VENDOR_POWERBI,
    SB_VENDOR_GOOGLE_OAUTH,
    SB_VENDOR_SHEETS,
    SB_VENDOR_TABLEAU,
    SB_VENDOR_QLIK,
    SB_VENDOR_LOOKER,
} sb_vendor_t;

#define SB_MAX_SEGMENTS 16
#define SB_MAX_HEADERS  8

typedef struct sb_request {
    struct MHD_Connection *conn; /* borrowed from libmicrohttpd */
    const char *method;          /* borrowed */
    char *raw_uri;               /* as received: path and query */
    char *query;                 /* raw text after '?', "" when none */
    char *seg[SB_MAX_SEGMENTS];  /* percent-decoded path segments */
    size_t nseg;
    bool too_many_segments;
    char *body; /* NUL-terminated; at most max_body bytes kept */
    size_t body_len;
    size_t body_seen; /* bytes received, kept or not */
    size_t max_body;
    int64_t arrived_ms; /* sandbox clock at arrival */
    bool answered;
} sb_request_t;

typedef struct sb_response {
    int status;
    char *body; /* malloc'd, owned */
    size_t body_len;
    const char *content_type; /* static string, or NULL for no body */
    char header_name[SB_MAX_HEADERS][48];
    char header_value[SB_MAX_HEADERS][256];
    int n_headers;
    bool drop; /* close the connection without answering */
} sb_response_t;

typedef struct sb_route sb_route_t;
typedef void (*sb_handler_fn)(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                              sb_response_t *res);

/* What a request matched: a route name (static string), the vendor whose
 * error shapes apply, the handler (run with st->lock held), and up to 4
 * path parameters (borrowed from the request's segments). Routes named
 * "sandbox.*" (the control API) are neither faulted nor counted. */
struct sb_route {
    const char *name;
    sb_vendor_t vendor;
    sb_handler_fn handler;
    const char *param[4];
    const char *allow; /* methods of the path, for a 405's Allow header */
    /* A route that limits the requests it holds at once: enter (st->lock
     * held) counts the request in when it arrives, before any fault's
     * latency, and returns false when it is one too many (over_pending:
     * not counted, the handler refuses it); leave counts it out once it
     * has been answered. pending_tag is enter's note for leave. */
    bool (*enter)(sb_state_t *st, sb_route_t *route);
    void (*leave)(sb_state_t *st, const sb_route_t *route);
    bool over_pending;
    int64_t pending_tag;
};

/* Start serving on the bound, listening socket fd. NULL on failure
 * (logged). Stop with sb_http_stop. */
struct MHD_Daemon *sb_http_start(sb_state_t *st, int listen_fd);
void sb_http_stop(struct MHD_Daemon *daemon);

/* Header value (case-insensitive name) or NULL; valid during the request. */
const char *sb_req_header(const sb_request_t *req, const char *name);
/* Decoded value of query parameter name ('+' is a space); caller frees;
 * NULL when absent. */
char *sb_req_query(const sb_request_t *req, const char *name);
/* Whether the Content-Type's media type is mime (case-insensitive,
 * parameters ignored). */
bool sb_req_content_type_is(const sb_request_t *req, const char *mime);
/* The token of an "Authorization: Bearer <token>" header, or NULL.
 * Borrowed; valid during the request. */
const char *sb_req_bearer(const sb_request_t *req);
/* The body as JSON (new reference), or NULL with jansson's text in err. */
json_t *sb_req_json(const sb_request_t *req, char *err, size_t err_len);

/* Decoded value of name in an application/x-www-form-urlencoded text;
 * caller frees; NULL when absent. */
char *sb_form_get(const char *text, size_t len, const char *name);
/* Percent-decode (and '+' to space when plus_space) in[0..len) into a new
 * string; caller frees. NULL on allocation failure. */
char *sb_url_decode(const char *in, size_t len, bool plus_space);

/* Set the response: status and a JSON body (reference stolen; NULL for an
 * empty body). */
void sb_res_json(sb_response_t *res, int status, json_t *body);
/* Add a response header (value formatted; truncated to fit). */
void sb_res_header(sb_response_t *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
