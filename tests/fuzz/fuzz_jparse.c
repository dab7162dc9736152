/*
 * fuzz_jparse.c - the client's JSON parser (client/jparse.c) on arbitrary
 * bytes. The input is parsed from an exactly sized, not NUL-terminated copy
 * (so reading past len is an ASan report), and so is the input without its
 * last byte. An accepted tree is walked: well-formed nodes, depth within
 * JPARSE_MAX_DEPTH, ckpt_jparse_get finds each member's key; it is written
 * back as JSON and parsed again to an equal tree; then freed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "fuzz.h"
#include "jparse.h"

struct out {
    char *buf;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->buf, cap);
        FUZZ_CHECK(p != NULL, "out of memory");
        o->buf = p;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void put_string(struct out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&c, 1);
        }
    }
    put(o, "\"", 1);
}

/* Write n (and its siblings when in a container) as JSON. */
static void write_node(struct out *o, const struct jnode *n)
{
    char num[40];

    switch (n->type) {
    case JT_NULL: put(o, "null", 4); break;
    case JT_BOOL: put(o, n->b ? "true" : "false", n->b ? 4 : 5); break;
    case JT_NUMBER:
        if (n->is_int)
            snprintf(num, sizeof(num), "%" PRId64, n->i);
        else
            snprintf(num, sizeof(num), "%.17g", n->num);
        put(o, num, strlen(num));
        break;
    case JT_STRING: put_string(o, n->str, n->str_len); break;
    case JT_ARRAY:
    case JT_OBJECT:
        put(o, n->type == JT_ARRAY ? "[" : "{", 1);
        for (const struct jnode *c = n->child; c; c = c->next) {
            if (c != n->child)
                put(o, ",", 1);
            if (n->type == JT_OBJECT) {
                put_string(o, c->key, strlen(c->key));
                put(o, ":", 1);
            }
            write_node(o, c);
        }
        put(o, n->type == JT_ARRAY ? "]" : "}", 1);
        break;
    }
}

/* Structural checks; depth counts the containers n is inside. */
static void walk(const struct jnode *n, int depth, bool in_object)
{
    FUZZ_CHECK(n->type >= JT_NULL && n->type <= JT_OBJECT, "node type %d", (int)n->type);
    FUZZ_CHECK(in_object == (n->key != NULL), "key presence does not match the container");
    if (n->type == JT_STRING)
        FUZZ_CHECK(n->str && n->str[n->str_len] == '\0', "string not NUL-terminated at str_len");
    else
        FUZZ_CHECK(!n->str, "a non-string holds str");
    if (n->type == JT_NUMBER) {
        FUZZ_CHECK(isfinite(n->num), "number not finite");
        if (n->is_int)
            FUZZ_CHECK((double)n->i == n->num, "is_int %" PRId64 " differs from num %.17g", n->i,
                       n->num);
    }
    if (n->type != JT_ARRAY && n->type != JT_OBJECT) {
        FUZZ_CHECK(!n->child, "a scalar has children");
        return;
    }
    FUZZ_CHECK(depth + 1 <= JPARSE_MAX_DEPTH, "nesting %d past JPARSE_MAX_DEPTH", depth + 1);
    for (const struct jnode *c = n->child; c; c = c->next) {
        walk(c, depth + 1, n->type == JT_OBJECT);
        if (n->type == JT_OBJECT) {
            const struct jnode *g = ckpt_jparse_get(n, c->key);
            FUZZ_CHECK(g && strcmp(g->key, c->key) == 0, "ckpt_jparse_get misses a member");
            bool before = false; /* the first member with that key wins */
            for (const struct jnode *x = n->child; x && x != c; x = x->next)
                before = before || x == g;
            FUZZ_CHECK(before || g == c, "ckpt_jparse_get returns a later duplicate");
        }
    }
    FUZZ_CHECK(n->type == JT_OBJECT || !ckpt_jparse_get(n, ""), "get on an array finds a member");
}

static bool equal(const struct jnode *a, const struct jnode *b)
{
    if (a->type != b->type)
        return false;
    if ((a->key || b->key) && (!a->key || !b->key || strcmp(a->key, b->key) != 0))
        return false;
    switch (a->type) {
    case JT_NULL: return true;
    case JT_BOOL: return a->b == b->b;
    case JT_NUMBER:
        if (a->is_int)
            return b->is_int && a->i == b->i;
        return a->num == b->num;
    case JT_STRING:
        return a->str_len == b->str_len && memcmp(a->str, b->str, a->str_len) == 0;
    case JT_ARRAY:
    case JT_OBJECT: break;
    }
    const struct jnode *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!equal(x, y))
            return false;
    return !x && !y;
}

static void parse_copy(const uint8_t *data, size_t len, bool check_tree)
{
    char *copy = fuzz_exact(data, len);
    struct jnode *root = (struct jnode *)&root; /* sentinel: must stay */
    int r = ckpt_jparse(copy, len, &root);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL || r == -ENOMEM, "unexpected error %d", r);
        FUZZ_CHECK(root == (struct jnode *)&root, "*out written on failure");
        free(copy);
        return;
    }
    FUZZ_CHECK(r == 0 && root, "unexpected return %d", r);
    if (check_tree) {
        struct out o = {0};
        struct jnode *again = NULL;
        walk(root, 0, false);
        write_node(&o, root);
        char *text = fuzz_exact(o.buf, o.len);
        int r2 = ckpt_jparse(text, o.len, &again);
        FUZZ_CHECK(r2 == 0, "the tree written back (%zu bytes) does not parse: %d", o.len, r2);
        FUZZ_CHECK(equal(root, again), "the tree written back parses to a different tree");
        ckpt_jparse_free(again);
        free(text);
        free(o.buf);
    }
    ckpt_jparse_free(root);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_copy(data, size, true);
    if (size > 0)
        parse_copy(data, size - 1, false);
    ckpt_jparse_free(NULL);
    return 0;
}
