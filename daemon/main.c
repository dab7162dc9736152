/*
 * main.c - ckptd: options, the data directory lock, signals, and the order
 * in which the pieces start and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "ckpt_limits.h"
#include "log.h"
#include "parse.h"
#include "server.h"

#ifndef CKPTD_VERSION
#define CKPTD_VERSION "0.1.0"
#endif

struct options {
    char host[256];
    uint16_t port;
    const char *data;
    uint64_t max_upload;
    unsigned threads;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ckptd [OPTIONS]\n"
            "\n"
            "Checkpoint store daemon: streams checkpoint blobs to disk with SHA-256\n"
            "verification and indexes them for queries over HTTP (see proto/API.md).\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT    address to listen on (default 127.0.0.1:8420;\n"
            "                        [::1]:PORT for IPv6; port 0 picks a free port)\n"
            "  --data DIR            data directory, created if missing (default ./data)\n"
            "  --max-upload BYTES    largest checkpoint accepted, with optional K, M, G\n"
            "                        or T suffix (powers of 1024; default 100G)\n"
            "  --threads N           HTTP event threads, 1-%d (default %d)\n"
            "  --help                show this help and exit\n"
            "  --version             show the version and exit\n"
            "\n"
            "SIGINT or SIGTERM stops ckptd: it stops accepting, gives requests in flight\n"
            "%d seconds, aborts the rest (an aborted upload leaves nothing) and exits 0.\n",
            THREADS_MAX, DEFAULT_THREADS, SHUTDOWN_GRACE_S);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},   {"data", required_argument, NULL, 'd'},
        {"max-upload", required_argument, NULL, 'm'}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    int64_t n;

    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 8420;
    o->data = "./data";
    o->max_upload = DEFAULT_MAX_UPLOAD;
    o->threads = DEFAULT_THREADS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (parse_listen(optarg, o->host, sizeof(o->host), &o->port) < 0) {
                fprintf(stderr, "ckptd: invalid --listen '%s': expected HOST:PORT\n", optarg);
                return 2;
            }
            break;
        case 'd':
            if (!*optarg) {
                fprintf(stderr, "ckptd: --data needs a directory\n");
                return 2;
            }
            o->data = optarg;
            break;
        case 'm':
            if (parse_size(optarg, &o->max_upload) < 0 || o->max_upload == 0) {
                fprintf(stderr, "ckptd: invalid --max-upload '%s': expected a byte count such as 10G\n",
                        optarg);
                return 2;
            }
            break;
        case 't':
            if (parse_u63(optarg, &n) < 0 || n < 1 || n > THREADS_MAX) {
                fprintf(stderr, "ckptd: invalid --threads '%s': expected 1 to %d\n", optarg,
                        THREADS_MAX);
                return 2;
            }
            o->threads = (unsigned)n;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ckptd %s\n", CKPTD_VERSION);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "ckptd: option '--%s' needs an argument or is unknown\n",
                        argv[optind - 1] + 2);
            else
                fprintf(stderr, "ckptd: unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "Try 'ckptd --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ckptd: unexpected argument '%s'\nTry 'ckptd --help'.\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* mkdir -p: create dir and any missing parents. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Take DIR/ckptd.lock; the lock lives as long as the process (and dies with
 * it, so a kill -9 never leaves a stale lock). Returns the fd or -1. */
static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX], pid[32] = "";
    int fd;

    snprintf(path, sizeof(path), "%s/ckptd.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "ckptd: cannot open lock file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            ssize_t n = read(fd, pid, sizeof(pid) - 1);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            fprintf(stderr,
                    "ckptd: data directory '%s' is in use by another ckptd (pid %s)\n", dir,
                    *pid ? pid : "unknown");
        } else {
            fprintf(stderr, "ckptd: cannot lock '%s': %s\n", path, strerror(errno));
        }
        close(fd);
        return -1;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_error("cannot write pid to '%s': %s", path, strerror(errno));
    return fd;
}

int main(int argc, char **argv)
{
    struct options o;
    struct app app = {0};
    struct server *srv = NULL;
    sigset_t sigs;
    uint16_t port;
    int lock_fd = -1, r, sig, status = 1;

    r = parse_options(argc, argv, &o);
    if (r >= 0)
        return r;
    app.max_upload = o.max_upload;

    /* Block the stop signals in every thread (threads inherit the mask) and
     * take them in one place, sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = make_dirs(o.data);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot create data directory '%s': %s\n", o.data, strerror(-r));
        return 1;
    }
    lock_fd = lock_data_dir(o.data);
    if (lock_fd < 0)
        return 1;
    r = store_open(o.data, o.threads + COMMIT_THREADS + 2, &app.store);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot open data directory '%s': %s\n", o.data, strerror(-r));
        goto out;
    }
    r = workq_new(COMMIT_THREADS, &app.workq);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot start worker threads: %s\n", strerror(-r));
        goto out;
    }
    struct server_config cfg = {.host = o.host, .port = o.port, .threads = o.threads};
    r = server_start(&app, &cfg, &srv, &port);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot listen on %s%s%s:%u\n", strchr(o.host, ':') ? "[" : "",
                o.host, strchr(o.host, ':') ? "]" : "", o.port);
        goto out;
    }
    printf("ckptd listening on http://%s%s%s:%u data=%s\n", strchr(o.host, ':') ? "[" : "",
           o.host, strchr(o.host, ':') ? "]" : "", port, o.data);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    log_info("received %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(srv, SHUTDOWN_GRACE_S);
    srv = NULL;
    status = 0;
out:
    workq_free(app.workq);
    store_close(app.store);
    if (lock_fd >= 0)
        close(lock_fd);
    return status;
}
