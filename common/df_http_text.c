/* df_http text helpers: request bodies (bounded buffers, forms), URLs
 * (joining a base override, escaping, redacting for logs), Retry-After, and
 * what a status means with the vendor's own message (see df_http.h). No
 * network here. */
#include "df_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_log.h"

#define BODY_INITIAL_CAP 4096

/* ---- buffers ------------------------------------------------------------- */

void df_http_buf_init(df_http_buf_t *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max ? max : DF_HTTP_MAX_RESPONSE_DEFAULT;
}

void df_http_buf_free(df_http_buf_t *buf)
{
    if (buf->data) {
        explicit_bzero(buf->data, buf->cap);
        free(buf->data);
    }
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

df_code_t df_http_buf_append(df_http_buf_t *buf, const char *data, size_t len, df_error_t *err)
{
    size_t need;

    if (len > buf->max || buf->len > buf->max - len)
        return df_error_set(err, DF_ERR_INVALID, "df_http_buf", "buffer larger than %zu bytes",
                            buf->max);
    need = buf->len + len + 1;
    if (need > buf->cap) {
        /* Grow by hand rather than realloc, so the old copy is zeroed. */
        size_t cap = buf->cap ? buf->cap : BODY_INITIAL_CAP;
        char *grown;
        while (cap < need)
            cap *= 2;
        if (cap > buf->max + 1)
            cap = buf->max + 1;
        grown = malloc(cap);
        if (!grown)
            return df_error_set(err, DF_ERR_NOMEM, "df_http_buf", "out of memory");
        if (buf->data) {
            memcpy(grown, buf->data, buf->len);
            explicit_bzero(buf->data, buf->cap);
            free(buf->data);
        }
        buf->data = grown;
        buf->cap = cap;
    }
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return DF_OK;
}

/* ---- Retry-After ------------------------------------------------------ */

int64_t df_http_retry_after_parse(const char *value, int64_t now_ms)
{
    const char *p;
    time_t when;

    if (!value)
        return -1;
    while (*value == ' ')
        value++;
    if (!*value)
        return -1;
    for (p = value; *p >= '0' && *p <= '9'; p++)
        ;
    if (*p == '\0' || *p == ' ') {
        long long secs;
        if (p - value > 9) /* over 30 years: nonsense, cap it */
            return (int64_t)999999999 * 1000;
        secs = strtoll(value, NULL, 10);
        return (int64_t)secs * 1000;
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    if ((int64_t)when * 1000 <= now_ms)
        return 0;
    return (int64_t)when * 1000 - now_ms;
}

/* ---- URLs ---------------------------------------------------------------- */

void df_http_url_for_log(const char *url, char *out, size_t len)
{
    size_t end, at = 0;
    const char *auth, *host_end, *colon = NULL, *at_sign = NULL;

    if (!len)
        return;
    out[0] = '\0';
    if (!url)
        return;
    end = strcspn(url, "?#");
    auth = strstr(url, "://");
    if (auth && (size_t)(auth - url) < end) {
        auth += 3;
        host_end = auth + strcspn(auth, "/?#");
        for (const char *q = auth; q < host_end; q++) {
            if (*q == '@')
                at_sign = q;
        }
        if (at_sign) {
            for (const char *q = auth; q < at_sign; q++) {
                if (*q == ':') {
                    colon = q;
                    break;
                }
            }
        }
    }
    if (colon) {
        /* scheme://user: + *** + @rest */
        size_t head = (size_t)(colon + 1 - url);
        snprintf(out, len, "%.*s***%.*s", (int)head, url, (int)(end - (size_t)(at_sign - url)),
                 at_sign);
        return;
    }
    at = end < len - 1 ? end : len - 1;
    memcpy(out, url, at);
    out[at] = '\0';
}

static bool has_scheme(const char *s)
{
    const char *p = s;

    if (!isalpha((unsigned char)*p))
        return false;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return *p == ':';
}

static bool is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

df_code_t df_http_url_join(const char *base, const char *path, char *out, size_t len,
                           df_error_t *err)
{
    size_t blen, min_len;
    int n;

    if (len)
        out[0] = '\0';
    if (!base || !is_http_url(base))
        return df_error_set(err, DF_ERR_INVALID, "api_base_url",
                            "base URL must start with http:// or https://");
    if (strpbrk(base, "?#"))
        return df_error_set(err, DF_ERR_INVALID, "api_base_url",
                            "base URL must not have a query or fragment");
    if (path && has_scheme(path))
        return df_error_set(err, DF_ERR_INVALID, "path", "path must be relative to the base URL");
    min_len = strncasecmp(base, "https://", 8) == 0 ? 9 : 8; /* keep scheme:// and one char */
    blen = strlen(base);
    while (blen > min_len && base[blen - 1] == '/')
        blen--;
    if (blen <= min_len - 1)
        return df_error_set(err, DF_ERR_INVALID, "api_base_url", "base URL has no host");
    while (path && *path == '/')
        path++;
    if (!path || !*path)
        n = snprintf(out, len, "%.*s", (int)blen, base);
    else
        n = snprintf(out, len, "%.*s/%s", (int)blen, base, path);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            out[0] = '\0';
        return df_error_set(err, DF_ERR_INVALID, "url", "URL longer than %zu bytes", len);
    }
    return DF_OK;
}

/* curl_easy_escape, turned into a df_code_t. */
static df_code_t escape(const char *s, char **out, df_error_t *err)
{
    size_t n = strlen(s);

    if (n > (size_t)(1 << 30))
        return df_error_set(err, DF_ERR_INVALID, "escape", "value too long to escape");
    *out = curl_easy_escape(NULL, s, (int)n);
    if (!*out)
        return df_error_set(err, DF_ERR_NOMEM, "curl_easy_escape", "out of memory");
    return DF_OK;
}

static void free_escaped(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        curl_free(s);
    }
}

