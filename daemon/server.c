/*
 * server.c - the libmicrohttpd glue: the listening socket and the thread
 * that accepts on it, request state from the first byte of the request line
 * to the completion callback, header hygiene, dispatch to the router, and
 * the stop sequence the libmicrohttpd 0.9.75 notes call for.
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "app.h"
#include "fdsteer.h"
#include "log.h"
#include "request.h"
#include "respond.h"
#include "router.h"
#include "tls.h"
#include "upload.h"
#include "watch.h"

/* What the watchdog knows of one TCP connection. */
enum conn_state {
    CONN_WAITING, /* awaiting a request's headers (new or keep-alive) */
    CONN_BODY,    /* receiving an upload body */
    CONN_BUSY,    /* headers in, body (if any) done: being answered */
};

struct conn_watch {
    struct conn_watch *prev, *next;
    MHD_socket fd;
    unsigned worker; /* fd mod threads: the worker libmicrohttpd gives it to, unless full */
    enum conn_state state;
    int64_t since_ms;        /* when the state began */
    int64_t window_start_ms; /* CONN_BODY: the current rate window */
    atomic_uint_fast64_t window_bytes;
    bool cut;        /* the watchdog shut the socket down */
    char remote[64]; /* numeric client address (IPv6 with a scope fits), for the access log */
};

/* Uploads in progress from one client address. */
struct upload_addr {
    unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    unsigned count;         /* 0: a free slot */
};

struct server {
    struct MHD_Daemon *mhd;
    struct app *app;
    int listen_fd;   /* ours: the accept thread hands connections to mhd */
    int accept_stop; /* eventfd: server_stop ends the accept thread */
    atomic_bool accept_stopping;
    pthread_t acceptor;
    bool acceptor_started;
    unsigned threads;         /* libmicrohttpd's worker threads */
    atomic_int *worker_conns; /* [threads]: open connections each holds (on_connection) */
    atomic_int inflight;      /* requests begun and not yet completed */
    atomic_int uploads;       /* uploads between begin and completion */
    atomic_int handed_off;    /* requests suspended for a worker, not yet completed */
    /* Limits SIGHUP may change (server_reconfigure) while threads read. */
    _Atomic unsigned max_uploads, max_uploads_per_ip;
    _Atomic int64_t header_timeout_ms, rate_window_ms;
    _Atomic uint64_t min_upload_rate;
    enum log_format log_format;
    pthread_mutex_t upload_lock;      /* upload_addrs */
    struct upload_addr *upload_addrs; /* CONNECTION_LIMIT slots: addresses with uploads */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_wake;  /* server_stop wakes the watchdog (CLOCK_MONOTONIC) */
    struct conn_watch *watched; /* every open connection */
    pthread_t watchdog;
    bool watchdog_started;
    atomic_bool stopping;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void watch_set(struct server *srv, struct MHD_Connection *conn, enum conn_state state)
{
    struct conn_watch *w = watch_of(conn);
    if (!w)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    w->state = state;
    w->since_ms = w->window_start_ms = mono_ms();
    atomic_store(&w->window_bytes, 0);
    pthread_mutex_unlock(&srv->watch_lock);
}

/* The client's numeric address, or "-". */
static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    snprintf(out, size, "-");
    if (ci && ci->client_addr) {
        socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST))
            snprintf(out, size, "-");
    }
}

/* Writable again only once fewer than SEND_LOWAT bytes wait unsent, so a
 * download keeps a short unsent queue topped up rather than most of the
 * send buffer. Over loopback the client is the bottleneck, and with this
 * it spends less of its time on our socket's wakeups and transmits (perf
 * of curl: __wake_up 3.5% -> 1.9%); see SEND_LOWAT for the speeds. Best
 * effort: without it only the speed differs. */
static void set_send_lowat(MHD_socket fd)
{
    int v = SEND_LOWAT;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
}

/* Connection start and end: keep the watch list in step. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct server *srv = cls;
    struct conn_watch *w = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            set_send_lowat(ci->connect_fd);
        w = calloc(1, sizeof(*w));
        if (!w || !ci) {
            free(w);
            return;
        }
        w->fd = ci->connect_fd;
        w->worker = (unsigned)w->fd % srv->threads;
        atomic_fetch_add(&srv->worker_conns[w->worker], 1);
        w->state = CONN_WAITING;
        client_address(conn, w->remote, sizeof(w->remote));
        w->since_ms = mono_ms();
        pthread_mutex_lock(&srv->watch_lock);
        w->next = srv->watched;
        if (w->next)
            w->next->prev = w;
        srv->watched = w;
        pthread_mutex_unlock(&srv->watch_lock);
        *socket_context = w;
    } else if (w) {
        atomic_fetch_sub(&srv->worker_conns[w->worker], 1);
        pthread_mutex_lock(&srv->watch_lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            srv->watched = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&srv->watch_lock);
        free(w);
        *socket_context = NULL;
    }
}

/* libmicrohttpd's inactivity timeout does not stop a client that trickles
 * its headers or body a byte at a time. Once a period this thread shuts
 * down the socket of any connection that takes longer than
 * --header-timeout for its headers, or moves an upload slower than
 * --min-upload-rate over a window; libmicrohttpd then sees the socket fail
 * and closes the connection itself (an unfinished upload is discarded). */
