/*
 * Dataset layer: every vector format against the fixtures of tests/data
 * (values known by construction, see make_fixtures.py), every broken-input
 * case with the message it must give, ids, TREC and BEIR qrels, manifests,
 * and the real reference data of ../shared/data (visible skip when absent).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "datasets/dataset.h"

/* ---- fixtures ---------------------------------------------------------- */

static const char *data_dir(void)
{
    static char buf[4096];
    const char *src = getenv("ECB_SOURCE_DIR");
    if (src) {
        snprintf(buf, sizeof buf, "%s/tests/data", src);
    } else { /* run by hand: locate tests/data from this file's path */
        snprintf(buf, sizeof buf, "%s", __FILE__);
        char *s = strstr(buf, "tests/unit/");
        if (s) strcpy(s, "tests/data");
        else snprintf(buf, sizeof buf, "tests/data");
    }
    return buf;
}

static char *fx(const char *name)
{
    static char bufs[4][4200];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", data_dir(), name);
    return b;
}

/* Expected values of the small fixtures. */
static float F(size_t i, size_t j)
{
    const float r[4] = {(float)i, (float)i + 0.5f, -0.25f * (float)i, 1000.0f + (float)i};
    return r[j];
}

static void assert_msg(const char *needle)
{
    const char *m = ecb_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

static void assert_small_float(ecb_vecs *v)
{
    assert_int_equal(ecb_vecs_count(v), 5);
    assert_int_equal(ecb_vecs_dim(v), 4);
    float x[20];
    assert_int_equal(ecb_vecs_read(v, 0, 5, x), 0);
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 4; j++) assert_true(x[i * 4 + j] == F(i, j));
    size_t rows[3] = {4, 0, 4};
    assert_int_equal(ecb_vecs_read_rows(v, rows, 3, x), 0);
    for (size_t j = 0; j < 4; j++) {
        assert_true(x[j] == F(4, j));
        assert_true(x[4 + j] == F(0, j));
        assert_true(x[8 + j] == F(4, j));
    }
    assert_int_equal(ecb_vecs_read(v, 3, 2, x), 0);
    assert_true(x[0] == F(3, 0) && x[7] == F(4, 3));
    assert_int_equal(ecb_vecs_read(v, 4, 2, x), ECB_ERANGE);
}

/* ---- vector formats -------------------------------------------------- */

static void test_float_formats(void **state)
{
    (void)state;
    const char *files[] = {"small.fvecs", "small.fbin", "small_f32.npy", "small_f16.npy",
                           "small_v2.npy", "small_v3.npy"};
    uint64_t h0 = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        ecb_vecs *v;
        int rc = ecb_vecs_open(fx(files[f]), &v);
        if (rc) fail_msg("%s: %s", files[f], ecb_last_error());
        assert_non_null(strstr(ecb_vecs_path(v), files[f]));
        assert_small_float(v);
        uint64_t h;
        assert_int_equal(ecb_vecs_hash(v, &h), 0);
        if (f == 0) h0 = h;
        /* The hash is over float32 values: the same vectors in any format agree. */
        assert_true(h == h0);
        ecb_vecs_free(v);
    }
    /* ... and an in-memory copy of them too. */
    float *m = malloc(20 * sizeof *m);
    for (size_t i = 0; i < 20; i++) m[i] = F(i / 4, i % 4);
    ecb_vecs *v;
    assert_int_equal(ecb_vecs_from_memory(m, 5, 4, &v), 0);
    assert_string_equal(ecb_vecs_path(v), "<memory>");
    assert_small_float(v);
    uint64_t h;
    assert_int_equal(ecb_vecs_hash(v, &h), 0);
    assert_true(h == h0);
    ecb_vecs_free(v);
    /* ... and changes with the content. */
    float *m2 = malloc(20 * sizeof *m2);
    for (size_t i = 0; i < 20; i++) m2[i] = F(i / 4, i % 4);
    m2[19] = 1005.0f;
    assert_int_equal(ecb_vecs_from_memory(m2, 5, 4, &v), 0);
    assert_int_equal(ecb_vecs_hash(v, &h), 0);
    assert_true(h != h0);
    ecb_vecs_free(v);
}

