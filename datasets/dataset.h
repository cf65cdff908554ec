/*
 * Datasets: vector sources, ids, qrels, ground truth, manifests and the
 * built-in synthetic collection. A dataset never holds a copy of a large
 * vector file: ecb_vecs reads blocks of rows (from an mmap, or generated on
 * the fly), converting to float32.
 */
#ifndef ECB_DATASET_H
#define ECB_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/ecb.h"

typedef enum { ECB_DS_COSINE = 0, ECB_DS_DOT = 1, ECB_DS_L2 = 2 } ecb_ds_similarity;
const char *ecb_similarity_name(ecb_ds_similarity s);
int ecb_similarity_parse(const char *s, ecb_ds_similarity *out);

/* ---- vector sources ---------------------------------------------------- */
typedef struct ecb_vecs ecb_vecs;

/* Open a vector file by extension: .fvecs .ivecs(no) .bvecs .fbin .u8bin
 * .i8bin .npy (float32/float16, C order). The file is memory-mapped and
 * validated (size consistent with header, every fvecs/bvecs row's dim
 * equal). Errors name the file, the row/byte offset, expected and actual. */
int ecb_vecs_open(const char *path, ecb_vecs **out);
/* An in-memory source (takes ownership of data, n*dim floats, malloc'd). */
int ecb_vecs_from_memory(float *data, size_t n, size_t dim, ecb_vecs **out);
/* A source computing rows on demand: gen(ctx, row, out_dim_floats). */
typedef void (*ecb_vecs_gen_fn)(const void *ctx, size_t row, float *out);
int ecb_vecs_generated(size_t n, size_t dim, ecb_vecs_gen_fn gen, const void *ctx,
                       void (*ctx_free)(void *), ecb_vecs **out);
/* A source read through callbacks (the HDF5 reader): read(ctx, start,
 * count, out) fills rows [start, start+count) as float32 (count*dim) and
 * returns 0 or a negative code with ecb_fail; it must be thread-safe.
 * free(ctx) (optional) runs when the source is freed, or at once when
 * this call fails (the source owns ctx either way). label names the
 * source in errors (e.g. "file.hdf5:/train"). Rows are checked finite. */
typedef struct ecb_vecs_reader {
    int (*read)(void *ctx, size_t start, size_t count, float *out);
    void (*free)(void *ctx);
} ecb_vecs_reader;
int ecb_vecs_from_reader(size_t n, size_t dim, const char *label, const ecb_vecs_reader *ops,
                         void *ctx, ecb_vecs **out);
/* A view of rows (subset) of another source: rows[i] is the parent row;
 * keeps parent alive (reference counted). rows is copied. */
int ecb_vecs_subset(ecb_vecs *parent, const size_t *rows, size_t n, ecb_vecs **out);
void ecb_vecs_free(ecb_vecs *v); /* accepts NULL; reference counted */
ecb_vecs *ecb_vecs_ref(ecb_vecs *v);

size_t ecb_vecs_count(const ecb_vecs *v);
size_t ecb_vecs_dim(const ecb_vecs *v);
const char *ecb_vecs_path(const ecb_vecs *v); /* file path or "<memory>" */
/* Copy rows [start, start+count) as float32 into out (count*dim). Thread-safe.
 * Returns ECB_EFORMAT if a value is NaN/Inf (message names file and row). */
int ecb_vecs_read(const ecb_vecs *v, size_t start, size_t count, float *out);
/* Read arbitrary rows. */
int ecb_vecs_read_rows(const ecb_vecs *v, const size_t *rows, size_t count, float *out);
/* Hash of the content (dims, count, every value as float32), for caches.
 * Streams over the source in blocks; the result is memoised. The same
 * vectors in any file format or in memory hash alike; a subset of a source
 * whose hash is already known (declared, or computed before) hashes the
 * parent's hash and its row list instead of reading its rows. */
int ecb_vecs_hash(const ecb_vecs *v, uint64_t *out);
/* Declare the content hash instead of computing it: generated sources set
 * it from their parameters, so a 1M x 768 synthetic corpus is not generated
 * just to be hashed. */
void ecb_vecs_set_hash(ecb_vecs *v, uint64_t h);

/* Integer matrices (ivecs / ibin ground truth): n rows x k int32. */
int ecb_ivecs_load(const char *path, int32_t **data, size_t *n, size_t *k);

/* ---- ids ----------------------------------------------------------------- */
/* One id per line (trailing CR/whitespace stripped, empty lines rejected).
 * Duplicate ids are an error naming both lines. */
int ecb_ids_load(const char *path, char ***ids, size_t *n);
void ecb_ids_free(char **ids, size_t n);

/* ---- qrels ------------------------------------------------------------- */
typedef struct ecb_judgment {
    int64_t doc; /* corpus row, or -1 when the judged doc is not in the corpus */
    int rel;     /* graded relevance (trec_eval: > 0 relevant at level 1) */
} ecb_judgment;

