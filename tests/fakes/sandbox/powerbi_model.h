/* powerbi_model: push dataset schemas (CreateDatasetRequest, Table,
 * Column of specs/powerbi/swagger.json) checked against the push dataset
 * limits, row validation against a table's columns, and row storage: each
 * accepted row kept as its compact JSON text, in arrival order. */
#ifndef SB_POWERBI_MODEL_H
#define SB_POWERBI_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "clock.h"
#include "ids.h"
#include "sandbox.h"

typedef enum pbi_type {
    PBI_INT64,
    PBI_DOUBLE,
    PBI_BOOLEAN,
    PBI_DATETIME,
    PBI_STRING,
    PBI_DECIMAL,
} pbi_type_t;

typedef struct pbi_column {
    char *name;
    char *data_type; /* as the client spelled it */
    pbi_type_t type;
} pbi_column_t;

typedef struct pbi_table {
    char *name;
    pbi_column_t *columns;
    size_t n_columns;
    char *text; /* row texts, each NUL-terminated, back to back */
    size_t text_len, text_cap;
    size_t *offsets; /* start of each row in text */
    size_t n_rows, cap_rows;
    size_t trimmed; /* rows dropped by a basicFIFO retention policy */
} pbi_table_t;

typedef struct pbi_dataset {
    char id[SB_UUID_BUF];
    char *group_id; /* NULL: "My workspace" */
    char *name;
    char *default_mode;
    char *retention; /* "None" or "basicFIFO" */
    char *configured_by;
    pbi_table_t *tables;
    size_t n_tables;
    sb_window_t posts_minute;
    sb_window_t posts_hour;
    sb_window_t rows_hour;
    int64_t rows_posted; /* rows accepted since creation */
    int64_t serial;      /* unique among the datasets ever created */
    int64_t pending;     /* POST rows requests in progress now ... */
    int64_t max_pending; /* ... at most at once, and refused for being one too many */
    int64_t pending_refused;
    struct pbi_dataset *next;
} pbi_dataset_t;

/* Why a body was refused: BINDING is Power BI's model binding
 * ("BadRequest" with details), INVALID a rule of the push datasets
 * ("InvalidRequest"). */
typedef enum pbi_error_kind {
    PBI_ERR_BINDING = 1,
    PBI_ERR_INVALID = 2,
} pbi_error_kind_t;

typedef struct pbi_error {
    pbi_error_kind_t kind;
    char message[1024];
} pbi_error_t;

/* A dataset from a PostDataset body; extra_keys (NULL-terminated, may be
 * NULL) are further top-level names allowed (the control API's). Returns
 * a new dataset (free with pbi_dataset_free) without id, group or
 * retention, or NULL with err filled. */
pbi_dataset_t *pbi_dataset_parse(const json_t *body, const sb_config_t *cfg,
                                 const char *const *extra_keys, pbi_error_t *err);
void pbi_dataset_free(pbi_dataset_t *ds);

/* Parse a Table body into out (zeroed by the caller; freed with
 * pbi_table_free). false with err filled. */
bool pbi_table_parse(const json_t *body, const sb_config_t *cfg, pbi_table_t *out,
                     pbi_error_t *err);
void pbi_table_free(pbi_table_t *table);

/* Replace table's columns with those of from (moved; from is left empty). */
void pbi_table_take_columns(pbi_table_t *table, pbi_table_t *from);

/* The table named name (case-insensitive), or NULL. Borrowed. */
pbi_table_t *pbi_dataset_table(const pbi_dataset_t *ds, const char *name);

/* Check every row of rows (a JSON array) against table's columns and the
 * string limit. false with err naming the row and column. */
bool pbi_rows_check(const pbi_table_t *table, const json_t *rows, const sb_config_t *cfg,
                    pbi_error_t *err);

/* Store rows (already checked) after the table's rows; with fifo_max > 0
 * drop the oldest beyond fifo_max. false on allocation failure (then
 * nothing is stored). */
bool pbi_rows_append(pbi_table_t *table, const json_t *rows, size_t fifo_max);
void pbi_rows_clear(pbi_table_t *table);

/* {"name","columns":[{"name","dataType"}]} (new reference). */
json_t *pbi_table_json(const pbi_table_t *table);

#endif
