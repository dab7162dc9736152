/*
 * parse.c - pure parsers for client input. See parse.h for the contracts.
 */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ckpt_limits.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool parse_is_name(const char *s, size_t len)
{
    if (len == 0 || len > RUN_NAME_MAX || !is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

int parse_u63(const char *s, int64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (!is_digit(*p))
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = (int64_t)v;
    return 0;
}

int parse_id(const char *s, int64_t *out)
{
    int64_t v;
    int r = parse_u63(s, &v);
    if (r < 0)
        return r;
    if (v == 0)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_finite(const char *s, double *out)
{
    /* Only the plain decimal grammar: strtod alone would also take "nan",
     * "inf", hex floats and leading spaces. */
    const char *p = s;
    bool digits = false;

    if (!s)
        return -EINVAL;
    if (*p == '+' || *p == '-')
        p++;
    while (is_digit(*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return -EINVAL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return -EINVAL;
        while (is_digit(*p))
            p++;
    }
    if (*p)
        return -EINVAL;

    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) == HUGE_VAL))
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_sha256_hex(const char *s, size_t len, uint8_t out[32])
{
    uint8_t tmp[32];

    if (len != 64)
        return -EINVAL;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, tmp, 32);
    return 0;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int parse_digest_field(const char *value, const char **b64, size_t *b64_len)
{
    /* A structured-field dictionary (RFC 8941): key=:base64:;params, ...
     * Parsed to the end: a dictionary with any malformed member fails as a
     * whole. */
    const char *p = skip_ows(value), *found = NULL;
    size_t found_len = 0;

    if (!*p)
        return -EINVAL;
    for (;;) {
        const char *key = p;
        while ((*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '-' || *p == '_' || *p == '.' ||
               *p == '*')
            p++;
        size_t key_len = (size_t)(p - key);
        if (key_len == 0 || *p != '=' || p[1] != ':')
            return -EINVAL;
        p += 2;
        const char *v = p;
        while (*p && *p != ':') {
            if (!is_alnum(*p) && *p != '+' && *p != '/' && *p != '=')
                return -EINVAL;
            p++;
        }
        if (*p != ':')
            return -EINVAL;
        size_t v_len = (size_t)(p - v);
        p++;
        while (*p == ';') { /* parameters: skipped, not interpreted */
            p++;
            while (*p && *p != ',' && *p != ';')
                p++;
        }
        if (key_len == 7 && memcmp(key, "sha-256", 7) == 0) {
            found = v; /* the last of duplicate keys wins, as RFC 8941 says */
            found_len = v_len;
        }
        p = skip_ows(p);
        if (!*p) {
            if (!found)
                return -ENOENT;
            *b64 = found;
            *b64_len = found_len;
            return 0;
        }
        if (*p != ',')
            return -EINVAL;
        p = skip_ows(p + 1);
    }
}

int parse_percent_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -EINVAL;
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

int parse_query(const char *query, char *buf, struct query_param *params, size_t max,
                size_t *n_params)
{
    size_t n = 0;
    char *w = buf;
    const char *p = query;

    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            size_t dlen;
            if (klen == 0)
                return -EINVAL;
            if (n == max)
                return -E2BIG;
            int r = parse_percent_decode(p, klen, w, &dlen);
            if (r < 0)
                return r;
            params[n].key = w;
            w += dlen + 1;
            if (eq) {
                r = parse_percent_decode(eq + 1, len - klen - 1, w, &dlen);
                if (r < 0)
                    return r;
                params[n].value = w;
                w += dlen + 1;
            } else {
                params[n].value = "";
            }
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    *n_params = n;
    return 0;
}

int parse_path(const char *path, size_t len, char *buf, const char **segs, size_t max,
               size_t *n_segs)
{
    size_t n = 0, i = 1;
    char *w = buf;

    if (len == 0 || path[0] != '/')
        return -EINVAL;
    if (len > 1 && path[len - 1] == '/')
        len--;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (n == max)
            return -E2BIG;
        size_t dlen;
        int r = parse_percent_decode(path + i, j - i, w, &dlen);
        if (r < 0)
            return r;
        if (memchr(w, '/', dlen))
            return -EINVAL;
        segs[n++] = w;
        w += dlen + 1;
        i = j + 1;
    }
    *n_segs = n;
    return 0;
}

/* Parse a decimal uint64 from [p, end); -1 if empty or not digits. A
 * number too big for 64 bits saturates at UINT64_MAX: it is still a valid
 * position, just past any end, and RFC 9110 clamps it. */
static int range_number(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return -1;
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

enum range_result parse_range(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p, *end, *dash;
    uint64_t a, b;

    if (!value || strncmp(value, "bytes=", 6) != 0)
        return RANGE_NONE;
    p = skip_ows(value + 6);
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (memchr(p, ',', (size_t)(end - p)))
        return RANGE_NONE; /* several ranges: we may ignore them all */
    dash = memchr(p, '-', (size_t)(end - p));
    if (!dash)
        return RANGE_NONE;
    if (dash == p) { /* suffix: last n bytes */
        if (range_number(dash + 1, end, &b) < 0)
            return RANGE_NONE;
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return RANGE_OK;
    }
    if (range_number(p, dash, &a) < 0)
        return RANGE_NONE;
    if (dash + 1 == end) {
        b = UINT64_MAX;
    } else {
        if (range_number(dash + 1, end, &b) < 0 || b < a)
            return RANGE_NONE;
    }
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return RANGE_OK;
}

bool parse_etag_match(const char *list, const char *tag, bool weak)
{
    const char *p = list;
    size_t tag_len = strlen(tag);

    if (!list)
        return false;
    for (;;) {
        p = skip_ows(p);
        if (!*p)
            return false;
        if (*p == '*')
            return true;
        bool is_weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = true;
            p += 2;
        }
        if (*p != '"')
            return false;
        const char *q = strchr(p + 1, '"');
        if (!q)
            return false;
        size_t len = (size_t)(q - p - 1);
        if ((weak || !is_weak) && len == tag_len && memcmp(p + 1, tag, len) == 0)
            return true;
        p = skip_ows(q + 1);
        if (*p != ',')
            return false;
        p++;
    }
}

bool parse_list_has(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;

    while (*p) {
        p = skip_ows(p);
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == tlen && strncasecmp(p, token, len) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

int parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    unsigned shift = 0;

    if (!s || !is_digit(*s))
        return -EINVAL;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    switch (*p) {
    case '\0': break;
    case 'K':
    case 'k': shift = 10; break;
    case 'M':
    case 'm': shift = 20; break;
    case 'G':
    case 'g': shift = 30; break;
    case 'T':
    case 't': shift = 40; break;
    default: return -EINVAL;
    }
    if (*p && p[1])
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = v << shift;
    return 0;
}

int parse_listen(const char *s, char *host, size_t host_size, uint16_t *port)
{
    const char *h, *colon;
    size_t hlen;
    int64_t p;

    if (!s)
        return -EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL;
        h = s;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_size)
        return -EINVAL;
    if (parse_u63(colon + 1, &p) < 0 || p > 65535)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

void cursor_format(const struct cursor *c, char *out, size_t size)
{
    uint64_t bits;

    switch (c->kind) {
    case CURSOR_NONE: snprintf(out, size, "%lld", (long long)c->id); break;
    case CURSOR_NULL: snprintf(out, size, "%lld.n", (long long)c->id); break;
    case CURSOR_INT: snprintf(out, size, "%lld.i%lld", (long long)c->id, (long long)c->i); break;
    case CURSOR_REAL:
        /* The bit pattern round-trips exactly, unlike any decimal form. */
        memcpy(&bits, &c->r, sizeof(bits));
        snprintf(out, size, "%lld.r%016llx", (long long)c->id, (unsigned long long)bits);
        break;
    }
}

int cursor_parse(const char *s, struct cursor *out)
{
    char idbuf[24];
    const char *dot = strchr(s, '.');
    size_t idlen = dot ? (size_t)(dot - s) : strlen(s);
    struct cursor c = {0};

    if (idlen == 0 || idlen >= sizeof(idbuf))
        return -EINVAL;
    memcpy(idbuf, s, idlen);
    idbuf[idlen] = '\0';
    if (parse_id(idbuf, &c.id) < 0)
        return -EINVAL;
    if (!dot) {
        c.kind = CURSOR_NONE;
    } else if (strcmp(dot + 1, "n") == 0) {
        c.kind = CURSOR_NULL;
    } else if (dot[1] == 'i') {
        const char *v = dot + 2;
        bool neg = *v == '-';
        uint64_t u = 0;
        v += neg;
        if (!*v)
            return -EINVAL;
        for (; *v; v++) {
            if (!is_digit(*v) || u > (UINT64_MAX - 9) / 10)
                return -EINVAL;
            u = u * 10 + (unsigned)(*v - '0');
        }
        if (u > (uint64_t)INT64_MAX + neg)
            return -EINVAL;
        c.kind = CURSOR_INT;
        c.i = neg ? (int64_t)(0 - u) : (int64_t)u;
    } else if (dot[1] == 'r' && strlen(dot + 2) == 16) {
        uint64_t bits = 0;
        for (const char *p = dot + 2; *p; p++) {
            int h = hex_value(*p);
            if (h < 0 || (*p >= 'A' && *p <= 'F'))
                return -EINVAL;
            bits = bits << 4 | (uint64_t)h;
        }
        memcpy(&c.r, &bits, sizeof(bits));
        if (!isfinite(c.r))
            return -EINVAL;
        c.kind = CURSOR_REAL;
    } else {
        return -EINVAL;
    }
    *out = c;
    return 0;
}
