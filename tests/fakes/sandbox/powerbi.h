/* powerbi: Power BI REST push datasets (specs/powerbi/swagger.json, tag
 * PushDatasets, paths under /v1.0/myorg[/groups/{groupId}]/datasets),
 * with the limits of "Power BI REST API push datasets limitations":
 * rows per POST, POST rows requests per minute, rows per hour, tables and
 * columns per dataset, characters per string value. Rows are kept in
 * memory per table, in arrival order, for inspection. */
#ifndef SB_POWERBI_H
#define SB_POWERBI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sandbox_http.h"

sb_powerbi_t *sb_powerbi_new(void);
void sb_powerbi_destroy(sb_powerbi_t *pbi);
void sb_powerbi_reset(sb_powerbi_t *pbi);

/* Whether the request is for a Power BI route; fills route when so. */
bool sb_powerbi_match(const sb_request_t *req, sb_route_t *route);

/* The caller's Entra token: false (res answered as Power BI does) when it
 * is missing, unknown or expired. */
bool sb_powerbi_authorize(sb_state_t *st, const sb_request_t *req, sb_response_t *res);

/* Power BI's error body {"error":{"code","message"}} with status. */
void sb_powerbi_error(sb_response_t *res, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Control API: create a dataset from a PostDataset body plus optional
 * "id", "group_id" and "defaultRetentionPolicy". Answers res like the
 * API would (201 with the dataset, or the vendor's error). */
void sb_powerbi_create(sb_state_t *st, const json_t *spec, sb_response_t *res);

/* Inspection: every dataset with its tables, columns and row counts
 * (new reference). */
json_t *sb_powerbi_inspect(const sb_powerbi_t *pbi);

/* Inspection: the rows of one table in arrival order as JSON text
 * '{"dataset":..,"table":..,"row_count":N,"rows":[...]}' (caller frees),
 * or NULL when the dataset or table does not exist. */
char *sb_powerbi_rows_text(const sb_powerbi_t *pbi, const char *dataset_id, const char *table,
                           size_t *len);

#endif
