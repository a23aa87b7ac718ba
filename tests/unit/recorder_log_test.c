/* recorder_log_test: the task_logs line and level df_recorder_log_line
 * words for each state, with and without the optional fields, and a line
 * cut to its buffer. */
#include <jansson.h>
#include <string.h>

#include "df_test.h"
#include "recorder.h"

static void check_line(const char *event_json, const char *level, const char *message)
{
    json_t *event = json_loads(event_json, 0, NULL);
    char line[DF_RECORDER_LOG_LINE_MAX];
    const char *got;

    CHECK_MSG(event != NULL, "bad fixture %s", event_json);
    if (!event)
        return;
    got = df_recorder_log_line(event, line, sizeof(line));
    CHECK_STR(got, level);
    CHECK_STR(line, message);
    json_decref(event);
}

static void test_states(void)
{
    check_line("{\"state\":\"queued\",\"attempt\":1,\"type\":\"export\",\"connector\":\"pbi\"}",
               "info", "queued (export via connector pbi)");
    check_line("{\"state\":\"queued\",\"attempt\":3}", "info", "attempt 3 queued");
    check_line("{\"state\":\"running\",\"attempt\":2,\"worker\":\"w-1\"}", "info",
               "attempt 2 started on worker w-1");
    check_line("{\"state\":\"progress\",\"attempt\":1,\"progress\":{\"rows\":20000,\"bytes\":9,"
               "\"chunks\":2}}",
               "info", "progress: 20000 rows, 2 chunks, 9 bytes");
    check_line("{\"state\":\"progress\",\"attempt\":1}", "info", "progress");
    check_line("{\"state\":\"progress\",\"attempt\":1,\"progress\":{\"polls\":3},"
               "\"task\":{\"poll\":{\"seq\":4,\"after_ms\":30000}}}",
               "info", "progress: 3 polls; the platform is still working, next look in 30000 ms");
    check_line("{\"state\":\"succeeded\",\"attempt\":1,\"result\":{\"rows_written\":1000}}", "info",
               "attempt 1 succeeded: 1000 rows written");
    check_line("{\"state\":\"succeeded\",\"attempt\":2,\"result\":{\"refresh_id\":\"r\"}}", "info",
               "attempt 2 succeeded");
    check_line("{\"state\":\"retrying\",\"attempt\":1,\"error\":{\"code\":\"http\",\"message\":"
               "\"503\",\"retry_after_ms\":5000}}",
               "warn", "attempt 1 failed: http: 503; retrying in 5000 ms");
    check_line("{\"state\":\"failed\",\"attempt\":1,\"error\":{\"code\":\"auth\",\"message\":"
               "\"token refused\"}}",
               "error", "attempt 1 failed: auth: token refused");
    check_line("{\"state\":\"dead\",\"attempt\":3,\"error\":{\"code\":\"lost\",\"message\":\"\"}}",
               "error", "attempt 3 dead: lost");
    check_line("{\"state\":\"cancelled\",\"attempt\":1}", "warn", "attempt 1 cancelled");
}

static void test_cut_to_buffer(void)
{
    json_t *event = json_pack("{s:s, s:i, s:{s:s, s:s}}", "state", "failed", "attempt", 1, "error",
                              "code", "http", "message", "a long message that does not fit");
    char line[16];

    CHECK_STR(df_recorder_log_line(event, line, sizeof(line)), "error");
    CHECK_INT(strlen(line), sizeof(line) - 1);
    CHECK_STR(line, "attempt 1 faile");
    json_decref(event);
}

int main(void)
{
    RUN(test_states);
    RUN(test_cut_to_buffer);
    return df_test_done();
}
