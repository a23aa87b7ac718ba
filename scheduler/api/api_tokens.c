/* api_tokens: bearer tokens of the REST API. A token is "dft_" and 43
 * base64url characters (32 random bytes); it is printed once by `tokens
 * create` and only its SHA-256 is stored (api_tokens.token_hash), so a
 * stolen database does not give working tokens. Tokens carry a role (read,
 * submit, admin), may expire, and are revoked rather than deleted so the
 * audit log keeps naming them.
 *
 *   datafleet-scheduler tokens create --name NAME --role ROLE [--expires 90d]
 *   datafleet-scheduler tokens list [--json]
 *   datafleet-scheduler tokens revoke NAME|ID */
#include <openssl/evp.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cli_common.h"
#include "commands.h"
#include "df_audit.h"
#include "df_id.h"
#include "df_log.h"

#define TOKEN_PREFIX "dft_"
#define TOKEN_BYTES  32

void api_token_hash(const char *token, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

df_code_t api_token_check(df_pg_t *pg, const char *token, api_token_info_t *info, df_error_t *err)
{
    char hash[65];
    const char *params[1] = { hash };
    PGresult *res;

    if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 128)
        return df_error_set(err, DF_ERR_AUTH, "Authorization",
                            "not a datafleet API token (they start with \"" TOKEN_PREFIX "\")");
    api_token_hash(token, hash);
    res = df_pg_exec(pg,
                     "UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1"
                     " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
                     " RETURNING id, name, role",
                     1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return df_error_set(err, DF_ERR_AUTH, "Authorization",
                            "unknown, revoked or expired API token");
    }
    snprintf(info->id, sizeof(info->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(info->name, sizeof(info->name), "%s", PQgetvalue(res, 0, 1));
    if (!api_role_parse(PQgetvalue(res, 0, 2), &info->role))
        info->role = API_ROLE_NONE;
    PQclear(res);
    return DF_OK;
}

/* ---- the `tokens` command ---------------------------------------------------- */

typedef struct tokens_config {
    df_common_config_t common;
    char *name, *role;
    int64_t expires_ms;
    bool json;
} tokens_config_t;

static const df_option_t create_options[] = {
    DF_COMMON_OPTIONS(tokens_config_t),
    { "name", NULL, DF_OPT_STRING, NULL, 0, 0, NULL,
      "who or what uses the token (unique among live tokens; shown in the audit log)",
      offsetof(tokens_config_t, name), DF_OPT_REQUIRED },
    { "role", NULL, DF_OPT_ENUM, NULL, 0, 0, "read|submit|admin",
      "read: look; submit: also submit, cancel and retry tasks; admin: also change connectors, "
      "schedules, pipelines and the DLQ",
      offsetof(tokens_config_t, role), DF_OPT_REQUIRED },
    { "expires", NULL, DF_OPT_DURATION, NULL, 1000, 0, NULL,
      "the token stops working after this long (e.g. 90d is 2160h; default: never)",
      offsetof(tokens_config_t, expires_ms), 0 },
};

static const df_option_t list_options[] = {
    DF_COMMON_OPTIONS(tokens_config_t),
    { "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON for scripts instead of text",
      offsetof(tokens_config_t, json), 0 },
};

static const df_option_t revoke_options[] = { DF_COMMON_OPTIONS(tokens_config_t) };

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "done" },
    { DF_EXIT_FAILURE, "PostgreSQL failed" },
    { DF_EXIT_USAGE, "bad option or value" },
    { 3, "revoke: no live token has that name or id; create: a live token has that name" },
};

#define fail df_cli_fail

static void audit(df_pg_t *pg, const char *action, const char *target, json_t *details)
{
    char actor[96];
    df_error_t err;

    df_error_init(&err);
    if (df_audit_record(pg, df_audit_cli_actor(actor, sizeof(actor)), action, "tokens", target,
                        details, NULL, &err) != DF_OK)
        fprintf(stderr, "warning: audit row not written: %s\n", err.message);
    json_decref(details);
}