typedef struct ecb_qrels {
    size_t n_queries;        /* = number of query vectors */
    ecb_judgment **judg;     /* judg[q]: n_judg[q] entries (all grades, incl. <= 0), in
                                file order; each judg[q] is its own malloc'd array (NULL
                                when empty), freed by ecb_qrels_free */
    size_t *n_judg;
    size_t n_unknown_query;  /* lines naming a query id not among the queries */
    size_t n_unknown_doc;    /* judgments naming a doc id not in the corpus */
    size_t n_lines;          /* judgment lines read (headers and blank lines excluded) */
} ecb_qrels;

/* Load TREC (`qid iter docid rel`) or BEIR TSV (`query-id\tcorpus-id\tscore`
 * with header) qrels, detected from content. Ids are mapped through the
 * given id lists (ids[i] is the id of row i). Judged docs missing from the
 * corpus are kept with doc = -1 (counted in n_unknown_doc); lines naming an
 * unknown query are skipped (n_unknown_query); one warning summarises both.
 * Malformed lines, non-integer grades and a (query, doc) pair judged twice
 * (trec_eval refuses those too) are errors naming file:line. */
int ecb_qrels_load(const char *path, char *const *query_ids, size_t nq,
                   char *const *doc_ids, size_t nd, ecb_qrels **out);
void ecb_qrels_free(ecb_qrels *q);

/* ---- multi-vector (late interaction) ------------------------------------- */
/* One side of a multi-vector dataset (ColBERT / ColPali style): every token
 * vector of every item (document or query), item after item, and the item
 * boundaries. Item i owns token rows [offsets[i], offsets[i+1]) of tokens;
 * offsets[0] = 0, offsets strictly increase (no item is empty: the MaxSim
 * of an empty item is undefined), offsets[n_items] = ecb_vecs_count(tokens).
 * A token is scored like a single vector: MaxSim(q, d) = sum over q's
 * tokens of the max over d's tokens of the token score. */
typedef struct ecb_mv_side {
    ecb_vecs *tokens;   /* n_tokens x dim, read by blocks like any ecb_vecs (memory-mapped) */
    int64_t *offsets;   /* n_items + 1 prefix offsets (malloc'd) */
    size_t n_items;
    float *weights;     /* one salience per token (n_tokens, finite), or NULL; corpus side only
                           (corpus_token_weights: attention mass, IDF, ...; token pruning) */
} ecb_mv_side;

typedef struct ecb_mvdata {
    ecb_mv_side corpus, queries; /* same dim */
} ecb_mvdata;
void ecb_mvdata_free(ecb_mvdata *m); /* accepts NULL */
/* Offsets of n_off - 1 items over n_tokens tokens: 0 first, strictly
 * increasing, n_tokens last (ECB_EFORMAT naming the index otherwise); what
 * prefixes the message. For anything that builds offsets (token pruning). */
int ecb_mv_check_offsets(const char *what, const int64_t *off, size_t n_off, size_t n_tokens);
/* The multi-vector part of a nested subset (datasets/subset.c): documents
 * rows[0..k) of full, in that order, with their tokens and weights; the
 * queries shared. */
int ecb_mv_subset(const ecb_mvdata *full, const size_t *rows, size_t k, ecb_mvdata **out);
/* Token files of up to 2^26 floats per side are read once into memory as
 * float32 (MaxSim reads them again and again); larger ones keep streaming. */
int ecb_mvdata_keep_in_memory(ecb_mvdata *m);

/* ---- datasets ------------------------------------------------------------- */
typedef struct ecb_dataset {
    char *name;
    char *source;          /* manifest path, or "builtin:synthetic" */
    ecb_ds_similarity sim;
    ecb_vecs *corpus;
    ecb_vecs *queries;
    char **doc_ids;        /* always set: from file, or "0".."n-1" */
    char **query_ids;      /* always set */
    uint32_t *doc_id_rank; /* rank of doc_ids[i] in strcmp order (tie-break) */
    ecb_qrels *qrels;      /* NULL when the dataset has none */
    int32_t *gt;           /* ground truth rows (nq x gt_k), or NULL */
    size_t gt_k;
    char *meta_json;       /* the manifest's free-form "meta" object as compact JSON text
                              (cJSON_PrintUnformatted), or NULL when absent */
    ecb_mvdata *mv;        /* multi-vector dataset ("scoring": "maxsim"): the token sides;
                              corpus and queries are then NULL, and doc_ids, query_ids,
                              qrels, doc_id_rank are per document / query (item). NULL for
                              single-vector datasets. */
} ecb_dataset;

/* Documents, queries and dimension of either kind of dataset. */
size_t ecb_dataset_n_corpus(const ecb_dataset *d);
size_t ecb_dataset_n_queries(const ecb_dataset *d);
size_t ecb_dataset_dim(const ecb_dataset *d);

