/*
 * api.c - the HTTP API v1 handlers. Each is a sequence of guards that
 * answer an error at once, then one domain call, then one reply.
 */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "app.h"
#include "qcache.h"
#include "respond.h"
#include "scrub.h"
#include "upload.h"

#define JSON_LIST_MAX (32u << 20)

/* ---- query parameters ---------------------------------------------------- */

const char *param(const struct request *req, const char *key)
{
    for (size_t i = 0; i < req->n_params; i++) {
        if (strcmp(req->params[i].key, key) == 0)
            return req->params[i].value;
    }
    return NULL;
}

static bool is_metric_param(const char *key)
{
    return strncmp(key, "metric.", 7) == 0;
}

/* Refuse parameters not in allowed (NULL-terminated) and repeated ones, so
 * a typo such as "epcoh=1" is an error instead of silently ignored. With
 * metrics, "metric.NAME" parameters are allowed too. Returns false after
 * setting the error reply. */
bool check_params(struct request *req, const char *const *allowed, bool metrics)
{
    for (size_t i = 0; i < req->n_params; i++) {
        const char *key = req->params[i].key;
        bool known = metrics && is_metric_param(key);
        for (const char *const *a = allowed; !known && *a; a++)
            known = strcmp(key, *a) == 0;
        if (!known) {
            respond_error(req, E_UNKNOWN_PARAMETER, "unknown query parameter '%s'", key);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(req->params[j].key, key) == 0) {
                respond_error(req, E_INVALID_PARAMETER, "query parameter '%s' is repeated", key);
                return false;
            }
        }
    }
    return true;
}

bool check_run(struct request *req)
{
    if (!parse_is_name(req->arg_run, strlen(req->arg_run))) {
        respond_error(req, E_INVALID_RUN_NAME,
                      "invalid run name: it must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
        return false;
    }
    return true;
}

bool check_id(struct request *req, int64_t *id)
{
    if (parse_id(req->arg_id, id) < 0) {
        respond_error(req, E_INVALID_ID, "checkpoint id must be a decimal integer from 1 to %lld",
                      (long long)INT64_MAX);
        return false;
    }
    return true;
}

/* Parse an optional non-negative integer parameter. */
static bool opt_u63(struct request *req, const char *key, bool *has, int64_t *v)
{
    const char *s = param(req, key);
    *has = false;
    if (!s)
        return true;
    if (parse_u63(s, v) < 0) {
        respond_error(req, E_INVALID_PARAMETER,
                      "%s must be a non-negative integer no larger than %lld", key,
                      (long long)INT64_MAX);
        return false;
    }
    *has = true;
    return true;
}

/* ---- replies ------------------------------------------------------------- */

void reply_record(struct request *req, unsigned status, const struct ckpt_record *rec)
{
    struct json j;
    req->checkpoint_id = rec->id;
    json_init(&j, 64 * 1024);
    json_checkpoint(&j, rec);
    respond_json(req, status, &j);
}

/* ---- answers kept per thread (qcache.h) ---------------------------------- */

#define QKEY_MAX 1024

/* A query's answer as a key: which handler, then every parameter that
 * shapes the reply, as parsed. len 0 when it does not fit (not cached). */
struct qkey {
    char text[QKEY_MAX];
    size_t len;
    uint64_t gen; /* the index generation read before the query */
};

static void qkey_make(struct request *req, struct qkey *k, const char *fmt, ...) LOG_PRINTF(3, 4);

static void qkey_make(struct request *req, struct qkey *k, const char *fmt, ...)
{
    va_list ap;

    k->len = 0;
    if (!qcache_enabled())
        return;
    va_start(ap, fmt);
    int n = vsnprintf(k->text, sizeof(k->text), fmt, ap);
    va_end(ap);
    k->len = n > 0 && (size_t)n < sizeof(k->text) ? (size_t)n : 0;
    k->gen = index_generation(req->app->store->index);
}

/* Answer from the cache when it holds this query's reply at the current
 * generation. */
static bool reply_kept(struct request *req, const struct qkey *k)
{
    struct qcache_hit hit;

    if (k->len == 0 || !qcache_get(k->text, k->len, k->gen, &hit)) {
        metric_add(req->app->qcache_misses, 1);
        return false;
    }
    metric_add(req->app->qcache_hits, 1);
    char *text = malloc(hit.len);
    if (!text)
        return true; /* no reply: the server answers 500 and closes */
    memcpy(text, hit.body, hit.len);
    req->checkpoint_id = hit.checkpoint_id;
    respond_text(req, 200, text, hit.len, "application/json");
    return true;
}

/* Answer 200 with j's text and keep a copy for the same query. */
static void reply_keep(struct request *req, const struct qkey *k, struct json *j,
                       int64_t checkpoint_id)
{
    size_t len;

    json_raw(j, "\n");
    char *text = json_detach(j, &len);
    if (!text)
        return;
    if (k->len)
        qcache_put(k->text, k->len, k->gen, text, len, checkpoint_id);
    req->checkpoint_id = checkpoint_id;
    respond_text(req, 200, text, len, "application/json");
}

/* The error for a failed lookup of a run's checkpoint (latest, best). */
static void reply_lookup_error(struct request *req, int r, const char *metric)
{
    if (r == -ENOENT)
        respond_error(req, E_RUN_NOT_FOUND, "run '%s' has no checkpoints", req->arg_run);
    else if (r == -ENODATA)
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "no checkpoint of run '%s' has %s '%s'",
                      req->arg_run, strcmp(metric, "loss") ? "metric" : "a", metric);
    else
        respond_error(req, error_from_errno(r), NULL);
}

