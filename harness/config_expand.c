/*
 * Sweep expansion: method entries (a method or a pipeline, with parameter
 * axes) become chains; the cells are counted (and capped) before anything
 * is allocated, then the product dataset x corpus size x chain x mode x
 * rescoring x threads becomes cells with stable ids (a hash of each cell's
 * canonical JSON). Stages and rescoring are in config_stage.c.
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
    free(l->st);
    free(l->first);
    free(l->n);
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
    if (!pipe) {
        ecb_cfg_stage *st = new_stage(l, pr);
        if (st) ecb_cfg_parse_stage(e, file, jpath, reg, st, pr);
    } else {
        static const char *const keys[] = {"pipeline", NULL};
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
            if (st) ecb_cfg_parse_stage(s, file, sp, reg, st, pr);
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
    if (!l->first || !l->n) return ecb_problems_add(pr, ECB_ENOMEM);
    for (const cJSON *it = methods->child; it; it = it->next, l->nent++)
        parse_entry(it, l->nent, file, reg, l, pr);
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

typedef struct {
    char *key;
    size_t i;
} chain_key;

static int cmp_chain_key(const void *a, const void *b)
{
    const chain_key *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->i > y->i) - (x->i < y->i);
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
    chain_key *k = ecb_calloc(n, sizeof *k);
    unsigned char *drop = ecb_calloc(n, 1);
    int ok = k && drop;
    for (size_t i = 0; ok && i < n; i++) {
        char lab[8192];
        ok = ecb_chain_label(&ch[i], 1, lab, sizeof lab) == 0 && (k[i].key = ecb_strdup(lab));
        k[i].i = i;
    }
    if (ok) {
        qsort(k, n, sizeof *k, cmp_chain_key);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(k[i].key, k[i - 1].key) && reset[k[i].i]) drop[k[i].i] = 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ok && drop[i]) ecb_chain_release(&ch[i]);
        else ch[m++] = ch[i];
    }
    memset(ch + m, 0, (n - m) * sizeof *ch); /* no stale copies past the end */
    for (size_t i = 0; k && i < n; i++) free(k[i].key);
    free(k);
    free(drop);
    return m;
}

/* The chains of entry ei, appended to chains at *nchains. */
static int expand_entry(const entry_list *l, size_t ei, const char *file, ecb_chain *chains,
                        size_t *nchains)
{
    size_t total = 1;
    for (size_t i = 0; i < l->n[ei]; i++) total *= l->st[l->first[ei] + i].combos;
    unsigned char *reset = ecb_calloc(total ? total : 1, 1);
    if (!reset) return ECB_ENOMEM;
    int rc = fill_entry(l, ei, file, chains + *nchains, reset);
    /* chains filled so far are counted, so that they are released */
    size_t filled = 0;
    while (filled < total && chains[*nchains + filled].stages) filled++;
    *nchains += rc ? filled : drop_inapplicable_twins(chains + *nchains, total, reset);
    free(reset);
    return rc;
}

/* ---- the size of the sweep ----------------------------------------------------- */

static size_t entry_combos(const entry_list *l, size_t ei)
{
    size_t n = 1;
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

static int append_float32(ecb_chain *c, const ecb_registry *reg, const char *file)
{
    const ecb_plugin *f = ecb_registry_find(reg, "float32");
    if (!f)
        return ecb_fail(ECB_ENOTFOUND,
                        "%s: a chain ending in a transform needs the float32 method: %s", file,
                        ecb_last_error());
    ecb_stage *ns = realloc(c->stages, (c->n + 1) * sizeof *ns);
    if (!ns) return ECB_ENOMEM;
    c->stages = ns;
    c->stages[c->n].plugin = f;
    c->stages[c->n].params = ecb_calloc(1, 1);
    c->n++;
    return 0;
}

/* ---- cells -------------------------------------------------------------- */

/* {"method": name, "params": {every parameter}} */
static cJSON *stage_json(const ecb_stage *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", s->plugin->vt.name);
    cJSON_AddItemToObject(o, "params", ecb_params_to_json(s->plugin->vt.params, s->params));
    return o;
}

/* What a cell's id hashes: every resolved parameter, not the spelling of
 * the config (so "bits": 8 and the default give one cell). */
static char *canonical_cell(const ecb_config *c, const ecb_cell *cell)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", c->datasets[cell->dataset].key);
    cJSON_AddNumberToObject(o, "corpus_size", (double)cell->corpus_size);
    cJSON *ch = cJSON_AddArrayToObject(o, "chain");
    for (size_t i = 0; i < cell->chain.n; i++) cJSON_AddItemToArray(ch, stage_json(&cell->chain.stages[i]));
    cJSON_AddStringToObject(o, "mode", cell->mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric");
    const ecb_rescore *r = &c->rescores[cell->rescore];
    if (!r->factor) cJSON_AddStringToObject(o, "rescore", "none");
    else {
        cJSON *rs = cJSON_AddObjectToObject(o, "rescore");
        cJSON_AddNumberToObject(rs, "factor", (double)r->factor);
        if (r->with_float32) cJSON_AddStringToObject(rs, "with", "float32");
        else cJSON_AddItemToObject(rs, "with", stage_json(&r->with.stages[0]));
    }
    cJSON *ks = cJSON_AddArrayToObject(o, "k");
    for (size_t i = 0; i < c->nk; i++) cJSON_AddItemToArray(ks, cJSON_CreateNumber((double)c->ks[i]));
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "train_size", (double)c->train_size);
    /* Quality does not depend on the thread count, so a run resumes across
     * counts; only an axis of counts makes them part of a cell's identity. */
    if (c->n_threads_list > 1) cJSON_AddNumberToObject(o, "threads", (double)cell->threads);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The cell's columns and id: labels from the chain as written (a lone
 * transform shows as itself), then float32 appended for scoring. */