static void *watchdog(void *arg)
{
    struct server *srv = arg;
    struct timespec next;

    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&srv->watch_lock);
    while (!atomic_load(&srv->stopping)) {
        next.tv_nsec += WATCHDOG_PERIOD_MS * 1000000L;
        next.tv_sec += next.tv_nsec / 1000000000L;
        next.tv_nsec %= 1000000000L;
        while (!atomic_load(&srv->stopping) &&
               pthread_cond_timedwait(&srv->watch_wake, &srv->watch_lock, &next) != ETIMEDOUT)
            ;
        if (atomic_load(&srv->stopping))
            break;
        int64_t now = mono_ms();
        for (struct conn_watch *w = srv->watched; w; w = w->next) {
            const char *why = NULL;
            if (w->cut)
                continue;
            if (w->state == CONN_WAITING && now - w->since_ms > srv->header_timeout_ms) {
                why = "no complete request headers";
            } else if (w->state == CONN_BODY && now - w->window_start_ms >= srv->rate_window_ms) {
                uint64_t bytes = atomic_exchange(&w->window_bytes, 0);
                if (bytes * 1000 < srv->min_upload_rate * (uint64_t)srv->rate_window_ms)
                    why = "upload slower than the minimum rate";
                w->window_start_ms = now;
            }
            if (why) {
                w->cut = true;
                shutdown(w->fd, SHUT_RDWR);
                log_info("closing a connection: %s", why);
            }
        }
    }
    pthread_mutex_unlock(&srv->watch_lock);
    return NULL;
}

/* The client's address as 16 bytes, IPv4 mapped into IPv6. */
static bool client_addr16(struct MHD_Connection *conn, unsigned char out[16])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

/* The slot of addr in the table, or a free one, or NULL. Caller holds
 * upload_lock. Every address in the table has an upload, and there are
 * never more than CONNECTION_LIMIT (the most --max-uploads can be, even
 * after a reload), so a free slot exists whenever the total is below the
 * cap. */
static struct upload_addr *upload_addr_slot(struct server *srv, const unsigned char addr[16])
{
    struct upload_addr *free_slot = NULL;
    for (unsigned i = 0; i < CONNECTION_LIMIT; i++) {
        struct upload_addr *a = &srv->upload_addrs[i];
        if (a->count && memcmp(a->addr, addr, 16) == 0)
            return a;
        if (!a->count && !free_slot)
            free_slot = a;
    }
    return free_slot;
}

enum upload_slot request_upload_slot(struct request *req)
{
    struct server *srv = req->srv;
    enum upload_slot r = UPLOAD_SLOT_OK;
    struct upload_addr *a;

    if (!client_addr16(req->conn, req->upload_addr))
        memset(req->upload_addr, 0, sizeof(req->upload_addr));
    pthread_mutex_lock(&srv->upload_lock);
    if ((unsigned)atomic_load(&srv->uploads) >= atomic_load(&srv->max_uploads)) {
        r = UPLOAD_SLOTS_FULL;
    } else {
        a = upload_addr_slot(srv, req->upload_addr);
        if (!a || a->count >= atomic_load(&srv->max_uploads_per_ip)) {
            r = UPLOAD_SLOTS_ADDRESS_FULL;
        } else {
            if (!a->count)
                memcpy(a->addr, req->upload_addr, 16);
            a->count++;
            atomic_fetch_add(&srv->uploads, 1);
            req->counted_upload = true;
            metric_add(srv->app->uploads_in_flight, 1);
        }
    }
    pthread_mutex_unlock(&srv->upload_lock);
    return r;
}

static void release_upload_slot(struct server *srv, struct request *req)
{
    pthread_mutex_lock(&srv->upload_lock);
    struct upload_addr *a = upload_addr_slot(srv, req->upload_addr);
    if (a && a->count && memcmp(a->addr, req->upload_addr, 16) == 0)
        a->count--;
    atomic_fetch_sub(&srv->uploads, 1);
    pthread_mutex_unlock(&srv->upload_lock);
    req->counted_upload = false;
    metric_add(srv->app->uploads_in_flight, -1);
}

const char *request_header(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *request_trailer(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_FOOTER_KIND, name);
}

