/*
 * Inline SVG scatter plots for report.html: quality against a size on a
 * log2 axis, one colour per method family, filled points symmetric and
 * hollow asymmetric scoring, diamonds rescored, the frontier as a line and
 * optional dashed vertical lines (budgets). Each point carries its cell id
 * (data-cell, for the page's row <-> point links) and a <title> naming the
 * cell and its parameters, which browsers show on hover.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/ecb.h"
#include "reports/model.h"

#define W 560.0
#define H 380.0
#define ML 62.0  /* margins: left, right, top, bottom */
#define MR 18.0
#define MT 34.0
#define MB 50.0

const char *const ecb_svg_palette[10] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

void ecb_html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(c < 0x20 && c != '\n' && c != '\t' ? ' ' : c, f);
        }
    }
}

/* A "nice" step (1, 2 or 5 x 10^k) giving about n intervals over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct {
    double x0, x1, y0, y1; /* data range (x in log2 when logx) */
    int logx;
} frame;

static double px(const frame *fr, double x)
{
    double v = fr->logx ? log2(x) : x;
    return ML + (v - fr->x0) / (fr->x1 - fr->x0) * (W - ML - MR);
}
static double py(const frame *fr, double y) { return H - MB - (y - fr->y0) / (fr->y1 - fr->y0) * (H - MT - MB); }

static void axes(FILE *f, const frame *fr, const ecb_svg_plot *p)
{
    fprintf(f, "<rect class=\"area\" x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\"/>\n", ML, MT, W - ML - MR,
            H - MT - MB);
    /* y: nice linear ticks */
    double st = nice_step(fr->y1 - fr->y0, 5);
    for (double v = ceil(fr->y0 / st) * st; v <= fr->y1 + st * 1e-9; v += st) {
        double y = py(fr, v);
        fprintf(f, "<line class=\"grid\" x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                ML, W - MR, y, y, ML - 6, y + 4, fabs(v) < st * 1e-6 ? 0 : v);
    }
    /* x: powers of two (log) or nice linear ticks */
    double xs = fr->logx ? fmax(1, ceil((fr->x1 - fr->x0) / 8)) : nice_step(fr->x1 - fr->x0, 6);
    for (double v = ceil(fr->x0 / xs) * xs; v <= fr->x1 + xs * 1e-9; v += xs) {
        double x = ML + (v - fr->x0) / (fr->x1 - fr->x0) * (W - ML - MR);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%g\" y2=\"%g\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n",
                x, x, MT, H - MB, x, H - MB + 16, fr->logx ? exp2(v) : v);
    }
    fprintf(f, "<text class=\"title\" x=\"%g\" y=\"20\">", ML);
    ecb_html_escape(f, p->title);
    fprintf(f, "</text>\n<text class=\"label\" x=\"%g\" y=\"%g\" text-anchor=\"middle\">", (ML + W - MR) / 2,
            H - 12);
    ecb_html_escape(f, p->xlabel);
    fprintf(f, "</text>\n<text class=\"label\" transform=\"translate(16 %g) rotate(-90)\" "
               "text-anchor=\"middle\">", (MT + H - MB) / 2);
    ecb_html_escape(f, p->ylabel);
    fprintf(f, "</text>\n");
}

/* One point: circle (symmetric filled, asymmetric hollow) or a diamond
 * when rescored; family colour; the cell's id and a hover title. */
static void point(FILE *f, const ecb_svg_plot *p, size_t i, double x, double y)
{
    const char *col = ecb_svg_palette[p->family[i] % 10];
    int v = p->variant[i];
    fprintf(f, "<g class=\"pt%s\" data-cell=\"", p->mark && p->mark[i] ? " best" : "");
    ecb_html_escape(f, p->cell[i]);
    fprintf(f, "\">");
    if (p->mark && p->mark[i]) fprintf(f, "<circle class=\"ring\" cx=\"%.1f\" cy=\"%.1f\" r=\"10\"/>", x, y);
    const char *fill = v & 1 ? "#fff" : col;
    if (v & 2)
        fprintf(f, "<path d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"%s\" stroke=\"%s\"/>", x, y - 6, fill, col);
    else
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\" stroke=\"%s\"/>", x, y, fill, col);
    fprintf(f, "<title>");
    ecb_html_escape(f, p->hover[i]);
    fprintf(f, "</title></g>\n");
}

int ecb_svg_scatter(FILE *f, const ecb_svg_plot *p)
{
    frame fr = {INFINITY, -INFINITY, INFINITY, -INFINITY, p->logx};
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        double x = p->x[i], y = p->y[i];
        if (!isfinite(x) || !isfinite(y) || (p->logx && !(x > 0))) continue;
        double lx = p->logx ? log2(x) : x;
        fr.x0 = fmin(fr.x0, lx);
        fr.x1 = fmax(fr.x1, lx);
        fr.y0 = fmin(fr.y0, y);
        fr.y1 = fmax(fr.y1, y);
        n++;
    }
    if (!n) return 0;
    for (size_t b = 0; b < p->nlines; b++)
        if (p->lines[b] > 0 && isfinite(p->lines[b])) {
            double lx = p->logx ? log2(p->lines[b]) : p->lines[b];
            fr.x0 = fmin(fr.x0, lx);
            fr.x1 = fmax(fr.x1, lx);
        }
    /* room around the points; a single value still gets an axis */
    double dx = fr.x1 - fr.x0, dy = fr.y1 - fr.y0;
    if (dx <= 0) dx = p->logx ? 2 : fmax(fabs(fr.x0), 1);
    if (dy <= 0) dy = fmax(fabs(fr.y0) * 0.1, 0.01);
    fr.x0 -= dx * 0.06;
    fr.x1 += dx * 0.06;
    fr.y0 -= dy * 0.08;
    fr.y1 += dy * 0.12;
    fprintf(f, "<svg class=\"fig\" viewBox=\"0 0 %g %g\" width=\"%g\" height=\"%g\" role=\"img\" aria-label=\"", W,
            H, W, H);
    ecb_html_escape(f, p->title);
    fprintf(f, "\" xmlns=\"http://www.w3.org/2000/svg\">\n");
    axes(f, &fr, p);
    for (size_t b = 0; b < p->nlines; b++) {
        if (!(p->lines[b] > 0) || !isfinite(p->lines[b])) continue;
        double x = px(&fr, p->lines[b]);
        fprintf(f, "<line class=\"budget\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%g\" y2=\"%g\"/>"
                   "<text class=\"blabel\" x=\"%.1f\" y=\"%g\">", x, x, MT, H - MB, x + 3, MT + 12 + 12.0 * (b % 3));
        ecb_html_escape(f, p->line_labels[b]);
        fprintf(f, "</text>\n");
    }
    if (p->nfront > 1) {
        fprintf(f, "<polyline class=\"front\" points=\"");
        for (size_t k = 0; k < p->nfront; k++)
            fprintf(f, "%s%.1f,%.1f", k ? " " : "", px(&fr, p->x[p->front[k]]), py(&fr, p->y[p->front[k]]));
        fprintf(f, "\"/>\n");
    }
    for (size_t i = 0; i < p->n; i++) {
        double x = p->x[i], y = p->y[i];
        if (!isfinite(x) || !isfinite(y) || (p->logx && !(x > 0))) continue;
        point(f, p, i, px(&fr, x), py(&fr, y));
    }
    fprintf(f, "</svg>\n");
    return ferror(f) ? ECB_ENOMEM : 0;
}