static int tokens_create(const df_program_t *prog, tokens_config_t *cfg, df_pg_t *pg, char **args)
{
    unsigned char raw[TOKEN_BYTES];
    char token[sizeof(TOKEN_PREFIX) + 64], hash[65], id[DF_ID_BUF], expires[32] = "";
    const char *params[5] = { id, cfg->name, cfg->role, hash, NULL };
    df_error_t err;
    PGresult *res;

    (void)args;
    if (!*cfg->name || strlen(cfg->name) > 128)
        return fail(prog, DF_EXIT_USAGE, "--name: expected 1 to 128 characters");
    if (sodium_init() < 0)
        return fail(prog, DF_EXIT_FAILURE, "libsodium cannot start");
    randombytes_buf(raw, sizeof(raw));
    memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
    sodium_bin2base64(token + strlen(TOKEN_PREFIX), sizeof(token) - strlen(TOKEN_PREFIX), raw,
                      sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    api_token_hash(token, hash);
    df_id_ulid(id);
    if (cfg->expires_ms > 0) {
        snprintf(expires, sizeof(expires), "%lld", (long long)cfg->expires_ms);
        params[4] = expires;
    }
    df_error_init(&err);
    res = df_pg_exec(pg,
                     "INSERT INTO api_tokens (id, name, role, token_hash, expires_at)"
                     " SELECT $1, $2, $3, $4, now() + make_interval(secs => $5::bigint / 1000.0)"
                     " WHERE NOT EXISTS (SELECT 1 FROM api_tokens WHERE name = $2"
                     " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))"
                     " RETURNING id",
                     5, params, &err);
    if (!res) {
        sodium_memzero(token, sizeof(token));
        return fail(prog, DF_EXIT_FAILURE, "%s", err.message);
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        sodium_memzero(token, sizeof(token));
        return fail(prog, 3, "a live token named \"%s\" exists: revoke it first", cfg->name);
    }
    PQclear(res);
    audit(pg, "tokens create", id, json_pack("{s:s, s:s}", "name", cfg->name, "role", cfg->role));
    fprintf(stderr, "token %s (%s, role %s) created; it is shown once, keep it now:\n", id,
            cfg->name, cfg->role);
    printf("%s\n", token);
    fflush(stdout);
    sodium_memzero(token, sizeof(token));
    return DF_EXIT_OK;
}

static int tokens_list(const df_program_t *prog, tokens_config_t *cfg, df_pg_t *pg, char **args)
{
    df_error_t err;
    PGresult *res;
    json_t *list;

    (void)args;
    df_error_init(&err);
    res = df_pg_exec(pg,
                     "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'role',"
                     " role, 'created_at', df_ts(created_at), 'last_used_at', df_ts(last_used_at),"
                     " 'expires_at', df_ts(expires_at), 'revoked_at', df_ts(revoked_at))"
                     " ORDER BY created_at), '[]')::text FROM api_tokens",
                     0, NULL, &err);
    if (!res)
        return fail(prog, DF_EXIT_FAILURE, "%s", err.message);
    list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!list)
        return fail(prog, DF_EXIT_FAILURE, "cannot read the token list");
    if (cfg->json) {
        json_dumpf(list, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        size_t i;
        json_t *t;
        printf("%-26s  %-24s  %-6s  %-24s  %s\n", "ID", "NAME", "ROLE", "LAST USED", "STATE");
        json_array_foreach(list, i, t)
        {
            const char *revoked = json_string_value(json_object_get(t, "revoked_at"));
            const char *expires = json_string_value(json_object_get(t, "expires_at"));
            const char *used = json_string_value(json_object_get(t, "last_used_at"));
            printf("%-26s  %-24s  %-6s  %-24s  %s%s\n", json_string_value(json_object_get(t, "id")),
                   json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "role")), used ? used : "never",
                   revoked   ? "revoked"
                   : expires ? "expires "
                             : "live",
                   revoked   ? ""
                   : expires ? expires
                             : "");
        }
    }
    json_decref(list);
    return DF_EXIT_OK;
}

