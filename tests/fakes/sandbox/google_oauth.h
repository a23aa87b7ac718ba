/* google_oauth: Google's OAuth 2.0 token endpoint for service accounts
 * ("Using OAuth 2.0 for Server to Server Applications"): POST /token with
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256
 * signed JWT assertion. The signature is checked with OpenSSL against the
 * public key registered for the JWT's iss (the service account's
 * client_email); then exp/iat, aud and scope. Issued tokens are opaque and
 * accepted by the Sheets routes. */
#ifndef SB_GOOGLE_OAUTH_H
#define SB_GOOGLE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sandbox_http.h"

sb_google_t *sb_google_new(void);
void sb_google_destroy(sb_google_t *google);
void sb_google_reset(sb_google_t *google);

/* Register (or replace) a service account {"client_email",
 * "public_key_pem" (a PUBLIC KEY or CERTIFICATE PEM), optional
 * "project"}. false with a message in err when invalid. */
bool sb_google_register(sb_google_t *google, const json_t *spec, char *err, size_t err_len);

/* Whether the request is for the token endpoint; fills route when so. */
bool sb_google_match(const sb_request_t *req, sb_route_t *route);

/* Google OAuth's error body {"error","error_description"} with status. */
void sb_google_error(sb_response_t *res, int status, const char *error, const char *description);

#endif
