/*
 * float4: 4-bit floating-point codes in the OCP E2M1 format ("OCP
 * Microscaling Formats (MX) Specification" v1.0, 2023; the FP4 of the
 * RAG-storage study): 1 sign bit, 2 exponent bits (bias 1), 1 mantissa bit.
 * The 8 magnitudes are 0, 0.5 (the one subnormal), 1, 1.5, 2, 3, 4, 6; code
 * = sign << 3 | magnitude index, so 0x8 is -0. E2M1 has no infinity and no
 * NaN: the cast rounds to nearest with ties to the even code (0.25 -> 0,
 * 0.75 -> 1, 1.25 -> 1, 2.5 -> 2, 5 -> 4) and saturates (|x| > 6 and
 * +-infinity give +-6). A NaN input gives +0, the format having no NaN to
 * carry it (the harness rejects NaN vectors, so only direct callers see it).
 *
 * scaling=none casts the raw values: data must already lie in E2M1's range
 * (unit-norm embeddings mostly round to 0 or 0.5; that is the format).
 * scaling=mx is MXFP4: each block of 32 consecutive elements (the last block
 * of a vector may be shorter) shares one E8M0 scale X = 2^e, e in
 * [-127, 127] stored as the byte e + 127, chosen as the MX specification's
 * conversion does (section 6.3): e = floor(log2(max |v|)) - 2, 2 being the
 * exponent of E2M1's largest normal (6 = 1.5 * 2^2); elements are V/X cast
 * to E2M1 with saturation (max |v| / X lies in [4, 8), so the largest
 * element of a block may saturate to 6). An all-zero block gets e = -127.
 *
 * Code layout: ceil(dim/2) bytes of nibbles, element 2k in the low nibble of
 * byte k (as sq packs 4-bit codes), then with scaling=mx ceil(dim/32) scale
 * bytes, block order. code_size is exactly that; aux_bytes 0 (nothing is
 * trained).
 *
 * Scoring decodes a block of codes to float32 and scores it with one sgemm
 * (ecb_scores_decoded): asymmetric = float query against the decoded codes;
 * symmetric = the query is encoded the same way (block scales included) and
 * decoded first. For L2, -||q - x^||^2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { F4_NONE = 0, F4_MX = 1 };
static const char *const f4_scalings[] = {"none", "mx", NULL};

struct f4_params {
    int scaling;
};

static const ecb_param f4_params_table[] = {
    {"scaling", ECB_PARAM_ENUM, offsetof(struct f4_params, scaling), .def.b = F4_NONE,
     .enum_values = f4_scalings,
     .help = "none: cast raw values; mx: MXFP4, one E8M0 power-of-two scale per 32 elements "
             "(1 extra byte per block)"},
    {NULL},
};

#define F4_BLOCK 32
/* E8M0 exponent range used for scales (255 is the format's NaN). */
#define F4_EMIN (-127)
#define F4_EMAX 127

static const float f4_mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

typedef struct {
    ecb_method base;
    struct f4_params p;
    size_t nib_bytes;   /* ceil(dim/2) */
    size_t nblocks;     /* scale bytes: ceil(dim/32) with mx, else 0 */
    size_t code_bytes;
} f4_state;

/* ---- the cast --------------------------------------------------------------- */

/* E2M1 code of f (already divided by the block scale). The thresholds are
 * the midpoints between neighbours; on a midpoint the even code wins, so
 * the comparison is <= below an even code and < below an odd one. */
static uint8_t f4_from_float(float f)
{
    if (isnan(f)) return 0;
    uint8_t sign = signbit(f) ? 0x8 : 0x0;
    float a = fabsf(f);
    uint8_t m;
    if (a <= 0.25f) m = 0;
    else if (a < 0.75f) m = 1;
    else if (a <= 1.25f) m = 2;
    else if (a < 1.75f) m = 3;
    else if (a <= 2.5f) m = 4;
    else if (a < 3.5f) m = 5;
    else if (a <= 5.0f) m = 6;
    else m = 7; /* saturates, infinity included */
    return (uint8_t)(sign | m);
}

static float f4_value(unsigned code)
{
    float v = f4_mag[code & 7u];
    return (code & 8u) ? -v : v;
}

/* Shared exponent of a block (MX spec 6.3): floor(log2(max|v|)) - 2,
 * clamped to the E8M0 range; -127 for an all-zero block. */
static int f4_block_exp(const float *v, size_t n)
{
    float amax = 0.0f;
    for (size_t t = 0; t < n; t++) {
        float a = fabsf(v[t]);
        if (a > amax) amax = a; /* NaN compares false: ignored */
    }
    if (!(amax > 0.0f)) return F4_EMIN;
    if (isinf(amax)) return F4_EMAX;
    int e;
    (void)frexpf(amax, &e); /* amax = m * 2^e, m in [0.5, 1): floor(log2) = e - 1 */
    e = e - 1 - 2;
    return e < F4_EMIN ? F4_EMIN : e > F4_EMAX ? F4_EMAX : e;
}

