/*
 * k-means (Lloyd) for every codebook method: k-means++ (Arthur and
 * Vassilvitskii 2007) or random init, assignment by
 * argmin_j ||c_j||^2 - 2 x.c_j, centroid update in double, empty clusters
 * repaired by splitting the largest one with a small symmetric perturbation
 * (as FAISS's Clustering does).
 *
 * Assignment is the cost that matters. Two kernels:
 *  - small d (<= ECB_KM_DIRECT_MAX_D, the PQ sub-spaces): a direct kernel
 *    that holds 8 points in the lanes of an AVX2 register and streams the
 *    centroids through FMAs, keeping the running minimum and its index in
 *    registers. An sgemm with an inner dimension of 4..32 runs far below
 *    peak and then needs a second pass over the n x k product for argmin;
 *    this kernel needs neither. Chosen at run time (portable C otherwise).
 *  - larger d: blocked sgemm (256 points x 1024 centroids per tile, so the
 *    scratch is bounded at 1 MiB per thread) followed by a row argmin.
 * Points are split into a fixed grid of tasks run by ecb_parallel_for, so
 * results do not depend on the thread count (each point's argmin is
 * computed the same way).
 *
 * Determinism: for a given seed the output is bit-for-bit identical on any
 * machine: the portable kernels round as the AVX2 ones do (fmaf where those
 * use FMA), which a test checks under ECBENCH_CPU=generic.
 *
 * The rest of the file is what the codebook methods (pq, opq, rq, kmeans)
 * share on top of k-means, kept here so that each plugin stays one file:
 * packed code layout, lookup-table (ADC) scans specialised for 8- and 4-bit
 * codes, and the product-quantizer engine (train per
 * sub-space, encode, decode, query tables).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECB_KM_X86 1
#endif

#include "ecbench/ecbmath.h"

enum {
    ECB_KM_DIRECT_MAX_D = 32,
    ECB_KM_BLOCK_POINTS = 256,
    ECB_KM_BLOCK_CENTROIDS = 1024,
    /* points per task of a pass: a multiple of 8 and of the block size;
     * below this a thread costs more than it saves */
    ECB_KM_TASK_POINTS = 2048,
};

/* Relative size of the perturbation that splits a cluster (FAISS: 1/1024). */
#define ECB_KM_SPLIT_EPS (1.0 / 1024.0)

/* Everything an assignment pass needs, shared read-only by the workers. */
typedef struct {
    const float *x;
    size_t n, d;
    const float *c;   /* k x d centroids */
    const float *m2c; /* k x d, -2 * centroids (direct kernel) */
    const float *cn;  /* k squared norms */
    size_t k;
    uint32_t *assign;
    float *dist; /* may be NULL */
    int use_avx2;
} assign_job;


/* ---- direct kernel ------------------------------------------------------- */

static void direct_portable(const assign_job *j, size_t i0, size_t i1, float *bestv)
{
    const size_t d = j->d, k = j->k;
    for (size_t i = i0; i < i1; i++) {
        const float *x = j->x + i * d;
        float best = INFINITY;
        uint32_t arg = 0;
        for (size_t c = 0; c < k; c++) {
            const float *mc = j->m2c + c * d;
            float v = j->cn[c];
            /* fmaf: the AVX2 kernel's rounding, so both give the same bits */
            for (size_t t = 0; t < d; t++) v = fmaf(x[t], mc[t], v);
            if (v < best) { best = v; arg = (uint32_t)c; }
        }
        j->assign[i] = arg;
        bestv[i - i0] = best;
    }
}

#ifdef ECB_KM_X86
/* One step of the running argmin: strict '<' in centroid order, so ties go to
 * the lowest index as in the portable kernel. min_ps(a, m) returns m on
 * equality, matching the mask. */
#define ECB_KM_UPDATE(acc, jj)                                                \
    do {                                                                      \
        __m256 lt_ = _mm256_cmp_ps((acc), minv, _CMP_LT_OQ);                  \
        minv = _mm256_min_ps((acc), minv);                                    \
        mini = _mm256_blendv_ps(mini, _mm256_castsi256_ps(_mm256_set1_epi32((int)(jj))), \
                                lt_);                                         \
    } while (0)

