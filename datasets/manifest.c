/*
 * Dataset manifests: a small JSON object naming the vector files, id files,
 * qrels and ground truth of one dataset, with paths relative to the
 * manifest. Everything is validated when the dataset is loaded, so a sweep
 * never starts on inconsistent data: unknown or duplicate keys, wrong types,
 * missing files, corpus/query dimensions, id counts against vector counts,
 * the optional consistency fields (dim, n_corpus, n_queries), qrels ids and
 * ground-truth rows. "hdf5" names an ann-benchmarks file instead of the
 * corpus, queries and groundtruth (ecb_dataset_load_hdf5 loads one without
 * a manifest). Also the ecb_dataset lifecycle shared with the synthetic
 * collection (ecb_dataset_finish / ecb_dataset_free).
 *
 *   { "name": "cranfield", "corpus": "corpus.fvecs", "queries": "queries.fvecs",
 *     "corpus_ids": "corpus_ids.txt", "query_ids": "query_ids.txt",
 *     "qrels": "qrels.trec", "groundtruth": "gt.ivecs", "similarity": "cosine",
 *     "dim": 256, "n_corpus": 1398, "n_queries": 225,
 *     "meta": {"model": "lsa-256", "licence": "..."} }
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"

static const char *const sim_names[] = {"cosine", "dot", "l2"};

const char *ecb_similarity_name(ecb_ds_similarity s)
{
    return (unsigned)s < 3 ? sim_names[s] : "?";
}

int ecb_similarity_parse(const char *s, ecb_ds_similarity *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, sim_names[i])) {
            *out = (ecb_ds_similarity)i;
            return 0;
        }
    return ecb_fail(ECB_EINVAL, "similarity '%s': expected cosine, dot or l2", s);
}

/* ---- lifecycle ------------------------------------------------------------ */

size_t ecb_dataset_n_corpus(const ecb_dataset *d)
{
    return d->mv ? d->mv->corpus.n_items : ecb_vecs_count(d->corpus);
}

size_t ecb_dataset_n_queries(const ecb_dataset *d)
{
    return d->mv ? d->mv->queries.n_items : ecb_vecs_count(d->queries);
}

size_t ecb_dataset_dim(const ecb_dataset *d)
{
    return d->mv ? ecb_vecs_dim(d->mv->corpus.tokens) : ecb_vecs_dim(d->corpus);
}

void ecb_dataset_free(ecb_dataset *d)
{
    if (!d) return;
    free(d->name);
    free(d->source);
    ecb_ids_free(d->doc_ids, ecb_dataset_n_corpus(d));
    ecb_ids_free(d->query_ids, ecb_dataset_n_queries(d));
    ecb_mvdata_free(d->mv);
    ecb_vecs_free(d->corpus);
    ecb_vecs_free(d->queries);
    free(d->doc_id_rank);
    ecb_qrels_free(d->qrels);
    free(d->gt);
    free(d->meta_json);
    free(d);
}

static int default_ids(size_t n, char ***out)
{
    char **ids = ecb_calloc(n ? n : 1, sizeof *ids);
    if (!ids) return ECB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char b[32];
        snprintf(b, sizeof b, "%zu", i);
        if (!(ids[i] = ecb_strdup(b))) {
            ecb_ids_free(ids, i);
            return ECB_ENOMEM;
        }
    }
    *out = ids;
    return 0;
}

typedef struct {
    const char *s;
    size_t i;
} id_ref;

static int cmp_id_ref(const void *a, const void *b)
{
    return strcmp(((const id_ref *)a)->s, ((const id_ref *)b)->s);
}

