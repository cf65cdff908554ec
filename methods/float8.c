/*
 * float8: 8-bit floating-point codes, dim bytes per vector, in the two OCP
 * formats ("OCP 8-bit Floating Point Specification (OFP8)", 2023; also
 * Micikevicius et al., "FP8 formats for deep learning", 2022):
 *  - e4m3 (the "FN" variant): bias 7, 3 mantissa bits, no infinities, the
 *    only NaN is S.1111.111, largest finite 448, smallest subnormal 2^-9;
 *  - e5m2: IEEE-like, bias 15, 2 mantissa bits, largest finite 57344,
 *    smallest subnormal 2^-16.
 *
 * The cast rounds to nearest, ties to even, and saturates: every finite
 * input beyond the largest finite value, and +-infinity, becomes +-max
 * (OCP's saturating mode, CUDA's __NV_SATFINITE), so no finite input ever
 * gives NaN or infinity. Signed zero is kept (0x80 is -0). A NaN input gives
 * the format's quiet NaN (e4m3 0x7f/0xff, e5m2 0x7e/0xfe) and decodes to
 * NaN: it is propagated, not hidden (the harness rejects NaN vectors, so
 * this only matters for direct callers).
 *
 * Scoring decodes a block of codes to float32 (with F16C, eight at a time
 * as halves: see f8_decode_f16c; else through a 256-entry table) and
 * scores it with one sgemm against the batch of queries:
 *  - asymmetric: the float query against the decoded codes;
 *  - symmetric: the query is cast to float8 as well (and widened back).
 * For L2 the score is -||q - x||^2 expanded as 2 q.x - ||x||^2 - ||q||^2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define F8_X86 1
#else
#define F8_X86 0
#endif

enum { F8_E4M3 = 0, F8_E5M2 = 1 };
static const char *const f8_formats[] = {"e4m3", "e5m2", NULL};

struct f8_params {
    int format;
};

static const ecb_param f8_params_table[] = {
    {"format", ECB_PARAM_ENUM, offsetof(struct f8_params, format), .def.b = F8_E4M3,
     .enum_values = f8_formats,
     .help = "e4m3 (OCP FN: max 448, no infinities) or e5m2 (max 57344); both saturate"},
    {NULL},
};

/* One format's constants. */
typedef struct {
    unsigned mbits;    /* mantissa bits */
    int bias;
    float maxval;      /* largest finite value */
    uint8_t maxcode;   /* its code (sign clear) */
    uint8_t nancode;   /* quiet NaN (sign clear) */
    uint32_t minnorm;  /* float bits of the smallest normal, 2^(1-bias) */
    float magic;       /* 2^(1-bias-mbits+23): its ulp is the subnormal step */
} f8_format;

static const f8_format f8_fmt[2] = {
    [F8_E4M3] = {3, 7, 448.0f, 0x7e, 0x7f, (127u - 6u) << 23, 0x1p14f},
    [F8_E5M2] = {2, 15, 57344.0f, 0x7b, 0x7e, (127u - 14u) << 23, 0x1p7f},
};

typedef struct {
    ecb_method base;
    struct f8_params p;
    const f8_format *fmt;
    float table[256]; /* code -> float */
    int f16c;         /* decode with F16C (ecb_cpu) */
} f8_state;

/* ---- the cast --------------------------------------------------------------- */

static uint8_t f8_from_float(float f, const f8_format *fmt)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint8_t)(sign | fmt->nancode);
    float af;
    memcpy(&af, &a, sizeof af);
    if (af >= fmt->maxval) return (uint8_t)(sign | fmt->maxcode); /* saturate, incl. inf */
    if (a < fmt->minnorm) {
        /* Subnormal range: adding a power of two whose ulp is the subnormal
         * step makes the FPU round to nearest even; the low bits are then
         * the code (a carry gives the smallest normal, which is right). */
        float s = af + fmt->magic;
        uint32_t sb, mb;
        memcpy(&sb, &s, sizeof sb);
        memcpy(&mb, &fmt->magic, sizeof mb);
        return (uint8_t)(sign | (sb - mb));
    }
    unsigned shift = 23u - fmt->mbits;
    uint32_t r = a - ((uint32_t)(127 - fmt->bias) << 23);
    r += ((1u << (shift - 1)) - 1u) + ((r >> shift) & 1u);
    uint32_t code = r >> shift;
    if (code > fmt->maxcode) code = fmt->maxcode; /* unreachable below maxval; kept as a guard */
    return (uint8_t)(sign | code);
}

static float f8_value(unsigned code, const f8_format *fmt, int e4m3)
{
    unsigned mb = fmt->mbits, emask = (1u << (7 - mb)) - 1u, mmask = (1u << mb) - 1u;
    unsigned e = (code >> mb) & emask, m = code & mmask;
    float sign = (code & 0x80u) ? -1.0f : 1.0f;
    if (e4m3 && e == emask && m == mmask) return NAN;
    if (!e4m3 && e == emask) return m ? NAN : sign * INFINITY;
    if (e == 0) return sign * ldexpf((float)m, 1 - fmt->bias - (int)mb);
    return sign * ldexpf((float)((1u << mb) + m), (int)e - fmt->bias - (int)mb);
}

