/* prof.c — the kernel timing table behind `jaclip bench --profile` (see prof.h). */
#include "kernels/prof.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KPROF_MAX 64
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static kprof_row rows[KPROF_MAX];
static int n_rows;
static int on;

void kprof_enable(bool e) { __atomic_store_n(&on, e ? 1 : 0, __ATOMIC_RELAXED); }
bool kprof_enabled(void) { return __atomic_load_n(&on, __ATOMIC_RELAXED) != 0; }

void kprof_reset(void)
{
    pthread_mutex_lock(&mu);
    n_rows = 0;
    pthread_mutex_unlock(&mu);
}

void kprof_add(const char *name, double seconds, double flops)
{
    pthread_mutex_lock(&mu);
    int i = 0;
    while (i < n_rows && strcmp(rows[i].name, name) != 0) i++;
    if (i == n_rows && n_rows < KPROF_MAX) {
        memset(&rows[i], 0, sizeof rows[i]);
        strncpy(rows[i].name, name, sizeof rows[i].name - 1);
        n_rows++;
    }
    if (i < n_rows) {
        rows[i].calls++;
        rows[i].seconds += seconds;
        rows[i].flops += flops;
    }
    pthread_mutex_unlock(&mu);
}

static int by_time(const void *a, const void *b)
{
    double x = ((const kprof_row *)a)->seconds, y = ((const kprof_row *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

int kprof_rows(kprof_row *out, int max)
{
    pthread_mutex_lock(&mu);
    int n = n_rows < max ? n_rows : max;
    memcpy(out, rows, (size_t)n * sizeof *out);
    pthread_mutex_unlock(&mu);
    qsort(out, (size_t)n, sizeof *out, by_time);
    return n;
}
