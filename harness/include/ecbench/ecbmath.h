/*
 * ecbmath: the numerical toolkit of ecbench plugins. Shared by the harness
 * and every method: the one parallel-for, the one CPU-feature dispatch, the
 * one top-k in the ranking order, the one float16 conversion, seeded RNG,
 * checked BLAS sizes, random rotations, eigen/SVD wrappers, k-means,
 * codebook codes and the PQ engine, popcount kernels.
 *
 * How plugins get it: in-tree methods link it statically (libecbmath.a,
 * hidden visibility, so a plugin still exports only its entry symbol);
 * third-party plugins link the installed shared library
 * libecbench-toolkit.so.1 (`pkg-config --libs ecbench-plugin`), which
 * exports exactly the functions declared here. ecbench loads its own copy
 * before any plugin, so a plugin finds it by soname wherever the installed
 * tree lives.
 *
 * Versioning rules of libecbench-toolkit (ECB_TOOLKIT_VERSION_*):
 *  - The soname carries the major version (libecbench-toolkit.so.1). Within
 *    a major version nothing declared here is removed, renamed or changes
 *    its signature, and the structs a caller allocates or reads (ecb_rng,
 *    ecb_kmeans_opts, ecb_pq) keep their layout; any such change makes the
 *    next major version (.so.2), and plugins built against .so.1 keep
 *    needing .so.1.
 *  - A minor version only adds functions. Every exported function carries
 *    the symbol version of the minor version that added it
 *    (ECBENCH_TOOLKIT_1.0, then ECBENCH_TOOLKIT_1.1, ...; see
 *    harness/ecbmath/toolkit.map), so a plugin that uses a newer function
 *    fails to load on an older toolkit, naming the symbol version, instead
 *    of failing mid-sweep.
 *  - Results: for a given seed, every function gives the same values in
 *    every release of a major version, except where a release note says a
 *    result changed (a bug fix), since quality numbers must be reproducible.
 *  - static inline functions here are compiled into the plugin: their
 *    behaviour is that of the header the plugin was built with.
 *
 * All functions are deterministic for a given seed and thread count 1;
 * with more BLAS threads, float sums may differ in the last bits.
 */
#ifndef ECBENCH_ECBMATH_H
#define ECBENCH_ECBMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ecbench/method.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The toolkit version this header describes (see the rules above); the
 * major is the soname's number. */
#define ECB_TOOLKIT_VERSION_MAJOR 1
#define ECB_TOOLKIT_VERSION_MINOR 1

/* ---- parallel-for: the one thread fan-out --------------------------------- */
/* Run fn(ctx, task, worker) for every task in [0, ntasks) on up to `threads`
 * threads (the calling thread is one of them; worker is in [0, threads) so
 * callers can keep per-worker scratch). Tasks are claimed in increasing
 * order. Returns 0, or the return value of the lowest-numbered task that
 * failed (deterministic whatever the scheduling); tasks after a failure may
 * be skipped. With threads <= 1 or ntasks <= 1 it runs inline with no thread
 * creation. The other threads come from a pool kept for the process (created
 * on first use, reused by every call, rebuilt in a forked child); the call
 * returns once every task has finished, without waiting for a pool thread
 * that took none. A call made from inside a task, or while another thread's
 * call is running, runs inline on its calling thread (worker 0). A task's
 * error message (per-thread) stays in the thread that ran it: copy it into
 * ctx when the caller needs it. */
typedef int (*ecb_task_fn)(void *ctx, size_t task, size_t worker);
int ecb_parallel_for(size_t ntasks, size_t threads, ecb_task_fn fn, void *ctx);

/* ---- CPU features: detected once --------------------------------------------- */
/* Levels, each including the ones below: popcnt; avx2 = avx + f16c + fma +
 * avx2; avx512 = avx512f + avx512bw (avx512vpopcntdq is reported apart). */
typedef enum {
    ECB_CPU_GENERIC = 0,
    ECB_CPU_POPCNT = 1,
    ECB_CPU_AVX2 = 2,
    ECB_CPU_AVX512 = 3,
} ecb_cpu_level;

