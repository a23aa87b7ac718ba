/* df_trace: W3C traceparent values (see df_trace.h). */
#include "df_trace.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static bool lower_hex(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

bool df_trace_valid(const char *tp)
{
    bool zero;

    if (!tp || strlen(tp) != DF_TRACEPARENT_LEN || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return false;
    if (strncmp(tp, "00", 2) != 0)
        return false;
    if (!lower_hex(tp + 3, 32, &zero) || zero)
        return false;
    if (!lower_hex(tp + 36, 16, &zero) || zero)
        return false;
    return lower_hex(tp + 53, 2, &zero);
}

static void random_hex(char *out, size_t nbytes)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t buf[16] = { 0 };

    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    while (getrandom(buf, nbytes, 0) < 0)
        ;
    buf[0] |= 1; /* never all zero */
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = digits[buf[i] >> 4];
        out[2 * i + 1] = digits[buf[i] & 15];
    }
}

void df_trace_new(char *out, size_t len)
{
    char trace[33] = "", span[17] = "";

    random_hex(trace, 16);
    random_hex(span, 8);
    snprintf(out, len, "00-%s-%s-01", trace, span);
}

bool df_trace_child(const char *parent, char *out, size_t len)
{
    char span[17] = "";

    if (!df_trace_valid(parent)) {
        df_trace_new(out, len);
        return false;
    }
    random_hex(span, 8);
    snprintf(out, len, "00-%.32s-%s-%.2s", parent + 3, span, parent + 53);
    return true;
}

bool df_trace_id(const char *tp, char *out, size_t len)
{
    if (!df_trace_valid(tp)) {
        if (len)
            out[0] = '\0';
        return false;
    }
    snprintf(out, len, "%.32s", tp + 3);
    return true;
}
