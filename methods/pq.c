/*
 * pq: product quantization (Jegou, Douze, Schmid, "Product quantization for
 * nearest neighbor search", TPAMI 2011). The vector is cut into m
 * sub-vectors of dim/m dimensions; each is replaced by the index of its
 * nearest centroid among 2^nbits learned by k-means on that sub-space (or,
 * with shared_codebook, one codebook learned on all sub-spaces pooled).
 *
 * Codes: m indices of nbits (1..8) packed LSB-first, code_size =
 * ceil(m*nbits/8) (nbits 8: one byte per sub-vector; nbits 4: two per
 * byte; nbits 1-3, CoRECT's high-compression arms, cross byte boundaries
 * and are scanned by the generic kernel).
 * aux_bytes: the codebooks, m * 2^nbits * dim/m floats (2^nbits * dim/m
 * when shared).
 *
 * Scoring (higher is better):
 *  - asymmetric (ADC): a per-query table of m x 2^nbits entries,
 *    q_s.c for DOT and -||q_s - c||^2 for L2; a code's score is the sum of
 *    its m table entries, i.e. exactly q.x^ or -||q - x^||^2.
 *  - symmetric (SDC): the query is encoded like the documents and the table
 *    is built from its reconstruction, so entry (s, j) is the
 *    centroid-to-centroid score c_s(q).c_sj or -||c_s(q) - c_sj||^2 — the
 *    rows of the classic SDC tables. They are computed per query from the
 *    codebooks (m * 2^nbits * dim/m flops, the cost of an ADC table) rather
 *    than stored, so nothing derived is counted in aux_bytes.
 *
 * Training sample: the harness passes train() a corpus sample; pq then
 * subsamples it to train_size vectors (0 = 256 * 2^nbits k-means points per
 * codebook, FAISS's max_points_per_centroid) with the cell's seed. Codebooks
 * are always trained by L2 k-means (as FAISS), whatever the similarity.
 *
 * Limits: m must divide the dimension; the sample needs at least 2^nbits
 * vectors (2^nbits sub-vectors in total when shared).
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct pq_params {
    size_t m;
    size_t nbits;
    int shared_codebook;
    int init;
    size_t iters;
    size_t train_size;
};

static const char *const pq_init_names[] = {"kmeans++", "random", NULL};

static const ecb_param pq_params_table[] = {
    {"m", ECB_PARAM_SIZE, offsetof(struct pq_params, m), .def.u = 8, .min = 1, .max = 65536,
     .help = "number of sub-vectors; must divide the dimension"},
    {"nbits", ECB_PARAM_SIZE, offsetof(struct pq_params, nbits), .def.u = 8, .min = 1, .max = 8,
     .help = "bits per sub-vector code (2^nbits centroids per codebook)"},
    {"shared_codebook", ECB_PARAM_BOOL, offsetof(struct pq_params, shared_codebook), .def.b = 0,
     .help = "one codebook for all sub-spaces instead of one per sub-space"},
    {"init", ECB_PARAM_ENUM, offsetof(struct pq_params, init), .def.b = 0,
     .enum_values = pq_init_names, .help = "k-means initialisation"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct pq_params, iters), .def.u = 25, .min = 1,
     .max = 10000, .help = "k-means (Lloyd) iterations per codebook"},
    {"train_size", ECB_PARAM_SIZE, offsetof(struct pq_params, train_size), .def.u = 0, .min = 0,
     .max = 1e12,
     .help = "training vectors drawn from the sample; 0 = 256 * 2^nbits k-means points"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct pq_params p;
    ecb_pq pq;
    size_t code_size;
    int trained;
} pq_state;

static const ecb_method_vtable pq_vtable;

static int pq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct pq_params *p = params;
    if (p->m == 0 || dim % p->m)
        return host->fail(host, ECB_EINVAL,
                          "pq: parameter m=%zu must divide the dimension %zu "
                          "(expected a divisor of %zu)",
                          p->m, dim, dim);
    if (p->nbits < 1 || p->nbits > 8)
        return host->fail(host, ECB_EINVAL, "pq: parameter nbits=%zu out of range (expected 1..8)",
                          p->nbits);
    if (p->init < 0 || p->init > 1)
        return host->fail(host, ECB_EINVAL,
                          "pq: parameter init=%d unknown (expected kmeans++ or random)", p->init);
    if (p->iters == 0)
        return host->fail(host, ECB_EINVAL, "pq: parameter iters=0 (expected >= 1)");
    pq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "pq: out of memory");
    s->base.vt = &pq_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    int rc = ecb_pq_init(&s->pq, dim, p->m, (unsigned)p->nbits, (size_t)1 << p->nbits,
                         p->shared_codebook);
    if (rc) {
        free(s);
        return host->fail(host, rc, "pq: cannot allocate codebooks for m=%zu nbits=%zu dim=%zu",
                          p->m, p->nbits, dim);
    }
    s->code_size = ecb_code_bytes(p->m, (unsigned)p->nbits);
    *out = &s->base;
    return 0;
}

static void pq_destroy(ecb_method *m)
{
    if (!m) return;
    pq_state *s = (pq_state *)m;
    ecb_pq_free(&s->pq);
    free(s);
}

/* Draw `want` of the n sample rows (sorted, seeded) into a new buffer, or
 * return x itself when no subsampling is needed. */
