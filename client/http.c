/*
 * http.c - one HTTP exchange through libcurl: the only file of libckpt that
 * includes curl/curl.h. Retries, digests and meaning live in ckpt.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "internal.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ckpt_http_client_init(struct ckpt_client *c)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -ENOMEM;
    c->curl = curl_easy_init();
    return c->curl ? 0 : -ENOMEM;
}

void ckpt_http_client_cleanup(struct ckpt_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

int ckpt_http_escape(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (o + (plain ? 1 : 3) >= size)
            return -ENAMETOOLONG;
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

struct exchange {
    struct ckpt_client *c;
    const struct http_request *rq;
    struct http_response *rs;
    CURL *h;
    struct curl_slist *trailers;
    char trailer_line[128];
};

static int append_body(struct http_response *rs, const char *data, size_t len)
{
    if (rs->body_len + len + 1 > CKPT_JSON_MAX)
        return -1;
    char *p = realloc(rs->body, rs->body_len + len + 1);
    if (!p)
        return -1;
    memcpy(p + rs->body_len, data, len);
    rs->body = p;
    rs->body_len += len;
    rs->body[rs->body_len] = '\0';
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    size_t len = size * nmemb;
    long status = 0;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && x->rq->sink && x->rq->sink->write) {
        if (x->rq->sink->write(x->rq->sink->write_ud, data, len) != 0) {
            x->rq->sink->write_failed = true;
            return 0;
        }
        return len;
    }
    return append_body(x->rs, data, len) < 0 ? 0 : len;
}

/* Copy a header's value, trimmed, into dst. */
static void header_value(const char *v, size_t len, char *dst, size_t size)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= size)
        len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    struct http_response *rs = x->rs;
    size_t len = size * nmemb;
    const char *colon = memchr(line, ':', len);
    char num[32];

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue, say): forget the last. */
        const char *sp = memchr(line, ' ', len);
        rs->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        rs->etag[0] = rs->digest_hex[0] = rs->content_range[0] = '\0';
        rs->has_length = false;
        return len;
    }
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
#define IS(name) (nlen == strlen(name) && strncasecmp(line, name, nlen) == 0)
    if (IS("ETag")) {
        header_value(v, vlen, rs->etag, sizeof(rs->etag));
    } else if (IS("X-Checkpoint-SHA256")) {
        header_value(v, vlen, rs->digest_hex, sizeof(rs->digest_hex));
    } else if (IS("Content-Range")) {
        header_value(v, vlen, rs->content_range, sizeof(rs->content_range));
    } else if (IS("Content-Length")) {
        header_value(v, vlen, num, sizeof(num));
        char *end;
        errno = 0;
        unsigned long long n = strtoull(num, &end, 10);
        rs->has_length = errno == 0 && *num && !*end;
        rs->content_length = n;
    }
