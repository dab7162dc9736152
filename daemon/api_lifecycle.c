/*
 * api_lifecycle.c - the lifecycle endpoints: pins, reader leases, user and
 * computed aliases, resume, retention policies and their plan, and the
 * long poll on a run's listing (after_id + wait). Same shape as api.c:
 * guards, one domain call (on a worker thread when it writes), one reply.
 */
#include "api_lifecycle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "app.h"
#include "jparse.h" /* client/jparse.c: one strict JSON parser for both sides */
#include "respond.h"
#include "retention.h"
#include "watch.h"

#define LEASE_HEX 32 /* 128-bit lease ids */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool reserved(const char *name)
{
    return strcmp(name, "latest") == 0 || strcmp(name, "best") == 0 || strcmp(name, "resume") == 0;
}

static bool check_alias_name(struct request *req)
{
    if (!parse_is_name(req->arg_name, strlen(req->arg_name))) {
        respond_error(req, E_INVALID_ALIAS_NAME,
                      "invalid alias name: it must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
        return false;
    }
    return true;
}

static bool writable(struct request *req)
{
    if (store_read_only(req->app->store)) {
        respond_error(req, E_READ_ONLY, NULL);
        return false;
    }
    return true;
}

/* The default policy copied into *buf, or NULL when there is none. */
static const struct policy *default_policy(struct request *req, struct policy *buf)
{
    return store_default_policy(req->app->store, buf) ? buf : NULL;
}

/* ---- small JSON bodies ----------------------------------------------------- */

static size_t body_max(const struct request *req)
{
    return req->arg_name ? ALIAS_BODY_MAX : POLICY_BODY_MAX;
}

void api_json_begin(struct request *req)
{
    static const char *const none[] = {NULL};

    if (!check_run(req) || !check_params(req, none, false))
        return;
    if (req->arg_name && !check_alias_name(req))
        return;
    if (req->arg_name && req->method != M_GET && reserved(req->arg_name)) {
        respond_error(req, E_ALIAS_RESERVED,
                      "'%s' is a computed alias: it follows the run's checkpoints by itself",
                      req->arg_name);
        return;
    }
    if (req->method == M_GET || req->method == M_HEAD)
        return;
    if (!writable(req))
        return;
    if (req->method == M_PUT && req->has_length && req->content_length > body_max(req)) {
        respond_error(req, E_INVALID_BODY, "body of %" PRIu64 " bytes exceeds the limit of %zu",
                      req->content_length, body_max(req));
        return;
    }
}

int api_json_body(struct request *req, const char *data, size_t len)
{
    size_t max = body_max(req);

    if (req->method != M_PUT)
        return 0; /* DELETE takes no body: ignore one */
    if (req->body_len + len > max) {
        respond_error(req, E_INVALID_BODY, "body exceeds the limit of %zu bytes", max);
        return 0; /* the rest is read and dropped */
    }
    if (!req->body && !(req->body = malloc(max + 1)))
        return -ENOMEM;
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return 0;
}

/* ---- pins ---------------------------------------------------------------- */

static void pin_job(void *arg)
{
    struct request *req = arg;
    bool pin = strcmp(req->segs[req->n_segs - 1], "pin") == 0;
    struct ckpt_record rec;
    int64_t id = 0;

    parse_id(req->arg_id, &id);
    int r = index_set_pinned(req->app->store->index, id, pin);
    if (r == 0)
        r = index_get(req->app->store->index, id, &rec);
    if (r == -ENOENT)
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "no checkpoint with id %" PRId64, id);
    else if (r < 0)
        respond_error(req, error_from_errno(r), NULL);
    else
        reply_record(req, 200, &rec);
    request_resume(req);
}

void api_pin(struct request *req)
{
    static const char *const none[] = {NULL};
    struct ckpt_record rec;
    int64_t id;

    if (!check_id(req, &id) || !check_params(req, none, false) ||
        !lookup_checkpoint(req, id, &rec) || !writable(req))
        return;
    run_blocking(req, pin_job);
}

