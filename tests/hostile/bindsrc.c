/*
 * bindsrc.c - an LD_PRELOAD shim for the soak test (tests/integration/68_soak.sh): binds every
 * IPv4 socket that connects to 127.0.0.0/8 to the next source address listed in $BINDSRC
 * (comma-separated, e.g. "127.0.0.3,127.0.0.4"), round robin, so that one load generator (wrk)
 * can hold more connections than ckptd allows from a single address (200).
 *
 *   cc -shared -fPIC -O2 -o bindsrc.so tests/hostile/bindsrc.c -ldl
 *   BINDSRC=127.0.0.3,127.0.0.4 LD_PRELOAD=$PWD/bindsrc.so wrk -c 256 ...
 *
 * A socket that is already bound keeps its address (bind fails and is ignored).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BINDSRC_MAX 16

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn real_connect;
static struct in_addr addrs[BINDSRC_MAX];
static unsigned n_addrs;
static atomic_uint next_addr;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void bindsrc_init(void)
{
    const char *env = getenv("BINDSRC");
    char buf[512], *save = NULL, *tok;

    real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    if (!env)
        return;
    strncpy(buf, env, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    for (tok = strtok_r(buf, ",", &save); tok && n_addrs < BINDSRC_MAX; tok = strtok_r(NULL, ",", &save)) {
        if (inet_pton(AF_INET, tok, &addrs[n_addrs]) == 1)
            n_addrs++;
    }
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    pthread_once(&once, bindsrc_init);
    if (n_addrs > 0 && sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *dst = (const struct sockaddr_in *)sa;
        if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127) {
            struct sockaddr_in src;
            memset(&src, 0, sizeof(src));
            src.sin_family = AF_INET;
            src.sin_addr = addrs[atomic_fetch_add(&next_addr, 1) % n_addrs];
            (void)bind(fd, (const struct sockaddr *)&src, sizeof(src));
        }
    }
    return real_connect(fd, sa, len);
}
