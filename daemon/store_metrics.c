/*
 * store_metrics.c - store_metrics.h: scrape-time callbacks over the store,
 * with the index totals computed by a thread of their own and cached, so
 * that scrapes cost one scan per METRICS_CACHE_MS at most and never hold
 * an HTTP event thread for longer than METRICS_REFRESH_WAIT_MS.
 */
#include "store_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt_limits.h"

struct store_metrics {
    struct store *s;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t wake;  /* the refresher: a refresh is wanted, or stop */
    pthread_cond_t done;  /* scrapes: a refresh finished */
    pthread_t thread;
    bool started, stop, want, running;
    int64_t fetched_ms;  /* when the last refresh finished; 0: never */
    uint64_t generation; /* refreshes finished */
    bool valid;
    struct index_totals totals;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The index totals scan every checkpoint row (about 1.7 s for a million on
 * the test machine), so they are computed here, off the HTTP event
 * threads, whose other connections would otherwise stall for that long. */
static void *refresher(void *arg)
{
    struct store_metrics *sm = arg;

    pthread_mutex_lock(&sm->lock);
    for (;;) {
        while (!sm->stop && !sm->want)
            pthread_cond_wait(&sm->wake, &sm->lock);
        if (sm->stop)
            break;
        sm->want = false;
        sm->running = true;
        pthread_mutex_unlock(&sm->lock);
        struct index_totals t;
        int r = index_totals(sm->s->index, &t);
        pthread_mutex_lock(&sm->lock);
        sm->running = false;
        sm->valid = r == 0;
        if (r == 0)
            sm->totals = t;
        sm->fetched_ms = mono_ms();
        sm->generation++;
        pthread_cond_broadcast(&sm->done);
    }
    pthread_mutex_unlock(&sm->lock);
    return NULL;
}

/* The totals of the last refresh. When they are older than
 * METRICS_CACHE_MS and no refresh is under way, start one and wait up to
 * METRICS_REFRESH_WAIT_MS for it: a small index answers fresh, a large one
 * answers with the previous values rather than hold up the scrape. */
static bool totals(struct store_metrics *sm, struct index_totals *out)
{
    bool ok;

    pthread_mutex_lock(&sm->lock);
    if (!sm->want && !sm->running &&
        (!sm->fetched_ms || mono_ms() - sm->fetched_ms >= METRICS_CACHE_MS)) {
        uint64_t gen = sm->generation;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)METRICS_REFRESH_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        sm->want = true;
        pthread_cond_signal(&sm->wake);
        while (sm->generation == gen && pthread_cond_timedwait(&sm->done, &sm->lock, &until) == 0)
            ;
    }
    ok = sm->valid;
    *out = sm->totals;
    pthread_mutex_unlock(&sm->lock);
    return ok;
}

static bool get_checkpoints(void *ctx, double *v)
{
    struct index_totals t;
    if (!totals(ctx, &t))
        return false;
    *v = (double)t.checkpoints;
    return true;
}

static bool get_logical(void *ctx, double *v)
{
    struct index_totals t;
    if (!totals(ctx, &t))
        return false;
    *v = (double)t.logical_bytes;
    return true;
}

static bool get_physical(void *ctx, double *v)
{
    struct index_totals t;
    if (!totals(ctx, &t))
        return false;
    *v = (double)t.physical_bytes;
    return true;
}

static bool get_index_bytes(void *ctx, double *v)
{
    struct index_totals t;
    if (!totals(ctx, &t))
        return false;
    *v = (double)t.index_bytes;
    return true;
}

static bool get_disk_free(void *ctx, double *v)
{
    struct store_metrics *sm = ctx;
    uint64_t free_bytes;
    if (blobstore_free_space(sm->s->blobs, &free_bytes) < 0)
        return false;
    *v = (double)free_bytes;
    return true;
}

