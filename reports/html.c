/*
 * report.html: one self-contained page (inline CSS, JavaScript and SVG; no
 * network) for comparing dozens of cells: a table per dataset and corpus
 * size, sortable by every column and filtered by method, mode and
 * rescoring; percentages of the baseline and significance marks; the Pareto
 * (quality vs compression ratio) and budget (quality vs bytes per vector)
 * figures drawn here as SVG (svg.c), whose points name their cell on hover;
 * a click on a row highlights its points and a click on a point its row.
 *
 * The script is small and hand-written. Opened as report.html#selftest
 * (&sort=COLUMN&dir=asc|desc&method=F&mode=M&rescore=R) it sorts and
 * filters the first table through the DOM, clicks a row and a point, and
 * writes what it saw into <pre id="selftest-out"> for the headless-browser
 * test (tests/e2e/report_html.sh).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "reports/model.h"

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1240px;"
    "padding:0 18px 40px;color:#222}\n"
    "h1{font-size:22px;margin:18px 0 6px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd}\n"
    "code{font:12.5px ui-monospace,Menlo,Consolas,monospace}\n"
    ".overview{color:#444;margin:4px 0}\n"
    "#filters{position:sticky;top:0;background:#f7f7f9;border:1px solid #e3e3e8;padding:8px 10px;"
    "margin:12px 0;z-index:2;display:flex;gap:14px;flex-wrap:wrap;align-items:center}\n"
    "#filters select{font:inherit;padding:2px 4px}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:10px}\n"
    "svg.fig{border:1px solid #e5e5e5;background:#fff;max-width:100%;height:auto}\n"
    "svg .area{fill:#fcfcfd}svg .grid{stroke:#e6e6e6}svg .tick{font-size:11px;fill:#555}\n"
    "svg .title{font-size:13px;font-weight:600}svg .label{font-size:12px;fill:#333}\n"
    "svg .front{fill:none;stroke:#333;stroke-width:1.6}\n"
    "svg .budget{stroke:#999;stroke-dasharray:5 4}svg .blabel{font-size:10.5px;fill:#777}\n"
    "svg .pt{cursor:pointer}svg .pt:hover circle,svg .pt:hover path{stroke-width:3}\n"
    "svg .pt .ring{fill:none;stroke:#000;stroke-width:1.3}\n"
    "svg .pt.off{display:none}svg .pt.hl circle,svg .pt.hl path{stroke:#000;stroke-width:3.5}\n"
    ".legend{font-size:12.5px;color:#444;margin:4px 0 10px}.legend span{margin-right:12px;white-space:nowrap}\n"
    ".sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}\n"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}\n"
    "th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}\n"
    "th:first-child,td:first-child,th.s,td.s{text-align:left}\n"
    "table.cells th{cursor:pointer;background:#f3f3f6;position:sticky;top:46px;user-select:none}\n"
    "th[data-dir=asc]::after{content:' \\25B2'}th[data-dir=desc]::after{content:' \\25BC'}\n"
    "tr.base td{background:#f6f9ff}tr.hl td{background:#fff3c4}tr[data-cell]{cursor:pointer}\n"
    ".pct{color:#777;font-size:12px}.sig{font-weight:700;margin-left:3px}.loss{color:#c62828}"
    ".gain{color:#2e7d32}\n";

static const char js[] =
    "(function(){'use strict';\n"
    "var byCell={},q=function(s,r){return Array.prototype.slice.call((r||document).querySelectorAll(s));};\n"
    "q('[data-cell]').forEach(function(e){(byCell[e.dataset.cell]=byCell[e.dataset.cell]||[]).push(e);});\n"
    "var sel={method:document.getElementById('f-method'),mode:document.getElementById('f-mode'),"
    "rescore:document.getElementById('f-rescore')};\n"
    "function num(td){var v=td.dataset.v;return v===''?NaN:+v;}\n"
    "function sortBy(th){var t=th.closest('table'),tb=t.tBodies[0],i=th.cellIndex,n=th.dataset.type==='n',"
    "d=th.dataset.dir==='asc'?'desc':'asc',s=d==='asc'?1:-1;\n"
    " q('th',t).forEach(function(h){delete h.dataset.dir;});th.dataset.dir=d;\n"
    " q('tr',tb).sort(function(a,b){var x=a.cells[i],y=b.cells[i];if(n){var p=num(x),r=num(y);"
    "if(isNaN(p)||isNaN(r))return isNaN(p)-isNaN(r);return (p-r)*s;}"
    "return x.dataset.v.localeCompare(y.dataset.v)*s;}).forEach(function(r){tb.appendChild(r);});}\n"
    "function filter(){var m=sel.method.value,o=sel.mode.value,r=sel.rescore.value;\n"
    " q('tr[data-cell]').forEach(function(tr){var show=(!m||tr.dataset.family===m)&&(!o||tr.dataset.mode===o)"
    "&&(!r||tr.dataset.rescore===r);tr.hidden=!show;\n"
    "  (byCell[tr.dataset.cell]||[]).forEach(function(e){if(e!==tr)e.classList.toggle('off',!show);});});}\n"
    "function highlight(id,toRow){q('.hl').forEach(function(e){e.classList.remove('hl');});\n"
    " (byCell[id]||[]).forEach(function(e){e.classList.add('hl');"
    "if(toRow&&e.tagName==='TR')e.scrollIntoView({block:'center'});});}\n"
    "Object.keys(sel).forEach(function(k){sel[k].addEventListener('change',filter);});\n"
    "document.addEventListener('click',function(ev){var th=ev.target.closest('th[data-type]');"
    "if(th){sortBy(th);return;}\n"
    " var e=ev.target.closest('[data-cell]');if(e)highlight(e.dataset.cell,e.tagName!=='TR');});\n"
    "function selftest(o){var t=document.querySelector('table.cells'),out=[];if(!t)return;\n"
    " var th=q('th',t).filter(function(h){return h.dataset.key===(o.sort||'');})[0]||t.tHead.rows[0].cells[0];\n"
    " sortBy(th);if(o.dir==='desc')sortBy(th);\n"
    " ['method','mode','rescore'].forEach(function(k){if(o[k]!==undefined)sel[k].value=o[k];});filter();\n"
    " var sec=t.closest('section'),vis=q('tr',t.tBodies[0]).filter(function(r){return !r.hidden;});\n"
    " out.push('sorted '+th.dataset.key+' '+th.dataset.dir);\n"
    " vis.forEach(function(r){out.push('cell '+r.dataset.cell+' '+r.dataset.family+' '+r.dataset.mode+' '"
    "+r.dataset.rescore+' '+r.cells[th.cellIndex].dataset.v);});\n"
    " out.push('points visible '+q('.pt:not(.off)',sec).length+' hidden '+q('.pt.off',sec).length);\n"
    " if(vis.length){vis[0].click();out.push('row click lights '+q('.pt.hl',sec).length+' points of '"
    "+vis[0].dataset.cell);}\n"
    " var p=q('.pt:not(.off)',sec).pop();if(p){p.dispatchEvent(new MouseEvent('click',{bubbles:true}));\n"
    "  var hr=q('tr.hl');out.push('point click lights row '+(hr.length===1&&hr[0].dataset.cell===p.dataset.cell?"
    "p.dataset.cell:'none'));}\n"
    " var pre=document.createElement('pre');pre.id='selftest-out';pre.textContent=out.join('\\n')+'\\nselftest done';"
    "document.body.appendChild(pre);}\n"
    "var h=location.hash.slice(1).split('&');if(h[0]==='selftest'){var o={};h.slice(1).forEach(function(kv){"
    "var i=kv.indexOf('=');o[decodeURIComponent(kv.slice(0,i))]=decodeURIComponent(kv.slice(i+1));});selftest(o);}\n"
    "})();\n";

typedef struct {
    ecb_report *R;
    FILE *f;
    char **fam;          /* family of every row */
    ecb_partition fp;    /* rows by family: colour = group index */
} page;

