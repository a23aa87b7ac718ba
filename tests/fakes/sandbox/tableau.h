/* tableau: Tableau REST API and Metadata API routes of the sandbox
 * (specs/tableau/Tableau_REST_API.postman_collection.json: Sign In with a
 * personal access token, Update Data Source Now, Update Workbook Now,
 * Query Job, Query Data Sources / Workbooks by name; the Metadata API's
 * GraphQL endpoint), in their JSON form (Content-Type and Accept
 * application/json), under /api/{version}/ and /api/metadata/graphql, and
 * their control API under /_sandbox/tableau/ (pats, items, lineage
 * fixture). See docs/SANDBOX.md. */
#ifndef SB_TABLEAU_H
#define SB_TABLEAU_H

#include <stdbool.h>

#include "sandbox_http.h"

typedef struct sb_tableau sb_tableau_t;

/* NULL on allocation failure. _destroy(NULL) is a no-op. reset forgets
 * PATs, jobs and items created through the control API, and seeds the
 * fixture's datasources and workbooks again. */
sb_tableau_t *sb_tableau_new(void);
void sb_tableau_destroy(sb_tableau_t *t);
void sb_tableau_reset(sb_tableau_t *t);

/* Whether the request is a Tableau or /_sandbox/tableau/ route; fills
 * route when so. */
bool sb_tableau_match(const sb_request_t *req, sb_route_t *route);

/* Tableau's error document {"error": {"summary", "detail", "code"}}. */
void sb_tableau_error(sb_response_t *res, int status, const char *code, const char *summary,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
