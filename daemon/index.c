/*
 * index.c - index.h on SQLite: the only file that includes sqlite3.h.
 * One writer connection behind a mutex (synchronous=FULL: a committed row
 * survives power loss), and a pool of read-only connections that see
 * committed rows only (WAL snapshots).
 */
#include "index.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "failpoint.h"
#include "log.h"
#include "migrations.h"
#include "retention.h"

#include <stdatomic.h>

/* A connection and its prepared statements. Statements are prepared once
 * (SQLITE_PREPARE_PERSISTENT) and reset after each use: parsing SQL was
 * most of the CPU time of a small query. A connection is used by one
 * thread at a time (the writer lock, the reader pool), so is its cache. */
#define STMT_CACHE 24

struct conn {
    sqlite3 *db;
    struct {
        char *sql;
        sqlite3_stmt *st;
        bool busy;
    } cache[STMT_CACHE];
    unsigned next_evict;
};

struct index {
    struct conn writer;
    atomic_bool write_failed; /* a write transaction hit an I/O error */
    pthread_mutex_t write_lock;
    struct conn *readers;
    bool *reader_busy;
    unsigned n_readers;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    _Atomic uint64_t generation; /* commits on the writer, see index_generation */
    bool wal;                    /* the journal really is a WAL (on_commit runs) */
};

#define WAL_AUTOCHECKPOINT_PAGES 1000 /* SQLite's default wal_autocheckpoint */

#define RECORD_COLUMNS                                                                             \
    "c.id, c.run, c.epoch, c.step, c.loss, c.size, c.sha256, c.created_ms, c.corrupt, c.pinned"
#define SORT_KEY_COLUMN 10 /* list_sql appends the sort key after RECORD_COLUMNS */
#define METRIC_COLUMN 11   /* then a metric's name and value, NULL for none */

static int errno_from_sqlite(sqlite3 *db, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_NOMEM: return -ENOMEM;
    default:
        log_error("index: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return -EIO;
    }
}

/* End a failed write transaction. A failed COMMIT may already have rolled
 * back. A failed fsync of the WAL leaves the outcome unknown (the frames,
 * commit frame included, may be replayed at the next open): after that the
 * index is not trusted for writes any more. */
static void rollback(struct index *ix, sqlite3 *db)
{
    /* Only a failed sync leaves the outcome open: frames whose write
     * failed, or a full disk, never carry a valid commit frame. */
    int ext = sqlite3_extended_errcode(db);
    if (ext == SQLITE_IOERR_FSYNC || ext == SQLITE_IOERR_DIR_FSYNC)
        atomic_store(&ix->write_failed, true);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : errno_from_sqlite(db, rc, sql);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : errno_from_sqlite(db, rc, "prepare");
}

/* A statement for sql on cn, from its cache when possible. Pair with
 * release(). */
static int cprepare(struct conn *cn, const char *sql, sqlite3_stmt **st)
{
    unsigned free_slot = STMT_CACHE;

    for (unsigned i = 0; i < STMT_CACHE; i++) {
        if (!cn->cache[i].sql) {
            if (free_slot == STMT_CACHE)
                free_slot = i;
        } else if (!cn->cache[i].busy && strcmp(cn->cache[i].sql, sql) == 0) {
            cn->cache[i].busy = true;
            *st = cn->cache[i].st;
            return 0;
        }
    }
    int rc = sqlite3_prepare_v3(cn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK)
        return errno_from_sqlite(cn->db, rc, "prepare");
    if (free_slot == STMT_CACHE) { /* full: evict one that is not in use */
        for (unsigned n = 0; n < STMT_CACHE && free_slot == STMT_CACHE; n++) {
            unsigned i = (cn->next_evict + n) % STMT_CACHE;
            if (!cn->cache[i].busy) {
                sqlite3_finalize(cn->cache[i].st);
                free(cn->cache[i].sql);
                cn->cache[i].sql = NULL;
                free_slot = i;
            }
        }
        cn->next_evict = (free_slot + 1) % STMT_CACHE;
    }
    if (free_slot < STMT_CACHE && (cn->cache[free_slot].sql = strdup(sql))) {
        cn->cache[free_slot].st = *st;
        cn->cache[free_slot].busy = true;
    }
    return 0;
}

/* Done with a statement from cprepare: reset it for the next use (which
 * also ends its read of the database), or finalize it if not cached. */
static void release(struct conn *cn, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (unsigned i = 0; i < STMT_CACHE; i++) {
        if (cn->cache[i].sql && cn->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            cn->cache[i].busy = false;
            return;
        }
    }
    sqlite3_finalize(st);
}

static void close_conn(struct conn *cn)
{
    for (unsigned i = 0; i < STMT_CACHE; i++) {
        if (cn->cache[i].sql) {
            sqlite3_finalize(cn->cache[i].st);
            free(cn->cache[i].sql);
            cn->cache[i].sql = NULL;
        }
    }
    sqlite3_close(cn->db);
    cn->db = NULL;
}

/* SQLite's memory statistics take a process-wide mutex on every malloc and
 * free, which the event threads then contend for on every query; ckptd
 * never reads them. Must run before the library initialises. */
static void sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int open_conn(const char *path, int flags, sqlite3 **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    sqlite3 *db = NULL;

    pthread_once(&once, sqlite_setup);
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int r = errno_from_sqlite(db, rc, "open");
        sqlite3_close(db);
        return r;
    }
    sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    *out = db;
    return 0;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int r = prepare(db, "PRAGMA user_version", &st);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    else
        r = errno_from_sqlite(db, rc, "user_version");
    sqlite3_finalize(st);
    return r;
}

/* Apply every migration newer than the file's user_version, all in one
 * transaction: a crash mid-way leaves the old schema intact. */
static int migrate(sqlite3 *db)
{
    int have = 0, r;
    char sql[64];

    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        return r;
    if ((r = user_version(db, &have)) < 0)
        goto fail;
    int newest = migrations_count ? migrations[migrations_count - 1].version : 0;
    if (have > newest) {
        log_error("index: schema version %d is newer than this ckptd knows (%d)", have, newest);
        r = -EPROTO;
        goto fail;
    }
    for (unsigned i = 0; i < migrations_count; i++) {
        if (migrations[i].version <= have)
            continue;
        if ((r = exec(db, migrations[i].sql)) < 0) {
            log_error("index: migration %s failed", migrations[i].name);
            goto fail;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", migrations[i].version);
        if ((r = exec(db, sql)) < 0)
            goto fail;
    }
    return exec(db, "COMMIT");
fail:
    if (!sqlite3_get_autocommit(db))
        exec(db, "ROLLBACK");
    return r;
}

/* PRAGMA quick_check: refuse to serve from an index SQLite finds damaged. */
static int quick_check(sqlite3 *db)
{
    sqlite3_stmt *st;
    int r = prepare(db, "PRAGMA quick_check", &st);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = errno_from_sqlite(db, rc, "quick_check");
    } else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        log_error("index: quick_check failed: %s", sqlite3_column_text(st, 0));
        r = -EUCLEAN;
    }
    sqlite3_finalize(st);
    return r;
}

/* The writer's WAL hook: SQLite calls it after each commit, once the new
 * rows are visible to readers and the write lock is released. Registering
 * it replaces SQLite's own automatic checkpoint hook, so it checkpoints
 * the same way (passive, at SQLite's default 1000 pages). */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct index *ix = arg;

    atomic_fetch_add_explicit(&ix->generation, 1, memory_order_release);
    if (pages >= WAL_AUTOCHECKPOINT_PAGES)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

uint64_t index_generation(struct index *ix)
{
    /* Without a WAL the hook never runs: a new number every time, so no
     * answer is ever taken for current. */
    if (!ix->wal)
        return atomic_fetch_add_explicit(&ix->generation, 1, memory_order_acq_rel);
    return atomic_load_explicit(&ix->generation, memory_order_acquire);
}

/* True when the connection's journal mode is WAL (a file system without
 * shared memory support leaves it in rollback mode). */
