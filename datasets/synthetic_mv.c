/*
 * The built-in synthetic multi-vector collection (issue 15): documents of
 * varying length and queries of a few tokens, as late-interaction models
 * (ColBERT) produce them, with graded judgments from the latent structure
 * (which terms a text uses), not from the observed token vectors.
 *
 * Generative model (deterministic from the seed; one rng stream per part):
 *   vocabulary  topics t, each a centre c_t ~ N(0, I/dim) and TERMS term
 *               vectors u = unit(c_t + A_TERM g); COMMON stop-word terms
 *               unit(g) shared by every topic.
 *   document    primary topic a, secondary topic b (= a with probability
 *               1 - P_SECOND), a focus set of FOCUS terms of a; length
 *               uniform in [min_tokens, max_tokens]; each token is a common
 *               term (P_COMMON), else a focus term (P_FOCUS), else any term
 *               of a or b (P_PRIMARY : 1 - P_PRIMARY); its vector is
 *               unit(u + A_TOK g).
 *   query       from a distinct source document s: query tokens (uniform in
 *               [min_query_tokens, max_query_tokens]) are s's focus terms
 *               (P_QFOCUS) or other terms of s's primary topic, observed
 *               with more noise, unit(u + A_QTOK g).
 *   qrels       s gets grade 3; a document sharing at least 60 % of the
 *               query's distinct terms gets 2, at least 30 % (and one) gets
 *               1; two documents of other topics are judged 0.
 *   saliences   one weight per document token (corpus_token_weights, for
 *               token pruning), from its own stream so the tokens do not
 *               depend on it: stop-word terms 0.1-0.3, focus terms 0.6-1.0,
 *               other topical terms 0.4-0.8 (uniform).
 * Tokens are unit vectors and the similarity is dot (= cosine per token),
 * as for normalised ColBERT embeddings. Everything is generated at
 * creation and kept in memory (tokens x dim floats: 2,000 documents of 28
 * tokens at dim 64 is 14 MB); this is a test and demo collection, not a
 * scale one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "ecbench/ecbmath.h"

#define TERMS 24     /* terms per topic */
#define COMMON 64    /* stop-word terms shared by all topics */
#define FOCUS 6      /* a document's favourite terms of its primary topic */
#define P_SECOND 0.4
#define P_COMMON 0.25
#define P_FOCUS 0.5
#define P_PRIMARY 0.75
#define P_QFOCUS 0.7
#define A_TERM 0.8
#define A_TOK 0.35
#define A_QTOK 0.5

enum { S_VOCAB = 1, S_DOCS, S_QUERIES, S_PICK, S_ZERO, S_WEIGHT };

const ecb_param ecb_synth_mv_param_table[] = {
    {"docs", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, docs), .def.u = 2000, .min = 10,
     .max = 1e6, .help = "number of documents"},
    {"queries", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, queries), .def.u = 100, .min = 1,
     .max = 1e5, .help = "number of queries (each from a distinct document; <= docs)"},
    {"dim", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, dim), .def.u = 64, .min = 2,
     .max = 4096, .help = "token vector dimension"},
    {"topics", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, topics), .def.u = 0, .min = 0,
     .max = 1e5, .help = "latent topics; 0 = docs / 20"},
    {"min_tokens", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, min_tokens), .def.u = 8,
     .min = 1, .max = 4096, .help = "fewest tokens of a document"},
    {"max_tokens", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, max_tokens), .def.u = 48,
     .min = 1, .max = 4096, .help = "most tokens of a document"},
    {"min_query_tokens", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, min_query_tokens),
     .def.u = 3, .min = 1, .max = 256, .help = "fewest tokens of a query"},
    {"max_query_tokens", ECB_PARAM_SIZE, offsetof(ecb_synth_mv_params, max_query_tokens),
     .def.u = 8, .min = 1, .max = 256, .help = "most tokens of a query"},
    {"seed", ECB_PARAM_INT, offsetof(ecb_synth_mv_params, seed), .def.i = 42, .min = 0,
     .max = 9007199254740992.0, .help = "generator seed"},
    {0},
};

void ecb_synth_mv_defaults(ecb_synth_mv_params *p)
{
    *p = (ecb_synth_mv_params){.docs = 2000, .queries = 100, .dim = 64, .topics = 0,
                               .min_tokens = 8, .max_tokens = 48, .min_query_tokens = 3,
                               .max_query_tokens = 8, .seed = 42};
}

