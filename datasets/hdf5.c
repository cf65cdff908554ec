/*
 * HDF5 files in the ann-benchmarks layout, read with libhdf5 (built only
 * when meson finds it; datasets/hdf5_none.c stands in otherwise):
 *
 *   /train      n  x dim  floating point   the corpus
 *   /test       nq x dim  floating point   the queries
 *   /neighbors  nq x k    integer          exact neighbours (ground truth), rows of train
 *   /distances  nq x k    floating point   optional, only its shape is checked
 *   attribute `distance` on the root: angular (cosine), euclidean (l2),
 *   dot; jaccard and hamming (set and binary data) are refused.
 *
 * Vectors are never read whole: each ecb_vecs block read is one hyperslab
 * read of consecutive rows, converted to float32 by the library (float16
 * and float64 files work too), so memory stays bounded by the block size
 * as with memory-mapped files. Only the neighbours (nq x k) are loaded.
 * The first row of train and test is read at open, so a dataset compressed
 * with a filter this libhdf5 lacks fails before any cell runs. Files are
 * first opened in a child process (check_in_child), since libhdf5 itself
 * crashes on some corrupt files.
 *
 * libhdf5 calls are serialised by one process-wide mutex: Debian's build is
 * thread-safe, but others need not be, and a thread-safe libhdf5 holds a
 * global lock of its own anyway. Its error stack is not printed; the most
 * specific entry is appended to our message instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"

#define H5_MAX_DIM ((size_t)1 << 20)
/* ground truth beyond this is a corrupt or hostile header, not a benchmark
 * (ann-benchmarks ships 10,000 x 100) */
#define H5_MAX_NEIGHBORS ((size_t)1 << 27)

/* recursive: a source freed while opening (on an error) takes it again */
static pthread_mutex_t h5_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

int ecb_hdf5_available(void) { return 1; }

static herr_t h5_first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc) snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

/* ecb_fail with the most specific libhdf5 error appended (if any). */
static int h5_fail(int code, const char *fmt, ...) ECB_PRINTF(2, 3);
static int h5_fail(int code, const char *fmt, ...)
{
    char msg[1024], lib[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_first_error, lib);
    H5Eclear2(H5E_DEFAULT);
    if (lib[0]) return ecb_fail(code, "%s (libhdf5: %s)", msg, lib);
    return ecb_fail(code, "%s", msg);
}

/* ---- one dataset as an ecb_vecs ------------------------------------------ */

typedef struct {
    hid_t dset;
    size_t dim;
    int chunked;
    char *label;
} h5_src;

