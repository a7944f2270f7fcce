/*
 * towers.c — the training forward and backward of both towers and the whole CLIP step.
 * The forward calls the same kernels as inference (matmul_forward, layernorm_forward,
 * rope_forward, attention_forward, swiglu_forward, gelu_forward) in the order of
 * model/vision.c and model/text.c, but keeps every layer's inputs in one activation buffer
 * (c->act) so that the backward (kernels/backward.c) can run layer by layer in reverse.
 *
 * Vision block l keeps: xin, h1, q, k (after RoPE), v, att, attn_ln, x2, h2 (T,D) and
 * g, u, sw, swln (T,F). Text layer l keeps: xin, q, k, v, att, r1, x1, r2 (T,D) and
 * pre, act (T,I). Gradients flow through a second buffer of per-layer temporaries.
 */
#include <math.h>
#include <string.h>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "train/train.h"

#define GR(c, p) ((c)->g + ((p) - (c)->w)) /* gradient of parameter pointer p */

typedef struct vis_layout {
    int B, N, n1, T, D, F, KP, dim;
    float *patches, *pemb, *blocks, *xL, *clsx, *clsln, *feat;
    size_t per_block;
} vis_layout;

typedef struct txt_layout {
    int n, T, D, I, dim, max_len;
    float *emb, *layers, *xL, *pooled, *feat;
    size_t per_layer;
} txt_layout;

static size_t vis_size(const jc_clip *c, int B, vis_layout *v)
{
    const jc_vision_config *vc = &c->cfg.vision;
    v->B = B;
    int g = vc->img_size / vc->patch_size;
    v->N = g * g, v->n1 = v->N + 1, v->T = B * v->n1, v->D = vc->embed_dim, v->F = vc->mlp_hidden;
    v->KP = 3 * vc->patch_size * vc->patch_size, v->dim = c->dim;
    size_t TD = (size_t)v->T * v->D, TF = (size_t)v->T * v->F;
    v->per_block = 9 * TD + 4 * TF;
    return (size_t)B * v->N * v->KP + (size_t)B * v->N * v->D + vc->depth * v->per_block + TD +
           2 * (size_t)B * v->D + (size_t)B * v->dim;
}

static void vis_carve(vis_layout *v, float *p, int depth)
{
    size_t TD = (size_t)v->T * v->D;
    v->patches = p, p += (size_t)v->B * v->N * v->KP;
    v->pemb = p, p += (size_t)v->B * v->N * v->D;
    v->blocks = p, p += depth * v->per_block;
    v->xL = p, p += TD;
    v->clsx = p, p += (size_t)v->B * v->D;
    v->clsln = p, p += (size_t)v->B * v->D;
    v->feat = p;
}

/* pointers of block l's stored activations */
typedef struct vblk {
    float *xin, *h1, *q, *k, *v, *att, *attn_ln, *x2, *h2, *g, *u, *sw, *swln;
} vblk;

static vblk vis_block(const vis_layout *v, int l)
{
    size_t TD = (size_t)v->T * v->D, TF = (size_t)v->T * v->F;
    float *p = v->blocks + l * v->per_block;
    vblk b;
    b.xin = p, b.h1 = p + TD, b.q = p + 2 * TD, b.k = p + 3 * TD, b.v = p + 4 * TD, b.att = p + 5 * TD;
    b.attn_ln = p + 6 * TD, b.x2 = p + 7 * TD, b.h2 = p + 8 * TD;
    p += 9 * TD;
    b.g = p, b.u = p + TF, b.sw = p + 2 * TF, b.swln = p + 3 * TF;
    return b;
}

static size_t txt_size(const jc_clip *c, int n, int T, txt_layout *t)
{
    const jc_text_config *tc = &c->cfg.text;
    t->n = n, t->T = T, t->D = tc->hidden_size, t->I = tc->intermediate_size, t->dim = c->dim;
    size_t TD = (size_t)T * t->D, TI = (size_t)T * t->I;
    t->per_layer = 8 * TD + 2 * TI;
    return TD + tc->num_hidden_layers * t->per_layer + TD + (size_t)n * t->D + (size_t)n * t->dim;
}

