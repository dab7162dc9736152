/*
 * fuzz_query.c - parse_query on arbitrary query strings (the part of a
 * request target after '?'): stays inside its strlen + 1 buffer and its
 * params array, agrees with a reference split-then-decode, honours max, and
 * leaves *n_params untouched on failure.
 */
#include <errno.h>

#include "ckpt_limits.h"
#include "fuzz.h"
#include "parse.h"

#define N_SENTINEL ((size_t)0x5a5a5a5a)

struct ref_pair {
    const char *key, *value;
    bool has_eq;
};

/* Split q at '&', skip empty pieces, decode key and value of each into
 * arena (2 * strlen(q) + 2 bytes). Returns the number of pieces, or -1 if a
 * piece is malformed; *first_bad is then the index of the first malformed
 * one. pairs needs room for strlen(q) / 2 + 1 entries. */
static long ref_query(const char *q, struct ref_pair *pairs, char *arena, size_t *first_bad)
{
    size_t n = 0;
    bool bad = false;

    for (const char *p = q;;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len, dlen = 0;
            struct ref_pair *dst = &pairs[n];
            dst->has_eq = eq != NULL;
            dst->key = arena;
            bool ok = klen > 0 && fuzz_ref_decode(p, klen, arena, &dlen);
            arena += dlen + 1;
            dst->value = eq ? arena : "";
            if (ok && eq) {
                ok = fuzz_ref_decode(eq + 1, len - klen - 1, arena, &dlen);
                arena += dlen + 1;
            }
            if (!ok && !bad) {
                *first_bad = n;
                bad = true;
            }
            n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return bad ? -1 : (long)n;
}

static void check_max(const char *q, size_t qlen, size_t max, const struct ref_pair *ref,
                      long ref_n, size_t first_bad, size_t total)
{
    char *buf = fuzz_alloc(qlen + 1); /* exactly what parse.h asks for */
    struct query_param *p = fuzz_alloc(max * sizeof(*p));
    size_t n = N_SENTINEL;
    int r = parse_query(q, buf, p, max, &n);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL || r == -E2BIG, "unexpected error %d", r);
        FUZZ_CHECK(n == N_SENTINEL, "*n_params written on failure (%zu)", n);
        if (ref_n >= 0)
            FUZZ_CHECK(r == -E2BIG && total > max,
                       "refused (%d) a valid query of %zu pairs with max %zu", r, total, max);
        else if (first_bad < max)
            FUZZ_CHECK(r == -EINVAL, "malformed pair %zu within max %zu answered %d", first_bad,
                       max, r);
    } else {
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(ref_n >= 0 && (size_t)ref_n == n, "accepted %zu pairs, reference says %ld", n,
                   ref_n);
        FUZZ_CHECK(n <= max, "%zu pairs exceed max %zu", n, max);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(fuzz_within(p[i].key, buf, qlen + 1), "key %zu outside buf", i);
            FUZZ_CHECK(memchr(p[i].key, '\0', qlen + 1 - (size_t)(p[i].key - buf)) != NULL,
                       "key %zu not terminated within buf", i);
            FUZZ_CHECK(p[i].key[0] != '\0', "key %zu is empty", i);
            FUZZ_CHECK(strcmp(p[i].key, ref[i].key) == 0, "key %zu decodes differently", i);
            if (ref[i].has_eq) {
                FUZZ_CHECK(fuzz_within(p[i].value, buf, qlen + 1), "value %zu outside buf", i);
                FUZZ_CHECK(memchr(p[i].value, '\0', qlen + 1 - (size_t)(p[i].value - buf)) != NULL,
                           "value %zu not terminated within buf", i);
            }
            FUZZ_CHECK(strcmp(p[i].value, ref[i].value) == 0, "value %zu decodes differently", i);
            for (const char *c = p[i].value; *c; c++)
                FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f, "control byte in value %zu", i);
        }
    }
    free(p);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fuzz_cstr(data, size);
    size_t qlen = strlen(q), first_bad = 0, total = 0;
    struct ref_pair *ref = fuzz_alloc((qlen / 2 + 1) * sizeof(*ref));
    char *arena = fuzz_alloc(2 * qlen + 2);
    long ref_n = ref_query(q, ref, arena, &first_bad);

    /* Pieces counted regardless of validity, for the E2BIG property. */
    for (const char *p = q; *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        total += len > 0;
        p += len + (amp != NULL);
    }
    /* The server's limit, a small one that the fuzzer reaches easily, and 0. */
    check_max(q, qlen, QUERY_PARAMS_MAX, ref, ref_n, first_bad, total);
    check_max(q, qlen, 2, ref, ref_n, first_bad, total);
    check_max(q, qlen, 0, ref, ref_n, first_bad, total);
    free(arena);
    free(ref);
    free(q);
    return 0;
}
