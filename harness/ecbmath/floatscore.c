/* Exact scores of float queries against codes that widen to float vectors
 * (float32/16, bfloat16, float8): decode a block that stays in cache, one
 * sgemm, and for L2 the norm terms in double. Shared by the cast methods.
 *
 * Where the time goes, and why the loops are shaped so (issue 13, items 1-2):
 *  - float32 codes (widen NULL) are handed to sgemm where they lie: copying
 *    them first cost more than the product for a single query. Only the
 *    last block, when it must be padded, is copied.
 *  - the L2 terms are subtracted block by block, row by row, while the
 *    block's scores are in cache (the column-wise walk over the whole
 *    nq x n matrix took three times the sgemm's time).
 *  - a block's norms are summed before its sgemm, not after: the block, its
 *    packed copy and its scores just fill a 1 MiB L2, and a norm pass
 *    between the sgemm and the subtraction pushed the scores out (siftsmall,
 *    100 queries in blocks of 48 and 52: the L2 terms cost 0.7 ms more than
 *    a dot product after the sgemm, 0.36 ms before it).
 * The arithmetic is the one it always was, in the same order: sgemm on
 * 64-row padded tiles, each norm a sequential double sum (eight rows at a
 * time, each with its own accumulator; with AVX2 or AVX-512 (ecb_cpu),
 * sixteen rows in vector lanes), then (s - |x|^2) - |q|^2 in float. So scores are
 * bit-identical to the earlier, slower loops, at every CPU level.
 *
 * A single query still goes through sgemm (which packs the block): a
 * dot-product kernel rounds differently from OpenBLAS's sgemm (which splits
 * the sum at its K blocking), so rescoring, which scores one query at a
 * time, would change its numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

enum { TILE = 64 }; /* == ecb_gemm_rows_padded's multiple */

/* out[j] = (float) sum_t x[j*d+t]^2 in double, summed in t order for each
 * row (as one sequential loop would): eight rows at a time so that eight
 * independent sums hide the add latency. */
static void norms(const float *x, size_t c, size_t d, float *out)
{
    size_t j = 0;
    for (; j + 8 <= c; j += 8) {
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const float *r = x + j * d;
        for (size_t t = 0; t < d; t++)
            for (size_t u = 0; u < 8; u++) a[u] += (double)r[u * d + t] * r[u * d + t];
        for (size_t u = 0; u < 8; u++) out[j + u] = (float)a[u];
    }
    for (; j < c; j++) {
        double a = 0;
        for (size_t t = 0; t < d; t++) a += (double)x[j * d + t] * x[j * d + t];
        out[j] = (float)a;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECB_X86_KERNELS 1

/* The same sums, sixteen rows at a time: four rows per vector of doubles
 * (lane = row, so each row's sum still runs in t order), the rows' floats
 * transposed four by four. A square of a float is exact in double, so
 * multiply-then-add and FMA agree; the order of the adds is the contract. */
__attribute__((target("avx2"))) static void norms_avx2(const float *x, size_t c, size_t d,
                                                       float *out)
{
    size_t j = 0;
    for (; j + 16 <= c; j += 16) {
        const float *r = x + j * d;
        __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                          _mm256_setzero_pd()};
        size_t t = 0;
        for (; t + 4 <= d; t += 4)
            for (size_t g = 0; g < 4; g++) {
                const float *p = r + 4 * g * d + t;
                __m128 a0 = _mm_loadu_ps(p), a1 = _mm_loadu_ps(p + d);
                __m128 a2 = _mm_loadu_ps(p + 2 * d), a3 = _mm_loadu_ps(p + 3 * d);
                _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
                __m256d v = _mm256_cvtps_pd(a0);
                acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(v, v));
                v = _mm256_cvtps_pd(a1);
                acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(v, v));
                v = _mm256_cvtps_pd(a2);
                acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(v, v));
                v = _mm256_cvtps_pd(a3);
                acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(v, v));
            }
        for (; t < d; t++)
            for (size_t g = 0; g < 4; g++) {
                const float *p = r + 4 * g * d + t;
                __m256d v = _mm256_cvtps_pd(_mm_setr_ps(p[0], p[d], p[2 * d], p[3 * d]));
                acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(v, v));
            }
        for (size_t g = 0; g < 4; g++) _mm_storeu_ps(out + j + 4 * g, _mm256_cvtpd_ps(acc[g]));
    }
    norms(x + j * d, c - j, d, out + j);
}

