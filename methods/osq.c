/*
 * osq: optimized scalar quantization as deployed in Lucene and
 * Elasticsearch (Lucene's OptimizedScalarQuantizer, behind its 1-bit "BBQ"
 * and 4/7-bit scalar-quantized vector formats; it builds on LVQ, Aguerrebere
 * et al. 2023, and the anisotropic loss of ScaNN, Guo et al. 2020).
 *
 * Training: the centroid c is the mean of the corpus sample; when every
 * sample vector has unit norm (cosine data: the harness normalises and hands
 * methods dot) c is normalised too, as Lucene does for COSINE fields.
 *
 * Encoding one vector x (the algorithm of Lucene's scalarQuantize, written
 * from its description, in double where it sums):
 *  1. r = x - c; min, max, mean and standard deviation of r's coordinates.
 *  2. Start from the interval [mean + g0 sd, mean + g1 sd] clamped to
 *     [min, max], with (g0, g1) = -+ the MSE-optimal uniform grid edge for a
 *     Gaussian at this bit width (0.798 for 1 bit ... 3.922 for 8 bits).
 *  3. Up to `iters` rounds of coordinate descent on the anisotropic loss
 *       (1 - lambda) (r.(r - r^))^2 / |r|^2 + lambda |r - r^|^2
 *     (error parallel to r weighs more than error across it): with the
 *     current assignment fixed, the loss is quadratic in (a, b), solved in
 *     closed form; a round that does not lower the loss stops the descent
 *     and is discarded.
 *  4. code_j = round((clamp(r_j, a, b) - a) / step), step = (b-a)/(2^bits-1).
 *
 * Corrective terms stored with every vector (as Lucene): the interval
 * lower a and upper b (float32 each), the additional correction (float32:
 * x.c for dot, |x - c|^2 for L2) and the sum of the codes (uint16 when
 * (2^bits-1)*dim fits in 16 bits, as Lucene stores it for its 1-bit format,
 * else uint32). Code layout: the codes bit-packed LSB first (as sq; note
 * Lucene keeps 7-bit codes in whole bytes), then a, b, correction, sum.
 * code_size = ceil(bits*dim/8) + 12 + (2 | 4); aux_bytes = the centroid,
 * dim floats.
 *
 * Scoring: with lx = (b - a)/(2^bits - 1) and code sum x1 of a document,
 * and the same (ay, ly, y1) for a query quantized the same way, Lucene's
 * estimate of (q-c).(x-c) is
 *     ax ay dim + ay lx x1 + ax ly y1 + lx ly <qcode, xcode>,
 * then q.x = that + q.c + x.c - c.c (dot) and |q-x|^2 = |q-c|^2 + |x-c|^2 -
 * 2 that (L2; the score is its negative), with x.c and |x-c|^2 the stored
 * exact corrections, not those of the reconstruction.
 *  - symmetric: the query is quantized at `bits` (Lucene's 4- and 7-bit
 *    formats quantize both sides at the same width);
 *  - asymmetric: the float query by default (query_bits=0): the estimate
 *    becomes ax sum(q-c) + lx <q-c, xcode>, i.e. exact against the
 *    reconstruction, which is ecbench's definition of asymmetric and the
 *    upper bound of what the codes give. query_bits=4 with bits=1
 *    reproduces Lucene's BBQ, whose queries are quantized to 4 bits.
 * The inner products <v, xcode> of a block are one sgemm on the unpacked
 * codes (exact integers in float up to 2^24).
 *
 * Limits: bits 1..8; the training sample needs >= 1 vector.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct osq_params {
    size_t bits;
    size_t query_bits;
    double lambda;
    size_t iters;
};

static const ecb_param osq_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct osq_params, bits), .def.u = 1, .min = 1, .max = 8,
     .help = "bits per coordinate of the documents (Lucene/Elasticsearch use 1, 4 and 7)"},
    {"query_bits", ECB_PARAM_SIZE, offsetof(struct osq_params, query_bits), .def.u = 0, .min = 0,
     .max = 8,
     .help = "asymmetric mode: 0 scores the float query; 1-8 quantizes it first (Lucene's BBQ: "
             "bits=1, query_bits=4)"},
    {"lambda", ECB_PARAM_DOUBLE, offsetof(struct osq_params, lambda), .def.d = 0.1, .min = 0,
     .max = 1,
     .help = "weight of the total error against the error parallel to the vector (Lucene: 0.1)"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct osq_params, iters), .def.u = 5, .min = 0,
     .max = 1000, .help = "coordinate-descent rounds of the interval optimisation (Lucene: 5)"},
    {NULL},
};

/* Edges of the MSE-optimal uniform quantizer of a standard Gaussian, by bit
 * width (the starting interval, in standard deviations). */
