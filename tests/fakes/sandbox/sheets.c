/* sheets: routing, authentication, quotas and errors of the Sheets API
 * (the routes' handlers are in sheets_book.c, sheets_values.c and
 * sheets_values_batch.c). */
#include "sheets.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sheets_internal.h"

#define SERVICE "sheets.googleapis.com"
#define INVALID_AUTH                                                                        \
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login " \
    "cookie or other valid authentication credential. See "                                 \
    "https://developers.google.com/identity/sign-in/web/devconsole-project."

typedef struct sheets_quota {
    sb_window_t read, write;
} sheets_quota_t;

static void quota_free(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    free(value);
}

sb_sheets_t *sb_sheets_new(void)
{
    sb_sheets_t *sheets = calloc(1, sizeof(*sheets));

    if (!sheets)
        return NULL;
    sheets->quota = df_hmap_new();
    if (!sheets->quota) {
        free(sheets);
        return NULL;
    }
    return sheets;
}

void sb_sheets_reset(sb_sheets_t *sheets)
{
    df_hmap_t *fresh = df_hmap_new();

    while (sheets->books) {
        sg_book_t *next = sheets->books->next;

        sg_book_free(sheets->books);
        sheets->books = next;
    }
    if (!fresh)
        return;
    df_hmap_each(sheets->quota, quota_free, NULL);
    df_hmap_destroy(sheets->quota);
    sheets->quota = fresh;
}

void sb_sheets_destroy(sb_sheets_t *sheets)
{
    if (!sheets)
        return;
    sb_sheets_reset(sheets);
    df_hmap_each(sheets->quota, quota_free, NULL);
    df_hmap_destroy(sheets->quota);
    free(sheets);
}

