/*
 * sq: scalar quantization, `bits` (1-8) bits per dimension, bit-packed, so a
 * vector takes exactly ceil(bits*dim/8) bytes. (One method per file, as the
 * layout requires: its three calibrations and the AVX2 scan tiles make it
 * longer than 600 lines.)
 *
 * Calibration (fitted in train() on the corpus sample only):
 *  - minmax: L = 2^bits equal-width cells over [min, max];
 *  - percentile: the same over [P(clip), P(100-clip)] (e.g. clip=2.5 gives
 *    the 2.5-97.5 percentile range), values outside land in the end cells;
 *  - quantile: equal-frequency cells, edges at the k/L quantiles.
 * ranges=per_dim fits one range (or edge set) per dimension, ranges=global
 * one for all dimensions. Percentiles/quantiles interpolate linearly between
 * order statistics (numpy's default); a global fit pools all values, or a
 * seeded uniform sample of 2^24 of them when the sample is larger.
 *
 * Codes: uniform cells code = floor((x - lo) / w), w = (hi - lo) / L, clipped
 * to [0, L-1] (a value exactly on a cell boundary goes to the upper cell;
 * hi itself to the last cell); reconstruction at the cell centre,
 * lo + (c + 1/2) w (the convention of FAISS's uniform scalar quantizer). A
 * constant dimension (hi <= lo) gets code 0 and reconstructs to lo. Quantile
 * cells: code = number of edges <= x, reconstruction at the (c + 1/2)/L
 * quantile (the cell's median).
 *
 * Packing: one little-endian bit stream per vector, the code of dimension j
 * in bits [j*bits, (j+1)*bits), bit i of the stream being bit i%8 of byte
 * i/8 (LSB first; for bits=4, dimension 2k is the low nibble of byte k).
 *
 * Scoring (x^ = dequantised code):
 *  - asymmetric: DOT q.x^, L2 -||q - x^||^2;
 *  - symmetric: the query is quantised with the same codebook and
 *    dequantised first, then scored the same way (dequantised vs
 *    dequantised).
 * Uniform cells: the scan unpacks 8 dimensions of a code at a time (shift
 * and mask of the packed bits) and reuses them for a tile of 4 queries x 2
 * codes (batches) or 1 query x 4 codes (single queries). For dot the inner
 * loop is one FMA of the integer codes with the per-query scaled vector q*w
 * (plus the per-query constant sum q*base); for L2 the chunk is dequantised
 * once (FMA) and shared by the tile's queries. AVX2+FMA kernels are chosen
 * at run time (the build has no -march=native); a portable loop otherwise.
 * Every (query, code) score is computed by the same sequence of operations
 * whatever the tile, so scores do not depend on how a batch is split.
 * Quantile cells: a block of codes is dequantised through the table and
 * scored by one sgemm (ecb_scores_decoded, as the float casts), at every
 * CPU level. The table gather made the tiles memory-bound: CoRECT's
 * quantile arms ran at 18-21 QPS on 1M x 768 against 95-101 for uniform
 * cells and 147 for float32 (2 threads; issue 13). The sums run in sgemm's
 * order, so these scores moved in their last bits when this path came in.
 *
 * aux_bytes counts the stored calibration: 2 floats (lo, w) per range for
 * uniform cells, (L-1) edges + L reconstruction values per range for
 * quantile cells.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SQ_X86 1
#else
#define SQ_X86 0
#endif

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { SQ_MINMAX = 0, SQ_PERCENTILE = 1, SQ_QUANTILE = 2 };
static const char *const sq_calibrations[] = {"minmax", "percentile", "quantile", NULL};
enum { SQ_PER_DIM = 0, SQ_GLOBAL = 1 };
static const char *const sq_ranges[] = {"per_dim", "global", NULL};

struct sq_params {
    size_t bits;
    int calibration;
    double clip;
    int ranges;
};

static const ecb_param sq_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct sq_params, bits), .def.u = 8, .min = 1, .max = 8,
     .help = "bits per dimension (codes are bit-packed: ceil(bits*dim/8) bytes per vector)"},
    {"calibration", ECB_PARAM_ENUM, offsetof(struct sq_params, calibration),
     .def.b = SQ_MINMAX, .enum_values = sq_calibrations,
     .help = "minmax range, percentile range (see clip), or quantile (equal-frequency cells)"},
    {"clip", ECB_PARAM_DOUBLE, offsetof(struct sq_params, clip), .def.d = 2.5, .min = 0,
     .max = 49.9,
     .help = "percentile calibration: range [P(clip), P(100-clip)], e.g. 2.5 for 2.5-97.5"},
    {"ranges", ECB_PARAM_ENUM, offsetof(struct sq_params, ranges), .def.b = SQ_PER_DIM,
     .enum_values = sq_ranges, .help = "one range per dimension, or one global range"},
    {NULL},
};

/* clip only matters to percentile calibration: the params column and the
 * labels leave it out otherwise. */
