/*
 * check.h - the unit tests' one assertion: print "ok - what" or
 * "not ok - what" (the harness counts these) and keep going.
 */
#ifndef CKPT_TEST_CHECK_H
#define CKPT_TEST_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        int check_ok_ = !!(cond); /* evaluated once */                                             \
        printf(check_ok_ ? "ok - " : "not ok - ");                                                 \
        printf(__VA_ARGS__);                                                                       \
        if (check_ok_)                                                                             \
            printf("\n");                                                                          \
        else                                                                                       \
            printf("  (%s:%d: %s)\n", __FILE__, __LINE__, #cond);                                  \
        check_failures += !check_ok_;                                                              \
    } while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
