/*
 * libckpt.c - every public call of libckpt against a real ckptd: client set-up and its
 * argument checks, push (buffer, file, stream) with metadata, pull (file, fd, callback),
 * get by id/best/latest, listings and pages, runs, delete, error codes and aborts.
 * Usage: client_libckpt BASE_URL [SCRATCH_DIR]   (run by tests/integration/90_libckpt.sh)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/evp.h>

#include "ckpt.h"
#include "tcheck.h"

static const char *url;
static char scratch[1024];

/* ---- helpers ------------------------------------------------------------- */

/* SHA-256 of buf as lowercase hex, computed independently of libckpt. */
static void sha_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void sha_final(EVP_MD_CTX *ctx, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void fill_random(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(rng_next(&s) >> 24);
}

static unsigned char *random_buf(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    fill_random(p, len, seed);
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole file at path (malloc'd, *len its size), or NULL. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            unsigned char *q = realloc(p, cap = cap ? 2 * cap : 65536);
            if (!q) {
                free(p);
                fclose(f);
                return NULL;
            }
            p = q;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return p;
}

static int write_whole(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(buf, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* Entries in dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* A fresh empty directory under the scratch dir. */
static void make_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", scratch, name);
    if (mkdir(out, 0700) < 0 && errno != EEXIST) {
        perror(out);
        exit(2);
    }
}

/* Number of checkpoints listed for run, or -1 when the run is not found,
 * -2 on another failure. */
static long run_count(ckpt_client *c, const char *run)
{
    ckpt_list_opts o = {.run = run};
    ckpt_list *l = NULL;
    ckpt_err e = ckpt_list_checkpoints(c, &o, &l);
    long n = e == CKPT_OK ? (long)l->count : e == CKPT_E_NOT_FOUND ? -1 : -2;
    ckpt_list_free(l);
    return n;
}

/* A loopback port with nothing listening on it (bound, then closed). */
static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int valid_timestamp(const char *s)
{
    /* 2026-11-29T04:03:39.123Z */
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof(pat) - 1)
        return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
    return 1;
}

static const ckpt_metric *find_metric(const ckpt_info *in, const char *name)
{
    for (size_t i = 0; i < in->n_metrics; i++)
        if (in->metrics[i].name && strcmp(in->metrics[i].name, name) == 0)
            return &in->metrics[i];
    return NULL;
}

/* Two descriptions of the same checkpoint agree on every field. */
static int same_info(const ckpt_info *a, const ckpt_info *b)
{
    if (!a || !b || a->id != b->id || strcmp(a->run, b->run) != 0 || a->size != b->size ||
        strcmp(a->sha256, b->sha256) != 0 || strcmp(a->created_at, b->created_at) != 0 ||
        a->has_epoch != b->has_epoch || a->has_step != b->has_step || a->has_loss != b->has_loss ||
        (a->has_epoch && a->epoch != b->epoch) || (a->has_step && a->step != b->step) ||
        (a->has_loss && a->loss != b->loss) || a->n_metrics != b->n_metrics)
        return 0;
    for (size_t i = 0; i < a->n_metrics; i++) {
        const ckpt_metric *m = find_metric(b, a->metrics[i].name);
        if (!m || m->value != a->metrics[i].value)
            return 0;
    }
    return 1;
}

/* ---- progress and stream callbacks ----------------------------------------- */

struct progress {
    unsigned calls;
    uint64_t last_done, last_total;
    uint64_t expect_total; /* when non-zero: every total must be this or 0 */
    int backwards;         /* done decreased at some call */
    int bad_total;         /* a total other than expect_total or 0 */
    uint64_t bad_done, bad_total_value;
    uint64_t abort_at; /* abort once done >= abort_at (0: never) */
    int aborted;
};

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    if (p->calls && done < p->last_done)
        p->backwards = 1;
    if (p->expect_total && total && total != p->expect_total && !p->bad_total) {
        p->bad_total = 1;
        p->bad_done = done;
        p->bad_total_value = total;
    }
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    if (p->abort_at && done >= p->abort_at) {
        p->aborted = 1;
        return 1;
    }
    return 0;
}

struct source {
    uint64_t rng;
    uint64_t left; /* bytes still to produce */
    uint64_t produced;
    uint64_t abort_after; /* return CKPT_READ_ABORT once produced reaches this (0: never) */
    int abort_now;        /* return CKPT_READ_ABORT at the first call */
    unsigned piece;
    unsigned calls;
    EVP_MD_CTX *sha;
};

static size_t source_read(void *ud, char *buf, size_t len)
{
    /* Odd sizes, and sometimes far less than asked, to exercise short reads. */
    static const size_t pieces[] = {1, 7, 4093, 65537, 12345, 333333, 2, 99991};
    struct source *s = ud;
    s->calls++;
    if (s->abort_now || (s->abort_after && s->produced >= s->abort_after))
        return CKPT_READ_ABORT;
    size_t n = pieces[s->piece++ % (sizeof(pieces) / sizeof(pieces[0]))];
    if (n > len)
        n = len;
    if (n > s->left)
        n = (size_t)s->left;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(rng_next(&s->rng) >> 24);
    if (s->sha)
        EVP_DigestUpdate(s->sha, buf, n);
    s->left -= n;
    s->produced += n;
    return n;
}

struct sink {
    unsigned char *buf;
    size_t len, cap;
    size_t abort_after; /* non-zero: refuse once len reaches it */
    unsigned calls;
};

static int sink_write(void *ud, const char *buf, size_t len)
{
    struct sink *s = ud;
    s->calls++;
    if (s->abort_after && s->len >= s->abort_after)
        return 1;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + len)
            cap *= 2;
        unsigned char *p = realloc(s->buf, cap);
        if (!p)
            return 1;
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

/* ---- client set-up ------------------------------------------------------------ */

static void test_client_new(void)
{
    static const char *const bad[] = {"",        "127.0.0.1:8420", "ftp://127.0.0.1/", "htp://x",
                                      "HTTP//x", "file:///tmp/x",  "localhost"};
    char buf[300];
    ckpt_client *c;

    CHECK(ckpt_client_new(NULL, NULL) == NULL, "client_new(NULL) returns NULL");
    CHECK(ckpt_client_new(NULL, "token") == NULL, "client_new(NULL, token) returns NULL");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = ckpt_client_new(bad[i], NULL);
        CHECK(c == NULL, "client_new('%s') (not http or https) returns NULL", bad[i]);
        ckpt_client_free(c);
    }
    c = ckpt_client_new("https://ckpt.example.invalid:8443", "t");
    CHECK(c != NULL, "client_new accepts an https URL with a token");
    ckpt_client_free(c);
    ckpt_client_free(NULL);
    ckpt_info_free(NULL);
    ckpt_list_free(NULL);
    ckpt_run_list_free(NULL);
    CHECK(1, "client_free, info_free, list_free and run_list_free of NULL return (a crash would "
             "end the program)");

    c = ckpt_client_new(url, NULL);
    CHECK(c != NULL, "client_new('%s') returns a client", url);
    if (!c)
        return;
    CHECK_STR(ckpt_client_last_error(c), "", "a new client's last_error is empty");
    CHECK_STR(ckpt_client_last_error_code(c), "", "a new client's last_error_code is empty");
    CHECK_INT(ckpt_client_last_http_status(c), 0, "a new client's last_http_status is 0");
    ckpt_client_free(c);

    CHECK(ckpt_client_last_error(NULL) != NULL, "last_error(NULL) is not NULL");
    CHECK_STR(ckpt_client_last_error_code(NULL), "", "last_error_code(NULL) is empty");
    CHECK_INT(ckpt_client_last_http_status(NULL), 0, "last_http_status(NULL) is 0");

    /* The URL is copied and a trailing slash does not double up in paths. */
    snprintf(buf, sizeof(buf), "%s//", url);
    c = ckpt_client_new(buf, NULL);
    buf[0] = 'X'; /* the client must not depend on the caller's string */
    ckpt_run_list *runs = NULL;
    CHECK_ERR(c, ckpt_runs(c, &runs), CKPT_OK,
              "a client made from 'URL//' (copied, trailing slashes trimmed) can list runs");
    ckpt_run_list_free(runs);
    ckpt_client_free(c);

    /* strerror names every code, differently, and never returns NULL. */
    int distinct = 1, nonempty = 1;
    for (int a = CKPT_OK; a <= CKPT_E_ABORTED; a++) {
        const char *sa = ckpt_strerror((ckpt_err)a);
        if (!sa || !*sa)
            nonempty = 0;
        for (int b = a + 1; sa && b <= CKPT_E_ABORTED; b++)
            if (strcmp(sa, ckpt_strerror((ckpt_err)b)) == 0)
                distinct = 0;
    }
    CHECK(nonempty, "ckpt_strerror gives a non-empty text for every code");
    CHECK(distinct, "ckpt_strerror gives a different text for every code");
    CHECK(ckpt_strerror((ckpt_err)1000) != NULL, "ckpt_strerror of an unknown code is not NULL");
}

