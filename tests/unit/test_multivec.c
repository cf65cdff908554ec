/*
 * Multi-vector datasets (issue 15, dataset side): the manifest layout of
 * ../shared/data/cranfield-glove-tokens (its exact MaxSim run must come out
 * of the loaded tokens), every offsets / weights / key error with its
 * message, and the synthetic multi-vector generator (valid layout,
 * deterministic, judgments that exact MaxSim mostly but not trivially
 * satisfies).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "datasets/dataset.h"

static char *dir;

static void assert_msg(const char *needle)
{
    const char *m = ecb_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

static const char *tmp(const char *name)
{
    static char b[4][4200];
    static int k;
    char *p = b[k++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", dir, name);
    return p;
}

/* A .npy with this descr and shape text holding bytes of data. */
static void put_npy(const char *name, const char *descr, const char *shape, const void *data,
                    size_t bytes)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    assert_int_equal(tu_write_npy(tmp(name), hdr, data, bytes), 0);
}

static void put_offsets(const char *name, const int64_t *off, size_t n)
{
    char shape[32];
    snprintf(shape, sizeof shape, "(%zu,)", n);
    put_npy(name, "<i8", shape, off, n * sizeof *off);
}

static const char *put_manifest(const char *extra)
{
    const char *src = getenv("ECB_SOURCE_DIR");
    char text[9000];
    snprintf(text, sizeof text,
             "{\"corpus_tokens\": \"%s/tests/data/small.fvecs\", \"corpus_offsets\": \"c_off.npy\",\n"
             " \"queries_tokens\": \"%s/tests/data/queries.fvecs\", \"query_offsets\": \"q_off.npy\",\n"
             " \"scoring\": \"maxsim\", \"similarity\": \"dot\"%s}",
             src ? src : "..", src ? src : "..", extra);
    const char *p = tmp("mv.json");
    assert_int_equal(tu_write_file(p, text), 0);
    return p;
}

static int load(const char *extra, ecb_dataset **d)
{
    return ecb_dataset_load_manifest_ex(put_manifest(extra), ECB_DS_MULTIVECTOR, d);
}

/* small.fvecs: 5 tokens -> documents [0,2) [2,5); queries.fvecs: 3 tokens -> [0,1) [1,3) */
static void good_offsets(void)
{
    const int64_t c[3] = {0, 2, 5}, q[3] = {0, 1, 3};
    put_offsets("c_off.npy", c, 3);
    put_offsets("q_off.npy", q, 3);
}

static void test_fixture(void **state)
{
    (void)state;
    good_offsets();
    ecb_dataset *d = NULL;
    if (load(", \"n_corpus\": 2, \"n_queries\": 2, \"dim\": 4, \"n_corpus_tokens\": 5, "
             "\"n_query_tokens\": 3, \"meta\": {\"model\": \"toy\"}", &d))
        fail_msg("%s", ecb_last_error());
    assert_non_null(d->mv);
    assert_null(d->corpus);
    assert_null(d->queries);
    assert_int_equal(ecb_dataset_n_corpus(d), 2);
    assert_int_equal(ecb_dataset_n_queries(d), 2);
    assert_int_equal(ecb_dataset_dim(d), 4);
    assert_int_equal(d->mv->corpus.offsets[1], 2);
    assert_int_equal(ecb_vecs_count(d->mv->queries.tokens), 3);
    assert_null(d->mv->corpus.weights);
    assert_string_equal(d->doc_ids[1], "1");
    assert_string_equal(d->query_ids[1], "1");
    assert_string_equal(d->meta_json, "{\"model\":\"toy\"}");
    ecb_dataset_free(d);
    /* weights, float32 and float16 (1, 2, ..., 5 are exact in both) */
    float w[5] = {1, 2, 3, 4, 5};
    uint16_t h[5] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500};
    put_npy("w32.npy", "<f4", "(5,)", w, sizeof w);
    put_npy("w16.npy", "<f2", "(5,)", h, sizeof h);
    const char *wf[2] = {", \"corpus_token_weights\": \"w32.npy\"",
                         ", \"corpus_token_weights\": \"w16.npy\""};
    for (int i = 0; i < 2; i++) {
        if (load(wf[i], &d)) fail_msg("%s", ecb_last_error());
        assert_memory_equal(d->mv->corpus.weights, w, sizeof w);
        ecb_dataset_free(d);
    }
    /* ids and qrels are per document and query */
    assert_int_equal(tu_write_file(tmp("docs.txt"), "docA\ndocB\n"), 0);
    assert_int_equal(tu_write_file(tmp("qs.txt"), "qa\nqb\n"), 0);
    assert_int_equal(tu_write_file(tmp("qrels.trec"), "qa 0 docB 2\nqb 0 docA 1\n"), 0);
    if (load(", \"corpus_ids\": \"docs.txt\", \"query_ids\": \"qs.txt\", \"qrels\": "
             "\"qrels.trec\"", &d))
        fail_msg("%s", ecb_last_error());
    assert_int_equal(d->qrels->n_judg[0], 1);
    assert_int_equal(d->qrels->judg[0][0].doc, 1);
    ecb_dataset_free(d);
    /* a caller that cannot score MaxSim does not get such a dataset */
    assert_int_equal(ecb_dataset_load_manifest(put_manifest(""), &d), ECB_ENOTSUP);
    assert_null(d);
    assert_msg("mv.json: a multi-vector dataset (\"scoring\": \"maxsim\")");
}