df_code_t df_http_path_escape(const char *segment, char *out, size_t len, df_error_t *err)
{
    char *esc = NULL;
    size_t n;
    df_code_t rc;

    if (len)
        out[0] = '\0';
    rc = escape(segment ? segment : "", &esc, err);
    if (rc != DF_OK)
        return rc;
    n = strlen(esc);
    if (n >= len) {
        free_escaped(esc);
        return df_error_set(err, DF_ERR_INVALID, "path", "escaped path segment longer than %zu",
                            len);
    }
    memcpy(out, esc, n + 1);
    free_escaped(esc);
    return DF_OK;
}

df_code_t df_http_form_append(df_http_buf_t *buf, const char *key, const char *value,
                              df_error_t *err)
{
    char *k = NULL, *v = NULL;
    df_code_t rc;

    rc = escape(key, &k, err);
    if (rc == DF_OK)
        rc = escape(value ? value : "", &v, err);
    if (rc == DF_OK && buf->len)
        rc = df_http_buf_append(buf, "&", 1, err);
    if (rc == DF_OK)
        rc = df_http_buf_append(buf, k, strlen(k), err);
    if (rc == DF_OK)
        rc = df_http_buf_append(buf, "=", 1, err);
    if (rc == DF_OK)
        rc = df_http_buf_append(buf, v, strlen(v), err);
    free_escaped(k);
    free_escaped(v);
    return rc;
}

/* ---- classification ------------------------------------------------------ */

static const char *str_field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

static void join_code_message(char *out, size_t len, const char *code, const char *msg)
{
    if (code && msg)
        snprintf(out, len, "%s: %s", code, msg);
    else
        snprintf(out, len, "%s", msg ? msg : code ? code : "");
}

