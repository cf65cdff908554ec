/*
 * Sweep expansion: method entries (a method or a pipeline, with parameter
 * axes, a "label" and "budget" targets) become chains; the cells are
 * counted (and capped) before anything is allocated, then the chains go to
 * config_cells.c, which makes the cells. Stages and rescoring are in
 * config_stage.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config_impl.h"
#include "harness/params.h"

/* ---- method entries ------------------------------------------------------ */

/* The parsed methods[] entries: the stages of entry e are
 * st[first[e] .. first[e] + n[e]). */
typedef struct {
    ecb_cfg_stage *st;
    size_t nst, cap;
    size_t *first, *n, nent;
    const char **label;           /* per entry: its "label", or NULL */
    ecb_budget_target **budgets;  /* per entry: its "budget" targets (nbudgets[e] of them) */
    size_t *nbudgets;
} entry_list;

/* A new stage slot, or NULL (out of memory, recorded). */
static ecb_cfg_stage *new_stage(entry_list *l, ecb_problems *pr)
{
    if (l->nst == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        ecb_cfg_stage *ns = realloc(l->st, nc * sizeof *ns);
        if (!ns) {
            ecb_problems_add(pr, ecb_fail(ECB_ENOMEM, "out of memory"));
            return NULL;
        }
        l->st = ns;
        l->cap = nc;
    }
    return &l->st[l->nst++];
}

static void entries_free(entry_list *l)
{
    for (size_t e = 0; l->budgets && e < l->nent; e++) free(l->budgets[e]);
    free(l->budgets);
    free(l->nbudgets);
    free((void *)l->label);
    free(l->st);
    free(l->first);
    free(l->n);
}

/* An entry's "label": a non-empty string of printable characters. */
static void parse_label(const cJSON *v, const char *file, const char *jpath, entry_list *l,
                        size_t ei, ecb_problems *pr)
{
    if (!v) return;
    char got[64] = "";
    if (!cJSON_IsString(v)) snprintf(got, sizeof got, "%s", ecb_cfg_json_type(v));
    else if (!v->valuestring[0]) snprintf(got, sizeof got, "an empty string");
    else if (strlen(v->valuestring) > 200)
        snprintf(got, sizeof got, "a string of %zu characters", strlen(v->valuestring));
    for (const char *p = got[0] ? "" : v->valuestring; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) snprintf(got, sizeof got, "a control character");
    if (got[0]) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.label: expected a non-empty string of at most 200 "
                        "printable characters, got %s", file, jpath, got);
        return;
    }
    l->label[ei] = v->valuestring;
}

/* An entry's "budget": one target or a non-empty array of them. */
static void parse_budget(const cJSON *v, const char *file, const char *jpath, entry_list *l,
                         size_t ei, ecb_problems *pr)
{
    if (!v) return;
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1, i = 0, before = pr->n;
    if (cJSON_IsArray(v) && n == 0) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.budget: empty array: expected at least one budget "
                        "(\"32B\", 32, \"16x\")", file, jpath);
        return;
    }
    ecb_budget_target *t = ecb_calloc(n, sizeof *t);
    if (!t) { ecb_problems_add(pr, ECB_ENOMEM); return; }
    for (const cJSON *it = cJSON_IsArray(v) ? v->child : v; it; it = cJSON_IsArray(v) ? it->next : NULL, i++) {
        char jp[96];
        if (cJSON_IsArray(v)) snprintf(jp, sizeof jp, "%s.budget[%zu]", jpath, i);
        else snprintf(jp, sizeof jp, "%s.budget", jpath);
        if (ecb_budget_target_parse(it, &t[i])) {
            char got[128];
            if (cJSON_IsString(it)) snprintf(got, sizeof got, "\"%.100s\"", it->valuestring);
            else snprintf(got, sizeof got, "%s", cJSON_IsNumber(it) ? "a number <= 0" : ecb_cfg_json_type(it));
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected bytes per vector (\"32B\", 32, "
                            "\"1KiB\") or a compression ratio against float32 (\"16x\"), got %s",
                            file, jp, got);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (t[j].text[0] && !strcmp(t[j].text, t[i].text)) {
                ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: %s is listed twice (also %s.budget[%zu])",
                                file, jp, t[i].text, jpath, j);
                break;
            }
    }
    if (pr->n > before) { free(t); return; }
    l->budgets[ei] = t;
    l->nbudgets[ei] = n;
}