static void test_bad_offsets(void **state)
{
    (void)state;
    static const struct {
        int64_t off[5];
        size_t n;
        const char *msg;
    } bad[] = {
        {{1, 2, 5}, 3, "offsets[0] is 1, expected 0"},
        {{0, 3, 2, 5}, 4, "offsets[2] = 2 is less than offsets[1] = 3: offsets must increase"},
        {{0, 2, 2, 5}, 4, "item 1 is empty (offsets[1] = offsets[2] = 2)"},
        {{0, 2, 4}, 3, "the last offset is 4, expected the token count 5"},
        {{0, 2, 6}, 3, "offsets[2] = 6 is past the 5 tokens"},
        {{0}, 1, "1 offsets, expected at least 2"},
    };
    const int64_t q[3] = {0, 1, 3};
    put_offsets("q_off.npy", q, 3);
    ecb_dataset *d = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_offsets("c_off.npy", bad[i].off, bad[i].n);
        assert_int_equal(load("", &d), ECB_EFORMAT);
        assert_null(d);
        assert_msg("mv.json: \"corpus_offsets\": ");
        assert_msg("c_off.npy (for ");
        assert_msg(bad[i].msg);
    }
    const int32_t i4[3] = {0, 2, 5};
    put_npy("c_off.npy", "<i4", "(3,)", i4, sizeof i4);
    assert_int_equal(load("", &d), ECB_EFORMAT);
    assert_msg("'descr': expected '<i8' (item offsets, int64), got '<i4'");
    const int64_t two[4] = {0, 2, 2, 5};
    put_npy("c_off.npy", "<i8", "(2, 2)", two, sizeof two);
    assert_int_equal(load("", &d), ECB_EFORMAT);
    assert_msg("expected 1 dimension");
    put_npy("c_off.npy", "<i8", "(3,)", two, 2 * sizeof *two);
    assert_int_equal(load("", &d), ECB_EFORMAT);
    assert_msg("shape (3,) of <i8 needs 24 bytes");
}

static void test_bad_keys(void **state)
{
    (void)state;
    good_offsets();
    float w[5] = {1, 2, NAN, 4, 5};
    put_npy("w_nan.npy", "<f4", "(5,)", w, sizeof w);
    put_npy("w_short.npy", "<f4", "(4,)", w, 4 * sizeof *w);
    assert_int_equal(tu_write_file(tmp("three.txt"), "a\nb\nc\n"), 0);
    static const struct {
        const char *extra, *msg;
    } bad[] = {
        {", \"n_corpus_tokens\": 6", "\"n_corpus_tokens\" is 6 but"},
        {", \"n_query_tokens\": 2", "\"n_query_tokens\" is 2 but"},
        {", \"n_corpus\": 5", "\"n_corpus\" is 5 but"},
        {", \"n_queries\": 3", "has 2 items (documents or queries, by its offsets)"},
        {", \"dim\": 3", "\"dim\" is 3 but"},
        {", \"corpus_token_weights\": \"w_nan.npy\"", "w_nan.npy: weight 2 is NaN"},
        {", \"corpus_token_weights\": \"w_short.npy\"", "has 4 weights, expected 5 (one per corpus token)"},
        {", \"corpus_ids\": \"three.txt\"", "has 3 ids, expected 2 (one per document)"},
        {", \"groundtruth\": \"gt.ivecs\"", "key \"groundtruth\": not with \"scoring\": \"maxsim\""},
        {", \"corpus\": \"x.fvecs\"", "key \"corpus\": not with \"scoring\": \"maxsim\""},
        {", \"hdf5\": \"x.hdf5\"", "key \"hdf5\": not with"},
        {", \"corpus_token_weight\": \"w.npy\"", "did you mean \"corpus_token_weights\""},
    };
    ecb_dataset *d = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = load(bad[i].extra, &d);
        if (rc == 0) {
            ecb_dataset_free(d);
            fail_msg("accepted: %s", bad[i].extra);
        }
        assert_int_equal(rc, ECB_EFORMAT);
        assert_msg("mv.json");
        assert_msg(bad[i].msg);
    }
    /* the kind must be said, and only one */
    assert_int_equal(tu_write_file(tmp("k.json"), "{\"corpus_tokens\": \"a.npy\", \"similarity\": "
                                                  "\"dot\"}"), 0);
    assert_int_equal(ecb_dataset_load_manifest_ex(tmp("k.json"), ECB_DS_MULTIVECTOR, &d),
                     ECB_EFORMAT);
    assert_msg("key \"corpus_tokens\" describes a multi-vector dataset: add \"scoring\": \"maxsim\"");
    assert_int_equal(tu_write_file(tmp("k.json"), "{\"scoring\": \"sum\", \"similarity\": "
                                                  "\"dot\"}"), 0);
    assert_int_equal(ecb_dataset_load_manifest_ex(tmp("k.json"), ECB_DS_MULTIVECTOR, &d),
                     ECB_EFORMAT);
    assert_msg("key \"scoring\": expected \"maxsim\"");
    assert_int_equal(tu_write_file(tmp("k.json"), "{\"scoring\": \"maxsim\", \"similarity\": "
                                                  "\"dot\", \"corpus_tokens\": \"a.npy\", "
                                                  "\"corpus_offsets\": \"b.npy\", "
                                                  "\"queries_tokens\": \"c.npy\"}"), 0);
    assert_int_equal(ecb_dataset_load_manifest_ex(tmp("k.json"), ECB_DS_MULTIVECTOR, &d),
                     ECB_EFORMAT);
    assert_msg("missing required key \"query_offsets\"");
}

