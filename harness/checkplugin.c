/*
 * The plugin conformance checks (harness/checkplugin.h): what every method
 * must do beyond loading (the registry already checked the ABI range, the
 * name, the hooks its flags require and the parameter table): export one
 * symbol, accept destroy(NULL), train and encode deterministically under a
 * seed, encode rows independently, reconstruct better than the zero vector
 * where it decodes, score in every mode it declares with finite values that
 * do not depend on how the host splits codes into blocks or queries into
 * batches, and handle n = 0 and n = 1; with a score_floor hook, keep its
 * contract under random floors; with a scan_kind hook, give a known kind,
 * the same each time; with score_rows, score ranges bit for bit. Data is
 * allocated to exact sizes, so an ASan build (the test suite's) catches any
 * access past a buffer.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/install.h"
#include "ecbench/ecbmath.h"
#include "harness/checkplugin.h"
#include "harness/elfsyms.h"
#include "harness/host.h"
#include "harness/maxsim.h"
#include "harness/params.h"

/* Dimensions tried, in order, until the default parameters are accepted. */
static const size_t try_dims[] = {64, 128, 96, 256, 768};

typedef struct {
    const ecb_plugin *p;
    const ecb_method_vtable *vt;
    ecb_check_report_fn fn;
    void *ctx;
    const char *prefix; /* "dot", "l2", "dot/symmetric", ... */
    size_t failed;
} checker;

static int report(checker *c, const char *check, ecb_check_status st, const char *fmt, ...)
    ECB_PRINTF(4, 5);
static int report(checker *c, const char *check, ecb_check_status st, const char *fmt, ...)
{
    char name[160], detail[1024];
    if (c->prefix) snprintf(name, sizeof name, "%s: %s", c->prefix, check);
    else snprintf(name, sizeof name, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (st == ECB_CHECK_FAIL) c->failed++;
    c->fn(c->ctx, name, st, detail);
    return st != ECB_CHECK_FAIL;
}

/* Clustered Gaussian data: realistic enough for trained methods. */
static float *make_data(size_t n, size_t d, uint64_t seed, int unit)
{
    float *x = malloc(n * d * sizeof *x);
    float *cent = malloc(16 * d * sizeof *cent);
    if (!x || !cent) {
        free(x);
        free(cent);
        return NULL;
    }
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t i = 0; i < 16 * d; i++) cent[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        size_t c = ecb_rng_below(&r, 16);
        double nn = 0;
        for (size_t t = 0; t < d; t++) {
            x[i * d + t] = cent[c * d + t] + 0.5f * (float)ecb_rng_normal(&r) *
                                                 (float)(1.0 + 3.0 / (1.0 + (double)t));
            nn += (double)x[i * d + t] * x[i * d + t];
        }
        if (unit && nn > 0)
            for (size_t t = 0; t < d; t++) x[i * d + t] /= (float)sqrt(nn);
    }
    free(cent);
    return x;
}

typedef struct {
    ecb_host host;
    ecb_method *m;
    size_t dim, out_dim;
} inst;

/* create() with the default parameters; the params struct is freed right
 * after, as method.h allows, so a plugin keeping the pointer shows up under
 * ASan. */
static int make_inst(const checker *c, inst *in, size_t dim, ecb_similarity sim, uint64_t seed)
{
    memset(in, 0, sizeof *in);
    ecb_host_init(&in->host, seed, 1);
    void *params = calloc(1, c->vt->params_size ? c->vt->params_size : 1);
    if (!params) return ecb_fail(ECB_ENOMEM, "out of memory");
    ecb_params_defaults(c->vt->params, params);
    in->dim = dim;
    ecb_clear_error();
    int rc = c->vt->create(&in->host, params, dim, sim, &in->m);
    free(params);
    if (rc == 0 && !in->m) rc = ecb_fail(ECB_EINTERNAL, "create() returned 0 and no state");
    if (rc == 0) {
        in->m->vt = c->vt; /* as the host does right after create() */
        in->out_dim = (c->vt->flags & ECB_METHOD_TRANSFORM) ? c->vt->out_dim(in->m) : dim;
    }
    return rc;
}

