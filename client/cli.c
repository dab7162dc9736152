/*
 * cli.c - the `ckpt` command: push, pull, ls, runs, show, rm, and the
 * lifecycle commands (policy, pin, unpin, alias, lease, watch) against a
 * ckptd server. Uses libckpt's public API only.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_USAGE = 1,     /* bad command line, or a local file problem */
    EXIT_REFUSED = 2,   /* the server refused (4xx) */
    EXIT_INTEGRITY = 3, /* a SHA-256 mismatch */
    EXIT_FAILURE_ = 4,  /* network or server failure after retries */
    EXIT_PRECONDITION = 5, /* --if-match / --create lost: the alias moved or exists */
};

static const char usage_text[] =
    "usage: ckpt [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Store and fetch training checkpoints on a ckptd server, with SHA-256\n"
    "verification end to end.\n"
    "\n"
    "commands:\n"
    "  push RUN FILE [--epoch N] [--step N] [--loss X] [--metric NAME=VALUE]...\n"
    "                [--header-digest]\n"
    "        upload FILE (- reads standard input) as a checkpoint of RUN, in one\n"
    "        pass with the SHA-256 in a trailer; --header-digest (or\n"
    "        CKPT_HEADER_DIGEST=1) hashes FILE first and sends it in a header, for\n"
    "        proxies that drop trailers (found out by itself, at the cost of a\n"
    "        second upload)\n"
    "  pull ID [-o FILE]\n"
    "  pull RUN --best [--metric NAME] [--max] [-o FILE]\n"
    "  pull RUN --latest [-o FILE]\n"
    "        download a checkpoint; FILE (-o, --output) defaults to RUN-ID.ckpt,\n"
    "        - writes to standard output. The file appears only once its SHA-256\n"
    "        matched. --min (the default) and --max choose the --best direction.\n"
    "  ls RUN [--order-by created|epoch|step|loss|metric.NAME] [--desc] [--limit N]\n"
    "        list a run's checkpoints\n"
    "  runs  list the runs\n"
    "  show ID\n"
    "        show one checkpoint's metadata\n"
    "  rm ID delete a checkpoint\n"
    "\n"
    "lifecycle commands:\n"
    "  pull RUN --alias NAME [-o FILE]\n"
    "  pull RUN --resume [-o FILE]\n"
    "        download what alias NAME points at, or the newest checkpoint that is\n"
    "        not corrupt (where to restart from)\n"
    "  pin ID / unpin ID\n"
    "        keep checkpoint ID whatever the retention policy / stop doing so\n"
    "  alias set RUN NAME ID [--if-match ID | --create]\n"
    "        point alias NAME of RUN at checkpoint ID; --if-match only if it points\n"
    "        at that id now, --create only if it does not exist (else exit 5)\n"
    "  alias get RUN NAME | alias delete RUN NAME [--if-match ID] | alias list RUN\n"
    "        show, delete or list aliases (latest, best and resume are computed)\n"
    "  policy set RUN [--keep-last N] [--keep-best METRIC:min|max:K]...\n"
    "                 [--keep-every epoch|step:N] [--keep-within DURATION]\n"
    "        set RUN's retention policy (a checkpoint is kept if any rule keeps it;\n"
    "        DURATION is <integer>s|m|h|d) and apply it at once\n"
    "  policy get RUN | policy delete RUN | policy plan RUN\n"
    "        show or drop the policy; plan shows what it keeps and drops, and why\n"
    "  lease ID [--ttl SECONDS]\n"
    "        take a reader lease: retention keeps ID until it expires (default 600 s)\n"
    "  lease release LEASE\n"
    "        release a lease early\n"
    "  watch RUN [--after ID]\n"
    "        print each new checkpoint of RUN as it is committed, one line each\n"
    "        (JSON lines with --json), until interrupted (Ctrl-C exits 0);\n"
    "        --after ID starts after ID instead of after the newest\n"
    "\n"
    "global options:\n"
    "  --url URL      server (default $CKPT_URL, else http://127.0.0.1:8420)\n"
    "  --token TOKEN  bearer token (default $CKPT_TOKEN)\n"
    "  --cacert FILE  CA certificates for https (default $CKPT_CACERT, else the\n"
    "                 system's)\n"
    "  --json         print listings and metadata as JSON\n"
    "  -q, --quiet    no progress bar\n"
    "  --retries N    retries after network or server failures (default 5)\n"
    "  -h, --help     show this help\n"
    "  -V, --version  show the version\n"
    "\n"
    "Global options may also follow the command; -- ends option parsing.\n"
    "A progress bar goes to standard error when it is a terminal.\n"
    "\n"
    "exit status:\n"
    "  0  success\n"
    "  1  usage error, or a local file could not be read or written\n"
    "  2  the server refused the request (for example: no such checkpoint)\n"
    "  3  integrity failure: SHA-256 mismatch; nothing was stored, no file was\n"
    "     written (with -o -, discard what was already written to the output)\n"
    "  4  network or server failure, after retries\n"
    "  5  precondition failed: alias --if-match/--create lost to another change\n";

struct cli {
    ckpt_client *client;
    bool json, quiet;
    /* progress bar state */
    bool bar;
    struct timespec start, last;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("ckpt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'ckpt --help'.\n", stderr);
}

static int exit_for(ckpt_err e)
{
    switch (e) {
    case CKPT_OK: return EXIT_OK;
    case CKPT_E_INVALID_ARG:
    case CKPT_E_IO:
    case CKPT_E_NOMEM:
    case CKPT_E_ABORTED: return EXIT_USAGE;
    case CKPT_E_NOT_FOUND:
    case CKPT_E_REFUSED:
    case CKPT_E_AUTH: return EXIT_REFUSED;
    case CKPT_E_INTEGRITY: return EXIT_INTEGRITY;
    case CKPT_E_NETWORK:
    case CKPT_E_SERVER:
    case CKPT_E_PROTOCOL: return EXIT_FAILURE_;
    case CKPT_E_PRECONDITION: return EXIT_PRECONDITION;
    }
    return EXIT_FAILURE_;
}

/* Report a failed call the way the user reads it:
 * "ckpt: push failed: digest_mismatch: ...". */
