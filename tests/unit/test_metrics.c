/*
 * test_metrics.c - unit tests for daemon/metrics.c: name validation,
 * registration (bad and duplicate names refused), routes sharing a pattern
 * sharing one series, histogram buckets and _count, label escaping, and
 * callback metrics that are left out when they have no value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

static bool answer(void *ctx, double *v)
{
    *v = *(double *)ctx;
    return true;
}

static bool unknown(void *ctx, double *v)
{
    (void)ctx;
    (void)v;
    return false;
}

static bool has(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while ((p = strstr(p, line))) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
        p += n;
    }
    return false;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

int main(void)
{
    static const char *const routes[] = {"/a", "/b/:id", "/b/:id", "/q\"\\"};
    struct metrics *m = NULL;
    double half = 0.5;
    size_t len = 0;

    CHECK(metrics_name_ok("ckptd_x_total") && metrics_name_ok("a:b_c9"), "valid names pass");
    CHECK(!metrics_name_ok("") && !metrics_name_ok("9x") && !metrics_name_ok("a-b") &&
              !metrics_name_ok(NULL),
          "empty, digit-first, dashed and NULL names fail");

    CHECK(metrics_new("1.2.3", 4, routes, &m) == 0 && m, "metrics_new succeeds");
    struct metric *c = metrics_counter(m, "ckptd_things_total", "Things.");
    struct metric *g = metrics_gauge(m, "ckptd_level", "Level.");
    CHECK(c && g, "a counter and a gauge register");
    CHECK(!metrics_counter(m, "ckptd_things_total", "Again."), "a duplicate name is refused");
    CHECK(!metrics_gauge(m, "bad-name", "Bad."), "an invalid name is refused");
    CHECK(metrics_gauge_fn(m, "ckptd_help", "Two\nlines.", answer, &half) == -EINVAL,
          "help text with a newline is refused");
    CHECK(metrics_gauge_fn(m, "ckptd_half", "Half.", answer, &half) == 0,
          "a callback gauge registers");
    CHECK(metrics_counter_fn(m, "ckptd_unknown_total", "Unknown.", unknown, NULL) == 0,
          "a callback counter registers");
    metric_add(c, 3);
    metric_add(NULL, 1); /* a failed registration must not crash a hot path */
    metric_set(g, -7);

    metrics_request(m, 1, MM_GET, 200, 0, 10, 0.0005);  /* bucket 0.001 */
    metrics_request(m, 2, MM_GET, 200, 0, 20, 0.003);   /* same pattern, bucket 0.005 */
    metrics_request(m, 2, MM_DELETE, 204, 0, 0, 120.0); /* +Inf */
    metrics_request(m, 99, MM_OTHER, 404, 5, 7, 0.01);  /* other */
    metrics_request(m, 0, MM_PUT, 0, 3, 0, 0.2);        /* no response */
    metrics_request(m, 0, MM_PUT, 999, 0, 0, 0.2);      /* out of range: not counted by status */

    char *t = metrics_render(m, &len);
    CHECK(t && len == strlen(t) && t[len - 1] == '\n', "the text renders and ends with a newline");
    if (!t)
        return 1;
    CHECK(has(t, "ckptd_build_info{version=\"1.2.3\"} 1"), "build info carries the version");
    CHECK(has(t, "ckptd_http_requests_total{route=\"/b/:id\",method=\"GET\",status=\"200\"} 2"),
          "two routes with one pattern share one series (2 requests)");
    CHECK(count(t, "ckptd_http_request_duration_seconds_count{route=\"/b/:id\"}") == 1,
          "and one histogram");
    CHECK(
        has(t, "ckptd_http_request_duration_seconds_bucket{route=\"/b/:id\",le=\"0.001\"} 1") &&
            has(t, "ckptd_http_request_duration_seconds_bucket{route=\"/b/:id\",le=\"0.005\"} 2") &&
            has(t, "ckptd_http_request_duration_seconds_bucket{route=\"/b/:id\",le=\"60\"} 2") &&
            has(t, "ckptd_http_request_duration_seconds_bucket{route=\"/b/:id\",le=\"+Inf\"} 3") &&
            has(t, "ckptd_http_request_duration_seconds_count{route=\"/b/:id\"} 3"),
        "buckets are cumulative and +Inf equals _count");
    CHECK(has(t, "ckptd_http_request_duration_seconds_sum{route=\"/b/:id\"} 120.003500"),
          "the sum is exact to the microsecond");
    CHECK(has(t, "ckptd_http_requests_total{route=\"other\",method=\"OTHER\",status=\"404\"} 1"),
          "an unmatched route counts as other");
    CHECK(has(t, "ckptd_http_requests_total{route=\"/a\",method=\"PUT\",status=\"0\"} 1"),
          "no response counts as status 0");
    CHECK(!strstr(t, "status=\"999\""), "an impossible status is not a series");
    CHECK(has(t, "ckptd_http_request_bytes_total{route=\"other\"} 5") &&
              has(t, "ckptd_http_response_bytes_total{route=\"/b/:id\"} 30"),
          "bytes are counted per route");
    CHECK(has(t, "ckptd_http_request_bytes_total{route=\"/q\\\"\\\\\"} 0"),
          "a quote and a backslash in a label value are escaped");
    CHECK(has(t, "ckptd_things_total 3") && has(t, "ckptd_level -7") && has(t, "ckptd_half 0.5"),
          "registered counter, gauge and callback values");
    CHECK(has(t, "# TYPE ckptd_unknown_total counter") && !strstr(t, "\nckptd_unknown_total "),
          "a callback without a value keeps its HELP/TYPE and drops the sample");
    CHECK(strstr(t, "# HELP ckptd_things_total Things.\n# TYPE ckptd_things_total counter\n"),
          "HELP then TYPE before the sample");
    free(t);
    metrics_free(m);
    metrics_free(NULL);
    return CHECK_DONE();
}
