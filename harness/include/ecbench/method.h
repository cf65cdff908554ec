/*
 * ecbench method plugin ABI, version 1.
 *
 * A method is a shared object with exactly one exported symbol, named after
 * its file stem:   const ecb_method_vtable *ecb_method_<stem>(void);
 * It returns a pointer to a static const vtable. The host never writes into
 * it. The host accepts vtables whose abi_version lies in
 * [ECB_METHOD_ABI_MIN, ECB_METHOD_ABI_VERSION]; fields are only ever appended,
 * and the host reads a field only when struct_size covers it.
 *
 * Data conventions (all hooks):
 *  - vectors are float32, row-major, n*dim floats;
 *  - codes are n*code_size(m) bytes, caller-allocated;
 *  - scores are "higher is better": the host ranks by score descending.
 *    For ECB_SIM_L2 return -||q-x||^2 (or anything order-equivalent for a
 *    fixed query), for Hamming codes -hamming distance;
 *  - counts and sizes are size_t; a hook returns 0 or a negative ecb error
 *    code after calling host->fail() with a message.
 *  - The harness L2-normalises corpus and queries for cosine similarity and
 *    hands the method ECB_SIM_DOT, so methods only see DOT or L2.
 *
 * Threading: train() is called once, from one thread. After training, the
 * state is read-only: encode(), decode(), prepare() and score() take a const
 * state and may be called concurrently from several threads on disjoint
 * outputs.
 */
#ifndef ECBENCH_METHOD_H
#define ECBENCH_METHOD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ECB_METHOD_ABI_VERSION 1u
#define ECB_METHOD_ABI_MIN 1u
#define ECB_HOST_ABI_VERSION 1u

#if defined(__GNUC__)
#define ECB_EXPORT __attribute__((visibility("default")))
#define ECB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ECB_EXPORT
#define ECB_PRINTF(a, b)
#endif

/* Error codes: 0 is success, failures are negative. One table generates the
 * enum and ecb_strerror() (see harness/ecb_error.c). */
#define ECB_ERRNO_MAP(X)                                                     \
    X(EINVAL, -1, "invalid argument")                                       \
    X(ENOMEM, -2, "out of memory")                                          \
    X(EIO, -3, "input/output error")                                        \
    X(EFORMAT, -4, "malformed input")                                       \
    X(EABI, -5, "plugin ABI mismatch")                                      \
    X(ENOTSUP, -6, "not supported")                                         \
    X(ERANGE, -7, "value out of range")                                     \
    X(ENOTFOUND, -8, "not found")                                           \
    X(ENUMERIC, -9, "numerical failure")                                    \
    X(EINTERNAL, -10, "internal error")

enum {
#define ECB_X_(name, val, msg) ECB_##name = (val),
    ECB_ERRNO_MAP(ECB_X_)
#undef ECB_X_
};

/* Similarity seen by a method (cosine arrives as DOT on normalised data). */
typedef enum { ECB_SIM_DOT = 0, ECB_SIM_L2 = 1 } ecb_similarity;

/* Scoring modes. */
typedef enum {
    ECB_MODE_SYMMETRIC = 0,  /* query encoded like the documents */
    ECB_MODE_ASYMMETRIC = 1, /* float query against encoded documents */
} ecb_mode;

/* ---- parameters are data --------------------------------------------- */

typedef enum {
    ECB_PARAM_END = 0,
    ECB_PARAM_BOOL,   /* int (0/1) */
    ECB_PARAM_INT,    /* int64_t, range [min,max] */
    ECB_PARAM_SIZE,   /* size_t, range [min,max] */
    ECB_PARAM_DOUBLE, /* double, range [min,max] */
    ECB_PARAM_ENUM,   /* int: index into enum_values */
} ecb_param_type;

typedef struct ecb_param {
    const char *name;    /* NULL terminates the table */
    ecb_param_type type;
    size_t offset;       /* offsetof() into the plugin's params struct */
    union {
        int64_t i;
        size_t u;
        double d;
        int b; /* BOOL and ENUM (index) */
    } def;
    double min, max;               /* INT, SIZE, DOUBLE; ignored if min > max */
    const char *const *enum_values; /* ENUM: NULL-terminated */
    const char *help;
} ecb_param;

/* A parameter that matters only for some values of another: sq's "clip"
 * only with "calibration": "percentile". The host then leaves it out of the
 * params column and the labels (the cell id still hashes every parameter).
 * A table of these, NULL-param-terminated, hangs off the vtable's
 * param_conds. Several entries for one parameter must all hold. */
typedef struct ecb_param_cond {
    const char *param;             /* the conditional parameter; NULL ends the table */
    const char *if_param;          /* it applies only when this parameter... */
    const char *const *if_values;  /* ...has one of these values (NULL-terminated), written as
                                    * the params column prints them: "percentile", "true", "8" */
} ecb_param_cond;

/* ---- host services ------------------------------------------------------ */

enum { ECB_LOG_ERROR = 0, ECB_LOG_WARN = 1, ECB_LOG_INFO = 2, ECB_LOG_DEBUG = 3 };

