/*
 * lloydmax: random rotation + per-coordinate Lloyd-Max scalar quantization,
 * the TurboQuant family (Zandieh, Daliri, Hadian, Mirrokni, 2025,
 * "TurboQuant: Online Vector Quantization with Near-optimal Distortion
 * Rate"), with the optional 1-bit QJL residual sketch of its inner-product
 * ("prod") variant (Zandieh, Daliri, Han, 2024, "QJL"). Written from the
 * papers' descriptions.
 *
 * Encoding of x: store n = ||x|| (float32), rotate the direction,
 * u = P x / n with a Haar-random orthogonal P, and quantize every coordinate
 * u_i with a fixed scalar quantizer of 2^bits levels. After a random rotation
 * the coordinates of a unit vector are Beta-distributed, ~ N(0, 1/d) for
 * moderate d, so the levels are the Lloyd-Max levels of a Gaussian, computed
 * at create time by iterating the two Lloyd conditions (levels = conditional
 * means of their cells, thresholds = midpoints) to convergence:
 *   fit = gaussian  levels L_c / sqrt(d), the same for every coordinate
 *                   (the paper's data-oblivious quantizer: no training);
 *   fit = perdim    levels mu_i + sigma_i L_c with the mean and standard
 *                   deviation of rotated coordinate i measured on the
 *                   training sample (real embeddings are not isotropic: a
 *                   shared mean direction leaves rotated coordinates with
 *                   non-zero means and unequal variances).
 * We use the Gaussian limit rather than the exact Beta law; at d >= 64 the
 * two differ by O(1/d) in the levels. perdim is the default because it is
 * what beats minmax sq at 4 bits on real data (kNN recall@10, asymmetric,
 * seed 42, gaussian -> perdim: siftsmall 0.869 -> 0.905, synthetic 0.864 ->
 * 0.900 (sq 4 bit: 0.871), cranfield 0.969 -> 0.967).
 * residual_bits = 1 makes inner products unbiased but not better ranked: the
 * MSE stage's bias is a near-uniform shrinkage that ranking ignores, while
 * the sketch adds independent noise (siftsmall, 76 bytes: bits=3 +
 * residual 0.683 against 0.905 for bits=4 alone at 72 bytes).
 *
 * residual_bits = 1 (TurboQuant-prod): the residual r = u - u~ is sketched
 * with QJL, z = sign(S r) for a d x d matrix S of iid N(0,1) entries, plus
 * ||r||. E[<S v, z>] = d sqrt(2/pi) <v, r> / ||r||, so
 *   <v, u> ~= <v, u~> + ||r|| sqrt(pi/2) / d <S v, z>
 * is unbiased for every v (over S). TurboQuant-prod spends b-1 MSE bits + 1
 * sketch bit; here `bits` counts the MSE stage and the sketch is extra, so
 * bits per dimension = bits + residual_bits.
 *
 * Code layout: float32 n [, float32 n ||r|| sqrt(pi/2)/d with the sketch]
 * [, float32 -||x~||^2 (L2; -||x||^2 with the sketch, so the L2 estimate stays
 * unbiased)], then the d b-bit indices packed LSB-first, then the d sketch
 * bits. Bytes: ceil(bits*d/8) + residual_bits*ceil(d/8) + 4*(1 + residual_bits
 * + [L2]).
 *
 * Scores: asymmetric = <q, x~> (+ the sketch term) through a per-query
 * table T[i][c] = (P q)_i * level_i[c], and -||q - x~||^2 for L2 via
 * 2<q,x~> - ||x~||^2 - ||q||^2. Symmetric: the query is encoded the same way
 * and decoded to its reconstruction q~ (with the dequantized sketch
 * ||r|| sqrt(pi/2)/d S^T z for the residual), which then goes through the
 * asymmetric kernel, so the score depends only on the two codes.
 *
 * P and S are stored transposed (rot = P^T, sk = S^T; the transpose of a
 * Haar rotation or of an iid Gaussian matrix has the same law), so that
 * encoding is a fixed-order axpy loop rather than sgemm: OpenBLAS rounds a
 * row differently depending on its position in the block, and codes must
 * not depend on which other vectors were encoded alongside.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct lloydmax_params {
    size_t bits;
    size_t residual_bits;
    int fit;
};

enum { LM_FIT_GAUSSIAN = 0, LM_FIT_PERDIM = 1 };
static const char *const lm_fit_values[] = {"gaussian", "perdim", NULL};

static const ecb_param lloydmax_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct lloydmax_params, bits), .def.u = 4, .min = 1,
     .max = 8, .help = "bits per rotated coordinate (2^bits Lloyd-Max levels)"},
    {"residual_bits", ECB_PARAM_SIZE, offsetof(struct lloydmax_params, residual_bits),
     .def.u = 0, .min = 0, .max = 1,
     .help = "1 adds the QJL sign sketch of the residual (unbiased inner products)"},
    {"fit", ECB_PARAM_ENUM, offsetof(struct lloydmax_params, fit), .def.b = LM_FIT_PERDIM,
     .enum_values = lm_fit_values,
     .help = "gaussian: levels for N(0,1/d), training-free; perdim: per-coordinate mean/std "
             "from the training sample"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct lloydmax_params p;
    size_t B, L;          /* bits, levels */
    size_t nf;            /* floats per code */
    size_t mse_bytes, sk_bytes, code_size;
    int trained;
    double std_levels[256]; /* Lloyd-Max levels of N(0,1), ascending */
    double std_thr[255];    /* their cell boundaries */
    float *rot;           /* d x d: u = rot^T x / ||x|| (P = rot^T) */
    float *sk;            /* d x d Gaussian, S = sk^T; NULL without residual */
    float *mu, *sigma;    /* per rotated coordinate (gaussian: 0, 1/sqrt(d)) */
    float *levels;        /* d x L: mu_i + sigma_i L_c */
} lm_state;

