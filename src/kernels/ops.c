/*
 * ops.c — layernorm, GELU, SwiGLU gate, softmax, RoPE and attention (see ops.h).
 * The scalar versions reduce in double; the AVX2 versions (chosen with the GEMM's dispatch
 * level, JACLIP_GEMM) use 8-lane float sums and a Cephes-style exp (about 1 ulp) and an
 * Abramowitz-Stegun erf (|error| < 1.5e-7), which keeps the towers within the parity
 * tolerance of PyTorch. Attention runs per (sequence, head) as two strided GEMMs
 * (q·kᵀ, then p·v) around a vectorised softmax; the class-token-only variant (one query
 * per sequence) as dot products with each key, the softmax, and a p-weighted sum of v rows.
 */
#include "kernels/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/prof.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JC_X86 1
#endif

#ifdef JC_X86
#include "kernels/simd_avx2.h"

__attribute__((target("avx2,fma"))) static void ln_row_avx2(float *o, const float *x, const float *w, const float *b,
                                                           int C, float eps)
{
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= C; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float sum = jc_hsum8_avx2(s);
    for (; i < C; i++) sum += x[i];
    float mean = sum / (float)C;
    __m256 mv = _mm256_set1_ps(mean), v = _mm256_setzero_ps();
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        v = _mm256_fmadd_ps(d, d, v);
    }
    float var = jc_hsum8_avx2(v);
    for (; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
    float rstd = (float)(1.0 / sqrt((double)var / C + (double)eps));
    __m256 rv = _mm256_set1_ps(rstd);
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < C; i++) o[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

/* 0.5 x (1 + erf(x/√2)), erf by Abramowitz-Stegun 7.1.26. The last n % 8 go through the
 * same vector code (via a padded copy), so an element's result never depends on where it
 * sits in x: the class-token-only last layers gather rows and must match the full ones. */
__attribute__((target("avx2,fma"))) static void gelu_avx2(float *x, size_t n)
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sgnmask = _mm256_set1_ps(-0.0f);
    _Alignas(32) float tail[8] = {0};
    size_t i = 0, nt = n % 8;
    for (; i < n; i += 8) {
        float *xp = x + i;
        if (i + 8 > n) memcpy(tail, xp, nt * sizeof(float)), xp = tail;
        __m256 v = _mm256_loadu_ps(xp);
        __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
        __m256 az = _mm256_andnot_ps(sgnmask, z);
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, one));
        __m256 p = _mm256_set1_ps(1.061405429f);
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
        p = _mm256_mul_ps(p, t);
        __m256 e = jc_exp8_avx2(_mm256_mul_ps(_mm256_xor_ps(az, sgnmask), az));
        __m256 erf_abs = _mm256_fnmadd_ps(p, e, one);
        __m256 erfv = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sgnmask));
        _mm256_storeu_ps(xp, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erfv)));
        if (xp == tail) memcpy(x + i, tail, nt * sizeof(float));
    }
}

/* silu(g)·u; the tail through the vector code too (see gelu_avx2) */
__attribute__((target("avx2,fma"))) static void swiglu_avx2(float *out, const float *g, const float *u, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sgn = _mm256_set1_ps(-0.0f);
    _Alignas(32) float tg[8] = {0}, tu[8] = {0}, to[8];
    size_t i = 0, nt = n % 8;
    for (; i < n; i += 8) {
        const float *gp = g + i, *up = u + i;
        float *op = out + i;
        if (i + 8 > n) {
            memcpy(tg, gp, nt * sizeof(float)), memcpy(tu, up, nt * sizeof(float));
            gp = tg, up = tu, op = to;
        }
        __m256 gv = _mm256_loadu_ps(gp);
        __m256 e = jc_exp8_avx2(_mm256_xor_ps(gv, sgn));
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(op, _mm256_mul_ps(s, _mm256_loadu_ps(up)));
        if (op == to) memcpy(out + i, to, nt * sizeof(float));
    }
}

