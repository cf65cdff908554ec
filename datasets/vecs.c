/*
 * Vector sources (ecb_vecs): memory-mapped files in the TEXMEX (.fvecs,
 * .bvecs), big-ann (.fbin, .u8bin, .i8bin) and NumPy (.npy, '<f4'/'<f2',
 * C order, 2-D) layouts, in-memory arrays, on-the-fly generators and row
 * subsets. Files are validated once at open (header against file size,
 * every TEXMEX row header) and never copied whole: reads convert a block of
 * rows to float32 straight from the mapping, so corpora larger than RAM
 * stream. Reads keep no mutable state, so they are safe from any thread.
 * Also the integer matrices of ground truth (.ivecs, .ibin), which are small
 * and loaded into memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"
#include "ecbench/ecbmath.h"

/* Dimensions above this are rejected as corrupt headers, not allocated. */
#define VECS_MAX_DIM ((size_t)1 << 20)

typedef enum { SRC_FILE, SRC_MEMORY, SRC_GENERATED, SRC_SUBSET, SRC_READER } src_kind;
typedef enum { EL_F32, EL_F16, EL_U8, EL_I8 } elem_kind;

struct ecb_vecs {
    atomic_int refs;
    src_kind kind;
    char *path; /* file path or a "<...>" label */
    size_t n, dim;
    atomic_bool hash_known;
    _Atomic uint64_t hash;
    /* SRC_FILE */
    int fd;
    unsigned char *map;
    size_t map_size;
    elem_kind elem;
    size_t data_off;   /* byte offset of row 0's first value */
    size_t row_stride; /* bytes from one row's first value to the next */
    /* SRC_MEMORY */
    float *data;
    /* SRC_GENERATED */
    ecb_vecs_gen_fn gen;
    const void *ctx;
    void (*ctx_free)(void *);
    /* SRC_SUBSET */
    ecb_vecs *parent;
    size_t *rows;
    /* SRC_READER */
    ecb_vecs_reader reader;
    void *reader_ctx;
};

static size_t elem_size(elem_kind e) { return e == EL_F32 ? 4 : e == EL_F16 ? 2 : 1; }

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ecb_vecs *vecs_new(src_kind kind, const char *label, size_t n, size_t dim)
{
    ecb_vecs *v = ecb_calloc(1, sizeof *v);
    if (!v) return NULL;
    atomic_init(&v->refs, 1);
    atomic_init(&v->hash_known, false);
    atomic_init(&v->hash, 0);
    v->kind = kind;
    v->n = n;
    v->dim = dim;
    v->fd = -1;
    v->path = ecb_strdup(label);
    if (!v->path) {
        free(v);
        return NULL;
    }
    return v;
}

ecb_vecs *ecb_vecs_ref(ecb_vecs *v)
{
    if (v) atomic_fetch_add(&v->refs, 1);
    return v;
}

void ecb_vecs_free(ecb_vecs *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    switch (v->kind) {
    case SRC_FILE:
        if (v->map) munmap(v->map, v->map_size);
        if (v->fd >= 0) close(v->fd);
        break;
    case SRC_MEMORY: free(v->data); break;
    case SRC_GENERATED:
        if (v->ctx_free) v->ctx_free((void *)v->ctx);
        break;
    case SRC_SUBSET:
        ecb_vecs_free(v->parent);
        free(v->rows);
        break;
    case SRC_READER:
        if (v->reader.free) v->reader.free(v->reader_ctx);
        break;
    }
    free(v->path);
    free(v);
}

size_t ecb_vecs_count(const ecb_vecs *v) { return v ? v->n : 0; }
size_t ecb_vecs_dim(const ecb_vecs *v) { return v ? v->dim : 0; }
const char *ecb_vecs_path(const ecb_vecs *v) { return v ? v->path : "<null>"; }

/* ---- opening files ------------------------------------------------------ */

static const char *file_ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? dot : "";
}

/* Map the whole file read-only. Empty files are rejected here: nothing
 * downstream has a use for a vector file without vectors. */
static int map_file(const char *path, const char *what, int *fd_out, unsigned char **map,
                    size_t *size)
{
    int fd;
    size_t fsize;
    int rc = ecb_ds_open_regular(path, what, &fd, &fsize);
    if (rc) return rc;
    if (fsize == 0) {
        close(fd);
        return ecb_fail(ECB_EFORMAT, "%s: file is empty (expected a header and vectors)", path);
    }
    void *m = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return ecb_fail(ECB_EIO, "%s: cannot mmap %zu bytes: %s", path, fsize, strerror(e));
    }
    *fd_out = fd;
    *map = m;
    *size = fsize;
    return 0;
}

