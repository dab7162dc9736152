/*
 * api_lifecycle.h - handlers of the lifecycle endpoints (proto/API.md,
 * "Retention, aliases, resume"): pins, leases, aliases, resume, retention
 * policies and their plan.
 */
#ifndef CKPTD_API_LIFECYCLE_H
#define CKPTD_API_LIFECYCLE_H

#include <stddef.h>

#include "request.h"

/* Small JSON bodies (PUT alias, PUT policy): begin checks the length and
 * the guards that need no body, body collects it into req->body. */
void api_json_begin(struct request *req);
int api_json_body(struct request *req, const char *data, size_t len);

void api_pin(struct request *req); /* pin and unpin */
void api_lease(struct request *req);
void api_lease_delete(struct request *req);
void api_aliases(struct request *req);
void api_alias(struct request *req); /* GET, PUT, DELETE */
void api_alias_blob(struct request *req);
void api_resume(struct request *req);
void api_resume_blob(struct request *req);
void api_policy(struct request *req); /* GET, PUT, DELETE */
void api_plan(struct request *req);

#endif
