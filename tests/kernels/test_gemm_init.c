/*
 * test_gemm_init.c — the GEMM dispatcher must be chosen once, whichever threads ask first.
 * Its self-check switches the kernel level while it runs; before gemm_init used pthread_once,
 * two pool threads asking at the same moment (a LayerNorm task, say) could leave the whole
 * process on the portable kernel (50x slower texts). Here 8 threads ask at once, first thing
 * in this process, and must all see the level that the process keeps, and that level must be
 * the one a fresh single-threaded process chooses.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "testutil.h"

enum { NT = 8 };
static pthread_barrier_t bar;
static int seen[NT];

static void *asker(void *arg)
{
    int i = (int)(intptr_t)arg;
    pthread_barrier_wait(&bar);
    seen[i] = gemm_level();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--level") == 0) return gemm_level(); /* child: single-threaded choice */
    pthread_t t[NT];
    pthread_barrier_init(&bar, NULL, NT);
    for (int i = 0; i < NT; i++) pthread_create(&t[i], NULL, asker, (void *)(intptr_t)i);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    int final = gemm_level(), differ = 0;
    for (int i = 0; i < NT; i++) differ += seen[i] != final;
    CHECK(differ == 0, "%d of %d threads saw another GEMM level than the process kept (%d)", differ, NT, final);
    int single = test_system("'%s' --level", argv[0]);
    CHECK(single == final, "8 threads at once chose level %d, a single thread chooses %d", final, single);
    return test_done();
}
