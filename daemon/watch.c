/*
 * watch.c - the long-poll wait list (watch.h). Parked requests sit in a
 * list; one thread sleeps in poll(2) on an eventfd (commits and shutdown
 * write to it) and on the parked sockets (POLLRDHUP: the client hung up),
 * with the nearest deadline as its timeout.
 */
#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_limits.h"
#include "log.h"

struct waiter {
    struct waiter *next;
    char run[RUN_NAME_MAX + 1];
    int fd;
    int64_t deadline_ms;
    bool dirty; /* poll it: new, or its run had a commit */
    bool gone;  /* the client hung up */
    const struct watch_ops *ops;
    void *arg;
};

struct watch {
    pthread_mutex_t lock;
    struct waiter *list;
    unsigned count;
    int efd;
    bool stopping;
    bool started;
    pthread_t thread;
};

int64_t watch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct watch *w)
{
    uint64_t one = 1;
    ssize_t n = write(w->efd, &one, sizeof(one));
    (void)n; /* a full counter (never in practice) already means "wake" */
}

/* Take waiter x out of the list; caller holds the lock. */
static void unlink_waiter(struct watch *w, struct waiter *x)
{
    for (struct waiter **pp = &w->list; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            w->count--;
            return;
        }
    }
}

/* One pass: poll each waiter that is dirty, past its deadline or gone.
 * The callbacks run without the lock (they query the index); only this
 * thread removes waiters, so x stays valid meanwhile. */
static void serve(struct watch *w, bool all_final)
{
    int64_t now = watch_now_ms();

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct waiter *x = NULL;
        bool final = false;
        for (struct waiter *y = w->list; y; y = y->next) {
            final = all_final || y->gone || y->deadline_ms <= now;
            if (final || y->dirty) {
                x = y;
                break;
            }
        }
        if (!x)
            break;
        x->dirty = false;
        pthread_mutex_unlock(&w->lock);
        bool done = x->ops->poll(x->arg, final) || final;
        pthread_mutex_lock(&w->lock);
        if (done) {
            unlink_waiter(w, x);
            pthread_mutex_unlock(&w->lock);
            x->ops->resume(x->arg);
            free(x);
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
}

static void *run_thread(void *arg)
{
    struct watch *w = arg;
    struct pollfd *fds = calloc(WATCHERS_MAX + 1, sizeof(*fds));
    struct waiter **who = calloc(WATCHERS_MAX + 1, sizeof(*who));

    if (!fds || !who) {
        log_error("watch: out of memory; long polls answer at their deadline only");
        free(fds);
        free(who);
        fds = NULL;
        who = NULL;
    }
    for (;;) {
        nfds_t n = 0;
        int timeout = -1;
        int64_t now = watch_now_ms();

        pthread_mutex_lock(&w->lock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        if (fds) {
            fds[n].fd = w->efd;
            fds[n].events = POLLIN;
            who[n++] = NULL;
        }
        for (struct waiter *x = w->list; x; x = x->next) {
            int64_t left = x->deadline_ms - now;
            if (x->dirty || left <= 0)
                left = 0;
            if (timeout < 0 || left < timeout)
                timeout = (int)(left > 60000 ? 60000 : left);
            if (fds && x->fd >= 0 && !x->gone && n <= WATCHERS_MAX) {
                fds[n].fd = x->fd;
                fds[n].events = POLLRDHUP; /* not POLLIN: a pipelined request is not a hang-up */
                who[n++] = x;
            }
        }
        pthread_mutex_unlock(&w->lock);

        if (!fds) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        } else if (poll(fds, n, timeout) > 0) {
            if (fds[0].revents & POLLIN) {
                uint64_t v;
                ssize_t got = read(w->efd, &v, sizeof(v));
                (void)got;
            }
            pthread_mutex_lock(&w->lock);
            for (nfds_t i = 1; i < n; i++) {
                if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                    who[i]->gone = true; /* still listed: only this thread unlinks */
            }
            pthread_mutex_unlock(&w->lock);
        }
        serve(w, false);
    }
    serve(w, true); /* shutdown: answer everyone */
    free(fds);
    free(who);
    return NULL;
}

int watch_new(struct watch **out)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        int r = -errno;
        pthread_mutex_destroy(&w->lock);
        free(w);
        return r;
    }
    int r = pthread_create(&w->thread, NULL, run_thread, w);
    if (r == 0)
        pthread_setname_np(w->thread, "ckptd-watch");
    if (r != 0) {
        close(w->efd);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -r;
    }
    w->started = true;
    *out = w;
    return 0;
}

int watch_add(struct watch *w, const char *run, int fd, int64_t deadline_ms,
              const struct watch_ops *ops, void *arg)
{
    struct waiter *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    strncpy(x->run, run, RUN_NAME_MAX);
    x->fd = fd;
    x->deadline_ms = deadline_ms;
    x->dirty = true;
    x->ops = ops;
    x->arg = arg;
    pthread_mutex_lock(&w->lock);
    int r = w->stopping ? -ESHUTDOWN : w->count >= WATCHERS_MAX ? -EAGAIN : 0;
    if (r == 0) {
        x->next = w->list;
        w->list = x;
        w->count++;
    }
    pthread_mutex_unlock(&w->lock);
    if (r < 0)
        free(x);
    else
        wake(w);
    return r;
}

void watch_notify(struct watch *w, const char *run)
{
    bool any = false;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    for (struct waiter *x = w->list; x; x = x->next) {
        if (strcmp(x->run, run) == 0)
            x->dirty = any = true;
    }
    pthread_mutex_unlock(&w->lock);
    if (any)
        wake(w);
}

void watch_shutdown(struct watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    bool join = w->started;
    w->stopping = true;
    w->started = false;
    pthread_mutex_unlock(&w->lock);
    if (join) {
        wake(w);
        pthread_join(w->thread, NULL);
    }
}

void watch_free(struct watch *w)
{
    if (!w)
        return;
    watch_shutdown(w);
    close(w->efd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
