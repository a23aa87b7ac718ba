/* connector_store: the connector registry against the real PostgreSQL, on a
 * scratch database with the migrations applied.
 *   (a) CRUD: create (a taken name is a conflict), get, list, delete; views
 *       show inline secrets as "***" and references as given; the
 *       ciphertext (and the whole row) holds no plaintext; the version
 *       grows with each change and not with an unchanged apply;
 *   (b) update: a merge patch keeps the secrets it does not name; replace
 *       without secrets keeps them; a view written back ("***") changes
 *       nothing; renames and "***" for a secret never stored are refused;
 *   (c) validation errors name the JSON path;
 *   (d) rotation: sealed with key A, rotated under keyring "B,A": every row
 *       is B's and opens; a second run re-seals nothing; keyring "B" alone
 *       opens all, "A" alone cannot (the failure names the key), and
 *       rotating with a keyring lacking B fails naming connector and key;
 *   (e) no keyring: rows without inline secrets still load and update;
 *       sealing refuses with DF_ERR_UNSUPPORTED;
 *   (f) audit_log rows never hold a secret value, even when handed one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_audit.h"
#include "df_connector_store.h"
#include "df_id.h"
#include "df_log.h"
#include "df_pg.h"
#include "df_secret.h"
#include "df_test.h"
#include "df_test_pg.h"

static df_pg_t *admin, *pg;
static char db_name[64], db_url[2048];
static df_secret_keyring_t *ring_a, *ring_b, *ring_ba;

#define SECRET_PBI "pbi-plaintext-S3CRET-1"
#define SECRET_NEW "pbi-plaintext-S3CRET-2"

/* CREATE/DROP DATABASE take an identifier, not a value. */
static df_code_t database_ddl(const char *verb, const char *suffix, df_error_t *err)
{
    char *quoted = df_pg_escape_identifier(admin, db_name, err);
    char ddl[256];
    df_code_t rc;

    if (!quoted)
        return err->code;
    snprintf(ddl, sizeof(ddl), "%s %s%s", verb, quoted, suffix); /* lint: allow quoted ident */
    free(quoted);
    rc = df_pg_run(admin, ddl, 0, NULL, NULL, err);
    return rc;
}

/* One value of a query as text ("(none)" without a row, "" for NULL). */
static void value(const char *sql, const char *param, char *out, size_t len)
{
    const char *params[1] = { param };
    df_error_t err;
    PGresult *res;

    df_error_init(&err);
    res = df_pg_exec(pg, sql, param ? 1 : 0, param ? params : NULL, &err);
    CHECK_MSG(res != NULL, "%s: %s", sql, err.message);
    snprintf(out, len, "%s",
             !res || PQntuples(res) != 1 ? "(none)"
             : PQgetisnull(res, 0, 0)    ? ""
                                         : PQgetvalue(res, 0, 0));
    PQclear(res);
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);

    REQUIRE(doc != NULL);
    return doc;
}

static int64_t version(void)
{
    df_error_t err;
    int64_t v = -1;

    df_error_init(&err);
    CHECK_INT(df_connector_store_version(pg, &v, &err), DF_OK);
    return v;
}

static const char *secret_of(const json_t *def, const char *name)
{
    return json_string_value(json_object_get(json_object_get(def, "secrets"), name));
}

/* The loaded definition named name in set (borrowed), or NULL. */
static json_t *loaded(const df_connector_set_t *set, const char *name)
{
    size_t i;
    json_t *def;

    json_array_foreach(set->defs, i, def)
    {
        if (strcmp(json_string_value(json_object_get(def, "name")), name) == 0)
            return def;
    }
    return NULL;
}

static df_secret_keyring_t *ring(const char *id, const char *key, const char *id2, const char *key2)
{
    char spec[256];
    df_error_t err;
    df_secret_keyring_t *kr;

    if (id2)
        snprintf(spec, sizeof(spec), "%s:%s,%s:%s", id, key, id2, key2);
    else
        snprintf(spec, sizeof(spec), "%s:%s", id, key);
    df_error_init(&err);
    kr = df_secret_keyring_parse(spec, &err);
    REQUIRE(kr != NULL);
    return kr;
}

