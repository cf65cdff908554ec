/*
 * float32: the identity baseline. Codes are the float32 vectors themselves
 * (4*dim bytes); both modes score by exact dot product or negative squared
 * L2 distance, with a blocked sgemm so that the baseline is not slower than
 * it needs to be.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

typedef struct {
    ecb_method base;
} f32_state;

static int f32_create(const ecb_host *host, const void *params, size_t dim,
                      ecb_similarity sim, ecb_method **out)
{
    (void)params;
    f32_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "float32: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    *out = &s->base;
    return 0;
}

static void f32_destroy(ecb_method *m) { free(m); }

static size_t f32_code_size(const ecb_method *m) { return m->dim * sizeof(float); }
static size_t f32_aux_bytes(const ecb_method *m) { (void)m; return 0; }

static int f32_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    memcpy(codes, x, n * m->dim * sizeof(float));
    return 0;
}

static int f32_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    memcpy(x, codes, n * m->dim * sizeof(float));
    return 0;
}

static size_t f32_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

static int f32_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq,
                       void *out)
{
    (void)mode;
    memcpy(out, q, nq * m->dim * sizeof(float));
    return 0;
}

static int f32_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const float *q = prepared;
    const float *x = (const float *)codes;
    size_t d = m->dim;
    if (m->sim == ECB_SIM_DOT)
        return ecb_gemm_nt(nq, n, d, 1.0f, q, d, x, d, 0.0f, scores, n) == 0
                   ? 0
                   : m->host->fail(m->host, ECB_ERANGE, "float32: block too large for BLAS");
    /* -||q-x||^2 = 2 q.x - ||x||^2 - ||q||^2, the last term kept so scores are
     * true negative squared distances. */
    int rc = ecb_gemm_nt(nq, n, d, 2.0f, q, d, x, d, 0.0f, scores, n);
    if (rc) return m->host->fail(m->host, ECB_ERANGE, "float32: block too large for BLAS");
    for (size_t j = 0; j < n; j++) {
        double xx = 0;
        for (size_t t = 0; t < d; t++) xx += (double)x[j * d + t] * x[j * d + t];
        for (size_t i = 0; i < nq; i++) scores[i * n + j] -= (float)xx;
    }
    for (size_t i = 0; i < nq; i++) {
        double qq = 0;
        for (size_t t = 0; t < d; t++) qq += (double)q[i * d + t] * q[i * d + t];
        for (size_t j = 0; j < n; j++) scores[i * n + j] -= (float)qq;
    }
    return 0;
}

static const ecb_method_vtable f32_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "float32",
    .summary = "identity baseline: 32-bit floats, exact scores",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = NULL,
    .params_size = 0,
    .create = f32_create,
    .destroy = f32_destroy,
    .code_size = f32_code_size,
    .aux_bytes = f32_aux_bytes,
    .encode = f32_encode,
    .decode = f32_decode,
    .query_size = f32_query_size,
    .prepare = f32_prepare,
    .score = f32_score,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float32(void) { return &f32_vtable; }
