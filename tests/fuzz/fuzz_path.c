/*
 * fuzz_path.c - parse_path on arbitrary request paths, given as an exactly
 * sized buffer without a NUL: stays inside path[0..len) and its len + 1
 * output buffer, agrees with a reference split-then-decode, never yields a
 * segment holding '/' or a control byte, honours max, and leaves *n_segs
 * untouched on failure.
 */
#include <errno.h>

#include "ckpt_limits.h"
#include "fuzz.h"
#include "parse.h"

#define N_SENTINEL ((size_t)0x5a5a5a5a)

/* Reference: the segments of path[0..len) decoded into arena (2 * len + 2
 * bytes), pointers in segs (len + 1 entries). Returns the segment count or
 * -1 when the path is malformed (*first_bad: index of the bad segment, or 0
 * when the path itself is). */
static long ref_path(const char *path, size_t len, char *arena, const char **segs,
                     size_t *first_bad)
{
    size_t n = 0;

    *first_bad = 0;
    if (len == 0 || path[0] != '/')
        return -1;
    if (len > 1 && path[len - 1] == '/')
        len--; /* one trailing slash is ignored */
    for (size_t start = 1; start < len;) {
        const char *slash = memchr(path + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - path) : len, dlen;
        if (!fuzz_ref_decode(path + start, end - start, arena, &dlen) ||
            memchr(arena, '/', dlen)) {
            *first_bad = n;
            return -1;
        }
        segs[n++] = arena;
        arena += dlen + 1;
        start = end + 1;
    }
    return (long)n;
}

static void check_max(const char *path, size_t len, size_t max, const char **ref, long ref_n,
                      size_t first_bad, size_t total)
{
    char *buf = fuzz_alloc(len + 1);
    const char **segs = fuzz_alloc(max * sizeof(*segs));
    size_t n = N_SENTINEL;
    int r = parse_path(path, len, buf, segs, max, &n);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL || r == -E2BIG, "unexpected error %d", r);
        FUZZ_CHECK(n == N_SENTINEL, "*n_segs written on failure (%zu)", n);
        if (ref_n >= 0)
            FUZZ_CHECK(r == -E2BIG && total > max,
                       "refused (%d) a valid path of %zu segments with max %zu", r, total, max);
        else if (first_bad < max)
            FUZZ_CHECK(r == -EINVAL, "malformed segment %zu within max %zu answered %d",
                       first_bad, max, r);
    } else {
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(ref_n >= 0 && (size_t)ref_n == n, "accepted %zu segments, reference says %ld",
                   n, ref_n);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(fuzz_within(segs[i], buf, len + 1), "segment %zu outside buf", i);
            FUZZ_CHECK(memchr(segs[i], '\0', len + 1 - (size_t)(segs[i] - buf)) != NULL,
                       "segment %zu not terminated within buf", i);
            FUZZ_CHECK(strcmp(segs[i], ref[i]) == 0, "segment %zu decodes differently", i);
            for (const char *c = segs[i]; *c; c++)
                FUZZ_CHECK(*c != '/' && (unsigned char)*c >= 0x20 && *c != 0x7f,
                           "segment %zu holds '/' or a control byte", i);
        }
    }
    free(segs);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = (const char *)data; /* exactly sized, no NUL after it */
    char *arena = fuzz_alloc(2 * size + 2);
    const char **ref = fuzz_alloc((size + 1) * sizeof(*ref));
    size_t first_bad, total = 0;
    long ref_n = ref_path(path, size, arena, ref, &first_bad);

    if (ref_n >= 0)
        total = (size_t)ref_n;
    check_max(path, size, PATH_SEGMENTS_MAX, ref, ref_n, first_bad, total);
    check_max(path, size, 2, ref, ref_n, first_bad, total);
    check_max(path, size, 0, ref, ref_n, first_bad, total);
    free(ref);
    free(arena);
    return 0;
}
