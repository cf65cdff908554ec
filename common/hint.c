/* "Did you mean" hints for rejected keys and values (edit distance). */
#include <stdint.h>
#include <string.h>

#include "common/ecb.h"

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *ecb_did_you_mean(const char *key, const char *const *cand, size_t n)
{
    size_t best = SIZE_MAX, lim = strlen(key) / 3;
    if (lim < 2) lim = 2;
    const char *hit = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!cand[i]) continue;
        size_t d = edit_distance(key, cand[i]);
        if (d < best) { best = d; hit = cand[i]; }
    }
    return best <= lim ? hit : NULL;
}