static void free_inst(const checker *c, inst *in)
{
    c->vt->destroy(in->m);
    in->m = NULL;
}

/* First dimension at which the default parameters are accepted, or 0. */
static size_t find_dim(checker *c, ecb_similarity sim)
{
    char tried[128] = "";
    size_t off = 0;
    for (size_t i = 0; i < sizeof try_dims / sizeof *try_dims; i++) {
        inst in;
        if (make_inst(c, &in, try_dims[i], sim, 1) == 0) {
            free_inst(c, &in);
            report(c, "create", ECB_CHECK_PASS, "default parameters accepted at dim %zu",
                   try_dims[i]);
            return try_dims[i];
        }
        int w = snprintf(tried + off, sizeof tried - off, "%s%zu", off ? ", " : "", try_dims[i]);
        if (w > 0 && (size_t)w < sizeof tried - off) off += (size_t)w;
    }
    report(c, "create", ECB_CHECK_FAIL, "default parameters rejected at every dim tried (%s): %s",
           tried, ecb_last_error());
    return 0;
}

/* Two states with the same seed, both trained on x when the plugin trains:
 * the pair every determinism check compares. Returns 0, or -1 after
 * reporting the failure. */
static int make_pair(checker *c, inst *a, inst *b, size_t dim, ecb_similarity sim, uint64_t seed,
                     const float *x, size_t n)
{
    if (make_inst(c, a, dim, sim, seed) || make_inst(c, b, dim, sim, seed)) {
        report(c, "create", ECB_CHECK_FAIL, "seed %llu: %s", (unsigned long long)seed,
               ecb_last_error());
        return -1;
    }
    if (!c->vt->train) {
        report(c, "train", ECB_CHECK_SKIP, "training-free (no train hook)");
        return 0;
    }
    ecb_clear_error();
    if (c->vt->train(a->m, x, n) || c->vt->train(b->m, x, n)) {
        report(c, "train", ECB_CHECK_FAIL, "on %zu x %zu: %s", n, dim, ecb_last_error());
        return -1;
    }
    report(c, "train", ECB_CHECK_PASS, "on %zu x %zu", n, dim);
    return 0;
}

/* ---- exports and parameters ------------------------------------------------ */

static void check_exports(checker *c)
{
    /* the entry symbol the registry resolved: the stem, or the stem without
     * a "lib" prefix when that is what the file exports */
    char entry[300], names[512];
    snprintf(entry, sizeof entry, "ecb_method_%s", c->vt->name);
    size_t count = 0;
    int ours = 0;
    if (ecb_elf_exports(c->p->path, entry, &count, &ours, names, sizeof names) != 0)
        report(c, "exports", ECB_CHECK_FAIL, "%s", ecb_last_error());
    else if (count == 1 && ours == 1)
        report(c, "exports", ECB_CHECK_PASS, "exactly one dynamic symbol, %s", entry);
    else
        report(c, "exports", ECB_CHECK_FAIL,
               "expected exactly one exported symbol, %s; found %zu: %s (build with hidden "
               "visibility and mark only the entry ECB_EXPORT)", entry, count, names);
    c->vt->destroy(NULL);
    report(c, "destroy(NULL)", ECB_CHECK_PASS, "a no-op");
}

static void check_params(checker *c)
{
    if (ecb_params_validate(c->vt->params, c->p->path) != 0)
        report(c, "params", ECB_CHECK_FAIL, "%s", ecb_last_error());
    else
        report(c, "params", ECB_CHECK_PASS, "table of %zu parameters valid (types, enum values, "
               "defaults in range)", ecb_params_count(c->vt->params));
    void *p = calloc(1, c->vt->params_size ? c->vt->params_size : 1);
    cJSON *o = cJSON_Parse("{\"no_such_param_xyz\": 1}");
    if (!p || !o) report(c, "params: unknown key", ECB_CHECK_FAIL, "out of memory");
    else if (ecb_params_fill(c->vt->params, o, p, "check-plugin", c->vt->name) == 0)
        report(c, "params: unknown key", ECB_CHECK_FAIL,
               "expected \"no_such_param_xyz\" to be rejected, it was accepted");
    else if (!strstr(ecb_last_error(), "no_such_param_xyz"))
        report(c, "params: unknown key", ECB_CHECK_FAIL,
               "rejected, but the message does not name the key: %s", ecb_last_error());
    else
        report(c, "params: unknown key", ECB_CHECK_PASS, "rejected, naming the key");
    cJSON_Delete(o);
    free(p);
}

