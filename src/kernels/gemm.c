/*
 * gemm.c — blocked fp32 GEMM out = inp · Wᵀ + bias (see gemm.h).
 *
 * Blocking: the output is cut into tiles of MB rows x NB columns, one pool task each. A task
 * walks K in slices of KC; for each slice it packs its NB rows of W into a k-major panel
 * (KC x NB, zero-padded past N) that stays in L2, then runs the micro-kernel over MR-row
 * strips of inp: MR x NR accumulators in registers, one broadcast of inp and NR/8 (or NR/16)
 * vector loads of the panel per k. Partial tiles at the M and N edges go through a
 * scratch tile with the same kernel, so the summation order per element is identical.
 */
#include "kernels/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JC_X86 1
#endif

#define MB 96
#define NB 64
#define KC 256
#define MR 6

typedef void (*ukernel_fn)(int kc, const float *a, int lda, const float *bp, float *c, int ldc);

/* Portable kernel: MR x 16, plain C (the compiler may vectorise it). */
static void ukernel_portable(int kc, const float *a, int lda, const float *bp, float *c, int ldc)
{
    float acc[MR][16];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 16; j++) acc[i][j] = c[i * ldc + j];
    for (int k = 0; k < kc; k++) {
        const float *b = bp + (size_t)k * NB;
        for (int i = 0; i < MR; i++) {
            float av = a[i * lda + k];
            for (int j = 0; j < 16; j++) acc[i][j] += av * b[j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 16; j++) c[i * ldc + j] = acc[i][j];
}

#ifdef JC_X86
__attribute__((target("avx2,fma"))) static void ukernel_avx2(int kc, const float *a, int lda, const float *bp,
                                                             float *c, int ldc)
{
    __m256 c00 = _mm256_loadu_ps(c + 0 * ldc), c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
    __m256 c10 = _mm256_loadu_ps(c + 1 * ldc), c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
    __m256 c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
    __m256 c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
    __m256 c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
    __m256 c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    for (int k = 0; k < kc; k++) {
        const float *b = bp + (size_t)k * NB;
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
        av = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + k);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + k);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    _mm256_storeu_ps(c + 0 * ldc, c00), _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10), _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* AVX-512: MR x 32 (two zmm per row). */
__attribute__((target("avx512f"))) static void ukernel_avx512(int kc, const float *a, int lda, const float *bp,
                                                              float *c, int ldc)
{
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) {
        acc[i][0] = _mm512_loadu_ps(c + i * ldc);
        acc[i][1] = _mm512_loadu_ps(c + i * ldc + 16);
    }
    for (int k = 0; k < kc; k++) {
        const float *b = bp + (size_t)k * NB;
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm512_storeu_ps(c + i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
    }
}
#endif

static struct {
    int init;
    ukernel_fn fn;
    int nr;
    const char *name;
} G;

static void gemm_task(void *ctx, int task, int thread);
static bool self_check(void);