void request_suspend(struct request *req)
{
    atomic_fetch_add(&req->srv->handed_off, 1);
    req->phase = PHASE_SUSPENDED;
    MHD_suspend_connection(req->conn);
}

int request_fd(struct request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

void request_resume(struct request *req)
{
    req->phase = PHASE_REPLY;
    MHD_resume_connection(req->conn);
}

/* Called by libmicrohttpd with the raw request target, before it decodes
 * (and, for %00, truncates) it; the return value becomes the request's
 * state pointer. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct server *srv = cls;
    struct request *req = calloc(1, sizeof(*req));

    (void)conn;
    if (!req)
        return NULL;
    req->raw_uri_at = uri;
    req->srv = srv;
    req->app = srv->app;
    req->start_ns = mono_ns();
    req->raw_uri = strndup(uri, RAW_URI_MAX + 1);
    if (!req->raw_uri) {
        free(req);
        return NULL;
    }
    atomic_fetch_add(&srv->inflight, 1);
    return req;
}

static void request_free(struct request *req)
{
    if (req->upload && req->upload->claimed)
        store_space_release(req->app->store, req->upload->claimed);
    upload_free(req->upload);
    if (req->response)
        MHD_destroy_response(req->response);
    free(req->buf);
    free(req->body);
    free(req->raw_uri);
    free(req);
}

static enum metrics_method metrics_method_of(enum method m)
{
    switch (m) {
    case M_GET: return MM_GET;
    case M_HEAD: return MM_HEAD;
    case M_PUT: return MM_PUT;
    case M_POST: return MM_POST;
    case M_DELETE: return MM_DELETE;
    case M_OTHER: break;
    }
    return MM_OTHER;
}

static const char *outcome_of(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "aborted";
    }
    return "error";
}

/* Count the request in /metrics and write its access-log line. */
static void account(struct server *srv, struct MHD_Connection *conn, struct request *req,
                    enum MHD_RequestTerminationCode toe)
{
    /* Formatted once per connection, not per request. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_watch *w = ci ? ci->socket_context : NULL;
    char remote[64];
    struct timespec now;
    unsigned status = req->queued ? req->status : 0;
    int64_t ns = mono_ns() - req->start_ns;
    double ms = (double)ns / 1e6;
    size_t route = req->route ? router_index(req->route) : router_lookup(req);

    metrics_request(srv->app->metrics, route, metrics_method_of(req->method), status, req->bytes_in,
                    req->reply_len, ms / 1000.0);
    if (!w)
        client_address(conn, remote, sizeof(remote)); /* its conn_watch failed to allocate */
    clock_gettime(CLOCK_REALTIME, &now);
    struct access_entry e = {
        .time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
        .remote = w ? w->remote : remote,
        .token_id = req->authenticated ? req->grant.token_id : NULL,
        .method = req->method_text,
        .path = req->raw_uri,
        .version = req->version,
        .status = status,
        .bytes_in = req->bytes_in,
        .bytes_out = req->reply_len,
        .duration_us = ns > 0 ? (uint64_t)(ns + 500) / 1000 : 0,
        .checkpoint_id = req->checkpoint_id,
        .outcome = outcome_of(toe),
    };
    char *line = access_log_format(srv->log_format, &e);
    if (line)
        log_access(line);
    free(line);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct request *req = *con_cls;

    if (!req)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && req->upload)
        log_info("upload to run '%s' aborted after %llu bytes (code %d); nothing stored",
                 req->upload->meta.run, (unsigned long long)req->upload->received, (int)toe);
    account(srv, conn, req, toe);
    if (req->counted_upload)
        release_upload_slot(srv, req);
    if (req->phase == PHASE_SUSPENDED || req->phase == PHASE_REPLY)
        atomic_fetch_sub(&srv->handed_off, 1);
    watch_set(srv, conn, CONN_WAITING);
    request_free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static enum method method_of(const char *m)
{
    static const struct {
        const char *name;
        enum method m;
    } methods[] = {
        {"GET", M_GET}, {"HEAD", M_HEAD}, {"PUT", M_PUT}, {"POST", M_POST}, {"DELETE", M_DELETE}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].m;
    }
    return M_OTHER;
}

struct framing {
    bool space_before_colon;
    const char *bad_name; /* a header name that is not an RFC 9110 token */
    const char *folded;   /* a header name an obs-fold line was glued onto */
    const char *nul_in;   /* a header whose value hid a NUL byte */
    const char *prev_end; /* the end of the previous header's value */
    const char *prev_key;
    unsigned hosts;
    unsigned content_lengths;
    bool differing_lengths;
    const char *first_length;
    unsigned transfer_encodings;
};

