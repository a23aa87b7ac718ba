/* powerbi: the `powerbi` connector kind: exports into Power BI push
 * datasets (found by name, created when missing) and probes, over the
 * Power BI REST API with an Entra ID client-credentials token. See
 * docs/CONNECTORS.md ("Power BI") for settings, limits and guarantees. */
#ifndef DF_POWERBI_H
#define DF_POWERBI_H

#include "connector.h"

extern const df_connector_ops_t df_connector_powerbi;

#endif
