/* df_jwt: RS256 JWTs with OpenSSL (see df_jwt.h). */
#include "df_jwt.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX        65536
#define JWT_LIFETIME_S 3600

char *df_jwt_base64url(const void *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);

    if (!out)
        return NULL;
    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

unsigned char *df_jwt_base64url_decode(const char *text, size_t len, size_t *out_len)
{
    size_t cap = len / 4 * 3 + 4, got = 0;
    unsigned char *out;
    const char *end = NULL;

    while (len && text[len - 1] == '=')
        len--;
    out = malloc(cap);
    if (!out)
        return NULL;
    if (sodium_base642bin(out, cap - 1, text, len, NULL, &got, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text + len) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *out_len = got;
    return out;
}

/* OpenSSL's latest error reason into err, then an empty error queue (the
 * queue is per thread and would confuse the next caller). */
static df_code_t ssl_error(df_error_t *err, df_code_t code, const char *call, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";

    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    return df_error_set(err, code, call, "%s%s%s", what, reason[0] ? ": " : "", reason);
}

/* Never prompt for a passphrase: an encrypted key is a configuration error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* A copy of pem with literal "\n" sequences turned into newlines (keys
 * pasted from JSON into an environment variable keep them escaped).
 * Caller frees with df_secret-style zeroing (done here by the caller). */
static char *unescape_pem(const char *pem, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (pem[i] == '\\' && i + 1 < n && pem[i + 1] == 'n') {
            out[o++] = '\n';
            i++;
        } else {
            out[o++] = pem[i];
        }
    }
    out[o] = '\0';
    return out;
}

static EVP_PKEY *load_key(const char *pem, df_error_t *err)
{
    EVP_PKEY *pkey = NULL;
    char *text;
    size_t n;
    BIO *bio;

    if (!pem || !*pem) {
        df_error_set(err, DF_ERR_INVALID, "private_key", "private key is empty");
        return NULL;
    }
    n = strnlen(pem, PEM_MAX + 1);
    if (n > PEM_MAX) {
        df_error_set(err, DF_ERR_INVALID, "private_key", "private key longer than %d bytes",
                     PEM_MAX);
        return NULL;
    }
    if (!strstr(pem, "-----BEGIN ")) {
        df_error_set(err, DF_ERR_INVALID, "private_key",
                     "private key is not PEM text (want -----BEGIN PRIVATE KEY-----)");
        return NULL;
    }
    text = unescape_pem(pem, n);
    if (!text) {
        df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
        return NULL;
    }
    bio = BIO_new_mem_buf(text, -1);
    if (bio)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    sodium_memzero(text, n);
    free(text);
    if (!pkey) {
        ssl_error(err, DF_ERR_INVALID, "PEM_read_bio_PrivateKey", "private key does not load");
        return NULL;
    }
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        df_error_set(err, DF_ERR_UNSUPPORTED, "private_key",
                     "private key is not an RSA key (RS256 needs RSA)");
        return NULL;
    }
    return pkey;
}

df_code_t df_jwt_check_key(const char *pem, df_error_t *err)
{
    EVP_PKEY *pkey = load_key(pem, err);

    if (!pkey)
        return err ? err->code : DF_ERR_INVALID;
    EVP_PKEY_free(pkey);
    return DF_OK;
}

static df_code_t sign(EVP_PKEY *pkey, const char *input, unsigned char **sig, size_t *sig_len,
                      df_error_t *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    df_code_t rc = DF_OK;

    *sig = NULL;
    if (!md)
        return df_error_set(err, DF_ERR_NOMEM, "EVP_MD_CTX_new", "out of memory");
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(md, NULL, sig_len, (const unsigned char *)input, strlen(input)) != 1) {
        rc = ssl_error(err, DF_ERR_INTERNAL, "EVP_DigestSign", "signing failed");
    } else if (!(*sig = malloc(*sig_len))) {
        rc = df_error_set(err, DF_ERR_NOMEM, "malloc", "out of memory");
    } else if (EVP_DigestSign(md, *sig, sig_len, (const unsigned char *)input, strlen(input)) !=
               1) {
        rc = ssl_error(err, DF_ERR_INTERNAL, "EVP_DigestSign", "signing failed");
        free(*sig);
        *sig = NULL;
    }
    EVP_MD_CTX_free(md);
    return rc;
}

