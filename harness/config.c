/*
 * Config schema v1: the top level, datasets and the scalar keys. Every
 * error names the file, the JSON path, what was expected and what was
 * found, and a config wrong in several places reports every problem at
 * once (ecb_problems). JSON helpers are in config_json.c; method entries,
 * rescoring and the cells in config_expand.c; the report's keys in
 * config_report.c.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/config_impl.h"

/* ---- datasets ----------------------------------------------------------- */

/* "builtin" or "manifest": the dataset's key (its identity in cell ids)
 * and display name. */
static void parse_dataset_source(const cJSON *o, const char *file, const char *jpath,
                                 ecb_dataset_spec *d, ecb_problems *pr)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "builtin");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "manifest");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "params");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (nm && !cJSON_IsString(nm)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.name: expected a string, got %s", file, jpath,
                        ecb_cfg_json_type(nm));
        nm = NULL;
    }
    if (!!b == !!m) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected exactly one of \"builtin\" or \"manifest\"",
                        file, jpath);
        return;
    }
    char key[1024];
    if (b && cJSON_IsString(b) && strcmp(b->valuestring, "synthetic-multivector") == 0) {
        /* multi-vector collection (datasets/multivec.c) */
        char where[128];
        snprintf(where, sizeof where, "%s: %s.params", file, jpath);
        ecb_synth_mv_defaults(&d->mvsynth);
        if (ecb_params_fill_all(ecb_synth_mv_param_table, p, &d->mvsynth, where,
                                "synthetic-multivector", pr))
            return;
        d->builtin = 2;
        char ps[512], dn[128];
        ecb_params_format(ecb_synth_mv_param_table, &d->mvsynth, ",", 0, ps, sizeof ps);
        snprintf(key, sizeof key, "synthetic-multivector(%s)", ps);
        snprintf(dn, sizeof dn, "synthetic-mv-%zux%zu", d->mvsynth.docs, d->mvsynth.dim);
        d->name = ecb_strdup(nm ? nm->valuestring : dn);
    } else if (b) {
        if (!cJSON_IsString(b) || strcmp(b->valuestring, "synthetic") != 0) {
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.builtin: expected \"synthetic\" or "
                            "\"synthetic-multivector\", got %s", file, jpath,
                            cJSON_IsString(b) ? b->valuestring : ecb_cfg_json_type(b));
            return;
        }
        char where[128];
        snprintf(where, sizeof where, "%s: %s.params", file, jpath);
        ecb_synth_defaults(&d->synth);
        if (ecb_params_fill_all(ecb_synth_param_table, p, &d->synth, where, "synthetic", pr)) return;
        d->builtin = 1;
        char ps[512];
        ecb_params_format(ecb_synth_param_table, &d->synth, ",", 0, ps, sizeof ps);
        snprintf(key, sizeof key, "synthetic(%s)", ps);
        char dn[128];
        snprintf(dn, sizeof dn, "synthetic-%zux%zu", d->synth.n, d->synth.dim);
        d->name = ecb_strdup(nm ? nm->valuestring : dn);
    } else {
        if (p)
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.params: only built-in datasets take params", file, jpath);
        if (!cJSON_IsString(m)) {
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.manifest: expected a path, got %s", file, jpath,
                            ecb_cfg_json_type(m));
            return;
        }
        d->manifest = ecb_path_join_rel(file, m->valuestring);
        snprintf(key, sizeof key, "manifest(%s)", m->valuestring);
        d->name = nm ? ecb_strdup(nm->valuestring) : NULL; /* filled from the manifest */
    }
    d->key = ecb_strdup(key);
}

