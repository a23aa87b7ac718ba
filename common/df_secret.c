/* df_secret: XChaCha20-Poly1305 sealing under a keyring (see df_secret.h).
 * Keys live in sodium_malloc'd memory (guard pages, locked, read-only once
 * loaded) and are zeroed on destroy. */
#include "df_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df_log.h"

#define VERSION_PREFIX "v1:"
#define NONCE_BYTES    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES      crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SPEC_MAX       65536
#define DERIVED_ID_HEX 12
#define SEALED_MAX     (64u * 1024u * 1024u) /* bound on what open accepts */
#define ID_CONTEXT     "datafleet key id v1"

typedef struct keyring_entry {
    char id[DF_SECRET_KEY_ID_MAX + 1];
    unsigned char key[DF_SECRET_KEY_BYTES];
} keyring_entry_t;

struct df_secret_keyring {
    size_t count;
    keyring_entry_t *entries; /* sodium_malloc'd, read-only after parse */
};

static df_code_t sodium_ready(df_error_t *err)
{
    if (sodium_init() < 0)
        return df_error_set(err, DF_ERR_INTERNAL, "sodium_init", "libsodium failed to start");
    return DF_OK;
}

void df_secret_free(void *p, size_t len)
{
    if (!p)
        return;
    sodium_memzero(p, len);
    free(p);
}

void df_secret_free_str(char *s)
{
    if (s)
        df_secret_free(s, strlen(s));
}

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static bool id_valid(const char *id, size_t n)
{
    if (n == 0 || n > DF_SECRET_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!id_char(id[i]))
            return false;
    }
    return true;
}

/* Decode base64 (standard or URL-safe, with or without padding) of exactly
 * DF_SECRET_KEY_BYTES bytes. */
static bool decode_key(const char *b64, size_t n, unsigned char key[DF_SECRET_KEY_BYTES])
{
    static const int variants[] = { sodium_base64_VARIANT_ORIGINAL,
                                    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                    sodium_base64_VARIANT_URLSAFE,
                                    sodium_base64_VARIANT_URLSAFE_NO_PADDING };

    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        size_t bin_len = 0;
        const char *end = NULL;
        if (sodium_base642bin(key, DF_SECRET_KEY_BYTES, b64, n, NULL, &bin_len, &end,
                              variants[v]) == 0 &&
            bin_len == DF_SECRET_KEY_BYTES && end == b64 + n)
            return true;
    }
    sodium_memzero(key, DF_SECRET_KEY_BYTES);
    return false;
}

/* A stable id for a key given without one: a keyed hash of a constant, so
 * it tells nothing about the key. */
static void derive_id(const unsigned char key[DF_SECRET_KEY_BYTES], char *id)
{
    unsigned char mac[crypto_generichash_BYTES_MIN];

    crypto_generichash(mac, sizeof(mac), (const unsigned char *)ID_CONTEXT, strlen(ID_CONTEXT), key,
                       DF_SECRET_KEY_BYTES);
    sodium_bin2hex(id, DERIVED_ID_HEX + 1, mac, DERIVED_ID_HEX / 2);
}

static bool is_separator(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse one "[id:]base64" entry into e. position is 1-based, for messages. */
static df_code_t parse_entry(const char *s, size_t n, size_t position, keyring_entry_t *e,
                             df_error_t *err)
{
    const char *colon = memchr(s, ':', n);
    const char *b64 = s;
    size_t b64_len = n;

    if (colon) {
        size_t id_len = (size_t)(colon - s);
        if (!id_valid(s, id_len))
            return df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV,
                                "key %zu: key id must be 1-%d characters of A-Z a-z 0-9 _ . -",
                                position, DF_SECRET_KEY_ID_MAX);
        memcpy(e->id, s, id_len);
        e->id[id_len] = '\0';
        b64 = colon + 1;
        b64_len = n - id_len - 1;
    }
    if (!decode_key(b64, b64_len, e->key)) {
        if (colon)
            return df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV,
                                "key %zu (id %s): not base64 of %d bytes", position, e->id,
                                DF_SECRET_KEY_BYTES);
        return df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "key %zu: not base64 of %d bytes",
                            position, DF_SECRET_KEY_BYTES);
    }
    if (!colon)
        derive_id(e->key, e->id);
    return DF_OK;
}

