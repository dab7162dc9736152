/*
 * ckpt.h - libckpt, the C client of the ckptd checkpoint store.
 *
 * Upload (push) and download (pull) checkpoints with SHA-256 verification
 * end to end, retries with backoff, resumable downloads, and queries.
 * This header is the whole public API and its specification.
 *
 * Threads: a ckpt_client may be used by one thread at a time; use one
 * client per thread (they share nothing). The library keeps no global state
 * beyond libcurl's curl_global_init, which ckpt_client_new calls once.
 *
 * Errors: every call returns a ckpt_err. ckpt_strerror() names the code;
 * ckpt_client_last_error() says what went wrong in words, including the
 * server's error code and message when the server refused.
 *
 * Ownership: results are returned through out-parameters the caller frees
 * with the matching ckpt_*_free function; on failure they are set to NULL.
 * Strings passed in are only read during the call.
 *
 * Example:
 *
 *     ckpt_client *c = ckpt_client_new("http://127.0.0.1:8420", NULL);
 *     ckpt_meta m = {.run = "demo", .has_epoch = 1, .epoch = 3, .has_loss = 1, .loss = 0.2};
 *     ckpt_info *info;
 *     if (ckpt_push_file(c, &m, "model.pt", &info) != CKPT_OK)
 *         fprintf(stderr, "push failed: %s\n", ckpt_client_last_error(c));
 *     else
 *         ckpt_info_free(info);
 *     ckpt_ref best = ckpt_ref_best("demo", "loss", 0);
 *     if (ckpt_pull_file(c, &best, "best.pt", NULL) != CKPT_OK)
 *         fprintf(stderr, "pull failed: %s\n", ckpt_client_last_error(c));
 *     ckpt_client_free(c);
 */
#ifndef CKPT_H
#define CKPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_VERSION "0.1.0"

#if defined(__GNUC__) && defined(CKPT_BUILDING)
#define CKPT_API __attribute__((visibility("default")))
#else
#define CKPT_API
#endif

/* Result codes. Append-only: values never change meaning. */
typedef enum {
    CKPT_OK = 0,
    CKPT_E_INVALID_ARG = 1, /* a bad argument: NULL, bad run name, bad URL */
    CKPT_E_NOMEM = 2,       /* out of memory */
    CKPT_E_IO = 3,          /* a local file could not be read or written */
    CKPT_E_NETWORK = 4,     /* no connection, or it broke, after all retries */
    CKPT_E_SERVER = 5,      /* the server failed (5xx) after all retries */
    CKPT_E_NOT_FOUND = 6,   /* 404: no such checkpoint or run */
    CKPT_E_REFUSED = 7,     /* another 4xx: the server refused the request */
    CKPT_E_AUTH = 8,        /* 401 or 403 */
    CKPT_E_INTEGRITY = 9,   /* SHA-256 mismatch either way, or checkpoint_corrupt */
    CKPT_E_PROTOCOL = 10,   /* the server's answer made no sense */
    CKPT_E_ABORTED = 11,    /* a callback asked to stop */
    CKPT_E_PRECONDITION = 12, /* 412: a compare-and-swap lost (the alias moved or exists) */
} ckpt_err;

/* A static English name for code ("checkpoint not found"); never NULL. */
CKPT_API const char *ckpt_strerror(ckpt_err code);

typedef struct ckpt_client ckpt_client;

/* A client for the server at base_url ("http://127.0.0.1:8420"). token is
 * sent as "Authorization: Bearer TOKEN" when not NULL. Returns NULL when
 * out of memory or when base_url is NULL or not http(s). Copies both. */
CKPT_API ckpt_client *ckpt_client_new(const char *base_url, const char *token);

/* Free the client; NULL is a no-op. */
CKPT_API void ckpt_client_free(ckpt_client *c);

/* A description of the last failure on c ("digest_mismatch: received ...",
 * "cannot connect to 127.0.0.1 port 8420 ..."), or "" after success.
 * Owned by c; valid until its next call. */
CKPT_API const char *ckpt_client_last_error(const ckpt_client *c);

/* The server's stable error code of the last failure ("run_not_found"),
 * or "" when the server did not answer with one. Arguments the server
 * would refuse are refused before any request with the code it would have
 * used ("invalid_run_name", "invalid_parameter", "invalid_id") and
 * CKPT_E_INVALID_ARG. Owned by c. */
