/*
 * parse.h - pure parsers for everything a client sends: names, numbers,
 * digests, query strings, request paths, Range and entity-tag lists.
 * No allocation, no logging, no globals: each is unit-tested and fuzzable.
 * Functions return 0 or a negative errno and leave out-parameters untouched
 * on failure, unless stated otherwise.
 */
#ifndef CKPTD_PARSE_H
#define CKPTD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if s[0..len) is a valid run or metric name:
 * [A-Za-z0-9][A-Za-z0-9._-]{0,127}. */
bool parse_is_name(const char *s, size_t len);

/* Non-negative decimal integer 0..INT64_MAX, digits only (no sign, no
 * spaces). -EINVAL for anything else, -ERANGE past INT64_MAX. */
int parse_u63(const char *s, int64_t *out);

/* A checkpoint id: decimal 1..INT64_MAX. */
int parse_id(const char *s, int64_t *out);

/* A finite decimal number such as "0.31", "-2", "1e-5", "1e+5".
 * Refuses nan, inf, hex floats, overflow (1e400), empty and trailing junk. */
int parse_finite(const char *s, double *out);

/* Exactly 64 hexadecimal characters (either case) into 32 bytes. */
int parse_sha256_hex(const char *s, size_t len, uint8_t out[32]);

/* An RFC 9530 Repr-Digest / Content-Digest value, e.g.
 * "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:...:".
 * On success *b64 / *b64_len point into value at the sha-256 member's
 * base64 text (without colons). Returns -ENOENT when the dictionary has no
 * sha-256 member, -EINVAL when it is malformed. */
int parse_digest_field(const char *value, const char **b64, size_t *b64_len);

/* Decode %XX escapes of in[0..len) into out (at least len + 1 bytes) and
 * NUL-terminate it. '+' is kept literally. Refuses malformed escapes and any
 * decoded byte below 0x20 or equal to 0x7f (control characters, NUL). */
int parse_percent_decode(const char *in, size_t len, char *out, size_t *out_len);

struct query_param {
    const char *key;
    const char *value; /* "" when the parameter had no '=' */
};

/* Split a raw query string ("a=1&b=%41") into decoded key/value pairs.
 * buf must hold at least strlen(query) + 1 bytes; the pairs point into it.
 * Empty pieces ("a=1&&b=2") are skipped. -EINVAL on a bad escape or an empty
 * key, -E2BIG when there are more than max pairs. */
int parse_query(const char *query, char *buf, struct query_param *params, size_t max,
                size_t *n_params);

/* Split a raw absolute path ("/v1/runs/x%2Ey/checkpoints") into decoded
 * segments. buf must hold strlen(path) + 1 bytes; segments point into it.
 * A trailing slash is ignored; empty segments in the middle are kept (so they
 * fail route matching). -EINVAL when the path does not start with '/', an
 * escape is malformed, or a segment decodes to contain '/' or a control
 * character; -E2BIG past max segments. */
int parse_path(const char *path, size_t len, char *buf, const char **segs, size_t max,
               size_t *n_segs);

enum range_result {
    RANGE_NONE,          /* no usable Range: serve the whole representation */
    RANGE_OK,            /* serve bytes *first..*last inclusive with 206 */
    RANGE_UNSATISFIABLE, /* answer 416 with Content-Range: bytes * / size */
};

/* Interpret a Range header against a representation of size bytes, as RFC
 * 9110 section 14 says: one range "bytes=a-b", "bytes=a-" or "bytes=-n" is
 * honoured (b clamped to size-1); unknown units, several ranges and invalid
 * syntax are ignored (RANGE_NONE); a range that starts past the end, or a
 * zero-length suffix, is unsatisfiable. */
enum range_result parse_range(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/* True if an If-None-Match style list ("*", "\"abc\"", W/"abc", comma
 * separated) matches the opaque tag (given without quotes). weak selects
 * weak comparison (W/ prefixes ignored); strong comparison never matches a
 * weak tag. */
bool parse_etag_match(const char *list, const char *tag, bool weak);

/* True if the comma-separated header list (such as a Trailer header)
 * contains token, compared case-insensitively. */
bool parse_list_has(const char *list, const char *token);

/* A byte count with an optional K, M, G or T suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *out);

/* "HOST:PORT" or "[V6]:PORT" into host (without brackets, NUL-terminated,
 * at most host_size bytes including NUL) and port 0..65535. */
int parse_listen(const char *s, char *host, size_t host_size, uint16_t *port);

/* Listing cursors. A cursor names the last row of a page: its id and its
 * sort key, which is absent (created order), NULL, an integer or a double.
 * The text form is opaque to clients; it is only URL-safe characters. */
enum cursor_kind { CURSOR_NONE, CURSOR_NULL, CURSOR_INT, CURSOR_REAL };

struct cursor {
    int64_t id;
    enum cursor_kind kind;
    int64_t i;
    double r;
};

/* Format c into out (at least CURSOR_MAX bytes). */
void cursor_format(const struct cursor *c, char *out, size_t size);

/* Parse text made by cursor_format. -EINVAL for anything else. */
int cursor_parse(const char *s, struct cursor *out);

#endif