static int h5_read(void *ctx, size_t start, size_t count, float *out)
{
    h5_src *s = ctx;
    pthread_mutex_lock(&h5_lock);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hsize_t off[2] = {start, 0}, cnt[2] = {count, s->dim};
    hid_t fs = H5Dget_space(s->dset), ms = H5Screate_simple(2, cnt, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1
               : H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    if (e >= 0) e = H5Dread(s->dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out);
    int rc = e < 0 ? h5_fail(ECB_EIO, "%s: cannot read rows [%zu, %zu)%s", s->label, start,
                             start + count, s->chunked ? " (compressed with a filter this "
                             "libhdf5 lacks? h5py's lzf is one)" : "") : 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    pthread_mutex_unlock(&h5_lock);
    return rc;
}

static void h5_src_free(void *ctx)
{
    h5_src *s = ctx;
    if (!s) return;
    pthread_mutex_lock(&h5_lock);
    if (s->dset >= 0) H5Dclose(s->dset);
    pthread_mutex_unlock(&h5_lock);
    free(s->label);
    free(s);
}

/* ---- validation (called with the lock held) -------------------------------- */

typedef struct {
    const char *path;
    hid_t file;
    int chunked[2]; /* out: /train, /test are chunked (their index is read lazily) */
} h5_ctx;

/* Opens /name as a rank-2 dataset of the given type class; dims[2] out.
 * A missing name is ECB_EFORMAT naming what it holds. */
static int open_2d(const h5_ctx *c, const char *name, H5T_class_t cls, const char *holds,
                   hid_t *out, hsize_t dims[2])
{
    *out = -1;
    htri_t ex = H5Lexists(c->file, name, H5P_DEFAULT);
    if (ex <= 0)
        return h5_fail(ECB_EFORMAT, "%s: missing dataset /%s (%s); the ann-benchmarks layout "
                       "has /train, /test and /neighbors", c->path, name, holds);
    hid_t d = H5Dopen2(c->file, name, H5P_DEFAULT);
    if (d < 0) return h5_fail(ECB_EFORMAT, "%s: /%s is not a dataset (%s)", c->path, name, holds);
    int rc = 0;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    H5T_class_t got = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (got != cls) {
        rc = ecb_fail(ECB_EFORMAT, "%s: /%s: expected %s values, got %s", c->path, name,
                      cls == H5T_FLOAT ? "floating-point" : "integer",
                      got == H5T_INTEGER ? "integers" : got == H5T_FLOAT ? "floating point"
                      : got == H5T_STRING ? "strings" : got == H5T_ENUM ? "an enum (booleans?)"
                      : "another type");
    } else if (rank != 2 || H5Sget_simple_extent_type(sp) != H5S_SIMPLE) {
        rc = ecb_fail(ECB_EFORMAT, "%s: /%s: expected 2 dimensions (rows, %s), got %d", c->path,
                      name, cls == H5T_FLOAT ? "dim" : "k", rank);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        if (dims[0] == 0 || dims[1] == 0 || dims[1] > H5_MAX_DIM)
            rc = ecb_fail(ECB_EFORMAT, "%s: /%s: shape (%llu, %llu) out of range (rows >= 1, "
                          "columns 1..%zu)", c->path, name, (unsigned long long)dims[0],
                          (unsigned long long)dims[1], H5_MAX_DIM);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (rc) H5Dclose(d);
    else *out = d;
    return rc;
}

/* The `distance` attribute, a string (fixed or variable length); "" when
 * absent. */
static int read_distance(const h5_ctx *c, char *out, size_t cap)
{
    out[0] = '\0';
    htri_t ex = H5Aexists(c->file, "distance");
    if (ex < 0) return h5_fail(ECB_EFORMAT, "%s: cannot look up attribute 'distance'", c->path);
    if (ex == 0) return 0;
    hid_t a = H5Aopen(c->file, "distance", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    int rc = 0;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        rc = h5_fail(ECB_EFORMAT, "%s: attribute 'distance': expected one string (angular, "
                     "euclidean or dot)", c->path);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        char *s = NULL;
        /* same character set: libhdf5 converts neither way between them */
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, &s) < 0 || !s)
            rc = h5_fail(ECB_EFORMAT, "%s: attribute 'distance': cannot read the string",
                         c->path);
        else snprintf(out, cap, "%s", s);
        if (s) H5free_memory(s);
        if (mt >= 0) H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *s = n > 0 && n < 4096 ? calloc(1, n + 1) : NULL;
        if (!s || H5Aread(a, t, s) < 0)
            rc = h5_fail(ECB_EFORMAT, "%s: attribute 'distance': cannot read the string (%zu "
                         "bytes)", c->path, n);
        else snprintf(out, cap, "%s", s);
        free(s);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return rc;
}

static int map_distance(const char *path, const char *d, ecb_ds_similarity *sim)
{
    if (!strcmp(d, "angular")) *sim = ECB_DS_COSINE;
    else if (!strcmp(d, "euclidean")) *sim = ECB_DS_L2;
    else if (!strcmp(d, "dot")) *sim = ECB_DS_DOT;
    else if (!strcmp(d, "jaccard") || !strcmp(d, "hamming"))
        return ecb_fail(ECB_ENOTSUP, "%s: attribute 'distance' is '%s': unsupported (ecbench "
                        "compares dense float vectors by cosine, dot or l2; %s datasets hold "
                        "sets or bit strings)", path, d, d);
    else
        return ecb_fail(ECB_EFORMAT, "%s: attribute 'distance' is '%.64s', expected angular, "
                        "euclidean or dot", path, d);
    return 0;
}

static int is_chunked(hid_t d)
{
    hid_t pl = H5Dget_create_plist(d);
    int r = pl < 0 || H5Pget_layout(pl) == H5D_CHUNKED; /* unknown: walk it */
    if (pl >= 0) H5Pclose(pl);
    return r;
}

static int make_src(const h5_ctx *c, const char *name, hid_t *dset, const hsize_t dims[2],
                    ecb_vecs **out)
{
    h5_src *s = ecb_calloc(1, sizeof *s);
    if (!s) return ECB_ENOMEM;
    size_t l = strlen(c->path) + strlen(name) + 3;
    s->label = ecb_malloc(l);
    if (!s->label) {
        free(s);
        return ECB_ENOMEM;
    }
    snprintf(s->label, l, "%s:/%s", c->path, name);
    s->dset = *dset;
    s->dim = (size_t)dims[1];
    s->chunked = is_chunked(*dset);
    *dset = -1; /* owned by s */
    static const ecb_vecs_reader ops = {h5_read, h5_src_free};
    return ecb_vecs_from_reader((size_t)dims[0], s->dim, s->label, &ops, s, out);
}

/* The neighbours as int32 rows of train (or -1 padding), checked; read by
 * blocks of rows, so only the int32 result is ever whole in memory. */
static int read_neighbors(const h5_ctx *c, hid_t d, const hsize_t dims[2], size_t n_train,
                          int32_t **out)
{
    size_t rows = (size_t)dims[0], k = (size_t)dims[1], cnt;
    if (!ecb_mul_ok(rows, k, &cnt) || cnt > H5_MAX_NEIGHBORS)
        return ecb_fail(ECB_EFORMAT, "%s: /neighbors: %llu x %llu ids, at most %zu supported",
                        c->path, (unsigned long long)dims[0], (unsigned long long)dims[1],
                        H5_MAX_NEIGHBORS);
    size_t block = ((size_t)1 << 16) / k ? ((size_t)1 << 16) / k : 1;
    int64_t *raw = ecb_malloc_array(block * k, sizeof *raw);
    int32_t *nb = ecb_malloc_array(cnt, sizeof *nb);
    int rc = !raw || !nb ? ECB_ENOMEM : 0;
    hid_t fs = rc ? -1 : H5Dget_space(d);
    for (size_t r0 = 0; r0 < rows && !rc; r0 += block) {
        hsize_t off[2] = {r0, 0}, len[2] = {rows - r0 < block ? rows - r0 : block, k};
        hid_t ms = H5Screate_simple(2, len, NULL);
        if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, len, NULL) < 0 ||
            H5Dread(d, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, raw) < 0)
            rc = h5_fail(ECB_EIO, "%s: cannot read /neighbors rows [%zu, %zu)", c->path, r0,
                         r0 + (size_t)len[0]);
        if (ms >= 0) H5Sclose(ms);
        for (size_t i = 0; i < (size_t)len[0] * k && !rc; i++) {
            if (raw[i] < -1 || (raw[i] >= 0 && (uint64_t)raw[i] >= n_train))
                rc = ecb_fail(ECB_EFORMAT, "%s: /neighbors row %zu, column %zu is %lld, expected "
                              "a row of /train in [0, %zu) or -1", c->path, r0 + i / k, i % k,
                              (long long)raw[i], n_train);
            nb[r0 * k + i] = (int32_t)raw[i];
        }
    }
    if (fs >= 0) H5Sclose(fs);
    free(raw);
    if (rc) {
        free(nb);
        return rc;
    }
    *out = nb;
    return 0;
}

