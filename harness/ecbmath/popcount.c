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
 * anything.
 *
 * ecb_sign_scores_hamming writes -hamming as float directly. Codes of 8, 16 or
 * 32 bytes (binary/lsh/itq at 64-256 bits), and with AVX-512 codes of 33
 * to 127 bytes, have float kernels of their own there:
 * the generic loops above spent more on loop control, the uint32 buffer and
 * its second pass than on the counts. AVX-512 counts 16 codes per
 * iteration (the query broadcast over a zmm, lane pairs summed with
 * permutes); POPCNT/AVX2 keep the query words in registers.
 * The kernel follows ecb_cpu(): ECBENCH_CPU=avx2|popcnt|generic selects a
 * narrower one (benchmarks, tests).
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
/* -hamming as float, for one code size */
typedef void (*hamming_neg_fn)(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                               float *out);

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

/* ---- -hamming as float for 8/16/32-byte codes ------------------------------- */

/* -(float)h, not (float)-h: h = 0 must give -0.0f, as the generic path's
 * -(float)dist always did (scores are compared bit for bit). */
__attribute__((target("popcnt"), always_inline)) static inline void
neg_popcnt_w(const uint8_t *a, const uint8_t *codes, size_t n, size_t w, float *out)
{
    uint64_t q0 = load64(a), q1 = w > 1 ? load64(a + 8) : 0;
    uint64_t q2 = w > 2 ? load64(a + 16) : 0, q3 = w > 2 ? load64(a + 24) : 0;
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * 8 * w;
        uint32_t h = (uint32_t)__builtin_popcountll(q0 ^ load64(c));
        if (w > 1) h += (uint32_t)__builtin_popcountll(q1 ^ load64(c + 8));
        if (w > 2)
            h += (uint32_t)(__builtin_popcountll(q2 ^ load64(c + 16)) +
                            __builtin_popcountll(q3 ^ load64(c + 24)));
        out[j] = -(float)h;
    }
}

__attribute__((target("popcnt"))) static void neg_popcnt_8(const uint8_t *a, const uint8_t *codes,
                                                           size_t n, size_t nbytes, float *out)
{
    (void)nbytes;
    neg_popcnt_w(a, codes, n, 1, out);
}
__attribute__((target("popcnt"))) static void neg_popcnt_16(const uint8_t *a,
                                                            const uint8_t *codes, size_t n, size_t nbytes,
                                                            float *out)
{
    (void)nbytes;
    neg_popcnt_w(a, codes, n, 2, out);
}
__attribute__((target("popcnt"))) static void neg_popcnt_32(const uint8_t *a,
                                                            const uint8_t *codes, size_t n, size_t nbytes,
                                                            float *out)
{
    (void)nbytes;
    neg_popcnt_w(a, codes, n, 4, out);
}

#define PC_AVX512_TARGET "avx512f,avx512bw,avx512vpopcntdq,popcnt"

/* Lane-pair sums: out[i] = v[2i] + v[2i+1] over the 16 words of a then b. */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline __m512i
pc512_pairs(__m512i a, __m512i b)
{
    const __m512i ev = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i od = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    return _mm512_add_epi64(_mm512_permutex2var_epi64(a, ev, b),
                            _mm512_permutex2var_epi64(a, od, b));
}

/* Word popcounts of q ^ (8 words at p); words past the mask are loaded as
 * zero (never read), their counts belong to codes that are not stored. */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline __m512i
pc512_words(__m512i q, const uint8_t *p, __mmask8 m, int full)
{
    __m512i v = full ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi64(m, p);
    return _mm512_popcnt_epi64(_mm512_xor_si512(q, v));
}

static inline __mmask8 pc512_mask(size_t words, size_t r)
{
    return (__mmask8)(words >= 8 * r + 8 ? 0xff : words > 8 * r ? (1u << (words - 8 * r)) - 1 : 0);
}

/* Hamming distances of the first `cnt` (<= 8) codes of w words at c, as
 * 8 words in code order. */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline __m512i
pc512_8codes(__m512i q, const uint8_t *c, size_t w, size_t cnt, int full)
{
    size_t words = cnt * w;
    if (w == 1) return pc512_words(q, c, pc512_mask(words, 0), full);
    __m512i y0 = pc512_pairs(pc512_words(q, c, pc512_mask(words, 0), full),
                             pc512_words(q, c + 64, pc512_mask(words, 1), full));
    if (w == 2) return y0;
    __m512i y1 = pc512_pairs(pc512_words(q, c + 128, pc512_mask(words, 2), full),
                             pc512_words(q, c + 192, pc512_mask(words, 3), full));
    return pc512_pairs(y0, y1);
}

