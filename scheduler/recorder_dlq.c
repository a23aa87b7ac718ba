/* recorder_dlq: a message of the DLQ topic turned into the dlq_messages row
 * the recorder writes with its batch (see recorder.h). Every message
 * becomes a row, whatever it holds: the payload is kept as UTF-8 text when
 * it is text, as base64 otherwise, cut to DF_DLQ_PAYLOAD_MAX bytes; the
 * headers are kept whole, and the task id is read when the payload is a
 * JSON object that has one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_id.h"
#include "dlq_store.h"
#include "recorder.h"

#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* Standard base64 (with padding) of len bytes: a new string, or NULL when
 * out of memory. */
static char *base64(const unsigned char *data, size_t len, const char *prefix)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t plen = strlen(prefix);
    char *out = malloc(plen + (len + 2) / 3 * 4 + 1), *p;

    if (!out)
        return NULL;
    memcpy(out, prefix, plen);
    p = out + plen;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        *p++ = digits[(v >> 18) & 63];
        *p++ = digits[(v >> 12) & 63];
        *p++ = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? digits[v & 63] : '=';
    }
    *p = '\0';
    return out;
}

/* Bytes as a JSON string: themselves when they are UTF-8 text without NUL
 * (PostgreSQL text cannot hold NUL), else prefix + base64. *is_text says
 * which (may be NULL). NULL only when out of memory. */
static json_t *text_or_base64(const void *data, size_t len, const char *prefix, bool *is_text)
{
    json_t *s = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
    char *b64;

    if (is_text)
        *is_text = s != NULL;
    if (s)
        return s;
    b64 = base64(data, len, prefix);
    s = b64 ? json_string(b64) : NULL;
    free(b64);
    return s;
}

/* Header name -> value; a header that repeats keeps its last value. */
static json_t *headers_of(const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs = NULL;
    json_t *out = json_object();
    const char *name;
    const void *value;
    size_t size;

    if (!out || rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return out;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        json_t *v = value ? text_or_base64(value, size, "base64:", NULL) : json_null();
        if (v)
            json_object_set_new(out, name, v); /* a name that is not UTF-8 is left out */
    }
    return out;
}

/* The task id of a payload that is a JSON object with one (1..256 bytes). */
static void add_task_id(json_t *rec, const rd_kafka_message_t *msg)
{
    json_t *doc = json_loadb(msg->payload, msg->len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "task_id"));

    if (id && *id && strlen(id) <= 256)
        json_object_set_new(rec, "task_id", json_string(id));
    json_decref(doc);
}

/* The payload, cut to DF_DLQ_PAYLOAD_MAX bytes (text: on a character
 * boundary). */
static bool add_payload(json_t *rec, const rd_kafka_message_t *msg)
{
    const unsigned char *p = msg->payload;
    size_t len = msg->payload ? msg->len : 0, keep = len;
    bool text = true;
    json_t *v;

    if (keep > DF_DLQ_PAYLOAD_MAX) {
        keep = DF_DLQ_PAYLOAD_MAX;
        while (keep > 0 && (p[keep] & 0xC0) == 0x80)
            keep--;
    }
    v = len ? text_or_base64(p, keep, "", &text) : json_string("");
    if (v && !text && keep != len && len > DF_DLQ_PAYLOAD_MAX) {
        /* bytes, not text: cut at the byte limit itself */
        json_decref(v);
        v = text_or_base64(p, DF_DLQ_PAYLOAD_MAX, "", &text);
        keep = DF_DLQ_PAYLOAD_MAX;
    }
    if (!v)
        return false;
    json_object_set_new(rec, "payload", v);
    json_object_set_new(rec, "payload_encoding", json_string(text ? "text" : "base64"));
    json_object_set_new(rec, "payload_truncated", json_boolean(keep != len));
    json_object_set_new(rec, "payload_bytes", json_integer((json_int_t)len));
    if (text && keep == len && len > 0)
        add_task_id(rec, msg);
    return true;
}

static void copy_header(json_t *rec, const json_t *headers, const char *header, const char *name)
{
    json_t *v = json_object_get(headers, header);
    if (json_is_string(v))
        json_object_set(rec, name, v);
}

json_t *df_recorder_dlq_record_new(const rd_kafka_message_t *msg, df_error_t *err)
{
    json_t *rec = json_object(), *headers = headers_of(msg);
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);

    if (!rec || !headers || !add_payload(rec, msg)) {
        json_decref(rec);
        json_decref(headers);
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    json_object_set_new(rec, "topic", json_string(rd_kafka_topic_name(msg->rkt)));
    json_object_set_new(rec, "partition", json_integer(msg->partition));
    json_object_set_new(rec, "offset", json_integer(msg->offset));
    if (msg->key) {
        json_t *key = text_or_base64(msg->key, msg->key_len, "base64:", NULL);
        if (key)
            json_object_set_new(rec, "key", key);
    }
    copy_header(rec, headers, "dlq_reason", "reason");
    copy_header(rec, headers, "dlq_error", "error");
    copy_header(rec, headers, "dlq_worker", "worker");
    if (ts >= 0 && ts <= TIME_MAX_MS) {
        char at[40];
        df_time_format(ts, at, sizeof(at));
        json_object_set_new(rec, "produced_at", json_string(at));
    }
    json_object_set_new(rec, "headers", headers);
    return rec;
}
