/* df_secret: secrets at rest (connector credentials in PostgreSQL, tokens
 * cached in Redis), sealed with libsodium's XChaCha20-Poly1305 (IETF AEAD)
 * under a keyring of named 32-byte keys.
 *
 * Sealed text: "v1:<key_id>:<base64(nonce || ciphertext+tag)>" (standard
 * base64 with padding; 24-byte random nonce). The first key of the keyring
 * seals; any key of it opens, so keys rotate by putting the new key first
 * and keeping the old ones until everything was re-sealed.
 *
 * The keyring comes from DATAFLEET_SECRET_KEY (or the file named by
 * DATAFLEET_SECRET_KEY_FILE): comma- or whitespace-separated entries
 * "[<key_id>:]<base64 of 32 bytes>". An entry without an id gets a stable
 * one derived from the key (12 hex digits of a keyed BLAKE2b hash), so
 * every process names it alike. Ids are 1-32 characters of [A-Za-z0-9_.-].
 *
 * No error message or log line carries key material or plaintext; callers
 * register the secrets they open with df_log_redact_add (they know which
 * parts are secret). A keyring is read-only once loaded and may be shared
 * by all threads. */
#ifndef DF_SECRET_H
#define DF_SECRET_H

#include <stddef.h>

#include "df_error.h"

#define DF_SECRET_KEY_BYTES  32
#define DF_SECRET_KEY_ID_MAX 32 /* characters, without the NUL */
#define DF_SECRET_KEYS_MAX   16
#define DF_SECRET_ENV        "DATAFLEET_SECRET_KEY"
#define DF_SECRET_ENV_FILE   "DATAFLEET_SECRET_KEY_FILE"

typedef struct df_secret_keyring df_secret_keyring_t;

/* Parse a keyring spec (see above). Returns NULL with err set
 * (DF_ERR_INVALID: empty, malformed entry named by its position and id,
 * duplicate id, too many keys). spec is only read. Caller destroys. */
df_secret_keyring_t *df_secret_keyring_parse(const char *spec, df_error_t *err);

/* The keyring of a file holding a spec (the key file). DF_ERR_IO when it
 * cannot be read. Caller destroys. */
df_secret_keyring_t *df_secret_keyring_load_file(const char *path, df_error_t *err);

/* DATAFLEET_SECRET_KEY, else the file named by DATAFLEET_SECRET_KEY_FILE.
 * DF_ERR_NOT_FOUND when neither is set. Caller destroys. */
df_secret_keyring_t *df_secret_keyring_from_env(df_error_t *err);

/* Zero and free. NULL is a no-op. */
void df_secret_keyring_destroy(df_secret_keyring_t *keyring);

/* Id of the key that seals (borrowed, lives with the keyring). */
const char *df_secret_keyring_current_id(const df_secret_keyring_t *keyring);
size_t df_secret_keyring_count(const df_secret_keyring_t *keyring);

/* Seal len bytes of plain under the current key, bound to aad (a context
 * string such as the Redis key or "connector:<name>"; NULL means ""): the
 * same aad is needed to open. *out_text is a new NUL-terminated string,
 * caller frees with free() (it holds nothing secret). */
df_code_t df_secret_seal(const df_secret_keyring_t *keyring, const void *plain, size_t len,
                         const char *aad, char **out_text, df_error_t *err);

/* Open sealed text. *plain is a new buffer of *len bytes plus a NUL (so
 * text secrets can be used as strings); caller frees it with
 * df_secret_free(*plain, *len). Errors (DF_ERR_INVALID): not a v1 text,
 * unknown key id (named), or authentication failure (tampered text, wrong
 * key or wrong aad: these cannot be told apart). */
df_code_t df_secret_open(const df_secret_keyring_t *keyring, const char *text, const char *aad,
                         char **plain, size_t *len, df_error_t *err);

/* Zero len bytes of p and free it. NULL is a no-op. */
void df_secret_free(void *p, size_t len);
/* Same for a NUL-terminated string. */
void df_secret_free_str(char *s);

/* A new random key as base64 text (what DATAFLEET_SECRET_KEY takes), or
 * NULL when out of memory. Caller frees with df_secret_free_str. */
char *df_secret_key_generate(void);

#endif