static const double osq_grid[8] = {0.798, 1.493, 2.051, 2.514, 2.916, 3.278, 3.611, 3.922};

enum { OSQ_BLOCK = 256 };

typedef struct {
    ecb_method base;
    struct osq_params p;
    size_t packed;     /* ceil(bits*dim/8) */
    size_t sum_bytes;  /* 2 or 4 */
    size_t code_bytes;
    float *c;          /* centroid, dim */
    double cdp;        /* c.c */
    int trained;
} osq_state;

/* What one quantized vector carries besides its codes. */
typedef struct {
    float lo, hi, add;
    uint32_t sum;
} osq_terms;

/* ---- the quantizer -------------------------------------------------------- */

static double osq_clamp(double v, double a, double b) { return v < a ? a : v > b ? b : v; }

/* Code of r in [a, b] with nsteps steps (Math.round = floor(v + 0.5), v >= 0). */
static uint32_t osq_code(double r, double a, double b, double nsteps)
{
    if (!(b > a)) return 0;
    double v = floor((osq_clamp(r, a, b) - a) / ((b - a) / nsteps) + 0.5);
    return v > nsteps ? (uint32_t)nsteps : (uint32_t)v;
}

static double osq_loss(const float *r, size_t d, double a, double b, double nsteps, double norm2,
                       double lambda)
{
    double step = (b - a) / nsteps, xe = 0, e = 0;
    for (size_t j = 0; j < d; j++) {
        double q = a + step * osq_code(r[j], a, b, nsteps);
        double diff = r[j] - q;
        xe += r[j] * diff;
        e += diff * diff;
    }
    return (1.0 - lambda) * xe * xe / norm2 + lambda * e;
}

/* Coordinate descent on (a, b): fix the assignment, solve the 2x2 normal
 * equations of the loss, keep the result only if the loss went down. */
static void osq_optimise(const osq_state *s, const float *r, size_t d, double norm2,
                         double nsteps, double *ia, double *ib)
{
    double lambda = s->p.lambda, scale = (1.0 - lambda) / norm2;
    if (!isfinite(scale) || !(*ib > *ia)) return;
    double loss = osq_loss(r, d, *ia, *ib, nsteps, norm2, lambda);
    for (size_t it = 0; it < s->p.iters; it++) {
        double a = *ia, b = *ib, daa = 0, dab = 0, dbb = 0, dax = 0, dbx = 0;
        for (size_t j = 0; j < d; j++) {
            double t = osq_code(r[j], a, b, nsteps) / nsteps;
            daa += (1 - t) * (1 - t);
            dab += (1 - t) * t;
            dbb += t * t;
            dax += r[j] * (1 - t);
            dbx += r[j] * t;
        }
        double m0 = scale * dax * dax + lambda * daa;
        double m1 = scale * dax * dbx + lambda * dab;
        double m2 = scale * dbx * dbx + lambda * dbb;
        double det = m0 * m2 - m1 * m1;
        if (det == 0) return;
        double na = (m2 * dax - m1 * dbx) / det, nb = (m0 * dbx - m1 * dax) / det;
        if (!(nb > na) || (fabs(na - a) < 1e-8 && fabs(nb - b) < 1e-8)) return;
        double nl = osq_loss(r, d, na, nb, nsteps, norm2, lambda);
        if (nl > loss) return;
        *ia = na;
        *ib = nb;
        loss = nl;
    }
}

/* Quantize x at `bits`: codes (d entries) and the corrective terms. r is
 * d floats of scratch. */
