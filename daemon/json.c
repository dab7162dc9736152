/*
 * json.c - JSON text building with escaping; see json.h.
 */
#include "json.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void json_init(struct json *j, size_t max)
{
    memset(j, 0, sizeof(*j));
    j->max = max;
}

void json_release(struct json *j)
{
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}

bool json_failed(const struct json *j)
{
    return j->failed;
}

char *json_detach(struct json *j, size_t *len)
{
    char *p;

    if (j->failed || !j->buf) {
        json_release(j);
        return NULL;
    }
    p = j->buf;
    if (len)
        *len = j->len;
    j->buf = NULL;
    j->len = j->cap = 0;
    return p;
}

static void append(struct json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->len + n + 1 > j->max) {
        j->failed = true;
        return;
    }
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        if (cap > j->max)
            cap = j->max;
        char *p = realloc(j->buf, cap);
        if (!p) {
            j->failed = true;
            return;
        }
        j->buf = p;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

void json_raw(struct json *j, const char *s)
{
    append(j, s, strlen(s));
}

void json_str(struct json *j, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    append(j, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            append(j, run, (size_t)(p - run));
            append(j, esc, strlen(esc));
            run = p + 1;
        }
    }
    append(j, run, strlen(run));
    append(j, "\"", 1);
}

void json_int(struct json *j, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    /* By hand: snprintf's format parsing was a tenth of a list's CPU. */
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    append(j, p, (size_t)(buf + sizeof(buf) - p));
}

void json_double(struct json *j, double v)
{
    char buf[32];

    /* 15 significant digits is the shortest round trip for every normal
     * double that has one that short; subnormals may need fewer. */
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* "1e+20" is valid JSON; a bare integer form such as "3" is too. */
    json_raw(j, buf);
}

/* v as exactly n decimal digits at p, zero-padded. */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void json_time_ms(struct json *j, int64_t ms)
{
    char buf[96];
    struct tm tm;
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);

    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    if (!gmtime_r(&secs, &tm)) {
        j->failed = true;
        return;
    }
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999) {
        snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", year, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        json_raw(j, buf);
        return;
    }
    /* The common case by hand, as json_int. */
    memcpy(buf, "\"0000-00-00T00:00:00.000Z\"", 27);
    put_digits(buf + 1, (unsigned)year, 4);
    put_digits(buf + 6, (unsigned)tm.tm_mon + 1, 2);
    put_digits(buf + 9, (unsigned)tm.tm_mday, 2);
    put_digits(buf + 12, (unsigned)tm.tm_hour, 2);
    put_digits(buf + 15, (unsigned)tm.tm_min, 2);
    put_digits(buf + 18, (unsigned)tm.tm_sec, 2);
    put_digits(buf + 21, (unsigned)frac, 3);
    append(j, buf, 26);
}
