/* df_log: one JSON object per line (see df_log.h). Lines are built in a
 * bounded stack buffer and written with a single write(2) so lines from
 * several threads or processes sharing stderr never interleave. */
#include "df_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES   32768
#define MSG_MAX_BYTES    4096 /* escaped at most 6x: bounded well below LINE_MAX_BYTES */
#define EXTRA_MAX_BYTES  2048
#define CTX_FIELD_MAX    128
#define REDACT_MAX       64
#define REDACT_VALUE_MAX 8192 /* access tokens run to a few KB */

static const char *log_component = "datafleet";
static int log_level = DF_LOG_INFO;
static int log_fd = 2;
static char log_worker[CTX_FIELD_MAX];

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static char redact_values[REDACT_MAX][REDACT_VALUE_MAX];
static size_t redact_count;
static size_t redact_next;

static _Thread_local char ctx_task_id[CTX_FIELD_MAX];
static _Thread_local char ctx_connector[CTX_FIELD_MAX];
static _Thread_local char ctx_trace_id[CTX_FIELD_MAX];

static const char *level_names[] = { "debug", "info", "warn", "error" };

void df_log_init(const char *component, df_log_level_t level)
{
    if (component)
        log_component = component;
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

bool df_log_level_parse(const char *text, df_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcmp(text, level_names[i]) == 0) {
            *out = (df_log_level_t)i;
            return true;
        }
    }
    return false;
}

const char *df_log_level_name(df_log_level_t level)
{
    if ((int)level < 0 || level > DF_LOG_ERROR)
        return "unknown";
    return level_names[level];
}

static void copy_field(char *dst, const char *src)
{
    snprintf(dst, CTX_FIELD_MAX, "%s", src ? src : "");
}

void df_log_set_worker(const char *worker_id)
{
    copy_field(log_worker, worker_id);
}

void df_log_ctx_set(const char *task_id, const char *connector, const char *trace_id)
{
    copy_field(ctx_task_id, task_id);
    copy_field(ctx_connector, connector);
    copy_field(ctx_trace_id, trace_id);
}

void df_log_ctx_clear(void)
{
    ctx_task_id[0] = ctx_connector[0] = ctx_trace_id[0] = '\0';
}

void df_log_set_fd(int fd)
{
    log_fd = fd;
}

void df_log_redact_add(const char *secret)
{
    size_t len;

    if (!secret)
        return;
    len = strlen(secret);
    if (len < 4 || len >= REDACT_VALUE_MAX)
        return;
    pthread_mutex_lock(&redact_lock);
    for (size_t i = 0; i < redact_count; i++) {
        if (strcmp(redact_values[i], secret) == 0) {
            pthread_mutex_unlock(&redact_lock);
            return;
        }
    }
    memcpy(redact_values[redact_next], secret, len + 1);
    redact_next = (redact_next + 1) % REDACT_MAX;
    if (redact_count < REDACT_MAX)
        redact_count++;
    pthread_mutex_unlock(&redact_lock);
}

