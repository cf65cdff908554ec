/*
 * The common layer (libecb_common.a), below datasets, the harness core and
 * reports: errors, logging, checked allocation, hashing, time and paths.
 * It includes only the public ABI header (for the error codes and log
 * levels), so every layer above may use it.
 */
#ifndef ECB_H
#define ECB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ecbench/method.h"

#define ECB_VERSION "0.1.0"

/* ---- errors: negative codes + a per-thread message ---------------------- */
const char *ecb_strerror(int code); /* "ECB_EINVAL: invalid argument" style name */
const char *ecb_errname(int code);  /* "EINVAL" */
/* Set the thread's message (printf-style) and return code. */
int ecb_fail(int code, const char *fmt, ...) ECB_PRINTF(2, 3);
int ecb_vfail(int code, const char *fmt, va_list ap);
const char *ecb_last_error(void);
void ecb_clear_error(void);

/* ---- logging ---------------------------------------------------------- */
extern int ecb_log_level; /* ECB_LOG_* ; set once by the CLI */
void ecb_log(int level, const char *fmt, ...) ECB_PRINTF(2, 3);
void ecb_vlog(int level, const char *fmt, va_list ap);

/* ---- memory helpers: abort-free, return NULL and set the error ---------- */
void *ecb_malloc(size_t n);                     /* ECB_ENOMEM on failure */
void *ecb_calloc(size_t n, size_t size);        /* overflow-checked */
void *ecb_malloc_array(size_t n, size_t size);  /* overflow-checked */
char *ecb_strdup(const char *s);
/* Buffers of 64 MiB or more (codes, encode scratch, training samples) as
 * mappings of their own, kept when released for the next request (util.c
 * says why): *mapped receives what ecb_big_free needs (0 when malloc'd).
 * Returns NULL with the error set when out of memory. ecb_big_forget
 * unmaps every kept one. */
void *ecb_big_alloc(size_t bytes, size_t *mapped);
void ecb_big_free(void *p, size_t mapped);
void ecb_big_forget(void);
/* Asks for transparent huge pages over [p, p + bytes) before it is first
 * written (see ecb_big_alloc for why); a hint only. */
void ecb_hugepage_hint(void *p, size_t bytes);
/* The machine's physical memory in bytes; 0 when unknown. */
double ecb_ram_bytes(void);
/* a*b with overflow check: returns false on overflow. */
static inline bool ecb_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- hashing (cell ids, content hashes): FNV-1a 64 ------------------- */
typedef struct { uint64_t h; } ecb_hash;
static inline void ecb_hash_init(ecb_hash *s) { s->h = 1469598103934665603ull; }
static inline void ecb_hash_update(ecb_hash *s, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) { s->h ^= b[i]; s->h *= 1099511628211ull; }
}
static inline uint64_t ecb_hash_final(const ecb_hash *s)
{
    uint64_t x = s->h; /* avalanche: FNV's low bits are weak */
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33;
    x *= 0xc4ceb3f94f9d8e63ull; x ^= x >> 33;
    return x;
}

/* ---- bulk content hashing (ground-truth cache keys) ------------------ */
/* XXH3-64 when built with libxxhash (ecb_chash_name() says which), else
 * FNV-1a as above: the value does not depend on how the bytes are split
 * across updates. ecb_chash_new: NULL and ECB_ENOMEM on failure. */
typedef struct ecb_chash ecb_chash;
ecb_chash *ecb_chash_new(void);
void ecb_chash_update(ecb_chash *c, const void *p, size_t n);
uint64_t ecb_chash_digest(const ecb_chash *c);
const char *ecb_chash_name(void);
void ecb_chash_free(ecb_chash *c);

/* ---- hints ------------------------------------------------------------ */
/* The candidate closest to key (edit distance at most max(2, len/3)), or
 * NULL: for "did you mean" in messages. */
const char *ecb_did_you_mean(const char *key, const char *const *cand, size_t n);

/* ---- time ---------------------------------------------------------------- */
double ecb_now(void); /* monotonic seconds */

/* ---- paths ------------------------------------------------------------- */
/* dir of path + "/" + rel, unless rel is absolute. Caller frees. */
char *ecb_path_join_rel(const char *base_file, const char *rel);
int ecb_mkdir_p(const char *dir);

#endif
