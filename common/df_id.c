/* df_id: ULIDs and time helpers (see df_id.h). */
#include "df_id.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t ulid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static uint8_t last_random[10];

int64_t df_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t df_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void df_id_ulid_at(char *buf, int64_t unix_ms, const uint8_t random80[10])
{
    uint8_t b[16];
    uint64_t t = (uint64_t)unix_ms;

    for (int i = 5; i >= 0; i--) {
        b[i] = (uint8_t)(t & 0xff);
        t >>= 8;
    }
    memcpy(b + 6, random80, 10);
    /* 128 bits -> 26 base32 characters; the first carries 3 bits. */
    buf[0] = crockford[(b[0] & 224) >> 5];
    buf[1] = crockford[b[0] & 31];
    buf[2] = crockford[(b[1] & 248) >> 3];
    buf[3] = crockford[((b[1] & 7) << 2) | ((b[2] & 192) >> 6)];
    buf[4] = crockford[(b[2] & 62) >> 1];
    buf[5] = crockford[((b[2] & 1) << 4) | ((b[3] & 240) >> 4)];
    buf[6] = crockford[((b[3] & 15) << 1) | ((b[4] & 128) >> 7)];
    buf[7] = crockford[(b[4] & 124) >> 2];
    buf[8] = crockford[((b[4] & 3) << 3) | ((b[5] & 224) >> 5)];
    buf[9] = crockford[b[5] & 31];
    buf[10] = crockford[(b[6] & 248) >> 3];
    buf[11] = crockford[((b[6] & 7) << 2) | ((b[7] & 192) >> 6)];
    buf[12] = crockford[(b[7] & 62) >> 1];
    buf[13] = crockford[((b[7] & 1) << 4) | ((b[8] & 240) >> 4)];
    buf[14] = crockford[((b[8] & 15) << 1) | ((b[9] & 128) >> 7)];
    buf[15] = crockford[(b[9] & 124) >> 2];
    buf[16] = crockford[((b[9] & 3) << 3) | ((b[10] & 224) >> 5)];
    buf[17] = crockford[b[10] & 31];
    buf[18] = crockford[(b[11] & 248) >> 3];
    buf[19] = crockford[((b[11] & 7) << 2) | ((b[12] & 192) >> 6)];
    buf[20] = crockford[(b[12] & 62) >> 1];
    buf[21] = crockford[((b[12] & 1) << 4) | ((b[13] & 240) >> 4)];
    buf[22] = crockford[((b[13] & 15) << 1) | ((b[14] & 128) >> 7)];
    buf[23] = crockford[(b[14] & 124) >> 2];
    buf[24] = crockford[((b[14] & 3) << 3) | ((b[15] & 224) >> 5)];
    buf[25] = crockford[b[15] & 31];
    buf[26] = '\0';
}

static void fill_random(uint8_t *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n <= 0) { /* cannot happen on Linux >= 3.17 for small reads */
            for (; got < len; got++)
                out[got] = (uint8_t)rand();
            return;
        }
        got += (size_t)n;
    }
}

void df_id_ulid(char *buf)
{
    uint8_t rnd[10];
    int64_t now = df_now_ms();

    pthread_mutex_lock(&ulid_lock);
    if (now <= last_ms) {
        /* Same (or earlier: clock stepped back) millisecond: increment the
         * random part so ids stay strictly increasing in this process. */
        now = last_ms;
        for (int i = 9; i >= 0; i--)
            if (++last_random[i] != 0)
                break;
    } else {
        fill_random(last_random, sizeof(last_random));
        last_random[0] &= 0x7f; /* room to increment without overflow */
        last_ms = now;
    }
    memcpy(rnd, last_random, sizeof(rnd));
    pthread_mutex_unlock(&ulid_lock);
    df_id_ulid_at(buf, now, rnd);
}

bool df_id_valid(const char *id)
{
    size_t len;

    if (!id)
        return false;
    len = strlen(id);
    if (len == DF_ULID_LEN) {
        if (id[0] > '7')
            return false;
        for (size_t i = 0; i < len; i++)
            if (!strchr(crockford, id[i]) || id[i] == '\0')
                return false;
        return true;
    }
    if (len == 36) {
        for (size_t i = 0; i < len; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (id[i] != '-')
                    return false;
            } else if (!isxdigit((unsigned char)id[i])) {
                return false;
            }
        }
        return true;
    }
    return false;
}

void df_time_format(int64_t unix_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    int ms = (int)(unix_ms % 1000);

    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

bool df_time_parse(const char *text, int64_t *unix_ms)
{
    int y, mo, d, h, mi, s, ms = 0, off = 0;
    const char *p = text;
    struct tm tm;

    if (!text || strlen(text) < 20)
        return false;
    if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
        !digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
        !digits(p + 11, 2, &h) || p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':' ||
        !digits(p + 17, 2, &s))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return false;
    p += 19;
    if (*p == '.') {
        int scale = 100;
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        for (; isdigit((unsigned char)*p); p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    *unix_ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + ms;
    return true;
}
