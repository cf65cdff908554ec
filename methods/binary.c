/*
 * binary: 1 bit per dimension, ceil(dim/8) bytes per vector.
 *
 * Bit j of a code is dimension j: byte j/8, bit j%8, least significant bit
 * first (numpy.packbits(..., bitorder="little")). The bit is 1 when
 * x_j > t_j, so a value equal to the threshold gives 0; bits past dim in
 * the last byte are 0. Thresholds (fitted in train() on the corpus sample):
 *  - zero: t_j = 0, the sign binarization of e.g. sentence-transformers'
 *    quantize_embeddings (nothing stored);
 *  - median: t_j = the per-dimension median (mean of the two middle values
 *    for an even sample), so every bit is balanced on the sample;
 *  - mean: t_j = the per-dimension mean.
 * aux_bytes counts the dim float thresholds for median and mean, plus the
 * 2*dim reconstruction levels when the similarity is L2 (see below).
 *
 * Scoring, with s in {-1,+1}^dim the code read as signs (bit 1 -> +1):
 *  - symmetric: the query is binarized with the same thresholds and the
 *    score is -hamming(q, x). For +-1 vectors ||s_q - s_x||^2 = 4 hamming
 *    and s_q.s_x = dim - 2 hamming, so this one score is order-equivalent to
 *    both dot and L2 on the codes.
 *  - asymmetric, dot: q.s (float.sign). If x ~ t + a*s for a scale a > 0,
 *    q.x = q.t + a q.s ranks documents exactly as q.s (q.t is common).
 *  - asymmetric, L2: -||q - x^||^2 with x^_j = lo_j for bit 0 and hi_j for
 *    bit 1, the conditional means of the training values on each side of
 *    the threshold (fitted in train(); +-1 before any training, i.e.
 *    -||q - s||^2). A +-1 (or t + a*s) model is wrong for L2 data that is
 *    not centred at the threshold: for non-negative SIFT with threshold
 *    zero, -||q - s||^2 ranks almost at random (kNN recall@10 0.004 on
 *    siftsmall), while the two levels per dimension make it a 1-bit scalar
 *    quantizer with a real distance estimate (0.09 there; such data wants
 *    the median or mean threshold: 0.30 and 0.42).
 * The asymmetric scan builds, per query, a 256-entry table for each code
 * byte (the sum of the byte's 8 per-dimension terms, for bit 0 or 1), so a
 * code costs one table lookup and add per byte; the symmetric scan uses
 * ecb_sign_scores_hamming (AVX-512 VPOPCNTDQ / AVX2 / POPCNT as the CPU allows).
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { BIN_ZERO = 0, BIN_MEDIAN = 1, BIN_MEAN = 2 };
static const char *const bin_thresholds[] = {"zero", "median", "mean", NULL};

struct bin_params {
    int threshold;
};

static const ecb_param bin_params_table[] = {
    {"threshold", ECB_PARAM_ENUM, offsetof(struct bin_params, threshold), .def.b = BIN_ZERO,
     .enum_values = bin_thresholds,
     .help = "bit j = x_j > t_j with t = zero, the per-dimension median, or the mean"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct bin_params p;
    size_t nbytes;
    int trained;
    float *t;      /* dim thresholds */
    float *lo, *hi; /* dim reconstruction levels of bit 0 / bit 1 (L2) */
} bin_state;

/* ---- helpers ---------------------------------------------------------------- */

static void bin_pack(const bin_state *s, const float *x, uint8_t *out)
{
    size_t d = s->base.dim;
    memset(out, 0, s->nbytes);
    for (size_t j = 0; j < d; j++)
        if (x[j] > s->t[j]) out[j / 8] |= (uint8_t)(1u << (j % 8));
}

/* ---- hooks ------------------------------------------------------------------ */

static void bin_destroy(ecb_method *m)
{
    if (!m) return;
    bin_state *s = (bin_state *)m;
    free(s->t);
    free(s->lo);
    free(s->hi);
    free(s);
}

static int bin_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    const struct bin_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "binary: input dimension must be >= 1, got 0");
    if (p->threshold < BIN_ZERO || p->threshold > BIN_MEAN)
        return host->fail(host, ECB_EINVAL,
                          "binary: parameter threshold: expected zero|median|mean, got %d",
                          p->threshold);
    bin_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "binary: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->nbytes = (dim + 7) / 8;
    s->t = calloc(dim, sizeof *s->t);
    s->lo = malloc(dim * sizeof *s->lo);
    s->hi = malloc(dim * sizeof *s->hi);
    if (!s->t || !s->lo || !s->hi) {
        bin_destroy(&s->base);
        return host->fail(host, ECB_ENOMEM, "binary: out of memory for %zu thresholds", dim);
    }
    for (size_t j = 0; j < dim; j++) {
        s->lo[j] = -1.0f;
        s->hi[j] = 1.0f;
    }
    s->trained = p->threshold == BIN_ZERO;
    *out = &s->base;
    return 0;
}

