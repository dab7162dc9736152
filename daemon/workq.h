/*
 * workq.h - a small pool of threads for blocking work (fsync, rename, index
 * writes) that must not run on libmicrohttpd's event threads.
 */
#ifndef CKPTD_WORKQ_H
#define CKPTD_WORKQ_H

struct workq;

/* Start n threads named name (at most 15 bytes, as ps and top show it).
 * Returns 0 or a negative errno. */
int workq_new(unsigned n, const char *name, struct workq **out);

/* Queue fn(arg). -ESHUTDOWN once workq_drain has begun: the caller still
 * owns arg. -ENOMEM when out of memory. */
int workq_submit(struct workq *q, void (*fn)(void *arg), void *arg);

/* Refuse new work, run everything already queued, and join the threads. */
void workq_drain(struct workq *q);

/* Drain if needed and free; NULL is a no-op. */
void workq_free(struct workq *q);

#endif
