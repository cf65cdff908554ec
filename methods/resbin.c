/*
 * resbin: residual binarization. A vector is approximated by the mean plus
 * `levels` scaled sign vectors,
 *     x ~= mu + sum_l alpha_l b_l,   b_l in {-1,+1}^d,
 * fitted greedily: b_1 = sign(x - mu), alpha_1 the least-squares scale, then
 * the same on the residual x - mu - alpha_1 b_1, and so on (the residual /
 * multi-bit binarization of binary-network quantization, e.g. Guo et al.
 * 2017 "Network Sketching", Xu et al. 2018 "Alternating multi-bit
 * quantization", and Lin et al. 2017 "ABC-Net", applied to embeddings). The
 * bits per dimension are the number of levels. Written from the papers'
 * descriptions.
 *
 * Parameters (defaults first):
 *   scale = per_vector  alpha_l = ||r_{l-1}||_1 / d per vector (the least-
 *                       squares scale of a sign vector), stored as float32;
 *   scale = per_level   one alpha_l per level, shared, fitted on the training
 *                       sample by the same least-squares rule (sum of L1
 *                       norms / (n d)); codes then hold no scales;
 *   refit = 1           (per_vector) after the greedy signs, refit all scales
 *                       jointly by least squares (B^T B alpha = B^T (x - mu),
 *                       B^T B from popcounts), as alternating multi-bit
 *                       quantization does in its first half-step;
 *   center = 1          mu = training mean (0 otherwise);
 *   rotate = 1          first apply a Haar-random rotation (as RaBitQ does):
 *                       on anisotropic data it spreads the energy over all
 *                       coordinates, so every sign carries information
 *                       (siftsmall, 1 level: kNN recall@10 0.43 -> 0.53); the
 *                       d x d matrix is counted in aux_bytes. Scores are
 *                       unchanged by the rotation (both sides are rotated).
 *   rotate = 0, refit = 0 is the plain greedy scheme described above.
 *
 * Code layout: [levels float32 alphas, per_vector only] float32 aux, then
 * `levels` sign planes of ceil(d/8) bytes (bit set = +1). aux is
 * ||x^ - mu||^2 for L2 and <mu, x^ - mu> for DOT, the per-vector terms the
 * scores below need. Bytes: levels*ceil(d/8) + 4*(levels [per_vector] + 1).
 *
 * Scores, with x^ the reconstruction and c = x^ - mu:
 *  symmetric (both sides codes), by popcount over the level pairs:
 *    <c_x, c_y> = sum_{l,m} alpha_l beta_m (d - 2 ham(b_l, b'_m))
 *    DOT: <x^, y^> = ||mu||^2 + aux_x + aux_y + <c_x, c_y>
 *    L2: -||x^ - y^||^2 = 2 <c_x, c_y> - aux_x - aux_y
 *  asymmetric (float query q against the reconstruction), with byte lookup
 *  tables of q (DOT) or q - mu (L2) per level:
 *    DOT: <q, x^> = <q, mu> + sum_l alpha_l <q, b_l>
 *    L2: -||q - x^||^2 = 2 <q - mu, c_x> - aux_x - ||q - mu||^2
 *
 * Limits: greedy fitting only (no alternating refinement of the signs).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct resbin_params {
    size_t levels;
    int scale;
    int center;
    int rotate;
    int refit;
};

enum { RB_SCALE_VECTOR = 0, RB_SCALE_LEVEL = 1 };
static const char *const rb_scale_values[] = {"per_vector", "per_level", NULL};

static const ecb_param resbin_params_table[] = {
    {"levels", ECB_PARAM_SIZE, offsetof(struct resbin_params, levels), .def.u = 2, .min = 1,
     .max = 16, .help = "number of sign vectors = bits per dimension"},
    {"scale", ECB_PARAM_ENUM, offsetof(struct resbin_params, scale), .def.b = RB_SCALE_VECTOR,
     .enum_values = rb_scale_values,
     .help = "per_vector: one float32 scale per level in each code; per_level: shared scales "
             "fitted on the training sample"},
    {"center", ECB_PARAM_BOOL, offsetof(struct resbin_params, center), .def.b = 1,
     .help = "subtract the training mean before binarizing"},
    {"rotate", ECB_PARAM_BOOL, offsetof(struct resbin_params, rotate), .def.b = 1,
     .help = "apply a Haar-random rotation first (spreads energy evenly over the signs)"},
    {"refit", ECB_PARAM_BOOL, offsetof(struct resbin_params, refit), .def.b = 1,
     .help = "per_vector: refit all scales jointly by least squares after the greedy signs"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct resbin_params p;
    size_t Lv, G;       /* levels, bytes per plane */
    size_t nf;          /* floats per code (alphas + aux) */
    size_t code_size;
    int trained;
    float *mu;          /* d (in the rotated frame with rotate) */
    float *rot;         /* d x d, y = rot^T x; NULL without rotate */
    double mu2;         /* ||mu||^2 */
    float alpha[16];    /* per_level scales */
} rb_state;