/* Exact MaxSim of query item q against document item i, double accumulation. */
static double maxsim(const float *qt, const int64_t *qo, size_t q, const float *dt,
                     const int64_t *dof, size_t i, size_t dim)
{
    double s = 0;
    for (int64_t a = qo[q]; a < qo[q + 1]; a++) {
        double best = -INFINITY;
        for (int64_t b = dof[i]; b < dof[i + 1]; b++) {
            double x = 0;
            for (size_t j = 0; j < dim; j++)
                x += (double)qt[(size_t)a * dim + j] * dt[(size_t)b * dim + j];
            if (x > best) best = x;
        }
        s += best;
    }
    return s;
}

static float *all_tokens(const ecb_vecs *v)
{
    size_t n = ecb_vecs_count(v), dim = ecb_vecs_dim(v);
    float *x = malloc(n * dim * sizeof *x);
    assert_non_null(x);
    assert_int_equal(ecb_vecs_read(v, 0, n, x), 0);
    return x;
}

static void test_cranfield_tokens(void **state)
{
    (void)state;
    char *mf = tu_shared_file("cranfield-glove-tokens/manifest.json");
    if (!mf) TU_SKIP("../shared/data/cranfield-glove-tokens absent");
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_manifest_ex(mf, ECB_DS_MULTIVECTOR, &d)) fail_msg("%s", ecb_last_error());
    free(mf);
    const ecb_mvdata *m = d->mv;
    assert_int_equal(ecb_dataset_n_corpus(d), 1398);
    assert_int_equal(ecb_dataset_n_queries(d), 225);
    assert_int_equal(ecb_dataset_dim(d), 100);
    assert_int_equal(ecb_vecs_count(m->corpus.tokens), 133025);
    assert_int_equal(ecb_vecs_count(m->queries.tokens), 2337);
    assert_int_equal(m->corpus.offsets[1], 76);
    assert_int_equal(m->corpus.offsets[1398], 133025);
    assert_int_equal(d->sim, ECB_DS_DOT);
    assert_non_null(d->qrels);
    assert_int_equal(d->qrels->n_unknown_query, 0);
    /* query "1" (row 0): the exact run's top 3 and their scores
     * (run_maxsim.trec: 486 8.533782, 329 8.505247, 12 8.107719) */
    float *qt = all_tokens(m->queries.tokens), *dt = all_tokens(m->corpus.tokens);
    assert_string_equal(d->query_ids[0], "1");
    double best[3] = {-INFINITY, -INFINITY, -INFINITY};
    size_t arg[3] = {0, 0, 0};
    for (size_t i = 0; i < 1398; i++) {
        double s = maxsim(qt, m->queries.offsets, 0, dt, m->corpus.offsets, i, 100);
        for (int r = 0; r < 3; r++)
            if (s > best[r]) {
                for (int t = 2; t > r; t--) best[t] = best[t - 1], arg[t] = arg[t - 1];
                best[r] = s, arg[r] = i;
                break;
            }
    }
    static const char *const want_id[3] = {"486", "329", "12"};
    static const double want_s[3] = {8.533782, 8.505247, 8.107719};
    for (int r = 0; r < 3; r++) {
        assert_string_equal(d->doc_ids[arg[r]], want_id[r]);
        if (fabs(best[r] - want_s[r]) > 1e-4)
            fail_msg("rank %d: MaxSim %.6f, run file %.6f", r + 1, best[r], want_s[r]);
    }
    free(qt);
    free(dt);
    ecb_dataset_free(d);
}

