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

/* Whether name is one of the comma-separated names in armed. */
static bool armed_has(const char *armed, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = armed; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && memcmp(p, name, len) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

bool failpoint(const char *name)
{
    const char *armed = getenv("CKPTD_FAILPOINT");
    size_t len;

    if (!armed || !armed_has(armed, name))
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
