/*
 * checkpoint.h - the checkpoint record shared by the index, the store and
 * the API: what the client says about a blob plus what the server adds.
 */
#ifndef CKPTD_CHECKPOINT_H
#define CKPTD_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "ckpt_limits.h"

struct metric {
    char name[RUN_NAME_MAX + 1];
    double value;
};

/* Client-supplied metadata; values are validated before they get here. */
struct ckpt_meta {
    char run[RUN_NAME_MAX + 1];
    bool has_epoch, has_step, has_loss;
    int64_t epoch, step;
    double loss;
    size_t n_metrics;
    struct metric metrics[METRICS_MAX];
};

/* A committed checkpoint as the index stores it. */
struct ckpt_record {
    int64_t id;
    struct ckpt_meta meta;
    uint64_t size;
    char sha256[SHA256_HEX_LEN + 1];
    int64_t created_ms; /* milliseconds since the Unix epoch, UTC */
    bool corrupt;       /* blob missing or damaged: never served */
    bool pinned;        /* never dropped by retention */
};

/* One row of the run listing. */
struct run_summary {
    char run[RUN_NAME_MAX + 1];
    int64_t checkpoints;
    uint64_t bytes;
    bool has_best_loss, has_latest_epoch;
    double best_loss;
    int64_t latest_epoch;
    int64_t updated_ms;
};

#endif
