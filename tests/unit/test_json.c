/*
 * test_json.c - unit tests for daemon/json.c: string escaping, number and
 * timestamp forms, the hard maximum and handing the text over.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

/* Printable form of s for check messages (one check per output line). */
static const char *show(const char *s)
{
    static char bufs[4][400];
    static unsigned next;
    char *b = bufs[next++ % 4];
    size_t o = 0;

    if (!s)
        return "(null)";
    for (; *s && o + 5 < sizeof(bufs[0]); s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\x%02x", c);
        else
            b[o++] = (char)c;
    }
    b[o] = '\0';
    return b;
}

/* The text one call produces on a fresh, roomy buffer; the caller frees it. */
static char *str_text(const char *s)
{
    struct json j;
    json_init(&j, 4096);
    json_str(&j, s);
    return json_detach(&j, NULL);
}

static char *double_text(double v)
{
    struct json j;
    json_init(&j, 4096);
    json_double(&j, v);
    return json_detach(&j, NULL);
}

static char *int_text(int64_t v)
{
    struct json j;
    json_init(&j, 4096);
    json_int(&j, v);
    return json_detach(&j, NULL);
}

static char *time_text(int64_t ms)
{
    struct json j;
    json_init(&j, 4096);
    json_time_ms(&j, ms);
    return json_detach(&j, NULL);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s)
{
    if (!s)
        return false;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (is_digit(*s))
            s++;
    else
        return false;
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

static bool same_double(double a, double b)
{
    uint64_t x, y;
    memcpy(&x, &a, sizeof(x));
    memcpy(&y, &b, sizeof(y));
    return x == y;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: a fixed seed keeps the sweep reproducible. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static void test_str(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"plain run-1.x", "\"plain run-1.x\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {"\n", "\"\\n\""},
        {"\t", "\"\\t\""},
        {"\r", "\"\\r\""},
        {"\b\f", "\"\\b\\f\""},
        {"\x01", "\"\\u0001\""},
        {"\x1f", "\"\\u001f\""},
        {"\x7f", "\"\\u007f\""},
        {"/", "\"/\""},
        {"\xc3\xa4", "\"\xc3\xa4\""},
        {"x\x01y\"z\\", "\"x\\u0001y\\\"z\\\\\""},
        {"run 'demo' not found", "\"run 'demo' not found\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = str_text(cases[i].in);
        CHECK(t && strcmp(t, cases[i].out) == 0, "json_str(\"%s\") is %s", show(cases[i].in),
              show(cases[i].out));
        free(t);
    }

    /* Every control character must come out escaped, never raw. */
    char all[32];
    for (int c = 1; c < 32; c++)
        all[c - 1] = (char)c;
    all[31] = '\0';
    char *t = str_text(all);
    bool raw = false;
    for (const char *p = t ? t : ""; *p; p++)
        if ((unsigned char)*p < 0x20)
            raw = true;
    CHECK(t && !raw, "json_str leaves no raw control character in its output (0x01..0x1f)");
    free(t);
}

static void test_double(void)
{
    static const struct {
        double v;
        const char *out;
    } exact[] = {
        {0.31, "0.31"},
        {0.1, "0.1"},
        {3.0, "3"},
        {0.0, "0"},
        {-0.5, "-0.5"},
        {1e300, "1e+300"},
        {-2.0, "-2"},
        {123456.789, "123456.789"},
        {1e-5, "1e-05"},
        {0.1 + 0.2, "0.30000000000000004"},
        /* The header promises the shortest form; the smallest subnormal
         * reads back from "5e-324". */
        {5e-324, "5e-324"},
    };

    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        char *t = double_text(exact[i].v);
        CHECK(t && strcmp(t, exact[i].out) == 0, "json_double(%.17g) is \"%s\" (got \"%s\")",
              exact[i].v, exact[i].out, show(t));
        free(t);
    }

    static const double trips[] = {0.1 + 0.2,
                                   1e300,
                                   -0.5,
                                   1.0 / 3.0,
                                   DBL_MAX,
                                   -DBL_MAX,
                                   DBL_MIN,
                                   5e-324,
                                   2.2250738585072009e-308,
                                   9007199254740993.0,
                                   -0.0,
                                   1e23,
                                   0.31};
    for (size_t i = 0; i < sizeof(trips) / sizeof(trips[0]); i++) {
        char *t = double_text(trips[i]);
        bool ok = t && is_json_number(t) && same_double(strtod(t, NULL), trips[i]);
        CHECK(ok, "json_double(%.17g) is a JSON number that strtod reads back exactly (\"%s\")",
              trips[i], show(t));
        free(t);
    }

    /* A sweep over finite bit patterns: every one must round-trip and be
     * valid JSON; report only the first failure to keep the output short. */
    unsigned tried = 0, bad = 0;
    char first_bad[64] = "";
    while (tried < 20000) {
        uint64_t bits = rng();
        double v;
        memcpy(&v, &bits, sizeof(v));
        if (v != v || v - v != 0.0)
            continue; /* NaN or infinity: callers only store finite numbers */
        tried++;
        char *t = double_text(v);
        if (!(t && is_json_number(t) && same_double(strtod(t, NULL), v) && strlen(t) <= 24)) {
            if (!bad++)
                snprintf(first_bad, sizeof(first_bad), "%.17g -> %s", v, show(t));
        }
        free(t);
    }
    CHECK(bad == 0,
          "json_double round-trips 20000 random finite doubles as JSON numbers (%u "
          "failed; first: %s)",
          bad, first_bad);
}

