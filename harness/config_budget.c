/*
 * Budget-targeted cells (DESIGN D6; the VLDB'24 storage-compression
 * study's compress_rate): {"method": "pq", "budget": ["32B", "16x"]} lets
 * the host choose the method's size-determining parameters so that its
 * cost per vector,
 *
 *     code_size + rescoring's bytes / n + (sum of the stages' aux_bytes) / n
 *
 * (the report's budget cost, n the evaluated corpus), is the largest that
 * fits each budget. Generic: only the parameter tables, create(),
 * code_size() and aux_bytes() are used, never a method's name.
 *
 * Which parameters: a plugin's size_params (method.h), in its order, minus
 * those the config writes; without the list, every int/size parameter with
 * a finite range and every enum and bool whose value changes the cost of
 * the written setting (probed; cost-neutral ones such as iteration counts
 * keep their value).
 *
 * The search: ranges of up to 64 values, enums and bools are tried value
 * by value. A longer range is assumed to cost more as its value grows
 * (m sub-vectors, nbits hyperplanes, output dims), except its first value,
 * tried on its own since it is often special ("0 = the input dimension"):
 * the last parameter is searched by bracketing the budget (extrapolation,
 * interpolation, bisection), an earlier one is walked upwards until a
 * value no setting of the later ones fits.
 * Values create() rejects (m not dividing the dimension) are skipped, and
 * 8192 of them in a row end a long range (MAX_RUN). Each evaluation creates
 * the stages from the first one whose parameters changed.
 *
 * Sizes come from untrained instances: a plugin that declares size_params
 * promises they are exact before train() (tests/unit/test_budget_choose.c
 * checks every plugin built here); for one that does not, trained state
 * that grows in train() is not counted, and the cell's measured
 * aux_bytes may put it a little above its budget.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config_impl.h"
#include "harness/host.h"

#define MAX_KNOBS 32
#define MAX_STAGES 16
#define TRY_ALL 64              /* ranges up to this many values are tried value by value */
/* Bounds on one choice: instances created, and values create() rejected
 * (cheap: checked before anything is allocated; a declared range such as
 * pca's dim up to 2^20 has a long invalid stretch above the dimension). */
#define MAX_CREATES 200000
#define MAX_REJECTS 64000000
/* A long range ends after this many values in a row that create() rejects:
 * declared maxima are loose (pq's m up to 65536, pca's dim up to 2^20)
 * and proving every value past the dimension invalid would multiply in a
 * pipeline (truncate>pq). Exact while valid values are never further apart:
 * ranges valid up to the dimension, and divisors of any d <= 16384. */
#define MAX_RUN 8192

enum { ST_INVALID = 0, ST_NOFIT = 1, ST_FIT = 2 };

typedef struct {
    size_t stage;
    const ecb_param *p;
    int64_t lo, hi;   /* integer range, or enum/bool indices */
    int searched;     /* a range too long to try value by value */
    size_t rank;      /* place in the preferred order: stages, then size_params */
} knob;

typedef struct {
    ecb_chain *chain;
    size_t n;               /* corpus the aux bytes are amortised over */
    ecb_similarity sim;
    double extra, budget;
    knob k[MAX_KNOBS];
    size_t nk;
    ecb_host host[MAX_STAGES];
    ecb_method *m[MAX_STAGES];
    size_t dims[MAX_STAGES + 1];
    size_t built;           /* stages [0, built) exist */
    double last;            /* cost of the last setting evaluated */
    int probing;            /* evaluations only measure (knob selection) */
    int found;
    double best;
    int64_t bestv[MAX_KNOBS];
    double smallest;
    size_t creates, rejects;
    int overflow;
} search;

/* The sizing instances' host: a rejected value is routine here, so
 * messages are not even formatted. */
static int quiet_fail(const ecb_host *h, int code, const char *fmt, ...)
{
    (void)h;
    (void)fmt;
    return code;
}

