/*
 * k-means (Lloyd) for every codebook method: k-means++ (Arthur and
 * Vassilvitskii 2007) or random init, assignment (kmeans_assign.c) by
 * argmin_j ||c_j||^2 - 2 x.c_j, centroid update in double, empty clusters
 * repaired by splitting the largest one with a small symmetric perturbation
 * (as FAISS's Clustering does).
 *
 * Determinism: for a given seed the output is bit-for-bit identical on any
 * machine and for any thread count: the portable kernels round as the AVX2
 * and AVX-512 ones do (fmaf where those use FMA), which a test checks under
 * ECBENCH_CPU=generic. (Above ECB_KM_DIRECT_MAX_D the assignment rides on
 * OpenBLAS's sgemm, whose rounding is that of the kernel OpenBLAS picks for
 * the CPU; see kmeans_assign.c.)
 *
 * What the codebook methods share on top of k-means lives next to it:
 * packed codes and lookup-table scans (codes.c), the product-quantizer
 * engine (pq.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ecbench/ecbmath.h"

#if defined(__x86_64__) || defined(__i386__)
#define ECB_KM_X86 1
#endif

/* k-means++ keeps a transposed copy of the points for its AVX2 distance
 * kernel up to this dimension (the PQ sub-spaces). */
#define ECB_KM_DIRECT_MAX_D 32

/* Relative size of the perturbation that splits a cluster (FAISS: 1/1024). */
#define ECB_KM_SPLIT_EPS (1.0 / 1024.0)

/* ---- initialisation ---------------------------------------------------------- */

