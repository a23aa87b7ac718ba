/* recorder_redis: the recorder's Redis side (see recorder.h). Workers keep
 * df:task:{id} current as they run tasks; this file puts back what Redis
 * lost, from PostgreSQL, the source of truth:
 *   - after each recorded batch, for the batch's tasks, where the hash is
 *     missing or older than the recorded state;
 *   - after Redis restarted empty (or was flushed), for every task updated
 *     in the last DF_RECORDER_KEEP_S seconds. The marker key
 *     df:recorder:epoch tells: it is set once such a restore is complete,
 *     and found missing when Redis lost its data.
 * Redis errors never stop the recorder: they are logged (at most one
 * warning per WARN_EVERY_MS) and the work is tried again later. */
#include "recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"

#define EPOCH_KEY        "df:recorder:epoch"
#define EPOCH_CHECK_MS   5000
#define RETRY_MS         2000 /* after an error, the restore work rests this long */
#define WARN_EVERY_MS    30000
#define REDIS_TIMEOUT_MS 2000
#define RESTORE_CHUNK    200  /* tasks per EVALSHA (argv stays far below df_redis's bound) */
#define RESTORE_PAGE     1000 /* task rows per PostgreSQL page when restoring everything */
#define TASK_KEY_MAX     300  /* "df:task:" + a task id (at most 256 bytes) */
#define TIME_TEXT_MAX    32
#define VALUES_PER_TASK  11

/* KEYS: df:task:{id} of each task. ARGV[1]: seconds a finished task's hash
 * is kept; then VALUES_PER_TASK values per key, in the order of `fields`
 * below ('' for unknown). A hash is written when it is missing or holds an
 * older state by the recorder's rule: a later attempt wins; within an
 * attempt a terminal state beats a live one; otherwise the later time
 * wins. Returns how many hashes were written. */
static const char restore_lua[] =
    "local final = {succeeded = true, failed = true, dead = true, cancelled = true}\n"
    "local fields = {'state', 'attempt', 'updated_at', 'type', 'connector', 'worker',\n"
    "                'error_code', 'error', 'result', 'started_at', 'finished_at'}\n"
    "local cleared = {error_code = true, error = true, result = true, finished_at = true}\n"
    "local written = 0\n"
    "for i, key in ipairs(KEYS) do\n"
    "  local base = 1 + (i - 1) * 11\n"
    "  local state, attempt, at = ARGV[base + 1], tonumber(ARGV[base + 2]), ARGV[base + 3]\n"
    "  local cur = redis.call('HMGET', key, 'state', 'attempt', 'updated_at')\n"
    "  local apply\n"
    "  if not cur[1] then\n"
    "    apply = true\n"
    "  else\n"
    "    local cur_attempt = tonumber(cur[2]) or 0\n"
    "    if attempt ~= cur_attempt then\n"
    "      apply = attempt > cur_attempt\n"
    "    elseif (final[cur[1]] or false) ~= (final[state] or false) then\n"
    "      apply = final[state] or false\n"
    "    else\n"
    "      apply = (cur[3] or '') < at\n"
    "    end\n"
    "  end\n"
    "  if apply then\n"
    "    local set, gone = {}, {}\n"
    "    for f = 1, 11 do\n"
    "      local v = ARGV[base + f]\n"
    "      if v ~= '' then\n"
    "        set[#set + 1] = fields[f]; set[#set + 1] = v\n"
    "      elseif cleared[fields[f]] then\n"
    "        gone[#gone + 1] = fields[f]\n"
    "      end\n"
    "    end\n"
    "    redis.call('HSET', key, unpack(set))\n"
    "    if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end\n"
    "    if final[state] then redis.call('EXPIRE', key, ARGV[1])\n"
    "    else redis.call('PERSIST', key) end\n"
    "    written = written + 1\n"
    "  end\n"
    "end\n"
    "return written\n";

/* The argv of one EVALSHA, reused for every chunk. */
typedef struct chunk {
    char keys[RESTORE_CHUNK][TASK_KEY_MAX];
    char times[RESTORE_CHUNK][3][TIME_TEXT_MAX];
    const char *keyp[RESTORE_CHUNK];
    const char *args[1 + RESTORE_CHUNK * VALUES_PER_TASK];
} chunk_t;

struct df_recorder_redis {
    char *url;
    df_redis_t *conn;
    df_redis_script_t script;
    chunk_t *chunk;
    int64_t retry_at_ms;       /* Redis is left alone until then after an error */
    int64_t last_warn_ms;      /* pacing of warnings */
    int64_t next_check_ms;     /* of the epoch marker */
    bool restoring;            /* a restore of every recent task is under way */
    char cursor[TASK_KEY_MAX]; /* the last task id that restore did */
    int64_t restore_started_ms;
    long long restore_rows, restore_written;
};