/* RFC 9110 5.6.2: tchar. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    }
    return true;
}

/* Headers whose meaning ckptd or libmicrohttpd acts on. libmicrohttpd
 * 0.9.75 glues an obs-fold continuation line ("Content-Length: 5" CRLF
 * " x") onto the header's NAME ("Content-Lengthx"), so the header silently
 * disappears: for Content-Length that turns the body into a second
 * request. A name that starts with one of these and goes on is refused. */
static const char *const watched_headers[] = {
    "Content-Length", "Transfer-Encoding",
    "Host",           "Authorization",
    "Expect",         "Connection",
    "Trailer",        "Range",
    "If-Range",       "If-Match",
    "If-None-Match",  "Content-Digest",
    "Repr-Digest",    "X-Checkpoint-SHA256",
};

static bool is_folded(const char *key, size_t klen)
{
    for (size_t i = 0; i < sizeof(watched_headers) / sizeof(watched_headers[0]); i++) {
        size_t n = strlen(watched_headers[i]);
        if (klen > n && strncasecmp(key, watched_headers[i], n) == 0)
            return true;
    }
    return false;
}

/* libmicrohttpd 0.9.75 keeps each header line in its read buffer, in
 * order, with the CR LF ending it overwritten by NULs, and measures names
 * and values with strlen: a NUL inside a value silently cuts it ("3<NUL>
 * 99" reads as "3"). Between the end of one value and the start of the
 * next name there are therefore only the one or two NULs that were the
 * line end; anything else there is the rest of a value cut by a NUL. */
static bool hides_nul(const char *end, const char *next)
{
    if (next <= end || next - end > HEADER_LINE_MAX)
        return false; /* not laid out as expected: no evidence either way */
    for (const char *p = end; p < next; p++) {
        if (*p)
            return true;
    }
    return false;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    struct framing *f = cls;
    size_t klen = strlen(key);
    (void)kind;
    (void)key_size;
    (void)value_size; /* 0.9.75 measures them with strlen: a NUL cuts both */
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        f->hosts++;
    /* "Content-Length : 5" reaches us as a header named "Content-Length ":
     * the body's length would be ignored and the body read as a request. */
    if (klen == 0 || key[klen - 1] == ' ' || key[klen - 1] == '\t')
        f->space_before_colon = true;
    else if (!f->bad_name && !is_token(key))
        f->bad_name = key;
    if (!f->folded && is_folded(key, klen))
        f->folded = key;
    if (!f->nul_in && f->prev_end && hides_nul(f->prev_end, key))
        f->nul_in = f->prev_key;
    f->prev_end = value + strlen(value);
    f->prev_key = key;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->content_lengths++ && strcmp(f->first_length, value) != 0)
            f->differing_lengths = true;
        else
            f->first_length = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
    }
    return MHD_YES;
}

/* Message framing libmicrohttpd 0.9.75 accepts but must not: a body length
 * given twice, or both ways, is how requests get smuggled. */
static bool check_framing(struct request *req)
{
    struct framing f = {0};
    const char *te, *cl;

    /* Whatever goes wrong here, the body's extent is unknown: the reply
     * goes out at once and the connection closes after it. */
    req->reject_now = true;
    MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.hosts > 1) {
        respond_error(req, E_BAD_REQUEST, "more than one Host header");
        return false;
    }
    if (f.space_before_colon) {
        respond_error(req, E_BAD_REQUEST, "whitespace between a header name and its colon");
        return false;
    }
    /* The last header line is followed by the empty line: after its
     * value's end come only NULs (CR LF, CR LF) unless a NUL cut it. */
    if (!f.nul_in && f.prev_end && f.prev_end[1])
        f.nul_in = f.prev_key;
    if (f.nul_in) {
        respond_error(req, E_BAD_REQUEST, "a NUL byte in the value of header '%s'", f.nul_in);
        return false;
    }
    if (f.folded) {
        respond_error(req, E_BAD_REQUEST,
                      "header '%s' is a header continued on the next line (obs-fold), which "
                      "is not accepted",
                      f.folded);
        return false;
    }
    if (f.bad_name) {
        respond_error(req, E_BAD_REQUEST, "malformed header name (a continuation line?)");
        return false;
    }
    if (f.content_lengths > 1 || f.transfer_encodings > 1 ||
        (f.content_lengths && f.transfer_encodings)) {
        respond_error(req, E_BAD_REQUEST,
                      "message framing is ambiguous: send one Content-Length or "
                      "Transfer-Encoding: chunked");
        return false;
    }
    te = request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    cl = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (te) {
        req->chunked = strcasecmp(te, "chunked") == 0;
        if (!req->chunked) {
            respond_error(req, E_NOT_IMPLEMENTED,
                          "Transfer-Encoding '%s' is not supported; only chunked is", te);
            return false;
        }
    }
    if (cl) {
        int64_t v;
        if (parse_u63(cl, &v) < 0) {
            respond_error(req, E_BAD_REQUEST, "malformed Content-Length");
            return false;
        }
        req->has_length = true;
        req->content_length = (uint64_t)v;
    }
    req->reject_now = req->chunked || req->content_length > 0;
    return true;
}

