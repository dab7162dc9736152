/*
 * watch.h - long polls: requests parked (suspended) until a checkpoint is
 * committed to their run, their wait ends, their client hangs up, or the
 * server stops. One thread serves them all; commits wake it at once.
 */
#ifndef CKPTD_WATCH_H
#define CKPTD_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct watch;

/* poll(arg, final) answers a parked request: with final false it may set
 * the reply and return true (done) or return false (keep waiting); with
 * final true (wait over, client gone, shutdown) it must set a reply. On
 * true the watcher is forgotten and resume(arg) is called, outside every
 * lock of this module. */
struct watch_ops {
    bool (*poll)(void *arg, bool final);
    void (*resume)(void *arg);
};

/* Start the watch thread. 0 or a negative errno. */
int watch_new(struct watch **out);

/* Park arg (already suspended) for run until deadline_ms (CLOCK_MONOTONIC
 * milliseconds); fd is its socket (-1: unknown), watched for a hang-up.
 * The watch thread calls ops->poll once at once (a commit may have landed
 * between the caller's check and this call), then after each commit to
 * run. -ESHUTDOWN once watch_shutdown began, -EAGAIN with WATCHERS_MAX
 * parked, -ENOMEM: then the caller still owns arg and must answer it. */
int watch_add(struct watch *w, const char *run, int fd, int64_t deadline_ms,
              const struct watch_ops *ops, void *arg);

/* A checkpoint of run was committed: wake its watchers. Thread-safe,
 * cheap, never blocks on the watchers' queries. NULL w is a no-op. */
void watch_notify(struct watch *w, const char *run);

/* Answer every parked request (final), refuse new ones, and stop the
 * thread. Idempotent; NULL is a no-op. */
void watch_shutdown(struct watch *w);

/* Shut down if needed and free; NULL is a no-op. */
void watch_free(struct watch *w);

/* CLOCK_MONOTONIC in milliseconds, the clock of deadlines. */
int64_t watch_now_ms(void);

#endif