__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, int n)
{
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float mx = _mm_cvtss_f32(m4);
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m256 mxv = _mm256_set1_ps(mx), sv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = jc_exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float s = jc_hsum8_avx2(sv);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}
#endif

static inline bool use_avx2(void)
{
#ifdef JC_X86
    return gemm_level() >= 1;
#else
    return false;
#endif
}

typedef struct {
    float *out;
    const float *inp, *w, *b;
    int T, C, rows_per_task;
    float eps;
} ln_job;

static void ln_task(void *ctx, int task, int thread)
{
    (void)thread;
    const ln_job *j = ctx;
    int r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > j->T) r1 = j->T;
    bool v = use_avx2();
    for (int r = r0; r < r1; r++) {
        const float *x = j->inp + (size_t)r * j->C;
        float *o = j->out + (size_t)r * j->C;
#ifdef JC_X86
        if (v) {
            ln_row_avx2(o, x, j->w, j->b, j->C, j->eps);
            continue;
        }
#else
        (void)v;
#endif
        double s = 0;
        for (int i = 0; i < j->C; i++) s += x[i];
        double mean = s / j->C, v = 0;
        for (int i = 0; i < j->C; i++) {
            double d = x[i] - mean;
            v += d * d;
        }
        float rstd = (float)(1.0 / sqrt(v / j->C + (double)j->eps));
        float m = (float)mean;
        for (int i = 0; i < j->C; i++) o[i] = (x[i] - m) * rstd * j->w[i] + j->b[i];
    }
}

void layernorm_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *b, int T, int C,
                       float eps)
{
    int per = 16;
    ln_job j = {out, inp, w, b, T, C, per, eps};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, (T + per - 1) / per, ln_task, &j);
    if (t0_ > 0) kprof_add("layernorm", jc_now() - t0_, 8.0 * T * C);
}

typedef struct {
    float *out;
    const float *a, *b;
    size_t n, chunk;
    int op;
} ew_job;

static void ew_task(void *ctx, int task, int thread)
{
    (void)thread;
    const ew_job *j = ctx;
    size_t i0 = (size_t)task * j->chunk, i1 = i0 + j->chunk;
    if (i1 > j->n) i1 = j->n;
#ifdef JC_X86
    if (use_avx2()) {
        if (j->op == 0) gelu_avx2(j->out + i0, i1 - i0);
        else swiglu_avx2(j->out + i0, j->a + i0, j->b + i0, i1 - i0);
        return;
    }
#endif
    if (j->op == 0) {
        for (size_t i = i0; i < i1; i++) {
            double x = j->out[i];
            j->out[i] = (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440)));
        }
    } else {
        for (size_t i = i0; i < i1; i++) {
            float g = j->a[i];
            j->out[i] = (g / (1.0f + expf(-g))) * j->b[i];
        }
    }
}

void gelu_forward(jaclip_pool *pool, float *x, size_t n)
{
    ew_job j = {x, NULL, NULL, n, 16384, 0};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ew_task, &j);
    if (t0_ > 0) kprof_add("gelu", jc_now() - t0_, 0);
}

void swiglu_forward(jaclip_pool *pool, float *out, const float *g, const float *u, size_t n)
{
    ew_job j = {out, g, u, n, 16384, 1};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ew_task, &j);
    if (t0_ > 0) kprof_add("swiglu", jc_now() - t0_, 0);
}

