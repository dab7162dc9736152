/*
 * app.h - what the API handlers work with: the store, the worker pool for
 * blocking work, and the configured limits.
 */
#ifndef CKPTD_APP_H
#define CKPTD_APP_H

#include <stdint.h>

#include "auth.h"
#include "store.h"
#include "watch.h"
#include "workq.h"

struct app {
    struct store *store;
    struct workq *workq;
    struct auth *auth;
    struct watch *watch; /* long polls waiting for a commit */
    uint64_t max_upload;
};

#endif
