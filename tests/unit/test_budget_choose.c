/*
 * The budget chooser (ecb_budget_choose, harness/config_budget.c): hand-
 * worked tables for sq, pq, lsh, rabitq and the pipeline pca>sq at d = 128
 * and 768, a brute force over every setting of the plugins with short or
 * cheaply rejected ranges, the fallback for plugins that declare no
 * size_params (cost-neutral parameters keep their value), the tie rule,
 * written parameters staying, and the size_params promise (code_size and
 * aux_bytes exact before train) for every plugin built here.
 *
 * The tables: cost = code_size + aux_bytes / N (the report's budget cost,
 * no rescoring), from the formulas the plugins document:
 *   sq       code ceil(bits d / 8), aux 2 d floats (minmax, per dimension)
 *   pq       code ceil(m nbits / 8), m | d, aux 2^nbits d floats
 *   lsh      code ceil(nbits / 8), aux nbits d floats
 *   rabitq   code 2 floats + bits ceil(d / 8), aux d^2 + d floats (1 centroid)
 *   pca>sq   code ceil(bits p / 8), aux p d + 2 p floats (pca dim p; 0 = d)
 * and the largest cost <= the budget (a tie to the larger value of the
 * parameter listed first), worked out by enumerating every setting
 * (python3, a few lines; the grid is small). For example pq, d = 128,
 * budget 32 B: with N = 10^6 the codebooks cost 0.13 B at 8 bits and
 * m = 32 x 7 bits = 28 B + 0.0655 B wins (no m | 128 gives 29..31 B); with
 * N = 10^4 they cost 13.1 B, and m = 16 x 8 bits = 16 B + 13.1072 B wins.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/chain.h"
#include "harness/config.h"
#include "harness/host.h"
#include "harness/registry.h"
#include "testutil.h"

static ecb_registry *reg;

static int setup_reg(void **state)
{
    (void)state;
    const char *d = tu_methods_dir();
    return ecb_registry_load_dirs(&d, 1, &reg);
}

static int teardown_reg(void **state)
{
    (void)state;
    ecb_registry_free(reg);
    return 0;
}

/* A chain of plugins by name, each with params from a JSON object (its
 * keys marked as written); float32 appended after a final transform. */
