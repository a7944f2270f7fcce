/*
 * bench_q8_parts.c — int8 fused products (matmul_q8_forward_parts: q/k/v or fc1 gate/value as
 * one product, activations quantized once) against the same parts as separate
 * matmul_q8_forward calls, on the model's shapes (EVA02 batch 8 = 1576 tokens; BERT texts of
 * 16 tokens, batch 8 and 1). The two are timed alternately, best of many rounds, so that a
 * noisy machine disturbs both alike. bench/README.md "Speed" has the numbers.
 * usage: build/bench_q8_parts [threads] [rounds]   (JACLIP_GEMM=... picks a lower kernel)
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "kernels/gemm.h"

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 15;
    jaclip_pool *pool = NULL;
    jaclip_err err;
    if (jaclip_pool_create(threads, &pool, &err)) return 1;
    static const struct {
        const char *what;
        int M, K, N, parts;
    } shapes[] = {{"image q/k/v, batch 8", 1576, 768, 768, 3},
                  {"image fc1 gate/value, batch 8", 1576, 768, 2048, 2},
                  {"text q/k/v, 8 x 16 tokens", 128, 768, 768, 3},
                  {"text q/k/v, 1 x 16 tokens", 16, 768, 768, 3}};
    printf("kernel %s, %d threads, best of %d rounds\n", gemm_kernel_name(), jaclip_pool_size(pool), rounds);
    printf("%-30s %10s %10s %8s\n", "shape", "separate", "fused", "speed-up");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s].M, K = shapes[s].K, N = shapes[s].N, P = shapes[s].parts;
        float *a = malloc((size_t)M * K * 4), *w[GEMM_MAX_PARTS], *o[GEMM_MAX_PARTS];
        const float *ws[GEMM_MAX_PARTS], *bs[GEMM_MAX_PARTS] = {0};
        gemm_q8 q[GEMM_MAX_PARTS], fq;
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7919) % 1000) * 0.002f - 1.0f;
        for (int p = 0; p < P; p++) {
            w[p] = malloc((size_t)N * K * 4), o[p] = malloc((size_t)M * N * 4), ws[p] = w[p];
            for (size_t i = 0; i < (size_t)N * K; i++) w[p][i] = (float)((i * 104729 + p) % 1000) * 0.002f - 1.0f;
            if (!gemm_q8_quantize(pool, &q[p], w[p], N, K)) return 1;
        }
        if (!gemm_q8_quantize_parts(pool, &fq, ws, P, N, K)) return 1;
        double best_sep = 1e30, best_fused = 1e30;
        int reps = M > 500 ? 1 : M > 64 ? 10 : 50;
        for (int r = 0; r <= rounds; r++) { /* round 0 warms up */
            double t = jc_now();
            for (int k = 0; k < reps; k++)
                for (int p = 0; p < P; p++) matmul_q8_forward(pool, o[p], a, &q[p], NULL, M);
            double sep = (jc_now() - t) / reps;
            t = jc_now();
            for (int k = 0; k < reps; k++) matmul_q8_forward_parts(pool, o, a, &fq, bs, M);
            double fused = (jc_now() - t) / reps;
            if (r > 0 && sep < best_sep) best_sep = sep;
            if (r > 0 && fused < best_fused) best_fused = fused;
        }
        printf("%-30s %7.3f ms %7.3f ms %7.2fx  (M=%d K=%d N=%dx%d, fused %.0f GFLOP/s)\n", shapes[s].what,
               best_sep * 1e3, best_fused * 1e3, best_sep / best_fused, M, K, P, N,
               2.0 * M * K * N * P / best_fused * 1e-9);
        for (int p = 0; p < P; p++) gemm_q8_free(&q[p]), free(w[p]), free(o[p]);
        gemm_q8_free(&fq);
        free(a);
    }
    jaclip_pool_free(pool);
    return 0;
}
