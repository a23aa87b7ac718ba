/* df_connector_store: connector definitions in PostgreSQL: checking, views,
 * create / replace / update / apply / delete (see df_connector_store.h).
 * Loading with opened secrets and key rotation are in
 * df_connector_store_load.c; what both share is in
 * df_connector_store_internal.h. */
#include "df_connector_store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_connector_store_internal.h"
#include "df_schema.h"

/* ---- checking ---------------------------------------------------------- */

static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;
static df_schema_t *schema; /* loaded on first use, kept for the process */

static const df_schema_t *connector_schema(df_error_t *err)
{
    df_schema_t *s;

    pthread_mutex_lock(&schema_lock);
    if (!schema)
        schema = df_schema_load_named("connector", err);
    s = schema;
    pthread_mutex_unlock(&schema_lock);
    return s;
}

/* cap_ms below base_ms in one retry object is a mistake worth naming. */
static df_code_t check_retry_object(const json_t *obj, const char *where, df_error_t *err)
{
    json_t *base = json_object_get(obj, "base_ms"), *cap = json_object_get(obj, "cap_ms");

    if (json_is_integer(base) && json_is_integer(cap) &&
        json_integer_value(cap) < json_integer_value(base))
        return df_error_set(
            err, DF_ERR_INVALID, where, "%s: expected cap_ms (%lld) to be at least base_ms (%lld)",
            where, (long long)json_integer_value(cap), (long long)json_integer_value(base));
    return DF_OK;
}

df_code_t df_connector_check(const json_t *def, df_error_t *err)
{
    const df_schema_t *s = connector_schema(err);
    const json_t *retry, *policy;
    const char *type;
    char where[128];

    if (!s)
        return err->code;
    if (!df_schema_validate(s, def, err)) {
        char path[DF_ERR_FIELD_MAX];
        snprintf(path, sizeof(path), "%s", err->field[0] ? err->field : "/");
        df_error_prefix(err, "%s", path);
        return err->code;
    }
    if (strcmp(json_string_value(json_object_get(def, "name")), "noop") == 0)
        return df_error_set(err, DF_ERR_INVALID, "/name",
                            "/name: expected another name: \"noop\" is built in");
    retry = json_object_get(def, "retry");
    if (!retry)
        return DF_OK;
    if (check_retry_object(retry, "/retry", err))
        return err->code;
    json_object_foreach((json_t *)json_object_get(retry, "by_type"), type, policy)
    {
        snprintf(where, sizeof(where), "/retry/by_type/%s", type);
        if (check_retry_object(policy, where, err))
            return err->code;
    }
    return DF_OK;
}

/* ---- views --------------------------------------------------------------- */

json_t *df_connector_redact(const json_t *def)
{
    json_t *copy, *secrets, *value;
    const char *key;

    if (!json_is_object(def) || !(copy = json_deep_copy(def)))
        return NULL;
    secrets = json_object_get(copy, "secrets");
    if (json_is_object(secrets)) {
        json_object_foreach(secrets, key, value)
        {
            if (!json_is_object(value)) /* inline (or not even a string): never shown */
                json_object_set_new(secrets, key, json_string(DF_CONNECTOR_SECRET_MASK));
        }
    } else if (secrets) {
        json_object_set_new(copy, "secrets", json_string(DF_CONNECTOR_SECRET_MASK));
    }
    return copy;
}

void df_connector_secrets_wipe(json_t *secrets)
{
    const char *key;
    json_t *value;

    if (!json_is_object(secrets))
        return;
    json_object_foreach(secrets, key, value)
    {
        if (json_is_string(value)) /* jansson owns the bytes; they are ours to zero */
            memset((char *)json_string_value(value), 0, json_string_length(value));
    }
}

static json_t *parse_json_column(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return json_loads(PQgetvalue(res, row, col), 0, NULL);
}

json_t *df_cstore_row_definition(const PGresult *res, int row, int base)
{
    json_t *def = json_object(), *v;

    json_object_set_new(def, "name", json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_NAME)));
    json_object_set_new(def, "kind", json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_KIND)));
    if (!PQgetisnull(res, row, base + DF_CSTORE_COL_DESCRIPTION))
        json_object_set_new(def, "description",
                            json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_DESCRIPTION)));
    v = parse_json_column(res, row, base + DF_CSTORE_COL_CONFIG);
    json_object_set_new(def, "config", v ? v : json_object());
    v = parse_json_column(res, row, base + DF_CSTORE_COL_SECRETS_VIEW);
    if (json_object_size(v) > 0)
        json_object_set_new(def, "secrets", v);
    else
        json_decref(v);
    if ((v = parse_json_column(res, row, base + DF_CSTORE_COL_LIMITS)))
        json_object_set_new(def, "limits", v);
    if ((v = parse_json_column(res, row, base + DF_CSTORE_COL_RETRY)))
        json_object_set_new(def, "retry", v);
    json_object_set_new(
        def, "enabled",
        json_boolean(strcmp(PQgetvalue(res, row, base + DF_CSTORE_COL_ENABLED), "t") == 0));
    return def;
}

