/*
 * The stored tokens of a multi-vector corpus (maxsim.h, ecb_mv_index): the
 * chain's token selection (ECB_METHOD_SELECT stages, e.g. prune), the
 * codes of the kept tokens, and their bit packing at the quantizer's
 * code_bits (kmeans ids at ceil(log2 k) bits), so the index really is the
 * size the results report.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/maxsim.h"

static size_t nz(size_t v) { return v ? v : 1; }

void ecb_mv_index_release(ecb_mv_index *ix)
{
    if (!ix) return;
    free(ix->off);
    free(ix->rows);
    free(ix->packed);
    ecb_vecs_free(ix->kept);
    memset(ix, 0, sizeof *ix);
}

/* ---- bit packing ----------------------------------------------------------- */

int ecb_codes_pack(const uint8_t *codes, size_t n, size_t cs, size_t bits, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * cs;
        for (size_t b = bits; b < 8 * cs; b++)
            if (c[b >> 3] >> (b & 7) & 1)
                return ecb_fail(ECB_EINTERNAL, "code %zu has bit %zu set, beyond the %zu bits "
                                "its method declares (code_bits)", i, b, bits);
        size_t pos = i * bits;
        for (size_t b = 0; b < bits; b++, pos++)
            dst[pos >> 3] |= (uint8_t)((c[b >> 3] >> (b & 7) & 1) << (pos & 7));
    }
    return 0;
}

void ecb_codes_unpack(const uint8_t *packed, size_t t0, size_t n, size_t cs, size_t bits,
                      uint8_t *dst)
{
    memset(dst, 0, n * cs);
    for (size_t i = 0; i < n; i++) {
        size_t pos = (t0 + i) * bits;
        uint8_t *c = dst + i * cs;
        if (bits <= 57) {
            /* the bytes holding the code, read one by one (never past the end) */
            size_t sh = pos & 7, nb = (sh + bits + 7) >> 3;
            uint64_t v = 0;
            for (size_t j = 0; j < nb; j++) v |= (uint64_t)packed[(pos >> 3) + j] << (8 * j);
            v = (v >> sh) & ((UINT64_C(1) << bits) - 1);
            for (size_t j = 0; j < cs && j < 8; j++) c[j] = (uint8_t)(v >> (8 * j));
        } else {
            for (size_t b = 0; b < bits; b++, pos++)
                c[b >> 3] |= (uint8_t)((packed[pos >> 3] >> (pos & 7) & 1) << (b & 7));
        }
    }
}

/* ---- token selection ----------------------------------------------------------- */

int ecb_chain_selects(const ecb_chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->stages[i].plugin->vt.flags & ECB_METHOD_SELECT) return 1;
    return 0;
}

int ecb_chain_is_exact(const ecb_chain *c)
{
    for (size_t i = 0; i + 1 < c->n; i++)
        if (!(c->stages[i].plugin->vt.flags & ECB_METHOD_SELECT)) return 0;
    return c->n > 0 && strcmp(c->stages[c->n - 1].plugin->vt.name, "float32") == 0;
}

/* One selecting stage over every document: rows/off are replaced. */
static int select_stage(const ecb_stage *st, const ecb_mv_side *mv, ecb_ds_similarity sim,
                        uint64_t seed, ecb_mv_index *ix)
{
    size_t d = ecb_vecs_dim(mv->tokens), maxn = 0;
    for (size_t i = 0; i < ix->n_docs; i++)
        if ((size_t)(ix->off[i + 1] - ix->off[i]) > maxn) maxn = (size_t)(ix->off[i + 1] - ix->off[i]);
    ecb_chain one = {(ecb_stage *)st, 1};
    ecb_chain_inst *b = NULL;
    int rc = ecb_chain_inst_create(&one, d, sim == ECB_DS_L2 ? ECB_SIM_L2 : ECB_SIM_DOT, seed, 1,
                                   &b);
    if (rc) return rc;
    const ecb_method *m = ecb_chain_inst_quantizer(b);
    const ecb_method_vtable *vt = &st->plugin->vt;
    float *x = ecb_malloc_array(nz(maxn * d), sizeof *x), *w = ecb_malloc_array(nz(maxn), sizeof *w);
    size_t *keep = ecb_malloc_array(nz(maxn), sizeof *keep);
    size_t *rows = ecb_malloc_array(nz(ix->ntok), sizeof *rows);
    int64_t *off = ecb_malloc_array(ix->n_docs + 1, sizeof *off);
    if (!x || !w || !keep || !rows || !off) rc = ECB_ENOMEM;
    size_t nt = 0;
    for (size_t i = 0; !rc && i < ix->n_docs; i++) {
        size_t a = (size_t)ix->off[i], n = (size_t)ix->off[i + 1] - a, kept = 0;
        const size_t *src = ix->rows ? ix->rows + a : NULL;
        rc = src ? ecb_vecs_read_rows(mv->tokens, src, n, x) : ecb_vecs_read(mv->tokens, a, n, x);
        for (size_t j = 0; !rc && j < n; j++) {
            size_t r = src ? src[j] : a + j;
            if (mv->weights) w[j] = mv->weights[r];
            else {
                double s = 0;
                for (size_t t = 0; t < d; t++) s += (double)x[j * d + t] * x[j * d + t];
                w[j] = (float)sqrt(s);
            }
        }
        if (rc) break;
        if (sim == ECB_DS_COSINE) ecb_normalize_rows(x, n, d);
        off[i] = (int64_t)nt;
        ecb_clear_error();
        if ((rc = vt->select(m, x, w, n, keep, &kept))) {
            rc = ecb_fail(rc, "%s: select on document %zu (%zu tokens): %s", vt->name, i, n,
                          ecb_last_error());
            break;
        }
        if (kept < 1 || kept > n) {
            rc = ecb_fail(ECB_EINTERNAL, "%s: select kept %zu of the %zu tokens of document %zu "
                          "(expected 1..%zu)", vt->name, kept, n, i, n);
            break;
        }
        for (size_t j = 0; j < kept; j++) {
            if (keep[j] >= n || (j && keep[j] <= keep[j - 1])) {
                rc = ecb_fail(ECB_EINTERNAL, "%s: select on document %zu: kept index %zu is %zu "
                              "(expected increasing indices below %zu)", vt->name, i, j, keep[j], n);
                break;
            }
            rows[nt++] = src ? src[keep[j]] : a + keep[j];
        }
    }
    if (!rc) {
        off[ix->n_docs] = (int64_t)nt;
        free(ix->rows);
        free(ix->off);
        ix->rows = rows;
        ix->off = off;
        ix->ntok = nt;
        rows = NULL;
        off = NULL;
    }
    free(rows);
    free(off);
    free(x);
    free(w);
    free(keep);
    ecb_chain_inst_destroy(b);
    return rc;
}