/* The text json_double promises: the shortest "%.Ng" (N = 15..17) that reads back. */
static void ref_double(double v, char *buf, size_t size)
{
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

/* json_double skips printf for short decimals; its text must be the same
 * as the printf loop's, byte for byte, on both sides of every boundary. */
static void test_double_same_as_printf(void)
{
    static const double edges[] = {1e-4,
                                   -1e-4,
                                   9.999e-5,
                                   0.00012,
                                   1e15 - 1,
                                   1e15,
                                   999999999999999.9,
                                   1e14,
                                   0.5,
                                   0.25,
                                   0.125,
                                   1.0 / 3,
                                   2.5e-9,
                                   123456789.123456,
                                   0.001,
                                   1e9,
                                   4503599627370497.0,
                                   0.30000000000000004,
                                   7.0,
                                   -123.0};
    unsigned tried = 0, bad = 0;
    char first_bad[128] = "";

    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 60000; i++) {
        double v;
        uint64_t r = rng();
        if (i < sizeof(edges) / sizeof(edges[0])) {
            v = edges[i];
        } else if (i % 4 == 0) { /* k / 10^d, the fast path's own shape */
            static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};
            v = (double)(int64_t)(r % 2000000000000000ull - 1000000000000000ll) /
                p10[(r >> 52) % 11];
        } else if (i % 4 == 1) { /* float32 values, as loss.item() gives */
            float f;
            uint32_t b = (uint32_t)r;
            memcpy(&f, &b, sizeof(f));
            v = f;
        } else if (i % 4 == 2) { /* a few decimal digits, like random()/1e6 */
            v = (double)(r % 1000000) / 1e6 * ((r >> 40) % 2 ? 1 : -1000);
        } else {
            memcpy(&v, &r, sizeof(v));
        }
        if (v != v || v - v != 0.0)
            continue;
        tried++;
        char want[64];
        ref_double(v, want, sizeof(want));
        char *t = double_text(v);
        if (!t || strcmp(t, want) != 0) {
            if (!bad++)
                snprintf(first_bad, sizeof(first_bad), "%.17g: \"%s\", printf \"%s\"", v, show(t),
                         want);
        }
        free(t);
    }
    CHECK(bad == 0 && tried > 50000,
          "json_double prints %u values exactly as the printf loop does (%u differ; first: %s)",
          tried, bad, first_bad);
}

