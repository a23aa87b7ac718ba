/* workers_view: the fleet's workers as Redis knows them (df:workers,
 * scored by last heartbeat, and the df:worker:{id} hashes the workers'
 * heartbeat writes: worker/heartbeat.c), for the REST API and
 * `datafleet-scheduler workers`. */
#ifndef DF_WORKERS_VIEW_H
#define DF_WORKERS_VIEW_H

#include <jansson.h>
#include <stdint.h>

#include "df_error.h"
#include "df_redis.h"

/* The workers of df:workers, sorted by id, as a new JSON array (caller
 * json_decrefs):
 *   {"id", "heartbeat_at" (RFC 3339 UTC), "age_ms" (since that heartbeat),
 *    "stale" (age_ms > stale_ms), "started_at", "running" (tasks in hand,
 *    an integer), "version", "types" (the task types it consumes, comma
 *    separated), "gone" (true when its hash expired: the worker stopped
 *    beating long ago, e.g. killed; started_at/running/version/types are
 *    then null)}
 * plus any other field the worker's hash holds, as strings. A worker that
 * stopped cleanly removed itself and is not listed. redis is borrowed;
 * stale_ms >= 1. DF_ERR_INVALID for a bad stale_ms; DF_ERR_REDIS /
 * DF_ERR_TIMEOUT when Redis fails. */
df_code_t df_workers_list(df_redis_t *redis, int64_t stale_ms, json_t **out, df_error_t *err);

#endif
