/*
 * Isolation of cells (harness/isolate.c) and nested corpus subsets
 * (ecb_dataset_subset, datasets/subset.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "datasets/dataset.h"
#include "harness/isolate.h"
#include "harness/registry.h"

/* ---- isolation ---------------------------------------------------------- */

static int fn_hello(void *arg, char **text, size_t *len)
{
    (void)arg;
    *text = strdup("row,1\nper,query\n");
    *len = strlen(*text);
    return 7;
}

static int fn_big(void *arg, char **text, size_t *len)
{
    size_t n = *(size_t *)arg;
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (char)('a' + i % 26);
    *text = p;
    *len = n;
    return 0;
}

static int fn_segv(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    raise(SIGSEGV);
    return 0;
}

static int fn_abort(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    abort();
}

static int fn_hang(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    for (;;) pause();
    return 0;
}

static int fn_sigkill(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    raise(SIGKILL);
    return 0;
}

static int fn_exit3(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    _exit(3);
}

/* Allocates 1 GiB: must fail under a 256 MiB address-space limit. */
static int fn_alloc(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    void *p = malloc((size_t)1 << 30);
    int got = p != NULL;
    free(p);
    return got ? 1 : 2;
}

/* Touches 64 MiB: the child's peak RSS must show it. */
static int fn_touch(void *arg, char **text, size_t *len)
{
    (void)arg; (void)text; (void)len;
    size_t n = (size_t)64 << 20;
    volatile char *p = malloc(n);
    if (!p) return 1;
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    int s = p[n / 2];
    free((void *)p);
    return s == 1 ? 0 : 1;
}

static void test_iso_ok(void **state)
{
    (void)state;
    ecb_iso_limits lim = {10, 0};
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(&lim, fn_hello, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_OK);
    assert_int_equal(r.code, 7);
    assert_string_equal(r.text, "row,1\nper,query\n");
    assert_int_equal(r.len, 16);
    ecb_iso_result_release(&r);
}

/* Output far larger than a pipe buffer (64 KiB) comes through whole. */
static void test_iso_big_output(void **state)
{
    (void)state;
    size_t n = 5u << 20;
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(NULL, fn_big, &n, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_OK);
    assert_int_equal(r.len, n);
    for (size_t i = 0; i < n; i += 4099) assert_int_equal(r.text[i], 'a' + (int)(i % 26));
    ecb_iso_result_release(&r);
}

