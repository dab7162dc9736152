/*
 * fuzz.h - what every harness in tests/fuzz/ shares: the libFuzzer entry
 * point, a property assertion that crashes (so libFuzzer saves the input and
 * the replayer reports it), and small reference helpers the properties use.
 */
#ifndef CKPT_FUZZ_H
#define CKPT_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run one input. data[0..size) is an exactly sized buffer (no NUL after
 * it), both under libFuzzer and under tests/fuzz/replay.c. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated property is a crash: libFuzzer keeps the input as an artifact,
 * the replayer reports the file. The message goes to stderr first. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* malloc that never returns NULL: a harness cannot do anything useful
 * without its buffers, and libFuzzer's own limits keep sizes small. */
static inline void *fuzz_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("fuzz: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* A NUL-terminated copy of data[0..size) (free() it). The C string ends at
 * the first NUL byte of the input, as it would in a header value. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = fuzz_alloc(size + 1);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An exactly sized, not NUL-terminated copy of data[0..size): reading
 * past the end is an ASan report. */
static inline char *fuzz_exact(const void *data, size_t size)
{
    char *p = fuzz_alloc(size);
    if (size)
        memcpy(p, data, size);
    return p;
}

/* Little-endian integer from up to 8 bytes (missing bytes are zero). */
static inline uint64_t fuzz_le64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < avail; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The value of a hexadecimal digit, or -1. Written apart from parse.c on
 * purpose: the references below must not share its code. */
static inline int fuzz_hexval(char c)
{
    static const char digits[] = "0123456789abcdef";
    char lc = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    const char *p = lc ? strchr(digits, lc) : NULL;
    return p ? (int)(p - digits) : -1;
}

/* Reference percent decoder: %XX escapes, '+' literal, and a decoded byte
 * below 0x20 or equal to 0x7f refuses the whole text (parse.h). Writes at
 * most len bytes and a NUL to out. */
static inline bool fuzz_ref_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0, i = 0;
    while (i < len) {
        unsigned char c;
        if (in[i] == '%') {
            if (len - i < 3 || fuzz_hexval(in[i + 1]) < 0 || fuzz_hexval(in[i + 2]) < 0)
                return false;
            c = (unsigned char)(fuzz_hexval(in[i + 1]) * 16 + fuzz_hexval(in[i + 2]));
            i += 3;
        } else {
            c = (unsigned char)in[i];
            i++;
        }
        if (c < 0x20 || c == 0x7f)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *out_len = o;
    return true;
}

/* True if p points into the block [base, base + n). */
static inline bool fuzz_within(const void *p, const void *base, size_t n)
{
    uintptr_t c = (uintptr_t)p, b = (uintptr_t)base;
    return c >= b && c - b < n;
}

#endif
