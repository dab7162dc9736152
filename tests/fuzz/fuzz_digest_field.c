/*
 * fuzz_digest_field.c - the digest headers and trailers of an upload
 * (Repr-Digest, Content-Digest: RFC 9530 dictionaries) as api.c reads them:
 * parse_digest_field, then digest_from_base64 on the sha-256 member. Also
 * digest_from_base64 alone on the raw bytes, exactly sized.
 * Properties: the member points inside the value at base64 text between
 * "sha-256=:" and ':'; out-parameters stay untouched on failure; a decoded
 * digest encodes back (digest_base64) to the same text, up to the two
 * padding bits RFC 4648 lets a decoder ignore.
 */
#include <errno.h>

#include "digest.h"
#include "fuzz.h"
#include "parse.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(char c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* digest_from_base64 on b64[0..len) with its contracts checked. */
static void check_decode(const char *b64, size_t len)
{
    uint8_t out[SHA256_LEN], again[SHA256_LEN];
    char text[SHA256_B64_LEN + 1];
    bool want = len == SHA256_B64_LEN && b64[43] == '=';

    for (size_t i = 0; want && i < 43; i++)
        want = b64val(b64[i]) >= 0;
    memset(out, 0xaa, sizeof(out));
    int r = digest_from_base64(b64, len, out);
    if (r < 0) {
        bool untouched = true;
        for (size_t i = 0; i < sizeof(out); i++)
            untouched = untouched && out[i] == 0xaa;
        FUZZ_CHECK(r == -EINVAL && untouched, "refusal %d or out written", r);
        FUZZ_CHECK(!want, "refused 43 base64 characters and '='");
        return;
    }
    FUZZ_CHECK(r == 0 && want, "accepted (%d) text that is not 43 base64 characters and '='", r);
    digest_base64(out, text);
    FUZZ_CHECK(memcmp(text, b64, 42) == 0 && text[43] == '=' && text[44] == '\0',
               "re-encoding differs from the text");
    /* The 43rd character carries 4 digest bits and 2 padding bits. */
    FUZZ_CHECK(b64val(text[42]) == (b64val(b64[42]) & ~3), "re-encoding differs in the last bits");
    memset(again, 0x55, sizeof(again));
    FUZZ_CHECK(digest_from_base64(text, SHA256_B64_LEN, again) == 0 &&
                   memcmp(again, out, SHA256_LEN) == 0,
               "digest_base64 output does not decode to the same digest");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_cstr(data, size);
    size_t vlen = strlen(value);
    const char *b64 = "sentinel";
    size_t len = 777;
    int r = parse_digest_field(value, &b64, &len);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL || r == -ENOENT, "unexpected error %d", r);
        FUZZ_CHECK(strcmp(b64, "sentinel") == 0 && len == 777, "out-parameters written (%d)", r);
    } else {
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(fuzz_within(b64, value, vlen + 1) && len <= vlen - (size_t)(b64 - value),
                   "member outside the value");
        FUZZ_CHECK(b64 - value >= 9 && memcmp(b64 - 9, "sha-256=:", 9) == 0 && b64[len] == ':',
                   "member is not the text between \"sha-256=:\" and ':'");
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(b64val(b64[i]) >= 0 || b64[i] == '=', "non-base64 byte at %zu", i);
        check_decode(b64, len);
    }
    check_decode((const char *)data, size); /* exactly sized: no NUL after it */
    free(value);
    return 0;
}
