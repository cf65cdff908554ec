/*
 * The report's text: report.md (overview, a table per dataset and corpus
 * size, figures, memory budgets, failed cells, environment) and the same
 * tables as LaTeX (booktabs) under tables/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "reports/model.h"

void ecb_md_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
}

/* Text for a .tex file: every LaTeX special escaped, and a newline (or any
 * control character) becomes a space, so a name can neither end a comment
 * line early nor start a paragraph. */
void ecb_tex_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '_': case '%': case '&': case '#': case '$': case '{': case '}':
            fputc('\\', f); fputc(ch, f); break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '\\': fputs("\\textbackslash{}", f); break;
        case '>': fputs("\\textgreater{}", f); break;
        case '<': fputs("\\textless{}", f); break;
        case '|': fputs("\\textbar{}", f); break;
        default: fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
        }
    }
}

/* A number for LaTeX: "--" where Markdown shows an en dash. */
static void tex_num(double v, char *buf, size_t n)
{
    if (isnan(v)) snprintf(buf, n, "--");
    else ecb_rpt_fmt_num(v, buf, n);
}

static const char *mode_short(const ecb_report *R, size_t r)
{
    return strcmp(ECB_AT(R, r, mode), "asymmetric") == 0 ? "asym" : "sym";
}

static int rescored(const ecb_report *R, size_t r)
{
    const char *rs = ECB_AT(R, r, rescore);
    return *rs && strcmp(rs, "none") != 0;
}

/* ---- per-group tables ------------------------------------------------------------ */

static void group_table_md(const ecb_report *R, FILE *f, const ecb_rpt_group *g)
{
    fprintf(f, "| method | mode | rescore | B/vec | ratio |");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, " %s |", R->metrics[m].name);
    fprintf(f, " p50 ms | QPS |\n|---|---|---|---:|---:|");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, "---:|");
    fprintf(f, "---:|---:|\n");
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        if (!ecb_rpt_row_ok(R, r)) continue;
        char a[64], b[64];
        fprintf(f, "| `");
        ecb_md_escape(f, ECB_AT(R, r, label));
        fprintf(f, "` | %s | ", ECB_AT(R, r, mode));
        ecb_md_escape(f, ECB_AT(R, r, rescore));
        ecb_rpt_fmt_num(ECB_NUM(R, r, total_bpv), a, sizeof a);
        ecb_rpt_fmt_num(ECB_NUM(R, r, ratio), b, sizeof b);
        fprintf(f, " | %s | %s× |", a, b);
        for (size_t m = 0; m < R->nmetrics; m++) {
            double v, pct;
            int mark;
            ecb_rpt_metric_cell(R, r, &R->metrics[m], &v, &pct, &mark);
            if (isnan(v)) { fprintf(f, " – |"); continue; }
            fprintf(f, " %.4f", v);
            if (!isnan(pct)) fprintf(f, " (%.1f%%)", pct);
            fprintf(f, "%s |", mark < 0 ? " ▼" : mark > 0 ? " ▲" : "");
        }
        ecb_rpt_fmt_num(ECB_NUM(R, r, p50), a, sizeof a);
        ecb_rpt_fmt_num(ECB_NUM(R, r, qps), b, sizeof b);
        fprintf(f, " %s | %s |\n", a, b);
    }
}

