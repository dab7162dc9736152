/*
 * store.c - commit and delete across the blob store and the index.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "failpoint.h"
#include "log.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs while uploads commit, so each check-and-move holds the publish
 * lock: a blob renamed into place by a commit whose row is not inserted
 * yet must not look unreferenced. */
static int remove_orphan(void *ctx, const char *sha_hex)
{
    struct store *s = ctx;
    bool referenced;
    if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
        return -ECANCELED;
    pthread_mutex_lock(&s->publish_lock);
    int r = index_blob_referenced(s->index, sha_hex, &referenced);
    if (r < 0) {
        pthread_mutex_unlock(&s->publish_lock);
        return r;
    }
    if (!referenced) {
        /* Left by a crash between rename and index commit, or by hand:
         * move it aside rather than delete what someone may want back. */
        int rr = blobstore_quarantine(s->blobs, sha_hex, now_ms());
        log_info("moved unreferenced blob %s to quarantine/%s", sha_hex, rr < 0 ? " (failed)" : "");
    }
    pthread_mutex_unlock(&s->publish_lock);
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
    pthread_mutex_init(&s->commit_lock, NULL);
    s->commit_tail = &s->commit_head;
    pthread_mutex_init(&s->space_lock, NULL);
    pthread_mutex_init(&s->policy_lock, NULL);
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
    pthread_mutex_destroy(&s->commit_lock);
    pthread_mutex_destroy(&s->space_lock);
    pthread_mutex_destroy(&s->policy_lock);
    free(s);
}

/* An upload queued for the group commit (store_commit). */
struct commit_req {
    struct blob_tmp *tmp;
    struct index_insert_item item;
    bool created; /* the publish made the blob file (not a duplicate) */
    store_commit_done_fn *done;
    void *arg;
    struct commit_req *next;
    struct ckpt_record rec; /* item.out */
};

#define COMMIT_BATCH_MAX BLOB_PUBLISH_MAX

/* Whether an item of the batch that committed uses blob sha_hex: then a
 * failed or dropped sibling must not take the file with it. */
static bool batch_uses(struct commit_req **v, size_t n, const char *sha_hex)
{
    for (size_t i = 0; i < n; i++)
        if (v[i]->item.result == 0 && strcmp(v[i]->item.sha_hex, sha_hex) == 0)
            return true;
    return false;
}

/* After a retention pass committed: unlink the blobs nothing refers to
 * any more. The caller holds the publish lock, so no commit can publish
 * one of these digests again in between. A digest that an item of the
 * same batch committed is asked of the index again: that item's row may
 * have come after the pass. A blob we fail to remove is swept as
 * unreferenced at the next start. */
static void unlink_dropped(struct store *s, const struct drop_list *d, struct commit_req **v,
                           size_t n)
{
    if (d->n)
        failpoint("after-retention-commit-crash");
    for (size_t i = 0; i < d->n; i++) {
        bool referenced = false;
        log_info("retention dropped checkpoint %lld", (long long)d->v[i].id);
        if (!d->v[i].unreferenced)
            continue;
        if (batch_uses(v, n, d->v[i].sha256) &&
            (index_blob_referenced(s->index, d->v[i].sha256, &referenced) < 0 || referenced))
            continue; /* in use, or unknown: the start-up sweep decides */
        int rr = blobstore_remove(s->blobs, d->v[i].sha256);
        if (rr < 0 && rr != -ENOENT)
            log_error("cannot remove blob %s: %s", d->v[i].sha256, strerror(-rr));
    }
}

/* Publish and index a batch of synced uploads under the publish lock:
 * every blob renamed into place, then one index transaction for all rows. */
