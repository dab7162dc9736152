/*
 * fuzz_percent.c - parse_percent_decode on arbitrary bytes, in an exactly
 * sized buffer without a NUL and into an exactly len + 1 byte output: agrees
 * with the reference decoder byte for byte, NUL-terminates, and leaves
 * *out_len untouched on failure.
 */
#include <errno.h>

#include "fuzz.h"
#include "parse.h"

#define LEN_SENTINEL ((size_t)0x5a5a5a5a)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *out = fuzz_alloc(size + 1), *ref = fuzz_alloc(size + 1);
    size_t out_len = LEN_SENTINEL, ref_len = 0;
    bool ref_ok = fuzz_ref_decode(in, size, ref, &ref_len);
    int r = parse_percent_decode(in, size, out, &out_len);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL, "unexpected error %d", r);
        FUZZ_CHECK(out_len == LEN_SENTINEL, "*out_len written on failure (%zu)", out_len);
        FUZZ_CHECK(!ref_ok, "refused text the reference decodes");
    } else {
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(ref_ok, "accepted text the reference refuses");
        FUZZ_CHECK(out_len == ref_len && memcmp(out, ref, ref_len + 1) == 0,
                   "decodes to %zu bytes, reference to %zu (or the bytes differ)", out_len,
                   ref_len);
        for (size_t i = 0; i < out_len; i++)
            FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f, "control byte at %zu", i);
    }
    free(ref);
    free(out);
    return 0;
}
