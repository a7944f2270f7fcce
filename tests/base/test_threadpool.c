/* test_threadpool.c — every task runs exactly once, with any pool size, repeatedly. */
#include <stdatomic.h>

#include "base/base.h"
#include "testutil.h"

typedef struct { atomic_int hits[1000]; } ctx_t;
static void task(void *c, int t, int th)
{
    (void)th;
    atomic_fetch_add(&((ctx_t *)c)->hits[t], 1);
}

int main(void)
{
    for (int n = 1; n <= 4; n++) {
        jaclip_pool *p;
        jaclip_err err;
        REQUIRE(jaclip_pool_create(n, &p, &err) == JACLIP_OK, "%s", err.msg);
        CHECK(jaclip_pool_size(p) == n, "size");
        static ctx_t c;
        for (int rep = 0; rep < 50; rep++) {
            for (int i = 0; i < 1000; i++) atomic_store(&c.hits[i], 0);
            int tasks = 1 + (rep * 37) % 1000;
            jc_pool_run(p, tasks, task, &c);
            int bad = 0;
            for (int i = 0; i < 1000; i++) bad += atomic_load(&c.hits[i]) != (i < tasks);
            CHECK(bad == 0, "pool %d rep %d: %d tasks ran a wrong number of times", n, rep, bad);
        }
        jaclip_pool_free(p);
    }
    return test_done();
}
