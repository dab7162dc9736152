/*
 * fuzz_json_str.c - the daemon's JSON writer (daemon/json.c) against the
 * client's parser (client/jparse.c), as they meet on the wire. The input up
 * to its first NUL goes through json_str alone and as both key and value of
 * an object: the text must be valid JSON with no raw control byte, and
 * decode to exactly the input. The first 8 bytes also go through json_int
 * and, when finite, json_double: both must read back to the same value.
 */
#include <inttypes.h>
#include <math.h>

#include "fuzz.h"
#include "jparse.h"
#include "json.h"

#define JSON_MAX (1u << 20)

/* The text of j, as an exactly sized copy without NUL, parsed. */
static struct jnode *finish(struct json *j)
{
    size_t len = 0;
    char *text = json_detach(j, &len);
    struct jnode *root = NULL;

    FUZZ_CHECK(text != NULL, "json buffer failed");
    FUZZ_CHECK(strlen(text) == len, "json text holds a NUL");
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)text[i] >= 0x20, "raw control byte 0x%02x at %zu",
                   (unsigned char)text[i], i);
    char *copy = fuzz_exact(text, len);
    int r = ckpt_jparse(copy, len, &root);
    FUZZ_CHECK(r == 0, "json_* output is not valid JSON (%d): %s", r, text);
    free(copy);
    free(text);
    return root;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    size_t n = strlen(s);
    struct json j;
    struct jnode *root;

    json_init(&j, JSON_MAX);
    json_str(&j, s);
    root = finish(&j);
    FUZZ_CHECK(root->type == JT_STRING && root->str_len == n && memcmp(root->str, s, n) == 0,
               "json_str does not decode to its input");
    ckpt_jparse_free(root);

    json_init(&j, JSON_MAX);
    json_raw(&j, "{");
    json_str(&j, s);
    json_raw(&j, ":");
    json_str(&j, s);
    json_raw(&j, "}");
    root = finish(&j);
    const struct jnode *m = ckpt_jparse_get(root, s);
    FUZZ_CHECK(m && m->type == JT_STRING && m->str_len == n && memcmp(m->str, s, n) == 0,
               "json_str as key and value does not decode to its input");
    ckpt_jparse_free(root);

    if (size >= 8) {
        uint64_t bits = fuzz_le64(data, 8);
        int64_t i;
        double d;
        memcpy(&i, &bits, sizeof(i));
        memcpy(&d, &bits, sizeof(d));

        json_init(&j, JSON_MAX);
        json_int(&j, i);
        root = finish(&j);
        FUZZ_CHECK(root->type == JT_NUMBER && root->is_int && root->i == i,
                   "json_int(%" PRId64 ") does not read back", i);
        ckpt_jparse_free(root);

        if (isfinite(d)) {
            json_init(&j, JSON_MAX);
            json_double(&j, d);
            root = finish(&j);
            FUZZ_CHECK(root->type == JT_NUMBER && memcmp(&root->num, &d, sizeof(d)) == 0,
                       "json_double(%a) reads back as %a", d, root->num);
            ckpt_jparse_free(root);
        }
    }
    free(s);
    return 0;
}