static ecb_chain chain_of(const char *const *names, const char *const *params, size_t n)
{
    ecb_chain c = {ecb_calloc(n + 1, sizeof(ecb_stage)), n};
    for (size_t i = 0; i < n; i++) {
        const ecb_plugin *p = ecb_registry_find(reg, names[i]);
        assert_non_null(p);
        c.stages[i].plugin = p;
        c.stages[i].params = ecb_calloc(1, p->vt.params_size ? p->vt.params_size : 1);
        ecb_params_defaults(p->vt.params, c.stages[i].params);
        if (params && params[i]) {
            cJSON *o = cJSON_Parse(params[i]);
            assert_non_null(o);
            assert_int_equal(ecb_params_fill(p->vt.params, o, c.stages[i].params, "t", names[i]), 0);
            for (const cJSON *it = o->child; it; it = it->next)
                for (size_t k = 0; p->vt.params[k].name; k++)
                    if (!strcmp(p->vt.params[k].name, it->string)) c.stages[i].given |= 1ull << k;
            cJSON_Delete(o);
        }
    }
    if (c.stages[n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM) {
        c.stages[n].plugin = ecb_registry_find(reg, "float32");
        c.stages[n].params = ecb_calloc(1, 1);
        c.n++;
    }
    return c;
}

static int64_t param_value(const ecb_chain *c, size_t stage, const char *name)
{
    const ecb_param *p = c->stages[stage].plugin->vt.params;
    for (; p->name; p++)
        if (!strcmp(p->name, name)) {
            const char *f = (const char *)c->stages[stage].params + p->offset;
            if (p->type == ECB_PARAM_SIZE) return (int64_t)*(const size_t *)f;
            if (p->type == ECB_PARAM_INT) return *(const int64_t *)f;
            return *(const int *)f;
        }
    fail_msg("no parameter %s", name);
    return -1;
}

static double budget_bytes(const char *b, size_t dim)
{
    cJSON *v = cJSON_CreateString(b);
    ecb_budget_target t;
    assert_int_equal(ecb_budget_target_parse(v, &t), 0);
    cJSON_Delete(v);
    return ecb_budget_target_bytes(&t, dim);
}

/* ---- hand-worked tables ------------------------------------------------------ */

typedef struct {
    const char *method; /* "sq", "pq", "lsh", "rabitq", "pca>sq" */
    const char *params; /* written parameters of the (last) stage, or NULL */
    size_t d, n;
    const char *budget;
    const char *p1, *p2; /* the chosen parameters (p2 may be NULL) */
    int64_t v1, v2;      /* their values; v1 < 0: nothing fits */
    double cost;         /* of the choice; with v1 < 0 the smallest cost */
} row;

static const row table[] = {
    /* sq: 16 bits B per dimension at d = 128 plus 1024 B of ranges */
    {"sq", NULL, 128, 1000000, "4x", "bits", NULL, 7, 0, 112.001024},
    {"sq", NULL, 128, 1000000, "8x", "bits", NULL, 3, 0, 48.001024},
    {"sq", NULL, 128, 1000000, "16x", "bits", NULL, 1, 0, 16.001024},
    {"sq", NULL, 128, 1000000, "32x", "bits", NULL, -1, 0, 16.001024},
    {"sq", NULL, 128, 10000, "100B", "bits", NULL, 6, 0, 96.1024},
    {"sq", NULL, 768, 1000000, "4x", "bits", NULL, 7, 0, 672.006144},
    {"sq", NULL, 768, 10000, "8x", "bits", NULL, 3, 0, 288.6144},
    {"sq", NULL, 768, 10000, "16x", "bits", NULL, 1, 0, 96.6144},
    {"sq", NULL, 768, 10000, "32x", "bits", NULL, -1, 0, 96.6144},
    /* pq */
    {"pq", NULL, 128, 1000000, "4x", "nbits", "m", 7, 128, 112.065536},
    {"pq", NULL, 128, 1000000, "16x", "nbits", "m", 7, 32, 28.065536},
    {"pq", NULL, 128, 1000000, "100B", "nbits", "m", 6, 128, 96.032768},
    {"pq", NULL, 128, 10000, "32B", "nbits", "m", 8, 16, 29.1072},
    {"pq", NULL, 128, 10000, "32x", "nbits", "m", 6, 16, 15.2768},
    {"pq", NULL, 128, 10000, "64x", "nbits", "m", 7, 1, 7.5536},
    {"pq", NULL, 768, 1000000, "32x", "nbits", "m", 7, 96, 84.393216},
    {"pq", NULL, 768, 1000000, "64x", "nbits", "m", 7, 48, 42.393216},
    {"pq", NULL, 768, 1000000, "32B", "nbits", "m", 5, 48, 30.098304},
    {"pq", NULL, 768, 10000, "16x", "nbits", "m", 8, 96, 174.6432},
    {"pq", NULL, 768, 10000, "100B", "nbits", "m", 3, 256, 98.4576},
    /* a written parameter stays: only m is chosen */
    {"pq", "{\"nbits\": 4}", 128, 1000000, "32B", "m", "nbits", 32, 4, 16.008192},
    /* lsh (independent hyperplanes: the same sizes as the default's
     * rotation, at a fraction of its create time) */
    {"lsh", "{\"rotate\": false}", 128, 1000000, "4x", "nbits", NULL, 1016, 0, 127.520192},
    {"lsh", "{\"rotate\": false}", 128, 1000000, "16x", "nbits", NULL, 248, 0, 31.126976},
    {"lsh", "{\"rotate\": false}", 128, 10000, "16x", "nbits", NULL, 176, 0, 31.0112},
    {"lsh", "{\"rotate\": false}", 128, 10000, "64x", "nbits", NULL, 40, 0, 7.048},
    {"lsh", "{\"rotate\": false}", 768, 1000000, "4x", "nbits", NULL, 5992, 0, 767.407424},
    {"lsh", "{\"rotate\": false}", 768, 1000000, "32x", "nbits", NULL, 744, 0, 95.285568},
    {"lsh", "{\"rotate\": false}", 768, 10000, "16x", "nbits", NULL, 442, 0, 191.7824},
    {"lsh", NULL, 128, 1000000, "16x", "nbits", NULL, 248, 0, 31.126976},
    /* rabitq: 8 + 16 bits B at d = 128, 8 + 96 bits B at d = 768 */
    {"rabitq", NULL, 128, 1000000, "4x", "bits", NULL, 7, 0, 120.066048},
    {"rabitq", NULL, 128, 1000000, "16x", "bits", NULL, 1, 0, 24.066048},
    {"rabitq", NULL, 128, 1000000, "32x", "bits", NULL, -1, 0, 24.066048},
    {"rabitq", NULL, 128, 10000, "100B", "bits", NULL, 5, 0, 94.6048},
    {"rabitq", NULL, 768, 1000000, "4x", "bits", NULL, 7, 0, 682.362368},
    {"rabitq", NULL, 768, 1000000, "16x", "bits", NULL, 1, 0, 106.362368},
    {"rabitq", NULL, 768, 1000000, "32x", "bits", NULL, -1, 0, 106.362368},
    {"rabitq", NULL, 768, 10000, "4x", "bits", NULL, 5, 0, 724.2368},
    {"rabitq", NULL, 768, 10000, "16x", "bits", NULL, -1, 0, 340.2368},
    /* pca>sq: both size-determining (pca dim first in the preferred order) */
    {"pca>sq", NULL, 128, 1000000, "4x", "dim", "bits", 127, 8, 127.06604},
    {"pca>sq", NULL, 128, 1000000, "16x", "dim", "bits", 124, 2, 31.06448},
    {"pca>sq", NULL, 128, 1000000, "64x", "dim", "bits", 56, 1, 7.02912},
    {"pca>sq", NULL, 128, 10000, "8x", "dim", "bits", 115, 4, 63.98},
    {"pca>sq", NULL, 128, 10000, "32x", "dim", "bits", 19, 6, 15.988},
    {"pca>sq", NULL, 768, 1000000, "8x", "dim", "bits", 611, 5, 383.88188},
    {"pca>sq", NULL, 768, 1000000, "32x", "dim", "bits", 253, 3, 95.77924},
    {"pca>sq", NULL, 768, 10000, "4x", "dim", "bits", 649, 7, 767.892},
    {"pca>sq", NULL, 768, 10000, "32B", "dim", "bits", 24, 8, 31.392},
};

static void test_tables(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const row *r = &table[i];
        int pipe = !strcmp(r->method, "pca>sq");
        const char *names[2] = {pipe ? "pca" : r->method, "sq"};
        const char *params[2] = {pipe ? NULL : r->params, NULL};
        ecb_chain c = chain_of(names, params, pipe ? 2 : 1);
        ecb_budget_choice ch;
        double b = budget_bytes(r->budget, r->d);
        assert_int_equal(ecb_budget_choose(&c, r->d, ECB_SIM_DOT, r->n, 0, b, &ch), 0);
        if (r->v1 < 0) {
            if (ch.found || fabs(ch.smallest - r->cost) > 1e-9)
                fail_msg("%s d=%zu N=%zu %s: expected nothing to fit (smallest %.9g), got found=%d "
                         "smallest %.9g", r->method, r->d, r->n, r->budget, r->cost, ch.found,
                         ch.smallest);
        } else {
            int64_t a = param_value(&c, pipe ? 0 : 0, r->p1);
            int64_t bb = r->p2 ? param_value(&c, pipe ? 1 : 0, r->p2) : 0;
            if (!ch.found || a != r->v1 || bb != r->v2 || fabs(ch.cost - r->cost) > 1e-9)
                fail_msg("%s d=%zu N=%zu %s: expected %s=%lld %s=%lld cost %.9g, got found=%d "
                         "%lld %lld cost %.9g (%zu creates)", r->method, r->d, r->n, r->budget,
                         r->p1, (long long)r->v1, r->p2 ? r->p2 : "-", (long long)r->v2, r->cost,
                         ch.found, (long long)a, (long long)bb, ch.cost, ch.creates);
            assert_true(ch.cost <= b);
        }
        ecb_chain_release(&c);
    }
}

