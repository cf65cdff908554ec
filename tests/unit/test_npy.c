/*
 * The .npy header dict (issue 11, item 7): it is a Python literal with
 * exactly the keys 'descr', 'fortran_order' and 'shape'. Each case writes a
 * file whose data size matches the header's shape, so only the dict's
 * syntax decides; a malformed dict must be an error naming the file and the
 * byte position, a well-formed one in any legal spelling must open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "datasets/dataset.h"

static char *dir;

/* Writes a version-1 .npy with this header text (padded with spaces and a
 * newline, as NumPy does) and data bytes for rows x 4 float32. */
static const char *write_npy(const char *name, const char *hdr, size_t rows, size_t esz)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t hl = strlen(hdr), pad = 64 - (10 + hl + 1) % 64;
    if (pad == 64) pad = 0;
    size_t total = hl + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total & 0xff),
                             (unsigned char)(total >> 8)};
    fwrite(pre, 1, 10, f);
    fputs(hdr, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    for (size_t i = 0; i < rows * 4 * esz; i++) fputc(0, f);
    fclose(f);
    return path;
}

static void assert_msg(const char *needle)
{
    const char *m = ecb_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
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

int main(void)
{
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_header_good),
        cmocka_unit_test(test_npy_header_bad),
        cmocka_unit_test(test_npy_one_tuple),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
    return rc;
}
