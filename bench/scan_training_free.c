/*
 * scan_training_free: scan throughput of the training-free methods' score()
 * (float32, float16, bfloat16, float8, sq at 8 and 4 bits, binary in both
 * modes): (queries x vectors) scored per second, single thread, on seeded
 * Gaussian data, for each dimension asked. The plugins are the built
 * shared objects (dlopen), so this times exactly what ecbench runs.
 *
 *   bench_scan_training_free [--methods DIR] [--n 100000] [--nq 100]
 *                            [--dims 768,128] [--block 16384] [--reps 3]
 *                            [--sim dot|l2] [--only SUBSTRING]
 *
 * score() is called on blocks of `block` codes against all nq queries at
 * once (as the runner does), and once more with nq=1 (latency path). The
 * best of `reps` runs is printed; times are the thread's CPU time, so a
 * loaded machine slows the numbers less than wall time would. OpenBLAS runs with one thread (float32
 * and the casts score with sgemm); its core name and the chosen popcount
 * kernel are printed, since timings mean nothing without them.
 * ECBENCH_CPU=avx2|popcnt|generic caps the kernels' instruction set, e.g.
 *   ECBENCH_CPU=avx2 bench_scan_training_free --only binary
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecbench/ecbmath.h"
#include "common/ecb.h"
#include "harness/host.h"
#include "harness/params.h"

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);

typedef struct {
    const char *label, *plugin;
    const char *pname[2];
    double pval[2];
    ecb_mode mode;
} bench_case;

static const bench_case cases[] = {
    {"float32", "float32", {NULL}, {0}, ECB_MODE_ASYMMETRIC},
    {"float16 asym", "float16", {NULL}, {0}, ECB_MODE_ASYMMETRIC},
    {"bfloat16 asym", "bfloat16", {NULL}, {0}, ECB_MODE_ASYMMETRIC},
    {"float8(e4m3) asym", "float8", {NULL}, {0}, ECB_MODE_ASYMMETRIC},
    {"sq(bits=8) asym", "sq", {"bits"}, {8}, ECB_MODE_ASYMMETRIC},
    {"sq(bits=8) sym", "sq", {"bits"}, {8}, ECB_MODE_SYMMETRIC},
    {"sq(bits=4) asym", "sq", {"bits"}, {4}, ECB_MODE_ASYMMETRIC},
    {"sq(bits=2) asym", "sq", {"bits"}, {2}, ECB_MODE_ASYMMETRIC},
    {"sq(bits=4,quantile) asym", "sq", {"bits", "calibration"}, {4, 2}, ECB_MODE_ASYMMETRIC},
    {"binary sym (hamming)", "binary", {NULL}, {0}, ECB_MODE_SYMMETRIC},
    {"binary asym (float.sign)", "binary", {NULL}, {0}, ECB_MODE_ASYMMETRIC},
};

static int set_param(const ecb_param *tab, void *buf, const char *name, double v)
{
    for (const ecb_param *p = tab; p && p->name; p++) {
        if (strcmp(p->name, name)) continue;
        char *f = (char *)buf + p->offset;
        switch (p->type) {
        case ECB_PARAM_SIZE: *(size_t *)f = (size_t)v; return 0;
        case ECB_PARAM_INT: *(int64_t *)f = (int64_t)v; return 0;
        case ECB_PARAM_DOUBLE: *(double *)f = v; return 0;
        case ECB_PARAM_BOOL:
        case ECB_PARAM_ENUM: *(int *)f = (int)v; return 0;
        default: return -1;
        }
    }
    return -1;
}

static const ecb_method_vtable *load(const char *dir, const char *name)
{
    char path[PATH_MAX + 64], sym[128];
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "scan_training_free: %s\n", dlerror());
        return NULL;
    }
    snprintf(sym, sizeof sym, "ecb_method_%s", name);
    ecb_method_entry_fn fn;
    *(void **)&fn = dlsym(h, sym);
    return fn ? fn() : NULL;
}

/* CPU time of this thread: the machine may be shared, and a single-thread
 * scan's throughput is better measured by the CPU time it consumed than by
 * wall time (cache sharing with other processes still shows). */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Thread CPU seconds to score nq queries against all n codes in blocks. */
static double time_scan(const ecb_method_vtable *vt, ecb_method *m, ecb_mode mode,
                        const void *prep, size_t nq, const uint8_t *codes, size_t n, size_t cs,
                        size_t block, float *scores)
{
    double t0 = thread_cpu_now();
    for (size_t j0 = 0; j0 < n; j0 += block) {
        size_t c = n - j0 < block ? n - j0 : block;
        if (vt->score(m, mode, prep, nq, codes + j0 * cs, c, scores)) {
            fprintf(stderr, "score failed: %s\n", ecb_last_error());
            exit(1);
        }
    }
    return thread_cpu_now() - t0;
}

