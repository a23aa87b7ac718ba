/* lease_test: the lease scripts (worker/lease.c) against the real Redis
 * (db 10): a message's position (attempt, poll seq) against the one the
 * task's hash keeps:
 *   - a poll handed to the scheduler makes the message it came from stale
 *     (acknowledged with the stored hand-off event), and the poll message
 *     that follows is no takeover;
 *   - a run that died while it held the task is a takeover, and its
 *     message runs again, even after a retry in place raised the attempt
 *     (no message carries that attempt: it must not make the message
 *     stale);
 *   - a `retrying` task: the older attempt's message is stale, the next
 *     attempt's runs;
 *   - a terminal task's message is acknowledged with the outcome event;
 *   - the job state of a platform operation is saved and read back, and a
 *     run that lost the lease cannot overwrite it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_redis.h"
#include "df_test.h"
#include "lease.h"

#define REDIS_DB "10"

static df_redis_t *redis;

static df_lease_start_t start(const char *id, int attempt, int seq, char *token, int *takeovers,
                              char **event)
{
    df_lease_request_t req = {
        .task_id = id,
        .worker = "lease-test",
        .type = "refresh",
        .connector = "noop",
        .attempt = attempt,
        .poll_seq = seq,
        .ttl_ms = 30000,
        .max_takeovers = 5,
    };
    df_lease_start_t verdict = (df_lease_start_t)-1;
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_lease_start(redis, &req, &verdict, token, takeovers, event, &err) == DF_OK,
              "start: %s", err.message);
    return verdict;
}

static void update(const char *id, const char *token, const char *state, int attempt, int final,
                   const char *fields)
{
    df_error_t err;
    int fenced = -1;

    df_error_init(&err);
    CHECK_MSG(df_lease_update(redis, id, token, state, attempt, final, 60, fields, &fenced, &err) ==
                  DF_OK,
              "update: %s", err.message);
    CHECK_INT(fenced, 0);
}

/* The lease expires: the run died. */
static void lease_lost(const char *id)
{
    char key[96];
    df_error_t err;

    snprintf(key, sizeof(key), "df:lease:%s", id);
    df_error_init(&err);
    freeReplyObject(df_redis_command(redis, &err, "DEL %s", key));
}

static void test_poll_handoff(void)
{
    char id[DF_ID_BUF], token[DF_LEASE_TOKEN_MAX], *event = NULL;
    int takeovers = -1;

    df_id_ulid(id);
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(takeovers, 0);
    /* the run hands poll 2 to the scheduler (as runner.c's hand_off_poll) */
    update(id, token, "running", 1, DF_LEASE_RELEASE,
           "{\"pos_attempt\":1,\"poll_seq\":2,\"waiting\":\"poll\",\"event\":\"HANDOFF\"}");
    /* the original message again: stale, with the hand-off event */
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_STALE);
    CHECK_STR(event, "HANDOFF");
    free(event);
    event = NULL;
    /* poll 2: runs, and is no takeover */
    CHECK_INT(start(id, 1, 2, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(takeovers, 0);
    /* a duplicate of poll 2 while it runs: waits */
    CHECK_INT(start(id, 1, 2, token, &takeovers, &event), DF_LEASE_BUSY);
    /* the run of poll 2 dies: poll 2 again is a takeover */
    lease_lost(id);
    CHECK_INT(start(id, 1, 2, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(takeovers, 1);
    /* ...and the original stays stale */
    lease_lost(id);
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_STALE);
    free(event);
}

static void test_retry_in_place_then_crash(void)
{
    char id[DF_ID_BUF], token[DF_LEASE_TOKEN_MAX], *event = NULL;
    int takeovers = -1;

    df_id_ulid(id);
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    /* attempt 1 failed, attempt 2 runs in place (runner.c: the attempt
     * rises, no message carries it) */
    update(id, token, "running", 2, DF_LEASE_RUNNING, NULL);
    lease_lost(id);
    /* the message of attempt 1 must run again, or the task is lost */
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(takeovers, 1);
    free(event);
}

static void test_retrying(void)
{
    char id[DF_ID_BUF], token[DF_LEASE_TOKEN_MAX], *event = NULL;
    int takeovers = -1;

    df_id_ulid(id);
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    update(id, token, "retrying", 1, DF_LEASE_RELEASE, "{\"event\":\"RETRYING\"}");
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_STALE);
    CHECK_STR(event, "RETRYING");
    free(event);
    event = NULL;
    CHECK_INT(start(id, 2, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(takeovers, 0);
    update(id, token, "succeeded", 2, DF_LEASE_FINAL, "{\"event\":\"DONE\"}");
    CHECK_INT(start(id, 2, 0, token, &takeovers, &event), DF_LEASE_TERMINAL);
    CHECK_STR(event, "DONE");
    free(event);
}

static void test_job_state(void)
{
    char id[DF_ID_BUF], token[DF_LEASE_TOKEN_MAX], *event = NULL, *job = NULL;
    int takeovers = -1, fenced = -1;
    df_error_t err;

    df_id_ulid(id);
    df_error_init(&err);
    CHECK_INT(df_lease_job_get(redis, id, &job, &err), DF_OK);
    CHECK(job == NULL);
    CHECK_INT(start(id, 1, 0, token, &takeovers, &event), DF_LEASE_ACQUIRED);
    CHECK_INT(df_lease_job_put(redis, id, token, "{\"job_id\":\"J1\"}", &fenced, &err), DF_OK);
    CHECK_INT(fenced, 0);
    CHECK_INT(df_lease_job_get(redis, id, &job, &err), DF_OK);
    CHECK_STR(job, "{\"job_id\":\"J1\"}");
    free(job);
    /* another run's token cannot touch it */
    CHECK_INT(df_lease_job_put(redis, id, "someone|99", "{\"job_id\":\"J2\"}", &fenced, &err),
              DF_OK);
    CHECK_INT(fenced, 1);
    CHECK_INT(df_lease_job_get(redis, id, &job, &err), DF_OK);
    CHECK_STR(job, "{\"job_id\":\"J1\"}");
    free(job);
    /* forgotten */
    CHECK_INT(df_lease_job_put(redis, id, token, NULL, &fenced, &err), DF_OK);
    CHECK_INT(df_lease_job_get(redis, id, &job, &err), DF_OK);
    CHECK(job == NULL);
    free(event);
}

int main(void)
{
    const char *base = df_test_env("DATAFLEET_REDIS_URL");
    char url[1024];
    const char *slash = strrchr(base, '/');
    df_error_t err;

    /* the stack's URL with db REDIS_DB */
    if (slash && slash[1] >= '0' && slash[1] <= '9' && slash > base && slash[-1] != '/')
        snprintf(url, sizeof(url), "%.*s/%s", (int)(slash - base), base, REDIS_DB);
    else
        snprintf(url, sizeof(url), "%s/%s", base, REDIS_DB);
    df_error_init(&err);
    redis = df_redis_new(url, 2000, 5000, &err);
    REQUIRE(redis != NULL);
    REQUIRE(df_lease_prepare(redis, &err) == DF_OK);
    freeReplyObject(df_redis_command(redis, &err, "FLUSHDB"));
    RUN(test_poll_handoff);
    RUN(test_retry_in_place_then_crash);
    RUN(test_retrying);
    RUN(test_job_state);
    freeReplyObject(df_redis_command(redis, &err, "FLUSHDB"));
    df_redis_destroy(redis);
    return df_test_done();
}
