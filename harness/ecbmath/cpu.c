/*
 * The one place that looks at the CPU. Kernels are written once per
 * instruction set (compiled with __attribute__((target)) since the build has
 * no -march=native) and each caller picks its variant from these flags, read
 * once per process (per plugin, since each plugin links its own copy of the
 * toolkit), as FAISS's sq-dispatch.h picks its SIMD level once.
 *
 * ECBENCH_CPU=generic|popcnt|avx2|avx512 caps the level: every feature above
 * it reads as absent, so tests and benchmarks can run the portable kernels
 * (or the AVX2 ones on an AVX-512 machine) and compare them bit for bit. A
 * level above what the CPU has changes nothing. An unknown value is not
 * silently ignored: it is reported on stderr and in env_error, and the
 * detected level is used.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ECB_CPU_X86 1
#else
#define ECB_CPU_X86 0
#endif

#include "ecbench/ecbmath.h"

static const char *const level_names[] = {"generic", "popcnt", "avx2", "avx512"};

static ecb_cpu_features cpu;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static char env_msg[160];

static void cpu_detect(ecb_cpu_features *c)
{
#if ECB_CPU_X86
    __builtin_cpu_init();
    c->popcnt = __builtin_cpu_supports("popcnt") != 0;
    c->avx = __builtin_cpu_supports("avx") != 0;
    /* clang 14 does not know "f16c" in __builtin_cpu_supports: CPUID.1:ECX */
    unsigned a, b, cx, d;
    c->f16c = c->avx && __get_cpuid(1, &a, &b, &cx, &d) && (cx & bit_F16C) != 0;
    c->fma = __builtin_cpu_supports("fma") != 0;
    c->avx2 = __builtin_cpu_supports("avx2") != 0;
    c->avx512f = __builtin_cpu_supports("avx512f") != 0;
    c->avx512bw = __builtin_cpu_supports("avx512bw") != 0;
    c->avx512vpopcntdq = __builtin_cpu_supports("avx512vpopcntdq") != 0;
#else
    (void)c;
#endif
}

/* The highest level whose features are all present. */
static ecb_cpu_level cpu_level(const ecb_cpu_features *c)
{
    if (!c->popcnt) return ECB_CPU_GENERIC;
    if (!(c->avx && c->f16c && c->fma && c->avx2)) return ECB_CPU_POPCNT;
    if (!(c->avx512f && c->avx512bw)) return ECB_CPU_AVX2;
    return ECB_CPU_AVX512;
}

/* Clear every feature above level l. */
static void cpu_cap(ecb_cpu_features *c, ecb_cpu_level l)
{
    if (l < ECB_CPU_AVX512) c->avx512f = c->avx512bw = c->avx512vpopcntdq = 0;
    if (l < ECB_CPU_AVX2) c->avx = c->f16c = c->fma = c->avx2 = 0;
    if (l < ECB_CPU_POPCNT) c->popcnt = 0;
}

static void cpu_init(void)
{
    ecb_cpu_features c;
    memset(&c, 0, sizeof c);
    cpu_detect(&c);
    const char *env = getenv("ECBENCH_CPU");
    if (env && *env) {
        int l = -1;
        for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
            if (strcmp(env, level_names[i]) == 0) l = i;
        if (l >= 0) {
            cpu_cap(&c, (ecb_cpu_level)l);
        } else {
            snprintf(env_msg, sizeof env_msg,
                     "ECBENCH_CPU='%.40s' is not one of generic, popcnt, avx2, avx512", env);
            c.env_error = env_msg;
            fprintf(stderr, "ecbench: %s; using the detected level\n", env_msg);
        }
    }
    c.level = cpu_level(&c);
    c.name = level_names[c.level];
    cpu = c;
}

const ecb_cpu_features *ecb_cpu(void)
{
    pthread_once(&cpu_once, cpu_init);
    return &cpu;
}
