/*
 * digest.h - incremental SHA-256 through OpenSSL EVP, and the text forms a
 * digest takes on the wire (lowercase hex, RFC 9530 base64).
 */
#ifndef CKPTD_DIGEST_H
#define CKPTD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
#define SHA256_B64_LEN 44

struct sha256;

/* A new context ready for updates; NULL when out of memory. */
struct sha256 *sha256_new(void);

/* Add len bytes. Returns 0 or -EIO. */
int sha256_update(struct sha256 *h, const void *data, size_t len);

/* Finish into out. The context cannot be updated afterwards. 0 or -EIO. */
int sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN]);

/* Free a context; NULL is a no-op. */
void sha256_free(struct sha256 *h);

/* 64 lowercase hex characters and a NUL into out. */
void digest_hex(const uint8_t d[SHA256_LEN], char out[SHA256_HEX_LEN + 1]);

/* 44 base64 characters and a NUL into out (RFC 4648 with padding). */
void digest_base64(const uint8_t d[SHA256_LEN], char out[SHA256_B64_LEN + 1]);

/* Decode the base64 text of a SHA-256 digest (exactly 44 characters,
 * padded). Returns 0 or -EINVAL. */
int digest_from_base64(const char *b64, size_t len, uint8_t out[SHA256_LEN]);

/* nbytes (at most 64) random bytes from OpenSSL's RAND_bytes as 2*nbytes
 * lowercase hex characters and a NUL into out (lease ids). 0 or -EIO. */
int digest_random_hex(size_t nbytes, char *out);

#endif
