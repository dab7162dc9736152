/*
 * lifecycle.c - libckpt's lifecycle calls (issue 5) against a real ckptd: pin/unpin, aliases
 * with compare-and-swap, alias and resume refs (get and pull), retention policy set/get/
 * delete/plan, reader leases, and ckpt_watch (wake-up latency, order, cancelling, a run
 * that does not exist yet), and malformed answers from a canned server. Usage: client_lifecycle BASE_URL SCRATCH_DIR
 * (run by tests/integration/160_client_lifecycle.sh)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "tcheck.h"

static const char *url;
static char scratch[1024];
static char run_a[64], run_p[64], run_w[64], run_e[64], run_o[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ckpt_client *client(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    if (!c) {
        fprintf(stderr, "ckpt_client_new failed\n");
        exit(2);
    }
    ckpt_client_set_retries(c, 2, 50);
    return c;
}

/* Push a small checkpoint of run whose bytes say tag; its id, or 0. */
static int64_t push(ckpt_client *c, const char *run, int64_t epoch, double loss, const char *tag)
{
    char buf[256];
    ckpt_meta m = {.run = run, .has_epoch = 1, .epoch = epoch, .has_loss = 1, .loss = loss};
    ckpt_info *info = NULL;
    int n = snprintf(buf, sizeof(buf), "checkpoint %s of %s epoch %" PRId64, tag, run, epoch);
    if (ckpt_push_buffer(c, &m, buf, (size_t)n, &info) != CKPT_OK) {
        DIAG("push failed: %s", ckpt_client_last_error(c));
        return 0;
    }
    int64_t id = info->id;
    ckpt_info_free(info);
    return id;
}

struct mem {
    char buf[512];
    size_t len;
};

static int mem_write(void *ud, const char *buf, size_t len)
{
    struct mem *m = ud;
    if (m->len + len >= sizeof(m->buf))
        return 1;
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    m->buf[m->len] = '\0';
    return 0;
}

/* ---- pins ---------------------------------------------------------------- */

static void test_pins(ckpt_client *c, int64_t id)
{
    ckpt_info *info = NULL;

    CHECK_ERR(c, ckpt_pin(c, id, &info), CKPT_OK, "ckpt_pin of an existing checkpoint");
    CHECK(info && info->id == id, "  ... returns that checkpoint");
    ckpt_info_free(info);
    CHECK_ERR(c, ckpt_pin(c, id, NULL), CKPT_OK, "ckpt_pin again is idempotent (out may be NULL)");
    CHECK_ERR(c, ckpt_unpin(c, id, &info), CKPT_OK, "ckpt_unpin");
    CHECK(info && info->id == id, "  ... returns that checkpoint");
    ckpt_info_free(info);
    info = (ckpt_info *)&info; /* must be reset to NULL on failure */
    CHECK_ERR(c, ckpt_pin(c, 0, &info), CKPT_E_INVALID_ARG, "ckpt_pin(0) is refused before any request");
    CHECK(info == NULL, "  ... and *out is NULL");
    CHECK_STR(ckpt_client_last_error_code(c), "invalid_id", "  ... with the code invalid_id");
    CHECK_ERR(c, ckpt_pin(c, 987654321, NULL), CKPT_E_NOT_FOUND, "ckpt_pin of a missing checkpoint");
    CHECK_INT(ckpt_client_last_http_status(c), 404, "  ... is a 404");
    CHECK_ERR(c, ckpt_unpin(c, 987654321, NULL), CKPT_E_NOT_FOUND, "ckpt_unpin of a missing checkpoint");
    CHECK_ERR(NULL, ckpt_pin(NULL, id, NULL), CKPT_E_INVALID_ARG, "ckpt_pin(NULL client)");
}

/* ---- aliases ------------------------------------------------------------- */

