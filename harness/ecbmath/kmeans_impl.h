/*
 * What the two halves of k-means share inside the toolkit (not installed):
 * the assignment pass (kmeans_assign.c) and the Lloyd driver with its
 * initialisation (kmeans.c).
 */
#ifndef ECB_KMEANS_IMPL_H
#define ECB_KMEANS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "ecbench/ecbmath.h"

#if defined(__x86_64__) || defined(__i386__)
#define ECB_KM_X86 1
#endif

enum {
    /* up to this dimension the direct kernel (no sgemm) assigns points */
    ECB_KM_DIRECT_MAX_D = 32,
    ECB_KM_BLOCK_POINTS = 256,
    ECB_KM_BLOCK_CENTROIDS = 1024,
    /* points per task of a pass: a multiple of 8 and of the block size;
     * below this a thread costs more than it saves */
    ECB_KM_TASK_POINTS = 2048,
};

/* Everything an assignment pass needs, shared read-only by the workers. */
typedef struct ecb_km_job {
    const float *x;
    size_t n, d;
    const float *c;   /* k x d centroids */
    const float *m2c; /* k x d, -2 * centroids (direct kernel) */
    const float *cn;  /* k squared norms */
    size_t k;
    uint32_t *assign;
    float *dist; /* may be NULL */
    int use_avx2;
} ecb_km_job;

/* ECBENCH_CPU=generic (ecb_cpu) selects the portable kernels, so that tests
 * cover them on machines with AVX2 too. */
static inline int ecb_km_avx2(void)
{
#ifdef ECB_KM_X86
    return ecb_cpu()->avx2 && ecb_cpu()->fma;
#else
    return 0;
#endif
}

/* Precompute -2c and ||c||^2 for the kernels. */
void ecb_km_prep_centroids(const float *c, size_t k, size_t d, float *m2c, float *cn);
/* Assign every point of job (m2c and cn filled) with up to `threads`
 * workers; the same bits for any thread count. */
int ecb_km_assign_pass(ecb_km_job *job, size_t threads);

#endif
