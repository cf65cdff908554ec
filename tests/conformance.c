/*
 * Conformance test every plugin passes (meson adds one test per methods/
 * file): a thin cmocka wrapper over the checks of harness/checkplugin.c,
 * the same ones `ecbench check-plugin` runs on any plugin. One cmocka case
 * per check group, run in this process so that the ASan build sees every
 * buffer the plugin touches; each check prints a line, and a group fails
 * with its first failed check.
 *
 * usage: conformance PLUGIN.so
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/checkplugin.h"
#include "testutil.h"

static ecb_plugin plug;

typedef struct {
    size_t failed;
    char first[1200];
} outcome;

static void print_check(void *ctx, const char *check, ecb_check_status st, const char *detail)
{
    outcome *o = ctx;
    static const char *const word[] = {"PASS", "FAIL", "SKIP"};
    printf("# %s %s: %s\n", word[st], check, detail); /* a TAP comment */
    if (st == ECB_CHECK_FAIL && o->failed++ == 0)
        snprintf(o->first, sizeof o->first, "%s: %s", check, detail);
}

static void run_group(void **state)
{
    ecb_check_group g = (ecb_check_group)(uintptr_t)*state;
    outcome o = {0};
    ecb_check_group_run(&plug, g, print_check, &o);
    if (o.failed) fail_msg("%s: %zu failed check(s), first %s", plug.stem, o.failed, o.first);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: conformance PLUGIN.so\n");
        return 2;
    }
    ecb_plugin_open(argv[1], &plug);
    if (plug.rejected) {
        fprintf(stderr, "conformance: %s\n", plug.reason);
        return 1;
    }
    struct CMUnitTest tests[ECB_CHECKS_N];
    char names[ECB_CHECKS_N][32];
    for (int g = 0; g < ECB_CHECKS_N; g++) {
        snprintf(names[g], sizeof names[g], "%s", ecb_check_group_name((ecb_check_group)g));
        tests[g] = (struct CMUnitTest){names[g], run_group, NULL, NULL, (void *)(uintptr_t)g};
    }
    char name[300];
    snprintf(name, sizeof name, "conformance-%s", plug.stem);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