static const char *const sq_if_percentile[] = {"percentile", NULL};
static const ecb_param_cond sq_conds[] = {
    {"clip", "calibration", sq_if_percentile},
    {NULL},
};

/* A global fit pools at most this many values (seeded sample beyond). */
#define SQ_GLOBAL_MAX_VALUES ((size_t)1 << 24)
#define SQ_STREAM 0x73712d63616c6962ull /* "sq-calib" */

typedef struct {
    ecb_method base;
    struct sq_params p;
    size_t L;          /* 2^bits */
    size_t dim8;       /* dim rounded up to a multiple of 8 */
    size_t code_bytes; /* ceil(bits*dim/8) */
    int trained;
    int avx2;
    /* Uniform cells, dim8 entries (padding 0): cell 0 starts at lo[j], cells
     * are w[j] wide; reconstruction fmaf(c, w[j], rbase[j]), rbase = lo+w/2. */
    float *lo, *w, *rbase;
    /* Quantile cells: dim x (L-1) edges (NULL for uniform cells). */
    float *edges;
    /* Reconstruction of every code, dim8 x L (padding rows 0); for uniform
     * cells recon[j*L+c] == fmaf(c, w[j], rbase[j]) bit for bit, the value
     * the vector kernel computes. */
    float *recon;
} sq_state;

/* ---- calibration helpers ------------------------------------------------ */

/* Uniform cell geometry of range [lo, hi] for dimension j. */
static void sq_set_uniform(sq_state *s, size_t j, float lo, float hi)
{
    float w = hi > lo ? (float)(((double)hi - (double)lo) / (double)s->L) : 0.0f;
    s->lo[j] = lo;
    s->w[j] = w;
    s->rbase[j] = (float)((double)lo + 0.5 * (double)w);
    for (size_t c = 0; c < s->L; c++) s->recon[j * s->L + c] = fmaf((float)c, w, s->rbase[j]);
}

/* The quantile levels a calibration needs, in the order sq_fit reads them:
 * percentile: P(clip), P(100-clip); quantile: the L-1 edges k/L, then the L
 * cell medians (c+1/2)/L. Returns how many (at most 2L-1). */
static size_t sq_levels(const sq_state *s, double *p)
{
    size_t L = s->L;
    if (s->p.calibration == SQ_QUANTILE) {
        for (size_t k = 1; k < L; k++) p[k - 1] = (double)k / (double)L;
        for (size_t c = 0; c < L; c++) p[L - 1 + c] = ((double)c + 0.5) / (double)L;
        return 2 * L - 1;
    }
    double c = s->p.clip / 100.0;
    p[0] = c;
    p[1] = 1.0 - c;
    return 2;
}

/* Fit dimension j from its quantiles qv at the sq_levels levels. */
static void sq_fit(sq_state *s, size_t j, const float *qv)
{
    size_t L = s->L;
    if (s->p.calibration == SQ_QUANTILE) {
        memcpy(s->edges + j * (L - 1), qv, (L - 1) * sizeof *qv);
        memcpy(s->recon + j * L, qv + L - 1, L * sizeof *qv);
        return;
    }
    sq_set_uniform(s, j, qv[0], qv[1]);
}

/* Copy the fit of dimension 0 to every dimension (global ranges). */
static void sq_replicate(sq_state *s)
{
    size_t L = s->L;
    for (size_t j = 1; j < s->base.dim; j++) {
        s->lo[j] = s->lo[0];
        s->w[j] = s->w[0];
        s->rbase[j] = s->rbase[0];
        memcpy(s->recon + j * L, s->recon, L * sizeof *s->recon);
        if (s->edges) memcpy(s->edges + j * (L - 1), s->edges, (L - 1) * sizeof *s->edges);
    }
}