/* ---- Lloyd-Max levels of the standard normal ---------------------------- */

static double lm_phi(double t) { return exp(-0.5 * t * t) * 0.39894228040143267794; }
static double lm_cdf(double t) { return 0.5 * erfc(-t * 0.70710678118654752440); }

/* Inverse normal CDF by bisection: only used for the initial levels. */
static double lm_icdf(double p)
{
    double lo = -40, hi = 40;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (lm_cdf(mid) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Lloyd-Max quantizer of N(0,1) with L levels. Starts from the high-rate
 * optimum (levels at quantiles of the density^(1/3), i.e. of N(0,3)) and
 * iterates the Lloyd conditions until no level moves by more than 1e-10.
 * Returns 0, or -1 without convergence. */
static int lm_gauss_levels(size_t L, double *lev, double *thr)
{
    if (L == 1) { lev[0] = 0; return 0; }
    for (size_t c = 0; c < L; c++) lev[c] = sqrt(3.0) * lm_icdf((c + 0.5) / (double)L);
    for (int it = 0; it < 100000; it++) {
        for (size_t c = 0; c + 1 < L; c++) thr[c] = 0.5 * (lev[c] + lev[c + 1]);
        double change = 0;
        for (size_t c = 0; c < L; c++) {
            double a = c == 0 ? -INFINITY : thr[c - 1], b = c + 1 == L ? INFINITY : thr[c];
            double pa = c == 0 ? 0.0 : lm_phi(a), pb = c + 1 == L ? 0.0 : lm_phi(b);
            double mass = (c + 1 == L ? 1.0 : lm_cdf(b)) - (c == 0 ? 0.0 : lm_cdf(a));
            /* far-tail cells: upper tails via erfc keep precision */
            if (a > 0) mass = (c + 1 == L ? 0.0 : -lm_cdf(-b)) + lm_cdf(-a);
            double m = mass > 0 ? (pa - pb) / mass : 0.5 * (a + b);
            change = fmax(change, fabs(m - lev[c]));
            /* over-relaxed update: plain Lloyd needs ~10^5 sweeps at 256
             * levels, this converges to the same fixed point ~3x faster */
            lev[c] += 1.9 * (m - lev[c]);
        }
        if (change < 1e-10) {
            for (size_t c = 0; c + 1 < L; c++) thr[c] = 0.5 * (lev[c] + lev[c + 1]);
            return 0;
        }
    }
    return -1;
}

static int lm_create(const ecb_host *host, const void *params, size_t dim,
                     ecb_similarity sim, ecb_method **out)
{
    const struct lloydmax_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "lloydmax: dim must be > 0, got 0");
    if (p->bits < 1 || p->bits > 8)
        return host->fail(host, ECB_ERANGE, "lloydmax: bits must be in [1,8], got %zu", p->bits);
    if (p->residual_bits > 1)
        return host->fail(host, ECB_ERANGE, "lloydmax: residual_bits must be 0 or 1, got %zu",
                          p->residual_bits);
    if (p->fit != LM_FIT_GAUSSIAN && p->fit != LM_FIT_PERDIM)
        return host->fail(host, ECB_ERANGE, "lloydmax: fit must be gaussian|perdim, got %d",
                          p->fit);
    lm_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "lloydmax: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->B = p->bits;
    s->L = (size_t)1 << p->bits;
    s->nf = 1 + p->residual_bits + (sim == ECB_SIM_L2 ? 1 : 0);
    s->mse_bytes = (s->B * dim + 7) / 8;
    s->sk_bytes = p->residual_bits ? (dim + 7) / 8 : 0;
    s->code_size = s->nf * sizeof(float) + s->mse_bytes + s->sk_bytes;
    if (lm_gauss_levels(s->L, s->std_levels, s->std_thr)) {
        free(s);
        return host->fail(host, ECB_ENUMERIC, "lloydmax: Lloyd-Max iteration for %zu levels "
                          "did not converge", (size_t)1 << p->bits);
    }
    *out = &s->base;
    return 0;
}

static void lm_destroy(ecb_method *m)
{
    if (!m) return;
    lm_state *s = (lm_state *)m;
    free(s->rot); free(s->sk); free(s->mu); free(s->sigma); free(s->levels);
    free(s);
}

#define LM_BLOCK 256

/* y_i = M^T x_i for nb rows x_i (M d x d): sum_t x_it M[t][:], in a fixed
 * order of t. Not sgemm: OpenBLAS rounds a row differently depending on its
 * position in the block, and a code must not depend on which other vectors
 * were encoded with it. The inner loop is an axpy, which vectorizes. */
static void lm_mul_t(const float *M, const float *x, size_t nb, size_t d, float *y)
{
    for (size_t i0 = 0; i0 < nb; i0 += 16) {
        size_t i1 = nb - i0 < 16 ? nb : i0 + 16;
        memset(y + i0 * d, 0, (i1 - i0) * d * sizeof(float));
        for (size_t t = 0; t < d; t++) {
            const float *r = M + t * d;
            for (size_t i = i0; i < i1; i++) {
                float xv = x[i * d + t];
                float *yi = y + i * d;
                for (size_t j = 0; j < d; j++) yi[j] += xv * r[j];
            }
        }
    }
}

/* y (+)= M v for one vector, row by row. */
static void lm_mul(const float *M, const float *v, size_t d, float *y, int add)
{
    for (size_t t = 0; t < d; t++) {
        double a = 0;
        for (size_t j = 0; j < d; j++) a += (double)M[t * d + j] * v[j];
        y[t] = (float)((add ? y[t] : 0.0) + a);
    }
}

/* Rotated unit directions of nb vectors: y = rot^T x, then y /= ||x||;
 * norms out. */
static int lm_rotate_block(const lm_state *s, const float *x, size_t nb, float *y, double *nrm)
{
    size_t d = s->base.dim;
    lm_mul_t(s->rot, x, nb, d, y);
    for (size_t j = 0; j < nb; j++) {
        double a = 0;
        for (size_t t = 0; t < d; t++) a += (double)x[j * d + t] * x[j * d + t];
        nrm[j] = sqrt(a);
        double inv = nrm[j] > 0 ? 1.0 / nrm[j] : 0.0;
        for (size_t t = 0; t < d; t++) y[j * d + t] = (float)(y[j * d + t] * inv);
    }
    return 0;
}

static int lm_train(ecb_method *m, const float *x, size_t n)
{
    lm_state *s = (lm_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, L = s->L;
    free(s->rot); free(s->sk); free(s->mu); free(s->sigma); free(s->levels);
    s->sk = NULL;
    s->rot = malloc(d * d * sizeof(float));
    s->mu = malloc(d * sizeof(float));
    s->sigma = malloc(d * sizeof(float));
    s->levels = malloc(d * L * sizeof(float));
    if (s->p.residual_bits) s->sk = malloc(d * d * sizeof(float));
    if (!s->rot || !s->mu || !s->sigma || !s->levels || (s->p.residual_bits && !s->sk))
        return h->fail(h, ECB_ENOMEM, "lloydmax: out of memory for d=%zu", d);
    int rc = ecb_random_orthogonal(d, h->seed ^ 0x6c6c6f7964000001ull, s->rot);
    if (rc) return h->fail(h, rc, "lloydmax: random rotation of size %zu failed", d);
    if (s->sk) {
        ecb_rng r;
        ecb_rng_seed2(&r, h->seed, 0x6c6c6f7964000002ull);
        for (size_t i = 0; i < d * d; i++) s->sk[i] = (float)ecb_rng_normal(&r);
    }
    if (s->p.fit == LM_FIT_GAUSSIAN || n < 2) {
        for (size_t t = 0; t < d; t++) { s->mu[t] = 0.0f; s->sigma[t] = (float)(1.0 / sqrt((double)d)); }
    } else {
        double *sum = calloc(2 * d, sizeof(double));
        float *y = malloc(LM_BLOCK * d * sizeof(float));
        double *nrm = malloc(LM_BLOCK * sizeof(double));
        if (!sum || !y || !nrm) {
            free(sum); free(y); free(nrm);
            return h->fail(h, ECB_ENOMEM, "lloydmax: out of memory");
        }
        for (size_t i0 = 0; i0 < n && !rc; i0 += LM_BLOCK) {
            size_t nb = n - i0 < LM_BLOCK ? n - i0 : LM_BLOCK;
            rc = lm_rotate_block(s, x + i0 * d, nb, y, nrm);
            for (size_t j = 0; j < nb && !rc; j++)
                for (size_t t = 0; t < d; t++) {
                    sum[t] += y[j * d + t];
                    sum[d + t] += (double)y[j * d + t] * y[j * d + t];
                }
        }
        for (size_t t = 0; t < d && !rc; t++) {
            double mu = sum[t] / (double)n;
            double var = sum[d + t] / (double)n - mu * mu;
            s->mu[t] = (float)mu;
            /* a constant coordinate still needs distinct levels */
            s->sigma[t] = (float)sqrt(var > 1e-20 ? var : 1e-20);
        }
        free(sum); free(y); free(nrm);
        if (rc) return h->fail(h, rc, "lloydmax: d=%zu too large for BLAS", d);
    }
    for (size_t t = 0; t < d; t++)
        for (size_t c = 0; c < L; c++)
            s->levels[t * L + c] = (float)(s->mu[t] + s->sigma[t] * s->std_levels[c]);
    s->trained = 1;
    return 0;
}

static size_t lm_code_size(const ecb_method *m) { return ((const lm_state *)m)->code_size; }

static size_t lm_aux_bytes(const ecb_method *m)
{
    const lm_state *s = (const lm_state *)m;
    size_t d = m->dim;
    /* rotation, sketch, per-coordinate mean and scale (the level table is
     * derived from them and the L standard levels) */
    return (d * d + (s->p.residual_bits ? d * d : 0) + 2 * d + s->L) * sizeof(float);
}

/* ---- bit packing: index i occupies bits [i*B, i*B + B) LSB-first -------- */

static void lm_put(uint8_t *p, size_t i, size_t B, unsigned v)
{
    size_t bit = i * B;
    for (size_t b = 0; b < B; b++, bit++)
        if (v >> b & 1) p[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static void lm_unpack(const uint8_t *p, size_t d, size_t B, uint8_t *idx)
{
    if (B == 8) { memcpy(idx, p, d); return; }
    if (B == 4) {
        for (size_t i = 0; i < d; i++) idx[i] = (uint8_t)(p[i / 2] >> (4 * (i % 2)) & 15);
        return;
    }
    unsigned mask = (1u << B) - 1;
    size_t i = 0;
    /* eight indices fill exactly B bytes */
    for (; i + 8 <= d; i += 8) {
        const uint8_t *q = p + i / 8 * B;
        uint64_t w = 0;
        for (size_t b = 0; b < B; b++) w |= (uint64_t)q[b] << (8 * b);
        for (size_t k = 0; k < 8; k++) idx[i + k] = (uint8_t)(w >> (k * B) & mask);
    }
    for (; i < d; i++) {
        size_t bit = i * B, byte = bit / 8;
        unsigned w = p[byte];
        if ((bit % 8) + B > 8) w |= (unsigned)p[byte + 1] << 8;
        idx[i] = (uint8_t)(w >> (bit % 8) & mask);
    }
}

static inline unsigned lm_nearest(const lm_state *s, double z)
{
    /* thresholds ascending: count how many lie below z */
    size_t lo = 0, hi = s->L - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (z > s->std_thr[mid]) lo = mid + 1; else hi = mid;
    }
    return (unsigned)lo;
}

/* Encode nb rotated unit directions y (norms nrm, originals x for -||x||^2)
 * into codes. rs: scratch of 2*d floats. */
static int lm_encode_block(const lm_state *s, const float *y, const double *nrm, size_t nb,
                           uint8_t *codes, float *rs)
{
    size_t d = s->base.dim, L = s->L;
    float *r = rs, *sr = rs + d;
    for (size_t j = 0; j < nb; j++) {
        const float *u = y + j * d;
        uint8_t *c = codes + j * s->code_size;
        memset(c, 0, s->code_size);
        uint8_t *mse = c + s->nf * sizeof(float), *sk = mse + s->mse_bytes;
        double rec2 = 0, r2 = 0;
        for (size_t t = 0; t < d; t++) {
            unsigned k = lm_nearest(s, ((double)u[t] - s->mu[t]) / s->sigma[t]);
            lm_put(mse, t, s->B, k);
            float lv = s->levels[t * L + k];
            rec2 += (double)lv * lv;
            r[t] = u[t] - lv;
            r2 += (double)r[t] * r[t];
        }
        float f[3];
        size_t nf = 0;
        f[nf++] = (float)nrm[j];
        if (s->sk) {
            lm_mul_t(s->sk, r, 1, d, sr);
            for (size_t t = 0; t < d; t++)
                if (sr[t] >= 0) sk[t / 8] |= (uint8_t)(1u << (t % 8));
            f[nf++] = (float)(nrm[j] * sqrt(r2) * 1.25331413731550025121 / (double)d);
        }
        if (s->base.sim == ECB_SIM_L2)
            f[nf++] = (float)(-(nrm[j] * nrm[j]) * (s->sk ? 1.0 : rec2));
        memcpy(c, f, nf * sizeof(float));
    }
    return 0;
}

static int lm_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const lm_state *s = (const lm_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "lloydmax: encode before train");
    float *y = malloc((LM_BLOCK + 2) * d * sizeof(float));
    double *nrm = malloc(LM_BLOCK * sizeof(double));
    if (!y || !nrm) {
        free(y); free(nrm);
        return h->fail(h, ECB_ENOMEM, "lloydmax: out of memory encoding d=%zu", d);
    }
    int rc = 0;
    for (size_t i0 = 0; i0 < n && !rc; i0 += LM_BLOCK) {
        size_t nb = n - i0 < LM_BLOCK ? n - i0 : LM_BLOCK;
        rc = lm_rotate_block(s, x + i0 * d, nb, y, nrm);
        if (!rc) rc = lm_encode_block(s, y, nrm, nb, codes + i0 * s->code_size, y + LM_BLOCK * d);
    }
    free(y); free(nrm);
    if (rc) return h->fail(h, rc, "lloydmax: d=%zu too large for BLAS", d);
    return 0;
}

/* Reconstruction in the rotated frame: n (u~ + sketch dequantization). */
static int lm_decode_rot(const lm_state *s, const uint8_t *c, float *v, uint8_t *idx, float *tmp)
{
    size_t d = s->base.dim, L = s->L;
    float f[3];
    memcpy(f, c, s->nf * sizeof(float));
    const uint8_t *mse = c + s->nf * sizeof(float), *sk = mse + s->mse_bytes;
    lm_unpack(mse, d, s->B, idx);
    for (size_t t = 0; t < d; t++) v[t] = f[0] * s->levels[t * L + idx[t]];
    if (s->sk) {
        /* + n ||r|| sqrt(pi/2)/d S z (the sketch is z = sign(S^T r)) */
        for (size_t t = 0; t < d; t++) tmp[t] = (sk[t / 8] >> (t % 8) & 1) ? f[1] : -f[1];
        lm_mul(s->sk, tmp, d, v, 1);
    }
    return 0;
}

static int lm_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const lm_state *s = (const lm_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim;
    float *v = malloc(2 * d * sizeof(float));
    uint8_t *idx = malloc(d);
    if (!v || !idx) {
        free(v); free(idx);
        return h->fail(h, ECB_ENOMEM, "lloydmax: out of memory decoding");
    }
    int rc = 0;
    for (size_t j = 0; j < n && !rc; j++) {
        rc = lm_decode_rot(s, codes + j * s->code_size, v, idx, v + d);
        if (!rc) lm_mul(s->rot, v, d, x + j * d, 0); /* x = rot v */
    }
    free(v); free(idx);
    if (rc) return h->fail(h, rc, "lloydmax: d=%zu too large for BLAS", d);
    return 0;
}

/* ---- queries: d floats of P q (or of the symmetric reconstruction), then
 * d floats of S P q (with the sketch), then ||q||^2 ---------------------- */

static size_t lm_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const lm_state *s = (const lm_state *)m;
    return ((s->sk ? 2 : 1) * m->dim + 1) * sizeof(float);
}

static int lm_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const lm_state *s = (const lm_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, qs = lm_query_size(m, mode) / sizeof(float);
    if (!s->trained) return h->fail(h, ECB_EINVAL, "lloydmax: prepare before train");
    float *y = malloc(3 * d * sizeof(float));
    uint8_t *code = malloc(s->code_size + d);
    if (!y || !code) {
        free(y); free(code);
        return h->fail(h, ECB_ENOMEM, "lloydmax: out of memory preparing queries");
    }
    int rc = 0;
    for (size_t i = 0; i < nq && !rc; i++) {
        float *o = (float *)out + i * qs;
        double nrm;
        rc = lm_rotate_block(s, q + i * d, 1, y, &nrm);
        if (rc) break;
        if (mode == ECB_MODE_SYMMETRIC) {
            rc = lm_encode_block(s, y, &nrm, 1, code, y + d);
            if (!rc) rc = lm_decode_rot(s, code, o, code + s->code_size, y + d);
        } else {
            for (size_t t = 0; t < d; t++) o[t] = (float)(y[t] * nrm);
        }
        if (rc) break;
        double q2 = 0;
        for (size_t t = 0; t < d; t++) q2 += (double)o[t] * o[t];
        if (s->sk) lm_mul_t(s->sk, o, 1, d, o + d);
        o[qs - 1] = (float)q2;
    }
    free(y); free(code);
    if (rc) return h->fail(h, rc, "lloydmax: d=%zu too large for BLAS", d);
    return 0;
}

static int lm_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const lm_state *s = (const lm_state *)m;
    size_t d = m->dim, L = s->L, G = (d + 7) / 8;
    size_t qs = lm_query_size(m, mode) / sizeof(float);
    /* 1, 2 and 4 bits: one table per code byte (8/B coordinates at once),
     * so the scan is mse_bytes lookups instead of d unpacks; 8 bits: the
     * per-coordinate table already is one */
    int bytelut = s->B == 1 || s->B == 2 || s->B == 4;
    size_t nbl = bytelut ? s->mse_bytes * 256 : 0;
    float *T = malloc((d * L + (s->sk ? G * 256 : 0) + nbl) * sizeof(float));
    uint8_t *idx = malloc(d + 8);
    if (!T || !idx) {
        free(T); free(idx);
        return m->host->fail(m->host, ECB_ENOMEM, "lloydmax: out of memory for lookup tables");
    }
    float *SL = T + d * L, *BL = SL + (s->sk ? G * 256 : 0);
    int l2 = m->sim == ECB_SIM_L2;
    for (size_t i = 0; i < nq; i++) {
        const float *pq = (const float *)prepared + i * qs;
        for (size_t t = 0; t < d; t++)
            for (size_t c = 0; c < L; c++) T[t * L + c] = pq[t] * s->levels[t * L + c];
        if (bytelut) {
            size_t per = 8 / s->B;
            unsigned mask = (unsigned)L - 1;
            for (size_t g = 0; g < s->mse_bytes; g++)
                for (unsigned v = 0; v < 256; v++) {
                    float a = 0;
                    for (size_t k = 0; k < per && g * per + k < d; k++)
                        a += T[(g * per + k) * L + (v >> (k * s->B) & mask)];
                    BL[g * 256 + v] = a;
                }
        }
        float sumsq = 0;
        if (s->sk) {
            /* byte table of the sketched query: <Sq, z> = 2 sum_{z=+1} - sum */
            const float *sq = pq + d;
            for (size_t g = 0; g < G; g++) {
                float *TT = SL + g * 256, qq[8];
                for (size_t j = 0; j < 8; j++) qq[j] = 8 * g + j < d ? 2.0f * sq[8 * g + j] : 0.0f;
                TT[0] = 0;
                for (unsigned v = 1; v < 256; v++) TT[v] = TT[v & (v - 1)] + qq[__builtin_ctz(v)];
            }
            for (size_t t = 0; t < d; t++) sumsq += sq[t];
        }
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * s->code_size;
            float f[3];
            memcpy(f, c, s->nf * sizeof(float));
            const uint8_t *mse = c + s->nf * sizeof(float);
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            size_t t = 0;
            if (bytelut) {
                a0 = ecb_lut_sum8(BL, mse, s->mse_bytes);
                t = d;
            } else if (s->B == 8) {
                a0 = ecb_lut_sum8(T, mse, d);
                t = d;
            }
            if (t < d) {
                lm_unpack(mse, d, s->B, idx);
                for (; t < d; t++) a0 += T[t * L + idx[t]];
            }
            float ip = f[0] * ((a0 + a1) + (a2 + a3));
            if (s->sk) {
                const uint8_t *sk = mse + s->mse_bytes;
                ip += f[1] * (ecb_lut_sum8(SL, sk, G) - sumsq);
            }
            sc[j] = l2 ? 2.0f * ip + f[s->nf - 1] - pq[qs - 1] : ip;
        }
    }
    free(T); free(idx);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const lloydmax_size_params[] = {"bits", NULL};

static const ecb_method_vtable lm_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "lloydmax",
    .summary = "TurboQuant: random rotation + per-coordinate Lloyd-Max levels (+QJL residual)",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = lloydmax_params_table,
    .params_size = sizeof(struct lloydmax_params),
    .create = lm_create,
    .destroy = lm_destroy,
    .train = lm_train,
    .code_size = lm_code_size,
    .aux_bytes = lm_aux_bytes,
    .encode = lm_encode,
    .decode = lm_decode,
    .query_size = lm_query_size,
    .prepare = lm_prepare,
    .score = lm_score,
    .size_params = lloydmax_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_lloydmax(void) { return &lm_vtable; }
