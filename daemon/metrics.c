/*
 * metrics.c - metrics.h: fixed arrays of atomic counters for the HTTP
 * request families (bounded: routes x methods x statuses), a list of
 * registered metrics, and the text exposition format 0.0.4.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "json.h"
#include "log.h"

#define STATUS_SLOTS 600            /* 0 (no response sent) and 100..599 */
#define METRICS_TEXT_MAX (8u << 20) /* the largest exposition we build */
#define HELP_MAX 200                /* bytes of help text per metric */

/* Request-duration buckets, seconds: 1 ms to 60 s. */
static const char *const bucket_text[] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                          "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                          "2.5",   "5",      "10",    "30",   "60"};
static const double bucket_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5,   1,      2.5,   5,    10,    30,   60};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

static const char *const method_names[MM_COUNT] = {"GET", "HEAD", "PUT", "POST", "DELETE", "OTHER"};

enum kind { K_COUNTER, K_GAUGE };

struct metric {
    struct metric *next;
    char *name, *help;
    enum kind kind;
    atomic_int_fast64_t value;
    bool (*fn)(void *ctx, double *value); /* NULL: value above */
    void *ctx;
};

/* Per route: the histogram (one slot per bucket plus +Inf, not
 * cumulative: cumulated at scrape), the sum in microseconds, and bytes. */
struct route_stats {
    atomic_uint_fast64_t bucket[N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t bytes_in, bytes_out;
};

struct metrics {
    char *version;
    double start_time;
    size_t n_routes; /* plus one for "other" */
    const char *const *route_names;
    /* Routes that share a pattern (one per method group) share a label:
     * label[r] is the first route with r's pattern; label[n_routes] is
     * "other". Series are kept per label. */
    size_t *label;
    atomic_uint_fast64_t *requests; /* [route][method][status slot] */
    struct route_stats *routes;     /* [route] */
    pthread_mutex_t lock;           /* the registered list */
    struct metric *head, **tail;
};

bool metrics_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p > name && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

int metrics_new(const char *version, size_t n_routes, const char *const *route_names,
                struct metrics **out)
{
    struct metrics *m = calloc(1, sizeof(*m));
    struct timeval tv;

