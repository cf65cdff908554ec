/* Stage chains: creation, training, encoding and query preparation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/chain.h"
#include "harness/host.h"
#include "harness/search.h"

#define MAX_STAGES 16

struct ecb_chain_inst {
    const ecb_chain *chain;
    ecb_host hosts[MAX_STAGES];
    ecb_method *m[MAX_STAGES];
    size_t dims[MAX_STAGES + 1]; /* dims[i] = input dim of stage i */
    size_t n;
    size_t code_size;
    uint8_t *codes;              /* n_corpus x code_size */
    size_t mapped;               /* codes' mapping (ecb_big_alloc), 0: malloc */
};

static size_t nz(size_t v) { return v ? v : 1; }

static const ecb_method_vtable *VT(const ecb_chain_inst *b, size_t i)
{
    return &b->chain->stages[i].plugin->vt;
}

static uint64_t mix_seed(uint64_t seed, uint64_t tag)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, &seed, sizeof seed);
    ecb_hash_update(&h, &tag, sizeof tag);
    return ecb_hash_final(&h);
}

void ecb_chain_inst_destroy(ecb_chain_inst *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        if (b->m[i]) VT(b, i)->destroy(b->m[i]);
    ecb_big_free(b->codes, b->mapped);
    free(b);
}

int ecb_chain_inst_create(const ecb_chain *c, size_t dim, ecb_similarity sim, uint64_t seed,
                          size_t threads, ecb_chain_inst **out)
{
    *out = NULL;
    if (c->n == 0 || c->n > MAX_STAGES)
        return ecb_fail(ECB_EINVAL, "a chain has 1 to %d stages, got %zu", MAX_STAGES, c->n);
    ecb_chain_inst *b = ecb_calloc(1, sizeof *b);
    if (!b) return ECB_ENOMEM;
    b->chain = c;
    b->dims[0] = dim;
    for (size_t i = 0; i < c->n; i++) {
        const ecb_method_vtable *vt = &c->stages[i].plugin->vt;
        ecb_host_init(&b->hosts[i], mix_seed(seed, i + 1), threads);
        ecb_clear_error();
        int rc = vt->create(&b->hosts[i], c->stages[i].params, b->dims[i], sim, &b->m[i]);
        b->n = i + 1;
        if (!rc && b->m[i]) b->m[i]->vt = vt;
        if (rc || !b->m[i]) {
            char lab[1200];
            ecb_stage_label(&c->stages[i], 1, lab, sizeof lab);
            b->m[i] = NULL;
            rc = ecb_fail(rc ? rc : ECB_EINTERNAL, "%s with input dimension %zu: %s", lab,
                          b->dims[i], ecb_last_error());
            ecb_chain_inst_destroy(b);
            return rc;
        }
        b->dims[i + 1] = (vt->flags & ECB_METHOD_TRANSFORM) ? vt->out_dim(b->m[i]) : b->dims[i];
        if (b->dims[i + 1] == 0) {
            ecb_chain_inst_destroy(b);
            return ecb_fail(ECB_EINVAL, "%s: output dimension 0", vt->name);
        }
    }
    *out = b;
    return 0;
}

/* Stages [0, last) applied to n rows; *out is x itself when last is 0, else
 * ecb_big_alloc's (*mapped for ecb_big_free): an encode block's output
 * (65,536 rows x 384 floats after pca 384, 100 MB) was faulted in afresh
 * for every block, a third of a 1M-row pca or truncate cell's page faults. */
static int transform_upto(const ecb_chain_inst *b, size_t last, const float *x, size_t n,
                          float **out, size_t *mapped)
{
    const float *cur = x;
    float *owned = NULL;
    size_t omap = 0;
    *mapped = 0;
    for (size_t i = 0; i < last; i++) {
        size_t bytes, ymap;
        float *y = ecb_mul_ok(nz(n), b->dims[i + 1] * sizeof(float), &bytes)
                       ? ecb_big_alloc(bytes, &ymap)
                       : NULL;
        if (!y) { ecb_big_free(owned, omap); return ECB_ENOMEM; }
        ecb_clear_error();
        int rc = VT(b, i)->transform(b->m[i], cur, n, y);
        ecb_big_free(owned, omap);
        if (rc) {
            ecb_big_free(y, ymap);
            return ecb_fail(rc, "%s: transform: %s", VT(b, i)->name, ecb_last_error());
        }
        owned = y;
        omap = ymap;
        cur = y;
    }
    *out = (float *)cur;
    *mapped = omap;
    return 0;
}

