/*
 * The sweep loop: datasets, resume, lock, isolation, rows, manifest. What
 * one cell does is harness/cell.c; the chain it builds is harness/chain.c;
 * the row layout is harness/results.c. Over 600 lines because the loop has
 * three drivers that share its resume and row-writing path (one process,
 * --part i/n, cells over MPI ranks; the messages are in harness/mpi.c);
 * splitting the drivers out would expose run_ctx to three files.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "common/buf.h"
#include "common/csv.h"
#include "common/ecb.h"
#include "common/fileio.h"
#include "harness/cell.h"
#include "harness/chain.h"
#include "harness/env.h"
#include "harness/evalset.h"
#include "harness/isolate.h"
#include "harness/params.h"
#include "harness/merge.h"
#include "harness/mpi.h"
#include "harness/partition.h"
#include "harness/progress.h"
#include "harness/results.h"
#include "harness/shard.h"
#include "harness/sweep.h"
#include "harness/team.h"
#include "ecbench/ecbmath.h"

typedef struct {
    const ecb_config *cfg;
    const ecb_run_opts *opts;
    char *dir, *results_path, *per_query_path, *trec_dir;
    ecb_dataset **full;   /* per config dataset */
    ecb_evalset cur;      /* dataset/corpus size being evaluated */
    ecb_shard shard;      /* this rank's slice of cur, when its dataset is sharded */
    long cur_ds;
    size_t cur_size;
    int cur_rc;           /* error building cur (its message in cur_err) */
    char cur_err[2048];
    ecb_chain_cache *cache;
    char **done;          /* sorted cell ids already final in results.csv */
    size_t ndone;
    ecb_units units;      /* for --part and the MPI hand-out */
    unsigned char *mine;  /* cells of this part (all without --part) */
    size_t nmine;
    /* the sweep in progress (rank 0) */
    ecb_run_summary *sum;
    ecb_progress *pg;
    const char *started;
} run_ctx;

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ecb_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- datasets --------------------------------------------------------------- */

/* A cell whose corpus is sliced over the MPI ranks (one process holds a
 * sharded corpus whole: the same numbers), or sharded by rank_memory_mb
 * (then one process too: one slice, codes streamed above the budget). */
static int is_sharded(const run_ctx *c, const ecb_cell *cell)
{
    const ecb_dataset_spec *sp = &c->cfg->datasets[cell->dataset];
    return sp->shards > 0 && (ecb_mpi_size() > 1 || sp->shards_auto);
}

/* The evaluation set of a cell, built once per (dataset, corpus size); a
 * failure is remembered so that every cell of it reports the same error. */
static int ensure_evalset(run_ctx *c, const ecb_cell *cell)
{
    if (c->cur_ds == (long)cell->dataset && c->cur_size == cell->corpus_size) return c->cur_rc;
    ecb_chain_cache_destroy(c->cache); /* its chain was trained on the old set */
    c->cache = NULL;
    ecb_evalset_release(&c->cur);
    ecb_shard_release(&c->shard);
    ecb_big_forget(); /* sized for the old set's cells */
    c->cur_ds = (long)cell->dataset;
    c->cur_size = cell->corpus_size;
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = c->cfg->threads;
    if (c->cfg->block_rows) so.block_rows = c->cfg->block_rows;
    if (is_sharded(c, cell)) /* collective: every rank builds it together */
        c->cur_rc = ecb_shard_evalset_build(c->full[cell->dataset], cell->corpus_size, c->cfg,
                                            c->cfg->datasets[cell->dataset].shards,
                                            c->opts->quiet, &c->cur, &c->shard);
    else
        c->cur_rc = ecb_evalset_build(c->full[cell->dataset], cell->corpus_size, c->cfg->seed,
                                      c->cfg->ks[c->cfg->nk - 1], &so, c->opts->quiet, &c->cur);
    if (!c->cur_rc) c->cur_rc = ecb_chain_cache_create(&c->cache);
    snprintf(c->cur_err, sizeof c->cur_err, "%s", c->cur_rc ? ecb_last_error() : "");
    return c->cur_rc;
}

/* A generated corpus costs a regeneration per row read: every cell's
 * encode pass, rescoring and kNN recall read it again (about 5 us per 768-d
 * row: over a 1M-vector CoRECT sweep of 35 cells, some 180 CPU-seconds).
 * Keep it in memory when it is small (1 GiB), or when it fits a quarter of
 * the machine's memory and, under memory_limit_mb, a quarter of that limit
 * (isolated cells are forked: they share these pages, but RLIMIT_AS counts
 * them). It is generated once, on the run's threads, row by row as the
 * source computes it, so the values are the same. */
typedef struct {
    const ecb_vecs *gen;
    float *mem;
    size_t n, d, chunk;
} keep_job;

static int keep_task(void *arg, size_t t, size_t worker)
{
    (void)worker;
    const keep_job *k = arg;
    size_t r0 = t * k->chunk, c = k->n - r0 < k->chunk ? k->n - r0 : k->chunk;
    return ecb_vecs_read(k->gen, r0, c, k->mem + r0 * k->d);
}

