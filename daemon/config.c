/*
 * config.c - the configuration table, the value and file parsers, the
 * generated documentation (README table, example file), and the live
 * snapshot. One table drives the command line, the file, --check-config,
 * --help, SIGHUP and the docs, so they cannot disagree.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ckpt_limits.h"
#include "parse.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"json", "common", NULL};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

/* The order here is the order of --help, --check-config, the README table
 * and the example file. Defaults are written as a user would write them;
 * tests/unit/test_config.c checks they agree with daemon/ckpt_limits.h. */
const struct config_key config_keys[] = {
    {"listen", CFG_ADDRESS, FIELD(listen), "127.0.0.1:8420", 0, 0, NULL, false, false, "HOST:PORT",
     "address to listen on; [::1]:PORT for IPv6; port 0 picks a free port"},
    {"data", CFG_PATH, FIELD(data), "./data", 0, 0, NULL, false, false, "DIR",
     "data directory, created if missing"},
    {"max-upload", CFG_SIZE, FIELD(max_upload), "100G", 1, UINT64_MAX, NULL, true, false, "BYTES",
     "largest checkpoint accepted; larger uploads answer 413"},
    {"threads", CFG_INT, FIELD(threads), "auto", 1, THREADS_MAX, NULL, false, false, "N",
     "HTTP event threads; auto = one per CPU the daemon may run on, at least 2"},
    {"query-cache", CFG_INT, FIELD(query_cache), "64", 0, QCACHE_SLOTS_MAX, NULL, false, false, "N",
     "answers to /best, /latest and listing queries each HTTP thread keeps until the next "
     "write; 0 = off"},
    {"max-uploads", CFG_INT, FIELD(max_uploads), "64", 1, CONNECTION_LIMIT, NULL, true, false, "N",
     "concurrent uploads; more answer 503 with Retry-After"},
    {"max-uploads-per-ip", CFG_INT, FIELD(max_uploads_per_ip), "16", 1, CONNECTION_LIMIT, NULL,
     true, false, "N",
     "the same from one client address (behind a reverse proxy: set it to max-uploads)"},
    {"header-timeout", CFG_DURATION, FIELD(header_timeout), "30s", 1, 3600, NULL, true, false,
     "SECONDS", "close connections whose request headers (or next request) take longer"},
    {"min-upload-rate", CFG_SIZE, FIELD(min_upload_rate), "1K", 0, UINT64_MAX, NULL, true, false,
     "BYTES", "close uploads moving fewer bytes/s than this over each upload-rate-window"},
    {"upload-rate-window", CFG_DURATION, FIELD(upload_rate_window), "20s", 1, 3600, NULL, true,
     false, "SECONDS", "the window over which min-upload-rate is measured"},
    {"insecure", CFG_BOOL, FIELD(insecure), "false", 0, 0, NULL, false, false, NULL,
     "allow a non-loopback listen address while no token exists"},
    {"shutdown-timeout", CFG_DURATION, FIELD(shutdown_timeout), "10s", 0, SHUTDOWN_TIMEOUT_MAX,
     NULL, true, false, "SECONDS",
     "on SIGTERM/SIGINT, how long requests in flight get before they are aborted"},
    {"log-file", CFG_PATH, FIELD(log_file), "", 0, 0, NULL, true, false, "FILE",
     "append log lines to FILE instead of stderr; reopened on SIGHUP"},
    {"log-level", CFG_ENUM, FIELD(log_level), "info", 0, 0, log_levels, true, false, "LEVEL",
     "least severe messages logged: error, warn, info or debug"},
    {"log-format", CFG_ENUM, FIELD(log_format), "json", 0, 0, log_formats, false, false, "FORMAT",
     "access log lines: json (JSON lines) or common (Common Log Format)"},
    {"tls-cert", CFG_PATH, FIELD(tls_cert), "", 0, 0, NULL, false, false, "FILE",
     "PEM certificate chain; with tls-key, serve HTTPS instead of HTTP"},
    {"tls-key", CFG_PATH, FIELD(tls_key), "", 0, 0, NULL, false, false, "FILE",
     "PEM private key of tls-cert"},
    {"max-disk", CFG_SIZE, FIELD(max_disk), "0", 0, UINT64_MAX, NULL, true, false, "BYTES",
     "most bytes of checkpoints to store; 0 = no limit but the disk"},
    {"reserve", CFG_SIZE, FIELD(reserve), "auto", 0, UINT64_MAX - 1, NULL, true, false, "BYTES",
     "free disk space uploads must leave; auto = 1% of the file system, at most 256M"},
    {"default-policy", CFG_PATH, FIELD(default_policy), "", 0, 0, NULL, true, false, "FILE",
     "retention policy for runs that have none of their own"},
    {"scrub-interval", CFG_DURATION, FIELD(scrub_interval), "7d", 0, SCRUB_INTERVAL_MAX, NULL, true,
     false, "DURATION", "re-verify every stored blob this often; 0 = never"},
    {"scrub-rate", CFG_INT, FIELD(scrub_rate), "100", 0, SCRUB_RATE_MAX, NULL, true, false, "MB/S",
     "how fast the scrub reads, in MB/s; 0 = unlimited"},
};
const size_t config_keys_count = sizeof(config_keys) / sizeof(config_keys[0]);