int ecb_chain_inst_train(ecb_chain_inst *b, const float *sample, size_t n)
{
    const float *cur = sample;
    float *owned = NULL;
    int rc = 0;
    /* The sample is carried through a transform only for a later stage that
     * trains on it (pca before float32 trains nothing after it). */
    size_t last_train = 0;
    for (size_t i = 0; i < b->n; i++)
        if (VT(b, i)->train) last_train = i;
    for (size_t i = 0; i < b->n && !rc; i++) {
        const ecb_method_vtable *vt = VT(b, i);
        if (vt->train) {
            ecb_clear_error();
            rc = vt->train(b->m[i], cur, n);
            if (rc) {
                rc = ecb_fail(rc, "%s: train on %zu x %zu: %s", vt->name, n, b->dims[i],
                              ecb_last_error());
                break;
            }
        }
        if ((vt->flags & ECB_METHOD_TRANSFORM) && i < last_train) {
            float *y = ecb_malloc_array(nz(n * b->dims[i + 1]), sizeof(float));
            if (!y) { rc = ECB_ENOMEM; break; }
            rc = vt->transform(b->m[i], cur, n, y);
            free(owned);
            owned = y;
            cur = y;
        }
    }
    free(owned);
    return rc;
}

typedef struct {
    ecb_chain_inst *b;
    const ecb_vecs *corpus;
    int normalize;
    size_t n, block;
    float *scratch;  /* one block of input rows per worker, stride floats apart */
    size_t stride;
} enc_job;

/* One block of rows: every row is encoded on its own, so the codes do not
 * depend on how the blocks are spread over threads. */
static int enc_task(void *arg, size_t task, size_t worker)
{
    enc_job *j = arg;
    ecb_chain_inst *b = j->b;
    size_t dim = b->dims[0], last = b->n - 1, s = task * j->block;
    size_t cnt = j->n - s < j->block ? j->n - s : j->block;
    float *x = j->scratch + worker * j->stride;
    int rc = ecb_vecs_read(j->corpus, s, cnt, x);
    if (rc) return rc;
    if (j->normalize) ecb_normalize_rows(x, cnt, dim);
    float *y = NULL;
    size_t ymap;
    if ((rc = transform_upto(b, last, x, cnt, &y, &ymap))) return rc;
    ecb_clear_error();
    rc = VT(b, last)->encode(b->m[last], y, cnt, b->codes + s * b->code_size);
    if (y != x) ecb_big_free(y, ymap);
    if (rc) rc = ecb_fail(rc, "%s: encode rows %zu..%zu: %s", VT(b, last)->name, s, s + cnt - 1,
                          ecb_last_error());
    return rc;
}

int ecb_chain_inst_encode(ecb_chain_inst *b, const ecb_vecs *corpus, int normalize,
                          size_t threads, size_t block)
{
    size_t n = ecb_vecs_count(corpus), bytes;
    b->code_size = VT(b, b->n - 1)->code_size(b->m[b->n - 1]); /* trained by now */
    if (!ecb_mul_ok(n, b->code_size, &bytes))
        return ecb_fail(ECB_ENOMEM, "index of %zu x %zu bytes overflows", n, b->code_size);
    ecb_big_free(b->codes, b->mapped);
    b->codes = ecb_big_alloc(bytes, &b->mapped);
    if (!b->codes) return ECB_ENOMEM;
    if (threads < 1) threads = 1;
    if (block < 1) block = 4096;
    size_t ntasks = (n + block - 1) / block;
    if (threads > ntasks) threads = nz(ntasks);
    /* a worker's rows: no more than the corpus has */
    size_t stride, sb, mapped;
    if (!ecb_mul_ok(n < block ? n : block, b->dims[0], &stride) ||
        !ecb_mul_ok(stride, threads * sizeof(float), &sb))
        return ecb_fail(ECB_ENOMEM, "encode scratch of %zu x %zu floats per thread overflows",
                        n < block ? n : block, b->dims[0]);
    enc_job j = {b, corpus, normalize, n, block, ecb_big_alloc(sb, &mapped), stride};
    if (!j.scratch) return ECB_ENOMEM;
    int rc = ecb_parallel_for(ntasks, threads, enc_task, &j);
    ecb_big_free(j.scratch, mapped);
    return rc;
}