static void commit_batch(struct store *s, struct commit_req **v, size_t n)
{
    struct index_insert_item items[COMMIT_BATCH_MAX];
    struct policy dflt;
    bool any = false;

    struct blob_publish pub[COMMIT_BATCH_MAX];

    if (failpoint("commit-batch-delay"))
        usleep(300 * 1000); /* tests: let the next uploads queue up behind this batch */
    atomic_fetch_add_explicit(&s->commit_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->commit_uploads, n, memory_order_relaxed);
    pthread_mutex_lock(&s->publish_lock);
    for (size_t i = 0; i < n; i++)
        pub[i] = (struct blob_publish){.t = v[i]->tmp, .sha_hex = v[i]->item.sha_hex};
    blobstore_publish_batch(s->blobs, pub, n);
    for (size_t i = 0; i < n; i++) {
        items[i] = v[i]->item;
        items[i].result = pub[i].result;
        v[i]->created = pub[i].created;
        if (pub[i].result < 0 && pub[i].t)
            blob_tmp_discard(pub[i].t);
    }
    bool has_dflt = store_default_policy(s, &dflt);
    index_insert_batch(s->index, items, n, has_dflt ? &dflt : NULL, true);
    for (size_t i = 0; i < n; i++) {
        v[i]->item.result = items[i].result;
        any |= items[i].result == 0;
    }
    if (any)
        failpoint("after-index-commit-crash");
    for (size_t i = 0; i < n; i++) {
        if (items[i].result == 0)
            unlink_dropped(s, &items[i].dropped, v, n);
        index_drop_list_free(&items[i].dropped);
    }
    /* Busy, full, a failed write: SQLite rolled the insert back, so the
     * new blob goes. A failed sync is different: the transaction may still
     * be in the WAL and replayed at the next open, so the blob stays (a
     * row without its blob would be a corrupt checkpoint); if the row
     * never appears, the next start's sweep moves the blob to quarantine/.
     * The index then refuses writes until restart (index_write_failed). */
    for (size_t i = 0; i < n; i++) {
        if (items[i].result == 0 || !v[i]->created || batch_uses(v, n, items[i].sha_hex))
            continue;
        if (!index_write_failed(s->index))
            blobstore_remove(s->blobs, items[i].sha_hex);
        else
            log_error("index insert for blob %s failed with an I/O error; the blob stays "
                      "until the next start sweeps it",
                      items[i].sha_hex);
    }
    pthread_mutex_unlock(&s->publish_lock);
}

void store_commit(struct store *s, struct blob_tmp *tmp, const struct ckpt_meta *meta,
                  uint64_t size, const char *sha_hex, store_commit_done_fn *done, void *arg)
{
    struct commit_req *me = malloc(sizeof(*me));
    int r = me ? 0 : -ENOMEM;

    /* The slow part, a GB-sized fsync, runs outside any lock so commits of
     * different uploads overlap. */
    if (r == 0)
        r = blob_tmp_sync(tmp);
    if (r < 0) {
        blob_tmp_discard(tmp);
        free(me);
        done(arg, r, NULL);
        return;
    }
    *me = (struct commit_req){
        .tmp = tmp,
        .item = {.meta = meta, .size = size, .sha_hex = sha_hex, .out = &me->rec},
        .done = done,
        .arg = arg,
    };
    /* Queue up. While a batch is being committed, that is all: the thread
     * committing it takes this upload in a later batch. Otherwise this
     * thread commits batches until the queue is empty. Nobody waits for
     * their own batch: a thread that did (one condition variable each)
     * cost 1 KiB uploads from 16 clients on tmpfs about one more context
     * switch per upload, 5 in all. */
    pthread_mutex_lock(&s->commit_lock);
    *s->commit_tail = me;
    s->commit_tail = &me->next;
    if (s->committing) {
        pthread_mutex_unlock(&s->commit_lock);
        return;
    }
    s->committing = true;
    while (s->commit_head) {
        struct commit_req *v[COMMIT_BATCH_MAX];
        size_t n = 0;
        int64_t created_ms = now_ms();
        while (s->commit_head && n < COMMIT_BATCH_MAX) {
            v[n] = s->commit_head;
            v[n]->item.created_ms = created_ms;
            s->commit_head = v[n++]->next;
        }
        if (!s->commit_head)
            s->commit_tail = &s->commit_head;
        pthread_mutex_unlock(&s->commit_lock);
        commit_batch(s, v, n);
        for (size_t i = 0; i < n; i++) {
            v[i]->done(v[i]->arg, v[i]->item.result, v[i]->item.result == 0 ? &v[i]->rec : NULL);
            free(v[i]);
        }
        pthread_mutex_lock(&s->commit_lock);
    }
    s->committing = false;
    pthread_mutex_unlock(&s->commit_lock);
}

int store_policy_set(struct store *s, const char *run, const struct policy *p,
                     int64_t **dropped_out, size_t *n_dropped)
{
    struct drop_list dropped = {0};
    int r;

    pthread_mutex_lock(&s->publish_lock);
    r = index_policy_set(s->index, run, p, now_ms(), &dropped);
    if (r == 0)
        unlink_dropped(s, &dropped, NULL, 0);
    pthread_mutex_unlock(&s->publish_lock);
    if (r == 0 && dropped_out) {
        *dropped_out = NULL;
        *n_dropped = dropped.n;
        if (dropped.n && (*dropped_out = malloc(dropped.n * sizeof(int64_t))))
            for (size_t i = 0; i < dropped.n; i++)
                (*dropped_out)[i] = dropped.v[i].id;
        if (dropped.n && !*dropped_out)
            *n_dropped = 0; /* applied; only the report is lost */
    }
    index_drop_list_free(&dropped);
    return r;
}

