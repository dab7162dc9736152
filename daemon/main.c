/*
 * main.c - ckptd: options, the data directory lock, signals, and the order
 * in which the pieces start and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
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
#include "backup.h"
#include "ckpt_limits.h"
#include "config.h"
#include "log.h"
#include "parse.h"
#include "qcache.h"
#include "retention.h"
#include "scrub.h"
#include "router.h"
#include "server.h"
#include "store_metrics.h"
#include "tls.h"
#include "watch.h"

#ifndef CKPTD_VERSION
#define CKPTD_VERSION "0.1.0"
#endif

/* What the command line asked for. Settings are kept as (key, value)
 * pairs so that SIGHUP can rebuild the configuration the way start-up did:
 * defaults, then the --config file, then the command line, which wins. */
struct cmdline {
    const char *config_path; /* NULL: no file */
    bool check;              /* --check-config */
    size_t n;
    struct {
        const struct config_key *key;
        const char *value;
    } * set;
};

/* Print text wrapped at 79 columns, continuation lines indented by indent. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
    const char *p = text;

    while (*p) {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > 79) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)word, p);
        col += (int)word;
        p += word;
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

static void usage(FILE *f)
{
    char opt[64], text[512];

    fprintf(f, "usage: ckptd [--config FILE] [OPTIONS]\n"
               "       ckptd --check-config [--config FILE] [OPTIONS]\n"
               "       ckptd token add NAME --role read|write|admin [--runs PREFIX] [--data DIR]\n"
               "       ckptd token list [--data DIR]\n"
               "       ckptd token revoke ID [--data DIR]\n"
               "       ckptd backup --data DIR --to DIR\n"
               "       ckptd fsck --data DIR [--repair]\n"
               "\n"
               "Checkpoint store daemon: streams checkpoint blobs to disk with SHA-256\n"
               "verification and indexes them for queries over HTTP (see proto/API.md).\n"
               "\n"
               "  --config FILE              read settings from FILE: 'key = value' lines\n"
               "                             with the names below; the command line wins\n"
               "  --check-config             check the settings, print them one 'key = value'\n"
               "                             a line (secrets redacted), exit 0 or 2\n"
               "  --help                     show this help and exit\n"
               "  --version                  show the version and exit\n"
               "\n"
               "settings (command line --KEY VALUE or --KEY=VALUE, config file KEY = VALUE;\n"
               "sizes take K, M, G, T suffixes, powers of 1024; durations s, m, h, d;\n"
               "* = re-read on SIGHUP):\n");
    for (size_t i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        char bounds[128];
        snprintf(opt, sizeof(opt), "  --%s%s%s", k->name, k->metavar ? " " : "",
                 k->metavar ? k->metavar : "");
        config_bounds(k, bounds, sizeof(bounds));
        snprintf(text, sizeof(text), "%s (default %s%s%s)", k->help, *k->def ? k->def : "none",
                 k->type == CFG_INT || k->type == CFG_SIZE || k->type == CFG_DURATION ? "; " : "",
                 k->type == CFG_INT || k->type == CFG_SIZE || k->type == CFG_DURATION ? bounds
                                                                                      : "");
        if (strlen(opt) > 26)
            fprintf(f, "%s\n%26s", opt, "");
        else
            fprintf(f, "%-26s", opt);
        fprintf(f, " %c ", k->reloadable ? '*' : ' ');
        wrap(f, text, 29, 29);
    }
    fprintf(f, "\n"
               "Once any token exists (ckptd token add), every request but /healthz needs\n"
               "'Authorization: Bearer ID.SECRET'. Roles: read (GET, HEAD), write (also\n"
               "uploads), admin (also DELETE); --runs limits a token to runs with a prefix.\n"
               "The token commands work while the daemon runs; revocation takes effect on\n"
               "the next request, and a running daemon requires tokens by the time\n"
               "'ckptd token add' returns (it waits 0.1 s for that).\n"
               "\n"
               "Signals: SIGINT or SIGTERM stops ckptd: it stops accepting, gives requests\n"
               "in flight --shutdown-timeout seconds, aborts the rest (an aborted upload\n"
               "leaves nothing) and exits 0. SIGHUP reopens --log-file and re-reads the\n"
               "--config file: settings marked * take effect without dropping connections;\n"
               "others are logged as needing a restart; an invalid file is logged and the\n"
               "running configuration kept.\n");
}

/* Parse argv into cl. Returns -1 to go on, or an exit status: 0 after
 * --help or --version, 2 after a message on stderr. Values are checked
 * here, so an error names the option as typed. */
