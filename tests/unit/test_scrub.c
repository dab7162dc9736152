/*
 * test_scrub.c - unit tests for the pure parts of daemon/scrub.c:
 * --scrub-interval parsing (units, bounds, garbage).
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "scrub.h"

int main(void)
{
    static const struct {
        const char *text;
        int64_t seconds; /* -1: refused */
    } cases[] = {
        {"0", 0},
        {"30", 30},
        {"30s", 30},
        {"5m", 300},
        {"2h", 7200},
        {"7d", 604800},
        {"3650d", 315360000},
        {"", -1},
        {"d", -1},
        {"7x", -1},
        {"-1", -1},
        {"1.5h", -1},
        {" 7d", -1},
        {"7d ", -1},
        {"7dd", -1},
        {"3700d", -1},
        {"99999999999", -1},
        {"99999999999999999999999", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -2;
        int r = scrub_parse_interval(cases[i].text, &v);
        if (cases[i].seconds < 0)
            CHECK(r < 0 && v == -2, "'%s' is refused and leaves the output alone", cases[i].text);
        else
            CHECK(r == 0 && v == cases[i].seconds, "'%s' is %lld s", cases[i].text,
                  (long long)cases[i].seconds);
    }
    return CHECK_DONE();
}
