/*
 * vision.c — the EVA02 vision tower (timm eva02_base_patch16_clip_224 as CLYP uses it,
 * model-spec.md section 3): patch embedding, class token and absolute position embedding,
 * pre-norm blocks with separate q/k/v (k without bias), 2-D RoPE on the patch tokens only,
 * sub-LN before the attention projection, SwiGLU with its hidden LayerNorm, the final
 * LayerNorm, class-token pooling and the bias-free neck.
 *
 * Only the class token leaves the tower, so the last block (eva_last_block_forward) needs
 * keys and values of every token but a query, attention output, projection and MLP for the
 * class token alone: about 7 % of the tower's work and most of that block's attention go.
 */
#include <math.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "model/model.h"

/* The MLP half of a block on `rows` rows of x, in place: x += fc2(LN(SwiGLU(fc1(LN(x))))). */
static void eva_mlp_forward(jaclip_model *m, const eva_block_w *w, eva_acts *a, float *x, int rows)
{
    const jc_vision_config *c = &m->cfg.vision;
    jaclip_pool *P = m->pool;
    int D = c->embed_dim, F = c->mlp_hidden;
    float eps = (float)c->norm_eps;
    layernorm_forward(P, a->h, x, w->norm2_w, w->norm2_b, rows, D, eps);
    float *outs[2] = {a->g, a->u};
    const float *ws[2] = {w->fc1_g_w, w->fc1_x_w}, *bs[2] = {w->fc1_g_b, w->fc1_x_b};
    model_linear_parts(m, outs, a->h, ws, bs, 2, rows, D, F);
    swiglu_forward(P, a->g, a->g, a->u, (size_t)rows * F);
    layernorm_forward(P, a->g, a->g, w->mlp_norm_w, w->mlp_norm_b, rows, F, eps);
    model_linear(m, a->proj, a->g, w->fc2_w, w->fc2_b, rows, F, D);
    residual_forward_pool(P, x, a->proj, (size_t)rows * D);
}

/* x (T,D) in place, T = B * (1 + grid²), seg[b] = b * (1 + grid²). */
void eva_block_forward(jaclip_model *m, const eva_block_w *w, eva_acts *a, float *x, const int *seg, int B)
{
    const jc_vision_config *c = &m->cfg.vision;
    jaclip_pool *P = m->pool;
    int T = a->T, D = c->embed_dim, H = c->num_heads, hd = D / H;
    int n1 = seg[1] - seg[0];
    float eps = (float)c->norm_eps;

    layernorm_forward(P, a->h, x, w->norm1_w, w->norm1_b, T, D, eps);
    {
        float *outs[3] = {a->q, a->k, a->v};
        const float *ws[3] = {w->q_w, w->k_w, w->v_w}, *bs[3] = {w->q_b, NULL, w->v_b};
        model_linear_parts(m, outs, a->h, ws, bs, 3, T, D, D);
    }
    /* the class token (row 0 of each image) is not rotated */
    rope_forward_seqs(P, a->q, a->k, D, hd, seg, B, n1, m->rope_sin, m->rope_cos);
    attention_forward(P, a->att, a->q, a->k, a->v, seg, B, H, hd, 1.0f / sqrtf((float)hd), a->scores, n1);
    layernorm_forward(P, a->att, a->att, w->attn_norm_w, w->attn_norm_b, T, D, eps);
    model_linear(m, a->proj, a->att, w->proj_w, w->proj_b, T, D, D);
    residual_forward_pool(P, x, a->proj, (size_t)T * D);

    eva_mlp_forward(m, w, a, x, T);
}

/* The last block for the class tokens only: x (T,D) in, and on return x's row seg[b] holds
 * class token b's output (the other rows are stale; nothing reads them). Same operations as
 * eva_block_forward on those rows; gathered rows make every other GEMM's M = B. */
