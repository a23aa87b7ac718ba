/* registry: the connectors a worker knows by name: their kind's operations
 * and their configuration. The built-in `noop` connector is always there.
 * Thread-safe for lookups. */
#ifndef DF_REGISTRY_H
#define DF_REGISTRY_H

#include <jansson.h>

#include "connector.h"

typedef struct df_connector_def {
    const char *name;
    const df_connector_ops_t *ops;
    const json_t *config; /* borrowed; may be NULL */
} df_connector_def_t;

/* Find a connector by name. Returns false when none is registered; *out
 * then is untouched. The strings and config stay valid for the process. */
bool df_registry_find(const char *name, df_connector_def_t *out);

#endif