int store_delete(struct store *s, int64_t id)
{
    char sha_hex[SHA256_HEX_LEN + 1];
    bool unreferenced;
    int r;

    pthread_mutex_lock(&s->publish_lock);
    r = index_delete(s->index, id, sha_hex, &unreferenced);
    if (r == -ENOSPC && blobstore_release_reserve(s->blobs) == 0) {
        /* A full disk must not block the way out of it: the reserve file
         * gives the index room to record the delete. */
        log_info("disk full: released the reserve so a delete can proceed");
        r = index_delete(s->index, id, sha_hex, &unreferenced);
    }
    failpoint("during-delete-crash");
    if (r == 0 && unreferenced) {
        int rr = blobstore_remove(s->blobs, sha_hex);
        /* The row is gone, so the delete succeeded; a blob we failed to
         * remove is swept as unreferenced at the next start. */
        if (rr < 0 && rr != -ENOENT)
            log_error("cannot remove blob %s: %s", sha_hex, strerror(-rr));
    }
    if (r == 0)
        blobstore_keep_reserve(s->blobs); /* refill it once there is room */
    pthread_mutex_unlock(&s->publish_lock);
    return r;
}

int store_open_blob(struct store *s, const struct ckpt_record *rec, int *fd, uint64_t *size)
{
    struct ckpt_record again;
    uint64_t got;
    int f, r = blobstore_open_blob(s->blobs, rec->sha256, &f, &got);

    if (r == -ENOENT && index_get(s->index, rec->id, &again) == -ENOENT)
        return -ENOENT; /* deleted between lookup and open */
    if (r == 0 && got != rec->size) {
        close(f);
        r = -EUCLEAN;
    } else if (r == -ENOENT) {
        r = -EUCLEAN;
    }
    if (r == -EUCLEAN) {
        log_error("blob %s of checkpoint %lld is %s; flagging its checkpoints corrupt", rec->sha256,
                  (long long)rec->id, got != rec->size ? "the wrong size" : "missing");
        index_mark_corrupt(s->index, rec->sha256, NULL);
        return r;
    }
    if (r < 0)
        return r;
    *fd = f;
    *size = got;
    return 0;
}

bool store_read_only(struct store *s)
{
    return blobstore_sync_failed(s->blobs) || index_write_failed(s->index);
}

struct scan {
    struct store *s;
    char (*bad)[SHA256_HEX_LEN + 1];
    size_t n, cap;
    int error;
};

static int scan_blob(void *ctx, const char *sha_hex, uint64_t size)
{
    struct scan *sc = ctx;
    uint64_t got = 0;
    int fd, r;

    if (failpoint("recovery-scan-delay"))
        usleep(200 * 1000); /* tests: a scan long enough to stop the daemon during it */
    if (atomic_load_explicit(&sc->s->stopping, memory_order_relaxed))
        return -ECANCELED;
    r = blobstore_open_blob(sc->s->blobs, sha_hex, &fd, &got);

    if (r == 0)
        close(fd);
    if (r == 0 && got == size)
        return 0;
    if (r < 0 && r != -ENOENT)
        return 0; /* cannot tell now (EMFILE, EACCES): not evidence of damage */
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 16;
        void *p = realloc(sc->bad, cap * sizeof(*sc->bad));
        if (!p)
            return -ENOMEM;
        sc->bad = p;
        sc->cap = cap;
    }
    memcpy(sc->bad[sc->n++], sha_hex, SHA256_HEX_LEN + 1);
    return 0;
}

int store_recovery_scan(struct store *s)
{
    struct scan sc = {.s = s};
    int r = blobstore_each(s->blobs, remove_orphan, s);

    if (r < 0) {
        if (r != -ECANCELED)
            log_error("cannot sweep unreferenced blobs: %s", strerror(-r));
        return r;
    }
    r = index_each_blob(s->index, scan_blob, &sc);
    failpoint("during-recovery-crash");

    /* Marked after the walk: index_each_blob holds a read snapshot. */
    for (size_t i = 0; r == 0 && i < sc.n; i++) {
        unsigned marked = 0;
        index_mark_corrupt(s->index, sc.bad[i], &marked);
        log_error("blob %s is missing or the wrong size: %u checkpoint(s) flagged corrupt",
                  sc.bad[i], marked);
    }
    free(sc.bad);
    return r < 0 ? r : (int)sc.n;
}

void store_stop_scan(struct store *s)
{
    atomic_store(&s->stopping, true);
}

/* ---- integrity and capacity ---------------------------------------------- */

