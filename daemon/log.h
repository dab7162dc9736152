/*
 * log.h - one line per event, with a UTC timestamp and a level, on stderr
 * or appended to a log file that SIGHUP reopens (for logrotate). The access
 * log goes to the same place through log_access_line.
 * Never pass secrets or whole request bodies.
 */
#ifndef CKPTD_LOG_H
#define CKPTD_LOG_H

#include <stdbool.h>

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

/* Most to least severe; the order of --log-level's words. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#define LOG_LINE_MAX 1024 /* a longer message is cut */

/* Log messages at most as detailed as level (default LOG_LEVEL_INFO).
 * Thread-safe; takes effect for the next message. */
void log_set_level(enum log_level level);

/* Whether a message at level would be written (to skip costly formatting). */
bool log_enabled(enum log_level level);

/* Send every log line (and anything else written to stderr) to path,
 * opened for appending (created 0640 if missing); NULL or "" returns to
 * the original stderr. Call from one thread (main): writers on other
 * threads switch atomically, no line is lost or split. Returns 0, or a
 * negative errno with the previous destination kept. */
int log_open_file(const char *path);

/* Write "ckptd: MESSAGE\n" to the log's destination and, while a log file
 * replaces stderr, to the original stderr too: a fatal start-up error must
 * reach the operator's terminal (or the journal) as well as the log. */
void log_startup_error(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Open the current log file's path again (logrotate moved it away):
 * log_open_file with the same path. 0 when logging to stderr. */
int log_reopen(void);

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Write line as it is, plus a newline if it has none, to the log's
 * destination in one write: no timestamp, no level, no filtering (for the
 * access log, which formats its own lines). Thread-safe. */
void log_access_line(const char *line);

/* Write one access-log line (access_log.h formats it; no newline) to the
 * same sink as the other lines, as is: no timestamp or level prefix, so
 * each line stays one JSON object or one Common Log Format entry. */
void log_access(const char *line);

#endif