CKPT_API const char *ckpt_client_last_error_code(const ckpt_client *c);

/* The HTTP status of the last response, 0 when there was none. */
CKPT_API long ckpt_client_last_http_status(const ckpt_client *c);

/* Connection timeout, and how long a transfer may make no progress at all
 * before it counts as a network failure (and is retried). Milliseconds;
 * defaults 10000 and 60000. There is no limit on a transfer's total time. */
CKPT_API ckpt_err ckpt_client_set_timeouts(ckpt_client *c, long connect_ms, long stall_ms);

/* Retries after connection failures and 5xx answers: up to max_retries
 * more attempts (default 5), waiting base_ms, 2*base_ms, 4*base_ms, ...
 * (capped at 30 s) with random jitter of up to half the wait; default
 * base_ms 200. 4xx answers are never retried. */
CKPT_API ckpt_err ckpt_client_set_retries(ckpt_client *c, unsigned max_retries, long base_ms);

/* Progress of a push or pull: bytes done and total (0 when unknown).
 * Return non-zero to abort the transfer with CKPT_E_ABORTED. */
typedef int (*ckpt_progress_fn)(void *userdata, uint64_t done, uint64_t total);

/* Call fn during transfers (NULL turns it off). */
CKPT_API ckpt_err ckpt_client_set_progress(ckpt_client *c, ckpt_progress_fn fn, void *userdata);

/* TLS: an https server's certificate is always verified, chain and host
 * name (the name or IP address in base_url must be in the certificate's
 * subjectAltName); libckpt has no switch to turn that off.
 *
 * Verify against the PEM CA certificates in the file at path instead of
 * the system's (/etc/ssl/certs); NULL goes back to the system's. The path
 * is copied, and the file is read when a connection is made, not now: a
 * missing or unreadable file fails the next request. A certificate that
 * does not verify, or a CA file that cannot be used, fails the request
 * with CKPT_E_NETWORK at once (never retried), and
 * ckpt_client_last_error() names the CA file and the reason. The ckpt
 * command takes the same file from --cacert or $CKPT_CACERT. Returns
 * CKPT_E_INVALID_ARG when c is NULL, CKPT_E_NOMEM; c is unchanged then. */
CKPT_API ckpt_err ckpt_client_set_ca_file(ckpt_client *c, const char *path);

/* on != 0: ckpt_push_file reads the file twice, once for its SHA-256 and
 * once to upload it with the digest in a header, instead of once with the
 * digest in a trailer. For a route through a proxy that drops request
 * trailers (nginx): ckpt_push_file finds that out by itself, but only after
 * sending the file once in vain. Default 0; the fallback sets it. */
CKPT_API ckpt_err ckpt_client_set_header_digest(ckpt_client *c, int on);

/* ---- metadata ---------------------------------------------------------- */

typedef struct {
    const char *name; /* [A-Za-z0-9][A-Za-z0-9._-]{0,127} */
    double value;     /* finite */
} ckpt_metric;

/* What a push says about a checkpoint. Zero-initialise, then set run and
 * whichever fields apply (has_x = 1). */
typedef struct {
    const char *run; /* required: [A-Za-z0-9][A-Za-z0-9._-]{0,127} */
    int has_epoch, has_step, has_loss;
    int64_t epoch, step; /* >= 0 */
    double loss;         /* finite */
    const ckpt_metric *metrics;
    size_t n_metrics;
} ckpt_meta;

/* A stored checkpoint, as the server describes it. All strings are owned
 * by the ckpt_info and freed with it. */
typedef struct {
    int64_t id;
    char *run;
    int has_epoch, has_step, has_loss;
    int64_t epoch, step;
    double loss;
    ckpt_metric *metrics; /* names owned by the ckpt_info */
    size_t n_metrics;
    uint64_t size;
    char sha256[65];  /* lowercase hex */
    char *created_at; /* RFC 3339 UTC with milliseconds */
    int corrupt;      /* 1: the server found its bytes damaged and will not serve them */
} ckpt_info;

/* Free info and its strings; NULL is a no-op. */
CKPT_API void ckpt_info_free(ckpt_info *info);

/* ---- push -------------------------------------------------------------- */

