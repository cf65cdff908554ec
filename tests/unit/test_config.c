/*
 * Parameter tables, the plugin registry and config schema v1: defaults,
 * ranges, enums, "did you mean", sweep expansion order and counts, stable
 * cell ids, pipeline rules, rescoring labels, entry labels, and error
 * messages that name the file and JSON path. (Over 600 lines: one test per
 * config feature, each short; budget-targeted entries are tested in
 * test_budget_choose.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config.h"
#include "harness/params.h"
#include "harness/registry.h"
#include "testutil.h"

struct tp {
    int flag;
    int64_t i;
    size_t u;
    double d;
    int e;
};
static const char *const tp_enum[] = {"alpha", "beta", "gamma", NULL};
static const ecb_param tp_table[] = {
    {"flag", ECB_PARAM_BOOL, offsetof(struct tp, flag), .def.b = 1, .help = "a bool"},
    {"i", ECB_PARAM_INT, offsetof(struct tp, i), .def.i = -3, .min = -10, .max = 10, .help = "int"},
    {"u", ECB_PARAM_SIZE, offsetof(struct tp, u), .def.u = 8, .min = 1, .max = 64, .help = "size"},
    {"d", ECB_PARAM_DOUBLE, offsetof(struct tp, d), .def.d = 2.5, .min = 0, .max = 50, .help = "dbl"},
    {"e", ECB_PARAM_ENUM, offsetof(struct tp, e), .def.b = 1, .enum_values = tp_enum, .help = "enum"},
    {NULL},
};

static int fill(const char *json, struct tp *out)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    int rc = ecb_params_fill(tp_table, o, out, "f.json: $.p", "tp");
    cJSON_Delete(o);
    return rc;
}

static void test_params_defaults_and_values(void **state)
{
    (void)state;
    struct tp p;
    assert_int_equal(fill("{}", &p), 0);
    assert_int_equal(p.flag, 1);
    assert_int_equal(p.i, -3);
    assert_int_equal(p.u, 8);
    assert_true(p.d == 2.5);
    assert_int_equal(p.e, 1);
    assert_int_equal(fill("{\"flag\": false, \"i\": 7, \"u\": 64, \"d\": 0.125, \"e\": \"gamma\"}", &p), 0);
    assert_int_equal(p.flag, 0);
    assert_int_equal(p.i, 7);
    assert_int_equal(p.u, 64);
    assert_true(p.d == 0.125);
    assert_int_equal(p.e, 2);
    char buf[256];
    assert_int_equal(ecb_params_format(tp_table, &p, ";", 0, buf, sizeof buf), 0);
    assert_string_equal(buf, "flag=false;i=7;u=64;d=0.125;e=gamma");
    assert_int_equal(ecb_params_format(tp_table, &p, ",", 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "flag=false,i=7,u=64,d=0.125,e=gamma");
    assert_int_equal(fill("{\"i\": -3}", &p), 0);
    assert_int_equal(ecb_params_format(tp_table, &p, ",", 1, buf, sizeof buf), 0);
    assert_string_equal(buf, ""); /* all defaults */
    assert_int_equal(ecb_params_format_mask(tp_table, &p, ",", 1u << 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "i=-3"); /* given explicitly */
}

static void test_params_errors(void **state)
{
    (void)state;
    struct tp p;
    assert_int_equal(fill("{\"u\": 65}", &p), ECB_ERANGE);
    assert_non_null(strstr(ecb_last_error(), "f.json: $.p.u: tp expects a value in [1, 64], got 65"));
    assert_int_equal(fill("{\"u\": 2.5}", &p), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "integer"));
    assert_int_equal(fill("{\"u\": -1}", &p), ECB_ERANGE);
    assert_int_equal(fill("{\"flag\": 1}", &p), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "true or false"));
    assert_int_equal(fill("{\"e\": \"betta\"}", &p), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "one of alpha|beta|gamma, got \"betta\" (did you mean \"beta\"?)"));
    assert_int_equal(fill("{\"flg\": true}", &p), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "unknown parameter \"flg\" for method tp; did you mean \"flag\"?"));
    assert_int_equal(fill("{\"zzzzzzzz\": true}", &p), ECB_EINVAL);
    assert_null(strstr(ecb_last_error(), "did you mean"));
    assert_int_equal(fill("[1]", &p), ECB_EINVAL);
}

static void test_did_you_mean(void **state)
{
    (void)state;
    const char *c[] = {"modes", "methods", "datasets", "rescore"};
    assert_string_equal(ecb_did_you_mean("mdoes", c, 4), "modes");
    assert_string_equal(ecb_did_you_mean("dataset", c, 4), "datasets");
    assert_string_equal(ecb_did_you_mean("rescoring", c, 4), "rescore");
    assert_null(ecb_did_you_mean("output", c, 4));
}

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

static int load(const char *json, ecb_config **out)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    return ecb_config_from_json(j, "cfg.json", reg, out);
}

#define SYN "\"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 1000, \"dim\": 32}}]"

static void test_registry(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "float32")) TU_SKIP("plugins not built in ECBENCH_METHODS_DIR");
    assert_int_equal(ecb_registry_rejected(reg), 0);
    const ecb_plugin *p = ecb_registry_find(reg, "sq");
    assert_non_null(p);
    assert_string_equal(p->vt.name, "sq");
    assert_null(ecb_registry_find(reg, "sqq"));
    assert_non_null(strstr(ecb_last_error(), "did you mean \"sq\""));
    /* the host keeps its own copy of the vtable */
    assert_true((const void *)&p->vt != (const void *)p->dl);
}

