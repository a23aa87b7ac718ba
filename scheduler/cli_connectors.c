/* cli_connectors: the `connectors` and `keys` commands of
 * datafleet-scheduler (see commands.h): the connector registry in
 * PostgreSQL (common/df_connector_store.h) from the command line, for
 * people and for GitOps (`connectors apply FILE`), and the keys its
 * secrets are sealed with. Every change writes an audit_log row with actor
 * "cli:<user>". docs/CONNECTORS.md ("Registry") shows them at work. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "df_audit.h"
#include "df_config.h"
#include "df_connector_store.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_secret.h"

#define EXIT_NOT_FOUND 3 /* no connector has that name */

typedef struct cli_config {
    df_common_config_t common;
    bool json;
} cli_config_t;

typedef struct cli {
    cli_config_t cfg;
    const df_program_t *program;
    df_pg_t *pg;
    df_secret_keyring_t *keyring;
    char actor[128];
} cli_t;

static const df_option_t plain_options[] = { DF_COMMON_OPTIONS(cli_config_t) };
static const df_option_t json_options[] = {
    DF_COMMON_OPTIONS(cli_config_t),
    { "json", NULL, DF_OPT_BOOL, "false", 0, 0, NULL, "print JSON for scripts instead of text",
      offsetof(cli_config_t, json), 0 },
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "done" },
    { DF_EXIT_FAILURE, "PostgreSQL failed, or no usable secret key where one is needed" },
    { DF_EXIT_USAGE, "bad option, file or definition (the message names the JSON path)" },
    { EXIT_NOT_FOUND, "no connector has that name" },
};

#define fail(cli, code, ...) df_cli_fail((cli)->program, (code), __VA_ARGS__)

/* A store error -> message and exit code. */
static int store_fail(const cli_t *cli, const df_error_t *err)
{
    const char *hint = strcmp(df_pg_sqlstate(err), "42P01") == 0
                           ? " (no connectors registry: run 'datafleet-scheduler migrate' first)"
                           : "";

    switch (err->code) {
    case DF_ERR_INVALID: return fail(cli, DF_EXIT_USAGE, "%s", err->message);
    case DF_ERR_NOT_FOUND: return fail(cli, EXIT_NOT_FOUND, "%s", err->message);
    default: return fail(cli, DF_EXIT_FAILURE, "%s%s", err->message, hint);
    }
}

static bool connect_pg(cli_t *cli)
{
    df_error_t err;

    if (cli->pg)
        return true;
    df_error_init(&err);
    cli->pg = df_pg_new(cli->cfg.common.database_url, &err);
    if (!cli->pg)
        fail(cli, DF_EXIT_FAILURE, "cannot connect to PostgreSQL: %s", err.message);
    return cli->pg != NULL;
}

/* The keyring of DATAFLEET_SECRET_KEY(_FILE): NULL without one (fine
 * unless inline secrets are involved), false for an unusable one. */
static bool load_keyring(cli_t *cli, bool required)
{
    df_error_t err;

    df_error_init(&err);
    cli->keyring = df_secret_keyring_from_env(&err);
    if (cli->keyring || (err.code == DF_ERR_NOT_FOUND && !required))
        return true;
    fail(cli, DF_EXIT_FAILURE, "secret key: %s", err.message);
    return false;
}

static void audit(cli_t *cli, const char *action, const char *target_kind, const char *target,
                  const json_t *details)
{
    df_error_t err;

    df_error_init(&err);
    if (df_audit_record(cli->pg, cli->actor, action, target_kind, target, details, NULL, &err))
        fprintf(stderr, "%s: warning: the audit_log row was not written: %s\n", cli->program->name,
                err.message);
}

/* ---- connectors ------------------------------------------------------------ */