/* TEXMEX: every row is int32 dim, then dim values of esz bytes. */
static int parse_texmex(ecb_vecs *v, size_t esz)
{
    const char *p = v->path;
    if (v->map_size < 4)
        return ecb_fail(ECB_EFORMAT, "%s: truncated: %zu bytes, expected at least 4 (row 0's "
                        "dimension header)", p, v->map_size);
    int32_t d0 = (int32_t)rd_u32(v->map);
    if (d0 <= 0 || (size_t)d0 > VECS_MAX_DIM)
        return ecb_fail(ECB_EFORMAT, "%s: row 0: dimension header is %d, expected 1..%zu", p,
                        (int)d0, VECS_MAX_DIM);
    size_t dim = (size_t)d0, stride = 4 + dim * esz;
    if (v->map_size % stride != 0) {
        size_t rows = v->map_size / stride;
        return ecb_fail(ECB_EFORMAT, "%s: truncated or inconsistent: size %zu bytes is not a "
                        "multiple of the row size %zu (4 + %zu x %zu); expected %zu bytes for "
                        "%zu rows or %zu for %zu rows", p, v->map_size, stride, dim, esz,
                        rows * stride, rows, (rows + 1) * stride, rows + 1);
    }
    size_t n = v->map_size / stride;
    for (size_t i = 1; i < n; i++) {
        int32_t d = (int32_t)rd_u32(v->map + i * stride);
        if (d != d0)
            return ecb_fail(ECB_EFORMAT, "%s: row %zu (byte offset %zu): dimension header is %d, "
                            "expected %zu like row 0", p, i, i * stride, (int)d, dim);
    }
    v->n = n;
    v->dim = dim;
    v->data_off = 4;
    v->row_stride = stride;
    return 0;
}

/* big-ann: uint32 n, uint32 d, then n*d values. */
static int parse_bin(ecb_vecs *v, size_t esz)
{
    const char *p = v->path;
    if (v->map_size < 8)
        return ecb_fail(ECB_EFORMAT, "%s: truncated: %zu bytes, expected at least 8 (header "
                        "uint32 n, uint32 d)", p, v->map_size);
    size_t n = rd_u32(v->map), dim = rd_u32(v->map + 4);
    if (dim == 0 || dim > VECS_MAX_DIM)
        return ecb_fail(ECB_EFORMAT, "%s: header dimension is %zu, expected 1..%zu", p, dim,
                        VECS_MAX_DIM);
    if (n == 0)
        return ecb_fail(ECB_EFORMAT, "%s: header count is 0, expected at least one vector", p);
    size_t want = (size_t)8 + n * dim * esz; /* n, dim < 2^32 and 2^20: no overflow */
    if (want != v->map_size)
        return ecb_fail(ECB_EFORMAT, "%s: %s: header says %zu x %zu (%zu bytes with the header), "
                        "file has %zu bytes", p, want > v->map_size ? "truncated" :
                        "trailing bytes", n, dim, want, v->map_size);
    v->n = n;
    v->dim = dim;
    v->data_off = 8;
    v->row_stride = dim * esz;
    return 0;
}

static int parse_npy(ecb_vecs *v)
{
    const char *p = v->path;
    ecb_npy_header h;
    int rc = ecb_npy_parse_header(p, v->map, v->map_size, &h);
    if (rc) return rc;
    if (strcmp(h.descr, "<f4") == 0) {
        v->elem = EL_F32;
    } else if (strcmp(h.descr, "<f2") == 0) {
        v->elem = EL_F16;
    } else {
        return ecb_fail(ECB_EFORMAT, "%s: header field 'descr': expected '<f4' (float32) or "
                        "'<f2' (float16, little-endian), got '%s'", p, h.descr);
    }
    if (h.fortran_order)
        return ecb_fail(ECB_EFORMAT, "%s: header field 'fortran_order': expected False (C "
                        "order), got True", p);
    if (h.ndim != 2)
        return ecb_fail(ECB_EFORMAT, "%s: header field 'shape': expected 2 dimensions (rows, "
                        "dim), got %zu", p, h.ndim);
    unsigned long long rows = h.shape[0], dim = h.shape[1];
    if (rows == 0 || dim == 0 || dim > VECS_MAX_DIM || rows > ((size_t)1 << 40))
        return ecb_fail(ECB_EFORMAT, "%s: header field 'shape': (%llu, %llu) out of range (rows "
                        "1..2^40, dim 1..%zu)", p, rows, dim, VECS_MAX_DIM);
    size_t esz = elem_size(v->elem);
    size_t want = h.data_off + (size_t)rows * (size_t)dim * esz;
    if (want != v->map_size)
        return ecb_fail(ECB_EFORMAT, "%s: %s: shape (%llu, %llu) of %s needs %zu bytes with the "
                        "header, file has %zu bytes", p, want > v->map_size ? "truncated" :
                        "trailing bytes", rows, dim, h.descr, want, v->map_size);
    v->n = (size_t)rows;
    v->dim = (size_t)dim;
    v->data_off = h.data_off;
    v->row_stride = v->dim * esz;
    return 0;
}