/** @param x n*dim floats of the corpus sample. */
static int bin_train(ecb_method *m, const float *x, size_t n)
{
    bin_state *s = (bin_state *)m;
    size_t d = m->dim;
    if (s->p.threshold == BIN_ZERO && n == 0) return 0; /* levels stay +-1 */
    if (n == 0)
        return m->host->fail(m->host, ECB_EINVAL,
                             "binary: threshold=%s needs at least 1 training vector, got 0",
                             bin_thresholds[s->p.threshold]);
    /* Column sums row by row (each column still adds its rows in order, so
     * the same doubles): walking one column at a time strided through the
     * whole sample, a cache miss per value, took seconds at 200k x 768. */
    double *acc = calloc(3 * d, sizeof *acc);
    size_t *cnt = calloc(d, sizeof *cnt);
    if (!acc || !cnt) {
        free(acc);
        free(cnt);
        return m->host->fail(m->host, ECB_ENOMEM, "binary: out of memory (%zu sums)", 3 * d);
    }
    if (s->p.threshold == BIN_MEAN) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) acc[j] += x[i * d + j];
        for (size_t j = 0; j < d; j++) s->t[j] = (float)(acc[j] / (double)n);
        memset(acc, 0, d * sizeof *acc);
    } else if (s->p.threshold == BIN_MEDIAN) {
        /* the two middle order statistics of every column by the toolkit's
         * selection (rows read in place, not one strided column at a time);
         * their mean in double for an even sample */
        size_t ranks[2] = {(n - 1) / 2, n / 2};
        float *med = malloc(2 * d * sizeof *med);
        int rc = med ? ecb_column_ranks(x, n, d, d, ranks, 2, med, m->host->threads) : ECB_ENOMEM;
        if (rc) {
            free(med);
            free(acc);
            free(cnt);
            return m->host->fail(m->host, rc, "binary: median of %zu training vectors failed", n);
        }
        for (size_t j = 0; j < d; j++)
            s->t[j] = n % 2 ? med[2 * j + 1]
                            : (float)(((double)med[2 * j] + (double)med[2 * j + 1]) / 2.0);
        free(med);
    }
    /* Levels: the mean of the sample on each side of the threshold; a side
     * the sample never reaches gets the threshold itself. */
    double *below = acc + d, *above = acc + 2 * d; /* sums on each side */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            float v = x[i * d + j];
            if (v > s->t[j]) {
                above[j] += v;
                cnt[j]++;
            } else {
                below[j] += v;
            }
        }
    for (size_t j = 0; j < d; j++) {
        size_t c0 = n - cnt[j], c1 = cnt[j];
        s->lo[j] = c0 ? (float)(below[j] / (double)c0) : s->t[j];
        s->hi[j] = c1 ? (float)(above[j] / (double)c1) : s->t[j];
    }
    free(acc);
    free(cnt);
    s->trained = 1;
    return 0;
}

static size_t bin_code_size(const ecb_method *m) { return ((const bin_state *)m)->nbytes; }

static size_t bin_aux_bytes(const ecb_method *m)
{
    const bin_state *s = (const bin_state *)m;
    size_t b = s->p.threshold == BIN_ZERO ? 0 : m->dim * sizeof(float);
    if (m->sim == ECB_SIM_L2) b += 2 * m->dim * sizeof(float);
    return b;
}

/** @param x n*dim floats. @param codes n*ceil(dim/8) bytes. */
static int bin_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const bin_state *s = (const bin_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "binary: encode called before train");
    for (size_t i = 0; i < n; i++) bin_pack(s, x + i * m->dim, codes + i * s->nbytes);
    return 0;
}

/* Symmetric: the binarized query (nbytes). Asymmetric: per dimension the
 * score terms of bit 0 and bit 1 (2*dim floats): (-q_j, q_j) for dot,
 * (-(q_j - lo_j)^2, -(q_j - hi_j)^2) for L2. */
static size_t bin_query_size(const ecb_method *m, ecb_mode mode)
{
    const bin_state *s = (const bin_state *)m;
    return mode == ECB_MODE_SYMMETRIC ? s->nbytes : 2 * m->dim * sizeof(float);
}

static int bin_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const bin_state *s = (const bin_state *)m;
    size_t d = m->dim;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "binary: prepare called before train");
    if (mode == ECB_MODE_SYMMETRIC) {
        for (size_t i = 0; i < nq; i++) bin_pack(s, q + i * d, (uint8_t *)out + i * s->nbytes);
        return 0;
    }
    float *y = out;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < d; j++) {
            float v = q[i * d + j], *yj = y + 2 * (i * d + j);
            if (m->sim == ECB_SIM_L2) {
                double a = (double)v - s->lo[j], b = (double)v - s->hi[j];
                yj[0] = (float)-(a * a);
                yj[1] = (float)-(b * b);
            } else {
                yj[0] = -v;
                yj[1] = v;
            }
        }
    return 0;
}

