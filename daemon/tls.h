/*
 * tls.h - the HTTPS listener's credentials: whether libmicrohttpd can do
 * TLS at all, and the PEM certificate chain and private key, read and
 * checked against each other at startup so a wrong file is refused with its
 * name and the reason instead of failing every handshake later.
 */
#ifndef CKPTD_TLS_H
#define CKPTD_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* GnuTLS priorities for the listener: TLS 1.3 and 1.2 only; AES-GCM and
 * ChaCha20-Poly1305 (AEAD) only; in TLS 1.2 only ECDHE key exchange
 * (forward secrecy; no static RSA, no CBC, no SHA-1 MACs); the server's
 * preference order. Roughly Mozilla's "intermediate" profile. TLS 1.1 and
 * older are refused (tests/integration/120_tls.sh checks each point). */
#define TLS_PRIORITIES                                                                             \
    "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"           \
    "+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"              \
    "%SERVER_PRECEDENCE"

/* A certificate or key file larger than this is refused: real ones are a
 * few KiB (a chain of four RSA-4096 certificates is under 10 KiB). */
#define TLS_PEM_MAX (1 << 20)

struct tls_creds {
    char *cert_pem;     /* NUL-terminated PEM: the leaf certificate first, then its chain */
    char *key_pem;      /* NUL-terminated PEM: the unencrypted private key (secret) */
    bool expired;       /* the leaf certificate's notAfter has passed */
    bool not_yet_valid; /* its notBefore is still to come */
};

/* Whether the linked libmicrohttpd was built with TLS support. */
bool tls_supported(void);

/* Read the certificate chain at cert_path and the private key at key_path,
 * and check that both parse and that the key belongs to the first
 * certificate. Encrypted keys are refused (a daemon has no one to ask for a
 * passphrase). Returns 0 and *out (free with tls_free), or a negative errno
 * (-ENOENT, -EACCES, -EISDIR, -EFBIG, -EINVAL for unusable contents) with a
 * one-line reason that names the file in err; *out is untouched then. */
int tls_load(const char *cert_path, const char *key_path, struct tls_creds **out, char *err,
             size_t errsize);

/* Wipe the key and free the credentials; NULL is a no-op. */
void tls_free(struct tls_creds *t);

#endif