static void test_expansion(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    ecb_config *c;
    int rc = load("{\"schema_version\": 1, " SYN ", \"methods\": ["
                  "{\"method\": \"float32\"},"
                  "{\"method\": \"sq\", \"params\": {\"bits\": [8, 4, 2], \"ranges\": [\"per_dim\", \"global\"]}},"
                  "{\"pipeline\": [{\"method\": \"truncate\", \"params\": {\"dim\": [16, 8]}}, {\"method\": \"sq\", \"params\": {\"bits\": 4}}]},"
                  "{\"method\": \"pca\", \"params\": {\"dim\": 16}}],"
                  "\"modes\": [\"symmetric\", \"asymmetric\"],"
                  "\"rescore\": [\"none\", {\"factor\": 4, \"with\": \"float32\"}, {\"factor\": 2, \"with\": {\"method\": \"sq\", \"params\": {\"bits\": 8}}}],"
                  "\"k\": [100, 10, 10]}", &c);
    if (rc) fail_msg("%s", ecb_last_error());
    /* (1 + 6 + 2 + 1) chains x 2 modes x 3 rescorings */
    assert_int_equal(c->n_cells, 10 * 2 * 3);
    assert_int_equal(c->nk, 2);
    assert_int_equal(c->ks[0], 10);
    assert_int_equal(c->ks[1], 100);
    assert_string_equal(c->rescores[1].label, "float32x4");
    assert_string_equal(c->rescores[2].label, "sq(bits=8)x2");
    /* order: chain, then mode, then rescoring; last axis of a method varies fastest */
    assert_string_equal(c->cells[0].label_col, "float32");
    assert_string_equal(c->cells[6].label_col, "sq(bits=8,ranges=per_dim)");
    assert_string_equal(c->cells[12].label_col, "sq(bits=8,ranges=global)");
    assert_string_equal(c->cells[18].label_col, "sq(bits=4,ranges=per_dim)");
    assert_int_equal(c->cells[6].mode, ECB_MODE_SYMMETRIC);
    assert_int_equal(c->cells[9].mode, ECB_MODE_ASYMMETRIC);
    const ecb_cell *pipe = &c->cells[42];
    assert_string_equal(pipe->method_col, "truncate(dim=16)>sq(bits=4)");
    assert_string_equal(pipe->label_col, "truncate(dim=16)>sq(bits=4)");
    assert_int_equal(pipe->chain.n, 2);
    /* a lone transform is followed by float32 for scoring */
    const ecb_cell *pca = &c->cells[54];
    assert_string_equal(pca->method_col, "pca");
    assert_int_equal(pca->chain.n, 2);
    assert_string_equal(pca->chain.stages[1].plugin->vt.name, "float32");
    /* ids: unique, 16 hex digits, stable across loads */
    for (size_t i = 0; i < c->n_cells; i++) {
        assert_int_equal(strlen(c->cells[i].id), 16);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(c->cells[i].id, c->cells[j].id);
    }
    ecb_config *c2;
    assert_int_equal(load("{\"schema_version\": 1, \"threads\": 1, \"output\": \"elsewhere\", " SYN
                          ", \"methods\": [{\"method\": \"float32\"}], \"modes\": [\"symmetric\"],"
                          "\"k\": [10, 100]}", &c2), 0);
    assert_string_equal(c2->cells[0].id, c->cells[0].id); /* threads/output do not change a cell */
    ecb_config_free(c2);
    assert_int_equal(load("{\"schema_version\": 1, \"seed\": 7, " SYN
                          ", \"methods\": [{\"method\": \"float32\"}], \"modes\": [\"symmetric\"],"
                          "\"k\": [10, 100]}", &c2), 0);
    assert_string_not_equal(c2->cells[0].id, c->cells[0].id); /* the seed does */
    ecb_config_free(c2);
    ecb_config_free(c);
}

static void expect_error(const char *json, const char *msg)
{
    ecb_config *c = NULL;
    int rc = load(json, &c);
    if (rc == 0) {
        ecb_config_free(c);
        fail_msg("accepted: %s", json);
    }
    if (!strstr(ecb_last_error(), msg)) fail_msg("message \"%s\" lacks \"%s\"", ecb_last_error(), msg);
}

static void test_errors(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    expect_error("{" SYN ", \"methods\": [{\"method\": \"float32\"}]}", "cfg.json: $.schema_version: expected 1");
    expect_error("{\"schema_version\": 2, " SYN ", \"methods\": [{\"method\": \"float32\"}]}", "$.schema_version: expected 1");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"kk\": [1]}",
                 "cfg.json: $: unknown key \"kk\"; did you mean \"k\"?");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": []}", "$.methods: expected a non-empty array");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"sq\", \"parms\": {}}]}",
                 "$.methods[0]: unknown key \"parms\"; did you mean \"params\"?");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": [8, 0]}}]}",
                 "$.methods[0].params.bits: sq expects a value in [1, 8], got 0");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": []}}]}",
                 "empty array");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"pipeline\": [{\"method\": \"sq\"}, {\"method\": \"float16\"}]}]}",
                 "$.methods[0].pipeline[0]: \"sq\" is a quantizer; only the last stage");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"modes\": [\"asymetric\"]}",
                 "(did you mean \"asymmetric\"?)");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"k\": [0]}",
                 "$.k[0]: expected an integer in [1, 100000], got 0");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"rescore\": [{\"factor\": 4, \"with\": \"pca\"}]}",
                 "rescoring needs a quantizer");
    expect_error("{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"dims\": 3}}], \"methods\": [{\"method\": \"float32\"}]}",
                 "did you mean \"dim\"");
    expect_error("{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", \"manifest\": \"x\"}], \"methods\": [{\"method\": \"float32\"}]}",
                 "exactly one of \"builtin\" or \"manifest\"");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}, {\"method\": \"float32\"}]}",
                 "the same cell twice");
}

