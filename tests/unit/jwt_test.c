/* jwt_test: RS256 JWTs for the service-account grant. A key pair is made
 * with `openssl genpkey`; the assertion's header and claims are decoded and
 * checked, and its signature is verified three ways: with OpenSSL's API
 * here, with `openssl dgst -sha256 -verify` on the signing input, and by
 * jwt_oracle.py (Debian's python3-cryptography). Also: base64url vectors,
 * PKCS#1 and escaped-newline keys, and clean errors for bad, encrypted and
 * non-RSA keys. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "df_jwt.h"
#include "df_test.h"

#define PYTHON "/usr/bin/python3"

static char dir[] = "/tmp/df-jwt-test-XXXXXX";
static char *key_pem;

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(data, 1, len, f) == len);
    fclose(f);
}

static void setup_keys(void)
{
    char cmd[1024];

    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem "
             "2>/dev/null && openssl pkey -in key.pem -pubout -out pub.pem && "
             "openssl pkey -in key.pem -traditional -out key_pkcs1.pem && "
             "openssl pkey -in key.pem -aes256 -passout pass:pw -out key_enc.pem && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem",
             dir);
    REQUIRE(run(cmd) == 0);
    {
        char path[256];
        path_of(path, sizeof(path), "key.pem");
        key_pem = read_file(path);
    }
    REQUIRE(key_pem && strstr(key_pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
}

static void teardown_keys(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    run(cmd);
    free(key_pem);
}

static void test_base64url(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = { { "", 0, "" },
                  { "f", 1, "Zg" },
                  { "fo", 2, "Zm8" },
                  { "foo", 3, "Zm9v" },
                  { "foob", 4, "Zm9vYg" },
                  { "\xfb\xff", 2, "-_8" },
                  { "\xff\xfe\xfd", 3, "__79" } };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *enc = df_jwt_base64url(cases[i].in, cases[i].len);
        unsigned char *dec;
        size_t n = 99;
        CHECK_STR(enc, cases[i].out);
        dec = enc ? df_jwt_base64url_decode(enc, strlen(enc), &n) : NULL;
        CHECK(dec && n == cases[i].len && memcmp(dec, cases[i].in, n) == 0);
        free(enc);
        free(dec);
    }
    {
        size_t n = 0;
        unsigned char *dec = df_jwt_base64url_decode("Zg==", 4, &n);
        CHECK(dec && n == 1 && dec[0] == 'f');
        free(dec);
        CHECK(df_jwt_base64url_decode("Z+g/", 4, &n) == NULL);
    }
}

static json_t *decode_part(const char *part, size_t len)
{
    size_t n = 0;
    unsigned char *raw = df_jwt_base64url_decode(part, len, &n);
    json_t *j = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
    free(raw);
    return j;
}

/* Verify jwt with OpenSSL's API and the public key file. */
static bool verify_with_openssl(const char *jwt)
{
    char path[256];
    const char *dot2 = strrchr(jwt, '.');
    unsigned char *sig;
    size_t sig_len = 0;
    EVP_PKEY *pub = NULL;
    EVP_MD_CTX *md;
    FILE *f;
    bool ok = false;

    path_of(path, sizeof(path), "pub.pem");
    f = fopen(path, "r");
    if (!f || !dot2)
        return false;
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    sig = df_jwt_base64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    md = EVP_MD_CTX_new();
    if (pub && sig && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1)
        ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) ==
             1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    free(sig);
    return ok;
}

/* `openssl dgst -sha256 -verify` on the signing input and raw signature. */
static int verify_with_openssl_cli(const char *jwt, bool tamper)
{
    char input[256], sig[256], pub[256], cmd[1024];
    const char *dot2 = strrchr(jwt, '.');
    unsigned char *raw;
    size_t raw_len = 0;
    char *signing_input = strndup(jwt, (size_t)(dot2 - jwt));

    REQUIRE(signing_input != NULL);
    if (tamper)
        signing_input[3] ^= 1;
    path_of(input, sizeof(input), "input.txt");
    path_of(sig, sizeof(sig), "sig.bin");
    path_of(pub, sizeof(pub), "pub.pem");
    write_file(input, signing_input, strlen(signing_input));
    raw = df_jwt_base64url_decode(dot2 + 1, strlen(dot2 + 1), &raw_len);
    REQUIRE(raw != NULL);
    write_file(sig, raw, raw_len);
    free(raw);
    free(signing_input);
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1",
             pub, sig, input);
    return run(cmd);
}

