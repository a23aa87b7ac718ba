/* df_redis_sub: a Redis pub/sub subscriber for live followers (the
 * submit CLI's --wait, the status page): messages of one channel with a
 * wait limit, reconnecting (and re-subscribing) after the connection
 * breaks. Messages published while disconnected are lost: followers poll
 * the state they need after a reconnect (df_redis_sub_next says when). */
#ifndef DF_REDIS_SUB_H
#define DF_REDIS_SUB_H

#include <stddef.h>

#include "df_error.h"

typedef struct df_redis_sub df_redis_sub_t;

/* Subscribe to channel (copied) on url. NULL with err set when the URL is
 * bad or the server cannot be reached. Caller destroys. */
df_redis_sub_t *df_redis_sub_new(const char *url, const char *channel, df_error_t *err);
void df_redis_sub_destroy(df_redis_sub_t *sub);

typedef enum df_redis_sub_result {
    DF_SUB_MESSAGE = 0,     /* *message holds one message (caller frees) */
    DF_SUB_TIMEOUT = 1,     /* nothing within timeout_ms */
    DF_SUB_RECONNECTED = 2, /* the connection was re-established: messages may be lost */
    DF_SUB_ERROR = 3,       /* cannot reach Redis now (err set); call again to retry */
} df_redis_sub_result_t;

/* Wait up to timeout_ms for the next message on the channel. */
df_redis_sub_result_t df_redis_sub_next(df_redis_sub_t *sub, int timeout_ms, char **message,
                                        size_t *len, df_error_t *err);

#endif
