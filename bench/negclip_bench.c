/*
 * negclip_bench.c — throughput of the negCLIPLoss similarity kernel against this machine's
 * measured fp32 FMA peak (bench/README.md "Filtering").
 *
 *   build/bench_negclip [--pairs N] [--dim D] [--batch B] [--threads T] [--reps R]
 *
 * Builds N random pairs in memory (N = B: one batch; the cost of a batch is 2*B^2*D flops in
 * the similarity GEMM plus one exp per element), runs jaclip_score_negclip R times and the FMA
 * probe (same as bench/fma_peak.c) between runs, so both see the same machine state on a
 * shared VM; prints best and median of each and the ratio kernel/peak. The full 1,000,000-pair
 * run is bench/negclip_full.sh (through the CLI, memory-mapped inputs).
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tasks/score.h"

#define ITERS 4000000L
static volatile float sink;

__attribute__((target("avx2,fma"))) static double probe_avx2(void)
{
    __m256 c[12], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) c[j] = _mm256_set1_ps(1);
    for (long i = 0; i < ITERS; i++) {
        c[0] = _mm256_fmadd_ps(c[0], a, b); c[1] = _mm256_fmadd_ps(c[1], a, b);
        c[2] = _mm256_fmadd_ps(c[2], a, b); c[3] = _mm256_fmadd_ps(c[3], a, b);
        c[4] = _mm256_fmadd_ps(c[4], a, b); c[5] = _mm256_fmadd_ps(c[5], a, b);
        c[6] = _mm256_fmadd_ps(c[6], a, b); c[7] = _mm256_fmadd_ps(c[7], a, b);
        c[8] = _mm256_fmadd_ps(c[8], a, b); c[9] = _mm256_fmadd_ps(c[9], a, b);
        c[10] = _mm256_fmadd_ps(c[10], a, b); c[11] = _mm256_fmadd_ps(c[11], a, b);
    }
    float o[8];
    __m256 s = c[0];
    for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, c[j]);
    _mm256_storeu_ps(o, s);
    sink = o[0];
    return 12.0 * 16 * ITERS;
}

__attribute__((target("avx512f"))) static double probe_avx512(void)
{
    __m512 c[12], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) c[j] = _mm512_set1_ps(1);
    for (long i = 0; i < ITERS; i++) {
        c[0] = _mm512_fmadd_ps(c[0], a, b); c[1] = _mm512_fmadd_ps(c[1], a, b);
        c[2] = _mm512_fmadd_ps(c[2], a, b); c[3] = _mm512_fmadd_ps(c[3], a, b);
        c[4] = _mm512_fmadd_ps(c[4], a, b); c[5] = _mm512_fmadd_ps(c[5], a, b);
        c[6] = _mm512_fmadd_ps(c[6], a, b); c[7] = _mm512_fmadd_ps(c[7], a, b);
        c[8] = _mm512_fmadd_ps(c[8], a, b); c[9] = _mm512_fmadd_ps(c[9], a, b);
        c[10] = _mm512_fmadd_ps(c[10], a, b); c[11] = _mm512_fmadd_ps(c[11], a, b);
    }
    sink = _mm512_reduce_add_ps(c[0]) + _mm512_reduce_add_ps(c[11]);
    return 12.0 * 32 * ITERS;
}

static int wide; /* the kernel's ISA decides which probe is fair */
static void *probe_thread(void *arg)
{
    *(double *)arg = wide ? probe_avx512() : probe_avx2();
    return NULL;
}

