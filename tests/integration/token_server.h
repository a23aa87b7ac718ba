/* token_server.h: start and drive tests/integration/token_server.py (a
 * local HTTP server with OAuth2 token endpoints that count requests, and
 * status / size / slow / dropped-connection routes) from a C test. One
 * server per test program; stopped with SIGTERM at the end. */
#ifndef DF_TOKEN_SERVER_H
#define DF_TOKEN_SERVER_H

#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "df_http.h"
#include "df_test.h"

#define TOKEN_SERVER_PYTHON "/usr/bin/python3"

extern char **environ;

typedef struct token_server {
    pid_t pid;
    int port;
    char base[64]; /* "http://127.0.0.1:<port>" */
    char dir[64];
} token_server_t;

/* Start the server (public_key_pem: a path, or NULL) and wait until it
 * listens. Stops the whole test program when it cannot. */
static inline void token_server_start(token_server_t *s, const char *public_key_pem)
{
    const char *src = getenv("DF_SOURCE_DIR") ? getenv("DF_SOURCE_DIR") : ".";
    char script[512], port_file[128];
    char *argv[8];
    int argc = 0;

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/df-token-server-XXXXXX");
    REQUIRE(mkdtemp(s->dir) != NULL);
    snprintf(script, sizeof(script), "%s/tests/integration/token_server.py", src);
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    argv[argc++] = (char *)TOKEN_SERVER_PYTHON;
    argv[argc++] = script;
    argv[argc++] = (char *)"--port-file";
    argv[argc++] = port_file;
    if (public_key_pem) {
        argv[argc++] = (char *)"--public-key";
        argv[argc++] = (char *)public_key_pem;
    }
    argv[argc] = NULL;
    REQUIRE(posix_spawn(&s->pid, argv[0], NULL, NULL, argv, environ) == 0);
    for (int i = 0; i < 200 && s->port == 0; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            if (fscanf(f, "%d", &s->port) != 1)
                s->port = 0;
            fclose(f);
        }
        if (s->port == 0) {
            int status;
            REQUIRE(waitpid(s->pid, &status, WNOHANG) == 0); /* it died: see stderr */
            usleep(50 * 1000);
        }
    }
    REQUIRE(s->port > 0);
    unlink(port_file);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

static inline void token_server_stop(token_server_t *s)
{
    int status;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &status, 0);
        s->pid = 0;
    }
    rmdir(s->dir);
}

/* method path [json body] -> parsed JSON reply (caller decrefs), or NULL. */
static inline json_t *token_server_call(token_server_t *s, const char *method, const char *path,
                                        const char *json_body)
{
    char url[256];
    df_http_t *http;
    df_http_request_t req = { 0 };
    df_http_response_t resp;
    df_error_t err;
    json_t *out = NULL;

    df_error_init(&err);
    http = df_http_new(NULL, &err);
    if (!http)
        return NULL;
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    req.method = method;
    req.url = url;
    req.body = json_body;
    req.body_len = json_body ? strlen(json_body) : 0;
    req.content_type = json_body ? "application/json" : NULL;
    df_http_response_init(&resp);
    if (df_http_send(http, &req, &resp, &err) == DF_OK && resp.status == 200)
        out = json_loadb(resp.body, resp.body_len, 0, NULL);
    else
        fprintf(stderr, "token server %s %s: %ld %s\n", method, path, resp.status, err.message);
    df_http_response_free(&resp);
    df_http_destroy(http);
    return out;
}

/* Change the server's settings (a JSON object text). */
static inline void token_server_control(token_server_t *s, const char *settings)
{
    json_t *r = token_server_call(s, "POST", "/control", settings);
    CHECK(r != NULL);
    json_decref(r);
}

/* A counter from /stats ("token_requests", "jwt_requests"); -1 on failure. */
static inline long token_server_count(token_server_t *s, const char *name)
{
    json_t *r = token_server_call(s, "GET", "/stats", NULL);
    long n = r ? (long)json_integer_value(json_object_get(r, name)) : -1;
    json_decref(r);
    return n;
}

#endif
