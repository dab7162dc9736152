/*
 * blobstore.c - blobstore.h on a local POSIX filesystem.
 * Durability order for a new blob: write temp, fsync temp, rename into
 * blobs/ab/, fsync blobs/ab/ (and blobs/ when ab/ was new).
 */
#include "blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ckpt_limits.h"
#include "digest.h"
#include "failpoint.h"
#include "workq.h"

/* Early writeback (see blob_tmp_write): a range of a temp file whose pages
 * should start on their way to the disk, with a descriptor of its own so the
 * temp file may be closed meanwhile. */
struct wb_range {
    struct blobstore *bs;
    int fd;
    off_t off, len;
};

struct blobstore {
    char *dir;    /* the data directory */
    int dir_fd;   /* DIR */
    int blobs_fd; /* DIR/blobs */
    atomic_bool sync_failed;
    atomic_ullong sync_failures; /* fsync/fdatasync calls that failed */
    int tmp_fd;                  /* DIR/tmp */
    atomic_ullong seq;           /* names temp files */
    /* The writeback thread; NULL on a file system without a disk behind it
     * (tmpfs), or when the thread did not start. */
    struct workq *wb;
    atomic_uint wb_queued; /* ranges queued and not yet done */
    atomic_bool wb_stop;   /* closing: drop what is still queued */
};

struct blob_tmp {
    struct blobstore *bs;
    int fd;
    uint64_t written;   /* bytes appended so far */
    uint64_t allocated; /* [0, allocated) has its blocks (see allocate) */
    uint64_t kicked;    /* writeback was asked for [0, kicked) */
    char name[32];      /* within tmp/ */
};