static int group_table_tex(const ecb_report *R, const ecb_rpt_group *g)
{
    char *p = ecb_rpt_pathf("%s/tables/%s.tex", R->dir, g->slug);
    ecb_rfile rf;
    int rc = p ? ecb_rfile_open(&rf, p) : ECB_ENOMEM;
    free(p);
    if (rc) return rc;
    FILE *f = rf.f;
    fprintf(f, "%% ecbench report: ");
    ecb_tex_escape(f, g->dataset);
    fprintf(f, ", generated from results_stats.csv; needs \\usepackage{booktabs}\n");
    fprintf(f, "%% $\\downarrow$/$\\uparrow$: significant loss/gain vs the baseline "
            "(paired randomization test, Holm-corrected, alpha=%g)\n", R->alpha);
    fprintf(f, "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{lllrr");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, "r");
    fprintf(f, "}\n\\toprule\nMethod & Mode & Rescore & B/vec & Ratio");
    for (size_t m = 0; m < R->nmetrics; m++) {
        fprintf(f, " & ");
        ecb_tex_escape(f, R->metrics[m].name);
    }
    fprintf(f, " \\\\\n\\midrule\n");
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        if (!ecb_rpt_row_ok(R, r)) continue;
        char a[64], b[64];
        fprintf(f, "\\texttt{");
        ecb_tex_escape(f, ECB_AT(R, r, label));
        fprintf(f, "} & %s & ", mode_short(R, r));
        ecb_tex_escape(f, ECB_AT(R, r, rescore));
        tex_num(ECB_NUM(R, r, total_bpv), a, sizeof a);
        tex_num(ECB_NUM(R, r, ratio), b, sizeof b);
        fprintf(f, " & %s & %s$\\times$", a, b);
        for (size_t m = 0; m < R->nmetrics; m++) {
            double v, pct;
            int mark;
            ecb_rpt_metric_cell(R, r, &R->metrics[m], &v, &pct, &mark);
            if (isnan(v)) { fprintf(f, " & --"); continue; }
            fprintf(f, " & %.4f", v);
            if (!isnan(pct)) fprintf(f, " (%.1f\\%%)", pct);
            if (mark) fprintf(f, "$^{%s}$", mark < 0 ? "\\downarrow" : "\\uparrow");
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n\\caption{");
    ecb_tex_escape(f, g->dataset);
    fprintf(f, " (%.0f documents): quality in absolute terms and as \\%% of the baseline.}\n", g->n_corpus);
    fprintf(f, "\\label{tab:ecbench-%s}\n\\end{table}\n", g->slug);
    return ecb_rfile_commit(&rf);
}

/* Best and runner-up under each budget, for one group; writes Markdown and
 * appends to the LaTeX budgets table. */
static void budgets_md_tex(const ecb_report *R, FILE *md, FILE *tex, const ecb_rpt_group *g)
{
    int mc = g->metric_col;
    fprintf(md, "\n### ");
    ecb_md_escape(md, g->dataset);
    fprintf(md, " (%.0f documents, ranked by %s)\n\n", g->n_corpus, g->metric);
    fprintf(md, "| budget | best | %s | B/vec | runner-up | %s | B/vec |\n|---|---|---:|---:|---|---:|---:|\n",
            g->metric, g->metric);
    for (size_t b = 0; b < R->man.nbudgets; b++) {
        const ecb_budget *bu = &R->man.budgets[b];
        long pick[2];
        ecb_rpt_budget_pick(R, g, bu, &pick[0], &pick[1]);
        fprintf(md, "| %s | ", bu->label);
        if (tex) {
            ecb_tex_escape(tex, g->dataset);
            fprintf(tex, " & ");
            ecb_tex_escape(tex, bu->label);
        }
        for (int k = 0; k < 2; k++) {
            if (pick[k] < 0) {
                fprintf(md, "%s | – | – |", k ? " –" : "nothing fits");
                if (tex) fprintf(tex, " & -- & -- & --");
                continue;
            }
            size_t r = (size_t)pick[k];
            char a[64];
            ecb_rpt_fmt_num(ecb_rpt_cost(R, r, bu), a, sizeof a);
            fprintf(md, "%s`", k ? " " : "");
            ecb_md_escape(md, ECB_AT(R, r, label));
            fprintf(md, "` %s%s%s | %.4f | %s |", mode_short(R, r), rescored(R, r) ? " +" : "",
                    strcmp(ECB_AT(R, r, rescore), "none") ? ECB_AT(R, r, rescore) : "",
                    ecb_rpt_num(R->t, r, mc), a);
            if (tex) {
                char nm[600], ta[64];
                ecb_rpt_cell_name(R, r, nm, sizeof nm);
                tex_num(ecb_rpt_cost(R, r, bu), ta, sizeof ta);
                fprintf(tex, " & \\texttt{");
                ecb_tex_escape(tex, nm);
                fprintf(tex, "} & %.4f & %s", ecb_rpt_num(R->t, r, mc), ta);
            }
        }
        fputc('\n', md);
        if (tex) fprintf(tex, " \\\\\n");
    }
    /* the quality-vs-bytes frontier */
    double *x = ecb_calloc(g->n + 1, sizeof *x), *y = ecb_calloc(g->n + 1, sizeof *y);
    size_t *front = ecb_calloc(g->n + 1, sizeof *front);
    if (!x || !y || !front) { free(x); free(y); free(front); return; }
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_cost(R, r, NULL) : NAN;
        y[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_num(R->t, r, mc) : NAN;
    }
    size_t nf = ecb_pareto(x, y, g->n, 1, front);
    fprintf(md, "\nQuality-vs-bytes frontier (no cell is both smaller and better than these):\n\n"
                "| B/vec | %s | cell |\n|---:|---:|---|\n", g->metric);
    for (size_t i = 0; i < nf; i++) {
        size_t r = g->rows[front[i]];
        char a[64];
        ecb_rpt_fmt_num(x[front[i]], a, sizeof a);
        fprintf(md, "| %s | %.4f | `", a, y[front[i]]);
        ecb_md_escape(md, ECB_AT(R, r, label));
        fprintf(md, "` %s%s%s |\n", mode_short(R, r), rescored(R, r) ? " +" : "",
                strcmp(ECB_AT(R, r, rescore), "none") ? ECB_AT(R, r, rescore) : "");
    }
    free(x); free(y); free(front);
}

static void json_brief(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(buf, n, "%.10g", v->valuedouble);
    else if (cJSON_IsBool(v)) snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(buf, n, "%s", s ? s : "");
        if (s && strlen(s) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
        cJSON_free(s);
    }
}

int ecb_report_tables(ecb_report *R)
{
    int rc = 0;
    for (size_t g = 0; !rc && g < R->ngroups; g++) rc = group_table_tex(R, &R->groups[g]);
    return rc;
}

/* ---- report.md ---------------------------------------------------------------------- */

static void overview(const ecb_report *R, FILE *md, size_t nok, size_t nskip, size_t nerr)
{
    fprintf(md, "# ecbench report: %s\n\n", R->man.name ? R->man.name : R->dir);
    fprintf(md, "## Overview\n\n");
    fprintf(md, "- **Cells**: %zu (%zu ok, %zu skipped, %zu failed), rebuilt from `results.csv`, "
                "`per_query.csv` and `manifest.json` by `ecbench report`.\n", R->t->nrows, nok, nskip, nerr);
    if (R->man.config_path) fprintf(md, "- **Config**: `%s`\n", R->man.config_path);
    if (R->man.started)
        fprintf(md, "- **Run**: %s → %s\n", R->man.started, R->man.finished ? R->man.finished : "?");
    fprintf(md, "- **Datasets**:");
    int first_ds = 1;
    for (size_t g = 0; g < R->ngroups; g++)
        if (R->groups[g].is_main) {
            size_t r0 = R->groups[g].rows[0];
            fprintf(md, "%s ", first_ds ? "" : ";");
            ecb_md_escape(md, R->groups[g].dataset);
            fprintf(md, " (%.0f docs, %s queries, dim %s%s)", R->groups[g].n_corpus, ECB_AT(R, r0, n_queries),
                    ECB_AT(R, r0, dim), strncmp(R->groups[g].metric, "knn_", 4) == 0 ? ", no qrels" : "");
            first_ds = 0;
        }
    fprintf(md, "\n");
    fprintf(md, "- **Baseline**: `%s` on the same dataset, corpus size and mode, without rescoring. "
                "Percentages are of the baseline.\n",
            R->man.baseline_label ? R->man.baseline_label : R->man.baseline_method);
    fprintf(md, "- **Significance**: ▼ significant loss, ▲ significant gain against the baseline: "
                "paired sign-flip randomization test on per-query scores (10,000 permutations, seeded), "
                "Holm-corrected across the cells of the sweep, α = %g. `results_stats.csv` adds, per "
                "metric, the mean difference (`delta_`), its bootstrap 95%% CI (`ci_lo_`, `ci_hi_`), "
                "the Holm-adjusted randomization p (`p_`) and paired t-test p (`p_t_`).\n", R->alpha);
    fprintf(md, "- **Ranking metric** (budgets, plots): `%s` (config `budget_metric`); datasets without "
                "qrels fall back to `knn_recall`.\n", R->man.budget_metric);
}

static void group_section(const ecb_report *R, FILE *md, const ecb_rpt_group *gr)
{
    size_t r0 = gr->rows[0];
    fprintf(md, gr->is_main ? "\n## " : "\n### ");
    ecb_md_escape(md, gr->dataset);
    if (gr->is_main) fprintf(md, "\n\n");
    else fprintf(md, " at %.0f documents\n\n", gr->n_corpus);
    fprintf(md, "%.0f documents, %s queries, dimension %s. Table: `tables/%s.tex`.\n\n", gr->n_corpus,
            ECB_AT(R, r0, n_queries), ECB_AT(R, r0, dim), gr->slug);
    group_table_md(R, md, gr);
    static const struct { const char *pre, *what; } figs[] = {
        {"pareto_", "Quality vs compression ratio; the line is the Pareto frontier (no cell compresses "
                    "more at equal or better quality)."},
        {"bytes_", "Quality vs bytes per vector; dashed lines mark the budgets."},
        {"qps_", "Batch throughput vs quality."},
        {"budget_", "Best and runner-up cell within each memory budget."},
        {"corpus_", "Quality as the corpus grows (nested subsets keeping every judged document)."}};
    for (size_t k = 0; k < sizeof figs / sizeof *figs; k++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", figs[k].pre, gr->slug);
        if (ecb_rpt_has_plot(R, name))
            fprintf(md, "\n![%s](plots/%s.png)\n\n%s ([SVG](plots/%s.svg))\n", name, name, figs[k].what, name);
    }
    if (gr->is_main && gr->nsizes < 2)
        fprintf(md, "\n_No quality-vs-corpus-size figure: the dataset was run at one corpus size "
                    "(add `\"corpus_sizes\": [...]` to it in the config)._\n");
}

static int budgets_section(const ecb_report *R, FILE *md)
{
    if (!R->man.nbudgets) {
        fprintf(md, "\n## Memory budgets\n\n_No budgets in the config (add e.g. `\"budgets\": [\"32B\", \"64B\", "
                    "{\"total\": \"2GiB\", \"corpus_size\": 30000000}]`)._\n");
        return 0;
    }
    fprintf(md, "\n## Memory budgets\n\nA cell fits a budget when its bytes per vector — codes, plus "
                "the rescoring representation, plus auxiliary data (codebooks, rotations) amortised "
                "over the budget's corpus size (or the evaluated corpus for a per-vector budget) — "
                "are at most the budget. Table: `tables/budgets.tex`.\n");
    char *btp = ecb_rpt_pathf("%s/tables/budgets.tex", R->dir);
    ecb_rfile rf;
    int rc = btp ? ecb_rfile_open(&rf, btp) : ECB_ENOMEM;
    free(btp);
    if (rc) return rc;
    fprintf(rf.f, "%% ecbench report: best cell per memory budget; needs \\usepackage{booktabs}\n"
                  "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{lllrrlrr}\n\\toprule\n"
                  "Dataset & Budget & Best & Quality & B/vec & Runner-up & Quality & B/vec \\\\\n"
                  "\\midrule\n");
    for (size_t g = 0; g < R->ngroups; g++)
        if (R->groups[g].is_main && R->groups[g].metric[0]) budgets_md_tex(R, md, rf.f, &R->groups[g]);
    fprintf(rf.f, "\\bottomrule\n\\end{tabular}\n\\caption{Best cell per memory budget.}\n"
                  "\\label{tab:ecbench-budgets}\n\\end{table}\n");
    return ecb_rfile_commit(&rf);
}

int ecb_report_markdown(ecb_report *R)
{
    const ecb_table *t = R->t;
    char *mdp = ecb_rpt_pathf("%s/report.md", R->dir);
    ecb_rfile rf;
    int rc = mdp ? ecb_rfile_open(&rf, mdp) : ECB_ENOMEM;
    free(mdp);
    if (rc) return rc;
    FILE *md = rf.f;
    size_t nok = 0, nskip = 0, nerr = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *s = ECB_AT(R, r, status);
        if (!*s || strcmp(s, "ok") == 0) nok++;
        else if (strcmp(s, "skipped") == 0) nskip++;
        else nerr++;
    }
    overview(R, md, nok, nskip, nerr);
    for (size_t g = 0; g < R->ngroups; g++) group_section(R, md, &R->groups[g]);
    if ((rc = budgets_section(R, md))) {
        ecb_rfile_discard(&rf);
        return rc;
    }
    if (nskip + nerr) {
        fprintf(md, "\n## Skipped and failed cells\n\n| dataset | method | mode | status | reason |\n|---|---|---|---|---|\n");
        for (size_t r = 0; r < t->nrows; r++) {
            if (ecb_rpt_row_ok(R, r)) continue;
            fprintf(md, "| ");
            ecb_md_escape(md, ECB_AT(R, r, dataset));
            fprintf(md, " | `");
            ecb_md_escape(md, ECB_AT(R, r, label));
            fprintf(md, "` | %s | %s | ", ECB_AT(R, r, mode), ECB_AT(R, r, status));
            ecb_md_escape(md, ECB_AT(R, r, error));
            fprintf(md, " |\n");
        }
    }
    /* what each dataset's manifest says about itself ("meta": model, revision...) */
    const cJSON *dsl = R->man.json ? cJSON_GetObjectItemCaseSensitive(R->man.json, "datasets") : NULL;
    int any_meta = 0;
    for (const cJSON *d = cJSON_IsArray(dsl) ? dsl->child : NULL; d; d = d->next) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(d, "meta");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "name");
        if (!cJSON_IsObject(meta) || !cJSON_IsString(name)) continue;
        if (!any_meta++) fprintf(md, "\n## Datasets\n\n| dataset | key | value |\n|---|---|---|\n");
        for (const cJSON *it = meta->child; it; it = it->next) {
            char val[400];
            json_brief(it, val, sizeof val);
            fprintf(md, "| ");
            ecb_md_escape(md, name->valuestring);
            fprintf(md, " | ");
            ecb_md_escape(md, it->string ? it->string : "");
            fprintf(md, " | ");
            ecb_md_escape(md, val);
            fprintf(md, " |\n");
        }
    }
    fprintf(md, "\n## Environment\n\n");
    if (R->man.environment) {
        fprintf(md, "| key | value |\n|---|---|\n");
        for (const cJSON *it = R->man.environment->child; it; it = it->next) {
            char val[400];
            json_brief(it, val, sizeof val);
            fprintf(md, "| %s | ", it->string);
            ecb_md_escape(md, val);
            fprintf(md, " |\n");
        }
    } else {
        fprintf(md, "_manifest.json has no environment record._\n");
    }
    fprintf(md, "\n## Files\n\n- `results.csv`, `per_query.csv`: the measurements; `results_stats.csv`: "
                "the same rows with the statistics columns.\n- `tables/*.tex`: booktabs tables.\n"
                "- `plots/`: PNG and SVG figures, their data (`*.dat`), the gnuplot templates (`*.gp`) and "
                "`render.sh`, which re-renders every figure.\n");
    if (R->gnuplot_missing)
        fprintf(md, "\n_gnuplot was not found: figures were not rendered (install `gnuplot-nox`, then run "
                    "`plots/render.sh`)._\n");
    return ecb_rfile_commit(&rf);
}
