/* df_redis_sub: pub/sub subscriber (see df_redis_sub.h). */
#include "df_redis_sub.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "df_redis.h"

struct df_redis_sub {
    df_redis_url_t url;
    char where[DF_REDIS_URL_MAX];
    char *channel;
    redisContext *ctx; /* NULL while disconnected */
    int connects;
};

static void drop(df_redis_sub_t *sub)
{
    if (sub->ctx)
        redisFree(sub->ctx);
    sub->ctx = NULL;
}

static df_code_t connect_sub(df_redis_sub_t *sub, df_error_t *err)
{
    struct timeval tv = { 2, 0 };
    redisReply *r;

    sub->ctx = sub->url.path[0] ? redisConnectUnixWithTimeout(sub->url.path, tv)
                                : redisConnectWithTimeout(sub->url.host, sub->url.port, tv);
    if (!sub->ctx || sub->ctx->err) {
        df_error_set(err, DF_ERR_REDIS, "connect", "cannot connect to %s: %s", sub->where,
                     sub->ctx ? sub->ctx->errstr : "out of memory");
        err->retryable = true;
        drop(sub);
        return DF_ERR_REDIS;
    }
    redisSetTimeout(sub->ctx, tv);
    if (sub->url.password[0]) {
        r = sub->url.username[0]
                ? redisCommand(sub->ctx, "AUTH %s %s", sub->url.username, sub->url.password)
                : redisCommand(sub->ctx, "AUTH %s", sub->url.password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            df_error_set(err, DF_ERR_AUTH, "AUTH", "%s refused the credentials", sub->where);
            freeReplyObject(r);
            drop(sub);
            return DF_ERR_AUTH;
        }
        freeReplyObject(r);
    }
    r = redisCommand(sub->ctx, "SUBSCRIBE %s", sub->channel);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        df_error_set(err, DF_ERR_REDIS, "SUBSCRIBE", "cannot subscribe on %s", sub->where);
        freeReplyObject(r);
        drop(sub);
        return DF_ERR_REDIS;
    }
    freeReplyObject(r);
    sub->connects++;
    return DF_OK;
}

df_redis_sub_t *df_redis_sub_new(const char *url, const char *channel, df_error_t *err)
{
    df_redis_sub_t *sub = calloc(1, sizeof(*sub));

    if (!sub) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    if (df_redis_url_parse(url, &sub->url, err)) {
        free(sub);
        return NULL;
    }
    df_redis_url_format(&sub->url, sub->where, sizeof(sub->where));
    sub->channel = strdup(channel);
    if (!sub->channel || connect_sub(sub, err)) {
        df_redis_sub_destroy(sub);
        return NULL;
    }
    return sub;
}

void df_redis_sub_destroy(df_redis_sub_t *sub)
{
    if (!sub)
        return;
    drop(sub);
    free(sub->channel);
    free(sub);
}

/* A "message" push: ["message", channel, payload]. */
static bool take_message(redisReply *r, char **message, size_t *len)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return false;
    *message = malloc(r->element[2]->len + 1);
    if (!*message)
        return false;
    memcpy(*message, r->element[2]->str, r->element[2]->len);
    (*message)[r->element[2]->len] = '\0';
    *len = r->element[2]->len;
    return true;
}

df_redis_sub_result_t df_redis_sub_next(df_redis_sub_t *sub, int timeout_ms, char **message,
                                        size_t *len, df_error_t *err)
{
    *message = NULL;
    *len = 0;
    if (!sub->ctx) {
        if (connect_sub(sub, err))
            return DF_SUB_ERROR;
        return DF_SUB_RECONNECTED;
    }
    for (;;) {
        void *reply = NULL;
        struct pollfd pfd;
        int n;

        if (redisGetReplyFromReader(sub->ctx, &reply) != REDIS_OK) {
            df_error_set(err, DF_ERR_REDIS, "subscribe", "protocol error from %s", sub->where);
            drop(sub);
            return DF_SUB_ERROR;
        }
        if (reply) {
            bool got = take_message(reply, message, len);
            freeReplyObject(reply);
            if (got)
                return DF_SUB_MESSAGE;
            continue; /* subscribe confirmations and the like */
        }
        pfd.fd = sub->ctx->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        n = poll(&pfd, 1, timeout_ms);
        if (n == 0)
            return DF_SUB_TIMEOUT;
        if (n < 0) {
            if (errno == EINTR)
                return DF_SUB_TIMEOUT;
            df_error_errno(err, "poll", errno);
            return DF_SUB_ERROR;
        }
        if (redisBufferRead(sub->ctx) != REDIS_OK) {
            df_error_set(err, DF_ERR_REDIS, "subscribe", "connection to %s lost: %s", sub->where,
                         sub->ctx->errstr);
            err->retryable = true;
            drop(sub);
            return DF_SUB_ERROR;
        }
        timeout_ms = 0; /* data arrived: parse what came, do not wait again */
    }
}
