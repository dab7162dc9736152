/*
 * qcache.h - recent answers to index queries (a run's best checkpoint, a
 * page of a listing), kept by each event thread and tagged with the index
 * generation (index_generation) read before the query. An answer is
 * served only while the generation is unchanged, so no write is ever
 * hidden by it: a commit makes every older answer a miss.
 *
 * Each thread has its own table, so lookups take no lock. A table has
 * a fixed number of slots (qcache_configure), one answer per slot, chosen
 * by the key's hash; a new answer replaces the slot's old one. Answers
 * over QCACHE_BODY_MAX bytes are not kept.
 */
#ifndef CKPTD_QCACHE_H
#define CKPTD_QCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCACHE_BODY_MAX (16u << 10)

/* Slots per thread; 0 turns the cache off. Call before any lookup. */
void qcache_configure(unsigned slots);

/* False when the cache is off: callers need not build keys. */
bool qcache_enabled(void);

struct qcache_hit {
    const char *body; /* valid until this thread's next qcache_put */
    size_t len;
    int64_t checkpoint_id; /* for the access log; 0 for none */
};

/* The answer stored under key at generation gen, if there is one. */
bool qcache_get(const char *key, size_t key_len, uint64_t gen, struct qcache_hit *out);

/* Keep a copy of body under key, read at generation gen. Best effort:
 * out of memory or a body over QCACHE_BODY_MAX just keeps nothing. */
void qcache_put(const char *key, size_t key_len, uint64_t gen, const char *body, size_t len,
                int64_t checkpoint_id);

#endif