static int open_parts(h5_ctx *c, ecb_hdf5_parts *p)
{
    hid_t tr = -1, te = -1, nb = -1, di = -1;
    hsize_t dtr[2], dte[2], dnb[2], ddi[2];
    char dist[64];
    int rc;
    if ((rc = read_distance(c, dist, sizeof dist))) goto out;
    if (dist[0]) {
        if ((rc = map_distance(c->path, dist, &p->sim))) goto out;
        p->has_sim = 1;
    }
    if ((rc = open_2d(c, "train", H5T_FLOAT, "the corpus", &tr, dtr)) ||
        (rc = open_2d(c, "test", H5T_FLOAT, "the queries", &te, dte)) ||
        (rc = open_2d(c, "neighbors", H5T_INTEGER, "the ground truth", &nb, dnb)))
        goto out;
    if (dte[1] != dtr[1]) {
        rc = ecb_fail(ECB_EFORMAT, "%s: /test has dim %llu, expected %llu like /train", c->path,
                      (unsigned long long)dte[1], (unsigned long long)dtr[1]);
        goto out;
    }
    if (dnb[0] != dte[0]) {
        rc = ecb_fail(ECB_EFORMAT, "%s: /neighbors has %llu rows, expected %llu (one per row of "
                      "/test)", c->path, (unsigned long long)dnb[0], (unsigned long long)dte[0]);
        goto out;
    }
    if (dtr[0] > INT32_MAX) {
        rc = ecb_fail(ECB_ERANGE, "%s: /train has %llu rows, at most %d supported", c->path,
                      (unsigned long long)dtr[0], INT32_MAX);
        goto out;
    }
    if (H5Lexists(c->file, "distances", H5P_DEFAULT) > 0) {
        if ((rc = open_2d(c, "distances", H5T_FLOAT, "the neighbours' distances", &di, ddi)))
            goto out;
        if (ddi[0] != dnb[0] || ddi[1] != dnb[1]) {
            rc = ecb_fail(ECB_EFORMAT, "%s: /distances is %llu x %llu, expected %llu x %llu like "
                          "/neighbors", c->path, (unsigned long long)ddi[0],
                          (unsigned long long)ddi[1], (unsigned long long)dnb[0],
                          (unsigned long long)dnb[1]);
            goto out;
        }
    }
    if ((rc = read_neighbors(c, nb, dnb, (size_t)dtr[0], &p->neighbors))) goto out;
    p->nb_rows = (size_t)dnb[0];
    p->nb_k = (size_t)dnb[1];
    c->chunked[0] = is_chunked(tr);
    c->chunked[1] = is_chunked(te);
    if ((rc = make_src(c, "train", &tr, dtr, &p->train)) ||
        (rc = make_src(c, "test", &te, dte, &p->test)))
        goto out;
out:
    if (tr >= 0) H5Dclose(tr);
    if (te >= 0) H5Dclose(te);
    if (nb >= 0) H5Dclose(nb);
    if (di >= 0) H5Dclose(di);
    return rc;
}

