/* secret_test: secrets at rest: keyring parsing (ids, derived ids, errors
 * that never show key material), seal/open round trips, tampering, wrong
 * context (aad), unknown key ids, rotation with two keys, key files and
 * the environment, and key generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df_secret.h"
#include "df_test.h"

/* Two fixed keys (base64 of 32 bytes) and one of the wrong length. */
#define KEY_A   "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
#define KEY_B   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_BAD "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw="

static df_secret_keyring_t *ring(const char *spec)
{
    df_error_t err;
    df_secret_keyring_t *kr;

    df_error_init(&err);
    kr = df_secret_keyring_parse(spec, &err);
    CHECK_MSG(kr != NULL, "%s: %s", spec, err.message);
    return kr;
}

static void parse_fails(const char *spec, const char *want_in_message)
{
    df_error_t err;
    df_secret_keyring_t *kr;

    df_error_init(&err);
    kr = df_secret_keyring_parse(spec, &err);
    CHECK_MSG(kr == NULL, "%s: parsed", spec ? spec : "(null)");
    df_secret_keyring_destroy(kr);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, want_in_message) != NULL, "%s: %s", spec ? spec : "(null)",
              err.message);
    /* Never any part of a key in a message. */
    CHECK_MSG(!strstr(err.message, "AAECAwQF") && !strstr(err.message, "q83vEjRW"), "%s",
              err.message);
}

static void test_keyring_parse(void)
{
    df_secret_keyring_t *kr;
    char derived[DF_SECRET_KEY_ID_MAX + 1];

    kr = ring("k2026:" KEY_A);
    if (kr) {
        CHECK_STR(df_secret_keyring_current_id(kr), "k2026");
        CHECK_INT(df_secret_keyring_count(kr), 1);
    }
    df_secret_keyring_destroy(kr);

    /* Without an id: a stable 12-hex-digit id derived from the key. */
    kr = ring(KEY_A);
    REQUIRE(kr != NULL);
    snprintf(derived, sizeof(derived), "%s", df_secret_keyring_current_id(kr));
    CHECK_INT(strlen(derived), 12);
    CHECK(strspn(derived, "0123456789abcdef") == 12);
    df_secret_keyring_destroy(kr);
    kr = ring(" \n" KEY_A " ,\n");
    if (kr)
        CHECK_STR(df_secret_keyring_current_id(kr), derived);
    df_secret_keyring_destroy(kr);
    kr = ring(KEY_B);
    if (kr)
        CHECK(strcmp(df_secret_keyring_current_id(kr), derived) != 0);
    df_secret_keyring_destroy(kr);

    /* Several keys: the first is current; unpadded and URL-safe base64 too. */
    kr = ring("new:" KEY_B ",old:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA\nthird:" KEY_A);
    if (kr) {
        CHECK_STR(df_secret_keyring_current_id(kr), "new");
        CHECK_INT(df_secret_keyring_count(kr), 3);
    }
    df_secret_keyring_destroy(kr);
    df_secret_keyring_destroy(NULL);

    parse_fails(NULL, "no key");
    parse_fails("", "no key");
    parse_fails(" , ", "no key");
    parse_fails(KEY_BAD, "key 1: not base64 of 32 bytes");
    parse_fails("a:" KEY_A ",b:" KEY_BAD, "key 2 (id b): not base64 of 32 bytes");
    parse_fails("a:" KEY_A ",a:" KEY_B, "duplicate key id a");
    parse_fails("bad*id:" KEY_A, "key id");
    parse_fails("bad/id:" KEY_A, "key id");
    parse_fails("thisidiswaytoolongforakeyid0123456789:" KEY_A, "key id");
    parse_fails("k:not-base64-at-all!!", "key 1 (id k)");
}

