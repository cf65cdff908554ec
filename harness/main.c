/*
 * ecbench: the command-line front end. Each subcommand is a thin layer over
 * the library; every failure prints one line "ecbench: error: ..." and
 * exits non-zero. main.c sits above every layer: it is the one place that
 * runs a sweep and then builds its report.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "common/install.h"
#include "harness/checkplugin.h"
#include "harness/ecb_version_gen.h"
#include "harness/merge.h"
#include "harness/mpi.h"
#include "harness/params.h"
#include "harness/partition.h"
#include "harness/plan.h"
#include "harness/registry.h"
#include "harness/sweep.h"
#include "reports/reports.h"


/* Where this ecbench finds its own files, for the help text. */
static void print_dirs(FILE *f)
{
    static const struct { ecb_dir_kind kind; const char *what; } dirs[] = {
        {ECB_DIR_METHODS, "plugins:          "},
        {ECB_DIR_TEMPLATES, "report templates: "},
    };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char d[4096];
        if (ecb_install_dir(dirs[i].kind, d, sizeof d) == 0) fprintf(f, "  %s%s\n", dirs[i].what, d);
        else fprintf(f, "  %s(none: %s)\n", dirs[i].what, ecb_last_error());
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ecbench <command> [options]\n"
            "\n"
            "commands:\n"
            "  run CONFIG [-o DIR] [--part I/N] [--trec-run] [--quiet] [--no-report]\n"
            "                       run a sweep; results in DIR/results.csv (default: the\n"
            "                       config's \"output\"), finished cells are not re-run;\n"
            "                       --part I/N runs the I-th of N fixed parts of the cells\n"
            "                       (default DIR: OUTPUT/part-I-of-N); under mpirun -np N\n"
            "                       rank 0 hands the cells out to the other ranks\n"
            "  merge OUT DIR... [--allow-partial]\n"
            "                       merge run directories (the parts of one sweep) into OUT\n"
            "  plan CONFIG [--ranks N] [--ranks-per-node R] [--calibrate SECONDS]\n"
            "                       bytes per rank, FLOPs and estimated time of each cell,\n"
            "                       from a short calibration on this machine\n"
            "  list [--params METHOD]\n"
            "                       list methods found in the methods directories, or one\n"
            "                       method's parameters\n"
            "  report DIR           rebuild report.md, tables/*.tex and plots/ from DIR's CSVs\n"
            "  compare BASE NEW [--tolerance METRIC=VALUE]... [--junit FILE]\n"
            "                       compare two result sets; exit 1 on regression\n"
            "  check-plugin [--timeout S] PLUGIN.so...\n"
            "                       run the conformance checks on method plugins (yours or\n"
            "                       ecbench's): one line per check, then a verdict; exit 1\n"
            "                       when a check failed\n"
            "  help                 this text\n"
            "  --version            print the version\n"
            "\n"
            "environment: ECBENCH_METHODS_PATH (extra plugin directories, ':'-separated),\n"
            "ECBENCH_CACHE_DIR (ground-truth cache, default ~/.cache/ecbench),\n"
            "ECBENCH_REPORTS_DIR (gnuplot templates instead of the installed ones)\n"
            "\n"
            "exit status: 0 success; 1 some cell failed (run) or a regression (compare);\n"
            "2 usage, config or input error, or a row could not be written; 3 the sweep\n"
            "finished but its report failed; 128+N stopped by signal N (run again to resume)\n"
            "\n"
            "files, found relative to this executable (an installed tree can be moved):\n");
    print_dirs(f);
    fprintf(f,
            "writing a method: the headers <ecbench/method.h> and <ecbench/ecbmath.h> and\n"
            "the toolkit library come with `pkg-config --cflags --libs ecbench-plugin`;\n"
            "put the plugin in a directory of ECBENCH_METHODS_PATH (or the plugins\n"
            "directory above) and check it with `ecbench check-plugin`\n");
}

static int die(int code, const char *what)
{
    fprintf(stderr, "ecbench: error: %s%s%s\n", what ? what : "", what ? ": " : "", ecb_last_error());
    return code;
}