static int cmd_list(cli_t *cli, char **args)
{
    json_t *views = NULL, *view;
    df_error_t err;
    size_t i;

    (void)args;
    df_error_init(&err);
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    if (df_connector_store_list(cli->pg, &views, &err))
        return store_fail(cli, &err);
    if (cli->cfg.json) {
        json_dumpf(views, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        printf("%-24s %-14s %-8s %-8s %-14s %s\n", "NAME", "KIND", "ENABLED", "SECRETS", "KEY",
               "UPDATED");
        json_array_foreach(views, i, view)
        {
            const char *key = json_string_value(json_object_get(view, "key_id"));
            printf("%-24s %-14s %-8s %-8zu %-14s %s\n",
                   json_string_value(json_object_get(view, "name")),
                   json_string_value(json_object_get(view, "kind")),
                   json_is_true(json_object_get(view, "enabled")) ? "yes" : "no",
                   json_object_size(json_object_get(view, "secrets")), key ? key : "-",
                   json_string_value(json_object_get(view, "updated_at")));
        }
    }
    json_decref(views);
    return DF_EXIT_OK;
}

static int cmd_show(cli_t *cli, char **args)
{
    json_t *view = NULL;
    df_error_t err;

    df_error_init(&err);
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    if (df_connector_store_get(cli->pg, args[0], &view, &err))
        return store_fail(cli, &err);
    json_dumpf(view, stdout, JSON_INDENT(2) | (cli->cfg.json ? 0 : JSON_PRESERVE_ORDER));
    fputc('\n', stdout);
    json_decref(view);
    return DF_EXIT_OK;
}

static int cmd_delete(cli_t *cli, char **args)
{
    json_t *view = NULL;
    df_error_t err;

    df_error_init(&err);
    if (!connect_pg(cli))
        return DF_EXIT_FAILURE;
    if (df_connector_store_delete(cli->pg, args[0], &view, &err))
        return store_fail(cli, &err);
    audit(cli, "connector.delete", "connector", args[0], view);
    json_decref(view);
    printf("connector %s deleted\n", args[0]);
    return DF_EXIT_OK;
}

/* The file's connectors, each checked (all of them before anything is
 * written), names unique. NULL after printing why. */
static json_t *read_apply_file(cli_t *cli, const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *list, *def;
    df_error_t err;
    size_t i, j;

    if (!doc) {
        fail(cli, DF_EXIT_USAGE, "%s: line %d, column %d: %s", path, jerr.line, jerr.column,
             jerr.text);
        return NULL;
    }
    list = json_is_array(doc) ? doc : json_object_get(doc, "connectors");
    if (!json_is_array(list)) {
        fail(cli, DF_EXIT_USAGE, "%s: expected an array of connectors or {\"connectors\": [...]}",
             path);
        json_decref(doc);
        return NULL;
    }
    json_incref(list);
    json_decref(doc);
    json_array_foreach(list, i, def)
    {
        const char *name = json_string_value(json_object_get(def, "name"));
        df_error_init(&err);
        if (df_connector_check(def, &err)) {
            fail(cli, DF_EXIT_USAGE, "%s: connector %zu (%s): %s", path, i, name ? name : "?",
                 err.message);
            json_decref(list);
            return NULL;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_object_get(json_array_get(list, j), "name")), name) ==
                0) {
                fail(cli, DF_EXIT_USAGE, "%s: connector %s is defined twice", path, name);
                json_decref(list);
                return NULL;
            }
        }
    }
    return list;
}

static int cmd_apply(cli_t *cli, char **args)
{
    static const char *const said[] = { "", "created", "updated", "unchanged" };
    json_t *list, *def;
    size_t i, changed = 0;
    df_error_t err;

    list = read_apply_file(cli, args[0]);
    if (!list)
        return DF_EXIT_USAGE;
    if (!load_keyring(cli, false) || !connect_pg(cli)) {
        json_decref(list);
        return DF_EXIT_FAILURE;
    }
    json_array_foreach(list, i, def)
    {
        const char *name = json_string_value(json_object_get(def, "name"));
        df_connector_write_t what = DF_CONNECTOR_UNCHANGED;
        json_t *view = NULL;
        int rc;

        df_error_init(&err);
        if (df_connector_store_apply(cli->pg, cli->keyring, def, &what, &view, &err)) {
            df_error_prefix(&err, "connector %s", name);
            rc = store_fail(cli, &err);
            if (i > 0)
                fprintf(stderr, "%s: the %zu connector(s) before it were applied\n",
                        cli->program->name, i);
            json_decref(list);
            return rc;
        }
        if (what != DF_CONNECTOR_UNCHANGED) {
            audit(cli, what == DF_CONNECTOR_CREATED ? "connector.create" : "connector.update",
                  "connector", name, view);
            changed++;
        }
        json_decref(view);
        printf("%s %s\n", said[what], name);
    }
    printf("%zu connector(s) in %s, %zu changed\n", json_array_size(list), args[0], changed);
    json_decref(list);
    return DF_EXIT_OK;
}

