/* The plan of a sweep: sizes, work and time estimates (see plan.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/cell.h"
#include "harness/chain.h"
#include "harness/config.h"
#include "harness/progress.h"
#include "harness/registry.h"
#include "harness/search.h"
#include "harness/shard.h"
#include "harness/plan.h"
#include "harness/team.h"

static size_t nz(size_t v) { return v ? v : 1; }

/* ---- dataset sizes without loading the data ---------------------------------- */

typedef struct {
    size_t n, dim, nq;
    int generated;
    ecb_similarity sim;     /* as the methods see it (cosine data: dot) */
} ds_size;

static size_t json_size(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (size_t)v->valuedouble : 0;
}

static int vecs_shape(const char *manifest, const cJSON *j, const char *key, size_t *n, size_t *d)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(p)) return ecb_fail(ECB_EINVAL, "%s: expected a path in \"%s\"", manifest, key);
    char *path = ecb_path_join_rel(manifest, p->valuestring);
    ecb_vecs *v = NULL;
    int rc = path ? ecb_vecs_open(path, &v) : ECB_ENOMEM;
    if (!rc) {
        *n = ecb_vecs_count(v);
        *d = ecb_vecs_dim(v);
    }
    ecb_vecs_free(v);
    free(path);
    return rc;
}

static int dataset_size(const ecb_dataset_spec *sp, ds_size *s)
{
    memset(s, 0, sizeof *s);
    if (sp->builtin) {
        s->n = sp->synth.n;
        s->dim = sp->synth.dim;
        s->nq = sp->synth.queries;
        s->generated = 1;
        s->sim = ECB_SIM_DOT;
        return 0;
    }
    cJSON *j = NULL;
    int rc = ecb_json_load_file(sp->manifest, &j);
    if (rc) return rc;
    s->n = json_size(j, "n_corpus");
    s->dim = json_size(j, "dim");
    s->nq = json_size(j, "n_queries");
    const cJSON *sim = cJSON_GetObjectItemCaseSensitive(j, "similarity");
    s->sim = cJSON_IsString(sim) && strcmp(sim->valuestring, "l2") == 0 ? ECB_SIM_L2 : ECB_SIM_DOT;
    size_t d2 = 0;
    if (!s->n || !s->dim) rc = vecs_shape(sp->manifest, j, "corpus", &s->n, &s->dim);
    if (!rc && !s->nq) rc = vecs_shape(sp->manifest, j, "queries", &s->nq, &d2);
    cJSON_Delete(j);
    return rc;
}

/* ---- calibration ------------------------------------------------------------- */

/* Calibration counts this process's CPU seconds, not wall time: on a
 * machine shared with other work a wall clock would fold the others' load
 * into every rate. A phase run by several workers is divided by them (the
 * time it takes on an idle machine). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    char *label;            /* chain label + mode */
    size_t dim;
    double train_s_per_row; /* training seconds per sample row */
    double enc_rows_s, scan_pairs_s;
    size_t code_size, aux;
} chain_rate;

typedef struct {
    double secs;            /* per measured kernel */
    size_t threads;
    double gflops;          /* sgemm, for the calibrated dim */
    size_t gflops_dim;
    double gen_rows_s;      /* synthetic generator, rows/s at gen_dim */
    size_t gen_dim;
    chain_rate *chains;
    size_t nchains;
} calib;

/* sgemm of 256 queries against 8192 rows, repeated for about c->secs. */
static void calibrate_sgemm(calib *c, size_t dim)
{
    size_t nq = 256, nr = 8192;
    float *a = ecb_malloc_array(nq * dim, sizeof *a), *b = ecb_malloc_array(nr * dim, sizeof *b);
    float *o = ecb_malloc_array(nq * nr, sizeof *o);
    if (!a || !b || !o) goto out;
    ecb_rng r;
    ecb_rng_seed(&r, 1);
    for (size_t i = 0; i < nq * dim; i++) a[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < nr * dim; i++) b[i] = (float)ecb_rng_normal(&r);
    size_t reps = 0;
    double t0 = cpu_now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nq, (blasint)nr, (blasint)dim,
                    1.0f, a, (blasint)dim, b, (blasint)dim, 0.0f, o, (blasint)nr);
        reps++;
    } while ((t = cpu_now() - t0) < c->secs);
    c->gflops = 2.0 * (double)nq * (double)nr * (double)dim * (double)reps / t / 1e9 *
                (double)c->threads;
    c->gflops_dim = dim;
