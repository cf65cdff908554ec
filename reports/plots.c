/*
 * The report's figures: C writes each figure's data (plots/NAME.dat) and
 * runs the static gnuplot templates (reports/NAME.gp, copied into plots/) with
 * arguments; it never builds plot code. plots/render.sh repeats the exact
 * gnuplot commands, so every figure can be re-rendered or restyled from the
 * data alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "common/fileio.h"
#include "common/install.h"
#include "reports/model.h"

extern char **environ;

typedef struct {
    ecb_report *R;
    char *dir;        /* DIR/plots */
    ecb_rfile render; /* plots/render.sh */
} plotter;

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void tsv_field(FILE *f, const char *s)
{
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' || *s == '"' ? ' ' : *s, f);
}

/* The templates: $ECBENCH_REPORTS_DIR, else ecbench's data directory found
 * relative to the running executable (the build tree's reports/, or an
 * installed <datadir>/ecbench): never a path compiled into the binary. */
static int find_templates(ecb_report *R)
{
    const char *env = getenv("ECBENCH_REPORTS_DIR");
    char own[4096] = "";
    if (ecb_install_dir(ECB_DIR_TEMPLATES, own, sizeof own) != 0) ecb_clear_error();
    const char *cands[] = {env, own[0] ? own : NULL};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i]) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/pareto.gp", cands[i]);
        if (file_exists(p)) {
            snprintf(R->templates, sizeof R->templates, "%s", cands[i]);
            return 0;
        }
    }
    return ecb_fail(ECB_ENOTFOUND, "gnuplot templates (pareto.gp...) not found in "
                    "$ECBENCH_REPORTS_DIR (%s) nor in ecbench's data directory (%s)",
                    env ? env : "unset",
                    own[0] ? own : "<datadir>/ecbench next to the executable: absent");
}

static int copy_file(const char *src, const char *dst)
{
    ecb_buf b = {0};
    int rc = ecb_read_file(src, &b);
    if (!rc) rc = ecb_write_file_atomic(dst, b.p ? b.p : "", b.len);
    ecb_buf_free(&b);
    return rc;
}

/* A figure gnuplot says it wrote: a complete PNG (ends with its IEND
 * chunk) or SVG (ends with </svg>). A full disk can leave a truncated file
 * behind a zero exit status. */
static int figure_complete(const char *path, int svg)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char tail[64];
    size_t n = 0;
    if (fseek(f, -(long)sizeof tail, SEEK_END) != 0) rewind(f);
    n = fread(tail, 1, sizeof tail, f);
    fclose(f);
    if (svg) {
        for (size_t i = 0; i + 6 <= n; i++)
            if (memcmp(tail + i, "</svg>", 6) == 0) return 1;
        return 0;
    }
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    return n >= 12 && memcmp(tail + n - 12, iend, 12) == 0;
}

static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

static int add_plot(ecb_report *R, const char *base)
{
    if (R->nplots == R->cap_plots) {
        size_t cap = R->cap_plots ? R->cap_plots * 2 : 16;
        char **p = realloc(R->plots, cap * sizeof *p);
        if (!p) return ECB_ENOMEM;
        R->plots = p;
        R->cap_plots = cap;
    }
    if (!(R->plots[R->nplots] = ecb_strdup(base))) return ECB_ENOMEM;
    int rc = ecb_strindex_put(&R->plot_ix, R->plots[R->nplots], R->nplots, NULL);
    R->nplots++;
    return rc < 0 ? rc : 0;
}

/* Run `gnuplot -c SCRIPT ARGS...` inside plots/ for out.png and out.svg;
 * args[1] is the output base name, completed with each extension. gnuplot
 * writes BASE.tmp.PID.EXT; it becomes BASE.EXT once gnuplot exited 0 and
 * the file is complete. render.sh gets the final names. */
