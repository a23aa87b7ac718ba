/* df_connector_store_internal: what df_connector_store.c and
 * df_connector_store_load.c share: the columns every query reads, in
 * order, and the row helpers. Not installed. */
#ifndef DF_CONNECTOR_STORE_INTERNAL_H
#define DF_CONNECTOR_STORE_INTERNAL_H

#include <jansson.h>
#include <libpq-fe.h>

#include "df_error.h"
#include "df_secret.h"

/* The columns of a connectors row, as text, in the order of the
 * DF_CSTORE_COL_* indices (relative to where they start in a result). */
#define DF_CSTORE_COLUMNS                                                                   \
    "name, kind, description, config::text, secrets_view::text, limits::text, retry::text," \
    " enabled, convert_from(secrets_ciphertext, 'UTF8'), key_id,"                           \
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"         \
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum {
    DF_CSTORE_COL_NAME,
    DF_CSTORE_COL_KIND,
    DF_CSTORE_COL_DESCRIPTION,
    DF_CSTORE_COL_CONFIG,
    DF_CSTORE_COL_SECRETS_VIEW,
    DF_CSTORE_COL_LIMITS,
    DF_CSTORE_COL_RETRY,
    DF_CSTORE_COL_ENABLED,
    DF_CSTORE_COL_SEALED,
    DF_CSTORE_COL_KEY_ID,
    DF_CSTORE_COL_CREATED_AT,
    DF_CSTORE_COL_UPDATED_AT,
};

/* The definition of row (columns from base on): secrets as secrets_view
 * (inline ones "***"). New reference. */
json_t *df_cstore_row_definition(const PGresult *res, int row, int base);

/* The view: the definition plus key_id, created_at, updated_at. */
json_t *df_cstore_row_view(const PGresult *res, int row, int base);

/* Open the row's sealed secrets: *plain gets a new object of inline
 * values ({} when nothing is sealed); wipe it before freeing. Errors name
 * the connector and its key id, never a value. */
df_code_t df_cstore_open_row(const df_secret_keyring_t *keyring, const PGresult *res, int row,
                             int base, json_t **plain, df_error_t *err);

/* The additional data secrets of connector name are sealed with. */
void df_cstore_aad(const char *name, char *aad, size_t len);

#endif