static int tokens_revoke(const df_program_t *prog, tokens_config_t *cfg, df_pg_t *pg, char **args)
{
    const char *params[1] = { args[0] };
    df_error_t err;
    PGresult *res;
    int n;

    (void)cfg;
    df_error_init(&err);
    res = df_pg_exec(pg,
                     "UPDATE api_tokens SET revoked_at = now() WHERE (id = $1 OR name = $1)"
                     " AND revoked_at IS NULL RETURNING id",
                     1, params, &err);
    if (!res)
        return fail(prog, DF_EXIT_FAILURE, "%s", err.message);
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        audit(pg, "tokens revoke", PQgetvalue(res, i, 0), NULL);
        printf("revoked %s\n", PQgetvalue(res, i, 0));
    }
    PQclear(res);
    return n ? DF_EXIT_OK : fail(prog, 3, "no live token has the name or id \"%s\"", args[0]);
}

typedef struct command {
    const char *name;
    int nargs;
    int (*run)(const df_program_t *prog, tokens_config_t *cfg, df_pg_t *pg, char **args);
    df_program_t program;
} command_t;

#define PROGRAM(cmd, usage_, summary_, opts)                                                    \
    {                                                                                           \
        .name = "datafleet-scheduler tokens " cmd, .usage = usage_, .summary = summary_,        \
        .options = opts, .n_options = sizeof(opts) / sizeof(opts[0]), .exit_codes = exit_codes, \
        .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),                             \
    }

static const command_t commands[] = {
    { "create", 0, tokens_create,
      PROGRAM("create", "--name NAME --role read|submit|admin [--expires DURATION] [OPTIONS]",
              "Create an API token and print it (once: only its hash is kept).", create_options) },
    { "list", 0, tokens_list,
      PROGRAM("list", "[OPTIONS]", "List the API tokens (never the tokens themselves).",
              list_options) },
    { "revoke", 1, tokens_revoke,
      PROGRAM("revoke", "NAME|ID [OPTIONS]", "Revoke a token: it stops working at once.",
              revoke_options) },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int df_cmd_tokens(int argc, char **argv)
{
    const command_t *cmd = NULL;
    tokens_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    df_pg_t *pg = NULL;
    df_error_t err;
    int rc;

    for (size_t i = 0; argc > 1 && i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    }
    if (!cmd) {
        bool help = argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fprintf(help ? stdout : stderr,
                "Usage: datafleet-scheduler tokens COMMAND [ARGS] [OPTIONS]\n"
                "Manage the REST API's bearer tokens (each command has --help):\n"
                "  create --name NAME --role read|submit|admin [--expires DURATION]\n"
                "  list [--json]\n"
                "  revoke NAME|ID\n");
        if (!help && argc > 1)
            fprintf(stderr, "datafleet-scheduler tokens: unknown command \"%s\"\n", argv[1]);
        return help ? DF_EXIT_OK : DF_EXIT_USAGE;
    }
    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(&cmd->program, &cfg, argc - 1, argv + 1, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (args.count != cmd->nargs) {
        rc = fail(&cmd->program, DF_EXIT_USAGE, "expected %s",
                  cmd->nargs ? "one token NAME or ID" : "no arguments");
    } else {
        df_log_init("scheduler", DF_LOG_WARN);
        df_error_init(&err);
        pg = df_pg_new(cfg.common.database_url, &err);
        rc = pg ? cmd->run(&cmd->program, &cfg, pg, args.values)
                : fail(&cmd->program, DF_EXIT_FAILURE, "cannot connect to PostgreSQL: %s",
                       err.message);
    }
    df_pg_destroy(pg);
    df_config_free(&cmd->program, &cfg);
    df_args_free(&args);
    return rc;
}
