/*
 * `ecbench compare BASE NEW`: the CI gate (DESIGN D7). Cells are matched by
 * cell_id; every quality metric and every metric with a tolerance is
 * checked; a drop beyond the tolerance is a regression, and so is a cell
 * that disappeared, a value that went missing, or a cell that stopped
 * running (status ok -> error), and so is a value on either side that is
 * not a finite number (a BASE "nan" cannot vouch for anything). Exit 0
 * clean, 1 regression, 2 usage/input.
 *
 * Tolerances: `METRIC=0.005` is absolute (quality metrics, e.g. nDCG
 * points), `METRIC=+25%` is relative to BASE's value (timings). Direction
 * comes from the metric: quality, qps, encode_vps are higher-is-better;
 * *_ms, train_s, peak_rss_mb, sizes are lower-is-better. Sources, first
 * wins: --tolerance (last given first), NEW's manifest config
 * "ci": {"tolerances": {...}}, then 0.002 absolute for every quality
 * metric. Timings are checked only when given a tolerance (CI machines are
 * noisy). METRIC may be a glob ("ndcg@*", "*_ms").
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ecb.h"
#include "reports/model.h"
#include "reports/reports.h"

#define DEFAULT_QUALITY_TOL 0.002

typedef struct {
    ecb_tolerance *v;
    size_t n, cap;
} tol_list;

typedef struct {
    char path[4096];      /* results.csv */
    char manifest[4096];  /* may not exist */
    ecb_table *t;
} side;

/* One checked (cell, metric). */
typedef struct {
    size_t nrow;          /* row in NEW (or BASE for missing cells) */
    int from_base;
    char metric[128];
    double base, new_;
    char tol[64];
    int verdict;          /* -1 regression, 0 ok, +1 improvement */
    char note[256];
} check;

typedef struct {
    check *v;
    size_t n, cap;
} check_list;