/* Upload the file at path, in one pass: the body goes chunked while a
 * second thread hashes the bytes sent (reading them back from the page
 * cache), and the SHA-256 follows in a trailer, which the server checks
 * before it commits: it stores nothing if the bytes it received differ.
 * Retried from the start of the file on network and server failures (the
 * hash starts over with the body). Only the file's size at the start is
 * sent; a file that shrinks meanwhile aborts the upload.
 *
 * Some proxies (nginx) drop request trailers; the server then refuses the
 * upload with 400 trailer_missing (invalid_digest from older servers) and
 * stores nothing. ckpt_push_file then sends the file again the old way,
 * in two passes (the SHA-256 first, then the upload with the digest in an
 * X-Checkpoint-SHA256 header), and remembers it: later pushes of files on
 * the same handle go straight to two passes. ckpt_client_set_header_digest
 * asks for two passes from the start. Either way the progress callback
 * counts the bytes of the upload under way. Files that are not regular
 * (a FIFO, a device) always take two passes.
 * *out (may be NULL) gets the stored checkpoint. */
CKPT_API ckpt_err ckpt_push_file(ckpt_client *c, const ckpt_meta *meta, const char *path,
                        ckpt_info **out);

/* Upload len bytes from buf (not copied; must stay valid during the call). */
CKPT_API ckpt_err ckpt_push_buffer(ckpt_client *c, const ckpt_meta *meta, const void *buf, size_t len,
                          ckpt_info **out);

/* Fill buf with up to len bytes; return the count, 0 at the end of the
 * data, or CKPT_READ_ABORT to abort the upload (nothing is stored). */
typedef size_t (*ckpt_read_fn)(void *userdata, char *buf, size_t len);
#define CKPT_READ_ABORT ((size_t)-1)

/* Upload what read returns until it returns 0, as a chunked body; the
 * SHA-256 goes in a trailer the server verifies before committing, so an
 * interrupted or corrupted stream is never stored. Not retried once the
 * first byte is read (the source cannot be rewound). */
CKPT_API ckpt_err ckpt_push_stream(ckpt_client *c, const ckpt_meta *meta, ckpt_read_fn read,
                          void *userdata, ckpt_info **out);

/* ---- pull -------------------------------------------------------------- */

typedef enum {
    CKPT_REF_ID,
    CKPT_REF_BEST,
    CKPT_REF_LATEST,
    CKPT_REF_ALIAS,  /* a named alias of a run (server-computed or user-set) */
    CKPT_REF_RESUME, /* the run's newest committed checkpoint that is not corrupt */
} ckpt_ref_kind;

/* Which checkpoint to fetch. Build one with the ckpt_ref_* helpers. */
typedef struct {
    ckpt_ref_kind kind;
    int64_t id;         /* CKPT_REF_ID */
    const char *run;    /* CKPT_REF_BEST, CKPT_REF_LATEST, CKPT_REF_ALIAS, CKPT_REF_RESUME */
    const char *metric; /* CKPT_REF_BEST: "loss" or a metric name; NULL means "loss".
                         * CKPT_REF_ALIAS: the alias name (the field is shared so the
                         * struct keeps its size and ABI). */
    int maximize;       /* CKPT_REF_BEST: 1 for the highest value, 0 for the lowest */
} ckpt_ref;

CKPT_API ckpt_ref ckpt_ref_id(int64_t id);
CKPT_API ckpt_ref ckpt_ref_best(const char *run, const char *metric, int maximize);
CKPT_API ckpt_ref ckpt_ref_latest(const char *run);

/* The checkpoint alias name of run points at ("production", or the computed
 * "latest", "best", "resume"). ckpt_get of it is "alias get"; ckpt_pull_*
 * resolve it to one checkpoint id first, so a retry never mixes the bytes
 * of two checkpoints even if the alias moves meanwhile. A missing alias is
 * CKPT_E_NOT_FOUND (code "alias_not_found"). */
CKPT_API ckpt_ref ckpt_ref_alias(const char *run, const char *name);

/* The checkpoint to restart run from: the newest committed one that is not
 * corrupt (GET /v1/runs/RUN/resume). CKPT_E_NOT_FOUND when there is none. */
CKPT_API ckpt_ref ckpt_ref_resume(const char *run);