static void test_byte_formats(void **state)
{
    (void)state;
    const char *u8[] = {"small.bvecs", "small.u8bin"};
    float x[20];
    for (size_t f = 0; f < 2; f++) {
        ecb_vecs *v;
        assert_int_equal(ecb_vecs_open(fx(u8[f]), &v), 0);
        assert_int_equal(ecb_vecs_count(v), 5);
        assert_int_equal(ecb_vecs_dim(v), 4);
        assert_int_equal(ecb_vecs_read(v, 0, 5, x), 0);
        for (size_t i = 0; i < 5; i++) {
            assert_true(x[i * 4 + 0] == 10.0f * (float)i);
            assert_true(x[i * 4 + 1] == 10.0f * (float)i + 1);
            assert_true(x[i * 4 + 2] == 255.0f - (float)i);
            assert_true(x[i * 4 + 3] == 7.0f);
        }
        ecb_vecs_free(v);
    }
    ecb_vecs *v;
    assert_int_equal(ecb_vecs_open(fx("small.i8bin"), &v), 0);
    assert_int_equal(ecb_vecs_read(v, 0, 5, x), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_true(x[i * 4 + 0] == -10.0f * (float)i);
        assert_true(x[i * 4 + 1] == (float)i);
        assert_true(x[i * 4 + 2] == 127.0f);
        assert_true(x[i * 4 + 3] == -128.0f);
    }
    ecb_vecs_free(v);
}

static void test_ivecs(void **state)
{
    (void)state;
    const char *files[] = {"small.ivecs", "small.ibin"};
    const int32_t want[6] = {0, 1, 2, 3, 4, -1};
    for (size_t f = 0; f < 2; f++) {
        int32_t *d;
        size_t n, k;
        assert_int_equal(ecb_ivecs_load(fx(files[f]), &d, &n, &k), 0);
        assert_int_equal(n, 3);
        assert_int_equal(k, 2);
        for (size_t i = 0; i < 6; i++) assert_int_equal(d[i], want[i]);
        free(d);
    }
    int32_t *d;
    size_t n, k;
    assert_int_equal(ecb_ivecs_load(fx("small.fbin"), &d, &n, &k), ECB_EINVAL);
    assert_int_equal(ecb_ivecs_load(fx("bad_rowdim.fvecs"), &d, &n, &k), ECB_EINVAL);
}

/* ---- broken vector files --------------------------------------------------- */

static void test_broken_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int code;
        const char *m1, *m2;
    } cases[] = {
        {"bad_truncated.fvecs", ECB_EFORMAT, "97 bytes", "100 for 5 rows"},
        {"bad_rowdim.fvecs", ECB_EFORMAT, "row 2 (byte offset 40)", "header is 3, expected 4"},
        {"bad_truncated.fbin", ECB_EFORMAT, "truncated", "(88 bytes with the header), file has 84"},
        {"bad_truncated.npy", ECB_EFORMAT, "truncated", "file has 207 bytes"},
        {"bad_fortran.npy", ECB_EFORMAT, "'fortran_order': expected False", "got True"},
        {"bad_f8.npy", ECB_EFORMAT, "'descr': expected '<f4'", "got '<f8'"},
        {"bad_bigendian.npy", ECB_EFORMAT, "'descr'", "got '>f4'"},
        {"bad_3d.npy", ECB_EFORMAT, "'shape': expected 2 dimensions", "got 3"},
        {"bad_magic.npy", ECB_EFORMAT, "magic", "not a .npy"},
        {"bad_zerodim.fvecs", ECB_EFORMAT, "row 0", "header is 0"},
        {"absent.fvecs", ECB_ENOTFOUND, "absent.fvecs", "cannot open"},
        {"qrels.trec", ECB_EINVAL, "unknown vector file extension '.trec'", ".npy"},
        {"small.ivecs", ECB_EINVAL, "ground truth", "small.ivecs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ecb_vecs *v = (ecb_vecs *)1;
        int rc = ecb_vecs_open(fx(cases[i].file), &v);
        if (rc != cases[i].code)
            fail_msg("%s: rc %d (%s), expected %d", cases[i].file, rc, ecb_last_error(),
                     cases[i].code);
        assert_null(v);
        assert_msg(cases[i].file);
        assert_msg(cases[i].m1);
        assert_msg(cases[i].m2);
    }
}

