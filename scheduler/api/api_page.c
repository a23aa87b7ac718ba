/* api_page: the built-in status page. GET / is its HTML, GET /assets/{file}
 * its script and style sheet, all embedded in the binary (api_assets.h) and
 * served without a token: the page holds no data, it asks for a token and
 * reads the API with it (docs/API.md, "Status page"). Every answer carries a
 * Content-Security-Policy that allows this origin only: no inline script,
 * no other host. */
#include <microhttpd.h>
#include <string.h>

#include "api.h"
#include "api_assets.h"

#define PAGE_CSP                                                                                 \
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action " \
    "'none'; frame-ancestors 'none'"

typedef struct asset_type {
    const char *suffix;
    const char *content_type;
} asset_type_t;

static const asset_type_t types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".svg", "image/svg+xml" },
};

static const char *content_type(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t s = strlen(types[i].suffix);
        if (n > s && strcmp(name + n - s, types[i].suffix) == 0)
            return types[i].content_type;
    }
    return NULL;
}

/* Answer with the embedded file name (borrowed static bytes), or 404. */
static void serve_asset(api_resp_t *resp, const char *name)
{
    for (const api_asset_t *a = api_assets; a->name; a++) {
        const char *type = content_type(a->name);
        if (strcmp(a->name, name) != 0 || !type)
            continue;
        resp->status = MHD_HTTP_OK;
        resp->raw = (char *)a->data;
        resp->raw_len = a->len;
        resp->raw_static = true;
        resp->content_type = type;
        api_header(resp, "Content-Security-Policy", "%s", PAGE_CSP);
        api_header(resp, "Referrer-Policy", "no-referrer");
        return;
    }
    api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "path", "no such asset: %.64s", name);
}

static void page(api_req_t *req, api_resp_t *resp)
{
    (void)req;
    serve_asset(resp, "index.html");
}

/* index.html is the page itself (/), not an asset. */
static void asset(api_req_t *req, api_resp_t *resp)
{
    if (strcmp(req->params[0], "index.html") == 0) {
        api_error(resp, MHD_HTTP_NOT_FOUND, "not_found", "path", "the page is served at /");
        return;
    }
    serve_asset(resp, req->params[0]);
}

const api_route_t api_page_routes[] = {
    { "GET", "/", API_ROLE_NONE, 0, page },
    { "GET", "/assets/{file}", API_ROLE_NONE, 0, asset },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