#include <time.h>
/* CPU seconds of the whole process: on a shared VM other tenants steal wall time from both
 * the probe and the kernel; flops per CPU-second compare the two fairly. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double probe(int nt, double *cpu_rate)
{
    pthread_t th[64];
    double fl[64], total = 0, t0 = jc_now(), c0 = cpu_now();
    for (int t = 0; t < nt; t++) pthread_create(&th[t], NULL, probe_thread, &fl[t]);
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        total += fl[t];
    }
    *cpu_rate = total / (cpu_now() - c0) * 1e-9;
    return total / (jc_now() - t0) * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long n = 16384, dim = 256, batch = 0, threads = 0, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--pairs")) n = v;
        else if (!strcmp(argv[i], "--dim")) dim = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--reps")) reps = v;
    }
    if (batch <= 0) batch = n;
    if (reps < 1 || reps > 100) reps = 5;
    const char *kname = jc_score_kernel_name();
    wide = strcmp(kname, "avx512") == 0;
    if (strcmp(kname, "scalar") == 0) {
        fprintf(stderr, "bench_negclip: no SIMD kernel on this CPU\n");
        return 1;
    }
    jaclip_pool *pool;
    jaclip_err err = {0};
    if (jaclip_pool_create((int)threads, &pool, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    int nt = jaclip_pool_size(pool);
    float *I = malloc((size_t)n * dim * 4), *T = malloc((size_t)n * dim * 4), *out = malloc((size_t)n * 4);
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < (size_t)n * dim; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        I[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        T[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    jaclip_emb_view vi = {I, n, (int)dim, JACLIP_F32, "I"}, vt = {T, n, (int)dim, JACLIP_F32, "T"};
    jaclip_negclip_params p = jaclip_negclip_default_params();
    p.batch = batch;
    p.repeats = 1;
    p.pool = pool;
    long nb = (n + batch - 1) / batch;
    double flops = 0;
    for (long k = 0; k < nb; k++) {
        double b = (double)(jc_batch_start(n, nb, k + 1) - jc_batch_start(n, nb, k));
        flops += 2.0 * b * b * dim;
    }
    double *gk = calloc(reps, sizeof *gk), *gp = calloc(reps, sizeof *gp);
    double *ck = calloc(reps, sizeof *ck), *cp = calloc(reps, sizeof *cp);
    for (long r = 0; r < reps; r++) {
        gp[r] = probe(nt, &cp[r]);
        double t0 = jc_now(), c0 = cpu_now();
        if (jaclip_score_negclip(&vi, &vt, &p, out, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        gk[r] = flops / (jc_now() - t0) * 1e-9;
        ck[r] = flops / (cpu_now() - c0) * 1e-9;
    }
    qsort(gk, reps, sizeof *gk, cmp_d);
    qsort(gp, reps, sizeof *gp, cmp_d);
    qsort(ck, reps, sizeof *ck, cmp_d);
    qsort(cp, reps, sizeof *cp, cmp_d);
    printf("negCLIPLoss kernel %s, %ld pairs, D=%ld, B=%ld, %d threads, %ld runs\n", kname, n, dim, batch, nt, reps);
    printf("  similarity kernel (2*b^2*D flops per batch, LSE included in the time): best %.1f  median %.1f GFLOP/s\n",
           gk[reps - 1], gk[reps / 2]);
    printf("  fp32 FMA peak probe (%s, %d threads):                              best %.1f  median %.1f GFLOP/s\n",
           wide ? "zmm" : "ymm", nt, gp[reps - 1], gp[reps / 2]);
    printf("  ratio: best/best %.1f%%  median/median %.1f%%\n", 100 * gk[reps - 1] / gp[reps - 1],
           100 * gk[reps / 2] / gp[reps / 2]);
    printf("  per CPU-second (immune to time slicing): kernel best %.1f median %.1f, peak best %.1f median %.1f"
           " GFLOP/s per core -> %.1f%% / %.1f%%\n", ck[reps - 1], ck[reps / 2], cp[reps - 1], cp[reps / 2],
           100 * ck[reps - 1] / cp[reps - 1], 100 * ck[reps / 2] / cp[reps / 2]);
    free(ck);
    free(cp);
    free(I);
    free(T);
    free(out);
    free(gk);
    free(gp);
    jaclip_pool_free(pool);
    return 0;
}
