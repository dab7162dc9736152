/*
 * test_jparse.c - the client's JSON parser: the server's documents parse
 * exactly, malformed input is refused whole, limits hold.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jparse.h"

static int parse(const char *s, struct jnode **out)
{
    return ckpt_jparse(s, strlen(s), out);
}

/* Parse s and return the result code, freeing any tree. */
static int code_of(const char *s)
{
    struct jnode *n = NULL;
    int r = parse(s, &n);
    ckpt_jparse_free(n);
    return r;
}

static void test_checkpoint_document(void)
{
    const char *doc = "{\"id\":42,\"run\":\"resnet\",\"epoch\":5,\"step\":null,\"loss\":0.31,"
                      "\"metrics\":{\"val_acc\":0.91,\"top5\":1e-3},\"size\":9007199254740993,"
                      "\"sha256\":\"ab\",\"created_at\":\"2026-11-29T04:03:39.123Z\"}";
    struct jnode *root = NULL;
    int r = parse(doc, &root);
    CHECK(r == 0, "a checkpoint document parses");
    if (r != 0)
        return;
    const struct jnode *id = ckpt_jparse_get(root, "id");
    CHECK(id && id->type == JT_NUMBER && id->is_int && id->i == 42, "id is the integer 42");
    const struct jnode *size = ckpt_jparse_get(root, "size");
    CHECK(size && size->is_int && size->i == 9007199254740993LL,
          "integers above 2^53 stay exact (size 9007199254740993)");
    const struct jnode *loss = ckpt_jparse_get(root, "loss");
    CHECK(loss && !loss->is_int && loss->num == 0.31, "loss is the double 0.31");
    const struct jnode *step = ckpt_jparse_get(root, "step");
    CHECK(step && step->type == JT_NULL, "null is JT_NULL");
    const struct jnode *run = ckpt_jparse_get(root, "run");
    CHECK(run && run->type == JT_STRING && strcmp(run->str, "resnet") == 0, "strings decode");
    const struct jnode *m = ckpt_jparse_get(root, "metrics");
    CHECK(m && m->type == JT_OBJECT && m->child && strcmp(m->child->key, "val_acc") == 0 &&
              m->child->next && m->child->next->num == 1e-3,
          "nested objects keep member order and keys");
    CHECK(ckpt_jparse_get(root, "missing") == NULL, "a missing key is NULL");
    CHECK(ckpt_jparse_get(run, "x") == NULL, "get on a non-object is NULL");
    ckpt_jparse_free(root);
}

static void test_strings(void)
{
    struct jnode *n = NULL;
    int r = parse("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\"", &n);
    CHECK(r == 0 && n && strcmp(n->str, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80") == 0,
          "escapes, \\u00e9 and a surrogate pair decode to UTF-8");
    ckpt_jparse_free(n);
    n = NULL;
    r = parse("\"a\\u0000b\"", &n);
    CHECK(r == 0 && n && n->str_len == 3 && n->str[1] == '\0', "\\u0000 keeps its length");
    ckpt_jparse_free(n);
    CHECK(code_of("\"\\ud83d\"") == -EINVAL, "a lone high surrogate is refused");
    CHECK(code_of("\"\\ude00\"") == -EINVAL, "a lone low surrogate is refused");
    CHECK(code_of("\"\\x41\"") == -EINVAL, "an unknown escape is refused");
    CHECK(code_of("\"\\u12\"") == -EINVAL, "a short \\u escape is refused");
    CHECK(code_of("\"a\nb\"") == -EINVAL, "a raw control character in a string is refused");
    CHECK(code_of("\"abc") == -EINVAL, "an unterminated string is refused");
    CHECK(code_of("\"abc\\") == -EINVAL, "a string ending in a backslash is refused");
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        int ok;
    } cases[] = {
        {"0", 1},   {"-0", 1},       {"12", 1},    {"-12.5e+3", 1}, {"1E5", 1}, {"01", 0},
        {"+1", 0},  {".5", 0},       {"5.", 0},    {"1e", 0},       {"1e+", 0}, {"-", 0},
        {"NaN", 0}, {"Infinity", 0}, {"1e400", 0}, {"0x10", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = code_of(cases[i].text);
        CHECK(cases[i].ok ? r == 0 : r == -EINVAL, "number '%s' is %s", cases[i].text,
              cases[i].ok ? "accepted" : "refused");
    }
    struct jnode *n = NULL;
    CHECK(parse("9223372036854775807", &n) == 0 && n->is_int && n->i == INT64_MAX,
          "INT64_MAX is an exact integer");
    ckpt_jparse_free(n);
    n = NULL;
    CHECK(parse("9223372036854775808", &n) == 0 && !n->is_int,
          "an integer past INT64_MAX is a double only");
    ckpt_jparse_free(n);
}

static void test_structure(void)
{
    static const struct {
        const char *text;
        int ok;
    } cases[] = {
        {"{}", 1},        {"[]", 1},       {" [1, 2 ,3 ] ", 1}, {"{\"a\":[{}]}", 1},
        {"true", 1},      {"false", 1},    {"null", 1},         {"", 0},
        {"   ", 0},       {"[1,]", 0},     {"{\"a\":1,}", 0},   {"{a:1}", 0},
        {"{\"a\" 1}", 0}, {"[1 2]", 0},    {"[1", 0},           {"{\"a\":1", 0},
        {"{} {}", 0},     {"tru", 0},      {"nul", 0},          {"[1]x", 0},
        {"/* c */ 1", 0}, {"{\"a\":}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = code_of(cases[i].text);
        CHECK(cases[i].ok ? r == 0 : r == -EINVAL, "'%s' is %s", cases[i].text,
              cases[i].ok ? "accepted" : "refused");
    }
}

static void test_depth(void)
{
    char deep[2 * (JPARSE_MAX_DEPTH + 1) + 1];
    size_t d = JPARSE_MAX_DEPTH;
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    deep[2 * d] = '\0';
    CHECK(code_of(deep) == 0, "nesting of exactly %d levels parses", JPARSE_MAX_DEPTH);
    d = JPARSE_MAX_DEPTH + 1;
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    deep[2 * d] = '\0';
    CHECK(code_of(deep) == -EINVAL, "nesting deeper than %d levels is refused", JPARSE_MAX_DEPTH);
}

static void test_length_bound(void)
{
    /* The parser must respect len, not the NUL: "[1]" inside "[1]]]". */
    struct jnode *n = NULL;
    CHECK(ckpt_jparse("[1]]]", 3, &n) == 0 && n && n->type == JT_ARRAY, "only len bytes are read");
    ckpt_jparse_free(n);
    CHECK(ckpt_jparse("\"abc\"", 3, &n) == -EINVAL, "a string cut by len is refused");
    ckpt_jparse_free(NULL);
    CHECK(n == NULL || n != NULL, "ckpt_jparse_free(NULL) returns");
}

int main(void)
{
    test_checkpoint_document();
    test_strings();
    test_numbers();
    test_structure();
    test_depth();
    test_length_bound();
    return CHECK_DONE();
}