static void quiet_log(const ecb_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static int64_t get_val(const ecb_param *p, const void *params)
{
    const char *f = (const char *)params + p->offset;
    switch (p->type) {
    case ECB_PARAM_INT: return *(const int64_t *)f;
    case ECB_PARAM_SIZE: return (int64_t)*(const size_t *)f;
    default: return *(const int *)f;
    }
}

static void set_val(const ecb_param *p, void *params, int64_t v)
{
    char *f = (char *)params + p->offset;
    switch (p->type) {
    case ECB_PARAM_INT: *(int64_t *)f = v; break;
    case ECB_PARAM_SIZE: *(size_t *)f = (size_t)v; break;
    default: *(int *)f = (int)v; break;
    }
}

static void *params_of(search *s, size_t ki) { return s->chain->stages[s->k[ki].stage].params; }

/* ---- evaluating one setting ------------------------------------------------ */

static void unbuild_to(search *s, size_t keep)
{
    while (s->built > keep) {
        size_t i = --s->built;
        s->chain->stages[i].plugin->vt.destroy(s->m[i]);
        s->m[i] = NULL;
    }
}

/* Stages [built, upto) created; 0, or -1 when one rejects its parameters
 * (the stages before it stay, for the caller to unbuild). */
static int build_to(search *s, size_t upto)
{
    while (s->built < upto) {
        size_t i = s->built;
        const ecb_method_vtable *vt = &s->chain->stages[i].plugin->vt;
        if (s->creates >= MAX_CREATES || s->rejects >= MAX_REJECTS) {
            s->overflow = 1;
            return -1;
        }
        ecb_method *m = NULL;
        int rc = vt->create(&s->host[i], s->chain->stages[i].params, s->dims[i], s->sim, &m);
        if (rc || !m) {
            if (m) vt->destroy(m);
            s->rejects++;
            return -1;
        }
        s->creates++;
        m->vt = vt;
        s->m[i] = m;
        s->built = i + 1;
        size_t od = (vt->flags & ECB_METHOD_TRANSFORM) ? vt->out_dim(m) : s->dims[i];
        if (od == 0) return -1;
        s->dims[i + 1] = od;
    }
    return 0;
}

/* The current setting wins a tie with v when its earliest differing knob,
 * in the preferred order, is larger. */
static int preferred(const search *s, const int64_t *v)
{
    for (size_t r = 0; r < s->nk; r++)
        for (size_t i = 0; i < s->nk; i++) {
            if (s->k[i].rank != r) continue;
            int64_t a = get_val(s->k[i].p, s->chain->stages[s->k[i].stage].params);
            if (a != v[i]) return a > v[i];
        }
    return 0;
}

/* Every stage exists: the cost of this setting, recorded when it fits. */
static int leaf(search *s)
{
    size_t last = s->chain->n - 1;
    size_t aux = 0;
    for (size_t i = 0; i <= last; i++) {
        const ecb_method_vtable *vt = &s->chain->stages[i].plugin->vt;
        if (vt->aux_bytes) aux += vt->aux_bytes(s->m[i]);
    }
    /* summed in the report's order: codes, rescoring, amortised aux */
    double cost = (double)s->chain->stages[last].plugin->vt.code_size(s->m[last]);
    cost += s->extra;
    cost += (double)aux / (double)s->n;
    s->last = cost;
    if (isnan(s->smallest) || cost < s->smallest) s->smallest = cost;
    if (!(cost <= s->budget)) return ST_NOFIT;
    if (!s->probing && (!s->found || cost > s->best || (cost == s->best && preferred(s, s->bestv)))) {
        s->found = 1;
        s->best = cost;
        for (size_t i = 0; i < s->nk; i++) s->bestv[i] = get_val(s->k[i].p, params_of(s, i));
    }
    return ST_FIT;
}

static int values(search *s, size_t ki);

/* Knobs [0, ki) set: the best of the settings of knobs [ki, nk). The
 * stages before every knob still to set are built once for all of them. */
static int level(search *s, size_t ki)
{
    size_t upto = s->chain->n, keep = s->built;
    for (size_t j = ki; j < s->nk; j++)
        if (s->k[j].stage < upto) upto = s->k[j].stage;
    int st = build_to(s, upto) ? ST_INVALID : ki == s->nk ? leaf(s) : values(s, ki);
    unbuild_to(s, keep);
    return st;
}

static int try_value(search *s, size_t ki, int64_t v)
{
    set_val(s->k[ki].p, params_of(s, ki), v);
    return level(s, ki + 1);
}

/* The first value in [a, b] the stages accept (its status in *st), or b + 1
 * (also after MAX_RUN rejected values in a row). */
static int64_t first_valid(search *s, size_t ki, int64_t a, int64_t b, int *st)
{
    for (int64_t v = a; v <= b && v - a < MAX_RUN && !s->overflow; v++)
        if ((*st = try_value(s, ki, v)) != ST_INVALID) return v;
    return b + 1;
}

/* The next value to try in (lo, up) for the last knob: with no upper
 * bound yet, extrapolated from the last two fitting values (at most 64
 * times further: a wrong guess must not create a huge instance); bounded,
 * interpolated between lo and the least value seen too costly (ip); else
 * the middle. */
static int64_t next_probe(const search *s, int64_t lo, double clo, int64_t prev, double cprev,
                          int64_t up, int64_t ip, double cip, int64_t hi, int bisect)
{
    double t;
    if (ip < 0 && up > hi) {
        double slope = prev >= 0 && clo > cprev ? (clo - cprev) / (double)(lo - prev) : 0;
        double cap = 64.0 * (double)lo + 64.0;
        t = slope > 0 ? (double)lo + (s->budget - clo) / slope : cap;
        if (t > cap) t = cap;
        t = ceil(t);
    } else if (!bisect && ip > lo && cip > clo) {
        t = floor((double)lo + (s->budget - clo) * (double)(ip - lo) / (cip - clo));
    } else {
        return lo + (up - lo) / 2;
    }
    if (!(t >= (double)lo + 1)) return lo + 1;
    if (t >= (double)up - 1) return up - 1;
    return (int64_t)t;
}

/* The last knob, a long range: cost assumed non-decreasing in the value
 * past the first one. Invariant: lo fits; no valid value >= up fits. Each
 * try shrinks (lo, up), and the guesses (extrapolation, interpolation,
 * halving when two guesses did not halve the bracket) keep the number of
 * instances created near the boundary small: some plugins take seconds to
 * create a large one (lsh at 4096 bits). */
static int search_last(search *s, size_t ki)
{
    const knob *k = &s->k[ki];
    int agg = try_value(s, ki, k->lo), st = ST_INVALID;
    if (k->lo == k->hi) return agg;
    int64_t lo = first_valid(s, ki, k->lo + 1, k->hi, &st);
    if (lo > k->hi) return agg;
    if (st > agg) agg = st;
    if (st != ST_FIT) return agg;
    double clo = s->last, cprev = NAN, cip = NAN;
    int64_t prev = -1, up = k->hi + 1, ip = -1; /* ip: the least value seen too costly */
    int bisect = 0;
    int64_t width = up - lo; /* two tries ago */
    for (int tries = 0; lo + 1 < up && !s->overflow; tries++) {
        if (tries % 2 == 0) width = up - lo;
        int64_t v = next_probe(s, lo, clo, prev, cprev, up, ip, cip, k->hi, bisect);
        int64_t w = first_valid(s, ki, v, up - 1, &st);
        if (w < up && st == ST_FIT) {
            prev = lo;
            cprev = clo;
            lo = w;
            clo = s->last;
        } else {
            /* [v, w) holds nothing valid and w does not fit, or nothing in
             * [v, up) is valid: either way up = v, so no value is tried twice */
            if (w < up) {
                ip = w;
                cip = s->last;
            }
            up = v;
        }
        /* interpolation creeping (a convex cost): halve instead */
        bisect = tries % 2 == 1 && up - lo > width / 2;
    }
    return agg;
}

/* Every value of knob ki (a long range only up to the first value past
 * its first where nothing fits). */
static int values(search *s, size_t ki)
{
    const knob *k = &s->k[ki];
    if (k->searched && ki + 1 == s->nk) return search_last(s, ki);
    int agg = ST_INVALID;
    int64_t run = 0; /* values rejected in a row */
    for (int64_t v = k->lo; v <= k->hi && !s->overflow; v++) {
        int st = try_value(s, ki, v);
        if (st > agg) agg = st;
        if (k->searched && st == ST_NOFIT && v > k->lo) break;
        run = st == ST_INVALID ? run + 1 : 0;
        if (k->searched && run >= MAX_RUN) break;
    }
    return agg;
}

/* ---- which parameters ------------------------------------------------------ */

static size_t enum_count(const ecb_param *p)
{
    size_t n = 0;
    while (p->enum_values && p->enum_values[n]) n++;
    return n;
}

/* The values a parameter can take as a knob; 0 when it has no finite range. */
static int knob_range(const ecb_param *p, knob *k)
{
    const double lim = 4.0e18;
    switch (p->type) {
    case ECB_PARAM_BOOL: k->lo = 0; k->hi = 1; return 1;
    case ECB_PARAM_ENUM:
        k->lo = 0;
        k->hi = (int64_t)enum_count(p) - 1;
        return k->hi >= 0;
    case ECB_PARAM_INT:
    case ECB_PARAM_SIZE: {
        if (!(p->min <= p->max)) return 0;
        double lo = ceil(p->min), hi = floor(p->max);
        if (p->type == ECB_PARAM_SIZE && lo < 0) lo = 0;
        if (lo < -lim) lo = -lim;
        if (hi > lim) hi = lim;
        if (lo > hi) return 0;
        k->lo = (int64_t)lo;
        k->hi = (int64_t)hi;
        return 1;
    }
    default: return 0;
    }
}

/* Without size_params: does the value of p change the cost of the setting
 * as written? Probed over its values (a long range by doubling steps, and
 * no further once the cost has changed: a large output dimension is not
 * created for nothing). */
static int changes_cost(search *s, size_t stage, const ecb_param *p, const knob *k)
{
    void *params = s->chain->stages[stage].params;
    int64_t saved = get_val(p, params);
    size_t nk = s->nk;
    s->nk = 0; /* the setting as it is: no knob varies */
    double first = NAN;
    int differs = 0;
    int64_t step = 1;
    for (int64_t v = k->lo; v <= k->hi && !differs && !s->overflow;) {
        set_val(p, params, v);
        if (level(s, 0) != ST_INVALID) {
            if (isnan(first)) first = s->last;
            else differs = s->last != first;
        }
        if (k->hi - k->lo < TRY_ALL || v == k->lo) {
            v++;
        } else {
            if (step > k->hi - v) break;
            v += step;
            step = step < ((int64_t)1 << 61) ? 2 * step : step;
        }
    }
    set_val(p, params, saved);
    s->nk = nk;
    return differs;
}

static int add_knob(search *s, size_t stage, const ecb_param *p, const knob *k)
{
    if (s->nk == MAX_KNOBS)
        return ecb_fail(ECB_ERANGE, "a budget can choose at most %d parameters of a chain", MAX_KNOBS);
    s->k[s->nk] = *k;
    s->k[s->nk].stage = stage;
    s->k[s->nk].p = p;
    s->k[s->nk].searched = k->hi - k->lo >= TRY_ALL;
    s->k[s->nk].rank = s->nk;
    s->nk++;
    return 0;
}

/* Search order: short knobs first, then the long ranges (the last of them
 * bisected, which is the cheap way through a long range): a pipeline
 * pca>sq tries each sq bits and bisects pca's dim, instead of walking every
 * dim. Stable, so the preferred order holds within each group. */
static void order_knobs(search *s)
{
    knob tmp[MAX_KNOBS];
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < s->nk; i++)
            if (s->k[i].searched == pass) tmp[n++] = s->k[i];
    memcpy(s->k, tmp, n * sizeof *tmp);
}

