/*
 * rabitq: RaBitQ (Gao & Long, SIGMOD 2024, "RaBitQ: Quantizing
 * High-Dimensional Vectors with a Theoretical Error Bound for Approximate
 * Nearest Neighbor Search") and its multi-bit extension (Gao, Gou, Xu, Yang,
 * Long, Wong, SIGMOD 2025, "Practical and Asymptotically Optimal Quantization
 * of High-Dimensional Vectors in Euclidean Space for ANN Search", a.k.a.
 * extended RaBitQ). Written from the papers' descriptions. (One method per
 * file: the estimator, the multi-bit grid search and the scans take it past
 * 600 lines.)
 *
 * Encoding of x: pick the centroid c (the training mean, or the nearest of
 * `centroids` k-means centroids), rotate o' = P^T (x - c) with a Haar-random
 * orthogonal P, normalise u = o' / ||o'||, and quantize u onto the grid
 * y in {-(2^B-1)/2, ..., -1/2, 1/2, ..., (2^B-1)/2}^d rescaled to unit norm,
 * choosing the rescaling t of u that maximises cos(y, u) (B = 1: y = sign(u)/2,
 * plain RaBitQ; B > 1: the exact critical-point enumeration of extended
 * RaBitQ). The estimator of the paper,
 *     <o, q> ~= <y, q'> / <y, u>      (q' = P^T (q - c)),
 * is unbiased for B = 1 (the residual of y orthogonal to u is uniform on the
 * sphere of the complement after the random rotation) and asymptotically so
 * for B > 1.
 *
 * Code layout (code_size bytes per vector, in this order):
 *   float32 mul, float32 add      the two per-vector correction scalars;
 *   float32 err                   only with rerank_bound > 0;
 *   uint8 centroid id             only with centroids > 1;
 *   B bit planes of ceil(d/8) bytes: plane b holds bit b of the grid index
 *   k_i = y_i + (2^B-1)/2 in [0, 2^B-1]; plane B-1 is the sign code.
 * So 1 bit at d = 128 is 16 + 8 = 24 bytes, as FAISS's IndexRaBitQ; in
 * general bits * ceil(d/8) + 8 (+4 with rerank_bound, +1 with centroids).
 *
 * Scores (higher is better, the host's convention), with e = estimated
 * <x - c, q - c> = ||x - c|| <y, q'> / <y, u>:
 *   DOT:  <x, q> = e + <x, c> + (<c, q> - ||c||^2)
 *         mul = ||x - c|| / <y, u>, add = <x, c>
 *   L2:  -||x - q||^2 = 2 e - ||x - c||^2 - ||q - c||^2
 *         mul = 2 ||x - c|| / <y, u>, add = -||x - c||^2
 * The query-only terms are added too, so scores are estimates of the true
 * similarity, not just order-equivalent.
 *
 * Modes. Asymmetric: the float query, rotated, against the codes through a
 * fast scan (FAISS's PQ/RaBitQ fast-scan idea, written anew): prepare()
 * builds one lookup table per query over groups of 4 rotated dimensions
 * (16 entries per group: the sum of q' - c'_0 over each subset of the 4),
 * quantized to integers, 8-bit at 1 bit and 16-bit above (rq_lut_max); a
 * code's bit plane is then 2G nibble lookups, and the estimate is
 * delta * sum_b 2^b (plane b's sum) plus per-query constants. The sums are
 * exact integers, so the AVX2 kernel (codes transposed in blocks of 32, 32
 * lookups per pshufb), the AVX-512 one (the same blocks, two groups per
 * zmm) and the portable one (codes in place) agree bit for bit whatever
 * the split of queries and codes; the table's rounding moves
 * a score by at most |mul| * delta/2 * 2G * (2^B - 1) (test_rabitq_scan),
 * measured on siftsmall at 1 bit: top-10 overlap 0.991 with the float
 * tables of before, the same kNN recall@10; at 4 bits identical top-10s.
 * A doc on centroid k != 0 gets its share of the table's shift from c_0 to
 * c_k, <grid indices, P^T (c_k - c_0)>, once per score() call.
 * Skipping (score_floor, appended within ABI v1): the host passes each
 * query's current k-th best score, and the multi-bit scan leaves out a
 * block's lowest bit plane when an exact worst-case bound on it shows that
 * no code of the block can reach that score (see "skipping below a
 * floor"). FAISS skips the extra bits after the sign bit, with the
 * estimator's probabilistic error bound, which may lose a true neighbour;
 * this bound is exact for the returned scores, so results are those of
 * score(), but looser: after the sign plane alone it never prunes at
 * d = 768, so only the lowest plane is ever spared.
 * Symmetric: the query is
 * quantized with the same B, and <y_x, y_q> / (<y_x, u_x> <y_q, u_q>)
 * estimates <o, q>, computed with AND-popcounts over the bit planes
 * (B^2 plane pairs).
 *
 * rerank_bound = eps0 > 0 (paper: eps0 = 1.9 gives a bound that holds with
 * high probability): the paper's error bound of the estimator,
 *     |est - <o, q>| <= eps0 sqrt((1 - <yhat,u>^2) / <yhat,u>^2) / sqrt(d - 1),
 * scaled to a score error, is stored per vector (the third float, `err`) and
 * added to the asymmetric score: the returned score is the OPTIMISTIC bound
 * (estimate + bound), not the estimate. ABI v1 has no field for a second
 * score, so this is the only way a plugin can steer the harness's generic
 * rescoring: retrieving k x factor candidates by their upper bound keeps
 * every candidate whose bound says it may still be in the true top-k, and the
 * float rescoring pass then orders them exactly. Without rescoring the
 * optimistic score ranks worse than the plain estimate; use it only with a
 * rescore factor. Symmetric mode ignores the bound (the paper's bound is for
 * a float query). Measured (bench/sota_table.py, seed 42): with a FIXED
 * rescore factor the bound does not help and costs 4 bytes: siftsmall 1 bit,
 * kNN recall@10 after float32 x2/x4/x10 rescoring 0.730/0.873/0.975 without,
 * 0.706/0.860/0.970 with eps0 = 1.9. The paper's gain is in re-ranking
 * fewer candidates adaptively (only those whose bound overlaps the current
 * k-th exact distance), which a fixed k x factor pass cannot express.
 *
 * Limits: no decode (the estimator is not a reconstruction). centroids <=
 * 256: this is a flat scan, not an IVF index; prepare() quantizes the query
 * once per centroid (symmetric). The file holds its own SIMD kernels (the
 * rotation and the fast scan, AVX2 + portable), which takes it past 600
 * lines.
 * The estimator's rescaling by <y, u> is the paper's; extended RaBitQ's
 * split into a sign code plus extra-bit code is a scan-speed layout detail we
 * replace by bit planes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct rabitq_params {
    size_t bits;
    size_t centroids;
    double rerank_bound;
};

static const ecb_param rabitq_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct rabitq_params, bits), .def.u = 1, .min = 1,
     .max = 8, .help = "bits per dimension: 1 = RaBitQ, 2..8 = extended RaBitQ"},
    {"centroids", ECB_PARAM_SIZE, offsetof(struct rabitq_params, centroids), .def.u = 1,
     .min = 1, .max = 256,
     .help = "1 = normalise around the corpus mean; >1 = around the nearest k-means "
             "centroid (id stored per vector)"},
    {"rerank_bound", ECB_PARAM_DOUBLE, offsetof(struct rabitq_params, rerank_bound),
     .def.d = 0.0, .min = 0.0, .max = 100.0,
     .help = "eps0 of the error bound; >0 stores a 3rd float per vector and returns the "
             "optimistic score estimate+eps0*bound (asymmetric), meant for rescoring"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct rabitq_params p;
    size_t B, K, G;     /* bits, centroids, bytes per bit plane */
    size_t nf, idb;     /* floats and centroid-id bytes per code */
    size_t plane_off;   /* byte offset of the bit planes in a code */
    size_t code_size;
    int trained;
    float *rot;         /* d x d, row-major: o' = rot^T (x - c) */
    float *cent;        /* K x d, original space */
    float *rcent;       /* K x d, rot^T c_k */
    double *cnorm2;     /* ||c_k||^2 */
    float *cdiff;       /* K x d, rot^T (c_k - c_0): the per-centroid LUT correction */
    double *csum;       /* sum of rot^T (c_k - c_0) */
    int avx2;           /* the AVX2 kernels (ecb_cpu(), read once in create) */
    int avx512;         /* and, with avx2, the AVX-512 fast scan */
} rq_state;

/* Prepared asymmetric query: RQ_QA_HEAD doubles (the table's step delta and
 * the score's query-only offset), RQ_QA_PER_K per centroid (score constant,
 * ||q - c_k||), then the lookup table (rq_build_qlut). */
#define RQ_QA_HEAD 2
#define RQ_QA_PER_K 2
/* Fewest queries per score() call for the AVX2 kernel. Transposing the
 * codes pays even for one query (measured, CPU time per code and query,
 * d = 768: 1 bit 20.7 ns AVX2 vs 26-29 portable, 4 bits 82 vs 105). */
#define RQ_SIMD_MIN_Q 1
/* Prepared symmetric query, per centroid: 3 floats (query multiplier, score
 * constant, sum of grid indices) then the B bit planes, padded to 4 bytes. */
#define RQ_QS_HEAD 3

