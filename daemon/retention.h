/*
 * retention.h - retention policies: parsing and printing their JSON, and
 * the pure decision of which checkpoints of a run to keep. No I/O, no SQL:
 * the index loads the run's state, asks retention_evaluate, and deletes.
 */
#ifndef CKPTD_RETENTION_H
#define CKPTD_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt_limits.h"
#include "json.h"

/* One keep_best rule: the k best checkpoints by metric ("loss" or a metric
 * name), lowest first unless maximize. */
struct policy_best {
    char metric[RUN_NAME_MAX + 1];
    bool maximize;
    unsigned k;
};

/* A union of rules: a checkpoint is kept when any rule keeps it. A zero
 * count means the rule is absent. */
struct policy {
    unsigned keep_last;
    size_t n_best;
    struct policy_best best[POLICY_BEST_MAX];
    unsigned every_n;  /* keep_every: field value a multiple of every_n */
    bool every_step;   /* field "step" (else "epoch") */
    unsigned within_n; /* keep_within: within_n units ... */
    char within_unit;  /* 's', 'm', 'h' or 'd' */
};

/* Parse a policy body text[0..len) (JSON, see proto/API.md). On failure
 * returns -EINVAL and writes a message naming the offending member to err
 * (err_size bytes); *out is untouched. Pure. */
int policy_parse(const char *text, size_t len, struct policy *out, char *err, size_t err_size);

/* Append the canonical JSON object of p to j; policy_parse reads it back
 * to the same policy. */
void policy_json(struct json *j, const struct policy *p);

/* keep_within as milliseconds; 0 when the rule is absent. */
int64_t policy_within_ms(const struct policy *p);

/* What retention knows of one checkpoint. The caller fills the inputs;
 * retention_evaluate fills the outputs. value[i]/has_value[i] is the
 * checkpoint's value of policy best[i]'s metric. aliases are the user
 * aliases that point at it (borrowed strings). */
struct ret_item {
    int64_t id;
    int64_t created_ms;
    bool corrupt, pinned, leased;
    bool has_epoch, has_step;
    int64_t epoch, step;
    bool has_value[POLICY_BEST_MAX];
    double value[POLICY_BEST_MAX];
    const char **aliases;
    size_t n_aliases;

    /* outputs */
    bool keep;
    bool latest;                         /* the newest checkpoint that is not corrupt */
    unsigned best_rank[POLICY_BEST_MAX]; /* 1..k when best[i] keeps it, else 0 */
    unsigned last_rank;                  /* 1..keep_last when keep_last keeps it */
    bool every, within;
};

/* Decide keep or drop for items[0..n), which must be sorted by ascending
 * id. Always kept: the latest (highest id not corrupt), pinned, aliased and
 * leased checkpoints. p NULL means no policy: everything is kept. The rules
 * rank only checkpoints that are not corrupt; best ties go to the newest.
 * keep_within keeps checkpoints created at or after now_ms minus its span.
 * Pure: touches nothing but the items' outputs. */
void retention_evaluate(const struct policy *p, int64_t now_ms, struct ret_item *items, size_t n);

/* Call fn once per reason that keeps it ("latest", "pinned",
 * "alias NAME", "lease", "best R of K by METRIC", "last R of N",
 * "every N epoch", "within 48h", "no policy"), in that order; none for a
 * dropped checkpoint. */
void retention_reasons(const struct policy *p, const struct ret_item *it,
                       void (*fn)(void *ctx, const char *reason), void *ctx);

#endif