#undef IS
    return len;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    struct http_body *b = x->rq->body;
    size_t want = size * nmemb, n = 0;

    switch (b->kind) {
    case BODY_NONE:
        return 0;
    case BODY_BUFFER:
        n = b->size - b->pos < want ? (size_t)(b->size - b->pos) : want;
        memcpy(buf, b->buf + b->pos, n);
        break;
    case BODY_FD: {
        if (b->pos >= b->size)
            return 0;
        size_t left = b->size - b->pos < want ? (size_t)(b->size - b->pos) : want;
        ssize_t got;
        do
            got = pread(b->fd, buf, left, (off_t)b->pos);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            /* The file shrank or failed under us: never send a short body
             * that could be mistaken for the whole. */
            b->read_failed = true;
            snprintf(x->rs->error, sizeof(x->rs->error), "cannot read the file being uploaded: %s",
                     got < 0 ? strerror(errno) : "it became shorter");
            return CURL_READFUNC_ABORT;
        }
        n = (size_t)got;
        /* These bytes are final in libcurl's buffer; the hasher reads the
         * same range back from the file on its own thread. */
        if (b->fd_hash)
            ckpt_fhash_advance(b->fd_hash, b->pos + n);
        break;
    }
    case BODY_STREAM:
        n = b->read(b->read_ud, buf, want);
        if (n == CKPT_READ_ABORT || n > want) {
            b->read_failed = true;
            snprintf(x->rs->error, sizeof(x->rs->error), "the upload's read callback aborted");
            return CURL_READFUNC_ABORT;
        }
        if (n && ckpt_sha_update(b->stream_hash, buf, n) < 0) {
            b->read_failed = true;
            return CURL_READFUNC_ABORT;
        }
        break;
    }
    b->pos += n;
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct exchange *x = ud;
    struct http_body *b = x->rq->body;

    if (origin != SEEK_SET || offset < 0 || b->kind == BODY_STREAM || (uint64_t)offset > b->size)
        return CURL_SEEKFUNC_CANTSEEK;
    if (b->fd_hash) {
        /* A rewind resends: hash from the start again, up to the new
         * position (bytes the server already has from this request). */
        if (ckpt_fhash_start(b->fd_hash) < 0)
            return CURL_SEEKFUNC_FAIL;
        ckpt_fhash_advance(b->fd_hash, (uint64_t)offset);
    }
    b->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Called after the last chunk of a streamed body: the digest of exactly
 * the bytes sent, for the server to check before it commits. */
static int on_trailer(struct curl_slist **list, void *ud)
{
    struct exchange *x = ud;
    struct http_body *b = x->rq->body;
    char hex[65];
    /* A file's hasher may lag the sender by a buffer or two: wait for it. */
    int r = b->fd_hash ? ckpt_fhash_final_hex(b->fd_hash, b->pos, hex)
                       : ckpt_sha_final_hex(b->stream_hash, hex);

    if (r < 0) {
        b->read_failed = true;
        snprintf(x->rs->error, sizeof(x->rs->error), "cannot hash the file being uploaded: %s",
                 strerror(-r));
        return CURL_TRAILERFUNC_ABORT;
    }
    memcpy(b->trailer_hex, hex, sizeof(hex));
    snprintf(x->trailer_line, sizeof(x->trailer_line), "X-Checkpoint-SHA256: %s", hex);
    x->trailers = curl_slist_append(NULL, x->trailer_line);
    if (!x->trailers)
        return CURL_TRAILERFUNC_ABORT;
    *list = x->trailers;
    x->trailers = NULL; /* libcurl frees the list */
    return CURL_TRAILERFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct exchange *x = ud;
    const struct http_request *rq = x->rq;
    uint64_t done, total;

    if (rq->tick && rq->tick(rq->tick_ud) != 0) {
        x->rs->aborted = true;
        return 1;
    }
    if (!x->c->progress || !rq->progress)
        return 0;
    if (rq->body && rq->body->kind != BODY_NONE) {
        /* Bytes taken from the source: libcurl's own count includes the
         * chunk framing of a streamed body. */
        (void)ulnow;
        (void)ultotal;
        done = rq->body->pos;
        total = rq->body->kind == BODY_STREAM ? 0 : rq->body->size;
    } else {
        done = rq->progress_base + (uint64_t)dlnow;
        total = rq->progress_total ? rq->progress_total
                                   : (dltotal > 0 ? rq->progress_base + (uint64_t)dltotal : 0);
    }
    if (x->c->progress(x->c->progress_ud, done, total) != 0) {
        x->rs->aborted = true;
        return 1;
    }
    return 0;
}

/* Certificates are always verified (libcurl's default; nothing here turns
 * CURLOPT_SSL_VERIFYPEER or CURLOPT_SSL_VERIFYHOST off). A verification
 * failure, or a CA file libcurl cannot use, will not go away by retrying:
 * mark it permanent and say which CA file was used. */