static int report(struct cli *cli, const char *what, ckpt_err e)
{
    const char *detail = ckpt_client_last_error(cli->client);
    if (cli->bar)
        fputc('\n', stderr);
    fprintf(stderr, "ckpt: %s failed: %s\n", what, *detail ? detail : ckpt_strerror(e));
    if (e == CKPT_E_NETWORK && strstr(detail, "TLS certificate"))
        fprintf(stderr, "ckpt: if the server's certificate comes from a private CA, pass that "
                        "CA's certificate with --cacert FILE or CKPT_CACERT=FILE\n");
    return exit_for(e);
}

/* ---- numbers and formatting ---------------------------------------------- */

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s || *s == ' ')
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static void human_size(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    unsigned u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%" PRIu64 " B", n);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* "2026-11-29T04:03:39.123Z" in local time, "2026-11-29 05:03:39". */
static void local_time(const char *rfc3339, char *buf, size_t size)
{
    struct tm tm = {0};
    if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(buf, size, "%s", rfc3339 ? rfc3339 : "-");
        return;
    }
    time_t t = timegm(&tm);
    struct tm lt;
    localtime_r(&t, &lt);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &lt);
}

/* A JSON string; names and timestamps from the server are plain ASCII, but
 * escape anyway so the output is valid JSON whatever comes. */
static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_number(double v)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, stdout);
}

static void print_info_json_with(const ckpt_info *in, const char *extra);

static void print_info_json(const ckpt_info *in)
{
    print_info_json_with(in, "");
}

/* The checkpoint as JSON, with extra (",\"name\":value" members) before the
 * closing brace: what a command knows beyond ckpt_info. */
static void print_info_json_with(const ckpt_info *in, const char *extra)
{
    printf("{\"id\":%" PRId64 ",\"run\":", in->id);
    json_string(in->run);
    fputs(",\"epoch\":", stdout);
    if (in->has_epoch)
        printf("%" PRId64, in->epoch);
    else
        fputs("null", stdout);
    fputs(",\"step\":", stdout);
    if (in->has_step)
        printf("%" PRId64, in->step);
    else
        fputs("null", stdout);
    fputs(",\"loss\":", stdout);
    if (in->has_loss)
        json_number(in->loss);
    else
        fputs("null", stdout);
    fputs(",\"metrics\":{", stdout);
    for (size_t i = 0; i < in->n_metrics; i++) {
        if (i)
            putchar(',');
        json_string(in->metrics[i].name);
        putchar(':');
        json_number(in->metrics[i].value);
    }
    printf("},\"size\":%" PRIu64 ",\"sha256\":", in->size);
    json_string(in->sha256);
    fputs(",\"created_at\":", stdout);
    json_string(in->created_at);
    fputs(in->corrupt ? ",\"corrupt\":true" : ",\"corrupt\":false", stdout);
    fputs(extra, stdout);
    putchar('}');
}

static void print_info_human(const ckpt_info *in)
{
    char size[32], when[64];
    human_size(in->size, size, sizeof(size));
    local_time(in->created_at, when, sizeof(when));
    printf("id:         %" PRId64 "\n", in->id);
    printf("run:        %s\n", in->run);
    if (in->has_epoch)
        printf("epoch:      %" PRId64 "\n", in->epoch);
    if (in->has_step)
        printf("step:       %" PRId64 "\n", in->step);
    if (in->has_loss)
        printf("loss:       %.6g\n", in->loss);
    for (size_t i = 0; i < in->n_metrics; i++)
        printf("%s:%*s%.6g\n", in->metrics[i].name,
               (int)(strlen(in->metrics[i].name) < 11 ? 11 - strlen(in->metrics[i].name) : 1), "",
               in->metrics[i].value);
    printf("size:       %s (%" PRIu64 " bytes)\n", size, in->size);
    printf("sha256:     %s\n", in->sha256);
    printf("created:    %s\n", when);
    if (in->corrupt)
        printf("corrupt:    yes (the server will not serve its bytes)\n");
}

/* ---- progress ------------------------------------------------------------ */

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct cli *cli = ud;
    struct timespec now;
    char d[32], t[32], rate[32], eta[32] = "";

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (cli->bar && seconds_between(&cli->last, &now) < 0.2 && done != total)
        return 0;
    cli->bar = true;
    cli->last = now;
    double secs = seconds_between(&cli->start, &now);
    double bps = secs > 0 ? (double)done / secs : 0;
    human_size(done, d, sizeof(d));
    human_size((uint64_t)bps, rate, sizeof(rate));
    if (total) {
        human_size(total, t, sizeof(t));
        if (bps > 0 && total > done)
            snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(total - done) / bps);
        int pct = (int)(100.0 * (double)done / (double)total);
        int width = 30, fill = pct * width / 100;
        fprintf(stderr, "\r[%.*s%*s] %3d%% %s / %s  %s/s%s   ", fill,
                "##############################", width - fill, "", pct, d, t, rate, eta);
    } else {
        fprintf(stderr, "\r%s  %s/s   ", d, rate);
    }
    return 0;
}

static void progress_begin(struct cli *cli)
{
    if (cli->quiet || !isatty(STDERR_FILENO))
        return;
    clock_gettime(CLOCK_MONOTONIC, &cli->start);
    cli->last = cli->start;
    cli->bar = false;
    ckpt_client_set_progress(cli->client, on_progress, cli);
}

static void progress_end(struct cli *cli)
{
    if (cli->bar)
        fputc('\n', stderr);
    cli->bar = false;
    ckpt_client_set_progress(cli->client, NULL, NULL);
}

/* ---- commands ------------------------------------------------------------ */

static size_t read_stdin(void *ud, char *buf, size_t len)
{
    (void)ud;
    size_t n = fread(buf, 1, len, stdin);
    if (n == 0 && ferror(stdin))
        return CKPT_READ_ABORT;
    return n;
}

