/*
 * test_workq.c - unit tests for daemon/workq.c: every job runs once, on a
 * worker thread, in parallel; drain finishes the queue; submit after drain is
 * refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "workq.h"

#define MANY 2000

static atomic_int counter;
static atomic_int runs[MANY];
static atomic_int on_main_thread;
static atomic_int misnamed;
static pthread_t main_thread;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void count_job(void *arg)
{
    atomic_int *slot = arg;
    atomic_fetch_add(slot, 1);
    atomic_fetch_add(&counter, 1);
    if (pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&on_main_thread, 1);
    char name[16] = "";
    if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0 ||
        strcmp(name, "test-workq") != 0)
        atomic_fetch_add(&misnamed, 1);
}

static void slow_job(void *arg)
{
    (void)arg;
    sleep_ms(3);
    atomic_fetch_add(&counter, 1);
}

static void must_not_run(void *arg)
{
    atomic_int *flag = arg;
    atomic_fetch_add(flag, 1);
}

/* A rendezvous: each job waits (at most 5 s) until `want` jobs are inside at
 * the same time, which only happens if that many threads run them. */
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int meet_inside, meet_want;
static atomic_int meet_all_met;

static void meet_job(void *arg)
{
    struct timespec deadline;
    bool met;

    (void)arg;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&meet_lock);
    meet_inside++;
    pthread_cond_broadcast(&meet_cond);
    while (meet_inside < meet_want) {
        if (pthread_cond_timedwait(&meet_cond, &meet_lock, &deadline) == ETIMEDOUT)
            break;
    }
    met = meet_inside >= meet_want;
    pthread_mutex_unlock(&meet_lock);
    if (met)
        atomic_fetch_add(&meet_all_met, 1);
}

static void test_all_run(void)
{
    struct workq *q = NULL;
    int r = workq_new(4, "test-workq", &q);
    CHECK(r == 0 && q != NULL, "workq_new(4) starts a queue");
    if (r < 0)
        return;

    atomic_store(&counter, 0);
    atomic_store(&on_main_thread, 0);
    for (int i = 0; i < MANY; i++)
        atomic_store(&runs[i], 0);
    int refused = 0;
    for (int i = 0; i < MANY; i++)
        if (workq_submit(q, count_job, &runs[i]) != 0)
            refused++;
    CHECK(refused == 0, "workq_submit accepts %d jobs on a running queue (%d refused)", MANY,
          refused);
    workq_drain(q);

    int once = 0;
    for (int i = 0; i < MANY; i++)
        if (atomic_load(&runs[i]) == 1)
            once++;
    CHECK(once == MANY && atomic_load(&counter) == MANY,
          "each of %d jobs ran exactly once by the time workq_drain returned (%d did)", MANY, once);
    CHECK(atomic_load(&on_main_thread) == 0, "no job ran on the submitting thread");
    CHECK(atomic_load(&misnamed) == 0,
          "every job ran on a thread named \"test-workq\" (%d did not)", atomic_load(&misnamed));
    workq_free(q);
}

static void test_drain_waits(void)
{
    struct workq *q = NULL;
    int r = workq_new(1, "test-workq", &q);
    CHECK(r == 0 && q != NULL, "workq_new(1) starts a queue");
    if (r < 0)
        return;

    /* 40 jobs of 3 ms on one thread take over 100 ms: drain is called while
     * almost all of them are still queued. */
    atomic_store(&counter, 0);
    int refused = 0;
    for (int i = 0; i < 40; i++)
        if (workq_submit(q, slow_job, NULL) != 0)
            refused++;
    int before = atomic_load(&counter);
    workq_drain(q);
    int after = atomic_load(&counter);
    CHECK(refused == 0 && before < 40 && after == 40,
          "workq_drain runs every queued job before returning (%d done before, %d after)", before,
          after);

    atomic_int flag = 0;
    r = workq_submit(q, must_not_run, &flag);
    CHECK(r == -ESHUTDOWN, "workq_submit after workq_drain returns -ESHUTDOWN (got %d)", r);

    workq_drain(q); /* a second drain is harmless */
    r = workq_submit(q, must_not_run, &flag);
    CHECK(r == -ESHUTDOWN, "workq_submit after a second workq_drain still returns -ESHUTDOWN");
    workq_free(q);
    CHECK(atomic_load(&flag) == 0, "a refused job never runs, not even on workq_free");
}

static void test_parallel(void)
{
    struct workq *q = NULL;
    int r = workq_new(4, "test-workq", &q);
    if (r < 0) {
        CHECK(r == 0, "workq_new(4) starts a queue for the parallel test");
        return;
    }
    meet_inside = 0;
    meet_want = 4;
    atomic_store(&meet_all_met, 0);
    for (int i = 0; i < 4; i++)
        r |= workq_submit(q, meet_job, NULL);
    workq_drain(q);
    CHECK(r == 0 && atomic_load(&meet_all_met) == 4,
          "a queue of 4 threads runs 4 jobs at the same time (%d met)", atomic_load(&meet_all_met));
    workq_free(q);
}

static void test_free(void)
{
    /* workq_free drains on its own: queued work still runs. */
    struct workq *q = NULL;
    int r = workq_new(2, "test-workq", &q);
    if (r < 0) {
        CHECK(r == 0, "workq_new(2) starts a queue for the free test");
        return;
    }
    atomic_store(&counter, 0);
    for (int i = 0; i < 20; i++)
        r |= workq_submit(q, slow_job, NULL);
    workq_free(q);
    CHECK(r == 0 && atomic_load(&counter) == 20,
          "workq_free without workq_drain still runs all 20 queued jobs (%d ran)",
          atomic_load(&counter));
    workq_free(NULL);
}

int main(void)
{
    main_thread = pthread_self();
    test_all_run();
    test_drain_waits();
    test_parallel();
    test_free();
    return CHECK_DONE();
}
