/*
 * bench_gemm.c — GFLOP/s of matmul_forward on the shapes of the EVA02 / BERT towers
 * (4 images = 788 tokens; one 12-token text), per kernel (JACLIP_GEMM=portable|avx2|avx512).
 * usage: build/bench_gemm [threads]
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "kernels/gemm.h"

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    jaclip_pool *pool = NULL;
    jaclip_err err;
    if (jaclip_pool_create(threads, &pool, &err)) return 1;
    static const int shapes[][3] = {{788, 768, 768}, {788, 768, 2048}, {788, 2048, 768}, {12, 768, 3072}, {12, 3072, 768}};
    printf("kernel %s, %d threads\n", gemm_kernel_name(), jaclip_pool_size(pool));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *o = malloc((size_t)M * N * 4);
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i % 5) * 0.1f;
        int reps = M > 100 ? 5 : 200;
        matmul_forward(pool, o, a, w, NULL, M, K, N);
        double t = jc_now();
        for (int r = 0; r < reps; r++) matmul_forward(pool, o, a, w, NULL, M, K, N);
        t = (jc_now() - t) / reps;
        printf("M=%4d K=%4d N=%4d  %8.3f ms  %6.1f GFLOP/s\n", M, K, N, t * 1e3, 2.0 * M * K * N / t * 1e-9);
        free(a), free(w), free(o);
    }
    jaclip_pool_free(pool);
    return 0;
}