static int cmd_push(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"epoch", required_argument, NULL, 'e'}, {"step", required_argument, NULL, 's'},
        {"loss", required_argument, NULL, 'l'},  {"metric", required_argument, NULL, 'm'},
        {"header-digest", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
    };
    const char *env = getenv("CKPT_HEADER_DIGEST");
    bool header_digest = env && *env && strcmp(env, "0") != 0;
    ckpt_meta meta = {0};
    ckpt_metric metrics[64];
    char names[64][129];
    ckpt_info *info = NULL;
    ckpt_err e;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (!parse_i64(optarg, &meta.epoch))
                return usage_error("--epoch needs a non-negative integer, not '%s'", optarg), EXIT_USAGE;
            meta.has_epoch = 1;
            break;
        case 's':
            if (!parse_i64(optarg, &meta.step))
                return usage_error("--step needs a non-negative integer, not '%s'", optarg), EXIT_USAGE;
            meta.has_step = 1;
            break;
        case 'l':
            if (!parse_double(optarg, &meta.loss))
                return usage_error("--loss needs a finite number, not '%s'", optarg), EXIT_USAGE;
            meta.has_loss = 1;
            break;
        case 'm': {
            const char *eq = strchr(optarg, '=');
            size_t n = meta.n_metrics;
            if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(names[0]))
                return usage_error("--metric needs NAME=VALUE, not '%s'", optarg), EXIT_USAGE;
            if (n == 64)
                return usage_error("at most 64 metrics"), EXIT_USAGE;
            memcpy(names[n], optarg, (size_t)(eq - optarg));
            names[n][eq - optarg] = '\0';
            if (!parse_double(eq + 1, &metrics[n].value))
                return usage_error("--metric %s needs a finite number", names[n]), EXIT_USAGE;
            metrics[n].name = names[n];
            meta.n_metrics++;
            break;
        }
        case 'H': header_digest = true; break;
        default:
            return usage_error("push: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return usage_error("usage: ckpt push RUN FILE [--epoch N] [--step N] [--loss X] "
                           "[--metric NAME=VALUE]... [--header-digest]"),
               EXIT_USAGE;
    meta.run = argv[optind];
    meta.metrics = metrics;
    const char *file = argv[optind + 1];
    if (header_digest)
        ckpt_client_set_header_digest(cli->client, 1);
    progress_begin(cli);
    if (strcmp(file, "-") == 0)
        e = ckpt_push_stream(cli->client, &meta, read_stdin, NULL, &info);
    else
        e = ckpt_push_file(cli->client, &meta, file, &info);
    progress_end(cli);
    if (e != CKPT_OK)
        return report(cli, "push", e);
    if (cli->json) {
        print_info_json(info);
        putchar('\n');
    } else if (!cli->quiet) {
        char size[32];
        human_size(info->size, size, sizeof(size));
        printf("pushed checkpoint %" PRId64 " of run %s (%s, sha256 %.12s)\n", info->id, info->run,
               size, info->sha256);
    }
    ckpt_info_free(info);
    return EXIT_OK;
}

/* ID, or RUN with --best/--latest/--alias/--resume, into a ref. */
static bool parse_ref(const char *arg, bool best, bool latest, const char *alias, bool resume,
                      const char *metric, bool max, bool min_given, ckpt_ref *ref)
{
    int64_t id;
    if ((int)best + (int)latest + (alias != NULL) + (int)resume > 1) {
        usage_error("--best, --latest, --alias and --resume exclude each other");
        return false;
    }
    if (best) {
        *ref = ckpt_ref_best(arg, metric, max);
    } else if (latest) {
        *ref = ckpt_ref_latest(arg);
    } else if (alias) {
        *ref = ckpt_ref_alias(arg, alias);
    } else if (resume) {
        *ref = ckpt_ref_resume(arg);
    } else if (parse_i64(arg, &id) && id > 0) {
        *ref = ckpt_ref_id(id);
    } else {
        usage_error("'%s' is not a checkpoint id; for a run, add --best, --latest, --alias NAME "
                    "or --resume", arg);
        return false;
    }
    if ((metric || max || min_given) && !best) {
        usage_error("--metric, --min and --max go with --best");
        return false;
    }
    return true;
}

static int cmd_pull(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"best", no_argument, NULL, 'b'},         {"latest", no_argument, NULL, 'L'},
        {"metric", required_argument, NULL, 'm'}, {"max", no_argument, NULL, 'x'},
        {"min", no_argument, NULL, 'n'},          {"output", required_argument, NULL, 'o'},
        {"alias", required_argument, NULL, 'a'},  {"resume", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    bool best = false, latest = false, max = false, min_given = false, resume = false;
    const char *metric = NULL, *out = NULL, *alias = NULL;
    char path[300];
    ckpt_info *info = NULL;
    ckpt_ref ref;
    ckpt_err e;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': best = true; break;
        case 'L': latest = true; break;
        case 'm': metric = optarg; break;
        case 'x': max = true; break;
        case 'n':
            max = false;
            min_given = true;
            break;
        case 'o': out = optarg; break;
        case 'a': alias = optarg; break;
        case 'R': resume = true; break;
        default: return usage_error("pull: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return usage_error("usage: ckpt pull ID | RUN --best [--metric NAME] [--max] | RUN --latest "
                           "| RUN --alias NAME | RUN --resume [-o FILE]"),
               EXIT_USAGE;
    if (!parse_ref(argv[optind], best, latest, alias, resume, metric, max, min_given, &ref))
        return EXIT_USAGE;

    /* Resolve to one checkpoint first: it names the default file, and the
     * bytes fetched are then those of exactly that checkpoint. */
    e = ckpt_get(cli->client, &ref, &info);
    if (e != CKPT_OK)
        return report(cli, "pull", e);
    ref = ckpt_ref_id(info->id);
    if (!out) {
        snprintf(path, sizeof(path), "%s-%" PRId64 ".ckpt", info->run, info->id);
        out = path;
    }
    ckpt_info_free(info);
    info = NULL;
    progress_begin(cli);
    if (strcmp(out, "-") == 0)
        e = ckpt_pull_fd(cli->client, &ref, STDOUT_FILENO, &info);
    else
        e = ckpt_pull_file(cli->client, &ref, out, &info);
    progress_end(cli);
    if (e != CKPT_OK)
        return report(cli, "pull", e);
    if (cli->json && strcmp(out, "-") != 0) {
        print_info_json(info);
        putchar('\n');
    } else if (strcmp(out, "-") != 0 && !cli->quiet) {
        char size[32];
        human_size(info->size, size, sizeof(size));
        fprintf(stderr, "pulled checkpoint %" PRId64 " of run %s to %s (%s, sha256 verified)\n",
                info->id, info->run, out, size);
    }
    ckpt_info_free(info);
    return EXIT_OK;
}

