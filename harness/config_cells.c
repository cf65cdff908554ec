/*
 * The cells of a sweep: dataset x corpus size x chain x mode x rescoring x
 * threads, each with its columns (method, params, label) and a stable id
 * (a hash of its canonical JSON: every resolved parameter, never the
 * config's spelling nor its labels). Budget-targeted cells carry their
 * budget in the id and the label ("pq@32B"), and get their parameters
 * once the dataset is loaded (ecb_config_resolve_budgets, below; the
 * search itself is config_budget.c).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/chain.h"
#include "harness/config_impl.h"
#include "harness/params.h"

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
    memset(&c->stages[c->n], 0, sizeof c->stages[c->n]);
    c->stages[c->n].plugin = f;
    c->stages[c->n].params = ecb_calloc(1, 1);
    c->n++;
    return 0;
}

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
    /* Only budget-targeted cells have these keys, so no other id moves. Until
     * its dataset is loaded a budget cell holds a placeholder setting, and a
     * cell whose budget nothing fits keeps it: "pending" keeps such an id
     * apart from a resolved setting that happens to equal the placeholder. */
    if (cell->budget.text[0]) {
        cJSON_AddStringToObject(o, "budget", cell->budget.text);
        if (cell->budget_pending) cJSON_AddTrueToObject(o, "budget_pending");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int ecb_cfg_cell_identity(const ecb_config *c, ecb_cell *cell)
{
    char all[4096];
    size_t off = 0;
    all[0] = '\0';
    for (size_t i = 0; i < cell->n_written; i++) {
        char ps[1024];
        const ecb_stage *st = &cell->chain.stages[i];
        const ecb_method_vtable *vt = &st->plugin->vt;
        /* every parameter that applies (clip only with calibration=percentile);
         * a budget cell not (yet) resolved shows what was written */
        ecb_params_format_applicable(vt->params, vt->param_conds, st->params, ";",
                                     cell->budget_pending ? st->given : ~(uint64_t)0, ps, sizeof ps);
        int w = snprintf(all + off, sizeof all - off, "%s%s", i ? ">" : "", ps);
        if (w > 0 && (size_t)w < sizeof all - off) off += (size_t)w;
    }
    char *params = ecb_strdup(all), *canon = canonical_cell(c, cell);
    if (!params || !canon) {
        free(params);
        cJSON_free(canon);
        return ECB_ENOMEM;
    }
    free(cell->params_col);
    cJSON_free(cell->canonical);
    cell->params_col = params;
    cell->canonical = canon;
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, cell->canonical, strlen(cell->canonical));
    snprintf(cell->id, sizeof cell->id, "%016" PRIx64, ecb_hash_final(&h));
    return 0;
}

/* The cell's columns and id: labels from the chain as written (a lone
 * transform shows as itself) or from the entry's "label", "@budget" for a
 * budget cell; then float32 appended for scoring. */
