/* redis_test: df_redis against a real Redis (DATAFLEET_REDIS_URL): hash
 * round trip, EVALSHA with script (re)loading, PUBLISH seen by a
 * subscriber, transparent reconnect when the server drops the connection
 * and when it restarts, time limits, and clean errors (bad URL, refused
 * port, wrong password) that never show the password. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "df_redis.h"
#include "df_test.h"

extern char **environ;

static const char *redis_url;
static char key_prefix[96];

/* The lease shape the worker will use: take a key NX with a TTL. */
static const char *const lease_lua =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
    "return 0\n";

static void make_key(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s:%s", key_prefix, name);
}

static df_redis_t *connect_ok(const char *url)
{
    df_error_t err;
    df_redis_t *redis;

    df_error_init(&err);
    redis = df_redis_new(url, 2000, 2000, &err);
    CHECK_MSG(redis != NULL, "connect %s: %s", url, err.message);
    return redis;
}

static void del_key(df_redis_t *redis, const char *key)
{
    df_error_t err;
    redisReply *reply;

    df_error_init(&err);
    reply = df_redis_command(redis, &err, "DEL %s", key);
    freeReplyObject(reply);
}

static void test_hash_round_trip(void)
{
    df_redis_t *redis = connect_ok(redis_url);
    df_redis_field_t fields[] = {
        { "state", "running" },
        { "attempt", "2" },
        { "worker", "w-1" },
        { "empty", "" },
    };
    df_error_t err;
    redisReply *reply;
    char key[160];
    int found = 0;

    if (!redis)
        return;
    df_error_init(&err);
    make_key(key, sizeof(key), "task:01HZX");
    CHECK_INT(df_redis_hset(redis, key, fields, 4, &err), DF_OK);
    reply = df_redis_command(redis, &err, "HGETALL %s", key);
    CHECK_MSG(reply != NULL, "%s", err.message);
    if (reply) {
        CHECK_INT(reply->type, REDIS_REPLY_ARRAY);
        CHECK_INT(reply->elements, 8);
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            for (size_t f = 0; f < 4; f++) {
                if (strcmp(reply->element[i]->str, fields[f].name) == 0) {
                    CHECK_STR(reply->element[i + 1]->str, fields[f].value);
                    found++;
                }
            }
        }
        CHECK_INT(found, 4);
        freeReplyObject(reply);
    }
    /* Updating one field leaves the others. */
    CHECK_INT(df_redis_hset(redis, key, &(df_redis_field_t){ "state", "succeeded" }, 1, &err),
              DF_OK);
    reply = df_redis_command(redis, &err, "HMGET %s %s %s", key, "state", "worker");
    if (reply) {
        CHECK_STR(reply->element[0]->str, "succeeded");
        CHECK_STR(reply->element[1]->str, "w-1");
        freeReplyObject(reply);
    }
    CHECK_INT(df_redis_hset(redis, key, fields, 0, &err), DF_ERR_INVALID);

    /* An error reply becomes an error, with the server's text. */
    reply = df_redis_command(redis, &err, "LPUSH %s %s", key, "x");
    CHECK(reply == NULL);
    CHECK_INT(err.code, DF_ERR_REDIS);
    CHECK_MSG(strstr(err.message, "WRONGTYPE") != NULL, "%s", err.message);
    CHECK_STR(err.field, "LPUSH");
    CHECK(!err.retryable);

    del_key(redis, key);
    df_redis_destroy(redis);
}

static long long integer_reply(redisReply *reply)
{
    long long v = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    return v;
}