static void osq_quantize(const osq_state *s, const float *x, size_t bits, float *r,
                         uint32_t *codes, osq_terms *t)
{
    size_t d = s->base.dim;
    double mean = 0, m2 = 0, norm2 = 0, xc = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t j = 0; j < d; j++) {
        xc += (double)x[j] * s->c[j];
        r[j] = x[j] - s->c[j];
        double v = r[j], delta = v - mean;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        norm2 += v * v;
        mean += delta / (double)(j + 1);
        m2 += delta * (v - mean);
    }
    double sd = sqrt(m2 / (double)d), nsteps = (double)(((size_t)1 << bits) - 1);
    double a = osq_clamp(mean - osq_grid[bits - 1] * sd, mn, mx);
    double b = osq_clamp(mean + osq_grid[bits - 1] * sd, mn, mx);
    /* The interval is stored as float32: optimise, round, then quantize with
     * exactly the stored values. */
    osq_optimise(s, r, d, norm2, nsteps, &a, &b);
    t->lo = (float)a;
    t->hi = (float)b;
    uint32_t sum = 0;
    for (size_t j = 0; j < d; j++) sum += codes[j] = osq_code(r[j], t->lo, t->hi, nsteps);
    t->sum = sum;
    t->add = (float)(s->base.sim == ECB_SIM_L2 ? norm2 : xc);
}

static void osq_pack(const osq_state *s, const uint32_t *codes, const osq_terms *t, uint8_t *out)
{
    size_t bits = s->p.bits;
    memset(out, 0, s->code_bytes);
    for (size_t j = 0; j < s->base.dim; j++) {
        size_t bit = j * bits;
        uint32_t v = codes[j] << (bit % 8);
        out[bit / 8] |= (uint8_t)v;
        if (bit % 8 + bits > 8) out[bit / 8 + 1] |= (uint8_t)(v >> 8);
    }
    uint8_t *p = out + s->packed;
    memcpy(p, &t->lo, 4);
    memcpy(p + 4, &t->hi, 4);
    memcpy(p + 8, &t->add, 4);
    if (s->sum_bytes == 2) {
        uint16_t v = (uint16_t)t->sum;
        memcpy(p + 12, &v, 2);
    } else {
        memcpy(p + 12, &t->sum, 4);
    }
}

static void osq_unpack(const osq_state *s, const uint8_t *code, float *k, osq_terms *t)
{
    size_t bits = s->p.bits;
    unsigned mask = (1u << bits) - 1u;
    for (size_t j = 0; j < s->base.dim; j++) {
        size_t bit = j * bits, byte = bit / 8;
        unsigned v = code[byte];
        if (bit % 8 + bits > 8) v |= (unsigned)code[byte + 1] << 8;
        k[j] = (float)((v >> (bit % 8)) & mask);
    }
    const uint8_t *p = code + s->packed;
    memcpy(&t->lo, p, 4);
    memcpy(&t->hi, p + 4, 4);
    memcpy(&t->add, p + 8, 4);
    if (s->sum_bytes == 2) {
        uint16_t v;
        memcpy(&v, p + 12, 2);
        t->sum = v;
    } else {
        memcpy(&t->sum, p + 12, 4);
    }
}

/* ---- hooks ------------------------------------------------------------------ */

static void osq_destroy(ecb_method *m)
{
    if (!m) return;
    free(((osq_state *)m)->c);
    free(m);
}

static int osq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    const struct osq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "osq: input dimension must be >= 1, got 0");
    if (p->bits < 1 || p->bits > 8)
        return host->fail(host, ECB_EINVAL, "osq: parameter bits: expected 1..8, got %zu", p->bits);
    if (p->query_bits > 8)
        return host->fail(host, ECB_EINVAL, "osq: parameter query_bits: expected 0..8, got %zu",
                          p->query_bits);
    if (!(p->lambda >= 0 && p->lambda <= 1))
        return host->fail(host, ECB_EINVAL, "osq: parameter lambda: expected 0..1, got %g",
                          p->lambda);
    if (dim > ((size_t)1 << 24))
        return host->fail(host, ECB_ERANGE, "osq: input dimension %zu too large (max 2^24)", dim);
    osq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "osq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->packed = (p->bits * dim + 7) / 8;
    s->sum_bytes = (((size_t)1 << p->bits) - 1) * dim <= 0xffff ? 2 : 4;
    s->code_bytes = s->packed + 12 + s->sum_bytes;
    s->c = calloc(dim, sizeof *s->c);
    if (!s->c) {
        free(s);
        return host->fail(host, ECB_ENOMEM, "osq: out of memory for a %zu-d centroid", dim);
    }
    *out = &s->base;
    return 0;
}