/* ---- keys ---------------------------------------------------------------- */

static int cmd_keys_generate(cli_t *cli, char **args)
{
    char *key = df_secret_key_generate();

    (void)args;
    if (!key)
        return fail(cli, DF_EXIT_FAILURE, "out of memory");
    printf("%s\n", key);
    df_secret_free_str(key);
    return DF_EXIT_OK;
}

static int cmd_keys_rotate(cli_t *cli, char **args)
{
    long long count = 0;
    df_error_t err;
    json_t *details;
    df_code_t rc;

    (void)args;
    if (!load_keyring(cli, true) || !connect_pg(cli))
        return DF_EXIT_FAILURE;
    df_error_init(&err);
    rc = df_connector_store_rotate(cli->pg, cli->keyring, &count, &err);
    if (count > 0) {
        details = json_pack("{s:I, s:s}", "resealed", (json_int_t)count, "key_id",
                            df_secret_keyring_current_id(cli->keyring));
        audit(cli, "keys.rotate", "secret_key", df_secret_keyring_current_id(cli->keyring),
              details);
        json_decref(details);
    }
    printf("re-sealed %lld connector(s) with key %s\n", count,
           df_secret_keyring_current_id(cli->keyring));
    if (rc)
        return fail(cli, DF_EXIT_FAILURE, "%s", err.message);
    return DF_EXIT_OK;
}

/* ---- dispatch -------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int nargs; /* positional arguments after the command */
    int (*run)(cli_t *cli, char **args);
    df_program_t program;
} command_t;

#define PROGRAM(group, cmd, usage_, summary_, details_, opts)                                 \
    {                                                                                         \
        .name = "datafleet-scheduler " group " " cmd, .usage = usage_, .summary = summary_,   \
        .details = details_, .options = opts, .n_options = sizeof(opts) / sizeof(opts[0]),    \
        .exit_codes = exit_codes, .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]), \
    }

static const command_t connector_commands[] = {
    { "list", 0, cmd_list,
      PROGRAM("connectors", "list", "[OPTIONS]",
              "List the registered connectors: name, kind, enabled, how many secrets, the key\n"
              "their secrets are sealed with, and when they last changed (UTC).",
              NULL, json_options) },
    { "show", 1, cmd_show,
      PROGRAM("connectors", "show", "NAME [OPTIONS]",
              "Show one connector's definition as JSON, secret values as \"***\".",
              "References ({\"env\": NAME} / {\"file\": PATH}) are shown as they are: they\n"
              "name where workers read the secret, not the secret.\n",
              json_options) },
    { "apply", 1, cmd_apply,
      PROGRAM("connectors", "apply", "FILE [OPTIONS]",
              "Make the registry hold the connectors of FILE (create or replace each).",
              "FILE: a JSON array of connector definitions (schemas/connector.v1.schema.json)\n"
              "or {\"connectors\": [...]}. Every definition is checked before anything is\n"
              "written; then each is applied in a transaction of its own and reported as\n"
              "created, updated or unchanged (unchanged ones are not written, so workers do\n"
              "not reload). Inline secret values are sealed with DATAFLEET_SECRET_KEY (or\n"
              "the key file of DATAFLEET_SECRET_KEY_FILE); {\"env\": NAME} / {\"file\": PATH}\n"
              "references are stored as references and read by each worker from its own\n"
              "environment or files. A definition without \"secrets\" keeps the stored ones\n"
              "(give \"secrets\": {} to remove them); \"***\" as a secret's value keeps that\n"
              "stored secret. Connectors not in FILE are left alone.\n",
              plain_options) },
    { "delete", 1, cmd_delete,
      PROGRAM("connectors", "delete", "NAME [OPTIONS]",
              "Delete a connector: its tasks fail as unknown_connector once workers reload.", NULL,
              plain_options) },
};

