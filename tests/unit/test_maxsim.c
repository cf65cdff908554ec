/*
 * harness/maxsim.c: bit packing of token codes, exact MaxSim against hand
 * computed values (tests/data/multivec, ties in the one ranking order),
 * block-, batch- and thread-count invariance of the scan, token selection
 * through a chain (prune keeps ceil(p * n) tokens by salience), kmeans ids
 * at ceil(log2 k) bits stored packed, and the search over packed codes equal
 * to the search over the method's own codes; nested subsets of multi-vector
 * datasets.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"
#include "harness/maxsim.h"
#include "harness/params.h"
#include "harness/registry.h"

static ecb_registry *reg;

static int setup(void **state)
{
    (void)state;
    const char *dirs[] = {tu_methods_dir()};
    return ecb_registry_load_dirs(dirs, 1, &reg);
}

static int teardown(void **state)
{
    (void)state;
    ecb_registry_free(reg);
    return 0;
}

/* A chain stage of plugin name with JSON parameters (NULL: defaults). */
static ecb_stage stage(const char *name, const char *json)
{
    const ecb_plugin *p = ecb_registry_find(reg, name);
    if (!p) fail_msg("%s", ecb_last_error());
    ecb_stage st = {0};
    st.plugin = p;
    st.params = calloc(1, p->vt.params_size ? p->vt.params_size : 1);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    assert_int_equal(ecb_params_fill(p->vt.params, o, st.params, "test", name), 0);
    cJSON_Delete(o);
    return st;
}

static void free_chain(ecb_chain *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->stages[i].params);
}

static ecb_dataset *fixture(void)
{
    const char *src = getenv("ECB_SOURCE_DIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/data/multivec/manifest.json", src ? src : ".");
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_manifest_ex(path, ECB_DS_MULTIVECTOR, &d))
        fail_msg("%s", ecb_last_error());
    return d;
}

/* Token counts of a side. */
static size_t ntok(const ecb_mv_side *s) { return (size_t)s->offsets[s->n_items]; }

static float *query_tokens(const ecb_mvdata *mv)
{
    size_t n = ntok(&mv->queries), d = ecb_vecs_dim(mv->queries.tokens);
    float *q = malloc(n * d * sizeof *q);
    assert_int_equal(ecb_vecs_read(mv->queries.tokens, 0, n, q), 0);
    return q;
}

static ecb_dataset *synthetic(size_t n, size_t dim)
{
    ecb_synth_mv_params p;
    ecb_synth_mv_defaults(&p);
    p.docs = n;
    p.dim = dim;
    p.queries = 20;
    ecb_dataset *d = NULL;
    assert_int_equal(ecb_dataset_synthetic_mv(&p, &d), 0);
    return d;
}

/* ---- packing ----------------------------------------------------------------- */

static void test_pack(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 3);
    const size_t bits_list[] = {1, 2, 3, 7, 8, 9, 10, 13, 16, 17, 31, 57, 60, 64};
    for (size_t b = 0; b < sizeof bits_list / sizeof *bits_list; b++) {
        size_t bits = bits_list[b], cs = (bits + 7) / 8 + (bits == 10), n = 101;
        uint8_t *codes = calloc(n, cs), *back = calloc(n, cs);
        uint8_t *packed = calloc((n * bits + 7) / 8, 1);
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < bits; t++)
                if (ecb_rng_next(&r) & 1) codes[i * cs + t / 8] |= (uint8_t)(1u << (t % 8));
        assert_int_equal(ecb_codes_pack(codes, n, cs, bits, packed), 0);
        ecb_codes_unpack(packed, 0, n, cs, bits, back);
        assert_memory_equal(codes, back, n * cs);
        ecb_codes_unpack(packed, 37, 11, cs, bits, back); /* a block from the middle */
        assert_memory_equal(codes + 37 * cs, back, 11 * cs);
        if (bits % 8) { /* a bit set beyond code_bits is refused */
            memset(packed, 0, (n * bits + 7) / 8);
            codes[5 * cs + bits / 8] |= (uint8_t)(1u << (bits % 8));
            assert_int_not_equal(ecb_codes_pack(codes, n, cs, bits, packed), 0);
            assert_non_null(strstr(ecb_last_error(), "code 5 has bit"));
        }
        free(codes);
        free(back);
        free(packed);
    }
}