bool df_log_enabled(df_log_level_t level)
{
    return (int)level >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* Replace [start, start+len) of text with "***" (len >= 3 keeps it in place). */
static void mask_span(char *text, size_t start, size_t len)
{
    size_t total = strlen(text);
    const size_t stars = 3;

    if (len < stars) /* cannot shrink a span shorter than the mask */
        return;
    memcpy(text + start, "***", stars);
    memmove(text + start + stars, text + start + len, total - start - len + 1);
}

static bool is_token_char(char c)
{
    return c && c != ' ' && c != '"' && c != '\'' && c != ',' && c != ';' && c != '&' &&
           c != '\\' && c != '}' && c != ')';
}

/* Mask the value that follows each occurrence of a marker such as
 * "Bearer " or "password=". */
static void mask_after(char *text, const char *marker)
{
    size_t mlen = strlen(marker);
    char *p = text;

    while ((p = strcasestr(p, marker)) != NULL) {
        char *v = p + mlen;
        size_t n = 0;
        while (is_token_char(v[n]))
            n++;
        if (n >= 3 && !(n == 3 && memcmp(v, "***", 3) == 0))
            mask_span(text, (size_t)(v - text), n);
        p = v;
    }
}

/* Mask "user:password@" inside URLs. */
static void mask_url_passwords(char *text)
{
    char *p = text;

    while ((p = strstr(p, "://")) != NULL) {
        char *start = p + 3;
        char *at = NULL, *colon = NULL;
        for (char *q = start; is_token_char(*q) && *q != '/'; q++) {
            if (*q == ':' && !colon)
                colon = q;
            if (*q == '@')
                at = q;
        }
        if (colon && at && at > colon + 1)
            mask_span(text, (size_t)(colon + 1 - text), (size_t)(at - colon - 1));
        p = start;
    }
}

/* Mask whole PEM private key blocks ("-----BEGIN ... PRIVATE KEY-----"
 * to its END line), whatever key they hold. */
static void mask_pem_blocks(char *text)
{
    char *p = text;

    while ((p = strstr(p, "-----BEGIN ")) != NULL) {
        char *head_end = strstr(p + 11, "-----");
        char *end;
        if (!head_end)
            return;
        if (!memmem(p, (size_t)(head_end - p), "PRIVATE KEY", 11)) {
            p = head_end + 5;
            continue;
        }
        end = strstr(head_end + 5, "-----END ");
        end = end ? strstr(end + 9, "-----") : NULL;
        end = end ? end + 5 : text + strlen(text);
        mask_span(text, (size_t)(p - text), (size_t)(end - p));
        p += 3;
    }
}

void df_log_redact(char *text)
{
    static const char *markers[] = { "Bearer ",
                                     "Basic ",
                                     "password=",
                                     "passwd=",
                                     "secret=",
                                     "token=",
                                     "\"password\":\"",
                                     "\"client_secret\":\"",
                                     "\"secret\":\"",
                                     "\"access_token\":\"",
                                     "\"refresh_token\":\"",
                                     "\"private_key\":\"",
                                     "\"api_key\":\"" };

    if (!text)
        return;
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        mask_after(text, markers[i]);
    mask_url_passwords(text);
    mask_pem_blocks(text);

    pthread_mutex_lock(&redact_lock);
    for (size_t i = 0; i < redact_count; i++) {
        const char *secret = redact_values[i];
        size_t slen = strlen(secret);
        char *p = text;
        while ((p = strstr(p, secret)) != NULL) {
            mask_span(text, (size_t)(p - text), slen);
            p += 3;
        }
    }
    pthread_mutex_unlock(&redact_lock);
}

/* Append s to buf as a JSON string body (no quotes); bounded. */
static size_t json_escape(char *buf, size_t cap, size_t at, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else if (c == '\n') {
            buf[at++] = '\\';
            buf[at++] = 'n';
        } else if (c == '\t') {
            buf[at++] = '\\';
            buf[at++] = 't';
        } else if (c == '\r') {
            buf[at++] = '\\';
            buf[at++] = 'r';
        } else if (c < 0x20) {
            buf[at++] = '\\';
            buf[at++] = 'u';
            buf[at++] = '0';
            buf[at++] = '0';
            buf[at++] = hex[c >> 4];
            buf[at++] = hex[c & 15];
        } else {
            buf[at++] = (char)c;
        }
    }
    return at;
}

static size_t append_raw(char *buf, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at + n >= cap)
        n = cap - at - 1;
    memcpy(buf + at, s, n);
    return at + n;
}

static size_t append_field(char *buf, size_t cap, size_t at, const char *key, const char *value)
{
    if (!value || !*value)
        return at;
    at = append_raw(buf, cap, at, ",\"");
    at = append_raw(buf, cap, at, key);
    at = append_raw(buf, cap, at, "\":\"");
    at = json_escape(buf, cap, at, value);
    return append_raw(buf, cap, at, "\"");
}

static void write_line(df_log_level_t level, const char *extra_json, const char *fmt, va_list ap)
{
    char msg[MSG_MAX_BYTES];
    char line[LINE_MAX_BYTES];
    char ts[64];
    struct timespec now;
    struct tm tm;
    size_t at = 0;
    int saved_errno = errno;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    df_log_redact(msg);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now.tv_nsec / 1000000));

    at = append_raw(line, sizeof(line), at, "{\"ts\":\"");
    at = append_raw(line, sizeof(line), at, ts);
    at = append_raw(line, sizeof(line), at, "\",\"level\":\"");
    at = append_raw(line, sizeof(line), at, df_log_level_name(level));
    at = append_raw(line, sizeof(line), at, "\"");
    at = append_field(line, sizeof(line), at, "component", log_component);
    at = append_field(line, sizeof(line), at, "msg", msg);
    at = append_field(line, sizeof(line), at, "task_id", ctx_task_id);
    at = append_field(line, sizeof(line), at, "connector", ctx_connector);
    at = append_field(line, sizeof(line), at, "worker", log_worker);
    at = append_field(line, sizeof(line), at, "trace_id", ctx_trace_id);
    if (extra_json && extra_json[0] == '{' && extra_json[1] && extra_json[1] != '}') {
        char extra[EXTRA_MAX_BYTES];
        size_t n = strlen(extra_json);
        if (n < sizeof(extra) && extra_json[n - 1] == '}') {
            memcpy(extra, extra_json + 1, n - 2);
            extra[n - 2] = '\0';
            df_log_redact(extra);
            at = append_raw(line, sizeof(line), at, ",");
            at = append_raw(line, sizeof(line), at, extra);
        }
    }
    /* Every part above is bounded (message, context fields, extra), so the
     * line always fits and stays valid JSON. */
    at = append_raw(line, sizeof(line), at, "}\n");

    for (size_t off = 0; off < at;) {
        ssize_t w = write(log_fd, line + off, at - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
    errno = saved_errno;
}

void df_log_write(df_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, NULL, fmt, ap);
    va_end(ap);
}

void df_log_write_kv(df_log_level_t level, const char *extra_json, const char *fmt, ...)
{
    va_list ap;
    if (!df_log_enabled(level))
        return;
    va_start(ap, fmt);
    write_line(level, extra_json, fmt, ap);
    va_end(ap);
}