static void test_int(void)
{
    static const struct {
        int64_t v;
        const char *out;
    } cases[] = {
        {0, "0"},
        {-1, "-1"},
        {42, "42"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = int_text(cases[i].v);
        CHECK(t && strcmp(t, cases[i].out) == 0, "json_int(%" PRId64 ") is %s", cases[i].v,
              cases[i].out);
        free(t);
    }
}

/* Reference calendar: days since 1970-01-01 to a proleptic Gregorian date
 * (H. Hinnant's civil_from_days), independent of gmtime. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void reference_time(int64_t ms, char *out, size_t size)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "\"%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ\"", y, m, d,
             (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60), (unsigned)(rem / 1000 % 60),
             (unsigned)(rem % 1000));
}

static void test_time(void)
{
    static const struct {
        int64_t ms;
        const char *out;
    } cases[] = {
        {0, "\"1970-01-01T00:00:00.000Z\""},
        {1, "\"1970-01-01T00:00:00.001Z\""},
        {999, "\"1970-01-01T00:00:00.999Z\""},
        /* date -u -d @1795838619.123 */
        {1795838619123, "\"2026-11-28T04:03:39.123Z\""},
        {951782400000, "\"2000-02-29T00:00:00.000Z\""},
        {1709251199999, "\"2024-02-29T23:59:59.999Z\""},
        {4102444800000, "\"2100-01-01T00:00:00.000Z\""},
        {253402300799999, "\"9999-12-31T23:59:59.999Z\""},
        {-1, "\"1969-12-31T23:59:59.999Z\""},
        {-1000, "\"1969-12-31T23:59:59.000Z\""},
        {-1500, "\"1969-12-31T23:59:58.500Z\""},
        {-86400000, "\"1969-12-31T00:00:00.000Z\""},
        {-2208988800000, "\"1900-01-01T00:00:00.000Z\""},
        {-62135596800000, "\"0001-01-01T00:00:00.000Z\""},
        /* The edges of json_time_ms's own calendar; past them it asks gmtime_r. */
        {-62162035200000, "\"0000-03-01T00:00:00.000Z\""},
        {-62162035200001, "\"0000-02-29T23:59:59.999Z\""},
        {253402300800000, "\"10000-01-01T00:00:00.000Z\""},
        {4107542400000, "\"2100-03-01T00:00:00.000Z\""},
        {4107542399999, "\"2100-02-28T23:59:59.999Z\""},
        {946684799999, "\"1999-12-31T23:59:59.999Z\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = time_text(cases[i].ms);
        CHECK(t && strcmp(t, cases[i].out) == 0, "json_time_ms(%" PRId64 ") is %s (got %s)",
              cases[i].ms, cases[i].out, show(t));
        free(t);
    }

    /* The reference formatter agrees with the fixed cases above... */
    char ref[64];
    reference_time(1795838619123, ref, sizeof(ref));
    CHECK(strcmp(ref, "\"2026-11-28T04:03:39.123Z\"") == 0,
          "the test's reference calendar gives 2026-11-28T04:03:39.123Z for 1795838619123");

    /* ...and then judges a sweep across years 1..9999. */
    const int64_t lo = -62135596800000, hi = 253402300799999;
    unsigned bad = 0;
    char first_bad[128] = "";
    for (unsigned n = 0; n < 20000; n++) {
        int64_t ms = lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
        char *t = time_text(ms);
        reference_time(ms, ref, sizeof(ref));
        if (!t || strcmp(t, ref) != 0) {
            if (!bad++)
                snprintf(first_bad, sizeof(first_bad), "%" PRId64 " -> %s, want %s", ms, show(t),
                         ref);
        }
        free(t);
    }
    CHECK(bad == 0,
          "json_time_ms matches a reference calendar for 20000 instants in years "
          "1..9999 (%u differ; first: %s)",
          bad, first_bad);
}