static int cmd_ls(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"order-by", required_argument, NULL, 'O'}, {"desc", no_argument, NULL, 'd'},
        {"limit", required_argument, NULL, 'n'},    {NULL, 0, NULL, 0},
    };
    ckpt_list_opts lo = {0};
    ckpt_list *list = NULL;
    int64_t limit;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'O': lo.order_by = optarg; break;
        case 'd': lo.desc = 1; break;
        case 'n':
            if (!parse_i64(optarg, &limit) || limit < 1)
                return usage_error("--limit needs a positive integer"), EXIT_USAGE;
            lo.limit = (size_t)limit;
            break;
        default: return usage_error("ls: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return usage_error("usage: ckpt ls RUN [--order-by FIELD] [--desc] [--limit N]"), EXIT_USAGE;
    lo.run = argv[optind];
    ckpt_err e = ckpt_list_checkpoints(cli->client, &lo, &list);
    if (e != CKPT_OK)
        return report(cli, "ls", e);
    if (cli->json) {
        putchar('[');
        for (size_t i = 0; i < list->count; i++) {
            if (i)
                putchar(',');
            print_info_json(&list->items[i]);
        }
        puts("]");
    } else {
        printf("%8s %8s %10s %12s %10s  %-19s  %-12s  %s\n", "ID", "EPOCH", "STEP", "LOSS", "SIZE",
               "CREATED", "SHA256", "METRICS");
        for (size_t i = 0; i < list->count; i++) {
            const ckpt_info *in = &list->items[i];
            char epoch[24] = "-", step[24] = "-", loss[32] = "-", size[32], when[64];
            if (in->has_epoch)
                snprintf(epoch, sizeof(epoch), "%" PRId64, in->epoch);
            if (in->has_step)
                snprintf(step, sizeof(step), "%" PRId64, in->step);
            if (in->has_loss)
                snprintf(loss, sizeof(loss), "%.6g", in->loss);
            human_size(in->size, size, sizeof(size));
            local_time(in->created_at, when, sizeof(when));
            printf("%8" PRId64 " %8s %10s %12s %10s  %-19s  %.12s ", in->id, epoch, step, loss,
                   size, when, in->corrupt ? "CORRUPT     " : in->sha256);
            for (size_t m = 0; m < in->n_metrics; m++)
                printf(" %s=%.6g", in->metrics[m].name, in->metrics[m].value);
            putchar('\n');
        }
    }
    ckpt_list_free(list);
    return EXIT_OK;
}

static int cmd_runs(struct cli *cli, int argc, char **argv)
{
    ckpt_run_list *runs = NULL;
    (void)argv;
    if (argc != 1)
        return usage_error("usage: ckpt runs"), EXIT_USAGE;
    ckpt_err e = ckpt_runs(cli->client, &runs);
    if (e != CKPT_OK)
        return report(cli, "runs", e);
    if (cli->json) {
        putchar('[');
        for (size_t i = 0; i < runs->count; i++) {
            const ckpt_run_info *r = &runs->items[i];
            if (i)
                putchar(',');
            fputs("{\"run\":", stdout);
            json_string(r->run);
            printf(",\"checkpoints\":%" PRId64 ",\"bytes\":%" PRIu64 ",\"best_loss\":",
                   r->checkpoints, r->bytes);
            if (r->has_best_loss)
                json_number(r->best_loss);
            else
                fputs("null", stdout);
            fputs(",\"latest_epoch\":", stdout);
            if (r->has_latest_epoch)
                printf("%" PRId64, r->latest_epoch);
            else
                fputs("null", stdout);
            fputs(",\"updated_at\":", stdout);
            json_string(r->updated_at);
            putchar('}');
        }
        puts("]");
    } else {
        printf("%-32s %11s %10s %12s %12s  %s\n", "RUN", "CHECKPOINTS", "SIZE", "BEST LOSS",
               "LATEST EPOCH", "UPDATED");
        for (size_t i = 0; i < runs->count; i++) {
            const ckpt_run_info *r = &runs->items[i];
            char size[32], best[32] = "-", epoch[24] = "-", when[64];
            human_size(r->bytes, size, sizeof(size));
            if (r->has_best_loss)
                snprintf(best, sizeof(best), "%.6g", r->best_loss);
            if (r->has_latest_epoch)
                snprintf(epoch, sizeof(epoch), "%" PRId64, r->latest_epoch);
            local_time(r->updated_at, when, sizeof(when));
            printf("%-32s %11" PRId64 " %10s %12s %12s  %s\n", r->run, r->checkpoints, size, best,
                   epoch, when);
        }
    }
    ckpt_run_list_free(runs);
    return EXIT_OK;
}

static int parse_id_arg(int argc, char **argv, const char *usage, int64_t *id)
{
    if (argc != 2)
        return usage_error("usage: %s", usage), EXIT_USAGE;
    if (!parse_i64(argv[1], id) || *id <= 0)
        return usage_error("'%s' is not a checkpoint id", argv[1]), EXIT_USAGE;
    return EXIT_OK;
}

static int cmd_show(struct cli *cli, int argc, char **argv)
{
    int64_t id;
    ckpt_info *info = NULL;
    int r = parse_id_arg(argc, argv, "ckpt show ID", &id);
    if (r != EXIT_OK)
        return r;
    ckpt_ref ref = ckpt_ref_id(id);
    ckpt_err e = ckpt_get(cli->client, &ref, &info);
    if (e != CKPT_OK)
        return report(cli, "show", e);
    if (cli->json) {
        print_info_json(info);
        putchar('\n');
    } else {
        print_info_human(info);
    }
    ckpt_info_free(info);
    return EXIT_OK;
}

static int cmd_rm(struct cli *cli, int argc, char **argv)
{
    int64_t id;
    int r = parse_id_arg(argc, argv, "ckpt rm ID", &id);
    if (r != EXIT_OK)
        return r;
    ckpt_err e = ckpt_delete(cli->client, id);
    if (e != CKPT_OK)
        return report(cli, "rm", e);
    if (cli->json)
        printf("{\"deleted\":%" PRId64 "}\n", id);
    else if (!cli->quiet)
        printf("deleted checkpoint %" PRId64 "\n", id);
    return EXIT_OK;
}

