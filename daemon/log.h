/*
 * log.h - one line per event on stderr, with a UTC timestamp and a level.
 * Never pass secrets or whole request bodies.
 */
#ifndef CKPTD_LOG_H
#define CKPTD_LOG_H

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Write one access-log line (access_log.h formats it; no newline) to the
 * same sink as the other lines, as is: no timestamp or level prefix, so
 * each line stays one JSON object or one Common Log Format entry. */
void log_access(const char *line);

#endif
