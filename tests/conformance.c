/*
 * Conformance test every plugin passes automatically (meson adds one test
 * per every methods/ file): load and validate, one exported symbol, create/destroy
 * (destroy(NULL) too), training, code size consistency, determinism under a
 * fixed seed, encode/decode round trip where decode exists, both scoring
 * modes or a clean refusal, block-split and batch-split invariance of
 * score(), and n = 0 / n = 1 edge cases. Buffers are allocated exactly, so
 * the ASan build catches any read or write past them.
 *
 * usage: conformance PLUGIN.so
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/host.h"
#include "ecbench/ecbmath.h"
#include "harness/params.h"
#include "harness/registry.h"
#include "testutil.h"

static const char *plugin_path;
static ecb_plugin plug;

static const size_t try_dims[] = {64, 128, 96, 256, 768};

/* Clustered Gaussian data: realistic enough for trained methods. */
static float *make_data(size_t n, size_t d, uint64_t seed, int unit)
{
    float *x = malloc(n * d * sizeof *x);
    float *cent = malloc(16 * d * sizeof *cent);
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t i = 0; i < 16 * d; i++) cent[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        size_t c = ecb_rng_below(&r, 16);
        double nn = 0;
        for (size_t t = 0; t < d; t++) {
            x[i * d + t] = cent[c * d + t] + 0.5f * (float)ecb_rng_normal(&r) * (float)(1.0 + 3.0 / (1.0 + (double)t));
            nn += (double)x[i * d + t] * x[i * d + t];
        }
        if (unit && nn > 0)
            for (size_t t = 0; t < d; t++) x[i * d + t] /= (float)sqrt(nn);
    }
    free(cent);
    return x;
}

typedef struct {
    ecb_host host;
    ecb_method *m;
    void *params;
    size_t dim, out_dim;
} inst;

static int make_inst(inst *in, size_t dim, ecb_similarity sim, uint64_t seed)
{
    memset(in, 0, sizeof *in);
    ecb_host_init(&in->host, seed, 1);
    in->params = calloc(1, plug.vt.params_size ? plug.vt.params_size : 1);
    ecb_params_defaults(plug.vt.params, in->params);
    in->dim = dim;
    int rc = plug.vt.create(&in->host, in->params, dim, sim, &in->m);
    if (rc == 0) {
        assert_non_null(in->m);
        in->m->vt = &plug.vt;
        in->out_dim = (plug.vt.flags & ECB_METHOD_TRANSFORM) ? plug.vt.out_dim(in->m) : dim;
    }
    return rc;
}

static void free_inst(inst *in)
{
    plug.vt.destroy(in->m);
    free(in->params);
    in->m = NULL;
}

/* First dimension at which the default parameters are accepted. */
static size_t find_dim(ecb_similarity sim)
{
    for (size_t i = 0; i < sizeof try_dims / sizeof *try_dims; i++) {
        inst in;
        int rc = make_inst(&in, try_dims[i], sim, 1);
        if (rc == 0) {
            free_inst(&in);
            return try_dims[i];
        }
        free(in.params);
    }
    return 0;
}

static void test_load_and_symbols(void **state)
{
    (void)state;
    assert_int_equal(plug.rejected, 0);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>/dev/null", plugin_path);
    FILE *f = popen(cmd, "r");
    if (!f) TU_SKIP("nm not available");
    char line[512];
    int exported = 0, ours = 0;
    char expect[300];
    snprintf(expect, sizeof expect, "ecb_method_%s", plug.stem);
    while (fgets(line, sizeof line, f)) {
        char addr[64], type[8], name[400];
        if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3) continue;
        if (strcmp(type, "T") != 0 && strcmp(type, "D") != 0 && strcmp(type, "B") != 0 &&
            strcmp(type, "R") != 0 && strcmp(type, "W") != 0 && strcmp(type, "i") != 0)
            continue;
        if (strcmp(name, "_init") == 0 || strcmp(name, "_fini") == 0) continue;
        exported++;
        if (strcmp(name, expect) == 0) ours++;
        else fprintf(stderr, "unexpected exported symbol: %s\n", name);
    }
    pclose(f);
    assert_int_equal(ours, 1);
    assert_int_equal(exported, 1);
    plug.vt.destroy(NULL); /* must be a no-op */
}

