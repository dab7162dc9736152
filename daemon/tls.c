/*
 * tls.c - load and check the HTTPS certificate and key at startup. OpenSSL
 * parses them here only to refuse a bad pair early and clearly;
 * libmicrohttpd (GnuTLS) does the TLS itself with the same PEM text.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

bool tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/* Read a whole regular file of at most TLS_PEM_MAX bytes, NUL-terminated. */
static int read_pem(const char *what, const char *path, char **out, char *err, size_t errsize)
{
    struct stat st = {0};
    char *buf = NULL;
    size_t got = 0;
    int fd, r;

    /* O_NONBLOCK: a FIFO given by mistake must be refused, not wait for a
     * writer forever. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errsize, "cannot open %s '%s': %s", what, path, strerror(-r));
        return r;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        snprintf(err, errsize, "cannot stat %s '%s': %s", what, path, strerror(-r));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        snprintf(err, errsize, "%s '%s' is not a regular file", what, path);
        goto fail;
    }
    if (st.st_size > TLS_PEM_MAX) {
        r = -EFBIG;
        snprintf(err, errsize, "%s '%s' is larger than %d bytes: not a PEM file", what, path,
                 TLS_PEM_MAX);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        snprintf(err, errsize, "cannot read %s '%s': out of memory", what, path);
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            snprintf(err, errsize, "cannot read %s '%s': %s", what, path,
                     n < 0 ? strerror(-r) : "it became shorter");
            goto fail;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    return 0;
fail:
    if (buf)
        OPENSSL_cleanse(buf, (size_t)st.st_size);
    free(buf);
    close(fd);
    return r;
}

/* Never prompt on a terminal for a passphrase: an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int tls_load(const char *cert_path, const char *key_path, struct tls_creds **out, char *err,
             size_t errsize)
{
    struct tls_creds *t = calloc(1, sizeof(*t));
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int r;

    if (!t) {
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    r = read_pem("--tls-cert", cert_path, &t->cert_pem, err, errsize);
    if (r < 0)
        goto fail;
    r = read_pem("--tls-key", key_path, &t->key_pem, err, errsize);
    if (r < 0)
        goto fail;
    r = -EINVAL;
    bio = BIO_new_mem_buf(t->cert_pem, -1);
    if (!bio || !(cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
        snprintf(err, errsize,
                 "--tls-cert '%s' holds no PEM certificate "
                 "(expected -----BEGIN CERTIFICATE-----)",
                 cert_path);
        goto fail;
    }
    BIO_free(bio);
    bio = BIO_new_mem_buf(t->key_pem, -1);
    if (!bio || !(key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
        snprintf(err, errsize,
                 "--tls-key '%s' holds no unencrypted PEM private key "
                 "(encrypted keys are not supported)",
                 key_path);
        goto fail;
    }
    if (X509_check_private_key(cert, key) != 1) {
        snprintf(err, errsize,
                 "--tls-key '%s' does not belong to the certificate in "
                 "--tls-cert '%s'",
                 key_path, cert_path);
        goto fail;
    }
    t->expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
    t->not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(cert)) > 0;
    r = 0;
    *out = t;
    t = NULL;
fail:
    /* The error queue would otherwise leak into the next OpenSSL caller's
     * view (and be reported as a leak under the sanitizers). */
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(bio);
    tls_free(t);
    return r;
}

void tls_free(struct tls_creds *t)
{
    if (!t)
        return;
    if (t->key_pem)
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
    free(t->key_pem);
    free(t->cert_pem);
    free(t);
}