static void txt_carve(txt_layout *t, float *p, int layers)
{
    size_t TD = (size_t)t->T * t->D;
    t->emb = p, p += TD;
    t->layers = p, p += layers * t->per_layer;
    t->xL = p, p += TD;
    t->pooled = p, p += (size_t)t->n * t->D;
    t->feat = p;
}

typedef struct tlay {
    float *xin, *q, *k, *v, *att, *r1, *x1, *r2, *pre, *act;
} tlay;

static tlay txt_layer(const txt_layout *t, int l)
{
    size_t TD = (size_t)t->T * t->D, TI = (size_t)t->T * t->I;
    float *p = t->layers + l * t->per_layer;
    tlay r;
    r.xin = p, r.q = p + TD, r.k = p + 2 * TD, r.v = p + 3 * TD, r.att = p + 4 * TD, r.r1 = p + 5 * TD;
    r.x1 = p + 6 * TD, r.r2 = p + 7 * TD;
    r.pre = p + 8 * TD, r.act = r.pre + TI;
    return r;
}

/* ---- vision ------------------------------------------------------------------------------ */
static void vis_forward(jc_clip *c, vis_layout *v, const float *pixels, const int *seg, float *scores)
{
    const jc_vision_config *vc = &c->cfg.vision;
    jaclip_pool *P = c->pool;
    int B = v->B, N = v->N, n1 = v->n1, T = v->T, D = v->D, F = v->F, ps = vc->patch_size, S = vc->img_size;
    int g = S / ps, H = vc->num_heads, hd = D / H;
    float eps = (float)vc->norm_eps;
    for (int b = 0; b < B; b++)
        for (int r = 0; r < g; r++)
            for (int col = 0; col < g; col++) {
                float *p = v->patches + ((size_t)b * N + (size_t)r * g + col) * v->KP;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < ps; ky++)
                        memcpy(p + (ch * ps + ky) * ps,
                               pixels + (((size_t)b * 3 + ch) * S + (size_t)r * ps + ky) * S + (size_t)col * ps,
                               (size_t)ps * sizeof(float));
            }
    matmul_forward(P, v->pemb, v->patches, c->vis.patch_w, c->vis.patch_b, B * N, v->KP, D);
    float *x = vis_block(v, 0).xin;
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)seg[b] * D;
        memcpy(xb, c->vis.cls, (size_t)D * sizeof(float));
        memcpy(xb + D, v->pemb + (size_t)b * N * D, (size_t)N * D * sizeof(float));
        residual_forward(xb, c->vis.pos, (size_t)n1 * D);
    }
    for (int l = 0; l < vc->depth; l++) {
        const eva_block_w *w = &c->vis.blocks[l];
        vblk a = vis_block(v, l);
        float *xout = l + 1 < vc->depth ? vis_block(v, l + 1).xin : v->xL;
        layernorm_forward(P, a.h1, a.xin, w->norm1_w, w->norm1_b, T, D, eps);
        matmul_forward(P, a.q, a.h1, w->q_w, w->q_b, T, D, D);
        matmul_forward(P, a.k, a.h1, w->k_w, NULL, T, D, D);
        matmul_forward(P, a.v, a.h1, w->v_w, w->v_b, T, D, D);
        for (int b = 0; b < B; b++) {
            rope_forward(a.q, D, hd, seg[b] + 1, n1 - 1, c->rope_sin, c->rope_cos);
            rope_forward(a.k, D, hd, seg[b] + 1, n1 - 1, c->rope_sin, c->rope_cos);
        }
        attention_forward(P, a.att, a.q, a.k, a.v, seg, B, H, hd, 1.0f / sqrtf((float)hd), scores, n1);
        layernorm_forward(P, a.attn_ln, a.att, w->attn_norm_w, w->attn_norm_b, T, D, eps);
        matmul_forward(P, a.x2, a.attn_ln, w->proj_w, w->proj_b, T, D, D);
        residual_forward(a.x2, a.xin, (size_t)T * D);
        layernorm_forward(P, a.h2, a.x2, w->norm2_w, w->norm2_b, T, D, eps);
        matmul_forward(P, a.g, a.h2, w->fc1_g_w, w->fc1_g_b, T, D, F);
        matmul_forward(P, a.u, a.h2, w->fc1_x_w, w->fc1_x_b, T, D, F);
        swiglu_forward(P, a.sw, a.g, a.u, (size_t)T * F);
        layernorm_forward(P, a.swln, a.sw, w->mlp_norm_w, w->mlp_norm_b, T, F, eps);
        matmul_forward(P, xout, a.swln, w->fc2_w, w->fc2_b, T, F, D);
        residual_forward(xout, a.x2, (size_t)T * D);
    }
    for (int b = 0; b < B; b++) memcpy(v->clsx + (size_t)b * D, v->xL + (size_t)seg[b] * D, (size_t)D * sizeof(float));
    layernorm_forward(P, v->clsln, v->clsx, c->vis.norm_w, c->vis.norm_b, B, D, eps);
    matmul_forward(P, v->feat, v->clsln, c->vis.neck_w, NULL, B, D, v->dim);
}

