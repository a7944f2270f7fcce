/*
 * ops.c — layernorm, GELU, SwiGLU gate, softmax, RoPE and attention (see ops.h).
 * The scalar versions reduce in double; the AVX2 versions (chosen with the GEMM's dispatch
 * level, JACLIP_GEMM) use 8-lane float sums, a Cephes-style exp (about 1 ulp; softmax, SwiGLU,
 * and attention's class-token-only variant), a base-2 exp (a degree-6 polynomial, relative
 * error below 8e-8; the full attention) and an Abramowitz-Stegun erf (|error| < 1.5e-7),
 * which keeps the towers within the parity tolerance of PyTorch. Attention runs per (sequence, head) over blocks of 12 query rows:
 * the block's scores against a transposed, zero-padded kᵀ, their exps (base 2, a 6-FMA
 * polynomial) and their product with v while the scores are in L1 (details at "attention"
 * below); the class-token-only variant (one query per sequence) as dot products with each
 * key, the softmax, and a p-weighted sum of v rows.
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

/* ---- attention ------------------------------------------------------------------------- */
/* Per (segment, head), in the thread's scratch (64-byte aligned):
 *   kt (hd, Lp)  kᵀ with Lp = L rounded up to 8, columns L..Lp-1 zero, in 16-column panels
 *   vp (L, hd)   v, in 16-column panels
 *   P  (12, Lp)  the scores, then exps, of one block of 12 query rows
 *   qe, oe (6, hd) a partial 6-row register block's query and output rows
 * A matrix "in 16-column panels" (m rows, n columns, n % 8 == 0) stores columns 16p..16p+W-1,
 * W = min(16, n - 16p), as one contiguous (m, W) block at offset 16p·m, so a register block
 * streams its operand sequentially. The AVX2 path walks the query rows in blocks of 12, two
 * 6-row register blocks that share each panel of kt and vp while it is in L1:
 * P = scale·log2(e)·q·kt (6 x 16 register blocks and a 6 x 8 one, all full thanks to the
 * padding), 2^(P - row max) over each row's first L scores, then out = (P·v) / row sum
 * (6 x 16 blocks), while the block's 12 x Lp scores are still in L1. A partial register
 * block runs the same kernels on zero-padded query rows, so every output row comes out of
 * the same arithmetic: one FMA chain over e per score, the exps of its own row, one FMA
 * chain over t per output times its row's 1/sum. A row thus never depends on its block,
 * its segment's neighbours or the thread. The portable path (any hd) goes row by row. */
#define ATT_MR 6    /* rows of a register block */
#define ATT_ROWS 12 /* rows of a block: 2 register blocks share each kt and vp panel read */

static inline int att_lp(int L) { return (L + 7) & ~7; }

size_t attention_scratch_floats(int max_len, int hd)
{
    size_t lp = (size_t)att_lp(max_len > 0 ? max_len : 1);
    return 2 * lp * (size_t)hd + ATT_ROWS * lp + 2 * ATT_MR * (size_t)hd + 16; /* + 16: 64-byte alignment */
}

typedef struct {
    float *out;
    const float *q, *k, *v;
    const int *seg;
    int n_seg, H, hd, C, max_len;
    float scale;
    float *scratch;
} att_job;

#ifdef JC_X86
static const int32_t att_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* address of element (r, c) of an (m, n) matrix in 16-column panels */
static inline float *att_panel(float *base, int m, int n, int r, int c)
{
    int p = c / 16, w = n - 16 * p < 16 ? n - 16 * p : 16;
    return base + (size_t)16 * p * m + (size_t)r * w + (c - 16 * p);
}

/* kt (hd, Lp) = kᵀ of the L rows of k (row stride C), zero columns L..Lp-1, in panels;
 * hd % 8 == 0. 8 x 8 tiles transposed in registers. */