/* Decode the raw target into path segments and query parameters. */
static bool parse_target(struct request *req)
{
    const char *uri = req->raw_uri;
    const char *q = strchr(uri, '?');
    size_t path_len = q ? (size_t)(q - uri) : strlen(uri);
    int r;

    if (strlen(uri) > RAW_URI_MAX) {
        respond_error(req, E_BAD_REQUEST, "request target longer than %d bytes", RAW_URI_MAX);
        req->reject_now = true; /* and close, as for every malformed request */
        return false;
    }
    req->buf = malloc(2 * strlen(uri) + 2);
    if (!req->buf) {
        respond_error(req, E_UNAVAILABLE, NULL);
        return false;
    }
    r = parse_path(uri, path_len, req->buf, req->segs, PATH_SEGMENTS_MAX, &req->n_segs);
    if (r == -E2BIG) {
        respond_error(req, E_NOT_FOUND, "no such endpoint");
        return false;
    }
    if (r < 0) {
        /* An escape that decodes to '/', NUL or a control character would
         * let a name mean something else than what libmicrohttpd shows. */
        if (strncmp(uri, "/v1/runs/", 9) == 0)
            respond_error(
                req, E_INVALID_RUN_NAME,
                "invalid run name: encoded '/', NUL and control characters are not allowed");
        else
            respond_error(req, E_BAD_REQUEST, "malformed request path");
        return false;
    }
    if (q) {
        char *qbuf = req->buf + path_len + 1;
        r = parse_query(q + 1, qbuf, req->params, QUERY_PARAMS_MAX, &req->n_params);
        if (r < 0) {
            respond_error(req, E_INVALID_PARAMETER,
                          r == -E2BIG
                              ? "too many query parameters"
                              : "malformed query string (bad %%-escape or control character)");
            return false;
        }
    }
    return true;
}

/* Once any token exists, every route but the probes /healthz and /readyz
 * needs one (/metrics included). Checked on
 * the first call, so a refused upload sends no 100 Continue and no body. */
static bool authenticate(struct request *req)
{
    const union MHD_ConnectionInfo *ci;
    enum auth_result r;

    if (req->n_segs == 1 &&
        (strcmp(req->segs[0], "healthz") == 0 || strcmp(req->segs[0], "readyz") == 0))
        return true;
    ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r = auth_check(req->app->auth, request_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
                   ci ? ci->client_addr : NULL, &req->grant);
    switch (r) {
    case AUTH_OPEN: return true;
    case AUTH_OK: req->authenticated = true; return true;
    case AUTH_MISSING:
    case AUTH_BAD:
        respond_error(req, E_UNAUTHORIZED,
                      r == AUTH_MISSING
                          ? "this server requires a token: Authorization: Bearer ID.SECRET"
                          : "the token is malformed, unknown or revoked");
        respond_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"ckptd\"");
        return false;
    case AUTH_THROTTLED:
        respond_error(req, E_TOO_MANY_REQUESTS, NULL);
        respond_header(req, MHD_HTTP_HEADER_RETRY_AFTER, "60");
        return false;
    case AUTH_ERROR: break;
    }
    respond_error(req, E_UNAVAILABLE, "cannot check the token: the index does not answer");
    return false;
}

/* Whether the token's role and run scope allow this request. Routes that
 * name a checkpoint by id check the scope once they know its run. */
static bool authorize(struct request *req)
{
    static const char *const role_names[] = {"", "read", "write", "admin"};
    enum role need = ROLE_READ;

    if (!req->authenticated)
        return true;
    if (req->method == M_PUT || req->method == M_POST)
        need = ROLE_WRITE;
    else if (req->method == M_DELETE)
        need = ROLE_ADMIN;
    if (req->n_segs >= 2 && strcmp(req->segs[0], "v1") == 0 && strcmp(req->segs[1], "admin") == 0)
        need = ROLE_ADMIN; /* every method under /v1/admin/ */
    else if (router_role(req->route))
        need = (enum role)router_role(req->route);
    if (req->grant.role < need) {
        respond_error(req, E_FORBIDDEN, "a token with role %s may not do this; it needs role %s",
                      role_names[req->grant.role], role_names[need]);
        return false;
    }
    if (req->arg_run && !auth_covers_run(&req->grant, req->arg_run)) {
        respond_error(req, E_FORBIDDEN, "this token only covers runs starting with '%s'",
                      req->grant.run_prefix);
        return false;
    }
    return true;
}

