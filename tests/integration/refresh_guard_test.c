/* refresh_guard_test: the refresh lock (worker/refresh_guard.c) against the
 * real Redis (db 11):
 *   - the first task owns a target, a second one WAITs until the owner
 *     stored its job, then JOINs it (with the owner's task id and job);
 *   - begin is re-entrant for the owner (it gets its stored job back);
 *   - only the owner stores a job, renews or releases the lock; the lock
 *     holds the documented JSON and a TTL;
 *   - a lock whose owner vanished expires, and the next task owns it;
 *   - an owner whose lock expired takes it again on touch;
 *   - the poll cadence (growth, cap, Retry-After, deadline) and the
 *     pending timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_id.h"
#include "df_redis.h"
#include "df_test.h"
#include "refresh_guard.h"

#define REDIS_DB "11"

static df_redis_t *redis;

static df_task_ctx_t task(const char *id)
{
    df_task_ctx_t ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.task_id = id;
    ctx.redis = redis;
    return ctx;
}

static df_refresh_role_t begin(df_task_ctx_t *ctx, const char *target, int64_t ttl,
                               df_refresh_claim_t *claim)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_refresh_guard_begin(ctx, target, ttl, claim, &err) == DF_OK, "begin: %s",
              err.message);
    return claim->role;
}

static json_t *lock_value(const char *target, long long *pttl)
{
    df_error_t err;
    redisReply *r;
    json_t *v = NULL;

    df_error_init(&err);
    r = df_redis_command(redis, &err, "GET df:refresh:%s", target);
    if (r && r->type == REDIS_REPLY_STRING)
        v = json_loads(r->str, 0, NULL);
    freeReplyObject(r);
    r = df_redis_command(redis, &err, "PTTL df:refresh:%s", target);
    *pttl = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
    freeReplyObject(r);
    return v;
}

static void test_owner_wait_join(void)
{
    df_task_ctx_t a = task("task-a"), b = task("task-b"), c = task("task-c");
    df_refresh_claim_t claim;
    json_t *job = json_pack("{s:s, s:{}}", "refresh_id", "r-1", "extra");
    json_t *lock;
    long long pttl;
    df_error_t err;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    CHECK_INT(begin(&a, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_OWNER);
    CHECK_STR(claim.owner, "task-a");
    CHECK(claim.job == NULL);
    CHECK(claim.since_ms > 0);
    lock = lock_value("pbi:dataset:d1", &pttl);
    REQUIRE(lock != NULL);
    CHECK_STR(json_string_value(json_object_get(lock, "task_id")), "task-a");
    CHECK(json_is_null(json_object_get(lock, "job")));
    CHECK(json_is_integer(json_object_get(lock, "since_ms")));
    CHECK(pttl > 50000 && pttl <= 60000);
    json_decref(lock);

    /* b: the owner has no job yet */
    CHECK_INT(begin(&b, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_WAIT);
    CHECK_STR(claim.owner, "task-a");
    CHECK(claim.job == NULL);
    /* only the owner stores a job */
    CHECK_INT(df_refresh_guard_set_job(&b, "pbi:dataset:d1", job, 60000, &err), DF_ERR_CONFLICT);
    CHECK_INT(df_refresh_guard_set_job(&a, "pbi:dataset:d1", job, 90000, &err), DF_OK);
    lock = lock_value("pbi:dataset:d1", &pttl);
    REQUIRE(lock != NULL);
    CHECK(json_equal(json_object_get(lock, "job"), job)); /* {} stays an object */
    CHECK(pttl > 80000);
    json_decref(lock);

    /* b and c join a's job */
    CHECK_INT(begin(&b, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_JOIN);
    CHECK_STR(claim.owner, "task-a");
    CHECK(claim.job && json_equal(claim.job, job));
    CHECK_INT(begin(&c, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_JOIN);
    /* a again: owner, with its job */
    CHECK_INT(begin(&a, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_OWNER);
    CHECK(claim.job && json_equal(claim.job, job));
    /* other targets are independent */
    CHECK_INT(begin(&b, "pbi:dataset:d2", 60000, &claim), DF_REFRESH_OWNER);

    /* touch and end: the owner only */
    CHECK_INT(df_refresh_guard_touch(&b, "pbi:dataset:d1", NULL, 60000, &err), DF_ERR_CONFLICT);
    CHECK_INT(df_refresh_guard_touch(&a, "pbi:dataset:d1", NULL, 120000, &err), DF_OK);
    lock = lock_value("pbi:dataset:d1", &pttl);
    CHECK(pttl > 110000);
    CHECK(lock && json_equal(json_object_get(lock, "job"), job)); /* touch keeps the job */
    json_decref(lock);
    CHECK_INT(df_refresh_guard_end(&b, "pbi:dataset:d1", &err), DF_OK); /* a no-op */
    lock = lock_value("pbi:dataset:d1", &pttl);
    CHECK(lock != NULL);
    json_decref(lock);
    CHECK_INT(df_refresh_guard_end(&a, "pbi:dataset:d1", &err), DF_OK);
    lock = lock_value("pbi:dataset:d1", &pttl);
    CHECK(lock == NULL);
    CHECK_INT(pttl, -2);
    /* free again: the next task owns it */
    CHECK_INT(begin(&c, "pbi:dataset:d1", 60000, &claim), DF_REFRESH_OWNER);
    CHECK_STR(claim.owner, "task-c");
    df_refresh_claim_free(&claim);
    json_decref(job);
}

static void test_expiry(void)
{
    df_task_ctx_t a = task("task-a"), b = task("task-b");
    df_refresh_claim_t claim;
    json_t *job = json_pack("{s:s}", "refresh_id", "r-2");
    json_t *lock;
    long long pttl;
    df_error_t err;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    CHECK_INT(begin(&a, "tableau:datasource:x", 150, &claim), DF_REFRESH_OWNER);
    usleep(300 * 1000);
    /* the owner vanished: b owns it now, and a cannot take it back */
    CHECK_INT(begin(&b, "tableau:datasource:x", 60000, &claim), DF_REFRESH_OWNER);
    CHECK_INT(df_refresh_guard_touch(&a, "tableau:datasource:x", job, 60000, &err),
              DF_ERR_CONFLICT);
    CHECK_INT(df_refresh_guard_set_job(&a, "tableau:datasource:x", job, 60000, &err),
              DF_ERR_CONFLICT);
    CHECK_INT(df_refresh_guard_end(&b, "tableau:datasource:x", &err), DF_OK);

    /* an owner whose lock expired takes it again with its job on touch */
    CHECK_INT(begin(&a, "tableau:datasource:y", 150, &claim), DF_REFRESH_OWNER);
    usleep(300 * 1000);
    CHECK_INT(df_refresh_guard_touch(&a, "tableau:datasource:y", job, 60000, &err), DF_OK);
    lock = lock_value("tableau:datasource:y", &pttl);
    REQUIRE(lock != NULL);
    CHECK_STR(json_string_value(json_object_get(lock, "task_id")), "task-a");
    CHECK(json_equal(json_object_get(lock, "job"), job));
    json_decref(lock);
    CHECK_INT(begin(&b, "tableau:datasource:y", 60000, &claim), DF_REFRESH_JOIN);
    df_refresh_claim_free(&claim);
    json_decref(job);
}

static void test_bad_input(void)
{
    df_task_ctx_t a = task("task-a"), none = task("task-n");
    df_refresh_claim_t claim;
    char longer[DF_REFRESH_TARGET_MAX + 2];
    df_error_t err;

    df_refresh_claim_init(&claim);
    df_error_init(&err);
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    CHECK_INT(df_refresh_guard_begin(&a, "", 1000, &claim, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "target");
    CHECK_INT(df_refresh_guard_begin(&a, longer, 1000, &claim, &err), DF_ERR_INVALID);
    none.redis = NULL;
    CHECK_INT(df_refresh_guard_begin(&none, "pbi:dataset:z", 1000, &claim, &err), DF_ERR_REDIS);
    CHECK(err.retryable);
    CHECK_INT(df_refresh_guard_set_job(&a, "pbi:dataset:z", NULL, 1000, &err), DF_ERR_INVALID);
    /* a corrupt lock is taken over */
    freeReplyObject(df_redis_command(redis, &err, "SET df:refresh:pbi:dataset:bad %s", "{nope"));
    CHECK_INT(begin(&a, "pbi:dataset:bad", 1000, &claim), DF_REFRESH_OWNER);
    df_refresh_claim_free(&claim);
}

static void test_cadence(void)
{
    df_refresh_cadence_t c = { .start_ms = 1000, .cap_ms = 10000, .growth = 1.5 };
    df_refresh_cadence_t dflt = { .start_ms = 100, .cap_ms = 1000, .growth = 0 };
    int64_t now = 1000000;

    CHECK_INT(df_refresh_poll_delay(&c, 0, -1, now, 0), 1000);
    CHECK_INT(df_refresh_poll_delay(&c, 1, -1, now, 0), 1500);
    CHECK_INT(df_refresh_poll_delay(&c, 2, -1, now, 0), 2250);
    CHECK_INT(df_refresh_poll_delay(&c, 6, -1, now, 0), 10000); /* 11390 capped */
    CHECK_INT(df_refresh_poll_delay(&c, 1000, -1, now, 0), 10000);
    CHECK_INT(df_refresh_poll_delay(&dflt, 1, -1, now, 0), 150); /* growth 0: 1.5 */
    /* a Retry-After raises it, past the cap too */
    CHECK_INT(df_refresh_poll_delay(&c, 0, 4000, now, 0), 4000);
    CHECK_INT(df_refresh_poll_delay(&c, 0, 60000, now, 0), 60000);
    CHECK_INT(df_refresh_poll_delay(&c, 2, 0, now, 0), 2250);
    /* never past the deadline */
    CHECK_INT(df_refresh_poll_delay(&c, 6, 60000, now, now + 700), 700);
    CHECK_INT(df_refresh_poll_delay(&c, 0, -1, now, now - 5), 0);
}

static void test_pending(void)
{
    df_task_ctx_t ctx = task("task-p");
    df_outcome_t out;
    json_t *config = json_pack("{s:i}", "pending_timeout_ms", 2500);
    json_t *bad = json_pack("{s:s}", "pending_timeout_ms", "soon");

    CHECK_INT(df_refresh_pending_timeout_ms(&ctx, 777), 777);
    ctx.connector_config = config;
    CHECK_INT(df_refresh_pending_timeout_ms(&ctx, 777), 2500);
    ctx.connector_config = bad;
    CHECK_INT(df_refresh_pending_timeout_ms(&ctx, 777), 777);

    df_outcome_init(&out);
    CHECK(!df_refresh_pending_check(0, 100000, 2500, "refresh r", &out));
    CHECK(!df_refresh_pending_check(90000, 92500, 2500, "refresh r", &out));
    CHECK_INT(out.kind, DF_OUTCOME_OK);
    CHECK(df_refresh_pending_check(90000, 92501, 2500, "refresh r of dataset d", &out));
    CHECK_INT(out.kind, DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "refresh_pending_timeout");
    CHECK(strstr(out.error.message, "refresh r of dataset d") != NULL);
    CHECK(strstr(out.error.message, "pending") != NULL);
    df_outcome_free(&out);
    json_decref(config);
    json_decref(bad);
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
    freeReplyObject(df_redis_command(redis, &err, "FLUSHDB"));
    RUN(test_owner_wait_join);
    RUN(test_expiry);
    RUN(test_bad_input);
    RUN(test_cadence);
    RUN(test_pending);
    freeReplyObject(df_redis_command(redis, &err, "FLUSHDB"));
    df_redis_destroy(redis);
    return df_test_done();
}
