/* entra: the v2.0 token endpoint (client credentials grant) and the
 * registry of apps per tenant. Error bodies follow Entra's: error,
 * error_description ("AADSTSnnn: ...\r\nTrace ID: ...\r\nCorrelation ID:
 * ...\r\nTimestamp: ..."), error_codes, timestamp, trace_id,
 * correlation_id, error_uri. */
#include "entra.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "df_hmap.h"
#include "df_log.h"
#include "ids.h"
#include "tokens.h"

#define GRANT_CLIENT_CREDENTIALS "client_credentials"
#define DEFAULT_SUFFIX           "/.default"

typedef struct entra_app {
    char *tenant;
    char *client_id;
    char *client_secret;
} entra_app_t;

struct sb_entra {
    df_hmap_t *apps;    /* "tenant\nclient_id" -> entra_app_t* */
    df_hmap_t *tenants; /* tenant -> (void *)1 */
};

static void app_free(void *ctx, const char *key, void *value)
{
    entra_app_t *app = value;

    (void)ctx;
    (void)key;
    free(app->tenant);
    free(app->client_id);
    free(app->client_secret);
    free(app);
}

sb_entra_t *sb_entra_new(void)
{
    sb_entra_t *entra = calloc(1, sizeof(*entra));

    if (!entra)
        return NULL;
    entra->apps = df_hmap_new();
    entra->tenants = df_hmap_new();
    if (!entra->apps || !entra->tenants) {
        sb_entra_destroy(entra);
        return NULL;
    }
    return entra;
}

void sb_entra_destroy(sb_entra_t *entra)
{
    if (!entra)
        return;
    if (entra->apps)
        df_hmap_each(entra->apps, app_free, NULL);
    df_hmap_destroy(entra->apps);
    df_hmap_destroy(entra->tenants);
    free(entra);
}

void sb_entra_reset(sb_entra_t *entra)
{
    df_hmap_t *apps = df_hmap_new(), *tenants = df_hmap_new();

    if (!apps || !tenants) {
        df_hmap_destroy(apps);
        df_hmap_destroy(tenants);
        return;
    }
    df_hmap_each(entra->apps, app_free, NULL);
    df_hmap_destroy(entra->apps);
    df_hmap_destroy(entra->tenants);
    entra->apps = apps;
    entra->tenants = tenants;
}

static char *app_key(const char *tenant, const char *client_id)
{
    size_t len = strlen(tenant) + strlen(client_id) + 2;
    char *key = malloc(len);

    if (key)
        snprintf(key, len, "%s\n%s", tenant, client_id);
    return key;
}

