/*
 * Cell isolation (DESIGN D6, D9): run a function in a forked child with an
 * address-space limit (RLIMIT_AS) and a parent-side watchdog that SIGKILLs
 * the child at the time limit. The child sends its output back as text
 * through a pipe; a crash, a hang or an out-of-memory becomes a status with
 * a reason instead of taking the sweep down. Also: the SIGINT/SIGTERM
 * policy of a sweep (first signal: finish the current cell, then stop;
 * second signal: stop now).
 */
#ifndef ECB_ISOLATE_H
#define ECB_ISOLATE_H

#include <stddef.h>

#include "harness/registry.h"

typedef enum {
    ECB_ISO_OK = 0,      /* the child ran fn and sent its output */
    ECB_ISO_CRASHED = 1, /* killed by a signal, or exited without output */
    ECB_ISO_TIMEOUT = 2, /* the watchdog killed it at the time limit */
    ECB_ISO_OOM = 3,     /* killed by SIGKILL not sent by us (the kernel's OOM killer) */
    ECB_ISO_INTERRUPTED = 4, /* a second SIGINT/SIGTERM: the child was killed */
} ecb_iso_status;

typedef struct ecb_iso_limits {
    double time_limit_s;    /* 0 = none */
    double memory_limit_mb; /* RLIMIT_AS of the child in MiB; 0 = none */
} ecb_iso_limits;

/* Work done in the child: fills *text (malloc'd, any bytes) and returns a
 * small status code passed back to the parent. */
typedef int (*ecb_iso_fn)(void *arg, char **text, size_t *len);

/* Called about once a second by the parent while the child runs. */
typedef void (*ecb_iso_tick_fn)(void *arg, double elapsed_s);

typedef struct ecb_iso_result {
    ecb_iso_status status;
    int code;            /* fn's return value (ECB_ISO_OK only) */
    char *text;          /* fn's output (ECB_ISO_OK only), malloc'd, NUL-terminated */
    size_t len;
    char reason[256];    /* why it failed: "killed by signal 11 (SIGSEGV)", ... */
    double peak_rss_mb;  /* the child's own peak (wait4 rusage) */
    double seconds;      /* wall time of the child */
} ecb_iso_result;

/* Fork, apply the limits in the child, run fn there, collect its output.
 * Returns 0 with *res filled (whatever happened to the child), or a negative
 * error when the child could not be started (pipe/fork failed). */
int ecb_isolate_run(const ecb_iso_limits *lim, ecb_iso_fn fn, void *arg, ecb_iso_tick_fn tick,
                    void *tick_arg, ecb_iso_result *res);
void ecb_iso_result_release(ecb_iso_result *res);

/* 1 when the plugin was loaded from outside the build tree (e.g. from
 * ECBENCH_METHODS_PATH): the default is to isolate such plugins. */
int ecb_plugin_is_external(const ecb_plugin *p);

/* ---- SIGINT / SIGTERM --------------------------------------------------- */
/* Install the handlers for a sweep. The first signal only sets a flag
 * (ecb_interrupted() returns it) and prints one line; the current cell
 * finishes and its row is written. A second signal kills the running child,
 * if any, and exits at once with 128 + signal (rows are written with one
 * write() each, so the files stay whole). */
void ecb_interrupt_install(void);
void ecb_interrupt_restore(void);
int ecb_interrupted(void); /* 0, or the signal number */

#endif
