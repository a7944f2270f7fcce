/*
 * quant.c — the int8 mode of the model (issue 5): quantize at load. Every Linear weight of
 * the transformer blocks of both towers (EVA02 q/k/v/proj/fc1_g/fc1_x/fc2, BERT
 * query/key/value/attention-output/intermediate/output) is quantized per output channel
 * (symmetric int8, kernels/gemm.h gemm_q8) and model_linear then multiplies with the int8
 * GEMM, activations quantized per token. The accuracy-sensitive parts stay fp32: patch
 * embedding, LayerNorms, softmax and attention products, RoPE, GELU/SwiGLU, and the final
 * projections (necks). The int8 copies live next to the fp32 mapping, keyed by the fp32
 * weight pointer, so the forward code keeps one shape.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "model/model.h"

typedef struct q8_entry {
    const float *w;
    gemm_q8 q;
} q8_entry;

struct model_q8 {
    q8_entry *e;
    int n, cap;
};

static int cmp_entry(const void *a, const void *b)
{
    const float *x = ((const q8_entry *)a)->w, *y = ((const q8_entry *)b)->w;
    return x < y ? -1 : x > y;
}

void model_q8_free(jaclip_model *m)
{
    if (!m->q8) return;
    for (int i = 0; i < m->q8->n; i++) gemm_q8_free(&m->q8->e[i].q);
    free(m->q8->e);
    free(m->q8);
    m->q8 = NULL;
}

static bool add(jaclip_model *m, struct model_q8 *t, const float *w, int N, int K)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        q8_entry *e = realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return false;
        t->e = e, t->cap = cap;
    }
    q8_entry *e = &t->e[t->n];
    e->w = w;
    if (!gemm_q8_quantize(m->pool, &e->q, w, N, K)) return false;
    t->n++;
    return true;
}

jaclip_status model_q8_build(jaclip_model *m, jaclip_err *err)
{
    if (m->q8) return JACLIP_OK;
    struct model_q8 *t = jc_calloc(1, sizeof *t);
    if (!t) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the int8 weights");
    m->q8 = t;
    const jc_vision_config *vc = &m->cfg.vision;
    const jc_text_config *tc = &m->cfg.text;
    int D = vc->embed_dim, F = vc->mlp_hidden, H = tc->hidden_size, I = tc->intermediate_size;
    bool ok = true;
    for (int l = 0; ok && l < vc->depth; l++) {
        const eva_block_w *b = &m->vis.blocks[l];
        ok = add(m, t, b->q_w, D, D) && add(m, t, b->k_w, D, D) && add(m, t, b->v_w, D, D) &&
             add(m, t, b->proj_w, D, D) && add(m, t, b->fc1_g_w, F, D) && add(m, t, b->fc1_x_w, F, D) &&
             add(m, t, b->fc2_w, D, F);
    }
    for (int l = 0; ok && l < tc->num_hidden_layers; l++) {
        const bert_layer_w *b = &m->txt.layers[l];
        ok = add(m, t, b->q_w, H, H) && add(m, t, b->k_w, H, H) && add(m, t, b->v_w, H, H) &&
             add(m, t, b->ao_w, H, H) && add(m, t, b->inter_w, I, H) && add(m, t, b->out_w, H, I);
    }
    if (!ok) {
        model_q8_free(m);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the int8 weights");
    }
    qsort(t->e, (size_t)t->n, sizeof *t->e, cmp_entry);
    return JACLIP_OK;
}

void model_linear(jaclip_model *m, float *out, const float *inp, const float *w, const float *bias, int M, int K, int N)
{
    if (m->q8) {
        int lo = 0, hi = m->q8->n - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            const q8_entry *e = &m->q8->e[mid];
            if (e->w == w) {
                matmul_q8_forward(m->pool, out, inp, &e->q, bias, M);
                return;
            }
            if (e->w < w) lo = mid + 1;
            else hi = mid - 1;
        }
    }
    matmul_forward(m->pool, out, inp, w, bias, M, K, N);
}

jaclip_status jaclip_model_set_dtype(jaclip_model *m, const char *dtype, jaclip_err *err)
{
    if (!m || !dtype) return jc_err(err, JACLIP_ERR_ARG, "jaclip_model_set_dtype: bad arguments");
    if (strcmp(dtype, "fp32") == 0) {
        model_q8_free(m);
        return JACLIP_OK;
    }
    if (strcmp(dtype, "int8") == 0) return model_q8_build(m, err);
    return jc_err(err, JACLIP_ERR_ARG, "unknown --dtype '%s' (expected fp32 or int8)", dtype);
}

const char *jaclip_model_dtype(const jaclip_model *m) { return m && m->q8 ? "int8" : "fp32"; }
