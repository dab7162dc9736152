/*
 * test_access_log.c - unit tests for daemon/access_log.c: the --log-format
 * parser, the JSON line (escaping, %XX for bytes >= 0x80, null checkpoint)
 * and the Common Log Format line (\xXX escapes, '-' for 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "check.h"

static struct access_entry sample(void)
{
    struct access_entry e = {
        .time_ms = 1795938866279, /* 2026-11-29T07:54:26.279Z */
        .remote = "127.0.0.1",
        .token_id = NULL,
        .method = "PUT",
        .path = "/v1/runs/r1/checkpoints?epoch=1",
        .version = "HTTP/1.1",
        .status = 201,
        .bytes_in = 100000,
        .bytes_out = 213,
        .duration_us = 12504,
        .checkpoint_id = 1,
        .outcome = "completed",
    };
    return e;
}

static void check_line(enum log_format f, const struct access_entry *e, const char *want,
                       const char *what)
{
    char *line = access_log_format(f, e);
    CHECK(line && strcmp(line, want) == 0, "%s: %s", what, line ? line : "(null)");
    if (line && strcmp(line, want) != 0)
        printf("# want: %s\n", want);
    free(line);
}

int main(void)
{
    enum log_format f = LOG_FORMAT_COMMON;
    struct access_entry e = sample();

    CHECK(access_log_parse_format("json", &f) == 0 && f == LOG_FORMAT_JSON, "\"json\" parses");
    CHECK(access_log_parse_format("common", &f) == 0 && f == LOG_FORMAT_COMMON,
          "\"common\" parses");
    f = LOG_FORMAT_JSON;
    CHECK(access_log_parse_format("JSON", &f) == -EINVAL && f == LOG_FORMAT_JSON,
          "\"JSON\" is refused, out untouched");
    CHECK(access_log_parse_format("", &f) == -EINVAL, "\"\" is refused");

    check_line(LOG_FORMAT_JSON, &e,
               "{\"time\":\"2026-11-29T07:54:26.279Z\",\"remote\":\"127.0.0.1\",\"token\":\"-\","
               "\"method\":\"PUT\",\"path\":\"/v1/runs/r1/checkpoints?epoch=1\",\"status\":201,"
               "\"bytes_in\":100000,\"bytes_out\":213,\"duration_ms\":12.504,"
               "\"checkpoint_id\":1,\"outcome\":\"completed\"}",
               "a JSON line has every field in order");
    check_line(LOG_FORMAT_COMMON, &e,
               "127.0.0.1 - - [29/Nov/2026:07:54:26 +0000] \"PUT /v1/runs/r1/checkpoints?epoch=1 "
               "HTTP/1.1\" 201 213 12.504",
               "a CLF line with the duration appended");

    e.path = "/x\"y\\z\n\x01\xc3\xa9";
    e.token_id = "0a1b2c3d4e5f6a7b";
    e.status = 0;
    e.bytes_out = 0;
    e.checkpoint_id = 0;
    e.outcome = "aborted";
    check_line(LOG_FORMAT_JSON, &e,
               "{\"time\":\"2026-11-29T07:54:26.279Z\",\"remote\":\"127.0.0.1\","
               "\"token\":\"0a1b2c3d4e5f6a7b\",\"method\":\"PUT\","
               "\"path\":\"/x\\\"y\\\\z\\n\\u0001%C3%A9\",\"status\":0,\"bytes_in\":100000,"
               "\"bytes_out\":0,\"duration_ms\":12.504,\"checkpoint_id\":null,"
               "\"outcome\":\"aborted\"}",
               "JSON: quote, backslash, controls escaped; bytes >= 0x80 as %XX; null checkpoint");
    check_line(LOG_FORMAT_COMMON, &e,
               "127.0.0.1 - 0a1b2c3d4e5f6a7b [29/Nov/2026:07:54:26 +0000] "
               "\"PUT /x\\x22y\\x5Cz\\x0A\\x01\\xC3\\xA9 HTTP/1.1\" - - 12.504",
               "CLF: token id as authuser, hostile bytes as \\xXX, '-' for status and bytes 0");

    e = sample();
    e.method = "GE\"T";
    e.remote = NULL;
    e.version = NULL;
    check_line(LOG_FORMAT_COMMON, &e,
               "- - - [29/Nov/2026:07:54:26 +0000] \"GE\\x22T /v1/runs/r1/checkpoints?epoch=1 -\" "
               "201 213 12.504",
               "CLF: a quote in the method is escaped; unknown remote and version are '-'");

    /* Durations: whole microseconds, printed as ms with exactly three decimals. */
    static const struct {
        uint64_t us;
        const char *ms;
    } durations[] = {{0, "0.000"},    {7, "0.007"},          {40, "0.040"},          {999, "0.999"},
                     {1000, "1.000"}, {1234567, "1234.567"}, {60000010, "60000.010"}};
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char want[512];
        e = sample();
        e.duration_us = durations[i].us;
        snprintf(want, sizeof(want),
                 "{\"time\":\"2026-11-29T07:54:26.279Z\",\"remote\":\"127.0.0.1\",\"token\":\"-\","
                 "\"method\":\"PUT\",\"path\":\"/v1/runs/r1/checkpoints?epoch=1\",\"status\":201,"
                 "\"bytes_in\":100000,\"bytes_out\":213,\"duration_ms\":%s,"
                 "\"checkpoint_id\":1,\"outcome\":\"completed\"}",
                 durations[i].ms);
        check_line(LOG_FORMAT_JSON, &e, want, "JSON duration");
        snprintf(want, sizeof(want),
                 "127.0.0.1 - - [29/Nov/2026:07:54:26 +0000] \"PUT /v1/runs/r1/checkpoints?epoch=1 "
                 "HTTP/1.1\" 201 213 %s",
                 durations[i].ms);
        check_line(LOG_FORMAT_COMMON, &e, want, "CLF duration");
    }
    return CHECK_DONE();
}
