/*
 * fuzz_numbers.c - parse_u63, parse_id, parse_size and parse_finite on one
 * arbitrary string: each agrees with a grammar written here independently,
 * produces the exact value, and leaves its out-parameter untouched on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "fuzz.h"
#include "parse.h"

static const int64_t I64_SENTINEL = 0x5a5a5a5a;
static const uint64_t U64_SENTINEL = 0xa5a5a5a5a5a5a5a5ull;
static const double DBL_SENTINEL = 12345.678;
static const char INT64_MAX_TEXT[] = "9223372036854775807";

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t digits_at(const char *s)
{
    size_t n = 0;
    while (digit(s[n]))
        n++;
    return n;
}

/* Compare the decimal s[0..n) (digits only) with limit as strings:
 * <0, 0, >0. Leading zeros do not count. */
static int cmp_decimal(const char *s, size_t n, const char *limit)
{
    size_t ll = strlen(limit);
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n != ll)
        return n < ll ? -1 : 1;
    return memcmp(s, limit, n);
}

/* The canonical text of s[0..n): its digits without leading zeros. */
static void canonical(const char *s, size_t n, char *out)
{
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static void check_u63_id(const char *s)
{
    size_t n = digits_at(s);
    bool well_formed = n > 0 && s[n] == '\0';
    bool fits = well_formed && cmp_decimal(s, n, INT64_MAX_TEXT) <= 0;
    int64_t v = I64_SENTINEL, id = I64_SENTINEL;
    int r = parse_u63(s, &v);

    /* Text both malformed and too long may be refused either way: the
     * parser stops at whichever it meets first. */
    if (!well_formed)
        FUZZ_CHECK((r == -EINVAL || (r == -ERANGE && cmp_decimal(s, n, INT64_MAX_TEXT) > 0)) &&
                       v == I64_SENTINEL,
                   "u63: malformed text gives %d", r);
    else if (!fits)
        FUZZ_CHECK(r == -ERANGE && v == I64_SENTINEL, "u63: text past INT64_MAX gives %d", r);
    else {
        char text[32], want[4096 + 1];
        FUZZ_CHECK(r == 0, "u63: valid text refused with %d", r);
        snprintf(text, sizeof(text), "%" PRId64, v);
        if (n < sizeof(want)) {
            canonical(s, n, want);
            FUZZ_CHECK(strcmp(text, want) == 0, "u63: value %s, text %s", text, want);
        }
    }

    int ri = parse_id(s, &id);
    if (r == 0 && v >= 1)
        FUZZ_CHECK(ri == 0 && id == v, "id: valid id refused (%d) or different", ri);
    else
        FUZZ_CHECK(ri < 0 && id == I64_SENTINEL, "id: %s accepted or out written",
                   r == 0 ? "zero" : "invalid text");
}

static void check_size(const char *s)
{
    size_t n = digits_at(s);
    unsigned shift = 0;
    bool well_formed = n > 0;
    uint64_t v = U64_SENTINEL;
    int r = parse_size(s, &v);

    if (well_formed && s[n] != '\0') {
        const char *suffixes = "KkMmGgTt", *p = strchr(suffixes, s[n]);
        if (p && s[n + 1] == '\0')
            shift = 10u * (unsigned)(1 + (p - suffixes) / 2);
        else
            well_formed = false;
    }
    if (!well_formed) {
        FUZZ_CHECK(r < 0 && v == U64_SENTINEL, "size: malformed text gives %d", r);
        return;
    }
    if (cmp_decimal(s, n, "18446744073709551615") > 0) {
        FUZZ_CHECK(r < 0 && v == U64_SENTINEL, "size: number past UINT64_MAX gives %d", r);
        return;
    }
    uint64_t base = 0;
    for (size_t i = 0; i < n; i++)
        base = base * 10 + (uint64_t)(s[i] - '0'); /* fits: compared above */
    if (shift && base > (UINT64_MAX >> shift)) {
        FUZZ_CHECK(r < 0 && v == U64_SENTINEL, "size: suffix overflows, gives %d", r);
        return;
    }
    FUZZ_CHECK(r == 0 && v == base << shift, "size: gives %d, %" PRIu64 " for %" PRIu64 "<<%u", r,
               v, base, shift);
}

/* [+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)? and nothing else. */
static bool finite_grammar(const char *s)
{
    size_t i = 0, whole, frac = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    whole = digits_at(s + i);
    i += whole;
    if (s[i] == '.') {
        i++;
        frac = digits_at(s + i);
        i += frac;
    }
    if (whole + frac == 0)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (digits_at(s + i) == 0)
            return false;
        i += digits_at(s + i);
    }
    return s[i] == '\0';
}

static void check_finite(const char *s)
{
    double v = DBL_SENTINEL;
    int r = parse_finite(s, &v);
    bool ok = finite_grammar(s) && isfinite(strtod(s, NULL));

    if (!ok) {
        FUZZ_CHECK(r < 0 && memcmp(&v, &DBL_SENTINEL, sizeof(v)) == 0,
                   "finite: accepted (%d) or out written for invalid text", r);
    } else {
        double want = strtod(s, NULL);
        FUZZ_CHECK(r == 0 && memcmp(&v, &want, sizeof(v)) == 0,
                   "finite: refused (%d) or a different value: %.17g vs %.17g", r, v, want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);

    check_u63_id(s);
    check_size(s);
    check_finite(s);
    free(s);
    return 0;
}
