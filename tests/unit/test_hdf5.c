/*
 * HDF5 datasets in the ann-benchmarks layout (issue 16). The files are made
 * at test time by tests/data/make_hdf5.py (h5py, as ann-benchmarks writes
 * them): small well-formed and broken fixtures, and siftsmall from
 * ../shared/data, which must read bit for bit like its fvecs original.
 * Without h5py the cases skip visibly; in a build without libhdf5 the one
 * case that runs checks the "built without HDF5" error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "datasets/dataset.h"

static char *dir;
static int made;       /* make_hdf5.py ran */
static int made_sift;  /* ... with siftsmall */

static const char *h5(const char *name)
{
    static char b[4][4200];
    static int k;
    char *p = b[k++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", dir, name);
    return p;
}

static void assert_msg(const char *needle)
{
    const char *m = ecb_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    if (!ecb_hdf5_available()) return 0;
    const char *src = getenv("ECB_SOURCE_DIR");
    char *sift = tu_shared_file("siftsmall/base.fvecs");
    if (sift) *strrchr(sift, '/') = '\0';
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/data/make_hdf5.py' '%s' %s%s%s",
             src ? src : "..", dir, sift ? "'" : "", sift ? sift : "", sift ? "'" : "");
    int rc = access("/usr/bin/python3", X_OK) == 0 ? system(cmd) : -1;
    if (rc == 0) made = 1, made_sift = sift != NULL;
    else fprintf(stderr, "make_hdf5.py did not run (exit %d): HDF5 file cases skip\n", rc);
    free(sift);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

#define NEED_FILES()                                                              \
    do {                                                                          \
        if (!ecb_hdf5_available()) TU_SKIP("built without libhdf5");              \
        if (!made) TU_SKIP("make_hdf5.py could not run (/usr/bin/python3 + h5py)"); \
    } while (0)

/* small.fvecs row i = [i, i + 0.5, -0.25 i, 1000 + i]; queries.fvecs = rows 4, 0, 2 */
static void assert_small(const ecb_dataset *d)
{
    assert_int_equal(ecb_vecs_count(d->corpus), 5);
    assert_int_equal(ecb_vecs_dim(d->corpus), 4);
    assert_int_equal(ecb_vecs_count(d->queries), 3);
    float x[20], q[12];
    assert_int_equal(ecb_vecs_read(d->corpus, 0, 5, x), 0);
    assert_int_equal(ecb_vecs_read(d->queries, 0, 3, q), 0);
    for (int i = 0; i < 5; i++) {
        float want[4] = {(float)i, (float)i + 0.5f, -0.25f * (float)i, 1000.0f + (float)i};
        assert_memory_equal(x + 4 * i, want, sizeof want);
    }
    assert_memory_equal(q, x + 16, 16);
    assert_memory_equal(q + 4, x, 16);
    assert_memory_equal(q + 8, x + 8, 16);
    assert_int_equal(d->gt_k, 2);
    for (int i = 0; i < 6; i++) assert_true(d->gt[i] >= 0 && d->gt[i] < 5);
}

static void test_good_files(void **state)
{
    (void)state;
    NEED_FILES();
    static const struct {
        const char *file;
        ecb_ds_similarity sim;
    } good[] = {
        {"ok_angular.hdf5", ECB_DS_COSINE}, {"ok_fixedstr.hdf5", ECB_DS_L2},
        {"ok_f64.hdf5", ECB_DS_DOT},        {"ok_f16.hdf5", ECB_DS_DOT},
        {"ok_chunked.hdf5", ECB_DS_DOT},    {"ok_nodistances.hdf5", ECB_DS_DOT},
        {"ok_latest.hdf5", ECB_DS_DOT},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ecb_dataset *d = NULL;
        if (ecb_dataset_load_hdf5(h5(good[i].file), &d))
            fail_msg("%s: %s", good[i].file, ecb_last_error());
        assert_small(d);
        assert_int_equal(d->sim, good[i].sim);
        char want[64];
        snprintf(want, sizeof want, "%s", good[i].file);
        *strrchr(want, '.') = '\0';
        assert_string_equal(d->name, want);
        assert_string_equal(d->doc_ids[4], "4");
        ecb_dataset_free(d);
    }
    /* exact neighbours of the queries (rows 4, 0, 2) under l2 start with themselves */
    ecb_dataset *d = NULL;
    assert_int_equal(ecb_dataset_load_hdf5(h5("ok_fixedstr.hdf5"), &d), 0);
    assert_int_equal(d->gt[0], 4);
    assert_int_equal(d->gt[2], 0);
    assert_int_equal(d->gt[4], 2);
    ecb_dataset_free(d);
}

static void test_bad_files(void **state)
{
    (void)state;
    NEED_FILES();
    static const struct {
        const char *file;
        int rc;
        const char *msg;
    } bad[] = {
        {"bad_jaccard.hdf5", ECB_ENOTSUP, "attribute 'distance' is 'jaccard': unsupported"},
        {"bad_hamming.hdf5", ECB_ENOTSUP, "'hamming': unsupported"},
        {"bad_metric.hdf5", ECB_EFORMAT, "'manhattan', expected angular, euclidean or dot"},
        {"bad_distint.hdf5", ECB_EFORMAT, "attribute 'distance': expected one string"},
        {"ok_nodist.hdf5", ECB_EFORMAT, "no attribute 'distance'"},
        {"bad_notrain.hdf5", ECB_EFORMAT, "missing dataset /train (the corpus)"},
        {"bad_notest.hdf5", ECB_EFORMAT, "missing dataset /test (the queries)"},
        {"bad_noneighbors.hdf5", ECB_EFORMAT, "missing dataset /neighbors (the ground truth)"},
        {"bad_group.hdf5", ECB_EFORMAT, "/train is not a dataset"},
        {"bad_rank.hdf5", ECB_EFORMAT, "/train: expected 2 dimensions (rows, dim), got 1"},
        {"bad_rank3.hdf5", ECB_EFORMAT, "/test: expected 2 dimensions (rows, dim), got 3"},
        {"bad_type.hdf5", ECB_EFORMAT, "/train: expected floating-point values, got integers"},
        {"bad_nbtype.hdf5", ECB_EFORMAT, "/neighbors: expected integer values, got floating"},
        {"bad_nbrows.hdf5", ECB_EFORMAT, "/neighbors has 2 rows, expected 3 (one per row of /test)"},
        {"bad_nbrange.hdf5", ECB_EFORMAT, "/neighbors row 1, column 1 is 5, expected a row of "
                                          "/train in [0, 5)"},
        {"bad_testdim.hdf5", ECB_EFORMAT, "/test has dim 3, expected 4 like /train"},
        {"bad_distshape.hdf5", ECB_EFORMAT, "/distances is 3 x 3, expected 3 x 2"},
        {"bad_empty.hdf5", ECB_EFORMAT, "/train: shape (0, 4) out of range"},
        {"bad_lzf.hdf5", ECB_EIO, "bad_lzf.hdf5:/train: cannot read rows [0, 5) (compressed with a filter"},
        {"bad_notanhdf5.hdf5", ECB_EFORMAT, "cannot open as HDF5"},
        {"absent.hdf5", ECB_ENOTFOUND, "absent.hdf5: cannot open HDF5 file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ecb_dataset *d = NULL;
        int rc = ecb_dataset_load_hdf5(h5(bad[i].file), &d);
        if (rc == 0) {
            ecb_dataset_free(d);
            fail_msg("%s accepted", bad[i].file);
        }
        if (rc != bad[i].rc) fail_msg("%s: rc %d (%s)", bad[i].file, rc, ecb_last_error());
        assert_null(d);
        assert_msg(bad[i].file);
        assert_msg(bad[i].msg);
    }
    /* a NaN is found when its block is read, as for every format */
    ecb_dataset *d = NULL;
    assert_int_equal(ecb_dataset_load_hdf5(h5("bad_nan.hdf5"), &d), 0);
    float q[12];
    assert_int_equal(ecb_vecs_read(d->queries, 0, 3, q), ECB_EFORMAT);
    assert_msg("bad_nan.hdf5:/test: row 1, component 2: value is NaN");
    ecb_dataset_free(d);
    /* a FIFO does not block the open */
    const char *fifo = h5("fifo.hdf5");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(ecb_dataset_load_hdf5(fifo, &d), ECB_EINVAL);
    assert_msg("not a regular file but a FIFO");
    unlink(fifo);
}

static const char *manifest(const char *text)
{
    const char *p = h5("manifest.json");
    assert_int_equal(tu_write_file(p, text), 0);
    return p;
}

static void test_manifest(void **state)
{
    (void)state;
    NEED_FILES();
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_manifest(manifest("{\"name\": \"tiny\", \"hdf5\": \"ok_angular.hdf5\", "
                                           "\"dim\": 4, \"n_queries\": 3, \"meta\": {\"from\": "
                                           "\"ann-benchmarks\"}}"), &d))
        fail_msg("%s", ecb_last_error());
    assert_small(d);
    assert_string_equal(d->name, "tiny");
    assert_int_equal(d->sim, ECB_DS_COSINE);
    assert_string_equal(d->meta_json, "{\"from\":\"ann-benchmarks\"}");
    ecb_dataset_free(d);
    /* the similarity fills in a missing attribute, and must agree with one */
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"ok_nodist.hdf5\", "
                                                        "\"similarity\": \"l2\"}"), &d), 0);
    assert_int_equal(d->sim, ECB_DS_L2);
    ecb_dataset_free(d);
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"ok_angular.hdf5\", "
                                                        "\"similarity\": \"cosine\"}"), &d), 0);
    ecb_dataset_free(d);
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"ok_angular.hdf5\", "
                                                        "\"similarity\": \"dot\"}"), &d),
                     ECB_EFORMAT);
    assert_msg("manifest.json: \"hdf5\": \"similarity\" is dot, but");
    assert_msg("ok_angular.hdf5's attribute 'distance' means cosine");
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"ok_angular.hdf5\", "
                                                        "\"groundtruth\": \"gt.ivecs\"}"), &d),
                     ECB_EFORMAT);
    assert_msg("key \"groundtruth\": not with \"hdf5\"");
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"ok_angular.hdf5\", "
                                                        "\"n_corpus\": 6}"), &d), ECB_EFORMAT);
    assert_msg("\"n_corpus\" is 6 but");
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"bad_nbrows.hdf5\"}"), &d),
                     ECB_EFORMAT);
    assert_msg("manifest.json: \"hdf5\": ");
    assert_msg("/neighbors has 2 rows");
}

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    void *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void test_image(void **state)
{
    (void)state;
    NEED_FILES();
    size_t n;
    void *img = slurp(h5("ok_chunked.hdf5"), &n);
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_hdf5_image(img, n, "mem.hdf5", &d)) fail_msg("%s", ecb_last_error());
    assert_small(d);
    assert_string_equal(d->name, "mem");
    ecb_dataset_free(d);
    assert_int_equal(ecb_dataset_load_hdf5_image(img, n / 2, "half.hdf5", &d), ECB_EFORMAT);
    assert_msg("half.hdf5");
    free(img);
}

