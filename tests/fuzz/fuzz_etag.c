/*
 * fuzz_etag.c - parse_etag_match (If-None-Match, If-Range) on an arbitrary
 * list and tag. Input: one flags byte (bit 0: weak comparison), then
 * TAG '\n' LIST, or LIST alone (tag: the digest of "abc" in hex, which is
 * what the daemon passes). Properties: a strong match is also a weak match;
 * a list starting with '*' matches; "TAG" always matches and W/"TAG"
 * matches weakly only (when the tag holds no '"').
 */
#include "fuzz.h"
#include "parse.h"

static const char DEFAULT_TAG[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool weak = data[0] & 1;
    char *in = fuzz_cstr(data + 1, size - 1);
    char *nl = strchr(in, '\n');
    const char *tag = DEFAULT_TAG, *list = in;

    if (nl) {
        *nl = '\0';
        tag = in;
        list = nl + 1;
    }
    bool got = parse_etag_match(list, tag, weak);
    bool strong = parse_etag_match(list, tag, false), weakly = parse_etag_match(list, tag, true);
    FUZZ_CHECK(got == (weak ? weakly : strong), "the same call answers differently");
    FUZZ_CHECK(!strong || weakly, "a strong match is not a weak match");

    const char *p = list;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '*')
        FUZZ_CHECK(strong && weakly, "a list starting with '*' does not match");

    if (!strchr(tag, '"')) {
        size_t tlen = strlen(tag);
        char *one = fuzz_alloc(tlen + 5);
        snprintf(one, tlen + 5, "\"%s\"", tag);
        FUZZ_CHECK(parse_etag_match(one, tag, false) && parse_etag_match(one, tag, true),
                   "\"TAG\" does not match TAG");
        snprintf(one, tlen + 5, "W/\"%s\"", tag);
        FUZZ_CHECK(parse_etag_match(one, tag, true) && !parse_etag_match(one, tag, false),
                   "W/\"TAG\" is not a weak-only match");
        free(one);
    }
    free(in);
    return 0;
}
