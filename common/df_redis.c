/* df_redis: Redis connection with URL parsing, time limits, one reconnect
 * on a broken connection, error conversion and small helpers (see
 * df_redis.h). */
#include "df_redis.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "df_id.h"
#include "df_log.h"
#include "df_metrics.h"

#define CMD_NAME_MAX 32
#define ARGS_MAX     4096 /* bound on argv built by the helpers */

struct df_redis {
    redisContext *ctx; /* NULL after a failure: the next call reconnects */
    df_redis_url_t url;
    struct timeval connect_tv;
    struct timeval command_tv;
    char where[DF_REDIS_URL_MAX];
};

/* ---- URL ---------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s + n) into out (size len). False when malformed or too
 * long. */
static bool percent_decode(const char *s, size_t n, char *out, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return false;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return false;
            i += 2;
        }
        if (o + 1 >= len)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* Parse a decimal integer [s, s + n) into *out within [min, max]. */
static bool parse_int(const char *s, size_t n, long min, long max, int *out)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 9)
        return false;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* userinfo "[user][:password]" of length n. Messages never show it. */
static df_code_t parse_userinfo(const char *s, size_t n, df_redis_url_t *out, df_error_t *err)
{
    const char *colon = memchr(s, ':', n);
    size_t user_len = colon ? (size_t)(colon - s) : 0;

    if (!colon) {
        /* "redis://secret@host": a lone userinfo is the password (as
         * redis-cli and most clients read it). */
        if (!percent_decode(s, n, out->password, sizeof(out->password)))
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: bad password (too long or bad %%-escape)");
        return DF_OK;
    }
    if (!percent_decode(s, user_len, out->username, sizeof(out->username)))
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: bad user name (too long or bad %%-escape)");
    if (!percent_decode(colon + 1, n - user_len - 1, out->password, sizeof(out->password)))
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: bad password (too long or bad %%-escape)");
    return DF_OK;
}

static df_code_t parse_tcp(const char *rest, df_redis_url_t *out, df_error_t *err)
{
    size_t auth_len = strcspn(rest, "/?#");
    const char *auth_end = rest + auth_len;
    const char *at = NULL;
    const char *host, *host_end, *port = NULL;
    const char *p;
    size_t host_len;
    df_code_t rc;

    for (p = rest; p < auth_end; p++)
        if (*p == '@')
            at = p; /* the last '@': an unescaped '@' in a password still works */
    if (at) {
        rc = parse_userinfo(rest, (size_t)(at - rest), out, err);
        if (rc != DF_OK)
            return rc;
        host = at + 1;
    } else {
        host = rest;
    }
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: '[' of an IPv6 address without ']'");
        host++;
        host_len = (size_t)(host_end - host);
        p = host_end + 1;
        if (p < auth_end && *p != ':')
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: unexpected text after the IPv6 address");
        if (p < auth_end)
            port = p + 1;
    } else {
        const char *colon = memchr(host, ':', (size_t)(auth_end - host));
        host_end = colon ? colon : auth_end;
        host_len = (size_t)(host_end - host);
        if (colon)
            port = colon + 1;
    }
    if (host_len == 0)
        return df_error_set(err, DF_ERR_INVALID, "redis url", "redis URL: no host");
    if (host_len >= sizeof(out->host))
        return df_error_set(err, DF_ERR_INVALID, "redis url", "redis URL: host name too long");
    for (p = host; p < host + host_len; p++)
        if (isspace((unsigned char)*p) || *p == '@')
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: bad character in the host name");
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    if (port && !parse_int(port, (size_t)(auth_end - port), 1, 65535, &out->port))
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: port must be a number in 1..65535");

    if (*auth_end == '/') {
        const char *db = auth_end + 1;
        size_t db_len = strcspn(db, "?#");
        if (db_len > 0 && !parse_int(db, db_len, 0, INT_MAX / 2, &out->db))
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: database after '/' must be a number >= 0");
        auth_end = db + db_len;
    }
    if (*auth_end)
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: query strings and fragments are not supported");
    return DF_OK;
}