static const char pbi_def[] =
    "{\"name\":\"pbi\",\"kind\":\"powerbi\",\"description\":\"sales tenant\","
    "\"config\":{\"tenant_id\":\"t1\",\"client_id\":\"c1\"},"
    "\"secrets\":{\"client_secret\":\"" SECRET_PBI "\",\"extra\":{\"env\":\"DF_EXTRA\"}},"
    "\"limits\":{\"requests_per_minute\":60}}";

static void test_crud(void)
{
    json_t *def = parse(pbi_def), *view = NULL, *views = NULL;
    char got[4096];
    df_error_t err;
    int64_t v0 = version(), v1;
    df_connector_write_t what = 0;

    df_error_init(&err);
    CHECK_MSG(df_connector_store_create(pg, ring_a, def, &view, &err) == DF_OK, "%s", err.message);
    REQUIRE(view != NULL);
    CHECK_STR(secret_of(view, "client_secret"), "***");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(view, "secrets"), "extra"), "env")),
              "DF_EXTRA");
    CHECK_STR(json_string_value(json_object_get(view, "key_id")), "a");
    CHECK_STR(json_string_value(json_object_get(view, "description")), "sales tenant");
    CHECK(json_string_value(json_object_get(view, "created_at")) != NULL);
    CHECK(json_string_value(json_object_get(view, "updated_at")) != NULL);
    CHECK_INT(
        json_integer_value(json_object_get(json_object_get(view, "limits"), "requests_per_minute")),
        60);
    {
        char *text = json_dumps(view, 0);
        CHECK(strstr(text, SECRET_PBI) == NULL);
        free(text);
    }
    json_decref(view);
    v1 = version();
    CHECK(v1 > v0);

    /* No column of the row holds the plaintext; the ciphertext is v1:a:... */
    value("SELECT row_to_json(c)::text FROM connectors c WHERE name = $1", "pbi", got, sizeof(got));
    CHECK(strstr(got, "S3CRET") == NULL);
    value("SELECT encode(secrets_ciphertext, 'escape') FROM connectors WHERE name = $1", "pbi", got,
          sizeof(got));
    CHECK(strncmp(got, "v1:a:", 5) == 0);
    CHECK(strstr(got, SECRET_PBI) == NULL);

    /* A taken name */
    df_error_init(&err);
    CHECK_INT(df_connector_store_create(pg, ring_a, def, NULL, &err), DF_ERR_CONFLICT);
    CHECK(strstr(err.message, "pbi") != NULL);

    /* apply of the same definition: nothing written, version unchanged */
    df_error_init(&err);
    CHECK_INT(df_connector_store_apply(pg, ring_a, def, &what, NULL, &err), DF_OK);
    CHECK_INT(what, DF_CONNECTOR_UNCHANGED);
    CHECK_INT(version(), v1);

    /* get, list */
    df_error_init(&err);
    CHECK_INT(df_connector_store_get(pg, "pbi", &view, &err), DF_OK);
    CHECK_STR(secret_of(view, "client_secret"), "***");
    json_decref(view);
    CHECK_INT(df_connector_store_get(pg, "nosuch", &view, &err), DF_ERR_NOT_FOUND);
    CHECK(view == NULL);
    json_decref(def);
    def = parse("{\"name\":\"plain\",\"kind\":\"noop\"}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_apply(pg, NULL, def, &what, NULL, &err), DF_OK);
    CHECK_INT(what, DF_CONNECTOR_CREATED);
    CHECK_INT(df_connector_store_list(pg, &views, &err), DF_OK);
    CHECK_INT(json_array_size(views), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(views, 0), "name")), "pbi");
    CHECK_STR(json_string_value(json_object_get(json_array_get(views, 1), "name")), "plain");
    CHECK(json_is_null(json_object_get(json_array_get(views, 1), "key_id")));
    json_decref(views);

    /* delete */
    df_error_init(&err);
    CHECK_INT(df_connector_store_delete(pg, "plain", &view, &err), DF_OK);
    CHECK_STR(json_string_value(json_object_get(view, "name")), "plain");
    json_decref(view);
    CHECK_INT(df_connector_store_delete(pg, "plain", NULL, &err), DF_ERR_NOT_FOUND);
    json_decref(def);
}

