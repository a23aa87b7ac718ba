/* refresh_guard: one refresh per target fleet-wide (a Redis lock holding
 * the platform job, so later requests join it), and the polling cadence of
 * refresh connectors (see refresh_guard.h). Each lock step is one Lua
 * script: atomic, one round trip. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"
#include "refresh_guard.h"

#define KEY_PREFIX "df:refresh:"

/* The lock's text, built in Lua from strings so the job JSON is stored as
 * the connector wrote it (no re-encoding). */
#define LOCK_TEXT(task, job, since)                                    \
    "'{\"task_id\":' .. cjson.encode(" task ") .. ',\"job\":' .. " job \
    " .. ',\"since_ms\":' .. " since " .. '}'"

/* KEYS[1] lock; ARGV task_id, now_ms, ttl_ms -> {role, lock text} */
static const char begin_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local ok, lock = false, nil\n"
    "if v then ok, lock = pcall(cjson.decode, v) end\n"
    "if not ok or type(lock) ~= 'table' or type(lock.task_id) ~= 'string' then\n"
    "  local t = " LOCK_TEXT("ARGV[1]", "'null'",
                             "ARGV[2]") "\n"
                                        "  redis.call('SET', KEYS[1], t, 'PX', ARGV[3])\n"
                                        "  return {0, t}\n"
                                        "end\n"
                                        "if lock.task_id == ARGV[1] then return {0, v} end\n"
                                        "if type(lock.job) == 'table' then return {1, v} end\n"
                                        "return {2, v}\n";

/* KEYS[1] lock; ARGV task_id, job text, ttl_ms, now_ms -> 1 stored, 0 not the owner */
static const char set_job_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local since = ARGV[4]\n"
    "if v then\n"
    "  local ok, lock = pcall(cjson.decode, v)\n"
    "  if ok and type(lock) == 'table' and type(lock.task_id) == 'string' then\n"
    "    if lock.task_id ~= ARGV[1] then return 0 end\n"
    "    if type(lock.since_ms) == 'number' then since = string.format('%d', lock.since_ms) end\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], " LOCK_TEXT("ARGV[1]", "ARGV[2]", "since") ", 'PX', ARGV[3])\n"
                                                                           "return 1\n";

/* KEYS[1] lock; ARGV task_id, job text ('' : null), ttl_ms, now_ms
 * -> 1 renewed, 2 taken again (it had expired), 0 another task owns it */
static const char touch_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then\n"
    "  local job = ARGV[2]\n"
    "  if job == '' then job = 'null' end\n"
    "  redis.call('SET', KEYS[1], " LOCK_TEXT(
        "ARGV[1]", "job",
        "ARGV[4]") ", 'PX', ARGV[3])\n"
                   "  return 2\n"
                   "end\n"
                   "local ok, lock = pcall(cjson.decode, v)\n"
                   "if ok and type(lock) == 'table' and lock.task_id == ARGV[1] then\n"
                   "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                   "  return 1\n"
                   "end\n"
                   "return 0\n";

/* KEYS[1] lock; ARGV task_id -> 1 released, 0 not the owner */
static const char end_lua[] = "local v = redis.call('GET', KEYS[1])\n"
                              "if not v then return 0 end\n"
                              "local ok, lock = pcall(cjson.decode, v)\n"
                              "if ok and type(lock) == 'table' and lock.task_id == ARGV[1] then\n"
                              "  redis.call('DEL', KEYS[1])\n"
                              "  return 1\n"
                              "end\n"
                              "return 0\n";

static df_redis_script_t begin_script, set_job_script, touch_script, end_script;
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void init_scripts(void)
{
    df_redis_script_init(&begin_script, begin_lua);
    df_redis_script_init(&set_job_script, set_job_lua);
    df_redis_script_init(&touch_script, touch_lua);
    df_redis_script_init(&end_script, end_lua);
}

void df_refresh_claim_init(df_refresh_claim_t *claim)
{
    memset(claim, 0, sizeof(*claim));
}

void df_refresh_claim_free(df_refresh_claim_t *claim)
{
    json_decref(claim->job);
    df_refresh_claim_init(claim);
}

int64_t df_refresh_guard_ttl(int64_t delay_ms)
{
    if (delay_ms < 0)
        delay_ms = 0;
    return 2 * delay_ms + DF_REFRESH_GUARD_GRACE_MS;
}

