/*
 * fsck.c - `ckptd fsck --data DIR [--repair]`: an offline check of a data
 * directory no daemon is using. It re-hashes every blob the index refers
 * to, and reports missing, corrupt and wrong-size blobs, blobs no
 * checkpoint refers to, leftover temp files and what SQLite's
 * integrity_check says; --repair quarantines bad blobs, flags their
 * checkpoints corrupt and deletes temp files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobstore.h"
#include "ckpt_limits.h"
#include "index.h"
#include "scrub.h"

int fsck_command(int argc, char **argv);

enum { FSCK_CLEAN = 0, FSCK_PROBLEMS = 1, FSCK_USAGE = 2, FSCK_CANNOT = 3 };

struct fsck {
    struct blobstore *bs;
    struct index *ix;
    bool repair;
    uint64_t blobs, bytes, missing, corrupt, wrong_size, orphans, temps, repair_failed;
    int error; /* first I/O error that stopped a walk */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ckptd fsck [--data DIR] [--repair]\n"
               "\n"
               "Check a data directory offline (no ckptd may be running on it): re-hash every\n"
               "blob the index refers to and report missing, corrupt (bytes do not match the\n"
               "SHA-256 name), wrong-size and orphan (no checkpoint refers to it) blobs, temp\n"
               "files left in tmp/, and problems SQLite's integrity_check finds in index.db.\n"
               "--repair moves bad and orphan blobs to quarantine/, flags their checkpoints\n"
               "corrupt, and deletes temp files. Checkpoints flagged corrupt earlier are\n"
               "counted but are not problems any more.\n"
               "\n"
               "exit status: 0 clean, 1 problems found (also when --repair fixed them),\n"
               "2 usage error, 3 could not run (directory in use, missing or unreadable)\n");
}

/* Flag the checkpoints of sha_hex corrupt, and move the blob aside unless
 * it is missing. */
static void repair_blob(struct fsck *f, const char *sha_hex, bool quarantine, bool flag)
{
    unsigned marked = 0;
    int r = 0;

    if (quarantine) {
        r = blobstore_quarantine(f->bs, sha_hex, now_ms());
        if (r < 0 && r != -ENOENT) {
            printf("  cannot move it to quarantine/: %s\n", strerror(-r));
            f->repair_failed++;
        }
    }
    if (flag && (r = index_mark_corrupt(f->ix, sha_hex, &marked)) < 0) {
        printf("  cannot flag its checkpoints corrupt: %s\n", strerror(-r));
        f->repair_failed++;
        return;
    }
    if (quarantine && flag)
        printf("  repaired: moved to quarantine/, %u checkpoint(s) flagged corrupt\n", marked);
    else if (quarantine)
        printf("  repaired: moved to quarantine/\n");
    else
        printf("  repaired: %u checkpoint(s) flagged corrupt\n", marked);
}

static void check_blob(struct fsck *f, const char *sha_hex, uint64_t size)
{
    struct blob_stat st;
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    uint64_t fsize, got = 0;
    int fd, r = blobstore_open_blob(f->bs, sha_hex, &fd, &fsize);

    f->blobs++;
    if (r == -ENOENT) {
        f->missing++;
        printf("missing     %s (the index expects %llu bytes)\n", sha_hex,
               (unsigned long long)size);
        if (f->repair)
            repair_blob(f, sha_hex, false, true);
        return;
    }
    if (r < 0) {
        printf("unreadable  %s: %s\n", sha_hex, strerror(-r));
        f->error = f->error ? f->error : r;
        return;
    }
    r = blobstore_stat_fd(fd, &st);
    if (r == 0 && st.size == size)
        r = blobstore_hash_fd(fd, NULL, NULL, d, &got);
    close(fd);
    if (r < 0) {
        printf("unreadable  %s: %s\n", sha_hex, strerror(-r));
        f->error = f->error ? f->error : r;
        return;
    }
    f->bytes += got;
    if (st.size != size) {
        f->wrong_size++;
        printf("wrong-size  %s (%llu bytes, the index says %llu)\n", sha_hex,
               (unsigned long long)st.size, (unsigned long long)size);
    } else {
        digest_hex(d, hex);
        if (strcmp(hex, sha_hex) == 0)
            return;
        f->corrupt++;
        printf("corrupt     %s (its bytes have SHA-256 %s)\n", sha_hex, hex);
    }
    if (f->repair)
        repair_blob(f, sha_hex, true, true);
}

/* Every blob healthy checkpoints refer to, a page at a time (a repair
 * writes the index, which must not happen under the page's snapshot). */
static int check_indexed(struct fsck *f)
{
    struct scrub_page *p = malloc(sizeof(*p));
    char after[SHA256_HEX_LEN + 1] = "";
    unsigned n = 0;
    int r = 0;

    if (!p)
        return -ENOMEM;
    do {
        p->n = 0;
        r = index_blobs_page(f->ix, after, SCRUB_PAGE, scrub_page_collect, p, &n);
        for (unsigned i = 0; r == 0 && i < p->n; i++)
            check_blob(f, p->sha[i], p->size[i]);
        if (p->n)
            memcpy(after, p->sha[p->n - 1], sizeof(after));
    } while (r == 0 && n == SCRUB_PAGE);
    free(p);
    return r;
}

struct names {
    char (*sha)[SHA256_HEX_LEN + 1];
    size_t n, cap;
};