/* A config wrong in six independent places names all six in one error. */
static void test_all_problems(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    ecb_config *c = NULL;
    int rc = load("{\"schema_version\": 1, \"mdoes\": [\"symmetric\"],"
                  "\"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"dims\": 3}}],"
                  "\"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": [8, 9], \"calibraton\": \"minmax\"}},"
                  "{\"method\": \"flaot16\"}], \"k\": [0]}", &c);
    assert_int_equal(rc, ECB_EINVAL);
    const char *m = ecb_last_error();
    static const char *const want[] = {
        "cfg.json: 6 problems:",
        "cfg.json: $: unknown key \"mdoes\"; did you mean \"modes\"?",
        "cfg.json: $.k[0]: expected an integer in [1, 100000], got 0",
        "cfg.json: $.datasets[0].params: unknown parameter \"dims\" for method synthetic; did you mean \"dim\"?",
        "cfg.json: $.methods[0].params.bits: sq expects a value in [1, 8], got 9",
        "cfg.json: $.methods[0].params: unknown parameter \"calibraton\" for method sq; did you mean \"calibration\"?",
        "cfg.json: $.methods[1].method: unknown method \"flaot16\"; did you mean \"float16\"?",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(m, want[i])) fail_msg("message lacks \"%s\":\n%s", want[i], m);
    /* one problem keeps its one-line message */
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"k\": [0]}",
                 "cfg.json: $.k[0]: expected");
    assert_null(strstr(ecb_last_error(), "problems"));
}

/* The keys only the report reads are checked when the config is read. */
static void test_report_keys(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
#define RK(extra) "{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}, " \
                  "{\"method\": \"sq\", \"params\": {\"bits\": 4}}], \"k\": [10, 100], " extra "}"
    ecb_config *c = NULL;
    int rc = load(RK("\"budgets\": [\"32B\", {\"total\": \"2GiB\", \"corpus_size\": 1000000}], "
                     "\"budget_metric\": \"recall@100\", \"baseline\": {\"label\": \"sq(bits=4)\"}, "
                     "\"ci\": {\"tolerances\": {\"ndcg@10\": 0.002, \"query_p50_ms\": \"+25%\", \"ndcg@*\": 0}}"), &c);
    if (rc) fail_msg("%s", ecb_last_error());
    ecb_config_free(c);
    assert_int_equal(load(RK("\"baseline\": \"sq\""), &c), 0);
    ecb_config_free(c);
    expect_error(RK("\"budgets\": [\"32B\", \"32X\"]"),
                 "cfg.json: $.budgets[1]: expected bytes per vector (\"64B\", 128, \"1KiB\") or "
                 "{\"total\": \"2GiB\", \"corpus_size\": N}, got \"32X\"");
    expect_error(RK("\"budget_metric\": \"ndgc@10\""),
                 "cfg.json: $.budget_metric: expected a quality column of this sweep");
    assert_non_null(strstr(ecb_last_error(), "got \"ndgc@10\"; did you mean \"ndcg@10\"?"));
    expect_error(RK("\"budget_metric\": \"ndcg@20\""), "@ a cutoff of $.k: 10, 100), got \"ndcg@20\"");
    expect_error(RK("\"budget_metric\": 10"), "$.budget_metric: expected a metric such as \"ndcg@10\", got a number");
    expect_error(RK("\"baseline\": \"nosuch\""),
                 "cfg.json: $.baseline: expected a method name or label of this sweep (e.g. \"float32\"), got \"nosuch\"");
    expect_error(RK("\"baseline\": {\"method\": \"sqq\"}"), "$.baseline.method: expected a method name or label of this sweep");
    assert_non_null(strstr(ecb_last_error(), "did you mean \"sq\"?"));
    expect_error(RK("\"baseline\": {\"label\": \"sq\"}"), "$.baseline.label: expected a label of this sweep");
    expect_error(RK("\"baseline\": {\"metod\": \"sq\"}"), "$.baseline: unknown key \"metod\"; did you mean \"method\"?");
    expect_error(RK("\"ci\": {\"tolerance\": {\"ndcg@10\": 0.01}}"),
                 "cfg.json: $.ci: unknown key \"tolerance\"; did you mean \"tolerances\"?");
    expect_error(RK("\"ci\": {\"tolerances\": \"abc\"}"), "$.ci.tolerances: expected an object {\"metric\": tolerance}");
    expect_error(RK("\"ci\": {\"tolerances\": {\"ndcg@10\": \"abc\"}}"),
                 "$.ci.tolerances.ndcg@10: expected an absolute tolerance >= 0 (0.002) or a relative one (\"+25%\"), got \"abc\"");
    expect_error(RK("\"ci\": {\"tolerances\": {\"query_p50\": 0.1}}"), "did you mean \"query_p50_ms\"?");
    expect_error(RK("\"ci\": {\"tolerances\": {\"ncdg@10\": 0.1}}"), "did you mean \"ndcg@10\"?");
    expect_error(RK("\"ci\": {\"tolerances\": {\"ndcg@5*\": 0.1}}"), "the pattern matches no column");
    expect_error(RK("\"ci\": []"), "$.ci: expected an object");
    /* all four at once */
    expect_error(RK("\"budgets\": [\"32X\"], \"budget_metric\": \"ndgc@10\", \"baseline\": \"nosuch\", "
                    "\"ci\": {\"tolerance\": {}}"), "cfg.json: 4 problems:");
#undef RK
}