static const command_t key_commands[] = {
    { "generate", 0, cmd_keys_generate,
      PROGRAM("keys", "generate", "[OPTIONS]",
              "Print a new random 32-byte key, base64, as DATAFLEET_SECRET_KEY takes it.",
              "Rotation (docs/CONNECTORS.md): put the new key first in every process's\n"
              "keyring, the old one after it (DATAFLEET_SECRET_KEY=NEW,OLD), restart, run\n"
              "'datafleet-scheduler keys rotate', then drop the old key.\n",
              plain_options) },
    { "rotate", 0, cmd_keys_rotate,
      PROGRAM("keys", "rotate", "[OPTIONS]",
              "Re-seal every connector's secrets that another key sealed with the keyring's\n"
              "current (first) key, and print how many.",
              "The keyring must still hold the old keys. One transaction per connector: safe\n"
              "to stop and to run again (a second run re-seals nothing).\n",
              plain_options) },
};

static const df_program_t connectors_overview = {
    .name = "datafleet-scheduler connectors",
    .summary = "Manage the connector registry (PostgreSQL's connectors table).",
    .usage = "COMMAND [ARGS] [OPTIONS]",
    .details = "Commands (each has --help):\n"
               "  list          the connectors, one per line (--json)\n"
               "  show NAME     one connector, secrets as \"***\" (--json)\n"
               "  apply FILE    create or replace the connectors of a JSON file (GitOps)\n"
               "  delete NAME   delete one\n",
    .options = plain_options,
    .n_options = sizeof(plain_options) / sizeof(plain_options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

static const df_program_t keys_overview = {
    .name = "datafleet-scheduler keys",
    .summary = "The keys connector secrets are sealed with (DATAFLEET_SECRET_KEY).",
    .usage = "COMMAND [OPTIONS]",
    .details = "Commands (each has --help):\n"
               "  generate   print a new key\n"
               "  rotate     re-seal every connector with the keyring's current key\n",
    .options = plain_options,
    .n_options = sizeof(plain_options) / sizeof(plain_options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

static int dispatch(const command_t *cmds, size_t n, const df_program_t *overview,
                    const char *expected, int argc, char **argv)
{
    const command_t *cmd = NULL;
    df_args_t args;
    df_parse_result_t parsed;
    cli_t cli;
    int rc;

    for (size_t i = 0; argc > 1 && i < n; i++)
        if (strcmp(cmds[i].name, argv[1]) == 0)
            cmd = &cmds[i];
    if (!cmd)
        return df_cli_overview(overview, expected, argc, argv);
    memset(&cli, 0, sizeof(cli));
    cli.program = &cmd->program;
    df_audit_cli_actor(cli.actor, sizeof(cli.actor));
    parsed = df_config_parse(&cmd->program, &cli.cfg, argc - 1, argv + 1, &args);
    if (parsed != DF_PARSE_RUN) {
        rc = parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    } else if (args.count != cmd->nargs) {
        rc = fail(&cli, DF_EXIT_USAGE, "expected %s",
                  cmd->nargs ? "one argument (see --help)" : "no arguments");
    } else {
        df_cli_log_init(&cli.cfg.common);
        rc = cmd->run(&cli, args.values);
    }
    df_pg_destroy(cli.pg);
    df_secret_keyring_destroy(cli.keyring);
    df_config_free(&cmd->program, &cli.cfg);
    df_args_free(&args);
    return rc;
}

int df_cmd_connectors(int argc, char **argv)
{
    return dispatch(connector_commands, sizeof(connector_commands) / sizeof(connector_commands[0]),
                    &connectors_overview, "list, show, apply, delete", argc, argv);
}

int df_cmd_keys(int argc, char **argv)
{
    return dispatch(key_commands, sizeof(key_commands) / sizeof(key_commands[0]), &keys_overview,
                    "generate, rotate", argc, argv);
}
