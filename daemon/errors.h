/*
 * errors.h - the one table where an error code meets an HTTP status.
 * Codes are stable strings that clients match on; the enum is append-only.
 */
#ifndef CKPTD_ERRORS_H
#define CKPTD_ERRORS_H

enum api_error {
    E_BAD_REQUEST,
    E_INVALID_RUN_NAME,
    E_INVALID_ID,
    E_INVALID_PARAMETER,
    E_UNKNOWN_PARAMETER,
    E_INVALID_DIGEST,
    E_INVALID_CURSOR,
    E_EMPTY_BODY,
    E_DIGEST_MISMATCH,
    E_NOT_FOUND,
    E_CHECKPOINT_NOT_FOUND,
    E_RUN_NOT_FOUND,
    E_METHOD_NOT_ALLOWED,
    E_PAYLOAD_TOO_LARGE,
    E_RANGE_NOT_SATISFIABLE,
    E_INTERNAL,
    E_UNAVAILABLE,
    E_INSUFFICIENT_STORAGE,
    E_NOT_IMPLEMENTED,
    E_UNAUTHORIZED,
    E_FORBIDDEN,
    E_TOO_MANY_REQUESTS,
    E_CHECKPOINT_CORRUPT,
    E_READ_ONLY,
    E_SCRUB_RUNNING,
    E_INVALID_ALIAS_NAME,
    E_ALIAS_NOT_FOUND,
    E_ALIAS_RESERVED,
    E_PRECONDITION_FAILED,
    E_INVALID_BODY,
    E_INVALID_POLICY,
    E_POLICY_NOT_FOUND,
    E_LEASE_NOT_FOUND,
    E_TRAILER_MISSING,
    E__COUNT
};

/* The stable code string ("digest_mismatch"); never NULL for a valid enum. */
const char *error_code(enum api_error e);

/* The HTTP status that goes with the code. */
unsigned error_status(enum api_error e);

/* A default human message, used when the caller has nothing more specific. */
const char *error_message(enum api_error e);

/* Map a negative errno from a domain call to the error the client sees:
 * -ENOSPC/-EDQUOT -> insufficient_storage, -ENOMEM/-EBUSY -> unavailable,
 * anything else -> internal_error. */
enum api_error error_from_errno(int r);

#endif
