/* Exact scores of float queries against codes that widen to float vectors
 * (float32/16, bfloat16, float8): decode a block that stays in cache, one
 * sgemm, and for L2 the norm terms in double. Shared by the cast methods. */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

int ecb_scores_decoded(const void *ctx, ecb_widen_fn widen, int l2, const float *q, size_t nq,
                       const uint8_t *codes, size_t code_size, size_t n, size_t d, float *scores)
{
    if (nq == 0 || n == 0) return 0;
    /* Blocks of about 512 KiB of decoded floats stay in L2 during the sgemm;
     * whole multiples of the padding, so that only the last block is padded
     * (ecb_gemm_rows_padded: a code's score must not depend on its row). */
    size_t bs = d ? 131072 / d : n;
    bs = bs < 64 ? 64 : bs / 64 * 64;
    if (bs > n) bs = ecb_gemm_rows_padded(n);
    float *tmp = malloc(bs * d * sizeof *tmp + 1);
    float *last = NULL; /* nq x padded scores of a partial block */
    if (!tmp) return ECB_ENOMEM;
    int rc = 0;
    for (size_t j0 = 0; j0 < n; j0 += bs) {
        size_t c = n - j0 < bs ? n - j0 : bs, cp = ecb_gemm_rows_padded(c);
        widen(ctx, codes + j0 * code_size, c, tmp);
        float *out = scores + j0;
        size_t ldc = n;
        if (cp != c) {
            memset(tmp + c * d, 0, (cp - c) * d * sizeof *tmp);
            if (!(last = malloc(nq * cp * sizeof *last))) {
                rc = ECB_ENOMEM;
                break;
            }
            out = last;
            ldc = cp;
        }
        if (ecb_gemm_nt(nq, cp, d, l2 ? 2.0f : 1.0f, q, d, tmp, d, 0.0f, out, ldc)) {
            rc = ECB_ERANGE;
            break;
        }
        if (last)
            for (size_t i = 0; i < nq; i++)
                memcpy(scores + i * n + j0, last + i * cp, c * sizeof *scores);
        /* -||q-x||^2 = 2 q.x - ||x||^2 - ||q||^2: true squared distances */
        if (l2)
            for (size_t j = 0; j < c; j++) {
                double xx = 0;
                for (size_t t = 0; t < d; t++) xx += (double)tmp[j * d + t] * tmp[j * d + t];
                for (size_t i = 0; i < nq; i++) scores[i * n + j0 + j] -= (float)xx;
            }
    }
    free(tmp);
    free(last);
    if (rc == 0 && l2)
        for (size_t i = 0; i < nq; i++) {
            double qq = 0;
            for (size_t t = 0; t < d; t++) qq += (double)q[i * d + t] * q[i * d + t];
            for (size_t j = 0; j < n; j++) scores[i * n + j] -= (float)qq;
        }
    return rc;
}
