/* state: creating, resetting and destroying the sandbox's shared state. */
#include <stdio.h>
#include <stdlib.h>

#include "entra.h"
#include "faults.h"
#include "google_oauth.h"
#include "powerbi.h"
#include "powerbi_refresh.h"
#include "looker.h"
#include "qlik.h"
#include "tableau.h"
#include "sandbox.h"
#include "sheets.h"
#include "stats.h"
#include "tokens.h"

sb_state_t *sb_state_new(const sb_config_t *cfg, const char *base_url)
{
    sb_state_t *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    pthread_mutex_init(&st->lock, NULL);
    st->cfg = cfg;
    sb_clock_init(&st->clock, cfg->minute_ms);
    snprintf(st->base_url, sizeof(st->base_url), "%s", base_url);
    if (cfg->google_token_audience && *cfg->google_token_audience)
        snprintf(st->google_audience, sizeof(st->google_audience), "%s",
                 cfg->google_token_audience);
    else
        snprintf(st->google_audience, sizeof(st->google_audience), "%s/token", base_url);
    st->tokens = sb_tokens_new();
    st->faults = sb_faults_new();
    st->stats = sb_stats_new();
    st->entra = sb_entra_new();
    st->powerbi = sb_powerbi_new();
    st->pbi_refresh = sb_pbi_refresh_new();
    st->tableau = sb_tableau_new();
    st->qlik = sb_qlik_new();
    st->looker = sb_looker_new();
    st->google = sb_google_new();
    st->sheets = sb_sheets_new();
    if (!st->tokens || !st->faults || !st->stats || !st->entra || !st->powerbi ||
        !st->pbi_refresh || !st->google || !st->sheets || !st->tableau || !st->qlik ||
        !st->looker) {
        sb_state_destroy(st);
        return NULL;
    }
    return st;
}

void sb_state_destroy(sb_state_t *st)
{
    if (!st)
        return;
    sb_tokens_destroy(st->tokens);
    sb_faults_destroy(st->faults);
    sb_stats_destroy(st->stats);
    sb_entra_destroy(st->entra);
    sb_powerbi_destroy(st->powerbi);
    sb_pbi_refresh_destroy(st->pbi_refresh);
    sb_tableau_destroy(st->tableau);
    sb_qlik_destroy(st->qlik);
    sb_looker_destroy(st->looker);
    sb_google_destroy(st->google);
    sb_sheets_destroy(st->sheets);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

void sb_state_reset(sb_state_t *st)
{
    sb_tokens_reset(st->tokens);
    sb_faults_clear(st->faults);
    sb_stats_reset(st->stats);
    sb_entra_reset(st->entra);
    sb_powerbi_reset(st->powerbi);
    sb_pbi_refresh_reset(st->pbi_refresh);
    sb_tableau_reset(st->tableau);
    sb_qlik_reset(st->qlik);
    sb_looker_reset(st->looker);
    sb_google_reset(st->google);
    sb_sheets_reset(st->sheets);
}
