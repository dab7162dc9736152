/*
 * workq.c - a mutex + condition variable job queue; see workq.h.
 */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
    void (*fn)(void *arg);
    void *arg;
    struct job *next;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    bool stopping, joined;
    unsigned n_threads;
    pthread_t *threads;
};

static void *worker(void *p)
{
    struct workq *q = p;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        struct job *j = q->head;
        if (!j)
            break; /* stopping and nothing left */
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int workq_new(unsigned n, const char *name, struct workq **out)
{
    struct workq *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->threads = calloc(n, sizeof(*q->threads));
    if (!q->threads) {
        workq_free(q);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        int r = pthread_create(&q->threads[i], NULL, worker, q);
        if (r != 0) {
            workq_free(q);
            return -r;
        }
        pthread_setname_np(q->threads[i], name);
        q->n_threads++;
    }
    *out = q;
    return 0;
}

int workq_submit(struct workq *q, void (*fn)(void *arg), void *arg)
{
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        free(j);
        return -ESHUTDOWN;
    }
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_mutex_unlock(&q->lock);
    /* After the unlock, so the woken worker does not at once block on the
     * lock still held here (1 KiB uploads, 16 clients: the queue's lock
     * and condition variable were a fifth of the daemon's CPU samples). */
    pthread_cond_signal(&q->cond);
    return 0;
}

void workq_drain(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->cond);
    bool joined = q->joined;
    q->joined = true;
    pthread_mutex_unlock(&q->lock);
    if (joined)
        return;
    for (unsigned i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
}

void workq_free(struct workq *q)
{
    if (!q)
        return;
    workq_drain(q);
    free(q->threads);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}
