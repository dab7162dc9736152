/*
 * ckpt.c - libckpt's API: requests, retries with backoff, integrity
 * checks, resumable downloads, and the server's JSON turned into structs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "jparse.h"

#define URL_MAX 8192
#define BACKOFF_CAP_MS 30000

const char *ckpt_strerror(ckpt_err code)
{
    switch (code) {
    case CKPT_OK: return "success";
    case CKPT_E_INVALID_ARG: return "invalid argument";
    case CKPT_E_NOMEM: return "out of memory";
    case CKPT_E_IO: return "local file error";
    case CKPT_E_NETWORK: return "network failure";
    case CKPT_E_SERVER: return "server failure";
    case CKPT_E_NOT_FOUND: return "checkpoint not found";
    case CKPT_E_REFUSED: return "request refused by the server";
    case CKPT_E_AUTH: return "not authorized";
    case CKPT_E_INTEGRITY: return "integrity check failed";
    case CKPT_E_PROTOCOL: return "unexpected answer from the server";
    case CKPT_E_ABORTED: return "aborted";
    case CKPT_E_PRECONDITION: return "precondition failed";
    }
    return "unknown error";
}

/* ---- client and errors --------------------------------------------------- */

ckpt_client *ckpt_client_new(const char *base_url, const char *token)
{
    ckpt_client *c;
    size_t len;

    if (!base_url || (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base_url = strdup(base_url);
    if (!c->base_url)
        goto fail;
    len = strlen(c->base_url);
    while (len > 0 && c->base_url[len - 1] == '/')
        c->base_url[--len] = '\0';
    if (token) {
        size_t n = strlen(token) + sizeof("Authorization: Bearer ");
        c->auth_header = malloc(n);
        if (!c->auth_header)
            goto fail;
        snprintf(c->auth_header, n, "Authorization: Bearer %s", token);
    }
    c->connect_ms = 10000;
    c->stall_ms = 60000;
    c->max_retries = 5;
    c->backoff_ms = 200;
    c->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
    if (ckpt_http_client_init(c) < 0)
        goto fail;
    return c;
fail:
    ckpt_client_free(c);
    return NULL;
}

void ckpt_client_free(ckpt_client *c)
{
    if (!c)
        return;
    ckpt_http_client_cleanup(c);
    if (c->auth_header) {
        /* The token is a secret: do not leave it in freed memory. */
        volatile char *p = c->auth_header;
        while (*p)
            *p++ = 0;
    }
    free(c->auth_header);
    free(c->base_url);
    free(c->ca_file);
    free(c);
}

const char *ckpt_client_last_error(const ckpt_client *c)
{
    return c ? c->last_error : "no client";
}

const char *ckpt_client_last_error_code(const ckpt_client *c)
{
    return c ? c->last_code : "";
}

long ckpt_client_last_http_status(const ckpt_client *c)
{
    return c ? c->last_status : 0;
}

ckpt_err ckpt_client_set_timeouts(ckpt_client *c, long connect_ms, long stall_ms)
{
    if (!c || connect_ms <= 0 || stall_ms <= 0)
        return CKPT_E_INVALID_ARG;
    c->connect_ms = connect_ms;
    c->stall_ms = stall_ms;
    return CKPT_OK;
}

ckpt_err ckpt_client_set_retries(ckpt_client *c, unsigned max_retries, long base_ms)
{
    if (!c || base_ms < 0)
        return CKPT_E_INVALID_ARG;
    c->max_retries = max_retries;
    c->backoff_ms = base_ms;
    return CKPT_OK;
}

ckpt_err ckpt_client_set_progress(ckpt_client *c, ckpt_progress_fn fn, void *userdata)
{
    if (!c)
        return CKPT_E_INVALID_ARG;
    c->progress = fn;
    c->progress_ud = userdata;
    return CKPT_OK;
}

ckpt_err ckpt_client_set_header_digest(ckpt_client *c, int on)
{
    if (!c)
        return CKPT_E_INVALID_ARG;
    c->header_digest = on != 0;
    return CKPT_OK;
}

ckpt_err ckpt_client_set_ca_file(ckpt_client *c, const char *path)
{
    char *copy = NULL;

    if (!c)
        return CKPT_E_INVALID_ARG;
    if (path && !(copy = strdup(path)))
        return CKPT_E_NOMEM;
    free(c->ca_file);
    c->ca_file = copy;
    return CKPT_OK;
}

static ckpt_err fail(ckpt_client *c, ckpt_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ckpt_err fail(ckpt_client *c, ckpt_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    return e;
}

/* A refusal decided here, before any request: it carries the code the
 * server would have answered with, so callers match on one set of codes. */
static ckpt_err refuse(ckpt_client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ckpt_err refuse(ckpt_client *c, const char *code, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->last_error, sizeof(c->last_error), "%s: ", code);
    va_start(ap, fmt);
    vsnprintf(c->last_error + n, sizeof(c->last_error) - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(c->last_code, sizeof(c->last_code), "%s", code);
    return CKPT_E_INVALID_ARG;
}

static void clear_error(ckpt_client *c)
{
    c->last_error[0] = c->last_code[0] = '\0';
    c->last_status = 0;
}

/* The error a non-2xx answer means; last_error gets "code: message". */
static ckpt_err status_error(ckpt_client *c, const struct http_response *rs)
{
    struct jnode *root = NULL;
    const char *code = "", *message = "";
    ckpt_err e;

    if (rs->body && ckpt_jparse(rs->body, rs->body_len, &root) == 0) {
        const struct jnode *err = ckpt_jparse_get(root, "error");
        const struct jnode *jc = ckpt_jparse_get(err, "code"), *jm = ckpt_jparse_get(err, "message");
        if (jc && jc->type == JT_STRING)
            code = jc->str;
        if (jm && jm->type == JT_STRING)
            message = jm->str;
    }
    snprintf(c->last_code, sizeof(c->last_code), "%s", code);
    if (*code)
        snprintf(c->last_error, sizeof(c->last_error), "%s: %s", code, message);
    else
        snprintf(c->last_error, sizeof(c->last_error), "HTTP status %ld", rs->status);
    ckpt_jparse_free(root);

    if (strcmp(c->last_code, "digest_mismatch") == 0 ||
        strcmp(c->last_code, "checkpoint_corrupt") == 0)
        e = CKPT_E_INTEGRITY;
    else if (rs->status == 412)
        e = CKPT_E_PRECONDITION;
    else if (rs->status == 401 || rs->status == 403)
        e = CKPT_E_AUTH;
    else if (rs->status == 404)
        e = CKPT_E_NOT_FOUND;
    else if (rs->status >= 400 && rs->status < 500)
        e = CKPT_E_REFUSED;
    else if (rs->status >= 500)
        e = CKPT_E_SERVER;
    else
        e = CKPT_E_PROTOCOL;
    return e;
}

/* ---- names, numbers, URLs ------------------------------------------------ */

static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return false;
    }
    return true;
}

struct url {
    char buf[URL_MAX];
    size_t len;
    bool overflow;
    bool has_query;
};

static void url_add(struct url *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void url_add(struct url *u, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (u->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(u->buf + u->len, sizeof(u->buf) - u->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(u->buf) - u->len)
        u->overflow = true;
    else
        u->len += (size_t)n;
}

/* Add "?key=value" or "&key=value"; value is escaped. */
static void url_param(struct url *u, const char *key, const char *value)
{
    char esc[1024];
    if (ckpt_http_escape(value, esc, sizeof(esc)) < 0) {
        u->overflow = true;
        return;
    }
    url_add(u, "%c%s=%s", u->has_query ? '&' : '?', key, esc);
    u->has_query = true;
}

static void url_param_i64(struct url *u, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, v);
    url_param(u, key, num);
}

static void url_param_double(struct url *u, const char *key, double v)
{
    char num[40];
    snprintf(num, sizeof(num), "%.17g", v); /* round-trips exactly */
    url_param(u, key, num);
}

/* ---- the request loop ---------------------------------------------------- */

/* How long to wait before retry number attempt + 1. */
static long backoff_wait_ms(ckpt_client *c, unsigned attempt)
{
    long ms = c->backoff_ms;
    for (unsigned i = 0; i < attempt && ms < BACKOFF_CAP_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_CAP_MS)
        ms = BACKOFF_CAP_MS;
    if (ms > 0)
        ms += (long)(rand_r(&c->seed) % (unsigned)(ms / 2 + 1));
    return ms;
}

static void backoff(ckpt_client *c, unsigned attempt)
{
    long ms = backoff_wait_ms(c, attempt);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Perform rq, retrying connection failures and 5xx answers while the body
 * can be sent again. CKPT_OK means an answer below 500 is in *rs (the
 * caller judges its status); otherwise last_error says what failed. */
static ckpt_err perform(ckpt_client *c, const struct http_request *rq, struct http_response *rs,
                        unsigned *attempts)
{
    for (unsigned attempt = 0;; attempt++) {
        int r = ckpt_http_perform(c, rq, rs);
        bool can_retry = attempt < c->max_retries;
        if (attempts)
            *attempts = attempt + 1;
        c->last_status = rs->status;
        if (rq->body && rq->body->kind == BODY_STREAM && rq->body->pos > 0)
            can_retry = false; /* the stream's bytes are gone */
        if (r < 0 && rs->permanent)
            can_retry = false;
        if (r < 0 && rs->aborted)
            return fail(c, CKPT_E_ABORTED, "%s", rs->error);
        if (r < 0 || rs->status >= 500) {
            ckpt_err e;
            if (r < 0)
                e = fail(c, CKPT_E_NETWORK, "%s", rs->error);
            else
                e = status_error(c, rs);
            if (!can_retry) {
                if (attempt > 0) {
                    size_t n = strlen(c->last_error);
                    snprintf(c->last_error + n, sizeof(c->last_error) - n, " (after %u attempts)",
                             attempt + 1);
                }
                return e;
            }
            ckpt_http_response_release(rs);
            backoff(c, attempt);
            continue;
        }
        return CKPT_OK;
    }
}

/* ---- JSON to structs ----------------------------------------------------- */

static char *dup_str(const struct jnode *n)
{
    return n && n->type == JT_STRING ? strdup(n->str) : NULL;
}

static bool get_int(const struct jnode *obj, const char *key, int *has, int64_t *out)
{
    const struct jnode *n = ckpt_jparse_get(obj, key);
    if (!n)
        return false;
    if (n->type == JT_NULL) {
        if (has)
            *has = 0;
        return has != NULL;
    }
    if (n->type != JT_NUMBER || !n->is_int)
        return false;
    if (has)
        *has = 1;
    *out = n->i;
    return true;
}

static bool get_double(const struct jnode *obj, const char *key, int *has, double *out)
{
    const struct jnode *n = ckpt_jparse_get(obj, key);
    if (!n)
        return false;
    if (n->type == JT_NULL) {
        *has = 0;
        return true;
    }
    if (n->type != JT_NUMBER)
        return false;
    *has = 1;
    *out = n->num;
    return true;
}

static void info_release(ckpt_info *in)
{
    for (size_t i = 0; i < in->n_metrics; i++)
        free((char *)in->metrics[i].name);
    free(in->metrics);
    free(in->run);
    free(in->created_at);
    memset(in, 0, sizeof(*in));
}

void ckpt_info_free(ckpt_info *info)
{
    if (!info)
        return;
    info_release(info);
    free(info);
}

/* Fill *in from a checkpoint object. */
static ckpt_err info_from_json(ckpt_client *c, const struct jnode *o, ckpt_info *in)
{
    const struct jnode *sha = ckpt_jparse_get(o, "sha256"), *metrics = ckpt_jparse_get(o, "metrics");
    int64_t size = 0;
    int has;

    memset(in, 0, sizeof(*in));
    in->run = dup_str(ckpt_jparse_get(o, "run"));
    in->created_at = dup_str(ckpt_jparse_get(o, "created_at"));
    if (!get_int(o, "id", NULL, &in->id) || !get_int(o, "epoch", &in->has_epoch, &in->epoch) ||
        !get_int(o, "step", &in->has_step, &in->step) ||
        !get_double(o, "loss", &in->has_loss, &in->loss) || !get_int(o, "size", NULL, &size) ||
        size < 0 || !sha || sha->type != JT_STRING || sha->str_len != 64 || !in->run ||
        !in->created_at || !metrics || metrics->type != JT_OBJECT)
        goto bad;
    in->size = (uint64_t)size;
    memcpy(in->sha256, sha->str, 65);
    const struct jnode *corrupt = ckpt_jparse_get(o, "corrupt");
    in->corrupt = corrupt && corrupt->type == JT_BOOL && corrupt->b;
    for (const struct jnode *m = metrics->child; m; m = m->next)
        in->n_metrics++;
    if (in->n_metrics) {
        in->metrics = calloc(in->n_metrics, sizeof(*in->metrics));
        if (!in->metrics)
            goto nomem;
    }
    size_t i = 0;
    for (const struct jnode *m = metrics->child; m; m = m->next, i++) {
        if (m->type != JT_NUMBER)
            goto bad;
        in->metrics[i].name = strdup(m->key);
        if (!in->metrics[i].name)
            goto nomem;
        in->metrics[i].value = m->num;
    }
    (void)has;
    return CKPT_OK;
bad:
    info_release(in);
    return fail(c, CKPT_E_PROTOCOL, "the server's checkpoint description is malformed");
nomem:
    info_release(in);
    return fail(c, CKPT_E_NOMEM, "out of memory");
}

/* Parse a whole answer body as one checkpoint into *out (may be NULL). */
static ckpt_err info_from_body(ckpt_client *c, const struct http_response *rs, ckpt_info **out)
{
    struct jnode *root;
    ckpt_info *in;
    ckpt_err e;

    if (!rs->body || ckpt_jparse(rs->body, rs->body_len, &root) < 0)
        return fail(c, CKPT_E_PROTOCOL, "the server's answer is not valid JSON");
    if (!(in = malloc(sizeof(*in)))) {
        ckpt_jparse_free(root);
        return fail(c, CKPT_E_NOMEM, "out of memory");
    }
    e = info_from_json(c, root, in);
    ckpt_jparse_free(root);
    if (e != CKPT_OK) {
        free(in);
        return e;
    }
    if (out)
        *out = in;
    else
        ckpt_info_free(in);
    return CKPT_OK;
}

/* GET url and parse a checkpoint from the 200 answer. */
static ckpt_err get_info(ckpt_client *c, const char *url, ckpt_info **out)
{
    struct http_request rq = {.method = "GET", .url = url};
    struct http_response rs;
    ckpt_err e = perform(c, &rq, &rs, NULL);

    if (e == CKPT_OK)
        e = rs.status == 200 ? info_from_body(c, &rs, out) : status_error(c, &rs);
    ckpt_http_response_release(&rs);
    return e;
}

/* ---- push ---------------------------------------------------------------- */

static ckpt_err push_url(ckpt_client *c, const ckpt_meta *m, struct url *u)
{
    if (!m || !valid_name(m->run))
        return refuse(c, "invalid_run_name",
                      "run name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    if ((m->has_epoch && m->epoch < 0) || (m->has_step && m->step < 0))
        return refuse(c, "invalid_parameter", "epoch and step must be non-negative");
    if (m->has_loss && !isfinite(m->loss))
        return refuse(c, "invalid_parameter", "loss must be a finite number");
    if (m->n_metrics && !m->metrics)
        return fail(c, CKPT_E_INVALID_ARG, "metrics is NULL");
    url_add(u, "%s/v1/runs/%s/checkpoints", c->base_url, m->run);
    if (m->has_epoch)
        url_param_i64(u, "epoch", m->epoch);
    if (m->has_step)
        url_param_i64(u, "step", m->step);
    if (m->has_loss)
        url_param_double(u, "loss", m->loss);
    for (size_t i = 0; i < m->n_metrics; i++) {
        char key[160];
        if (!valid_name(m->metrics[i].name))
            return refuse(c, "invalid_parameter",
                          "metric name '%s' must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}",
                        m->metrics[i].name ? m->metrics[i].name : "(null)");
        if (!isfinite(m->metrics[i].value))
            return refuse(c, "invalid_parameter", "metric '%s' must be a finite number",
                        m->metrics[i].name);
        snprintf(key, sizeof(key), "metric.%s", m->metrics[i].name);
        url_param_double(u, key, m->metrics[i].value);
    }
    if (u->overflow)
        return fail(c, CKPT_E_INVALID_ARG, "too much metadata for one request");
    return CKPT_OK;
}

static ckpt_err push(ckpt_client *c, const ckpt_meta *meta, struct http_body *body,
                     const char *digest_hex, ckpt_info **out)
{
    struct url u = {0};
    char digest_header[100], size_header[64];
    struct http_request rq = {.method = "PUT", .body = body, .progress = true};
    struct http_response rs;
    ckpt_err e;

    if ((e = push_url(c, meta, &u)) != CKPT_OK)
        return e;
    rq.url = u.buf;
    rq.headers[0] = "Content-Type: application/octet-stream";
    if (digest_hex) {
        snprintf(digest_header, sizeof(digest_header), "X-Checkpoint-SHA256: %s", digest_hex);
        rq.headers[1] = digest_header;
    } else if (body->fd_hash) {
        /* Chunked, but of a known size: the server refuses at once (413,
         * 507) what it would otherwise cut off after --max-upload bytes. */
        snprintf(size_header, sizeof(size_header), "X-Checkpoint-Size: %" PRIu64, body->size);
        rq.headers[1] = size_header;
    }
    e = perform(c, &rq, &rs, NULL);
    if (e == CKPT_OK) {
        if (rs.status == 201) {
            ckpt_info *in = NULL;
            e = info_from_body(c, &rs, &in);
            /* The server hashed what it received; it must be what we meant
             * (the digest sent in a header, or else in the trailer). */
            if (!digest_hex && body->trailer_hex[0])
                digest_hex = body->trailer_hex;
            if (e == CKPT_OK && digest_hex && strcmp(in->sha256, digest_hex) != 0) {
                e = fail(c, CKPT_E_INTEGRITY, "the server stored SHA-256 %s, not %s", in->sha256,
                         digest_hex);
                ckpt_info_free(in);
                in = NULL;
            }
            /* libcurl's last progress call may predate the last bytes: end
             * with the exact count, once the server has it all. */
            if (e == CKPT_OK && c->progress)
                c->progress(c->progress_ud, body->pos, body->pos);
            if (out)
                *out = in;
            else
                ckpt_info_free(in);
        } else {
            e = status_error(c, &rs);
        }
    }
    ckpt_http_response_release(&rs);
    return e;
}

static ckpt_err hash_fd(ckpt_client *c, int fd, const char *path, uint64_t *size, char hex[65])
{
    struct sha_ctx *h = ckpt_sha_new();
    static const size_t bufsize = 1 << 20;
    char *buf = malloc(bufsize);
    uint64_t total = 0;
    ckpt_err e = CKPT_OK;

    if (!h || !buf) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = pread(fd, buf, bufsize, (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = fail(c, CKPT_E_IO, "cannot read '%s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        ckpt_sha_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    if (ckpt_sha_final_hex(h, hex) < 0)
        e = fail(c, CKPT_E_IO, "cannot compute SHA-256");
    *size = total;
out:
    ckpt_sha_free(h);
    free(buf);
    return e;
}

/* Whether the last answer says the trailer we sent did not reach the
 * server: a proxy on the way drops request trailers (nginx does). Servers
 * older than trailer_missing answered invalid_digest, which for an upload
 * whose only digest is our own well-formed trailer means the same. Never
 * digest_mismatch: bytes that did not match are not sent again. */
static bool trailer_dropped(const ckpt_client *c)
{
    return c->last_status == 400 &&
           (strcmp(c->last_code, "trailer_missing") == 0 || strcmp(c->last_code, "invalid_digest") == 0);
}

/* One pass: send the file chunked while a thread hashes the bytes sent (read
 * back from the page cache), and state the digest in a trailer, which the
 * server checks before it commits. *dropped is set when a proxy lost the
 * trailer (nothing was stored). */
static ckpt_err push_file_trailer(ckpt_client *c, const ckpt_meta *meta, int fd, uint64_t size,
                                  ckpt_info **out, bool *dropped)
{
    struct http_body body = {.kind = BODY_FD, .fd = fd, .size = size};
    ckpt_err e;

    *dropped = false;
    if (!(body.fd_hash = ckpt_fhash_new(fd, 0)))
        return fail(c, CKPT_E_NOMEM, "out of memory");
    e = push(c, meta, &body, NULL, out);
    ckpt_fhash_free(body.fd_hash);
    *dropped = e == CKPT_E_REFUSED && trailer_dropped(c);
    return e;
}

ckpt_err ckpt_push_file(ckpt_client *c, const ckpt_meta *meta, const char *path, ckpt_info **out)
{
    struct http_body body = {.kind = BODY_FD};
    char hex[65];
    ckpt_err e;
    uint64_t base;
    struct stat st;
    int fd;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!path)
        return fail(c, CKPT_E_INVALID_ARG, "path is NULL");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(c, CKPT_E_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!c->header_digest && fstat(fd, &st) == 0 && st.st_size > 0 &&
        ckpt_fhash_usable(fd, false, &base) && base == 0) {
        bool dropped;
        e = push_file_trailer(c, meta, fd, (uint64_t)st.st_size, out, &dropped);
        if (!dropped) {
            close(fd);
            return e;
        }
        /* Behind a proxy that drops trailers: say the digest up front from
         * now on, on this handle, and send this file again that way. */
        c->header_digest = true;
        clear_error(c);
    }
    e = hash_fd(c, fd, path, &body.size, hex);
    if (e == CKPT_OK) {
        body.fd = fd;
        e = push(c, meta, &body, hex, out);
    }
    close(fd);
    return e;
}

ckpt_err ckpt_push_buffer(ckpt_client *c, const ckpt_meta *meta, const void *buf, size_t len,
                          ckpt_info **out)
{
    struct http_body body = {.kind = BODY_BUFFER, .buf = buf, .size = len};
    struct sha_ctx *h;
    char hex[65];

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!buf && len)
        return fail(c, CKPT_E_INVALID_ARG, "buffer is NULL");
    if (!(h = ckpt_sha_new()))
        return fail(c, CKPT_E_NOMEM, "out of memory");
    ckpt_sha_update(h, buf, len);
    int r = ckpt_sha_final_hex(h, hex);
    ckpt_sha_free(h);
    if (r < 0)
        return fail(c, CKPT_E_IO, "cannot compute SHA-256");
    return push(c, meta, &body, hex, out);
}

ckpt_err ckpt_push_stream(ckpt_client *c, const ckpt_meta *meta, ckpt_read_fn read,
                          void *userdata, ckpt_info **out)
{
    struct http_body body = {.kind = BODY_STREAM, .read = read, .read_ud = userdata};
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!read)
        return fail(c, CKPT_E_INVALID_ARG, "read callback is NULL");
    if (!(body.stream_hash = ckpt_sha_new()))
        return fail(c, CKPT_E_NOMEM, "out of memory");
    /* No digest up front: it goes in the trailer (see http.c on_trailer). */
    e = push(c, meta, &body, NULL, out);
    ckpt_sha_free(body.stream_hash);
    return e;
}

/* ---- refs and pull -------------------------------------------------------- */

ckpt_ref ckpt_ref_id(int64_t id)
{
    ckpt_ref r = {.kind = CKPT_REF_ID, .id = id};
    return r;
}

ckpt_ref ckpt_ref_best(const char *run, const char *metric, int maximize)
{
    ckpt_ref r = {.kind = CKPT_REF_BEST, .run = run, .metric = metric, .maximize = maximize};
    return r;
}

ckpt_ref ckpt_ref_latest(const char *run)
{
    ckpt_ref r = {.kind = CKPT_REF_LATEST, .run = run};
    return r;
}

ckpt_ref ckpt_ref_alias(const char *run, const char *name)
{
    ckpt_ref r = {.kind = CKPT_REF_ALIAS, .run = run, .metric = name};
    return r;
}

ckpt_ref ckpt_ref_resume(const char *run)
{
    ckpt_ref r = {.kind = CKPT_REF_RESUME, .run = run};
    return r;
}

static ckpt_err ref_url(ckpt_client *c, const ckpt_ref *ref, struct url *u)
{
    if (!ref)
        return fail(c, CKPT_E_INVALID_ARG, "ref is NULL");
    switch (ref->kind) {
    case CKPT_REF_ID:
        if (ref->id <= 0)
            return refuse(c, "invalid_id", "checkpoint ids are positive");
        url_add(u, "%s/v1/checkpoints/%" PRId64, c->base_url, ref->id);
        return CKPT_OK;
    case CKPT_REF_BEST:
    case CKPT_REF_LATEST:
    case CKPT_REF_ALIAS:
    case CKPT_REF_RESUME:
        if (!valid_name(ref->run))
            return refuse(c, "invalid_run_name",
                          "run name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
        if (ref->kind == CKPT_REF_LATEST) {
            url_add(u, "%s/v1/runs/%s/latest", c->base_url, ref->run);
            return CKPT_OK;
        }
        if (ref->kind == CKPT_REF_RESUME) {
            url_add(u, "%s/v1/runs/%s/resume", c->base_url, ref->run);
            return CKPT_OK;
        }
        if (ref->kind == CKPT_REF_ALIAS) {
            if (!valid_name(ref->metric))
                return refuse(c, "invalid_alias_name",
                              "alias name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
            url_add(u, "%s/v1/runs/%s/aliases/%s", c->base_url, ref->run, ref->metric);
            return CKPT_OK;
        }
        if (ref->metric && !valid_name(ref->metric))
            return refuse(c, "invalid_parameter", "metric name '%s' is not valid", ref->metric);
        url_add(u, "%s/v1/runs/%s/best", c->base_url, ref->run);
        if (ref->metric)
            url_param(u, "metric", ref->metric);
        if (ref->maximize)
            url_param(u, "mode", "max");
        return CKPT_OK;
    }
    return fail(c, CKPT_E_INVALID_ARG, "unknown ref kind");
}

ckpt_err ckpt_get(ckpt_client *c, const ckpt_ref *ref, ckpt_info **out)
{
    struct url u = {0};
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = ref_url(c, ref, &u)) != CKPT_OK)
        return e;
    return get_info(c, u.buf, out);
}

/* Where downloaded bytes go. */
struct target {
    int fd;                  /* -1: the callback */
    ckpt_write_fn write;
    void *write_ud;
    bool restartable;        /* a temp file we may truncate and refill */
    struct sha_ctx *hash;    /* hashed here, as the bytes arrive; or */
    struct fhash *fh;        /* read back from fd and hashed on another thread */
    uint64_t got;            /* bytes delivered (and handed to the hash) */
    uint64_t expect_offset;  /* the offset this attempt's body must start at */
    bool started;            /* this attempt delivered its first byte */
    bool misplaced;          /* the body was not the range we asked for */
    int write_errno;
    struct http_response *rs;
};

static int target_write(void *ud, const char *buf, size_t len)
{
    struct target *t = ud;

    if (!t->started) {
        /* Check before the first byte lands that the server sends what we
         * asked for: the rest of the blob from expect_offset. */
        unsigned long long first = 0;
        t->started = true;
        if (t->expect_offset > 0 &&
            (t->rs->status != 206 ||
             sscanf(t->rs->content_range, "bytes %llu-", &first) != 1 || first != t->expect_offset)) {
            t->misplaced = true;
            return 1;
        }
    }
    if (t->fd >= 0) {
        const char *p = buf;
        size_t left = len;
        while (left) {
            ssize_t n = write(t->fd, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                t->write_errno = errno;
                return 1;
            }
            p += n;
            left -= (size_t)n;
        }
    } else if (t->write(t->write_ud, buf, len) != 0) {
        return 1;
    }
    t->got += len;
    if (t->fh)
        ckpt_fhash_advance(t->fh, t->got); /* now final in the file */
    else
        ckpt_sha_update(t->hash, buf, len);
    return 0;
}

/* Start over into a restartable target: empty it and reset the hash. */
static int target_restart(struct target *t)
{
    if (!t->restartable)
        return -1;
    /* Stop the hasher before the file shrinks under its reads. */
    if (t->fh && ckpt_fhash_start(t->fh) < 0)
        return -1;
    if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0)
        return -1;
    if (!t->fh) {
        ckpt_sha_free(t->hash);
        if (!(t->hash = ckpt_sha_new()))
            return -1;
    }
    t->got = 0;
    return 0;
}

/* Hash a regular file target on a thread of its own, which reads back what
 * was written while this one receives: the two run on two cores, and the
 * digest covers the bytes in the file itself. Other targets (a pipe, a
 * callback, a write-only fd) are hashed here as the bytes arrive. */
static int target_hash_init(struct target *t)
{
    uint64_t base;

    if (t->fd >= 0 && ckpt_fhash_usable(t->fd, true, &base) && (t->fh = ckpt_fhash_new(t->fd, base))) {
        if (ckpt_fhash_start(t->fh) == 0)
            return 0;
        ckpt_fhash_free(t->fh); /* no thread: hash inline instead */
        t->fh = NULL;
    }
    return (t->hash = ckpt_sha_new()) ? 0 : -ENOMEM;
}

/* The digest of the t->got bytes delivered. */
static ckpt_err target_digest(ckpt_client *c, struct target *t, char hex[65])
{
    int r = t->fh ? ckpt_fhash_final_hex(t->fh, t->got, hex) : ckpt_sha_final_hex(t->hash, hex);

    if (r < 0)
        return fail(c, t->fh ? CKPT_E_IO : CKPT_E_INTEGRITY, "cannot hash the received bytes: %s",
                    strerror(-r));
    return CKPT_OK;
}

/* Resolve ref, then fetch its bytes into t, resuming after interruptions,
 * and check length and SHA-256. */
static ckpt_err pull(ckpt_client *c, const ckpt_ref *ref, struct target *t, ckpt_info **out)
{
    ckpt_info *info = NULL;
    struct url u = {0};
    char range[64], if_range[100], hex[65];
    ckpt_err e;

    if ((e = ckpt_get(c, ref, &info)) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/checkpoints/%" PRId64 "/blob", c->base_url, info->id);
    if (target_hash_init(t) < 0) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned attempt = 0;; attempt++) {
        struct http_sink sink = {.write = target_write, .write_ud = t};
        struct http_request rq = {.method = "GET", .url = u.buf, .sink = &sink, .progress = true,
                                  .progress_base = t->got, .progress_total = info->size};
        struct http_response rs;
        size_t nh = 0;

        if (t->got > 0) {
            /* Resume: the rest, but only if the blob is still the same. */
            snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", t->got);
            snprintf(if_range, sizeof(if_range), "If-Range: \"%s\"", info->sha256);
            rq.headers[nh++] = range;
            rq.headers[nh++] = if_range;
        }
        t->expect_offset = t->got;
        t->started = false;
        t->misplaced = false;
        t->rs = &rs;
        int r = ckpt_http_perform(c, &rq, &rs);
        c->last_status = rs.status;
        if (t->misplaced) {
            ckpt_http_response_release(&rs);
            if (target_restart(t) < 0) {
                e = fail(c, CKPT_E_PROTOCOL, "the server did not resume the download");
                goto out;
            }
            if (attempt >= c->max_retries) {
                e = fail(c, CKPT_E_PROTOCOL, "the server did not resume the download");
                goto out;
            }
            continue;
        }
        if (r < 0 && t->write_errno) {
            e = fail(c, CKPT_E_IO, "cannot write the download: %s", strerror(t->write_errno));
            ckpt_http_response_release(&rs);
            goto out;
        }
        if (r < 0 && rs.aborted) {
            e = fail(c, CKPT_E_ABORTED, "%s", rs.error);
            ckpt_http_response_release(&rs);
            goto out;
        }
        if (r == 0 && rs.status != 200 && rs.status != 206 && rs.status < 500) {
            e = status_error(c, &rs);
            ckpt_http_response_release(&rs);
            goto out;
        }
        if (r == 0 && rs.status < 300 && rs.digest_hex[0] &&
            strcmp(rs.digest_hex, info->sha256) != 0) {
            e = fail(c, CKPT_E_INTEGRITY, "the server sent blob %s for checkpoint %" PRId64
                     " whose SHA-256 is %s", rs.digest_hex, info->id, info->sha256);
            ckpt_http_response_release(&rs);
            goto out;
        }
        if (r == 0 && rs.status < 300) {
            ckpt_http_response_release(&rs);
            break;
        }
        /* A broken connection or a 5xx: try again, from where it stopped. */
        if (r < 0)
            e = fail(c, CKPT_E_NETWORK, "%s", rs.error);
        else
            e = status_error(c, &rs);
        bool permanent = r < 0 && rs.permanent;
        ckpt_http_response_release(&rs);
        if (permanent)
            goto out;
        if (attempt >= c->max_retries) {
            size_t n = strlen(c->last_error);
            snprintf(c->last_error + n, sizeof(c->last_error) - n, " (after %u attempts)",
                     attempt + 1);
            goto out;
        }
        backoff(c, attempt);
    }
    if (t->got != info->size) {
        e = fail(c, CKPT_E_INTEGRITY, "received %" PRIu64 " bytes of a %" PRIu64 "-byte checkpoint",
                 t->got, info->size);
        goto out;
    }
    if ((e = target_digest(c, t, hex)) != CKPT_OK)
        goto out;
    if (strcmp(hex, info->sha256) != 0) {
        e = fail(c, CKPT_E_INTEGRITY, "received bytes have SHA-256 %s, the checkpoint has %s", hex,
                 info->sha256);
        goto out;
    }
    e = CKPT_OK;
    clear_error(c);
    c->last_status = 200;
    if (c->progress)
        c->progress(c->progress_ud, t->got, info->size);
out:
    ckpt_fhash_free(t->fh); /* stops it before the caller closes or unlinks fd */
    t->fh = NULL;
    ckpt_sha_free(t->hash);
    t->hash = NULL;
    if (e == CKPT_OK && out)
        *out = info;
    else
        ckpt_info_free(info);
    return e;
}

ckpt_err ckpt_pull_fd(ckpt_client *c, const ckpt_ref *ref, int fd, ckpt_info **out)
{
    struct target t = {.fd = fd};

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (fd < 0)
        return fail(c, CKPT_E_INVALID_ARG, "bad file descriptor");
    return pull(c, ref, &t, out);
}

ckpt_err ckpt_pull_cb(ckpt_client *c, const ckpt_ref *ref, ckpt_write_fn write, void *userdata,
                      ckpt_info **out)
{
    struct target t = {.fd = -1, .write = write, .write_ud = userdata};

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!write)
        return fail(c, CKPT_E_INVALID_ARG, "write callback is NULL");
    return pull(c, ref, &t, out);
}

static int fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int r = fsync(dfd);
    close(dfd);
    return r;
}

ckpt_err ckpt_pull_file(ckpt_client *c, const ckpt_ref *ref, const char *path, ckpt_info **out)
{
    char tmp[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
    struct target t = {.restartable = true};
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!path || !*path)
        return fail(c, CKPT_E_INVALID_ARG, "path is empty");
    snprintf(dir, sizeof(dir), "%s", path);
    snprintf(base, sizeof(base), "%s", path);
    /* The temp file sits beside the destination, so the final rename stays
     * on one file system and is atomic. */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.ckpt-XXXXXX", dirname(dir), basename(base)) >=
        sizeof(tmp))
        return fail(c, CKPT_E_INVALID_ARG, "path is too long");
    t.fd = mkostemp(tmp, O_CLOEXEC);
    if (t.fd < 0)
        return fail(c, CKPT_E_IO, "cannot create a temporary file beside '%s': %s", path,
                    strerror(errno));
    e = pull(c, ref, &t, out);
    if (e == CKPT_OK) {
        if (fchmod(t.fd, 0644) < 0 || fsync(t.fd) < 0)
            e = fail(c, CKPT_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
        else if (rename(tmp, path) < 0)
            e = fail(c, CKPT_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        else
            fsync_dir_of(path); /* best effort: the data itself is synced */
        if (e != CKPT_OK && out) {
            ckpt_info_free(*out);
            *out = NULL;
        }
    }
    close(t.fd);
    if (e != CKPT_OK)
        unlink(tmp);
    return e;
}

/* ---- queries ------------------------------------------------------------- */

ckpt_err ckpt_delete(ckpt_client *c, int64_t id)
{
    struct url u = {0};
    struct http_request rq = {.method = "DELETE"};
    struct http_response rs;
    unsigned attempts = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (id <= 0)
        return refuse(c, "invalid_id", "checkpoint ids are positive");
    url_add(&u, "%s/v1/checkpoints/%" PRId64, c->base_url, id);
    rq.url = u.buf;
    e = perform(c, &rq, &rs, &attempts);
    if (e == CKPT_OK && rs.status != 204) {
        e = status_error(c, &rs);
        /* A retry whose first attempt deleted it but lost the answer. */
        if (e == CKPT_E_NOT_FOUND && attempts > 1)
            e = CKPT_OK;
    }
    ckpt_http_response_release(&rs);
    return e;
}

void ckpt_list_free(ckpt_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        info_release(&list->items[i]);
    free(list->items);
    free(list);
}

/* Append the checkpoints of one page body to list; *next gets the cursor. */
static ckpt_err parse_page(ckpt_client *c, const struct http_response *rs, ckpt_list *list,
                           char **next)
{
    struct jnode *root;
    ckpt_err e = CKPT_OK;

    *next = NULL;
    if (!rs->body || ckpt_jparse(rs->body, rs->body_len, &root) < 0)
        return fail(c, CKPT_E_PROTOCOL, "the server's answer is not valid JSON");
    const struct jnode *arr = ckpt_jparse_get(root, "checkpoints"), *jn = ckpt_jparse_get(root, "next");
    if (!arr || arr->type != JT_ARRAY || !jn || (jn->type != JT_NULL && jn->type != JT_STRING)) {
        ckpt_jparse_free(root);
        return fail(c, CKPT_E_PROTOCOL, "the server's listing is malformed");
    }
    size_t n = 0;
    for (const struct jnode *x = arr->child; x; x = x->next)
        n++;
    if (n) {
        ckpt_info *items = realloc(list->items, (list->count + n) * sizeof(*items));
        if (!items) {
            ckpt_jparse_free(root);
            return fail(c, CKPT_E_NOMEM, "out of memory");
        }
        list->items = items;
    }
    for (const struct jnode *x = arr->child; x && e == CKPT_OK; x = x->next) {
        e = info_from_json(c, x, &list->items[list->count]);
        if (e == CKPT_OK)
            list->count++;
    }
    if (e == CKPT_OK && jn->type == JT_STRING && !(*next = strdup(jn->str)))
        e = fail(c, CKPT_E_NOMEM, "out of memory");
    ckpt_jparse_free(root);
    return e;
}

static ckpt_err list_page_into(ckpt_client *c, const ckpt_list_opts *o, const char *cursor,
                               size_t page_size, ckpt_list *list, char **next)
{
    struct url u = {0};
    struct http_request rq = {.method = "GET"};
    struct http_response rs;
    ckpt_err e;

    url_add(&u, "%s/v1/runs/%s/checkpoints", c->base_url, o->run);
    if (o->order_by)
        url_param(&u, "order_by", o->order_by);
    if (o->desc)
        url_param(&u, "order", "desc");
    url_param_i64(&u, "limit", (int64_t)page_size);
    if (o->has_min_epoch)
        url_param_i64(&u, "min_epoch", o->min_epoch);
    if (o->has_max_epoch)
        url_param_i64(&u, "max_epoch", o->max_epoch);
    if (cursor)
        url_param(&u, "after", cursor);
    if (u.overflow)
        return fail(c, CKPT_E_INVALID_ARG, "listing parameters too long");
    rq.url = u.buf;
    e = perform(c, &rq, &rs, NULL);
    if (e == CKPT_OK)
        e = rs.status == 200 ? parse_page(c, &rs, list, next) : status_error(c, &rs);
    ckpt_http_response_release(&rs);
    return e;
}

static ckpt_err check_list_opts(ckpt_client *c, const ckpt_list_opts *o)
{
    if (!o || !valid_name(o->run))
        return refuse(c, "invalid_run_name", "run name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    return CKPT_OK;
}

ckpt_err ckpt_list_page(ckpt_client *c, const ckpt_list_opts *opts, const char *cursor,
                        size_t page_size, ckpt_list **out, char **next)
{
    ckpt_list *list;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (next)
        *next = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out || !next || page_size < 1 || page_size > 1000)
        return fail(c, CKPT_E_INVALID_ARG, "page_size must be 1 to 1000 and out, next set");
    if ((e = check_list_opts(c, opts)) != CKPT_OK)
        return e;
    if (!(list = calloc(1, sizeof(*list))))
        return fail(c, CKPT_E_NOMEM, "out of memory");
    e = list_page_into(c, opts, cursor, page_size, list, next);
    if (e != CKPT_OK) {
        ckpt_list_free(list);
        return e;
    }
    *out = list;
    return CKPT_OK;
}

ckpt_err ckpt_list_checkpoints(ckpt_client *c, const ckpt_list_opts *opts, ckpt_list **out)
{
    ckpt_list *list;
    char *cursor = NULL;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    if ((e = check_list_opts(c, opts)) != CKPT_OK)
        return e;
    if (!(list = calloc(1, sizeof(*list))))
        return fail(c, CKPT_E_NOMEM, "out of memory");
    do {
        size_t page = 1000;
        char *next = NULL;
        if (opts->limit && opts->limit - list->count < page)
            page = opts->limit - list->count;
        e = list_page_into(c, opts, cursor, page, list, &next);
        free(cursor);
        cursor = next;
    } while (e == CKPT_OK && cursor && (!opts->limit || list->count < opts->limit));
    free(cursor);
    if (e != CKPT_OK) {
        ckpt_list_free(list);
        return e;
    }
    *out = list;
    return CKPT_OK;
}

void ckpt_run_list_free(ckpt_run_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].run);
        free(list->items[i].updated_at);
    }
    free(list->items);
    free(list);
}

