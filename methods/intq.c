/*
 * intq: group-wise asymmetric integer quantization, as KIVI (Liu et al.,
 * "KIVI: a tuning-free asymmetric 2bit quantization for KV cache", ICML
 * 2024) and KVQuant (Hooper et al., 2024) quantize KV-cache vectors:
 * every group of `group_size` consecutive coordinates of a vector (the
 * whole vector with group_size=0, or when group_size >= dim; the last group
 * may be shorter) gets its own zero point z = min and scale
 * s = (max - min) / (2^bits - 1), stored with the vector:
 *
 *   code = clamp(round((x - z) / s), 0, 2^bits - 1),   x^ = z + s * code.
 *
 * Nothing is trained (aux_bytes 0): every range is the vector's own, so the
 * per-vector parameters are the whole cost beyond the codes.
 *
 * Stored parameters: scale_format=float16 (the default: KIVI's and
 * KVQuant's implementations keep scales and zero points in half precision)
 * or float32. The scale and zero point are rounded to that format FIRST
 * and the codes computed from the rounded values, so that decoding uses
 * exactly what is stored (a rounded-up zero point or rounded-down scale
 * only moves a value into the clamp). Half precision rounds to nearest
 * even and saturates at +-65504 (larger ranges are clipped: use float32 for
 * such data). A constant group (max == min) stores s = 0 and decodes to z.
 * Rounding of codes is to nearest, ties away from zero (as roundf).
 *
 * Code layout per vector: the codes as one little-endian bit stream (code of
 * coordinate j in bits [j*bits, (j+1)*bits), LSB first, as sq packs), then
 * per group (in order) the scale and the zero point, 2 or 4 bytes each,
 * little-endian. code_size = ceil(bits*dim/8) + groups * 2 * (2 | 4).
 *
 * Scoring decodes a block to float32 and scores it with one sgemm
 * (ecb_scores_decoded): asymmetric = the float query against x^; symmetric
 * = the query is quantized the same way (its own ranges) and decoded first.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { IQ_F16 = 0, IQ_F32 = 1 };
static const char *const iq_formats[] = {"float16", "float32", NULL};

struct iq_params {
    size_t bits;
    size_t group_size;
    int scale_format;
};

static const ecb_param iq_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct iq_params, bits), .def.u = 4, .min = 2, .max = 8,
     .help = "bits per coordinate (codes are bit-packed)"},
    {"group_size", ECB_PARAM_SIZE, offsetof(struct iq_params, group_size), .def.u = 0, .min = 0,
     .max = 1048576,
     .help = "coordinates sharing one scale and zero point; 0 = one per vector"},
    {"scale_format", ECB_PARAM_ENUM, offsetof(struct iq_params, scale_format), .def.b = IQ_F16,
     .enum_values = iq_formats,
     .help = "storage of each group's scale and zero point: float16 (2+2 bytes) or float32 "
             "(4+4 bytes)"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct iq_params p;
    size_t L;          /* 2^bits */
    size_t group;      /* coordinates per group (dim when per vector) */
    size_t ngroups;
    size_t pbytes;     /* bytes of one stored parameter: 2 or 4 */
    size_t packed;     /* ceil(bits*dim/8) */
    size_t code_bytes;
} iq_state;

/* ---- stored parameters ------------------------------------------------------ */

/* float -> IEEE binary16 bits (the toolkit's one conversion: round to
 * nearest even), saturating at +-65504 (a stored range is never infinite). */
static uint16_t iq_half_bits(float f)
{
    if (!(fabsf(f) < 65504.0f)) /* also NaN: never stored */
        return (uint16_t)(signbit(f) ? 0xfbffu : 0x7bffu);
    return ecb_half_from_float(f);
}

static float iq_half_value(uint16_t h) { return ecb_half_to_float(h); }

/* Round v to the storage format; write its bytes to out when non-NULL. */
static float iq_store(const iq_state *s, float v, uint8_t *out)
{
    if (s->p.scale_format == IQ_F32) {
        if (out) memcpy(out, &v, 4);
        return v;
    }
    uint16_t h = iq_half_bits(v);
    if (out) {
        out[0] = (uint8_t)h;
        out[1] = (uint8_t)(h >> 8);
    }
    return iq_half_value(h);
}

static float iq_load(const iq_state *s, const uint8_t *p)
{
    if (s->p.scale_format == IQ_F32) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    return iq_half_value((uint16_t)(p[0] | (unsigned)p[1] << 8));
}

/* ---- one vector ------------------------------------------------------------- */

