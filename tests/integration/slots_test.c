/* slots_test: fleet-wide concurrency limits (df_slots) against the real
 * Redis (DATAFLEET_REDIS_URL). Eight threads with their own connections
 * share one key of 3 slots, as workers would: never more than 3 hold one
 * at once, and 3 often do. Also: taking again renews and takes no other
 * slot, release frees at once, a dead holder's slot comes back after its
 * ttl, the Redis key and its TTL, the wait's stop callback and bound, and
 * parameter checks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_id.h"
#include "df_redis.h"
#include "df_slots.h"
#include "df_test.h"

#define THREADS 8
#define LIMIT   3

static const char *redis_url;

typedef struct run {
    char key[96];
    int64_t deadline_ms;
    pthread_mutex_t mu;
    int holding, max_holding, at_limit, takes, errors;
    char error[DF_ERR_MSG_MAX];
} run_t;

typedef struct worker_arg {
    run_t *run;
    int no;
} worker_arg_t;

static df_redis_t *connect_ok(void)
{
    df_error_t err;
    df_redis_t *redis;

    df_error_init(&err);
    redis = df_redis_new(redis_url, 2000, 2000, &err);
    REQUIRE(redis != NULL);
    return redis;
}

static void unique_key(char *buf, size_t len, const char *name)
{
    char id[DF_ID_BUF];
    df_id_ulid(id);
    snprintf(buf, len, "test:%s:%s", name, id);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static bool past_deadline(void *ctx)
{
    return df_mono_ms() >= ((run_t *)ctx)->deadline_ms;
}

/* Take a slot, hold it a few ms (counting holders), give it back. */
static void *worker(void *opaque)
{
    worker_arg_t *a = opaque;
    run_t *r = a->run;
    df_redis_t *redis = connect_ok();
    char holder[32];

    snprintf(holder, sizeof(holder), "holder-%d", a->no);
    while (df_mono_ms() < r->deadline_ms) {
        df_error_t err;
        df_code_t rc;

        df_error_init(&err);
        rc = df_slots_wait(redis, r->key, holder, LIMIT, 10000, 0, past_deadline, r, NULL, &err);
        if (rc != DF_OK) {
            if (rc != DF_ERR_CANCELLED) {
                pthread_mutex_lock(&r->mu);
                r->errors++;
                snprintf(r->error, sizeof(r->error), "%s", err.message);
                pthread_mutex_unlock(&r->mu);
            }
            break;
        }
        pthread_mutex_lock(&r->mu);
        r->takes++;
        r->holding++;
        r->max_holding = r->holding > r->max_holding ? r->holding : r->max_holding;
        r->at_limit += r->holding == LIMIT;
        pthread_mutex_unlock(&r->mu);
        sleep_ms(3 + a->no % 3);
        /* Counted out before the slot is given back: a new holder can
         * never be counted while this one still is. */
        pthread_mutex_lock(&r->mu);
        r->holding--;
        pthread_mutex_unlock(&r->mu);
        if (df_slots_release(redis, r->key, holder, &err) != DF_OK) {
            pthread_mutex_lock(&r->mu);
            r->errors++;
            pthread_mutex_unlock(&r->mu);
        }
    }
    df_redis_destroy(redis);
    return NULL;
}

