/* ids: random identifiers the vendors hand out (dataset GUIDs, opaque
 * access tokens, trace ids), from OpenSSL's CSPRNG. */
#ifndef SB_IDS_H
#define SB_IDS_H

#include <stddef.h>

#define SB_UUID_BUF 37

/* A random (version 4) UUID in lowercase text into buf (SB_UUID_BUF bytes). */
void sb_ids_uuid(char *buf);

/* prefix followed by `bytes` random bytes in base64url (no padding) into
 * buf of cap bytes (truncated to fit). */
void sb_ids_token(char *buf, size_t cap, const char *prefix, size_t bytes);

#endif