typedef struct ecb_host ecb_host;
struct ecb_host {
    uint32_t abi_version; /* ECB_HOST_ABI_VERSION */
    size_t struct_size;
    /* Record an error message for the current thread; returns code. */
    int (*fail)(const ecb_host *h, int code, const char *fmt, ...) ECB_PRINTF(3, 4);
    void (*log)(const ecb_host *h, int level, const char *fmt, ...) ECB_PRINTF(3, 4);
    uint64_t seed;  /* the cell's seed: every random choice derives from it */
    size_t threads; /* threads the method may use inside train() */
    void *host_data; /* host-private */
};

/* ---- the method -------------------------------------------------------- */

typedef struct ecb_method_vtable ecb_method_vtable;

/* Base of every plugin state; plugin structs embed it first:
 *   typedef struct { ecb_method base; ... } pq_state;
 * create() fills host, dim and sim; right after create() the host sets vt
 * to its own copy of the plugin's vtable (so host-side code can call the
 * hooks from a state alone). Plugins must not rely on vt. */
typedef struct ecb_method {
    const ecb_method_vtable *vt;
    const ecb_host *host;
    size_t dim;        /* input dimension */
    ecb_similarity sim;
} ecb_method;

enum {
    ECB_METHOD_NEEDS_TRAIN = 1u << 0, /* train() must be called before encode */
    ECB_METHOD_SYMMETRIC = 1u << 1,   /* supports ECB_MODE_SYMMETRIC */
    ECB_METHOD_ASYMMETRIC = 1u << 2,  /* supports ECB_MODE_ASYMMETRIC */
    ECB_METHOD_DECODE = 1u << 3,      /* decode() reconstructs vectors */
    ECB_METHOD_TRANSFORM = 1u << 4,   /* float->float stage: out_dim+transform */
    ECB_METHOD_SEARCH = 1u << 5,      /* has a native top-k search() */
};

struct ecb_method_vtable {
    /* ABI fields first, never moved. */
    uint32_t abi_version; /* ECB_METHOD_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(ecb_method_vtable) at build time */

    const char *name;     /* equal to the file stem */
    const char *summary;  /* one line */
    uint32_t flags;       /* ECB_METHOD_* */
    const ecb_param *params; /* NULL-name-terminated table, may be NULL */
    size_t params_size;      /* sizeof the params struct the table fills */

    /* Create a state for dim-dimensional input. params points to a struct of
     * params_size bytes filled by the host from the table (defaults applied,
     * ranges checked). Reject inconsistent combinations here (e.g. m must
     * divide dim) with host->fail. */
    int (*create)(const ecb_host *host, const void *params, size_t dim,
                  ecb_similarity sim, ecb_method **out);
    void (*destroy)(ecb_method *m); /* accepts NULL */

    /* Optional (required with NEEDS_TRAIN): x is n*dim floats of the corpus
     * sample, never queries. */
    int (*train)(ecb_method *m, const float *x, size_t n);

    /* Bytes per encoded vector, and bytes of trained state counted in the
     * index (codebooks, rotations, thresholds). Valid after train. */
    size_t (*code_size)(const ecb_method *m);
    size_t (*aux_bytes)(const ecb_method *m);

    /** @param x n*dim floats. @param codes n*code_size bytes, caller-owned. */
    int (*encode)(const ecb_method *m, const float *x, size_t n, uint8_t *codes);
    /** Optional (ECB_METHOD_DECODE). @param x n*dim floats out. */
    int (*decode)(const ecb_method *m, const uint8_t *codes, size_t n, float *x);

    /* Query preparation: query_size(mode) bytes per prepared query (e.g. the
     * encoded query, or a float copy, or an ADC lookup table). q is nq*dim
     * floats; out is nq*query_size bytes. */
    size_t (*query_size)(const ecb_method *m, ecb_mode mode);
    int (*prepare)(const ecb_method *m, ecb_mode mode, const float *q, size_t nq,
                   void *out);

    /* Score a block: scores[i*n + j] = sim(query i, code j), higher is
     * better. prepared is nq*query_size bytes from prepare(); codes is
     * n*code_size bytes; scores nq*n floats, caller-owned. */
    int (*score)(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                 const uint8_t *codes, size_t n, float *scores);

    /* Optional (ECB_METHOD_SEARCH): native top-k over codes, ids are code
     * positions (int64, -1 pads). The host re-sorts the returned candidates
     * by its one ranking order, so ties at the k-th score may differ from
     * the generic path. */
    int (*search)(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                  const uint8_t *codes, size_t n, size_t k, float *scores, int64_t *ids);

    /* Transforms (ECB_METHOD_TRANSFORM): output dimension and the map.
     * Transforms need not implement encode/score: used alone, the host
     * follows them with float32. y is n*out_dim floats. */
    size_t (*out_dim)(const ecb_method *m);
    int (*transform)(const ecb_method *m, const float *x, size_t n, float *y);

    /* ---- appended within ABI v1: the host reads each field below only
     * when struct_size covers it, so plugins built before it still load. */

    /* Optional: when parameters apply (see ecb_param_cond); NULL: always. */
    const ecb_param_cond *param_conds;
};

/* The one symbol a plugin exports. */
typedef const ecb_method_vtable *(*ecb_method_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* ECBENCH_METHOD_H */
