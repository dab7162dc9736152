/*
 * large.c - a checkpoint over 2 GiB through libckpt: ckpt_push_file, then ckpt_pull_file, with
 * the client's peak resident memory (VmHWM) bounded: the library streams, it never holds a
 * checkpoint in memory. Prints "# sha256 HEX" for the script to compare with sha256sum.
 * Usage: client_large BASE_URL SRC_FILE DEST_FILE   (run by tests/integration/95_large.sh)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "tcheck.h"

#define RSS_LIMIT_KIB (64 * 1024)

/* Peak resident set size of this process in KiB, or -1. */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

struct progress {
    uint64_t last_done, last_total;
    unsigned calls;
    int backwards;
};

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    if (p->calls && done < p->last_done)
        p->backwards = 1;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return 0;
}

int main(int argc, char **argv)
{
    ckpt_info *pushed = NULL, *pulled = NULL;
    struct progress pp = {0}, pl = {0};
    struct stat st;

    if (argc != 4) {
        fprintf(stderr, "usage: %s BASE_URL SRC_FILE DEST_FILE\n", argv[0]);
        return 2;
    }
    if (stat(argv[2], &st) < 0) {
        perror(argv[2]);
        return 2;
    }
    uint64_t size = (uint64_t)st.st_size;
    ckpt_client *c = ckpt_client_new(argv[1], NULL);
    if (!c)
        return 2;
    ckpt_meta m = {.run = "large", .has_epoch = 1, .epoch = 1};

    ckpt_client_set_progress(c, on_progress, &pp);
    ckpt_err e = ckpt_push_file(c, &m, argv[2], &pushed);
    CHECK_ERR(c, e, CKPT_OK, "push_file of a %" PRIu64 "-byte file", size);
    CHECK(pushed && pushed->size == size, "the stored size is the file's (%" PRIu64 ")",
          pushed ? pushed->size : 0);
    CHECK(pp.last_done == size && pp.last_total == size && !pp.backwards,
          "push progress past 2^31 ends at done == total == size (%" PRIu64 "/%" PRIu64 ")",
          pp.last_done, pp.last_total);
    long after_push = vm_hwm_kib();

    ckpt_client_set_progress(c, on_progress, &pl);
    if (pushed) {
        ckpt_ref r = ckpt_ref_id(pushed->id);
        e = ckpt_pull_file(c, &r, argv[3], &pulled);
        CHECK_ERR(c, e, CKPT_OK, "pull_file of the %" PRIu64 "-byte checkpoint", size);
        CHECK(pulled && pulled->size == size && strcmp(pulled->sha256, pushed->sha256) == 0,
              "pull_file's info has the pushed size and SHA-256");
        CHECK(stat(argv[3], &st) == 0 && (uint64_t)st.st_size == size,
              "the pulled file has the checkpoint's size");
        CHECK(pl.last_done == size && pl.last_total == size,
              "pull progress past 2^31 ends at done == total == size (%" PRIu64 "/%" PRIu64 ")",
              pl.last_done, pl.last_total);
        printf("# sha256 %s\n", pushed->sha256);
    }
    long hwm = vm_hwm_kib();
    printf("# VmHWM after push %ld KiB, after pull %ld KiB\n", after_push, hwm);
    CHECK(hwm > 0 && hwm < RSS_LIMIT_KIB, "client peak RSS (VmHWM %ld KiB) is under %d MiB", hwm,
          RSS_LIMIT_KIB / 1024);
    ckpt_info_free(pushed);
    ckpt_info_free(pulled);
    ckpt_client_free(c);
    return t_done("client_large");
}
