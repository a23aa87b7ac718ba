/* google_oauth: the service-account token endpoint (JWT bearer grant,
 * RFC 7523) and the registry of service accounts with their public keys.
 * Checks in Google's order: the account (iss), the RS256 signature, the
 * times (iat, exp), the audience, the scopes. */
#include "google_oauth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "df_hmap.h"
#include "tokens.h"

#define JWT_BEARER       "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define MAX_LIFETIME_S   3600
#define DEFAULT_PROJECT  "sandbox-project"
#define GOOGLE_SCOPE_URL "https://www.googleapis.com/auth/"
#define MSG_BAD_TIMES                                                                  \
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable " \
    "timeframe. Check your iat and exp values in the JWT claim."

typedef struct google_account {
    char *client_email;
    char *project;
    EVP_PKEY *key;
} google_account_t;

struct sb_google {
    df_hmap_t *accounts; /* client_email -> google_account_t* */
};

static void account_free(void *ctx, const char *key, void *value)
{
    google_account_t *a = value;

    (void)ctx;
    (void)key;
    free(a->client_email);
    free(a->project);
    EVP_PKEY_free(a->key);
    free(a);
}

sb_google_t *sb_google_new(void)
{
    sb_google_t *google = calloc(1, sizeof(*google));

    if (!google)
        return NULL;
    google->accounts = df_hmap_new();
    if (!google->accounts) {
        free(google);
        return NULL;
    }
    return google;
}

void sb_google_destroy(sb_google_t *google)
{
    if (!google)
        return;
    df_hmap_each(google->accounts, account_free, NULL);
    df_hmap_destroy(google->accounts);
    free(google);
}

void sb_google_reset(sb_google_t *google)
{
    df_hmap_t *fresh = df_hmap_new();

    if (!fresh)
        return;
    df_hmap_each(google->accounts, account_free, NULL);
    df_hmap_destroy(google->accounts);
    google->accounts = fresh;
}

