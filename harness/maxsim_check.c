/*
 * The multi-vector part of the plugin conformance checks (called by
 * harness/checkplugin.c, so both `ecbench check-plugin` and the test
 * suite's conformance test run them): MaxSim built by the harness from a
 * method's token scores must agree with MaxSim from one whole score matrix
 * under any document-block and query-batch split, be bit-identical for any
 * thread count, and be the same from packed codes (code_bits) as from the
 * method's own; a token-selecting transform must keep 1..n increasing
 * indices, the same for the same input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/maxsim.h"

/* MaxSim of every (query, document) from one score matrix of every query
 * token against every token: the reference. */
static void reference(const float *all, size_t n, const int64_t *qoff, size_t nq,
                      const int64_t *off, size_t nd, double *ref)
{
    for (size_t q = 0; q < nq; q++)
        for (size_t d = 0; d < nd; d++) {
            double acc = 0;
            for (int64_t t = qoff[q]; t < qoff[q + 1]; t++) {
                float mx = -INFINITY;
                for (int64_t r = off[d]; r < off[d + 1]; r++)
                    if (all[t * n + r] > mx) mx = all[t * n + r];
                acc += mx;
            }
            ref[q * nd + d] = acc;
        }
}

/* Every document of t (k = all documents) within tol of the reference. */
static size_t differ(const ecb_topk *t, const double *ref, const int64_t *qoff, size_t nq,
                     size_t nd)
{
    size_t bad = 0;
    for (size_t q = 0; q < nq; q++) {
        double tol = 1e-4 * (double)(qoff[q + 1] - qoff[q]);
        bad += t->count[q] != nd;
        for (size_t i = 0; i < t->count[q]; i++) {
            double r = ref[q * nd + t->ids[q * nd + i]];
            bad += !(fabs(t->scores[q * nd + i] - r) <= tol * (1 + fabs(r)));
        }
    }
    return bad;
}

static int same(const ecb_topk *a, const ecb_topk *b, size_t nq, size_t nd)
{
    return memcmp(a->scores, b->scores, nq * nd * sizeof *a->scores) == 0 &&
           memcmp(a->ids, b->ids, nq * nd * sizeof *a->ids) == 0;
}