static bool journal_is_wal(sqlite3 *db)
{
    sqlite3_stmt *st;
    bool wal = false;

    if (prepare(db, "PRAGMA journal_mode", &st) < 0)
        return false;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        wal = mode && strcmp(mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    return wal;
}

int index_open(const char *path, unsigned readers, struct index **out)
{
    struct index *ix = calloc(1, sizeof(*ix));
    int r;

    if (!ix)
        return -ENOMEM;
    pthread_mutex_init(&ix->write_lock, NULL);
    pthread_mutex_init(&ix->pool_lock, NULL);
    pthread_cond_init(&ix->pool_cond, NULL);
    ix->readers = calloc(readers, sizeof(*ix->readers));
    ix->reader_busy = calloc(readers, sizeof(*ix->reader_busy));
    if (!ix->readers || !ix->reader_busy) {
        r = -ENOMEM;
        goto fail;
    }
    r = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &ix->writer.db);
    if (r < 0)
        goto fail;
    if ((r = exec(ix->writer.db, "PRAGMA journal_mode = WAL")) < 0 ||
        (r = exec(ix->writer.db, "PRAGMA synchronous = FULL")) < 0 ||
        (r = migrate(ix->writer.db)) < 0)
        goto fail;
    sqlite3_wal_hook(ix->writer.db, on_commit, ix);
    ix->wal = journal_is_wal(ix->writer.db);
    if ((r = quick_check(ix->writer.db)) < 0)
        goto fail;
    for (unsigned i = 0; i < readers; i++) {
        r = open_conn(path, SQLITE_OPEN_READONLY, &ix->readers[i].db);
        if (r < 0)
            goto fail;
        ix->n_readers++;
        /* A first read opens the connection's WAL file now rather than
         * on some later request: the daemon's descriptors stay constant
         * under load (fd-count checks and limits see a steady number). */
        if ((r = exec(ix->readers[i].db, "SELECT count(*) FROM sqlite_schema")) < 0)
            goto fail;
    }
    *out = ix;
    return 0;
fail:
    index_close(ix);
    return r;
}

void index_close(struct index *ix)
{
    if (!ix)
        return;
    for (unsigned i = 0; ix->readers && i < ix->n_readers; i++)
        close_conn(&ix->readers[i]);
    close_conn(&ix->writer);
    free(ix->readers);
    free(ix->reader_busy);
    pthread_mutex_destroy(&ix->write_lock);
    pthread_mutex_destroy(&ix->pool_lock);
    pthread_cond_destroy(&ix->pool_cond);
    free(ix);
}

static struct conn *reader_get(struct index *ix, unsigned *slot)
{
    pthread_mutex_lock(&ix->pool_lock);
    for (;;) {
        for (unsigned i = 0; i < ix->n_readers; i++) {
            if (!ix->reader_busy[i]) {
                ix->reader_busy[i] = true;
                pthread_mutex_unlock(&ix->pool_lock);
                *slot = i;
                return &ix->readers[i];
            }
        }
        pthread_cond_wait(&ix->pool_cond, &ix->pool_lock);
    }
}

static void reader_put(struct index *ix, unsigned slot)
{
    pthread_mutex_lock(&ix->pool_lock);
    ix->reader_busy[slot] = false;
    pthread_cond_signal(&ix->pool_cond);
    pthread_mutex_unlock(&ix->pool_lock);
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    size_t n = src ? strnlen((const char *)src, size - 1) : 0;

    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int load_metrics(struct conn *cn, struct ckpt_record *rec)
{
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r =
        cprepare(cn, "SELECT name, value FROM metrics WHERE checkpoint_id = ? ORDER BY name", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, rec->id);
    rec->meta.n_metrics = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && rec->meta.n_metrics < METRICS_MAX) {
        struct metric *m = &rec->meta.metrics[rec->meta.n_metrics++];
        copy_text(m->name, sizeof(m->name), sqlite3_column_text(st, 0));
        m->value = sqlite3_column_double(st, 1);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = errno_from_sqlite(db, rc, "metrics");
    release(cn, st);
    return r;
}

/* Fill rec from the RECORD_COLUMNS of the current row, all but its metrics.
 * Every field is set, but not the unused tail of the 8 KiB metrics array:
 * zeroing that for each row of a page cost more than the row's query. */
static void read_columns(sqlite3_stmt *st, struct ckpt_record *rec)
{
    rec->id = sqlite3_column_int64(st, 0);
    copy_text(rec->meta.run, sizeof(rec->meta.run), sqlite3_column_text(st, 1));
    rec->meta.has_epoch = sqlite3_column_type(st, 2) != SQLITE_NULL;
    rec->meta.epoch = rec->meta.has_epoch ? sqlite3_column_int64(st, 2) : 0;
    rec->meta.has_step = sqlite3_column_type(st, 3) != SQLITE_NULL;
    rec->meta.step = rec->meta.has_step ? sqlite3_column_int64(st, 3) : 0;
    rec->meta.has_loss = sqlite3_column_type(st, 4) != SQLITE_NULL;
    rec->meta.loss = rec->meta.has_loss ? sqlite3_column_double(st, 4) : 0;
    rec->size = (uint64_t)sqlite3_column_int64(st, 5);
    copy_text(rec->sha256, sizeof(rec->sha256), sqlite3_column_text(st, 6));
    rec->created_ms = sqlite3_column_int64(st, 7);
    rec->corrupt = sqlite3_column_int(st, 8) != 0;
    rec->pinned = sqlite3_column_int(st, 9) != 0;
    rec->meta.n_metrics = 0;
}

/* read_columns, then the row's metrics. */
static int read_record(struct conn *cn, sqlite3_stmt *st, struct ckpt_record *rec)
{
    read_columns(st, rec);
    return load_metrics(cn, rec);
}

/* Run a prepared single-row query into *out: -ENOENT when it has no row. */
static int one_record(struct conn *cn, sqlite3_stmt *st, struct ckpt_record *out)
{
    sqlite3 *db = cn->db;
    struct ckpt_record rec;
    int rc = sqlite3_step(st), r;

    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return errno_from_sqlite(db, rc, "query");
    r = read_record(cn, st, &rec);
    if (r == 0)
        *out = rec;
    return r;
}

static int run_exists(struct conn *cn, const char *run, bool *exists)
{
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT 1 FROM checkpoints WHERE run = ? LIMIT 1", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        *exists = rc == SQLITE_ROW;
    else
        r = errno_from_sqlite(db, rc, "run_exists");
    release(cn, st);
    return r;
}

int index_ping(struct index *ix)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT count(*) FROM sqlite_schema", &st);
    if (r == 0) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            r = errno_from_sqlite(db, rc, "ping");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

static int bind_optional_int(sqlite3_stmt *st, int i, bool has, int64_t v)
{
    return has ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static int retain(struct index *ix, struct conn *cn, const char *run, const struct policy *dflt,
                  int64_t now_ms, struct drop_list *dropped);

int index_insert(struct index *ix, const struct ckpt_meta *meta, uint64_t size, const char *sha_hex,
                 int64_t created_ms, struct ckpt_record *out)
{
    struct index_insert_item it = {
        .meta = meta, .size = size, .sha_hex = sha_hex, .created_ms = created_ms, .out = out};

    index_insert_batch(ix, &it, 1, NULL, false);
    return it.result;
}

int index_insert_retain(struct index *ix, const struct ckpt_meta *meta, uint64_t size,
                        const char *sha_hex, int64_t created_ms, const struct policy *dflt,
                        struct ckpt_record *out, struct drop_list *dropped)
{
    struct index_insert_item it = {
        .meta = meta, .size = size, .sha_hex = sha_hex, .created_ms = created_ms, .out = out};

    index_insert_batch(ix, &it, 1, dflt, true);
    *dropped = it.dropped;
    return it.result;
}

/* A statement without results, from cn's statement cache. */
static int cexec(struct conn *cn, const char *sql)
{
    sqlite3_stmt *st;
    int r = cprepare(cn, sql, &st);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        r = errno_from_sqlite(cn->db, rc, sql);
    release(cn, st);
    return r;
}

/* One item's rows, and its run's retention when asked, inside the open
 * write transaction. */
static int insert_item(struct index *ix, struct conn *cn, struct index_insert_item *it,
                       const struct policy *dflt, bool retention)
{
    const struct ckpt_meta *meta = it->meta;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int64_t id;
    int r, rc;

    /* Tests: one item of a group commit fails while the others commit. */
    if (strcmp(meta->run, "failpoint-item") == 0 && failpoint("index-item-eio"))
        return -EIO;
    r = cprepare(cn,
                 "INSERT INTO checkpoints (run, epoch, step, loss, size, sha256, created_ms) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, meta->run, -1, SQLITE_STATIC);
    bind_optional_int(st, 2, meta->has_epoch, meta->epoch);
    bind_optional_int(st, 3, meta->has_step, meta->step);
    if (meta->has_loss)
        sqlite3_bind_double(st, 4, meta->loss);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)it->size);
    sqlite3_bind_text(st, 6, it->sha_hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, it->created_ms);
    rc = sqlite3_step(st);
    release(cn, st);
    if (rc != SQLITE_DONE)
        return errno_from_sqlite(db, rc, "insert checkpoint");
    id = sqlite3_last_insert_rowid(db);
    r = cprepare(cn, "INSERT INTO metrics (checkpoint_id, name, value, run) VALUES (?, ?, ?, ?)",
                 &st);
    if (r < 0)
        return r;
    for (size_t i = 0; i < meta->n_metrics && r == 0; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, meta->metrics[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, meta->metrics[i].value);
        sqlite3_bind_text(st, 4, meta->run, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "insert metric");
    }
    release(cn, st);
    if (r < 0)
        return r;
    /* The run's policy is applied in the same transaction: a crash leaves
     * either the old state or the new row with the policy applied. */
    if (retention && (r = retain(ix, cn, meta->run, dflt, it->created_ms, &it->dropped)) < 0)
        return r;
    memset(it->out, 0, sizeof(*it->out));
    it->out->id = id;
    it->out->meta = *meta;
    it->out->size = it->size;
    snprintf(it->out->sha256, sizeof(it->out->sha256), "%s", it->sha_hex);
    it->out->created_ms = it->created_ms;
    return 0;
}

void index_insert_batch(struct index *ix, struct index_insert_item *items, size_t n,
                        const struct policy *dflt, bool retention)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    /* Savepoints only when there is another item to keep. */
    bool savepoints = n > 1;
    int r;

    for (size_t i = 0; i < n; i++)
        items[i].dropped = (struct drop_list){0};
    pthread_mutex_lock(&ix->write_lock);
    /* From the statement cache: parsing BEGIN and COMMIT anew for every
     * upload cost more than running them. */
    if ((r = cexec(cn, "BEGIN IMMEDIATE")) < 0)
        goto fail_all;
    for (size_t i = 0; i < n; i++) {
        struct index_insert_item *it = &items[i];
        if (it->result < 0)
            continue;
        if (savepoints && (r = cexec(cn, "SAVEPOINT item")) < 0)
            goto rollback;
        it->result = insert_item(ix, cn, it, dflt, retention);
        if (it->result < 0) {
            index_drop_list_free(&it->dropped);
            if (!savepoints || cexec(cn, "ROLLBACK TO item") < 0) {
                r = it->result;
                goto rollback;
            }
        }
        if (savepoints && (r = cexec(cn, "RELEASE item")) < 0)
            goto rollback;
    }
    if ((r = cexec(cn, "COMMIT")) < 0)
        goto rollback;
    pthread_mutex_unlock(&ix->write_lock);
    return;
rollback:
    rollback(ix, db);
fail_all:
    for (size_t i = 0; i < n; i++) {
        if (items[i].result == 0)
            items[i].result = r;
        index_drop_list_free(&items[i].dropped); /* nothing was dropped after all */
    }
    pthread_mutex_unlock(&ix->write_lock);
}

