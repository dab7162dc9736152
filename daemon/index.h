/*
 * index.h - the checkpoint index: metadata, queries, and which blobs are
 * referenced. Today SQLite (WAL, one writer, a pool of readers); the
 * interface is what a PostgreSQL backend will implement.
 * All functions are thread-safe. They return 0 or a negative errno:
 * -ENOENT (no such checkpoint or run), -ENODATA (the run exists but nothing
 * in it has the requested metric), -EBUSY (lock timeout), -ENOSPC, -ENOMEM,
 * -EIO (anything else; the SQLite message is logged).
 */
#ifndef CKPTD_INDEX_H
#define CKPTD_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "parse.h"

struct index;

/* Open or create the index at path, applying pending migrations in one
 * transaction, then PRAGMA quick_check. readers is the number of
 * concurrent read connections. -EPROTO when the file was written by a
 * newer schema than this binary, -EUCLEAN when quick_check fails. */
int index_open(const char *path, unsigned readers, struct index **out);

/* Close all connections; NULL is a no-op. No call may be in progress. */
void index_close(struct index *ix);

/* A number that changes after every write to the index this process makes
 * (insert, delete, pin, policy, verification, ...), by the time the writing
 * call returns. A reader that loads it before a query and finds it unchanged
 * later knows the query's answer still holds (where SQLite cannot keep a WAL,
 * it changes on every call, so that nothing is ever taken for current). It
 * covers this process only: the SQLite index has one writing process (the
 * data directory's lock); a shared backend must make it count every
 * instance's writes. */
uint64_t index_generation(struct index *ix);

/* 0 when the index answers a trivial query. */
int index_ping(struct index *ix);

/* Insert a committed checkpoint with the given blob and time; fills *out
 * with the stored record (id assigned). */
int index_insert(struct index *ix, const struct ckpt_meta *meta, uint64_t size, const char *sha_hex,
                 int64_t created_ms, struct ckpt_record *out);

/* Remove checkpoint id. On success *sha_hex gets its blob's digest and
 * *unreferenced is true when no other checkpoint uses that blob. */
int index_delete(struct index *ix, int64_t id, char sha_hex[SHA256_HEX_LEN + 1],
                 bool *unreferenced);

int index_get(struct index *ix, int64_t id, struct ckpt_record *out);

/* The most recently committed checkpoint of run. */
int index_latest(struct index *ix, const char *run, struct ckpt_record *out);

/* The checkpoint of run with the lowest (or, with maximize, highest) value
 * of metric ("loss" or a metric name); ties go to the newest. */
int index_best(struct index *ix, const char *run, const char *metric, bool maximize,
               struct ckpt_record *out);

enum list_order { ORDER_CREATED, ORDER_EPOCH, ORDER_STEP, ORDER_LOSS, ORDER_METRIC };

struct list_query {
    const char *run;
    enum list_order order;
    const char *metric; /* for ORDER_METRIC */
    bool desc;
    unsigned limit; /* 1..LIST_LIMIT_MAX */
    bool has_after, has_min_epoch, has_max_epoch;
    struct cursor after;
    int64_t min_epoch, max_epoch;
};

/* Call fn for each checkpoint of one page, in order; fn returning non-zero
 * stops the listing and becomes the result. *has_next tells whether more
 * rows follow, and *next is then the cursor of the page's last row.
 * -ENOENT when the run has no checkpoints at all; -EINVAL when the cursor's
 * kind does not fit the order. */
int index_list(struct index *ix, const struct list_query *q,
               int (*fn)(void *ctx, const struct ckpt_record *rec), void *ctx, bool *has_next,
               struct cursor *next);

/* Call fn for every run, sorted by name. */
int index_runs(struct index *ix, int (*fn)(void *ctx, const struct run_summary *run), void *ctx);

/* *referenced tells whether any checkpoint uses the blob sha_hex. */
int index_blob_referenced(struct index *ix, const char *sha_hex, bool *referenced);

/* Flag every checkpoint stored as blob sha_hex corrupt: never served,
 * skipped by best and latest. *marked (may be NULL) gets how many rows
 * changed. */
int index_mark_corrupt(struct index *ix, const char *sha_hex, unsigned *marked);

/* Call fn once for every blob that healthy checkpoints refer to, with the
 * size the index expects. fn runs with a read snapshot held: it must not
 * write to the index (collect, then write). */
int index_each_blob(struct index *ix, int (*fn)(void *ctx, const char *sha_hex, uint64_t size),
                    void *ctx);

/* True once a write transaction failed with an I/O error or a full disk
 * in the middle: its outcome is unknown until the next open replays or
 * drops it, so callers stop writing. */
bool index_write_failed(struct index *ix);