/* Duplicate keys are rejected at every depth, with their JSON path. */
static void test_duplicate_keys(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    expect_error("{\"schema_version\": 1, \"k\": [10], " SYN ", \"methods\": [{\"method\": \"float32\"}], \"k\": [100]}",
                 "cfg.json: $: key \"k\" appears more than once");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}, "
                 "{\"method\": \"sq\", \"params\": {\"bits\": 8, \"ranges\": \"global\", \"bits\": 4}}]}",
                 "cfg.json: $.methods[1].params: key \"bits\" appears more than once");
    expect_error("{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": "
                 "{\"n\": 1000, \"dim\": 32, \"n\": 2000}}], \"methods\": [{\"pipeline\": [{\"method\": \"pca\", "
                 "\"params\": {\"dim\": 8}, \"method\": \"rp\"}, {\"method\": \"sq\"}]}]}",
                 "2 problems:");
    assert_non_null(strstr(ecb_last_error(), "$.datasets[0].params: key \"n\" appears more than once"));
    assert_non_null(strstr(ecb_last_error(), "$.methods[0].pipeline[0]: key \"method\" appears more than once"));
    /* in keys the report reads, too */
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], "
                 "\"ci\": {\"tolerances\": {\"ndcg@10\": 0.1, \"ndcg@10\": 0.2}}}",
                 "$.ci.tolerances: key \"ndcg@10\" appears more than once");
    /* many duplicates: a bounded message with the count of the rest */
    char big[40000];
    size_t off = (size_t)snprintf(big, sizeof big, "{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"ci\": {\"tolerances\": {");
    for (int i = 0; i < 500; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "%s\"m%d\": 1, \"m%d\": 2", i ? ", " : "", i, i);
    snprintf(big + off, sizeof big - off, "}}}");
    expect_error(big, "problems:");
    assert_non_null(strstr(ecb_last_error(), "more"));
    assert_true(strlen(ecb_last_error()) < 2048);
}

/* After a dataset loads: corpus_sizes must fit in it; a k beyond it is a
 * warning (trec_eval defines such cutoffs), not an error. */
static void test_check_dataset(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "float32")) TU_SKIP("plugins not built");
    ecb_config *c;
    assert_int_equal(load("{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 1000}}, "
                          "{\"builtin\": \"synthetic\", \"params\": {\"n\": 5000}, \"corpus_sizes\": [200, 6000, 3000, 7000]}], "
                          "\"methods\": [{\"method\": \"float32\"}], \"k\": [10, 500]}", &c), 0);
    assert_int_equal(ecb_config_check_dataset(c, 0, 1000), 0);
    assert_int_equal(ecb_config_check_dataset(c, 0, 400), 0);
    assert_int_equal(ecb_config_check_dataset(c, 1, 5000), ECB_EINVAL);
    const char *m = ecb_last_error();
    assert_non_null(strstr(m, "2 problems:"));
    assert_non_null(strstr(m, "$.datasets[1].corpus_sizes[1]: expected at most the corpus size of synthetic-5000x128 (5000 documents), got 6000"));
    assert_non_null(strstr(m, "$.datasets[1].corpus_sizes[3]: expected at most"));
    assert_null(strstr(m, "$.k"));
    assert_null(strstr(m, "corpus_sizes[2]"));
    ecb_config_free(c);
}

/* The cell count is computed before expansion, without overflow, and a
 * sweep above the cap fails at once naming its axes. */
static void test_cell_cap(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    static char buf[200000];
    size_t off = (size_t)snprintf(buf, sizeof buf, "{\"schema_version\": 1, \"datasets\": [{\"builtin\": "
                                  "\"synthetic\", \"corpus_sizes\": [");
    for (int i = 1; i <= 1000; i++) off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d", i > 1 ? "," : "", i);
    off += (size_t)snprintf(buf + off, sizeof buf - off, "]}], \"methods\": [{\"method\": \"float32\"}, "
                            "{\"method\": \"sq\", \"params\": {\"bits\": [1,2,3,4,5,6,7,8], \"clip\": [");
    for (int i = 0; i < 1000; i++) off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d.%d", i ? "," : "", i / 25, i % 25);
    snprintf(buf + off, sizeof buf - off, "], \"ranges\": [\"per_dim\", \"global\"], \"calibration\": "
             "[\"minmax\", \"percentile\", \"quantile\"]}}], \"rescore\": [\"none\", {\"factor\": [2, 4]}], \"threads\": 1}");
    ecb_config *c = NULL;
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    /* 1000 sizes x (1 + 48000) settings x 2 modes x 3 rescorings = 288,006,000 cells */
    assert_int_equal(ecb_config_from_json(j, "cfg.json", reg, &c), ECB_ERANGE);
    const char *m = ecb_last_error();
    if (!strstr(m, "cfg.json: the sweep expands to 288006000 cells, more than the 100000 a config may have: "
                   "datasets x corpus_sizes 1000 x method settings 48001 x modes 2 x rescore 3 x threads 1; "
                   "$.methods[1]: 48000 (sq.bits 8 x sq.clip 1000 x sq.ranges 2 x sq.calibration 3)"))
        fail_msg("%s", m);
    /* a product past size_t */
    off = (size_t)snprintf(buf, sizeof buf, "{\"schema_version\": 1, " SYN ", \"methods\": [{\"pipeline\": [");
    for (int i = 0; i < 14; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "{\"method\": \"truncate\", \"params\": {\"dim\": "
                                "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}},");
    snprintf(buf + off, sizeof buf - off, "{\"method\": \"sq\", \"params\": {\"bits\": [1,2,3,4,5,6,7,8], \"clip\": [1, 2, 3]}}]}]}");
    expect_error(buf, "cfg.json: the sweep expands to more than 18446744073709551615 cells");
    /* a small sweep is unaffected */
    assert_int_equal(load("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"modes\": [\"symmetric\"]}", &c), 0);
    assert_int_equal(c->n_cells, 1);
    ecb_config_free(c);
}

