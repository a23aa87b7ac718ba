/* df_config: option tables -> flags, environment, --help, Markdown. */
#include "df_config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_build.h"

#define HELP_WIDTH 28

df_code_t df_config_parse_int(const char *text, int64_t *out, df_error_t *err)
{
    char *end = NULL;
    long long v;

    if (!text || !*text)
        return df_error_set(err, DF_ERR_INVALID, NULL, "expected an integer, got an empty value");
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || *end != '\0')
        return df_error_set(err, DF_ERR_INVALID, NULL, "expected an integer, got \"%s\"", text);
    *out = (int64_t)v;
    return DF_OK;
}

df_code_t df_config_parse_duration(const char *text, int64_t *out_ms, df_error_t *err)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1 } };
    char *end = NULL;
    double v;

    if (!text || !*text)
        return df_error_set(err, DF_ERR_INVALID, NULL, "expected a duration, got an empty value");
    errno = 0;
    v = strtod(text, &end);
    if (errno || end == text || v < 0)
        goto bad;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double ms = v * (double)units[i].ms;
            if (ms > (double)INT64_MAX / 2)
                goto bad;
            *out_ms = (int64_t)ms;
            return DF_OK;
        }
    }
bad:
    return df_error_set(err, DF_ERR_INVALID, NULL,
                        "expected a duration such as 250ms, 5s, 2m or 1h, got \"%s\"", text);
}

df_code_t df_config_parse_bool(const char *text, bool *out, df_error_t *err)
{
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };

    for (size_t i = 0; text && i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return DF_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return DF_OK;
        }
    }
    return df_error_set(err, DF_ERR_INVALID, NULL, "expected true or false, got \"%s\"",
                        text ? text : "");
}