void store_set_capacity(struct store *s, uint64_t max_disk, uint64_t reserve)
{
    uint64_t total = 0, avail = 0;

    if (reserve == RESERVE_AUTO) {
        reserve = 0;
        if (blobstore_fs_size(s->blobs, &total, &avail) == 0)
            reserve = total / 100 * DEFAULT_RESERVE_PERCENT;
        if (reserve > DEFAULT_RESERVE_MAX)
            reserve = DEFAULT_RESERVE_MAX;
    }
    s->max_disk = max_disk;
    s->reserve = reserve;
}

int store_space_claim(struct store *s, uint64_t bytes)
{
    struct index_stats st;
    uint64_t avail;
    int r = 0;

    pthread_mutex_lock(&s->space_lock);
    /* The quota counts what the index says is stored, so it stays right
     * whoever adds or removes blobs (commits, deletes, retention). */
    if (s->max_disk) {
        r = index_stats(s->index, &st);
        if (r == 0 &&
            (st.physical_bytes > s->max_disk || s->max_disk - st.physical_bytes < s->claimed ||
             s->max_disk - st.physical_bytes - s->claimed < bytes))
            r = -EDQUOT;
    }
    if (r == 0 && blobstore_free_space(s->blobs, &avail) == 0 &&
        (avail < s->reserve || avail - s->reserve < bytes))
        r = -ENOSPC;
    if (r == 0)
        s->claimed += bytes;
    pthread_mutex_unlock(&s->space_lock);
    return r;
}

void store_space_release(struct store *s, uint64_t bytes)
{
    pthread_mutex_lock(&s->space_lock);
    s->claimed = bytes > s->claimed ? 0 : s->claimed - bytes;
    pthread_mutex_unlock(&s->space_lock);
}

int store_stats(struct store *s, struct store_stats *out)
{
    struct store_stats st = {.max_disk = s->max_disk, .reserve = s->reserve};
    int r = index_stats(s->index, &st.ix);

    if (r == 0)
        r = blobstore_fs_size(s->blobs, &st.disk_total, &st.disk_free);
    if (r == 0)
        *out = st;
    return r;
}

int store_blob_damaged(struct store *s, const char *sha_hex, const struct blob_stat *seen,
                       unsigned *marked)
{
    bool referenced = false;
    int r, fd;
    uint64_t size;

    *marked = 0;
    pthread_mutex_lock(&s->publish_lock);
    r = index_blob_referenced(s->index, sha_hex, &referenced);
    if (r < 0 || !referenced)
        goto out; /* deleted meanwhile: not a finding */
    if (!seen) {
        r = blobstore_open_blob(s->blobs, sha_hex, &fd, &size);
        if (r == 0) {
            close(fd); /* stored again meanwhile */
            goto out;
        }
        if (r != -ENOENT)
            goto out;
    } else {
        if (!blobstore_is_file(s->blobs, sha_hex, seen->dev, seen->ino)) {
            r = 0; /* another file now: whoever replaced it wrote it whole */
            goto out;
        }
        r = blobstore_quarantine(s->blobs, sha_hex, now_ms());
        if (r < 0)
            log_error("cannot move blob %s to quarantine/: %s", sha_hex, strerror(-r));
    }
    r = index_mark_corrupt(s->index, sha_hex, marked);
    if (r == 0)
        r = 1;
out:
    pthread_mutex_unlock(&s->publish_lock);
    return r < 0 ? r : r == 1;
}

bool store_blob_verified(struct store *s, const char *sha_hex, const struct blob_stat *st)
{
    int64_t verified_ms;
    return index_blob_verified(s->index, sha_hex, &verified_ms) == 0 &&
           verified_ms >= st->changed_ms + VERIFY_CTIME_SLACK_MS;
}

bool store_ready(struct store *s, struct store_readiness *out)
{
    memset(out, 0, sizeof(*out));
    out->index = index_ping(s->index);
    out->writable = blobstore_writable(s->blobs);
    out->read_only = store_read_only(s) ? -EROFS : 0;
    out->disk = blobstore_free_space(s->blobs, &out->free_bytes);
    if (out->disk == 0 && out->free_bytes <= READY_MIN_FREE_BYTES)
        out->disk = -ENOSPC;
    return !out->index && !out->writable && !out->read_only && !out->disk;
}

bool store_default_policy(struct store *s, struct policy *out)
{
    pthread_mutex_lock(&s->policy_lock);
    bool has = s->has_default_policy;
    if (has)
        *out = s->default_policy;
    pthread_mutex_unlock(&s->policy_lock);
    return has;
}

void store_set_default_policy(struct store *s, const struct policy *p)
{
    pthread_mutex_lock(&s->policy_lock);
    s->has_default_policy = p != NULL;
    if (p)
        s->default_policy = *p;
    pthread_mutex_unlock(&s->policy_lock);
}
