/*
 * test_retention.c - unit tests for daemon/retention.c: the policy reader
 * (valid, canonical round trip, every kind of refusal) and the pure
 * keep/drop decision with its reasons.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "retention.h"

static int parse(const char *text, struct policy *p, char *err)
{
    return policy_parse(text, strlen(text), p, err, 256);
}

static void test_parse_ok(void)
{
    struct policy p;
    char err[256] = "";
    struct json j;
    char *out;

    CHECK(
        parse("{\"keep_last\":2,\"keep_best\":[{\"metric\":\"loss\",\"mode\":\"min\",\"k\":3},"
              "{\"metric\":\"acc\",\"mode\":\"max\",\"k\":1}],\"keep_every\":{\"field\":\"epoch\","
              "\"n\":10},\"keep_within\":\"48h\"}",
              &p, err) == 0,
        "full policy parses (%s)", err);
    CHECK(p.keep_last == 2 && p.n_best == 2 && p.best[0].k == 3 && !p.best[0].maximize &&
              p.best[1].maximize && strcmp(p.best[1].metric, "acc") == 0,
          "keep_last and keep_best read");
    CHECK(p.every_n == 10 && !p.every_step && p.within_n == 48 && p.within_unit == 'h',
          "keep_every and keep_within read");
    CHECK(policy_within_ms(&p) == 48LL * 3600 * 1000, "48h is 172800000 ms");
    json_init(&j, 4096);
    policy_json(&j, &p);
    out = json_detach(&j, NULL);
    CHECK(out &&
              strcmp(out, "{\"keep_last\":2,\"keep_best\":[{\"metric\":\"loss\",\"mode\":\"min\","
                          "\"k\":3},{\"metric\":\"acc\",\"mode\":\"max\",\"k\":1}],\"keep_every\":"
                          "{\"field\":\"epoch\",\"n\":10},\"keep_within\":\"48h\"}") == 0,
          "canonical JSON: %s", out ? out : "(null)");
    struct policy q;
    CHECK(out && parse(out, &q, err) == 0 && memcmp(&p, &q, sizeof(p)) == 0,
          "canonical JSON reads back to the same policy");
    free(out);
    CHECK(parse("{\"keep_best\":[{\"k\":1,\"metric\":\"loss\"}]}", &p, err) == 0 &&
              !p.best[0].maximize,
          "mode defaults to min");
    CHECK(parse(" {\"keep_every\":{\"field\":\"step\",\"n\":1000}} ", &p, err) == 0 &&
              p.every_step && p.every_n == 1000,
          "keep_every by step");
    CHECK(parse("{\"keep_within\":\"1000000d\"}", &p, err) == 0, "keep_within upper bound");
}

static void test_parse_bad(void)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"", "JSON"},
        {"[]", "object"},
        {"{}", "at least one"},
        {"{\"keep_last\":0}", "keep_last"},
        {"{\"keep_last\":1000001}", "keep_last"},
        {"{\"keep_last\":2.5}", "keep_last"},
        {"{\"keep_last\":\"2\"}", "keep_last"},
        {"{\"keep_last\":2,\"keep_last\":3}", "repeated"},
        {"{\"keep_lats\":2}", "keep_lats"},
        {"{\"keep_best\":[]}", "keep_best"},
        {"{\"keep_best\":{}}", "keep_best"},
        {"{\"keep_best\":[{\"metric\":\"loss\"}]}", "k"},
        {"{\"keep_best\":[{\"k\":3}]}", "metric"},
        {"{\"keep_best\":[{\"metric\":\"a b\",\"k\":1}]}", "metric"},
        {"{\"keep_best\":[{\"metric\":\"loss\",\"k\":1,\"mode\":\"avg\"}]}", "mode"},
        {"{\"keep_best\":[{\"metric\":\"loss\",\"k\":1,\"x\":1}]}", "'x'"},
        {"{\"keep_every\":{\"field\":\"time\",\"n\":1}}", "field"},
        {"{\"keep_every\":{\"field\":\"epoch\"}}", "keep_every"},
        {"{\"keep_every\":{\"field\":\"epoch\",\"n\":0}}", "keep_every.n"},
        {"{\"keep_within\":\"48\"}", "keep_within"},
        {"{\"keep_within\":\"h\"}", "keep_within"},
        {"{\"keep_within\":\"-1h\"}", "keep_within"},
        {"{\"keep_within\":\"0h\"}", "keep_within"},
        {"{\"keep_within\":\"1w\"}", "keep_within"},
        {"{\"keep_within\":48}", "keep_within"},
        {"{\"keep_last\":2,}", "JSON"},
        {"{\"keep_last\":2} x", "JSON"},
    };
    struct policy p = {.keep_last = 77};
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int r = parse(bad[i].text, &p, err);
        CHECK(r < 0 && strstr(err, bad[i].needle) && p.keep_last == 77,
              "refused %s (message '%s' names '%s'; output untouched)", bad[i].text, err,
              bad[i].needle);
    }
    /* More keep_best rules than POLICY_BEST_MAX. */
    char big[4096] = "{\"keep_best\":[";
    for (int i = 0; i <= POLICY_BEST_MAX; i++)
        strcat(big, i ? ",{\"metric\":\"loss\",\"k\":1}" : "{\"metric\":\"loss\",\"k\":1}");
    strcat(big, "]}");
    CHECK(parse(big, &p, err) < 0, "more than %d keep_best rules refused", POLICY_BEST_MAX);
}