static void *field(struct config *c, const struct config_key *k)
{
    return (char *)c + k->offset;
}

static const void *cfield(const struct config *c, const struct config_key *k)
{
    return (const char *)c + k->offset;
}

static void seterr(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (!err || !size)
        return;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

const struct config_key *config_key_find(const char *name)
{
    for (size_t i = 0; i < config_keys_count; i++) {
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < config_keys_count; i++) {
        /* The table's defaults are valid: test_config.c checks each. */
        (void)config_set(c, &config_keys[i], config_keys[i].def, NULL, NULL, 0);
    }
}

/* Digits with at most one suffix letter from suffixes (each worth the
 * matching entry of mult). */
static int parse_scaled(const char *s, const char *suffixes, const uint64_t *mult, uint64_t *out)
{
    uint64_t v = 0, m = 1;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (*p) {
        const char *hit = p[1] ? NULL : strchr(suffixes, *p);
        if (!hit || !*hit)
            return -EINVAL;
        m = mult[hit - suffixes];
    }
    if (m > 1 && v > UINT64_MAX / m)
        return -ERANGE;
    *out = v * m;
    return 0;
}

static const uint64_t duration_mult[] = {1, 60, 3600, 86400};

static void format_size(uint64_t v, char *buf, size_t size)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, size, "%llu", (unsigned long long)v);
    else
        snprintf(buf, size, "%llu%c", (unsigned long long)v, units[u]);
}

static void format_duration(uint64_t v, char *buf, size_t size)
{
    static const char units[] = "smhd";
    int u = 3;
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    while (u > 0 && v % duration_mult[u] != 0)
        u--;
    snprintf(buf, size, "%llu%c", (unsigned long long)(v / duration_mult[u]), units[u]);
}

static void format_bound(const struct config_key *k, uint64_t v, char *buf, size_t size)
{
    if (k->type == CFG_SIZE)
        format_size(v, buf, size);
    else if (k->type == CFG_DURATION)
        format_duration(v, buf, size);
    else
        snprintf(buf, size, "%llu", (unsigned long long)v);
}

static int set_number(uint64_t *dst, const struct config_key *k, const char *value,
                      const char *label, char *err, size_t err_size)
{
    static const char *const expect[] = {
        [CFG_SIZE] = "a byte count such as 512K, 10G (K, M, G, T: powers of 1024)",
        [CFG_DURATION] = "seconds, or a number with s, m, h or d such as 90s, 12h, 7d",
        [CFG_INT] = "a whole number",
    };
    uint64_t v;
    int r;

    if (!label)
        label = k->name;
    bool is_auto = strcmp(k->def, "auto") == 0;
    if (is_auto && strcmp(value, "auto") == 0) {
        *dst = CONFIG_AUTO;
        return 0;
    }
    if (k->type == CFG_SIZE)
        r = parse_scaled(value, "KkMmGgTt",
                         (const uint64_t[]){1ULL << 10, 1ULL << 10, 1ULL << 20, 1ULL << 20,
                                            1ULL << 30, 1ULL << 30, 1ULL << 40, 1ULL << 40},
                         &v);
    else if (k->type == CFG_DURATION)
        r = parse_scaled(value, "smhd", duration_mult, &v);
    else
        r = parse_scaled(value, "", NULL, &v);
    if (r == -EINVAL) {
        seterr(err, err_size, "invalid %s '%s': expected %s%s", label, value, expect[k->type],
               is_auto ? ", or auto" : "");
        return r;
    }
    if (r < 0 || v < k->min || v > k->max) {
        char lo[32], hi[32];
        format_bound(k, k->min, lo, sizeof(lo));
        format_bound(k, k->max, hi, sizeof(hi));
        if (k->max == UINT64_MAX)
            seterr(err, err_size, "invalid %s '%s': must be at least %s%s", label, value, lo,
                   is_auto ? ", or auto" : "");
        else
            seterr(err, err_size, "invalid %s '%s': must be %s to %s%s", label, value, lo, hi,
                   is_auto ? ", or auto" : "");
        return -ERANGE;
    }
    *dst = v;
    return 0;
}

