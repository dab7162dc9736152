/*
 * fuzz_name.c - parse_is_name on arbitrary bytes in an exactly sized buffer:
 * looks only at s[0..len) and agrees with the grammar in parse.h,
 * [A-Za-z0-9][A-Za-z0-9._-]{0,127}, written here independently.
 */
#include "ckpt_limits.h"
#include "fuzz.h"
#include "parse.h"

static bool ref_is_name(const char *s, size_t len)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (len < 1 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool is_alnum = s[i] != '\0' && strchr(alnum, s[i]) != NULL;
        bool is_punct = s[i] == '.' || s[i] == '_' || s[i] == '-';
        if (!is_alnum && (i == 0 || !is_punct))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool got = parse_is_name(s, size), want = ref_is_name(s, size);

    FUZZ_CHECK(got == want, "parse_is_name says %d, the grammar %d (len %zu)", got, want, size);
    FUZZ_CHECK(RUN_NAME_MAX == 128, "RUN_NAME_MAX changed: update the reference");
    /* Every prefix of a name is a name, as long as it is not empty. */
    if (got && size > 1)
        FUZZ_CHECK(parse_is_name(s, size - 1), "a prefix of a name is refused");
    return 0;
}
