/*
 * check.h - the unit tests' one assertion: print "ok - what" or
 * "not ok - what" (the harness counts these) and keep going.
 */
#ifndef CKPT_TEST_CHECK_H
#define CKPT_TEST_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            printf("ok - ");                                                                   \
        } else {                                                                               \
            printf("not ok - ");                                                               \
            check_failures++;                                                                  \
        }                                                                                      \
        printf(__VA_ARGS__);                                                                   \
        printf(cond ? "\n" : "  (%s:%d: %s)\n", __FILE__, __LINE__, #cond);                    \
    } while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
