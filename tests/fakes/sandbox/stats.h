/* stats: what the sandbox received, per route name: a count per HTTP
 * status (0 = connection dropped by a fault) and per sandbox-minute
 * window, so tests can assert a client's request rate stayed within a
 * vendor's quota. Not thread-safe: used under sb_state_t.lock. */
#ifndef SB_STATS_H
#define SB_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "sandbox.h"

/* NULL on allocation failure. _destroy(NULL) is a no-op. */
sb_stats_t *sb_stats_new(void);
void sb_stats_destroy(sb_stats_t *stats);
void sb_stats_reset(sb_stats_t *stats);

/* Count one request of route (copied) answered with status, which arrived
 * in sandbox minute `minute`. */
void sb_stats_record(sb_stats_t *stats, const char *route, int status, int64_t minute);

/* {"routes":{name:{"total","by_status","windows","max_per_window"}}} for
 * every route, or only those matching filter (exact name, or a prefix
 * ending in '*'); new reference. */
json_t *sb_stats_json(const sb_stats_t *stats, const char *filter);

#endif