__attribute__((target("avx2,fma"))) static void direct_avx2(const assign_job *j, size_t i0,
                                                             size_t i1, float *bestv)
{
    const size_t d = j->d, k = j->k;
    float xt[ECB_KM_DIRECT_MAX_D * 8] __attribute__((aligned(32)));
    float vout[8] __attribute__((aligned(32)));
    int32_t iout[8] __attribute__((aligned(32)));
    for (size_t b = i0; b < i1; b += 8) {
        size_t nb = i1 - b < 8 ? i1 - b : 8;
        /* Transpose 8 points so that lane l holds point b+l. */
        for (size_t l = 0; l < 8; l++) {
            const float *x = j->x + (b + (l < nb ? l : 0)) * d;
            for (size_t t = 0; t < d; t++) xt[t * 8 + l] = x[t];
        }
        __m256 minv = _mm256_set1_ps(INFINITY);
        __m256 mini = _mm256_setzero_ps();
        size_t c = 0;
        /* Four centroids at a time: four independent FMA chains hide the
         * FMA latency, and each transposed row of points is loaded once. */
        for (; c + 4 <= k; c += 4) {
            const float *m0 = j->m2c + c * d, *m1 = m0 + d, *m2 = m1 + d, *m3 = m2 + d;
            __m256 a0 = _mm256_set1_ps(j->cn[c]), a1 = _mm256_set1_ps(j->cn[c + 1]);
            __m256 a2 = _mm256_set1_ps(j->cn[c + 2]), a3 = _mm256_set1_ps(j->cn[c + 3]);
            for (size_t t = 0; t < d; t++) {
                __m256 xv = _mm256_load_ps(xt + t * 8);
                a0 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss(m0 + t), a0);
                a1 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss(m1 + t), a1);
                a2 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss(m2 + t), a2);
                a3 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss(m3 + t), a3);
            }
            ECB_KM_UPDATE(a0, c);
            ECB_KM_UPDATE(a1, c + 1);
            ECB_KM_UPDATE(a2, c + 2);
            ECB_KM_UPDATE(a3, c + 3);
        }
        for (; c < k; c++) {
            const float *m0 = j->m2c + c * d;
            __m256 a0 = _mm256_set1_ps(j->cn[c]);
            for (size_t t = 0; t < d; t++)
                a0 = _mm256_fmadd_ps(_mm256_load_ps(xt + t * 8), _mm256_broadcast_ss(m0 + t), a0);
            ECB_KM_UPDATE(a0, c);
        }
        _mm256_store_ps(vout, minv);
        _mm256_store_si256((__m256i *)iout, _mm256_castps_si256(mini));
        for (size_t l = 0; l < nb; l++) {
            j->assign[b + l] = (uint32_t)iout[l];
            bestv[b + l - i0] = vout[l];
        }
    }
}
#undef ECB_KM_UPDATE
#endif

/* ---- sgemm kernel ---------------------------------------------------------- */

/* Running argmin of row[c] + cn[c] over one tile, starting from (*best,
 * *arg); strict '<' in index order, so the first minimum wins. */
static void argmin_portable(const float *row, const float *cn, size_t nc, size_t c0,
                            float *best, uint32_t *arg)
{
    float b = *best;
    uint32_t a = *arg;
    for (size_t c = 0; c < nc; c++) {
        float v = row[c] + cn[c];
        if (v < b) { b = v; a = (uint32_t)(c0 + c); }
    }
    *best = b;
    *arg = a;
}

