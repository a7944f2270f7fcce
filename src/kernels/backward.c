/*
 * backward.c — backward kernels (see backward.h). Reductions over rows (weight and bias
 * gradients) are split over fixed column blocks, never over threads, so results do not
 * depend on the pool size.
 */
#include "kernels/backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define JC_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define JC_SIMD_CLONES
#endif

float *jc_scratch_get(jc_scratch *s, size_t n)
{
    if (n <= s->n) return s->p;
    jc_free_aligned(s->p);
    s->p = jc_malloc_aligned((n + 1024) * sizeof(float));
    s->n = s->p ? n + 1024 : 0;
    return s->p;
}

void jc_scratch_free(jc_scratch *s)
{
    jc_free_aligned(s->p);
    s->p = NULL;
    s->n = 0;
}

/* ---- helpers: blocked transpose and accumulate, spread over the pool -------------------- */
typedef struct {
    float *out;
    const float *in;
    int R, C; /* in (R,C) -> out (C,R) */
} tr_job;

#define TR_BLK 64
JC_SIMD_CLONES static void tr_task(void *ctx, int task, int thread)
{
    (void)thread;
    const tr_job *j = ctx;
    int r0 = task * TR_BLK, r1 = r0 + TR_BLK < j->R ? r0 + TR_BLK : j->R;
    for (int c0 = 0; c0 < j->C; c0 += TR_BLK) {
        int c1 = c0 + TR_BLK < j->C ? c0 + TR_BLK : j->C;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) j->out[(size_t)c * j->R + r] = j->in[(size_t)r * j->C + c];
    }
}

static void transpose(jaclip_pool *pool, float *out, const float *in, int R, int C)
{
    tr_job j = {out, in, R, C};
    jc_pool_run(pool, (R + TR_BLK - 1) / TR_BLK, tr_task, &j);
}

typedef struct {
    float *x;
    const float *y;
    size_t n, chunk;
} add_job;

JC_SIMD_CLONES static void add_task(void *ctx, int task, int thread)
{
    (void)thread;
    const add_job *j = ctx;
    size_t i0 = (size_t)task * j->chunk, i1 = i0 + j->chunk < j->n ? i0 + j->chunk : j->n;
    for (size_t i = i0; i < i1; i++) j->x[i] += j->y[i];
}

static void add_into(jaclip_pool *pool, float *x, const float *y, size_t n)
{
    add_job j = {x, y, n, 65536};
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), add_task, &j);
}

/* ---- matmul ------------------------------------------------------------------------------ */
typedef struct {
    float *db;
    const float *dout;
    int M, N;
} db_job;

#define DB_BLK 64
JC_SIMD_CLONES static void db_task(void *ctx, int task, int thread)
{
    (void)thread;
    const db_job *j = ctx;
    int n0 = task * DB_BLK, n1 = n0 + DB_BLK < j->N ? n0 + DB_BLK : j->N;
    double acc[DB_BLK] = {0};
    for (int m = 0; m < j->M; m++) {
        const float *r = j->dout + (size_t)m * j->N;
        for (int n = n0; n < n1; n++) acc[n - n0] += r[n];
    }
    for (int n = n0; n < n1; n++) j->db[n] += (float)acc[n - n0];
}

void matmul_backward(jaclip_pool *pool, jc_scratch *s, float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int M, int K, int N)
{
    size_t mk = (size_t)M * K, kn = (size_t)K * N, mn = (size_t)M * N;
    if (dinp) {
        float *wt = jc_scratch_get(s, kn + mk);
        if (!wt) return; /* callers size the scratch up front; see train_scratch_reserve */
        float *tmp = wt + kn;
        transpose(pool, wt, w, N, K); /* (K,N) */
        matmul_forward(pool, tmp, dout, wt, NULL, M, N, K);
        add_into(pool, dinp, tmp, mk);
    }
    if (dw) {
        float *dt = jc_scratch_get(s, mn + mk + kn);
        if (!dt) return;
        float *it = dt + mn, *tmp = it + mk;
        transpose(pool, dt, dout, M, N); /* (N,M) */
        transpose(pool, it, inp, M, K);  /* (K,M) */
        matmul_forward(pool, tmp, dt, it, NULL, N, M, K);
        add_into(pool, dw, tmp, kn);
    }
    if (db) {
        db_job j = {db, dout, M, N};
        jc_pool_run(pool, (N + DB_BLK - 1) / DB_BLK, db_task, &j);
    }
}