df_secret_keyring_t *df_secret_keyring_parse(const char *spec, df_error_t *err)
{
    df_secret_keyring_t *kr;
    size_t i = 0, n;

    if (sodium_ready(err) != DF_OK)
        return NULL;
    if (!spec) {
        df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "no key given");
        return NULL;
    }
    n = strnlen(spec, SPEC_MAX + 1);
    if (n > SPEC_MAX) {
        df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "key list longer than %d bytes", SPEC_MAX);
        return NULL;
    }
    kr = calloc(1, sizeof(*kr));
    if (kr)
        kr->entries = sodium_malloc(DF_SECRET_KEYS_MAX * sizeof(keyring_entry_t));
    if (!kr || !kr->entries) {
        free(kr);
        df_error_set(err, DF_ERR_NOMEM, "sodium_malloc", "out of memory");
        return NULL;
    }
    sodium_memzero(kr->entries, DF_SECRET_KEYS_MAX * sizeof(keyring_entry_t));

    while (i < n) {
        size_t start, len;
        keyring_entry_t *e;

        while (i < n && is_separator(spec[i]))
            i++;
        if (i == n)
            break;
        start = i;
        while (i < n && !is_separator(spec[i]))
            i++;
        len = i - start;
        if (kr->count == DF_SECRET_KEYS_MAX) {
            df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "more than %d keys",
                         DF_SECRET_KEYS_MAX);
            goto fail;
        }
        e = &kr->entries[kr->count];
        if (parse_entry(spec + start, len, kr->count + 1, e, err) != DF_OK)
            goto fail;
        for (size_t k = 0; k < kr->count; k++) {
            if (strcmp(kr->entries[k].id, e->id) == 0) {
                df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "key %zu: duplicate key id %s",
                             kr->count + 1, e->id);
                goto fail;
            }
        }
        kr->count++;
    }
    if (kr->count == 0) {
        df_error_set(err, DF_ERR_INVALID, DF_SECRET_ENV, "no key given");
        goto fail;
    }
    sodium_mprotect_readonly(kr->entries);
    return kr;

fail:
    df_secret_keyring_destroy(kr);
    return NULL;
}

