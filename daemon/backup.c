/*
 * backup.c - `ckptd backup --data DIR --to DIR`. The index is copied first
 * as one snapshot, then the blobs its rows name: every checkpoint in the
 * backup has its blob, and what is uploaded later is simply not in it.
 */
#include "backup.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blobstore.h"
#include "index.h"

/* The index is written under this name and renamed to BACKUP_INDEX last,
 * so a backup that failed half-way has no index.db to be mistaken for a
 * whole one. */
#define BACKUP_INDEX_TMP "index.db.partial"
#define BACKUP_INDEX "index.db"

static void backup_usage(FILE *f)
{
    fprintf(f, "usage: ckptd backup --to DIR [--data DIR]\n"
               "\n"
               "Copy the data directory (default ./data) to DIR, which must not exist or be\n"
               "empty, while a daemon may be serving from it: the index as one consistent\n"
               "snapshot, then every blob it refers to (hard links on the same filesystem,\n"
               "fsync'd copies otherwise). Checkpoints uploaded after the snapshot are not in\n"
               "the backup. To restore, run ckptd with --data DIR. The backup holds the\n"
               "tokens (as hashes) and every checkpoint: keep it as secret as the data.\n"
               "Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

static int copy_blob(void *ctx, const char *sha_hex, uint64_t size)
{
    (void)size; /* a wrong size is flagged by the restored daemon's scan */
    int r = blobstore_backup_blob(ctx, sha_hex);
    if (r < 0 && r != -ENOENT)
        fprintf(stderr, "ckptd: cannot back up blob %s: %s\n", sha_hex, strerror(-r));
    return r;
}

int backup_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = "./data", *to = NULL;
    char src_index[PATH_MAX], dst_index[PATH_MAX];
    struct blob_backup *bb = NULL;
    struct index_backup_stats is;
    struct blob_backup_stats bs;
    struct timespec t0, t1;
    int c, r;

    opterr = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 't': to = optarg; break;
        case 'h': backup_usage(stdout); return 0;
        default:
            fprintf(stderr, "ckptd: backup: unknown option or missing argument '%s'\n",
                    argv[optind - 1]);
            backup_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !to || !*to || !*data) {
        if (optind < argc)
            fprintf(stderr, "ckptd: backup: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "ckptd: backup needs --to DIR\n");
        backup_usage(stderr);
        return 2;
    }
    if (snprintf(src_index, sizeof(src_index), "%s/%s", data, BACKUP_INDEX) >=
            (int)sizeof(src_index) ||
        snprintf(dst_index, sizeof(dst_index), "%s/%s", to, BACKUP_INDEX_TMP) >=
            (int)sizeof(dst_index)) {
        fprintf(stderr, "ckptd: backup: path too long\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = blobstore_backup_open(data, to, &bb);
    if (r == -ENOTEMPTY) {
        fprintf(stderr, "ckptd: backup: refusing to write into '%s': it is not empty\n", to);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot back up '%s' to '%s': %s\n", data, to, strerror(-r));
        return 1;
    }
    /* Index first, blobs second: see the file comment. */
    r = index_backup(src_index, dst_index, copy_blob, bb, &is);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot back up the index '%s': %s\n", src_index,
                r == -ENOENT ? "no such file (is it a data directory?)" : strerror(-r));
        goto fail;
    }
    r = blobstore_backup_finish(bb, BACKUP_INDEX_TMP, BACKUP_INDEX, &bs);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot complete the backup in '%s': %s\n", to, strerror(-r));
        goto fail;
    }
    blobstore_backup_free(bb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("backup of '%s' in '%s': %" PRIu64 " checkpoints, %" PRIu64 " blobs (%" PRIu64
           " hard-linked, %" PRIu64 " copied, %" PRIu64 " bytes copied), %" PRIu64
           " tokens, %.1f s\n",
           data, to, is.checkpoints, is.blobs, bs.linked, bs.copied, bs.bytes_copied, is.tokens,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (is.dropped)
        printf("left out %" PRIu64 " checkpoints whose blob was gone (deleted while the backup "
               "ran, or missing)\n",
               is.dropped);
    return 0;
fail:
    blobstore_backup_free(bb);
    fprintf(stderr, "ckptd: the backup in '%s' is incomplete (no %s): remove it\n", to,
            BACKUP_INDEX);
    return 1;
}
