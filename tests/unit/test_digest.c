/*
 * test_digest.c - unit tests for daemon/digest.c: SHA-256 against the FIPS
 * 180-2 vectors, incremental hashing, and the hex and RFC 9530 base64 forms.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"

static const char EMPTY_HEX[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char ABC_HEX[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char TWO_BLOCK_HEX[] =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
static const char MILLION_A_HEX[] =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
static const char TWO_BLOCK[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static const uint8_t ABC[SHA256_LEN] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const char ABC_B64[] = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
static const char EMPTY_B64[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
/* RFC 9530 appendix: sha-256 of {"hello": "world"}. */
static const char HELLO_B64[] = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=";

/* SHA-256 of data in one update; false if any call fails. */
static bool hash_once(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    struct sha256 *h = sha256_new();
    bool ok = h && sha256_update(h, data, len) == 0 && sha256_final(h, out) == 0;
    sha256_free(h);
    return ok;
}

/* SHA-256 of data fed in pieces of chunk bytes, with an empty update between
 * every piece. */
static bool hash_chunks(const uint8_t *data, size_t len, size_t chunk, uint8_t out[SHA256_LEN])
{
    struct sha256 *h = sha256_new();
    bool ok = h != NULL;
    for (size_t off = 0; ok && off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ok = sha256_update(h, data + off, n) == 0 && sha256_update(h, data + off, 0) == 0;
    }
    ok = ok && sha256_final(h, out) == 0;
    sha256_free(h);
    return ok;
}

static void hex_of(const uint8_t d[SHA256_LEN], char out[SHA256_HEX_LEN + 1])
{
    digest_hex(d, out);
}

static void test_vectors(void)
{
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    bool ok;

    ok = hash_once("", 0, d);
    hex_of(d, hex);
    CHECK(ok && strcmp(hex, EMPTY_HEX) == 0, "SHA-256 of \"\" is e3b0c442...7852b855");

    struct sha256 *h = sha256_new();
    ok = h && sha256_final(h, d) == 0;
    sha256_free(h);
    hex_of(d, hex);
    CHECK(ok && strcmp(hex, EMPTY_HEX) == 0, "SHA-256 with no update at all is that of \"\"");

    ok = hash_once("abc", 3, d);
    CHECK(ok && memcmp(d, ABC, SHA256_LEN) == 0, "SHA-256 of \"abc\" is ba7816bf...f20015ad");

    ok = hash_once(TWO_BLOCK, strlen(TWO_BLOCK), d);
    hex_of(d, hex);
    CHECK(ok && strcmp(hex, TWO_BLOCK_HEX) == 0, "SHA-256 of the FIPS 180-2 two-block message");

    ok = hash_once("{\"hello\": \"world\"}", 18, d);
    char b64[SHA256_B64_LEN + 1];
    digest_base64(d, b64);
    CHECK(ok && strcmp(b64, HELLO_B64) == 0,
          "SHA-256 of {\"hello\": \"world\"} is RFC 9530's X48E9qOo...u9DBPE=");
}

static void test_incremental(void)
{
    size_t len = 1000000;
    uint8_t *a = malloc(len);
    uint8_t once[SHA256_LEN], d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];

    if (!a) {
        CHECK(a != NULL, "allocate 1 MB for the incremental test");
        return;
    }
    memset(a, 'a', len);
    bool ok = hash_once(a, len, once);
    hex_of(once, hex);
    CHECK(ok && strcmp(hex, MILLION_A_HEX) == 0,
          "SHA-256 of one million 'a' in one update is cdc76e5c...c7112cd0");

    static const size_t chunks[] = {1, 3, 55, 63, 64, 65, 1000, 4096, 999999};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        memset(d, 0, sizeof(d));
        ok = hash_chunks(a, len, chunks[i], d);
        CHECK(ok && memcmp(d, once, SHA256_LEN) == 0,
              "SHA-256 of one million 'a' in %zu-byte updates equals the one-shot digest",
              chunks[i]);
    }
    free(a);

    /* Two contexts at once do not share state. */
    struct sha256 *x = sha256_new(), *y = sha256_new();
    uint8_t dx[SHA256_LEN], dy[SHA256_LEN];
    ok = x && y && sha256_update(x, "a", 1) == 0 && sha256_update(y, "", 0) == 0 &&
         sha256_update(x, "b", 1) == 0 && sha256_update(x, "c", 1) == 0 &&
         sha256_final(y, dy) == 0 && sha256_final(x, dx) == 0;
    char hy[SHA256_HEX_LEN + 1];
    hex_of(dy, hy);
    CHECK(ok && memcmp(dx, ABC, SHA256_LEN) == 0 && strcmp(hy, EMPTY_HEX) == 0,
          "two interleaved contexts give SHA-256(\"abc\") and SHA-256(\"\") independently");
    sha256_free(x);
    sha256_free(y);
    sha256_free(NULL);
}

