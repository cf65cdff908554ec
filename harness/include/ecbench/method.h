/*
 * ecbench method plugin ABI, version 1: the contract third-party plugins
 * build against (installed as <includedir>/ecbench/method.h; build flags from
 * `pkg-config --cflags --libs ecbench-plugin`).
 *
 * A method is a shared object with exactly one exported symbol, named after
 * its file stem:   const ecb_method_vtable *ecb_method_<stem>(void);
 * It returns a pointer to a static const vtable. The host never writes into
 * it. `ecbench check-plugin PATH.so` runs the conformance checks on it.
 *
 * Versioning. The host accepts vtables whose abi_version lies in
 * [ECB_METHOD_ABI_MIN, ECB_METHOD_ABI_VERSION]. Within a version, fields
 * are only ever appended (never moved, removed or retyped), and the host
 * reads a field only when struct_size covers it, so a plugin built against
 * an older header keeps loading. A flag bit the host does not know is
 * rejected at load (it could not be honoured). The same rules hold for
 * ecb_host: a plugin reads a field past the ones listed here only after
 * checking host->struct_size.
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
 *  - n (or nq) may be 0 and must then succeed without touching buffers.
 *
 * Threading (what the host guarantees and what it needs):
 *  - create() and destroy() are called from one thread per state; different
 *    states may live at the same time (a pipeline holds several of one
 *    method), so a plugin keeps everything in its state, no globals;
 *  - train() is called at most once per state, from one thread, before any
 *    other hook but code_size/aux_bytes/query_size/out_dim; it may use up to
 *    host->threads threads itself (ecb_parallel_for in ecbench/ecbmath.h);
 *  - after train(), the state is read-only: encode(), decode(), transform(),
 *    prepare() and score() take a const state and ARE CALLED CONCURRENTLY
 *    from several threads on disjoint outputs (the host splits the corpus
 *    and the queries into blocks). They must not modify the state or any
 *    shared scratch; allocate per call. Their results must not depend on the
 *    split: each row is encoded on its own, and scoring a block of codes or
 *    a subset of queries gives the same values as scoring them all;
 *  - code_size(), aux_bytes(), query_size() and out_dim() are pure and may
 *    be called from any thread after train();
 *  - host->fail() and host->log() may be called from any thread (the
 *    message is per thread).
 *
 * Hooks, required (R) or optional (O); "R with X": required when flag X is
 * set, and then called by the host; without the flag the host never calls it:
 *    create, destroy                        R
 *    train                                  R with NEEDS_TRAIN, else O (called when set)
 *    code_size, aux_bytes, encode,
 *    query_size, prepare, score             R for quantizers (no TRANSFORM flag)
 *    decode                                 R with DECODE
 *    out_dim, transform                     R with TRANSFORM
 *    reserved_search                        must be NULL (see below)
 *    param_conds (appended within v1)       O
 *    size_params (appended within v1)       O
 *    code_bits (appended within v1)         O (pure)
 *    select (appended within v1)            R with SELECT (which needs TRANSFORM);
 *                                           concurrent
 *    score_floor (appended within v1)       O for quantizers; concurrent
 *    scan_kind (appended within v1)         O for quantizers (pure)
 *    score_rows (appended within v1)        O for quantizers (pure)
 *  A quantizer sets ECB_METHOD_SYMMETRIC and/or ECB_METHOD_ASYMMETRIC; a
 *  mode it does not set is never requested (the runner records such cells
 *  as skipped).
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
 * enum and the host's ecb_strerror(). */
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

/* Host services, passed to create() and kept in the state (m->host). The
 * plugin reads them and calls them; it references no symbol of the
 * executable. */
typedef struct ecb_host ecb_host;
struct ecb_host {
    uint32_t abi_version; /* ECB_HOST_ABI_VERSION */
    size_t struct_size;   /* sizeof(ecb_host) of the host: fields past it are absent */
    /* Record an error message for the current thread and return code (so
     * `return host->fail(host, ECB_EINVAL, "m=%zu must divide dim=%zu", m, d);`).
     * Any thread. */
    int (*fail)(const ecb_host *h, int code, const char *fmt, ...) ECB_PRINTF(3, 4);
    /* Log through the host (ECB_LOG_*; the host filters by level). Any thread. */
    void (*log)(const ecb_host *h, int level, const char *fmt, ...) ECB_PRINTF(3, 4);
    uint64_t seed;  /* the cell's seed: every random choice derives from it */
    size_t threads; /* threads the method may use inside train(), >= 1 */
    void *host_data; /* host-private: do not touch */
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
    /* 1u << 5 was ECB_METHOD_SEARCH (see reserved_search): never reuse it. */
    ECB_METHOD_SELECT = 1u << 6,      /* appended within v1: a TRANSFORM that selects the
                                       * tokens of multi-vector documents (select) */
};
/* What scan_kind() returns: how the host cuts a scan's queries into score()
 * calls (appended within v1). */