static double sqdist(const float *a, const float *b, size_t d)
{
    /* float accumulation in 8 partial sums (vectorisable), then double: the
     * D^2 weights need no more precision than that. */
    float acc[8] = {0};
    size_t t = 0;
    for (; t + 8 <= d; t += 8)
        for (size_t l = 0; l < 8; l++) {
            float v = a[t + l] - b[t + l];
            acc[l] += v * v;
        }
    double s = 0;
    for (; t < d; t++) s += (double)(a[t] - b[t]) * (a[t] - b[t]);
    for (size_t l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* D^2 sampling state: D[i] = squared distance of point i to its nearest
 * chosen centroid, with per-block (8 points) sums so that drawing the next
 * centroid walks n/8 block sums and then 8 points instead of n points. */
typedef struct {
    float *D;
    double *bsum;
    size_t nblk;
} pp_state;

/* Update D with the new centroid c; returns the new total. Portable. For
 * small d the distance is one fmaf chain, as in the AVX2 kernel's lanes, so
 * that both give the same bits. */
static double pp_update_portable(const float *x, size_t n, size_t d, const float *c,
                                 pp_state *st)
{
    double total = 0;
    for (size_t b = 0; b < st->nblk; b++) {
        size_t i1 = (b + 1) * 8 < n ? (b + 1) * 8 : n;
        double bs = 0;
        for (size_t i = b * 8; i < i1; i++) {
            float v = 0.0f;
            if (d <= ECB_KM_DIRECT_MAX_D) {
                const float *xi = x + i * d;
                for (size_t t = 0; t < d; t++) v = fmaf(xi[t] - c[t], xi[t] - c[t], v);
            } else {
                v = (float)sqdist(x + i * d, c, d);
            }
            if (v < st->D[i]) st->D[i] = v;
            bs += st->D[i];
        }
        st->bsum[b] = bs;
        total += bs;
    }
    return total;
}

#ifdef ECB_KM_X86
/* Same on a copy of the points transposed in blocks of 8 (xt[b][t][lane]),
 * for small d: eight distances per FMA chain. */
__attribute__((target("avx2,fma"))) static double pp_update_avx2(const float *xt, size_t n,
                                                                  size_t d, const float *c,
                                                                  pp_state *st)
{
    double total = 0;
    float dv[8] __attribute__((aligned(32)));
    for (size_t b = 0; b < st->nblk; b++) {
        const float *xb = xt + b * d * 8;
        __m256 acc = _mm256_setzero_ps();
        for (size_t t = 0; t < d; t++) {
            __m256 e = _mm256_sub_ps(_mm256_load_ps(xb + t * 8), _mm256_broadcast_ss(c + t));
            acc = _mm256_fmadd_ps(e, e, acc);
        }
        _mm256_store_ps(dv, acc);
        size_t nb = n - b * 8 < 8 ? n - b * 8 : 8;
        double bs = 0;
        float *D = st->D + b * 8;
        for (size_t l = 0; l < nb; l++) {
            if (dv[l] < D[l]) D[l] = dv[l];
            bs += D[l];
        }
        st->bsum[b] = bs;
        total += bs;
    }
    return total;
}
#endif

static int init_plusplus(ecb_rng *rng, const float *x, size_t n, size_t d, size_t k, float *c)
{
    pp_state st;
    st.nblk = (n + 7) / 8;
    st.D = malloc(n * sizeof *st.D);
    st.bsum = malloc(st.nblk * sizeof *st.bsum);
    float *xt = NULL;
#ifdef ECB_KM_X86
    if (d <= ECB_KM_DIRECT_MAX_D && ecb_cpu()->avx2 && ecb_cpu()->fma) {
        xt = aligned_alloc(32, (st.nblk * d * 8 * sizeof *xt + 31) & ~(size_t)31);
        if (!xt) goto nomem;
        for (size_t b = 0; b < st.nblk; b++)
            for (size_t l = 0; l < 8; l++) {
                size_t i = b * 8 + l < n ? b * 8 + l : n - 1;
                for (size_t t = 0; t < d; t++) xt[(b * d + t) * 8 + l] = x[i * d + t];
            }
    }
#endif
    if (!st.D || !st.bsum) goto nomem;
    for (size_t i = 0; i < n; i++) st.D[i] = INFINITY;
    for (size_t j = 0; j < k; j++) {
        size_t pick;
        double total = 0;
        if (j > 0)
            for (size_t b = 0; b < st.nblk; b++) total += st.bsum[b];
        if (!(total > 0) || !isfinite(total)) {
            /* First centroid, or every point coincides with a chosen one: a
             * uniform draw is as good; empty clusters are repaired later. */
            pick = ecb_rng_below(rng, n);
        } else {
            double r = ecb_rng_uniform(rng) * total, acc = 0;
            size_t b = 0;
            for (; b + 1 < st.nblk; b++) {
                if (acc + st.bsum[b] > r) break;
                acc += st.bsum[b];
            }
            size_t i1 = (b + 1) * 8 < n ? (b + 1) * 8 : n;
            pick = SIZE_MAX;
            for (size_t i = b * 8; i < i1; i++) {
                if (!(st.D[i] > 0)) continue;
                pick = i; /* the last positive one if rounding overshoots */
                acc += st.D[i];
                if (acc > r) break;
            }
            if (pick == SIZE_MAX) /* rounding put r in a block of zeros */
                for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
                    if (st.D[i] > 0) pick = i;
            if (pick == SIZE_MAX) pick = ecb_rng_below(rng, n);
        }
        float *cj = c + j * d;
        memcpy(cj, x + pick * d, d * sizeof *cj);
        if (j + 1 == k) break;
#ifdef ECB_KM_X86
        if (xt) {
            pp_update_avx2(xt, n, d, cj, &st);
            continue;
        }
#endif
        pp_update_portable(x, n, d, cj, &st);
    }
    free(xt);
    free(st.D);
    free(st.bsum);
    return 0;
nomem:
    free(xt);
    free(st.D);
    free(st.bsum);
    return ECB_ENOMEM;
}

static int init_random(ecb_rng *rng, const float *x, size_t n, size_t d, size_t k, float *c)
{
    size_t *idx = malloc(k * sizeof *idx);
    if (!idx) return ECB_ENOMEM;
    ecb_rng_sample(rng, n, k, idx);
    for (size_t j = 0; j < k; j++) memcpy(c + j * d, x + idx[j] * d, d * sizeof *c);
    free(idx);
    return 0;
}

/* ---- update and repair ------------------------------------------------------------ */

/* New centroids: per cluster the sum (double) of its points in point order,
 * over its count. Threaded by ranges of clusters, each task reading every
 * assignment and adding only its own clusters' points, so the sums are
 * those of one pass over the points whatever the thread count. */
typedef struct {
    const float *x;
    size_t n, d, k, per;
    const uint32_t *asg;
    size_t *count;
    double *sum;
    float *c;
} upd_job;

/* Adds the points of clusters [lo, hi) to their sums, in point order;
 * ADD_ROW(s, xi) adds the d floats xi to the d doubles s. */
#define ECB_KM_ACCUMULATE(ADD_ROW)                                             \
    for (size_t i = 0; i < j->n; i++) {                                        \
        uint32_t a = j->asg[i];                                                \
        if (a < lo || a >= hi) continue;                                       \
        j->count[a]++;                                                         \
        double *s = j->sum + (size_t)a * d;                                    \
        const float *xi = j->x + i * d;                                        \
        ADD_ROW;                                                               \
    }

static void accumulate_portable(const upd_job *j, size_t lo, size_t hi)
{
    const size_t d = j->d;
    ECB_KM_ACCUMULATE(for (size_t t = 0; t < d; t++) s[t] += xi[t])
}

#ifdef ECB_KM_X86
/* The same additions eight coordinates at a time: each sum still receives
 * its points in point order, one correctly rounded double add each, so the
 * bits are those of the portable loop (which the compiler, not knowing that
 * s and xi never overlap, leaves mostly scalar). */
__attribute__((target("avx512f"))) static inline void add_row_avx512(double *s, const float *xi,
                                                                      size_t d, __mmask8 tail)
{
    size_t t = 0;
    for (; t + 8 <= d; t += 8)
        _mm512_storeu_pd(s + t, _mm512_add_pd(_mm512_loadu_pd(s + t),
                                              _mm512_cvtps_pd(_mm256_loadu_ps(xi + t))));
    if (tail) {
        __m512d v = _mm512_cvtps_pd(
            _mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)tail, xi + t)));
        _mm512_mask_storeu_pd(s + t, tail, _mm512_add_pd(_mm512_maskz_loadu_pd(tail, s + t), v));
    }
}