#ifdef ECB_KM_X86
__attribute__((target("avx2,fma"))) static void argmin_avx2(const float *row, const float *cn,
                                                             size_t nc, size_t c0, float *best,
                                                             uint32_t *arg)
{
    /* Eight lanes each keep the first minimum of their residue class; the
     * final reduction takes the smallest value and, among equal values, the
     * smallest index, which is the first minimum overall. */
    __m256 minv = _mm256_set1_ps(INFINITY);
    __m256i mini = _mm256_setzero_si256();
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i eight = _mm256_set1_epi32(8);
    size_t c = 0;
    for (; c + 8 <= nc; c += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(cn + c));
        __m256 lt = _mm256_cmp_ps(v, minv, _CMP_LT_OQ);
        minv = _mm256_min_ps(v, minv);
        mini = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(mini), _mm256_castsi256_ps(idx), lt));
        idx = _mm256_add_epi32(idx, eight);
    }
    float vv[8];
    int32_t ii[8];
    _mm256_storeu_ps(vv, minv);
    _mm256_storeu_si256((__m256i *)ii, mini);
    float b = *best;
    uint32_t a = *arg;
    /* Candidates from this tile have indices above *arg from earlier tiles,
     * so they win only when strictly smaller. */
    float tb = INFINITY;
    uint32_t ta = 0;
    for (int l = 0; l < 8; l++)
        if (vv[l] < tb || (vv[l] == tb && (uint32_t)ii[l] < ta)) { tb = vv[l]; ta = (uint32_t)ii[l]; }
    for (; c < nc; c++) {
        float v = row[c] + cn[c];
        if (v < tb) { tb = v; ta = (uint32_t)c; }
    }
    if (tb < b) { b = tb; a = (uint32_t)(c0 + ta); }
    *best = b;
    *arg = a;
}
#endif

static int gemm_range(const assign_job *j, size_t i0, size_t i1, float *bestv, float *buf)
{
    const size_t d = j->d, k = j->k;
    const size_t kt = k < ECB_KM_BLOCK_CENTROIDS ? k : ECB_KM_BLOCK_CENTROIDS;
    for (size_t b = i0; b < i1; b += ECB_KM_BLOCK_POINTS) {
        size_t nb = i1 - b < ECB_KM_BLOCK_POINTS ? i1 - b : ECB_KM_BLOCK_POINTS;
        for (size_t r = 0; r < nb; r++) {
            bestv[b - i0 + r] = INFINITY;
            j->assign[b + r] = 0;
        }
        for (size_t c0 = 0; c0 < k; c0 += kt) {
            size_t nc = k - c0 < kt ? k - c0 : kt;
            int rc = ecb_gemm_nt(nb, nc, d, -2.0f, j->x + b * d, d, j->c + c0 * d, d, 0.0f, buf,
                                 nc);
            if (rc) return rc;
            for (size_t r = 0; r < nb; r++) {
#ifdef ECB_KM_X86
                if (j->use_avx2) {
                    argmin_avx2(buf + r * nc, j->cn + c0, nc, c0, &bestv[b - i0 + r],
                                &j->assign[b + r]);
                    continue;
                }
#endif
                argmin_portable(buf + r * nc, j->cn + c0, nc, c0, &bestv[b - i0 + r],
                                &j->assign[b + r]);
            }
        }
    }
    return 0;
}

/* Per-worker scratch of an assignment pass: the best values of one task's
 * points and, for the sgemm kernel, one tile of products. */
typedef struct {
    const assign_job *job;
    float *scratch; /* workers x (ECB_KM_TASK_POINTS + tile) floats */
    size_t per_worker;
} assign_pass;

/* Task t of ecb_parallel_for: points [t * ECB_KM_TASK_POINTS, ...). The task
 * grid is fixed and a multiple of the direct kernel's 8 lanes and of the
 * sgemm kernel's point blocks, so every point's argmin comes from the same
 * kernel call shape whatever the thread count (and the same as one thread
 * over all points). */
static int assign_task(void *arg, size_t task, size_t worker)
{
    const assign_pass *p = arg;
    const assign_job *j = p->job;
    size_t i0 = task * ECB_KM_TASK_POINTS;
    size_t i1 = j->n - i0 < ECB_KM_TASK_POINTS ? j->n : i0 + ECB_KM_TASK_POINTS;
    float *bestv = p->scratch + worker * p->per_worker;
    if (j->d <= ECB_KM_DIRECT_MAX_D) {
#ifdef ECB_KM_X86
        if (j->use_avx2)
            direct_avx2(j, i0, i1, bestv);
        else
#endif
            direct_portable(j, i0, i1, bestv);
    } else {
        int rc = gemm_range(j, i0, i1, bestv, bestv + ECB_KM_TASK_POINTS);
        if (rc) return rc;
    }
    if (j->dist) {
        /* Distances from the same expansion the argmin used, plus ||x||^2,
         * clamped: cancellation can leave tiny negatives. */
        for (size_t i = i0; i < i1; i++) {
            const float *x = j->x + i * j->d;
            double xx = 0;
            for (size_t t = 0; t < j->d; t++) xx += (double)x[t] * x[t];
            double v = xx + bestv[i - i0];
            j->dist[i] = v > 0 ? (float)v : 0.0f;
        }
    }
    return 0;
}