static void warn_paced(df_recorder_redis_t *rr, const char *what, const df_error_t *err)
{
    int64_t now = df_mono_ms();

    rr->retry_at_ms = now + RETRY_MS;
    if (rr->last_warn_ms == 0 || now - rr->last_warn_ms >= WARN_EVERY_MS) {
        rr->last_warn_ms = now;
        df_warn("redis: %s: %s (live status restore retried later; PostgreSQL history is not "
                "affected)",
                what, err->message);
    } else {
        df_debug("redis: %s: %s", what, err->message);
    }
}

/* The connection, or NULL while Redis is unreachable or resting after an
 * error. */
static df_redis_t *usable(df_recorder_redis_t *rr)
{
    df_error_t err;

    if (df_mono_ms() < rr->retry_at_ms)
        return NULL;
    if (rr->conn)
        return rr->conn;
    df_error_init(&err);
    rr->conn = df_redis_new(rr->url, REDIS_TIMEOUT_MS, REDIS_TIMEOUT_MS, &err);
    if (!rr->conn) {
        warn_paced(rr, "connect", &err);
        return NULL;
    }
    df_debug("redis: connected to %s", df_redis_where(rr->conn));
    rr->next_check_ms = 0;
    return rr->conn;
}

df_recorder_redis_t *df_recorder_redis_new(const char *url, df_error_t *err)
{
    df_recorder_redis_t *rr;
    df_redis_url_t parsed;

    if (df_redis_url_parse(url, &parsed, err) != DF_OK)
        return NULL;
    rr = calloc(1, sizeof(*rr));
    if (rr) {
        rr->url = strdup(url);
        rr->chunk = malloc(sizeof(*rr->chunk));
    }
    if (!rr || !rr->url || !rr->chunk) {
        df_recorder_redis_destroy(rr);
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    df_redis_script_init(&rr->script, restore_lua);
    return rr;
}

void df_recorder_redis_destroy(df_recorder_redis_t *rr)
{
    if (!rr)
        return;
    df_redis_destroy(rr->conn);
    free(rr->chunk);
    free(rr->url);
    free(rr);
}

/* Unix ms text of a result column ("" for NULL) as RFC 3339 into buf. */
static const char *time_text(const PGresult *rows, int row, int col, char *buf)
{
    if (PQgetisnull(rows, row, col))
        return "";
    df_time_format(strtoll(PQgetvalue(rows, row, col), NULL, 10), buf, TIME_TEXT_MAX);
    return buf;
}

/* Write the task rows [from, to) of rows in one EVALSHA. Rows without a
 * recorded state time (only progress seen so far) are left out. */
static df_code_t write_chunk(df_recorder_redis_t *rr, df_redis_t *conn, const PGresult *rows,
                             int from, int to, long long *written, df_error_t *err)
{
    chunk_t *c = rr->chunk;
    char keep[16];
    size_t n = 0, nargs = 1;
    redisReply *reply;

    snprintf(keep, sizeof(keep), "%d", DF_RECORDER_KEEP_S);
    c->args[0] = keep;
    for (int row = from; row < to; row++) {
        const char *id = PQgetvalue(rows, row, DF_RECORDER_COL_TASK_ID);
        const char **a = &c->args[nargs];

        if (PQgetisnull(rows, row, DF_RECORDER_COL_AT_MS) || strlen(id) > 256)
            continue;
        snprintf(c->keys[n], TASK_KEY_MAX, "df:task:%s", id);
        c->keyp[n] = c->keys[n];
        a[0] = PQgetvalue(rows, row, DF_RECORDER_COL_STATE);
        a[1] = PQgetvalue(rows, row, DF_RECORDER_COL_ATTEMPT);
        a[2] = time_text(rows, row, DF_RECORDER_COL_AT_MS, c->times[n][0]);
        a[3] = PQgetvalue(rows, row, DF_RECORDER_COL_TYPE);
        a[4] = PQgetvalue(rows, row, DF_RECORDER_COL_CONNECTOR);
        a[5] = PQgetvalue(rows, row, DF_RECORDER_COL_WORKER);
        a[6] = PQgetvalue(rows, row, DF_RECORDER_COL_ERROR_CODE);
        a[7] = PQgetvalue(rows, row, DF_RECORDER_COL_ERROR_MESSAGE);
        a[8] = PQgetvalue(rows, row, DF_RECORDER_COL_RESULT);
        a[9] = time_text(rows, row, DF_RECORDER_COL_STARTED_MS, c->times[n][1]);
        a[10] = time_text(rows, row, DF_RECORDER_COL_FINISHED_MS, c->times[n][2]);
        nargs += VALUES_PER_TASK;
        n++;
    }
    if (n == 0)
        return DF_OK;
    reply = df_redis_evalsha(conn, &rr->script, n, c->keyp, nargs, c->args, err);
    if (!reply)
        return err->code;
    if (reply->type == REDIS_REPLY_INTEGER)
        *written += reply->integer;
    freeReplyObject(reply);
    return DF_OK;
}

static df_code_t write_rows(df_recorder_redis_t *rr, df_redis_t *conn, const PGresult *rows,
                            long long *written, df_error_t *err)
{
    int total = PQntuples(rows);

    for (int from = 0; from < total; from += RESTORE_CHUNK) {
        int to = from + RESTORE_CHUNK < total ? from + RESTORE_CHUNK : total;
        if (write_chunk(rr, conn, rows, from, to, written, err) != DF_OK)
            return err->code;
    }
    return DF_OK;
}

void df_recorder_redis_restore(df_recorder_redis_t *rr, const PGresult *rows)
{
    df_redis_t *conn;
    df_error_t err;
    long long written = 0;

    if (!rr || !rows || PQntuples(rows) == 0 || !(conn = usable(rr)))
        return;
    df_error_init(&err);
    if (write_rows(rr, conn, rows, &written, &err) != DF_OK) {
        warn_paced(rr, "restoring df:task hashes", &err);
        return;
    }
    if (written > 0)
        df_debug("redis: restored %lld of %d df:task hashes", written, PQntuples(rows));
}

/* Is the marker there? Starts a restore of everything when it is not. */
static void check_epoch(df_recorder_redis_t *rr, df_redis_t *conn)
{
    df_error_t err;
    redisReply *reply;

    df_error_init(&err);
    reply = df_redis_command(conn, &err, "EXISTS %s", EPOCH_KEY);
    if (!reply) {
        warn_paced(rr, "checking " EPOCH_KEY, &err);
        return;
    }
    rr->next_check_ms = df_mono_ms() + EPOCH_CHECK_MS;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        df_warn("redis: %s is missing (Redis restarted empty or was flushed): restoring df:task "
                "hashes of the tasks updated in the last %d days from PostgreSQL",
                EPOCH_KEY, DF_RECORDER_KEEP_S / 86400);
        rr->restoring = true;
        rr->cursor[0] = '\0';
        rr->restore_started_ms = df_mono_ms();
        rr->restore_rows = rr->restore_written = 0;
    }
    freeReplyObject(reply);
}