struct damaged_job {
    struct store *store;
    char sha_hex[SHA256_HEX_LEN + 1];
    struct blob_stat st;
};

static void damaged_job(void *arg)
{
    struct damaged_job *j = arg;
    unsigned marked = 0;
    int r = store_blob_damaged(j->store, j->sha_hex, &j->st, &marked);
    if (r == 1)
        log_error("blob %s moved to quarantine/: %u checkpoint(s) flagged corrupt", j->sha_hex,
                  marked);
    free(j);
}

/* A download found a blob damaged: quarantine and flag it on a worker
 * thread (it takes the publish lock and writes the index). */
static void blob_sent_bad(void *ctx, const char *sha_hex, const struct blob_stat *st)
{
    struct app *app = ctx;
    struct damaged_job *j = calloc(1, sizeof(*j));
    if (!j)
        return; /* the next scrub finds it */
    j->store = app->store;
    memcpy(j->sha_hex, sha_hex, sizeof(j->sha_hex));
    j->st = *st;
    if (workq_submit(app->workq, damaged_job, j) < 0)
        free(j);
}

struct verified_job {
    struct store *store;
    char sha_hex[SHA256_HEX_LEN + 1];
    int64_t verified_ms;
};

static void verified_job(void *arg)
{
    struct verified_job *j = arg;
    int r = index_set_blob_verified(j->store->index, j->sha_hex, j->verified_ms);
    if (r < 0)
        log_error("cannot record blob %s as verified: %s", j->sha_hex, strerror(-r));
    free(j);
}

/* A download hashed a whole blob and found it intact: record it, as the
 * scrub does, so later downloads go out by sendfile (on a worker thread:
 * it writes the index). */
static void blob_sent_good(void *ctx, const char *sha_hex, int64_t started_ms)
{
    struct app *app = ctx;
    struct verified_job *j = calloc(1, sizeof(*j));
    if (!j)
        return; /* the next download hashes it again */
    j->store = app->store;
    memcpy(j->sha_hex, sha_hex, sizeof(j->sha_hex));
    j->verified_ms = started_ms;
    if (workq_submit(app->workq, verified_job, j) < 0)
        free(j);
}

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void reply_blob(struct request *req, const struct ckpt_record *rec)
{
    struct send_check check = {
        .bad = blob_sent_bad, .good = blob_sent_good, .started_ms = wall_now_ms(), .ctx = req->app};
    bool verify;
    uint64_t size;
    int fd, r;

    if (rec->corrupt) {
        respond_error(req, E_CHECKPOINT_CORRUPT,
                      "checkpoint %" PRId64 " is flagged corrupt: its stored bytes are missing "
                      "or damaged, so they are never served",
                      rec->id);
        return;
    }
    r = store_open_blob(req->app->store, rec, &fd, &size);
    if (r == -ENOENT) {
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "checkpoint %" PRId64 " was just deleted",
                      rec->id);
        return;
    }
    if (r == -EUCLEAN) {
        respond_error(req, E_CHECKPOINT_CORRUPT,
                      "checkpoint %" PRId64 " has lost its stored bytes; it is now flagged "
                      "corrupt",
                      rec->id);
        return;
    }
    if (r < 0) {
        log_error("cannot open blob %s of checkpoint %" PRId64 ": %s", rec->sha256, rec->id,
                  strerror(-r));
        respond_error(req, error_from_errno(r), "cannot read the checkpoint's bytes");
        return;
    }
    /* Zero-copy sendfile for a blob read back intact (by the scrub, or by
     * an earlier download hashed as it was sent) since its file last
     * changed; any other is hashed as it is sent. */
    verify = blobstore_stat_fd(fd, &check.st) < 0 ||
             !store_blob_verified(req->app->store, rec->sha256, &check.st);
    respond_blob(req, fd, size, rec, verify ? &check : NULL);
}

static void delete_job(void *arg)
{
    struct request *req = arg;
    int64_t id = 0;

    parse_id(req->arg_id, &id); /* validated before the job was queued */
    int r = store_delete(req->app->store, id);
    if (r == -ENOENT)
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "no checkpoint with id %" PRId64, id);
    else if (r < 0)
        respond_error(req, error_from_errno(r), "cannot delete checkpoint %" PRId64, id);
    else
        respond_empty(req, 204);
    if (r == 0)
        req->checkpoint_id = id;
    request_resume(req);
}

/* Run job(req) on a worker thread: it waits for the index writer and
 * fsyncs, which must not stall the other connections of this event thread.
 * The job sets the reply and resumes the connection. */
void run_blocking(struct request *req, void (*job)(void *arg))
{
    request_suspend(req);
    if (workq_submit(req->app->workq, job, req) < 0) {
        respond_error(req, E_UNAVAILABLE, "server is shutting down");
        request_resume(req);
    }
}