int index_delete(struct index *ix, int64_t id, char sha_hex[SHA256_HEX_LEN + 1], bool *unreferenced)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st = NULL;
    char sha[SHA256_HEX_LEN + 1];
    bool referenced = false;
    int r, rc;

    pthread_mutex_lock(&ix->write_lock);
    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    if ((r = cprepare(cn, "SELECT sha256 FROM checkpoints WHERE id = ?", &st)) < 0)
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = -ENOENT;
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        r = errno_from_sqlite(db, rc, "delete lookup");
        goto rollback;
    }
    copy_text(sha, sizeof(sha), sqlite3_column_text(st, 0));
    release(cn, st);
    st = NULL;

    static const char *const deletes[] = {
        "DELETE FROM metrics WHERE checkpoint_id = ?",
        "DELETE FROM aliases WHERE checkpoint_id = ?",
        "DELETE FROM leases WHERE checkpoint_id = ?",
        "DELETE FROM checkpoints WHERE id = ?",
    };
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        if ((r = cprepare(cn, deletes[i], &st)) < 0)
            goto rollback;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        release(cn, st);
        st = NULL;
        if (rc != SQLITE_DONE) {
            r = errno_from_sqlite(db, rc, "delete");
            goto rollback;
        }
    }
    if ((r = cprepare(cn, "SELECT 1 FROM checkpoints WHERE sha256 = ? LIMIT 1", &st)) < 0)
        goto rollback;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    referenced = rc == SQLITE_ROW;
    release(cn, st);
    st = NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = errno_from_sqlite(db, rc, "delete refcount");
        goto rollback;
    }
    if ((r = exec(db, "COMMIT")) < 0)
        goto rollback;
    pthread_mutex_unlock(&ix->write_lock);
    memcpy(sha_hex, sha, sizeof(sha));
    *unreferenced = !referenced;
    return 0;
rollback:
    release(cn, st);
    rollback(ix, db);