static int keep_generated_in_memory(ecb_dataset *d, const ecb_config *cfg)
{
    ecb_vecs *gen = d->corpus;
    size_t gn = ecb_vecs_count(gen), gd = ecb_vecs_dim(gen);
    double bytes = (double)gn * (double)gd * sizeof(float);
    double ram = ecb_ram_bytes();
    int small = bytes <= (double)((size_t)1 << 30);
    int fits = bytes <= ram / 4 &&
               (cfg->memory_limit_mb <= 0 || bytes <= cfg->memory_limit_mb * 1048576.0 / 4);
    if (!small && !fits) return 0;
    float *mem = ecb_malloc_array(gn * gd > 0 ? gn * gd : 1, sizeof(float));
    ecb_vecs *mv = NULL;
    if (!mem) return small ? ECB_ENOMEM : 0; /* a large one stays generated */
    ecb_hugepage_hint(mem, gn * gd * sizeof(float));
    keep_job k = {gen, mem, gn, gd, 4096};
    int rc = gn ? ecb_parallel_for((gn + k.chunk - 1) / k.chunk, cfg->threads ? cfg->threads : 1,
                                   keep_task, &k)
                : 0;
    if (!rc) rc = ecb_vecs_from_memory(mem, gn, gd, &mv);
    if (rc) { free(mem); return rc; }
    /* the generator's declared hash (from its parameters) keys the
     * ground-truth cache, as when the corpus stays generated */
    uint64_t h;
    if (!ecb_vecs_hash(gen, &h)) ecb_vecs_set_hash(mv, h);
    d->corpus = mv;
    ecb_vecs_free(gen);
    return 0;
}

static int load_datasets(run_ctx *c)
{
    ecb_config *cfg = (ecb_config *)c->cfg;
    c->full = ecb_calloc(cfg->n_datasets, sizeof *c->full);
    if (!c->full) return ECB_ENOMEM;
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        ecb_dataset_spec *sp = &cfg->datasets[i];
        int rc = sp->builtin == 2 ? ecb_dataset_synthetic_mv(&sp->mvsynth, &c->full[i])
                 : sp->builtin  ? ecb_dataset_synthetic(&sp->synth, &c->full[i])
                                : ecb_dataset_load_manifest_ex(sp->manifest, ECB_DS_MULTIVECTOR,
                                                               &c->full[i]);
        /* over rank_memory_mb: sharded over every rank (shard.h) */
        if (!rc && !sp->shards && cfg->rank_memory_mb > 0 && !c->full[i]->mv) {
            ecb_vecs *v = c->full[i]->corpus;
            size_t s = ecb_shard_count(cfg, i, ecb_vecs_count(v), ecb_vecs_dim(v),
                                       (size_t)ecb_mpi_size(), &sp->shards_auto);
            if (sp->shards_auto) sp->shards = s;
            if (sp->shards_auto && ecb_mpi_rank() == 0 && !c->opts->quiet)
                ecb_log(ECB_LOG_INFO, "dataset %s: float32 corpus %zu x %zu over rank_memory_mb "
                        "%g: sharded over %zu rank%s", c->full[i]->name, ecb_vecs_count(v),
                        ecb_vecs_dim(v), cfg->rank_memory_mb, s, s > 1 ? "s" : "");
        }
        /* a sharded corpus is generated slice by slice on its ranks */
        if (!rc && sp->builtin == 1 && !(sp->shards && (ecb_mpi_size() > 1 || sp->shards_auto)))
            rc = keep_generated_in_memory(c->full[i], cfg);
        /* MaxSim reads tokens again and again: small token files once, as floats */
        if (!rc && c->full[i]->mv) rc = ecb_mvdata_keep_in_memory(c->full[i]->mv);
        if (!rc && c->full[i]->mv && cfg->rank_memory_mb > 0) /* honoured or refused */
            rc = ecb_fail(ECB_ENOTSUP, "%s: dataset %s is multi-vector (MaxSim): rank_memory_mb "
                          "(sharding and streaming) is not supported for it yet; drop "
                          "rank_memory_mb", cfg->path, c->full[i]->name);
        if (!rc && c->full[i]->mv && sp->shards)
            rc = ecb_fail(ECB_ENOTSUP, "%s: dataset %s is multi-vector (MaxSim): \"shards\" is not "
                          "supported for it yet; drop \"shards\"", cfg->path, c->full[i]->name);
        if (rc) return rc;
        if (!sp->name) sp->name = ecb_strdup(c->full[i]->name);
        else {
            free(c->full[i]->name);
            c->full[i]->name = ecb_strdup(sp->name);
        }
        const ecb_qrels *q = c->full[i]->qrels;
        if (q && (q->n_unknown_query || q->n_unknown_doc))
            ecb_log(ECB_LOG_WARN, "%s: qrels: %zu line(s) name unknown queries (ignored), %zu "
                    "judgment(s) name documents not in the corpus (kept for recall and ideal DCG)",
                    c->full[i]->name, q->n_unknown_query, q->n_unknown_doc);
    }
    return 0;
}

/* Add a failure to pr; a message that is itself a numbered problem list
 * adds each of its problems, so the final list is flat. */