static int rq_create(const ecb_host *host, const void *params, size_t dim,
                     ecb_similarity sim, ecb_method **out)
{
    const struct rabitq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "rabitq: dim must be > 0, got 0");
    if (p->bits < 1 || p->bits > 8)
        return host->fail(host, ECB_ERANGE, "rabitq: bits must be in [1,8], got %zu", p->bits);
    if (p->centroids < 1 || p->centroids > 256)
        return host->fail(host, ECB_ERANGE, "rabitq: centroids must be in [1,256], got %zu",
                          p->centroids);
    if (!(p->rerank_bound >= 0.0))
        return host->fail(host, ECB_ERANGE, "rabitq: rerank_bound must be >= 0, got %g",
                          p->rerank_bound);
    rq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "rabitq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->B = p->bits;
    s->K = p->centroids;
    s->G = (dim + 7) / 8;
    s->nf = p->rerank_bound > 0.0 ? 3 : 2;
    s->idb = s->K == 1 ? 0 : 1;
    s->plane_off = s->nf * sizeof(float) + s->idb;
    s->code_size = s->plane_off + s->B * s->G;
    s->avx2 = ecb_cpu()->avx2;
    s->avx512 = ecb_cpu()->avx512f && ecb_cpu()->avx512bw;
    *out = &s->base;
    return 0;
}

static void rq_destroy(ecb_method *m)
{
    if (!m) return;
    rq_state *s = (rq_state *)m;
    free(s->rot);
    free(s->cent);
    free(s->rcent);
    free(s->cnorm2);
    free(s->cdiff);
    free(s->csum);
    free(s);
}

#define RQ_BLOCK 256
/* y = x rot for nb rows: o' = rot^T x per row (rot^T is as Haar-random as
 * rot), every y_ij accumulated as ((x_i0 r_0j) + x_i1 r_1j) + ... in float,
 * a multiply then an add (no FMA), in increasing t. Not sgemm: OpenBLAS
 * rounds a row differently with its position in the call (measured on
 * Debian's 0.3.21 here: rows 0-5, 6-11 and 12-15 of a 16-row call fall in
 * three rounding classes at d = 32, and 0-15 / 16-31 at d = 768, whatever
 * the thread count), and a code must not depend on which other vectors were
 * encoded with it. This fixed order is that guarantee, and the one the codes
 * have always had. The AVX2 kernel keeps a 4-row x 24-column tile of sums in
 * registers (the portable loop streams every row through memory for each
 * t: ~6k vectors/s at d = 768); both do the same float operations in the
 * same order, so the codes are bit for bit those of the portable loop. */
static void rq_rot_portable(const float *x, size_t nb, const float *rot, size_t d, size_t j0,
                            float *y)
{
    for (size_t i0 = 0; i0 < nb; i0 += 16) {
        size_t i1 = nb - i0 < 16 ? nb : i0 + 16;
        for (size_t i = i0; i < i1; i++)
            for (size_t j = j0; j < d; j++) y[i * d + j] = 0.0f;
        for (size_t t = 0; t < d; t++) {
            const float *r = rot + t * d;
            for (size_t i = i0; i < i1; i++) {
                float xv = x[i * d + t];
                float *yi = y + i * d;
                for (size_t j = j0; j < d; j++) yi[j] += xv * r[j];
            }
        }
    }
}

__attribute__((target("avx2"))) static void rq_rot_avx2(const float *x, size_t nb,
                                                        const float *rot, size_t d, float *y)
{
    size_t jv = d / 8 * 8;
    size_t i0 = 0;
    for (; i0 + 4 <= nb; i0 += 4) {
        const float *x0 = x + i0 * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
        size_t j0 = 0;
        for (; j0 + 24 <= jv; j0 += 24) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            for (size_t t = 0; t < d; t++) {
                const float *r = rot + t * d + j0;
                __m256 r0 = _mm256_loadu_ps(r), r1 = _mm256_loadu_ps(r + 8),
                       r2 = _mm256_loadu_ps(r + 16);
                __m256 b = _mm256_broadcast_ss(x0 + t);
                a00 = _mm256_add_ps(a00, _mm256_mul_ps(b, r0));
                a01 = _mm256_add_ps(a01, _mm256_mul_ps(b, r1));
                a02 = _mm256_add_ps(a02, _mm256_mul_ps(b, r2));
                b = _mm256_broadcast_ss(x1 + t);
                a10 = _mm256_add_ps(a10, _mm256_mul_ps(b, r0));
                a11 = _mm256_add_ps(a11, _mm256_mul_ps(b, r1));
                a12 = _mm256_add_ps(a12, _mm256_mul_ps(b, r2));
                b = _mm256_broadcast_ss(x2 + t);
                a20 = _mm256_add_ps(a20, _mm256_mul_ps(b, r0));
                a21 = _mm256_add_ps(a21, _mm256_mul_ps(b, r1));
                a22 = _mm256_add_ps(a22, _mm256_mul_ps(b, r2));
                b = _mm256_broadcast_ss(x3 + t);
                a30 = _mm256_add_ps(a30, _mm256_mul_ps(b, r0));
                a31 = _mm256_add_ps(a31, _mm256_mul_ps(b, r1));
                a32 = _mm256_add_ps(a32, _mm256_mul_ps(b, r2));
            }
            float *y0 = y + i0 * d + j0;
            _mm256_storeu_ps(y0, a00); _mm256_storeu_ps(y0 + 8, a01); _mm256_storeu_ps(y0 + 16, a02);
            y0 += d;
            _mm256_storeu_ps(y0, a10); _mm256_storeu_ps(y0 + 8, a11); _mm256_storeu_ps(y0 + 16, a12);
            y0 += d;
            _mm256_storeu_ps(y0, a20); _mm256_storeu_ps(y0 + 8, a21); _mm256_storeu_ps(y0 + 16, a22);
            y0 += d;
            _mm256_storeu_ps(y0, a30); _mm256_storeu_ps(y0 + 8, a31); _mm256_storeu_ps(y0 + 16, a32);
        }
        for (; j0 < jv; j0 += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (size_t t = 0; t < d; t++) {
                __m256 r0 = _mm256_loadu_ps(rot + t * d + j0);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_broadcast_ss(x0 + t), r0));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_broadcast_ss(x1 + t), r0));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_broadcast_ss(x2 + t), r0));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_broadcast_ss(x3 + t), r0));
            }
            _mm256_storeu_ps(y + i0 * d + j0, a0);
            _mm256_storeu_ps(y + (i0 + 1) * d + j0, a1);
            _mm256_storeu_ps(y + (i0 + 2) * d + j0, a2);
            _mm256_storeu_ps(y + (i0 + 3) * d + j0, a3);
        }
    }
    for (; i0 < nb; i0++) {
        const float *x0 = x + i0 * d;
        for (size_t j0 = 0; j0 < jv; j0 += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (size_t t = 0; t < d; t++)
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_broadcast_ss(x0 + t),
                                                     _mm256_loadu_ps(rot + t * d + j0)));
            _mm256_storeu_ps(y + i0 * d + j0, a0);
        }
    }
}

static void rq_rotate(const rq_state *s, const float *x, size_t nb, float *y)
{
    size_t d = s->base.dim;
    if (!s->avx2) {
        rq_rot_portable(x, nb, s->rot, d, 0, y);
        return;
    }
    rq_rot_avx2(x, nb, s->rot, d, y);
    /* the last d % 8 columns: the same operations, one at a time */
    if (d % 8) rq_rot_portable(x, nb, s->rot, d, d / 8 * 8, y);
}

/* Nearest centroid in the rotated space (rotation preserves distances). */
static size_t rq_nearest(const rq_state *s, const float *y)
{
    size_t d = s->base.dim, best = 0;
    double bd = INFINITY;
    for (size_t k = 0; k < s->K; k++) {
        double a = 0;
        for (size_t t = 0; t < d; t++) {
            double v = (double)y[t] - s->rcent[k * d + t];
            a += v * v;
        }
        if (a < bd) { bd = a; best = k; }
    }
    return best;
}

static int rq_train(ecb_method *m, const float *x, size_t n)
{
    rq_state *s = (rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, K = s->K;
    if (n < K)
        return h->fail(h, ECB_EINVAL, "rabitq: training sample has %zu vectors, needs >= "
                       "centroids=%zu", n, K);
    free(s->rot); free(s->cent); free(s->rcent); free(s->cnorm2); free(s->cdiff); free(s->csum);
    s->rot = malloc(d * d * sizeof(float));
    s->cent = malloc(K * d * sizeof(float));
    s->rcent = malloc(K * d * sizeof(float));
    s->cnorm2 = malloc(K * sizeof(double));
    s->cdiff = malloc(K * d * sizeof(float));
    s->csum = malloc(K * sizeof(double));
    if (!s->rot || !s->cent || !s->rcent || !s->cnorm2 || !s->cdiff || !s->csum)
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory for d=%zu centroids=%zu", d, K);
    int rc;
    if (K == 1) {
        double *acc = calloc(d, sizeof(double));
        if (!acc) return h->fail(h, ECB_ENOMEM, "rabitq: out of memory");
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < d; t++) acc[t] += x[i * d + t];
        for (size_t t = 0; t < d; t++) s->cent[t] = (float)(acc[t] / (double)n);
        free(acc);
    } else {
        ecb_kmeans_opts o = {.k = K, .iters = 25, .tol = 1e-4, .init = ECB_KMEANS_PLUSPLUS,
                             .seed = h->seed ^ 0x7261626974710001ull, .threads = h->threads};
        rc = ecb_kmeans(&o, x, n, d, s->cent, NULL, NULL);
        if (rc) return h->fail(h, rc, "rabitq: k-means with k=%zu on %zu vectors failed", K, n);
    }
    rc = ecb_random_orthogonal(d, h->seed ^ 0x7261626974710002ull, s->rot);
    if (rc) return h->fail(h, rc, "rabitq: random rotation of size %zu failed", d);
    rq_rotate(s, s->cent, K, s->rcent);
    for (size_t k = 0; k < K; k++) {
        double a = 0, c = 0;
        for (size_t t = 0; t < d; t++) {
            a += (double)s->cent[k * d + t] * s->cent[k * d + t];
            s->cdiff[k * d + t] = s->rcent[k * d + t] - s->rcent[t];
            c += s->cdiff[k * d + t];
        }
        s->cnorm2[k] = a;
        s->csum[k] = c;
    }
    s->trained = 1;
    return 0;
}