/* The lock's key into key; checks what every call needs. */
static df_code_t prepare(df_task_ctx_t *ctx, const char *target, char *key, size_t len,
                         df_error_t *err)
{
    pthread_once(&scripts_once, init_scripts);
    if (!target || !*target || strlen(target) > DF_REFRESH_TARGET_MAX)
        return df_error_set(err, DF_ERR_INVALID, "target",
                            "refresh target: expected \"<connector>:<target id>\" of 1 to %d "
                            "characters",
                            DF_REFRESH_TARGET_MAX);
    if (!ctx->task_id || !*ctx->task_id)
        return df_error_set(err, DF_ERR_INVALID, "task_id", "refresh guard: the task has no id");
    if (!ctx->redis) {
        df_error_set(err, DF_ERR_REDIS, "redis",
                     "Redis is unreachable: the refresh of %s cannot be guarded", target);
        err->retryable = true;
        return DF_ERR_REDIS;
    }
    snprintf(key, len, "%s%s", KEY_PREFIX, target);
    return DF_OK;
}

/* Run a lock script; the reply (caller frees) or NULL with err set. */
static redisReply *run_script(df_task_ctx_t *ctx, const df_redis_script_t *script, const char *key,
                              size_t nargs, const char *const *args, const char *target,
                              df_error_t *err)
{
    const char *keys[] = { key };
    redisReply *r = df_redis_evalsha(ctx->redis, script, 1, keys, nargs, args, err);

    if (!r) {
        df_error_prefix(err, "refresh guard of %s", target);
        err->retryable = true;
    }
    return r;
}

/* The lock text into claim. */
static df_code_t read_lock(const char *text, size_t len, df_refresh_claim_t *claim,
                           const char *target, df_error_t *err)
{
    json_error_t jerr;
    json_t *lock = json_loadb(text, len, 0, &jerr), *job;
    const char *owner = json_string_value(json_object_get(lock, "task_id"));

    if (!json_is_object(lock) || !owner) {
        json_decref(lock);
        return df_error_set(err, DF_ERR_INTERNAL, "lock",
                            "refresh guard of %s: the lock is not a JSON object with task_id",
                            target);
    }
    snprintf(claim->owner, sizeof(claim->owner), "%s", owner);
    job = json_object_get(lock, "job");
    claim->job = json_is_object(job) ? json_incref(job) : NULL;
    claim->since_ms = json_integer_value(json_object_get(lock, "since_ms"));
    if (json_is_real(json_object_get(lock, "since_ms")))
        claim->since_ms = (int64_t)json_real_value(json_object_get(lock, "since_ms"));
    json_decref(lock);
    return DF_OK;
}

df_code_t df_refresh_guard_begin(df_task_ctx_t *ctx, const char *target, int64_t ttl_ms,
                                 df_refresh_claim_t *claim, df_error_t *err)
{
    char key[sizeof(KEY_PREFIX) + DF_REFRESH_TARGET_MAX], now[24], ttl[24];
    redisReply *r;
    df_code_t rc;

    df_refresh_claim_free(claim);
    if ((rc = prepare(ctx, target, key, sizeof(key), err)) != DF_OK)
        return rc;
    snprintf(now, sizeof(now), "%lld", (long long)df_now_ms());
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    {
        const char *args[] = { ctx->task_id, now, ttl };
        r = run_script(ctx, &begin_script, key, 3, args, target, err);
    }
    if (!r)
        return err->code;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return df_error_set(err, DF_ERR_REDIS, "lock", "refresh guard of %s: unexpected reply",
                            target);
    }
    claim->role = (df_refresh_role_t)r->element[0]->integer;
    rc = read_lock(r->element[1]->str, r->element[1]->len, claim, target, err);
    freeReplyObject(r);
    if (rc == DF_OK && claim->role == DF_REFRESH_JOIN && !claim->job)
        claim->role = DF_REFRESH_WAIT;
    return rc;
}

/* An integer reply of a script, or -1 with err set. */
static long long int_reply(redisReply *r, const char *target, df_error_t *err)
{
    long long v = -1;

    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r)
        df_error_set(err, DF_ERR_REDIS, "lock", "refresh guard of %s: unexpected reply", target);
    freeReplyObject(r);
    return v;
}