static df_code_t parse_unix(const char *rest, df_redis_url_t *out, df_error_t *err)
{
    const char *slash = strchr(rest, '/');
    const char *at = slash ? memchr(rest, '@', (size_t)(slash - rest)) : NULL;
    const char *path;
    size_t path_len;
    df_code_t rc;

    if (at) {
        rc = parse_userinfo(rest, (size_t)(at - rest), out, err);
        if (rc != DF_OK)
            return rc;
        path = at + 1;
    } else {
        path = rest;
    }
    if (*path != '/')
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: unix:// needs an absolute socket path (unix:///path)");
    path_len = strcspn(path, "?");
    if (path_len >= sizeof(out->path))
        return df_error_set(err, DF_ERR_INVALID, "redis url",
                            "redis URL: socket path longer than %d bytes",
                            (int)sizeof(out->path) - 1);
    memcpy(out->path, path, path_len);
    out->path[path_len] = '\0';
    if (path[path_len] == '?') {
        const char *query = path + path_len + 1;
        if (strncmp(query, "db=", 3) != 0 ||
            !parse_int(query + 3, strlen(query + 3), 0, INT_MAX / 2, &out->db))
            return df_error_set(err, DF_ERR_INVALID, "redis url",
                                "redis URL: the only query of unix:// is db=N");
    }
    return DF_OK;
}

df_code_t df_redis_url_parse(const char *url, df_redis_url_t *out, df_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->port = DF_REDIS_PORT_DEFAULT;
    if (!url || !*url)
        return df_error_set(err, DF_ERR_INVALID, "redis url", "redis URL: empty");
    if (strlen(url) >= DF_REDIS_URL_MAX)
        return df_error_set(err, DF_ERR_INVALID, "redis url", "redis URL: longer than %d bytes",
                            DF_REDIS_URL_MAX - 1);
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(url + 8, out, err);
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix(url + 7, out, err);
    if (strncmp(url, "rediss://", 9) == 0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "redis url",
                            "redis URL: rediss:// (TLS) is not supported by this build");
    return df_error_set(err, DF_ERR_INVALID, "redis url",
                        "redis URL: expected redis://host[:port][/db] or unix:///path");
}

void df_redis_url_format(const df_redis_url_t *u, char *buf, size_t len)
{
    const char *auth_sep = (u->username[0] || u->password[0]) ? "@" : "";
    const char *secret = u->password[0] ? ":***" : "";

    if (len == 0)
        return;
    if (u->path[0]) {
        if (u->db)
            snprintf(buf, len, "unix://%s%s%s%s?db=%d", u->username, secret, auth_sep, u->path,
                     u->db);
        else
            snprintf(buf, len, "unix://%s%s%s%s", u->username, secret, auth_sep, u->path);
    } else {
        bool v6 = strchr(u->host, ':') != NULL;
        snprintf(buf, len, "redis://%s%s%s%s%s%s:%d/%d", u->username, secret, auth_sep,
                 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->db);
    }
}

/* ---- SHA-1 (for EVALSHA: the script's id is the SHA-1 of its text) ------ */

typedef struct sha1_ctx {
    uint32_t h[5];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
} sha1_ctx_t;

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(sha1_ctx_t *c, const unsigned char *b)
{
    uint32_t w[80], a, bb, cc, d, e, f, k, t;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = c->h[0], bb = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20)
            f = (bb & cc) | (~bb & d), k = 0x5A827999u;
        else if (i < 40)
            f = bb ^ cc ^ d, k = 0x6ED9EBA1u;
        else if (i < 60)
            f = (bb & cc) | (bb & d) | (cc & d), k = 0x8F1BBCDCu;
        else
            f = bb ^ cc ^ d, k = 0xCA62C1D6u;
        t = rol32(a, 5) + f + e + k + w[i];
        e = d, d = cc, cc = rol32(bb, 30), bb = a, a = t;
    }
    c->h[0] += a, c->h[1] += bb, c->h[2] += cc, c->h[3] += d, c->h[4] += e;
}