static void test_aliases(ckpt_client *c, const int64_t ids[4])
{
    int64_t prev = -7;
    ckpt_info *info = NULL;
    ckpt_ref ref;

    CHECK_ERR(c, ckpt_alias_set(c, run_a, "production", ids[0], CKPT_ALIAS_CREATE, &prev), CKPT_OK,
              "alias set --create of a new alias");
    CHECK_INT(prev, 0, "  ... previous is 0 (it was new)");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "production", ids[1], CKPT_ALIAS_CREATE, &prev),
              CKPT_E_PRECONDITION, "alias set --create of an existing alias is CKPT_E_PRECONDITION");
    CHECK_INT(ckpt_client_last_http_status(c), 412, "  ... HTTP 412");
    CHECK_STR(ckpt_client_last_error_code(c), "precondition_failed", "  ... code precondition_failed");
    CHECK_STR(ckpt_strerror(CKPT_E_PRECONDITION), "precondition failed", "ckpt_strerror names it");

    CHECK_ERR(c, ckpt_alias_set(c, run_a, "production", ids[2], ids[0], &prev), CKPT_OK,
              "alias set with if_match = the current id (compare-and-swap wins)");
    CHECK_INT(prev, ids[0], "  ... previous is the id it pointed at");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "production", ids[3], ids[0], &prev),
              CKPT_E_PRECONDITION, "alias set with a stale if_match is CKPT_E_PRECONDITION");
    ref = ckpt_ref_alias(run_a, "production");
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_OK, "ckpt_get of ckpt_ref_alias");
    CHECK(info && info->id == ids[2], "  ... still points at the CAS winner (%" PRId64 ")", ids[2]);
    ckpt_info_free(info);
    info = NULL;
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "production", ids[2], CKPT_ALIAS_ANY, &prev), CKPT_OK,
              "alias set unconditionally to the same id");
    CHECK_INT(prev, ids[2], "  ... previous is that id");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "candidate", ids[1], CKPT_ALIAS_ANY, NULL), CKPT_OK,
              "alias set of a second alias (previous may be NULL)");

    /* Computed aliases: latest (highest id), best (min loss), resume. */
    ref = ckpt_ref_alias(run_a, "latest");
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_OK, "ckpt_get of the computed alias latest");
    CHECK(info && info->id == ids[3], "  ... is the newest checkpoint");
    ckpt_info_free(info);
    ref = ckpt_ref_alias(run_a, "best");
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_OK, "ckpt_get of the computed alias best");
    CHECK(info && info->id == ids[1], "  ... is the lowest loss");
    ckpt_info_free(info);
    ref = ckpt_ref_resume(run_a);
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_OK, "ckpt_get of ckpt_ref_resume");
    CHECK(info && info->id == ids[3], "  ... is the newest checkpoint");
    ckpt_info_free(info);
    info = NULL;

    CHECK_ERR(c, ckpt_alias_set(c, run_a, "latest", ids[0], CKPT_ALIAS_ANY, NULL), CKPT_E_REFUSED,
              "alias set of the computed alias latest is refused");
    CHECK_STR(ckpt_client_last_error_code(c), "alias_reserved", "  ... code alias_reserved");
    CHECK_ERR(c, ckpt_alias_delete(c, run_a, "best", CKPT_ALIAS_ANY), CKPT_E_REFUSED,
              "alias delete of the computed alias best is refused");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "bad name", ids[0], CKPT_ALIAS_ANY, NULL),
              CKPT_E_INVALID_ARG, "an alias name with a space is refused before any request");
    CHECK_STR(ckpt_client_last_error_code(c), "invalid_alias_name", "  ... code invalid_alias_name");
    CHECK_ERR(c, ckpt_alias_set(c, "bad/run", "x", ids[0], CKPT_ALIAS_ANY, NULL),
              CKPT_E_INVALID_ARG, "a bad run name is refused before any request");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "x", 0, CKPT_ALIAS_ANY, NULL), CKPT_E_INVALID_ARG,
              "alias set to id 0 is refused");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "x", 987654321, CKPT_ALIAS_ANY, NULL), CKPT_E_NOT_FOUND,
              "alias set to a missing checkpoint is CKPT_E_NOT_FOUND");
    int64_t other = push(c, run_o, 99, 9.0, "other-run");
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "x", other, CKPT_ALIAS_ANY, NULL), CKPT_E_NOT_FOUND,
              "alias set to a checkpoint of another run is CKPT_E_NOT_FOUND");
    ref = ckpt_ref_alias(run_a, "nosuch");
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_E_NOT_FOUND, "ckpt_get of a missing alias");
    CHECK_STR(ckpt_client_last_error_code(c), "alias_not_found", "  ... code alias_not_found");
    ref = ckpt_ref_alias(run_a, NULL);
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_E_INVALID_ARG, "ckpt_ref_alias with a NULL name");

    /* Listing. */
    ckpt_alias_list *list = NULL;
    CHECK_ERR(c, ckpt_aliases(c, run_a, &list), CKPT_OK, "ckpt_aliases");
    if (list) {
        int seen_best = 0, seen_latest = 0, seen_prod = 0, sorted = 1;
        for (size_t i = 0; i < list->count; i++) {
            const ckpt_alias *a = &list->items[i];
            if (i && strcmp(list->items[i - 1].name, a->name) >= 0)
                sorted = 0;
            if (strcmp(a->name, "best") == 0)
                seen_best = a->computed && a->id == ids[1] && !a->updated_at;
            if (strcmp(a->name, "latest") == 0)
                seen_latest = a->computed && a->id == ids[3];
            if (strcmp(a->name, "production") == 0)
                seen_prod = !a->computed && a->id == ids[2] && a->updated_at;
        }
        CHECK(seen_best, "  ... lists best (computed, no updated_at) at the lowest loss");
        CHECK(seen_latest, "  ... lists latest (computed) at the newest");
        CHECK(seen_prod, "  ... lists production (user, with updated_at) at the CAS winner");
        CHECK(sorted, "  ... sorted by name");
    }
    ckpt_alias_list_free(list);
    list = (ckpt_alias_list *)&list;
    CHECK_ERR(c, ckpt_aliases(c, run_e, &list), CKPT_E_NOT_FOUND,
              "ckpt_aliases of a run with no checkpoints and no aliases is CKPT_E_NOT_FOUND");
    CHECK(list == NULL, "  ... and *out is NULL");
    ckpt_alias_list_free(NULL);

    /* Pull by alias: the bytes of the checkpoint it points at. */
    struct mem m = {0};
    ref = ckpt_ref_alias(run_a, "production");
    CHECK_ERR(c, ckpt_pull_cb(c, &ref, mem_write, &m, &info), CKPT_OK, "ckpt_pull_cb of an alias");
    CHECK(info && info->id == ids[2], "  ... fetched the checkpoint it points at");
    CHECK(strstr(m.buf, "checkpoint c of") != NULL, "  ... with its bytes ('%s')", m.buf);
    ckpt_info_free(info);
    info = NULL;
    char path[1200];
    snprintf(path, sizeof(path), "%s/resume.bin", scratch);
    ref = ckpt_ref_resume(run_a);
    CHECK_ERR(c, ckpt_pull_file(c, &ref, path, &info), CKPT_OK, "ckpt_pull_file of ckpt_ref_resume");
    CHECK(info && info->id == ids[3], "  ... fetched the newest checkpoint");
    ckpt_info_free(info);
    info = NULL;
    ref = ckpt_ref_resume(run_e);
    CHECK_ERR(c, ckpt_get(c, &ref, &info), CKPT_E_NOT_FOUND, "resume of a run with no checkpoints");

    /* Delete, with and without a condition. */
    CHECK_ERR(c, ckpt_alias_delete(c, run_a, "candidate", ids[0]), CKPT_E_PRECONDITION,
              "alias delete with a stale if_match is CKPT_E_PRECONDITION");
    CHECK_ERR(c, ckpt_alias_delete(c, run_a, "candidate", ids[1]), CKPT_OK,
              "alias delete with the current id as if_match");
    CHECK_ERR(c, ckpt_alias_delete(c, run_a, "candidate", CKPT_ALIAS_ANY), CKPT_E_NOT_FOUND,
              "alias delete of a deleted alias is CKPT_E_NOT_FOUND");
    CHECK_ERR(c, ckpt_alias_delete(c, run_a, "candidate", CKPT_ALIAS_CREATE), CKPT_E_INVALID_ARG,
              "alias delete with CKPT_ALIAS_CREATE makes no sense and is refused");
}

