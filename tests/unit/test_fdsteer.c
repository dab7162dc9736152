/*
 * test_fdsteer.c - unit tests for daemon/fdsteer.c: the least-loaded worker
 * is chosen and ties rotate; a descriptor moves to the asked residue, stays
 * the same open file, is close-on-exec, and no descriptor leaks; with no
 * descriptors to spare it stays where it was.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fdsteer.h"

/* Descriptors open in this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static void test_least_loaded(void)
{
    atomic_int c[4] = {3, 1, 2, 1};
    unsigned last = 3;

    CHECK(fdsteer_least_loaded(c, 4, &last) == 1 && last == 1, "the fewest wins: worker 1");
    CHECK(fdsteer_least_loaded(c, 4, &last) == 3 && last == 3,
          "a tie goes to the next after the last chosen: worker 3");
    CHECK(fdsteer_least_loaded(c, 4, &last) == 1, "then round again to worker 1");

    atomic_int z[3] = {0, 0, 0};
    unsigned order[6];
    last = 2;
    for (int i = 0; i < 6; i++)
        order[i] = fdsteer_least_loaded(z, 3, &last);
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 0 && order[4] == 1 &&
              order[5] == 2,
          "equal counts (a burst the counts have not caught up with) rotate 0 1 2 0 1 2");

    atomic_int one[1] = {5};
    last = 0;
    CHECK(fdsteer_least_loaded(one, 1, &last) == 0, "one worker: always 0");
}

static void test_move(void)
{
    int before = open_fds();

    for (unsigned n = 1; n <= 5; n++)
        for (unsigned want = 0; want < n; want++) {
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            int keep = dup(fd); /* to compare with once fd is closed */
            int got = fdsteer_move(fd, want, n);
            int flags = fcntl(got, F_GETFD);
            CHECK(got >= 0 && (unsigned)got % n == want,
                  "%u workers, want %u: descriptor %d (from %d)", n, want, got, fd);
            CHECK(same_file(got, keep), "... it is the same open file");
            CHECK(got == fd || (flags >= 0 && (flags & FD_CLOEXEC)), "... close-on-exec");
            CHECK(got == fd || fcntl(fd, F_GETFD) < 0, "... and the old number is closed");
            close(got);
            close(keep);
        }
    CHECK(open_fds() == before, "no descriptor leaked (%d open, %d before)", open_fds(), before);
}

/* With the descriptor limit reached, no duplicate can be made: the
 * descriptor stays as it is, and nothing leaks. */
static void test_no_spare(void)
{
    struct rlimit old, low;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before = open_fds();

    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)fd + 1; /* fd is the highest number open */
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "descriptor limit lowered to %d", fd + 1);
    int got = fdsteer_move(fd, (unsigned)(fd + 1) % 2, 2);
    CHECK(got == fd, "no room for a duplicate: the descriptor is kept (%d)", got);
    CHECK(fcntl(fd, F_GETFD) >= 0, "... and still open");
    setrlimit(RLIMIT_NOFILE, &old); /* counting needs a descriptor of its own */
    CHECK(open_fds() == before, "... and nothing leaked");
    close(fd);
}

int main(void)
{
    test_least_loaded();
    test_move();
    test_no_spare();
    return CHECK_DONE();
}
