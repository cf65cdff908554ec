/*
 * Untrusted inputs of the datasets layer (issue 11):
 *  - item 7: the .npy header dict is a Python literal with exactly the keys
 *    'descr', 'fortran_order' and 'shape'. Each case writes a file whose
 *    data size matches the header's shape, so only the dict's syntax
 *    decides; a malformed dict must be an error naming the file and the
 *    byte position, a well-formed one in any legal spelling must open.
 *  - item 12: a UTF-8 byte-order mark at the start of an id file, TREC or
 *    BEIR qrels or a manifest is stripped (it used to become part of the
 *    first id, silently dropping a judgment); ids containing whitespace are
 *    rejected with the file and line, since a TREC run file separates its
 *    fields by whitespace.
 *  - issue 12: a manifest's free-form "meta" object is kept on the dataset
 *    (as compact JSON text); anything but an object is refused.
 *  - item 15: a FIFO, a device or a directory given as any data file
 *    (vectors, ground truth, ids, qrels, manifest) is refused at once with a
 *    message saying what it is; opening a FIFO used to block forever, and
 *    /dev/urandom as an id file filled memory.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "datasets/dataset.h"

#define BOM "\xEF\xBB\xBF"

static char *dir;

static const char *put(const char *name, const char *text)
{
    static char path[4][4200];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text), 0);
    return p;
}

static void assert_msg(const char *needle)
{
    const char *m = ecb_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* ---- .npy header ---------------------------------------------------------- */

/* A version-1 .npy with this header text and data bytes for rows x 4 values of esz bytes. */
static const char *write_npy(const char *name, const char *hdr, size_t rows, size_t esz)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(tu_write_npy(path, hdr, NULL, rows * 4 * esz), 0);
    return path;
}

static void test_npy_header_good(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4)}",
        "{\"shape\": (5,4), \"descr\": \"<f4\", \"fortran_order\": False}",
        "{ 'fortran_order' : False , 'shape' : ( 5 , 4 , ) , 'descr' : '<f4' , }",
        "{'descr':'<f4','fortran_order':False,'shape':(5,4)}",
        "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (5,\n 4)}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ecb_vecs *v = NULL;
        int rc = ecb_vecs_open(write_npy("good.npy", good[i], 5, 4), &v);
        if (rc) fail_msg("header %s rejected: %s", good[i], ecb_last_error());
        assert_int_equal(ecb_vecs_count(v), 5);
        assert_int_equal(ecb_vecs_dim(v), 4);
        ecb_vecs_free(v);
    }
}

static void test_npy_header_bad(void **state)
{
    (void)state;
    static const struct {
        const char *hdr, *msg;
    } bad[] = {
        /* every key once, nothing else */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4), 'junk': 1}",
         "unknown key 'junk'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4), 'descr': '<f4'}",
         "key 'descr' appears twice"},
        {"{'descr': '<f4', 'shape': (5, 4)}", "missing key 'fortran_order'"},
        /* Python syntax */
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (5, 4)}", "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (5, 4)}",
         "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (5, 4)}", "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5 4)}", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4)} junk",
         "after the dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4)", "expected ',' or '}'"},
        {"{'shape': (5, 4), 'fortran_order': False, 'descr': '<f4}", "unterminated string"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (5, 4)}", "expected a quoted key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [5, 4]}", "expected a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, -4)}", "expected an integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (05, 4)}", "leading zero"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4,,)}", "expected an integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5, 99999999999999999999999)}",
         "too large"},
        {"['descr', '<f4']", "expected '{'"},
        {"{'descr': b'<f4', 'fortran_order': False, 'shape': (5, 4)}", "expected a string"},
        {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (5, 4)}", "escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ecb_vecs *v = NULL;
        const char *path = write_npy("bad.npy", bad[i].hdr, 5, 4);
        int rc = ecb_vecs_open(path, &v);
        if (rc == 0) {
            ecb_vecs_free(v);
            fail_msg("malformed header accepted: %s", bad[i].hdr);
        }
        assert_int_equal(rc, ECB_EFORMAT);
        assert_msg("bad.npy: header byte ");
        assert_msg(bad[i].msg);
    }
    /* The position is the byte offset in the file: 10 bytes of preamble,
     * then the dict; 'junk' starts at dict byte 59. */
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_open(write_npy("bad.npy", bad[0].hdr, 5, 4), &v), ECB_EFORMAT);
    assert_msg("header byte 68: expected 'descr', 'fortran_order' or 'shape' (unknown key 'junk')");
}

/* A (5) is an int in Python, not a tuple: NumPy refuses it, so do we. */
static void test_npy_one_tuple(void **state)
{
    (void)state;
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_open(write_npy("one.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (20)}", 5, 4), &v), ECB_EFORMAT);
    assert_msg("write (20,)");
    /* (20,) is a 1-D tuple: parsed, then refused as not 2-D */
    assert_int_equal(ecb_vecs_open(write_npy("one.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (20,)}", 5, 4), &v), ECB_EFORMAT);
    assert_msg("expected 2 dimensions");
}