/* ---- one value <-> one code ------------------------------------------------- */

static unsigned sq_code(const sq_state *s, size_t j, float x)
{
    size_t L = s->L;
    if (s->edges) {
        /* Number of edges <= x (upper bound) among the L - 1 = 2^bits - 1
         * sorted edges, by halving steps with no data-dependent branch (a
         * branchy search mispredicted about every other step: quantile
         * encoding ran at a third of uniform's speed). */
        const float *e = s->edges + j * (L - 1);
        size_t a = 0;
        for (size_t step = L / 2; step; step /= 2) a += e[a + step - 1] <= x ? step : 0;
        return (unsigned)a;
    }
    if (!(s->w[j] > 0)) return 0;
    /* Division, not a reciprocal, so that a value exactly on a boundary
     * gives the exact integer. */
    double t = ((double)x - (double)s->lo[j]) / (double)s->w[j];
    if (!(t >= 1.0)) return 0; /* also NaN */
    if (t >= (double)(L - 1)) return (unsigned)(L - 1);
    return (unsigned)t;
}

static void sq_pack(const sq_state *s, const float *x, uint8_t *out)
{
    unsigned bits = (unsigned)s->p.bits;
    uint32_t acc = 0;
    unsigned nb = 0;
    for (size_t j = 0; j < s->base.dim; j++) {
        acc |= (uint32_t)sq_code(s, j, x[j]) << nb;
        nb += bits;
        while (nb >= 8) {
            *out++ = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    if (nb) *out = (uint8_t)acc;
}

/* Code of dimension j of one packed vector (code_bytes bytes). */
static unsigned sq_unpack1(const sq_state *s, const uint8_t *code, size_t j)
{
    size_t bit = j * s->p.bits, byte = bit / 8;
    unsigned v = code[byte];
    if (byte + 1 < s->code_bytes) v |= (unsigned)code[byte + 1] << 8;
    return (v >> (bit % 8)) & (unsigned)(s->L - 1);
}

/* ---- scan kernels ----------------------------------------------------------- */

enum { SQ_K_U8 = 0, SQ_K_UBITS = 1 };
#define SQ_TQ 4 /* most queries, or codes, in one tile */

/* The 8 bytes holding chunk k (dimensions 8k..8k+7) of a code: exactly
 * `bits` bytes belong to it; the rest (next chunk, or zeros past the end of
 * the code) is masked off or meets zero step/base/query padding. */
static inline uint64_t sq_chunk(const uint8_t *code, size_t k, size_t bits, size_t code_bytes)
{
    size_t off = k * bits, avail = code_bytes - off;
    uint64_t w = 0;
    if (avail >= 8) {
        memcpy(&w, code + off, 8); /* constant size: one load */
    } else if (code_bytes >= 8) {
        /* The code's last 8 bytes, shifted down: no read past the code. */
        memcpy(&w, code + code_bytes - 8, 8);
        w >>= 8 * (8 - avail);
    } else {
        for (size_t t = 0; t < avail; t++) w |= (uint64_t)code[off + t] << (8 * t);
    }
    return w;
}

#if SQ_X86
typedef struct {
    __m256i shuf, shift, mask;
} sq_consts;

__attribute__((target("avx2,fma"))) static void sq_consts_init(const sq_state *s, sq_consts *k)
{
    /* Lane i needs bits [i*b, i*b+b) of the chunk: gather the two bytes
     * holding them (pshufb, per 128-bit half, from the broadcast 8 bytes),
     * shift right by the bit offset within the first byte, mask. */
    int8_t idx[32];
    int32_t shift[8];
    unsigned b = (unsigned)s->p.bits;
    for (int i = 0; i < 8; i++) {
        unsigned bit = (unsigned)i * b, byte = bit / 8;
        int8_t *t = idx + 16 * (i / 4) + 4 * (i % 4);
        t[0] = (int8_t)byte;
        t[1] = (int8_t)(byte + 1 < 8 ? byte + 1 : 0x80);
        t[2] = (int8_t)0x80;
        t[3] = (int8_t)0x80;
        shift[i] = (int32_t)(bit % 8);
    }
    k->shuf = _mm256_loadu_si256((const __m256i *)idx);
    k->shift = _mm256_loadu_si256((const __m256i *)shift);
    k->mask = _mm256_set1_epi32((int)(s->L - 1));
}

/* The 8 codes of chunk k as int32 lanes. */
__attribute__((always_inline, target("avx2,fma"))) static inline __m256i
sq_codes8(const sq_state *s, const sq_consts *kc, int kind, const uint8_t *code, size_t k)
{
    uint64_t w = sq_chunk(code, k, s->p.bits, s->code_bytes);
    if (kind == SQ_K_U8) return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)w));
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)w), kc->shuf);
    return _mm256_and_si256(_mm256_srlv_epi32(v, kc->shift), kc->mask);
}

