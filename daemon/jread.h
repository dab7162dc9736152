/*
 * jread.h - a small strict JSON (RFC 8259) reader for request bodies
 * (retention policies, alias updates): a tree of nodes, with integers kept
 * exact. A copy of the client's parser (client/jparse.c), renamed: the
 * daemon links no client code.
 */
#ifndef CKPTD_JREAD_H
#define CKPTD_JREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jval {
    enum jv_type type;
    char *key;           /* member name when inside an object */
    char *str;           /* JV_STRING: NUL-terminated, UTF-8 */
    size_t str_len;      /* may contain NULs from \u0000 */
    double num;          /* JV_NUMBER */
    bool is_int;         /* JV_NUMBER written as an integer that fits int64 */
    int64_t i;
    bool b;              /* JV_BOOL */
    struct jval *child; /* JV_ARRAY, JV_OBJECT: first element or member */
    struct jval *next;  /* next sibling */
};

#define JREAD_MAX_DEPTH 64

/* Parse text[0..len) as one JSON value (surrounding whitespace allowed).
 * Returns 0 and the tree in *out (free with jread_free), -EINVAL for
 * malformed input or nesting deeper than JREAD_MAX_DEPTH, -ENOMEM. */
int jread_parse(const char *text, size_t len, struct jval **out);

/* Free a tree; NULL is a no-op. */
void jread_free(struct jval *n);

/* The member key of object obj, or NULL (also when obj is not an object). */
const struct jval *jread_get(const struct jval *obj, const char *key);

#endif
