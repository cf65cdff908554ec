/*
 * The one top-k of ecbench, in the one ranking order of DESIGN D4: score
 * descending, ties by the id's rank descending (the rank of the id string in
 * strcmp order when an id_rank table is given, else the row number itself),
 * which is trec_eval's own order. Exact search, the code scan, rescoring,
 * the ground-truth cache and the methods' native searches all rank through
 * these functions, so two paths can never order a tie differently.
 *
 * A bounded top-k is a binary heap whose root is the entry ranking last, so
 * a candidate is compared with the root only. One sift-down (a hole moving
 * towards the leaves) serves replacing the root, heapify and heapsort.
 * Padding (id -1) ranks after every real entry; NaN scores never enter a
 * heap (they have no place in a total order), and ecb_heap_push_row reports
 * non-finite scores so that callers can fail instead of ranking garbage.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* true when (sa, ia) ranks strictly after (sb, ib). */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib, const uint32_t *id_rank)
{
    return ecb_rank_before(sb, ib, sa, ia, id_rank);
}

/* Put (x, xi) into the hole at i of the heap s/id[0, n) (root = worst) and
 * move the hole down until the heap order holds. */
static void sift_down(float *s, int64_t *id, size_t n, size_t i, float x, int64_t xi,
                      const uint32_t *id_rank)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && worse(s[c + 1], id[c + 1], s[c], id[c], id_rank)) c++;
        if (!worse(s[c], id[c], x, xi, id_rank)) break;
        s[i] = s[c];
        id[i] = id[c];
        i = c;
    }
    s[i] = x;
    id[i] = xi;
}

void ecb_heap_push(float *s, int64_t *id, size_t *cnt, size_t k, float x, int64_t xi,
                   const uint32_t *id_rank)
{
    if (isnan(x)) return;
    if (*cnt < k) { /* filling: sift the new entry up */
        size_t i = (*cnt)++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(x, xi, s[p], id[p], id_rank)) break;
            s[i] = s[p];
            id[i] = id[p];
            i = p;
        }
        s[i] = x;
        id[i] = xi;
        return;
    }
    if (k == 0 || !worse(s[0], id[0], x, xi, id_rank)) return;
    sift_down(s, id, *cnt, 0, x, xi, id_rank);
}

size_t ecb_heap_push_row(float *s, int64_t *id, size_t *cnt, size_t k, const float *row,
                         size_t n, int64_t id0, const uint32_t *id_rank)
{
    float thr = k > 0 && *cnt == k ? s[0] : -INFINITY;
    size_t bad = n;
    size_t j = 0;
    /* Most scores lose against the heap's worst: test 16 at a time with
     * vector compares (GCC vector extensions: SSE2 on any x86-64, without
     * them the compiler emitted 16 scalar compares and branches), and look
     * closer only when one of them may enter or is not finite (x - x is 0
     * only for finite x). */
    v4f t = {thr, thr, thr, thr};
    for (; j + 16 <= n; j += 16) {
        v4i m = {0, 0, 0, 0};
        for (size_t u = 0; u < 16; u += 4) {
            v4f x;
            memcpy(&x, row + j + u, sizeof x);
            m |= (x >= t) | (x - x != 0.0f);
        }
        uint64_t w[2];
        memcpy(w, &m, sizeof w);
        if (!(w[0] | w[1])) continue;
        for (size_t u = 0; u < 16; u++) {
            float x = row[j + u];
            if (!isfinite(x) && bad == n) bad = j + u;
            if (!(x >= thr) || k == 0) continue; /* also rejects NaN */
            ecb_heap_push(s, id, cnt, k, x, id0 + (int64_t)(j + u), id_rank);
            if (*cnt == k) thr = s[0];
        }
        t = (v4f){thr, thr, thr, thr};
    }
    for (; j < n; j++) {
        float x = row[j];
        if (!isfinite(x) && bad == n) bad = j;
        if (!(x >= thr) || k == 0) continue;
        ecb_heap_push(s, id, cnt, k, x, id0 + (int64_t)j, id_rank);
        if (*cnt == k) thr = s[0];
    }
    return bad;
}

/* Heapsort: in place, no allocation, O(n log n) in the worst case. Keys are
 * distinct (ids are), so stability does not matter. */
void ecb_rank_sort(float *scores, int64_t *ids, size_t n, const uint32_t *id_rank)
{
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift_down(scores, ids, n, i, scores[i], ids[i], id_rank);
    /* pop the entry ranking last to the end, repeatedly */
    for (size_t end = n - 1; end > 0; end--) {
        float x = scores[end];
        int64_t xi = ids[end];
        scores[end] = scores[0];
        ids[end] = ids[0];
        sift_down(scores, ids, end, 0, x, xi, id_rank);
    }
}

void ecb_heap_finish(float *s, int64_t *id, size_t cnt, size_t k, const uint32_t *id_rank)
{
    ecb_rank_sort(s, id, cnt, id_rank);
    for (size_t i = cnt; i < k; i++) {
        s[i] = -INFINITY;
        id[i] = -1;
    }
}

int ecb_topk_blocked(size_t n, size_t k,
                     void (*get)(void *ctx, size_t j0, size_t nj, float *buf), void *ctx,
                     float *top_s, int64_t *top_i)
{
    enum { BLOCK = 1024 };
    if (k == 0) return 0;
    float *buf = malloc(BLOCK * sizeof *buf);
    if (!buf) return ECB_ENOMEM;
    size_t have = 0;
    for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
        size_t nj = n - j0 < BLOCK ? n - j0 : BLOCK;
        get(ctx, j0, nj, buf);
        ecb_heap_push_row(top_s, top_i, &have, k, buf, nj, (int64_t)j0, NULL);
    }
    free(buf);
    ecb_heap_finish(top_s, top_i, have, k, NULL);
    return 0;
}
