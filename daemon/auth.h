/*
 * auth.h - API tokens: minting them, checking a request's bearer token
 * against the index, and throttling addresses that keep failing.
 * Tokens look like ID.SECRET; only SHA-256(SECRET) is ever stored, and
 * neither part is logged.
 */
#ifndef CKPTD_AUTH_H
#define CKPTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "index.h"

#define AUTH_ID_HEX 16     /* 64-bit token ids */
#define AUTH_SECRET_HEX 64 /* 256-bit secrets */
#define AUTH_TOKEN_TEXT_MAX (AUTH_ID_HEX + 1 + AUTH_SECRET_HEX + 1)
#define AUTH_FAILURES_PER_MINUTE 20 /* per address, then 429 */
#define AUTH_TRACKED_ADDRESSES 256
/* While no token exists, a daemon takes "none" from the index at most this
 * often; `ckptd token add` waits this long after adding one (auth_settle),
 * so by the time it returns a running daemon enforces the token. */
#define AUTH_OPEN_RECHECK_MS 100

struct auth;

/* Checks requests against the tokens in ix (borrowed; must outlive it). */
int auth_new(struct index *ix, struct auth **out);
void auth_free(struct auth *a);

/* Mint a token for name with role and run prefix ("" for all runs) from
 * OpenSSL's RAND_bytes: fills *row for index_token_add and writes the
 * "ID.SECRET" text, which exists nowhere else, to text. Returns 0 or
 * -EIO when the random generator fails. */
int auth_mint(const char *name, enum role role, const char *prefix, int64_t now_ms,
              struct token_row *row, char text[AUTH_TOKEN_TEXT_MAX]);

enum auth_result {
    AUTH_OPEN,      /* no token exists: the server is open */
    AUTH_OK,        /* *grant says what the token may do */
    AUTH_MISSING,   /* no credentials: 401 */
    AUTH_BAD,       /* malformed, unknown, wrong or revoked: 401 */
    AUTH_THROTTLED, /* too many failures from this address: 429 */
    AUTH_ERROR,     /* the index failed: 503 */
};

struct auth_grant {
    enum role role;
    char run_prefix[RUN_NAME_MAX + 1];
    char token_id[AUTH_ID_HEX + 1]; /* the id part, for the access log */
};

/* Wait until no running daemon can still answer from a "no token" it read
 * before the caller's token commit: call after committing a new token. */
void auth_settle(void);

/* Check an Authorization header value (NULL when absent) from peer.
 * Failures count against the peer's address. Thread-safe. */
enum auth_result auth_check(struct auth *a, const char *authorization, const struct sockaddr *peer,
                            struct auth_grant *grant);

/* Overwrite a secret in memory so it does not outlive its use. */
void auth_wipe(void *p, size_t n);

/* Whether a grant covers run (its name starts with the grant's prefix). */
bool auth_covers_run(const struct auth_grant *g, const char *run);

#endif
