/*
 * upload.c - streaming upload state; see upload.h.
 */
#include "upload.h"

#include <errno.h>

#include "failpoint.h"
#include <stdlib.h>

int upload_new(struct blobstore *bs, uint64_t limit, struct upload **out)
{
    struct upload *u = calloc(1, sizeof(*u));
    int r;

    if (!u)
        return -ENOMEM;
    u->limit = limit;
    u->hash = sha256_new();
    if (!u->hash) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = blobstore_tmp_new(bs, &u->tmp)) < 0)
        goto fail;
    *out = u;
    return 0;
fail:
    upload_free(u);
    return r;
}

int upload_write(struct upload *u, const void *data, size_t len)
{
    if (len > u->limit - u->received)
        return -EFBIG;
    u->received += len;
    if (u->received > (1u << 20))
        failpoint("mid-body-crash");
    if (u->error)
        return 0;
    int r = sha256_update(u->hash, data, len);
    if (r == 0)
        r = blob_tmp_write(u->tmp, data, len);
    if (r < 0)
        u->error = r;
    return 0;
}

void upload_fail(struct upload *u, int err)
{
    blob_tmp_discard(u->tmp);
    u->tmp = NULL;
    if (!u->error)
        u->error = err;
}

int upload_finish(struct upload *u)
{
    if (u->error)
        return u->error;
    if (sha256_final(u->hash, u->digest) < 0)
        return -EIO;
    digest_hex(u->digest, u->digest_hex);
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
    blob_tmp_discard(u->tmp);
    sha256_free(u->hash);
    free(u);
}