/* Totals for monitoring: checkpoints, the sum of their sizes (logical
 * bytes), the sum of the sizes of the distinct blobs they use (physical
 * bytes: identical uploads are stored once) and the size of the index
 * database file (page count x page size; the WAL is not included). One
 * read snapshot; it scans every row, so callers cache the result. */
struct index_totals {
    uint64_t checkpoints, logical_bytes, physical_bytes, index_bytes;
};
int index_totals(struct index *ix, struct index_totals *out);
/* ---- lifecycle: retention, pins, aliases, leases (issue 5) ------------- */

struct policy;
struct ret_item;

/* Checkpoints a retention pass removed from the index. unreferenced: no
 * checkpoint left uses the blob, so the caller may unlink it (after the
 * transaction committed, under the store's publish lock). */
struct dropped {
    int64_t id;
    char sha256[SHA256_HEX_LEN + 1];
    bool unreferenced;
};

struct drop_list {
    struct dropped *v;
    size_t n, cap;
};

/* Free the list's entries and leave it empty; NULL is a no-op. */
void index_drop_list_free(struct drop_list *d);

/* index_insert, then apply the run's retention policy (its own, else
 * dflt, else none) in the same transaction: a crash leaves either the old
 * state or the new row with the policy applied. *dropped (empty on entry)
 * gets what was removed; it is emptied again on failure. */
int index_insert_retain(struct index *ix, const struct ckpt_meta *meta, uint64_t size,
                        const char *sha_hex, int64_t created_ms, const struct policy *dflt,
                        struct ckpt_record *out, struct drop_list *dropped);

/* One checkpoint of a group commit (index_insert_batch). */
struct index_insert_item {
    const struct ckpt_meta *meta;
    uint64_t size;
    const char *sha_hex;
    int64_t created_ms;
    struct ckpt_record *out;  /* filled on success */
    struct drop_list dropped; /* what its run's retention removed */
    int result;               /* in: < 0 skips the item; out: 0 or -errno */
};

/* Insert items[0..n) in one write transaction, so n checkpoints cost one
 * WAL sync: group commit. Each item gets the rows index_insert_retain
 * would write (retention when asked, after its own insert, seeing the
 * items before it). An item that fails is rolled back to its savepoint
 * alone (result < 0, dropped empty); if the transaction itself fails,
 * every item does, with the same error. */
void index_insert_batch(struct index *ix, struct index_insert_item *items, size_t n,
                        const struct policy *dflt, bool retention);

/* The run's own policy; -ENOENT when it has none. */
int index_policy_get(struct index *ix, const char *run, struct policy *out);

/* Store p as run's policy and apply it at once, in one transaction;
 * *dropped as for index_insert_retain. */
int index_policy_set(struct index *ix, const char *run, const struct policy *p, int64_t now_ms,
                     struct drop_list *dropped);

/* Remove run's own policy; -ENOENT when it has none. */
int index_policy_delete(struct index *ix, const char *run);

/* Evaluate run's policy (its own, else dflt) as of now_ms without changing
 * anything, and hand the result to fn (p NULL: no policy; own: the run's
 * own). -ENOENT when the run has no checkpoints. */
int index_plan(struct index *ix, const char *run, const struct policy *dflt, int64_t now_ms,
               int (*fn)(void *ctx, const struct policy *p, bool own, const struct ret_item *items,
                         size_t n),
               void *ctx);

/* Pin or unpin checkpoint id (idempotent); -ENOENT. */
int index_set_pinned(struct index *ix, int64_t id, bool pinned);

/* Record lease (its text id) on checkpoint id until expires_ms; -ENOENT
 * when there is no such checkpoint. */
int index_lease_add(struct index *ix, const char *lease, int64_t id, int64_t expires_ms);

/* Release a lease; -ENOENT when there is no such lease. */
int index_lease_delete(struct index *ix, const char *lease);

struct alias_row {
    char name[RUN_NAME_MAX + 1];
    int64_t id;
    int64_t updated_ms;
};

#define ALIAS_EXPECT_ANY (-1) /* no precondition */
#define ALIAS_EXPECT_ABSENT 0 /* If-None-Match: * */

/* User alias name of run; -ENOENT. */
int index_alias_get(struct index *ix, const char *run, const char *name, struct alias_row *out);

/* Call fn for each user alias of run, by name. */
int index_alias_list(struct index *ix, const char *run,
                     int (*fn)(void *ctx, const struct alias_row *a), void *ctx);

/* Point alias name of run at checkpoint id, atomically checking expect
 * (ALIAS_EXPECT_ANY, ALIAS_EXPECT_ABSENT, or the id it must point at now).
 * *previous gets the id it pointed at (0: none). -ENOENT when id is not a
 * checkpoint of run, -EUCLEAN when it is corrupt, -ESTALE when expect
 * does not hold. */
int index_alias_set(struct index *ix, const char *run, const char *name, int64_t id, int64_t expect,
                    int64_t now_ms, int64_t *previous);

