/* sandbox_http: libmicrohttpd glue, request parsing, routing, faults,
 * statistics and the request log. One thread per connection, so a fault's
 * latency only holds up its own connection. */
#include "sandbox_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "control.h"
#include "df_log.h"
#include "entra.h"
#include "faults.h"
#include "google_oauth.h"
#include "powerbi.h"
#include "sheets.h"
#include "powerbi_refresh.h"
#include "looker.h"
#include "qlik.h"
#include "tableau.h"
#include "stats.h"

#define CONNECTION_TIMEOUT_S 120
#define CONNECTION_LIMIT     256
#define JSON_TYPE            "application/json; charset=utf-8"

/* ---- decoding ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *sb_url_decode(const char *in, size_t len, bool plus_space)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else if (in[i] == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return out;
}

char *sb_form_get(const char *text, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    size_t i = 0;

    while (i < len) {
        size_t end = i, eq;
        char *key;
        bool same;

        while (end < len && text[end] != '&')
            end++;
        eq = i;
        while (eq < end && text[eq] != '=')
            eq++;
        key = sb_url_decode(text + i, eq - i, true);
        same = key && strlen(key) == name_len && memcmp(key, name, name_len) == 0;
        free(key);
        if (same)
            return eq < end ? sb_url_decode(text + eq + 1, end - eq - 1, true) : strdup("");
        i = end + 1;
    }
    return NULL;
}

/* ---- request ---- */

