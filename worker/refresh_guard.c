/* refresh_guard: see refresh_guard.h. Each step is one Lua script, so the
 * check and the change are one step for Redis. */
#include "refresh_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"

#define KEY_MAX 400

/* KEYS[1] the target's key; ARGV task id, TTL ms. Returns {role, value}. */
static const char begin_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then\n"
    "  redis.call('SET', KEYS[1], cjson.encode({task_id = ARGV[1]}), 'PX', ARGV[2])\n"
    "  return {'owner', ''}\n"
    "end\n"
    "local ok, d = pcall(cjson.decode, v)\n"
    "if not ok or type(d) ~= 'table' or d.task_id == ARGV[1] then\n"
    "  redis.call('SET', KEYS[1], ok and type(d) == 'table' and v or\n"
    "             cjson.encode({task_id = ARGV[1]}), 'PX', ARGV[2])\n"
    "  return {'owner', ''}\n"
    "end\n"
    "if d.job then return {'join', v} end\n"
    "return {'wait', v}\n";

/* KEYS[1]; ARGV task id, job JSON, TTL ms. 1 when set, 0 when not owned. */
static const char set_job_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local ok, d = pcall(cjson.decode, v or '')\n"
    "if not ok or type(d) ~= 'table' or d.task_id ~= ARGV[1] then return 0 end\n"
    "d.job = cjson.decode(ARGV[2])\n"
    "redis.call('SET', KEYS[1], cjson.encode(d), 'PX', ARGV[3])\n"
    "return 1\n";

/* KEYS[1]; ARGV task id. */
static const char end_lua[] = "local v = redis.call('GET', KEYS[1])\n"
                              "local ok, d = pcall(cjson.decode, v or '')\n"
                              "if ok and type(d) == 'table' and d.task_id == ARGV[1] then\n"
                              "  return redis.call('DEL', KEYS[1])\n"
                              "end\n"
                              "return 0\n";

static void key_of(char *key, const char *target)
{
    snprintf(key, KEY_MAX, "df:refresh:%.380s", target);
}

static redisReply *eval(df_task_ctx_t *ctx, const char *script, const char *key, int nargs,
                        const char **args, df_error_t *err)
{
    const char *argv[8];
    int argc = 0;

    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = "1";
    argv[argc++] = key;
    for (int i = 0; i < nargs && argc < 8; i++)
        argv[argc++] = args[i];
    if (!ctx->redis) {
        df_error_set(err, DF_ERR_REDIS, "EVAL", "redis: no connection");
        return NULL;
    }
    return df_redis_commandv(ctx->redis, argc, argv, NULL, err);
}

df_code_t df_refresh_guard_begin(df_task_ctx_t *ctx, const char *target, df_refresh_role_t *role,
                                 json_t **job, char *owner, df_error_t *err)
{
    char key[KEY_MAX], ttl[24];
    const char *args[2] = { ctx->task_id, ttl };
    redisReply *r;
    const char *verdict;

    *job = NULL;
    if (owner)
        owner[0] = '\0';
    key_of(key, target);
    snprintf(ttl, sizeof(ttl), "%d", DF_REFRESH_GUARD_TTL_MS);
    r = eval(ctx, begin_lua, key, 2, args, err);
    if (!r)
        return err->code;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str) {
        freeReplyObject(r);
        return df_error_set(err, DF_ERR_REDIS, "EVAL", "refresh guard: unexpected answer");
    }
    verdict = r->element[0]->str;
    *role = strcmp(verdict, "join") == 0   ? DF_REFRESH_JOIN
            : strcmp(verdict, "wait") == 0 ? DF_REFRESH_WAIT
                                           : DF_REFRESH_OWNER;
    if (*role != DF_REFRESH_OWNER && r->element[1]->str) {
        json_t *v = json_loads(r->element[1]->str, 0, NULL);
        if (owner)
            snprintf(owner, DF_ID_BUF, "%s",
                     json_string_value(json_object_get(v, "task_id"))
                         ? json_string_value(json_object_get(v, "task_id"))
                         : "");
        if (*role == DF_REFRESH_JOIN)
            *job = json_incref(json_object_get(v, "job"));
        json_decref(v);
    }
    freeReplyObject(r);
    return DF_OK;
}

df_code_t df_refresh_guard_set_job(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                   df_error_t *err)
{
    char key[KEY_MAX], ttl[24];
    char *text = json_dumps(job, JSON_COMPACT);
    const char *args[3] = { ctx->task_id, text, ttl };
    redisReply *r;
    df_code_t rc = DF_OK;

    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    key_of(key, target);
    snprintf(ttl, sizeof(ttl), "%d", DF_REFRESH_GUARD_TTL_MS);
    r = eval(ctx, set_job_lua, key, 3, args, err);
    free(text);
    if (!r)
        return err->code;
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        rc = df_error_set(err, DF_ERR_CONFLICT, NULL, "refresh of %s: no longer this task's",
                          target);
    freeReplyObject(r);
    return rc;
}

void df_refresh_guard_touch(df_task_ctx_t *ctx, const char *target)
{
    char key[KEY_MAX];
    df_error_t err;

    key_of(key, target);
    df_error_init(&err);
    if (ctx->redis)
        freeReplyObject(
            df_redis_command(ctx->redis, &err, "PEXPIRE %s %d", key, DF_REFRESH_GUARD_TTL_MS));
}

void df_refresh_guard_end(df_task_ctx_t *ctx, const char *target)
{
    char key[KEY_MAX];
    const char *args[1] = { ctx->task_id };
    df_error_t err;
    redisReply *r;

    key_of(key, target);
    df_error_init(&err);
    r = eval(ctx, end_lua, key, 1, args, &err);
    if (r)
        freeReplyObject(r);
    else
        df_warn("refresh guard: %s not freed (%s); it frees itself in %d s", target, err.message,
                DF_REFRESH_GUARD_TTL_MS / 1000);
}