/* ---- leases -------------------------------------------------------------- */

static bool lease_ttl(struct request *req, int64_t *ttl)
{
    const char *s = param(req, "ttl");
    *ttl = LEASE_TTL_DEFAULT;
    if (s && (parse_u63(s, ttl) < 0 || *ttl < 1 || *ttl > LEASE_TTL_MAX)) {
        respond_error(req, E_INVALID_PARAMETER, "ttl must be an integer from 1 to %d seconds",
                      LEASE_TTL_MAX);
        return false;
    }
    return true;
}

static void lease_job(void *arg)
{
    struct request *req = arg;
    char lease[LEASE_HEX + 1];
    int64_t id = 0, ttl = 0;
    struct json j;

    parse_id(req->arg_id, &id);
    lease_ttl(req, &ttl); /* validated before the job was queued */
    int64_t expires = wall_ms() + ttl * 1000;
    int r = digest_random_hex(LEASE_HEX / 2, lease);
    if (r == 0)
        r = index_lease_add(req->app->store->index, lease, id, expires);
    if (r == -ENOENT) {
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "no checkpoint with id %" PRId64, id);
    } else if (r < 0) {
        respond_error(req, error_from_errno(r), "cannot record the lease");
    } else {
        json_init(&j, 256);
        json_raw(&j, "{\"lease\":");
        json_str(&j, lease);
        json_raw(&j, ",\"id\":");
        json_int(&j, id);
        json_raw(&j, ",\"expires_at\":");
        json_time_ms(&j, expires);
        json_raw(&j, "}");
        respond_json(req, 201, &j);
    }
    request_resume(req);
}

void api_lease(struct request *req)
{
    static const char *const allowed[] = {"ttl", NULL};
    struct ckpt_record rec;
    int64_t id, ttl;

    if (!check_id(req, &id) || !check_params(req, allowed, false) || !lease_ttl(req, &ttl) ||
        !lookup_checkpoint(req, id, &rec) || !writable(req))
        return;
    run_blocking(req, lease_job);
}

static bool is_lease_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == LEASE_HEX;
}

static void lease_delete_job(void *arg)
{
    struct request *req = arg;
    int r = index_lease_delete(req->app->store->index, req->arg_name);
    if (r == -ENOENT)
        respond_error(req, E_LEASE_NOT_FOUND, "no lease '%s'", req->arg_name);
    else if (r < 0)
        respond_error(req, error_from_errno(r), NULL);
    else
        respond_empty(req, 204);
    request_resume(req);
}

void api_lease_delete(struct request *req)
{
    static const char *const none[] = {NULL};

    if (!check_params(req, none, false))
        return;
    if (!is_lease_id(req->arg_name)) {
        respond_error(req, E_LEASE_NOT_FOUND, "no lease '%s': lease ids are %d hex digits",
                      req->arg_name, LEASE_HEX);
        return;
    }
    if (!writable(req))
        return;
    run_blocking(req, lease_delete_job);
}

/* ---- aliases and resume ---------------------------------------------------- */

/* The computed alias name (latest, best, resume) of the run in *rec.
 * -ENOENT when the run has no eligible checkpoint. */
static int computed(struct request *req, const char *name, struct ckpt_record *rec)
{
    struct index *ix = req->app->store->index;
    int r = strcmp(name, "best") == 0 ? index_best(ix, req->arg_run, "loss", false, rec)
                                      : index_latest(ix, req->arg_run, rec);
    return r == -ENODATA ? -ENOENT : r;
}

struct alias_list {
    struct alias_row *v;
    size_t n, cap;
};

static int collect_alias(void *ctx, const struct alias_row *a)
{
    struct alias_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        void *p = realloc(l->v, cap * sizeof(*l->v));
        if (!p)
            return -ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = *a;
    return 0;
}