static void test_setters(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    struct progress p = {0};
    if (!c)
        return;
    CHECK_ERR(c, ckpt_client_set_timeouts(NULL, 1000, 1000), CKPT_E_INVALID_ARG,
              "set_timeouts(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_timeouts(c, 0, 1000), CKPT_E_INVALID_ARG,
              "set_timeouts with connect_ms 0 is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_timeouts(c, -5, 1000), CKPT_E_INVALID_ARG,
              "set_timeouts with negative connect_ms is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_timeouts(c, 1000, 0), CKPT_E_INVALID_ARG,
              "set_timeouts with stall_ms 0 is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_timeouts(c, 1000, -1), CKPT_E_INVALID_ARG,
              "set_timeouts with negative stall_ms is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_timeouts(c, 5000, 30000), CKPT_OK,
              "set_timeouts(5000, 30000) is OK");

    CHECK_ERR(c, ckpt_client_set_retries(NULL, 1, 10), CKPT_E_INVALID_ARG,
              "set_retries(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_retries(c, 3, -1), CKPT_E_INVALID_ARG,
              "set_retries with negative base_ms is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_retries(c, 0, 0), CKPT_OK, "set_retries(0, 0) is OK");
    CHECK_ERR(c, ckpt_client_set_retries(c, 2, 50), CKPT_OK, "set_retries(2, 50) is OK");

    CHECK_ERR(c, ckpt_client_set_progress(NULL, on_progress, &p), CKPT_E_INVALID_ARG,
              "set_progress(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_client_set_progress(c, on_progress, &p), CKPT_OK, "set_progress(fn) is OK");
    CHECK_ERR(c, ckpt_client_set_progress(c, NULL, NULL), CKPT_OK, "set_progress(NULL) is OK");

    CHECK_ERR(c, ckpt_client_set_ca_file(NULL, "/etc/ssl/certs/ca-certificates.crt"),
              CKPT_E_INVALID_ARG, "set_ca_file(NULL client) is INVALID_ARG");
    char ca[64] = "/nonexistent/ca-bundle.pem";
    CHECK_ERR(c, ckpt_client_set_ca_file(c, ca), CKPT_OK, "set_ca_file(path) is OK");
    memset(ca, 'x', sizeof(ca) - 1); /* copied: the client must not read ours again */
    ckpt_run_list *runs = NULL;
    CHECK_ERR(c, ckpt_runs(c, &runs), CKPT_OK, "a CA file does not affect an http:// server");
    ckpt_run_list_free(runs);
    CHECK_ERR(c, ckpt_client_set_ca_file(c, NULL), CKPT_OK,
              "set_ca_file(NULL) (system default) is OK");

    /* NULL client everywhere. */
    ckpt_meta m = {.run = "x"};
    ckpt_ref r = ckpt_ref_id(1);
    ckpt_info *info = (ckpt_info *)&m; /* must be set to NULL */
    ckpt_list_opts lo = {.run = "x"};
    ckpt_list *list = (ckpt_list *)&m;
    char *next = (char *)&m;
    CHECK_ERR(c, ckpt_push_buffer(NULL, &m, "x", 1, &info), CKPT_E_INVALID_ARG,
              "push_buffer(NULL client) is INVALID_ARG");
    CHECK(info == NULL, "push_buffer(NULL client) sets *out to NULL");
    CHECK_ERR(c, ckpt_push_file(NULL, &m, "/etc/hostname", NULL), CKPT_E_INVALID_ARG,
              "push_file(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_push_stream(NULL, &m, source_read, NULL, NULL), CKPT_E_INVALID_ARG,
              "push_stream(NULL client) is INVALID_ARG");
    info = (ckpt_info *)&m;
    CHECK_ERR(c, ckpt_get(NULL, &r, &info), CKPT_E_INVALID_ARG, "get(NULL client) is INVALID_ARG");
    CHECK(info == NULL, "get(NULL client) sets *out to NULL");
    CHECK_ERR(c, ckpt_pull_file(NULL, &r, "/tmp/never", NULL), CKPT_E_INVALID_ARG,
              "pull_file(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_pull_fd(NULL, &r, 1, NULL), CKPT_E_INVALID_ARG,
              "pull_fd(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_pull_cb(NULL, &r, sink_write, NULL, NULL), CKPT_E_INVALID_ARG,
              "pull_cb(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_delete(NULL, 1), CKPT_E_INVALID_ARG, "delete(NULL client) is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_checkpoints(NULL, &lo, &list), CKPT_E_INVALID_ARG,
              "list_checkpoints(NULL client) is INVALID_ARG");
    CHECK(list == NULL, "list_checkpoints(NULL client) sets *out to NULL");
    list = (ckpt_list *)&m;
    CHECK_ERR(c, ckpt_list_page(NULL, &lo, NULL, 10, &list, &next), CKPT_E_INVALID_ARG,
              "list_page(NULL client) is INVALID_ARG");
    CHECK(list == NULL && next == NULL, "list_page(NULL client) sets *out and *next to NULL");
    ckpt_run_list *rl = (ckpt_run_list *)&m;
    CHECK_ERR(c, ckpt_runs(NULL, &rl), CKPT_E_INVALID_ARG, "runs(NULL client) is INVALID_ARG");
    CHECK(rl == NULL, "runs(NULL client) sets *out to NULL");
    CHECK_ERR(c, ckpt_runs(c, NULL), CKPT_E_INVALID_ARG, "runs(out NULL) is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_checkpoints(c, &lo, NULL), CKPT_E_INVALID_ARG,
              "list_checkpoints(out NULL) is INVALID_ARG");
    ckpt_client_free(c);
}

/* ---- push and pull --------------------------------------------------------------- */

static void test_push_buffer_and_pull(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    const size_t len = 1000003;
    unsigned char *data = random_buf(len, 1);
    char hex[65], path[1400], dir[1200];
    ckpt_metric metrics[] = {{"acc", 0.91}, {"val.f1-x_2", -1.5e-7}, {"Z9", 12345678.5}};
    ckpt_meta m = {.run = "lib-push",
                   .has_epoch = 1,
                   .epoch = 3,
                   .has_step = 1,
                   .step = 300,
                   .has_loss = 1,
                   .loss = 0.1,
                   .metrics = metrics,
                   .n_metrics = 3};
    ckpt_info *info = NULL, *got = NULL;
    struct progress p = {0};
    ckpt_err e;

    if (!c)
        return;
    sha_hex(data, len, hex);
    ckpt_client_set_progress(c, on_progress, &p);
    e = ckpt_push_buffer(c, &m, data, len, &info);
    CHECK_ERR(c, e, CKPT_OK, "push_buffer of 1000003 bytes with epoch, step, loss and 3 metrics");
    if (!info) {
        free(data);
        ckpt_client_free(c);
        return;
    }
    CHECK(info->id > 0, "push_buffer: info.id is positive (%" PRId64 ")", info->id);
    CHECK_STR(info->run, "lib-push", "push_buffer: info.run round-trips");
    CHECK(info->has_epoch && info->epoch == 3, "push_buffer: epoch 3 round-trips");
    CHECK(info->has_step && info->step == 300, "push_buffer: step 300 round-trips");
    CHECK(info->has_loss && info->loss == 0.1, "push_buffer: loss 0.1 round-trips exactly");
    CHECK_INT(info->n_metrics, 3, "push_buffer: 3 metrics come back");
    const ckpt_metric *ma = find_metric(info, "acc"), *mf = find_metric(info, "val.f1-x_2"),
                      *mz = find_metric(info, "Z9");
    CHECK(ma && ma->value == 0.91, "push_buffer: metric acc=0.91 round-trips exactly");
    CHECK(mf && mf->value == -1.5e-7, "push_buffer: metric val.f1-x_2=-1.5e-7 round-trips exactly");
    CHECK(mz && mz->value == 12345678.5, "push_buffer: metric Z9=12345678.5 round-trips exactly");
    CHECK_INT(info->size, len, "push_buffer: info.size is the buffer's length");
    CHECK_STR(info->sha256, hex, "push_buffer: info.sha256 is the buffer's SHA-256");
    CHECK(valid_timestamp(info->created_at),
          "push_buffer: created_at is RFC 3339 UTC with ms ('%s')",
          info->created_at ? info->created_at : "(null)");
    CHECK_INT(ckpt_client_last_http_status(c), 201, "push_buffer: last_http_status is 201");
    CHECK_STR(ckpt_client_last_error(c), "", "push_buffer: last_error is empty after success");
    CHECK(p.calls > 0 && p.last_done == len && p.last_total == len,
          "push progress: the last call has done == total == size (calls %u, last %" PRIu64
          "/%" PRIu64 ")",
          p.calls, p.last_done, p.last_total);
    CHECK(!p.backwards, "push progress: done never decreases");

    /* get by id */
    ckpt_ref r = ckpt_ref_id(info->id);
    e = ckpt_get(c, &r, &got);
    CHECK_ERR(c, e, CKPT_OK, "get by id");
    CHECK(same_info(info, got), "get by id returns the same fields push returned");
    CHECK_INT(ckpt_client_last_http_status(c), 200, "get: last_http_status is 200");
    ckpt_info_free(got);
    got = NULL;

    /* pull_file */
    make_dir(dir, sizeof(dir), "pull");
    snprintf(path, sizeof(path), "%s/model.bin", dir);
    memset(&p, 0, sizeof(p));
    p.expect_total = len;
    e = ckpt_pull_file(c, &r, path, &got);
    CHECK_ERR(c, e, CKPT_OK, "pull_file by id");
    size_t flen = 0;
    unsigned char *fdata = slurp(path, &flen);
    CHECK(fdata && flen == len && memcmp(fdata, data, len) == 0,
          "pull_file: the file is byte-identical to what was pushed");
    free(fdata);
    CHECK(same_info(info, got), "pull_file: *out describes the pushed checkpoint");
    CHECK_INT(dir_entries(dir), 1, "pull_file: only the destination is left in its directory");
    struct stat st = {0};
    int st_ok = stat(path, &st) == 0;
    CHECK(st_ok && (st.st_mode & 0777) == 0644, "pull_file: the file's mode is 0644 (0%o)",
          (unsigned)(st.st_mode & 0777));
    CHECK(p.calls > 0 && p.last_done == len && p.last_total == len,
          "pull progress: the last call has done == total == size (calls %u, last %" PRIu64
          "/%" PRIu64 ")",
          p.calls, p.last_done, p.last_total);
    CHECK(!p.bad_total && !p.backwards,
          "pull progress reports only the blob: total is the size or 0, done never decreases");
    if (p.bad_total)
        DIAG("a progress call reported done %" PRIu64 " of total %" PRIu64 " for a %zu-byte pull",
             p.bad_done, p.bad_total_value, len);
    ckpt_info_free(got);
    got = NULL;
    ckpt_client_set_progress(c, NULL, NULL);

    /* pull_file over an existing file replaces it */
    write_whole(path, "old", 3);
    e = ckpt_pull_file(c, &r, path, NULL);
    CHECK_ERR(c, e, CKPT_OK, "pull_file over an existing file (out NULL)");
    fdata = slurp(path, &flen);
    CHECK(fdata && flen == len && memcmp(fdata, data, len) == 0,
          "pull_file replaces an existing destination with the checkpoint");
    free(fdata);

    /* pull_fd writes from the fd's current position */
    snprintf(path, sizeof(path), "%s/fd.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, "HEAD", 4) == 4,
          "open a file for pull_fd and write a 4-byte prefix");
    e = ckpt_pull_fd(c, &r, fd, &got);
    CHECK_ERR(c, e, CKPT_OK, "pull_fd by id");
    CHECK(same_info(info, got), "pull_fd: *out describes the pushed checkpoint");
    ckpt_info_free(got);
    got = NULL;
    if (fd >= 0)
        close(fd);
    fdata = slurp(path, &flen);
    CHECK(fdata && flen == len + 4 && memcmp(fdata, "HEAD", 4) == 0 &&
              memcmp(fdata + 4, data, len) == 0,
          "pull_fd: bytes are identical and written after the fd's current position");
    free(fdata);
    CHECK_ERR(c, ckpt_pull_fd(c, &r, -1, NULL), CKPT_E_INVALID_ARG,
              "pull_fd(fd -1) is INVALID_ARG");

    /* pull_cb */
    struct sink s = {0};
    e = ckpt_pull_cb(c, &r, sink_write, &s, &got);
    CHECK_ERR(c, e, CKPT_OK, "pull_cb by id");
    CHECK(s.len == len && memcmp(s.buf, data, len) == 0, "pull_cb: the bytes are identical");
    CHECK(same_info(info, got), "pull_cb: *out describes the pushed checkpoint");
    ckpt_info_free(got);
    got = NULL;
    free(s.buf);
    CHECK_ERR(c, ckpt_pull_cb(c, &r, NULL, NULL, NULL), CKPT_E_INVALID_ARG,
              "pull_cb(write NULL) is INVALID_ARG");

    /* write callback refusing */
    memset(&s, 0, sizeof(s));
    s.abort_after = 1;
    e = ckpt_pull_cb(c, &r, sink_write, &s, &got);
    CHECK_ERR(c, e, CKPT_E_ABORTED, "pull_cb whose write callback returns non-zero is ABORTED");
    CHECK(got == NULL, "an aborted pull_cb sets *out to NULL");
    free(s.buf);

    /* progress abort during a pull_file: no destination, no temp file */
    snprintf(path, sizeof(path), "%s/aborted.bin", dir);
    memset(&p, 0, sizeof(p));
    p.abort_at = 1;
    ckpt_client_set_progress(c, on_progress, &p);
    int before = dir_entries(dir);
    e = ckpt_pull_file(c, &r, path, NULL);
    CHECK_ERR(c, e, CKPT_E_ABORTED, "pull_file aborted by the progress callback is ABORTED");
    CHECK(access(path, F_OK) != 0, "an aborted pull_file leaves no destination file");
    CHECK_INT(dir_entries(dir), before, "an aborted pull_file leaves no temporary file");
    ckpt_client_set_progress(c, NULL, NULL);

    /* pull_file failures */
    snprintf(path, sizeof(path), "%s/no/such/dir/x.bin", dir);
    CHECK_ERR(c, ckpt_pull_file(c, &r, path, NULL), CKPT_E_IO,
              "pull_file into a missing directory is IO");
    CHECK(*ckpt_client_last_error(c) != '\0', "pull_file IO failure sets last_error");
    CHECK_ERR(c, ckpt_pull_file(c, &r, "", NULL), CKPT_E_INVALID_ARG,
              "pull_file('') is INVALID_ARG");
    CHECK_ERR(c, ckpt_pull_file(c, &r, NULL, NULL), CKPT_E_INVALID_ARG,
              "pull_file(NULL path) is INVALID_ARG");
    ckpt_ref missing = ckpt_ref_id(INT64_MAX);
    snprintf(path, sizeof(path), "%s/missing.bin", dir);
    before = dir_entries(dir);
    e = ckpt_pull_file(c, &missing, path, &got);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "pull_file of an unknown id is NOT_FOUND");
    CHECK(got == NULL, "a failed pull_file sets *out to NULL");
    CHECK(access(path, F_OK) != 0 && dir_entries(dir) == before,
          "a failed pull_file creates neither the destination nor a temporary file");
    CHECK_STR(ckpt_client_last_error_code(c), "checkpoint_not_found",
              "pull_file of an unknown id: last_error_code is checkpoint_not_found");

    /* a minimal push: no optional fields, out NULL */
    unsigned char one = 'x';
    ckpt_meta bare = {.run = "lib-bare"};
    CHECK_ERR(c, ckpt_push_buffer(c, &bare, &one, 1, NULL), CKPT_OK,
              "push_buffer of 1 byte, out NULL");
    ckpt_ref lb = ckpt_ref_latest("lib-bare");
    e = ckpt_get(c, &lb, &got);
    CHECK_ERR(c, e, CKPT_OK, "get latest of a run pushed with out NULL");
    CHECK(got && !got->has_epoch && !got->has_step && !got->has_loss && got->n_metrics == 0 &&
              got->size == 1,
          "a checkpoint pushed without metadata has no epoch, step, loss or metrics");
    ckpt_info_free(got);
    got = NULL;

    /* extremes of the integer and real ranges */
    ckpt_meta ext = {.run = "lib-bare",
                     .has_epoch = 1,
                     .epoch = INT64_MAX,
                     .has_step = 1,
                     .step = 0,
                     .has_loss = 1,
                     .loss = -1e-300};
    e = ckpt_push_buffer(c, &ext, "yz", 2, &got);
    CHECK_ERR(c, e, CKPT_OK, "push_buffer with epoch 2^63-1, step 0, loss -1e-300");
    CHECK(got && got->has_epoch && got->epoch == INT64_MAX, "epoch 2^63-1 round-trips");
    CHECK(got && got->has_step && got->step == 0, "step 0 round-trips (present, not null)");
    CHECK(got && got->has_loss && got->loss == -1e-300, "loss -1e-300 round-trips exactly");
    ckpt_info_free(got);
    got = NULL;

    /* push_buffer errors */
    CHECK_ERR(c, ckpt_push_buffer(c, &bare, NULL, 10, NULL), CKPT_E_INVALID_ARG,
              "push_buffer(NULL, 10) is INVALID_ARG");
    e = ckpt_push_buffer(c, &bare, "", 0, &got);
    CHECK_ERR(c, e, CKPT_E_REFUSED, "push_buffer of 0 bytes is REFUSED by the server");
    CHECK_STR(ckpt_client_last_error_code(c), "empty_body", "push of 0 bytes: code empty_body");
    CHECK_INT(ckpt_client_last_http_status(c), 400, "push of 0 bytes: last_http_status 400");
    CHECK(got == NULL, "a refused push sets *out to NULL");

    /* a token is sent and does no harm today */
    ckpt_client *ct = ckpt_client_new(url, "s3cr3t-token");
    e = ckpt_push_buffer(ct, &bare, "tok", 3, &got);
    CHECK_ERR(ct, e, CKPT_OK, "push_buffer through a client with a token");
    ckpt_info_free(got);
    got = NULL;
    ckpt_client_free(ct);

    ckpt_info_free(info);
    free(data);
    ckpt_client_free(c);
}

static void test_push_file(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    const size_t len = 300001;
    unsigned char *data = random_buf(len, 2);
    char path[4200], hex[65];
    ckpt_metric mt[] = {{"bleu", 27.5}};
    ckpt_meta m = {.run = "lib-file", .has_step = 1, .step = 7, .metrics = mt, .n_metrics = 1};
    ckpt_info *info = NULL;
    struct progress p = {0};
    ckpt_err e;

    if (!c)
        return;
    snprintf(path, sizeof(path), "%s/src.bin", scratch);
    if (write_whole(path, data, len) < 0) {
        CHECK(0, "write a source file for push_file");
        goto out;
    }
    sha_hex(data, len, hex);
    ckpt_client_set_progress(c, on_progress, &p);
    e = ckpt_push_file(c, &m, path, &info);
    CHECK_ERR(c, e, CKPT_OK, "push_file of a 300001-byte file");
    CHECK(info && info->size == len && strcmp(info->sha256, hex) == 0,
          "push_file: size and SHA-256 are the file's");
    CHECK(info && !info->has_epoch && info->has_step && info->step == 7 && !info->has_loss,
          "push_file: step 7 round-trips, epoch and loss stay null");
    CHECK(info && info->n_metrics == 1 && find_metric(info, "bleu") &&
              find_metric(info, "bleu")->value == 27.5,
          "push_file: metric bleu=27.5 round-trips");
    CHECK(p.calls > 0 && p.last_done == len && p.last_total == len,
          "push_file progress ends with done == total == size");
    ckpt_client_set_progress(c, NULL, NULL);
    if (info) {
        struct sink s = {0};
        ckpt_ref r = ckpt_ref_id(info->id);
        CHECK_ERR(c, ckpt_pull_cb(c, &r, sink_write, &s, NULL), CKPT_OK,
                  "pull_cb of the pushed file");
        CHECK(s.len == len && memcmp(s.buf, data, len) == 0,
              "the pushed file comes back identical");
        free(s.buf);
    }
    ckpt_info_free(info);
    info = NULL;

    snprintf(path, sizeof(path), "%s/does-not-exist.bin", scratch);
    e = ckpt_push_file(c, &m, path, &info);
    CHECK_ERR(c, e, CKPT_E_IO, "push_file of a missing file is IO");
    CHECK(strstr(ckpt_client_last_error(c), "does-not-exist.bin") != NULL,
          "push_file IO error names the file ('%s')", ckpt_client_last_error(c));
    CHECK(info == NULL, "a failed push_file sets *out to NULL");
    CHECK_INT(ckpt_client_last_http_status(c), 0, "a missing file sends no request (status 0)");
    CHECK_ERR(c, ckpt_push_file(c, &m, NULL, NULL), CKPT_E_INVALID_ARG,
              "push_file(NULL path) is INVALID_ARG");
    CHECK_ERR(c, ckpt_push_file(c, &m, scratch, NULL), CKPT_E_IO, "push_file of a directory is IO");
out:
    free(data);
    ckpt_client_free(c);
}

/* Run fn in a child process, so that a crash (heap corruption, say) fails one
 * check instead of ending the whole program. True when the child exits 0. */
static int in_child(int (*fn)(void), char *why, size_t size)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, size, "fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0)
        _exit(fn());
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st))
        snprintf(why, size, "child exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(why, size, "child killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Two streamed pushes through one client, both must be stored intact. */
static int two_streams_one_client(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    ckpt_meta m = {.run = "lib-stream-twice"};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        struct source s = {.rng = 100 + (uint64_t)i, .left = 70000 + (uint64_t)i};
        ckpt_info *info = NULL;
        char hex[65];
        s.sha = EVP_MD_CTX_new();
        EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
        ckpt_err e = ckpt_push_stream(c, &m, source_read, &s, &info);
        sha_final(s.sha, hex);
        EVP_MD_CTX_free(s.sha);
        if (e != CKPT_OK || !info || info->size != 70000 + (uint64_t)i ||
            strcmp(info->sha256, hex) != 0) {
            fprintf(stderr, "stream push %d: %s (%s)\n", i + 1, ckpt_strerror(e),
                    ckpt_client_last_error(c));
            bad = 1;
        }
        ckpt_info_free(info);
    }
    ckpt_client_free(c);
    return bad;
}