static size_t rq_code_size(const ecb_method *m) { return ((const rq_state *)m)->code_size; }

static size_t rq_aux_bytes(const ecb_method *m)
{
    const rq_state *s = (const rq_state *)m;
    return (m->dim * m->dim + s->K * m->dim) * sizeof(float);
}

/* ---- quantization of one unit vector ------------------------------------ */

typedef struct {
    double *a;       /* |u_i| */
    uint32_t *k;     /* magnitude level per dimension */
    uint32_t *ek, *ei, *ek2, *ei2; /* events (time key, dimension), d*(2^(B-1)-1) */
} rq_work;

static void rq_work_free(rq_work *w)
{
    free(w->a); free(w->k); free(w->ek); free(w->ei); free(w->ek2); free(w->ei2);
}

static int rq_work_alloc(rq_work *w, size_t d, size_t B)
{
    size_t K = (size_t)1 << (B - 1), E = d * (K > 1 ? K - 1 : 1);
    memset(w, 0, sizeof *w);
    w->a = malloc(d * sizeof(double));
    w->k = malloc(d * sizeof(uint32_t));
    w->ek = malloc(E * sizeof(uint32_t));
    w->ei = malloc(E * sizeof(uint32_t));
    w->ek2 = malloc(E * sizeof(uint32_t));
    w->ei2 = malloc(E * sizeof(uint32_t));
    if (!w->a || !w->k || !w->ek || !w->ei || !w->ek2 || !w->ei2) {
        rq_work_free(w);
        return -1;
    }
    return 0;
}

/* Stable LSD radix sort of n (key, payload) pairs by key, 4 passes of 8
 * bits; the result ends in (k, v) (an even number of passes). */
static void rq_radix_sort(uint32_t *k, uint32_t *v, uint32_t *k2, uint32_t *v2, size_t n)
{
    for (unsigned sh = 0; sh < 32; sh += 8) {
        size_t cnt[257] = {0};
        for (size_t e = 0; e < n; e++) cnt[(k[e] >> sh & 255) + 1]++;
        for (size_t b = 0; b < 256; b++) cnt[b + 1] += cnt[b];
        for (size_t e = 0; e < n; e++) {
            size_t dst = cnt[k[e] >> sh & 255]++;
            k2[dst] = k[e];
            v2[dst] = v[e];
        }
        uint32_t *t = k; k = k2; k2 = t;
        t = v; v = v2; v2 = t;
    }
}

/* Quantize the unit vector u (d) onto the B-bit grid, writing grid indices
 * idx[i] in [0, 2^B - 1] (y_i = idx_i - (2^B-1)/2). Returns <y, u> and stores
 * ||y||^2. For B > 1 this is extended RaBitQ's search over the rescaling t:
 * |y_i| = min(floor(t |u_i|), K-1) + 1/2 changes only at the critical points
 * t = m / |u_i|, so walking them in increasing order visits every distinct
 * candidate once, updating <y,|u|> and ||y||^2 incrementally; the prefix of
 * events with the best cosine is then replayed. The events are ordered by a
 * radix sort of their float32 times (positive floats order like their bit
 * patterns): a heap was 80% of the encoding time, mostly mispredicted
 * branches. */
static double rq_quantize(const float *u, size_t d, size_t B, rq_work *w, uint8_t *idx,
                          double *ynorm2)
{
    uint32_t K = 1u << (B - 1);
    double ip = 0, sq = 0.25 * (double)d;
    for (size_t i = 0; i < d; i++) {
        w->a[i] = fabs((double)u[i]);
        w->k[i] = 0;
        ip += 0.5 * w->a[i];
    }
    if (K > 1) {
        size_t ne = 0, best_nev = 0;
        for (uint32_t m = 1; m < K; m++)
            for (size_t i = 0; i < d; i++) {
                if (!(w->a[i] > 0)) continue;
                float t = (float)((double)m / w->a[i]);
                memcpy(&w->ek[ne], &t, sizeof t);
                w->ei[ne++] = (uint32_t)i;
            }
        rq_radix_sort(w->ek, w->ei, w->ek2, w->ei2, ne);
        double best = ip / sqrt(sq), ip_best = ip, sq_best = sq;
        for (size_t e = 0; e < ne; e++) {
            uint32_t i = w->ei[e];
            uint32_t k = ++w->k[i];
            ip += w->a[i];
            sq += 2.0 * k;
            /* compare cos^2 without the square root: ip > 0 throughout */
            if (ip * ip > best * best * sq) {
                best = ip / sqrt(sq);
                best_nev = e + 1;
                ip_best = ip;
                sq_best = sq;
            }
        }
        for (size_t i = 0; i < d; i++) w->k[i] = 0;
        for (size_t e = 0; e < best_nev; e++) w->k[w->ei[e]]++;
        ip = ip_best;
        sq = sq_best;
    }
    for (size_t i = 0; i < d; i++)
        idx[i] = (uint8_t)(u[i] >= 0 ? K + w->k[i] : K - 1 - w->k[i]);
    *ynorm2 = sq;
    return ip;
}

static void rq_pack_planes(const uint8_t *idx, size_t d, size_t B, size_t G, uint8_t *planes)
{
    memset(planes, 0, B * G);
    for (size_t i = 0; i < d; i++)
        for (size_t b = 0; b < B; b++)
            if (idx[i] >> b & 1) planes[b * G + i / 8] |= (uint8_t)(1u << (i % 8));
}

static int rq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const rq_state *s = (const rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, B = s->B;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "rabitq: encode before train");
    float *y = malloc(RQ_BLOCK * d * sizeof(float));
    float *u = malloc(d * sizeof(float));
    uint8_t *idx = malloc(d);
    rq_work w;
    if (!y || !u || !idx || rq_work_alloc(&w, d, B)) {
        free(y); free(u); free(idx);
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory encoding d=%zu", d);
    }
    int rc = 0;
    for (size_t i0 = 0; i0 < n; i0 += RQ_BLOCK) {
        size_t nb = n - i0 < RQ_BLOCK ? n - i0 : RQ_BLOCK;
        rq_rotate(s, x + i0 * d, nb, y);
        for (size_t j = 0; j < nb; j++) {
            const float *xj = x + (i0 + j) * d;
            float *yj = y + j * d;
            uint8_t *c = codes + (i0 + j) * s->code_size;
            size_t k = s->K == 1 ? 0 : rq_nearest(s, yj);
            const float *rc_ = s->rcent + k * d, *ck = s->cent + k * d;
            double nrm2 = 0, xc = 0;
            for (size_t t = 0; t < d; t++) {
                double v = (double)yj[t] - rc_[t];
                nrm2 += v * v;
                xc += (double)xj[t] * ck[t];
            }
            double nrm = sqrt(nrm2);
            double ip = 0, yn2 = 0.25 * (double)d;
            if (nrm > 0) {
                for (size_t t = 0; t < d; t++) u[t] = (float)(((double)yj[t] - rc_[t]) / nrm);
                ip = rq_quantize(u, d, B, &w, idx, &yn2);
            } else {
                memset(idx, 0, d);
            }
            float f[3];
            double mul = (nrm > 0 && ip > 0) ? nrm / ip : 0.0;
            if (m->sim == ECB_SIM_L2) {
                f[0] = (float)(2.0 * mul);
                f[1] = (float)(-nrm2);
            } else {
                f[0] = (float)mul;
                f[1] = (float)xc;
            }
            if (s->nf == 3) {
                /* |est<o,q> - <o,q>| <= eps0 sqrt(1-cos^2)/cos/sqrt(d-1) for unit
                 * q; in score units: scale * ||x-c|| * ||q-c|| times that. */
                double cosv = (nrm > 0 && yn2 > 0) ? ip / sqrt(yn2) : 1.0;
                if (cosv > 1.0) cosv = 1.0;
                double e = cosv > 0 ? sqrt(1.0 - cosv * cosv) / cosv : 0.0;
                e /= sqrt(d > 1 ? (double)(d - 1) : 1.0);
                f[2] = (float)((m->sim == ECB_SIM_L2 ? 2.0 : 1.0) * nrm * e);
            }
            memcpy(c, f, s->nf * sizeof(float));
            if (s->idb) c[s->nf * 4] = (uint8_t)k;
            rq_pack_planes(idx, d, B, s->G, c + s->plane_off);
        }
    }
    free(y); free(u); free(idx);
    rq_work_free(&w);
    return rc;
}

