/* Scoring of packed sign codes (bit b of a code is byte b/8, bit b%8, LSB
 * first; 1 = +1, 0 = -1), shared by the hashing methods (lsh, itq). */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

enum { SIGN_BLOCK = 256 };

/* ecb_sign_scores_hamming is in popcount.c, beside the kernels it picks. */

int ecb_sign_scores_dot(const float *q, size_t nq, const uint8_t *codes, size_t n, size_t nbits,
                        size_t nbytes, float *scores)
{
    if (n == 0) return 0;
    /* Unpack a block of codes to +-1 floats and let sgemm do the nq x block
     * dot products. */
    size_t c = n < SIGN_BLOCK ? n : SIGN_BLOCK;
    float *S = malloc(c * nbits * sizeof *S);
    if (!S) return ECB_ENOMEM;
    /* A byte's eight signs come from a table (one 32-byte copy instead of
     * eight tests): the unpacking cost as much as the product when the
     * harness scores a few queries at a time. */
    float tab[256][8];
    for (size_t v = 0; v < 256; v++)
        for (size_t b = 0; b < 8; b++) tab[v][b] = (v >> b) & 1 ? 1.0f : -1.0f;
    size_t whole = nbits / 8;
    for (size_t j0 = 0; j0 < n; j0 += SIGN_BLOCK) {
        c = n - j0 < SIGN_BLOCK ? n - j0 : SIGN_BLOCK;
        for (size_t j = 0; j < c; j++) {
            const uint8_t *code = codes + (j0 + j) * nbytes;
            float *row = S + j * nbits;
            for (size_t g = 0; g < whole; g++) memcpy(row + 8 * g, tab[code[g]], sizeof tab[0]);
            for (size_t b = 8 * whole; b < nbits; b++)
                row[b] = (code[b >> 3] >> (b & 7)) & 1 ? 1.0f : -1.0f;
        }
        if (ecb_gemm_nt(nq, c, nbits, 1.0f, q, nbits, S, nbits, 0.0f, scores + j0, n)) {
            free(S);
            return ECB_ERANGE;
        }
    }
    free(S);
    return 0;
}
