/*
 * auth.c - bearer tokens; see auth.h. With digest.c the only file that
 * includes OpenSSL: RAND_bytes for secrets, CRYPTO_memcmp to compare.
 */
#include "auth.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "digest.h"

struct failure_slot {
    bool used;
    unsigned char addr[16]; /* IPv4 mapped into the first 4 bytes */
    int family;
    time_t window; /* when the current minute-long window began */
    unsigned count;
};

struct auth {
    struct index *ix;
    /* Once a token exists, one always does: revoking keeps the row (the
     * token commands never delete one), so the answer is kept rather than
     * asked of the index on every request. Until then, an answer of "none"
     * is trusted until open_until (CLOCK_MONOTONIC ms): AUTH_OPEN_RECHECK_MS
     * after the clock was read, before the question was asked. */
    atomic_bool any_token;
    _Atomic int64_t open_until;
    pthread_mutex_t lock;
    struct failure_slot slots[AUTH_TRACKED_ADDRESSES];
    unsigned next_evict;
};

int auth_new(struct index *ix, struct auth **out)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->ix = ix;
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void auth_settle(void)
{
    /* A daemon uses a "no token" answer for less than
     * AUTH_OPEN_RECHECK_MS + 1 ms after asking (mono_ms truncates), and
     * any answer that missed the caller's token was asked before it
     * committed. */
    struct timespec d = {.tv_sec = 0, .tv_nsec = (AUTH_OPEN_RECHECK_MS + 1) * 1000000L};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, &d) == EINTR)
        ;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int secret_digest(const char *secret, size_t len, uint8_t out[SHA256_LEN])
{
    struct sha256 *h = sha256_new();
    int r = h ? sha256_update(h, secret, len) : -ENOMEM;
    if (r == 0)
        r = sha256_final(h, out);
    sha256_free(h);
    return r;
}

int auth_mint(const char *name, enum role role, const char *prefix, int64_t now_ms,
              struct token_row *row, char text[AUTH_TOKEN_TEXT_MAX])
{
    unsigned char id[AUTH_ID_HEX / 2], secret[AUTH_SECRET_HEX / 2];
    char secret_hex[AUTH_SECRET_HEX + 1];
    int r;

    if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        return -EIO;
    memset(row, 0, sizeof(*row));
    to_hex(id, sizeof(id), row->id);
    to_hex(secret, sizeof(secret), secret_hex);
    snprintf(row->name, sizeof(row->name), "%s", name);
    snprintf(row->run_prefix, sizeof(row->run_prefix), "%s", prefix ? prefix : "");
    row->role = role;
    row->created_ms = now_ms;
    r = secret_digest(secret_hex, AUTH_SECRET_HEX, row->secret_sha256);
    if (r == 0) {
        memcpy(text, row->id, AUTH_ID_HEX);
        text[AUTH_ID_HEX] = '.';
        memcpy(text + AUTH_ID_HEX + 1, secret_hex, AUTH_SECRET_HEX + 1);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(secret_hex, sizeof(secret_hex));
    return r;
}

/* The slot for peer's address in the failure table, or NULL. */
static struct failure_slot *slot_for(struct auth *a, const struct sockaddr *peer, bool create)
{
    unsigned char addr[16] = {0};
    int family = peer ? peer->sa_family : AF_UNSPEC;

