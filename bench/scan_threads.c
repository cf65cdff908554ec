/*
 * scan_threads: batch QPS of the harness's whole scan (ecb_search_codes:
 * score() blocks, top-k heaps, worker threads, the merge) and of exact search
 * (ecb_search_exact) at 1 and 2 threads, plus single-query latency, on
 * siftsmall-style .fvecs files or a seeded clustered corpus. This is what a
 * cell's qps and p50 columns time, without the rest of the cell; issue 13
 * items 1, 2, 7 and 8 are judged on its ratios.
 *
 *   bench_scan_threads [--base F.fvecs --query Q.fvecs | --n N --dim D --nq Q]
 *                      [--k 10] [--block-rows 65536] [--reps 5] [--lat 20]
 *                      [--sim l2|dot] [--only LABEL] [--methods DIR]
 *
 * Each row: the median wall time of `reps` interleaved 1- and 2-thread runs
 * (on a shared machine the medians of interleaved runs compare fairly), the
 * ratio 2T/1T of their QPS, the median of `lat` single-query searches (one
 * thread), and the median process CPU time of a batch at 1 and 2 threads
 * (equal when the second thread adds no work: on an oversubscribed machine
 * the wall-time ratio shows the scheduler, the CPU times still show the
 * harness). block_rows defaults to the runner's default (65536), so a
 * 10k corpus is one corpus block, as in a cell. Print `uptime` beside it.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "ecbench/ecbmath.h"
#include "common/ecb.h"
#include "datasets/dataset.h"
#include "harness/host.h"
#include "harness/registry.h"

#include "bench_plugins.h"
#include "harness/search.h"
#include "harness/team.h"

extern char *openblas_get_corename(void);

typedef struct {
    const char *label, *plugin;
    const char *pname[2];
    const char *pval[2];
    ecb_mode mode;
} scan_case;

/* plugin NULL: exact float32 search. "pca" is pca(dim=d/2) > float32, the
 * pipeline of vs_faiss.sh's pca row; its passes time what a cell's batch
 * pass does: project the queries, prepare, scan (the projection is part of
 * the qps, as it is of FAISS's IndexPreTransform). */
