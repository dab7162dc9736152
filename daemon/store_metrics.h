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
 * totals, at most METRICS_CACHE_MS old), ckptd_disk_free_bytes,
 * ckptd_read_only, ckptd_fsync_failures_total. s and reg are borrowed and
 * must outlive *out; free *out after the last scrape. Returns 0 or a
 * negative errno. */
int store_metrics_new(struct store *s, struct metrics *reg, struct store_metrics **out);

/* NULL is a no-op. */
void store_metrics_free(struct store_metrics *sm);

#endif