    if (family == AF_INET)
        memcpy(addr, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
    else if (family == AF_INET6)
        memcpy(addr, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
    for (unsigned i = 0; i < AUTH_TRACKED_ADDRESSES; i++) {
        struct failure_slot *s = &a->slots[i];
        if (s->used && s->family == family && memcmp(s->addr, addr, 16) == 0)
            return s;
    }
    if (!create)
        return NULL;
    /* A full table forgets round-robin: bounded memory beats perfect
     * memory of every address that ever failed. */
    struct failure_slot *s = &a->slots[a->next_evict];
    a->next_evict = (a->next_evict + 1) % AUTH_TRACKED_ADDRESSES;
    for (unsigned i = 0; i < AUTH_TRACKED_ADDRESSES; i++) {
        if (!a->slots[i].used) {
            s = &a->slots[i];
            break;
        }
    }
    memset(s, 0, sizeof(*s));
    s->used = true;
    s->family = family;
    memcpy(s->addr, addr, 16);
    return s;
}

/* A window opens at an address's first failure and lasts 60 s: past
 * AUTH_FAILURES_PER_MINUTE failures in it, the address waits for its end
 * (a sliding start, not calendar minutes, so the wait is never cut short
 * by a minute boundary). */
static bool throttled(struct auth *a, const struct sockaddr *peer)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&a->lock);
    struct failure_slot *s = slot_for(a, peer, false);
    bool t = s && now - s->window < 60 && s->count >= AUTH_FAILURES_PER_MINUTE;
    pthread_mutex_unlock(&a->lock);
    return t;
}

static void record_failure(struct auth *a, const struct sockaddr *peer)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&a->lock);
    struct failure_slot *s = slot_for(a, peer, true);
    if (now - s->window >= 60) {
        s->window = now;
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&a->lock);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

enum auth_result auth_check(struct auth *a, const char *authorization, const struct sockaddr *peer,
                            struct auth_grant *grant)
{
    struct token_row row;
    uint8_t digest[SHA256_LEN];
    char id[AUTH_ID_HEX + 1];
    bool any;

    any = atomic_load_explicit(&a->any_token, memory_order_relaxed);
    if (!any) {
        /* Read before asking: the index's answer is at least this recent,
         * so a token committed after it is seen once open_until passes. */
        int64_t now = mono_ms();
        if (now < atomic_load_explicit(&a->open_until, memory_order_relaxed))
            return AUTH_OPEN;
        if (index_tokens_exist(a->ix, &any) < 0)
            return AUTH_ERROR;
        if (!any) {
            atomic_store_explicit(&a->open_until, now + AUTH_OPEN_RECHECK_MS, memory_order_relaxed);
            return AUTH_OPEN;
        }
        atomic_store_explicit(&a->any_token, true, memory_order_relaxed);
    }
    if (throttled(a, peer))
        return AUTH_THROTTLED;
    if (!authorization) {
        record_failure(a, peer);
        return AUTH_MISSING;
    }
    /* "Bearer ID.SECRET", the scheme case-insensitive (RFC 9110). */
    const char *t = authorization;
    if (strncasecmp(t, "Bearer ", 7) != 0)
        goto bad;
    t += 7;
    while (*t == ' ')
        t++;
    if (strlen(t) != AUTH_ID_HEX + 1 + AUTH_SECRET_HEX || t[AUTH_ID_HEX] != '.' ||
        !all_hex(t, AUTH_ID_HEX) || !all_hex(t + AUTH_ID_HEX + 1, AUTH_SECRET_HEX))
        goto bad;
    memcpy(id, t, AUTH_ID_HEX);
    id[AUTH_ID_HEX] = '\0';
    int r = index_token_get(a->ix, id, &row);
    if (r == -ENOENT)
        goto bad;
    if (r < 0)
        return AUTH_ERROR;
    if (secret_digest(t + AUTH_ID_HEX + 1, AUTH_SECRET_HEX, digest) < 0)
        return AUTH_ERROR;
    /* Constant time: how much of a guess matched must not show in timing. */
    if (CRYPTO_memcmp(digest, row.secret_sha256, SHA256_LEN) != 0 || row.revoked)
        goto bad;
    grant->role = row.role;
    memcpy(grant->token_id, id, sizeof(grant->token_id));
    snprintf(grant->run_prefix, sizeof(grant->run_prefix), "%s", row.run_prefix);
    return AUTH_OK;
bad:
    record_failure(a, peer);
    return AUTH_BAD;
}

void auth_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

bool auth_covers_run(const struct auth_grant *g, const char *run)
{
    return strncmp(run, g->run_prefix, strlen(g->run_prefix)) == 0;
}