/* ---- exact MaxSim -------------------------------------------------------------- */

static void test_exact_fixture(void **state)
{
    (void)state;
    ecb_dataset *d = fixture();
    const ecb_mvdata *mv = d->mv;
    float *q = query_tokens(mv);
    const int64_t all[5] = {0, 1, 2, 3, 4};
    const float want[2][5] = {{2, 2, 1.5f, 1, 2}, {1, 0, 1, 1, 1}};
    float got[5];
    for (size_t i = 0; i < 2; i++) {
        size_t a = (size_t)mv->queries.offsets[i], n = (size_t)mv->queries.offsets[i + 1] - a;
        assert_int_equal(ecb_maxsim_exact_scores(mv->corpus.tokens, mv->corpus.offsets, 5, d->sim, q + a * 4, n,
                                                 all, 5, got), 0);
        for (int j = 0; j < 5; j++) assert_true(got[j] == want[i][j]);
    }
    /* ties by document id descending: d4 d1 d0 | d2 | d3 and d4 d3 d2 d0 | d1 */
    ecb_topk t;
    ecb_search_opts o = {.threads = 2, .block_rows = 4, .block_queries = 1};
    assert_int_equal(ecb_maxsim_groundtruth(d, q, 5, &o, &t), 0);
    const int64_t order[2][5] = {{4, 1, 0, 2, 3}, {4, 3, 2, 0, 1}};
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 5; j++) assert_int_equal(t.ids[i * 5 + j], order[i][j]);
    int64_t bad = 5;
    assert_int_not_equal(ecb_maxsim_exact_scores(mv->corpus.tokens, mv->corpus.offsets, 5, d->sim, q, 2, &bad,
                                                 1, got), 0);
    ecb_topk_release(&t);
    free(q);
    ecb_dataset_free(d);
}

/* The exact top-k re-scores its winners in double: any grid and thread
 * count gives the same bytes, equal to the brute force. */
static void test_exact_invariance(void **state)
{
    (void)state;
    ecb_dataset *d = synthetic(300, 24);
    const ecb_mvdata *mv = d->mv;
    float *q = query_tokens(mv);
    size_t n = mv->corpus.n_items, nq = mv->queries.n_items;
    const ecb_search_opts opts[] = {{1, 1u << 20, 1u << 20}, {3, 37, 5}, {2, 1, 1}, {4, 500, 64}};
    ecb_topk ref;
    assert_int_equal(ecb_maxsim_topk_exact(mv->corpus.tokens, mv->corpus.offsets, n, d->sim, q, mv->queries.offsets,
                                           nq, n, d->doc_id_rank, &opts[0], &ref), 0);
    for (size_t i = 1; i < sizeof opts / sizeof *opts; i++) {
        ecb_topk t;
        assert_int_equal(ecb_maxsim_topk_exact(mv->corpus.tokens, mv->corpus.offsets, n, d->sim, q,
                                               mv->queries.offsets, nq, n, d->doc_id_rank, &opts[i], &t), 0);
        assert_memory_equal(t.scores, ref.scores, nq * n * sizeof *t.scores);
        assert_memory_equal(t.ids, ref.ids, nq * n * sizeof *t.ids);
        ecb_topk_release(&t);
    }
    /* brute force */
    int64_t *all = malloc(n * sizeof *all);
    float *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) all[i] = (int64_t)i;
    for (size_t qi = 0; qi < nq; qi++) {
        size_t a = (size_t)mv->queries.offsets[qi], m = (size_t)mv->queries.offsets[qi + 1] - a;
        assert_int_equal(ecb_maxsim_exact_scores(mv->corpus.tokens, mv->corpus.offsets, n, d->sim, q + a * 24, m,
                                                 all, n, s), 0);
        ecb_rank_sort(s, all, n, d->doc_id_rank);
        assert_memory_equal(s, ref.scores + qi * n, n * sizeof *s);
        assert_memory_equal(all, ref.ids + qi * n, n * sizeof *all);
        for (size_t i = 0; i < n; i++) all[i] = (int64_t)i;
    }
    free(all);
    free(s);
    ecb_topk_release(&ref);
    free(q);
    ecb_dataset_free(d);
}

/* A chain trained and stored as multi-vector tokens. */
typedef struct {
    ecb_chain chain;
    ecb_stage st[3];
    ecb_chain_inst *b;
    ecb_mv_index ix;
} built;

