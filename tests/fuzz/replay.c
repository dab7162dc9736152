/*
 * replay.c - a libFuzzer harness without libFuzzer: every file of the corpus
 * directories (or the files) named on the command line goes through
 * LLVMFuzzerTestOneInput once, each in its own child process so that a crash,
 * a sanitizer report or a hang names the input that caused it.
 * Usage: fuzz_NAME DIR|FILE...   Prints `ok - fuzz_NAME: N inputs replayed`,
 * or one `not ok - fuzz_NAME: FILE ...` line per failing input; exit 1 then.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

/* Seconds one input may take before it counts as a hang (libFuzzer's own
 * default -timeout is 1200 s; the corpus inputs take microseconds). */
#define REPLAY_TIMEOUT_S 20
#define REPLAY_MAX_INPUT (1u << 20)

static const char *harness;

/* Read path into an exactly sized buffer. Returns 0 or a negative errno. */
static int read_input(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf = NULL;

    if (!f)
        return -errno;
    if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || st.st_size > REPLAY_MAX_INPUT) {
        fclose(f);
        return -EFBIG;
    }
    buf = fuzz_alloc((size_t)st.st_size);
    if (st.st_size > 0 && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        fclose(f);
        return -EIO;
    }
    fclose(f);
    *data = buf;
    *size = (size_t)st.st_size;
    return 0;
}

/* Run one input in a child. Returns true when it finished cleanly. */
static bool replay_one(const char *path)
{
    uint8_t *data = NULL;
    size_t size = 0;
    int status;
    int r = read_input(path, &data, &size);

    if (r < 0) {
        printf("not ok - %s: %s cannot be read: %s\n", harness, path, strerror(-r));
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("not ok - %s: cannot fork for %s: %s\n", harness, path, strerror(errno));
        free(data);
        return false;
    }
    if (pid == 0) {
        alarm(REPLAY_TIMEOUT_S);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
    }
    free(data);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            printf("not ok - %s: cannot wait for %s: %s\n", harness, path, strerror(errno));
            return false;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        printf("not ok - %s: %s hangs (over %d s)\n", harness, path, REPLAY_TIMEOUT_S);
    else if (WIFSIGNALED(status))
        printf("not ok - %s: %s crashes (signal %d, %s)\n", harness, path, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
        printf("not ok - %s: %s fails (exit status %d; sanitizer report above)\n", harness, path,
               WEXITSTATUS(status));
    return false;
}

static int skip_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replay every regular file in dir, in name order. */
static void replay_dir(const char *dir, unsigned *ran, unsigned *failed)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_hidden, alphasort);

    if (n < 0) {
        printf("not ok - %s: cannot read corpus %s: %s\n", harness, dir, strerror(errno));
        (*failed)++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            (*ran)++;
            if (!replay_one(path))
                (*failed)++;
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    unsigned ran = 0, failed = 0;
    struct stat st;

    harness = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            replay_dir(argv[i], &ran, &failed);
        } else {
            ran++;
            if (!replay_one(argv[i]))
                failed++;
        }
    }
    if (ran == 0) {
        printf("not ok - %s: no inputs to replay\n", harness);
        return 1;
    }
    if (failed == 0)
        printf("ok - %s: %u inputs replayed\n", harness, ran);
    return failed ? 1 : 0;
}
