/*
 * fuzz_policy.c - retention policy bodies (daemon/retention.c). The input,
 * as exactly sized bytes, goes to policy_parse: a refusal is -EINVAL with a
 * message and leaves *out untouched; an accepted policy has at least one
 * rule, every count within 1..POLICY_COUNT_MAX, and its canonical JSON
 * parses back to the same policy. Then it is evaluated over a small run
 * built from the input: the newest checkpoint that is not corrupt is kept.
 */
#include <errno.h>

#include "fuzz.h"
#include "retention.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy p, sentinel, back;
    char err[256] = "";

    memset(&sentinel, 0x5a, sizeof(sentinel));
    p = sentinel;
    int r = policy_parse((const char *)data, size, &p, err, sizeof(err));
    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL, "unexpected error %d", r);
        FUZZ_CHECK(memcmp(&p, &sentinel, sizeof(p)) == 0, "*out written on failure");
        FUZZ_CHECK(err[0], "refusal without a message");
        return 0;
    }
    FUZZ_CHECK(p.keep_last || p.n_best || p.every_n || p.within_n, "a policy with no rule");
    FUZZ_CHECK(p.keep_last <= POLICY_COUNT_MAX && p.every_n <= POLICY_COUNT_MAX &&
                   p.within_n <= POLICY_COUNT_MAX && p.n_best <= POLICY_BEST_MAX,
               "a count out of range");
    for (size_t i = 0; i < p.n_best; i++)
        FUZZ_CHECK(p.best[i].k >= 1 && p.best[i].k <= POLICY_COUNT_MAX, "k out of range");

    struct json j;
    json_init(&j, 1u << 20);
    policy_json(&j, &p);
    size_t len = 0;
    char *text = json_detach(&j, &len);
    FUZZ_CHECK(text != NULL, "canonical JSON not written");
    memset(&back, 0, sizeof(back));
    FUZZ_CHECK(policy_parse(text, len, &back, err, sizeof(err)) == 0, "canonical JSON %s refused: %s",
               text, err);
    /* The reader fills unused bytes with zero; compare the meaningful fields. */
    FUZZ_CHECK(back.keep_last == p.keep_last && back.n_best == p.n_best &&
                   back.every_n == p.every_n && back.every_step == p.every_step &&
                   back.within_n == p.within_n && back.within_unit == p.within_unit,
               "canonical JSON %s reads back differently", text);
    free(text);

    struct ret_item items[8];
    memset(items, 0, sizeof(items));
    for (size_t i = 0; i < 8; i++) {
        uint8_t b = size ? data[i % size] : 0;
        items[i].id = (int64_t)i + 1;
        items[i].created_ms = (int64_t)i * 1000;
        items[i].corrupt = (b & 1) != 0;
        items[i].has_epoch = (b & 2) != 0;
        items[i].epoch = b;
        items[i].has_value[0] = (b & 4) != 0;
        items[i].value[0] = (double)b;
    }
    retention_evaluate(&p, 4000, items, 8);
    for (size_t i = 8; i-- > 0;) {
        if (!items[i].corrupt) {
            FUZZ_CHECK(items[i].keep && items[i].latest, "the newest healthy checkpoint dropped");
            break;
        }
    }
    return 0;
}
