/* sandbox: the configuration and the shared state of datafleet-sandbox,
 * the loopback HTTP server that stands in for Microsoft Entra, Power BI
 * REST, Google OAuth2 and Google Sheets v4 in tests (see docs/SANDBOX.md).
 * One mutex guards all vendor state: handlers run with it held. */
#ifndef SB_SANDBOX_H
#define SB_SANDBOX_H

#include <pthread.h>
#include <stdint.h>

#include "clock.h"

/* Every option of the program (sandbox_main.c's option table). */
typedef struct sb_config {
    char *listen;
    int64_t port;
    char *log_level;
    int64_t minute_ms;
    int64_t token_ttl_s;
    char *google_token_audience;
    int64_t jwt_skew_s;
    int64_t max_body_bytes;
    int64_t pbi_max_rows_per_post;
    int64_t pbi_posts_per_minute;
    int64_t pbi_rows_per_hour;
    int64_t pbi_large_table_rows;
    int64_t pbi_large_posts_per_hour;
    int64_t pbi_max_pending_posts;
    int64_t pbi_max_tables;
    int64_t pbi_max_columns;
    int64_t pbi_max_string_chars;
    int64_t pbi_fifo_max_rows;
    int64_t pbi_max_rows_per_table;
    int64_t pbi_expired_status;
    int64_t pbi_refreshes_per_day;
    int64_t tableau_refreshes_per_minute;
    int64_t qlik_reload_posts;
    int64_t sheets_read_project;
    int64_t sheets_read_user;
    int64_t sheets_write_project;
    int64_t sheets_write_user;
    int64_t sheets_max_cells;
    int64_t sheets_max_payload;
} sb_config_t;

typedef struct sb_tokens sb_tokens_t;
typedef struct sb_faults sb_faults_t;
typedef struct sb_stats sb_stats_t;
typedef struct sb_entra sb_entra_t;
typedef struct sb_powerbi sb_powerbi_t;
typedef struct sb_pbi_refresh sb_pbi_refresh_t;
typedef struct sb_google sb_google_t;
typedef struct sb_sheets sb_sheets_t;
typedef struct sb_tableau sb_tableau_t;
typedef struct sb_qlik sb_qlik_t;
typedef struct sb_looker sb_looker_t;

typedef struct sb_state {
    pthread_mutex_t lock;
    const sb_config_t *cfg; /* borrowed; outlives the state */
    sb_clock_t clock;
    char base_url[64];         /* "http://127.0.0.1:PORT" */
    char google_audience[512]; /* the aud a Google JWT must carry */
    sb_tokens_t *tokens;
    sb_faults_t *faults;
    sb_stats_t *stats;
    sb_entra_t *entra;
    sb_powerbi_t *powerbi;
    sb_pbi_refresh_t *pbi_refresh; /* refreshes and the admin scanner */
    sb_google_t *google;
    sb_sheets_t *sheets;
    sb_tableau_t *tableau;
    sb_qlik_t *qlik;
    sb_looker_t *looker;
} sb_state_t;

/* New state for cfg, served at base_url (copied). NULL on allocation
 * failure. Destroy with sb_state_destroy (NULL is a no-op). */
sb_state_t *sb_state_new(const sb_config_t *cfg, const char *base_url);
void sb_state_destroy(sb_state_t *st);

/* Forget everything registered, created, issued, injected and counted
 * (configuration and the clock stay). The caller holds st->lock. */
void sb_state_reset(sb_state_t *st);

#endif
