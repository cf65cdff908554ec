/*
 * Codebook codes (pq, opq, rq, kmeans): m indices of nbits each packed as
 * one little-endian bit stream, and the lookup-table (ADC) scan that sums
 * one table entry per index, specialised for the common 8- and 4-bit
 * layouts (and the kmeans method's 2-byte ids).
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

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
    if (nbits == 1 || nbits == 2 || nbits == 4) { /* whole indices per byte */
        /* byte by byte with a constant count per byte: a division by the
         * count per index cost more than the pq reconstruction scans' sgemm */
        const unsigned mk = (1u << nbits) - 1u;
        size_t s = 0;
        switch (nbits) {
        case 4:
            for (; s + 2 <= m; s += 2) {
                uint32_t c = code[s / 2];
                idx[s] = c & 15u;
                idx[s + 1] = c >> 4;
            }
            break;
        case 2:
            for (; s + 4 <= m; s += 4) {
                uint32_t c = code[s / 4];
                idx[s] = c & 3u;
                idx[s + 1] = (c >> 2) & 3u;
                idx[s + 2] = (c >> 4) & 3u;
                idx[s + 3] = c >> 6;
            }
            break;
        default:
            for (; s + 8 <= m; s += 8) {
                uint32_t c = code[s / 8];
                for (unsigned b = 0; b < 8; b++) idx[s + b] = (c >> b) & 1u;
            }
        }
        for (; s < m; s++) idx[s] = (uint32_t)(code[s * nbits / 8] >> ((s * nbits) % 8)) & mk;
        return;
    }
    /* An index of at most 16 bits spans at most three bytes; the next ones
     * are read only when they lie inside the code (ceil(m*nbits/8) bytes). */
    const size_t len = (m * nbits + 7) / 8;
    const uint32_t mask = (1u << nbits) - 1u;
    size_t bit = 0;
    for (size_t s = 0; s < m; s++, bit += nbits) {
        size_t byte = bit >> 3;
        uint32_t w = code[byte];
        if (byte + 1 < len) w |= (uint32_t)code[byte + 1] << 8;
        if (byte + 2 < len) w |= (uint32_t)code[byte + 2] << 16;
        idx[s] = (w >> (bit & 7)) & mask;
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