/* One methods[] entry: a method, or {"pipeline": [transforms..., quantizer]}. */
static void parse_entry(const cJSON *e, size_t ei, const char *file, const ecb_registry *reg,
                        entry_list *l, ecb_problems *pr)
{
    char jpath[48];
    snprintf(jpath, sizeof jpath, "$.methods[%zu]", ei);
    size_t before = pr->n, first = l->nst;
    l->first[ei] = first;
    l->n[ei] = 0;
    if (!cJSON_IsObject(e)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected an object, got %s", file, jpath,
                        ecb_cfg_json_type(e));
        return;
    }
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(e, "pipeline");
    parse_label(cJSON_GetObjectItemCaseSensitive(e, "label"), file, jpath, l, ei, pr);
    parse_budget(cJSON_GetObjectItemCaseSensitive(e, "budget"), file, jpath, l, ei, pr);
    if (!pipe) {
        static const char *const keys[] = {"method", "params", "budget", "label", NULL};
        ecb_cfg_stage *st = new_stage(l, pr);
        if (st) ecb_cfg_parse_stage(e, file, jpath, reg, keys, st, pr);
    } else {
        static const char *const keys[] = {"pipeline", "budget", "label", NULL};
        ecb_cfg_check_keys(e, keys, file, jpath, pr);
        if (!cJSON_IsArray(pipe) || cJSON_GetArraySize(pipe) < 1 || cJSON_GetArraySize(pipe) > 15) {
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.pipeline: expected an array of 1..15 stages, got %s",
                            file, jpath, ecb_cfg_json_type(pipe));
            return;
        }
        size_t i = 0;
        for (const cJSON *s = pipe->child; s; s = s->next, i++) {
            char sp[64];
            snprintf(sp, sizeof sp, "%s.pipeline[%zu]", jpath, i);
            ecb_cfg_stage *st = new_stage(l, pr);
            if (st) ecb_cfg_parse_stage(s, file, sp, reg, NULL, st, pr);
        }
    }
    l->n[ei] = l->nst - first;
    /* Stage order rule: transforms first, then at most one quantizer, last. */
    for (size_t i = first; i + 1 < l->nst; i++)
        if (l->st[i].plugin && !(l->st[i].plugin->vt.flags & ECB_METHOD_TRANSFORM))
            ecb_cfg_problem(pr, ECB_EINVAL,
                            "%s: %s: \"%s\" is a quantizer; only the last stage of a pipeline may "
                            "be one (expected a transform such as truncate, pca, rp, rotate)",
                            file, l->st[i].jpath, l->st[i].plugin->vt.name);
    if (pr->n > before) l->n[ei] = 0; /* nothing of it is expanded */
}

/* Two entries may not carry one label: the report tells rows apart by it. */
static void check_label_keys(const entry_list *l, const char *file, ecb_problems *pr)
{
    size_t n = 0;
    for (size_t e = 0; e < l->nent; e++) n += l->label[e] != NULL;
    if (n < 2) return;
    ecb_cfg_keyed *v = ecb_calloc(n, sizeof *v);
    if (!v) { ecb_problems_add(pr, ECB_ENOMEM); return; }
    n = 0;
    for (size_t e = 0; e < l->nent; e++)
        if (l->label[e]) v[n++] = (ecb_cfg_keyed){l->label[e], e};
    qsort(v, n, sizeof *v, ecb_cfg_cmp_keyed);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i].key, v[i - 1].key))
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.methods[%zu].label: \"%s\" is also the label of "
                            "$.methods[%zu]: a label names one entry of the sweep", file, v[i].i,
                            v[i].key, v[i - 1].i);
    free(v);
}