/* First call: headers are in, no body byte has been accepted. */
static void begin(struct request *req, const char *method, const char *version)
{
    req->method = method_of(method);
    req->phase = PHASE_BODY;
    /* The request line sits in libmicrohttpd's buffer as METHOD NUL
     * TARGET NUL VERSION; a NUL inside the target cut what we were given
     * short, and the rest of it lies between its end and the version. */
    size_t uri_len = strlen(req->raw_uri);
    if (uri_len <= RAW_URI_MAX && hides_nul(req->raw_uri_at + uri_len, version)) {
        respond_error(req, E_BAD_REQUEST, "a NUL byte in the request target");
        req->reject_now = true;
        return;
    }
    if (!check_framing(req))
        return;
    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty
     * framing (1.0 has no chunked coding): refuse and close. */
    if (strcmp(version, MHD_HTTP_VERSION_1_0) == 0 && req->chunked) {
        respond_error(req, E_BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 request");
        req->reject_now = true;
        return;
    }
    /* RFC 9112: an HTTP/1.1 request without Host is a 400. We check it
     * here rather than with MHD_OPTION_STRICT_FOR_CLIENT, whose own 400 in
     * 0.9.75 sends its status line and headers twice. */
    if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !request_header(req, MHD_HTTP_HEADER_HOST)) {
        respond_error(req, E_BAD_REQUEST, "an HTTP/1.1 request needs a Host header");
        req->reject_now = true;
        return;
    }
    if (!parse_target(req) || !authenticate(req))
        return;
    router_match(req);
    if (!req->route || !authorize(req))
        return;
    if (req->route->begin)
        req->route->begin(req);
}

static enum MHD_Result queue(struct request *req)
{
    struct MHD_Response *resp = req->response;
    if (!resp)
        return MHD_NO;
    req->response = NULL;
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    req->queued = ret == MHD_YES;
    if (req->method == M_HEAD || req->status == 204 || req->status == 304)
        req->reply_len = 0; /* headers only */
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct request *req = *con_cls;

    (void)cls;
    (void)url; /* decoded and truncated at %00: we route on the raw URI */
    if (!req)
        return MHD_NO;
    req->conn = conn;

    if (req->phase == PHASE_NEW) {
        snprintf(req->method_text, sizeof(req->method_text), "%s", method);
        snprintf(req->version, sizeof(req->version), "%s", version);
        begin(req, method, version);
        watch_set(req->srv, conn, req->upload ? CONN_BODY : CONN_BUSY);
        /* Answer a refused upload now: no 100 Continue goes out and the
         * client sends no body. Bodiless requests wait for the final call
         * so that the connection can stay open. */
        if (req->response && req->reject_now)
            return queue(req);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        req->bytes_in += len;
        if (req->response || !req->route || !req->route->body)
            return MHD_YES; /* a body nobody asked for: drop it */
        struct conn_watch *w = watch_of(conn);
        if (w)
            atomic_fetch_add(&w->window_bytes, len);
        return req->route->body(req, upload_data, len) < 0 ? MHD_NO : MHD_YES;
    }
    if (req->phase == PHASE_SUSPENDED)
        return MHD_YES;
    if (req->upload)
        watch_set(req->srv, conn, CONN_BUSY);
    if (req->phase == PHASE_BODY && !req->response && req->route) {
        req->route->handle(req);
        if (req->phase == PHASE_SUSPENDED)
            return MHD_YES;
    }
    if (!req->response)
        respond_error(req, E_INTERNAL, NULL);
    return queue(req);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) LOG_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_info("http: %s", msg);
}

/* The TLS part of the libmicrohttpd options, as an MHD_OPTION_ARRAY of at
 * most 4 items (END-terminated; just END for plain HTTP). Under TLS
 * libmicrohttpd cannot use sendfile: blob responses are read and encrypted
 * in user space instead, correct but costlier (see the notes on TLS). */
static void tls_options(const struct server_config *cfg, struct MHD_OptionItem items[4],
                        unsigned *flags)
{
    size_t n = 0;

    if (cfg->tls_cert_pem && cfg->tls_key_pem) {
        *flags |= MHD_USE_TLS;
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                             (void *)(uintptr_t)cfg->tls_key_pem};
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                             (void *)(uintptr_t)cfg->tls_cert_pem};
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                             (void *)(uintptr_t)TLS_PRIORITIES};
    }
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

/* The listening socket, as libmicrohttpd would make it: SO_REUSEADDR, IPv6
 * only for an IPv6 address, the system's largest backlog; non-blocking, so
 * the accept thread never waits in accept for a client that went away. */