/* Nested subsets to evaluate; absent: the full corpus (one entry 0). */
static void parse_corpus_sizes(const cJSON *cs, const char *file, const char *jpath,
                               ecb_dataset_spec *d, ecb_problems *pr)
{
    if (!cs) {
        d->corpus_sizes = ecb_calloc(1, sizeof(size_t));
        if (d->corpus_sizes) d->n_corpus_sizes = 1;
        else ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    if (!cJSON_IsArray(cs) || cJSON_GetArraySize(cs) < 1) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.corpus_sizes: expected a non-empty array of sizes",
                        file, jpath);
        return;
    }
    d->corpus_sizes = ecb_calloc((size_t)cJSON_GetArraySize(cs), sizeof(size_t));
    if (!d->corpus_sizes) {
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    for (const cJSON *it = cs->child; it; it = it->next) {
        char jp[128];
        snprintf(jp, sizeof jp, "%s.corpus_sizes[%zu]", jpath, d->n_corpus_sizes);
        ecb_problems_add(pr, ecb_cfg_get_size(it, file, jp, 1, (size_t)1 << 40,
                                              &d->corpus_sizes[d->n_corpus_sizes++]));
    }
}

static void parse_dataset(const cJSON *o, size_t i, const char *file, ecb_dataset_spec *d,
                          ecb_problems *pr)
{
    static const char *const keys[] = {"builtin", "manifest", "params", "name", "corpus_sizes",
                                       "shards", NULL};
    char jpath[64];
    snprintf(jpath, sizeof jpath, "$.datasets[%zu]", i);
    if (!cJSON_IsObject(o)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected an object, got %s", file, jpath,
                        ecb_cfg_json_type(o));
        return;
    }
    ecb_cfg_check_keys(o, keys, file, jpath, pr);
    parse_dataset_source(o, file, jpath, d, pr);
    parse_corpus_sizes(cJSON_GetObjectItemCaseSensitive(o, "corpus_sizes"), file, jpath, d, pr);
    /* issue 14 (h-mpi): the corpus sliced over MPI ranks; not part of the
     * key, since a sharded cell's numbers are those of one process */
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shards");
    if (sh) {
        char jp[96];
        snprintf(jp, sizeof jp, "%s.shards", jpath);
        ecb_problems_add(pr, ecb_cfg_get_size(sh, file, jp, 1, 65536, &d->shards));
    }
}

static void parse_datasets(ecb_config *c, const cJSON *v, ecb_problems *pr)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.datasets: expected a non-empty array, got %s", c->path,
                        ecb_cfg_json_type(v));
        return;
    }
    c->datasets = ecb_calloc((size_t)cJSON_GetArraySize(v), sizeof *c->datasets);
    if (!c->datasets) {
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    /* counted even when partly filled, so that free() sees it */
    for (const cJSON *it = v->child; it; it = it->next, c->n_datasets++)
        parse_dataset(it, c->n_datasets, c->path, &c->datasets[c->n_datasets], pr);
}

/* ---- the other sections ------------------------------------------------- */

