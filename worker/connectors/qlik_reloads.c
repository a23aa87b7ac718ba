/* qlik_reloads: reading Qlik Cloud's reload listings, logs and errors
 * (qlik_reloads.h). */
#include "qlik_reloads.h"

#include <stdio.h>
#include <string.h>

#include "df_http.h"
#include "df_id.h"

const char *df_qlik_reload_since(const json_t *data, const char *before, bool has_before,
                                 int64_t since_ms)
{
    const char *found = NULL;
    size_t i;
    json_t *r;

    json_array_foreach(data, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        int64_t created = 0;

        if (!id)
            continue;
        if (has_before && before && strcmp(id, before) == 0)
            break; /* the baseline and everything older */
        if (df_time_parse(json_string_value(json_object_get(r, "creationTime")), &created) &&
            created >= since_ms - DF_QLIK_SKEW_MS)
            found = id; /* keeps the oldest one above the baseline */
        else if (!has_before)
            break; /* newest first: the rest is older still */
    }
    return found;
}

void df_qlik_log_tail(const char *log, size_t tail, char *buf, size_t len)
{
    size_t n = log ? strlen(log) : 0, o = 0;
    const char *p;

    if (len == 0)
        return;
    while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == '\r'))
        n--;
    p = n > tail ? log + n - tail : log;
    for (; p && p < log + n && o + 4 < len; p++) {
        if (*p == '\n') {
            memcpy(buf + o, " | ", 3);
            o += 3;
        } else if ((unsigned char)*p >= 0x20 && *p != 0x7f) {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    if (!o)
        snprintf(buf, len, "no script log given");
}

void df_qlik_error_message(const char *body, size_t body_len, char *buf, size_t len)
{
    json_t *root = json_loadb(body, body_len, 0, NULL);
    json_t *e = json_array_get(json_object_get(root, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *title = json_string_value(json_object_get(e, "title"));
    const char *detail = json_string_value(json_object_get(e, "detail"));

    if (code || title)
        snprintf(buf, len, "%s%s%s%s%s", code ? code : "", code && title ? " " : "",
                 title ? title : "", detail ? ": " : "", detail ? detail : "");
    else
        df_http_vendor_message(body, body_len, buf, len);
    json_decref(root);
}
