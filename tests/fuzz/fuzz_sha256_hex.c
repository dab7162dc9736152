/*
 * fuzz_sha256_hex.c - parse_sha256_hex on arbitrary bytes in an exactly
 * sized buffer: accepts exactly 64 hexadecimal characters, decodes them so
 * that digest_hex gives the same text back in lowercase, and leaves out
 * untouched on failure.
 */
#include <ctype.h>

#include "digest.h"
#include "fuzz.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint8_t out[32];
    bool want = size == 64;

    for (size_t i = 0; want && i < size; i++)
        want = fuzz_hexval(s[i]) >= 0;
    memset(out, 0xaa, sizeof(out));
    int r = parse_sha256_hex(s, size, out);
    if (!want) {
        bool untouched = true;
        for (size_t i = 0; i < sizeof(out); i++)
            untouched = untouched && out[i] == 0xaa;
        FUZZ_CHECK(r < 0 && untouched, "accepted (%d) or wrote out for non-hex-64 text", r);
        return 0;
    }
    char hex[SHA256_HEX_LEN + 1];
    FUZZ_CHECK(r == 0, "64 hex characters refused with %d", r);
    digest_hex(out, hex);
    for (size_t i = 0; i < 64; i++)
        FUZZ_CHECK(hex[i] == tolower((unsigned char)s[i]), "digest_hex differs at %zu", i);
    return 0;
}
