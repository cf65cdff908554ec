/*
 * Internal helpers of the datasets layer (not used outside datasets/):
 * opening data files, reading a text input whole, the NumPy header parser
 * shared by the vector and offset readers, and the HDF5 reader's parts.
 */
#ifndef ECB_DSIO_H
#define ECB_DSIO_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"

/* Opens a data file read-only, refusing anything but a regular file (a
 * FIFO would block open() or read() forever, a device like /dev/urandom
 * never ends, a directory is a mistake): ECB_EINVAL naming what it is.
 * what names the input in errors ("vector file", "qrels", ...). The FIFO
 * check happens without blocking (O_NONBLOCK, then fstat). */
int ecb_ds_open_regular(const char *path, const char *what, int *fd, size_t *size);

/* Reads a whole file (binary) into a NUL-terminated buffer. */
int ecb_ds_read_file(const char *path, const char *what, size_t max_bytes, char **buf,
                     size_t *len);

/* Reads a text input (what: "manifest", "ids", "qrels"; named in errors)
 * into a NUL-terminated buffer, without a leading UTF-8 byte-order mark:
 * editors on Windows write one, and it would otherwise become part of the
 * first id or header. Embedded NUL bytes are left for the parsers to find
 * (they compare line lengths). max_bytes: 0 for no limit. */
int ecb_ds_read_text(const char *path, const char *what, size_t max_bytes, char **buf,
                     size_t *len);

#define ECB_UTF8_BOM "\xEF\xBB\xBF"

#define ECB_NPY_MAX_DIMS 8

typedef struct ecb_npy_header {
    char descr[16];         /* e.g. "<f4" */
    int fortran_order;      /* 0 or 1 */
    size_t ndim;
    uint64_t shape[ECB_NPY_MAX_DIMS];
    size_t data_off;        /* byte offset of the first value */
} ecb_npy_header;

/* Parse the preamble and header dict of a .npy file held in m[0..size):
 * magic, version 1/2/3, and a Python-literal dict with exactly the keys
 * 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple of
 * non-negative integers). Errors name path and the byte offset in the file.
 * The data size is not checked (the caller knows the element size). */
int ecb_npy_parse_header(const char *path, const unsigned char *m, size_t size,
                         ecb_npy_header *out);

/* Loads a small 1-D .npy (offsets, weights) into memory: descrs is a
 * NULL-terminated list of accepted dtypes such as "<i8" (the digits are the
 * element size); what
 * names the input in errors. Returns the index in descrs of the file's
 * dtype (>= 0), or a negative code. *data is malloc'd, *n values. */
int ecb_npy_load_1d(const char *path, const char *what, const char *const *descrs,
                    void **data, size_t *n);

/* The multi-vector keys of a manifest (datasets/multivec.c): paths
 * relative to the manifest, NULL when absent. */
typedef struct ecb_mv_keys {
    const char *corpus_tokens, *corpus_offsets, *queries_tokens, *query_offsets, *weights;
    size_t n_corpus_tokens, n_query_tokens;
    int has_nct, has_nqt;
} ecb_mv_keys;
/* Opens both token files and offsets (and the weights), validating them
 * and the token-count checks; errors name the manifest and the key. */
int ecb_mv_load(const char *manifest, const ecb_mv_keys *k, ecb_mvdata **out);

/* The parts of an ann-benchmarks HDF5 file (datasets/hdf5.c). path names
 * the file; with image != NULL the file is that in-memory image and path
 * only labels it. On error everything is released. */
typedef struct ecb_hdf5_parts {
    ecb_vecs *train, *test;   /* corpus and queries, read by blocks */
    int32_t *neighbors;       /* nb_rows x nb_k rows of train, or -1 */
    size_t nb_rows, nb_k;
    int has_sim;              /* the file's `distance` attribute was present */
    ecb_ds_similarity sim;
} ecb_hdf5_parts;
int ecb_hdf5_open(const char *path, const void *image, size_t image_size, ecb_hdf5_parts *p);
void ecb_hdf5_parts_free(ecb_hdf5_parts *p);

#endif
