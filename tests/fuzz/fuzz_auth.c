/*
 * fuzz_auth.c - the Authorization header syntax, "Bearer ID.SECRET". There is
 * no pure parser for it (auth_check parses and looks the id up in one step),
 * so this fuzzes auth_check against a real index in a temporary directory
 * holding two tokens with fixed text: GOOD_TOKEN (write access to runs
 * "team-*") and REVOKED_TOKEN. Property: the header is accepted exactly
 * when it is "Bearer" (any case), one or more spaces, and GOOD_TOKEN
 * byte for byte; then the grant is that token's; anything else is AUTH_BAD
 * with the grant untouched. Every call comes from a new peer address so the
 * failure throttle never hides the parser.
 */
#include <dirent.h>
#include <netinet/in.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "digest.h"
#include "fuzz.h"
#include "index.h"

#define GOOD_ID "0123456789abcdef"
#define GOOD_SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define REVOKED_ID "fedcba9876543210"
#define REVOKED_SECRET "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define GOOD_TOKEN GOOD_ID "." GOOD_SECRET
#define REVOKED_TOKEN REVOKED_ID "." REVOKED_SECRET
#define GRANT_PREFIX "team-"

static struct index *ix;
static struct auth *auth;
static char dir[256];
static pid_t owner;

static void teardown(void)
{
    DIR *d;
    struct dirent *e;

    if (getpid() != owner) /* a forked replay child leaves it to its parent */
        return;
    auth_free(auth);
    index_close(ix);
    if ((d = opendir(dir))) {
        while ((e = readdir(d))) {
            char path[512];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void add_token(const char *id, const char *secret, bool revoke)
{
    struct token_row row;
    struct sha256 *h = sha256_new();
    int r;

    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.name, sizeof(row.name), "fuzz-%s", id);
    snprintf(row.run_prefix, sizeof(row.run_prefix), "%s", GRANT_PREFIX);
    row.role = ROLE_WRITE;
    row.created_ms = 1;
    /* Stored as auth_mint stores it: SHA-256 of the secret's hex text. */
    r = h ? sha256_update(h, secret, strlen(secret)) : -1;
    if (r == 0)
        r = sha256_final(h, row.secret_sha256);
    sha256_free(h);
    if (r == 0)
        r = index_token_add(ix, &row);
    if (r == 0 && revoke)
        r = index_token_revoke(ix, id, 2);
    FUZZ_CHECK(r == 0, "cannot add token %s: %d", id, r);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[300];

    snprintf(dir, sizeof(dir), "%s/ckpt-fuzz-auth.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "cannot create a temporary directory");
    owner = getpid();
    snprintf(path, sizeof(path), "%s/index.db", dir);
    int r = index_open(path, 1, &ix);
    FUZZ_CHECK(r == 0, "cannot open an index in %s: %d", dir, r);
    atexit(teardown);
    FUZZ_CHECK(auth_new(ix, &auth) == 0, "auth_new failed");
    add_token(GOOD_ID, GOOD_SECRET, false);
    add_token(REVOKED_ID, REVOKED_SECRET, true);

    struct sockaddr_in6 peer = {.sin6_family = AF_INET6};
    struct auth_grant grant;
    FUZZ_CHECK(auth_check(auth, NULL, (const struct sockaddr *)&peer, &grant) == AUTH_MISSING,
               "no Authorization header is not AUTH_MISSING once tokens exist");
}

/* The syntax, written from auth.h and RFC 9110 independently of auth.c. */
static bool ref_accepts(const char *h)
{
    if (strncasecmp(h, "bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return strcmp(h, GOOD_TOKEN) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t calls;
    struct sockaddr_in6 peer;
    struct auth_grant grant;

    if (!ix)
        setup();
    char *header = fuzz_cstr(data, size);
    uint64_t n = ++calls;
    memset(&peer, 0, sizeof(peer));
    peer.sin6_family = AF_INET6;
    peer.sin6_addr.s6_addr[0] = 0xfd; /* a unique-local address per call */
    memcpy(&peer.sin6_addr.s6_addr[8], &n, sizeof(n));
    memset(&grant, 0x5a, sizeof(grant));

    enum auth_result res = auth_check(auth, header, (const struct sockaddr *)&peer, &grant);
    if (ref_accepts(header)) {
        FUZZ_CHECK(res == AUTH_OK, "the good token in a valid header answers %d", res);
        FUZZ_CHECK(grant.role == ROLE_WRITE && strcmp(grant.run_prefix, GRANT_PREFIX) == 0,
                   "the grant is not the good token's");
    } else {
        struct auth_grant untouched;
        memset(&untouched, 0x5a, sizeof(untouched));
        FUZZ_CHECK(res == AUTH_BAD, "a header that is not the good token answers %d", res);
        FUZZ_CHECK(memcmp(&grant, &untouched, sizeof(grant)) == 0, "grant written on failure");
    }
    free(header);
    return 0;
}
