/*
 * bench_search.c — latency, memory and int8 recall of the search index (src/tasks/index.c).
 *
 *   bench_search gen DIR N DIM [i8|f16]  write an index of N random unit vectors (seeded,
 *                                     streamed in 65,536-row segments; int8 or float16 rows)
 *   bench_search run DIR THREADS Q    Q queries (half random directions, half noisy copies of
 *                                     stored rows), top-10; prints median / p95 / max ms,
 *                                     peak RSS of this process vs the index's bytes on disk
 *   bench_search recall F32DIR OTHER Q  recall@10 of an int8/float16 index against exact float32
 *   bench_search retrieval N_IMG CAPS THREADS  time of the retrieval metrics (COCO-5k: 5000 5)
 *
 * The same seed gives the same rows for the f32 and i8 indexes, so recall compares like
 * with like. Run it through bench/search_bench.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tasks/index.h"
#include "tasks/metrics.h"

static uint64_t rng = 88172645463325252ull;
static double gauss(void)
{
    /* xorshift64 + Box-Muller */
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        u[i] = ((rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* row r of the generated data (regenerated deterministically for queries) */
static void gen_row(uint64_t seed, int64_t r, int dim, float *out)
{
    uint64_t save = rng;
    rng = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(r + 1));
    for (int k = 0; k < 3; k++) gauss();
    for (int d = 0; d < dim; d++) out[d] = (float)gauss();
    rng = save;
}

static void make_queries(const char *dir_unused, int64_t n, int dim, int q, float *out)
{
    (void)dir_unused;
    for (int i = 0; i < q; i++) {
        float *x = out + (size_t)i * dim;
        if (i % 2 == 0) {
            for (int d = 0; d < dim; d++) x[d] = (float)gauss();
        } else {
            int64_t r = (int64_t)((i * 7919ull * 104729ull) % (uint64_t)n);
            gen_row(42, r, dim, x);
            jc_normalize_row(x, dim);
            for (int d = 0; d < dim; d++) x[d] += 0.06f * (float)gauss(); /* cos ~ 0.7 to the row */
        }
    }
}

int main(int argc, char **argv)
{
    jaclip_err err = {0};
    if (argc >= 5 && !strcmp(argv[1], "gen")) {
        const char *dir = argv[2];
        int64_t n = atoll(argv[3]);
        int dim = atoi(argv[4]);
        bool i8 = argc > 5 && !strcmp(argv[5], "i8"), f16 = argc > 5 && !strcmp(argv[5], "f16");
        if (jc_index_create(dir, dim, i8 ? JC_INDEX_I8 : f16 ? JC_INDEX_F16 : JC_INDEX_F32, "", &err))
            return fprintf(stderr, "%s\n", err.msg), 1;
        enum { SEG = 65536 };
        float *buf = malloc((size_t)SEG * dim * sizeof(float));
        char **keys = malloc(SEG * sizeof *keys);
        for (int i = 0; i < SEG; i++) keys[i] = malloc(40);
        for (int64_t s0 = 0; s0 < n; s0 += SEG) {
            int64_t m = n - s0 < SEG ? n - s0 : SEG;
            for (int64_t r = 0; r < m; r++) {
                gen_row(42, s0 + r, dim, buf + (size_t)r * dim);
                snprintf(keys[r], 40, "images/%08lld.jpg", (long long)(s0 + r));
            }
            if (jc_index_append(dir, buf, m, dim, (const char *const *)keys, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
            fprintf(stderr, "\r%lld / %lld rows", (long long)(s0 + m), (long long)n);
        }
        fprintf(stderr, "\n");
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "run")) {
        jc_index *ix;
        if (jc_index_open(argv[2], &ix, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        int threads = atoi(argv[3]), q = atoi(argv[4]), dim = jc_index_dim(ix);
        jaclip_pool *pool;
        if (jaclip_pool_create(threads, &pool, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        float *qs = malloc((size_t)q * dim * sizeof(float));
        make_queries(argv[2], jc_index_count(ix), dim, q, qs);
        double *ms = malloc(sizeof(double) * q);
        jc_hit hits[10];
        int nh;
        jc_index_search(ix, qs, 10, pool, hits, &nh, &err); /* warm the page cache */
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        for (int i = 0; i < q; i++) {
            double t0 = jc_now();
            if (jc_index_search(ix, qs + (size_t)i * dim, 10, pool, hits, &nh, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
            ms[i] = (jc_now() - t0) * 1e3;
        }
        getrusage(RUSAGE_SELF, &r1);
        double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
                     (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) * 1e-3;
        qsort(ms, (size_t)q, sizeof *ms, cmp_d);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double rss = (double)ru.ru_maxrss * 1024, bytes = (double)jc_index_file_bytes(ix);
        printf("%s: %lld rows x %d %s, %d threads, %s kernel: median %.1f ms, p95 %.1f ms, max %.1f ms; "
               "CPU %.1f ms/query (all threads); peak RSS %.0f MiB = %.3f x index size (%.0f MiB)\n",
               argv[2], (long long)jc_index_count(ix), dim, jc_index_dtype_name(jc_index_get_dtype(ix)),
               threads, jc_simd_name(jc_simd_level()), ms[q / 2], ms[(int)(q * 0.95)], ms[q - 1], cpu / q, rss / 1048576, rss / bytes,
               bytes / 1048576);
        jaclip_pool_free(pool);
        jc_index_close(ix);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "recall")) {
        jc_index *a, *b;
        if (jc_index_open(argv[2], &a, &err) || jc_index_open(argv[3], &b, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        int q = atoi(argv[4]), dim = jc_index_dim(a);
        jaclip_pool *pool;
        jaclip_pool_create(0, &pool, &err);
        float *qs = malloc((size_t)q * dim * sizeof(float));
        make_queries(argv[2], jc_index_count(a), dim, q, qs);
        int found[2] = {0}, top1[2] = {0};
        for (int i = 0; i < q; i++) {
            jc_hit ha[10], hb[10];
            int na, nb;
            jc_index_search(a, qs + (size_t)i * dim, 10, pool, ha, &na, &err);
            jc_index_search(b, qs + (size_t)i * dim, 10, pool, hb, &nb, &err);
            for (int x = 0; x < 10; x++)
                for (int y = 0; y < 10; y++) found[i % 2] += ha[x].row == hb[y].row;
            top1[i % 2] += ha[0].row == hb[0].row;
        }
        int h = q / 2;
        printf("%s vs f32 over %lld rows x %d: recall@10 %.3f (random queries), %.3f (near-duplicate queries); "
               "top-1 agreement %.3f / %.3f\n",
               jc_index_dtype_name(jc_index_get_dtype(b)), (long long)jc_index_count(a), dim, found[0] / (10.0 * h), found[1] / (10.0 * h), (double)top1[0] / h,
               (double)top1[1] / h);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "retrieval")) {
        int64_t ni = atoll(argv[2]), caps = atoll(argv[3]), nt = ni * caps;
        int dim = 256;
        float *img = malloc((size_t)ni * dim * sizeof(float)), *txt = malloc((size_t)nt * dim * sizeof(float));
        int64_t *ti = malloc((size_t)nt * sizeof(int64_t));
        for (int64_t i = 0; i < ni * dim; i++) img[i] = (float)gauss();
        for (int64_t i = 0; i < ni; i++) jc_normalize_row(img + i * dim, dim);
        for (int64_t t = 0; t < nt; t++) {
            ti[t] = t / caps;
            for (int d = 0; d < dim; d++) txt[t * dim + d] = img[ti[t] * dim + d] + 0.1f * (float)gauss();
            jc_normalize_row(txt + t * dim, dim);
        }
        jaclip_pool *pool;
        jaclip_pool_create(atoi(argv[4]), &pool, &err);
        int ks[3] = {1, 5, 10};
        jc_retrieval_metrics m;
        double t0 = jc_now();
        if (jc_retrieval_metrics_compute(img, ni, txt, nt, dim, ti, ks, 3, JC_TIES_GOLD_LAST, pool, NULL, &m, &err))
            return fprintf(stderr, "%s\n", err.msg), 1;
        printf("retrieval metrics: %lld images x %lld captions x %d, %s threads: %.2f s (R@1 t2i %.3f i2t %.3f)\n",
               (long long)ni, (long long)nt, dim, argv[4], jc_now() - t0, m.t2i[0], m.i2t[0]);
        return 0;
    }
    fprintf(stderr, "usage: bench_search gen DIR N DIM [i8] | run DIR THREADS Q | recall F32DIR I8DIR Q | retrieval N_IMG CAPS THREADS\n");
    return 2;
}
