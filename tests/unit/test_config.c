/*
 * test_config.c - unit tests for daemon/config.c: the table's defaults
 * against daemon/ckpt_limits.h, the value parsers, the config file parser
 * (good files, and every kind of error with its line number), formatting
 * round trips, redaction, and that README.md and deploy/ckptd.conf.example
 * match the table.
 * `test_config --markdown` / `--example` print the generated README table /
 * example file (to regenerate them after changing the table).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ckpt_limits.h"
#include "config.h"

static const struct config_key *key(const char *name)
{
    const struct config_key *k = config_key_find(name);
    if (!k) {
        printf("not ok - key %s exists in the table\n", name);
        exit(1);
    }
    return k;
}

static void test_defaults(void)
{
    struct config c;
    char buf[CONFIG_STR_MAX + 8], err[CONFIG_ERR_MAX];

    config_defaults(&c);
    CHECK(c.max_upload == DEFAULT_MAX_UPLOAD, "default max-upload is DEFAULT_MAX_UPLOAD");
    CHECK(c.threads == CONFIG_AUTO, "default threads is auto");
    CHECK(c.query_cache == DEFAULT_QCACHE_SLOTS, "default query-cache is DEFAULT_QCACHE_SLOTS");
    CHECK(key("threads")->max == THREADS_MAX, "threads is bounded by THREADS_MAX");
    CHECK(c.max_uploads == DEFAULT_MAX_UPLOADS, "default max-uploads is DEFAULT_MAX_UPLOADS");
    CHECK(c.header_timeout == HEADER_DEADLINE_S, "default header-timeout is HEADER_DEADLINE_S");
    CHECK(c.min_upload_rate == UPLOAD_MIN_RATE, "default min-upload-rate is UPLOAD_MIN_RATE");
    CHECK(c.upload_rate_window == UPLOAD_RATE_WINDOW_S,
          "default upload-rate-window is UPLOAD_RATE_WINDOW_S");
    CHECK(c.shutdown_timeout == SHUTDOWN_GRACE_S, "default shutdown-timeout is SHUTDOWN_GRACE_S");
    CHECK(strcmp(c.listen, "127.0.0.1:8420") == 0, "default listen is 127.0.0.1:8420");
    CHECK(strcmp(c.data, "./data") == 0, "default data is ./data");
    CHECK(c.log_level == CFG_LOG_INFO && c.log_format == CFG_LOG_JSON,
          "default log-level info, log-format json");
    CHECK(c.log_file[0] == '\0', "default log-file is empty (stderr)");
    CHECK(c.reserve == CONFIG_AUTO,
          "default reserve is auto (1%% of the file system, at most 256M)");
    CHECK(c.max_disk == 0, "default max-disk is 0 (none)");
    CHECK(c.scrub_interval == 7 * 86400, "default scrub-interval is 7 days in seconds");
    CHECK(c.scrub_rate == 100, "default scrub-rate is 100 MB/s");
    CHECK(c.max_uploads_per_ip == DEFAULT_MAX_UPLOADS_PER_IP,
          "default max-uploads-per-ip is DEFAULT_MAX_UPLOADS_PER_IP");
    CHECK(!c.insecure, "default insecure is false");

    for (size_t i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        struct config d = c;
        CHECK(config_set(&d, k, k->def, NULL, err, sizeof(err)) == 0,
              "the default of %s ('%s') is valid", k->name, k->def);
        CHECK(k->help && *k->help && strlen(k->help) < 100, "%s has a one-line help", k->name);
        config_format(&c, k, buf, sizeof(buf));
        /* what --check-config prints reads back as the same value */
        const char *v = buf;
        char unq[sizeof(buf)];
        if (buf[0] == '"') {
            snprintf(unq, sizeof(unq), "%.*s", (int)strlen(buf) - 2, buf + 1);
            v = unq;
        }
        d = c;
        CHECK(config_set(&d, k, v, NULL, err, sizeof(err)) == 0 && config_equal(&c, &d, k),
              "%s: the printed value '%s' parses back to the same value", k->name, buf);
    }
    CHECK(!key("listen")->reloadable && !key("data")->reloadable && !key("threads")->reloadable &&
              !key("tls-cert")->reloadable && !key("tls-key")->reloadable,
          "listen, data, threads, tls-* need a restart");
    CHECK(key("max-upload")->reloadable && key("max-uploads")->reloadable &&
              key("header-timeout")->reloadable && key("min-upload-rate")->reloadable &&
              key("upload-rate-window")->reloadable && key("log-level")->reloadable &&
              key("max-disk")->reloadable && key("reserve")->reloadable &&
              key("max-uploads-per-ip")->reloadable && key("default-policy")->reloadable &&
              key("scrub-interval")->reloadable && key("scrub-rate")->reloadable,
          "the limits, log-level, max-disk, reserve, default-policy and scrub-* are reloadable");
    CHECK(config_key_find("nope") == NULL && config_key_find("max_upload") == NULL &&
              config_key_find("") == NULL,
          "config_key_find refuses unknown names (no '_' aliases)");
}

