/*
 * float32: the identity baseline. Codes are the float32 vectors themselves
 * (4*dim bytes); both modes score by exact dot product or negative squared
 * L2 distance, with a blocked sgemm (ecb_scores_decoded, shared with the
 * other casts) so that the baseline is not slower than it needs to be.
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
    /* codes are the floats themselves: no widening, sgemm reads them in place */
    int rc = ecb_scores_decoded(m, NULL, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                m->dim * sizeof(float), n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "float32: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* Scores of a block equal those of its ranges of this many rows: the host
 * ranks them range by range while they are in cache. */
static size_t f32_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const f32_size_params[] = {NULL};

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
    .score_rows = f32_score_rows,
    .size_params = f32_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float32(void) { return &f32_vtable; }
