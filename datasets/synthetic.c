/*
 * The built-in synthetic collection (DESIGN D5): deterministic from a seed,
 * shaped like sentence embeddings, with graded relevance judgments that come
 * from a latent structure rather than from the observed vectors, so that
 * exact float32 retrieval scores a realistic, imperfect nDCG.
 *
 * Generative model (all in "spectral" coordinates first):
 *   spectrum   lambda_j = (j+1)^-decay, j < dim, normalised to sum 1;
 *              s = sqrt(lambda). Every random component below is
 *              s (.) g with g ~ N(0, I) (approximately: Irwin-Hall(4)),
 *              so the covariance of the data decays like lambda.
 *   hierarchy  clusters c (centres, A_C s(.)g_c) -> topics t (offsets,
 *              A_T s(.)g_t; mean TOPIC_SIZE docs per topic; a topic's
 *              cluster is skewed towards low ids, so cluster sizes vary)
 *              -> documents. Doc i's topic is a hash of (seed, i).
 *   latent     z_i = centre(c) + offset(t) + A_D s(.)g_i
 *   observed   x_i = mu + R (z_i + A_O s(.)e_i)
 *              e_i is observation noise, invisible to the judgments. R is a
 *              fixed orthogonal matrix, two layers of random orthogonal
 *              blocks (BLOCK x BLOCK) separated by random permutations, so the
 *              principal axes are dense (not the coordinate axes: truncation
 *              is not favoured) at O(dim * BLOCK) per row. mu is a common
 *              mean direction with |mu|^2 = MEAN_SHARE * E|x - mu|^2, as
 *              real embeddings have (random pairs have a positive cosine;
 *              a zero threshold for binary codes loses to a median one).
 *   queries    from a source doc d (distinct per query):
 *              z_q = centre + offset + Q_KEEP A_D s(.)g_d + A_Q s(.)g_q,
 *              observed like documents with their own noise.
 *   qrels      latent relations only: d gets grade 3; the other docs of
 *              d's topic get 2 (latent cosine to z_q in the upper half) or
 *              1; two random docs of other topics are judged 0 (pooled,
 *              not relevant).
 * Every corpus row is a pure function of (seed, row): ecb_vecs_generated
 * streams 1,000,000 x 768 without storing it. Building queries and qrels
 * costs O(n) hashing (to find topic members) plus O(queries x topic size x
 * dim). Identical bytes for identical parameters with the same build (the
 * code is ISO C: no FP contraction).
 * Limits: dim <= 4096 (stack buffers); queries <= n; clusters <= n/10.
 * Generation per 768-dim row, one core (CPU time, machine shared, load ~8):
 * 5.1 us with the AVX-512 build of the row code, 7.0 AVX2, 8.2 portable, the
 * first scalar code 10.1; every level writes the same bytes (test_synthetic
 * checks each against golden hashes). Over 600 lines: the model, its
 * per-row code in three builds and the queries/qrels belong together.
 * Measured at the quickstart size (n=20000, dim=128, 200 queries, seed 42;
 * numpy cross-check): exact cosine nDCG@10 0.703, Recall@100 0.886; mean
 * cosine of random pairs 0.31; binary codes with Hamming scoring: zero
 * threshold nDCG@10 0.42, per-dimension median 0.51. decay moves the
 * difficulty a lot: 0.5 -> nDCG@10 0.92, 2.0 -> 0.17.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "ecbench/ecbmath.h"

#define SYNTH_VERSION 1u
#define SYNTH_MAX_DIM 4096
#define BLOCK 32
#define TOPIC_SIZE 10  /* mean documents per topic */
#define A_C 1.0        /* cluster centre scale */
#define A_T 0.75       /* topic offset scale */
#define A_D 0.6        /* document-specific latent scale */
#define A_O 0.6        /* observation noise scale */
#define Q_KEEP 0.5     /* share of the source doc's own latent in its query */
#define A_Q 0.6        /* query-specific latent scale */
#define MEAN_SHARE 0.4 /* |mu|^2 relative to the centred variance */

/* Stream tags: each random component draws from its own counter stream. */
enum { TAG_TOPIC = 1, TAG_CLUSTER, TAG_CENTRE, TAG_OFFSET, TAG_DOC, TAG_NOISE, TAG_QUERY,
       TAG_QNOISE, TAG_ROT, TAG_MEAN, TAG_PICK };