/* Download to path. The bytes go to a temporary file beside path, are
 * checked against the server's SHA-256, fsynced, and only then renamed over
 * path: a failed or corrupt download never creates or replaces path.
 * A best/latest ref is resolved to one checkpoint first, so every retry
 * fetches the same bytes; an interrupted transfer resumes where it stopped
 * (Range + If-Range). CKPT_E_INTEGRITY when the bytes do not match. */
CKPT_API ckpt_err ckpt_pull_file(ckpt_client *c, const ckpt_ref *ref, const char *path, ckpt_info **out);

/* Download to the open file descriptor fd, writing from its current
 * position. Bytes are written as they arrive: on CKPT_E_INTEGRITY (or any
 * failure) the caller must discard what was written. */
CKPT_API ckpt_err ckpt_pull_fd(ckpt_client *c, const ckpt_ref *ref, int fd, ckpt_info **out);

/* Receive len bytes; return 0 to go on, non-zero to abort (CKPT_E_ABORTED). */
typedef int (*ckpt_write_fn)(void *userdata, const char *buf, size_t len);

/* Download to a callback. As with ckpt_pull_fd, bytes are delivered before
 * the digest can be checked at the end: discard them on failure. */
CKPT_API ckpt_err ckpt_pull_cb(ckpt_client *c, const ckpt_ref *ref, ckpt_write_fn write, void *userdata,
                      ckpt_info **out);

/* ---- queries ----------------------------------------------------------- */

/* Metadata of the checkpoint ref names (by id, best, latest). */
CKPT_API ckpt_err ckpt_get(ckpt_client *c, const ckpt_ref *ref, ckpt_info **out);

/* Delete checkpoint id. */
CKPT_API ckpt_err ckpt_delete(ckpt_client *c, int64_t id);

typedef struct {
    const char *run;      /* required */
    const char *order_by; /* "created" (NULL), "epoch", "step", "loss", "metric.NAME" */
    int desc;             /* 1 for descending */
    size_t limit;         /* most checkpoints to return in all; 0 for all of them */
    int has_min_epoch, has_max_epoch;
    int64_t min_epoch, max_epoch; /* inclusive */
} ckpt_list_opts;

typedef struct {
    ckpt_info *items; /* count entries, owned by the list */
    size_t count;
} ckpt_list;

/* The checkpoints of a run, in order; fetches as many pages as needed. */
CKPT_API ckpt_err ckpt_list_checkpoints(ckpt_client *c, const ckpt_list_opts *opts, ckpt_list **out);

/* One page of at most page_size (1..1000) checkpoints after cursor (NULL
 * for the first page). *next gets the cursor of the following page, or
 * NULL at the end (free() it). For callers that stream long listings. */
CKPT_API ckpt_err ckpt_list_page(ckpt_client *c, const ckpt_list_opts *opts, const char *cursor,
                        size_t page_size, ckpt_list **out, char **next);

/* Free a list and its items; NULL is a no-op. */
CKPT_API void ckpt_list_free(ckpt_list *list);

typedef struct {
    char *run;
    int64_t checkpoints;
    uint64_t bytes;
    int has_best_loss, has_latest_epoch;
    double best_loss;
    int64_t latest_epoch;
    char *updated_at;
} ckpt_run_info;

typedef struct {
    ckpt_run_info *items;
    size_t count;
} ckpt_run_list;

/* Every run on the server, by name. */
CKPT_API ckpt_err ckpt_runs(ckpt_client *c, ckpt_run_list **out);

/* Free a run list; NULL is a no-op. */
CKPT_API void ckpt_run_list_free(ckpt_run_list *list);

/* ---- lifecycle: pins, aliases, retention, leases, watch ------------------ */

/* Pin checkpoint id: retention never drops a pinned checkpoint. Idempotent.
 * *out (may be NULL) gets the checkpoint. CKPT_E_NOT_FOUND when there is no
 * such checkpoint. */
CKPT_API ckpt_err ckpt_pin(ckpt_client *c, int64_t id, ckpt_info **out);

/* Unpin checkpoint id (retention may then drop it). Idempotent. */
CKPT_API ckpt_err ckpt_unpin(ckpt_client *c, int64_t id, ckpt_info **out);