/* ECBENCH_CPU=generic (ecb_cpu) selects the portable kernels, so that tests
 * cover them on machines with AVX2 too. */
static int cpu_has_avx2(void)
{
#ifdef ECB_KM_X86
    return ecb_cpu()->avx2 && ecb_cpu()->fma;
#else
    return 0;
#endif
}

/* Run an assignment pass over all points with up to `threads` workers. m2c
 * and cn must be filled. */
static int run_assign(assign_job *job, size_t threads)
{
    size_t ntasks = (job->n + ECB_KM_TASK_POINTS - 1) / ECB_KM_TASK_POINTS;
    if (threads < 1) threads = 1;
    if (threads > ntasks) threads = ntasks;
    size_t kt = job->k < ECB_KM_BLOCK_CENTROIDS ? job->k : ECB_KM_BLOCK_CENTROIDS;
    assign_pass p = {.job = job, .per_worker = ECB_KM_TASK_POINTS};
    if (job->d > ECB_KM_DIRECT_MAX_D) p.per_worker += (size_t)ECB_KM_BLOCK_POINTS * kt;
    if (!(p.scratch = malloc(threads * p.per_worker * sizeof *p.scratch))) return ECB_ENOMEM;
    int rc = ecb_parallel_for(ntasks, threads, assign_task, &p);
    free(p.scratch);
    return rc;
}

/* Precompute -2c and ||c||^2 for the kernels. */
static void prep_centroids(const float *c, size_t k, size_t d, float *m2c, float *cn)
{
    for (size_t j = 0; j < k; j++) {
        double s = 0;
        for (size_t t = 0; t < d; t++) {
            float v = c[j * d + t];
            m2c[j * d + t] = -2.0f * v;
            s += (double)v * v;
        }
        cn[j] = (float)s;
    }
}

int ecb_kmeans_assign_mt(const float *x, size_t n, size_t d, const float *centroids,
                         size_t k, uint32_t *assign, float *dist, size_t threads)
{
    if (k == 0 || d == 0 || k > UINT32_MAX) return ECB_EINVAL;
    if (n == 0) return 0;
    if (k > SIZE_MAX / sizeof(float) / d) return ECB_ERANGE;
    float *m2c = d <= ECB_KM_DIRECT_MAX_D ? malloc(k * d * sizeof *m2c) : NULL;
    float *cn = malloc(k * sizeof *cn);
    if (!cn || (d <= ECB_KM_DIRECT_MAX_D && !m2c)) {
        free(m2c);
        free(cn);
        return ECB_ENOMEM;
    }
    if (m2c) {
        prep_centroids(centroids, k, d, m2c, cn);
    } else {
        for (size_t j = 0; j < k; j++) {
            double s = 0;
            for (size_t t = 0; t < d; t++) s += (double)centroids[j * d + t] * centroids[j * d + t];
            cn[j] = (float)s;
        }
    }
    assign_job job = {.x = x, .n = n, .d = d, .c = centroids, .m2c = m2c, .cn = cn, .k = k,
                      .assign = assign, .dist = dist, .use_avx2 = cpu_has_avx2()};
    int rc = run_assign(&job, threads);
    free(m2c);
    free(cn);
    return rc;
}