struct value_case {
    const char *key, *value;
    int want;        /* 0, -EINVAL, -ERANGE */
    uint64_t number; /* for numeric keys when want == 0 */
};

static void test_values(void)
{
    static const struct value_case cases[] = {
        {"max-upload", "1", 0, 1},
        {"max-upload", "10K", 0, 10240},
        {"max-upload", "10k", 0, 10240},
        {"max-upload", "3M", 0, 3ULL << 20},
        {"max-upload", "100G", 0, 100ULL << 30},
        {"max-upload", "1024T", 0, 1024ULL << 40},
        {"max-upload", "16777215T", 0, 16777215ULL << 40},
        {"max-upload", "16777216T", -ERANGE, 0},
        {"max-upload", "18446744073709551616", -ERANGE, 0},
        {"max-upload", "0", -ERANGE, 0},
        {"max-upload", "10X", -EINVAL, 0},
        {"max-upload", "10KB", -EINVAL, 0},
        {"max-upload", "-1", -EINVAL, 0},
        {"max-upload", " 1", -EINVAL, 0},
        {"max-upload", "", -EINVAL, 0},
        {"max-upload", "1.5G", -EINVAL, 0},
        {"threads", "1", 0, 1},
        {"threads", "64", 0, 64},
        {"threads", "0", -ERANGE, 0},
        {"threads", "auto", 0, CONFIG_AUTO},
        {"threads", "65", -ERANGE, 0},
        {"threads", "4K", -EINVAL, 0},
        {"threads", "abc", -EINVAL, 0},
        {"header-timeout", "45", 0, 45},
        {"header-timeout", "45s", 0, 45},
        {"header-timeout", "2m", 0, 120},
        {"header-timeout", "1h", 0, 3600},
        {"header-timeout", "61m", -ERANGE, 0},
        {"header-timeout", "0", -ERANGE, 0},
        {"header-timeout", "5w", -EINVAL, 0},
        {"header-timeout", "5S", -EINVAL, 0},
        {"scrub-interval", "7d", 0, 7 * 86400},
        {"scrub-interval", "36h", 0, 36 * 3600},
        {"scrub-interval", "0", 0, 0},
        {"scrub-interval", "367d", -ERANGE, 0},
        {"shutdown-timeout", "0", 0, 0},
        {"shutdown-timeout", "3601", -ERANGE, 0},
        {"scrub-rate", "0", 0, 0},
        {"scrub-rate", "100001", -ERANGE, 0},
        {"min-upload-rate", "0", 0, 0},
        {"reserve", "0", 0, 0},
        {"reserve", "auto", 0, CONFIG_AUTO},
        {"max-disk", "auto", -EINVAL, 0},
        {"max-uploads", "1001", -ERANGE, 0},
        {"max-uploads-per-ip", "0", -ERANGE, 0},
        {"insecure", "true", 0, 1},
        {"insecure", "Yes", 0, 1},
        {"insecure", "on", 0, 1},
        {"insecure", "1", 0, 1},
        {"insecure", "false", 0, 0},
        {"insecure", "off", 0, 0},
        {"insecure", "maybe", -EINVAL, 0},
        {"log-level", "debug", 0, CFG_LOG_DEBUG},
        {"log-level", "error", 0, CFG_LOG_ERROR},
        {"log-level", "warn", 0, CFG_LOG_WARN},
        {"log-level", "verbose", -EINVAL, 0},
        {"log-level", "INFO", -EINVAL, 0},
        {"log-format", "common", 0, CFG_LOG_COMMON},
        {"log-format", "xml", -EINVAL, 0},
        {"listen", "0.0.0.0:80", 0, 0},
        {"listen", "[::1]:0", 0, 0},
        {"listen", "nohost", -EINVAL, 0},
        {"listen", "127.0.0.1:99999", -EINVAL, 0},
        {"data", "", -EINVAL, 0},
        {"data", "/var/lib/ckptd", 0, 0},
        {"log-file", "", 0, 0},
    };
    char err[CONFIG_ERR_MAX];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct value_case *t = &cases[i];
        const struct config_key *k = key(t->key);
        struct config c, before;
        config_defaults(&c);
        before = c;
        err[0] = '\0';
        int r = config_set(&c, k, t->value, NULL, err, sizeof(err));
        if (t->want == 0) {
            uint64_t got = 0;
            if (k->type == CFG_BOOL)
                got = *(bool *)((char *)&c + k->offset);
            else if (k->type == CFG_ENUM)
                got = (uint64_t) * (int *)((char *)&c + k->offset);
            else if (k->type != CFG_PATH && k->type != CFG_ADDRESS && k->type != CFG_STRING)
                got = *(uint64_t *)((char *)&c + k->offset);
            else
                got = strcmp((char *)&c + k->offset, t->value) != 0;
            CHECK(r == 0 && got == t->number, "%s = '%s' is accepted as %llu (got r=%d, %llu)",
                  t->key, t->value, (unsigned long long)t->number, r, (unsigned long long)got);
        } else {
            CHECK(r == t->want && memcmp(&c, &before, sizeof(c)) == 0 && strstr(err, t->key),
                  "%s = '%s' is refused with %s, config untouched, reason names the key (%s)",
                  t->key, t->value, t->want == -ERANGE ? "ERANGE" : "EINVAL", err);
        }
    }
    struct config c;
    config_defaults(&c);
    config_set(&c, key("threads"), "0", "--threads", err, sizeof(err));
    CHECK(strstr(err, "--threads '0'") && strstr(err, "1 to 64"),
          "a command-line error names the option as typed and the bounds (%s)", err);
    config_set(&c, key("header-timeout"), "2h", NULL, err, sizeof(err));
    CHECK(strstr(err, "1s to 1h") != NULL, "duration bounds are shown with units (%s)", err);
}