/* ---- text inputs ----------------------------------------------------------- */

static char *const qids[] = {"q1", "q2"};
static char *const dids[] = {"d1", "d2", "d3"};

static void test_bom_ids(void **state)
{
    (void)state;
    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(ecb_ids_load(put("ids.txt", BOM "d1\nd2\r\n"), &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "d1");
    assert_string_equal(ids[1], "d2");
    ecb_ids_free(ids, n);
    /* elsewhere than the start it is not an encoding mark but a corrupt id */
    assert_int_equal(ecb_ids_load(put("ids.txt", "d1\n" BOM "d2\n"), &ids, &n), ECB_EFORMAT);
    assert_msg("ids.txt:2: ");
    assert_msg("byte-order mark");
}

static void test_bom_qrels(void **state)
{
    (void)state;
    static const char *const files[][2] = {
        {"qrels.trec", BOM "q1 0 d1 1\nq1 0 d2 2\nq2 0 d3 1\n"},
        {"qrels.tsv", BOM "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t1\n"},
    };
    for (size_t f = 0; f < 2; f++) {
        ecb_qrels *q = NULL;
        int rc = ecb_qrels_load(put(files[f][0], files[f][1]), qids, 2, dids, 3, &q);
        if (rc) fail_msg("%s with a BOM: %s", files[f][0], ecb_last_error());
        assert_int_equal(q->n_unknown_query, 0);
        assert_int_equal(q->n_judg[0], 2);
        assert_int_equal(q->judg[0][0].doc, 0);
        assert_int_equal(q->n_judg[1], 1);
        ecb_qrels_free(q);
    }
}

/* A manifest over the small fixtures with extra text spliced in. */
static const char *fixture_manifest(const char *extra)
{
    const char *src = getenv("ECB_SOURCE_DIR");
    static char text[9000];
    snprintf(text, sizeof text, "{\"corpus\": \"%s/tests/data/small.fvecs\", \"queries\": "
             "\"%s/tests/data/queries.fvecs\", \"similarity\": \"dot\"%s}", src ? src : "..",
             src ? src : "..", extra);
    return put("manifest.json", text);
}

static void test_bom_manifest(void **state)
{
    (void)state;
    /* a manifest naming the test fixtures by absolute path */
    const char *path = fixture_manifest("");
    char text[9100];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(text + 3, 1, sizeof text - 4, f);
    fclose(f);
    memcpy(text, BOM, 3);
    text[n + 3] = '\0';
    ecb_dataset *d = NULL;
    int rc = ecb_dataset_load_manifest(put("manifest.json", text), &d);
    if (rc) fail_msg("manifest with a BOM: %s", ecb_last_error());
    assert_int_equal(ecb_vecs_count(d->corpus), 5);
    ecb_dataset_free(d);
}

static void test_manifest_meta(void **state)
{
    (void)state;
    ecb_dataset *d = NULL;
    int rc = ecb_dataset_load_manifest(fixture_manifest(
        ", \"meta\": {\"model\": \"intfloat/e5-base-v2\", \"revision\": \"1c644c9\",\n"
        "  \"prefixes\": {\"query\": \"query: \", \"passage\": \"passage: \"},\n"
        "  \"licence\": \"CC-BY-SA-4.0\", \"dims\": [768, 256], \"normalised\": true}"), &d);
    if (rc) fail_msg("manifest with meta: %s", ecb_last_error());
    assert_non_null(d->meta_json);
    assert_string_equal(d->meta_json,
        "{\"model\":\"intfloat/e5-base-v2\",\"revision\":\"1c644c9\",\"prefixes\":"
        "{\"query\":\"query: \",\"passage\":\"passage: \"},\"licence\":\"CC-BY-SA-4.0\","
        "\"dims\":[768,256],\"normalised\":true}");
    ecb_dataset_free(d);
    assert_int_equal(ecb_dataset_load_manifest(fixture_manifest(", \"meta\": {}"), &d), 0);
    assert_string_equal(d->meta_json, "{}");
    ecb_dataset_free(d);
    assert_int_equal(ecb_dataset_load_manifest(fixture_manifest(""), &d), 0);
    assert_null(d->meta_json);
    ecb_dataset_free(d);
    static const char *const bad[] = {", \"meta\": \"e5\"", ", \"meta\": [1]",
                                      ", \"meta\": null", ", \"meta\": 3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ecb_dataset_load_manifest(fixture_manifest(bad[i]), &d), ECB_EFORMAT);
        assert_msg("manifest.json: key \"meta\": expected a JSON object");
    }
    assert_int_equal(ecb_dataset_load_manifest(fixture_manifest(
        ", \"meta\": {}, \"meta\": {}"), &d), ECB_EFORMAT);
    assert_msg("appears twice");
}

static void test_whitespace_ids(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"d1\nd 2\n", "ids.txt:2: "},
        {"d1\nd2\nd\t3\n", "ids.txt:3: "},
        {" d1\n", "ids.txt:1: "},
        {"d1\nd\v2\n", "ids.txt:2: "},
        {"d1\nd\r2\n", "ids.txt:2: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char **ids = NULL;
        size_t n = 0;
        int rc = ecb_ids_load(put("ids.txt", bad[i][0]), &ids, &n);
        if (rc == 0) {
            ecb_ids_free(ids, n);
            fail_msg("id with whitespace accepted: %s", bad[i][0]);
        }
        assert_int_equal(rc, ECB_EFORMAT);
        assert_msg(bad[i][1]);
        assert_msg("whitespace");
        assert_msg("TREC run");
    }
    /* trailing whitespace (CRLF files) is still stripped */
    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(ecb_ids_load(put("ids.txt", "d1 \r\nd2\t\n"), &ids, &n), 0);
    assert_string_equal(ids[0], "d1");
    assert_string_equal(ids[1], "d2");
    ecb_ids_free(ids, n);
}

