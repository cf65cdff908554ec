/* Test plugin: encode() allocates 64 MiB blocks without bound; when an
 * allocation finally fails (memory_limit_mb: RLIMIT_AS) it reports ENOMEM
 * like a well-behaved plugin. It writes one byte per block only, so the test
 * is fast on a loaded machine (the limit is on address space, not RSS); only
 * ever run it with memory_limit_mb set. */
#include <stdio.h>

#include "ecbench/method.h"

static int fault_hog_now(const ecb_method *m);

#define FAULT_ENCODE_MISBEHAVE(m) do { int rc_ = fault_hog_now(m); if (rc_) return rc_; } while (0)
#include "fault_common.h"

static int fault_hog_now(const ecb_method *m)
{
    void **blocks = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            void **nb = realloc(blocks, nc * sizeof *nb);
            if (!nb) break;
            blocks = nb;
            cap = nc;
        }
        void *b = malloc((size_t)64 << 20);
        if (!b) break;
        ((volatile char *)b)[0] = 1;
        blocks[n++] = b;
    }
    for (size_t i = 0; i < n; i++) free(blocks[i]);
    free(blocks);
    return m->host->fail(m->host, ECB_ENOMEM, "fault_hog: allocation failed after %zu MiB",
                         n * 64);
}

FAULT_VTABLE("fault_hog", "test plugin: allocates without bound in encode");
ECB_EXPORT const ecb_method_vtable *ecb_method_fault_hog(void) { return &fault_vtable; }
