/* tokens: the opaque access tokens the sandbox issues (Entra for Power
 * BI, Google OAuth2 for Sheets), remembered with their owner and expiry
 * so the APIs can tell a valid token from an expired or unknown one.
 * Not thread-safe: used under sb_state_t.lock. */
#ifndef SB_TOKENS_H
#define SB_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

typedef enum sb_token_kind {
    SB_TOKEN_ENTRA = 1,   /* accepted by Power BI routes */
    SB_TOKEN_GOOGLE = 2,  /* accepted by Sheets routes */
    SB_TOKEN_LOOKER = 4,  /* Looker API 4.0 access tokens */
    SB_TOKEN_TABLEAU = 3, /* X-Tableau-Auth credentials tokens (project: the site id) */
} sb_token_kind_t;

typedef enum sb_token_check {
    SB_TOKEN_OK = 0,
    SB_TOKEN_EXPIRED,
    SB_TOKEN_UNKNOWN, /* never issued, or issued for the other vendor */
} sb_token_check_t;

typedef struct sb_token_info {
    sb_token_kind_t kind;
    char *principal;    /* Entra client_id or Google client_email */
    char *project;      /* Google project (quota consumer), or "" */
    char *scope;        /* granted scopes, space-separated */
    int64_t expires_ms; /* sandbox clock */
} sb_token_info_t;

#define SB_TOKEN_MAX 160

/* NULL on allocation failure. _destroy(NULL) is a no-op. */
sb_tokens_t *sb_tokens_new(void);
void sb_tokens_destroy(sb_tokens_t *tokens);
/* Forget every token. */
void sb_tokens_reset(sb_tokens_t *tokens);

/* Issue a new token valid until now_ms + ttl_ms into out (SB_TOKEN_MAX
 * bytes). Strings are copied. false on allocation failure. */
bool sb_tokens_issue(sb_tokens_t *tokens, sb_token_kind_t kind, const char *principal,
                     const char *project, const char *scope, int64_t now_ms, int64_t ttl_ms,
                     char *out);

/* Check token for kind at now_ms; *info (borrowed, valid until the next
 * change of the store) is set for OK and EXPIRED. */
sb_token_check_t sb_tokens_check(const sb_tokens_t *tokens, const char *token, sb_token_kind_t kind,
                                 int64_t now_ms, const sb_token_info_t **info);

/* Expire every issued token now. Returns how many were still valid. */
size_t sb_tokens_expire_all(sb_tokens_t *tokens, int64_t now_ms);

#endif