static int parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
    struct config scratch;
    char err[CONFIG_ERR_MAX];

    memset(cl, 0, sizeof(*cl));
    cl->set = calloc((size_t)argc, sizeof(*cl->set));
    if (!cl->set) {
        fprintf(stderr, "ckptd: out of memory\n");
        return 2;
    }
    config_defaults(&scratch);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq, *value = NULL;
        char name[64];

        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            fprintf(stderr, "ckptd: unexpected argument '%s'\nTry 'ckptd --help'.\n", arg);
            return 2;
        }
        eq = strchr(arg, '=');
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg - 2) : (int)strlen(arg + 2),
                 arg + 2);
        if (eq)
            value = eq + 1;
        if (strcmp(name, "help") == 0 && !eq) {
            usage(stdout);
            return 0;
        }
        if (strcmp(name, "version") == 0 && !eq) {
            printf("ckptd %s\n", CKPTD_VERSION);
            return 0;
        }
        if (strcmp(name, "check-config") == 0 && !eq) {
            cl->check = true;
            continue;
        }
        const struct config_key *k = config_key_find(name);
        if (!k && strcmp(name, "config") != 0) {
            fprintf(stderr, "ckptd: unknown option '--%s'\nTry 'ckptd --help'.\n", name);
            return 2;
        }
        if (!value && k && k->type == CFG_BOOL)
            value = "true";
        if (!value && i + 1 < argc)
            value = argv[++i];
        if (!value) {
            fprintf(stderr, "ckptd: option '--%s' needs an argument\nTry 'ckptd --help'.\n", name);
            return 2;
        }
        if (!k) {
            cl->config_path = value;
            continue;
        }
        char label[72];
        snprintf(label, sizeof(label), "--%s", k->name);
        if (config_set(&scratch, k, value, label, err, sizeof(err)) < 0) {
            fprintf(stderr, "ckptd: %s\n", err);
            return 2;
        }
        cl->set[cl->n].key = k;
        cl->set[cl->n].value = value;
        cl->n++;
    }
    return -1;
}

/* Defaults, then the config file, then the command line. Returns 0, or -1
 * with "FILE:LINE: reason" (or another one-line reason) in err. */
static int build_config(const struct cmdline *cl, struct config *out, char *err, size_t size)
{
    struct config c;
    struct config_error e;

    config_defaults(&c);
    if (cl->config_path && config_load_file(&c, cl->config_path, &e) < 0) {
        if (e.line)
            snprintf(err, size, "%s:%u: %s", cl->config_path, e.line, e.msg);
        else
            snprintf(err, size, "%s: %s", cl->config_path, e.msg);
        return -1;
    }
    for (size_t i = 0; i < cl->n; i++)
        (void)config_set(&c, cl->set[i].key, cl->set[i].value, NULL, NULL, 0);
    if (config_validate(&c, err, size) < 0)
        return -1;
    *out = c;
    return 0;
}

static void print_config(const struct config *c)
{
    char v[CONFIG_STR_MAX + 8];
    for (size_t i = 0; i < config_keys_count; i++) {
        config_format(c, &config_keys[i], v, sizeof(v));
        printf("%s = %s\n", config_keys[i].name, v);
    }
}

