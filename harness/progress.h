/*
 * Sweep progress on stderr (DESIGN D6): cells done / total, the current
 * cell, the rate and an ETA. On a terminal one line is rewritten in place
 * (\r); otherwise plain log lines: one per finished cell, and a "still
 * running" line every 30 s for a long cell. Quiet mode prints nothing but
 * failures.
 */
#ifndef ECB_PROGRESS_H
#define ECB_PROGRESS_H

#include <stddef.h>

typedef struct ecb_progress ecb_progress;

/* total cells of the sweep, of which already_done were resumed. */
ecb_progress *ecb_progress_new(size_t total, size_t already_done, int quiet);
/* A cell starts: desc is a short description ("dataset label mode ..."). */
void ecb_progress_start(ecb_progress *p, const char *desc);
/* Refresh while the current cell runs (elapsed seconds of the cell). */
void ecb_progress_tick(ecb_progress *p, double elapsed_s);
/* The current cell ended with status ("ok", "skipped", "error", "crashed",
 * "timeout", "oom"); error is printed for failures (may be NULL). */
void ecb_progress_done(ecb_progress *p, const char *status, const char *error);
/* A cell measured elsewhere (on an MPI rank) ended after cell_s seconds;
 * `parallel` cells run at once, so the rate and ETA count them all. */
void ecb_progress_remote(ecb_progress *p, const char *desc, double cell_s, size_t parallel,
                         const char *status, const char *error);
/* Finish the line (terminal mode) before other output. */
void ecb_progress_end(ecb_progress *p);
void ecb_progress_free(ecb_progress *p);

/* Format seconds as "42 s", "3m05s", "2h10m". */
void ecb_format_duration(double s, char *buf, size_t n);

#endif