static void test_bounds(void)
{
    struct json j;
    size_t len = 999;
    char *t;

    /* max counts the terminating NUL: 7 characters fit in 8 bytes. */
    json_init(&j, 8);
    json_raw(&j, "1234567");
    bool failed = json_failed(&j);
    t = json_detach(&j, &len);
    CHECK(!failed && t && strcmp(t, "1234567") == 0 && len == 7,
          "json with max 8 holds 7 characters and detaches them with len 7");
    free(t);

    json_init(&j, 8);
    json_raw(&j, "12345678");
    failed = json_failed(&j);
    len = 999;
    t = json_detach(&j, &len);
    CHECK(failed && !t && len == 999,
          "json with max 8 fails on 8 characters; json_detach returns NULL, len untouched");
    free(t);

    /* The failure sticks: a later small append does not revive it. */
    json_init(&j, 8);
    json_raw(&j, "1234");
    json_raw(&j, "56789");
    json_raw(&j, "x");
    failed = json_failed(&j);
    t = json_detach(&j, NULL);
    CHECK(failed && !t, "json failure sticks: appending after an overflow keeps json_failed true");
    free(t);

    json_init(&j, 5);
    json_str(&j, "abc");
    failed = json_failed(&j);
    t = json_detach(&j, NULL);
    CHECK(failed && !t, "json_str counts its quotes against max (\"abc\" needs 6 bytes, max 5)");
    free(t);

    json_init(&j, 6);
    json_str(&j, "abc");
    failed = json_failed(&j);
    t = json_detach(&j, NULL);
    CHECK(!failed && t && strcmp(t, "\"abc\"") == 0, "json_str \"abc\" fits max 6 exactly");
    free(t);

    json_init(&j, 16);
    json_str(&j, "\x01\x02\x03");
    failed = json_failed(&j);
    json_release(&j);
    CHECK(failed, "json counts escapes against max (3 control bytes need 20 bytes, max 16)");

    /* Growth past the first allocation keeps every byte. */
    char big[10001];
    for (size_t i = 0; i < 10000; i++)
        big[i] = (char)('a' + i % 26);
    big[10000] = '\0';
    json_init(&j, 1 << 20);
    json_raw(&j, "[");
    json_raw(&j, big);
    json_raw(&j, "]");
    failed = json_failed(&j);
    len = 0;
    t = json_detach(&j, &len);
    CHECK(!failed && t && len == 10002 && t[0] == '[' && memcmp(t + 1, big, 10000) == 0 &&
              strcmp(t + 10001, "]") == 0,
          "json grows past its first allocation and keeps all 10002 bytes in order");
    free(t);

    json_init(&j, 10000);
    json_raw(&j, big);
    failed = json_failed(&j);
    json_release(&j);
    CHECK(failed, "json refuses 10000 characters with max 10000 (no room for the NUL)");
}

static void test_detach(void)
{
    struct json j;
    size_t len = 0;

    json_init(&j, 1024);
    json_raw(&j, "{\"a\":");
    json_int(&j, 1);
    json_raw(&j, ",\"b\":");
    json_str(&j, "x");
    json_raw(&j, "}");
    char *t = json_detach(&j, &len);
    CHECK(t && strcmp(t, "{\"a\":1,\"b\":\"x\"}") == 0 && len == strlen(t),
          "json_detach hands over the whole NUL-terminated text and its length");

    /* The caller owns it now: j starts again from nothing. */
    json_raw(&j, "y");
    char *u = json_detach(&j, &len);
    CHECK(u && strcmp(u, "y") == 0 && len == 1 && t && strcmp(t, "{\"a\":1,\"b\":\"x\"}") == 0,
          "after json_detach, j is reset and the detached text is unchanged by new appends");
    free(t);
    free(u);

    json_init(&j, 1024);
    json_raw(&j, "abc");
    json_release(&j);
    json_init(&j, 1024);
    json_raw(&j, "z");
    t = json_detach(&j, NULL);
    CHECK(t && strcmp(t, "z") == 0, "a json released and initialised again starts empty");
    free(t);
}

int main(void)
{
    test_str();
    test_double();
    test_double_same_as_printf();
    test_int();
    test_time();
    test_bounds();
    test_detach();
    return CHECK_DONE();
}