/* A streamed push of nothing, after a streamed push of something. */
static int empty_stream_after_stream(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    ckpt_meta m = {.run = "lib-stream-twice"};
    struct source s = {.rng = 7, .left = 5000};
    struct source none = {.rng = 7, .left = 0};
    ckpt_err e1 = ckpt_push_stream(c, &m, source_read, &s, NULL);
    ckpt_err e2 = ckpt_push_stream(c, &m, source_read, &none, NULL);
    ckpt_client_free(c);
    return !(e1 == CKPT_OK && e2 == CKPT_E_REFUSED);
}

static void test_push_stream(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    const uint64_t len = 11u * 1024 * 1024 + 12345; /* > 10 MB */
    struct source s = {.rng = 77, .left = len};
    ckpt_metric mt[] = {{"ppl", 3.25}};
    ckpt_meta m = {.run = "lib-stream",
                   .has_epoch = 1,
                   .epoch = 1,
                   .has_loss = 1,
                   .loss = 2.5,
                   .metrics = mt,
                   .n_metrics = 1};
    ckpt_info *info = NULL;
    struct progress p = {0};
    char hex[65], why[128];
    ckpt_err e;

    if (!c)
        return;
    s.sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
    ckpt_client_set_progress(c, on_progress, &p);
    e = ckpt_push_stream(c, &m, source_read, &s, &info);
    sha_final(s.sha, hex);
    EVP_MD_CTX_free(s.sha);
    CHECK_ERR(c, e, CKPT_OK, "push_stream of %" PRIu64 " bytes in odd-sized pieces", len);
    CHECK(s.calls > 8, "push_stream called the read callback many times (%u)", s.calls);
    CHECK(info && info->size == len, "push_stream: info.size is the number of bytes read");
    CHECK(info && strcmp(info->sha256, hex) == 0,
          "push_stream: info.sha256 is the stream's SHA-256");
    CHECK(info && info->has_epoch && info->epoch == 1 && info->has_loss && info->loss == 2.5 &&
              info->n_metrics == 1 && find_metric(info, "ppl") &&
              find_metric(info, "ppl")->value == 3.25,
          "push_stream: epoch, loss and metric round-trip");
    CHECK(p.calls > 0 && p.last_done == len && !p.backwards,
          "push_stream progress ends with done == bytes read (last %" PRIu64 "/%" PRIu64
          ", %u calls)",
          p.last_done, p.last_total, p.calls);
    ckpt_client_set_progress(c, NULL, NULL);
    if (info) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        struct sink k = {0};
        char back[65];
        ckpt_ref r = ckpt_ref_id(info->id);
        CHECK_ERR(c, ckpt_pull_cb(c, &r, sink_write, &k, NULL), CKPT_OK,
                  "pull_cb of the streamed checkpoint");
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, k.buf, k.len);
        sha_final(ctx, back);
        EVP_MD_CTX_free(ctx);
        CHECK(k.len == len && strcmp(back, hex) == 0,
              "the streamed checkpoint comes back identical");
        free(k.buf);
    }
    ckpt_info_free(info);
    info = NULL;
    CHECK_ERR(c, ckpt_push_stream(c, &m, NULL, NULL, NULL), CKPT_E_INVALID_ARG,
              "push_stream(read NULL) is INVALID_ARG");
    ckpt_client_free(c);

    /* Each case below on a fresh client: a client's second streamed push is
     * tested on its own (in a child process) further down. */
    c = ckpt_client_new(url, NULL);
    struct source empty = {.rng = 1, .left = 0};
    ckpt_meta me = {.run = "lib-stream-empty"};
    e = ckpt_push_stream(c, &me, source_read, &empty, &info);
    CHECK_ERR(c, e, CKPT_E_REFUSED, "push_stream of an empty stream is REFUSED by the server");
    CHECK_STR(ckpt_client_last_error_code(c), "empty_body", "  ... with code empty_body");
    CHECK_INT(run_count(c, "lib-stream-empty"), -1, "an empty stream stores nothing");
    ckpt_client_free(c);

    /* Read callback aborting after 3 MB, and at once. */
    c = ckpt_client_new(url, NULL);
    ckpt_meta ma = {.run = "lib-read-abort"};
    struct source ab = {.rng = 5, .left = 8u << 20, .abort_after = 3u << 20};
    e = ckpt_push_stream(c, &ma, source_read, &ab, &info);
    CHECK_ERR(c, e, CKPT_E_ABORTED,
              "push_stream whose read returns CKPT_READ_ABORT after 3 MB is ABORTED");
    CHECK(info == NULL, "an aborted push_stream sets *out to NULL");
    CHECK(*ckpt_client_last_error(c) != '\0', "an aborted push_stream sets last_error ('%s')",
          ckpt_client_last_error(c));
    ckpt_client_free(c);
    c = ckpt_client_new(url, NULL);
    struct source ab0 = {.rng = 5, .left = 100, .abort_now = 1};
    e = ckpt_push_stream(c, &ma, source_read, &ab0, NULL);
    CHECK_ERR(c, e, CKPT_E_ABORTED,
              "push_stream whose first read returns CKPT_READ_ABORT is ABORTED");
    CHECK_INT(run_count(c, "lib-read-abort"), -1, "an aborted push_stream stores nothing");
    ckpt_client_free(c);

    /* One client, several streamed pushes (a training loop's pattern). */
    int okc = in_child(two_streams_one_client, why, sizeof(why));
    CHECK(okc, "three push_streams through one client all store their bytes (%s)", why);
    okc = in_child(empty_stream_after_stream, why, sizeof(why));
    CHECK(okc, "an empty push_stream after a push_stream on one client is REFUSED, no crash (%s)",
          why);
}