typedef struct {
    size_t dim, n_terms; /* topics * TERMS + COMMON; term id < topics * TERMS is topical */
    float *terms;        /* n_terms x dim, unit rows */
} vocab;

static void unit_noisy(ecb_rng *r, const float *u, double a, size_t dim, float *out)
{
    double nn = 0, s = a / sqrt((double)dim);
    for (size_t j = 0; j < dim; j++) {
        double x = (u ? u[j] : 0) + s * ecb_rng_normal(r);
        out[j] = (float)x;
        nn += x * x;
    }
    float inv = nn > 0 ? (float)(1 / sqrt(nn)) : 0;
    for (size_t j = 0; j < dim; j++) out[j] *= inv;
}

static int make_vocab(const ecb_synth_mv_params *p, size_t topics, vocab *v)
{
    v->dim = p->dim;
    v->n_terms = topics * TERMS + COMMON;
    v->terms = ecb_malloc_array(v->n_terms * p->dim, sizeof *v->terms);
    float *c = ecb_malloc_array(p->dim, sizeof *c);
    if (!v->terms || !c) {
        free(c);
        return ECB_ENOMEM;
    }
    ecb_rng r;
    ecb_rng_seed2(&r, p->seed, S_VOCAB);
    for (size_t t = 0; t < topics; t++) {
        unit_noisy(&r, NULL, sqrt((double)p->dim), p->dim, c); /* a unit centre */
        for (size_t k = 0; k < TERMS; k++)
            unit_noisy(&r, c, A_TERM, p->dim,
                       v->terms + (t * TERMS + k) * p->dim);
    }
    for (size_t k = 0; k < COMMON; k++)
        unit_noisy(&r, NULL, 1.0, p->dim, v->terms + (topics * TERMS + k) * p->dim);
    free(c);
    return 0;
}

static size_t uniform_in(ecb_rng *r, size_t lo, size_t hi)
{
    return lo + ecb_rng_below(r, hi - lo + 1);
}

/* Documents: token vectors, offsets, each token's term id, topics, focus. */
typedef struct {
    float *tok;
    float *w;      /* per token salience */
    int64_t *off;
    uint32_t *term;
    size_t *topic_a, *topic_b, *focus; /* focus: docs x FOCUS term ids */
} docs_t;

static int make_docs(const ecb_synth_mv_params *p, size_t topics, const vocab *v, docs_t *D)
{
    size_t n = p->docs, dim = p->dim;
    ecb_rng r;
    ecb_rng_seed2(&r, p->seed, S_DOCS);
    D->off = ecb_malloc_array(n + 1, sizeof *D->off);
    D->topic_a = ecb_malloc_array(n, sizeof *D->topic_a);
    D->topic_b = ecb_malloc_array(n, sizeof *D->topic_b);
    D->focus = ecb_malloc_array(n * FOCUS, sizeof *D->focus);
    if (!D->off || !D->topic_a || !D->topic_b || !D->focus) return ECB_ENOMEM;
    D->off[0] = 0;
    for (size_t i = 0; i < n; i++) { /* lengths first: one allocation for the tokens */
        D->topic_a[i] = ecb_rng_below(&r, topics);
        D->topic_b[i] = ecb_rng_uniform(&r) < P_SECOND ? ecb_rng_below(&r, topics)
                                                        : D->topic_a[i];
        for (size_t f = 0; f < FOCUS; f++)
            D->focus[i * FOCUS + f] = D->topic_a[i] * TERMS + ecb_rng_below(&r, TERMS);
        D->off[i + 1] = D->off[i] + (int64_t)uniform_in(&r, p->min_tokens, p->max_tokens);
    }
    size_t nt = (size_t)D->off[n];
    D->tok = ecb_malloc_array(nt * dim, sizeof *D->tok);
    D->term = ecb_malloc_array(nt, sizeof *D->term);
    if (!D->tok || !D->term) return ECB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t k = (size_t)D->off[i]; k < (size_t)D->off[i + 1]; k++) {
            double u = ecb_rng_uniform(&r);
            size_t t;
            if (u < P_COMMON) t = topics * TERMS + ecb_rng_below(&r, COMMON);
            else if (u < P_COMMON + (1 - P_COMMON) * P_FOCUS)
                t = D->focus[i * FOCUS + ecb_rng_below(&r, FOCUS)];
            else
                t = (ecb_rng_uniform(&r) < P_PRIMARY ? D->topic_a[i] : D->topic_b[i]) * TERMS +
                    ecb_rng_below(&r, TERMS);
            D->term[k] = (uint32_t)t;
            unit_noisy(&r, v->terms + t * dim, A_TOK, dim, D->tok + k * dim);
        }
    ecb_rng wr;
    ecb_rng_seed2(&wr, p->seed, S_WEIGHT);
    if (!(D->w = ecb_malloc_array(nt ? nt : 1, sizeof *D->w))) return ECB_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t k = (size_t)D->off[i]; k < (size_t)D->off[i + 1]; k++) {
            size_t t = D->term[k], f = 0;
            while (f < FOCUS && D->focus[i * FOCUS + f] != t) f++;
            double lo = t >= topics * TERMS ? 0.1 : f < FOCUS ? 0.6 : 0.4;
            double span = t >= topics * TERMS ? 0.2 : 0.4;
            D->w[k] = (float)(lo + span * ecb_rng_uniform(&wr));
        }
    return 0;
}

