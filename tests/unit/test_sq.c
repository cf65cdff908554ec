/*
 * Unit tests of the sq plugin: exact bytes per vector for every bit width
 * and odd dimensions, cell boundaries and clipping, bit packing across byte
 * boundaries (bits 3, 4, 5, 7 against hand-packed bytes and a bit-by-bit
 * reference), percentile and quantile calibration against numpy's
 * interpolation (values derived by hand), global ranges, hand-computed
 * scores in both modes and similarities, the vector scan against a double
 * precision reference, and scores independent of how a batch is split.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/sq.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 11, 1);
    return 0;
}

static struct sq_params P(size_t bits, int cal, double clip, int ranges)
{
    struct sq_params p = {bits, cal, clip, ranges};
    return p;
}

static sq_state *mk(struct sq_params p, size_t dim, ecb_similarity sim)
{
    ecb_method *m = NULL;
    int rc = sq_create(&H, &p, dim, sim, &m);
    if (rc) fail_msg("sq_create: %s", ecb_last_error());
    return (sq_state *)m;
}

static void test_code_size(void **state)
{
    (void)state;
    const size_t dims[] = {1, 2, 3, 5, 7, 8, 9, 13, 100, 767, 768, 769};
    for (size_t bits = 1; bits <= 8; bits++)
        for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
            size_t d = dims[di];
            for (int cal = 0; cal < 3; cal++)
                for (int rg = 0; rg < 2; rg++) {
                    sq_state *s = mk(P(bits, cal, 2.5, rg), d, ECB_SIM_DOT);
                    assert_int_equal(sq_code_size(&s->base), (bits * d + 7) / 8);
                    size_t L = (size_t)1 << bits, ranges = rg == SQ_GLOBAL ? 1 : d;
                    size_t per = cal == SQ_QUANTILE ? 2 * L - 1 : 2;
                    assert_int_equal(sq_aux_bytes(&s->base), ranges * per * 4);
                    sq_destroy(&s->base);
                }
        }
    /* A few by hand. */
    sq_state *s = mk(P(3, SQ_MINMAX, 0, SQ_PER_DIM), 13, ECB_SIM_DOT);
    assert_int_equal(sq_code_size(&s->base), 5); /* 39 bits */
    sq_destroy(&s->base);
    s = mk(P(7, SQ_MINMAX, 0, SQ_PER_DIM), 768, ECB_SIM_DOT);
    assert_int_equal(sq_code_size(&s->base), 672);
    sq_destroy(&s->base);
}

static void test_boundaries(void **state)
{
    (void)state;
    /* bits=3 on [0, 8]: cells of width 1, boundary values go up, the top
     * value and beyond clip to 7, below 0 clips to 0. */
    sq_state *s = mk(P(3, SQ_MINMAX, 0, SQ_PER_DIM), 1, ECB_SIM_DOT);
    const float tr[2] = {0, 8};
    assert_int_equal(sq_train(&s->base, tr, 2), 0);
    const float xs[] = {-1, 0, 0.999f, 1, 2.5f, 3, 7, 7.99f, 8, 100};
    const unsigned want[] = {0, 0, 0, 1, 2, 3, 7, 7, 7, 7};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        uint8_t c = 0xff;
        assert_int_equal(sq_encode(&s->base, xs + i, 1, &c), 0);
        assert_int_equal(c, want[i]);
        float back;
        assert_int_equal(sq_decode(&s->base, &c, 1, &back), 0);
        assert_true(back == (float)want[i] + 0.5f); /* cell centre */
    }
    sq_destroy(&s->base);
    /* bits=2 on [-1, 1]: boundaries -0.5, 0, 0.5. */
    s = mk(P(2, SQ_MINMAX, 0, SQ_PER_DIM), 1, ECB_SIM_DOT);
    const float tr2[3] = {1, -1, 0.3f};
    assert_int_equal(sq_train(&s->base, tr2, 3), 0);
    const float ys[] = {-1, -0.50001f, -0.5f, -0.1f, 0, 0.49f, 0.5f, 1, 2};
    const unsigned want2[] = {0, 0, 1, 1, 2, 2, 3, 3, 3};
    const float rec[4] = {-0.75f, -0.25f, 0.25f, 0.75f};
    for (size_t i = 0; i < sizeof ys / sizeof *ys; i++) {
        uint8_t c;
        sq_encode(&s->base, ys + i, 1, &c);
        assert_int_equal(c, want2[i]);
        float back;
        sq_decode(&s->base, &c, 1, &back);
        assert_true(back == rec[want2[i]]);
    }
    sq_destroy(&s->base);
}