static void add_alias_json(struct json *j, bool *first, const char *name, int64_t id,
                           bool is_computed, int64_t updated_ms)
{
    json_raw(j, *first ? "{\"name\":" : ",{\"name\":");
    *first = false;
    json_str(j, name);
    json_raw(j, ",\"id\":");
    json_int(j, id);
    if (is_computed) {
        json_raw(j, ",\"computed\":true}");
        return;
    }
    json_raw(j, ",\"computed\":false,\"updated_at\":");
    json_time_ms(j, updated_ms);
    json_raw(j, "}");
}

void api_aliases(struct request *req)
{
    static const char *const none[] = {NULL};
    static const char *const names[] = {"best", "latest", "resume"}; /* sorted */
    struct alias_list l = {0};
    struct ckpt_record rec;
    int64_t ids[3];
    bool has[3], known, first = true;
    struct json j;
    int r;

    if (!check_run(req) || !check_params(req, none, false))
        return;
    if ((r = index_run_known(req->app->store->index, req->arg_run, &known)) < 0) {
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    if (!known) {
        respond_error(req, E_RUN_NOT_FOUND, "run '%s' has no checkpoints and no aliases",
                      req->arg_run);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        r = computed(req, names[i], &rec);
        if (r < 0 && r != -ENOENT) {
            respond_error(req, error_from_errno(r), NULL);
            return;
        }
        has[i] = r == 0;
        ids[i] = rec.id;
    }
    r = index_alias_list(req->app->store->index, req->arg_run, collect_alias, &l);
    if (r < 0) {
        free(l.v);
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    json_init(&j, 1u << 24);
    json_raw(&j, "{\"aliases\":[");
    /* Merge the (sorted) computed names into the user aliases (by name). */
    size_t c = 0;
    for (size_t u = 0; u <= l.n; u++) {
        while (c < 3 && (u == l.n || strcmp(names[c], l.v[u].name) < 0)) {
            if (has[c])
                add_alias_json(&j, &first, names[c], ids[c], true, 0);
            c++;
        }
        if (u < l.n)
            add_alias_json(&j, &first, l.v[u].name, l.v[u].id, false, l.v[u].updated_ms);
    }
    json_raw(&j, "]}");
    free(l.v);
    respond_json(req, 200, &j);
}

static void set_etag(struct request *req, int64_t id)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%" PRId64 "\"", id);
    respond_header(req, "ETag", etag);
}

/* The checkpoint alias :name of :run points at. */
static bool find_alias(struct request *req, struct ckpt_record *rec)
{
    struct alias_row a;
    int r;

    if (reserved(req->arg_name)) {
        r = computed(req, req->arg_name, rec);
    } else {
        r = index_alias_get(req->app->store->index, req->arg_run, req->arg_name, &a);
        if (r == 0)
            r = index_get(req->app->store->index, a.id, rec);
    }
    if (r == -ENOENT) {
        respond_error(req, E_ALIAS_NOT_FOUND, "run '%s' has no alias '%s'%s", req->arg_run,
                      req->arg_name,
                      reserved(req->arg_name) ? " (no checkpoint that is not corrupt)" : "");
        return false;
    }
    if (r < 0) {
        respond_error(req, error_from_errno(r), NULL);
        return false;
    }
    return true;
}

/* If-Match / If-None-Match of an alias write into an expectation for
 * index_alias_set. */
static bool alias_expect(struct request *req, int64_t *expect)
{
    const char *im = request_header(req, "If-Match");
    const char *inm = request_header(req, "If-None-Match");
    char buf[32];

    *expect = ALIAS_EXPECT_ANY;
    if (im && inm) {
        respond_error(req, E_BAD_REQUEST, "send If-Match or If-None-Match, not both");
        return false;
    }
    if (inm) {
        while (*inm == ' ')
            inm++;
        if (strcmp(inm, "*") != 0) {
            respond_error(req, E_BAD_REQUEST, "If-None-Match on an alias must be *");
            return false;
        }
        *expect = ALIAS_EXPECT_ABSENT;
        return true;
    }
    if (im) {
        size_t n = strlen(im);
        while (n && im[n - 1] == ' ')
            n--;
        while (n && *im == ' ') {
            im++;
            n--;
        }
        if (n >= 2 && im[0] == '"' && im[n - 1] == '"') {
            im++;
            n -= 2;
        }
        if (n == 0 || n >= sizeof(buf)) {
            respond_error(req, E_BAD_REQUEST,
                          "If-Match must be the alias's current checkpoint "
                          "id, like \"42\"");
            return false;
        }
        memcpy(buf, im, n);
        buf[n] = '\0';
        if (parse_id(buf, expect) < 0) {
            respond_error(req, E_BAD_REQUEST,
                          "If-Match must be the alias's current checkpoint "
                          "id, like \"42\"");
            return false;
        }
    }
    return true;
}