int ecb_mv_select(const ecb_chain *c, const ecb_mv_side *mv, ecb_ds_similarity sim,
                  uint64_t seed, ecb_mv_index *ix)
{
    memset(ix, 0, sizeof *ix);
    ix->n_docs = mv->n_items;
    ix->ntok = (size_t)mv->offsets[mv->n_items];
    if (!(ix->off = ecb_malloc_array(mv->n_items + 1, sizeof *ix->off))) return ECB_ENOMEM;
    memcpy(ix->off, mv->offsets, (mv->n_items + 1) * sizeof *ix->off);
    int rc = 0, others = 0;
    for (size_t i = 0; !rc && i < c->n; i++) {
        const ecb_stage *st = &c->stages[i];
        if (!(st->plugin->vt.flags & ECB_METHOD_SELECT)) {
            others = 1;
            continue;
        }
        if (others) {
            char lab[1200];
            ecb_stage_label(st, 0, lab, sizeof lab);
            rc = ecb_fail(ECB_EINVAL, "%s: token selection must come first in a pipeline (it "
                          "picks among the dataset's tokens, before any transform)", lab);
        } else {
            rc = select_stage(st, mv, sim, seed, ix);
        }
    }
    if (rc) ecb_mv_index_release(ix);
    return rc;
}

int ecb_mv_index_encode(ecb_chain_inst *b, const ecb_mv_side *mv, int normalize,
                        size_t threads, size_t block_rows, ecb_mv_index *ix)
{
    ecb_vecs_free(ix->kept);
    ix->kept = NULL;
    int rc = ix->rows ? ecb_vecs_subset(mv->tokens, ix->rows, ix->ntok, &ix->kept)
                      : (ix->kept = ecb_vecs_ref(mv->tokens), 0);
    if (!rc) rc = ecb_chain_inst_encode(b, ix->kept, normalize, threads, block_rows);
    if (rc) return rc;
    const ecb_method_vtable *vt = ecb_chain_inst_vt(b);
    const ecb_method *m = ecb_chain_inst_quantizer(b);
    ix->code_size = ecb_chain_inst_code_size(b);
    size_t bits = vt->code_bits ? vt->code_bits(m) : 0;
    if (bits > 8 * ix->code_size)
        return ecb_fail(ECB_EINTERNAL, "%s: code_bits %zu exceeds its code size of %zu bytes",
                        vt->name, bits, ix->code_size);
    free(ix->packed);
    ix->packed = NULL;
    ix->codes = ecb_chain_inst_codes(b);
    if (!bits || bits == 8 * ix->code_size) {
        ix->code_bits = 8 * ix->code_size;
        ix->bytes = ix->ntok * ix->code_size;
        return 0;
    }
    ix->code_bits = bits;
    size_t tb;
    if (!ecb_mul_ok(ix->ntok, bits, &tb)) return ecb_fail(ECB_ENOMEM, "packed index overflows");
    ix->bytes = (tb + 7) / 8;
    if (!(ix->packed = ecb_calloc(nz(ix->bytes), 1))) return ECB_ENOMEM;
    if ((rc = ecb_codes_pack(ix->codes, ix->ntok, ix->code_size, bits, ix->packed)) != 0)
        return ecb_fail(rc, "%s: %s", vt->name, ecb_last_error());
    return 0;
}