void residual_forward(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

typedef struct {
    float *x;
    const float *y;
    size_t n;
} res_job;

static void res_task(void *ctx, int task, int thread)
{
    (void)thread;
    const res_job *j = ctx;
    size_t i0 = (size_t)task * 65536, i1 = i0 + 65536 < j->n ? i0 + 65536 : j->n;
    residual_forward(j->x + i0, j->y + i0, i1 - i0); /* same adds, element by element */
}

void residual_forward_pool(jaclip_pool *pool, float *x, const float *y, size_t n)
{
    res_job j = {x, y, n};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(n > 65536 ? pool : NULL, (int)((n + 65535) / 65536), res_task, &j);
    if (t0_ > 0) kprof_add("residual, rope", jc_now() - t0_, 0);
}

void softmax_row(float *x, int n)
{
#ifdef JC_X86
    if (use_avx2()) {
        softmax_avx2(x, n);
        return;
    }
#endif
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void rope_table(float *sin_out, float *cos_out, int grid, int ref_h, int ref_w, int head_dim)
{
    int nb = head_dim / 4;
    float bands[1024];
    for (int k = 0; k < nb && k < 1024; k++) bands[k] = (float)(1.0 / pow(10000.0, (double)((float)k / (float)nb)));
    for (int r = 0; r < grid; r++)
        for (int c = 0; c < grid; c++) {
            /* timm: t = arange(grid) / grid * ref, in float32 */
            float tr = (float)r / (float)grid * (float)ref_h;
            float tc = (float)c / (float)grid * (float)ref_w;
            float *s = sin_out + (size_t)(r * grid + c) * head_dim;
            float *co = cos_out + (size_t)(r * grid + c) * head_dim;
            for (int k = 0; k < nb; k++) {
                float ar = tr * bands[k], ac = tc * bands[k];
                s[2 * k] = s[2 * k + 1] = (float)sin((double)ar);
                co[2 * k] = co[2 * k + 1] = (float)cos((double)ar);
                s[2 * nb + 2 * k] = s[2 * nb + 2 * k + 1] = (float)sin((double)ac);
                co[2 * nb + 2 * k] = co[2 * nb + 2 * k + 1] = (float)cos((double)ac);
            }
        }
}

#ifdef JC_X86
/* The scalar loop's arithmetic exactly (products then one add or subtract, no FMA): even
 * lanes x0*c0 - x1*s0, odd lanes x1*c1 + x0*s1, with the pair swap done by a shuffle. */
__attribute__((target("avx2,fma"))) static int rope_row_avx2(float *row, int C, int head_dim, const float *s,
                                                              const float *c)
{
    if (head_dim % 8) return 0;
    const __m256 neg_even = _mm256_castsi256_ps(_mm256_setr_epi32((int)0x80000000, 0, (int)0x80000000, 0,
                                                                   (int)0x80000000, 0, (int)0x80000000, 0));
    for (int h = 0; h < C; h += head_dim)
        for (int m = 0; m < head_dim; m += 8) {
            __m256 x = _mm256_loadu_ps(row + h + m), xs = _mm256_permute_ps(x, 0xB1);
            __m256 a = _mm256_mul_ps(x, _mm256_loadu_ps(c + m)), b = _mm256_mul_ps(xs, _mm256_loadu_ps(s + m));
            _mm256_storeu_ps(row + h + m, _mm256_add_ps(a, _mm256_xor_ps(b, neg_even)));
        }
    return 1;
}
#endif

static void rope_row(float *row, int C, int head_dim, const float *s, const float *c)
{
#ifdef JC_X86
    if (use_avx2() && rope_row_avx2(row, C, head_dim, s, c)) return;
#endif
    for (int h = 0; h < C; h += head_dim)
        for (int m = 0; m < head_dim; m += 2) {
            float x0 = row[h + m], x1 = row[h + m + 1];
            row[h + m] = x0 * c[m] - x1 * s[m];
            row[h + m + 1] = x1 * c[m + 1] + x0 * s[m + 1];
        }
}

void rope_forward(float *x, int C, int head_dim, int first, int n_tokens, const float *sin_t, const float *cos_t)
{
    for (int t = 0; t < n_tokens; t++)
        rope_row(x + (size_t)(first + t) * C, C, head_dim, sin_t + (size_t)t * head_dim, cos_t + (size_t)t * head_dim);
}

typedef struct {
    float *x[2];
    int nx, C, head_dim, n1;
    const int *seg;
    const float *sin_t, *cos_t;
} rope_job;

/* task: one (tensor, sequence) pair; token 0 of each sequence (the class token) is skipped */
static void rope_task(void *ctx, int task, int thread)
{
    (void)thread;
    const rope_job *j = ctx;
    int b = task / j->nx;
    rope_forward(j->x[task % j->nx], j->C, j->head_dim, j->seg[b] + 1, j->n1 - 1, j->sin_t, j->cos_t);
}

void rope_forward_seqs(jaclip_pool *pool, float *q, float *k, int C, int head_dim, const int *seg, int B, int n1,
                       const float *sin_t, const float *cos_t)
{
    rope_job j = {{q ? q : k, k}, q ? 2 : 1, C, head_dim, n1, seg, sin_t, cos_t};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, B * j.nx, rope_task, &j);
    if (t0_ > 0) kprof_add("residual, rope", jc_now() - t0_, 0);
}

typedef struct {
    float *out;
    const float *q, *k, *v;
    const int *seg;
    int n_seg, H, hd, C, max_len;
    float scale;
    float *scratch;
} att_job;

/* c (M,N, ldc) = alpha · a (M,K, lda) · b (K,N, ldb), b row-major: the "outer product" form
 * for attention, where K is short (q·kᵀ, K = head_dim) or the right operand is already
 * k-major (p·v): 6 x 16 register blocks, one sequential FMA chain per element. */
static void gemm_nn_portable(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int N, int K,
                             float alpha)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++) s += a[(size_t)i * lda + k] * b[(size_t)k * ldb + j];
            c[(size_t)i * ldc + j] = s * alpha;
        }
}

