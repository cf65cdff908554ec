/* Helpers shared by the bench drivers that load the built plugins: set a
 * method's parameters from strings, its defaults, and a seeded clustered
 * corpus (32 Gaussian clusters, the shape the scan benchmarks use). */
#ifndef ECB_BENCH_PLUGINS_H
#define ECB_BENCH_PLUGINS_H

#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

/* Set the parameter name of tab in buf from its text; 0, or -1 when the
 * name or value is unknown. */
static inline int bench_set_param(const ecb_param *tab, void *buf, const char *name,
                                  const char *val)
{
    for (const ecb_param *p = tab; p && p->name; p++) {
        if (strcmp(p->name, name)) continue;
        char *f = (char *)buf + p->offset;
        switch (p->type) {
        case ECB_PARAM_SIZE: { size_t v = strtoull(val, NULL, 10); memcpy(f, &v, sizeof v); return 0; }
        case ECB_PARAM_INT: { int64_t v = strtoll(val, NULL, 10); memcpy(f, &v, sizeof v); return 0; }
        case ECB_PARAM_DOUBLE: { double v = strtod(val, NULL); memcpy(f, &v, sizeof v); return 0; }
        case ECB_PARAM_BOOL: { int v = atoi(val); memcpy(f, &v, sizeof v); return 0; }
        case ECB_PARAM_ENUM:
            for (int i = 0; p->enum_values && p->enum_values[i]; i++)
                if (!strcmp(p->enum_values[i], val)) { memcpy(f, &i, sizeof i); return 0; }
            return -1;
        default: return -1;
        }
    }
    return -1;
}

static inline void bench_set_defaults(const ecb_param *tab, void *buf)
{
    for (const ecb_param *p = tab; p && p->name; p++) {
        char *f = (char *)buf + p->offset;
        switch (p->type) {
        case ECB_PARAM_SIZE: memcpy(f, &p->def.u, sizeof p->def.u); break;
        case ECB_PARAM_INT: memcpy(f, &p->def.i, sizeof p->def.i); break;
        case ECB_PARAM_DOUBLE: memcpy(f, &p->def.d, sizeof p->def.d); break;
        default: memcpy(f, &p->def.b, sizeof p->def.b); break;
        }
    }
}

/* n x d floats around 32 Gaussian centres (noise 0.7), seeded; malloc'ed. */
static inline float *bench_clustered(size_t n, size_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x), *c = malloc(32 * d * sizeof *c);
    if (!x || !c) { free(x); free(c); return NULL; }
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t i = 0; i < 32 * d; i++) c[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        size_t k = ecb_rng_below(&r, 32);
        for (size_t t = 0; t < d; t++)
            x[i * d + t] = c[k * d + t] + 0.7f * (float)ecb_rng_normal(&r);
    }
    free(c);
    return x;
}

/* given when not NULL, else the plugin directory beside the bench
 * executable (build/bench/X -> build/methods) written into buf; NULL (with
 * a message on stderr) when the executable cannot be found. */
static inline const char *bench_methods_dir(const char *given, char *buf, size_t size)
{
    if (given) return given;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        fprintf(stderr, "cannot locate the executable; pass --methods\n");
        return NULL;
    }
    exe[len] = 0;
    snprintf(buf, size, "%s/../methods", dirname(exe));
    return buf;
}

#endif