static void esc(FILE *f, const char *s) { ecb_html_escape(f, s); }

static void num_attr(FILE *f, double v)
{
    if (isnan(v)) fprintf(f, " data-v=\"\"");
    else fprintf(f, " data-v=\"%.10g\"", v);
}

/* <option>s of the distinct values of a row attribute (ok rows). */
static int options(page *P, FILE *f, const char *id, const char *what, int col, int family)
{
    ecb_report *R = P->R;
    const char **v = ecb_calloc(R->t->nrows + 1, sizeof *v);
    size_t n = 0;
    if (!v) return ECB_ENOMEM;
    for (size_t r = 0; r < R->t->nrows; r++)
        if (ecb_rpt_row_ok(R, r)) v[n++] = family ? P->fam[r] : ecb_table_at(R->t, r, col);
    ecb_partition p = {0};
    int rc = ecb_partition_build(v, n, &p);
    if (!rc) {
        fprintf(f, "<label>%s <select id=\"%s\"><option value=\"\">all</option>", what, id);
        for (size_t g = 0; g < p.ngroups; g++) {
            const char *s = v[p.rows[p.start[g]]];
            fprintf(f, "<option value=\"");
            esc(f, s);
            fprintf(f, "\">");
            esc(f, *s ? s : "(none)");
            fprintf(f, "</option>");
        }
        fprintf(f, "</select></label>\n");
        ecb_partition_free(&p);
    }
    free(v);
    return rc;
}