/* ---- queries ------------------------------------------------------------ */

static size_t rq_qs_stride(const rq_state *s)
{
    return (RQ_QS_HEAD * sizeof(float) + s->B * s->G + 3) / 4 * 4;
}

/* Bytes of the asymmetric query's lookup table: 2G groups of 4 dimensions,
 * each 16 low bytes then 16 high bytes of its 16 uint16 entries. */
static size_t rq_lut_bytes(const rq_state *s) { return 2 * s->G * 32; }

static size_t rq_query_size(const ecb_method *m, ecb_mode mode)
{
    const rq_state *s = (const rq_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) return s->K * rq_qs_stride(s);
    return (RQ_QA_HEAD + RQ_QA_PER_K * s->K) * sizeof(double) + rq_lut_bytes(s);
}

/* Score-space constant of a query for centroid k: everything that does not
 * depend on the document. y is the rotated query P^T q. */
static double rq_qconst(const rq_state *s, size_t k, const float *y, double *qc_norm)
{
    size_t d = s->base.dim;
    double n2 = 0, cq = 0;
    for (size_t t = 0; t < d; t++) {
        double v = (double)y[t] - s->rcent[k * d + t];
        n2 += v * v;
        cq += (double)y[t] * s->rcent[k * d + t];
    }
    *qc_norm = sqrt(n2);
    return s->base.sim == ECB_SIM_L2 ? -n2 : cq - s->cnorm2[k];
}

/* Largest LUT entry: 1 bit, 8-bit entries (FAISS's fast-scan precision: the
 * rounding error is ~5% of the 1-bit estimator's own at any d); more bits,
 * 16-bit entries, since the top plane's rounding is scaled by 2^(B-1) and
 * would rival the estimator's error at B = 4. Also keeps a plane's sum,
 * 2G entries, within uint32. */
static uint32_t rq_lut_max(const rq_state *s)
{
    if (s->B == 1) return 255;
    uint64_t m = UINT32_MAX / (2 * s->G);
    return m < 65535 ? (uint32_t)m : 65535;
}

/* The query's lookup table over groups of 4 rotated dimensions of
 * v = q' - c'_0 (zero past d): entry [g][x] approximates the sum of v over
 * the set bits of nibble x, as neg_g + delta * Q with Q an integer in
 * [0, M], one delta for all groups. Writes the table and *delta; returns
 * sum_g neg_g. */
static double rq_build_qlut(const double *v, size_t G, uint32_t M, uint8_t *lut, double *delta)
{
    double maxr = 0, neg = 0;
    for (size_t g = 0; g < 2 * G; g++) {
        double r = 0;
        for (size_t j = 0; j < 4; j++) r += fabs(v[4 * g + j]);
        if (r > maxr) maxr = r;
    }
    double dl = maxr > 0 ? maxr / M : 1.0;
    for (size_t g = 0; g < 2 * G; g++) {
        const double *a = v + 4 * g;
        double ng = 0;
        for (size_t j = 0; j < 4; j++) ng += a[j] < 0 ? a[j] : 0.0;
        uint8_t *L = lut + 32 * g;
        for (unsigned x = 0; x < 16; x++) {
            double t = 0;
            for (unsigned j = 0; j < 4; j++)
                if (x >> j & 1) t += a[j];
            double qv = floor((t - ng) / dl + 0.5);
            uint32_t qi = qv <= 0 ? 0 : qv >= M ? M : (uint32_t)qv;
            L[x] = (uint8_t)(qi & 255);
            L[16 + x] = (uint8_t)(qi >> 8);
        }
        neg += ng;
    }
    *delta = dl;
    return neg;
}

static int rq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const rq_state *s = (const rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, K = s->K, G = s->G;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "rabitq: prepare before train");
    size_t nb0 = nq < RQ_BLOCK ? nq : RQ_BLOCK;
    float *y = malloc((nb0 ? nb0 : 1) * d * sizeof(float));
    float *u = malloc(d * sizeof(float));
    double *v = calloc(8 * G, sizeof(double));
    uint8_t *idx = malloc(d);
    rq_work w;
    int have_w = mode == ECB_MODE_SYMMETRIC ? !rq_work_alloc(&w, d, s->B) : 1;
    if (!y || !u || !v || !idx || !have_w) {
        free(y); free(u); free(v); free(idx);
        if (have_w && mode == ECB_MODE_SYMMETRIC) rq_work_free(&w);
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory preparing queries");
    }
    int rc = 0;
    size_t qsz = rq_query_size(m, mode);
    double cB = ((1u << s->B) - 1) * 0.5;
    for (size_t i0 = 0; i0 < nq && !rc; i0 += RQ_BLOCK) {
        size_t nb = nq - i0 < RQ_BLOCK ? nq - i0 : RQ_BLOCK;
        rq_rotate(s, q + i0 * d, nb, y);
        for (size_t i = i0; i < i0 + nb; i++) {
            const float *yi = y + (i - i0) * d;
            uint8_t *o = (uint8_t *)out + i * qsz;
            if (mode == ECB_MODE_ASYMMETRIC) {
                double hd[RQ_QA_HEAD], sum = 0, qc, qn;
                for (size_t t = 0; t < d; t++) {
                    v[t] = (double)yi[t] - s->rcent[t];
                    sum += v[t];
                }
                double neg = rq_build_qlut(v, G, rq_lut_max(s),
                                           o + (RQ_QA_HEAD + RQ_QA_PER_K * K) * sizeof(double),
                                           &hd[0]);
                hd[1] = (double)((1u << s->B) - 1) * neg - cB * sum;
                memcpy(o, hd, sizeof hd);
                for (size_t k = 0; k < K; k++) {
                    double e[RQ_QA_PER_K];
                    qc = rq_qconst(s, k, yi, &qn);
                    e[0] = qc;
                    e[1] = qn;
                    memcpy(o + (RQ_QA_HEAD + RQ_QA_PER_K * k) * sizeof(double), e, sizeof e);
                }
                continue;
            }
            for (size_t k = 0; k < K; k++) {
                double qn;
                double qc = rq_qconst(s, k, yi, &qn);
                uint8_t *e = o + k * rq_qs_stride(s);
                double ip = 0, yn2;
                if (qn > 0) {
                    for (size_t t = 0; t < d; t++)
                        u[t] = (float)(((double)yi[t] - s->rcent[k * d + t]) / qn);
                    ip = rq_quantize(u, d, s->B, &w, idx, &yn2);
                } else {
                    memset(idx, 0, d);
                }
                double sumk = 0;
                for (size_t t = 0; t < d; t++) sumk += idx[t];
                float f[RQ_QS_HEAD] = {(float)((qn > 0 && ip > 0) ? qn / ip : 0.0), (float)qc,
                                       (float)sumk};
                memcpy(e, f, sizeof f);
                rq_pack_planes(idx, d, s->B, s->G, e + sizeof f);
            }
        }
    }
    free(y); free(u); free(v); free(idx);
    if (mode == ECB_MODE_SYMMETRIC) rq_work_free(&w);
    return rc;
}

static inline size_t rq_cid(const rq_state *s, const uint8_t *c)
{
    return s->idb ? c[s->nf * 4] : 0;
}

/* ---- the asymmetric fast scan ------------------------------------------- */
/* S = sum_b 2^b sum_g lut[g][nibble g of plane b]: exact integers, so the
 * portable and the AVX2 kernels agree bit for bit, whatever the split. */

/* Portable: the nibble table summed into one table per code byte,
 * T8[g][v] = lut[2g][v & 15] + lut[2g+1][v >> 4] (the same integers, half
 * the lookups; built per query and score() call, G x 256 entries, cheap
 * next to a block of codes), then one lookup per byte, planes in place. */
static void rq_build_t8(const uint8_t *lut, size_t G, uint32_t *T8)
{
    for (size_t g = 0; g < G; g++) {
        const uint8_t *L = lut + 64 * g;
        uint32_t a[16], c[16];
        for (unsigned x = 0; x < 16; x++) {
            a[x] = (uint32_t)L[x] + ((uint32_t)L[16 + x] << 8);
            c[x] = (uint32_t)L[32 + x] + ((uint32_t)L[48 + x] << 8);
        }
        for (unsigned v = 0; v < 256; v++) T8[g * 256 + v] = a[v & 15] + c[v >> 4];
    }
}

/* One bit plane p (G bytes): sum_g lut[g][nibble g of p]. */
static uint64_t rq_plane1(const uint32_t *T8, const uint8_t *p, size_t G)
{
    const uint32_t *T = T8;
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t g = 0;
    /* eight bytes per load, four chains (as ecb_lut_sum8) */
    for (; g + 8 <= G; g += 8, T += 8 * 256) {
        uint64_t w;
        memcpy(&w, p + g, 8);
        a0 += T[w & 255];
        a1 += T[256 + (w >> 8 & 255)];
        a2 += T[512 + (w >> 16 & 255)];
        a3 += T[768 + (w >> 24 & 255)];
        a0 += T[1024 + (w >> 32 & 255)];
        a1 += T[1280 + (w >> 40 & 255)];
        a2 += T[1536 + (w >> 48 & 255)];
        a3 += T[1792 + (w >> 56)];
    }
    for (; g < G; g++, T += 256) a0 += T[p[g]];
    return (uint64_t)a0 + a1 + a2 + a3;
}

