/* df_trace: W3C trace context (https://www.w3.org/TR/trace-context/)
 * "traceparent" values: 00-<32 hex trace id>-<16 hex parent id>-<2 hex
 * flags>. A submit starts a trace (or continues the caller's); the value
 * travels in the Kafka headers of the task and its events; the worker logs
 * its trace id with every line of the task and sends a child of it on
 * every outbound HTTP request. */
#ifndef DF_TRACE_H
#define DF_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define DF_TRACEPARENT_LEN 55 /* without the NUL */
#define DF_TRACE_ID_LEN    32

/* A valid version-00 traceparent (lowercase hex, ids not all zero). */
bool df_trace_valid(const char *tp);

/* A new trace: random trace and parent ids, sampled. len >= 56. */
void df_trace_new(char *out, size_t len);

/* A child span of parent: the same trace id and flags, a new parent id.
 * When parent is NULL or not valid, a new trace (returns false). */
bool df_trace_child(const char *parent, char *out, size_t len);

/* The trace id of tp into out (len >= 33); false (out "") when tp is not
 * valid. */
bool df_trace_id(const char *tp, char *out, size_t len);

#endif
