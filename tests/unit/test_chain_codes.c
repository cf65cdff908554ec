/* The codes buffer a destroyed chain leaves for the next (harness/chain.c):
 * reused only when large enough, handed over zeroed as fresh pages are, and
 * gone after ecb_big_forget. A fake method with 4 KiB codes makes
 * 16,384 rows the 64 MiB from which codes get a mapping of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/dataset.h"
#include "harness/chain.h"
#include "harness/config.h"
#include "testutil.h"

enum { DIM = 4, CODE = 4096, ROWS = 16384 };

/* 1: every byte of a code written (0xAB); 0: only its first byte (its row
 * number's low byte + 1), the rest left as allocated */
static int g_fill;

typedef struct {
    ecb_method base;
} fake_state;

static const ecb_param fake_table[] = {{NULL}};

static int fake_create(const ecb_host *h, const void *params, size_t dim, ecb_similarity sim,
                       ecb_method **out)
{
    (void)params;
    fake_state *s = calloc(1, sizeof *s);
    if (!s) return (h->fail)(h, ECB_ENOMEM, "fake: out of memory");
    s->base.dim = dim;
    s->base.sim = sim;
    s->base.host = h;
    *out = &s->base;
    return 0;
}

static void fake_destroy(ecb_method *m) { free(m); }
static size_t fake_code_size(const ecb_method *m)
{
    (void)m;
    return CODE;
}

static int fake_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    (void)m;
    for (size_t i = 0; i < n; i++) {
        if (g_fill) memset(codes + i * CODE, 0xAB, CODE);
        else codes[i * CODE] = (uint8_t)((unsigned)x[i * DIM] + 1);
    }
    return 0;
}

static ecb_plugin fake_plugin(void)
{
    ecb_plugin p;
    memset(&p, 0, sizeof p);
    p.vt.name = "fake";
    p.vt.flags = ECB_METHOD_SYMMETRIC;
    p.vt.params = fake_table;
    p.vt.params_size = 1;
    p.vt.create = fake_create;
    p.vt.destroy = fake_destroy;
    p.vt.code_size = fake_code_size;
    p.vt.encode = fake_encode;
    return p;
}

/* encodes rows rows of the corpus (x[i * DIM] = i % 200) with the fake */
static ecb_chain_inst *encoded(const ecb_plugin *p, size_t rows, int fill)
{
    float *x = calloc(rows * DIM, sizeof *x); /* the source takes it */
    assert_non_null(x);
    for (size_t i = 0; i < rows; i++) x[i * DIM] = (float)(i % 200);
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_from_memory(x, rows, DIM, &v), 0);
    static ecb_stage st; /* a chain instance points at its chain */
    static ecb_chain c = {&st, 1};
    st.plugin = p;
    ecb_chain_inst *b = NULL;
    assert_int_equal(ecb_chain_inst_create(&c, DIM, ECB_SIM_DOT, 1, 1, &b), 0);
    g_fill = fill;
    assert_int_equal(ecb_chain_inst_encode(b, v, 0, 2, 4096), 0);
    ecb_vecs_free(v);
    return b;
}

/* byte 0 of every code as written; with zeros, every other byte 0 */
static void check_codes(const ecb_chain_inst *b, size_t rows, int zeros)
{
    const uint8_t *c = ecb_chain_inst_codes(b);
    for (size_t i = 0; i < rows; i++) {
        if (c[i * CODE] != (uint8_t)(i % 200 + 1)) fail_msg("row %zu: byte 0 is %u", i, c[i * CODE]);
        for (size_t j = 1; zeros && j < CODE; j++)
            if (c[i * CODE + j]) fail_msg("row %zu byte %zu: %u, not 0", i, j, c[i * CODE + j]);
    }
}

static void test_reuse_zeroed(void **state)
{
    (void)state;
    static ecb_plugin p;
    p = fake_plugin();
    ecb_big_forget();
    ecb_chain_inst *a = encoded(&p, ROWS + 256, 1);
    const uint8_t *pa = ecb_chain_inst_codes(a);
    ecb_chain_inst_destroy(a);
    /* a smaller request (still mapped: ROWS x CODE is the threshold) takes
     * it, zeroed where the last one wrote 0xAB everywhere */
    ecb_chain_inst *b = encoded(&p, ROWS, 0);
    assert_ptr_equal(ecb_chain_inst_codes(b), pa);
    check_codes(b, ROWS, 1);
    ecb_chain_inst_destroy(b);
    /* a larger one does not: its own mapping, from fresh pages */
    ecb_chain_inst *c = encoded(&p, ROWS + 512, 0);
    check_codes(c, ROWS + 512, 1);
    /* two alive at once: the second cannot have the first's */
    ecb_chain_inst *d = encoded(&p, ROWS, 0);
    assert_ptr_not_equal(ecb_chain_inst_codes(d), ecb_chain_inst_codes(c));
    check_codes(d, ROWS, 1);
    ecb_chain_inst_destroy(c);
    ecb_chain_inst_destroy(d);
    ecb_big_forget();
    ecb_big_forget(); /* twice: nothing kept */
}

static void test_small_codes_malloc(void **state)
{
    (void)state;
    static ecb_plugin p;
    p = fake_plugin();
    /* below 64 MiB: malloc as before, and the kept mapping stays for later */
    ecb_chain_inst *a = encoded(&p, ROWS + 256, 1);
    ecb_chain_inst_destroy(a);
    ecb_chain_inst *s = encoded(&p, 100, 0);
    check_codes(s, 100, 0); /* malloc: zeros not promised */
    ecb_chain_inst_destroy(s);
    ecb_chain_inst *b = encoded(&p, ROWS, 0);
    check_codes(b, ROWS, 1);
    ecb_chain_inst_destroy(b);
    ecb_big_forget();
}

/* Under an address-space limit the kept mappings must not make a request
 * fail that would fit without them: ecb_big_alloc forgets them and tries
 * again. In a child, as RLIMIT_AS cannot be lifted again. */
static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_limit_forgets_kept(void **state)
{
    (void)state;
    if (TU_ASAN) TU_SKIP("ASan reserves terabytes of address space: RLIMIT_AS cannot apply");
    const size_t mib = (size_t)1 << 20;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t m1, m2;
        void *a = ecb_big_alloc(256 * mib, &m1);
        if (!a || !m1) _exit(2);
        memset(a, 1, 256 * mib);
        ecb_big_free(a, m1); /* kept: still mapped */
        struct rlimit rl = {vm_bytes() + 200 * mib, vm_bytes() + 200 * mib};
        if (setrlimit(RLIMIT_AS, &rl)) _exit(3);
        /* larger than the kept one, and over the limit unless it goes */
        void *b = ecb_big_alloc(320 * mib, &m2);
        if (!b) _exit(4);
        memset(b, 2, 320 * mib);
        ecb_big_free(b, m2);
        ecb_big_forget();
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_zeroed),
        cmocka_unit_test(test_small_codes_malloc),
        cmocka_unit_test(test_limit_forgets_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
