/*
 * jread.c - recursive-descent JSON parser; see jread.h. Strict: no
 * comments, no trailing commas, no leading zeros, no lone surrogates.
 */
#include "jread.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int parse_value(struct parser *ps, struct jval **out);

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string starting at the opening quote; the decoded text is never longer
 * than the escaped one. */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
    const char *p = ps->p + 1;
    const char *close = p;

    /* Find the closing quote to size the buffer. */
    while (close < ps->end && *close != '"') {
        if (*close == '\\')
            close++;
        close++;
    }
    if (close >= ps->end)
        return -EINVAL;
    char *buf = malloc((size_t)(close - p) + 1), *o = buf;
    if (!buf)
        return -ENOMEM;
    while (p < close) {
        unsigned char c = (unsigned char)*p++;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        c = (unsigned char)*p++;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (close - p < 4 || hex4(p, &cp) < 0)
                goto bad;
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                goto bad;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (close - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    goto bad;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            o += utf8_put(o, cp);
            break;
        }
        default:
            goto bad;
        }
    }
    *o = '\0';
    *out = buf;
    *out_len = (size_t)(o - buf);
    ps->p = close + 1;
    return 0;
bad:
    free(buf);
    return -EINVAL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(struct parser *ps, struct jval *n)
{
    const char *start = ps->p, *p = ps->p;
    bool integral = true;
    char buf[64];

    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || !is_digit(*p))
        return -EINVAL;
    if (*p == '0')
        p++;
    else
        while (p < ps->end && is_digit(*p))
            p++;
    if (p < ps->end && *p == '.') {
        integral = false;
        p++;
        if (p >= ps->end || !is_digit(*p))
            return -EINVAL;
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !is_digit(*p))
            return -EINVAL;
        while (p < ps->end && is_digit(*p))
            p++;
    }
    size_t len = (size_t)(p - start);
    if (len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, start, len);
    buf[len] = '\0';
    errno = 0;
    n->num = strtod(buf, NULL);
    if (!isfinite(n->num))
        return -EINVAL;
    if (integral) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == 0) {
            n->is_int = true;
            n->i = v;
        }
    }
    n->type = JV_NUMBER;
    ps->p = p;
    return 0;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0)
        return false;
    ps->p += len;
    return true;
}

/* Elements of an array or members of an object, after the opening bracket. */
static int parse_container(struct parser *ps, struct jval *n, bool object)
{
    struct jval **tail = &n->child;
    char close = object ? '}' : ']';
    int r;

    if (++ps->depth > JREAD_MAX_DEPTH)
        return -EINVAL;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len;
        struct jval *child;

        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return -EINVAL;
            if ((r = parse_string(ps, &key, &key_len)) < 0)
                return r;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return -EINVAL;
            }
            ps->p++;
        }
        r = parse_value(ps, &child);
        if (r < 0) {
            free(key);
            return r;
        }
        child->key = key;
        *tail = child;
        tail = &child->next;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return -EINVAL;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p != close)
            return -EINVAL;
        ps->p++;
        ps->depth--;
        return 0;
    }
}

static int parse_value(struct parser *ps, struct jval **out)
{
    struct jval *n = calloc(1, sizeof(*n));
    int r = 0;

    if (!n)
        return -ENOMEM;
    skip_ws(ps);
    if (ps->p >= ps->end) {
        r = -EINVAL;
    } else if (*ps->p == '{') {
        n->type = JV_OBJECT;
        r = parse_container(ps, n, true);
    } else if (*ps->p == '[') {
        n->type = JV_ARRAY;
        r = parse_container(ps, n, false);
    } else if (*ps->p == '"') {
        n->type = JV_STRING;
        r = parse_string(ps, &n->str, &n->str_len);
    } else if (literal(ps, "null")) {
        n->type = JV_NULL;
    } else if (literal(ps, "true")) {
        n->type = JV_BOOL;
        n->b = true;
    } else if (literal(ps, "false")) {
        n->type = JV_BOOL;
    } else {
        r = parse_number(ps, n);
    }
    if (r < 0) {
        jread_free(n);
        return r;
    }
    *out = n;
    return 0;
}

int jread_parse(const char *text, size_t len, struct jval **out)
{
    struct parser ps = {text, text + len, 0};
    struct jval *n;
    int r = parse_value(&ps, &n);

    if (r < 0)
        return r;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        jread_free(n);
        return -EINVAL;
    }
    *out = n;
    return 0;
}

void jread_free(struct jval *n)
{
    while (n) {
        struct jval *next = n->next;
        jread_free(n->child);
        free(n->key);
        free(n->str);
        free(n);
        n = next;
    }
}

const struct jval *jread_get(const struct jval *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJECT)
        return NULL;
    for (const struct jval *c = obj->child; c; c = c->next) {
        if (c->key && strcmp(c->key, key) == 0)
            return c;
    }
    return NULL;
}
