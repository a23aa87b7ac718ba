/* df_metrics_http: the metrics listener (see df_metrics.h): GET /metrics,
 * /healthz and /readyz, served by libmicrohttpd from its own thread. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "df_metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon *daemon_;
static df_ready_fn ready_fn;
static void *ready_opaque;
static int bound_port;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;

    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);

    return body ? reply(conn, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)req_cls;
    if (*upload_data_size)
        return reply_text(conn, MHD_HTTP_BAD_REQUEST, "no request body expected\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = df_metrics_render(&len);
        if (!body)
            return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return reply(conn, MHD_HTTP_OK, CONTENT_TYPE, body, len);
    }
    if (strcmp(url, "/healthz") == 0)
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        char text[300];
        if (!ready_fn || ready_fn(ready_opaque, why, sizeof(why)))
            return reply_text(conn, MHD_HTTP_OK, "ready\n");
        snprintf(text, sizeof(text), "not ready: %s\n", why);
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text);
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz, /readyz\n");
}

bool df_listen_parse(const char *listen, const char *option, struct sockaddr_in *sa, char *why,
                     size_t why_len)
{
    const char *colon = strrchr(listen, ':');
    char host[64] = "127.0.0.1";
    const char *port_text = colon ? colon + 1 : listen;
    char *end;
    long port = strtol(port_text, &end, 10);

    if (colon && colon != listen) {
        size_t n = (size_t)(colon - listen);
        if (n >= sizeof(host)) {
            snprintf(why, why_len, "%s: host too long in \"%s\"", option, listen);
            return false;
        }
        memcpy(host, listen, n);
        host[n] = '\0';
    }
    if (!*port_text || *end || port < 0 || port > 65535) {
        snprintf(why, why_len, "%s: expected host:port with a port 0-65535, got \"%s\"", option,
                 listen);
        return false;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        snprintf(why, why_len, "%s: expected an IPv4 address, got \"%s\"", option, host);
        return false;
    }
    return true;
}

bool df_metrics_listen(const char *listen, df_ready_fn ready, void *opaque, char *why,
                       size_t why_len)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    if (daemon_) {
        snprintf(why, why_len, "the metrics listener is already running");
        return false;
    }
    if (!listen || !df_listen_parse(listen, "--metrics-listen", &sa, why, why_len))
        return false;
    ready_fn = ready;
    ready_opaque = opaque;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!daemon_) {
        snprintf(why, why_len, "cannot listen on %s (address in use, or not permitted)", listen);
        return false;
    }
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? (int)info->port : ntohs(sa.sin_port);
    return true;
}

void df_metrics_set_ready(df_ready_fn ready, void *opaque)
{
    ready_opaque = opaque;
    ready_fn = ready;
}

int df_metrics_port(void)
{
    return daemon_ ? bound_port : 0;
}

void df_metrics_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    bound_port = 0;
}