out:
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_get(struct index *ix, int64_t id, struct ckpt_record *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT " RECORD_COLUMNS " FROM checkpoints c WHERE c.id = ?", &st);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, id);
        r = one_record(cn, st, out);
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_latest(struct index *ix, const char *run, struct ckpt_record *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int r = cprepare(cn,
                     "SELECT " RECORD_COLUMNS " FROM checkpoints c WHERE c.run = ? "
                     "AND c.corrupt = 0 ORDER BY c.id DESC LIMIT 1",
                     &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        r = one_record(cn, st, out);
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_best(struct index *ix, const char *run, const char *metric, bool maximize,
               struct ckpt_record *out)
{
    static const char *const sql[2][2] = {
        /* The lowest loss, then the newest row with it: two seeks on
         * (run, loss, id). "ORDER BY loss ASC, id DESC" would sort ties in
         * a temporary b-tree, opened and closed on every request. */
        {"SELECT " RECORD_COLUMNS " FROM checkpoints c WHERE c.run = ?1 AND c.corrupt = 0 "
         "AND c.loss = (SELECT loss FROM checkpoints WHERE run = ?1 AND loss IS NOT NULL "
         "AND corrupt = 0 ORDER BY loss ASC LIMIT 1) ORDER BY c.id DESC LIMIT 1",
         "SELECT " RECORD_COLUMNS " FROM checkpoints c WHERE c.run = ?1 AND c.loss IS NOT NULL "
         "AND c.corrupt = 0 ORDER BY c.loss DESC, c.id DESC LIMIT 1"},
        /* The same for a named metric, on metrics' (run, name, value)
         * index, whose rows end in checkpoint_id: so order by that. */
        {"SELECT " RECORD_COLUMNS " FROM metrics m JOIN checkpoints c "
         "ON c.id = m.checkpoint_id WHERE m.run = ?1 AND m.name = ?2 AND c.corrupt = 0 "
         "AND m.value = (SELECT m2.value FROM metrics m2 JOIN checkpoints c2 "
         "ON c2.id = m2.checkpoint_id WHERE m2.run = ?1 AND m2.name = ?2 AND c2.corrupt = 0 "
         "ORDER BY m2.value ASC LIMIT 1) ORDER BY m.checkpoint_id DESC LIMIT 1",
         "SELECT " RECORD_COLUMNS " FROM metrics m JOIN checkpoints c "
         "ON c.id = m.checkpoint_id WHERE m.run = ?1 AND m.name = ?2 AND c.corrupt = 0 "
         "ORDER BY m.value DESC, m.checkpoint_id DESC LIMIT 1"},
    };
    bool by_loss = strcmp(metric, "loss") == 0, exists;
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int r = cprepare(cn, sql[!by_loss][maximize], &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        if (!by_loss)
            sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
        r = one_record(cn, st, out);
        release(cn, st);
    }
    if (r == -ENOENT && run_exists(cn, run, &exists) == 0 && exists)
        r = -ENODATA;
    reader_put(ix, slot);
    return r;
}

/* A listing by a NULL-able key K runs as two queries, so that each can walk
 * an index instead of sorting the whole run: the rows with K, by (K, id),
 * then the rows without it, by id. NULLs come last in both directions and
 * ties break by id in the same direction, so (K IS NULL, K, id) is a total
 * order to page through. A listing by creation is one query, by id.
 *
 * Each query also joins the checkpoints' metrics, one result row per metric
 * (one with NULLs for a checkpoint without any): a query per checkpoint cost
 * more than the listing's own. Its LIMIT counts result rows, so it allows
 * METRICS_MAX per checkpoint; list_part counts checkpoints. The metrics are
 * not ordered by name there: with ORDER BY m.value SQLite sorted each
 * checkpoint's few rows; add_metric keeps them in order instead. */
enum list_part { PART_KEYED, PART_NULL };

#define METRICS_JOIN                                                                               \
    ", x.name, x.value FROM checkpoints c LEFT JOIN metrics x ON x.checkpoint_id = c.id"

/* Build the query for one part of q's page into sql. The sort key, NULL in
 * PART_NULL, is the column after RECORD_COLUMNS. */
static void list_sql(const struct list_query *q, enum list_part part, char *sql, size_t size)
{
    const char *key = NULL, *id = "c.id", *join = "";
    const char *dir = q->desc ? "DESC" : "ASC", *op = q->desc ? "<" : ">";
    char where[512];
    size_t n;

    switch (q->order) {
    case ORDER_CREATED: key = NULL; break;
    case ORDER_EPOCH: key = "c.epoch"; break;
    case ORDER_STEP: key = "c.step"; break;
    case ORDER_LOSS: key = "c.loss"; break;
    case ORDER_METRIC:
        key = "m.value";
        if (part == PART_KEYED) {
            /* m.checkpoint_id, not c.id: then the (run, name, value) index
             * of metrics, whose rows end in checkpoint_id, gives the order. */
            id = "m.checkpoint_id";
            join = " JOIN metrics m ON m.checkpoint_id = c.id AND m.run = :run "
                   "AND m.name = :metric";
        }
        break;
    }
    n = (size_t)snprintf(where, sizeof(where), "c.run = :run%s%s",
                         q->has_min_epoch ? " AND c.epoch >= :min_epoch" : "",
                         q->has_max_epoch ? " AND c.epoch <= :max_epoch" : "");
    if (!key) {
        if (q->has_after)
            snprintf(where + n, sizeof(where) - n, " AND c.id %s :after_id", op);
        snprintf(sql, size,
                 "SELECT " RECORD_COLUMNS ", NULL" METRICS_JOIN " WHERE %s "
                 "ORDER BY c.id %s LIMIT :limit",
                 where, dir);
    } else if (part == PART_KEYED) {
        if (q->has_after) /* a row value: one range on the index */
            snprintf(where + n, sizeof(where) - n, " AND (%s, %s) %s (:after_key, :after_id)", key,
                     id, op);
        else
            snprintf(where + n, sizeof(where) - n, " AND %s IS NOT NULL", key);
        snprintf(sql, size,
                 "SELECT " RECORD_COLUMNS ", %s, x.name, x.value FROM checkpoints c%s "
                 "LEFT JOIN metrics x ON x.checkpoint_id = c.id WHERE %s "
                 "ORDER BY %s %s, %s %s LIMIT :limit",
                 key, join, where, key, dir, id, dir);
    } else {
        if (q->has_after && q->after.kind == CURSOR_NULL)
            n += (size_t)snprintf(where + n, sizeof(where) - n, " AND c.id %s :after_id", op);
        if (q->order == ORDER_METRIC)
            snprintf(where + n, sizeof(where) - n,
                     " AND NOT EXISTS (SELECT 1 FROM metrics m WHERE m.checkpoint_id = c.id "
                     "AND m.name = :metric)");
        else
            snprintf(where + n, sizeof(where) - n, " AND %s IS NULL", key);
        snprintf(sql, size,
                 "SELECT " RECORD_COLUMNS ", NULL" METRICS_JOIN " WHERE %s "
                 "ORDER BY c.id %s LIMIT :limit",
                 where, dir);
    }
}

static void bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i > 0)
        sqlite3_bind_int64(st, i, v);
}

struct page {
    const struct list_query *q;
    int (*fn)(void *ctx, const struct ckpt_record *rec);
    void *ctx;
    unsigned rows;      /* handed to fn so far */
    bool has_next;      /* a row past the page exists */
    struct cursor last; /* of the last row handed to fn */
};

/* Add a metric to meta's, which stay in name order (as load_metrics gives
 * them). They come in that order from the primary key, so this appends. */
static void add_metric(struct ckpt_meta *meta, const unsigned char *name, double value)
{
    unsigned i = meta->n_metrics;

    if (i == METRICS_MAX || !name) /* name: NULL only when out of memory */
        return;
    for (; i > 0 && strcmp(meta->metrics[i - 1].name, (const char *)name) > 0; i--)
        meta->metrics[i] = meta->metrics[i - 1];
    copy_text(meta->metrics[i].name, sizeof(meta->metrics[i].name), name);
    meta->metrics[i].value = value;
    meta->n_metrics++;
}

/* Hand a complete checkpoint of the page to pg->fn. */
static int hand_over(struct page *pg, const struct ckpt_record *rec, const struct cursor *cur)
{
    pg->last = *cur;
    pg->rows++;
    return pg->fn(pg->ctx, rec);
}

/* Run one part of the page's query, handing checkpoints to fn until the
 * page is full; one more only sets has_next. */
static int list_part(struct conn *cn, struct page *pg, enum list_part part)
{
    const struct list_query *q = pg->q;
    bool real_key = q->order == ORDER_LOSS || q->order == ORDER_METRIC;
    char sql[1024];
    sqlite3_stmt *st;
    int rc, r;

    list_sql(q, part, sql, sizeof(sql));
    if ((r = cprepare(cn, sql, &st)) < 0)
        return r;
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":run"), q->run, -1, SQLITE_STATIC);
    if (q->order == ORDER_METRIC)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":metric"), q->metric, -1,
                          SQLITE_STATIC);
    if (q->has_min_epoch)
        bind_named_int(st, ":min_epoch", q->min_epoch);
    if (q->has_max_epoch)
        bind_named_int(st, ":max_epoch", q->max_epoch);
    if (q->has_after) {
        bind_named_int(st, ":after_id", q->after.id);
        int i = sqlite3_bind_parameter_index(st, ":after_key");
        if (i > 0 && q->after.kind == CURSOR_INT)
            sqlite3_bind_int64(st, i, q->after.i);
        else if (i > 0 && q->after.kind == CURSOR_REAL)
            sqlite3_bind_double(st, i, q->after.r);
    }
    bind_named_int(st, ":limit", ((int64_t)(q->limit - pg->rows) + 1) * METRICS_MAX);

    /* A checkpoint's rows are consecutive: it is complete when the next
     * one starts, or the rows end. */
    struct ckpt_record rec;
    struct cursor cur;
    bool have = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!have || sqlite3_column_int64(st, 0) != rec.id) {
            if (have && (r = hand_over(pg, &rec, &cur)) != 0) {
                have = false;
                break;
            }
            have = false;
            if (pg->rows == q->limit) {
                pg->has_next = true;
                break;
            }
            read_columns(st, &rec);
            cur.id = rec.id;
            if (q->order == ORDER_CREATED) {
                cur.kind = CURSOR_NONE;
            } else if (sqlite3_column_type(st, SORT_KEY_COLUMN) == SQLITE_NULL) {
                cur.kind = CURSOR_NULL;
            } else if (real_key) {
                cur.kind = CURSOR_REAL;
                cur.r = sqlite3_column_double(st, SORT_KEY_COLUMN);
            } else {
                cur.kind = CURSOR_INT;
                cur.i = sqlite3_column_int64(st, SORT_KEY_COLUMN);
            }
            have = true;
        }
        if (sqlite3_column_type(st, METRIC_COLUMN) != SQLITE_NULL)
            add_metric(&rec.meta, sqlite3_column_text(st, METRIC_COLUMN),
                       sqlite3_column_double(st, METRIC_COLUMN + 1));
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = errno_from_sqlite(cn->db, rc, "list");
    if (r == 0 && have)
        r = hand_over(pg, &rec, &cur);
    release(cn, st);
    return r;
}

int index_list(struct index *ix, const struct list_query *q,
               int (*fn)(void *ctx, const struct ckpt_record *rec), void *ctx, bool *has_next,
               struct cursor *next)
{
    bool real_key = q->order == ORDER_LOSS || q->order == ORDER_METRIC;
    struct page pg = {.q = q, .fn = fn, .ctx = ctx};
    int r;
    bool exists;

    if (q->has_after) {
        enum cursor_kind k = q->after.kind;
        if ((q->order == ORDER_CREATED && k != CURSOR_NONE) ||
            (q->order != ORDER_CREATED && k == CURSOR_NONE) || (real_key && k == CURSOR_INT) ||
            (!real_key && k == CURSOR_REAL))
            return -EINVAL;
    }

    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    /* What the answer says comes from one snapshot. A listing by creation
     * with rows is one statement, which is one read transaction; anything
     * more runs in an explicit one, which costs two statements more. */
    bool txn = q->order != ORDER_CREATED;
    for (;;) {
        if (txn && (r = cexec(cn, "BEGIN")) < 0)
            goto out;
        /* After a NULL-key cursor only NULL-key rows remain. */
        if (!(q->has_after && q->after.kind == CURSOR_NULL))
            r = list_part(cn, &pg, PART_KEYED);
        if (r == 0 && q->order != ORDER_CREATED && !pg.has_next)
            r = list_part(cn, &pg, PART_NULL);
        if (r == 0 && pg.rows == 0 && !txn) {
            txn = true; /* fn has seen nothing: ask again, with the run */
            continue;
        }
        break;
    }
    /* A row proves the run exists; only an empty page asks (unknown run:
     * -ENOENT, before fn has seen anything). */
    if (r == 0 && pg.rows == 0) {
        if ((r = run_exists(cn, q->run, &exists)) == 0 && !exists)
            r = -ENOENT;
    }
    *has_next = pg.has_next;
    if (r == 0 && pg.has_next)
        *next = pg.last;
    if (txn)
        cexec(cn, "COMMIT");
out:
    reader_put(ix, slot);
    return r;
}

