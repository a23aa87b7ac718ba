/* qlik: Qlik Cloud Reloads API routes of the sandbox (the contract in
 * tests/fakes/specs/qlik-reloads.md): POST/GET /api/v1/reloads,
 * GET /api/v1/reloads/{id}, GET /api/v1/users/me, with API keys and apps
 * registered through /_sandbox/qlik/. See docs/SANDBOX.md. */
#ifndef SB_QLIK_H
#define SB_QLIK_H

#include <stdbool.h>

#include "sandbox_http.h"

typedef struct sb_qlik sb_qlik_t;

/* NULL on allocation failure. _destroy(NULL) is a no-op. reset forgets
 * keys, apps and reloads. */
sb_qlik_t *sb_qlik_new(void);
void sb_qlik_destroy(sb_qlik_t *q);
void sb_qlik_reset(sb_qlik_t *q);

/* Whether the request is a Qlik or /_sandbox/qlik/ route. */
bool sb_qlik_match(const sb_request_t *req, sb_route_t *route);

/* Qlik's error document {"errors": [{"code", "title", "detail", "status"}],
 * "traceId"}. */
void sb_qlik_error(sb_response_t *res, int status, const char *code, const char *title,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
