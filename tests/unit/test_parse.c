/*
 * test_parse.c - unit tests for daemon/parse.c: every parser against inputs it
 * must accept (with the exact values it must produce) and inputs it must refuse
 * (with out-parameters left untouched).
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ckpt_limits.h"
#include "parse.h"

/* Expected result "refused with some negative errno": the header names no
 * particular code for these. */
#define REFUSED 1

static const int64_t I64_SENTINEL = 0x5a5a5a5a;
static const double DBL_SENTINEL = 12345.678;

/* Printable form of s[0..len) for check messages: the harness reads one check
 * per line, so control bytes and quotes are escaped. Rotating buffers let one
 * message show several strings. */
static const char *shown(const char *s, size_t len)
{
    static char bufs[8][600];
    static unsigned next;
    char *b = bufs[next++ % 8];
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < sizeof(bufs[0]); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            b[o++] = '\\';
            b[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\x%02x", c);
        } else {
            b[o++] = (char)c;
        }
    }
    b[o] = '\0';
    return b;
}

static const char *show(const char *s)
{
    return s ? shown(s, strlen(s)) : "(null)";
}

static const char *ename(int r)
{
    switch (r) {
    case 0: return "0";
    case REFUSED: return "an error";
    case -EINVAL: return "-EINVAL";
    case -ERANGE: return "-ERANGE";
    case -ENOENT: return "-ENOENT";
    case -E2BIG: return "-E2BIG";
    default: return "an unexpected code";
    }
}

/* True if the actual return r is what the table asked for. */
static int result_is(int r, int want)
{
    return want == REFUSED ? r < 0 : r == want;
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void test_is_name(void)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"a", true},      {"run-1", true},     {"A.b_c-9", true},    {"0abc", true},
        {"Demo", true},   {"", false},         {".a", false},        {"-a", false},
        {"_a", false},    {"..", false},       {".", false},         {"a/b", false},
        {"a b", false},   {"\xc3\xa4", false}, {"a\xc3\xa4", false}, {"a:b", false},
        {"a%2fb", false}, {"a\tb", false},
    };
    char name[130];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = parse_is_name(cases[i].s, strlen(cases[i].s));
        CHECK(got == cases[i].ok, "parse_is_name(\"%s\") is %s", show(cases[i].s),
              cases[i].ok ? "true" : "false");
    }

    memset(name, 'a', sizeof(name));
    /* proto/API.md promises 1 to 128 characters. */
    bool got = parse_is_name(name, 128);
    CHECK(got, "parse_is_name accepts a name of 128 characters");
    got = parse_is_name(name, 129);
    CHECK(!got, "parse_is_name refuses a name of 129 characters");

    got = parse_is_name("a\0b", 3);
    CHECK(!got, "parse_is_name refuses an embedded NUL within len");
    got = parse_is_name("ab/", 2);
    CHECK(got, "parse_is_name looks only at s[0..len): \"ab/\" with len 2 is valid");
}