static int push_tol(tol_list *l, const ecb_tolerance *t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ecb_tolerance *v = realloc(l->v, cap * sizeof *v);
        if (!v) return ecb_fail(ECB_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *t;
    return 0;
}

static int push_check(check_list *l, const check *c)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        check *v = realloc(l->v, cap * sizeof *v);
        if (!v) return ecb_fail(ECB_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *c;
    return 0;
}

/* +1 higher is better, -1 lower is better, 0 unknown. */
static int direction(const char *m)
{
    static const char *const higher[] = {"qps", "encode_vps", "recon_cosine", "compression_ratio"};
    static const char *const lower[] = {"train_s", "peak_rss_mb", "recon_mse", "bytes_per_vector",
                                        "index_bytes", "aux_bytes", "rescore_bytes", "bits_per_dim",
                                        "n_skipped_queries"};
    if (ecb_is_quality_metric(m)) return 1;
    for (size_t i = 0; i < sizeof higher / sizeof *higher; i++)
        if (strcmp(m, higher[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof lower / sizeof *lower; i++)
        if (strcmp(m, lower[i]) == 0) return -1;
    size_t n = strlen(m);
    if (n > 3 && strcmp(m + n - 3, "_ms") == 0) return -1;
    return 0;
}

int ecb_tolerance_parse(const char *arg, const char *source, ecb_tolerance *t)
{
    const char *eq = strrchr(arg, '=');
    memset(t, 0, sizeof *t);
    t->source = source;
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof t->metric)
        return ecb_fail(ECB_EINVAL, "%s: \"%.200s\": expected METRIC=VALUE, e.g. ndcg@10=0.005 or "
                        "query_p50_ms=+25%%", source, arg);
    memcpy(t->metric, arg, (size_t)(eq - arg));
    t->metric[eq - arg] = '\0';
    if (ecb_parse_tolerance(eq + 1, &t->value, &t->relative))
        return ecb_fail(ECB_EINVAL, "%s: \"%.200s\": expected an absolute tolerance (0.005) or a relative "
                        "one (+25%%), got \"%.100s\"", source, arg, eq + 1);
    return 0;
}

static int parse_tol_arg(const char *arg, const char *source, tol_list *l)
{
    ecb_tolerance t;
    int rc = ecb_tolerance_parse(arg, source, &t);
    return rc ? rc : push_tol(l, &t);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_side(const char *arg, side *s)
{
    if (is_dir(arg)) {
        snprintf(s->path, sizeof s->path, "%s/results.csv", arg);
        snprintf(s->manifest, sizeof s->manifest, "%s/manifest.json", arg);
    } else {
        snprintf(s->path, sizeof s->path, "%s", arg);
        const char *slash = strrchr(arg, '/');
        if (slash) snprintf(s->manifest, sizeof s->manifest, "%.*s/manifest.json", (int)(slash - arg), arg);
        else snprintf(s->manifest, sizeof s->manifest, "manifest.json");
    }
    /* the results store checks the layout and rejects duplicate cell_ids */
    return ecb_results_load(s->path, &s->t, NULL, NULL);
}

/* NEW's config "ci": {"tolerances": ...}, read (and checked) by the one
 * manifest reader. */
static int manifest_tolerances(const char *path, tol_list *l)
{
    ecb_run_manifest m;
    int rc = ecb_run_manifest_load(path, &m);
    for (const cJSON *it = m.tolerances ? m.tolerances->child : NULL; it && !rc; it = it->next) {
        ecb_tolerance t = {.source = "manifest"};
        snprintf(t.metric, sizeof t.metric, "%s", it->string);
        if (cJSON_IsNumber(it)) t.value = it->valuedouble;
        else rc = ecb_parse_tolerance(it->valuestring, &t.value, &t.relative);
        if (!rc) rc = push_tol(l, &t);
    }
    ecb_run_manifest_release(&m);
    return rc;
}

/* The command line beats the manifest; within one source, exact names beat
 * globs and later entries beat earlier ones. */
static const ecb_tolerance *find_tol(const tol_list *cli, const tol_list *man, const char *metric)
{
    const tol_list *ls[2] = {cli, man};
    for (int k = 0; k < 2; k++)
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = ls[k]->n; i-- > 0;) {
                const ecb_tolerance *t = &ls[k]->v[i];
                if (pass == 0 ? strcmp(t->metric, metric) == 0 : fnmatch(t->metric, metric, 0) == 0)
                    return t;
            }
    return NULL;
}

static void fmt_tol(const ecb_tolerance *t, char *buf, size_t n)
{
    if (t->relative) snprintf(buf, n, "+%g%%", t->value);
    else snprintf(buf, n, "%g", t->value);
}

static const char *cell_desc(const ecb_table *t, size_t r, char *buf, size_t n)
{
    const char *rs = ecb_table_at(t, r, ecb_table_col(t, "rescore"));
    snprintf(buf, n, "%s %s %s%s%s", ecb_table_at(t, r, ecb_table_col(t, "dataset")),
             ecb_table_at(t, r, ecb_table_col(t, "label")), ecb_table_at(t, r, ecb_table_col(t, "mode")),
             *rs && strcmp(rs, "none") ? " +" : "", *rs && strcmp(rs, "none") ? rs : "");
    return buf;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: ecbench compare BASE NEW [--tolerance METRIC=VALUE]... [--junit FILE] [--all] [--quiet]\n"
            "\n"
            "BASE and NEW are results directories or results.csv files. Cells are matched by\n"
            "cell_id. METRIC=0.005 is an absolute tolerance (quality: a drop beyond it is a\n"
            "regression), METRIC=+25%% a relative one (timings: *_ms up or qps/encode_vps down by\n"
            "more). METRIC may be a glob (\"ndcg@*\"). Defaults come from NEW's manifest.json,\n"
            "config \"ci\": {\"tolerances\": {...}}, then %g for every quality metric; timings\n"
            "are checked only when given a tolerance.\n"
            "\n"
            "  --junit FILE   write JUnit XML (one testcase per cell and metric)\n"
            "  --all          print every check, not only regressions and improvements\n"
            "  --quiet        print only the summary line\n"
            "\n"
            "Exit status: 0 no regression, 1 regression or missing cell, 2 usage or input error.\n",
            DEFAULT_QUALITY_TOL);
    return 2;
}

static void print_checks(const check_list *cl, const side *base, const side *nw, int verdict,
                         const char *heading, size_t count)
{
    if (!count) return;
    printf("\n%s (%zu):\n", heading, count);
    int w_cell = 4, w_met = 6;
    char d[1024];
    for (size_t i = 0; i < cl->n; i++) {
        const check *c = &cl->v[i];
        if (c->verdict != verdict) continue;
        int l = (int)strlen(cell_desc(c->from_base ? base->t : nw->t, c->nrow, d, sizeof d));
        if (l > w_cell) w_cell = l > 70 ? 70 : l;
        l = (int)strlen(c->metric);
        if (l > w_met) w_met = l;
    }
    printf("  %-16s  %-*s  %-*s  %12s  %12s  %10s  %9s\n", "cell_id", w_cell, "cell", w_met, "metric",
           "base", "new", "change", "tolerance");
    for (size_t i = 0; i < cl->n; i++) {
        const check *c = &cl->v[i];
        if (c->verdict != verdict) continue;
        const ecb_table *t = c->from_base ? base->t : nw->t;
        char ch[32] = "", bs[32] = "-", ns[32] = "-";
        if (!isnan(c->base)) snprintf(bs, sizeof bs, "%.6g", c->base);
        if (!isnan(c->new_)) snprintf(ns, sizeof ns, "%.6g", c->new_);
        if (!isnan(c->base) && !isnan(c->new_)) {
            if (strchr(c->tol, '%') && c->base != 0)
                snprintf(ch, sizeof ch, "%+.1f%%", 100 * (c->new_ - c->base) / fabs(c->base));
            else snprintf(ch, sizeof ch, "%+.4g", c->new_ - c->base);
        }
        printf("  %-16s  %-*.*s  %-*s  %12s  %12s  %10s  %9s%s%s\n",
               ecb_table_at(t, c->nrow, ecb_table_col(t, "cell_id")), w_cell, w_cell,
               cell_desc(t, c->nrow, d, sizeof d), w_met, c->metric, bs, ns, ch, c->tol,
               c->note[0] ? "  " : "", c->note);
    }
}

static int write_junit(const char *path, const check_list *cl, const side *base, const side *nw,
                       size_t failures)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"ecbench compare\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", cl->n,
            failures);
    fprintf(f, "  <testsuite name=\"ecbench compare ");
    ecb_html_escape(f, base->path);
    fprintf(f, " vs ");
    ecb_html_escape(f, nw->path);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n", cl->n, failures);
    char d[1024];
    for (size_t i = 0; i < cl->n; i++) {
        const check *c = &cl->v[i];
        const ecb_table *t = c->from_base ? base->t : nw->t;
        fprintf(f, "    <testcase classname=\"");
        ecb_html_escape(f, cell_desc(t, c->nrow, d, sizeof d));
        fprintf(f, " [");
        ecb_html_escape(f, ecb_table_at(t, c->nrow, ecb_table_col(t, "cell_id")));
        fprintf(f, "]\" name=\"");
        ecb_html_escape(f, c->metric);
        fprintf(f, "\"");
        if (c->verdict < 0) {
            char msg[1024];
            if (c->note[0]) snprintf(msg, sizeof msg, "%s", c->note);
            else snprintf(msg, sizeof msg, "%s: %.6g -> %.6g (tolerance %s)", c->metric, c->base, c->new_, c->tol);
            fprintf(f, ">\n      <failure type=\"regression\" message=\"");
            ecb_html_escape(f, msg);
            fprintf(f, "\">");
            ecb_html_escape(f, msg);
            fprintf(f, "</failure>\n    </testcase>\n");
        } else if (c->verdict > 0 || c->note[0]) {
            fprintf(f, ">\n      <system-out>");
            if (c->note[0]) ecb_html_escape(f, c->note);
            else {
                char msg[256];
                snprintf(msg, sizeof msg, "improved: %.6g -> %.6g (tolerance %s)", c->base, c->new_, c->tol);
                ecb_html_escape(f, msg);
            }
            fprintf(f, "</system-out>\n    </testcase>\n");
        } else {
            fprintf(f, "/>\n");
        }
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return ecb_fail(ECB_EIO, "%s: write failed", path);
    }
    return 0;
}