static int has_term(const docs_t *D, size_t doc, uint32_t t)
{
    for (size_t k = (size_t)D->off[doc]; k < (size_t)D->off[doc + 1]; k++)
        if (D->term[k] == t) return 1;
    return 0;
}

/* Queries (tokens, offsets) and their qrels. */
static int make_queries(const ecb_synth_mv_params *p, const vocab *v,
                        const docs_t *D, float **qtok, int64_t **qoff, ecb_qrels *qr)
{
    size_t nq = p->queries, n = p->docs, dim = p->dim;
    ecb_rng r, pick, zero;
    ecb_rng_seed2(&r, p->seed, S_QUERIES);
    ecb_rng_seed2(&pick, p->seed, S_PICK);
    ecb_rng_seed2(&zero, p->seed, S_ZERO);
    size_t *src = ecb_malloc_array(nq, sizeof *src);
    int64_t *off = ecb_malloc_array(nq + 1, sizeof *off);
    float *tok = ecb_malloc_array(nq * p->max_query_tokens * dim, sizeof *tok);
    uint32_t *qt = ecb_malloc_array(p->max_query_tokens, sizeof *qt);
    ecb_judgment *j = ecb_malloc_array(n, sizeof *j);
    int rc = !src || !off || !tok || !qt || !j ? ECB_ENOMEM : 0;
    if (!rc) ecb_rng_sample(&pick, n, nq, src);
    if (!rc) off[0] = 0;
    for (size_t q = 0; q < nq && !rc; q++) {
        size_t s = src[q], len = uniform_in(&r, p->min_query_tokens, p->max_query_tokens), nd = 0;
        for (size_t k = 0; k < len; k++) {
            uint32_t t = (uint32_t)(ecb_rng_uniform(&r) < P_QFOCUS
                                        ? D->focus[s * FOCUS + ecb_rng_below(&r, FOCUS)]
                                        : D->topic_a[s] * TERMS + ecb_rng_below(&r, TERMS));
            unit_noisy(&r, v->terms + (size_t)t * dim, A_QTOK, dim,
                       tok + ((size_t)off[q] + k) * dim);
            size_t u = 0;
            while (u < nd && qt[u] != t) u++;
            if (u == nd) qt[nd++] = t;
        }
        off[q + 1] = off[q] + (int64_t)len;
        /* judgments from shared terms: a linear scan, fine at demo sizes */
        size_t c = 0, need2 = (6 * nd + 9) / 10, need1 = (3 * nd + 9) / 10;
        if (need1 < 1) need1 = 1;
        j[c++] = (ecb_judgment){(int64_t)s, 3};
        for (size_t d = 0; d < n; d++) {
            if (d == s) continue;
            size_t shared = 0;
            for (size_t u = 0; u < nd; u++) shared += (size_t)has_term(D, d, qt[u]);
            if (shared >= need1) j[c++] = (ecb_judgment){(int64_t)d, shared >= need2 ? 2 : 1};
        }
        for (size_t z = 0, tries = 0; z < 2 && tries < 64; tries++) {
            size_t o = ecb_rng_below(&zero, n);
            int judged = 0;
            for (size_t e = 0; e < c && !judged; e++) judged = j[e].doc == (int64_t)o;
            if (judged || D->topic_a[o] == D->topic_a[s] || D->topic_b[o] == D->topic_a[s])
                continue;
            j[c++] = (ecb_judgment){(int64_t)o, 0};
            z++;
        }
        qr->judg[q] = ecb_malloc_array(c, sizeof **qr->judg);
        if (!qr->judg[q]) rc = ECB_ENOMEM;
        else memcpy(qr->judg[q], j, c * sizeof *j);
        qr->n_judg[q] = c;
        qr->n_lines += c;
    }
    free(src);
    free(qt);
    free(j);
    if (rc) {
        free(off);
        free(tok);
        return rc;
    }
    *qtok = tok;
    *qoff = off;
    return 0;
}