/* BEIR TSV splits on tabs only, so a space inside an id got through. */
static void test_whitespace_beir(void **state)
{
    (void)state;
    char *const dsp[] = {"d1", "d2", "d 3"};
    ecb_qrels *q = NULL;
    int rc = ecb_qrels_load(put("sp.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td 3\t1\n"),
                            qids, 2, dsp, 3, &q);
    ecb_qrels_free(q);
    assert_int_equal(rc, ECB_EFORMAT);
    assert_msg("sp.tsv:3: ");
    assert_msg("whitespace");
    rc = ecb_qrels_load(put("sp.tsv", "query-id\tcorpus-id\tscore\nq 1\td1\t1\n"), qids, 2,
                        dids, 3, &q);
    ecb_qrels_free(q);
    assert_int_equal(rc, ECB_EFORMAT);
    assert_msg("sp.tsv:2: ");
}

/* ---- not regular files ----------------------------------------------------- */

typedef enum { R_VECS, R_GT, R_IDS, R_QRELS, R_MANIFEST } reader;

static int try_read(reader r, const char *path)
{
    int rc = 0;
    switch (r) {
    case R_VECS: {
        ecb_vecs *v = NULL;
        rc = ecb_vecs_open(path, &v);
        ecb_vecs_free(v);
        break;
    }
    case R_GT: {
        int32_t *g = NULL;
        size_t n, k;
        rc = ecb_ivecs_load(path, &g, &n, &k);
        free(g);
        break;
    }
    case R_IDS: {
        char **ids = NULL;
        size_t n = 0;
        rc = ecb_ids_load(path, &ids, &n);
        ecb_ids_free(ids, n);
        break;
    }
    case R_QRELS: {
        ecb_qrels *q = NULL;
        rc = ecb_qrels_load(path, qids, 2, dids, 3, &q);
        ecb_qrels_free(q);
        break;
    }
    case R_MANIFEST: {
        ecb_dataset *d = NULL;
        rc = ecb_dataset_load_manifest(path, &d);
        ecb_dataset_free(d);
        break;
    }
    }
    return rc;
}

static void test_not_regular(void **state)
{
    (void)state;
    /* Before the fix the FIFO cases block in open(): the alarm ends the
     * test as a failure instead of hanging the suite. */
    alarm(20);
    char fifo[4][4300];
    const char *names[5] = {"fifo.fvecs", "fifo.ivecs", "fifo_ids.txt", "fifo.trec",
                            "fifo.json"};
    for (int r = R_VECS; r <= R_MANIFEST; r++) {
        char *p = fifo[r & 3];
        snprintf(p, sizeof fifo[0], "%s/%s", dir, names[r]);
        unlink(p);
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(try_read((reader)r, p), ECB_EINVAL);
        assert_msg(names[r]);
        assert_msg("not a regular file but a FIFO");
        unlink(p);
    }
    for (int r = R_VECS; r <= R_MANIFEST; r++) {
        char sub[4300];
        snprintf(sub, sizeof sub, "%s/%s", dir, names[r]);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(try_read((reader)r, sub), ECB_EINVAL);
        assert_msg("not a regular file but a directory");
        rmdir(sub);
    }
    if (access("/dev/urandom", R_OK) == 0) {
        /* the readers pick the format by extension: a link gives the device one */
        for (int r = R_VECS; r <= R_MANIFEST; r++) {
            char link[4300];
            snprintf(link, sizeof link, "%s/%s", dir, names[r]);
            assert_int_equal(symlink("/dev/urandom", link), 0);
            assert_int_equal(try_read((reader)r, link), ECB_EINVAL);
            assert_msg("not a regular file but a character device");
            unlink(link);
        }
    }
    alarm(0);
}

int main(void)
{
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_header_good),
        cmocka_unit_test(test_npy_header_bad),
        cmocka_unit_test(test_npy_one_tuple),
        cmocka_unit_test(test_bom_ids),
        cmocka_unit_test(test_bom_qrels),
        cmocka_unit_test(test_bom_manifest),
        cmocka_unit_test(test_manifest_meta),
        cmocka_unit_test(test_whitespace_ids),
        cmocka_unit_test(test_whitespace_beir),
        cmocka_unit_test(test_not_regular),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(dir);
    return rc;
}