static void build(built *bt, const ecb_dataset *d, size_t nst)
{
    bt->chain.stages = bt->st;
    bt->chain.n = nst;
    const ecb_mvdata *mv = d->mv;
    size_t dim = ecb_vecs_dim(mv->corpus.tokens);
    if (ecb_mv_select(&bt->chain, &mv->corpus, d->sim, 42, &bt->ix)) fail_msg("%s", ecb_last_error());
    assert_int_equal(ecb_chain_inst_create(&bt->chain, dim, ECB_SIM_DOT, 42, 2, &bt->b), 0);
    size_t ns = bt->ix.ntok;
    float *x = malloc(ns * dim * sizeof *x);
    size_t *rows = malloc(ns * sizeof *rows);
    for (size_t i = 0; i < ns; i++) rows[i] = bt->ix.rows ? bt->ix.rows[i] : i;
    assert_int_equal(ecb_vecs_read_rows(mv->corpus.tokens, rows, ns, x), 0);
    if (ecb_chain_inst_train(bt->b, x, ns)) fail_msg("%s", ecb_last_error());
    if (ecb_mv_index_encode(bt->b, &mv->corpus, 0, 2, 1000, &bt->ix)) fail_msg("%s", ecb_last_error());
    free(x);
    free(rows);
}

static void unbuild(built *bt)
{
    ecb_mv_index_release(&bt->ix);
    ecb_chain_inst_destroy(bt->b);
    free_chain(&bt->chain);
}

/* ---- token selection ------------------------------------------------------------ */

static void test_prune(void **state)
{
    (void)state;
    ecb_dataset *d = fixture();
    built bt = {.st = {stage("prune", "{\"p\": 0.5}"), stage("float32", NULL)}};
    build(&bt, d, 2);
    /* ceil(n/2) of each document by salience, in token order */
    const size_t rows[9] = {0, 2, 3, 5, 7, 9, 12, 13, 14};
    const int64_t off[6] = {0, 2, 3, 5, 6, 9};
    assert_int_equal(bt.ix.ntok, 9);
    assert_memory_equal(bt.ix.rows, rows, sizeof rows);
    assert_memory_equal(bt.ix.off, off, sizeof off);
    assert_int_equal(bt.ix.bytes, 9 * 16);
    /* MaxSim over the kept tokens: q0 scores d0 1, d1 2, d2 1, d3 0, d4 1 */
    float *q = query_tokens(d->mv);
    ecb_topk t;
    assert_int_equal(ecb_maxsim_topk_exact(bt.ix.kept, bt.ix.off, 5, d->sim, q, d->mv->queries.offsets,
                                           1, 5, d->doc_id_rank, NULL, &t), 0);
    const int64_t order[5] = {1, 4, 2, 0, 3};
    assert_memory_equal(t.ids, order, sizeof order);
    assert_true(t.scores[0] == 2 && t.scores[1] == 1 && t.scores[4] == 0);
    ecb_topk_release(&t);
    free(q);
    unbuild(&bt);

    /* the plugin's own rule: ceil(p n), at least one, salience then position */
    ecb_stage st = stage("prune", "{\"p\": 0.7}");
    ecb_chain one = {&st, 1};
    ecb_chain_inst *b = NULL;
    assert_int_equal(ecb_chain_inst_create(&one, 4, ECB_SIM_DOT, 1, 1, &b), 0);
    const ecb_method *m = ecb_chain_inst_quantizer(b);
    float x[40] = {0}, w[10] = {5, 1, 5, 2, 9, 0, 5, 3, 7, 4};
    size_t keep[10], kept = 0;
    assert_int_equal(st.plugin->vt.select(m, x, w, 10, keep, &kept), 0);
    assert_int_equal(kept, 7); /* 0.7 * 10 is 7.000000000000001 in binary */
    const size_t want[7] = {0, 2, 4, 6, 7, 8, 9}; /* weights 5 5 9 5 3 7 4 */
    assert_memory_equal(keep, want, sizeof want);
    assert_int_equal(st.plugin->vt.select(m, x, w, 1, keep, &kept), 0);
    assert_int_equal(kept, 1);
    ecb_chain_inst_destroy(b);
    free(st.params);
    for (double p = 0.05; p <= 1.0; p += 0.05) {
        char js[64];
        snprintf(js, sizeof js, "{\"p\": %.2f}", p);
        st = stage("prune", js);
        assert_int_equal(ecb_chain_inst_create(&one, 4, ECB_SIM_DOT, 1, 1, &b), 0);
        float ww[95];
        size_t kk[95];
        for (int i = 0; i < 95; i++) ww[i] = (float)((i * 37) % 11);
        assert_int_equal(st.plugin->vt.select(ecb_chain_inst_quantizer(b), NULL, ww, 95, kk, &kept), 0);
        double pp = strtod(js + 6, NULL);
        assert_int_equal(kept, (size_t)ceil(pp * 95 - 1e-9));
        for (size_t i = 1; i < kept; i++) assert_true(kk[i] > kk[i - 1]);
        ecb_chain_inst_destroy(b);
        free(st.params);
    }

    /* selection after a transform is refused, naming the stage */
    built bad = {.st = {stage("truncate", "{\"dim\": 2}"), stage("prune", NULL), stage("float32", NULL)}};
    bad.chain.stages = bad.st;
    bad.chain.n = 3;
    ecb_mv_index ix;
    ecb_dataset *d2 = fixture();
    assert_int_not_equal(ecb_mv_select(&bad.chain, &d2->mv->corpus, d2->sim, 1, &ix), 0);
    assert_non_null(strstr(ecb_last_error(), "token selection must come first"));
    free_chain(&bad.chain);
    ecb_dataset_free(d2);
    ecb_dataset_free(d);
}