out:
    free(a);
    free(b);
    free(o);
}

static int calibration_set(size_t dim, uint64_t seed, ecb_dataset **ds)
{
    ecb_synth_params p;
    ecb_synth_defaults(&p);
    p.n = 8192;
    p.dim = dim;
    p.queries = 64;
    p.seed = seed;
    return ecb_dataset_synthetic(&p, ds);
}

static void calibrate_generator(calib *c, size_t dim)
{
    ecb_dataset *ds = NULL;
    float *x = ecb_malloc_array(1024 * dim, sizeof *x);
    if (!x || calibration_set(dim, 3, &ds)) goto out;
    size_t rows = 0;
    double t0 = cpu_now(), t;
    do {
        if (ecb_vecs_read(ds->corpus, rows % 7168, 1024, x)) goto out;
        rows += 1024;
    } while ((t = cpu_now() - t0) < c->secs / 2);
    c->gen_rows_s = (double)rows / t;
    c->gen_dim = dim;
out:
    ecb_dataset_free(ds);
    free(x);
}

/* Train on up to 4,096 rows, encode 8,192, scan them with 64 queries. */
static int calibrate_chain(calib *c, const ecb_config *cfg, const ecb_cell *cell, size_t dim,
                           ecb_similarity sim, chain_rate *cr)
{
    ecb_dataset *ds = NULL;
    ecb_chain_inst *b = NULL;
    float *x = NULL, *q = NULL;
    uint8_t *prep = NULL;
    size_t n = 8192, ns = cfg->train_size < 4096 ? cfg->train_size : 4096, nq = 64;
    int rc = calibration_set(dim, cfg->seed, &ds);
    if (!rc && (!(x = ecb_malloc_array(n * dim, sizeof *x)) || !(q = ecb_malloc_array(nq * dim, sizeof *q))))
        rc = ECB_ENOMEM;
    if (!rc) rc = ecb_vecs_read(ds->corpus, 0, n, x);
    if (!rc) rc = ecb_vecs_read(ds->queries, 0, nq, q);
    ecb_vecs *mem = NULL;
    if (!rc) {
        ecb_normalize_rows(x, n, dim);
        ecb_normalize_rows(q, nq, dim);
        rc = ecb_vecs_from_memory(x, n, dim, &mem);
        if (!rc) x = NULL;
    }
    if (!rc) rc = ecb_chain_inst_create(&cell->chain, dim, sim, cfg->seed, c->threads, &b);
    double t0 = cpu_now();
    if (!rc) {
        float *sample = NULL;
        if (!(sample = ecb_malloc_array(ns * dim, sizeof *sample))) rc = ECB_ENOMEM;
        if (!rc) rc = ecb_vecs_read(mem, 0, ns, sample);
        t0 = cpu_now();
        if (!rc) rc = ecb_chain_inst_train(b, sample, ns);
        cr->train_s_per_row = (cpu_now() - t0) / (double)c->threads / (double)nz(ns);
        free(sample);
    }
    t0 = cpu_now();
    if (!rc) rc = ecb_chain_inst_encode(b, mem, 0, c->threads, 4096);
    cr->enc_rows_s = (double)n / ((cpu_now() - t0) / (double)c->threads);
    size_t qsize;
    if (!rc) rc = ecb_chain_inst_prepare(b, cell->mode, q, nq, &prep, &qsize);
    /* the scoring kernel on its own (the 8,192-row set would make the top-k
     * heap look costlier than on a large corpus, where almost every
     * candidate is rejected at the heap's root), plus that rejection */
    const ecb_method *qm = ecb_chain_inst_quantizer(b);
    float *sc = rc ? NULL : ecb_malloc_array(nq * n, sizeof *sc);
    if (!rc && !sc) rc = ECB_ENOMEM;
    size_t reps = 0;
    double tt = 0;
    t0 = cpu_now();
    while (!rc && tt < c->secs / 4) {
        rc = qm->vt->score((ecb_method *)qm, cell->mode, prep, nq, ecb_chain_inst_codes(b), n, sc);
        reps++;
        tt = cpu_now() - t0;
    }
    double score_s = tt / ((double)n * (double)nq * (double)reps);
    float hs[100];
    int64_t hi[100];
    size_t hc = 0;
    for (size_t i = 0; i < 100; i++) ecb_heap_push(hs, hi, &hc, 100, 1e30f, (int64_t)i, NULL);
    reps = 0;
    t0 = cpu_now();
    do {
        for (size_t q = 0; !rc && q < nq; q++)
            ecb_heap_push_row(hs, hi, &hc, 100, sc + q * n, n, 1000, NULL);
        reps++;
    } while (!rc && (tt = cpu_now() - t0) < c->secs / 8);
    double heap_s = tt / ((double)n * (double)nq * (double)reps);
    /* ecbench's scan runs `threads` workers over the blocks */
    cr->scan_pairs_s = (double)c->threads / (score_s + heap_s);
    free(sc);
    if (!rc) {
        cr->code_size = ecb_chain_inst_code_size(b);
        cr->aux = ecb_chain_inst_aux_bytes(b);
    }
    free(prep);
    ecb_chain_inst_destroy(b);
    ecb_vecs_free(mem);
    free(x);
    free(q);
    ecb_dataset_free(ds);
    return rc;
}

