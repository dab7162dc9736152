/*
 * push_trailer.c - ckpt_push_file twice on one client, then ckpt_pull_fd of
 * the result into a read-write file after a prefix. Driven by
 * tests/integration/36_push_trailer.sh, which puts cutproxy.py in between
 * and reads its log: one pass with a trailer digest, or (behind a proxy that
 * drops trailers) one refused try and then header digests, remembered by the
 * client for the second push. Usage: client_push_trailer URL FILE SHA256 [CAFILE TOKEN].
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"

static int failures;

static void check(int ok, const char *what, ckpt_client *c)
{
    printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what, ok ? "" : ": ",
           ok ? "" : ckpt_client_last_error(c));
    failures += !ok;
}

int main(int argc, char **argv)
{
    static const char prefix[] = "PREFIX--";
    ckpt_meta meta = {.run = "trailer-push"};
    int64_t id = 0;

    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s URL FILE SHA256 [CAFILE TOKEN]\n", argv[0]);
        return 2;
    }
    ckpt_client *c = ckpt_client_new(argv[1], argc == 6 ? argv[5] : NULL);
    if (!c)
        return 2;
    if (argc == 6)
        ckpt_client_set_ca_file(c, argv[4]);
    ckpt_client_set_retries(c, 3, 10);
    for (int i = 1; i <= 2; i++) {
        ckpt_info *info = NULL;
        char what[100];
        ckpt_err e = ckpt_push_file(c, &meta, argv[2], &info);
        snprintf(what, sizeof(what), "push %d of the file on one client succeeds", i);
        check(e == CKPT_OK && info, what, c);
        if (e == CKPT_OK && info) {
            snprintf(what, sizeof(what), "  ... and stores SHA-256 %.12s", argv[3]);
            check(strcmp(info->sha256, argv[3]) == 0, what, c);
            id = info->id;
        }
        ckpt_info_free(info);
    }
    if (id == 0)
        return 1;

    /* ckpt_pull_fd into a read-write regular file, after a prefix: the
     * hasher thread reads back from the fd's starting offset, not 0. */
    char path[] = "/tmp/ckpt-push-trailer-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, prefix, sizeof(prefix) - 1) != (ssize_t)(sizeof(prefix) - 1))
        return 2;
    ckpt_ref ref = ckpt_ref_id(id);
    ckpt_info *info = NULL;
    ckpt_err e = ckpt_pull_fd(c, &ref, fd, &info);
    check(e == CKPT_OK && info && strcmp(info->sha256, argv[3]) == 0,
          "ckpt_pull_fd into a read-write file after an 8-byte prefix verifies", c);
    off_t end = lseek(fd, 0, SEEK_END);
    check(info && end == (off_t)(sizeof(prefix) - 1 + info->size),
          "  ... and the file holds the prefix and the blob", c);
    char head[sizeof(prefix)] = "";
    check(pread(fd, head, sizeof(prefix) - 1, 0) == (ssize_t)(sizeof(prefix) - 1) &&
              memcmp(head, prefix, sizeof(prefix) - 1) == 0,
          "  ... with the prefix untouched", c);
    ckpt_info_free(info);
    close(fd);
    unlink(path);
    ckpt_client_free(c);
    return failures ? 1 : 0;
}