static void test_params_table(void **state)
{
    (void)state;
    assert_int_equal(ecb_params_validate(plug.vt.params, plugin_path), 0);
    /* unknown keys are rejected with the method named */
    void *p = calloc(1, plug.vt.params_size ? plug.vt.params_size : 1);
    cJSON *o = cJSON_Parse("{\"no_such_param_xyz\": 1}");
    assert_int_not_equal(ecb_params_fill(plug.vt.params, o, p, "test", plug.vt.name), 0);
    assert_non_null(strstr(ecb_last_error(), "no_such_param_xyz"));
    cJSON_Delete(o);
    free(p);
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, p, n);
    return ecb_hash_final(&h);
}

static void run_transform(ecb_similarity sim)
{
    size_t dim = find_dim(sim);
    if (!dim) fail_msg("%s: default parameters rejected at every dim tried: %s", plug.stem, ecb_last_error());
    size_t n = 600;
    float *x = make_data(n, dim, 7, sim == ECB_SIM_DOT);
    inst a, b;
    assert_int_equal(make_inst(&a, dim, sim, 99), 0);
    assert_int_equal(make_inst(&b, dim, sim, 99), 0);
    if (plug.vt.train) {
        assert_int_equal(plug.vt.train(a.m, x, n), 0);
        assert_int_equal(plug.vt.train(b.m, x, n), 0);
    }
    size_t od = a.out_dim;
    assert_true(od > 0);
    float *ya = malloc(n * od * sizeof *ya), *yb = malloc(n * od * sizeof *yb);
    assert_int_equal(plug.vt.transform(a.m, x, n, ya), 0);
    assert_int_equal(plug.vt.transform(b.m, x, n, yb), 0);
    assert_memory_equal(ya, yb, n * od * sizeof *ya); /* deterministic under a seed */
    for (size_t i = 0; i < n * od; i++) assert_true(isfinite(ya[i]));
    /* row independence: transforming one row gives the same values */
    float *y1 = malloc(od * sizeof *y1);
    assert_int_equal(plug.vt.transform(a.m, x + 5 * dim, 1, y1), 0);
    for (size_t t = 0; t < od; t++) assert_float_equal(y1[t], ya[5 * od + t], 1e-5);
    assert_int_equal(plug.vt.transform(a.m, x, 0, y1), 0);
    free(y1);
    free(ya);
    free(yb);
    free(x);
    free_inst(&a);
    free_inst(&b);
}