json_t *df_cstore_row_view(const PGresult *res, int row, int base)
{
    json_t *view = df_cstore_row_definition(res, row, base);

    json_object_set_new(view, "key_id",
                        PQgetisnull(res, row, base + DF_CSTORE_COL_KEY_ID)
                            ? json_null()
                            : json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_KEY_ID)));
    json_object_set_new(view, "created_at",
                        json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_CREATED_AT)));
    json_object_set_new(view, "updated_at",
                        json_string(PQgetvalue(res, row, base + DF_CSTORE_COL_UPDATED_AT)));
    return view;
}

void df_cstore_aad(const char *name, char *aad, size_t len)
{
    snprintf(aad, len, "connector:%s", name);
}

df_code_t df_cstore_open_row(const df_secret_keyring_t *keyring, const PGresult *res, int row,
                             int base, json_t **plain, df_error_t *err)
{
    const char *name = PQgetvalue(res, row, base + DF_CSTORE_COL_NAME);
    const char *key_id = PQgetvalue(res, row, base + DF_CSTORE_COL_KEY_ID);
    char aad[96], *text = NULL;
    size_t len = 0;
    json_t *obj;

    *plain = NULL;
    if (PQgetisnull(res, row, base + DF_CSTORE_COL_SEALED)) {
        *plain = json_object();
        return DF_OK;
    }
    if (!keyring)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "DATAFLEET_SECRET_KEY",
                            "connector %s: its secrets are sealed with key %s and no key is "
                            "set (DATAFLEET_SECRET_KEY or DATAFLEET_SECRET_KEY_FILE)",
                            name, key_id);
    df_cstore_aad(name, aad, sizeof(aad));
    if (df_secret_open(keyring, PQgetvalue(res, row, base + DF_CSTORE_COL_SEALED), aad, &text, &len,
                       err)) {
        df_error_prefix(err, "connector %s: its secrets", name);
        return err->code;
    }
    obj = json_loadb(text, len, 0, NULL);
    df_secret_free(text, len);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return df_error_set(err, DF_ERR_INVALID, "/secrets",
                            "connector %s: its opened secrets are not a JSON object", name);
    }
    *plain = obj;
    return DF_OK;
}

/* ---- writing ------------------------------------------------------------- */

typedef enum write_mode { MODE_CREATE, MODE_REPLACE, MODE_UPDATE, MODE_APPLY } write_mode_t;

/* RFC 7386 merge patch: target (owned) patched by patch (borrowed);
 * returns the result (owned). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *value;

    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
    }
    json_object_foreach((json_t *)patch, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(target, key);
        } else {
            json_t *old = json_object_get(target, key);
            json_object_set_new(target, key, merge_patch(json_incref(old), value));
        }
    }
    return target;
}

/* The stored form of a definition: defaults made explicit, empty secrets
 * dropped, so equal definitions compare equal. */
static void normalise(json_t *def)
{
    if (!json_object_get(def, "config"))
        json_object_set_new(def, "config", json_object());
    if (!json_object_get(def, "enabled"))
        json_object_set_new(def, "enabled", json_true());
    if (json_is_object(json_object_get(def, "secrets")) &&
        json_object_size(json_object_get(def, "secrets")) == 0)
        json_object_del(def, "secrets");
}

/* What one write works on. */
typedef struct write_state {
    df_pg_t *pg;
    const df_secret_keyring_t *keyring;
    const char *name;
    PGresult *row;     /* the stored row (locked), NULL when none */
    json_t *stored;    /* its definition (secrets masked) */
    json_t *next;      /* the definition to store (secrets as given, "***" kept) */
    json_t *next_view; /* next's secrets as stored in secrets_view */
    json_t *plain;     /* next's inline secret values */
    json_t *old_plain; /* the stored row's inline values, when opened */
    bool keep_sealed;  /* the stored ciphertext holds exactly next's inline values */
    char *sealed;      /* new ciphertext text */
} write_state_t;

