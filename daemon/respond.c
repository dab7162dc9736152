/*
 * respond.c - response building on top of libmicrohttpd.
 */
#include "respond.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "blobstore.h"
#include "ckpt_limits.h"

#define JSON_REPLY_MAX (16u << 20) /* the largest JSON reply we build */

static int set_reply(struct request *req, unsigned status, struct MHD_Response *resp,
                     uint64_t body_len)
{
    if (!resp)
        return -ENOMEM;
    if (req->response) { /* first reply wins */
        MHD_destroy_response(resp);
        return 0;
    }
    req->status = status;
    req->response = resp;
    req->reply_len = body_len;
    return 0;
}

void respond_header(struct request *req, const char *name, const char *value)
{
    if (req->response)
        MHD_add_response_header(req->response, name, value);
}

int respond_json(struct request *req, unsigned status, struct json *body)
{
    size_t len;
    char *text;

    json_raw(body, "\n");
    text = json_detach(body, &len);
    if (!text)
        return -ENOMEM;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return -ENOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return set_reply(req, status, resp, len);
}

int respond_error(struct request *req, enum api_error e, const char *fmt, ...)
{
    char msg[512];
    struct json j;

    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof(msg), "%s", error_message(e));
    }
    json_init(&j, 4096);
    json_raw(&j, "{\"error\":{\"code\":");
    json_str(&j, error_code(e));
    json_raw(&j, ",\"message\":");
    json_str(&j, msg);
    json_raw(&j, "}}");
    return respond_json(req, error_status(e), &j);
}

int respond_empty(struct request *req, unsigned status)
{
    return set_reply(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
                     0);
}

void json_checkpoint(struct json *j, const struct ckpt_record *rec)
{
    const struct ckpt_meta *m = &rec->meta;

    json_raw(j, "{\"id\":");
    json_int(j, rec->id);
    json_raw(j, ",\"run\":");
    json_str(j, m->run);
    json_raw(j, ",\"epoch\":");
    if (m->has_epoch)
        json_int(j, m->epoch);
    else
        json_raw(j, "null");
    json_raw(j, ",\"step\":");
    if (m->has_step)
        json_int(j, m->step);
    else
        json_raw(j, "null");
    json_raw(j, ",\"loss\":");
    if (m->has_loss)
        json_double(j, m->loss);
    else
        json_raw(j, "null");
    json_raw(j, ",\"metrics\":{");
    for (size_t i = 0; i < m->n_metrics; i++) {
        if (i)
            json_raw(j, ",");
        json_str(j, m->metrics[i].name);
        json_raw(j, ":");
        json_double(j, m->metrics[i].value);
    }
    json_raw(j, "},\"size\":");
    json_int(j, (int64_t)rec->size);
    json_raw(j, ",\"sha256\":");
    json_str(j, rec->sha256);
    json_raw(j, ",\"created_at\":");
    json_time_ms(j, rec->created_ms);
    json_raw(j, rec->corrupt ? ",\"corrupt\":true" : ",\"corrupt\":false");
    json_raw(j, rec->pinned ? ",\"pinned\":true}" : ",\"pinned\":false}");
}

