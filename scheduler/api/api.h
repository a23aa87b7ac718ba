/* api: the REST API of datafleet-scheduler's `api` role (docs/API.md,
 * schemas/openapi.yaml). api_server.c owns the libmicrohttpd daemon: it
 * reads the body within its limit, authenticates the bearer token, applies
 * the token's rate limit, matches the route and calls its handler on one
 * of the daemon's pool threads. Handlers (api_tasks.c, api_connectors.c,
 * ...) fill an api_resp_t; every error they report has the one shape
 * {"error": {"code", "message", "field"}}. */
#ifndef DF_API_H
#define DF_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"
#include "df_redis.h"
#include "df_secret.h"
#include "scheduler.h"

struct MHD_Connection;

/* Roles of API tokens, each allowed what the one before it may do. */
typedef enum api_role {
    API_ROLE_NONE = 0, /* no token needed (health, metrics, the page, the document) */
    API_ROLE_READ = 1,
    API_ROLE_SUBMIT = 2,
    API_ROLE_ADMIN = 3,
} api_role_t;

const char *api_role_name(api_role_t role);
/* "read" | "submit" | "admin" -> the role; false for anything else. */
bool api_role_parse(const char *text, api_role_t *out);

#define API_PARAMS_MAX 3

typedef struct api_server api_server_t;

/* One request, as a handler sees it. Everything is borrowed for the call. */
typedef struct api_req {
    api_server_t *server;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;  /* without the query */
    const char *route; /* the matched pattern ("/v1/tasks/{id}"): metrics */
    unsigned route_flags;
    const char *params[API_PARAMS_MAX]; /* path parameters, in pattern order */
    json_t *body;                       /* the parsed JSON body, or NULL when there is none */
    api_role_t role;                    /* the token's role (API_ROLE_NONE: no token) */
    const char *actor;                  /* "token:<name>" or "anonymous" */
    const char *remote_addr;
    df_pg_t *pg;       /* this thread's connection; NULL: PostgreSQL unreachable */
    df_redis_t *redis; /* same for Redis */
} api_req_t;

#define API_HEADERS_MAX 4

/* What a handler answers: a JSON body (owned; api_server renders and frees
 * it) or raw bytes (owned text, with its content type). */
typedef struct api_resp {
    unsigned status;
    json_t *json;
    char *raw;
    size_t raw_len;
    const char *content_type;
    bool raw_static; /* raw points at static data: not freed */
    struct {
        const char *name;
        char value[256];
    } headers[API_HEADERS_MAX];
    int nheaders;
    /* for the audit row of an API_AUDIT route (never secret values) */
    json_t *audit;          /* details, owned; may stay NULL */
    char audit_target[160]; /* "" : the first path parameter */
} api_resp_t;

typedef void (*api_handler_fn)(api_req_t *req, api_resp_t *resp);

/* Route flags. */
enum {
    API_BODY = 1u << 0,  /* takes a JSON object body (without one: 400) */
    API_AUDIT = 1u << 1, /* a change: recorded in audit_log when it succeeds */
};

typedef struct api_route {
    const char *method;
    const char *pattern; /* "/v1/tasks/{id}/cancel": {x} matches one path segment */
    api_role_t role;     /* least role allowed */
    unsigned flags;
    api_handler_fn fn;
} api_route_t;

/* The route tables of the handler files, each ended by a {NULL} entry. */
extern const api_route_t api_tasks_routes[];
extern const api_route_t api_misc_routes[];
extern const api_route_t api_status_routes[]; /* GET /v1/stats (api_status.c) */
extern const api_route_t api_page_routes[];   /* GET /, /assets/{file} (api_page.c) */
extern const api_route_t api_fleet_routes[];
extern const api_route_t api_connectors_routes[];
extern const api_route_t api_lineage_routes[]; /* GET /v1/lineage (api_lineage.c) */
extern const api_route_t api_schedules_routes[];
extern const api_route_t api_pipelines_routes[];

/* Every route table the server matches requests against (borrowed, static),
 * *n of them: for tests that compare the routes with the OpenAPI document. */
const api_route_t *const *api_route_tables(size_t *n);

/* schemas/openapi.yaml as compact JSON (NUL-terminated), generated at build
 * time by scheduler/api/openapi_embed.py; served at GET /openapi.json. */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* ---- answers ----------------------------------------------------------- */

/* status with body (stolen; NULL: {}). */
void api_json(api_resp_t *resp, unsigned status, json_t *body);

/* An error answer {"error": {"code", "message", "field"}}; field may be NULL
 * (then JSON null). code is a short snake_case word ("invalid",
 * "not_found", "conflict", "unauthorized", "forbidden", ...). */
