/*
 * `ecbench report DIR`: results_stats.csv (stats.c), then the model
 * (model.c), the figures (plots.c), the LaTeX tables (tables.c),
 * report.html (html.c, svg.c) and report.md (tables.c), all rebuilt from DIR/results.csv, DIR/per_query.csv and
 * DIR/manifest.json alone; nothing is re-run.
 *
 * Every file is replaced atomically once complete and checked (ecb_rfile,
 * and gnuplot's exit status and output for figures); the first failure
 * stops the build with an error naming the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "common/fileio.h"
#include "reports/model.h"
#include "reports/reports.h"

char *ecb_rpt_pathf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = ecb_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int ecb_rfile_open(ecb_rfile *rf, const char *path)
{
    memset(rf, 0, sizeof *rf);
    if (!(rf->path = ecb_strdup(path))) return ECB_ENOMEM;
    if (!(rf->f = open_memstream(&rf->buf, &rf->len))) {
        int rc = ecb_fail(ECB_ENOMEM, "%s: cannot buffer: %s", path, strerror(errno));
        ecb_rfile_discard(rf);
        return rc;
    }
    return 0;
}

int ecb_rfile_commit(ecb_rfile *rf)
{
    int bad = ferror(rf->f);
    bad |= fclose(rf->f) != 0;
    rf->f = NULL;
    int rc = bad ? ecb_fail(ECB_ENOMEM, "%s: out of memory while writing it", rf->path)
                 : ecb_write_file_atomic(rf->path, rf->buf ? rf->buf : "", rf->len);
    ecb_rfile_discard(rf);
    return rc;
}

void ecb_rfile_discard(ecb_rfile *rf)
{
    if (rf->f) fclose(rf->f);
    free(rf->buf);
    free(rf->path);
    memset(rf, 0, sizeof *rf);
}

static int make_dirs(const char *dir)
{
    char *tables = ecb_rpt_pathf("%s/tables", dir), *plots = ecb_rpt_pathf("%s/plots", dir);
    int rc = (!tables || !plots) ? ECB_ENOMEM : 0;
    if (!rc) rc = ecb_mkdir_p(tables);
    if (!rc) rc = ecb_mkdir_p(plots);
    free(tables);
    free(plots);
    return rc;
}

int ecb_report_build(const char *dir, int quiet)
{
    ecb_report R;
    memset(&R, 0, sizeof R);
    R.dir = dir;
    R.quiet = quiet;
    R.alpha = 0.05;
    ecb_stats_opts so;
    ecb_stats_opts_default(&so);
    /* report.md and report.html go first and come back last: a failed or
     * interrupted build must not leave the previous ones next to files
     * they do not describe. */
    static const char *const entry[] = {"report.md", "report.html"};
    for (size_t i = 0; i < 2; i++) {
        char *p = ecb_rpt_pathf("%s/%s", dir, entry[i]);
        if (p && remove(p) != 0 && errno != ENOENT)
            ecb_log(ECB_LOG_WARN, "%s: cannot remove the previous report: %s", p, strerror(errno));
        free(p);
    }
    int rc = ecb_stats_build(dir, &so, &R.t);
    char *mp = rc ? NULL : ecb_rpt_pathf("%s/manifest.json", dir);
    if (!rc && !mp) rc = ECB_ENOMEM;
    if (!rc) rc = ecb_run_manifest_load(mp, &R.man);
    free(mp);
    if (!rc) rc = ecb_report_model(&R);
    if (!rc) rc = make_dirs(dir);
    /* plots first, so report.md can reference only what was rendered */
    if (!rc) rc = ecb_report_plots(&R);
    if (!rc) rc = ecb_report_tables(&R);
    if (!rc) rc = ecb_report_html(&R);
    if (!rc) rc = ecb_report_markdown(&R);
    if (rc) /* no entry point of a report that failed */
        for (size_t i = 0; i < 2; i++) {
            char *p = ecb_rpt_pathf("%s/%s", dir, entry[i]);
            if (p) remove(p);
            free(p);
        }
    if (!rc && !quiet)
        printf("report: %s/report.md\nhtml:   %s/report.html\ntables: %s/tables/\nplots:  %s/plots/ (%zu figures, "
               "PNG and SVG)\n", dir, dir, dir, dir, R.nplots);
    for (size_t p = 0; p < R.nplots; p++) free(R.plots[p]);
    free(R.plots);
    ecb_strindex_free(&R.plot_ix);
    ecb_report_model_free(&R);
    ecb_run_manifest_release(&R.man);
    ecb_table_free(R.t);
    return rc;
}

int ecb_cmd_report(int argc, char **argv)
{
    const char *dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) quiet = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: ecbench report DIR [--quiet]\n\n"
                   "Rebuild DIR/results_stats.csv, DIR/report.md, DIR/report.html (one self-contained\n"
                   "page: sortable, filterable tables and SVG figures), DIR/tables/*.tex and DIR/plots/\n"
                   "(PNG, SVG, data files and gnuplot scripts) from DIR/results.csv,\n"
                   "DIR/per_query.csv and DIR/manifest.json; nothing is re-run. Every file is\n"
                   "replaced only once complete; a failure names the file and exits 2.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ecbench report: unknown option %s (try --help)\n", argv[i]);
            return 2;
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "ecbench report: one results directory expected, got also %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: ecbench report DIR [--quiet]\n");
        return 2;
    }
    int rc = ecb_report_build(dir, quiet);
    if (rc) {
        fprintf(stderr, "ecbench report: %s\n", ecb_last_error());
        return 2;
    }
    return 0;
}