int ecb_kmeans_assign(const float *x, size_t n, size_t d, const float *centroids, size_t k,
                      uint32_t *assign, float *dist)
{
    return ecb_kmeans_assign_mt(x, n, d, centroids, k, assign, dist, 1);
}

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
    if (d <= ECB_KM_DIRECT_MAX_D && cpu_has_avx2()) {
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

static void update_centroids(const float *x, size_t n, size_t d, size_t k, const uint32_t *asg,
                             size_t *count, double *sum, float *c)
{
    memset(count, 0, k * sizeof *count);
    memset(sum, 0, k * d * sizeof *sum);
    for (size_t i = 0; i < n; i++) {
        uint32_t a = asg[i];
        count[a]++;
        double *s = sum + (size_t)a * d;
        const float *xi = x + i * d;
        for (size_t t = 0; t < d; t++) s[t] += xi[t];
    }
    for (size_t j = 0; j < k; j++) {
        if (!count[j]) continue; /* keeps its old position until repaired */
        double inv = 1.0 / (double)count[j];
        for (size_t t = 0; t < d; t++) c[j * d + t] = (float)(sum[j * d + t] * inv);
    }
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
    float *m2c = malloc(k * d * sizeof *m2c);
    float *cn = malloc(k * sizeof *cn);
    if (!asg || !dist || !count || !sum || !m2c || !cn) goto out;

    ecb_rng rng;
    ecb_rng_seed2(&rng, opts->seed, 0x6b6d65616e73ull /* "kmeans" */);
    if (opts->init == ECB_KMEANS_PLUSPLUS) rc = init_plusplus(&rng, x, n, d, k, centroids);
    else if (opts->init == ECB_KMEANS_RANDOM) rc = init_random(&rng, x, n, d, k, centroids);
    else if (opts->init == ECB_KMEANS_GIVEN) rc = 0;
    else rc = ECB_EINVAL;
    if (rc) goto out;

    assign_job job = {.x = x, .n = n, .d = d, .c = centroids, .m2c = m2c, .cn = cn, .k = k,
                      .assign = asg, .dist = dist, .use_avx2 = cpu_has_avx2()};
    double prev = INFINITY, obj = 0;
    for (size_t it = 0; it < opts->iters; it++) {
        prep_centroids(centroids, k, d, m2c, cn);
        if ((rc = run_assign(&job, threads)) != 0) goto out;
        obj = 0;
        for (size_t i = 0; i < n; i++) obj += dist[i];
        int converged = opts->tol > 0 && it > 0 && prev - obj <= opts->tol * prev;
        update_centroids(x, n, d, k, asg, count, sum, centroids);
        repair_empty(k, d, count, centroids);
        prev = obj;
        if (converged) break;
    }
    /* Lloyd's loop ends with an update, so the assignment it last computed
     * belongs to the previous centroids. Callers that want the assignment
     * or objective get a fresh pass (FAISS reports the stale objective). */
    if (assign || objective) {
        prep_centroids(centroids, k, d, m2c, cn);
        if ((rc = run_assign(&job, threads)) != 0) goto out;
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
    free(m2c);
    free(cn);
    return rc;
}

/* ---- codebook codes and lookup-table scans ------------------------------------------ */

size_t ecb_code_bytes(size_t m, unsigned nbits) { return (m * nbits + 7) / 8; }

void ecb_code_pack(const uint32_t *idx, size_t m, unsigned nbits, uint8_t *code)
{
    if (nbits == 8) {
        for (size_t s = 0; s < m; s++) code[s] = (uint8_t)idx[s];
        return;
    }
    memset(code, 0, ecb_code_bytes(m, nbits));
    size_t bit = 0;
    for (size_t s = 0; s < m; s++, bit += nbits) {
        uint32_t v = idx[s] & ((1u << nbits) - 1);
        for (unsigned b = 0; b < nbits; b++)
            if (v >> b & 1u) code[(bit + b) >> 3] |= (uint8_t)(1u << ((bit + b) & 7));
    }
}

void ecb_code_unpack(const uint8_t *code, size_t m, unsigned nbits, uint32_t *idx)
{
    if (nbits == 8) {
        for (size_t s = 0; s < m; s++) idx[s] = code[s];
        return;
    }
    size_t bit = 0;
    for (size_t s = 0; s < m; s++, bit += nbits) {
        uint32_t v = 0;
        for (unsigned b = 0; b < nbits; b++)
            v |= (uint32_t)(code[(bit + b) >> 3] >> ((bit + b) & 7) & 1u) << b;
        idx[s] = v;
    }
}

/* nbits = 8: one byte per sub-quantizer. The codes of a block stay in L2 and
 * a query's table (m KiB) in L1; the sum is a chain of table gathers, split
 * into two accumulators so the adds overlap the loads. */
static void scan8(const float *lut, size_t m, const uint8_t *codes, size_t stride, size_t n,
                  float *out)
{
    if (m == 16) { /* the common PQ16x8 layout, fully unrolled */
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * stride;
            float a0 = lut[c[0]] + lut[256 + c[1]] + lut[512 + c[2]] + lut[768 + c[3]];
            float a1 = lut[1024 + c[4]] + lut[1280 + c[5]] + lut[1536 + c[6]] + lut[1792 + c[7]];
            a0 += lut[2048 + c[8]] + lut[2304 + c[9]] + lut[2560 + c[10]] + lut[2816 + c[11]];
            a1 += lut[3072 + c[12]] + lut[3328 + c[13]] + lut[3584 + c[14]] + lut[3840 + c[15]];
            out[j] = a0 + a1;
        }
        return;
    }
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * stride;
        const float *t = lut;
        float a0 = 0, a1 = 0;
        size_t s = 0;
        for (; s + 4 <= m; s += 4, t += 1024) {
            a0 += t[c[s]] + t[256 + c[s + 1]];
            a1 += t[512 + c[s + 2]] + t[768 + c[s + 3]];
        }
        for (; s < m; s++, t += 256) a0 += t[c[s]];
        out[j] = a0 + a1;
    }
}