static void sha1_hex(const char *text, size_t n, char out[41])
{
    sha1_ctx_t c = { .h = { 0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u } };
    const unsigned char *p = (const unsigned char *)text;
    uint64_t bits;
    int i;

    c.bytes = n;
    for (; n >= 64; n -= 64, p += 64)
        sha1_block(&c, p);
    memcpy(c.block, p, n);
    c.used = n;
    c.block[c.used++] = 0x80;
    if (c.used > 56) {
        memset(c.block + c.used, 0, 64 - c.used);
        sha1_block(&c, c.block);
        c.used = 0;
    }
    memset(c.block + c.used, 0, 56 - c.used);
    bits = c.bytes * 8;
    for (i = 0; i < 8; i++)
        c.block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_block(&c, c.block);
    for (i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(c.h[i / 4] >> (24 - 8 * (i % 4))) & 0xffu);
}

void df_redis_script_init(df_redis_script_t *script, const char *source)
{
    script->source = source;
    sha1_hex(source, strlen(source), script->sha1);
}

/* ---- connection ---------------------------------------------------------- */

/* hiredis writes with write(2): a peer that closed the socket would raise
 * SIGPIPE and kill the process. Block it on this thread during a call and
 * swallow one raised by us, as libpq does; the write then fails with EPIPE,
 * which reads as a broken connection. */
typedef struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
} sigpipe_guard_t;