static void test_seal_open(void)
{
    df_secret_keyring_t *kr = ring("k1:" KEY_A);
    const char *secret = "client-secret-value-\x01\x02 with bytes";
    char *text = NULL, *plain = NULL;
    size_t len = 0;
    df_error_t err;

    REQUIRE(kr != NULL);
    df_error_init(&err);
    CHECK_INT(df_secret_seal(kr, secret, strlen(secret), "connector:pbi", &text, &err), DF_OK);
    REQUIRE(text != NULL);
    CHECK(strncmp(text, "v1:k1:", 6) == 0);
    CHECK(!strstr(text, "client-secret"));
    /* 24-byte nonce + plaintext + 16-byte tag, base64 with padding. */
    CHECK_INT(strlen(text + 6), (24 + strlen(secret) + 16 + 2) / 3 * 4);

    CHECK_INT(df_secret_open(kr, text, "connector:pbi", &plain, &len, &err), DF_OK);
    CHECK_INT(len, strlen(secret));
    CHECK(plain && memcmp(plain, secret, len) == 0 && plain[len] == '\0');
    df_secret_free(plain, len);

    /* Two seals of one secret differ (random nonce). */
    {
        char *again = NULL;
        CHECK_INT(df_secret_seal(kr, secret, strlen(secret), "connector:pbi", &again, &err), DF_OK);
        CHECK(again && strcmp(again, text) != 0);
        free(again);
    }

    /* Empty plaintext and NULL aad (= ""). */
    free(text);
    CHECK_INT(df_secret_seal(kr, "", 0, NULL, &text, &err), DF_OK);
    CHECK_INT(df_secret_open(kr, text, "", &plain, &len, &err), DF_OK);
    CHECK_INT(len, 0);
    CHECK(plain && plain[0] == '\0');
    df_secret_free(plain, len);
    free(text);
    df_secret_keyring_destroy(kr);
}

static void open_fails(const df_secret_keyring_t *kr, const char *text, const char *aad,
                       const char *want_in_message)
{
    char *plain = (char *)"untouched";
    size_t len = 99;
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_secret_open(kr, text, aad, &plain, &len, &err), DF_ERR_INVALID);
    CHECK(plain == NULL && len == 0);
    CHECK_MSG(strstr(err.message, want_in_message) != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "hunter2"), "%s", err.message);
}

static void test_tamper_and_context(void)
{
    df_secret_keyring_t *kr = ring("k1:" KEY_A);
    df_secret_keyring_t *other = ring("k1:" KEY_B);
    char *text = NULL, *bad;
    size_t n;
    df_error_t err;

    REQUIRE(kr && other);
    df_error_init(&err);
    CHECK_INT(df_secret_seal(kr, "hunter2-password", 16, "df:token:abc", &text, &err), DF_OK);
    REQUIRE(text != NULL);
    n = strlen(text);
    bad = strdup(text);

    open_fails(kr, text, "df:token:abd", "failed authentication");
    open_fails(kr, text, NULL, "failed authentication");
    open_fails(other, text, "df:token:abc", "failed authentication"); /* same id, other key */

    /* Flip one character of the ciphertext, of the nonce, and cut the tag. */
    bad[n - 6] = bad[n - 6] == 'A' ? 'B' : 'A';
    open_fails(kr, bad, "df:token:abc", "failed authentication");
    memcpy(bad, text, n + 1);
    bad[8] = bad[8] == 'A' ? 'B' : 'A';
    open_fails(kr, bad, "df:token:abc", "failed authentication");
    memcpy(bad, text, n + 1);
    bad[n - 8] = '\0';
    open_fails(kr, bad, "df:token:abc", "");

    open_fails(kr, "v2:k1:AAAA", "x", "not a sealed secret");
    open_fails(kr, "plain text", "x", "not a sealed secret");
    open_fails(kr, "v1:k1:!!!!", "x", "");
    open_fails(kr, "v1:k1:AAAA", "x", "too short");
    open_fails(kr, "v1:nokey", "x", "no valid key id");
    open_fails(kr, "v1:k9:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x",
               "sealed with key k9, which is not in the keyring");
    free(bad);
    free(text);
    df_secret_keyring_destroy(kr);
    df_secret_keyring_destroy(other);
}

