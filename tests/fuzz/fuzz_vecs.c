/*
 * Vector readers (datasets/vecs.c): the first input byte picks the format
 * (fvecs, bvecs, fbin, u8bin, i8bin, npy, and the integer matrices ivecs and
 * ibin used for ground truth), the rest is the file. A file that opens is
 * read completely, in blocks as the runner does, and hashed.
 */
#include "datasets/dataset.h"
#include "fuzz_common.h"

static const char *const ext[] = {"fvecs", "bvecs", "fbin", "u8bin", "i8bin", "npy", "ivecs", "ibin"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned sel = data[0] % (sizeof ext / sizeof *ext);
    char name[32];
    snprintf(name, sizeof name, "in.%s", ext[sel]);
    const char *path = fuzz_write(name, data + 1, size - 1);
    if (sel >= 6) {
        int32_t *m = NULL;
        size_t n = 0, k = 0;
        if (ecb_ivecs_load(path, &m, &n, &k) == 0) free(m);
        return 0;
    }
    ecb_vecs *v = NULL;
    if (ecb_vecs_open(path, &v) != 0) return 0;
    size_t n = ecb_vecs_count(v), dim = ecb_vecs_dim(v);
    /* the file holds n*dim values: a reader that accepts more is a bug */
    if (dim == 0 || n > size || dim > size) abort();
    size_t block = n < 64 ? (n ? n : 1) : 64;
    float *buf = malloc(block * dim * sizeof *buf);
    if (!buf) abort();
    for (size_t s = 0; s < n; s += block) {
        size_t c = n - s < block ? n - s : block;
        if (ecb_vecs_read(v, s, c, buf) != 0) break; /* NaN/Inf rows are errors */
    }
    if (n) {
        size_t rows[3] = {n - 1, 0, n / 2};
        float *r3 = malloc(3 * dim * sizeof *r3);
        if (r3) ecb_vecs_read_rows(v, rows, 3, r3);
        free(r3);
    }
    uint64_t h;
    ecb_vecs_hash(v, &h);
    free(buf);
    ecb_vecs_free(v);
    return 0;
}
