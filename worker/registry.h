/* registry: the connectors a worker knows by name: their kind's operations,
 * configuration, limits and secrets. The built-in `noop` connector is always
 * there; more come from a connectors file (--connectors FILE, validated
 * against schemas/connector.v1.schema.json) whose secrets are inline or
 * references {"env": NAME} / {"file": PATH} resolved at load. Every secret
 * value is registered with the log redaction. Loaded once at start-up;
 * lookups are thread-safe (read-only after load). */
#ifndef DF_REGISTRY_H
#define DF_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>

#include "connector.h"
#include "retry.h"

typedef struct df_connector_def {
    const char *name;
    const char *kind;
    const df_connector_ops_t *ops; /* NULL: this worker has no implementation of the kind */
    const json_t *config;          /* borrowed; an object (empty when absent) */
    const json_t *secrets;         /* borrowed; name -> resolved secret string */
    const json_t *limits;          /* borrowed; may be NULL */
    const json_t *retry;           /* borrowed; the definition's `retry` object, may be NULL */
    bool enabled;
} df_connector_def_t;

/* Load connectors from a JSON file: an array of connector objects, or
 * {"connectors": [...]}. Replaces what an earlier load registered. Errors
 * name the file, the connector and the JSON path (DF_ERR_INVALID), or the
 * secret reference that cannot be resolved (never its value). */
df_code_t df_registry_load_file(const char *path, df_error_t *err);

/* Find a connector by name. Returns false when none is registered; *out
 * then is untouched. The strings and JSON stay valid until the next load or
 * df_registry_clear. */
bool df_registry_find(const char *name, df_connector_def_t *out);

/* Forget the loaded connectors (the built-in ones stay). */
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