/* Two groups of 8 distances (< 2^8, in the low dwords) to 16 floats -h. */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline __m512
pc512_neg_floats(__m512i h0, __m512i h1)
{
    const __m512i lo = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i h = _mm512_permutex2var_epi32(h0, lo, h1);
    __m512i f = _mm512_castps_si512(_mm512_cvtepi32_ps(h));
    return _mm512_castsi512_ps(_mm512_xor_si512(f, _mm512_set1_epi32(INT32_MIN)));
}

__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline void
neg_avx512_w(const uint8_t *a, const uint8_t *codes, size_t n, size_t w, float *out)
{
    __m512i q = w == 1   ? _mm512_set1_epi64((long long)load64(a))
                : w == 2 ? _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a))
                         : _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a));
    size_t nb = 8 * w, j = 0;
    for (; j + 16 <= n; j += 16) {
        const uint8_t *c = codes + j * nb;
        __m512i h0 = pc512_8codes(q, c, w, 8, 1), h1 = pc512_8codes(q, c + 8 * nb, w, 8, 1);
        _mm512_storeu_ps(out + j, pc512_neg_floats(h0, h1));
    }
    if (j < n) {
        /* masked loads and store: nothing past the last code is touched */
        size_t rest = n - j, c0 = rest < 8 ? rest : 8;
        const uint8_t *c = codes + j * nb;
        __m512i h0 = pc512_8codes(q, c, w, c0, 0);
        __m512i h1 = rest > 8 ? pc512_8codes(q, c + 8 * nb, w, rest - 8, 0) : h0;
        _mm512_mask_storeu_ps(out + j, (__mmask16)((1u << rest) - 1), pc512_neg_floats(h0, h1));
    }
}

__attribute__((target(PC_AVX512_TARGET))) static void neg_avx512_8(const uint8_t *a,
                                                                   const uint8_t *codes,
                                                                   size_t n, size_t nbytes, float *out)
{
    (void)nbytes;
    neg_avx512_w(a, codes, n, 1, out);
}
__attribute__((target(PC_AVX512_TARGET))) static void neg_avx512_16(const uint8_t *a,
                                                                    const uint8_t *codes,
                                                                    size_t n, size_t nbytes, float *out)
{
    (void)nbytes;
    neg_avx512_w(a, codes, n, 2, out);
}
__attribute__((target(PC_AVX512_TARGET))) static void neg_avx512_32(const uint8_t *a,
                                                                    const uint8_t *codes,
                                                                    size_t n, size_t nbytes, float *out)
{
    (void)nbytes;
    neg_avx512_w(a, codes, n, 4, out);
}
/* Word counts of one code of 33-127 bytes: its 64-byte chunk, if full is
 * 64, and the masked tail (q0: the query's first chunk, qt: its tail). */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline __m512i
pc512_long_code(__m512i q0, __m512i qt, __mmask64 tm, const uint8_t *p, size_t full)
{
    __m512i acc =
        _mm512_popcnt_epi64(_mm512_xor_si512(qt, _mm512_maskz_loadu_epi8(tm, p + full)));
    if (full)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                                        q0, _mm512_loadu_si512((const void *)p))));
    return acc;
}

/* Codes of 33-127 bytes: per code a zmm of word counts, then 8 codes'
 * vectors summed to 8 totals by a tree of lane-pair sums (7 for 8 codes,
 * where a horizontal sum per code cost about as many shuffles each). The
 * 8 codes are spelled out so that their vectors stay in registers. */
__attribute__((target(PC_AVX512_TARGET), always_inline)) static inline void
neg_avx512_long_w(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes, size_t full,
                  float *out)
{
    size_t rest = nbytes - full, j = 0;
    __mmask64 tm = rest ? (~0ull >> (64 - rest)) : 0;
    __m512i qt = _mm512_maskz_loadu_epi8(tm, a + full);
    __m512i q0 = full ? _mm512_loadu_si512((const void *)a) : qt;
    const __m256i sign = _mm256_set1_epi32(INT32_MIN);
    for (; j + 8 <= n; j += 8) {
        const uint8_t *p = codes + j * nbytes;
#define PC512_CODE(c) pc512_long_code(q0, qt, tm, p + (c) * nbytes, full)
        __m512i h = pc512_pairs(pc512_pairs(pc512_pairs(PC512_CODE(0), PC512_CODE(1)),
                                            pc512_pairs(PC512_CODE(2), PC512_CODE(3))),
                                pc512_pairs(pc512_pairs(PC512_CODE(4), PC512_CODE(5)),
                                            pc512_pairs(PC512_CODE(6), PC512_CODE(7))));
#undef PC512_CODE
        __m256 f = _mm256_cvtepi32_ps(_mm512_cvtepi64_epi32(h));
        _mm256_storeu_ps(out + j, _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(f), sign)));
    }
    if (j < n) {
        uint32_t h[8];
        hamming_avx512(a, codes + j * nbytes, n - j, nbytes, h);
        for (size_t c = 0; c < n - j; c++) out[j + c] = -(float)h[c];
    }
}

