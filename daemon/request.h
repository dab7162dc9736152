/*
 * request.h - per-request state, shared by the server (libmicrohttpd glue),
 * the router and the API handlers. Allocated when the request line arrives,
 * released in one place when the request completes or is aborted.
 */
#ifndef CKPTD_REQUEST_H
#define CKPTD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "ckpt_limits.h"
#include "parse.h"

struct MHD_Connection;
struct MHD_Response;
struct server;
struct app;
struct upload;
struct route;

enum method { M_GET = 1, M_HEAD = 2, M_PUT = 4, M_POST = 8, M_DELETE = 16, M_OTHER = 32 };

enum phase {
    PHASE_NEW,       /* nothing seen but the request target */
    PHASE_BODY,      /* headers handled; body pieces may follow */
    PHASE_SUSPENDED, /* blocking work runs on a worker thread */
    PHASE_REPLY,     /* a response is ready to queue */
};

struct request {
    struct server *srv;
    struct app *app;
    struct MHD_Connection *conn;
    enum phase phase;
    enum method method;

    char *raw_uri;          /* the request target exactly as received */
    const char *raw_uri_at; /* where libmicrohttpd holds it (see begin) */
    char *buf;              /* decoded path segments and query parameters */
    const char *segs[PATH_SEGMENTS_MAX];
    size_t n_segs;
    struct query_param params[QUERY_PARAMS_MAX];
    size_t n_params;

    const struct route *route;
    const char *arg_run; /* captured path parameters, decoded */
    const char *arg_id;
    const char *arg_name; /* ":name": an alias name or a lease id */

    char *body; /* small JSON bodies (policy, alias), NUL-terminated */
    size_t body_len;

    bool chunked, has_length;
    bool reject_now; /* a refusal must go out before any body byte */
    uint64_t content_length;

    struct upload *upload;         /* owned; discarded on abort */
    bool counted_upload;           /* holds one of the server's upload slots */
    unsigned char upload_addr[16]; /* the client address it is counted under */

    bool authenticated;      /* false: the server is open (no tokens) */
    struct auth_grant grant; /* what the token may do, when authenticated */

    unsigned status;
    struct MHD_Response *response; /* owned until queued */

    /* For the access log and /metrics. */
    int64_t start_ns;      /* CLOCK_MONOTONIC when the request line arrived */
    char method_text[16];  /* the method as sent (cut at 15 bytes) */
    char version[16];      /* "HTTP/1.1" */
    uint64_t bytes_in;     /* body bytes received */
    uint64_t reply_len;    /* body bytes of the reply set (0 for HEAD on queueing) */
    bool queued;           /* a response was handed to libmicrohttpd */
    int64_t checkpoint_id; /* the checkpoint the request was about; 0: none */
};

/* A request header's value, or NULL. Valid for the request's lifetime. */
const char *request_header(struct request *req, const char *name);

enum upload_slot {
    UPLOAD_SLOT_OK,
    UPLOAD_SLOTS_FULL,         /* --max-uploads reached */
    UPLOAD_SLOTS_ADDRESS_FULL, /* --max-uploads-per-ip reached for this client */
};

/* Take one of the server's concurrent upload slots, released when the
 * request completes; the cap is both global and per client address. */
enum upload_slot request_upload_slot(struct request *req);

/* A trailer of a chunked request body, or NULL; set on the final call. */
const char *request_trailer(struct request *req, const char *name);

/* Suspend the connection so blocking work can finish on another thread;
 * that thread must set the reply and call request_resume exactly once. */
void request_suspend(struct request *req);

/* The connection's socket, for the long-poll watcher to notice a client
 * that hangs up while its request is suspended; -1 when unknown. */
int request_fd(struct request *req);
void request_resume(struct request *req);

#endif