    if (!m)
        return -ENOMEM;
    m->n_routes = n_routes;
    m->route_names = route_names;
    m->version = strdup(version);
    m->requests = calloc((n_routes + 1) * MM_COUNT * STATUS_SLOTS, sizeof(*m->requests));
    m->routes = calloc(n_routes + 1, sizeof(*m->routes));
    m->label = calloc(n_routes + 1, sizeof(*m->label));
    if (!m->version || !m->requests || !m->routes || !m->label) {
        free(m->label);
        free(m->version);
        free(m->requests);
        free(m->routes);
        free(m);
        return -ENOMEM;
    }
    for (size_t r = 0; r <= n_routes; r++) {
        m->label[r] = r;
        for (size_t q = 0; r < n_routes && q < r; q++) {
            if (strcmp(route_names[q], route_names[r]) == 0) {
                m->label[r] = q;
                break;
            }
        }
    }
    gettimeofday(&tv, NULL);
    m->start_time = (double)tv.tv_sec + (double)(tv.tv_usec - tv.tv_usec % 1000) / 1e6; /* ms */
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->head;
    *out = m;
    return 0;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (struct metric *x = m->head, *next; x; x = next) {
        next = x->next;
        free(x->name);
        free(x->help);
        free(x);
    }
    pthread_mutex_destroy(&m->lock);
    free(m->version);
    free(m->requests);
    free(m->routes);
    free(m->label);
    free(m);
}

void metrics_request(struct metrics *m, size_t route, enum metrics_method method, unsigned status,
                     uint64_t bytes_in, uint64_t bytes_out, double seconds)
{
    size_t b;

    if (!m)
        return;
    if (route > m->n_routes)
        route = m->n_routes;
    route = m->label[route];
    if ((unsigned)method >= MM_COUNT)
        method = MM_OTHER;
    if (status < STATUS_SLOTS && (status == 0 || status >= 100))
        atomic_fetch_add_explicit(&m->requests[(route * MM_COUNT + method) * STATUS_SLOTS + status],
                                  1, memory_order_relaxed);
    struct route_stats *rs = &m->routes[route];
    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    for (b = 0; b < N_BUCKETS && seconds > bucket_le[b]; b++)
        ;
    atomic_fetch_add_explicit(&rs->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->sum_us, (uint64_t)llround(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->bytes_in, bytes_in, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->bytes_out, bytes_out, memory_order_relaxed);
}

static int add_metric(struct metrics *m, const char *name, const char *help, enum kind kind,
                      bool (*fn)(void *, double *), void *ctx, struct metric **out)
{
    struct metric *x;

    if (!metrics_name_ok(name) || !help || strchr(help, '\n') || strlen(help) > HELP_MAX) {
        log_error("metrics: refusing to register '%s': bad name or help text", name ? name : "");
        return -EINVAL;
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->name = strdup(name);
    x->help = strdup(help);
    if (!x->name || !x->help) {
        free(x->name);
        free(x->help);
        free(x);
        return -ENOMEM;
    }
    x->kind = kind;
    x->fn = fn;
    x->ctx = ctx;
    pthread_mutex_lock(&m->lock);
    for (struct metric *y = m->head; y; y = y->next) {
        if (strcmp(y->name, name) == 0) {
            pthread_mutex_unlock(&m->lock);
            log_error("metrics: '%s' is registered twice", name);
            free(x->name);
            free(x->help);
            free(x);
            return -EINVAL;
        }
    }
    *m->tail = x;
    m->tail = &x->next;
    pthread_mutex_unlock(&m->lock);
    if (out)
        *out = x;
    return 0;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help)
{
    struct metric *x = NULL;
    return add_metric(m, name, help, K_COUNTER, NULL, NULL, &x) == 0 ? x : NULL;
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
    struct metric *x = NULL;
    return add_metric(m, name, help, K_GAUGE, NULL, NULL, &x) == 0 ? x : NULL;
}

int metrics_counter_fn(struct metrics *m, const char *name, const char *help,
                       bool (*fn)(void *ctx, double *value), void *ctx)
{
    return add_metric(m, name, help, K_COUNTER, fn, ctx, NULL);
}

int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                     bool (*fn)(void *ctx, double *value), void *ctx)
{
    return add_metric(m, name, help, K_GAUGE, fn, ctx, NULL);
}

void metric_add(struct metric *c, int64_t delta)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, delta, memory_order_relaxed);
}

void metric_set(struct metric *g, int64_t value)
{
    if (g)
        atomic_store_explicit(&g->value, value, memory_order_relaxed);
}

/* ---- exposition -------------------------------------------------------- */

static void put(struct json *t, const char *s)
{
    json_raw(t, s);
}

static void putf(struct json *t, const char *fmt, ...) LOG_PRINTF(2, 3);

static void putf(struct json *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_raw(t, buf);
}

/* A label value with \\, \" and \n escaped, as the format requires. */
static void put_label(struct json *t, const char *v)
{
    char one[2] = {0, 0};
    put(t, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            put(t, "\\\\");
        else if (*p == '"')
            put(t, "\\\"");
        else if (*p == '\n')
            put(t, "\\n");
        else {
            one[0] = *p;
            put(t, one);
        }
    }
    put(t, "\"");
}

