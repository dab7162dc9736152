/*
 * integrity.c - libckpt against a checkpoint whose blob was corrupted on the server's disk:
 * every pull must fail with CKPT_E_INTEGRITY, and ckpt_pull_file must neither create nor
 * replace its destination nor leave a temporary file.
 * Usage: client_integrity BASE_URL ID RUN EMPTY_DIR   (run by tests/integration/91_integrity.sh)
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "tcheck.h"

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int count_bytes(void *ud, const char *buf, size_t len)
{
    (void)buf;
    *(size_t *)ud += len;
    return 0;
}

int main(int argc, char **argv)
{
    char path[2048], keep[2048], content[64] = "";
    ckpt_info *info = NULL;
    ckpt_err e;

    if (argc != 5 || strlen(argv[4]) > 1500) {
        fprintf(stderr, "usage: %s BASE_URL ID RUN EMPTY_DIR\n", argv[0]);
        return 2;
    }
    ckpt_client *c = ckpt_client_new(argv[1], NULL);
    if (!c)
        return 2;
    ckpt_client_set_retries(c, 1, 10);
    ckpt_ref ref = ckpt_ref_id(strtoll(argv[2], NULL, 10));
    const char *dir = argv[4];

    snprintf(path, sizeof(path), "%s/pulled.bin", dir);
    e = ckpt_pull_file(c, &ref, path, &info);
    CHECK_ERR(c, e, CKPT_E_INTEGRITY, "pull_file of a corrupted blob is INTEGRITY");
    CHECK(info == NULL, "pull_file of a corrupted blob sets *out to NULL");
    /* Since issue 5 the server checks the bytes it sends and flags the
     * checkpoint corrupt, so the client's own SHA-256 check or the server's
     * checkpoint_corrupt stops the pull. */
    CHECK(strstr(ckpt_client_last_error(c), "SHA-256") != NULL ||
              strstr(ckpt_client_last_error(c), "checkpoint_corrupt") != NULL,
          "last_error mentions SHA-256 or checkpoint_corrupt ('%s')", ckpt_client_last_error(c));
    CHECK(access(path, F_OK) != 0, "pull_file of a corrupted blob creates no destination");
    CHECK_INT(dir_entries(dir), 0, "pull_file of a corrupted blob leaves no temporary file");

    snprintf(keep, sizeof(keep), "%s/existing.bin", dir);
    FILE *f = fopen(keep, "w");
    if (f) {
        fputs("precious old contents", f);
        fclose(f);
    }
    e = ckpt_pull_file(c, &ref, keep, NULL);
    CHECK_ERR(c, e, CKPT_E_INTEGRITY,
              "pull_file of a corrupted blob over an existing file is INTEGRITY");
    f = fopen(keep, "r");
    if (f) {
        if (!fgets(content, sizeof(content), f))
            content[0] = '\0';
        fclose(f);
    }
    CHECK_STR(content, "precious old contents", "the existing destination is unchanged");
    CHECK_INT(dir_entries(dir), 1, "only the existing destination is left in the directory");

    ckpt_ref best = ckpt_ref_best(argv[3], NULL, 0);
    e = ckpt_pull_file(c, &best, path, NULL);
    /* Flagged corrupt, it is no longer anyone's best (issue 5). */
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "pull_file of best skips the corrupted checkpoint");
    CHECK(access(path, F_OK) != 0, "  ... and creates no destination");

    snprintf(path, sizeof(path), "%s/fd.bin", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    e = ckpt_pull_fd(c, &ref, fd, &info);
    CHECK_ERR(c, e, CKPT_E_INTEGRITY, "pull_fd of a corrupted blob is INTEGRITY");
    CHECK(info == NULL, "pull_fd of a corrupted blob sets *out to NULL");
    if (fd >= 0)
        close(fd);

    size_t got = 0;
    e = ckpt_pull_cb(c, &ref, count_bytes, &got, &info);
    CHECK_ERR(c, e, CKPT_E_INTEGRITY, "pull_cb of a corrupted blob is INTEGRITY");
    CHECK(info == NULL, "pull_cb of a corrupted blob sets *out to NULL");

    /* The metadata is still readable: only the bytes are bad. */
    e = ckpt_get(c, &ref, &info);
    CHECK_ERR(c, e, CKPT_OK, "get of the corrupted checkpoint's metadata still works");
    ckpt_info_free(info);
    ckpt_client_free(c);
    return t_done("client_integrity");
}
