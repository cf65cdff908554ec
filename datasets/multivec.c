/*
 * Multi-vector (late-interaction) datasets: token vectors plus item
 * offsets, as a manifest names them (ColBERT / ColPali; issue 15):
 *
 *   { "corpus_tokens": "corpus_tokens.npy", "corpus_offsets": "corpus_offsets.npy",
 *     "queries_tokens": "queries_tokens.npy", "query_offsets": "query_offsets.npy",
 *     "corpus_token_weights": "weights.npy", "scoring": "maxsim", "similarity": "dot",
 *     "n_corpus_tokens": 133025, "n_query_tokens": 2337, ... }
 *
 * Tokens are any vector file (memory-mapped, read by blocks); offsets are
 * .npy int64, 1-D, one more than the items, loaded whole (8 bytes per
 * item). Every offsets array is validated before use: first 0, strictly
 * increasing (an empty document or query has no MaxSim), last = the token
 * count; errors name the manifest, the key, the file and the index. The
 * manifest keys themselves are parsed in manifest.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"
#include "ecbench/ecbmath.h"

void ecb_mvdata_free(ecb_mvdata *m)
{
    if (!m) return;
    ecb_mv_side *s[2] = {&m->corpus, &m->queries};
    for (int i = 0; i < 2; i++) {
        ecb_vecs_free(s[i]->tokens);
        free(s[i]->offsets);
        free(s[i]->weights);
    }
    free(m);
}

int ecb_mv_check_offsets(const char *what, const int64_t *off, size_t n_off, size_t n_tokens)
{
    if (n_off < 2)
        return ecb_fail(ECB_EFORMAT, "%s: %zu offsets, expected at least 2 (items + 1: item i "
                        "owns tokens [off[i], off[i+1]))", what, n_off);
    if (off[0] != 0)
        return ecb_fail(ECB_EFORMAT, "%s: offsets[0] is %lld, expected 0", what,
                        (long long)off[0]);
    for (size_t i = 0; i + 1 < n_off; i++) {
        if (off[i + 1] < off[i])
            return ecb_fail(ECB_EFORMAT, "%s: offsets[%zu] = %lld is less than offsets[%zu] = "
                            "%lld: offsets must increase", what, i + 1, (long long)off[i + 1], i,
                            (long long)off[i]);
        if (off[i + 1] == off[i])
            return ecb_fail(ECB_EFORMAT, "%s: item %zu is empty (offsets[%zu] = offsets[%zu] = "
                            "%lld): every document and query needs at least one token", what, i,
                            i, i + 1, (long long)off[i]);
        if ((uint64_t)off[i + 1] > n_tokens)
            return ecb_fail(ECB_EFORMAT, "%s: offsets[%zu] = %lld is past the %zu tokens", what,
                            i + 1, (long long)off[i + 1], n_tokens);
    }
    if ((uint64_t)off[n_off - 1] != n_tokens)
        return ecb_fail(ECB_EFORMAT, "%s: the last offset is %lld, expected the token count %zu "
                        "(every token belongs to an item)", what, (long long)off[n_off - 1],
                        n_tokens);
    return 0;
}

/* Re-raise the current error prefixed by the manifest and key. */
static int wrap(int rc, const char *manifest, const char *key)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ecb_last_error());
    return ecb_fail(rc, "%s: \"%s\": %s", manifest, key, msg);
}

static int load_side(const char *manifest, const char *tkey, const char *trel, const char *okey,
                     const char *orel, ecb_mv_side *s)
{
    char *tp = ecb_path_join_rel(manifest, trel), *op = ecb_path_join_rel(manifest, orel);
    int rc = !tp || !op ? ECB_ENOMEM : 0;
    if (!rc && (rc = ecb_vecs_open(tp, &s->tokens))) rc = wrap(rc, manifest, tkey);
    static const char *const i8[] = {"<i8", NULL};
    void *data = NULL;
    size_t n = 0;
    if (!rc && (rc = ecb_npy_load_1d(op, "item offsets, int64", i8, &data, &n)) < 0)
        rc = wrap(rc, manifest, okey);
    else if (!rc) {
        s->offsets = data;
        char what[4200];
        snprintf(what, sizeof what, "%s: \"%s\": %s (for %s)", manifest, okey, op, tp);
        rc = ecb_mv_check_offsets(what, s->offsets, n, ecb_vecs_count(s->tokens));
        s->n_items = n - 1;
    }
    free(tp);
    free(op);
    return rc;
}

static int load_weights(const char *manifest, const char *rel, ecb_mv_side *s)
{
    char *p = ecb_path_join_rel(manifest, rel);
    if (!p) return ECB_ENOMEM;
    static const char *const fl[] = {"<f4", "<f2", NULL};
    void *data = NULL;
    size_t n = 0, nt = ecb_vecs_count(s->tokens);
    int k = ecb_npy_load_1d(p, "per-token weights", fl, &data, &n), rc = 0;
    if (k < 0) {
        rc = wrap(k, manifest, "corpus_token_weights");
    } else if (n != nt) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"corpus_token_weights\": %s has %zu weights, expected "
                      "%zu (one per corpus token)", manifest, p, n, nt);
    } else if (k == 1) { /* float16: widen in a new array */
        float *w = ecb_malloc_array(n ? n : 1, sizeof *w);
        if (!w) rc = ECB_ENOMEM;
        else ecb_half_decode(data, n, w); /* the toolkit's one conversion */
        free(data);
        data = w;
    }
    float *w = data;
    for (size_t i = 0; !rc && i < n; i++)
        if (!isfinite(w[i]))
            rc = ecb_fail(ECB_EFORMAT, "%s: \"corpus_token_weights\": %s: weight %zu is %s, "
                          "expected a finite number", manifest, p, i, isnan(w[i]) ? "NaN" :
                          "infinite");
    free(p);
    if (rc) {
        free(data);
        return rc;
    }
    s->weights = w;
    return 0;
}

