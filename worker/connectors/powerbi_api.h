/* powerbi_api: the Power BI REST client of the powerbi connector: the
 * connector's settings, an Entra access token from df_auth (shared by the
 * fleet through Redis), requests under the API base (My workspace or
 * groups/{workspace_id}) with the task's traceparent, and the mapping of
 * Power BI's answers to outcomes: 401 (and 403 TokenExpired, what Power BI
 * answers for an expired token) refresh the token once then fail `auth`;
 * 429 and 5xx are retried in place while the wait is short, then handed
 * back as a retryable outcome with retry_after_ms; other 4xx fail
 * permanently with Power BI's message. */
#ifndef DF_POWERBI_API_H
#define DF_POWERBI_API_H

#include <stdbool.h>
#include <stdint.h>

#include "connector.h"
#include "df_http.h"

#define DF_POWERBI_API_BASE_DEFAULT  "https://api.powerbi.com/v1.0/myorg"
#define DF_POWERBI_SCOPE             "https://analysis.windows.net/powerbi/api/.default"
#define DF_POWERBI_INPLACE_WAIT_MAX  5000 /* ms: longer waits free the worker slot */
#define DF_POWERBI_INPLACE_TRIES_MAX 5    /* sends of one request, retries included */

/* The connector's settings (strings borrowed from its definition). */
typedef struct df_powerbi_config {
    const char *tenant_id;
    const char *client_id;
    const char *client_secret;
    const char *token_url;       /* NULL: Entra's, for tenant_id */
    const char *api_base_url;    /* DF_POWERBI_API_BASE_DEFAULT when not configured */
    const char *workspace_id;    /* NULL: My workspace */
    int64_t requests_per_minute; /* POST rows per dataset: limits or 120 */
    int64_t rows_per_hour;       /* rows per dataset: limits or 1,000,000 */
    int64_t minute_ms; /* a minute of the limits: 60000 (config.minute_ms, for scaled tests) */
} df_powerbi_config_t;

/* Read the definition of ctx's connector. PERMANENT outcome
 * "invalid_config" naming the field on a missing or malformed setting. */
df_outcome_kind_t df_powerbi_config_read(df_task_ctx_t *ctx, df_powerbi_config_t *cfg,
                                         df_outcome_t *out);

typedef struct df_powerbi_client df_powerbi_client_t;

/* A client for one task (borrows ctx and cfg, which must outlive it).
 * NULL with out set when the settings cannot make an authenticator.
 * Caller closes. */
df_powerbi_client_t *df_powerbi_client_open(df_task_ctx_t *ctx, const df_powerbi_config_t *cfg,
                                            df_outcome_t *out);
void df_powerbi_client_close(df_powerbi_client_t *c);

/* The API base in use, with groups/{workspace} (borrowed). */
const char *df_powerbi_client_base(const df_powerbi_client_t *c);

/* One request. path is relative to the API base ("datasets",
 * "datasets/ID/tables/T/rows"; query allowed); body may be NULL (then no
 * content type is sent). */
typedef struct df_powerbi_call {
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    int timeout_ms; /* 0: the client's default */
    /* A lost connection (or a stop while the request was on the wire)
     * may have left the request applied. false: such a request is not
     * resent; *maybe_applied is set and the caller decides. */
    bool idempotent;
    bool *maybe_applied;
    /* Called before each send (rate limits); anything but OK is returned
     * as it is. NULL: none. */
    df_outcome_kind_t (*before_send)(void *arg, df_outcome_t *out);
    void *arg;
} df_powerbi_call_t;

/* Send call, with its retries (see the top of this file). OK: a 2xx is in
 * resp (body owned by resp). Otherwise out says why: AUTH ("auth"),
 * RETRY ("rate_limited", "platform_unavailable", "connection_lost" with
 * retry_after_ms), PERMANENT ("platform_rejected" with Power BI's
 * message), CANCELLED. */
df_outcome_kind_t df_powerbi_send(df_powerbi_client_t *c, const df_powerbi_call_t *call,
                                  df_http_response_t *resp, df_outcome_t *out);

/* The rows of table in dataset_id, from a DAX query (POST
 * datasets/{id}/executeQueries: EVALUATE ROW("n", COUNTROWS('table'))).
 * Best effort, never fatal: false (the reason logged once per client)
 * when Power BI cannot answer (tenant setting off, the API missing as in
 * the sandbox, a query quota reached...); true with *rows set. */
bool df_powerbi_count_rows(df_powerbi_client_t *c, const char *dataset_id, const char *table,
                           int64_t *rows);

/* How a Power BI answer is treated: DF_HTTP_OK, DF_HTTP_RETRY (408, 425,
 * 429, 5xx), DF_HTTP_AUTH (401, and 403 with error code TokenExpired), or
 * DF_HTTP_PERMANENT. err as df_http_classify sets it ("HTTP 404:
 * ItemNotFound: Dataset ... is not found!..."). */
df_http_class_t df_powerbi_classify(const df_http_response_t *resp, df_error_t *err);

/* The DAX query that counts table's rows, the table name quoted ('it''s').
 * Always NUL-terminates out; false when it does not fit. */
bool df_powerbi_count_query(const char *table, char *out, size_t len);

/* The first value of the first row of an executeQueries answer, when it
 * is a whole number >= 0. */
bool df_powerbi_count_parse(const char *body, size_t len, int64_t *rows);

/* What a table's row count says about a POST rows request whose answer
 * was lost: the table held `before` rows when it was sent (-1: unknown),
 * it carried n rows, and the table holds `now` rows (-1: unknown). cap:
 * the rows a basicFIFO table keeps (0: no trimming). UNKNOWN when the
 * counts cannot tell (unknown, another writer changed the table, or a full
 * FIFO table whose count does not move). */
typedef enum df_powerbi_landed {
    DF_POWERBI_LANDED_UNKNOWN = 0,
    DF_POWERBI_LANDED_YES = 1,
    DF_POWERBI_LANDED_NO = 2,
} df_powerbi_landed_t;

df_powerbi_landed_t df_powerbi_landed(int64_t before, int64_t n, int64_t now, int64_t cap);

/* Sleep before retry number tries (1-based): exponential from 250 ms,
 * capped at 4 s, with jitter. */
int64_t df_powerbi_backoff_ms(int tries);

#endif