int ecb_chain_inst_prepare(const ecb_chain_inst *b, ecb_mode mode, const float *q, size_t nq,
                           uint8_t **out, size_t *qsize)
{
    size_t last = b->n - 1;
    float *y;
    size_t ymap;
    int rc = transform_upto(b, last, q, nq, &y, &ymap);
    if (rc) return rc;
    *qsize = VT(b, last)->query_size(b->m[last], mode);
    *out = ecb_malloc_array(nz(nq * *qsize), 1);
    if (!*out) rc = ECB_ENOMEM;
    else {
        ecb_clear_error();
        rc = VT(b, last)->prepare(b->m[last], mode, y, nq, *out);
        if (rc) rc = ecb_fail(rc, "%s: prepare: %s", VT(b, last)->name, ecb_last_error());
    }
    if (y != q) ecb_big_free(y, ymap);
    return rc;
}

void ecb_chain_inst_recon(const ecb_chain_inst *b, const float *sample, size_t ns, double *mse,
                          double *cosine)
{
    size_t last = b->n - 1;
    *mse = *cosine = NAN;
    if (!(VT(b, last)->flags & ECB_METHOD_DECODE) || ns == 0) return;
    size_t nr = ns < 4096 ? ns : 4096, d = b->dims[last];
    float *y = NULL, *yh = NULL;
    uint8_t *cd = ecb_malloc_array(nr, nz(b->code_size));
    size_t ymap;
    int rc = transform_upto(b, last, sample, nr, &y, &ymap);
    if (!rc) yh = ecb_malloc_array(nr * d, sizeof(float));
    if (!rc && cd && yh && VT(b, last)->encode(b->m[last], y, nr, cd) == 0 &&
        VT(b, last)->decode(b->m[last], cd, nr, yh) == 0) {
        double se = 0, cs = 0;
        for (size_t i = 0; i < nr; i++) {
            double dot = 0, a2 = 0, b2 = 0;
            for (size_t t = 0; t < d; t++) {
                double a = y[i * d + t], h = yh[i * d + t];
                se += (a - h) * (a - h);
                dot += a * h;
                a2 += a * a;
                b2 += h * h;
            }
            cs += (a2 > 0 && b2 > 0) ? dot / sqrt(a2 * b2) : (a2 == b2 ? 1.0 : 0.0);
        }
        *mse = se / (double)(nr * d);
        *cosine = cs / (double)nr;
    }
    if (!rc && y != sample) ecb_big_free(y, ymap);
    free(yh);
    free(cd);
}

const ecb_method *ecb_chain_inst_quantizer(const ecb_chain_inst *b) { return b->m[b->n - 1]; }
const ecb_method_vtable *ecb_chain_inst_vt(const ecb_chain_inst *b) { return VT(b, b->n - 1); }
size_t ecb_chain_inst_code_size(const ecb_chain_inst *b) { return b->code_size; }
const uint8_t *ecb_chain_inst_codes(const ecb_chain_inst *b) { return b->codes; }

size_t ecb_chain_inst_aux_bytes(const ecb_chain_inst *b)
{
    size_t a = 0;
    for (size_t i = 0; i < b->n; i++)
        if (VT(b, i)->aux_bytes) a += VT(b, i)->aux_bytes(b->m[i]);
    return a;
}