static int finish_cell(const ecb_config *c, ecb_cell *cell, const ecb_registry *reg)
{
    char lab[2048], all[4096];
    ecb_chain_label(&cell->chain, 0, lab, sizeof lab);
    size_t off = 0;
    all[0] = '\0';
    for (size_t i = 0; i < cell->chain.n; i++) {
        char ps[1024];
        const ecb_method_vtable *vt = &cell->chain.stages[i].plugin->vt;
        /* every parameter that applies (clip only with calibration=percentile) */
        ecb_params_format_applicable(vt->params, vt->param_conds, cell->chain.stages[i].params, ";",
                                     ~(uint64_t)0, ps, sizeof ps);
        int w = snprintf(all + off, sizeof all - off, "%s%s", i ? ">" : "", ps);
        if (w > 0 && (size_t)w < sizeof all - off) off += (size_t)w;
    }
    cell->label_col = ecb_strdup(lab);
    cell->params_col = ecb_strdup(all);
    cell->method_col = ecb_strdup(cell->chain.n == 1 ? cell->chain.stages[0].plugin->vt.name : lab);
    int rc;
    if (cell->chain.stages[cell->chain.n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM)
        if ((rc = append_float32(&cell->chain, reg, c->path))) return rc;
    cell->canonical = canonical_cell(c, cell);
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, cell->canonical, strlen(cell->canonical));
    snprintf(cell->id, sizeof cell->id, "%016" PRIx64, ecb_hash_final(&h));
    return 0;
}

static int cmp_cell_id(const void *a, const void *b)
{
    const ecb_cell *x = *(const ecb_cell *const *)a, *y = *(const ecb_cell *const *)b;
    int r = strcmp(x->id, y->id);
    return r ? r : (x < y ? -1 : x > y);
}

/* Identical cells (e.g. the same method listed twice) would collide; ids
 * are sorted, not compared pairwise, for sweeps of a million cells. */
static int check_unique(const ecb_config *c)
{
    const ecb_cell **v = ecb_calloc(c->n_cells ? c->n_cells : 1, sizeof *v);
    if (!v) return ECB_ENOMEM;
    for (size_t i = 0; i < c->n_cells; i++) v[i] = &c->cells[i];
    qsort(v, c->n_cells, sizeof *v, cmp_cell_id);
    const ecb_cell *first = NULL; /* the earliest cell that has a twin */
    for (size_t i = 1; i < c->n_cells; i++)
        if (strcmp(v[i]->id, v[i - 1]->id) == 0 && (!first || v[i - 1] < first)) first = v[i - 1];
    free(v);
    if (!first) return 0;
    char thr[48] = "";
    if (c->n_threads_list > 1) snprintf(thr, sizeof thr, ", %zu threads", first->threads);
    return ecb_fail(ECB_EINVAL, "%s: $.methods: the sweep lists the same cell twice (%s, %s, rescore %s%s)",
                    c->path, first->label_col,
                    first->mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric",
                    c->rescores[first->rescore].label, thr);
}

/* Cells: dataset x corpus size x chain x mode x rescore x threads, the
 * last varying fastest. */
static int make_cells(ecb_config *c, const ecb_chain *chains, size_t nchains, size_t total,
                      const ecb_registry *reg)
{
    c->cells = ecb_calloc(total ? total : 1, sizeof *c->cells);
    if (!c->cells) return ECB_ENOMEM;
    int rc;
    for (size_t d = 0; d < c->n_datasets; d++)
        for (size_t s = 0; s < c->datasets[d].n_corpus_sizes; s++)
            for (size_t ch = 0; ch < nchains; ch++)
                for (size_t mo = 0; mo < c->n_modes; mo++)
                    for (size_t r = 0; r < c->n_rescores; r++)
                        for (size_t t = 0; t < c->n_threads_list; t++) {
                            ecb_cell *cell = &c->cells[c->n_cells++];
                            cell->dataset = d;
                            cell->corpus_size = c->datasets[d].corpus_sizes[s];
                            cell->mode = c->modes[mo];
                            cell->rescore = r;
                            cell->threads = c->threads_list[t];
                            if ((rc = ecb_cfg_chain_copy(&cell->chain, &chains[ch]))) return rc;
                            if ((rc = finish_cell(c, cell, reg))) return rc;
                        }
    return check_unique(c);
}

int ecb_cfg_expand(ecb_config *c, const cJSON *methods, const ecb_registry *reg, ecb_problems *pr)
{
    const char *file = c->path;
    entry_list l;
    ecb_chain *chains = NULL;
    size_t nchains = 0;
    size_t total = 0, ncells = 0;
    int rc = parse_entries(methods, file, reg, &l, pr);
    if (!rc && pr->n) rc = pr->rc; /* a sweep is expanded only from a valid config */
    if (!rc) rc = count_cells(c, &l, &total, &ncells);
    if (!rc && !(chains = ecb_calloc(total ? total : 1, sizeof *chains))) rc = ECB_ENOMEM;
    for (size_t ei = 0; !rc && ei < l.nent; ei++) rc = expand_entry(&l, ei, file, chains, &nchains);
    if (!rc) rc = make_cells(c, chains, nchains, ncells, reg);
    for (size_t i = 0; i < nchains; i++) ecb_chain_release(&chains[i]);
    free(chains);
    entries_free(&l);
    if (rc && !pr->n) ecb_problems_add(pr, rc);
    return rc;
}