static void test_progress_abort_push(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    const size_t len = 16u << 20;
    unsigned char *data = random_buf(len, 3);
    ckpt_meta m = {.run = "lib-progress-abort"};
    struct progress p = {.abort_at = 1};
    ckpt_info *info = NULL;
    char path[4200];

    if (!c)
        return;
    ckpt_client_set_progress(c, on_progress, &p);
    ckpt_err e = ckpt_push_buffer(c, &m, data, len, &info);
    CHECK_ERR(c, e, CKPT_E_ABORTED, "push_buffer aborted by the progress callback is ABORTED");
    CHECK(p.aborted && info == NULL, "the abort came from the callback and *out is NULL");
    CHECK(*ckpt_client_last_error(c) != '\0', "an aborted push sets last_error");

    p = (struct progress){.abort_at = 1};
    snprintf(path, sizeof(path), "%s/abort-src.bin", scratch);
    write_whole(path, data, len);
    e = ckpt_push_file(c, &m, path, NULL);
    CHECK_ERR(c, e, CKPT_E_ABORTED, "push_file aborted by the progress callback is ABORTED");

    p = (struct progress){.abort_at = 1};
    struct source s = {.rng = 9, .left = 4u << 20};
    e = ckpt_push_stream(c, &m, source_read, &s, NULL);
    CHECK_ERR(c, e, CKPT_E_ABORTED, "push_stream aborted by the progress callback is ABORTED");
    ckpt_client_set_progress(c, NULL, NULL);
    CHECK_INT(run_count(c, "lib-progress-abort"), -1, "pushes aborted by progress store nothing");
    free(data);
    ckpt_client_free(c);
}