enum {
    ECB_SCAN_DEFAULT = 0, /* the host judges by code_size(): at most 64 bytes is cheap */
    ECB_SCAN_CHEAP = 1,   /* per code, score() costs about what writing its float does */
    ECB_SCAN_HEAVY = 2,   /* score() pays per call for each code block (decoding, sgemm) */
};

/* Every flag ABI v1 defines; a plugin setting any other bit is rejected
 * (so a host older than a flag refuses a plugin that needs it). */
#define ECB_METHOD_FLAGS_V1 0x5fu

struct ecb_method_vtable {
    /* ABI fields first, never moved. */
    uint32_t abi_version; /* ECB_METHOD_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(ecb_method_vtable) at build time */

    const char *name;     /* equal to the file stem (libfoo.so: "foo") */
    const char *summary;  /* one line, shown by `ecbench list` */
    uint32_t flags;       /* ECB_METHOD_*, only bits of ECB_METHOD_FLAGS_V1 */
    const ecb_param *params; /* NULL-name-terminated table, may be NULL */
    size_t params_size;      /* sizeof the params struct the table fills */

    /* R. Create a state for dim-dimensional input. params points to a
     * struct of params_size bytes filled by the host from the table
     * (defaults applied, ranges checked); it is valid only during the call
     * (copy what you need: the conformance checks free it right after). Reject inconsistent combinations here (e.g. m must
     * divide dim) with host->fail, so a config fails before any cell runs.
     * *out must embed ecb_method first, with host, dim and sim filled. */
    int (*create)(const ecb_host *host, const void *params, size_t dim,
                  ecb_similarity sim, ecb_method **out);
    /* R. Frees everything; accepts NULL. */
    void (*destroy)(ecb_method *m);

    /* R with ECB_METHOD_NEEDS_TRAIN, else O. x is n*dim floats of a seeded
     * sample of the corpus, never queries; every random choice derives from
     * host->seed, so two states trained alike encode alike. One thread. */
    int (*train)(ecb_method *m, const float *x, size_t n);

    /* R for quantizers. Bytes per encoded vector, and bytes of trained state
     * counted in the index (codebooks, rotations, thresholds). Pure; valid
     * after train. */
    size_t (*code_size)(const ecb_method *m);
    size_t (*aux_bytes)(const ecb_method *m);

    /** R for quantizers; concurrent. Each row is encoded on its own.
     * @param x n*dim floats. @param codes n*code_size bytes, caller-owned. */
    int (*encode)(const ecb_method *m, const float *x, size_t n, uint8_t *codes);
    /** R with ECB_METHOD_DECODE; concurrent. @param x n*dim floats out. */
    int (*decode)(const ecb_method *m, const uint8_t *codes, size_t n, float *x);

    /* R for quantizers. Query preparation: query_size(mode) bytes per
     * prepared query (pure; e.g. the encoded query, a float copy, an ADC
     * lookup table). prepare (concurrent): q is nq*dim floats; out is
     * nq*query_size bytes. Only modes the flags declare are requested. */
    size_t (*query_size)(const ecb_method *m, ecb_mode mode);
    int (*prepare)(const ecb_method *m, ecb_mode mode, const float *q, size_t nq,
                   void *out);

    /* R for quantizers; concurrent. Score a block: scores[i*n + j] =
     * sim(query i, code j), higher is better. prepared is nq*query_size
     * bytes from prepare(); codes is n*code_size bytes; scores nq*n floats,
     * caller-owned. The host ranks the scores itself (one top-k, one
     * ranking order for every method); a fast scan belongs here. */
    int (*score)(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                 const uint8_t *codes, size_t n, float *scores);

    /* Must be NULL. This slot held an optional native top-k search() that
     * the host never called; it was removed before ABI v1 was frozen (the
     * host's blocked top-k over score() gives every method the same ranking
     * order and tie rule, and a fused scan gains nothing over scoring a
     * block). The slot stays so that the fields after it keep their
     * offsets; the host rejects a plugin that fills it or sets 1u << 5. */
    void (*reserved_search)(void);

    /* R with ECB_METHOD_TRANSFORM. Transforms (float->float stages) give
     * their output dimension (pure) and the map (concurrent, row by row);
     * they need not implement encode/score: used alone, the host follows
     * them with float32. y is n*out_dim floats. */
    size_t (*out_dim)(const ecb_method *m);
    int (*transform)(const ecb_method *m, const float *x, size_t n, float *y);