static int parse_entries(const cJSON *methods, const char *file, const ecb_registry *reg,
                         entry_list *l, ecb_problems *pr)
{
    memset(l, 0, sizeof *l);
    if (!cJSON_IsArray(methods) || cJSON_GetArraySize(methods) < 1)
        return ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.methods: expected a non-empty array, got %s", file,
                               ecb_cfg_json_type(methods));
    size_t n = (size_t)cJSON_GetArraySize(methods);
    l->first = ecb_calloc(n, sizeof *l->first);
    l->n = ecb_calloc(n, sizeof *l->n);
    l->label = ecb_calloc(n, sizeof *l->label);
    l->budgets = ecb_calloc(n, sizeof *l->budgets);
    l->nbudgets = ecb_calloc(n, sizeof *l->nbudgets);
    if (!l->first || !l->n || !l->label || !l->budgets || !l->nbudgets)
        return ecb_problems_add(pr, ECB_ENOMEM);
    for (const cJSON *it = methods->child; it; it = it->next, l->nent++)
        parse_entry(it, l->nent, file, reg, l, pr);
    check_label_keys(l, file, pr);
    return 0;
}

/* The chains of entry ei, appended to chains (room for them is there);
 * reset[t]: chain t had a setting that does not apply. */
static int fill_entry(const entry_list *l, size_t ei, const char *file, ecb_chain *chains,
                      unsigned char *reset)
{
    const ecb_cfg_stage *specs = &l->st[l->first[ei]];
    size_t ns = l->n[ei], total = 1;
    for (size_t i = 0; i < ns; i++) total *= specs[i].combos; /* counted without overflow before */
    for (size_t t = 0; t < total; t++) {
        ecb_chain *c = &chains[t];
        c->n = ns;
        c->stages = ecb_calloc(ns, sizeof *c->stages);
        if (!c->stages) return ECB_ENOMEM;
        /* Last stage varies fastest in the listing order: iterate in reverse. */
        size_t idx = t, sub[16];
        for (size_t i = ns; i-- > 0;) {
            sub[i] = idx % specs[i].combos;
            idx /= specs[i].combos;
        }
        for (size_t i = 0; i < ns; i++) {
            int rc = ecb_cfg_stage_fill(&specs[i], sub[i], file, &c->stages[i]);
            if (rc < 0) return rc;
            if (rc) reset[t] = 1;
        }
    }
    return 0;
}

/* The n chains of one entry, minus those that only differ from an earlier
 * one by a setting that does not apply (reset[i]): calibration x clip
 * sweeps give each minmax cell once. A chain written twice stays, for the
 * "same cell twice" error. Returns the new count. */
static size_t drop_inapplicable_twins(ecb_chain *ch, size_t n, const unsigned char *reset)
{
    size_t any = 0;
    for (size_t i = 0; i < n; i++) any |= reset[i];
    if (!any) return n;
    ecb_cfg_keyed *k = ecb_calloc(n, sizeof *k);
    unsigned char *drop = ecb_calloc(n, 1);
    int ok = k && drop;
    for (size_t i = 0; ok && i < n; i++) {
        char lab[8192];
        ok = ecb_chain_label(&ch[i], 1, lab, sizeof lab) == 0 && (k[i].key = ecb_strdup(lab));
        k[i].i = i;
    }
    if (ok) {
        qsort(k, n, sizeof *k, ecb_cfg_cmp_keyed);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(k[i].key, k[i - 1].key) && reset[k[i].i]) drop[k[i].i] = 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ok && drop[i]) ecb_chain_release(&ch[i]);
        else ch[m++] = ch[i];
    }
    memset(ch + m, 0, (n - m) * sizeof *ch); /* no stale copies past the end */
    for (size_t i = 0; k && i < n; i++) free((char *)k[i].key);
    free(k);
    free(drop);
    return m;
}