const ecb_param ecb_synth_param_table[] = {
    {"n", ECB_PARAM_SIZE, offsetof(ecb_synth_params, n), .def.u = 20000, .min = 100,
     .max = 1e9, .help = "corpus size (rows are generated on the fly)"},
    {"dim", ECB_PARAM_SIZE, offsetof(ecb_synth_params, dim), .def.u = 128, .min = 2,
     .max = SYNTH_MAX_DIM, .help = "vector dimension"},
    {"queries", ECB_PARAM_SIZE, offsetof(ecb_synth_params, queries), .def.u = 200, .min = 1,
     .max = 1e6, .help = "number of queries (each derived from a distinct document; <= n)"},
    {"clusters", ECB_PARAM_SIZE, offsetof(ecb_synth_params, clusters), .def.u = 0, .min = 0,
     .max = 1e6, .help = "top-level clusters; 0 = automatic (sqrt(n)/2)"},
    {"decay", ECB_PARAM_DOUBLE, offsetof(ecb_synth_params, decay), .def.d = 1.0, .min = 0,
     .max = 4, .help = "spectrum decay exponent: variance of principal axis j ~ (j+1)^-decay"},
    {"seed", ECB_PARAM_INT, offsetof(ecb_synth_params, seed), .def.i = 42, .min = 0,
     .max = 9007199254740991.0, .help = "generator seed: same seed, same bytes"},
    {0},
};

void ecb_synth_defaults(ecb_synth_params *p)
{
    p->n = 20000;
    p->dim = 128;
    p->queries = 200;
    p->clusters = 0;
    p->decay = 1.0;
    p->seed = 42;
}

/* ---- counter-based randomness -------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t key3(uint64_t seed, uint64_t tag, uint64_t idx)
{
    return mix64(mix64(seed ^ (tag * 0xd1b54a32d192ed03ull)) + idx);
}

/* k-th value of stream key. */
static uint64_t draw(uint64_t key, uint64_t k) { return mix64(key + k * 0x632be59bd9b4e019ull); }

static double unif(uint64_t key, uint64_t k) { return (double)(draw(key, k) >> 11) * 0x1p-53; }

/* Approximately N(0,1): Irwin-Hall of 4 uniforms from one 64-bit draw,
 * rescaled to unit variance. Cheap enough for 10^9 values. The four 16-bit
 * fields are summed as integers: their sum in double is exact either way. */