int ecb_dataset_finish(ecb_dataset *d)
{
    size_t n = ecb_dataset_n_corpus(d), nq = ecb_dataset_n_queries(d);
    int rc;
    if (!d->doc_ids && (rc = default_ids(n, &d->doc_ids))) return rc;
    if (!d->query_ids && (rc = default_ids(nq, &d->query_ids))) return rc;
    if (n > UINT32_MAX)
        return ecb_fail(ECB_ERANGE, "%s: %zu corpus vectors, at most %u supported", d->source, n,
                        UINT32_MAX);
    free(d->doc_id_rank);
    d->doc_id_rank = ecb_malloc_array(n ? n : 1, sizeof *d->doc_id_rank);
    id_ref *r = ecb_malloc_array(n ? n : 1, sizeof *r);
    if (!d->doc_id_rank || !r) {
        free(r);
        return ECB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) r[i] = (id_ref){d->doc_ids[i], i};
    qsort(r, n, sizeof *r, cmp_id_ref);
    for (size_t i = 0; i < n; i++) d->doc_id_rank[r[i].i] = (uint32_t)i;
    free(r);
    return 0;
}

/* ---- manifest ------------------------------------------------------------- */

static const char *const manifest_keys[] = {
    "name", "corpus", "queries", "corpus_ids", "query_ids", "qrels", "groundtruth",
    "similarity", "dim", "n_corpus", "n_queries", "meta", "hdf5", "scoring", "corpus_tokens",
    "corpus_offsets", "queries_tokens", "query_offsets", "corpus_token_weights",
    "n_corpus_tokens", "n_query_tokens",
};
#define N_MANIFEST_KEYS (sizeof manifest_keys / sizeof *manifest_keys)

/* Re-raise the current error prefixed by the manifest and key. */
static int wrap(int rc, const char *manifest, const char *key)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ecb_last_error());
    return ecb_fail(rc, "%s: \"%s\": %s", manifest, key, msg);
}

static int get_string(const char *path, const cJSON *root, const char *key, int required,
                      const char **out)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (required)
            return ecb_fail(ECB_EFORMAT, "%s: missing required key \"%s\"", path, key);
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring || !*v->valuestring)
        return ecb_fail(ECB_EFORMAT, "%s: key \"%s\": expected a non-empty string", path, key);
    *out = v->valuestring;
    return 0;
}

/* Optional non-negative integer; *present tells whether it was given. */
static int get_count(const char *path, const cJSON *root, const char *key, size_t *out,
                     int *present)
{
    *present = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || x < 1 || x > 9007199254740992.0 || x != floor(x))
        return ecb_fail(ECB_EFORMAT, "%s: key \"%s\": expected a positive integer", path, key);
    *out = (size_t)x;
    *present = 1;
    return 0;
}

