/*
 * metrics.h - the daemon's metrics registry and its Prometheus text
 * exposition (format 0.0.4) for GET /metrics. Counters on the request path
 * are C11 atomics (no lock); values owned by other modules are read by
 * callbacks at scrape time.
 *
 * The daemon's registry is app->metrics (daemon/app.h), made in main()
 * before the server starts and freed after it stops.
 * Registering a metric (for modules added later, e.g. a scrubber):
 *     struct metric *m = metrics_counter(reg, "ckptd_scrub_blobs_checked_total",
 *                                        "Blobs whose SHA-256 the scrubber re-checked.");
 *     metric_add(m, 1);                      -- from any thread, lock-free
 * or, for a value another module already keeps,
 *     metrics_gauge_fn(reg, "ckptd_scrub_running", "1 while a scrub runs.", read_fn, ctx);
 * Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, start with "ckptd_", be in
 * base units (seconds, bytes) and end in _total for counters; help text is
 * one line. Only export what is real: no placeholders.
 */
#ifndef CKPTD_METRICS_H
#define CKPTD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric;

/* Methods as the request counters label them. */
enum metrics_method { MM_GET, MM_HEAD, MM_PUT, MM_POST, MM_DELETE, MM_OTHER, MM_COUNT };

/* A new registry for n_routes routes named by route_names (borrowed: they
 * must outlive the registry; the patterns of the route table), plus the
 * label "other" for requests that matched no route. version goes into
 * ckptd_build_info. Returns 0 or -ENOMEM. */
int metrics_new(const char *version, size_t n_routes, const char *const *route_names,
                struct metrics **out);

/* Free the registry and every metric in it; NULL is a no-op. No other
 * thread may use it any more. */
void metrics_free(struct metrics *m);

/* Count one completed HTTP request. route is 0..n_routes-1, or n_routes
 * (or more) for "other"; status 100..599, or 0 when no response was sent
 * (the client went away, a timeout); others are not counted in
 * ckptd_http_requests_total. Lock-free; thread-safe. */
void metrics_request(struct metrics *m, size_t route, enum metrics_method method, unsigned status,
                     uint64_t bytes_in, uint64_t bytes_out, double seconds);

/* Register a counter or gauge the caller updates with metric_add / metric_set.
 * The registry owns it. NULL when out of memory, when the name is invalid
 * or taken (a programming error: logged). Thread-safe. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help);

/* Add to a counter (or gauge: delta may be negative for gauges only) and
 * set a gauge. NULL metric is a no-op, so a failed registration never
 * crashes a hot path. Lock-free; thread-safe. */
void metric_add(struct metric *c, int64_t delta);
void metric_set(struct metric *g, int64_t value);

/* Register a counter or gauge whose value fn(ctx) computes at each scrape
 * (from the thread serving /metrics: keep it quick, cache slow queries).
 * fn returns false when the value is unknown right now; the sample is then
 * left out of that scrape. Returns 0, -EINVAL (bad or taken name) or
 * -ENOMEM. Thread-safe. */
int metrics_counter_fn(struct metrics *m, const char *name, const char *help,
                       bool (*fn)(void *ctx, double *value), void *ctx);
int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                     bool (*fn)(void *ctx, double *value), void *ctx);

/* The whole exposition as text (caller frees), its length in *len. NULL
 * when out of memory. Thread-safe; counters read while others update them
 * are each exact, and a histogram's _count always equals its +Inf bucket. */
char *metrics_render(struct metrics *m, size_t *len);

/* Whether name is a valid Prometheus metric name. Pure. */
bool metrics_name_ok(const char *name);

#endif
