/* df_ready: reachability of Kafka, Redis and PostgreSQL for /readyz. */
#include "df_ready.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>

#include "df_error.h"
#include "df_pg.h"
#include "df_redis.h"

#define PROBE_TIMEOUT_MS 2000

/* TCP connect to host:port within the timeout. */
static bool tcp_reachable(const char *host, const char *port, char *why, size_t len)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
    bool ok = false;
    int rc = getaddrinfo(host, port, &hints, &res);

    if (rc != 0) {
        snprintf(why, len, "kafka: cannot resolve %s: %s", host, gai_strerror(rc));
        return false;
    }
    for (ai = res; ai && !ok; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            ok = true;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int err = 0;
            socklen_t elen = sizeof(err);
            if (poll(&p, 1, PROBE_TIMEOUT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
                ok = true;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (!ok)
        snprintf(why, len, "kafka: no bootstrap broker answers at %s:%s", host, port);
    return ok;
}

/* Any broker of "host:port[,host:port...]" reachable. */
static bool kafka_ready(const char *brokers, char *why, size_t len)
{
    char list[1024], *save = NULL, *item;

    snprintf(list, sizeof(list), "%s", brokers ? brokers : "");
    for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(item, ':');
        const char *host = item;
        if (!colon)
            continue;
        *colon = '\0';
        if (host[0] == '[') { /* [v6]:port */
            host++;
            if (colon > item && colon[-1] == ']')
                colon[-1] = '\0';
        }
        if (tcp_reachable(host, colon + 1, why, len))
            return true;
    }
    if (!why[0])
        snprintf(why, len, "kafka: no broker in \"%s\"", brokers ? brokers : "");
    return false;
}

bool df_ready_check(void *opaque, char *why, size_t why_len)
{
    const df_ready_needs_t *needs = opaque;
    df_error_t err;

    why[0] = '\0';
    if (!needs || !needs->common)
        return true;
    df_error_init(&err);
    if (needs->kafka && !kafka_ready(needs->common->kafka_brokers, why, why_len))
        return false;
    if (needs->redis) {
        df_redis_t *r =
            df_redis_new(needs->common->redis_url, PROBE_TIMEOUT_MS, PROBE_TIMEOUT_MS, &err);
        bool ok = r && df_redis_ping(r, &err) == DF_OK;
        df_redis_destroy(r);
        if (!ok) {
            snprintf(why, why_len, "redis: %s", err.message);
            return false;
        }
    }
    if (needs->postgres) {
        df_pg_t *pg = df_pg_new(needs->common->database_url, &err);
        bool ok = pg && df_pg_run(pg, "SELECT 1", 0, NULL, NULL, &err) == DF_OK;
        df_pg_destroy(pg);
        if (!ok) {
            snprintf(why, why_len, "postgres: %s", err.message);
            return false;
        }
    }
    return true;
}