__attribute__((target(PC_AVX512_TARGET))) static void neg_avx512_long(const uint8_t *a,
                                                                      const uint8_t *codes,
                                                                      size_t n, size_t nbytes,
                                                                      float *out)
{
    /* 33-127 bytes (pc_neg_fn): no chunk or one, a constant count each */
    if (nbytes >= 64) neg_avx512_long_w(a, codes, n, nbytes, 64, out);
    else neg_avx512_long_w(a, codes, n, nbytes, 0, out);
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

/* The float kernel of kernel k for nbytes, or NULL (the generic kernel
 * and a conversion pass then). */
static hamming_neg_fn pc_neg_fn(int k, size_t nbytes)
{
    int w = nbytes == 8 ? 0 : nbytes == 16 ? 1 : nbytes == 32 ? 2 : -1;
#if ECB_POPCOUNT_X86
    /* 33-127 bytes only: from 192 bytes on, the 8-code tree ran 1.1-1.35x
     * slower than the one-code kernel plus a conversion pass (768 bytes,
     * lsh nbits=6144: 9.6 against 7.2 ns per code), and at 128 they tie */
    if (k == PC_AVX512 && nbytes > 32 && nbytes < 128) return neg_avx512_long;
#endif
    if (w < 0) return NULL;
    switch (k) {
#if ECB_POPCOUNT_X86
    case PC_POPCNT:
    case PC_AVX2: {
        /* AVX2 has no vector popcount; four POPCNTs beat the nibble LUT's
         * per-code horizontal sum at 32 bytes */
        static const hamming_neg_fn f[3] = {neg_popcnt_8, neg_popcnt_16, neg_popcnt_32};
        return f[w];
    }
    case PC_AVX512: {
        static const hamming_neg_fn f[3] = {neg_avx512_8, neg_avx512_16, neg_avx512_32};
        return f[w];
    }
#endif
    default: return NULL;
    }
}

/* Codes per tile of a multi-query scan: every query goes over a tile of
 * about 32 KiB of codes (in L1) before the next tile. Query by query over
 * the whole block, a block larger than the caches (the harness passes up to
 * 65,536 codes: 50 MB at 6,144 bits) was read from memory once per query, at
 * a fraction of the kernels' speed. A multiple of 16 codes, the AVX-512
 * kernels' step, so that only the block's last tile has a tail. The counts
 * are integers: the order changes nothing. */
static size_t hamming_tile(size_t nbytes)
{
    size_t t = nbytes ? ((size_t)32 << 10) / nbytes : 4096;
    return t < 16 ? 16 : t / 16 * 16;
}

static void hamming_scores_with(int k, const uint8_t *qcodes, size_t nq, const uint8_t *codes,
                                size_t n, size_t nbytes, float *scores)
{
    if (nq == 0 || n == 0) return;
    size_t tile = hamming_tile(nbytes);
    hamming_neg_fn f = pc_neg_fn(k, nbytes);
    if (f) {
        for (size_t j0 = 0; j0 < n; j0 += tile) {
            size_t c = n - j0 < tile ? n - j0 : tile;
            for (size_t i = 0; i < nq; i++)
                f(qcodes + i * nbytes, codes + j0 * nbytes, c, nbytes, scores + i * n + j0);
        }
        return;
    }
    enum { CHUNK = 256 };
    uint32_t dist[CHUNK];
    for (size_t t0 = 0; t0 < n; t0 += tile) {
        size_t t1 = n - t0 < tile ? n : t0 + tile;
        for (size_t i = 0; i < nq; i++)
            for (size_t j0 = t0; j0 < t1; j0 += CHUNK) {
                size_t c = t1 - j0 < CHUNK ? t1 - j0 : CHUNK;
                if (nbytes == 0) memset(dist, 0, c * sizeof *dist);
                else pc_fn(k)(qcodes + i * nbytes, codes + j0 * nbytes, c, nbytes, dist);
                for (size_t j = 0; j < c; j++) scores[i * n + j0 + j] = -(float)dist[j];
            }
    }
}

void ecb_sign_scores_hamming(const uint8_t *qcodes, size_t nq, const uint8_t *codes, size_t n,
                             size_t nbytes, float *scores)
{
    hamming_scores_with(pc_kernel(), qcodes, nq, codes, n, nbytes, scores);
}

const char *ecb_popcount_kernel(void) { return pc_names[pc_kernel()]; }
