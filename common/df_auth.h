/* df_auth: access tokens for connectors, shared by the whole fleet.
 *
 * Two grants:
 *   - OAuth2 client credentials (RFC 6749 4.4): a form POST of client_id,
 *     client_secret and scope to the token URL (Microsoft Entra ID by
 *     default: Power BI, Fabric, Graph);
 *   - the JWT bearer grant (RFC 7523) of Google service accounts: an RS256
 *     assertion {iss: client_email, scope, aud: token URL, iat, exp} signed
 *     with the account's private key.
 *
 * Tokens are cached in Redis for the fleet: key "df:token:<sha256 hex of
 * kind|token_url|client_id or client_email|scope>" (plus "|<subject>" when
 * a subject is delegated, then "|<client secret or private key>", so a
 * wrong credential never gets another connector's token), value sealed with df_secret (aad = that
 * key), TTL = the token's lifetime. df_auth_token returns a token that stays valid for at least 5
 * more minutes (short-lived tokens are renewed at 80% of their lifetime); when one is needed, a
 * lock ("<key>:lock", SET NX PX) lets one worker of the fleet ask the provider while the others
 * poll the cache for up to cache_wait_ms. Each df_auth_t also keeps the token in memory, and
 * threads of one process refresh one at a time.
 *
 * Every client secret, private key (its first line: the logger's table
 * takes values under 512 bytes), assertion signature and access token
 * handled here is registered with df_log_redact_add. Error messages carry
 * the provider's error text (e.g. Entra's "invalid_client: AADSTS7000215:
 * ..."), redacted, and the token URL without its query; never credentials.
 *
 * A df_auth_t may be shared by threads; the df_redis_t and df_http_t passed
 * to each call belong to the calling thread. */
#ifndef DF_AUTH_H
#define DF_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"
#include "df_http.h"
#include "df_redis.h"
#include "df_secret.h"

#define DF_AUTH_ENTRA_TOKEN_URL    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
#define DF_AUTH_GOOGLE_TOKEN_URL   "https://oauth2.googleapis.com/token"
#define DF_AUTH_TOKEN_MAX          16384 /* bytes of an access token, with the NUL */
#define DF_AUTH_CACHE_PREFIX       "df:token:"
#define DF_AUTH_CACHE_KEY_MAX      (sizeof(DF_AUTH_CACHE_PREFIX) + 64)
#define DF_AUTH_MIN_VALIDITY_MS    (5 * 60 * 1000)
#define DF_AUTH_CACHE_WAIT_DEFAULT 5000  /* ms */
#define DF_AUTH_LOCK_TTL_DEFAULT   15000 /* ms */

typedef enum df_auth_kind {
    DF_AUTH_CLIENT_CREDENTIALS = 1,
    DF_AUTH_SERVICE_ACCOUNT = 2,
    /* Tableau REST sign-in with a personal access token: token_url is
     * <server>/api/<version>/auth/signin (required), client_id the token's
     * name, client_secret its secret, tenant the site's contentUrl ("" or
     * NULL: the default site). The "token" handed out is
     * "<credentials token>|<site id>" (split at the last '|'): the site id
     * the sign-in answered goes with the session. Sessions are cached
     * fleet-wide like any token, which matters for Tableau: signing in again
     * with a PAT ends the PAT's earlier session. */
    DF_AUTH_TABLEAU_PAT = 3,
} df_auth_kind_t;

/* What a connector's credentials say. Strings are borrowed by df_auth_new
 * and copied. */
typedef struct df_auth_config {
    df_auth_kind_t kind;
    /* NULL: DF_AUTH_ENTRA_TOKEN_URL (client credentials) or
     * DF_AUTH_GOOGLE_TOKEN_URL (service account). "{tenant}" in it is
     * replaced by tenant (percent-encoded). Sovereign clouds, proxies and
     * the sandbox set it. */
    const char *token_url;
    const char *tenant;
    const char *scope; /* space-separated scopes; optional for client credentials */
    /* DF_AUTH_CLIENT_CREDENTIALS */
    const char *client_id;
    const char *client_secret;
    /* DF_AUTH_SERVICE_ACCOUNT */
    const char *client_email;
    const char *private_key_pem; /* PKCS#8 or PKCS#1 PEM, RSA */
    const char *private_key_id;  /* "kid" of the JWT header; optional */
    const char *subject;         /* user to impersonate (domain-wide delegation); optional */
    int cache_wait_ms; /* wait for another worker's refresh; <= 0: DF_AUTH_CACHE_WAIT_DEFAULT */
    int lock_ttl_ms;   /* refresh lock lifetime; <= 0: DF_AUTH_LOCK_TTL_DEFAULT */
} df_auth_config_t;

typedef struct df_auth df_auth_t;

/* Check cfg (missing fields, token URL, the private key loads) and build
 * an authenticator. keyring (borrowed, must outlive the df_auth_t) seals
 * the Redis cache; NULL turns the fleet cache off (in-memory only).
 * Returns NULL with err set: DF_ERR_INVALID naming the field,
 * DF_ERR_UNSUPPORTED for a non-RSA key. Caller destroys. */
df_auth_t *df_auth_new(const df_auth_config_t *cfg, const df_secret_keyring_t *keyring,
                       df_error_t *err);

/* From a Google service-account JSON key file's text ({"type":
 * "service_account", "client_email", "private_key", "private_key_id",
 * "token_uri"...}). token_url (may be NULL) overrides the file's
 * token_uri, which overrides DF_AUTH_GOOGLE_TOKEN_URL. */
df_auth_t *df_auth_new_google_key(const char *key_json, const char *scope, const char *token_url,
                                  const df_secret_keyring_t *keyring, df_error_t *err);

/* Zero the secrets and free. NULL is a no-op. */
void df_auth_destroy(df_auth_t *auth);

/* Copy into out (len bytes, DF_AUTH_TOKEN_MAX is always enough) an access
 * token valid for at least 5 more minutes (or 80% of a short lifetime),
 * from memory, the fleet cache, or the provider.
 *
 * force_refresh: the token last returned was refused (HTTP 401). A token
 * different from it is returned: one another worker already got, or a new
 * one from the provider. A caller refreshes once per 401 and fails with
 * DF_ERR_AUTH when the new token is refused too.
 *
 * redis may be NULL (no fleet cache: every process asks the provider);
 * Redis errors also fall back to asking the provider (logged). Errors:
 * DF_ERR_AUTH, not retryable, when the provider refuses the credentials
 * (any 4xx but 408/425/429); DF_ERR_HTTP / DF_ERR_TIMEOUT, retryable, for
 * 408/425/429/5xx (retry_after_ms from Retry-After) and transport
 * failures; DF_ERR_HTTP, not retryable, for a 2xx without access_token;
 * DF_ERR_INVALID when out is too small. */
df_code_t df_auth_token(df_auth_t *auth, df_redis_t *redis, df_http_t *http, bool force_refresh,
                        char *out, size_t len, df_error_t *err);

/* The Redis key of this authenticator's cached token (borrowed). */
const char *df_auth_cache_key(const df_auth_t *auth);

/* The token URL in use, after defaults and {tenant} (borrowed). */
const char *df_auth_token_url(const df_auth_t *auth);

#endif
