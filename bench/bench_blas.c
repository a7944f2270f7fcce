/*
 * bench_blas.c — jaclip's matmul_forward against the BLAS libraries in Debian on the
 * model's GEMM shapes (out = inp · Wᵀ, row-major): OpenBLAS and BLIS through their
 * cblas_sgemm, oneDNN through dnnl_sgemm, each loaded with dlopen so that one binary
 * measures all of them (a library that is not installed is reported as such).
 * Timing: best of RUNS wall-clock runs after a warm-up; GFLOP/s.
 *
 * usage: build/bench_blas LIB THREADS [RUNS] [SHAPES]
 *   LIB = jaclip | jaclip-packed | openblas | blis | onednn
 *   SHAPES = plain (default: the table's six shapes) | model (the products the engine runs:
 *   fused q/k/v and fc1, image batch 8, texts of 16 tokens at batch 8 and 1) | text8 (the four
 *   products of a batch of 8 16-token texts, each timed over 12 different weight copies, as
 *   the 12 layers stream them from memory: the model's situation, not a hot-cache one)
 * Threads: jaclip uses its pool; for the libraries set OPENBLAS_NUM_THREADS,
 * BLIS_NUM_THREADS or OMP_NUM_THREADS (bench/blas.sh does).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/gemm.h"

typedef void (*cblas_sgemm_fn)(int layout, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc);
typedef int (*dnnl_sgemm_fn)(char ta, char tb, long M, long N, long K, float alpha, const float *A, long lda,
                             const float *B, long ldb, float beta, float *C, long ldc);

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_blas jaclip|jaclip-packed|openblas|blis|onednn THREADS [RUNS] [plain|model|text8]\n");
        return 2;
    }
    const char *lib = argv[1];
    int threads = atoi(argv[2]), runs = argc > 3 ? atoi(argv[3]) : 5;
    bool model = argc > 4 && strcmp(argv[4], "model") == 0, text8 = argc > 4 && strcmp(argv[4], "text8") == 0;
    if (argc > 4 && !model && !text8 && strcmp(argv[4], "plain") != 0) {
        fprintf(stderr, "bench_blas: unknown shape set '%s' (plain, model or text8)\n", argv[4]);
        return 2;
    }
    if (threads < 1 || runs < 1) {
        fprintf(stderr, "bench_blas: THREADS and RUNS must be positive numbers\n");
        return 2;
    }
    cblas_sgemm_fn cb = NULL;
    dnnl_sgemm_fn dn = NULL;
    jaclip_pool *pool = NULL;
    jaclip_err err;
    bool packed = strcmp(lib, "jaclip-packed") == 0; /* weights packed once, as the models do at load */
    if (strcmp(lib, "jaclip") == 0 || packed) {
        if (jaclip_pool_create(threads, &pool, &err)) return 1;
    } else {
        const char *so = strcmp(lib, "openblas") == 0 ? "libopenblas.so.0"
                         : strcmp(lib, "blis") == 0   ? "libblis.so.4"
                         : strcmp(lib, "onednn") == 0 ? "libdnnl.so.2"
                                                      : NULL;
        if (!so) {
            fprintf(stderr, "bench_blas: unknown library %s\n", lib);
            return 2;
        }
        void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            printf("%s: not installed (%s)\n", lib, dlerror());
            return 0;
        }
        if (strcmp(lib, "onednn") == 0) dn = (dnnl_sgemm_fn)dlsym(h, "dnnl_sgemm");
        else cb = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        if (!dn && !cb) {
            printf("%s: no sgemm symbol\n", lib);
            return 1;
        }
    }
    /* image tower at batch 8 (1576 tokens) and a batch-1 16-token text */
    static const int plain[][3] = {{1576, 768, 768}, {1576, 768, 2048}, {1576, 2048, 768},
                                   {16, 768, 768},   {16, 768, 3072},   {16, 3072, 768}};
    static const int fused[][3] = {{1576, 768, 2304}, {1576, 768, 768}, {1576, 768, 4096}, {1576, 2048, 768},
                                   {128, 768, 2304},  {128, 768, 768},  {128, 768, 3072},  {128, 3072, 768},
                                   {16, 768, 2304},   {16, 768, 3072},  {16, 3072, 768}};
    static const int t8[][3] = {{128, 768, 2304}, {128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}};
    const int(*shapes)[3] = text8 ? t8 : model ? fused : plain;
    size_t nshapes = text8 ? 4 : model ? sizeof fused / sizeof *fused : sizeof plain / sizeof *plain;
    enum { COPIES = 12 };
    int copies = text8 ? COPIES : 1;
    for (size_t s = 0; s < nshapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = jc_malloc_aligned((size_t)M * K * 4), *c = jc_malloc_aligned((size_t)M * N * 4);
        float *w[COPIES] = {0};
        gemm_pw pw[COPIES] = {{0}};
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 17) * 0.01f;
        for (int q = 0; q < copies; q++) {
            w[q] = jc_malloc_aligned((size_t)N * K * 4);
            if (!w[q]) return 1;
            for (size_t i = 0; i < (size_t)N * K; i++) w[q][i] = (float)((i + q) % 13) * 0.01f;
            if (packed && !gemm_pack_w(pool, &pw[q], w[q], N, K)) return 1;
        }
        double best = 1e30;
        /* text8: each run walks all copies, so W comes from memory as in the model (12 layers,
         * 28 MB each); the other sets reuse one copy (the image shapes are compute-bound) */
        for (int r = -1; r < runs; r++) {
            double t = jc_now();
            for (int q = 0; q < copies; q++) {
                if (packed) matmul_packed_forward(pool, c, a, &pw[q], NULL, M);
                else if (pool) matmul_forward(pool, c, a, w[q], NULL, M, K, N);
                else if (cb)
                    cb(101 /*row major*/, 111 /*no trans*/, 112 /*trans*/, M, N, K, 1.0f, a, K, w[q], K, 0.0f, c, N);
                else dn('N', 'T', M, N, K, 1.0f, a, K, w[q], K, 0.0f, c, N);
            }
            t = (jc_now() - t) / copies;
            if (r >= 0 && t < best) best = t;
        }
        printf("%-8s %d thr  M=%5d K=%5d N=%5d  %8.3f ms  %7.1f GFLOP/s\n", lib, threads, M, K, N, best * 1e3,
               2.0 * M * K * N / best / 1e9);
        for (int q = 0; q < copies; q++) gemm_pw_free(&pw[q]), jc_free_aligned(w[q]);
        jc_free_aligned(a), jc_free_aligned(c);
    }
    jaclip_pool_free(pool);
    return 0;
}
