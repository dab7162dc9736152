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
    const char *host;            /* numeric or resolvable; IPv6 without brackets */
    uint16_t port;               /* 0: any free port */
    unsigned threads;            /* event threads */
    unsigned max_uploads;        /* concurrent uploads before 503 */
    unsigned max_uploads_per_ip; /* the same from one client address; 0: max_uploads */
    unsigned header_timeout_s;   /* headers must arrive within this */
    unsigned rate_window_s;      /* upload bodies must move ... */
    uint64_t min_upload_rate;    /* ... this many bytes/s per window */
    enum log_format log_format;  /* access log lines: JSON (0, default) or common */
    /* HTTPS: both NULL for plain HTTP, else the PEM certificate chain and
     * private key (see tls.h), borrowed: they must outlive the server. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

/* Listen and serve app. *port gets the bound port. Returns 0, or a
 * negative errno after logging why. */
int server_start(struct app *app, const struct server_config *cfg, struct server **out,
                 uint16_t *port);

/* Apply new limits (max_uploads, header_timeout_s, rate_window_s,
 * min_upload_rate; the other fields are ignored) to a running server.
 * Open connections stay; each limit is atomic, so a request may see some
 * old and some new ones for a moment. Thread-safe. */
void server_reconfigure(struct server *srv, const struct server_config *cfg);

/* Stop accepting at once, give in-flight requests grace_s seconds, finish
 * queued commits, then close every connection (aborted uploads leave
 * nothing) and free the server. */
void server_stop(struct server *srv, unsigned grace_s);

#endif