/* ---- argument checks: nothing is sent ---------------------------------------------------- */

/* e is INVALID_ARG with the server's code for it, and no request went out. */
static int refused(ckpt_client *c, ckpt_err e, const char *code)
{
    int ok = e == CKPT_E_INVALID_ARG && ckpt_client_last_http_status(c) == 0 &&
             strcmp(ckpt_client_last_error_code(c), code) == 0;
    if (!ok)
        DIAG("expected INVALID_ARG with code %s, got %s with code '%s' (%s)", code,
             ckpt_strerror(e), ckpt_client_last_error_code(c), ckpt_client_last_error(c));
    return ok;
}

static void test_invalid_args(void)
{
    char dead[64], long_name[200], ok_name[200];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port());
    /* A request to this client would fail with NETWORK: INVALID_ARG proves none was sent. */
    ckpt_client *c = ckpt_client_new(dead, NULL);
    static const char *const bad_names[] = {"",    ".hidden", "-dash",       "_under", "a/b",
                                            "a b", "a%2Fb",   "caf\xc3\xa9", "a?b",    "a\nb"};
    static const char *const shown_names[] = {"",    ".hidden", "-dash",         "_under", "a/b",
                                              "a b", "a%2Fb",   "caf\\xc3\\xa9", "a?b",    "a\\nb"};
    ckpt_info *info;
    ckpt_err e;

    if (!c)
        return;
    ckpt_client_set_retries(c, 0, 0);
    memset(long_name, 'n', 129);
    long_name[129] = '\0';
    for (size_t i = 0; i <= sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        const char *name = i < sizeof(bad_names) / sizeof(bad_names[0]) ? bad_names[i] : long_name;
        const char *shown =
            i < sizeof(bad_names) / sizeof(bad_names[0]) ? shown_names[i] : "129 x n";
        struct source src = {.rng = 1, .left = 10};
        struct sink snk = {0};
        ckpt_meta m = {.run = name};
        ckpt_ref best = ckpt_ref_best(name, NULL, 0), latest = ckpt_ref_latest(name);
        ckpt_list_opts lo = {.run = name};
        ckpt_list *l = NULL;
        char *next = NULL;
        int all = 1;
        info = NULL;
        all &= refused(c, ckpt_push_buffer(c, &m, "x", 1, &info), "invalid_run_name");
        all &= refused(c, ckpt_push_stream(c, &m, source_read, &src, NULL), "invalid_run_name");
        all &= refused(c, ckpt_get(c, &best, &info), "invalid_run_name");
        all &= refused(c, ckpt_get(c, &latest, &info), "invalid_run_name");
        all &= refused(c, ckpt_pull_cb(c, &latest, sink_write, &snk, NULL), "invalid_run_name");
        all &= src.calls == 0 && snk.calls == 0;
        all &= refused(c, ckpt_list_checkpoints(c, &lo, &l), "invalid_run_name");
        all &= refused(c, ckpt_list_page(c, &lo, NULL, 10, &l, &next), "invalid_run_name");
        CHECK(all,
              "run name '%s': push/get/pull/list are INVALID_ARG (code invalid_run_name), no "
              "request sent",
              shown);
    }
    CHECK(strstr(ckpt_client_last_error(c), "run name") != NULL,
          "a bad run name's last_error says so ('%s')", ckpt_client_last_error(c));

    /* 128 characters is the longest valid name: accepted by the real server. */
    ckpt_client *live = ckpt_client_new(url, NULL);
    memset(ok_name, 'N', 128);
    ok_name[128] = '\0';
    ckpt_meta m128 = {.run = ok_name};
    CHECK_ERR(live, ckpt_push_buffer(live, &m128, "x", 1, NULL), CKPT_OK,
              "a 128-character run name is accepted");
    ckpt_meta mdots = {.run = "A.b_c-9"};
    CHECK_ERR(live, ckpt_push_buffer(live, &mdots, "x", 1, NULL), CKPT_OK,
              "run name 'A.b_c-9' is accepted");
    ckpt_client_free(live);

    /* metadata checks */
    ckpt_metric badm[] = {{"ok", 1}, {"bad name", 2}};
    ckpt_metric nanm[] = {{"ok", NAN}};
    ckpt_metric infm[] = {{"ok", INFINITY}};
    ckpt_metric nullm[] = {{NULL, 1}};
    ckpt_metric dotm[] = {{".x", 1}};
    struct {
        ckpt_meta m;
        const char *what, *code; /* code NULL: any */
    } bad[] = {
        {{.run = "r", .has_epoch = 1, .epoch = -1}, "negative epoch", "invalid_parameter"},
        {{.run = "r", .has_step = 1, .step = INT64_MIN}, "negative step", "invalid_parameter"},
        {{.run = "r", .has_loss = 1, .loss = NAN}, "NaN loss", "invalid_parameter"},
        {{.run = "r", .has_loss = 1, .loss = -INFINITY}, "-inf loss", "invalid_parameter"},
        {{.run = "r", .metrics = badm, .n_metrics = 2},
         "metric name with a space",
         "invalid_parameter"},
        {{.run = "r", .metrics = nanm, .n_metrics = 1}, "NaN metric", "invalid_parameter"},
        {{.run = "r", .metrics = infm, .n_metrics = 1}, "infinite metric", "invalid_parameter"},
        {{.run = "r", .metrics = nullm, .n_metrics = 1}, "NULL metric name", "invalid_parameter"},
        {{.run = "r", .metrics = dotm, .n_metrics = 1},
         "metric name starting with '.'",
         "invalid_parameter"},
        {{.run = "r", .metrics = NULL, .n_metrics = 2}, "metrics NULL with n_metrics 2", NULL},
        {{.run = NULL}, "NULL run", "invalid_run_name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e = ckpt_push_buffer(c, &bad[i].m, "x", 1, NULL);
        if (bad[i].code)
            CHECK(refused(c, e, bad[i].code),
                  "push with %s is INVALID_ARG with code %s, no request sent", bad[i].what,
                  bad[i].code);
        else
            CHECK(e == CKPT_E_INVALID_ARG && ckpt_client_last_http_status(c) == 0,
                  "push with %s is INVALID_ARG, no request sent (got %s)", bad[i].what,
                  ckpt_strerror(e));
    }
    CHECK_ERR(c, ckpt_push_buffer(c, NULL, "x", 1, NULL), CKPT_E_INVALID_ARG,
              "push with meta NULL is INVALID_ARG");

    ckpt_ref r0 = ckpt_ref_id(0), rneg = ckpt_ref_id(-7), rbadm = ckpt_ref_best("r", "no/slash", 1);
    info = (ckpt_info *)&r0;
    CHECK(refused(c, ckpt_get(c, &r0, &info), "invalid_id"),
          "get id 0 is INVALID_ARG with code invalid_id");
    CHECK(info == NULL, "get with a bad ref sets *out to NULL");
    CHECK_ERR(c, ckpt_get(c, &rneg, NULL), CKPT_E_INVALID_ARG, "get id -7 is INVALID_ARG");
    CHECK(refused(c, ckpt_get(c, &rbadm, NULL), "invalid_parameter"),
          "best with metric 'no/slash' is INVALID_ARG with code invalid_parameter");
    CHECK_ERR(c, ckpt_get(c, NULL, NULL), CKPT_E_INVALID_ARG, "get(ref NULL) is INVALID_ARG");
    ckpt_ref weird = {.kind = (ckpt_ref_kind)42, .id = 1};
    CHECK_ERR(c, ckpt_get(c, &weird, NULL), CKPT_E_INVALID_ARG,
              "get with an unknown ref kind is INVALID_ARG");
    char pdir[1200], ppath[1400];
    make_dir(pdir, sizeof(pdir), "badref");
    snprintf(ppath, sizeof(ppath), "%s/x.bin", pdir);
    CHECK_ERR(c, ckpt_pull_file(c, &r0, ppath, NULL), CKPT_E_INVALID_ARG,
              "pull_file of id 0 is INVALID_ARG");
    CHECK_INT(dir_entries(pdir), 0, "pull_file of id 0 leaves no file and no temporary file");
    struct sink ps = {0};
    CHECK_ERR(c, ckpt_pull_cb(c, &rbadm, sink_write, &ps, NULL), CKPT_E_INVALID_ARG,
              "pull_cb of best with a bad metric name is INVALID_ARG");
    CHECK_ERR(c, ckpt_pull_fd(c, &rneg, 1, NULL), CKPT_E_INVALID_ARG,
              "pull_fd of id -7 is INVALID_ARG");
    CHECK(refused(c, ckpt_delete(c, 0), "invalid_id"),
          "delete id 0 is INVALID_ARG with code invalid_id");
    CHECK_ERR(c, ckpt_delete(c, -1), CKPT_E_INVALID_ARG, "delete id -1 is INVALID_ARG");

    ckpt_list_opts lo = {.run = "r"};
    ckpt_list *l = NULL;
    char *next = NULL;
    CHECK_ERR(c, ckpt_list_page(c, &lo, NULL, 0, &l, &next), CKPT_E_INVALID_ARG,
              "list_page with page_size 0 is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_page(c, &lo, NULL, 1001, &l, &next), CKPT_E_INVALID_ARG,
              "list_page with page_size 1001 is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_page(c, &lo, NULL, 10, &l, NULL), CKPT_E_INVALID_ARG,
              "list_page with next NULL is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_page(c, &lo, NULL, 10, NULL, &next), CKPT_E_INVALID_ARG,
              "list_page with out NULL is INVALID_ARG");
    CHECK_ERR(c, ckpt_list_checkpoints(c, NULL, &l), CKPT_E_INVALID_ARG,
              "list_checkpoints(opts NULL) is INVALID_ARG");
    CHECK(ckpt_client_last_http_status(c) == 0, "no argument check sent a request");

    /* And the same dead client does fail with NETWORK when it does send. */
    double t0 = now_s();
    ckpt_run_list *rl = NULL;
    e = ckpt_runs(c, &rl);
    CHECK_ERR(c, e, CKPT_E_NETWORK, "runs against a closed port with 0 retries is NETWORK");
    CHECK(now_s() - t0 < 3, "a refused connection with 0 retries fails at once (%.2f s)",
          now_s() - t0);
    CHECK(*ckpt_client_last_error(c) != '\0', "a network failure sets last_error ('%s')",
          ckpt_client_last_error(c));
    CHECK_STR(ckpt_client_last_error_code(c), "", "a network failure has no server error code");
    CHECK_INT(ckpt_client_last_http_status(c), 0, "a network failure has last_http_status 0");

    ckpt_client_set_retries(c, 2, 100);
    t0 = now_s();
    e = ckpt_runs(c, &rl);
    double dt = now_s() - t0;
    CHECK_ERR(c, e, CKPT_E_NETWORK, "runs against a closed port with 2 retries is NETWORK");
    CHECK(dt >= 0.29 && dt < 5, "2 retries with base 100 ms wait 100 + 200 ms or more (%.2f s)",
          dt);
    CHECK(strstr(ckpt_client_last_error(c), "3 attempts") != NULL,
          "last_error counts the attempts ('%s')", ckpt_client_last_error(c));
    ckpt_client_free(c);
}