/* Limits: a default time limit for isolated cells; a written limit makes
 * cells isolated; "isolate": false with a limit would ignore it: rejected. */
static void test_limits(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "float32")) TU_SKIP("plugins not built");
#define LIM(extra) "{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}]" extra "}"
    ecb_config *c;
    assert_int_equal(load(LIM(""), &c), 0);
    assert_true(c->time_limit_s == ECB_CONFIG_DEFAULT_TIME_LIMIT_S && c->time_limit_s == 3600.0);
    assert_true(c->memory_limit_mb == 0);
    assert_int_equal(c->limits_set, 0);
    assert_int_equal(c->isolate, -1);
    ecb_config_free(c);
    assert_int_equal(load(LIM(", \"time_limit_s\": 5"), &c), 0);
    assert_true(c->time_limit_s == 5);
    assert_int_equal(c->limits_set, 1);
    ecb_config_free(c);
    assert_int_equal(load(LIM(", \"memory_limit_mb\": 1024, \"isolate\": true"), &c), 0);
    assert_true(c->memory_limit_mb == 1024 && c->time_limit_s == 3600.0);
    assert_int_equal(c->limits_set, 1);
    ecb_config_free(c);
    assert_int_equal(load(LIM(", \"time_limit_s\": 0, \"isolate\": false"), &c), 0); /* no limit: fine */
    assert_true(c->time_limit_s == 0);
    assert_int_equal(c->limits_set, 0);
    ecb_config_free(c);
    expect_error(LIM(", \"isolate\": false, \"time_limit_s\": 5, \"memory_limit_mb\": 100"), "2 problems:");
    assert_non_null(strstr(ecb_last_error(), "cfg.json: $.time_limit_s: a limit holds only for isolated cells, "
                                             "and $.isolate is false: remove one of them"));
    assert_non_null(strstr(ecb_last_error(), "cfg.json: $.memory_limit_mb: a limit holds only"));
#undef LIM
}

/* threads and the rescoring factor are sweep axes like parameters. */
static void test_thread_and_factor_axes(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "float32")) TU_SKIP("plugins not built");
#define AX(extra) "{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], " \
                  "\"modes\": [\"symmetric\"]" extra "}"
    ecb_config *a, *b, *c;
    assert_int_equal(load(AX(", \"rescore\": [\"none\", {\"factor\": [1, 2, 4], \"with\": \"float32\"}, "
                             "{\"factor\": [3], \"with\": {\"method\": \"sq\", \"params\": {\"bits\": 8}}}]"), &a), 0);
    assert_int_equal(a->n_rescores, 5);
    assert_int_equal(a->n_cells, 5);
    static const char *const labels[] = {"none", "float32x1", "float32x2", "float32x4", "sq(bits=8)x3"};
    for (size_t i = 0; i < 5; i++) assert_string_equal(a->rescores[i].label, labels[i]);
    assert_int_equal(a->rescores[3].factor, 4);
    /* an axis gives the cells listing each factor would */
    assert_int_equal(load(AX(", \"rescore\": [\"none\", {\"factor\": 1}, {\"factor\": 2}, {\"factor\": 4}, "
                             "{\"factor\": 3, \"with\": {\"method\": \"sq\", \"params\": {\"bits\": 8}}}]"), &b), 0);
    for (size_t i = 0; i < 5; i++) assert_string_equal(a->cells[i].id, b->cells[i].id);
    ecb_config_free(a);
    ecb_config_free(b);

    assert_int_equal(load(AX(", \"threads\": [1, 3, 2]"), &a), 0);
    assert_int_equal(a->threads, 3);
    assert_int_equal(a->n_cells, 3);
    assert_int_equal(a->cells[0].threads, 1); /* threads vary fastest */
    assert_int_equal(a->cells[1].threads, 3);
    assert_int_equal(a->cells[2].threads, 2);
    assert_string_not_equal(a->cells[0].id, a->cells[1].id);
    assert_non_null(strstr(a->cells[1].canonical, "\"threads\":3"));
    /* one count is no axis: the id is the one every thread count shares */
    assert_int_equal(load(AX(", \"threads\": 2"), &b), 0);
    assert_int_equal(load(AX(", \"threads\": [5]"), &c), 0);
    assert_int_equal(b->n_cells, 1);
    assert_int_equal(b->cells[0].threads, 2);
    assert_int_equal(c->cells[0].threads, 5);
    assert_string_equal(b->cells[0].id, c->cells[0].id);
    assert_null(strstr(b->cells[0].canonical, "threads"));
    ecb_config_free(a);
    ecb_config_free(b);
    ecb_config_free(c);
    assert_int_equal(load(AX(""), &a), 0); /* default: the online CPUs, one count */
    assert_int_equal(a->n_threads_list, 1);
    assert_true(a->threads >= 1 && a->cells[0].threads == a->threads);
    ecb_config_free(a);

    expect_error(AX(", \"threads\": []"), "cfg.json: $.threads: empty array: a sweep axis needs at least one value");
    expect_error(AX(", \"threads\": [1, 0]"), "cfg.json: $.threads[1]: expected an integer in [1, 1024], got 0");
    expect_error(AX(", \"threads\": [2, 2]"), "the same cell twice (float32, symmetric, rescore none, 2 threads)");
    expect_error(AX(", \"rescore\": [{\"factor\": [4, 0, 2000]}]"), "2 problems:");
    assert_non_null(strstr(ecb_last_error(), "cfg.json: $.rescore[0].factor[1]: expected an integer in [1, 1000], got 0"));
    assert_non_null(strstr(ecb_last_error(), "cfg.json: $.rescore[0].factor[2]: expected an integer in [1, 1000], got 2000"));
    expect_error(AX(", \"rescore\": [{\"factor\": []}]"), "$.rescore[0].factor: empty array");
    expect_error(AX(", \"rescore\": [{\"with\": \"float32\"}]"), "$.rescore[0].factor: expected an integer in [1, 1000], got nothing");