int index_runs(struct index *ix, int (*fn)(void *ctx, const struct run_summary *run), void *ctx)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int rc, r = cprepare(cn,
                         /* run_totals is kept by triggers (sql/006); best and
                          * latest are one index probe each: no scan of a run. */
                         "SELECT t.run, t.checkpoints, t.logical_bytes, "
                         "(SELECT min(loss) FROM checkpoints WHERE run = t.run), "
                         "c.epoch, c.created_ms, t.physical_bytes FROM run_totals t "
                         "JOIN checkpoints c ON c.id = "
                         "(SELECT max(id) FROM checkpoints WHERE run = t.run) ORDER BY t.run",
                         &st);
    if (r < 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct run_summary s = {0};
        copy_text(s.run, sizeof(s.run), sqlite3_column_text(st, 0));
        s.checkpoints = sqlite3_column_int64(st, 1);
        s.bytes = (uint64_t)sqlite3_column_int64(st, 2);
        s.has_best_loss = sqlite3_column_type(st, 3) != SQLITE_NULL;
        s.best_loss = sqlite3_column_double(st, 3);
        s.has_latest_epoch = sqlite3_column_type(st, 4) != SQLITE_NULL;
        s.latest_epoch = sqlite3_column_int64(st, 4);
        s.updated_ms = sqlite3_column_int64(st, 5);
        s.physical_bytes = (uint64_t)sqlite3_column_int64(st, 6);
        if ((r = fn(ctx, &s)) != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = errno_from_sqlite(db, rc, "runs");
    release(cn, st);
out:
    reader_put(ix, slot);
    return r;
}

int index_blob_referenced(struct index *ix, const char *sha_hex, bool *referenced)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT 1 FROM checkpoints WHERE sha256 = ? LIMIT 1", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, sha_hex, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *referenced = rc == SQLITE_ROW;
        else
            r = errno_from_sqlite(db, rc, "blob_referenced");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

/* ---- tokens -------------------------------------------------------------- */

static const char *role_name(enum role r)
{
    switch (r) {
    case ROLE_READ: return "read";
    case ROLE_WRITE: return "write";
    case ROLE_ADMIN: return "admin";
    }
    return "read";
}

static enum role role_of(const unsigned char *s)
{
    if (s && strcmp((const char *)s, "admin") == 0)
        return ROLE_ADMIN;
    if (s && strcmp((const char *)s, "write") == 0)
        return ROLE_WRITE;
    return ROLE_READ;
}

#define TOKEN_COLUMNS "id, name, role, run_prefix, secret_sha256, created_ms, revoked_ms"

static void read_token(sqlite3_stmt *st, struct token_row *t)
{
    const void *blob = sqlite3_column_blob(st, 4);
    memset(t, 0, sizeof(*t));
    copy_text(t->id, sizeof(t->id), sqlite3_column_text(st, 0));
    copy_text(t->name, sizeof(t->name), sqlite3_column_text(st, 1));
    t->role = role_of(sqlite3_column_text(st, 2));
    copy_text(t->run_prefix, sizeof(t->run_prefix), sqlite3_column_text(st, 3));
    if (blob && sqlite3_column_bytes(st, 4) == SHA256_LEN)
        memcpy(t->secret_sha256, blob, SHA256_LEN);
    t->created_ms = sqlite3_column_int64(st, 5);
    t->revoked = sqlite3_column_type(st, 6) != SQLITE_NULL;
    t->revoked_ms = sqlite3_column_int64(st, 6);
}

int index_token_add(struct index *ix, const struct token_row *t)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn,
                 "INSERT INTO tokens (id, name, role, run_prefix, secret_sha256, created_ms) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, role_name(t->role), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, t->run_prefix, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, t->secret_sha256, SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, t->created_ms);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = -EEXIST;
        else if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "insert token");
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_token_get(struct index *ix, const char *id, struct token_row *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            read_token(st, out);
        else if (rc == SQLITE_DONE)
            r = -ENOENT;
        else
            r = errno_from_sqlite(db, rc, "token");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_token_revoke(struct index *ix, const char *id, int64_t now_ms)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn, "UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL", &st);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "revoke token");
        else if (sqlite3_changes(db) == 0)
            r = 1; /* decided below, outside the statement */
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    if (r == 1) {
        struct token_row t;
        r = index_token_get(ix, id, &t) == 0 ? -EALREADY : -ENOENT;
    }
    return r;
}

int index_token_list(struct index *ix, int (*fn)(void *ctx, const struct token_row *t), void *ctx)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int rc, r = cprepare(cn, "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY created_ms, id", &st);
    if (r == 0) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct token_row t;
            read_token(st, &t);
            if ((r = fn(ctx, &t)) != 0)
                break;
        }
        if (r == 0 && rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "tokens");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_tokens_exist(struct index *ix, bool *any)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT EXISTS (SELECT 1 FROM tokens)", &st);
    if (r == 0) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *any = sqlite3_column_int(st, 0) != 0;
        else
            r = errno_from_sqlite(db, rc, "tokens_exist");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_mark_corrupt(struct index *ix, const char *sha_hex, unsigned *marked)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn, "UPDATE checkpoints SET corrupt = 1 WHERE sha256 = ? AND corrupt = 0", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, sha_hex, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "mark corrupt");
        else if (marked)
            *marked = (unsigned)sqlite3_changes(db);
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_each_blob(struct index *ix, int (*fn)(void *ctx, const char *sha_hex, uint64_t size),
                    void *ctx)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int rc, r = cprepare(cn,
                         "SELECT sha256, max(size) FROM checkpoints WHERE corrupt = 0 "
                         "GROUP BY sha256",
                         &st);
    if (r == 0) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            char sha[SHA256_HEX_LEN + 1];
            copy_text(sha, sizeof(sha), sqlite3_column_text(st, 0));
            if ((r = fn(ctx, sha, (uint64_t)sqlite3_column_int64(st, 1))) != 0)
                break;
        }
        if (r == 0 && rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "blobs");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

bool index_write_failed(struct index *ix)
{
    return atomic_load(&ix->write_failed);
}

/* ---- backup (ckptd backup) ------------------------------------------- */

int index_backup(const char *src_path, const char *dst_path,
                 int (*fn)(void *ctx, const char *sha_hex, uint64_t size), void *ctx,
                 struct index_backup_stats *stats)
{
    struct index_backup_stats s = {0};
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    sqlite3_stmt *st = NULL, *del = NULL;
    char(*gone)[SHA256_HEX_LEN + 1] = NULL;
    size_t n_gone = 0, cap_gone = 0;
    int r, rc;

    /* Read-only: the backup must never change the live index. */
    rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = (rc & 0xff) == SQLITE_CANTOPEN ? -ENOENT : errno_from_sqlite(src, rc, "open source");
        goto out;
    }
    sqlite3_busy_timeout(src, DB_BUSY_TIMEOUT_MS);
    if ((r = open_conn(dst_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst)) < 0)
        goto out;
    /* One step of -1 pages copies everything inside a single read
     * transaction on src: a WAL snapshot, so the daemon's writers are never
     * blocked and the copy holds exactly the rows committed when it began. */
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        r = errno_from_sqlite(dst, sqlite3_errcode(dst), "backup");
        goto out;
    }
    for (int waited = 0;; waited += 100) {
        rc = sqlite3_backup_step(b, -1);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= DB_BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(100);
    }
    int frc = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        r = errno_from_sqlite(dst, rc != SQLITE_DONE ? rc : frc, "backup");
        goto out;
    }
    /* A single file with no -wal beside it, durable at each commit. */
    if ((r = exec(dst, "PRAGMA journal_mode = DELETE")) < 0 ||
        (r = exec(dst, "PRAGMA synchronous = FULL")) < 0)
        goto out;
    if ((r = prepare(dst, "SELECT sha256, max(size) FROM checkpoints GROUP BY sha256", &st)) < 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char sha[SHA256_HEX_LEN + 1];
        copy_text(sha, sizeof(sha), sqlite3_column_text(st, 0));
        r = fn(ctx, sha, (uint64_t)sqlite3_column_int64(st, 1));
        if (r == 0) {
            s.blobs++;
            continue;
        }
        if (r != -ENOENT)
            goto out;
        if (n_gone == cap_gone) {
            size_t cap = cap_gone ? 2 * cap_gone : 16;
            void *p = realloc(gone, cap * sizeof(*gone));
            if (!p) {
                r = -ENOMEM;
                goto out;
            }
            gone = p;
            cap_gone = cap;
        }
        memcpy(gone[n_gone++], sha, sizeof(sha));
    }
    if (rc != SQLITE_DONE) {
        r = errno_from_sqlite(dst, rc, "backup blobs");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Blobs deleted from the live store after the snapshot: their rows
     * leave the copy too, so every checkpoint in the backup has its blob. */
    if (n_gone > 0) {
        if ((r = exec(dst, "BEGIN IMMEDIATE")) < 0)
            goto out;
        if ((r = prepare(dst,
                         "DELETE FROM metrics WHERE checkpoint_id IN "
                         "(SELECT id FROM checkpoints WHERE sha256 = ?1)",
                         &del)) < 0 ||
            (r = prepare(dst, "DELETE FROM checkpoints WHERE sha256 = ?1", &st)) < 0)
            goto out;
        for (size_t i = 0; i < n_gone; i++) {
            sqlite3_bind_text(del, 1, gone[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 1, gone[i], -1, SQLITE_STATIC);
            if ((rc = sqlite3_step(del)) != SQLITE_DONE || (rc = sqlite3_step(st)) != SQLITE_DONE) {
                r = errno_from_sqlite(dst, rc, "backup drop");
                goto out;
            }
            s.dropped += (uint64_t)sqlite3_changes(dst);
            sqlite3_reset(del);
            sqlite3_reset(st);
        }
        sqlite3_finalize(del);
        sqlite3_finalize(st);
        del = st = NULL;
        if ((r = exec(dst, "COMMIT")) < 0)
            goto out;
    }
    if ((r = prepare(dst,
                     "SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM tokens)",
                     &st)) < 0)
        goto out;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        r = errno_from_sqlite(dst, rc, "backup count");
        goto out;
    }
    s.checkpoints = (uint64_t)sqlite3_column_int64(st, 0);
    s.tokens = (uint64_t)sqlite3_column_int64(st, 1);
    *stats = s;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(del);
    if (dst && !sqlite3_get_autocommit(dst))
        sqlite3_exec(dst, "ROLLBACK", NULL, NULL, NULL);
    if (dst && sqlite3_close(dst) != SQLITE_OK && r == 0)
        r = -EIO;
    sqlite3_close(src);
    free(gone);
    return r;
}

