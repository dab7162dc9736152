/*
 * fhash.c - SHA-256 of a file region on a thread of its own, following a
 * writer or a sender: the caller says how many bytes are final, the thread
 * reads them back with pread (the page cache) and hashes them, so the
 * caller's thread only moves bytes and the hashing runs on another core.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Read back in pieces that stay in the L2 cache between pread and hash. */
#define FHASH_BUF (256u << 10)
/* Wake a sleeping hasher once this much is pending, not for every write:
 * a futex wake and a context switch per 64 KiB callback add up. */
#define FHASH_WAKE (1u << 20)

struct fhash {
    int fd;
    uint64_t base; /* file offset of byte 0 */
    unsigned char *buf;
    pthread_mutex_t lock;
    pthread_cond_t more;
    pthread_t thread;
    bool running;
    /* Under lock while the thread runs; the thread alone touches sha. */
    struct sha_ctx *sha;
    uint64_t avail;  /* bytes [0, avail) are final and may be hashed */
    uint64_t hashed; /* bytes [0, hashed) are in sha */
    bool stop;       /* hash up to avail, then exit */
    bool abandon;    /* exit at once */
    bool sleeping;   /* the thread waits for more */
    int err;         /* negative errno: a read failed or the file is short */
};

bool ckpt_fhash_usable(int fd, bool for_writing, uint64_t *base)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    off_t pos;

    if (fl < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    if (for_writing && ((fl & O_ACCMODE) != O_RDWR || (fl & O_APPEND)))
        return false; /* cannot read back; or writes may land elsewhere */
    if ((fl & O_ACCMODE) == O_WRONLY)
        return false;
    if ((pos = lseek(fd, 0, SEEK_CUR)) < 0)
        return false;
    *base = (uint64_t)pos;
    return true;
}

struct fhash *ckpt_fhash_new(int fd, uint64_t base)
{
    struct fhash *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->fd = fd;
    f->base = base;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->more, NULL);
    if (!(f->buf = malloc(FHASH_BUF))) {
        ckpt_fhash_free(f);
        return NULL;
    }
    return f;
}

static void *fhash_thread(void *arg)
{
    struct fhash *f = arg;
    int r = 0;

    pthread_mutex_lock(&f->lock);
    while (r == 0) {
        while (f->hashed == f->avail && !f->stop && !f->abandon) {
            f->sleeping = true;
            pthread_cond_wait(&f->more, &f->lock);
            f->sleeping = false;
        }
        if (f->abandon || f->hashed == f->avail)
            break; /* not wanted any more; or stopped and caught up */
        uint64_t off = f->hashed, left = f->avail - f->hashed;
        size_t want = left < FHASH_BUF ? (size_t)left : FHASH_BUF;
        pthread_mutex_unlock(&f->lock);
        ssize_t n;
        do
            n = pread(f->fd, f->buf, want, (off_t)(f->base + off));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            r = n < 0 ? -errno : -EIO; /* shorter than the caller said */
        else
            r = ckpt_sha_update(f->sha, f->buf, (size_t)n);
        pthread_mutex_lock(&f->lock);
        if (r == 0)
            f->hashed += (uint64_t)n;
    }
    if (r < 0)
        f->err = r;
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* Stop the thread: at once (abandon) or once it has caught up. */
static void fhash_join(struct fhash *f, bool abandon)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    f->abandon = abandon;
    pthread_cond_signal(&f->more);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    f->running = false;
}

int ckpt_fhash_start(struct fhash *f)
{
    fhash_join(f, true);
    ckpt_sha_free(f->sha);
    f->avail = f->hashed = 0;
    f->stop = f->abandon = f->sleeping = false;
    f->err = 0;
    if (!(f->sha = ckpt_sha_new()))
        return f->err = -ENOMEM;
    if (pthread_create(&f->thread, NULL, fhash_thread, f) != 0)
        return f->err = -EAGAIN;
    f->running = true;
    return 0;
}

void ckpt_fhash_advance(struct fhash *f, uint64_t avail)
{
    pthread_mutex_lock(&f->lock);
    f->avail = avail;
    if (f->sleeping && avail - f->hashed >= FHASH_WAKE)
        pthread_cond_signal(&f->more);
    pthread_mutex_unlock(&f->lock);
}

int ckpt_fhash_final_hex(struct fhash *f, uint64_t len, char hex[65])
{
    if (!f->running)
        return f->err ? f->err : -EINVAL;
    ckpt_fhash_advance(f, len);
    fhash_join(f, false);
    if (f->err)
        return f->err;
    if (f->hashed != len)
        return -EIO;
    return ckpt_sha_final_hex(f->sha, hex);
}

void ckpt_fhash_free(struct fhash *f)
{
    if (!f)
        return;
    fhash_join(f, true);
    ckpt_sha_free(f->sha);
    free(f->buf);
    pthread_cond_destroy(&f->more);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
