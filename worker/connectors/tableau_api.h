/* tableau_api: how the tableau connector reads Tableau's answers, without
 * I/O, so each rule can be tested alone (tests/unit/tableau_api_test.c):
 * Tableau's error document, a Query Job's finishCode, the shape of a LUID,
 * the lineage namespace of a site, and the Metadata API answer turned into
 * result.lineage's graph (docs/LINEAGE.md, "tableau"). */
#ifndef DF_TABLEAU_API_H
#define DF_TABLEAU_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The Metadata API GraphQL query the lineage task sends. */
extern const char df_tableau_lineage_query[];

/* Tableau's error document {"error": {"summary", "detail", "code"}} as
 * "<code> <summary>: <detail>" into buf (always terminated); another body
 * is shortened as df_http_vendor_message does. body is borrowed. */
void df_tableau_message(const char *body, size_t body_len, char *buf, size_t len);

/* A Query Job's finishCode as a number (Tableau's JSON renders it as a
 * string): 0 succeeded, 1 failed, 2 cancelled; -1 while the job has not
 * finished (absent or empty). job is the "job" object, borrowed. */
int df_tableau_finish_code(const json_t *job);

/* Whether s has a LUID's shape (8-4-4-4-12 hexadecimal digits). */
bool df_tableau_is_luid(const char *s);

/* "tableau://<host[:port]>/<site contentUrl>" into ns (always terminated):
 * the host of server_url (its first server_len bytes, which hold a
 * scheme), without user info. */
void df_tableau_namespace(const char *server_url, size_t server_len, const char *site, char *ns,
                          size_t len);

/* The graph of a Metadata API answer's "data" object (borrowed), in ns:
 * tables/<luid> -feeds-> datasources/<luid> -feeds-> workbooks/<luid>
 * -contains-> workbooks/<luid>/sheets/<id>. Items without an id are
 * skipped; a node met twice (a data source under two workbooks) is one
 * node, its first attributes kept. Returns a new reference to
 * {"nodes": [...], "edges": [...]} in result.lineage's form (caller
 * decrefs), or NULL when out of memory. */
json_t *df_tableau_lineage_graph(const json_t *data, const char *ns);

#endif
