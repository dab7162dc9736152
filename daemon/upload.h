/*
 * upload.h - one upload in flight: a temp file plus a running SHA-256.
 * Memory per upload is constant; the body goes to disk piece by piece.
 */
#ifndef CKPTD_UPLOAD_H
#define CKPTD_UPLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"
#include "checkpoint.h"
#include "digest.h"

/* The digest a client stated for its upload. */
struct upload_digest {
    bool has;
    uint8_t value[SHA256_LEN];
};

struct upload {
    struct ckpt_meta meta;
    struct upload_digest expected; /* what the client stated, if anything */
    uint64_t limit;                /* refuse bodies longer than this */
    uint64_t received;
    uint64_t claimed;     /* store_space_claim'ed, released when the request ends */
    uint64_t stated;      /* a chunked body's X-Checkpoint-Size; 0: none */
    int error;            /* first write failure (negative errno), sticky */
    struct blob_tmp *tmp; /* owned until committed */
    struct sha256 *hash;
    uint64_t written; /* bytes in tmp (hasher reads up to here) */

    /* Past HASH_PIPELINE_MIN bytes a hasher thread takes over the digest,
     * reading back what is already in the temp file, so receiving and
     * hashing use two cores. Guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t more; /* written grew, or stop was set */
    pthread_t hasher;
    bool hashing;               /* the hasher thread runs */
    bool inline_hash;           /* no hasher slot was free: hash here throughout */
    bool stop;                  /* written is final */
    bool abandon;               /* the upload is dropped: stop at once */
    uint64_t hashed;            /* bytes of tmp in the digest */
    int hash_error;             /* the hasher's failure (negative errno) */
    bool finished;              /* upload_finish succeeded */
    uint8_t digest[SHA256_LEN]; /* set by upload_finish */
    char digest_hex[SHA256_HEX_LEN + 1];
};

/* Start an upload of at most limit bytes into a new temp file of bs; size
 * is what the client said it sends (0: not said). Metadata is filled in
 * later by the caller. */
int upload_new(struct blobstore *bs, uint64_t limit, uint64_t size, struct upload **out);

/* Hash and store one body piece. -EFBIG when the body grows past the
 * limit (the caller closes the connection). A storage failure is kept in
 * u->error and later pieces are only counted, so the client can still be
 * told what went wrong once the body is in; returns 0 then. */
int upload_write(struct upload *u, const void *data, size_t len);

/* Give up on the upload with err (a negative errno) while its body still
 * arrives: the hasher thread is stopped and the temp file deleted now, so
 * its space comes back at once, and later pieces are only counted;
 * upload_finish returns err. */
void upload_fail(struct upload *u, int err);

/* Finish the digest, waiting for the hasher thread to catch up: call it
 * off the event threads for large bodies. Returns 0, u->error, or -EIO. */
int upload_finish(struct upload *u);

/* Hand the temp file to the caller (for store_commit). */
struct blob_tmp *upload_detach_tmp(struct upload *u);

/* Free, discarding the temp file unless it was detached; NULL is a no-op. */
void upload_free(struct upload *u);

#endif
