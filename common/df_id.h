/* df_id: task and event ids. ULIDs (26 Crockford base32 characters: 48-bit
 * millisecond timestamp + 80 random bits) sort by creation time, which keeps
 * PostgreSQL indexes and Kafka keys well spread and readable. Ids made
 * within one millisecond by one process increase monotonically. */
#ifndef DF_ID_H
#define DF_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DF_ULID_LEN 26
#define DF_ID_BUF   37 /* fits a ULID or a UUID text form, with the NUL */

/* Write a new ULID and a NUL into buf (at least DF_ULID_LEN + 1 bytes). */
void df_id_ulid(char *buf);

/* A ULID from a given time and 80 bits taken from seed (deterministic ids,
 * e.g. a schedule slot's task id derived from (schedule, fire time)). */
void df_id_ulid_at(char *buf, int64_t unix_ms, const uint8_t random80[10]);

/* True for a well-formed ULID or a lowercase/uppercase UUID (any version). */
bool df_id_valid(const char *id);

/* Milliseconds since the epoch (realtime clock) and a monotonic clock. */
int64_t df_now_ms(void);
int64_t df_mono_ms(void);

/* RFC 3339 UTC text with milliseconds ("2026-11-22T03:04:05.678Z") into buf
 * (at least 25 bytes). */
void df_time_format(int64_t unix_ms, char *buf, size_t len);
/* Parse RFC 3339 ("Z" or "+hh:mm" offset, optional fraction). Returns false
 * on anything else. */
bool df_time_parse(const char *text, int64_t *unix_ms);

#endif