/* ---- transforms ---------------------------------------------------------- */

static void check_transform(checker *c, ecb_similarity sim)
{
    size_t dim = find_dim(c, sim);
    if (!dim) return;
    const size_t n = 600;
    inst a = {0}, b = {0};
    float *x = make_data(n, dim, 7, sim == ECB_SIM_DOT), *ya = NULL, *yb = NULL, *y1 = NULL;
    if (!x) goto oom;
    if (make_pair(c, &a, &b, dim, sim, 99, x, n)) goto done;
    size_t od = a.out_dim;
    if (!report(c, "out_dim", od > 0 && od == b.out_dim ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
                "%zu -> %zu dimensions", dim, od))
        goto done;
    ya = malloc(n * od * sizeof *ya);
    yb = malloc(n * od * sizeof *yb);
    y1 = malloc(od * sizeof *y1);
    if (!ya || !yb || !y1) goto oom;
    ecb_clear_error();
    if (c->vt->transform(a.m, x, n, ya) || c->vt->transform(b.m, x, n, yb)) {
        report(c, "transform", ECB_CHECK_FAIL, "on %zu rows: %s", n, ecb_last_error());
        goto done;
    }
    report(c, "transform deterministic",
           memcmp(ya, yb, n * od * sizeof *ya) == 0 ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
           "two states with the same seed %s", memcmp(ya, yb, n * od * sizeof *ya) == 0
                                                    ? "give identical outputs"
                                                    : "give different outputs");
    size_t bad = 0;
    for (size_t i = 0; i < n * od; i++) bad += !isfinite(ya[i]);
    report(c, "transform finite", bad ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "%zu of %zu output values not finite", bad, n * od);
    /* row independence: transforming one row gives the same values */
    size_t diff = 0;
    if (c->vt->transform(a.m, x + 5 * dim, 1, y1) != 0) diff = od;
    else
        for (size_t t = 0; t < od; t++) diff += !(fabs((double)y1[t] - ya[5 * od + t]) <= 1e-5);
    report(c, "transform rows independent", diff ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "row 5 alone: %zu of %zu values differ from the batch by more than 1e-5", diff, od);
    int rc = c->vt->transform(a.m, x, 0, y1);
    report(c, "transform n = 0", rc == 0 ? ECB_CHECK_PASS : ECB_CHECK_FAIL, "zero rows %s",
           rc == 0 ? "succeed" : "failed");
    if (c->vt->flags & ECB_METHOD_SELECT) { /* multi-vector token selection (maxsim_check.c) */
        char sd[512];
        rc = ecb_select_check(a.m, x, sd, sizeof sd);
        report(c, "select", rc ? ECB_CHECK_FAIL : ECB_CHECK_PASS, "%s", sd);
    }
    goto done;
oom:
    report(c, "memory", ECB_CHECK_FAIL, "out of memory for the test data");
done:
    free(x);
    free(ya);
    free(yb);
    free(y1);
    if (a.m) free_inst(c, &a);
    if (b.m) free_inst(c, &b);
}

/* ---- quantizers ---------------------------------------------------------- */

/* Tolerance of the block- and batch-split comparisons. */
static int close_enough(float a, float b)
{
    return fabs((double)a - b) <= 1e-4 * (1.0 + fabs((double)b));
}

/* score_floor against score()'s s_all (nq x n), floors per query: -inf
 * (no skipping), each row's 10th best (what the host passes for k = 10),
 * a random score of the row, and above or below the whole row. A value
 * written at or above its floor must be score()'s, bit for bit; one below
 * it must stand for a score below it. */