/* ---- lifecycle commands -------------------------------------------------- */

/* ID argument i of argv, or a usage error. */
static bool id_arg(const char *s, int64_t *id)
{
    if (!parse_i64(s, id) || *id <= 0) {
        usage_error("'%s' is not a checkpoint id", s);
        return false;
    }
    return true;
}

static int cmd_pin_op(struct cli *cli, int argc, char **argv, bool pin)
{
    int64_t id;
    ckpt_info *info = NULL;
    int r = parse_id_arg(argc, argv, pin ? "ckpt pin ID" : "ckpt unpin ID", &id);
    if (r != EXIT_OK)
        return r;
    ckpt_err e = pin ? ckpt_pin(cli->client, id, &info) : ckpt_unpin(cli->client, id, &info);
    if (e != CKPT_OK)
        return report(cli, pin ? "pin" : "unpin", e);
    if (cli->json) {
        print_info_json_with(info, pin ? ",\"pinned\":true" : ",\"pinned\":false");
        putchar('\n');
    } else if (!cli->quiet) {
        printf("%s checkpoint %" PRId64 " of run %s\n", pin ? "pinned" : "unpinned", info->id,
               info->run);
    }
    ckpt_info_free(info);
    return EXIT_OK;
}

static int cmd_pin(struct cli *cli, int argc, char **argv)
{
    return cmd_pin_op(cli, argc, argv, true);
}

static int cmd_unpin(struct cli *cli, int argc, char **argv)
{
    return cmd_pin_op(cli, argc, argv, false);
}

static const char alias_usage[] =
    "usage: ckpt alias set RUN NAME ID [--if-match ID | --create] | alias get RUN NAME | "
    "alias delete RUN NAME [--if-match ID] | alias list RUN";

