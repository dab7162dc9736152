/*
 * test_errors.c - unit tests for daemon/errors.c: every error has a code, a
 * status and a message; codes are unique; and proto/API.md documents each code
 * with the same status the daemon sends.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "errors.h"

/* The whole of proto/API.md, NUL-terminated; NULL when unreadable. Tests run
 * from the repository root; CKPT_SRCDIR names it otherwise. */
static char *read_api_md(void)
{
    char path[4096];
    const char *dir = getenv("CKPT_SRCDIR");
    FILE *f = fopen("proto/API.md", "rb");
    char *text = NULL;
    long size;

    if (!f && dir && *dir) {
        snprintf(path, sizeof(path), "%s/proto/API.md", dir);
        f = fopen(path, "rb");
    }
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    text = malloc((size_t)size + 1);
    if (!text)
        goto out;
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
        goto out;
    }
    text[size] = '\0';
out:
    fclose(f);
    return text;
}

static bool is_code_syntax(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

/* The enum value whose code is name[0..len), or E__COUNT. */
static enum api_error code_lookup(const char *name, size_t len)
{
    for (int e = 0; e < E__COUNT; e++) {
        const char *c = error_code((enum api_error)e);
        if (c && strlen(c) == len && memcmp(c, name, len) == 0)
            return (enum api_error)e;
    }
    return E__COUNT;
}

/* Split a markdown table row "| a | b | c |" into at most max trimmed cells
 * (pointers into line, which is modified). Returns the number of cells. */
static size_t table_cells(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line;

    if (*p != '|')
        return 0;
    p++;
    while (*p && n < max) {
        char *end = strchr(p, '|');
        if (!end)
            break;
        *end = '\0';
        while (*p == ' ')
            p++;
        char *t = end;
        while (t > p && t[-1] == ' ')
            *--t = '\0';
        cells[n++] = p;
        p = end + 1;
    }
    return n;
}

/* "`code`" -> code, or NULL. */
static const char *backticked(const char *cell, size_t *len)
{
    size_t n = strlen(cell);
    if (n < 3 || cell[0] != '`' || cell[n - 1] != '`')
        return NULL;
    *len = n - 2;
    return cell + 1;
}

static bool is_status(const char *cell, unsigned *status)
{
    if (strlen(cell) != 3 || cell[0] < '1' || cell[0] > '5' || cell[1] < '0' || cell[1] > '9' ||
        cell[2] < '0' || cell[2] > '9')
        return false;
    *status = (unsigned)atoi(cell);
    return true;
}

static void test_table(void)
{
    for (int e = 0; e < E__COUNT; e++) {
        const char *code = error_code((enum api_error)e);
        unsigned status = error_status((enum api_error)e);
        const char *msg = error_message((enum api_error)e);
        CHECK(is_code_syntax(code), "error %d has a code of [a-z_]+ (\"%s\")", e,
              code ? code : "(null)");
        CHECK(status >= 400 && status <= 599, "error %d (%s) has an HTTP error status (%u)", e,
              code ? code : "(null)", status);
        CHECK(msg && *msg, "error %d (%s) has a non-empty default message", e,
              code ? code : "(null)");
    }

    unsigned dups = 0;
    for (int a = 0; a < E__COUNT; a++)
        for (int b = a + 1; b < E__COUNT; b++) {
            const char *x = error_code((enum api_error)a), *y = error_code((enum api_error)b);
            if (x && y && strcmp(x, y) == 0) {
                dups++;
                printf("# duplicate code \"%s\" for errors %d and %d\n", x, a, b);
            }
        }
    CHECK(dups == 0, "all %d error codes are distinct (%u duplicates)", (int)E__COUNT, dups);

    /* Spot checks that the table is not merely well-formed but right. */
    static const struct {
        enum api_error e;
        const char *code;
        unsigned status;
    } known[] = {
        {E_DIGEST_MISMATCH, "digest_mismatch", 400},
        {E_NOT_FOUND, "not_found", 404},
        {E_METHOD_NOT_ALLOWED, "method_not_allowed", 405},
        {E_PAYLOAD_TOO_LARGE, "payload_too_large", 413},
        {E_RANGE_NOT_SATISFIABLE, "range_not_satisfiable", 416},
        {E_INTERNAL, "internal_error", 500},
        {E_UNAVAILABLE, "unavailable", 503},
        {E_INSUFFICIENT_STORAGE, "insufficient_storage", 507},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *code = error_code(known[i].e);
        unsigned status = error_status(known[i].e);
        CHECK(strcmp(code, known[i].code) == 0 && status == known[i].status,
              "error %d is %s with status %u", (int)known[i].e, known[i].code, known[i].status);
    }
}

static void test_from_errno(void)
{
    static const struct {
        int r;
        const char *name;
        enum api_error e;
    } cases[] = {
        {-ENOSPC, "-ENOSPC", E_INSUFFICIENT_STORAGE},
        {-EDQUOT, "-EDQUOT", E_INSUFFICIENT_STORAGE},
        {-ENOMEM, "-ENOMEM", E_UNAVAILABLE},
        {-EBUSY, "-EBUSY", E_UNAVAILABLE},
        {-EIO, "-EIO", E_INTERNAL},
        {-EINVAL, "-EINVAL", E_INTERNAL},
        {-ENOENT, "-ENOENT", E_INTERNAL},
        {-EPERM, "-EPERM", E_INTERNAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum api_error e = error_from_errno(cases[i].r);
        CHECK(e == cases[i].e, "error_from_errno(%s) is %s", cases[i].name, error_code(cases[i].e));
    }
}

static void test_api_md(void)
{
    char *doc = read_api_md();

    CHECK(doc != NULL, "proto/API.md is readable (from the repo root or $CKPT_SRCDIR)");
    if (!doc)
        return;

    /* Every code is documented, as a `code` span. */
    for (int e = 0; e < E__COUNT; e++) {
        const char *code = error_code((enum api_error)e);
        char quoted[128];
        snprintf(quoted, sizeof(quoted), "`%s`", code);
        CHECK(strstr(doc, quoted) != NULL, "proto/API.md mentions `%s`", code);
    }

    /* Every table row that pairs a status with a code agrees with the daemon;
     * the "Error codes" table lists each code exactly once and no others. */
    unsigned listed[E__COUNT] = {0};
    unsigned rows = 0, disagree = 0, unknown = 0;
    bool in_codes = false;
    char *save = NULL;
    for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "## ", 3) == 0)
            in_codes = strcmp(line, "## Error codes") == 0;
        char *cells[8];
        size_t n = table_cells(line, cells, 8);
        if (n < 2)
            continue;
        const char *name;
        size_t len;
        unsigned status;
        if ((name = backticked(cells[0], &len)) && is_status(cells[1], &status)) {
            /* | `code` | status | meaning |  (the Error codes table) */
        } else if (is_status(cells[0], &status) && (name = backticked(cells[1], &len))) {
            /* | status | `code` | when |  (an endpoint's table) */
        } else {
            continue;
        }
        enum api_error e = code_lookup(name, len);
        rows++;
        if (e == E__COUNT) {
            unknown++;
            printf("# proto/API.md names code `%.*s`, which the daemon does not have\n", (int)len,
                   name);
            continue;
        }
        if (in_codes)
            listed[e]++;
        if (error_status(e) != status) {
            disagree++;
            printf("# proto/API.md gives `%.*s` status %u, the daemon %u\n", (int)len, name, status,
                   error_status(e));
        }
    }
    CHECK(rows >= (unsigned)E__COUNT, "proto/API.md has status/code table rows (%u found)", rows);
    CHECK(disagree == 0, "every status/code row in proto/API.md matches error_status (%u differ)",
          disagree);
    CHECK(unknown == 0, "proto/API.md names no error code the daemon lacks (%u unknown)", unknown);
    for (int e = 0; e < E__COUNT; e++)
        CHECK(listed[e] == 1, "the Error codes table of proto/API.md lists `%s` once (%u times)",
              error_code((enum api_error)e), listed[e]);
    free(doc);
}

int main(void)
{
    test_table();
    test_from_errno();
    test_api_md();
    return CHECK_DONE();
}