static void check_floor(checker *c, const inst *a, ecb_mode mode, const uint8_t *pq, size_t nq,
                        const uint8_t *codes, size_t n, const float *s_all)
{
    if (!c->vt->score_floor) return;
    float *got = malloc(nq * n * sizeof *got), *fl = malloc(nq * sizeof *fl);
    if (!got || !fl) {
        report(c, "score_floor", ECB_CHECK_FAIL, "out of memory for the test data");
        free(got);
        free(fl);
        return;
    }
    ecb_rng r;
    ecb_rng_seed(&r, 0x666c6f6f72ull);
    size_t wrong = 0, below = 0, total = 0, failed = 0;
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < nq; i++) {
            const float *row = s_all + i * n;
            float mx = -INFINITY, mn = INFINITY, v = row[ecb_rng_below(&r, n)];
            for (size_t j = 0; j < n; j++) {
                mx = row[j] > mx ? row[j] : mx;
                mn = row[j] < mn ? row[j] : mn;
            }
            if (round == 1 && n >= 10) { /* the 10th best: 9 strictly above or tied */
                float t = mx;
                for (int rank = 0; rank < 9; rank++) {
                    float nx = -INFINITY;
                    for (size_t j = 0; j < n; j++) nx = row[j] < t && row[j] > nx ? row[j] : nx;
                    t = nx;
                }
                v = t;
            }
            if (round == 3) v = i % 2 ? nextafterf(mx, INFINITY) : mn;
            fl[i] = round == 0 || i == 0 ? -INFINITY : v;
        }
        if (c->vt->score_floor(a->m, mode, pq, nq, codes, n, fl, got) != 0) {
            failed++;
            continue;
        }
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < n; j++) {
                float want = s_all[i * n + j], g = got[i * n + j];
                total++;
                if (g >= fl[i]) wrong += memcmp(&g, &want, sizeof g) != 0;
                else if (!(g < fl[i]) || !(want < fl[i])) wrong++; /* NaN, or a wrong skip */
                else below++;
            }
    }
    report(c, "score_floor", wrong || failed ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "4 rounds of floors (-inf, 10th best, random, above/below the row): %zu of %zu "
           "values wrong (at or above the floor but not score()'s bits, or below it for a "
           "score that is not), %zu below their floor, %zu calls failed%s%s",
           wrong, total, below, failed, failed ? ": " : "", failed ? ecb_last_error() : "");
    free(got);
    free(fl);
}

/* score_rows: score() on consecutive ranges of r and of 2r codes (the last
 * one shorter) gives score()'s bits over all n codes, as the host's scan by
 * ranges assumes. With RQ queries (the prepared ones repeated): sgemm
 * rounds a score by the call's row count only for more than a few queries. */
enum { RQ = 24 };
static void check_rows(checker *c, const inst *a, ecb_mode mode, const uint8_t *pq, size_t nq,
                       size_t qs, const uint8_t *codes, size_t n, size_t cs)
{
    if (!c->vt->score_rows) return;
    size_t r = c->vt->score_rows(a->m), wrong = 0, failed = 0;
    if (r == 0) {
        report(c, "score_rows", ECB_CHECK_PASS, "0: no promise, whole blocks are scored");
        return;
    }
    size_t r1 = r < n ? r : n, r2 = r < n && 2 * r < n ? 2 * r : n;
    uint8_t *p = malloc(RQ * qs);
    float *all = malloc(RQ * n * sizeof *all), *got = malloc(RQ * r2 * sizeof *got);
    if (!p || !all || !got) {
        report(c, "score_rows", ECB_CHECK_FAIL, "out of memory for the test data");
        goto done;
    }
    for (size_t i = 0; i < RQ; i++) memcpy(p + i * qs, pq + i % nq * qs, qs);
    if (c->vt->score(a->m, mode, p, RQ, codes, n, all) != 0) failed++;
    for (size_t len = r1; !failed && len; len = len == r1 && r2 != r1 ? r2 : 0)
        for (size_t s0 = 0; s0 < n; s0 += len) {
            size_t ns = n - s0 < len ? n - s0 : len;
            if (c->vt->score(a->m, mode, p, RQ, codes + s0 * cs, ns, got) != 0) {
                failed++;
                continue;
            }
            for (size_t i = 0; i < RQ; i++)
                for (size_t j = 0; j < ns; j++)
                    wrong += memcmp(&got[i * ns + j], &all[i * n + s0 + j], sizeof *got) != 0;
        }
    report(c, "score_rows", wrong || failed ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "%d queries x %zu codes scored in ranges of %zu and %zu rows: %zu scores not "
           "score()'s bits, %zu calls failed", RQ, n, r1, r2, wrong, failed);
done:
    free(p);
    free(all);
    free(got);
}