static void test_google_assertion(void)
{
    const char *scope =
        "https://www.googleapis.com/auth/spreadsheets https://www.googleapis.com/auth/drive";
    char *jwt = NULL;
    const char *dot1, *dot2;
    json_t *header, *claims;
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_jwt_google_assertion(key_pem, "k3y1d", "sa@proj.iam.gserviceaccount.com", scope,
                                      "https://oauth2.googleapis.com/token", NULL, 1700000000, &jwt,
                                      &err),
              DF_OK);
    REQUIRE(jwt != NULL);
    CHECK(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
          strlen(jwt));
    dot1 = strchr(jwt, '.');
    dot2 = strrchr(jwt, '.');
    REQUIRE(dot1 && dot2 && dot1 != dot2);

    header = decode_part(jwt, (size_t)(dot1 - jwt));
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    CHECK(header && claims);
    CHECK_STR(json_string_value(json_object_get(header, "alg")), "RS256");
    CHECK_STR(json_string_value(json_object_get(header, "typ")), "JWT");
    CHECK_STR(json_string_value(json_object_get(header, "kid")), "k3y1d");
    CHECK_INT(json_object_size(header), 3);
    CHECK_STR(json_string_value(json_object_get(claims, "iss")), "sa@proj.iam.gserviceaccount.com");
    CHECK_STR(json_string_value(json_object_get(claims, "scope")), scope);
    CHECK_STR(json_string_value(json_object_get(claims, "aud")),
              "https://oauth2.googleapis.com/token");
    CHECK_INT(json_integer_value(json_object_get(claims, "iat")), 1700000000);
    CHECK_INT(json_integer_value(json_object_get(claims, "exp")), 1700003600);
    CHECK(json_object_get(claims, "sub") == NULL);
    json_decref(header);
    json_decref(claims);

    /* 2048-bit RSA: a 256-byte signature, 342 base64url characters. */
    CHECK_INT(strlen(dot2 + 1), 342);
    CHECK(verify_with_openssl(jwt));
    CHECK_INT(verify_with_openssl_cli(jwt, false), 0);
    CHECK(verify_with_openssl_cli(jwt, true) != 0);

    /* The Python oracle, on the whole token and on a tampered one. */
    {
        char path[256], pub[256], cmd[1024];
        path_of(path, sizeof(path), "jwt.txt");
        path_of(pub, sizeof(pub), "pub.pem");
        write_file(path, jwt, strlen(jwt));
        REQUIRE(access(PYTHON, X_OK) == 0);
        snprintf(cmd, sizeof(cmd), "%s %s/tests/unit/jwt_oracle.py %s %s >/dev/null", PYTHON,
                 getenv("DF_SOURCE_DIR") ? getenv("DF_SOURCE_DIR") : ".", pub, path);
        CHECK_MSG(run(cmd) == 0, "oracle rejected the JWT (python3-cryptography installed?)");
        jwt[strlen(jwt) - 5] = jwt[strlen(jwt) - 5] == 'A' ? 'B' : 'A';
        write_file(path, jwt, strlen(jwt));
        snprintf(cmd, sizeof(cmd), "%s %s/tests/unit/jwt_oracle.py %s %s >/dev/null 2>&1", PYTHON,
                 getenv("DF_SOURCE_DIR") ? getenv("DF_SOURCE_DIR") : ".", pub, path);
        CHECK_MSG(run(cmd) == 1, "oracle accepted a tampered JWT");
    }
    free(jwt);
}