static void gemm_init(void)
{
    if (G.init) return;
    const char *force = getenv("JACLIP_GEMM");
    G.fn = ukernel_portable, G.nr = 16, G.name = "portable";
#ifdef JC_X86
    __builtin_cpu_init();
    bool want512 = !force || strcmp(force, "avx512") == 0;
    bool want2 = want512 || strcmp(force, "avx2") == 0;
    if (want512 && __builtin_cpu_supports("avx512f"))
        G.fn = ukernel_avx512, G.nr = 32, G.name = "avx512";
    else if (want2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        G.fn = ukernel_avx2, G.nr = 16, G.name = "avx2";
#else
    (void)force;
#endif
    __atomic_store_n(&G.init, 1, __ATOMIC_RELEASE);
    if (G.fn != ukernel_portable && !self_check()) {
        /* never seen; a guard for a kernel that could not be run on the machine it was written on */
        jc_warn("GEMM kernel %s disagrees with the portable kernel on this CPU; using the portable kernel", G.name);
        G.fn = ukernel_portable, G.nr = 16, G.name = "portable";
    }
}

const char *gemm_kernel_name(void)
{
    gemm_init();
    return G.name;
}

typedef struct {
    float *out;
    const float *inp, *w, *bias;
    int M, K, N, tiles_n;
} gemm_job;

static void gemm_task(void *ctx, int task, int thread)
{
    (void)thread;
    const gemm_job *j = ctx;
    int m0 = (task / j->tiles_n) * MB, n0 = (task % j->tiles_n) * NB;
    int mb = j->M - m0 < MB ? j->M - m0 : MB;
    int nb = j->N - n0 < NB ? j->N - n0 : NB;
    _Alignas(64) float bp[KC * NB];
    _Alignas(64) float ctile[MR * NB];
    _Alignas(64) float atile[MR * KC];
    const int K = j->K, N = j->N;
    /* start from the bias */
    for (int i = 0; i < mb; i++) {
        float *o = j->out + (size_t)(m0 + i) * N + n0;
        if (j->bias) memcpy(o, j->bias + n0, (size_t)nb * sizeof(float));
        else memset(o, 0, (size_t)nb * sizeof(float));
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        /* pack W[n0..n0+nb, k0..k0+kc] as bp[k][n], zero past nb */
        for (int n = 0; n < NB; n++) {
            if (n < nb) {
                const float *wr = j->w + (size_t)(n0 + n) * K + k0;
                for (int k = 0; k < kc; k++) bp[k * NB + n] = wr[k];
            } else {
                for (int k = 0; k < kc; k++) bp[k * NB + n] = 0.0f;
            }
        }
        for (int i = 0; i < mb; i += MR) {
            int mr = mb - i < MR ? mb - i : MR;
            const float *a = j->inp + (size_t)(m0 + i) * K + k0;
            int lda = K;
            if (mr < MR) { /* copy the short strip, zero the missing rows */
                memset(atile, 0, sizeof atile);
                for (int r = 0; r < mr; r++) memcpy(atile + r * KC, a + (size_t)r * K, (size_t)kc * sizeof(float));
                a = atile, lda = KC;
            }
            for (int jn = 0; jn < NB; jn += G.nr) {
                if (jn >= nb) break;
                float *c = j->out + (size_t)(m0 + i) * N + n0 + jn;
                int w = nb - jn < G.nr ? nb - jn : G.nr;
                if (mr == MR && w == G.nr) {
                    G.fn(kc, a, lda, bp + jn, c, N);
                } else {
                    for (int r = 0; r < MR; r++)
                        for (int q = 0; q < G.nr; q++) ctile[r * NB + q] = (r < mr && q < w) ? c[(size_t)r * N + q] : 0.0f;
                    G.fn(kc, a, lda, bp + jn, ctile, NB);
                    for (int r = 0; r < mr; r++) memcpy(c + (size_t)r * N, ctile + r * NB, (size_t)w * sizeof(float));
                }
            }
        }
    }
}

/* A small product with edge tiles in every direction, SIMD kernel vs portable kernel. */
static bool self_check(void)
{
    enum { M = 13, K = 300, N = 70 };
    static float a[M * K], w[N * K], bias[N], o1[M * N], o2[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N * K; i++) w[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    for (int i = 0; i < N; i++) bias[i] = (float)i / 10.0f;
    gemm_job j = {o1, a, w, bias, M, K, N, (N + NB - 1) / NB};
    int tasks = ((M + MB - 1) / MB) * j.tiles_n;
    for (int t = 0; t < tasks; t++) gemm_task(&j, t, 0);
    ukernel_fn fn = G.fn;
    int nr = G.nr;
    G.fn = ukernel_portable, G.nr = 16;
    j.out = o2;
    for (int t = 0; t < tasks; t++) gemm_task(&j, t, 0);
    G.fn = fn, G.nr = nr;
    for (int i = 0; i < M * N; i++)
        if (fabsf(o1[i] - o2[i]) > 1e-3f * (1.0f + fabsf(o2[i]))) return false;
    return true;
}

void matmul_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *bias, int M, int K,
                    int N)
{
    if (M <= 0 || N <= 0) return;
    gemm_init();
    gemm_job j = {out, inp, w, bias, M, K, N, (N + NB - 1) / NB};
    int tasks = ((M + MB - 1) / MB) * j.tiles_n;
    jc_pool_run(pool, tasks, gemm_task, &j);
}
