/*
 * Paired statistics for per-query metrics (DESIGN D4): a compressed cell's
 * per-query scores against the baseline's on the same queries. All tests
 * take the paired differences d[i] = cell[i] - baseline[i].
 *
 * - paired two-sided Student t-test;
 * - paired randomization (sign-flip) test: under H0 each difference is as
 *   likely to have the other sign; exact enumeration when 2^n' (n' = nonzero
 *   differences) is at most the permutation budget, Monte Carlo otherwise,
 *   seeded, p = (1 + #{|mean*| >= |mean|}) / (1 + B) so p is never 0;
 * - percentile bootstrap confidence interval of the mean difference, seeded;
 * - Holm's step-down correction of a family of p-values.
 */
#ifndef ECB_STATS_H
#define ECB_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Mean and sample standard deviation (n-1); sd = 0 when n < 2. */
void ecb_stats_mean_sd(const double *d, size_t n, double *mean, double *sd);

/* Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1]. */
double ecb_stats_betainc(double a, double b, double x);
/* Two-sided p-value of Student's t with df degrees of freedom. */
double ecb_stats_t_p2(double t, double df);

/* Paired t-test on differences. n < 2 or all d equal to zero: t = 0, p = 1;
 * all d equal and nonzero (sd = 0): t = +-inf, p = 0. */
void ecb_stats_ttest(const double *d, size_t n, double *t, double *p);

/* Sign-flip randomization test of mean(d) = 0 with at most `perms`
 * permutations (exact when 2^nonzero <= perms). Returns the two-sided p;
 * 1 when every difference is zero. Reproducible for a given seed. */
double ecb_stats_signflip(const double *d, size_t n, size_t perms, uint64_t seed);

/* Percentile bootstrap CI (level, e.g. 0.95) of mean(d) from B resamples.
 * n = 0: NaN bounds. */
void ecb_stats_bootstrap(const double *d, size_t n, size_t B, double level, uint64_t seed,
                         double *lo, double *hi);

/* Holm-adjusted p-values of a family of n tests: adj[i] for p[i]; NaN
 * entries are not part of the family and stay NaN. adj may alias p. */
void ecb_stats_holm(const double *p, size_t n, double *adj);

#endif
