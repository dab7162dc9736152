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

#include <netdb.h>
#include <netinet/in.h>
#include <time.h>

#include "app.h"
#include "auth.h"
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
    unsigned max_uploads;
    unsigned header_timeout_s, rate_window_s;
    uint64_t min_upload_rate;
    bool insecure;
    bool has_default_policy; /* --default-policy FILE */
    struct policy default_policy;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ckptd [OPTIONS]\n"
            "       ckptd token add NAME --role read|write|admin [--runs PREFIX] [--data DIR]\n"
            "       ckptd token list [--data DIR]\n"
            "       ckptd token revoke ID [--data DIR]\n"
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
            "  --max-uploads N       concurrent uploads; more answer 503 with Retry-After\n"
            "                        (default %d)\n"
            "  --header-timeout S    close connections whose request headers take longer\n"
            "                        (or idle keep-alive connections; default %d)\n"
            "  --min-upload-rate B   close uploads moving fewer bytes/s than this over\n"
            "                        each --upload-rate-window S (defaults %d and %d)\n"
            "  --insecure            allow a non-loopback --listen address with no tokens\n"
            "  --default-policy FILE retention policy (JSON, as PUT /v1/runs/RUN/policy)\n"
            "                        for runs without their own (default: keep all)\n"
            "  --help                show this help and exit\n"
            "  --version             show the version and exit\n"
            "\n"
            "Once any token exists (ckptd token add), every request but /healthz needs\n"
            "'Authorization: Bearer ID.SECRET'. Roles: read (GET, HEAD), write (also\n"
            "uploads), admin (also DELETE); --runs limits a token to runs with a prefix.\n"
            "The token commands work while the daemon runs; revocation takes effect on\n"
            "the next request.\n"
            "\n"
            "SIGINT or SIGTERM stops ckptd: it stops accepting, gives requests in flight\n"
            "%d seconds, aborts the rest (an aborted upload leaves nothing) and exits 0.\n",
            THREADS_MAX, DEFAULT_THREADS, DEFAULT_MAX_UPLOADS, HEADER_DEADLINE_S, UPLOAD_MIN_RATE,
            UPLOAD_RATE_WINDOW_S, SHUTDOWN_GRACE_S);
}