/* n items with ids 1..n, loss from losses (NAN-free; <0 means none). */
static void make_items(struct ret_item *it, size_t n, const double *loss)
{
    memset(it, 0, n * sizeof(*it));
    for (size_t i = 0; i < n; i++) {
        it[i].id = (int64_t)i + 1;
        it[i].created_ms = 1000 * (int64_t)(i + 1);
        it[i].has_epoch = true;
        it[i].epoch = (int64_t)i + 1;
        if (loss && loss[i] >= 0) {
            it[i].has_value[0] = true;
            it[i].value[0] = loss[i];
        }
    }
}

static char reasons_buf[1024];

static void collect(void *ctx, const char *reason)
{
    (void)ctx;
    if (reasons_buf[0])
        strcat(reasons_buf, "|");
    strcat(reasons_buf, reason);
}

static const char *reasons(const struct policy *p, const struct ret_item *it)
{
    reasons_buf[0] = '\0';
    retention_reasons(p, it, collect, NULL);
    return reasons_buf;
}

static void test_evaluate(void)
{
    struct ret_item it[8];
    struct policy p;
    char err[256];
    const double loss[6] = {0.9, 0.1, 0.5, 0.3, 0.1, 0.8};

    make_items(it, 6, loss);
    retention_evaluate(NULL, 0, it, 6);
    CHECK(it[0].keep && it[5].keep && strcmp(reasons(NULL, &it[0]), "no policy") == 0,
          "no policy keeps everything");

    parse("{\"keep_best\":[{\"metric\":\"loss\",\"k\":2}]}", &p, err);
    retention_evaluate(&p, 0, it, 6);
    CHECK(it[5].keep && strcmp(reasons(&p, &it[5]), "latest") == 0,
          "keep_best only: the newest survives as latest (%s)", reasons_buf);
    CHECK(it[4].keep && strcmp(reasons(&p, &it[4]), "best 1 of 2 by loss") == 0,
          "tie on loss goes to the newest (%s)", reasons_buf);
    CHECK(it[1].keep && strcmp(reasons(&p, &it[1]), "best 2 of 2 by loss") == 0,
          "second best kept (%s)", reasons_buf);
    CHECK(!it[0].keep && !it[2].keep && !it[3].keep && !reasons(&p, &it[0])[0],
          "the rest dropped, with no reasons");

    it[0].pinned = true;
    it[2].leased = true;
    const char *names[] = {"production", "candidate"};
    it[3].aliases = names;
    it[3].n_aliases = 2;
    retention_evaluate(&p, 0, it, 6);
    CHECK(it[0].keep && strcmp(reasons(&p, &it[0]), "pinned") == 0, "pinned survives");
    CHECK(it[2].keep && strcmp(reasons(&p, &it[2]), "lease") == 0, "leased survives");
    CHECK(it[3].keep && strcmp(reasons(&p, &it[3]), "alias production|alias candidate") == 0,
          "aliased survives (%s)", reasons_buf);

    /* Corrupt: the latest is the newest not corrupt; ranks skip corrupt ones. */
    make_items(it, 6, loss);
    it[5].corrupt = true;
    it[4].corrupt = true;
    parse("{\"keep_last\":1,\"keep_best\":[{\"metric\":\"loss\",\"k\":1}]}", &p, err);
    retention_evaluate(&p, 0, it, 6);
    CHECK(!it[5].keep && !it[4].keep, "corrupt checkpoints are not kept by the rules");
    CHECK(it[3].keep && strcmp(reasons(&p, &it[3]), "latest|last 1 of 1") == 0,
          "latest skips corrupt ones (%s)", reasons_buf);
    CHECK(it[1].keep && strcmp(reasons(&p, &it[1]), "best 1 of 1 by loss") == 0,
          "best skips a corrupt better one (%s)", reasons_buf);

    /* keep_every, keep_within, max mode, items without the metric. */
    make_items(it, 8, NULL);
    it[1].has_value[0] = true;
    it[1].value[0] = 5;
    it[2].has_value[0] = true;
    it[2].value[0] = 7;
    parse("{\"keep_every\":{\"field\":\"epoch\",\"n\":3},\"keep_within\":\"2s\","
          "\"keep_best\":[{\"metric\":\"acc\",\"mode\":\"max\",\"k\":1}]}",
          &p, err);
    retention_evaluate(&p, 8000, it, 8);
    CHECK(it[2].keep && strcmp(reasons(&p, &it[2]), "best 1 of 1 by acc|every 3 epoch") == 0,
          "max mode and every-N epoch (%s)", reasons_buf);
    CHECK(it[5].keep && strcmp(reasons(&p, &it[5]), "every 3 epoch|within 2s") == 0,
          "within 2s of now (%s)", reasons_buf);
    CHECK(it[7].keep && strcmp(reasons(&p, &it[7]), "latest|within 2s") == 0, "newest (%s)",
          reasons_buf);
    CHECK(!it[0].keep && !it[1].keep && !it[3].keep && !it[4].keep,
          "epochs 1, 2, 4, 5 outside every rule are dropped");

    make_items(it, 0, NULL);
    retention_evaluate(&p, 0, it, 0);
    CHECK(1, "an empty run is fine");
}

int main(void)
{
    test_parse_ok();
    test_parse_bad();
    test_evaluate();
    return CHECK_DONE();
}
