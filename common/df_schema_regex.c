/* df_schema_regex: translates the ECMA-262 regexes of JSON Schema
 * ("pattern", "patternProperties"), within the subset documented in
 * df_schema.h, into POSIX extended regexes for regcomp. Anything outside
 * the subset is refused with a reason rather than translated loosely. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_schema_internal.h"

static const char *class_escape(char e, bool negated_ok)
{
    switch (e) {
    case 'd': return "[0-9]";
    case 'w': return "[A-Za-z0-9_]";
    case 's': return "[[:space:]]";
    case 'D': return negated_ok ? "[^0-9]" : NULL;
    case 'W': return negated_ok ? "[^A-Za-z0-9_]" : NULL;
    case 'S': return negated_ok ? "[^[:space:]]" : NULL;
    default: return NULL;
    }
}

static char control_escape(char e)
{
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    default: return 0;
    }
}

static bool is_punct(char e)
{
    return e > 0x20 && e < 0x7f &&
           !((e >= '0' && e <= '9') || (e >= 'A' && e <= 'Z') || (e >= 'a' && e <= 'z') ||
             e == '_');
}

static void emit(char *out, size_t *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(out + *o, s, n);
    *o += n;
}

static void emit_char(char *out, size_t *o, char ch)
{
    out[(*o)++] = ch;
}

/* Translate the class starting at src[*pi] == '['; on success *pi is the
 * index of its closing ']'. items is scratch space as large as out. */
static bool translate_class(const char *src, size_t *pi, char *out, size_t *o, char *items,
                            char *why, size_t whylen)
{
    size_t i = *pi + 1, n = 0;
    bool negate = false, rbracket = false, dash = false, caret = false, lbracket = false;
    bool last_single = false; /* the last item is one literal: may start a range */

    if (src[i] == '^') {
        negate = true;
        i++;
    }
    for (;; i++) {
        char ch = src[i];
        if (ch == '\0') {
            snprintf(why, whylen, "unterminated [");
            return false;
        }
        if (ch == ']')
            break;
        if (ch == '\\') {
            char e = src[++i], ctl = control_escape(e);
            const char *cls = class_escape(e, false);
            last_single = false;
            if (cls) {
                size_t len = strlen(cls) - 2; /* drop the brackets */
                memcpy(items + n, cls + 1, len);
                n += len;
            } else if (ctl) {
                items[n++] = ctl;
                last_single = true;
            } else if (e == ']') {
                rbracket = true;
            } else if (e == '-') {
                dash = true;
            } else if (e == '^') {
                caret = true;
            } else if (e == '[') {
                lbracket = true;
            } else if (is_punct(e)) {
                items[n++] = e;
                last_single = true;
            } else {
                snprintf(why, whylen, "unsupported escape \\%c inside [...]", e ? e : '0');
                return false;
            }
        } else if (ch == '[') {
            lbracket = true;
            last_single = false;
        } else if (ch == '^') {
            caret = true;
            last_single = false;
        } else if (ch == '-') {
            char next = src[i + 1];
            if (n == 0 && !rbracket && !caret && !lbracket) {
                dash = true; /* leading: literal */
            } else if (next == ']') {
                dash = true; /* trailing: literal */
            } else if (last_single && next != '\\' && next != '[' && next != '^' && next != '-' &&
                       next != '\0') {
                items[n++] = '-';
                items[n++] = next; /* a range: the end is a plain literal */
                i++;
                last_single = false;
                continue;
            } else {
                snprintf(why, whylen, "ambiguous - inside [...]: write a literal - as \\-");
                return false;
            }
            last_single = false;
        } else {
            if ((unsigned char)ch >= 0x80) {
                snprintf(why, whylen, "non-ASCII characters are not supported");
                return false;
            }
            items[n++] = ch;
            last_single = true;
        }
    }
    *pi = i;
    if (n == 0 && !rbracket && !dash && !lbracket && !caret) {
        snprintf(why, whylen, "empty class %s is not supported", negate ? "[^]" : "[]");
        return false;
    }
    if (!negate && caret && n == 0 && !rbracket && !dash && !lbracket) {
        emit(out, o, "\\^");
        return true;
    }
    /* POSIX brackets have no escapes: ']' goes first, '-' first or last,
     * '^' anywhere but first, '[' where it cannot start "[:". */
    emit_char(out, o, '[');
    if (negate)
        emit_char(out, o, '^');
    if (rbracket)
        emit_char(out, o, ']');
    if (dash && !rbracket)
        emit_char(out, o, '-');
    memcpy(out + *o, items, n);
    *o += n;
    if (lbracket)
        emit_char(out, o, '[');
    if (caret)
        emit_char(out, o, '^');
    if (dash && rbracket)
        emit_char(out, o, '-');
    emit_char(out, o, ']');
    return true;
}

/* "{n}", "{n,}" or "{n,m}" at src[i]: returns its length, 0 if not one. */
static size_t quantifier_length(const char *src, size_t i)
{
    size_t j = i + 1, digits = 0;
    while (src[j] >= '0' && src[j] <= '9')
        j++, digits++;
    if (digits == 0)
        return 0;
    if (src[j] == ',') {
        j++;
        while (src[j] >= '0' && src[j] <= '9')
            j++;
    }
    return src[j] == '}' ? j - i + 1 : 0;
}

char *sch_regex_translate(const char *src, char *why, size_t whylen)
{
    size_t len = strlen(src), o = 0, cap = len * 16 + 16;
    char *out = malloc(cap), *items = malloc(cap);

    if (!out || !items) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        bool quantifier = false;
        if ((unsigned char)ch >= 0x80) {
            snprintf(why, whylen, "non-ASCII characters are not supported");
            goto fail;
        }
        if (ch == '\\') {
            char e = src[++i], ctl = control_escape(e);
            const char *cls = class_escape(e, true);
            if (cls) {
                emit(out, &o, cls);
            } else if (ctl) {
                emit_char(out, &o, ctl);
            } else if (is_punct(e)) {
                if (strchr(".[\\()*+?{|^$", e))
                    emit_char(out, &o, '\\');
                emit_char(out, &o, e);
            } else {
                snprintf(why, whylen, e ? "unsupported escape \\%c" : "a lone \\ at the end", e);
                goto fail;
            }
        } else if (ch == '[') {
            if (!translate_class(src, &i, out, &o, items, why, whylen))
                goto fail;
        } else if (ch == '(' && src[i + 1] == '?') {
            if (src[i + 2] != ':') {
                snprintf(why, whylen, "lookarounds and named groups are not supported");
                goto fail;
            }
            emit_char(out, &o, '(');
            i += 2;
        } else if (ch == '.') {
            emit(out, &o, "[^\n\r]");
        } else if (ch == '{') {
            size_t qlen = quantifier_length(src, i);
            if (qlen == 0) {
                snprintf(why, whylen, "a literal { must be written \\{");
                goto fail;
            }
            memcpy(out + o, src + i, qlen);
            o += qlen;
            i += qlen - 1;
            quantifier = true;
        } else {
            emit_char(out, &o, ch);
            quantifier = ch == '*' || ch == '+' || ch == '?';
        }
        if (quantifier && src[i + 1] == '?') {
            snprintf(why, whylen, "lazy quantifiers (*? +? ?? {n,m}?) are not supported");
            goto fail;
        }
    }
    out[o] = '\0';
    free(items);
    return out;
fail:
    free(out);
    free(items);
    return NULL;
}
