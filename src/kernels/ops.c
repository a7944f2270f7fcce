/*
 * ops.c — layernorm, GELU, SwiGLU gate, softmax, RoPE and attention (see ops.h).
 * The scalar versions reduce in double; the AVX2 versions (chosen with the GEMM's dispatch
 * level, JACLIP_GEMM) use 8-lane float sums and a Cephes-style exp (about 1 ulp) and an
 * Abramowitz-Stegun erf (|error| < 1.5e-7), which keeps the towers within the parity
 * tolerance of PyTorch. Attention runs per (sequence, head) as two strided GEMMs
 * (q·kᵀ, then p·v) around a vectorised softmax.
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
/* e^x for 8 floats: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial (Cephes expf). */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"), always_inline)) static inline float hadd8(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma"))) static void ln_row_avx2(float *o, const float *x, const float *w, const float *b,
                                                           int C, float eps)
{
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= C; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float sum = hadd8(s);
    for (; i < C; i++) sum += x[i];
    float mean = sum / (float)C;
    __m256 mv = _mm256_set1_ps(mean), v = _mm256_setzero_ps();
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        v = _mm256_fmadd_ps(d, d, v);
    }
    float var = hadd8(v);
    for (; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
    float rstd = (float)(1.0 / sqrt((double)var / C + (double)eps));
    __m256 rv = _mm256_set1_ps(rstd);
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < C; i++) o[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

/* 0.5 x (1 + erf(x/√2)), erf by Abramowitz-Stegun 7.1.26 */
__attribute__((target("avx2,fma"))) static void gelu_avx2(float *x, size_t n)
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sgnmask = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
        __m256 az = _mm256_andnot_ps(sgnmask, z);
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, one));
        __m256 p = _mm256_set1_ps(1.061405429f);
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
        p = _mm256_mul_ps(p, t);
        __m256 e = exp8(_mm256_mul_ps(_mm256_xor_ps(az, sgnmask), az));
        __m256 erf_abs = _mm256_fnmadd_ps(p, e, one);
        __m256 erfv = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sgnmask));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erfv)));
    }
    for (; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752440)));
    }
}

__attribute__((target("avx2,fma"))) static void swiglu_avx2(float *out, const float *g, const float *u, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sgn = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_xor_ps(gv, sgn));
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
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
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float s = hadd8(sv);
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

void rope_forward(float *x, int C, int head_dim, int first, int n_tokens, const float *sin_t, const float *cos_t)
{
    for (int t = 0; t < n_tokens; t++) {
        float *row = x + (size_t)(first + t) * C;
        const float *s = sin_t + (size_t)t * head_dim, *c = cos_t + (size_t)t * head_dim;
        for (int h = 0; h < C; h += head_dim)
            for (int m = 0; m < head_dim; m += 2) {
                float x0 = row[h + m], x1 = row[h + m + 1];
                row[h + m] = x0 * c[m] - x1 * s[m];
                row[h + m + 1] = x1 * c[m + 1] + x0 * s[m + 1];
            }
    }
}

typedef struct {
    float *out;
    const float *q, *k, *v;
    const int *seg;
    int n_seg, H, hd, C, max_len;
    float scale;
    float *scratch;
} att_job;

/* One (segment, head) in the thread's scratch: S = scale·q·kᵀ (L x L) straight from the
 * strided q and k, a softmax per row, vt = vᵀ (hd x L), then out = S·vtᵀ written in place. */
static void att_task(void *ctx, int task, int thread)
{
    const att_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    if (L <= 0) return;
    const int C = j->C, hd = j->hd;
    const size_t off = (size_t)t0 * C + (size_t)h * hd;
    float *S = j->scratch + (size_t)thread * attention_scratch_floats(j->max_len, hd), *vt = S + (size_t)L * L;
    gemm_dot(S, L, j->q + off, C, j->k + off, C, NULL, L, L, hd, j->scale);
    for (int i = 0; i < L; i++) softmax_row(S + (size_t)i * L, L);
    for (int t = 0; t < L; t++) {
        const float *vr = j->v + off + (size_t)t * C;
        for (int e = 0; e < hd; e++) vt[(size_t)e * L + t] = vr[e];
    }
    gemm_dot(j->out + off, C, S, L, vt, L, NULL, L, hd, L, 1.0f);
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