#ifdef JC_X86
static const int32_t nn_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* full 6 x 16 block: accumulators stay in registers */
__attribute__((target("avx2,fma"))) static void nn_block_6x16(float *c, int ldc, const float *a, int lda,
                                                              const float *b, int ldb, int K, __m256 al)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * (size_t)lda, *a3 = a + 3 * (size_t)lda,
                *a4 = a + 4 * (size_t)lda, *a5 = a + 5 * (size_t)lda;
    for (int k = 0; k < K; k++) {
        const float *bp = b + (size_t)k * ldb;
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), av;
        av = _mm256_broadcast_ss(a0 + k), c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + k), c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + k), c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + k), c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + k), c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + k), c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    _mm256_storeu_ps(c, _mm256_mul_ps(c00, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c01, al));
    c += ldc, _mm256_storeu_ps(c, _mm256_mul_ps(c10, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c11, al));
    c += ldc, _mm256_storeu_ps(c, _mm256_mul_ps(c20, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c21, al));
    c += ldc, _mm256_storeu_ps(c, _mm256_mul_ps(c30, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c31, al));
    c += ldc, _mm256_storeu_ps(c, _mm256_mul_ps(c40, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c41, al));
    c += ldc, _mm256_storeu_ps(c, _mm256_mul_ps(c50, al)), _mm256_storeu_ps(c + 8, _mm256_mul_ps(c51, al));
}

/* edge block: one row at a time, masked columns */
__attribute__((target("avx2,fma"))) static void nn_block_edge(float *c, int ldc, const float *a, int lda,
                                                              const float *b, int ldb, int mr, int K, __m256 al,
                                                              __m256i m0, __m256i m1)
{
    for (int r = 0; r < mr; r++) {
        __m256 c0 = _mm256_setzero_ps(), c1 = c0;
        const float *ar = a + (size_t)r * lda;
        for (int k = 0; k < K; k++) {
            const float *bp = b + (size_t)k * ldb;
            __m256 av = _mm256_broadcast_ss(ar + k);
            c0 = _mm256_fmadd_ps(av, _mm256_maskload_ps(bp, m0), c0);
            c1 = _mm256_fmadd_ps(av, _mm256_maskload_ps(bp + 8, m1), c1);
        }
        _mm256_maskstore_ps(c + (size_t)r * ldc, m0, _mm256_mul_ps(c0, al));
        _mm256_maskstore_ps(c + (size_t)r * ldc + 8, m1, _mm256_mul_ps(c1, al));
    }
}