int ecb_vecs_open(const char *path, ecb_vecs **out)
{
    *out = NULL;
    const char *ext = file_ext(path);
    int rc;
    elem_kind elem;
    enum { F_TEXMEX, F_BIN, F_NPY } fmt;
    if (!strcmp(ext, ".fvecs")) fmt = F_TEXMEX, elem = EL_F32;
    else if (!strcmp(ext, ".bvecs")) fmt = F_TEXMEX, elem = EL_U8;
    else if (!strcmp(ext, ".fbin")) fmt = F_BIN, elem = EL_F32;
    else if (!strcmp(ext, ".u8bin")) fmt = F_BIN, elem = EL_U8;
    else if (!strcmp(ext, ".i8bin")) fmt = F_BIN, elem = EL_I8;
    else if (!strcmp(ext, ".npy")) fmt = F_NPY, elem = EL_F32;
    else if (!strcmp(ext, ".ivecs") || !strcmp(ext, ".ibin"))
        return ecb_fail(ECB_EINVAL, "%s: integer matrices are ground truth, not vectors "
                        "(use it as \"groundtruth\")", path);
    else
        return ecb_fail(ECB_EINVAL, "%s: unknown vector file extension '%s': expected .fvecs, "
                        ".bvecs, .fbin, .u8bin, .i8bin or .npy", path, ext);

    ecb_vecs *v = vecs_new(SRC_FILE, path, 0, 0);
    if (!v) return ECB_ENOMEM;
    v->elem = elem;
    rc = map_file(path, "vector file", &v->fd, &v->map, &v->map_size);
    if (rc) goto fail;
    if (fmt == F_TEXMEX) rc = parse_texmex(v, elem_size(elem));
    else if (fmt == F_BIN) rc = parse_bin(v, elem_size(elem));
    else rc = parse_npy(v);
    if (rc) goto fail;
    *out = v;
    return 0;
fail:
    ecb_vecs_free(v);
    return rc;
}

int ecb_vecs_from_memory(float *data, size_t n, size_t dim, ecb_vecs **out)
{
    *out = NULL;
    if (!data && n > 0) return ecb_fail(ECB_EINVAL, "ecb_vecs_from_memory: data is NULL");
    if (dim == 0) return ecb_fail(ECB_EINVAL, "ecb_vecs_from_memory: dim is 0, expected >= 1");
    ecb_vecs *v = vecs_new(SRC_MEMORY, "<memory>", n, dim);
    if (!v) return ECB_ENOMEM;
    v->data = data;
    *out = v;
    return 0;
}

int ecb_vecs_generated(size_t n, size_t dim, ecb_vecs_gen_fn gen, const void *ctx,
                       void (*ctx_free)(void *), ecb_vecs **out)
{
    *out = NULL;
    if (!gen || dim == 0)
        return ecb_fail(ECB_EINVAL, "ecb_vecs_generated: expected a generator and dim >= 1, "
                        "got %s and dim %zu", gen ? "a generator" : "NULL", dim);
    ecb_vecs *v = vecs_new(SRC_GENERATED, "<generated>", n, dim);
    if (!v) return ECB_ENOMEM;
    v->gen = gen;
    v->ctx = ctx;
    v->ctx_free = ctx_free;
    *out = v;
    return 0;
}