static inline float gauss_of(uint64_t r)
{
    uint64_t s = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
    return (float)(((double)s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772);
}

static float gauss(uint64_t key, uint64_t k) { return gauss_of(draw(key, k)); }

/* g[j] = gauss(key, j), j < n. */
static void gauss_fill_generic(uint64_t key, size_t n, float *g)
{
    for (size_t j = 0; j < n; j++) g[j] = gauss(key, j);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SYNTH_X86 1
#endif

/* gauss_fill_generic eight lanes at a time, in GCC vector types, built into
 * the AVX-512 row code below. The hash is integer arithmetic (exact); the
 * sum is below 2^18, so converting it through int32 is exact; then the same
 * IEEE double operations in the same order and one rounding to float, as
 * the scalar code does. */
typedef uint64_t u64x8 __attribute__((vector_size(64)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) void gauss_fill_vec(uint64_t key, size_t n, float *g)
{
    const uint64_t step = 0x632be59bd9b4e019ull;
    u64x8 x;
    for (int l = 0; l < 8; l++) x[l] = key + (uint64_t)l * step;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        u64x8 r = x + 0x9e3779b97f4a7c15ull;
        r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
        r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
        r = r ^ (r >> 31);
        u64x8 sum = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
        f64x8 v = __builtin_convertvector(__builtin_convertvector(sum, i32x8), f64x8);
        v = (v * (1.0 / 65536.0) - 2.0) * 1.7320508075688772;
        f32x8 f = __builtin_convertvector(v, f32x8);
        memcpy(g + j, &f, sizeof f);
        x += 8 * step;
    }
    for (; j < n; j++) g[j] = gauss(key, j);
}

/* ---- model ----------------------------------------------------------------- */

typedef struct {
    ecb_synth_params p;
    size_t n_topics, n_clusters;
    float *scale;   /* dim: s_j */
    float *centres; /* n_clusters x dim, spectral coordinates, scaled */
    float *mean;    /* dim, observed coordinates */
    float *rot1, *rot2; /* block-orthogonal layers: nblk blocks, row-major */
    size_t *perm1, *perm2;
    uint32_t *inv1, *inv2; /* inverse permutations: y[i] = (B x)[inv[i]] */
    int avx2;       /* rows through the row code built for: 0 portable, 1 AVX2, 2 AVX-512 */
} synth;

static size_t doc_topic(const synth *s, size_t row)
{
    return (size_t)(draw(key3(s->p.seed, TAG_TOPIC, 0), row) % s->n_topics);
}

static size_t topic_cluster(const synth *s, size_t t)
{
    double u = unif(key3(s->p.seed, TAG_CLUSTER, 0), t);
    size_t c = (size_t)((double)s->n_clusters * pow(u, 1.5));
    return c < s->n_clusters ? c : s->n_clusters - 1;
}

/* The per-row work below is written once (always inlined, avx2 a
 * constant at each call site) and compiled twice: portable and AVX2 (the
 * loops vectorise 8 wide). Both give the same bits: no FMA (ISO C turns
 * contraction off, and the AVX2 target has no FMA), every float operation
 * in the same order. */
#define SYNTH_INLINE static inline __attribute__((always_inline))

/* out += a * s (.) g for stream key. */
SYNTH_INLINE void add_component_k(const synth *s, uint64_t key, double a, float *out, int avx2)
{
    float g[SYNTH_MAX_DIM];
    float af = (float)a;
    size_t d = s->p.dim;
    /* AVX2 has no 64-bit lane product (GCC would go scalar): only the
     * AVX-512 build takes the vector hash */
    if (avx2 == 2) gauss_fill_vec(key, d, g);
    else gauss_fill_generic(key, d, g);
    for (size_t j = 0; j < d; j++) out[j] += af * s->scale[j] * g[j];
    (void)avx2;
}

static void add_component(const synth *s, uint64_t key, double a, float *out)
{
    add_component_k(s, key, a, out, 0);
}

/* Latent z (spectral coordinates) of a document without its own part. */
SYNTH_INLINE void topic_latent_k(const synth *s, size_t topic, float *z, int avx2)
{
    const float *c = s->centres + topic_cluster(s, topic) * s->p.dim;
    memcpy(z, c, s->p.dim * sizeof *z);
    add_component_k(s, key3(s->p.seed, TAG_OFFSET, topic), A_T, z, avx2);
}

static void topic_latent(const synth *s, size_t topic, float *z) { topic_latent_k(s, topic, z, 0); }

SYNTH_INLINE void doc_latent_k(const synth *s, size_t row, float *z, int avx2)
{
    topic_latent_k(s, doc_topic(s, row), z, avx2);
    add_component_k(s, key3(s->p.seed, TAG_DOC, row), A_D, z, avx2);
}

static void doc_latent(const synth *s, size_t row, float *z) { doc_latent_k(s, row, z, 0); }

/* One block-orthogonal layer: tmp = B x; the layer's permutation y = P tmp
 * is left to the caller (a gather through the inverse permutation, which
 * vectorises where the scatter y[perm[j]] = tmp[j] does not). Blocks are stored
 * transposed so the inner loop runs over outputs (vectorisable); float
 * accumulation over BLOCK terms is plenty for synthetic data. Full blocks
 * take constant-size loops (registers hold the accumulators), the last
 * partial one the general loop: the same operations either way. */
SYNTH_INLINE void apply_layer_k(const synth *s, const float *rot, const float *x, float *tmp)
{
    size_t d = s->p.dim;
    for (size_t b0 = 0; b0 < d; b0 += BLOCK) {
        size_t bs = d - b0 < BLOCK ? d - b0 : BLOCK;
        const float *Bt = rot + b0 * BLOCK; /* bs x bs, Bt[k * bs + i] = B[i][k] */
        float acc[BLOCK] = {0};
        if (bs == BLOCK && d - b0 >= 2 * BLOCK) {
            /* two blocks at once: twice the independent sums in flight
             * (one block's are a chain of BLOCK dependent additions) */
            const float *Bt2 = Bt + BLOCK * BLOCK;
            float acc2[BLOCK] = {0};
            for (size_t k = 0; k < BLOCK; k++) {
                float xk = x[b0 + k], xk2 = x[b0 + BLOCK + k];
                for (size_t i = 0; i < BLOCK; i++) {
                    acc[i] += Bt[k * BLOCK + i] * xk;
                    acc2[i] += Bt2[k * BLOCK + i] * xk2;
                }
            }
            memcpy(tmp + b0 + BLOCK, acc2, BLOCK * sizeof *tmp);
            memcpy(tmp + b0, acc, BLOCK * sizeof *tmp);
            b0 += BLOCK;
            continue;
        }
        if (bs == BLOCK)
            for (size_t k = 0; k < BLOCK; k++) {
                float xk = x[b0 + k];
                for (size_t i = 0; i < BLOCK; i++) acc[i] += Bt[k * BLOCK + i] * xk;
            }
        else
            for (size_t k = 0; k < bs; k++) {
                float xk = x[b0 + k];
                for (size_t i = 0; i < bs; i++) acc[i] += Bt[k * bs + i] * xk;
            }
        memcpy(tmp + b0, acc, bs * sizeof *tmp);
    }
}

/* Observed vector from a latent plus observation noise (key). */
SYNTH_INLINE void observe_k(const synth *s, float *z, uint64_t noise_key, float *out, int avx2)
{
    float t1[SYNTH_MAX_DIM], t2[SYNTH_MAX_DIM];
    add_component_k(s, noise_key, A_O, z, avx2);
    size_t d = s->p.dim;
    apply_layer_k(s, s->rot1, z, t1);
    for (size_t j = 0; j < d; j++) z[j] = t1[s->inv1[j]];
    apply_layer_k(s, s->rot2, z, t2);
    for (size_t j = 0; j < d; j++) out[j] = t2[s->inv2[j]] + s->mean[j];
}

static void observe(const synth *s, float *z, uint64_t noise_key, float *out)
{
    observe_k(s, z, noise_key, out, 0);
}

SYNTH_INLINE void gen_row_k(const synth *s, size_t row, float *out, int avx2)
{
    float z[SYNTH_MAX_DIM];
    doc_latent_k(s, row, z, avx2);
    observe_k(s, z, key3(s->p.seed, TAG_NOISE, row), out, avx2);
}

static void gen_row_generic(const synth *s, size_t row, float *out) { gen_row_k(s, row, out, 0); }

#ifdef SYNTH_X86
__attribute__((target("avx2"))) static void gen_row_avx2(const synth *s, size_t row, float *out)
{
    gen_row_k(s, row, out, 1);
}

__attribute__((target("avx512f,avx512bw"))) static void gen_row_avx512(const synth *s, size_t row,
                                                                     float *out)
{
    gen_row_k(s, row, out, 2);
}
#endif

static void gen_row(const void *ctx, size_t row, float *out)
{
    const synth *s = ctx;
#ifdef SYNTH_X86
    if (s->avx2) {
        if (s->avx2 == 2) gen_row_avx512(s, row, out);
        else gen_row_avx2(s, row, out);
        return;
    }
#endif
    gen_row_generic(s, row, out);
}

static void synth_free(void *ctx)
{
    synth *s = ctx;
    if (!s) return;
    free(s->scale);
    free(s->centres);
    free(s->mean);
    free(s->rot1);
    free(s->rot2);
    free(s->perm1);
    free(s->perm2);
    free(s->inv1);
    free(s->inv2);
    free(s);
}

/* Random orthogonal blocks by modified Gram-Schmidt on Gaussian rows. */
static void make_layer(const synth *s, uint64_t key, float *rot, size_t *perm)
{
    size_t d = s->p.dim, k = 0;
    double q[BLOCK][BLOCK];
    for (size_t b0 = 0; b0 < d; b0 += BLOCK) {
        size_t bs = d - b0 < BLOCK ? d - b0 : BLOCK;
        for (size_t i = 0; i < bs; i++) {
            for (;;) {
                for (size_t j = 0; j < bs; j++) q[i][j] = gauss(key, k++);
                for (size_t p = 0; p < i; p++) {
                    double dot = 0;
                    for (size_t j = 0; j < bs; j++) dot += q[i][j] * q[p][j];
                    for (size_t j = 0; j < bs; j++) q[i][j] -= dot * q[p][j];
                }
                double nrm = 0;
                for (size_t j = 0; j < bs; j++) nrm += q[i][j] * q[i][j];
                if (nrm > 1e-6) { /* else redraw: degenerate direction */
                    nrm = sqrt(nrm);
                    for (size_t j = 0; j < bs; j++) q[i][j] /= nrm;
                    break;
                }
            }
            for (size_t j = 0; j < bs; j++) rot[b0 * BLOCK + j * bs + i] = (float)q[i][j];
        }
    }
    for (size_t j = 0; j < d; j++) perm[j] = j;
    for (size_t j = d; j > 1; j--) {
        size_t r = (size_t)(draw(key, k++) % j);
        size_t t = perm[j - 1];
        perm[j - 1] = perm[r];
        perm[r] = t;
    }
}

static int synth_build(const ecb_synth_params *p, synth **out)
{
    synth *s = ecb_calloc(1, sizeof *s);
    if (!s) return ECB_ENOMEM;
    s->p = *p;
    s->avx2 = ecb_cpu()->level >= ECB_CPU_AVX512 ? 2 : ecb_cpu()->level >= ECB_CPU_AVX2;
    size_t d = p->dim;
    s->n_topics = p->n / TOPIC_SIZE ? p->n / TOPIC_SIZE : 1;
    size_t c = p->clusters ? p->clusters : (size_t)(sqrt((double)p->n) / 2.0);
    if (c < 2) c = 2;
    if (c > s->n_topics) c = s->n_topics;
    s->n_clusters = c;
    s->scale = ecb_malloc_array(d, sizeof *s->scale);
    s->centres = ecb_malloc_array(c * d, sizeof *s->centres);
    s->mean = ecb_malloc_array(d, sizeof *s->mean);
    s->rot1 = ecb_malloc_array(d * BLOCK, sizeof *s->rot1);
    s->rot2 = ecb_malloc_array(d * BLOCK, sizeof *s->rot2);
    s->perm1 = ecb_malloc_array(d, sizeof *s->perm1);
    s->perm2 = ecb_malloc_array(d, sizeof *s->perm2);
    s->inv1 = ecb_malloc_array(d, sizeof *s->inv1);
    s->inv2 = ecb_malloc_array(d, sizeof *s->inv2);
    if (!s->scale || !s->centres || !s->mean || !s->rot1 || !s->rot2 || !s->perm1 ||
        !s->perm2 || !s->inv1 || !s->inv2) {
        synth_free(s);
        return ECB_ENOMEM;
    }
    double sum = 0;
    for (size_t j = 0; j < d; j++) sum += pow((double)(j + 1), -p->decay);
    for (size_t j = 0; j < d; j++) s->scale[j] = (float)sqrt(pow((double)(j + 1), -p->decay) / sum);
    memset(s->centres, 0, c * d * sizeof *s->centres);
    for (size_t i = 0; i < c; i++)
        add_component(s, key3(p->seed, TAG_CENTRE, i), A_C, s->centres + i * d);
    make_layer(s, key3(p->seed, TAG_ROT, 1), s->rot1, s->perm1);
    make_layer(s, key3(p->seed, TAG_ROT, 2), s->rot2, s->perm2);
    for (size_t j = 0; j < d; j++) {
        s->inv1[s->perm1[j]] = (uint32_t)j;
        s->inv2[s->perm2[j]] = (uint32_t)j;
    }
    /* Mean: a random direction, squared norm MEAN_SHARE x the expected
     * centred squared norm (the spectrum sums to 1 per unit scale). */
    double var = A_C * A_C + A_T * A_T + A_D * A_D + A_O * A_O, nrm = 0;
    uint64_t mk = key3(p->seed, TAG_MEAN, 0);
    for (size_t j = 0; j < d; j++) {
        s->mean[j] = gauss(mk, j);
        nrm += (double)s->mean[j] * s->mean[j];
    }
    double f = sqrt(MEAN_SHARE * var / nrm);
    for (size_t j = 0; j < d; j++) s->mean[j] = (float)(s->mean[j] * f);
    *out = s;
    return 0;
}

/* ---- queries and qrels ----------------------------------------------- */

typedef struct {
    size_t topic, query;
} topic_ref;

static int cmp_topic_ref(const void *a, const void *b)
{
    const topic_ref *x = a, *y = b;
    if (x->topic != y->topic) return x->topic < y->topic ? -1 : 1;
    return x->query < y->query ? -1 : x->query > y->query;
}

typedef struct {
    double cos;
    size_t row;
} scored;

static int cmp_scored_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->cos != y->cos) return x->cos > y->cos ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static double cosine(const float *a, const float *b, size_t d)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t j = 0; j < d; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static int build_queries(const synth *s, float *qv, ecb_qrels *qr)
{
    size_t n = s->p.n, nq = s->p.queries, d = s->p.dim;
    int rc = ECB_ENOMEM;
    unsigned char *taken = ecb_calloc((n + 7) / 8, 1);
    size_t *src = ecb_malloc_array(nq, sizeof *src);
    topic_ref *tr = ecb_malloc_array(nq, sizeof *tr);
    size_t *members = NULL, *mstart = NULL, *mcount = NULL, *utopic = NULL;
    float *zq = ecb_malloc_array(d, sizeof *zq), *zi = ecb_malloc_array(d, sizeof *zi);
    scored *sc = NULL;
    if (!taken || !src || !tr || !zq || !zi) goto out;

    /* Distinct source documents. */
    uint64_t pk = key3(s->p.seed, TAG_PICK, 0);
    uint64_t k = 0;
    for (size_t q = 0; q < nq; q++) {
        size_t r;
        do r = (size_t)(draw(pk, k++) % n);
        while (taken[r / 8] & (1u << (r % 8)));
        taken[r / 8] |= (unsigned char)(1u << (r % 8));
        src[q] = r;
        tr[q] = (topic_ref){doc_topic(s, r), q};
    }
    /* Members of the queried topics: one O(n) pass over the topic hash. */
    qsort(tr, nq, sizeof *tr, cmp_topic_ref);
    size_t nu = 0;
    utopic = ecb_malloc_array(nq, sizeof *utopic);
    mcount = ecb_calloc(nq, sizeof *mcount);
    mstart = ecb_calloc(nq + 1, sizeof *mstart);
    if (!utopic || !mcount || !mstart) goto out;
    for (size_t q = 0; q < nq; q++)
        if (!nu || utopic[nu - 1] != tr[q].topic) utopic[nu++] = tr[q].topic;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (size_t u = 0; u < nu; u++) mstart[u + 1] = mstart[u] + mcount[u];
            members = ecb_malloc_array(mstart[nu] ? mstart[nu] : 1, sizeof *members);
            if (!members) goto out;
            memset(mcount, 0, nq * sizeof *mcount);
        }
        for (size_t i = 0; i < n; i++) {
            size_t t = doc_topic(s, i), lo = 0, hi = nu;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (utopic[mid] < t) lo = mid + 1;
                else hi = mid;
            }
            if (lo < nu && utopic[lo] == t) {
                if (pass == 1) members[mstart[lo] + mcount[lo]] = i;
                mcount[lo]++;
            }
        }
    }
    size_t maxm = 0;
    for (size_t u = 0; u < nu; u++) maxm = mcount[u] > maxm ? mcount[u] : maxm;
    sc = ecb_malloc_array(maxm ? maxm : 1, sizeof *sc);
    if (!sc) goto out;

    for (size_t q = 0; q < nq; q++) {
        size_t r = src[q], t = doc_topic(s, r), lo = 0, hi = nu;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (utopic[mid] < t) lo = mid + 1;
            else hi = mid;
        }
        const size_t *mem = members + mstart[lo];
        size_t nm = mcount[lo];
        /* Query latent: topic + part of the source's own latent + its own. */
        topic_latent(s, t, zq);
        add_component(s, key3(s->p.seed, TAG_DOC, r), A_D * Q_KEEP, zq);
        add_component(s, key3(s->p.seed, TAG_QUERY, q), A_Q, zq);
        size_t ns = 0;
        for (size_t m = 0; m < nm; m++) {
            if (mem[m] == r) continue;
            doc_latent(s, mem[m], zi);
            sc[ns++] = (scored){cosine(zq, zi, d), mem[m]};
        }
        qsort(sc, ns, sizeof *sc, cmp_scored_desc);
        size_t nz = n - nm >= 2 ? 2 : n - nm;
        qr->judg[q] = ecb_malloc_array(1 + ns + nz, sizeof **qr->judg);
        if (!qr->judg[q]) goto out;
        ecb_judgment *j = qr->judg[q];
        size_t c = 0;
        j[c++] = (ecb_judgment){(int64_t)r, 3};
        for (size_t m = 0; m < ns; m++)
            j[c++] = (ecb_judgment){(int64_t)sc[m].row, m < (ns + 1) / 2 ? 2 : 1};
        for (size_t z = 0; z < nz; z++) {
            size_t o;
            do o = (size_t)(draw(pk, k++) % n);
            while (doc_topic(s, o) == t || (z == 1 && (int64_t)o == j[c - 1].doc));
            j[c++] = (ecb_judgment){(int64_t)o, 0};
        }
        qr->n_judg[q] = c;
        qr->n_lines += c;
        /* The query vector, observed with its own noise. */
        observe(s, zq, key3(s->p.seed, TAG_QNOISE, q), qv + q * d);
    }
    rc = 0;