/* Two clients race to move one alias from the same id: exactly one wins. */
static void test_alias_race(const int64_t ids[4])
{
    ckpt_client *c = client();
    int rounds = 20, bad = 0;
    CHECK_ERR(c, ckpt_alias_set(c, run_a, "race", ids[0], CKPT_ALIAS_ANY, NULL), CKPT_OK,
              "alias race: start at the first checkpoint");
    for (int r = 0; r < rounds; r++) {
        int64_t from = ids[r % 2], to = ids[(r + 1) % 2];
        int fds[2];
        if (pipe(fds) < 0)
            break;
        pid_t pid = fork();
        if (pid == 0) {
            ckpt_client *cc = client();
            char res = ckpt_alias_set(cc, run_a, "race", ids[2], from, NULL) == CKPT_OK ? 'w' : 'l';
            ckpt_client_free(cc);
            if (write(fds[1], &res, 1) != 1)
                _exit(3);
            _exit(0);
        }
        ckpt_err mine = ckpt_alias_set(c, run_a, "race", to, from, NULL);
        char theirs = 'x';
        if (read(fds[0], &theirs, 1) != 1)
            theirs = 'x';
        close(fds[0]);
        close(fds[1]);
        waitpid(pid, NULL, 0);
        int wins = (mine == CKPT_OK) + (theirs == 'w');
        if (wins != 1 || (mine != CKPT_OK && mine != CKPT_E_PRECONDITION))
            bad++;
        /* Put it back where the next round expects it. */
        ckpt_alias_set(c, run_a, "race", to, CKPT_ALIAS_ANY, NULL);
    }
    CHECK_INT(bad, 0, "alias race: in %d rounds of two compare-and-swaps from the same id, exactly "
              "one won and the loser got CKPT_E_PRECONDITION", rounds);
    ckpt_client_free(c);
}

