/*
 * Paired per-query statistics (see stats.h). Numerics: the t distribution's
 * tail through the regularized incomplete beta function, evaluated by its
 * continued fraction (modified Lentz), accurate to ~1e-14 relative.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "harness/stats.h"

void ecb_stats_mean_sd(const double *d, size_t n, double *mean, double *sd)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m += d[i];
    m = n ? m / (double)n : 0;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (d[i] - m) * (d[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
}

/* Continued fraction of I_x(a,b) (valid for x < (a+1)/(a+b+2)). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1, dd = 1 - (a + b) * x / (a + 1);
    if (fabs(dd) < tiny) dd = tiny;
    dd = 1 / dd;
    double h = dd;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        dd = 1 + num * dd;
        if (fabs(dd) < tiny) dd = tiny;
        c = 1 + num / c;
        if (fabs(c) < tiny) c = tiny;
        dd = 1 / dd;
        h *= dd * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        dd = 1 + num * dd;
        if (fabs(dd) < tiny) dd = tiny;
        c = 1 + num / c;
        if (fabs(c) < tiny) c = tiny;
        dd = 1 / dd;
        double del = dd * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

double ecb_stats_betainc(double a, double b, double x)
{
    if (!(x > 0)) return 0;
    if (!(x < 1)) return 1;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lfront) * betacf(a, b, x) / a;
    return 1 - exp(lfront) * betacf(b, a, 1 - x) / b;
}

double ecb_stats_t_p2(double t, double df)
{
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return 0;
    double p = ecb_stats_betainc(df / 2, 0.5, df / (df + t * t));
    return p > 1 ? 1 : p;
}

void ecb_stats_ttest(const double *d, size_t n, double *t, double *p)
{
    double mean, sd;
    ecb_stats_mean_sd(d, n, &mean, &sd);
    if (n < 2 || mean == 0) {
        *t = 0;
        *p = 1;
        return;
    }
    /* sd below rounding noise of the mean: a constant shift */
    if (sd <= 1e-12 * fabs(mean)) {
        *t = mean > 0 ? INFINITY : -INFINITY;
        *p = 0;
        return;
    }
    *t = mean / (sd / sqrt((double)n));
    *p = ecb_stats_t_p2(*t, (double)(n - 1));
}

double ecb_stats_signflip(const double *d, size_t n, size_t perms, uint64_t seed)
{
    double *nz = malloc((n ? n : 1) * sizeof *nz);
    if (!nz) return NAN;
    size_t m = 0;
    double obs = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] != 0) {
            nz[m++] = d[i];
            obs += d[i];
            scale += fabs(d[i]);
        }
    if (m == 0) { free(nz); return 1; }
    /* Permuted sums equal to the observed one up to rounding must count. */
    double thr = fabs(obs) - 1e-12 * scale;
    double p;
    if (m < 31 && ((size_t)1 << m) <= perms) {
        /* Exact: Gray-code walk over all 2^m sign patterns. */
        size_t total = (size_t)1 << m, hits = 0;
        double s = obs; /* k = 0: every sign as observed */
        unsigned char *neg = calloc(m, 1);
        if (!neg) { free(nz); return NAN; }
        for (size_t k = 0; k < total; k++) {
            if (k) {
                size_t bit = (size_t)__builtin_ctzll((unsigned long long)k);
                s += neg[bit] ? 2 * nz[bit] : -2 * nz[bit];
                neg[bit] ^= 1;
            }
            if (fabs(s) >= thr) hits++;
        }
        free(neg);
        p = (double)hits / (double)total;
    } else {
        /* Byte tables: tab[g][mask] = sum of the differences of group g
         * (8 consecutive ones) whose bit is set in mask. A random sign
         * pattern then costs one lookup per 8 queries: the flipped sum is
         * obs - 2 * sum(flipped). Padding entries of the last group are 0. */
        size_t ng = (m + 7) / 8;
        double *tab = malloc(ng * 256 * sizeof *tab);
        if (!tab) { free(nz); return NAN; }
        for (size_t g = 0; g < ng; g++) {
            double *t = tab + g * 256;
            t[0] = 0;
            for (unsigned mask = 1; mask < 256; mask++) {
                unsigned j = (unsigned)__builtin_ctz(mask);
                size_t i = g * 8 + j;
                t[mask] = t[mask & (mask - 1)] + (i < m ? nz[i] : 0);
            }
        }
        ecb_rng r;
        ecb_rng_seed2(&r, seed, 0x7369676e666c6970ull); /* "signflip" */
        size_t hits = 0;
        for (size_t k = 0; k < perms; k++) {
            double fl = 0;
            uint64_t bits = 0;
            for (size_t g = 0; g < ng; g++) {
                if ((g & 7) == 0) bits = ecb_rng_next(&r);
                fl += tab[g * 256 + (bits & 0xff)];
                bits >>= 8;
            }
            if (fabs(obs - 2 * fl) >= thr) hits++;
        }
        free(tab);
        p = (1.0 + (double)hits) / (1.0 + (double)perms);
    }
    free(nz);
    return p > 1 ? 1 : p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear interpolation between order statistics (type 7). */
static double quantile_sorted(const double *v, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

void ecb_stats_bootstrap(const double *d, size_t n, size_t B, double level, uint64_t seed,
                         double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (n == 0 || B == 0 || n > UINT32_MAX) return;
    double *means = malloc(B * sizeof *means);
    if (!means) return;
    ecb_rng r;
    ecb_rng_seed2(&r, seed, 0x626f6f74737472ull); /* "bootstr" */
    for (size_t b = 0; b < B; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i += 2) {
            uint64_t x = ecb_rng_next(&r);
            /* multiply-shift: bias below n / 2^32, far under the CI's own error */
            s += d[((x & 0xffffffffu) * n) >> 32];
            if (i + 1 < n) s += d[((x >> 32) * n) >> 32];
        }
        means[b] = s / (double)n;
    }
    qsort(means, B, sizeof *means, cmp_double);
    double a = (1 - level) / 2;
    *lo = quantile_sorted(means, B, a);
    *hi = quantile_sorted(means, B, 1 - a);
    free(means);
}

typedef struct { double p; size_t i; } pidx;

static int cmp_pidx(const void *a, const void *b)
{
    const pidx *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

void ecb_stats_holm(const double *p, size_t n, double *adj)
{
    pidx *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        for (size_t i = 0; i < n; i++) adj[i] = NAN;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(p[i])) v[m++] = (pidx){p[i], i};
    for (size_t i = 0; i < n; i++)
        if (isnan(p[i])) adj[i] = NAN;
    qsort(v, m, sizeof *v, cmp_pidx);
    double run = 0;
    for (size_t j = 0; j < m; j++) {
        double a = (double)(m - j) * v[j].p;
        if (a > 1) a = 1;
        if (a > run) run = a;
        adj[v[j].i] = run;
    }
    free(v);
}
