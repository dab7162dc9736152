/*
 * regress_trailer_handle.c - regression: libcurl 7.88 keeps its trailer
 * state in an easy handle past curl_easy_reset, so a second streamed push
 * on one client wrote a chunk header before libcurl's upload buffer (heap
 * corruption, "double free or corruption"). Several streamed pushes, mixed
 * with other calls, on one client must all succeed.
 */
#include <stdio.h>
#include <string.h>

#include "ckpt.h"

static size_t left;

static size_t produce(void *ud, char *buf, size_t len)
{
    (void)ud;
    size_t n = len < left ? len : left;
    memset(buf, 'z', n);
    left -= n;
    return n;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 100000, 1, 70000, 3};
    ckpt_meta meta = {.run = "trailer-regress"};
    int failures = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    ckpt_client *c = ckpt_client_new(argv[1], NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ckpt_info *info = NULL;
        left = sizes[i];
        ckpt_err e = ckpt_push_stream(c, &meta, produce, NULL, &info);
        int ok = e == CKPT_OK && info && info->size == sizes[i];
        printf("%s - streamed push %zu of %zu bytes on one client succeeds%s%s\n",
               ok ? "ok" : "not ok", i + 1, sizes[i], ok ? "" : ": ",
               ok ? "" : ckpt_client_last_error(c));
        failures += !ok;
        ckpt_info_free(info);
        if (i == 1) { /* a non-streamed call between streamed ones */
            e = ckpt_push_buffer(c, &meta, "abc", 3, NULL);
            printf("%s - a buffer push between streamed pushes succeeds\n",
                   e == CKPT_OK ? "ok" : "not ok");
            failures += e != CKPT_OK;
        }
    }
    ckpt_client_free(c);
    return failures ? 1 : 0;
}