/* ---- retention policy ---------------------------------------------------- */

static void test_policy(ckpt_client *c)
{
    int64_t ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = push(c, run_p, i + 1, 1.0 - 0.1 * i + (i == 1 ? -0.9 : 0), "p");
    /* ids[1] has the lowest loss (0.0); keep it by keep_best, ids[5] as the latest;
     * pin ids[2], alias ids[3]. ids[0] and ids[4] can go. */
    ckpt_policy *got = NULL;
    int from_default = 7;
    CHECK_ERR(c, ckpt_policy_get(c, run_p, &got, &from_default), CKPT_OK,
              "policy get of a run without a policy");
    CHECK(got == NULL, "  ... gives NULL (everything is kept)");
    CHECK_INT(from_default, 0, "  ... not from the server default");
    CHECK_ERR(c, ckpt_policy_delete(c, run_p), CKPT_E_NOT_FOUND,
              "policy delete of a run without a policy is CKPT_E_NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "policy_not_found", "  ... code policy_not_found");

    ckpt_policy empty = {0};
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &empty, NULL, NULL), CKPT_E_INVALID_ARG,
              "a policy without rules is refused before any request");
    CHECK_STR(ckpt_client_last_error_code(c), "invalid_policy", "  ... code invalid_policy");
    ckpt_policy badw = {.keep_within = "48x"};
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &badw, NULL, NULL), CKPT_E_INVALID_ARG,
              "keep_within '48x' is refused");
    ckpt_policy bade = {.keep_every_field = "loss", .keep_every_n = 2};
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &bade, NULL, NULL), CKPT_E_INVALID_ARG,
              "keep_every on a field other than epoch/step is refused");
    ckpt_keep_best badk = {.metric = "loss", .k = 0};
    ckpt_policy badb = {.keep_best = &badk, .n_keep_best = 1};
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &badb, NULL, NULL), CKPT_E_INVALID_ARG,
              "keep_best with k 0 is refused");
    CHECK_ERR(c, ckpt_policy_set(c, run_p, NULL, NULL, NULL), CKPT_E_INVALID_ARG, "a NULL policy");

    CHECK_ERR(c, ckpt_pin(c, ids[2], NULL), CKPT_OK, "pin a checkpoint before the policy");
    CHECK_ERR(c, ckpt_alias_set(c, run_p, "keepme", ids[3], CKPT_ALIAS_ANY, NULL), CKPT_OK,
              "alias a checkpoint before the policy");

    /* A plan under a lenient policy first: everything kept. */
    ckpt_keep_best kb[2] = {{.metric = "loss", .maximize = 0, .k = 1},
                            {.metric = "loss", .maximize = 1, .k = 1}};
    ckpt_policy lenient = {.keep_last = 100};
    int64_t *dropped = (int64_t *)&dropped;
    size_t nd = 99;
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &lenient, &dropped, &nd), CKPT_OK,
              "policy set keep_last 100");
    CHECK_INT(nd, 0, "  ... drops nothing");
    CHECK(dropped == NULL, "  ... and *dropped is NULL when nothing was dropped");
    free(dropped);

    ckpt_plan *plan = NULL;
    ckpt_policy strict = {.keep_last = 1, .keep_best = kb, .n_keep_best = 1};
    CHECK_ERR(c, ckpt_policy_plan(c, run_p, &plan), CKPT_OK, "policy plan");
    if (plan) {
        int all_keep = plan->count == 6;
        for (size_t i = 0; i < plan->count; i++)
            all_keep = all_keep && plan->items[i].keep && plan->items[i].n_reasons > 0;
        CHECK(all_keep, "  ... lists the 6 checkpoints, all kept, each with a reason");
    }
    ckpt_plan_free(plan);
    plan = NULL;

    dropped = NULL;
    nd = 0;
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &strict, &dropped, &nd), CKPT_OK,
              "policy set keep_last 1 + keep_best loss:min:1");
    int ok_drop = nd == 2;
    for (size_t i = 0; i < nd; i++)
        ok_drop = ok_drop && (dropped[i] == ids[0] || dropped[i] == ids[4]);
    CHECK(ok_drop, "  ... drops exactly the two checkpoints no rule, pin or alias keeps (%zu dropped)",
          nd);
    free(dropped);

    CHECK_ERR(c, ckpt_policy_get(c, run_p, &got, &from_default), CKPT_OK, "policy get");
    CHECK(got && got->keep_last == 1 && got->n_keep_best == 1 && got->keep_best &&
              strcmp(got->keep_best[0].metric, "loss") == 0 && !got->keep_best[0].maximize &&
              got->keep_best[0].k == 1 && !got->keep_every_field && !got->keep_within,
          "  ... gives back the rules that were set");
    CHECK_INT(from_default, 0, "  ... as the run's own policy");
    ckpt_policy_free(got);
    got = NULL;

    CHECK_ERR(c, ckpt_policy_plan(c, run_p, &plan), CKPT_OK, "policy plan after the drop");
    if (plan) {
        int good = plan->count == 4;
        for (size_t i = 0; i < plan->count; i++) {
            const ckpt_plan_item *it = &plan->items[i];
            good = good && it->keep && (i == 0 || it->id > plan->items[i - 1].id);
            if (it->id == ids[2]) {
                int pinned = 0;
                for (size_t r = 0; r < it->n_reasons; r++)
                    pinned = pinned || strcmp(it->reasons[r], "pinned") == 0;
                good = good && pinned;
            }
        }
        CHECK(good, "  ... 4 checkpoints left, ascending, all kept, the pinned one for 'pinned'");
    }
    ckpt_plan_free(plan);

    ckpt_policy full = {.keep_last = 3, .keep_best = kb, .n_keep_best = 2,
                        .keep_every_field = "epoch", .keep_every_n = 10, .keep_within = "48h"};
    CHECK_ERR(c, ckpt_policy_set(c, run_p, &full, NULL, NULL), CKPT_OK,
              "policy set with every kind of rule and two keep_best");
    CHECK_ERR(c, ckpt_policy_get(c, run_p, &got, NULL), CKPT_OK, "policy get of it");
    CHECK(got && got->keep_last == 3 && got->n_keep_best == 2 && got->keep_best[1].maximize &&
              got->keep_every_field && strcmp(got->keep_every_field, "epoch") == 0 &&
              got->keep_every_n == 10 && got->keep_within && strcmp(got->keep_within, "48h") == 0,
          "  ... round-trips every rule");
    ckpt_policy_free(got);
    CHECK_ERR(c, ckpt_policy_delete(c, run_p), CKPT_OK, "policy delete");
    CHECK_ERR(c, ckpt_policy_get(c, run_p, &got, NULL), CKPT_OK, "policy get after delete");
    CHECK(got == NULL, "  ... gives NULL again");
    ckpt_policy_free(NULL);
    ckpt_plan_free(NULL);
}