typedef struct ecb_cpu_features {
    int popcnt, avx, f16c, fma, avx2, avx512f, avx512bw, avx512vpopcntdq;
    ecb_cpu_level level;   /* highest level all of whose features are present */
    const char *name;      /* "generic", "popcnt", "avx2" or "avx512" */
    const char *env_error; /* NULL, or why ECBENCH_CPU was not honoured */
} ecb_cpu_features;

/* The CPU's features, detected on the first call (thread-safe) and capped
 * by the environment variable ECBENCH_CPU=generic|popcnt|avx2|avx512 (a
 * level above the CPU's changes nothing). Every kernel choice reads this. */
const ecb_cpu_features *ecb_cpu(void);

/* ---- RNG: xoshiro256** seeded by splitmix64 ------------------------------ */
typedef struct ecb_rng {
    uint64_t s[4];
} ecb_rng;

void ecb_rng_seed(ecb_rng *r, uint64_t seed);
/* Derive an independent stream: seed mixed with a stream tag. */
void ecb_rng_seed2(ecb_rng *r, uint64_t seed, uint64_t stream);
uint64_t ecb_rng_next(ecb_rng *r);
double ecb_rng_uniform(ecb_rng *r);            /* [0,1) */
double ecb_rng_normal(ecb_rng *r);             /* N(0,1) */
size_t ecb_rng_below(ecb_rng *r, size_t n);    /* uniform in [0,n), unbiased */
/* k distinct indices from [0,n) in increasing order (k <= n). */
void ecb_rng_sample(ecb_rng *r, size_t n, size_t k, size_t *out);

/* ---- checked BLAS sizes ------------------------------------------------ */
/* blasint is 32-bit here: every dimension passed to BLAS/LAPACK goes through
 * this. Returns 0 and stores the value, or ECB_ERANGE. */
int ecb_blas_int(size_t v, int *out);