static int rb_create(const ecb_host *host, const void *params, size_t dim,
                     ecb_similarity sim, ecb_method **out)
{
    const struct resbin_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "resbin: dim must be > 0, got 0");
    if (p->levels < 1 || p->levels > 16)
        return host->fail(host, ECB_ERANGE, "resbin: levels must be in [1,16], got %zu",
                          p->levels);
    if (p->scale != RB_SCALE_VECTOR && p->scale != RB_SCALE_LEVEL)
        return host->fail(host, ECB_ERANGE, "resbin: scale must be per_vector|per_level, got %d",
                          p->scale);
    rb_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "resbin: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->Lv = p->levels;
    s->G = (dim + 7) / 8;
    s->nf = (p->scale == RB_SCALE_VECTOR ? s->Lv : 0) + 1;
    s->code_size = s->nf * sizeof(float) + s->Lv * s->G;
    *out = &s->base;
    return 0;
}

static void rb_destroy(ecb_method *m)
{
    if (!m) return;
    rb_state *s = (rb_state *)m;
    free(s->mu);
    free(s->rot);
    free(s);
}

/* y = rot^T x for one vector, a fixed-order axpy loop (not sgemm, whose
 * rounding of a row depends on its position in the block: a code must not
 * depend on which other vectors were encoded with it). Returns y, or x
 * itself without rotation. */
static const float *rb_in(const rb_state *s, const float *x, float *y)
{
    if (!s->rot) return x;
    size_t d = s->base.dim;
    memset(y, 0, d * sizeof(float));
    for (size_t t = 0; t < d; t++) {
        const float *r = s->rot + t * d;
        float xv = x[t];
        for (size_t j = 0; j < d; j++) y[j] += xv * r[j];
    }
    return y;
}