static void hover(const ecb_report *R, size_t r, const char *metric, int mc, ecb_buf *b)
{
    char a[64], c[64];
    ecb_rpt_fmt_num(ECB_NUM(R, r, total_bpv), a, sizeof a);
    ecb_rpt_fmt_num(ecb_rpt_cost(R, r, NULL), c, sizeof c);
    const char *params = ECB_AT(R, r, params);
    ecb_buf_printf(b, "%s\n%s scoring, rescore %s\nmethod %s%s%s\n%s B/vec (%s with aux and rescoring), %s x\n",
                   ECB_AT(R, r, label), ECB_AT(R, r, mode), *ECB_AT(R, r, rescore) ? ECB_AT(R, r, rescore) : "none",
                   ECB_AT(R, r, method), *params ? ", params " : "", params, a, c,
                   ECB_AT(R, r, ratio));
    double v = ecb_rpt_num(R->t, r, mc), bv = R->base[r] >= 0 ? ecb_rpt_num(R->t, (size_t)R->base[r], mc) : NAN;
    ecb_buf_printf(b, "%s %.4f", metric, v);
    if (bv > 0 && !isnan(v)) ecb_buf_printf(b, " (%.1f%% of baseline)", 100 * v / bv);
    const char *sig = ECB_AT(R, r, significant);
    if (*sig && strcmp(sig, "no")) ecb_buf_printf(b, ", significant %s", sig);
    ecb_buf_printf(b, "\ncell %s", ECB_AT(R, r, id));
}

/* The group's two figures: quality vs compression ratio (no rescoring) and
 * quality vs bytes per vector with the budgets. */
