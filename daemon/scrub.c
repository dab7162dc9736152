/*
 * scrub.c - see scrub.h. One thread; the blob list comes from the index a
 * page at a time and each blob is hashed through one bounded buffer, so
 * memory does not grow with the store. Findings are confirmed under the
 * store's publish lock (store_blob_damaged): a blob deleted or stored anew
 * during the scrub is not a finding.
 */
#include "scrub.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

struct scrub {
    struct store *store;
    struct scrub_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stop, requested, running;
    struct scrub_run cur;
    bool has_last;
    struct scrub_run last;
    int64_t base_ms; /* the schedule counts from here (last finish or first start) */
    /* throttle state of the run in progress */
    int64_t run_t0_mono;
    uint64_t run_bytes;
};

static const char *const KEYS[] = {
    "scrub.last_started_ms",    "scrub.last_finished_ms",   "scrub.last_blobs_total",
    "scrub.last_blobs_checked", "scrub.last_bytes_checked", "scrub.last_corrupt_found",
    "scrub.last_missing_found",
};
#define N_KEYS (sizeof(KEYS) / sizeof(KEYS[0]))
#define BASELINE_KEY "scrub.baseline_ms"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on the condition until the monotonic time deadline_ms (or a
 * signal). Called with the lock held. */
static void wait_until(struct scrub *sc, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&sc->cond, &sc->lock, &ts);
}

static void load_last(struct scrub *sc)
{
    int64_t v[N_KEYS];
    for (size_t i = 0; i < N_KEYS; i++) {
        if (index_kv_get(sc->store->index, KEYS[i], &v[i]) < 0)
            return;
    }
    sc->has_last = true;
    sc->last = (struct scrub_run){
        .started_ms = v[0],
        .finished_ms = v[1],
        .blobs_total = (uint64_t)v[2],
        .blobs_checked = (uint64_t)v[3],
        .bytes_checked = (uint64_t)v[4],
        .corrupt_found = (uint64_t)v[5],
        .missing_found = (uint64_t)v[6],
    };
}

static void save_last(struct scrub *sc, const struct scrub_run *run)
{
    int64_t v[N_KEYS] = {
        run->started_ms,
        run->finished_ms,
        (int64_t)run->blobs_total,
        (int64_t)run->blobs_checked,
        (int64_t)run->bytes_checked,
        (int64_t)run->corrupt_found,
        (int64_t)run->missing_found,
    };
    int r = index_kv_set_many(sc->store->index, KEYS, v, N_KEYS);
    if (r < 0)
        log_error("scrub: cannot record the finished scrub in the index: %s", strerror(-r));
}

/* Called after each piece read: keeps the run at or below the rate, and
 * ends it at shutdown. */
static int throttle(void *ctx, size_t n)
{
    struct scrub *sc = ctx;
    int r = 0;

    pthread_mutex_lock(&sc->lock);
    sc->run_bytes += n;
    sc->cur.bytes_checked += n;
    if (sc->cfg.rate_bytes) {
        int64_t due = sc->run_t0_mono +
                      (int64_t)((double)sc->run_bytes * 1000.0 / (double)sc->cfg.rate_bytes);
        while (!sc->stop && mono_ms() < due)
            wait_until(sc, due);
    }
    if (sc->stop)
        r = -ECANCELED;
    pthread_mutex_unlock(&sc->lock);
    return r;
}

static void count_finding(struct scrub *sc, bool missing)
{
    pthread_mutex_lock(&sc->lock);
    if (missing)
        sc->cur.missing_found++;
    else
        sc->cur.corrupt_found++;
    pthread_mutex_unlock(&sc->lock);
}

/* Check one blob. -ECANCELED at shutdown; other failures are logged and
 * the scrub goes on (a read error is not proof of damage). */
static int check_blob(struct scrub *sc, const char *sha_hex, uint64_t size)
{
    struct store *s = sc->store;
    struct blob_stat st;
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    uint64_t got = 0, fsize;
    unsigned marked = 0;
    int fd, r = blobstore_open_blob(s->blobs, sha_hex, &fd, &fsize);

    if (r == -ENOENT) {
        r = store_blob_damaged(s, sha_hex, NULL, &marked);
        if (r == 1) {
            count_finding(sc, true);
            log_error("scrub: blob %s is missing: %u checkpoint(s) flagged corrupt", sha_hex,
                      marked);
        }
        pthread_mutex_lock(&sc->lock);
        sc->cur.blobs_checked++;
        pthread_mutex_unlock(&sc->lock);
        return 0;
    }
    if (r < 0) {
        log_error("scrub: cannot open blob %s: %s", sha_hex, strerror(-r));
        return 0;
    }
    int64_t started = real_ms();
    r = blobstore_stat_fd(fd, &st);
    if (r == 0 && st.size == size)
        r = blobstore_hash_fd(fd, throttle, sc, d, &got);
    close(fd);
    if (r == -ECANCELED)
        return r;
    if (r < 0) {
        log_error("scrub: cannot read blob %s: %s", sha_hex, strerror(-r));
        return 0;
    }
    if (st.size == size)
        digest_hex(d, hex);
    if (st.size == size && got == size && strcmp(hex, sha_hex) == 0) {
        /* Recorded as of the start of the read: a change while it ran
         * leaves a later ctime, so the blob counts as unverified. */
        index_set_blob_verified(s->index, sha_hex, started);
    } else {
        r = store_blob_damaged(s, sha_hex, &st, &marked);
        if (r == 1) {
            count_finding(sc, false);
            if (st.size != size)
                log_error("scrub: blob %s is %llu bytes, the index says %llu: moved to "
                          "quarantine/, %u checkpoint(s) flagged corrupt",
                          sha_hex, (unsigned long long)st.size, (unsigned long long)size, marked);
            else
                log_error("scrub: blob %s has SHA-256 %s: moved to quarantine/, %u "
                          "checkpoint(s) flagged corrupt",
                          sha_hex, hex, marked);
        }
    }
    pthread_mutex_lock(&sc->lock);
    sc->cur.blobs_checked++;
    pthread_mutex_unlock(&sc->lock);
    return 0;
}