static void put_head(struct json *t, const char *name, const char *type, const char *help)
{
    putf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A float sample value: integers exactly, others with enough digits to
 * read back the same double; NaN and infinities as the format spells them. */
static void put_value(struct json *t, double v)
{
    if (isnan(v))
        put(t, "NaN");
    else if (isinf(v))
        put(t, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        putf(t, "%.0f", v);
    else
        putf(t, "%.17g", v);
}

static const char *route_name(const struct metrics *m, size_t r)
{
    return r < m->n_routes ? m->route_names[r] : "other";
}

static void render_http(struct metrics *m, struct json *t)
{
    size_t nr = m->n_routes + 1;

    put_head(t, "ckptd_http_requests_total", "counter",
             "HTTP requests completed, by route pattern, method and status.");
    for (size_t r = 0; r < nr; r++) {
        if (m->label[r] != r)
            continue;
        for (size_t meth = 0; meth < MM_COUNT; meth++) {
            for (size_t s = 0; s < STATUS_SLOTS; s++) {
                uint64_t n = atomic_load_explicit(
                    &m->requests[(r * MM_COUNT + meth) * STATUS_SLOTS + s], memory_order_relaxed);
                if (!n)
                    continue;
                put(t, "ckptd_http_requests_total{route=");
                put_label(t, route_name(m, r));
                putf(t, ",method=\"%s\",status=\"%zu\"} %" PRIu64 "\n", method_names[meth], s, n);
            }
        }
    }

    put_head(t, "ckptd_http_request_duration_seconds", "histogram",
             "Time from the request line to the end of the response, by route pattern.");
    for (size_t r = 0; r < nr; r++) {
        struct route_stats *rs = &m->routes[r];
        if (m->label[r] != r)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += atomic_load_explicit(&rs->bucket[b], memory_order_relaxed);
            put(t, "ckptd_http_request_duration_seconds_bucket{route=");
            put_label(t, route_name(m, r));
            putf(t, ",le=\"%s\"} %" PRIu64 "\n", b < N_BUCKETS ? bucket_text[b] : "+Inf", cum);
        }
        put(t, "ckptd_http_request_duration_seconds_sum{route=");
        put_label(t, route_name(m, r));
        uint64_t us = atomic_load_explicit(&rs->sum_us, memory_order_relaxed);
        putf(t, "} %" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
        put(t, "ckptd_http_request_duration_seconds_count{route=");
        put_label(t, route_name(m, r));
        /* The +Inf bucket's cumulative count, not a separate counter: the
         * two can never disagree in one scrape. */
        putf(t, "} %" PRIu64 "\n", cum);
    }

    static const struct {
        const char *name, *help;
        size_t offset;
    } bytes[] = {
        {"ckptd_http_request_bytes_total", "Request body bytes received, by route pattern.",
         offsetof(struct route_stats, bytes_in)},
        {"ckptd_http_response_bytes_total",
         "Response body bytes queued for sending, by route pattern.",
         offsetof(struct route_stats, bytes_out)},
    };
    for (size_t i = 0; i < 2; i++) {
        put_head(t, bytes[i].name, "counter", bytes[i].help);
        for (size_t r = 0; r < nr; r++) {
            if (m->label[r] != r)
                continue;
            atomic_uint_fast64_t *v =
                (atomic_uint_fast64_t *)(void *)((char *)&m->routes[r] + bytes[i].offset);
            putf(t, "%s{route=", bytes[i].name);
            put_label(t, route_name(m, r));
            putf(t, "} %" PRIu64 "\n", (uint64_t)atomic_load_explicit(v, memory_order_relaxed));
        }
    }
}

char *metrics_render(struct metrics *m, size_t *len)
{
    struct json t;

    json_init(&t, METRICS_TEXT_MAX);
    put_head(&t, "ckptd_build_info", "gauge", "Always 1; the labels describe this build.");
    put(&t, "ckptd_build_info{version=");
    put_label(&t, m->version);
    put(&t, "} 1\n");
    put_head(&t, "ckptd_start_time_seconds", "gauge",
             "When this process started, in seconds since the Unix epoch.");
    put(&t, "ckptd_start_time_seconds ");
    put_value(&t, m->start_time);
    put(&t, "\n");
    render_http(m, &t);

    /* Registered metrics. The lock only keeps the list still; callbacks
     * run under it, so they must not register metrics themselves. */
    pthread_mutex_lock(&m->lock);
    for (struct metric *x = m->head; x; x = x->next) {
        double v;
        put_head(&t, x->name, x->kind == K_COUNTER ? "counter" : "gauge", x->help);
        if (x->fn) {
            if (!x->fn(x->ctx, &v))
                continue;
        } else {
            v = (double)atomic_load_explicit(&x->value, memory_order_relaxed);
        }
        putf(&t, "%s ", x->name);
        put_value(&t, v);
        put(&t, "\n");
    }
    pthread_mutex_unlock(&m->lock);
    return json_detach(&t, len);
}
