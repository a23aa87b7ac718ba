/* registry: connector lookup by name (see registry.h). Until the registry
 * in PostgreSQL lands, the built-in connectors are the only ones. */
#include "registry.h"

#include <string.h>

static const df_connector_def_t builtin[] = {
    { "noop", &df_connector_noop, NULL },
};

bool df_registry_find(const char *name, df_connector_def_t *out)
{
    for (size_t i = 0; name && i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        if (strcmp(builtin[i].name, name) == 0) {
            *out = builtin[i];
            return true;
        }
    }
    return false;
}