#undef AX
}

/* The params column and labels list only parameters that apply (sq's clip
 * only with calibration "percentile"), from the plugin's param_conds; a
 * setting that cannot matter makes no cell of its own, and ids of cells
 * written without one do not move. */
static void test_applicable_params(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
#define AP(params) "{\"schema_version\": 1, " SYN ", \"modes\": [\"symmetric\"], \"methods\": [" params "]}"
    ecb_config *a, *b;
    assert_int_equal(load(AP("{\"method\": \"sq\", \"params\": {\"calibration\": [\"minmax\", \"percentile\", "
                             "\"quantile\"], \"clip\": [2.5, 5]}}"), &a), 0);
    assert_int_equal(a->n_cells, 4); /* minmax, percentile x 2, quantile: not 6 */
    assert_string_equal(a->cells[0].params_col, "bits=8;calibration=minmax;ranges=per_dim");
    assert_string_equal(a->cells[0].label_col, "sq(calibration=minmax)");
    assert_string_equal(a->cells[1].params_col, "bits=8;calibration=percentile;clip=2.5;ranges=per_dim");
    assert_string_equal(a->cells[1].label_col, "sq(calibration=percentile,clip=2.5)");
    assert_string_equal(a->cells[2].label_col, "sq(calibration=percentile,clip=5)");
    assert_string_equal(a->cells[3].params_col, "bits=8;calibration=quantile;ranges=per_dim");
    /* the minmax cell is the one written without clip, whatever clip said */
    assert_int_equal(load(AP("{\"method\": \"sq\", \"params\": {\"calibration\": \"minmax\", \"clip\": 7}}"), &b), 0);
    assert_string_equal(b->cells[0].id, a->cells[0].id);
    assert_string_equal(b->cells[0].label_col, "sq(calibration=minmax)");
    ecb_config_free(b);
    assert_int_equal(load(AP("{\"method\": \"sq\", \"params\": {\"calibration\": \"minmax\"}}"), &b), 0);
    assert_string_equal(b->cells[0].id, a->cells[0].id);
    ecb_config_free(b);
    ecb_config_free(a);
    /* a value written twice is still an error, and so is the same cell in two entries */
    expect_error(AP("{\"method\": \"sq\", \"params\": {\"bits\": [8, 8]}}"), "the same cell twice");
    expect_error(AP("{\"method\": \"sq\"}, {\"method\": \"sq\", \"params\": {\"clip\": 9}}"), "the same cell twice");
    /* pipelines: the condition holds per stage */
    assert_int_equal(load(AP("{\"pipeline\": [{\"method\": \"truncate\", \"params\": {\"dim\": 16}}, "
                             "{\"method\": \"sq\", \"params\": {\"clip\": [1, 2]}}]}"), &a), 0);
    assert_int_equal(a->n_cells, 1);
    assert_string_equal(a->cells[0].params_col, "dim=16;renormalize=false>bits=8;calibration=minmax;ranges=per_dim");
    ecb_config_free(a);
#undef AP
}

/* "label" on a method entry: shown instead of the generated label (with
 * the entry's swept values, so its cells stay apart), never in the id; one
 * entry per label, and no other entry's cells called the same. */
