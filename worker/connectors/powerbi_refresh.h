/* powerbi_refresh: the `refresh` and `lineage` operations of the powerbi
 * connector: a dataset refresh polled through the scheduler, one per
 * dataset fleet-wide (worker/refresh_guard.h), and the admin scanner's
 * lineage (powerbi_scan.c). docs/CONNECTORS.md ("Power BI refresh",
 * "Power BI lineage"). */
#ifndef DF_POWERBI_REFRESH_H
#define DF_POWERBI_REFRESH_H

#include "connector.h"

/* params: dataset (id or name), workspace (or group; default
 * config.workspace_id), notify_option (NoNotification, MailOnFailure,
 * MailOnCompletion; default NoNotification). */
df_outcome_kind_t df_powerbi_refresh(df_task_ctx_t *ctx, df_outcome_t *out);

/* params: workspaces (workspace ids; default [config.workspace_id]).
 * Result: {scan_id, workspaces, lineage: {nodes, edges}}. */
df_outcome_kind_t df_powerbi_lineage(df_task_ctx_t *ctx, df_outcome_t *out);

#endif
