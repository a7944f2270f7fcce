/*
 * threadpool.c — the one thread pool of the library (ARCHITECTURE: "one explicit thread
 * pool, no hidden OpenMP"). Workers poll for up to 200 us after a run, then sleep on a
 * condition variable; jc_pool_run hands out
 * task indices through an atomic counter and the calling thread works too, so a pool of
 * size N uses N threads in total (N-1 workers + caller).
 */
#include "base/base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct jaclip_pool {
    int n;                 /* total threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_mutex_t run_mu; /* serialises concurrent jc_pool_run callers */
    _Atomic uint64_t generation; /* written under mu; read without it by spinning workers */
    atomic_bool stop;
    jc_task_fn fn;
    void *ctx;
    int n_tasks;
    /* (generation mod 2^32) << 32 | next task index: a task is claimed by a CAS that also checks
     * the generation, so a worker that wakes late can never run a task of a later run with the
     * fn/ctx of an earlier one. */
    _Atomic uint64_t claim;
    atomic_int finished;   /* tasks of the current run completed */
};

typedef struct { jaclip_pool *pool; int id; } worker_arg;

/* Runs tasks of run `gen` until none is left; the thread that finishes the last one wakes
 * the caller. The caller thus never waits for a worker that has not woken up yet (on a
 * loaded machine that can take a whole scheduler time slice). */
static void drain(jaclip_pool *p, uint32_t gen, jc_task_fn fn, void *ctx, int n_tasks, int thread)
{
    for (;;) {
        uint64_t c = atomic_load(&p->claim);
        if ((uint32_t)(c >> 32) != gen || (int)(uint32_t)c >= n_tasks) break;
        if (!atomic_compare_exchange_weak(&p->claim, &c, c + 1)) continue;
        fn(ctx, (int)(uint32_t)c, thread);
        if (atomic_fetch_add(&p->finished, 1) + 1 == n_tasks) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* After a run, a worker polls for the next one for up to SPIN_S before it sleeps: the model
 * issues runs back to back (a batch-1 text: ~70 GEMMs of 0.2-0.4 ms), and a sleeping worker
 * needs a futex wake-up (tens of microseconds in a VM) before it can help. */
#define SPIN_S 200e-6
static void spin_wait(jaclip_pool *p, uint64_t seen)
{
    double t0 = jc_now();
    for (int i = 1; atomic_load_explicit(&p->generation, memory_order_relaxed) == seen && !atomic_load(&p->stop); i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if ((i & 63) == 0 && jc_now() - t0 > SPIN_S) break;
    }
}

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    jaclip_pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (seen != 0 && p->generation == seen) {
            pthread_mutex_unlock(&p->mu);
            spin_wait(p, seen);
            pthread_mutex_lock(&p->mu);
        }
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        jc_task_fn fn = p->fn;
        void *ctx = p->ctx;
        int n_tasks = p->n_tasks;
        pthread_mutex_unlock(&p->mu);
        drain(p, (uint32_t)seen, fn, ctx, n_tasks, id);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

jaclip_status jaclip_pool_create(int n_threads, jaclip_pool **out, jaclip_err *err)
{
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 1024) return jc_err(err, JACLIP_ERR_ARG, "--threads %d is too many", n_threads);
    jaclip_pool *p = calloc(1, sizeof *p);
    if (!p) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa ? (wa->pool = p, wa->id = i, wa) : NULL) != 0) {
            free(wa);
            p->n = i;
            jaclip_pool_free(p);
            return jc_err(err, JACLIP_ERR_NOMEM, "cannot start thread %d", i);
        }
    }
    *out = p;
    return JACLIP_OK;
}

void jaclip_pool_free(jaclip_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int jaclip_pool_size(const jaclip_pool *p) { return p ? p->n : 1; }

void jc_pool_run(jaclip_pool *p, int n_tasks, jc_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->generation++;
    uint32_t gen = (uint32_t)p->generation;
    atomic_store(&p->finished, 0);
    atomic_store(&p->claim, (uint64_t)gen << 32);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    drain(p, gen, fn, ctx, n_tasks, 0);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->finished) < n_tasks) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run_mu);
}