static int cmd_run(int argc, char **argv)
{
    ecb_run_opts o = {0};
    int no_report = 0;
    static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                       {"trec-run", no_argument, 0, 't'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"no-report", no_argument, 0, 'n'},
                                       {"part", required_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o.output = optarg; break;
        case 't': o.trec_run = 1; break;
        case 'q': o.quiet = 1; break;
        case 'n': no_report = 1; break;
        case 'p':
            if (ecb_part_parse(optarg, &o.part, &o.nparts)) return die(2, "run");
            break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "ecbench: error: run: unknown option (see ecbench help)\n"); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ecbench: error: run: expected exactly one CONFIG file, got %d arguments\n",
                argc - optind);
        return 2;
    }
    o.config_path = argv[optind];
    if (o.quiet) ecb_log_level = ECB_LOG_WARN;
    if (ecb_mpi_init(&argc, &argv)) return die(2, "run");
    if (ecb_mpi_rank() != 0) { /* a worker: rank 0 speaks (the data's warnings once) and reports */
        ecb_log_level = ECB_LOG_ERROR;
        ecb_run_summary sum = {0};
        int rc = ecb_run(&o, &sum);
        free(sum.dir);
        ecb_mpi_finalize();
        return rc < 0 ? 2 : rc;
    }
    ecb_run_summary sum = {0};
    int rc = ecb_run(&o, &sum);
    ecb_mpi_finalize();
    if (rc < 0) {
        free(sum.dir);
        return die(2, NULL);
    }
    /* A sweep that finished (some cells may have failed) gets its report; a
     * report that fails is a failed run (exit 3), whatever the cells did. */
    if (!no_report && !sum.interrupted) {
        if (ecb_report_build(sum.dir, o.quiet) != 0) {
            fprintf(stderr, "ecbench: error: report: %s\n", ecb_last_error());
            free(sum.dir);
            return 3;
        }
    }
    if (!o.quiet && !sum.interrupted)
        fprintf(stderr, "ecbench: done: %zu ok, %zu skipped, %zu failed, %zu resumed; results in "
                "%s/results.csv\n", sum.ok, sum.skipped, sum.failed, sum.resumed, sum.dir);
    free(sum.dir);
    return rc;
}

static int cmd_merge(int argc, char **argv)
{
    ecb_merge_opts o = {0};
    static const struct option lo[] = {{"allow-partial", no_argument, 0, 'a'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
        switch (c) {
        case 'a': o.allow_partial = 1; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "ecbench: error: merge: unknown option (see ecbench help)\n"); return 2;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "ecbench: error: merge: usage: ecbench merge OUT DIR... [--allow-partial]\n");
        return 2;
    }
    o.out = argv[optind];
    o.dirs = (const char *const *)argv + optind + 1;
    o.ndirs = (size_t)(argc - optind - 1);
    if (ecb_merge(&o)) return die(2, NULL);
    return 0;
}

static int parse_count(const char *opt, const char *s, size_t *out)
{
    char *e;
    unsigned long v = strtoul(s, &e, 10);
    if (e == s || *e || v < 1 || v > 1000000 || s[0] == '-') {
        fprintf(stderr, "ecbench: error: plan: %s: expected a count 1..1000000, got \"%s\"\n", opt, s);
        return 2;
    }
    *out = v;
    return 0;
}