static void write_state_free(write_state_t *w)
{
    PQclear(w->row);
    json_decref(w->stored);
    json_decref(w->next);
    json_decref(w->next_view);
    df_connector_secrets_wipe(w->plain);
    json_decref(w->plain);
    df_connector_secrets_wipe(w->old_plain);
    json_decref(w->old_plain);
    free(w->sealed);
}

static df_code_t open_old(write_state_t *w, df_error_t *err)
{
    if (w->old_plain)
        return DF_OK;
    return df_cstore_open_row(w->keyring, w->row, 0, 0, &w->old_plain, err);
}

/* Split next's secrets into secrets_view and the inline values, putting
 * the stored value in place of each "***". */
static df_code_t split_secrets(write_state_t *w, df_error_t *err)
{
    json_t *secrets = json_object_get(w->next, "secrets"), *value;
    json_t *stored_secrets = json_object_get(w->stored, "secrets");
    size_t stored_inline = 0, kept = 0, given = 0;
    const char *key;
    char where[128];

    w->next_view = json_object();
    w->plain = json_object();
    json_object_foreach(stored_secrets, key, value) stored_inline += json_is_string(value);
    json_object_foreach(secrets, key, value)
    {
        if (json_is_object(value)) {
            json_object_set(w->next_view, key, value);
            continue;
        }
        json_object_set_new(w->next_view, key, json_string(DF_CONNECTOR_SECRET_MASK));
        if (strcmp(json_string_value(value), DF_CONNECTOR_SECRET_MASK) != 0) {
            given++;
            json_object_set_new(w->plain, key, json_string(json_string_value(value)));
            continue;
        }
        snprintf(where, sizeof(where), "/secrets/%s", key);
        if (!json_is_string(json_object_get(stored_secrets, key)))
            return df_error_set(err, DF_ERR_INVALID, where,
                                "%s: \"***\" stands for the stored value, and connector %s has "
                                "no stored secret %s: expected the secret itself",
                                where, w->name, key);
        kept++;
        json_object_set_new(w->plain, key, json_string(DF_CONNECTOR_SECRET_MASK));
    }
    w->keep_sealed = given == 0 && kept == stored_inline;
    if (w->keep_sealed || kept == 0)
        return DF_OK;
    /* Re-sealing a changed set: the kept values are needed. */
    if (open_old(w, err))
        return err->code;
    json_object_foreach(w->plain, key, value)
    {
        const json_t *old = json_object_get(w->old_plain, key);
        if (strcmp(json_string_value(value), DF_CONNECTOR_SECRET_MASK) != 0)
            continue;
        if (!json_is_string(old))
            return df_error_set(err, DF_ERR_INVALID, "/secrets",
                                "connector %s: the stored secrets lack %s", w->name, key);
        json_object_set_new(w->plain, key, json_string(json_string_value(old)));
    }
    return DF_OK;
}

/* True when next is what is stored (then nothing is written). */
static bool unchanged(write_state_t *w)
{
    json_t *cmp;
    bool same;

    if (!w->row)
        return false;
    if (!w->keep_sealed) {
        df_error_t ignored;
        df_error_init(&ignored);
        if (json_object_size(w->plain) == 0 || PQgetisnull(w->row, 0, DF_CSTORE_COL_SEALED) ||
            open_old(w, &ignored) || !json_equal(w->plain, w->old_plain))
            return false;
    }
    cmp = json_deep_copy(w->next);
    if (json_object_size(w->next_view) > 0)
        json_object_set(cmp, "secrets", w->next_view);
    else
        json_object_del(cmp, "secrets");
    same = json_equal(cmp, w->stored);
    json_decref(cmp);
    return same;
}

static df_code_t seal(write_state_t *w, df_error_t *err)
{
    char aad[96], *text;
    df_code_t rc;

    if (w->keep_sealed || json_object_size(w->plain) == 0)
        return DF_OK;
    if (!w->keyring)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "DATAFLEET_SECRET_KEY",
                            "connector %s: inline secrets need a key to be sealed with: set "
                            "DATAFLEET_SECRET_KEY or DATAFLEET_SECRET_KEY_FILE (or give "
                            "{\"env\"} / {\"file\"} references)",
                            w->name);
    text = json_dumps(w->plain, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    df_cstore_aad(w->name, aad, sizeof(aad));
    rc = df_secret_seal(w->keyring, text, strlen(text), aad, &w->sealed, err);
    df_secret_free_str(text);
    return rc;
}