int ecb_dataset_synthetic_mv(const ecb_synth_mv_params *p, ecb_dataset **out)
{
    *out = NULL;
    size_t topics = p->topics ? p->topics : (p->docs / 20 ? p->docs / 20 : 1);
    if (p->docs < 10 || p->queries < 1 || p->queries > p->docs || p->dim < 2 ||
        p->dim > 4096 || p->min_tokens < 1 || p->min_tokens > p->max_tokens ||
        p->min_query_tokens < 1 || p->min_query_tokens > p->max_query_tokens ||
        topics > p->docs)
        return ecb_fail(ECB_EINVAL, "synthetic-mv: parameters docs=%zu queries=%zu dim=%zu "
                        "topics=%zu tokens=%zu..%zu query tokens=%zu..%zu: expected docs >= 10, "
                        "1 <= queries <= docs, 2 <= dim <= 4096, topics <= docs, 1 <= min <= "
                        "max for both lengths", p->docs, p->queries, p->dim, topics,
                        p->min_tokens, p->max_tokens, p->min_query_tokens, p->max_query_tokens);
    vocab v = {0};
    docs_t D = {0};
    float *qtok = NULL;
    int64_t *qoff = NULL;
    ecb_dataset *d = ecb_calloc(1, sizeof *d);
    ecb_qrels *qr = ecb_calloc(1, sizeof *qr);
    int rc = !d || !qr ? ECB_ENOMEM : 0;
    if (!rc && !(d->mv = ecb_calloc(1, sizeof *d->mv))) rc = ECB_ENOMEM;
    if (!rc) {
        qr->n_queries = p->queries;
        qr->judg = ecb_calloc(p->queries, sizeof *qr->judg);
        qr->n_judg = ecb_calloc(p->queries, sizeof *qr->n_judg);
        if (!qr->judg || !qr->n_judg) rc = ECB_ENOMEM;
    }
    if (!rc) rc = make_vocab(p, topics, &v);
    if (!rc) rc = make_docs(p, topics, &v, &D);
    if (!rc) rc = make_queries(p, &v, &D, &qtok, &qoff, qr);
    if (rc) goto out;
    d->qrels = qr;
    qr = NULL;
    d->sim = ECB_DS_DOT;
    d->name = ecb_strdup("synthetic-mv");
    d->source = ecb_strdup("builtin:synthetic-mv");
    if (!d->name || !d->source) {
        rc = ECB_ENOMEM;
        goto out;
    }
    ecb_mv_side *c = &d->mv->corpus, *q = &d->mv->queries;
    c->n_items = p->docs;
    c->offsets = D.off;
    D.off = NULL;
    c->weights = D.w;
    D.w = NULL;
    q->n_items = p->queries;
    q->offsets = qoff;
    qoff = NULL;
    if ((rc = ecb_vecs_from_memory(D.tok, (size_t)c->offsets[p->docs], p->dim, &c->tokens)))
        goto out;
    D.tok = NULL;
    if ((rc = ecb_vecs_from_memory(qtok, (size_t)q->offsets[p->queries], p->dim, &q->tokens)))
        goto out;
    qtok = NULL;
    rc = ecb_dataset_finish(d);
out:
    free(v.terms);
    free(D.tok);
    free(D.w);
    free(D.off);
    free(D.term);
    free(D.topic_a);
    free(D.topic_b);
    free(D.focus);
    free(qtok);
    free(qoff);
    ecb_qrels_free(qr);
    if (rc) ecb_dataset_free(d);
    else *out = d;
    return rc;
}