__attribute__((target("avx512f"))) static void accumulate_avx512(const upd_job *j, size_t lo,
                                                                  size_t hi)
{
    const size_t d = j->d;
    const __mmask8 tail = (__mmask8)((1u << (d % 8)) - 1);
    ECB_KM_ACCUMULATE(add_row_avx512(s, xi, d, tail))
}
#endif
#undef ECB_KM_ACCUMULATE

static int update_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    const upd_job *j = arg;
    const size_t d = j->d, lo = task * j->per, hi = lo + j->per < j->k ? lo + j->per : j->k;
    memset(j->count + lo, 0, (hi - lo) * sizeof *j->count);
    memset(j->sum + lo * d, 0, (hi - lo) * d * sizeof *j->sum);
#ifdef ECB_KM_X86
    if (ecb_cpu()->avx512f)
        accumulate_avx512(j, lo, hi);
    else
#endif
        accumulate_portable(j, lo, hi);
    for (size_t c = lo; c < hi; c++) {
        if (!j->count[c]) continue; /* keeps its old position until repaired */
        double inv = 1.0 / (double)j->count[c];
        for (size_t t = 0; t < d; t++) j->c[c * d + t] = (float)(j->sum[c * d + t] * inv);
    }
    return 0;
}

static int update_centroids(const float *x, size_t n, size_t d, size_t k, const uint32_t *asg,
                            size_t *count, double *sum, float *c, size_t threads)
{
    /* One task per thread: each task reads all n assignments. */
    size_t tasks = threads < k ? threads : k;
    upd_job j = {.x = x, .n = n, .d = d, .k = k, .per = (k + tasks - 1) / tasks, .asg = asg,
                 .count = count, .sum = sum, .c = c};
    return ecb_parallel_for((k + j.per - 1) / j.per, threads, update_task, &j);
}

/* Give each empty cluster half of the largest cluster: copy its centroid and
 * push the two copies apart symmetrically, so the next assignment splits the
 * points between them. Returns the number of clusters repaired. */
