/*
 * fuzz_range.c - parse_range on an arbitrary Range header and representation
 * size. Input: 8 bytes of size (little-endian), then the header value.
 * Properties: RANGE_OK means first <= last < size; anything else leaves
 * first and last untouched; the answer agrees with a reference written from
 * parse.h and RFC 9110 section 14 (one range, numbers saturating at
 * UINT64_MAX, suffix ranges, clamping).
 */
#include <inttypes.h>

#include "fuzz.h"
#include "parse.h"

static const char *trim_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

/* Digits only and at least one; the value saturates at UINT64_MAX. */
static bool number(const char *s, const char *e, uint64_t *v)
{
    uint64_t x = 0;
    if (s == e)
        return false;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *v = x;
    return true;
}

static enum range_result ref_range(const char *v, uint64_t size, uint64_t *first, uint64_t *last)
{
    uint64_t a, b = UINT64_MAX;

    if (strncmp(v, "bytes=", 6) != 0)
        return RANGE_NONE;
    const char *s = v + 6;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *e = trim_end(s, s + strlen(s));
    const char *dash = memchr(s, '-', (size_t)(e - s));
    if (memchr(s, ',', (size_t)(e - s)) || !dash)
        return RANGE_NONE;
    if (dash == s) {
        if (!number(dash + 1, e, &b))
            return RANGE_NONE;
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = b < size ? size - b : 0;
        *last = size - 1;
        return RANGE_OK;
    }
    if (!number(s, dash, &a) || (dash + 1 != e && (!number(dash + 1, e, &b) || b < a)))
        return RANGE_NONE;
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b < size ? b : size - 1;
    return RANGE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t rep = fuzz_le64(data, size);
    char *value = fuzz_cstr(size > 8 ? data + 8 : data, size > 8 ? size - 8 : 0);
    uint64_t first = 4242, last = 4343, rf = 0, rl = 0;

    /* Small sizes matter most (0, 1, just around the numbers in the header):
     * the top byte 0xff selects size = the low byte. */
    if (rep >> 56 == 0xff)
        rep &= 0xff;
    enum range_result res = parse_range(value, rep, &first, &last);
    enum range_result want = ref_range(value, rep, &rf, &rl);
    FUZZ_CHECK(res == want, "parse_range gives %d, the reference %d (size %" PRIu64 ")", res, want,
               rep);
    if (res == RANGE_OK) {
        FUZZ_CHECK(first <= last && last < rep,
                   "RANGE_OK with first %" PRIu64 " last %" PRIu64 " size %" PRIu64, first, last,
                   rep);
        FUZZ_CHECK(first == rf && last == rl, "bytes %" PRIu64 "-%" PRIu64 ", reference %" PRIu64
                   "-%" PRIu64, first, last, rf, rl);
    } else {
        FUZZ_CHECK(first == 4242 && last == 4343, "out-parameters written for result %d", res);
    }
    free(value);
    return 0;
}