static int figures(page *P, const ecb_rpt_group *g)
{
    ecb_report *R = P->R;
    size_t n = g->n;
    double *x = ecb_calloc(n + 1, sizeof *x), *y = ecb_calloc(n + 1, sizeof *y);
    const char **cell = ecb_calloc(n + 1, sizeof *cell);
    char **hov = ecb_calloc(n + 1, sizeof *hov);
    int *fam = ecb_calloc(n + 1, sizeof *fam), *var = ecb_calloc(n + 1, sizeof *var);
    size_t *front = ecb_calloc(n + 1, sizeof *front);
    unsigned char *mark = ecb_calloc(n + 1, 1);
    double *lines = ecb_calloc(R->man.nbudgets + 1, sizeof *lines);
    const char **ll = ecb_calloc(R->man.nbudgets + 1, sizeof *ll);
    int rc = (!x || !y || !cell || !hov || !fam || !var || !front || !mark || !lines || !ll) ? ECB_ENOMEM : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t r = g->rows[i];
        ecb_buf b = {0};
        hover(R, r, g->metric, g->metric_col, &b);
        if (!(hov[i] = b.p ? b.p : ecb_strdup(""))) rc = ECB_ENOMEM;
        cell[i] = ECB_AT(R, r, id);
        fam[i] = (int)P->fp.of[r];
        var[i] = ecb_rpt_variant(R, r);
    }
    char title[400];
    ecb_svg_plot p = {.ylabel = g->metric, .logx = 1, .n = n, .x = x, .y = y, .cell = cell,
                      .hover = (const char *const *)hov, .family = fam, .variant = var, .front = front};
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            size_t r = g->rows[i];
            int use = ecb_rpt_row_ok(R, r) && var[i] < 2;
            x[i] = use ? ECB_NUM(R, r, ratio) : NAN;
            y[i] = use ? ecb_rpt_num(R->t, r, g->metric_col) : NAN;
        }
        p.nfront = ecb_pareto(x, y, n, 0, front);
        snprintf(title, sizeof title, "Quality vs compression (no rescoring); line: Pareto frontier");
        p.title = title;
        p.xlabel = "compression ratio vs float32 (log scale)";
        rc = ecb_svg_scatter(P->f, &p);
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            size_t r = g->rows[i];
            x[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_cost(R, r, NULL) : NAN;
            y[i] = ecb_rpt_row_ok(R, r) ? ecb_rpt_num(R->t, r, g->metric_col) : NAN;
        }
        p.nfront = ecb_pareto(x, y, n, 1, front);
        /* ring the best cell within each budget */
        for (size_t b = 0; b < R->man.nbudgets; b++) {
            long best, second;
            ecb_rpt_budget_pick(R, g, &R->man.budgets[b], &best, &second);
            for (size_t i = 0; best >= 0 && i < n; i++) mark[i] |= g->rows[i] == (size_t)best;
            lines[b] = R->man.budgets[b].per_vector;
            ll[b] = R->man.budgets[b].label;
        }
        p.mark = mark;
        p.lines = lines;
        p.line_labels = ll;
        p.nlines = R->man.nbudgets;
        p.title = R->man.nbudgets ? "Quality vs memory; dashed: budgets, ringed: best within one"
                                  : "Quality vs memory per vector; line: frontier";
        p.xlabel = "bytes per vector: codes + rescoring data + amortised aux (log scale)";
        rc = ecb_svg_scatter(P->f, &p);
    }
    ecb_keys_free(hov, n);
    free(x); free(y); free(cell); free(fam); free(var); free(front); free(mark); free(lines); free(ll);
    return rc;
}

static void legend(page *P, const ecb_rpt_group *g)
{
    FILE *f = P->f;
    unsigned char *seen = ecb_calloc(P->fp.ngroups + 1, 1);
    fprintf(f, "<div class=\"legend\">");
    for (size_t i = 0; seen && i < g->n; i++) {
        size_t k = P->fp.of[g->rows[i]];
        if (seen[k] || !ecb_rpt_row_ok(P->R, g->rows[i])) continue;
        seen[k] = 1;
        fprintf(f, "<span><i class=\"sw\" style=\"background:%s\"></i>", ecb_svg_palette[k % 10]);
        esc(f, P->fam[g->rows[i]]);
        fprintf(f, "</span>");
    }
    fprintf(f, "<span>&#9679; symmetric</span><span>&#9675; asymmetric</span><span>&#9670; rescored</span>"
               "<span>hover a point for its cell; click it or a row to link them</span></div>\n");
    free(seen);
}