df_code_t df_refresh_guard_set_job(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                   int64_t ttl_ms, df_error_t *err)
{
    char key[sizeof(KEY_PREFIX) + DF_REFRESH_TARGET_MAX], now[24], ttl[24], *text;
    long long v;
    df_code_t rc;

    if ((rc = prepare(ctx, target, key, sizeof(key), err)) != DF_OK)
        return rc;
    if (!json_is_object(job))
        return df_error_set(err, DF_ERR_INVALID, "job",
                            "refresh guard of %s: the job must be a JSON object", target);
    text = json_dumps(job, JSON_COMPACT);
    if (!text)
        return df_error_set(err, DF_ERR_NOMEM, "job", "out of memory");
    snprintf(now, sizeof(now), "%lld", (long long)df_now_ms());
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    {
        const char *args[] = { ctx->task_id, text, ttl, now };
        v = int_reply(run_script(ctx, &set_job_script, key, 4, args, target, err), target, err);
    }
    free(text);
    if (v < 0)
        return err->code;
    if (v == 0)
        return df_error_set(err, DF_ERR_CONFLICT, "lock",
                            "refresh guard of %s: another task owns the target", target);
    return DF_OK;
}

df_code_t df_refresh_guard_touch(df_task_ctx_t *ctx, const char *target, const json_t *job,
                                 int64_t ttl_ms, df_error_t *err)
{
    char key[sizeof(KEY_PREFIX) + DF_REFRESH_TARGET_MAX], now[24], ttl[24], *text = NULL;
    long long v;
    df_code_t rc;

    if ((rc = prepare(ctx, target, key, sizeof(key), err)) != DF_OK)
        return rc;
    if (json_is_object(job) && !(text = json_dumps(job, JSON_COMPACT)))
        return df_error_set(err, DF_ERR_NOMEM, "job", "out of memory");
    snprintf(now, sizeof(now), "%lld", (long long)df_now_ms());
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    {
        const char *args[] = { ctx->task_id, text ? text : "", ttl, now };
        v = int_reply(run_script(ctx, &touch_script, key, 4, args, target, err), target, err);
    }
    free(text);
    if (v < 0)
        return err->code;
    if (v == 0)
        return df_error_set(err, DF_ERR_CONFLICT, "lock",
                            "refresh guard of %s: another task owns the target", target);
    if (v == 2)
        df_info("task %s: the refresh lock of %s had expired; taken again", ctx->task_id, target);
    return DF_OK;
}

df_code_t df_refresh_guard_end(df_task_ctx_t *ctx, const char *target, df_error_t *err)
{
    char key[sizeof(KEY_PREFIX) + DF_REFRESH_TARGET_MAX];
    df_code_t rc;

    if ((rc = prepare(ctx, target, key, sizeof(key), err)) != DF_OK)
        return rc;
    {
        const char *args[] = { ctx->task_id };
        if (int_reply(run_script(ctx, &end_script, key, 1, args, target, err), target, err) < 0)
            return err->code;
    }
    return DF_OK;
}

int64_t df_refresh_poll_delay(const df_refresh_cadence_t *cadence, int polls,
                              int64_t retry_after_ms, int64_t now_ms, int64_t deadline_ms)
{
    double growth = cadence->growth >= 1.0 ? cadence->growth : DF_REFRESH_GROWTH_DEF;
    int64_t start = cadence->start_ms > 0 ? cadence->start_ms : 1;
    int64_t cap = cadence->cap_ms >= start ? cadence->cap_ms : start;
    double d = (double)start;
    int64_t delay;

    for (int i = 0; i < polls && d < (double)cap; i++)
        d *= growth;
    delay = d >= (double)cap ? cap : (int64_t)d;

    if (retry_after_ms > delay)
        delay = retry_after_ms;
    if (deadline_ms > 0) {
        int64_t left = deadline_ms - now_ms;
        if (left < delay)
            delay = left < 0 ? 0 : left;
    }
    return delay;
}

int64_t df_refresh_pending_timeout_ms(const df_task_ctx_t *ctx, int64_t def)
{
    json_t *v = json_object_get(ctx->connector_config, "pending_timeout_ms");

    if (json_is_integer(v) && json_integer_value(v) >= 1)
        return json_integer_value(v);
    return def;
}

bool df_refresh_pending_check(int64_t pending_since_ms, int64_t now_ms, int64_t timeout_ms,
                              const char *what, df_outcome_t *out)
{
    int64_t waited = now_ms - pending_since_ms;

    if (pending_since_ms <= 0 || timeout_ms <= 0 || waited <= timeout_ms)
        return false;
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "refresh_pending_timeout",
                   "%s was still pending on the platform after %lld ms (pending_timeout_ms %lld): "
                   "the platform never started it",
                   what, (long long)waited, (long long)timeout_ms);
    return true;
}
