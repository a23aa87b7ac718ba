/* df_connector_store: the connector registry in PostgreSQL (the connectors
 * table of schemas/sql/001_init.sql and 006_connectors_registry.sql), used
 * by the REST API, `datafleet-scheduler connectors` and the workers.
 *
 * A definition is a JSON object valid under schemas/connector.v1.schema.json.
 * Its `secrets` are of two sorts:
 *   - inline values ("client_secret": "s3cr3t"): sealed together, as one
 *     JSON object, with df_secret under the keyring's current key (aad
 *     "connector:<name>") into secrets_ciphertext, with key_id naming the
 *     key. Writing inline secrets needs a keyring.
 *   - references ({"env": NAME} / {"file": PATH}): not secret, stored as
 *     given; each worker resolves them itself when it loads the connector.
 *
 * Views: what people and the API see of a stored connector: the definition
 * with every inline secret value replaced by "***" (references as given),
 * plus "created_at", "updated_at" (RFC 3339 UTC) and "key_id" (null when
 * nothing is sealed). A view never holds a secret value, and reading views
 * needs no keyring.
 *
 * Writing a view back: in create, replace, update and apply, a secret whose
 * value is exactly "***" stands for the value stored under that name (so a
 * client can GET, edit and PUT a view without knowing the secrets); a
 * definition without a `secrets` member keeps the stored secrets (give
 * "secrets": {} to remove them all); a view's read-only members (key_id,
 * created_at, updated_at) are ignored.
 *
 * Errors: DF_ERR_INVALID for a definition that is not valid (err->field is
 * the JSON Pointer of the offending value, e.g. "/config/tenant_id", and
 * the message says what was expected), DF_ERR_NOT_FOUND for a name that is
 * not stored, DF_ERR_CONFLICT for creating a name that is, DF_ERR_UNSUPPORTED
 * when inline secrets must be sealed or opened and keyring is NULL (the
 * process has no DATAFLEET_SECRET_KEY: a server-side problem), DF_ERR_PG
 * from PostgreSQL (a missing table's SQLSTATE 42P01 means "run the
 * migrations"). No error message carries a secret value.
 *
 * Every function takes a df_pg_t (one thread at a time, as df_pg says) and
 * runs its own transaction(s): do not call them inside a transaction of
 * your own. keyring may be NULL where said; it is only read. */
#ifndef DF_CONNECTOR_STORE_H
#define DF_CONNECTOR_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "df_error.h"
#include "df_pg.h"
#include "df_secret.h"

/* What an inline secret looks like in a view. */
#define DF_CONNECTOR_SECRET_MASK "***"

/* What a write did. */
typedef enum df_connector_write {
    DF_CONNECTOR_CREATED = 1,
    DF_CONNECTOR_UPDATED = 2,
    DF_CONNECTOR_UNCHANGED = 3, /* the stored definition and secrets were equal: nothing written */
} df_connector_write_t;

/* Check a definition (borrowed) without storing it: the connector schema,
 * retry cap_ms not below base_ms, and a name other than the built-in
 * "noop". Returns DF_OK or DF_ERR_INVALID naming the JSON path (field and
 * message start). */
df_code_t df_connector_check(const json_t *def, df_error_t *err);

/* A copy of a definition (borrowed; need not be valid) with every inline
 * secret value replaced by "***" and references kept: safe to log, to
 * answer with, and to put in audit_log details. New reference (caller
 * decrefs); NULL when def is not an object or out of memory. */
json_t *df_connector_redact(const json_t *def);

/* Store a new connector. def is borrowed. DF_ERR_CONFLICT when the name is
 * taken. *view (view may be NULL) gets the stored connector's view (new
 * reference) on success. */
df_code_t df_connector_store_create(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    const json_t *def, json_t **view, df_error_t *err);

/* Replace the stored connector `name` by def (borrowed; its "name" must be
 * `name`): fields def leaves out are gone, except `secrets` (see above).
 * DF_ERR_NOT_FOUND when not stored. *what (may be NULL) says whether
 * anything changed; *view (may be NULL) gets the new view. */
