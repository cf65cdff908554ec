/* Progress line of a sweep (see progress.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ecb.h"
#include "harness/progress.h"

#define LOG_EVERY_S 30.0

struct ecb_progress {
    size_t total, resumed, done, failed;
    int quiet, tty;
    double t_start, t_cell, last_log;
    double run_s;        /* summed wall time of cells run in this session */
    char desc[512];
    int line_open;       /* a \r line is on screen */
    size_t cols;
    size_t parallel;     /* cells running at once (MPI ranks), 0 = 1 */
};

void ecb_format_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || isinf(s)) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0f s", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

ecb_progress *ecb_progress_new(size_t total, size_t already_done, int quiet)
{
    ecb_progress *p = ecb_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->total = total;
    p->resumed = already_done;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    const char *c = getenv("COLUMNS");
    p->cols = c && atoi(c) > 20 ? (size_t)atoi(c) : 100;
    p->t_start = ecb_now();
    return p;
}

/* Mean seconds per finished cell of this session times the cells left. */
static void eta_text(const ecb_progress *p, double cur_elapsed, char *buf, size_t n)
{
    size_t left = p->total - p->resumed - p->done;
    if (p->done == 0) {
        snprintf(buf, n, "ETA ?");
        return;
    }
    double per = p->run_s / (double)p->done / (double)(p->parallel ? p->parallel : 1);
    double rest = per * (double)left - (cur_elapsed < per ? cur_elapsed : per);
    char d[32];
    ecb_format_duration(rest > 0 ? rest : 0, d, sizeof d);
    double rate = per > 0 ? 60.0 / per : 0;
    snprintf(buf, n, "%.1f cells/min, ETA %s", rate, d);
}

static void draw(ecb_progress *p, double elapsed)
{
    char eta[96], el[32], line[1024];
    eta_text(p, elapsed, eta, sizeof eta);
    ecb_format_duration(elapsed, el, sizeof el);
    int w = snprintf(line, sizeof line, "[%zu/%zu] %s (%s) | %s", p->resumed + p->done + 1,
                     p->total, p->desc, el, eta);
    if (w < 0) return;
    size_t len = (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
    if (len > p->cols - 1) { /* keep it on one line: shorten the description */
        len = p->cols - 1;
        line[len - 1] = '~';
        line[len] = '\0';
    }
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->line_open = 1;
}

void ecb_progress_end(ecb_progress *p)
{
    if (p && p->line_open) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->line_open = 0;
    }
}

void ecb_progress_start(ecb_progress *p, const char *desc)
{
    if (!p) return;
    snprintf(p->desc, sizeof p->desc, "%s", desc);
    p->t_cell = ecb_now();
    p->last_log = p->t_cell;
    if (p->quiet) return;
    if (p->tty) draw(p, 0);
    else /* a log says which cell runs, so a hang or a kill names its cell */
        fprintf(stderr, "ecbench: [%zu/%zu] running: %s\n", p->resumed + p->done + 1, p->total,
                p->desc);
}

void ecb_progress_tick(ecb_progress *p, double elapsed_s)
{
    if (!p || p->quiet) return;
    if (p->tty) {
        draw(p, elapsed_s);
        return;
    }
    double now = ecb_now();
    if (now - p->last_log >= LOG_EVERY_S) {
        p->last_log = now;
        char el[32];
        ecb_format_duration(elapsed_s, el, sizeof el);
        fprintf(stderr, "ecbench: [%zu/%zu] still running: %s (%s)\n", p->resumed + p->done + 1,
                p->total, p->desc, el);
    }
}

void ecb_progress_done(ecb_progress *p, const char *status, const char *error)
{
    if (!p) return;
    double dt = ecb_now() - p->t_cell;
    p->run_s += dt;
    p->done++;
    int bad = strcmp(status, "ok") != 0 && strcmp(status, "skipped") != 0;
    if (bad) p->failed++;
    if (p->quiet && !bad) return;
    ecb_progress_end(p);
    char eta[96];
    eta_text(p, 0, eta, sizeof eta);
    /* On a terminal only failures stay on screen (the \r line shows the
     * rest); a log gets every cell. */
    if (!p->tty || bad || p->quiet)
        fprintf(stderr, "[%zu/%zu] %s: %s (%.1f s%s%s)\n", p->resumed + p->done, p->total, p->desc,
                bad ? "FAILED" : status, dt, p->quiet ? "" : ", ", p->quiet ? "" : eta);
    if (bad && error && *error) fprintf(stderr, "    %s: %s\n", status, error);
    fflush(stderr);
}

void ecb_progress_free(ecb_progress *p) { free(p); }

void ecb_progress_remote(ecb_progress *p, const char *desc, double cell_s, size_t parallel,
                         const char *status, const char *error)
{
    if (!p) return;
    snprintf(p->desc, sizeof p->desc, "%s", desc);
    p->t_cell = ecb_now() - cell_s;
    p->parallel = parallel;
    ecb_progress_done(p, status, error);
    if (p->quiet) return;
    if (p->tty) draw(p, 0);
    else /* a log says which cell runs, so a hang or a kill names its cell */
        fprintf(stderr, "ecbench: [%zu/%zu] running: %s\n", p->resumed + p->done + 1, p->total,
                p->desc);
}
