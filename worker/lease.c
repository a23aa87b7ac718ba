/* lease: Redis scripts for task leases and live status (see lease.h). */
#include "lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"

#define KEY_MAX 256

/* KEYS: task hash, lease, cancel flag.
 * ARGV: worker, ttl_ms, attempt, type, connector, now, max_takeovers, poll_seq.
 *
 * A run's position is (attempt, poll_seq): the hash keeps the position of
 * the run that owns the task (poll_seq is 0 for a task message, n for the
 * n-th poll message of a platform operation). A message behind it is stale:
 * a later attempt or poll already took over, so it is acknowledged with the
 * event the task recorded last. `waiting` = "poll" marks a lease released on
 * purpose while the scheduler holds the next poll: the run that picks it up
 * is no takeover. */
static const char start_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "local attempt = tonumber(ARGV[3])\n"
    "local seq = tonumber(ARGV[8])\n"
    "if state == 'succeeded' or state == 'failed' or state == 'dead' or state == 'cancelled' then\n"
    "  return {'terminal', state, '0', redis.call('HGET', KEYS[1], 'event') or ''}\n"
    "end\n"
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0') or 0\n"
    "local cur_seq = tonumber(redis.call('HGET', KEYS[1], 'poll_seq') or '0') or 0\n"
    "if (state == 'retrying' and cur >= attempt) or cur > attempt\n"
    "   or (cur == attempt and cur_seq > seq) then\n"
    "  return {'stale', state or '', '0', redis.call('HGET', KEYS[1], 'event') or ''}\n"
    "end\n"
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder then return {'busy', holder, '0'} end\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then return {'cancelled', '', '0'} end\n"
    "local takeovers = tonumber(redis.call('HGET', KEYS[1], 'takeovers') or '0')\n"
    "if state == 'running' and redis.call('HGET', KEYS[1], 'waiting') ~= 'poll' then\n"
    "  takeovers = redis.call('HINCRBY', KEYS[1], 'takeovers', 1)\n"
    "end\n"
    "if takeovers >= tonumber(ARGV[7]) then return {'quarantine', '', tostring(takeovers)} end\n"
    "local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)\n"
    "local token = ARGV[1] .. '|' .. fence\n"
    "redis.call('SET', KEYS[2], token, 'PX', ARGV[2])\n"
    "redis.call('HSET', KEYS[1], 'state', 'running', 'attempt', ARGV[3], 'poll_seq', ARGV[8],\n"
    "  'type', ARGV[4], 'connector', ARGV[5], 'worker', ARGV[1], 'updated_at', ARGV[6])\n"
    "if seq == 0 or redis.call('HEXISTS', KEYS[1], 'started_at') == 0 then\n"
    "  redis.call('HSET', KEYS[1], 'started_at', ARGV[6])\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'waiting')\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "redis.call('PUBLISH', 'df:status', cjson.encode({task_id = string.sub(KEYS[1], 9),\n"
    "  state = 'running', attempt = tonumber(ARGV[3]), worker = ARGV[1], at = ARGV[6]}))\n"
    "return {'ok', token, tostring(takeovers)}\n";

/* KEYS: task hash, lease.
 * ARGV: token ('' for none), state, attempt, final (0: the run goes on,
 *       1: terminal, 2: the run ended but the task is not terminal), keep_s,
 *       now, fields (JSON object text or ''). */
static const char update_lua[] =
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder and holder ~= ARGV[1] then return 'fenced' end\n"
    "local cur = redis.call('HGET', KEYS[1], 'state')\n"
    "if (cur == 'succeeded' or cur == 'failed' or cur == 'dead' or cur == 'cancelled')\n"
    "   and ARGV[4] ~= '1' then return 'ok' end\n"
    "local extra = {}\n"
    "if ARGV[7] ~= '' then extra = cjson.decode(ARGV[7]) end\n"
    "local args = {'state', ARGV[2], 'attempt', ARGV[3], 'updated_at', ARGV[6]}\n"
    "if ARGV[4] == '1' then table.insert(args, 'finished_at'); table.insert(args, ARGV[6]) end\n"
    "for k, v in pairs(extra) do\n"
    "  table.insert(args, k)\n"
    "  if type(v) == 'table' then table.insert(args, cjson.encode(v))\n"
    "  else table.insert(args, tostring(v)) end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], unpack(args))\n"
    "if ARGV[4] ~= '0' and holder then redis.call('DEL', KEYS[2]) end\n"
    "if ARGV[4] == '1' then redis.call('EXPIRE', KEYS[1], ARGV[5]) end\n"
    "local msg = {task_id = string.sub(KEYS[1], 9), state = ARGV[2],\n"
    "  attempt = tonumber(ARGV[3]), at = ARGV[6]}\n"
    "for k, v in pairs(extra) do msg[k] = v end\n"
    "redis.call('PUBLISH', 'df:status', cjson.encode(msg))\n"
    "return 'ok'\n";

/* KEYS: task hash, lease. ARGV: token, now. */
static const char handback_lua[] =
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder ~= ARGV[1] then return 'fenced' end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'state', 'queued', 'updated_at', ARGV[2])\n"
    "redis.call('PUBLISH', 'df:status', cjson.encode({task_id = string.sub(KEYS[1], 9),\n"
    "  state = 'queued', at = ARGV[2]}))\n"
    "return 'ok'\n";

/* KEYS: leases. ARGV: ttl_ms, tokens... Returns 1 per lease still ours. A
 * lease that vanished (Redis restarted empty) is taken back: the run is
 * still going, and nobody else holds it. */
static const char renew_lua[] =
    "local out = {}\n"
    "for i, key in ipairs(KEYS) do\n"
    "  local holder = redis.call('GET', key)\n"
    "  if holder == ARGV[i + 1] then\n"
    "    redis.call('PEXPIRE', key, ARGV[1]); out[i] = 1\n"
    "  elseif not holder then\n"
    "    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1]); out[i] = 1\n"
    "  else out[i] = 0 end\n"
    "end\n"
    "return out\n";

/* KEYS: task hash, lease. ARGV: token, job (JSON object text; '' forgets
 * it). Refused when another run holds the lease; a lease that vanished
 * (Redis restarted empty) does not refuse, as in renew. */
static const char job_lua[] = "local holder = redis.call('GET', KEYS[2])\n"
                              "if holder and holder ~= ARGV[1] then return 'fenced' end\n"
                              "if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'job')\n"
                              "else redis.call('HSET', KEYS[1], 'job', ARGV[2]) end\n"
                              "return 'ok'\n";

static df_redis_script_t start_script, update_script, handback_script, renew_script, job_script;

static void init_scripts(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    df_redis_script_init(&start_script, start_lua);
    df_redis_script_init(&update_script, update_lua);
    df_redis_script_init(&handback_script, handback_lua);
    df_redis_script_init(&renew_script, renew_lua);
    df_redis_script_init(&job_script, job_lua);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

df_code_t df_lease_prepare(df_redis_t *redis, df_error_t *err)
{
    init_scripts();
    if (df_redis_script_load(redis, &start_script, err) ||
        df_redis_script_load(redis, &update_script, err) ||
        df_redis_script_load(redis, &handback_script, err) ||
        df_redis_script_load(redis, &renew_script, err) ||
        df_redis_script_load(redis, &job_script, err))
        return err->code;
    return DF_OK;
}

static void key_of(char *buf, const char *prefix, const char *task_id)
{
    snprintf(buf, KEY_MAX, "%s%s", prefix, task_id);
}

static const char *reply_str(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return "";
    r = r->element[i];
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : "";
}

df_code_t df_lease_start(df_redis_t *redis, const df_lease_request_t *req, df_lease_start_t *result,
                         char *token, int *takeovers, char **event, df_error_t *err)
{
    char task_key[KEY_MAX], lease_key[KEY_MAX], cancel_key[KEY_MAX];
    char ttl[24], attempt[16], now[40], maxt[16], seq[16];
    const char *keys[3] = { task_key, lease_key, cancel_key };
    const char *args[8];
    redisReply *r;
    const char *verdict;

    init_scripts();
    key_of(task_key, "df:task:", req->task_id);
    key_of(lease_key, "df:lease:", req->task_id);
    key_of(cancel_key, "df:cancel:", req->task_id);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)req->ttl_ms);
    snprintf(attempt, sizeof(attempt), "%d", req->attempt);
    snprintf(maxt, sizeof(maxt), "%d", req->max_takeovers);
    snprintf(seq, sizeof(seq), "%d", req->poll_seq > 0 ? req->poll_seq : 0);
    df_time_format(df_now_ms(), now, sizeof(now));
    args[0] = req->worker;
    args[1] = ttl;
    args[2] = attempt;
    args[3] = req->type ? req->type : "";
    args[4] = req->connector ? req->connector : "";
    args[5] = now;
    args[6] = maxt;
    args[7] = seq;
    r = df_redis_evalsha(redis, &start_script, 3, keys, 8, args, err);
    if (!r)
        return err->code;
    verdict = reply_str(r, 0);
    token[0] = '\0';
    *event = NULL;
    *takeovers = atoi(reply_str(r, 2));
    if (strcmp(verdict, "ok") == 0) {
        *result = DF_LEASE_ACQUIRED;
        snprintf(token, DF_LEASE_TOKEN_MAX, "%s", reply_str(r, 1));
    } else if (strcmp(verdict, "terminal") == 0 || strcmp(verdict, "stale") == 0) {
        const char *stored = reply_str(r, 3);
        *result = strcmp(verdict, "stale") == 0 ? DF_LEASE_STALE : DF_LEASE_TERMINAL;
        *event = *stored ? strdup(stored) : NULL;
    } else if (strcmp(verdict, "busy") == 0) {
        *result = DF_LEASE_BUSY;
    } else if (strcmp(verdict, "cancelled") == 0) {
        *result = DF_LEASE_CANCELLED;
    } else if (strcmp(verdict, "quarantine") == 0) {
        *result = DF_LEASE_QUARANTINE;
    } else {
        freeReplyObject(r);
        return df_error_set(err, DF_ERR_REDIS, "lease start", "unexpected reply from lease script");
    }
    freeReplyObject(r);
    return DF_OK;
}

df_code_t df_lease_update(df_redis_t *redis, const char *task_id, const char *token,
                          const char *state, int attempt, int final, int64_t keep_s,
                          const char *fields_json, int *fenced, df_error_t *err)
{
    char task_key[KEY_MAX], lease_key[KEY_MAX];
    char attempt_s[16], keep[24], now[40];
    const char *keys[2] = { task_key, lease_key };
    const char *args[7];
    redisReply *r;

    init_scripts();
    key_of(task_key, "df:task:", task_id);
    key_of(lease_key, "df:lease:", task_id);
    snprintf(attempt_s, sizeof(attempt_s), "%d", attempt);
    snprintf(keep, sizeof(keep), "%lld", (long long)keep_s);
    df_time_format(df_now_ms(), now, sizeof(now));
    args[0] = token ? token : "";
    args[1] = state;
    args[2] = attempt_s;
    args[3] = final == DF_LEASE_FINAL ? "1" : final == DF_LEASE_RELEASE ? "2" : "0";
    args[4] = keep;
    args[5] = now;
    args[6] = fields_json ? fields_json : "";
    r = df_redis_evalsha(redis, &update_script, 2, keys, 7, args, err);
    if (!r)
        return err->code;
    *fenced = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
              strcmp(r->str, "fenced") == 0;
    freeReplyObject(r);
    return DF_OK;
}

df_code_t df_lease_handback(df_redis_t *redis, const char *task_id, const char *token,
                            df_error_t *err)
{
    char task_key[KEY_MAX], lease_key[KEY_MAX], now[40];
    const char *keys[2] = { task_key, lease_key };
    const char *args[2] = { token, now };
    redisReply *r;

    init_scripts();
    key_of(task_key, "df:task:", task_id);
    key_of(lease_key, "df:lease:", task_id);
    df_time_format(df_now_ms(), now, sizeof(now));
    r = df_redis_evalsha(redis, &handback_script, 2, keys, 2, args, err);
    if (!r)
        return err->code;
    freeReplyObject(r);
    return DF_OK;
}

df_code_t df_lease_renew(df_redis_t *redis, size_t n, const char *const *task_ids,
                         const char *const *tokens, int64_t ttl_ms, int *lost, df_error_t *err)
{
    char(*keys)[KEY_MAX];
    const char **keyp, **args;
    char ttl[24];
    redisReply *r;
    df_code_t rc = DF_OK;

    if (n == 0)
        return DF_OK;
    init_scripts();
    keys = calloc(n, KEY_MAX);
    keyp = calloc(n, sizeof(char *));
    args = calloc(n + 1, sizeof(char *));
    if (!keys || !keyp || !args) {
        rc = df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    args[0] = ttl;
    for (size_t i = 0; i < n; i++) {
        key_of(keys[i], "df:lease:", task_ids[i]);
        keyp[i] = keys[i];
        args[i + 1] = tokens[i];
    }
    r = df_redis_evalsha(redis, &renew_script, n, keyp, n + 1, args, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        lost[i] = !(r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                    r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == 1);
    freeReplyObject(r);
out:
    free(keys);
    free(keyp);
    free(args);
    return rc;
}

df_code_t df_lease_job_put(df_redis_t *redis, const char *task_id, const char *token,
                           const char *job_json, int *fenced, df_error_t *err)
{
    char task_key[KEY_MAX], lease_key[KEY_MAX];
    const char *keys[2] = { task_key, lease_key };
    const char *args[2] = { token ? token : "", job_json ? job_json : "" };
    redisReply *r;

    init_scripts();
    key_of(task_key, "df:task:", task_id);
    key_of(lease_key, "df:lease:", task_id);
    r = df_redis_evalsha(redis, &job_script, 2, keys, 2, args, err);
    if (!r)
        return err->code;
    *fenced = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
              strcmp(r->str, "fenced") == 0;
    freeReplyObject(r);
    return DF_OK;
}

df_code_t df_lease_job_get(df_redis_t *redis, const char *task_id, char **job_json, df_error_t *err)
{
    char task_key[KEY_MAX];
    redisReply *r;

    *job_json = NULL;
    key_of(task_key, "df:task:", task_id);
    r = df_redis_command(redis, err, "HGET %s job", task_key);
    if (!r)
        return err->code;
    if (r->type == REDIS_REPLY_STRING && r->len > 0) {
        *job_json = strdup(r->str);
        if (!*job_json) {
            freeReplyObject(r);
            return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        }
    }
    freeReplyObject(r);
    return DF_OK;
}
