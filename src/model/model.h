/*
 * model.h — the CLYP model inside the library: weight tables of the two towers (pointers
 * into the safetensors mapping, named after the Hugging Face keys), their per-layer
 * activations, and the forward passes. Each tower's forward is written once, layer by
 * layer (eva_block_forward, bert_layer_forward), over activations carved from one buffer,
 * so that training can call the same functions with per-layer activation storage.
 */
#ifndef JACLIP_MODEL_MODEL_H
#define JACLIP_MODEL_MODEL_H

#include "base/base.h"
#include "io/config.h"
#include "io/safetensors.h"

/* ---- EVA02 vision tower ------------------------------------------------------------------ */
typedef struct eva_block_w {
    const float *norm1_w, *norm1_b;
    const float *q_w, *q_b, *k_w, *v_w, *v_b; /* k has no bias */
    const float *attn_norm_w, *attn_norm_b;   /* sub-LN before the projection */
    const float *proj_w, *proj_b;
    const float *norm2_w, *norm2_b;
    const float *fc1_g_w, *fc1_g_b, *fc1_x_w, *fc1_x_b;
    const float *mlp_norm_w, *mlp_norm_b;
    const float *fc2_w, *fc2_b;
} eva_block_w;

typedef struct eva_w {
    const float *patch_w, *patch_b, *cls, *pos;
    eva_block_w *blocks;
    const float *norm_w, *norm_b;
    const float *neck_w;
} eva_w;

/* Activations of one block for T tokens (D wide, F = SwiGLU hidden). */
typedef struct eva_acts {
    int T;
    float *h;          /* (T,D) LN1 / LN2 output */
    float *q, *k, *v;  /* (T,D) */
    float *att;        /* (T,D) merged heads, then sub-LN in place */
    float *proj;       /* (T,D) projection / fc2 output */
    float *g, *u;      /* (T,F) gate and value, then silu(g)*u and its LN in g */
    float *scores;     /* attention scratch (attention_scratch_floats per thread) */
} eva_acts;

/* ---- BERT text tower --------------------------------------------------------------------- */
typedef struct bert_layer_w {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
    const float *ao_w, *ao_b, *ao_ln_w, *ao_ln_b;
    const float *inter_w, *inter_b;
    const float *out_w, *out_b, *out_ln_w, *out_ln_b;
} bert_layer_w;

typedef struct bert_w {
    const float *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    bert_layer_w *layers;
    const float *neck_w;
} bert_w;

typedef struct bert_acts {
    int T;
    float *q, *k, *v, *att, *proj; /* (T,D) */
    float *inter;                  /* (T,I) */
    float *scores;                 /* attention scratch (attention_scratch_floats per thread) */
} bert_acts;

/* ---- the model object -------------------------------------------------------------------- */
struct jaclip_model {
    char *dir;
    jc_clyp_config cfg;
    jc_safetensors st;
    float **owned; /* converted (F16/BF16) tensors */
    int n_owned;
    eva_w vis;
    bert_w txt;
    float temperature;
    int dim;
    float *rope_sin, *rope_cos; /* (grid*grid, head_dim) */
    jaclip_image_params image;
    jaclip_tokenizer *tok;
    jaclip_pool *pool;
    bool own_pool;
    struct model_lin *lin; /* prepared Linear weights (linear.c): fp32 packed or int8 */
    /* Tests only: run the last block/layer of both towers over every token instead of the
     * class tokens alone (eva_last_block_forward, bert_last_layer_forward). Off by default. */
    bool full_last_layer;
};

/* linear.c: out (M,N) = inp (M,K) · wᵀ + bias through the prepared copy of w (packed fp32,
 * or int8 in int8 mode) when it has one, else matmul_forward. */
void model_linear(jaclip_model *m, float *out, const float *inp, const float *w, const float *bias, int M, int K,
                  int N);
/* outs[p] = inp · ws[p]ᵀ + biases[p] for weights that read the same input (q/k/v, fc1 gate and
 * value), as one fused product when they were packed as a group, else one by one; the
 * results are the same bit for bit either way. */
void model_linear_parts(jaclip_model *m, float *const *outs, const float *inp, const float *const *ws,
                        const float *const *biases, int parts, int M, int K, int N);
/* Packs (fp32) the transformer blocks' Linear weights; called once at load. */
jaclip_status model_lin_build(jaclip_model *m, jaclip_err *err);
void model_lin_free(jaclip_model *m);

/* Binds every tensor the configuration needs (exact shapes) to m->vis / m->txt. */
jaclip_status model_bind_weights(jaclip_model *m, jaclip_err *err);

/* x (B*N1, D): one EVA02 block in place; seg = per-image row offsets (B+1). */
void eva_block_forward(jaclip_model *m, const eva_block_w *w, eva_acts *a, float *x, const int *seg, int B);
/* pixels (B,3,S,S) -> out (B, dim) */
jaclip_status eva_forward(jaclip_model *m, const float *pixels, int B, float *out, jaclip_err *err);

/* x (T, D): one BERT layer in place over packed sequences seg (n_seg+1). */
void bert_layer_forward(jaclip_model *m, const bert_layer_w *w, bert_acts *a, float *x, const int *seg, int n_seg,
                        int max_len);
/* n_seg unpadded sequences packed in ids (seg offsets, positions restart at 0) -> out (n_seg, dim) */
jaclip_status bert_forward(jaclip_model *m, const int32_t *ids, const int *seg, int n_seg, float *out,
                           jaclip_err *err);

#endif