static void run_quantizer(ecb_similarity sim)
{
    size_t dim = find_dim(sim);
    if (!dim) fail_msg("%s: default parameters rejected at every dim tried: %s", plug.stem, ecb_last_error());
    size_t n = 3000, nq = 5;
    float *x = make_data(n, dim, 11, sim == ECB_SIM_DOT);
    float *q = make_data(nq, dim, 12, sim == ECB_SIM_DOT);
    inst a, b;
    assert_int_equal(make_inst(&a, dim, sim, 1234), 0);
    assert_int_equal(make_inst(&b, dim, sim, 1234), 0);
    if (plug.vt.flags & ECB_METHOD_NEEDS_TRAIN) assert_non_null(plug.vt.train);
    if (plug.vt.train) {
        int rc = plug.vt.train(a.m, x, n);
        if (rc) fail_msg("%s: train failed: %s", plug.stem, ecb_last_error());
        assert_int_equal(plug.vt.train(b.m, x, n), 0);
    }
    size_t cs = plug.vt.code_size(a.m);
    assert_true(cs > 0);
    assert_int_equal(cs, plug.vt.code_size(b.m));
    (void)plug.vt.aux_bytes(a.m);

    uint8_t *ca = malloc(n * cs), *cb = malloc(n * cs);
    assert_int_equal(plug.vt.encode(a.m, x, n, ca), 0);
    assert_int_equal(plug.vt.encode(b.m, x, n, cb), 0);
    /* determinism under a fixed seed: two instances, identical codes */
    assert_true(hash_bytes(ca, n * cs) == hash_bytes(cb, n * cs));
    /* rows are encoded independently: one row alone gives the same bytes */
    uint8_t *one = malloc(cs);
    assert_int_equal(plug.vt.encode(a.m, x + 17 * dim, 1, one), 0);
    assert_memory_equal(one, ca + 17 * cs, cs);
    free(one);
    assert_int_equal(plug.vt.encode(a.m, x, 0, cb), 0); /* n = 0 */

    if (plug.vt.flags & ECB_METHOD_DECODE) {
        float *xh = malloc(n * dim * sizeof *xh);
        assert_int_equal(plug.vt.decode(a.m, ca, n, xh), 0);
        double err = 0, ref = 0;
        for (size_t i = 0; i < n * dim; i++) {
            assert_true(isfinite(xh[i]));
            err += ((double)x[i] - xh[i]) * ((double)x[i] - xh[i]);
            ref += (double)x[i] * x[i];
        }
        /* a reconstruction must beat the zero vector */
        if (!(err < ref)) fail_msg("%s: decode error %g not below signal energy %g", plug.stem, err, ref);
        free(xh);
    }

    for (int mode = 0; mode < 2; mode++) {
        uint32_t need = mode == ECB_MODE_SYMMETRIC ? ECB_METHOD_SYMMETRIC : ECB_METHOD_ASYMMETRIC;
        if (!(plug.vt.flags & need)) continue; /* clean refusal: the runner skips */
        size_t qs = plug.vt.query_size(a.m, (ecb_mode)mode);
        assert_true(qs > 0);
        uint8_t *pq = malloc(nq * qs);
        assert_int_equal(plug.vt.prepare(a.m, (ecb_mode)mode, q, nq, pq), 0);
        float *s_all = malloc(nq * n * sizeof *s_all);
        assert_int_equal(plug.vt.score(a.m, (ecb_mode)mode, pq, nq, ca, n, s_all), 0);
        for (size_t i = 0; i < nq * n; i++) assert_true(isfinite(s_all[i]));
        /* block split: scoring rows [h, n) alone gives the same scores */
        size_t h = 1001;
        float *s_part = malloc(nq * (n - h) * sizeof *s_part);
        assert_int_equal(plug.vt.score(a.m, (ecb_mode)mode, pq, nq, ca + h * cs, n - h, s_part), 0);
        for (size_t i = 0; i < nq; i++)
            for (size_t j = h; j < n; j++)
                assert_float_equal(s_part[i * (n - h) + j - h], s_all[i * n + j],
                                   1e-4 * (1.0 + fabs(s_all[i * n + j])));
        /* batch split: query 3 alone gives the same scores */
        float *s_one = malloc(n * sizeof *s_one);
        uint8_t *p1 = malloc(qs);
        assert_int_equal(plug.vt.prepare(a.m, (ecb_mode)mode, q + 3 * dim, 1, p1), 0);
        assert_int_equal(plug.vt.score(a.m, (ecb_mode)mode, p1, 1, ca, n, s_one), 0);
        for (size_t j = 0; j < n; j++)
            assert_float_equal(s_one[j], s_all[3 * n + j], 1e-4 * (1.0 + fabs(s_one[j])));
        /* a single code works */
        assert_int_equal(plug.vt.score(a.m, (ecb_mode)mode, p1, 1, ca + (n - 1) * cs, 1, s_one), 0);
        free(p1);
        free(s_one);
        free(s_part);
        free(s_all);
        free(pq);
    }
    free(ca);
    free(cb);
    free(x);
    free(q);
    free_inst(&a);
    free_inst(&b);
}

static void test_dot(void **state)
{
    (void)state;
    if (plug.vt.flags & ECB_METHOD_TRANSFORM) run_transform(ECB_SIM_DOT);
    else run_quantizer(ECB_SIM_DOT);
}

static void test_l2(void **state)
{
    (void)state;
    if (plug.vt.flags & ECB_METHOD_TRANSFORM) run_transform(ECB_SIM_L2);
    else run_quantizer(ECB_SIM_L2);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: conformance PLUGIN.so\n");
        return 2;
    }
    plugin_path = argv[1];
    ecb_plugin_open(plugin_path, &plug);
    if (plug.rejected) {
        fprintf(stderr, "conformance: %s\n", plug.reason);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_symbols),
        cmocka_unit_test(test_params_table),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_l2),
    };
    char name[300];
    snprintf(name, sizeof name, "conformance-%s", plug.stem);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