static const float *pq_subsample(const ecb_method *m, const float *x, size_t n, size_t want,
                                 size_t *n_out, float **owned)
{
    *owned = NULL;
    *n_out = n;
    if (want == 0 || n <= want) return x;
    size_t d = m->dim;
    size_t *idx = malloc(want * sizeof *idx);
    float *buf = malloc(want * d * sizeof *buf);
    if (!idx || !buf) {
        free(idx);
        free(buf);
        return NULL;
    }
    ecb_rng r;
    ecb_rng_seed2(&r, m->host->seed, 0x7071747261696eull /* "pqtrain" */);
    ecb_rng_sample(&r, n, want, idx);
    for (size_t i = 0; i < want; i++) memcpy(buf + i * d, x + idx[i] * d, d * sizeof *buf);
    free(idx);
    *owned = buf;
    *n_out = want;
    return buf;
}

static int pq_train(ecb_method *m, const float *x, size_t n)
{
    pq_state *s = (pq_state *)m;
    const ecb_host *h = m->host;
    const size_t K = s->pq.ksub, M = s->p.m;
    size_t want = s->p.train_size;
    if (want == 0) want = s->pq.shared ? (256 * K + M - 1) / M : 256 * K;
    size_t nt;
    float *owned;
    const float *xt = pq_subsample(m, x, n, want, &nt, &owned);
    if (!xt) return h->fail(h, ECB_ENOMEM, "pq: out of memory drawing %zu training vectors", want);
    if (s->pq.shared ? nt * M < K : nt < K) {
        free(owned);
        return h->fail(h, ECB_EINVAL,
                       "pq: training sample too small for nbits=%zu: %zu %s, expected at least "
                       "2^nbits=%zu (check train_size=%zu and the sample size)",
                       s->p.nbits, s->pq.shared ? nt * M : nt,
                       s->pq.shared ? "sub-vectors" : "vectors", K, s->p.train_size);
    }
    ecb_kmeans_opts o = {.k = K, .iters = s->p.iters, .tol = 0,
                         .init = s->p.init == 1 ? ECB_KMEANS_RANDOM : ECB_KMEANS_PLUSPLUS,
                         .seed = h->seed, .threads = h->threads};
    int rc = ecb_pq_train(&s->pq, &o, xt, nt);
    free(owned);
    if (rc) return h->fail(h, rc, "pq: k-means failed on %zu x %zu training vectors", nt, m->dim);
    s->trained = 1;
    return 0;
}

static size_t pq_code_size(const ecb_method *m) { return ((const pq_state *)m)->code_size; }

static size_t pq_aux_bytes(const ecb_method *m)
{
    return ecb_pq_codebook_floats(&((const pq_state *)m)->pq) * sizeof(float);
}

static int pq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const pq_state *s = (const pq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "pq: encode() before train()");
    int rc = ecb_pq_encode(&s->pq, x, n, codes, s->code_size);
    return rc ? m->host->fail(m->host, rc, "pq: encoding %zu vectors failed", n) : 0;
}