static const scan_case cases[] = {
    {"exact", NULL, {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"float32", "float32", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"float16", "float16", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"bfloat16", "bfloat16", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"float8", "float8", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"sq8", "sq", {"bits"}, {"8"}, ECB_MODE_SYMMETRIC},
    {"sq4", "sq", {"bits"}, {"4"}, ECB_MODE_SYMMETRIC},
    {"binary sym", "binary", {NULL}, {NULL}, ECB_MODE_SYMMETRIC},
    {"binary asym", "binary", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"lsh sym", "lsh", {NULL}, {NULL}, ECB_MODE_SYMMETRIC},
    {"lsh asym", "lsh", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
    {"itq sym", "itq", {NULL}, {NULL}, ECB_MODE_SYMMETRIC},
    {"pq16 asym", "pq", {"m"}, {"16"}, ECB_MODE_ASYMMETRIC},
    {"pq32 asym", "pq", {"m"}, {"32"}, ECB_MODE_ASYMMETRIC},
    {"rabitq1 asym", "rabitq", {"bits"}, {"1"}, ECB_MODE_ASYMMETRIC},
    {"rabitq4 asym", "rabitq", {"bits"}, {"4"}, ECB_MODE_ASYMMETRIC},
    {"pca d/2", "pca", {NULL}, {NULL}, ECB_MODE_ASYMMETRIC},
};


static float *read_all(const char *path, size_t *n, size_t *d)
{
    ecb_vecs *v = NULL;
    if (ecb_vecs_open(path, &v)) return NULL;
    *n = ecb_vecs_count(v);
    *d = ecb_vecs_dim(v);
    float *x = malloc(*n * *d * sizeof *x);
    if (x && ecb_vecs_read(v, 0, *n, x)) { free(x); x = NULL; }
    ecb_vecs_free(v);
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    const ecb_method *m; /* NULL: exact */
    const ecb_method *pca; /* projects q into qp, then m prepares into prep */
    float *qp;
    ecb_mode mode;
    uint8_t *prep;
    size_t qsize;
    const uint8_t *codes;
    const ecb_vecs *corpus;
    const float *q;
    ecb_ds_similarity sim;
    size_t n, k;
    ecb_search_opts o;
} bench_job;

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Wall time of one search of nq queries starting at query q0; *cpu gets the
 * process CPU time it took (all threads). */
static double run(const bench_job *b, size_t q0, size_t nq, size_t threads, double *cpu)
{
    ecb_search_opts o = b->o;
    o.threads = threads;
    ecb_topk t;
    double c0 = cpu_now(), t0 = ecb_now();
    int rc = 0;
    if (b->pca) {
        rc = b->pca->vt->transform(b->pca, b->q + q0 * b->pca->dim, nq, b->qp);
        if (!rc) rc = b->m->vt->prepare(b->m, b->mode, b->qp, nq, b->prep + q0 * b->qsize);
    }
    if (!rc) rc = b->m ? ecb_search_codes(b->m, b->mode, b->prep + q0 * b->qsize, nq, b->codes, b->n,
                                     b->k, NULL, &o, &t)
                  : ecb_search_exact(b->corpus, b->q + q0 * ecb_vecs_dim(b->corpus), nq, b->sim,
                                     b->k, NULL, &o, &t);
    double dt = ecb_now() - t0;
    /* A pool thread spins for a while after its job (harness/ecbmath/
     * parallel.c) and its CPU time is counted once it blocks: wait that out
     * so the time lands in this run's CPU (spin included), not the next's. */
    if (threads > 1) {
        struct timespec w = {0, 300000};
        nanosleep(&w, NULL);
    }
    *cpu = cpu_now() - c0;
    if (rc) {
        fprintf(stderr, "search failed: %s\n", ecb_last_error());
        exit(1);
    }
    ecb_topk_release(&t);
    return dt;
}

/* The pca(dim=d/2) stage of a pca row, trained on the first ntrain rows of
 * x; *xp and *qp get the projected corpus and queries (malloc'ed). */
static ecb_method *pca_stage(const ecb_registry *reg, ecb_host *host, ecb_similarity sim,
                             const float *x, size_t n, size_t ntrain, const float *q, size_t nq,
                             size_t d, float **xp, float **qp)
{
    const ecb_plugin *pl = ecb_registry_find(reg, "pca");
    if (!pl) return NULL;
    const ecb_method_vtable *vt = &pl->vt;
    void *params = calloc(1, vt->params_size);
    ecb_method *m = NULL;
    char half[32];
    snprintf(half, sizeof half, "%zu", d / 2);
    int rc = params ? 0 : ECB_ENOMEM;
    if (!rc) {
        bench_set_defaults(vt->params, params);
        rc = bench_set_param(vt->params, params, "dim", half) ? ECB_EINVAL : 0;
    }
    if (!rc && !(rc = vt->create(host, params, d, sim, &m))) m->vt = vt;
    free(params);
    if (!rc) rc = vt->train(m, x, ntrain);
    *xp = malloc(n * (d / 2) * sizeof **xp);
    *qp = malloc(nq * (d / 2) * sizeof **qp);
    if (!rc) rc = *xp && *qp ? vt->transform(m, x, n, *xp) : ECB_ENOMEM;
    if (!rc) rc = vt->transform(m, q, nq, *qp);
    if (rc && m) { vt->destroy(m); m = NULL; }
    return m;
}

int main(int argc, char **argv)
{
    size_t n = 200000, nq = 1000, d = 768, k = 10, reps = 5, lat = 20;
    const char *mdir = NULL, *only = NULL, *base = NULL, *query = NULL;
    ecb_similarity sim = ECB_SIM_L2;
    ecb_search_opts o;
    ecb_search_opts_default(&o);
    o.block_rows = 65536;
    ecb_blas_one_thread(); /* as `ecbench run` does (a later openblas_set_num_threads would start
                            * OpenBLAS's threads again) */
    for (int a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : "";
        if (!strcmp(argv[a], "--methods")) { mdir = v; a++; }
        else if (!strcmp(argv[a], "--base")) { base = v; a++; }
        else if (!strcmp(argv[a], "--query")) { query = v; a++; }
        else if (!strcmp(argv[a], "--n")) { n = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--nq")) { nq = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--dim")) { d = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--k")) { k = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--block-rows")) { o.block_rows = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--reps")) { reps = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--lat")) { lat = strtoull(v, NULL, 10); a++; }
        else if (!strcmp(argv[a], "--only")) { only = v; a++; }
        else if (!strcmp(argv[a], "--sim")) { sim = !strcmp(v, "dot") ? ECB_SIM_DOT : ECB_SIM_L2; a++; }
        else {
            fprintf(stderr, "usage: %s [--base F --query Q | --n N --dim D --nq Q] [--k K] "
                    "[--block-rows B] [--reps R] [--lat L] [--sim l2|dot] [--only LABEL] "
                    "[--methods DIR]\n", argv[0]);
            return 2;
        }
    }
    char dirbuf[PATH_MAX];
    if (!(mdir = bench_methods_dir(mdir, dirbuf, sizeof dirbuf))) return 2;
    float *x, *q;
    if (base && query) {
        size_t dq;
        x = read_all(base, &n, &d);
        q = read_all(query, &nq, &dq);
        if (!x || !q || dq != d) { fprintf(stderr, "cannot read %s / %s: %s\n", base, query, ecb_last_error()); return 1; }
    } else {
        x = bench_clustered(n, d, 1);
        q = bench_clustered(nq, d, 2);
    }
    if (!x || !q || !n || !nq || !reps) { fprintf(stderr, "bad sizes or out of memory\n"); return 1; }
    if (lat > nq) lat = nq;
    ecb_registry *reg = NULL;
    if (ecb_registry_load_dirs(&mdir, 1, &reg)) { fprintf(stderr, "%s\n", ecb_last_error()); return 1; }
    float *xc = malloc(n * d * sizeof *xc);
    ecb_vecs *corpus = NULL;
    if (!xc || ecb_vecs_from_memory(memcpy(xc, x, n * d * sizeof *xc), n, d, &corpus)) {
        fprintf(stderr, "%s\n", ecb_last_error());
        return 1;
    }
    size_t ntrain = n < 20000 ? n : 20000;
    printf("# scan_threads: n=%zu nq=%zu dim=%zu k=%zu sim=%s block_rows=%zu reps=%zu lat=%zu | "
           "OpenBLAS %s | cpu %s | wall time, medians\n", n, nq, d, k,
           sim == ECB_SIM_L2 ? "l2" : "dot", o.block_rows, reps, lat, openblas_get_corename(),
           ecb_cpu()->name);
    printf("%-12s %6s %11s %11s %8s %10s %9s %9s\n", "scan", "bytes", "QPS 1T", "QPS 2T", "2T/1T",
           "p50 ms", "cpu1T ms", "cpu2T ms");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const scan_case *sc = &cases[c];
        if (only && strcmp(only, sc->label)) continue;
        bench_job b;
        memset(&b, 0, sizeof b);
        b.o = o;
        b.n = n;
        b.k = k;
        b.corpus = corpus;
        b.q = q;
        b.sim = sim == ECB_SIM_L2 ? ECB_DS_L2 : ECB_DS_DOT;
        ecb_method *m = NULL, *pm = NULL;
        void *params = NULL;
        uint8_t *codes = NULL, *prep = NULL;
        float *xs = x, *qs = q, *xp = NULL, *qp = NULL;
        size_t ds = d;
        const ecb_method_vtable *vt = NULL;
        size_t cs = 4 * d;
        ecb_host host;
        ecb_host_init(&host, 42, 1);
        const char *plugin = sc->plugin;
        if (plugin && !strcmp(plugin, "pca")) {
            if (!(pm = pca_stage(reg, &host, sim, x, n, ntrain, q, nq, d, &xp, &qp))) {
                printf("%-12s failed: pca: %s\n", sc->label, ecb_last_error());
                goto next;
            }
            xs = xp;
            qs = qp;
            ds = d / 2;
            plugin = "float32";
        }
        if (plugin) {
            const ecb_plugin *pl = ecb_registry_find(reg, plugin);
            if (!pl) { printf("%-12s (not built)\n", sc->label); goto next; }
            vt = &pl->vt;
            params = calloc(1, vt->params_size ? vt->params_size : 1);
            bench_set_defaults(vt->params, params);
            for (int i = 0; i < 2 && sc->pname[i]; i++)
                if (bench_set_param(vt->params, params, sc->pname[i], sc->pval[i]))
                    fprintf(stderr, "%s: cannot set %s\n", sc->label, sc->pname[i]);
            int rc = vt->create(&host, params, ds, sim, &m);
            if (!rc) {
                m->vt = vt;
                if (vt->train) rc = vt->train(m, xs, ntrain);
            }
            if (!rc) {
                cs = vt->code_size(m);
                b.qsize = vt->query_size(m, sc->mode);
                codes = malloc(n * cs);
                prep = malloc(nq * b.qsize);
                rc = codes && prep ? vt->encode(m, xs, n, codes) : ECB_ENOMEM;
            }
            if (!rc) rc = vt->prepare(m, sc->mode, qs, nq, prep);
            if (rc) {
                printf("%-12s failed: %s\n", sc->label, ecb_last_error());
                goto next;
            }
            b.m = m;
            b.mode = sc->mode;
            b.codes = codes;
            b.prep = prep;
            b.pca = pm;
            b.qp = qp;
        }
        double t1[64], t2[64], c1[64], c2[64], tl[1024], cl;
        if (reps > 64) reps = 64;
        run(&b, 0, nq, 1, &cl); /* warm-up: page faults, plugin first calls */
        for (size_t r = 0; r < reps; r++) {
            t1[r] = run(&b, 0, nq, 1, &c1[r]);
            t2[r] = run(&b, 0, nq, 2, &c2[r]);
        }
        size_t nl = lat < 1024 ? lat : 1024;
        for (size_t i = 0; i < nl; i++) tl[i] = run(&b, i, 1, 1, &cl);
        double m1 = median(t1, reps), m2 = median(t2, reps);
        printf("%-12s %6zu %11.0f %11.0f %8.2f %10.3f %9.3f %9.3f\n", sc->label, cs, nq / m1,
               nq / m2, m1 / m2, nl ? 1e3 * median(tl, nl) : 0.0, 1e3 * median(c1, reps),
               1e3 * median(c2, reps));
        fflush(stdout);
    next:
        free(codes);
        free(prep);
        if (m) vt->destroy(m);
        if (pm) pm->vt->destroy(pm);
        free(xp);
        free(qp);
        free(params);
    }
    ecb_vecs_free(corpus);
    free(x);
    free(q);
    ecb_registry_free(reg);
    return 0;
}