/* nbits = 4: two indices per byte, low nibble first. */
static void scan4(const float *lut, size_t m, const uint8_t *codes, size_t stride, size_t n,
                  float *out)
{
    const size_t half = m / 2;
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * stride;
        const float *t = lut;
        float a0 = 0, a1 = 0;
        for (size_t b = 0; b < half; b++, t += 32) {
            unsigned v = c[b];
            a0 += t[v & 15u];
            a1 += t[16 + (v >> 4)];
        }
        if (m & 1) a0 += t[c[half] & 15u];
        out[j] = a0 + a1;
    }
}

static void scan_generic(const float *lut, size_t m, unsigned nbits, const uint8_t *codes,
                         size_t stride, size_t n, float *out)
{
    const size_t ksub = (size_t)1 << nbits;
    const uint32_t mask = (1u << nbits) - 1;
    const size_t nbytes = ecb_code_bytes(m, nbits);
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * stride;
        /* A 64-bit window refilled byte by byte: nbits <= 16 never spans
         * more than the bits already buffered plus the next bytes. */
        uint64_t win = 0;
        unsigned have = 0;
        size_t pos = 0;
        float acc = 0;
        for (size_t s = 0; s < m; s++) {
            while (have < nbits && pos < nbytes) {
                win |= (uint64_t)c[pos++] << have;
                have += 8;
            }
            acc += lut[s * ksub + (win & mask)];
            win >>= nbits;
            have -= nbits;
        }
        out[j] = acc;
    }
}

void ecb_lut_scan(const float *lut, size_t m, unsigned nbits, const uint8_t *codes,
                  size_t code_stride, size_t n, float *out)
{
    if (nbits == 8) scan8(lut, m, codes, code_stride, n, out);
    else if (nbits == 4) scan4(lut, m, codes, code_stride, n, out);
    else if (nbits == 16 && m == 1) /* the kmeans method's 2-byte ids */
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * code_stride;
            out[j] = lut[(size_t)c[0] | (size_t)c[1] << 8];
        }
    else scan_generic(lut, m, nbits, codes, code_stride, n, out);
}

/* ---- product quantizer engine ------------------------------------------------------ */