/* ---- brute force ------------------------------------------------------------ */

/* The cost of the chain as it is, or NAN when it cannot be created. */
static double cost_of(const ecb_chain *c, size_t d, size_t n)
{
    ecb_chain_inst *b = NULL;
    if (ecb_chain_inst_create(c, d, ECB_SIM_DOT, 1, 1, &b)) {
        ecb_clear_error();
        return NAN;
    }
    double cost = (double)ecb_chain_inst_vt(b)->code_size(ecb_chain_inst_quantizer(b));
    cost += (double)ecb_chain_inst_aux_bytes(b) / (double)n;
    ecb_chain_inst_destroy(b);
    return cost;
}

typedef struct {
    size_t stage;
    const ecb_param *p;
    int64_t lo, hi;
} bf_knob;

static void set_param(ecb_chain *c, const bf_knob *k, int64_t v)
{
    char *f = (char *)c->stages[k->stage].params + k->p->offset;
    if (k->p->type == ECB_PARAM_SIZE) *(size_t *)f = (size_t)v;
    else if (k->p->type == ECB_PARAM_INT) *(int64_t *)f = v;
    else *(int *)f = (int)v;
}

/* Every setting of the declared size parameters: the costs, in a list. */
static void enumerate(ecb_chain *c, const bf_knob *k, size_t nk, size_t d, size_t n, double *out,
                      size_t *nout, size_t cap)
{
    if (nk == 0) {
        double x = cost_of(c, d, n);
        if (!isnan(x)) {
            assert_true(*nout < cap);
            out[(*nout)++] = x;
        }
        return;
    }
    for (int64_t v = k->lo; v <= k->hi; v++) {
        set_param(c, k, v);
        enumerate(c, k + 1, nk - 1, d, n, out, nout, cap);
    }
}

/* For these chains every value of every size parameter is tried (long
 * ranges only where create() rejects the values past the dimension at
 * once), and the chooser must find the largest cost <= each budget.
 * (lloydmax is left out only for time: its create() solves for the levels,
 * 45 ms at 8 bits.) */
static void test_brute_force(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    static const char *const chains[][3] = {
        {"sq"}, {"pq"}, {"opq"}, {"rabitq"}, {"intq"}, {"osq"}, {"resbin"},
        {"itq"}, {"rq"}, {"float16"}, {"binary"}, {"float4"}, {"pca", "sq"}, {"truncate", "pq"},
        {"truncate"}, {"rotate", "rabitq"},
    };
    const size_t d = 24, n = 1000;
    double *costs = malloc(1000000 * sizeof *costs);
    assert_non_null(costs);
    for (size_t ci = 0; ci < sizeof chains / sizeof *chains; ci++) {
        size_t ns = chains[ci][1] ? 2 : 1;
        ecb_chain c = chain_of(chains[ci], NULL, ns);
        bf_knob k[8];
        size_t nk = 0;
        for (size_t s = 0; s < c.n; s++) {
            const ecb_method_vtable *vt = &c.stages[s].plugin->vt;
            assert_non_null(vt->size_params);
            for (const char *const *nm = vt->size_params; *nm; nm++)
                for (const ecb_param *p = vt->params; p->name; p++) {
                    if (strcmp(p->name, *nm)) continue;
                    k[nk] = (bf_knob){s, p, (int64_t)p->min, (int64_t)p->max};
                    /* past the dimension these are rejected: d + 8 shows it */
                    if (k[nk].hi > 4096) k[nk].hi = (int64_t)d + 8;
                    nk++;
                }
        }
        size_t nc = 0;
        enumerate(&c, k, nk, d, n, costs, &nc, 1000000);
        assert_true(nc > 0);
        ecb_chain_release(&c);
        static const double budgets[] = {2, 3, 4.5, 7, 12, 13, 17.5, 24, 33, 48, 70, 96, 130};
        for (size_t bi = 0; bi < sizeof budgets / sizeof *budgets; bi++) {
            double best = -1, smallest = INFINITY;
            for (size_t i = 0; i < nc; i++) {
                if (costs[i] <= budgets[bi] && costs[i] > best) best = costs[i];
                if (costs[i] < smallest) smallest = costs[i];
            }
            ecb_chain w = chain_of(chains[ci], NULL, ns);
            ecb_budget_choice ch;
            assert_int_equal(ecb_budget_choose(&w, d, ECB_SIM_DOT, n, 0, budgets[bi], &ch), 0);
            double got = ch.found ? cost_of(&w, d, n) : -1;
            if (ch.found != (best >= 0) || got != best || (ch.found && ch.cost != best) ||
                ch.smallest != smallest)
                fail_msg("%s%s%s at %g B: brute force %.9g (smallest %.9g), chooser found=%d "
                         "%.9g (recomputed %.9g, smallest %.9g)", chains[ci][0], ns > 1 ? ">" : "",
                         ns > 1 ? chains[ci][1] : "", budgets[bi], best, smallest, ch.found,
                         ch.cost, got, ch.smallest);
            ecb_chain_release(&w);
        }
    }
    free(costs);
}