/* ---- hooks ------------------------------------------------------------------ */

static int f8_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct f8_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "float8: input dimension must be >= 1, got 0");
    if (p->format != F8_E4M3 && p->format != F8_E5M2)
        return host->fail(host, ECB_EINVAL, "float8: parameter format: expected e4m3|e5m2, got %d",
                          p->format);
    f8_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "float8: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->fmt = &f8_fmt[p->format];
    for (unsigned c = 0; c < 256; c++) s->table[c] = f8_value(c, s->fmt, p->format == F8_E4M3);
#if F8_X86
    s->f16c = ecb_cpu()->avx2 && ecb_cpu()->f16c;
#endif
    *out = &s->base;
    return 0;
}

static void f8_destroy(ecb_method *m) { free(m); }

static size_t f8_code_size(const ecb_method *m) { return m->dim; }
/* The decode table is a property of the format, not trained state. */
static size_t f8_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*dim bytes. */
static int f8_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const f8_state *s = (const f8_state *)m;
    size_t cnt = n * m->dim;
    for (size_t t = 0; t < cnt; t++) codes[t] = f8_from_float(x[t], s->fmt);
    return 0;
}

#if F8_X86
/* Both formats are halves with fewer bits, so F16C widens them exactly:
 * an e5m2 code is a half's top byte; an e4m3 code's 7 magnitude bits placed
 * at a half's bits 7-13 read as 2^-8 of its value (exponent bias 15 for 7,
 * subnormals included), then times 2^8, exact. NaN codes (e4m3 S.1111.111,
 * e5m2 S.11111.01-11) get the table's NaN, so every code gives the table's
 * bits (tests/unit/test_casts.c). The table's one load per byte was half a
 * single query's time: 0.85 s of scan over 1M x 768 codes. */
__attribute__((target("avx2,f16c"))) static size_t f8_decode_f16c(const f8_state *s,
                                                                  const uint8_t *c, size_t cnt,
                                                                  float *x)
{
    const int e4 = s->p.format == F8_E4M3;
    const __m128i mag = _mm_set1_epi16(0x7f), sgn = _mm_set1_epi16(0x80);
    const __m128i nan_above = _mm_set1_epi16(e4 ? 0x7e : 0x7c);
    const __m256 scale = _mm256_set1_ps(e4 ? 256.0f : 1.0f), qnan = _mm256_set1_ps(s->table[0x7f]);
    size_t t = 0;
    for (; t + 8 <= cnt; t += 8) {
        __m128i w = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(c + t)));
        __m128i m = _mm_and_si128(w, mag);
        __m128i h = e4 ? _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, sgn), 8), _mm_slli_epi16(m, 7))
                       : _mm_slli_epi16(w, 8);
        __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(h), scale);
        __m256 nan = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpgt_epi16(m, nan_above)));
        _mm256_storeu_ps(x + t, _mm256_blendv_ps(f, qnan, nan));
    }
    return t;
}
#endif

static int f8_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const f8_state *s = (const f8_state *)m;
    size_t cnt = n * m->dim, t = 0;
#if F8_X86
    if (s->f16c) t = f8_decode_f16c(s, codes, cnt, x);
#endif
    for (; t < cnt; t++) x[t] = s->table[codes[t]];
    return 0;
}

static size_t f8_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Prepared query: nq*dim floats, rounded through float8 when symmetric. */
static int f8_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const f8_state *s = (const f8_state *)m;
    float *y = out;
    size_t cnt = nq * m->dim;
    if (mode == ECB_MODE_SYMMETRIC) {
        for (size_t t = 0; t < cnt; t++) y[t] = s->table[f8_from_float(q[t], s->fmt)];
    } else {
        memcpy(y, q, cnt * sizeof *y);
    }
    return 0;
}

/* Codes of one block to floats, for ecb_scores_decoded. */
static void f8_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    f8_decode((const ecb_method *)ctx, codes, rows, out);
}

static int f8_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    int rc = ecb_scores_decoded(m, f8_score_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                m->dim, n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "float8: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const f8_size_params[] = {NULL};

/* Every score comes from ecb_scores_decoded: a block's scores equal those of
 * its ranges of this many rows, so the host ranks them range by range. */
static size_t f8_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static const ecb_method_vtable f8_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "float8",
    .summary = "8-bit floats (OCP E4M3FN or E5M2), round to nearest even, saturating",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = f8_params_table,
    .params_size = sizeof(struct f8_params),
    .create = f8_create,
    .destroy = f8_destroy,
    .code_size = f8_code_size,
    .aux_bytes = f8_aux_bytes,
    .encode = f8_encode,
    .decode = f8_decode,
    .query_size = f8_query_size,
    .prepare = f8_prepare,
    .score = f8_score,
    .score_rows = f8_score_rows,
    .size_params = f8_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float8(void) { return &f8_vtable; }