/* The chains at [start, *nchains), each repeated once per budget of entry
 * ei (the budget varying fastest). */
static int per_budget(const entry_list *l, size_t ei, ecb_chain *chains, ecb_cfg_chain_src *src,
                      size_t start, size_t *nchains)
{
    size_t m = *nchains - start, nb = l->nbudgets[ei];
    ecb_chain *tmp = ecb_calloc(m ? m : 1, sizeof *tmp);
    if (!tmp) return ECB_ENOMEM;
    memcpy(tmp, chains + start, m * sizeof *tmp);
    memset(chains + start, 0, m * sizeof *tmp);
    *nchains = start;
    int rc = 0;
    for (size_t j = 0; j < m && !rc; j++)
        for (size_t b = 0; b < nb && !rc; b++) {
            ecb_chain *dst = &chains[*nchains];
            src[(*nchains)++] = (ecb_cfg_chain_src){ei, b};
            if (b + 1 < nb) {
                rc = ecb_cfg_chain_copy(dst, &tmp[j]);
            } else {
                *dst = tmp[j];
                tmp[j].stages = NULL;
                tmp[j].n = 0;
            }
        }
    for (size_t j = 0; j < m; j++) ecb_chain_release(&tmp[j]); /* what was not moved */
    free(tmp);
    return rc;
}

/* The chains of entry ei, appended to chains at *nchains (src says where
 * each comes from). */
static int expand_entry(const entry_list *l, size_t ei, const char *file, ecb_chain *chains,
                        ecb_cfg_chain_src *src, size_t *nchains)
{
    size_t total = 1, start = *nchains;
    for (size_t i = 0; i < l->n[ei]; i++) total *= l->st[l->first[ei] + i].combos;
    unsigned char *reset = ecb_calloc(total ? total : 1, 1);
    if (!reset) return ECB_ENOMEM;
    int rc = fill_entry(l, ei, file, chains + *nchains, reset);
    /* chains filled so far are counted, so that they are released */
    size_t filled = 0;
    while (filled < total && chains[*nchains + filled].stages) filled++;
    *nchains += rc ? filled : drop_inapplicable_twins(chains + *nchains, total, reset);
    free(reset);
    for (size_t i = start; i < *nchains; i++) src[i] = (ecb_cfg_chain_src){ei, SIZE_MAX};
    if (!rc && l->nbudgets[ei]) rc = per_budget(l, ei, chains, src, start, nchains);
    return rc;
}

/* ---- the size of the sweep ----------------------------------------------------- */

/* Settings of entry ei: its parameter combinations, one per budget when
 * it has budgets. */
static size_t entry_combos(const entry_list *l, size_t ei)
{
    size_t n = l->nbudgets[ei] ? l->nbudgets[ei] : 1;
    for (size_t i = 0; i < l->n[ei]; i++) n = ecb_cfg_mul_sat(n, l->st[l->first[ei] + i].combos);
    return n;
}

/* "$.methods[3] 4000 (bits 8 x clip 500)": where a large count comes from. */
static size_t describe_entry(const entry_list *l, size_t ei, char *buf, size_t n)
{
    int w = snprintf(buf, n, "; $.methods[%zu]: %zu", ei, entry_combos(l, ei));
    size_t off = w > 0 && (size_t)w < n ? (size_t)w : 0, first = 1;
    for (size_t i = 0; i < l->n[ei]; i++) {
        const ecb_cfg_stage *s = &l->st[l->first[ei] + i];
        for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next) {
            if (ecb_cfg_axis_len(it) < 2 || off + 64 > n) continue;
            off += (size_t)snprintf(buf + off, n - off, "%s%s.%.24s %zu", first ? " (" : " x ",
                                    s->plugin->vt.name, it->string, ecb_cfg_axis_len(it));
            first = 0;
        }
    }
    if (l->nbudgets[ei] > 1 && off + 40 < n) {
        off += (size_t)snprintf(buf + off, n - off, "%sbudget %zu", first ? " (" : " x ",
                                l->nbudgets[ei]);
        first = 0;
    }
    if (!first && off + 2 < n) off += (size_t)snprintf(buf + off, n - off, ")");
    return off;
}