static int parse(struct config *c, const char *text, struct config_error *e)
{
    return config_parse(c, text, strlen(text), e);
}

static void test_good_files(void)
{
    struct config c;
    struct config_error e;
    const char *text = "# a comment\n"
                       "\n"
                       "   \t\n"
                       "  # an indented comment\n"
                       "listen = 0.0.0.0:9000\n"
                       "data=/srv/ckpt data\n"
                       "max-upload   =   10G   # trailing comment\n"
                       "threads = 8\r\n"
                       "log-file = \"/var/log/ckptd #1.log\"  # a '#' inside quotes is kept\n"
                       "tls-cert = '/etc/ckptd/cert \"a\".pem'\n"
                       "tls-key = \"\"\n"
                       "insecure = yes\n"
                       "log-level = debug\n"
                       "scrub-interval = 36h\n"
                       "default-policy = /etc/ckptd/a#b.policy\n"
                       "reserve = 1G"; /* no final newline */

    config_defaults(&c);
    int r = parse(&c, text, &e);
    CHECK(r == 0, "a file with comments, blanks, quotes, CRLF and no final newline parses (%u: %s)",
          e.line, e.msg);
    CHECK(strcmp(c.listen, "0.0.0.0:9000") == 0, "listen read");
    CHECK(strcmp(c.data, "/srv/ckpt data") == 0, "an unquoted value keeps inner spaces");
    CHECK(c.max_upload == 10ULL << 30, "spaces around '=' and a trailing comment are ignored");
    CHECK(c.threads == 8, "a CRLF line ending is accepted");
    CHECK(strcmp(c.log_file, "/var/log/ckptd #1.log") == 0, "a '#' inside double quotes is kept");
    CHECK(strcmp(c.tls_cert, "/etc/ckptd/cert \"a\".pem") == 0,
          "single quotes may hold double quotes");
    CHECK(c.tls_key[0] == '\0', "\"\" is an empty value");
    CHECK(c.insecure, "bool yes");
    CHECK(c.log_level == CFG_LOG_DEBUG, "enum value");
    CHECK(c.scrub_interval == 36 * 3600, "duration with h");
    CHECK(strcmp(c.default_policy, "/etc/ckptd/a#b.policy") == 0,
          "a '#' not preceded by whitespace is part of the value");
    CHECK(c.reserve == 1ULL << 30, "last line without a newline is read");
    CHECK(c.max_uploads == DEFAULT_MAX_UPLOADS, "keys the file does not name keep their value");

    config_defaults(&c);
    struct config before = c;
    CHECK(parse(&c, "", &e) == 0 && memcmp(&c, &before, sizeof(c)) == 0,
          "an empty file changes nothing");
    CHECK(parse(&c, "\n\n# only comments\n", &e) == 0 && memcmp(&c, &before, sizeof(c)) == 0,
          "a file of comments changes nothing");
}