/* ---- a plugin without size_params: the fallback ------------------------------- */

struct fake_params {
    size_t bits, iters;
    int table;
};
static const char *const fake_tables[] = {"none", "small", "big", NULL};
static const ecb_param fake_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct fake_params, bits), .def.u = 4, .min = 1, .max = 100,
     .help = "bits per dimension"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct fake_params, iters), .def.u = 25, .min = 0,
     .max = 1e12, .help = "does not change the size"},
    {"table", ECB_PARAM_ENUM, offsetof(struct fake_params, table), .def.b = 0,
     .enum_values = fake_tables, .help = "0, d or 4 d floats of aux"},
    {NULL},
};
typedef struct {
    ecb_method base;
    struct fake_params p;
} fake_state;

static int fake_create(const ecb_host *h, const void *params, size_t dim, ecb_similarity sim,
                       ecb_method **out)
{
    const struct fake_params *p = params;
    if (p->bits % 3 == 0) return (h->fail)(h, ECB_EINVAL, "fake: bits must not be a multiple of 3");
    fake_state *s = calloc(1, sizeof *s);
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    *out = &s->base;
    return 0;
}
static void fake_destroy(ecb_method *m) { free(m); }
static size_t fake_code_size(const ecb_method *m)
{
    return (((const fake_state *)m)->p.bits * m->dim + 7) / 8;
}
static size_t fake_aux(const ecb_method *m)
{
    static const size_t per[] = {0, 1, 4};
    return per[((const fake_state *)m)->p.table] * m->dim * sizeof(float);
}

static ecb_plugin fake_plugin(const char *const *size_params)
{
    ecb_plugin p;
    memset(&p, 0, sizeof p);
    p.vt.name = "fake";
    p.vt.flags = ECB_METHOD_SYMMETRIC;
    p.vt.params = fake_table;
    p.vt.params_size = sizeof(struct fake_params);
    p.vt.create = fake_create;
    p.vt.destroy = fake_destroy;
    p.vt.code_size = fake_code_size;
    p.vt.aux_bytes = fake_aux;
    p.vt.size_params = size_params;
    return p;
}

static ecb_chain fake_chain(const ecb_plugin *p, uint64_t given, size_t bits)
{
    ecb_chain c = {ecb_calloc(1, sizeof(ecb_stage)), 1};
    c.stages[0].plugin = p;
    c.stages[0].params = ecb_calloc(1, sizeof(struct fake_params));
    ecb_params_defaults(fake_table, c.stages[0].params);
    ((struct fake_params *)c.stages[0].params)->bits = bits;
    c.stages[0].given = given;
    return c;
}

static void test_fallback(void **state)
{
    (void)state;
    ecb_plugin p = fake_plugin(NULL);
    /* d = 16, N = 16: bits b costs 2 b B, table none/small/big 0/4/16 B.
     * Budget 40 B: b = 20 (40 B) is a multiple of 3... no: 20 is not; so
     * b = 20 with table none = 40; iters changes nothing and stays 25. */
    ecb_chain c = fake_chain(&p, 0, 4);
    ecb_budget_choice ch;
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 40, &ch), 0);
    struct fake_params *fp = c.stages[0].params;
    assert_true(ch.found);
    assert_true(ch.cost == 40);
    assert_int_equal(fp->bits, 20);
    assert_int_equal(fp->table, 0);
    assert_int_equal(fp->iters, 25);
    ecb_chain_release(&c);
    /* Budget 37 B: 2 b + {0, 4, 16}: b = 18 is rejected (multiple of 3),
     * b = 16 + small = 36, b = 10 + big = 36, b = 17 = 34: 36, and of the
     * two the larger first-listed value (bits) wins. */
    c = fake_chain(&p, 0, 4);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 37, &ch), 0);
    fp = c.stages[0].params;
    assert_true(ch.found && ch.cost == 36);
    assert_int_equal(fp->bits, 16);
    assert_int_equal(fp->table, 1);
    assert_int_equal(fp->iters, 25);
    ecb_chain_release(&c);
    /* bits written (1 << 0): only the table is chosen */
    c = fake_chain(&p, 1, 5);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 27, &ch), 0);
    fp = c.stages[0].params;
    assert_true(ch.found && ch.cost == 26);
    assert_int_equal(fp->bits, 5);
    assert_int_equal(fp->table, 2);
    ecb_chain_release(&c);
    /* nothing fits: the written setting is left as it was */
    c = fake_chain(&p, 0, 7);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 1.5, &ch), 0);
    assert_false(ch.found);
    assert_true(ch.smallest == 2);
    assert_int_equal(((struct fake_params *)c.stages[0].params)->bits, 7);
    ecb_chain_release(&c);
}

/* Declared size_params: their order is the preference on a tie, and an
 * empty list chooses nothing. */