/* Train on {0, L} so that cells are 1 wide and x = c + 0.5 encodes to c. */
static sq_state *unit_cells(size_t bits, size_t dim)
{
    sq_state *s = mk(P(bits, SQ_MINMAX, 0, SQ_PER_DIM), dim, ECB_SIM_DOT);
    float *tr = calloc(2 * dim, sizeof *tr);
    for (size_t j = 0; j < dim; j++) tr[dim + j] = (float)((size_t)1 << bits);
    assert_int_equal(sq_train(&s->base, tr, 2), 0);
    free(tr);
    return s;
}

static void check_pack(size_t bits, const unsigned *codes, size_t dim, const uint8_t *want,
                       size_t nb)
{
    sq_state *s = unit_cells(bits, dim);
    assert_int_equal(sq_code_size(&s->base), nb);
    float x[16], back[16];
    for (size_t j = 0; j < dim; j++) x[j] = (float)codes[j] + 0.5f;
    uint8_t got[16];
    memset(got, 0xee, sizeof got);
    sq_encode(&s->base, x, 1, got);
    assert_memory_equal(got, want, nb);
    assert_int_equal(got[nb], 0xee); /* nothing written past the code */
    sq_decode(&s->base, got, 1, back);
    for (size_t j = 0; j < dim; j++) assert_true(back[j] == x[j]);
    sq_destroy(&s->base);
}

static void test_packing(void **state)
{
    (void)state;
    /* LSB-first bit stream, worked by hand:
     * bits=3, codes 1,2,3,4,5 -> stream 001 010 011 100 101 (LSB first):
     *   byte0 = 1 | 2<<3 | (3&3)<<6 = 0xd1, byte1 = 3>>2 | 4<<1 | 5<<4 = 0x58. */
    const unsigned c3[] = {1, 2, 3, 4, 5};
    const uint8_t w3[] = {0xd1, 0x58};
    check_pack(3, c3, 5, w3, 2);
    /* bits=4: dimension 2k is the low nibble of byte k. */
    const unsigned c4[] = {5, 10, 15};
    const uint8_t w4[] = {0xa5, 0x0f};
    check_pack(4, c4, 3, w4, 2);
    /* bits=5, codes 1,17,30,5,31: 1 | 17<<5 | 30<<10 | 5<<15 | 31<<20
     * = 0x1f2fa21 -> 21 fa f2 01. */
    const unsigned c5[] = {1, 17, 30, 5, 31};
    const uint8_t w5[] = {0x21, 0xfa, 0xf2, 0x01};
    check_pack(5, c5, 5, w5, 4);
    /* bits=7, codes 1,100,127: 1 | 100<<7 | 127<<14 = 0x1ff201. */
    const unsigned c7[] = {1, 100, 127};
    const uint8_t w7[] = {0x01, 0xf2, 0x1f};
    check_pack(7, c7, 3, w7, 3);
    /* Every width and dimension 1..40 against a bit-by-bit packer. */
    ecb_rng r;
    ecb_rng_seed(&r, 5);
    for (size_t bits = 1; bits <= 8; bits++)
        for (size_t dim = 1; dim <= 40; dim++) {
            sq_state *s = unit_cells(bits, dim);
            unsigned codes[40];
            float x[40];
            uint8_t want[40] = {0}, got[41];
            for (size_t j = 0; j < dim; j++) {
                codes[j] = (unsigned)ecb_rng_below(&r, (size_t)1 << bits);
                x[j] = (float)codes[j] + 0.5f;
                for (size_t b = 0; b < bits; b++)
                    if (codes[j] >> b & 1u) {
                        size_t bit = j * bits + b;
                        want[bit / 8] |= (uint8_t)(1u << (bit % 8));
                    }
            }
            size_t nb = (bits * dim + 7) / 8;
            got[nb] = 0xee;
            sq_encode(&s->base, x, 1, got);
            assert_memory_equal(got, want, nb);
            assert_int_equal(got[nb], 0xee);
            for (size_t j = 0; j < dim; j++) assert_int_equal(sq_unpack1(s, got, j), codes[j]);
            sq_destroy(&s->base);
        }
}