int ecb_pq_init(ecb_pq *pq, size_t d, size_t m, unsigned nbits, size_t ksub, int shared)
{
    memset(pq, 0, sizeof *pq);
    if (d == 0 || m == 0 || d % m || nbits < 1 || nbits > 16 || ksub < 1 ||
        ksub > ((size_t)1 << nbits))
        return ECB_EINVAL;
    /* ecb_lut_scan strides tables by 2^nbits; only a single table (m = 1,
     * the kmeans method) may have fewer entries. */
    if (m > 1 && ksub != ((size_t)1 << nbits)) return ECB_EINVAL;
    pq->d = d;
    pq->m = m;
    pq->dsub = d / m;
    pq->nbits = nbits;
    pq->ksub = ksub;
    pq->shared = shared != 0;
    pq->cb = calloc(ecb_pq_codebook_floats(pq), sizeof *pq->cb);
    /* The transposed copy only pays for small codebooks; a big single one
     * (the kmeans method, up to 65536 x dim) is scored by sgemm instead. */
    if (ksub <= 256) pq->cbt = calloc(ecb_pq_codebook_floats(pq), sizeof *pq->cbt);
    if (pq->cb && (pq->cbt || ksub > 256)) return 0;
    ecb_pq_free(pq);
    return ECB_ENOMEM;
}

void ecb_pq_free(ecb_pq *pq)
{
    if (!pq) return;
    free(pq->cb);
    free(pq->cbt);
    pq->cb = pq->cbt = NULL;
}

size_t ecb_pq_codebook_floats(const ecb_pq *pq)
{
    return (pq->shared ? 1 : pq->m) * pq->ksub * pq->dsub;
}

static const float *pq_book(const ecb_pq *pq, size_t s)
{
    return pq->cb + (pq->shared ? 0 : s * pq->ksub * pq->dsub);
}

/* Copy sub-space s of n vectors into a contiguous n x dsub block. */
static void pq_extract(const ecb_pq *pq, const float *x, size_t n, size_t s, float *out)
{
    const size_t d = pq->d, ds = pq->dsub;
    for (size_t i = 0; i < n; i++) memcpy(out + i * ds, x + i * d + s * ds, ds * sizeof *out);
}

static void pq_transpose(ecb_pq *pq)
{
    if (!pq->cbt) return;
    const size_t books = pq->shared ? 1 : pq->m, K = pq->ksub, ds = pq->dsub;
    for (size_t b = 0; b < books; b++)
        for (size_t j = 0; j < K; j++)
            for (size_t u = 0; u < ds; u++)
                pq->cbt[b * K * ds + u * K + j] = pq->cb[b * K * ds + j * ds + u];
}

static int pq_train_books(ecb_pq *pq, const ecb_kmeans_opts *opts, const float *x, size_t n);

int ecb_pq_train(ecb_pq *pq, const ecb_kmeans_opts *opts, const float *x, size_t n)
{
    int rc = pq_train_books(pq, opts, x, n);
    pq_transpose(pq);
    return rc;
}

static int pq_train_books(ecb_pq *pq, const ecb_kmeans_opts *opts, const float *x, size_t n)
{
    const size_t ds = pq->dsub, m = pq->m;
    ecb_kmeans_opts o = *opts;
    o.k = pq->ksub;
    if (pq->shared) {
        /* One codebook over the pooled sub-vectors of every sub-space. */
        if (n > SIZE_MAX / m) return ECB_ERANGE;
        size_t np = n * m;
        if (np < pq->ksub) return ECB_EINVAL;
        float *sub = malloc(np * ds * sizeof *sub);
        if (!sub) return ECB_ENOMEM;
        memcpy(sub, x, np * ds * sizeof *sub); /* n x d == (n*m) x dsub */
        int rc = ecb_kmeans(&o, sub, np, ds, pq->cb, NULL, NULL);
        free(sub);
        return rc;
    }
    if (n < pq->ksub) return ECB_EINVAL;
    float *sub = malloc(n * ds * sizeof *sub);
    if (!sub) return ECB_ENOMEM;
    int rc = 0;
    for (size_t s = 0; s < m && !rc; s++) {
        pq_extract(pq, x, n, s, sub);
        /* Independent seeds per sub-space: the same seed everywhere would
         * make random init pick the same point indices in every sub-space. */
        o.seed = opts->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(s + 1));
        rc = ecb_kmeans(&o, sub, n, ds, pq->cb + s * pq->ksub * ds, NULL, NULL);
    }
    free(sub);
    return rc;
}