/* C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C (row-major). */
int ecb_gemm_nt(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* C[m x n] = alpha * A[m x k] * B[k x n] + beta * C (row-major). */
int ecb_gemm_nn(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* C[m x n] = alpha * A[k x m]^T * B[k x n] + beta * C (row-major), e.g.
 * X^T Y for Procrustes. */
int ecb_gemm_tn(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* The row count to give sgemm for n corpus rows (the rows beyond n are
 * zeros, their scores ignored). BLAS kernels compute full register tiles
 * with one instruction sequence but the edge rows of a matrix with another,
 * so the same document scored as row 3 or as row 35 of 37 can differ in the
 * last bit, and identical documents would not tie (issue 11 item 10).
 * Padding to a multiple of 64 rows, more than any kernel's tile, puts every
 * real row in a full tile, so equal rows of one call score alike. It does
 * not make a row's score independent of the call: with OpenBLAS 0.3.21's
 * Haswell kernels a score also depends on the call's row count (a row
 * scores differently in calls of 128 and 256 rows) and on the query's place
 * in groups of 12 queries. Scores stay bit-identical across thread counts
 * because the harness fixes its corpus block grid and cuts query blocks at
 * multiples of 12 (harness/search.c; test_search.c, query_split_bits). */
static inline size_t ecb_gemm_rows_padded(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---- linear algebra ---------------------------------------------------- */
/* Random orthogonal d x d matrix (Haar, QR of a Gaussian with sign fix),
 * row-major. */
int ecb_random_orthogonal(size_t d, uint64_t seed, float *R);
/* The first d columns (q x d, row-major) of ecb_random_orthogonal(q, seed),
 * bit for bit, at O(q d^2) work and q (d + 160) doubles (since toolkit 1.1;
 * lsh's tight frames). ECB_EINVAL unless 1 <= d <= q. */
int ecb_random_orthogonal_cols(size_t q, size_t d, uint64_t seed, float *R);
/* Symmetric eigen-decomposition of the d x d matrix A (double, row-major):
 * eigenvalues descending into w, eigenvectors as rows of V (V[i*d+j] is
 * component j of the i-th eigenvector). */
int ecb_eigh_desc(size_t d, const double *A, double *w, double *V);
/* Thin SVD of the m x n matrix A (double, row-major): A = U diag(s) Vt with
 * U m x r, Vt r x n, r = min(m,n). */
int ecb_svd(size_t m, size_t n, const double *A, double *U, double *s, double *Vt);
/* Mean (d) and population covariance (d x d, /n) of n x d floats, in
 * double; accumulated by blocks of sgemm on centred rows. Returns 0,
 * ECB_ENOMEM or ECB_ERANGE. */
int ecb_mean_covariance(const float *x, size_t n, size_t d, double *mean, double *cov);
/* The same on up to `threads` threads, bit for bit the same values for any
 * thread count (toolkit 1.1). */
int ecb_mean_covariance_mt(const float *x, size_t n, size_t d, double *mean, double *cov,
                           size_t threads);
/* Row norms (pca, rp, osq on cosine data). ecb_rows_unit: 1 when every row
 * of x (n x d) has a squared L2 norm within tol of 1 or is all zeros (what
 * the harness hands a method for cosine similarity), else 0.
 * ecb_rows_normalize: scale every nonzero row to unit L2 norm (norm in
 * double). */
int ecb_rows_unit(const float *x, size_t n, size_t d, double tol);
void ecb_rows_normalize(float *x, size_t n, size_t d);
/* Orthogonal Procrustes: R (d x d) maximising tr(R^T M) for M = X^T Y,
 * i.e. R = U V^T of the SVD of M (double, row-major). */
int ecb_procrustes(size_t d, const double *M, double *R);

/* ---- k-means ------------------------------------------------------------ */
/* ECB_KMEANS_GIVEN: start from the centroids passed in (warm start, e.g.
 * OPQ's alternation); the seed is then used only for empty-cluster repair. */
typedef enum {
    ECB_KMEANS_PLUSPLUS = 0,
    ECB_KMEANS_RANDOM = 1,
    ECB_KMEANS_GIVEN = 2,
} ecb_kmeans_init;

typedef struct ecb_kmeans_opts {
    size_t k;
    size_t iters;        /* maximum Lloyd iterations */
    double tol;          /* stop when relative objective change < tol */
    ecb_kmeans_init init;
    uint64_t seed;
    size_t threads;      /* 0 = 1 */
} ecb_kmeans_opts;

/* Cluster n x d points x into opts->k centroids (k x d out). assign (n
 * entries, may be NULL) receives the final assignment; *objective (may be
 * NULL) the final sum of squared distances. Empty clusters are repaired by
 * splitting the largest one. Requires n >= k. Assignment uses an AVX2+FMA
 * kernel when ecb_cpu() has it (ECBENCH_CPU=generic forces the portable
 * one); results do not depend on opts->threads. */
int ecb_kmeans(const ecb_kmeans_opts *opts, const float *x, size_t n, size_t d,
               float *centroids, uint32_t *assign, double *objective);
/* Nearest centroid (L2) for each of n points, blocked sgemm. dist may be
 * NULL (squared distances). */
int ecb_kmeans_assign(const float *x, size_t n, size_t d, const float *centroids,
                      size_t k, uint32_t *assign, float *dist);
/* Same with up to `threads` worker threads over blocks of points (0 or 1 =
 * the calling thread only). */
int ecb_kmeans_assign_mt(const float *x, size_t n, size_t d, const float *centroids,
                         size_t k, uint32_t *assign, float *dist, size_t threads);

/* ---- codebook codes and lookup-table scans (pq, opq, rq, kmeans) -------- */
/* A code holds m indices of nbits each (1..16) as one little-endian bit
 * stream: index s occupies bits [s*nbits, (s+1)*nbits), so nbits=8 is one
 * byte per index and nbits=4 puts index 2b in the low nibble of byte b.
 * ecb_code_bytes = ceil(m*nbits/8). */
size_t ecb_code_bytes(size_t m, unsigned nbits);
void ecb_code_pack(const uint32_t *idx, size_t m, unsigned nbits, uint8_t *code);
void ecb_code_unpack(const uint8_t *code, size_t m, unsigned nbits, uint32_t *idx);
/* ADC scan: out[j] = sum_s lut[s*2^nbits + idx_s(code j)] for n codes laid
 * out code_stride bytes apart (the packed indices first; methods may append
 * per-vector data after them). Kernels specialised for nbits 8 and 4. */
void ecb_lut_scan(const float *lut, size_t m, unsigned nbits, const uint8_t *codes,
                  size_t code_stride, size_t n, float *out);
/* sum_g L[g*256 + p[g]] over G code bytes, one 256-entry table per byte
 * (the per-code kernel of byte-table scans: rabitq, lloydmax, resbin). The
 * bytes are read eight at a time (one load instead of eight) and summed in
 * four chains, since a single chain is bound by the add latency. */
static inline float ecb_lut_sum8(const float *L, const uint8_t *p, size_t G)
{
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    size_t g = 0;
    for (; g + 8 <= G; g += 8, L += 8 * 256) {
        uint64_t w;
        memcpy(&w, p + g, 8);
        a0 += L[0 * 256 + (w & 255)];
        a1 += L[1 * 256 + (w >> 8 & 255)];
        a2 += L[2 * 256 + (w >> 16 & 255)];
        a3 += L[3 * 256 + (w >> 24 & 255)];
        a0 += L[4 * 256 + (w >> 32 & 255)];
        a1 += L[5 * 256 + (w >> 40 & 255)];
        a2 += L[6 * 256 + (w >> 48 & 255)];
        a3 += L[7 * 256 + (w >> 56)];
    }
    for (; g < G; g++, L += 256) a0 += L[p[g]];
    return (a0 + a1) + (a2 + a3);
}
/* ---- order statistics and quantiles (since toolkit 1.1) ------------------ */
/* Ranks order floats by their bits in IEEE total order (-NaN < -inf < ... <
 * -0 < +0 < ... < +inf < NaN), i.e. as a radix sort by the float key sorts
 * them: the value of rank r is bit for bit element r of that sort. Found by
 * selection (expected O(n) for a few ranks; deterministic), not by sorting.
 * ecb_select_ranks: out[t] = the value of rank ranks[t] (0-based ascending;
 * any order, repeats allowed, each < n) of v[0..n).
 * ecb_column_ranks: the same for every column j of the n x d row-major x
 * (row stride ld >= d floats) into out[j*nr + t]; the columns are gathered
 * 16 at a time (a cache line of each row), on up to `threads` threads (the
 * values do not depend on it).
 * ecb_quantiles / ecb_column_quantiles: numpy's default (linear) quantile
 * for each p[t] in [0, 1]: with pos = p (n-1), i = floor(pos), f = pos - i
 * and s the sorted values, (float)(s_i + f (s_{i+1} - s_i)) computed in
 * double, or s_{n-1} when i >= n-1 (out[t], resp. out[j*np + t]). A median
 * is p = 0.5.
 * All return 0, ECB_EINVAL (a rank >= n, n = 0 for a quantile, p outside
 * [0, 1], ld < d) or ECB_ENOMEM. */
int ecb_select_ranks(const float *v, size_t n, const size_t *ranks, size_t nr, float *out);
int ecb_column_ranks(const float *x, size_t n, size_t d, size_t ld, const size_t *ranks,
                     size_t nr, float *out, size_t threads);
int ecb_quantiles(const float *v, size_t n, const double *p, size_t np, float *out);
int ecb_column_quantiles(const float *x, size_t n, size_t d, size_t ld, const double *p,
                         size_t np, float *out, size_t threads);

/* ---- top-k in the one ranking order (DESIGN D4) ---------------------------- */
/* Score descending, ties by the id's rank descending: id_rank[id] when an
 * id_rank table is given (rank of the id string in strcmp order, trec_eval's
 * tie order), else the id itself. Padding (id -1) ranks after every real
 * entry. */
static inline int ecb_rank_before(float sa, int64_t ia, float sb, int64_t ib,
                                  const uint32_t *id_rank)
{
    if (ia < 0 || ib < 0) return ib < 0 && ia >= 0;
    if (sa != sb) return sa > sb;
    uint64_t ra = id_rank ? id_rank[ia] : (uint64_t)ia;
    uint64_t rb = id_rank ? id_rank[ib] : (uint64_t)ib;
    return ra > rb;
}
/* A bounded top-k: s/id[0, *cnt) with *cnt <= k is a heap whose root is the
 * entry ranking last. ecb_heap_push offers one candidate, ecb_heap_push_row
 * offers row[j] with id id0 + j for j in [0, n) (fast rejection against the
 * root) and returns the index of the first non-finite score in row, or n
 * when all are finite; NaN scores never enter. ecb_heap_finish sorts the
 * heap in ranking order and pads [cnt, k) with -INFINITY / -1. */
void ecb_heap_push(float *s, int64_t *id, size_t *cnt, size_t k, float x, int64_t xi,
                   const uint32_t *id_rank);
size_t ecb_heap_push_row(float *s, int64_t *id, size_t *cnt, size_t k, const float *row,
                         size_t n, int64_t id0, const uint32_t *id_rank);
void ecb_heap_finish(float *s, int64_t *id, size_t cnt, size_t k, const uint32_t *id_rank);
/* Sort n (score, id) pairs in the ranking order, in place (heapsort). */
void ecb_rank_sort(float *scores, int64_t *ids, size_t n, const uint32_t *id_rank);
/* Top-k of scores (higher is better) over n items with a bounded heap:
 * writes k entries to top_s/top_i sorted by score descending (ties by
 * larger id first), padding with -INFINITY / -1 when n < k. get(ctx, j0,
 * nj, buf) must fill buf[0..nj) with the scores of items j0..j0+nj (nj <=
 * 1024). Memory is O(k + 1024). */
int ecb_topk_blocked(size_t n, size_t k,
                     void (*get)(void *ctx, size_t j0, size_t nj, float *buf), void *ctx,
                     float *top_s, int64_t *top_i);

/* ---- product quantizer engine (pq, opq; kmeans is m=1) -------------------- */
/* m sub-quantizers of ksub centroids over dsub = d/m dimensions (ksub =
 * 2^nbits when m > 1; ksub <= 2^nbits for a single codebook),
 * or one codebook shared by all sub-spaces. Codes are packed as above,
 * written code_stride bytes apart. The caller validates parameters (to name
 * them in its messages); the engine returns ECB_EINVAL on nonsense. */
typedef struct ecb_pq {
    size_t d, m, dsub, ksub;
    unsigned nbits;
    int shared;
    float *cb; /* shared ? ksub*dsub : m*ksub*dsub floats, sub-space major */
    float *cbt; /* the same, each codebook transposed (dsub x ksub), refreshed by
                 * ecb_pq_train; used by ecb_pq_lut to vectorise over centroids.
                 * NULL when ksub > 256 (ecb_pq_lut then loops plainly). */
} ecb_pq;

int ecb_pq_init(ecb_pq *pq, size_t d, size_t m, unsigned nbits, size_t ksub, int shared);
void ecb_pq_free(ecb_pq *pq);
size_t ecb_pq_codebook_floats(const ecb_pq *pq);
/* Train on n x d vectors. opts->k is ignored (ksub is used); each sub-space
 * gets its own seed stream derived from opts->seed. With opts->init ==
 * ECB_KMEANS_GIVEN the current codebooks are the warm start. */
int ecb_pq_train(ecb_pq *pq, const ecb_kmeans_opts *opts, const float *x, size_t n);
int ecb_pq_encode(const ecb_pq *pq, const float *x, size_t n, uint8_t *codes,
                  size_t code_stride);
void ecb_pq_decode(const ecb_pq *pq, const uint8_t *codes, size_t n, size_t code_stride,
                   float *x);
/* Lookup table of one query q (d floats): lut[s*ksub + j] = q_s . c_sj for
 * DOT, -||q_s - c_sj||^2 for L2 (m*ksub floats), so that ecb_lut_scan gives
 * q.x^ or -||q - x^||^2 exactly (up to float rounding). */
void ecb_pq_lut(const ecb_pq *pq, ecb_similarity sim, const float *q, float *lut);

/* ---- popcount ------------------------------------------------------------ */
/* Hamming distance between one code and n codes of nbytes each (codes
 * contiguous), written as uint32 into out. The kernel (AVX-512 VPOPCNTDQ,
 * AVX2, POPCNT, portable) follows ecb_cpu(). */
void ecb_hamming_1xn(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                     uint32_t *out);
const char *ecb_popcount_kernel(void); /* name of the chosen kernel */

/* ---- packed sign codes --------------------------------------------------- */
/* Codes of nbits signs, nbytes = ceil(nbits/8) each, bit b in byte b/8 at
 * position b%8 (1 = +1). scores[i*n + j] = -(float)hamming(qcode i, code j)
 * (-0.0f for h = 0), by ecb_hamming_1xn's kernel choice; any packed codes
 * (binary's too) may use it. Codes of 8, 16 and 32 bytes have kernels of
 * their own that write the floats directly. */
void ecb_sign_scores_hamming(const uint8_t *qcodes, size_t nq, const uint8_t *codes, size_t n,
                             size_t nbytes, float *scores);
/* scores[i*n + j] = q_i . s_j for float queries (nq x nbits). Returns 0,
 * ECB_ENOMEM or ECB_ERANGE (block too large for BLAS). */
int ecb_sign_scores_dot(const float *q, size_t nq, const uint8_t *codes, size_t n, size_t nbits,
                        size_t nbytes, float *scores);

/* ---- IEEE binary16 (half) ---------------------------------------------------- */
/* Round to nearest even, gradual underflow, |x| >= 65520 -> +-inf, NaN stays
 * (quiet) NaN; widening is exact. Codes do not depend on the CPU. */
uint16_t ecb_half_from_float(float f);
float ecb_half_to_float(uint16_t h);
/* n floats -> n little-endian halves (2n bytes), and back (F16C when
 * ecb_cpu() has it; the same bits either way). */
void ecb_half_encode(const float *x, size_t n, uint8_t *out);
void ecb_half_decode(const uint8_t *h, size_t n, float *x);

/* ---- scores of float-like codes ------------------------------------------ */
/* widen(ctx, codes, rows, out): decode rows codes into rows x d floats. */
typedef void (*ecb_widen_fn)(const void *ctx, const uint8_t *codes, size_t rows, float *out);
/* scores[i*n + j] = q_i . x_j, or -||q_i - x_j||^2 when l2, with x_j the
 * widened code j (code_size bytes each; widen NULL: the codes are float32
 * rows already, code_size = 4*d, read in place). The blocks are fixed by n
 * and d (the last one padded by ecb_gemm_rows_padded), so one call's scores
 * are reproducible with BLAS on one thread, as in the harness's scan; a
 * subset of the codes or of the queries may score differently in the last
 * bit (see ecb_gemm_rows_padded). Returns 0, ECB_ENOMEM, ECB_ERANGE. */
int ecb_scores_decoded(const void *ctx, ecb_widen_fn widen, int l2, const float *q, size_t nq,
                       const uint8_t *codes, size_t code_size, size_t n, size_t d, float *scores);
/* Rows r such that ecb_scores_decoded on n rows gives, bit for bit, the
 * scores of consecutive calls on ranges of a multiple of r rows (the last
 * one shorter): what a method scoring through it returns from score_rows
 * (since toolkit 1.1). */
size_t ecb_scores_decoded_rows(size_t d);

#ifdef __cplusplus
}
#endif
#endif /* ECBENCH_ECBMATH_H */
