/*
 * respond.h - build the response of a request: JSON, errors, blobs.
 * Each sets req->status and req->response (replacing none: the first reply
 * wins) and returns 0, or -ENOMEM when the response could not be built; the
 * server then closes the connection.
 */
#ifndef CKPTD_RESPOND_H
#define CKPTD_RESPOND_H

#include "checkpoint.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "request.h"

/* Take the text of body (detached from it) as an application/json reply. */
int respond_json(struct request *req, unsigned status, struct json *body);

/* {"error":{"code":...,"message":...}} with the code's status. fmt NULL
 * uses the code's default message. */
int respond_error(struct request *req, enum api_error e, const char *fmt, ...)
    LOG_PRINTF(3, 4);

/* A text reply: takes text (malloc'd; freed in every case) of len bytes
 * with the given Content-Type. */
int respond_text(struct request *req, unsigned status, char *text, size_t len,
                 const char *content_type);

/* An empty reply (204, 304). */
int respond_empty(struct request *req, unsigned status);

/* Add a header to the reply already set; ignored when there is none. */
void respond_header(struct request *req, const char *name, const char *value);

/* Serve a blob from fd (taken over: closed in every case) with the digest
 * headers, conditional requests (If-None-Match: 304) and one byte range
 * (Range, If-Range: 206 or 416). */
int respond_blob(struct request *req, int fd, uint64_t size, const struct ckpt_record *rec);

/* The checkpoint JSON object of rec, appended to j. */
void json_checkpoint(struct json *j, const struct ckpt_record *rec);

#endif