int ecb_vecs_from_reader(size_t n, size_t dim, const char *label, const ecb_vecs_reader *ops,
                         void *ctx, ecb_vecs **out)
{
    *out = NULL;
    if (!ops || !ops->read || dim == 0) {
        if (ops && ops->free) ops->free(ctx);
        return ecb_fail(ECB_EINVAL, "ecb_vecs_from_reader: expected a read function and dim >= "
                        "1, got %s and dim %zu", ops && ops->read ? "one" : "none", dim);
    }
    ecb_vecs *v = vecs_new(SRC_READER, label, n, dim);
    if (!v) {
        if (ops->free) ops->free(ctx);
        return ECB_ENOMEM;
    }
    v->reader = *ops;
    v->reader_ctx = ctx;
    *out = v;
    return 0;
}

int ecb_vecs_subset(ecb_vecs *parent, const size_t *rows, size_t n, ecb_vecs **out)
{
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= parent->n)
            return ecb_fail(ECB_ERANGE, "%s: subset row %zu is %zu, expected < %zu", parent->path,
                            i, rows[i], parent->n);
    ecb_vecs *v = vecs_new(SRC_SUBSET, parent->path, n, parent->dim);
    if (!v) return ECB_ENOMEM;
    v->rows = ecb_malloc_array(n ? n : 1, sizeof *rows);
    if (!v->rows) {
        ecb_vecs_free(v);
        return ECB_ENOMEM;
    }
    if (n) memcpy(v->rows, rows, n * sizeof *rows);
    v->parent = ecb_vecs_ref(parent);
    *out = v;
    return 0;
}

void ecb_vecs_set_hash(ecb_vecs *v, uint64_t h)
{
    atomic_store(&v->hash, h);
    atomic_store(&v->hash_known, true);
}

/* ---- reading ----------------------------------------------------------- */

static int check_finite(const ecb_vecs *v, size_t row, const float *x)
{
    for (size_t j = 0; j < v->dim; j++)
        if (!isfinite(x[j]))
            return ecb_fail(ECB_EFORMAT, "%s: row %zu, component %zu: value is %s, expected a "
                            "finite number", v->path, row, j, isnan(x[j]) ? "NaN" : "infinite");
    return 0;
}

/* One row of source v (row < v->n) into out, float32, checked. */
static int read_row(const ecb_vecs *v, size_t row, float *out)
{
    size_t d = v->dim;
    switch (v->kind) {
    case SRC_FILE: {
        const unsigned char *p = v->map + v->data_off + row * v->row_stride;
        switch (v->elem) {
        case EL_F32: memcpy(out, p, d * sizeof *out); break; /* little-endian host */
        case EL_F16: ecb_half_decode(p, d, out); break; /* the toolkit's one conversion */
        case EL_U8:
            for (size_t j = 0; j < d; j++) out[j] = (float)p[j];
            return 0; /* always finite */
        case EL_I8:
            for (size_t j = 0; j < d; j++) out[j] = (float)(int8_t)p[j];
            return 0;
        }
        return check_finite(v, row, out);
    }
    case SRC_MEMORY: memcpy(out, v->data + row * d, d * sizeof *out); break;
    case SRC_GENERATED: v->gen(v->ctx, row, out); break;
    case SRC_SUBSET: return read_row(v->parent, v->rows[row], out);
    case SRC_READER: {
        int rc = v->reader.read(v->reader_ctx, row, 1, out);
        if (rc) return rc;
        break;
    }
    }
    return check_finite(v, row, out);
}

