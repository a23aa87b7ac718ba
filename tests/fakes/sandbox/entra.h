/* entra: the Microsoft Entra ID v2.0 token endpoint for the OAuth 2.0
 * client credentials grant, POST /{tenant}/oauth2/v2.0/token, as
 * documented in "Microsoft identity platform and the OAuth 2.0 client
 * credentials flow": a form with grant_type=client_credentials,
 * client_id, client_secret (or HTTP Basic) and scope=<resource>/.default.
 * Apps are registered through the control API. Issued tokens are opaque
 * and accepted by the Power BI routes. */
#ifndef SB_ENTRA_H
#define SB_ENTRA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sandbox_http.h"

/* The only resource the sandbox issues tokens for. */
#define SB_ENTRA_POWERBI_RESOURCE "https://analysis.windows.net/powerbi/api"

sb_entra_t *sb_entra_new(void);
void sb_entra_destroy(sb_entra_t *entra);
void sb_entra_reset(sb_entra_t *entra);

/* Register (or replace) an app {"tenant","client_id","client_secret"}.
 * false with a message in err when a field is missing. */
bool sb_entra_register(sb_entra_t *entra, const json_t *spec, char *err, size_t err_len);

/* Whether the request is for the token endpoint; fills route when so. */
bool sb_entra_match(const sb_request_t *req, sb_route_t *route);

/* Entra's error body for status (used by fault injection). */
void sb_entra_error(sb_response_t *res, int status, const char *error, int code,
                    const char *description);

#endif