static void test_evalsha(void)
{
    df_redis_t *redis = connect_ok(redis_url);
    df_redis_script_t lease, broken;
    df_error_t err;
    char key[160];
    const char *keys[1];
    const char *args[2] = { "worker-a", "30000" };
    redisReply *reply;

    if (!redis)
        return;
    df_error_init(&err);
    make_key(key, sizeof(key), "lease:01HZX");
    keys[0] = key;
    df_redis_script_init(&lease, lease_lua);

    /* First use: unknown to the server (flushed), loaded on NOSCRIPT. */
    reply = df_redis_command(redis, &err, "SCRIPT FLUSH");
    freeReplyObject(reply);
    CHECK_INT(integer_reply(df_redis_evalsha(redis, &lease, 1, keys, 2, args, &err)), 1);
    CHECK_MSG(err.code == DF_OK, "%s", err.message);
    CHECK_INT(integer_reply(df_redis_evalsha(redis, &lease, 1, keys, 2, args, &err)), 0);

    reply = df_redis_command(redis, &err, "GET %s", key);
    CHECK(reply && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "worker-a") == 0);
    freeReplyObject(reply);

    /* The server's id of the script is ours. */
    reply = df_redis_command(redis, &err, "SCRIPT EXISTS %s", lease.sha1);
    CHECK(reply && reply->elements == 1 && reply->element[0]->integer == 1);
    freeReplyObject(reply);

    /* Lost again (as after a restart): reloaded transparently. */
    reply = df_redis_command(redis, &err, "SCRIPT FLUSH");
    freeReplyObject(reply);
    del_key(redis, key);
    CHECK_INT(integer_reply(df_redis_evalsha(redis, &lease, 1, keys, 2, args, &err)), 1);

    /* A runtime error in Lua is an error with the server's text. */
    df_redis_script_init(&broken, "return redis.call('NO_SUCH_COMMAND')");
    reply = df_redis_evalsha(redis, &broken, 0, NULL, 0, NULL, &err);
    CHECK(reply == NULL);
    CHECK_INT(err.code, DF_ERR_REDIS);
    CHECK_MSG(strstr(err.message, "EVALSHA") && strstr(err.message, "nknown"), "%s", err.message);
    /* A syntax error fails at load. */
    df_redis_script_init(&broken, "this is not lua");
    CHECK_INT(df_redis_script_load(redis, &broken, &err), DF_ERR_REDIS);
    CHECK_INT(df_redis_script_load(redis, &lease, &err), DF_OK);

    del_key(redis, key);
    df_redis_destroy(redis);
}

static void test_publish(void)
{
    df_redis_t *redis = connect_ok(redis_url);
    df_redis_url_t url;
    redisContext *sub;
    redisReply *reply = NULL;
    df_error_t err;
    char channel[160];
    long long receivers = -1;
    const char message[] = "{\"task_id\":\"01HZX\",\"state\":\"running\"}";
    struct timeval tv = { 5, 0 };

    if (!redis)
        return;
    df_error_init(&err);
    make_key(channel, sizeof(channel), "status");
    CHECK_INT(df_redis_publish(redis, channel, message, strlen(message), &receivers, &err), DF_OK);
    CHECK_INT(receivers, 0);

    /* A plain hiredis subscriber is the witness. */
    REQUIRE(df_redis_url_parse(redis_url, &url, &err) == DF_OK);
    sub = url.path[0] ? redisConnectUnixWithTimeout(url.path, tv)
                      : redisConnectWithTimeout(url.host, url.port, tv);
    REQUIRE(sub && !sub->err);
    redisSetTimeout(sub, tv);
    if (url.password[0])
        freeReplyObject(redisCommand(sub, "AUTH %s", url.password));
    reply = redisCommand(sub, "SUBSCRIBE %s", channel);
    CHECK(reply && reply->type == REDIS_REPLY_ARRAY);
    freeReplyObject(reply);

    CHECK_INT(df_redis_publish(redis, channel, message, strlen(message), &receivers, &err), DF_OK);
    CHECK_INT(receivers, 1);
    reply = NULL;
    CHECK(redisGetReply(sub, (void **)&reply) == REDIS_OK);
    CHECK(reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3);
    if (reply && reply->elements == 3) {
        CHECK_STR(reply->element[0]->str, "message");
        CHECK_STR(reply->element[1]->str, channel);
        CHECK_INT(reply->element[2]->len, strlen(message));
        CHECK_STR(reply->element[2]->str, message);
    }
    freeReplyObject(reply);
    redisFree(sub);
    df_redis_destroy(redis);
}

/* The server closes our connection (CLIENT KILL, as on a restart or an
 * idle timeout): the next command reconnects and succeeds. */
static void test_reconnect_after_kill(void)
{
    df_redis_t *redis = connect_ok(redis_url);
    df_redis_t *admin = connect_ok(redis_url);
    df_error_t err;
    char key[160];

    if (!redis || !admin)
        goto done;
    df_error_init(&err);
    make_key(key, sizeof(key), "counter");
    for (int round = 0; round < 3; round++) {
        long long id = integer_reply(df_redis_command(redis, &err, "CLIENT ID"));
        long long killed = integer_reply(df_redis_command(admin, &err, "CLIENT KILL ID %lld", id));
        long long id_after;

        CHECK_INT(killed, 1);
        CHECK_INT(integer_reply(df_redis_command(redis, &err, "INCR %s", key)), round + 1);
        CHECK_MSG(err.code == DF_OK, "round %d: %s", round, err.message);
        id_after = integer_reply(df_redis_command(redis, &err, "CLIENT ID"));
        CHECK_MSG(id_after != id, "round %d: same connection id %lld", round, id);
    }
    del_key(redis, key);
done:
    df_redis_destroy(redis);
    df_redis_destroy(admin);
}