int config_set(struct config *c, const struct config_key *k, const char *value, const char *label,
               char *err, size_t err_size)
{
    char host[256];
    uint16_t port;

    if (!label)
        label = k->name;
    switch (k->type) {
    case CFG_ADDRESS:
        if (parse_listen(value, host, sizeof(host), &port) < 0) {
            seterr(err, err_size, "invalid %s '%s': expected HOST:PORT or [IPV6]:PORT", label,
                   value);
            return -EINVAL;
        }
        /* fall through */
    case CFG_STRING:
    case CFG_PATH:
        if (strlen(value) >= k->size) {
            seterr(err, err_size, "invalid %s: longer than %zu bytes", label, k->size - 1);
            return -ERANGE;
        }
        if (k->type == CFG_PATH && strcmp(k->name, "data") == 0 && !*value) {
            seterr(err, err_size, "invalid %s: needs a directory", label);
            return -EINVAL;
        }
        memcpy(field(c, k), value, strlen(value) + 1);
        return 0;
    case CFG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                    "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
                *(bool *)field(c, k) = strcasecmp(value, yes[i]) == 0;
                return 0;
            }
        }
        seterr(err, err_size, "invalid %s '%s': expected true or false", label, value);
        return -EINVAL;
    }
    case CFG_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (strcmp(value, k->choices[i]) == 0) {
                *(int *)field(c, k) = i;
                return 0;
            }
        }
        {
            char list[128] = "";
            for (int i = 0; k->choices[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         i ? (k->choices[i + 1] ? ", " : " or ") : "", k->choices[i]);
            seterr(err, err_size, "invalid %s '%s': expected %s", label, value, list);
        }
        return -EINVAL;
    case CFG_SIZE:
    case CFG_DURATION:
    case CFG_INT: return set_number(field(c, k), k, value, label, err, err_size);
    }
    return -EINVAL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool is_key_char(char ch)
{
    /* Wider than any key, so that "Max_Upload" is reported as unknown. */
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.';
}

/* One line (without its newline) into key and value, NUL-terminated in
 * buf. Returns 1 for a key/value line, 0 for a blank or comment line, or
 * -EINVAL with the reason in err. */
static int split_line(char *buf, char **key, char **value, char *err, size_t err_size)
{
    char *p = buf, *k, *v, *end;

    for (char *q = buf; *q; q++) {
        if ((unsigned char)*q < 0x20 && *q != '\t' && *q != '\r') {
            seterr(err, err_size, "control character 0x%02x in the line", (unsigned char)*q);
            return -EINVAL;
        }
    }
    while (is_space(*p))
        p++;
    if (!*p || *p == '#')
        return 0;
    k = p;
    while (is_key_char(*p))
        p++;
    if (p == k) {
        seterr(err, err_size, "expected 'key = value'");
        return -EINVAL;
    }
    end = p;
    while (is_space(*p))
        p++;
    if (*p != '=') {
        seterr(err, err_size, "expected '=' after '%.*s'", (int)(end - k), k);
        return -EINVAL;
    }
    *end = '\0';
    p++;
    while (is_space(*p))
        p++;
    if (*p == '"' || *p == '\'') {
        char quote = *p++;
        v = p;
        end = strchr(p, quote);
        if (!end) {
            seterr(err, err_size, "%s: unterminated %s quote", k,
                   quote == '"' ? "double" : "single");
            return -EINVAL;
        }
        *end = '\0';
        for (p = end + 1; is_space(*p); p++)
            ;
        if (*p && *p != '#') {
            seterr(err, err_size, "%s: unexpected text after the closing quote", k);
            return -EINVAL;
        }
    } else {
        v = p;
        /* A comment starts at a '#' that begins the value or follows
         * whitespace; "a#b" is a value. */
        for (end = p; *end && !(*end == '#' && (end == p || is_space(end[-1]))); end++)
            ;
        while (end > v && is_space(end[-1]))
            end--;
        *end = '\0';
        if (!*v) {
            seterr(err, err_size, "%s has no value (write \"\" for an empty one)", k);
            return -EINVAL;
        }
    }
    *key = k;
    *value = v;
    return 1;
}