/* if_match values of ckpt_alias_set and ckpt_alias_delete besides an id. */
#define CKPT_ALIAS_ANY 0     /* unconditional */
#define CKPT_ALIAS_CREATE (-1) /* ckpt_alias_set only: only if the alias does not exist yet */

/* Point alias name of run at checkpoint id (which must belong to run and
 * not be corrupt). if_match makes it a compare-and-swap: an id > 0 means
 * "only if the alias points at that id now", CKPT_ALIAS_CREATE "only if it
 * does not exist", CKPT_ALIAS_ANY no condition. A lost condition is
 * CKPT_E_PRECONDITION (HTTP 412, code "precondition_failed") and changes
 * nothing. *previous (may be NULL) gets the id the alias pointed at before,
 * 0 when it was new. Names follow run-name rules; "latest", "best" and
 * "resume" are computed by the server and refused (CKPT_E_REFUSED,
 * "alias_reserved"). Retried like every call; a retry whose first attempt
 * succeeded but lost its answer is recognised and reported as success. */
CKPT_API ckpt_err ckpt_alias_set(ckpt_client *c, const char *run, const char *name, int64_t id,
                                 int64_t if_match, int64_t *previous);

/* Delete alias name of run; if_match > 0 deletes it only while it points at
 * that id (else CKPT_E_PRECONDITION). CKPT_E_NOT_FOUND when it does not
 * exist. */
CKPT_API ckpt_err ckpt_alias_delete(ckpt_client *c, const char *run, const char *name,
                                    int64_t if_match);

typedef struct {
    char *name;
    int64_t id;       /* the checkpoint it points at */
    int computed;     /* 1: latest, best, resume, maintained by the server */
    char *updated_at; /* RFC 3339 of the last change; NULL for computed aliases */
} ckpt_alias;

typedef struct {
    ckpt_alias *items; /* count entries, sorted by name, owned by the list */
    size_t count;
} ckpt_alias_list;

/* Every alias of run, computed ones included. CKPT_E_NOT_FOUND when the run
 * has neither checkpoints nor aliases. */
CKPT_API ckpt_err ckpt_aliases(ckpt_client *c, const char *run, ckpt_alias_list **out);

/* Free an alias list; NULL is a no-op. */
CKPT_API void ckpt_alias_list_free(ckpt_alias_list *list);

/* One keep_best rule: keep the k best checkpoints by metric. */
typedef struct {
    const char *metric; /* "loss" or a metric name */
    int maximize;       /* 1: highest values are best; 0: lowest (like loss) */
    int64_t k;          /* 1..1000000 */
} ckpt_keep_best;

/* A retention policy: the union of its rules (a checkpoint is kept if any
 * rule keeps it). Zero-initialise and set the rules wanted; at least one.
 * Whatever the policy, the server always keeps the latest checkpoint and
 * pinned, aliased and leased ones. As returned by ckpt_policy_get, every
 * pointer is owned by the ckpt_policy and freed with it. */
typedef struct {
    int64_t keep_last;              /* 1..1000000; 0: no such rule */
    const ckpt_keep_best *keep_best; /* n_keep_best rules */
    size_t n_keep_best;
    const char *keep_every_field;   /* "epoch" or "step"; NULL: no such rule */
    int64_t keep_every_n;           /* 1..1000000: keep every n-th epoch or step */
    const char *keep_within;        /* "<int>s|m|h|d", e.g. "48h"; NULL: no such rule */
} ckpt_policy;

/* Set run's retention policy, replacing any it had, and apply it at once.
 * Checks the rules before any request (CKPT_E_INVALID_ARG, code
 * "invalid_policy"). *dropped (may be NULL) gets the ids the policy dropped,
 * *n_dropped their count; free(*dropped). */
CKPT_API ckpt_err ckpt_policy_set(ckpt_client *c, const char *run, const ckpt_policy *policy,
                                  int64_t **dropped, size_t *n_dropped);

/* The policy that applies to run. *out gets it, or NULL when none applies
 * (everything is kept); free with ckpt_policy_free. *from_default (may be
 * NULL) gets 1 when it is the server's --default-policy rather than the
 * run's own. */
CKPT_API ckpt_err ckpt_policy_get(ckpt_client *c, const char *run, ckpt_policy **out,
                                  int *from_default);

