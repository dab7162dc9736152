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

/* The common case without printf: v is the double nearest to k / 10^d for an
 * integer |k| < 10^15 and d <= 9 (0.25, 3, 0.000123). Take the smallest such
 * d; k then has no trailing zero and at most 15 significant digits, and v lies
 * within half an ulp of k / 10^d, so "%.15g" would print exactly k / 10^d: the
 * same text the loop in json_double finds. Outside [1e-4, 1e15) "%g" switches
 * to an exponent, and then so do we, by returning false. */
static bool short_decimal(double v, char *buf)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v);

    if (!(a >= 1e-4 && a < 1e15))
        return false;
    for (int d = 0; d < (int)(sizeof(pow10) / sizeof(pow10[0])); d++) {
        double k = nearbyint(a * pow10[d]);
        if (k >= 1e15)
            return false;
        if (k / pow10[d] != a)
            continue;
        /* k's digits, then the point d digits from the right. */
        char digits[24];
        int n = 0;
        for (uint64_t u = (uint64_t)k; u; u /= 10)
            digits[n++] = (char)('0' + u % 10);
        char *p = buf;
        if (v < 0)
            *p++ = '-';
        if (n <= d) {
            *p++ = '0';
            *p++ = '.';
            for (int z = n; z < d; z++)
                *p++ = '0';
        }
        for (int i = n - 1; i >= 0; i--) {
            *p++ = digits[i];
            if (i == d && d > 0 && n > d)
                *p++ = '.';
        }
        *p = '\0';
        return true;
    }
    return false;
}

void json_double(struct json *j, double v)
{
    char buf[32];

    if (v == 0) {
        json_raw(j, signbit(v) ? "-0" : "0");
        return;
    }
    if (!short_decimal(v, buf)) {
        /* 15 significant digits is the shortest round trip for every normal
         * double that has one that short; subnormals may need fewer. */
        for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
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

/* The proleptic Gregorian date of day z after 1970-01-01: Howard Hinnant's
 * civil_from_days (https://howardhinnant.github.io/date_algorithms.html),
 * here for years 0..9999 only, where every quantity is non-negative after
 * the shift to 0000-03-01. Cheaper than gmtime_r, which locks the time zone. */
static void civil_from_days(int64_t z, unsigned *y, unsigned *m, unsigned *d)
{
    z += 719468;
    unsigned era = (unsigned)(z / 146097);
    unsigned doe = (unsigned)(z - (int64_t)era * 146097);                 /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

void json_time_ms(struct json *j, int64_t ms)
{
    /* 0000-03-01 and 9999-12-31T23:59:59.999, in ms since 1970. */
    const int64_t lo = -62162035200000, hi = 253402300799999;
    char buf[96];

    if (ms < lo || ms > hi) {
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
        snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        json_raw(j, buf);
        return;
    }
    /* The common case by hand, as json_int. Floor division: ms may be negative. */
    int64_t days = (ms >= 0 ? ms : ms - 86399999) / 86400000;
    unsigned msod = (unsigned)(ms - days * 86400000), y, m, d;
    civil_from_days(days, &y, &m, &d);
    memcpy(buf, "\"0000-00-00T00:00:00.000Z\"", 27);
    put_digits(buf + 1, y, 4);
    put_digits(buf + 6, m, 2);
    put_digits(buf + 9, d, 2);
    put_digits(buf + 12, msod / 3600000, 2);
    put_digits(buf + 15, msod / 60000 % 60, 2);
    put_digits(buf + 18, msod / 1000 % 60, 2);
    put_digits(buf + 21, msod % 1000, 3);
    append(j, buf, 26);
}