static void check_mode(checker *c, const inst *a, ecb_mode mode, const float *q, size_t nq,
                       const uint8_t *codes, size_t n, size_t cs)
{
    const char *mname = mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric";
    uint32_t need = mode == ECB_MODE_SYMMETRIC ? ECB_METHOD_SYMMETRIC : ECB_METHOD_ASYMMETRIC;
    const char *outer = c->prefix;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s/%s", outer, mname);
    c->prefix = prefix;
    uint8_t *pq = NULL, *p1 = NULL;
    float *s_all = NULL, *s_part = NULL, *s_one = NULL;
    if (!(c->vt->flags & need)) {
        report(c, "score", ECB_CHECK_SKIP, "mode not declared in flags: the runner records such "
               "cells as skipped");
        goto done;
    }
    const size_t h = 1001, qi = 3, dim = a->dim;
    size_t qs = c->vt->query_size(a->m, mode);
    if (!report(c, "query_size", qs > 0 ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
                "%zu bytes per prepared query", qs))
        goto done;
    pq = malloc(nq * qs);
    p1 = malloc(qs);
    s_all = malloc(nq * n * sizeof *s_all);
    s_part = malloc(nq * (n - h) * sizeof *s_part);
    s_one = malloc(n * sizeof *s_one);
    if (!pq || !p1 || !s_all || !s_part || !s_one) {
        report(c, "memory", ECB_CHECK_FAIL, "out of memory for the test data");
        goto done;
    }
    ecb_clear_error();
    if (c->vt->prepare(a->m, mode, q, nq, pq) || c->vt->score(a->m, mode, pq, nq, codes, n, s_all)) {
        report(c, "prepare and score", ECB_CHECK_FAIL, "%zu queries x %zu codes: %s", nq, n,
               ecb_last_error());
        goto done;
    }
    size_t bad = 0;
    for (size_t i = 0; i < nq * n; i++) bad += !isfinite(s_all[i]);
    report(c, "prepare and score", bad ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "%zu queries x %zu codes, %zu scores not finite", nq, n, bad);
    /* block split: scoring rows [h, n) alone gives the same scores */
    size_t diff = 0;
    if (c->vt->score(a->m, mode, pq, nq, codes + h * cs, n - h, s_part) != 0) diff = nq * (n - h);
    else
        for (size_t i = 0; i < nq; i++)
            for (size_t j = h; j < n; j++)
                diff += !close_enough(s_part[i * (n - h) + j - h], s_all[i * n + j]);
    report(c, "block split", diff ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "codes [%zu, %zu) scored alone: %zu of %zu scores differ", h, n, diff, nq * (n - h));
    /* batch split: query 3 alone gives the same scores */
    diff = 0;
    if (c->vt->prepare(a->m, mode, q + qi * dim, 1, p1) ||
        c->vt->score(a->m, mode, p1, 1, codes, n, s_one))
        diff = n;
    else
        for (size_t j = 0; j < n; j++) diff += !close_enough(s_one[j], s_all[qi * n + j]);
    report(c, "batch split", diff ? ECB_CHECK_FAIL : ECB_CHECK_PASS,
           "query %zu prepared and scored alone: %zu of %zu scores differ", qi, diff, n);
    /* a single code, the last one */
    int rc = c->vt->score(a->m, mode, p1, 1, codes + (n - 1) * cs, 1, s_one);
    report(c, "n = 1", rc == 0 && isfinite(s_one[0]) ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
           "one code scored%s", rc ? ": failed" : "");
    check_floor(c, a, mode, pq, nq, codes, n, s_all);
    if (c->vt->scan_kind) {
        int k1 = c->vt->scan_kind(a->m, mode), k2 = c->vt->scan_kind(a->m, mode);
        if (k1 == k2 && (k1 == ECB_SCAN_DEFAULT || k1 == ECB_SCAN_CHEAP || k1 == ECB_SCAN_HEAVY))
            report(c, "scan_kind", ECB_CHECK_PASS, "%s, the same on a second call",
                   k1 == ECB_SCAN_CHEAP ? "cheap" : k1 == ECB_SCAN_HEAVY ? "heavy" : "default");
        else
            report(c, "scan_kind", ECB_CHECK_FAIL,
                   "returned %d, then %d; expected ECB_SCAN_DEFAULT, _CHEAP or _HEAVY (0, 1 or "
                   "2), the same each time",
                   k1, k2);
    }
    check_rows(c, a, mode, pq, nq, qs, codes, n, cs);
    char msd[512]; /* multi-vector: MaxSim built from these scores (maxsim_check.c) */
    rc = ecb_maxsim_check(a->m, mode, q, nq, codes, n, cs, msd, sizeof msd);
    report(c, "maxsim", rc ? ECB_CHECK_FAIL : ECB_CHECK_PASS, "%s", msd);
done:
    free(pq);
    free(p1);
    free(s_all);
    free(s_part);
    free(s_one);
    c->prefix = outer;
}