/* A server that accepts connections (the kernel does) and never answers. */
static void test_stall_timeout(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char u[64];

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        CHECK(0, "set up a silent listening socket");
        if (fd >= 0)
            close(fd);
        return;
    }
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(a.sin_port));
    ckpt_client *c = ckpt_client_new(u, NULL);
    ckpt_client_set_retries(c, 0, 0);
    CHECK_ERR(c, ckpt_client_set_timeouts(c, 1000, 1000), CKPT_OK, "set_timeouts(1000, 1000)");
    ckpt_ref r = ckpt_ref_id(1);
    double t0 = now_s();
    ckpt_err e = ckpt_get(c, &r, NULL);
    double dt = now_s() - t0;
    CHECK_ERR(c, e, CKPT_E_NETWORK,
              "a server that never answers is NETWORK after the stall timeout");
    CHECK(dt >= 0.9 && dt < 6, "the 1 s stall timeout ends the request after 1 to 6 s (%.2f s)",
          dt);
    ckpt_client_free(c);
    close(fd);
}

/* ---- queries ------------------------------------------------------------------------- */

static void test_best_latest(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    const double losses[] = {0.5, 0.2, 0.9, 0.2000001};
    const double accs[] = {0.7, 0.95, 0.8, 0.1};
    int64_t ids[4] = {0};
    ckpt_info *info = NULL;
    ckpt_err e;

    if (!c)
        return;
    for (int i = 0; i < 4; i++) {
        ckpt_metric mt[] = {{"acc", accs[i]}};
        ckpt_meta m = {.run = "lib-best",
                       .has_epoch = 1,
                       .epoch = i,
                       .has_loss = 1,
                       .loss = losses[i],
                       .metrics = mt,
                       .n_metrics = 1};
        char body[32];
        snprintf(body, sizeof(body), "best-%d", i);
        e = ckpt_push_buffer(c, &m, body, strlen(body), &info);
        ids[i] = info ? info->id : 0;
        ckpt_info_free(info);
        info = NULL;
        if (e != CKPT_OK)
            CHECK_ERR(c, e, CKPT_OK, "push checkpoint %d of run lib-best", i);
    }
    /* one without loss or metric: never best */
    ckpt_meta plain = {.run = "lib-best", .has_epoch = 1, .epoch = 9};
    e = ckpt_push_buffer(c, &plain, "plain", 5, &info);
    int64_t last = info ? info->id : 0;
    ckpt_info_free(info);
    info = NULL;
    CHECK(ids[0] > 0 && ids[1] > ids[0] && ids[2] > ids[1] && ids[3] > ids[2] && last > ids[3],
          "ids of successive pushes increase");

    struct {
        ckpt_ref ref;
        int64_t want;
        const char *what;
    } cases[] = {
        {ckpt_ref_best("lib-best", NULL, 0), ids[1], "best (metric NULL = loss, min)"},
        {ckpt_ref_best("lib-best", "loss", 0), ids[1], "best loss min"},
        {ckpt_ref_best("lib-best", "loss", 1), ids[2], "best loss max"},
        {ckpt_ref_best("lib-best", "acc", 1), ids[1], "best acc max"},
        {ckpt_ref_best("lib-best", "acc", 0), ids[3], "best acc min"},
        {ckpt_ref_latest("lib-best"), last, "latest"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = ckpt_get(c, &cases[i].ref, &info);
        CHECK(e == CKPT_OK && info && info->id == cases[i].want,
              "get %s is checkpoint %" PRId64 " (got %s, id %" PRId64 ")", cases[i].what,
              cases[i].want, ckpt_strerror(e), info ? info->id : 0);
        ckpt_info_free(info);
        info = NULL;
    }

    /* pull by best and latest */
    struct sink s = {0};
    ckpt_ref best_acc = ckpt_ref_best("lib-best", "acc", 1);
    e = ckpt_pull_cb(c, &best_acc, sink_write, &s, &info);
    CHECK(e == CKPT_OK && s.len == 6 && memcmp(s.buf, "best-1", 6) == 0 && info &&
              info->id == ids[1],
          "pull_cb of best acc max gets checkpoint 1's bytes and info");
    free(s.buf);
    ckpt_info_free(info);
    info = NULL;
    memset(&s, 0, sizeof(s));
    ckpt_ref latest = ckpt_ref_latest("lib-best");
    e = ckpt_pull_cb(c, &latest, sink_write, &s, NULL);
    CHECK(e == CKPT_OK && s.len == 5 && memcmp(s.buf, "plain", 5) == 0,
          "pull_cb of latest gets the last push's bytes");
    free(s.buf);

    /* not found */
    ckpt_ref nometric = ckpt_ref_best("lib-best", "nosuchmetric", 0);
    e = ckpt_get(c, &nometric, &info);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "best by a metric no checkpoint has is NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "checkpoint_not_found",
              "  ... with code checkpoint_not_found");
    CHECK(info == NULL, "a failed get sets *out to NULL");

    struct {
        ckpt_ref ref;
        const char *what;
    } gone[] = {
        {ckpt_ref_best("lib-no-such-run", NULL, 0), "best"},
        {ckpt_ref_best("lib-no-such-run", "acc", 1), "best acc max"},
        {ckpt_ref_latest("lib-no-such-run"), "latest"},
    };
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        e = ckpt_get(c, &gone[i].ref, NULL);
        CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "%s of an unknown run is NOT_FOUND", gone[i].what);
        CHECK_STR(ckpt_client_last_error_code(c), "run_not_found",
                  "%s of an unknown run: code run_not_found", gone[i].what);
        CHECK_INT(ckpt_client_last_http_status(c), 404,
                  "%s of an unknown run: last_http_status 404", gone[i].what);
        CHECK(strstr(ckpt_client_last_error(c), "run_not_found") != NULL,
              "%s of an unknown run: last_error has the server's code ('%s')", gone[i].what,
              ckpt_client_last_error(c));
    }
    struct sink s2 = {0};
    e = ckpt_pull_cb(c, &gone[2].ref, sink_write, &s2, NULL);
    CHECK(e == CKPT_E_NOT_FOUND && s2.calls == 0,
          "pull_cb of latest of an unknown run is NOT_FOUND, writes nothing");
    ckpt_ref unknown = ckpt_ref_id(INT64_MAX);
    e = ckpt_get(c, &unknown, NULL);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "get of an unknown id is NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "checkpoint_not_found",
              "get of an unknown id: code checkpoint_not_found");
    CHECK_INT(ckpt_client_last_http_status(c), 404, "get of an unknown id: last_http_status 404");

    /* success clears the last error */
    ckpt_ref lb = ckpt_ref_latest("lib-best");
    CHECK_ERR(c, ckpt_get(c, &lb, NULL), CKPT_OK, "get latest with out NULL");
    CHECK(ckpt_client_last_error(c)[0] == '\0' && ckpt_client_last_error_code(c)[0] == '\0',
          "a success after a failure clears last_error and last_error_code");
    ckpt_client_free(c);
}

