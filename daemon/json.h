/*
 * json.h - a bounded, append-only buffer for building JSON text.
 * The first failure (out of memory, over the maximum) sticks: later appends
 * do nothing and json_failed() reports it, so callers check once at the end.
 */
#ifndef CKPTD_JSON_H
#define CKPTD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json {
    char *buf;
    size_t len, cap, max;
    bool failed;
};

/* Start an empty buffer that will never grow past max bytes. */
void json_init(struct json *j, size_t max);

/* Release the buffer; the struct may be reused after json_init. */
void json_release(struct json *j);

/* Hand the NUL-terminated text to the caller (free() it) and reset j.
 * NULL when the buffer failed or nothing was appended. */
char *json_detach(struct json *j, size_t *len);

bool json_failed(const struct json *j);

/* Append raw text (syntax, keys known to need no escaping). */
void json_raw(struct json *j, const char *s);

/* Append a quoted string, escaping '"', '\\' and control characters as
 * RFC 8259 requires; bytes >= 0x80 are copied (names are ASCII anyway). */
void json_str(struct json *j, const char *s);

void json_int(struct json *j, int64_t v);

/* The shortest decimal that reads back to the same double; v must be
 * finite (the callers only store finite numbers). */
void json_double(struct json *j, double v);

/* An RFC 3339 UTC timestamp with milliseconds, quoted. */
void json_time_ms(struct json *j, int64_t ms_since_epoch);

#endif
