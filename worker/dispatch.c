/* dispatch: key-level parallelism and partition commit points (see
 * dispatch.h). */
#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_hmap.h"
#include "df_id.h"

struct df_part {
    char name[300]; /* "topic\0" followed by nothing: topic only */
    int32_t partition;
    bool revoked;
    df_slot_t *head, *tail; /* slots in offset order */
};

struct df_keyq {
    char *key; /* owned copy, also the map key */
    size_t key_len;
    df_slot_t *head, *tail; /* waiting behind the active slot */
};

struct df_dispatch {
    pthread_mutex_t lock;
    pthread_cond_t ready_cond;
    df_hmap_t *parts;   /* "topic/partition" -> current df_part_t */
    df_hmap_t *keys;    /* message key -> df_keyq_t with an active slot */
    df_hmap_t *running; /* task_id -> running slot holding its lease */
    df_slot_t *ready_head, *ready_tail;
    size_t buffered;
    size_t nrunning;
    int sticky_stop;
    bool closed;
    df_dispatch_store_fn store;
    void *opaque;
    void (*free_msg)(rd_kafka_message_t *msg);
    /* Revoked partitions still holding slots: freed when they drain. */
    df_part_t **orphans;
    size_t norphans, orphans_cap;
};

static size_t part_key(char *buf, size_t len, const char *topic, int32_t partition)
{
    int n = snprintf(buf, len, "%s/%d", topic, (int)partition);
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

df_dispatch_t *df_dispatch_new(df_dispatch_store_fn store, void *opaque,
                               void (*free_msg)(rd_kafka_message_t *msg))
{
    df_dispatch_t *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->parts = df_hmap_new();
    d->keys = df_hmap_new();
    d->running = df_hmap_new();
    if (!d->parts || !d->keys || !d->running) {
        df_hmap_destroy(d->parts);
        df_hmap_destroy(d->keys);
        df_hmap_destroy(d->running);
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->ready_cond, NULL);
    d->store = store;
    d->opaque = opaque;
    d->free_msg = free_msg ? free_msg : rd_kafka_message_destroy;
    return d;
}

static void free_slot(df_dispatch_t *d, df_slot_t *s)
{
    if (s->msg)
        d->free_msg(s->msg);
    free(s);
}

static void free_part(df_dispatch_t *d, df_part_t *p)
{
    df_slot_t *s = p->head;
    while (s) {
        df_slot_t *next = s->next_in_part;
        free_slot(d, s);
        s = next;
    }
    free(p);
}

static void free_part_cb(void *ctx, const char *key, void *value)
{
    (void)key;
    free_part(ctx, value);
}

static void free_keyq_cb(void *ctx, const char *key, void *value)
{
    df_keyq_t *q = value;
    (void)ctx;
    (void)key;
    free(q->key);
    free(q);
}

void df_dispatch_destroy(df_dispatch_t *d)
{
    if (!d)
        return;
    df_hmap_each(d->parts, free_part_cb, d);
    df_hmap_each(d->keys, free_keyq_cb, NULL);
    for (size_t i = 0; i < d->norphans; i++)
        free_part(d, d->orphans[i]);
    free(d->orphans);
    df_hmap_destroy(d->parts);
    df_hmap_destroy(d->keys);
    df_hmap_destroy(d->running);
    pthread_cond_destroy(&d->ready_cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Pop the done-and-finished prefix of p; store the new commit point. */
static void advance(df_dispatch_t *d, df_part_t *p)
{
    int64_t next = -1;

    while (p->head && p->head->done && p->head->finished) {
        df_slot_t *s = p->head;
        p->head = s->next_in_part;
        if (!p->head)
            p->tail = NULL;
        next = s->offset + 1;
        d->buffered--;
        free_slot(d, s);
    }
    if (next >= 0 && !p->revoked && d->store)
        d->store(d->opaque, p->name, p->partition, next);
    if (p->revoked && !p->head) {
        for (size_t i = 0; i < d->norphans; i++) {
            if (d->orphans[i] == p) {
                d->orphans[i] = d->orphans[--d->norphans];
                free(p);
                return;
            }
        }
    }
}

void df_dispatch_assign(df_dispatch_t *d, const char *topic, int32_t partition)
{
    char key[320];
    size_t klen = part_key(key, sizeof(key), topic, partition);
    df_part_t *p;

    pthread_mutex_lock(&d->lock);
    if (!df_hmap_get(d->parts, key, klen)) {
        p = calloc(1, sizeof(*p));
        if (p) {
            snprintf(p->name, sizeof(p->name), "%s", topic);
            p->partition = partition;
            if (!df_hmap_put(d->parts, key, klen, p))
                free(p);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

void df_dispatch_revoke(df_dispatch_t *d, const char *topic, int32_t partition)
{
    char key[320];
    size_t klen = part_key(key, sizeof(key), topic, partition);
    df_part_t *p;

    pthread_mutex_lock(&d->lock);
    p = df_hmap_remove(d->parts, key, klen);
    if (p) {
        p->revoked = true;
        if (!p->head) {
            free(p);
        } else {
            if (d->norphans == d->orphans_cap) {
                size_t cap = d->orphans_cap ? d->orphans_cap * 2 : 16;
                df_part_t **o = realloc(d->orphans, cap * sizeof(*o));
                if (o) {
                    d->orphans = o;
                    d->orphans_cap = cap;
                }
            }
            if (d->norphans < d->orphans_cap)
                d->orphans[d->norphans++] = p;
            /* else: leaked on allocation failure; its slots still drain */
        }
    }
    pthread_mutex_unlock(&d->lock);
}

static void push_ready(df_dispatch_t *d, df_slot_t *s)
{
    s->next_ready = NULL;
    if (d->ready_tail)
        d->ready_tail->next_ready = s;
    else
        d->ready_head = s;
    d->ready_tail = s;
    pthread_cond_signal(&d->ready_cond);
}

df_slot_t *df_dispatch_add(df_dispatch_t *d, rd_kafka_message_t *msg)
{
    return df_dispatch_add_at(d, msg, rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset,
                              msg->key, msg->key_len);
}

df_slot_t *df_dispatch_add_at(df_dispatch_t *d, rd_kafka_message_t *msg, const char *topic,
                              int32_t partition, int64_t offset, const void *key, size_t key_len)
{
    char pkey[320];
    size_t klen = part_key(pkey, sizeof(pkey), topic, partition);
    df_slot_t *s = calloc(1, sizeof(*s));
    df_part_t *p;

    if (!s) {
        d->free_msg(msg);
        return NULL;
    }
    s->msg = msg;
    s->offset = offset;
    s->received_ms = df_mono_ms();

    pthread_mutex_lock(&d->lock);
    p = df_hmap_get(d->parts, pkey, klen);
    if (!p) { /* a message before its assignment was seen: track it anyway */
        p = calloc(1, sizeof(*p));
        if (!p || !df_hmap_put(d->parts, pkey, klen, p)) {
            pthread_mutex_unlock(&d->lock);
            free(p);
            free_slot(d, s);
            return NULL;
        }
        snprintf(p->name, sizeof(p->name), "%s", topic);
        p->partition = partition;
    }
    s->part = p;
    if (p->tail)
        p->tail->next_in_part = s;
    else
        p->head = s;
    p->tail = s;
    d->buffered++;

    if (key && key_len > 0) {
        df_keyq_t *q = df_hmap_get(d->keys, key, key_len);
        if (q) { /* a slot of this key is active: wait behind it */
            s->keyq = q;
            if (q->tail)
                q->tail->next_in_key = s;
            else
                q->head = s;
            q->tail = s;
            pthread_mutex_unlock(&d->lock);
            return s;
        }
        q = calloc(1, sizeof(*q));
        if (q) {
            q->key = malloc(key_len);
            if (q->key) {
                memcpy(q->key, key, key_len);
                q->key_len = key_len;
            }
            if (!q->key || !df_hmap_put(d->keys, q->key, q->key_len, q)) {
                free(q->key);
                free(q);
                q = NULL; /* degrade: run it without key ordering */
            }
        }
        s->keyq = q;
    }
    push_ready(d, s);
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* Release s's key: the next slot waiting on it becomes ready. */
static void release_key(df_dispatch_t *d, df_slot_t *s)
{
    df_keyq_t *q = s->keyq;

    if (!q)
        return;
    s->keyq = NULL;
    if (q->head) {
        df_slot_t *next = q->head;
        q->head = next->next_in_key;
        if (!q->head)
            q->tail = NULL;
        next->next_in_key = NULL;
        push_ready(d, next);
        return;
    }
    df_hmap_remove(d->keys, q->key, q->key_len);
    free(q->key);
    free(q);
}

df_slot_t *df_dispatch_next(df_dispatch_t *d, int timeout_ms)
{
    struct timespec until;
    df_slot_t *s = NULL;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (d->closed)
            break;
        if (d->ready_head) {
            s = d->ready_head;
            d->ready_head = s->next_ready;
            if (!d->ready_head)
                d->ready_tail = NULL;
            if (s->part->revoked) { /* its new owner runs it: drop */
                s->finished = s->done = true;
                release_key(d, s);
                advance(d, s->part);
                s = NULL;
                continue;
            }
            s->running = true;
            s->stop = d->sticky_stop;
            d->nrunning++;
            break;
        }
        if (pthread_cond_timedwait(&d->ready_cond, &d->lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&d->lock);
    return s;
}

void df_dispatch_finished(df_dispatch_t *d, df_slot_t *slot)
{
    pthread_mutex_lock(&d->lock);
    if (slot->running) {
        slot->running = false;
        d->nrunning--;
    }
    df_hmap_remove(d->running, slot->task_id, strlen(slot->task_id));
    slot->finished = true;
    release_key(d, slot);
    advance(d, slot->part);
    pthread_mutex_unlock(&d->lock);
}

void df_dispatch_done(df_dispatch_t *d, df_slot_t *slot)
{
    pthread_mutex_lock(&d->lock);
    slot->done = true;
    advance(d, slot->part);
    pthread_mutex_unlock(&d->lock);
}

size_t df_dispatch_buffered(df_dispatch_t *d)
{
    size_t n;
    pthread_mutex_lock(&d->lock);
    n = d->buffered;
    pthread_mutex_unlock(&d->lock);
    return n;
}

size_t df_dispatch_running(df_dispatch_t *d)
{
    size_t n;
    pthread_mutex_lock(&d->lock);
    n = d->nrunning;
    pthread_mutex_unlock(&d->lock);
    return n;
}

typedef struct each_ctx {
    int reason;
    char (*task_ids)[64];
    char (*tokens)[DF_LEASE_TOKEN_MAX];
    size_t n, max;
} each_ctx_t;

static void stop_cb(void *ctx, const char *key, void *value)
{
    df_slot_t *s = value;
    (void)key;
    __atomic_store_n(&s->stop, ((each_ctx_t *)ctx)->reason, __ATOMIC_RELAXED);
}

void df_dispatch_stop_all(df_dispatch_t *d, int reason, bool sticky)
{
    each_ctx_t ctx = { .reason = reason };

    pthread_mutex_lock(&d->lock);
    if (sticky)
        d->sticky_stop = reason;
    df_hmap_each(d->running, stop_cb, &ctx);
    pthread_mutex_unlock(&d->lock);
}

void df_dispatch_stop_new(df_dispatch_t *d, int reason)
{
    pthread_mutex_lock(&d->lock);
    d->sticky_stop = reason;
    pthread_mutex_unlock(&d->lock);
}

int df_dispatch_stop_reason(df_dispatch_t *d)
{
    int r;
    pthread_mutex_lock(&d->lock);
    r = d->sticky_stop;
    pthread_mutex_unlock(&d->lock);
    return r;
}

static void lease_cb(void *ctx, const char *key, void *value)
{
    each_ctx_t *c = ctx;
    df_slot_t *s = value;
    (void)key;
    if (c->n < c->max && s->token[0]) {
        memcpy(c->task_ids[c->n], s->task_id, sizeof(s->task_id));
        memcpy(c->tokens[c->n], s->token, sizeof(s->token));
        c->n++;
    }
}

size_t df_dispatch_leases(df_dispatch_t *d, char (*task_ids)[64],
                          char (*tokens)[DF_LEASE_TOKEN_MAX], size_t max)
{
    each_ctx_t ctx = { .task_ids = task_ids, .tokens = tokens, .max = max };

    pthread_mutex_lock(&d->lock);
    df_hmap_each(d->running, lease_cb, &ctx);
    pthread_mutex_unlock(&d->lock);
    return ctx.n;
}

void df_dispatch_leased(df_dispatch_t *d, df_slot_t *slot)
{
    pthread_mutex_lock(&d->lock);
    df_hmap_put(d->running, slot->task_id, strlen(slot->task_id), slot);
    pthread_mutex_unlock(&d->lock);
}

void df_dispatch_stop_task(df_dispatch_t *d, const char *task_id, int reason)
{
    df_slot_t *s;

    pthread_mutex_lock(&d->lock);
    s = df_hmap_get(d->running, task_id, strlen(task_id));
    if (s)
        __atomic_store_n(&s->stop, reason, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&d->lock);
}

void df_dispatch_close(df_dispatch_t *d)
{
    pthread_mutex_lock(&d->lock);
    d->closed = true;
    pthread_cond_broadcast(&d->ready_cond);
    pthread_mutex_unlock(&d->lock);
}