static void check_quantizer(checker *c, ecb_similarity sim)
{
    size_t dim = find_dim(c, sim);
    if (!dim) return;
    const size_t n = 3000, nq = 5;
    inst a = {0}, b = {0};
    uint8_t *ca = NULL, *cb = NULL, *one = NULL;
    float *xh = NULL;
    float *x = make_data(n, dim, 11, sim == ECB_SIM_DOT), *q = make_data(nq, dim, 12, sim == ECB_SIM_DOT);
    if (!x || !q) goto oom;
    if (make_pair(c, &a, &b, dim, sim, 1234, x, n)) goto done;
    size_t cs = c->vt->code_size(a.m), cs_b = c->vt->code_size(b.m);
    if (!report(c, "code_size", cs > 0 && cs == cs_b ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
                "%zu bytes per vector (a second state: %zu), aux_bytes %zu", cs, cs_b,
                c->vt->aux_bytes(a.m)))
        goto done;
    ca = malloc(n * cs);
    cb = malloc(n * cs);
    one = malloc(cs);
    if (!ca || !cb || !one) goto oom;
    ecb_clear_error();
    if (c->vt->encode(a.m, x, n, ca) || c->vt->encode(b.m, x, n, cb)) {
        report(c, "encode", ECB_CHECK_FAIL, "%zu rows: %s", n, ecb_last_error());
        goto done;
    }
    int same = memcmp(ca, cb, n * cs) == 0;
    report(c, "encode deterministic", same ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
           "two states with the same seed %s", same ? "give identical codes" : "give different codes");
    int rc = c->vt->encode(a.m, x + 17 * dim, 1, one);
    report(c, "encode rows independent", rc == 0 && memcmp(one, ca + 17 * cs, cs) == 0
                                             ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
           "row 17 encoded alone %s", rc ? "failed" : memcmp(one, ca + 17 * cs, cs) == 0
                                                      ? "gives the same bytes"
                                                      : "gives different bytes than in the batch");
    rc = c->vt->encode(a.m, x, 0, cb);
    report(c, "encode n = 0", rc == 0 ? ECB_CHECK_PASS : ECB_CHECK_FAIL, "zero rows %s",
           rc == 0 ? "succeed" : "failed");

    if (c->vt->flags & ECB_METHOD_DECODE) {
        if (!(xh = malloc(n * dim * sizeof *xh))) goto oom;
        double err = 0, ref = 0;
        size_t bad = 0;
        ecb_clear_error();
        if (c->vt->decode(a.m, ca, n, xh) != 0) {
            report(c, "decode", ECB_CHECK_FAIL, "%s", ecb_last_error());
        } else {
            for (size_t i = 0; i < n * dim; i++) {
                bad += !isfinite(xh[i]);
                err += ((double)x[i] - xh[i]) * ((double)x[i] - xh[i]);
                ref += (double)x[i] * x[i];
            }
            /* a reconstruction must beat the zero vector */
            report(c, "decode", !bad && err < ref ? ECB_CHECK_PASS : ECB_CHECK_FAIL,
                   "relative squared error %.4g (must be below 1), %zu values not finite",
                   ref > 0 ? err / ref : err, bad);
        }
    } else {
        report(c, "decode", ECB_CHECK_SKIP, "no ECB_METHOD_DECODE");
    }
    check_mode(c, &a, ECB_MODE_SYMMETRIC, q, nq, ca, n, cs);
    check_mode(c, &a, ECB_MODE_ASYMMETRIC, q, nq, ca, n, cs);
    goto done;
oom:
    report(c, "memory", ECB_CHECK_FAIL, "out of memory for the test data");
done:
    free(x);
    free(q);
    free(ca);
    free(cb);
    free(one);
    free(xh);
    if (a.m) free_inst(c, &a);
    if (b.m) free_inst(c, &b);
}