static void iq_encode1(const iq_state *s, const float *x, uint8_t *out)
{
    size_t d = s->base.dim, bits = s->p.bits, maxc = s->L - 1;
    memset(out, 0, s->code_bytes);
    uint8_t *par = out + s->packed;
    for (size_t g = 0; g < s->ngroups; g++) {
        size_t j0 = g * s->group, j1 = j0 + s->group < d ? j0 + s->group : d;
        float lo = x[j0], hi = x[j0];
        for (size_t j = j0 + 1; j < j1; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float sc = iq_store(s, (float)(((double)hi - (double)lo) / (double)maxc),
                            par + 2 * g * s->pbytes);
        float z = iq_store(s, lo, par + (2 * g + 1) * s->pbytes);
        for (size_t j = j0; j < j1; j++) {
            size_t c = 0;
            if (sc > 0) {
                double t = round(((double)x[j] - (double)z) / (double)sc);
                c = !(t > 0) ? 0 : t >= (double)maxc ? maxc : (size_t)t;
            }
            size_t bit = j * bits;
            uint32_t v = (uint32_t)c << (bit % 8);
            out[bit / 8] |= (uint8_t)v;
            if (bit % 8 + bits > 8) out[bit / 8 + 1] |= (uint8_t)(v >> 8);
        }
    }
}

static void iq_decode1(const iq_state *s, const uint8_t *code, float *x)
{
    size_t d = s->base.dim, bits = s->p.bits;
    const uint8_t *par = code + s->packed;
    for (size_t g = 0; g < s->ngroups; g++) {
        size_t j0 = g * s->group, j1 = j0 + s->group < d ? j0 + s->group : d;
        float sc = iq_load(s, par + 2 * g * s->pbytes);
        float z = iq_load(s, par + (2 * g + 1) * s->pbytes);
        for (size_t j = j0; j < j1; j++) {
            size_t bit = j * bits, byte = bit / 8;
            unsigned v = code[byte];
            if (bit % 8 + bits > 8) v |= (unsigned)code[byte + 1] << 8;
            unsigned c = (v >> (bit % 8)) & (unsigned)(s->L - 1);
            x[j] = fmaf((float)c, sc, z);
        }
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static int iq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct iq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "intq: input dimension must be >= 1, got 0");
    if (p->bits < 2 || p->bits > 8)
        return host->fail(host, ECB_EINVAL, "intq: parameter bits: expected 2..8, got %zu", p->bits);
    if (p->scale_format != IQ_F16 && p->scale_format != IQ_F32)
        return host->fail(host, ECB_EINVAL,
                          "intq: parameter scale_format: expected float16|float32, got %d",
                          p->scale_format);
    if (dim > ((size_t)1 << 26))
        return host->fail(host, ECB_ERANGE, "intq: input dimension %zu too large (max 2^26)", dim);
    iq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "intq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->L = (size_t)1 << p->bits;
    s->group = p->group_size && p->group_size < dim ? p->group_size : dim;
    s->ngroups = (dim + s->group - 1) / s->group;
    s->pbytes = p->scale_format == IQ_F16 ? 2 : 4;
    s->packed = (p->bits * dim + 7) / 8;
    s->code_bytes = s->packed + s->ngroups * 2 * s->pbytes;
    *out = &s->base;
    return 0;
}

static void iq_destroy(ecb_method *m) { free(m); }

static size_t iq_code_size(const ecb_method *m) { return ((const iq_state *)m)->code_bytes; }
static size_t iq_aux_bytes(const ecb_method *m) { (void)m; return 0; }

/** @param x n*dim floats. @param codes n*code_size bytes. */
static int iq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const iq_state *s = (const iq_state *)m;
    for (size_t i = 0; i < n; i++) iq_encode1(s, x + i * m->dim, codes + i * s->code_bytes);
    return 0;
}

static int iq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const iq_state *s = (const iq_state *)m;
    for (size_t i = 0; i < n; i++) iq_decode1(s, codes + i * s->code_bytes, x + i * m->dim);
    return 0;
}

static size_t iq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Prepared query: dim floats, quantized and decoded when symmetric. */
static int iq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const iq_state *s = (const iq_state *)m;
    float *y = out;
    if (mode != ECB_MODE_SYMMETRIC) {
        memcpy(y, q, nq * m->dim * sizeof *y);
        return 0;
    }
    uint8_t *code = malloc(s->code_bytes);
    if (!code) return m->host->fail(m->host, ECB_ENOMEM, "intq: out of memory");
    for (size_t i = 0; i < nq; i++) {
        iq_encode1(s, q + i * m->dim, code);
        iq_decode1(s, code, y + i * m->dim);
    }
    free(code);
    return 0;
}

static void iq_score_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    iq_decode((const ecb_method *)ctx, codes, rows, out);
}

static int iq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode; /* the mode is in the prepared query */
    const iq_state *s = (const iq_state *)m;
    int rc = ecb_scores_decoded(m, iq_score_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                s->code_bytes, n, m->dim, scores);
    if (rc)
        return m->host->fail(m->host, rc, "intq: %s scoring %zu x %zu x %zu",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq,
                             n, m->dim);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const iq_size_params[] = {"bits", NULL};

/* Every score comes from ecb_scores_decoded: a block's scores equal those of
 * its ranges of this many rows, so the host ranks them range by range. */
static size_t iq_score_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static const ecb_method_vtable iq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "intq",
    .summary = "group-wise asymmetric integer quantization (KIVI/KVQuant): per-vector or "
               "per-group scale and zero point, 2-8 bits",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = iq_params_table,
    .params_size = sizeof(struct iq_params),
    .create = iq_create,
    .destroy = iq_destroy,
    .code_size = iq_code_size,
    .aux_bytes = iq_aux_bytes,
    .encode = iq_encode,
    .decode = iq_decode,
    .query_size = iq_query_size,
    .prepare = iq_prepare,
    .score = iq_score,
    .score_rows = iq_score_rows,
    .size_params = iq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_intq(void) { return &iq_vtable; }