/* Encode one vector into nib_bytes (+ nblocks) bytes. */
static void f4_encode1(const f4_state *s, const float *x, uint8_t *out)
{
    size_t d = s->base.dim;
    memset(out, 0, s->code_bytes);
    for (size_t b0 = 0, blk = 0; b0 < d; b0 += F4_BLOCK, blk++) {
        size_t nb = d - b0 < F4_BLOCK ? d - b0 : F4_BLOCK;
        float inv = 1.0f;
        if (s->p.scaling == F4_MX) {
            int e = f4_block_exp(x + b0, nb);
            out[s->nib_bytes + blk] = (uint8_t)(e + 127);
            inv = ldexpf(1.0f, -e); /* exact: a power of two */
        }
        for (size_t t = b0; t < b0 + nb; t++) {
            uint8_t c = f4_from_float(x[t] * inv);
            out[t / 2] |= (uint8_t)(t % 2 ? c << 4 : c);
        }
    }
}

static void f4_decode1(const f4_state *s, const uint8_t *code, float *x)
{
    size_t d = s->base.dim;
    for (size_t b0 = 0, blk = 0; b0 < d; b0 += F4_BLOCK, blk++) {
        size_t nb = d - b0 < F4_BLOCK ? d - b0 : F4_BLOCK;
        float sc = s->p.scaling == F4_MX ? ldexpf(1.0f, (int)code[s->nib_bytes + blk] - 127)
                                         : 1.0f;
        for (size_t t = b0; t < b0 + nb; t++) {
            unsigned c = t % 2 ? code[t / 2] >> 4 : code[t / 2] & 0xfu;
            x[t] = f4_value(c) * sc;
        }
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static int f4_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct f4_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "float4: input dimension must be >= 1, got 0");
    if (p->scaling != F4_NONE && p->scaling != F4_MX)
        return host->fail(host, ECB_EINVAL, "float4: parameter scaling: expected none|mx, got %d",
                          p->scaling);
    f4_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "float4: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->nib_bytes = (dim + 1) / 2;
    s->nblocks = p->scaling == F4_MX ? (dim + F4_BLOCK - 1) / F4_BLOCK : 0;
    s->code_bytes = s->nib_bytes + s->nblocks;
    *out = &s->base;
    return 0;
}

static void f4_destroy(ecb_method *m) { free(m); }

static size_t f4_code_size(const ecb_method *m) { return ((const f4_state *)m)->code_bytes; }
/* The 16-entry value table is the format, not trained state. */
static size_t f4_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*code_size bytes. */
static int f4_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const f4_state *s = (const f4_state *)m;
    for (size_t i = 0; i < n; i++) f4_encode1(s, x + i * m->dim, codes + i * s->code_bytes);
    return 0;
}

static int f4_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const f4_state *s = (const f4_state *)m;
    for (size_t i = 0; i < n; i++) f4_decode1(s, codes + i * s->code_bytes, x + i * m->dim);
    return 0;
}

static size_t f4_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Prepared query: dim floats, passed through float4 when symmetric. */
static int f4_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const f4_state *s = (const f4_state *)m;
    float *y = out;
    if (mode != ECB_MODE_SYMMETRIC) {
        memcpy(y, q, nq * m->dim * sizeof *y);
        return 0;
    }
    uint8_t *code = malloc(s->code_bytes);
    if (!code) return m->host->fail(m->host, ECB_ENOMEM, "float4: out of memory");
    for (size_t i = 0; i < nq; i++) {
        f4_encode1(s, q + i * m->dim, code);
        f4_decode1(s, code, y + i * m->dim);
    }
    free(code);
    return 0;
}

static void f4_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    f4_decode((const ecb_method *)ctx, codes, rows, out);
}

static int f4_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode; /* the mode is in the prepared query */
    const f4_state *s = (const f4_state *)m;
    int rc = ecb_scores_decoded(m, f4_score_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                s->code_bytes, n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "float4: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const f4_size_params[] = {NULL};

/* Every score comes from ecb_scores_decoded: a block's scores equal those of
 * its ranges of this many rows, so the host ranks them range by range. */
static size_t f4_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static const ecb_method_vtable f4_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "float4",
    .summary = "4-bit floats (OCP E2M1), round to nearest even, saturating; optional MXFP4 "
               "block scales",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = f4_params_table,
    .params_size = sizeof(struct f4_params),
    .create = f4_create,
    .destroy = f4_destroy,
    .code_size = f4_code_size,
    .aux_bytes = f4_aux_bytes,
    .encode = f4_encode,
    .decode = f4_decode,
    .query_size = f4_query_size,
    .prepare = f4_prepare,
    .score = f4_score,
    .score_rows = f4_score_rows,
    .size_params = f4_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_float4(void) { return &f4_vtable; }