static void test_percentile(void **state)
{
    (void)state;
    /* 101 values 0..100 in dim 0 and 0..200 (step 2, reversed) in dim 1:
     * numpy.percentile(linear) gives [2.5, 97.5] and [5, 195]. */
    float tr[101 * 2];
    for (int i = 0; i < 101; i++) {
        tr[2 * i] = (float)i;
        tr[2 * i + 1] = (float)(200 - 2 * i);
    }
    sq_state *s = mk(P(1, SQ_PERCENTILE, 2.5, SQ_PER_DIM), 2, ECB_SIM_DOT);
    assert_int_equal(sq_train(&s->base, tr, 101), 0);
    assert_true(s->lo[0] == 2.5f && s->w[0] == 47.5f);
    assert_true(s->lo[1] == 5.0f && s->w[1] == 95.0f);
    /* Boundary at 50 (dim 0) and 100 (dim 1); the clipped tails land in
     * the end cells. */
    const float x[8] = {49.9f, 99.9f, 50, 100, -1000, 1000, 1000, -1000};
    uint8_t c[4];
    sq_encode(&s->base, x, 4, c);
    assert_int_equal(c[0], 0x0);
    assert_int_equal(c[1], 0x3);
    assert_int_equal(c[2], 0x2);
    assert_int_equal(c[3], 0x1);
    float back[2];
    sq_decode(&s->base, &c[1], 1, back);
    assert_true(back[0] == 73.75f && back[1] == 147.5f);
    sq_destroy(&s->base);
}

static void test_quantile(void **state)
{
    (void)state;
    /* Values 1..8 (shuffled), bits=2: numpy.quantile gives edges
     * [2.75, 4.5, 6.25] and cell medians [1.875, 3.625, 5.375, 7.125]. */
    const float tr[8] = {5, 1, 8, 3, 2, 7, 4, 6};
    sq_state *s = mk(P(2, SQ_QUANTILE, 0, SQ_PER_DIM), 1, ECB_SIM_DOT);
    assert_int_equal(sq_train(&s->base, tr, 8), 0);
    assert_true(s->edges[0] == 2.75f && s->edges[1] == 4.5f && s->edges[2] == 6.25f);
    const float xs[] = {-100, 2.7f, 2.75f, 4.49f, 4.5f, 6.25f, 100};
    const unsigned want[] = {0, 0, 1, 1, 2, 3, 3};
    const float rec[4] = {1.875f, 3.625f, 5.375f, 7.125f};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        uint8_t c;
        sq_encode(&s->base, xs + i, 1, &c);
        assert_int_equal(c, want[i]);
        float back;
        sq_decode(&s->base, &c, 1, &back);
        assert_true(back == rec[want[i]]);
    }
    assert_int_equal(sq_aux_bytes(&s->base), 7 * 4);
    sq_destroy(&s->base);
}

static void test_global(void **state)
{
    (void)state;
    /* dim 0 in [0, 1], dim 1 in [0, 3]: one global range [0, 3], bits=2,
     * cells 0.75 wide. */
    const float tr[6] = {0, 0, 1, 3, 0.5f, 1};
    sq_state *s = mk(P(2, SQ_MINMAX, 0, SQ_GLOBAL), 2, ECB_SIM_DOT);
    assert_int_equal(sq_train(&s->base, tr, 3), 0);
    assert_int_equal(sq_aux_bytes(&s->base), 8);
    const float x[2] = {0.75f, 2.9f};
    uint8_t c;
    sq_encode(&s->base, x, 1, &c);
    assert_int_equal(c, 1 | 3 << 2);
    float back[2];
    sq_decode(&s->base, &c, 1, back);
    assert_true(back[0] == 1.125f && back[1] == 2.625f);
    sq_destroy(&s->base);
    /* Global quantile pools every value: 1..8 split over two dimensions. */
    const float tq[8] = {5, 1, 8, 3, 2, 7, 4, 6};
    s = mk(P(2, SQ_QUANTILE, 0, SQ_GLOBAL), 2, ECB_SIM_DOT);
    assert_int_equal(sq_train(&s->base, tq, 4), 0);
    assert_true(s->edges[0] == 2.75f && s->edges[3 + 2] == 6.25f);
    assert_int_equal(sq_aux_bytes(&s->base), 7 * 4);
    sq_destroy(&s->base);
}