/* ---- kmeans ids at ceil(log2 k) bits ---------------------------------------------- */

static void test_kmeans_bits(void **state)
{
    (void)state;
    const size_t ks[] = {2, 3, 16, 255, 256, 257, 1000, 1024, 1025, 65536};
    const size_t bits[] = {1, 2, 4, 8, 8, 9, 10, 10, 11, 16};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        char js[64];
        snprintf(js, sizeof js, "{\"k\": %zu}", ks[i]);
        ecb_stage st = stage("kmeans", js);
        ecb_chain one = {&st, 1};
        ecb_chain_inst *b = NULL;
        assert_int_equal(ecb_chain_inst_create(&one, 8, ECB_SIM_DOT, 1, 1, &b), 0);
        assert_non_null(st.plugin->vt.code_bits);
        assert_int_equal(st.plugin->vt.code_bits(ecb_chain_inst_quantizer(b)), bits[i]);
        ecb_chain_inst_destroy(b);
        free(st.params);
    }

    /* k = 1024: 10 bits per token stored, exactly */
    ecb_dataset *d = synthetic(200, 16);
    const ecb_mvdata *mv = d->mv;
    size_t T = ntok(&mv->corpus);
    built bt = {.st = {stage("kmeans", "{\"k\": 1024, \"iters\": 2}")}};
    build(&bt, d, 1);
    assert_int_equal(bt.ix.code_bits, 10);
    assert_int_equal(bt.ix.code_size, 2);
    assert_int_equal(bt.ix.bytes, (T * 10 + 7) / 8);
    assert_non_null(bt.ix.packed);
    uint8_t *un = malloc(T * 2);
    ecb_codes_unpack(bt.ix.packed, 0, T, 2, 10, un);
    assert_memory_equal(un, ecb_chain_inst_codes(bt.b), T * 2);
    free(un);

    /* searching the packed codes = searching the method's own codes, and any
     * thread count gives the same bytes */
    float *q = query_tokens(mv);
    for (int mode = 0; mode < 2; mode++) {
        uint8_t *prep = NULL;
        size_t qs;
        assert_int_equal(ecb_chain_inst_prepare(bt.b, (ecb_mode)mode, q, ntok(&mv->queries),
                                                &prep, &qs), 0);
        ecb_mv_index plain = bt.ix;
        plain.packed = NULL;
        ecb_topk a, b, c;
        ecb_search_opts o1 = {1, 300, 40}, o3 = {3, 300, 40};
        const ecb_method *m = ecb_chain_inst_quantizer(bt.b);
        assert_int_equal(ecb_maxsim_search_codes(m, (ecb_mode)mode, prep, mv->queries.offsets, mv->queries.n_items,
                                                 &bt.ix, 50, d->doc_id_rank, &o1, &a), 0);
        assert_int_equal(ecb_maxsim_search_codes(m, (ecb_mode)mode, prep, mv->queries.offsets, mv->queries.n_items,
                                                 &plain, 50, d->doc_id_rank, &o3, &b), 0);
        assert_memory_equal(a.scores, b.scores, mv->queries.n_items * 50 * sizeof *a.scores);
        assert_memory_equal(a.ids, b.ids, mv->queries.n_items * 50 * sizeof *a.ids);
        /* one query at a time: the same top-k (the batch grid differs, the
         * lookup-table scores do not) */
        for (size_t qi = 0; qi < mv->queries.n_items; qi++) {
            size_t t0 = (size_t)mv->queries.offsets[qi];
            assert_int_equal(ecb_maxsim_search_codes(m, (ecb_mode)mode, prep + t0 * qs,
                                                     mv->queries.offsets + qi, 1, &bt.ix, 50,
                                                     d->doc_id_rank, &o1, &c), 0);
            assert_memory_equal(c.ids, a.ids + qi * 50, 50 * sizeof *c.ids);
            ecb_topk_release(&c);
        }
        /* MaxSim of given documents agrees with the scan */
        float s[50];
        size_t t0 = (size_t)mv->queries.offsets[3], nqt = (size_t)mv->queries.offsets[4] - t0;
        assert_int_equal(ecb_maxsim_score_docs(m, (ecb_mode)mode, prep + t0 * qs, nqt, &bt.ix,
                                               a.ids + 3 * 50, 50, s), 0);
        for (int i = 0; i < 50; i++) assert_true(s[i] == a.scores[3 * 50 + i]);
        ecb_topk_release(&a);
        ecb_topk_release(&b);
        free(prep);
    }
    free(q);
    unbuild(&bt);
    ecb_dataset_free(d);
}

