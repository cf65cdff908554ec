/*
 * Shared body of the fault-injection test plugins (tests/plugins/fault_*.c):
 * a float32-like quantizer whose encode() misbehaves in one way, chosen by
 * the including file through FAULT_ENCODE_MISBEHAVE. They are built into
 * build/tests/plugins/, never into methods/, so normal runs do not see
 * them; tests/e2e/faults.sh loads them through ECBENCH_METHODS_PATH. The
 * misbehaviour is in encode, not create: the runner validates every cell by
 * creating its chain in the parent process before the sweep starts.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/method.h"

typedef struct {
    ecb_method base;
} fault_state;

static int fault_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                        ecb_method **out)
{
    (void)params;
    fault_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "fault plugin: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    *out = &s->base;
    return 0;
}

static void fault_destroy(ecb_method *m) { free(m); }
static size_t fault_code_size(const ecb_method *m) { return m->dim * sizeof(float); }
static size_t fault_aux_bytes(const ecb_method *m) { (void)m; return 0; }

static int fault_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    FAULT_ENCODE_MISBEHAVE(m);
    memcpy(codes, x, n * m->dim * sizeof(float));
    return 0;
}

static size_t fault_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

static int fault_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    (void)mode;
    memcpy(out, q, nq * m->dim * sizeof(float));
    return 0;
}

static int fault_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                       const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const float *q = prepared;
    const float *x = (const float *)codes;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double d = 0;
            for (size_t t = 0; t < m->dim; t++) d += (double)q[i * m->dim + t] * x[j * m->dim + t];
            scores[i * n + j] = (float)d;
        }
    return 0;
}

#define FAULT_VTABLE(NAME, SUMMARY)                                                            \
    static const ecb_method_vtable fault_vtable = {                                            \
        .abi_version = ECB_METHOD_ABI_VERSION,                                                 \
        .struct_size = sizeof(ecb_method_vtable),                                              \
        .name = NAME,                                                                          \
        .summary = SUMMARY,                                                                    \
        .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,                                 \
        .create = fault_create,                                                                \
        .destroy = fault_destroy,                                                              \
        .code_size = fault_code_size,                                                          \
        .aux_bytes = fault_aux_bytes,                                                          \
        .encode = fault_encode,                                                                \
        .query_size = fault_query_size,                                                        \
        .prepare = fault_prepare,                                                              \
        .score = fault_score,                                                                  \
    }
