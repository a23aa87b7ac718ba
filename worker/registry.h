/* registry: the connectors a worker knows by name: their kind's operations,
 * configuration, limits and secrets. The built-in `noop` connector is always
 * there; more come from a connectors file (--connectors FILE, validated
 * against schemas/connector.v1.schema.json) whose secrets are inline or
 * references {"env": NAME} / {"file": PATH} resolved at load, and from the
 * registry in PostgreSQL (df_registry_load_pg, kept fresh by
 * registry_sync.c). A file's connector wins over PostgreSQL's of the same
 * name. Every secret value is registered with the log redaction.
 *
 * What lookups see is a snapshot: each load installs a new one, and a
 * definition found holds a reference to the snapshot it came from, so a
 * task keeps its definition (strings, JSON) while a reload installs the
 * next one; df_registry_release drops the reference (the last one zeroes
 * the snapshot's secrets and frees it). All functions are thread-safe. */
#ifndef DF_REGISTRY_H
#define DF_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>

#include "connector.h"
#include "df_connector_store.h"
#include "df_pg.h"
#include "df_secret.h"
#include "retry.h"

struct df_registry_snapshot;

typedef struct df_connector_def {
    const char *name;
    const char *kind;
    const df_connector_ops_t *ops; /* NULL: this worker has no implementation of the kind */
    const json_t *config;          /* borrowed; an object (empty when absent) */
    const json_t *secrets;         /* borrowed; name -> resolved secret string */
    const json_t *limits;          /* borrowed; may be NULL */
    const json_t *retry;           /* borrowed; the definition's `retry` object, may be NULL */
    bool enabled;
    /* Non-NULL: the connector is registered but cannot be used here (its
     * secrets could not be opened or resolved); the reason, never a secret. */
    const char *unavailable;
    struct df_registry_snapshot *snapshot; /* held reference; NULL for built-ins */
} df_connector_def_t;

/* Load connectors from a JSON file: an array of connector objects, or
 * {"connectors": [...]}. Replaces what an earlier load registered. Errors
 * name the file, the connector and the JSON path (DF_ERR_INVALID), or the
 * secret reference that cannot be resolved (never its value). */
df_code_t df_registry_load_file(const char *path, df_error_t *err);

/* Load the connectors of PostgreSQL's registry (df_connector_store_load
 * with keyring, which may be NULL), resolve their references, and install
 * them with the file's. A connector whose secrets cannot be opened or
 * resolved is installed as unavailable (its tasks fail saying why) and
 * logged. *version (may be NULL) gets the registry version loaded. On
 * failure (PostgreSQL) what was installed stays. */
df_code_t df_registry_load_pg(df_pg_t *pg, const df_secret_keyring_t *keyring, int64_t *version,
                              df_error_t *err);

/* True once df_registry_load_pg succeeded (or when it is not used:
 * df_registry_expect_pg(false)). */
bool df_registry_pg_ready(void);

/* Say whether this process loads connectors from PostgreSQL (the worker
 * sets it before its first load, so lookups of unknown names can wait for
 * that load). */
void df_registry_expect_pg(bool expect);

/* Find a connector by name. Returns false when none is registered; *out
 * then is untouched. On true, *out holds a reference to the current
 * snapshot: its strings and JSON stay valid until df_registry_release(out),
 * whatever is loaded meanwhile. */
bool df_registry_find(const char *name, df_connector_def_t *out);

/* Drop the reference a found definition holds (then *def is not to be
 * used). NULL, built-ins and released definitions are no-ops. */
void df_registry_release(df_connector_def_t *def);

/* Forget the loaded connectors, of the file and of PostgreSQL (the
 * built-in ones stay; definitions still held stay valid). */
void df_registry_clear(void);

/* The implementation of a kind compiled into this worker, or NULL. */
const df_connector_ops_t *df_registry_kind_ops(const char *kind);

/* The retry defaults of a kind (df_retry_fallback for a kind without
 * defaults of its own). Never NULL. */
const df_retry_defaults_t *df_registry_kind_retry(const char *kind);

/* The retry policy of type tasks (may be NULL) on connector def: its kind's
 * defaults overridden by the definition's `retry` (docs/RETRIES.md). */
void df_registry_retry_policy(const df_connector_def_t *def, const char *type,
                              df_retry_policy_t *out);

#endif
