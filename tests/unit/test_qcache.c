/*
 * test_qcache.c - unit tests for daemon/qcache.c: an answer comes back only
 * for its own key at its own generation; a full table keeps the newest
 * answer per slot and never answers one key with another's body; answers
 * over QCACHE_BODY_MAX are not kept; each thread has its own table (freed
 * at its exit: the sanitizer build checks for leaks); 0 slots keep nothing.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "qcache.h"

static bool get_is(const char *key, uint64_t gen, const char *body, int64_t id)
{
    struct qcache_hit h;
    if (!qcache_get(key, strlen(key), gen, &h))
        return false;
    return h.len == strlen(body) && memcmp(h.body, body, h.len) == 0 && h.checkpoint_id == id;
}

static bool miss(const char *key, uint64_t gen)
{
    struct qcache_hit h;
    return !qcache_get(key, strlen(key), gen, &h);
}

static void put(const char *key, uint64_t gen, const char *body, int64_t id)
{
    qcache_put(key, strlen(key), gen, body, strlen(body), id);
}

static void test_off(void)
{
    qcache_configure(0);
    put("best/a/loss/0", 1, "{\"id\":1}", 1);
    CHECK(miss("best/a/loss/0", 1), "with 0 slots an answer is not kept");
}

static void test_generation(void)
{
    qcache_configure(8);
    CHECK(miss("best/a/loss/0", 7), "an empty cache misses");
    put("best/a/loss/0", 7, "{\"id\":1}", 1);
    CHECK(get_is("best/a/loss/0", 7, "{\"id\":1}", 1), "the answer comes back at its generation");
    CHECK(miss("best/a/loss/0", 8), "  ... and not at the next one (a write came)");
    CHECK(miss("best/a/loss/1", 7), "  ... nor for another key");
    CHECK(miss("best/a/loss/", 7), "  ... nor for a prefix of the key");
    put("best/a/loss/0", 8, "{\"id\":2}", 2);
    CHECK(get_is("best/a/loss/0", 8, "{\"id\":2}", 2), "a new answer replaces the old one");
    CHECK(miss("best/a/loss/0", 7), "  ... which is gone");
}

static void test_full(void)
{
    char key[64], body[64], want[64];
    int kept = 0, wrong = 0;

    qcache_configure(8);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "list/run-%d/0/1//10//0:0/0:0", i);
        snprintf(body, sizeof(body), "{\"run\":%d}", i);
        put(key, 1, body, i);
    }
    for (int i = 0; i < 100; i++) {
        struct qcache_hit h;
        snprintf(key, sizeof(key), "list/run-%d/0/1//10//0:0/0:0", i);
        snprintf(want, sizeof(want), "{\"run\":%d}", i);
        if (qcache_get(key, strlen(key), 1, &h)) {
            kept++;
            wrong +=
                h.len != strlen(want) || memcmp(h.body, want, h.len) != 0 || h.checkpoint_id != i;
        }
    }
    CHECK(kept >= 1 && kept <= 8, "100 answers in 8 slots: 1 to 8 kept (%d)", kept);
    CHECK(wrong == 0, "  ... each for its own key (%d wrong)", wrong);
    snprintf(key, sizeof(key), "list/run-%d/0/1//10//0:0/0:0", 99);
    CHECK(get_is(key, 1, "{\"run\":99}", 99), "  ... the last one put among them");
}

static void test_size(void)
{
    size_t n = QCACHE_BODY_MAX + 1;
    char *big = malloc(n + 1);

    qcache_configure(8);
    memset(big, 'x', n);
    big[n] = 0;
    put("big", 1, big, 0);
    CHECK(miss("big", 1), "an answer of QCACHE_BODY_MAX + 1 bytes is not kept");
    big[n - 1] = 0;
    put("big", 1, big, 0);
    CHECK(get_is("big", 1, big, 0), "one of QCACHE_BODY_MAX bytes is");
    free(big);
}

static void *other_thread(void *arg)
{
    bool *saw = arg;
    saw[0] = !miss("best/a/loss/0", 8); /* the main thread's answer */
    put("best/a/loss/0", 8, "{\"id\":3}", 3);
    saw[1] = get_is("best/a/loss/0", 8, "{\"id\":3}", 3);
    return NULL;
}

static void test_threads(void)
{
    bool saw[2] = {true, false};
    pthread_t t;

    qcache_configure(8);
    put("best/a/loss/0", 8, "{\"id\":2}", 2);
    if (pthread_create(&t, NULL, other_thread, saw) != 0) {
        CHECK(0, "pthread_create");
        return;
    }
    pthread_join(t, NULL);
    CHECK(!saw[0], "another thread does not see this thread's answers");
    CHECK(saw[1], "  ... it keeps its own");
    CHECK(get_is("best/a/loss/0", 8, "{\"id\":2}", 2), "  ... and this thread's stays as it was");
}

int main(void)
{
    test_off();
    test_generation();
    test_full();
    test_size();
    test_threads();
    return CHECK_DONE();
}
