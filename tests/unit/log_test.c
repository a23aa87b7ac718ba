/* Logging: one valid JSON object per line with the standard fields, the
 * level check, per-thread context, and redaction of secrets. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "df_log.h"
#include "df_test.h"

/* Capture what the logger writes through a pipe; returns the text (caller
 * frees). */
static int pipe_fds[2];

static void capture_begin(void)
{
    REQUIRE(pipe(pipe_fds) == 0);
    df_log_set_fd(pipe_fds[1]);
}

static char *capture_end(void)
{
    char *buf = calloc(1, 65536);
    ssize_t n;

    close(pipe_fds[1]);
    df_log_set_fd(2);
    n = read(pipe_fds[0], buf, 65535);
    close(pipe_fds[0]);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return buf;
}

static json_t *parse_line(const char *line)
{
    json_error_t jerr;
    json_t *obj = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr);
    CHECK_MSG(obj != NULL, "not JSON: %s (%s)", line, jerr.text);
    return obj;
}

static void test_fields(void)
{
    char *out;
    json_t *obj;

    df_log_init("log-test", DF_LOG_INFO);
    df_log_set_worker("w-1");
    df_log_ctx_set("01J0000000000000000000000A", "noop", "0af7651916cd43dd8448eb211c80319c");
    capture_begin();
    df_info("started %d \"things\"\n", 3);
    out = capture_end();
    obj = parse_line(out);
    if (obj) {
        CHECK_STR(json_string_value(json_object_get(obj, "level")), "info");
        CHECK_STR(json_string_value(json_object_get(obj, "component")), "log-test");
        CHECK_STR(json_string_value(json_object_get(obj, "msg")), "started 3 \"things\"\n");
        CHECK_STR(json_string_value(json_object_get(obj, "task_id")), "01J0000000000000000000000A");
        CHECK_STR(json_string_value(json_object_get(obj, "connector")), "noop");
        CHECK_STR(json_string_value(json_object_get(obj, "worker")), "w-1");
        CHECK(json_string_value(json_object_get(obj, "ts")) != NULL);
        json_decref(obj);
    }
    CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* exactly one line */
    free(out);
    df_log_ctx_clear();
    df_log_set_worker(NULL);
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_level_check_before_arguments(void)
{
    char *out;

    df_log_init("log-test", DF_LOG_WARN);
    capture_begin();
    df_info("hidden %d", side_effect());
    df_warn("shown %d", 1);
    out = capture_end();
    CHECK_INT(evaluated, 0);
    CHECK(strstr(out, "hidden") == NULL);
    CHECK(strstr(out, "shown 1") != NULL);
    free(out);
    df_log_init("log-test", DF_LOG_INFO);
}

static void test_redaction(void)
{
    char *out;

    df_log_redact_add("s3cr3t-value-42");
    capture_begin();
    df_info("client secret is s3cr3t-value-42, header Authorization: Bearer eyJhbGciOi.abc.def");
    df_info("url postgresql://user:hunter22@db:5432/x and password=letmein1");
    df_info("body {\"client_secret\":\"abcdef123\"}");
    df_info("key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE "
            "KEY-----\n done");
    out = capture_end();
    CHECK(strstr(out, "s3cr3t-value-42") == NULL);
    CHECK(strstr(out, "eyJhbGciOi") == NULL);
    CHECK(strstr(out, "hunter22") == NULL);
    CHECK(strstr(out, "letmein1") == NULL);
    CHECK(strstr(out, "abcdef123") == NULL);
    CHECK(strstr(out, "user:***@db") != NULL);
    CHECK(strstr(out, "Bearer ***") != NULL);
    CHECK(strstr(out, "MIIEvQIBADAN") == NULL);
    CHECK(strstr(out, "key ***") != NULL);
    free(out);
}

static void test_long_and_binary_messages_stay_valid_json(void)
{
    char big[6000];
    char *out;
    json_t *obj;

    memset(big, '\x01', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capture_begin();
    df_error("%s", big);
    out = capture_end();
    obj = parse_line(out);
    json_decref(obj);
    free(out);
}

int main(void)
{
    RUN(test_fields);
    RUN(test_level_check_before_arguments);
    RUN(test_redaction);
    RUN(test_long_and_binary_messages_stay_valid_json);
    return df_test_done();
}
