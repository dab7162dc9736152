/*
 * errors.c - stable error codes, their HTTP statuses and default messages.
 */
#include "errors.h"

#include <errno.h>

const char *error_code(enum api_error e)
{
    switch (e) {
    case E_BAD_REQUEST: return "bad_request";
    case E_INVALID_RUN_NAME: return "invalid_run_name";
    case E_INVALID_ID: return "invalid_id";
    case E_INVALID_PARAMETER: return "invalid_parameter";
    case E_UNKNOWN_PARAMETER: return "unknown_parameter";
    case E_INVALID_DIGEST: return "invalid_digest";
    case E_INVALID_CURSOR: return "invalid_cursor";
    case E_EMPTY_BODY: return "empty_body";
    case E_DIGEST_MISMATCH: return "digest_mismatch";
    case E_NOT_FOUND: return "not_found";
    case E_CHECKPOINT_NOT_FOUND: return "checkpoint_not_found";
    case E_RUN_NOT_FOUND: return "run_not_found";
    case E_METHOD_NOT_ALLOWED: return "method_not_allowed";
    case E_PAYLOAD_TOO_LARGE: return "payload_too_large";
    case E_RANGE_NOT_SATISFIABLE: return "range_not_satisfiable";
    case E_INTERNAL: return "internal_error";
    case E_UNAVAILABLE: return "unavailable";
    case E_INSUFFICIENT_STORAGE: return "insufficient_storage";
    case E_NOT_IMPLEMENTED: return "not_implemented";
    case E_UNAUTHORIZED: return "unauthorized";
    case E_FORBIDDEN: return "forbidden";
    case E_TOO_MANY_REQUESTS: return "too_many_requests";
    case E_CHECKPOINT_CORRUPT: return "checkpoint_corrupt";
    case E_READ_ONLY: return "read_only";
    case E_SCRUB_RUNNING: return "scrub_running";
    case E_INVALID_ALIAS_NAME: return "invalid_alias_name";
    case E_ALIAS_NOT_FOUND: return "alias_not_found";
    case E_ALIAS_RESERVED: return "alias_reserved";
    case E_PRECONDITION_FAILED: return "precondition_failed";
    case E_INVALID_BODY: return "invalid_body";
    case E_INVALID_POLICY: return "invalid_policy";
    case E_POLICY_NOT_FOUND: return "policy_not_found";
    case E_LEASE_NOT_FOUND: return "lease_not_found";
    case E_TRAILER_MISSING: return "trailer_missing";
    case E__COUNT: break;
    }
    return "internal_error";
}

unsigned error_status(enum api_error e)
{
    switch (e) {
    case E_BAD_REQUEST:
    case E_INVALID_RUN_NAME:
    case E_INVALID_ID:
    case E_INVALID_PARAMETER:
    case E_UNKNOWN_PARAMETER:
    case E_INVALID_DIGEST:
    case E_INVALID_CURSOR:
    case E_EMPTY_BODY:
    case E_DIGEST_MISMATCH: return 400;
    case E_NOT_FOUND:
    case E_CHECKPOINT_NOT_FOUND:
    case E_RUN_NOT_FOUND: return 404;
    case E_METHOD_NOT_ALLOWED: return 405;
    case E_PAYLOAD_TOO_LARGE: return 413;
    case E_RANGE_NOT_SATISFIABLE: return 416;
    case E_INTERNAL: return 500;
    case E_UNAVAILABLE: return 503;
    case E_INSUFFICIENT_STORAGE: return 507;
    case E_NOT_IMPLEMENTED: return 501;
    case E_UNAUTHORIZED: return 401;
    case E_FORBIDDEN: return 403;
    case E_TOO_MANY_REQUESTS: return 429;
    case E_CHECKPOINT_CORRUPT: return 409;
    case E_READ_ONLY: return 503;
    case E_SCRUB_RUNNING: return 409;
    case E_INVALID_ALIAS_NAME:
    case E_INVALID_BODY:
    case E_INVALID_POLICY: return 400;
    case E_ALIAS_NOT_FOUND:
    case E_POLICY_NOT_FOUND:
    case E_LEASE_NOT_FOUND: return 404;
    case E_ALIAS_RESERVED: return 409;
    case E_PRECONDITION_FAILED: return 412;
    case E_TRAILER_MISSING: return 400;
    case E__COUNT: break;
    }
    return 500;
}

const char *error_message(enum api_error e)
{
    switch (e) {
    case E_BAD_REQUEST: return "malformed request";
    case E_INVALID_RUN_NAME: return "run name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}";
    case E_INVALID_ID: return "checkpoint id must be a positive decimal integer";
    case E_INVALID_PARAMETER: return "invalid parameter";
    case E_UNKNOWN_PARAMETER: return "unknown parameter";
    case E_INVALID_DIGEST: return "malformed SHA-256 digest";
    case E_INVALID_CURSOR: return "malformed cursor";
    case E_EMPTY_BODY: return "request body is empty: a checkpoint has at least one byte";
    case E_DIGEST_MISMATCH: return "SHA-256 of the received bytes differs from the digest sent";
    case E_NOT_FOUND: return "no such endpoint";
    case E_CHECKPOINT_NOT_FOUND: return "no such checkpoint";
    case E_RUN_NOT_FOUND: return "no such run";
    case E_METHOD_NOT_ALLOWED: return "method not allowed on this endpoint";
    case E_PAYLOAD_TOO_LARGE: return "request body exceeds the server's --max-upload";
    case E_RANGE_NOT_SATISFIABLE: return "range not satisfiable";
    case E_INTERNAL: return "internal server error";
    case E_UNAVAILABLE: return "server unavailable, try again";
    case E_INSUFFICIENT_STORAGE: return "not enough storage space on the server";
    case E_NOT_IMPLEMENTED: return "not implemented by this server";
    case E_UNAUTHORIZED: return "a valid token is required: Authorization: Bearer ID.SECRET";
    case E_FORBIDDEN: return "this token does not allow that";
    case E_TOO_MANY_REQUESTS:
        return "too many failed authentications from this address; wait a minute";
    case E_CHECKPOINT_CORRUPT: return "the checkpoint's stored bytes are missing or damaged";
    case E_READ_ONLY:
        return "the server stopped accepting writes after a failed fsync; restart it once the "
               "disk is healthy";
    case E_SCRUB_RUNNING: return "a scrub is already running";
    case E_INVALID_ALIAS_NAME: return "alias name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}";
    case E_ALIAS_NOT_FOUND: return "no such alias";
    case E_ALIAS_RESERVED: return "latest, best and resume are computed aliases and cannot be set";
    case E_PRECONDITION_FAILED: return "the alias does not match If-Match / If-None-Match";
    case E_INVALID_BODY: return "malformed request body";
    case E_INVALID_POLICY: return "malformed retention policy";
    case E_POLICY_NOT_FOUND: return "this run has no retention policy of its own";
    case E_LEASE_NOT_FOUND: return "no such lease";
    case E_TRAILER_MISSING:
        return "the Trailer header announced a digest but the body ended without it";
    case E__COUNT: break;
    }
    return "internal server error";
}

enum api_error error_from_errno(int r)
{
    switch (-r) {
    case ENOSPC:
    case EDQUOT: return E_INSUFFICIENT_STORAGE;
    case ENOMEM:
    case EBUSY:
    case EAGAIN: return E_UNAVAILABLE;
    default: return E_INTERNAL;
    }
}
