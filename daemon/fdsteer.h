/*
 * fdsteer.h - choose the libmicrohttpd worker for an accepted connection.
 *
 * libmicrohttpd's thread pool gives a connection added with
 * MHD_add_connection to worker (its descriptor mod the number of workers),
 * or the next one with room. Descriptor numbers alone spread connections
 * badly: an upload opens a temp file between two accepts, so the next
 * connection's number skips one. The accept thread therefore picks the
 * worker holding the fewest connections and moves the descriptor to a
 * number that lands there.
 */
#ifndef CKPTD_FDSTEER_H
#define CKPTD_FDSTEER_H

#include <stdatomic.h>

/* The index in counts[0..n) of the smallest count, searching from the one
 * after *last so that ties rotate; stores it in *last. */
unsigned fdsteer_least_loaded(const atomic_int *counts, unsigned n, unsigned *last);

/* fd, or a duplicate of it (close-on-exec) whose number mod n is want,
 * with fd and every other duplicate closed. When no such number turns up
 * within a few tries (or descriptors run out), fd itself, unchanged. */
int fdsteer_move(int fd, unsigned want, unsigned n);

#endif