static int listen_on(const struct addrinfo *ai, int *out)
{
    int one = 1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

/* accept(2) errors that belong to one client (it went away, its network
 * did, or a firewall rule refused it: EPERM); Linux reports them from
 * accept, and the next call may succeed. */
static bool transient_accept_error(int e)
{
    switch (e) {
    case ECONNABORTED:
    case EINTR:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: return true;
    default: return false;
    }
}

/* The accept thread. Left to its own listening socket, every libmicrohttpd
 * worker polled it and whichever woke first took the connection: 64
 * connections opened at once (wrk -c64, 4 threads) landed 7 to 26 per
 * worker, and the clients of the busiest worker waited longest. Handing
 * them over with MHD_add_connection put each on worker (descriptor mod
 * threads), but uploads open a temp file between accepts, so descriptor
 * numbers skip: 16 uploads started at once landed 9 and 7 on 2 workers in
 * the round looked at, and the workers' CPU time over a round differed up
 * to 3.5 times (1.21 against 0.34 s). Now each goes to the worker
 * holding the fewest connections (fdsteer.h). MHD_add_connection also applies
 * the connection limits (it closes the socket when one is reached, or on
 * any failure). */
static void *acceptor(void *arg)
{
    struct server *srv = arg;
    struct pollfd p[2] = {{.fd = srv->listen_fd, .events = POLLIN},
                          {.fd = srv->accept_stop, .events = POLLIN}};
    int64_t last_complaint_ms = 0;
    unsigned last = srv->threads - 1;

    /* The flag, not only the eventfd: a stream of connections would keep
     * the loop from ever polling. */
    while (!atomic_load(&srv->accept_stopping)) {
        int waiting = 0;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd =
            accept4(srv->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* A worker counts a connection once it has taken it up; in a
             * burst the counts lag, and ties rotate among the workers. */
            fd = fdsteer_move(fd, fdsteer_least_loaded(srv->worker_conns, srv->threads, &last),
                              srv->threads);
            (void)MHD_add_connection(srv->mhd, fd, (struct sockaddr *)&ss, len);
            continue;
        }
        if (transient_accept_error(errno))
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            /* Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
             * clients wait in the backlog until closing connections make
             * room; try again every 100 ms, and say so every 10 s. */
            if (mono_ms() - last_complaint_ms >= 10000) {
                log_error("cannot accept a connection: %s", strerror(errno));
                last_complaint_ms = mono_ms();
            }
            waiting = 1; /* the listening socket stays readable: wait on stop alone */
        }
        if (poll(p + waiting, 2 - (nfds_t)waiting, waiting ? 100 : -1) < 0 && errno != EINTR)
            log_error("accept thread: poll: %s", strerror(errno));
        if (p[1].revents)
            break;
    }
    return NULL;
}

/* The port fd is bound to (the one the system chose for port 0). */
static uint16_t bound_port(int fd, uint16_t fallback)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } a;
    socklen_t len = sizeof(a);

    memset(&a, 0, sizeof(a));
    if (getsockname(fd, &a.sa, &len) < 0)
        return fallback;
    return ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in.sin_port);
}

/* Free what server_start made; its threads are stopped, or never ran. */
static void server_free(struct server *srv)
{
    if (srv->accept_stop >= 0)
        close(srv->accept_stop);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    pthread_cond_destroy(&srv->watch_wake);
    pthread_mutex_destroy(&srv->watch_lock);
    pthread_mutex_destroy(&srv->upload_lock);
    free(srv->upload_addrs);
    free(srv->worker_conns);
    free(srv);
}