static uint64_t rq_scan1(const uint32_t *T8, const uint8_t *pl, size_t G, size_t B)
{
    uint64_t S = 0;
    for (size_t b = 0; b < B; b++) S += rq_plane1(T8, pl + b * G, G) << b;
    return S;
}

/* Codes per block of the AVX2 kernel (one byte per code in a register) and
 * blocks per tile (the codes transposed once per score() call and scanned
 * by every query while in cache). */
#define RQ_BW 32
#define RQ_TILE_BLOCKS 8

/* Transpose up to RQ_BW codes' planes (W = B*G bytes each) into
 * t[w * RQ_BW + j] = byte w of code j; missing codes are zero. */
static void rq_transpose(const uint8_t *codes, size_t cs, size_t off, size_t nc, size_t W,
                         uint8_t *t)
{
    if (nc < RQ_BW) memset(t, 0, W * RQ_BW);
    for (size_t j = 0; j < nc; j++) {
        const uint8_t *c = codes + j * cs + off;
        for (size_t w = 0; w < W; w++) t[w * RQ_BW + j] = c[w];
    }
}

/* AVX2: RQ_BW transposed codes against one table, the 16 nibble entries
 * of a group in both halves of a register and looked up 32 codes at a time
 * (pshufb), as FAISS's PQ/RaBitQ fast scan does. Byte sums go into 16-bit
 * lanes (even and odd codes apart) and are widened to 32 bits every 128
 * bytes, before 2 x 128 bytes of at most 255 could overflow. wide = 0: the
 * high bytes are all zero (1 bit) and are skipped. Planes [b0, B) only;
 * acc: their sums are added to S, else they replace it. */
__attribute__((target("avx2"))) static void rq_scan_avx2(const uint8_t *lut, const uint8_t *t,
                                                         size_t G, size_t b0, size_t B,
                                                         int wide, int acc, uint64_t *S)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    /* 32-bit sums over all planes, plane b shifted by b (at most
     * (2^B - 1) * 2G * 255 < 2^32): [0] even codes 0..14, [1] even 16..30,
     * [2], [3] the odd ones; tl the low bytes of the entries, th the high */
    __m256i tl[4], th[4];
    for (int r = 0; r < 4; r++) tl[r] = th[r] = _mm256_setzero_si256();
    for (size_t b = b0; b < B; b++) { /* planes [b0, B) */
        const __m128i sh = _mm_cvtsi32_si128((int)b);
        for (size_t g0 = 0; g0 < G; g0 += 128) {
            size_t g1 = G - g0 < 128 ? G : g0 + 128;
            /* al, ah: the 16-bit lanes summed whole (even code + 256 x odd
             * code, modulo 2^16); bl, bh: the odd codes' bytes. Even =
             * a - 256 b modulo 2^16, exact while the true sum < 2^16. */
            __m256i al = _mm256_setzero_si256(), bl = al, ah = al, bh = al;
            for (size_t g = g0; g < g1; g++) {
                __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(t + (b * G + g) * RQ_BW));
                __m256i x0 = _mm256_and_si256(c, m4);
                __m256i x1 = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
                const uint8_t *L = lut + 64 * g;
                __m256i l0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)L));
                __m256i l1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(L + 32)));
                __m256i r0 = _mm256_shuffle_epi8(l0, x0), r1 = _mm256_shuffle_epi8(l1, x1);
                al = _mm256_add_epi16(al, _mm256_add_epi16(r0, r1));
                bl = _mm256_add_epi16(bl, _mm256_add_epi16(_mm256_srli_epi16(r0, 8), _mm256_srli_epi16(r1, 8)));
                if (wide) {
                    __m256i h0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(L + 16)));
                    __m256i h1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(L + 48)));
                    __m256i s0 = _mm256_shuffle_epi8(h0, x0), s1 = _mm256_shuffle_epi8(h1, x1);
                    ah = _mm256_add_epi16(ah, _mm256_add_epi16(s0, s1));
                    bh = _mm256_add_epi16(bh, _mm256_add_epi16(_mm256_srli_epi16(s0, 8), _mm256_srli_epi16(s1, 8)));
                }
            }
            const __m256i acc[4] = {_mm256_sub_epi16(al, _mm256_slli_epi16(bl, 8)), bl,
                                    _mm256_sub_epi16(ah, _mm256_slli_epi16(bh, 8)), bh};
            for (int r = 0; r < (wide ? 4 : 2); r++) {
                __m256i lo = _mm256_sll_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(acc[r])), sh);
                __m256i hi = _mm256_sll_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(acc[r], 1)), sh);
                __m256i *dst = r < 2 ? tl : th;
                int e = (r & 1) * 2;
                dst[e] = _mm256_add_epi32(dst[e], lo);
                dst[e + 1] = _mm256_add_epi32(dst[e + 1], hi);
            }
        }
    }
    uint32_t vl[4][8], vh[4][8];
    for (int r = 0; r < 4; r++) {
        _mm256_storeu_si256((__m256i *)(void *)vl[r], tl[r]);
        _mm256_storeu_si256((__m256i *)(void *)vh[r], th[r]);
    }
    for (size_t k = 0; k < 8; k++)
        for (int r = 0; r < 4; r++) {
            size_t j = 2 * k + (size_t)(r & 1) * 16 + (size_t)(r >> 1);
            S[j] = (acc ? S[j] : 0) + (uint64_t)vl[r][k] + ((uint64_t)vh[r][k] << 8);
        }
}

/* AVX-512 (Zen 5 and later Intel cores run zmm shuffles at twice the ymm
 * bytes per cycle): the AVX2 kernel's sums, two groups per register. A
 * transposed block holds group g's 32 bytes right before group g+1's, so one
 * 64-byte load covers both, and the lookup wants g's table in the low 256
 * bits and g+1's in the high ones: rq_lut_pairs lays the tables out so,
 * once per query and tile, since an insert per lookup would cost a shuffle
 * next to the 2-4 shuffles it feeds. An odd G's last pair has a zero table
 * for its missing group (and its codes are not read). Each 16-bit lane still
 * takes two lookups per iteration, so widening every 128 iterations keeps
 * the AVX2 kernel's bound; the halves are widened apart and added in 32
 * bits, so the sums are the same integers and the scores the same bits. */
#define RQ_PAIR 256 /* bytes per pair of groups: nibble lo/hi x entry byte lo/hi */

__attribute__((target("avx2,avx512f,avx512bw"))) static void rq_lut_pairs(const uint8_t *lut,
                                                                          size_t G, uint8_t *out)
{
    static const size_t off[4] = {0, 32, 16, 48}; /* rq_scan_avx2's l0, l1, h0, h1 */
    for (size_t p = 0; 2 * p < G; p++)
        for (int e = 0; e < 4; e++) {
            const uint8_t *a = lut + 128 * p + off[e];
            __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)a));
            __m256i hi = 2 * p + 1 < G
                             ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(a + 64)))
                             : _mm256_setzero_si256();
            _mm512_storeu_si512((void *)(out + RQ_PAIR * p + 64 * (size_t)e),
                                _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
        }
}

/* rq_scan_avx2 on rq_lut_pairs' tables lp; same arguments otherwise. */
__attribute__((target("avx2,avx512f,avx512bw"))) static void rq_scan_avx512(const uint8_t *lp, const uint8_t *t,
                                                                            size_t G, size_t b0, size_t B,
                                                                            int wide, int acc, uint64_t *S)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t P = (G + 1) / 2, full = G / 2;
    /* 32-bit sums, plane b shifted by b: [0] even codes, [1] odd codes */
    __m512i tl[2], th[2];
    for (int r = 0; r < 2; r++) tl[r] = th[r] = _mm512_setzero_si512();
    for (size_t b = b0; b < B; b++) {
        const __m128i sh = _mm_cvtsi32_si128((int)b);
        const uint8_t *tp = t + b * G * RQ_BW;
        for (size_t p0 = 0; p0 < P; p0 += 128) {
            size_t p1 = P - p0 < 128 ? P : p0 + 128;
            __m512i al = _mm512_setzero_si512(), bl = al, ah = al, bh = al;
            for (size_t p = p0; p < p1; p++) {
                const void *cp = tp + 2 * p * RQ_BW;
                __m512i c = p < full ? _mm512_loadu_si512(cp) : _mm512_maskz_loadu_epi8(0xffffffffULL, cp);
                __m512i x0 = _mm512_and_si512(c, m4);
                __m512i x1 = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
                const uint8_t *L = lp + RQ_PAIR * p;
                __m512i r0 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)L), x0);
                __m512i r1 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(L + 64)), x1);
                al = _mm512_add_epi16(al, _mm512_add_epi16(r0, r1));
                bl = _mm512_add_epi16(bl, _mm512_add_epi16(_mm512_srli_epi16(r0, 8), _mm512_srli_epi16(r1, 8)));
                if (wide) {
                    __m512i s0 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(L + 128)), x0);
                    __m512i s1 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(L + 192)), x1);
                    ah = _mm512_add_epi16(ah, _mm512_add_epi16(s0, s1));
                    bh = _mm512_add_epi16(bh, _mm512_add_epi16(_mm512_srli_epi16(s0, 8), _mm512_srli_epi16(s1, 8)));
                }
            }
            const __m512i a4[4] = {_mm512_sub_epi16(al, _mm512_slli_epi16(bl, 8)), bl,
                                   _mm512_sub_epi16(ah, _mm512_slli_epi16(bh, 8)), bh};
            for (int r = 0; r < (wide ? 4 : 2); r++) {
                __m512i lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(a4[r]));
                __m512i hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(a4[r], 1));
                __m512i v = _mm512_sll_epi32(_mm512_add_epi32(lo, hi), sh);
                __m512i *dst = r < 2 ? tl : th;
                dst[r & 1] = _mm512_add_epi32(dst[r & 1], v);
            }
        }
    }
    /* S[2m + r] = lane m of tl[r] + (lane m of th[r] << 8), in 64 bits, even
     * and odd codes interleaved in registers and stored whole: a scalar
     * loop here cost about a tenth of the kernel, and rq_values_avx512's
     * 512-bit loads of S forward only from stores as wide */
    const __m512i ilo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0),
                  ihi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    __m512i w[2][2]; /* [even/odd][lanes 0-7 / 8-15] */
    for (int r = 0; r < 2; r++) {
        __m256i l[2] = {_mm512_castsi512_si256(tl[r]), _mm512_extracti64x4_epi64(tl[r], 1)};
        __m256i h[2] = {_mm512_castsi512_si256(th[r]), _mm512_extracti64x4_epi64(th[r], 1)};
        for (int k = 0; k < 2; k++)
            w[r][k] = _mm512_add_epi64(_mm512_cvtepu32_epi64(l[k]),
                                       _mm512_slli_epi64(_mm512_cvtepu32_epi64(h[k]), 8));
    }
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_permutex2var_epi64(w[0][k >> 1], k & 1 ? ihi : ilo, w[1][k >> 1]);
        if (acc) v = _mm512_add_epi64(v, _mm512_loadu_si512((const void *)(S + 8 * k)));
        _mm512_storeu_si512((void *)(S + 8 * k), v);
    }
}