static void test_shared_key(void)
{
    static run_t r;
    pthread_t threads[THREADS];
    worker_arg_t args[THREADS];

    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    unique_key(r.key, sizeof(r.key), "shared");
    r.deadline_ms = df_mono_ms() + 2000;
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){ &r, i };
        REQUIRE(pthread_create(&threads[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    printf("shared key: %d takes, at most %d held at once, %d times at the limit\n", r.takes,
           r.max_holding, r.at_limit);
    CHECK_MSG(r.errors == 0, "%d errors, last: %s", r.errors, r.error);
    CHECK_MSG(r.max_holding <= LIMIT, "%d held at once (limit %d)", r.max_holding, LIMIT);
    CHECK_MSG(r.max_holding == LIMIT && r.at_limit > 10, "the limit was rarely reached: %d times",
              r.at_limit);
    CHECK_MSG(r.takes > 100, "only %d takes in 2 s", r.takes);
    pthread_mutex_destroy(&r.mu);
}

static void test_take_release_expire(void)
{
    df_redis_t *redis = connect_ok();
    char key[96], rkey[128];
    bool taken = false;
    df_error_t err;
    redisReply *reply;

    df_error_init(&err);
    unique_key(key, sizeof(key), "basic");
    CHECK_INT(df_slots_take(redis, key, "a", 2, 60000, &taken, &err), DF_OK);
    CHECK(taken);
    CHECK_INT(df_slots_take(redis, key, "a", 2, 60000, &taken, &err), DF_OK);
    CHECK_MSG(taken, "taking again a slot one holds renews it");
    CHECK_INT(df_slots_take(redis, key, "b", 2, 60000, &taken, &err), DF_OK);
    CHECK_MSG(taken, "a's second take did not use the second slot");
    CHECK_INT(df_slots_take(redis, key, "c", 2, 60000, &taken, &err), DF_OK);
    CHECK_MSG(!taken, "a third holder of 2 slots");
    CHECK_INT(df_slots_release(redis, key, "a", &err), DF_OK);
    CHECK_INT(df_slots_take(redis, key, "c", 2, 60000, &taken, &err), DF_OK);
    CHECK_MSG(taken, "a released slot is free at once");
    CHECK_INT(df_slots_release(redis, key, "nobody", &err), DF_OK);

    /* The set df:slots:<key>, living as long as its longest slot. */
    snprintf(rkey, sizeof(rkey), "df:slots:%s", key);
    reply = df_redis_command(redis, &err, "PTTL %s", rkey);
    REQUIRE(reply != NULL);
    CHECK_MSG(reply->integer > 59000 && reply->integer <= 60000, "pttl %lld", reply->integer);
    freeReplyObject(reply);
    reply = df_redis_command(redis, &err, "ZCARD %s", rkey);
    REQUIRE(reply != NULL);
    CHECK_INT(reply->integer, 2);
    freeReplyObject(reply);

    /* A holder that never gives its slot back (killed) loses it after its
     * ttl. */
    unique_key(key, sizeof(key), "expire");
    CHECK_INT(df_slots_take(redis, key, "dead", 1, 300, &taken, &err), DF_OK);
    CHECK(taken);
    CHECK_INT(df_slots_take(redis, key, "alive", 1, 300, &taken, &err), DF_OK);
    CHECK(!taken);
    sleep_ms(350);
    CHECK_INT(df_slots_take(redis, key, "alive", 1, 300, &taken, &err), DF_OK);
    CHECK_MSG(taken, "an expired slot was not reclaimed");
    df_redis_destroy(redis);
}

static int64_t stop_at;
static bool stop_later(void *ctx)
{
    (void)ctx;
    return df_mono_ms() >= stop_at;
}

static void test_wait_stop_and_bound(void)
{
    df_redis_t *redis = connect_ok();
    int64_t waited = -1, t0;
    bool taken = false;
    char key[96];
    df_error_t err;

    df_error_init(&err);
    unique_key(key, sizeof(key), "wait");
    CHECK_INT(df_slots_take(redis, key, "holder", 1, 60000, &taken, &err), DF_OK);
    t0 = df_mono_ms();
    stop_at = t0 + 200;
    CHECK_INT(df_slots_wait(redis, key, "waiter", 1, 60000, 0, stop_later, NULL, &waited, &err),
              DF_ERR_CANCELLED);
    CHECK_MSG(waited >= 190 && waited < 400, "waited %lld", (long long)waited);
    CHECK_INT(df_slots_wait(redis, key, "waiter", 1, 60000, 300, NULL, NULL, &waited, &err),
              DF_ERR_TIMEOUT);
    CHECK(err.retryable);
    CHECK_MSG(waited >= 250 && waited < 500, "waited %lld", (long long)waited);
    CHECK_INT(df_slots_release(redis, key, "holder", &err), DF_OK);
    CHECK_INT(df_slots_wait(redis, key, "waiter", 1, 60000, 300, NULL, NULL, &waited, &err), DF_OK);
    df_redis_destroy(redis);
}

static void test_parameter_checks(void)
{
    df_redis_t *redis = connect_ok();
    bool taken = true;
    df_error_t err;
    char long_name[300];

    df_error_init(&err);
    memset(long_name, 'k', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK_INT(df_slots_take(redis, "k", "h", 0, 1000, &taken, &err), DF_ERR_INVALID);
    CHECK(!taken);
    CHECK_INT(df_slots_take(redis, "k", "h", 1, 0, &taken, &err), DF_ERR_INVALID);
    CHECK_INT(df_slots_take(redis, "", "h", 1, 1000, &taken, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "key");
    CHECK_INT(df_slots_take(redis, long_name, "h", 1, 1000, &taken, &err), DF_ERR_INVALID);
    CHECK_INT(df_slots_take(redis, "k", "", 1, 1000, &taken, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "holder");
    CHECK_INT(df_slots_release(redis, "k", long_name, &err), DF_ERR_INVALID);
    df_redis_destroy(redis);
}

int main(void)
{
    redis_url = df_test_env("DATAFLEET_REDIS_URL");
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_parameter_checks);
    RUN(test_take_release_expire);
    RUN(test_wait_stop_and_bound);
    RUN(test_shared_key);
    return df_test_done();
}