static df_code_t store(write_state_t *w, df_error_t *err)
{
    char *config = json_dumps(json_object_get(w->next, "config"), JSON_COMPACT);
    char *secrets_view = json_dumps(w->next_view, JSON_COMPACT);
    char *limits = json_object_get(w->next, "limits")
                       ? json_dumps(json_object_get(w->next, "limits"), JSON_COMPACT)
                       : NULL;
    char *retry = json_object_get(w->next, "retry")
                      ? json_dumps(json_object_get(w->next, "retry"), JSON_COMPACT)
                      : NULL;
    const char *sealed = w->sealed,
               *key_id = w->sealed ? df_secret_keyring_current_id(w->keyring) : NULL;
    const char *params[10];
    df_code_t rc;

    if (w->keep_sealed && w->row && !PQgetisnull(w->row, 0, DF_CSTORE_COL_SEALED)) {
        sealed = PQgetvalue(w->row, 0, DF_CSTORE_COL_SEALED);
        key_id = PQgetvalue(w->row, 0, DF_CSTORE_COL_KEY_ID);
    }
    params[0] = w->name;
    params[1] = json_string_value(json_object_get(w->next, "kind"));
    params[2] = json_string_value(json_object_get(w->next, "description"));
    params[3] = config;
    params[4] = secrets_view;
    params[5] = limits;
    params[6] = retry;
    params[7] = json_is_false(json_object_get(w->next, "enabled")) ? "false" : "true";
    params[8] = sealed;
    params[9] = key_id;
    if (!config || !secrets_view)
        rc = df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    else if (w->row)
        rc = df_pg_run(w->pg,
                       "UPDATE connectors SET kind = $2, description = $3, config = $4::jsonb,"
                       "       secrets_view = $5::jsonb, limits = $6::jsonb, retry = $7::jsonb,"
                       "       enabled = $8::boolean, secrets_ciphertext = convert_to($9, 'UTF8'),"
                       "       key_id = $10, updated_at = now()"
                       " WHERE name = $1",
                       10, params, NULL, err);
    else
        rc = df_pg_run(w->pg,
                       "INSERT INTO connectors (name, kind, description, config, secrets_view,"
                       "       limits, retry, enabled, secrets_ciphertext, key_id)"
                       " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb,"
                       "         $8::boolean, convert_to($9, 'UTF8'), $10)",
                       10, params, NULL, err);
    free(config);
    free(secrets_view);
    free(limits);
    free(retry);
    return rc;
}

/* The view of name as this transaction sees it. */
static df_code_t read_view(df_pg_t *pg, const char *name, json_t **view, df_error_t *err)
{
    const char *params[1] = { name };
    PGresult *res;

    res = df_pg_exec(pg, "SELECT " DF_CSTORE_COLUMNS " FROM connectors WHERE name = $1", 1, params,
                     err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no connector named \"%s\"", name);
    }
    *view = df_cstore_row_view(res, 0, 0);
    PQclear(res);
    return DF_OK;
}

/* Build next from the input and what is stored. */
static df_code_t build_next(write_state_t *w, write_mode_t mode, const json_t *input,
                            df_error_t *err)
{
    const char *given = json_string_value(json_object_get(input, "name"));

    if (mode == MODE_UPDATE) {
        if (json_object_get(input, "name") && (!given || strcmp(given, w->name) != 0))
            return df_error_set(err, DF_ERR_INVALID, "/name",
                                "/name: expected \"%s\" or nothing: a connector cannot be renamed",
                                w->name);
        w->next = merge_patch(json_deep_copy(w->stored), input);
    } else {
        if (mode == MODE_REPLACE && json_object_get(input, "name") &&
            (!given || strcmp(given, w->name) != 0))
            return df_error_set(err, DF_ERR_INVALID, "/name",
                                "/name: expected \"%s\", the connector replaced", w->name);
        w->next = json_deep_copy(input);
        if (mode == MODE_REPLACE)
            json_object_set_new(w->next, "name", json_string(w->name));
        if (!json_object_get(w->next, "secrets") && json_object_get(w->stored, "secrets"))
            json_object_set(w->next, "secrets", json_object_get(w->stored, "secrets"));
    }
    if (!w->next)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    /* A view written back: its read-only members are not the definition's. */
    json_object_del(w->next, "key_id");
    json_object_del(w->next, "created_at");
    json_object_del(w->next, "updated_at");
    normalise(w->next);
    return df_connector_check(w->next, err);
}