__attribute__((always_inline, target("avx2,fma"))) static inline float sq_hsum(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* One tile: Q queries (rows qs, dim8 floats each) x C codes; every pair
 * gets its own accumulator, so its arithmetic does not depend on Q or C.
 * Dot with uniform cells ("scaled"): q.x^ = sum_j q_j base_j + sum_j
 * (q_j w_j) c_j, so qs holds the per-query scaled vectors q*w, c0 the first
 * sum, and the inner loop is one FMA over the integer codes. Otherwise the
 * chunk is dequantised once (FMA) and shared by the Q queries. */
__attribute__((always_inline, target("avx2,fma"))) static inline void
sq_tile(const sq_state *s, const sq_consts *kc, int kind, int l2, int Q, int C,
        const float *const *qs, const float *c0, const uint8_t *const *cs, float *out,
        size_t ldo)
{
    int scaled = !l2;
    __m256 acc[SQ_TQ][SQ_TQ];
    for (int a = 0; a < Q; a++)
        for (int c = 0; c < C; c++) acc[a][c] = _mm256_setzero_ps();
    size_t nch = s->dim8 / 8;
    for (size_t k = 0; k < nch; k++) {
        __m256 xh[SQ_TQ];
        for (int c = 0; c < C; c++) {
            __m256i ci = sq_codes8(s, kc, kind, cs[c], k);
            if (scaled)
                xh[c] = _mm256_cvtepi32_ps(ci);
            else
                xh[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ci), _mm256_loadu_ps(s->w + 8 * k),
                                        _mm256_loadu_ps(s->rbase + 8 * k));
        }
        for (int a = 0; a < Q; a++) {
            __m256 qv = _mm256_loadu_ps(qs[a] + 8 * k);
            for (int c = 0; c < C; c++) {
                if (l2) {
                    __m256 d = _mm256_sub_ps(qv, xh[c]);
                    acc[a][c] = _mm256_fmadd_ps(d, d, acc[a][c]);
                } else {
                    acc[a][c] = _mm256_fmadd_ps(qv, xh[c], acc[a][c]);
                }
            }
        }
    }
    for (int a = 0; a < Q; a++)
        for (int c = 0; c < C; c++) {
            float v = sq_hsum(acc[a][c]);
            if (scaled) v += c0[a];
            out[(size_t)a * ldo + (size_t)c] = l2 ? -v : v;
        }
}

typedef void (*sq_tile_fn)(const sq_state *, const sq_consts *, const float *const *,
                           const float *, const uint8_t *const *, float *, size_t);

#define SQ_TILE_FN(KIND, L2, Q, C)                                                        \
    __attribute__((target("avx2,fma"))) static void sq_tile_##KIND##_##L2##_##Q##_##C(     \
        const sq_state *s, const sq_consts *kc, const float *const *qs, const float *c0,  \
        const uint8_t *const *cs, float *out, size_t ldo)                                 \
    {                                                                                     \
        sq_tile(s, kc, KIND, L2, Q, C, qs, c0, cs, out, ldo);                             \
    }
/* Shapes: 4 queries x 2 codes (batches), 1 query x 4 codes (single
 * queries: four independent FMA chains), and their 1-code remainders. */
#define SQ_TILE_SET(KIND, L2)                                                             \
    SQ_TILE_FN(KIND, L2, 4, 2) SQ_TILE_FN(KIND, L2, 4, 1) SQ_TILE_FN(KIND, L2, 1, 4)      \
        SQ_TILE_FN(KIND, L2, 1, 1)
SQ_TILE_SET(0, 0)
SQ_TILE_SET(0, 1)
SQ_TILE_SET(1, 0)
SQ_TILE_SET(1, 1)

