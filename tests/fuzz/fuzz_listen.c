/*
 * fuzz_listen.c - parse_listen ("HOST:PORT", "[V6]:PORT") on arbitrary text
 * with a host buffer of arbitrary exact size (the first input byte): never
 * writes past host_size, leaves both out-parameters untouched on failure,
 * and on success the text is exactly the host and the port put back together.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t host_size = 1 + data[0] % 80;
    char *s = fuzz_cstr(data + 1, size - 1);
    char *host = fuzz_alloc(host_size);
    uint16_t port = 4242;

    memset(host, '#', host_size);
    int r = parse_listen(s, host, host_size, &port);
    if (r < 0) {
        bool untouched = port == 4242;
        for (size_t i = 0; i < host_size; i++)
            untouched = untouched && host[i] == '#';
        FUZZ_CHECK(untouched, "out-parameters written on failure (%d)", r);
    } else {
        size_t hlen = strnlen(host, host_size);
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(hlen > 0 && hlen < host_size, "host empty or not terminated in host_size");
        /* s is HOST or [HOST], ':', then decimal digits whose value is port. */
        const char *rest = s;
        if (s[0] == '[') {
            FUZZ_CHECK(strncmp(s + 1, host, hlen) == 0 && s[hlen + 1] == ']',
                       "bracketed host differs from the text");
            rest = s + hlen + 2;
        } else {
            FUZZ_CHECK(strncmp(s, host, hlen) == 0 && !strchr(host, ':'),
                       "host differs from the text or holds ':' unbracketed");
            rest = s + hlen;
        }
        int64_t p = -1;
        FUZZ_CHECK(rest[0] == ':' && parse_u63(rest + 1, &p) == 0 && p == port,
                   "port text does not give port %u", (unsigned)port);
    }
    free(host);
    free(s);
    return 0;
}