__attribute__((target("avx2,fma"))) static void gemm_nn_avx2(float *c, int ldc, const float *a, int lda,
                                                             const float *b, int ldb, int M, int N, int K, float alpha)
{
    const __m256 al = _mm256_set1_ps(alpha);
    for (int j = 0; j < N; j += 16) {
        int n = N - j < 16 ? N - j : 16;
        __m256i m0 = _mm256_loadu_si256((const __m256i *)(nn_mask + 8 - (n < 8 ? n : 8)));
        __m256i m1 = _mm256_loadu_si256((const __m256i *)(nn_mask + 8 - (n > 8 ? n - 8 : 0)));
        for (int i = 0; i < M; i += 6) {
            int mr = M - i < 6 ? M - i : 6;
            if (mr == 6 && n == 16)
                nn_block_6x16(c + (size_t)i * ldc + j, ldc, a + (size_t)i * lda, lda, b + j, ldb, K, al);
            else
                nn_block_edge(c + (size_t)i * ldc + j, ldc, a + (size_t)i * lda, lda, b + j, ldb, mr, K, al, m0, m1);
        }
    }
}
#endif

static void gemm_nn(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int N, int K,
                    float alpha)
{
#ifdef JC_X86
    if (use_avx2()) {
        gemm_nn_avx2(c, ldc, a, lda, b, ldb, M, N, K, alpha);
        return;
    }
#endif
    gemm_nn_portable(c, ldc, a, lda, b, ldb, M, N, K, alpha);
}

/* One (segment, head) in the thread's scratch: kt = kᵀ (hd x L), S = scale·q·kt (L x L)
 * from the strided q, a softmax per row, then out = S·v with v read in place. */
static void att_task(void *ctx, int task, int thread)
{
    const att_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    if (L <= 0) return;
    const int C = j->C, hd = j->hd;
    const size_t off = (size_t)t0 * C + (size_t)h * hd;
    float *S = j->scratch + (size_t)thread * attention_scratch_floats(j->max_len, hd), *kt = S + (size_t)L * L;
    for (int t = 0; t < L; t++) {
        const float *kr = j->k + off + (size_t)t * C;
        for (int e = 0; e < hd; e++) kt[(size_t)e * L + t] = kr[e];
    }
    gemm_nn(S, L, j->q + off, C, kt, L, L, L, hd, j->scale);  /* (L,L) = scale · q kᵀ */
    for (int i = 0; i < L; i++) softmax_row(S + (size_t)i * L, L);
    gemm_nn(j->out + off, C, S, L, j->v + off, C, L, hd, L, 1.0f); /* (L,hd) = p v, v read in place */
}

size_t attention_scratch_floats(int max_len, int hd) { return (size_t)max_len * ((size_t)hd + (size_t)max_len); }

void attention_forward(jaclip_pool *pool, float *out, const float *q, const float *k, const float *v, const int *seg,
                       int n_seg, int H, int hd, float scale, float *scratch, int max_len)
{
    att_job j = {out, q, k, v, seg, n_seg, H, hd, H * hd, max_len, scale, scratch};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, n_seg * H, att_task, &j);
    if (t0_ > 0) {
        double fl = 0;
        for (int s = 0; s < n_seg; s++) fl += 4.0 * H * hd * (double)(seg[s + 1] - seg[s]) * (seg[s + 1] - seg[s]);
        kprof_add("attention", jc_now() - t0_, fl);
    }
}