/* Remove alias name of run, checking expect as above. -ENOENT, -ESTALE. */
int index_alias_delete(struct index *ix, const char *run, const char *name, int64_t expect);

/* *known: the run has checkpoints or user aliases. */
int index_run_known(struct index *ix, const char *run, bool *known);

/* ---- tokens ------------------------------------------------------------ */

enum role { ROLE_READ = 1, ROLE_WRITE = 2, ROLE_ADMIN = 3 };

#define TOKEN_ID_MAX 32
#define TOKEN_NAME_MAX 128

struct token_row {
    char id[TOKEN_ID_MAX + 1];
    char name[TOKEN_NAME_MAX + 1];
    enum role role;
    char run_prefix[RUN_NAME_MAX + 1];
    uint8_t secret_sha256[SHA256_LEN];
    int64_t created_ms;
    bool revoked;
    int64_t revoked_ms;
};

/* Store a new token. -EEXIST when the id is taken. */
int index_token_add(struct index *ix, const struct token_row *t);

/* The token with this id, revoked or not; -ENOENT. */
int index_token_get(struct index *ix, const char *id, struct token_row *out);

/* Mark token id revoked at now_ms; -ENOENT when there is no such token,
 * -EALREADY when it was revoked before. */
int index_token_revoke(struct index *ix, const char *id, int64_t now_ms);

/* Call fn for every token, oldest first. */
int index_token_list(struct index *ix, int (*fn)(void *ctx, const struct token_row *t), void *ctx);

/* *any is true when at least one token (revoked or not) exists: then
 * every request but /healthz must authenticate. */
int index_tokens_exist(struct index *ix, bool *any);

/* ---- backup ------------------------------------------------------------ */

struct index_backup_stats {
    uint64_t checkpoints; /* rows in the backup */
    uint64_t blobs;       /* distinct blobs they refer to */
    uint64_t tokens;      /* tokens copied (revoked ones included) */
    uint64_t dropped;     /* rows left out: their blob was deleted after the snapshot */
};

/* Copy the index file src_path (which another process may be writing) to
 * the new file dst_path as one consistent snapshot, then call fn once for
 * every blob a checkpoint of the copy refers to (corrupt ones included),
 * with the size the index records. fn returns 0 once the blob is safely in
 * the backup, -ENOENT when it is gone from the store (deleted after the
 * snapshot: those checkpoints are removed from the copy and counted in
 * dropped), or another negative errno, which stops the backup and is
 * returned. Opens src read-only and never writes to it. -ENOENT when
 * src_path does not exist. On success fills *stats; on failure dst_path
 * may exist half-written: the caller discards it. */
int index_backup(const char *src_path, const char *dst_path,
                 int (*fn)(void *ctx, const char *sha_hex, uint64_t size), void *ctx,
                 struct index_backup_stats *stats);

/* ---- integrity and capacity (scrub, fsck, stats) ----------------------- */

/* A small named integer that must survive restarts (scrub schedule and
 * results). get: -ENOENT when never set. set_many writes n pairs in one
 * transaction. */
int index_kv_get(struct index *ix, const char *key, int64_t *value);
int index_kv_set_many(struct index *ix, const char *const *keys, const int64_t *values, unsigned n);

/* Call fn for up to limit distinct blobs of healthy (not corrupt)
 * checkpoints whose sha256 sorts after after_sha ("" for the start), in
 * sha256 order, with the size the index expects. Paging keeps memory
 * bounded however many blobs exist. fn runs with a read snapshot held: it
 * must not write to the index. *n gets how many fn saw. */
int index_blobs_page(struct index *ix, const char *after_sha, unsigned limit,
                     int (*fn)(void *ctx, const char *sha_hex, uint64_t size), void *ctx,
                     unsigned *n);

struct index_stats {
    int64_t checkpoints, runs, corrupt, blobs; /* blobs: distinct healthy sha256 */
    uint64_t logical_bytes;                    /* sum of every checkpoint's size */
    uint64_t physical_bytes;                   /* each distinct sha256 counted once */
};

/* Totals over the whole index, from one snapshot. */
int index_stats(struct index *ix, struct index_stats *out);

/* When the scrub last found blob sha_hex intact (ms since the epoch);
 * -ENOENT when never. set records it; prune forgets blobs no checkpoint
 * uses any more. */
int index_blob_verified(struct index *ix, const char *sha_hex, int64_t *verified_ms);
int index_set_blob_verified(struct index *ix, const char *sha_hex, int64_t verified_ms);
int index_prune_verified(struct index *ix);

/* PRAGMA integrity_check (the full one, reading every page): fn gets each
 * problem line; *ok is true when SQLite reported none. Slow on a big index:
 * for the offline fsck. */
int index_integrity_check(struct index *ix, void (*fn)(void *ctx, const char *line), void *ctx,
                          bool *ok);

#endif