static void test_declared_order(void **state)
{
    (void)state;
    static const char *const bits_first[] = {"bits", "table", NULL};
    static const char *const table_first[] = {"table", "bits", NULL};
    static const char *const none[] = {NULL};
    ecb_plugin a = fake_plugin(bits_first), b = fake_plugin(table_first), z = fake_plugin(none);
    ecb_budget_choice ch;
    /* 37 B at d = 16: (bits 16, small) and (bits 10, big) both cost 36 */
    ecb_chain c = fake_chain(&a, 0, 4);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 37, &ch), 0);
    assert_int_equal(((struct fake_params *)c.stages[0].params)->bits, 16);
    ecb_chain_release(&c);
    c = fake_chain(&b, 0, 4);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 37, &ch), 0);
    assert_int_equal(((struct fake_params *)c.stages[0].params)->bits, 10);
    assert_int_equal(((struct fake_params *)c.stages[0].params)->table, 2);
    ecb_chain_release(&c);
    c = fake_chain(&z, 0, 4);
    assert_int_equal(ecb_budget_choose(&c, 16, ECB_SIM_DOT, 16, 0, 37, &ch), 0);
    assert_true(ch.found && ch.cost == 8 && ch.creates == 1);
    assert_int_equal(((struct fake_params *)c.stages[0].params)->bits, 4);
    ecb_chain_release(&c);
    /* load-time validation of the list */
    static const char *const unknown[] = {"bitz", NULL};
    static const char *const dbl[] = {"bits", "bits", NULL};
    static const ecb_param with_double[] = {
        {"x", ECB_PARAM_DOUBLE, 0, .def.d = 1, .min = 0, .max = 2, .help = "x"}, {NULL}};
    static const char *const x[] = {"x", NULL};
    assert_int_equal(ecb_size_params_validate(fake_table, bits_first, "f.so"), 0);
    assert_int_equal(ecb_size_params_validate(fake_table, unknown, "f.so"), ECB_EINVAL);
    assert_string_equal(ecb_last_error(), "f.so: size_params[0]: expected a parameter of the table, got \"bitz\"");
    assert_int_equal(ecb_size_params_validate(fake_table, dbl, "f.so"), ECB_EINVAL);
    assert_string_equal(ecb_last_error(), "f.so: size_params[1]: bits is listed twice");
    assert_int_equal(ecb_size_params_validate(with_double, x, "f.so"), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "got a double"));
}

/* Rescoring's bytes count against the budget (the report's cost). */
static void test_extra(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    static const char *const sq[] = {"sq"};
    ecb_chain c = chain_of(sq, NULL, 1);
    ecb_budget_choice ch;
    /* d = 128, N = 10^6: 64 B leaves 32 B next to 32 B of extra: 1 bit */
    assert_int_equal(ecb_budget_choose(&c, 128, ECB_SIM_DOT, 1000000, 32, 64, &ch), 0);
    assert_true(ch.found && fabs(ch.cost - 48.001024) < 1e-9);
    assert_int_equal(param_value(&c, 0, "bits"), 1);
    assert_int_equal(ecb_budget_choose(&c, 128, ECB_SIM_DOT, 1000000, 512, 64, &ch), 0);
    assert_false(ch.found);
    ecb_chain_release(&c);
}

