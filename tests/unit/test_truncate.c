/*
 * Unit tests of the truncate transform: prefix kept, renormalisation by
 * hand (3-4-12 triangle), zero vectors, dim=0 identity, in-place use, and
 * the clear rejection of dim > input dimension.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/truncate.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 1, 1);
    return 0;
}

static ecb_method *mk(size_t dim, int renorm, size_t in)
{
    struct trunc_params p = {dim, renorm};
    ecb_method *m = NULL;
    int rc = trunc_create(&H, &p, in, ECB_SIM_DOT, &m);
    if (rc) fail_msg("trunc_create: %s", ecb_last_error());
    return m;
}

static void test_truncate(void **state)
{
    (void)state;
    const float x[6] = {3, 4, 12, 0, 0, 7};
    float y[4];
    ecb_method *m = mk(2, 0, 3);
    assert_int_equal(trunc_out_dim(m), 2);
    assert_int_equal(trunc_code_size(m), 8);
    assert_int_equal(trunc_aux_bytes(m), 0);
    assert_int_equal(trunc_transform(m, x, 2, y), 0);
    assert_true(y[0] == 3 && y[1] == 4 && y[2] == 0 && y[3] == 0);
    trunc_destroy(m);
    /* Renormalised: (3,4)/5; the zero prefix stays zero (no NaN). */
    m = mk(2, 1, 3);
    assert_int_equal(trunc_transform(m, x, 2, y), 0);
    assert_float_equal(y[0], 0.6f, 1e-7);
    assert_float_equal(y[1], 0.8f, 1e-7);
    assert_true(y[2] == 0 && y[3] == 0);
    assert_int_equal(trunc_transform(m, x, 0, y), 0);
    trunc_destroy(m);
    /* dim = 0 keeps everything; renormalise the full vector 3,4,12 -> /13. */
    m = mk(0, 1, 3);
    assert_int_equal(trunc_out_dim(m), 3);
    float z[3];
    trunc_transform(m, x, 1, z);
    assert_float_equal(z[2], 12.0f / 13.0f, 1e-7);
    trunc_destroy(m);
    /* In place (y == x), odd dims. */
    float buf[3 * 13];
    for (int t = 0; t < 39; t++) buf[t] = (float)t;
    m = mk(5, 0, 13);
    trunc_transform(m, buf, 3, buf);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) assert_true(buf[i * 5 + j] == (float)(i * 13 + j));
    trunc_destroy(m);
    trunc_destroy(NULL);
}

static void test_reject(void **state)
{
    (void)state;
    struct trunc_params p = {129, 0};
    ecb_method *m = NULL;
    assert_int_equal(trunc_create(&H, &p, 128, ECB_SIM_L2, &m), ECB_EINVAL);
    const char *e = ecb_last_error();
    assert_non_null(strstr(e, "truncate"));
    assert_non_null(strstr(e, "dim"));
    assert_non_null(strstr(e, "128"));
    assert_non_null(strstr(e, "129"));
    p.dim = 128;
    assert_int_equal(trunc_create(&H, &p, 128, ECB_SIM_L2, &m), 0);
    trunc_destroy(m);
    const ecb_method_vtable *vt = ecb_method_truncate();
    assert_true(vt->flags & ECB_METHOD_TRANSFORM);
    assert_true(vt->flags & ECB_METHOD_SYMMETRIC);
    assert_true(vt->flags & ECB_METHOD_ASYMMETRIC);
    assert_non_null(vt->out_dim);
    assert_non_null(vt->transform);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_truncate, setup),
        cmocka_unit_test_setup(test_reject, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
