#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "common/ecb.h"
#include "harness/ecb_version_gen.h"
#include "harness/env.h"
#include "ecbench/ecbmath.h"

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ') c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, n, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

double ecb_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_maxrss / 1024.0;
}

void ecb_timestamp(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

cJSON *ecb_environment_json(size_t threads)
{
    cJSON *e = cJSON_CreateObject();
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    cJSON_AddStringToObject(e, "cpu", cpu);
    cJSON_AddNumberToObject(e, "cores_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(e, "threads", (double)threads);
    cJSON_AddStringToObject(e, "blas_config", openblas_get_config());
    cJSON_AddStringToObject(e, "blas_core", openblas_get_corename());
    cJSON_AddNumberToObject(e, "blas_threads", openblas_get_num_threads());
    cJSON_AddStringToObject(e, "popcount_kernel", ecb_popcount_kernel());
    cJSON_AddStringToObject(e, "compiler", "gcc-compatible " __VERSION__);
    cJSON_AddStringToObject(e, "ecbench_version", ECB_VERSION);
    cJSON_AddStringToObject(e, "git_commit", ECB_GIT_COMMIT);
    struct utsname u;
    if (uname(&u) == 0) {
        char os[600];
        snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        cJSON_AddStringToObject(e, "os", os);
        cJSON_AddStringToObject(e, "hostname", u.nodename);
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    cJSON_AddStringToObject(e, "OPENBLAS_CORETYPE", ct ? ct : "");
    return e;
}

void ecb_environment_line(char *buf, size_t n, size_t threads)
{
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    snprintf(buf, n, "%s | OpenBLAS %s core %s | %zu threads | popcount %s", cpu,
             openblas_get_config(), openblas_get_corename(), threads, ecb_popcount_kernel());
}
