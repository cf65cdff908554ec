/* Logging, checked allocation, time and paths. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ---- large buffers, kept from one cell to the next ----------------------
 * Each cell writes its codes once into fresh memory, and reads the corpus
 * block by block into a scratch buffer per thread (block_rows x dim floats,
 * 201 MB at 65,536 x 768), and on these virtual machines a fresh page costs
 * more than most methods' encoding: a float32 + float16 run at 200,000 x 768
 * spent 36 % of its CPU time in page faults (27 % in the hypervisor's
 * pvm_irq_enable under exc_page_fault, 9 % in clear_page_erms), all of
 * them these buffers' and the training sample's. Memory given back to the
 * kernel is soon given back to the host, so touching it again costs as
 * much as the first time (2 GiB: 7.2 s in 4 KiB pages, 2.5-3.2 s in 2 MiB
 * ones, against 0.1 s to write it once it is there). So a buffer of 64 MiB
 * or more is a mapping of its own, asked for in huge pages, and the
 * KEEP_SLOTS largest released (up to a quarter of the machine's memory in
 * all) are kept for the next requests: the smallest
 * large enough is reused whole, its first bytes zeroed (as fresh pages
 * are: a method that leaves padding unwritten sees zeros either way). A
 * kept buffer's pages stay with the process, so peak_rss_mb, which in one
 * process is the process's high-water mark, counts the largest of them
 * (isolated cells measure their own). ecb_big_forget unmaps them all:
 * before an isolated cell is forked (a child's address-space limit must not
 * count them) and when a sweep moves to the next dataset. */
enum { BIG_MIN = 64 << 20, KEEP_SLOTS = 8 };
static pthread_mutex_t g_keep_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t cap;
} g_keep[KEEP_SLOTS];

static size_t page_round(size_t n)
{
    long ps = sysconf(_SC_PAGESIZE); /* mmap lengths are whole pages */
    size_t pg = ps > 0 ? (size_t)ps : 4096;
    return n > SIZE_MAX - pg ? 0 : (n + pg - 1) / pg * pg;
}

void ecb_hugepage_hint(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    /* the whole 2 MiB pages inside [p, p + bytes); a hint, so its failure
     * (a kernel without transparent huge pages) changes nothing */
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (p && e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

/* *mapped: the mapping's length, or 0 when malloc'd (ecb_big_free's argument) */
void *ecb_big_alloc(size_t bytes, size_t *mapped)
{
    *mapped = 0;
    size_t len = page_round(bytes);
    if (bytes < BIG_MIN || !len) return ecb_malloc(bytes);
    pthread_mutex_lock(&g_keep_mu);
    size_t best = KEEP_SLOTS;
    for (size_t i = 0; i < KEEP_SLOTS; i++)
        if (g_keep[i].p && g_keep[i].cap >= len && (best == KEEP_SLOTS || g_keep[i].cap < g_keep[best].cap))
            best = i;
    void *p = NULL;
    size_t cap = 0;
    if (best < KEEP_SLOTS) {
        p = g_keep[best].p;
        cap = g_keep[best].cap;
        g_keep[best].p = NULL;
        g_keep[best].cap = 0;
    }
    pthread_mutex_unlock(&g_keep_mu);
    if (p) {
        memset(p, 0, len);
        *mapped = cap;
        return p;
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { /* under an address-space limit the kept ones may be in the way */
        ecb_big_forget();
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) {
        ecb_fail(ECB_ENOMEM, "out of memory mapping %zu bytes", bytes);
        return NULL;
    }
    ecb_hugepage_hint(p, len);
    *mapped = len;
    return p;
}

double ecb_ram_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), ps = sysconf(_SC_PAGESIZE);
    return pages > 0 && ps > 0 ? (double)pages * (double)ps : 0;
}

/* What the kept buffers may hold in all: a quarter of the machine's memory
 * (the rule the kept generated corpus follows, harness/sweep.c). */
static size_t keep_limit(void)
{
    double ram = ecb_ram_bytes();
    return ram > 0 ? (size_t)(ram / 4) : (size_t)1 << 30;
}

void ecb_big_free(void *p, size_t mapped)
{
    if (!mapped) {
        free(p);
        return;
    }
    void *drop[KEEP_SLOTS + 1];
    size_t dropcap[KEEP_SLOTS + 1], nd = 0, limit = keep_limit();
    pthread_mutex_lock(&g_keep_mu);
    size_t slot = 0; /* an empty slot, else the smallest kept if smaller than p's */
    for (size_t i = 0; i < KEEP_SLOTS; i++) {
        if (!g_keep[i].p) {
            slot = i;
            break;
        }
        if (g_keep[i].cap < g_keep[slot].cap) slot = i;
    }
    if (mapped > limit || (g_keep[slot].p && g_keep[slot].cap >= mapped)) {
        drop[nd] = p;
        dropcap[nd++] = mapped;
    } else {
        if (g_keep[slot].p) {
            drop[nd] = g_keep[slot].p;
            dropcap[nd++] = g_keep[slot].cap;
        }
        g_keep[slot].p = p;
        g_keep[slot].cap = mapped;
        /* over the limit: the smallest others go first */
        for (;;) {
            size_t total = 0, small = KEEP_SLOTS;
            for (size_t i = 0; i < KEEP_SLOTS; i++) {
                if (!g_keep[i].p) continue;
                total += g_keep[i].cap;
                if (g_keep[i].p != p && (small == KEEP_SLOTS || g_keep[i].cap < g_keep[small].cap))
                    small = i;
            }
            if (total <= limit || small == KEEP_SLOTS) break;
            drop[nd] = g_keep[small].p;
            dropcap[nd++] = g_keep[small].cap;
            g_keep[small].p = NULL;
            g_keep[small].cap = 0;
        }
    }
    pthread_mutex_unlock(&g_keep_mu);
    for (size_t i = 0; i < nd; i++) munmap(drop[i], dropcap[i]);
}

void ecb_big_forget(void)
{
    pthread_mutex_lock(&g_keep_mu);
    for (size_t i = 0; i < KEEP_SLOTS; i++) {
        if (g_keep[i].p) munmap(g_keep[i].p, g_keep[i].cap);
        g_keep[i].p = NULL;
        g_keep[i].cap = 0;
    }
    pthread_mutex_unlock(&g_keep_mu);
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