/* ---- handlers ------------------------------------------------------------ */

void api_healthz(struct request *req)
{
    static const char *const none[] = {NULL};
    struct json j;

    if (!check_params(req, none, false))
        return;
    if (index_ping(req->app->store->index) < 0) {
        respond_error(req, E_UNAVAILABLE, "index does not answer");
        return;
    }
    /* Alive either way; read_only tells operators writes are refused. */
    json_init(&j, 128);
    json_raw(&j, store_read_only(req->app->store) ? "{\"status\":\"read_only\",\"read_only\":true}"
                                                  : "{\"status\":\"ok\",\"read_only\":false}");
    respond_json(req, 200, &j);
}

struct runs_ctx {
    struct json j;
    bool first;
    const struct auth_grant *grant; /* NULL: list every run */
};

static int add_run(void *p, const struct run_summary *s)
{
    struct runs_ctx *c = p;
    if (c->grant && !auth_covers_run(c->grant, s->run))
        return 0; /* a scoped token sees its own runs only */
    if (!c->first)
        json_raw(&c->j, ",");
    c->first = false;
    json_raw(&c->j, "{\"run\":");
    json_str(&c->j, s->run);
    json_raw(&c->j, ",\"checkpoints\":");
    json_int(&c->j, s->checkpoints);
    json_raw(&c->j, ",\"bytes\":");
    json_int(&c->j, (int64_t)s->bytes);
    json_raw(&c->j, ",\"logical_bytes\":");
    json_int(&c->j, (int64_t)s->bytes);
    json_raw(&c->j, ",\"physical_bytes\":");
    json_int(&c->j, (int64_t)s->physical_bytes);
    json_raw(&c->j, ",\"best_loss\":");
    if (s->has_best_loss)
        json_double(&c->j, s->best_loss);
    else
        json_raw(&c->j, "null");
    json_raw(&c->j, ",\"latest_epoch\":");
    if (s->has_latest_epoch)
        json_int(&c->j, s->latest_epoch);
    else
        json_raw(&c->j, "null");
    json_raw(&c->j, ",\"updated_at\":");
    json_time_ms(&c->j, s->updated_ms);
    json_raw(&c->j, "}");
    return json_failed(&c->j) ? -ENOMEM : 0;
}