/* The message of the first shape that matches root; "" when none. */
static void json_message(json_t *root, char *out, size_t len)
{
    json_t *error = json_object_get(root, "error");
    json_t *errors = json_object_get(root, "errors");
    const char *msg, *code;

    out[0] = '\0';
    if (json_is_object(error)) {
        code = str_field(error, "code");
        if (!code)
            code = str_field(error, "status");
        msg = str_field(error, "message");
        join_code_message(out, len, code, msg);
        if (out[0])
            return;
    } else if (json_is_string(error)) {
        msg = str_field(root, "error_description");
        if (!msg)
            msg = str_field(root, "message");
        join_code_message(out, len, json_string_value(error), msg);
        return;
    }
    msg = str_field(root, "message");
    if (!msg)
        msg = str_field(root, "Message");
    if (!msg)
        msg = str_field(root, "error_message");
    if (!msg)
        msg = str_field(root, "detail");
    code = str_field(root, "error_code");
    if (!code)
        code = str_field(root, "code");
    if (msg) {
        join_code_message(out, len, code, msg);
        return;
    }
    if (json_is_array(errors) && json_array_size(errors) > 0) {
        json_t *first = json_array_get(errors, 0);
        if (json_is_string(first))
            snprintf(out, len, "%s", json_string_value(first));
        else if (json_is_object(first))
            join_code_message(out, len, str_field(first, "code"), str_field(first, "message"));
        return;
    }
    if (code)
        snprintf(out, len, "%s", code);
}

/* Cut text to at most max bytes on a UTF-8 boundary, marking the cut. */
static void truncate_utf8(char *text, size_t max)
{
    size_t n = strlen(text);

    if (n <= max)
        return;
    n = max - 3;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    memcpy(text + n, "...", 4);
}

void df_http_vendor_message(const char *body, size_t body_len, char *out, size_t len)
{
    char text[DF_HTTP_VENDOR_MESSAGE_MAX * 4];
    size_t i = 0, o = 0;

    if (!len)
        return;
    out[0] = '\0';
    if (!body || !body_len)
        return;
    while (i < body_len && isspace((unsigned char)body[i]))
        i++;
    if (i < body_len && body[i] == '{') {
        json_t *root = json_loadb(body, body_len, 0, NULL);
        if (root) {
            json_message(root, text, sizeof(text));
            json_decref(root);
            goto done;
        }
    }
    if (i < body_len && body[i] == '<') /* an HTML error page says nothing useful */
        return;
    for (; i < body_len && o + 1 < sizeof(text); i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\0')
            break;
        text[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    while (o && text[o - 1] == ' ')
        o--;
    text[o] = '\0';
done:
    for (char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    }
    truncate_utf8(text, DF_HTTP_VENDOR_MESSAGE_MAX);
    df_log_redact(text);
    snprintf(out, len, "%s", text);
    explicit_bzero(text, sizeof(text));
}

df_http_class_t df_http_classify(const df_http_response_t *resp, df_error_t *err)
{
    char vendor[DF_HTTP_VENDOR_MESSAGE_MAX + 8];
    long s = resp->status;
    df_http_class_t cls;
    df_code_t code = DF_ERR_HTTP;

    if (s >= 200 && s < 300)
        return DF_HTTP_OK;
    if (s == 408 || s == 425 || s == 429 || (s >= 500 && s < 600))
        cls = DF_HTTP_RETRY;
    else if (s == 401)
        cls = DF_HTTP_AUTH;
    else
        cls = DF_HTTP_PERMANENT;
    if (s == 401 || s == 403)
        code = DF_ERR_AUTH;
    df_http_vendor_message(resp->body, resp->body_len, vendor, sizeof(vendor));
    if (vendor[0])
        df_error_set(err, code, "status", "HTTP %ld: %s", s, vendor);
    else
        df_error_set(err, code, "status", "HTTP %ld", s);
    if (err && cls == DF_HTTP_RETRY) {
        err->retryable = true;
        err->retry_after_ms = resp->retry_after_ms;
    }
    return cls;
}