static void test_targets(void **state)
{
    (void)state;
    static const struct { const char *in; double bytes, ratio; const char *text; } ok[] = {
        {"32B", 32, 0, "32B"}, {"32", 32, 0, "32B"}, {"1KiB", 1024, 0, "1KiB"},
        {"1.5 KiB", 1536, 0, "1536B"}, {"16x", 0, 16, "16x"}, {"2.5X", 0, 2.5, "2.5x"},
        {" 8 x", 0, 8, "8x"}, {"0.5B", 0.5, 0, "0.5B"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cJSON *v = cJSON_CreateString(ok[i].in);
        ecb_budget_target t;
        assert_int_equal(ecb_budget_target_parse(v, &t), 0);
        assert_true(t.bytes == ok[i].bytes && t.ratio == ok[i].ratio);
        assert_string_equal(t.text, ok[i].text);
        cJSON_Delete(v);
    }
    static const char *const bad[] = {"", "x", "0x", "-4x", "16y", "16xx", "0B", "-3", "inf", "nanx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *v = cJSON_CreateString(bad[i]);
        ecb_budget_target t;
        if (ecb_budget_target_parse(v, &t) == 0) fail_msg("\"%s\" accepted", bad[i]);
        cJSON_Delete(v);
    }
    cJSON *num = cJSON_CreateNumber(48), *neg = cJSON_CreateNumber(0), *obj = cJSON_CreateObject();
    ecb_budget_target t;
    assert_int_equal(ecb_budget_target_parse(num, &t), 0);
    assert_string_equal(t.text, "48B");
    assert_int_equal(ecb_budget_target_parse(neg, &t), ECB_EINVAL);
    assert_int_equal(ecb_budget_target_parse(obj, &t), ECB_EINVAL);
    cJSON_Delete(num);
    cJSON_Delete(neg);
    cJSON_Delete(obj);
    cJSON *r = cJSON_CreateString("16x");
    assert_int_equal(ecb_budget_target_parse(r, &t), 0);
    assert_true(ecb_budget_target_bytes(&t, 768) == 192);
    cJSON_Delete(r);
}

/* ---- the size_params promise ------------------------------------------------- */

static void sizes_after(const ecb_plugin *p, const void *params, size_t d, const float *x,
                        size_t n, int train, size_t *code, size_t *aux, int *ok)
{
    ecb_host h;
    ecb_host_init(&h, 7, 1);
    ecb_method *m = NULL;
    *ok = 0;
    if (p->vt.create(&h, params, d, ECB_SIM_DOT, &m)) { ecb_clear_error(); return; }
    m->vt = &p->vt;
    if (train && p->vt.train && p->vt.train(m, x, n)) {
        ecb_clear_error();
        p->vt.destroy(m);
        return;
    }
    *code = p->vt.code_size ? p->vt.code_size(m) : 0;
    *aux = p->vt.aux_bytes ? p->vt.aux_bytes(m) : 0;
    *ok = 1;
    p->vt.destroy(m);
}

/* Every plugin that declares size_params: code_size and aux_bytes right
 * after create equal those after train, at the defaults and with each
 * bool, enum or two-valued parameter at each of its values. */
static void test_sizes_before_train(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    const size_t d = 32, n = 2500;
    float *x = malloc(n * d * sizeof *x);
    uint64_t r = 88172645463325252ull;
    for (size_t i = 0; i < n * d; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5) + (float)(i % d) * 0.01f;
    }
    size_t checked = 0;
    for (size_t pi = 0; pi < reg->n; pi++) {
        const ecb_plugin *p = &reg->items[pi];
        if (p->rejected || !p->vt.size_params || !strcmp(p->vt.name, "_template")) continue;
        void *params = ecb_calloc(1, p->vt.params_size ? p->vt.params_size : 1);
        size_t np = ecb_params_count(p->vt.params);
        for (size_t vi = 0; vi <= np; vi++) { /* vi == np: defaults */
            const ecb_param *q = vi < np ? &p->vt.params[vi] : NULL;
            int64_t nv = !q ? 1 : q->type == ECB_PARAM_BOOL ? 2
                       : q->type == ECB_PARAM_ENUM ? 0
                       : (q->type == ECB_PARAM_SIZE && q->max - q->min == 1) ? 2 : -1;
            if (q && q->type == ECB_PARAM_ENUM) while (q->enum_values[nv]) nv++;
            for (int64_t v = 0; v < nv; v++) {
                ecb_params_defaults(p->vt.params, params);
                if (q) {
                    char *f = (char *)params + q->offset;
                    if (q->type == ECB_PARAM_SIZE) *(size_t *)f = (size_t)q->min + (size_t)v;
                    else *(int *)f = (int)v;
                }
                size_t c0, a0, c1, a1;
                int ok0, ok1;
                sizes_after(p, params, d, x, n, 0, &c0, &a0, &ok0);
                if (!ok0) continue; /* e.g. itq's 64 bits > d */
                sizes_after(p, params, d, x, n, 1, &c1, &a1, &ok1);
                if (!ok1) continue;
                if (c0 != c1 || a0 != a1)
                    fail_msg("%s%s%s=%lld: code_size %zu, aux_bytes %zu before train; %zu, %zu after",
                             p->vt.name, q ? " " : "", q ? q->name : "", (long long)v, c0, a0, c1, a1);
                checked++;
            }
        }
        free(params);
    }
    free(x);
    assert_true(checked >= 30);
}

/* ---- budget cells in a config ----------------------------------------------- */

#define BC(methods, extra) "{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", " \
    "\"params\": {\"n\": 1000, \"dim\": 128}, \"corpus_sizes\": [10000, 1000000]}], " \
    "\"modes\": [\"symmetric\", \"asymmetric\"], \"methods\": [" methods "]" extra "}"

static int load(const char *json, ecb_config **out)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    return ecb_config_from_json(j, "cfg.json", reg, out);
}

static const ecb_cell *cell_labelled(const ecb_config *c, const char *label, size_t corpus, int mode)
{
    for (size_t i = 0; i < c->n_cells; i++)
        if (!strcmp(c->cells[i].label_col, label) && c->cells[i].corpus_size == corpus &&
            (int)c->cells[i].mode == mode)
            return &c->cells[i];
    fail_msg("no cell %s at %zu", label, corpus);
    return NULL;
}

/* Expansion gives one placeholder cell per budget (labelled "pq@32B", its
 * id hashing the budget); resolving it at the dataset's dimension and each
 * corpus size chooses the parameters (the id then hashes them), or skips. */
