/*
 * The assignment pass of k-means: argmin_j ||c_j||^2 - 2 x.c_j for every
 * point, the cost that matters. Two kernels:
 *  - small d (<= ECB_KM_DIRECT_MAX_D, the PQ sub-spaces): a direct kernel
 *    that holds 8 points in the lanes of an AVX2 register (32 in two
 *    AVX-512 registers) and streams the centroids through FMAs, keeping the
 *    running minimum and its index in registers. An sgemm with an inner
 *    dimension of 4..32 runs far below peak and then needs a second pass
 *    over the n x k product for argmin; this kernel needs neither. Chosen by
 *    ecb_cpu() (portable C otherwise, rounding with fmaf like the FMA lanes,
 *    so all give the same bits).
 *  - larger d: blocked sgemm (256 points x 1024 centroids per tile, so the
 *    scratch is bounded at 1 MiB per thread) followed by a row argmin.
 *    The tile shape is part of the result: OpenBLAS 0.3.21's Haswell sgemm
 *    (what it runs on Zen 5 too) computes some elements of a call as one
 *    FMA chain and others, by their place in the call, as even and odd k
 *    in two chains summed, so reshaping the tiles, or moving d = 33..64 to
 *    the direct kernel (about 2.2x faster at d = 48), changes codebooks.
 * Points are split into a fixed grid of tasks run by ecb_parallel_for, so
 * results do not depend on the thread count (each point's argmin is
 * computed the same way).
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

enum {
    /* up to this dimension the direct kernel (no sgemm) assigns points */
    ECB_KM_DIRECT_MAX_D = 32,
    ECB_KM_BLOCK_POINTS = 256,
    ECB_KM_BLOCK_CENTROIDS = 1024,
    /* points per task of a pass: a multiple of the direct kernels' 8 and
     * 32 lanes and of the block size;
     * below this a thread costs more than it saves */
    ECB_KM_TASK_POINTS = 2048,
};

/* Everything an assignment pass needs, shared read-only by the workers. */
typedef struct km_job {
    const float *x;
    size_t n, d;
    const float *c;   /* k x d centroids */
    const float *m2c; /* k x d, -2 * centroids (direct kernel) */
    const float *cn;  /* k squared norms */
    size_t k;
    uint32_t *assign;
    float *dist; /* may be NULL */
    int use_avx2;
    int use_avx512;
} km_job;

/* ECBENCH_CPU=generic (ecb_cpu) selects the portable kernels, so that tests
 * cover them on machines with AVX2 too. */
static int km_avx2(void)
{
#ifdef ECB_KM_X86
    return ecb_cpu()->avx2 && ecb_cpu()->fma;
#else
    return 0;
#endif
}

static int km_avx512(void)
{
#ifdef ECB_KM_X86
    return ecb_cpu()->avx512f;
#else
    return 0;
#endif
}

/* ---- direct kernel ------------------------------------------------------- */

/* Lane l of row t of xt (rows of `lanes` floats) gets coordinate t of point
 * l of the nb <= lanes points at x; missing points repeat the first (their
 * results are dropped). */
static void transpose_block(const float *x, size_t d, size_t nb, size_t lanes, float *xt)
{
    for (size_t l = 0; l < lanes; l++) {
        const float *xl = x + (l < nb ? l : 0) * d;
        for (size_t t = 0; t < d; t++) xt[t * lanes + l] = xl[t];
    }
}

static void direct_portable(const km_job *j, size_t i0, size_t i1, float *bestv)
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

