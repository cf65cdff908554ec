/*
 * Hamming distance kernels for packed binary codes (binary, lsh, itq, ...).
 *
 * Four implementations giving bit-identical results, the widest one the CPU
 * has picked at run time (the build has no -march=native, so each kernel is
 * compiled for its own target with __attribute__((target))):
 *  - avx512: AVX-512 VPOPCNTDQ on 64-byte chunks, masked loads for the tail
 *    (needs avx512f + avx512bw + avx512vpopcntdq); codes of at most 32
 *    bytes go to POPCNT, cheaper than a vector horizontal sum;
 *  - avx2:   nibble lookup with vpshufb (Mula, Kurz & Lemire, "Faster
 *    population counts using AVX2 instructions", 2018) on 32-byte chunks,
 *    byte counts summed with vpsadbw, the < 32-byte tail with POPCNT;
 *  - popcnt: the POPCNT instruction on 64-bit words;
 *  - portable: SWAR popcount on 64-bit words.
 * Codes are read with unaligned loads; nbytes need not be a multiple of
 * anything. The kernel follows ecb_cpu(): ECBENCH_CPU=avx2|popcnt|generic
 * selects a narrower one (benchmarks, tests).
 */
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECB_POPCOUNT_X86 1
#else
#define ECB_POPCOUNT_X86 0
#endif

#include "ecbench/ecbmath.h"

typedef void (*hamming_fn)(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                           uint32_t *out);

enum { PC_PORTABLE = 0, PC_POPCNT = 1, PC_AVX2 = 2, PC_AVX512 = 3, PC_NKERNELS = 4 };
static const char *const pc_names[PC_NKERNELS] = {"portable", "popcnt", "avx2", "avx512"};

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- portable ------------------------------------------------------------ */

static inline uint32_t swar_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

static uint32_t tail_portable(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint64_t x = 0;
    for (size_t t = 0; t < len; t++) x |= (uint64_t)(a[t] ^ b[t]) << (8 * t);
    return swar_popcount64(x);
}

static void hamming_portable(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                             uint32_t *out)
{
    size_t nw = nbytes / 8, rest = nbytes % 8;
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * nbytes;
        uint32_t h = 0;
        for (size_t w = 0; w < nw; w++) h += swar_popcount64(load64(a + 8 * w) ^ load64(c + 8 * w));
        if (rest) h += tail_portable(a + 8 * nw, c + 8 * nw, rest);
        out[j] = h;
    }
}

#if ECB_POPCOUNT_X86
/* ---- POPCNT ---------------------------------------------------------------- */

__attribute__((target("popcnt"))) static inline uint32_t popcnt_span(const uint8_t *a,
                                                                    const uint8_t *c,
                                                                    size_t len)
{
    uint64_t h = 0;
    size_t w = 0;
    for (; w + 8 <= len; w += 8) h += (uint64_t)__builtin_popcountll(load64(a + w) ^ load64(c + w));
    if (w < len) {
        uint64_t x = 0;
        for (size_t t = w; t < len; t++) x |= (uint64_t)(a[t] ^ c[t]) << (8 * (t - w));
        h += (uint64_t)__builtin_popcountll(x);
    }
    return (uint32_t)h;
}

__attribute__((target("popcnt"))) static void hamming_popcnt(const uint8_t *a,
                                                             const uint8_t *codes, size_t n,
                                                             size_t nbytes, uint32_t *out)
{
    for (size_t j = 0; j < n; j++) out[j] = popcnt_span(a, codes + j * nbytes, nbytes);
}

/* ---- AVX2: nibble LUT + vpsadbw --------------------------------------------- */

__attribute__((target("avx2,popcnt"))) static void hamming_avx2(const uint8_t *a,
                                                                const uint8_t *codes, size_t n,
                                                                size_t nbytes, uint32_t *out)
{
    if (nbytes < 32) {
        hamming_popcnt(a, codes, n, nbytes, out);
        return;
    }
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    size_t full = nbytes / 32 * 32;
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * nbytes;
        __m256i acc = zero;
        for (size_t off = 0; off < full; off += 32) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + off)),
                                         _mm256_loadu_si256((const __m256i *)(c + off)));
            __m256i lo = _mm256_and_si256(v, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            __m256i cnt =
                _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(cnt, zero));
        }
        __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        uint64_t h = (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
        if (full < nbytes) h += popcnt_span(a + full, c + full, nbytes - full);
        out[j] = (uint32_t)h;
    }
}