/** @param x n*dim floats of the corpus sample. */
static int osq_train(ecb_method *m, const float *x, size_t n)
{
    osq_state *s = (osq_state *)m;
    size_t d = m->dim;
    if (n == 0) return m->host->fail(m->host, ECB_EINVAL, "osq: train needs >= 1 vector, got 0");
    double *acc = calloc(d, sizeof *acc);
    if (!acc) return m->host->fail(m->host, ECB_ENOMEM, "osq: out of memory");
    int unit = m->sim == ECB_SIM_DOT && ecb_rows_unit(x, n, d, 1e-3);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) acc[j] += x[i * d + j];
    double cn = 0;
    for (size_t j = 0; j < d; j++) {
        acc[j] /= (double)n;
        cn += acc[j] * acc[j];
    }
    double f = unit && cn > 0 ? 1.0 / sqrt(cn) : 1.0;
    s->cdp = 0;
    for (size_t j = 0; j < d; j++) {
        s->c[j] = (float)(acc[j] * f);
        s->cdp += (double)s->c[j] * s->c[j];
    }
    free(acc);
    s->trained = 1;
    return 0;
}

static size_t osq_code_size(const ecb_method *m) { return ((const osq_state *)m)->code_bytes; }

static size_t osq_aux_bytes(const ecb_method *m) { return m->dim * sizeof(float); }

/** @param x n*dim floats. @param codes n*code_size bytes. */
static int osq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const osq_state *s = (const osq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "osq: encode called before train");
    if (n == 0) return 0;
    float *r = malloc(m->dim * sizeof *r);
    uint32_t *k = malloc(m->dim * sizeof *k);
    if (!r || !k) {
        free(r);
        free(k);
        return m->host->fail(m->host, ECB_ENOMEM, "osq: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        osq_terms t;
        osq_quantize(s, x + i * m->dim, s->p.bits, r, k, &t);
        osq_pack(s, k, &t, codes + i * s->code_bytes);
    }
    free(r);
    free(k);
    return 0;
}

static int osq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const osq_state *s = (const osq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "osq: decode called before train");
    size_t d = m->dim;
    double nsteps = (double)(((size_t)1 << s->p.bits) - 1);
    for (size_t i = 0; i < n; i++) {
        osq_terms t;
        float *xi = x + i * d;
        osq_unpack(s, codes + i * s->code_bytes, xi, &t);
        float lx = (float)(((double)t.hi - t.lo) / nsteps);
        for (size_t j = 0; j < d; j++) xi[j] = s->c[j] + fmaf(xi[j], lx, t.lo);
    }
    return 0;
}

/* Prepared query: the vector v multiplied with the document codes (q - c,
 * or the query's own codes), then ay, ly, y1 and the query's correction. */
enum { OSQ_QT_AY = 0, OSQ_QT_LY, OSQ_QT_Y1, OSQ_QT_ADD, OSQ_QT_N };

static size_t osq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return (m->dim + OSQ_QT_N) * sizeof(float);
}