static int cmd_alias(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"if-match", required_argument, NULL, 'i'},
        {"create", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int64_t if_match = CKPT_ALIAS_ANY, id = 0, previous = 0;
    bool create = false, has_match = false;
    ckpt_err e;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (!id_arg(optarg, &if_match))
                return EXIT_USAGE;
            has_match = true;
            break;
        case 'c': create = true; break;
        default: return usage_error("alias: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    int n = argc - optind;
    char **a = argv + optind;
    const char *sub = n > 0 ? a[0] : "";
    if (has_match && create)
        return usage_error("--if-match and --create exclude each other"), EXIT_USAGE;
    if ((create && strcmp(sub, "set") != 0) ||
        (has_match && strcmp(sub, "set") != 0 && strcmp(sub, "delete") != 0))
        return usage_error("--if-match goes with alias set or delete, --create with set"),
               EXIT_USAGE;

    if (strcmp(sub, "set") == 0 && n == 4) {
        if (!id_arg(a[3], &id))
            return EXIT_USAGE;
        e = ckpt_alias_set(cli->client, a[1], a[2], id, create ? CKPT_ALIAS_CREATE : if_match,
                           &previous);
        if (e == CKPT_E_PRECONDITION) {
            report(cli, "alias set", e);
            if (create)
                fprintf(stderr, "ckpt: alias '%s' of run %s already exists (--create)\n", a[2],
                        a[1]);
            else
                fprintf(stderr, "ckpt: alias '%s' of run %s no longer points at %" PRId64
                        " (--if-match): someone else moved it; nothing was changed\n",
                        a[2], a[1], if_match);
            return EXIT_PRECONDITION;
        }
        if (e != CKPT_OK)
            return report(cli, "alias set", e);
        if (cli->json) {
            fputs("{\"run\":", stdout);
            json_string(a[1]);
            fputs(",\"name\":", stdout);
            json_string(a[2]);
            printf(",\"id\":%" PRId64 ",\"previous\":", id);
            if (previous)
                printf("%" PRId64 "}\n", previous);
            else
                puts("null}");
        } else if (!cli->quiet) {
            if (previous)
                printf("alias %s of run %s -> checkpoint %" PRId64 " (was %" PRId64 ")\n", a[2],
                       a[1], id, previous);
            else
                printf("alias %s of run %s -> checkpoint %" PRId64 " (new)\n", a[2], a[1], id);
        }
        return EXIT_OK;
    }
    if (strcmp(sub, "get") == 0 && n == 3) {
        ckpt_ref ref = ckpt_ref_alias(a[1], a[2]);
        ckpt_info *info = NULL;
        e = ckpt_get(cli->client, &ref, &info);
        if (e != CKPT_OK)
            return report(cli, "alias get", e);
        if (cli->json) {
            print_info_json(info);
            putchar('\n');
        } else {
            print_info_human(info);
        }
        ckpt_info_free(info);
        return EXIT_OK;
    }
    if (strcmp(sub, "delete") == 0 && n == 3) {
        e = ckpt_alias_delete(cli->client, a[1], a[2], if_match);
        if (e == CKPT_E_PRECONDITION) {
            report(cli, "alias delete", e);
            fprintf(stderr, "ckpt: alias '%s' of run %s no longer points at %" PRId64
                    " (--if-match); nothing was deleted\n", a[2], a[1], if_match);
            return EXIT_PRECONDITION;
        }
        if (e != CKPT_OK)
            return report(cli, "alias delete", e);
        if (cli->json) {
            fputs("{\"run\":", stdout);
            json_string(a[1]);
            fputs(",\"deleted\":", stdout);
            json_string(a[2]);
            puts("}");
        } else if (!cli->quiet) {
            printf("deleted alias %s of run %s\n", a[2], a[1]);
        }
        return EXIT_OK;
    }
    if (strcmp(sub, "list") == 0 && n == 2) {
        ckpt_alias_list *list = NULL;
        e = ckpt_aliases(cli->client, a[1], &list);
        if (e != CKPT_OK)
            return report(cli, "alias list", e);
        if (cli->json) {
            putchar('[');
            for (size_t i = 0; i < list->count; i++) {
                const ckpt_alias *al = &list->items[i];
                fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
                json_string(al->name);
                printf(",\"id\":%" PRId64 ",\"computed\":%s,\"updated_at\":", al->id,
                       al->computed ? "true" : "false");
                if (al->updated_at)
                    json_string(al->updated_at);
                else
                    fputs("null", stdout);
                putchar('}');
            }
            puts("]");
        } else {
            printf("%-32s %10s  %-8s  %s\n", "NAME", "ID", "KIND", "UPDATED");
            for (size_t i = 0; i < list->count; i++) {
                const ckpt_alias *al = &list->items[i];
                char when[64] = "-";
                if (al->updated_at)
                    local_time(al->updated_at, when, sizeof(when));
                printf("%-32s %10" PRId64 "  %-8s  %s\n", al->name, al->id,
                       al->computed ? "computed" : "user", when);
            }
        }
        ckpt_alias_list_free(list);
        return EXIT_OK;
    }
    return usage_error("%s", alias_usage), EXIT_USAGE;
}

/* "loss:min:3" into a keep_best rule; name points into spec's copy buf. */
static bool parse_keep_best(const char *spec, char *buf, size_t size, ckpt_keep_best *rule)
{
    char *mode, *k;
    int64_t kv;

    if (strlen(spec) >= size)
        return false;
    memcpy(buf, spec, strlen(spec) + 1);
    if (!(mode = strchr(buf, ':')) || !(k = strchr(mode + 1, ':')))
        return false;
    *mode++ = '\0';
    *k++ = '\0';
    if (!*buf || (strcmp(mode, "min") != 0 && strcmp(mode, "max") != 0) || !parse_i64(k, &kv) ||
        kv < 1)
        return false;
    rule->metric = buf;
    rule->maximize = strcmp(mode, "max") == 0;
    rule->k = kv;
    return true;
}

static void print_policy_json(const ckpt_policy *p)
{
    const char *sep = "";
    putchar('{');
    if (p->keep_last) {
        printf("\"keep_last\":%" PRId64, p->keep_last);
        sep = ",";
    }
    if (p->n_keep_best) {
        printf("%s\"keep_best\":[", sep);
        for (size_t i = 0; i < p->n_keep_best; i++) {
            fputs(i ? ",{\"metric\":" : "{\"metric\":", stdout);
            json_string(p->keep_best[i].metric);
            printf(",\"mode\":\"%s\",\"k\":%" PRId64 "}", p->keep_best[i].maximize ? "max" : "min",
                   p->keep_best[i].k);
        }
        putchar(']');
        sep = ",";
    }
    if (p->keep_every_field) {
        printf("%s\"keep_every\":{\"field\":", sep);
        json_string(p->keep_every_field);
        printf(",\"n\":%" PRId64 "}", p->keep_every_n);
        sep = ",";
    }
    if (p->keep_within) {
        printf("%s\"keep_within\":", sep);
        json_string(p->keep_within);
    }
    putchar('}');
}

static void print_policy_human(const ckpt_policy *p)
{
    if (p->keep_last)
        printf("keep-last:   %" PRId64 "\n", p->keep_last);
    for (size_t i = 0; i < p->n_keep_best; i++)
        printf("keep-best:   %s:%s:%" PRId64 "\n", p->keep_best[i].metric,
               p->keep_best[i].maximize ? "max" : "min", p->keep_best[i].k);
    if (p->keep_every_field)
        printf("keep-every:  %s:%" PRId64 "\n", p->keep_every_field, p->keep_every_n);
    if (p->keep_within)
        printf("keep-within: %s\n", p->keep_within);
}

#define CLI_MAX_KEEP_BEST 32

static int policy_set(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"keep-last", required_argument, NULL, 'l'},   {"keep-best", required_argument, NULL, 'b'},
        {"keep-every", required_argument, NULL, 'e'},  {"keep-within", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    ckpt_keep_best best[CLI_MAX_KEEP_BEST];
    char names[CLI_MAX_KEEP_BEST][160], every[16];
    ckpt_policy p = {.keep_best = best};
    int64_t *dropped = NULL;
    size_t n_dropped = 0;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!parse_i64(optarg, &p.keep_last) || p.keep_last < 1)
                return usage_error("--keep-last needs a positive integer, not '%s'", optarg),
                       EXIT_USAGE;
            break;
        case 'b':
            if (p.n_keep_best == CLI_MAX_KEEP_BEST)
                return usage_error("at most %d --keep-best", CLI_MAX_KEEP_BEST), EXIT_USAGE;
            if (!parse_keep_best(optarg, names[p.n_keep_best], sizeof(names[0]),
                                 &best[p.n_keep_best]))
                return usage_error("--keep-best needs METRIC:min|max:K, not '%s'", optarg),
                       EXIT_USAGE;
            p.n_keep_best++;
            break;
        case 'e': {
            const char *colon = strchr(optarg, ':');
            size_t flen = colon ? (size_t)(colon - optarg) : 0;
            if (!colon || flen >= sizeof(every) || !parse_i64(colon + 1, &p.keep_every_n) ||
                p.keep_every_n < 1)
                return usage_error("--keep-every needs epoch:N or step:N, not '%s'", optarg),
                       EXIT_USAGE;
            memcpy(every, optarg, flen);
            every[flen] = '\0';
            if (strcmp(every, "epoch") != 0 && strcmp(every, "step") != 0)
                return usage_error("--keep-every needs epoch:N or step:N, not '%s'", optarg),
                       EXIT_USAGE;
            p.keep_every_field = every;
            break;
        }
        case 'w': p.keep_within = optarg; break;
        default: return usage_error("policy set: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return usage_error("usage: ckpt policy set RUN [--keep-last N] [--keep-best "
                           "METRIC:min|max:K]... [--keep-every epoch|step:N] [--keep-within DUR]"),
               EXIT_USAGE;
    const char *run = argv[optind + 1];
    if (!p.keep_last && !p.n_keep_best && !p.keep_every_field && !p.keep_within)
        return usage_error("policy set needs at least one --keep-* rule"), EXIT_USAGE;
    ckpt_err e = ckpt_policy_set(cli->client, run, &p, &dropped, &n_dropped);
    if (e != CKPT_OK)
        return report(cli, "policy set", e);
    if (cli->json) {
        fputs("{\"run\":", stdout);
        json_string(run);
        fputs(",\"policy\":", stdout);
        print_policy_json(&p);
        fputs(",\"dropped\":[", stdout);
        for (size_t i = 0; i < n_dropped; i++)
            printf(i ? ",%" PRId64 : "%" PRId64, dropped[i]);
        puts("]}");
    } else if (!cli->quiet) {
        printf("policy of run %s set; dropped %zu checkpoint%s", run, n_dropped,
               n_dropped == 1 ? "" : "s");
        for (size_t i = 0; i < n_dropped; i++)
            printf("%s%" PRId64, i ? " " : ": ", dropped[i]);
        putchar('\n');
    }
    free(dropped);
    return EXIT_OK;
}

static int cmd_policy(struct cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    ckpt_err e;

    if (strcmp(sub, "set") == 0)
        return policy_set(cli, argc, argv);
    if (argc != 3 || (strcmp(sub, "get") != 0 && strcmp(sub, "delete") != 0 &&
                      strcmp(sub, "plan") != 0))
        return usage_error("usage: ckpt policy set RUN [--keep-* ...] | policy get RUN | "
                           "policy delete RUN | policy plan RUN"),
               EXIT_USAGE;
    const char *run = argv[2];
    if (strcmp(sub, "get") == 0) {
        ckpt_policy *p = NULL;
        int from_default = 0;
        if ((e = ckpt_policy_get(cli->client, run, &p, &from_default)) != CKPT_OK)
            return report(cli, "policy get", e);
        const char *source = !p ? "none" : from_default ? "default" : "run";
        if (cli->json) {
            fputs("{\"run\":", stdout);
            json_string(run);
            fputs(",\"policy\":", stdout);
            if (p)
                print_policy_json(p);
            else
                fputs("null", stdout);
            printf(",\"source\":\"%s\"}\n", source);
        } else if (!p) {
            printf("run %s has no retention policy: every checkpoint is kept\n", run);
        } else {
            printf("source:      %s\n", from_default ? "server default (--default-policy)" : "run");
            print_policy_human(p);
        }
        ckpt_policy_free(p);
        return EXIT_OK;
    }
    if (strcmp(sub, "delete") == 0) {
        if ((e = ckpt_policy_delete(cli->client, run)) != CKPT_OK)
            return report(cli, "policy delete", e);
        if (cli->json) {
            fputs("{\"run\":", stdout);
            json_string(run);
            puts(",\"policy\":null}");
        } else if (!cli->quiet) {
            printf("deleted the retention policy of run %s\n", run);
        }
        return EXIT_OK;
    }
    ckpt_plan *plan = NULL;
    if ((e = ckpt_policy_plan(cli->client, run, &plan)) != CKPT_OK)
        return report(cli, "policy plan", e);
    if (cli->json) {
        fputs("{\"run\":", stdout);
        json_string(run);
        fputs(",\"checkpoints\":[", stdout);
        for (size_t i = 0; i < plan->count; i++) {
            const ckpt_plan_item *it = &plan->items[i];
            printf("%s{\"id\":%" PRId64 ",\"action\":\"%s\",\"reasons\":[", i ? "," : "", it->id,
                   it->keep ? "keep" : "drop");
            for (size_t r = 0; r < it->n_reasons; r++) {
                if (r)
                    putchar(',');
                json_string(it->reasons[r]);
            }
            fputs("]}", stdout);
        }
        puts("]}");
    } else {
        printf("%10s  %-6s  %s\n", "ID", "ACTION", "REASONS");
        for (size_t i = 0; i < plan->count; i++) {
            const ckpt_plan_item *it = &plan->items[i];
            printf("%10" PRId64 "  %-6s  ", it->id, it->keep ? "keep" : "drop");
            for (size_t r = 0; r < it->n_reasons; r++)
                printf("%s%s", r ? ", " : "", it->reasons[r]);
            if (!it->n_reasons)
                putchar('-');
            putchar('\n');
        }
    }
    ckpt_plan_free(plan);
    return EXIT_OK;
}

static int cmd_lease(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int64_t id, ttl = 0;
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!parse_i64(optarg, &ttl) || ttl < 1 || ttl > 86400)
                return usage_error("--ttl needs 1 to 86400 seconds, not '%s'", optarg), EXIT_USAGE;
            break;
        default: return usage_error("lease: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    int n = argc - optind;
    char **a = argv + optind;
    if (n == 2 && strcmp(a[0], "release") == 0) {
        ckpt_err e = ckpt_lease_release(cli->client, a[1]);
        if (e != CKPT_OK)
            return report(cli, "lease release", e);
        if (cli->json) {
            fputs("{\"released\":", stdout);
            json_string(a[1]);
            puts("}");
        } else if (!cli->quiet) {
            printf("released lease %s\n", a[1]);
        }
        return EXIT_OK;
    }
    if (n != 1)
        return usage_error("usage: ckpt lease ID [--ttl SECONDS] | lease release LEASE"), EXIT_USAGE;
    if (!id_arg(a[0], &id))
        return EXIT_USAGE;
    ckpt_lease *l = NULL;
    ckpt_err e = ckpt_lease_take(cli->client, id, (long)ttl, &l);
    if (e != CKPT_OK)
        return report(cli, "lease", e);
    if (cli->json) {
        printf("{\"lease\":\"%s\",\"id\":%" PRId64 ",\"expires_at\":", l->lease, l->id);
        json_string(l->expires_at);
        puts("}");
    } else if (cli->quiet) {
        puts(l->lease);
    } else {
        char when[64];
        local_time(l->expires_at, when, sizeof(when));
        printf("lease %s on checkpoint %" PRId64 " until %s\n", l->lease, l->id, when);
    }
    ckpt_lease_free(l);
    return EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    /* The first signal stops the watch at its next callback (within about
     * a second); a second one, while it still waits, ends the process. */
    if (interrupted)
        _exit(128 + sig);
    interrupted = 1;
}

struct watch_out {
    struct cli *cli;
    bool write_failed;
};

static int on_checkpoint(void *ud, const ckpt_info *in)
{
    struct watch_out *w = ud;
    if (interrupted)
        return 1;
    if (!in)
        return 0; /* still waiting */
    if (w->cli->json) {
        print_info_json(in);
        putchar('\n');
    } else {
        /* Space-separated field=value pairs with no space inside a value, so
         * that `read` and awk can split the line: bytes, and UTC times. */
        char epoch[24] = "-", step[24] = "-", loss[32] = "-";
        if (in->has_epoch)
            snprintf(epoch, sizeof(epoch), "%" PRId64, in->epoch);
        if (in->has_step)
            snprintf(step, sizeof(step), "%" PRId64, in->step);
        if (in->has_loss)
            snprintf(loss, sizeof(loss), "%.6g", in->loss);
        printf("%" PRId64 " run=%s epoch=%s step=%s loss=%s size=%" PRIu64 " created=%s sha256=%s",
               in->id, in->run, epoch, step, loss, in->size, in->created_at, in->sha256);
        for (size_t m = 0; m < in->n_metrics; m++)
            printf(" %s=%.6g", in->metrics[m].name, in->metrics[m].value);
        putchar('\n');
    }
    /* One line per checkpoint, at once: a pipe reader sees it as committed. */
    if (fflush(stdout) != 0) {
        w->write_failed = true;
        return 1;
    }
    return 0;
}

static int cmd_watch(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"after", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    int64_t after = CKPT_WATCH_NEW;
    struct watch_out w = {.cli = cli};
    struct sigaction sa = {0};
    int c;

    optind = 0; /* 0, not 1: GNU getopt then starts afresh */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (!parse_i64(optarg, &after))
                return usage_error("--after needs a checkpoint id (0 for all), not '%s'", optarg),
                       EXIT_USAGE;
            break;
        default: return usage_error("watch: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return usage_error("usage: ckpt watch RUN [--after ID] [--json]"), EXIT_USAGE;
    /* No SA_RESTART: the handler only sets a flag the watch callback reads
     * within a second, and the command then ends normally (exit 0). */
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ckpt_err e = ckpt_watch(cli->client, argv[optind], after, on_checkpoint, &w);
    if (w.write_failed) {
        fprintf(stderr, "ckpt: cannot write output\n");
        return EXIT_USAGE;
    }
    if (e != CKPT_OK)
        return report(cli, "watch", e);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},  {"token", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},       {"quiet", no_argument, NULL, 'q'},
        {"retries", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},    {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        int (*fn)(struct cli *, int, char **);
    } commands[] = {{"push", cmd_push}, {"pull", cmd_pull}, {"ls", cmd_ls},
                    {"runs", cmd_runs}, {"show", cmd_show}, {"rm", cmd_rm},
                    {"pin", cmd_pin},   {"unpin", cmd_unpin}, {"alias", cmd_alias},
                    {"policy", cmd_policy}, {"lease", cmd_lease}, {"watch", cmd_watch}};
    struct cli cli = {0};
    const char *url = getenv("CKPT_URL"), *token = getenv("CKPT_TOKEN");
    const char *cacert = getenv("CKPT_CACERT");
    int64_t retries = -1;
    int c;

    if (!url || !*url)
        url = "http://127.0.0.1:8420";
    /* A reader that goes away (ckpt pull 1 -o - | head) is a write error,
     * reported and exit 1, not death by signal. */
    signal(SIGPIPE, SIG_IGN);
    if (token && !*token)
        token = NULL;
    /* Global options come before the command; "+" stops at the first
     * non-option so the command's own options are left to it. Global
     * options after the command are accepted too (see below). */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'c': cacert = optarg; break;
        case 'j': cli.json = true; break;
        case 'q': cli.quiet = true; break;
        case 'r':
            if (!parse_i64(optarg, &retries) || retries > 100)
                return usage_error("--retries needs 0 to 100"), EXIT_USAGE;
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case 'V': printf("ckpt %s\n", CKPT_VERSION); return EXIT_OK;
        default: return usage_error("unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return usage_error("no command given"), EXIT_USAGE;

    /* Pull the global options out of the command's arguments, up to "--";
     * what follows "--" is the command's, even if it looks like an option. */
    int n = 0;
    char **args = calloc((size_t)(argc - optind) + 1, sizeof(*args));
    if (!args)
        return EXIT_USAGE;
    bool dashdash = false;
    for (int i = optind; i < argc; i++) {
        const char *a = argv[i];
        const char **value = NULL;
        const char *retries_arg = NULL;
        if (dashdash || i == optind) {
            args[n++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            args[n++] = argv[i];
        } else if (strcmp(a, "--json") == 0) {
            cli.json = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            cli.quiet = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            free(args);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("ckpt %s\n", CKPT_VERSION);
            free(args);
            return EXIT_OK;
        } else if (strcmp(a, "--url") == 0) {
            value = &url;
        } else if (strcmp(a, "--token") == 0) {
            value = &token;
        } else if (strcmp(a, "--cacert") == 0) {
            value = &cacert;
        } else if (strcmp(a, "--retries") == 0) {
            value = &retries_arg;
        } else if (strncmp(a, "--url=", 6) == 0) {
            url = a + 6;
        } else if (strncmp(a, "--token=", 8) == 0) {
            token = a + 8;
        } else if (strncmp(a, "--cacert=", 9) == 0) {
            cacert = a + 9;
        } else if (strncmp(a, "--retries=", 10) == 0) {
            retries_arg = a + 10;
        } else {
            args[n++] = argv[i];
        }
        if (value) {
            if (i + 1 >= argc) {
                usage_error("option '%s' needs a value", a);
                free(args);
                return EXIT_USAGE;
            }
            *value = argv[++i];
        }
        if (retries_arg && (!parse_i64(retries_arg, &retries) || retries > 100)) {
            usage_error("--retries needs 0 to 100");
            free(args);
            return EXIT_USAGE;
        }
    }
    int status = -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(args[0], commands[i].name) != 0)
            continue;
        cli.client = ckpt_client_new(url, token);
        if (!cli.client) {
            usage_error("invalid --url '%s': expected http://HOST:PORT or https://HOST:PORT", url);
            status = EXIT_USAGE;
            break;
        }
        if (retries >= 0)
            ckpt_client_set_retries(cli.client, (unsigned)retries, 200);
        if (cacert && *cacert)
            ckpt_client_set_ca_file(cli.client, cacert);
        status = commands[i].fn(&cli, n, args);
        ckpt_client_free(cli.client);
        break;
    }
    if (status < 0) {
        usage_error("unknown command '%s'", args[0]);
        status = EXIT_USAGE;
    }
    free(args);
    if (fflush(stdout) != 0 && status == EXIT_OK) {
        fprintf(stderr, "ckpt: cannot write output\n");
        status = EXIT_USAGE;
    }
    return status;
}