int config_parse(struct config *c, const char *text, size_t len, struct config_error *err)
{
    struct config tmp = *c;
    unsigned seen[sizeof(config_keys) / sizeof(config_keys[0])] = {0};
    char buf[CONFIG_LINE_MAX + 1];
    size_t pos = 0;
    unsigned line = 0;
    int r;

    err->line = 0;
    err->msg[0] = '\0';
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - text - pos) : len - pos;
        char *key, *value;

        line++;
        err->line = line;
        if (n > CONFIG_LINE_MAX) {
            seterr(err->msg, sizeof(err->msg), "line longer than %d bytes", CONFIG_LINE_MAX);
            return -EINVAL;
        }
        if (memchr(text + pos, '\0', n)) {
            seterr(err->msg, sizeof(err->msg), "NUL byte in the line");
            return -EINVAL;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos += n + (nl != NULL);
        r = split_line(buf, &key, &value, err->msg, sizeof(err->msg));
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        const struct config_key *k = config_key_find(key);
        if (!k) {
            seterr(err->msg, sizeof(err->msg), "unknown key '%s'", key);
            return -ENOENT;
        }
        size_t i = (size_t)(k - config_keys);
        if (seen[i]) {
            seterr(err->msg, sizeof(err->msg), "%s is set twice (first on line %u)", key, seen[i]);
            return -EINVAL;
        }
        seen[i] = line;
        r = config_set(&tmp, k, value, NULL, err->msg, sizeof(err->msg));
        if (r < 0)
            return r;
    }
    err->line = 0;
    *c = tmp;
    return 0;
}

int config_load_file(struct config *c, const char *path, struct config_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, r;

    err->line = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        seterr(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-r));
        return r;
    }
    text = malloc(CONFIG_FILE_MAX + 1);
    if (!text) {
        close(fd);
        seterr(err->msg, sizeof(err->msg), "out of memory");
        return -ENOMEM;
    }
    while ((n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len)) > 0) {
        len += (size_t)n;
        if (len > CONFIG_FILE_MAX)
            break;
    }
    r = n < 0 ? -errno : 0;
    close(fd);
    if (r < 0) {
        seterr(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-r));
    } else if (len > CONFIG_FILE_MAX) {
        seterr(err->msg, sizeof(err->msg), "larger than %d bytes", CONFIG_FILE_MAX);
        r = -EFBIG;
    } else {
        r = config_parse(c, text, len, err);
    }
    free(text);
    return r;
}

int config_validate(const struct config *c, char *err, size_t err_size)
{
    if (!*c->tls_cert != !*c->tls_key) {
        seterr(err, err_size,
               "tls-cert and tls-key go together: %s is set, %s is not; give both or neither",
               *c->tls_cert ? "tls-cert" : "tls-key", *c->tls_cert ? "tls-key" : "tls-cert");
        return -EINVAL;
    }
    return 0;
}

void config_format(const struct config *c, const struct config_key *k, char *buf, size_t size)
{
    const void *p = cfield(c, k);

    if (k->secret) {
        snprintf(buf, size, "(redacted)");
        return;
    }
    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH:
    case CFG_ADDRESS: {
        const char *s = p;
        /* Quoted when a reader would otherwise lose something. */
        bool quote = !*s || is_space(s[0]) || is_space(s[strlen(s) - 1]) || strchr(s, '#') ||
                     s[0] == '"' || s[0] == '\'';
        if (quote)
            snprintf(buf, size, "%s%s%s", strchr(s, '"') ? "'" : "\"", s,
                     strchr(s, '"') ? "'" : "\"");
        else
            snprintf(buf, size, "%s", s);
        break;
    }
    case CFG_BOOL: snprintf(buf, size, "%s", *(const bool *)p ? "true" : "false"); break;
    case CFG_ENUM: snprintf(buf, size, "%s", k->choices[*(const int *)p]); break;
    case CFG_SIZE:
    case CFG_INT:
        if (*(const uint64_t *)p == CONFIG_AUTO && strcmp(k->def, "auto") == 0)
            snprintf(buf, size, "auto");
        else if (k->type == CFG_SIZE)
            format_size(*(const uint64_t *)p, buf, size);
        else
            snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case CFG_DURATION: format_duration(*(const uint64_t *)p, buf, size); break;
    }
}