int ecb_cmd_compare(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL}, *junit = NULL;
    int all = 0, quiet = 0, np = 0, rc = 0, ret = 2;
    tol_list cli = {0}, man = {0};
    side base = {0}, nw = {0};
    check_list cl = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); ret = 0; goto out; }
        else if (strcmp(a, "--all") == 0) all = 1;
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) quiet = 1;
        else if (strcmp(a, "--tolerance") == 0 || strcmp(a, "-t") == 0 || strncmp(a, "--tolerance=", 12) == 0) {
            const char *v = strncmp(a, "--tolerance=", 12) == 0 ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) { fprintf(stderr, "ecbench compare: --tolerance needs METRIC=VALUE\n"); goto out; }
            if (parse_tol_arg(v, "--tolerance", &cli)) {
                fprintf(stderr, "ecbench compare: %s\n", ecb_last_error());
                goto out;
            }
        } else if (strcmp(a, "--junit") == 0 || strncmp(a, "--junit=", 8) == 0) {
            junit = strncmp(a, "--junit=", 8) == 0 ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (!junit || !*junit) { fprintf(stderr, "ecbench compare: --junit needs a file\n"); goto out; }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ecbench compare: unknown option %s\n", a);
            usage(stderr);
            goto out;
        } else if (np < 2) paths[np++] = a;
        else {
            fprintf(stderr, "ecbench compare: expected two result sets (BASE NEW), got a third: %s\n", a);
            goto out;
        }
    }
    if (np != 2) { usage(stderr); goto out; }
    if ((rc = load_side(paths[0], &base)) || (rc = load_side(paths[1], &nw)) ||
        (rc = manifest_tolerances(nw.manifest, &man))) {
        fprintf(stderr, "ecbench compare: %s\n", ecb_last_error());
        goto out;
    }
    /* every tolerance must name a column of a side, with a known direction */
    const tol_list *ls[2] = {&cli, &man};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ls[k]->n; i++) {
            const ecb_tolerance *t = &ls[k]->v[i];
            int hit = 0;
            for (int s = 0; s < 2 && !hit; s++) {
                const ecb_table *tb = s ? nw.t : base.t;
                for (size_t c = 0; c < tb->ncols && !hit; c++)
                    hit = fnmatch(t->metric, tb->head[c], 0) == 0 && direction(tb->head[c]) != 0;
            }
            if (!hit) {
                fprintf(stderr, "ecbench compare: %s: tolerance for \"%s\" matches no comparable column of "
                        "%s or %s (quality metrics such as ndcg@10, timings such as query_p50_ms, qps)\n",
                        strcmp(t->source, "manifest") == 0 ? nw.manifest : "--tolerance", t->metric,
                        base.path, nw.path);
                goto out;
            }
        }

    /* metrics to check: columns of BASE with a direction and a tolerance */
    int bid = ecb_table_col(base.t, "cell_id"), nid = ecb_table_col(nw.t, "cell_id");
    int bst = ecb_table_col(base.t, "status"), nst = ecb_table_col(nw.t, "status");
    int nerr = ecb_table_col(nw.t, "error");
    size_t nreg = 0, nimp = 0, nmiss = 0, nnew = 0, nmatched = 0;
    char *seen = ecb_calloc(nw.t->nrows + 1, 1);
    int *ncol = ecb_calloc(base.t->ncols + 1, sizeof *ncol);
    ecb_strindex ids = {0}, heads = {0};
    if (!seen || !ncol || ecb_strindex_init(&ids, nw.t->nrows) || ecb_strindex_init(&heads, nw.t->ncols))
        goto out_seen;
    /* cell_ids are unique on each side (the results store checks) */
    for (size_t q = 0; q < nw.t->nrows; q++)
        if (ecb_strindex_put(&ids, ecb_table_at(nw.t, q, nid), q, NULL) < 0) goto out_seen;
    for (size_t c = 0; c < nw.t->ncols; c++)
        if (ecb_strindex_put(&heads, nw.t->head[c], c, NULL) < 0) goto out_seen;
    for (size_t c = 0; c < base.t->ncols; c++) ncol[c] = (int)ecb_strindex_get(&heads, base.t->head[c]);
    for (size_t r = 0; r < base.t->nrows; r++) {
        long m = ecb_strindex_get(&ids, ecb_table_at(base.t, r, bid));
        if (m < 0) {
            check c = {.nrow = r, .from_base = 1, .base = NAN, .new_ = NAN, .verdict = -1};
            snprintf(c.metric, sizeof c.metric, "present");
            snprintf(c.note, sizeof c.note, "cell missing from NEW");
            if (push_check(&cl, &c)) goto out_seen;
            nmiss++;
            continue;
        }
        seen[m] = 1;
        nmatched++;
        size_t mr = (size_t)m;
        const char *sb = ecb_table_at(base.t, r, bst), *sn = ecb_table_at(nw.t, mr, nst);
        int okb = !*sb || strcmp(sb, "ok") == 0, okn = !*sn || strcmp(sn, "ok") == 0;
        if (okb != okn || (!okb && strcmp(sb, sn))) {
            check c = {.nrow = mr, .base = NAN, .new_ = NAN, .verdict = okb && !okn ? -1 : !okb && okn ? 1 : 0};
            snprintf(c.metric, sizeof c.metric, "status");
            snprintf(c.note, sizeof c.note, "status %s -> %s%s%.200s", *sb ? sb : "ok", *sn ? sn : "ok",
                     okn ? "" : ": ", okn ? "" : ecb_table_at(nw.t, mr, nerr));
            if (push_check(&cl, &c)) goto out_seen;
            if (c.verdict < 0) nreg++;
            if (c.verdict > 0) nimp++;
        }
        if (!okb || !okn) continue;
        for (size_t col = 0; col < base.t->ncols; col++) {
            const char *mname = base.t->head[col];
            int dir = direction(mname);
            if (!dir) continue;
            const ecb_tolerance *tl = find_tol(&cli, &man, mname);
            ecb_tolerance def = {.value = DEFAULT_QUALITY_TOL, .source = "default"};
            if (!tl) {
                if (!ecb_is_quality_metric(mname)) continue;
                tl = &def;
            }
            /* empty = not applicable; anything else must be a finite number
             * on both sides: "nan" or "abc" in BASE would otherwise compare
             * as "no value" and pass */
            const char *sb_ = ecb_table_at(base.t, r, (int)col), *sn_ = ecb_table_at(nw.t, mr, ncol[col]);
            double vb, vn;
            int hb = ecb_table_num(base.t, r, (int)col, &vb);
            int hn = ecb_table_num(nw.t, mr, ncol[col], &vn);
            if (!*sb_ && !*sn_) continue;
            check c = {.nrow = mr, .base = hb ? vb : NAN, .new_ = hn ? vn : NAN};
            snprintf(c.metric, sizeof c.metric, "%s", mname);
            fmt_tol(tl, c.tol, sizeof c.tol);
            if (*sb_ && !hb) {
                c.verdict = -1;
                snprintf(c.note, sizeof c.note, "%s: BASE value \"%.40s\" is not a finite number: cannot "
                         "check this cell", mname, sb_);
            } else if (*sn_ && !hn) {
                c.verdict = -1;
                snprintf(c.note, sizeof c.note, "%s: NEW value \"%.40s\" is not a finite number", mname, sn_);
            } else if (!hn) {
                c.verdict = -1;
                snprintf(c.note, sizeof c.note, "%s: value missing in NEW (BASE %.6g)", mname, vb);
            } else if (!hb) {
                c.verdict = 0;
                snprintf(c.note, sizeof c.note, "%s: new value %.6g (none in BASE)", mname, vn);
            } else {
                double slack = tl->relative ? fabs(vb) * tl->value / 100 : tl->value;
                double diff = (vn - vb) * dir; /* > 0 better */
                double eps = 1e-9 * (fabs(vb) + 1e-300);
                c.verdict = diff < -slack - eps ? -1 : diff > slack + eps ? 1 : 0;
            }
            if (push_check(&cl, &c)) goto out_seen;
            if (c.verdict < 0) nreg++;
            if (c.verdict > 0) nimp++;
        }
    }
    for (size_t q = 0; q < nw.t->nrows; q++) {
        if (seen[q]) continue;
        check c = {.nrow = q, .base = NAN, .new_ = NAN, .verdict = 0};
        snprintf(c.metric, sizeof c.metric, "present");
        snprintf(c.note, sizeof c.note, "new cell, not in BASE (not compared)");
        if (push_check(&cl, &c)) goto out_seen;
        nnew++;
    }

    if (!quiet) {
        printf("ecbench compare\n  BASE %s (%zu cells)\n  NEW  %s (%zu cells)\n", base.path, base.t->nrows,
               nw.path, nw.t->nrows);
        size_t nmissing = 0;
        for (size_t i = 0; i < cl.n; i++) nmissing += cl.v[i].verdict < 0 && cl.v[i].from_base;
        print_checks(&cl, &base, &nw, -1, "REGRESSIONS", nreg + nmiss);
        print_checks(&cl, &base, &nw, 1, "IMPROVEMENTS", nimp);
        if (nnew) {
            printf("\nNEW CELLS, not in BASE (%zu):\n", nnew);
            char d[1024];
            for (size_t i = 0; i < cl.n; i++)
                if (!cl.v[i].from_base && strcmp(cl.v[i].metric, "present") == 0)
                    printf("  %-16s  %s\n", ecb_table_at(nw.t, cl.v[i].nrow, nid),
                           cell_desc(nw.t, cl.v[i].nrow, d, sizeof d));
        }
        if (all) {
            size_t nok = 0;
            for (size_t i = 0; i < cl.n; i++) nok += cl.v[i].verdict == 0;
            print_checks(&cl, &base, &nw, 0, "WITHIN TOLERANCE", nok);
        }
        (void)nmissing;
    }
    size_t failures = nreg + nmiss;
    printf("%scompare: %zu cells matched, %zu missing from NEW, %zu new; %zu checks: %zu regressions, "
           "%zu improvements -> %s\n", quiet ? "" : "\n", nmatched, nmiss, nnew, cl.n, nreg, nimp,
           failures ? "FAIL" : "PASS");
    if (junit && write_junit(junit, &cl, &base, &nw, failures)) {
        fprintf(stderr, "ecbench compare: %s\n", ecb_last_error());
        goto out_seen;
    }
    ret = failures ? 1 : 0;
out_seen:
    free(seen);
    free(ncol);
    ecb_strindex_free(&ids);
    ecb_strindex_free(&heads);
out:
    free(cli.v);
    free(man.v);
    free(cl.v);
    ecb_table_free(base.t);
    ecb_table_free(nw.t);
    return ret;
}
