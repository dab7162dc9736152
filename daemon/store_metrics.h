/*
 * store_metrics.h - the store's gauges and counters for /metrics: what the
 * index holds (cached: counting scans every row), disk free, read-only,
 * fsync failures.
 */
#ifndef CKPTD_STORE_METRICS_H
#define CKPTD_STORE_METRICS_H

#include "metrics.h"
#include "store.h"

struct store_metrics;

/* Register the store's metrics in reg: ckptd_checkpoints,
 * ckptd_logical_bytes, ckptd_physical_bytes, ckptd_index_bytes (index
 * totals, computed by a thread this starts: a scrape finding them older
 * than METRICS_CACHE_MS starts a refresh and waits up to
 * METRICS_REFRESH_WAIT_MS for it, else reports the previous values),
 * ckptd_disk_free_bytes, ckptd_read_only, ckptd_fsync_failures_total.
 * s and reg are borrowed and must outlive *out; free *out (which stops the
 * thread) after the last scrape and before closing s. Returns 0 or a
 * negative errno; on failure the metrics already registered must not be
 * rendered any more (the caller exits). */
int store_metrics_new(struct store *s, struct metrics *reg, struct store_metrics **out);

/* NULL is a no-op. */
void store_metrics_free(struct store_metrics *sm);

#endif
