/* Helpers shared by the cmocka tests. */
#ifndef ECB_TESTUTIL_H
#define ECB_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ../shared/data (or $ECB_SHARED_DATA) if it exists, else NULL. */
const char *tu_shared_data(void);
/* Path of a file under shared data, or NULL (then the test must skip). */
char *tu_shared_file(const char *rel);
/* 1 in an AddressSanitizer build (it reserves terabytes of address space,
 * so RLIMIT_AS cannot apply). */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif
/* Visible skip: prints "SKIP <test>: <why>" and calls cmocka's skip(). */
#define TU_SKIP(why)                                                        \
    do {                                                                    \
        fprintf(stderr, "SKIP %s: %s\n", __func__, (why));                  \
        skip();                                                             \
    } while (0)
/* Directory holding built plugins ($ECBENCH_METHODS_DIR or build/methods). */
const char *tu_methods_dir(void);
/* A fresh temporary directory (removed by the OS's tmp cleaning). */
char *tu_tmpdir(void);
/* Write a string to a file; returns 0. */
int tu_write_file(const char *path, const char *text);
/* Write a version-1 .npy: the header dict text hdr (padded as NumPy pads
 * it), then bytes of data (zeros when data is NULL); returns 0. */
int tu_write_npy(const char *path, const char *hdr, const void *data, size_t bytes);
/* rm -rf dir (a tu_tmpdir() at the end of a test program); frees dir. */
void tu_rmtree(char *dir);
/* n x d standard normal floats (ecb_rng seeded with seed), malloc'ed. */
float *tu_randn(size_t n, size_t d, uint64_t seed);
/* Run this test binary again with the arguments args (NULL-terminated,
 * after argv[0]) and the environment variable name=value added to the
 * inherited environment (which keeps, e.g., OPENBLAS_CORETYPE). Returns the
 * child's exit status, 128 + signal when it was killed, or -1. */
int tu_run_self_env(const char *name, const char *value, char *const args[]);

#endif
