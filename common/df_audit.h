/* df_audit: who changed what, in PostgreSQL's audit_log (schemas/sql/
 * 001_init.sql): the REST API and datafleet-scheduler's commands record
 * each change of connectors, schedules, tokens and cancellations here.
 *
 * audit_log never holds a secret: pass details already redacted (for a
 * connector definition, df_connector_redact). As a second line, every
 * "secrets" object found at any depth of details has its string values
 * replaced by "***" before the row is written. */
#ifndef DF_AUDIT_H
#define DF_AUDIT_H

#include <jansson.h>
#include <stddef.h>

#include "df_error.h"
#include "df_pg.h"

/* Insert one audit_log row (at = now()). actor (e.g. "cli:alice",
 * "token:ci-deploy") and action (e.g. "connector.create") are required;
 * target_kind ("connector"), target (its name), details (borrowed; a JSON
 * value) and remote_addr may be NULL. Returns DF_OK, DF_ERR_INVALID for a
 * missing actor or action, or DF_ERR_PG. Runs in the caller's transaction
 * when one is open (so a change and its audit row commit together). */
df_code_t df_audit_record(df_pg_t *pg, const char *actor, const char *action,
                          const char *target_kind, const char *target, const json_t *details,
                          const char *remote_addr, df_error_t *err);

/* The actor of a command-line tool: "cli:<user>" with $USER, else the
 * login name of the uid, else "cli:uid-<n>". Written to buf; returns it. */
const char *df_audit_cli_actor(char *buf, size_t len);

#endif
