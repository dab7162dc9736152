/*
 * access_log.h - one line per completed HTTP request, as JSON (default)
 * or Common Log Format with the duration appended. Formatting only: the
 * line goes out through log_access (log.h), to the same sink as errors.
 */
#ifndef CKPTD_ACCESS_LOG_H
#define CKPTD_ACCESS_LOG_H

#include <stdint.h>

enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_COMMON };

/* What is known of a request when it completes. Strings are borrowed;
 * NULL prints as "-" (null in JSON for checkpoint). */
struct access_entry {
    int64_t time_ms;      /* completion, ms since the Unix epoch */
    const char *remote;   /* numeric client address */
    const char *token_id; /* the id part of the bearer token; never the secret */
    const char *method;
    const char *path;      /* the raw request target, as received */
    const char *version;   /* "HTTP/1.1" */
    unsigned status;       /* 0: no response was sent (client went away, timeout) */
    uint64_t bytes_in;     /* request body bytes received */
    uint64_t bytes_out;    /* response body bytes queued */
    uint64_t duration_us;  /* request line to completion; logged as ms with 3 decimals */
    int64_t checkpoint_id; /* 0: none */
    const char *outcome;   /* "completed", "aborted", "timeout", "error", "shutdown" */
};

/* "json" or "common" to *out; -EINVAL for anything else (out untouched). */
int access_log_parse_format(const char *s, enum log_format *out);

/* The line for e in format f, without the newline (caller frees), or NULL
 * when out of memory. Pure but for the allocation. JSON: every string
 * escaped per RFC 8259 by json.c, and bytes >= 0x80 of the path written as
 * %XX so that the line is always valid UTF-8. Common: '"', '\\' and bytes
 * outside 0x20..0x7e in the path written as \xXX. */
char *access_log_format(enum log_format f, const struct access_entry *e);

#endif