/* Ids of l in order, as a comparable string. */
static void ids_of(const ckpt_list *l, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; l && i < l->count && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%" PRId64, i ? "," : "", l->items[i].id);
}

static void ids_join(const int64_t *ids, const int *idx, size_t n, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%" PRId64, i ? "," : "", ids[idx[i]]);
}

static void test_listing(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    /* i: epoch, step, loss, metric m (has_x 0 where "none") */
    static const struct {
        int has_epoch;
        int64_t epoch, step;
        double loss;
        int has_m;
        double m;
    } rows[] = {
        {1, 3, 30, 0.3, 1, 5}, {1, 1, 10, 0.1, 1, 1}, {1, 4, 40, 0.4, 1, 3},
        {0, 0, 20, 0.2, 0, 0}, {1, 5, 50, 0.5, 1, 2},
    };
    int64_t ids[5] = {0};
    uint64_t bytes = 0;
    char want[256], got[256], *created_last = NULL;
    ckpt_list *l = NULL;
    ckpt_err e;

    if (!c)
        return;
    for (int i = 0; i < 5; i++) {
        ckpt_metric mt[] = {{"m", rows[i].m}};
        ckpt_meta m = {.run = "lib-list",
                       .has_epoch = rows[i].has_epoch,
                       .epoch = rows[i].epoch,
                       .has_step = 1,
                       .step = rows[i].step,
                       .has_loss = 1,
                       .loss = rows[i].loss,
                       .metrics = mt,
                       .n_metrics = rows[i].has_m ? 1 : 0};
        char body[64];
        ckpt_info *in = NULL;
        int n =
            snprintf(body, sizeof(body), "list-item-%d-%.*s", i, i * 5, "xxxxxxxxxxxxxxxxxxxxxxxx");
        e = ckpt_push_buffer(c, &m, body, (size_t)n, &in);
        if (e != CKPT_OK)
            CHECK_ERR(c, e, CKPT_OK, "push listing item %d", i);
        ids[i] = in ? in->id : 0;
        bytes += (uint64_t)n;
        if (i == 4 && in)
            created_last = strdup(in->created_at);
        ckpt_info_free(in);
    }

    struct {
        ckpt_list_opts o;
        int idx[5];
        size_t n;
        const char *what;
    } cases[] = {
        {{.run = "lib-list"}, {0, 1, 2, 3, 4}, 5, "default order (created, ascending)"},
        {{.run = "lib-list", .order_by = "created"}, {0, 1, 2, 3, 4}, 5, "order_by created"},
        {{.run = "lib-list", .desc = 1}, {4, 3, 2, 1, 0}, 5, "desc"},
        {{.run = "lib-list", .order_by = "epoch"},
         {1, 0, 2, 4, 3},
         5,
         "order_by epoch (null last)"},
        {{.run = "lib-list", .order_by = "epoch", .desc = 1},
         {4, 2, 0, 1, 3},
         5,
         "order_by epoch desc (null last)"},
        {{.run = "lib-list", .order_by = "step"}, {1, 3, 0, 2, 4}, 5, "order_by step"},
        {{.run = "lib-list", .order_by = "loss", .desc = 1},
         {4, 2, 0, 3, 1},
         5,
         "order_by loss desc"},
        {{.run = "lib-list", .order_by = "metric.m"},
         {1, 4, 2, 0, 3},
         5,
         "order_by metric.m (missing last)"},
        {{.run = "lib-list", .order_by = "metric.m", .desc = 1},
         {0, 2, 4, 1, 3},
         5,
         "order_by metric.m desc"},
        {{.run = "lib-list", .limit = 2}, {0, 1}, 2, "limit 2"},
        {{.run = "lib-list", .limit = 2, .desc = 1}, {4, 3}, 2, "limit 2 desc"},
        {{.run = "lib-list", .limit = 1, .order_by = "loss"}, {1}, 1, "limit 1 order_by loss"},
        {{.run = "lib-list", .limit = 50}, {0, 1, 2, 3, 4}, 5, "limit 50 (more than there are)"},
        {{.run = "lib-list", .has_min_epoch = 1, .min_epoch = 3}, {0, 2, 4}, 3, "min_epoch 3"},
        {{.run = "lib-list", .has_max_epoch = 1, .max_epoch = 3}, {0, 1}, 2, "max_epoch 3"},
        {{.run = "lib-list",
          .has_min_epoch = 1,
          .min_epoch = 2,
          .has_max_epoch = 1,
          .max_epoch = 4,
          .order_by = "epoch",
          .desc = 1},
         {2, 0},
         2,
         "epochs 2..4, order_by epoch desc"},
        {{.run = "lib-list", .has_min_epoch = 1, .min_epoch = 100}, {0}, 0, "min_epoch 100 (none)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = ckpt_list_checkpoints(c, &cases[i].o, &l);
        ids_join(ids, cases[i].idx, cases[i].n, want, sizeof(want));
        ids_of(l, got, sizeof(got));
        CHECK(e == CKPT_OK && l && l->count == cases[i].n && strcmp(want, got) == 0,
              "list_checkpoints %s: ids [%s] (got %s [%s])", cases[i].what, want, ckpt_strerror(e),
              got);
        ckpt_list_free(l);
        l = NULL;
    }

    /* items carry every field */
    ckpt_list_opts all = {.run = "lib-list"};
    e = ckpt_list_checkpoints(c, &all, &l);
    if (e == CKPT_OK && l->count == 5) {
        const ckpt_info *it = &l->items[3];
        CHECK(
            !it->has_epoch && it->has_step && it->step == 20 && it->has_loss && it->loss == 0.2 &&
                it->n_metrics == 0 && strcmp(it->run, "lib-list") == 0 && it->size > 0 &&
                strlen(it->sha256) == 64 && valid_timestamp(it->created_at),
            "listed items carry run, epoch (null), step, loss, metrics, size, sha256, created_at");
        const ckpt_info *i0 = &l->items[0];
        CHECK(i0->n_metrics == 1 && strcmp(i0->metrics[0].name, "m") == 0 &&
                  i0->metrics[0].value == 5,
              "listed items carry their metrics");
        ckpt_ref r = ckpt_ref_id(i0->id);
        ckpt_info *gi = NULL;
        ckpt_get(c, &r, &gi);
        CHECK(same_info(i0, gi), "a listed item equals get of its id");
        ckpt_info_free(gi);
    } else {
        CHECK_ERR(c, e, CKPT_OK, "list_checkpoints of lib-list");
    }
    ckpt_list_free(l);
    l = NULL;

    /* pages of 2 over 5 items */
    char *cursor = NULL, *next = NULL;
    char pages[256] = "";
    size_t counts[4] = {0}, npages = 0;
    int cursors_ok = 1;
    ckpt_list_opts po = {.run = "lib-list"};
    do {
        e = ckpt_list_page(c, &po, cursor, 2, &l, &next);
        if (e != CKPT_OK) {
            CHECK_ERR(c, e, CKPT_OK, "list_page %zu", npages + 1);
            break;
        }
        if (npages < 4)
            counts[npages] = l->count;
        ids_of(l, got, sizeof(got));
        if (*got && strlen(pages) + strlen(got) + 2 < sizeof(pages)) {
            if (*pages)
                strcat(pages, ",");
            strcat(pages, got);
        }
        if (npages < 2 && !next)
            cursors_ok = 0;
        ckpt_list_free(l);
        l = NULL;
        free(cursor);
        cursor = next;
        npages++;
    } while (cursor && npages < 10);
    free(cursor);
    int idx[] = {0, 1, 2, 3, 4};
    ids_join(ids, idx, 5, want, sizeof(want));
    CHECK(npages == 3 && counts[0] == 2 && counts[1] == 2 && counts[2] == 1,
          "list_page(2) over 5 items: pages of 2, 2, 1 (got %zu pages: %zu, %zu, %zu)", npages,
          counts[0], counts[1], counts[2]);
    CHECK(cursors_ok, "list_page: the first two pages have a next cursor");
    CHECK_STR(pages, want, "list_page(2): the pages together are the whole run in order");

    /* first page, desc, page size 3 */
    e = ckpt_list_page(c, &(ckpt_list_opts){.run = "lib-list", .desc = 1}, NULL, 3, &l, &next);
    ids_of(l, got, sizeof(got));
    int idx_d[] = {4, 3, 2};
    ids_join(ids, idx_d, 3, want, sizeof(want));
    CHECK(e == CKPT_OK && next != NULL && strcmp(got, want) == 0,
          "list_page(3) desc: the 3 newest and a cursor ([%s], got [%s])", want, got);
    ckpt_list_free(l);
    l = NULL;
    if (next) {
        char *n2 = NULL;
        e = ckpt_list_page(c, &(ckpt_list_opts){.run = "lib-list", .desc = 1}, next, 3, &l, &n2);
        ids_of(l, got, sizeof(got));
        int idx_d2[] = {1, 0};
        ids_join(ids, idx_d2, 2, want, sizeof(want));
        CHECK(e == CKPT_OK && n2 == NULL && strcmp(got, want) == 0,
              "list_page(3) desc, second page: the rest and no cursor ([%s], got [%s])", want, got);
        ckpt_list_free(l);
        l = NULL;
        free(n2);
        free(next);
        next = NULL;
    }

    e = ckpt_list_page(c, &po, "not-a-cursor!", 2, &l, &next);
    CHECK_ERR(c, e, CKPT_E_REFUSED, "list_page with a bogus cursor is REFUSED");
    CHECK_STR(ckpt_client_last_error_code(c), "invalid_cursor", "  ... with code invalid_cursor");
    CHECK(l == NULL && next == NULL, "a failed list_page sets *out and *next to NULL");

    e = ckpt_list_checkpoints(c, &(ckpt_list_opts){.run = "lib-list", .order_by = "bogus"}, &l);
    CHECK_ERR(c, e, CKPT_E_REFUSED, "list_checkpoints order_by 'bogus' is REFUSED");
    CHECK_STR(ckpt_client_last_error_code(c), "invalid_parameter",
              "  ... with code invalid_parameter");
    CHECK_INT(ckpt_client_last_http_status(c), 400, "  ... and last_http_status 400");
    CHECK(l == NULL, "a failed list_checkpoints sets *out to NULL");

    e = ckpt_list_checkpoints(c, &(ckpt_list_opts){.run = "lib-no-such-run"}, &l);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "list_checkpoints of an unknown run is NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "run_not_found", "  ... with code run_not_found");
    e = ckpt_list_page(c, &(ckpt_list_opts){.run = "lib-no-such-run"}, NULL, 5, &l, &next);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "list_page of an unknown run is NOT_FOUND");

    /* runs */
    ckpt_run_list *runs = NULL;
    e = ckpt_runs(c, &runs);
    CHECK_ERR(c, e, CKPT_OK, "runs");
    const ckpt_run_info *ri = NULL;
    int sorted = 1;
    for (size_t i = 0; runs && i < runs->count; i++) {
        if (strcmp(runs->items[i].run, "lib-list") == 0)
            ri = &runs->items[i];
        if (i && strcmp(runs->items[i - 1].run, runs->items[i].run) >= 0)
            sorted = 0;
    }
    CHECK(runs && runs->count >= 2 && sorted, "runs are sorted by name, without duplicates");
    CHECK(ri != NULL, "runs lists lib-list");
    if (ri) {
        CHECK_INT(ri->checkpoints, 5, "runs: lib-list has 5 checkpoints");
        CHECK_INT(ri->bytes, bytes, "runs: lib-list bytes is the sum of the sizes");
        CHECK(ri->has_best_loss && ri->best_loss == 0.1, "runs: lib-list best_loss is 0.1");
        CHECK(ri->has_latest_epoch && ri->latest_epoch == 5, "runs: lib-list latest_epoch is 5");
        CHECK_STR(ri->updated_at, created_last,
                  "runs: updated_at is the latest checkpoint's created_at");
    }
    ckpt_run_list_free(runs);
    free(created_last);
    ckpt_client_free(c);
}