/* ---- integrity and capacity ---------------------------------------------- */

/* The integer one row of sql (one text parameter) yields; -ENOENT when
 * there is no row. On a reader connection. */
static int read_int(struct index *ix, const char *sql, const char *key, int64_t *value,
                    const char *what)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn, sql, &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *value = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
            r = -ENOENT;
        else
            r = errno_from_sqlite(db, rc, what);
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_kv_get(struct index *ix, const char *key, int64_t *value)
{
    return read_int(ix, "SELECT value FROM kv WHERE key = ?", key, value, "kv get");
}

int index_kv_set_many(struct index *ix, const char *const *keys, const int64_t *values, unsigned n)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st = NULL;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    if ((r = cprepare(cn, "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", &st)) < 0)
        goto rollback;
    for (unsigned i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, values[i]);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            r = errno_from_sqlite(db, rc, "kv set");
            goto rollback;
        }
    }
    release(cn, st);
    st = NULL;
    if ((r = exec(db, "COMMIT")) < 0)
        goto rollback;
    pthread_mutex_unlock(&ix->write_lock);
    return 0;
rollback:
    release(cn, st);
    rollback(ix, db);
out:
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_blobs_page(struct index *ix, const char *after_sha, unsigned limit,
                     int (*fn)(void *ctx, const char *sha_hex, uint64_t size), void *ctx,
                     unsigned *n)
{
    unsigned slot, seen = 0;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int rc, r = cprepare(cn,
                         "SELECT sha256, max(size) FROM checkpoints WHERE corrupt = 0 "
                         "AND sha256 > ? GROUP BY sha256 ORDER BY sha256 LIMIT ?",
                         &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, after_sha, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            char sha[SHA256_HEX_LEN + 1];
            copy_text(sha, sizeof(sha), sqlite3_column_text(st, 0));
            seen++;
            if ((r = fn(ctx, sha, (uint64_t)sqlite3_column_int64(st, 1))) != 0)
                break;
        }
        if (r == 0 && rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "blobs page");
        release(cn, st);
    }
    reader_put(ix, slot);
    if (r == 0)
        *n = seen;
    return r;
}

int index_stats(struct index *ix, struct index_stats *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn,
                     "SELECT (SELECT count(*) FROM checkpoints), "
                     "(SELECT count(DISTINCT run) FROM checkpoints), "
                     "(SELECT count(*) FROM checkpoints WHERE corrupt = 1), "
                     "(SELECT count(DISTINCT sha256) FROM checkpoints WHERE corrupt = 0), "
                     "(SELECT coalesce(sum(size), 0) FROM checkpoints), "
                     "(SELECT coalesce(sum(sz), 0) FROM "
                     "(SELECT max(size) AS sz FROM checkpoints GROUP BY sha256))",
                     &st);
    if (r == 0) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            struct index_stats s = {
                .checkpoints = sqlite3_column_int64(st, 0),
                .runs = sqlite3_column_int64(st, 1),
                .corrupt = sqlite3_column_int64(st, 2),
                .blobs = sqlite3_column_int64(st, 3),
                .logical_bytes = (uint64_t)sqlite3_column_int64(st, 4),
                .physical_bytes = (uint64_t)sqlite3_column_int64(st, 5),
            };
            *out = s;
        } else {
            r = errno_from_sqlite(db, rc, "stats");
        }
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_blob_verified(struct index *ix, const char *sha_hex, int64_t *verified_ms)
{
    return read_int(ix, "SELECT verified_ms FROM blob_verified WHERE sha256 = ?", sha_hex,
                    verified_ms, "blob verified");
}

/* One autocommit statement on the writer connection. */
static int write_one(struct index *ix, const char *sql, const char *text, int64_t v,
                     const char *what)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn, sql, &st);
    if (r == 0) {
        if (text) {
            sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, v);
        }
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, what);
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_set_blob_verified(struct index *ix, const char *sha_hex, int64_t verified_ms)
{
    return write_one(ix, "INSERT OR REPLACE INTO blob_verified (sha256, verified_ms) VALUES (?, ?)",
                     sha_hex, verified_ms, "set verified");
}

int index_prune_verified(struct index *ix)
{
    return write_one(ix,
                     "DELETE FROM blob_verified WHERE sha256 NOT IN "
                     "(SELECT sha256 FROM checkpoints WHERE corrupt = 0)",
                     NULL, 0, "prune verified");
}

int index_integrity_check(struct index *ix, void (*fn)(void *ctx, const char *line), void *ctx,
                          bool *ok)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    bool good = true;
    int rc, r = prepare(db, "PRAGMA integrity_check", &st);
    if (r == 0) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(st, 0);
            if (line && strcmp(line, "ok") == 0)
                continue;
            good = false;
            fn(ctx, line ? line : "(null)");
        }
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(db, rc, "integrity_check");
        sqlite3_finalize(st);
    }
    reader_put(ix, slot);
    if (r == 0)
        *ok = good;
    return r;
}

int index_totals(struct index *ix, struct index_totals *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int r = cprepare(cn,
                     "SELECT (SELECT count(*) FROM checkpoints),"
                     " (SELECT coalesce(sum(size), 0) FROM checkpoints),"
                     " (SELECT coalesce(sum(s), 0) FROM"
                     "   (SELECT max(size) AS s FROM checkpoints GROUP BY sha256)),"
                     " (SELECT page_count FROM pragma_page_count()) *"
                     " (SELECT page_size FROM pragma_page_size())",
                     &st);
    if (r == 0) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->checkpoints = (uint64_t)sqlite3_column_int64(st, 0);
            out->logical_bytes = (uint64_t)sqlite3_column_int64(st, 1);
            out->physical_bytes = (uint64_t)sqlite3_column_int64(st, 2);
            out->index_bytes = (uint64_t)sqlite3_column_int64(st, 3);
        } else {
            r = errno_from_sqlite(db, rc, "totals");
        }
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

/* ---- lifecycle: pins, aliases, leases, policies, retention --------------- */

void index_drop_list_free(struct drop_list *d)
{
    if (!d)
        return;
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

static int drop_list_add(struct drop_list *d, int64_t id, const char *sha)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        void *p = realloc(d->v, cap * sizeof(*d->v));
        if (!p)
            return -ENOMEM;
        d->v = p;
        d->cap = cap;
    }
    memset(&d->v[d->n], 0, sizeof(d->v[0]));
    d->v[d->n].id = id;
    snprintf(d->v[d->n].sha256, sizeof(d->v[0].sha256), "%s", sha);
    d->n++;
    return 0;
}