int ecb_maxsim_check(const ecb_method *m, ecb_mode mode, const float *qv, size_t nqv,
                     const uint8_t *codes, size_t n, size_t cs, char *detail, size_t dn)
{
    const ecb_method_vtable *vt = m->vt;
    /* queries of 1, 2, 3, 1, ... of the nqv vectors; documents of 1..9 tokens */
    int64_t *qoff = malloc((nqv + 1) * sizeof *qoff), *off = malloc((n + 1) * sizeof *off);
    size_t nq = 0, nd = 0, qs = vt->query_size(m, mode), bits = 0;
    uint8_t *pq = NULL, *packed = NULL;
    float *all = NULL;
    double *ref = NULL;
    ecb_topk tw = {0}, t1 = {0}, t3 = {0}, tp = {0};
    int rc, fail = 1;
    if (!qoff || !off) goto oom;
    qoff[0] = off[0] = 0;
    for (size_t t = 0; t < nqv; nq++) {
        t += 1 + nq % 3 < nqv - t ? 1 + nq % 3 : nqv - t;
        qoff[nq + 1] = (int64_t)t;
    }
    for (size_t t = 0; t < n; nd++) {
        t += 1 + (nd * 7) % 9 < n - t ? 1 + (nd * 7) % 9 : n - t;
        off[nd + 1] = (int64_t)t;
    }
    ecb_mv_index ix = {.n_docs = nd, .off = off, .ntok = n, .code_size = cs, .code_bits = 8 * cs,
                       .codes = codes, .bytes = n * cs};
    pq = malloc(nqv * qs + 1);
    all = malloc(nqv * n * sizeof *all + 1);
    ref = malloc(nq * nd * sizeof *ref + 1);
    if (!pq || !all || !ref) goto oom;
    ecb_clear_error();
    if ((rc = vt->prepare(m, mode, qv, nqv, pq)) || (rc = vt->score(m, mode, pq, nqv, codes, n, all))) {
        snprintf(detail, dn, "prepare/score of %zu query tokens: %s", nqv, ecb_last_error());
        goto done;
    }
    reference(all, n, qoff, nq, off, nd, ref);
    const ecb_search_opts whole = {1, (size_t)1 << 30, (size_t)1 << 30};
    const ecb_search_opts split1 = {1, 29, 3}, split3 = {3, 29, 3};
    if ((rc = ecb_maxsim_search_codes(m, mode, pq, qoff, nq, &ix, nd, NULL, &whole, &tw)) ||
        (rc = ecb_maxsim_search_codes(m, mode, pq, qoff, nq, &ix, nd, NULL, &split1, &t1)) ||
        (rc = ecb_maxsim_search_codes(m, mode, pq, qoff, nq, &ix, nd, NULL, &split3, &t3))) {
        snprintf(detail, dn, "MaxSim search: %s", ecb_last_error());
        goto done;
    }
    size_t dw = differ(&tw, ref, qoff, nq, nd), ds = differ(&t1, ref, qoff, nq, nd);
    if (dw || ds) {
        snprintf(detail, dn, "%zu queries x %zu documents: MaxSim differs from one score matrix "
                 "for %zu (one block) and %zu (blocks of 29 tokens, batches of 3) documents",
                 nq, nd, dw, ds);
        goto done;
    }
    if (!same(&t1, &t3, nq, nd)) {
        snprintf(detail, dn, "the same blocks give other bytes with 3 threads than with 1");
        goto done;
    }
    bits = vt->code_bits ? vt->code_bits(m) : 0;
    if (bits && bits < 8 * cs) {
        if (!(packed = calloc((n * bits + 7) / 8, 1))) goto oom;
        if ((rc = ecb_codes_pack(codes, n, cs, bits, packed))) {
            snprintf(detail, dn, "code_bits %zu: %s", bits, ecb_last_error());
            goto done;
        }
        ix.packed = packed;
        ix.code_bits = bits;
        if ((rc = ecb_maxsim_search_codes(m, mode, pq, qoff, nq, &ix, nd, NULL, &split3, &tp))) {
            snprintf(detail, dn, "MaxSim over packed codes: %s", ecb_last_error());
            goto done;
        }
        if (!same(&t1, &tp, nq, nd)) {
            snprintf(detail, dn, "codes packed at code_bits %zu give other scores", bits);
            goto done;
        }
    }
    fail = 0;
    snprintf(detail, dn, "%zu queries of 1..3 tokens x %zu documents of 1..9 tokens: one block, "
             "blocks of 29 tokens, 1 and 3 threads%s", nq, nd,
             bits && bits < 8 * cs ? ", packed codes" : "");
    goto done;
oom:
    snprintf(detail, dn, "out of memory for the test data");
done:
    ecb_topk_release(&tw);
    ecb_topk_release(&t1);
    ecb_topk_release(&t3);
    ecb_topk_release(&tp);
    free(packed);
    free(ref);
    free(all);
    free(pq);
    free(qoff);
    free(off);
    return fail;
}

int ecb_select_check(const ecb_method *m, const float *x, char *detail, size_t dn)
{
    float w[50];
    size_t k1[50], k2[50], n1 = 0, n2 = 0;
    for (size_t n = 1; n <= 50; n += 7) {
        for (size_t i = 0; i < n; i++) w[i] = (float)((i * 13) % 17) / 17.0f;
        ecb_clear_error();
        if (m->vt->select(m, x, w, n, k1, &n1) || m->vt->select(m, x, w, n, k2, &n2)) {
            snprintf(detail, dn, "select on %zu tokens: %s", n, ecb_last_error());
            return 1;
        }
        int ok = n1 >= 1 && n1 <= n && n1 == n2 && memcmp(k1, k2, n1 * sizeof *k1) == 0;
        for (size_t i = 0; ok && i < n1; i++) ok = k1[i] < n && (i == 0 || k1[i] > k1[i - 1]);
        if (!ok) {
            snprintf(detail, dn, "select on %zu tokens kept %zu (then %zu): expected 1..%zu "
                     "increasing indices below %zu, the same twice", n, n1, n2, n, n);
            return 1;
        }
    }
    snprintf(detail, dn, "documents of 1..50 tokens: 1..n increasing indices, deterministic");
    return 0;
}