static int pq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const pq_state *s = (const pq_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "pq: decode() before train()");
    ecb_pq_decode(&s->pq, codes, n, s->code_size, x);
    return 0;
}

/* ---- scans with big tables --------------------------------------------------
 * A table is m x 2^nbits floats: 786 KB per query at m = 768, nbits = 8
 * (CoRECT's shared-codebook arms), and the harness prepares a whole query
 * batch at once. Above PQ_BIG_TABLE bytes the prepared query is the vector
 * itself (its reconstruction in symmetric mode) and score() builds one
 * table at a time (bounded memory). A shared 256-entry codebook of 1- or
 * 2-wide centroids is scanned with no table at all: a table entry is then
 * one or two products of the query with a centroid in L1, so 16 queries
 * (SIMD lanes) are scored against each code, every lane doing exactly the
 * operations of ecb_pq_lut and ecb_lut_scan (same products, same order of
 * additions): the scores are bit for bit those of the table scan. */
#define PQ_BIG_TABLE ((size_t)256 << 10)
enum { PQ_LANES = 16, PQ_TILE = 256 /* codes per tile, reused by every query block */ };

static int pq_big(const pq_state *s) { return s->p.m * s->pq.ksub * sizeof(float) > PQ_BIG_TABLE; }

/* the lane kernel applies: 8-bit codes of a shared codebook, 1-2 wide
 * sub-vectors; m = 16 has its own unrolled table scan (another order) */
static int pq_lanes_ok(const pq_state *s)
{
    return s->pq.shared && s->p.nbits == 8 && s->pq.cbt && s->pq.dsub <= 2 && s->p.m != 16;
}

/* Table entry of sub-space s for the 16 lanes of qT (dsub x 16 floats) and
 * centroid c (dsub floats), exactly as ecb_pq_lut computes it. */
#define PQ_TERM(T, qs, c, DS, L2)                                                          \
    do {                                                                                   \
        for (int l = 0; l < PQ_LANES; l++) T[l] = 0.0f;                                    \
        for (int u = 0; u < (DS); u++)                                                     \
            for (int l = 0; l < PQ_LANES; l++) {                                           \
                if (L2) {                                                                  \
                    float e_ = (qs)[u * PQ_LANES + l] - (c)[u];                            \
                    T[l] -= e_ * e_;                                                       \
                } else {                                                                   \
                    T[l] += (qs)[u * PQ_LANES + l] * (c)[u];                               \
                }                                                                          \
            }                                                                              \
    } while (0)

/* Scores of codes [j0, j1) for one block of 16 queries (qT: d x 16, the
 * block transposed) into out[l * ldo + j] for lanes l < nl. scan8's order:
 * a0 += t0 + t1, a1 += t2 + t3 per 4 sub-spaces, the rest into a0. */
__attribute__((always_inline)) static inline void
pq_lanes_block(const float *qT, const float *cb, const uint8_t *codes, size_t cs, size_t m,
               size_t j0, size_t j1, int ds, int l2, size_t nl, float *out, size_t ldo)
{
    for (size_t j = j0; j < j1; j++) {
        const uint8_t *c = codes + j * cs;
        float a0[PQ_LANES], a1[PQ_LANES], t0[PQ_LANES], t1[PQ_LANES], t2[PQ_LANES],
            t3[PQ_LANES];
        for (int l = 0; l < PQ_LANES; l++) a0[l] = a1[l] = 0.0f;
        size_t sv = 0;
        for (; sv + 4 <= m; sv += 4) {
            const float *q = qT + sv * (size_t)ds * PQ_LANES;
            PQ_TERM(t0, q, cb + (size_t)c[sv] * ds, ds, l2);
            PQ_TERM(t1, q + ds * PQ_LANES, cb + (size_t)c[sv + 1] * ds, ds, l2);
            PQ_TERM(t2, q + 2 * ds * PQ_LANES, cb + (size_t)c[sv + 2] * ds, ds, l2);
            PQ_TERM(t3, q + 3 * ds * PQ_LANES, cb + (size_t)c[sv + 3] * ds, ds, l2);
            for (int l = 0; l < PQ_LANES; l++) {
                a0[l] += t0[l] + t1[l];
                a1[l] += t2[l] + t3[l];
            }
        }
        for (; sv < m; sv++) {
            PQ_TERM(t0, qT + sv * (size_t)ds * PQ_LANES, cb + (size_t)c[sv] * ds, ds, l2);
            for (int l = 0; l < PQ_LANES; l++) a0[l] += t0[l];
        }
        for (size_t l = 0; l < nl; l++) out[l * ldo + j] = a0[l] + a1[l];
    }
}

