/*
 * scrub.h - the integrity scrub: a background thread that re-reads every
 * blob the index refers to, on a schedule and on demand, and quarantines
 * (and flags corrupt) those whose bytes no longer match their SHA-256 name
 * or that are gone. Its schedule and last result live in the index, so
 * they survive restarts.
 */
#ifndef CKPTD_SCRUB_H
#define CKPTD_SCRUB_H

#include <stdbool.h>
#include <stdint.h>

#include "ckpt_limits.h"
#include "store.h"

struct scrub;

struct scrub_config {
    int64_t interval_s;  /* between the end of one scrub and the next; 0 = on demand only */
    uint64_t rate_bytes; /* bytes per second read at most; 0 = unlimited */
};

/* One scrub's numbers. */
struct scrub_run {
    int64_t started_ms, finished_ms; /* 0: not started / not finished */
    uint64_t blobs_total, blobs_checked, bytes_checked, corrupt_found, missing_found;
};

struct scrub_status {
    bool running;
    struct scrub_run current; /* the run in progress, or the last one of this process */
    bool has_last;
    struct scrub_run last; /* the last completed run, from the index */
    int64_t next_ms;       /* when the schedule starts the next one; 0 = never */
    int64_t interval_s;
    uint64_t rate_bytes;
};

/* One page of index_blobs_page (SCRUB_PAGE blobs), filled by
 * scrub_page_collect: the scrub and ckptd fsck walk the blobs this way. */
struct scrub_page {
    char sha[SCRUB_PAGE][SHA256_HEX_LEN + 1];
    uint64_t size[SCRUB_PAGE];
    unsigned n;
};
int scrub_page_collect(void *ctx, const char *sha_hex, uint64_t size);

/* Parse a --scrub-interval: a non-negative integer with an optional unit
 * s, m, h or d (seconds without one), at most 10 years. 0 or -EINVAL. */
int scrub_parse_interval(const char *text, int64_t *seconds);

/* Start the scrub thread for s (which must outlive it). It reads when the
 * last scrub finished from the index; with no record yet, the schedule
 * counts from now (and records that). 0 or a negative errno. */
int scrub_start(struct store *s, const struct scrub_config *cfg, struct scrub **out);

/* New interval and rate (SIGHUP), for the run in progress too. */
void scrub_reconfigure(struct scrub *sc, const struct scrub_config *cfg);

/* Start a scrub now. -EBUSY when one is running (it goes on), -ESHUTDOWN
 * while stopping. Thread-safe. */
int scrub_request(struct scrub *sc);

/* A consistent copy of the current state. Thread-safe. */
void scrub_get_status(struct scrub *sc, struct scrub_status *out);

/* Export the scrub's progress and findings on /metrics (ckptd_scrub_*).
 * 0 or a negative errno. */
struct metrics;
int scrub_register_metrics(struct scrub *sc, struct metrics *m);

/* Stop the thread (a scrub in progress stops within one read of
 * BLOB_READ_BYTES, and is not recorded as finished), join it and free.
 * NULL is a no-op. */
void scrub_stop(struct scrub *sc);

#endif
