/*
 * Exact float32 ground truth of a dataset's queries, cached on disk (see
 * ecb_groundtruth in harness/search.h): computed once by the exact search
 * of search.c, its winners re-scored in double, and kept keyed by a hash of
 * the vectors, the similarity, k and the id ranks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/search.h"

/* ---- ground truth with an on-disk cache ------------------------------------ */

#define GT_MAGIC "ECBGTRU\n"
#define GT_VERSION 1u
#define GT_ENDIAN 0x01020304u

typedef struct gt_header {
    char magic[8];
    uint32_t version, endian;
    uint32_t sim, pad;
    uint64_t nq, k, n, dim;
    uint64_t corpus_hash, queries_hash, idrank_hash;
    uint64_t payload_hash; /* FNV of counts, scores, ids */
} gt_header;

static uint64_t gt_payload_hash(const ecb_topk *t)
{
    ecb_hash h;
    ecb_hash_init(&h);
    for (size_t q = 0; q < t->nq; q++) {
        uint64_t c = t->count[q];
        ecb_hash_update(&h, &c, sizeof c);
    }
    ecb_hash_update(&h, t->scores, t->nq * t->k * sizeof *t->scores);
    ecb_hash_update(&h, t->ids, t->nq * t->k * sizeof *t->ids);
    return ecb_hash_final(&h);
}

/* 1: loaded, 0: absent or stale (out untouched), < 0: error. */
static int gt_read(const char *path, const gt_header *want, ecb_topk *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    gt_header h;
    ecb_topk t;
    memset(&t, 0, sizeof t);
    int ok = 0;
    if (fread(&h, sizeof h, 1, f) != 1) goto bad;
    if (memcmp(h.magic, GT_MAGIC, 8) || h.version != GT_VERSION || h.endian != GT_ENDIAN)
        goto bad;
    if (h.sim != want->sim || h.nq != want->nq || h.k != want->k || h.n != want->n ||
        h.dim != want->dim || h.corpus_hash != want->corpus_hash ||
        h.queries_hash != want->queries_hash || h.idrank_hash != want->idrank_hash)
        goto bad;
    if (ecb_topk_alloc(&t, (size_t)h.nq, (size_t)h.k)) goto bad;
    for (size_t q = 0; q < t.nq; q++) {
        uint64_t c;
        if (fread(&c, sizeof c, 1, f) != 1 || c > h.k) goto bad;
        t.count[q] = (size_t)c;
    }
    size_t nk = t.nq * t.k;
    if (fread(t.scores, sizeof *t.scores, nk, f) != nk) goto bad;
    if (fread(t.ids, sizeof *t.ids, nk, f) != nk) goto bad;
    if (fgetc(f) != EOF) goto bad; /* trailing bytes */
    if (gt_payload_hash(&t) != h.payload_hash) goto bad;
    for (size_t q = 0; q < t.nq; q++)
        for (size_t i = 0; i < t.k; i++) {
            int64_t id = t.ids[q * t.k + i];
            if (i < t.count[q] ? (id < 0 || (uint64_t)id >= h.n) : id != -1) goto bad;
        }
    ok = 1;
bad:
    fclose(f);
    if (!ok) {
        ecb_topk_release(&t);
        ecb_log(ECB_LOG_WARN, "ground-truth cache '%s' is stale or damaged; recomputing", path);
        return 0;
    }
    *out = t;
    return 1;
}

