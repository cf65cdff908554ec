/*
 * bfloat16: the upper half of an IEEE float32 (8 exponent bits, 7 mantissa
 * bits), 2*dim bytes per vector.
 *
 * The cast rounds to nearest, ties to even (as PyTorch's and Eigen's
 * float->bfloat16 conversions do), keeps float32's exponent range (so
 * float32 subnormals become bfloat16 subnormals by the same rounding) and
 * overflows to +-infinity like IEEE (only values within half an ulp of
 * FLT_MAX do). NaN stays a quiet NaN with the input's sign; the harness
 * rejects NaN vectors anyway.
 *
 * Scoring decodes a block of codes to float32 (a 16-bit shift, exact) and
 * scores it with one sgemm against the batch of queries:
 *  - asymmetric: the float query against the decoded codes;
 *  - symmetric: the query is rounded to bfloat16 as well.
 * For L2 the score is -||q - x||^2 expanded as 2 q.x - ||x||^2 - ||q||^2.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

typedef struct {
    ecb_method base;
} bf16_state;

/* ---- the cast (RNE on the float bits) ------------------------------------ */

static uint16_t bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    /* Adding 0x7fff plus the lowest kept bit rounds the dropped 16 bits to
     * nearest even; a carry ripples into the exponent (up to infinity). */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void bf16_widen(const uint8_t *codes, size_t cnt, float *x)
{
    for (size_t t = 0; t < cnt; t++) {
        uint16_t h;
        memcpy(&h, codes + 2 * t, 2);
        x[t] = bf16_to_float(h);
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static int bf16_create(const ecb_host *host, const void *params, size_t dim,
                       ecb_similarity sim, ecb_method **out)
{
    (void)params;
    if (dim == 0)
        return host->fail(host, ECB_EINVAL, "bfloat16: input dimension must be >= 1, got 0");
    bf16_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "bfloat16: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    *out = &s->base;
    return 0;
}

static void bf16_destroy(ecb_method *m) { free(m); }

static size_t bf16_code_size(const ecb_method *m) { return 2 * m->dim; }
static size_t bf16_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*2*dim bytes (little-endian). */
static int bf16_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    size_t cnt = n * m->dim;
    for (size_t t = 0; t < cnt; t++) {
        uint16_t h = bf16_from_float(x[t]);
        memcpy(codes + 2 * t, &h, 2);
    }
    return 0;
}

static int bf16_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    bf16_widen(codes, n * m->dim, x);
    return 0;
}

static size_t bf16_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Prepared query: nq*dim floats, rounded through bfloat16 when symmetric. */
static int bf16_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq,
                        void *out)
{
    float *y = out;
    size_t cnt = nq * m->dim;
    if (mode == ECB_MODE_SYMMETRIC) {
        for (size_t t = 0; t < cnt; t++) y[t] = bf16_to_float(bf16_from_float(q[t]));
    } else {
        memcpy(y, q, cnt * sizeof *y);
    }
    return 0;
}

/* Codes of one block to floats, for ecb_scores_decoded. */
static void bf16_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const ecb_method *m = ctx;
    bf16_widen(codes, rows * m->dim, out);
}

static int bf16_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    int rc = ecb_scores_decoded(m, bf16_score_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                2 * m->dim, n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "bfloat16: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const bf16_size_params[] = {NULL};

/* Every score comes from ecb_scores_decoded: a block's scores equal those of
 * its ranges of this many rows, so the host ranks them range by range. */
static size_t bf16_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static const ecb_method_vtable bf16_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "bfloat16",
    .summary = "bfloat16 (float32's top 16 bits, round to nearest even), 2 bytes per dimension",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = NULL,
    .params_size = 0,
    .create = bf16_create,
    .destroy = bf16_destroy,
    .code_size = bf16_code_size,
    .aux_bytes = bf16_aux_bytes,
    .encode = bf16_encode,
    .decode = bf16_decode,
    .query_size = bf16_query_size,
    .prepare = bf16_prepare,
    .score = bf16_score,
    .score_rows = bf16_score_rows,
    .size_params = bf16_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_bfloat16(void) { return &bf16_vtable; }