ckpt_err ckpt_runs(ckpt_client *c, ckpt_run_list **out)
{
    struct url u = {0};
    struct http_request rq = {.method = "GET"};
    struct http_response rs;
    struct jnode *root = NULL;
    ckpt_run_list *list = NULL;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    url_add(&u, "%s/v1/runs", c->base_url);
    rq.url = u.buf;
    e = perform(c, &rq, &rs, NULL);
    if (e != CKPT_OK)
        goto done;
    if (rs.status != 200) {
        e = status_error(c, &rs);
        goto done;
    }
    const struct jnode *arr;
    if (!rs.body || ckpt_jparse(rs.body, rs.body_len, &root) < 0 ||
        !(arr = ckpt_jparse_get(root, "runs")) || arr->type != JT_ARRAY) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's run listing is malformed");
        goto done;
    }
    size_t n = 0;
    for (const struct jnode *x = arr->child; x; x = x->next)
        n++;
    if (!(list = calloc(1, sizeof(*list))) || (n && !(list->items = calloc(n, sizeof(*list->items))))) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto done;
    }
    for (const struct jnode *x = arr->child; x; x = x->next) {
        ckpt_run_info *ri = &list->items[list->count];
        int64_t bytes = 0;
        ri->run = dup_str(ckpt_jparse_get(x, "run"));
        ri->updated_at = dup_str(ckpt_jparse_get(x, "updated_at"));
        list->count++;
        if (!ri->run || !ri->updated_at || !get_int(x, "checkpoints", NULL, &ri->checkpoints) ||
            !get_int(x, "bytes", NULL, &bytes) ||
            !get_double(x, "best_loss", &ri->has_best_loss, &ri->best_loss) ||
            !get_int(x, "latest_epoch", &ri->has_latest_epoch, &ri->latest_epoch)) {
            e = fail(c, CKPT_E_PROTOCOL, "the server's run listing is malformed");
            goto done;
        }
        ri->bytes = (uint64_t)bytes;
    }
    *out = list;
    list = NULL;
