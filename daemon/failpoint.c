/*
 * failpoint.c - see failpoint.h. Empty in the real daemon.
 */
#include "failpoint.h"

#ifdef CKPTD_FAILPOINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

bool failpoint(const char *name)
{
    const char *armed = getenv("CKPTD_FAILPOINT");
    size_t len;

    if (!armed || strcmp(armed, name) != 0)
        return false;
    log_info("failpoint %s reached", name);
    len = strlen(name);
    if (len > 6 && strcmp(name + len - 6, "-crash") == 0) {
        raise(SIGKILL);
        _exit(137);
    }
    return true;
}
#else
typedef int failpoint_unused; /* ISO C wants a declaration in every unit */
#endif