static int rb_train(ecb_method *m, const float *x, size_t n)
{
    rb_state *s = (rb_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim;
    if (n == 0) return h->fail(h, ECB_EINVAL, "resbin: empty training sample");
    free(s->mu);
    free(s->rot);
    s->rot = NULL;
    s->mu = calloc(d, sizeof(float));
    double *acc = calloc(d, sizeof(double));
    if (!s->mu || !acc) {
        free(acc);
        return h->fail(h, ECB_ENOMEM, "resbin: out of memory for d=%zu", d);
    }
    float *xr = NULL;
    if (s->p.rotate) {
        s->rot = malloc(d * d * sizeof(float));
        xr = malloc(n * d * sizeof(float));
        if (!s->rot || !xr) {
            free(acc); free(xr);
            return h->fail(h, ECB_ENOMEM, "resbin: out of memory for a %zu x %zu rotation", d, d);
        }
        int rc = ecb_random_orthogonal(d, h->seed ^ 0x72657362696e0001ull, s->rot);
        if (rc) {
            free(acc); free(xr);
            return h->fail(h, rc, "resbin: random rotation of size %zu failed", d);
        }
        for (size_t i = 0; i < n; i++) rb_in(s, x + i * d, xr + i * d);
        x = xr;
    }
    if (s->p.center) {
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < d; t++) acc[t] += x[i * d + t];
        for (size_t t = 0; t < d; t++) s->mu[t] = (float)(acc[t] / (double)n);
    }
    s->mu2 = 0;
    for (size_t t = 0; t < d; t++) s->mu2 += (double)s->mu[t] * s->mu[t];
    free(acc);
    if (s->p.scale == RB_SCALE_LEVEL) {
        /* Greedy shared scales: min over alpha of sum_i ||r_i - alpha
         * sign(r_i)||^2 is alpha = sum_i ||r_i||_1 / (n d). */
        float *r = malloc(n * d * sizeof(float));
        if (!r) {
            free(xr);
            return h->fail(h, ECB_ENOMEM, "resbin: out of memory for %zu x %zu residuals", n, d);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < d; t++) r[i * d + t] = x[i * d + t] - s->mu[t];
        for (size_t l = 0; l < s->Lv; l++) {
            double l1 = 0;
            for (size_t i = 0; i < n * d; i++) l1 += fabs((double)r[i]);
            float a = (float)(l1 / ((double)n * d));
            s->alpha[l] = a;
            for (size_t i = 0; i < n * d; i++) r[i] -= r[i] >= 0 ? a : -a;
        }
        free(r);
    }
    free(xr);
    s->trained = 1;
    return 0;
}

static size_t rb_code_size(const ecb_method *m) { return ((const rb_state *)m)->code_size; }

static size_t rb_aux_bytes(const ecb_method *m)
{
    const rb_state *s = (const rb_state *)m;
    return (m->dim + (s->p.scale == RB_SCALE_LEVEL ? s->Lv : 0) +
            (s->p.rotate ? m->dim * m->dim : 0)) * sizeof(float);
}

/* Least-squares scales for fixed signs: solve (B^T B) alpha = B^T (x - mu)
 * with B the d x levels sign matrix, (B^T B)_lm = d - 2 ham(b_l, b_m), by
 * Gaussian elimination with partial pivoting. Keeps the greedy scales when
 * the system is singular (repeated sign vectors). c is rebuilt. */
static void rb_refit(const rb_state *s, const float *x, float *c, float *alpha,
                     const uint8_t *planes)
{
    size_t d = s->base.dim, G = s->G, Lv = s->Lv;
    double A[16][17];
    for (size_t l = 0; l < Lv; l++) {
        const uint8_t *pl = planes + l * G;
        double rhs = 0;
        for (size_t t = 0; t < d; t++) {
            double v = (double)x[t] - s->mu[t];
            rhs += (pl[t / 8] >> (t % 8) & 1) ? v : -v;
        }
        A[l][Lv] = rhs;
        for (size_t k = 0; k < Lv; k++) {
            const uint8_t *pk = planes + k * G;
            unsigned ham = 0;
            for (size_t g = 0; g < G; g++) ham += (unsigned)__builtin_popcount((unsigned)(pl[g] ^ pk[g]));
            A[l][k] = (double)d - 2.0 * ham;
        }
    }
    for (size_t col = 0; col < Lv; col++) {
        size_t piv = col;
        for (size_t r = col + 1; r < Lv; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col])) piv = r;
        if (fabs(A[piv][col]) < 1e-9 * (double)d) return;
        if (piv != col)
            for (size_t k = 0; k <= Lv; k++) { double t = A[col][k]; A[col][k] = A[piv][k]; A[piv][k] = t; }
        for (size_t r = col + 1; r < Lv; r++) {
            double f = A[r][col] / A[col][col];
            for (size_t k = col; k <= Lv; k++) A[r][k] -= f * A[col][k];
        }
    }
    double sol[16];
    for (size_t l = Lv; l-- > 0;) {
        double v = A[l][Lv];
        for (size_t k = l + 1; k < Lv; k++) v -= A[l][k] * sol[k];
        sol[l] = v / A[l][l];
        if (!isfinite(sol[l])) return;
    }
    for (size_t l = 0; l < Lv; l++) alpha[l] = (float)sol[l];
    for (size_t t = 0; t < d; t++) {
        float v = 0;
        for (size_t l = 0; l < Lv; l++) v += (planes[l * G + t / 8] >> (t % 8) & 1) ? alpha[l] : -alpha[l];
        c[t] = v;
    }
}

