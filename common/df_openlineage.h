/* df_openlineage: OpenLineage RunEvents (https://openlineage.io, spec
 * 2-0-2) sent to an HTTP endpoint (`POST <url>`, e.g. Marquez's
 * /api/v1/lineage, optional bearer token) from a thread of their own.
 *
 * Emitting never blocks the caller and never fails a task: events wait in
 * a bounded in-memory buffer; the sender posts them in order, and when the
 * endpoint fails (a connection error, a 5xx, a 429) it keeps the event and
 * tries again with a growing delay (1 s up to 30 s); a full buffer drops
 * its oldest event. A 4xx other than 408/429 drops the event (the endpoint
 * will not take it). Counted in datafleet_openlineage_events_total{result}
 * (sent, retried, dropped, rejected). The token never appears in a log. */
#ifndef DF_OPENLINEAGE_H
#define DF_OPENLINEAGE_H

#include <jansson.h>
#include <stddef.h>

#include "df_error.h"

#define DF_OPENLINEAGE_SCHEMA_URL \
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define DF_OPENLINEAGE_PRODUCER  "https://github.com/datafleet/datafleet"
#define DF_OPENLINEAGE_NAMESPACE "datafleet"

typedef struct df_openlineage df_openlineage_t;

/* Start the sender for url (http or https). token may be NULL. buffer is
 * the most events held (>= 1). NULL with err set for a bad URL or when the
 * thread cannot start. */
df_openlineage_t *df_openlineage_start(const char *url, const char *token, size_t buffer,
                                       df_error_t *err);

/* Queue event (stolen). NULL ol or event: a no-op. */
void df_openlineage_emit(df_openlineage_t *ol, json_t *event);

/* Events waiting (tests). */
size_t df_openlineage_pending(df_openlineage_t *ol);

/* Try to send what is queued for up to drain_ms, then stop and free. */
void df_openlineage_stop(df_openlineage_t *ol, int drain_ms);

/* A RunEvent of a task's attempt: eventType START | COMPLETE | FAIL |
 * ABORT; run.runId a UUID derived from (task_id, attempt), so every event
 * of one attempt names the same run; job {namespace "datafleet", name
 * "<type>.<connector>"}; inputs and outputs the ends of lineage's edges
 * (result.lineage, docs/LINEAGE.md; may be NULL); an errorMessage run
 * facet when error is given. New object. */
json_t *df_openlineage_run_event(const char *event_type, const char *task_id, int attempt,
                                 const char *type, const char *connector, const json_t *lineage,
                                 const char *error);

#endif