static const char *string_field(const json_t *spec, const char *name)
{
    const json_t *v = json_object_get(spec, name);

    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

bool sb_entra_register(sb_entra_t *entra, const json_t *spec, char *err, size_t err_len)
{
    const char *tenant = string_field(spec, "tenant");
    const char *client_id = string_field(spec, "client_id");
    const char *secret = string_field(spec, "client_secret");
    entra_app_t *app, *old;
    char *key;

    if (!tenant || !client_id || !secret) {
        snprintf(err, err_len, "%s: expected a non-empty string",
                 !tenant      ? "tenant"
                 : !client_id ? "client_id"
                              : "client_secret");
        return false;
    }
    if (strchr(tenant, '/') || strchr(tenant, '\n')) {
        snprintf(err, err_len, "tenant: must not contain '/'");
        return false;
    }
    key = app_key(tenant, client_id);
    app = calloc(1, sizeof(*app));
    if (!key || !app) {
        free(key);
        free(app);
        snprintf(err, err_len, "out of memory");
        return false;
    }
    app->tenant = strdup(tenant);
    app->client_id = strdup(client_id);
    app->client_secret = strdup(secret);
    old = df_hmap_remove(entra->apps, key, strlen(key));
    if (old)
        app_free(NULL, NULL, old);
    df_hmap_put(entra->apps, key, strlen(key), app);
    df_hmap_put(entra->tenants, tenant, strlen(tenant), (void *)1);
    df_log_redact_add(secret);
    free(key);
    return true;
}

/* ---- errors ---- */

void sb_entra_error(sb_response_t *res, int status, const char *error, int code,
                    const char *description)
{
    char trace[SB_UUID_BUF], correlation[SB_UUID_BUF], stamp[32], text[1536], uri[96];
    time_t now = time(NULL);
    struct tm tm;

    sb_ids_uuid(trace);
    sb_ids_uuid(correlation);
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", &tm);
    snprintf(text, sizeof(text),
             "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code,
             description, trace, correlation, stamp);
    snprintf(uri, sizeof(uri), "https://login.microsoftonline.com/error?code=%d", code);
    sb_res_json(res, status,
                json_pack("{s:s, s:s, s:[i], s:s, s:s, s:s, s:s}", "error", error,
                          "error_description", text, "error_codes", code, "timestamp", stamp,
                          "trace_id", trace, "correlation_id", correlation, "error_uri", uri));
    sb_res_header(res, "Cache-Control", "no-store, no-cache");
}

static void entra_fail(sb_response_t *res, int status, const char *error, int code, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static void entra_fail(sb_response_t *res, int status, const char *error, int code, const char *fmt,
                       ...)
{
    char description[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(description, sizeof(description), fmt, ap);
    va_end(ap);
    sb_entra_error(res, status, error, code, description);
}

/* ---- the token endpoint ---- */

/* client_id and client_secret from "Authorization: Basic" (client_secret_basic),
 * both malloc'd; false when there is no such header. */
static bool basic_credentials(const sb_request_t *req, char **id, char **secret)
{
    const char *auth = sb_req_header(req, "Authorization");
    unsigned char decoded[768];
    int n;
    char *colon;
    size_t in_len;

    *id = *secret = NULL;
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
        return false;
    auth += 6;
    in_len = strlen(auth);
    if (in_len == 0 || in_len > 1000 || in_len % 4 != 0)
        return false;
    n = EVP_DecodeBlock(decoded, (const unsigned char *)auth, (int)in_len);
    if (n <= 0)
        return false;
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    if (auth[in_len - 1] == '=')
        n--;
    if (auth[in_len - 2] == '=')
        n--;
    decoded[n] = '\0';
    colon = strchr((char *)decoded, ':');
    if (!colon)
        return false;
    *colon = '\0';
    *id = sb_url_decode((char *)decoded, strlen((char *)decoded), true);
    *secret = sb_url_decode(colon + 1, strlen(colon + 1), true);
    return *id && *secret;
}

static void missing_parameter(sb_response_t *res, const char *name)
{
    entra_fail(res, 400, "invalid_request", 900144,
               "The request body must contain the following parameter: '%s'.", name);
}

/* Every scope must be "<resource>/.default" for the Power BI resource. */
static bool check_scope(const char *scope, const char *tenant, sb_response_t *res)
{
    char *copy = strdup(scope), *save = NULL, *item;
    bool ok = true;

    if (!copy)
        return false;
    for (item = strtok_r(copy, " ", &save); item && ok; item = strtok_r(NULL, " ", &save)) {
        size_t n = strlen(item), suffix = strlen(DEFAULT_SUFFIX);

        if (n <= suffix || strcmp(item + n - suffix, DEFAULT_SUFFIX) != 0) {
            entra_fail(res, 400, "invalid_scope", 1002012,
                       "The provided value for scope %s is not valid. Client credential flows "
                       "must have a scope value with /.default suffixed to the resource "
                       "identifier (application ID URI).",
                       item);
            ok = false;
            break;
        }
        item[n - suffix] = '\0';
        n -= suffix;
        while (n > 0 && item[n - 1] == '/')
            item[--n] = '\0';
        if (strcmp(item, SB_ENTRA_POWERBI_RESOURCE) != 0) {
            entra_fail(res, 400, "invalid_resource", 500011,
                       "The resource principal named %s was not found in the tenant named %s. "
                       "This can happen if the application has not been installed by the "
                       "administrator of the tenant or consented to by any user in the tenant. "
                       "You might have sent your authentication request to the wrong tenant.",
                       item, tenant);
            ok = false;
        }
    }
    free(copy);
    return ok;
}

static void token_endpoint(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                           sb_response_t *res)
{
    const char *tenant = route->param[0];
    const char *body = sb_req_content_type_is(req, "application/x-www-form-urlencoded") && req->body
                           ? req->body
                           : "";
    size_t body_len = body == req->body ? req->body_len : 0;
    char *grant = NULL, *client_id = NULL, *secret = NULL, *scope = NULL, *key = NULL;
    char *basic_id = NULL, *basic_secret = NULL;
    const entra_app_t *app;
    char token[SB_TOKEN_MAX];
    int64_t ttl = st->cfg->token_ttl_s;

    if (strcmp(req->method, "POST") != 0) {
        entra_fail(res, 400, "invalid_request", 900561,
                   "The endpoint only accepts POST, OPTIONS requests. Received a %s request.",
                   req->method);
        return;
    }
    if (!df_hmap_get(st->entra->tenants, tenant, strlen(tenant))) {
        entra_fail(res, 400, "invalid_request", 90002,
                   "Tenant '%s' not found. Check to make sure you have the correct tenant ID and "
                   "are signing into the correct cloud. Check with your subscription "
                   "administrator, this may happen if there are no active subscriptions for the "
                   "tenant.",
                   tenant);
        return;
    }
    grant = sb_form_get(body, body_len, "grant_type");
    basic_credentials(req, &basic_id, &basic_secret);
    client_id = sb_form_get(body, body_len, "client_id");
    secret = sb_form_get(body, body_len, "client_secret");
    scope = sb_form_get(body, body_len, "scope");
    if (!client_id && basic_id) {
        client_id = basic_id;
        basic_id = NULL;
    }
    if (!secret && basic_secret) {
        secret = basic_secret;
        basic_secret = NULL;
    }
    if (!grant || !*grant) {
        missing_parameter(res, "grant_type");
        goto done;
    }
    if (strcmp(grant, GRANT_CLIENT_CREDENTIALS) != 0) {
        entra_fail(res, 400, "unsupported_grant_type", 70003,
                   "The app requested an unsupported grant type '%s'.", grant);
        goto done;
    }
    if (!client_id || !*client_id) {
        missing_parameter(res, "client_id");
        goto done;
    }
    key = app_key(tenant, client_id);
    app = key ? df_hmap_get(st->entra->apps, key, strlen(key)) : NULL;
    if (!app) {
        entra_fail(res, 400, "unauthorized_client", 700016,
                   "Application with identifier '%s' was not found in the directory '%s'. This "
                   "can happen if the application has not been installed by the administrator "
                   "of the tenant or consented to by any user in the tenant. You may have sent "
                   "your authentication request to the wrong tenant.",
                   client_id, tenant);
        goto done;
    }
    if (!secret || !*secret) {
        entra_fail(res, 401, "invalid_client", 7000218,
                   "The request body must contain the following parameter: 'client_assertion' "
                   "or 'client_secret'.");
        goto done;
    }
    if (strcmp(secret, app->client_secret) != 0) {
        entra_fail(res, 401, "invalid_client", 7000215,
                   "Invalid client secret provided. Ensure the secret being sent in the request "
                   "is the client secret value, not the client secret ID, for a secret added to "
                   "app '%s'.",
                   client_id);
        goto done;
    }
    if (!scope || !*scope) {
        missing_parameter(res, "scope");
        goto done;
    }
    if (!check_scope(scope, tenant, res))
        goto done;
    if (!sb_tokens_issue(st->tokens, SB_TOKEN_ENTRA, client_id, tenant, scope,
                         sb_clock_now(&st->clock), ttl * 1000, token)) {
        entra_fail(res, 500, "server_error", 90033, "The sandbox ran out of memory.");
        goto done;
    }
    sb_res_json(res, 200,
                json_pack("{s:s, s:I, s:I, s:s}", "token_type", "Bearer", "expires_in",
                          (json_int_t)ttl, "ext_expires_in", (json_int_t)ttl, "access_token",
                          token));
    sb_res_header(res, "Cache-Control", "no-store, no-cache");
    sb_res_header(res, "Pragma", "no-cache");
done:
    free(grant);
    free(client_id);
    free(secret);
    free(scope);
    free(key);
    free(basic_id);
    free(basic_secret);
}

bool sb_entra_match(const sb_request_t *req, sb_route_t *route)
{
    if (req->nseg != 4 || strcmp(req->seg[1], "oauth2") != 0 || strcmp(req->seg[2], "v2.0") != 0 ||
        strcmp(req->seg[3], "token") != 0 || req->seg[0][0] == '\0')
        return false;
    route->name = "entra.token";
    route->vendor = SB_VENDOR_ENTRA;
    route->handler = token_endpoint;
    route->param[0] = req->seg[0];
    return true;
}
