/*
 * api_internal.h - the guards and replies api.c shares with the other
 * handler files (api_lifecycle.c). Private to daemon/api*.c.
 */
#ifndef CKPTD_API_INTERNAL_H
#define CKPTD_API_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "request.h"

/* The value of query parameter key, or NULL. */
const char *param(const struct request *req, const char *key);

/* Refuse parameters not in allowed (NULL-terminated; with metrics also
 * metric.NAME) and repeated ones; false after setting the error reply. */
bool check_params(struct request *req, const char *const *allowed, bool metrics);

/* Validate req->arg_run / req->arg_id; false after setting the reply. */
bool check_run(struct request *req);
bool check_id(struct request *req, int64_t *id);

/* Reply with the checkpoint JSON of rec. */
void reply_record(struct request *req, unsigned status, const struct ckpt_record *rec);

/* Checkpoint id into *rec, checking the token covers its run; false after
 * answering 404, 403 or an error. */
bool lookup_checkpoint(struct request *req, int64_t id, struct ckpt_record *rec);

/* Reply with rec's bytes (409 when corrupt, 404 when just deleted). */
void reply_blob(struct request *req, const struct ckpt_record *rec);

/* Suspend req and run job(req) on a worker thread; the job sets the
 * reply and calls request_resume. */
void run_blocking(struct request *req, void (*job)(void *arg));

/* GET /v1/runs/:run/checkpoints with after_id: the long poll. */
void api_list_after(struct request *req);

#endif