static void test_rotation(void)
{
    df_secret_keyring_t *before = ring("k1:" KEY_A);
    df_secret_keyring_t *after = ring("k2:" KEY_B ",k1:" KEY_A);
    df_secret_keyring_t *retired = ring("k2:" KEY_B);
    char *old_text = NULL, *new_text = NULL, *plain = NULL;
    size_t len = 0;
    df_error_t err;

    REQUIRE(before && after && retired);
    df_error_init(&err);
    CHECK_INT(df_secret_seal(before, "s3cret", 6, "c", &old_text, &err), DF_OK);
    /* The new keyring opens what the old key sealed, and seals with the new key. */
    CHECK_INT(df_secret_open(after, old_text, "c", &plain, &len, &err), DF_OK);
    CHECK(plain && strcmp(plain, "s3cret") == 0);
    df_secret_free(plain, len);
    CHECK_INT(df_secret_seal(after, "s3cret", 6, "c", &new_text, &err), DF_OK);
    CHECK(new_text && strncmp(new_text, "v1:k2:", 6) == 0);
    /* Once k1 is retired, old texts fail clearly, new ones still open. */
    open_fails(retired, old_text, "c", "key k1, which is not in the keyring");
    CHECK_INT(df_secret_open(retired, new_text, "c", &plain, &len, &err), DF_OK);
    df_secret_free(plain, len);
    /* And the old keyring does not know k2. */
    open_fails(before, new_text, "c", "key k2");
    free(old_text);
    free(new_text);
    df_secret_keyring_destroy(before);
    df_secret_keyring_destroy(after);
    df_secret_keyring_destroy(retired);
}

static void test_env_and_file(void)
{
    char path[] = "/tmp/df-secret-test-XXXXXX";
    df_secret_keyring_t *kr;
    df_error_t err;
    FILE *f;
    int fd;

    df_error_init(&err);
    unsetenv(DF_SECRET_ENV);
    unsetenv(DF_SECRET_ENV_FILE);
    kr = df_secret_keyring_from_env(&err);
    CHECK(kr == NULL);
    CHECK_INT(err.code, DF_ERR_NOT_FOUND);
    CHECK(strstr(err.message, DF_SECRET_ENV) != NULL);

    fd = mkstemp(path);
    REQUIRE(fd >= 0);
    f = fdopen(fd, "w");
    REQUIRE(f != NULL);
    fputs("# not allowed: comments are not part of the format\n", f);
    fclose(f);
    kr = df_secret_keyring_load_file(path, &err);
    CHECK(kr == NULL);
    CHECK(strstr(err.message, path) != NULL);

    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("filekey:" KEY_B "\nold:" KEY_A "\n", f);
    fclose(f);
    chmod(path, 0600);
    setenv(DF_SECRET_ENV_FILE, path, 1);
    kr = df_secret_keyring_from_env(&err);
    CHECK_MSG(kr != NULL, "%s", err.message);
    if (kr) {
        CHECK_STR(df_secret_keyring_current_id(kr), "filekey");
        CHECK_INT(df_secret_keyring_count(kr), 2);
    }
    df_secret_keyring_destroy(kr);

    /* The variable wins over the file. */
    setenv(DF_SECRET_ENV, "envkey:" KEY_A, 1);
    kr = df_secret_keyring_from_env(&err);
    CHECK(kr && strcmp(df_secret_keyring_current_id(kr), "envkey") == 0);
    df_secret_keyring_destroy(kr);
    unsetenv(DF_SECRET_ENV);
    unsetenv(DF_SECRET_ENV_FILE);

    unlink(path);
    kr = df_secret_keyring_load_file(path, &err);
    CHECK(kr == NULL);
    CHECK_INT(err.code, DF_ERR_IO);
}

static void test_key_generate(void)
{
    char *a = df_secret_key_generate();
    char *b = df_secret_key_generate();
    df_secret_keyring_t *kr;
    char *text = NULL, *plain = NULL;
    size_t len = 0;
    df_error_t err;

    REQUIRE(a && b);
    CHECK_INT(strlen(a), 44);
    CHECK(strcmp(a, b) != 0);
    kr = ring(a);
    df_error_init(&err);
    if (kr) {
        CHECK_INT(df_secret_seal(kr, "x", 1, "y", &text, &err), DF_OK);
        CHECK_INT(df_secret_open(kr, text, "y", &plain, &len, &err), DF_OK);
        CHECK(plain && strcmp(plain, "x") == 0);
    }
    df_secret_free(plain, len);
    free(text);
    df_secret_keyring_destroy(kr);
    df_secret_free_str(a);
    df_secret_free_str(b);
    df_secret_free_str(NULL);
}

int main(void)
{
    RUN(test_keyring_parse);
    RUN(test_seal_open);
    RUN(test_tamper_and_context);
    RUN(test_rotation);
    RUN(test_env_and_file);
    RUN(test_key_generate);
    return df_test_done();
}