df_code_t df_connector_store_replace(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                     const char *name, const json_t *def,
                                     df_connector_write_t *what, json_t **view, df_error_t *err);

/* Partial update: patch (borrowed) is a JSON merge patch (RFC 7386) over
 * the stored definition: members given replace, null removes (a top-level
 * "name" other than `name`, or null, is refused: no renames), objects
 * merge member by member. So {"enabled": false} disables, {"secrets":
 * {"token": "new"}} changes one secret and keeps the others, {"secrets":
 * {"token": null}} removes one. The result is checked as a whole.
 * DF_ERR_NOT_FOUND when not stored. */
df_code_t df_connector_store_update(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    const char *name, const json_t *patch,
                                    df_connector_write_t *what, json_t **view, df_error_t *err);

/* Create or replace (GitOps apply): def (borrowed) becomes the stored
 * definition of its name. *what: CREATED, UPDATED or UNCHANGED (then
 * nothing is written, so workers do not reload). */
df_code_t df_connector_store_apply(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                   const json_t *def, df_connector_write_t *what, json_t **view,
                                   df_error_t *err);

/* Delete a connector. DF_ERR_NOT_FOUND when not stored. *view (may be
 * NULL) gets the view of what was deleted. */
df_code_t df_connector_store_delete(df_pg_t *pg, const char *name, json_t **view, df_error_t *err);

/* The view of one connector (new reference in *view), DF_ERR_NOT_FOUND. */
df_code_t df_connector_store_get(df_pg_t *pg, const char *name, json_t **view, df_error_t *err);

/* The views of all connectors, by name (a new array in *views). */
df_code_t df_connector_store_list(df_pg_t *pg, json_t **views, df_error_t *err);

/* The registry's version: grows with every committed change of the
 * connectors table (a trigger), so a cheap poll tells when to reload. */
df_code_t df_connector_store_version(df_pg_t *pg, int64_t *version, df_error_t *err);

/* What df_connector_store_load returns. */
typedef struct df_connector_set {
    /* Array of definitions, by name, with inline secrets opened (plain
     * strings: never log them) and references as stored (unresolved). */
    json_t *defs;
    /* Array of {"name", "error"} for connectors whose secrets could not be
     * opened (no keyring, a key id the keyring lacks, tampered text); they
     * are not in defs. The errors hold no secret. */
    json_t *failed;
    int64_t version; /* df_connector_store_version of the same snapshot */
} df_connector_set_t;

/* Every connector, secrets opened with keyring (may be NULL: connectors
 * with sealed secrets then land in failed), read in one statement together
 * with the version. On success the caller owns *out and frees it with
 * df_connector_set_free; on failure *out is empty. */
df_code_t df_connector_store_load(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                  df_connector_set_t *out, df_error_t *err);

/* Zero the secret strings of set->defs and free everything; the struct is
 * left empty (reusable). NULL is a no-op. */
void df_connector_set_free(df_connector_set_t *set);

/* Zero the bytes of every string value of a secrets object (borrowed;
 * jansson strings are overwritten in place) before it is freed. NULL and
 * non-objects are no-ops. */
void df_connector_secrets_wipe(json_t *secrets);

/* Key rotation: re-seal, under the keyring's current key, the secrets of
 * every connector sealed with another key. One transaction per connector
 * (each row is locked, checked again and rewritten), so a run stopped
 * halfway is finished by running it again, and running it when nothing is
 * left does nothing. *count (may be NULL) gets the number of connectors
 * re-sealed by this call (also when it fails halfway). Fails at the first
 * connector it cannot open (DF_ERR_INVALID naming the connector and its key
 * id: the keyring must still hold the old key), leaving the rest as they
 * were. updated_at is kept (the definition did not change). */
df_code_t df_connector_store_rotate(df_pg_t *pg, const df_secret_keyring_t *keyring,
                                    long long *count, df_error_t *err);

#endif
