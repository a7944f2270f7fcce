/*
 * text.c — the BERT text tower (rinna/japanese-clip-vit-b-16's text model as CLYP uses
 * it, model-spec.md section 4): word + position + token-type-0 embeddings and LayerNorm,
 * post-LN layers with exact-erf GELU, class-token pooling, no BERT pooler, the bias-free neck.
 *
 * Sequences run unpadded: a batch is packed row after row (positions restart at 0 in each)
 * and attention stays inside each sequence. That is exactly HF BertModel with padded keys
 * masked, and it means padding can never change a feature.
 *
 * Only row 0 of each sequence is pooled, so the last layer (bert_last_layer_forward)
 * computes keys and values for every token and the rest for the class rows alone.
 */
#include <math.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "model/model.h"

void bert_layer_forward(jaclip_model *m, const bert_layer_w *w, bert_acts *a, float *x, const int *seg, int n_seg,
                        int max_len)
{
    const jc_text_config *c = &m->cfg.text;
    jaclip_pool *P = m->pool;
    int T = a->T, D = c->hidden_size, I = c->intermediate_size, H = c->num_attention_heads, hd = D / H;
    float eps = (float)c->layer_norm_eps;
    {
        float *outs[3] = {a->q, a->k, a->v};
        const float *ws[3] = {w->q_w, w->k_w, w->v_w}, *bs[3] = {w->q_b, w->k_b, w->v_b};
        model_linear_parts(m, outs, x, ws, bs, 3, T, D, D);
    }
    attention_forward(P, a->att, a->q, a->k, a->v, seg, n_seg, H, hd, 1.0f / sqrtf((float)hd), a->scores, max_len);
    model_linear(m, a->proj, a->att, w->ao_w, w->ao_b, T, D, D);
    residual_forward_pool(P, x, a->proj, (size_t)T * D);
    layernorm_forward(P, x, x, w->ao_ln_w, w->ao_ln_b, T, D, eps);
    model_linear(m, a->inter, x, w->inter_w, w->inter_b, T, D, I);
    gelu_forward(P, a->inter, (size_t)T * I);
    model_linear(m, a->proj, a->inter, w->out_w, w->out_b, T, I, D);
    residual_forward_pool(P, x, a->proj, (size_t)T * D);
    layernorm_forward(P, x, x, w->out_ln_w, w->out_ln_b, T, D, eps);
}

/* The last layer for the class tokens only: on return x's row seg[s] holds sequence s's
 * class-token output (the other rows are stale; nothing reads them). Same operations as
 * bert_layer_forward on those rows, with the n_seg class rows gathered so each GEMM after
 * K and V has M = n_seg. */
static void bert_last_layer_forward(jaclip_model *m, const bert_layer_w *w, bert_acts *a, float *x, const int *seg,
                                    int n_seg, int max_len)
{
    const jc_text_config *c = &m->cfg.text;
    jaclip_pool *P = m->pool;
    int T = a->T, D = c->hidden_size, I = c->intermediate_size, H = c->num_attention_heads, hd = D / H;
    float eps = (float)c->layer_norm_eps;
    size_t nd = (size_t)n_seg * D;
    {
        float *outs[2] = {a->k, a->v};
        const float *ws[2] = {w->k_w, w->v_w}, *bs[2] = {w->k_b, w->v_b};
        model_linear_parts(m, outs, x, ws, bs, 2, T, D, D);
    }
    float *xc = a->att; /* (n_seg, D) class rows */
    for (int s = 0; s < n_seg; s++) memcpy(xc + (size_t)s * D, x + (size_t)seg[s] * D, (size_t)D * sizeof(float));
    model_linear(m, a->q, xc, w->q_w, w->q_b, n_seg, D, D);
    attention_cls_forward(P, a->proj, a->q, a->k, a->v, seg, n_seg, H, hd, 1.0f / sqrtf((float)hd), a->scores,
                          max_len);
    model_linear(m, a->inter, a->proj, w->ao_w, w->ao_b, n_seg, D, D);
    residual_forward(xc, a->inter, nd);
    layernorm_forward(P, xc, xc, w->ao_ln_w, w->ao_ln_b, n_seg, D, eps);
    model_linear(m, a->inter, xc, w->inter_w, w->inter_b, n_seg, D, I);
    gelu_forward(P, a->inter, (size_t)n_seg * I);
    model_linear(m, a->proj, a->inter, w->out_w, w->out_b, n_seg, I, D);
    residual_forward(xc, a->proj, nd);
    layernorm_forward(P, xc, xc, w->out_ln_w, w->out_ln_b, n_seg, D, eps);
    for (int s = 0; s < n_seg; s++) memcpy(x + (size_t)seg[s] * D, xc + (size_t)s * D, (size_t)D * sizeof(float));
}

jaclip_status bert_forward(jaclip_model *m, const int32_t *ids, const int *seg, int n_seg, float *out,
                           jaclip_err *err)
{
    const jc_text_config *c = &m->cfg.text;
    int D = c->hidden_size, I = c->intermediate_size, T = seg[n_seg];
    int max_len = 0;
    for (int s = 0; s < n_seg; s++) {
        int L = seg[s + 1] - seg[s];
        if (L < 1 || L > c->max_position_embeddings)
            return jc_err(err, JACLIP_ERR_LIMIT, "text %d has %d tokens; the model takes 1 to %d", s, L,
                          c->max_position_embeddings);
        if (L > max_len) max_len = L;
    }
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return jc_err(err, JACLIP_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", (int)ids[t],
                          c->vocab_size - 1);
    int threads = jaclip_pool_size(m->pool);
    size_t nd = (size_t)T * D;
    size_t nscratch = (size_t)threads * attention_scratch_floats(max_len, D / c->num_attention_heads);
    size_t total = 6 * nd + (size_t)T * I + nscratch + (size_t)n_seg * D;
    float *buf = jc_malloc_aligned(total * sizeof(float));
    if (!buf) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for %d tokens' activations", T);
    float *x = buf;
    bert_acts a = {.T = T};
    a.q = x + nd, a.k = a.q + nd, a.v = a.k + nd, a.att = a.v + nd, a.proj = a.att + nd, a.inter = a.proj + nd;
    a.scores = a.inter + (size_t)T * I;
    float *pooled = a.scores + nscratch;

    for (int s = 0; s < n_seg; s++)
        for (int t = seg[s]; t < seg[s + 1]; t++) {
            float *xr = x + (size_t)t * D;
            const float *we = m->txt.word + (size_t)ids[t] * D, *pe = m->txt.pos + (size_t)(t - seg[s]) * D;
            for (int i = 0; i < D; i++) xr[i] = (we[i] + m->txt.type[i]) + pe[i]; /* HF order */
        }
    layernorm_forward(m->pool, x, x, m->txt.emb_ln_w, m->txt.emb_ln_b, T, D, (float)c->layer_norm_eps);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (l == c->num_hidden_layers - 1 && !m->full_last_layer)
            bert_last_layer_forward(m, &m->txt.layers[l], &a, x, seg, n_seg, max_len);
        else bert_layer_forward(m, &m->txt.layers[l], &a, x, seg, n_seg, max_len);
    }
    for (int s = 0; s < n_seg; s++) memcpy(pooled + (size_t)s * D, x + (size_t)seg[s] * D, (size_t)D * sizeof(float));
    matmul_forward(m->pool, out, pooled, m->txt.neck_w, NULL, n_seg, D, m->dim);
    jc_free_aligned(buf);
    return JACLIP_OK;
}