void api_error(api_resp_t *resp, unsigned status, const char *code, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The answer for a df_error_t: DF_ERR_INVALID 400, NOT_FOUND 404,
 * CONFLICT 409, AUTH 403, TIMEOUT 504, PG/REDIS/KAFKA 503 (unavailable,
 * with Retry-After), anything else 500. */
void api_df_error(api_resp_t *resp, const df_error_t *err);

/* Add a response header (name must be a literal). */
void api_header(api_resp_t *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- reading a request --------------------------------------------------- */

/* A query argument, or NULL. */
const char *api_query(const api_req_t *req, const char *name);
/* A request header, or NULL. */
const char *api_header_in(const api_req_t *req, const char *name);

/* Query arguments must be among allowed (NULL-terminated): else 400 naming
 * the unknown one. false when an answer was set. */
bool api_query_only(const api_req_t *req, api_resp_t *resp, const char *const *allowed);

/* An integer query argument within [min, max], def when absent. false (with
 * a 400 naming the argument) when it is not one. */
bool api_query_int(const api_req_t *req, api_resp_t *resp, const char *name, int64_t def,
                   int64_t min, int64_t max, int64_t *out);

/* A time query argument (RFC 3339, or Unix milliseconds) into Unix ms; *set
 * false when absent. false with a 400 when malformed. */
bool api_query_time(const api_req_t *req, api_resp_t *resp, const char *name, int64_t *out,
                    bool *set);

/* One of choices ("a|b|c"), or NULL when absent. false with a 400 when it
 * is something else. */
bool api_query_enum(const api_req_t *req, api_resp_t *resp, const char *name, const char *choices,
                    const char **out);

/* The body's fields must be among allowed (NULL-terminated); else 400
 * naming the first unknown one. */
bool api_body_only(const api_req_t *req, api_resp_t *resp, const char *const *allowed);

/* Path parameter i must be a task id (ULID or UUID); else 400. */
bool api_param_id(const api_req_t *req, api_resp_t *resp, int i, const char *what);

/* PostgreSQL / Redis for a handler that needs them: false with a 503 when
 * this thread has no connection. */
bool api_need_pg(api_req_t *req, api_resp_t *resp);
bool api_need_redis(api_req_t *req, api_resp_t *resp);

/* Opaque pagination cursors: "c1." + base64url(text). decode returns false
 * (and sets a 400 naming `cursor`) for anything it did not make. */
char *api_cursor_encode(const char *text);
bool api_cursor_decode(const char *cursor, api_resp_t *resp, char *out, size_t len);

/* Run a query whose single column is JSON text (built by PostgreSQL:
 * jsonb_build_object, json_agg...) and return row 0 parsed, or NULL with a
 * 503/500 answer set. A query without rows gives JSON null (the caller
 * decides: 404, []...). */
json_t *api_pg_json(api_req_t *req, api_resp_t *resp, const char *sql, int nparams,
                    const char *const *params);

/* Record an admin action in audit_log (never holding secret values).
 * Failures are logged, never fatal: the action happened. */
void api_audit(api_req_t *req, const char *action, const char *target_kind, const char *target,
               json_t *details);

/* ---- the server ------------------------------------------------------------ */

/* The submitter shared by handlers (one Kafka producer per process, used
 * under a lock): submit task (modified: id and defaults filled in) and wait
 * for Kafka's acknowledgement. */
df_code_t api_submit(api_server_t *server, json_t *task, const char *traceparent, df_error_t *err);

const df_scheduler_config_t *api_config(const api_server_t *server);

/* The keyring connector secrets are sealed with (DATAFLEET_SECRET_KEY or
 * DATAFLEET_SECRET_KEY_FILE), or NULL when the process has none. */
const df_secret_keyring_t *api_keyring(const api_server_t *server);

/* Start serving on cfg->api_listen. NULL (reason logged) when it cannot. */
api_server_t *api_server_start(const df_scheduler_config_t *cfg);
/* The port bound (after listening on port 0). */
int api_server_port(const api_server_t *server);
void api_server_stop(api_server_t *server);

/* ---- tokens (api_tokens.c) ---------------------------------------------- */

typedef struct api_token_info {
    char id[32];
    char name[129];
    api_role_t role;
} api_token_info_t;

/* Look a bearer token up (by its hash): DF_OK with *info, DF_ERR_AUTH for an
 * unknown, revoked or expired token, DF_ERR_PG when PostgreSQL failed. */
df_code_t api_token_check(df_pg_t *pg, const char *token, api_token_info_t *info, df_error_t *err);

/* The hex SHA-256 of a token (what api_tokens.token_hash holds). */
void api_token_hash(const char *token, char out[65]);

#endif
