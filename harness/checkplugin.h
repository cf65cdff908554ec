/*
 * The plugin conformance checks (DESIGN D2), in one place for both of their
 * users: `ecbench check-plugin PATH.so` (any plugin, no test framework) and
 * the test suite's conformance test (tests/conformance.c, a thin cmocka
 * wrapper running every built plugin through the same groups).
 *
 * A group is a sequence of named checks; each check is reported once, as
 * passed, failed (with what was expected and found) or skipped (with why,
 * e.g. a mode the plugin does not declare). A group stops at a failure that
 * leaves nothing to check further (create or train failing).
 */
#ifndef ECB_CHECKPLUGIN_H
#define ECB_CHECKPLUGIN_H

#include <stddef.h>
#include <stdio.h>

#include "harness/registry.h"

typedef enum { ECB_CHECK_PASS = 0, ECB_CHECK_FAIL = 1, ECB_CHECK_SKIP = 2 } ecb_check_status;

/* Receives every check's outcome; detail is one line (never NULL). */
typedef void (*ecb_check_report_fn)(void *ctx, const char *check, ecb_check_status st,
                                    const char *detail);

typedef enum {
    ECB_CHECKS_EXPORTS = 0, /* exactly one dynamic symbol, destroy(NULL) */
    ECB_CHECKS_PARAMS,      /* parameter table, unknown keys rejected */
    ECB_CHECKS_DOT,         /* the lifecycle under ECB_SIM_DOT (unit-norm data) */
    ECB_CHECKS_L2,          /* the same under ECB_SIM_L2 */
    ECB_CHECKS_N
} ecb_check_group;

const char *ecb_check_group_name(ecb_check_group g);

/* Runs group g on p (from ecb_plugin_open, not rejected), reporting each
 * check to fn; returns the number of failed checks. */
size_t ecb_check_group_run(const ecb_plugin *p, ecb_check_group g, ecb_check_report_fn fn,
                           void *ctx);

/* `ecbench check-plugin`: loads path (the load check: ABI range, name,
 * hooks, flags, parameter table), runs every group in a child process (a
 * crash or a group running longer than timeout_s seconds is a failed check,
 * not a lost verdict), prints one line per check and a verdict line to out.
 * Returns 0 when no check failed, 1 otherwise. */
int ecb_check_plugin(const char *path, unsigned timeout_s, FILE *out);

#endif