done:
    ckpt_run_list_free(list);
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

/* ---- lifecycle: pins, aliases, retention, leases, watch ------------------ */

#define POLICY_JSON_MAX 8192 /* our own request body; the server takes 64 KiB */
#define POLICY_RULE_MAX 1000000
#define WATCH_WAIT_S 30      /* one long poll; the server allows up to 300 */
#define WATCH_TICK_MS 100    /* sleep slices between retries, to notice a stop */

static ckpt_err check_run(ckpt_client *c, const char *run)
{
    if (!valid_name(run))
        return refuse(c, "invalid_run_name",
                      "run name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    return CKPT_OK;
}

static ckpt_err check_alias(ckpt_client *c, const char *run, const char *name)
{
    ckpt_err e = check_run(c, run);
    if (e == CKPT_OK && !valid_name(name))
        return refuse(c, "invalid_alias_name",
                      "alias name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    return e;
}

/* One request with an optional JSON body and one optional extra header,
 * retried like every call. CKPT_OK when the answer's status is want; the
 * answer stays in *rs either way and the caller releases it. */
static ckpt_err exchange(ckpt_client *c, const char *method, const char *url, const char *json,
                         const char *header, long want, struct http_response *rs,
                         unsigned *attempts)
{
    /* A POST without a body still sends "Content-Length: 0". */
    struct http_body body = {.kind = BODY_BUFFER, .buf = json ? json : "",
                             .size = json ? strlen(json) : 0};
    struct http_request rq = {.method = method, .url = url};
    size_t nh = 0;
    ckpt_err e;

    memset(rs, 0, sizeof(*rs));
    if (json || strcmp(method, "POST") == 0)
        rq.body = &body;
    if (json) {
        rq.headers[nh++] = "Content-Type: application/json";
        /* A few bytes of JSON: send them with the headers rather than wait
         * for "100 Continue" first (libcurl asks for it on every PUT). */
        rq.headers[nh++] = "Expect:";
    }
    if (header)
        rq.headers[nh++] = header;
    e = perform(c, &rq, rs, attempts);
    if (e == CKPT_OK && rs->status != want)
        e = status_error(c, rs);
    return e;
}

/* Parse the answer's JSON into *root, or fail with CKPT_E_PROTOCOL. */
static ckpt_err body_json(ckpt_client *c, const struct http_response *rs, struct jnode **root)
{
    if (!rs->body || ckpt_jparse(rs->body, rs->body_len, root) < 0)
        return fail(c, CKPT_E_PROTOCOL, "the server's answer is not valid JSON");
    return CKPT_OK;
}

static ckpt_err pin_op(ckpt_client *c, int64_t id, const char *op, ckpt_info **out)
{
    struct url u = {0};
    struct http_response rs;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (id <= 0)
        return refuse(c, "invalid_id", "checkpoint ids are positive");
    url_add(&u, "%s/v1/checkpoints/%" PRId64 "/%s", c->base_url, id, op);
    e = exchange(c, "POST", u.buf, NULL, NULL, 200, &rs, NULL);
    if (e == CKPT_OK)
        e = info_from_body(c, &rs, out);
    ckpt_http_response_release(&rs);
    return e;
}

ckpt_err ckpt_pin(ckpt_client *c, int64_t id, ckpt_info **out)
{
    return pin_op(c, id, "pin", out);
}

ckpt_err ckpt_unpin(ckpt_client *c, int64_t id, ckpt_info **out)
{
    return pin_op(c, id, "unpin", out);
}

/* The id alias name of run points at now, into *id; for confirming a
 * retried change whose first answer was lost. */
static ckpt_err alias_current(ckpt_client *c, const char *run, const char *name, int64_t *id)
{
    ckpt_ref ref = ckpt_ref_alias(run, name);
    ckpt_info *info = NULL;
    struct url u = {0};
    ckpt_err e = ref_url(c, &ref, &u);

    if (e == CKPT_OK)
        e = get_info(c, u.buf, &info);
    if (e == CKPT_OK)
        *id = info->id;
    ckpt_info_free(info);
    return e;
}

ckpt_err ckpt_alias_set(ckpt_client *c, const char *run, const char *name, int64_t id,
                        int64_t if_match, int64_t *previous)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    char body[64], cond[64];
    unsigned attempts = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = check_alias(c, run, name)) != CKPT_OK)
        return e;
    if (id <= 0 || if_match < CKPT_ALIAS_CREATE)
        return refuse(c, "invalid_id", "checkpoint ids are positive");
    url_add(&u, "%s/v1/runs/%s/aliases/%s", c->base_url, run, name);
    snprintf(body, sizeof(body), "{\"id\":%" PRId64 "}", id);
    if (if_match > 0)
        snprintf(cond, sizeof(cond), "If-Match: \"%" PRId64 "\"", if_match);
    else
        snprintf(cond, sizeof(cond), "If-None-Match: *");
    e = exchange(c, "PUT", u.buf, body, if_match == CKPT_ALIAS_ANY ? NULL : cond, 200, &rs,
                 &attempts);
    if (e == CKPT_OK && (e = body_json(c, &rs, &root)) == CKPT_OK) {
        int64_t prev = 0;
        int has = 0;
        if (!get_int(root, "previous", &has, &prev))
            e = fail(c, CKPT_E_PROTOCOL, "the server's alias answer is malformed");
        else if (previous)
            *previous = has ? prev : 0;
    } else if (e == CKPT_E_PRECONDITION && attempts > 1) {
        /* A retry: the first attempt may have moved the alias and lost its
         * answer, so the condition now fails against our own change. */
        int64_t now = 0;
        char saved[CKPT_ERRMSG_MAX];
        snprintf(saved, sizeof(saved), "%s", c->last_error);
        if (alias_current(c, run, name, &now) == CKPT_OK && now == id) {
            clear_error(c);
            c->last_status = 200;
            e = CKPT_OK;
            if (previous)
                *previous = if_match > 0 ? if_match : 0;
        } else {
            snprintf(c->last_error, sizeof(c->last_error), "%s", saved);
            snprintf(c->last_code, sizeof(c->last_code), "precondition_failed");
            c->last_status = 412;
        }
    }
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

