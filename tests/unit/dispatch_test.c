/* Dispatch: tasks sharing a key run one at a time in arrival order, other
 * keys run concurrently, and a partition's commit point never passes its
 * lowest unfinished message. */
#include <stdlib.h>

#include "df_test.h"
#include "dispatch.h"

#define MAX_STORES 64

static struct {
    char topic[64];
    int32_t partition;
    int64_t next;
} stores[MAX_STORES];
static int nstores;

static void on_store(void *opaque, const char *topic, int32_t partition, int64_t next)
{
    (void)opaque;
    if (nstores < MAX_STORES) {
        snprintf(stores[nstores].topic, sizeof(stores[nstores].topic), "%s", topic);
        stores[nstores].partition = partition;
        stores[nstores].next = next;
        nstores++;
    }
}

static void free_fake(rd_kafka_message_t *msg)
{
    free(msg);
}

static rd_kafka_message_t *fake(void)
{
    return calloc(1, sizeof(rd_kafka_message_t));
}

static df_slot_t *add(df_dispatch_t *d, int32_t partition, int64_t offset, const char *key)
{
    return df_dispatch_add_at(d, fake(), "tasks", partition, offset, key, key ? strlen(key) : 0);
}

static void complete(df_dispatch_t *d, df_slot_t *s)
{
    df_dispatch_finished(d, s);
    df_dispatch_done(d, s);
}

static void test_same_key_runs_in_order_one_at_a_time(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *a1, *b1, *a2, *a3, *got;

    df_dispatch_assign(d, "tasks", 0);
    a1 = add(d, 0, 10, "a");
    b1 = add(d, 0, 11, "b");
    a2 = add(d, 0, 12, "a");
    a3 = add(d, 0, 13, "a");

    CHECK(df_dispatch_next(d, 10) == a1);
    CHECK(df_dispatch_next(d, 10) == b1);
    CHECK(df_dispatch_next(d, 10) == NULL); /* a2 waits behind a1 */
    CHECK_INT(df_dispatch_running(d), 2);
    complete(d, a1);
    got = df_dispatch_next(d, 10);
    CHECK(got == a2);
    CHECK(df_dispatch_next(d, 10) == NULL); /* a3 waits behind a2 */
    complete(d, a2);
    CHECK(df_dispatch_next(d, 10) == a3);
    complete(d, a3);
    complete(d, b1);
    CHECK_INT(df_dispatch_buffered(d), 0);
    df_dispatch_destroy(d);
}

static void test_commit_point_waits_for_the_lowest_unfinished(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *slow, *f1, *f2;

    nstores = 0;
    df_dispatch_assign(d, "tasks", 3);
    slow = add(d, 3, 100, "slow");
    f1 = add(d, 3, 101, "f1");
    f2 = add(d, 3, 102, "f2");
    CHECK(df_dispatch_next(d, 10) == slow);
    CHECK(df_dispatch_next(d, 10) == f1);
    CHECK(df_dispatch_next(d, 10) == f2);
    complete(d, f1);
    complete(d, f2);
    CHECK_INT(nstores, 0); /* 100 still runs: nothing may be committed */
    CHECK_INT(df_dispatch_buffered(d), 3);
    df_dispatch_finished(d, slow);
    CHECK_INT(nstores, 0); /* finished but its outcome is not in Kafka yet */
    df_dispatch_done(d, slow);
    CHECK_INT(nstores, 1);
    CHECK_INT(stores[0].partition, 3);
    CHECK_INT(stores[0].next, 103);
    CHECK_STR(stores[0].topic, "tasks");
    CHECK_INT(df_dispatch_buffered(d), 0);
    df_dispatch_destroy(d);
}

static void test_done_before_finished_and_no_key(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *s1, *s2;

    nstores = 0;
    s1 = add(d, 1, 5, NULL);
    s2 = add(d, 1, 6, NULL);
    CHECK(df_dispatch_next(d, 10) == s1);
    CHECK(df_dispatch_next(d, 10) == s2); /* no key: no ordering */
    df_dispatch_done(d, s1);              /* delivery report before the runner let go */
    CHECK_INT(nstores, 0);
    df_dispatch_finished(d, s1);
    CHECK_INT(nstores, 1);
    CHECK_INT(stores[0].next, 6);
    complete(d, s2);
    CHECK_INT(stores[1].next, 7);
    df_dispatch_destroy(d);
}

static void test_revoked_partition_drops_unstarted_and_stores_nothing(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *running, *queued, *other;

    nstores = 0;
    df_dispatch_assign(d, "tasks", 0);
    df_dispatch_assign(d, "tasks", 1);
    running = add(d, 0, 1, "k");
    queued = add(d, 0, 2, "k2");
    other = add(d, 1, 7, "k3");
    CHECK(df_dispatch_next(d, 10) == running);
    df_dispatch_revoke(d, "tasks", 0);
    (void)queued;
    CHECK(df_dispatch_next(d, 10) == other); /* queued was dropped unrun */
    complete(d, running);
    CHECK_INT(nstores, 0); /* revoked: its new owner commits */
    complete(d, other);
    CHECK_INT(nstores, 1);
    CHECK_INT(stores[0].partition, 1);
    CHECK_INT(df_dispatch_buffered(d), 0);
    df_dispatch_destroy(d);
}

static void test_sticky_stop_reaches_later_starts(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *s;

    add(d, 0, 1, NULL);
    df_dispatch_stop_all(d, 2, true);
    s = df_dispatch_next(d, 10);
    CHECK(s != NULL && s->stop == 2);
    CHECK_INT(df_dispatch_stop_reason(d), 2);
    df_dispatch_close(d);
    CHECK(df_dispatch_next(d, 10) == NULL);
    df_dispatch_destroy(d); /* frees the unfinished slot and its message */
}

/* A drain refuses new starts and leaves the running slots alone. */
static void test_stop_new_leaves_running_slots(void)
{
    df_dispatch_t *d = df_dispatch_new(on_store, NULL, free_fake);
    df_slot_t *running, *later;

    add(d, 0, 1, NULL);
    add(d, 1, 2, NULL);
    running = df_dispatch_next(d, 10);
    CHECK(running != NULL);
    snprintf(running->task_id, sizeof(running->task_id), "t-running");
    df_dispatch_leased(d, running);
    df_dispatch_stop_new(d, 2);
    CHECK_INT(running->stop, 0);
    CHECK_INT(df_dispatch_stop_reason(d), 2);
    later = df_dispatch_next(d, 10);
    CHECK(later != NULL && later->stop == 2);
    df_dispatch_stop_task(d, "t-running", 3); /* a cancel still reaches it */
    CHECK_INT(running->stop, 3);
    df_dispatch_close(d);
    df_dispatch_destroy(d);
}

int main(void)
{
    RUN(test_same_key_runs_in_order_one_at_a_time);
    RUN(test_commit_point_waits_for_the_lowest_unfinished);
    RUN(test_done_before_finished_and_no_key);
    RUN(test_revoked_partition_drops_unstarted_and_stores_nothing);
    RUN(test_sticky_stop_reaches_later_starts);
    RUN(test_stop_new_leaves_running_slots);
    return df_test_done();
}