/* ---- AVX-512 VPOPCNTDQ ------------------------------------------------------ */

__attribute__((target("avx512f,avx512bw,avx512vpopcntdq,popcnt"))) static void
hamming_avx512(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes, uint32_t *out)
{
    if (nbytes <= 32) {
        /* Up to four words: scalar POPCNT beats a vector horizontal sum. */
        hamming_popcnt(a, codes, n, nbytes, out);
        return;
    }
    size_t full = nbytes / 64 * 64, rest = nbytes - full;
    /* Masked loads never touch the bytes they mask out, so the tail reads
     * stay inside the code. */
    __mmask64 tm = rest ? (~0ull >> (64 - rest)) : 0;
    __m512i qa_tail = _mm512_maskz_loadu_epi8(tm, a + full);
    if (full == 64) {
        /* Common small codes (64 < nbytes <= 128, e.g. 768-d binary = 96
         * bytes): keep the query in registers. */
        __m512i qa = _mm512_loadu_si512((const void *)a);
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * nbytes;
            __m512i v = _mm512_popcnt_epi64(
                _mm512_xor_si512(qa, _mm512_loadu_si512((const void *)c)));
            __m512i t = _mm512_popcnt_epi64(
                _mm512_xor_si512(qa_tail, _mm512_maskz_loadu_epi8(tm, c + 64)));
            out[j] = (uint32_t)_mm512_reduce_add_epi64(_mm512_add_epi64(v, t));
        }
        return;
    }
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * nbytes;
        __m512i acc = _mm512_setzero_si512();
        for (size_t off = 0; off < full; off += 64)
            acc = _mm512_add_epi64(
                acc, _mm512_popcnt_epi64(
                         _mm512_xor_si512(_mm512_loadu_si512((const void *)(a + off)),
                                          _mm512_loadu_si512((const void *)(c + off)))));
        if (rest)
            acc = _mm512_add_epi64(
                acc, _mm512_popcnt_epi64(
                         _mm512_xor_si512(qa_tail, _mm512_maskz_loadu_epi8(tm, c + full))));
        out[j] = (uint32_t)_mm512_reduce_add_epi64(acc);
    }
}
#endif /* ECB_POPCOUNT_X86 */

/* ---- dispatch ------------------------------------------------------------ */

static int pc_supported(int k)
{
    const ecb_cpu_features *c = ecb_cpu();
    switch (k) {
    case PC_PORTABLE: return 1;
#if ECB_POPCOUNT_X86
    case PC_POPCNT: return c->popcnt;
    case PC_AVX2: return c->avx2 && c->popcnt;
    case PC_AVX512: return c->avx512f && c->avx512bw && c->avx512vpopcntdq && c->popcnt;
#endif
    default: (void)c; return 0;
    }
}

static hamming_fn pc_fn(int k)
{
    switch (k) {
#if ECB_POPCOUNT_X86
    case PC_POPCNT: return hamming_popcnt;
    case PC_AVX2: return hamming_avx2;
    case PC_AVX512: return hamming_avx512;
#endif
    default: return hamming_portable;
    }
}

/* The widest kernel the (possibly capped) CPU level allows. */
static int pc_kernel(void)
{
    for (int k = PC_NKERNELS - 1; k > 0; k--)
        if (pc_supported(k)) return k;
    return PC_PORTABLE;
}

void ecb_hamming_1xn(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                     uint32_t *out)
{
    if (n == 0) return;
    if (nbytes == 0) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    pc_fn(pc_kernel())(a, codes, n, nbytes, out);
}

const char *ecb_popcount_kernel(void) { return pc_names[pc_kernel()]; }