/* Load a manifest (JSON; paths relative to it). Keys: name (default: the
 * manifest's directory name), corpus, queries, similarity (required),
 * corpus_ids, query_ids, qrels, groundtruth, hdf5 (an ann-benchmarks file
 * instead of corpus, queries and groundtruth; similarity then defaults to
 * its `distance` attribute), meta (any JSON object: model,
 * revision, prefixes, licence..., kept as meta_json), and the consistency
 * fields dim, n_corpus, n_queries. Validates every field: unknown keys (with a "did you
 * mean" hint), malformed JSON (file:line:column), dims of corpus vs queries,
 * counts vs id files, ground-truth rows and values. */
int ecb_dataset_load_manifest(const char *path, ecb_dataset **out);
/* The same; flags ECB_DS_MULTIVECTOR also accepts multi-vector manifests
 * (without it they are ECB_ENOTSUP: a caller that cannot score MaxSim must
 * not receive one). Multi-vector keys: "scoring": "maxsim" (required),
 * corpus_tokens, queries_tokens (any vector format), corpus_offsets,
 * query_offsets (.npy int64, 1-D, n + 1 prefix offsets), optional
 * corpus_token_weights (.npy float32/float16, 1-D, one per corpus token),
 * the checks n_corpus_tokens, n_query_tokens (and dim, n_corpus = documents,
 * n_queries), with ids, qrels, similarity, name and meta as for single
 * vectors; corpus, queries, groundtruth and hdf5 do not apply. */
#define ECB_DS_MULTIVECTOR 1u
int ecb_dataset_load_manifest_ex(const char *path, unsigned flags, ecb_dataset **out);

/* HDF5 files in the ann-benchmarks layout (/train = corpus, /test =
 * queries, /neighbors = ground truth, root attribute `distance`: angular ->
 * cosine, euclidean -> l2, dot -> dot; jaccard/hamming are ECB_ENOTSUP).
 * Vectors are read by blocks (hyperslabs), never whole. The dataset is
 * named after the file (glove-100-angular.hdf5 -> glove-100-angular); ids
 * are the row numbers. A manifest may also point to one with "hdf5" (then
 * with ids, qrels, meta). Without libhdf5 at build time these fail with
 * ECB_ENOTSUP saying so, and ecb_hdf5_available() is 0. */
int ecb_hdf5_available(void);
int ecb_dataset_load_hdf5(const char *path, ecb_dataset **out);
/* The same from a file image in memory (tests, fuzzing); label names it. */
int ecb_dataset_load_hdf5_image(const void *image, size_t size, const char *label,
                                ecb_dataset **out);

/* Synthetic collection (D5); the generative model is described at the top
 * of datasets/synthetic.c. The corpus is an ecb_vecs_generated source (rows
 * computed on demand, content hash declared from the parameters); queries
 * and qrels are built at creation. */
typedef struct ecb_synth_params {
    size_t n;        /* corpus size */
    size_t dim;
    size_t queries;
    size_t clusters; /* 0 = automatic */
    double decay;    /* spectrum decay exponent */
    uint64_t seed;
} ecb_synth_params;
void ecb_synth_defaults(ecb_synth_params *p);
int ecb_dataset_synthetic(const ecb_synth_params *p, ecb_dataset **out);

/* Synthetic multi-vector collection (late interaction; the model is at the
 * top of datasets/synthetic_mv.c): documents of min_tokens..max_tokens
 * unit token vectors, queries of min_query_tokens..max_query_tokens, graded
 * qrels from shared latent terms; similarity dot; d->mv set, kept in memory. */
typedef struct ecb_synth_mv_params {
    size_t docs, queries, dim;
    size_t topics; /* 0 = docs / 20 */
    size_t min_tokens, max_tokens, min_query_tokens, max_query_tokens;
    uint64_t seed;
} ecb_synth_mv_params;
void ecb_synth_mv_defaults(ecb_synth_mv_params *p);
int ecb_dataset_synthetic_mv(const ecb_synth_mv_params *p, ecb_dataset **out);
extern const ecb_param ecb_synth_mv_param_table[];

/* Fill doc_ids/query_ids with "0".."n-1" when absent and compute doc_id_rank. */
int ecb_dataset_finish(ecb_dataset *d);
void ecb_dataset_free(ecb_dataset *d); /* accepts NULL */

/* A nested subset of size rows (datasets/subset.c): every judged document,
 * then documents of a seeded permutation fixed per dataset (so smaller
 * sizes are prefixes of larger ones), rows in their original order, qrels
 * remapped. size == the corpus size gives the identity subset. */
int ecb_dataset_subset(const ecb_dataset *full, size_t size, uint64_t seed, ecb_dataset **out);
/* A copy of src with judged rows mapped through remap (-1: not kept). */
int ecb_qrels_remap(const ecb_qrels *src, const int64_t *remap, ecb_qrels **out);

/* Parameter table of the synthetic generator (n, dim, queries, clusters,
 * decay, seed), parsed like method parameters. */
extern const ecb_param ecb_synth_param_table[];

#endif