static void test_nonfinite_on_read(void **state)
{
    (void)state;
    ecb_vecs *v;
    float x[20];
    /* Opening does not scan values; reading the bad row fails. */
    assert_int_equal(ecb_vecs_open(fx("bad_nan.fvecs"), &v), 0);
    assert_int_equal(ecb_vecs_read(v, 0, 3, x), 0);
    assert_int_equal(ecb_vecs_read(v, 0, 5, x), ECB_EFORMAT);
    assert_msg("bad_nan.fvecs: row 3, component 1: value is NaN");
    size_t r = 3;
    assert_int_equal(ecb_vecs_read_rows(v, &r, 1, x), ECB_EFORMAT);
    uint64_t h;
    assert_int_equal(ecb_vecs_hash(v, &h), ECB_EFORMAT);
    ecb_vecs_free(v);

    assert_int_equal(ecb_vecs_open(fx("bad_inf_f16.npy"), &v), 0);
    assert_int_equal(ecb_vecs_read(v, 0, 5, x), ECB_EFORMAT);
    assert_msg("bad_inf_f16.npy: row 2, component 3: value is infinite");
    ecb_vecs_free(v);
}

/* ---- memory, generated, subset ------------------------------------------ */

static void gen_fn(const void *ctx, size_t row, float *out)
{
    const float *base = ctx;
    for (size_t j = 0; j < 3; j++) out[j] = *base + (float)(row * 3 + j);
}

static int freed;
static void gen_free(void *ctx)
{
    (void)ctx;
    freed++;
}

static void test_generated_subset(void **state)
{
    (void)state;
    static const float base = 100.0f;
    ecb_vecs *g, *s, *s2;
    freed = 0;
    assert_int_equal(ecb_vecs_generated(1000000, 3, gen_fn, &base, gen_free, &g), 0);
    assert_int_equal(ecb_vecs_count(g), 1000000);
    float x[9];
    assert_int_equal(ecb_vecs_read(g, 999999, 1, x), 0);
    assert_true(x[2] == 100.0f + 2999999.0f);
    size_t rows[3] = {7, 2, 7};
    assert_int_equal(ecb_vecs_subset(g, rows, 3, &s), 0);
    ecb_vecs_free(g); /* the subset keeps the parent alive */
    assert_int_equal(freed, 0);
    assert_int_equal(ecb_vecs_count(s), 3);
    assert_int_equal(ecb_vecs_read(s, 0, 3, x), 0);
    assert_true(x[0] == 121.0f && x[3] == 106.0f && x[8] == 123.0f);
    size_t r2 = 1;
    assert_int_equal(ecb_vecs_subset(s, &r2, 1, &s2), 0); /* subset of a subset */
    ecb_vecs_free(s);
    assert_int_equal(ecb_vecs_read(s2, 0, 1, x), 0);
    assert_true(x[0] == 106.0f);
    ecb_vecs_free(s2);
    assert_int_equal(freed, 1);

    assert_int_equal(ecb_vecs_generated(10, 3, gen_fn, &base, NULL, &g), 0);
    size_t bad = 10;
    s = (ecb_vecs *)1;
    assert_int_equal(ecb_vecs_subset(g, &bad, 1, &s), ECB_ERANGE);
    assert_null(s);
    ecb_vecs_set_hash(g, 1234);
    uint64_t h;
    assert_int_equal(ecb_vecs_hash(g, &h), 0);
    assert_true(h == 1234);
    /* Subsets of a source with a known hash hash their row list. */
    size_t ra[2] = {7, 2}, rb[2] = {2, 7};
    ecb_vecs *sa, *sb, *sa2;
    assert_int_equal(ecb_vecs_subset(g, ra, 2, &sa), 0);
    assert_int_equal(ecb_vecs_subset(g, rb, 2, &sb), 0);
    assert_int_equal(ecb_vecs_subset(g, ra, 2, &sa2), 0);
    uint64_t ha, hb, ha2;
    assert_int_equal(ecb_vecs_hash(sa, &ha), 0);
    assert_int_equal(ecb_vecs_hash(sb, &hb), 0);
    assert_int_equal(ecb_vecs_hash(sa2, &ha2), 0);
    assert_true(ha == ha2 && ha != hb && ha != 1234);
    ecb_vecs_free(sa), ecb_vecs_free(sb), ecb_vecs_free(sa2);
    ecb_vecs_free(g);
    ecb_vecs_free(NULL);
}