__attribute__((target("avx2,fma"))) static void direct_avx2(const km_job *j, size_t i0,
                                                             size_t i1, float *bestv)
{
    const size_t d = j->d, k = j->k;
    float xt[ECB_KM_DIRECT_MAX_D * 8] __attribute__((aligned(32)));
    float vout[8] __attribute__((aligned(32)));
    int32_t iout[8] __attribute__((aligned(32)));
    for (size_t b = i0; b < i1; b += 8) {
        size_t nb = i1 - b < 8 ? i1 - b : 8;
        transpose_block(j->x + b * d, d, nb, 8, xt);
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

/* The same arithmetic with 32 points in two AVX-512 registers and eight
 * centroids per step: 16 independent FMA chains per transposed row of
 * points, so that the FMA units, not the loads of the broadcast centroid
 * coordinates, bound it (the AVX2 kernel issues five loads per four FMAs).
 * Each (point, centroid) value is the same FMA chain from ||c||^2 in
 * coordinate order as in the other kernels, and each lane keeps a strict '<'
 * running minimum in centroid order: the same bits, ties to the lowest
 * index. The masked moves are min_ps(acc, min) of the AVX2 kernel (which
 * returns min unless acc < min, NaN included). */
#define ECB_KM_UPDATE16(acc, minv, mini, jj)                                   \
    do {                                                                       \
        __mmask16 lt_ = _mm512_cmp_ps_mask((acc), (minv), _CMP_LT_OQ);         \
        (minv) = _mm512_mask_mov_ps((minv), lt_, (acc));                       \
        (mini) = _mm512_mask_mov_epi32((mini), lt_, _mm512_set1_epi32((int)(jj))); \
    } while (0)

__attribute__((target("avx512f"))) static void direct_avx512(const km_job *j, size_t i0,
                                                              size_t i1, float *bestv)
{
    const size_t d = j->d, k = j->k;
    float xt[ECB_KM_DIRECT_MAX_D * 32] __attribute__((aligned(64)));
    float vout[32] __attribute__((aligned(64)));
    int32_t iout[32] __attribute__((aligned(64)));
    for (size_t b = i0; b < i1; b += 32) {
        size_t nb = i1 - b < 32 ? i1 - b : 32;
        transpose_block(j->x + b * d, d, nb, 32, xt);
        __m512 minv0 = _mm512_set1_ps(INFINITY), minv1 = minv0;
        __m512i mini0 = _mm512_setzero_si512(), mini1 = mini0;
        size_t c = 0;
        for (; c + 8 <= k; c += 8) {
            const float *m = j->m2c + c * d;
            __m512 a0 = _mm512_set1_ps(j->cn[c]), b0 = a0;
            __m512 a1 = _mm512_set1_ps(j->cn[c + 1]), b1 = a1;
            __m512 a2 = _mm512_set1_ps(j->cn[c + 2]), b2 = a2;
            __m512 a3 = _mm512_set1_ps(j->cn[c + 3]), b3 = a3;
            __m512 a4 = _mm512_set1_ps(j->cn[c + 4]), b4 = a4;
            __m512 a5 = _mm512_set1_ps(j->cn[c + 5]), b5 = a5;
            __m512 a6 = _mm512_set1_ps(j->cn[c + 6]), b6 = a6;
            __m512 a7 = _mm512_set1_ps(j->cn[c + 7]), b7 = a7;
            for (size_t t = 0; t < d; t++) {
                __m512 x0 = _mm512_load_ps(xt + t * 32), x1 = _mm512_load_ps(xt + t * 32 + 16);
                __m512 w;
#define ECB_KM_FMA2(u, A, B)                                                   \
    w = _mm512_set1_ps(m[(u) * d + t]);                                        \
    A = _mm512_fmadd_ps(x0, w, A);                                             \
    B = _mm512_fmadd_ps(x1, w, B)
                ECB_KM_FMA2(0, a0, b0);
                ECB_KM_FMA2(1, a1, b1);
                ECB_KM_FMA2(2, a2, b2);
                ECB_KM_FMA2(3, a3, b3);
                ECB_KM_FMA2(4, a4, b4);
                ECB_KM_FMA2(5, a5, b5);
                ECB_KM_FMA2(6, a6, b6);
                ECB_KM_FMA2(7, a7, b7);
#undef ECB_KM_FMA2
            }
            ECB_KM_UPDATE16(a0, minv0, mini0, c);
            ECB_KM_UPDATE16(b0, minv1, mini1, c);
            ECB_KM_UPDATE16(a1, minv0, mini0, c + 1);
            ECB_KM_UPDATE16(b1, minv1, mini1, c + 1);
            ECB_KM_UPDATE16(a2, minv0, mini0, c + 2);
            ECB_KM_UPDATE16(b2, minv1, mini1, c + 2);
            ECB_KM_UPDATE16(a3, minv0, mini0, c + 3);
            ECB_KM_UPDATE16(b3, minv1, mini1, c + 3);
            ECB_KM_UPDATE16(a4, minv0, mini0, c + 4);
            ECB_KM_UPDATE16(b4, minv1, mini1, c + 4);
            ECB_KM_UPDATE16(a5, minv0, mini0, c + 5);
            ECB_KM_UPDATE16(b5, minv1, mini1, c + 5);
            ECB_KM_UPDATE16(a6, minv0, mini0, c + 6);
            ECB_KM_UPDATE16(b6, minv1, mini1, c + 6);
            ECB_KM_UPDATE16(a7, minv0, mini0, c + 7);
            ECB_KM_UPDATE16(b7, minv1, mini1, c + 7);
        }
        for (; c < k; c++) {
            const float *m = j->m2c + c * d;
            __m512 a0 = _mm512_set1_ps(j->cn[c]), b0 = a0;
            for (size_t t = 0; t < d; t++) {
                __m512 w = _mm512_set1_ps(m[t]);
                a0 = _mm512_fmadd_ps(_mm512_load_ps(xt + t * 32), w, a0);
                b0 = _mm512_fmadd_ps(_mm512_load_ps(xt + t * 32 + 16), w, b0);
            }
            ECB_KM_UPDATE16(a0, minv0, mini0, c);
            ECB_KM_UPDATE16(b0, minv1, mini1, c);
        }
        _mm512_store_ps(vout, minv0);
        _mm512_store_ps(vout + 16, minv1);
        _mm512_store_si512(iout, mini0);
        _mm512_store_si512(iout + 16, mini1);
        for (size_t l = 0; l < nb; l++) {
            j->assign[b + l] = (uint32_t)iout[l];
            bestv[b + l - i0] = vout[l];
        }
    }
}
#undef ECB_KM_UPDATE16
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
/* The same result in two passes: the minimum value m of row + cn (NaNs
 * ignored, as min_ps(v, m) keeps m), with four independent accumulators
 * instead of one dependent compare-and-blend chain; then the first index
 * whose value equals m, which is the first minimum in index order, found
 * with one compare per eight values and usually long before the end. The
 * value stored is that index's sum, as the one-pass scan stored it. */
__attribute__((target("avx2,fma"))) static void argmin_avx2(const float *row, const float *cn,
                                                             size_t nc, size_t c0, float *best,
                                                             uint32_t *arg)
{
    __m256 m0 = _mm256_set1_ps(INFINITY), m1 = m0, m2 = m0, m3 = m0;
    size_t c = 0;
    for (; c + 32 <= nc; c += 32) {
        m0 = _mm256_min_ps(_mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(cn + c)), m0);
        m1 = _mm256_min_ps(
            _mm256_add_ps(_mm256_loadu_ps(row + c + 8), _mm256_loadu_ps(cn + c + 8)), m1);
        m2 = _mm256_min_ps(
            _mm256_add_ps(_mm256_loadu_ps(row + c + 16), _mm256_loadu_ps(cn + c + 16)), m2);
        m3 = _mm256_min_ps(
            _mm256_add_ps(_mm256_loadu_ps(row + c + 24), _mm256_loadu_ps(cn + c + 24)), m3);
    }
    for (; c + 8 <= nc; c += 8)
        m0 = _mm256_min_ps(_mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(cn + c)), m0);
    m0 = _mm256_min_ps(_mm256_min_ps(m0, m1), _mm256_min_ps(m2, m3));
    float vv[8];
    _mm256_storeu_ps(vv, m0);
    float m = INFINITY;
    for (int l = 0; l < 8; l++)
        if (vv[l] < m) m = vv[l];
    for (; c < nc; c++) {
        float v = row[c] + cn[c];
        if (v < m) m = v;
    }
    /* Candidates from this tile have indices above *arg from earlier tiles,
     * so they win only when strictly smaller. */
    if (!(m < *best)) return;
    const __m256 mv = _mm256_set1_ps(m);
    for (c = 0; c + 8 <= nc; c += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(cn + c));
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, mv, _CMP_EQ_OQ));
        if (mask) {
            c += (size_t)__builtin_ctz((unsigned)mask);
            break;
        }
    }
    for (; c < nc; c++)
        if (row[c] + cn[c] == m) break;
    *best = row[c] + cn[c];
    *arg = (uint32_t)(c0 + c);
}
#endif

static int gemm_range(const km_job *j, size_t i0, size_t i1, float *bestv, float *buf)
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
    const km_job *job;
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
    const km_job *j = p->job;
    size_t i0 = task * ECB_KM_TASK_POINTS;
    size_t i1 = j->n - i0 < ECB_KM_TASK_POINTS ? j->n : i0 + ECB_KM_TASK_POINTS;
    float *bestv = p->scratch + worker * p->per_worker;
    if (j->d <= ECB_KM_DIRECT_MAX_D) {
#ifdef ECB_KM_X86
        if (j->use_avx512)
            direct_avx512(j, i0, i1, bestv);
        else if (j->use_avx2)
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

/* Assign every point of job (m2c and cn filled) with up to `threads`
 * workers. */
static int run_assign(km_job *job, size_t threads)
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
    km_job job = {.x = x, .n = n, .d = d, .c = centroids, .m2c = m2c, .cn = cn, .k = k,
                      .assign = assign, .dist = dist, .use_avx2 = km_avx2(),
                  .use_avx512 = km_avx512()};
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