struct bad_case {
    const char *text;
    unsigned line;
    int want;
    const char *reason; /* a substring of the message */
};

static void test_bad_files(void)
{
    static char long_line[CONFIG_LINE_MAX + 64];
    static const char nul_text[] = "threads = 2\nthreads\0 = 3\n";
    static const struct bad_case cases[] = {
        {"threads = 2\nbogus = 1\n", 2, -ENOENT, "unknown key 'bogus'"},
        {"max_upload = 1G\n", 1, -ENOENT, "unknown key 'max_upload'"},
        {"\n\n\nthreads 4\n", 4, -EINVAL, "expected '=' after 'threads'"},
        {"= 4\n", 1, -EINVAL, "expected 'key = value'"},
        {"Threads = 4\n", 1, -ENOENT, "unknown key 'Threads'"},
        {"threads =\n", 1, -EINVAL, "threads has no value"},
        {"threads = # nothing\n", 1, -EINVAL, "threads has no value"},
        {"log-file = \"/var/log/x\n", 1, -EINVAL, "unterminated double quote"},
        {"log-file = '/var/log/x\n", 1, -EINVAL, "unterminated single quote"},
        {"log-file = \"/a\" b\n", 1, -EINVAL, "unexpected text after the closing quote"},
        {"# c\nmax-upload = 10X\n", 2, -EINVAL, "invalid max-upload '10X'"},
        {"threads = 0\n", 1, -ERANGE, "invalid threads '0': must be 1 to 64"},
        {"threads = 65\n", 1, -ERANGE, "must be 1 to 64"},
        {"header-timeout = 5w\n", 1, -EINVAL, "invalid header-timeout '5w'"},
        {"shutdown-timeout = 2h\n", 1, -ERANGE, "must be 0 to 1h"},
        {"log-level = loud\n", 1, -EINVAL, "expected error, warn, info or debug"},
        {"insecure = maybe\n", 1, -EINVAL, "expected true or false"},
        {"listen = localhost\n", 1, -EINVAL, "expected HOST:PORT"},
        {"data = \"\"\n", 1, -EINVAL, "needs a directory"},
        {"threads = 2\nlog-level = info\nthreads = 3\n", 3, -EINVAL,
         "threads is set twice (first on line 1)"},
        {"threads = 2\x01\n", 1, -EINVAL, "control character 0x01"},
        {"max-upload = 1T\nthreads = -1\n", 2, -EINVAL, "invalid threads '-1'"},
    };
    struct config c, before;
    struct config_error e;

    config_defaults(&c);
    before = c;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *t = &cases[i];
        int r = parse(&c, t->text, &e);
        CHECK(r == t->want && e.line == t->line && strstr(e.msg, t->reason) &&
                  memcmp(&c, &before, sizeof(c)) == 0,
              "bad file %zu is refused at line %u with '%s', config untouched (got r=%d line %u: "
              "%s)",
              i, t->line, t->reason, r, e.line, e.msg);
    }
    memset(long_line, 'a', sizeof(long_line) - 1);
    memcpy(long_line, "threads = 1\ndata = ", 19);
    int r = parse(&c, long_line, &e);
    CHECK(r == -EINVAL && e.line == 2 && strstr(e.msg, "line longer than"),
          "a line over CONFIG_LINE_MAX is refused at its line (%u: %s)", e.line, e.msg);
    r = config_parse(&c, nul_text, sizeof(nul_text) - 1, &e);
    CHECK(r == -EINVAL && e.line == 2 && strstr(e.msg, "NUL byte"),
          "a NUL byte is refused at its line (%u: %s)", e.line, e.msg);
    CHECK(memcmp(&c, &before, sizeof(c)) == 0, "the refused files changed nothing");
}