static int run_gnuplot(plotter *P, const char *script, const char *base, const char **args, size_t nargs)
{
    ecb_report *R = P->R;
    int rc = 0;
    for (int e = 0; e < 2 && !rc; e++) {
        const char *ext = e ? "svg" : "png";
        char outname[512], tmpname[560];
        snprintf(outname, sizeof outname, "%s.%s", base, ext);
        snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld.%s", base, (long)getpid(), ext);
        char *argv[24];
        size_t a = 0;
        argv[a++] = "gnuplot";
        argv[a++] = "-c";
        argv[a++] = (char *)script;
        argv[a++] = (char *)args[0];
        argv[a++] = outname;
        for (size_t i = 1; i < nargs && a < 23; i++) argv[a++] = (char *)args[i];
        argv[a] = NULL;
        for (size_t i = 0; i < a; i++) {
            if (i) fputc(' ', P->render.f);
            sh_quote(P->render.f, argv[i]);
        }
        fputc('\n', P->render.f);
        if (R->gnuplot_missing) continue;
        /* The child changes into plots/ (so the scripts see the same relative
         * paths as render.sh) without touching the caller's cwd. */
        char *sargv[32];
        size_t sa = 0;
        sargv[sa++] = "sh";
        sargv[sa++] = "-c";
        sargv[sa++] = "cd \"$0\" && exec gnuplot \"$@\"";
        sargv[sa++] = P->dir;
        for (size_t i = 1; i < a; i++) sargv[sa++] = i == 4 ? tmpname : argv[i];
        sargv[sa] = NULL;
        char *log = ecb_rpt_pathf("%s/gnuplot.log", P->dir);
        char *tmpp = ecb_rpt_pathf("%s/%s", P->dir, tmpname), *outp = ecb_rpt_pathf("%s/%s", P->dir, outname);
        if (!log || !tmpp || !outp) {
            free(log); free(tmpp); free(outp);
            return ECB_ENOMEM;
        }
        pid_t pid;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        int sp = posix_spawnp(&pid, "sh", &fa, NULL, sargv, environ);
        posix_spawn_file_actions_destroy(&fa);
        int st = 0;
        if (sp == 0)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (sp != 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 127)) {
            /* no gnuplot (or no shell): the data and scripts are still there */
            R->gnuplot_missing = 1;
            ecb_log(ECB_LOG_WARN, "gnuplot not found: figures not rendered; data and scripts are in %s "
                    "(install gnuplot-nox, then run render.sh there)", P->dir);
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            rc = ecb_fail(ECB_EIO, "%s: gnuplot %s %s (see %s)", outp, script,
                          WIFEXITED(st) ? "failed" : "was killed", log);
        } else if (!figure_complete(tmpp, e)) {
            rc = ecb_fail(ECB_EIO, "%s: gnuplot %s exited 0 but wrote an empty or truncated file (disk "
                          "full? see %s)", outp, script, log);
        } else if (rename(tmpp, outp) != 0) {
            rc = ecb_fail(ECB_EIO, "%s: cannot rename %s into place: %s", outp, tmpname, strerror(errno));
        } else if (e == 0) {
            rc = add_plot(R, base);
        }
        if (rc) remove(tmpp);
        free(log);
        free(tmpp);
        free(outp);
    }
    return rc;
}

/* Write a figure's data file, then render it. */
static int plot(plotter *P, ecb_rfile *data, const char *script, const char *base, const char **args,
                size_t nargs)
{
    int rc = ecb_rfile_commit(data);
    return rc ? rc : run_gnuplot(P, script, base, args, nargs);
}

static int open_data(plotter *P, ecb_rfile *rf, const char *name)
{
    char *p = ecb_rpt_pathf("%s/%s", P->dir, name);
    if (!p) return ECB_ENOMEM;
    int rc = ecb_rfile_open(rf, p);
    free(p);
    return rc;
}

/* Blocks per family: "title" line then rows x y label variant, blocks
 * separated by two blank lines (gnuplot `index`). Block 0 is the frontier
 * when given. vars receives the variant names present ("" when only one,
 * so the plot needs no shape legend). */