static int parse_name(ecb_config *c, const cJSON *v)
{
    if (v && !cJSON_IsString(v))
        return ecb_fail(ECB_EINVAL, "%s: $.name: expected a string, got %s", c->path,
                        ecb_cfg_json_type(v));
    c->name = ecb_strdup(v ? v->valuestring : "sweep");
    if (!c->name) return ECB_ENOMEM;
    for (const char *p = c->name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return ecb_fail(ECB_EINVAL, "%s: $.name: expected letters, digits, '-', '_' or '.', got \"%s\"",
                            c->path, c->name);
    return 0;
}

static int get_nonneg(const cJSON *json, const char *key, const char *unit, const char *file,
                      double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return ecb_fail(ECB_EINVAL, "%s: $.%s: expected %s >= 0, got %s", file, key, unit,
                        ecb_cfg_json_type(v));
    *out = v->valuedouble;
    return 0;
}

/* seed, sizes, isolation and its limits, with their defaults. */
static void parse_scalars(ecb_config *c, const cJSON *json, ecb_problems *pr)
{
    const char *file = c->path;
    c->seed = 42;
    c->train_size = 100000;
    c->block_rows = 65536;
    c->latency_queries = 200;
    c->isolate = -1;
    c->time_limit_s = ECB_CONFIG_DEFAULT_TIME_LIMIT_S;
    /* seed is read in place of its offset: it is a uint64_t */
    static const struct { const char *key; size_t lo, hi, off; } sizes[] = {
        {"seed", 0, (size_t)1 << 53, SIZE_MAX},
        {"train_size", 1, (size_t)1 << 32, offsetof(ecb_config, train_size)},
        {"block_rows", 64, (size_t)1 << 26, offsetof(ecb_config, block_rows)},
        {"latency_queries", 0, 1000000, offsetof(ecb_config, latency_queries)},
    };
    const cJSON *v;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char jp[64];
        size_t seed = 0, *dst = sizes[i].off == SIZE_MAX ? &seed : (size_t *)((char *)c + sizes[i].off);
        snprintf(jp, sizeof jp, "$.%s", sizes[i].key);
        if (!(v = cJSON_GetObjectItemCaseSensitive(json, sizes[i].key))) continue;
        if (!ecb_problems_add(pr, ecb_cfg_get_size(v, file, jp, sizes[i].lo, sizes[i].hi, dst)) &&
            dst == &seed)
            c->seed = seed;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "isolate"))) {
        if (!cJSON_IsBool(v))
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.isolate: expected true or false, got %s", file,
                            ecb_cfg_json_type(v));
        c->isolate = cJSON_IsTrue(v);
    }
    ecb_problems_add(pr, get_nonneg(json, "time_limit_s", "seconds", file, &c->time_limit_s));
    ecb_problems_add(pr, get_nonneg(json, "memory_limit_mb", "MiB", file, &c->memory_limit_mb));
    /* issue 14: per MPI rank; shards a corpus and streams codes above it */
    ecb_problems_add(pr, get_nonneg(json, "rank_memory_mb", "MiB", file, &c->rank_memory_mb));
    /* A limit holds only in a child process: written, it makes cells isolated. */
    static const char *const limits[] = {"time_limit_s", "memory_limit_mb"};
    for (size_t i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(json, limits[i]);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) continue;
        c->limits_set = 1;
        if (c->isolate == 0)
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.%s: a limit holds only for isolated cells, and "
                            "$.isolate is false: remove one of them", file, limits[i]);
    }
}

/* A thread count or an axis of them; default: the online CPUs. */
static void parse_threads(ecb_config *c, const cJSON *v, ecb_problems *pr)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t def = ncpu > 0 ? (size_t)ncpu : 1;
    if (!v) {
        c->threads_list = ecb_calloc(1, sizeof *c->threads_list);
        if (!c->threads_list) {
            ecb_problems_add(pr, ECB_ENOMEM);
            return;
        }
        c->threads_list[0] = def;
        c->n_threads_list = 1;
    } else {
        ecb_cfg_get_size_axis(v, c->path, "$.threads", 1, 1024, &c->threads_list, &c->n_threads_list, pr);
    }
    c->threads = c->n_threads_list ? 0 : def;
    for (size_t i = 0; i < c->n_threads_list; i++)
        if (c->threads_list[i] > c->threads) c->threads = c->threads_list[i];
}