static int osq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const osq_state *s = (const osq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "osq: prepare called before train");
    size_t d = m->dim, qbits = mode == ECB_MODE_SYMMETRIC ? s->p.bits : s->p.query_bits;
    float *r = malloc(d * sizeof *r);
    uint32_t *k = malloc(d * sizeof *k);
    if (!r || !k) {
        free(r);
        free(k);
        return m->host->fail(m->host, ECB_ENOMEM, "osq: out of memory");
    }
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * d;
        float *v = (float *)out + i * (d + OSQ_QT_N), *qt = v + d;
        if (qbits == 0) {
            double sum = 0, add = 0;
            for (size_t j = 0; j < d; j++) {
                v[j] = qi[j] - s->c[j];
                sum += v[j];
                add += m->sim == ECB_SIM_L2 ? (double)v[j] * v[j] : (double)qi[j] * s->c[j];
            }
            qt[OSQ_QT_AY] = 0.0f;
            qt[OSQ_QT_LY] = 1.0f;
            qt[OSQ_QT_Y1] = (float)sum;
            qt[OSQ_QT_ADD] = (float)add;
            continue;
        }
        osq_terms t;
        osq_quantize(s, qi, qbits, r, k, &t);
        for (size_t j = 0; j < d; j++) v[j] = (float)k[j];
        qt[OSQ_QT_AY] = t.lo;
        qt[OSQ_QT_LY] = (float)(((double)t.hi - t.lo) / (double)(((size_t)1 << qbits) - 1));
        qt[OSQ_QT_Y1] = (float)t.sum;
        qt[OSQ_QT_ADD] = t.add;
    }
    free(r);
    free(k);
    return 0;
}

static int osq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    (void)mode; /* the mode is in the prepared query */
    const osq_state *s = (const osq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "osq: score called before train");
    if (nq == 0 || n == 0) return 0;
    size_t d = m->dim, qs = d + OSQ_QT_N;
    const float *pq = prepared;
    double nsteps = (double)(((size_t)1 << s->p.bits) - 1);
    float *k = malloc(OSQ_BLOCK * d * sizeof *k);
    osq_terms *t = malloc(OSQ_BLOCK * sizeof *t);
    if (!k || !t) {
        free(k);
        free(t);
        return m->host->fail(m->host, ECB_ENOMEM, "osq: out of memory scoring");
    }
    int rc = 0;
    for (size_t j0 = 0; j0 < n && !rc; j0 += OSQ_BLOCK) {
        size_t c = n - j0 < OSQ_BLOCK ? n - j0 : OSQ_BLOCK;
        for (size_t j = 0; j < c; j++) osq_unpack(s, codes + (j0 + j) * s->code_bytes, k + j * d, t + j);
        if (ecb_gemm_nt(nq, c, d, 1.0f, pq, qs, k, d, 0.0f, scores + j0, n)) {
            rc = ECB_ERANGE;
            break;
        }
        for (size_t i = 0; i < nq; i++) {
            const float *qt = pq + i * qs + d;
            double ay = qt[OSQ_QT_AY], ly = qt[OSQ_QT_LY], y1 = qt[OSQ_QT_Y1],
                   qadd = qt[OSQ_QT_ADD];
            for (size_t j = 0; j < c; j++) {
                double ax = t[j].lo, lx = ((double)t[j].hi - t[j].lo) / nsteps;
                float *sc = scores + i * n + j0 + j;
                double est = ax * ay * (double)d + ay * lx * t[j].sum + ax * ly * y1 +
                             lx * ly * (double)*sc;
                *sc = m->sim == ECB_SIM_L2 ? (float)(2 * est - qadd - t[j].add)
                                           : (float)(est + qadd + t[j].add - s->cdp);
            }
        }
    }
    free(k);
    free(t);
    if (rc)
        return m->host->fail(m->host, rc, "osq: block of %zu x %zu too large for BLAS", nq, d);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const osq_size_params[] = {"bits", NULL};

static const ecb_method_vtable osq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "osq",
    .summary = "optimized scalar quantization (Lucene/Elasticsearch): centroid, per-vector "
               "optimised interval, corrective terms, 1-8 bits",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = osq_params_table,
    .params_size = sizeof(struct osq_params),
    .create = osq_create,
    .destroy = osq_destroy,
    .train = osq_train,
    .code_size = osq_code_size,
    .aux_bytes = osq_aux_bytes,
    .encode = osq_encode,
    .decode = osq_decode,
    .query_size = osq_query_size,
    .prepare = osq_prepare,
    .score = osq_score,
    .size_params = osq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_osq(void) { return &osq_vtable; }