const char *ecb_check_group_name(ecb_check_group g)
{
    static const char *const names[] = {"exports", "params", "dot", "l2"};
    return (unsigned)g < ECB_CHECKS_N ? names[g] : "?";
}

size_t ecb_check_group_run(const ecb_plugin *p, ecb_check_group g, ecb_check_report_fn fn,
                           void *ctx)
{
    checker c = {p, &p->vt, fn, ctx, NULL, 0};
    int transform = (p->vt.flags & ECB_METHOD_TRANSFORM) != 0;
    switch (g) {
    case ECB_CHECKS_EXPORTS: check_exports(&c); break;
    case ECB_CHECKS_PARAMS: check_params(&c); break;
    case ECB_CHECKS_DOT:
    case ECB_CHECKS_L2: {
        ecb_similarity sim = g == ECB_CHECKS_DOT ? ECB_SIM_DOT : ECB_SIM_L2;
        c.prefix = ecb_check_group_name(g);
        if (transform) check_transform(&c, sim);
        else check_quantizer(&c, sim);
        break;
    }
    default: report(&c, "group", ECB_CHECK_FAIL, "unknown check group %d", (int)g);
    }
    return c.failed;
}

/* ---- `ecbench check-plugin`: each group in a child process --------------- */

typedef struct {
    FILE *out;
    size_t pass, fail, skip;
} tally;

static const char *status_word(ecb_check_status st)
{
    return st == ECB_CHECK_PASS ? "PASS" : st == ECB_CHECK_FAIL ? "FAIL" : "SKIP";
}

static void print_check(tally *t, const char *check, ecb_check_status st, const char *detail)
{
    fprintf(t->out, "  %s  %s: %s\n", status_word(st), check, detail);
    fflush(t->out);
    if (st == ECB_CHECK_PASS) t->pass++;
    else if (st == ECB_CHECK_FAIL) t->fail++;
    else t->skip++;
}

/* In the child: one record per check, "S<TAB>check<TAB>detail\n", tabs and
 * newlines of plugin messages flattened. */
static void child_report(void *ctx, const char *check, ecb_check_status st, const char *detail)
{
    FILE *w = ctx;
    fprintf(w, "%d\t", (int)st);
    for (const char *s = check; *s; s++) fputc(*s == '\t' || *s == '\n' ? ' ' : *s, w);
    fputc('\t', w);
    for (const char *s = detail; *s; s++) fputc(*s == '\t' || *s == '\n' ? ' ' : *s, w);
    fputc('\n', w);
    fflush(w);
}