static df_code_t write_def(df_pg_t *pg, const df_secret_keyring_t *keyring, write_mode_t mode,
                           const char *name, const json_t *input, df_connector_write_t *what,
                           json_t **view, df_error_t *err)
{
    write_state_t w = { .pg = pg, .keyring = keyring, .name = name };
    const char *params[1];

    if (view)
        *view = NULL;
    if (!json_is_object(input))
        return df_error_set(err, DF_ERR_INVALID, "/", "/: expected a JSON object");
    if (mode == MODE_CREATE || mode == MODE_APPLY) {
        /* The name comes from the definition: check it before using it. */
        json_t *copy = json_deep_copy(input);
        df_code_t rc;
        json_object_del(copy, "key_id");
        json_object_del(copy, "created_at");
        json_object_del(copy, "updated_at");
        normalise(copy);
        rc = df_connector_check(copy, err);
        json_decref(copy);
        if (rc)
            return rc;
        w.name = json_string_value(json_object_get(input, "name"));
    }
    if (!w.name)
        return df_error_set(err, DF_ERR_INVALID, "name", "expected a connector name");
    params[0] = w.name;
    if (df_pg_begin(pg, err))
        return err->code;
    w.row =
        df_pg_exec(pg, "SELECT " DF_CSTORE_COLUMNS " FROM connectors WHERE name = $1 FOR UPDATE", 1,
                   params, err);
    if (!w.row)
        goto fail;
    if (PQntuples(w.row) == 0) {
        PQclear(w.row);
        w.row = NULL;
        if (mode == MODE_REPLACE || mode == MODE_UPDATE) {
            df_error_set(err, DF_ERR_NOT_FOUND, "name", "no connector named \"%s\"", w.name);
            goto fail;
        }
    } else if (mode == MODE_CREATE) {
        df_error_set(err, DF_ERR_CONFLICT, "/name", "a connector named \"%s\" exists", w.name);
        goto fail;
    }
    w.stored = w.row ? df_cstore_row_definition(w.row, 0, 0) : json_object();
    if (build_next(&w, mode, input, err) || split_secrets(&w, err))
        goto fail;
    if (unchanged(&w)) {
        if (what)
            *what = DF_CONNECTOR_UNCHANGED;
    } else if (seal(&w, err) || store(&w, err)) {
        goto fail;
    } else if (what) {
        *what = w.row ? DF_CONNECTOR_UPDATED : DF_CONNECTOR_CREATED;
    }
    if ((view && read_view(pg, w.name, view, err)) || df_pg_commit(pg, err))
        goto fail;
    write_state_free(&w);
    return DF_OK;
fail:
    df_pg_rollback(pg, NULL);
    write_state_free(&w);
    if (view) {
        json_decref(*view);
        *view = NULL;
    }
    return err->code;
}

df_code_t df_connector_store_create(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    const json_t *def, json_t **view, df_error_t *err)
{
    return write_def(pg, keyring, MODE_CREATE, NULL, def, NULL, view, err);
}

df_code_t df_connector_store_replace(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                     const char *name, const json_t *def,
                                     df_connector_write_t *what, json_t **view, df_error_t *err)
{
    return write_def(pg, keyring, MODE_REPLACE, name, def, what, view, err);
}

df_code_t df_connector_store_update(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    const char *name, const json_t *patch,
                                    df_connector_write_t *what, json_t **view, df_error_t *err)
{
    return write_def(pg, keyring, MODE_UPDATE, name, patch, what, view, err);
}

df_code_t df_connector_store_apply(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                   const json_t *def, df_connector_write_t *what, json_t **view,
                                   df_error_t *err)
{
    return write_def(pg, keyring, MODE_APPLY, NULL, def, what, view, err);
}

/* ---- reading and deleting -------------------------------------------------- */

df_code_t df_connector_store_delete(df_pg_t *pg, const char *name, json_t **view, df_error_t *err)
{
    const char *params[1] = { name };
    PGresult *res;

    if (view)
        *view = NULL;
    res = df_pg_exec(pg, "DELETE FROM connectors WHERE name = $1 RETURNING " DF_CSTORE_COLUMNS, 1,
                     params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_error_set(err, DF_ERR_NOT_FOUND, "name", "no connector named \"%s\"", name);
    }
    if (view)
        *view = df_cstore_row_view(res, 0, 0);
    PQclear(res);
    return DF_OK;
}

df_code_t df_connector_store_get(df_pg_t *pg, const char *name, json_t **view, df_error_t *err)
{
    *view = NULL;
    return read_view(pg, name, view, err);
}

df_code_t df_connector_store_list(df_pg_t *pg, json_t **views, df_error_t *err)
{
    PGresult *res;

    *views = NULL;
    res =
        df_pg_exec(pg, "SELECT " DF_CSTORE_COLUMNS " FROM connectors ORDER BY name", 0, NULL, err);
    if (!res)
        return err->code;
    *views = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(*views, df_cstore_row_view(res, i, 0));
    PQclear(res);
    return DF_OK;
}