static int finish_cell(const ecb_config *c, ecb_cell *cell, const ecb_registry *reg,
                       const char *label)
{
    char lab[2048], shown[2048], full[2100];
    ecb_chain_label(&cell->chain, 0, lab, sizeof lab);
    int rc = label ? ecb_cfg_entry_label(label, &cell->chain, shown, sizeof shown) : 0;
    if (rc) return rc;
    if (cell->budget.text[0])
        snprintf(full, sizeof full, "%s@%s", label ? shown : lab, cell->budget.text);
    else
        snprintf(full, sizeof full, "%s", label ? shown : lab);
    cell->label_col = ecb_strdup(full);
    cell->method_col = ecb_strdup(cell->chain.n == 1 ? cell->chain.stages[0].plugin->vt.name : lab);
    if (!cell->label_col || !cell->method_col) return ECB_ENOMEM;
    cell->n_written = cell->chain.n;
    if (cell->chain.stages[cell->chain.n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM)
        if ((rc = append_float32(&cell->chain, reg, c->path))) return rc;
    return ecb_cfg_cell_identity(c, cell);
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

/* A "label" must not also be what another entry's cells are called, or
 * the report would take them for one method: each such pair of entries is
 * a problem. */
static void check_labels(const ecb_config *c, const size_t *cell_entry, const ecb_cfg_entries *e,
                         ecb_problems *pr)
{
    int any = 0;
    for (size_t i = 0; i < e->n; i++) any |= e->label[i] != NULL;
    if (!any || !c->n_cells) return;
    ecb_cfg_keyed *v = ecb_calloc(c->n_cells, sizeof *v);
    unsigned char *said = ecb_calloc(e->n, 1);
    if (!v || !said) {
        free(v);
        free(said);
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    for (size_t i = 0; i < c->n_cells; i++) v[i] = (ecb_cfg_keyed){c->cells[i].label_col, cell_entry[i]};
    qsort(v, c->n_cells, sizeof *v, ecb_cfg_cmp_keyed);
    for (size_t i = 1; i < c->n_cells; i++) {
        const ecb_cfg_keyed *a = &v[i - 1], *b = &v[i];
        if (strcmp(a->key, b->key) || a->i == b->i) continue;
        size_t named = e->label[b->i] ? b->i : a->i, other = named == b->i ? a->i : b->i;
        if (!e->label[named] || said[named]) continue;
        said[named] = 1;
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.methods[%zu].label: its cells are labelled \"%s\", "
                        "like cells of $.methods[%zu]: expected a label no other entry's cells "
                        "have", c->path, named, b->key, other);
    }
    free(v);
    free(said);
}

int ecb_cfg_make_cells(ecb_config *c, const ecb_chain *chains, const ecb_cfg_chain_src *src,
                       size_t nchains, size_t total, const ecb_cfg_entries *e,
                       const ecb_registry *reg, ecb_problems *pr)
{
    c->cells = ecb_calloc(total ? total : 1, sizeof *c->cells);
    size_t *cell_entry = ecb_calloc(total ? total : 1, sizeof *cell_entry);
    if (!c->cells || !cell_entry) {
        free(cell_entry);
        return ECB_ENOMEM;
    }
    int rc = 0;
    for (size_t d = 0; d < c->n_datasets && !rc; d++)
        for (size_t s = 0; s < c->datasets[d].n_corpus_sizes && !rc; s++)
            for (size_t ch = 0; ch < nchains && !rc; ch++)
                for (size_t mo = 0; mo < c->n_modes && !rc; mo++)
                    for (size_t r = 0; r < c->n_rescores && !rc; r++)
                        for (size_t t = 0; t < c->n_threads_list && !rc; t++) {
                            cell_entry[c->n_cells] = src[ch].entry;
                            ecb_cell *cell = &c->cells[c->n_cells++];
                            cell->dataset = d;
                            cell->corpus_size = c->datasets[d].corpus_sizes[s];
                            cell->mode = c->modes[mo];
                            cell->rescore = r;
                            cell->threads = c->threads_list[t];
                            if (src[ch].budget != SIZE_MAX) {
                                cell->budget = e->budgets[src[ch].entry][src[ch].budget];
                                cell->budget_pending = 1;
                            }
                            if ((rc = ecb_cfg_chain_copy(&cell->chain, &chains[ch]))) break;
                            rc = finish_cell(c, cell, reg, e->label[src[ch].entry]);
                        }
    if (!rc) rc = check_unique(c);
    if (!rc) check_labels(c, cell_entry, e, pr);
    free(cell_entry);
    return rc;
}

/* ---- the cells of a loaded dataset ----------------------------------------- */

/* "16 B", "6.25 B", "16.03 B" */
static void fmt_bytes(double b, char *buf, size_t n)
{
    if (b == floor(b) && b < 1e15) snprintf(buf, n, "%.0f B", b);
    else snprintf(buf, n, "%.4g B", b);
}

/* Rescoring's second representation per vector (the report's
 * rescore_bytes / n); 0 when its method is invalid here (the sweep reports
 * that when it validates the cells). */
static double rescore_extra(const ecb_config *cfg, const ecb_rescore *r, size_t dim,
                            ecb_similarity sim, size_t n)
{
    if (!r->factor) return 0;
    if (r->with_float32) return (double)n * (double)dim * sizeof(float) / (double)n;
    ecb_chain_inst *b = NULL;
    if (ecb_chain_inst_create(&r->with, dim, sim, cfg->seed, 1, &b)) {
        ecb_clear_error();
        return 0;
    }
    /* the chain's code_size is only set when it encodes: ask the quantizer */
    const ecb_method_vtable *vt = ecb_chain_inst_vt(b);
    double total = (double)vt->code_size(ecb_chain_inst_quantizer(b)) * (double)n +
                   (double)ecb_chain_inst_aux_bytes(b);
    ecb_chain_inst_destroy(b);
    return total / (double)n;
}

/* Why nothing fits a cell's budget, for its skipped row. */
static char *no_fit_reason(const ecb_config *cfg, const ecb_cell *cell, size_t dim,
                           ecb_similarity sim, double budget, double extra,
                           const ecb_budget_choice *ch)
{
    char b[64], sm[64], what[160], msg[1600];
    fmt_bytes(budget, b, sizeof b);
    if (cell->budget.ratio > 0) snprintf(what, sizeof what, "%s = %s", cell->budget.text, b);
    else snprintf(what, sizeof what, "%s", b);
    if (isnan(ch->smallest)) {
        ecb_chain_inst *inst = NULL;
        int rc = ecb_chain_inst_create(&cell->chain, dim, sim, cfg->seed, 1, &inst);
        ecb_chain_inst_destroy(inst);
        snprintf(msg, sizeof msg, "no setting of %s is valid at dimension %zu%s%s", cell->method_col,
                 dim, rc ? ": " : "", rc ? ecb_last_error() : "");
        ecb_clear_error();
        return ecb_strdup(msg);
    }
    fmt_bytes(ch->smallest, sm, sizeof sm);
    char rs[800] = "";
    if (extra > 0) {
        char eb[64];
        fmt_bytes(extra, eb, sizeof eb);
        snprintf(rs, sizeof rs, ", of which %s per vector is rescoring's %s", eb,
                 cfg->rescores[cell->rescore].label);
    }
    snprintf(msg, sizeof msg, "no setting of %s fits %s per vector (smallest: %s%s)",
             cell->method_col, what, sm, rs);
    return ecb_strdup(msg);
}

/* One cell's choice; memo carries the last one over to the cells that
 * differ only in mode or thread count (same chain, budget, corpus, extra). */
typedef struct {
    char *key;
    ecb_chain chain;
    int found;
    char *reason;
} choice_memo;

static void memo_clear(choice_memo *m)
{
    free(m->key);
    ecb_chain_release(&m->chain);
    free(m->reason);
    memset(m, 0, sizeof *m);
}

static int resolve_cell(const ecb_config *cfg, ecb_cell *cell, size_t dim, ecb_similarity sim,
                        size_t n_corpus, choice_memo *memo)
{
    size_t n = cell->corpus_size && cell->corpus_size < n_corpus ? cell->corpus_size : n_corpus;
    double budget = ecb_budget_target_bytes(&cell->budget, dim);
    double extra = rescore_extra(cfg, &cfg->rescores[cell->rescore], dim, sim, n);
    char lab[4096], key[4300];
    int rc = ecb_chain_label(&cell->chain, 1, lab, sizeof lab);
    if (rc) return rc;
    snprintf(key, sizeof key, "%s|%s|%zu|%zu|%.17g", lab, cell->budget.text, dim, n, extra);
    if (!memo->key || strcmp(memo->key, key)) {
        memo_clear(memo);
        ecb_budget_choice ch;
        if (!(memo->key = ecb_strdup(key))) return ECB_ENOMEM;
        if ((rc = ecb_cfg_chain_copy(&memo->chain, &cell->chain))) return rc;
        rc = ecb_budget_choose(&memo->chain, dim, sim, n, extra, budget, &ch);
        if (rc) {
            char msg[1400];
            snprintf(msg, sizeof msg, "%s", ecb_last_error());
            memo_clear(memo);
            return ecb_fail(rc, "%s: %s for budget %s: %s", cfg->path, cell->label_col,
                            cell->budget.text, msg);
        }
        memo->found = ch.found;
        if (!ch.found && !(memo->reason = no_fit_reason(cfg, cell, dim, sim, budget, extra, &ch)))
            return ECB_ENOMEM;
    }
    if (!memo->found) {
        free(cell->skip_reason);
        cell->skip_reason = ecb_strdup(memo->reason);
        return cell->skip_reason ? 0 : ECB_ENOMEM;
    }
    ecb_chain chosen;
    if ((rc = ecb_cfg_chain_copy(&chosen, &memo->chain))) {
        ecb_chain_release(&chosen);
        return rc;
    }
    ecb_chain_release(&cell->chain);
    cell->chain = chosen;
    cell->budget_pending = 0;
    return ecb_cfg_cell_identity(cfg, cell);
}

int ecb_config_resolve_budgets(ecb_config *cfg, size_t di, size_t dim, ecb_similarity sim,
                               size_t n_corpus)
{
    choice_memo memo = {0};
    int rc = 0;
    for (size_t i = 0; i < cfg->n_cells && !rc; i++) {
        ecb_cell *cell = &cfg->cells[i];
        if (cell->dataset != di || !cell->budget_pending || cell->skip_reason) continue;
        rc = resolve_cell(cfg, cell, dim, sim, n_corpus, &memo);
    }
    memo_clear(&memo);
    return rc;
}

int ecb_config_resolve_budgets_recorded(ecb_config *cfg, const cJSON *datasets, const char *where)
{
    int any = 0;
    for (size_t i = 0; i < cfg->n_cells; i++) any |= cfg->cells[i].budget_pending;
    if (!any) return 0;
    size_t n = cJSON_IsArray(datasets) ? (size_t)cJSON_GetArraySize(datasets) : 0;
    if (n != cfg->n_datasets)
        return ecb_fail(ECB_EFORMAT, "%s: $.datasets: expected the shapes of the config's %zu "
                        "dataset(s) for its budget cells, got %zu (a run of an older ecbench?)",
                        where, cfg->n_datasets, n);
    int rc = 0;
    size_t i = 0;
    for (const cJSON *d = datasets->child; d && !rc; d = d->next, i++) {
        const cJSON *dim = cJSON_GetObjectItemCaseSensitive(d, "dim");
        const cJSON *nc = cJSON_GetObjectItemCaseSensitive(d, "n_corpus");
        const cJSON *sim = cJSON_GetObjectItemCaseSensitive(d, "similarity");
        if (!cJSON_IsNumber(dim) || !(dim->valuedouble >= 1 && dim->valuedouble <= 1e9) ||
            !cJSON_IsNumber(nc) || !(nc->valuedouble >= 1 && nc->valuedouble <= 1e15) ||
            !cJSON_IsString(sim))
            return ecb_fail(ECB_EFORMAT, "%s: $.datasets[%zu]: expected \"dim\", \"n_corpus\" "
                            "(positive integers) and \"similarity\"", where, i);
        rc = ecb_config_resolve_budgets(cfg, i, (size_t)dim->valuedouble,
                                        strcmp(sim->valuestring, "l2") ? ECB_SIM_DOT : ECB_SIM_L2,
                                        (size_t)nc->valuedouble);
    }
    return rc;
}