static void sigpipe_block(sigpipe_guard_t *g)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_restore(sigpipe_guard_t *g)
{
    sigset_t set, pending;

    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = { 0, 0 };
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

static bool starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An error reply -> err. */
static df_code_t reply_error(const char *cmd, const redisReply *reply, df_error_t *err)
{
    const char *text = reply->str ? reply->str : "error";
    df_code_t code = DF_ERR_REDIS;

    if (starts_with(text, "NOAUTH") || starts_with(text, "WRONGPASS") ||
        starts_with(text, "NOPERM"))
        code = DF_ERR_AUTH;
    df_error_set(err, code, cmd, "redis %s: %s", cmd, text);
    if (err)
        err->retryable = starts_with(text, "LOADING") || starts_with(text, "BUSY") ||
                         starts_with(text, "TRYAGAIN") || starts_with(text, "MASTERDOWN") ||
                         starts_with(text, "CLUSTERDOWN") || starts_with(text, "READONLY");
    return code;
}

static void drop_connection(df_redis_t *redis)
{
    if (redis->ctx) {
        redisFree(redis->ctx);
        redis->ctx = NULL;
    }
}

/* A command while connecting (AUTH, SELECT): the reply must not be an
 * error. */
static df_code_t handshake(df_redis_t *redis, const char *cmd, int argc, const char **argv,
                           df_error_t *err)
{
    redisReply *reply = redisCommandArgv(redis->ctx, argc, argv, NULL);
    df_code_t rc = DF_OK;

    if (!reply) {
        rc = df_error_set(err, DF_ERR_REDIS, cmd, "redis %s to %s: %s", cmd, redis->where,
                          redis->ctx->errstr);
        if (err)
            err->retryable = true;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        rc = reply_error(cmd, reply, err);
        if (err)
            df_error_prefix(err, "%s", redis->where);
    }
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static df_code_t connect_now(df_redis_t *redis, df_error_t *err)
{
    df_code_t rc;

    drop_connection(redis);
    if (redis->url.path[0])
        redis->ctx = redisConnectUnixWithTimeout(redis->url.path, redis->connect_tv);
    else
        redis->ctx = redisConnectWithTimeout(redis->url.host, redis->url.port, redis->connect_tv);
    if (!redis->ctx)
        return df_error_set(err, DF_ERR_NOMEM, "redisConnect", "redis connect: out of memory");
    if (redis->ctx->err) {
        rc = df_error_set(err, DF_ERR_REDIS, "redisConnect", "redis connect to %s: %s",
                          redis->where, redis->ctx->errstr);
        if (err)
            err->retryable = true;
        drop_connection(redis);
        return rc;
    }
    redisSetTimeout(redis->ctx, redis->command_tv);
    if (!redis->url.path[0])
        redisEnableKeepAlive(redis->ctx);

    if (redis->url.password[0]) {
        /* AUTH password, or AUTH user password (Redis 6 ACL users). */
        const char *argv[3] = { "AUTH", redis->url.password, NULL };
        int argc = 2;
        if (redis->url.username[0]) {
            argv[1] = redis->url.username;
            argv[2] = redis->url.password;
            argc = 3;
        }
        rc = handshake(redis, "AUTH", argc, argv, err);
        if (rc != DF_OK) {
            drop_connection(redis);
            return rc;
        }
    }
    if (redis->url.db != 0) {
        char db[16];
        const char *argv[2] = { "SELECT", db };
        snprintf(db, sizeof(db), "%d", redis->url.db);
        rc = handshake(redis, "SELECT", 2, argv, err);
        if (rc != DF_OK) {
            drop_connection(redis);
            return rc;
        }
    }
    return DF_OK;
}

df_redis_t *df_redis_new(const char *url, int connect_timeout_ms, int command_timeout_ms,
                         df_error_t *err)
{
    df_redis_t *redis = calloc(1, sizeof(*redis));
    sigpipe_guard_t guard;
    df_code_t rc;

    if (!redis) {
        df_error_set(err, DF_ERR_NOMEM, "df_redis_new", "out of memory");
        return NULL;
    }
    if (df_redis_url_parse(url, &redis->url, err) != DF_OK) {
        free(redis);
        return NULL;
    }
    if (redis->url.password[0])
        df_log_redact_add(redis->url.password);
    df_redis_url_format(&redis->url, redis->where, sizeof(redis->where));
    redis->connect_tv =
        ms_to_tv(connect_timeout_ms > 0 ? connect_timeout_ms : DF_REDIS_CONNECT_TIMEOUT_MS_DEFAULT);
    redis->command_tv =
        ms_to_tv(command_timeout_ms > 0 ? command_timeout_ms : DF_REDIS_COMMAND_TIMEOUT_MS_DEFAULT);
    sigpipe_block(&guard);
    rc = connect_now(redis, err);
    sigpipe_restore(&guard);
    if (rc != DF_OK) {
        df_redis_destroy(redis);
        return NULL;
    }
    return redis;
}

void df_redis_destroy(df_redis_t *redis)
{
    if (!redis)
        return;
    drop_connection(redis);
    /* Do not leave the password in freed memory. */
    memset(&redis->url, 0, sizeof(redis->url));
    free(redis);
}

const char *df_redis_where(const df_redis_t *redis)
{
    return redis->where;
}

static df_metric_t *duration_metric, *errors_metric;

static void init_metrics(void)
{
    duration_metric = df_metric_histogram("datafleet_redis_command_duration_seconds",
                                          "Redis command latency by command.", "command", NULL, 0);
    errors_metric = df_metric_counter(
        "datafleet_redis_errors_total",
        "Redis commands that failed, by kind (redis: connection, timeout, auth, reply: an error "
        "reply).",
        "kind");
}

static void count_command(const char *cmd, int64_t started_ms, const redisReply *reply,
                          const df_error_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, init_metrics);
    df_metric_observe(duration_metric, (double)(df_mono_ms() - started_ms) / 1000.0, cmd);
    if (!reply)
        df_metric_inc(errors_metric, 1, err ? df_code_name(err->code) : "redis");
    else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) != 0)
        df_metric_inc(errors_metric, 1, "reply"); /* NOSCRIPT: EVALSHA loads and retries */
}

/* Send a formatted command and read its reply, reconnecting once when the
 * connection is found broken. Returns the reply, error replies included;
 * NULL with err set when there is none. */