ckpt_err ckpt_alias_delete(ckpt_client *c, const char *run, const char *name, int64_t if_match)
{
    struct url u = {0};
    struct http_response rs;
    char cond[64];
    unsigned attempts = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = check_alias(c, run, name)) != CKPT_OK)
        return e;
    if (if_match < 0)
        return refuse(c, "invalid_id", "checkpoint ids are positive");
    url_add(&u, "%s/v1/runs/%s/aliases/%s", c->base_url, run, name);
    snprintf(cond, sizeof(cond), "If-Match: \"%" PRId64 "\"", if_match);
    e = exchange(c, "DELETE", u.buf, NULL, if_match > 0 ? cond : NULL, 204, &rs, &attempts);
    /* A retry whose first attempt deleted it but lost the answer. */
    if (e == CKPT_E_NOT_FOUND && attempts > 1) {
        clear_error(c);
        e = CKPT_OK;
    }
    ckpt_http_response_release(&rs);
    return e;
}

void ckpt_alias_list_free(ckpt_alias_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        free(list->items[i].updated_at);
    }
    free(list->items);
    free(list);
}

static size_t count_children(const struct jnode *arr)
{
    size_t n = 0;
    for (const struct jnode *x = arr ? arr->child : NULL; x; x = x->next)
        n++;
    return n;
}

