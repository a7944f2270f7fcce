/* testutil.c — see testutil.h. */
#include "testutil.h"

#include "kernels/gemm.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int test_passed, test_failed;

int test_done(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : (test_passed ? 0 : 1);
}

double test_cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb) + 1e-300);
}

double test_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

double test_max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

const char *test_shared(void)
{
    const char *s = getenv("JACLIP_SHARED");
    return s && *s ? s : "../shared";
}

static char tmpdir[256];
static void rm_tmpdir(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/jaclip-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

int test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static const char *const levels[] = {"portable", "avx2", "avx512", "avx512vnni"};

bool test_levels_parent(const char *argv0)
{
    if (getenv("JACLIP_GEMM")) return false;
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
        int rc = test_system("JACLIP_GEMM=%s '%s'", levels[i], argv0);
        CHECK(rc == 0, "level %s failed (exit %d)", levels[i], rc);
    }
    return true;
}

static bool cpu_has(const char *level)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (strcmp(level, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (strcmp(level, "avx512") == 0) return has512;
    if (strcmp(level, "avx512vnni") == 0) return has512 && __builtin_cpu_supports("avx512vnni");
#endif
    return strcmp(level, "portable") == 0;
}

void test_levels_child(void)
{
    const char *forced = getenv("JACLIP_GEMM"), *got = gemm_kernel_name();
    bool known = false;
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) known = known || strcmp(forced, levels[i]) == 0;
    CHECK(known, "JACLIP_GEMM=%s is not a dispatch level (portable, avx2, avx512, avx512vnni)", forced);
    if (strcmp(got, forced) == 0) {
        printf("testing level %s\n", got);
        return;
    }
    CHECK(!cpu_has(forced), "this CPU has %s, but the dispatcher chose %s: the %s kernels failed their self-check",
          forced, got, forced);
    printf("NOTE: JACLIP_GEMM=%s is not available on this CPU; the dispatcher chose %s (tested as such)\n", forced,
           got);
}

const char *test_tokenizer(void)
{
    static char path[1024];
    if (!path[0]) snprintf(path, sizeof path, "%s/tokenizer/rinna-japanese-sp.model", test_shared());
    return path;
}

jaclip_model *test_load_model(const char *dir, int threads, jaclip_err *err)
{
    jaclip_model_params mp = jaclip_model_default_params();
    mp.tokenizer_path = test_tokenizer();
    mp.n_threads = threads;
    jaclip_model *m = NULL;
    return jaclip_model_load(dir, &mp, &m, err) == JACLIP_OK ? m : NULL;
}

float test_frand(uint64_t *state)
{
    uint64_t r = *state;
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    *state = r;
    return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

void test_fill(uint64_t *state, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = test_frand(state);
}
