/* powerbi_dataset: the push dataset an export writes into (see
 * powerbi_dataset.c): found by name or id, created when missing, checked
 * to have the export's table and columns. */
#ifndef DF_POWERBI_DATASET_H
#define DF_POWERBI_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "powerbi_api.h"
#include "powerbi_rows.h"

#define DF_POWERBI_DATASET_ID_MAX 128

/* An export's target. The caller sets the first fields (borrowed) and
 * calls df_powerbi_target_open, which fills the rest; resp is scratch
 * (release with df_http_response_free). */
typedef struct df_powerbi_target {
    df_task_ctx_t *ctx; /* Redis (the create lock), should_stop */
    df_powerbi_client_t *client;
    const df_powerbi_columns_t *cols; /* the target columns */
    const char *dataset;              /* target.dataset: a name, or an id (a GUID) */
    const char *table;
    df_http_response_t resp;
    char dataset_id[DF_POWERBI_DATASET_ID_MAX];
    bool created;     /* this export created the dataset (its table is empty) */
    int64_t fifo_cap; /* rows the table keeps (basicFIFO), 0: no trimming */
} df_powerbi_target_t;

/* Find the dataset: by id when t->dataset is a GUID (unknown: PERMANENT
 * with Power BI's 404), else by name, created when missing (POST
 * datasets?defaultRetentionPolicy=basicFIFO with the table and its typed
 * columns) under the fleet lock "df:lock:powerbi:dataset:<hash>". An
 * existing dataset must be a push dataset with the table and every target
 * column (else PERMANENT "invalid_target"). Other outcomes as
 * df_powerbi_send gives them. */
df_outcome_kind_t df_powerbi_target_open(df_powerbi_target_t *t, df_outcome_t *out);

/* path = "datasets/<id>[/tables/<table>][/<tail>]" with the segments
 * percent-encoded; false when it does not fit. */
bool df_powerbi_dataset_path(char *path, size_t len, const char *id, const char *table,
                             const char *tail);

/* Set a PERMANENT "invalid_target" outcome naming field; fmt takes one
 * string, arg. Returns the kind. */
df_outcome_kind_t df_powerbi_target_invalid(df_outcome_t *out, const char *field, const char *fmt,
                                            const char *arg);

#endif
