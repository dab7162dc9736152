/*
 * store.c - commit and delete across the blob store and the index.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remove_orphan(void *ctx, const char *sha_hex)
{
    struct store *s = ctx;
    bool referenced;
    int r = index_blob_referenced(s->index, sha_hex, &referenced);
    if (r < 0)
        return r;
    if (!referenced) {
        log_info("removing unreferenced blob %s", sha_hex);
        blobstore_remove(s->blobs, sha_hex);
    }
    return 0;
}

int store_open(const char *dir, unsigned readers, struct store **out)
{
    char path[4096];
    struct store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->publish_lock, NULL);
    if ((size_t)snprintf(path, sizeof(path), "%s/index.db", dir) >= sizeof(path)) {
        r = -ENAMETOOLONG;
        goto fail;
    }
    if ((r = blobstore_open(dir, &s->blobs)) < 0) {
        log_error("cannot open blob store in '%s': %s", dir, strerror(-r));
        goto fail;
    }
    if ((r = index_open(path, readers, &s->index)) < 0) {
        log_error("cannot open index '%s': %s", path, strerror(-r));
        goto fail;
    }
    if ((r = blobstore_each(s->blobs, remove_orphan, s)) < 0) {
        log_error("cannot sweep unreferenced blobs: %s", strerror(-r));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return r;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    index_close(s->index);
    blobstore_close(s->blobs);
    pthread_mutex_destroy(&s->publish_lock);
    free(s);
}

int store_commit(struct store *s, struct blob_tmp *tmp, const struct ckpt_meta *meta,
                 uint64_t size, const char *sha_hex, struct ckpt_record *out)
{
    bool created = false;
    int r;

    /* The slow part, a GB-sized fsync, runs outside the lock so commits of
     * different uploads overlap. */
    r = blob_tmp_sync(tmp);
    if (r < 0) {
        blob_tmp_discard(tmp);
        return r;
    }
    pthread_mutex_lock(&s->publish_lock);
    r = blobstore_publish(s->blobs, tmp, sha_hex, &created);
    if (r < 0) {
        pthread_mutex_unlock(&s->publish_lock);
        blob_tmp_discard(tmp);
        return r;
    }
    r = index_insert(s->index, meta, size, sha_hex, now_ms(), out);
    if (r < 0 && created)
        blobstore_remove(s->blobs, sha_hex);
    pthread_mutex_unlock(&s->publish_lock);
    return r;
}

int store_delete(struct store *s, int64_t id)
{
    char sha_hex[SHA256_HEX_LEN + 1];
    bool unreferenced;
    int r;

    pthread_mutex_lock(&s->publish_lock);
    r = index_delete(s->index, id, sha_hex, &unreferenced);
    if (r == 0 && unreferenced) {
        int rr = blobstore_remove(s->blobs, sha_hex);
        /* The row is gone, so the delete succeeded; a blob we failed to
         * remove is swept as unreferenced at the next start. */
        if (rr < 0 && rr != -ENOENT)
            log_error("cannot remove blob %s: %s", sha_hex, strerror(-rr));
    }
    pthread_mutex_unlock(&s->publish_lock);
    return r;
}

int store_open_blob(struct store *s, const struct ckpt_record *rec, int *fd, uint64_t *size)
{
    return blobstore_open_blob(s->blobs, rec->sha256, fd, size);
}
