/*
 * train_speed: time one plugin's train() on the first n rows of an fvecs
 * file (rows L2-normalised with --cosine, as the harness hands cosine data),
 * the wall and process-CPU seconds of each repetition and their medians,
 * plus a hash of what training produced (the transform of, or the codes
 * for, the first 1,000 rows, and for methods that decode, the decoding of
 * the 256 codes whose bytes are all 0, all 1, ..., all 255: every centroid
 * of a one-byte-per-sub-vector codebook) so that a faster training can be
 * checked to give the same bits.
 *
 *   bench_train_speed FILE.fvecs METHOD [--n 100000] [--threads 1] [--reps 3]
 *                     [--cosine] [--l2] [--param NAME=VALUE ...] [--methods DIR]
 *
 * e.g. bench_train_speed base.fvecs sq --cosine --param bits=8
 *      bench_train_speed base.fvecs pca --cosine --param dim=384 --threads 2
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_plugins.h"
#include "common/ecb.h"
#include "harness/host.h"
#include "harness/params.h"

extern void openblas_set_num_threads(int);

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *read_fvecs(const char *path, size_t want, size_t *n, size_t *d)
{
    FILE *f = fopen(path, "rb");
    int32_t dd;
    if (!f || fread(&dd, 4, 1, f) != 1 || dd <= 0) {
        if (f) fclose(f);
        return NULL;
    }
    *d = (size_t)dd;
    float *x = malloc(want * *d * sizeof *x);
    size_t i = 0;
    fseek(f, 0, SEEK_SET);
    for (; x && i < want; i++)
        if (fread(&dd, 4, 1, f) != 1 || fread(x + i * *d, 4, *d, f) != *d) break;
    fclose(f);
    *n = i;
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t fnv(const void *p, size_t len, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < len; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_train_speed FILE.fvecs METHOD [--n N] [--threads T] "
                        "[--reps R] [--cosine] [--l2] [--param NAME=VALUE ...]\n");
        return 2;
    }
    const char *file = argv[1], *name = argv[2], *given = NULL;
    size_t want = 100000, threads = 1, reps = 3;
    int cosine = 0, l2 = 0;
    const char *pnames[16], *pvals[16];
    size_t np = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--cosine")) cosine = 1;
        else if (!strcmp(argv[i], "--l2")) l2 = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--n")) want = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--methods")) given = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--param") && np < 16) {
            char *eq = strchr(argv[++i], '=');
            if (!eq) return 2;
            *eq = 0;
            pnames[np] = argv[i];
            pvals[np++] = eq + 1;
        } else {
            fprintf(stderr, "bench_train_speed: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!want || !threads || !reps || reps > 64) return 2;
    char buf[PATH_MAX + 64];
    const char *dir = bench_methods_dir(given, buf, sizeof buf);
    if (!dir) return 1;
    char path[PATH_MAX + 128], sym[128];
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    snprintf(sym, sizeof sym, "ecb_method_%s", name);
    ecb_method_entry_fn fn = NULL;
    if (h) *(void **)&fn = dlsym(h, sym);
    const ecb_method_vtable *vt = fn ? fn() : NULL;
    if (!vt) {
        fprintf(stderr, "bench_train_speed: cannot load %s (%s)\n", path, h ? sym : dlerror());
        return 1;
    }
    size_t n, d;
    float *x = read_fvecs(file, want, &n, &d);
    if (!x || n < 2) {
        fprintf(stderr, "bench_train_speed: cannot read %s\n", file);
        return 1;
    }
    if (cosine) ecb_rows_normalize(x, n, d);
    openblas_set_num_threads(1); /* as ecbench runs */
    void *params = calloc(1, vt->params_size ? vt->params_size : 1);
    ecb_params_defaults(vt->params, params);
    for (size_t i = 0; i < np; i++)
        if (bench_set_param(vt->params, params, pnames[i], pvals[i])) {
            fprintf(stderr, "bench_train_speed: bad parameter %s=%s\n", pnames[i], pvals[i]);
            return 2;
        }
    ecb_host host;
    ecb_host_init(&host, 42, threads);
    double wall[64], cpu[64];
    uint64_t hash = 0;
    for (size_t r = 0; r < reps; r++) {
        ecb_method *m = NULL;
        if (vt->create(&host, params, d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, &m)) {
            fprintf(stderr, "create: %s\n", ecb_last_error());
            return 1;
        }
        double w0 = wall_now(), c0 = cpu_now();
        if (vt->train && vt->train(m, x, n)) {
            fprintf(stderr, "train: %s\n", ecb_last_error());
            return 1;
        }
        wall[r] = wall_now() - w0;
        cpu[r] = cpu_now() - c0;
        size_t nh = n < 1000 ? n : 1000, bytes;
        void *out;
        int rc;
        if (vt->flags & ECB_METHOD_TRANSFORM) {
            bytes = nh * vt->out_dim(m) * sizeof(float);
            out = malloc(bytes);
            rc = vt->transform(m, x, nh, out);
        } else {
            bytes = nh * vt->code_size(m);
            out = malloc(bytes);
            rc = vt->encode(m, x, nh, out);
        }
        if (rc) {
            fprintf(stderr, "encode: %s\n", ecb_last_error());
            return 1;
        }
        uint64_t hr = fnv(out, bytes, 1469598103934665603ull);
        free(out);
        if (!(vt->flags & ECB_METHOD_TRANSFORM) && (vt->flags & ECB_METHOD_DECODE) && vt->decode) {
            /* Decoded codes whose bytes are all j, for every byte value j:
             * with one byte per sub-vector (nbits=8) every centroid of every
             * codebook, so the hash covers the whole codebook, not only the
             * centroids the first rows use. */
            size_t cs = vt->code_size(m);
            uint8_t *codes = malloc(256 * cs);
            float *dec = malloc(256 * d * sizeof *dec);
            for (size_t jv = 0; jv < 256; jv++) memset(codes + jv * cs, (int)jv, cs);
            if (vt->decode(m, codes, 256, dec)) {
                fprintf(stderr, "decode: %s\n", ecb_last_error());
                return 1;
            }
            hr = fnv(dec, 256 * d * sizeof *dec, hr);
            free(codes);
            free(dec);
        }
        if (r && hr != hash) printf("# hash differs between repetitions!\n");
        hash = hr;
        vt->destroy(m);
    }
    printf("%s n=%zu d=%zu threads=%zu reps=%zu", name, n, d, threads, reps);
    for (size_t i = 0; i < np; i++) printf(" %s=%s", pnames[i], pvals[i]);
    qsort(wall, reps, sizeof *wall, cmp_double);
    qsort(cpu, reps, sizeof *cpu, cmp_double);
    printf(" train_wall_s=%.4f train_cpu_s=%.4f hash=%016llx\n", wall[reps / 2], cpu[reps / 2],
           (unsigned long long)hash);
    free(params);
    free(x);
    return 0;
}