static void test_update(void)
{
    json_t *patch, *view = NULL, *def;
    df_connector_set_t set;
    df_connector_write_t what = 0;
    df_error_t err;
    int64_t v;

    /* disable: the secrets stay */
    patch = parse("{\"enabled\":false}");
    df_error_init(&err);
    CHECK_MSG(df_connector_store_update(pg, ring_a, "pbi", patch, &what, &view, &err) == DF_OK,
              "%s", err.message);
    CHECK_INT(what, DF_CONNECTOR_UPDATED);
    CHECK(json_is_false(json_object_get(view, "enabled")));
    json_decref(view);
    json_decref(patch);
    REQUIRE(df_connector_store_load(pg, ring_a, &set, &err) == DF_OK);
    def = loaded(&set, "pbi");
    REQUIRE(def != NULL);
    CHECK_STR(secret_of(def, "client_secret"), SECRET_PBI);
    CHECK(json_is_false(json_object_get(def, "enabled")));
    CHECK_INT(set.version, version());
    df_connector_set_free(&set);

    /* one secret changed, the reference kept; null removes the limits */
    patch = parse("{\"enabled\":true,\"limits\":null,\"secrets\":{\"client_secret\":\"" SECRET_NEW
                  "\"}}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_update(pg, ring_a, "pbi", patch, &what, NULL, &err), DF_OK);
    json_decref(patch);
    REQUIRE(df_connector_store_load(pg, ring_a, &set, &err) == DF_OK);
    def = loaded(&set, "pbi");
    CHECK_STR(secret_of(def, "client_secret"), SECRET_NEW);
    CHECK(json_is_object(json_object_get(json_object_get(def, "secrets"), "extra")));
    CHECK(json_object_get(def, "limits") == NULL);
    df_connector_set_free(&set);

    /* the view written back: nothing changes */
    df_error_init(&err);
    CHECK_INT(df_connector_store_get(pg, "pbi", &view, &err), DF_OK);
    v = version();
    CHECK_INT(df_connector_store_replace(pg, ring_a, "pbi", view, &what, NULL, &err), DF_OK);
    CHECK_INT(what, DF_CONNECTOR_UNCHANGED);
    CHECK_INT(version(), v);
    json_decref(view);

    /* replace without secrets: kept; the description left out is gone */
    def = parse("{\"name\":\"pbi\",\"kind\":\"powerbi\","
                "\"config\":{\"tenant_id\":\"t2\",\"client_id\":\"c1\"}}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_replace(pg, NULL, "pbi", def, &what, &view, &err), DF_OK);
    CHECK_INT(what, DF_CONNECTOR_UPDATED);
    CHECK(json_object_get(view, "description") == NULL);
    CHECK_STR(secret_of(view, "client_secret"), "***");
    json_decref(view);
    json_decref(def);
    REQUIRE(df_connector_store_load(pg, ring_a, &set, &err) == DF_OK);
    CHECK_STR(secret_of(loaded(&set, "pbi"), "client_secret"), SECRET_NEW);
    df_connector_set_free(&set);

    /* refused: a rename, "***" for a secret never stored, an unknown name */
    patch = parse("{\"name\":\"other\"}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_update(pg, ring_a, "pbi", patch, NULL, NULL, &err),
              DF_ERR_INVALID);
    CHECK_STR(err.field, "/name");
    json_decref(patch);
    patch = parse("{\"secrets\":{\"token\":\"***\"}}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_update(pg, ring_a, "pbi", patch, NULL, NULL, &err),
              DF_ERR_INVALID);
    CHECK_STR(err.field, "/secrets/token");
    CHECK_INT(df_connector_store_update(pg, ring_a, "nosuch", patch, NULL, NULL, &err),
              DF_ERR_NOT_FOUND);
    json_decref(patch);
}

/* One invalid definition: code, field and a word of the message. */
static void expect_invalid(const char *text, const char *field, const char *word)
{
    json_t *def = parse(text);
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_connector_store_create(pg, ring_a, def, NULL, &err), DF_ERR_INVALID);
    CHECK_MSG(strcmp(err.field, field) == 0, "field \"%s\", expected \"%s\" (%s)", err.field, field,
              err.message);
    CHECK_MSG(strstr(err.message, word) != NULL, "\"%s\" lacks \"%s\"", err.message, word);
    CHECK_MSG(strstr(err.message, "S3CRET") == NULL, "%s", err.message);
    json_decref(def);
}

static void test_validation(void)
{
    expect_invalid("{\"name\":\"x\",\"kind\":\"powerbi\",\"config\":{\"tenant_id\":\"t\"}}",
                   "/config/client_id", "client_id");
    expect_invalid("{\"name\":\"x\",\"kind\":\"noop\",\"config\":{\"password\":\"S3CRET\"}}",
                   "/config/password", "/config/password");
    expect_invalid("{\"name\":\"x\",\"kind\":\"frobnicator\"}", "/kind", "expected");
    expect_invalid("{\"name\":\"Bad Name\",\"kind\":\"noop\"}", "/name", "/name");
    expect_invalid("{\"name\":\"noop\",\"kind\":\"noop\"}", "/name", "built in");
    expect_invalid("{\"name\":\"x\",\"kind\":\"noop\",\"retry\":{\"base_ms\":100,\"cap_ms\":10}}",
                   "/retry", "cap_ms");
    expect_invalid("{\"name\":\"x\",\"kind\":\"noop\",\"secrets\":{\"token\":{\"env\":\"A\","
                   "\"file\":\"/f\"}}}",
                   "/secrets/token", "/secrets/token");
    expect_invalid("[1]", "/", "object");
}

static void test_rotation(void)
{
    static const char *const names[] = { "r1", "r2", "r3" };
    df_connector_set_t set;
    long long count = -1;
    df_error_t err;
    char got[256];

    for (size_t i = 0; i < 3; i++) {
        char text[256];
        json_t *def;
        snprintf(text, sizeof(text),
                 "{\"name\":\"%s\",\"kind\":\"noop\",\"secrets\":{\"token\":\"tok-%s-S3CRET\"}}",
                 names[i], names[i]);
        def = parse(text);
        df_error_init(&err);
        CHECK_INT(df_connector_store_create(pg, ring_a, def, NULL, &err), DF_OK);
        json_decref(def);
    }
    /* keyring B,A: everything sealed by A (pbi and r1..r3) moves to B */
    df_error_init(&err);
    CHECK_MSG(df_connector_store_rotate(pg, ring_ba, &count, &err) == DF_OK, "%s", err.message);
    CHECK_INT(count, 4);
    value("SELECT string_agg(DISTINCT key_id, ',') FROM connectors WHERE key_id IS NOT NULL", NULL,
          got, sizeof(got));
    CHECK_STR(got, "b");
    CHECK_INT(df_connector_store_rotate(pg, ring_ba, &count, &err), DF_OK);
    CHECK_INT(count, 0);

    /* B alone opens them all */
    REQUIRE(df_connector_store_load(pg, ring_b, &set, &err) == DF_OK);
    CHECK_INT(json_array_size(set.failed), 0);
    CHECK_STR(secret_of(loaded(&set, "r2"), "token"), "tok-r2-S3CRET");
    CHECK_STR(secret_of(loaded(&set, "pbi"), "client_secret"), SECRET_NEW);
    df_connector_set_free(&set);

    /* A alone cannot: each failure names the connector and key b */
    REQUIRE(df_connector_store_load(pg, ring_a, &set, &err) == DF_OK);
    CHECK_INT(json_array_size(set.failed), 4);
    CHECK(loaded(&set, "r1") == NULL);
    {
        const char *why =
            json_string_value(json_object_get(json_array_get(set.failed, 0), "error"));
        CHECK_MSG(why && strstr(why, "key b") != NULL, "%s", why ? why : "(null)");
    }
    df_connector_set_free(&set);
    df_error_init(&err);
    CHECK_INT(df_connector_store_rotate(pg, ring_a, &count, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "connector pbi") && strstr(err.message, "key b"), "%s",
              err.message);
    CHECK_INT(count, 0);
}

static void test_no_keyring(void)
{
    json_t *patch = parse("{\"description\":\"no key needed\"}"), *def;
    df_connector_set_t set;
    df_error_t err;

    df_error_init(&err);
    /* secrets untouched: the ciphertext is kept as it is */
    CHECK_MSG(df_connector_store_update(pg, NULL, "r1", patch, NULL, NULL, &err) == DF_OK, "%s",
              err.message);
    json_decref(patch);
    patch = parse("{\"secrets\":{\"token\":\"tok-new-S3CRET\"}}");
    CHECK_INT(df_connector_store_update(pg, NULL, "r1", patch, NULL, NULL, &err),
              DF_ERR_UNSUPPORTED);
    json_decref(patch);
    def = parse("{\"name\":\"refs\",\"kind\":\"noop\",\"secrets\":{\"token\":{\"env\":\"T\"}}}");
    df_error_init(&err);
    CHECK_INT(df_connector_store_create(pg, NULL, def, NULL, &err), DF_OK);
    json_decref(def);
    REQUIRE(df_connector_store_load(pg, NULL, &set, &err) == DF_OK);
    CHECK(loaded(&set, "refs") != NULL);
    CHECK(loaded(&set, "r1") == NULL);
    CHECK_INT(json_array_size(set.failed), 4);
    df_connector_set_free(&set);
    /* still opens with B, description changed */
    REQUIRE(df_connector_store_load(pg, ring_b, &set, &err) == DF_OK);
    CHECK_STR(secret_of(loaded(&set, "r1"), "token"), "tok-r1-S3CRET");
    CHECK_STR(json_string_value(json_object_get(loaded(&set, "r1"), "description")),
              "no key needed");
    df_connector_set_free(&set);
}

static void test_audit(void)
{
    json_t *raw = parse(pbi_def), *redacted = df_connector_redact(raw);
    char got[4096];
    df_error_t err;

    df_error_init(&err);
    /* handed the raw definition by mistake: still no secret in the row */
    CHECK_INT(df_audit_record(pg, "cli:test", "connector.create", "connector", "pbi", raw,
                              "127.0.0.1", &err),
              DF_OK);
    CHECK_INT(df_audit_record(pg, "cli:test", "connector.update", "connector", "pbi", redacted,
                              NULL, &err),
              DF_OK);
    CHECK_INT(df_audit_record(pg, "", "x", NULL, NULL, NULL, NULL, &err), DF_ERR_INVALID);
    value("SELECT string_agg(details::text, ' ') FROM audit_log", NULL, got, sizeof(got));
    CHECK(strstr(got, "S3CRET") == NULL);
    CHECK(strstr(got, "DF_EXTRA") != NULL); /* references are not secret */
    value("SELECT count(*) FROM audit_log WHERE actor = 'cli:test' AND remote_addr = '127.0.0.1'",
          NULL, got, sizeof(got));
    CHECK_STR(got, "1");
    CHECK_STR(secret_of(redacted, "client_secret"), "***");
    json_decref(raw);
    json_decref(redacted);
}

int main(void)
{
    const char *url = df_test_env("DATAFLEET_DATABASE_URL");
    char suffix[16], *ka = df_secret_key_generate(), *kb = df_secret_key_generate();
    df_error_t err;
    int rc;

    df_log_init("connector-store-test", DF_LOG_WARN);
    df_error_init(&err);
    REQUIRE(ka && kb);
    ring_a = ring("a", ka, NULL, NULL);
    ring_b = ring("b", kb, NULL, NULL);
    ring_ba = ring("b", kb, "a", ka);
    admin = df_pg_new(url, &err);
    REQUIRE(admin != NULL);
    df_id_ulid(suffix);
    suffix[10] = '\0';
    snprintf(db_name, sizeof(db_name), "df_cstore_%s", suffix);
    for (char *p = db_name; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    REQUIRE(database_ddl("CREATE DATABASE", "", &err) == DF_OK);
    df_test_url_with_dbname(url, db_name, db_url, sizeof(db_url));
    pg = df_pg_new(db_url, &err);
    REQUIRE(pg && df_pg_migrate(pg, NULL, NULL, &err) == DF_OK);

    RUN(test_crud);
    RUN(test_update);
    RUN(test_validation);
    RUN(test_rotation);
    RUN(test_no_keyring);
    RUN(test_audit);

    rc = df_test_done();
    df_pg_destroy(pg);
    df_error_init(&err);
    database_ddl("DROP DATABASE", " WITH (FORCE)", &err);
    df_pg_destroy(admin);
    df_secret_keyring_destroy(ring_a);
    df_secret_keyring_destroy(ring_b);
    df_secret_keyring_destroy(ring_ba);
    df_secret_free_str(ka);
    df_secret_free_str(kb);
    return rc;
}