#define SQ_TILE_ROW(KIND, L2)                                                             \
    {sq_tile_##KIND##_##L2##_4_2, sq_tile_##KIND##_##L2##_4_1, sq_tile_##KIND##_##L2##_1_4, \
     sq_tile_##KIND##_##L2##_1_1}
/* [kind][l2][{4x2, 4x1, 1x4, 1x1}] */
static const sq_tile_fn sq_tiles[2][2][4] = {
    {SQ_TILE_ROW(0, 0), SQ_TILE_ROW(0, 1)},
    {SQ_TILE_ROW(1, 0), SQ_TILE_ROW(1, 1)},
};

/* Codes in blocks that stay in L2 while every query tile passes over them. */
static int sq_score_avx2(const sq_state *s, const float *q, size_t nq, const uint8_t *codes,
                         size_t n, float *scores)
{
    sq_consts kc;
    sq_consts_init(s, &kc);
    int kind = s->p.bits == 8 ? SQ_K_U8 : SQ_K_UBITS;
    int l2 = s->base.sim == ECB_SIM_L2;
    const sq_tile_fn *fn = sq_tiles[kind][l2];
    size_t cb = s->code_bytes, d8 = s->dim8;
    float *qw = NULL, *c0 = NULL;
    if (!l2) {
        qw = malloc(nq * d8 * sizeof *qw);
        c0 = malloc(nq * sizeof *c0);
        if (!qw || !c0) {
            free(qw);
            free(c0);
            return s->base.host->fail(s->base.host, ECB_ENOMEM,
                                      "sq: out of memory for %zu scaled queries", nq);
        }
        for (size_t i = 0; i < nq; i++) {
            double acc = 0;
            for (size_t j = 0; j < d8; j++) {
                qw[i * d8 + j] = q[i * d8 + j] * s->w[j];
                acc += (double)q[i * d8 + j] * s->rbase[j];
            }
            c0[i] = (float)acc;
        }
        q = qw;
    }
    size_t blk = 262144 / (cb ? cb : 1);
    if (blk < 16) blk = 16;
    for (size_t j0 = 0; j0 < n; j0 += blk) {
        size_t j1 = n - j0 < blk ? n : j0 + blk;
        for (size_t i = 0; i < nq;) {
            int Q = nq - i >= SQ_TQ ? SQ_TQ : 1, C = Q == SQ_TQ ? 2 : 4;
            const float *qs[SQ_TQ];
            for (int a = 0; a < Q; a++) qs[a] = q + (i + (size_t)a) * d8;
            const float *ci = c0 ? c0 + i : NULL;
            size_t j = j0;
            for (; j + (size_t)C <= j1; j += (size_t)C) {
                const uint8_t *cs[SQ_TQ];
                for (int c = 0; c < C; c++) cs[c] = codes + (j + (size_t)c) * cb;
                fn[Q == SQ_TQ ? 0 : 2](s, &kc, qs, ci, cs, scores + i * n + j, n);
            }
            for (; j < j1; j++) {
                const uint8_t *cs[1] = {codes + j * cb};
                fn[Q == SQ_TQ ? 1 : 3](s, &kc, qs, ci, cs, scores + i * n + j, n);
            }
            i += (size_t)Q;
        }
    }
    free(qw);
    free(c0);
    return 0;
}
#endif /* SQ_X86 */

#if SQ_X86
/* sq_widen's lookups, eight lanes at a time: a gather from the chunk's
 * level table (recon is 8 dims x L levels per chunk). The same loads, so the
 * same floats; the scalar loop was 0.6 s of a 1.2 s single query over 1M x
 * 768 8-bit codes. */
__attribute__((target("avx2,fma"))) static void sq_widen_avx2(const sq_state *s,
                                                              const uint8_t *codes, size_t rows,
                                                              float *out)
{
    sq_consts kc;
    sq_consts_init(s, &kc);
    const int kind = s->p.bits == 8 ? SQ_K_U8 : SQ_K_UBITS;
    const size_t L = s->L, d8 = s->dim8;
    const __m256i offs =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)L));
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *c = codes + i * s->code_bytes;
        float *o = out + i * d8;
        for (size_t k = 0; k < d8 / 8; k++) {
            __m256i idx = _mm256_add_epi32(sq_codes8(s, &kc, kind, c, k), offs);
            _mm256_storeu_ps(o + 8 * k, _mm256_i32gather_ps(s->recon + 8 * k * L, idx, 4));
        }
    }
}
#endif