static void test_text_forms(void)
{
    char hex[SHA256_HEX_LEN + 2];
    char b64[SHA256_B64_LEN + 2];
    uint8_t d[SHA256_LEN];

    memset(hex, '#', sizeof(hex));
    digest_hex(ABC, hex);
    CHECK(strcmp(hex, ABC_HEX) == 0 && hex[SHA256_HEX_LEN + 1] == '#',
          "digest_hex gives 64 lowercase hex characters and a NUL, nothing past it");

    uint8_t all[SHA256_LEN];
    for (size_t i = 0; i < SHA256_LEN; i++)
        all[i] = (uint8_t)(i * 8 + 7); /* covers both nibbles 0..f */
    digest_hex(all, hex);
    CHECK(strncmp(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff", 64) == 0,
          "digest_hex maps every nibble 0..f in order");

    memset(b64, '#', sizeof(b64));
    digest_base64(ABC, b64);
    CHECK(strcmp(b64, ABC_B64) == 0 && b64[SHA256_B64_LEN + 1] == '#',
          "digest_base64 of SHA-256(\"abc\") is %s, 44 characters and a NUL", ABC_B64);

    bool ok = hash_once("", 0, d);
    digest_base64(d, b64);
    CHECK(ok && strcmp(b64, EMPTY_B64) == 0, "digest_base64 of SHA-256(\"\") is %s", EMPTY_B64);

    /* Round trips: the fixed vector and pseudo-random digests. */
    uint8_t back[SHA256_LEN];
    memset(back, 0, sizeof(back));
    int r = digest_from_base64(ABC_B64, strlen(ABC_B64), back);
    CHECK(r == 0 && memcmp(back, ABC, SHA256_LEN) == 0,
          "digest_from_base64(%s) gives SHA-256(\"abc\")", ABC_B64);

    uint32_t seed = 12345;
    unsigned bad = 0;
    for (unsigned n = 0; n < 1000; n++) {
        uint8_t src[SHA256_LEN];
        for (size_t i = 0; i < SHA256_LEN; i++) {
            seed = seed * 1103515245u + 12345u;
            src[i] = (uint8_t)(seed >> 16);
        }
        digest_base64(src, b64);
        memset(back, 0, sizeof(back));
        if (digest_from_base64(b64, strlen(b64), back) != 0 || memcmp(back, src, SHA256_LEN) != 0)
            bad++;
    }
    CHECK(bad == 0, "digest_base64 then digest_from_base64 round-trips 1000 digests (%u failed)",
          bad);
}

static void test_base64_refusals(void)
{
    static const struct {
        const char *s;
        const char *why;
    } bad[] = {
        {"", "empty"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0", "43 characters, padding left off"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0==", "45 characters"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0A", "44 characters without padding"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa==", "two padding characters (31 bytes)"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=ungW", "48 characters (36 bytes)"},
        {"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=", "base64url alphabet"},
        {"ungWv48Bz!pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "'!' inside"},
        {"ungWv48Bz pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "a space inside"},
        {" ngWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "a leading space"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAF\na0=", "a newline inside"},
        {"ungWv48Bz=pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "'=' inside the text"},
        {"=ngWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "'=' first"},
        {"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa\xc3=", "a non-ASCII byte"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t out[SHA256_LEN];
        memset(out, 0xaa, sizeof(out));
        int r = digest_from_base64(bad[i].s, strlen(bad[i].s), out);
        bool untouched = true;
        for (size_t k = 0; k < SHA256_LEN; k++)
            if (out[k] != 0xaa)
                untouched = false;
        CHECK(r == -EINVAL && untouched,
              "digest_from_base64 refuses %s with -EINVAL, out untouched", bad[i].why);
    }

    /* len is the bound: a valid text with a shorter len is refused. */
    uint8_t out[SHA256_LEN];
    int r = digest_from_base64(ABC_B64, 40, out);
    CHECK(r == -EINVAL, "digest_from_base64 honours len (the first 40 of 44 characters)");
}

int main(void)
{
    test_vectors();
    test_incremental();
    test_text_forms();
    test_base64_refusals();
    return CHECK_DONE();
}