int scrub_page_collect(void *ctx, const char *sha_hex, uint64_t size)
{
    struct scrub_page *p = ctx;
    memcpy(p->sha[p->n], sha_hex, SHA256_HEX_LEN + 1);
    p->size[p->n++] = size;
    return 0;
}

/* One full pass. Returns 0 when finished, -ECANCELED when stopped. */
static int run_scrub(struct scrub *sc)
{
    struct index_stats ist = {0};
    struct scrub_page *p = malloc(sizeof(*p));
    char after[SHA256_HEX_LEN + 1] = "";
    unsigned n = 0;
    int r = 0;

    if (!p)
        return -ENOMEM;
    index_stats(sc->store->index, &ist);
    pthread_mutex_lock(&sc->lock);
    sc->cur = (struct scrub_run){.started_ms = real_ms(), .blobs_total = (uint64_t)ist.blobs};
    sc->run_t0_mono = mono_ms();
    sc->run_bytes = 0;
    pthread_mutex_unlock(&sc->lock);
    log_info("scrub: started (%lld blobs)", (long long)ist.blobs);

    do {
        p->n = 0;
        /* Collected first: the page query holds a read snapshot, and a
         * finding writes to the index. */
        r = index_blobs_page(sc->store->index, after, SCRUB_PAGE, scrub_page_collect, p, &n);
        if (r < 0) {
            log_error("scrub: cannot list blobs: %s", strerror(-r));
            break;
        }
        for (unsigned i = 0; i < p->n && r == 0; i++)
            r = check_blob(sc, p->sha[i], p->size[i]);
        if (p->n)
            memcpy(after, p->sha[p->n - 1], sizeof(after));
    } while (r == 0 && n == SCRUB_PAGE);
    free(p);
    if (r < 0)
        return r;
    index_prune_verified(sc->store->index);
    pthread_mutex_lock(&sc->lock);
    sc->cur.finished_ms = real_ms();
    struct scrub_run done = sc->cur;
    pthread_mutex_unlock(&sc->lock);
    save_last(sc, &done);
    log_info("scrub: finished: %llu blobs, %llu bytes checked, %llu corrupt, %llu missing",
             (unsigned long long)done.blobs_checked, (unsigned long long)done.bytes_checked,
             (unsigned long long)done.corrupt_found, (unsigned long long)done.missing_found);
    return 0;
}

static int64_t next_due(const struct scrub *sc)
{
    return sc->cfg.interval_s > 0 ? sc->base_ms + sc->cfg.interval_s * 1000 : 0;
}