static void test_labels(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
#define LB(methods) "{\"schema_version\": 1, " SYN ", \"modes\": [\"symmetric\"], \"methods\": [" methods "]}"
    ecb_config *a, *b;
    assert_int_equal(load(LB("{\"method\": \"sq\", \"params\": {\"bits\": [8, 2], \"calibration\": \"quantile\"}, "
                             "\"label\": \"percentile\"}, {\"method\": \"binary\", \"label\": \"signs\"}, "
                             "{\"pipeline\": [{\"method\": \"pca\", \"params\": {\"dim\": [8, 16]}}, "
                             "{\"method\": \"sq\", \"params\": {\"bits\": [4]}}], \"label\": \"pca-sq\"}"), &a), 0);
    assert_int_equal(load(LB("{\"method\": \"sq\", \"params\": {\"bits\": [8, 2], \"calibration\": \"quantile\"}}, "
                             "{\"method\": \"binary\"}, {\"pipeline\": [{\"method\": \"pca\", \"params\": {\"dim\": [8, 16]}}, "
                             "{\"method\": \"sq\", \"params\": {\"bits\": [4]}}]}"), &b), 0);
    static const char *const want[] = {"percentile(bits=8)", "percentile(bits=2)", "signs",
                                       "pca-sq(dim=8,bits=4)", "pca-sq(dim=16,bits=4)"};
    assert_int_equal(a->n_cells, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(a->cells[i].label_col, want[i]);
        assert_string_equal(a->cells[i].id, b->cells[i].id); /* the id hashes the parameters only */
        assert_string_equal(a->cells[i].params_col, b->cells[i].params_col);
        assert_string_equal(a->cells[i].method_col, b->cells[i].method_col);
    }
    assert_string_equal(b->cells[0].label_col, "sq(bits=8,calibration=quantile)");
    ecb_config_free(a);
    ecb_config_free(b);
    /* a baseline may name a label */
    assert_int_equal(load("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\", "
                          "\"label\": \"ref\"}], \"baseline\": {\"label\": \"ref\"}}", &a), 0);
    ecb_config_free(a);
    /* every problem at once: a label twice, a label that is another entry's
     * cells' name, bad values, a misspelt key, labels where none belong */
    expect_error(LB("{\"method\": \"sq\", \"label\": \"x\"}, {\"method\": \"binary\", \"label\": \"x\"}, "
                    "{\"method\": \"float16\", \"label\": 3}, {\"method\": \"float8\", \"label\": \"\"}, "
                    "{\"method\": \"bfloat16\", \"lable\": \"y\"}, "
                    "{\"pipeline\": [{\"method\": \"pca\", \"label\": \"p\"}, {\"method\": \"sq\"}]}"),
                 "5 problems:");
    const char *m = ecb_last_error();
    assert_non_null(strstr(m, "cfg.json: $.methods[1].label: \"x\" is also the label of $.methods[0]: a label "
                              "names one entry of the sweep"));
    assert_non_null(strstr(m, "cfg.json: $.methods[2].label: expected a non-empty string of at most 200 printable "
                              "characters, got a number"));
    assert_non_null(strstr(m, "cfg.json: $.methods[3].label: expected a non-empty string of at most 200 "
                              "printable characters, got an empty string"));
    assert_non_null(strstr(m, "$.methods[4]: unknown key \"lable\"; did you mean \"label\"?"));
    assert_non_null(strstr(m, "$.methods[5].pipeline[0]: unknown key \"label\""));
    expect_error(LB("{\"method\": \"float32\"}, {\"method\": \"sq\", \"label\": \"float32\"}"),
                 "cfg.json: $.methods[1].label: its cells are labelled \"float32\", like cells of $.methods[0]: "
                 "expected a label no other entry's cells have");
    expect_error("{\"schema_version\": 1, " SYN ", \"methods\": [{\"method\": \"float32\"}], \"rescore\": "
                 "[{\"factor\": 2, \"with\": {\"method\": \"sq\", \"label\": \"s\"}}]}",
                 "$.rescore[0].with: unknown key \"label\"");
#undef LB
}

/* configs/papers/corect.json: CoRECT's names on the sq rows, and every
 * cell id as before the labels (ids from the commit before them). */
static void test_corect_config(void **state)
{
    (void)state;
    if (!ecb_registry_find(reg, "sq")) TU_SKIP("plugins not built");
    const char *src = getenv("ECB_SOURCE_DIR");
    if (!src) TU_SKIP("ECB_SOURCE_DIR not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/papers/corect.json", src);
    static const char *const ids[] = {
        "071874e1fca1506d float32", "bf908741133a9ca8 float16", "a44c89615f95846f bfloat16",
        "8d1f7797c76437c1 float8(format=e4m3)", "519cb9c9bb4ababf float8(format=e5m2)",
        "7860a9449fbe25f4 percentile(bits=8)", "344c9b75b2e1817f percentile(bits=4)",
        "3bfa440eb08b1f40 percentile(bits=2)", "2e06479154550e4c equal_distance(bits=8)",
        "0ff49be156c2fbd2 equal_distance(bits=4)", "a220a32ff6493cdf equal_distance(bits=2)",
        "98b7c6b9feec35b6 binary(threshold=zero)", "a4495c599bdd9f18 binary(threshold=median)",
        "f1efdd8390c09c15 pq(m=768,nbits=8,shared_codebook=true)",
        "0a5890fc88aceef5 pq(m=768,nbits=2,shared_codebook=true)",
        "7ccc68aeec996fa7 pq(m=384,nbits=8,shared_codebook=true)",
        "4bb1575fd4da6ece pq(m=384,nbits=2,shared_codebook=true)",
        "ec380fa6f4e273b9 pq(m=192,nbits=8,shared_codebook=true)",
        "5e3f9234995b1f55 pq(m=192,nbits=2,shared_codebook=true)",
        "4345472846dee5e7 pq(m=96,nbits=8,shared_codebook=true)",
        "a816292cf25f2d3a pq(m=96,nbits=2,shared_codebook=true)", "4d32d6df07ddd31a pca(dim=384)",
        "af24ef10c0115d47 pca(dim=192)", "793f4ed04b262f99 pca(dim=96)", "07f7c834b9cbe6a9 pca(dim=48)",
        "41b2046b26365528 pca(dim=24)", "1636eafe126444dc truncate(dim=384,renormalize=true)",
        "9ddef0dba8706539 truncate(dim=192,renormalize=true)",
        "3b04c1194330ea4f truncate(dim=96,renormalize=true)",
        "aa4c11577e73f56b truncate(dim=48,renormalize=true)",
        "97affebf084dcd21 truncate(dim=24,renormalize=true)", "61a71adad4eb68e8 lsh(nbits=6144)",
        "eb7ebd47fe43f380 lsh(nbits=3072)", "54d867c68d837e2b lsh(nbits=1536)",
        "2055866c70d44903 lsh(nbits=768)",
    };
    ecb_config *c;
    assert_int_equal(ecb_config_load(path, reg, &c), 0);
    assert_int_equal(c->n_cells, sizeof ids / sizeof *ids);
    for (size_t i = 0; i < c->n_cells; i++) {
        char got[256];
        snprintf(got, sizeof got, "%s %s", c->cells[i].id, c->cells[i].label_col);
        assert_string_equal(got, ids[i]);
    }
    ecb_config_free(c);
}

