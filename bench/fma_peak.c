/*
 * fma_peak.c — measures this machine's fp32 FMA peak (GFLOP/s), the yardstick of the
 * negCLIPLoss similarity kernel (bench/README.md "Filtering"). Each thread runs a loop of
 * independent vfmadd231ps chains (12 accumulators, enough to hide the FMA latency on two
 * FMA pipes) for the widest ISA the CPU has; best of several runs, for 1 and for all threads.
 *
 *   build/bench_fma_peak [threads]
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITERS 20000000L

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile float sink;

#define CHAINS(V, FMA, ZERO, SET1, ADD, STORE, W)                                              \
    V c0 = SET1(1), c1 = SET1(1), c2 = SET1(1), c3 = SET1(1), c4 = SET1(1), c5 = SET1(1);       \
    V c6 = SET1(1), c7 = SET1(1), c8 = SET1(1), c9 = SET1(1), c10 = SET1(1), c11 = SET1(1);     \
    V a = SET1(0.999999f), b = SET1(1e-7f);                                                      \
    for (long i = 0; i < ITERS; i++) {                                                           \
        c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);         \
        c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);         \
        c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);     \
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5));      \
    }                                                                                            \
    V s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                   \
    s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));                                                \
    float o[W];                                                                                  \
    STORE(o, s);                                                                                 \
    sink = o[0];                                                                                 \
    return 12.0 * 2 * W * ITERS;

__attribute__((target("avx2,fma"))) static double run_avx2(void)
{
    CHAINS(__m256, _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}

__attribute__((target("avx512f"))) static double run_avx512(void)
{
    CHAINS(__m512, _mm512_fmadd_ps, _mm512_setzero_ps, _mm512_set1_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}

static int use512;
static void *worker(void *arg)
{
    double *flops = arg;
    *flops = use512 ? run_avx512() : run_avx2();
    return NULL;
}

static double measure(int nt)
{
    pthread_t th[256];
    double fl[256];
    double t0 = now();
    for (int t = 0; t < nt; t++) pthread_create(&th[t], NULL, worker, &fl[t]);
    double total = 0;
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        total += fl[t];
    }
    return total / (now() - t0) * 1e-9;
}

int main(int argc, char **argv)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2+FMA; nothing to measure\n");
        return 1;
    }
    use512 = __builtin_cpu_supports("avx512f");
    int nt = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1 || nt > 256) nt = 1;
    for (int pass = 0; pass < 2; pass++) {
        int threads = pass == 0 ? 1 : nt;
        double best = 0;
        for (int r = 0; r < 5; r++) {
            double g = measure(threads);
            if (g > best) best = g;
        }
        printf("fp32 FMA peak (%s): %d thread%s: %.1f GFLOP/s\n", use512 ? "zmm AVX-512" : "ymm AVX2", threads,
               threads > 1 ? "s" : "", best);
        if (nt == 1) break;
    }
    return 0;
}