int ecb_mv_load(const char *manifest, const ecb_mv_keys *k, ecb_mvdata **out)
{
    *out = NULL;
    ecb_mvdata *m = ecb_calloc(1, sizeof *m);
    if (!m) return ECB_ENOMEM;
    int rc;
    if ((rc = load_side(manifest, "corpus_tokens", k->corpus_tokens, "corpus_offsets",
                        k->corpus_offsets, &m->corpus)) ||
        (rc = load_side(manifest, "queries_tokens", k->queries_tokens, "query_offsets",
                        k->query_offsets, &m->queries)))
        goto fail;
    size_t dc = ecb_vecs_dim(m->corpus.tokens), dq = ecb_vecs_dim(m->queries.tokens);
    size_t nct = ecb_vecs_count(m->corpus.tokens), nqt = ecb_vecs_count(m->queries.tokens);
    if (dc != dq) {
        rc = ecb_fail(ECB_EFORMAT, "%s: dimension mismatch: corpus tokens %s have dim %zu, query "
                      "tokens %s have dim %zu", manifest, ecb_vecs_path(m->corpus.tokens), dc,
                      ecb_vecs_path(m->queries.tokens), dq);
        goto fail;
    }
    if (k->has_nct && k->n_corpus_tokens != nct) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"n_corpus_tokens\" is %zu but %s has %zu tokens",
                      manifest, k->n_corpus_tokens, ecb_vecs_path(m->corpus.tokens), nct);
        goto fail;
    }
    if (k->has_nqt && k->n_query_tokens != nqt) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"n_query_tokens\" is %zu but %s has %zu tokens",
                      manifest, k->n_query_tokens, ecb_vecs_path(m->queries.tokens), nqt);
        goto fail;
    }
    if (k->weights && (rc = load_weights(manifest, k->weights, &m->corpus))) goto fail;
    *out = m;
    return 0;
fail:
    ecb_mvdata_free(m);
    return rc;
}

/* ---- evaluation helpers (the harness's multi-vector path) ---------------- */

int ecb_mv_subset(const ecb_mvdata *full, const size_t *rows, size_t k, ecb_mvdata **out)
{
    const ecb_mv_side *fc = &full->corpus;
    ecb_mvdata *m = ecb_calloc(1, sizeof *m);
    if (!m) return ECB_ENOMEM;
    ecb_mv_side *c = &m->corpus, *q = &m->queries;
    c->n_items = k;
    c->offsets = ecb_malloc_array(k + 1, sizeof *c->offsets);
    q->n_items = full->queries.n_items;
    q->offsets = ecb_malloc_array(q->n_items + 1, sizeof *q->offsets);
    int rc = c->offsets && q->offsets ? 0 : ECB_ENOMEM;
    size_t nt = 0;
    for (size_t i = 0; !rc && i < k; i++) {
        c->offsets[i] = (int64_t)nt;
        nt += (size_t)(fc->offsets[rows[i] + 1] - fc->offsets[rows[i]]);
    }
    size_t *trow = rc ? NULL : ecb_malloc_array(nt ? nt : 1, sizeof *trow);
    if (!rc && !trow) rc = ECB_ENOMEM;
    if (!rc && fc->weights && !(c->weights = ecb_malloc_array(nt ? nt : 1, sizeof *c->weights)))
        rc = ECB_ENOMEM;
    for (size_t i = 0, t = 0; !rc && i < k; i++)
        for (int64_t r = fc->offsets[rows[i]]; r < fc->offsets[rows[i] + 1]; r++, t++) {
            trow[t] = (size_t)r;
            if (c->weights) c->weights[t] = fc->weights[r];
        }
    if (!rc) {
        c->offsets[k] = (int64_t)nt;
        memcpy(q->offsets, full->queries.offsets, (q->n_items + 1) * sizeof *q->offsets);
        q->tokens = ecb_vecs_ref(full->queries.tokens);
        rc = ecb_vecs_subset(fc->tokens, trow, nt, &c->tokens);
    }
    free(trow);
    if (rc) ecb_mvdata_free(m);
    else *out = m;
    return rc;
}

/* MaxSim reads the tokens again and again (a block scan per cell,
 * candidate documents in any order): a side of up to MV_IN_MEMORY floats is
 * read once as float32 instead of being converted on every read (float16
 * files); larger ones stay memory-mapped and stream. */
#define MV_IN_MEMORY ((size_t)1 << 26)
static int side_in_memory(ecb_mv_side *s)
{
    size_t n = ecb_vecs_count(s->tokens), d = ecb_vecs_dim(s->tokens);
    if (n > MV_IN_MEMORY / (d ? d : 1)) return 0;
    float *x = ecb_malloc_array(n * d > 0 ? n * d : 1, sizeof *x);
    ecb_vecs *v = NULL;
    int rc = x ? ecb_vecs_read(s->tokens, 0, n, x) : ECB_ENOMEM;
    if (!rc) rc = ecb_vecs_from_memory(x, n, d, &v);
    if (rc) {
        free(x);
        return rc;
    }
    ecb_vecs_free(s->tokens);
    s->tokens = v;
    return 0;
}

int ecb_mvdata_keep_in_memory(ecb_mvdata *m)
{
    int rc = side_in_memory(&m->corpus);
    return rc ? rc : side_in_memory(&m->queries);
}
