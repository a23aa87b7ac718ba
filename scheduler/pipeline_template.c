/* pipeline_template: the templates of step params (see
 * pipeline_template.h). */
#include "pipeline_template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_TEXT_MAX (DF_PIPELINE_REF_PARTS * (DF_PIPELINE_REF_PART_MAX + 1))

void df_pipeline_append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(buf, len);
    va_list ap;

    if (used + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* ---- JSON Pointers for messages ---- */

/* Append "/" + key (escaped as RFC 6901 says) to path. */
void df_pipeline_pointer_add(char *path, size_t len, const char *key)
{
    size_t n = strlen(path);

    if (n + 1 >= len)
        return;
    path[n++] = '/';
    for (const char *k = key; *k && n + 2 < len; k++) {
        if (*k == '~' || *k == '/') {
            path[n++] = '~';
            path[n++] = *k == '~' ? '0' : '1';
        } else {
            path[n++] = *k;
        }
    }
    path[n] = '\0';
}

void df_pipeline_pointer_index(char *path, size_t len, size_t i)
{
    char key[24];
    snprintf(key, sizeof(key), "%zu", i);
    df_pipeline_pointer_add(path, len, key);
}

/* ---- syntax ---- */

/* The next template of s at or after *pos: its start (the '$') in *begin,
 * its content [*cbegin, *cend) and, on return, *pos just past its '}'.
 * "$${" is an escape, not a template. Returns 1 when one was found, 0 when
 * there is none, -1 for a "${" without its "}". */
int df_pipeline_template_next(const char *s, size_t *pos, size_t *begin, size_t *cbegin,
                              size_t *cend)
{
    for (size_t i = *pos; s[i]; i++) {
        if (s[i] != '$')
            continue;
        if (s[i + 1] == '$' && s[i + 2] == '{') {
            i += 2;
            continue;
        }
        if (s[i + 1] == '{') {
            const char *close = strchr(s + i + 2, '}');
            if (!close)
                return -1;
            *begin = i;
            *cbegin = i + 2;
            *cend = (size_t)(close - s);
            *pos = *cend + 1;
            return 1;
        }
    }
    return 0;
}

static bool segment_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Split a template's content "steps.a.result.rows" into its parts. */
bool df_pipeline_ref_parse(const char *s, size_t len, df_pipeline_ref_t *ref, df_error_t *err,
                           const char *field)
{
    size_t start = 0;

    ref->n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!segment_char(s[i]))
                goto bad;
            continue;
        }
        if (i == start || i - start >= DF_PIPELINE_REF_PART_MAX || ref->n == DF_PIPELINE_REF_PARTS)
            goto bad;
        memcpy(ref->seg[ref->n], s + start, i - start);
        ref->seg[ref->n][i - start] = '\0';
        ref->n++;
        start = i + 1;
    }
    return true;
bad:
    df_error_set(err, DF_ERR_INVALID, field,
                 "template \"${%.*s}\": expected dot-separated names of letters, digits, _ "
                 "or - (at most %d parts), such as ${steps.extract.result.rows_written}",
                 (int)(len > 200 ? 200 : len), s, DF_PIPELINE_REF_PARTS);
    return false;
}

/* ---- filling templates in ---- */

/* What ref names in scope, borrowed; NULL with err saying which part is
 * missing. */
static const json_t *lookup(const json_t *scope, const df_pipeline_ref_t *ref, const char *field,
                            df_error_t *err)
{
    const json_t *at = scope;
    char walked[REF_TEXT_MAX] = "";

    for (int i = 0; i < ref->n; i++) {
        const json_t *next = NULL;
        const char *seg = ref->seg[i];
        if (json_is_object(at)) {
            next = json_object_get(at, seg);
        } else if (json_is_array(at) && seg[strspn(seg, "0123456789")] == '\0' &&
                   strlen(seg) < 10) {
            next = json_array_get(at, (size_t)strtoul(seg, NULL, 10));
        } else if (i > 0) {
            df_error_set(err, DF_ERR_INVALID, field,
                         "${%s.%s...}: %s is %s, not an object: it has no \"%s\"", walked, seg,
                         walked,
                         json_is_null(at)      ? "null"
                         : json_is_string(at)  ? "a string"
                         : json_is_boolean(at) ? "a boolean"
                         : json_is_array(at)   ? "an array"
                                               : "a number",
                         seg);
            return NULL;
        }
        if (!next) {
            if (i == 0)
                df_error_set(err, DF_ERR_INVALID, field, "${%s...}: no such value", seg);
            else if (i == 1 && strcmp(ref->seg[0], "steps") == 0)
                df_error_set(err, DF_ERR_INVALID, field,
                             "${steps.%s...}: step %s has not succeeded: it has no result or "
                             "task id yet",
                             seg, seg);
            else if (i == 2 && strcmp(ref->seg[0], "steps") == 0)
                df_error_set(err, DF_ERR_INVALID, field,
                             "${%s.%s}: step %s has no %s (it has not succeeded, or its task "
                             "reported none)",
                             walked, seg, ref->seg[1], seg);
            else
                df_error_set(err, DF_ERR_INVALID, field, "${%s.%s}: %s has no \"%s\"", walked, seg,
                             walked, seg);
            return NULL;
        }
        df_pipeline_append(walked, sizeof(walked), "%s%s", i > 0 ? "." : "", seg);
        at = next;
    }
    return at;
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text_t;

static bool text_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > DF_PIPELINE_TEXT_MAX)
        return false;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char *buf;
        while (cap < t->len + n + 1)
            cap *= 2;
        buf = realloc(t->buf, cap);
        if (!buf)
            return false;
        t->buf = buf;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return true;
}

