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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* Lanes of a compare result (0 or -1 each) as 4 bits. */
static inline unsigned lane_bits(v4i m)
{
#if defined(__SSE2__)
    return (unsigned)_mm_movemask_ps((__m128)m);
#else
    return (unsigned)((m[0] & 1) | (m[1] & 2) | (m[2] & 4) | (m[3] & 8));
#endif
}

/* Offer row[j] (id xi) to a heap: the common rejections inline. A tie with
 * the root that ranks after it is the common case of integer scores
 * (Hamming): it used to cost a call each. */
static inline void offer(float *s, int64_t *id, size_t *cnt, size_t k, float x, int64_t xi,
                         const uint32_t *id_rank)
{
    if (*cnt == k && !ecb_rank_before(x, xi, s[0], id[0], id_rank)) return;
    ecb_heap_push(s, id, cnt, k, x, xi, id_rank);
}

/* Lane-wise a > b ? a : b (MAXPS: a NaN in a never wins). */
static inline v4f vmax(v4f a, v4f b)
{
#if defined(__SSE2__)
    return (v4f)_mm_max_ps((__m128)a, (__m128)b);
#else
    v4i m = a > b;
    return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
#endif
}

/* Largest k the row floor below is computed for (its sorted array). */
enum { FLOOR_MAX_K = 64 };

/* A lower bound of the k-th best score of row: the k-th largest of the
 * maxima of disjoint groups of its scores (k groups hold a score at least
 * that large, so a score strictly below it cannot be in any top-k that
 * row[] is offered to), or -INFINITY. A group is lane i of 16 consecutive
 * scores read as 4 vectors (scores j+i, j+4+i, j+8+i, j+12+i): its maximum
 * takes lane-wise maxima only, no horizontal step. NaN never becomes a
 * group maximum (a group whose maximum comes out NaN is left out, which
 * only lowers the bound). Offered to a heap that is not full yet, a row
 * used to go through k ln(n/k) insertions, more with ties (Hamming
 * scores), each a sift-down; with the floor, about k. Rows of fewer than
 * 4k blocks of 16 are not worth the extra pass. */
static float row_floor(const float *row, size_t n, size_t k)
{
    if (k == 0 || k > FLOOR_MAX_K || n / 16 < 4 * k) return -INFINITY;
    float top[FLOOR_MAX_K]; /* the largest group maxima so far, descending */
    size_t have = 0;
    float lim = -INFINITY;
    v4f l = {lim, lim, lim, lim};
    for (size_t j = 0; j + 16 <= n; j += 16) {
        v4f x[4];
        memcpy(x, row + j, sizeof x);
        v4f m = vmax(vmax(x[0], x[1]), vmax(x[2], x[3]));
        unsigned bits = lane_bits(m > l); /* also drops NaN */
        if (!bits) continue;
        do {
            unsigned u = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            float g = m[u];
            if (!(g > lim)) continue;
            size_t i = have < k ? have++ : k - 1;
            for (; i > 0 && top[i - 1] < g; i--) top[i] = top[i - 1];
            top[i] = g;
            if (have == k) lim = top[k - 1];
        } while (bits);
        l = (v4f){lim, lim, lim, lim};
    }
    return lim;
}

size_t ecb_heap_push_row(float *s, int64_t *id, size_t *cnt, size_t k, const float *row,
                         size_t n, int64_t id0, const uint32_t *id_rank)
{
    /* Candidates must reach both the heap's worst (once full) and the
     * row's floor. */
    float lo = *cnt < k ? row_floor(row, n, k) : -INFINITY;
    float thr = k > 0 && *cnt == k && s[0] > lo ? s[0] : lo;
    size_t bad = n;
    size_t j = 0;
    /* Most scores lose against the heap's worst: test 16 at a time with
     * vector compares (GCC vector extensions: SSE2 on any x86-64, without
     * them the compiler emitted 16 scalar compares and branches), and visit
     * only the lanes that may enter or are not finite (x - x is 0 only for
     * finite x): a scalar walk over all 16 lanes of a block with one
     * candidate mispredicted a branch per lane. */
    v4f t = {thr, thr, thr, thr};
    for (; j + 16 <= n; j += 16) {
        unsigned bits = 0;
        for (unsigned u = 0; u < 16; u += 4) {
            v4f x;
            memcpy(&x, row + j + u, sizeof x);
            bits |= lane_bits((x >= t) | (x - x != 0.0f)) << u;
        }
        if (!bits) continue;
        do {
            unsigned u = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            float x = row[j + u];
            if (!isfinite(x) && bad == n) bad = j + u;
            if (!(x >= thr) || k == 0) continue; /* also rejects NaN */
            offer(s, id, cnt, k, x, id0 + (int64_t)(j + u), id_rank);
            if (*cnt == k && s[0] > thr) thr = s[0];
        } while (bits);
        t = (v4f){thr, thr, thr, thr};
    }
    for (; j < n; j++) {
        float x = row[j];
        if (!isfinite(x) && bad == n) bad = j;
        if (!(x >= thr) || k == 0) continue;
        offer(s, id, cnt, k, x, id0 + (int64_t)j, id_rank);
        if (*cnt == k && s[0] > thr) thr = s[0];
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