typedef void (*pq_lanes_fn)(const float *, const float *, const uint8_t *, size_t, size_t,
                            size_t, size_t, size_t, float *, size_t);

#define PQ_LANES_FN(NAME, ATTR, DS, L2)                                                    \
    ATTR static void NAME(const float *qT, const float *cb, const uint8_t *codes, size_t cs, \
                          size_t m, size_t j0, size_t j1, size_t nl, float *out, size_t ldo) \
    {                                                                                      \
        pq_lanes_block(qT, cb, codes, cs, m, j0, j1, DS, L2, nl, out, ldo);                \
    }
/* The same C compiled twice: the AVX2 build only widens the lanes' vectors
 * (no FMA: products and sums round as in the table scan). */
#if defined(__x86_64__)
#define PQ_AVX2 __attribute__((target("avx2")))
PQ_LANES_FN(pq_lanes_avx2_1d, PQ_AVX2, 1, 0)
PQ_LANES_FN(pq_lanes_avx2_1l, PQ_AVX2, 1, 1)
PQ_LANES_FN(pq_lanes_avx2_2d, PQ_AVX2, 2, 0)
PQ_LANES_FN(pq_lanes_avx2_2l, PQ_AVX2, 2, 1)
#endif
PQ_LANES_FN(pq_lanes_gen_1d, , 1, 0)
PQ_LANES_FN(pq_lanes_gen_1l, , 1, 1)
PQ_LANES_FN(pq_lanes_gen_2d, , 2, 0)
PQ_LANES_FN(pq_lanes_gen_2l, , 2, 1)

static pq_lanes_fn pq_lanes_pick(size_t ds, int l2)
{
#if defined(__x86_64__)
    if (ecb_cpu()->avx2)
        return ds == 1 ? (l2 ? pq_lanes_avx2_1l : pq_lanes_avx2_1d)
                       : (l2 ? pq_lanes_avx2_2l : pq_lanes_avx2_2d);
#endif
    return ds == 1 ? (l2 ? pq_lanes_gen_1l : pq_lanes_gen_1d)
                   : (l2 ? pq_lanes_gen_2l : pq_lanes_gen_2d);
}

/* q: nq x d prepared vectors. */
static int pq_score_lanes(const pq_state *s, const float *q, size_t nq, const uint8_t *codes,
                          size_t n, float *scores)
{
    const size_t d = s->base.dim, ds = s->pq.dsub, nblk = (nq + PQ_LANES - 1) / PQ_LANES;
    float *qT = malloc(nblk * d * PQ_LANES * sizeof *qT);
    float *cb = malloc(s->pq.ksub * ds * sizeof *cb);
    if (!qT || !cb) {
        free(qT);
        free(cb);
        return ECB_ENOMEM;
    }
    /* the codebook row-major (ksub x dsub) from its transposed copy, the
     * very values ecb_pq_lut reads */
    for (size_t j = 0; j < s->pq.ksub; j++)
        for (size_t u = 0; u < ds; u++) cb[j * ds + u] = s->pq.cbt[u * s->pq.ksub + j];
    for (size_t b = 0; b < nblk; b++)
        for (size_t t = 0; t < d; t++)
            for (size_t l = 0; l < PQ_LANES; l++) {
                size_t i = b * PQ_LANES + l;
                qT[(b * d + t) * PQ_LANES + l] = i < nq ? q[i * d + t] : 0.0f;
            }
    pq_lanes_fn fn = pq_lanes_pick(ds, s->base.sim == ECB_SIM_L2);
    for (size_t j0 = 0; j0 < n; j0 += PQ_TILE) {
        size_t j1 = n - j0 < PQ_TILE ? n : j0 + PQ_TILE;
        for (size_t b = 0; b < nblk; b++) {
            size_t nl = nq - b * PQ_LANES < PQ_LANES ? nq - b * PQ_LANES : PQ_LANES;
            fn(qT + b * d * PQ_LANES, cb, codes, s->code_size, s->p.m, j0, j1, nl,
               scores + b * PQ_LANES * n, n);
        }
    }
    free(qT);
    free(cb);
    return 0;
}