static void test_budget_cells(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    const char *json = BC("{\"method\": \"pq\", \"budget\": [\"32B\", \"16x\", \"1B\"]}, "
                          "{\"method\": \"sq\", \"params\": {\"calibration\": \"quantile\"}, \"budget\": 100, "
                          "\"label\": \"eqf\"}, {\"method\": \"float32\"}", "");
    ecb_config *a, *b;
    assert_int_equal(load(json, &a), 0);
    assert_int_equal(load(json, &b), 0);
    assert_int_equal(a->n_cells, 2 * 2 * (3 + 1 + 1));
    const ecb_cell *p32 = cell_labelled(a, "pq@32B", 10000, ECB_MODE_SYMMETRIC);
    assert_true(p32->budget_pending && !strcmp(p32->budget.text, "32B"));
    assert_string_equal(p32->params_col, ""); /* nothing written yet */
    assert_non_null(strstr(p32->canonical, "\"budget\":\"32B\",\"budget_pending\":true"));
    assert_string_equal(cell_labelled(a, "eqf@100B", 10000, 0)->params_col, "calibration=quantile");
    const ecb_cell *f32 = cell_labelled(a, "float32", 10000, 0);
    assert_null(strstr(f32->canonical, "budget"));
    char pending[17];
    snprintf(pending, sizeof pending, "%s", p32->id);

    assert_int_equal(ecb_config_resolve_budgets(a, 0, 128, ECB_SIM_DOT, 1000000), 0);
    assert_int_equal(ecb_config_resolve_budgets(b, 0, 128, ECB_SIM_DOT, 1000000), 0);
    for (size_t i = 0; i < a->n_cells; i++) assert_string_equal(a->cells[i].id, b->cells[i].id);
    /* N = 10^4: m = 16 x 8 bits (29.1072 B); N = 10^6: m = 32 x 7 bits (28.0655 B) */
    p32 = cell_labelled(a, "pq@32B", 10000, ECB_MODE_SYMMETRIC);
    assert_false(p32->budget_pending);
    assert_null(p32->skip_reason);
    assert_string_not_equal(p32->id, pending);
    assert_string_equal(p32->params_col, "m=16;nbits=8;shared_codebook=false;init=kmeans++;iters=25;train_size=0");
    assert_string_equal(p32->method_col, "pq");
    assert_string_equal(cell_labelled(a, "pq@32B", 1000000, ECB_MODE_ASYMMETRIC)->params_col,
                        "m=32;nbits=7;shared_codebook=false;init=kmeans++;iters=25;train_size=0");
    assert_non_null(strstr(p32->canonical, "\"budget\":\"32B\"}"));
    /* the same parameters written, without a budget, are another cell */
    ecb_config *c;
    assert_int_equal(load(BC("{\"method\": \"pq\", \"params\": {\"m\": 16, \"nbits\": 8}}", ""), &c), 0);
    assert_string_not_equal(c->cells[0].id, p32->id);
    ecb_config_free(c);
    /* 16x at d = 128 is 32 B too, but another budget: another id */
    assert_string_equal(cell_labelled(a, "pq@16x", 10000, 0)->params_col, p32->params_col);
    assert_string_not_equal(cell_labelled(a, "pq@16x", 10000, 0)->id, p32->id);
    /* 1 B: nothing fits, a skipped row, the placeholder id */
    const ecb_cell *p1 = cell_labelled(a, "pq@1B", 1000000, 0);
    assert_true(p1->budget_pending);
    assert_string_equal(p1->skip_reason, "no setting of pq fits 1 B per vector (smallest: 1.001 B)");
    /* sq with its calibration written: only bits chosen; quantile keeps
     * 2^(b+1) - 1 floats per dimension: 6 bits = 96 + 0.065 B */
    const ecb_cell *e = cell_labelled(a, "eqf@100B", 1000000, 0);
    assert_string_equal(e->params_col, "bits=6;calibration=quantile;ranges=per_dim");
    ecb_config_free(a);
    ecb_config_free(b);

    /* rescoring's second representation counts: float32 x4 at d = 128 is
     * 512 B a vector, so 600 B leave sq 88 B: 5 bits */
    assert_int_equal(load(BC("{\"method\": \"sq\", \"budget\": [\"600B\", \"100B\"]}",
                             ", \"rescore\": [{\"factor\": 4, \"with\": \"float32\"}]"), &a), 0);
    assert_int_equal(ecb_config_resolve_budgets(a, 0, 128, ECB_SIM_DOT, 1000000), 0);
    assert_string_equal(cell_labelled(a, "sq@600B", 1000000, 0)->params_col, "bits=5;calibration=minmax;ranges=per_dim");
    assert_string_equal(cell_labelled(a, "sq@100B", 1000000, 0)->skip_reason,
                        "no setting of sq fits 100 B per vector (smallest: 528 B, of which 512 B per "
                        "vector is rescoring's float32x4)");
    ecb_config_free(a);
    /* a ratio names itself and its bytes; a chain invalid at every setting says why */
    assert_int_equal(load(BC("{\"method\": \"sq\", \"budget\": \"64x\"}, "
                             "{\"method\": \"pq\", \"params\": {\"m\": 7}, \"budget\": \"4x\"}", ""), &a), 0);
    assert_int_equal(ecb_config_resolve_budgets(a, 0, 128, ECB_SIM_DOT, 1000000), 0);
    assert_string_equal(cell_labelled(a, "sq@64x", 1000000, 0)->skip_reason,
                        "no setting of sq fits 64x = 8 B per vector (smallest: 16 B)");
    assert_non_null(strstr(cell_labelled(a, "pq(m=7)@4x", 1000000, 0)->skip_reason,
                           "no setting of pq is valid at dimension 128: pq(m=7,"));
    ecb_config_free(a);
}

/* `merge` resolves budget cells from the shapes a run recorded. */
static void test_budget_recorded(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    const char *json = BC("{\"method\": \"pq\", \"budget\": \"32B\"}", "");
    ecb_config *a, *b;
    assert_int_equal(load(json, &a), 0);
    assert_int_equal(load(json, &b), 0);
    assert_int_equal(ecb_config_resolve_budgets(a, 0, 128, ECB_SIM_DOT, 1000000), 0);
    cJSON *ds = cJSON_Parse("[{\"name\": \"x\", \"dim\": 128, \"n_corpus\": 1000000, "
                            "\"similarity\": \"cosine\"}]");
    assert_int_equal(ecb_config_resolve_budgets_recorded(b, ds, "m.json"), 0);
    for (size_t i = 0; i < a->n_cells; i++) assert_string_equal(a->cells[i].id, b->cells[i].id);
    cJSON_Delete(ds);
    ecb_config_free(b);
    assert_int_equal(load(json, &b), 0);
    assert_int_equal(ecb_config_resolve_budgets_recorded(b, NULL, "m.json"), ECB_EFORMAT);
    assert_string_equal(ecb_last_error(), "m.json: $.datasets: expected the shapes of the config's 1 "
                        "dataset(s) for its budget cells, got 0 (a run of an older ecbench?)");
    ds = cJSON_Parse("[{\"name\": \"x\", \"dim\": 0, \"n_corpus\": 10, \"similarity\": \"l2\"}]");
    assert_int_equal(ecb_config_resolve_budgets_recorded(b, ds, "m.json"), ECB_EFORMAT);
    assert_string_equal(ecb_last_error(), "m.json: $.datasets[0]: expected \"dim\", \"n_corpus\" "
                        "(positive integers) and \"similarity\"");
    cJSON_Delete(ds);
    ecb_config_free(b);
    ecb_config_free(a);
    /* without budget cells nothing is needed */
    assert_int_equal(load(BC("{\"method\": \"float32\"}", ""), &a), 0);
    assert_int_equal(ecb_config_resolve_budgets_recorded(a, NULL, "m.json"), 0);
    ecb_config_free(a);
}

