/*
 * float16: IEEE 754 binary16 ("half") codes, 2*dim bytes per vector.
 *
 * The cast is the toolkit's (ecb_half_*): round to nearest, ties to even,
 * gradual underflow, |x| >= 65520 becomes +-infinity, NaN stays NaN (the
 * harness rejects NaN vectors anyway). Codes do not depend on the CPU;
 * decoding uses F16C when the CPU has it, with identical floats.
 *
 * Scoring decodes a block of codes to float32 and scores it with one sgemm
 * against the batch of queries:
 *  - asymmetric: the float query against the decoded half codes;
 *  - symmetric: the query is cast to half as well (and widened back).
 * For L2 the score is -||q - x||^2 expanded as 2 q.x - ||x||^2 - ||q||^2,
 * exactly like the float32 baseline.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

/* ---- hooks ------------------------------------------------------------------ */

static int f16_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    (void)params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "float16: input dimension must be >= 1, got 0");
    ecb_method *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "float16: out of memory");
    s->host = host;
    s->dim = dim;
    s->sim = sim;
    *out = s;
    return 0;
}

static void f16_destroy(ecb_method *m) { free(m); }

static size_t f16_code_size(const ecb_method *m) { return 2 * m->dim; }
static size_t f16_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*2*dim bytes (little-endian halves). */
static int f16_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    ecb_half_encode(x, n * m->dim, codes);
    return 0;
}

static int f16_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    ecb_half_decode(codes, n * m->dim, x);
    return 0;
}

static size_t f16_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Prepared query: nq*dim floats, rounded through half in symmetric mode. */
static int f16_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    float *y = out;
    size_t cnt = nq * m->dim;
    if (mode == ECB_MODE_SYMMETRIC) {
        for (size_t t = 0; t < cnt; t++) y[t] = ecb_half_to_float(ecb_half_from_float(q[t]));
    } else {
        memcpy(y, q, cnt * sizeof *y);
    }
    return 0;
}

/* Codes of one block to floats, for ecb_scores_decoded. */
static void f16_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const ecb_method *m = ctx;
    ecb_half_decode(codes, rows * m->dim, out);
}

static int f16_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    int rc = ecb_scores_decoded(m, f16_score_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                2 * m->dim, n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "float16: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const f16_size_params[] = {NULL};

/* Every score comes from ecb_scores_decoded: a block's scores equal those of
 * its ranges of this many rows, so the host ranks them range by range. */
static size_t f16_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static const ecb_method_vtable f16_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "float16",
    .summary = "IEEE half precision (round to nearest even), 2 bytes per dimension",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = NULL,
    .params_size = 0,
    .create = f16_create,
    .destroy = f16_destroy,
    .code_size = f16_code_size,
    .aux_bytes = f16_aux_bytes,
    .encode = f16_encode,
    .decode = f16_decode,
    .query_size = f16_query_size,
    .prepare = f16_prepare,
    .score = f16_score,
    .score_rows = f16_score_rows,
    .size_params = f16_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float16(void) { return &f16_vtable; }
