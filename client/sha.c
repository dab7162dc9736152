/*
 * sha.c - SHA-256 for libckpt through OpenSSL EVP.
 */
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "internal.h"

struct sha_ctx {
    EVP_MD_CTX *md;
};

struct sha_ctx *ckpt_sha_new(void)
{
    struct sha_ctx *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        ckpt_sha_free(h);
        return NULL;
    }
    return h;
}

int ckpt_sha_update(struct sha_ctx *h, const void *data, size_t len)
{
    return EVP_DigestUpdate(h->md, data, len) == 1 ? 0 : -EIO;
}

int ckpt_sha_final_hex(struct sha_ctx *h, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (EVP_DigestFinal_ex(h->md, d, &len) != 1 || len != 32)
        return -EIO;
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

void ckpt_sha_free(struct sha_ctx *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}