/* rq_value of nc <= RQ_BW codes for one centroid and no rerank bound, 8 at
 * a time, then the floor's rule (fl NULL: none): the same double
 * operations in the same order as rq_value (no contraction: -std=c11), so
 * the same bits; S < 2^52 converts exactly by the 2^52 exponent trick
 * (rq_all_below_avx2). f0, f1: the codes' mul and add in double. The
 * scalar loop was a fifth of the AVX-512 scan's time on blocks it did not
 * skip. */
__attribute__((target("avx2,avx512f,avx512bw"))) static void
rq_values_avx512(const double *hd, double e0, const double *f0, const double *f1,
                 const uint64_t *S, size_t nc, const float *fl, float low, float *sc)
{
    const __m512i magic = _mm512_set1_epi64(0x4330000000000000LL);
    const __m512d two52 = _mm512_set1_pd(4503599627370496.0), h0 = _mm512_set1_pd(hd[0]),
                  h1 = _mm512_set1_pd(hd[1]), e = _mm512_set1_pd(e0);
    const __m256 fv = _mm256_set1_ps(fl ? *fl : 0.0f), lv = _mm256_set1_ps(low);
    for (size_t j = 0; j < nc; j += 8) {
        __mmask8 m = nc - j >= 8 ? 0xff : (__mmask8)((1u << (nc - j)) - 1);
        __m512i si = _mm512_maskz_loadu_epi64(m, S + j);
        __m512d sd = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(si, magic)), two52);
        __m512d ip = _mm512_add_pd(_mm512_mul_pd(h0, sd), h1);
        __m512d a = _mm512_maskz_loadu_pd(m, f0 + j), c = _mm512_maskz_loadu_pd(m, f1 + j);
        __m256 v = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_add_pd(c, _mm512_mul_pd(a, ip)), e));
        if (fl) v = _mm256_blendv_ps(v, lv, _mm256_cmp_ps(v, fv, _CMP_LT_OQ));
        if (m == 0xff) {
            _mm256_storeu_ps(sc + j, v);
        } else { /* a masked 256-bit store would need AVX512VL */
            float t[8];
            _mm256_storeu_ps(t, v);
            memcpy(sc + j, t, (nc - j) * sizeof(float));
        }
    }
}

/* One block of codes against one table: the AVX-512 kernel when lp holds
 * the table's pairs, else AVX2. */
static void rq_scan_block(const uint8_t *lp, const uint8_t *lut, const uint8_t *t, size_t G,
                          size_t b0, size_t B, int wide, int acc, uint64_t *S)
{
    if (lp) rq_scan_avx512(lp, t, G, b0, B, wide, acc, S);
    else rq_scan_avx2(lut, t, G, b0, B, wide, acc, S);
}

/* <grid indices of code c, rot^T (c_k - c_0)>: the document's share of the
 * table's reference shift to centroid 0, once per code and score() call. */
static double rq_cdiff_dot(const rq_state *s, const uint8_t *c, size_t k)
{
    size_t d = s->base.dim, G = s->G;
    const uint8_t *pl = c + s->plane_off;
    const float *cd = s->cdiff + k * d;
    double a = 0;
    for (size_t t = 0; t < d; t++) {
        unsigned x = 0;
        for (size_t b = 0; b < s->B; b++) x |= (unsigned)(pl[b * G + t / 8] >> (t % 8) & 1) << b;
        a += x * (double)cd[t];
    }
    return a;
}

/* Scores, with S the scan's sum and ip the estimate of <y, q' - c'_k>:
 *   ip = delta S + hd[1] + corr,  corr = cB sum(c'_k - c'_0) - <idx, c'_k - c'_0>
 *   score = add + mul ip + qconst_k (+ eps ||q - c_k|| err).
 * One function for both kernels, so that their scores are the same bits.
 * plain (one centroid): corr is 0 and is not added. */
static inline float rq_value(const double *hd, uint64_t S, int plain, double corr,
                             const float *f, const double *e, double eps)
{
    double ip = hd[0] * (double)S + hd[1];
    if (!plain) ip += corr;
    double v = (double)f[1] + (double)f[0] * ip + e[0];
    if (eps > 0) v += eps * e[1] * (double)f[2];
    return (float)v;
}

/* ---- skipping below a floor (score_floor) --------------------------------
 * A code's score is rq_value of its S = sum_b 2^b S_b, S_b plane b's sum of
 * table entries. After planes [b, B) (the sign plane is B - 1), the unread
 * ones add at most (2^b - 1) * pmax, pmax = sum over the 2G groups of the
 * group's largest entry (rq_plane_max), so S_up = S_read + (2^b - 1) pmax
 * >= S. rq_value is
 * non-decreasing in S when mul = f[0] >= 0 and delta = hd[0] > 0 (each
 * step, a product by a non-negative number, a sum, the rounding to double
 * and to float, is monotone), so rq_value(S_up) >= the score rq_value(S)
 * returns, bit for bit, not up to a rounding: rq_value(S_up) < floor proves
 * score < floor, and the code's other planes are not read. No probability
 * enters (FAISS's skip uses the estimator's high-probability error bound,
 * eps0 ~ 1.9, which may drop a true neighbour; this bound cannot). It is
 * the worst case over the unread bits, about (2^b - 1) sum|q'_i - c'_i|/2
 * above the truth, so it prunes only codes far below the k-th best, and
 * only late: measured with checks after every plane, skips came after the
 * sign plane never at d = 768 (a clustered set, and the 200,000 x 768
 * synthetic corpus of bench/vs_faiss.sh), after 2 of 4 planes on siftsmall,
 * and each check (32 score evaluations) cost more than the planes it
 * spared, so the scan checks once, before the lowest plane. Skipped: on the
 * 200,000 x 768 corpus at 4 bits, k = 10, 89% of (query, code) pairs, a
 * quarter of the planes, ~20% of the scan's CPU time.
 * Written values: any score below the floor, read in full or not, is
 * written as the float just below the floor, so the AVX2 kernel (which
 * skips a block of 32 codes only when all 32 are below) and the portable
 * one (code by code) write the same bits; finite, so that the host's top-k
 * rejects it in its vector compare (-inf would take its slow path, which
 * looks at every non-finite score). */
#ifdef RQ_COUNT_SKIPS /* tests: (query, code) pairs whose lowest plane was not read */
static size_t rq_skipped;
#define RQ_COUNT(pairs) ((void)__atomic_fetch_add(&rq_skipped, (pairs), __ATOMIC_RELAXED))
#else
#define RQ_COUNT(pairs) ((void)0)
#endif

static uint64_t rq_plane_max(const uint8_t *lut, size_t G)
{
    uint64_t m = 0;
    for (size_t g = 0; g < 2 * G; g++) {
        const uint8_t *L = lut + 32 * g;
        uint32_t mx = 0;
        for (unsigned x = 0; x < 16; x++) {
            uint32_t v = (uint32_t)L[x] + ((uint32_t)L[16 + x] << 8);
            if (v > mx) mx = v;
        }
        m += mx;
    }
    return m;
}

/* rq_value(S_up) < fl, which proves the score below fl (see above). */
static inline int rq_below(const double *hd, uint64_t Sup, int plain, double corr,
                           const float *f, const double *e, double eps, float fl)
{
    return f[0] >= 0.0f && rq_value(hd, Sup, plain, corr, f, e, eps) < fl;
}

/* Whether query i's floor may skip anything. */
static int rq_can_skip(const rq_state *s, const double *hd, const float *fl, size_t i)
{
    return fl && s->B > 1 && fl[i] > -INFINITY && hd[0] > 0;
}

