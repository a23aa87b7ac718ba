/* df_connector_store_load: the registry read with its secrets open (what
 * workers load), its version, and key rotation (see df_connector_store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_connector_store.h"
#include "df_connector_store_internal.h"

df_code_t df_connector_store_version(df_pg_t *pg, int64_t *version, df_error_t *err)
{
    PGresult *res = df_pg_exec(pg, "SELECT version FROM connectors_version", 0, NULL, err);

    if (!res)
        return err->code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return df_error_set(err, DF_ERR_PG, "connectors_version",
                            "connectors_version has %d rows, expected 1", PQntuples(res));
    }
    *version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DF_OK;
}

/* Put the opened values in place of the "***" of def's secrets. */
static void fill_secrets(json_t *def, const json_t *plain)
{
    json_t *secrets = json_object_get(def, "secrets"), *value;
    const char *key;

    json_object_foreach((json_t *)plain, key, value)
    {
        if (json_is_string(json_object_get(secrets, key)))
            json_object_set_new(secrets, key, json_string(json_string_value(value)));
    }
}

df_code_t df_connector_store_load(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                  df_connector_set_t *out, df_error_t *err)
{
    PGresult *res;

    memset(out, 0, sizeof(*out));
    /* One statement: the version and the rows of one snapshot. */
    res = df_pg_exec(pg,
                     "SELECT v.version, c.* FROM connectors_version AS v LEFT JOIN"
                     " (SELECT " DF_CSTORE_COLUMNS " FROM connectors) AS c ON true ORDER BY c.name",
                     0, NULL, err);
    if (!res)
        return err->code;
    if (PQntuples(res) < 1) {
        PQclear(res);
        return df_error_set(err, DF_ERR_PG, "connectors_version",
                            "connectors_version has no row, expected 1");
    }
    out->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->defs = json_array();
    out->failed = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *def, *plain = NULL;
        df_error_t oerr;

        if (PQgetisnull(res, i, 1 + DF_CSTORE_COL_NAME))
            continue; /* the version row of an empty registry */
        df_error_init(&oerr);
        if (df_cstore_open_row(keyring, res, i, 1, &plain, &oerr)) {
            json_array_append_new(out->failed, json_pack("{s:s, s:s}", "name",
                                                         PQgetvalue(res, i, 1 + DF_CSTORE_COL_NAME),
                                                         "error", oerr.message));
            continue;
        }
        def = df_cstore_row_definition(res, i, 1);
        fill_secrets(def, plain);
        df_connector_secrets_wipe(plain);
        json_decref(plain);
        json_array_append_new(out->defs, def);
    }
    PQclear(res);
    return DF_OK;
}

void df_connector_set_free(df_connector_set_t *set)
{
    size_t i;
    json_t *def;

    if (!set)
        return;
    json_array_foreach(set->defs, i, def)
        df_connector_secrets_wipe(json_object_get(def, "secrets"));
    json_decref(set->defs);
    json_decref(set->failed);
    memset(set, 0, sizeof(*set));
}

/* Re-seal one connector if it still needs it: 1 when done, 0 when nothing
 * was left to do (re-sealed or deleted meanwhile), -1 on failure. */
static int rotate_one(df_pg_t *pg, const df_secret_keyring_t *keyring, const char *name,
                      df_error_t *err)
{
    const char *current = df_secret_keyring_current_id(keyring);
    const char *params[3] = { name, current, NULL };
    char aad[96], *text = NULL, *sealed = NULL;
    size_t len = 0;
    PGresult *res;
    int rc = -1;

    if (df_pg_begin(pg, err))
        return -1;
    res = df_pg_exec(pg,
                     "SELECT " DF_CSTORE_COLUMNS " FROM connectors"
                     " WHERE name = $1 AND key_id IS NOT NULL AND key_id <> $2 FOR UPDATE",
                     2, params, err);
    if (!res)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    df_cstore_aad(name, aad, sizeof(aad));
    if (df_secret_open(keyring, PQgetvalue(res, 0, DF_CSTORE_COL_SEALED), aad, &text, &len, err)) {
        df_error_prefix(err, "connector %s: its secrets", name);
        goto out;
    }
    if (df_secret_seal(keyring, text, len, aad, &sealed, err))
        goto out;
    params[1] = sealed;
    params[2] = current;
    if (df_pg_run(pg,
                  "UPDATE connectors SET secrets_ciphertext = convert_to($2, 'UTF8'), key_id = $3"
                  " WHERE name = $1",
                  3, params, NULL, err))
        goto out;
    rc = 1;
out:
    df_secret_free(text, len);
    free(sealed);
    PQclear(res);
    if (rc < 0 || df_pg_commit(pg, err)) {
        df_pg_rollback(pg, NULL);
        return -1;
    }
    return rc;
}

df_code_t df_connector_store_rotate(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    long long *count, df_error_t *err)
{
    const char *params[1];
    PGresult *res;
    long long done = 0;
    df_code_t rc = DF_OK;

    if (count)
        *count = 0;
    if (!keyring)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "DATAFLEET_SECRET_KEY",
                            "rotation needs the keyring: set DATAFLEET_SECRET_KEY or "
                            "DATAFLEET_SECRET_KEY_FILE (new key first, then the old ones)");
    params[0] = df_secret_keyring_current_id(keyring);
    res = df_pg_exec(pg,
                     "SELECT name FROM connectors WHERE key_id IS NOT NULL AND key_id <> $1"
                     " ORDER BY name",
                     1, params, err);
    if (!res)
        return err->code;
    for (int i = 0; i < PQntuples(res); i++) {
        int one = rotate_one(pg, keyring, PQgetvalue(res, i, 0), err);
        if (one < 0) {
            rc = err->code;
            break;
        }
        done += one;
    }
    PQclear(res);
    if (count)
        *count = done;
    return rc;
}
