/* Paired statistics (harness/stats.c) on cases with known answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"
#include "harness/stats.h"

static void test_betainc_known(void **state)
{
    (void)state;
    /* I_0.5(2,3) = sum_{j=2..4} C(4,j)/16 = 11/16 */
    assert_true(fabs(ecb_stats_betainc(2, 3, 0.5) - 11.0 / 16) < 1e-13);
    /* I_x(1,1) = x; I_x(a,1) = x^a */
    assert_true(fabs(ecb_stats_betainc(1, 1, 0.3) - 0.3) < 1e-13);
    assert_true(fabs(ecb_stats_betainc(3, 1, 0.7) - 0.343) < 1e-13);
    assert_true(ecb_stats_betainc(2, 2, 0) == 0);
    assert_true(ecb_stats_betainc(2, 2, 1) == 1);
}

static void test_t_distribution(void **state)
{
    (void)state;
    /* df = 1 is Cauchy: p = 1 - (2/pi) atan(|t|) */
    assert_true(fabs(ecb_stats_t_p2(1.0, 1) - 0.5) < 1e-12);
    assert_true(fabs(ecb_stats_t_p2(2.0, 1) - (1 - 2 / M_PI * atan(2.0))) < 1e-12);
    assert_true(fabs(ecb_stats_t_p2(0.0, 7) - 1.0) < 1e-12);
    /* large df tends to the normal: p(1.959964) ~ 0.05 */
    assert_true(fabs(ecb_stats_t_p2(1.959963985, 1e7) - 0.05) < 1e-5);
}

static void test_ttest_hand_computed(void **state)
{
    (void)state;
    /* d = 1,2,3,4: mean 2.5, sd sqrt(5/3), t = 2.5 / (sd/2) = 3.8729833462;
     * df = 3 closed form: F(t) = 1/2 + (x/(1+x^2) + atan x)/pi, x = t/sqrt 3,
     * p = 2(1 - F) = 0.0304662917 */
    const double d[] = {1, 2, 3, 4};
    double t, p;
    ecb_stats_ttest(d, 4, &t, &p);
    assert_true(fabs(t - 3.872983346207417) < 1e-12);
    assert_true(fabs(p - 0.030466291662170963) < 1e-10);
    /* sign symmetry */
    const double e[] = {-1, -2, -3, -4};
    double t2, p2;
    ecb_stats_ttest(e, 4, &t2, &p2);
    assert_true(fabs(t2 + t) < 1e-12 && fabs(p2 - p) < 1e-14);
    /* n = 2: d = 1, 3 -> t = 2 with df 1 */
    const double f[] = {1, 3};
    ecb_stats_ttest(f, 2, &t, &p);
    assert_true(fabs(t - 2) < 1e-12);
    assert_true(fabs(p - (1 - 2 / M_PI * atan(2.0))) < 1e-12);
}

static void test_identical_runs(void **state)
{
    (void)state;
    double d[50] = {0};
    double t, p, lo, hi;
    ecb_stats_ttest(d, 50, &t, &p);
    assert_true(t == 0 && p == 1);
    assert_true(ecb_stats_signflip(d, 50, 10000, 1) == 1.0);
    ecb_stats_bootstrap(d, 50, 1000, 0.95, 1, &lo, &hi);
    assert_true(lo == 0 && hi == 0);
}

static void test_constant_shift(void **state)
{
    (void)state;
    double d[50];
    for (int i = 0; i < 50; i++) d[i] = -0.1;
    double t, p, lo, hi;
    ecb_stats_ttest(d, 50, &t, &p);
    assert_true(isinf(t) && t < 0 && p == 0);
    /* Monte Carlo (2^50 > 10000): only the identity pattern reaches |sum|,
     * up to chance: p = (1 + hits) / 10001 with hits ~ 0 */
    double pr = ecb_stats_signflip(d, 50, 10000, 7);
    assert_true(pr < 2.0 / 10001 + 1e-15);
    assert_true(pr >= 1.0 / 10001 - 1e-15);
    ecb_stats_bootstrap(d, 50, 2000, 0.95, 7, &lo, &hi);
    assert_true(fabs(lo + 0.1) < 1e-12 && fabs(hi + 0.1) < 1e-12);
    /* n = 10: exact enumeration of 1024 sign patterns, two reach |sum| */
    assert_true(fabs(ecb_stats_signflip(d, 10, 10000, 7) - 2.0 / 1024) < 1e-15);
}

