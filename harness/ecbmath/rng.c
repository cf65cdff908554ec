/*
 * Seeded RNG for everything random in ecbench: xoshiro256** (Blackman and
 * Vigna, 2018) seeded through splitmix64, so any 64-bit seed (including 0)
 * gives a well-mixed state. Only integer arithmetic, sqrt and log are used,
 * so streams are identical on every platform with IEEE doubles and a
 * correctly rounded log (glibc's is).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ecb_rng_seed(ecb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of a counter, so four consecutive outputs are
     * never all zero: the all-zero xoshiro state cannot occur. */
}

void ecb_rng_seed2(ecb_rng *r, uint64_t seed, uint64_t stream)
{
    /* Hash the stream tag first so that (seed, stream) and (seed+1, stream-1)
     * do not collide the way a plain sum would. */
    uint64_t t = stream ^ 0x6a09e667f3bcc909ull;
    uint64_t h = splitmix64(&t);
    ecb_rng_seed(r, seed ^ rotl(h, 17) ^ (h >> 7));
}

uint64_t ecb_rng_next(ecb_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ecb_rng_uniform(ecb_rng *r)
{
    return (double)(ecb_rng_next(r) >> 11) * 0x1.0p-53;
}

double ecb_rng_normal(ecb_rng *r)
{
    /* Marsaglia's polar form of Box-Muller: no trigonometric calls, whose
     * last-bit results differ between libms. The second variate is dropped
     * because the state has no room to cache it; the cost is irrelevant next
     * to what the variates are used for. */
    for (;;) {
        double u = 2.0 * ecb_rng_uniform(r) - 1.0;
        double v = 2.0 * ecb_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}

size_t ecb_rng_below(ecb_rng *r, size_t n)
{
    if (n <= 1) return 0;
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t bound = (uint64_t)n;
    unsigned __int128 m = (unsigned __int128)ecb_rng_next(r) * bound;
    uint64_t lo = (uint64_t)m;
    if (lo < bound) {
        uint64_t thresh = (0 - bound) % bound;
        while (lo < thresh) {
            m = (unsigned __int128)ecb_rng_next(r) * bound;
            lo = (uint64_t)m;
        }
    }
    return (size_t)(m >> 64);
}

/* Knuth's selection sampling (Algorithm S): one pass over [0,n), output
 * already sorted, no memory. Picks t with probability (k-m)/(n-t), exact in
 * integers. */
static void sample_selection(ecb_rng *r, size_t n, size_t k, size_t *out)
{
    size_t m = 0;
    for (size_t t = 0; t < n && m < k; t++)
        if (ecb_rng_below(r, n - t) < k - m) out[m++] = t;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

void ecb_rng_sample(ecb_rng *r, size_t n, size_t k, size_t *out)
{
    if (k > n) k = n;
    if (k == 0) return;
    /* Selection sampling costs O(n); Floyd's algorithm O(k log k) with a hash
     * set. Use Floyd only when k is small against n. */
    if (k > n / 16 || k > ((size_t)1 << 40)) {
        sample_selection(r, n, k, out);
        return;
    }
    size_t cap = 16;
    while (cap < 2 * k) cap <<= 1;
    size_t *set = malloc(cap * sizeof *set);
    if (!set) { /* out of memory: the O(n) path needs none */
        sample_selection(r, n, k, out);
        return;
    }
    const size_t empty = (size_t)-1;
    memset(set, 0xff, cap * sizeof *set);
    size_t mask = cap - 1, m = 0;
    for (size_t j = n - k; j < n; j++) {
        size_t t = ecb_rng_below(r, j + 1);
        /* Insert t, or j if t is already present (Floyd). j > every earlier
         * candidate, so it is never present. */
        size_t h = (size_t)((t * 0x9e3779b97f4a7c15ull) >> 17) & mask;
        int present = 0;
        while (set[h] != empty) {
            if (set[h] == t) { present = 1; break; }
            h = (h + 1) & mask;
        }
        size_t v = present ? j : t;
        if (present) {
            h = (size_t)((v * 0x9e3779b97f4a7c15ull) >> 17) & mask;
            while (set[h] != empty) h = (h + 1) & mask;
        }
        set[h] = v;
        out[m++] = v;
    }
    free(set);
    qsort(out, k, sizeof *out, cmp_size);
}
