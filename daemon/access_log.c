/*
 * access_log.c - access_log.h: the two line formats.
 */
#include "access_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt_limits.h"
#include "json.h"

/* Escaping can multiply a RAW_URI_MAX target by four; the rest is small. */
#define ACCESS_LINE_MAX (4 * RAW_URI_MAX + 4096)

int access_log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else if (strcmp(s, "common") == 0)
        *out = LOG_FORMAT_COMMON;
    else
        return -EINVAL;
    return 0;
}

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

/* s with bytes >= 0x80 as %XX (or, for CLF, also '"', '\\' and controls
 * as \xXX), so the result is printable ASCII plus what json_str escapes. */
static char *escape_bytes(const char *s, bool clf)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(4 * n + 1), *o = out;

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool bad = *p >= 0x80 || (clf && (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\'));
        if (!bad) {
            *o++ = (char)*p;
        } else if (clf) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static char *format_json(const struct access_entry *e, const char *method, const char *path)
{
    struct json j;

    json_init(&j, ACCESS_LINE_MAX);
    json_raw(&j, "{\"time\":");
    json_time_ms(&j, e->time_ms);
    json_raw(&j, ",\"remote\":");
    json_str(&j, dash(e->remote));
    json_raw(&j, ",\"token\":");
    json_str(&j, dash(e->token_id));
    json_raw(&j, ",\"method\":");
    json_str(&j, method);
    json_raw(&j, ",\"path\":");
    json_str(&j, path);
    json_raw(&j, ",\"status\":");
    json_int(&j, e->status);
    json_raw(&j, ",\"bytes_in\":");
    json_int(&j, (int64_t)e->bytes_in);
    json_raw(&j, ",\"bytes_out\":");
    json_int(&j, (int64_t)e->bytes_out);
    json_raw(&j, ",\"duration_ms\":");
    json_int(&j, (int64_t)(e->duration_us / 1000));
    unsigned us = (unsigned)(e->duration_us % 1000);
    char frac[] = {'.', (char)('0' + us / 100), (char)('0' + us / 10 % 10), (char)('0' + us % 10),
                   '\0'};
    json_raw(&j, frac);
    json_raw(&j, ",\"checkpoint_id\":");
    if (e->checkpoint_id > 0)
        json_int(&j, e->checkpoint_id);
    else
        json_raw(&j, "null");
    json_raw(&j, ",\"outcome\":");
    json_str(&j, dash(e->outcome));
    json_raw(&j, "}");
    return json_detach(&j, NULL);
}

/* host ident authuser [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 2326 DURATION_MS */
static char *format_common(const struct access_entry *e, const char *method, const char *path)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t secs = (time_t)(e->time_ms / 1000);
    struct tm tm;
    char bytes[24], status[16];
    size_t size = strlen(method) + strlen(path) + 512;
    char *line = malloc(size);

    if (!line)
        return NULL;
    if (!gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof(tm));
    if (e->bytes_out)
        snprintf(bytes, sizeof(bytes), "%" PRIu64, e->bytes_out);
    else
        snprintf(bytes, sizeof(bytes), "-");
    if (e->status)
        snprintf(status, sizeof(status), "%u", e->status);
    else
        snprintf(status, sizeof(status), "-");
    /* version comes from libmicrohttpd, which accepts only HTTP/1.x. */
    snprintf(line, size,
             "%s - %s [%02d/%s/%04d:%02d:%02d:%02d +0000] \"%s %s %s\" %s %s %" PRIu64 ".%03u",
             dash(e->remote), dash(e->token_id), tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, method, path, dash(e->version),
             status, bytes, e->duration_us / 1000, (unsigned)(e->duration_us % 1000));
    return line;
}

char *access_log_format(enum log_format f, const struct access_entry *e)
{
    bool clf = f == LOG_FORMAT_COMMON;
    char *path = escape_bytes(e->path ? e->path : "-", clf);
    char *method = escape_bytes(dash(e->method), clf);
    char *line = NULL;

    if (path && method)
        line = clf ? format_common(e, method, path) : format_json(e, method, path);
    free(path);
    free(method);
    return line;
}