/* Greedy residual binarization of one vector: fills the planes and the
 * scales, and returns the reconstruction's centred part in c (d floats). */
static void rb_fit(const rb_state *s, const float *x, float *r, float *c, float *alpha,
                   uint8_t *planes)
{
    size_t d = s->base.dim, G = s->G;
    for (size_t t = 0; t < d; t++) { r[t] = x[t] - s->mu[t]; c[t] = 0; }
    memset(planes, 0, s->Lv * G);
    for (size_t l = 0; l < s->Lv; l++) {
        float a;
        if (s->p.scale == RB_SCALE_VECTOR) {
            double l1 = 0;
            for (size_t t = 0; t < d; t++) l1 += fabs((double)r[t]);
            a = (float)(l1 / (double)d);
        } else {
            a = s->alpha[l];
        }
        alpha[l] = a;
        for (size_t t = 0; t < d; t++) {
            float v = r[t] >= 0 ? a : -a;
            if (r[t] >= 0) planes[l * G + t / 8] |= (uint8_t)(1u << (t % 8));
            r[t] -= v;
            c[t] += v;
        }
    }
    if (s->p.scale == RB_SCALE_VECTOR && s->p.refit && s->Lv > 1) rb_refit(s, x, c, alpha, planes);
}

static void rb_encode_one(const rb_state *s, const float *x, float *r, float *c, uint8_t *code)
{
    size_t d = s->base.dim;
    float alpha[16], f[17];
    uint8_t *planes = code + s->nf * sizeof(float);
    rb_fit(s, x, r, c, alpha, planes);
    double aux = 0;
    for (size_t t = 0; t < d; t++)
        aux += s->base.sim == ECB_SIM_L2 ? (double)c[t] * c[t] : (double)s->mu[t] * c[t];
    size_t nf = 0;
    if (s->p.scale == RB_SCALE_VECTOR)
        for (size_t l = 0; l < s->Lv; l++) f[nf++] = alpha[l];
    f[nf++] = (float)aux;
    memcpy(code, f, nf * sizeof(float));
}

static int rb_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const rb_state *s = (const rb_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "resbin: encode before train");
    float *r = malloc(3 * d * sizeof(float));
    if (!r) return h->fail(h, ECB_ENOMEM, "resbin: out of memory encoding d=%zu", d);
    for (size_t i = 0; i < n; i++)
        rb_encode_one(s, rb_in(s, x + i * d, r + 2 * d), r, r + d, codes + i * s->code_size);
    free(r);
    return 0;
}

static inline void rb_scales(const rb_state *s, const uint8_t *code, float *alpha, float *aux)
{
    if (s->p.scale == RB_SCALE_VECTOR) {
        memcpy(alpha, code, s->Lv * sizeof(float));
        memcpy(aux, code + s->Lv * sizeof(float), sizeof(float));
    } else {
        memcpy(alpha, s->alpha, s->Lv * sizeof(float));
        memcpy(aux, code, sizeof(float));
    }
}