/* The portable kernel: per query one T8 table, then the codes in place.
 * fl: floors per query (score_floor), or NULL. */
static int rq_score_portable(const rq_state *s, const void *prepared, size_t nq,
                             const uint8_t *codes, size_t n, const float *fl, float *scores)
{
    size_t K = s->K, cs = s->code_size;
    size_t qsz = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
    size_t hdr = (RQ_QA_HEAD + RQ_QA_PER_K * K) * sizeof(double);
    double cB = ((1u << s->B) - 1) * 0.5, eps = s->p.rerank_bound;
    uint32_t *T8 = malloc(s->G * 256 * sizeof(uint32_t));
    double *corr = K > 1 ? malloc((n ? n : 1) * sizeof(double)) : NULL;
    if (!T8 || (K > 1 && !corr)) {
        free(T8); free(corr);
        return s->base.host->fail(s->base.host, ECB_ENOMEM, "rabitq: out of memory scanning");
    }
    for (size_t j = 0; corr && j < n; j++) {
        const uint8_t *c = codes + j * cs;
        size_t k = rq_cid(s, c);
        corr[j] = k ? cB * s->csum[k] - rq_cdiff_dot(s, c, k) : 0.0;
    }
    for (size_t i = 0; i < nq; i++) {
        const uint8_t *pq = (const uint8_t *)prepared + i * qsz;
        double hd[RQ_QA_HEAD], e[RQ_QA_PER_K];
        memcpy(hd, pq, sizeof hd);
        memcpy(e, pq + hdr - RQ_QA_PER_K * K * sizeof(double), sizeof e);
        rq_build_t8(pq + hdr, s->G, T8);
        int skip = rq_can_skip(s, hd, fl, i);
        uint64_t pmax = skip ? rq_plane_max(pq + hdr, s->G) : 0;
        float low = fl ? nextafterf(fl[i], -INFINITY) : 0.0f;
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * cs;
            float f[3] = {0.0f, 0.0f, 0.0f};
            memcpy(f, c, s->nf * sizeof(float));
            if (K > 1)
                memcpy(e, pq + hdr - RQ_QA_PER_K * (K - rq_cid(s, c)) * sizeof(double), sizeof e);
            double cj = corr ? corr[j] : 0.0;
            if (!skip) {
                uint64_t S = rq_scan1(T8, c + s->plane_off, s->G, s->B);
                sc[j] = rq_value(hd, S, K == 1, cj, f, e, eps);
                if (fl && sc[j] < fl[i]) sc[j] = low;
                continue;
            }
            /* as rq_scan_skip: every plane but the lowest, one check */
            uint64_t S = 0;
            for (size_t b = 1; b < s->B; b++)
                S += rq_plane1(T8, c + s->plane_off + b * s->G, s->G) << b;
            if (rq_below(hd, S + pmax, K == 1, cj, f, e, eps, fl[i])) {
                RQ_COUNT(1);
                sc[j] = low;
                continue;
            }
            S += rq_plane1(T8, c + s->plane_off, s->G);
            sc[j] = rq_value(hd, S, K == 1, cj, f, e, eps);
            if (sc[j] < fl[i]) sc[j] = low;
        }
    }
    free(T8); free(corr);
    return 0;
}

/* rq_value(S[j] + add) <= low for each of the nc codes, 4 at a time, when
 * rq_value is ((f1 + f0 (hd0 S + hd1)) + e0) rounded to float (one
 * centroid, no rerank bound): the same double operations in the same
 * order, so v is rq_value's double bit for bit, and v <= low (a float)
 * makes the float <= low. S + add < 2^52 (a plane's sum is below 2^32,
 * rq_lut_max), converted exactly by the 2^52 exponent trick. f0, f1: the
 * codes' mul and add in double, RQ_BW readable entries. */
__attribute__((target("avx2"))) static int rq_all_below_avx2(const double *hd, double e0,
                                                             const double *f0, const double *f1,
                                                             const uint64_t *S, uint64_t add,
                                                             size_t nc, double low)
{
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL), ad = _mm256_set1_epi64x((long long)add);
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0), h0 = _mm256_set1_pd(hd[0]),
                  h1 = _mm256_set1_pd(hd[1]), e = _mm256_set1_pd(e0), lo = _mm256_set1_pd(low),
                  zero = _mm256_setzero_pd();
    int fails = 0;
    for (size_t j = 0; j < nc; j += 4) {
        /* scalar loads: S was just written by 64-bit stores, which a 256-bit
         * load would wait for (no store forwarding) */
        __m256i si = _mm256_add_epi64(_mm256_set_epi64x((long long)S[j + 3], (long long)S[j + 2],
                                                        (long long)S[j + 1], (long long)S[j]),
                                      ad);
        __m256d sd = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(si, magic)), two52);
        __m256d ip = _mm256_add_pd(_mm256_mul_pd(h0, sd), h1);
        __m256d a = _mm256_loadu_pd(f0 + j), c = _mm256_loadu_pd(f1 + j);
        __m256d v = _mm256_add_pd(_mm256_add_pd(c, _mm256_mul_pd(a, ip)), e);
        __m256d ok = _mm256_and_pd(_mm256_cmp_pd(v, lo, _CMP_LE_OQ), _mm256_cmp_pd(a, zero, _CMP_GE_OQ));
        /* no branch per 4 codes: independent iterations overlap */
        fails |= ~_mm256_movemask_pd(ok) & (nc - j >= 4 ? 0xf : (1 << (nc - j)) - 1);
    }
    return fails == 0;
}

/* What rq_scan_skip needs of a block and its query. */
typedef struct {
    const uint8_t *pq;       /* the prepared query */
    const uint8_t *lp;       /* its table's pairs for rq_scan_avx512, or NULL */
    size_t hdr, nc;          /* its table's offset; codes in the block */
    const float (*f)[3];     /* the codes' floats */
    const double *f0, *f1;   /* and their mul and add in double (fast check) */
    const double *corr;
    const uint8_t *kid;
    float fl, low;           /* the floor and the float below it */
    int fast;                /* one centroid, no rerank bound: rq_all_below_avx2 */
} rq_skipctx;

/* Whether every code of the block has rq_value(S + add) < fl. */
static int rq_block_below(const rq_state *s, const rq_skipctx *x, const uint64_t *S, uint64_t add)
{
    double hd[RQ_QA_HEAD], e[RQ_QA_PER_K];
    memcpy(hd, x->pq, sizeof hd);
    if (x->fast) {
        memcpy(e, x->pq + RQ_QA_HEAD * sizeof(double), sizeof e);
        return rq_all_below_avx2(hd, e[0], x->f0, x->f1, S, add, x->nc, (double)x->low);
    }
    for (size_t jj = 0; jj < x->nc; jj++) {
        memcpy(e, x->pq + (RQ_QA_HEAD + RQ_QA_PER_K * x->kid[jj]) * sizeof(double), sizeof e);
        if (!rq_below(hd, S[jj] + add, s->K == 1, x->corr[jj], x->f[jj], e, s->p.rerank_bound,
                      x->fl))
            return 0;
    }
    return 1;
}

/* One transposed block of codes against one query: every plane but the
 * lowest, then the lowest only when some code's bound, S + pmax, reaches
 * the floor. Returns 1 when the block is skipped, else 0 with the codes'
 * full sums in S. One check, at the last plane: checks after higher planes
 * (bounds of 3, 7, ... pmax) skipped blocks on siftsmall but never at
 * d = 768, and cost more than the planes they spared (each check is 32
 * score evaluations, next to 2G table lookups for a plane). */
static int rq_scan_skip(const rq_state *s, const rq_skipctx *x, const uint8_t *tbl, int wide,
                        uint64_t pmax, uint64_t *S)
{
    rq_scan_block(x->lp, x->pq + x->hdr, tbl, s->G, 1, s->B, wide, 0, S);
    if (rq_block_below(s, x, S, pmax)) {
        RQ_COUNT(x->nc);
        return 1;
    }
    rq_scan_block(x->lp, x->pq + x->hdr, tbl, s->G, 0, 1, wide, 1, S);
    return 0;
}

/* The AVX2 and AVX-512 kernels: tiles of RQ_TILE_BLOCKS blocks of codes,
 * transposed once per call and scanned by every query while in cache. fl: floors per query
 * (score_floor), or NULL. */