static void test_scores_hand(void **state)
{
    (void)state;
    /* bits=2 on [-1, 1] in both dims: levels -0.75 -0.25 0.25 0.75.
     * x = (0.9, -0.3) -> codes (3, 1) -> x^ = (0.75, -0.25); q = (2, 1).
     * asymmetric: dot 1.5 - 0.25 = 1.25; L2 -(1.25^2 + 1.25^2) = -3.125.
     * symmetric: q^ = (0.75, 0.75): dot 0.5625 - 0.1875 = 0.375; L2 -1. */
    const float tr[4] = {-1, -1, 1, 1};
    const float x[2] = {0.9f, -0.3f}, q[2] = {2, 1};
    const float want[2][2] = {{0.375f, 1.25f}, {-1.0f, -3.125f}}; /* [sim][mode] */
    for (int sim = 0; sim < 2; sim++) {
        sq_state *s = mk(P(2, SQ_MINMAX, 0, SQ_PER_DIM), 2, (ecb_similarity)sim);
        assert_int_equal(sq_train(&s->base, tr, 2), 0);
        uint8_t c;
        sq_encode(&s->base, x, 1, &c);
        assert_int_equal(c, 3 | 1 << 2);
        for (int mode = 0; mode < 2; mode++) {
            float prep[8], sc = 0;
            assert_int_equal(sq_query_size(&s->base, (ecb_mode)mode), 8 * sizeof(float));
            assert_int_equal(sq_prepare(&s->base, (ecb_mode)mode, q, 1, prep), 0);
            assert_int_equal(sq_score(&s->base, (ecb_mode)mode, prep, 1, &c, 1, &sc), 0);
            assert_true(sc == want[sim][mode]);
            sq_score_portable(s, prep, 1, &c, 1, &sc);
            assert_true(sc == want[sim][mode]);
        }
        sq_destroy(&s->base);
    }
}

static void test_scan_vs_reference(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 9);
    const size_t dims[] = {1, 5, 13, 16, 33, 100};
    enum { NT = 40, NQ = 7, N = 11 };
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        size_t d = dims[di];
        float *tr = malloc(NT * d * sizeof *tr), *q = malloc(NQ * d * sizeof *q);
        for (size_t t = 0; t < NT * d; t++) tr[t] = (float)ecb_rng_normal(&r) * (1 + t % 3);
        for (size_t t = 0; t < NQ * d; t++) q[t] = (float)ecb_rng_normal(&r);
        for (size_t bits = 1; bits <= 8; bits++)
            for (int cal = 0; cal < 3; cal++)
                for (int sim = 0; sim < 2; sim++) {
                    sq_state *s = mk(P(bits, cal, 5, (int)(bits % 2)), d, (ecb_similarity)sim);
                    assert_int_equal(sq_train(&s->base, tr, NT), 0);
                    size_t cb = sq_code_size(&s->base);
                    uint8_t *codes = malloc(N * cb);
                    float *xh = malloc(N * d * sizeof *xh);
                    assert_int_equal(sq_encode(&s->base, tr, N, codes), 0);
                    assert_int_equal(sq_decode(&s->base, codes, N, xh), 0);
                    float *prep = malloc(NQ * s->dim8 * sizeof *prep);
                    float sc[NQ * N], one[N], port[NQ * N];
                    for (int mode = 0; mode < 2; mode++) {
                        sq_prepare(&s->base, (ecb_mode)mode, q, NQ, prep);
                        assert_int_equal(sq_score(&s->base, (ecb_mode)mode, prep, NQ, codes, N, sc), 0);
                        sq_score_portable(s, prep, NQ, codes, N, port);
                        for (size_t i = 0; i < NQ; i++) {
                            for (size_t j = 0; j < N; j++) {
                                double ref = 0, mag = 0;
                                for (size_t t = 0; t < d; t++) {
                                    double qv = prep[i * s->dim8 + t], xv = xh[j * d + t];
                                    if (mode == ECB_MODE_SYMMETRIC)
                                        assert_true(qv == s->recon[t * s->L + sq_code(s, t, q[i * d + t])]);
                                    ref += sim ? -(qv - xv) * (qv - xv) : qv * xv;
                                    mag += sim ? (qv - xv) * (qv - xv) : fabs(qv * xv);
                                }
                                double tol = 1e-5 * (mag + 1);
                                if (fabs(sc[i * N + j] - ref) > tol || fabs(port[i * N + j] - ref) > tol)
                                    fail_msg("d=%zu bits=%zu cal=%d sim=%d mode=%d (%zu,%zu): %g %g vs %g",
                                             d, bits, cal, sim, mode, i, j, sc[i * N + j],
                                             port[i * N + j], ref);
                            }
                            /* One query at a time, codes split 3 + 8: bit-identical for
                             * uniform cells (own kernels); quantile cells go through sgemm,
                             * whose rounding depends on the call's shape (the harness keeps
                             * its grid fixed), so to float rounding there. */
                            sq_score(&s->base, (ecb_mode)mode, prep + i * s->dim8, 1, codes, 3, one);
                            sq_score(&s->base, (ecb_mode)mode, prep + i * s->dim8, 1, codes + 3 * cb, N - 3, one + 3);
                            if (cal != SQ_QUANTILE)
                                assert_memory_equal(one, sc + i * N, N * sizeof *one);
                            else
                                for (size_t j = 0; j < N; j++)
                                    assert_float_equal(one[j], sc[i * N + j],
                                                       1e-5 * (fabs(sc[i * N + j]) + 1));
                        }
                    }
                    free(prep);
                    free(xh);
                    free(codes);
                    sq_destroy(&s->base);
                }
        free(tr);
        free(q);
    }
}

