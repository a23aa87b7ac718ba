/* df-schema-check: validate JSON files against a schema with df_schema, one
 * line per file, for tests that compare df_schema's verdicts with another
 * validator's (tests/unit/schema_oracle_test.sh):
 *
 *   df-schema-check SCHEMA FILE...
 *     FILE<TAB>valid
 *     FILE<TAB>invalid<TAB>PATH<TAB>MESSAGE
 *
 * SCHEMA is a schema file, or a contract name ("task") found the way
 * df_schema_load_named finds it. A file that is not JSON is invalid with an
 * empty PATH. Exit status: 0 all valid, 1 some invalid, 2 usage, schema or
 * I/O error. */
#include <stdio.h>
#include <string.h>

#include "df_schema.h"

/* Tabs and newlines would break the line format. */
static void print_field(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

static void print_invalid(const char *file, const char *path, const char *message)
{
    printf("%s\tinvalid\t", file);
    print_field(path);
    putchar('\t');
    print_field(message);
    putchar('\n');
}

int main(int argc, char **argv)
{
    df_error_t err;
    df_schema_t *schema;
    int status = 0;

    if (argc < 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: df-schema-check SCHEMA FILE...\n"
                        "  SCHEMA: a schema file, or a name such as task, event, connector\n");
        return 2;
    }
    df_error_init(&err);
    if (strchr(argv[1], '/') || strstr(argv[1], ".json"))
        schema = df_schema_load_file(argv[1], &err);
    else
        schema = df_schema_load_named(argv[1], &err);
    if (!schema) {
        fprintf(stderr, "df-schema-check: %s: %s (at %s)\n", argv[1], err.message, err.field);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        json_error_t jerr;
        json_t *doc = json_load_file(argv[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!doc) {
            char message[300];
            if (json_error_code(&jerr) == json_error_cannot_open_file) {
                fprintf(stderr, "df-schema-check: %s: %s\n", argv[i], jerr.text);
                status = 2;
                continue;
            }
            snprintf(message, sizeof(message), "not valid JSON: line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
            print_invalid(argv[i], "", message);
            status = status ? status : 1;
            continue;
        }
        df_error_init(&err);
        if (df_schema_validate(schema, doc, &err)) {
            printf("%s\tvalid\n", argv[i]);
        } else {
            print_invalid(argv[i], err.field, err.message);
            status = status ? status : 1;
        }
        json_decref(doc);
    }
    df_schema_destroy(schema);
    return status;
}