ckpt_err ckpt_aliases(ckpt_client *c, const char *run, ckpt_alias_list **out)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    ckpt_alias_list *list = NULL;
    const struct jnode *arr;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    if ((e = check_run(c, run)) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/runs/%s/aliases", c->base_url, run);
    e = exchange(c, "GET", u.buf, NULL, NULL, 200, &rs, NULL);
    if (e != CKPT_OK || (e = body_json(c, &rs, &root)) != CKPT_OK)
        goto done;
    if (!(arr = ckpt_jparse_get(root, "aliases")) || arr->type != JT_ARRAY) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's alias listing is malformed");
        goto done;
    }
    size_t n = count_children(arr);
    if (!(list = calloc(1, sizeof(*list))) || (n && !(list->items = calloc(n, sizeof(*list->items))))) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto done;
    }
    for (const struct jnode *x = arr->child; x; x = x->next) {
        ckpt_alias *a = &list->items[list->count++];
        const struct jnode *computed = ckpt_jparse_get(x, "computed");
        const struct jnode *updated = ckpt_jparse_get(x, "updated_at");
        a->name = dup_str(ckpt_jparse_get(x, "name"));
        a->computed = computed && computed->type == JT_BOOL && computed->b;
        if (updated && updated->type == JT_STRING && !(a->updated_at = strdup(updated->str))) {
            e = fail(c, CKPT_E_NOMEM, "out of memory");
            goto done;
        }
        if (!a->name || !get_int(x, "id", NULL, &a->id)) {
            e = fail(c, CKPT_E_PROTOCOL, "the server's alias listing is malformed");
            goto done;
        }
    }
    *out = list;
    list = NULL;