/* base64url of the compact JSON text of obj (consumed). */
static char *encode_json(json_t *obj)
{
    char *text, *out;

    if (!obj)
        return NULL;
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!text)
        return NULL;
    out = df_jwt_base64url(text, strlen(text));
    free(text);
    return out;
}

df_code_t df_jwt_sign_rs256(const char *pem, const char *kid, const char *claims_json, char **out,
                            df_error_t *err)
{
    json_t *header;
    char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0, input_len;
    EVP_PKEY *pkey;
    df_code_t rc = DF_OK;

    *out = NULL;
    if (!claims_json || claims_json[0] != '{')
        return df_error_set(err, DF_ERR_INVALID, "claims", "JWT claims must be a JSON object");
    pkey = load_key(pem, err);
    if (!pkey)
        return err ? err->code : DF_ERR_INVALID;

    header = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
    if (header && kid && *kid)
        json_object_set_new(header, "kid", json_string(kid));
    h64 = encode_json(header);
    c64 = df_jwt_base64url(claims_json, strlen(claims_json));
    if (!h64 || !c64) {
        rc = df_error_set(err, DF_ERR_NOMEM, "jwt", "out of memory");
        goto done;
    }
    input_len = strlen(h64) + 1 + strlen(c64);
    input = malloc(input_len + 1);
    if (!input) {
        rc = df_error_set(err, DF_ERR_NOMEM, "jwt", "out of memory");
        goto done;
    }
    snprintf(input, input_len + 1, "%s.%s", h64, c64);
    rc = sign(pkey, input, &sig, &sig_len, err);
    if (rc != DF_OK)
        goto done;
    s64 = df_jwt_base64url(sig, sig_len);
    *out = s64 ? malloc(input_len + 1 + strlen(s64) + 1) : NULL;
    if (!*out) {
        rc = df_error_set(err, DF_ERR_NOMEM, "jwt", "out of memory");
        goto done;
    }
    snprintf(*out, input_len + 1 + strlen(s64) + 1, "%s.%s", input, s64);

done:
    EVP_PKEY_free(pkey);
    free(h64);
    free(c64);
    free(input);
    free(sig);
    free(s64);
    return rc;
}

df_code_t df_jwt_google_assertion(const char *pem, const char *kid, const char *iss,
                                  const char *scope, const char *aud, const char *subject,
                                  int64_t iat, char **out, df_error_t *err)
{
    json_t *claims;
    char *text;
    df_code_t rc;

    *out = NULL;
    if (!iss || !*iss || !aud || !*aud)
        return df_error_set(err, DF_ERR_INVALID, !iss || !*iss ? "client_email" : "token_url",
                            "JWT assertion needs an issuer (client_email) and an audience "
                            "(token URL)");
    claims = json_object();
    if (!claims)
        return df_error_set(err, DF_ERR_NOMEM, "jwt", "out of memory");
    json_object_set_new(claims, "iss", json_string(iss));
    if (scope && *scope)
        json_object_set_new(claims, "scope", json_string(scope));
    json_object_set_new(claims, "aud", json_string(aud));
    if (subject && *subject)
        json_object_set_new(claims, "sub", json_string(subject));
    json_object_set_new(claims, "iat", json_integer((json_int_t)iat));
    json_object_set_new(claims, "exp", json_integer((json_int_t)(iat + JWT_LIFETIME_S)));
    /* json_string refuses invalid UTF-8, which would silently drop a claim. */
    text = json_object_size(claims) == 4u + (scope && *scope) + (subject && *subject)
               ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER)
               : NULL;
    json_decref(claims);
    if (!text)
        return df_error_set(err, DF_ERR_INVALID, "jwt",
                            "JWT claims are not valid UTF-8 or out of memory");
    rc = df_jwt_sign_rs256(pem, kid, text, out, err);
    free(text);
    return rc;
}
