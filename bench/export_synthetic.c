/*
 * export_synthetic: write the built-in synthetic collection to .fvecs so
 * that tools outside ecbench (FAISS in bench/fitted_vs_faiss.py) see the
 * very vectors ecbench generates.
 *
 *   bench_export_synthetic OUTDIR [n dim queries seed]
 *     (defaults: 20000 128 200 1) writes OUTDIR/base.fvecs and
 *     OUTDIR/query.fvecs, raw (not normalised: ecbench normalises for
 *     cosine at load time, the reader must do the same).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "common/ecb.h"

static int write_fvecs(const char *path, const ecb_vecs *v)
{
    size_t n = ecb_vecs_count(v), d = ecb_vecs_dim(v);
    FILE *f = fopen(path, "wb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot create: %s", path, strerror(errno));
    float *row = malloc(d * sizeof *row);
    int32_t dd = (int32_t)d;
    int rc = row ? 0 : ecb_fail(ECB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        if ((rc = ecb_vecs_read(v, i, 1, row))) break;
        if (fwrite(&dd, sizeof dd, 1, f) != 1 || fwrite(row, sizeof *row, d, f) != d)
            rc = ecb_fail(ECB_EIO, "%s: write failed at row %zu", path, i);
    }
    if (fclose(f) && !rc) rc = ecb_fail(ECB_EIO, "%s: close failed: %s", path, strerror(errno));
    free(row);
    return rc;
}

static int parse_size(const char *s, const char *what, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || s[0] == '-')
        return ecb_fail(ECB_EINVAL, "%s: expected a non-negative integer, got \"%s\"", what, s);
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: %s OUTDIR [n dim queries seed]\n", argv[0]);
        return 2;
    }
    ecb_synth_params p;
    ecb_synth_defaults(&p);
    p.n = 20000;
    p.dim = 128;
    p.queries = 200;
    p.seed = 1;
    size_t seed = 1;
    int rc = 0;
    if (argc == 6 && ((rc = parse_size(argv[2], "n", &p.n)) || (rc = parse_size(argv[3], "dim", &p.dim)) ||
                      (rc = parse_size(argv[4], "queries", &p.queries)) ||
                      (rc = parse_size(argv[5], "seed", &seed))))
        goto fail;
    if (argc == 6) p.seed = seed;
    if ((rc = ecb_mkdir_p(argv[1]))) goto fail;
    ecb_dataset *ds = NULL;
    if ((rc = ecb_dataset_synthetic(&p, &ds))) goto fail;
    char path[4096];
    snprintf(path, sizeof path, "%s/base.fvecs", argv[1]);
    rc = write_fvecs(path, ds->corpus);
    snprintf(path, sizeof path, "%s/query.fvecs", argv[1]);
    if (!rc) rc = write_fvecs(path, ds->queries);
    ecb_dataset_free(ds);
    if (rc) goto fail;
    printf("%s: synthetic n=%zu dim=%zu queries=%zu seed=%llu\n", argv[1], p.n, p.dim, p.queries,
           (unsigned long long)p.seed);
    return 0;
fail:
    fprintf(stderr, "export_synthetic: %s\n", ecb_last_error());
    return 1;
}
