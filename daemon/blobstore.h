/*
 * blobstore.h - content-addressed blob storage. Today a directory on a local
 * filesystem; the interface is what an object-store backend will implement.
 * Blobs are immutable and named by their SHA-256; client strings never reach
 * a path. Layout: DIR/blobs/ab/<64 hex>, DIR/tmp/ for uploads in progress.
 */
#ifndef CKPTD_BLOBSTORE_H
#define CKPTD_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blobstore;
struct blob_tmp;

/* Open (creating blobs/ and tmp/ under dir as needed) and remove every
 * leftover temp file: an upload that was in flight when a previous process
 * died is never resumed. Returns 0 or a negative errno. */
int blobstore_open(const char *dir, struct blobstore **out);

/* Close; NULL is a no-op. Temp files still open are the caller's to discard. */
void blobstore_close(struct blobstore *bs);

/* A new temp file for an incoming upload. Thread-safe. */
int blobstore_tmp_new(struct blobstore *bs, struct blob_tmp **out);

/* Append len bytes; -ENOSPC, -EIO etc. on failure. */
int blob_tmp_write(struct blob_tmp *t, const void *buf, size_t len);

/* Flush the temp file's data to stable storage (fsync). Slow for big files;
 * call it outside any lock. */
int blob_tmp_sync(struct blob_tmp *t);

/* Make the synced temp file the blob named sha_hex: rename it into place
 * unless that blob already exists (identical bytes are stored once), then
 * fsync the directory. On success the temp file is consumed (freed) and
 * *created says whether a new blob file appeared. On failure t is untouched.
 * Callers serialize this with blobstore_remove (see store.c). */
int blobstore_publish(struct blobstore *bs, struct blob_tmp *t, const char *sha_hex,
                      bool *created);

/* Close and unlink an unpublished temp file and free it; NULL is a no-op. */
void blob_tmp_discard(struct blob_tmp *t);

/* Open a blob for reading: *fd (caller closes) and its size. -ENOENT. */
int blobstore_open_blob(struct blobstore *bs, const char *sha_hex, int *fd, uint64_t *size);

/* Move a blob out of the way into DIR/quarantine/ (named SHA.MS), for a
 * person to inspect; -ENOENT when it is not there. */
int blobstore_quarantine(struct blobstore *bs, const char *sha_hex, int64_t now_ms);

/* True once any fsync or fdatasync has failed. After that, the kernel may
 * have dropped dirty pages while reporting success to a retry, so nothing
 * written since can be trusted durable: callers stop accepting writes. */
bool blobstore_sync_failed(struct blobstore *bs);

/* Remove a blob; -ENOENT when it is not there. Readers holding an fd keep
 * reading the old bytes. */
int blobstore_remove(struct blobstore *bs, const char *sha_hex);

/* DIR/reserve, a preallocated file of RESERVE_BYTES kept so that a full
 * disk can still record deletes. Release it (unlink) when the index hits
 * ENOSPC; keep_reserve recreates it when there is room again. Both return
 * 0 or a negative errno (-ENOENT: no reserve to release). */
int blobstore_release_reserve(struct blobstore *bs);
int blobstore_keep_reserve(struct blobstore *bs);

/* Bytes available to unprivileged writers on the blob filesystem. */
int blobstore_free_space(struct blobstore *bs, uint64_t *bytes);

/* Call fn for every stored blob name; stops and returns fn's first
 * non-zero result. */
int blobstore_each(struct blobstore *bs, int (*fn)(void *ctx, const char *sha_hex), void *ctx);

/* How many fsync or fdatasync calls have failed since the store opened. */
uint64_t blobstore_sync_failures(struct blobstore *bs);

/* 0 when this process may create files in blobs/ and tmp/ (access(2)
 * with W_OK), else a negative errno (-EACCES, -EROFS, -ENOENT). */
int blobstore_writable(struct blobstore *bs);

#endif