/* ecb_widen_fn for quantile cells: codes to dim8 floats (padding 0). */
static void sq_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const sq_state *s = ctx;
#if SQ_X86
    if (s->avx2) {
        sq_widen_avx2(s, codes, rows, out);
        return;
    }
#endif
    const size_t L = s->L, b = s->p.bits, d8 = s->dim8;
    const uint64_t mask = L - 1;
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *c = codes + i * s->code_bytes;
        float *o = out + i * d8;
        for (size_t k = 0; k < d8 / 8; k++) {
            uint64_t w = sq_chunk(c, k, b, s->code_bytes);
            const float *r = s->recon + 8 * k * L;
            for (size_t t = 0; t < 8; t++) o[8 * k + t] = r[t * L + ((w >> (t * b)) & mask)];
        }
    }
}

static void sq_score_portable(const sq_state *s, const float *q, size_t nq,
                              const uint8_t *codes, size_t n, float *scores)
{
    size_t d = s->base.dim, L = s->L, cb = s->code_bytes, d8 = s->dim8;
    int l2 = s->base.sim == ECB_SIM_L2;
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * cb;
        for (size_t i = 0; i < nq; i++) {
            const float *qi = q + i * d8;
            double acc = 0;
            for (size_t t = 0; t < d; t++) {
                float xh = s->recon[t * L + sq_unpack1(s, c, t)];
                acc += l2 ? ((double)qi[t] - xh) * ((double)qi[t] - xh) : (double)qi[t] * xh;
            }
            scores[i * n + j] = l2 ? (float)-acc : (float)acc;
        }
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static void sq_destroy(ecb_method *m)
{
    if (!m) return;
    sq_state *s = (sq_state *)m;
    free(s->lo);
    free(s->w);
    free(s->rbase);
    free(s->edges);
    free(s->recon);
    free(s);
}

static int sq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct sq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "sq: input dimension must be >= 1, got 0");
    if (p->bits < 1 || p->bits > 8)
        return host->fail(host, ECB_EINVAL, "sq: parameter bits: expected 1..8, got %zu", p->bits);
    if (p->calibration < SQ_MINMAX || p->calibration > SQ_QUANTILE)
        return host->fail(host, ECB_EINVAL,
                          "sq: parameter calibration: expected minmax|percentile|quantile, got %d",
                          p->calibration);
    if (p->ranges != SQ_PER_DIM && p->ranges != SQ_GLOBAL)
        return host->fail(host, ECB_EINVAL, "sq: parameter ranges: expected per_dim|global, got %d",
                          p->ranges);
    if (!(p->clip >= 0 && p->clip < 50))
        return host->fail(host, ECB_EINVAL, "sq: parameter clip: expected 0 <= clip < 50, got %g",
                          p->clip);
    if (dim > ((size_t)1 << 24))
        return host->fail(host, ECB_ERANGE, "sq: input dimension %zu too large (max 2^24)", dim);
    sq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "sq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->L = (size_t)1 << p->bits;
    s->dim8 = (dim + 7) / 8 * 8;
    s->code_bytes = (p->bits * dim + 7) / 8;
#if SQ_X86
    s->avx2 = ecb_cpu()->avx2 && ecb_cpu()->fma;
#endif
    s->lo = calloc(s->dim8, sizeof(float));
    s->w = calloc(s->dim8, sizeof(float));
    s->rbase = calloc(s->dim8, sizeof(float));
    s->recon = calloc(s->dim8 * s->L, sizeof(float));
    if (p->calibration == SQ_QUANTILE) s->edges = calloc(dim * (s->L - 1), sizeof(float));
    if (!s->lo || !s->w || !s->rbase || !s->recon ||
        (p->calibration == SQ_QUANTILE && !s->edges)) {
        sq_destroy(&s->base);
        return host->fail(host, ECB_ENOMEM, "sq: out of memory for %zu dimensions", dim);
    }
    *out = &s->base;
    return 0;
}

/* Per-dimension min and max, row by row, in fixed chunks of rows on the
 * host's threads, merged in chunk order. The rule v < lo ? v : lo keeps the
 * first of equal values (+0 / -0) and ignores NaN after the first row, so
 * starting every chunk but the first at +-inf and merging by the same rule
 * gives the one-pass column walk's values bit for bit, whatever the
 * thread count. */
enum { SQ_MINMAX_ROWS = 4096 };