/* Table for one prepared query (2*dim terms): tab[k*256 + v] = sum over
 * the byte's dimensions i of term[bit i of v] (dimensions past dim count 0). */
static void bin_table(const bin_state *s, const float *terms, float *tab)
{
    size_t d = s->base.dim;
    for (size_t k = 0; k < s->nbytes; k++) {
        float gain[8];
        double zero = 0;
        for (int i = 0; i < 8; i++) {
            size_t j = 8 * k + (size_t)i;
            float t0 = j < d ? terms[2 * j] : 0.0f, t1 = j < d ? terms[2 * j + 1] : 0.0f;
            zero += t0;
            gain[i] = t1 - t0;
        }
        float *t = tab + k * 256;
        t[0] = (float)zero;
        /* Each entry adds the gain of its lowest set bit to the entry without
         * it (computed before, being smaller). */
        for (unsigned v = 1; v < 256; v++) {
            unsigned low = (unsigned)__builtin_ctz(v);
            t[v] = t[v & (v - 1)] + gain[low];
        }
    }
}

static void bin_scan_table(const float *tab, size_t nb, const uint8_t *codes, size_t n,
                           float *out)
{
    /* Four partial sums per code break the add latency chain; byte k goes
     * to sum k % 4. Eight code bytes are read with one load (the byte loads
     * were half the loads of the scan); the sums, and their order, are
     * those of the byte-at-a-time loop below. */
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * nb;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        size_t k = 0;
        for (; k + 8 <= nb; k += 8) {
            uint64_t w;
            memcpy(&w, c + k, 8);
            const float *t = tab + k * 256;
            a0 += t[0 * 256 + (w & 255)];
            a1 += t[1 * 256 + (w >> 8 & 255)];
            a2 += t[2 * 256 + (w >> 16 & 255)];
            a3 += t[3 * 256 + (w >> 24 & 255)];
            a0 += t[4 * 256 + (w >> 32 & 255)];
            a1 += t[5 * 256 + (w >> 40 & 255)];
            a2 += t[6 * 256 + (w >> 48 & 255)];
            a3 += t[7 * 256 + (w >> 56)];
        }
        for (; k + 4 <= nb; k += 4) {
            a0 += tab[(k + 0) * 256 + c[k + 0]];
            a1 += tab[(k + 1) * 256 + c[k + 1]];
            a2 += tab[(k + 2) * 256 + c[k + 2]];
            a3 += tab[(k + 3) * 256 + c[k + 3]];
        }
        for (; k < nb; k++) a0 += tab[k * 256 + c[k]];
        out[j] = (a0 + a1) + (a2 + a3);
    }
}

/* Out of line: inlined into a caller that passes a one-byte code array (a
 * unit test), GCC's -Warray-bounds flags the 8-byte loads of
 * bin_scan_table, which it cannot see are dead for nbytes = 1. */
__attribute__((noinline)) static int bin_score_asym(const bin_state *s, const float *q, size_t nq,
                                                    const uint8_t *codes, size_t n, float *scores)
{
    const ecb_method *m = &s->base;
    size_t nb = s->nbytes, d = m->dim;
    float *tab = malloc(nb * 256 * sizeof *tab);
    if (!tab) return m->host->fail(m->host, ECB_ENOMEM, "binary: out of memory (query table)");
    for (size_t i = 0; i < nq; i++) {
        bin_table(s, q + 2 * i * d, tab);
        bin_scan_table(tab, nb, codes, n, scores + i * n);
    }
    free(tab);
    return 0;
}

static int bin_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    const bin_state *s = (const bin_state *)m;
    if (nq == 0 || n == 0) return 0;
    if (mode == ECB_MODE_SYMMETRIC) {
        ecb_sign_scores_hamming(prepared, nq, codes, n, s->nbytes, scores);
        return 0;
    }
    return bin_score_asym(s, prepared, nq, codes, n, scores);
}

/* Symmetric: a popcount per code, cheaper than the score it writes. The
 * asymmetric table scan looks up a table entry per code byte: the size
 * rule (64 bytes) decides. */
static int bin_scan_kind(const ecb_method *m, ecb_mode mode)
{
    (void)m;
    return mode == ECB_MODE_SYMMETRIC ? ECB_SCAN_CHEAP : ECB_SCAN_DEFAULT;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const bin_size_params[] = {NULL};

static const ecb_method_vtable bin_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "binary",
    .summary = "1 bit per dimension (threshold zero/median/mean), Hamming or float.sign scoring",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = bin_params_table,
    .params_size = sizeof(struct bin_params),
    .create = bin_create,
    .destroy = bin_destroy,
    .train = bin_train,
    .code_size = bin_code_size,
    .aux_bytes = bin_aux_bytes,
    .encode = bin_encode,
    .query_size = bin_query_size,
    .prepare = bin_prepare,
    .score = bin_score,
    .scan_kind = bin_scan_kind,
    .size_params = bin_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_binary(void) { return &bin_vtable; }
