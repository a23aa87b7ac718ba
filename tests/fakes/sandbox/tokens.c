/* tokens: issued access tokens in a hash map, token text -> owner and
 * expiry. Expired tokens stay known so an API can answer "expired"
 * rather than "invalid", as the vendors do. */
#include "tokens.h"

#include <stdlib.h>
#include <string.h>

#include "df_hmap.h"
#include "ids.h"

struct sb_tokens {
    df_hmap_t *map; /* token -> sb_token_info_t* (owned) */
};

static void info_free(sb_token_info_t *info)
{
    if (!info)
        return;
    free(info->principal);
    free(info->project);
    free(info->scope);
    free(info);
}

static void free_entry(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    info_free(value);
}

sb_tokens_t *sb_tokens_new(void)
{
    sb_tokens_t *tokens = calloc(1, sizeof(*tokens));

    if (!tokens)
        return NULL;
    tokens->map = df_hmap_new();
    if (!tokens->map) {
        free(tokens);
        return NULL;
    }
    return tokens;
}

void sb_tokens_destroy(sb_tokens_t *tokens)
{
    if (!tokens)
        return;
    df_hmap_each(tokens->map, free_entry, NULL);
    df_hmap_destroy(tokens->map);
    free(tokens);
}

void sb_tokens_reset(sb_tokens_t *tokens)
{
    df_hmap_t *fresh = df_hmap_new();

    if (!fresh)
        return;
    df_hmap_each(tokens->map, free_entry, NULL);
    df_hmap_destroy(tokens->map);
    tokens->map = fresh;
}

bool sb_tokens_issue(sb_tokens_t *tokens, sb_token_kind_t kind, const char *principal,
                     const char *project, const char *scope, int64_t now_ms, int64_t ttl_ms,
                     char *out)
{
    sb_token_info_t *info = calloc(1, sizeof(*info));

    if (!info)
        return false;
    info->kind = kind;
    info->principal = strdup(principal ? principal : "");
    info->project = strdup(project ? project : "");
    info->scope = strdup(scope ? scope : "");
    info->expires_ms = now_ms + ttl_ms;
    /* Google access tokens start "ya29."; Entra's are JWTs, but clients
     * must treat both as opaque, so the sandbox does not fake a JWT. */
    sb_ids_token(out, SB_TOKEN_MAX, kind == SB_TOKEN_GOOGLE ? "ya29.sandbox-" : "entra-sandbox-",
                 48);
    if (!info->principal || !info->project || !info->scope ||
        !df_hmap_put(tokens->map, out, strlen(out), info)) {
        info_free(info);
        return false;
    }
    return true;
}

sb_token_check_t sb_tokens_check(const sb_tokens_t *tokens, const char *token, sb_token_kind_t kind,
                                 int64_t now_ms, const sb_token_info_t **info)
{
    const sb_token_info_t *found;

    *info = NULL;
    if (!token)
        return SB_TOKEN_UNKNOWN;
    found = df_hmap_get(tokens->map, token, strlen(token));
    if (!found || found->kind != kind)
        return SB_TOKEN_UNKNOWN;
    *info = found;
    return now_ms < found->expires_ms ? SB_TOKEN_OK : SB_TOKEN_EXPIRED;
}

typedef struct expire_ctx {
    int64_t now_ms;
    size_t expired;
} expire_ctx_t;

static void expire_entry(void *ctx, const char *key, void *value)
{
    expire_ctx_t *e = ctx;
    sb_token_info_t *info = value;

    (void)key;
    if (info->expires_ms > e->now_ms) {
        info->expires_ms = e->now_ms;
        e->expired++;
    }
}

size_t sb_tokens_expire_all(sb_tokens_t *tokens, int64_t now_ms)
{
    expire_ctx_t ctx = { now_ms, 0 };

    df_hmap_each(tokens->map, expire_entry, &ctx);
    return ctx.expired;
}
