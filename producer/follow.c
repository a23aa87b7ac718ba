/* follow: live following of submitted tasks (see follow.h). */
#include "follow.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_hmap.h"
#include "df_id.h"
#include "df_program.h"
#include "df_redis.h"
#include "df_redis_sub.h"
#include "df_task.h"

#define CATCH_UP_MS 2000

typedef struct followed {
    char task_id[64];
    char state[16];
    int attempt;
    bool terminal;
} followed_t;

struct df_follow {
    df_redis_sub_t *sub;
    df_redis_t *redis;
    df_hmap_t *tasks;
    followed_t **list;
    size_t n, cap;
    size_t terminal;
    size_t succeeded;
};

df_follow_t *df_follow_new(const char *redis_url, df_error_t *err)
{
    df_follow_t *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->tasks = df_hmap_new();
    f->sub = df_redis_sub_new(redis_url, "df:status", err);
    if (f->sub)
        f->redis = df_redis_new(redis_url, 2000, 5000, err);
    if (!f->tasks || !f->sub || !f->redis) {
        df_follow_destroy(f);
        return NULL;
    }
    return f;
}

void df_follow_destroy(df_follow_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->list[i]);
    free(f->list);
    df_hmap_destroy(f->tasks);
    df_redis_sub_destroy(f->sub);
    df_redis_destroy(f->redis);
    free(f);
}

void df_follow_add(df_follow_t *f, const char *task_id)
{
    followed_t *t;

    if (df_hmap_get(f->tasks, task_id, strlen(task_id)))
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        followed_t **l = realloc(f->list, cap * sizeof(*l));
        if (!l)
            return;
        f->list = l;
        f->cap = cap;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return;
    snprintf(t->task_id, sizeof(t->task_id), "%s", task_id);
    snprintf(t->state, sizeof(t->state), "%s", DF_STATE_QUEUED);
    f->list[f->n++] = t;
    df_hmap_put(f->tasks, t->task_id, strlen(t->task_id), t);
}

/* Record a state seen for a task; print it when it changed. */
static void saw(df_follow_t *f, FILE *out, const char *task_id, const char *state, int attempt,
                const char *error)
{
    followed_t *t = df_hmap_get(f->tasks, task_id, strlen(task_id));
    char now[40];

    if (!t || t->terminal || !state || strcmp(state, DF_STATE_PROGRESS) == 0)
        return;
    if (strcmp(t->state, state) == 0 && t->attempt == attempt)
        return;
    snprintf(t->state, sizeof(t->state), "%s", state);
    t->attempt = attempt;
    df_time_format(df_now_ms(), now, sizeof(now));
    if (error && *error)
        fprintf(out, "%s %s %s attempt=%d error=\"%s\"\n", now, task_id, state, attempt, error);
    else
        fprintf(out, "%s %s %s attempt=%d\n", now, task_id, state, attempt);
    fflush(out);
    if (df_state_is_terminal(state)) {
        t->terminal = true;
        f->terminal++;
        if (strcmp(state, DF_STATE_SUCCEEDED) == 0)
            f->succeeded++;
    }
}

static void on_message(df_follow_t *f, FILE *out, const char *text, size_t len)
{
    json_t *m = json_loadb(text, len, 0, NULL);
    json_t *err;

    if (!m)
        return;
    err = json_object_get(m, "error");
    saw(f, out, json_string_value(json_object_get(m, "task_id")),
        json_string_value(json_object_get(m, "state")),
        (int)json_integer_value(json_object_get(m, "attempt")),
        json_is_string(err) ? json_string_value(err) : NULL);
    json_decref(m);
}

/* Read df:task:{id} of every unfinished task: catches up on anything the
 * subscription missed. */
static void catch_up(df_follow_t *f, FILE *out)
{
    for (size_t i = 0; i < f->n; i++) {
        followed_t *t = f->list[i];
        df_error_t err;
        redisReply *r;
        char key[96];

        if (t->terminal)
            continue;
        df_error_init(&err);
        snprintf(key, sizeof(key), "df:task:%s", t->task_id);
        r = df_redis_command(f->redis, &err, "HMGET %s state attempt error", key);
        if (!r)
            return;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING)
            saw(f, out, t->task_id, r->element[0]->str,
                r->element[1]->type == REDIS_REPLY_STRING ? atoi(r->element[1]->str) : 1,
                r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : NULL);
        freeReplyObject(r);
    }
}

static void show_progress(df_follow_t *f, FILE *progress)
{
    size_t running = 0;

    if (!progress)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (!f->list[i]->terminal && strcmp(f->list[i]->state, DF_STATE_RUNNING) == 0)
            running++;
    fprintf(progress, "\r%zu/%zu done: %zu succeeded, %zu failed, %zu running ", f->terminal, f->n,
            f->succeeded, f->terminal - f->succeeded, running);
    fflush(progress);
}

int df_follow_run(df_follow_t *f, int64_t timeout_ms, FILE *out, FILE *progress)
{
    int64_t start = df_mono_ms();
    int64_t last_catch_up = 0;
    int rc;

    while (f->terminal < f->n && !df_program_stopping()) {
        char *msg = NULL;
        size_t len = 0;
        df_error_t err;
        df_redis_sub_result_t got;
        int64_t now = df_mono_ms();

        if (timeout_ms > 0 && now - start >= timeout_ms)
            break;
        if (now - last_catch_up >= CATCH_UP_MS) {
            catch_up(f, out);
            last_catch_up = now;
            show_progress(f, progress);
        }
        df_error_init(&err);
        got = df_redis_sub_next(f->sub, 200, &msg, &len, &err);
        if (got == DF_SUB_MESSAGE) {
            on_message(f, out, msg, len);
            free(msg);
        } else if (got == DF_SUB_RECONNECTED) {
            last_catch_up = 0;
        } else if (got == DF_SUB_ERROR) {
            struct timespec ts = { 0, 500000000L };
            nanosleep(&ts, NULL);
        }
    }
    catch_up(f, out);
    show_progress(f, progress);
    if (progress)
        fputc('\n', progress);
    if (f->terminal < f->n)
        rc = DF_FOLLOW_EXIT_TIMEOUT;
    else
        rc = f->succeeded == f->n ? 0 : DF_FOLLOW_EXIT_FAILED;
    return rc;
}