/* Cells are counted, with overflow checks, before anything is allocated:
 * a sweep of 10^9 cells fails here at once instead of when memory runs out. */
static int count_cells(const ecb_config *c, const entry_list *l, size_t *nchains, size_t *ncells)
{
    size_t sizes = 0, chains = 0, big[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t d = 0; d < c->n_datasets; d++) {
        size_t k = c->datasets[d].n_corpus_sizes;
        sizes = sizes + k < sizes ? SIZE_MAX : sizes + k;
    }
    for (size_t ei = 0; ei < l->nent; ei++) {
        size_t e = entry_combos(l, ei);
        chains = chains + e < chains ? SIZE_MAX : chains + e;
        /* the three largest entries, for the message */
        for (size_t k = 0; k < 3; k++)
            if (big[k] == SIZE_MAX || e > entry_combos(l, big[k])) {
                memmove(&big[k + 1], &big[k], (2 - k) * sizeof *big);
                big[k] = ei;
                break;
            }
    }
    size_t cells = ecb_cfg_mul_sat(sizes, chains);
    cells = ecb_cfg_mul_sat(ecb_cfg_mul_sat(cells, c->n_modes), c->n_rescores);
    cells = ecb_cfg_mul_sat(cells, c->n_threads_list);
    *nchains = chains;
    *ncells = cells;
    if (cells <= ECB_CONFIG_MAX_CELLS) return 0;
    char why[1024];
    size_t off = 0;
    for (size_t k = 0; k < 3 && big[k] != SIZE_MAX && off + 200 < sizeof why; k++)
        off += describe_entry(l, big[k], why + off, sizeof why - off);
    char total[32];
    if (cells == SIZE_MAX) snprintf(total, sizeof total, "more than %zu", SIZE_MAX);
    else snprintf(total, sizeof total, "%zu", cells);
    return ecb_fail(ECB_ERANGE, "%s: the sweep expands to %s cells, more than the %d a config may "
                    "have: datasets x corpus_sizes %zu x method settings %zu x modes %zu x rescore %zu"
                    " x threads %zu%s; split it into several configs or sweep fewer values", c->path,
                    total, ECB_CONFIG_MAX_CELLS, sizes, chains, c->n_modes, c->n_rescores,
                    c->n_threads_list, why);
}

int ecb_cfg_expand(ecb_config *c, const cJSON *methods, const ecb_registry *reg, ecb_problems *pr)
{
    const char *file = c->path;
    entry_list l;
    ecb_chain *chains = NULL;
    ecb_cfg_chain_src *src = NULL;
    size_t nchains = 0;
    size_t total = 0, ncells = 0;
    int rc = parse_entries(methods, file, reg, &l, pr);
    if (!rc && pr->n) rc = pr->rc; /* a sweep is expanded only from a valid config */
    if (!rc) rc = count_cells(c, &l, &total, &ncells);
    if (!rc && (!(chains = ecb_calloc(total ? total : 1, sizeof *chains)) ||
                !(src = ecb_calloc(total ? total : 1, sizeof *src))))
        rc = ECB_ENOMEM;
    for (size_t ei = 0; !rc && ei < l.nent; ei++)
        rc = expand_entry(&l, ei, file, chains, src, &nchains);
    if (!rc) {
        ecb_cfg_entries e = {l.label, (const ecb_budget_target *const *)l.budgets, l.nent};
        rc = ecb_cfg_make_cells(c, chains, src, nchains, ncells, &e, reg, pr);
    }
    for (size_t i = 0; i < nchains; i++) ecb_chain_release(&chains[i]);
    free(chains);
    free(src);
    entries_free(&l);
    if (rc && !pr->n) ecb_problems_add(pr, rc);
    return rc;
}