static int gt_write(const char *path, gt_header *h, const ecb_topk *t)
{
    size_t pl = strlen(path);
    char *tmp = ecb_malloc(pl + 32);
    if (!tmp) return ECB_ENOMEM;
    /* pid and the result's address: unique among concurrent writers */
    snprintf(tmp, pl + 32, "%s.tmp.%ld.%lx", path, (long)getpid(),
             (unsigned long)((uintptr_t)t & 0xffffffffu));
    h->payload_hash = gt_payload_hash(t);
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) ok = fwrite(h, sizeof *h, 1, f) == 1;
    for (size_t q = 0; ok && q < t->nq; q++) {
        uint64_t c = t->count[q];
        ok = fwrite(&c, sizeof c, 1, f) == 1;
    }
    size_t nk = t->nq * t->k;
    if (ok) ok = fwrite(t->scores, sizeof *t->scores, nk, f) == nk;
    if (ok) ok = fwrite(t->ids, sizeof *t->ids, nk, f) == nk;
    if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    int rc = 0;
    if (!ok) {
        rc = ecb_fail(ECB_EIO, "cannot write ground-truth cache '%s': %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return rc;
}

int ecb_groundtruth(const ecb_dataset *ds, size_t k, const char *cache_dir,
                    const ecb_search_opts *o, ecb_topk *out)
{
    const ecb_vecs *c = ds->corpus, *qv = ds->queries;
    size_t n = ecb_vecs_count(c), d = ecb_vecs_dim(c), nq = ecb_vecs_count(qv);
    if (ecb_vecs_dim(qv) != d)
        return ecb_fail(ECB_EINVAL, "ground truth of '%s': query dim %zu != corpus dim %zu",
                        ds->name ? ds->name : "?", ecb_vecs_dim(qv), d);
    gt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, GT_MAGIC, 8);
    h.version = GT_VERSION;
    h.endian = GT_ENDIAN;
    h.sim = (uint32_t)ds->sim;
    h.nq = nq;
    h.k = k;
    h.n = n;
    h.dim = d;
    char *path = NULL;
    int rc;
    if (cache_dir) {
        if ((rc = ecb_vecs_hash(c, &h.corpus_hash)) != 0) return rc;
        if ((rc = ecb_vecs_hash(qv, &h.queries_hash)) != 0) return rc;
        ecb_hash hr;
        ecb_hash_init(&hr);
        if (ds->doc_id_rank) ecb_hash_update(&hr, ds->doc_id_rank, n * sizeof *ds->doc_id_rank);
        h.idrank_hash = ecb_hash_final(&hr);
        ecb_hash key;
        ecb_hash_init(&key);
        ecb_hash_update(&key, &h, sizeof h);
        size_t len = strlen(cache_dir) + 64;
        if (!(path = ecb_malloc(len))) return ECB_ENOMEM;
        snprintf(path, len, "%s/gt-%016llx.bin", cache_dir,
                 (unsigned long long)ecb_hash_final(&key));
        rc = gt_read(path, &h, out);
        if (rc == 1) {
            free(path);
            return 0;
        }
    }
    size_t nqd;
    float *q = NULL, *sc = NULL;
    if (!ecb_mul_ok(nq, d, &nqd) || !(q = ecb_malloc_array(nqd ? nqd : 1, sizeof *q))) {
        rc = ECB_ENOMEM;
        goto out;
    }
    if (nqd && (rc = ecb_vecs_read(qv, 0, nq, q)) != 0) goto out;
    if ((rc = ecb_search_exact(c, q, nq, ds->sim, k, ds->doc_id_rank, o, out)) != 0) goto out;
    /* Re-score the winners in double (ecb_exact_scores), so that the cached
     * scores equal what ecb_exact_scores gives for any retrieved row: kNN
     * recall compares the two. */
    if (!(sc = ecb_malloc_array(k ? k : 1, sizeof *sc))) {
        rc = ECB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nq; i++) {
        size_t cnt = out->count[i];
        if ((rc = ecb_exact_scores(c, ds->sim, q + i * d, out->ids + i * k, cnt, sc)) != 0)
            goto out;
        memcpy(out->scores + i * k, sc, cnt * sizeof *sc);
        ecb_rank_sort(out->scores + i * k, out->ids + i * k, cnt, ds->doc_id_rank);
    }
    if (path) {
        if ((rc = ecb_mkdir_p(cache_dir)) != 0 || (rc = gt_write(path, &h, out)) != 0) {
            /* a cache that cannot be written costs time, not correctness */
            ecb_log(ECB_LOG_WARN, "%s", ecb_last_error());
            rc = 0;
        }
    }
out:
    if (rc) ecb_topk_release(out);
    free(q);
    free(sc);
    free(path);
    return rc;
}