static void test_subject_no_kid_and_key_forms(void)
{
    char path[256], *pkcs1, *escaped, *jwt = NULL;
    const char *dot1, *dot2;
    json_t *header, *claims;
    df_error_t err;
    size_t o = 0;

    df_error_init(&err);
    CHECK_INT(df_jwt_google_assertion(key_pem, NULL, "sa@p", NULL, "http://127.0.0.1:1/token",
                                      "user@example.com", 1, &jwt, &err),
              DF_OK);
    REQUIRE(jwt != NULL);
    dot1 = strchr(jwt, '.');
    dot2 = strrchr(jwt, '.');
    header = decode_part(jwt, (size_t)(dot1 - jwt));
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    CHECK(header && json_object_get(header, "kid") == NULL);
    CHECK_STR(json_string_value(json_object_get(claims, "sub")), "user@example.com");
    CHECK(json_object_get(claims, "scope") == NULL);
    CHECK(verify_with_openssl(jwt));
    json_decref(header);
    json_decref(claims);
    free(jwt);

    /* PKCS#1 ("BEGIN RSA PRIVATE KEY") signs the same way. */
    path_of(path, sizeof(path), "key_pkcs1.pem");
    pkcs1 = read_file(path);
    REQUIRE(pkcs1 && strstr(pkcs1, "BEGIN RSA PRIVATE KEY"));
    CHECK_INT(df_jwt_sign_rs256(pkcs1, NULL, "{\"a\":1}", &jwt, &err), DF_OK);
    CHECK(jwt && verify_with_openssl(jwt));
    free(jwt);
    free(pkcs1);

    /* A key whose newlines arrived as literal "\n" (pasted from JSON). */
    escaped = calloc(1, strlen(key_pem) * 2 + 1);
    REQUIRE(escaped != NULL);
    for (const char *p = key_pem; *p; p++) {
        if (*p == '\n') {
            escaped[o++] = '\\';
            escaped[o++] = 'n';
        } else {
            escaped[o++] = *p;
        }
    }
    CHECK_INT(df_jwt_check_key(escaped, &err), DF_OK);
    CHECK_INT(df_jwt_sign_rs256(escaped, "k", "{}", &jwt, &err), DF_OK);
    CHECK(jwt && verify_with_openssl(jwt));
    free(jwt);
    free(escaped);
}

static void key_fails(const char *pem, df_code_t code, const char *want)
{
    df_error_t err;
    char *jwt = (char *)"untouched";

    df_error_init(&err);
    CHECK_INT(df_jwt_check_key(pem, &err), code);
    CHECK_MSG(strstr(err.message, want) != NULL, "%s", err.message);
    CHECK_INT(df_jwt_sign_rs256(pem, NULL, "{}", &jwt, &err), code);
    CHECK(jwt == NULL);
    /* Never a line of the key in the message. */
    if (pem && strlen(pem) > 100)
        CHECK_MSG(!strstr(err.message, "MII"), "%s", err.message);
}

static void test_bad_keys(void)
{
    char path[256], *enc, *ec, *broken;
    df_error_t err;
    char *jwt = NULL;

    key_fails(NULL, DF_ERR_INVALID, "empty");
    key_fails("", DF_ERR_INVALID, "empty");
    key_fails("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", DF_ERR_INVALID, "not PEM");
    broken = strdup(key_pem);
    REQUIRE(broken != NULL);
    broken[200] = '#';
    broken[201] = '#';
    key_fails(broken, DF_ERR_INVALID, "private key does not load");
    free(broken);

    path_of(path, sizeof(path), "key_enc.pem");
    enc = read_file(path);
    REQUIRE(enc != NULL);
    key_fails(enc, DF_ERR_INVALID, "private key does not load"); /* and no prompt */
    free(enc);

    path_of(path, sizeof(path), "ec.pem");
    ec = read_file(path);
    REQUIRE(ec != NULL);
    key_fails(ec, DF_ERR_UNSUPPORTED, "not an RSA key");
    free(ec);

    df_error_init(&err);
    CHECK_INT(df_jwt_sign_rs256(key_pem, NULL, "[1]", &jwt, &err), DF_ERR_INVALID);
    CHECK_INT(df_jwt_google_assertion(key_pem, NULL, "", "s", "https://a/t", NULL, 1, &jwt, &err),
              DF_ERR_INVALID);
    CHECK_STR(err.field, "client_email");
    CHECK_INT(df_jwt_google_assertion(key_pem, NULL, "a@b", "s", NULL, NULL, 1, &jwt, &err),
              DF_ERR_INVALID);
    CHECK_STR(err.field, "token_url");
    CHECK_INT(df_jwt_google_assertion(key_pem, NULL, "a@b", "bad \xff utf8", "https://a/t", NULL, 1,
                                      &jwt, &err),
              DF_ERR_INVALID);
    CHECK(jwt == NULL);
}

int main(void)
{
    setup_keys();
    RUN(test_base64url);
    RUN(test_google_assertion);
    RUN(test_subject_no_kid_and_key_forms);
    RUN(test_bad_keys);
    teardown_keys();
    return df_test_done();
}