static void test_command_timeout(void)
{
    df_error_t err;
    df_redis_t *redis;
    redisReply *reply;
    char key[160];
    struct timespec t0, t1;
    long elapsed_ms;

    df_error_init(&err);
    redis = df_redis_new(redis_url, 1000, 500, &err);
    CHECK_MSG(redis != NULL, "%s", err.message);
    if (!redis)
        return;
    make_key(key, sizeof(key), "empty-list");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    reply = df_redis_command(redis, &err, "BLPOP %s 2", key);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(reply == NULL);
    CHECK_MSG(err.code == DF_ERR_TIMEOUT, "%s: %s", df_code_name(err.code), err.message);
    CHECK(err.retryable);
    /* Not resent: one time limit, not two. */
    CHECK_MSG(elapsed_ms >= 450 && elapsed_ms < 900, "took %ld ms", elapsed_ms);
    /* The next call reconnects. */
    CHECK_INT(df_redis_ping(redis, &err), DF_OK);
    df_redis_destroy(redis);
}

static void test_bad_urls_and_refused(void)
{
    df_error_t err;
    df_redis_t *redis;
    int port;
    int fd;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof(addr);
    char url[128];

    df_error_init(&err);
    redis = df_redis_new("http://127.0.0.1:6379", 1000, 1000, &err);
    CHECK(redis == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);

    redis = df_redis_new("redis://:Rd-s3cret-42@127.0.0.1:notaport/0", 1000, 1000, &err);
    CHECK(redis == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK(!strstr(err.message, "Rd-s3cret-42"));

    /* A port nobody listens on: bind one, close it, connect to it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&addr, &alen) == 0);
    port = ntohs(addr.sin_port);
    close(fd);
    snprintf(url, sizeof(url), "redis://:Rd-s3cret-42@127.0.0.1:%d/0", port);
    redis = df_redis_new(url, 1000, 1000, &err);
    CHECK(redis == NULL);
    CHECK_MSG(err.code == DF_ERR_REDIS, "%s", df_code_name(err.code));
    CHECK(err.retryable);
    CHECK_MSG(strstr(err.message, "refused") != NULL, "%s", err.message);
    CHECK_MSG(strstr(err.message, "redis://:***@127.0.0.1:") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "Rd-s3cret-42"), "%s", err.message);
    df_redis_destroy(NULL);
}

/* An ACL user on the real server: right password works, wrong one is
 * DF_ERR_AUTH without the password in the message. */
static void test_auth(void)
{
    df_redis_t *admin = connect_ok(redis_url);
    df_redis_url_t base;
    df_error_t err;
    df_redis_t *redis;
    redisReply *reply;
    char user[64], url[512], host[300];

    if (!admin)
        return;
    df_error_init(&err);
    REQUIRE(df_redis_url_parse(redis_url, &base, &err) == DF_OK);
    if (base.path[0]) {
        snprintf(host, sizeof(host), "%s", "");
    } else {
        snprintf(host, sizeof(host), "%s:%d", base.host, base.port);
    }
    snprintf(user, sizeof(user), "dftest%ld", (long)getpid());
    reply = df_redis_command(admin, &err, "ACL SETUSER %s on >Ok-pass-1 ~* &* +@all", user);
    CHECK_MSG(reply != NULL, "%s", err.message);
    freeReplyObject(reply);

    if (base.path[0])
        snprintf(url, sizeof(url), "unix://%s:Ok-pass-1@%s", user, base.path);
    else
        snprintf(url, sizeof(url), "redis://%s:Ok-pass-1@%s/0", user, host);
    redis = df_redis_new(url, 1000, 1000, &err);
    CHECK_MSG(redis != NULL, "%s", err.message);
    if (redis)
        CHECK_INT(df_redis_ping(redis, &err), DF_OK);
    df_redis_destroy(redis);

    if (base.path[0])
        snprintf(url, sizeof(url), "unix://%s:Wrong-pass-77@%s", user, base.path);
    else
        snprintf(url, sizeof(url), "redis://%s:Wrong-pass-77@%s/0", user, host);
    redis = df_redis_new(url, 1000, 1000, &err);
    CHECK(redis == NULL);
    CHECK_MSG(err.code == DF_ERR_AUTH, "%s: %s", df_code_name(err.code), err.message);
    CHECK_MSG(strstr(err.message, "WRONGPASS") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "Wrong-pass-77"), "%s", err.message);
    df_redis_destroy(redis);

    reply = df_redis_command(admin, &err, "ACL DELUSER %s", user);
    freeReplyObject(reply);
    df_redis_destroy(admin);
}

/* ---- a private redis-server, restarted under a live connection ---------- */

static pid_t start_redis(int port)
{
    char port_text[16];
    char *argv[] = { "redis-server", "--port",     port_text,      "--bind", "127.0.0.1",
                     "--save",       "",           "--appendonly", "no",     "--daemonize",
                     "no",           "--loglevel", "warning",      NULL };
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int rc;

    snprintf(port_text, sizeof(port_text), "%d", port);
    /* Its start-up banner is noise in the test output. */
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, "redis-server", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

static df_redis_t *wait_connect(const char *url)
{
    df_error_t err;

    for (int i = 0; i < 100; i++) {
        df_redis_t *redis;
        df_error_init(&err);
        redis = df_redis_new(url, 500, 2000, &err);
        if (redis)
            return redis;
        nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
    }
    fprintf(stderr, "private redis-server did not come up: %s\n", err.message);
    return NULL;
}

static void stop_redis(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static void test_survives_server_restart(void)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof(addr);
    df_redis_script_t lease;
    df_redis_t *redis = NULL;
    const char *keys[1] = { "lease:restart" };
    const char *args[2] = { "worker-b", "30000" };
    df_error_t err;
    char url[64];
    pid_t pid;
    int fd, port;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&addr, &alen) == 0);
    port = ntohs(addr.sin_port);
    close(fd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);

    pid = start_redis(port);
    REQUIRE(pid > 0);
    redis = wait_connect(url);
    CHECK(redis != NULL);
    if (!redis)
        goto done;
    df_error_init(&err);
    df_redis_script_init(&lease, lease_lua);
    CHECK_INT(integer_reply(df_redis_evalsha(redis, &lease, 1, keys, 2, args, &err)), 1);

    /* Restart the server under the live connection. */
    stop_redis(pid);
    pid = start_redis(port);
    REQUIRE(pid > 0);
    {
        df_redis_t *probe = wait_connect(url);
        CHECK(probe != NULL);
        df_redis_destroy(probe);
    }
    /* Old socket is dead, the script cache and the data are gone: the call
     * reconnects, reloads the script and takes the (new) lease. */
    CHECK_INT(integer_reply(df_redis_evalsha(redis, &lease, 1, keys, 2, args, &err)), 1);
    CHECK_MSG(err.code == DF_OK, "%s", err.message);

    /* While it is down, calls fail cleanly (retryable). A large command on
     * the stale connection writes into a reset socket (EPIPE): SIGPIPE must
     * not kill the process. Once it is back, the same handle works. */
    stop_redis(pid);
    pid = -1;
    {
        size_t big_len = 8u << 20;
        char *big = malloc(big_len);
        const char *argv[3] = { "SET", "big", big };
        size_t argvlen[3] = { 3, 3, big_len };

        REQUIRE(big != NULL);
        memset(big, 'x', big_len);
        CHECK(df_redis_commandv(redis, 3, argv, argvlen, &err) == NULL);
        CHECK_MSG(err.code == DF_ERR_REDIS, "%s", err.message);
        CHECK(err.retryable);
        free(big);
    }
    CHECK_INT(df_redis_ping(redis, &err), DF_ERR_REDIS);
    CHECK(err.retryable);
    pid = start_redis(port);
    REQUIRE(pid > 0);
    df_redis_destroy(wait_connect(url));
    CHECK_INT(df_redis_ping(redis, &err), DF_OK);
done:
    df_redis_destroy(redis);
    stop_redis(pid);
}

int main(void)
{
    redis_url = df_test_env("DATAFLEET_REDIS_URL");
    snprintf(key_prefix, sizeof(key_prefix), "df:test:redis:%ld:%ld", (long)getpid(),
             (long)time(NULL));

    RUN(test_hash_round_trip);
    RUN(test_evalsha);
    RUN(test_publish);
    RUN(test_reconnect_after_kill);
    RUN(test_command_timeout);
    RUN(test_bad_urls_and_refused);
    RUN(test_auth);
    RUN(test_survives_server_restart);
    return df_test_done();
}
