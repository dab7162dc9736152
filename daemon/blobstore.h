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
#include <sys/types.h>

#include "digest.h"

struct blobstore;
struct blob_tmp;

/* Open (creating blobs/ and tmp/ under dir as needed) and remove every
 * leftover temp file: an upload that was in flight when a previous process
 * died is never resumed. Returns 0 or a negative errno. */
int blobstore_open(const char *dir, struct blobstore **out);

/* Close; NULL is a no-op. Temp files still open are the caller's to discard. */
void blobstore_close(struct blobstore *bs);

/* A new temp file for an incoming upload of size bytes (0: not known),
 * for which a disk-backed store may allocate space up front. Thread-safe. */
int blobstore_tmp_new(struct blobstore *bs, uint64_t size, struct blob_tmp **out);

/* mkdir -p dir (mode 0750): the data directory, a backup's destination.
 * 0 or a negative errno. */
int blobstore_mkdirs(const char *dir);

/* Append len bytes; -ENOSPC, -EIO etc. on failure. On a disk, the bytes
 * start on their way to it (without waiting) as they accumulate. */
int blob_tmp_write(struct blob_tmp *t, const void *buf, size_t len);

/* Read back up to len bytes at off of what was written; returns the count
 * (0 at the end) or a negative errno. Safe alongside blob_tmp_write. */
ssize_t blob_tmp_pread(struct blob_tmp *t, void *buf, size_t len, uint64_t off);

/* Flush the temp file's data to stable storage (fsync). Slow for big files;
 * call it outside any lock. */
int blob_tmp_sync(struct blob_tmp *t);

/* Make the synced temp file the blob named sha_hex: rename it into place
 * unless that blob already exists (identical bytes are stored once), then
 * fsync the directory. On success the temp file is consumed (freed) and
 * *created says whether a new blob file appeared. On failure t is untouched.
 * Callers serialize this with blobstore_remove (see store.c). */
int blobstore_publish(struct blobstore *bs, struct blob_tmp *t, const char *sha_hex, bool *created);

/* blobstore_publish for several temp files at once: all renames, then all
 * directory syncs, so a journalling file system commits them together.
 * Each p[i] ends as blobstore_publish would leave it (result, created),
 * and t is NULL once consumed: always on success, and on failure when a
 * duplicate in the batch lost its file to a failed sync; otherwise the
 * caller discards it. At most BLOB_PUBLISH_MAX; the rest get -E2BIG. */
#define BLOB_PUBLISH_MAX 32
struct blob_publish {
    struct blob_tmp *t;
    const char *sha_hex;
    bool created;
    int result;
};
void blobstore_publish_batch(struct blobstore *bs, struct blob_publish *p, size_t n);

/* Close and unlink an unpublished temp file and free it; NULL is a no-op. */
void blob_tmp_discard(struct blob_tmp *t);

/* Open a blob for reading: *fd (caller closes) and its size. -ENOENT. */
int blobstore_open_blob(struct blobstore *bs, const char *sha_hex, int *fd, uint64_t *size);

/* Read up to len bytes at offset off of a blob opened with
 * blobstore_open_blob, for serving it where sendfile cannot be used (TLS).
 * Returns the count, 0 at the end of the file, or a negative errno. */
long blob_read_at(int fd, uint64_t off, void *buf, size_t len);

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

/* ---- backup ------------------------------------------------------------ */

/* A backup of the blobs of data directory src into directory dst, made by
 * a process other than the daemon (which may be running on src): nothing
 * under src is changed, nothing is swept. */
struct blob_backup;

struct blob_backup_stats {
    uint64_t linked; /* blobs hard-linked (same filesystem) */
    uint64_t copied; /* blobs copied (another filesystem) */
    uint64_t bytes_copied;
};

/* Create dst (and missing parents, mode 0750) or take it when it is an
 * empty directory; -ENOTEMPTY when it holds anything, -ENOTDIR, -ENOENT
 * when src has no blobs/ directory. Creates dst/blobs. */
int blobstore_backup_open(const char *src, const char *dst, struct blob_backup **out);

/* Put blob sha_hex into the backup: a hard link when src and dst share a
 * filesystem (blobs are immutable), else a copy written under a temp name,
 * fsync'd and renamed into place. -ENOENT when the blob is not in src (it
 * was deleted meanwhile); other negative errnos on I/O failure. */
int blobstore_backup_blob(struct blob_backup *b, const char *sha_hex);

/* Make the backup durable and whole: fsync every blob directory written,
 * then rename dst/index_tmp (written by the caller meanwhile) to
 * dst/index_name and fsync dst. Fills *stats. */
int blobstore_backup_finish(struct blob_backup *b, const char *index_tmp, const char *index_name,
                            struct blob_backup_stats *stats);

/* Close the directories and free; NULL is a no-op. Files written so far
 * stay in dst. */
void blobstore_backup_free(struct blob_backup *b);

/* ---- integrity (scrub, fsck, verified downloads) ------------------------ */

/* What identifies one blob file and tells whether it changed. */
struct blob_stat {
    uint64_t size;
    int64_t changed_ms; /* inode change time (ctime): any write or rename */
    uint64_t dev, ino;
};

/* fstat an open blob. 0 or a negative errno. */
int blobstore_stat_fd(int fd, struct blob_stat *st);

/* SHA-256 of everything fd holds from offset 0, read in BLOB_READ_BYTES
 * pieces through one buffer (memory does not grow with the blob). After
 * each piece progress(ctx, n) is called (may be NULL): a non-zero return
 * stops the hash and is returned (throttling and cancelling go there).
 * *bytes gets how many bytes were hashed. */
int blobstore_hash_fd(int fd, int (*progress)(void *ctx, size_t n), void *ctx,
                      uint8_t out[SHA256_LEN], uint64_t *bytes);

/* Read up to len bytes at off (a short count only at the end of the file);
 * -errno on failure. For responses that check what they send. */
long blobstore_pread(int fd, void *buf, size_t len, uint64_t off);

/* Whether blob sha_hex is, right now, the file identified by dev and ino:
 * a blob deleted and stored again meanwhile is another file. */
bool blobstore_is_file(struct blobstore *bs, const char *sha_hex, uint64_t dev, uint64_t ino);

/* Open an existing data directory for inspection (ckptd fsck): unlike
 * blobstore_open it creates nothing, keeps tmp/ as it is and leaves the
 * reserve alone. -ENOENT when dir has no blobs/ directory. */
int blobstore_open_existing(const char *dir, struct blobstore **out);

/* Call fn for every file in tmp/ (uploads in progress or left by a crash);
 * stops at fn's first non-zero result. remove_tmp deletes one by name. */
int blobstore_each_tmp(struct blobstore *bs, int (*fn)(void *ctx, const char *name), void *ctx);
int blobstore_remove_tmp(struct blobstore *bs, const char *name);

/* Total and available bytes of the blob file system. */
int blobstore_fs_size(struct blobstore *bs, uint64_t *total, uint64_t *avail);

/* How many fsync or fdatasync calls have failed since the store opened. */
uint64_t blobstore_sync_failures(struct blobstore *bs);

/* 0 when this process may create files in blobs/ and tmp/ (access(2)
 * with W_OK), else a negative errno (-EACCES, -EROFS, -ENOENT). */
int blobstore_writable(struct blobstore *bs);

#endif