/* The run's own policy: *found false when it has none. */
static int load_policy(struct conn *cn, const char *run, struct policy *p, bool *found)
{
    sqlite3_stmt *st;
    char err[256];
    int r = cprepare(cn, "SELECT policy FROM policies WHERE run = ?", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = false;
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (!text || policy_parse(text, strlen(text), p, err, sizeof(err)) < 0) {
            log_error("index: stored policy of run '%s' is unreadable: %s", run, err);
            r = -EIO;
        } else {
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        r = errno_from_sqlite(cn->db, rc, "policy");
    }
    release(cn, st);
    return r;
}

/* Everything retention needs to know about one run, from one snapshot. */
struct run_state {
    struct ret_item *items; /* ascending id */
    size_t n, cap;
    char **names;           /* user alias names, owned */
    const char **name_ptrs; /* the items' alias lists point into this */
    size_t n_names;
};

static void run_state_free(struct run_state *rs)
{
    for (size_t i = 0; i < rs->n_names; i++)
        free(rs->names[i]);
    free(rs->names);
    free(rs->name_ptrs);
    free(rs->items);
    memset(rs, 0, sizeof(*rs));
}

static struct ret_item *find_item(struct run_state *rs, int64_t id)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rs->items[mid].id == id)
            return &rs->items[mid];
        if (rs->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int load_items(struct conn *cn, const char *run, const struct policy *p, int64_t now_ms,
                      struct run_state *rs)
{
    sqlite3_stmt *st;
    int rc, r = cprepare(cn,
                         "SELECT c.id, c.epoch, c.step, c.loss, c.created_ms, c.corrupt, "
                         "c.pinned, EXISTS (SELECT 1 FROM leases l WHERE l.checkpoint_id = c.id "
                         "AND l.expires_ms > ?2) FROM checkpoints c WHERE c.run = ?1 "
                         "ORDER BY c.id",
                         &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs->n == rs->cap) {
            size_t cap = rs->cap ? 2 * rs->cap : 64;
            void *q = realloc(rs->items, cap * sizeof(*rs->items));
            if (!q) {
                r = -ENOMEM;
                break;
            }
            rs->items = q;
            rs->cap = cap;
        }
        struct ret_item *it = &rs->items[rs->n++];
        memset(it, 0, sizeof(*it));
        it->id = sqlite3_column_int64(st, 0);
        it->has_epoch = sqlite3_column_type(st, 1) != SQLITE_NULL;
        it->epoch = sqlite3_column_int64(st, 1);
        it->has_step = sqlite3_column_type(st, 2) != SQLITE_NULL;
        it->step = sqlite3_column_int64(st, 2);
        for (size_t b = 0; p && b < p->n_best; b++) {
            if (strcmp(p->best[b].metric, "loss") == 0 &&
                sqlite3_column_type(st, 3) != SQLITE_NULL) {
                it->has_value[b] = true;
                it->value[b] = sqlite3_column_double(st, 3);
            }
        }
        it->created_ms = sqlite3_column_int64(st, 4);
        it->corrupt = sqlite3_column_int(st, 5) != 0;
        it->pinned = sqlite3_column_int(st, 6) != 0;
        it->leased = sqlite3_column_int(st, 7) != 0;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = errno_from_sqlite(cn->db, rc, "retention items");
    release(cn, st);
    return r;
}

static int load_metric_values(struct conn *cn, const char *run, const struct policy *p,
                              struct run_state *rs)
{
    for (size_t b = 0; p && b < p->n_best; b++) {
        sqlite3_stmt *st;
        int rc, r;
        if (strcmp(p->best[b].metric, "loss") == 0)
            continue;
        r = cprepare(cn, "SELECT checkpoint_id, value FROM metrics WHERE run = ?1 AND name = ?2",
                     &st);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->best[b].metric, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct ret_item *it = find_item(rs, sqlite3_column_int64(st, 0));
            if (it) {
                it->has_value[b] = true;
                it->value[b] = sqlite3_column_double(st, 1);
            }
        }
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(cn->db, rc, "retention metrics");
        release(cn, st);
        if (r < 0)
            return r;
    }
    return 0;
}

static int load_alias_names(struct conn *cn, const char *run, struct run_state *rs)
{
    sqlite3_stmt *st;
    int64_t *ids = NULL;
    size_t cap = 0;
    int rc, r = cprepare(cn,
                         "SELECT checkpoint_id, name FROM aliases WHERE run = ? "
                         "ORDER BY checkpoint_id, name",
                         &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs->n_names == cap) {
            size_t c = cap ? 2 * cap : 8;
            void *a = realloc(rs->names, c * sizeof(*rs->names));
            if (a)
                rs->names = a;
            void *b = realloc(ids, c * sizeof(*ids));
            if (b)
                ids = b;
            if (!a || !b) {
                r = -ENOMEM;
                break;
            }
            cap = c;
        }
        rs->names[rs->n_names] = strdup((const char *)sqlite3_column_text(st, 1));
        if (!rs->names[rs->n_names]) {
            r = -ENOMEM;
            break;
        }
        ids[rs->n_names++] = sqlite3_column_int64(st, 0);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = errno_from_sqlite(cn->db, rc, "retention aliases");
    release(cn, st);
    if (r == 0 && rs->n_names && !(rs->name_ptrs = malloc(rs->n_names * sizeof(char *))))
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < rs->n_names; i++) {
        struct ret_item *it = find_item(rs, ids[i]);
        rs->name_ptrs[i] = rs->names[i];
        if (!it)
            continue;
        if (!it->n_aliases)
            it->aliases = &rs->name_ptrs[i]; /* rows are grouped by checkpoint */
        it->n_aliases++;
    }
    free(ids);
    return r;
}

/* Load run's state for policy p (NULL: none) as of now_ms. */
static int load_state(struct conn *cn, const char *run, const struct policy *p, int64_t now_ms,
                      struct run_state *rs)
{
    int r;
    memset(rs, 0, sizeof(*rs));
    if ((r = load_items(cn, run, p, now_ms, rs)) < 0 ||
        (r = load_metric_values(cn, run, p, rs)) < 0 || (r = load_alias_names(cn, run, rs)) < 0)
        run_state_free(rs);
    return r;
}