static void test_u63_id(void)
{
    static const struct {
        const char *s;
        int r;
        int64_t v;
    } u63[] = {
        {"0", 0, 0},
        {"7", 0, 7},
        {"007", 0, 7},
        {"1234567890", 0, 1234567890},
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", -ERANGE, 0},
        {"9223372036854775810", -ERANGE, 0},
        {"18446744073709551616", -ERANGE, 0},
        {"99999999999999999999999", -ERANGE, 0},
        {"-1", -EINVAL, 0},
        {"+1", -EINVAL, 0},
        {" 1", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
        {"1.0", -EINVAL, 0},
        {"1e3", -EINVAL, 0},
        {"12a", -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof(u63) / sizeof(u63[0]); i++) {
        int64_t out = I64_SENTINEL;
        int r = parse_u63(u63[i].s, &out);
        if (u63[i].r == 0)
            CHECK(r == 0 && out == u63[i].v, "parse_u63(\"%s\") gives %" PRId64, show(u63[i].s),
                  u63[i].v);
        else
            CHECK(r == u63[i].r && out == I64_SENTINEL,
                  "parse_u63(\"%s\") refuses with %s, out untouched", show(u63[i].s),
                  ename(u63[i].r));
    }

    static const struct {
        const char *s;
        int r;
        int64_t v;
    } id[] = {
        {"1", 0, 1},        {"42", 0, 42},      {"9223372036854775807", 0, INT64_MAX},
        {"0", REFUSED, 0},  {"00", REFUSED, 0}, {"9223372036854775808", -ERANGE, 0},
        {"-1", -EINVAL, 0}, {"+1", -EINVAL, 0}, {"", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof(id) / sizeof(id[0]); i++) {
        int64_t out = I64_SENTINEL;
        int r = parse_id(id[i].s, &out);
        if (id[i].r == 0)
            CHECK(r == 0 && out == id[i].v, "parse_id(\"%s\") gives %" PRId64, show(id[i].s),
                  id[i].v);
        else
            CHECK(result_is(r, id[i].r) && out == I64_SENTINEL,
                  "parse_id(\"%s\") refuses with %s, out untouched", show(id[i].s), ename(id[i].r));
    }
}

static void test_finite(void)
{
    static const struct {
        const char *s;
        int r;
        double v;
    } cases[] = {
        {"0.31", 0, 0.31},        {"-2", 0, -2.0},
        {"1e-5", 0, 1e-5},        {"1e+5", 0, 1e5},
        {"1E3", 0, 1000.0},       {".5", 0, 0.5},
        {"5.", 0, 5.0},           {"0", 0, 0.0},
        {"-0.25", 0, -0.25},      {"1e-400", 0, 0.0},
        {"1e-310", 0, 1e-310},    {"1.7976931348623157e308", 0, DBL_MAX},
        {"nan", REFUSED, 0},      {"NaN", REFUSED, 0},
        {"inf", REFUSED, 0},      {"-inf", REFUSED, 0},
        {"infinity", REFUSED, 0}, {"1e400", REFUSED, 0},
        {"-1e400", REFUSED, 0},   {"1.8e308", REFUSED, 0},
        {"0x1p3", REFUSED, 0},    {"0x10", REFUSED, 0},
        {"", REFUSED, 0},         {".", REFUSED, 0},
        {"-", REFUSED, 0},        {"1e", REFUSED, 0},
        {"1e+", REFUSED, 0},      {"e5", REFUSED, 0},
        {"--1", REFUSED, 0},      {" 1", REFUSED, 0},
        {"1 ", REFUSED, 0},       {"1.2.3", REFUSED, 0},
        {"1,5", REFUSED, 0},      {"1e5x", REFUSED, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double out = DBL_SENTINEL;
        int r = parse_finite(cases[i].s, &out);
        if (cases[i].r == 0)
            CHECK(r == 0 && out == cases[i].v, "parse_finite(\"%s\") gives %.17g", show(cases[i].s),
                  cases[i].v);
        else
            CHECK(r < 0 && bits_of(out) == bits_of(DBL_SENTINEL),
                  "parse_finite(\"%s\") refuses, out untouched", show(cases[i].s));
    }
}

/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
static const uint8_t ABC_SHA256[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const char ABC_HEX[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char ABC_HEX_UPPER[] =
    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void test_sha256_hex(void)
{
    uint8_t out[32];
    char bad[65];
    int r;

    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(ABC_HEX, 64, out);
    CHECK(r == 0 && memcmp(out, ABC_SHA256, 32) == 0,
          "parse_sha256_hex decodes lowercase hex to the exact 32 bytes");

    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(ABC_HEX_UPPER, 64, out);
    CHECK(r == 0 && memcmp(out, ABC_SHA256, 32) == 0,
          "parse_sha256_hex decodes uppercase hex to the same bytes");

    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(ABC_HEX, 63, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa),
          "parse_sha256_hex refuses 63 characters, out untouched");

    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(ABC_HEX, 0, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa),
          "parse_sha256_hex refuses 0 characters, out untouched");

    char longer[66];
    memcpy(longer, ABC_HEX, 64);
    longer[64] = 'a';
    longer[65] = '\0';
    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(longer, 65, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa),
          "parse_sha256_hex refuses 65 characters, out untouched");

    /* A bad character in the very last place: nothing decoded before it may
     * have been written. */
    memcpy(bad, ABC_HEX, sizeof(bad));
    bad[63] = 'g';
    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(bad, 64, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa),
          "parse_sha256_hex refuses a non-hex last character, out untouched");

    memcpy(bad, ABC_HEX, sizeof(bad));
    bad[0] = ' ';
    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(bad, 64, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa), "parse_sha256_hex refuses a leading space");

    memcpy(bad, ABC_HEX, sizeof(bad));
    bad[10] = '\0';
    memset(out, 0xaa, sizeof(out));
    r = parse_sha256_hex(bad, 64, out);
    CHECK(r < 0 && all_bytes(out, 32, 0xaa), "parse_sha256_hex refuses an embedded NUL");
}

/* RFC 9530 appendix examples: the digests of {"hello": "world"}. */
#define HELLO_SHA256 "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
#define HELLO_SHA512                                                                               \
    "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="

static void test_digest_field(void)
{
    static const char *const good[] = {
        "sha-256=:" HELLO_SHA256 ":",
        "sha-512=:" HELLO_SHA512 ":, sha-256=:" HELLO_SHA256 ":",
        "sha-512=:" HELLO_SHA512 ":,sha-256=:" HELLO_SHA256 ":",
        "sha-256=:" HELLO_SHA256 ":, sha-512=:" HELLO_SHA512 ":",
        "sha-256=:" HELLO_SHA256 ":;foo=1",
        "sha-512=:" HELLO_SHA512 ":;foo=1, sha-256=:" HELLO_SHA256 ":;bar=2;baz",
        "  sha-256=:" HELLO_SHA256 ":",
        "unixsum=:MTIz:, sha-256=:" HELLO_SHA256 ":",
    };
    static const struct {
        const char *s;
        int r;
    } bad[] = {
        {"sha-512=:" HELLO_SHA512 ":", -ENOENT},
        {"md5=:rL0Y20zC+Fzt72VPzMSk2A==:, sha-512=:" HELLO_SHA512 ":", -ENOENT},
        {"sha-512=:" HELLO_SHA512 ":;x=1", -ENOENT},
        {"", -EINVAL},
        {"   ", -EINVAL},
        {"sha-256", -EINVAL},
        {"sha-256=", -EINVAL},
        {"sha-256=" HELLO_SHA256, -EINVAL},
        {"sha-256=:" HELLO_SHA256, -EINVAL},
        {"sha-256=\"" HELLO_SHA256 "\"", -EINVAL},
        {"sha-256=:X48E9qOokq qrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", -EINVAL},
        {"sha-256=:X48E9qOokq*qrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", -EINVAL},
        {"SHA-256=:" HELLO_SHA256 ":", -EINVAL},
        {"sha-512=:" HELLO_SHA512 ": sha-256=:" HELLO_SHA256 ":", -EINVAL},
        {"sha-512=:" HELLO_SHA512 ":, ", -EINVAL},
        {"sha-512=:" HELLO_SHA512 ":,, sha-256=:" HELLO_SHA256 ":", -EINVAL},
        {"=:" HELLO_SHA256 ":", -EINVAL},
        /* RFC 8941 section 4.2: a member followed by anything but OWS, ',' or
         * parameters makes the whole field fail to parse. */
        {"sha-256=:" HELLO_SHA256 ":junk", -EINVAL},
        {"sha-256=:" HELLO_SHA256 ":, ???", -EINVAL},
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *b64 = NULL;
        size_t len = 0;
        int r = parse_digest_field(good[i], &b64, &len);
        const char *want = strstr(good[i], HELLO_SHA256);
        CHECK(r == 0 && b64 == want && len == strlen(HELLO_SHA256),
              "parse_digest_field(\"%s\") points at the sha-256 base64 (44 chars)", show(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *b64 = "sentinel";
        size_t len = 777;
        int r = parse_digest_field(bad[i].s, &b64, &len);
        CHECK(r == bad[i].r && strcmp(b64, "sentinel") == 0 && len == 777,
              "parse_digest_field(\"%s\") answers %s, out-params untouched", show(bad[i].s),
              ename(bad[i].r));
    }
}

static void test_percent_decode(void)
{
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"abc", "abc"}, {"", ""},           {"%41", "A"},           {"a%41b", "aAb"},
        {"%2f", "/"},   {"%2F", "/"},       {"%25", "%"},           {"%7e%7E", "~~"},
        {"+", "+"},     {"a+b%2B", "a+b+"}, {"%c3%a4", "\xc3\xa4"}, {"%20", " "},
        {"%00", NULL},  {"%0a", NULL},      {"%0A", NULL},          {"%1f", NULL},
        {"%7f", NULL},  {"%7F", NULL},      {"%4", NULL},           {"%", NULL},
        {"a%", NULL},   {"%zz", NULL},      {"%g1", NULL},          {"%1g", NULL},
        {"%%41", NULL}, {"\x01", NULL},     {"a\nb", NULL},         {"\x7f", NULL},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in), out_len = 999;
        memset(out, '#', sizeof(out));
        int r = parse_percent_decode(cases[i].in, len, out, &out_len);
        if (cases[i].out) {
            size_t want = strlen(cases[i].out);
            CHECK(r == 0 && out_len == want && memcmp(out, cases[i].out, want + 1) == 0,
                  "parse_percent_decode(\"%s\") gives \"%s\", length %zu, NUL-terminated",
                  show(cases[i].in), show(cases[i].out), want);
            /* The caller's buffer is len + 1 bytes in server.c; nothing past
             * the terminating NUL may be touched. */
            CHECK(r == 0 && out[want + 1] == '#',
                  "parse_percent_decode(\"%s\") writes nothing past the NUL", show(cases[i].in));
        } else {
            CHECK(r < 0 && out_len == 999,
                  "parse_percent_decode(\"%s\") refuses, out_len untouched", show(cases[i].in));
        }
    }

    /* len is the bound, not the NUL. */
    size_t out_len = 999;
    int r = parse_percent_decode("%41%42", 3, out, &out_len);
    CHECK(r == 0 && out_len == 1 && strcmp(out, "A") == 0,
          "parse_percent_decode stops at len (\"%%41%%42\", 3 -> \"A\")");
    out_len = 999;
    r = parse_percent_decode("%41", 2, out, &out_len);
    CHECK(r < 0 && out_len == 999,
          "parse_percent_decode refuses an escape cut by len (\"%%41\", 2), not reading past it");
}