/* ---- leases -------------------------------------------------------------- */

static void test_leases(ckpt_client *c, int64_t id)
{
    ckpt_lease *l = NULL;
    CHECK_ERR(c, ckpt_lease_take(c, id, 60, &l), CKPT_OK, "lease take with ttl 60");
    CHECK(l && strlen(l->lease) == 32 && strspn(l->lease, "0123456789abcdef") == 32,
          "  ... gives a 32-hex-digit lease id");
    CHECK(l && l->id == id && l->expires_at && strlen(l->expires_at) >= 20,
          "  ... for that checkpoint, with an expiry time");
    if (l) {
        char lease[33];
        memcpy(lease, l->lease, sizeof(lease));
        CHECK_ERR(c, ckpt_lease_release(c, lease), CKPT_OK, "lease release");
        CHECK_ERR(c, ckpt_lease_release(c, lease), CKPT_E_NOT_FOUND,
                  "lease release of a released lease is CKPT_E_NOT_FOUND");
        CHECK_STR(ckpt_client_last_error_code(c), "lease_not_found", "  ... code lease_not_found");
    }
    ckpt_lease_free(l);
    l = NULL;
    CHECK_ERR(c, ckpt_lease_take(c, id, 0, &l), CKPT_OK, "lease take with the default ttl");
    if (l)
        ckpt_lease_release(c, l->lease);
    ckpt_lease_free(l);
    l = (ckpt_lease *)&l;
    CHECK_ERR(c, ckpt_lease_take(c, id, 86401, &l), CKPT_E_INVALID_ARG, "a ttl over 86400 is refused");
    CHECK(l == NULL, "  ... and *out is NULL");
    CHECK_ERR(c, ckpt_lease_take(c, 987654321, 60, &l), CKPT_E_NOT_FOUND,
              "lease take on a missing checkpoint is CKPT_E_NOT_FOUND");
    CHECK_ERR(c, ckpt_lease_release(c, "not-a-lease"), CKPT_E_INVALID_ARG,
              "lease release of a malformed lease id is refused before any request");
    ckpt_lease_free(NULL);
}

