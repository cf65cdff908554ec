/*
 * The product-quantizer engine shared by pq, opq and kmeans (m = 1):
 * training per sub-space (or one codebook shared by all), encoding by
 * nearest centroid, decoding, and the per-query lookup tables that
 * ecb_lut_scan sums.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

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
    if (pq->shared && m > 1) {
        /* One codebook: a block of nb vectors is nb*m sub-vectors in a row
         * (as in training), assigned by one call instead of m calls over
         * strided copies. Each point's argmin is computed alone, so the
         * codes are those of the per-sub-space calls. */
        for (size_t b = 0; b < n && !rc; b += BLOCK) {
            size_t nb = n - b < BLOCK ? n - b : BLOCK;
            rc = ecb_kmeans_assign(x + b * pq->d, nb * m, ds, pq->cb, pq->ksub, idx, NULL);
            for (size_t i = 0; i < nb && !rc; i++)
                ecb_code_pack(idx + i * m, m, pq->nbits, codes + (b + i) * code_stride);
        }
        goto out;
    }
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
    uint32_t idxs[1024];
    uint32_t *idx = m <= 1024 ? idxs : malloc(m * sizeof *idx);
    if (!idx) { /* cannot fail for m <= 1024; beyond, degrade to zeros */
        memset(x, 0, n * pq->d * sizeof *x);
        return;
    }
    /* Foreign codes (indices past ksub) read centroid 0: stay in bounds.
     * Narrow sub-vectors are copied with constant sizes: a memcpy call per
     * sub-vector made decoding cost more than scoring the block by sgemm
     * (the reconstruction scans of pq.c). */
    const size_t K = pq->ksub, bstride = pq->shared ? 0 : K * ds;
#define PQ_DECODE_LOOP(COPY)                                                               \
    for (size_t i = 0; i < n; i++) {                                                       \
        ecb_code_unpack(codes + i * code_stride, m, pq->nbits, idx);                       \
        float *xi = x + i * pq->d;                                                         \
        const float *book = pq->cb;                                                        \
        for (size_t s = 0; s < m; s++, book += bstride) {                                  \
            const float *c = book + (idx[s] < K ? idx[s] : 0) * ds;                        \
            COPY;                                                                          \
        }                                                                                  \
    }
    switch (ds) { /* constant sizes: inlined moves */
    case 1: PQ_DECODE_LOOP(xi[s] = c[0]) break;
    case 2: PQ_DECODE_LOOP(memcpy(xi + 2 * s, c, 2 * sizeof *x)) break;
    case 4: PQ_DECODE_LOOP(memcpy(xi + 4 * s, c, 4 * sizeof *x)) break;
    case 8: PQ_DECODE_LOOP(memcpy(xi + 8 * s, c, 8 * sizeof *x)) break;
    default: PQ_DECODE_LOOP(memcpy(xi + s * ds, c, ds * sizeof *x)) break;
    }
#undef PQ_DECODE_LOOP
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