static bool enum_has(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && strncmp(p, value, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Store text into the option's field. */
static df_code_t set_value(const df_option_t *opt, void *cfg, const char *text, df_error_t *err)
{
    char *field = (char *)cfg + opt->offset;

    switch (opt->type) {
    case DF_OPT_STRING:
    case DF_OPT_ENUM: {
        char **slot = (char **)(void *)field;
        char *copy;
        if (opt->type == DF_OPT_ENUM && !enum_has(opt->choices, text))
            return df_error_set(err, DF_ERR_INVALID, NULL, "expected one of %s, got \"%s\"",
                                opt->choices, text);
        copy = strdup(text);
        if (!copy)
            return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        free(*slot);
        *slot = copy;
        return DF_OK;
    }
    case DF_OPT_INT:
    case DF_OPT_DURATION: {
        int64_t v;
        df_code_t rc = opt->type == DF_OPT_INT ? df_config_parse_int(text, &v, err)
                                               : df_config_parse_duration(text, &v, err);
        if (rc)
            return rc;
        if ((opt->min || opt->max) && (v < opt->min || v > opt->max)) {
            if (opt->type == DF_OPT_INT)
                return df_error_set(err, DF_ERR_INVALID, NULL,
                                    "expected a value from %lld to %lld, got %lld",
                                    (long long)opt->min, (long long)opt->max, (long long)v);
            return df_error_set(err, DF_ERR_INVALID, NULL,
                                "expected a duration from %lldms to %lldms, got %lldms",
                                (long long)opt->min, (long long)opt->max, (long long)v);
        }
        memcpy(field, &v, sizeof(v));
        return DF_OK;
    }
    case DF_OPT_BOOL: {
        bool b;
        df_code_t rc = df_config_parse_bool(text, &b, err);
        if (rc)
            return rc;
        memcpy(field, &b, sizeof(b));
        return DF_OK;
    }
    }
    return df_error_set(err, DF_ERR_INTERNAL, NULL, "unknown option type");
}

static const df_option_t *find_option(const df_program_t *prog, const char *name, size_t len)
{
    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static df_parse_result_t usage_error(const df_program_t *prog, const char *what,
                                     const df_error_t *err)
{
    fprintf(stderr, "%s: %s: %s\n", prog->name, what, err->message);
    fprintf(stderr, "Try '%s --help' for more information.\n", prog->name);
    return DF_PARSE_USAGE;
}

df_parse_result_t df_config_parse(const df_program_t *prog, void *cfg, int argc, char **argv,
                                  df_args_t *args)
{
    df_error_t err;
    char what[160];
    bool options_done = false;

    df_error_init(&err);
    args->count = 0;
    args->values = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    if (!args->values) {
        fprintf(stderr, "%s: out of memory\n", prog->name);
        return DF_PARSE_USAGE;
    }

    /* --help and --version answer whatever the environment holds. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            df_config_print_help(prog, stdout);
            return DF_PARSE_EXIT;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("%s %s\n", prog->name, DF_VERSION);
            return DF_PARSE_EXIT;
        }
        if (strcmp(argv[i], "--help-markdown") == 0) {
            df_config_print_markdown(prog, stdout);
            return DF_PARSE_EXIT;
        }
    }

    /* Defaults, then the environment. */
    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        const char *env = o->env ? getenv(o->env) : NULL;
        if (o->def && set_value(o, cfg, o->def, &err) != DF_OK) {
            snprintf(what, sizeof(what), "default of --%s", o->name);
            return usage_error(prog, what, &err);
        }
        if (env && set_value(o, cfg, env, &err) != DF_OK) {
            snprintf(what, sizeof(what), "environment variable %s", o->env);
            return usage_error(prog, what, &err);
        }
    }

    /* Flags win. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name, *eq, *value;
        const df_option_t *o;
        size_t len;

        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            args->values[args->count++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (arg[1] != '-') {
            df_error_set(&err, DF_ERR_INVALID, arg, "unknown option (options are --long-names)");
            return usage_error(prog, arg, &err);
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_option(prog, name, len);
        if (!o && !eq && len > 3 && strncmp(name, "no-", 3) == 0) {
            o = find_option(prog, name + 3, len - 3);
            if (o && o->type == DF_OPT_BOOL) {
                bool f = false;
                memcpy((char *)cfg + o->offset, &f, sizeof(f));
                continue;
            }
            o = NULL;
        }
        if (!o) {
            snprintf(what, sizeof(what), "--%.*s", (int)len, name);
            df_error_set(&err, DF_ERR_INVALID, what, "unknown option");
            return usage_error(prog, what, &err);
        }
        snprintf(what, sizeof(what), "--%s", o->name);
        if (eq) {
            value = eq + 1;
        } else if (o->type == DF_OPT_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            df_error_set(&err, DF_ERR_INVALID, what, "expects a value");
            return usage_error(prog, what, &err);
        }
        if (set_value(o, cfg, value, &err) != DF_OK)
            return usage_error(prog, what, &err);
    }

    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        if ((o->flags & DF_OPT_REQUIRED) && (o->type == DF_OPT_STRING || o->type == DF_OPT_ENUM) &&
            !*(char **)(void *)((char *)cfg + o->offset)) {
            snprintf(what, sizeof(what), "--%s", o->name);
            df_error_set(&err, DF_ERR_INVALID, what, "is required (or set %s)",
                         o->env ? o->env : "it");
            return usage_error(prog, what, &err);
        }
    }
    return DF_PARSE_RUN;
}

void df_args_free(df_args_t *args)
{
    if (!args)
        return;
    free(args->values);
    args->values = NULL;
    args->count = 0;
}

void df_config_free(const df_program_t *prog, void *cfg)
{
    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        if (o->type == DF_OPT_STRING || o->type == DF_OPT_ENUM) {
            char **slot = (char **)(void *)((char *)cfg + o->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

static const char *type_hint(const df_option_t *o)
{
    switch (o->type) {
    case DF_OPT_STRING: return "TEXT";
    case DF_OPT_INT: return "N";
    case DF_OPT_BOOL: return "";
    case DF_OPT_DURATION: return "DURATION";
    case DF_OPT_ENUM: return o->choices;
    }
    return "";
}

void df_config_print_help(const df_program_t *prog, FILE *out)
{
    fprintf(out, "Usage: %s %s\n%s\n\n", prog->name, prog->usage, prog->summary);
    if (prog->details)
        fprintf(out, "%s\n", prog->details);
    fprintf(out, "Options (each also read from its environment variable; flags win):\n");
    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        char flag[128];
        const char *hint = type_hint(o);
        snprintf(flag, sizeof(flag), "--%s%s%s", o->name, *hint ? " " : "", hint);
        fprintf(out, "  %-*s %s", HELP_WIDTH, flag, o->help);
        if (o->def && !(o->flags & DF_OPT_SECRET))
            fprintf(out, " (default: %s)", o->def);
        if (o->flags & DF_OPT_REQUIRED)
            fprintf(out, " (required)");
        if (o->env)
            fprintf(out, " [%s]", o->env);
        fputc('\n', out);
    }
    fprintf(out, "  %-*s %s\n", HELP_WIDTH, "--help", "show this help and exit");
    fprintf(out, "  %-*s %s\n", HELP_WIDTH, "--version", "show the version and exit");
    if (prog->n_exit_codes) {
        fprintf(out, "\nExit codes:\n");
        for (size_t i = 0; i < prog->n_exit_codes; i++)
            fprintf(out, "  %-3d %s\n", prog->exit_codes[i].code, prog->exit_codes[i].meaning);
    }
}

/* Markdown table cells may not hold '|': show enum choices with commas. */
static void md_cell(FILE *out, const char *text)
{
    for (; text && *text; text++) {
        if (*text == '|')
            fputs(", ", out);
        else
            fputc(*text, out);
    }
}

void df_config_print_markdown(const df_program_t *prog, FILE *out)
{
    fprintf(out, "#### `%s`\n\n", prog->name);
    fprintf(out, "| flag | environment | type | default | meaning |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < prog->n_options; i++) {
        const df_option_t *o = &prog->options[i];
        fprintf(out, "| `--%s` | %s%s%s | ", o->name, o->env ? "`" : "", o->env ? o->env : "",
                o->env ? "`" : "");
        md_cell(out, o->type == DF_OPT_BOOL ? "flag" : type_hint(o));
        fprintf(out, " | ");
        if (o->def && !(o->flags & DF_OPT_SECRET)) {
            fputc('`', out);
            md_cell(out, o->def);
            fputc('`', out);
        }
        fprintf(out, " | ");
        md_cell(out, o->help);
        if (o->flags & DF_OPT_REQUIRED)
            fprintf(out, " (required)");
        fprintf(out, " |\n");
    }
    fputc('\n', out);
    if (prog->n_exit_codes) {
        fprintf(out, "Exit codes: ");
        for (size_t i = 0; i < prog->n_exit_codes; i++)
            fprintf(out, "%s`%d` %s", i ? "; " : "", prog->exit_codes[i].code,
                    prog->exit_codes[i].meaning);
        fprintf(out, ".\n\n");
    }
}
