/*
 * server.h - libmicrohttpd set-up, per-request state, and an orderly stop.
 */
#ifndef CKPTD_SERVER_H
#define CKPTD_SERVER_H

#include <stdint.h>

#include "access_log.h"
#include "app.h"

struct server;

struct server_config {
    const char *host; /* numeric or resolvable; IPv6 without brackets */
    uint16_t port;    /* 0: any free port */
    unsigned threads; /* event threads */
    unsigned max_uploads; /* concurrent uploads before 503 */
    unsigned header_timeout_s;     /* headers must arrive within this */
    unsigned rate_window_s;        /* upload bodies must move ... */
    uint64_t min_upload_rate;      /* ... this many bytes/s per window */
    enum log_format log_format;    /* access log lines: JSON (0, default) or common */
};

/* Listen and serve app. *port gets the bound port. Returns 0, or a
 * negative errno after logging why. */
int server_start(struct app *app, const struct server_config *cfg, struct server **out,
                 uint16_t *port);

/* Stop accepting at once, give in-flight requests grace_s seconds, finish
 * queued commits, then close every connection (aborted uploads leave
 * nothing) and free the server. */
void server_stop(struct server *srv, unsigned grace_s);

#endif