/* The body of an alias PUT: exactly {"id":N}. */
static bool alias_body(struct request *req, int64_t *id)
{
    struct jnode *root = NULL;
    bool ok = false;

    if (req->body && ckpt_jparse(req->body, req->body_len, &root) == 0 && root->type == JT_OBJECT &&
        root->child && !root->child->next && strcmp(root->child->key, "id") == 0 &&
        root->child->type == JT_NUMBER && root->child->is_int && root->child->i >= 1) {
        *id = root->child->i;
        ok = true;
    }
    ckpt_jparse_free(root);
    if (!ok)
        respond_error(req, E_INVALID_BODY,
                      "the body must be a JSON object {\"id\":N} with a "
                      "checkpoint id");
    return ok;
}

static void alias_job(void *arg)
{
    struct request *req = arg;
    int64_t id = 0, expect = ALIAS_EXPECT_ANY, previous = 0;
    struct index *ix = req->app->store->index;
    struct alias_row cur;
    struct json j;
    int r;

    alias_expect(req, &expect); /* both validated before the job was queued */
    if (req->method == M_PUT) {
        alias_body(req, &id);
        r = index_alias_set(ix, req->arg_run, req->arg_name, id, expect, wall_ms(), &previous);
    } else {
        r = index_alias_delete(ix, req->arg_run, req->arg_name, expect);
    }
    if (r == -ESTALE) {
        if (index_alias_get(ix, req->arg_run, req->arg_name, &cur) == 0) {
            respond_error(req, E_PRECONDITION_FAILED,
                          "alias '%s' points at checkpoint %" PRId64 " now", req->arg_name, cur.id);
            set_etag(req, cur.id);
        } else {
            respond_error(req, E_PRECONDITION_FAILED, "alias '%s' does not exist", req->arg_name);
        }
    } else if (r == -ENOENT && req->method == M_PUT) {
        respond_error(req, E_CHECKPOINT_NOT_FOUND, "run '%s' has no checkpoint with id %" PRId64,
                      req->arg_run, id);
    } else if (r == -ENOENT) {
        respond_error(req, E_ALIAS_NOT_FOUND, "run '%s' has no alias '%s'", req->arg_run,
                      req->arg_name);
    } else if (r == -EUCLEAN) {
        respond_error(req, E_CHECKPOINT_CORRUPT,
                      "checkpoint %" PRId64 " is flagged corrupt; an alias cannot point at it", id);
    } else if (r < 0) {
        respond_error(req, error_from_errno(r), NULL);
    } else if (req->method == M_DELETE) {
        respond_empty(req, 204);
    } else {
        json_init(&j, 1024);
        json_raw(&j, "{\"name\":");
        json_str(&j, req->arg_name);
        json_raw(&j, ",\"run\":");
        json_str(&j, req->arg_run);
        json_raw(&j, ",\"id\":");
        json_int(&j, id);
        json_raw(&j, ",\"previous\":");
        if (previous)
            json_int(&j, previous);
        else
            json_raw(&j, "null");
        json_raw(&j, "}");
        respond_json(req, 200, &j);
        set_etag(req, id);
    }
    request_resume(req);
}

void api_alias(struct request *req)
{
    struct ckpt_record rec = {0};
    int64_t expect, id;

    /* api_json_begin checked the run, the name and the parameters. */
    if (req->method == M_GET || req->method == M_HEAD) {
        if (find_alias(req, &rec)) {
            reply_record(req, 200, &rec);
            set_etag(req, rec.id);
        }
        return;
    }
    if (!alias_expect(req, &expect))
        return;
    if (req->method == M_PUT && !alias_body(req, &id))
        return;
    run_blocking(req, alias_job);
}