int main(int argc, char **argv)
{
    char mdir[PATH_MAX];
    size_t n = 100000, nq = 100, block = 16384, reps = 3;
    const char *dims_arg = "768,128", *only = NULL;
    ecb_similarity sim = ECB_SIM_DOT;
    {
        char self[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        self[len > 0 ? len : 0] = 0;
        snprintf(mdir, sizeof mdir, "%s/../methods", dirname(self));
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--methods")) snprintf(mdir, sizeof mdir, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--nq")) nq = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dims")) dims_arg = argv[i + 1];
        else if (!strcmp(argv[i], "--block")) block = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps")) reps = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--sim")) sim = strcmp(argv[i + 1], "l2") ? ECB_SIM_DOT : ECB_SIM_L2;
        else {
            fprintf(stderr, "scan_training_free: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n == 0 || nq == 0 || block == 0 || reps == 0) {
        fprintf(stderr, "scan_training_free: --n, --nq, --block, --reps must be >= 1\n");
        return 2;
    }
    openblas_set_num_threads(1);
    ecb_host host;
    ecb_host_init(&host, 42, 1);
    printf("# popcount kernel: %s; openblas core: %s; threads: 1; n=%zu nq=%zu block=%zu "
           "sim=%s\n",
           ecb_popcount_kernel(), openblas_get_corename(), n, nq, block,
           sim == ECB_SIM_L2 ? "l2" : "dot");
    printf("%-28s %5s %16s %16s %12s\n", "method", "dim", "pairs/s(nq)", "pairs/s(nq=1)",
           "bytes/vec");
    char *dims_copy = strdup(dims_arg);
    for (char *tok = strtok(dims_copy, ","); tok; tok = strtok(NULL, ",")) {
        size_t d = strtoull(tok, NULL, 10);
        if (d == 0) continue;
        float *x = malloc(n * d * sizeof *x), *q = malloc(nq * d * sizeof *q);
        float *scores = malloc(nq * block * sizeof *scores);
        if (!x || !q || !scores) {
            fprintf(stderr, "scan_training_free: out of memory for n=%zu d=%zu\n", n, d);
            return 1;
        }
        ecb_rng r;
        ecb_rng_seed(&r, 7);
        for (size_t t = 0; t < n * d; t++) x[t] = (float)ecb_rng_normal(&r);
        for (size_t t = 0; t < nq * d; t++) q[t] = (float)ecb_rng_normal(&r);
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const bench_case *bc = &cases[ci];
            if (only && !strstr(bc->label, only)) continue;
            const ecb_method_vtable *vt = load(mdir, bc->plugin);
            if (!vt) return 1;
            void *params = calloc(1, vt->params_size ? vt->params_size : 1);
            ecb_params_defaults(vt->params, params);
            for (int k = 0; k < 2 && bc->pname[k]; k++)
                set_param(vt->params, params, bc->pname[k], bc->pval[k]);
            ecb_method *m = NULL;
            if (vt->create(&host, params, d, sim, &m)) {
                fprintf(stderr, "%s: %s\n", bc->label, ecb_last_error());
                return 1;
            }
            size_t ntr = n < 20000 ? n : 20000;
            if (vt->train && vt->train(m, x, ntr)) {
                fprintf(stderr, "%s: %s\n", bc->label, ecb_last_error());
                return 1;
            }
            size_t cs = vt->code_size(m), qs = vt->query_size(m, bc->mode);
            uint8_t *codes = malloc(n * cs);
            void *prep = malloc(nq * qs);
            if (!codes || !prep || vt->encode(m, x, n, codes) ||
                vt->prepare(m, bc->mode, q, nq, prep)) {
                fprintf(stderr, "%s: encode/prepare failed: %s\n", bc->label, ecb_last_error());
                return 1;
            }
            double best = 1e30, best1 = 1e30;
            for (size_t rep = 0; rep < reps; rep++) {
                double t = time_scan(vt, m, bc->mode, prep, nq, codes, n, cs, block, scores);
                if (t < best) best = t;
                t = time_scan(vt, m, bc->mode, prep, 1, codes, n, cs, block, scores);
                if (t < best1) best1 = t;
            }
            printf("%-28s %5zu %16.4g %16.4g %12zu\n", bc->label, d, (double)n * nq / best,
                   (double)n / best1, cs);
            fflush(stdout);
            free(codes);
            free(prep);
            free(params);
            vt->destroy(m);
        }
        free(x);
        free(q);
        free(scores);
    }
    free(dims_copy);
    return 0;
}