static void recovery_scan(void *arg)
{
    int r = store_recovery_scan(arg);
    if (r == -ECANCELED) {
        log_info("recovery scan stopped: the daemon is stopping (the next start scans again)");
        return;
    }
    if (r < 0)
        log_error("recovery scan failed: %s", strerror(-r));
    else if (r > 0)
        log_error("recovery scan: %d damaged blob(s); their checkpoints are flagged corrupt", r);
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
            fprintf(stderr, "ckptd: data directory '%s' is in use by another ckptd (pid %s)\n", dir,
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
 * reads each presented token afresh; add returns once a daemon that was
 * open (no token) can no longer be. */
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
        if (!role_arg || (strcmp(role_arg, "read") != 0 && strcmp(role_arg, "write") != 0 &&
                          strcmp(role_arg, "admin") != 0)) {
            fprintf(stderr, "ckptd: token add needs --role read, write or admin\n");
            return 2;
        }
        role = role_arg[0] == 'a' ? ROLE_ADMIN : role_arg[0] == 'w' ? ROLE_WRITE : ROLE_READ;
        if (*prefix && !parse_is_name(prefix, strlen(prefix))) {
            fprintf(stderr, "ckptd: --runs must be the start of a run name "
                            "([A-Za-z0-9][A-Za-z0-9._-]*)\n");
            return 2;
        }
        if ((r = blobstore_mkdirs(data)) < 0) {
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
            auth_settle(); /* a running daemon now requires tokens */
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

int fsck_command(int argc, char **argv); /* fsck.c: ckptd fsck */

/* Read and check a default-policy file; err says why it fails. */
static int load_policy_file(const char *path, struct policy *p, char *err, size_t err_size)
{
    char text[POLICY_BODY_MAX + 1], why[256];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        snprintf(err, err_size, "cannot open default-policy '%s': %s", path, strerror(errno));
        return -1;
    }
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    if (n > POLICY_BODY_MAX) {
        snprintf(err, err_size, "default-policy '%s' is larger than %d bytes", path,
                 POLICY_BODY_MAX);
        return -1;
    }
    if (policy_parse(text, n, p, why, sizeof(why)) < 0) {
        snprintf(err, err_size, "invalid default-policy '%s': %s", path, why);
        return -1;
    }
    return 0;
}

_Static_assert(CONFIG_AUTO == RESERVE_AUTO, "reserve = auto is the store's RESERVE_AUTO");

static struct scrub_config scrub_settings(const struct config *c)
{
    struct scrub_config sc = {.interval_s = (int64_t)c->scrub_interval,
                              .rate_bytes = c->scrub_rate * 1000000};
    return sc;
}

/* The event threads: c->threads, or for auto one per CPU this process may
 * run on (its affinity mask, which containers and taskset narrow). */
static unsigned event_threads(const struct config *c)
{
    if (c->threads != CONFIG_AUTO)
        return (unsigned)c->threads;
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                          : sysconf(_SC_NPROCESSORS_ONLN);
    return n < THREADS_AUTO_MIN ? THREADS_AUTO_MIN : n > THREADS_MAX ? THREADS_MAX : (unsigned)n;
}

static struct server_config server_limits(const struct config *c, const char *host, uint16_t port)
{
    struct server_config sc = {.host = host,
                               .port = port,
                               .threads = event_threads(c),
                               .max_uploads = (unsigned)c->max_uploads,
                               .max_uploads_per_ip = (unsigned)c->max_uploads_per_ip,
                               .header_timeout_s = (unsigned)c->header_timeout,
                               .rate_window_s = (unsigned)c->upload_rate_window,
                               .min_upload_rate = c->min_upload_rate,
                               .log_format = c->log_format == CFG_LOG_COMMON ? LOG_FORMAT_COMMON
                                                                             : LOG_FORMAT_JSON};
    return sc;
}

_Static_assert((int)CFG_LOG_DEBUG == (int)LOG_LEVEL_DEBUG &&
                   (int)CFG_LOG_ERROR == (int)LOG_LEVEL_ERROR,
               "config's log-level words are log.h's levels in the same order");

/* SIGHUP: reopen the log and re-read the config file. Reloadable keys take
 * effect for the next request (connections stay open); other changes are
 * logged and keep their running value; an invalid file changes nothing. */
static void reload(const struct cmdline *cl, struct config *cur, struct app *app,
                   struct server *srv)
{
    struct config next;
    char err[CONFIG_ERR_MAX + PATH_MAX], was[CONFIG_STR_MAX + 8], now[CONFIG_STR_MAX + 8];
    int r;

    if (!cl->config_path) {
        r = log_reopen();
        if (r < 0)
            log_error("SIGHUP: cannot reopen log file '%s': %s; still logging to the old one",
                      cur->log_file, strerror(-r));
        log_info("SIGHUP: log reopened; no --config file to re-read");
        return;
    }
    if (build_config(cl, &next, err, sizeof(err)) < 0) {
        r = log_reopen();
        if (r < 0)
            log_error("SIGHUP: cannot reopen log file '%s': %s", cur->log_file, strerror(-r));
        log_error("SIGHUP: %s; keeping the running configuration", err);
        return;
    }
    /* A default-policy file that does not parse makes the whole file
     * invalid, as a bad value would. */
    struct policy policy;
    bool has_policy = *next.default_policy != '\0';
    if (has_policy && load_policy_file(next.default_policy, &policy, err, sizeof(err)) < 0) {
        r = log_reopen();
        if (r < 0)
            log_error("SIGHUP: cannot reopen log file '%s': %s", cur->log_file, strerror(-r));
        log_error("SIGHUP: %s; keeping the running configuration", err);
        return;
    }
    /* The log first, so that what follows lands in the new file. */
    r = strcmp(next.log_file, cur->log_file) ? log_open_file(next.log_file) : log_reopen();
    if (r < 0) {
        log_error("SIGHUP: cannot open log file '%s': %s; still logging to '%s'", next.log_file,
                  strerror(-r), *cur->log_file ? cur->log_file : "stderr");
        snprintf(next.log_file, sizeof(next.log_file), "%s", cur->log_file);
    }
    for (size_t i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        if (config_equal(cur, &next, k))
            continue;
        config_format(cur, k, was, sizeof(was));
        config_format(&next, k, now, sizeof(now));
        if (k->reloadable) {
            log_info("SIGHUP: %s = %s (was %s)", k->name, now, was);
        } else {
            log_warn("SIGHUP: %s changed to %s in %s, which needs a restart; keeping %s", k->name,
                     now, cl->config_path, was);
            config_copy_key(&next, cur, k);
        }
    }
    *cur = next;
    if (config_live_set(cur) < 0)
        log_error("SIGHUP: out of memory; some components keep the old configuration");
    app->max_upload = cur->max_upload;
    struct server_config sc = server_limits(cur, NULL, 0);
    server_reconfigure(srv, &sc);
    store_set_capacity(app->store, cur->max_disk, cur->reserve);
    struct scrub_config scr = scrub_settings(cur);
    scrub_reconfigure(app->scrub, &scr);
    store_set_default_policy(app->store, has_policy ? &policy : NULL);
    log_set_level((enum log_level)cur->log_level);
    log_info("SIGHUP: configuration re-read from %s", cl->config_path);
}

int main(int argc, char **argv)
{
    struct cmdline cl = {0};
    struct config cfg;
    char host[256], err[CONFIG_ERR_MAX + PATH_MAX];
    uint16_t listen_port;
    struct app app = {0};
    struct server *srv = NULL;
    struct store_metrics *store_metrics = NULL;
    sigset_t sigs;
    uint16_t port;
    int lock_fd = -1, r, sig, status = 1;

    struct tls_creds *tls = NULL;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return token_command(argc, argv);
    if (argc > 1 && strcmp(argv[1], "backup") == 0)
        return backup_command(argc, argv);
    if (argc > 1 && strcmp(argv[1], "fsck") == 0)
        return fsck_command(argc, argv);
    r = parse_cmdline(argc, argv, &cl);
    if (r >= 0) {
        free(cl.set);
        return r;
    }
    if (build_config(&cl, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ckptd: %s\n", err);
        free(cl.set);
        return 2;
    }
    if (cl.check) {
        print_config(&cfg);
        free(cl.set);
        return 0;
    }
    /* Checked by config_set; cannot fail here. */
    (void)parse_listen(cfg.listen, host, sizeof(host), &listen_port);
    app.max_upload = cfg.max_upload;
    log_set_level((enum log_level)cfg.log_level);
    struct policy default_policy;
    bool has_default_policy = false;
    if (*cfg.default_policy) {
        if (load_policy_file(cfg.default_policy, &default_policy, err, sizeof(err)) < 0) {
            fprintf(stderr, "ckptd: %s\n", err);
            free(cl.set);
            return 2;
        }
        has_default_policy = true;
    }
    if (*cfg.tls_cert) {
        char tls_err[PATH_MAX + 256];
        if (!tls_supported()) {
            fprintf(stderr, "ckptd: this libmicrohttpd was built without TLS support: "
                            "tls-cert cannot be used (put a TLS proxy such as nginx in front)\n");
            free(cl.set);
            return 1;
        }
        if (tls_load(cfg.tls_cert, cfg.tls_key, &tls, tls_err, sizeof(tls_err)) < 0) {
            fprintf(stderr, "ckptd: %s\n", tls_err);
            free(cl.set);
            return 1;
        }
        if (tls->expired || tls->not_yet_valid)
            log_error("the certificate in '%s' is %s: clients will refuse it", cfg.tls_cert,
                      tls->expired ? "expired" : "not valid yet");
    }
    if (config_live_set(&cfg) < 0) {
        fprintf(stderr, "ckptd: out of memory\n");
        goto out;
    }

    /* Block the signals in every thread (threads inherit the mask) and
     * take them in one place, sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = blobstore_mkdirs(cfg.data);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot create data directory '%s': %s\n", cfg.data, strerror(-r));
        goto out;
    }
    lock_fd = lock_data_dir(cfg.data);
    if (lock_fd < 0)
        goto out;
    /* After the lock: a second ckptd refused above must not write into the
     * first one's log. Errors before this point go to the terminal. */
    r = log_open_file(cfg.log_file);
    if (r < 0) {
        fprintf(stderr, "ckptd: cannot open log file '%s': %s\n", cfg.log_file, strerror(-r));
        goto out;
    }
    r = store_open(cfg.data, event_threads(&cfg) + WORKER_READERS + 2, &app.store);
    if (r < 0) {
        log_startup_error("cannot open data directory '%s': %s", cfg.data, strerror(-r));
        goto out;
    }
    store_set_default_policy(app.store, has_default_policy ? &default_policy : NULL);
    r = watch_new(&app.watch);
    if (r < 0) {
        log_startup_error("cannot start the long-poll thread: %s", strerror(-r));
        goto out;
    }
    r = auth_new(app.store->index, &app.auth);
    if (r < 0) {
        log_startup_error("cannot set up authentication: %s", strerror(-r));
        goto out;
    }
    bool any_token = false;
    if (index_tokens_exist(app.store->index, &any_token) == 0 && !any_token && !cfg.insecure &&
        !is_loopback(host)) {
        log_startup_error(
            "refusing to listen on '%s' without authentication: anyone who can reach "
            "it could read and delete checkpoints.\nCreate a token first (ckptd token add NAME "
            "--role admin --data %s), listen on a loopback address, or pass --insecure.",
            host, cfg.data);
        goto out;
    }
    /* /metrics: the registry, the handlers' counters, the store's gauges. */
    r = metrics_new(CKPTD_VERSION, router_count(), router_patterns(), &app.metrics);
    if (r == 0) {
        app.digest_mismatches = metrics_counter(app.metrics, "ckptd_digest_mismatches_total",
                                                "Uploads refused because the SHA-256 of the "
                                                "received bytes differed from the one sent.");
        app.uploads_in_flight = metrics_gauge(app.metrics, "ckptd_uploads_in_flight",
                                              "Uploads between their headers and completion.");
        app.qcache_hits = metrics_counter(app.metrics, "ckptd_query_cache_hits_total",
                                          "/best, /latest and listing requests answered "
                                          "from the query cache.");
        app.qcache_misses = metrics_counter(app.metrics, "ckptd_query_cache_misses_total",
                                            "/best, /latest and listing requests that ran "
                                            "their query.");
        r = store_metrics_new(app.store, app.metrics, &store_metrics);
    }
    if (r < 0) {
        log_startup_error("cannot set up metrics: %s", strerror(-r));
        goto out;
    }
    store_set_capacity(app.store, cfg.max_disk, cfg.reserve);
    qcache_configure((unsigned)cfg.query_cache);
    struct scrub_config scrub_cfg = scrub_settings(&cfg);
    r = scrub_start(app.store, &scrub_cfg, &app.scrub);
    if (r == 0)
        r = scrub_register_metrics(app.scrub, app.metrics);
    if (r < 0) {
        log_startup_error("cannot start the scrub thread: %s", strerror(-r));
        goto out;
    }
    r = workq_new(COMMIT_THREADS, "ckptd-commit", &app.workq);
    if (r < 0) {
        log_startup_error("cannot start worker threads: %s", strerror(-r));
        goto out;
    }
    struct server_config scfg = server_limits(&cfg, host, listen_port);
    scfg.tls_cert_pem = tls ? tls->cert_pem : NULL;
    scfg.tls_key_pem = tls ? tls->key_pem : NULL;
    r = server_start(&app, &scfg, &srv, &port);
    if (r < 0) {
        log_startup_error("cannot listen on %s%s%s:%u", strchr(host, ':') ? "[" : "", host,
                          strchr(host, ':') ? "]" : "", listen_port);
        goto out;
    }
    /* Blobs missing or the wrong size (a crash, a disk fault, a person) are
     * flagged corrupt in the background: startup does not wait for a stat
     * of every blob, and serving checks the size of each blob it opens. */
    if (workq_submit(app.workq, recovery_scan, app.store) < 0)
        log_error("cannot start the recovery scan");
    printf("ckptd listening on %s://%s%s%s:%u data=%s\n", tls ? "https" : "http",
           strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, cfg.data);
    fflush(stdout);
    log_info("ckptd %s (pid %ld) listening on %s%s%s:%u, data %s%s%s, %u event threads",
             CKPTD_VERSION, (long)getpid(), strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port, cfg.data, cl.config_path ? ", config " : "",
             cl.config_path ? cl.config_path : "", event_threads(&cfg));

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        reload(&cl, &cfg, &app, srv);
    }
    log_info("received %s, stopping (in-flight requests get %llu s)",
             sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)cfg.shutdown_timeout);
    store_stop_scan(app.store); /* server_stop waits for the work queue */
    server_stop(srv, (unsigned)cfg.shutdown_timeout);
    srv = NULL;
    status = 0;
out:
    scrub_stop(app.scrub);
    workq_free(app.workq);
    watch_free(app.watch);
    auth_free(app.auth);
    store_metrics_free(store_metrics);
    metrics_free(app.metrics);
    store_close(app.store);
    if (lock_fd >= 0)
        close(lock_fd);
    config_live_free();
    free(cl.set);
    tls_free(tls);
    return status;
}
