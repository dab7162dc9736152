/*
 * qcache.c - qcache.h: a direct-mapped table per event thread, reached
 * through a pthread key so that the thread's exit frees it.
 */
#include "qcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t hash, gen;
    char *mem; /* key, then body; NULL when empty */
    size_t key_len, len;
    int64_t checkpoint_id;
};

struct table {
    unsigned n;
    struct slot slot[];
};

static unsigned slots;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct table *mine;

static void table_free(void *p)
{
    struct table *t = p;
    for (unsigned i = 0; i < t->n; i++)
        free(t->slot[i].mem);
    free(t);
}

static void key_init(void)
{
    if (pthread_key_create(&key, table_free) != 0)
        slots = 0; /* no way to free tables at thread exit: go without */
}

void qcache_configure(unsigned n)
{
    slots = n;
    pthread_once(&key_once, key_init);
}

bool qcache_enabled(void)
{
    return slots > 0;
}

static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static struct slot *find(const char *k, size_t key_len, uint64_t *hash)
{
    *hash = hash_of(k, key_len);
    return &mine->slot[*hash % mine->n];
}

bool qcache_get(const char *k, size_t key_len, uint64_t gen, struct qcache_hit *out)
{
    uint64_t h;

    if (!mine)
        return false;
    struct slot *s = find(k, key_len, &h);
    if (!s->mem || s->hash != h || s->gen != gen || s->key_len != key_len ||
        memcmp(s->mem, k, key_len) != 0)
        return false;
    out->body = s->mem + key_len;
    out->len = s->len;
    out->checkpoint_id = s->checkpoint_id;
    return true;
}

void qcache_put(const char *k, size_t key_len, uint64_t gen, const char *body, size_t len,
                int64_t checkpoint_id)
{
    uint64_t h;

    if (slots == 0 || len > QCACHE_BODY_MAX)
        return;
    if (!mine) {
        struct table *t = calloc(1, sizeof(*t) + slots * sizeof(t->slot[0]));
        if (!t)
            return;
        t->n = slots;
        if (pthread_setspecific(key, t) != 0) {
            free(t);
            return;
        }
        mine = t;
    }
    struct slot *s = find(k, key_len, &h);
    char *mem = realloc(s->mem, key_len + len);
    if (!mem)
        return; /* s->mem is intact and still a valid answer for its own key */
    memcpy(mem, k, key_len);
    memcpy(mem + key_len, body, len);
    *s = (struct slot){.hash = h,
                       .gen = gen,
                       .mem = mem,
                       .key_len = key_len,
                       .len = len,
                       .checkpoint_id = checkpoint_id};
}