/* Concurrent readers of one source see the same rows (reads keep no state). */
typedef struct {
    const ecb_vecs *v;
    size_t start;
    float out[5 * 4 * 64];
    int rc;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    for (size_t it = 0; it < 64 && !a->rc; it++) {
        size_t row = (a->start + it) % 5;
        a->rc = ecb_vecs_read(a->v, row, 5 - row, a->out + it * 20);
    }
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    ecb_vecs *v;
    assert_int_equal(ecb_vecs_open(fx("small_f16.npy"), &v), 0);
    static reader_arg args[4];
    pthread_t th[4];
    for (size_t t = 0; t < 4; t++) {
        args[t] = (reader_arg){.v = v, .start = t};
        assert_int_equal(pthread_create(&th[t], NULL, reader, &args[t]), 0);
    }
    for (size_t t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].rc, 0);
        for (size_t it = 0; it < 64; it++) {
            size_t row = (t + it) % 5;
            for (size_t i = 0; i < (5 - row) * 4; i++)
                assert_true(args[t].out[it * 20 + i] == F(row + i / 4, i % 4));
        }
    }
    ecb_vecs_free(v);
}

/* ---- ids and qrels ---------------------------------------------------------- */

static void test_ids(void **state)
{
    (void)state;
    char **ids;
    size_t n;
    assert_int_equal(ecb_ids_load(fx("doc_ids.txt"), &ids, &n), 0);
    assert_int_equal(n, 5);
    const char *want[5] = {"d0", "d1", "d2", "d10", "d3"};
    for (size_t i = 0; i < 5; i++) assert_string_equal(ids[i], want[i]);
    ecb_ids_free(ids, n);

    assert_int_equal(ecb_ids_load(fx("bad_ids_dup.txt"), &ids, &n), ECB_EFORMAT);
    assert_msg("bad_ids_dup.txt:4: duplicate id 'b' (first on line 2)");
    assert_int_equal(ecb_ids_load(fx("bad_ids_empty.txt"), &ids, &n), ECB_EFORMAT);
    assert_msg("bad_ids_empty.txt:2: empty line");
    assert_int_equal(ecb_ids_load(fx("absent.txt"), &ids, &n), ECB_ENOTFOUND);
}

static void check_tiny_qrels(const ecb_qrels *q)
{
    assert_int_equal(q->n_queries, 3);
    assert_int_equal(q->n_lines, 6);
    assert_int_equal(q->n_unknown_query, 1);
    assert_int_equal(q->n_unknown_doc, 1);
    assert_int_equal(q->n_judg[0], 3);
    assert_int_equal(q->judg[0][0].doc, 0);
    assert_int_equal(q->judg[0][0].rel, 2);
    assert_int_equal(q->judg[0][1].doc, 4); /* d3 is row 4 */
    assert_int_equal(q->judg[0][1].rel, 0);
    assert_int_equal(q->judg[0][2].doc, -1); /* 'nope': kept, not in the corpus */
    assert_int_equal(q->judg[0][2].rel, 1);
    assert_int_equal(q->n_judg[1], 2);
    assert_int_equal(q->judg[1][0].doc, 3); /* d10 is row 3 */
    assert_int_equal(q->judg[1][0].rel, 3);
    assert_int_equal(q->judg[1][1].doc, 1);
    assert_int_equal(q->judg[1][1].rel, -1);
    assert_int_equal(q->n_judg[2], 0);
}