void ecb_hdf5_parts_free(ecb_hdf5_parts *p)
{
    ecb_vecs_free(p->train);
    ecb_vecs_free(p->test);
    free(p->neighbors);
    memset(p, 0, sizeof *p);
}

/* Reads a source's rows: all of them in blocks when `all` and the source
 * is at most WALK_MAX_FLOATS, else the first and the last. */
#define WALK_MAX_FLOATS ((size_t)1 << 24)
static int walk_rows(const ecb_vecs *v, int all)
{
    size_t n = ecb_vecs_count(v), dim = ecb_vecs_dim(v);
    if (n > WALK_MAX_FLOATS / dim) all = 0;
    size_t block = all && dim < ((size_t)1 << 16) ? ((size_t)1 << 16) / dim : 1;
    float *buf = ecb_malloc_array(block * dim, sizeof *buf);
    if (!buf) return ECB_ENOMEM;
    int rc = 0;
    for (size_t s = 0; s < n && !rc; s += block) {
        if (!all && s > 0) s = n - 1;
        rc = ecb_vecs_read(v, s, n - s < block ? n - s : block, buf);
    }
    free(buf);
    return rc;
}

/* Opens the file and reads the first and last rows of /train and /test;
 * walk: every row of chunked datasets (whose chunk index is parsed as rows
 * are read) up to WALK_MAX_FLOATS. */
static int open_now(const char *path, const void *image, size_t image_size, ecb_hdf5_parts *p,
                    int walk)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_lock(&h5_lock);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = 0;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = -1;
    h5_ctx c = {path, -1, {0, 0}};
    if (fapl < 0) {
        rc = h5_fail(ECB_EIO, "%s: cannot create HDF5 file-access properties", path);
        goto out;
    }
    if (image && (H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
                  H5Pset_file_image(fapl, (void *)image, image_size) < 0)) {
        rc = h5_fail(ECB_EIO, "%s: cannot set up an in-memory HDF5 file", path);
        goto out;
    }
    file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        rc = h5_fail(ECB_EFORMAT, "%s: cannot open as HDF5", path);
        goto out;
    }
    c.file = file;
    rc = open_parts(&c, p);
out:
    /* the datasets kept by the vector sources hold the file open */
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    pthread_mutex_unlock(&h5_lock);
    /* a missing compression filter shows at the first read, not at open */
    if (!rc) rc = walk_rows(p->train, walk && c.chunked[0]);
    if (!rc) rc = walk_rows(p->test, walk && c.chunked[1]);
    if (rc) ecb_hdf5_parts_free(p);
    return rc;
}

/* libhdf5 1.10 crashes or hangs on some corrupt files (fuzzing found a
 * SEGV in H5HG_read, a wild memcpy and an endless loop, all reading a
 * variable-length string, within seconds), and a library's crash would end
 * the whole sweep. So the file is first opened and walked in a child
 * process: a child killed by a signal, ended by a sanitizer's report or
 * still busy after CHILD_SECONDS makes the file an error here; an ordinary
 * error comes back through a pipe, so the parent only ever opens files the
 * child opened (a corrupt one can make libhdf5 allocate gigabytes before it
 * fails: only the child pays that). The lock is
 * held across fork() so that no other thread is inside libhdf5 then.
 * Limit: rows of a chunked dataset beyond WALK_MAX_FLOATS are read (and
 * their chunk index parsed) only in the parent. */