static size_t pq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const pq_state *s = (const pq_state *)m;
    if (pq_big(s)) return m->dim * sizeof(float);
    return s->p.m * s->pq.ksub * sizeof(float);
}

static int pq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const pq_state *s = (const pq_state *)m;
    const size_t d = m->dim, tl = s->p.m * s->pq.ksub;
    float *lut = out;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "pq: prepare() before train()");
    const int big = pq_big(s);
    if (mode == ECB_MODE_ASYMMETRIC) {
        if (big) memcpy(out, q, nq * d * sizeof *q);
        else
            for (size_t i = 0; i < nq; i++) ecb_pq_lut(&s->pq, m->sim, q + i * d, lut + i * tl);
        return 0;
    }
    /* Symmetric: the table of the query's reconstruction holds the SDC
     * centroid-to-centroid scores. One query at a time keeps memory flat. */
    uint8_t *code = malloc(s->code_size);
    float *rec = malloc(d * sizeof *rec);
    int rc = code && rec ? 0 : ECB_ENOMEM;
    for (size_t i = 0; i < nq && !rc; i++) {
        rc = ecb_pq_encode(&s->pq, q + i * d, 1, code, s->code_size);
        if (rc) break;
        if (big) {
            ecb_pq_decode(&s->pq, code, 1, s->code_size, (float *)out + i * d);
            continue;
        }
        ecb_pq_decode(&s->pq, code, 1, s->code_size, rec);
        ecb_pq_lut(&s->pq, m->sim, rec, lut + i * tl);
    }
    free(code);
    free(rec);
    return rc ? m->host->fail(m->host, rc, "pq: preparing %zu symmetric queries failed", nq) : 0;
}

static int pq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const pq_state *s = (const pq_state *)m;
    const size_t tl = s->p.m * s->pq.ksub;
    const float *lut = prepared;
    if (!pq_big(s)) {
        for (size_t i = 0; i < nq; i++)
            ecb_lut_scan(lut + i * tl, s->p.m, (unsigned)s->p.nbits, codes, s->code_size, n,
                         scores + i * n);
        return 0;
    }
    const float *q = prepared; /* nq x dim vectors */
    int rc = 0;
    if (pq_lanes_ok(s) && nq >= PQ_LANES / 2) {
        rc = pq_score_lanes(s, q, nq, codes, n, scores);
    } else { /* one table at a time */
        float *t = malloc(tl * sizeof *t);
        rc = t ? 0 : ECB_ENOMEM;
        for (size_t i = 0; i < nq && !rc; i++) {
            ecb_pq_lut(&s->pq, m->sim, q + i * m->dim, t);
            ecb_lut_scan(t, s->p.m, (unsigned)s->p.nbits, codes, s->code_size, n, scores + i * n);
        }
        free(t);
    }
    return rc ? m->host->fail(m->host, rc, "pq: out of memory scoring %zu queries", nq) : 0;
}

/* What a memory budget ("budget" in a config) chooses; the first wins ties. */
static const char *const pq_size_params[] = {"nbits", "m", NULL};

static const ecb_method_vtable pq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "pq",
    .summary = "product quantization: m sub-vectors x 2^nbits centroids, ADC/SDC scoring",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = pq_params_table,
    .params_size = sizeof(struct pq_params),
    .create = pq_create,
    .destroy = pq_destroy,
    .train = pq_train,
    .code_size = pq_code_size,
    .aux_bytes = pq_aux_bytes,
    .encode = pq_encode,
    .decode = pq_decode,
    .query_size = pq_query_size,
    .prepare = pq_prepare,
    .score = pq_score,
    .size_params = pq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_pq(void) { return &pq_vtable; }
