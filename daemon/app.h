/*
 * app.h - what the API handlers work with: the store, the worker pool for
 * blocking work, and the configured limits.
 */
#ifndef CKPTD_APP_H
#define CKPTD_APP_H

#include <stdint.h>

#include "auth.h"
#include "metrics.h"
#include "store.h"
#include "watch.h"
#include "workq.h"

struct scrub;

struct app {
    struct store *store;
    struct workq *workq;
    struct auth *auth;
    _Atomic uint64_t max_upload;      /* SIGHUP may change it while handlers read it */
    struct scrub *scrub;              /* NULL until started */
    struct metrics *metrics;          /* /metrics registry */
    struct metric *digest_mismatches; /* counters the handlers move */
    struct metric *uploads_in_flight; /* gauge */
    struct metric *qcache_hits;       /* answers served from qcache.h */
    struct metric *qcache_misses;
    struct watch *watch; /* long polls waiting for a commit */
};

#endif
