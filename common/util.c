/* Logging, checked allocation, time and paths. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/ecb.h"

int ecb_log_level = ECB_LOG_INFO;

void ecb_vlog(int level, const char *fmt, va_list ap)
{
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    if (level > ecb_log_level) return;
    fprintf(stderr, "ecbench: %s: ", tag[level < 0 ? 0 : level > 3 ? 3 : level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ecb_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ecb_vlog(level, fmt, ap);
    va_end(ap);
}

void *ecb_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) ecb_fail(ECB_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *ecb_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ecb_fail(ECB_ENOMEM, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *ecb_malloc_array(size_t n, size_t size)
{
    size_t b;
    if (!ecb_mul_ok(n, size, &b)) {
        ecb_fail(ECB_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return ecb_malloc(b);
}

char *ecb_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ecb_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

double ecb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *ecb_path_join_rel(const char *base_file, const char *rel)
{
    if (rel[0] == '/' || !base_file) return ecb_strdup(rel);
    const char *slash = strrchr(base_file, '/');
    size_t dl = slash ? (size_t)(slash - base_file) + 1 : 0;
    size_t rl = strlen(rel);
    char *p = ecb_malloc(dl + rl + 1);
    if (!p) return NULL;
    memcpy(p, base_file, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

int ecb_mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return ecb_fail(ECB_EINVAL, "bad directory path '%s'", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ecb_fail(ECB_EIO, "cannot create directory '%s': %s", buf,
                                strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}