static void blob_headers(struct request *req, const struct ckpt_record *rec, const char *etag)
{
    uint8_t d[SHA256_LEN];
    char b64[SHA256_B64_LEN + 1], repr[SHA256_B64_LEN + 16], id[24];

    respond_header(req, MHD_HTTP_HEADER_ETAG, etag);
    respond_header(req, "X-Checkpoint-SHA256", rec->sha256);
    if (parse_sha256_hex(rec->sha256, SHA256_HEX_LEN, d) == 0) {
        digest_base64(d, b64);
        snprintf(repr, sizeof(repr), "sha-256=:%s:", b64);
        respond_header(req, "Repr-Digest", repr);
    }
    snprintf(id, sizeof(id), "%" PRId64, rec->id);
    respond_header(req, "X-Checkpoint-Id", id);
    respond_header(req, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

struct blob_reader {
    int fd;
    uint64_t first;
};

static ssize_t blob_reader_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct blob_reader *br = cls;
    long n = blob_read_at(br->fd, br->first + pos, buf, max);
    /* The length went out in the headers: a blob that ends early (or a
     * read error) can only cut the connection. */
    return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void blob_reader_free(void *cls)
{
    struct blob_reader *br = cls;
    close(br->fd);
    free(br);
}

/* The response for len bytes of fd from first; it owns fd. Plain HTTP: an
 * fd response, which libmicrohttpd sends with sendfile. TLS: bytes must be
 * encrypted in user space, and the fd response would read them 4 KiB at a
 * time; a callback reading TLS_READ_BLOCK at a time costs less CPU. */
static struct MHD_Response *blob_response(struct request *req, int fd, uint64_t first, uint64_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    struct blob_reader *br;
    struct MHD_Response *resp;

    if (!ci || !ci->tls_session)
        return MHD_create_response_from_fd_at_offset64(len, fd, first);
    br = malloc(sizeof(*br));
    if (!br)
        return NULL;
    br->fd = fd;
    br->first = first;
    resp = MHD_create_response_from_callback(len, TLS_READ_BLOCK, blob_reader_read, br,
                                             blob_reader_free);
    if (!resp)
        free(br);
    return resp;
}

/* A whole-blob download that hashes what it sends. */
struct verify_send {
    int fd;
    uint64_t size, pos;
    struct sha256 *hash;
    char sha_hex[SHA256_HEX_LEN + 1];
    int64_t id;
    struct send_check check;
    bool failed;
};

static void verify_free(void *cls)
{
    struct verify_send *v = cls;
    close(v->fd);
    sha256_free(v->hash);
    free(v);
}

static ssize_t verify_fail(struct verify_send *v, const char *why)
{
    if (!v->failed) {
        v->failed = true;
        log_error("aborting the download of checkpoint %" PRId64 ": blob %s %s", v->id, v->sha_hex,
                  why);
        v->check.bad(v->check.ctx, v->sha_hex, &v->check.st);
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* libmicrohttpd asks for the body piece by piece, in order. The piece that
 * reaches the end is only handed over once the digest matched. */
static ssize_t verify_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct verify_send *v = cls;
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];

    if (v->failed || pos != v->pos)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (pos >= v->size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t want = max;
    if ((uint64_t)want > v->size - pos)
        want = (size_t)(v->size - pos);
    long n = blobstore_pread(v->fd, buf, want, pos);
    if (n < 0) {
        log_error("cannot read blob %s: %s", v->sha_hex, strerror((int)-n));
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (n == 0)
        return verify_fail(v, "is shorter than the index says");
    if (sha256_update(v->hash, buf, (size_t)n) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    v->pos += (uint64_t)n;
    if (v->pos == v->size) {
        if (sha256_final(v->hash, d) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        digest_hex(d, hex);
        if (strcmp(hex, v->sha_hex) != 0)
            return verify_fail(v, "does not have its SHA-256 any more");
        if (v->check.good)
            v->check.good(v->check.ctx, v->sha_hex, v->check.started_ms);
    }
    return (ssize_t)n;
}

static struct MHD_Response *verified_response(int fd, uint64_t size, const struct ckpt_record *rec,
                                              const struct send_check *check)
{
    struct verify_send *v = calloc(1, sizeof(*v));
    if (!v || !(v->hash = sha256_new())) {
        free(v);
        return NULL;
    }
    v->fd = fd;
    v->size = size;
    v->id = rec->id;
    v->check = *check;
    memcpy(v->sha_hex, rec->sha256, sizeof(v->sha_hex));
    struct MHD_Response *resp =
        MHD_create_response_from_callback(size, VERIFY_SEND_BYTES, verify_read, v, verify_free);
    if (!resp) {
        sha256_free(v->hash);
        free(v);
    }
    return resp;
}

int respond_blob(struct request *req, int fd, uint64_t size, const struct ckpt_record *rec,
                 const struct send_check *check)
{
    char etag[SHA256_HEX_LEN + 3], cr[80];
    uint64_t first = 0, last = size ? size - 1 : 0;
    enum range_result range = RANGE_NONE;
    const char *inm = request_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *range_hdr = request_header(req, MHD_HTTP_HEADER_RANGE);
    const char *if_range = request_header(req, MHD_HTTP_HEADER_IF_RANGE);
    int r;

    req->checkpoint_id = rec->id;
    snprintf(etag, sizeof(etag), "\"%s\"", rec->sha256);
    if (inm && parse_etag_match(inm, rec->sha256, true)) {
        close(fd);
        r = respond_empty(req, MHD_HTTP_NOT_MODIFIED);
        if (r == 0)
            blob_headers(req, rec, etag);
        return r;
    }
    /* If-Range with a different validator: the client's partial copy is of
     * other bytes, so it gets the whole representation. */
    if (range_hdr && !(if_range && !parse_etag_match(if_range, rec->sha256, false)))
        range = parse_range(range_hdr, size, &first, &last);

    if (range == RANGE_UNSATISFIABLE) {
        close(fd);
        r = respond_error(req, E_RANGE_NOT_SATISFIABLE,
                          "range '%s' is outside the %" PRIu64 "-byte checkpoint", range_hdr, size);
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        respond_header(req, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return r;
    }
    struct MHD_Response *resp;
    if (check && req->method == M_GET && first == 0 && last + 1 == size && size > 0)
        resp = verified_response(fd, size, rec, check);
    else
        resp = blob_response(req, fd, first, last - first + 1);
    if (!resp) {
        close(fd);
        return -ENOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    r = set_reply(req, range == RANGE_OK ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp,
                  last - first + 1);
    if (r < 0)
        return r;
    blob_headers(req, rec, etag);
    if (range == RANGE_OK) {
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        respond_header(req, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    return 0;
}

int respond_text(struct request *req, unsigned status, char *text, size_t len,
                 const char *content_type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return -ENOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return set_reply(req, status, resp, len);
}