static int parse_output(ecb_config *c, const cJSON *v)
{
    if (v && !cJSON_IsString(v))
        return ecb_fail(ECB_EINVAL, "%s: $.output: expected a directory path, got %s", c->path,
                        ecb_cfg_json_type(v));
    if (v) c->output = ecb_strdup(v->valuestring);
    else {
        char def[512];
        snprintf(def, sizeof def, "results/%s", c->name ? c->name : "sweep");
        c->output = ecb_strdup(def);
    }
    return c->output ? 0 : ECB_ENOMEM;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Cutoffs, ascending and unique; default 10 and 100. Returns 0 when valid. */
static int parse_ks(ecb_config *c, const cJSON *v, ecb_problems *pr)
{
    if (!v) {
        c->ks = ecb_calloc(2, sizeof *c->ks);
        if (!c->ks) return ecb_problems_add(pr, ECB_ENOMEM);
        c->ks[0] = 10;
        c->ks[1] = 100;
        c->nk = 2;
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
        return ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.k: expected a non-empty array of cutoffs, got %s",
                               c->path, ecb_cfg_json_type(v));
    size_t n = (size_t)cJSON_GetArraySize(v), i = 0, before = pr->n;
    c->ks = ecb_calloc(n, sizeof *c->ks);
    if (!c->ks) return ecb_problems_add(pr, ECB_ENOMEM);
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char jp[32];
        snprintf(jp, sizeof jp, "$.k[%zu]", i);
        ecb_problems_add(pr, ecb_cfg_get_size(it, c->path, jp, 1, 100000, &c->ks[i]));
    }
    if (pr->n > before) return pr->rc;
    qsort(c->ks, n, sizeof *c->ks, cmp_size);
    size_t u = 0;
    for (i = 0; i < n; i++)
        if (u == 0 || c->ks[u - 1] != c->ks[i]) c->ks[u++] = c->ks[i];
    c->nk = u;
    return 0;
}

static void parse_modes(ecb_config *c, const cJSON *v, ecb_problems *pr)
{
    static const char *const names[] = {"symmetric", "asymmetric"};
    if (!v) {
        c->modes = ecb_calloc(2, sizeof *c->modes);
        if (!c->modes) {
            ecb_problems_add(pr, ECB_ENOMEM);
            return;
        }
        c->modes[0] = ECB_MODE_SYMMETRIC;
        c->modes[1] = ECB_MODE_ASYMMETRIC;
        c->n_modes = 2;
        return;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.modes: expected a non-empty array, got %s", c->path,
                        ecb_cfg_json_type(v));
        return;
    }
    c->modes = ecb_calloc((size_t)cJSON_GetArraySize(v), sizeof *c->modes);
    if (!c->modes) {
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    size_t i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, "symmetric") == 0)
            c->modes[c->n_modes++] = ECB_MODE_SYMMETRIC;
        else if (cJSON_IsString(it) && strcmp(it->valuestring, "asymmetric") == 0)
            c->modes[c->n_modes++] = ECB_MODE_ASYMMETRIC;
        else {
            const char *hint = cJSON_IsString(it) ? ecb_did_you_mean(it->valuestring, names, 2) : NULL;
            ecb_cfg_problem(pr, ECB_EINVAL,
                            "%s: $.modes[%zu]: expected \"symmetric\" or \"asymmetric\", got %s%s%s%s",
                            c->path, i, cJSON_IsString(it) ? it->valuestring : ecb_cfg_json_type(it),
                            hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
        }
    }
}

static int parse_schema(const ecb_config *c, const cJSON *json)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "schema_version");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        return ecb_fail(ECB_EINVAL, "%s: $.schema_version: expected 1, got %s", c->path,
                        v ? (cJSON_IsNumber(v) ? "another number" : ecb_cfg_json_type(v))
                          : "nothing (missing)");
    return 0;
}

/* ---- top level -------------------------------------------------------- */