const char *sb_req_header(const sb_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

char *sb_req_query(const sb_request_t *req, const char *name)
{
    return sb_form_get(req->query, strlen(req->query), name);
}

bool sb_req_content_type_is(const sb_request_t *req, const char *mime)
{
    const char *ct = sb_req_header(req, "Content-Type");
    size_t n = strlen(mime), len = 0;

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    while (ct[len] && ct[len] != ';' && ct[len] != ' ')
        len++;
    return len == n && strncasecmp(ct, mime, n) == 0;
}

const char *sb_req_bearer(const sb_request_t *req)
{
    const char *auth = sb_req_header(req, "Authorization");

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

json_t *sb_req_json(const sb_request_t *req, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);

    if (!doc && err)
        snprintf(err, err_len, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    return doc;
}

/* Split the raw URI into its query and decoded path segments. A single
 * trailing slash is ignored. */
static void parse_uri(sb_request_t *req)
{
    char *q = strchr(req->raw_uri, '?');
    size_t path_len = q ? (size_t)(q - req->raw_uri) : strlen(req->raw_uri);
    size_t i = 0;

    req->query = strdup(q ? q + 1 : "");
    if (path_len > 1 && req->raw_uri[path_len - 1] == '/')
        path_len--;
    if (i < path_len && req->raw_uri[i] == '/')
        i++;
    while (i < path_len) {
        size_t end = i;

        while (end < path_len && req->raw_uri[end] != '/')
            end++;
        if (req->nseg == SB_MAX_SEGMENTS) {
            req->too_many_segments = true;
            break;
        }
        req->seg[req->nseg++] = sb_url_decode(req->raw_uri + i, end - i, false);
        i = end + 1;
    }
}

static void request_free(sb_request_t *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->nseg; i++)
        free(req->seg[i]);
    free(req->raw_uri);
    free(req->query);
    free(req->body);
    free(req);
}

static void append_body(sb_request_t *req, const char *data, size_t len)
{
    req->body_seen += len;
    if (req->body_len + len > req->max_body)
        return; /* counted, not kept: answered 413 */
    {
        char *grown = realloc(req->body, req->body_len + len + 1);

        if (!grown) {
            req->body_seen = req->max_body + 1;
            return;
        }
        req->body = grown;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

/* ---- response ---- */

void sb_res_json(sb_response_t *res, int status, json_t *body)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->content_type = NULL;
    res->status = status;
    if (body) {
        res->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        res->body_len = res->body ? strlen(res->body) : 0;
        res->content_type = JSON_TYPE;
        json_decref(body);
    }
}

void sb_res_header(sb_response_t *res, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (res->n_headers == SB_MAX_HEADERS)
        return;
    snprintf(res->header_name[res->n_headers], sizeof(res->header_name[0]), "%s", name);
    va_start(ap, fmt);
    vsnprintf(res->header_value[res->n_headers], sizeof(res->header_value[0]), fmt, ap);
    va_end(ap);
    res->n_headers++;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, sb_response_t *res)
{
    struct MHD_Response *response;
    enum MHD_Result rc;

    if (res->body) {
        response = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE);
        if (response)
            res->body = NULL; /* libmicrohttpd frees it */
    } else {
        response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!response)
        return MHD_NO;
    if (res->content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (int i = 0; i < res->n_headers; i++)
        MHD_add_response_header(response, res->header_name[i], res->header_value[i]);
    rc = MHD_queue_response(conn, (unsigned int)res->status, response);
    MHD_destroy_response(response);
    return rc;
}

/* ---- routing ---- */

static void unknown_route(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                          sb_response_t *res)
{
    (void)st;
    (void)route;
    sb_res_json(res, 404,
                json_pack("{s:s, s:s, s:s}", "error", "no such route in datafleet-sandbox",
                          "method", req->method, "see", "docs/SANDBOX.md"));
}

static void match_route(const sb_request_t *req, sb_route_t *route)
{
    memset(route, 0, sizeof(*route));
    if (sb_pbi_refresh_match(req, route) || sb_tableau_match(req, route) ||
        sb_qlik_match(req, route) || sb_looker_match(req, route) || sb_control_match(req, route) ||
        sb_powerbi_match(req, route) || sb_sheets_match(req, route) ||
        sb_google_match(req, route) || sb_entra_match(req, route))
        return;
    route->name = "unknown";
    route->vendor = SB_VENDOR_SANDBOX;
    route->handler = unknown_route;
}

static bool is_internal(const sb_route_t *route)
{
    return strncmp(route->name, "sandbox.", 8) == 0 || strcmp(route->name, "unknown") == 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void too_large(const sb_request_t *req, sb_vendor_t vendor, sb_response_t *res)
{
    if (vendor == SB_VENDOR_POWERBI)
        sb_powerbi_error(res, 413, "RequestEntityTooLarge",
                         "The request body of %zu bytes exceeds the limit of %zu bytes",
                         req->body_seen, req->max_body);
    else if (vendor == SB_VENDOR_SHEETS)
        sb_sheets_error(res, 413, NULL, "Request payload size exceeds the limit: %zu bytes.",
                        req->max_body);
    else
        sb_res_json(res, 413,
                    json_pack("{s:s, s:I}", "error", "request body too large", "limit_bytes",
                              (json_int_t)req->max_body));
}

static void log_request(const sb_request_t *req, const sb_route_t *route, const sb_response_t *res,
                        int64_t ms)
{
    json_t *extra;
    char *text;
    char *path = strdup(req->raw_uri);

    if (!df_log_enabled(DF_LOG_INFO) || !path) {
        free(path);
        return;
    }
    path[strcspn(path, "?")] = '\0'; /* the query may carry access_token */
    extra = json_pack("{s:s, s:s, s:s, s:i, s:I}", "method", req->method, "path", path, "route",
                      route->name, "status", res->drop ? 0 : res->status, "ms", (json_int_t)ms);
    text = extra ? json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    df_log_write_kv(DF_LOG_INFO, text, "%s", res->drop ? "dropped connection" : "request");
    free(text);
    json_decref(extra);
    free(path);
}

static enum MHD_Result serve(sb_state_t *st, sb_request_t *req)
{
    sb_route_t route;
    sb_response_t res;
    sb_fault_t fault;
    bool faulted = false;
    enum MHD_Result rc;

    memset(&res, 0, sizeof(res));
    memset(&fault, 0, sizeof(fault));
    match_route(req, &route);
    if (!is_internal(&route)) {
        pthread_mutex_lock(&st->lock);
        if (route.enter)
            route.over_pending = !route.enter(st, &route);
        faulted = sb_faults_take(st->faults, route.name, &fault);
        pthread_mutex_unlock(&st->lock);
    }
    if (faulted && fault.latency_ms > 0)
        sleep_ms(fault.latency_ms);
    if (faulted && fault.drop && !fault.drop_after)
        res.drop = true;
    else if (faulted && fault.status > 0)
        sb_fault_respond(&fault, route.vendor, &res);
    if (!res.drop && res.status == 0) {
        if (req->body_seen > req->max_body || req->too_many_segments) {
            if (req->too_many_segments)
                unknown_route(st, req, &route, &res);
            else
                too_large(req, route.vendor, &res);
        } else {
            pthread_mutex_lock(&st->lock);
            route.handler(st, req, &route, &res);
            pthread_mutex_unlock(&st->lock);
        }
        if (res.status == 0)
            sb_res_json(&res, 500, json_pack("{s:s}", "error", "handler gave no answer"));
        if (faulted && fault.drop_after)
            res.drop = true; /* handled, but the answer is lost */
    }
    sb_fault_free(&fault);
    if (!is_internal(&route)) {
        pthread_mutex_lock(&st->lock);
        if (route.leave && !route.over_pending)
            route.leave(st, &route);
        sb_stats_record(st->stats, route.name, res.drop ? 0 : res.status,
                        sb_clock_window(&st->clock, req->arrived_ms, 1));
        pthread_mutex_unlock(&st->lock);
    }
    log_request(req, &route, &res, sb_clock_now(&st->clock) - req->arrived_ms);
    if (res.drop) {
        free(res.body);
        return MHD_NO;
    }
    rc = send_response(req->conn, &res);
    free(res.body);
    return rc;
}

/* ---- libmicrohttpd callbacks ---- */

/* Called first for every request with the raw URI: its return value is
 * the request's context (*con_cls) in on_request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    sb_state_t *st = cls;
    sb_request_t *req = calloc(1, sizeof(*req));

    if (!req)
        return NULL;
    req->raw_uri = strdup(uri ? uri : "/");
    if (!req->raw_uri) {
        free(req);
        return NULL;
    }
    req->conn = conn;
    req->max_body = (size_t)st->cfg->max_body_bytes;
    req->arrived_ms = sb_clock_now(&st->clock);
    return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sb_state_t *st = cls;
    sb_request_t *req = *con_cls;

    (void)url;
    (void)version;
    (void)conn;
    if (!req)
        return MHD_NO;
    if (!req->method) {
        req->method = method;
        parse_uri(req);
        if (!req->query)
            return MHD_NO;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    req->answered = true;
    return serve(st, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    request_free(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    df_warn("libmicrohttpd: %s", msg);
}

struct MHD_Daemon *sb_http_start(sb_state_t *st, int listen_fd)
{
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, st, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, st, MHD_OPTION_NOTIFY_COMPLETED, on_completed, st,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, NULL, MHD_OPTION_END);

    if (!daemon)
        df_error("libmicrohttpd: MHD_start_daemon failed");
    return daemon;
}

void sb_http_stop(struct MHD_Daemon *daemon)
{
    if (daemon)
        MHD_stop_daemon(daemon);
}
