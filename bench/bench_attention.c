/*
 * bench_attention.c — time of attention_forward on the towers' shapes: the EVA02 image tower
 * (197 tokens, 12 heads of 64) at batch 1 and 8, and BERT-base text segments (12 heads of 64)
 * of 16 and 77 tokens at batch 8. Best and median of `reps` calls each, after one warm-up;
 * q, k, v as the tower has them (one (T, 768) matrix each). With `cold` each call gets the
 * next of 8 sets of q, k, v, out (over 100 MB at batch 8), so it reads them from memory
 * rather than from a warm L3 — closer to the towers, where they come out of a GEMM that
 * streamed its weights in between. The kernel follows JACLIP_GEMM.
 * usage: build/bench_attention [threads [reps [cold]]]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 30;
    int nset = argc > 3 && strcmp(argv[3], "cold") == 0 ? 8 : 1;
    if (reps < 1 || reps > 10000) reps = 30;
    jaclip_pool *pool = NULL;
    jaclip_err err;
    if (jaclip_pool_create(threads, &pool, &err)) return 1;
    static const int shapes[][2] = {{197, 1}, {197, 8}, {16, 8}, {77, 8}}; /* tokens, batch */
    const int H = 12, hd = 64, C = H * hd;
    printf("attention_forward, kernel %s, %d threads, H=%d hd=%d, %d calls each%s\n", gemm_kernel_name(),
           jaclip_pool_size(pool), H, hd, reps, nset > 1 ? ", cold (8 sets of q, k, v, out)" : "");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int L = shapes[s][0], B = shapes[s][1], T = L * B, seg[9];
        for (int b = 0; b <= B; b++) seg[b] = b * L;
        size_t n = (size_t)T * C;
        float *buf = malloc(n * 4 * 4 * nset);
        float *scratch = malloc((size_t)jaclip_pool_size(pool) * attention_scratch_floats(L, hd) * 4);
        double *t = malloc(sizeof(double) * reps);
        if (!buf || !scratch || !t) return 1;
        for (size_t i = 0; i < n * 4 * nset; i++) buf[i] = sinf((float)(i % (4 * n)) * 0.37f);
        for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
            float *q = buf + (size_t)4 * n * ((r + 1) % nset), *k = q + n, *v = k + n, *o = v + n;
            double t0 = jc_now();
            attention_forward(pool, o, q, k, v, seg, B, H, hd, 0.125f, scratch, L);
            if (r >= 0) t[r] = jc_now() - t0;
        }
        qsort(t, reps, sizeof(double), cmp);
        double fl = 4.0 * B * H * hd * (double)L * L;
        printf("L=%3d batch %d: best %7.3f ms, median %7.3f ms, %6.1f GFLOP/s (best)\n", L, B, t[0] * 1e3,
               t[reps / 2] * 1e3, fl / t[0] * 1e-9);
        free(buf), free(scratch), free(t);
    }
    jaclip_pool_free(pool);
    return 0;
}
