/* df_ready: the /readyz check of the long-running programs: are the
 * servers the process needs reachable now? Each probe opens short-lived
 * connections of its own (the process's connections belong to its threads),
 * bounded by a timeout, so it is cheap at a probe's pace (seconds). */
#ifndef DF_READY_H
#define DF_READY_H

#include <stdbool.h>
#include <stddef.h>

#include "df_config.h"

/* What a program needs. */
typedef struct df_ready_needs {
    const df_common_config_t *common;
    bool kafka;    /* a TCP connection to a bootstrap broker */
    bool redis;    /* PING answered */
    bool postgres; /* SELECT 1 answered */
} df_ready_needs_t;

/* A df_ready_fn (df_metrics.h) for opaque = a df_ready_needs_t that lives
 * as long as the listener: true when everything needed answers; else false
 * with why naming the first that does not ("kafka: ...", "redis: ...",
 * "postgres: ..."; no credentials). */
bool df_ready_check(void *opaque, char *why, size_t why_len);

#endif