/* ---- layernorm --------------------------------------------------------------------------- */
typedef struct {
    float *dinp, *dw, *db, *stats;
    const float *dout, *inp, *w;
    int T, C;
    float eps;
} lnb_job;

#define LN_ROWS 16
JC_SIMD_CLONES static void lnb_rows(void *ctx, int task, int thread)
{
    (void)thread;
    const lnb_job *j = ctx;
    int r0 = task * LN_ROWS, r1 = r0 + LN_ROWS < j->T ? r0 + LN_ROWS : j->T;
    int C = j->C;
    for (int r = r0; r < r1; r++) {
        const float *x = j->inp + (size_t)r * C, *dy = j->dout + (size_t)r * C;
        double s = 0;
        for (int i = 0; i < C; i++) s += x[i];
        double mean = s / C, v = 0;
        for (int i = 0; i < C; i++) {
            double d = x[i] - mean;
            v += d * d;
        }
        double rstd = 1.0 / sqrt(v / C + (double)j->eps);
        j->stats[2 * r] = (float)mean;
        j->stats[2 * r + 1] = (float)rstd;
        if (!j->dinp) continue;
        /* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w */
        double sg = 0, sgx = 0;
        for (int i = 0; i < C; i++) {
            double g = (double)dy[i] * j->w[i], xh = (x[i] - mean) * rstd;
            sg += g;
            sgx += g * xh;
        }
        sg /= C;
        sgx /= C;
        float *dx = j->dinp + (size_t)r * C;
        for (int i = 0; i < C; i++) {
            double g = (double)dy[i] * j->w[i], xh = (x[i] - mean) * rstd;
            dx[i] += (float)(rstd * (g - sg - xh * sgx));
        }
    }
}

JC_SIMD_CLONES static void lnb_cols(void *ctx, int task, int thread)
{
    (void)thread;
    const lnb_job *j = ctx;
    int c0 = task * DB_BLK, c1 = c0 + DB_BLK < j->C ? c0 + DB_BLK : j->C;
    double aw[DB_BLK] = {0}, ab[DB_BLK] = {0};
    for (int r = 0; r < j->T; r++) {
        const float *x = j->inp + (size_t)r * j->C, *dy = j->dout + (size_t)r * j->C;
        float mean = j->stats[2 * r], rstd = j->stats[2 * r + 1];
        for (int c = c0; c < c1; c++) {
            aw[c - c0] += (double)dy[c] * ((x[c] - mean) * rstd);
            ab[c - c0] += dy[c];
        }
    }
    for (int c = c0; c < c1; c++) {
        j->dw[c] += (float)aw[c - c0];
        j->db[c] += (float)ab[c - c0];
    }
}

void layernorm_backward(jaclip_pool *pool, jc_scratch *s, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int T, int C, float eps)
{
    float *stats = jc_scratch_get(s, (size_t)2 * T);
    if (!stats) return;
    lnb_job j = {dinp, dw, db, stats, dout, inp, w, T, C, eps};
    jc_pool_run(pool, (T + LN_ROWS - 1) / LN_ROWS, lnb_rows, &j);
    if (dw && db) jc_pool_run(pool, (C + DB_BLK - 1) / DB_BLK, lnb_cols, &j);
}

/* ---- element-wise ------------------------------------------------------------------------ */
typedef struct {
    float *d1, *d2;
    const float *a, *b, *dout;
    size_t n, chunk;
    int op;
} ewb_job;

JC_SIMD_CLONES static void ewb_task(void *ctx, int task, int thread)
{
    (void)thread;
    const ewb_job *j = ctx;
    size_t i0 = (size_t)task * j->chunk, i1 = i0 + j->chunk < j->n ? i0 + j->chunk : j->n;
    if (j->op == 0) { /* gelu: d/dx 0.5x(1+erf(x/√2)) = Φ(x) + x φ(x) */
        for (size_t i = i0; i < i1; i++) {
            double x = j->a[i];
            double cdf = 0.5 * (1.0 + erf(x * 0.70710678118654752440));
            double pdf = exp(-0.5 * x * x) * 0.39894228040143267794;
            j->d1[i] += (float)((cdf + x * pdf) * j->dout[i]);
        }
    } else { /* swiglu */
        for (size_t i = i0; i < i1; i++) {
            float g = j->a[i], u = j->b[i], dy = j->dout[i];
            float sg = 1.0f / (1.0f + expf(-g));
            j->d1[i] += dy * u * sg * (1.0f + g * (1.0f - sg));
            j->d2[i] += dy * g * sg;
        }
    }
}

