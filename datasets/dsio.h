/*
 * Internal helpers of the datasets layer (not used outside datasets/): the
 * NumPy header parser shared by the vector and offset readers.
 */
#ifndef ECB_DSIO_H
#define ECB_DSIO_H

#include <stddef.h>
#include <stdint.h>

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

#endif