static void run_group_isolated(const ecb_plugin *p, ecb_check_group g, unsigned timeout_s,
                               tally *t)
{
    const char *gname = ecb_check_group_name(g);
    char what[96];
    snprintf(what, sizeof what, "%s checks", gname);
    int fds[2];
    if (pipe(fds) != 0) {
        print_check(t, what, ECB_CHECK_FAIL, strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        print_check(t, what, ECB_CHECK_FAIL, strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        FILE *w = fdopen(fds[1], "w");
        if (!w) _exit(3);
        alarm(timeout_s);
        ecb_check_group_run(p, g, child_report, w);
        fputs("end\n", w); /* the group ran to its end (a plugin may call exit) */
        fclose(w);
        _exit(0);
    }
    close(fds[1]);
    FILE *r = fdopen(fds[0], "r");
    char *line = NULL;
    size_t cap = 0;
    int ended = 0;
    while (r && getline(&line, &cap, r) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "end") == 0) {
            ended = 1;
            continue;
        }
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2 || (line[0] != '0' && line[0] != '1' && line[0] != '2')) continue;
        *tab1 = *tab2 = '\0';
        print_check(t, tab1 + 1, (ecb_check_status)(line[0] - '0'), tab2 + 1);
    }
    free(line);
    if (r) fclose(r);
    else close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    char msg[200];
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(msg, sizeof msg, "still running after %u s (a hang, or far too slow for %s)",
                 timeout_s, "this small data");
    else if (WIFSIGNALED(status))
        snprintf(msg, sizeof msg, "the plugin crashed: signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (!ended || WEXITSTATUS(status) != 0)
        snprintf(msg, sizeof msg, "the process exited with status %d before the checks ended "
                 "(a crash caught by a sanitizer, or the plugin called exit)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        return;
    print_check(t, what, ECB_CHECK_FAIL, msg);
}

int ecb_check_plugin(const char *path, unsigned timeout_s, FILE *out)
{
    tally t = {out, 0, 0, 0};
    fprintf(out, "ecbench check-plugin %s\n", path);
    ecb_plugin p;
    /* dlopen() searches the library path for a name without '/': mean the file */
    char local[4200];
    if (!strchr(path, '/')) snprintf(local, sizeof local, "./%s", path);
    int rc = ecb_install_preload_toolkit(); /* what a third-party plugin links */
    if (rc == 0) rc = ecb_plugin_open(strchr(path, '/') ? path : local, &p);
    else memset(&p, 0, sizeof p);
    if (rc != 0 || p.rejected) {
        print_check(&t, "load", ECB_CHECK_FAIL, rc ? ecb_last_error() : p.reason);
    } else {
        const uint32_t f = p.vt.flags;
        char detail[512];
        snprintf(detail, sizeof detail,
                 "method \"%s\", ABI %u (this host accepts %u..%u), struct_size %u, %s%s%s%s%s",
                 p.vt.name, p.vt.abi_version, ECB_METHOD_ABI_MIN, ECB_METHOD_ABI_VERSION,
                 p.vt.struct_size, f & ECB_METHOD_TRANSFORM ? "transform" : "quantizer",
                 f & ECB_METHOD_NEEDS_TRAIN ? ", trained" : "",
                 f & ECB_METHOD_SYMMETRIC ? ", symmetric" : "",
                 f & ECB_METHOD_ASYMMETRIC ? ", asymmetric" : "",
                 f & ECB_METHOD_DECODE ? ", decode" : "");
        print_check(&t, "load", ECB_CHECK_PASS, detail);
        for (int g = 0; g < ECB_CHECKS_N; g++)
            run_group_isolated(&p, (ecb_check_group)g, timeout_s ? timeout_s : 300, &t);
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (t.fail)
        fprintf(out, "verdict: FAIL: %s: %zu of %zu checks failed\n", base, t.fail,
                t.pass + t.fail + t.skip);
    else
        fprintf(out, "verdict: PASS: %s conforms (%zu checks passed, %zu skipped)\n", base,
                t.pass, t.skip);
    free(p.path);
    free(p.stem);
    free(p.reason);
    return t.fail ? 1 : 0;
}