static int rb_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const rb_state *s = (const rb_state *)m;
    size_t d = m->dim, G = s->G;
    float *y = s->rot ? malloc(d * sizeof(float)) : NULL;
    if (s->rot && !y) return m->host->fail(m->host, ECB_ENOMEM, "resbin: out of memory decoding");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * s->code_size, *pl = c + s->nf * sizeof(float);
        float alpha[16], aux;
        rb_scales(s, c, alpha, &aux);
        float *o = y ? y : x + i * d;
        for (size_t t = 0; t < d; t++) {
            float v = s->mu[t];
            for (size_t l = 0; l < s->Lv; l++)
                v += (pl[l * G + t / 8] >> (t % 8) & 1) ? alpha[l] : -alpha[l];
            o[t] = v;
        }
        if (y) /* back from the rotated frame: x = rot y */
            for (size_t t = 0; t < d; t++) {
                double a = 0;
                for (size_t j = 0; j < d; j++) a += (double)s->rot[t * d + j] * y[j];
                x[i * d + t] = (float)a;
            }
    }
    free(y);
    return 0;
}

/* ---- queries -------------------------------------------------------------
 * asymmetric: d floats of q (DOT) or q - mu (L2), then the query constant
 *   (<q, mu> for DOT, -||q - mu||^2 for L2) and sum of the d floats;
 * symmetric: the query's own code, padded to 4 bytes. */

static size_t rb_query_size(const ecb_method *m, ecb_mode mode)
{
    const rb_state *s = (const rb_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) return (s->code_size + 3) / 4 * 4;
    return (m->dim + 2) * sizeof(float);
}

static int rb_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const rb_state *s = (const rb_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, qs = rb_query_size(m, mode);
    if (!s->trained) return h->fail(h, ECB_EINVAL, "resbin: prepare before train");
    if (mode == ECB_MODE_SYMMETRIC) {
        float *r = malloc(3 * d * sizeof(float));
        if (!r) return h->fail(h, ECB_ENOMEM, "resbin: out of memory");
        for (size_t i = 0; i < nq; i++) {
            uint8_t *o = (uint8_t *)out + i * qs;
            memset(o, 0, qs);
            rb_encode_one(s, rb_in(s, q + i * d, r + 2 * d), r, r + d, o);
        }
        free(r);
        return 0;
    }
    float *qr = s->rot ? malloc(d * sizeof(float)) : NULL;
    if (s->rot && !qr) return h->fail(h, ECB_ENOMEM, "resbin: out of memory");
    for (size_t i = 0; i < nq; i++) {
        float *o = (float *)((uint8_t *)out + i * qs);
        const float *qi = rb_in(s, q + i * d, qr);
        double k = 0, sum = 0;
        for (size_t t = 0; t < d; t++) {
            if (m->sim == ECB_SIM_L2) {
                o[t] = qi[t] - s->mu[t];
                k -= (double)o[t] * o[t];
            } else {
                o[t] = qi[t];
                k += (double)qi[t] * s->mu[t];
            }
            sum += o[t];
        }
        o[d] = (float)k;
        o[d + 1] = (float)sum;
    }
    free(qr);
    return 0;
}

static int rb_score_asym(const rb_state *s, const void *prepared, size_t nq,
                         const uint8_t *codes, size_t n, float *scores)
{
    size_t d = s->base.dim, G = s->G, Lv = s->Lv, qs = d + 2;
    float *lut = malloc(G * 256 * sizeof(float));
    if (!lut) return s->base.host->fail(s->base.host, ECB_ENOMEM, "resbin: out of memory");
    int l2 = s->base.sim == ECB_SIM_L2;
    for (size_t i = 0; i < nq; i++) {
        const float *pq = (const float *)prepared + i * qs;
        /* <q, b> = 2 sum_{b=+1} q - sum q: table of 2q per byte */
        for (size_t g = 0; g < G; g++) {
            float *T = lut + g * 256, qq[8];
            for (size_t j = 0; j < 8; j++) qq[j] = 8 * g + j < d ? 2.0f * pq[8 * g + j] : 0.0f;
            T[0] = 0;
            for (unsigned v = 1; v < 256; v++) T[v] = T[v & (v - 1)] + qq[__builtin_ctz(v)];
        }
        float sum = pq[d + 1];
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * s->code_size, *pl = c + s->nf * sizeof(float);
            float alpha[16], aux;
            rb_scales(s, c, alpha, &aux);
            float ip = 0;
            for (size_t l = 0; l < Lv; l++) {
                ip += alpha[l] * (ecb_lut_sum8(lut, pl + l * G, G) - sum);
            }
            sc[j] = l2 ? 2.0f * ip - aux + pq[d] : ip + pq[d];
        }
    }
    free(lut);
    return 0;
}

