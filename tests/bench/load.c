/*
 * load.c - the benchmark's small-request load generator and fixture helper.
 * It drives ckptd and nginx with the same client code (libcurl, one keep-alive
 * connection per thread), drives ckptd through libckpt, and creates blob files
 * for the startup-time measurement. Built by tests/bench/run.sh; not installed.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"

#define THREADS_MAX 256
#define BODY_MAX (64u << 20)

enum mode { MODE_PUT, MODE_PUSH };

struct job {
    enum mode mode;
    const char *url;    /* MODE_PUT: URL prefix, a unique number is appended */
    const char *run;    /* MODE_PUSH: run name */
    size_t size;        /* body bytes */
    double deadline;    /* monotonic seconds */
    unsigned long nonce; /* makes bodies and names unique across processes */
};

struct worker {
    pthread_t tid;
    const struct job *job;
    unsigned index;
    unsigned long ok, errors;
    double *lat; /* seconds per successful request */
    size_t nlat, caplat;
    char first_error[256];
};

struct reader {
    const char *buf;
    size_t len, pos;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t read_body(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct reader *r = ud;
    size_t n = size * nmemb;
    if (n > r->len - r->pos)
        n = r->len - r->pos;
    memcpy(dst, r->buf + r->pos, n);
    r->pos += n;
    return n;
}

static size_t drop_body(char *src, size_t size, size_t nmemb, void *ud)
{
    (void)src;
    (void)ud;
    return size * nmemb;
}

static int note_latency(struct worker *w, double s)
{
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 4096;
        double *p = realloc(w->lat, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        w->lat = p;
        w->caplat = cap;
    }
    w->lat[w->nlat++] = s;
    return 0;
}

/* Fill body with bytes no other request of this or another run repeats, so
 * ckptd's content deduplication never turns an upload into a no-op. */
static void fill_body(char *body, size_t size, const struct job *job, unsigned idx,
                      unsigned long seq)
{
    char head[96];
    int n = snprintf(head, sizeof(head), "%lu-%u-%lu-", job->nonce, idx, seq);
    for (size_t i = 0; i < size; i++)
        body[i] = (char)('a' + (i * 7 + seq) % 26);
    memcpy(body, head, (size_t)n < size ? (size_t)n : size);
}

static void *put_worker(void *arg)
{
    struct worker *w = arg;
    const struct job *job = w->job;
    char *body = malloc(job->size);
    char url[2048];
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");

    if (!body || !h || !hdrs) {
        snprintf(w->first_error, sizeof(w->first_error), "out of memory");
        w->errors++;
        goto out;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)job->size);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    for (unsigned long seq = 0; now() < job->deadline; seq++) {
        struct reader rd = {.buf = body, .len = job->size};
        long status = 0;
        fill_body(body, job->size, job, w->index, seq);
        snprintf(url, sizeof(url), "%s%lu%03u%07lu", job->url, job->nonce % 100000, w->index,
                 seq);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_READDATA, &rd);
        double t0 = now();
        CURLcode rc = curl_easy_perform(h);
        double t1 = now();
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            w->ok++;
            if (note_latency(w, t1 - t0) < 0)
                break;
        } else {
            if (!w->errors)
                snprintf(w->first_error, sizeof(w->first_error), "%.160s: %.60s, HTTP %ld", url,
                         curl_easy_strerror(rc), status);
            w->errors++;
        }
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(body);
    return NULL;
}

