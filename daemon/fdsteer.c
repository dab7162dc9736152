/*
 * fdsteer.c - choose the libmicrohttpd worker for an accepted connection;
 * see fdsteer.h.
 */
#include "fdsteer.h"

#include <fcntl.h>
#include <unistd.h>

#include "ckpt_limits.h"

unsigned fdsteer_least_loaded(const atomic_int *counts, unsigned n, unsigned *last)
{
    unsigned best = (*last + 1) % n;
    int fewest = atomic_load(&counts[best]);

    for (unsigned k = 1; k < n; k++) {
        unsigned i = (*last + 1 + k) % n;
        int c = atomic_load(&counts[i]);
        if (c < fewest) {
            best = i;
            fewest = c;
        }
    }
    *last = best;
    return best;
}

/* Each duplicate takes the lowest free number above the last, so one with
 * the right residue usually turns up within n tries; 2n allows for numbers
 * other threads hold in between. */
int fdsteer_move(int fd, unsigned want, unsigned n)
{
    int dups[2 * THREADS_MAX];
    int tries = 0, use = fd;

    if (n > THREADS_MAX)
        return fd;
    while ((unsigned)use % n != want && tries < (int)(2 * n)) {
        int d = fcntl(use, F_DUPFD_CLOEXEC, use + 1);
        if (d < 0)
            break;
        dups[tries++] = d;
        use = d;
    }
    if ((unsigned)use % n != want)
        use = fd;
    if (use != fd)
        close(fd);
    for (int i = 0; i < tries; i++)
        if (dups[i] != use)
            close(dups[i]);
    return use;
}
