/*
 * store_metrics.c - store_metrics.h: scrape-time callbacks over the store,
 * with the index totals cached so that frequent scrapes cost one scan per
 * METRICS_CACHE_MS at most.
 */
#include "store_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt_limits.h"

struct store_metrics {
    struct store *s;
    pthread_mutex_t lock; /* the cache */
    int64_t fetched_ms;   /* 0: never */
    bool valid;
    struct index_totals totals;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cached totals, refreshed when older than METRICS_CACHE_MS. */
static bool totals(struct store_metrics *sm, struct index_totals *out)
{
    int64_t now = mono_ms();
    bool ok;

    pthread_mutex_lock(&sm->lock);
    if (!sm->fetched_ms || now - sm->fetched_ms >= METRICS_CACHE_MS) {
        struct index_totals t;
        sm->valid = index_totals(sm->s->index, &t) == 0;
        if (sm->valid)
            sm->totals = t;
        sm->fetched_ms = now;
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
    };
    struct store_metrics *sm = calloc(1, sizeof(*sm));
    int r;

    if (!sm)
        return -ENOMEM;
    sm->s = s;
    pthread_mutex_init(&sm->lock, NULL);
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
    pthread_mutex_destroy(&sm->lock);
    free(sm);
}
