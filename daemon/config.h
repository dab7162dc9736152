/*
 * config.h - ckptd's configuration as one table of keys (name, type,
 * default, bounds, reloadable, secret, help), the `key = value` file parser,
 * and the live snapshot the running daemon reads its limits from.
 * The parsers are pure; only config_load_file reads a file and only the
 * config_live_* functions touch process-wide state.
 */
#ifndef CKPTD_CONFIG_H
#define CKPTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 1024                 /* a string or path value, bytes with the NUL */
#define CONFIG_LINE_MAX 4096                /* one line of a config file */
#define CONFIG_FILE_MAX (1 << 20)           /* a whole config file */
#define CONFIG_ERR_MAX 512                  /* an error message */
#define SHUTDOWN_TIMEOUT_MAX 3600           /* --shutdown-timeout, seconds */
#define SCRUB_INTERVAL_MAX (366ULL * 86400) /* --scrub-interval, seconds */
#define SCRUB_RATE_MAX 100000               /* --scrub-rate, MB/s */
/* A size or integer key whose default is "auto" also takes "auto", stored
 * as this. */
#define CONFIG_AUTO UINT64_MAX

enum config_type {
    CFG_STRING,   /* free text */
    CFG_PATH,     /* a file name; "" means unset */
    CFG_ADDRESS,  /* HOST:PORT or [V6]:PORT */
    CFG_BOOL,     /* true/false, yes/no, on/off, 1/0 */
    CFG_SIZE,     /* bytes, optional K, M, G, T suffix (powers of 1024) */
    CFG_DURATION, /* seconds, optional s, m, h, d suffix */
    CFG_INT,      /* a decimal integer */
    CFG_ENUM,     /* one of a list of words, stored as its index */
};

enum log_level_value { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };
enum log_format_value { CFG_LOG_JSON, CFG_LOG_COMMON };

/* Every setting ckptd has. A plain value: copy it with '='. Sizes,
 * durations (seconds) and integers are uint64_t; enums are indexes. */
struct config {
    char listen[CONFIG_STR_MAX];
    char data[CONFIG_STR_MAX];
    uint64_t max_upload;
    uint64_t threads;
    uint64_t query_cache;
    uint64_t max_uploads;
    uint64_t max_uploads_per_ip;
    uint64_t header_timeout;
    uint64_t min_upload_rate;
    uint64_t upload_rate_window;
    bool insecure;
    uint64_t shutdown_timeout;
    char log_file[CONFIG_STR_MAX]; /* "": stderr */
    int log_level;                 /* enum log_level_value */
    int log_format;                /* enum log_format_value */
    char tls_cert[CONFIG_STR_MAX];
    char tls_key[CONFIG_STR_MAX];
    uint64_t max_disk; /* 0: no limit */
    uint64_t reserve;
    char default_policy[CONFIG_STR_MAX];
    uint64_t scrub_interval; /* seconds; 0: never */
    uint64_t scrub_rate;     /* MB/s; 0: unlimited */
};

/* One row of the table. Numeric bounds are inclusive. */
struct config_key {
    const char *name; /* as in the file; --name on the command line */
    enum config_type type;
    size_t offset, size;        /* where the value lives in struct config */
    const char *def;            /* default, written as in a config file */
    uint64_t min, max;          /* numeric types */
    const char *const *choices; /* CFG_ENUM: NULL-terminated words */
    bool reloadable;            /* SIGHUP applies a new value */
    bool secret;                /* never printed */
    const char *metavar;        /* placeholder in --help */
    const char *help;           /* one line */
};

/* Where a file failed: line is 0 when the problem is not on one line. */
struct config_error {
    unsigned line;
    char msg[CONFIG_ERR_MAX];
};

/* The table, in display order, and its length. */
extern const struct config_key config_keys[];
extern const size_t config_keys_count;

/* The row named name (exactly), or NULL. */
const struct config_key *config_key_find(const char *name);

/* Fill c with every key's default. */
void config_defaults(struct config *c);

/* Parse value for key k and store it in c. Returns 0; -EINVAL (malformed
 * or not one of the choices) or -ERANGE (outside the bounds) with the
 * reason in err (err_size bytes), which names the key as label (e.g.
 * "--max-upload"; NULL: the key's name); c untouched on failure. */
int config_set(struct config *c, const struct config_key *k, const char *value, const char *label,
               char *err, size_t err_size);

/* Parse a whole config file's text (len bytes, need not be NUL-terminated)
 * on top of c: `key = value` lines, '#' comments (a whole line, or from a
 * '#' that starts a value or follows whitespace, outside quotes), blank
 * lines, values optionally in double or single quotes (no escapes; an
 * empty value must be written ""). A key may appear once. Returns 0, or -EINVAL / -ERANGE /
 * -ENOENT (unknown key) with err->line and err->msg set; c is untouched on
 * failure. Pure: no I/O, no allocation. */
int config_parse(struct config *c, const char *text, size_t len, struct config_error *err);

/* Read path (at most CONFIG_FILE_MAX bytes) and config_parse it onto c.
 * A file that cannot be read gives its negative errno with err->line 0. */
int config_load_file(struct config *c, const char *path, struct config_error *err);

/* Checks across keys (tls-cert and tls-key go together). 0 or -EINVAL with
 * the reason in err. */
int config_validate(const struct config *c, char *err, size_t err_size);

/* k's value in c as config-file text ("" quoted, sizes and durations with
 * the largest exact suffix), or "(redacted)" for a secret key. */
void config_format(const struct config *c, const struct config_key *k, char *buf, size_t size);

/* Whether k has the same value in a and b. */
bool config_equal(const struct config *a, const struct config *b, const struct config_key *k);

/* Copy k's value from src to dst. */
void config_copy_key(struct config *dst, const struct config *src, const struct config_key *k);

/* Type name and bounds of k, for --help and the README table. */
const char *config_type_name(const struct config_key *k);
void config_bounds(const struct config_key *k, char *buf, size_t size);

/* The README's "## Configuration" table (markdown), and the example file
 * with every key commented out at its default. */
void config_print_markdown(FILE *f);
void config_print_example(FILE *f);

/* The live configuration: one snapshot for the whole process, replaced on
 * SIGHUP. config_live_set copies c in (0 or -ENOMEM). Readers hold the
 * lock only while they copy out what they need:
 *     const struct config *c = config_live_lock();
 *     uint64_t reserve = c->reserve;
 *     config_live_unlock();
 * config_live_lock returns NULL before the first config_live_set. Safe
 * from any thread; config_live_free at exit. */
int config_live_set(const struct config *c);
const struct config *config_live_lock(void);
void config_live_unlock(void);
void config_live_free(void);

#endif
