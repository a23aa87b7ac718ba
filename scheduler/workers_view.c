/* workers_view: df:workers and the df:worker:{id} hashes as JSON (see
 * workers_view.h). */
#include "workers_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"

#define WORKER_KEY_MAX 300

/* The hash of one worker into w (fields as strings, `running` as a
 * number). Returns false with err set when Redis failed. */
static bool add_hash(df_redis_t *redis, const char *id, json_t *w, df_error_t *err)
{
    char key[WORKER_KEY_MAX];
    redisReply *r;
    bool gone;

    snprintf(key, sizeof(key), "df:worker:%s", id);
    r = df_redis_command(redis, err, "HGETALL %s", key);
    if (!r)
        return false;
    gone = r->type != REDIS_REPLY_ARRAY || r->elements == 0;
    json_object_set_new(w, "started_at", json_null());
    json_object_set_new(w, "running", json_null());
    json_object_set_new(w, "version", json_null());
    json_object_set_new(w, "types", json_null());
    for (size_t i = 0; !gone && i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i], *value = r->element[i + 1];
        json_t *v;
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            continue;
        /* the sorted set's score is the heartbeat that counts */
        if (strcmp(name->str, "worker") == 0 || strcmp(name->str, "heartbeat_at") == 0)
            continue;
        if (strcmp(name->str, "running") == 0)
            v = json_integer(strtoll(value->str, NULL, 10));
        else
            v = json_stringn(value->str, value->len);
        if (v)
            json_object_set_new(w, name->str, v);
    }
    json_object_set_new(w, "gone", json_boolean(gone));
    freeReplyObject(r);
    return true;
}

static int by_id(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

df_code_t df_workers_list(df_redis_t *redis, int64_t stale_ms, json_t **out, df_error_t *err)
{
    redisReply *r;
    json_t **workers = NULL;
    size_t n = 0;
    int64_t now = df_now_ms();
    df_code_t rc = DF_OK;

    *out = NULL;
    if (stale_ms < 1)
        return df_error_set(err, DF_ERR_INVALID, "stale", "stale must be >= 1 ms");
    r = df_redis_command(redis, err, "ZRANGE df:workers 0 -1 WITHSCORES");
    if (!r)
        return err->code;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        workers = calloc(r->elements / 2 + 1, sizeof(*workers));
        if (!workers) {
            freeReplyObject(r);
            return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        }
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i], *score = r->element[i + 1];
        int64_t beat = score->type == REDIS_REPLY_STRING ? (int64_t)strtod(score->str, NULL) : 0;
        char at[40];
        json_t *w;

        if (id->type != REDIS_REPLY_STRING || id->len == 0 || id->len > 256)
            continue;
        df_time_format(beat, at, sizeof(at));
        w = json_pack("{s:s, s:s, s:I, s:b}", "id", id->str, "heartbeat_at", at, "age_ms",
                      (json_int_t)(now - beat), "stale", now - beat > stale_ms);
        if (!w) {
            rc = df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        workers[n++] = w;
        if (!add_hash(redis, id->str, w, err)) {
            rc = err->code;
            break;
        }
    }
    freeReplyObject(r);
    if (rc == DF_OK) {
        if (n > 1)
            qsort(workers, n, sizeof(*workers), by_id);
        *out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(*out, workers[i]);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(workers[i]);
    free(workers);
    return *out ? DF_OK : (rc ? rc : df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory"));
}