static void test_query(void)
{
    struct query_param p[8];
    char buf[128];
    size_t n;
    int r;

    n = 99;
    r = parse_query("a=1&b=%41", buf, p, 8, &n);
    CHECK(r == 0 && n == 2 && strcmp(p[0].key, "a") == 0 && strcmp(p[0].value, "1") == 0 &&
              strcmp(p[1].key, "b") == 0 && strcmp(p[1].value, "A") == 0,
          "parse_query(\"a=1&b=%%41\") gives a=1, b=A");

    n = 99;
    r = parse_query("flag", buf, p, 8, &n);
    CHECK(r == 0 && n == 1 && strcmp(p[0].key, "flag") == 0 && strcmp(p[0].value, "") == 0,
          "parse_query(\"flag\") gives key flag with value \"\"");

    n = 99;
    r = parse_query("a=", buf, p, 8, &n);
    CHECK(r == 0 && n == 1 && strcmp(p[0].key, "a") == 0 && strcmp(p[0].value, "") == 0,
          "parse_query(\"a=\") gives key a with value \"\"");

    n = 99;
    r = parse_query("a=b=c", buf, p, 8, &n);
    CHECK(r == 0 && n == 1 && strcmp(p[0].key, "a") == 0 && strcmp(p[0].value, "b=c") == 0,
          "parse_query(\"a=b=c\") splits at the first '='");

    n = 99;
    r = parse_query("&a=1&&b=2&", buf, p, 8, &n);
    CHECK(r == 0 && n == 2 && strcmp(p[0].key, "a") == 0 && strcmp(p[0].value, "1") == 0 &&
              strcmp(p[1].key, "b") == 0 && strcmp(p[1].value, "2") == 0,
          "parse_query(\"&a=1&&b=2&\") skips empty pieces");

    n = 99;
    r = parse_query("", buf, p, 8, &n);
    CHECK(r == 0 && n == 0, "parse_query(\"\") gives no pairs");
    n = 99;
    r = parse_query("&&&", buf, p, 8, &n);
    CHECK(r == 0 && n == 0, "parse_query(\"&&&\") gives no pairs");

    n = 99;
    r = parse_query("k%65y=v%20w&a+b=c+d&m%2Eloss=1e-3", buf, p, 8, &n);
    CHECK(r == 0 && n == 3 && strcmp(p[0].key, "key") == 0 && strcmp(p[0].value, "v w") == 0 &&
              strcmp(p[1].key, "a+b") == 0 && strcmp(p[1].value, "c+d") == 0 &&
              strcmp(p[2].key, "m.loss") == 0 && strcmp(p[2].value, "1e-3") == 0,
          "parse_query decodes escapes in keys and values and keeps '+' literal");

    n = 99;
    r = parse_query("x=%26%3D", buf, p, 8, &n);
    CHECK(r == 0 && n == 1 && strcmp(p[0].value, "&=") == 0,
          "parse_query splits before decoding: x=%%26%%3D has value \"&=\"");

    static const char *const einval[] = {"=1",   "a=1&=2", "a=%zz", "a=%00", "%0a=1",
                                         "a=%4", "=",      "a=1&=", "%41%=1"};
    for (size_t i = 0; i < sizeof(einval) / sizeof(einval[0]); i++) {
        n = 99;
        r = parse_query(einval[i], buf, p, 8, &n);
        CHECK(r == -EINVAL && n == 99, "parse_query(\"%s\") refuses with -EINVAL, n untouched",
              show(einval[i]));
    }

    n = 99;
    r = parse_query("a=1&b=2", buf, p, 2, &n);
    CHECK(r == 0 && n == 2, "parse_query takes exactly max (2) pairs");
    n = 99;
    r = parse_query("a=1&b=2&c=3", buf, p, 2, &n);
    CHECK(r == -E2BIG && n == 99, "parse_query refuses max + 1 pairs with -E2BIG, n untouched");
    n = 99;
    r = parse_query("a=1&&b=2&&&", buf, p, 2, &n);
    CHECK(r == 0 && n == 2, "parse_query does not count skipped empty pieces against max");
}