static void add_problem(ecb_problems *pr, int rc)
{
    if (!rc) return;
    const char *msg = ecb_last_error();
    const char *item = strstr(msg, " problems:\n  1. ");
    if (!item) {
        ecb_problems_add(pr, rc);
        return;
    }
    char *copy = ecb_strdup(item + strlen(" problems:\n"));
    for (char *line = copy; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *text = line + strspn(line, " ");
        text += strspn(text, "0123456789");
        if (*text == '.') text += 2;
        ecb_problems_add(pr, ecb_fail(rc, "%s", text));
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
}

/* Every chain of the sweep is created once before anything runs, so a bad
 * parameter for this dataset's dimension fails in a second, not after hours;
 * every such problem is reported at once, not one per run. */
static int validate_cells(run_ctx *c)
{
    const ecb_config *cfg = c->cfg;
    ecb_problems pr = {0};
    for (size_t i = 0; i < cfg->n_datasets; i++)
        add_problem(&pr, ecb_config_check_dataset(cfg, i, ecb_dataset_n_corpus(c->full[i])));
    for (size_t i = 0; i < cfg->n_cells && pr.n < 64; i++) {
        const ecb_cell *cell = &cfg->cells[i];
        if (cell->skip_reason) continue; /* nothing fits its budget: a skipped row */
        if (i > 0 && cfg->cells[i - 1].dataset == cell->dataset &&
            cfg->cells[i - 1].mode != cell->mode)
            continue; /* same chain, other mode: already checked */
        const ecb_dataset *d = c->full[cell->dataset];
        ecb_similarity sim = d->sim == ECB_DS_L2 ? ECB_SIM_L2 : ECB_SIM_DOT;
        size_t dim = ecb_dataset_dim(d);
        ecb_chain_inst *b = NULL;
        int rc = ecb_chain_inst_create(&cell->chain, dim, sim, cfg->seed, 1, &b);
        ecb_chain_inst_destroy(b);
        if (rc) ecb_problems_add(&pr, ecb_fail(rc, "%s: dataset %s: %s", cfg->path, d->name, ecb_last_error()));
        const ecb_rescore *r = &cfg->rescores[cell->rescore];
        if (r->factor && !r->with_float32) {
            rc = ecb_chain_inst_create(&r->with, dim, sim, cfg->seed, 1, &b);
            ecb_chain_inst_destroy(b);
            if (rc) ecb_problems_add(&pr, ecb_fail(rc, "%s: rescore on %s: %s", cfg->path, d->name, ecb_last_error()));
        }
    }
    return ecb_problems_finish(&pr, cfg->path);
}

/* ---- resume ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_done(const run_ctx *c, const char *id)
{
    return c->ndone && bsearch(&id, c->done, c->ndone, sizeof *c->done, cmp_str) != NULL;
}

/* results.csv: keep ok and skipped rows (other statuses re-run), read with
 * the CSV reader: quoted fields may hold commas and newlines. */
static int resume_results(run_ctx *c, const char *header)
{
    int trimmed = 0;
    int rc = ecb_csv_trim_partial(c->results_path, &trimmed);
    if (rc) return rc;
    if (trimmed) ecb_log(ECB_LOG_WARN, "%s: cut a half-written last row (killed mid-write?)",
                         c->results_path);
    ecb_table *t = NULL;
    rc = ecb_results_load(c->results_path, &t, NULL, NULL);
    if (rc) return rc;
    ecb_buf have = {0};
    for (size_t i = 0; !rc && i < t->ncols; i++) rc = ecb_csv_field(&have, t->head[i], i == 0);
    if (!rc) rc = ecb_buf_put(&have, "\n", 1);
    if (!rc && strcmp(have.p, header) != 0)
        rc = ecb_fail(ECB_EINVAL, "%s: its columns differ from this config's (another k list or "
                      "an older ecbench?); use another output directory or remove it",
                      c->results_path);
    ecb_buf_free(&have);
    int si = ecb_table_col(t, "status");
    unsigned char *keep = rc ? NULL : ecb_calloc(t->nrows ? t->nrows : 1, 1);
    c->done = rc ? NULL : ecb_calloc(t->nrows ? t->nrows : 1, sizeof *c->done);
    if (!rc && (!keep || !c->done)) rc = ECB_ENOMEM;
    size_t dropped = 0;
    for (size_t r = 0; !rc && r < t->nrows; r++) {
        int st = ecb_cell_status_parse(ecb_table_at(t, r, si));
        keep[r] = st >= 0 && ecb_cell_status_final((ecb_cell_status)st);
        if (!keep[r]) { dropped++; continue; }
        if (!(c->done[c->ndone++] = ecb_strdup(ecb_table_at(t, r, 0)))) rc = ECB_ENOMEM;
    }
    if (!rc && dropped) {
        ecb_table_filter(t, keep);
        rc = ecb_table_write(t, c->results_path);
    }
    if (!rc) qsort(c->done, c->ndone, sizeof *c->done, cmp_str);
    free(keep);
    ecb_table_free(t);
    return rc;
}

/* per_query.csv: keep the rows of finished cells only (a row of a cell
 * that re-runs would otherwise count twice). */
static int resume_per_query(run_ctx *c)
{
    int trimmed = 0;
    int rc = ecb_csv_trim_partial(c->per_query_path, &trimmed);
    ecb_table *t = NULL;
    if (!rc) rc = ecb_per_query_load(c->per_query_path, &t);
    if (rc) return rc;
    unsigned char *keep = ecb_calloc(t->nrows ? t->nrows : 1, 1);
    size_t dropped = 0;
    if (!keep) rc = ECB_ENOMEM;
    for (size_t r = 0; !rc && r < t->nrows; r++)
        if (!(keep[r] = (unsigned char)is_done(c, ecb_table_at(t, r, 0)))) dropped++;
    if (!rc && (dropped || trimmed)) {
        ecb_table_filter(t, keep);
        rc = ecb_table_write(t, c->per_query_path);
    }
    free(keep);
    ecb_table_free(t);
    return rc;
}

/* Create the two files with their headers, or resume from them. */
static int open_results(run_ctx *c)
{
    ecb_buf hdr = {0}, pqh = {0};
    int rc = ecb_results_header(&hdr, c->cfg->ks, c->cfg->nk);
    if (!rc) rc = ecb_per_query_header(&pqh, c->cfg->ks, c->cfg->nk);
    int have_results = !rc && access(c->results_path, F_OK) == 0;
    if (!rc && have_results) rc = resume_results(c, hdr.p);
    else if (!rc) rc = ecb_write_file_atomic(c->results_path, hdr.p, hdr.len);
    if (!rc && have_results && access(c->per_query_path, F_OK) == 0) rc = resume_per_query(c);
    else if (!rc) rc = ecb_write_file_atomic(c->per_query_path, pqh.p, pqh.len);
    ecb_buf_free(&hdr);
    ecb_buf_free(&pqh);
    return rc;
}

/* ---- manifest.json --------------------------------------------------------- */

static int write_manifest(const run_ctx *c, const char *started, int finished,
                          const ecb_run_summary *s)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToObject(m, "config", cJSON_Duplicate(c->cfg->json, 1));
    cJSON_AddStringToObject(m, "config_path", c->cfg->path);
    cJSON_AddItemToObject(m, "environment", ecb_environment_json(c->cfg->threads));
    /* each dataset's free-form "meta" (model, revision, licence...) as given */
    cJSON *dsl = cJSON_AddArrayToObject(m, "datasets");
    for (size_t i = 0; c->full && i < c->cfg->n_datasets; i++) {
        if (!c->full[i]) continue;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", c->full[i]->name ? c->full[i]->name : "");
        cJSON *meta = c->full[i]->meta_json ? cJSON_Parse(c->full[i]->meta_json) : NULL;
        if (meta) cJSON_AddItemToObject(d, "meta", meta);
        /* the shape budget cells were resolved against: `merge` resolves them
         * again from it (ecb_config_resolve_budgets_recorded) */
        static const char *const sims[] = {"cosine", "dot", "l2"};
        cJSON_AddNumberToObject(d, "dim", (double)ecb_dataset_dim(c->full[i]));
        cJSON_AddNumberToObject(d, "n_corpus", (double)ecb_dataset_n_corpus(c->full[i]));
        cJSON_AddStringToObject(d, "similarity", sims[c->full[i]->sim]);
        cJSON_AddItemToArray(dsl, d);
    }
    cJSON_AddStringToObject(m, "started", started);
    if (finished) {
        char ts[64];
        ecb_timestamp(ts, sizeof ts);
        cJSON_AddStringToObject(m, "finished", ts);
    }
    if (c->opts->nparts) {
        cJSON *part = cJSON_AddObjectToObject(m, "part");
        cJSON_AddNumberToObject(part, "index", (double)c->opts->part);
        cJSON_AddNumberToObject(part, "count", (double)c->opts->nparts);
    }
    if (ecb_mpi_size() > 1) cJSON_AddNumberToObject(cJSON_AddObjectToObject(m, "mpi"), "ranks",
                                                    (double)ecb_mpi_size());
    cJSON *cells = cJSON_AddObjectToObject(m, "cells");
    cJSON_AddNumberToObject(cells, "total", (double)c->nmine);
    cJSON_AddNumberToObject(cells, "ok", (double)(s->ok + s->resumed));
    cJSON_AddNumberToObject(cells, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(cells, "error", (double)s->failed);
    return ecb_manifest_write(c->dir, m);
}

/* ---- one cell, in process or isolated ---------------------------------------- */

/* Isolate when the config says so or sets a time or memory limit (limits
 * only hold in a child), else when a plugin of the cell comes from outside
 * the build tree. */
static int cell_wants_isolation(const ecb_config *cfg, const ecb_cell *cell)
{
    if (cfg->isolate >= 0) return cfg->isolate;
    if (cfg->limits_set) return 1;
    for (size_t i = 0; i < cell->chain.n; i++)
        if (ecb_plugin_is_external(cell->chain.stages[i].plugin)) return 1;
    const ecb_rescore *r = &cfg->rescores[cell->rescore];
    if (r->factor && !r->with_float32)
        for (size_t i = 0; i < r->with.n; i++)
            if (ecb_plugin_is_external(r->with.stages[i].plugin)) return 1;
    return 0;
}

static void run_in_process(run_ctx *c, const ecb_cell *cell, ecb_cell_result *res)
{
    ecb_cell_ctx cc = {c->cfg, &c->cur, c->trec_dir, c->cache};
    ecb_cell_measure(&cc, cell, res);
}

typedef struct {
    run_ctx *c;
    const ecb_cell *cell;
} iso_cell;

/* In the child: the typed result, packed. */
static int iso_cell_fn(void *arg, char **text, size_t *len)
{
    iso_cell *a = arg;
    ecb_cell_result res;
    run_in_process(a->c, a->cell, &res);
    ecb_buf b = {0};
    int rc = ecb_cell_result_pack(&res, &b);
    ecb_cell_result_release(&res);
    *text = b.p;
    *len = rc ? 0 : b.len;
    return rc ? 1 : 0;
}

static void iso_tick(void *arg, double elapsed) { ecb_progress_tick(arg, elapsed); }

/* Run the cell in a child (datasets and ground truth are loaded here first,
 * shared copy-on-write); a dead child becomes a crashed / timeout / oom row
 * with the child's own peak RSS. */
static void run_isolated(run_ctx *c, const ecb_cell *cell, ecb_progress *pg, ecb_cell_result *res)
{
    const ecb_config *cfg = c->cfg;
    ecb_iso_limits lim = {cfg->time_limit_s, cfg->memory_limit_mb};
    iso_cell a = {c, cell};
    ecb_iso_result r;
    ecb_big_forget(); /* not in the child's address-space limit */
    int rc = ecb_isolate_run(&lim, iso_cell_fn, &a, iso_tick, pg, &r);
    char msg[1200];
    if (rc) {
        snprintf(msg, sizeof msg, "%s: %s", ecb_errname(rc), ecb_last_error());
        ecb_cell_result_init(res);
        ecb_cell_identity(cfg, cell, &c->cur, res);
        ecb_cell_result_set_error(res, ECB_CELL_ERROR, msg);
        return;
    }
    if (r.status == ECB_ISO_OK && r.code == 0 &&
        ecb_cell_result_unpack(r.text, r.len, res) == 0) {
        ecb_iso_result_release(&r);
        return;
    }
    static const ecb_cell_status st[] = {ECB_CELL_CRASHED, ECB_CELL_CRASHED, ECB_CELL_TIMEOUT,
                                         ECB_CELL_OOM, ECB_CELL_CRASHED};
    const char *why = r.status == ECB_ISO_OK ? "the cell's process sent a malformed result"
                                             : r.reason;
    ecb_cell_result_init(res);
    ecb_cell_identity(cfg, cell, &c->cur, res);
    res->peak_rss_mb = r.peak_rss_mb;
    ecb_cell_result_set_error(res, st[r.status], why);
    ecb_iso_result_release(&r);
}

/* The row of a cell whose evaluation set could not be built. */
static void data_error_row(run_ctx *c, const ecb_cell *cell, ecb_cell_result *res)
{
    ecb_cell_result_init(res);
    ecb_cell_identity(c->cfg, cell, NULL, res);
    res->peak_rss_mb = ecb_peak_rss_mb();
    ecb_cell_result_set_error(res, ECB_CELL_ERROR, c->cur_err);
    /* Unreadable data stops the sweep (every cell of it would fail); an
     * impossible corpus size (ECB_EINVAL) is only this cell's error. */
    res->data_error = c->cur_rc != ECB_EINVAL;
}

/* Append the per-query rows, then the row: a result row implies its
 * per-query rows exist. */
static int append_rows(run_ctx *c, const ecb_cell_result *res)
{
    ecb_buf row = {0}, pq = {0};
    int rc = ecb_results_format(res, &row, &pq);
    if (!rc && pq.len) rc = ecb_append_atomic(c->per_query_path, pq.p, pq.len);
    if (!rc) rc = ecb_append_atomic(c->results_path, row.p, row.len);
    ecb_buf_free(&row);
    ecb_buf_free(&pq);
    return rc;
}

static void describe(const run_ctx *c, const ecb_cell *cell, char *desc, size_t n)
{
    const ecb_config *cfg = c->cfg;
    char size[32] = "";
    if (cell->corpus_size) snprintf(size, sizeof size, "@%zu", cell->corpus_size);
    snprintf(desc, n, "%s%s %s %s rescore=%s%s",
             cfg->datasets[cell->dataset].name ? cfg->datasets[cell->dataset].name : "?", size,
             cell->label_col, ecb_mode_name(cell->mode), cfg->rescores[cell->rescore].label,
             cell_wants_isolation(cfg, cell) ? " [isolated]" : "");
}

/* ---- the loop ------------------------------------------------------------------ */

/* Measure one cell in this process: its evaluation set first (with its
 * ground truth, before the progress line), then in process or isolated. */
static void measure_cell(run_ctx *c, const ecb_cell *cell, ecb_progress *pg, const char *desc,
                         ecb_cell_result *res)
{
    int drc = ensure_evalset(c, cell);
    if (desc) ecb_progress_start(pg, desc);
    if (drc) data_error_row(c, cell, res);
    else if (is_sharded(c, cell)) { /* one process sharded by rank_memory_mb: one slice */
        ecb_cell_ctx cc = {c->cfg, &c->cur, c->trec_dir, NULL};
        ecb_shard_measure(&cc, &c->shard, cell, res);
    } else if (cell_wants_isolation(c->cfg, cell)) run_isolated(c, cell, pg, res);
    else run_in_process(c, cell, res);
}

/* The one writer: rows, counts, and the manifest every 16 cells. */
static int record_result(run_ctx *c, const ecb_cell_result *res)
{
    ecb_run_summary *s = c->sum;
    int rc = append_rows(c, res);
    if (res->status == ECB_CELL_OK) s->ok++;
    else if (res->status == ECB_CELL_SKIPPED) s->skipped++;
    else s->failed++;
    if (!rc && res->data_error) /* the data is at fault: every cell of it would fail */
        rc = ecb_fail(ECB_EFORMAT, "dataset %s: %s", res->dataset, res->error);
    if (!rc && (s->ok + s->skipped + s->failed) % 16 == 0)
        rc = write_manifest(c, c->started, 0, s);
    return rc;
}

static int run_cells(run_ctx *c, ecb_run_summary *s)
{
    const ecb_config *cfg = c->cfg;
    int rc = 0;
    ecb_progress *pg = ecb_progress_new(c->nmine, s->resumed, c->opts->quiet);
    ecb_interrupt_install();
    for (size_t i = 0; i < cfg->n_cells && !ecb_interrupted() && !rc; i++) {
        const ecb_cell *cell = &cfg->cells[i];
        if (!c->mine[i] || is_done(c, cell->id)) continue;
        char desc[1600];
        describe(c, cell, desc, sizeof desc);
        ecb_cell_result res;
        measure_cell(c, cell, pg, desc, &res);
        rc = record_result(c, &res);
        ecb_progress_done(pg, ecb_cell_status_name(res.status),
                          ecb_cell_status_final(res.status) ? NULL : res.error);
        ecb_cell_result_release(&res);
    }
    ecb_progress_end(pg);
    ecb_progress_free(pg);
    s->interrupted = ecb_interrupted();
    ecb_interrupt_restore();
    return rc;
}

/* ---- cells over MPI ranks (harness/mpi.c carries the messages) --------------- */

/* A worker rank: one cell, packed for rank 0. */
static int mpi_compute(void *ctx, size_t i, ecb_buf *out)
{
    run_ctx *c = ctx;
    ecb_cell_result res;
    measure_cell(c, &c->cfg->cells[i], NULL, NULL, &res);
    int rc = ecb_cell_result_pack(&res, out);
    ecb_cell_result_release(&res);
    return rc;
}

/* Rank 0: a worker's result becomes its rows, as if measured here. */
static int mpi_record(void *ctx, size_t i, int rank, double secs, const char *p, size_t n)
{
    run_ctx *c = ctx;
    if (i >= c->cfg->n_cells)
        return ecb_fail(ECB_EINTERNAL, "MPI rank %d sent a result of cell %zu (the sweep has %zu)",
                        rank, i, c->cfg->n_cells);
    const ecb_cell *cell = &c->cfg->cells[i];
    ecb_cell_result res;
    if (ecb_cell_result_unpack(p, n, &res) != 0 || !res.cell_id || strcmp(res.cell_id, cell->id)) {
        ecb_cell_result_release(&res);
        char why[96];
        snprintf(why, sizeof why, "MPI rank %d sent a malformed result", rank);
        ecb_cell_identity(c->cfg, cell, NULL, &res);
        ecb_cell_result_set_error(&res, ECB_CELL_CRASHED, why);
    }
    int rc = record_result(c, &res);
    char desc[1600];
    describe(c, cell, desc, sizeof desc - 16);
    size_t dl = strlen(desc);
    snprintf(desc + dl, sizeof desc - dl, " [rank %d]", rank);
    ecb_progress_remote(c->pg, desc, secs, (size_t)ecb_mpi_size() - 1,
                        ecb_cell_status_name(res.status),
                        ecb_cell_status_final(res.status) ? NULL : res.error);
    ecb_cell_result_release(&res);
    return rc;
}

static int mpi_stopping(void *ctx)
{
    (void)ctx;
    return ecb_interrupted();
}

/* The cells of sharded datasets, one after the other, each computed by
 * every rank together; rank 0 picks the next one and writes the rows. */
static int run_sharded_cells(run_ctx *c)
{
    const ecb_config *cfg = c->cfg;
    int lead = ecb_mpi_rank() == 0, rc = 0;
    for (size_t i = 0;; i++) {
        uint64_t next = UINT64_MAX;
        if (lead) {
            while (i < cfg->n_cells &&
                   !(is_sharded(c, &cfg->cells[i]) && c->mine[i] && !is_done(c, cfg->cells[i].id)))
                i++;
            if (i < cfg->n_cells && !rc && !ecb_interrupted()) next = i;
        }
        ecb_mpi_bcast(&next, sizeof next);
        if (next == UINT64_MAX) break;
        i = (size_t)next;
        const ecb_cell *cell = &cfg->cells[i];
        char desc[1600];
        describe(c, cell, desc, sizeof desc - 24);
        size_t dl = strlen(desc);
        snprintf(desc + dl, sizeof desc - dl, " [sharded, %d ranks]", ecb_mpi_size());
        int drc = ensure_evalset(c, cell);
        if (lead) ecb_progress_start(c->pg, desc);
        ecb_cell_result res;
        ecb_cell_ctx cc = {cfg, &c->cur, c->trec_dir, NULL};
        if (drc) data_error_row(c, cell, &res);
        else ecb_shard_measure(&cc, &c->shard, cell, &res);
        if (lead) {
            rc = record_result(c, &res);
            ecb_progress_done(c->pg, ecb_cell_status_name(res.status),
                              ecb_cell_status_final(res.status) ? NULL : res.error);
        }
        ecb_cell_result_release(&res);
    }
    /* the slices are not needed by the cells handed out next */
    ecb_evalset_release(&c->cur);
    ecb_shard_release(&c->shard);
    c->cur_ds = -1;
    return rc;
}

/* Rank 0 hands out the pending cells of this part; the others compute. At
 * the end rank 0 puts the rows in the config's cell order, so the files do
 * not depend on which rank finished first. Sharded datasets' cells come
 * first, every rank on each. */
static int run_cells_mpi(run_ctx *c, ecb_run_summary *s)
{
    const ecb_config *cfg = c->cfg;
    ecb_mpi_sweep_ops ops = {c, mpi_compute, mpi_record, mpi_stopping};
    ecb_interrupt_install();
    if (ecb_mpi_rank() == 0) c->pg = ecb_progress_new(c->nmine, s->resumed, c->opts->quiet);
    int rc = run_sharded_cells(c);
    if (ecb_mpi_rank() != 0) {
        rc = ecb_mpi_sweep_work(&ops);
    } else {
        unsigned char *pending = ecb_calloc(cfg->n_cells ? cfg->n_cells : 1, 1);
        int src = rc;
        if (!pending) rc = ECB_ENOMEM;
        /* after a failed sharded phase every worker is only told to stop */
        for (size_t i = 0; pending && !src && i < cfg->n_cells; i++)
            pending[i] = c->mine[i] && !is_done(c, cfg->cells[i].id) &&
                         !is_sharded(c, &cfg->cells[i]);
        int lrc = ecb_mpi_sweep_lead(&c->units, pending, &ops); /* NULL: stop everyone */
        if (!rc) rc = lrc;
        ecb_progress_end(c->pg);
        ecb_progress_free(c->pg);
        c->pg = NULL;
        free(pending);
        s->interrupted = ecb_interrupted();
        if (!rc && !s->interrupted)
            rc = ecb_run_dir_canonical_order(cfg, c->results_path, c->per_query_path);
    }
    ecb_interrupt_restore();
    return rc;
}

/* The cells this process runs: a part of the sweep, or all of it. */
static int select_cells(run_ctx *c)
{
    const ecb_config *cfg = c->cfg;
    int rc = ecb_units_build(cfg, c->full, &c->units);
    if (!rc && !(c->mine = ecb_calloc(cfg->n_cells ? cfg->n_cells : 1, 1))) rc = ECB_ENOMEM;
    if (!rc && c->opts->nparts)
        rc = ecb_partition(&c->units, cfg->n_cells, c->opts->part, c->opts->nparts, c->mine);
    else if (!rc)
        memset(c->mine, 1, cfg->n_cells);
    for (size_t i = 0; !rc && i < cfg->n_cells; i++) c->nmine += c->mine[i];
    for (size_t i = 0; !rc && i < cfg->n_cells; i++) /* a sharded cell needs every rank at once */
        if (c->mine[i] && is_sharded(c, &cfg->cells[i]) && cell_wants_isolation(cfg, &cfg->cells[i]))
            rc = ecb_fail(ECB_EINVAL, "%s: dataset %s is sharded over MPI ranks, so its cells cannot "
                          "run isolated (isolate, time_limit_s, memory_limit_mb or a plugin from "
                          "ECBENCH_METHODS_PATH); drop those, or \"shards\" / rank_memory_mb",
                          cfg->path, cfg->datasets[cfg->cells[i].dataset].name);
    for (size_t d = 0; !rc && d < cfg->n_datasets; d++)
        if (cfg->datasets[d].shards && !cfg->datasets[d].shards_auto && ecb_mpi_size() == 1 &&
            ecb_mpi_rank() == 0 && !c->opts->quiet)
            ecb_log(ECB_LOG_INFO, "dataset %s: \"shards\": %zu takes effect under an MPI launcher; "
                    "one process holds the whole corpus (same numbers)", cfg->datasets[d].name,
                    cfg->datasets[d].shards);
    if (!rc && c->opts->nparts && !c->nmine && ecb_mpi_rank() == 0)
        ecb_log(ECB_LOG_WARN, "part %zu/%zu has no cells (the sweep has %zu units of work)",
                c->opts->part, c->opts->nparts, c->units.n);
    return rc;
}

/* Every rank loads and checks the config's data; only rank 0 touches the
 * output directory; then all agree on whether to go on. */

/* Budget-targeted cells get their parameters from each dataset's dimension
 * and corpus size, before anything compares ids or builds a chain. */
static int resolve_budgets(run_ctx *c)
{
    ecb_config *cfg = (ecb_config *)c->cfg;
    int rc = 0;
    for (size_t i = 0; i < cfg->n_datasets && !rc; i++) {
        const ecb_dataset *d = c->full[i];
        rc = ecb_config_resolve_budgets(cfg, i, ecb_dataset_dim(d),
                                        d->sim == ECB_DS_L2 ? ECB_SIM_L2 : ECB_SIM_DOT,
                                        ecb_dataset_n_corpus(d));
    }
    return rc;
}

static int start(run_ctx *c, ecb_dir_lock **lock)
{
    int lead = ecb_mpi_rank() == 0;
    int rc = load_datasets(c);
    if (!rc) rc = resolve_budgets(c);
    if (!rc) rc = validate_cells(c);
    if (!rc) rc = select_cells(c);
    if (!rc && lead) rc = ecb_mkdir_p(c->dir);
    if (!rc && lead) rc = ecb_dir_check_writable(c->dir);
    if (!rc && lead) rc = ecb_dir_lock_take(c->dir, lock);
    c->results_path = path_in(c->dir, "results.csv");
    c->per_query_path = path_in(c->dir, "per_query.csv");
    c->trec_dir = c->opts->trec_run ? path_in(c->dir, "runs") : NULL;
    if (!rc && (!c->results_path || !c->per_query_path || (c->opts->trec_run && !c->trec_dir)))
        rc = ECB_ENOMEM;
    if (!rc && lead) rc = open_results(c);
    return ecb_mpi_agree(rc);
}

static void finish_message(const run_ctx *c, const ecb_run_summary *s)
{
    if (s->interrupted) {
        fprintf(stderr, "ecbench: stopped by %s: %zu ok, %zu skipped, %zu failed in this run; "
                "%zu of %zu cells done in %s/results.csv; run the same command again to resume\n",
                s->interrupted == SIGINT ? "SIGINT" : "SIGTERM", s->ok, s->skipped, s->failed,
                s->ok + s->skipped + s->resumed, c->nmine, c->dir);
    } /* else the CLI says "done" once the report is written */
}

int ecb_run(const ecb_run_opts *o, ecb_run_summary *summary)
{
    run_ctx c = {.opts = o, .cur_ds = -1};
    ecb_run_summary s = {0};
    ecb_registry *reg = NULL;
    ecb_config *cfg = NULL;
    ecb_dir_lock *lock = NULL;
    int rc = ecb_registry_load_default(&reg);
    if (!rc) rc = ecb_config_load(o->config_path, reg, &cfg);
    if (rc) goto out;
    c.cfg = cfg;
    /* One OpenBLAS thread: ecbench parallelises over fixed blocks itself, so a
     * row's result never depends on how OpenBLAS split a product by thread
     * count (quality is bit-identical across thread counts). */
    ecb_blas_one_thread();
    if (o->output) c.dir = ecb_strdup(o->output);
    else if (o->nparts) { /* parts of one sweep never share a directory */
        ecb_buf b = {0};
        if (ecb_buf_printf(&b, "%s/part-%zu-of-%zu", cfg->output, o->part, o->nparts) == 0)
            c.dir = b.p;
    } else c.dir = ecb_strdup(cfg->output);
    if (!c.dir) { rc = ECB_ENOMEM; goto out; }
    if ((rc = start(&c, &lock))) goto out;
    int lead = ecb_mpi_rank() == 0;
    s.total = c.nmine;
    for (size_t i = 0; i < cfg->n_cells; i++) s.resumed += c.mine[i] && is_done(&c, cfg->cells[i].id);
    char started[64];
    ecb_timestamp(started, sizeof started);
    c.started = started;
    c.sum = &s;
    if (lead && !o->quiet) {
        char env[512], part[64] = "", ranks[64] = "";
        ecb_environment_line(env, sizeof env, cfg->threads);
        if (o->nparts) snprintf(part, sizeof part, " (part %zu/%zu)", o->part, o->nparts);
        if (ecb_mpi_size() > 1) snprintf(ranks, sizeof ranks, " on %d MPI ranks", ecb_mpi_size());
        ecb_log(ECB_LOG_INFO, "%s: %zu cells%s (%zu already done) -> %s%s", cfg->name, c.nmine,
                part, s.resumed, c.dir, ranks);
        ecb_log(ECB_LOG_INFO, "environment: %s", env);
    }
    if (lead) rc = write_manifest(&c, started, 0, &s);
    if ((rc = ecb_mpi_agree(rc))) goto out;
    rc = ecb_mpi_size() > 1 ? run_cells_mpi(&c, &s) : run_cells(&c, &s);
    if (lead) {
        int mrc = write_manifest(&c, started, !rc && !s.interrupted, &s);
        if (!rc) rc = mrc;
        if (!rc) finish_message(&c, &s);
        if (!rc) rc = s.interrupted ? 128 + s.interrupted : s.failed ? 1 : 0;
    }
    /* every rank exits as rank 0 does */
    ecb_mpi_bcast_int(&rc);
out:
    if (summary) {
        *summary = s;
        summary->dir = c.dir;
        c.dir = NULL;
    }
    for (size_t i = 0; i < c.ndone; i++) free(c.done[i]);
    free(c.done);
    free(c.mine);
    ecb_units_release(&c.units);
    ecb_chain_cache_destroy(c.cache);
    ecb_evalset_release(&c.cur);
    ecb_shard_release(&c.shard);
    if (c.full)
        for (size_t i = 0; cfg && i < cfg->n_datasets; i++) ecb_dataset_free(c.full[i]);
    free(c.full);
    free(c.dir);
    free(c.results_path);
    free(c.per_query_path);
    free(c.trec_dir);
    ecb_dir_lock_release(lock);
    ecb_config_free(cfg);
    ecb_registry_free(reg);
    return rc;
}