static void eva_last_block_forward(jaclip_model *m, const eva_block_w *w, eva_acts *a, float *x, const int *seg,
                                   int B)
{
    const jc_vision_config *c = &m->cfg.vision;
    jaclip_pool *P = m->pool;
    int T = a->T, D = c->embed_dim, H = c->num_heads, hd = D / H;
    int n1 = seg[1] - seg[0];
    float eps = (float)c->norm_eps;
    size_t BD = (size_t)B * D;

    layernorm_forward(P, a->h, x, w->norm1_w, w->norm1_b, T, D, eps);
    {
        float *outs[2] = {a->k, a->v};
        const float *ws[2] = {w->k_w, w->v_w}, *bs[2] = {NULL, w->v_b};
        model_linear_parts(m, outs, a->h, ws, bs, 2, T, D, D);
    }
    rope_forward_seqs(P, NULL, a->k, D, hd, seg, B, n1, m->rope_sin, m->rope_cos);
    /* compact (B,D) class rows: normed input in proj, then q; x's class rows in xc, behind
     * the attention output in att (T = B * (1 + grid²) >= 2B) */
    float *hc = a->proj, *xc = a->att + BD;
    for (int b = 0; b < B; b++) {
        memcpy(hc + (size_t)b * D, a->h + (size_t)seg[b] * D, (size_t)D * sizeof(float));
        memcpy(xc + (size_t)b * D, x + (size_t)seg[b] * D, (size_t)D * sizeof(float));
    }
    model_linear(m, a->q, hc, w->q_w, w->q_b, B, D, D); /* the class token is not rotated */
    attention_cls_forward(P, a->att, a->q, a->k, a->v, seg, B, H, hd, 1.0f / sqrtf((float)hd), a->scores, n1);
    layernorm_forward(P, a->att, a->att, w->attn_norm_w, w->attn_norm_b, B, D, eps);
    model_linear(m, a->proj, a->att, w->proj_w, w->proj_b, B, D, D);
    residual_forward(xc, a->proj, BD);

    eva_mlp_forward(m, w, a, xc, B);
    for (int b = 0; b < B; b++) memcpy(x + (size_t)seg[b] * D, xc + (size_t)b * D, (size_t)D * sizeof(float));
}

jaclip_status eva_forward(jaclip_model *m, const float *pixels, int B, float *out, jaclip_err *err)
{
    const jc_vision_config *c = &m->cfg.vision;
    int D = c->embed_dim, F = c->mlp_hidden, ps = c->patch_size, S = c->img_size, g = S / ps;
    int N = g * g, n1 = N + 1, T = B * n1, KP = 3 * ps * ps;
    int threads = jaclip_pool_size(m->pool);
    /* one buffer: x, h, q, k, v, att, proj (T,D); g, u (T,F); scores; patches (B*N, KP); seg */
    size_t nd = (size_t)T * D, nf = (size_t)T * F;
    size_t nscratch = (size_t)threads * attention_scratch_floats(n1, D / c->num_heads);
    size_t total = 7 * nd + 2 * nf + nscratch + (size_t)B * N * KP + (size_t)(B + 1);
    float *buf = jc_malloc_aligned(total * sizeof(float));
    if (!buf) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for %d images' activations", B);
    float *x = buf;
    eva_acts a = {.T = T};
    a.h = x + nd, a.q = a.h + nd, a.k = a.q + nd, a.v = a.k + nd, a.att = a.v + nd, a.proj = a.att + nd;
    a.g = a.proj + nd, a.u = a.g + nf, a.scores = a.u + nf;
    float *patches = a.scores + nscratch;
    int *seg = (int *)(void *)(patches + (size_t)B * N * KP);
    for (int b = 0; b <= B; b++) seg[b] = b * n1;

    /* patch embedding: a stride-ps convolution = im2col (channel, ky, kx order) + GEMM */
    for (int b = 0; b < B; b++)
        for (int r = 0; r < g; r++)
            for (int col = 0; col < g; col++) {
                float *p = patches + ((size_t)b * N + (size_t)r * g + col) * KP;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < ps; ky++)
                        memcpy(p + (ch * ps + ky) * ps,
                               pixels + (((size_t)b * 3 + ch) * S + (size_t)r * ps + ky) * S + (size_t)col * ps,
                               (size_t)ps * sizeof(float));
            }
    /* GEMM into h (B*N rows), then scatter behind each class token */
    matmul_forward(m->pool, a.h, patches, m->vis.patch_w, m->vis.patch_b, B * N, KP, D);
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)seg[b] * D;
        memcpy(xb, m->vis.cls, (size_t)D * sizeof(float));
        memcpy(xb + D, a.h + (size_t)b * N * D, (size_t)N * D * sizeof(float));
        residual_forward(xb, m->vis.pos, (size_t)n1 * D);
    }
    for (int l = 0; l < c->depth; l++) {
        if (l == c->depth - 1 && !m->full_last_layer) eva_last_block_forward(m, &m->vis.blocks[l], &a, x, seg, B);
        else eva_block_forward(m, &m->vis.blocks[l], &a, x, seg, B);
    }
    /* final norm (only the class tokens are needed), then the neck */
    for (int b = 0; b < B; b++)
        layernorm_forward(NULL, a.h + (size_t)b * D, x + (size_t)seg[b] * D, m->vis.norm_w, m->vis.norm_b, 1, D,
                          (float)c->norm_eps);
    matmul_forward(m->pool, out, a.h, m->vis.neck_w, NULL, B, D, m->dim);
    jc_free_aligned(buf);
    return JACLIP_OK;
}