static void test_synthetic(void **state)
{
    (void)state;
    ecb_synth_mv_params p;
    ecb_synth_mv_defaults(&p);
    p.docs = 600;
    p.queries = 60;
    p.dim = 32;
    ecb_dataset *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(ecb_dataset_synthetic_mv(&p, &a), 0);
    assert_int_equal(ecb_dataset_synthetic_mv(&p, &b), 0);
    p.seed++;
    assert_int_equal(ecb_dataset_synthetic_mv(&p, &c), 0);
    const ecb_mvdata *m = a->mv;
    assert_int_equal(ecb_dataset_n_corpus(a), 600);
    assert_int_equal(ecb_dataset_n_queries(a), 60);
    size_t nct = ecb_vecs_count(m->corpus.tokens), nqt = ecb_vecs_count(m->queries.tokens);
    assert_int_equal(ecb_mv_check_offsets("synthetic corpus", m->corpus.offsets, 601, nct), 0);
    assert_int_equal(ecb_mv_check_offsets("synthetic queries", m->queries.offsets, 61, nqt), 0);
    for (size_t i = 0; i < 600; i++) {
        int64_t l = m->corpus.offsets[i + 1] - m->corpus.offsets[i];
        assert_true(l >= 8 && l <= 48);
    }
    for (size_t i = 0; i < 60; i++) {
        int64_t l = m->queries.offsets[i + 1] - m->queries.offsets[i];
        assert_true(l >= 3 && l <= 8);
    }
    float *qt = all_tokens(m->queries.tokens), *dt = all_tokens(m->corpus.tokens);
    for (size_t t = 0; t < nct; t++) {
        double nn = 0;
        for (size_t j = 0; j < 32; j++) nn += (double)dt[t * 32 + j] * dt[t * 32 + j];
        assert_true(fabs(nn - 1) < 1e-5);
    }
    /* deterministic from the seed */
    float *bt = all_tokens(b->mv->corpus.tokens);
    assert_memory_equal(dt, bt, nct * 32 * sizeof *dt);
    for (size_t q = 0; q < 60; q++) {
        assert_int_equal(a->qrels->n_judg[q], b->qrels->n_judg[q]);
        for (size_t e = 0; e < a->qrels->n_judg[q]; e++) {
            assert_int_equal(a->qrels->judg[q][e].doc, b->qrels->judg[q][e].doc);
            assert_int_equal(a->qrels->judg[q][e].rel, b->qrels->judg[q][e].rel);
        }
    }
    assert_true(ecb_vecs_count(c->mv->corpus.tokens) != nct ||
                c->mv->corpus.offsets[1] != m->corpus.offsets[1]);
    /* judgments: a grade-3 source per query, graded others; exact MaxSim
     * finds the source near the top, but not always first */
    size_t first = 0, top10 = 0, graded = 0;
    for (size_t q = 0; q < 60; q++) {
        const ecb_judgment *j = a->qrels->judg[q];
        assert_int_equal(j[0].rel, 3);
        for (size_t e = 1; e < a->qrels->n_judg[q]; e++) graded += j[e].rel > 0;
        double s0 = maxsim(qt, m->queries.offsets, q, dt, m->corpus.offsets, (size_t)j[0].doc, 32);
        size_t above = 0;
        for (size_t i = 0; i < 600; i++)
            above += maxsim(qt, m->queries.offsets, q, dt, m->corpus.offsets, i, 32) > s0;
        first += above == 0;
        top10 += above < 10;
    }
    fprintf(stderr, "synthetic-mv 600 docs: source doc first for %zu/60 queries, in the top 10 "
            "for %zu/60; %zu graded (rel > 0) non-source judgments\n", first, top10, graded);
    assert_true(top10 >= 40);
    assert_true(first < 58);
    assert_true(graded >= 60);
    free(qt);
    free(dt);
    free(bt);
    ecb_dataset_free(a);
    ecb_dataset_free(b);
    ecb_dataset_free(c);
}

int main(void)
{
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_bad_offsets),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_cranfield_tokens),
        cmocka_unit_test(test_synthetic),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(dir);
    return rc;
}
