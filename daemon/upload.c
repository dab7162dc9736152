/*
 * upload.c - streaming upload state; see upload.h.
 *
 * Small bodies are hashed as they arrive. Receiving, writing and hashing a
 * large body on one event thread caps an upload at the speed of SHA-256
 * (about 1.2 GB/s here) minus the cost of the rest; once a body passes
 * HASH_PIPELINE_MIN bytes, a thread of its own hashes it instead, reading
 * back from the temp file (the page cache) what the event thread wrote.
 * The digest then covers exactly the bytes in the file.
 *
 * That costs a second copy of every byte, which only pays while a core
 * would otherwise idle: with many uploads at once the event threads keep
 * every core busy, and hashing where the bytes already are is cheaper. So
 * at most half the cores (at least one) run hasher threads; an upload
 * that finds them all taken hashes on its event thread.
 */
#include "upload.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_limits.h"
#include "failpoint.h"
#include "log.h"

int upload_new(struct blobstore *bs, uint64_t limit, uint64_t size, struct upload **out)
{
    struct upload *u = calloc(1, sizeof(*u));
    int r;

    if (!u)
        return -ENOMEM;
    u->limit = limit;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->more, NULL);
    u->hash = sha256_new();
    if (!u->hash) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = blobstore_tmp_new(bs, size, &u->tmp)) < 0)
        goto fail;
    *out = u;
    return 0;
fail:
    upload_free(u);
    return r;
}

static atomic_int hashers; /* hasher threads running, all uploads */
static int hashers_max;
static pthread_once_t hashers_once = PTHREAD_ONCE_INIT;

static void hashers_init(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    hashers_max = n >= 4 ? (int)(n / 2) : 1;
}

/* Take a hasher slot; false when every one is in use. */
static bool hasher_slot_get(void)
{
    pthread_once(&hashers_once, hashers_init);
    int n = atomic_load(&hashers);
    while (n < hashers_max)
        if (atomic_compare_exchange_weak(&hashers, &n, n + 1))
            return true;
    return false;
}

/* The hasher thread: digest the temp file from u->hashed on, following
 * u->written until stop is set and everything written is hashed. */
static void *hasher(void *arg)
{
    struct upload *u = arg;
    uint8_t *buf = malloc(HASH_READ_BUF);
    int r = buf ? 0 : -ENOMEM;

    pthread_mutex_lock(&u->lock);
    while (r == 0) {
        while (u->hashed == u->written && !u->stop)
            pthread_cond_wait(&u->more, &u->lock);
        uint64_t avail = u->written - u->hashed, off = u->hashed;
        if (avail == 0 || u->abandon)
            break; /* stopped, and all caught up; or not wanted any more */
        pthread_mutex_unlock(&u->lock);
        size_t want = avail < HASH_READ_BUF ? (size_t)avail : HASH_READ_BUF;
        ssize_t n = blob_tmp_pread(u->tmp, buf, want, off);
        if (n <= 0)
            r = n < 0 ? (int)n : -EIO; /* the file is shorter than written */
        else
            r = sha256_update(u->hash, buf, (size_t)n);
        pthread_mutex_lock(&u->lock);
        if (r == 0)
            u->hashed += (uint64_t)n;
    }
    u->hash_error = r;
    pthread_mutex_unlock(&u->lock);
    free(buf);
    return NULL;
}

/* Stop the hasher and wait for it; after this the digest is complete (or
 * hash_error says why not), unless abandon, which stops it at once. */
static void hasher_join(struct upload *u, bool abandon)
{
    if (!u->hashing)
        return;
    pthread_mutex_lock(&u->lock);
    u->stop = true;
    u->abandon = abandon;
    pthread_cond_signal(&u->more);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->hasher, NULL);
    u->hashing = false;
    atomic_fetch_sub(&hashers, 1);
}

int upload_write(struct upload *u, const void *data, size_t len)
{
    int r;

    if (len > u->limit - u->received)
        return -EFBIG;
    u->received += len;
    if (u->received > (1u << 20))
        failpoint("mid-body-crash");
    if (u->error)
        return 0;
    if (!u->hashing && !u->inline_hash && u->written >= HASH_PIPELINE_MIN) {
        u->hashed = u->written;
        if (hasher_slot_get()) {
            if (pthread_create(&u->hasher, NULL, hasher, u) == 0) {
                pthread_setname_np(u->hasher, "ckptd-hasher");
                u->hashing = true;
            } else
                atomic_fetch_sub(&hashers, 1);
        }
        u->inline_hash = !u->hashing; /* decided once: keep hashing here */
    }
    if (u->hashing) {
        r = blob_tmp_write(u->tmp, data, len);
        if (r == 0) {
            pthread_mutex_lock(&u->lock);
            u->written += len;
            pthread_cond_signal(&u->more);
            pthread_mutex_unlock(&u->lock);
        }
    } else {
        r = sha256_update(u->hash, data, len);
        if (r == 0)
            r = blob_tmp_write(u->tmp, data, len);
        if (r == 0)
            u->written += len;
    }
    if (r < 0)
        u->error = r;
    return 0;
}

void upload_fail(struct upload *u, int err)
{
    hasher_join(u, true); /* it reads the temp file */
    blob_tmp_discard(u->tmp);
    u->tmp = NULL;
    if (!u->error)
        u->error = err;
}

int upload_finish(struct upload *u)
{
    hasher_join(u, false);
    if (u->error)
        return u->error;
    if (u->hash_error) {
        log_error("cannot hash the upload's temp file: %s", strerror(-u->hash_error));
        return -EIO;
    }
    if (sha256_final(u->hash, u->digest) < 0)
        return -EIO;
    digest_hex(u->digest, u->digest_hex);
    u->finished = true;
    return 0;
}

struct blob_tmp *upload_detach_tmp(struct upload *u)
{
    struct blob_tmp *t = u->tmp;
    u->tmp = NULL;
    return t;
}

void upload_free(struct upload *u)
{
    if (!u)
        return;
    hasher_join(u, true); /* it reads the temp file: stop it first */
    blob_tmp_discard(u->tmp);
    sha256_free(u->hash);
    pthread_cond_destroy(&u->more);
    pthread_mutex_destroy(&u->lock);
    free(u);
}