static redisReply *run(df_redis_t *redis, const char *cmd, const char *buf, size_t len,
                       df_error_t *err)
{
    redisReply *reply = NULL;
    sigpipe_guard_t guard;
    int64_t started = df_mono_ms();
    int attempt;

    sigpipe_block(&guard);
    for (attempt = 0;; attempt++) {
        char errstr[sizeof(redis->ctx->errstr)];
        int kind, saved_errno;
        bool timed_out, broken;

        if (!redis->ctx && connect_now(redis, err) != DF_OK)
            break;
        if (redisAppendFormattedCommand(redis->ctx, buf, len) != REDIS_OK) {
            df_error_set(err, DF_ERR_NOMEM, cmd, "redis %s: out of memory", cmd);
            break;
        }
        errno = 0;
        if (redisGetReply(redis->ctx, (void **)&reply) == REDIS_OK && reply)
            break;
        saved_errno = errno;
        kind = redis->ctx->err;
        snprintf(errstr, sizeof(errstr), "%s", redis->ctx->errstr);
        /* After any I/O or protocol error a hiredis context is unusable. */
        drop_connection(redis);
        reply = NULL;
        timed_out =
            kind == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
                                     saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS);
        broken = !timed_out && (kind == REDIS_ERR_EOF || kind == REDIS_ERR_IO);
        if (broken && attempt == 0) {
            df_warn("redis connection to %s broken (%s): reconnecting", redis->where, errstr);
            continue;
        }
        if (timed_out) {
            df_error_set(
                err, DF_ERR_TIMEOUT, cmd, "redis %s to %s: no answer within %ld ms", cmd,
                redis->where,
                (long)(redis->command_tv.tv_sec * 1000 + redis->command_tv.tv_usec / 1000));
        } else {
            df_error_set(err, DF_ERR_REDIS, cmd, "redis %s to %s: %s", cmd, redis->where, errstr);
        }
        if (err)
            err->retryable = timed_out || broken;
        break;
    }
    sigpipe_restore(&guard);
    count_command(cmd, started, reply, err);
    return reply;
}

/* Command name for messages: argv[0], bounded. */
static void command_name(const char *arg0, size_t len, char out[CMD_NAME_MAX])
{
    size_t n = len < CMD_NAME_MAX - 1 ? len : CMD_NAME_MAX - 1;
    size_t i;

    for (i = 0; i < n && arg0[i] && !isspace((unsigned char)arg0[i]); i++)
        out[i] = (char)toupper((unsigned char)arg0[i]);
    out[i] = '\0';
}

static redisReply *run_argv(df_redis_t *redis, int argc, const char **argv, const size_t *argvlen,
                            df_error_t *err)
{
    char cmd[CMD_NAME_MAX];
    char *buf = NULL;
    long long len;
    redisReply *reply;

    if (argc < 1 || !argv || !argv[0]) {
        df_error_set(err, DF_ERR_INVALID, "redis command", "redis command: no arguments");
        return NULL;
    }
    command_name(argv[0], argvlen ? argvlen[0] : strlen(argv[0]), cmd);
    len = redisFormatCommandArgv(&buf, argc, argv, argvlen);
    if (len < 0 || !buf) {
        df_error_set(err, DF_ERR_NOMEM, cmd, "redis %s: out of memory", cmd);
        return NULL;
    }
    reply = run(redis, cmd, buf, (size_t)len, err);
    redisFreeCommand(buf);
    return reply;
}

/* Turn an error reply into err (and free it). */
static redisReply *no_error_reply(redisReply *reply, const char *arg0, df_error_t *err)
{
    char cmd[CMD_NAME_MAX];

    if (!reply || reply->type != REDIS_REPLY_ERROR)
        return reply;
    command_name(arg0, strlen(arg0), cmd);
    reply_error(cmd, reply, err);
    freeReplyObject(reply);
    return NULL;
}

redisReply *df_redis_commandv(df_redis_t *redis, int argc, const char **argv, const size_t *argvlen,
                              df_error_t *err)
{
    redisReply *reply = run_argv(redis, argc, argv, argvlen, err);
    return no_error_reply(reply, argc > 0 && argv && argv[0] ? argv[0] : "", err);
}

redisReply *df_redis_command(df_redis_t *redis, df_error_t *err, const char *fmt, ...)
{
    char cmd[CMD_NAME_MAX];
    char *buf = NULL;
    redisReply *reply;
    va_list ap;
    int len;

    command_name(fmt, strlen(fmt), cmd);
    va_start(ap, fmt);
    len = redisvFormatCommand(&buf, fmt, ap);
    va_end(ap);
    if (len < 0 || !buf) {
        df_error_set(err, DF_ERR_INVALID, cmd, "redis %s: bad command format", cmd);
        return NULL;
    }
    reply = run(redis, cmd, buf, (size_t)len, err);
    redisFreeCommand(buf);
    return no_error_reply(reply, cmd, err);
}

