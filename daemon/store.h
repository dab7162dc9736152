/*
 * store.h - the operations that touch both the blob store and the index,
 * in the order that keeps them consistent: a blob is durable before its row
 * exists, and a blob is removed only once no row refers to it.
 */
#ifndef CKPTD_STORE_H
#define CKPTD_STORE_H

#include <pthread.h>

#include "blobstore.h"
#include "checkpoint.h"
#include "index.h"
#include "retention.h"

struct store {
    struct blobstore *blobs;
    struct index *index;
    pthread_mutex_t publish_lock; /* orders publish+insert against delete+remove */
    bool has_default_policy;      /* --default-policy: for runs without their own */
    struct policy default_policy;
};

/* Open the data directory dir (which must exist): blobs, temp sweep, index
 * with migrations and quick_check. readers: index read connections. */
int store_open(const char *dir, unsigned readers, struct store **out);

/* Close; NULL is a no-op. */
void store_close(struct store *s);

/* Commit an upload: fsync the temp file, publish it as blob sha_hex, insert
 * the index row, and fill *out. Always consumes tmp, discarding it on
 * failure, so a failed commit leaves neither a blob nor a row. */
int store_commit(struct store *s, struct blob_tmp *tmp, const struct ckpt_meta *meta,
                 uint64_t size, const char *sha_hex, struct ckpt_record *out);

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

#endif