void gelu_backward(jaclip_pool *pool, float *dinp, const float *inp, const float *dout, size_t n)
{
    ewb_job j = {dinp, NULL, inp, NULL, dout, n, 16384, 0};
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ewb_task, &j);
}

void swiglu_backward(jaclip_pool *pool, float *dg, float *du, const float *g, const float *u, const float *dout,
                     size_t n)
{
    ewb_job j = {dg, du, g, u, dout, n, 16384, 1};
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ewb_task, &j);
}

void rope_backward(float *dx, int C, int head_dim, int first, int n_tokens, const float *sin_t, const float *cos_t)
{
    /* forward: y0 = x0 c0 - x1 s0, y1 = x1 c1 + x0 s1  =>  dx0 = dy0 c0 + dy1 s1, dx1 = dy1 c1 - dy0 s0 */
    for (int t = 0; t < n_tokens; t++) {
        float *row = dx + (size_t)(first + t) * C;
        const float *s = sin_t + (size_t)t * head_dim, *c = cos_t + (size_t)t * head_dim;
        for (int h = 0; h < C; h += head_dim)
            for (int m = 0; m < head_dim; m += 2) {
                float d0 = row[h + m], d1 = row[h + m + 1];
                row[h + m] = d0 * c[m] + d1 * s[m + 1];
                row[h + m + 1] = d1 * c[m + 1] - d0 * s[m];
            }
    }
}

/* ---- attention --------------------------------------------------------------------------- */
typedef struct {
    float *dq, *dk, *dv;
    const float *dout, *q, *k, *v;
    const int *seg;
    int H, hd, C, max_len;
    float scale;
    float *scratch;
} attb_job;

JC_SIMD_CLONES static void attb_task(void *ctx, int task, int thread)
{
    const attb_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    const int C = j->C, hd = j->hd, ML = j->max_len;
    /* per thread: p, dp (L) and this head's K and V transposed (hd, L), so that every inner
     * loop is a unit-stride axpy the compiler vectorises */
    float *p = j->scratch + (size_t)thread * (2 + 2 * (size_t)hd) * ML, *dp = p + ML, *kt = dp + ML,
          *vt = kt + (size_t)hd * ML;
    for (int t = 0; t < L; t++)
        for (int e = 0; e < hd; e++) {
            kt[(size_t)e * L + t] = j->k[(size_t)(t0 + t) * C + h * hd + e];
            vt[(size_t)e * L + t] = j->v[(size_t)(t0 + t) * C + h * hd + e];
        }
    for (int i = 0; i < L; i++) {
        const float *qi = j->q + (size_t)(t0 + i) * C + h * hd;
        const float *go = j->dout + (size_t)(t0 + i) * C + h * hd;
        for (int t = 0; t < L; t++) p[t] = 0, dp[t] = 0;
        for (int e = 0; e < hd; e++) {
            const float *kr = kt + (size_t)e * L, *vr = vt + (size_t)e * L;
            float qe = qi[e], ge = go[e];
            for (int t = 0; t < L; t++) {
                p[t] += qe * kr[t];
                dp[t] += ge * vr[t];
            }
        }
        for (int t = 0; t < L; t++) p[t] *= j->scale;
        softmax_row(p, L);
        double sum = 0;
        for (int t = 0; t < L; t++) sum += (double)p[t] * dp[t];
        float *dqi = j->dq + (size_t)(t0 + i) * C + h * hd;
        for (int t = 0; t < L; t++) {
            float ds = p[t] * (dp[t] - (float)sum) * j->scale, pt = p[t];
            const float *kr = j->k + (size_t)(t0 + t) * C + h * hd;
            float *dkt = j->dk + (size_t)(t0 + t) * C + h * hd, *dvt = j->dv + (size_t)(t0 + t) * C + h * hd;
            for (int e = 0; e < hd; e++) {
                dqi[e] += ds * kr[e];
                dkt[e] += ds * qi[e];
                dvt[e] += pt * go[e];
            }
        }
    }
}

void attention_backward(jaclip_pool *pool, float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const int *seg, int n_seg, int H, int hd, float scale,
                        float *scratch, int max_len)
{
    attb_job j = {dq, dk, dv, dout, q, k, v, seg, H, hd, H * hd, max_len, scale, scratch};
    jc_pool_run(pool, n_seg * H, attb_task, &j);
}