static void test_edges(void **state)
{
    (void)state;
    sq_state *s = mk(P(4, SQ_PERCENTILE, 2.5, SQ_PER_DIM), 13, ECB_SIM_L2);
    float x[13];
    uint8_t c[7];
    for (int j = 0; j < 13; j++) x[j] = (float)j;
    assert_int_equal(sq_encode(&s->base, x, 1, c), ECB_EINVAL); /* before train */
    assert_int_equal(sq_train(&s->base, x, 0), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "sq"));
    /* One training vector: constant dimensions, code 0, decoded exactly. */
    assert_int_equal(sq_train(&s->base, x, 1), 0);
    assert_int_equal(sq_encode(&s->base, x, 1, c), 0);
    for (int t = 0; t < 7; t++) assert_int_equal(c[t], 0);
    float back[13];
    sq_decode(&s->base, c, 1, back);
    assert_memory_equal(back, x, sizeof x);
    assert_int_equal(sq_encode(&s->base, x, 0, c), 0);
    assert_int_equal(sq_score(&s->base, ECB_MODE_SYMMETRIC, NULL, 0, c, 0, NULL), 0);
    sq_destroy(&s->base);
    sq_destroy(NULL);
    ecb_method *m = NULL;
    struct sq_params bad = P(9, SQ_MINMAX, 0, SQ_PER_DIM);
    assert_int_equal(sq_create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "bits"));
    bad = P(8, SQ_PERCENTILE, 50, SQ_PER_DIM);
    assert_int_equal(sq_create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "clip"));
    /* Flags: trained, both modes, decode. */
    const ecb_method_vtable *vt = ecb_method_sq();
    assert_true(vt->flags & ECB_METHOD_NEEDS_TRAIN);
    assert_true(vt->flags & ECB_METHOD_SYMMETRIC);
    assert_true(vt->flags & ECB_METHOD_ASYMMETRIC);
    assert_true(vt->flags & ECB_METHOD_DECODE);
}

/* minmax calibration runs over chunks of rows on the host's threads; its
 * ranges must be the one-pass column walk's bit for bit, including which of
 * +0 / -0 it keeps (the first seen) when the chunks disagree. */