static int write_family_blocks(FILE *f, const ecb_report *R, const ecb_rpt_group *g, const double *x,
                               const double *y, const size_t *front, size_t nfront, char *vars, size_t nvars)
{
    if (front) {
        fprintf(f, "Pareto frontier\n");
        for (size_t i = 0; i < nfront; i++) {
            size_t r = g->rows[front[i]];
            fprintf(f, "%.9g\t%.9g\t", x[front[i]], y[front[i]]);
            tsv_field(f, ECB_AT(R, r, label));
            fprintf(f, "\t%d\n", ecb_rpt_variant(R, r));
        }
        fprintf(f, "\n\n");
    }
    /* families of the plotted points, in order of first appearance */
    char **fam = ecb_calloc(g->n + 1, sizeof *fam);
    size_t *pts = ecb_malloc_array(g->n + 1, sizeof *pts), np = 0;
    ecb_partition fp = {0};
    int rc = (!fam || !pts) ? ECB_ENOMEM : 0;
    int seen[4] = {0, 0, 0, 0};
    for (size_t i = 0; !rc && i < g->n; i++) {
        if (isnan(x[i]) || isnan(y[i])) continue;
        char b[128];
        ecb_rpt_family(R, g->rows[i], b, sizeof b);
        seen[ecb_rpt_variant(R, g->rows[i])] = 1;
        if (!(fam[np] = ecb_strdup(b))) rc = ECB_ENOMEM;
        pts[np++] = i;
    }
    if (!rc) rc = ecb_partition_build((const char *const *)fam, np, &fp);
    for (size_t k = 0; !rc && k < fp.ngroups; k++) {
        tsv_field(f, fam[fp.rows[fp.start[k]]]);
        fputc('\n', f);
        for (size_t j = fp.start[k]; j < fp.start[k + 1]; j++) {
            size_t i = pts[fp.rows[j]];
            fprintf(f, "%.9g\t%.9g\t", x[i], y[i]);
            tsv_field(f, ECB_AT(R, g->rows[i], label));
            fprintf(f, "\t%d\n", ecb_rpt_variant(R, g->rows[i]));
        }
        fprintf(f, "\n\n");
    }
    ecb_partition_free(&fp);
    ecb_keys_free(fam, np);
    free(pts);
    vars[0] = '\0';
    if (seen[0] + seen[1] + seen[2] + seen[3] > 1)
        for (int v = 0; v < 4; v++)
            if (seen[v]) {
                size_t l = strlen(vars);
                snprintf(vars + l, nvars - l, "%s%s", l ? " " : "", ecb_rpt_variant_names[v]);
            }
    return rc;
}