done:
    ckpt_alias_list_free(list);
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

/* "<int>(s|m|h|d)", as the server takes it. */
static bool valid_duration(const char *s)
{
    size_t n = s ? strlen(s) : 0, digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    return digits > 0 && digits <= 12 && digits + 1 == n && strchr("smhd", s[digits]);
}

/* The policy as the JSON body of PUT .../policy, into buf. */
static ckpt_err policy_json(ckpt_client *c, const ckpt_policy *p, char *buf, size_t size)
{
    struct url j = {0}; /* a bounded string builder; the name is historical */
    const char *sep = "";

    if (!p)
        return refuse(c, "invalid_policy", "policy is NULL");
    if (!p->keep_last && !p->n_keep_best && !p->keep_every_field && !p->keep_within)
        return refuse(c, "invalid_policy", "a policy needs at least one rule");
    if (p->keep_last < 0 || p->keep_last > POLICY_RULE_MAX)
        return refuse(c, "invalid_policy", "keep_last must be 1 to %d", POLICY_RULE_MAX);
    if (p->n_keep_best && !p->keep_best)
        return refuse(c, "invalid_policy", "keep_best is NULL");
    url_add(&j, "{");
    if (p->keep_last) {
        url_add(&j, "\"keep_last\":%" PRId64, p->keep_last);
        sep = ",";
    }
    if (p->n_keep_best) {
        url_add(&j, "%s\"keep_best\":[", sep);
        for (size_t i = 0; i < p->n_keep_best; i++) {
            const ckpt_keep_best *b = &p->keep_best[i];
            if (!valid_name(b->metric))
                return refuse(c, "invalid_policy", "keep_best metric '%s' is not a valid name",
                              b->metric ? b->metric : "(null)");
            if (b->k < 1 || b->k > POLICY_RULE_MAX)
                return refuse(c, "invalid_policy", "keep_best k must be 1 to %d", POLICY_RULE_MAX);
            url_add(&j, "%s{\"metric\":\"%s\",\"mode\":\"%s\",\"k\":%" PRId64 "}", i ? "," : "",
                    b->metric, b->maximize ? "max" : "min", b->k);
        }
        url_add(&j, "]");
        sep = ",";
    }
    if (p->keep_every_field) {
        if (strcmp(p->keep_every_field, "epoch") != 0 && strcmp(p->keep_every_field, "step") != 0)
            return refuse(c, "invalid_policy", "keep_every field must be epoch or step");
        if (p->keep_every_n < 1 || p->keep_every_n > POLICY_RULE_MAX)
            return refuse(c, "invalid_policy", "keep_every n must be 1 to %d", POLICY_RULE_MAX);
        url_add(&j, "%s\"keep_every\":{\"field\":\"%s\",\"n\":%" PRId64 "}", sep,
                p->keep_every_field, p->keep_every_n);
        sep = ",";
    }
    if (p->keep_within) {
        if (!valid_duration(p->keep_within))
            return refuse(c, "invalid_policy", "keep_within must be <integer>s|m|h|d, not '%s'",
                          p->keep_within);
        url_add(&j, "%s\"keep_within\":\"%s\"", sep, p->keep_within);
    }
    url_add(&j, "}");
    if (j.overflow || j.len >= size)
        return refuse(c, "invalid_policy", "the policy is too large");
    memcpy(buf, j.buf, j.len + 1);
    return CKPT_OK;
}