static void test_qrels(void **state)
{
    (void)state;
    char **docs, **qs;
    size_t nd, nq;
    assert_int_equal(ecb_ids_load(fx("doc_ids.txt"), &docs, &nd), 0);
    assert_int_equal(ecb_ids_load(fx("query_ids.txt"), &qs, &nq), 0);
    ecb_qrels *q;
    assert_int_equal(ecb_qrels_load(fx("qrels.trec"), qs, nq, docs, nd, &q), 0);
    check_tiny_qrels(q);
    ecb_qrels_free(q);
    assert_int_equal(ecb_qrels_load(fx("qrels.tsv"), qs, nq, docs, nd, &q), 0);
    check_tiny_qrels(q);
    ecb_qrels_free(q);

    static const struct {
        const char *file, *m1, *m2;
    } bad[] = {
        {"bad_qrels_fields.trec", "bad_qrels_fields.trec:2:", "expected 4 whitespace-separated"},
        {"bad_qrels_grade.trec", "bad_qrels_grade.trec:2:", "'high': expected an integer"},
        {"bad_qrels_dup.trec", "bad_qrels_dup.trec:3: duplicate judgment of doc 'd0' for "
                               "query 'q1'", "first on line 1"},
        {"bad_qrels_beir.tsv", "bad_qrels_beir.tsv:3:", "3 tab-separated"},
        {"doc_ids.txt", "doc_ids.txt:1:", "expected 4 whitespace-separated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        q = (ecb_qrels *)1;
        int rc = ecb_qrels_load(fx(bad[i].file), qs, nq, docs, nd, &q);
        if (rc != ECB_EFORMAT) fail_msg("%s: rc %d: %s", bad[i].file, rc, ecb_last_error());
        assert_null(q);
        assert_msg(bad[i].m1);
        assert_msg(bad[i].m2);
    }
    /* No line names a known query: the id lists do not match the qrels. */
    char *other[1] = {"zz"};
    assert_int_equal(ecb_qrels_load(fx("qrels.trec"), other, 1, docs, nd, &q), ECB_EFORMAT);
    assert_msg("none of the 6 judgments names a query");
    /* Duplicate ids among the corpus ids are refused. */
    char *dup[2] = {"d", "d"};
    assert_int_equal(ecb_qrels_load(fx("qrels.trec"), qs, nq, dup, 2, &q), ECB_EFORMAT);
    assert_msg("duplicate id 'd'");
    ecb_ids_free(docs, nd);
    ecb_ids_free(qs, nq);
}

/* ---- manifests ----------------------------------------------------------- */

static void test_manifest(void **state)
{
    (void)state;
    ecb_dataset *d;
    int rc = ecb_dataset_load_manifest(fx("manifest.json"), &d);
    if (rc) fail_msg("%s", ecb_last_error());
    assert_string_equal(d->name, "tiny");
    assert_int_equal(d->sim, ECB_DS_COSINE);
    assert_int_equal(ecb_vecs_count(d->corpus), 5);
    assert_int_equal(ecb_vecs_count(d->queries), 3);
    assert_string_equal(d->doc_ids[3], "d10");
    assert_string_equal(d->query_ids[2], "q3");
    /* strcmp order: d0 < d1 < d10 < d2 < d3 */
    const uint32_t rank[5] = {0, 1, 3, 2, 4};
    for (size_t i = 0; i < 5; i++) assert_int_equal(d->doc_id_rank[i], rank[i]);
    assert_non_null(d->qrels);
    check_tiny_qrels(d->qrels);
    assert_int_equal(d->gt_k, 2);
    assert_int_equal(d->gt[5], -1);
    float x[4];
    assert_int_equal(ecb_vecs_read(d->queries, 0, 1, x), 0);
    assert_true(x[3] == 1004.0f);
    ecb_dataset_free(d);

    assert_int_equal(ecb_dataset_load_manifest(fx("manifest_plain.json"), &d), 0);
    assert_string_equal(d->name, "data"); /* the manifest's directory */
    assert_int_equal(d->sim, ECB_DS_DOT);
    assert_null(d->qrels);
    assert_null(d->gt);
    assert_string_equal(d->doc_ids[4], "4");
    assert_string_equal(d->query_ids[0], "0");
    for (size_t i = 0; i < 5; i++) assert_int_equal(d->doc_id_rank[i], i);
    ecb_dataset_free(d);
    ecb_dataset_free(NULL);
}

static void test_manifest_broken(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int code;
        const char *m1, *m2;
    } bad[] = {
        {"bad_manifest_key.json", ECB_EFORMAT, "unknown key \"similarty\"",
         "(did you mean \"similarity\"?)"},
        {"bad_manifest_json.json", ECB_EFORMAT, "bad_manifest_json.json:4:3: malformed JSON",
         "expected"},
        {"bad_manifest_dim.json", ECB_EFORMAT, "\"dim\" is 8", "has dim 4"},
        {"bad_manifest_missing.json", ECB_ENOTFOUND, "\"queries\"", "absent.fvecs: cannot open"},
        {"bad_manifest_idcount.json", ECB_EFORMAT, "\"corpus_ids\"",
         "query_ids.txt has 3 ids, expected 5"},
        {"bad_manifest_sim.json", ECB_EINVAL, "similarity 'cos'", "expected cosine, dot or l2"},
        {"bad_manifest_gtrows.json", ECB_EFORMAT, "small.ivecs has 3 rows", "expected 5"},
        {"bad_manifest_qdim.json", ECB_EFORMAT, "dimension mismatch", "q3.fbin have dim 3"},
        {"absent.json", ECB_ENOTFOUND, "absent.json", "cannot open manifest"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ecb_dataset *d = (ecb_dataset *)1;
        int rc = ecb_dataset_load_manifest(fx(bad[i].file), &d);
        if (rc != bad[i].code)
            fail_msg("%s: rc %d (%s), expected %d", bad[i].file, rc, ecb_last_error(),
                     bad[i].code);
        assert_null(d);
        assert_msg(bad[i].file);
        assert_msg(bad[i].m1);
        assert_msg(bad[i].m2);
    }
    /* Inline cases: types, duplicates, trailing garbage. */
    char *dir = tu_tmpdir();
    char path[4200], body[512];
    static const struct {
        const char *json, *msg;
    } inl[] = {
        {"[1, 2]", "expected a JSON object"},
        {"{\"corpus\": 3, \"queries\": \"q.fvecs\", \"similarity\": \"l2\"}",
         "\"corpus\": expected a non-empty string"},
        {"{\"queries\": \"q.fvecs\", \"similarity\": \"l2\"}", "missing required key \"corpus\""},
        {"{\"corpus\": \"a\", \"corpus\": \"b\"}", "key \"corpus\" appears twice"},
        {"{\"corpus\": \"a\", \"queries\": \"b\", \"similarity\": \"l2\", \"dim\": 2.5}",
         "\"dim\": expected a positive integer"},
        {"{\"corpus\": \"a\"} x", ":1:17: malformed JSON"},
        {"", ":1:1: malformed JSON"},
    };
    for (size_t i = 0; i < sizeof inl / sizeof *inl; i++) {
        snprintf(path, sizeof path, "%s/m%zu.json", dir, i);
        snprintf(body, sizeof body, "%s", inl[i].json);
        tu_write_file(path, body);
        ecb_dataset *d;
        assert_int_equal(ecb_dataset_load_manifest(path, &d), ECB_EFORMAT);
        assert_msg(inl[i].msg);
        remove(path);
    }
    remove(dir);
    free(dir);
}

/* ---- real reference data ------------------------------------------------ */

static ecb_dataset *load_shared(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/manifest.json", name);
    char *p = tu_shared_file(rel);
    if (!p) return NULL;
    ecb_dataset *d;
    int rc = ecb_dataset_load_manifest(p, &d);
    free(p);
    if (rc) fail_msg("%s: %s", name, ecb_last_error());
    return d;
}

static void test_shared_siftsmall(void **state)
{
    (void)state;
    ecb_dataset *d = load_shared("siftsmall");
    if (!d) TU_SKIP("../shared/data/siftsmall absent");
    assert_string_equal(d->name, "siftsmall");
    assert_int_equal(d->sim, ECB_DS_L2);
    assert_int_equal(ecb_vecs_count(d->corpus), 10000);
    assert_int_equal(ecb_vecs_dim(d->corpus), 128);
    assert_int_equal(ecb_vecs_count(d->queries), 100);
    float x[128];
    assert_int_equal(ecb_vecs_read(d->corpus, 0, 1, x), 0);
    assert_true(x[0] == 0 && x[1] == 16 && x[2] == 35 && x[3] == 5);
    assert_int_equal(ecb_vecs_read(d->corpus, 9999, 1, x), 0);
    assert_true(x[0] == 14 && x[1] == 2 && x[2] == 0);
    assert_int_equal(ecb_vecs_read(d->queries, 0, 1, x), 0);
    assert_true(x[0] == 1 && x[1] == 3 && x[2] == 11 && x[3] == 110);
    assert_int_equal(d->gt_k, 100);
    assert_int_equal(d->gt[0], 2176);
    assert_int_equal(d->gt[1], 3752);
    assert_int_equal(d->gt[2], 882);
    assert_null(d->qrels);
    ecb_dataset_free(d);
}

static void test_shared_bigann10k(void **state)
{
    (void)state;
    ecb_dataset *d = load_shared("bigann10k");
    if (!d) TU_SKIP("../shared/data/bigann10k absent");
    assert_int_equal(ecb_vecs_count(d->corpus), 10000);
    assert_int_equal(ecb_vecs_dim(d->corpus), 128);
    assert_int_equal(ecb_vecs_count(d->queries), 100);
    float x[128], y[128];
    const float want[8] = {0, 0, 0, 1, 8, 7, 3, 2};
    assert_int_equal(ecb_vecs_read(d->corpus, 0, 1, x), 0);
    for (size_t j = 0; j < 8; j++) assert_true(x[j] == want[j]);
    /* queries are base vectors 0-99 */
    assert_int_equal(ecb_vecs_read(d->queries, 0, 1, y), 0);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(d->gt[0], 0);
    assert_int_equal(d->gt[1], 2);
    assert_int_equal(d->gt[2], 5398);
    ecb_dataset_free(d);
}

static void test_shared_fmnistsmall(void **state)
{
    (void)state;
    ecb_dataset *d = load_shared("fmnistsmall");
    if (!d) TU_SKIP("../shared/data/fmnistsmall absent");
    assert_int_equal(ecb_vecs_count(d->corpus), 1000);
    assert_int_equal(ecb_vecs_dim(d->corpus), 784);
    assert_int_equal(ecb_vecs_count(d->queries), 500);
    float x[784];
    assert_int_equal(ecb_vecs_read(d->corpus, 0, 1, x), 0);
    assert_true(x[95] == 0 && x[96] == 1 && x[99] == 13 && x[100] == 73);
    assert_int_equal(d->gt_k, 100);
    assert_int_equal(d->gt[0], 111);
    assert_int_equal(d->gt[1], 884);
    ecb_dataset_free(d);
}

static void test_shared_cranfield(void **state)
{
    (void)state;
    ecb_dataset *d = load_shared("cranfield");
    if (!d) TU_SKIP("../shared/data/cranfield absent");
    assert_int_equal(d->sim, ECB_DS_COSINE);
    assert_int_equal(ecb_vecs_count(d->corpus), 1398);
    assert_int_equal(ecb_vecs_dim(d->corpus), 256);
    assert_int_equal(ecb_vecs_count(d->queries), 225);
    float x[256];
    assert_int_equal(ecb_vecs_read(d->corpus, 0, 1, x), 0);
    assert_true(fabsf(x[0] - 0.27028346f) < 1e-7f && fabsf(x[1] + 0.11069509f) < 1e-7f);
    assert_int_equal(ecb_vecs_read(d->queries, 0, 1, x), 0);
    assert_true(fabsf(x[0] - 0.12733923f) < 1e-7f);
    const ecb_qrels *q = d->qrels;
    assert_non_null(q);
    assert_int_equal(q->n_lines, 1612);
    assert_int_equal(q->n_unknown_query, 0);
    assert_int_equal(q->n_unknown_doc, 1);
    size_t total = 0, missing_q = SIZE_MAX;
    for (size_t i = 0; i < q->n_queries; i++) {
        total += q->n_judg[i];
        for (size_t j = 0; j < q->n_judg[i]; j++)
            if (q->judg[i][j].doc < 0) {
                missing_q = i;
                assert_int_equal(q->judg[i][j].rel, 2); /* "125 0 995 2" */
            }
    }
    assert_int_equal(total, 1612);
    assert_true(missing_q != SIZE_MAX);
    assert_string_equal(d->query_ids[missing_q], "125");
    assert_null(d->gt);

    /* The .npy copies hold the same vectors, the BEIR file the same judgments. */
    char *np = tu_shared_file("cranfield/corpus.npy");
    char *tsv = tu_shared_file("cranfield/qrels.tsv");
    if (np) {
        ecb_vecs *v;
        assert_int_equal(ecb_vecs_open(np, &v), 0);
        uint64_t h1, h2;
        assert_int_equal(ecb_vecs_hash(v, &h1), 0);
        assert_int_equal(ecb_vecs_hash(d->corpus, &h2), 0);
        assert_true(h1 == h2);
        ecb_vecs_free(v);
    }
    if (tsv) {
        ecb_qrels *b;
        assert_int_equal(ecb_qrels_load(tsv, d->query_ids, 225, d->doc_ids, 1398, &b), 0);
        assert_int_equal(b->n_lines, 1612);
        assert_int_equal(b->n_unknown_doc, 1);
        for (size_t i = 0; i < 225; i++) {
            assert_int_equal(b->n_judg[i], q->n_judg[i]);
            for (size_t j = 0; j < b->n_judg[i]; j++) {
                assert_int_equal(b->judg[i][j].doc, q->judg[i][j].doc);
                assert_int_equal(b->judg[i][j].rel, q->judg[i][j].rel);
            }
        }
        ecb_qrels_free(b);
    }
    free(np);
    free(tsv);
    ecb_dataset_free(d);
}

/* The content hash behind the ground-truth cache key: independent of how
 * the bytes are split across updates, and XXH3-64 itself when built with
 * libxxhash (XXH3_64bits("") and ("abc") from the reference values). */
static void test_content_hash(void **state)
{
    (void)state;
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131u + 7u);
    ecb_chash *a = ecb_chash_new(), *b = ecb_chash_new();
    assert_non_null(a);
    assert_non_null(b);
    ecb_chash_update(a, buf, sizeof buf);
    for (size_t i = 0, step = 1; i < sizeof buf; i += step, step = step * 2 + 1)
        ecb_chash_update(b, buf + i, step < sizeof buf - i ? step : sizeof buf - i);
    assert_true(ecb_chash_digest(a) == ecb_chash_digest(b));
    ecb_chash_update(b, "x", 1);
    assert_true(ecb_chash_digest(a) != ecb_chash_digest(b));
    ecb_chash_free(a);
    ecb_chash_free(b);
    ecb_chash_free(NULL);
    if (strcmp(ecb_chash_name(), "xxh3-64") == 0) {
        ecb_chash *e = ecb_chash_new();
        assert_true(ecb_chash_digest(e) == 0x2D06800538D394C2ull);
        ecb_chash_update(e, "abc", 3);
        assert_true(ecb_chash_digest(e) == 0x78AF5F94892F3950ull);
        ecb_chash_free(e);
    } else {
        assert_string_equal(ecb_chash_name(), "fnv1a-64");
    }
}

int main(void)
{
    ecb_log_level = ECB_LOG_ERROR; /* the expected unknown-id warnings */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_formats),
        cmocka_unit_test(test_content_hash),
        cmocka_unit_test(test_byte_formats),
        cmocka_unit_test(test_ivecs),
        cmocka_unit_test(test_broken_vectors),
        cmocka_unit_test(test_nonfinite_on_read),
        cmocka_unit_test(test_generated_subset),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_qrels),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_manifest_broken),
        cmocka_unit_test(test_shared_siftsmall),
        cmocka_unit_test(test_shared_bigann10k),
        cmocka_unit_test(test_shared_fmnistsmall),
        cmocka_unit_test(test_shared_cranfield),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