out:
    free(taken);
    free(src);
    free(tr);
    free(members);
    free(mstart);
    free(mcount);
    free(utopic);
    free(zq);
    free(zi);
    free(sc);
    return rc;
}

int ecb_dataset_synthetic(const ecb_synth_params *p, ecb_dataset **out)
{
    *out = NULL;
    if (p->n < 2 || p->dim < 2 || p->dim > SYNTH_MAX_DIM || p->queries < 1 ||
        p->queries > p->n || !(p->decay >= 0 && p->decay <= 16))
        return ecb_fail(ECB_EINVAL, "synthetic: parameters n=%zu dim=%zu queries=%zu decay=%g: "
                        "expected n >= 2, 2 <= dim <= %d, 1 <= queries <= n, 0 <= decay <= 16",
                        p->n, p->dim, p->queries, p->decay, SYNTH_MAX_DIM);
    size_t n_topics = p->n / TOPIC_SIZE ? p->n / TOPIC_SIZE : 1;
    if (p->clusters > n_topics)
        return ecb_fail(ECB_EINVAL, "synthetic: clusters=%zu, expected <= %zu (the number of "
                        "topics, n/%d)", p->clusters, n_topics, TOPIC_SIZE);
    synth *s;
    int rc = synth_build(p, &s);
    if (rc) return rc;
    ecb_dataset *d = ecb_calloc(1, sizeof *d);
    float *qv = ecb_malloc_array(p->queries * p->dim, sizeof *qv);
    ecb_qrels *qr = ecb_calloc(1, sizeof *qr);
    if (!d || !qv || !qr) {
        rc = ECB_ENOMEM;
        goto fail;
    }
    qr->n_queries = p->queries;
    qr->judg = ecb_calloc(p->queries, sizeof *qr->judg);
    qr->n_judg = ecb_calloc(p->queries, sizeof *qr->n_judg);
    if (!qr->judg || !qr->n_judg) {
        rc = ECB_ENOMEM;
        goto fail;
    }
    if ((rc = build_queries(s, qv, qr))) goto fail;
    d->qrels = qr;
    qr = NULL;
    d->sim = ECB_DS_COSINE;
    d->name = ecb_strdup("synthetic");
    d->source = ecb_strdup("builtin:synthetic");
    if (!d->name || !d->source) {
        rc = ECB_ENOMEM;
        goto fail;
    }
    if ((rc = ecb_vecs_from_memory(qv, p->queries, p->dim, &d->queries))) goto fail;
    qv = NULL;
    if ((rc = ecb_vecs_generated(p->n, p->dim, gen_row, s, synth_free, &d->corpus))) goto fail;
    /* The corpus hash comes from the parameters: hashing would generate it. */
    synth *sp = s;
    s = NULL;
    ecb_hash h;
    ecb_hash_init(&h);
    uint64_t key[6] = {SYNTH_VERSION, sp->p.n, sp->p.dim, sp->p.queries, sp->n_clusters,
                       sp->p.seed};
    ecb_hash_update(&h, "ecbench-synthetic", 17);
    ecb_hash_update(&h, key, sizeof key);
    ecb_hash_update(&h, &sp->p.decay, sizeof sp->p.decay);
    ecb_vecs_set_hash(d->corpus, ecb_hash_final(&h));
    if ((rc = ecb_dataset_finish(d))) goto fail;
    *out = d;
    return 0;
fail:
    if (s) synth_free(s);
    free(qv);
    ecb_qrels_free(qr);
    ecb_dataset_free(d);
    return rc;
}
