/*
 * store.h - the operations that touch both the blob store and the index,
 * in the order that keeps them consistent: a blob is durable before its row
 * exists, and a blob is removed only once no row refers to it.
 */
#ifndef CKPTD_STORE_H
#define CKPTD_STORE_H

#include <pthread.h>
#include <stdatomic.h>

#include "blobstore.h"
#include "checkpoint.h"
#include "index.h"
#include "retention.h"

struct store {
    struct blobstore *blobs;
    struct index *index;
    pthread_mutex_t publish_lock; /* orders publish+insert against delete+remove */
    /* Group commit: uploads queue here while a thread commits a batch
     * (see store_commit). */
    pthread_mutex_t commit_lock;
    struct commit_req *commit_head, **commit_tail;
    bool committing;
    atomic_uint_fast64_t commit_batches, commit_uploads; /* for /metrics */
    atomic_bool stopping; /* store_stop_scan: the daemon is stopping */
    /* Capacity (store_set_capacity): bytes uploads in flight have claimed. */
    pthread_mutex_t space_lock;
    uint64_t max_disk, reserve, claimed;
    /* default-policy, for runs without their own: read with
     * store_default_policy, replaced on SIGHUP. */
    pthread_mutex_t policy_lock;
    bool has_default_policy;
    struct policy default_policy;
};

/* Open the data directory dir (which must exist): blobs, temp sweep, index
 * with migrations and quick_check. readers: index read connections. */
int store_open(const char *dir, unsigned readers, struct store **out);

/* Close; NULL is a no-op. */
void store_close(struct store *s);

/* Called when an upload's commit is final: result 0 with its record, or
 * -errno with rec NULL. rec is valid only during the call. */
typedef void store_commit_done_fn(void *arg, int result, const struct ckpt_record *rec);

/* Commit an upload: fsync the temp file, publish it as blob sha_hex, insert
 * the index row, then call done(arg, ...) once. Always consumes tmp,
 * discarding it on failure, so a failed commit leaves neither a blob nor a
 * row. Uploads that reach this point together share one index transaction
 * (group commit): one WAL sync for all of them, each still all or nothing.
 * Returns when the upload is queued behind a batch in progress, whose
 * thread then commits it and calls done; otherwise this thread commits
 * batches, other threads' uploads included, until none is queued. meta and
 * sha_hex must stay valid until done is called. */
void store_commit(struct store *s, struct blob_tmp *tmp, const struct ckpt_meta *meta,
                  uint64_t size, const char *sha_hex, store_commit_done_fn *done, void *arg);

/* Store p as run's retention policy and apply it at once (one index
 * transaction), then unlink the blobs of dropped checkpoints that nothing
 * else uses. *dropped_out (may be NULL) gets the dropped ids (free() it)
 * and *n_dropped their number. */
int store_policy_set(struct store *s, const char *run, const struct policy *p,
                     int64_t **dropped_out, size_t *n_dropped);

/* Delete checkpoint id; its blob goes when nothing else refers to it.
 * -ENOENT when there is no such checkpoint. */
int store_delete(struct store *s, int64_t id);

/* Open the blob of rec for reading, checking that it exists with the size
 * the index records. -EUCLEAN (after flagging every checkpoint of that
 * blob corrupt) when it is missing or the wrong size; -ENOENT when the
 * checkpoint itself was deleted meanwhile. */
int store_open_blob(struct store *s, const struct ckpt_record *rec, int *fd, uint64_t *size);

/* True once a fsync failed: writes (uploads, deletes) are refused until
 * restart, because nothing written after such a failure can be trusted
 * durable. Reads keep working. */
bool store_read_only(struct store *s);

/* After startup, while serving: move blobs no checkpoint refers to (left
 * by a crash between rename and insert) to quarantine/, then check every
 * blob the index refers to exists with the right size and flag the
 * checkpoints of those that do not as corrupt. Returns how many blobs were
 * bad, or a negative errno. It visits every blob once, so it runs in the
 * background: startup time does not grow with the number of blobs. */
int store_recovery_scan(struct store *s);

/* Make a running (or later) store_recovery_scan stop at its next blob and
 * return -ECANCELED: the daemon is stopping, and the next start scans
 * again from the beginning. Thread-safe. */
void store_stop_scan(struct store *s);

/* ---- integrity and capacity ------------------------------------------- */

/* max_disk: quota on physical blob bytes (0 = none). reserve: bytes of the
 * file system uploads must leave free; RESERVE_AUTO picks 1% of the file
 * system's size, at most DEFAULT_RESERVE_MAX. Call before serving. */
#define RESERVE_AUTO UINT64_MAX
void store_set_capacity(struct store *s, uint64_t max_disk, uint64_t reserve);

/* Claim room for bytes more of upload data: -EDQUOT when physical blob
 * bytes plus every claim would pass max_disk, -ENOSPC when the file system
 * would keep less than the reserve free. Pair each success with
 * store_space_release once the upload ends (committed or not). */
int store_space_claim(struct store *s, uint64_t bytes);
void store_space_release(struct store *s, uint64_t bytes);

struct store_stats {
    struct index_stats ix;
    uint64_t disk_total, disk_free, max_disk, reserve;
};

int store_stats(struct store *s, struct store_stats *out);

/* The scrub (or a verified download) found blob sha_hex missing (seen
 * NULL) or not matching its name (seen: the file that was read). Under the
 * publish lock, so no commit or delete is half-way: when the blob is still
 * referenced and still that file (or still missing), move it to
 * quarantine/ and flag every checkpoint of it corrupt (*marked: how many).
 * Returns 1 when it was a finding, 0 when the blob was deleted or stored
 * anew meanwhile (not a finding), or a negative errno. */
int store_blob_damaged(struct store *s, const char *sha_hex, const struct blob_stat *seen,
                       unsigned *marked);

/* Whether blob sha_hex was read back intact (by the scrub, or by a
 * download that hashed all of it) after its file last changed: then a
 * download may use sendfile without hashing what it sends. */
bool store_blob_verified(struct store *s, const char *sha_hex, const struct blob_stat *st);

/* What /readyz reports: each field 0 when the check passes, else the
 * negative errno of the failure. index: the index answers a trivial
 * query. writable: blobs/ and tmp/ accept new files. read_only: -EROFS
 * once store_read_only is true. disk: -ENOSPC when no more than
 * READY_MIN_FREE_BYTES are free (free_bytes is then what is left). */
struct store_readiness {
    int index, writable, read_only, disk;
    uint64_t free_bytes;
};

/* Run every readiness check (none writes anything). Returns true when all
 * pass. Thread-safe. */
bool store_ready(struct store *s, struct store_readiness *out);

/* A copy of the default policy into *out; false when there is none. */
bool store_default_policy(struct store *s, struct policy *out);

/* Replace the default policy (NULL: none); takes effect for the next
 * commit, plan or policy read. */
void store_set_default_policy(struct store *s, const struct policy *p);

#endif
