/*
 * internal.h - libckpt's private structures, shared by ckpt.c (the API)
 * and http.c (the only file that includes curl/curl.h).
 */
#ifndef CKPT_INTERNAL_H
#define CKPT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"

#define CKPT_ERRMSG_MAX 512
#define CKPT_JSON_MAX (64u << 20) /* the largest JSON answer we accept */

struct ckpt_client {
    char *base_url; /* without a trailing slash */
    char *auth_header;
    char *ca_file;
    long connect_ms, stall_ms;
    unsigned max_retries;
    long backoff_ms;
    unsigned seed; /* jitter, per client */
    ckpt_progress_fn progress;
    void *progress_ud;
    void *curl; /* CURL *, reused so connections are kept alive */
    long last_status;
    char last_error[CKPT_ERRMSG_MAX];
    char last_code[64];
    bool header_digest; /* ckpt_push_file states the digest in a header (two
                         * passes): asked for, or a proxy dropped a trailer */
};

/* Where a request body comes from. */
enum body_kind { BODY_NONE, BODY_BUFFER, BODY_FD, BODY_STREAM };

struct http_body {
    enum body_kind kind;
    const char *buf; /* BODY_BUFFER */
    int fd;          /* BODY_FD: read with pread from offset 0 */
    uint64_t size;   /* BODY_BUFFER, BODY_FD */
    ckpt_read_fn read; /* BODY_STREAM */
    void *read_ud;
    uint64_t pos;      /* bytes handed to libcurl so far */
    bool read_failed;  /* the source failed or aborted */
    struct sha_ctx *stream_hash; /* BODY_STREAM: digest sent as a trailer */
    struct fhash *fd_hash; /* BODY_FD: when set, sent chunked with the digest of the
                            * bytes sent in a trailer, hashed on another thread */
    char trailer_hex[65];  /* the digest the trailer carried ("" before it went) */
};

/* Where a successful (2xx) response body goes; other bodies are kept in
 * memory as error text. */
struct http_sink {
    ckpt_write_fn write; /* NULL: keep the body in memory */
    void *write_ud;
    bool write_failed;
};

struct http_request {
    const char *method;
    const char *url;
    const char *headers[8]; /* extra "Name: value" lines, NULL-terminated */
    struct http_body *body;
    struct http_sink *sink;
    bool progress;          /* report this transfer to the progress callback */
    uint64_t progress_base; /* bytes done before this attempt (resume) */
    uint64_t progress_total;
    int (*tick)(void *ud);  /* called on libcurl's progress beat; non-zero aborts */
    void *tick_ud;
    long extra_stall_s;     /* added to the stall timeout: a long poll is silent */
};

struct http_response {
    long status;     /* 0: no response */
    char *body;      /* NUL-terminated; error bodies always, 2xx when no sink */
    size_t body_len;
    char etag[80];
    char digest_hex[65]; /* X-Checkpoint-SHA256 */
    char content_range[96];
    bool has_length;
    uint64_t content_length;
    bool aborted;   /* a callback stopped the transfer */
    bool transport; /* failed below HTTP: connect, reset, timeout */
    bool permanent; /* a transport failure retrying cannot cure: the TLS
                     * certificate did not verify, the CA file is unusable */
    char error[CKPT_ERRMSG_MAX];
};

/* Perform one attempt. Fills *rs (release with ckpt_http_response_release).
 * Returns 0 when a response arrived (any status), -1 otherwise with
 * rs->transport or rs->aborted set and rs->error describing it. */
int ckpt_http_perform(struct ckpt_client *c, const struct http_request *rq, struct http_response *rs);

void ckpt_http_response_release(struct http_response *rs);

/* Prepare and free the client's libcurl handle. */
int ckpt_http_client_init(struct ckpt_client *c);
void ckpt_http_client_cleanup(struct ckpt_client *c);

/* Percent-encode s for a URL path segment or query value into out. */
int ckpt_http_escape(const char *s, char *out, size_t size);

/* SHA-256 through OpenSSL EVP. */
struct sha_ctx;
struct sha_ctx *ckpt_sha_new(void);
int ckpt_sha_update(struct sha_ctx *h, const void *data, size_t len);
int ckpt_sha_final_hex(struct sha_ctx *h, char hex[65]);
void ckpt_sha_free(struct sha_ctx *h);

/* SHA-256 of bytes [0, n) of a file (from offset base) on a thread of its
 * own, which reads back with pread what the caller has written or sent
 * (fhash.c). The caller owns fd and keeps it open until ckpt_fhash_free.
 *
 * ckpt_fhash_usable: whether fd can be read back that way (a regular file,
 * readable, and for a download target not O_APPEND and open for writing);
 * *base gets its current offset. ckpt_fhash_new: an idle hasher, NULL when
 * out of memory. ckpt_fhash_start: (re)start from byte 0, abandoning any
 * earlier work; 0 or a negative errno. ckpt_fhash_advance: bytes [0, avail)
 * are final; never blocks for long. ckpt_fhash_final_hex: wait until bytes
 * [0, len) are hashed and write the digest; 0, or a negative errno when a
 * read failed or the file is shorter than len; start again before reuse.
 * ckpt_fhash_free: stop at once and free; NULL is a no-op. One caller
 * thread per hasher. */
struct fhash;
bool ckpt_fhash_usable(int fd, bool for_writing, uint64_t *base);
struct fhash *ckpt_fhash_new(int fd, uint64_t base);
int ckpt_fhash_start(struct fhash *f);
void ckpt_fhash_advance(struct fhash *f, uint64_t avail);
int ckpt_fhash_final_hex(struct fhash *f, uint64_t len, char hex[65]);
void ckpt_fhash_free(struct fhash *f);

#endif
