/*
 * ops.c — layernorm, GELU, SwiGLU gate, softmax, RoPE and attention (see ops.h).
 * Reductions are done in double where it is cheap, so that results stay within a few
 * float ulps of PyTorch's whatever the row length.
 */
#include "kernels/ops.h"

#include "kernels/gemm.h"

#include <math.h>
#include <string.h>

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
    for (int r = r0; r < r1; r++) {
        const float *x = j->inp + (size_t)r * j->C;
        float *o = j->out + (size_t)r * j->C;
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
    jc_pool_run(pool, (T + per - 1) / per, ln_task, &j);
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
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ew_task, &j);
}

void swiglu_forward(jaclip_pool *pool, float *out, const float *g, const float *u, size_t n)
{
    ew_job j = {out, g, u, n, 16384, 1};
    jc_pool_run(pool, (int)((n + j.chunk - 1) / j.chunk), ew_task, &j);
}

void residual_forward(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void softmax_row(float *x, int n)
{
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

/* One (segment, head): gather q, k and vᵀ of the head into contiguous blocks, then two
 * GEMMs around a row softmax. Per-thread scratch, see attention_scratch_floats. */
static void att_task(void *ctx, int task, int thread)
{
    const att_job *j = ctx;
    int s = task / j->H, h = task % j->H;
    int t0 = j->seg[s], L = j->seg[s + 1] - t0;
    const int C = j->C, hd = j->hd;
    float *qh = j->scratch + (size_t)thread * attention_scratch_floats(j->max_len, hd);
    float *kh = qh + (size_t)L * hd, *vt = kh + (size_t)L * hd, *oh = vt + (size_t)L * hd, *p = oh + (size_t)L * hd;
    for (int t = 0; t < L; t++) {
        const size_t off = (size_t)(t0 + t) * C + (size_t)h * hd;
        memcpy(qh + (size_t)t * hd, j->q + off, (size_t)hd * sizeof(float));
        memcpy(kh + (size_t)t * hd, j->k + off, (size_t)hd * sizeof(float));
        for (int e = 0; e < hd; e++) vt[(size_t)e * L + t] = j->v[off + e];
    }
    matmul_forward(NULL, p, qh, kh, NULL, L, hd, L); /* (L,L) = q kᵀ */
    for (int i = 0; i < L; i++) {
        float *row = p + (size_t)i * L;
        for (int t = 0; t < L; t++) row[t] *= j->scale;
        softmax_row(row, L);
    }
    matmul_forward(NULL, oh, p, vt, NULL, L, L, hd); /* (L,hd) = p v */
    for (int t = 0; t < L; t++)
        memcpy(j->out + (size_t)(t0 + t) * C + (size_t)h * hd, oh + (size_t)t * hd, (size_t)hd * sizeof(float));
}

size_t attention_scratch_floats(int max_len, int hd) { return (size_t)max_len * (4 * (size_t)hd + (size_t)max_len); }

void attention_forward(jaclip_pool *pool, float *out, const float *q, const float *k, const float *v, const int *seg,
                       int n_seg, int H, int hd, float scale, float *scratch, int max_len)
{
    att_job j = {out, q, k, v, seg, n_seg, H, hd, H * hd, max_len, scale, scratch};
    jc_pool_run(pool, n_seg * H, att_task, &j);
}
