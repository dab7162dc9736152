/*
 * app.h - what the API handlers work with: the store, the worker pool for
 * blocking work, and the configured limits.
 */
#ifndef CKPTD_APP_H
#define CKPTD_APP_H

#include <stdint.h>

#include "auth.h"
#include "store.h"
#include "workq.h"

struct scrub;

struct app {
    struct store *store;
    struct workq *workq;
    struct auth *auth;
    uint64_t max_upload;
    struct scrub *scrub; /* NULL until started */
};

#endif