/* Condition tables are checked when a plugin loads. */
static void test_param_conds_validate(void **state)
{
    (void)state;
    static const char *const beta[] = {"beta", NULL}, *const bad[] = {"betta", NULL}, *const yes[] = {"true", NULL};
    static const ecb_param_cond ok[] = {{"d", "e", beta}, {"u", "flag", yes}, {NULL}};
    static const ecb_param_cond unknown[] = {{"dd", "e", beta}, {NULL}};
    static const ecb_param_cond badval[] = {{"d", "e", bad}, {NULL}};
    static const ecb_param_cond self[] = {{"d", "d", beta}, {NULL}};
    static const ecb_param_cond loop[] = {{"d", "u", beta}, {"u", "d", beta}, {NULL}};
    assert_int_equal(ecb_param_conds_validate(tp_table, NULL, "x.so"), 0);
    assert_int_equal(ecb_param_conds_validate(tp_table, ok, "x.so"), 0);
    assert_int_equal(ecb_param_conds_validate(tp_table, unknown, "x.so"), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "x.so: param_conds[0]: expected two different parameters of the table, got \"dd\" if \"e\""));
    assert_int_equal(ecb_param_conds_validate(tp_table, badval, "x.so"), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "\"betta\" is not a value of e"));
    assert_int_equal(ecb_param_conds_validate(tp_table, self, "x.so"), ECB_EINVAL);
    assert_int_equal(ecb_param_conds_validate(tp_table, loop, "x.so"), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "loop"));
    /* applies: d only when e is beta, u only when flag is true */
    struct tp p;
    assert_int_equal(fill("{\"e\": \"gamma\", \"d\": 7, \"flag\": false, \"u\": 9}", &p), 0);
    assert_int_equal(ecb_param_applies(tp_table, ok, 3, &p), 0);
    assert_int_equal(ecb_param_applies(tp_table, ok, 2, &p), 0);
    assert_int_equal(ecb_param_applies(tp_table, ok, 1, &p), 1);
    char buf[256];
    assert_int_equal(ecb_params_format_applicable(tp_table, ok, &p, ";", ~(uint64_t)0, buf, sizeof buf), 0);
    assert_string_equal(buf, "flag=false;i=-3;e=gamma");
    uint64_t given = 0x1f;
    assert_int_equal(ecb_params_reset_inapplicable(tp_table, ok, &p, &given), 2);
    assert_true(p.d == 2.5 && p.u == 8);
    assert_int_equal(given, 0x13);
}

/* The list of problems fits the error message whatever the lengths (the
 * fuzzer found lines that ended just short of the buffer's end). */
static void test_problems_bounded(void **state)
{
    (void)state;
    static char line[3000];
    for (size_t len = 1; len < sizeof line; len += 37)
        for (size_t n = 1; n <= 5; n++) {
            ecb_problems pr = {0};
            memset(line, 'x', len);
            line[len] = '\0';
            for (size_t i = 0; i < n; i++) ecb_problems_add(&pr, ecb_fail(ECB_EINVAL, "%s", line));
            assert_int_equal(ecb_problems_finish(&pr, "f.json"), ECB_EINVAL);
            const char *m = ecb_last_error();
            assert_true(strlen(m) < 2048);
            if (n > 1) assert_non_null(strstr(m, "f.json: "));
            if (n > 1) assert_non_null(strstr(m, " problems:\n  1. x"));
        }
    ecb_problems none = {0};
    assert_int_equal(ecb_problems_finish(&none, "f.json"), 0);
}

static void test_json_position(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    tu_write_file(path, "{\n  \"a\": 1,\n  \"b\": [1, 2,,]\n}\n");
    cJSON *j = NULL;
    assert_int_equal(ecb_json_load_file(path, &j), ECB_EFORMAT);
    assert_non_null(strstr(ecb_last_error(), "bad.json:3:"));
    size_t line, col;
    ecb_text_position("ab\ncd\nef", 7, &line, &col);
    assert_int_equal(line, 3);
    assert_int_equal(col, 2);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_defaults_and_values),
        cmocka_unit_test(test_params_errors),
        cmocka_unit_test(test_did_you_mean),
        cmocka_unit_test(test_json_position),
        cmocka_unit_test_setup_teardown(test_registry, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_expansion, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_errors, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_all_problems, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_report_keys, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_check_dataset, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_cell_cap, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_limits, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_thread_and_factor_axes, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_applicable_params, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_labels, setup_reg, teardown_reg),
        cmocka_unit_test_setup_teardown(test_corect_config, setup_reg, teardown_reg),
        cmocka_unit_test(test_param_conds_validate),
        cmocka_unit_test(test_problems_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