static void test_load_file(void)
{
    struct config c;
    struct config_error e;
    char path[] = "/tmp/test_config.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

    config_defaults(&c);
    CHECK(config_load_file(&c, "/nonexistent/ckptd.conf", &e) == -ENOENT && e.line == 0 &&
              strstr(e.msg, "No such file"),
          "a missing file gives -ENOENT, line 0, and says why (%s)", e.msg);
    if (!f) {
        CHECK(0, "temp file for config_load_file");
        return;
    }
    fprintf(f, "# test\nmax-upload = 5M\nscrub-rate = 0\n");
    fclose(f);
    CHECK(config_load_file(&c, path, &e) == 0 && c.max_upload == 5ULL << 20 && c.scrub_rate == 0,
          "config_load_file reads a file");
    f = fopen(path, "w");
    for (int i = 0; f && i < CONFIG_FILE_MAX / 10 + 1; i++)
        fputs("#########\n", f);
    if (f)
        fclose(f);
    CHECK(config_load_file(&c, path, &e) == -EFBIG && strstr(e.msg, "larger than"),
          "a file over CONFIG_FILE_MAX is refused (%s)", e.msg);
    remove(path);
}

static void test_validate_and_redact(void)
{
    struct config c;
    char err[CONFIG_ERR_MAX], buf[CONFIG_STR_MAX + 8];

    config_defaults(&c);
    CHECK(config_validate(&c, err, sizeof(err)) == 0, "the defaults validate");
    snprintf(c.tls_cert, sizeof(c.tls_cert), "/etc/cert.pem");
    CHECK(config_validate(&c, err, sizeof(err)) == -EINVAL && strstr(err, "tls-key is not"),
          "tls-cert without tls-key is refused (%s)", err);
    snprintf(c.tls_key, sizeof(c.tls_key), "/etc/key.pem");
    CHECK(config_validate(&c, err, sizeof(err)) == 0, "tls-cert with tls-key validates");

    struct config_key secret = *key("tls-key");
    secret.secret = true;
    config_format(&c, &secret, buf, sizeof(buf));
    CHECK(strcmp(buf, "(redacted)") == 0, "a secret key's value is printed as (redacted)");
    config_format(&c, key("tls-key"), buf, sizeof(buf));
    CHECK(strcmp(buf, "/etc/key.pem") == 0, "a key that is not secret is printed as it is");
    size_t secrets = 0;
    for (size_t i = 0; i < config_keys_count; i++)
        secrets += config_keys[i].secret;
    CHECK(secrets == 0, "no key holds a secret today (tokens live in the index, not the config)");
}

