/*
 * scan_sota: scan throughput of issue 5's quantizers (rabitq, lloydmax,
 * resbin) beside pq and binary: (queries x vectors) scored per second by the
 * plugin's score(), single thread, on seeded clustered Gaussian data. The
 * plugins are the built shared objects (dlopen through the registry), so
 * this times exactly what ecbench runs.
 *
 *   bench_scan_sota [--methods DIR] [--n 100000] [--nq 64] [--dim 128]
 *                   [--block 16384] [--reps 3] [--sim l2|dot] [--only NAME]
 *
 * score() is called on blocks of `block` codes against all nq queries at
 * once (as the runner does). The best of `reps` runs is reported, timed with
 * the thread's CPU clock, so a machine shared with other jobs slows the
 * numbers less than wall time would. Training uses the first 10000 vectors.
 * OpenBLAS is limited to one thread; its core name and the popcount kernel
 * are printed with the results.
 */
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
#include "harness/registry.h"

#include "bench_plugins.h"

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);

typedef struct {
    const char *label, *plugin;
    const char *pname[2];
    const char *pval[2]; /* numbers, or enum value names */
    ecb_mode mode;
} scan_case;

static const scan_case cases[] = {
    {"rabitq(bits=1) asym", "rabitq", {"bits"}, {"1"}, ECB_MODE_ASYMMETRIC},
    {"rabitq(bits=1) sym", "rabitq", {"bits"}, {"1"}, ECB_MODE_SYMMETRIC},
    {"rabitq(bits=2) asym", "rabitq", {"bits"}, {"2"}, ECB_MODE_ASYMMETRIC},
    {"rabitq(bits=4) asym", "rabitq", {"bits"}, {"4"}, ECB_MODE_ASYMMETRIC},
    {"rabitq(bits=4) sym", "rabitq", {"bits"}, {"4"}, ECB_MODE_SYMMETRIC},
    {"lloydmax(bits=1) asym", "lloydmax", {"bits"}, {"1"}, ECB_MODE_ASYMMETRIC},
    {"lloydmax(bits=2) asym", "lloydmax", {"bits"}, {"2"}, ECB_MODE_ASYMMETRIC},
    {"lloydmax(bits=4) asym", "lloydmax", {"bits"}, {"4"}, ECB_MODE_ASYMMETRIC},
    {"lloydmax(bits=4) sym", "lloydmax", {"bits"}, {"4"}, ECB_MODE_SYMMETRIC},
    {"lloydmax(bits=3,residual_bits=1) asym", "lloydmax", {"bits", "residual_bits"}, {"3", "1"},
     ECB_MODE_ASYMMETRIC},
    {"resbin(levels=1) asym", "resbin", {"levels"}, {"1"}, ECB_MODE_ASYMMETRIC},
    {"resbin(levels=1) sym", "resbin", {"levels"}, {"1"}, ECB_MODE_SYMMETRIC},
    {"resbin(levels=2) asym", "resbin", {"levels"}, {"2"}, ECB_MODE_ASYMMETRIC},
    {"resbin(levels=2) sym", "resbin", {"levels"}, {"2"}, ECB_MODE_SYMMETRIC},
    {"resbin(levels=4) sym", "resbin", {"levels"}, {"4"}, ECB_MODE_SYMMETRIC},
    {"pq(m=16,nbits=8) asym", "pq", {"m", "nbits"}, {"16", "8"}, ECB_MODE_ASYMMETRIC},
    {"pq(m=16,nbits=8) sym", "pq", {"m", "nbits"}, {"16", "8"}, ECB_MODE_SYMMETRIC},
    {"pq(m=32,nbits=8) asym", "pq", {"m", "nbits"}, {"32", "8"}, ECB_MODE_ASYMMETRIC},
    {"pq(m=64,nbits=8) asym", "pq", {"m", "nbits"}, {"64", "8"}, ECB_MODE_ASYMMETRIC},
    {"binary(median) sym", "binary", {"threshold"}, {"median"}, ECB_MODE_SYMMETRIC},
    {"binary(median) asym", "binary", {"threshold"}, {"median"}, ECB_MODE_ASYMMETRIC},
};

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t n = 100000, nq = 64, d = 128, block = 16384, reps = 3;
    const char *mdir = NULL, *only = NULL;
    ecb_similarity sim = ECB_SIM_L2;
    for (int a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : "";
        if (!strcmp(argv[a], "--methods")) { mdir = v; a++; }
        else if (!strcmp(argv[a], "--n")) { n = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--nq")) { nq = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--dim")) { d = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--block")) { block = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--reps")) { reps = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--only")) { only = v; a++; }
        else if (!strcmp(argv[a], "--sim")) { sim = !strcmp(v, "dot") ? ECB_SIM_DOT : ECB_SIM_L2; a++; }
        else {
            fprintf(stderr, "usage: %s [--methods DIR] [--n N] [--nq NQ] [--dim D] [--block B] "
                    "[--reps R] [--sim l2|dot] [--only PLUGIN]\n", argv[0]);
            return 2;
        }
    }
    if (!n || !nq || !d || !block || !reps) { fprintf(stderr, "sizes must be > 0\n"); return 2; }
    char dirbuf[PATH_MAX];
    if (!(mdir = bench_methods_dir(mdir, dirbuf, sizeof dirbuf))) return 2;
    openblas_set_num_threads(1);
    ecb_registry *reg = NULL;
    if (ecb_registry_load_dirs(&mdir, 1, &reg)) {
        fprintf(stderr, "%s\n", ecb_last_error());
        return 1;
    }
    size_t ntrain = n < 10000 ? n : 10000;
    float *x = bench_clustered(n, d, 1), *q = bench_clustered(nq, d, 2);
    float *scores = malloc(nq * block * sizeof(float));
    if (!x || !q || !scores) { fprintf(stderr, "out of memory\n"); return 1; }
    printf("# scan_sota: n=%zu nq=%zu dim=%zu block=%zu sim=%s reps=%zu | OpenBLAS core %s, "
           "1 thread | popcount kernel %s | thread CPU time\n",
           n, nq, d, block, sim == ECB_SIM_L2 ? "l2" : "dot", reps, openblas_get_corename(),
           ecb_popcount_kernel());
    printf("%-40s %8s %14s %10s\n", "method", "bytes", "pairs/s", "ns/pair");
    int status = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const scan_case *sc = &cases[c];
        if (only && strcmp(only, sc->plugin)) continue;
        const ecb_plugin *pl = ecb_registry_find(reg, sc->plugin);
        if (!pl) { printf("%-40s (not built: %s)\n", sc->label, ecb_last_error()); continue; }
        const ecb_method_vtable *vt = &pl->vt;
        void *params = calloc(1, vt->params_size ? vt->params_size : 1);
        bench_set_defaults(vt->params, params);
        for (int k = 0; k < 2 && sc->pname[k]; k++)
            if (bench_set_param(vt->params, params, sc->pname[k], sc->pval[k]))
                fprintf(stderr, "%s: cannot set %s=%s\n", sc->label, sc->pname[k], sc->pval[k]);
        ecb_host host;
        ecb_host_init(&host, 42, 1);
        ecb_method *m = NULL;
        uint8_t *codes = NULL;
        void *prep = NULL;
        int rc = vt->create(&host, params, d, sim, &m);
        if (!rc) {
            m->vt = vt;
            if (vt->train) rc = vt->train(m, x, ntrain);
        }
        size_t cs = rc ? 0 : vt->code_size(m);
        if (!rc) {
            codes = malloc(n * cs);
            prep = malloc(nq * vt->query_size(m, sc->mode));
            rc = codes && prep ? vt->encode(m, x, n, codes) : ECB_ENOMEM;
        }
        if (!rc) rc = vt->prepare(m, sc->mode, q, nq, prep);
        double best = 1e300;
        for (size_t r = 0; r < reps && !rc; r++) {
            double t0 = cpu_now();
            for (size_t j = 0; j < n && !rc; j += block) {
                size_t nb = n - j < block ? n - j : block;
                rc = vt->score(m, sc->mode, prep, nq, codes + j * cs, nb, scores);
            }
            double t = cpu_now() - t0;
            if (t < best) best = t;
        }
        if (rc) {
            printf("%-40s failed: %s\n", sc->label, ecb_last_error());
            status = 1;
        } else {
            double pairs = (double)n * (double)nq;
            printf("%-40s %8zu %14.4g %10.2f\n", sc->label, cs, pairs / best, 1e9 * best / pairs);
        }
        fflush(stdout);
        free(codes);
        free(prep);
        if (m) vt->destroy(m);
        free(params);
    }
    free(x); free(q); free(scores);
    ecb_registry_free(reg);
    return status;
}