static int collect_name(void *ctx, const char *sha_hex)
{
    struct names *nm = ctx;
    if (nm->n == nm->cap) {
        size_t cap = nm->cap ? 2 * nm->cap : 64;
        void *q = realloc(nm->sha, cap * sizeof(*nm->sha));
        if (!q)
            return -ENOMEM;
        nm->sha = q;
        nm->cap = cap;
    }
    memcpy(nm->sha[nm->n++], sha_hex, SHA256_HEX_LEN + 1);
    return 0;
}

/* Blob files no checkpoint refers to. Orphans are rare, but the walk
 * itself lists every file: collect the names of one directory walk, then
 * ask the index about each. */
static int check_orphans(struct fsck *f)
{
    struct names nm = {0};
    int r = blobstore_each(f->bs, collect_name, &nm);

    for (size_t i = 0; r == 0 && i < nm.n; i++) {
        bool referenced = true;
        r = index_blob_referenced(f->ix, nm.sha[i], &referenced);
        if (r == 0 && !referenced) {
            f->orphans++;
            printf("orphan      %s (no checkpoint refers to it)\n", nm.sha[i]);
            if (f->repair)
                repair_blob(f, nm.sha[i], true, false);
        }
    }
    free(nm.sha);
    return r;
}

static int check_temp(void *ctx, const char *name)
{
    struct fsck *f = ctx;
    f->temps++;
    printf("temp        tmp/%s (an upload that never finished)\n", name);
    if (f->repair) {
        int r = blobstore_remove_tmp(f->bs, name);
        if (r < 0) {
            printf("  cannot delete it: %s\n", strerror(-r));
            f->repair_failed++;
        } else {
            printf("  repaired: deleted\n");
        }
    }
    return 0;
}

static void print_index_problem(void *ctx, const char *line)
{
    (void)ctx;
    printf("index       %s\n", line);
}

/* Take DIR/ckptd.lock for the duration, so no daemon starts meanwhile.
 * -EBUSY when a daemon holds it. */
static int lock_dir(const char *dir, int *fd_out)
{
    char path[PATH_MAX];
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/ckptd.lock", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        return r;
    }
    *fd_out = fd;
    return 0;
}

int fsck_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"repair", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = "./data";
    struct fsck f = {0};
    char path[PATH_MAX];
    struct stat st;
    struct index_stats ist = {0};
    bool index_ok = true;
    int c, r, lock_fd = -1, status = FSCK_CANNOT;

    opterr = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'r': f.repair = true; break;
        case 'h': usage(stdout); return FSCK_CLEAN;
        default:
            fprintf(stderr, "ckptd: fsck: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return FSCK_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ckptd: fsck: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return FSCK_USAGE;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/index.db", data) >= sizeof(path) ||
        stat(path, &st) < 0) {
        fprintf(stderr, "ckptd: fsck: '%s' is not a ckptd data directory (no index.db)\n", data);
        return FSCK_CANNOT;
    }
    r = lock_dir(data, &lock_fd);
    if (r < 0) {
        fprintf(stderr, "ckptd: fsck: %s\n",
                r == -EBUSY ? "a ckptd is running on this data directory; stop it first"
                            : strerror(-r));
        return FSCK_CANNOT;
    }
    if ((r = blobstore_open_existing(data, &f.bs)) < 0) {
        fprintf(stderr, "ckptd: fsck: cannot open '%s/blobs': %s\n", data, strerror(-r));
        goto out;
    }
    r = index_open(path, 1, &f.ix);
    if (r == -EUCLEAN) {
        printf("index       %s fails PRAGMA quick_check; nothing else can be checked\n", path);
        status = FSCK_PROBLEMS;
        goto out;
    }
    if (r < 0) {
        fprintf(stderr, "ckptd: fsck: cannot open '%s': %s\n", path, strerror(-r));
        goto out;
    }
    if ((r = check_indexed(&f)) < 0 || (r = check_orphans(&f)) < 0 ||
        (r = blobstore_each_tmp(f.bs, check_temp, &f)) < 0 ||
        (r = index_integrity_check(f.ix, print_index_problem, NULL, &index_ok)) < 0 ||
        (r = index_stats(f.ix, &ist)) < 0) {
        fprintf(stderr, "ckptd: fsck: cannot finish: %s\n", strerror(-r));
        goto out;
    }
    if (f.error) {
        fprintf(stderr, "ckptd: fsck: some blobs could not be read: %s\n", strerror(-f.error));
        goto out;
    }
    bool problems = f.missing || f.corrupt || f.wrong_size || f.orphans || f.temps || !index_ok;
    printf("fsck: %llu blobs checked (%llu bytes): %llu missing, %llu corrupt, %llu wrong size, "
           "%llu orphan, %llu temp files; index %s; %lld checkpoint(s) flagged corrupt%s\n",
           (unsigned long long)f.blobs, (unsigned long long)f.bytes, (unsigned long long)f.missing,
           (unsigned long long)f.corrupt, (unsigned long long)f.wrong_size,
           (unsigned long long)f.orphans, (unsigned long long)f.temps, index_ok ? "ok" : "DAMAGED",
           (long long)ist.corrupt, f.repair ? " after the repair" : "");
    if (!problems)
        printf("fsck: clean\n");
    else if (f.repair && !f.repair_failed && index_ok)
        printf("fsck: problems found and repaired\n");
    else if (f.repair)
        printf("fsck: problems found; some could not be repaired\n");
    else
        printf("fsck: problems found; run with --repair to fix them\n");
    status = problems ? FSCK_PROBLEMS : FSCK_CLEAN;
out:
    index_close(f.ix);
    blobstore_close(f.bs);
    if (lock_fd >= 0)
        close(lock_fd);
    return status;
}