/* Read and check a --default-policy file; prints why it fails. */
static int load_policy_file(const char *path, struct policy *p)
{
    char text[POLICY_BODY_MAX + 1], err[256];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        fprintf(stderr, "ckptd: cannot open --default-policy '%s': %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    if (n > POLICY_BODY_MAX) {
        fprintf(stderr, "ckptd: --default-policy '%s' is larger than %d bytes\n", path,
                POLICY_BODY_MAX);
        return -1;
    }
    if (policy_parse(text, n, p, err, sizeof(err)) < 0) {
        fprintf(stderr, "ckptd: invalid --default-policy '%s': %s\n", path, err);
        return -1;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},   {"data", required_argument, NULL, 'd'},
        {"max-upload", required_argument, NULL, 'm'}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {"insecure", no_argument, NULL, 'I'},
        {"max-uploads", required_argument, NULL, 'U'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"min-upload-rate", required_argument, NULL, 'R'},
        {"upload-rate-window", required_argument, NULL, 'W'},
        {"default-policy", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    int c;
    int64_t n;

    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 8420;
    o->data = "./data";
    o->max_upload = DEFAULT_MAX_UPLOAD;
    o->threads = DEFAULT_THREADS;
    o->max_uploads = DEFAULT_MAX_UPLOADS;
    o->header_timeout_s = HEADER_DEADLINE_S;
    o->rate_window_s = UPLOAD_RATE_WINDOW_S;
    o->min_upload_rate = UPLOAD_MIN_RATE;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (parse_listen(optarg, o->host, sizeof(o->host), &o->port) < 0) {
                fprintf(stderr, "ckptd: invalid --listen '%s': expected HOST:PORT\n", optarg);
                return 2;
            }
            break;
        case 'P':
            if (load_policy_file(optarg, &o->default_policy) < 0)
                return 2;
            o->has_default_policy = true;
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
        case 'I':
            o->insecure = true;
            break;
        case 'U':
            if (parse_u63(optarg, &n) < 0 || n < 1 || n > CONNECTION_LIMIT) {
                fprintf(stderr, "ckptd: invalid --max-uploads '%s': expected 1 to %d\n", optarg,
                        CONNECTION_LIMIT);
                return 2;
            }
            o->max_uploads = (unsigned)n;
            break;
        case 'H':
        case 'W':
            if (parse_u63(optarg, &n) < 0 || n < 1 || n > 3600) {
                fprintf(stderr, "ckptd: invalid --%s '%s': expected 1 to 3600 seconds\n",
                        c == 'H' ? "header-timeout" : "upload-rate-window", optarg);
                return 2;
            }
            *(c == 'H' ? &o->header_timeout_s : &o->rate_window_s) = (unsigned)n;
            break;
        case 'R':
            if (parse_size(optarg, &o->min_upload_rate) < 0) {
                fprintf(stderr, "ckptd: invalid --min-upload-rate '%s': expected bytes per "
                                "second such as 1K\n", optarg);
                return 2;
            }
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

static void recovery_scan(void *arg)
{
    int r = store_recovery_scan(arg);
    if (r < 0)
        log_error("recovery scan failed: %s", strerror(-r));
    else if (r > 0)
        log_error("recovery scan: %d damaged blob(s); their checkpoints are flagged corrupt", r);
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_token(void *ctx, const struct token_row *t)
{
    static const char *const roles[] = {"", "read", "write", "admin"};
    char created[32], revoked[32] = "-";
    (void)ctx;
    format_time(t->created_ms, created, sizeof(created));
    if (t->revoked)
        format_time(t->revoked_ms, revoked, sizeof(revoked));
    printf("%-16s  %-20s  %-5s  %-16s  %-20s  %s\n", t->id, t->name, roles[t->role],
           *t->run_prefix ? t->run_prefix : "*", created, revoked);
    return 0;
}

/* ckptd token add|list|revoke: manage API tokens in DIR/index.db. Safe
 * while a daemon runs on DIR: SQLite serializes the writes, and the daemon
 * reads tokens afresh on every request. */
static int token_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"role", required_argument, NULL, 'r'},
        {"runs", required_argument, NULL, 'p'},
        {"data", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = "./data", *role_arg = NULL, *prefix = "";
    char path[PATH_MAX];
    struct index *ix = NULL;
    struct stat st;
    int c, r, status = 1;

    opterr = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': role_arg = optarg; break;
        case 'p': prefix = optarg; break;
        case 'd': data = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "ckptd: token: unknown option '%s'\nTry 'ckptd --help'.\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    const char *verb = optind < argc ? argv[optind] : "";
    int nargs = argc - optind - 1;
    bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
         revoke = strcmp(verb, "revoke") == 0;
    if ((add && nargs != 1) || (list && nargs != 0) || (revoke && nargs != 1) ||
        !(add || list || revoke)) {
        fprintf(stderr, "usage: ckptd token add NAME --role read|write|admin [--runs PREFIX] "
                        "[--data DIR]\n       ckptd token list [--data DIR]\n"
                        "       ckptd token revoke ID [--data DIR]\n");
        return 2;
    }
    enum role role = ROLE_READ;
    if (add) {
        const char *name = argv[optind + 1];
        if (!parse_is_name(name, strlen(name))) {
            fprintf(stderr, "ckptd: token name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}\n");
            return 2;
        }
        if (!role_arg || (strcmp(role_arg, "read") && strcmp(role_arg, "write") &&
                          strcmp(role_arg, "admin"))) {
            fprintf(stderr, "ckptd: token add needs --role read, write or admin\n");
            return 2;
        }
        role = role_arg[0] == 'a' ? ROLE_ADMIN : role_arg[0] == 'w' ? ROLE_WRITE : ROLE_READ;
        if (*prefix && !parse_is_name(prefix, strlen(prefix))) {
            fprintf(stderr, "ckptd: --runs must be the start of a run name "
                            "([A-Za-z0-9][A-Za-z0-9._-]*)\n");
            return 2;
        }
        if ((r = make_dirs(data)) < 0) {
            fprintf(stderr, "ckptd: cannot create data directory '%s': %s\n", data, strerror(-r));
            return 1;
        }
    } else if (stat(data, &st) < 0) {
        fprintf(stderr, "ckptd: no data directory '%s': %s\n", data, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/index.db", data);
    if ((r = index_open(path, 1, &ix)) < 0) {
        fprintf(stderr, "ckptd: cannot open index '%s': %s\n", path, strerror(-r));
        return 1;
    }
    if (add) {
        struct token_row row;
        char text[AUTH_TOKEN_TEXT_MAX];
        r = auth_mint(argv[optind + 1], role, prefix, now_ms(), &row, text);
        if (r == 0)
            r = index_token_add(ix, &row);
        if (r < 0) {
            fprintf(stderr, "ckptd: cannot create token: %s\n", strerror(-r));
        } else {
            printf("%s\n", text);
            fflush(stdout);
            fprintf(stderr, "token %s for '%s' (role %s, runs %s%s): shown once, store it now\n",
                    row.id, row.name, role_arg, *prefix ? prefix : "", *prefix ? "*" : "all");
            status = 0;
        }
        auth_wipe(text, sizeof(text));
    } else if (list) {
        printf("%-16s  %-20s  %-5s  %-16s  %-20s  %s\n", "ID", "NAME", "ROLE", "RUNS", "CREATED",
               "REVOKED");
        r = index_token_list(ix, print_token, NULL);
        if (r < 0)
            fprintf(stderr, "ckptd: cannot list tokens: %s\n", strerror(-r));
        status = r < 0;
    } else {
        r = index_token_revoke(ix, argv[optind + 1], now_ms());
        if (r == -ENOENT)
            fprintf(stderr, "ckptd: no token with id '%s'\n", argv[optind + 1]);
        else if (r == -EALREADY)
            fprintf(stderr, "ckptd: token '%s' was already revoked\n", argv[optind + 1]);
        else if (r < 0)
            fprintf(stderr, "ckptd: cannot revoke token: %s\n", strerror(-r));
        else
            printf("revoked token %s\n", argv[optind + 1]);
        status = r < 0;
    }
    index_close(ix);
    return status;
}

/* Whether every address host resolves to is a loopback one. */
static bool is_loopback(const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *p;
    bool loop = true;

    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return false;
    for (p = ai; p; p = p->ai_next) {
        if (p->ai_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)p->ai_addr;
            loop &= (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (p->ai_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)p->ai_addr;
            loop &= IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) != 0;
        } else {
            loop = false;
        }
    }
    freeaddrinfo(ai);
    return loop;
}

int main(int argc, char **argv)
{
    struct options o;
    struct app app = {0};
    struct server *srv = NULL;
    sigset_t sigs;
    uint16_t port;
    int lock_fd = -1, r, sig, status = 1;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return token_command(argc, argv);
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
    app.store->has_default_policy = o.has_default_policy;
    app.store->default_policy = o.default_policy;
    r = watch_new(&app.watch);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot start the long-poll thread: %s\n", strerror(-r));
        goto out;
    }
    r = auth_new(app.store->index, &app.auth);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot set up authentication: %s\n", strerror(-r));
        goto out;
    }
    bool any_token = false;
    if (index_tokens_exist(app.store->index, &any_token) == 0 && !any_token && !o.insecure &&
        !is_loopback(o.host)) {
        fprintf(stderr,
                "ckptd: refusing to listen on '%s' without authentication: anyone who can reach "
                "it could read and delete checkpoints.\nCreate a token first (ckptd token add NAME "
                "--role admin --data %s), listen on a loopback address, or pass --insecure.\n",
                o.host, o.data);
        goto out;
    }
    r = workq_new(COMMIT_THREADS, &app.workq);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot start worker threads: %s\n", strerror(-r));
        goto out;
    }
    struct server_config cfg = {.host = o.host,
                                .port = o.port,
                                .threads = o.threads,
                                .max_uploads = o.max_uploads,
                                .header_timeout_s = o.header_timeout_s,
                                .rate_window_s = o.rate_window_s,
                                .min_upload_rate = o.min_upload_rate};
    r = server_start(&app, &cfg, &srv, &port);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot listen on %s%s%s:%u\n", strchr(o.host, ':') ? "[" : "",
                o.host, strchr(o.host, ':') ? "]" : "", o.port);
        goto out;
    }
    /* Blobs missing or the wrong size (a crash, a disk fault, a person) are
     * flagged corrupt in the background: startup does not wait for a stat
     * of every blob, and serving checks the size of each blob it opens. */
    if (workq_submit(app.workq, recovery_scan, app.store) < 0)
        log_error("cannot start the recovery scan");
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
    watch_free(app.watch);
    auth_free(app.auth);
    store_close(app.store);
    if (lock_fd >= 0)
        close(lock_fd);
    return status;
}
