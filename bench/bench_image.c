/* bench_image.c — decode + letterbox + normalise throughput of jaclip on a list of image files,
 * the same work tools/ref/pillow_letterbox.py does with Pillow + torchvision (see
 * bench/bench_image.sh, which runs both on the same photos in one go).
 *
 * usage: bench_image REPEATS THREADS FILE...
 * Files are read into memory first (both sides then measure decode + preprocess, not disk).
 * Prints per-file milliseconds (single thread) and total images/s at THREADS threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

typedef struct job {
    char **data;
    size_t *size;
    char **names;
    int nfiles, repeats;
    jaclip_image_params p;
    uint8_t *rgb;  /* per thread */
    float *chw;    /* per thread */
    int failed;
} job;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_task(void *ctx, int task, int thread)
{
    job *j = ctx;
    int f = task % j->nfiles;
    size_t S = (size_t)j->p.image_size;
    uint8_t *rgb = j->rgb + (size_t)thread * S * S * 3;
    float *chw = j->chw + (size_t)thread * S * S * 3;
    jaclip_err err = {0};
    if (jaclip_image_letterbox_mem(j->data[f], j->size[f], j->names[f], &j->p, rgb, &err) != JACLIP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        j->failed = 1;
        return;
    }
    jaclip_image_normalize(rgb, (int)S, j->p.mean, j->p.std, chw);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_image REPEATS THREADS FILE...\n");
        return 2;
    }
    int repeats = atoi(argv[1]), threads = atoi(argv[2]);
    job j = {0};
    j.nfiles = argc - 3;
    j.repeats = repeats;
    j.p = jaclip_image_default_params();
    j.data = calloc((size_t)j.nfiles, sizeof *j.data);
    j.size = calloc((size_t)j.nfiles, sizeof *j.size);
    j.names = argv + 3;
    jaclip_err err = {0};
    for (int i = 0; i < j.nfiles; i++)
        if (jc_read_file(argv[3 + i], (size_t)1 << 30, &j.data[i], &j.size[i], &err) != JACLIP_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    jaclip_pool *pool = NULL;
    if (jaclip_pool_create(threads, &pool, &err) != JACLIP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int nt = jaclip_pool_size(pool);
    size_t S = (size_t)j.p.image_size;
    j.rgb = malloc((size_t)nt * S * S * 3);
    j.chw = malloc((size_t)nt * S * S * 3 * sizeof(float));
    /* per file, single thread (best of REPEATS wall time, and best thread CPU time, which a
     * busy machine disturbs less) */
    double total1 = 0;
    for (int f = 0; f < j.nfiles; f++) {
        double best = 1e30, bestcpu = 1e30;
        for (int r = 0; r < repeats; r++) {
            double t0 = jc_now(), c0 = thread_cpu();
            run_task(&j, f, 0);
            double dt = jc_now() - t0, dc = thread_cpu() - c0;
            if (dt < best) best = dt;
            if (dc < bestcpu) bestcpu = dc;
        }
        total1 += best;
        printf("jaclip  %-40s %8.2f ms %8.2f ms-cpu\n",
               strrchr(argv[3 + f], '/') ? strrchr(argv[3 + f], '/') + 1 : argv[3 + f], best * 1e3, bestcpu * 1e3);
    }
    printf("jaclip  single thread: %d images in %.1f ms = %.1f images/s\n", j.nfiles, total1 * 1e3,
           j.nfiles / total1);
    double t0 = jc_now();
    jc_pool_run(pool, j.nfiles * repeats, run_task, &j);
    double dt = jc_now() - t0;
    printf("jaclip  %d threads: %d images in %.1f ms = %.1f images/s\n", nt, j.nfiles * repeats, dt * 1e3,
           j.nfiles * repeats / dt);
    jaclip_pool_free(pool);
    for (int i = 0; i < j.nfiles; i++) free(j.data[i]);
    free(j.data);
    free(j.size);
    free(j.rgb);
    free(j.chw);
    return j.failed;
}