static atomic_bool live_stop;
static atomic_int live_torn;

/* Reads the live snapshot in a loop: max_upload and reserve are always set
 * together, so a reader that sees them disagree saw a torn update. */
static void *live_reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&live_stop)) {
        const struct config *c = config_live_lock();
        if (c && c->max_upload != c->reserve)
            atomic_fetch_add(&live_torn, 1);
        config_live_unlock();
    }
    return NULL;
}

static void test_live(void)
{
    struct config c;
    pthread_t t[2];

    CHECK(config_live_lock() == NULL, "before config_live_set there is no live snapshot");
    config_live_unlock();
    config_defaults(&c);
    c.max_upload = c.reserve = 1;
    CHECK(config_live_set(&c) == 0, "config_live_set");
    const struct config *l = config_live_lock();
    CHECK(l && l != &c && l->max_upload == 1, "the live snapshot is a copy of what was set");
    config_live_unlock();
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, live_reader, NULL);
    for (uint64_t v = 2; v < 2000; v++) {
        c.max_upload = c.reserve = v;
        config_live_set(&c);
    }
    atomic_store(&live_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&live_torn) == 0,
          "2 readers never see a half-replaced snapshot over 2000 swaps");
    l = config_live_lock();
    CHECK(l && l->max_upload == 1999, "readers see the last snapshot set");
    config_live_unlock();
    config_live_free();
    CHECK(config_live_lock() == NULL, "config_live_free leaves no snapshot");
    config_live_unlock();
}

/* Whether the file at path contains text exactly. */
static int file_contains(const char *path, const char *text, int whole)
{
    FILE *f = fopen(path, "r");
    static char buf[1 << 20];
    size_t n;

    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return whole ? strcmp(buf, text) == 0 : strstr(buf, text) != NULL;
}

static char *generated(void (*print)(FILE *))
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (!f)
        return NULL;
    print(f);
    fclose(f);
    return s;
}

static void test_docs(void)
{
    char *table = generated(config_print_markdown), *example = generated(config_print_example);

    CHECK(table && file_contains("README.md", table, 0),
          "README.md holds the configuration table exactly as generated "
          "(regenerate: build/tests/test_config --markdown)");
    CHECK(example && file_contains("deploy/ckptd.conf.example", example, 1),
          "deploy/ckptd.conf.example is exactly as generated "
          "(regenerate: build/tests/test_config --example > deploy/ckptd.conf.example)");
    /* The example, uncommented, is a valid config that equals the defaults. */
    if (example) {
        struct config c, d;
        struct config_error e;
        for (char *p = example; (p = strstr(p, "\n#")); p++) {
            if (p[2] >= 'a' && p[2] <= 'z' && strchr(p + 2, '=') < strchr(p + 2, '\n'))
                p[1] = ' ';
        }
        config_defaults(&d);
        memset(&c, 0x55, sizeof(c));
        config_defaults(&c);
        int r = config_parse(&c, example, strlen(example), &e);
        CHECK(r == 0 && memcmp(&c, &d, sizeof(c)) == 0,
              "the example file with every key uncommented parses to the defaults (%u: %s)", e.line,
              e.msg);
    }
    free(table);
    free(example);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
        config_print_markdown(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--example") == 0) {
        config_print_example(stdout);
        return 0;
    }
    test_defaults();
    test_values();
    test_good_files();
    test_bad_files();
    test_load_file();
    test_validate_and_redact();
    test_docs();
    test_live();
    return CHECK_DONE();
}