/* A budget written wrong: every problem at once, with its path. */
static void test_budget_errors(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "pq")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    ecb_config *c = NULL;
    int rc = load(BC("{\"method\": \"pq\", \"budget\": [\"32B\", \"abc\", -1, {}, \"32\"]}, "
                     "{\"method\": \"sq\", \"budget\": []}, {\"method\": \"sq\", \"budgte\": \"8B\"}, "
                     "{\"pipeline\": [{\"method\": \"pca\", \"budget\": \"8B\"}, {\"method\": \"sq\"}]}, "
                     "{\"pipeline\": [{\"method\": \"pca\"}, {\"method\": \"sq\"}], \"budget\": \"16y\"}", ""), &c);
    assert_int_equal(rc, ECB_EINVAL);
    const char *m = ecb_last_error();
    static const char *const want[] = {
        "8 problems:",
        "cfg.json: $.methods[0].budget[1]: expected bytes per vector (\"32B\", 32, \"1KiB\") or a "
        "compression ratio against float32 (\"16x\"), got \"abc\"",
        "$.methods[0].budget[2]: expected bytes per vector", "got a number <= 0",
        "$.methods[0].budget[3]: expected bytes per vector",
        "cfg.json: $.methods[0].budget[4]: 32B is listed twice (also $.methods[0].budget[0])",
        "cfg.json: $.methods[1].budget: empty array: expected at least one budget",
        "$.methods[2]: unknown key \"budgte\"; did you mean \"budget\"?",
        "$.methods[3].pipeline[0]: unknown key \"budget\"",
        "cfg.json: $.methods[4].budget: expected bytes per vector", "got \"16y\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(m, want[i])) fail_msg("message \"%s\" lacks \"%s\"", m, want[i]);
    /* budgets count in the cell cap, named in the message */
    rc = load("{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\"}], \"methods\": [{\"method\": "
              "\"sq\", \"params\": {\"clip\": [" "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
              "26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49" "], \"calibration\": "
              "\"percentile\", \"ranges\": [\"per_dim\", \"global\"]}, \"budget\": [" "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
              "16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,"
              "49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,"
              "82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,"
              "111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,"
              "135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,"
              "159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,"
              "183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,"
              "207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,"
              "231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,"
              "255,256,257,258,259,260,261,262,263,264,265,266,267,268,269,270,271,272,273,274,275,276,277,278,"
              "279,280,281,282,283,284,285,286,287,288,289,290,291,292,293,294,295,296,297,298,299,300,301,302,"
              "303,304,305,306,307,308,309,310,311,312,313,314,315,316,317,318,319,320,321,322,323,324,325,326,"
              "327,328,329,330,331,332,333,334,335,336,337,338,339,340,341,342,343,344,345,346,347,348,349,350,"
              "351,352,353,354,355,356,357,358,359,360,361,362,363,364,365,366,367,368,369,370,371,372,373,374,"
              "375,376,377,378,379,380,381,382,383,384,385,386,387,388,389,390,391,392,393,394,395,396,397,398,"
              "399,400,401,402,403,404,405,406,407,408,409,410,411,412,413,414,415,416,417,418,419,420,421,422,"
              "423,424,425,426,427,428,429,430,431,432,433,434,435,436,437,438,439,440,441,442,443,444,445,446,"
              "447,448,449,450,451,452,453,454,455,456,457,458,459,460,461,462,463,464,465,466,467,468,469,470,"
              "471,472,473,474,475,476,477,478,479,480,481,482,483,484,485,486,487,488,489,490,491,492,493,494,"
              "495,496,497,498,499,500,501,502,503,504,505,506,507,508,509,510,511,512,513,514,515,516,517,518,"
              "519,520,521,522,523,524,525,526,527,528,529,530,531,532,533,534,535,536,537,538,539,540,541,542,"
              "543,544,545,546,547,548,549,550,551,552,553,554,555,556,557,558,559,560,561,562,563,564,565,566,"
              "567,568,569,570,571,572,573,574,575,576,577,578,579,580,581,582,583,584,585,586,587,588,589,590,"
              "591,592,593,594,595,596,597,598,599,600]}]}", &c);
    assert_int_equal(rc, ECB_ERANGE);
    if (!strstr(ecb_last_error(), "$.methods[0]: 58800 (sq.clip 49 x sq.ranges 2 x budget 600)"))
        fail_msg("%s", ecb_last_error());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_declared_order),
        cmocka_unit_test_setup_teardown(test_tables, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_brute_force, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_extra, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_sizes_before_train, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_budget_cells, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_budget_errors, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_budget_recorded, setup_reg, teardown_reg),
    };
    if (getenv("TB_ONLY")) cmocka_set_test_filter(getenv("TB_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