typedef struct {
    const ecb_vecs *v;
    const float *want;
    int bad;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    size_t dim = ecb_vecs_dim(a->v), n = ecb_vecs_count(a->v);
    float *buf = malloc(97 * dim * sizeof *buf);
    for (int rep = 0; rep < 3; rep++)
        for (size_t s = 0; s < n; s += 97) {
            size_t c = n - s < 97 ? n - s : 97;
            if (ecb_vecs_read(a->v, s, c, buf) ||
                memcmp(buf, a->want + s * dim, c * dim * sizeof *buf))
                a->bad = 1;
        }
    free(buf);
    return NULL;
}

/* siftsmall as HDF5 reads exactly like the fvecs original: every block,
 * arbitrary rows, from two threads at once, the same content hash (so the
 * ground-truth cache is shared) and the same ground truth. */
static void test_siftsmall(void **state)
{
    (void)state;
    NEED_FILES();
    if (!made_sift) TU_SKIP("../shared/data/siftsmall absent");
    char *mf = tu_shared_file("siftsmall/manifest.json");
    ecb_dataset *a = NULL, *b = NULL;
    assert_int_equal(ecb_dataset_load_manifest(mf, &a), 0);
    free(mf);
    if (ecb_dataset_load_hdf5(h5("siftsmall.hdf5"), &b)) fail_msg("%s", ecb_last_error());
    assert_int_equal(b->sim, ECB_DS_L2);
    size_t n = ecb_vecs_count(a->corpus), dim = ecb_vecs_dim(a->corpus);
    assert_int_equal(ecb_vecs_count(b->corpus), n);
    assert_int_equal(ecb_vecs_dim(b->corpus), dim);
    float *x = malloc(n * dim * sizeof *x), *y = malloc(n * dim * sizeof *y);
    assert_int_equal(ecb_vecs_read(a->corpus, 0, n, x), 0);
    assert_int_equal(ecb_vecs_read(b->corpus, 0, n, y), 0);
    assert_memory_equal(x, y, n * dim * sizeof *x);
    size_t rows[5] = {n - 1, 0, 4321, 4322, 17};
    float r[5 * 128];
    assert_true(dim <= 128);
    assert_int_equal(ecb_vecs_read_rows(b->corpus, rows, 5, r), 0);
    for (int i = 0; i < 5; i++) assert_memory_equal(r + i * dim, x + rows[i] * dim, dim * 4);
    /* a subset (the runner's corpus sizes) reads through the parent's blocks */
    ecb_vecs *sub = NULL;
    assert_int_equal(ecb_vecs_subset(b->corpus, rows, 5, &sub), 0);
    assert_int_equal(ecb_vecs_read(sub, 1, 4, r), 0);
    for (int i = 1; i < 5; i++) assert_memory_equal(r + (i - 1) * dim, x + rows[i] * dim, dim * 4);
    ecb_vecs_free(sub);
    pthread_t t[2];
    reader_arg ra[2] = {{b->corpus, x, 0}, {b->corpus, x, 0}};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, reader, &ra[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_false(ra[0].bad || ra[1].bad);
    uint64_t ha, hb;
    assert_int_equal(ecb_vecs_hash(a->corpus, &ha), 0);
    assert_int_equal(ecb_vecs_hash(b->corpus, &hb), 0);
    assert_true(ha == hb);
    assert_int_equal(ecb_vecs_hash(a->queries, &ha), 0);
    assert_int_equal(ecb_vecs_hash(b->queries, &hb), 0);
    assert_true(ha == hb);
    assert_int_equal(a->gt_k, b->gt_k);
    assert_memory_equal(a->gt, b->gt, ecb_vecs_count(a->queries) * a->gt_k * sizeof *a->gt);
    free(x);
    free(y);
    ecb_dataset_free(a);
    ecb_dataset_free(b);
}

/* Files on which libhdf5 1.10 itself crashes or allocates gigabytes
 * (found by tests/fuzz/fuzz_hdf5, kept in its corpus) are refused with an
 * error, and the process that asked survives. */
static void test_library_crashes(void **state)
{
    (void)state;
    if (!ecb_hdf5_available()) TU_SKIP("built without libhdf5");
    const char *src = getenv("ECB_SOURCE_DIR");
    static const struct {
        const char *file, *msg;
    } cases[] = {
        {"crash-segv-libhdf5-H5HG_read.hdf5", "libhdf5 crashed reading this file"},
        {"crash-memcpy-overlap-libhdf5.hdf5", "libhdf5 crashed reading this file"},
        /* the child's malloc fails cleanly (an error), or aborts under ASan */
        {"crash-oom-libhdf5-4GiB.hdf5", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/tests/corpus/hdf5/%s", src ? src : "..", cases[i].file);
        ecb_dataset *d = NULL;
        int rc = ecb_dataset_load_hdf5(path, &d);
        ecb_dataset_free(d);
        if (rc != ECB_EFORMAT) fail_msg("%s: rc %d (%s)", cases[i].file, rc, ecb_last_error());
        assert_msg(cases[i].file);
        if (cases[i].msg) assert_msg(cases[i].msg);
        else if (!strstr(ecb_last_error(), "attribute 'distance': cannot read the string"))
            assert_msg("libhdf5 crashed reading this file");
    }
}

static void test_without_hdf5(void **state)
{
    (void)state;
    if (ecb_hdf5_available()) TU_SKIP("built with libhdf5 (the -Dhdf5=disabled build runs this)");
    ecb_dataset *d = NULL;
    assert_int_equal(ecb_dataset_load_hdf5(h5("x.hdf5"), &d), ECB_ENOTSUP);
    assert_msg("built without HDF5");
    assert_int_equal(ecb_dataset_load_manifest(manifest("{\"hdf5\": \"x.hdf5\"}"), &d),
                     ECB_ENOTSUP);
    assert_msg("manifest.json: \"hdf5\": ");
    assert_msg("built without HDF5 support");
    assert_msg("libhdf5-dev");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_siftsmall),
        cmocka_unit_test(test_library_crashes),
        cmocka_unit_test(test_without_hdf5),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