static int pick_knobs(search *s)
{
    for (size_t i = 0; i < s->chain->n; i++) {
        const ecb_stage *st = &s->chain->stages[i];
        const ecb_method_vtable *vt = &st->plugin->vt;
        size_t np = ecb_params_count(vt->params);
        if (vt->size_params) {
            for (const char *const *nm = vt->size_params; *nm; nm++)
                for (size_t j = 0; j < np; j++) {
                    knob k;
                    if (strcmp(vt->params[j].name, *nm)) continue;
                    if (j < 64 && ((st->given >> j) & 1)) break; /* written: stays */
                    if (!knob_range(&vt->params[j], &k)) break; /* validated at load */
                    int rc = add_knob(s, i, &vt->params[j], &k);
                    if (rc) return rc;
                    break;
                }
            continue;
        }
        s->probing = 1;
        for (size_t j = 0; j < np; j++) {
            knob k;
            if ((j < 64 && ((st->given >> j) & 1)) || !knob_range(&vt->params[j], &k)) continue;
            if (!changes_cost(s, i, &vt->params[j], &k)) continue;
            int rc = add_knob(s, i, &vt->params[j], &k);
            if (rc) return rc;
        }
        s->probing = 0;
    }
    order_knobs(s);
    return 0;
}

int ecb_budget_choose(ecb_chain *chain, size_t dim, ecb_similarity sim, size_t n_corpus,
                      double extra, double budget, ecb_budget_choice *out)
{
    memset(out, 0, sizeof *out);
    out->smallest = NAN;
    if (chain->n == 0 || chain->n > MAX_STAGES || dim == 0 ||
        (chain->stages[chain->n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM))
        return ecb_fail(ECB_EINVAL, "a budget needs a chain of 1 to %d stages ending in a quantizer "
                        "and a dimension >= 1", MAX_STAGES);
    search *s = ecb_calloc(1, sizeof *s);
    if (!s) return ECB_ENOMEM;
    s->chain = chain;
    s->n = n_corpus ? n_corpus : 1;
    s->sim = sim;
    s->extra = extra;
    s->budget = budget;
    s->smallest = NAN;
    s->dims[0] = dim;
    for (size_t i = 0; i < chain->n; i++) {
        ecb_host_init(&s->host[i], 0x6275646765740000ull + i, 1);
        s->host[i].fail = quiet_fail;
        s->host[i].log = quiet_log;
    }
    /* the written setting, restored when nothing fits */
    int64_t *saved = ecb_calloc(MAX_KNOBS, sizeof *saved);
    int rc = saved ? pick_knobs(s) : ECB_ENOMEM;
    for (size_t i = 0; !rc && i < s->nk; i++) saved[i] = get_val(s->k[i].p, params_of(s, i));
    if (!rc) level(s, 0);
    if (!rc && s->overflow)
        rc = ecb_fail(ECB_ERANGE, "choosing the parameters for a budget needs more than %d "
                      "instances or %d rejected values (declare size_params in the plugin, or "
                      "write some of the parameters in the config)", MAX_CREATES, MAX_REJECTS);
    for (size_t i = 0; !rc && i < s->nk; i++)
        set_val(s->k[i].p, params_of(s, i), s->found ? s->bestv[i] : saved[i]);
    out->found = !rc && s->found;
    out->cost = s->found ? s->best : NAN;
    out->smallest = s->smallest;
    out->creates = s->creates + s->rejects;
    free(saved);
    free(s);
    return rc;
}