static void test_signflip_exact_small(void **state)
{
    (void)state;
    /* sums of +-1 +-2 +-3: 6 4 2 0 0 -2 -4 -6; |s| >= 6 in 2 of 8 */
    const double d[] = {1, 2, 3};
    assert_true(fabs(ecb_stats_signflip(d, 3, 10000, 0) - 0.25) < 1e-15);
    /* zeros are not permuted (they change nothing) */
    const double z[] = {1, 0, 2, 0, 3};
    assert_true(fabs(ecb_stats_signflip(z, 5, 10000, 0) - 0.25) < 1e-15);
    /* |s| >= 2 for d = 1,1,1,1 -> 4 +-... : sums 4,2,2,2,2,0x6,-2x4,-4 -> 10/16 */
    const double o[] = {1, 1, 1, 1};
    assert_true(fabs(ecb_stats_signflip(o, 4, 16, 0) - 2.0 / 16) < 1e-15);
}

static void test_signflip_reproducible(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 123);
    double d[200];
    for (int i = 0; i < 200; i++) d[i] = 0.1 * ecb_rng_normal(&r) + 0.012;
    double p1 = ecb_stats_signflip(d, 200, 10000, 99);
    double p2 = ecb_stats_signflip(d, 200, 10000, 99);
    double p3 = ecb_stats_signflip(d, 200, 10000, 100);
    assert_true(p1 == p2);
    assert_true(p1 > 0 && p1 < 1);
    /* another seed: another Monte Carlo estimate of the same p */
    assert_true(fabs(p1 - p3) < 0.03);
    /* and the randomization p agrees with the t-test p on such data */
    double t, pt;
    ecb_stats_ttest(d, 200, &t, &pt);
    assert_true(fabs(p1 - pt) < 0.03);
    double lo1, hi1, lo2, hi2;
    ecb_stats_bootstrap(d, 200, 5000, 0.95, 5, &lo1, &hi1);
    ecb_stats_bootstrap(d, 200, 5000, 0.95, 5, &lo2, &hi2);
    assert_true(lo1 == lo2 && hi1 == hi2);
    double mean, sd;
    ecb_stats_mean_sd(d, 200, &mean, &sd);
    assert_true(lo1 < mean && mean < hi1);
    /* the percentile CI is close to mean +- 1.96 sd / sqrt(n) */
    double half = 1.96 * sd / sqrt(200.0);
    assert_true(fabs((hi1 - lo1) / 2 - half) < 0.15 * half);
}

static void test_holm(void **state)
{
    (void)state;
    /* sorted 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1, monotone -> 0.06) */
    const double p[] = {0.01, 0.04, 0.03, NAN};
    double adj[4];
    ecb_stats_holm(p, 4, adj);
    assert_true(fabs(adj[0] - 0.03) < 1e-15);
    assert_true(fabs(adj[1] - 0.06) < 1e-15);
    assert_true(fabs(adj[2] - 0.06) < 1e-15);
    assert_true(isnan(adj[3]));
    /* capped at 1, and in place */
    double q[] = {0.5, 0.6};
    ecb_stats_holm(q, 2, q);
    assert_true(q[0] == 1 && q[1] == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_betainc_known),
        cmocka_unit_test(test_t_distribution),
        cmocka_unit_test(test_ttest_hand_computed),
        cmocka_unit_test(test_identical_runs),
        cmocka_unit_test(test_constant_shift),
        cmocka_unit_test(test_signflip_exact_small),
        cmocka_unit_test(test_signflip_reproducible),
        cmocka_unit_test(test_holm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
