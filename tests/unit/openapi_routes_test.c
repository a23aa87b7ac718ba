/* openapi_routes_test: the OpenAPI document embedded in the scheduler
 * (schemas/openapi.yaml, served at GET /openapi.json) parses, is OpenAPI
 * 3.1, and matches the server's route tables both ways: every route the
 * server matches is a documented operation with the same least role
 * (x-datafleet-role) and security (none for API_ROLE_NONE, the global bearer
 * otherwise), and every documented operation is a route the server serves.
 * Path parameters are compared by position, not by name. */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "df_test.h"

static json_t *doc;

/* "/v1/tasks/{id}/events" -> "/v1/tasks/{}/events" */
static void normalise(const char *pattern, char *out, size_t len)
{
    size_t o = 0;

    for (const char *p = pattern; *p && o + 3 < len; p++) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close) {
                out[o++] = '{';
                out[o++] = '}';
                p = close;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static void lower(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; in[i] && i + 1 < len; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
    out[i] = '\0';
}

/* The documented operation of method + pattern (borrowed), or NULL. */
static json_t *find_operation(const char *method, const char *pattern)
{
    char want[512], have[512], m[16];
    const char *path;
    json_t *item;

    normalise(pattern, want, sizeof(want));
    lower(method, m, sizeof(m));
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        normalise(path, have, sizeof(have));
        if (strcmp(want, have) == 0)
            return json_object_get(item, m);
    }
    return NULL;
}

static const api_route_t *find_route(const char *method, const char *path)
{
    char want[512], have[512], m[16];
    size_t n;
    const api_route_t *const *tables = api_route_tables(&n);

    normalise(path, want, sizeof(want));
    for (size_t t = 0; t < n; t++) {
        for (const api_route_t *r = tables[t]; r->method; r++) {
            normalise(r->pattern, have, sizeof(have));
            lower(r->method, m, sizeof(m));
            if (strcmp(want, have) == 0 && strcmp(m, method) == 0)
                return r;
        }
    }
    return NULL;
}

static void document_is_openapi_31(void)
{
    json_error_t jerr;
    const char *version;

    doc = json_loadb(api_openapi_json, api_openapi_json_len, 0, &jerr);
    REQUIRE(doc != NULL);
    CHECK_INT(strlen(api_openapi_json), api_openapi_json_len);
    version = json_string_value(json_object_get(doc, "openapi"));
    CHECK_MSG(version && strncmp(version, "3.1.", 4) == 0, "openapi is %s",
              version ? version : "(missing)");
    CHECK(json_is_string(json_object_get(json_object_get(doc, "info"), "title")));
    CHECK(json_object_size(json_object_get(doc, "paths")) > 0);
    /* the bearer scheme is global; unauthenticated operations opt out */
    CHECK_STR(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "components"), "securitySchemes"),
                            "bearer"),
            "scheme")),
        "bearer");
    CHECK(json_object_get(json_array_get(json_object_get(doc, "security"), 0), "bearer") != NULL);
}

static void every_route_is_documented(void)
{
    size_t n, routes = 0;
    const api_route_t *const *tables = api_route_tables(&n);

    for (size_t t = 0; t < n; t++) {
        for (const api_route_t *r = tables[t]; r->method; r++) {
            json_t *op = find_operation(r->method, r->pattern);
            json_t *security;
            const char *role;
            routes++;
            CHECK_MSG(op != NULL, "%s %s is served but not in schemas/openapi.yaml", r->method,
                      r->pattern);
            if (!op)
                continue;
            role = json_string_value(json_object_get(op, "x-datafleet-role"));
            CHECK_MSG(role && strcmp(role, api_role_name(r->role)) == 0,
                      "%s %s: x-datafleet-role is %s, the route's role is %s", r->method,
                      r->pattern, role ? role : "(missing)", api_role_name(r->role));
            security = json_object_get(op, "security");
            if (r->role == API_ROLE_NONE)
                CHECK_MSG(json_is_array(security) && json_array_size(security) == 0,
                          "%s %s needs no token: the operation needs `security: []`", r->method,
                          r->pattern);
            else
                CHECK_MSG(security == NULL, "%s %s needs a token: the global bearer applies",
                          r->method, r->pattern);
            CHECK_MSG(json_object_get(json_object_get(op, "responses"), "400") != NULL,
                      "%s %s: every operation can answer 400", r->method, r->pattern);
            if (r->role != API_ROLE_NONE) {
                static const char *const codes[] = { "401", "403", "429", "503", NULL };
                for (size_t c = 0; codes[c]; c++)
                    CHECK_MSG(json_object_get(json_object_get(op, "responses"), codes[c]) != NULL,
                              "%s %s: a route with a token can answer %s", r->method, r->pattern,
                              codes[c]);
            }
            if (r->flags & API_BODY)
                CHECK_MSG(json_object_get(op, "requestBody") != NULL &&
                              json_object_get(json_object_get(op, "responses"), "413") != NULL,
                          "%s %s takes a body: requestBody and 413 expected", r->method,
                          r->pattern);
            else
                CHECK_MSG(json_object_get(op, "requestBody") == NULL,
                          "%s %s takes no body, yet the operation has a requestBody", r->method,
                          r->pattern);
        }
    }
    CHECK(routes > 0);
}

static void every_operation_is_served(void)
{
    static const char *const methods[] = { "get", "put", "post", "delete", "patch", NULL };
    const char *path;
    json_t *item;
    size_t ops = 0;

    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        for (size_t m = 0; methods[m]; m++) {
            if (!json_object_get(item, methods[m]))
                continue;
            ops++;
            CHECK_MSG(find_route(methods[m], path) != NULL,
                      "%s %s is in schemas/openapi.yaml but no route table serves it", methods[m],
                      path);
        }
    }
    CHECK(ops > 0);
}

int main(void)
{
    RUN(document_is_openapi_31);
    RUN(every_route_is_documented);
    RUN(every_operation_is_served);
    json_decref(doc);
    return df_test_done();
}