ckpt_err ckpt_policy_set(ckpt_client *c, const char *run, const ckpt_policy *policy,
                         int64_t **dropped, size_t *n_dropped)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    char body[POLICY_JSON_MAX];
    int64_t *ids = NULL;
    size_t n = 0;
    ckpt_err e;

    if (dropped)
        *dropped = NULL;
    if (n_dropped)
        *n_dropped = 0;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = check_run(c, run)) != CKPT_OK || (e = policy_json(c, policy, body, sizeof(body))) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/runs/%s/policy", c->base_url, run);
    e = exchange(c, "PUT", u.buf, body, NULL, 200, &rs, NULL);
    if (e != CKPT_OK || (e = body_json(c, &rs, &root)) != CKPT_OK)
        goto done;
    const struct jnode *arr = ckpt_jparse_get(root, "dropped");
    if (arr && arr->type != JT_ARRAY) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's policy answer is malformed");
        goto done;
    }
    size_t count = count_children(arr);
    if (count && !(ids = calloc(count, sizeof(*ids)))) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto done;
    }
    for (const struct jnode *x = arr ? arr->child : NULL; x; x = x->next) {
        if (x->type != JT_NUMBER || !x->is_int) {
            e = fail(c, CKPT_E_PROTOCOL, "the server's policy answer is malformed");
            goto done;
        }
        ids[n++] = x->i;
    }
    if (dropped) {
        *dropped = ids;
        ids = NULL;
    }
    if (n_dropped)
        *n_dropped = n;
done:
    free(ids);
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

void ckpt_policy_free(ckpt_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_keep_best; i++)
        free((char *)p->keep_best[i].metric);
    free((ckpt_keep_best *)p->keep_best);
    free((char *)p->keep_every_field);
    free((char *)p->keep_within);
    free(p);
}

/* A policy object from the server into a new ckpt_policy. */
static ckpt_err policy_from_json(ckpt_client *c, const struct jnode *o, ckpt_policy **out)
{
    ckpt_policy *p = calloc(1, sizeof(*p));
    const struct jnode *best = ckpt_jparse_get(o, "keep_best"), *every = ckpt_jparse_get(o, "keep_every");
    const struct jnode *within = ckpt_jparse_get(o, "keep_within");
    int has = 0;

    if (!p)
        return fail(c, CKPT_E_NOMEM, "out of memory");
    if (o->type != JT_OBJECT)
        goto bad;
    if (ckpt_jparse_get(o, "keep_last") && !get_int(o, "keep_last", &has, &p->keep_last))
        goto bad;
    if (best && best->type == JT_ARRAY) {
        size_t n = count_children(best);
        ckpt_keep_best *rules = n ? calloc(n, sizeof(*rules)) : NULL;
        if (n && !rules)
            goto nomem;
        p->keep_best = rules;
        for (const struct jnode *x = best->child; x; x = x->next) {
            ckpt_keep_best *r = &rules[p->n_keep_best++];
            const struct jnode *mode = ckpt_jparse_get(x, "mode");
            r->metric = dup_str(ckpt_jparse_get(x, "metric"));
            r->maximize = mode && mode->type == JT_STRING && strcmp(mode->str, "max") == 0;
            if (!r->metric || !get_int(x, "k", NULL, &r->k))
                goto bad;
        }
    } else if (best && best->type != JT_NULL) {
        goto bad;
    }
    if (every && every->type == JT_OBJECT) {
        p->keep_every_field = dup_str(ckpt_jparse_get(every, "field"));
        if (!p->keep_every_field || !get_int(every, "n", NULL, &p->keep_every_n))
            goto bad;
    }
    if (within && within->type == JT_STRING && !(p->keep_within = strdup(within->str)))
        goto nomem;
    *out = p;
    return CKPT_OK;
bad:
    ckpt_policy_free(p);
    return fail(c, CKPT_E_PROTOCOL, "the server's policy is malformed");
nomem:
    ckpt_policy_free(p);
    return fail(c, CKPT_E_NOMEM, "out of memory");
}

ckpt_err ckpt_policy_get(ckpt_client *c, const char *run, ckpt_policy **out, int *from_default)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    if ((e = check_run(c, run)) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/runs/%s/policy", c->base_url, run);
    e = exchange(c, "GET", u.buf, NULL, NULL, 200, &rs, NULL);
    if (e != CKPT_OK || (e = body_json(c, &rs, &root)) != CKPT_OK)
        goto done;
    const struct jnode *pol = ckpt_jparse_get(root, "policy"), *src = ckpt_jparse_get(root, "source");
    if (!pol || (pol->type != JT_NULL && pol->type != JT_OBJECT)) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's policy answer is malformed");
        goto done;
    }
    if (pol->type == JT_OBJECT && (e = policy_from_json(c, pol, out)) != CKPT_OK)
        goto done;
    if (from_default)
        *from_default = src && src->type == JT_STRING && strcmp(src->str, "default") == 0;
done:
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

ckpt_err ckpt_policy_delete(ckpt_client *c, const char *run)
{
    struct url u = {0};
    struct http_response rs;
    unsigned attempts = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = check_run(c, run)) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/runs/%s/policy", c->base_url, run);
    e = exchange(c, "DELETE", u.buf, NULL, NULL, 204, &rs, &attempts);
    if (e == CKPT_E_NOT_FOUND && attempts > 1) {
        clear_error(c);
        e = CKPT_OK;
    }
    ckpt_http_response_release(&rs);
    return e;
}

void ckpt_plan_free(ckpt_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->count; i++) {
        for (size_t r = 0; r < plan->items[i].n_reasons; r++)
            free(plan->items[i].reasons[r]);
        free(plan->items[i].reasons);
    }
    free(plan->items);
    free(plan);
}