int server_start(struct app *app, const struct server_config *cfg, struct server **out,
                 uint16_t *port)
{
    struct MHD_OptionItem tls_items[4];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[8];
    struct server *srv;
    int r;

    snprintf(portstr, sizeof(portstr), "%u", cfg->port);
    r = getaddrinfo(cfg->host, portstr, &hints, &ai);
    if (r != 0) {
        log_error("cannot resolve listen address '%s': %s", cfg->host, gai_strerror(r));
        return -EINVAL;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        freeaddrinfo(ai);
        return -ENOMEM;
    }
    srv->app = app;
    srv->max_uploads = cfg->max_uploads;
    srv->max_uploads_per_ip = cfg->max_uploads_per_ip ? cfg->max_uploads_per_ip : cfg->max_uploads;
    srv->threads = cfg->threads;
    srv->upload_addrs = calloc(CONNECTION_LIMIT, sizeof(*srv->upload_addrs));
    srv->worker_conns = calloc(cfg->threads, sizeof(*srv->worker_conns));
    if (!srv->upload_addrs || !srv->worker_conns) {
        free(srv->upload_addrs);
        free(srv->worker_conns);
        free(srv);
        freeaddrinfo(ai);
        return -ENOMEM;
    }
    pthread_mutex_init(&srv->upload_lock, NULL);
    srv->header_timeout_ms = (int64_t)cfg->header_timeout_s * 1000;
    srv->rate_window_ms = (int64_t)cfg->rate_window_s * 1000;
    srv->min_upload_rate = cfg->min_upload_rate;
    srv->log_format = cfg->log_format;
    pthread_mutex_init(&srv->watch_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->watch_wake, &ca);
    pthread_condattr_destroy(&ca);
    srv->listen_fd = srv->accept_stop = -1;
    r = listen_on(ai, &srv->listen_fd);
    freeaddrinfo(ai);
    if (r < 0) {
        log_error("cannot listen on %s:%u: %s", cfg->host, cfg->port, strerror(-r));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
    tls_options(cfg, tls_items, &flags);
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_ARRAY, tls_items, MHD_OPTION_END);
    if (!srv->mhd) {
        log_error("cannot start the HTTP server%s",
                  (flags & MHD_USE_TLS) ? " (the TLS certificate, key or priorities were "
                                          "refused: see above)"
                                        : "");
        r = -EINVAL;
        goto fail;
    }
    if ((srv->accept_stop = eventfd(0, EFD_CLOEXEC)) < 0 ||
        pthread_create(&srv->acceptor, NULL, acceptor, srv) != 0) {
        log_error("cannot start the accept thread");
        MHD_stop_daemon(srv->mhd);
        r = -EAGAIN;
        goto fail;
    }
    srv->acceptor_started = true;
    pthread_setname_np(srv->acceptor, "ckptd-accept"); /* as MHD names its own "MHD-worker" */
    if (pthread_create(&srv->watchdog, NULL, watchdog, srv) == 0) {
        pthread_setname_np(srv->watchdog, "ckptd-watchdog");
        srv->watchdog_started = true;
    } else
        log_error("cannot start the connection watchdog; slow clients are not cut");
    *port = bound_port(srv->listen_fd, cfg->port);
    *out = srv;
    return 0;
fail:
    server_free(srv);
    return r;
}

/* Stop accepting: clients connecting from now on are refused at once, and
 * those still in the backlog are reset (rather than left waiting). */
static void stop_accepting(struct server *srv)
{
    uint64_t one = 1;

    if (srv->acceptor_started) {
        atomic_store(&srv->accept_stopping, true);
        ssize_t n = write(srv->accept_stop, &one, sizeof(one));
        (void)n; /* an eventfd write of 1 fails only on overflow */
        pthread_join(srv->acceptor, NULL);
        srv->acceptor_started = false;
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
}

void server_reconfigure(struct server *srv, const struct server_config *cfg)
{
    atomic_store(&srv->max_uploads, cfg->max_uploads);
    atomic_store(&srv->max_uploads_per_ip,
                 cfg->max_uploads_per_ip ? cfg->max_uploads_per_ip : cfg->max_uploads);
    atomic_store(&srv->header_timeout_ms, (int64_t)cfg->header_timeout_s * 1000);
    atomic_store(&srv->rate_window_ms, (int64_t)cfg->rate_window_s * 1000);
    atomic_store(&srv->min_upload_rate, cfg->min_upload_rate);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait until no request is in flight, for at most ms milliseconds. */
static void wait_idle(struct server *srv, long ms)
{
    for (long waited = 0; atomic_load(&srv->inflight) > 0 && waited < ms; waited += 20)
        sleep_ms(20);
}

void server_stop(struct server *srv, unsigned grace_s)
{
    if (!srv)
        return;
    stop_accepting(srv);
    watch_shutdown(srv->app->watch); /* long polls end now, not at the grace's end */
    wait_idle(srv, (long)grace_s * 1000);
    /* Commits already queued finish and resume their connections; uploads
     * that end from now on are refused with 503. Nothing stays suspended,
     * which MHD_stop_daemon would not survive. */
    workq_drain(srv->app->workq);
    /* Only the requests the workers resumed get their answer out now; the
     * transfers still running past the grace period are aborted below. */
    for (int waited = 0; atomic_load(&srv->handed_off) > 0 && waited < 2000; waited += 20)
        sleep_ms(20);
    if (atomic_load(&srv->inflight) > 0)
        log_info("aborting %d request(s) still in flight", atomic_load(&srv->inflight));
    MHD_stop_daemon(srv->mhd);
    pthread_mutex_lock(&srv->watch_lock);
    atomic_store(&srv->stopping, true);
    pthread_cond_signal(&srv->watch_wake);
    pthread_mutex_unlock(&srv->watch_lock);
    if (srv->watchdog_started)
        pthread_join(srv->watchdog, NULL);
    server_free(srv);
}
