/* control: the sandbox's own API under /_sandbox/ (JSON, no auth,
 * loopback only): register Entra apps and Google service accounts,
 * create spreadsheets and datasets, inject faults, expire tokens, inspect
 * what arrived, reset. See docs/SANDBOX.md. */
#ifndef SB_CONTROL_H
#define SB_CONTROL_H

#include <stdbool.h>

#include "sandbox_http.h"

/* Whether the request is for the control API; fills route when so. */
bool sb_control_match(const sb_request_t *req, sb_route_t *route);

#endif
