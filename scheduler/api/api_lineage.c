/* api_lineage: GET /v1/lineage, the lineage graph around one node
 * (docs/LINEAGE.md, df_lineage.h): the nodes reachable upstream,
 * downstream or both within depth edges, with the edges between them. */
#include <microhttpd.h>
#include <string.h>

#include "api.h"
#include "df_lineage.h"

static void get_lineage(api_req_t *req, api_resp_t *resp)
{
    static const char *const allowed[] = { "node", "direction", "depth", NULL };
    const char *direction;
    int64_t depth;
    json_t *graph = NULL;
    df_error_t err;

    if (!api_query_only(req, resp, allowed) ||
        !api_query_enum(req, resp, "direction", "up|down|both", &direction) ||
        !api_query_int(req, resp, "depth", 3, 1, DF_LINEAGE_DEPTH_MAX, &depth) ||
        !api_need_pg(req, resp))
        return;
    df_error_init(&err);
    if (df_lineage_walk(req->pg, api_query(req, "node"), direction, (int)depth, &graph, &err) !=
        DF_OK) {
        /* 22xxx: a value PostgreSQL cannot take (bytes that are not UTF-8) */
        if (err.code == DF_ERR_PG && strncmp(df_pg_sqlstate(&err), "22", 2) == 0)
            api_error(resp, MHD_HTTP_BAD_REQUEST, "invalid", "node", "node: %s", err.message);
        else
            api_df_error(resp, &err);
        return;
    }
    api_json(resp, MHD_HTTP_OK, graph);
}

const api_route_t api_lineage_routes[] = {
    { "GET", "/v1/lineage", API_ROLE_READ, 0, get_lineage },
    { NULL, NULL, API_ROLE_NONE, 0, NULL },
};