/* The same sums, eight rows per vector of doubles (lane = row), the floats
 * transposed eight by eight: half the shuffles and conversions per element
 * of the four-lane version, which were most of its time. */
__attribute__((target("avx512f,avx2"))) static void norms_avx512(const float *x, size_t c,
                                                                 size_t d, float *out)
{
    size_t j = 0;
    for (; j + 16 <= c; j += 16) {
        const float *r = x + j * d;
        __m512d acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
        size_t t = 0;
        for (; t + 8 <= d; t += 8)
            for (size_t g = 0; g < 2; g++) {
                const float *p = r + 8 * g * d + t;
                __m256 a[8], u[8], s[8];
                for (size_t i = 0; i < 8; i++) a[i] = _mm256_loadu_ps(p + i * d);
                for (size_t i = 0; i < 8; i += 2) {
                    u[i] = _mm256_unpacklo_ps(a[i], a[i + 1]);
                    u[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
                }
                for (size_t i = 0; i < 8; i += 4) {
                    s[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
                    s[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
                    s[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
                    s[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
                }
                /* s[i], i < 4: rows 0-3 of column t+i (low half) and of
                 * t+4+i (high half); s[4+i] the same for rows 4-7 */
                for (size_t i = 0; i < 8; i++) {
                    __m256 col = i < 4 ? _mm256_permute2f128_ps(s[i], s[i + 4], 0x20)
                                       : _mm256_permute2f128_ps(s[i - 4], s[i], 0x31);
                    __m512d v = _mm512_cvtps_pd(col);
                    acc[g] = _mm512_add_pd(acc[g], _mm512_mul_pd(v, v));
                }
            }
        for (; t < d; t++)
            for (size_t g = 0; g < 2; g++) {
                const float *p = r + 8 * g * d + t;
                __m512d v = _mm512_cvtps_pd(_mm256_setr_ps(p[0], p[d], p[2 * d], p[3 * d],
                                                           p[4 * d], p[5 * d], p[6 * d], p[7 * d]));
                acc[g] = _mm512_add_pd(acc[g], _mm512_mul_pd(v, v));
            }
        for (size_t g = 0; g < 2; g++) _mm256_storeu_ps(out + j + 8 * g, _mm512_cvtpd_ps(acc[g]));
    }
    norms_avx2(x + j * d, c - j, d, out + j);
}

/* The subtraction pass, sixteen lanes at a time rather than the baseline
 * build's SSE2 four (siftsmall: 0.04 of 2.5 ms per 100 queries). */
__attribute__((target("avx512f,avx2"))) static void correct_avx512(float *s, size_t ld,
                                                                   size_t nq, size_t c,
                                                                   const float *xn,
                                                                   const float *qn)
{
    for (size_t i = 0; i < nq; i++) {
        float *row = s + i * ld;
        __m512 qq = _mm512_set1_ps(qn[i]);
        size_t j = 0;
        for (; j + 16 <= c; j += 16) {
            __m512 v = _mm512_sub_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(xn + j));
            _mm512_storeu_ps(row + j, _mm512_sub_ps(v, qq));
        }
        if (j < c) {
            __mmask16 m = (__mmask16)((1u << (c - j)) - 1);
            __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j),
                                     _mm512_maskz_loadu_ps(m, xn + j));
            _mm512_mask_storeu_ps(row + j, m, _mm512_sub_ps(v, qq));
        }
    }
}
#else
#define ECB_X86_KERNELS 0
#endif

/* -||q-x||^2 = 2 q.x - ||x||^2 - ||q||^2 (s holds 2 q.x): true squared
 * distances, in this order of the two float subtractions. */
static void correct(float *s, size_t ld, size_t nq, size_t c, const float *xn, const float *qn)
{
#if ECB_X86_KERNELS
    if (ecb_cpu()->avx512f) {
        correct_avx512(s, ld, nq, c, xn, qn);
        return;
    }
#endif
    for (size_t i = 0; i < nq; i++) {
        float *row = s + i * ld, qq = qn[i];
        for (size_t j = 0; j < c; j++) row[j] = (row[j] - xn[j]) - qq;
    }
}

static void block_norms(const float *x, size_t c, size_t d, float *out)
{
#if ECB_X86_KERNELS
    if (ecb_cpu()->avx512f) norms_avx512(x, c, d, out);
    else if (ecb_cpu()->avx2) norms_avx2(x, c, d, out);
    else
#endif
        norms(x, c, d, out);
}

/* Blocks of about 512 KiB of decoded floats stay in L2 during the sgemm;
 * whole multiples of the padding, so that only the last block is padded
 * (ecb_gemm_rows_padded: a code's score must not depend on its row). A call
 * on n rows makes the sgemm calls of consecutive calls on ranges of a
 * multiple of this many rows (the last range shorter): each range starts a
 * block, and a short range is one block, padded as the last block was. */
size_t ecb_scores_decoded_rows(size_t d)
{
    size_t bs = d ? 131072 / d : TILE;
    return bs < TILE ? TILE : bs / TILE * TILE;
}

int ecb_scores_decoded(const void *ctx, ecb_widen_fn widen, int l2, const float *q, size_t nq,
                       const uint8_t *codes, size_t code_size, size_t n, size_t d, float *scores)
{
    if (nq == 0 || n == 0) return 0;
    size_t bs = ecb_scores_decoded_rows(d);
    if (bs > n) bs = ecb_gemm_rows_padded(n);
    /* Only the last block can be padded; it is scored by one sgemm of its
     * padded row count, as it always was: OpenBLAS's rounding depends on the
     * row count of the call, not only on a row's tile (tests/unit/
     * test_search.c, scores_decoded_shapes). */
    size_t nlast = n % bs, plast = nlast % TILE ? ecb_gemm_rows_padded(nlast) : 0;
    /* scratch: the decoded block (float32: the padded last block only), the
     * padded block's nq x plast scores, the block's norms, the queries' norms */
    size_t xrows = widen ? bs : plast;
    size_t nf = xrows * d + nq * plast + (l2 ? bs + nq : 0);
    float *buf = malloc(nf * sizeof *buf + 1);
    if (!buf) return ECB_ENOMEM;
    float *xb = buf, *last = xb + xrows * d;
    float *xn = last + nq * plast, *qn = xn + (l2 ? bs : 0);
    /* the queries' norms by the rows' kernel (the same sequential sums): a
     * scan that scores a block range by range computes them once per range,
     * and the scalar loop cost a tenth of a 320-row range's sgemm at d = 384 */
    if (l2) block_norms(q, nq, d, qn);
    float alpha = l2 ? 2.0f : 1.0f;
    int rc = 0;
    for (size_t j0 = 0; j0 < n; j0 += bs) {
        size_t c = n - j0 < bs ? n - j0 : bs, cp = ecb_gemm_rows_padded(c);
        const float *x; /* the block's c rows */
        if (widen) {
            widen(ctx, codes + j0 * code_size, c, xb);
            x = xb;
        } else if (cp != c) {
            memcpy(xb, codes + j0 * code_size, c * d * sizeof *xb);
            x = xb;
        } else {
            x = (const float *)(const void *)(codes + j0 * code_size);
        }
        if (l2) block_norms(x, c, d, xn); /* before the sgemm: see the opening comment */
        if (cp != c) {
            memset(xb + c * d, 0, (cp - c) * d * sizeof *xb);
            if (ecb_gemm_nt(nq, cp, d, alpha, q, d, x, d, 0.0f, last, cp)) {
                rc = ECB_ERANGE;
                break;
            }
            for (size_t i = 0; i < nq; i++)
                memcpy(scores + i * n + j0, last + i * cp, c * sizeof *scores);
        } else if (ecb_gemm_nt(nq, c, d, alpha, q, d, x, d, 0.0f, scores + j0, n)) {
            rc = ECB_ERANGE;
            break;
        }
        if (l2) correct(scores + j0, n, nq, c, xn, qn);
    }
    free(buf);
    return rc;
}
