/*
 * log.c - timestamped lines on stderr, which may be pointed at a log file;
 * one write per line so threads do not interleave, and the file is swapped
 * under the writers with dup2, which is atomic.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The one place lines leave: errors, info and access lines share a sink,
 * stderr, which log_open_file points at the log file. */
static void emit(const char *line, size_t n)
{
    (void)!write(STDERR_FILENO, line, n);
}

static atomic_int max_level = LOG_LEVEL_INFO;
/* Touched only by the thread that calls log_open_file (main). */
static char log_path[PATH_MAX];
static int saved_stderr = -1; /* the original stderr while a file replaces it */

void log_set_level(enum log_level level)
{
    atomic_store(&max_level, (int)level);
}

bool log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&max_level);
}

int log_open_file(const char *path)
{
    int fd;

    if (!path || !*path) {
        if (saved_stderr >= 0) {
            if (dup2(saved_stderr, STDERR_FILENO) < 0)
                return -errno;
            close(saved_stderr);
            saved_stderr = -1;
        }
        log_path[0] = '\0';
        return 0;
    }
    if (strlen(path) >= sizeof(log_path))
        return -ENAMETOOLONG;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -errno;
    if (saved_stderr < 0) {
        saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (saved_stderr < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
    }
    if (dup2(fd, STDERR_FILENO) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    close(fd);
    if (log_path != path)
        memmove(log_path, path, strlen(path) + 1);
    return 0;
}

int log_reopen(void)
{
    return log_path[0] ? log_open_file(log_path) : 0;
}

void log_startup_error(const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    int n = snprintf(line, sizeof(line), "ckptd: ");

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
    if (saved_stderr >= 0)
        (void)!write(saved_stderr, line, (size_t)n);
}

static void vlog(enum log_level level, const char *fmt, va_list ap) LOG_PRINTF(2, 0);

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    int n;

    if (!log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ckptd %s: ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                 names[level]);
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
    vlog(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_INFO, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_DEBUG, fmt, ap);
    va_end(ap);
}

void log_access_line(const char *line)
{
    size_t len = strlen(line);
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};

    /* One writev: with O_APPEND the line lands whole, never interleaved. */
    (void)!writev(STDERR_FILENO, iov, len && line[len - 1] == '\n' ? 1 : 2);
}

void log_access(const char *line)
{
    log_access_line(line);
}
