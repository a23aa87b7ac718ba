/* looker: Looker API 4.0 routes of the sandbox (specs/looker/
 * Looker.4.0.oas.json: login, start_pdt_build, check_pdt_build, all_datagroups,
 * update_datagroup, all_lookml_models, all_looks, all_dashboards, dashboard,
 * me) under /api/4.0/, and their control API under /_sandbox/looker/. See
 * docs/SANDBOX.md. */
#ifndef SB_LOOKER_H
#define SB_LOOKER_H

#include <stdbool.h>

#include "sandbox_http.h"

typedef struct sb_looker sb_looker_t;

/* NULL on allocation failure. _destroy(NULL) is a no-op. reset forgets API
 * clients, PDTs and builds, and seeds the fixture again. */
sb_looker_t *sb_looker_new(void);
void sb_looker_destroy(sb_looker_t *l);
void sb_looker_reset(sb_looker_t *l);

bool sb_looker_match(const sb_request_t *req, sb_route_t *route);

/* Looker's error document {"message", "documentation_url"}. */
void sb_looker_error(sb_response_t *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
