/*
 * test_watch.c - unit tests for daemon/watch.c, the long-poll wait list:
 * a parked waiter is polled at once, again after a commit to its run (not
 * another run's), answered final at its deadline, when its client hangs up
 * and at shutdown; resume runs exactly once per waiter; limits and
 * shutdown refusals.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ckpt_limits.h"
#include "watch.h"

struct probe {
    atomic_int polls, finals, resumes;
    atomic_bool ready; /* poll answers "done" once this is set */
};

static bool probe_poll(void *arg, bool final)
{
    struct probe *p = arg;
    atomic_fetch_add(&p->polls, 1);
    if (final)
        atomic_fetch_add(&p->finals, 1);
    return final || atomic_load(&p->ready);
}

static void probe_resume(void *arg)
{
    struct probe *p = arg;
    atomic_fetch_add(&p->resumes, 1);
}

static const struct watch_ops ops = {probe_poll, probe_resume};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait up to ms for *v to reach want. */
static bool await(atomic_int *v, int want, long ms)
{
    for (long t = 0; t < ms; t += 5) {
        if (atomic_load(v) >= want)
            return true;
        sleep_ms(5);
    }
    return atomic_load(v) >= want;
}

int main(void)
{
    struct watch *w;
    struct probe a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    int sv[2];

    CHECK(watch_new(&w) == 0, "watch_new starts the thread");
    int64_t far = watch_now_ms() + 60000;

    CHECK(watch_add(w, "run-a", -1, far, &ops, &a) == 0, "park a waiter on run-a");
    CHECK(watch_add(w, "run-b", -1, far, &ops, &b) == 0, "park a waiter on run-b");
    CHECK(await(&a.polls, 1, 1000) && await(&b.polls, 1, 1000),
          "each is polled once at once (a commit may have landed before it was parked)");
    sleep_ms(50);
    CHECK(atomic_load(&a.polls) == 1 && atomic_load(&a.resumes) == 0,
          "then left alone while nothing happens");

    atomic_store(&a.ready, true);
    int64_t t0 = watch_now_ms();
    watch_notify(w, "run-a");
    CHECK(await(&a.resumes, 1, 1000), "a commit to run-a wakes and answers its waiter");
    CHECK(watch_now_ms() - t0 < 100, "within 100 ms (%lld ms)", (long long)(watch_now_ms() - t0));
    CHECK(atomic_load(&a.finals) == 0, "not as final");
    sleep_ms(30);
    CHECK(atomic_load(&b.polls) == 1, "the waiter on run-b was not polled by run-a's commit");
    watch_notify(w, "run-b");
    CHECK(await(&b.polls, 2, 1000) && atomic_load(&b.resumes) == 0,
          "a commit with nothing for it: polled, keeps waiting");

    CHECK(watch_add(w, "run-c", -1, watch_now_ms() + 150, &ops, &c) == 0, "park one for 150 ms");
    CHECK(await(&c.resumes, 1, 2000) && atomic_load(&c.finals) == 1,
          "at its deadline it is answered as final and resumed");

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "a socket pair for a client");
    CHECK(watch_add(w, "run-d", sv[0], far, &ops, &d) == 0, "park one with its socket");
    sleep_ms(50);
    close(sv[1]);
    t0 = watch_now_ms();
    CHECK(await(&d.resumes, 1, 2000) && atomic_load(&d.finals) == 1,
          "when the client hangs up it is answered as final at once (%lld ms)",
          (long long)(watch_now_ms() - t0));
    close(sv[0]);

    CHECK(watch_add(w, "run-e", -1, far, &ops, &e) == 0, "park one more");
    watch_shutdown(w);
    CHECK(atomic_load(&b.finals) == 1 && atomic_load(&b.resumes) == 1 &&
              atomic_load(&e.finals) == 1 && atomic_load(&e.resumes) == 1,
          "shutdown answers every parked waiter as final before it returns");
    struct probe f = {0};
    CHECK(watch_add(w, "run-f", -1, far, &ops, &f) == -ESHUTDOWN,
          "after shutdown new waiters are refused with -ESHUTDOWN");
    watch_shutdown(w);
    CHECK(atomic_load(&a.resumes) == 1 && atomic_load(&c.resumes) == 1 &&
              atomic_load(&d.resumes) == 1,
          "every waiter was resumed exactly once");
    watch_free(w);

    /* The limit. */
    static struct probe many[WATCHERS_MAX + 1];
    CHECK(watch_new(&w) == 0, "a second watch");
    int r = 0;
    for (int i = 0; i < WATCHERS_MAX && r == 0; i++)
        r = watch_add(w, "x", -1, far, &ops, &many[i]);
    CHECK(r == 0, "%d waiters fit", WATCHERS_MAX);
    CHECK(watch_add(w, "x", -1, far, &ops, &many[WATCHERS_MAX]) == -EAGAIN,
          "one more is refused with -EAGAIN");
    watch_free(w);
    int resumed = 0;
    for (int i = 0; i < WATCHERS_MAX; i++)
        resumed += atomic_load(&many[i].resumes);
    CHECK(resumed == WATCHERS_MAX, "watch_free answers all of them (%d)", resumed);
    watch_free(NULL);
    return CHECK_DONE();
}