static size_t repair_empty(size_t k, size_t d, size_t *count, float *c)
{
    size_t repaired = 0;
    for (size_t e = 0; e < k; e++) {
        if (count[e]) continue;
        size_t big = 0;
        for (size_t j = 1; j < k; j++)
            if (count[j] > count[big]) big = j;
        if (count[big] < 2) break; /* nothing left to split */
        float *ce = c + e * d, *cb = c + big * d;
        double rms = 0;
        for (size_t t = 0; t < d; t++) rms += (double)cb[t] * cb[t];
        rms = sqrt(rms / (double)d);
        for (size_t t = 0; t < d; t++) {
            /* Relative to the coordinate, with a floor so that a zero
             * coordinate (or a zero centroid) still separates. */
            double mag = fabs(cb[t]) > 0 ? fabs(cb[t]) : (rms > 0 ? rms : 1.0);
            double delta = ECB_KM_SPLIT_EPS * mag * ((t & 1) ? -1.0 : 1.0);
            float base = cb[t];
            ce[t] = (float)(base + delta);
            cb[t] = (float)(base - delta);
        }
        count[e] = count[big] / 2;
        count[big] -= count[e];
        repaired++;
    }
    return repaired;
}

/* ---- the driver --------------------------------------------------------------------- */

int ecb_kmeans(const ecb_kmeans_opts *opts, const float *x, size_t n, size_t d,
               float *centroids, uint32_t *assign, double *objective)
{
    if (!opts || !x || !centroids || d == 0) return ECB_EINVAL;
    const size_t k = opts->k;
    if (k == 0 || k > n || k > UINT32_MAX) return ECB_EINVAL;
    if (k > SIZE_MAX / sizeof(double) / d || n > SIZE_MAX / sizeof(float) / d) return ECB_ERANGE;
    size_t threads = opts->threads ? opts->threads : 1;

    int rc = ECB_ENOMEM;
    uint32_t *asg = assign ? assign : malloc(n * sizeof *asg);
    float *dist = malloc(n * sizeof *dist);
    size_t *count = malloc(k * sizeof *count);
    double *sum = malloc(k * d * sizeof *sum);
    if (!asg || !dist || !count || !sum) goto out;

    ecb_rng rng;
    ecb_rng_seed2(&rng, opts->seed, 0x6b6d65616e73ull /* "kmeans" */);
    if (opts->init == ECB_KMEANS_PLUSPLUS) rc = init_plusplus(&rng, x, n, d, k, centroids);
    else if (opts->init == ECB_KMEANS_RANDOM) rc = init_random(&rng, x, n, d, k, centroids);
    else if (opts->init == ECB_KMEANS_GIVEN) rc = 0;
    else rc = ECB_EINVAL;
    if (rc) goto out;

    double prev = INFINITY, obj = 0;
    for (size_t it = 0; it < opts->iters; it++) {
        /* Without a tolerance the objective is never read: no distances. */
        int use_tol = opts->tol > 0;
        if ((rc = ecb_kmeans_assign_mt(x, n, d, centroids, k, asg, use_tol ? dist : NULL,
                                       threads)) != 0)
            goto out;
        obj = 0;
        if (use_tol)
            for (size_t i = 0; i < n; i++) obj += dist[i];
        int converged = use_tol && it > 0 && prev - obj <= opts->tol * prev;
        if ((rc = update_centroids(x, n, d, k, asg, count, sum, centroids, threads)) != 0)
            goto out;
        repair_empty(k, d, count, centroids);
        prev = obj;
        if (converged) break;
    }
    /* Lloyd's loop ends with an update, so the assignment it last computed
     * belongs to the previous centroids. Callers that want the assignment
     * or objective get a fresh pass (FAISS reports the stale objective). */
    if (assign || objective) {
        if ((rc = ecb_kmeans_assign_mt(x, n, d, centroids, k, asg, dist, threads)) != 0)
            goto out;
        if (objective) {
            obj = 0;
            for (size_t i = 0; i < n; i++) obj += dist[i];
            *objective = obj;
        }
    }
    for (size_t i = 0; i < k * d; i++)
        if (!isfinite(centroids[i])) { rc = ECB_ENUMERIC; goto out; }
    rc = 0;
out:
    if (asg != assign) free(asg);
    free(dist);
    free(count);
    free(sum);
    return rc;
}