static void test_delete(void)
{
    ckpt_client *c = ckpt_client_new(url, NULL);
    ckpt_meta m = {.run = "lib-del", .has_epoch = 1, .epoch = 1};
    ckpt_info *a = NULL, *b = NULL;
    ckpt_err e;

    if (!c)
        return;
    ckpt_push_buffer(c, &m, "first", 5, &a);
    m.has_epoch = 0;
    ckpt_push_buffer(c, &m, "second", 6, &b);
    if (!a || !b) {
        CHECK(0, "push two checkpoints to lib-del");
        goto out;
    }
    e = ckpt_delete(c, a->id);
    CHECK_ERR(c, e, CKPT_OK, "delete an existing checkpoint");
    CHECK_INT(ckpt_client_last_http_status(c), 204, "delete: last_http_status is 204");
    ckpt_ref ra = ckpt_ref_id(a->id);
    e = ckpt_get(c, &ra, NULL);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "get of a deleted checkpoint is NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "checkpoint_not_found",
              "  ... with code checkpoint_not_found");
    struct sink s = {0};
    e = ckpt_pull_cb(c, &ra, sink_write, &s, NULL);
    CHECK(e == CKPT_E_NOT_FOUND && s.calls == 0,
          "pull of a deleted checkpoint is NOT_FOUND and writes nothing");
    e = ckpt_delete(c, a->id);
    CHECK_ERR(c, e, CKPT_E_NOT_FOUND, "deleting it again is NOT_FOUND");
    CHECK_STR(ckpt_client_last_error_code(c), "checkpoint_not_found",
              "  ... with code checkpoint_not_found");
    CHECK_INT(ckpt_client_last_http_status(c), 404, "  ... and last_http_status 404");
    CHECK_ERR(c, ckpt_delete(c, INT64_MAX), CKPT_E_NOT_FOUND,
              "delete of an id never used is NOT_FOUND");
    CHECK_INT(run_count(c, "lib-del"), 1, "the run keeps its other checkpoint");

    /* the run's runs entry follows its latest checkpoint */
    ckpt_run_list *runs = NULL;
    ckpt_runs(c, &runs);
    const ckpt_run_info *ri = NULL;
    for (size_t i = 0; runs && i < runs->count; i++)
        if (strcmp(runs->items[i].run, "lib-del") == 0)
            ri = &runs->items[i];
    CHECK(ri && ri->checkpoints == 1 && ri->bytes == 6 && !ri->has_latest_epoch &&
              !ri->has_best_loss,
          "runs: lib-del has 1 checkpoint of 6 bytes, no latest_epoch, no best_loss");
    ckpt_run_list_free(runs);
    runs = NULL;

    e = ckpt_delete(c, b->id);
    CHECK_ERR(c, e, CKPT_OK, "delete the run's last checkpoint");
    CHECK_INT(run_count(c, "lib-del"), -1, "a run without checkpoints is not found");
    ckpt_ref lat = ckpt_ref_latest("lib-del");
    e = ckpt_get(c, &lat, NULL);
    CHECK_STR(ckpt_client_last_error_code(c), "run_not_found",
              "latest of an emptied run: run_not_found");
    ckpt_runs(c, &runs);
    ri = NULL;
    for (size_t i = 0; runs && i < runs->count; i++)
        if (strcmp(runs->items[i].run, "lib-del") == 0)
            ri = &runs->items[i];
    CHECK(runs && !ri, "runs no longer lists an emptied run");
    ckpt_run_list_free(runs);
out:
    ckpt_info_free(a);
    ckpt_info_free(b);
    ckpt_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s BASE_URL [SCRATCH_DIR]\n", argv[0]);
        return 2;
    }
    url = argv[1];
    if (argc > 2) {
        if (strlen(argv[2]) >= sizeof(scratch)) {
            fprintf(stderr, "scratch dir path too long\n");
            return 2;
        }
        memcpy(scratch, argv[2], strlen(argv[2]) + 1);
    } else {
        snprintf(scratch, sizeof(scratch), "/tmp/client_libckpt.XXXXXX");
        if (!mkdtemp(scratch)) {
            perror("mkdtemp");
            return 2;
        }
    }
    test_client_new();
    test_setters();
    test_push_buffer_and_pull();
    test_push_file();
    test_push_stream();
    test_progress_abort_push();
    test_invalid_args();
    test_stall_timeout();
    test_best_latest();
    test_listing();
    test_delete();
    return t_done("client_libckpt");
}