static const chain_rate *chain_rate_of(calib *c, const ecb_config *cfg, const ecb_cell *cell,
                                       size_t dim, ecb_similarity sim, int *rc)
{
    char label[8400];
    ecb_chain_label(&cell->chain, 1, label, sizeof label - 32);
    size_t l = strlen(label);
    snprintf(label + l, sizeof label - l, " %s", ecb_mode_name(cell->mode));
    for (size_t i = 0; i < c->nchains; i++)
        if (c->chains[i].dim == dim && strcmp(c->chains[i].label, label) == 0)
            return &c->chains[i];
    chain_rate *cr = &c->chains[c->nchains];
    memset(cr, 0, sizeof *cr);
    cr->dim = dim;
    if (!(cr->label = ecb_strdup(label))) {
        *rc = ECB_ENOMEM;
        return NULL;
    }
    c->nchains++;
    *rc = calibrate_chain(c, cfg, cell, dim, sim, cr);
    return *rc ? NULL : cr;
}

/* ---- printing ------------------------------------------------------------------ */

static void bytes_text(double b, char *buf, size_t n)
{
    static const char *const u[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    size_t i = 0;
    while (b >= 1000 && i < 5) {
        b /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void secs_text(double s, char *buf, size_t n) { ecb_format_duration(s, buf, n); }

static double mem_total_bytes(void)
{
    double ram = ecb_ram_bytes();
    return ram > 0 ? ram : NAN;
}

/* The 1-minute load average, 0 when unknown. */
static double load_average(void)
{
    double l = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = 0;
    if (f) fclose(f);
    return l;
}

/* ---- the plan ----------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const ecb_config *cfg;
    calib *cal;
    size_t ranks, per_node;
    double slow;            /* ranks x threads over cores on a node, at least 1 */
    double total_s, peak_rank_bytes;
    double cpu_rank_s;      /* CPU seconds per busiest rank (threads x its busy time) */
} plan_ctx;

/* One (dataset, corpus size) group: cells [first, last). */
static int plan_group(plan_ctx *p, size_t first, size_t last, const ds_size *sz)
{
    const ecb_config *cfg = p->cfg;
    const ecb_cell *c0 = &cfg->cells[first];
    const ecb_dataset_spec *sp = &cfg->datasets[c0->dataset];
    size_t n = c0->corpus_size && c0->corpus_size < sz->n ? c0->corpus_size : sz->n;
    size_t d = sz->dim, nq = sz->nq, nl = nq < cfg->latency_queries ? nq : cfg->latency_queries;
    int automatic = 0;
    size_t nsh = ecb_shard_count(cfg, c0->dataset, sz->n, d, p->ranks, &automatic);
    int sharded = nsh && (p->ranks > 1 || automatic);
    size_t S = sharded ? p->ranks : 1, rows = (n + S - 1) / S;
    size_t workers = sharded || p->ranks == 1 ? 1 : p->ranks - 1;
    ecb_similarity sim = sz->sim;
    char b1[32], b2[32], b3[32];
    bytes_text((double)rows * (double)d * 4, b1, sizeof b1);
    fprintf(p->f, "\ndataset %s: %zu x %zu, %zu queries%s\n", sp->name ? sp->name : "?", n, d, nq,
            sz->generated ? " (generated on the fly)" : "");
    char how[64];
    if (automatic) snprintf(how, sizeof how, "automatically (rank_memory_mb %g)", cfg->rank_memory_mb);
    else snprintf(how, sizeof how, "(\"shards\": %zu)", nsh);
    if (sharded)
        fprintf(p->f, "  sharded %s over %zu rank%s: %zu rows per rank, float32 slice %s "
                "per rank (%s)\n", how, S, S > 1 ? "s" : "", rows, b1,
                sz->generated ? (double)rows * d <= (double)(1u << 28) ? "generated, kept in memory"
                                                                      : "generated per read"
                              : "memory-mapped");
    else
        fprintf(p->f, "  cells over %zu worker%s; every worker maps or generates the whole corpus "
                "(%s float32)\n", workers, workers > 1 ? "s" : "", b1);
    /* ground truth: one sgemm pass, by every rank over its rows */
    double gt_flop = 2.0 * (double)n * (double)d * (double)nq;
    /* generation costs about dim per row; a corpus (slice) under 1 GiB is
     * generated once and kept, a larger one at every pass over it */
    double gen_rate = p->cal->gen_rows_s * (double)p->cal->gen_dim / (double)nz(d);
    double gen_s = sz->generated && gen_rate > 0 ? (double)rows / gen_rate : 0;
    int gen_per_pass = sz->generated && (double)rows * (double)d > (double)(1u << 28);
    double gt_s = gt_flop / (double)S / (p->cal->gflops * 1e9) * p->slow + gen_s * p->slow;
    bytes_text((double)n * 40.0, b2, sizeof b2);
    secs_text(gt_s, b3, sizeof b3);
    fprintf(p->f, "  ground truth: %.3g FLOP, est %s; ids, qrels and row ranks: ~%s per rank\n",
            gt_flop, b3, b2);
    fprintf(p->f, "  %-36s %-10s %-12s %12s %12s %10s\n", "cell", "mode", "rescore", "bytes/rank",
            "scan FLOP", "est time");
    double group_s = 0, peak = 0;
    const char *prev = NULL;
    for (size_t i = first; i < last; i++) {
        const ecb_cell *cell = &cfg->cells[i];
        if (cell->skip_reason) { /* nothing fits its budget */
            fprintf(p->f, "  %-36s %-10s  skipped: %s\n", cell->label_col, ecb_mode_name(cell->mode),
                    cell->skip_reason);
            continue;
        }
        int rc = 0;
        const chain_rate *cr = chain_rate_of(p->cal, cfg, cell, d, sim, &rc);
        if (!cr) {
            fprintf(p->f, "  %-36s %-10s  cannot calibrate: %s\n", cell->label_col,
                    ecb_mode_name(cell->mode), ecb_last_error());
            continue;
        }
        const ecb_rescore *rs = &cfg->rescores[cell->rescore];
        /* codes over rank_memory_mb: streamed chunk by chunk, encoded again
         * for every cell (shard.h); the codes held are a chunk's */
        int streamed = sharded && ecb_shard_streams(cfg, rows, cr->code_size);
        double bytes = (double)cr->code_size * (double)rows + (double)cr->aux;
        if (streamed)
            bytes = (double)cr->code_size * (double)ecb_shard_stream_rows(cfg, cr->code_size) +
                    (double)cr->aux;
        size_t k1 = ecb_cell_k1(cfg, cell, n);
        if (rs->factor && rs->with_float32) bytes += (double)rows * d * 4; /* read at random */
        /* the chain is built once for a run of cells differing in mode or rescoring */
        double build = 0;
        if (!prev || strcmp(prev, cell->method_col) != 0 || i == first) {
            size_t ts = n < cfg->train_size ? n : cfg->train_size;
            build = cr->train_s_per_row * (double)ts;
        }
        if (build > 0 || streamed) build += (double)rows / cr->enc_rows_s + (gen_per_pass ? gen_s : 0);
        prev = cell->method_col;
        double scan = (double)rows * (double)(nq + nl) / cr->scan_pairs_s;
        double resc = rs->factor ? 2.0 * (double)(nq + nl) * (double)k1 * d / (p->cal->gflops * 1e8)
                                 : 0;
        double cell_s = (build + scan + resc) * p->slow / (double)workers;
        group_s += cell_s;
        p->cpu_rank_s += (build + scan + resc) * (double)cfg->threads / (double)workers;
        if (bytes > peak) peak = bytes;
        bytes_text(bytes, b1, sizeof b1);
        secs_text(cell_s * (double)workers, b3, sizeof b3);
        fprintf(p->f, "  %-36.36s %-10s %-12.12s %12s %12.3g %10s%s\n", cell->label_col,
                ecb_mode_name(cell->mode), rs->label, b1,
                2.0 * (double)n * (double)d * (double)(nq + nl), b3,
                streamed ? "  streamed" : "");
    }
    group_s += gt_s;
    p->cpu_rank_s += gt_s / p->slow * (double)cfg->threads;
    peak += (double)n * 40.0;
    if (peak > p->peak_rank_bytes) p->peak_rank_bytes = peak;
    secs_text(group_s, b3, sizeof b3);
    fprintf(p->f, "  group total: est %s%s\n", b3,
            workers > 1 ? " (cell times above are one worker's; the total divides them)" : "");
    p->total_s += group_s;
    return 0;
}

int ecb_plan(const ecb_plan_opts *o)
{
    FILE *f = o->out ? o->out : stdout;
    ecb_registry *reg = NULL;
    ecb_config *cfg = NULL;
    ds_size *sizes = NULL;
    calib cal = {0};
    int rc = ecb_registry_load_default(&reg);
    if (!rc) rc = ecb_config_load(o->config_path, reg, &cfg);
    if (!rc && !(sizes = ecb_calloc(nz(cfg->n_datasets), sizeof *sizes))) rc = ECB_ENOMEM;
    for (size_t i = 0; !rc && i < cfg->n_datasets; i++) {
        rc = dataset_size(&cfg->datasets[i], &sizes[i]);
        if (!cfg->datasets[i].name && !rc) /* (a manifest's name is in the file) */
            cfg->datasets[i].name = ecb_strdup(cfg->datasets[i].manifest);
        if (!rc) rc = ecb_config_resolve_budgets(cfg, i, sizes[i].dim, sizes[i].sim, sizes[i].n);
    }
    if (!rc && !(cal.chains = ecb_calloc(nz(cfg->n_cells), sizeof *cal.chains))) rc = ECB_ENOMEM;
    if (rc) goto out;
    cal.secs = o->calibrate_s > 0 ? o->calibrate_s : 0.2;
    cal.threads = cfg->threads;
    /* as in a sweep: OpenBLAS on one thread, ecbench's own workers on the
     * cores (the sgemm rate is one thread's, times the workers) */
    ecb_blas_one_thread();
    size_t ranks = o->ranks ? o->ranks : 1;
    size_t per_node = o->ranks_per_node ? o->ranks_per_node : ranks;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double busy = (double)per_node * (double)cfg->threads;
    plan_ctx p = {f, cfg, &cal, ranks, per_node,
                  cores > 0 && busy > (double)cores ? busy / (double)cores : 1.0, 0, 0, 0};
    /* other work on this machine now (before calibrating adds to it) */
    double load = load_average();
    calibrate_sgemm(&cal, sizes[0].dim);
    for (size_t i = 0; i < cfg->n_datasets; i++)
        if (sizes[i].generated && !cal.gen_rows_s) calibrate_generator(&cal, sizes[i].dim);
    char mem[32];
    bytes_text(mem_total_bytes(), mem, sizeof mem);
    fprintf(f, "ecbench plan: %s, %zu cells on %zu rank%s (%zu per node), %zu thread%s each\n",
            cfg->path, cfg->n_cells, ranks, ranks > 1 ? "s" : "", per_node, cfg->threads,
            cfg->threads > 1 ? "s" : "");
    fprintf(f, "this machine: %ld cores, %s RAM; sgemm %.1f GFLOP/s at dim %zu", cores, mem,
            cal.gflops, cal.gflops_dim);
    if (cal.gen_rows_s > 0)
        fprintf(f, "; synthetic generator %.3g rows/s at dim %zu", cal.gen_rows_s, cal.gen_dim);
    fprintf(f, "\n");
    if (p.slow > 1)
        fprintf(f, "(%zu ranks x %zu threads share %ld cores per node: times x %.2f)\n", per_node,
                cfg->threads, cores, p.slow);
    for (size_t i = 0; !rc && i < cfg->n_cells;) {
        size_t j = i + 1;
        while (j < cfg->n_cells && cfg->cells[j].dataset == cfg->cells[i].dataset &&
               cfg->cells[j].corpus_size == cfg->cells[i].corpus_size)
            j++;
        rc = plan_group(&p, i, j, &sizes[cfg->cells[i].dataset]);
        i = j;
    }
    char t[32], pk[32];
    secs_text(p.total_s, t, sizeof t);
    bytes_text(p.peak_rank_bytes, pk, sizeof pk);
    double mt = mem_total_bytes();
    fprintf(f, "\nsweep: est %s on idle nodes (%.0f CPU-s per rank); largest cell per rank %s "
            "(codes + rescoring rows + ids)%s%s\n", t, p.cpu_rank_s, pk,
            !isnan(mt) && (double)per_node * p.peak_rank_bytes > mt ? "; DOES NOT FIT: " : "; fits ",
            !isnan(mt) ? "this machine's RAM per node" : "");
    /* all ranks on this machine, and it is loaded: our per_node x threads
     * runnable threads and `load` others share its cores evenly */
    if (load > 0 && cores > 0 && per_node == ranks) {
        double loaded = fmax(1.0, (load + busy) / (double)cores);
        secs_text(p.total_s * loaded / p.slow, t, sizeof t);
        fprintf(f, "on this machine at its load average %.2f (other work sharing %ld cores): est %s\n",
                load, cores, t);
    }
    fprintf(f, "calibrated chains (train s/row, encode rows/s, scan pairs/s):\n");
    for (size_t i = 0; i < cal.nchains; i++)
        fprintf(f, "  %-48.48s d=%-5zu %10.3g %12.3g %12.3g\n", cal.chains[i].label,
                cal.chains[i].dim, cal.chains[i].train_s_per_row, cal.chains[i].enc_rows_s,
                cal.chains[i].scan_pairs_s);
out:
    for (size_t i = 0; i < cal.nchains; i++) free(cal.chains[i].label);
    free(cal.chains);
    free(sizes);
    ecb_config_free(cfg);
    ecb_registry_free(reg);
    return rc;
}