/* An RSA public key from a PUBLIC KEY or CERTIFICATE PEM, or NULL. */
static EVP_PKEY *load_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = NULL;

    if (!bio)
        return NULL;
    if (strstr(pem, "BEGIN CERTIFICATE")) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (cert) {
            key = X509_get_pubkey(cert);
            X509_free(cert);
        }
    } else {
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (key && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

bool sb_google_register(sb_google_t *google, const json_t *spec, char *err, size_t err_len)
{
    const json_t *email = json_object_get(spec, "client_email");
    const json_t *pem = json_object_get(spec, "public_key_pem");
    const json_t *project = json_object_get(spec, "project");
    google_account_t *a, *old;
    EVP_PKEY *key;

    if (!json_is_string(email) || json_string_length(email) == 0) {
        snprintf(err, err_len, "client_email: expected a non-empty string");
        return false;
    }
    if (!json_is_string(pem)) {
        snprintf(err, err_len, "public_key_pem: expected a PEM string");
        return false;
    }
    if (project && (!json_is_string(project) || json_string_length(project) == 0)) {
        snprintf(err, err_len, "project: expected a non-empty string");
        return false;
    }
    key = load_key(json_string_value(pem));
    if (!key) {
        snprintf(err, err_len, "public_key_pem: not an RSA PUBLIC KEY or CERTIFICATE in PEM form");
        return false;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        EVP_PKEY_free(key);
        snprintf(err, err_len, "out of memory");
        return false;
    }
    a->client_email = strdup(json_string_value(email));
    a->project = strdup(project ? json_string_value(project) : DEFAULT_PROJECT);
    a->key = key;
    old = df_hmap_remove(google->accounts, a->client_email, strlen(a->client_email));
    if (old)
        account_free(NULL, NULL, old);
    df_hmap_put(google->accounts, a->client_email, strlen(a->client_email), a);
    return true;
}

void sb_google_error(sb_response_t *res, int status, const char *error, const char *description)
{
    sb_res_json(res, status,
                json_pack("{s:s, s:s}", "error", error, "error_description", description));
    sb_res_header(res, "Cache-Control", "no-cache, no-store, max-age=0, must-revalidate");
}

/* ---- JWT ---- */

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode base64url text (no padding) into a new buffer with a NUL after
 * it; NULL on a bad character. */
static unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len * 3 / 4 + 4);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);

        if (in[i] == '=')
            break;
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static json_t *decode_part(const char *in, size_t len)
{
    size_t n;
    unsigned char *raw = b64url_decode(in, len, &n);
    json_t *doc = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;

    free(raw);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

static bool signature_ok(EVP_PKEY *key, const char *signed_part, size_t signed_len,
                         const char *sig_b64, size_t sig_len)
{
    size_t n;
    unsigned char *sig = b64url_decode(sig_b64, sig_len, &n);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = false;

    if (sig && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, sig, n, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

/* Google scopes are URLs under https://www.googleapis.com/auth/ (plus the
 * OpenID Connect names); anything else is refused by the token endpoint. */
static bool scopes_ok(const char *scope)
{
    const char *p = scope;

    while (*p) {
        size_t n = strcspn(p, " ");

        if (n > 0 &&
            !(n > strlen(GOOGLE_SCOPE_URL) &&
              strncmp(p, GOOGLE_SCOPE_URL, strlen(GOOGLE_SCOPE_URL)) == 0) &&
            !(n == 6 && strncmp(p, "openid", 6) == 0) && !(n == 5 && strncmp(p, "email", 5) == 0) &&
            !(n == 7 && strncmp(p, "profile", 7) == 0))
            return false;
        p += n;
        while (*p == ' ')
            p++;
    }
    return true;
}

static bool claim_time(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return true;
    }
    return false;
}

/* Verify the assertion; on success issue a token into res. */
static void exchange(sb_state_t *st, const char *jwt, sb_response_t *res)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    json_t *header = NULL, *claims = NULL;
    const google_account_t *account;
    const char *iss, *aud, *scope, *alg;
    int64_t iat, exp, now = (int64_t)time(NULL), skew = st->cfg->jwt_skew_s;
    char token[SB_TOKEN_MAX];

    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') ||
        !(header = decode_part(jwt, (size_t)(dot1 - jwt))) ||
        !(claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1)))) {
        sb_google_error(res, 400, "invalid_grant", "Invalid JWT: Unable to parse the JWT.");
        goto done;
    }
    iss = json_string_value(json_object_get(claims, "iss"));
    account = iss ? df_hmap_get(st->google->accounts, iss, strlen(iss)) : NULL;
    if (!account) {
        sb_google_error(res, 400, "invalid_grant", "Invalid grant: account not found");
        goto done;
    }
    alg = json_string_value(json_object_get(header, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0 ||
        !signature_ok(account->key, jwt, (size_t)(dot2 - jwt), dot2 + 1, strlen(dot2 + 1))) {
        sb_google_error(res, 400, "invalid_grant", "Invalid JWT Signature.");
        goto done;
    }
    if (!claim_time(claims, "iat", &iat) || !claim_time(claims, "exp", &exp) || exp <= now ||
        iat > now + skew || exp - iat > MAX_LIFETIME_S || exp <= iat) {
        sb_google_error(res, 400, "invalid_grant", MSG_BAD_TIMES);
        goto done;
    }
    aud = json_string_value(json_object_get(claims, "aud"));
    if (!aud || strcmp(aud, st->google_audience) != 0) {
        sb_google_error(res, 400, "invalid_grant", "Invalid JWT: Failed audience check.");
        goto done;
    }
    scope = json_string_value(json_object_get(claims, "scope"));
    if (!scope || strspn(scope, " ") == strlen(scope)) {
        sb_google_error(res, 400, "invalid_scope", "Empty or missing scope not allowed.");
        goto done;
    }
    if (!scopes_ok(scope)) {
        sb_google_error(res, 400, "invalid_scope",
                        "Invalid OAuth scope or ID token audience provided.");
        goto done;
    }
    if (!sb_tokens_issue(st->tokens, SB_TOKEN_GOOGLE, account->client_email, account->project,
                         scope, sb_clock_now(&st->clock), st->cfg->token_ttl_s * 1000, token)) {
        sb_google_error(res, 500, "internal_failure", "The sandbox ran out of memory.");
        goto done;
    }
    sb_res_json(res, 200,
                json_pack("{s:s, s:I, s:s}", "access_token", token, "expires_in",
                          (json_int_t)st->cfg->token_ttl_s, "token_type", "Bearer"));
    sb_res_header(res, "Cache-Control", "no-cache, no-store, max-age=0, must-revalidate");
done:
    json_decref(header);
    json_decref(claims);
}

static void token_endpoint(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    bool form = sb_req_content_type_is(req, "application/x-www-form-urlencoded") && req->body;
    const char *body = form ? req->body : "";
    size_t len = form ? req->body_len : 0;
    char *grant, *assertion;

    (void)route;
    if (strcmp(req->method, "POST") != 0) {
        sb_google_error(res, 405, "invalid_request", "Method Not Allowed: use POST.");
        sb_res_header(res, "Allow", "POST");
        return;
    }
    grant = sb_form_get(body, len, "grant_type");
    assertion = sb_form_get(body, len, "assertion");
    if (!grant || strcmp(grant, JWT_BEARER) != 0) {
        char description[512];

        snprintf(description, sizeof(description), "Invalid grant_type: %s", grant ? grant : "");
        sb_google_error(res, 400, "unsupported_grant_type", description);
    } else if (!assertion || !*assertion) {
        sb_google_error(res, 400, "invalid_request", "Missing required parameter: assertion");
    } else {
        exchange(st, assertion, res);
    }
    free(grant);
    free(assertion);
}

bool sb_google_match(const sb_request_t *req, sb_route_t *route)
{
    if (req->nseg != 1 || strcmp(req->seg[0], "token") != 0)
        return false;
    route->name = "google.token";
    route->vendor = SB_VENDOR_GOOGLE_OAUTH;
    route->handler = token_endpoint;
    return true;
}