int ecb_config_from_json(cJSON *json, const char *path, const ecb_registry *reg, ecb_config **out)
{
    static const char *const keys[] = {
        "schema_version", "name", "description", "datasets", "methods", "modes", "rescore", "k",
        "threads", "seed", "output", "train_size", "block_rows", "latency_queries", "isolate",
        "time_limit_s", "memory_limit_mb", "rank_memory_mb", "budgets", "budget_metric", "baseline", "ci", NULL};
    const char *file = path ? path : "<config>";
    ecb_problems pr = {0};
    ecb_config *c = ecb_calloc(1, sizeof *c);
    if (!c) { cJSON_Delete(json); return ECB_ENOMEM; }
    c->json = json;
    c->path = ecb_strdup(file);
    if (!c->path) {
        ecb_problems_add(&pr, ECB_ENOMEM);
    } else if (!cJSON_IsObject(json)) {
        ecb_cfg_problem(&pr, ECB_EINVAL, "%s: $: expected a JSON object, got %s", file,
                        ecb_cfg_json_type(json));
    } else {
#define SECTION(key) cJSON_GetObjectItemCaseSensitive(json, key)
        ecb_json_find_duplicates(json, file, &pr);
        ecb_cfg_check_keys(json, keys, file, "$", &pr);
        ecb_problems_add(&pr, parse_schema(c, json));
        ecb_problems_add(&pr, parse_name(c, SECTION("name")));
        parse_threads(c, SECTION("threads"), &pr);
        parse_scalars(c, json, &pr);
        ecb_problems_add(&pr, parse_output(c, SECTION("output")));
        int ks_ok = parse_ks(c, SECTION("k"), &pr) == 0;
        parse_modes(c, SECTION("modes"), &pr);
        ecb_cfg_parse_rescores(c, SECTION("rescore"), reg, &pr);
        parse_datasets(c, SECTION("datasets"), &pr);
        ecb_cfg_expand(c, SECTION("methods"), reg, &pr); /* when all above is valid */
        ecb_cfg_check_report(c, json, ks_ok, &pr);
        ecb_cfg_check_baseline(c, json, &pr);
#undef SECTION
    }
    int rc = ecb_problems_finish(&pr, file);
    if (rc) {
        ecb_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int ecb_config_check_dataset(const ecb_config *c, size_t di, size_t n_corpus)
{
    ecb_problems pr = {0};
    const ecb_dataset_spec *d = &c->datasets[di];
    const char *name = d->name ? d->name : d->key;
    size_t smallest = n_corpus;
    for (size_t j = 0; j < d->n_corpus_sizes; j++) {
        size_t s = d->corpus_sizes[j];
        if (s > n_corpus)
            ecb_cfg_problem(&pr, ECB_EINVAL, "%s: $.datasets[%zu].corpus_sizes[%zu]: expected at most "
                            "the corpus size of %s (%zu documents), got %zu", c->path, di, j, name,
                            n_corpus, s);
        else if (s && s < smallest)
            smallest = s;
    }
    /* A cutoff beyond the corpus is well defined (trec_eval: the missing ranks
     * are non-relevant, P@k still divides by k) and small test collections
     * use it, so it is said, not refused: one line for the smallest corpus a
     * cell of this dataset searches. */
    if (c->nk && c->ks[c->nk - 1] > smallest)
        ecb_log(ECB_LOG_WARN, "%s: $.k: cutoff %zu is beyond the %s of %s (%zu documents): "
                "metrics at it count the missing ranks as non-relevant, as trec_eval does",
                c->path, c->ks[c->nk - 1],
                smallest < n_corpus ? "smallest corpus_sizes entry" : "corpus size", name,
                smallest);
    return ecb_problems_finish(&pr, c->path);
}

int ecb_config_load(const char *path, const ecb_registry *reg, ecb_config **out)
{
    cJSON *j;
    int rc = ecb_json_load_file(path, &j);
    if (rc) return rc;
    return ecb_config_from_json(j, path, reg, out);
}

void ecb_config_free(ecb_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_cells; i++) {
        ecb_cell *cell = &c->cells[i];
        ecb_chain_release(&cell->chain);
        free(cell->method_col);
        free(cell->params_col);
        free(cell->label_col);
        cJSON_free(cell->canonical);
        free(cell->skip_reason);
    }
    free(c->cells);
    for (size_t i = 0; i < c->n_datasets; i++) {
        free(c->datasets[i].name);
        free(c->datasets[i].key);
        free(c->datasets[i].manifest);
        free(c->datasets[i].corpus_sizes);
    }
    free(c->datasets);
    for (size_t i = 0; i < c->n_rescores; i++) ecb_chain_release(&c->rescores[i].with);
    free(c->rescores);
    free(c->modes);
    free(c->threads_list);
    free(c->ks);
    free(c->output);
    free(c->name);
    free(c->path);
    cJSON_Delete(c->json);
    free(c);
}
