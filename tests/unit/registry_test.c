/* Connector registry: a connectors file with inline, {"env"} and {"file"}
 * secrets loads and resolves them; bad files fail naming the connector and
 * the JSON path; secrets are redacted from logs. */
#include <stdlib.h>
#include <unistd.h>

#include "df_log.h"
#include "df_test.h"
#include "registry.h"

static char dir[] = "/tmp/df-registry-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_load_and_resolve(void)
{
    df_error_t err;
    df_connector_def_t def;
    char secret_path[256];

    df_error_init(&err);
    snprintf(secret_path, sizeof(secret_path), "%s", write_file("key.pem", "PEM-SECRET-TEXT\n"));
    setenv("DF_TEST_PBI_SECRET", "pbi-secret-from-env", 1);
    {
        char doc[2048];
        snprintf(
            doc, sizeof(doc),
            "{\"connectors\": ["
            "{\"name\":\"pbi\",\"kind\":\"powerbi\",\"config\":{\"tenant_id\":\"t\","
            "\"client_id\":\"c\"},\"secrets\":{\"client_secret\":{\"env\":"
            "\"DF_TEST_PBI_SECRET\"}}},"
            "{\"name\":\"sheets\",\"kind\":\"google_sheets\",\"config\":{\"client_email\":"
            "\"a@b.iam.gserviceaccount.com\"},\"secrets\":{\"private_key\":{\"file\":\"%s\"}}},"
            "{\"name\":\"quiet\",\"kind\":\"noop\",\"enabled\":false,"
            "\"secrets\":{\"token\":\"inline-secret-value\"}}]}",
            secret_path);
        CHECK_INT(df_registry_load_file(write_file("ok.json", doc), &err), DF_OK);
    }
    CHECK(df_registry_find("pbi", &def));
    CHECK_STR(def.kind, "powerbi");
    CHECK_STR(json_string_value(json_object_get(def.secrets, "client_secret")),
              "pbi-secret-from-env");
    CHECK_STR(json_string_value(json_object_get(def.config, "tenant_id")), "t");
    df_registry_release(&def);
    CHECK(df_registry_find("sheets", &def));
    CHECK_STR(json_string_value(json_object_get(def.secrets, "private_key")), "PEM-SECRET-TEXT");
    df_registry_release(&def);
    CHECK(df_registry_find("quiet", &def));
    CHECK(!def.enabled);
    CHECK(def.ops != NULL); /* noop kind */
    df_registry_release(&def);
    CHECK(df_registry_find("noop", &def));
    CHECK(def.enabled && def.ops != NULL);
    df_registry_release(&def);
    CHECK(!df_registry_find("nosuch", &def));

    /* Every resolved secret is redacted from log lines. */
    {
        char line[256];
        snprintf(line, sizeof(line),
                 "a pbi-secret-from-env b PEM-SECRET-TEXT c inline-secret-value");
        df_log_redact(line);
        CHECK_STR(line, "a *** b *** c ***");
    }
}

static void test_bad_files(void)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(write_file("bad1.json", "{\"connectors\": 3}"), &err),
              DF_ERR_INVALID);
    CHECK(strstr(err.message, "expected an array") != NULL);

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(
                  write_file("bad2.json", "[{\"name\":\"x\",\"kind\":\"frobnicator\"}]"), &err),
              DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "connector 0 (x) at /kind") != NULL, "%s", err.message);

    df_error_init(&err);
    unsetenv("DF_TEST_UNSET_VAR");
    CHECK_INT(df_registry_load_file(write_file("bad3.json",
                                               "[{\"name\":\"x\",\"kind\":\"noop\",\"secrets\":{"
                                               "\"token\":{\"env\":\"DF_TEST_UNSET_VAR\"}}}]"),
                                    &err),
              DF_ERR_INVALID);
    CHECK(strstr(err.message, "DF_TEST_UNSET_VAR is not set") != NULL);

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(write_file("bad4.json", "[{\"name\":\"a\",\"kind\":\"noop\"},"
                                                            "{\"name\":\"a\",\"kind\":\"noop\"}]"),
                                    &err),
              DF_ERR_INVALID);
    CHECK(strstr(err.message, "defined twice") != NULL);

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(
                  write_file("bad5.json", "[{\"name\":\"noop\",\"kind\":\"noop\"}]"), &err),
              DF_ERR_INVALID);

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(write_file("bad6.json", "[{\"name\":"), &err), DF_ERR_INVALID);
    CHECK(strstr(err.message, "line 1") != NULL);
}

/* A definition found before a reload stays whole until released: a
 * running task keeps its connector while the next snapshot is installed. */
static void test_reload_keeps_held(void)
{
    df_connector_def_t held, fresh;
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_registry_load_file(write_file("v1.json", "[{\"name\":\"held\",\"kind\":\"noop\","
                                                          "\"config\":{\"v\":1},\"secrets\":"
                                                          "{\"token\":\"first-token\"}}]"),
                                    &err),
              DF_OK);
    REQUIRE(df_registry_find("held", &held));
    CHECK(held.snapshot != NULL);
    CHECK_INT(df_registry_load_file(write_file("v2.json", "[{\"name\":\"held\",\"kind\":\"noop\","
                                                          "\"config\":{\"v\":2},"
                                                          "\"enabled\":false}]"),
                                    &err),
              DF_OK);
    REQUIRE(df_registry_find("held", &fresh));
    CHECK_INT(json_integer_value(json_object_get(fresh.config, "v")), 2);
    CHECK(!fresh.enabled);
    /* the old one, still held */
    CHECK_STR(held.name, "held");
    CHECK_INT(json_integer_value(json_object_get(held.config, "v")), 1);
    CHECK_STR(json_string_value(json_object_get(held.secrets, "token")), "first-token");
    CHECK(held.enabled);
    df_registry_release(&held);
    CHECK(held.snapshot == NULL);
    df_registry_release(&held); /* twice: a no-op */
    df_registry_clear();
    CHECK(!df_registry_find("held", &held));
    CHECK_STR(fresh.name, "held"); /* cleared, but still held */
    df_registry_release(&fresh);
}

int main(void)
{
    REQUIRE(mkdtemp(dir) != NULL);
    df_log_init("registry-test", DF_LOG_ERROR);
    RUN(test_load_and_resolve);
    RUN(test_bad_files);
    RUN(test_reload_keeps_held);
    df_registry_clear();
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return df_test_done();
}