int ecb_vecs_read(const ecb_vecs *v, size_t start, size_t count, float *out)
{
    if (start > v->n || count > v->n - start)
        return ecb_fail(ECB_ERANGE, "%s: read of rows [%zu, %zu) out of range, %zu rows", v->path,
                        start, start + count, v->n);
    if (v->kind == SRC_READER) {
        /* one call per block: a reader's per-call cost (an HDF5 hyperslab
         * read) would dominate row by row */
        int rc = count ? v->reader.read(v->reader_ctx, start, count, out) : 0;
        for (size_t i = 0; i < count && !rc; i++)
            rc = check_finite(v, start + i, out + i * v->dim);
        return rc;
    }
    if (v->kind == SRC_SUBSET) {
        /* runs of consecutive parent rows (a whole identity subset) go to
         * the parent as one block */
        for (size_t i = 0; i < count;) {
            size_t r0 = v->rows[start + i], l = 1;
            while (i + l < count && v->rows[start + i + l] == r0 + l) l++;
            int rc = ecb_vecs_read(v->parent, r0, l, out + i * v->dim);
            if (rc) return rc;
            i += l;
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        int rc = read_row(v, start + i, out + i * v->dim);
        if (rc) return rc;
    }
    return 0;
}

int ecb_vecs_read_rows(const ecb_vecs *v, const size_t *rows, size_t count, float *out)
{
    for (size_t i = 0; i < count; i++) {
        if (rows[i] >= v->n)
            return ecb_fail(ECB_ERANGE, "%s: row %zu requested, %zu rows", v->path, rows[i], v->n);
        int rc = read_row(v, rows[i], out + i * v->dim);
        if (rc) return rc;
    }
    return 0;
}

/* The hash is over the float32 values as read (so the same vectors in
 * .fvecs and .npy hash alike) and the shape; little-endian bytes. A subset
 * of a source whose hash is already known hashes its row list instead. */
int ecb_vecs_hash(const ecb_vecs *v, uint64_t *out)
{
    if (atomic_load(&v->hash_known)) {
        *out = atomic_load(&v->hash);
        return 0;
    }
    ecb_chash *h = ecb_chash_new();
    if (!h) return ECB_ENOMEM;
    uint64_t shape[2] = {v->n, v->dim};
    ecb_chash_update(h, shape, sizeof shape);
    if (v->kind == SRC_SUBSET && atomic_load(&v->parent->hash_known)) {
        /* Parent content + row list determine the subset: no need to read
         * (or generate) its rows. */
        uint64_t ph = atomic_load(&v->parent->hash);
        ecb_chash_update(h, "subset", 6);
        ecb_chash_update(h, &ph, sizeof ph);
        for (size_t i = 0; i < v->n; i++) {
            uint64_t r = v->rows[i];
            ecb_chash_update(h, &r, sizeof r);
        }
        *out = ecb_chash_digest(h);
        ecb_chash_free(h);
        ecb_vecs_set_hash((ecb_vecs *)v, *out);
        return 0;
    }
    size_t block = (size_t)1 << 16; /* floats per block, at least one row */
    size_t rows = block / v->dim ? block / v->dim : 1;
    float *buf = ecb_malloc_array(rows * v->dim, sizeof *buf);
    if (!buf) {
        ecb_chash_free(h);
        return ECB_ENOMEM;
    }
    for (size_t s = 0; s < v->n; s += rows) {
        size_t c = v->n - s < rows ? v->n - s : rows;
        int rc = ecb_vecs_read(v, s, c, buf);
        if (rc) {
            free(buf);
            ecb_chash_free(h);
            return rc;
        }
        ecb_chash_update(h, buf, c * v->dim * sizeof *buf);
    }
    free(buf);
    *out = ecb_chash_digest(h);
    ecb_chash_free(h);
    /* Benign race: concurrent callers compute and store the same value. */
    atomic_store(&((ecb_vecs *)v)->hash, *out);
    atomic_store(&((ecb_vecs *)v)->hash_known, true);
    return 0;
}

/* ---- ground truth ------------------------------------------------------ */

int ecb_ivecs_load(const char *path, int32_t **data, size_t *n, size_t *k)
{
    *data = NULL;
    *n = *k = 0;
    const char *ext = file_ext(path);
    int texmex = !strcmp(ext, ".ivecs");
    if (!texmex && strcmp(ext, ".ibin"))
        return ecb_fail(ECB_EINVAL, "%s: unknown ground-truth extension '%s': expected .ivecs "
                        "or .ibin", path, ext);
    ecb_vecs tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.path = (char *)path;
    tmp.fd = -1;
    int rc = map_file(path, "ground-truth file", &tmp.fd, &tmp.map, &tmp.map_size);
    if (rc) return rc;
    rc = texmex ? parse_texmex(&tmp, 4) : parse_bin(&tmp, 4);
    if (rc) goto out;
    size_t cnt = tmp.n * tmp.dim;
    int32_t *d = ecb_malloc_array(cnt, sizeof *d);
    if (!d) {
        rc = ECB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < tmp.n; i++) {
        const unsigned char *p = tmp.map + tmp.data_off + i * tmp.row_stride;
        for (size_t j = 0; j < tmp.dim; j++) d[i * tmp.dim + j] = (int32_t)rd_u32(p + 4 * j);
    }
    *data = d;
    *n = tmp.n;
    *k = tmp.dim;
out:
    munmap(tmp.map, tmp.map_size);
    close(tmp.fd);
    return rc;
}