static int mkdir_at(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Record a failed fsync or fdatasync: see blobstore_sync_failed. */
static void sync_failure(struct blobstore *bs)
{
    atomic_fetch_add(&bs->sync_failures, 1);
    atomic_store(&bs->sync_failed, true);
}

/* Never retried after a failure: see blobstore_sync_failed. */
static int fsync_fd(struct blobstore *bs, int fd)
{
    while (fsync(fd) < 0) {
        if (errno != EINTR) {
            int r = -errno;
            sync_failure(bs);
            return r;
        }
    }
    return 0;
}

/* Remove every file in tmp/: none of them can belong to a live upload
 * because the data directory lock is held by this process alone. */
static int sweep_tmp(struct blobstore *bs)
{
    int fd = openat(bs->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (unlinkat(bs->tmp_fd, e->d_name, 0) < 0 && errno != ENOENT) {
            int r = -errno;
            closedir(d);
            return r;
        }
    }
    closedir(d);
    return 0;
}

/* The writeback thread: start writing a queued range to the disk
 * (SYNC_FILE_RANGE_WRITE does not wait for it), so the upload's final
 * fdatasync finds little left to do. It runs here, not on the event thread
 * that wrote the bytes: starting writeback can wait on the block layer's
 * throttling and on the file system's block allocation, and an event
 * thread that waits stalls every connection it serves. */
static void writeback(void *arg)
{
    struct wb_range *w = arg;
    struct blobstore *bs = w->bs;

    if (!atomic_load(&bs->wb_stop))
        (void)sync_file_range(w->fd, w->off, w->len, SYNC_FILE_RANGE_WRITE);
    close(w->fd);
    free(w);
    atomic_fetch_sub(&bs->wb_queued, 1);
}

/* Whether the file system under fd keeps its data in memory only, where
 * writeback and preallocation buy nothing (preallocating would zero pages). */
static bool in_memory(int fd)
{
    struct statfs sf;
    return fstatfs(fd, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

static void writeback_start(struct blobstore *bs)
{
    if (!in_memory(bs->tmp_fd) && workq_new(1, "ckptd-writeback", &bs->wb) < 0)
        bs->wb = NULL;
}

/* Queue [off, off + len) of fd for writeback. Dropped when WRITEBACK_QUEUE
 * ranges are already waiting, or memory or descriptors are short: the final
 * fdatasync writes it all anyway. */
static void writeback_queue(struct blobstore *bs, int fd, uint64_t off, uint64_t len)
{
    struct wb_range *w = NULL;

    if (atomic_fetch_add(&bs->wb_queued, 1) >= WRITEBACK_QUEUE || !(w = malloc(sizeof(*w))))
        goto drop;
    *w = (struct wb_range){bs, fcntl(fd, F_DUPFD_CLOEXEC, 0), (off_t)off, (off_t)len};
    if (w->fd < 0)
        goto drop;
    if (workq_submit(bs->wb, writeback, w) == 0)
        return;
    close(w->fd);
drop:
    free(w);
    atomic_fetch_sub(&bs->wb_queued, 1);
}

/* Stop the writeback thread; ranges still queued are closed unwritten. */
static void writeback_stop(struct blobstore *bs)
{
    atomic_store(&bs->wb_stop, true);
    workq_free(bs->wb);
    bs->wb = NULL;
}

int blobstore_open(const char *dir, struct blobstore **out)
{
    struct blobstore *bs = calloc(1, sizeof(*bs));
    int dfd = -1, r;

    if (!bs)
        return -ENOMEM;
    bs->blobs_fd = bs->tmp_fd = bs->dir_fd = -1;
    bs->dir = strdup(dir);
    if (!bs->dir) {
        r = -ENOMEM;
        goto fail;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = mkdir_at(dfd, "blobs")) < 0 || (r = mkdir_at(dfd, "tmp")) < 0 ||
        (r = mkdir_at(dfd, "quarantine")) < 0)
        goto fail;
    bs->blobs_fd = openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bs->tmp_fd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bs->blobs_fd < 0 || bs->tmp_fd < 0) {
        r = -errno;
        goto fail;
    }
    r = sweep_tmp(bs);
    if (r < 0)
        goto fail;
    writeback_start(bs);
    bs->dir_fd = dfd;
    blobstore_keep_reserve(bs); /* best effort: a full disk starts without */
    *out = bs;
    return 0;
fail:
    if (dfd >= 0)
        close(dfd);
    blobstore_close(bs);
    return r;
}

void blobstore_close(struct blobstore *bs)
{
    if (!bs)
        return;
    writeback_stop(bs);
    if (bs->blobs_fd >= 0)
        close(bs->blobs_fd);
    if (bs->tmp_fd >= 0)
        close(bs->tmp_fd);
    if (bs->dir_fd >= 0)
        close(bs->dir_fd);
    free(bs->dir);
    free(bs);
}

/* Give back the blocks a temp file holds past size (its current size or
 * less). Best effort: they come back anyway when the file is removed. */
static void trim(struct blob_tmp *t, uint64_t size)
{
    if (ftruncate(t->fd, (off_t)size) < 0)
        return;
}

/* Allocate the blocks of an upload of known size before its first byte,
 * the size left alone. Early writeback depends on it: left to writeback,
 * allocating (which can wait to read the disk's free-space bitmaps, queued
 * behind the writes) holds the file's block map, and the event thread
 * writing the next pieces stalls on it. /best during five uploads, worst
 * cases (ext4): 120-520 ms with allocation during writeback, 100-320 ms
 * allocating 256 MiB at a time ahead of the writes, 41-107 ms all at once
 * here, 40-108 ms without early writeback. All at once takes the event
 * thread about 70 ms for 20 GiB. Without it (a file system that cannot, a
 * full disk) the upload goes without early writeback; what a failed call
 * allocated is given back at once. */
static void allocate(struct blob_tmp *t, uint64_t size)
{
    if (fallocate(t->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) == 0)
        t->allocated = size;
    else
        trim(t, 0);
}

int blobstore_tmp_new(struct blobstore *bs, uint64_t size, struct blob_tmp **out)
{
    struct blob_tmp *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->bs = bs;
    /* Unique within this process by the counter; earlier processes' files
     * were swept at startup and a second process cannot hold the lock. */
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long long seq = atomic_fetch_add(&bs->seq, 1);
        snprintf(t->name, sizeof(t->name), "up-%llu", seq);
        t->fd =
            openat(bs->tmp_fd, t->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (t->fd >= 0) {
            failpoint("temp-open-crash");
            if (bs->wb && size >= PREALLOCATE_MIN)
                allocate(t, size);
            *out = t;
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    int r = -errno;
    free(t);
    return r;
}

int blob_tmp_write(struct blob_tmp *t, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(t->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        t->written += (uint64_t)n;
    }
    /* Start writing each WRITEBACK_CHUNK of whole pages to the disk while
     * the rest arrives. Otherwise nothing leaves the page cache before the
     * fdatasync at the end (a GB fits under the kernel's dirty limits), and
     * an upload to the disk takes receiving time plus writing time. Only
     * allocated pages: see allocate. */
    uint64_t end = t->written < t->allocated ? t->written : t->allocated;
    end &= ~(uint64_t)(WRITEBACK_ALIGN - 1);
    if (end > t->kicked && end - t->kicked >= WRITEBACK_CHUNK) {
        writeback_queue(t->bs, t->fd, t->kicked, end - t->kicked);
        t->kicked = end;
    }
    return 0;
}

ssize_t blob_tmp_pread(struct blob_tmp *t, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    while ((n = pread(t->fd, buf, len, (off_t)off)) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return n;
}

int blob_tmp_sync(struct blob_tmp *t)
{
    /* fdatasync: the data and the size that reaches it; the inode's times
     * do not matter for a blob. */
    failpoint("before-fdatasync-crash");
    if (failpoint("fdatasync-eio")) {
        sync_failure(t->bs);
        return -EIO;
    }
    while (fdatasync(t->fd) < 0) {
        if (errno != EINTR) {
            int r = -errno;
            sync_failure(t->bs);
            return r;
        }
    }
    return 0;
}

void blob_tmp_discard(struct blob_tmp *t)
{
    if (!t)
        return;
    /* Queued writeback ranges hold the file open: give its blocks and
     * pages back now rather than when the last of them is done. */
    if (t->allocated)
        trim(t, 0);
    close(t->fd);
    unlinkat(t->bs->tmp_fd, t->name, 0);
    free(t);
}

static void blob_path(const char *sha_hex, char sub[3], char path[3 + 1 + 64 + 1])
{
    memcpy(sub, sha_hex, 2);
    sub[2] = '\0';
    snprintf(path, 3 + 1 + 64 + 1, "%s/%s", sub, sha_hex);
}

/* Rename without replacing; -EEXIST when dst exists. Falls back to link +
 * unlink on filesystems without renameat2(RENAME_NOREPLACE). */
static int rename_noreplace(int from_dir, const char *from, int to_dir, const char *to)
{
    if (renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (linkat(from_dir, from, to_dir, to, 0) < 0)
        return -errno;
    unlinkat(from_dir, from, 0);
    return 0;
}

/* The rename half of a publish: p->result < 0 on failure, else the blob
 * is in place (p->created) or already was (t discarded). */
static void publish_rename(struct blobstore *bs, struct blob_publish *p, bool *new_sub)
{
    char sub[3], path[70];

    blob_path(p->sha_hex, sub, path);
    *new_sub = false;
    p->created = false;
    if (mkdirat(bs->blobs_fd, sub, 0750) == 0) {
        *new_sub = true;
    } else if (errno != EEXIST) {
        p->result = -errno;
        return;
    }
    p->result = rename_noreplace(bs->tmp_fd, p->t->name, bs->blobs_fd, path);
    if (p->result == -EEXIST) {
        /* Same name, so same SHA-256, so same bytes: keep the old file. */
        blob_tmp_discard(p->t);
        p->t = NULL;
        p->result = 0;
        return;
    }
    if (p->result == 0) {
        p->created = true;
        failpoint("after-rename-crash");
    }
}

/* The durable half: fsync the blob's directory (and blobs/ for a new
 * one), since a rename is durable only once its parent entry is flushed.
 * On failure the rename is undone so the caller can report honestly. */
static void publish_sync(struct blobstore *bs, struct blob_publish *p, bool new_sub)
{
    char sub[3], path[70];
    int r, sub_fd;

    blob_path(p->sha_hex, sub, path);
    sub_fd = openat(bs->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub_fd < 0) {
        r = -errno;
    } else {
        r = fsync_fd(bs, sub_fd);
        close(sub_fd);
    }
    if (r == 0 && new_sub)
        r = fsync_fd(bs, bs->blobs_fd);
    if (r == 0 && failpoint("dir-fsync-eio")) {
        sync_failure(bs);
        r = -EIO;
    }
    failpoint("after-dir-fsync-crash");
    if (r < 0) {
        unlinkat(bs->blobs_fd, path, 0);
        p->created = false;
        p->result = r;
        return;
    }
    close(p->t->fd);
    free(p->t);
    p->t = NULL;
}

void blobstore_publish_batch(struct blobstore *bs, struct blob_publish *p, size_t n)
{
    bool new_sub[BLOB_PUBLISH_MAX];

    /* Every rename first, then the directory syncs: on a journalling file
     * system the first sync commits all the renames, and the rest find
     * little left to do. */
    for (size_t i = 0; i < n && i < BLOB_PUBLISH_MAX; i++)
        publish_rename(bs, &p[i], &new_sub[i]);
    for (size_t i = 0; i < n && i < BLOB_PUBLISH_MAX; i++)
        if (p[i].result == 0 && p[i].created)
            publish_sync(bs, &p[i], new_sub[i]);
    /* A duplicate of a blob whose sync failed found a file that is gone. */
    for (size_t i = 0; i < n && i < BLOB_PUBLISH_MAX; i++)
        for (size_t j = 0; j < n && p[i].result == 0 && !p[i].created; j++)
            if (j != i && p[j].result < 0 && strcmp(p[i].sha_hex, p[j].sha_hex) == 0) {
                p[i].result = p[j].result;
                p[i].t = NULL; /* already discarded */
            }
    for (size_t i = BLOB_PUBLISH_MAX; i < n; i++)
        p[i].result = -E2BIG;
}

int blobstore_publish(struct blobstore *bs, struct blob_tmp *t, const char *sha_hex, bool *created)
{
    struct blob_publish p = {.t = t, .sha_hex = sha_hex};

    blobstore_publish_batch(bs, &p, 1);
    *created = p.created;
    return p.result;
}

int blobstore_open_blob(struct blobstore *bs, const char *sha_hex, int *fd, uint64_t *size)
{
    char sub[3], path[70];
    struct stat st;

    blob_path(sha_hex, sub, path);
    int f = openat(bs->blobs_fd, path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return -errno;
    if (fstat(f, &st) < 0) {
        int r = -errno;
        close(f);
        return r;
    }
    (void)posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
    *fd = f;
    *size = (uint64_t)st.st_size;
    return 0;
}

long blob_read_at(int fd, uint64_t off, void *buf, size_t len)
{
    ssize_t n;

    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (long)n;
}

int blobstore_quarantine(struct blobstore *bs, const char *sha_hex, int64_t now_ms)
{
    char sub[3], path[70], dst[128];

    blob_path(sha_hex, sub, path);
    snprintf(dst, sizeof(dst), "quarantine/%s.%lld", sha_hex, (long long)now_ms);
    (void)mkdir_at(bs->dir_fd, "quarantine"); /* fsck opens without creating it */
    if (renameat(bs->blobs_fd, path, bs->dir_fd, dst) < 0)
        return -errno;
    return 0;
}

int blobstore_release_reserve(struct blobstore *bs)
{
    if (unlinkat(bs->dir_fd, "reserve", 0) < 0)
        return -errno;
    return 0;
}

int blobstore_keep_reserve(struct blobstore *bs)
{
    struct stat st;
    int fd, r;

    if (fstatat(bs->dir_fd, "reserve", &st, 0) == 0 && st.st_size >= RESERVE_BYTES)
        return 0;
    fd = openat(bs->dir_fd, "reserve", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = posix_fallocate(fd, 0, RESERVE_BYTES);
    close(fd);
    if (r != 0) {
        unlinkat(bs->dir_fd, "reserve", 0); /* all or nothing */
        return -r;
    }
    return 0;
}

bool blobstore_sync_failed(struct blobstore *bs)
{
    return atomic_load(&bs->sync_failed);
}

int blobstore_remove(struct blobstore *bs, const char *sha_hex)
{
    char sub[3], path[70];

    blob_path(sha_hex, sub, path);
    if (unlinkat(bs->blobs_fd, path, 0) < 0)
        return -errno;
    return 0;
}

int blobstore_free_space(struct blobstore *bs, uint64_t *bytes)
{
    struct statvfs sv;
    if (fstatvfs(bs->blobs_fd, &sv) < 0)
        return -errno;
    *bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return n == 64;
}

int blobstore_each(struct blobstore *bs, int (*fn)(void *ctx, const char *sha_hex), void *ctx)
{
    int fd = openat(bs->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *top = fdopendir(fd);
    if (!top) {
        close(fd);
        return -errno;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(top))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) != 2)
            continue;
        int sfd = openat(bs->blobs_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
            continue;
        DIR *sub = fdopendir(sfd);
        if (!sub) {
            close(sfd);
            continue;
        }
        struct dirent *b;
        while (r == 0 && (b = readdir(sub))) {
            if (is_hex64(b->d_name))
                r = fn(ctx, b->d_name);
        }
        closedir(sub);
    }
    closedir(top);
    return r;
}

/* ---- backup (ckptd backup) ------------------------------------------- */

/* Bytes per read/write when copy_file_range cannot be used. */
#define BACKUP_COPY_CHUNK (1 << 16)

struct blob_backup {
    int src_blobs_fd;  /* SRC/blobs */
    int dst_fd;        /* DST */
    int dst_blobs_fd;  /* DST/blobs */
    bool cross_fs;     /* a link failed with EXDEV: copy from then on */
    bool touched[256]; /* DST/blobs/xx got an entry: fsync it at the end */
    struct blob_backup_stats stats;
};

int blobstore_mkdirs(const char *dir)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int dir_is_empty(int fd)
{
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    struct dirent *e;
    int r = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            r = -ENOTEMPTY;
            break;
        }
    }
    closedir(d);
    return r;
}

int blobstore_backup_open(const char *src, const char *dst, struct blob_backup **out)
{
    struct blob_backup *b = calloc(1, sizeof(*b));
    int sfd = -1, r;

    if (!b)
        return -ENOMEM;
    b->src_blobs_fd = b->dst_fd = b->dst_blobs_fd = -1;
    sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) {
        r = -errno;
        goto fail;
    }
    b->src_blobs_fd = openat(sfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->src_blobs_fd < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = blobstore_mkdirs(dst)) < 0)
        goto fail;
    b->dst_fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dst_fd < 0) {
        r = -errno;
        goto fail;
    }
    /* Never mix a backup into other files (or into the data directory). */
    if ((r = dir_is_empty(b->dst_fd)) < 0)
        goto fail;
    if ((r = mkdir_at(b->dst_fd, "blobs")) < 0)
        goto fail;
    b->dst_blobs_fd = openat(b->dst_fd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dst_blobs_fd < 0) {
        r = -errno;
        goto fail;
    }
    close(sfd);
    *out = b;
    return 0;
fail:
    if (sfd >= 0)
        close(sfd);
    blobstore_backup_free(b);
    return r;
}

void blobstore_backup_free(struct blob_backup *b)
{
    if (!b)
        return;
    if (b->src_blobs_fd >= 0)
        close(b->src_blobs_fd);
    if (b->dst_blobs_fd >= 0)
        close(b->dst_blobs_fd);
    if (b->dst_fd >= 0)
        close(b->dst_fd);
    free(b);
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Copy in to a new file out, all of it: copy_file_range (which shares
 * extents on filesystems that can), else read and write. */
static int copy_fd(int in, int out, uint64_t *copied)
{
    uint64_t total = 0;
    bool plain = false;

    for (;;) {
        ssize_t n;
        if (!plain) {
            n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
            if (n < 0 && total == 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                plain = true;
                continue;
            }
        } else {
            char buf[BACKUP_COPY_CHUNK];
            n = read(in, buf, sizeof(buf));
            for (ssize_t done = 0; n > 0 && done < n;) {
                ssize_t w = write(out, buf + done, (size_t)(n - done));
                if (w < 0 && errno != EINTR)
                    return -errno;
                done += w > 0 ? w : 0;
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    *copied = total;
    return 0;
}

int blobstore_backup_blob(struct blob_backup *b, const char *sha_hex)
{
    char sub[3], path[70], part[80];
    int sub_fd, in = -1, outfd = -1, r;

    if (!is_hex64(sha_hex))
        return -EINVAL;
    unsigned idx = (unsigned)(hexval(sha_hex[0]) * 16 + hexval(sha_hex[1]));
    blob_path(sha_hex, sub, path);
    if (mkdirat(b->dst_blobs_fd, sub, 0750) < 0 && errno != EEXIST)
        return -errno;
    sub_fd = openat(b->dst_blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub_fd < 0)
        return -errno;
    /* Blobs are immutable, so a hard link is as good as a copy and costs
     * no space; the daemon deleting its name later leaves ours. */
    if (!b->cross_fs) {
        if (linkat(b->src_blobs_fd, path, sub_fd, sha_hex, 0) == 0) {
            b->stats.linked++;
            r = 0;
            goto out;
        }
        r = -errno;
        if (r == -EEXIST) /* listed twice: it is already in */
            r = 0;
        if (r == 0 || r == -ENOENT)
            goto out;
        if (r == -EXDEV)
            b->cross_fs = true;
        else if (r != -EPERM && r != -EMLINK && r != -EOPNOTSUPP)
            goto out;
    }
    in = openat(b->src_blobs_fd, path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        r = -errno;
        goto out;
    }
    /* Copy to a temp name, fsync, then rename: a crash never leaves a short
     * file under a blob's name. */
    snprintf(part, sizeof(part), "%s.part", sha_hex);
    outfd = openat(sub_fd, part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (outfd < 0) {
        r = -errno;
        goto out;
    }
    uint64_t n = 0;
    if ((r = copy_fd(in, outfd, &n)) < 0 || (fsync(outfd) < 0 && (r = -errno) < 0) ||
        (renameat(sub_fd, part, sub_fd, sha_hex) < 0 && (r = -errno) < 0)) {
        unlinkat(sub_fd, part, 0);
        goto out;
    }
    b->stats.copied++;
    b->stats.bytes_copied += n;
out:
    if (outfd >= 0)
        close(outfd);
    if (in >= 0)
        close(in);
    close(sub_fd);
    if (r == 0)
        b->touched[idx] = true;
    return r;
}

int blobstore_backup_finish(struct blob_backup *b, const char *index_tmp, const char *index_name,
                            struct blob_backup_stats *stats)
{
    int r;

    /* fsync every directory that got an entry, then blobs/, then publish
     * the index under its real name: a backup with an index.db is whole. */
    for (unsigned i = 0; i < 256; i++) {
        char sub[3];
        if (!b->touched[i])
            continue;
        snprintf(sub, sizeof(sub), "%02x", i);
        int fd = openat(b->dst_blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
            return r;
    }
    if (fsync(b->dst_blobs_fd) < 0)
        return -errno;
    if (renameat(b->dst_fd, index_tmp, b->dst_fd, index_name) < 0)
        return -errno;
    if (fsync(b->dst_fd) < 0)
        return -errno;
    *stats = b->stats;
    return 0;
}

/* ---- integrity ----------------------------------------------------------- */

int blobstore_stat_fd(int fd, struct blob_stat *out)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    out->size = (uint64_t)st.st_size;
    out->changed_ms = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
    out->dev = (uint64_t)st.st_dev;
    out->ino = (uint64_t)st.st_ino;
    return 0;
}

int blobstore_hash_fd(int fd, int (*progress)(void *ctx, size_t n), void *ctx,
                      uint8_t out[SHA256_LEN], uint64_t *bytes)
{
    struct sha256 *h = sha256_new();
    char *buf = malloc(BLOB_READ_BYTES);
    uint64_t off = 0;
    int r = 0;

    if (!h || !buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = pread(fd, buf, BLOB_READ_BYTES, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        if ((r = sha256_update(h, buf, (size_t)n)) < 0)
            goto out;
        off += (uint64_t)n;
        if (progress && (r = progress(ctx, (size_t)n)) != 0)
            goto out;
    }
    if ((r = sha256_final(h, out)) == 0)
        *bytes = off;
out:
    free(buf);
    sha256_free(h);
    return r;
}

long blobstore_pread(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}

bool blobstore_is_file(struct blobstore *bs, const char *sha_hex, uint64_t dev, uint64_t ino)
{
    char sub[3], path[70];
    struct stat st;

    blob_path(sha_hex, sub, path);
    if (fstatat(bs->blobs_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    return (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

int blobstore_open_existing(const char *dir, struct blobstore **out)
{
    struct blobstore *bs = calloc(1, sizeof(*bs));
    int r;

    if (!bs)
        return -ENOMEM;
    bs->blobs_fd = bs->tmp_fd = bs->dir_fd = -1;
    bs->dir = strdup(dir);
    if (!bs->dir) {
        r = -ENOMEM;
        goto fail;
    }
    bs->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bs->dir_fd < 0) {
        r = -errno;
        goto fail;
    }
    bs->blobs_fd = openat(bs->dir_fd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bs->blobs_fd < 0) {
        r = -errno;
        goto fail;
    }
    /* quarantine/ appears at the first quarantine; tmp/ may be missing. */
    bs->tmp_fd = openat(bs->dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *out = bs;
    return 0;
fail:
    blobstore_close(bs);
    return r;
}

int blobstore_each_tmp(struct blobstore *bs, int (*fn)(void *ctx, const char *name), void *ctx)
{
    if (bs->tmp_fd < 0)
        return 0;
    int fd = openat(bs->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            r = fn(ctx, e->d_name);
    }
    closedir(d);
    return r;
}

int blobstore_remove_tmp(struct blobstore *bs, const char *name)
{
    if (bs->tmp_fd < 0 || strchr(name, '/'))
        return -EINVAL;
    if (unlinkat(bs->tmp_fd, name, 0) < 0)
        return -errno;
    return 0;
}

int blobstore_fs_size(struct blobstore *bs, uint64_t *total, uint64_t *avail)
{
    struct statvfs sv;
    if (fstatvfs(bs->blobs_fd, &sv) < 0)
        return -errno;
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

uint64_t blobstore_sync_failures(struct blobstore *bs)
{
    return atomic_load(&bs->sync_failures);
}

int blobstore_writable(struct blobstore *bs)
{
    /* AT_EACCESS: the effective ids decide what this process may create. */
    if (faccessat(bs->dir_fd, "blobs", W_OK | X_OK, AT_EACCESS) < 0 ||
        faccessat(bs->dir_fd, "tmp", W_OK | X_OK, AT_EACCESS) < 0)
        return -errno;
    return 0;
}
