/*
 * tcheck.h - the client tests' checks: each prints one line, "ok - what" or
 * "not ok - what" (tests/run.sh counts them), flushed at once so a crash
 * loses no line, and the program keeps going.
 */
#ifndef CKPT_TEST_TCHECK_H
#define CKPT_TEST_TCHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ckpt.h"

static int t_passed, t_failed;

/* Report one check: ok when pass is non-zero. where/expr say what failed. */
static inline void t_report(int pass, const char *where, int line, const char *expr,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline void t_report(int pass, const char *where, int line, const char *expr,
                            const char *fmt, ...)
{
    va_list ap;
    fputs(pass ? "ok - " : "not ok - ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (!pass)
        printf("# %s:%d: %s\n", where, line, expr);
    if (pass)
        t_passed++;
    else
        t_failed++;
    fflush(stdout);
}

/* CHECK(cond, "what", ...): ok when cond holds. */
#define CHECK(cond, ...) t_report(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* Print a diagnostic line. */
#define DIAG(...)                                                                                  \
    do {                                                                                           \
        fputs("# ", stdout);                                                                       \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
        fflush(stdout);                                                                            \
    } while (0)

/* CHECK_ERR(client, call_result, expected, "what", ...): the call returned
 * expected; on failure, shows both codes and the client's last error. */
#define CHECK_ERR(c, got, want, ...)                                                               \
    do {                                                                                           \
        ckpt_err t_got_ = (got), t_want_ = (want);                                                 \
        t_report(t_got_ == t_want_, __FILE__, __LINE__, #got, __VA_ARGS__);                        \
        if (t_got_ != t_want_)                                                                     \
            printf("# expected %d (%s), got %d (%s); last error: '%s' code '%s' http %ld\n",       \
                   (int)t_want_, ckpt_strerror(t_want_), (int)t_got_, ckpt_strerror(t_got_),       \
                   ckpt_client_last_error(c), ckpt_client_last_error_code(c),                      \
                   ckpt_client_last_http_status(c));                                               \
        fflush(stdout);                                                                            \
    } while (0)

/* CHECK_STR(got, want, "what", ...): equal strings (NULL only equals NULL). */
#define CHECK_STR(got, want, ...)                                                                  \
    do {                                                                                           \
        const char *t_g_ = (got), *t_w_ = (want);                                                  \
        int t_ok_ = (t_g_ && t_w_) ? strcmp(t_g_, t_w_) == 0 : t_g_ == t_w_;                       \
        t_report(t_ok_, __FILE__, __LINE__, #got, __VA_ARGS__);                                    \
        if (!t_ok_)                                                                                \
            printf("# expected '%s', got '%s'\n", t_w_ ? t_w_ : "(null)", t_g_ ? t_g_ : "(null)"); \
        fflush(stdout);                                                                            \
    } while (0)

/* CHECK_INT(got, want, "what", ...): equal integers (as long long). */
#define CHECK_INT(got, want, ...)                                                                  \
    do {                                                                                           \
        long long t_g_ = (long long)(got), t_w_ = (long long)(want);                               \
        t_report(t_g_ == t_w_, __FILE__, __LINE__, #got, __VA_ARGS__);                             \
        if (t_g_ != t_w_)                                                                          \
            printf("# expected %lld, got %lld\n", t_w_, t_g_);                                     \
        fflush(stdout);                                                                            \
    } while (0)

/* The last line, and the exit status: 0 when every check passed. */
static inline int t_done(const char *name)
{
    printf("# %s: %d passed, %d failed\n", name, t_passed, t_failed);
    fflush(stdout);
    return t_failed ? 1 : 0;
}

#endif