ckpt_err ckpt_policy_plan(ckpt_client *c, const char *run, ckpt_plan **out)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    ckpt_plan *plan = NULL;
    const struct jnode *arr;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    if ((e = check_run(c, run)) != CKPT_OK)
        return e;
    url_add(&u, "%s/v1/runs/%s/policy/plan", c->base_url, run);
    e = exchange(c, "GET", u.buf, NULL, NULL, 200, &rs, NULL);
    if (e != CKPT_OK || (e = body_json(c, &rs, &root)) != CKPT_OK)
        goto done;
    if (!(arr = ckpt_jparse_get(root, "checkpoints")) || arr->type != JT_ARRAY) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's plan is malformed");
        goto done;
    }
    size_t n = count_children(arr);
    if (!(plan = calloc(1, sizeof(*plan))) || (n && !(plan->items = calloc(n, sizeof(*plan->items))))) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto done;
    }
    for (const struct jnode *x = arr->child; x; x = x->next) {
        ckpt_plan_item *it = &plan->items[plan->count++];
        const struct jnode *action = ckpt_jparse_get(x, "action"), *reasons = ckpt_jparse_get(x, "reasons");
        if (!get_int(x, "id", NULL, &it->id) || !action || action->type != JT_STRING ||
            (reasons && reasons->type != JT_ARRAY)) {
            e = fail(c, CKPT_E_PROTOCOL, "the server's plan is malformed");
            goto done;
        }
        it->keep = strcmp(action->str, "keep") == 0;
        size_t nr = count_children(reasons);
        if (nr && !(it->reasons = calloc(nr, sizeof(*it->reasons)))) {
            e = fail(c, CKPT_E_NOMEM, "out of memory");
            goto done;
        }
        for (const struct jnode *r = reasons ? reasons->child : NULL; r; r = r->next) {
            if (r->type != JT_STRING) {
                e = fail(c, CKPT_E_PROTOCOL, "the server's plan is malformed");
                goto done;
            }
            if (!(it->reasons[it->n_reasons] = strdup(r->str))) {
                e = fail(c, CKPT_E_NOMEM, "out of memory");
                goto done;
            }
            it->n_reasons++;
        }
    }
    *out = plan;
    plan = NULL;
done:
    ckpt_plan_free(plan);
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

void ckpt_lease_free(ckpt_lease *lease)
{
    if (!lease)
        return;
    free(lease->expires_at);
    free(lease);
}

static bool valid_lease(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

ckpt_err ckpt_lease_take(ckpt_client *c, int64_t id, long ttl_s, ckpt_lease **out)
{
    struct url u = {0};
    struct http_response rs;
    struct jnode *root = NULL;
    ckpt_lease *l = NULL;
    ckpt_err e;

    if (out)
        *out = NULL;
    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!out)
        return fail(c, CKPT_E_INVALID_ARG, "out is NULL");
    if (id <= 0)
        return refuse(c, "invalid_id", "checkpoint ids are positive");
    if (ttl_s < 0 || ttl_s > 86400)
        return refuse(c, "invalid_parameter", "ttl must be 1 to 86400 seconds (0: the default)");
    url_add(&u, "%s/v1/checkpoints/%" PRId64 "/lease", c->base_url, id);
    if (ttl_s)
        url_param_i64(&u, "ttl", ttl_s);
    e = exchange(c, "POST", u.buf, NULL, NULL, 201, &rs, NULL);
    if (e != CKPT_OK || (e = body_json(c, &rs, &root)) != CKPT_OK)
        goto done;
    const struct jnode *jl = ckpt_jparse_get(root, "lease");
    if (!(l = calloc(1, sizeof(*l)))) {
        e = fail(c, CKPT_E_NOMEM, "out of memory");
        goto done;
    }
    l->expires_at = dup_str(ckpt_jparse_get(root, "expires_at"));
    if (!jl || jl->type != JT_STRING || !valid_lease(jl->str) || !l->expires_at ||
        !get_int(root, "id", NULL, &l->id)) {
        e = fail(c, CKPT_E_PROTOCOL, "the server's lease answer is malformed");
        goto done;
    }
    memcpy(l->lease, jl->str, 33);
    *out = l;
    l = NULL;
done:
    ckpt_lease_free(l);
    ckpt_jparse_free(root);
    ckpt_http_response_release(&rs);
    return e;
}

ckpt_err ckpt_lease_release(ckpt_client *c, const char *lease)
{
    struct url u = {0};
    struct http_response rs;
    unsigned attempts = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if (!valid_lease(lease))
        return refuse(c, "invalid_parameter", "a lease id is 32 lowercase hex digits");
    url_add(&u, "%s/v1/leases/%s", c->base_url, lease);
    e = exchange(c, "DELETE", u.buf, NULL, NULL, 204, &rs, &attempts);
    if (e == CKPT_E_NOT_FOUND && attempts > 1) {
        clear_error(c);
        e = CKPT_OK;
    }
    ckpt_http_response_release(&rs);
    return e;
}

struct watch {
    ckpt_watch_fn fn;
    void *ud;
    bool stop;
    struct timespec last_tick;
};

/* libcurl's progress beat while a long poll waits: let the caller stop. */
static int watch_tick(void *ud)
{
    struct watch *w = ud;
    struct timespec now;

    if (w->stop)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - w->last_tick.tv_sec) * 1000 + (now.tv_nsec - w->last_tick.tv_nsec) / 1000000;
    if (ms < WATCH_TICK_MS)
        return 0;
    w->last_tick = now;
    if (w->fn(w->ud, NULL) != 0)
        w->stop = true;
    return w->stop;
}

/* Sleep ms in slices, ticking; true when the caller asked to stop. */
static bool watch_sleep(struct watch *w, long ms)
{
    while (ms > 0 && !w->stop) {
        long slice = ms < WATCH_TICK_MS ? ms : WATCH_TICK_MS;
        struct timespec ts = {0, slice * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        ms -= slice;
        watch_tick(w);
    }
    return w->stop;
}

/* The id of run's newest checkpoint, 0 when it has none. */
static ckpt_err newest_id(ckpt_client *c, const char *run, int64_t *id)
{
    ckpt_list_opts o = {.run = run, .desc = 1};
    ckpt_list list = {0};
    char *next = NULL;
    ckpt_err e = list_page_into(c, &o, NULL, 1, &list, &next);

    free(next);
    *id = 0;
    if (e == CKPT_OK && list.count)
        *id = list.items[0].id;
    else if (e == CKPT_E_NOT_FOUND)
        e = CKPT_OK; /* no checkpoint yet: everything will be new */
    for (size_t i = 0; i < list.count; i++)
        info_release(&list.items[i]);
    free(list.items);
    return e;
}

ckpt_err ckpt_watch(ckpt_client *c, const char *run, int64_t after_id, ckpt_watch_fn fn,
                    void *userdata)
{
    struct watch w = {.fn = fn, .ud = userdata};
    unsigned failures = 0;
    ckpt_err e;

    if (!c)
        return CKPT_E_INVALID_ARG;
    clear_error(c);
    if ((e = check_run(c, run)) != CKPT_OK)
        return e;
    if (!fn)
        return fail(c, CKPT_E_INVALID_ARG, "callback is NULL");
    if (after_id < CKPT_WATCH_NEW)
        return refuse(c, "invalid_parameter", "after_id must be 0 or more, or CKPT_WATCH_NEW");
    clock_gettime(CLOCK_MONOTONIC, &w.last_tick);
    if (after_id == CKPT_WATCH_NEW && (e = newest_id(c, run, &after_id)) != CKPT_OK)
        return e;
    for (;;) {
        struct url u = {0};
        struct http_request rq = {.method = "GET", .tick = watch_tick, .tick_ud = &w,
                                  .extra_stall_s = WATCH_WAIT_S};
        struct http_response rs;
        struct timespec t0, t1;
        ckpt_list list = {0};
        char *next = NULL;
        size_t fresh = 0;

        url_add(&u, "%s/v1/runs/%s/checkpoints", c->base_url, run);
        url_param_i64(&u, "after_id", after_id);
        url_param_i64(&u, "wait", WATCH_WAIT_S);
        rq.url = u.buf;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = ckpt_http_perform(c, &rq, &rs);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        c->last_status = rs.status;
        if (w.stop) {
            ckpt_http_response_release(&rs);
            clear_error(c);
            return CKPT_OK;
        }
        if (r < 0 && rs.aborted) {
            e = fail(c, CKPT_E_ABORTED, "%s", rs.error);
            ckpt_http_response_release(&rs);
            return e;
        }
        if (r < 0 || rs.status >= 500) {
            /* Transient: retry with the client's policy, as perform() does. */
            e = r < 0 ? fail(c, CKPT_E_NETWORK, "%s", rs.error) : status_error(c, &rs);
            ckpt_http_response_release(&rs);
            if (failures >= c->max_retries) {
                size_t n = strlen(c->last_error);
                snprintf(c->last_error + n, sizeof(c->last_error) - n, " (after %u attempts)",
                         failures + 1);
                return e;
            }
            if (watch_sleep(&w, backoff_wait_ms(c, failures++)))
                return CKPT_OK;
            continue;
        }
        failures = 0;
        if (rs.status != 200) {
            e = status_error(c, &rs);
            ckpt_http_response_release(&rs);
            return e;
        }
        e = parse_page(c, &rs, &list, &next);
        ckpt_http_response_release(&rs);
        free(next);
        for (size_t i = 0; i < list.count && e == CKPT_OK && !w.stop; i++) {
            if (list.items[i].id <= after_id)
                continue;
            after_id = list.items[i].id;
            fresh++;
            if (fn(userdata, &list.items[i]) != 0)
                w.stop = true;
        }
        for (size_t i = 0; i < list.count; i++)
            info_release(&list.items[i]);
        free(list.items);
        if (e != CKPT_OK)
            return e;
        if (w.stop) {
            clear_error(c);
            return CKPT_OK;
        }
        /* A server that answers at once with nothing new (no long poll)
         * must not turn this loop into a busy one. */
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (!fresh && ms < 1000 && watch_sleep(&w, 1000 - ms)) {
            clear_error(c);
            return CKPT_OK;
        }
    }
}
