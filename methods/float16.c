/*
 * float16: IEEE 754 binary16 ("half") codes, 2*dim bytes per vector.
 *
 * The cast rounds to nearest, ties to even, with gradual underflow
 * (subnormal halves down to 2^-24) and IEEE overflow: |x| >= 65520 becomes
 * +-infinity (65504 is the largest finite half). NaN stays NaN (quiet,
 * top payload bits kept); the harness rejects NaN vectors anyway. The
 * conversion is done in software on the float bits, so results do not
 * depend on the CPU; decoding uses F16C when the CPU has it (the widening
 * is exact, so both paths give identical floats).
 *
 * Scoring decodes a block of codes to float32 and scores it with one sgemm
 * against the batch of queries:
 *  - asymmetric: the float query against the decoded half codes;
 *  - symmetric: the query is cast to half as well (and widened back).
 * For L2 the score is -||q - x||^2 expanded as 2 q.x - ||x||^2 - ||q||^2,
 * exactly like the float32 baseline.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include <cpuid.h>
#define F16_X86 1
#else
#define F16_X86 0
#endif

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

typedef struct {
    ecb_method base;
    int f16c; /* decode with F16C */
} f16_state;

/* ---- the cast (software, RNE) ------------------------------------------- */

static uint16_t f16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    /* 65520 = 65504 + half an ulp: the tie rounds to the even 65536, i.e. inf. */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* Below 2^-14 the half is subnormal with ulp 2^-24; adding 0.5f (whose
         * ulp is 2^-24) lets the FPU do the round-to-nearest-even. */
        float af, s;
        memcpy(&af, &a, sizeof af);
        s = af + 0.5f;
        uint32_t sb;
        memcpy(&sb, &s, sizeof sb);
        return (uint16_t)(sign | (sb - 0x3f000000u));
    }
    /* Normal: re-bias the exponent (127 -> 15) and round the 13 dropped
     * mantissa bits to nearest even; a carry into the exponent is right. */
    uint32_t r = a - (112u << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (e == 0) {
        float v = (float)mant * 0x1p-24f; /* exact: mant < 2^10 */
        memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    } else if (e == 31) {
        /* A NaN comes out quiet, as F16C's vcvtph2ps makes it. */
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
    } else {
        bits = sign | ((e + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#if F16_X86
__attribute__((target("avx,f16c"))) static void f16_widen_f16c(const uint8_t *codes, size_t cnt,
                                                                float *x)
{
    size_t t = 0;
    for (; t + 8 <= cnt; t += 8)
        _mm256_storeu_ps(x + t, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(codes + 2 * t))));
    for (; t < cnt; t++) {
        uint16_t h;
        memcpy(&h, codes + 2 * t, 2);
        x[t] = f16_to_float(h);
    }
}
#endif

/* cnt halves (little-endian byte pairs) -> floats. */
static void f16_widen(const f16_state *s, const uint8_t *codes, size_t cnt, float *x)
{
#if F16_X86
    if (s->f16c) {
        f16_widen_f16c(codes, cnt, x);
        return;
    }
#else
    (void)s;
#endif
    for (size_t t = 0; t < cnt; t++) {
        uint16_t h;
        memcpy(&h, codes + 2 * t, 2);
        x[t] = f16_to_float(h);
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static int f16_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    (void)params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "float16: input dimension must be >= 1, got 0");
    f16_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "float16: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
#if F16_X86
    __builtin_cpu_init();
    /* clang 14 does not know "f16c" in __builtin_cpu_supports: read CPUID.1:ECX.F16C */
    unsigned ca, cb, cc, cd;
    s->f16c = __builtin_cpu_supports("avx") && __get_cpuid(1, &ca, &cb, &cc, &cd) &&
              (cc & bit_F16C) != 0;
#endif
    *out = &s->base;
    return 0;
}

static void f16_destroy(ecb_method *m) { free(m); }

static size_t f16_code_size(const ecb_method *m) { return 2 * m->dim; }
static size_t f16_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*2*dim bytes (little-endian halves). */
static int f16_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    size_t cnt = n * m->dim;
    for (size_t t = 0; t < cnt; t++) {
        uint16_t h = f16_from_float(x[t]);
        memcpy(codes + 2 * t, &h, 2);
    }
    return 0;
}

static int f16_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    f16_widen((const f16_state *)m, codes, n * m->dim, x);
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
        for (size_t t = 0; t < cnt; t++) y[t] = f16_to_float(f16_from_float(q[t]));
    } else {
        memcpy(y, q, cnt * sizeof *y);
    }
    return 0;
}

/* Codes of one block to floats, for ecb_scores_decoded. */
static void f16_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const ecb_method *m = ctx;
    f16_widen((const f16_state *)m, codes, rows * m->dim, out);
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
    .size_params = f16_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float16(void) { return &f16_vtable; }