/* A nested corpus subset of a multi-vector dataset keeps its documents'
 * tokens and saliences (datasets/subset.c, ecb_mv_subset); the synthetic
 * collection's saliences follow the token kinds. */
static void test_subset(void **state)
{
    (void)state;
    ecb_dataset *a = synthetic(400, 16), *sub = NULL;
    const ecb_mvdata *mv = a->mv;
    assert_non_null(mv->corpus.weights);
    for (size_t t = 0; t < ntok(&mv->corpus); t++)
        assert_true(mv->corpus.weights[t] >= 0.1f && mv->corpus.weights[t] <= 1.0f);
    assert_int_equal(ecb_dataset_subset(a, 300, 1, &sub), 0);
    const ecb_mvdata *sm = sub->mv;
    assert_non_null(sm);
    assert_null(sub->corpus);
    assert_int_equal(sm->corpus.n_items, 300);
    assert_int_equal(ecb_dataset_n_corpus(sub), 300);
    assert_int_equal(sm->queries.n_items, mv->queries.n_items);
    assert_int_equal(ecb_mv_check_offsets("subset", sm->corpus.offsets, 301,
                                          ecb_vecs_count(sm->corpus.tokens)), 0);
    float *y = malloc(64 * 16 * sizeof *y), *z = malloc(64 * 16 * sizeof *z);
    for (size_t i = 0, r = 0; i < 300; i++) {
        while (strcmp(a->doc_ids[r], sub->doc_ids[i]) != 0) r++; /* rows keep their order */
        size_t n = (size_t)(sm->corpus.offsets[i + 1] - sm->corpus.offsets[i]);
        assert_int_equal(n, (size_t)(mv->corpus.offsets[r + 1] - mv->corpus.offsets[r]));
        assert_true(n <= 64);
        assert_int_equal(ecb_vecs_read(sm->corpus.tokens, (size_t)sm->corpus.offsets[i], n, y), 0);
        assert_int_equal(ecb_vecs_read(mv->corpus.tokens, (size_t)mv->corpus.offsets[r], n, z), 0);
        assert_memory_equal(y, z, n * 16 * sizeof *y);
        assert_memory_equal(sm->corpus.weights + sm->corpus.offsets[i],
                            mv->corpus.weights + mv->corpus.offsets[r], n * sizeof(float));
    }
    free(y);
    free(z);
    ecb_dataset_free(sub);
    ecb_dataset_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack),
        cmocka_unit_test(test_exact_fixture),
        cmocka_unit_test(test_exact_invariance),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_kmeans_bits),
        cmocka_unit_test(test_subset),
    };
    return cmocka_run_group_tests_name("maxsim", tests, setup, teardown);
}