static void test_iso_crash(void **state)
{
    (void)state;
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(NULL, fn_abort, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_CRASHED);
    assert_non_null(strstr(r.reason, "SIGABRT"));
    assert_null(r.text);
    assert_int_equal(ecb_isolate_run(NULL, fn_segv, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_CRASHED);
    /* ASan catches SIGSEGV itself and exits with a status instead */
    if (!TU_ASAN) assert_non_null(strstr(r.reason, "signal 11 (SIGSEGV)"));
    assert_int_equal(ecb_isolate_run(NULL, fn_exit3, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_CRASHED);
    assert_non_null(strstr(r.reason, "exited with status 3"));
}

static int ticks;
static void count_tick(void *arg, double el) { (void)arg; (void)el; ticks++; }

static void test_iso_timeout(void **state)
{
    (void)state;
    ecb_iso_limits lim = {1.5, 0};
    ecb_iso_result r;
    ticks = 0;
    assert_int_equal(ecb_isolate_run(&lim, fn_hang, NULL, count_tick, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_TIMEOUT);
    assert_non_null(strstr(r.reason, "time_limit_s"));
    assert_true(r.seconds >= 1.4 && r.seconds < 30);
    assert_true(ticks >= 1);
}

/* A SIGKILL ecbench did not send is what the kernel's OOM killer does. */
static void test_iso_unexplained_sigkill(void **state)
{
    (void)state;
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(NULL, fn_sigkill, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_OOM);
    assert_non_null(strstr(r.reason, "out-of-memory killer"));
}

static void test_iso_memory_limit(void **state)
{
    (void)state;
    if (TU_ASAN) TU_SKIP("ASan reserves terabytes of address space: RLIMIT_AS cannot apply");
    ecb_iso_limits lim = {0, 256};
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(&lim, fn_alloc, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_OK);
    assert_int_equal(r.code, 2); /* malloc failed in the child */
    ecb_iso_result_release(&r);
    lim.memory_limit_mb = 0;
    assert_int_equal(ecb_isolate_run(&lim, fn_alloc, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.code, 1); /* and succeeds without a limit */
    ecb_iso_result_release(&r);
}

static void test_iso_peak_rss(void **state)
{
    (void)state;
    ecb_iso_result r;
    assert_int_equal(ecb_isolate_run(NULL, fn_touch, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, ECB_ISO_OK);
    assert_int_equal(r.code, 0);
    assert_true(r.peak_rss_mb >= 64.0);
    ecb_iso_result_release(&r);
}

static void test_plugin_external(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/float32.so", tu_methods_dir());
    if (access(path, R_OK) != 0) TU_SKIP("float32.so not built");
    ecb_plugin p = {0};
    p.path = path;
    assert_int_equal(ecb_plugin_is_external(&p), 0);
    char *dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/x.so", dir);
    tu_write_file(path, "");
    assert_int_equal(ecb_plugin_is_external(&p), 1);
    p.path = NULL;
    assert_int_equal(ecb_plugin_is_external(&p), 1);
    free(dir);
}

/* ---- nested corpus subsets ------------------------------------------------ */

static ecb_dataset *synth(void)
{
    ecb_synth_params p;
    ecb_synth_defaults(&p);
    p.n = 3000;
    p.dim = 16;
    p.queries = 30;
    p.seed = 5;
    ecb_dataset *d = NULL;
    assert_int_equal(ecb_dataset_synthetic(&p, &d), 0);
    assert_non_null(d->qrels);
    return d;
}

static int has_id(const ecb_dataset *d, const char *id)
{
    size_t n = ecb_vecs_count(d->corpus);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d->doc_ids[i], id) == 0) return 1;
    return 0;
}

static size_t judged_docs(const ecb_dataset *d, unsigned char *mark)
{
    size_t n = 0;
    for (size_t q = 0; q < d->qrels->n_queries; q++)
        for (size_t j = 0; j < d->qrels->n_judg[q]; j++) {
            int64_t doc = d->qrels->judg[q][j].doc;
            if (doc >= 0 && !mark[doc]) { mark[doc] = 1; n++; }
        }
    return n;
}

static void test_subset_nested_judged_seeded(void **state)
{
    (void)state;
    ecb_dataset *full = synth();
    size_t n = ecb_vecs_count(full->corpus), dim = ecb_vecs_dim(full->corpus);
    unsigned char *mark = calloc(n, 1);
    size_t J = judged_docs(full, mark);
    assert_true(J > 0 && J < 1000);
    size_t sizes[3] = {J + 50, 1500, 2500};
    ecb_dataset *sub[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ecb_dataset_subset(full, sizes[i], 42, &sub[i]), 0);
        assert_int_equal(ecb_vecs_count(sub[i]->corpus), sizes[i]);
        assert_int_equal(ecb_vecs_count(sub[i]->queries), ecb_vecs_count(full->queries));
        /* every judged document is kept */
        for (size_t r = 0; r < n; r++)
            if (mark[r]) assert_true(has_id(sub[i], full->doc_ids[r]));
        /* rows keep their original order (synthetic ids are "0".."n-1") */
        for (size_t r = 1; r < sizes[i]; r++)
            assert_true(atol(sub[i]->doc_ids[r - 1]) < atol(sub[i]->doc_ids[r]));
        /* qrels are remapped to the same documents */
        for (size_t q = 0; q < full->qrels->n_queries; q++) {
            assert_int_equal(sub[i]->qrels->n_judg[q], full->qrels->n_judg[q]);
            for (size_t j = 0; j < full->qrels->n_judg[q]; j++) {
                const ecb_judgment *a = &full->qrels->judg[q][j], *b = &sub[i]->qrels->judg[q][j];
                assert_int_equal(a->rel, b->rel);
                if (a->doc >= 0) assert_string_equal(full->doc_ids[a->doc], sub[i]->doc_ids[b->doc]);
            }
        }
        /* vectors are the parent's rows */
        float x[16], y[16];
        for (size_t r = 0; r < sizes[i]; r += 97) {
            ecb_vecs_read(sub[i]->corpus, r, 1, x);
            ecb_vecs_read(full->corpus, (size_t)atol(sub[i]->doc_ids[r]), 1, y);
            assert_memory_equal(x, y, dim * sizeof(float));
        }
    }
    /* nested: each smaller subset is contained in the larger ones */
    for (int i = 0; i < 2; i++)
        for (size_t r = 0; r < sizes[i]; r++) assert_true(has_id(sub[i + 1], sub[i]->doc_ids[r]));
    /* seeded: same seed, same subset; another seed, another one */
    ecb_dataset *again = NULL, *other = NULL;
    assert_int_equal(ecb_dataset_subset(full, 1500, 42, &again), 0);
    assert_int_equal(ecb_dataset_subset(full, 1500, 43, &other), 0);
    size_t differ = 0;
    for (size_t r = 0; r < 1500; r++) {
        assert_string_equal(again->doc_ids[r], sub[1]->doc_ids[r]);
        differ += strcmp(other->doc_ids[r], sub[1]->doc_ids[r]) != 0;
    }
    assert_true(differ > 0);
    /* the full size is the identity */
    ecb_dataset *all = NULL;
    assert_int_equal(ecb_dataset_subset(full, n, 42, &all), 0);
    for (size_t r = 0; r < n; r++) assert_string_equal(all->doc_ids[r], full->doc_ids[r]);
    /* fewer rows than judged documents: an error naming both numbers */
    ecb_dataset *tiny = NULL;
    assert_int_equal(ecb_dataset_subset(full, J - 1, 42, &tiny), ECB_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "the %zu judged documents", J);
    assert_non_null(strstr(ecb_last_error(), want));
    ecb_dataset_free(all);
    ecb_dataset_free(again);
    ecb_dataset_free(other);
    for (int i = 0; i < 3; i++) ecb_dataset_free(sub[i]);
    ecb_dataset_free(full);
    free(mark);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_ok),
        cmocka_unit_test(test_iso_big_output),
        cmocka_unit_test(test_iso_crash),
        cmocka_unit_test(test_iso_timeout),
        cmocka_unit_test(test_iso_unexplained_sigkill),
        cmocka_unit_test(test_iso_memory_limit),
        cmocka_unit_test(test_iso_peak_rss),
        cmocka_unit_test(test_plugin_external),
        cmocka_unit_test(test_subset_nested_judged_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