#define CHILD_DONE 42    /* the child reported its verdict */
#define CHILD_SECONDS 30 /* metadata and a 64 MiB walk take well under a second */

/* Sanitizer runtimes (and libFuzzer through them) call this death callback
 * on a report; in the child it must not run the parent's crash handling. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

/* A corrupt file can make libhdf5 allocate gigabytes before it fails; a
 * sound one needs the neighbours (at most 512 MiB as int32) and small
 * buffers. So the child may grow by CHILD_EXTRA_BYTES of address space,
 * after which libhdf5's mallocs fail and it reports an error. */
#define CHILD_EXTRA_BYTES ((unsigned long long)1 << 30)
static void limit_memory(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return;
    int ok = fscanf(f, "%llu", &pages) == 1;
    fclose(f);
    long ps = sysconf(_SC_PAGESIZE);
    if (!ok || ps <= 0) return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return;
    rlim_t want = (rlim_t)(pages * (unsigned long long)ps + CHILD_EXTRA_BYTES);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_AS, &rl);
    }
}

/* The child's verdict: its return code, then its error message. */
typedef struct {
    int rc;
    char msg[2048];
} child_report;

static int check_in_child(const char *path, const void *image, size_t image_size)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return ecb_fail(ECB_EIO, "%s: cannot create a pipe to check the HDF5 file: %s", path,
                        strerror(errno));
    pthread_mutex_lock(&h5_lock);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        /* the child's thread does not own the parent's lock: start afresh */
        pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
        memcpy(&h5_lock, &fresh, sizeof fresh);
        int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
        alarm(CHILD_SECONDS);
        limit_memory();
        ecb_log_level = -1;
        ecb_hdf5_parts p;
        child_report r;
        memset(&r, 0, sizeof r);
        r.rc = open_now(path, image, image_size, &p, 1);
        if (r.rc) snprintf(r.msg, sizeof r.msg, "%s", ecb_last_error());
        ecb_hdf5_parts_free(&p);
        ssize_t w = write(fds[1], &r, sizeof r); /* < PIPE_BUF x 16: never blocks */
        _exit(w == (ssize_t)sizeof r ? CHILD_DONE : 1); /* no atexit handlers: the parent's */
    }
    int e = errno;
    pthread_mutex_unlock(&h5_lock);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return ecb_fail(ECB_EIO, "%s: cannot fork to check the HDF5 file: %s", path, strerror(e));
    }
    child_report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = read(fds[0], (char *)&r + got, sizeof r - got);
        if (k > 0) got += (size_t)k;
        else if (k == 0 || errno != EINTR) break;
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return ecb_fail(ECB_EIO, "%s: waitpid: %s", path, strerror(errno));
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        return ecb_fail(ECB_EFORMAT, "%s: libhdf5 did not finish opening this file in %d s, so "
                        "it is corrupt (or made to hang the library); refused", path,
                        CHILD_SECONDS);
    if (WIFSIGNALED(st))
        return ecb_fail(ECB_EFORMAT, "%s: libhdf5 crashed reading this file (signal %d, %s), so "
                        "it is corrupt (or made to crash the library); refused", path,
                        WTERMSIG(st), strsignal(WTERMSIG(st)));
    /* any other end (a sanitizer's report exits 1) is a crash too */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != CHILD_DONE || got != sizeof r)
        return ecb_fail(ECB_EFORMAT, "%s: libhdf5 crashed reading this file (exit status %d), "
                        "so it is corrupt (or made to crash the library); refused", path,
                        WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* an ordinary error: the parent never touches the file */
    r.msg[sizeof r.msg - 1] = '\0';
    return r.rc ? ecb_fail(r.rc, "%s", r.msg) : 0;
}

int ecb_hdf5_open(const char *path, const void *image, size_t image_size, ecb_hdf5_parts *p)
{
    memset(p, 0, sizeof *p);
    if (!image) {
        /* libhdf5 would block on a FIFO like any reader: refuse it first. */
        int fd;
        size_t sz;
        int rc = ecb_ds_open_regular(path, "HDF5 file", &fd, &sz);
        if (rc) return rc;
        close(fd);
    } else if (image_size == 0) {
        return ecb_fail(ECB_EFORMAT, "%s: empty HDF5 image", path);
    }
    int rc = check_in_child(path, image, image_size);
    return rc ? rc : open_now(path, image, image_size, p, 0);
}