static int exec_id(struct conn *cn, const char *sql, int64_t id)
{
    sqlite3_stmt *st;
    int r = cprepare(cn, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        r = errno_from_sqlite(cn->db, rc, sql);
    release(cn, st);
    return r;
}

/* Apply run's policy (its own, else dflt, else none) inside the caller's
 * write transaction: delete the rows of every checkpoint it drops and
 * list them in *dropped, each with whether its blob is now unreferenced. */
static int retain(struct index *ix, struct conn *cn, const char *run, const struct policy *dflt,
                  int64_t now_ms, struct drop_list *dropped)
{
    static const char *const deletes[] = {
        "DELETE FROM metrics WHERE checkpoint_id = ?",
        "DELETE FROM aliases WHERE checkpoint_id = ?",
        "DELETE FROM leases WHERE checkpoint_id = ?",
        "DELETE FROM checkpoints WHERE id = ?",
    };
    struct policy own;
    struct run_state rs;
    sqlite3_stmt *st;
    bool found;
    int r;

    (void)ix;
    if ((r = load_policy(cn, run, &own, &found)) < 0)
        return r;
    const struct policy *p = found ? &own : dflt;
    if (!p)
        return 0;
    if ((r = load_state(cn, run, p, now_ms, &rs)) < 0)
        return r;
    retention_evaluate(p, now_ms, rs.items, rs.n);
    for (size_t i = 0; i < rs.n && r == 0; i++) {
        if (rs.items[i].keep)
            continue;
        if ((r = cprepare(cn, "SELECT sha256 FROM checkpoints WHERE id = ?", &st)) < 0)
            break;
        sqlite3_bind_int64(st, 1, rs.items[i].id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            r = drop_list_add(dropped, rs.items[i].id, (const char *)sqlite3_column_text(st, 0));
        else
            r = errno_from_sqlite(cn->db, rc, "retention lookup");
        release(cn, st);
        for (size_t d = 0; r == 0 && d < sizeof(deletes) / sizeof(deletes[0]); d++)
            r = exec_id(cn, deletes[d], rs.items[i].id);
    }
    run_state_free(&rs);
    if (r == 0 && dropped->n)
        failpoint("during-retention-crash");
    for (size_t i = 0; r == 0 && i < dropped->n; i++) {
        if ((r = cprepare(cn, "SELECT 1 FROM checkpoints WHERE sha256 = ? LIMIT 1", &st)) < 0)
            break;
        sqlite3_bind_text(st, 1, dropped->v[i].sha256, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            dropped->v[i].unreferenced = rc == SQLITE_DONE;
        else
            r = errno_from_sqlite(cn->db, rc, "retention refcount");
        release(cn, st);
    }
    /* Housekeeping: expired leases protect nothing any more. */
    if (r == 0)
        r = exec_id(cn, "DELETE FROM leases WHERE expires_ms <= ?", now_ms);
    return r;
}

int index_plan(struct index *ix, const char *run, const struct policy *dflt, int64_t now_ms,
               int (*fn)(void *ctx, const struct policy *p, bool own, const struct ret_item *items,
                         size_t n),
               void *ctx)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    struct policy own;
    struct run_state rs;
    bool found, exists;
    int r;

    if ((r = exec(cn->db, "BEGIN")) < 0)
        goto out;
    if ((r = run_exists(cn, run, &exists)) < 0 || (r = load_policy(cn, run, &own, &found)) < 0)
        goto end;
    if (!exists) {
        r = -ENOENT;
        goto end;
    }
    const struct policy *p = found ? &own : dflt;
    if ((r = load_state(cn, run, p, now_ms, &rs)) < 0)
        goto end;
    retention_evaluate(p, now_ms, rs.items, rs.n);
    r = fn(ctx, p, found, rs.items, rs.n);
    run_state_free(&rs);
end:
    exec(cn->db, "COMMIT");
out:
    reader_put(ix, slot);
    return r;
}

int index_policy_get(struct index *ix, const char *run, struct policy *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    bool found;
    int r = load_policy(cn, run, out, &found);
    reader_put(ix, slot);
    return r < 0 ? r : found ? 0 : -ENOENT;
}

int index_policy_set(struct index *ix, const char *run, const struct policy *p, int64_t now_ms,
                     struct drop_list *dropped)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st = NULL;
    struct json j;
    char *text;
    int r;

    json_init(&j, POLICY_BODY_MAX);
    policy_json(&j, p);
    if (!(text = json_detach(&j, NULL)))
        return -ENOMEM;
    pthread_mutex_lock(&ix->write_lock);
    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    if ((r = cprepare(cn,
                      "INSERT INTO policies (run, policy, updated_ms) VALUES (?, ?, ?) "
                      "ON CONFLICT (run) DO UPDATE SET policy = excluded.policy, "
                      "updated_ms = excluded.updated_ms",
                      &st)) < 0)
        goto rollback;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int rc = sqlite3_step(st);
    release(cn, st);
    if (rc != SQLITE_DONE) {
        r = errno_from_sqlite(db, rc, "set policy");
        goto rollback;
    }
    if ((r = retain(ix, cn, run, NULL, now_ms, dropped)) < 0)
        goto rollback;
    if ((r = exec(db, "COMMIT")) < 0)
        goto rollback;
    goto out;
rollback:
    rollback(ix, db);
    index_drop_list_free(dropped);
out:
    pthread_mutex_unlock(&ix->write_lock);
    free(text);
    return r;
}

/* One-statement write with a text and an optional second text/int key;
 * *changes gets the number of rows changed. */
static int write_changes(struct index *ix, const char *sql, const char *a, const char *b, int64_t n,
                         int *changes)
{
    struct conn *cn = &ix->writer;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn, sql, &st);
    if (r == 0) {
        int i = 1;
        if (a)
            sqlite3_bind_text(st, i++, a, -1, SQLITE_STATIC);
        if (b)
            sqlite3_bind_text(st, i++, b, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= i)
            sqlite3_bind_int64(st, i, n);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(cn->db, rc, "lifecycle write");
        else
            *changes = sqlite3_changes(cn->db);
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_policy_delete(struct index *ix, const char *run)
{
    int changes = 0;
    int r = write_changes(ix, "DELETE FROM policies WHERE run = ?", run, NULL, 0, &changes);
    return r < 0 ? r : changes ? 0 : -ENOENT;
}

int index_set_pinned(struct index *ix, int64_t id, bool pinned)
{
    int changes = 0;
    int r = write_changes(ix,
                          pinned ? "UPDATE checkpoints SET pinned = 1 WHERE id = ?"
                                 : "UPDATE checkpoints SET pinned = 0 WHERE id = ?",
                          NULL, NULL, id, &changes);
    return r < 0 ? r : changes ? 0 : -ENOENT;
}

int index_lease_add(struct index *ix, const char *lease, int64_t id, int64_t expires_ms)
{
    struct conn *cn = &ix->writer;
    sqlite3_stmt *st;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    r = cprepare(cn,
                 "INSERT INTO leases (id, checkpoint_id, expires_ms) "
                 "SELECT ?1, id, ?3 FROM checkpoints WHERE id = ?2",
                 &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, lease, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_int64(st, 3, expires_ms);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = errno_from_sqlite(cn->db, rc, "add lease");
        else if (sqlite3_changes(cn->db) == 0)
            r = -ENOENT;
        release(cn, st);
    }
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_lease_delete(struct index *ix, const char *lease)
{
    int changes = 0;
    int r = write_changes(ix, "DELETE FROM leases WHERE id = ?", lease, NULL, 0, &changes);
    return r < 0 ? r : changes ? 0 : -ENOENT;
}

static void read_alias(sqlite3_stmt *st, struct alias_row *a)
{
    memset(a, 0, sizeof(*a));
    copy_text(a->name, sizeof(a->name), sqlite3_column_text(st, 0));
    a->id = sqlite3_column_int64(st, 1);
    a->updated_ms = sqlite3_column_int64(st, 2);
}

int index_alias_get(struct index *ix, const char *run, const char *name, struct alias_row *out)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int r = cprepare(cn,
                     "SELECT name, checkpoint_id, updated_ms FROM aliases "
                     "WHERE run = ? AND name = ?",
                     &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            read_alias(st, out);
        else if (rc == SQLITE_DONE)
            r = -ENOENT;
        else
            r = errno_from_sqlite(cn->db, rc, "alias");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

int index_alias_list(struct index *ix, const char *run,
                     int (*fn)(void *ctx, const struct alias_row *a), void *ctx)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int rc, r = cprepare(cn,
                         "SELECT name, checkpoint_id, updated_ms FROM aliases WHERE run = ? "
                         "ORDER BY name",
                         &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct alias_row a;
            read_alias(st, &a);
            if ((r = fn(ctx, &a)) != 0)
                break;
        }
        if (r == 0 && rc != SQLITE_DONE)
            r = errno_from_sqlite(cn->db, rc, "aliases");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}

/* The alias's current checkpoint in *cur (0: none), on the writer. */
static int alias_current(struct conn *cn, const char *run, const char *name, int64_t *cur)
{
    sqlite3_stmt *st;
    int r = cprepare(cn, "SELECT checkpoint_id FROM aliases WHERE run = ? AND name = ?", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *cur = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *cur = 0;
    else
        r = errno_from_sqlite(cn->db, rc, "alias current");
    release(cn, st);
    return r;
}

static bool expectation_fails(int64_t expect, int64_t cur)
{
    return (expect == ALIAS_EXPECT_ABSENT && cur != 0) || (expect > 0 && cur != expect);
}

int index_alias_set(struct index *ix, const char *run, const char *name, int64_t id, int64_t expect,
                    int64_t now_ms, int64_t *previous)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    sqlite3_stmt *st;
    int64_t cur = 0;
    int r, rc;

    pthread_mutex_lock(&ix->write_lock);
    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    if ((r = cprepare(cn, "SELECT corrupt FROM checkpoints WHERE id = ? AND run = ?", &st)) < 0)
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, run, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        r = -ENOENT;
    else if (rc == SQLITE_ROW && sqlite3_column_int(st, 0))
        r = -EUCLEAN;
    else if (rc != SQLITE_ROW)
        r = errno_from_sqlite(db, rc, "alias target");
    release(cn, st);
    if (r < 0)
        goto rollback;
    if ((r = alias_current(cn, run, name, &cur)) < 0)
        goto rollback;
    if (expectation_fails(expect, cur)) {
        r = -ESTALE;
        goto rollback;
    }
    if ((r = cprepare(cn,
                      "INSERT INTO aliases (run, name, checkpoint_id, updated_ms) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT (run, name) DO UPDATE SET "
                      "checkpoint_id = excluded.checkpoint_id, updated_ms = excluded.updated_ms",
                      &st)) < 0)
        goto rollback;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = sqlite3_step(st);
    release(cn, st);
    if (rc != SQLITE_DONE) {
        r = errno_from_sqlite(db, rc, "set alias");
        goto rollback;
    }
    if ((r = exec(db, "COMMIT")) < 0)
        goto rollback;
    *previous = cur;
    goto out;
rollback:
    rollback(ix, db);
out:
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_alias_delete(struct index *ix, const char *run, const char *name, int64_t expect)
{
    struct conn *cn = &ix->writer;
    sqlite3 *db = cn->db;
    int64_t cur = 0;
    int r;

    pthread_mutex_lock(&ix->write_lock);
    if ((r = exec(db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    if ((r = alias_current(cn, run, name, &cur)) < 0)
        goto rollback;
    if (cur == 0) {
        r = -ENOENT;
        goto rollback;
    }
    if (expectation_fails(expect, cur)) {
        r = -ESTALE;
        goto rollback;
    }
    sqlite3_stmt *st;
    if ((r = cprepare(cn, "DELETE FROM aliases WHERE run = ? AND name = ?", &st)) < 0)
        goto rollback;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    release(cn, st);
    if (rc != SQLITE_DONE) {
        r = errno_from_sqlite(db, rc, "delete alias");
        goto rollback;
    }
    if ((r = exec(db, "COMMIT")) < 0)
        goto rollback;
    goto out;
rollback:
    rollback(ix, db);
out:
    pthread_mutex_unlock(&ix->write_lock);
    return r;
}

int index_run_known(struct index *ix, const char *run, bool *known)
{
    unsigned slot;
    struct conn *cn = reader_get(ix, &slot);
    sqlite3_stmt *st;
    int r = cprepare(cn,
                     "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE run = ?1) OR "
                     "EXISTS (SELECT 1 FROM aliases WHERE run = ?1)",
                     &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *known = sqlite3_column_int(st, 0) != 0;
        else
            r = errno_from_sqlite(cn->db, rc, "run known");
        release(cn, st);
    }
    reader_put(ix, slot);
    return r;
}