static void table(page *P, const ecb_rpt_group *g)
{
    ecb_report *R = P->R;
    FILE *f = P->f;
    fprintf(f, "<table class=\"cells\"><thead><tr><th data-type=\"s\" data-key=\"label\">method</th>"
               "<th class=\"s\" data-type=\"s\" data-key=\"mode\">mode</th>"
               "<th class=\"s\" data-type=\"s\" data-key=\"rescore\">rescore</th>"
               "<th data-type=\"n\" data-key=\"total_bytes_per_vector\">B/vec</th>"
               "<th data-type=\"n\" data-key=\"cost\">B/vec all</th>"
               "<th data-type=\"n\" data-key=\"compression_ratio\">ratio</th>");
    for (size_t m = 0; m < R->nmetrics; m++) {
        fprintf(f, "<th data-type=\"n\" data-key=\"%s\">%s</th>", R->metrics[m].name, R->metrics[m].name);
    }
    fprintf(f, "<th data-type=\"n\" data-key=\"query_p50_ms\">p50 ms</th><th data-type=\"n\" data-key=\"qps\">QPS"
               "</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        if (!ecb_rpt_row_ok(R, r)) continue;
        const char *rs = ECB_AT(R, r, rescore);
        fprintf(f, "<tr%s", R->base[r] == (long)r ? " class=\"base\"" : "");
        /* (markup, text) pairs: the text escaped */
        const char *parts[] = {" data-cell=\"", ECB_AT(R, r, id), "\" data-family=\"", P->fam[r],
                               "\" data-mode=\"", ECB_AT(R, r, mode), "\" data-rescore=\"", rs,
                               "\"><td data-v=\"", ECB_AT(R, r, label), "\" title=\"", ECB_AT(R, r, method),
                               " ", ECB_AT(R, r, params), "\"><code>", ECB_AT(R, r, label),
                               "</code></td><td class=\"s\" data-v=\"", ECB_AT(R, r, mode), "\">",
                               ECB_AT(R, r, mode), "</td><td class=\"s\" data-v=\"", rs, "\">",
                               *rs ? rs : "none"};
        for (size_t k = 0; k < sizeof parts / sizeof *parts; k += 2) {
            fputs(parts[k], f);
            esc(f, parts[k + 1]);
        }
        fputs("</td>", f);
        const double nums[] = {ECB_NUM(R, r, total_bpv), ecb_rpt_cost(R, r, NULL), ECB_NUM(R, r, ratio)};
        for (int k = 0; k < 3; k++) {
            char a[64];
            ecb_rpt_fmt_num(nums[k], a, sizeof a);
            fprintf(f, "<td");
            num_attr(f, nums[k]);
            fprintf(f, ">%s%s</td>", a, k == 2 && !isnan(nums[k]) ? "&times;" : "");
        }
        for (size_t m = 0; m < R->nmetrics; m++) {
            double v, pct;
            int mark;
            ecb_rpt_metric_cell(R, r, &R->metrics[m], &v, &pct, &mark);
            fprintf(f, "<td");
            num_attr(f, v);
            if (isnan(v)) { fprintf(f, ">&ndash;</td>"); continue; }
            fprintf(f, ">%.4f", v);
            if (!isnan(pct)) fprintf(f, " <span class=\"pct\">(%.1f%%)</span>", pct);
            if (mark)
                fprintf(f, "<span class=\"sig %s\" title=\"significant %s against the baseline (Holm-adjusted "
                           "p &lt; %g)\">%s</span>", mark < 0 ? "loss" : "gain", mark < 0 ? "loss" : "gain",
                        R->alpha, mark < 0 ? "&#9660;" : "&#9650;");
            fprintf(f, "</td>");
        }
        const double t2[] = {ECB_NUM(R, r, p50), ECB_NUM(R, r, qps)};
        for (int k = 0; k < 2; k++) {
            char a[64];
            ecb_rpt_fmt_num(t2[k], a, sizeof a);
            fprintf(f, "<td");
            num_attr(f, t2[k]);
            fprintf(f, ">%s</td>", a);
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody></table>\n");
}

static int group_section(page *P, const ecb_rpt_group *g)
{
    ecb_report *R = P->R;
    FILE *f = P->f;
    size_t r0 = g->rows[0];
    fprintf(f, "<section id=\"g-");
    esc(f, g->slug);
    fprintf(f, "\"><h2>");
    esc(f, g->dataset);
    if (!g->is_main) fprintf(f, " at %.0f documents", g->n_corpus);
    fprintf(f, "</h2>\n<p class=\"overview\">%.0f documents, ", g->n_corpus);
    esc(f, ECB_AT(R, r0, n_queries));
    fprintf(f, " queries, dimension ");
    esc(f, ECB_AT(R, r0, dim));
    fprintf(f, "; figures ranked by <code>%s</code>.</p>\n", g->metric[0] ? g->metric : "(no quality metric)");
    int rc = 0;
    if (g->metric[0]) {
        fprintf(f, "<div class=\"figs\">\n");
        rc = figures(P, g);
        fprintf(f, "</div>\n");
        legend(P, g);
    }
    table(P, g);
    fprintf(f, "</section>\n");
    return rc;
}

static void failed_cells(page *P)
{
    ecb_report *R = P->R;
    FILE *f = P->f;
    size_t n = 0;
    for (size_t r = 0; r < R->t->nrows; r++) n += !ecb_rpt_row_ok(R, r);
    if (!n) return;
    fprintf(f, "<section><h2>Skipped and failed cells (%zu)</h2><table><thead><tr><th>dataset</th>"
               "<th class=\"s\">method</th><th class=\"s\">mode</th><th class=\"s\">status</th>"
               "<th class=\"s\">reason</th></tr></thead><tbody>\n", n);
    for (size_t r = 0; r < R->t->nrows; r++) {
        if (ecb_rpt_row_ok(R, r)) continue;
        static const char *const cols[] = {"dataset", "label", "mode", "status", "error"};
        fprintf(f, "<tr>");
        for (int k = 0; k < 5; k++) {
            fprintf(f, "<td class=\"s\">");
            esc(f, ecb_table_at(R->t, r, ecb_table_col(R->t, cols[k])));
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody></table></section>\n");
}

static void environment(page *P)
{
    const cJSON *env = P->R->man.environment;
    if (!env) return;
    FILE *f = P->f;
    fprintf(f, "<section><h2>Environment</h2><table><tbody>\n");
    for (const cJSON *it = env->child; it; it = it->next) {
        fprintf(f, "<tr><td class=\"s\">");
        esc(f, it->string);
        fprintf(f, "</td><td class=\"s\">");
        if (cJSON_IsString(it)) esc(f, it->valuestring);
        else {
            char *s = cJSON_PrintUnformatted(it);
            esc(f, s ? s : "");
            cJSON_free(s);
        }
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</tbody></table></section>\n");
}

static void header(page *P)
{
    ecb_report *R = P->R;
    FILE *f = P->f;
    const char *name = R->man.name ? R->man.name : R->dir;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>ecbench report: ");
    esc(f, name);
    fprintf(f, "</title>\n<style>\n%s</style></head>\n<body>\n<h1>ecbench report: ", css);
    esc(f, name);
    size_t ok = 0;
    for (size_t r = 0; r < R->t->nrows; r++) ok += ecb_rpt_row_ok(R, r);
    fprintf(f, "</h1>\n<p class=\"overview\">%zu cells (%zu ok), rebuilt from <code>results.csv</code> by "
               "<code>ecbench report</code>. Percentages are of the baseline <code>",
            R->t->nrows, ok);
    esc(f, R->man.baseline_label ? R->man.baseline_label : R->man.baseline_method);
    fprintf(f, "</code> (same dataset, corpus size and mode, no rescoring). <span class=\"sig loss\">&#9660;"
               "</span> significant loss, <span class=\"sig gain\">&#9650;</span> significant gain: paired "
               "randomization test on per-query scores, Holm-corrected, &alpha; = %g. Click a column to sort.</p>\n",
            R->alpha);
}

int ecb_report_html(ecb_report *R)
{
    page P = {.R = R};
    const ecb_table *t = R->t;
    char *path = ecb_rpt_pathf("%s/report.html", R->dir);
    ecb_rfile rf = {0};
    int rc = path ? ecb_rfile_open(&rf, path) : ECB_ENOMEM;
    free(path);
    P.f = rf.f;
    if (!rc && !(P.fam = ecb_calloc(t->nrows + 1, sizeof *P.fam))) rc = ECB_ENOMEM;
    for (size_t r = 0; !rc && r < t->nrows; r++) {
        char b[128];
        ecb_rpt_family(R, r, b, sizeof b);
        if (!(P.fam[r] = ecb_strdup(b))) rc = ECB_ENOMEM;
    }
    if (!rc) rc = ecb_partition_build((const char *const *)P.fam, t->nrows, &P.fp);
    if (!rc) {
        header(&P);
        fprintf(P.f, "<div id=\"filters\"><b>Filter</b>\n");
        rc = options(&P, P.f, "f-method", "method", -1, 1);
    }
    if (!rc) rc = options(&P, P.f, "f-mode", "mode", R->c.mode, 0);
    if (!rc) rc = options(&P, P.f, "f-rescore", "rescoring", R->c.rescore, 0);
    if (!rc) fprintf(P.f, "</div>\n");
    for (size_t g = 0; !rc && g < R->ngroups; g++) rc = group_section(&P, &R->groups[g]);
    if (!rc) {
        failed_cells(&P);
        environment(&P);
        fprintf(P.f, "<script>\n%s</script>\n</body></html>\n", js);
        rc = ecb_rfile_commit(&rf);
    }
    ecb_rfile_discard(&rf);
    ecb_partition_free(&P.fp);
    ecb_keys_free(P.fam, t->nrows);
    return rc;
}