static void *scrub_thread(void *arg)
{
    struct scrub *sc = arg;

    pthread_mutex_lock(&sc->lock);
    while (!sc->stop) {
        int64_t due = next_due(sc), now = real_ms();
        if (!sc->requested && (!due || now < due)) {
            /* Wake at least once a minute: the wall clock may jump. */
            int64_t wait = due ? due - now : 60000;
            wait_until(sc, mono_ms() + (wait < 60000 ? wait : 60000));
            continue;
        }
        sc->requested = false;
        sc->running = true;
        pthread_mutex_unlock(&sc->lock);
        int r = run_scrub(sc);
        pthread_mutex_lock(&sc->lock);
        sc->running = false;
        if (r == 0) {
            sc->last = sc->cur;
            sc->has_last = true;
            sc->base_ms = sc->cur.finished_ms;
        } else if (r != -ECANCELED) {
            log_error("scrub: failed: %s", strerror(-r));
            sc->base_ms = real_ms(); /* try again one interval later */
        }
    }
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

void scrub_reconfigure(struct scrub *sc, const struct scrub_config *cfg)
{
    pthread_mutex_lock(&sc->lock);
    sc->cfg = *cfg;
    pthread_cond_signal(&sc->cond); /* the next scrub may be due sooner */
    pthread_mutex_unlock(&sc->lock);
}

int scrub_start(struct store *s, const struct scrub_config *cfg, struct scrub **out)
{
    struct scrub *sc = calloc(1, sizeof(*sc));
    pthread_condattr_t ca;
    int64_t base;
    int r;

    if (!sc)
        return -ENOMEM;
    sc->store = s;
    sc->cfg = *cfg;
    pthread_mutex_init(&sc->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cond, &ca);
    pthread_condattr_destroy(&ca);
    load_last(sc);
    if (sc->has_last) {
        sc->base_ms = sc->last.finished_ms;
    } else if (index_kv_get(s->index, BASELINE_KEY, &base) == 0) {
        sc->base_ms = base;
    } else {
        /* Never scrubbed: count the first interval from the first start,
         * and remember it, so restarts do not keep postponing it. */
        const char *key = BASELINE_KEY;
        sc->base_ms = real_ms();
        index_kv_set_many(s->index, &key, &sc->base_ms, 1);
    }
    r = pthread_create(&sc->thread, NULL, scrub_thread, sc);
    if (r == 0)
        pthread_setname_np(sc->thread, "ckptd-scrub");
    if (r != 0) {
        pthread_cond_destroy(&sc->cond);
        pthread_mutex_destroy(&sc->lock);
        free(sc);
        return -r;
    }
    *out = sc;
    return 0;
}

int scrub_request(struct scrub *sc)
{
    int r = 0;
    pthread_mutex_lock(&sc->lock);
    if (sc->stop)
        r = -ESHUTDOWN;
    else if (sc->running || sc->requested)
        r = -EBUSY;
    else
        sc->requested = true;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
    return r;
}

void scrub_get_status(struct scrub *sc, struct scrub_status *out)
{
    pthread_mutex_lock(&sc->lock);
    *out = (struct scrub_status){
        .running = sc->running || sc->requested,
        .current = sc->cur,
        .has_last = sc->has_last,
        .last = sc->last,
        .next_ms = sc->requested ? real_ms() : next_due(sc),
        .interval_s = sc->cfg.interval_s,
        .rate_bytes = sc->cfg.rate_bytes,
    };
    pthread_mutex_unlock(&sc->lock);
}

void scrub_stop(struct scrub *sc)
{
    if (!sc)
        return;
    pthread_mutex_lock(&sc->lock);
    sc->stop = true;
    pthread_cond_broadcast(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
    pthread_join(sc->thread, NULL);
    pthread_cond_destroy(&sc->cond);
    pthread_mutex_destroy(&sc->lock);
    free(sc);
}

int scrub_parse_interval(const char *text, int64_t *seconds)
{
    int64_t v = 0, unit = 1;
    const char *p = text;

    if (!*p)
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 10LL * 366 * 24 * 3600)
            return -EINVAL;
    }
    if (p == text)
        return -EINVAL;
    switch (*p) {
    case '\0': break;
    case 's':
        unit = 1;
        p++;
        break;
    case 'm':
        unit = 60;
        p++;
        break;
    case 'h':
        unit = 3600;
        p++;
        break;
    case 'd':
        unit = 86400;
        p++;
        break;
    default: return -EINVAL;
    }
    if (*p || v * unit > 10LL * 366 * 24 * 3600)
        return -EINVAL;
    *seconds = v * unit;
    return 0;
}

/* ---- /metrics ------------------------------------------------------------ */

static bool m_running(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = st.running;
    return true;
}

static bool m_blobs_checked(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.current.blobs_checked;
    return true;
}

static bool m_blobs_total(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.current.blobs_total;
    return true;
}

static bool m_bytes_checked(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.current.bytes_checked;
    return true;
}

static bool m_last_corrupt(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.last.corrupt_found;
    return st.has_last;
}

static bool m_last_missing(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.last.missing_found;
    return st.has_last;
}

static bool m_last_finished(void *ctx, double *v)
{
    struct scrub_status st;
    scrub_get_status(ctx, &st);
    *v = (double)st.last.finished_ms / 1000.0;
    return st.has_last;
}

int scrub_register_metrics(struct scrub *sc, struct metrics *m)
{
    static const struct {
        const char *name, *help;
        bool (*fn)(void *ctx, double *value);
    } gauges[] = {
        {"ckptd_scrub_running", "1 while a scrub runs, else 0.", m_running},
        {"ckptd_scrub_blobs_checked",
         "Blobs re-hashed by the scrub in progress (or the last one "
         "of this process).",
         m_blobs_checked},
        {"ckptd_scrub_blobs_total",
         "Blobs the scrub in progress (or the last one of this "
         "process) has to check.",
         m_blobs_total},
        {"ckptd_scrub_bytes_checked",
         "Bytes re-hashed by the scrub in progress (or the last one "
         "of this process).",
         m_bytes_checked},
        {"ckptd_scrub_last_corrupt_found", "Blobs the last completed scrub found corrupt.",
         m_last_corrupt},
        {"ckptd_scrub_last_missing_found", "Blobs the last completed scrub found missing.",
         m_last_missing},
        {"ckptd_scrub_last_finished_timestamp_seconds",
         "When the last completed scrub finished (Unix time).", m_last_finished},
    };
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        int r = metrics_gauge_fn(m, gauges[i].name, gauges[i].help, gauges[i].fn, sc);
        if (r < 0)
            return r;
    }
    return 0;
}