static void *push_worker(void *arg)
{
    struct worker *w = arg;
    const struct job *job = w->job;
    char *body = malloc(job->size);
    ckpt_client *c = ckpt_client_new(job->url, NULL);

    if (!body || !c) {
        snprintf(w->first_error, sizeof(w->first_error), "out of memory");
        w->errors++;
        goto out;
    }
    ckpt_client_set_retries(c, 0, 0);
    for (unsigned long seq = 0; now() < job->deadline; seq++) {
        ckpt_meta m = {.run = job->run, .has_step = 1, .step = (int64_t)seq};
        fill_body(body, job->size, job, w->index, seq);
        double t0 = now();
        ckpt_err e = ckpt_push_buffer(c, &m, body, job->size, NULL);
        double t1 = now();
        if (e == CKPT_OK) {
            w->ok++;
            if (note_latency(w, t1 - t0) < 0)
                break;
        } else {
            if (!w->errors)
                snprintf(w->first_error, sizeof(w->first_error), "%s",
                         ckpt_client_last_error(c));
            w->errors++;
        }
    }
out:
    ckpt_client_free(c);
    free(body);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Run threads workers until seconds have passed; print one line of results. */
static int run_load(struct job *job, unsigned threads, double seconds)
{
    struct worker *w = calloc(threads, sizeof(*w));
    unsigned long ok = 0, errors = 0;
    size_t nlat = 0;
    double *all = NULL;
    int rc = 1;

    if (!w)
        return 1;
    job->nonce = ((unsigned long)getpid() << 20) ^ (unsigned long)time(NULL);
    double t0 = now();
    job->deadline = t0 + seconds;
    for (unsigned i = 0; i < threads; i++) {
        w[i].job = job;
        w[i].index = i;
        if (pthread_create(&w[i].tid, NULL, job->mode == MODE_PUT ? put_worker : push_worker,
                           &w[i]) != 0) {
            fprintf(stderr, "load: cannot start thread %u\n", i);
            threads = i;
            goto out;
        }
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(w[i].tid, NULL);
    double elapsed = now() - t0;
    for (unsigned i = 0; i < threads; i++) {
        ok += w[i].ok;
        errors += w[i].errors;
        nlat += w[i].nlat;
        if (w[i].errors)
            fprintf(stderr, "load: thread %u: %lu errors, first: %s\n", i, w[i].errors,
                    w[i].first_error);
    }
    all = malloc((nlat ? nlat : 1) * sizeof(*all));
    if (!all)
        goto out;
    nlat = 0;
    for (unsigned i = 0; i < threads; i++) {
        memcpy(all + nlat, w[i].lat, w[i].nlat * sizeof(*all));
        nlat += w[i].nlat;
    }
    qsort(all, nlat, sizeof(*all), cmp_double);
    printf("ok=%lu errors=%lu seconds=%.3f rate=%.1f p50_us=%.0f p99_us=%.0f\n", ok, errors,
           elapsed, (double)ok / elapsed, percentile(all, nlat, 0.50) * 1e6,
           percentile(all, nlat, 0.99) * 1e6);
    rc = errors ? 3 : 0;
out:
    for (unsigned i = 0; i < threads; i++)
        free(w[i].lat);
    free(w);
    free(all);
    return rc;
}

/* Create DATA/blobs/ab/<hex> for every 64-hex name on stdin, `size` bytes
 * long but sparse (no data written), as the startup sweep and the recovery
 * scan look only at names and sizes: a million of them cost inodes, not pages. */
static int make_blobs(const char *data, off_t size)
{
    char line[256], path[4096];
    unsigned long n = 0;

    snprintf(path, sizeof(path), "%s/blobs", data);
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        fprintf(stderr, "load: cannot create '%s': %s\n", path, strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < 256; i++) {
        snprintf(path, sizeof(path), "%s/blobs/%02x", data, i);
        if (mkdir(path, 0750) < 0 && errno != EEXIST) {
            fprintf(stderr, "load: cannot create '%s': %s\n", path, strerror(errno));
            return 1;
        }
    }
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) != 64)
            continue;
        snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", data, line, line);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 || ftruncate(fd, size) < 0) {
            fprintf(stderr, "load: cannot create '%s': %s\n", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return 1;
        }
        close(fd);
        n++;
    }
    printf("created=%lu\n", n);
    return 0;
}

static void usage(void)
{
    fputs("usage: load put URL_PREFIX THREADS SECONDS SIZE\n"
          "       load push BASE_URL RUN THREADS SECONDS SIZE\n"
          "       load mkblobs DATA_DIR SIZE < names\n",
          stderr);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct job job = {0};
    unsigned long threads, size;
    double seconds;
    char *end;
    int a;

    if (argc == 4 && !strcmp(argv[1], "mkblobs")) {
        if (parse_uint(argv[3], BODY_MAX, &size) < 0) {
            usage();
            return 2;
        }
        return make_blobs(argv[2], (off_t)size);
    }
    if (argc == 6 && !strcmp(argv[1], "put")) {
        job.mode = MODE_PUT;
        job.url = argv[2];
        a = 3;
    } else if (argc == 7 && !strcmp(argv[1], "push")) {
        job.mode = MODE_PUSH;
        job.url = argv[2];
        job.run = argv[3];
        a = 4;
    } else {
        usage();
        return 2;
    }
    if (parse_uint(argv[a], THREADS_MAX, &threads) < 0 ||
        parse_uint(argv[a + 2], BODY_MAX, &size) < 0) {
        usage();
        return 2;
    }
    seconds = strtod(argv[a + 1], &end);
    if (end == argv[a + 1] || *end || !(seconds > 0 && seconds <= 3600)) {
        usage();
        return 2;
    }
    job.size = size;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run_load(&job, (unsigned)threads, seconds);
    curl_global_cleanup();
    return rc;
}
