/*
 * jparse.h - a small strict JSON (RFC 8259) parser for the server's
 * answers: a tree of nodes, with integers kept exact. Private to libckpt.
 */
#ifndef CKPT_JPARSE_H
#define CKPT_JPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jtype { JT_NULL, JT_BOOL, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jnode {
    enum jtype type;
    char *key;           /* member name when inside an object */
    char *str;           /* JT_STRING: NUL-terminated, UTF-8 */
    size_t str_len;      /* may contain NULs from \u0000 */
    double num;          /* JT_NUMBER */
    bool is_int;         /* JT_NUMBER written as an integer that fits int64 */
    int64_t i;
    bool b;              /* JT_BOOL */
    struct jnode *child; /* JT_ARRAY, JT_OBJECT: first element or member */
    struct jnode *next;  /* next sibling */
};

#define JPARSE_MAX_DEPTH 64

/* Parse text[0..len) as one JSON value (surrounding whitespace allowed).
 * Returns 0 and the tree in *out (free with ckpt_jparse_free), -EINVAL for
 * malformed input or nesting deeper than JPARSE_MAX_DEPTH, -ENOMEM. */
int ckpt_jparse(const char *text, size_t len, struct jnode **out);

/* Free a tree; NULL is a no-op. */
void ckpt_jparse_free(struct jnode *n);

/* The member key of object obj, or NULL (also when obj is not an object). */
const struct jnode *ckpt_jparse_get(const struct jnode *obj, const char *key);

#endif