/* One page of the restore of everything; at the end, the marker again. */
static void restore_page(df_recorder_redis_t *rr, df_redis_t *conn, df_pg_t *pg)
{
    df_error_t err;
    PGresult *rows;
    redisReply *reply;
    char epoch[DF_ID_BUF];
    int n;

    if (!df_pg_connected(pg))
        return;
    df_error_init(&err);
    rows = df_recorder_sql_recent(pg, rr->cursor, RESTORE_PAGE, &err);
    if (!rows) {
        df_debug("redis restore: reading tasks from PostgreSQL: %s (retried)", err.message);
        rr->retry_at_ms = df_mono_ms() + RETRY_MS;
        return;
    }
    if (write_rows(rr, conn, rows, &rr->restore_written, &err) != DF_OK) {
        warn_paced(rr, "restoring df:task hashes", &err);
        PQclear(rows);
        return;
    }
    n = PQntuples(rows);
    rr->restore_rows += n;
    if (n > 0)
        snprintf(rr->cursor, sizeof(rr->cursor), "%s",
                 PQgetvalue(rows, n - 1, DF_RECORDER_COL_TASK_ID));
    PQclear(rows);
    if (n == RESTORE_PAGE)
        return;
    df_id_ulid(epoch);
    reply = df_redis_command(conn, &err, "SET %s %s", EPOCH_KEY, epoch);
    if (!reply) {
        warn_paced(rr, "setting " EPOCH_KEY, &err);
        return;
    }
    freeReplyObject(reply);
    rr->restoring = false;
    rr->next_check_ms = df_mono_ms() + EPOCH_CHECK_MS;
    df_info("redis: restored %lld df:task hashes (%lld recent tasks read from PostgreSQL) in "
            "%lld ms",
            rr->restore_written, rr->restore_rows,
            (long long)(df_mono_ms() - rr->restore_started_ms));
}

void df_recorder_redis_tick(df_recorder_redis_t *rr, df_pg_t *pg)
{
    df_redis_t *conn;

    if (!rr || (!rr->restoring && df_mono_ms() < rr->next_check_ms) || !(conn = usable(rr)))
        return;
    if (rr->restoring)
        restore_page(rr, conn, pg);
    else
        check_epoch(rr, conn);
}