void api_alias_blob(struct request *req)
{
    static const char *const none[] = {NULL};
    struct ckpt_record rec;

    if (!check_run(req) || !check_params(req, none, false) || !check_alias_name(req))
        return;
    if (find_alias(req, &rec))
        reply_blob(req, &rec);
}

static bool find_resume(struct request *req, struct ckpt_record *rec)
{
    static const char *const none[] = {NULL};
    bool known = false;

    if (!check_run(req) || !check_params(req, none, false))
        return false;
    int r = index_latest(req->app->store->index, req->arg_run, rec);
    if (r == 0)
        return true;
    if (r == -ENOENT && index_run_known(req->app->store->index, req->arg_run, &known) == 0 && known)
        respond_error(req, E_CHECKPOINT_NOT_FOUND,
                      "every checkpoint of run '%s' is flagged corrupt: nothing to resume from",
                      req->arg_run);
    else if (r == -ENOENT)
        respond_error(req, E_RUN_NOT_FOUND, "run '%s' has no checkpoints", req->arg_run);
    else
        respond_error(req, error_from_errno(r), NULL);
    return false;
}

void api_resume(struct request *req)
{
    struct ckpt_record rec;
    if (find_resume(req, &rec))
        reply_record(req, 200, &rec);
}

void api_resume_blob(struct request *req)
{
    struct ckpt_record rec;
    if (find_resume(req, &rec))
        reply_blob(req, &rec);
}

/* ---- retention policies ---------------------------------------------------- */

static void policy_set_job(void *arg)
{
    struct request *req = arg;
    struct policy p;
    char err[256];
    int64_t *dropped = NULL;
    size_t n = 0;
    struct json j;

    policy_parse(req->body, req->body_len, &p, err, sizeof(err)); /* checked before */
    int r = store_policy_set(req->app->store, req->arg_run, &p, &dropped, &n);
    if (r < 0) {
        respond_error(req, error_from_errno(r), "cannot apply the policy");
    } else {
        json_init(&j, 1u << 24);
        json_raw(&j, "{\"run\":");
        json_str(&j, req->arg_run);
        json_raw(&j, ",\"policy\":");
        policy_json(&j, &p);
        json_raw(&j, ",\"dropped\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                json_raw(&j, ",");
            json_int(&j, dropped[i]);
        }
        json_raw(&j, "]}");
        respond_json(req, 200, &j);
    }
    free(dropped);
    request_resume(req);
}

static void policy_delete_job(void *arg)
{
    struct request *req = arg;
    int r = index_policy_delete(req->app->store->index, req->arg_run);
    if (r == -ENOENT)
        respond_error(req, E_POLICY_NOT_FOUND, "run '%s' has no retention policy of its own",
                      req->arg_run);
    else if (r < 0)
        respond_error(req, error_from_errno(r), NULL);
    else
        respond_empty(req, 204);
    request_resume(req);
}

