/*
 * fuzz_trailer.c - parse_list_has, which decides whether the Trailer header
 * announced a digest field. Input: TOKEN '\n' LIST, or LIST alone (token
 * "Repr-Digest"). Properties: agrees with a reference (split at ',', trim
 * spaces and tabs, compare case-insensitively) for every non-empty token,
 * and the answer does not depend on the token's case.
 */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"
#include "parse.h"

static bool ref_list_has(const char *list, const char *token)
{
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == strlen(token) && strncasecmp(s, token, (size_t)(e - s)) == 0)
            return true;
        if (!comma)
            return false;
        p = comma + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_cstr(data, size);
    char *nl = strchr(in, '\n');
    const char *token = "Repr-Digest", *list = in;

    if (nl) {
        *nl = '\0';
        token = in;
        list = nl + 1;
    }
    bool got = parse_list_has(list, token);
    if (token[0] != '\0')
        FUZZ_CHECK(got == ref_list_has(list, token), "parse_list_has says %d, the reference %d",
                   got, !got);

    char *upper = fuzz_alloc(strlen(token) + 1), *lower = fuzz_alloc(strlen(token) + 1);
    for (size_t i = 0; i <= strlen(token); i++) {
        upper[i] = (char)toupper((unsigned char)token[i]);
        lower[i] = (char)tolower((unsigned char)token[i]);
    }
    FUZZ_CHECK(parse_list_has(list, upper) == got && parse_list_has(list, lower) == got,
               "the answer depends on the token's case");
    free(lower);
    free(upper);
    free(in);
    return 0;
}
