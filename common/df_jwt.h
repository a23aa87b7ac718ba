/* df_jwt: RS256 JSON Web Tokens signed with OpenSSL, for the OAuth2 JWT
 * bearer grant (RFC 7523) that Google service accounts use, and for other
 * key-pair JWT schemes. base64url without padding throughout (RFC 7515).
 *
 * Private keys come as PEM text (PKCS#8 "BEGIN PRIVATE KEY" as in Google's
 * JSON key files, or PKCS#1 "BEGIN RSA PRIVATE KEY"). Error messages name
 * what is wrong (OpenSSL's reason), never the key. */
#ifndef DF_JWT_H
#define DF_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

/* base64url of len bytes, without padding: a new NUL-terminated string,
 * caller frees with free(); NULL when out of memory. */
char *df_jwt_base64url(const void *data, size_t len);

/* Decode base64url (padding optional) into a new buffer of *out_len bytes
 * plus a NUL; caller frees with free(). NULL when malformed. */
unsigned char *df_jwt_base64url_decode(const char *text, size_t len, size_t *out_len);

/* Check that pem holds an RSA private key OpenSSL can load (fail early at
 * configuration time). DF_ERR_INVALID when it does not parse,
 * DF_ERR_UNSUPPORTED for a non-RSA key. */
df_code_t df_jwt_check_key(const char *pem, df_error_t *err);

/* header.claims.signature: header {"alg":"RS256","typ":"JWT"[,"kid":kid]}
 * (kid may be NULL), claims_json a JSON object text used as given. *out is
 * a new string, caller frees with free(). */
df_code_t df_jwt_sign_rs256(const char *pem, const char *kid, const char *claims_json, char **out,
                            df_error_t *err);

/* The assertion of a Google service account (and any RFC 7523 provider):
 * claims {"iss":iss,"scope":scope,"aud":aud,"iat":iat,"exp":iat+3600}
 * plus "sub":subject when subject is non-NULL (domain-wide delegation).
 * scope may be NULL (left out). *out as in df_jwt_sign_rs256. */
df_code_t df_jwt_google_assertion(const char *pem, const char *kid, const char *iss,
                                  const char *scope, const char *aud, const char *subject,
                                  int64_t iat, char **out, df_error_t *err);

#endif