/* gbuf: 7 (T,D) + 4 (T,F) floats; dfeat (B,dim) */
static void vis_backward(jc_clip *c, vis_layout *v, const int *seg, const float *dfeat, float *gbuf, float *scores)
{
    const jc_vision_config *vc = &c->cfg.vision;
    jaclip_pool *P = c->pool;
    jc_scratch *S = &c->scratch;
    int B = v->B, N = v->N, n1 = v->n1, T = v->T, D = v->D, F = v->F, H = vc->num_heads, hd = D / H;
    float eps = (float)vc->norm_eps, scale = 1.0f / sqrtf((float)hd);
    size_t TD = (size_t)T * D, TF = (size_t)T * F;
    float *dx = gbuf, *dh = dx + TD, *dq = dh + TD, *dk = dq + TD, *dv = dk + TD, *datt = dv + TD, *dln = datt + TD;
    float *dg = dln + TD, *du = dg + TF, *dsw = du + TF, *dswln = dsw + TF;
    /* neck and final norm on the class tokens (dh holds the (B,D) temporaries) */
    float *dcls = dh, *dclsx = dh + (size_t)B * D;
    memset(dh, 0, 2 * (size_t)B * D * sizeof(float));
    matmul_backward(P, S, dcls, GR(c, c->vis.neck_w), NULL, dfeat, v->clsln, c->vis.neck_w, B, D, v->dim);
    layernorm_backward(P, S, dclsx, GR(c, c->vis.norm_w), GR(c, c->vis.norm_b), dcls, v->clsx, c->vis.norm_w, B, D,
                       eps);
    memset(dx, 0, TD * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(dx + (size_t)seg[b] * D, dclsx + (size_t)b * D, (size_t)D * sizeof(float));
    for (int l = vc->depth - 1; l >= 0; l--) {
        const eva_block_w *w = &c->vis.blocks[l];
        vblk a = vis_block(v, l);
        /* x_out = x2 + fc2(LN(silu(g)·u)) */
        memset(dswln, 0, TF * sizeof(float));
        matmul_backward(P, S, dswln, GR(c, w->fc2_w), GR(c, w->fc2_b), dx, a.swln, w->fc2_w, T, F, D);
        memset(dsw, 0, TF * sizeof(float));
        layernorm_backward(P, S, dsw, GR(c, w->mlp_norm_w), GR(c, w->mlp_norm_b), dswln, a.sw, w->mlp_norm_w, T, F,
                           eps);
        memset(dg, 0, 2 * TF * sizeof(float)); /* dg, du */
        swiglu_backward(P, dg, du, a.g, a.u, dsw, TF);
        memset(dh, 0, TD * sizeof(float));
        matmul_backward(P, S, dh, GR(c, w->fc1_g_w), GR(c, w->fc1_g_b), dg, a.h2, w->fc1_g_w, T, D, F);
        matmul_backward(P, S, dh, GR(c, w->fc1_x_w), GR(c, w->fc1_x_b), du, a.h2, w->fc1_x_w, T, D, F);
        layernorm_backward(P, S, dx, GR(c, w->norm2_w), GR(c, w->norm2_b), dh, a.x2, w->norm2_w, T, D, eps);
        /* x2 = xin + proj(LN(attn(rope(q), rope(k), v))) */
        memset(dln, 0, TD * sizeof(float));
        matmul_backward(P, S, dln, GR(c, w->proj_w), GR(c, w->proj_b), dx, a.attn_ln, w->proj_w, T, D, D);
        memset(datt, 0, TD * sizeof(float));
        layernorm_backward(P, S, datt, GR(c, w->attn_norm_w), GR(c, w->attn_norm_b), dln, a.att, w->attn_norm_w, T,
                           D, eps);
        memset(dq, 0, 3 * TD * sizeof(float)); /* dq, dk, dv */
        attention_backward(P, dq, dk, dv, datt, a.q, a.k, a.v, seg, B, H, hd, scale, scores, n1);
        for (int b = 0; b < B; b++) {
            rope_backward(dq, D, hd, seg[b] + 1, n1 - 1, c->rope_sin, c->rope_cos);
            rope_backward(dk, D, hd, seg[b] + 1, n1 - 1, c->rope_sin, c->rope_cos);
        }
        memset(dh, 0, TD * sizeof(float));
        matmul_backward(P, S, dh, GR(c, w->q_w), GR(c, w->q_b), dq, a.h1, w->q_w, T, D, D);
        matmul_backward(P, S, dh, GR(c, w->k_w), NULL, dk, a.h1, w->k_w, T, D, D);
        matmul_backward(P, S, dh, GR(c, w->v_w), GR(c, w->v_b), dv, a.h1, w->v_w, T, D, D);
        layernorm_backward(P, S, dx, GR(c, w->norm1_w), GR(c, w->norm1_b), dh, a.xin, w->norm1_w, T, D, eps);
    }
    /* x0 = [cls; patch_embed(pixels)] + pos */
    float *dcls_p = GR(c, c->vis.cls), *dpos = GR(c, c->vis.pos);
    for (int b = 0; b < B; b++) {
        const float *db = dx + (size_t)seg[b] * D;
        for (size_t i = 0; i < (size_t)n1 * D; i++) dpos[i] += db[i];
        for (int i = 0; i < D; i++) dcls_p[i] += db[i];
        memcpy(dh + (size_t)b * N * D, db + D, (size_t)N * D * sizeof(float));
    }
    matmul_backward(P, S, NULL, GR(c, c->vis.patch_w), GR(c, c->vis.patch_b), dh, v->patches, c->vis.patch_w, B * N,
                    v->KP, D);
}

/* ---- text -------------------------------------------------------------------------------- */
static void txt_forward(jc_clip *c, txt_layout *t, const int32_t *ids, const int *seg, float *scores)
{
    const jc_text_config *tc = &c->cfg.text;
    jaclip_pool *P = c->pool;
    int T = t->T, D = t->D, I = t->I, H = tc->num_attention_heads, hd = D / H;
    float eps = (float)tc->layer_norm_eps;
    for (int s = 0; s < t->n; s++)
        for (int i = seg[s]; i < seg[s + 1]; i++) {
            float *xr = t->emb + (size_t)i * D;
            const float *we = c->txt.word + (size_t)ids[i] * D, *pe = c->txt.pos + (size_t)(i - seg[s]) * D;
            for (int k = 0; k < D; k++) xr[k] = (we[k] + c->txt.type[k]) + pe[k];
        }
    int L = tc->num_hidden_layers;
    float *x0 = L > 0 ? txt_layer(t, 0).xin : t->xL;
    layernorm_forward(P, x0, t->emb, c->txt.emb_ln_w, c->txt.emb_ln_b, T, D, eps);
    for (int l = 0; l < L; l++) {
        const bert_layer_w *w = &c->txt.layers[l];
        tlay a = txt_layer(t, l);
        float *xout = l + 1 < L ? txt_layer(t, l + 1).xin : t->xL;
        matmul_forward(P, a.q, a.xin, w->q_w, w->q_b, T, D, D);
        matmul_forward(P, a.k, a.xin, w->k_w, w->k_b, T, D, D);
        matmul_forward(P, a.v, a.xin, w->v_w, w->v_b, T, D, D);
        attention_forward(P, a.att, a.q, a.k, a.v, seg, t->n, H, hd, 1.0f / sqrtf((float)hd), scores, t->max_len);
        matmul_forward(P, a.r1, a.att, w->ao_w, w->ao_b, T, D, D);
        residual_forward(a.r1, a.xin, (size_t)T * D);
        layernorm_forward(P, a.x1, a.r1, w->ao_ln_w, w->ao_ln_b, T, D, eps);
        matmul_forward(P, a.pre, a.x1, w->inter_w, w->inter_b, T, D, I);
        memcpy(a.act, a.pre, (size_t)T * I * sizeof(float));
        gelu_forward(P, a.act, (size_t)T * I);
        matmul_forward(P, a.r2, a.act, w->out_w, w->out_b, T, I, D);
        residual_forward(a.r2, a.x1, (size_t)T * D);
        layernorm_forward(P, xout, a.r2, w->out_ln_w, w->out_ln_b, T, D, eps);
    }
    for (int s = 0; s < t->n; s++)
        memcpy(t->pooled + (size_t)s * D, t->xL + (size_t)seg[s] * D, (size_t)D * sizeof(float));
    matmul_forward(P, t->feat, t->pooled, c->txt.neck_w, NULL, t->n, D, t->dim);
}

/* gbuf: 7 (T,D) + 2 (T,I) floats */
static void txt_backward(jc_clip *c, txt_layout *t, const int32_t *ids, const int *seg, const float *dfeat,
                         float *gbuf, float *scores)
{
    const jc_text_config *tc = &c->cfg.text;
    jaclip_pool *P = c->pool;
    jc_scratch *S = &c->scratch;
    int T = t->T, D = t->D, I = t->I, H = tc->num_attention_heads, hd = D / H;
    float eps = (float)tc->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
    size_t TD = (size_t)T * D, TI = (size_t)T * I;
    float *dx = gbuf, *dA = dx + TD, *dB = dA + TD, *datt = dB + TD, *dq = datt + TD, *dk = dq + TD, *dv = dk + TD;
    float *dact = dv + TD, *dpre = dact + TI;
    float *dpooled = dA;
    memset(dpooled, 0, (size_t)t->n * D * sizeof(float));
    matmul_backward(P, S, dpooled, GR(c, c->txt.neck_w), NULL, dfeat, t->pooled, c->txt.neck_w, t->n, D, t->dim);
    memset(dx, 0, TD * sizeof(float));
    for (int s = 0; s < t->n; s++) memcpy(dx + (size_t)seg[s] * D, dpooled + (size_t)s * D, (size_t)D * sizeof(float));
    for (int l = tc->num_hidden_layers - 1; l >= 0; l--) {
        const bert_layer_w *w = &c->txt.layers[l];
        tlay a = txt_layer(t, l);
        /* y = LN(r2), r2 = x1 + out(gelu(inter(x1))) */
        memset(dA, 0, TD * sizeof(float));
        layernorm_backward(P, S, dA, GR(c, w->out_ln_w), GR(c, w->out_ln_b), dx, a.r2, w->out_ln_w, T, D, eps);
        memset(dact, 0, 2 * TI * sizeof(float));
        matmul_backward(P, S, dact, GR(c, w->out_w), GR(c, w->out_b), dA, a.act, w->out_w, T, I, D);
        gelu_backward(P, dpre, a.pre, dact, TI);
        matmul_backward(P, S, dA, GR(c, w->inter_w), GR(c, w->inter_b), dpre, a.x1, w->inter_w, T, D, I);
        /* x1 = LN(r1), r1 = xin + ao(attn(q, k, v)) */
        memset(dB, 0, TD * sizeof(float));
        layernorm_backward(P, S, dB, GR(c, w->ao_ln_w), GR(c, w->ao_ln_b), dA, a.r1, w->ao_ln_w, T, D, eps);
        memset(datt, 0, 4 * TD * sizeof(float)); /* datt, dq, dk, dv */
        matmul_backward(P, S, datt, GR(c, w->ao_w), GR(c, w->ao_b), dB, a.att, w->ao_w, T, D, D);
        attention_backward(P, dq, dk, dv, datt, a.q, a.k, a.v, seg, t->n, H, hd, scale, scores, t->max_len);
        memcpy(dx, dB, TD * sizeof(float));
        matmul_backward(P, S, dx, GR(c, w->q_w), GR(c, w->q_b), dq, a.xin, w->q_w, T, D, D);
        matmul_backward(P, S, dx, GR(c, w->k_w), GR(c, w->k_b), dk, a.xin, w->k_w, T, D, D);
        matmul_backward(P, S, dx, GR(c, w->v_w), GR(c, w->v_b), dv, a.xin, w->v_w, T, D, D);
    }
    memset(dA, 0, TD * sizeof(float));
    layernorm_backward(P, S, dA, GR(c, c->txt.emb_ln_w), GR(c, c->txt.emb_ln_b), dx, t->emb, c->txt.emb_ln_w, T, D, eps);
    float *dword = GR(c, c->txt.word), *dpos = GR(c, c->txt.pos), *dtype = GR(c, c->txt.type);
    for (int s = 0; s < t->n; s++)
        for (int i = seg[s]; i < seg[s + 1]; i++) {
            const float *g = dA + (size_t)i * D;
            float *dw = dword + (size_t)ids[i] * D, *dp = dpos + (size_t)(i - seg[s]) * D;
            for (int k = 0; k < D; k++) {
                dw[k] += g[k];
                dp[k] += g[k];
                dtype[k] += g[k];
            }
        }
}

/* ---- the step ---------------------------------------------------------------------------- */
static jaclip_status check_text(const jc_clip *c, const int32_t *ids, const int *seg, int n, int *max_len,
                                jaclip_err *err)
{
    const jc_text_config *tc = &c->cfg.text;
    *max_len = 1;
    for (int s = 0; s < n; s++) {
        int L = seg[s + 1] - seg[s];
        if (L < 1 || L > tc->max_position_embeddings)
            return jc_err(err, JACLIP_ERR_LIMIT, "text %d has %d tokens; the model takes 1 to %d", s, L,
                          tc->max_position_embeddings);
        if (L > *max_len) *max_len = L;
        for (int i = seg[s]; i < seg[s + 1]; i++)
            if (ids[i] < 0 || ids[i] >= tc->vocab_size)
                return jc_err(err, JACLIP_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", (int)ids[i],
                              tc->vocab_size - 1);
    }
    return JACLIP_OK;
}

static float *act_get(jc_clip *c, size_t n, jaclip_err *err)
{
    if (n > c->act_cap) {
        jc_free_aligned(c->act);
        c->act = jc_malloc_aligned(n * sizeof(float));
        c->act_cap = c->act ? n : 0;
        if (!c->act) {
            jc_err(err, JACLIP_ERR_NOMEM, "out of memory for activations (%zu MB)", n * 4 >> 20);
            return NULL;
        }
    }
    return c->act;
}

/* Runs the two towers (B images, n texts; either may be 0). With a loss (B == n), computes the
 * InfoNCE loss between them and, with backward, backprops it into c->g. Activation buffer:
 * vis acts, txt acts, gradient temporaries, scores, seg. */
typedef struct tower_run {
    bool loss, backward;
    float scale;
    double loss_value, acc;
    /* instead of a loss: backprop these given feature gradients (B,dim) and (n,dim) */
    const float *dimg_in, *dtxt_in;
} tower_run;

static jaclip_status run_towers(jc_clip *c, const float *pixels, int B, const int32_t *ids, const int *tseg, int n,
                                float *img_out, float *txt_out, tower_run *run, jaclip_err *err)
{
    vis_layout v = {0};
    txt_layout t = {0};
    int max_len = 1;
    int Tt = n > 0 ? tseg[n] : 0;
    bool given = run && run->dimg_in && run->dtxt_in;
    bool bw = run && (run->backward || given);
    if (n > 0) {
        jaclip_status rc = check_text(c, ids, tseg, n, &max_len, err);
        if (rc) return rc;
    }
    t.max_len = max_len;
    size_t nv = B > 0 ? vis_size(c, B, &v) : 0, nt = n > 0 ? txt_size(c, n, Tt, &t) : 0;
    size_t gv = B > 0 && bw ? 7 * (size_t)v.T * v.D + 4 * (size_t)v.T * v.F : 0;
    size_t gt = n > 0 && bw ? 7 * (size_t)Tt * t.D + 2 * (size_t)Tt * t.I : 0;
    size_t gmax = gv > gt ? gv : gt;
    size_t nfeat = bw && !given ? 2 * (size_t)(B > n ? B : n) * c->dim : 0;
    int threads = jaclip_pool_size(c->pool);
    int ml = v.n1 > max_len ? v.n1 : max_len;
    int hdmax = c->cfg.vision.embed_dim / c->cfg.vision.num_heads;
    if (c->cfg.text.hidden_size / c->cfg.text.num_attention_heads > hdmax)
        hdmax = c->cfg.text.hidden_size / c->cfg.text.num_attention_heads;
    size_t per_thread = attention_scratch_floats(ml, hdmax); /* forward */
    if ((2 + 2 * (size_t)hdmax) * ml > per_thread) per_thread = (2 + 2 * (size_t)hdmax) * ml; /* backward */
    size_t nscore = (size_t)threads * per_thread;
    size_t total = nv + nt + gmax + nfeat + nscore + (size_t)B + 1 + 16;
    float *buf = act_get(c, total, err);
    if (!buf) return JACLIP_ERR_NOMEM;
    float *p = buf;
    if (B > 0) vis_carve(&v, p, c->cfg.vision.depth), p += nv;
    if (n > 0) txt_carve(&t, p, c->cfg.text.num_hidden_layers), p += nt;
    float *gbuf = p;
    p += gmax;
    float *dimg = p, *dtxt = p + nfeat / 2;
    p += nfeat;
    float *scores = p;
    p += nscore;
    int *vseg = (int *)(void *)p;
    for (int b = 0; b <= B; b++) vseg[b] = b * v.n1;
    if (B > 0) {
        vis_forward(c, &v, pixels, vseg, scores);
        if (img_out) memcpy(img_out, v.feat, (size_t)B * c->dim * sizeof(float));
    }
    if (n > 0) {
        txt_forward(c, &t, ids, tseg, scores);
        if (txt_out) memcpy(txt_out, t.feat, (size_t)n * c->dim * sizeof(float));
    }
    if (given) {
        vis_backward(c, &v, vseg, run->dimg_in, gbuf, scores);
        txt_backward(c, &t, ids, tseg, run->dtxt_in, gbuf, scores);
        return JACLIP_OK;
    }
    if (!run || !run->loss) return JACLIP_OK;
    float dtau = 0;
    run->loss_value = clip_loss_forward_backward(v.feat, t.feat, B, c->dim, *c->temperature, bw ? dimg : NULL,
                                                 bw ? dtxt : NULL, bw ? &dtau : NULL, run->scale, &run->acc);
    if (!bw || !isfinite(run->loss_value)) return JACLIP_OK;
    vis_backward(c, &v, vseg, dimg, gbuf, scores);
    txt_backward(c, &t, ids, tseg, dtxt, gbuf, scores);
    c->g[c->temperature - c->w] += dtau;
    return JACLIP_OK;
}

jaclip_status jc_clip_embed_images(jc_clip *c, const float *pixels, int n, float *out, jaclip_err *err)
{
    return run_towers(c, pixels, n, NULL, NULL, 0, out, NULL, NULL, err);
}

jaclip_status jc_clip_embed_texts(jc_clip *c, const int32_t *ids, const int *seg, int n, float *out, jaclip_err *err)
{
    return run_towers(c, NULL, 0, ids, seg, n, NULL, out, NULL, err);
}

jaclip_status jc_clip_step(jc_clip *c, const jc_batch *b, bool backward, float scale, jc_step_out *out,
                           jaclip_err *err)
{
    tower_run run = {.loss = true, .backward = backward, .scale = scale};
    jaclip_status rc = run_towers(c, b->pixels, b->B, b->ids, b->seg, b->B, NULL, NULL, &run, err);
    if (out) {
        out->loss = run.loss_value;
        out->acc_i2t = run.acc;
    }
    return rc;
}

jaclip_status jc_clip_features(jc_clip *c, const jc_batch *b, float *img, float *txt, jaclip_err *err)
{
    return run_towers(c, b->pixels, b->B, b->ids, b->seg, b->B, img, txt, NULL, err);
}

jaclip_status jc_clip_backward_features(jc_clip *c, const jc_batch *b, const float *dimg, const float *dtxt,
                                        jaclip_err *err)
{
    if (b->B < 1 || !dimg || !dtxt) return jc_err(err, JACLIP_ERR_ARG, "backward from features: empty batch");
    tower_run run = {.dimg_in = dimg, .dtxt_in = dtxt};
    return run_towers(c, b->pixels, b->B, b->ids, b->seg, b->B, NULL, NULL, &run, err);
}
