/*
 * fuzz_cursor.c - listing cursors, both ways. The input as text goes to
 * cursor_parse: refused text leaves *out untouched, accepted text gives a
 * valid cursor that formats and parses back equal. The input's first 25
 * bytes as a cursor (id, kind, integer key, double key) go to cursor_format:
 * the text fits what api.c leaves for it, is URL-safe, and parses back
 * equal. Only cursors the index can produce are formatted: id 1..INT64_MAX
 * (checkpoint ids, ckpt_limits.h) and finite doubles.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "ckpt_limits.h"
#include "fuzz.h"
#include "parse.h"

/* api.c formats into CURSOR_MAX bytes after an "%08x_" order tag. */
#define API_ROOM (CURSOR_MAX - 9)

static bool same(const struct cursor *a, const struct cursor *b)
{
    if (a->id != b->id || a->kind != b->kind)
        return false;
    if (a->kind == CURSOR_INT)
        return a->i == b->i;
    if (a->kind == CURSOR_REAL)
        return memcmp(&a->r, &b->r, sizeof(a->r)) == 0;
    return true;
}

static bool url_safe(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_' || *s == '~'))
            return false;
    return true;
}

/* Format c into an exactly sized API_ROOM buffer and parse it back. */
static void round_trip(const struct cursor *c)
{
    char *text = fuzz_alloc(API_ROOM);
    struct cursor back;

    memset(text, '#', API_ROOM);
    cursor_format(c, text, API_ROOM);
    size_t len = strnlen(text, API_ROOM);
    FUZZ_CHECK(len + 1 < API_ROOM, "cursor text of %zu bytes does not fit %d", len, API_ROOM);
    FUZZ_CHECK(url_safe(text), "cursor text \"%s\" is not URL-safe", text);
    memset(&back, 0x5a, sizeof(back));
    int r = cursor_parse(text, &back);
    FUZZ_CHECK(r == 0 && same(&back, c),
               "cursor_parse(\"%s\") gives %d and not id %" PRId64 " kind %d i %" PRId64
               " r %a back",
               text, r, c->id, (int)c->kind, c->i, c->r);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    const struct cursor sentinel = {4242, CURSOR_INT, 4343, 1.5};
    struct cursor out = sentinel;
    int r = cursor_parse(s, &out);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL, "unexpected error %d", r);
        FUZZ_CHECK(out.id == sentinel.id && out.kind == sentinel.kind && out.i == sentinel.i &&
                       out.r == sentinel.r,
                   "*out written on failure");
    } else {
        FUZZ_CHECK(r == 0, "unexpected return %d", r);
        FUZZ_CHECK(out.id >= 1, "id %" PRId64 " accepted", out.id);
        FUZZ_CHECK(out.kind == CURSOR_NONE || out.kind == CURSOR_NULL || out.kind == CURSOR_INT ||
                       out.kind == CURSOR_REAL,
                   "kind %d", (int)out.kind);
        FUZZ_CHECK(out.kind != CURSOR_REAL || isfinite(out.r), "a non-finite double accepted");
        round_trip(&out);
    }
    free(s);

    if (size >= 25) {
        struct cursor c = {0};
        c.id = (int64_t)(fuzz_le64(data, 8) & (uint64_t)INT64_MAX);
        if (c.id == 0)
            c.id = 1;
        c.kind = (enum cursor_kind)(data[8] % 4);
        uint64_t i = fuzz_le64(data + 9, 8), bits = fuzz_le64(data + 17, 8);
        memcpy(&c.i, &i, sizeof(c.i));
        memcpy(&c.r, &bits, sizeof(c.r));
        if (c.kind != CURSOR_REAL || isfinite(c.r))
            round_trip(&c);
    }
    return 0;
}
