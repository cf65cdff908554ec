/*
 * HDF5 reader (datasets/hdf5.c): the input is a whole HDF5 file, opened
 * from memory (libhdf5's core driver with a file image, so no temp file);
 * a file that loads is read in blocks as the runner does: every row when
 * it is small, else the first and last blocks (a few bytes may declare a
 * huge sparse dataset). Seeds: tests/corpus/hdf5/, small ann-benchmarks
 * files from tests/data/make_hdf5.py. Built only with libhdf5.
 *
 * libhdf5 1.10 itself leaks a metadata block on some corrupt object
 * headers (H5O__attr_exists -> H5C_protect -> H5FL_blk_malloc on a checksum
 * failure); that is outside ecbench and not fixable here, so leaks whose
 * stack is inside libhdf5 are suppressed. Leaks of our own code are not.
 */
#include "datasets/dataset.h"
#include "fuzz_common.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }

static void read_some(const ecb_vecs *v)
{
    size_t n = ecb_vecs_count(v), dim = ecb_vecs_dim(v);
    size_t block = n < 64 ? n : 64;
    if (!block || dim > ((size_t)1 << 20)) abort(); /* the reader bounds both */
    float *buf = malloc(block * dim * sizeof *buf);
    if (!buf) abort();
    for (size_t s = 0; s < n; s += block) {
        if (n * dim > ((size_t)1 << 16) && s != 0 && s + block < n) s = n - block;
        size_t c = n - s < block ? n - s : block;
        if (ecb_vecs_read(v, s, c, buf) != 0) break;
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init_dir(); /* silences logging */
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_hdf5_image(data, size, "fuzz.hdf5", &d) != 0) return 0;
    read_some(d->corpus);
    read_some(d->queries);
    size_t nq = ecb_vecs_count(d->queries), n = ecb_vecs_count(d->corpus);
    for (size_t i = 0; i < nq * d->gt_k; i++)
        if (d->gt[i] < -1 || d->gt[i] >= (int32_t)n) abort(); /* validated at load */
    ecb_dataset_free(d);
    return 0;
}