/* ---- watch --------------------------------------------------------------- */

struct seen {
    int64_t ids[16];
    double at[16];
    int n, want, ticks;
    double stop_after; /* stop on a tick once now_s() passes it (0: never) */
};

static int on_watch(void *ud, const ckpt_info *info)
{
    struct seen *s = ud;
    if (!info) {
        s->ticks++;
        return s->stop_after > 0 && now_s() > s->stop_after;
    }
    if (s->n < 16) {
        s->ids[s->n] = info->id;
        s->at[s->n] = now_s();
    }
    s->n++;
    return s->n >= s->want;
}

/* Fork a child that pushes n checkpoints of run, delay_ms apart, after delay_ms. Each
 * push's completion time goes to the pipe (double, CLOCK_MONOTONIC). */
static pid_t pusher(const char *run, int n, int delay_ms, int fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    ckpt_client *c = client();
    for (int i = 0; i < n; i++) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int64_t id = push(c, run, 100 + i, 0.5, "w");
        double t = now_s();
        if ((fd >= 0 && write(fd, &t, sizeof(t)) != (ssize_t)sizeof(t)) || !id)
            _exit(3);
    }
    ckpt_client_free(c);
    _exit(0);
}

static void test_watch(ckpt_client *c)
{
    struct seen s = {.want = 3};
    int fds[2];
    double pushed[3] = {0};

    /* The run does not exist yet: watch from now, a child pushes 3 checkpoints. */
    if (pipe(fds) < 0)
        return;
    pid_t pid = pusher(run_w, 3, 300, fds[1]);
    double t0 = now_s();
    CHECK_ERR(c, ckpt_watch(c, run_w, CKPT_WATCH_NEW, on_watch, &s), CKPT_OK,
              "ckpt_watch of a run that does not exist yet, until 3 checkpoints arrived");
    for (int i = 0; i < 3; i++)
        if (read(fds[0], &pushed[i], sizeof(double)) != (ssize_t)sizeof(double))
            pushed[i] = 0;
    close(fds[0]);
    close(fds[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "  ... the pusher pushed 3 checkpoints");
    CHECK_INT(s.n, 3, "  ... the callback saw exactly 3 checkpoints");
    CHECK(s.ids[0] < s.ids[1] && s.ids[1] < s.ids[2], "  ... in ascending id order");
    double worst = 0;
    for (int i = 0; i < 3 && i < s.n; i++)
        if (pushed[i] > 0 && s.at[i] - pushed[i] > worst)
            worst = s.at[i] - pushed[i];
    DIAG("watch: worst delay from a push's answer to the callback: %.1f ms (run took %.2f s)",
         worst * 1000, now_s() - t0);
    CHECK(worst < 1.0, "  ... each within 1 s of its upload (worst %.1f ms)", worst * 1000);

    /* From 0: the backlog in order, at once. */
    struct seen all = {.want = 3};
    t0 = now_s();
    CHECK_ERR(c, ckpt_watch(c, run_w, 0, on_watch, &all), CKPT_OK, "ckpt_watch from after_id 0");
    CHECK(all.n == 3 && all.ids[0] == s.ids[0] && all.ids[2] == s.ids[2],
          "  ... delivers the 3 existing checkpoints in order");
    CHECK(now_s() - t0 < 1.0, "  ... at once (%.2f s)", now_s() - t0);
    struct seen after = {.want = 1};
    pid = pusher(run_w, 1, 200, -1);
    CHECK_ERR(c, ckpt_watch(c, run_w, s.ids[1], on_watch, &after), CKPT_OK,
              "ckpt_watch after the second id");
    CHECK(after.n == 1 && after.ids[0] == s.ids[2], "  ... delivers the third first");
    waitpid(pid, NULL, 0);

    /* Cancelled from the waiting tick: nothing arrives, the callback stops it. */
    struct seen idle = {.want = 1000};
    idle.stop_after = now_s() + 1.5;
    t0 = now_s();
    CHECK_ERR(c, ckpt_watch(c, run_e, CKPT_WATCH_NEW, on_watch, &idle), CKPT_OK,
              "ckpt_watch stopped by the callback's return value while waiting");
    double took = now_s() - t0;
    CHECK(idle.ticks >= 1 && idle.n == 0, "  ... the callback was called with NULL while it waited "
          "(%d times)", idle.ticks);
    CHECK(took >= 1.4 && took < 3.0, "  ... and it returned soon after being asked to (%.2f s)", took);

    CHECK_ERR(c, ckpt_watch(c, "bad/run", 0, on_watch, &idle), CKPT_E_INVALID_ARG,
              "ckpt_watch of a bad run name is refused");
    CHECK_ERR(c, ckpt_watch(c, run_w, 0, NULL, NULL), CKPT_E_INVALID_ARG,
              "ckpt_watch without a callback is refused");
    CHECK_ERR(c, ckpt_watch(c, run_w, -2, on_watch, &idle), CKPT_E_INVALID_ARG,
              "ckpt_watch with after_id -2 is refused");
}


/* ---- malformed answers ----------------------------------------------------- */

/* Fork a server on a loopback port that answers every request with status and
 * body, then closes; *port gets the port. Returns its pid (kill it when done). */
static pid_t canned_server(int status, const char *body, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid != 0) {
        close(fd);
        return pid;
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);
        char req[8192], head[256];
        if (c < 0)
            continue;
        /* The requests here have small bodies: one read takes them in. */
        if (read(c, req, sizeof(req)) < 0)
            _exit(3);
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         status, strlen(body));
        if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
            _exit(3);
        close(c);
    }
}