static inline uint64_t rb_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline __attribute__((always_inline)) unsigned rb_ham(const uint8_t *a, const uint8_t *b,
                                                             size_t G)
{
    unsigned c = 0;
    size_t g = 0;
    for (; g + 8 <= G; g += 8) c += (unsigned)__builtin_popcountll(rb_load64(a + g) ^ rb_load64(b + g));
    for (; g < G; g++) c += (unsigned)__builtin_popcount((unsigned)(a[g] ^ b[g]));
    return c;
}

static inline __attribute__((always_inline)) void
rb_score_sym_body(const rb_state *s, const uint8_t *prepared, size_t nq, const uint8_t *codes,
                  size_t n, float *scores)
{
    size_t d = s->base.dim, G = s->G, Lv = s->Lv, qs = (s->code_size + 3) / 4 * 4;
    size_t off = s->nf * sizeof(float);
    int l2 = s->base.sim == ECB_SIM_L2;
    for (size_t i = 0; i < nq; i++) {
        const uint8_t *qc = prepared + i * qs;
        float beta[16], qaux;
        rb_scales(s, qc, beta, &qaux);
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * s->code_size;
            float alpha[16], aux;
            rb_scales(s, c, alpha, &aux);
            double ip = 0;
            for (size_t l = 0; l < Lv; l++) {
                double row = 0;
                for (size_t k = 0; k < Lv; k++)
                    row += (double)beta[k] *
                           ((double)d - 2.0 * rb_ham(c + off + l * G, qc + off + k * G, G));
                ip += alpha[l] * row;
            }
            sc[j] = l2 ? (float)(2.0 * ip - aux - qaux) : (float)(s->mu2 + aux + qaux + ip);
        }
    }
}

__attribute__((target("popcnt"))) static void
rb_score_sym_popcnt(const rb_state *s, const uint8_t *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    rb_score_sym_body(s, prepared, nq, codes, n, scores);
}

static void rb_score_sym_generic(const rb_state *s, const uint8_t *prepared, size_t nq,
                                 const uint8_t *codes, size_t n, float *scores)
{
    rb_score_sym_body(s, prepared, nq, codes, n, scores);
}

static int rb_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    const rb_state *s = (const rb_state *)m;
    if (mode == ECB_MODE_ASYMMETRIC) return rb_score_asym(s, prepared, nq, codes, n, scores);
    if (ecb_cpu()->popcnt)
        rb_score_sym_popcnt(s, prepared, nq, codes, n, scores);
    else
        rb_score_sym_generic(s, prepared, nq, codes, n, scores);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const resbin_size_params[] = {"levels", NULL};

static const ecb_method_vtable rb_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "resbin",
    .summary = "residual binarization: mean + sum of scaled sign vectors, popcount SDC",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = resbin_params_table,
    .params_size = sizeof(struct resbin_params),
    .create = rb_create,
    .destroy = rb_destroy,
    .train = rb_train,
    .code_size = rb_code_size,
    .aux_bytes = rb_aux_bytes,
    .encode = rb_encode,
    .decode = rb_decode,
    .query_size = rb_query_size,
    .prepare = rb_prepare,
    .score = rb_score,
    .size_params = resbin_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_resbin(void) { return &rb_vtable; }
