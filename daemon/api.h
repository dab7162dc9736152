/*
 * api.h - the HTTP API v1 handlers (proto/API.md). Each validates its
 * input, calls the domain (store, index), and sets one reply. None touches
 * files or SQL.
 */
#ifndef CKPTD_API_H
#define CKPTD_API_H

#include <stddef.h>

#include "request.h"

void api_healthz(struct request *req);
void api_runs(struct request *req);
void api_upload_begin(struct request *req);
int api_upload_body(struct request *req, const char *data, size_t len);
void api_upload_end(struct request *req);
void api_list(struct request *req);
void api_best(struct request *req);
void api_best_blob(struct request *req);
void api_latest(struct request *req);
void api_latest_blob(struct request *req);
void api_checkpoint(struct request *req); /* GET and DELETE */
void api_checkpoint_blob(struct request *req);
void api_metrics(struct request *req);
void api_readyz(struct request *req);
void api_admin_scrub(struct request *req); /* GET status, POST start */
void api_stats(struct request *req);

#endif