df_secret_keyring_t *df_secret_keyring_load_file(const char *path, df_error_t *err)
{
    df_secret_keyring_t *kr;
    struct stat st;
    char *text;
    ssize_t got;
    size_t n = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        df_error_set(err, DF_ERR_IO, DF_SECRET_ENV_FILE, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        df_warn("secret key file %s is readable by group or others (chmod 600 it)", path);
    text = malloc(SPEC_MAX + 1);
    if (!text) {
        close(fd);
        df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
        return NULL;
    }
    while (n < SPEC_MAX) {
        got = read(fd, text + n, SPEC_MAX - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            df_error_set(err, DF_ERR_IO, DF_SECRET_ENV_FILE, "read %s: %s", path, strerror(errno));
            close(fd);
            df_secret_free(text, SPEC_MAX + 1);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    text[n] = '\0';
    kr = df_secret_keyring_parse(text, err);
    df_secret_free(text, SPEC_MAX + 1);
    if (!kr)
        df_error_prefix(err, "%s", path);
    return kr;
}

df_secret_keyring_t *df_secret_keyring_from_env(df_error_t *err)
{
    const char *spec = getenv(DF_SECRET_ENV);
    const char *path = getenv(DF_SECRET_ENV_FILE);

    if (spec && *spec)
        return df_secret_keyring_parse(spec, err);
    if (path && *path)
        return df_secret_keyring_load_file(path, err);
    df_error_set(err, DF_ERR_NOT_FOUND, DF_SECRET_ENV, "neither %s nor %s is set", DF_SECRET_ENV,
                 DF_SECRET_ENV_FILE);
    return NULL;
}

void df_secret_keyring_destroy(df_secret_keyring_t *keyring)
{
    if (!keyring)
        return;
    sodium_free(keyring->entries); /* zeroes, even when read-only */
    free(keyring);
}

const char *df_secret_keyring_current_id(const df_secret_keyring_t *keyring)
{
    return keyring->entries[0].id;
}

size_t df_secret_keyring_count(const df_secret_keyring_t *keyring)
{
    return keyring->count;
}

static const keyring_entry_t *find_key(const df_secret_keyring_t *kr, const char *id, size_t n)
{
    for (size_t i = 0; i < kr->count; i++) {
        if (strlen(kr->entries[i].id) == n && memcmp(kr->entries[i].id, id, n) == 0)
            return &kr->entries[i];
    }
    return NULL;
}

df_code_t df_secret_seal(const df_secret_keyring_t *keyring, const void *plain, size_t len,
                         const char *aad, char **out_text, df_error_t *err)
{
    const keyring_entry_t *key;
    unsigned char *box;
    unsigned long long clen = 0;
    size_t box_len, b64_len, prefix_len;
    char *text;

    *out_text = NULL;
    if (sodium_ready(err) != DF_OK)
        return DF_ERR_INTERNAL;
    if (!keyring || keyring->count == 0)
        return df_error_set(err, DF_ERR_INVALID, "keyring", "no keyring to seal with");
    if (len > SEALED_MAX)
        return df_error_set(err, DF_ERR_INVALID, "secret", "secret larger than %u bytes",
                            SEALED_MAX);
    if (!aad)
        aad = "";
    key = &keyring->entries[0];
    box_len = NONCE_BYTES + len + TAG_BYTES;
    box = malloc(box_len);
    if (!box)
        return df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
    randombytes_buf(box, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, &clen, plain, len,
                                               (const unsigned char *)aad, strlen(aad), NULL, box,
                                               key->key);
    b64_len = sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL);
    prefix_len = strlen(VERSION_PREFIX) + strlen(key->id) + 1;
    text = malloc(prefix_len + b64_len);
    if (!text) {
        free(box);
        return df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
    }
    snprintf(text, prefix_len + 1, "%s%s:", VERSION_PREFIX, key->id);
    sodium_bin2base64(text + prefix_len, b64_len, box, NONCE_BYTES + (size_t)clen,
                      sodium_base64_VARIANT_ORIGINAL);
    free(box); /* ciphertext: nothing to zero */
    *out_text = text;
    return DF_OK;
}

df_code_t df_secret_open(const df_secret_keyring_t *keyring, const char *text, const char *aad,
                         char **plain, size_t *len, df_error_t *err)
{
    const keyring_entry_t *key;
    const char *id, *colon, *b64;
    unsigned char *box;
    size_t b64_len, box_len = 0, box_cap, id_len;
    unsigned long long mlen = 0;
    char *out;

    *plain = NULL;
    *len = 0;
    if (sodium_ready(err) != DF_OK)
        return DF_ERR_INTERNAL;
    if (!keyring || keyring->count == 0)
        return df_error_set(err, DF_ERR_INVALID, "keyring", "no keyring to open with");
    if (!text || strncmp(text, VERSION_PREFIX, strlen(VERSION_PREFIX)) != 0)
        return df_error_set(err, DF_ERR_INVALID, "secret", "not a sealed secret (want v1:...)");
    if (!aad)
        aad = "";
    id = text + strlen(VERSION_PREFIX);
    colon = strchr(id, ':');
    id_len = colon ? (size_t)(colon - id) : 0;
    if (!colon || !id_valid(id, id_len))
        return df_error_set(err, DF_ERR_INVALID, "secret", "sealed secret has no valid key id");
    key = find_key(keyring, id, id_len);
    if (!key)
        return df_error_set(err, DF_ERR_INVALID, "secret",
                            "sealed with key %.*s, which is not in the keyring", (int)id_len, id);
    b64 = colon + 1;
    b64_len = strnlen(b64, SEALED_MAX * 2);
    box_cap = b64_len / 4 * 3 + 3;
    if (box_cap < NONCE_BYTES + TAG_BYTES)
        return df_error_set(err, DF_ERR_INVALID, "secret", "sealed secret is too short");
    box = malloc(box_cap);
    if (!box)
        return df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
    if (sodium_base642bin(box, box_cap, b64, b64_len, NULL, &box_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        box_len < NONCE_BYTES + TAG_BYTES) {
        free(box);
        return df_error_set(err, DF_ERR_INVALID, "secret", "sealed secret is not valid base64");
    }
    out = malloc(box_len - NONCE_BYTES - TAG_BYTES + 1);
    if (!out) {
        free(box);
        return df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)out, &mlen, NULL, box + NONCE_BYTES, box_len - NONCE_BYTES,
            (const unsigned char *)aad, strlen(aad), box, key->key) != 0) {
        free(box);
        df_secret_free(out, box_len - NONCE_BYTES - TAG_BYTES + 1);
        return df_error_set(err, DF_ERR_INVALID, "secret",
                            "sealed secret (key %s) failed authentication: tampered, or sealed "
                            "for another context",
                            key->id);
    }
    free(box);
    out[mlen] = '\0';
    *plain = out;
    *len = (size_t)mlen;
    return DF_OK;
}

char *df_secret_key_generate(void)
{
    unsigned char key[DF_SECRET_KEY_BYTES];
    size_t b64_len = sodium_base64_ENCODED_LEN(sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    char *text;

    if (sodium_init() < 0)
        return NULL;
    text = malloc(b64_len);
    if (!text)
        return NULL;
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(text, b64_len, key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    return text;
}