static void test_malformed(void)
{
    static const struct {
        const char *what, *body;
        int call; /* 0 aliases, 1 policy get, 2 plan, 3 lease, 4 watch, 5 alias set */
    } cases[] = {
        {"an alias listing that is not JSON", "{\"aliases\":[", 0},
        {"an alias listing whose aliases is an object", "{\"aliases\":{}}", 0},
        {"an alias without an id", "{\"aliases\":[{\"name\":\"x\",\"computed\":false}]}", 0},
        {"a policy that is a number", "{\"run\":\"r\",\"policy\":5,\"source\":\"run\"}", 1},
        {"a keep_best rule without k", "{\"policy\":{\"keep_best\":[{\"metric\":\"loss\"}]}}", 1},
        {"a plan whose reasons hold a number",
         "{\"checkpoints\":[{\"id\":1,\"action\":\"keep\",\"reasons\":[3]}]}", 2},
        {"a plan entry without an action", "{\"checkpoints\":[{\"id\":1}]}", 2},
        {"a lease id that is not 32 hex digits", "{\"lease\":\"xyz\",\"id\":1,\"expires_at\":\"t\"}",
         3},
        {"a watch answer whose checkpoints is a string", "{\"checkpoints\":\"no\",\"next\":null}", 4},
        {"an alias answer without previous", "{\"name\":\"a\",\"run\":\"r\",\"id\":1}", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int port = 0;
        int status = cases[i].call == 3 ? 201 : 200;
        pid_t pid = canned_server(status, cases[i].body, &port);
        char u[64];
        if (pid < 0) {
            CHECK(0, "start a canned server");
            return;
        }
        snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
        ckpt_client *c = ckpt_client_new(u, NULL);
        ckpt_client_set_retries(c, 0, 0);
        ckpt_alias_list *al = (ckpt_alias_list *)&al;
        ckpt_policy *pol = (ckpt_policy *)&pol;
        ckpt_plan *plan = (ckpt_plan *)&plan;
        ckpt_lease *lease = (ckpt_lease *)&lease;
        struct seen s = {.want = 1};
        ckpt_err e = CKPT_OK;
        int nulled = 1;
        switch (cases[i].call) {
        case 0:
            e = ckpt_aliases(c, "r", &al);
            nulled = al == NULL;
            break;
        case 1:
            e = ckpt_policy_get(c, "r", &pol, NULL);
            nulled = pol == NULL;
            break;
        case 2:
            e = ckpt_policy_plan(c, "r", &plan);
            nulled = plan == NULL;
            break;
        case 3:
            e = ckpt_lease_take(c, 1, 0, &lease);
            nulled = lease == NULL;
            break;
        case 4: e = ckpt_watch(c, "r", 0, on_watch, &s); break;
        case 5: e = ckpt_alias_set(c, "r", "a", 1, CKPT_ALIAS_ANY, NULL); break;
        }
        CHECK_ERR(c, e, CKPT_E_PROTOCOL, "%s is CKPT_E_PROTOCOL", cases[i].what);
        CHECK(nulled, "  ... and the out-parameter is NULL");
        ckpt_client_free(c);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }

    /* A watch against a server that keeps failing: retried, then CKPT_E_SERVER. */
    int port = 0;
    pid_t pid = canned_server(503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"down\"}}", &port);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
    ckpt_client *c = ckpt_client_new(u, NULL);
    ckpt_client_set_retries(c, 2, 50);
    struct seen s = {.want = 1};
    double t0 = now_s();
    CHECK_ERR(c, ckpt_watch(c, "r", 0, on_watch, &s), CKPT_E_SERVER,
              "a watch against a server answering 503 is CKPT_E_SERVER after its retries");
    CHECK(strstr(ckpt_client_last_error(c), "(after 3 attempts)") != NULL,
          "  ... after 3 attempts ('%s', %.2f s)", ckpt_client_last_error(c), now_s() - t0);
    ckpt_client_free(c);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BASE_URL SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    url = argv[1];
    snprintf(scratch, sizeof(scratch), "%s", argv[2]);
    /* Run names unique per invocation, so the program can run twice on one server. */
    long tag = (long)getpid();
    snprintf(run_a, sizeof(run_a), "lc-alias-%ld", tag);
    snprintf(run_p, sizeof(run_p), "lc-policy-%ld", tag);
    snprintf(run_w, sizeof(run_w), "lc-watch-%ld", tag);
    snprintf(run_e, sizeof(run_e), "lc-empty-%ld", tag);
    snprintf(run_o, sizeof(run_o), "lc-other-%ld", tag);

    ckpt_client *c = client();
    int64_t ids[4];
    static const char *const tags[4] = {"a", "b", "c", "d"};
    static const double losses[4] = {0.5, 0.1, 0.4, 0.6};
    for (int i = 0; i < 4; i++)
        ids[i] = push(c, run_a, i + 1, losses[i], tags[i]);
    CHECK(ids[0] && ids[1] && ids[2] && ids[3], "push 4 checkpoints to %s", run_a);

    test_pins(c, ids[0]);
    test_aliases(c, ids);
    test_alias_race(ids);
    test_policy(c);
    test_leases(c, ids[0]);
    test_watch(c);
    test_malformed();
    ckpt_client_free(c);
    return t_done("client_lifecycle");
}