static void test_minmax_threads(void **state)
{
    (void)state;
    const size_t n = 3 * SQ_MINMAX_ROWS + 5, d = 19;
    float *x = malloc(n * d * sizeof *x);
    ecb_rng r;
    ecb_rng_seed(&r, 31);
    for (size_t i = 0; i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        x[i * d + 0] = i < SQ_MINMAX_ROWS ? 0.0f : -0.0f; /* +0 first */
        x[i * d + 2] = i == 0 ? -0.0f : i == 7 ? 0.0f : 1.0f + (float)i;
        x[i * d + 3] = i == SQ_MINMAX_ROWS ? 0.0f : -0.0f; /* -0 first */
    }
    /* the extremes of column 1 at the first row of a later chunk */
    x[2 * SQ_MINMAX_ROWS * d + 1] = -50.0f;
    x[(3 * SQ_MINMAX_ROWS) * d + 1] = 50.0f;
    float lo[19], hi[19];
    memcpy(lo, x, sizeof lo);
    memcpy(hi, x, sizeof hi);
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            float v = x[i * d + j];
            if (v < lo[j]) lo[j] = v;
            if (v > hi[j]) hi[j] = v;
        }
    for (size_t threads = 1; threads <= 3; threads++) {
        ecb_host_init(&H, 11, threads);
        sq_state *s = mk(P(8, SQ_MINMAX, 0, SQ_PER_DIM), d, ECB_SIM_L2);
        assert_int_equal(sq_train(&s->base, x, n), 0);
        sq_state *e = mk(P(8, SQ_MINMAX, 0, SQ_PER_DIM), d, ECB_SIM_L2);
        for (size_t j = 0; j < d; j++) sq_set_uniform(e, j, lo[j], hi[j]);
        assert_memory_equal(s->lo, e->lo, d * sizeof *s->lo);
        assert_memory_equal(s->w, e->w, d * sizeof *s->w);
        assert_memory_equal(s->rbase, e->rbase, d * sizeof *s->rbase);
        assert_true(signbit(s->lo[0]) == 0 && signbit(s->lo[2]) != 0 && signbit(s->lo[3]) != 0);
        assert_true(s->lo[1] == -50.0f);
        sq_destroy(&s->base);
        sq_destroy(&e->base);
    }
    ecb_host_init(&H, 11, 1);
    free(x);
}

/* Quantile cells widen codes by a gather (AVX2) or the scalar loop: the
 * same floats, bit for bit, at every width and at dims that leave a partial
 * chunk and a short last code (the chunk read from the code's end). */
static void test_widen_paths(void **state)
{
    (void)state;
    const size_t dims[] = {3, 13, 64, 100};
    enum { N = 37, TRAIN = 300 };
    for (size_t bits = 1; bits <= 8; bits++)
        for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
            size_t d = dims[di];
            sq_state *s = mk(P(bits, SQ_QUANTILE, 2.5, 0), d, ECB_SIM_DOT);
            float *tr = malloc(TRAIN * d * sizeof *tr);
            ecb_rng r;
            ecb_rng_seed(&r, 100 + bits);
            for (size_t i = 0; i < TRAIN * d; i++) tr[i] = (float)ecb_rng_normal(&r);
            assert_int_equal(sq_train(&s->base, tr, TRAIN), 0);
            uint8_t *codes = malloc(N * s->code_bytes);
            assert_int_equal(sq_encode(&s->base, tr, N, codes), 0);
            float *a = malloc(N * s->dim8 * sizeof *a), *b = malloc(N * s->dim8 * sizeof *b);
            int had = s->avx2;
            sq_widen(s, codes, N, a);
            s->avx2 = 0;
            sq_widen(s, codes, N, b);
            s->avx2 = had;
            if (memcmp(a, b, N * s->dim8 * sizeof *a))
                fail_msg("bits=%zu d=%zu: widen paths differ (avx2 %d)", bits, d, had);
            free(a);
            free(b);
            free(codes);
            free(tr);
            sq_destroy(&s->base);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_code_size, setup),
        cmocka_unit_test_setup(test_boundaries, setup),
        cmocka_unit_test_setup(test_packing, setup),
        cmocka_unit_test_setup(test_percentile, setup),
        cmocka_unit_test_setup(test_quantile, setup),
        cmocka_unit_test_setup(test_global, setup),
        cmocka_unit_test_setup(test_scores_hand, setup),
        cmocka_unit_test_setup(test_scan_vs_reference, setup),
        cmocka_unit_test_setup(test_edges, setup),
        cmocka_unit_test_setup(test_minmax_threads, setup),
        cmocka_unit_test_setup(test_widen_paths, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