static int plots_for_group(plotter *P, const ecb_rpt_group *g)
{
    ecb_report *R = P->R;
    int mc = g->metric_col;
    double *x = ecb_calloc(g->n + 1, sizeof *x), *y = ecb_calloc(g->n + 1, sizeof *y);
    size_t *front = ecb_calloc(g->n + 1, sizeof *front);
    ecb_rfile f = {0};
    int rc = (!x || !y || !front) ? ECB_ENOMEM : 0;
    char title[512], base[256], data[300], vars[128];
    char ylabel[96];
    snprintf(ylabel, sizeof ylabel, "%s", g->metric);

    /* quality vs compression ratio of the searched codes; rescored cells are
     * left out (their second representation is not in the ratio; they are
     * in the bytes figure) */
    for (size_t i = 0; !rc && i < g->n; i++) {
        size_t r = g->rows[i];
        int use = ecb_rpt_row_ok(R, r) && ecb_rpt_variant(R, r) < 2;
        x[i] = use ? ECB_NUM(R, r, ratio) : NAN;
        y[i] = use ? ecb_rpt_num(R->t, r, mc) : NAN;
    }
    size_t nf = rc ? 0 : ecb_pareto(x, y, g->n, 0, front);
    snprintf(base, sizeof base, "pareto_%s", g->slug);
    snprintf(data, sizeof data, "%s.dat", base);
    if (!rc) rc = open_data(P, &f, data);
    if (!rc) rc = write_family_blocks(f.f, R, g, x, y, front, nf, vars, sizeof vars);
    if (!rc) {
        snprintf(title, sizeof title, "%s (%.0f docs): quality vs compression, no rescoring", g->dataset,
                 g->n_corpus);
        const char *args[] = {data, title, "compression ratio vs float32 (log scale)", ylabel, "logx", "",
                              vars};
        rc = plot(P, &f, "pareto.gp", base, args, 7);
    }

    /* quality vs bytes per vector (the budget frontier), budgets as lines */
    for (size_t i = 0; !rc && i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_cost(R, r, NULL) : NAN;
        y[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_num(R->t, r, mc) : NAN;
        if (!(x[i] > 0)) x[i] = NAN;
    }
    nf = rc ? 0 : ecb_pareto(x, y, g->n, 1, front);
    snprintf(base, sizeof base, "bytes_%s", g->slug);
    snprintf(data, sizeof data, "%s.dat", base);
    if (!rc) rc = open_data(P, &f, data);
    if (!rc) rc = write_family_blocks(f.f, R, g, x, y, front, nf, vars, sizeof vars);
    if (!rc) {
        char blist[1024] = "";
        for (size_t b = 0; b < R->man.nbudgets; b++) {
            size_t l = strlen(blist);
            snprintf(blist + l, sizeof blist - l, "%s%.6g", l ? " " : "", R->man.budgets[b].per_vector);
        }
        snprintf(title, sizeof title, "%s (%.0f docs): quality vs memory per vector", g->dataset, g->n_corpus);
        const char *args[] = {data, title, "bytes per vector: codes + rescoring data + amortised aux (log scale)",
                              ylabel, "logx", blist, vars};
        rc = plot(P, &f, "pareto.gp", base, args, 7);
    }

    /* QPS vs quality */
    int any_qps = 0;
    for (size_t i = 0; !rc && i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_num(R->t, r, mc) : NAN;
        y[i] = ecb_rpt_row_ok(R, r) ? ECB_NUM(R, r, qps) : NAN;
        if (!(y[i] > 0)) y[i] = NAN;
        any_qps |= !isnan(y[i]) && !isnan(x[i]);
    }
    if (!rc && any_qps) {
        snprintf(base, sizeof base, "qps_%s", g->slug);
        snprintf(data, sizeof data, "%s.dat", base);
        rc = open_data(P, &f, data);
        if (!rc) rc = write_family_blocks(f.f, R, g, x, y, NULL, 0, vars, sizeof vars);
        if (!rc) {
            snprintf(title, sizeof title, "%s (%.0f docs): throughput vs quality", g->dataset, g->n_corpus);
            const char *args[] = {data, title, ylabel, "queries per second, batch, all threads (log scale)",
                                  vars};
            rc = plot(P, &f, "qps.gp", base, args, 5);
        }
    }

    /* per-budget winners and runners-up as bars */
    if (!rc && R->man.nbudgets) {
        snprintf(base, sizeof base, "budget_%s", g->slug);
        snprintf(data, sizeof data, "%s.dat", base);
        rc = open_data(P, &f, data);
        FILE *o = f.f;
        if (!rc) fprintf(o, "# budget\tbest\tbest_label\trunner_up\trunner_up_label\ttop\n");
        for (size_t b = 0; !rc && b < R->man.nbudgets; b++) {
            long best, second;
            ecb_rpt_budget_pick(R, g, &R->man.budgets[b], &best, &second);
            char nm[600];
            tsv_field(o, R->man.budgets[b].label);
            if (best >= 0) {
                fprintf(o, "\t%.9g\t", ecb_rpt_num(R->t, (size_t)best, mc));
                ecb_rpt_cell_name(R, (size_t)best, nm, sizeof nm);
                tsv_field(o, nm);
            } else fprintf(o, "\tNaN\t(nothing fits)");
            if (second >= 0) {
                fprintf(o, "\t%.9g\t", ecb_rpt_num(R->t, (size_t)second, mc));
                ecb_rpt_cell_name(R, (size_t)second, nm, sizeof nm);
                tsv_field(o, nm);
            } else fprintf(o, "\tNaN\t(none)");
            fprintf(o, "\t%.9g\n", best >= 0 ? ecb_rpt_num(R->t, (size_t)best, mc) : 0.0);
        }
        if (!rc) {
            snprintf(title, sizeof title, "%s (%.0f docs): best cells per memory budget", g->dataset,
                     g->n_corpus);
            const char *args[] = {data, title, ylabel};
            rc = plot(P, &f, "budget.gp", base, args, 3);
        }
    }
    ecb_rfile_discard(&f);
    free(x);
    free(y);
    free(front);
    return rc;
}

typedef struct { double n; size_t r; } by_n;
static int cmp_by_n(const void *a, const void *b)
{
    const by_n *x = a, *y = b;
    if (isnan(x->n) != isnan(y->n)) return isnan(x->n) ? 1 : -1;
    if (x->n != y->n && !isnan(x->n)) return x->n < y->n ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* Quality vs corpus size. One line per method family (so the legend stays
 * short): the family's best setting without rescoring at the largest size,
 * followed across the sizes by its label, mode and rescoring. rows: all the
 * dataset's rows, in results order. */
static int corpus_plot(plotter *P, const ecb_rpt_group *g, const size_t *rows, size_t n)
{
    ecb_report *R = P->R;
    const ecb_table *t = R->t;
    if (g->nsizes < 2) return 0;
    int mc = g->metric_col;
    double nmax = 0;
    for (size_t i = 0; i < n; i++)
        if (ECB_NUM(R, rows[i], n_corpus) > nmax) nmax = ECB_NUM(R, rows[i], n_corpus);
    int kc[] = {R->c.label, R->c.mode, R->c.rescore};
    char **lkeys = ecb_calloc(n + 1, sizeof *lkeys), **fam = ecb_calloc(n + 1, sizeof *fam);
    size_t *cand = ecb_calloc(n + 1, sizeof *cand), *rep = ecb_calloc(n + 1, sizeof *rep), nc = 0;
    by_n *seq = ecb_calloc(n + 1, sizeof *seq);
    ecb_partition lp = {0}, fp = {0};
    ecb_rfile out = {0};
    FILE *f = NULL;
    int rc = (!lkeys || !fam || !cand || !rep || !seq) ? ECB_ENOMEM : 0;
    /* key (label, mode, rescore) of each of the dataset's rows */
    for (size_t i = 0; !rc && i < n; i++) {
        size_t len = 3;
        for (int k = 0; k < 3; k++) len += strlen(ecb_table_at(t, rows[i], kc[k]));
        if (!(lkeys[i] = ecb_malloc(len))) { rc = ECB_ENOMEM; break; }
        snprintf(lkeys[i], len, "%s\x1f%s\x1f%s", ecb_table_at(t, rows[i], kc[0]), ecb_table_at(t, rows[i], kc[1]),
                 ecb_table_at(t, rows[i], kc[2]));
    }
    if (!rc) rc = ecb_partition_build((const char *const *)lkeys, n, &lp);
    /* representatives: rows at the largest size, the best per family */
    for (size_t i = 0; !rc && i < n; i++) {
        size_t r = rows[i];
        if (!ecb_rpt_row_ok(R, r) || ecb_rpt_variant(R, r) >= 2 || ECB_NUM(R, r, n_corpus) != nmax ||
            isnan(ecb_rpt_num(t, r, mc)))
            continue;
        char b[128];
        ecb_rpt_family(R, r, b, sizeof b);
        if (!(fam[nc] = ecb_strdup(b))) { rc = ECB_ENOMEM; break; }
        cand[nc++] = i;
    }
    if (!rc) rc = ecb_partition_build((const char *const *)fam, nc, &fp);
    for (size_t k = 0; !rc && k < fp.ngroups; k++) {
        size_t best = cand[fp.rows[fp.start[k]]];
        for (size_t j = fp.start[k]; j < fp.start[k + 1]; j++)
            if (ecb_rpt_num(t, rows[cand[fp.rows[j]]], mc) > ecb_rpt_num(t, rows[best], mc)) best = cand[fp.rows[j]];
        rep[k] = best;
    }
    char base[256], data[300], title[512];
    snprintf(base, sizeof base, "corpus_%s", g->slug);
    snprintf(data, sizeof data, "%s.dat", base);
    if (!rc) rc = open_data(P, &out, data);
    f = out.f;
    for (size_t k = 0; !rc && k < fp.ngroups; k++) {
        char nm[600];
        ecb_rpt_cell_name(R, rows[rep[k]], nm, sizeof nm);
        tsv_field(f, nm);
        fputc('\n', f);
        /* the same label/mode/rescore by growing size: the first row of each */
        size_t l = lp.of[rep[k]], m = 0;
        for (size_t j = lp.start[l]; j < lp.start[l + 1]; j++) {
            size_t r = rows[lp.rows[j]];
            if (ecb_rpt_row_ok(R, r) && !isnan(ecb_rpt_num(t, r, mc))) seq[m++] = (by_n){ECB_NUM(R, r, n_corpus), r};
        }
        qsort(seq, m, sizeof *seq, cmp_by_n);
        double last = -1;
        for (size_t j = 0; j < m; j++)
            if (seq[j].n > last) {
                last = seq[j].n;
                fprintf(f, "%.9g\t%.9g\n", last, ecb_rpt_num(t, seq[j].r, mc));
            }
        fprintf(f, "\n\n");
    }
    if (!rc) {
        snprintf(title, sizeof title, "%s: quality as the corpus grows (best setting per method)", g->dataset);
        const char *args[] = {data, title, "corpus size (documents; log scale)", g->metric};
        rc = plot(P, &out, "corpus.gp", base, args, 4);
    }
    ecb_rfile_discard(&out);
    ecb_partition_free(&lp);
    ecb_partition_free(&fp);
    ecb_keys_free(lkeys, n);
    ecb_keys_free(fam, nc);
    free(cand);
    free(rep);
    free(seq);
    return rc;
}

int ecb_report_plots(ecb_report *R)
{
    plotter P = {.R = R};
    int rc = ecb_strindex_init(&R->plot_ix, 16);
    if (rc) return rc;
    if (find_templates(R) != 0) {
        ecb_log(ECB_LOG_WARN, "%s; no figures", ecb_last_error());
        return 0;
    }
    if (!(P.dir = ecb_rpt_pathf("%s/plots", R->dir))) return ECB_ENOMEM;
    static const char *const gps[] = {"pareto.gp", "qps.gp", "budget.gp", "corpus.gp"};
    for (size_t i = 0; !rc && i < sizeof gps / sizeof *gps; i++) {
        char src[4300], dst[4300];
        snprintf(src, sizeof src, "%s/%s", R->templates, gps[i]);
        snprintf(dst, sizeof dst, "%s/%s", P.dir, gps[i]);
        if (file_exists(src)) rc = copy_file(src, dst);
    }
    char *gl = ecb_rpt_pathf("%s/gnuplot.log", P.dir);
    if (gl) remove(gl);
    free(gl);
    char *rs = ecb_rpt_pathf("%s/render.sh", P.dir);
    if (!rc) rc = rs ? ecb_rfile_open(&P.render, rs) : ECB_ENOMEM;
    if (!rc)
        fprintf(P.render.f, "#!/bin/sh\n# Re-render every figure of this report (run from anywhere).\n"
                            "# The data files (*.dat) were written by `ecbench report`; edit the .gp\n"
                            "# templates here to restyle.\nset -e\ncd \"$(dirname \"$0\")\"\n");
    for (size_t g = 0; !rc && g < R->ngroups; g++)
        if (R->groups[g].metric[0]) rc = plots_for_group(&P, &R->groups[g]);
    /* the corpus figure of each dataset, from all its rows */
    const ecb_table *t = R->t;
    const char **ds = ecb_calloc(t->nrows + 1, sizeof *ds);
    ecb_partition dp = {0};
    if (!rc && !ds) rc = ECB_ENOMEM;
    for (size_t r = 0; !rc && r < t->nrows; r++) ds[r] = ECB_AT(R, r, dataset);
    if (!rc) rc = ecb_partition_build(ds, t->nrows, &dp);
    for (size_t g = 0; !rc && g < R->ngroups; g++) {
        const ecb_rpt_group *gr = &R->groups[g];
        if (!gr->is_main || !gr->metric[0]) continue;
        size_t d = dp.of[gr->rows[0]];
        rc = corpus_plot(&P, gr, dp.rows + dp.start[d], dp.start[d + 1] - dp.start[d]);
    }
    ecb_partition_free(&dp);
    free(ds);
    if (!rc) rc = ecb_rfile_commit(&P.render);
    if (!rc && chmod(rs, 0755) != 0) rc = ecb_fail(ECB_EIO, "%s: chmod: %s", rs, strerror(errno));
    ecb_rfile_discard(&P.render);
    free(rs);
    free(P.dir);
    return rc;
}