    /* ---- appended within ABI v1: the host reads each field below only
     * when struct_size covers it, so plugins built before it still load. */

    /* Optional: when parameters apply (see ecb_param_cond); NULL: always. */
    const ecb_param_cond *param_conds;

    /* Optional: the parameters a memory budget ("budget": "32B" in a
     * config) may choose because they set code_size() and aux_bytes(), by
     * name (INT or SIZE with a finite range, ENUM or BOOL), NULL-terminated,
     * in order of preference: between settings of equal cost, the larger
     * value of the earlier parameter wins. An empty list says no parameter
     * does. Declaring it promises that code_size() and aux_bytes() are
     * exact right after create(), before train(). NULL: the host tries
     * every such parameter whose value changes the cost. */
    const char *const *size_params;

    /* O, pure: bits of information per code when fewer than 8*code_size.
     * The code then holds them in its first code_bits bits (bit b in byte
     * b/8 at position b%8, as ecb_code_pack), the other bits zero, and the
     * host stores the tokens of multi-vector documents back to back at this
     * width (e.g. kmeans ids at ceil(log2 k) bits). NULL or 0: 8*code_size. */
    size_t (*code_bits)(const ecb_method *m);

    /* R with ECB_METHOD_SELECT (a TRANSFORM); concurrent. For one multi-vector
     * document of n tokens x (n*dim floats, this stage's input) with
     * saliences w (n floats: the dataset's token weights, or the token
     * norms when it has none), write the indices of the kept tokens in
     * increasing order to keep (n entries, caller-owned) and their number,
     * 1..n, to *kept. The host stores only the kept tokens; queries keep all
     * theirs. Cells of single-vector datasets with such a stage are skipped. */
    int (*select)(const ecb_method *m, const float *x, const float *w, size_t n, size_t *keep,
                  size_t *kept);

    /* O for quantizers; concurrent. score() with a floor per query, so that
     * a scan can skip work on codes that cannot reach the host's top-k (e.g.
     * read the extra bits of a code only when its coarse bound allows).
     * Same contract and arguments as score(), plus floor (nq floats): for
     * query i and code j, scores[i*n + j] is either score()'s value, bit
     * for bit, or, only when that value is provably strictly below floor[i],
     * any value strictly below floor[i] (-INFINITY is fine; it is then not
     * an error). floor[i] = -INFINITY asks for no skipping. The host passes
     * as floor[i] the k-th best score of the top-k it is filling for query
     * i (-INFINITY while it holds fewer than k), so a skipped code could
     * not have entered it: the results are those of score(). NULL: the host
     * calls score(). `ecbench check-plugin` checks the contract with random
     * floors. */
    int (*score_floor)(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                       const uint8_t *codes, size_t n, const float *floor, float *scores);

    /* O for quantizers, pure: ECB_SCAN_* for score() in this mode, a speed
     * hint that never changes results (score()'s contract: values do not
     * depend on the split). The host scores a block of codes for a block of
     * queries at a time and then reads the nq x n scores back into its
     * top-k. CHEAP (a popcount, a small table per code): the host gives
     * score() small query blocks (12 queries), so that the scores it reads
     * back are still in cache; a block of 65,536 codes for 500 queries is
     * 131 MB of scores, which took longer to write and read than the
     * popcounts of 96-byte codes. HEAVY (score() decodes the block, or runs
     * sgemm, which packs the block again on every call): at least 48
     * queries, up to the whole query block, so that the per-call work is
     * shared. NULL or ECB_SCAN_DEFAULT: CHEAP when code_size() is at most 64
     * bytes, else HEAVY. `ecbench check-plugin` checks the value. */
    int (*scan_kind)(const ecb_method *m, ecb_mode mode);

    /* O, pure; valid after train(). A row count r such that score() on n
     * codes gives, bit for bit, the scores of consecutive score() calls on
     * ranges of a multiple of r codes (the last range shorter), for any nq.
     * The host then scores a large block of codes range by range and ranks
     * each range while its scores are in cache, instead of filling a
     * queries x block buffer in memory (issue 13: 8 bytes of memory traffic
     * per score, and page faults on each scan's fresh buffer), and shares a
     * block among its threads by ranges rather than by queries (each code
     * is then decoded once per query block, not once per thread's share of
     * the queries). For a method
     * whose score() is BLAS-based, where a score may depend on the call's
     * row count (ecb_scores_decoded: return ecb_scores_decoded_rows(dim)).
     * NULL or 0: no such promise (the host scores whole blocks). */
    size_t (*score_rows)(const ecb_method *m);
};

/* The one symbol a plugin exports. */
typedef const ecb_method_vtable *(*ecb_method_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* ECBENCH_METHOD_H */