/* Free a policy from ckpt_policy_get; NULL is a no-op. */
CKPT_API void ckpt_policy_free(ckpt_policy *policy);

/* Drop run's own policy (the server default, if any, applies again).
 * CKPT_E_NOT_FOUND (code "policy_not_found") when it had none. */
CKPT_API ckpt_err ckpt_policy_delete(ckpt_client *c, const char *run);

typedef struct {
    int64_t id;
    int keep;       /* 1: kept, 0: the policy would drop it */
    char **reasons; /* n_reasons rules that keep it: "latest", "pinned", "best 2 of 3 by loss" */
    size_t n_reasons;
} ckpt_plan_item;

typedef struct {
    ckpt_plan_item *items; /* ascending id, owned by the plan */
    size_t count;
} ckpt_plan;

/* What the current policy keeps and drops in run, changing nothing. */
CKPT_API ckpt_err ckpt_policy_plan(ckpt_client *c, const char *run, ckpt_plan **out);

/* Free a plan; NULL is a no-op. */
CKPT_API void ckpt_plan_free(ckpt_plan *plan);

typedef struct {
    char lease[33];   /* the lease id, 32 lowercase hex digits */
    int64_t id;       /* the leased checkpoint */
    char *expires_at; /* RFC 3339, owned by the ckpt_lease */
} ckpt_lease;

/* Take a reader lease on checkpoint id for ttl_s seconds (1..86400; 0 means
 * the server default, 600): retention never drops it until the lease is
 * released or expires. Free *out with ckpt_lease_free. Retried like every
 * call: an attempt whose answer was lost may leave an extra lease behind,
 * which only expires (it never keeps a checkpoint longer than ttl_s). */
CKPT_API ckpt_err ckpt_lease_take(ckpt_client *c, int64_t id, long ttl_s, ckpt_lease **out);

/* Release a lease before it expires. CKPT_E_NOT_FOUND when it is unknown
 * (or already expired); a string that is not 32 lowercase hex digits is
 * CKPT_E_INVALID_ARG ("invalid_parameter") without a request. */
CKPT_API ckpt_err ckpt_lease_release(ckpt_client *c, const char *lease);

/* Free a lease; NULL is a no-op. */
CKPT_API void ckpt_lease_free(ckpt_lease *lease);

/* Called by ckpt_watch once per new checkpoint, in ascending id order, with
 * info owned by the library (valid during the call); and with info NULL
 * about once a second while it waits, so the caller can stop it. Return 0
 * to go on, non-zero to stop. */
typedef int (*ckpt_watch_fn)(void *userdata, const ckpt_info *info);

/* Start after the newest checkpoint of the run at the time of the call. */
#define CKPT_WATCH_NEW (-1)

/* Follow run: long-poll the server (GET .../checkpoints?after_id=N&wait=S)
 * and call fn for every checkpoint committed with an id above after_id
 * (0: all of them, from the first; CKPT_WATCH_NEW: only those committed from
 * now on). The run need not exist yet. Runs until fn returns non-zero, then
 * returns CKPT_OK. Network failures and 5xx answers are retried with the
 * client's retry policy (set_retries: that many consecutive failures, with
 * backoff; the count restarts after each answer), so a restarting server
 * costs nothing; other failures end the watch with their error. Each long
 * poll asks the server to wait up to 30 seconds, and the stall timeout of
 * ckpt_client_set_timeouts is extended by as much for it, so a quiet run is
 * not a network failure. The client must not be used by another thread
 * meanwhile (see Threads above).
 *
 * Example: print each new checkpoint's id until a signal handler sets stop.
 *
 *     static volatile sig_atomic_t stop;
 *     static int on_ckpt(void *ud, const ckpt_info *in)
 *     {
 *         (void)ud;
 *         if (in)
 *             printf("%" PRId64 "\n", in->id);
 *         return stop;
 *     }
 *     ...
 *     if (ckpt_watch(c, "demo", CKPT_WATCH_NEW, on_ckpt, NULL) != CKPT_OK)
 *         fprintf(stderr, "watch failed: %s\n", ckpt_client_last_error(c));
 */
CKPT_API ckpt_err ckpt_watch(ckpt_client *c, const char *run, int64_t after_id, ckpt_watch_fn fn,
                             void *userdata);

#ifdef __cplusplus
}
#endif

#endif