__attribute__((target("avx2,fma"))) static void att_pack_k_avx2(float *kt, int Lp, const float *k, size_t C, int L,
                                                                int hd, const float *v)
{
    int t = 0;
    for (; t + 8 <= L; t += 8) {
        const size_t w = Lp - (t & ~15) < 16 ? 8 : 16;
        for (int u = t; u < t + 8; u++) /* v's rows, for att_pack_v_avx2 next */
            for (int e = 0; e < hd; e += 16) _mm_prefetch((const char *)(v + (size_t)u * C + e), _MM_HINT_T0);
        for (int e = 0; e < hd; e += 8) {
            const float *kr = k + (size_t)t * C + e;
            __m256 r0 = _mm256_loadu_ps(kr), r1 = _mm256_loadu_ps(kr + C), r2 = _mm256_loadu_ps(kr + 2 * C),
                   r3 = _mm256_loadu_ps(kr + 3 * C), r4 = _mm256_loadu_ps(kr + 4 * C),
                   r5 = _mm256_loadu_ps(kr + 5 * C), r6 = _mm256_loadu_ps(kr + 6 * C),
                   r7 = _mm256_loadu_ps(kr + 7 * C);
            __m256 u0 = _mm256_unpacklo_ps(r0, r1), u1 = _mm256_unpackhi_ps(r0, r1), u2 = _mm256_unpacklo_ps(r2, r3),
                   u3 = _mm256_unpackhi_ps(r2, r3), u4 = _mm256_unpacklo_ps(r4, r5), u5 = _mm256_unpackhi_ps(r4, r5),
                   u6 = _mm256_unpacklo_ps(r6, r7), u7 = _mm256_unpackhi_ps(r6, r7);
            __m256 s0 = _mm256_shuffle_ps(u0, u2, 0x44), s1 = _mm256_shuffle_ps(u0, u2, 0xEE),
                   s2 = _mm256_shuffle_ps(u1, u3, 0x44), s3 = _mm256_shuffle_ps(u1, u3, 0xEE),
                   s4 = _mm256_shuffle_ps(u4, u6, 0x44), s5 = _mm256_shuffle_ps(u4, u6, 0xEE),
                   s6 = _mm256_shuffle_ps(u5, u7, 0x44), s7 = _mm256_shuffle_ps(u5, u7, 0xEE);
            float *o = att_panel(kt, hd, Lp, e, t);
            _mm256_store_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_store_ps(o + w, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_store_ps(o + 2 * w, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_store_ps(o + 3 * w, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_store_ps(o + 4 * w, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_store_ps(o + 5 * w, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_store_ps(o + 6 * w, _mm256_permute2f128_ps(s2, s6, 0x31));
            _mm256_store_ps(o + 7 * w, _mm256_permute2f128_ps(s3, s7, 0x31));
        }
    }
    for (int e = 0; e < hd; e++)
        for (int u = t; u < Lp; u++) *att_panel(kt, hd, Lp, e, u) = u < L ? k[(size_t)u * C + e] : 0.0f;
}

/* vp (L, hd) = the L rows of v (row stride C) in panels; hd % 8 == 0 */
__attribute__((target("avx2,fma"))) static void att_pack_v_avx2(float *vp, const float *v, size_t C, int L, int hd)
{
    for (int e = 0; e < hd; e += 16) {
        float *o = att_panel(vp, L, hd, 0, e);
        if (hd - e >= 16)
            for (int t = 0; t < L; t++, o += 16) {
                const float *vr = v + (size_t)t * C + e;
                _mm256_store_ps(o, _mm256_loadu_ps(vr)), _mm256_store_ps(o + 8, _mm256_loadu_ps(vr + 8));
            }
        else
            for (int t = 0; t < L; t++, o += 8) _mm256_store_ps(o, _mm256_loadu_ps(v + (size_t)t * C + e));
    }
}

/* One panel of a 6-row block: c[r][0..W) (row stride ldc) = s[r·ss] · a (6 rows, stride lda)
 * · bp (K rows of W, contiguous), W = 16 or 8: 6 x W register blocks, one FMA chain over k per
 * element, then one multiply. Scores: a = q rows, bp = a kᵀ panel, s = scale · log2(e) (ss = 0);
 * outputs: a = P rows, bp = a v panel, s = the rows' 1/sum (ss = 1). */
__attribute__((target("avx2,fma"), always_inline)) static inline void att_blk6(float *c, size_t ldc, const float *a,
                                                                              size_t lda, const float *bp, int K,
                                                                              const float *s, int ss, const int W)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int k = 0; k < K; k++, bp += W) {
        __m256 b0 = _mm256_load_ps(bp), b1 = W == 16 ? _mm256_load_ps(bp + 8) : b0, av;
#define ROW(R0, R1, AR)                                                                                               \
    av = _mm256_broadcast_ss(AR + k), R0 = _mm256_fmadd_ps(av, b0, R0);                                               \
    if (W == 16) R1 = _mm256_fmadd_ps(av, b1, R1);
        ROW(c00, c01, a0) ROW(c10, c11, a1) ROW(c20, c21, a2) ROW(c30, c31, a3) ROW(c40, c41, a4) ROW(c50, c51, a5)
#undef ROW
    }
#define ST(R, R0, R1)                                                                                                 \
    {                                                                                                                 \
        __m256 sv = _mm256_broadcast_ss(s + (size_t)(R) * ss);                                                        \
        _mm256_storeu_ps(c + (R) * ldc, _mm256_mul_ps(R0, sv));                                                       \
        if (W == 16) _mm256_storeu_ps(c + (R) * ldc + 8, _mm256_mul_ps(R1, sv));                                      \
    }
    ST(0, c00, c01) ST(1, c10, c11) ST(2, c20, c21) ST(3, c30, c31) ST(4, c40, c41) ST(5, c50, c51)
#undef ST
}

/* 2^y for y <= 0 (inputs below -125 give 2^-125-ish instead of ~0, which no sum notices):
 * y = n + f, n = round(y) by the 1.5·2^23 trick, 2^f by a degree-6 polynomial on [-0.5, 0.5]
 * (a weighted least-squares fit, max relative error 8e-8 with float Horner steps), 2^n added
 * to the exponent bits. 6 FMAs; the rest runs on the add and integer pipes. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 att_exp2_avx2(__m256 y)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f); /* 1.5·2^23 */
    y = _mm256_max_ps(y, _mm256_set1_ps(-125.0f));
    __m256 t = _mm256_add_ps(y, magic);
    __m256 f = _mm256_sub_ps(y, _mm256_sub_ps(t, magic));
    __m256 p = _mm256_set1_ps(1.5345810970757157e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3399930903688073e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618489071726799e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550328642129898e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022646248340607e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931471824645996e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    /* the low bits of t hold n (two's complement, |n| < 2^22): shifted by 23 they are n·2^23 */
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}

/* Each of the 6 rows of P (stride Lp): P[t] = 2^(P[t] - max) for t < L, the scores being
 * already multiplied by log2(e) (rows aligned, room up to L rounded up to 8; lanes L.. of
 * the last vector are left 0); inv[r] = 1 / Σ, the softmax's normalisation, which att_blk6
 * applies to the outputs instead of to the L probabilities. Two rows at a time, for two
 * independent dependency chains; each row's result is its own. */
__attribute__((target("avx2,fma"))) static void att_exp_avx2(float *P, int Lp, int L, float *inv)
{
    const int nv = (L + 7) / 8, tail = L - (nv - 1) * 8;
    const __m256 last = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(att_mask + 8 - tail)));
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx[ATT_MR], sv[ATT_MR];
    for (int r = 0; r < ATT_MR; r++) {
        const float *x = P + (size_t)r * Lp;
        __m256 m0 = ninf, m1 = ninf;
        int i = 0;
        for (; i + 2 < nv; i += 2)
            m0 = _mm256_max_ps(m0, _mm256_load_ps(x + 8 * i)), m1 = _mm256_max_ps(m1, _mm256_load_ps(x + 8 * i + 8));
        if (i + 1 < nv) m0 = _mm256_max_ps(m0, _mm256_load_ps(x + 8 * i));
        m1 = _mm256_max_ps(m1, _mm256_blendv_ps(ninf, _mm256_load_ps(x + 8 * (nv - 1)), last));
        mx[r] = _mm256_set1_ps(jc_hmax8_avx2(_mm256_max_ps(m0, m1)));
    }
    for (int r = 0; r < ATT_MR; r += 2) { /* two rows at a time: sums and maxima in registers */
        float *x0 = P + (size_t)r * Lp, *x1 = x0 + Lp;
        const __m256 m0 = mx[r], m1 = mx[r + 1];
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (int i = 0; i < 8 * (nv - 1); i += 8) {
            __m256 e0 = att_exp2_avx2(_mm256_sub_ps(_mm256_load_ps(x0 + i), m0));
            __m256 e1 = att_exp2_avx2(_mm256_sub_ps(_mm256_load_ps(x1 + i), m1));
            _mm256_store_ps(x0 + i, e0), _mm256_store_ps(x1 + i, e1);
            s0 = _mm256_add_ps(s0, e0), s1 = _mm256_add_ps(s1, e1);
        }
        sv[r] = s0, sv[r + 1] = s1;
    }
    for (int r = 0; r < ATT_MR; r++) {
        float *x = P + (size_t)r * Lp + 8 * (nv - 1);
        __m256 e = _mm256_and_ps(att_exp2_avx2(_mm256_sub_ps(_mm256_load_ps(x), mx[r])), last);
        _mm256_store_ps(x, e);
        inv[r] = 1.0f / jc_hsum8_avx2(_mm256_add_ps(sv[r], e));
    }
}

/* one (segment, head), hd % 8 == 0: see the comment at the top of this section */
__attribute__((target("avx2,fma"))) static void att_head_avx2(float *out, const float *q, const float *k,
                                                              const float *v, size_t C, int L, int hd, float scale,
                                                              float *ws)
{
    const int Lp = att_lp(L);
    /* exp(s) = 2^(s·log2 e): the scores come out of att_blk6 already in base 2 */
    const float al = (float)(scale * 1.4426950408889634);
    float *kt = ws, *vp = kt + (size_t)hd * Lp, *P = vp + (size_t)hd * Lp, *qe = P + ATT_ROWS * (size_t)Lp,
          *oe = qe + ATT_MR * (size_t)hd;
    att_pack_k_avx2(kt, Lp, k, C, L, hd, v);
    att_pack_v_avx2(vp, v, C, L, hd);
    for (int i = 0; i < L; i += ATT_ROWS) {
        const int mr = L - i < ATT_ROWS ? L - i : ATT_ROWS, nsub = (mr + ATT_MR - 1) / ATT_MR;
        const float *qa[ATT_ROWS / ATT_MR];
        float *o[ATT_ROWS / ATT_MR], inv[ATT_ROWS];
        size_t lda[ATT_ROWS / ATT_MR], ldo[ATT_ROWS / ATT_MR];
        for (int b = 0; b < nsub; b++) {
            const int r0 = i + b * ATT_MR, n = L - r0 < ATT_MR ? L - r0 : ATT_MR;
            qa[b] = q + (size_t)r0 * C, o[b] = out + (size_t)r0 * C, lda[b] = ldo[b] = C;
            if (n < ATT_MR) { /* partial sub-block: zero query rows, output rows in oe */
                for (int r = 0; r < ATT_MR; r++)
                    if (r < n) memcpy(qe + (size_t)r * hd, qa[b] + (size_t)r * C, (size_t)hd * sizeof(float));
                    else memset(qe + (size_t)r * hd, 0, (size_t)hd * sizeof(float));
                qa[b] = qe, o[b] = oe, lda[b] = ldo[b] = (size_t)hd;
            }
        }
        for (int r = i + ATT_ROWS; r < i + 2 * ATT_ROWS && r < L; r++) /* the next block's query rows */
            for (int e = 0; e < hd; e += 16) _mm_prefetch((const char *)(q + (size_t)r * C + e), _MM_HINT_T0);
        /* scores, panel by panel: a kt panel is read from L2 once for the block's sub-blocks */
        int j = 0;
        for (; j + 16 <= Lp; j += 16)
            for (int b = 0; b < nsub; b++)
                att_blk6(P + (size_t)b * ATT_MR * Lp + j, Lp, qa[b], lda[b], kt + (size_t)j * hd, hd, &al, 0, 16);
        if (j < Lp)
            for (int b = 0; b < nsub; b++)
                att_blk6(P + (size_t)b * ATT_MR * Lp + j, Lp, qa[b], lda[b], kt + (size_t)j * hd, hd, &al, 0, 8);
        for (int b = 0; b < nsub; b++) att_exp_avx2(P + (size_t)b * ATT_MR * Lp, Lp, L, inv + b * ATT_MR);
        /* P·v, panel by panel, likewise */
        int e = 0;
        for (; e + 16 <= hd; e += 16)
            for (int b = 0; b < nsub; b++)
                att_blk6(o[b] + e, ldo[b], P + (size_t)b * ATT_MR * Lp, Lp, vp + (size_t)e * L, L, inv + b * ATT_MR, 1,
                         16);
        if (e < hd)
            for (int b = 0; b < nsub; b++)
                att_blk6(o[b] + e, ldo[b], P + (size_t)b * ATT_MR * Lp, Lp, vp + (size_t)e * L, L, inv + b * ATT_MR, 1, 8);
        for (int r = 0; r < mr % ATT_MR; r++)
                memcpy(out + (size_t)(i + mr - mr % ATT_MR + r) * C, oe + (size_t)r * hd, (size_t)hd * sizeof(float));
    }
}
#endif

/* portable: one query row at a time (score = chain over e times scale, softmax_row,
 * output = chain over t, as in the AVX2 path; the exp and the place of 1/sum differ) */
static void att_head_portable(float *out, const float *q, const float *k, const float *v, size_t C, int L, int hd,
                              float scale, float *p)
{
    for (int i = 0; i < L; i++) {
        const float *qr = q + (size_t)i * C;
        for (int t = 0; t < L; t++) {
            const float *kr = k + (size_t)t * C;
            float s = 0;
            for (int e = 0; e < hd; e++) s += qr[e] * kr[e];
            p[t] = s * scale;
        }
        softmax_row(p, L);
        float *o = out + (size_t)i * C;
        for (int e = 0; e < hd; e++) o[e] = 0;
        for (int t = 0; t < L; t++) {
            const float *vr = v + (size_t)t * C;
            const float pt = p[t];
            for (int e = 0; e < hd; e++) o[e] += pt * vr[e];
        }
    }
}

static void att_task(void *ctx, int task, int thread)
{
    const att_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    if (L <= 0) return;
    const int hd = j->hd;
    const size_t off = (size_t)t0 * j->C + (size_t)h * hd;
    float *ws = j->scratch + (size_t)thread * attention_scratch_floats(j->max_len, hd);
    ws += (64 - (uintptr_t)ws % 64) % 64 / sizeof(float); /* 64-byte aligned (scratch is float-aligned) */
#ifdef JC_X86
    if (use_avx2() && hd % 8 == 0) {
        att_head_avx2(j->out + off, j->q + off, j->k + off, j->v + off, (size_t)j->C, L, hd, j->scale, ws);
        return;
    }
#endif
    att_head_portable(j->out + off, j->q + off, j->k + off, j->v + off, (size_t)j->C, L, hd, j->scale, ws);
}

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
 * output columns in registers, 32 at a time (an FMA chain in t order, like att_blk6) */
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
