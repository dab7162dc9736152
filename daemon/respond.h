/*
 * respond.h - build the response of a request: JSON, errors, blobs.
 * Each sets req->status and req->response (replacing none: the first reply
 * wins) and returns 0, or -ENOMEM when the response could not be built; the
 * server then closes the connection.
 */
#ifndef CKPTD_RESPOND_H
#define CKPTD_RESPOND_H

#include "blobstore.h"
#include "checkpoint.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "request.h"

/* Take the text of body (detached from it) as an application/json reply. */
int respond_json(struct request *req, unsigned status, struct json *body);

/* {"error":{"code":...,"message":...}} with the code's status. fmt NULL
 * uses the code's default message. */
int respond_error(struct request *req, enum api_error e, const char *fmt, ...) LOG_PRINTF(3, 4);

/* A text reply: takes text (malloc'd; freed in every case) of len bytes
 * with the given Content-Type. */
int respond_text(struct request *req, unsigned status, char *text, size_t len,
                 const char *content_type);

/* An empty reply (204, 304). */
int respond_empty(struct request *req, unsigned status);

/* Add a header to the reply already set; ignored when there is none. */
void respond_header(struct request *req, const char *name, const char *value);

/* Checking a blob's bytes while they are sent. */
struct send_check {
    /* Called once when the bytes read do not have the blob's SHA-256 (or
     * the file shrank), on a libmicrohttpd thread: it must not block. */
    void (*bad)(void *ctx, const char *sha_hex, const struct blob_stat *st);
    /* Called once when every byte was read and matched: the blob as it was
     * when the send began (started_ms) is intact. Must not block either. */
    void (*good)(void *ctx, const char *sha_hex, int64_t started_ms);
    int64_t started_ms;  /* wall clock when the response was made */
    void *ctx;           /* must outlive the response */
    struct blob_stat st; /* the file being sent */
};

/* Serve a blob from fd (taken over: closed in every case) with the digest
 * headers, conditional requests (If-None-Match: 304) and one byte range
 * (Range, If-Range: 206 or 416). With check NULL the bytes go out by
 * sendfile. With check, a GET of the whole blob is read through a buffer
 * and hashed as it is sent; on a mismatch the last piece is withheld and
 * the connection aborted (the client never gets the full length), and
 * check->bad is called. Ranges are sent by sendfile either way: a part
 * cannot be checked without reading the whole blob. */
int respond_blob(struct request *req, int fd, uint64_t size, const struct ckpt_record *rec,
                 const struct send_check *check);

/* The checkpoint JSON object of rec, appended to j. */
void json_checkpoint(struct json *j, const struct ckpt_record *rec);

#endif
