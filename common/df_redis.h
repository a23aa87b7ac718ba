/* df_redis: the Redis connection datafleet programs keep live state with
 * (df:task:*, leases, heartbeats, df:status): connect from a URL, time
 * limits on connect and on each command, one transparent reconnect when the
 * connection turns out to be broken (a restarted Redis is survivable),
 * hiredis errors and error replies turned into df_error_t, and the few
 * helpers callers share (HSET of several fields, Lua scripts by EVALSHA,
 * PUBLISH).
 *
 * The password of a URL never appears in an error message or a log line:
 * messages name the server by its redacted URL (df_redis_url_format).
 *
 * A df_redis_t is one blocking connection: use it from one thread at a
 * time (give each thread its own). hiredis' redisReply is the reply type;
 * error replies never reach the caller as replies, they become errors. */
#ifndef DF_REDIS_H
#define DF_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"

#define DF_REDIS_HOST_MAX                   256
#define DF_REDIS_PATH_MAX                   108 /* sun_path */
#define DF_REDIS_USER_MAX                   128
#define DF_REDIS_PASSWORD_MAX               256
#define DF_REDIS_URL_MAX                    1024
#define DF_REDIS_PORT_DEFAULT               6379
#define DF_REDIS_CONNECT_TIMEOUT_MS_DEFAULT 2000
#define DF_REDIS_COMMAND_TIMEOUT_MS_DEFAULT 5000

/* A parsed Redis URL:
 *   redis://[[user]:password@]host[:port][/db]     (host may be [ipv6])
 *   unix://[[user]:password@]/path/to/socket[?db=N]
 * user and password are percent-decoded. Plain data. */
typedef struct df_redis_url {
    char host[DF_REDIS_HOST_MAX]; /* "" for a unix socket */
    int port;                     /* DF_REDIS_PORT_DEFAULT when absent */
    char path[DF_REDIS_PATH_MAX]; /* unix socket path, "" for TCP */
    char username[DF_REDIS_USER_MAX];
    char password[DF_REDIS_PASSWORD_MAX];
    int db; /* 0 when absent */
} df_redis_url_t;

/* Parse url into out. DF_ERR_INVALID naming what is wrong (the message
 * never contains the password), DF_ERR_UNSUPPORTED for rediss:// (TLS). */
df_code_t df_redis_url_parse(const char *url, df_redis_url_t *out, df_error_t *err);

/* The URL of u for messages and logs, password replaced by "***"
 * (e.g. "redis://:***@127.0.0.1:6379/0"). Always NUL-terminates buf. */
void df_redis_url_format(const df_redis_url_t *u, char *buf, size_t len);

typedef struct df_redis df_redis_t;

/* Connect to url now (AUTH and SELECT included). Timeouts <= 0 take the
 * defaults above. Returns NULL with err set when the URL is bad
 * (DF_ERR_INVALID), the server cannot be reached (DF_ERR_REDIS, retryable)
 * or refuses the credentials (DF_ERR_AUTH). Caller destroys. */
df_redis_t *df_redis_new(const char *url, int connect_timeout_ms, int command_timeout_ms,
                         df_error_t *err);

/* Close and free. NULL is a no-op. */
void df_redis_destroy(df_redis_t *redis);

/* The redacted URL of this connection (borrowed, lives with redis). */
const char *df_redis_where(const df_redis_t *redis);

/* Run one command given as argv (argvlen NULL: strlen of each). Returns
 * the reply (caller frees with freeReplyObject), never an error reply:
 * those come back as NULL with DF_ERR_REDIS and the server's text
 * (retryable for LOADING, BUSY, TRYAGAIN, MASTERDOWN...), DF_ERR_AUTH for
 * NOAUTH/WRONGPASS.
 *
 * Connection failures: when the connection is found broken (closed by the
 * server, reset), it reconnects and sends the command once more; a server
 * that restarted never ran the first one. A command that timed out is not
 * resent (it may have run): DF_ERR_TIMEOUT, retryable, and the next call
 * reconnects. A failed reconnect gives DF_ERR_REDIS, retryable; the next
 * call tries again. Messages name the command (argv[0]), never its
 * arguments. */
redisReply *df_redis_commandv(df_redis_t *redis, int argc, const char **argv, const size_t *argvlen,
                              df_error_t *err);

/* Same with a hiredis format ("HGET %s %s": each %s/%b is one binary-safe
 * argument, never spliced into the command text). */
redisReply *df_redis_command(df_redis_t *redis, df_error_t *err, const char *fmt, ...);

/* PING: DF_OK when the server answers (reconnecting if needed). */
df_code_t df_redis_ping(df_redis_t *redis, df_error_t *err);

/* One field of a hash. Both strings borrowed. */
typedef struct df_redis_field {
    const char *name;
    const char *value;
} df_redis_field_t;

/* HSET key name value [name value ...] in one command (nfields >= 1). */
df_code_t df_redis_hset(df_redis_t *redis, const char *key, const df_redis_field_t *fields,
                        size_t nfields, df_error_t *err);

/* PUBLISH channel message (len bytes). *receivers (may be NULL) gets the
 * number of subscribers that got it. */
df_code_t df_redis_publish(df_redis_t *redis, const char *channel, const char *message, size_t len,
                           long long *receivers, df_error_t *err);

/* A Lua script run by EVALSHA. The SHA-1 is computed locally at init, so
 * after init the struct is read-only and one script may be shared by all
 * threads and connections. */
typedef struct df_redis_script {
    const char *source; /* borrowed: must outlive the script (a literal) */
    char sha1[41];
} df_redis_script_t;

void df_redis_script_init(df_redis_script_t *script, const char *source);

/* EVALSHA script nkeys keys... args...; when the server does not know the
 * script (first use, or Redis restarted) it is loaded with SCRIPT LOAD and
 * run once more. Returns the reply (caller frees with freeReplyObject) or
 * NULL with err set (a Lua error comes back as DF_ERR_REDIS with the
 * server's text). keys and args are borrowed NUL-terminated strings. */
redisReply *df_redis_evalsha(df_redis_t *redis, const df_redis_script_t *script, size_t nkeys,
                             const char *const *keys, size_t nargs, const char *const *args,
                             df_error_t *err);

/* Load the script now (e.g. at start-up, to fail early on a syntax error). */
df_code_t df_redis_script_load(df_redis_t *redis, const df_redis_script_t *script, df_error_t *err);

#endif
