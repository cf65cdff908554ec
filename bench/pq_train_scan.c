/*
 * pq_train_scan: time one codebook plugin (pq, opq, rq, kmeans) on a
 * TEXMEX-format dataset (siftsmall by default): training time, ADC scan
 * time (prepare + blocked score and top-k of all queries against all codes,
 * repeated), and kNN recall@10 against the dataset's ground truth. Prints
 * key=value lines for bench/pq_vs_faiss.py.
 *
 *   bench_pq_train_scan [--data DIR] [--methods DIR] [--method pq] [--m 16]
 *                       [--nbits 8] [--init kmeans++|random] [--iters N]
 *                       [--stages N] [--k N] [--reps 3] [--scan-reps 20]
 *                       [--threads 1] [--seed 1]
 *
 * Training gets the whole base set as its sample (what FAISS's train()
 * receives in the comparison); the plugin subsamples by its own rule.
 * Timing is single-threaded unless --threads is given (the plugin's host
 * thread count; OpenBLAS threads follow OPENBLAS_NUM_THREADS).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "common/ecb.h"
#include "harness/host.h"

extern char *openblas_get_corename(void);

static float *read_vecs(const char *path, size_t *n, size_t *d, int is_int)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t dd;
    if (bytes <= 4 || fread(&dd, 4, 1, f) != 1 || dd <= 0) { fclose(f); return NULL; }
    size_t row = 4 + 4 * (size_t)dd;
    *d = (size_t)dd;
    *n = (size_t)bytes / row;
    float *x = malloc(*n * *d * sizeof *x);
    fseek(f, 0, SEEK_SET);
    for (size_t i = 0; i < *n; i++) {
        if (fread(&dd, 4, 1, f) != 1 || fread(x + i * *d, 4, *d, f) != *d) {
            free(x);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    (void)is_int; /* ivecs rows have the same layout: callers reinterpret */
    return x;
}

/* Scores of codes [j0, j0 + nj) for one prepared query: the fused scan and
 * top-k that pq's removed search() hook did, through score(). */
typedef struct {
    const ecb_method_vtable *vt;
    const ecb_method *m;
    const uint8_t *prep;
    const uint8_t *codes;
    size_t cs;
} block_ctx;