int ecb_pq_encode(const ecb_pq *pq, const float *x, size_t n, uint8_t *codes,
                  size_t code_stride)
{
    enum { BLOCK = 1024 };
    const size_t ds = pq->dsub, m = pq->m;
    float *sub = malloc((size_t)BLOCK * ds * sizeof *sub);
    uint32_t *idx = malloc((size_t)BLOCK * m * sizeof *idx);
    uint32_t *one = malloc(m * sizeof *one);
    int rc = ECB_ENOMEM;
    if (!sub || !idx || !one) goto out;
    rc = 0;
    for (size_t b = 0; b < n && !rc; b += BLOCK) {
        size_t nb = n - b < BLOCK ? n - b : BLOCK;
        for (size_t s = 0; s < m && !rc; s++) {
            const float *xs = x + b * pq->d;
            if (m == 1) {
                rc = ecb_kmeans_assign(xs, nb, ds, pq_book(pq, 0), pq->ksub, idx, NULL);
            } else {
                pq_extract(pq, xs, nb, s, sub);
                rc = ecb_kmeans_assign(sub, nb, ds, pq_book(pq, s), pq->ksub, idx + s * BLOCK,
                                       NULL);
            }
        }
        for (size_t i = 0; i < nb && !rc; i++) {
            for (size_t s = 0; s < m; s++) one[s] = idx[s * BLOCK + i];
            ecb_code_pack(one, m, pq->nbits, codes + (b + i) * code_stride);
        }
    }
out:
    free(sub);
    free(idx);
    free(one);
    return rc;
}

void ecb_pq_decode(const ecb_pq *pq, const uint8_t *codes, size_t n, size_t code_stride,
                   float *x)
{
    const size_t ds = pq->dsub, m = pq->m;
    uint32_t idxs[64];
    uint32_t *idx = m <= 64 ? idxs : malloc(m * sizeof *idx);
    if (!idx) { /* cannot fail for m <= 64; beyond, degrade to zeros */
        memset(x, 0, n * pq->d * sizeof *x);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ecb_code_unpack(codes + i * code_stride, m, pq->nbits, idx);
        for (size_t s = 0; s < m; s++) {
            size_t j = idx[s] < pq->ksub ? idx[s] : 0; /* foreign codes: stay in bounds */
            memcpy(x + i * pq->d + s * ds, pq_book(pq, s) + j * ds, ds * sizeof *x);
        }
    }
    if (idx != idxs) free(idx);
}

void ecb_pq_lut(const ecb_pq *pq, ecb_similarity sim, const float *q, float *lut)
{
    /* Over the transposed codebook the inner loop runs along the centroids,
     * contiguous and independent: it vectorises without reassociating any
     * sum (each entry still adds its dsub terms in order). */
    const size_t ds = pq->dsub, K = pq->ksub;
    if (!pq->cbt) { /* large single codebook: plain loops */
        for (size_t s = 0; s < pq->m; s++)
            for (size_t j = 0; j < K; j++) {
                const float *c = pq_book(pq, s) + j * ds, *qs = q + s * ds;
                float v = 0;
                for (size_t u = 0; u < ds; u++)
                    v += sim == ECB_SIM_DOT ? qs[u] * c[u] : -(qs[u] - c[u]) * (qs[u] - c[u]);
                lut[s * K + j] = v;
            }
        return;
    }
    for (size_t s = 0; s < pq->m; s++) {
        const float *qs = q + s * ds;
        const float *ct = pq->cbt + (pq->shared ? 0 : s * K * ds);
        float *t = lut + s * K;
        for (size_t j = 0; j < K; j++) t[j] = 0.0f;
        if (sim == ECB_SIM_DOT) {
            for (size_t u = 0; u < ds; u++) {
                const float qu = qs[u], *cu = ct + u * K;
                for (size_t j = 0; j < K; j++) t[j] += qu * cu[j];
            }
        } else {
            for (size_t u = 0; u < ds; u++) {
                const float qu = qs[u], *cu = ct + u * K;
                for (size_t j = 0; j < K; j++) {
                    float e = qu - cu[j];
                    t[j] -= e * e;
                }
            }
        }
    }
}