bool config_equal(const struct config *a, const struct config *b, const struct config_key *k)
{
    if (k->type == CFG_STRING || k->type == CFG_PATH || k->type == CFG_ADDRESS)
        return strcmp(cfield(a, k), cfield(b, k)) == 0;
    return memcmp(cfield(a, k), cfield(b, k), k->size) == 0;
}

void config_copy_key(struct config *dst, const struct config *src, const struct config_key *k)
{
    memcpy(field(dst, k), cfield(src, k), k->size);
}

const char *config_type_name(const struct config_key *k)
{
    switch (k->type) {
    case CFG_STRING: return "string";
    case CFG_PATH: return "path";
    case CFG_ADDRESS: return "address";
    case CFG_BOOL: return "bool";
    case CFG_SIZE: return "size";
    case CFG_DURATION: return "duration";
    case CFG_INT: return "integer";
    case CFG_ENUM: return "enum";
    }
    return "?";
}

void config_bounds(const struct config_key *k, char *buf, size_t size)
{
    char lo[32], hi[32];

    switch (k->type) {
    case CFG_SIZE:
    case CFG_DURATION:
    case CFG_INT:
        format_bound(k, k->min, lo, sizeof(lo));
        format_bound(k, k->max, hi, sizeof(hi));
        if (k->max == UINT64_MAX)
            snprintf(buf, size, "%s", k->min ? "at least 1" : "any");
        else
            snprintf(buf, size, "%s-%s", lo, hi);
        break;
    case CFG_ENUM:
        buf[0] = '\0';
        for (int i = 0; k->choices[i]; i++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "", k->choices[i]);
        break;
    case CFG_BOOL: snprintf(buf, size, "true, false"); break;
    case CFG_ADDRESS: snprintf(buf, size, "HOST:PORT"); break;
    case CFG_STRING:
    case CFG_PATH: snprintf(buf, size, "-"); break;
    }
}

void config_print_markdown(FILE *f)
{
    char bounds[128];

    fprintf(f, "| key | type | default | bounds | reloadable | description |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        config_bounds(k, bounds, sizeof(bounds));
        fprintf(f, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", k->name, config_type_name(k),
                *k->def ? "`" : "", *k->def ? k->def : "(none)", *k->def ? "`" : "", bounds,
                k->reloadable ? "yes" : "no", k->help);
    }
}

void config_print_example(FILE *f)
{
    char bounds[128];

    fprintf(f, "# ckptd.conf - every ckptd setting, commented out at its default.\n"
               "# Use with: ckptd --config /etc/ckptd.conf   (check: ckptd --check-config "
               "--config FILE)\n"
               "# Syntax: key = value; '#' starts a comment; \"quotes\" are optional.\n"
               "# Command-line options (--key VALUE) override this file. SIGHUP re-reads it and\n"
               "# applies the keys marked reloadable; the others need a restart.\n"
               "# Generated from daemon/config.c (build/tests/test_config --example).\n");
    for (size_t i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        config_bounds(k, bounds, sizeof(bounds));
        fprintf(f, "\n# %s\n# %s%s%s; %s\n#%s = %s\n", k->help, config_type_name(k),
                strcmp(bounds, "-") ? ", " : "", strcmp(bounds, "-") ? bounds : "",
                k->reloadable ? "reloadable" : "needs a restart", k->name,
                *k->def ? k->def : "\"\"");
    }
}

/* The live snapshot: a process-wide value like the log settings, so any
 * thread can reach it without threading a pointer through every module. */
static pthread_rwlock_t live_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct config *live;

int config_live_set(const struct config *c)
{
    struct config *copy = malloc(sizeof(*copy)), *old;
    if (!copy)
        return -ENOMEM;
    *copy = *c;
    pthread_rwlock_wrlock(&live_lock);
    old = live;
    live = copy;
    pthread_rwlock_unlock(&live_lock);
    free(old);
    return 0;
}

const struct config *config_live_lock(void)
{
    pthread_rwlock_rdlock(&live_lock);
    return live;
}

void config_live_unlock(void)
{
    pthread_rwlock_unlock(&live_lock);
}

void config_live_free(void)
{
    pthread_rwlock_wrlock(&live_lock);
    free(live);
    live = NULL;
    pthread_rwlock_unlock(&live_lock);
}