typedef struct {
    const float *x;
    size_t n, d;
    float *lo, *hi; /* per chunk, d each */
} sq_mm_job;

static int sq_minmax_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    const sq_mm_job *j = arg;
    const size_t d = j->d, i0 = task * SQ_MINMAX_ROWS;
    const size_t i1 = j->n - i0 < SQ_MINMAX_ROWS ? j->n : i0 + SQ_MINMAX_ROWS;
    float *lo = j->lo + task * d, *hi = j->hi + task * d;
    if (task == 0) {
        memcpy(lo, j->x, d * sizeof *lo);
        memcpy(hi, j->x, d * sizeof *hi);
    } else {
        for (size_t t = 0; t < d; t++) {
            lo[t] = INFINITY;
            hi[t] = -INFINITY;
        }
    }
    for (size_t i = task == 0 ? 1 : i0; i < i1; i++) {
        const float *r = j->x + i * d;
        for (size_t t = 0; t < d; t++) {
            float v = r[t];
            lo[t] = v < lo[t] ? v : lo[t];
            hi[t] = v > hi[t] ? v : hi[t];
        }
    }
    return 0;
}

static int sq_train_minmax(sq_state *s, const float *x, size_t n)
{
    size_t d = s->base.dim, nchunk = (n + SQ_MINMAX_ROWS - 1) / SQ_MINMAX_ROWS;
    sq_mm_job j = {.x = x, .n = n, .d = d};
    j.lo = malloc(nchunk * d * sizeof *j.lo);
    j.hi = malloc(nchunk * d * sizeof *j.hi);
    if (!j.lo || !j.hi) {
        free(j.lo);
        free(j.hi);
        return s->base.host->fail(s->base.host, ECB_ENOMEM, "sq: out of memory (%zu dims)", d);
    }
    int rc = ecb_parallel_for(nchunk, s->base.host->threads, sq_minmax_task, &j);
    for (size_t c = 1; c < nchunk && !rc; c++)
        for (size_t t = 0; t < d; t++) {
            float l = j.lo[c * d + t], u = j.hi[c * d + t];
            j.lo[t] = l < j.lo[t] ? l : j.lo[t];
            j.hi[t] = u > j.hi[t] ? u : j.hi[t];
        }
    if (!rc)
        for (size_t t = 0; t < d; t++) sq_set_uniform(s, t, j.lo[t], j.hi[t]);
    free(j.lo);
    free(j.hi);
    return rc;
}

