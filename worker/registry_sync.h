/* registry_sync: keeps a worker's connectors in step with the registry in
 * PostgreSQL (common/df_connector_store.h): a first load at start-up, then
 * a thread that reads the registry's version every poll interval and
 * reloads (df_registry_load_pg) when it moved, so changes reach running
 * workers within seconds without a restart. PostgreSQL being down, or not
 * migrated yet, is logged (once per distinct problem) and retried; the
 * connectors loaded last stay in use meanwhile. */
#ifndef DF_REGISTRY_SYNC_H
#define DF_REGISTRY_SYNC_H

#include <stdint.h>

#include "df_error.h"
#include "df_secret.h"

typedef struct df_registry_sync df_registry_sync_t;

/* Try a first load from database_url (borrowed, like keyring, which may be
 * NULL: they must outlive the sync), then start the polling thread
 * (every poll_ms >= 1). A first load that fails is only logged: the thread
 * keeps trying. Returns NULL with err set when the thread cannot start.
 * Caller stops it with df_registry_sync_stop. */
df_registry_sync_t *df_registry_sync_start(const char *database_url,
                                           const df_secret_keyring_t *keyring, int64_t poll_ms,
                                           df_error_t *err);

/* Stop the thread and close its connection. NULL is a no-op. The
 * connectors loaded stay registered. */
void df_registry_sync_stop(df_registry_sync_t *sync);

#endif