void api_policy(struct request *req)
{
    struct policy p;
    char err[256];
    struct json j;

    /* api_json_begin checked the run and the parameters. */
    if (req->method == M_PUT) {
        if (!req->body) {
            respond_error(req, E_INVALID_POLICY, "the body must be a JSON policy object");
            return;
        }
        if (policy_parse(req->body, req->body_len, &p, err, sizeof(err)) < 0) {
            respond_error(req, E_INVALID_POLICY, "%s", err);
            return;
        }
        run_blocking(req, policy_set_job);
        return;
    }
    if (req->method == M_DELETE) {
        run_blocking(req, policy_delete_job);
        return;
    }
    int r = index_policy_get(req->app->store->index, req->arg_run, &p);
    struct policy dflt_buf;
    const struct policy *dflt = default_policy(req, &dflt_buf);
    if (r < 0 && r != -ENOENT) {
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    json_init(&j, 1u << 20);
    json_raw(&j, "{\"run\":");
    json_str(&j, req->arg_run);
    json_raw(&j, ",\"policy\":");
    if (r == 0)
        policy_json(&j, &p);
    else if (dflt)
        policy_json(&j, dflt);
    else
        json_raw(&j, "null");
    json_raw(&j, r == 0 ? ",\"source\":\"run\"}"
                 : dflt ? ",\"source\":\"default\"}"
                        : ",\"source\":\"none\"}");
    respond_json(req, 200, &j);
}

struct plan_ctx {
    struct json j;
    const char *run;
    bool first_reason;
};

static void add_reason(void *ctx, const char *reason)
{
    struct plan_ctx *c = ctx;
    if (!c->first_reason)
        json_raw(&c->j, ",");
    c->first_reason = false;
    json_str(&c->j, reason);
}

static int plan_json(void *ctx, const struct policy *p, bool own, const struct ret_item *items,
                     size_t n)
{
    struct plan_ctx *c = ctx;

    json_raw(&c->j, "{\"run\":");
    json_str(&c->j, c->run);
    json_raw(&c->j, ",\"policy\":");
    if (p)
        policy_json(&c->j, p);
    else
        json_raw(&c->j, "null");
    json_raw(&c->j, own ? ",\"source\":\"run\""
                    : p ? ",\"source\":\"default\""
                        : ",\"source\":\"none\"");
    json_raw(&c->j, ",\"checkpoints\":[");
    for (size_t i = 0; i < n; i++) {
        json_raw(&c->j, i ? ",{\"id\":" : "{\"id\":");
        json_int(&c->j, items[i].id);
        json_raw(&c->j, items[i].keep ? ",\"action\":\"keep\",\"reasons\":["
                                      : ",\"action\":\"drop\",\"reasons\":[");
        c->first_reason = true;
        retention_reasons(p, &items[i], add_reason, c);
        json_raw(&c->j, "]}");
    }
    json_raw(&c->j, "]}");
    return json_failed(&c->j) ? -ENOMEM : 0;
}

void api_plan(struct request *req)
{
    static const char *const none[] = {NULL};
    struct plan_ctx c = {.run = req->arg_run};

    if (!check_run(req) || !check_params(req, none, false))
        return;
    json_init(&c.j, 1u << 26);
    struct policy dflt_buf;
    int r = index_plan(req->app->store->index, req->arg_run, default_policy(req, &dflt_buf),
                       wall_ms(), plan_json, &c);
    if (r < 0) {
        json_release(&c.j);
        if (r == -ENOENT)
            respond_error(req, E_RUN_NOT_FOUND, "run '%s' has no checkpoints", req->arg_run);
        else
            respond_error(req, error_from_errno(r), NULL);
        return;
    }
    respond_json(req, 200, &c.j);
}

/* ---- long poll: GET /v1/runs/:run/checkpoints?after_id=N&wait=S ------------ */

struct after_ctx {
    struct request *req;
    struct list_query q;
};

static int add_after(void *ctx, const struct ckpt_record *rec)
{
    struct json *j = ctx;
    if (json_failed(j))
        return -ENOMEM;
    if (j->len && j->buf[j->len - 1] == '}')
        json_raw(j, ",");
    json_checkpoint(j, rec);
    return json_failed(j) ? -ENOMEM : 0;
}

/* Run q into a reply body in *j; *any tells whether it found something.
 * A run without checkpoints is an empty list: watchers may come first. */
static int after_query(struct request *req, const struct list_query *q, struct json *j, bool *any)
{
    bool has_next = false;
    struct cursor next;

    json_init(j, 32u << 20);
    json_raw(j, "{\"checkpoints\":[");
    size_t start = j->len;
    int r = index_list(req->app->store->index, q, add_after, j, &has_next, &next);
    if (r == -ENOENT)
        r = 0;
    if (r < 0) {
        json_release(j);
        return r;
    }
    *any = j->len > start;
    json_raw(j, "],\"next\":null}");
    return 0;
}

static bool after_poll(void *arg, bool final)
{
    struct after_ctx *c = arg;
    struct json j;
    bool any = false;
    int r = after_query(c->req, &c->q, &j, &any);

    if (r < 0) {
        respond_error(c->req, error_from_errno(r), NULL);
        return true;
    }
    if (!any && !final) {
        json_release(&j);
        return false;
    }
    respond_json(c->req, 200, &j);
    return true;
}

static void after_resume(void *arg)
{
    struct after_ctx *c = arg;
    request_resume(c->req);
    free(c);
}

static const struct watch_ops after_ops = {after_poll, after_resume};

void api_list_after(struct request *req)
{
    static const char *const allowed[] = {"after_id",  "wait",      "limit", "order_by", "order",
                                          "min_epoch", "max_epoch", "after", NULL};
    struct list_query q = {.run = req->arg_run, .limit = LIST_LIMIT_DEFAULT, .has_after = true};
    const char *s;
    int64_t v, wait_s = 0;
    struct json j;
    bool any = false;

    if (!check_run(req) || !check_params(req, allowed, false))
        return;
    if (param(req, "after") || ((s = param(req, "order_by")) && strcmp(s, "created") != 0) ||
        ((s = param(req, "order")) && strcmp(s, "asc") != 0)) {
        respond_error(req, E_INVALID_PARAMETER,
                      "after_id lists by ascending id: it does not combine with after, "
                      "order_by other than created, or order=desc");
        return;
    }
    if (!(s = param(req, "after_id")) || parse_u63(s, &q.after.id) < 0) {
        respond_error(req, E_INVALID_PARAMETER,
                      s ? "after_id must be an integer from 0 to %lld"
                        : "wait needs after_id, an integer from 0 to %lld",
                      (long long)INT64_MAX);
        return;
    }
    q.after.kind = CURSOR_NONE;
    if ((s = param(req, "wait")) && (parse_u63(s, &wait_s) < 0 || wait_s > WATCH_WAIT_MAX)) {
        respond_error(req, E_INVALID_PARAMETER, "wait must be an integer from 0 to %d seconds",
                      WATCH_WAIT_MAX);
        return;
    }
    if ((s = param(req, "limit"))) {
        if (parse_u63(s, &v) < 0 || v < 1 || v > LIST_LIMIT_MAX) {
            respond_error(req, E_INVALID_PARAMETER, "limit must be an integer from 1 to %d",
                          LIST_LIMIT_MAX);
            return;
        }
        q.limit = (unsigned)v;
    }
    if ((s = param(req, "min_epoch"))) {
        if (parse_u63(s, &q.min_epoch) < 0) {
            respond_error(req, E_INVALID_PARAMETER, "min_epoch must be a non-negative integer");
            return;
        }
        q.has_min_epoch = true;
    }
    if ((s = param(req, "max_epoch"))) {
        if (parse_u63(s, &q.max_epoch) < 0) {
            respond_error(req, E_INVALID_PARAMETER, "max_epoch must be a non-negative integer");
            return;
        }
        q.has_max_epoch = true;
    }
    int r = after_query(req, &q, &j, &any);
    if (r < 0) {
        respond_error(req, error_from_errno(r), NULL);
        return;
    }
    if (any || wait_s == 0) {
        respond_json(req, 200, &j);
        return;
    }
    json_release(&j);

    /* Nothing yet: park the request. q.run points into req, which lives
     * until the request completes, after the watcher let it go. */
    struct after_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        respond_error(req, E_UNAVAILABLE, NULL);
        return;
    }
    c->req = req;
    c->q = q;
    request_suspend(req);
    r = watch_add(req->app->watch, req->arg_run, request_fd(req), watch_now_ms() + wait_s * 1000,
                  &after_ops, c);
    if (r < 0) {
        free(c);
        if (r == -EAGAIN)
            respond_error(req, E_UNAVAILABLE, "too many long polls waiting; retry shortly");
        else
            respond_error(req, E_UNAVAILABLE, "server is shutting down");
        request_resume(req);
    }
}
