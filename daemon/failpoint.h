/*
 * failpoint.h - named fault points for crash and error tests. Compiled in
 * only with -DCKPTD_FAILPOINTS (the test build, build/ckptd-fp); in the
 * real daemon every point is a constant false and vanishes.
 *
 * CKPTD_FAILPOINT=NAME[,NAME...] arms points. When reached one logs
 * "failpoint NAME reached" and then either kills the process with SIGKILL
 * (names ending in "-crash", a power cut at that instant), makes the call
 * report an I/O error (names ending in "-eio") or makes the caller pause
 * (names ending in "-delay").
 */
#ifndef CKPTD_FAILPOINT_H
#define CKPTD_FAILPOINT_H

#include <stdbool.h>

#ifdef CKPTD_FAILPOINTS
/* True when NAME is armed and is an error point (the caller fails with
 * -EIO); never returns when NAME is an armed crash point. */
bool failpoint(const char *name);
#else
static inline bool failpoint(const char *name)
{
    (void)name;
    return false;
}
#endif

#endif