/* Literal text of s[from, to) with "$${" written as "${". */
static bool text_add_literal(text_t *t, const char *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (s[i] == '$' && i + 2 < to && s[i + 1] == '$' && s[i + 2] == '{') {
            if (!text_add(t, "${", 2))
                return false;
            i += 2;
            continue;
        }
        if (!text_add(t, s + i, 1))
            return false;
    }
    return true;
}

/* A value's text inside a longer string: strings as they are, numbers and
 * booleans as JSON writes them. */
static bool text_add_value(text_t *t, const json_t *value, const df_pipeline_ref_t *ref,
                           const char *field, df_error_t *err)
{
    char *dump;
    bool ok;

    if (json_is_string(value)) {
        ok = text_add(t, json_string_value(value), json_string_length(value));
        goto out;
    }
    if (!json_is_number(value) && !json_is_boolean(value)) {
        char name[REF_TEXT_MAX] = "";
        for (int i = 0; i < ref->n; i++)
            df_pipeline_append(name, sizeof(name), "%s%s", i > 0 ? "." : "", ref->seg[i]);
        df_error_set(err, DF_ERR_INVALID, field,
                     "${%s} is %s: only a string that is exactly the template can take it "
                     "(inside a longer string, a template must name a string, number or boolean)",
                     name,
                     json_is_null(value)     ? "null"
                     : json_is_object(value) ? "an object"
                                             : "an array");
        return false;
    }
    dump = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    ok = dump && text_add(t, dump, strlen(dump));
    free(dump);
out:
    if (!ok)
        df_error_set(err, DF_ERR_INVALID, field, "the filled-in text is over %d bytes",
                     DF_PIPELINE_TEXT_MAX);
    return ok;
}

static json_t *render_string(const json_t *value, const json_t *scope, const char *field,
                             df_error_t *err)
{
    const char *s = json_string_value(value);
    size_t len = json_string_length(value), pos = 0, begin, cb, ce, done = 0;
    text_t t = { NULL, 0, 0 };
    int found;
    df_pipeline_ref_t ref;
    json_t *out;

    found = df_pipeline_template_next(s, &pos, &begin, &cb, &ce);
    if (found == 0 && !strstr(s, "$${"))
        return json_deep_copy(value);
    /* exactly one template: its value, with its JSON type */
    if (found == 1 && begin == 0 && pos == len) {
        const json_t *v;
        if (!df_pipeline_ref_parse(s + cb, ce - cb, &ref, err, field) ||
            !(v = lookup(scope, &ref, field, err)))
            return NULL;
        return json_deep_copy(v);
    }
    for (; found == 1; found = df_pipeline_template_next(s, &pos, &begin, &cb, &ce)) {
        const json_t *v;
        if (!text_add_literal(&t, s, done, begin)) {
            df_error_set(err, DF_ERR_INVALID, field, "the filled-in text is over %d bytes",
                         DF_PIPELINE_TEXT_MAX);
            goto fail;
        }
        if (!df_pipeline_ref_parse(s + cb, ce - cb, &ref, err, field) ||
            !(v = lookup(scope, &ref, field, err)) || !text_add_value(&t, v, &ref, field, err))
            goto fail;
        done = pos;
    }
    if (found < 0) {
        df_error_set(err, DF_ERR_INVALID, field,
                     "a \"${\" without its closing \"}\" (write $${ for a literal ${)");
        goto fail;
    }
    if (!text_add_literal(&t, s, done, len) || !(t.buf || text_add(&t, "", 0))) {
        df_error_set(err, DF_ERR_INVALID, field, "the filled-in text is over %d bytes",
                     DF_PIPELINE_TEXT_MAX);
        goto fail;
    }
    out = json_stringn(t.buf, t.len);
    free(t.buf);
    if (!out)
        df_error_set(err, DF_ERR_INVALID, field, "the filled-in text is not valid UTF-8");
    return out;
fail:
    free(t.buf);
    return NULL;
}

static json_t *render(const json_t *value, const json_t *scope, char *path, size_t len,
                      df_error_t *err)
{
    size_t n = strlen(path);
    json_t *out, *child;

    if (json_is_string(value))
        return render_string(value, scope, path, err);
    if (json_is_object(value)) {
        const char *key;
        out = json_object();
        json_object_foreach((json_t *)value, key, child)
        {
            json_t *r;
            df_pipeline_pointer_add(path, len, key);
            r = out ? render(child, scope, path, len, err) : NULL;
            path[n] = '\0';
            if (!r || json_object_set_new(out, key, r)) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_array(value)) {
        size_t i;
        out = json_array();
        json_array_foreach(value, i, child)
        {
            json_t *r;
            df_pipeline_pointer_index(path, len, i);
            r = out ? render(child, scope, path, len, err) : NULL;
            path[n] = '\0';
            if (!r || json_array_append_new(out, r)) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(value);
}

json_t *df_pipeline_render(const json_t *value, const json_t *scope, const char *path,
                           df_error_t *err)
{
    char field[DF_ERR_FIELD_MAX];
    json_t *out;

    snprintf(field, sizeof(field), "%s", path ? path : "");
    out = render(value, scope, field, sizeof(field), err);
    if (!out && err && !err->code)
        df_error_set(err, DF_ERR_NOMEM, path, "out of memory");
    return out;
}