/* ---- one query per segment (class token) ---------------------------------------------- */
typedef struct {
    float *out;
    const float *q, *k, *v;
    const int *seg;
    int H, hd, C, max_len;
    float scale;
    float *scratch;
} attc_job;

#ifdef JC_X86
/* hd % 8 == 0: p[t] = scale · q·k_t (8-lane dot), softmax, o = Σ_t p[t] v_t with the
 * output columns in registers, 32 at a time (an FMA chain in t order, like gemm_nn's p·v) */
__attribute__((target("avx2,fma"))) static void attc_head_avx2(float *o, const float *q, const float *k,
                                                               const float *v, int C, int L, int hd, float scale,
                                                               float *p)
{
    for (int t = 0; t < L; t++) {
        const float *kr = k + (size_t)t * C;
        __m256 acc = _mm256_setzero_ps();
        for (int e = 0; e < hd; e += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(kr + e), acc);
        p[t] = jc_hsum8_avx2(acc) * scale;
    }
    softmax_avx2(p, L);
    int e = 0;
    for (; e + 32 <= hd; e += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < L; t++) {
            const float *vr = v + (size_t)t * C + e;
            __m256 pv = _mm256_broadcast_ss(p + t);
            a0 = _mm256_fmadd_ps(pv, _mm256_loadu_ps(vr), a0);
            a1 = _mm256_fmadd_ps(pv, _mm256_loadu_ps(vr + 8), a1);
            a2 = _mm256_fmadd_ps(pv, _mm256_loadu_ps(vr + 16), a2);
            a3 = _mm256_fmadd_ps(pv, _mm256_loadu_ps(vr + 24), a3);
        }
        _mm256_storeu_ps(o + e, a0), _mm256_storeu_ps(o + e + 8, a1);
        _mm256_storeu_ps(o + e + 16, a2), _mm256_storeu_ps(o + e + 24, a3);
    }
    for (; e < hd; e += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int t = 0; t < L; t++)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + t), _mm256_loadu_ps(v + (size_t)t * C + e), a0);
        _mm256_storeu_ps(o + e, a0);
    }
}
#endif

static void attc_task(void *ctx, int task, int thread)
{
    const attc_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    const int C = j->C, hd = j->hd;
    float *o = j->out + (size_t)s * C + (size_t)h * hd;
    if (L <= 0) {
        memset(o, 0, (size_t)hd * sizeof(float));
        return;
    }
    const float *q = j->q + (size_t)s * C + (size_t)h * hd;
    const float *k = j->k + (size_t)t0 * C + (size_t)h * hd, *v = j->v + (size_t)t0 * C + (size_t)h * hd;
    float *p = j->scratch + (size_t)thread * j->max_len;
#ifdef JC_X86
    if (use_avx2() && hd % 8 == 0) {
        attc_head_avx2(o, q, k, v, C, L, hd, j->scale, p);
        return;
    }
#endif
    for (int t = 0; t < L; t++) {
        const float *kr = k + (size_t)t * C;
        float acc = 0;
        for (int e = 0; e < hd; e++) acc += q[e] * kr[e];
        p[t] = acc * j->scale;
    }
    softmax_row(p, L);
    for (int e = 0; e < hd; e++) o[e] = 0;
    for (int t = 0; t < L; t++) {
        const float *vr = v + (size_t)t * C;
        for (int e = 0; e < hd; e++) o[e] += p[t] * vr[e];
    }
}

void attention_cls_forward(jaclip_pool *pool, float *out, const float *q, const float *k, const float *v,
                           const int *seg, int n_seg, int H, int hd, float scale, float *scratch, int max_len)
{
    attc_job j = {out, q, k, v, seg, H, hd, H * hd, max_len, scale, scratch};
    double t0_ = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(pool, n_seg * H, attc_task, &j);
    if (t0_ > 0) kprof_add("attention", jc_now() - t0_, 4.0 * H * hd * (double)(seg[n_seg] - seg[0]));
}
