/*
 * cli.c - the `ckpt` command: push, pull, ls, runs, show, rm against a
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
};

static const char usage_text[] =
    "usage: ckpt [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Store and fetch training checkpoints on a ckptd server, with SHA-256\n"
    "verification end to end.\n"
    "\n"
    "commands:\n"
    "  push RUN FILE [--epoch N] [--step N] [--loss X] [--metric NAME=VALUE]...\n"
    "        upload FILE (- reads standard input) as a checkpoint of RUN\n"
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
    "  4  network or server failure, after retries\n";

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

static void print_info_json(const ckpt_info *in)
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
    fputs(in->corrupt ? ",\"corrupt\":true}" : ",\"corrupt\":false}", stdout);
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
        {NULL, 0, NULL, 0},
    };
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
        default:
            return usage_error("push: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return usage_error("usage: ckpt push RUN FILE [--epoch N] [--step N] [--loss X] "
                           "[--metric NAME=VALUE]..."),
               EXIT_USAGE;
    meta.run = argv[optind];
    meta.metrics = metrics;
    const char *file = argv[optind + 1];
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

/* ID, or RUN with --best/--latest, into a ref. */
static bool parse_ref(const char *arg, bool best, bool latest, const char *metric, bool max,
                      bool min_given, ckpt_ref *ref)
{
    int64_t id;
    if (best && latest) {
        usage_error("--best and --latest exclude each other");
        return false;
    }
    if (best) {
        *ref = ckpt_ref_best(arg, metric, max);
    } else if (latest) {
        *ref = ckpt_ref_latest(arg);
    } else if (parse_i64(arg, &id) && id > 0) {
        *ref = ckpt_ref_id(id);
    } else {
        usage_error("'%s' is not a checkpoint id; for a run, add --best or --latest", arg);
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
        {NULL, 0, NULL, 0},
    };
    bool best = false, latest = false, max = false, min_given = false;
    const char *metric = NULL, *out = NULL;
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
        default: return usage_error("pull: unknown option '%s'", argv[optind - 1]), EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return usage_error("usage: ckpt pull ID | RUN --best [--metric NAME] [--max] | RUN --latest "
                           "[-o FILE]"),
               EXIT_USAGE;
    if (!parse_ref(argv[optind], best, latest, metric, max, min_given, &ref))
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
                    {"runs", cmd_runs}, {"show", cmd_show}, {"rm", cmd_rm}};
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