static void block_get(void *ctx, size_t j0, size_t nj, float *buf)
{
    const block_ctx *c = ctx;
    c->vt->score(c->m, ECB_MODE_ASYMMETRIC, c->prep, 1, c->codes + j0 * c->cs, nj, buf);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double minimum(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Set a field of the params struct from a string, by the plugin's table. */
static int set_param(const ecb_method_vtable *vt, void *p, const char *name, const char *val)
{
    for (const ecb_param *t = vt->params; t && t->name; t++) {
        if (strcmp(t->name, name)) continue;
        char *dst = (char *)p + t->offset;
        if (t->type == ECB_PARAM_SIZE) {
            size_t v = strtoull(val, NULL, 10);
            memcpy(dst, &v, sizeof v);
        } else if (t->type == ECB_PARAM_BOOL) {
            int v = atoi(val);
            memcpy(dst, &v, sizeof v);
        } else if (t->type == ECB_PARAM_ENUM) {
            for (int e = 0; t->enum_values[e]; e++)
                if (!strcmp(t->enum_values[e], val)) {
                    memcpy(dst, &e, sizeof e);
                    return 0;
                }
            return -1;
        } else if (t->type == ECB_PARAM_INT) {
            int64_t v = strtoll(val, NULL, 10);
            memcpy(dst, &v, sizeof v);
        } else if (t->type == ECB_PARAM_DOUBLE) {
            double v = strtod(val, NULL);
            memcpy(dst, &v, sizeof v);
        }
        return 0;
    }
    return -1;
}

static void set_defaults(const ecb_method_vtable *vt, void *p)
{
    for (const ecb_param *t = vt->params; t && t->name; t++) {
        char *dst = (char *)p + t->offset;
        switch (t->type) {
        case ECB_PARAM_SIZE: memcpy(dst, &t->def.u, sizeof(size_t)); break;
        case ECB_PARAM_INT: memcpy(dst, &t->def.i, sizeof(int64_t)); break;
        case ECB_PARAM_DOUBLE: memcpy(dst, &t->def.d, sizeof(double)); break;
        default: memcpy(dst, &t->def.b, sizeof(int)); break;
        }
    }
}

int main(int argc, char **argv)
{
    const char *data = getenv("ECB_SHARED_DATA") ? NULL : "../shared/data/siftsmall";
    char databuf[4096];
    if (!data) {
        snprintf(databuf, sizeof databuf, "%s/siftsmall", getenv("ECB_SHARED_DATA"));
        data = databuf;
    }
    const char *mdir = "build/methods", *method = "pq";
    const char *pnames[16], *pvals[16];
    size_t np = 0, reps = 3, scan_reps = 20, threads = 1;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--methods")) mdir = argv[i + 1];
        else if (!strcmp(argv[i], "--method")) method = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--scan-reps")) scan_reps = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads")) threads = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (np < 16 && !strncmp(argv[i], "--", 2)) {
            pnames[np] = argv[i] + 2;
            pvals[np++] = argv[i + 1];
        }
    }
    char path[8192];
    size_t n, d, nq, dq, ng, kg;
    if (strlen(data) > 4000 || strlen(mdir) > 4000 || strlen(method) > 100) {
        fprintf(stderr, "pq_train_scan: path too long\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/base.fvecs", data);
    float *x = read_vecs(path, &n, &d, 0);
    snprintf(path, sizeof path, "%s/query.fvecs", data);
    float *q = read_vecs(path, &nq, &dq, 0);
    snprintf(path, sizeof path, "%s/groundtruth.ivecs", data);
    float *gtf = read_vecs(path, &ng, &kg, 1);
    if (!x || !q || !gtf || dq != d || ng != nq || kg < 10) {
        fprintf(stderr, "pq_train_scan: cannot read base/query/groundtruth under %s\n", data);
        return 2;
    }
    const int32_t *gt = (const int32_t *)gtf;

    snprintf(path, sizeof path, "%s/%s.so", mdir, method);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    char sym[256];
    snprintf(sym, sizeof sym, "ecb_method_%s", method);
    ecb_method_entry_fn entry = dl ? (ecb_method_entry_fn)dlsym(dl, sym) : NULL;
    if (!entry) {
        fprintf(stderr, "pq_train_scan: cannot load %s: %s\n", path, dlerror());
        return 2;
    }
    const ecb_method_vtable *vt = entry();
    void *params = calloc(1, vt->params_size + 1);
    set_defaults(vt, params);
    for (size_t i = 0; i < np; i++)
        if (set_param(vt, params, pnames[i], pvals[i])) {
            fprintf(stderr, "pq_train_scan: %s has no parameter %s=%s\n", method, pnames[i],
                    pvals[i]);
            return 2;
        }

    ecb_host host;
    ecb_host_init(&host, seed, threads);
    double *tt = malloc(reps * sizeof *tt);
    ecb_method *m = NULL;
    for (size_t r = 0; r < reps; r++) {
        if (m) vt->destroy(m);
        m = NULL;
        if (vt->create(&host, params, d, ECB_SIM_L2, &m)) {
            fprintf(stderr, "pq_train_scan: %s\n", ecb_last_error());
            return 1;
        }
        double t0 = ecb_now();
        if (vt->train(m, x, n)) {
            fprintf(stderr, "pq_train_scan: %s\n", ecb_last_error());
            return 1;
        }
        tt[r] = ecb_now() - t0;
    }
    size_t cs = vt->code_size(m);
    uint8_t *codes = malloc(n * cs);
    double t0 = ecb_now();
    if (vt->encode(m, x, n, codes)) {
        fprintf(stderr, "pq_train_scan: %s\n", ecb_last_error());
        return 1;
    }
    double enc_s = ecb_now() - t0;

    const size_t k = 10;
    size_t qs = vt->query_size(m, ECB_MODE_ASYMMETRIC);
    void *prep = malloc(nq * qs);
    float *top_s = malloc(nq * k * sizeof *top_s);
    int64_t *top_i = malloc(nq * k * sizeof *top_i);
    float *scores = malloc(nq * n * sizeof *scores);
    double *ts = malloc(scan_reps * sizeof *ts), *tsc = malloc(scan_reps * sizeof *tsc);
    double *tp = malloc(scan_reps * sizeof *tp);
    /* Each kind of pass back to back, as FAISS's repeated search() runs:
     * interleaving them would let the 4 MB score matrix evict the codes. */
    for (size_t r = 0; r < scan_reps; r++) {
        t0 = ecb_now();
        vt->prepare(m, ECB_MODE_ASYMMETRIC, q, nq, prep);
        /* one query at a time over blocks of codes: the scores stay in cache */
        for (size_t i = 0; i < nq; i++) {
            block_ctx bc = {vt, m, (const uint8_t *)prep + i * qs, codes, cs};
            ecb_topk_blocked(n, k, block_get, &bc, top_s + i * k, top_i + i * k);
        }
        ts[r] = ecb_now() - t0;
    }
    for (size_t r = 0; r < scan_reps; r++) {
        t0 = ecb_now();
        vt->prepare(m, ECB_MODE_ASYMMETRIC, q, nq, prep);
        vt->score(m, ECB_MODE_ASYMMETRIC, prep, nq, codes, n, scores);
        tsc[r] = ecb_now() - t0;
    }
    for (size_t r = 0; r < scan_reps; r++) {
        t0 = ecb_now();
        vt->prepare(m, ECB_MODE_ASYMMETRIC, q, nq, prep);
        tp[r] = ecb_now() - t0;
    }
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++)
                if (top_i[i * k + a] == gt[i * kg + b]) hit++;
    double tmin = minimum(tt, reps);
    printf("method=%s\n", method);
    printf("corename=%s\n", openblas_get_corename());
    printf("n=%zu d=%zu nq=%zu code_size=%zu aux_bytes=%zu\n", n, d, nq, cs, vt->aux_bytes(m));
    printf("train_s_median=%.6f\n", median(tt, reps));
    printf("train_s_min=%.6f\n", tmin);
    printf("encode_s=%.6f\n", enc_s);
    printf("search_s_min=%.6f\n", minimum(ts, scan_reps));
    printf("search_s_median=%.6f\n", median(ts, scan_reps));
    printf("score_s_min=%.6f\n", minimum(tsc, scan_reps));
    printf("score_s_median=%.6f\n", median(tsc, scan_reps));
    printf("prepare_s_min=%.6f\n", minimum(tp, scan_reps));
    printf("recall_at_10=%.4f\n", (double)hit / (double)(nq * k));
    vt->destroy(m);
    free(params);
    free(codes);
    free(prep);
    free(top_s);
    free(top_i);
    free(scores);
    free(tt);
    free(ts);
    free(tsc);
    free(tp);
    free(x);
    free(q);
    free(gtf);
    dlclose(dl);
    return 0;
}