static void line_col(const char *buf, const char *at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = buf; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static char *default_name(const char *path)
{
    /* The manifest's directory names the dataset (data/siftsmall/manifest.json). */
    const char *end = strrchr(path, '/');
    if (!end) return ecb_strdup("dataset");
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    size_t l = (size_t)(end - start);
    if (l == 0 || (l == 1 && *start == '.')) return ecb_strdup("dataset");
    char *s = ecb_malloc(l + 1);
    if (s) {
        memcpy(s, start, l);
        s[l] = '\0';
    }
    return s;
}

static int open_vecs(const char *mpath, const char *key, const char *rel, ecb_vecs **out)
{
    char *p = ecb_path_join_rel(mpath, rel);
    if (!p) return ECB_ENOMEM;
    int rc = ecb_vecs_open(p, out);
    free(p);
    return rc ? wrap(rc, mpath, key) : 0;
}

static int load_ids(const char *mpath, const char *key, const char *rel, size_t want,
                    const char *what, char ***out)
{
    char *p = ecb_path_join_rel(mpath, rel);
    if (!p) return ECB_ENOMEM;
    size_t n;
    int rc = ecb_ids_load(p, out, &n);
    if (rc) {
        free(p);
        return wrap(rc, mpath, key);
    }
    if (n != want) {
        ecb_ids_free(*out, n);
        *out = NULL;
        rc = ecb_fail(ECB_EFORMAT, "%s: \"%s\": %s has %zu ids, expected %zu (one per %s)",
                      mpath, key, p, n, want, what);
    }
    free(p);
    return rc;
}

/* Corpus, queries and ground truth from an HDF5 file (or image); given:
 * the manifest's similarity, which must agree with the file's. */
static int take_hdf5(ecb_dataset *d, const char *file, const void *image, size_t size,
                     const ecb_ds_similarity *given)
{
    ecb_hdf5_parts p;
    int rc = ecb_hdf5_open(file, image, size, &p);
    if (rc) return rc;
    if (given && p.has_sim && *given != p.sim)
        rc = ecb_fail(ECB_EFORMAT, "\"similarity\" is %s, but %s's attribute 'distance' means %s",
                      ecb_similarity_name(*given), file, ecb_similarity_name(p.sim));
    else if (!given && !p.has_sim)
        rc = ecb_fail(ECB_EFORMAT, "%s has no attribute 'distance' (angular, euclidean or dot): "
                      "give the similarity in a manifest (\"similarity\")", file);
    if (rc) {
        ecb_hdf5_parts_free(&p);
        return rc;
    }
    d->sim = given ? *given : p.sim;
    d->corpus = p.train;
    d->queries = p.test;
    d->gt = p.neighbors;
    d->gt_k = p.nb_k;
    return 0;
}

static int load_hdf5(const char *label, const void *image, size_t size, ecb_dataset **out)
{
    *out = NULL;
    ecb_dataset *d = ecb_calloc(1, sizeof *d);
    if (!d) return ECB_ENOMEM;
    /* named after the file: glove-100-angular.hdf5 -> glove-100-angular */
    const char *base = strrchr(label, '/');
    base = base ? base + 1 : label;
    d->name = ecb_strdup(base);
    d->source = ecb_strdup(label);
    int rc = !d->name || !d->source ? ECB_ENOMEM : 0;
    char *dot = d->name ? strrchr(d->name, '.') : NULL;
    if (dot && dot != d->name) *dot = '\0';
    if (!rc) rc = take_hdf5(d, label, image, size, NULL);
    if (!rc) rc = ecb_dataset_finish(d);
    if (rc) {
        ecb_dataset_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int ecb_dataset_load_hdf5(const char *path, ecb_dataset **out)
{
    return load_hdf5(path, NULL, 0, out);
}

int ecb_dataset_load_hdf5_image(const void *image, size_t size, const char *label,
                                ecb_dataset **out)
{
    if (!image) {
        *out = NULL;
        return ecb_fail(ECB_EINVAL, "%s: no HDF5 image", label);
    }
    return load_hdf5(label, image, size, out);
}

int ecb_dataset_load_manifest(const char *path, ecb_dataset **out)
{
    return ecb_dataset_load_manifest_ex(path, 0, out);
}

/* The multi-vector keys and "scoring": which kind of dataset the manifest
 * describes, and that it does not mix the kinds. *mv is set when it is
 * multi-vector. */
static int get_mv_keys(const char *path, const cJSON *root, unsigned flags, ecb_mv_keys *k,
                       int *mv)
{
    static const char *const mv_only[] = {"corpus_tokens", "corpus_offsets", "queries_tokens",
                                          "query_offsets", "corpus_token_weights",
                                          "n_corpus_tokens", "n_query_tokens"};
    static const char *const sv_only[] = {"corpus", "queries", "groundtruth", "hdf5"};
    memset(k, 0, sizeof *k);
    *mv = 0;
    const char *scoring;
    int rc = get_string(path, root, "scoring", 0, &scoring);
    if (rc) return rc;
    if (scoring && strcmp(scoring, "maxsim"))
        return ecb_fail(ECB_EFORMAT, "%s: key \"scoring\": expected \"maxsim\" (multi-vector "
                        "late interaction; omit it for single vectors), got \"%s\"", path,
                        scoring);
    *mv = scoring != NULL;
    for (size_t i = 0; i < sizeof mv_only / sizeof *mv_only && !*mv; i++)
        if (cJSON_GetObjectItemCaseSensitive(root, mv_only[i]))
            return ecb_fail(ECB_EFORMAT, "%s: key \"%s\" describes a multi-vector dataset: add "
                            "\"scoring\": \"maxsim\"", path, mv_only[i]);
    if (!*mv) return 0;
    for (size_t i = 0; i < sizeof sv_only / sizeof *sv_only; i++)
        if (cJSON_GetObjectItemCaseSensitive(root, sv_only[i]))
            return ecb_fail(ECB_EFORMAT, "%s: key \"%s\": not with \"scoring\": \"maxsim\" "
                            "(a multi-vector dataset has corpus_tokens, queries_tokens and "
                            "their offsets%s)", path, sv_only[i],
                            !strcmp(sv_only[i], "groundtruth") ? "; exact MaxSim is computed"
                                                               : "");
    if (!(flags & ECB_DS_MULTIVECTOR))
        return ecb_fail(ECB_ENOTSUP, "%s: a multi-vector dataset (\"scoring\": \"maxsim\"): "
                        "this command does not score MaxSim", path);
    if ((rc = get_string(path, root, "corpus_tokens", 1, &k->corpus_tokens)) ||
        (rc = get_string(path, root, "corpus_offsets", 1, &k->corpus_offsets)) ||
        (rc = get_string(path, root, "queries_tokens", 1, &k->queries_tokens)) ||
        (rc = get_string(path, root, "query_offsets", 1, &k->query_offsets)) ||
        (rc = get_string(path, root, "corpus_token_weights", 0, &k->weights)) ||
        (rc = get_count(path, root, "n_corpus_tokens", &k->n_corpus_tokens, &k->has_nct)) ||
        (rc = get_count(path, root, "n_query_tokens", &k->n_query_tokens, &k->has_nqt)))
        return rc;
    return 0;
}

int ecb_dataset_load_manifest_ex(const char *path, unsigned flags, ecb_dataset **out)
{
    *out = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc = ecb_ds_read_text(path, "manifest", (size_t)64 << 20, &text, &len);
    if (rc) return rc;
    if (strlen(text) != len) {
        size_t line, col;
        line_col(text, text + strlen(text), &line, &col);
        rc = ecb_fail(ECB_EFORMAT, "%s:%zu:%zu: NUL byte in the manifest", path, line, col);
        free(text);
        return rc;
    }
    /* len + 1 and require_null_terminated: trailing garbage is an error.
     * The error position comes back through err_at (= cJSON_GetErrorPtr(),
     * without its global state). */
    const char *err_at = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &err_at, 1);
    ecb_dataset *d = NULL;
    if (!root) {
        size_t line, col;
        line_col(text, err_at ? err_at : text, &line, &col);
        const char *at = err_at ? err_at : text;
        int ctx = (int)strcspn(at, "\r\n");
        rc = ecb_fail(ECB_EFORMAT, "%s:%zu:%zu: malformed JSON near '%.*s%s' (expected a "
                      "manifest object of \"key\": value pairs separated by commas)", path, line,
                      col, ctx > 24 ? 24 : ctx, at, ctx > 24 ? "..." : "");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = ecb_fail(ECB_EFORMAT, "%s: expected a JSON object at the top level", path);
        goto out;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        size_t k = 0;
        while (k < N_MANIFEST_KEYS && strcmp(c->string, manifest_keys[k])) k++;
        if (k == N_MANIFEST_KEYS) {
            const char *hint = ecb_did_you_mean(c->string, manifest_keys, N_MANIFEST_KEYS);
            char h[96] = "";
            if (hint) snprintf(h, sizeof h, " (did you mean \"%s\"?)", hint);
            char known[512] = "";
            for (size_t j = 0, off = 0; j < N_MANIFEST_KEYS && off < sizeof known; j++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", j ? ", " : "",
                                        manifest_keys[j]);
            rc = ecb_fail(ECB_EFORMAT, "%s: unknown key \"%s\"%s; known keys: %s", path,
                          c->string, h, known);
            goto out;
        }
        for (const cJSON *e = root->child; e != c; e = e->next)
            if (!strcmp(e->string, c->string)) {
                rc = ecb_fail(ECB_EFORMAT, "%s: key \"%s\" appears twice", path, c->string);
                goto out;
            }
    }

    const char *name, *corpus, *queries, *cids, *qids, *qrels, *gt, *sim, *h5;
    size_t dim = 0, n_corpus = 0, n_queries = 0;
    int has_dim, has_nc, has_nq, mv;
    ecb_mv_keys mk;
    if ((rc = get_mv_keys(path, root, flags, &mk, &mv))) goto out;
    if ((rc = get_string(path, root, "hdf5", 0, &h5))) goto out;
    /* an HDF5 file brings the vectors, the ground truth and (usually) the
     * similarity */
    if ((rc = get_string(path, root, "name", 0, &name)) ||
        (rc = get_string(path, root, "corpus", !h5 && !mv, &corpus)) ||
        (rc = get_string(path, root, "queries", !h5 && !mv, &queries)) ||
        (rc = get_string(path, root, "corpus_ids", 0, &cids)) ||
        (rc = get_string(path, root, "query_ids", 0, &qids)) ||
        (rc = get_string(path, root, "qrels", 0, &qrels)) ||
        (rc = get_string(path, root, "groundtruth", 0, &gt)) ||
        (rc = get_string(path, root, "similarity", !h5, &sim)) ||
        (rc = get_count(path, root, "dim", &dim, &has_dim)) ||
        (rc = get_count(path, root, "n_corpus", &n_corpus, &has_nc)) ||
        (rc = get_count(path, root, "n_queries", &n_queries, &has_nq)))
        goto out;
    if (h5 && (corpus || queries || gt)) {
        rc = ecb_fail(ECB_EFORMAT, "%s: key \"%s\": not with \"hdf5\", whose /train, /test and "
                      "/neighbors are the corpus, queries and ground truth", path,
                      corpus ? "corpus" : queries ? "queries" : "groundtruth");
        goto out;
    }

    d = ecb_calloc(1, sizeof *d);
    if (!d) {
        rc = ECB_ENOMEM;
        goto out;
    }
    if (sim && (rc = ecb_similarity_parse(sim, &d->sim))) {
        rc = wrap(rc, path, "similarity");
        goto out;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    if (meta) {
        /* Free-form (model, revision, prefixes, licence...): only its shape
         * is checked; the run's manifest.json and the report show it. */
        if (!cJSON_IsObject(meta)) {
            rc = ecb_fail(ECB_EFORMAT, "%s: key \"meta\": expected a JSON object (e.g. "
                          "{\"model\": \"...\", \"revision\": \"...\"}), got %s", path,
                          cJSON_IsString(meta) ? "a string" : cJSON_IsArray(meta) ? "an array"
                          : cJSON_IsNull(meta) ? "null" : cJSON_IsBool(meta) ? "a boolean"
                          : "a number");
            goto out;
        }
        if (!(d->meta_json = cJSON_PrintUnformatted(meta))) {
            rc = ecb_fail(ECB_ENOMEM, "%s: out of memory copying \"meta\"", path);
            goto out;
        }
    }
    d->name = name ? ecb_strdup(name) : default_name(path);
    d->source = ecb_strdup(path);
    if (!d->name || !d->source) {
        rc = ECB_ENOMEM;
        goto out;
    }
    if (mv) {
        if ((rc = ecb_mv_load(path, &mk, &d->mv))) goto out;
    } else if (h5) {
        char *p = ecb_path_join_rel(path, h5);
        if (!p) {
            rc = ECB_ENOMEM;
            goto out;
        }
        rc = take_hdf5(d, p, NULL, 0, sim ? &d->sim : NULL);
        free(p);
        if (rc) {
            rc = wrap(rc, path, "hdf5");
            goto out;
        }
    } else if ((rc = open_vecs(path, "corpus", corpus, &d->corpus)) ||
               (rc = open_vecs(path, "queries", queries, &d->queries))) {
        goto out;
    }
    size_t nc = ecb_dataset_n_corpus(d), nq = ecb_dataset_n_queries(d);
    size_t dc = ecb_dataset_dim(d), dq = mv ? dc : ecb_vecs_dim(d->queries);
    /* what the counts are counted in, for the messages below */
    const char *cwhat = mv ? ecb_vecs_path(d->mv->corpus.tokens) : ecb_vecs_path(d->corpus);
    const char *qwhat = mv ? ecb_vecs_path(d->mv->queries.tokens) : ecb_vecs_path(d->queries);
    const char *unit = mv ? "items (documents or queries, by its offsets)" : "vectors";
    if (dc != dq) {
        rc = ecb_fail(ECB_EFORMAT, "%s: dimension mismatch: corpus %s has dim %zu, queries %s "
                      "have dim %zu", path, ecb_vecs_path(d->corpus), dc,
                      ecb_vecs_path(d->queries), dq);
        goto out;
    }
    if (has_dim && dim != dc) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"dim\" is %zu but %s has dim %zu", path, dim, cwhat,
                      dc);
        goto out;
    }
    if (has_nc && n_corpus != nc) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"n_corpus\" is %zu but %s has %zu %s", path,
                      n_corpus, cwhat, nc, unit);
        goto out;
    }
    if (has_nq && n_queries != nq) {
        rc = ecb_fail(ECB_EFORMAT, "%s: \"n_queries\" is %zu but %s has %zu %s", path,
                      n_queries, qwhat, nq, unit);
        goto out;
    }
    if (cids && (rc = load_ids(path, "corpus_ids", cids, nc, mv ? "document" : "corpus vector",
                               &d->doc_ids)))
        goto out;
    if (qids && (rc = load_ids(path, "query_ids", qids, nq, mv ? "query" : "query vector",
                               &d->query_ids)))
        goto out;
    if (qrels && (!cids || !qids))
        ecb_log(ECB_LOG_WARN, "%s: qrels without %s: those ids default to the row numbers "
                "0..n-1, which must be what the qrels use", path,
                !cids && !qids ? "corpus_ids and query_ids" : !cids ? "corpus_ids" : "query_ids");
    if ((rc = ecb_dataset_finish(d))) goto out;

    if (qrels) {
        char *p = ecb_path_join_rel(path, qrels);
        if (!p) {
            rc = ECB_ENOMEM;
            goto out;
        }
        rc = ecb_qrels_load(p, d->query_ids, nq, d->doc_ids, nc, &d->qrels);
        free(p);
        if (rc) {
            rc = wrap(rc, path, "qrels");
            goto out;
        }
    }
    if (gt) {
        char *p = ecb_path_join_rel(path, gt);
        if (!p) {
            rc = ECB_ENOMEM;
            goto out;
        }
        size_t gn, gk;
        rc = ecb_ivecs_load(p, &d->gt, &gn, &gk);
        if (rc) {
            free(p);
            rc = wrap(rc, path, "groundtruth");
            goto out;
        }
        if (gn != nq) {
            rc = ecb_fail(ECB_EFORMAT, "%s: \"groundtruth\": %s has %zu rows, expected %zu (one "
                          "per query)", path, p, gn, nq);
            free(p);
            goto out;
        }
        for (size_t i = 0; i < gn * gk; i++)
            if (d->gt[i] < -1 || (d->gt[i] >= 0 && (size_t)d->gt[i] >= nc)) {
                rc = ecb_fail(ECB_EFORMAT, "%s: \"groundtruth\": %s row %zu, column %zu is %d, "
                              "expected a corpus row in [0, %zu) or -1", path, p, i / gk, i % gk,
                              (int)d->gt[i], nc);
                free(p);
                goto out;
            }
        free(p);
        d->gt_k = gk;
    }
    *out = d;
    d = NULL;
out:
    ecb_dataset_free(d);
    cJSON_Delete(root);
    free(text);
    return rc;
}
