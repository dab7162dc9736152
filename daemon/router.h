/*
 * router.h - the table of method + path pattern -> handler.
 */
#ifndef CKPTD_ROUTER_H
#define CKPTD_ROUTER_H

#include <stddef.h>

#include "request.h"

struct route {
    unsigned methods;    /* enum method bits; GET implies HEAD */
    const char *pattern; /* "/v1/runs/:run/checkpoints"; ":run", ":id" and ":name" capture */
    /* Requests with a body (uploads): begin runs on the headers, before any
     * body byte is accepted; body gets each piece (a negative return closes
     * the connection). */
    void (*begin)(struct request *req);
    int (*body)(struct request *req, const char *data, size_t len);
    /* Runs once the whole request is in; sets the reply (or suspends). */
    void (*handle)(struct request *req);
};

/* Find the route for req's method and decoded path segments, setting
 * req->route and the captured arguments. Otherwise sets a 404 not_found
 * or 405 method_not_allowed reply (with Allow) and leaves req->route NULL. */
void router_match(struct request *req);

/* The token role route needs when it differs from the default by method
 * (GET read, PUT/POST write, DELETE admin), else 0: readers take and
 * release leases. */
unsigned router_role(const struct route *route);

#endif