static void test_path(void)
{
    const char *segs[PATH_SEGMENTS_MAX];
    char buf[256];
    size_t n;
    int r;

#define PATH(s, max) parse_path((s), strlen(s), buf, segs, (max), &n)

    n = 99;
    r = PATH("/v1/runs/x/checkpoints", PATH_SEGMENTS_MAX);
    CHECK(r == 0 && n == 4 && strcmp(segs[0], "v1") == 0 && strcmp(segs[1], "runs") == 0 &&
              strcmp(segs[2], "x") == 0 && strcmp(segs[3], "checkpoints") == 0,
          "parse_path(\"/v1/runs/x/checkpoints\") gives 4 segments");

    n = 99;
    r = PATH("/v1/runs/", PATH_SEGMENTS_MAX);
    CHECK(r == 0 && n == 2 && strcmp(segs[0], "v1") == 0 && strcmp(segs[1], "runs") == 0,
          "parse_path ignores a trailing slash (\"/v1/runs/\" -> 2 segments)");

    n = 99;
    r = PATH("/", PATH_SEGMENTS_MAX);
    CHECK(r == 0 && n == 0, "parse_path(\"/\") gives no segments");

    n = 99;
    r = PATH("/v1/runs/x%2Ey%41/checkpoints", PATH_SEGMENTS_MAX);
    CHECK(r == 0 && n == 4 && strcmp(segs[2], "x.yA") == 0,
          "parse_path decodes escapes in a segment (x%%2Ey%%41 -> x.yA)");

    n = 99;
    r = PATH("/v1//runs", PATH_SEGMENTS_MAX);
    CHECK(r == 0 && n == 3 && strcmp(segs[0], "v1") == 0 && strcmp(segs[1], "") == 0 &&
              strcmp(segs[2], "runs") == 0,
          "parse_path keeps an empty middle segment (\"/v1//runs\" -> v1, \"\", runs)");

    const char *full = "/v1/runs?x=1";
    n = 99;
    r = parse_path(full, (size_t)(strchr(full, '?') - full), buf, segs, PATH_SEGMENTS_MAX, &n);
    CHECK(r == 0 && n == 2 && strcmp(segs[1], "runs") == 0,
          "parse_path stops at len (the query is not part of the path)");

    static const struct {
        const char *s;
        int r;
    } bad[] = {
        {"/v1/runs/a%2fb", -EINVAL}, {"/v1/runs/a%2Fb", -EINVAL},
        {"/v1/runs/a%00", -EINVAL},  {"/v1/runs/a%0d", -EINVAL},
        {"/v1/runs/%zz", -EINVAL},   {"/v1/runs/a%2", -EINVAL},
        {"v1/runs", -EINVAL},        {"", -EINVAL},
        {"runs/", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 99;
        r = PATH(bad[i].s, PATH_SEGMENTS_MAX);
        CHECK(r == bad[i].r && n == 99, "parse_path(\"%s\") refuses with %s, n untouched",
              show(bad[i].s), ename(bad[i].r));
    }

    n = 99;
    r = PATH("/1/2/3/4/5/6/7/8", 8);
    CHECK(r == 0 && n == 8 && strcmp(segs[7], "8") == 0,
          "parse_path takes exactly max (8) segments");
    n = 99;
    r = PATH("/1/2/3/4/5/6/7/8/", 8);
    CHECK(r == 0 && n == 8, "parse_path takes max segments plus a trailing slash");
    n = 99;
    r = PATH("/1/2/3/4/5/6/7/8/9", 8);
    CHECK(r == -E2BIG && n == 99, "parse_path refuses max + 1 segments with -E2BIG, n untouched");
    n = 99;
    r = PATH("/a/b/c", 2);
    CHECK(r == -E2BIG && n == 99, "parse_path honours a small max (3 segments, max 2)");
#undef PATH
}

static void test_range(void)
{
    static const struct {
        const char *v;
        uint64_t size;
        enum range_result res;
        uint64_t first, last;
    } cases[] = {
        {"bytes=0-499", 1000, RANGE_OK, 0, 499},
        {"bytes=500-999", 1000, RANGE_OK, 500, 999},
        {"bytes=500-", 1000, RANGE_OK, 500, 999},
        {"bytes=-200", 1000, RANGE_OK, 800, 999},
        {"bytes=0-0", 1000, RANGE_OK, 0, 0},
        {"bytes=999-", 1000, RANGE_OK, 999, 999},
        {"bytes=-1", 1000, RANGE_OK, 999, 999},
        {"bytes=-1000", 1000, RANGE_OK, 0, 999},
        {"bytes=-5000", 1000, RANGE_OK, 0, 999},
        {"bytes=0-99999", 1000, RANGE_OK, 0, 999},
        {"bytes=0-18446744073709551615", 1000, RANGE_OK, 0, 999},
        {"bytes=-1", 1, RANGE_OK, 0, 0},
        {"bytes=-0", 1000, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=1000-", 1000, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=1000-1000", 1000, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=5000-6000", 1000, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-0", 0, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-1", 0, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=5-2", 1000, RANGE_NONE, 0, 0},
        {"items=0-1", 1000, RANGE_NONE, 0, 0},
        {"bytes=0-1,5-6", 1000, RANGE_NONE, 0, 0},
        {"bytes=0-1, 5-6", 1000, RANGE_NONE, 0, 0},
        {"bytes=-1,0-0", 1000, RANGE_NONE, 0, 0},
        {"bytes=abc", 1000, RANGE_NONE, 0, 0},
        {"bytes=", 1000, RANGE_NONE, 0, 0},
        {"bytes=-", 1000, RANGE_NONE, 0, 0},
        {"bytes=--1", 1000, RANGE_NONE, 0, 0},
        {"bytes=1-2-3", 1000, RANGE_NONE, 0, 0},
        {"bytes=+1-2", 1000, RANGE_NONE, 0, 0},
        {"bytes=0x1-2", 1000, RANGE_NONE, 0, 0},
        {"bytes=1 - 2", 1000, RANGE_NONE, 0, 0},
        {"bytes 0-1", 1000, RANGE_NONE, 0, 0},
        {"", 1000, RANGE_NONE, 0, 0},
        {"garbage", 1000, RANGE_NONE, 0, 0},
    };
    static const char *const res_name[] = {"RANGE_NONE", "RANGE_OK", "RANGE_UNSATISFIABLE"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t first = 4242, last = 4343;
        enum range_result res = parse_range(cases[i].v, cases[i].size, &first, &last);
        if (cases[i].res == RANGE_OK)
            CHECK(res == RANGE_OK && first == cases[i].first && last == cases[i].last,
                  "parse_range(\"%s\", size %" PRIu64 ") is bytes %" PRIu64 "-%" PRIu64,
                  show(cases[i].v), cases[i].size, cases[i].first, cases[i].last);
        else
            CHECK(res == cases[i].res && first == 4242 && last == 4343,
                  "parse_range(\"%s\", size %" PRIu64 ") is %s, out-params untouched",
                  show(cases[i].v), cases[i].size, res_name[cases[i].res]);
    }

    uint64_t first = 4242, last = 4343;
    enum range_result res = parse_range(NULL, 1000, &first, &last);
    CHECK(res == RANGE_NONE && first == 4242 && last == 4343, "parse_range(NULL) is RANGE_NONE");
}

static void test_etag(void)
{
    static const struct {
        const char *list;
        bool weak, match;
    } cases[] = {
        {"*", true, true},
        {"*", false, true},
        {"\"abc\"", false, true},
        {"\"abc\"", true, true},
        {"\"abd\"", false, false},
        {"\"ab\"", false, false},
        {"\"abcd\"", false, false},
        {"\"ABC\"", false, false},
        {"\"x\", \"abc\"", false, true},
        {"\"x\",\"abc\"", false, true},
        {"\"x\" ,\t\"abc\"", false, true},
        {"\"x\", \"y\"", false, false},
        {"W/\"abc\"", true, true},
        {"W/\"abc\"", false, false},
        {"W/\"x\", \"abc\"", false, true},
        {"\"x\", W/\"abc\"", true, true},
        {"\"x\", W/\"abc\"", false, false},
        {"w/\"abc\"", true, false},
        {"abc", true, false},
        {"abc", false, false},
        {"\"abc", true, false},
        {"\"x\", abc", true, false},
        {"\"x\" \"abc\"", true, false},
        {"", true, false},
        {"\"\"", true, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = parse_etag_match(cases[i].list, "abc", cases[i].weak);
        CHECK(got == cases[i].match, "parse_etag_match(%s, \"abc\", %s) is %s", show(cases[i].list),
              cases[i].weak ? "weak" : "strong", cases[i].match ? "true" : "false");
    }
    bool got = parse_etag_match(NULL, "abc", true);
    CHECK(!got, "parse_etag_match(NULL, ...) is false");
}

static void test_size(void)
{
    static const struct {
        const char *s;
        int r;
        uint64_t v;
    } cases[] = {
        {"0", 0, 0},
        {"10", 0, 10},
        {"10K", 0, 10240},
        {"10k", 0, 10240},
        {"1M", 0, 1ULL << 20},
        {"3m", 0, 3ULL << 20},
        {"1G", 0, 1ULL << 30},
        {"100G", 0, 100ULL << 30},
        {"1T", 0, 1ULL << 40},
        {"18446744073709551615", 0, UINT64_MAX},
        {"16777215T", 0, 16777215ULL << 40},
        {"18446744073709551616", REFUSED, 0},
        {"99999999999999999999999", REFUSED, 0},
        {"16777216T", REFUSED, 0},
        {"17179869184G", REFUSED, 0},
        {"10X", REFUSED, 0},
        {"", REFUSED, 0},
        {"K", REFUSED, 0},
        {"10KB", REFUSED, 0},
        {"10KK", REFUSED, 0},
        {"-1", REFUSED, 0},
        {"+1", REFUSED, 0},
        {" 10", REFUSED, 0},
        {"10 ", REFUSED, 0},
        {"1.5G", REFUSED, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t out = 4242;
        int r = parse_size(cases[i].s, &out);
        if (cases[i].r == 0)
            CHECK(r == 0 && out == cases[i].v, "parse_size(\"%s\") gives %" PRIu64,
                  show(cases[i].s), cases[i].v);
        else
            CHECK(r < 0 && out == 4242, "parse_size(\"%s\") refuses, out untouched",
                  show(cases[i].s));
    }
}

static void test_listen(void)
{
    static const struct {
        const char *s;
        const char *host; /* NULL: refused */
        uint16_t port;
    } cases[] = {
        {"127.0.0.1:8420", "127.0.0.1", 8420},
        {"[::1]:0", "::1", 0},
        {"localhost:80", "localhost", 80},
        {"0.0.0.0:65535", "0.0.0.0", 65535},
        {"[2001:db8::1]:443", "2001:db8::1", 443},
        {"127.0.0.1", NULL, 0},
        {"127.0.0.1:", NULL, 0},
        {":80", NULL, 0},
        {"[::1]", NULL, 0},
        {"[::1]80", NULL, 0},
        {"[::1:80", NULL, 0},
        {"[]:80", NULL, 0},
        {"localhost:65536", NULL, 0},
        {"localhost:99999999999999999999", NULL, 0},
        {"localhost:-1", NULL, 0},
        {"localhost:+80", NULL, 0},
        {"localhost: 80", NULL, 0},
        {"localhost:80x", NULL, 0},
        {"::1:80", NULL, 0},
        {"", NULL, 0},
    };
    char host[64];
    uint16_t port;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strcpy(host, "untouched");
        port = 4242;
        int r = parse_listen(cases[i].s, host, sizeof(host), &port);
        if (cases[i].host)
            CHECK(r == 0 && strcmp(host, cases[i].host) == 0 && port == cases[i].port,
                  "parse_listen(\"%s\") gives host \"%s\", port %u", show(cases[i].s),
                  cases[i].host, (unsigned)cases[i].port);
        else
            CHECK(r < 0 && strcmp(host, "untouched") == 0 && port == 4242,
                  "parse_listen(\"%s\") refuses, out-params untouched", show(cases[i].s));
    }

    /* host_size counts the NUL: "localhost" needs 10 bytes. */
    char small[10];
    memset(small, '#', sizeof(small));
    port = 4242;
    int r = parse_listen("localhost:80", small, 10, &port);
    CHECK(r == 0 && strcmp(small, "localhost") == 0 && port == 80,
          "parse_listen fits \"localhost\" into exactly 10 bytes");
    memset(small, '#', sizeof(small));
    port = 4242;
    r = parse_listen("localhost:80", small, 9, &port);
    CHECK(r < 0 && small[0] == '#' && small[8] == '#' && port == 4242,
          "parse_listen refuses a host that does not fit 9 bytes with its NUL");
}

static bool url_safe(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_' || *s == '~'))
            return false;
    return true;
}

static void test_cursor(void)
{
    static const struct cursor trips[] = {
        {5, CURSOR_NONE, 0, 0.0},
        {INT64_MAX, CURSOR_NONE, 0, 0.0},
        {7, CURSOR_NULL, 0, 0.0},
        {9, CURSOR_INT, 0, 0.0},
        {9, CURSOR_INT, 42, 0.0},
        {9, CURSOR_INT, -3, 0.0},
        {1, CURSOR_INT, INT64_MAX, 0.0},
        {1, CURSOR_INT, INT64_MIN + 1, 0.0},
        {INT64_MAX, CURSOR_INT, INT64_MIN, 0.0},
        {3, CURSOR_REAL, 0, 0.1},
        {3, CURSOR_REAL, 0, 0.31},
        {3, CURSOR_REAL, 0, -0.0},
        {3, CURSOR_REAL, 0, 0.0},
        {3, CURSOR_REAL, 0, 1e300},
        {3, CURSOR_REAL, 0, -1e-300},
        {3, CURSOR_REAL, 0, 5e-324},
        {INT64_MAX, CURSOR_REAL, 0, -DBL_MAX},
    };
    static const char *const kind_name[] = {"none", "null", "int", "real"};

    for (size_t i = 0; i < sizeof(trips) / sizeof(trips[0]); i++) {
        const struct cursor *c = &trips[i];
        char text[CURSOR_MAX + 8];
        struct cursor back;
        memset(text, '#', sizeof(text));
        memset(&back, 0x5a, sizeof(back));
        cursor_format(c, text, CURSOR_MAX);
        size_t len = strnlen(text, CURSOR_MAX);
        int r = cursor_parse(text, &back);
        bool same = r == 0 && back.id == c->id && back.kind == c->kind;
        if (same && c->kind == CURSOR_INT)
            same = back.i == c->i;
        if (same && c->kind == CURSOR_REAL)
            same = bits_of(back.r) == bits_of(c->r);
        CHECK(len < CURSOR_MAX && url_safe(text),
              "cursor_format(id %" PRId64 ", %s, i %" PRId64 ", r %.17g) is \"%s\": under %d "
              "bytes, URL-safe",
              c->id, kind_name[c->kind], c->i, c->r, show(text), CURSOR_MAX);
        CHECK(same, "cursor_parse(\"%s\") gives back id %" PRId64 ", %s, i %" PRId64 ", r %.17g",
              show(text), c->id, kind_name[c->kind], c->i, c->r);
    }

    static const char *const bad[] = {
        "",
        "0",
        "00",
        "-1",
        "+1",
        "x",
        "1x",
        ".n",
        "0.n",
        "1.",
        "1.q",
        "1.n1",
        "1.nn",
        "1.i",
        "1.i+1",
        "1.i--1",
        "1.i1x",
        "1.i 1",
        "1.i9223372036854775808",
        "1.r",
        "1.r123",
        "1.rZZZZZZZZZZZZZZZZ",
        "1.r3FB999999999999A",
        "1.r3fb999999999999a1",
        "1.r3fb99999999999",
        "1.r7ff0000000000000",
        "1.rfff0000000000000",
        "1.r7ff8000000000000",
        "1.5",
        "1.i1.n",
        "9223372036854775808",
        "99999999999999999999999999.n",
        " 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cursor out = {4242, CURSOR_INT, 4343, 1.5};
        int r = cursor_parse(bad[i], &out);
        CHECK(r == -EINVAL && out.id == 4242 && out.kind == CURSOR_INT && out.i == 4343 &&
                  out.r == 1.5,
              "cursor_parse(\"%s\") refuses with -EINVAL, out untouched", show(bad[i]));
    }
}

int main(void)
{
    test_is_name();
    test_u63_id();
    test_finite();
    test_sha256_hex();
    test_digest_field();
    test_percent_decode();
    test_query();
    test_path();
    test_range();
    test_etag();
    test_size();
    test_listen();
    test_cursor();
    return CHECK_DONE();
}