static bool get_read_only(void *ctx, double *v)
{
    struct store_metrics *sm = ctx;
    *v = store_read_only(sm->s) ? 1 : 0;
    return true;
}

static bool get_fsync_failures(void *ctx, double *v)
{
    struct store_metrics *sm = ctx;
    *v = (double)blobstore_sync_failures(sm->s->blobs);
    return true;
}

static bool get_commit_batches(void *ctx, double *v)
{
    struct store_metrics *sm = ctx;
    *v = (double)atomic_load_explicit(&sm->s->commit_batches, memory_order_relaxed);
    return true;
}

static bool get_commit_uploads(void *ctx, double *v)
{
    struct store_metrics *sm = ctx;
    *v = (double)atomic_load_explicit(&sm->s->commit_uploads, memory_order_relaxed);
    return true;
}

int store_metrics_new(struct store *s, struct metrics *reg, struct store_metrics **out)
{
    static const struct {
        bool counter;
        const char *name, *help;
        bool (*fn)(void *, double *);
    } list[] = {
        {false, "ckptd_checkpoints", "Checkpoints in the index (corrupt ones included).",
         get_checkpoints},
        {false, "ckptd_logical_bytes", "Sum of the sizes of all checkpoints, in bytes.",
         get_logical},
        {false, "ckptd_physical_bytes",
         "Bytes of distinct blobs the checkpoints use (identical uploads are stored once).",
         get_physical},
        {false, "ckptd_index_bytes", "Size of the index database file (WAL excluded), in bytes.",
         get_index_bytes},
        {false, "ckptd_disk_free_bytes",
         "Bytes available to the daemon on the filesystem of the data directory.", get_disk_free},
        {false, "ckptd_read_only",
         "1 once a failed fsync (or index write) made the server refuse writes until restart.",
         get_read_only},
        {true, "ckptd_fsync_failures_total",
         "fsync or fdatasync calls on blobs and their directories that failed.",
         get_fsync_failures},
        {true, "ckptd_commit_batches_total",
         "Group commits: index transactions that committed uploads together.", get_commit_batches},
        {true, "ckptd_commit_batch_uploads_total",
         "Uploads those group commits carried (each committed or refused on its own).",
         get_commit_uploads},
    };
    struct store_metrics *sm = calloc(1, sizeof(*sm));
    pthread_condattr_t ca;
    int r;

    if (!sm)
        return -ENOMEM;
    sm->s = s;
    pthread_mutex_init(&sm->lock, NULL);
    pthread_cond_init(&sm->wake, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sm->done, &ca);
    pthread_condattr_destroy(&ca);
    /* No refresh until the first scrape asks: a daemon nobody scrapes does
     * no extra work (and its allocator state is what it was without this
     * thread, which 76_syscall_faults.sh's counting of calls relies on). */
    r = -pthread_create(&sm->thread, NULL, refresher, sm);
    if (r == 0)
        pthread_setname_np(sm->thread, "ckptd-metrics");
    if (r < 0) {
        store_metrics_free(sm);
        return r;
    }
    sm->started = true;
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        r = list[i].counter ? metrics_counter_fn(reg, list[i].name, list[i].help, list[i].fn, sm)
                            : metrics_gauge_fn(reg, list[i].name, list[i].help, list[i].fn, sm);
        if (r < 0) {
            store_metrics_free(sm);
            return r;
        }
    }
    *out = sm;
    return 0;
}

void store_metrics_free(struct store_metrics *sm)
{
    if (!sm)
        return;
    if (sm->started) {
        pthread_mutex_lock(&sm->lock);
        sm->stop = true;
        pthread_cond_signal(&sm->wake);
        pthread_mutex_unlock(&sm->lock);
        pthread_join(sm->thread, NULL);
    }
    pthread_cond_destroy(&sm->wake);
    pthread_cond_destroy(&sm->done);
    pthread_mutex_destroy(&sm->lock);
    free(sm);
}
