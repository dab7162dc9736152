/*
 * log.c - timestamped lines on stderr; one write per line so threads do not
 * interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The one place lines leave: errors, info and access lines share a sink. */
static void emit(const char *line, size_t n)
{
    (void)!write(STDERR_FILENO, line, n);
}

static void vlog(const char *level, const char *fmt, va_list ap) LOG_PRINTF(2, 0);

static void vlog(const char *level, const char *fmt, va_list ap)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    int n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ckptd %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), level);
    if (n < 0)
        return;
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    emit(line, (size_t)n);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error", fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("info", fmt, ap);
    va_end(ap);
}

void log_access(const char *line)
{
    size_t n = strlen(line);
    char *buf = malloc(n + 1);

    /* One write per line, newline included, so lines from several
     * threads never interleave. */
    if (!buf) {
        emit(line, n);
        emit("\n", 1);
        return;
    }
    memcpy(buf, line, n);
    buf[n] = '\n';
    emit(buf, n + 1);
    free(buf);
}