static int rq_score_asym(const rq_state *s, const void *prepared, size_t nq,
                         const uint8_t *codes, size_t n, const float *fl, float *scores)
{
    if (!(s->avx2 && nq >= RQ_SIMD_MIN_Q))
        return rq_score_portable(s, prepared, nq, codes, n, fl, scores);
    size_t K = s->K, cs = s->code_size, W = s->B * s->G;
    size_t qsz = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
    size_t hdr = (RQ_QA_HEAD + RQ_QA_PER_K * K) * sizeof(double);
    int wide = rq_lut_max(s) > 255;
    double cB = ((1u << s->B) - 1) * 0.5, eps = s->p.rerank_bound;
    const size_t T = RQ_BW * RQ_TILE_BLOCKS;
    uint8_t *tb = malloc(RQ_TILE_BLOCKS * W * RQ_BW);
    uint8_t *lp = s->avx512 ? malloc((s->G + 1) / 2 * RQ_PAIR) : NULL;
    float(*f)[3] = malloc(T * sizeof *f);
    double *corr = malloc(T * sizeof(double));
    uint8_t *kid = malloc(T);
    uint64_t S[RQ_BW], *pmax = fl ? malloc((nq ? nq : 1) * sizeof *pmax) : NULL;
    /* mul, add in double */
    double *f01 = fl || lp ? calloc(2 * T, sizeof(double)) : NULL;
    if (!tb || !f || !corr || !kid || (fl && !pmax) || ((fl || lp) && !f01) ||
        (s->avx512 && !lp)) {
        free(tb); free(lp); free(f); free(corr); free(kid); free(pmax); free(f01);
        return s->base.host->fail(s->base.host, ECB_ENOMEM, "rabitq: out of memory scanning");
    }
    for (size_t i = 0; fl && i < nq; i++) /* once per query, not per tile */
        pmax[i] = rq_plane_max((const uint8_t *)prepared + i * qsz + hdr, s->G);
    for (size_t j0 = 0; j0 < n; j0 += T) {
        size_t nt = n - j0 < T ? n - j0 : T;
        for (size_t j = 0; j < nt; j++) {
            const uint8_t *c = codes + (j0 + j) * cs;
            f[j][2] = 0.0f;
            memcpy(f[j], c, s->nf * sizeof(float));
            if (f01) {
                f01[j] = f[j][0];
                f01[T + j] = f[j][1];
            }
            size_t k = rq_cid(s, c);
            kid[j] = (uint8_t)k;
            corr[j] = k ? cB * s->csum[k] - rq_cdiff_dot(s, c, k) : 0.0;
        }
        for (size_t bl = 0; bl * RQ_BW < nt; bl++) {
            size_t nc = nt - bl * RQ_BW < RQ_BW ? nt - bl * RQ_BW : RQ_BW;
            rq_transpose(codes + (j0 + bl * RQ_BW) * cs, cs, s->plane_off, nc, W,
                         tb + bl * W * RQ_BW);
        }
        for (size_t i = 0; i < nq; i++) {
            const uint8_t *pq = (const uint8_t *)prepared + i * qsz;
            double hd[RQ_QA_HEAD];
            memcpy(hd, pq, sizeof hd);
            float *sc = scores + i * n + j0;
            int skip = rq_can_skip(s, hd, fl, i);
            int fast = K == 1 && !(eps > 0);
            float low = fl ? nextafterf(fl[i], -INFINITY) : 0.0f;
            if (lp) rq_lut_pairs(pq + hdr, s->G, lp);
            for (size_t bl = 0; bl * RQ_BW < nt; bl++) {
                size_t nc = nt - bl * RQ_BW < RQ_BW ? nt - bl * RQ_BW : RQ_BW;
                const uint8_t *tbl = tb + bl * W * RQ_BW;
                double e[RQ_QA_PER_K];
                if (!skip) {
                    rq_scan_block(lp, pq + hdr, tbl, s->G, 0, s->B, wide, 0, S);
                } else if (rq_scan_skip(s, &(rq_skipctx){pq, lp, hdr, nc, (const float(*)[3])f + bl * RQ_BW,
                                                         f01 + bl * RQ_BW, f01 + T + bl * RQ_BW,
                                                         corr + bl * RQ_BW, kid + bl * RQ_BW,
                                                         fl[i], low, fast},
                                        tbl, wide, pmax[i], S)) {
                    for (size_t jj = 0; jj < nc; jj++) sc[bl * RQ_BW + jj] = low;
                    continue;
                }
                if (lp && fast) {
                    memcpy(e, pq + RQ_QA_HEAD * sizeof(double), sizeof e);
                    rq_values_avx512(hd, e[0], f01 + bl * RQ_BW, f01 + T + bl * RQ_BW, S, nc,
                                     fl ? fl + i : NULL, low, sc + bl * RQ_BW);
                    continue;
                }
                for (size_t jj = 0; jj < nc; jj++) {
                    size_t j = bl * RQ_BW + jj;
                    memcpy(e, pq + (RQ_QA_HEAD + RQ_QA_PER_K * kid[j]) * sizeof(double), sizeof e);
                    sc[j] = rq_value(hd, S[jj], K == 1, corr[j], f[j], e, eps);
                    if (fl && sc[j] < fl[i]) sc[j] = low;
                }
            }
        }
    }
    free(tb); free(lp); free(f); free(corr); free(kid); free(pmax); free(f01);
    return 0;
}

static inline uint64_t rq_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* popcount(a & b) over G bytes. */
static inline __attribute__((always_inline)) unsigned rq_popand(const uint8_t *a,
                                                                const uint8_t *b, size_t G)
{
    unsigned c = 0;
    size_t g = 0;
    for (; g + 8 <= G; g += 8) c += (unsigned)__builtin_popcountll(rq_load64(a + g) & rq_load64(b + g));
    for (; g < G; g++) c += (unsigned)__builtin_popcount((unsigned)(a[g] & b[g]));
    return c;
}

/* popcount(a ^ b) over G bytes (padding bits are 0 on both sides). */
static inline __attribute__((always_inline)) unsigned rq_popxor(const uint8_t *a,
                                                                const uint8_t *b, size_t G)
{
    unsigned c = 0;
    size_t g = 0;
    for (; g + 8 <= G; g += 8) c += (unsigned)__builtin_popcountll(rq_load64(a + g) ^ rq_load64(b + g));
    for (; g < G; g++) c += (unsigned)__builtin_popcount((unsigned)(a[g] ^ b[g]));
    return c;
}

static inline __attribute__((always_inline)) void
rq_score_sym_body(const rq_state *s, const uint8_t *prepared, size_t nq, const uint8_t *codes,
                  size_t n, float *scores)
{
    size_t d = s->base.dim, G = s->G, B = s->B, cs = s->code_size;
    size_t st = rq_qs_stride(s), qsz = s->K * st;
    double cB = ((1u << B) - 1) * 0.5;
    for (size_t i = 0; i < nq; i++) {
        const uint8_t *pq = prepared + i * qsz;
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * cs;
            float f[2], qh[RQ_QS_HEAD];
            memcpy(f, c, sizeof f);
            const uint8_t *e = pq + rq_cid(s, c) * st;
            memcpy(qh, e, sizeof qh);
            const uint8_t *qp = e + sizeof qh, *xp = c + s->plane_off;
            if (B == 1) {
                /* y in {+-1/2}^d: <y_x,y_q> = (d - 2 ham) / 4 */
                unsigned ham = rq_popxor(xp, qp, G);
                double yy = 0.25 * ((double)d - 2.0 * ham);
                sc[j] = (float)(f[1] + (double)f[0] * qh[0] * yy + qh[1]);
                continue;
            }
            uint64_t dot = 0, sumx = 0;
            for (size_t a = 0; a < B; a++) {
                sumx += (uint64_t)rq_popand(xp + a * G, xp + a * G, G) << a;
                for (size_t b = 0; b < B; b++)
                    dot += (uint64_t)rq_popand(xp + a * G, qp + b * G, G) << (a + b);
            }
            double yy = (double)dot - cB * ((double)sumx + qh[2]) + (double)d * cB * cB;
            sc[j] = (float)(f[1] + (double)f[0] * qh[0] * yy + qh[1]);
        }
    }
}

__attribute__((target("popcnt"))) static void
rq_score_sym_popcnt(const rq_state *s, const uint8_t *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    rq_score_sym_body(s, prepared, nq, codes, n, scores);
}

static void rq_score_sym_generic(const rq_state *s, const uint8_t *prepared, size_t nq,
                                 const uint8_t *codes, size_t n, float *scores)
{
    rq_score_sym_body(s, prepared, nq, codes, n, scores);
}

static int rq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    const rq_state *s = (const rq_state *)m;
    if (mode == ECB_MODE_ASYMMETRIC) return rq_score_asym(s, prepared, nq, codes, n, NULL, scores);
    if (ecb_cpu()->popcnt)
        rq_score_sym_popcnt(s, prepared, nq, codes, n, scores);
    else
        rq_score_sym_generic(s, prepared, nq, codes, n, scores);
    return 0;
}

/* score() with floors: the asymmetric multi-bit scan skips the lower planes
 * of codes whose bound is below the floor; 1 bit and symmetric mode have
 * nothing to skip and return score()'s values. */
static int rq_score_floor(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                          const uint8_t *codes, size_t n, const float *floor, float *scores)
{
    const rq_state *s = (const rq_state *)m;
    if (mode == ECB_MODE_ASYMMETRIC && s->B > 1)
        return rq_score_asym(s, prepared, nq, codes, n, floor, scores);
    return rq_score(m, mode, prepared, nq, codes, n, scores);
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const rabitq_size_params[] = {"bits", NULL};

static const ecb_method_vtable rq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "rabitq",
    .summary = "RaBitQ: centroid + random rotation + 1..8-bit grid codes, unbiased estimator",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = rabitq_params_table,
    .params_size = sizeof(struct rabitq_params),
    .create = rq_create,
    .destroy = rq_destroy,
    .train = rq_train,
    .code_size = rq_code_size,
    .aux_bytes = rq_aux_bytes,
    .encode = rq_encode,
    .query_size = rq_query_size,
    .prepare = rq_prepare,
    .score = rq_score,
    .size_params = rabitq_size_params,
    .score_floor = rq_score_floor,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_rabitq(void) { return &rq_vtable; }
