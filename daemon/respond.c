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

#define JSON_REPLY_MAX (16u << 20) /* the largest JSON reply we build */

static int set_reply(struct request *req, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return -ENOMEM;
    if (req->response) { /* first reply wins */
        MHD_destroy_response(resp);
        return 0;
    }
    req->status = status;
    req->response = resp;
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
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return -ENOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return set_reply(req, status, resp);
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
    return set_reply(req, status,
                     MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
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

int respond_blob(struct request *req, int fd, uint64_t size, const struct ckpt_record *rec)
{
    char etag[SHA256_HEX_LEN + 3], cr[80];
    uint64_t first = 0, last = size ? size - 1 : 0;
    enum range_result range = RANGE_NONE;
    const char *inm = request_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *range_hdr = request_header(req, MHD_HTTP_HEADER_RANGE);
    const char *if_range = request_header(req, MHD_HTTP_HEADER_IF_RANGE);
    int r;

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
                          "range '%s' is outside the %" PRIu64 "-byte checkpoint", range_hdr,
                          size);
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        respond_header(req, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return r;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64(last - first + 1, fd, first);
    if (!resp) {
        close(fd);
        return -ENOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    r = set_reply(req, range == RANGE_OK ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
    if (r < 0)
        return r;
    blob_headers(req, rec, etag);
    if (range == RANGE_OK) {
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        respond_header(req, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    return 0;
}