static void tls_failure(const struct ckpt_client *c, CURLcode res, const char *why,
                        struct http_response *rs)
{
    const char *ca = c->ca_file ? c->ca_file : "the system's CA certificates";

    switch (res) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        snprintf(rs->error, sizeof(rs->error),
                 "cannot verify the server's TLS certificate against %s: %s", ca, why);
        break;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
        snprintf(rs->error, sizeof(rs->error), "cannot use the CA file '%s': %s", ca, why);
        break;
    default:
        return;
    }
    rs->permanent = true;
}

void ckpt_http_response_release(struct http_response *rs)
{
    free(rs->body);
    memset(rs, 0, sizeof(*rs));
}

int ckpt_http_perform(struct ckpt_client *c, const struct http_request *rq, struct http_response *rs)
{
    /* libcurl 7.88 keeps its trailer state in the handle past
     * curl_easy_reset: a second chunked upload with trailers on the same
     * handle writes its first chunk header before the upload buffer. So a
     * streamed upload gets a handle of its own. */
    bool trailer = rq->body && (rq->body->kind == BODY_STREAM ||
                                (rq->body->kind == BODY_FD && rq->body->fd_hash));
    bool own = trailer;
    CURL *h = own ? curl_easy_init() : c->curl;
    struct exchange x = {.c = c, .rq = rq, .rs = rs, .h = h};
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode res;
    int ret = -1;

    memset(rs, 0, sizeof(*rs));
    if (!h) {
        rs->transport = true;
        snprintf(rs->error, sizeof(rs->error), "out of memory");
        return -1;
    }
    curl_easy_reset(h); /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (c->stall_ms < 1000 ? 1L : c->stall_ms / 1000) + rq->extra_stall_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Bigger buffers than libcurl's 16 KiB / 64 KiB defaults: each buffer
     * is one write or read plus one hash update, and checkpoints are big. */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "libckpt/" CKPT_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);

    for (size_t i = 0; i < sizeof(rq->headers) / sizeof(rq->headers[0]) && rq->headers[i]; i++)
        headers = curl_slist_append(headers, rq->headers[i]);
    if (c->auth_header)
        headers = curl_slist_append(headers, c->auth_header);

    if (rq->body && rq->body->kind != BODY_NONE) {
        struct http_body *b = rq->body;
        b->pos = 0;
        b->trailer_hex[0] = '\0';
        int r = b->fd_hash ? ckpt_fhash_start(b->fd_hash) : 0;
        if (r < 0) {
            /* Each attempt hashes what it sends, from byte 0. */
            rs->aborted = true;
            snprintf(rs->error, sizeof(rs->error), "cannot start hashing the file: %s",
                     strerror(-r));
            curl_slist_free_all(headers);
            if (own)
                curl_easy_cleanup(h);
            return -1;
        }
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        if (trailer) {
            headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
            headers = curl_slist_append(headers, "Trailer: X-Checkpoint-SHA256");
            curl_easy_setopt(h, CURLOPT_TRAILERFUNCTION, on_trailer);
            curl_easy_setopt(h, CURLOPT_TRAILERDATA, &x);
        } else {
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->size);
        }
        if (strcmp(rq->method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    } else if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    res = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    if (res == CURLE_OK) {
        ret = 0;
    } else if (rs->aborted || (rq->sink && rq->sink->write_failed) ||
               (rq->body && rq->body->read_failed)) {
        rs->aborted = true;
        if (!rs->error[0])
            snprintf(rs->error, sizeof(rs->error), "transfer aborted: %s",
                     errbuf[0] ? errbuf : curl_easy_strerror(res));
    } else {
        rs->transport = true;
        tls_failure(c, res, errbuf[0] ? errbuf : curl_easy_strerror(res), rs);
        if (!rs->permanent)
            snprintf(rs->error, sizeof(rs->error), "%s",
                     errbuf[0] ? errbuf : curl_easy_strerror(res));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (own)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    return ret;
}
