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

/* ---- scans of reconstructions -------------------------------------------
 * A code's table score is q.x^ (or -||q - x^||^2), x^ its reconstruction.
 * When sub-vectors are narrow, looking m entries up costs more than the d
 * multiply-adds of that product: CoRECT's shared-codebook arms (m = d, d/2,
 * d/4 at 768-d) spent 454 of a 1M-vector sweep's 1,208 s in table scans
 * (m = 768, nbits = 2: 4.5 QPS against 147 for float32). There the codes are
 * decoded block by block and scored like the float casts, by one sgemm per
 * block (ecb_scores_decoded), and the prepared query is the vector itself
 * (its reconstruction in symmetric mode): d floats instead of an m x 2^nbits
 * table (786 KB per query at m = 768, nbits = 8).
 * Which codes (for batches of at least PQ_RECON_MIN_Q queries; fewer do not
 * pay for decoding the block, and get a table each, built in score()):
 *  - sub-vectors of 1-2 dimensions;
 *  - up to 8 dimensions when the table is over 128 KiB (out of L2 while the
 *    codes stream by: m = 192 of 4 dimensions ran at a third of float32's
 *    QPS) or nbits is not 4 or 8 (the codes cross byte boundaries and go
 *    through the generic table kernel, about 0.6 ns per entry against 0.2
 *    for the byte and nibble kernels; 1M x 768, 2 threads).
 * The sums run in sgemm's order, not the table's, so these scores differ
 * from the table scan's in the last bits (a deliberate change, issue 13).
 * The choice depends on the parameters and the call's query count only;
 * the harness's query grid does not depend on the thread count, so a cell
 * scores the same way at any thread count. */
#define PQ_TABLE_L2 ((size_t)128 << 10)
enum { PQ_RECON_MIN_Q = 8 };

static size_t pq_table_bytes(const pq_state *s) { return s->p.m * s->pq.ksub * sizeof(float); }

static int pq_recon_scan(const pq_state *s)
{
    size_t ds = s->pq.dsub, b = s->p.nbits;
    return ds <= 2 || (ds <= 8 && (b % 4 != 0 || pq_table_bytes(s) > PQ_TABLE_L2));
}

/* Above this many bytes a table is built in score(), one query at a time,
 * and the prepared query is the vector (bounded memory for large m with
 * wide sub-vectors, e.g. m = 512 of 3 dimensions). */
#define PQ_BIG_TABLE ((size_t)256 << 10)

/* the prepared query is a vector, not a table */
static int pq_vector_query(const pq_state *s)
{
    return pq_recon_scan(s) || pq_table_bytes(s) > PQ_BIG_TABLE;
}

/* ecb_widen_fn: a block of codes to their reconstructions */
static void pq_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const pq_state *s = ctx;
    ecb_pq_decode(&s->pq, codes, rows, s->code_size, out);
}

static size_t pq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const pq_state *s = (const pq_state *)m;
    if (pq_vector_query(s)) return m->dim * sizeof(float);
    return s->p.m * s->pq.ksub * sizeof(float);
}

static int pq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const pq_state *s = (const pq_state *)m;
    const size_t d = m->dim, tl = s->p.m * s->pq.ksub;
    float *lut = out;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "pq: prepare() before train()");
    const int vec = pq_vector_query(s); /* the query itself, not its table */
    if (mode == ECB_MODE_ASYMMETRIC) {
        if (vec) memcpy(out, q, nq * d * sizeof *q);
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
        if (vec) {
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
    if (!pq_vector_query(s)) {
        for (size_t i = 0; i < nq; i++)
            ecb_lut_scan(lut + i * tl, s->p.m, (unsigned)s->p.nbits, codes, s->code_size, n,
                         scores + i * n);
        return 0;
    }
    const float *q = prepared; /* nq x dim vectors */
    int rc = 0;
    if (pq_recon_scan(s) && nq >= PQ_RECON_MIN_Q) {
        rc = ecb_scores_decoded(s, pq_widen, m->sim == ECB_SIM_L2, q, nq, codes, s->code_size, n,
                                m->dim, scores);
        if (rc)
            return m->host->fail(m->host, rc, "pq: %s scoring %zu x %zu x %zu",
                                 rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS",
                                 nq, n, m->dim);
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

/* Scans of reconstructions decode each block for sgemm (heavy: the more
 * queries per call, the fewer decodes; 24-byte codes at 12 queries a call
 * ran at half the QPS); table scans are left to the size rule. */
static int pq_scan_kind(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const pq_state *s = (const pq_state *)m;
    return pq_vector_query(s) && pq_recon_scan(s) ? ECB_SCAN_HEAVY : ECB_SCAN_DEFAULT;
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
    .scan_kind = pq_scan_kind,
    .size_params = pq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_pq(void) { return &pq_vtable; }