static int cmd_plan(int argc, char **argv)
{
    ecb_plan_opts o = {0};
    static const struct option lo[] = {{"ranks", required_argument, 0, 'r'},
                                       {"ranks-per-node", required_argument, 0, 'p'},
                                       {"calibrate", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    char *e;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'r': if (parse_count("--ranks", optarg, &o.ranks)) return 2; break;
        case 'p': if (parse_count("--ranks-per-node", optarg, &o.ranks_per_node)) return 2; break;
        case 'c':
            o.calibrate_s = strtod(optarg, &e);
            if (e == optarg || *e || !(o.calibrate_s > 0 && o.calibrate_s <= 60)) {
                fprintf(stderr, "ecbench: error: plan: --calibrate: expected seconds in (0, 60], "
                        "got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "ecbench: error: plan: unknown option (see ecbench help)\n"); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ecbench: error: plan: expected exactly one CONFIG file, got %d arguments\n",
                argc - optind);
        return 2;
    }
    o.config_path = argv[optind];
    if (o.ranks_per_node > (o.ranks ? o.ranks : 1)) {
        fprintf(stderr, "ecbench: error: plan: --ranks-per-node %zu is more than --ranks %zu\n",
                o.ranks_per_node, o.ranks ? o.ranks : 1);
        return 2;
    }
    if (ecb_plan(&o)) return die(2, "plan");
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    const char *params_of = NULL;
    if (argc == 3 && strcmp(argv[1], "--params") == 0) params_of = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "ecbench: error: list: usage: ecbench list [--params METHOD]\n");
        return 2;
    }
    ecb_registry *r;
    if (ecb_registry_load_default(&r)) return die(2, "list");
    int rc = 0;
    if (params_of) {
        const ecb_plugin *p = ecb_registry_find(r, params_of);
        if (!p) rc = die(2, "list");
        else {
            printf("%s: %s\n", p->vt.name, p->vt.summary ? p->vt.summary : "");
            printf("  kind: %s%s%s%s%s\n", (p->vt.flags & ECB_METHOD_TRANSFORM) ? "transform" : "quantizer",
                   (p->vt.flags & ECB_METHOD_NEEDS_TRAIN) ? ", trained" : "",
                   (p->vt.flags & ECB_METHOD_SYMMETRIC) ? ", symmetric" : "",
                   (p->vt.flags & ECB_METHOD_ASYMMETRIC) ? ", asymmetric" : "",
                   (p->vt.flags & ECB_METHOD_DECODE) ? ", decode" : "");
            printf("  file: %s\n  parameters:\n", p->path);
            ecb_params_help(stdout, p->vt.params);
        }
    } else {
        for (size_t i = 0; i < r->n; i++) {
            const ecb_plugin *p = &r->items[i];
            if (p->rejected) continue;
            printf("%-12s %-9s %s\n", p->vt.name,
                   (p->vt.flags & ECB_METHOD_TRANSFORM) ? "transform" : "quantizer",
                   p->vt.summary ? p->vt.summary : "");
        }
        for (size_t i = 0; i < r->n; i++)
            if (r->items[i].rejected) {
                fprintf(stderr, "ecbench: rejected plugin: %s\n", r->items[i].reason);
                rc = 1;
            }
        if (r->n == 0) {
            fprintf(stderr, "ecbench: error: no plugins found (build them, or set ECBENCH_METHODS_PATH)\n");
            rc = 2;
        }
    }
    ecb_registry_free(r);
    return rc;
}

static int cmd_check_plugin(int argc, char **argv)
{
    unsigned timeout_s = 300;
    static const struct option lo[] = {{"timeout", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || v == 0 || v > 86400 || optarg[0] == '-') {
                fprintf(stderr, "ecbench: error: check-plugin: --timeout: expected seconds in "
                        "1..86400, got \"%s\"\n", optarg);
                return 2;
            }
            timeout_s = (unsigned)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "ecbench: error: check-plugin: unknown option (see ecbench help)\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ecbench: error: check-plugin: expected one or more PLUGIN.so files\n");
        return 2;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        if (i > optind) putchar('\n');
        if (ecb_check_plugin(argv[i], timeout_s, stdout) != 0) rc = 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ecbench %s (%s), plugin ABI %u%s\n", ECB_VERSION, ECB_GIT_COMMIT,
               ECB_METHOD_ABI_VERSION, ecb_mpi_built() ? ", Open MPI" : "");
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0) return cmd_list(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0) return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "plan") == 0) return cmd_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return ecb_cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "compare") == 0) return ecb_cmd_compare(argc - 1, argv + 1);
    if (strcmp(cmd, "check-plugin") == 0) return cmd_check_plugin(argc - 1, argv + 1);
    fprintf(stderr, "ecbench: error: unknown command \"%s\" (see ecbench help)\n", cmd);
    return 2;
}