df_code_t df_redis_ping(df_redis_t *redis, df_error_t *err)
{
    const char *argv[] = { "PING" };
    redisReply *reply = df_redis_commandv(redis, 1, argv, NULL, err);

    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    freeReplyObject(reply);
    return DF_OK;
}

/* Run a command whose reply is only checked for success. */
static df_code_t run_checked(df_redis_t *redis, int argc, const char **argv, const size_t *argvlen,
                             long long *integer, df_error_t *err)
{
    df_error_t local;
    redisReply *reply;

    df_error_init(&local);
    reply = df_redis_commandv(redis, argc, argv, argvlen, &local);
    if (!reply) {
        if (err)
            *err = local;
        return local.code;
    }
    if (integer)
        *integer = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    freeReplyObject(reply);
    return DF_OK;
}

df_code_t df_redis_hset(df_redis_t *redis, const char *key, const df_redis_field_t *fields,
                        size_t nfields, df_error_t *err)
{
    const char **argv;
    size_t i, argc = 2 + 2 * nfields;
    df_code_t rc;

    if (nfields == 0 || argc > ARGS_MAX)
        return df_error_set(err, DF_ERR_INVALID, "HSET", "redis HSET: 1..%d fields expected",
                            (ARGS_MAX - 2) / 2);
    argv = malloc(argc * sizeof(*argv));
    if (!argv)
        return df_error_set(err, DF_ERR_NOMEM, "HSET", "redis HSET: out of memory");
    argv[0] = "HSET";
    argv[1] = key;
    for (i = 0; i < nfields; i++) {
        argv[2 + 2 * i] = fields[i].name;
        argv[3 + 2 * i] = fields[i].value ? fields[i].value : "";
    }
    rc = run_checked(redis, (int)argc, argv, NULL, NULL, err);
    free(argv);
    return rc;
}

df_code_t df_redis_publish(df_redis_t *redis, const char *channel, const char *message, size_t len,
                           long long *receivers, df_error_t *err)
{
    const char *argv[3] = { "PUBLISH", channel, message };
    size_t argvlen[3] = { 7, strlen(channel), len };

    return run_checked(redis, 3, argv, argvlen, receivers, err);
}

df_code_t df_redis_script_load(df_redis_t *redis, const df_redis_script_t *script, df_error_t *err)
{
    const char *argv[3] = { "SCRIPT", "LOAD", script->source };
    redisReply *reply = df_redis_commandv(redis, 3, argv, NULL, err);
    df_code_t rc = DF_OK;

    if (!reply)
        return err ? err->code : DF_ERR_REDIS;
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, script->sha1) != 0)
        rc = df_error_set(err, DF_ERR_REDIS, "SCRIPT", "redis SCRIPT LOAD: unexpected reply");
    freeReplyObject(reply);
    return rc;
}

redisReply *df_redis_evalsha(df_redis_t *redis, const df_redis_script_t *script, size_t nkeys,
                             const char *const *keys, size_t nargs, const char *const *args,
                             df_error_t *err)
{
    size_t argc = 3 + nkeys + nargs, i;
    const char **argv;
    redisReply *reply;
    char numkeys[24];

    if (argc > ARGS_MAX) {
        df_error_set(err, DF_ERR_INVALID, "EVALSHA", "redis EVALSHA: too many keys/arguments");
        return NULL;
    }
    argv = malloc(argc * sizeof(*argv));
    if (!argv) {
        df_error_set(err, DF_ERR_NOMEM, "EVALSHA", "redis EVALSHA: out of memory");
        return NULL;
    }
    snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = script->sha1;
    argv[2] = numkeys;
    for (i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];

    reply = run_argv(redis, (int)argc, argv, NULL, err);
    if (reply && reply->type == REDIS_REPLY_ERROR && starts_with(reply->str, "NOSCRIPT")) {
        /* First use on this server, or it restarted and lost its scripts. */
        freeReplyObject(reply);
        reply = NULL;
        if (df_redis_script_load(redis, script, err) == DF_OK)
            reply = run_argv(redis, (int)argc, argv, NULL, err);
    }
    free(argv);
    return no_error_reply(reply, "EVALSHA", err);
}