/** @param x n*dim floats of the corpus sample. */
static int sq_train(ecb_method *m, const float *x, size_t n)
{
    sq_state *s = (sq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim;
    if (n == 0) return h->fail(h, ECB_EINVAL, "sq: train needs at least 1 vector, got 0");
    double *p = malloc((2 * s->L - 1) * sizeof *p);
    if (!p) return h->fail(h, ECB_ENOMEM, "sq: out of memory");
    size_t np = sq_levels(s, p);
    int rc = 0;
    if (s->p.ranges == SQ_PER_DIM) {
        if (s->p.calibration == SQ_MINMAX) {
            rc = sq_train_minmax(s, x, n);
        } else {
            /* Quantiles by selection, not a sort of each column: the value
             * at a rank is the sorted column's element there, bit for bit. */
            float *qv = malloc(d * np * sizeof *qv);
            rc = qv ? ecb_column_quantiles(x, n, d, d, p, np, qv, h->threads) : ECB_ENOMEM;
            if (rc)
                rc = h->fail(h, rc, "sq: %s computing %zu quantiles of %zu x %zu values",
                             rc == ECB_ENOMEM ? "out of memory" : "invalid input", np, n, d);
            else
                for (size_t j = 0; j < d; j++) sq_fit(s, j, qv + j * np);
            free(qv);
        }
    } else {
        size_t total;
        if (__builtin_mul_overflow(n, d, &total)) {
            free(p);
            return h->fail(h, ECB_ERANGE, "sq: %zu x %zu sample too large", n, d);
        }
        if (s->p.calibration == SQ_MINMAX) {
            float lo = x[0], hi = x[0];
            for (size_t t = 1; t < total; t++) {
                if (x[t] < lo) lo = x[t];
                if (x[t] > hi) hi = x[t];
            }
            sq_set_uniform(s, 0, lo, hi);
        } else {
            size_t npool = total < SQ_GLOBAL_MAX_VALUES ? total : SQ_GLOBAL_MAX_VALUES;
            float *pool = NULL, *qv = malloc(np * sizeof *qv);
            if (qv && npool < total && (pool = malloc(npool * sizeof *pool)) != NULL) {
                ecb_rng r;
                ecb_rng_seed2(&r, h->seed, SQ_STREAM);
                for (size_t t = 0; t < npool; t++) pool[t] = x[ecb_rng_below(&r, total)];
            }
            if (!qv || (npool < total && !pool))
                rc = h->fail(h, ECB_ENOMEM, "sq: out of memory pooling %zu values", npool);
            else if ((rc = ecb_quantiles(pool ? pool : x, npool, p, np, qv)) != 0)
                rc = h->fail(h, rc, "sq: %s computing %zu quantiles of %zu values",
                             rc == ECB_ENOMEM ? "out of memory" : "invalid input", np, npool);
            else
                sq_fit(s, 0, qv);
            free(pool);
            free(qv);
        }
        if (!rc) sq_replicate(s);
    }
    free(p);
    if (rc) return rc;
    s->trained = 1;
    return 0;
}

static size_t sq_code_size(const ecb_method *m) { return ((const sq_state *)m)->code_bytes; }

static size_t sq_aux_bytes(const ecb_method *m)
{
    const sq_state *s = (const sq_state *)m;
    size_t ranges = s->p.ranges == SQ_GLOBAL ? 1 : m->dim;
    size_t per = s->p.calibration == SQ_QUANTILE ? 2 * s->L - 1 : 2;
    return ranges * per * sizeof(float);
}

/** @param x n*dim floats. @param codes n*ceil(bits*dim/8) bytes. */
static int sq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const sq_state *s = (const sq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "sq: encode called before train");
    for (size_t i = 0; i < n; i++) sq_pack(s, x + i * m->dim, codes + i * s->code_bytes);
    return 0;
}

static int sq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const sq_state *s = (const sq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "sq: decode called before train");
    size_t d = m->dim;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = s->recon[j * s->L + sq_unpack1(s, codes + i * s->code_bytes, j)];
    return 0;
}

/* Prepared query: dim8 floats, zero padded; quantised and dequantised with
 * the codebook in symmetric mode. */
static size_t sq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return ((const sq_state *)m)->dim8 * sizeof(float);
}

static int sq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const sq_state *s = (const sq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "sq: prepare called before train");
    size_t d = m->dim, d8 = s->dim8;
    float *y = out;
    for (size_t i = 0; i < nq; i++) {
        float *yi = y + i * d8;
        for (size_t j = 0; j < d; j++) {
            float v = q[i * d + j];
            yi[j] = mode == ECB_MODE_SYMMETRIC ? s->recon[j * s->L + sq_code(s, j, v)] : v;
        }
        for (size_t j = d; j < d8; j++) yi[j] = 0.0f;
    }
    return 0;
}

static int sq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode; /* the mode is in the prepared query */
    const sq_state *s = (const sq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "sq: score called before train");
    if (nq == 0 || n == 0) return 0;
    if (s->edges) {
        int rc = ecb_scores_decoded(s, sq_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                                    s->code_bytes, n, s->dim8, scores);
        if (rc)
            return m->host->fail(m->host, rc, "sq: %s scoring %zu x %zu x %zu",
                                 rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS",
                                 nq, n, s->dim8);
        return 0;
    }
#if SQ_X86
    if (s->avx2) return sq_score_avx2(s, prepared, nq, codes, n, scores);
#endif
    sq_score_portable(s, prepared, nq, codes, n, scores);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const sq_size_params[] = {"bits", NULL};

static const ecb_method_vtable sq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "sq",
    .summary = "scalar quantization, 1-8 bits per dimension (bit-packed), minmax/percentile/"
               "quantile calibration",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = sq_params_table,
    .params_size = sizeof(struct sq_params),
    .param_conds = sq_conds,
    .create = sq_create,
    .destroy = sq_destroy,
    .train = sq_train,
    .code_size = sq_code_size,
    .aux_bytes = sq_aux_bytes,
    .encode = sq_encode,
    .decode = sq_decode,
    .query_size = sq_query_size,
    .prepare = sq_prepare,
    .score = sq_score,
    .size_params = sq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_sq(void) { return &sq_vtable; }