sg_book_t *sheets_find(const sb_sheets_t *sheets, const char *id)
{
    for (sg_book_t *b = sheets->books; b; b = b->next)
        if (strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

void sheets_replace_book(sb_sheets_t *sheets, sg_book_t *book, sg_book_t *updated)
{
    for (sg_book_t **link = &sheets->books; *link; link = &(*link)->next) {
        if (*link == book) {
            updated->next = book->next;
            *link = updated;
            sg_book_free(book);
            return;
        }
    }
}

/* ---- errors ---- */

static const char *status_name(int status)
{
    switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ALREADY_EXISTS";
    case 413: return "INVALID_ARGUMENT";
    case 429: return "RESOURCE_EXHAUSTED";
    case 500: return "INTERNAL";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

static void error_with(sb_response_t *res, int status, const char *reason, json_t *metadata,
                       const char *message)
{
    json_t *error = json_pack("{s:i, s:s, s:s}", "code", status, "message", message, "status",
                              status_name(status));

    if (reason) {
        json_t *info =
            json_pack("{s:s, s:s, s:s}", "@type", "type.googleapis.com/google.rpc.ErrorInfo",
                      "reason", reason, "domain", "googleapis.com");

        json_object_set_new(info, "metadata",
                            metadata ? metadata : json_pack("{s:s}", "service", SERVICE));
        json_object_set_new(error, "details", json_pack("[o]", info));
    } else {
        json_decref(metadata);
    }
    sb_res_json(res, status, json_pack("{s:o}", "error", error));
}

void sb_sheets_error(sb_response_t *res, int status, const char *reason, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    error_with(res, status, reason, NULL, message);
}

/* ---- the common prelude ---- */

static bool scope_allows(const char *scope, bool write)
{
    static const char *const writers[] = { "spreadsheets", "drive", "drive.file", NULL };
    static const char *const readers[] = { "spreadsheets.readonly", "drive.readonly", NULL };
    const char *p = scope;

    while (*p) {
        size_t n = strcspn(p, " ");
        const char *prefix = "https://www.googleapis.com/auth/";
        size_t plen = strlen(prefix);

        if (n > plen && strncmp(p, prefix, plen) == 0) {
            for (const char *const *w = writers; *w; w++)
                if (n - plen == strlen(*w) && strncmp(p + plen, *w, n - plen) == 0)
                    return true;
            for (const char *const *r = readers; !write && *r; r++)
                if (n - plen == strlen(*r) && strncmp(p + plen, *r, n - plen) == 0)
                    return true;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return false;
}

static sheets_quota_t *quota_for(sb_sheets_t *sheets, char kind, const char *name)
{
    char key[512];
    sheets_quota_t *q;

    snprintf(key, sizeof(key), "%c:%s", kind, name);
    q = df_hmap_get(sheets->quota, key, strlen(key));
    if (!q && (q = calloc(1, sizeof(*q))) && !df_hmap_put(sheets->quota, key, strlen(key), q)) {
        free(q);
        q = NULL;
    }
    return q;
}

static void quota_exceeded(sb_response_t *res, bool write, bool per_user, int64_t limit,
                           const char *project)
{
    const char *metric = write ? "Write requests" : "Read requests";
    char message[512], limit_name[64], consumer[160], limit_value[24], metric_id[64];

    snprintf(limit_name, sizeof(limit_name), "%sRequestsPerMinutePer%s", write ? "Write" : "Read",
             per_user ? "User" : "Project");
    snprintf(consumer, sizeof(consumer), "projects/%s", project);
    snprintf(limit_value, sizeof(limit_value), "%lld", (long long)limit);
    snprintf(metric_id, sizeof(metric_id), SERVICE "/%s_requests", write ? "write" : "read");
    snprintf(message, sizeof(message),
             "Quota exceeded for quota metric '%s' and limit '%s per minute%s' of service '%s' "
             "for consumer 'project_number:%s'.",
             metric, metric, per_user ? " per user" : "", SERVICE, project);
    error_with(res, 429, "RATE_LIMIT_EXCEEDED",
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "service", SERVICE, "consumer", consumer,
                         "quota_metric", metric_id, "quota_limit", limit_name, "quota_limit_value",
                         limit_value, "quota_location", "global"),
               message);
}

static bool take_quota(sb_state_t *st, const sb_request_t *req, const sb_token_info_t *who,
                       bool write, sb_response_t *res)
{
    const sb_config_t *cfg = st->cfg;
    int64_t minute = sb_clock_window(&st->clock, req->arrived_ms, 1);
    sheets_quota_t *project = quota_for(st->sheets, 'p', who->project);
    sheets_quota_t *user = quota_for(st->sheets, 'u', who->principal);
    int64_t project_limit = write ? cfg->sheets_write_project : cfg->sheets_read_project;
    int64_t user_limit = write ? cfg->sheets_write_user : cfg->sheets_read_user;
    sb_window_t *pw, *uw;

    if (!project || !user) {
        sb_sheets_error(res, 500, NULL, "Internal error encountered.");
        return false;
    }
    pw = write ? &project->write : &project->read;
    uw = write ? &user->write : &user->read;
    if (sb_window_used(pw, minute) >= project_limit) {
        quota_exceeded(res, write, false, project_limit, who->project);
        return false;
    }
    if (sb_window_used(uw, minute) >= user_limit) {
        quota_exceeded(res, write, true, user_limit, who->project);
        return false;
    }
    sb_window_take(pw, minute, 1, INT64_MAX);
    sb_window_take(uw, minute, 1, INT64_MAX);
    return true;
}

static bool may_edit(const sg_book_t *book, const char *who)
{
    if (book->n_editors == 0)
        return true;
    for (size_t i = 0; i < book->n_editors; i++)
        if (strcasecmp(book->editors[i], who) == 0)
            return true;
    return false;
}

bool sheets_begin(sb_state_t *st, const sb_request_t *req, const sb_route_t *route, bool write,
                  sheets_call_t *call, sb_response_t *res)
{
    const char *token = sb_req_bearer(req);
    char *query_token = token ? NULL : sb_req_query(req, "access_token");
    sb_token_check_t check;

    memset(call, 0, sizeof(*call));
    check = sb_tokens_check(st->tokens, token ? token : query_token, SB_TOKEN_GOOGLE,
                            sb_clock_now(&st->clock), &call->who);
    if (!token && !query_token) {
        sb_sheets_error(res, 403, NULL, "The request is missing a valid API key.");
        return false;
    }
    free(query_token);
    if (check != SB_TOKEN_OK) {
        error_with(res, 401,
                   check == SB_TOKEN_EXPIRED ? "ACCESS_TOKEN_EXPIRED"
                                             : "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                   NULL, INVALID_AUTH);
        sb_res_header(res, "WWW-Authenticate",
                      "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
        return false;
    }
    if (!scope_allows(call->who->scope, write)) {
        sb_sheets_error(res, 403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "Request had insufficient authentication scopes.");
        return false;
    }
    if ((int64_t)req->body_seen > st->cfg->sheets_max_payload) {
        sb_sheets_error(res, 400, NULL, "Request payload size exceeds the limit: %lld bytes.",
                        (long long)st->cfg->sheets_max_payload);
        return false;
    }
    if (!take_quota(st, req, call->who, write, res))
        return false;
    if (route->param[0]) {
        call->book = sheets_find(st->sheets, route->param[0]);
        if (!call->book) {
            sb_sheets_error(res, 404, NULL, "Requested entity was not found.");
            return false;
        }
        if (!may_edit(call->book, call->who->principal)) {
            sb_sheets_error(res, 403, NULL, "The caller does not have permission");
            return false;
        }
    }
    return true;
}

json_t *sheets_body(const sb_request_t *req, sb_response_t *res)
{
    char err[256];
    json_t *doc;

    if (req->body_len == 0)
        return json_object();
    if (!sb_req_content_type_is(req, "application/json")) {
        const char *ct = sb_req_header(req, "Content-Type");

        sb_sheets_error(res, 400, NULL,
                        "Invalid JSON payload received. Unexpected Content-Type \"%s\"; send "
                        "application/json.",
                        ct ? ct : "");
        return NULL;
    }
    doc = sb_req_json(req, err, sizeof(err));
    if (!doc || !json_is_object(doc)) {
        sb_sheets_error(res, 400, NULL, "Invalid JSON payload received. %s",
                        doc ? "Expected an object." : err);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

bool sheets_known_keys(const json_t *obj, const char *const *allowed, const char *where,
                       sb_response_t *res)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value)
    {
        const char *const *a = allowed;

        (void)value;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a) {
            if (where)
                sb_sheets_error(res, 400, NULL,
                                "Invalid JSON payload received. Unknown name \"%s\" at '%s': "
                                "Cannot find field.",
                                key, where);
            else
                sb_sheets_error(res, 400, NULL,
                                "Invalid JSON payload received. Unknown name \"%s\": Cannot "
                                "find field.",
                                key);
            return false;
        }
    }
    return true;
}

static void no_method(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res)
{
    (void)st;
    (void)req;
    (void)route;
    sb_sheets_error(res, 404, NULL, "Method not found.");
}

/* ---- routing ---- */

static bool set(sb_route_t *route, const char *name, sb_handler_fn handler)
{
    route->name = name;
    route->vendor = SB_VENDOR_SHEETS;
    route->handler = handler;
    return true;
}

/* Split "X:verb" when the text after the last ':' is verb. */
static bool has_verb(char *segment, const char *verb)
{
    size_t n = strlen(segment), v = strlen(verb);

    if (n > v + 1 && segment[n - v - 1] == ':' && strcmp(segment + n - v, verb) == 0) {
        segment[n - v - 1] = '\0';
        return true;
    }
    return false;
}

/* Google's custom verbs (":append", ":clear", ":batchUpdate",
 * "values:batchUpdate") are cut off
 * the request's own segment text in place. */
bool sb_sheets_match(const sb_request_t *req, sb_route_t *route)
{
    char **s = (char **)req->seg;
    size_t n = req->nseg;
    const char *m = req->method;

    if (n < 2 || strcmp(s[0], "v4") != 0 || strcmp(s[1], "spreadsheets") != 0)
        return false;
    if (n == 2)
        return strcmp(m, "POST") == 0 ? set(route, "sheets.spreadsheets.create", sheets_create)
                                      : set(route, "sheets.unknown", no_method);
    route->param[0] = s[2];
    if (n == 3) {
        if (has_verb(s[2], "batchUpdate"))
            return strcmp(m, "POST") == 0
                       ? set(route, "sheets.spreadsheets.batchUpdate", sheets_batch_update)
                       : set(route, "sheets.unknown", no_method);
        return strcmp(m, "GET") == 0 ? set(route, "sheets.spreadsheets.get", sheets_get)
                                     : set(route, "sheets.unknown", no_method);
    }
    if (n == 4 && has_verb(s[3], "batchUpdate") && strcmp(s[3], "values") == 0)
        return strcmp(m, "POST") == 0
                   ? set(route, "sheets.values.batchUpdate", sheets_values_batch_update)
                   : set(route, "sheets.unknown", no_method);
    if (n == 5 && strcmp(s[3], "values") == 0) {
        route->param[1] = s[4];
        if (has_verb(s[4], "append"))
            return strcmp(m, "POST") == 0 ? set(route, "sheets.values.append", sheets_values_append)
                                          : set(route, "sheets.unknown", no_method);
        if (has_verb(s[4], "clear"))
            return strcmp(m, "POST") == 0 ? set(route, "sheets.values.clear", sheets_values_clear)
                                          : set(route, "sheets.unknown", no_method);
        if (strcmp(m, "GET") == 0)
            return set(route, "sheets.values.get", sheets_values_get);
        if (strcmp(m, "PUT") == 0)
            return set(route, "sheets.values.update", sheets_values_update);
    }
    return set(route, "sheets.unknown", no_method);
}
