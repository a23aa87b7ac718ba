/* qlik_reloads_test: how the qlik connector reads Qlik Cloud's answers
 * without a server: which reload of an app's listing a lost POST made (never
 * one that was there before the request: a second task on an app reloaded a
 * moment earlier once took that reload for its own), the bounded end of a
 * failed reload's script log, Qlik's error shape. */
#include <stdio.h>
#include <string.h>

#include "connectors/qlik_reloads.h"
#include "df_id.h"
#include "df_test.h"

#define T0 1795000000000LL /* 2026-11-18T...Z, unix ms */

/* A listing, newest first, of {id, creationTime = T0 + offset s}. */
static json_t *listing(const char *ids[], const int offsets_s[], int n)
{
    json_t *data = json_array();

    for (int i = 0; i < n; i++) {
        char at[40];
        df_time_format(T0 + (int64_t)offsets_s[i] * 1000, at, sizeof(at));
        json_array_append_new(data, json_pack("{s:s, s:s, s:s}", "id", ids[i], "creationTime", at,
                                              "status", "SUCCEEDED"));
    }
    return data;
}

static void test_since_baseline(void)
{
    const char *ids[] = { "r3", "r2", "r1" };
    const int at[] = { 5, 2, -10 };
    json_t *data = listing(ids, at, 3);

    /* requested at T0, baseline r1: r2 is the first reload made since */
    CHECK_STR(df_qlik_reload_since(data, "r1", true, T0), "r2");
    /* baseline r2 (r2 was there before the request): r3 */
    CHECK_STR(df_qlik_reload_since(data, "r2", true, T0), "r3");
    /* baseline r3: nothing new, although r3 and r2 are seconds old (the
     * bug: a finished reload of a moment ago was taken as this one) */
    CHECK(df_qlik_reload_since(data, "r3", true, T0) == NULL);
    /* the app had no reload before: the oldest one created since */
    CHECK_STR(df_qlik_reload_since(data, NULL, true, T0), "r1");
    /* a baseline no longer listed: the creation time decides (clock skew
     * allowed) */
    CHECK_STR(df_qlik_reload_since(data, "gone", true, T0), "r1");
    CHECK_STR(df_qlik_reload_since(data, "gone", true, T0 + DF_QLIK_SKEW_MS + 2000), "r2");
    CHECK(df_qlik_reload_since(data, "gone", true, T0 + DF_QLIK_SKEW_MS + 6000) == NULL);
    json_decref(data);
}

static void test_since_without_baseline(void)
{
    const char *ids[] = { "r3", "r2", "r1" };
    const int at[] = { 5, 2, -100 };
    json_t *data = listing(ids, at, 3), *empty = json_array();

    /* a job saved without a baseline: the creation time alone */
    CHECK_STR(df_qlik_reload_since(data, NULL, false, T0 + DF_QLIK_SKEW_MS), "r2");
    CHECK(df_qlik_reload_since(data, NULL, false, T0 + DF_QLIK_SKEW_MS + 6000) == NULL);
    CHECK(df_qlik_reload_since(empty, "r1", true, T0) == NULL);
    json_decref(empty);
    CHECK(df_qlik_reload_since(NULL, "r1", true, T0) == NULL);
    json_decref(data);
}

static void test_since_malformed(void)
{
    json_t *data = json_pack("[{s:s}, {s:i}, {s:s, s:s}]", "creationTime", "2026-11-18T00:00:00Z",
                             "id", 7, "id", "ok", "creationTime", "not a time");

    CHECK(df_qlik_reload_since(data, NULL, true, 0) == NULL);
    json_decref(data);
}

static void test_log_tail(void)
{
    char buf[64], small[8], big[2000];

    df_qlik_log_tail("Started loading data\nError: Field not found - <Amount>\n\n", 300, buf,
                     sizeof(buf));
    CHECK_STR(buf, "Started loading data | Error: Field not found - <Amount>");
    df_qlik_log_tail("a\nb\r\nc\x01\x1b[31m", 300, buf, sizeof(buf));
    CHECK_STR(buf, "a | b | c[31m");
    df_qlik_log_tail("0123456789", 4, buf, sizeof(buf));
    CHECK_STR(buf, "6789");
    df_qlik_log_tail(NULL, 300, buf, sizeof(buf));
    CHECK_STR(buf, "no script log given");
    df_qlik_log_tail("\n\n", 300, buf, sizeof(buf));
    CHECK_STR(buf, "no script log given");
    df_qlik_log_tail("abcdefghijkl", 300, small, sizeof(small));
    CHECK(strlen(small) < sizeof(small));
    memset(big, '\n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = 'x';
    df_qlik_log_tail(big, 1000, buf, sizeof(buf)); /* newlines grow 3x: still bounded */
    CHECK_STR(buf, "x");
    memset(big, 'y', sizeof(big) - 1);
    df_qlik_log_tail(big, 300, buf, sizeof(buf));
    CHECK_INT(strlen(buf), sizeof(buf) - 4);
}

static void test_error_message(void)
{
    char buf[200];
    const char *body = "{\"errors\":[{\"code\":\"HTTP-404\",\"title\":\"Not Found\","
                       "\"detail\":\"App 'x' not found.\",\"status\":\"404\"}],\"traceId\":\"t\"}";

    df_qlik_error_message(body, strlen(body), buf, sizeof(buf));
    CHECK_STR(buf, "HTTP-404 Not Found: App 'x' not found.");
    body = "{\"errors\":[{\"title\":\"Unauthorized\"}]}";
    df_qlik_error_message(body, strlen(body), buf, sizeof(buf));
    CHECK_STR(buf, "Unauthorized");
    body = "upstream timed out";
    df_qlik_error_message(body, strlen(body), buf, sizeof(buf));
    CHECK(strstr(buf, "upstream timed out") != NULL);
}

int main(void)
{
    RUN(test_since_baseline);
    RUN(test_since_without_baseline);
    RUN(test_since_malformed);
    RUN(test_log_tail);
    RUN(test_error_message);
    return df_test_done();
}