void api_runs(struct request *req)
{
    static const char *const none[] = {NULL};
    struct runs_ctx c = {.first = true, .grant = req->authenticated ? &req->grant : NULL};

    if (!check_params(req, none, false))
        return;
    json_init(&c.j, JSON_LIST_MAX);
    json_raw(&c.j, "{\"runs\":[");
    int r = index_runs(req->app->store->index, add_run, &c);
    if (r < 0) {
        json_release(&c.j);
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    json_raw(&c.j, "]}");
    respond_json(req, 200, &c.j);
}

/* Fill meta from the upload's query parameters. */
static bool upload_meta(struct request *req, struct ckpt_meta *m)
{
    const char *loss = param(req, "loss");

    snprintf(m->run, sizeof(m->run), "%s", req->arg_run);
    if (!opt_u63(req, "epoch", &m->has_epoch, &m->epoch) ||
        !opt_u63(req, "step", &m->has_step, &m->step))
        return false;
    if (loss) {
        if (parse_finite(loss, &m->loss) < 0) {
            respond_error(req, E_INVALID_PARAMETER, "loss must be a finite decimal number");
            return false;
        }
        m->has_loss = true;
    }
    for (size_t i = 0; i < req->n_params; i++) {
        const char *key = req->params[i].key;
        if (!is_metric_param(key))
            continue;
        const char *name = key + 7;
        if (!parse_is_name(name, strlen(name))) {
            respond_error(req, E_INVALID_PARAMETER,
                          "metric name in '%s' must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}", key);
            return false;
        }
        if (m->n_metrics == METRICS_MAX) {
            respond_error(req, E_INVALID_PARAMETER, "at most %d metrics per checkpoint",
                          METRICS_MAX);
            return false;
        }
        struct metric *mt = &m->metrics[m->n_metrics];
        if (parse_finite(req->params[i].value, &mt->value) < 0) {
            respond_error(req, E_INVALID_PARAMETER, "%s must be a finite decimal number", key);
            return false;
        }
        snprintf(mt->name, sizeof(mt->name), "%s", name);
        m->n_metrics++;
    }
    return true;
}

/* Where a client may state the digest it means: as a header before the
 * body, or as a trailer after a chunked body (for a stream whose digest is
 * known only at its end). */
static const struct {
    const char *name;
    bool sfv; /* an RFC 9530 dictionary rather than 64 hex digits */
} digest_fields[] = {
    {"X-Checkpoint-SHA256", false},
    {"Repr-Digest", true},
    {"Content-Digest", true},
};

/* Merge digest d, stated in where, into the one collected so far. Returns
 * false after setting the reply when they disagree. */
static bool merge_digest(struct request *req, const char *where, const uint8_t d[SHA256_LEN],
                         struct upload_digest *u)
{
    if (u->has && memcmp(d, u->value, SHA256_LEN) != 0) {
        respond_error(req, E_INVALID_DIGEST, "%s disagrees with another digest sent", where);
        return false;
    }
    memcpy(u->value, d, SHA256_LEN);
    u->has = true;
    return true;
}

/* Collect the digests stated in the headers (trailers false: also the
 * sha256 query parameter) or in the trailers. All must agree. */
static bool collect_digests(struct request *req, bool trailers, struct upload_digest *u)
{
    uint8_t d[SHA256_LEN];
    const char *s;

    if (!trailers && (s = param(req, "sha256"))) {
        if (parse_sha256_hex(s, strlen(s), d) < 0) {
            respond_error(req, E_INVALID_DIGEST, "sha256 must be 64 hexadecimal characters");
            return false;
        }
        if (!merge_digest(req, "sha256", d, u))
            return false;
    }
    for (size_t i = 0; i < sizeof(digest_fields) / sizeof(digest_fields[0]); i++) {
        const char *name = digest_fields[i].name, *b64;
        size_t len;
        int r;

        s = trailers ? request_trailer(req, name) : request_header(req, name);
        if (!s) {
            const char *announced = request_header(req, "Trailer");
            if (trailers && announced && parse_list_has(announced, name)) {
                /* Its own code: a proxy that drops request trailers
                 * (nginx) causes it, and a client can then state the
                 * digest as a header instead (libckpt does). */
                respond_error(req, E_TRAILER_MISSING,
                              "the Trailer header announced %s but the body ended without it",
                              name);
                return false;
            }
            continue;
        }
        if (!digest_fields[i].sfv) {
            r = parse_sha256_hex(s, strlen(s), d);
        } else {
            r = parse_digest_field(s, &b64, &len);
            if (r == -ENOENT)
                continue; /* only other algorithms: nothing for us to check */
            if (r == 0)
                r = digest_from_base64(b64, len, d);
        }
        if (r < 0) {
            respond_error(
                req, E_INVALID_DIGEST, "%s %s must be %s", name, trailers ? "trailer" : "header",
                digest_fields[i].sfv ? "like sha-256=:BASE64:" : "64 hexadecimal characters");
            return false;
        }
        if (!merge_digest(req, name, d, u))
            return false;
    }
    return true;
}

void api_upload_begin(struct request *req)
{
    static const char *const allowed[] = {"epoch", "step", "loss", "sha256", NULL};
    struct app *app = req->app;
    struct upload *u;
    struct ckpt_meta meta = {0};
    struct upload_digest digest = {0};
    uint64_t avail, length = req->content_length, stated = 0;
    bool known = req->has_length;
    int r;

    if (!check_run(req) || !check_params(req, allowed, true) || !upload_meta(req, &meta) ||
        !collect_digests(req, false, &digest))
        return;
    /* A chunked body may state its size (libckpt does for a file whose
     * digest goes in a trailer): it is then judged now, like a
     * Content-Length, instead of after --max-upload bytes sent in vain. */
    const char *size = req->chunked ? request_header(req, "X-Checkpoint-Size") : NULL;
    if (size) {
        int64_t v;
        if (parse_u63(size, &v) < 0 || v == 0) {
            respond_error(req, E_BAD_REQUEST, "X-Checkpoint-Size must be a positive integer");
            return;
        }
        stated = length = (uint64_t)v;
        known = true;
    }
    if (known && length > app->max_upload) {
        respond_error(req, E_PAYLOAD_TOO_LARGE,
                      "body of %" PRIu64 " bytes exceeds this server's limit of %" PRIu64, length,
                      app->max_upload);
        return;
    }
    if (!req->chunked && (!req->has_length || req->content_length == 0)) {
        respond_error(req, E_EMPTY_BODY, NULL);
        return;
    }
    if (store_read_only(app->store)) {
        respond_error(req, E_READ_ONLY, NULL);
        return;
    }
    switch (request_upload_slot(req)) {
    case UPLOAD_SLOT_OK: break;
    case UPLOAD_SLOTS_FULL:
        respond_error(req, E_UNAVAILABLE, "too many uploads in progress; retry shortly");
        respond_header(req, "Retry-After", "5");
        return;
    case UPLOAD_SLOTS_ADDRESS_FULL:
        respond_error(req, E_UNAVAILABLE,
                      "too many uploads in progress from your address; retry shortly");
        respond_header(req, "Retry-After", "5");
        return;
    }
    /* Refuse now what cannot fit (quota, or the reserve kept free), rather
     * than after the client sent it. */
    if (known && (r = store_space_claim(app->store, length)) < 0) {
        if (r == -EDQUOT)
            respond_error(req, E_INSUFFICIENT_STORAGE,
                          "body of %" PRIu64 " bytes would exceed the --max-disk quota of %" PRIu64
                          " bytes",
                          length, app->store->max_disk);
        else if (r == -ENOSPC && blobstore_free_space(app->store->blobs, &avail) == 0)
            respond_error(req, E_INSUFFICIENT_STORAGE,
                          "body of %" PRIu64 " bytes does not fit: %" PRIu64 " bytes free, of "
                          "which %" PRIu64 " are kept in reserve",
                          length, avail, app->store->reserve);
        else
            respond_error(req, error_from_errno(r), NULL);
        return;
    }
    /* A body longer than it stated is cut off like one over --max-upload. */
    r = upload_new(app->store->blobs, stated ? stated : app->max_upload, known ? length : 0, &u);
    if (r < 0) {
        if (known)
            store_space_release(app->store, length);
        log_error("cannot start upload: %s", strerror(-r));
        respond_error(req, error_from_errno(r), "cannot start upload: %s", strerror(-r));
        return;
    }
    u->meta = meta;
    u->expected = digest;
    u->claimed = known ? length : 0;
    u->stated = stated;
    req->upload = u;
}

int api_upload_body(struct request *req, const char *data, size_t len)
{
    struct upload *u = req->upload;
    int r;

    /* A body of unknown length claims quota and space as it grows. When
     * that fails, the temp file goes at once and the rest of the body is
     * read and dropped, so the client still gets its 507. */
    if (!u->error && u->received + len > u->claimed) {
        r = store_space_claim(req->app->store, CAPACITY_CHECK_BYTES + len);
        if (r == 0) {
            u->claimed += CAPACITY_CHECK_BYTES + len;
        } else {
            log_error("upload to run '%s' stopped after %" PRIu64 " bytes: %s", u->meta.run,
                      u->received,
                      r == -EDQUOT ? "the --max-disk quota is reached"
                                   : "the disk is full up to the --reserve");
            upload_fail(u, r);
        }
    }
    r = upload_write(u, data, len);
    if (r == -EFBIG)
        log_error("closing upload to run '%s': body exceeds --max-upload %" PRIu64,
                  req->upload->meta.run, req->upload->limit);
    return r;
}

/* Finish the digest and check it against what the client stated; false
 * after answering the request with the failure. */
static bool verify_upload(struct request *req)
{
    struct upload *u = req->upload;
    int r = upload_finish(u);

    if (r < 0) {
        log_error("upload to run '%s' failed: %s", u->meta.run, strerror(-r));
        respond_error(req, error_from_errno(r), "cannot store checkpoint: %s", strerror(-r));
        return false;
    }
    if (u->expected.has && memcmp(u->expected.value, u->digest, SHA256_LEN) != 0) {
        char want[SHA256_HEX_LEN + 1];
        digest_hex(u->expected.value, want);
        metric_add(req->app->digest_mismatches, 1);
        respond_error(req, E_DIGEST_MISMATCH,
                      "received %" PRIu64 " bytes with SHA-256 %s, but the client sent %s",
                      u->received, u->digest_hex, want);
        return false;
    }
    return true;
}

/* store_commit's answer, on the thread that committed the upload's batch. */
static void commit_done(void *arg, int r, const struct ckpt_record *rec)
{
    struct request *req = arg;
    char location[64];

    if (r < 0) {
        log_error("cannot commit upload to run '%s': %s", req->upload->meta.run, strerror(-r));
        respond_error(req, error_from_errno(r), "cannot store checkpoint: %s", strerror(-r));
    } else {
        reply_record(req, 201, rec);
        snprintf(location, sizeof(location), "/v1/checkpoints/%" PRId64, rec->id);
        respond_header(req, "Location", location);
        watch_notify(req->app->watch, rec->meta.run); /* wake long polls on this run */
    }
    request_resume(req);
}

/* On a worker thread: verify a large body (its hasher thread may still be
 * catching up, so that wait stays off the event threads), then commit. */
static void commit_job(void *arg)
{
    struct request *req = arg;
    struct upload *u = req->upload;

    if (!u->finished && !verify_upload(req)) {
        request_resume(req);
        return;
    }
    store_commit(req->app->store, upload_detach_tmp(u), &u->meta, u->received, u->digest_hex,
                 commit_done, req);
}

void api_upload_end(struct request *req)
{
    struct upload *u = req->upload;

    if (u->received == 0) {
        respond_error(req, E_EMPTY_BODY, NULL);
        return;
    }
    if (u->stated && u->received != u->stated) {
        respond_error(req, E_BAD_REQUEST,
                      "the body has %" PRIu64 " bytes, not the %" PRIu64
                      " X-Checkpoint-Size stated",
                      u->received, u->stated);
        return;
    }
    /* A digest in a trailer counts the same as one in a header; both, if
     * sent, must agree. Trailers are read here, on the event thread. */
    if (req->chunked && !collect_digests(req, true, &u->expected))
        return;
    /* A body hashed as it came is verified at once, here. */
    if (!u->hashing && !verify_upload(req))
        return;
    run_blocking(req, commit_job);
}

struct list_ctx {
    struct json j;
    bool first;
};

/* A cursor is a position in one order. Its text starts with a tag of that
 * order ("1f2e3d4c_" + position), so reusing it with another order_by or
 * order is refused instead of silently skipping or repeating rows. */
static uint32_t order_tag(const struct list_query *q)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    char spec[RUN_NAME_MAX + 16];
    snprintf(spec, sizeof(spec), "%d/%d/%s", (int)q->order, (int)q->desc,
             q->metric ? q->metric : "");
    for (const char *p = spec; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static int add_checkpoint(void *p, const struct ckpt_record *rec)
{
    struct list_ctx *c = p;
    if (!c->first)
        json_raw(&c->j, ",");
    c->first = false;
    json_checkpoint(&c->j, rec);
    return json_failed(&c->j) ? -ENOMEM : 0;
}

void api_list(struct request *req)
{
    static const char *const allowed[] = {"order_by",  "order",     "limit", "after",
                                          "min_epoch", "max_epoch", NULL};
    struct list_query q = {.run = req->arg_run, .limit = LIST_LIMIT_DEFAULT};
    struct list_ctx c = {.first = true};
    const char *s;
    bool has_next = false;
    struct cursor next;
    int64_t v;

    if (param(req, "after_id") || param(req, "wait")) {
        api_list_after(req); /* the long poll: api_lifecycle.c */
        return;
    }
    if (!check_run(req) || !check_params(req, allowed, false))
        return;
    if ((s = param(req, "order_by"))) {
        if (strcmp(s, "created") == 0) {
            q.order = ORDER_CREATED;
        } else if (strcmp(s, "epoch") == 0) {
            q.order = ORDER_EPOCH;
        } else if (strcmp(s, "step") == 0) {
            q.order = ORDER_STEP;
        } else if (strcmp(s, "loss") == 0) {
            q.order = ORDER_LOSS;
        } else if (is_metric_param(s) && parse_is_name(s + 7, strlen(s + 7))) {
            q.order = ORDER_METRIC;
            q.metric = s + 7;
        } else {
            respond_error(req, E_INVALID_PARAMETER,
                          "order_by must be created, epoch, step, loss or metric.NAME");
            return;
        }
    }
    if ((s = param(req, "order"))) {
        if (strcmp(s, "asc") != 0 && strcmp(s, "desc") != 0) {
            respond_error(req, E_INVALID_PARAMETER, "order must be asc or desc");
            return;
        }
        q.desc = s[0] == 'd';
    }
    if ((s = param(req, "limit"))) {
        if (parse_u63(s, &v) < 0 || v < 1 || v > LIST_LIMIT_MAX) {
            respond_error(req, E_INVALID_PARAMETER, "limit must be an integer from 1 to %d",
                          LIST_LIMIT_MAX);
            return;
        }
        q.limit = (unsigned)v;
    }
    if ((s = param(req, "after"))) {
        char tag[16];
        snprintf(tag, sizeof(tag), "%08x_", order_tag(&q));
        if (strncmp(s, tag, 9) != 0 && strlen(s) > 9 && s[8] == '_') {
            respond_error(req, E_INVALID_CURSOR,
                          "this cursor belongs to another order_by or order; repeat the "
                          "parameters of the listing it came from");
            return;
        }
        if (strncmp(s, tag, 9) != 0 || cursor_parse(s + 9, &q.after) < 0) {
            respond_error(req, E_INVALID_CURSOR, "after must be a 'next' value from a listing");
            return;
        }
        q.has_after = true;
    }
    if (!opt_u63(req, "min_epoch", &q.has_min_epoch, &q.min_epoch) ||
        !opt_u63(req, "max_epoch", &q.has_max_epoch, &q.max_epoch))
        return;

    struct qkey k = {.len = 0};
    char after[CURSOR_MAX] = "";
    if (q.has_after)
        cursor_format(&q.after, after, sizeof(after)); /* as parsed: one spelling per cursor */
    qkey_make(req, &k, "list/%s/%d/%d/%s/%u/%s/%d:%" PRId64 "/%d:%" PRId64, q.run, (int)q.order,
              (int)q.desc, q.metric ? q.metric : "", q.limit, after, (int)q.has_min_epoch,
              q.min_epoch, (int)q.has_max_epoch, q.max_epoch);
    if (reply_kept(req, &k))
        return;
    json_init(&c.j, JSON_LIST_MAX);
    json_raw(&c.j, "{\"checkpoints\":[");
    int r = index_list(req->app->store->index, &q, add_checkpoint, &c, &has_next, &next);
    if (r < 0) {
        json_release(&c.j);
        if (r == -ENOENT)
            respond_error(req, E_RUN_NOT_FOUND, "run '%s' has no checkpoints", q.run);
        else if (r == -EINVAL)
            respond_error(req, E_INVALID_CURSOR,
                          "cursor does not belong to this order_by; repeat the same parameters");
        else
            respond_error(req, error_from_errno(r), NULL);
        return;
    }
    json_raw(&c.j, "],\"next\":");
    if (has_next) {
        char text[CURSOR_MAX];
        int n = snprintf(text, sizeof(text), "%08x_", order_tag(&q));
        cursor_format(&next, text + n, sizeof(text) - (size_t)n);
        json_str(&c.j, text);
    } else {
        json_raw(&c.j, "null");
    }
    json_raw(&c.j, "}");
    reply_keep(req, &k, &c.j, 0);
}

/* The metric and mode parameters of /best: false when an error was sent. */
static bool best_params(struct request *req, const char **metric, bool *maximize)
{
    static const char *const allowed[] = {"metric", "mode", NULL};
    const char *mode = param(req, "mode");

    if (!check_run(req) || !check_params(req, allowed, false))
        return false;
    *metric = param(req, "metric");
    if (!*metric)
        *metric = "loss";
    if (!parse_is_name(*metric, strlen(*metric))) {
        respond_error(
            req, E_INVALID_PARAMETER,
            "metric must be loss or a metric name matching [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
        return false;
    }
    if (mode && strcmp(mode, "min") != 0 && strcmp(mode, "max") != 0) {
        respond_error(req, E_INVALID_PARAMETER, "mode must be min or max");
        return false;
    }
    *maximize = mode && mode[1] == 'a';
    return true;
}

static bool best_lookup(struct request *req, const char *metric, bool maximize,
                        struct ckpt_record *rec)
{
    int r = index_best(req->app->store->index, req->arg_run, metric, maximize, rec);
    if (r < 0) {
        reply_lookup_error(req, r, metric);
        return false;
    }
    return true;
}

void api_best(struct request *req)
{
    struct ckpt_record rec;
    const char *metric;
    bool maximize;
    struct qkey k = {.len = 0};
    struct json j;

    if (!best_params(req, &metric, &maximize))
        return;
    qkey_make(req, &k, "best/%s/%s/%d", req->arg_run, metric, (int)maximize);
    if (reply_kept(req, &k) || !best_lookup(req, metric, maximize, &rec))
        return;
    json_init(&j, 64 * 1024);
    json_checkpoint(&j, &rec);
    reply_keep(req, &k, &j, rec.id);
}

void api_best_blob(struct request *req)
{
    struct ckpt_record rec;
    const char *metric;
    bool maximize;

    if (best_params(req, &metric, &maximize) && best_lookup(req, metric, maximize, &rec))
        reply_blob(req, &rec);
}

static bool latest_lookup(struct request *req, struct ckpt_record *rec)
{
    int r = index_latest(req->app->store->index, req->arg_run, rec);
    if (r < 0) {
        reply_lookup_error(req, r, "loss");
        return false;
    }
    return true;
}

static bool latest_params(struct request *req)
{
    static const char *const none[] = {NULL};
    return check_run(req) && check_params(req, none, false);
}

void api_latest(struct request *req)
{
    struct ckpt_record rec;
    struct qkey k = {.len = 0};
    struct json j;

    if (!latest_params(req))
        return;
    qkey_make(req, &k, "latest/%s", req->arg_run);
    if (reply_kept(req, &k) || !latest_lookup(req, &rec))
        return;
    json_init(&j, 64 * 1024);
    json_checkpoint(&j, &rec);
    reply_keep(req, &k, &j, rec.id);
}

void api_latest_blob(struct request *req)
{
    struct ckpt_record rec;
    if (latest_params(req) && latest_lookup(req, &rec))
        reply_blob(req, &rec);
}

bool lookup_checkpoint(struct request *req, int64_t id, struct ckpt_record *rec)
{
    int r = index_get(req->app->store->index, id, rec);
    if (r == -ENOENT) {
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "no checkpoint with id %" PRId64, id);
        return false;
    }
    if (r < 0) {
        respond_error(req, error_from_errno(r), NULL);
        return false;
    }
    if (req->authenticated && !auth_covers_run(&req->grant, rec->meta.run)) {
        respond_error(req, E_FORBIDDEN, "this token only covers runs starting with '%s'",
                      req->grant.run_prefix);
        return false;
    }
    return true;
}

static bool find_checkpoint(struct request *req, int64_t *id, struct ckpt_record *rec)
{
    static const char *const none[] = {NULL};
    return check_id(req, id) && check_params(req, none, false) && lookup_checkpoint(req, *id, rec);
}

void api_checkpoint(struct request *req)
{
    struct ckpt_record rec;
    int64_t id;

    if (req->method != M_DELETE) {
        if (find_checkpoint(req, &id, &rec))
            reply_record(req, 200, &rec);
        return;
    }
    if (!find_checkpoint(req, &id, &rec))
        return;
    if (store_read_only(req->app->store)) {
        respond_error(req, E_READ_ONLY, NULL);
        return;
    }
    run_blocking(req, delete_job);
}

void api_checkpoint_blob(struct request *req)
{
    struct ckpt_record rec;
    int64_t id;

    if (find_checkpoint(req, &id, &rec))
        reply_blob(req, &rec);
}

/* ---- integrity and capacity ---------------------------------------------- */

static void json_opt_time(struct json *j, int64_t ms)
{
    if (ms)
        json_time_ms(j, ms);
    else
        json_raw(j, "null");
}

static void json_scrub_run(struct json *j, const struct scrub_run *run)
{
    json_raw(j, "\"started_at\":");
    json_opt_time(j, run->started_ms);
    json_raw(j, ",\"finished_at\":");
    json_opt_time(j, run->finished_ms);
    json_raw(j, ",\"blobs_checked\":");
    json_int(j, (int64_t)run->blobs_checked);
    json_raw(j, ",\"bytes_checked\":");
    json_int(j, (int64_t)run->bytes_checked);
    json_raw(j, ",\"blobs_total\":");
    json_int(j, (int64_t)run->blobs_total);
    json_raw(j, ",\"corrupt_found\":");
    json_int(j, (int64_t)run->corrupt_found);
    json_raw(j, ",\"missing_found\":");
    json_int(j, (int64_t)run->missing_found);
}

static void json_scrub_status(struct json *j, struct scrub *sc)
{
    struct scrub_status st;

    scrub_get_status(sc, &st);
    json_raw(j, st.running ? "{\"state\":\"running\"," : "{\"state\":\"idle\",");
    json_scrub_run(j, &st.current);
    json_raw(j, ",\"last_run\":");
    if (st.has_last) {
        json_raw(j, "{");
        json_scrub_run(j, &st.last);
        json_raw(j, "}");
    } else {
        json_raw(j, "null");
    }
    json_raw(j, ",\"next_at\":");
    json_opt_time(j, st.next_ms);
    json_raw(j, ",\"interval_s\":");
    json_int(j, st.interval_s);
    json_raw(j, ",\"rate_bytes_per_s\":");
    json_int(j, (int64_t)st.rate_bytes);
    json_raw(j, "}");
}

void api_admin_scrub(struct request *req)
{
    static const char *const none[] = {NULL};
    struct json j;

    if (!check_params(req, none, false))
        return;
    if (!req->app->scrub) {
        respond_error(req, E_UNAVAILABLE, "the scrub is not running");
        return;
    }
    if (req->method == M_POST) {
        int r = scrub_request(req->app->scrub);
        if (r == -EBUSY) {
            respond_error(req, E_SCRUB_RUNNING,
                          "a scrub is already running; GET /v1/admin/scrub shows its progress");
            return;
        }
        if (r < 0) {
            respond_error(req, E_UNAVAILABLE, "server is shutting down");
            return;
        }
    }
    json_init(&j, 4096);
    if (req->method == M_POST)
        json_raw(&j, "{\"scrub\":");
    json_scrub_status(&j, req->app->scrub);
    if (req->method == M_POST)
        json_raw(&j, "}");
    respond_json(req, req->method == M_POST ? 202 : 200, &j);
}

void api_stats(struct request *req)
{
    static const char *const none[] = {NULL};
    struct store_stats st;
    struct json j;

    if (!check_params(req, none, false))
        return;
    int r = store_stats(req->app->store, &st);
    if (r < 0) {
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    json_init(&j, 1024);
    json_raw(&j, "{\"checkpoints\":");
    json_int(&j, st.ix.checkpoints);
    json_raw(&j, ",\"runs\":");
    json_int(&j, st.ix.runs);
    json_raw(&j, ",\"logical_bytes\":");
    json_int(&j, (int64_t)st.ix.logical_bytes);
    json_raw(&j, ",\"physical_bytes\":");
    json_int(&j, (int64_t)st.ix.physical_bytes);
    json_raw(&j, ",\"corrupt\":");
    json_int(&j, st.ix.corrupt);
    json_raw(&j, ",\"disk_free\":");
    json_int(&j, (int64_t)st.disk_free);
    json_raw(&j, ",\"disk_total\":");
    json_int(&j, (int64_t)st.disk_total);
    json_raw(&j, ",\"max_disk\":");
    if (st.max_disk)
        json_int(&j, (int64_t)st.max_disk);
    else
        json_raw(&j, "null");
    json_raw(&j, ",\"reserve\":");
    json_int(&j, (int64_t)st.reserve);
    json_raw(&j, "}");
    respond_json(req, 200, &j);
}

/* ---- observability ------------------------------------------------------- */

void api_metrics(struct request *req)
{
    static const char *const none[] = {NULL};
    size_t len;
    char *text;

    if (!check_params(req, none, false))
        return;
    text = metrics_render(req->app->metrics, &len);
    if (!text) {
        respond_error(req, E_UNAVAILABLE, "cannot build the metrics text: out of memory");
        return;
    }
    respond_text(req, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* One check of /readyz: "ok", or "failed: " and why. */
static void ready_check(struct json *j, const char *name, int r, const char *why, bool *first)
{
    char msg[160];

    if (!*first)
        json_raw(j, ",");
    *first = false;
    json_str(j, name);
    json_raw(j, ":");
    if (r == 0) {
        json_str(j, "ok");
        return;
    }
    snprintf(msg, sizeof(msg), "failed: %s", why ? why : strerror(-r));
    json_str(j, msg);
}

void api_readyz(struct request *req)
{
    static const char *const none[] = {NULL};
    struct store_readiness rd;
    struct json j;
    char disk[128];
    bool first = true;

    if (!check_params(req, none, false))
        return;
    bool ready = store_ready(req->app->store, &rd);
    snprintf(disk, sizeof(disk), "%" PRIu64 " bytes free, at or below the %llu-byte minimum",
             rd.free_bytes, (unsigned long long)READY_MIN_FREE_BYTES);
    json_init(&j, 2048);
    json_raw(&j, ready ? "{\"status\":\"ready\",\"checks\":{"
                       : "{\"status\":\"not_ready\",\"checks\":{");
    ready_check(&j, "index", rd.index, "the index does not answer", &first);
    ready_check(&j, "data_dir_writable", rd.writable, NULL, &first);
    ready_check(&j, "read_only", rd.read_only, "a fsync failed; writes are refused until restart",
                &first);
    ready_check(&j, "disk", rd.disk, rd.disk == -ENOSPC ? disk : NULL, &first);
    json_raw(&j, "}}");
    respond_json(req, ready ? 200 : 503, &j);
}
