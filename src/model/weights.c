/*
 * weights.c — binds the safetensors tensors to the weight tables of both towers, by their
 * Hugging Face key names and with the shapes the configuration implies (model-spec.md
 * sections 3.4 and 4.3). Every tensor is checked; unknown extra tensors (position_ids
 * buffers and the like) are ignored. F32 tensors stay in the mapping, others are converted.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

typedef struct binder {
    jaclip_model *m;
    jaclip_err *err;
    jaclip_status rc;
} binder;

/* Binds `name` (printf-style) with shape dims...; ndim 0 is a scalar. */
static const float *bind(binder *b, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (b->rc) return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const float *p;
    float *owned;
    b->rc = jc_st_get_f32(&b->m->st, name, ndim, shape, &p, &owned, b->err);
    if (b->rc) return NULL;
    if (owned) {
        float **o = realloc(b->m->owned, (size_t)(b->m->n_owned + 1) * sizeof *o);
        if (!o) {
            free(owned);
            b->rc = jc_err(b->err, JACLIP_ERR_NOMEM, "out of memory");
            return NULL;
        }
        b->m->owned = o;
        o[b->m->n_owned++] = owned;
    }
    return p;
}

#define S1(a) ((const int64_t[]){a})
#define S2(a, b) ((const int64_t[]){a, b})
#define S3(a, b, c) ((const int64_t[]){a, b, c})
#define S4(a, b, c, d) ((const int64_t[]){a, b, c, d})

jaclip_status model_bind_weights(jaclip_model *m, jaclip_err *err)
{
    binder b = {m, err, JACLIP_OK};
    const jc_vision_config *vc = &m->cfg.vision;
    const jc_text_config *tc = &m->cfg.text;
    int64_t D = vc->embed_dim, F = vc->mlp_hidden, ps = vc->patch_size, g = vc->img_size / vc->patch_size;
    int64_t dim = m->cfg.vision_neck_out;
    const char *V = "vision_encoder.backbone.";
    eva_w *e = &m->vis;
    e->blocks = jc_calloc((size_t)vc->depth, sizeof *e->blocks);
    bert_w *t = &m->txt;
    t->layers = jc_calloc((size_t)tc->num_hidden_layers, sizeof *t->layers);
    if (!e->blocks || !t->layers) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    e->cls = bind(&b, 3, S3(1, 1, D), "%scls_token", V);
    e->pos = bind(&b, 3, S3(1, g * g + 1, D), "%spos_embed", V);
    e->patch_w = bind(&b, 4, S4(D, 3, ps, ps), "%spatch_embed.proj.weight", V);
    e->patch_b = bind(&b, 1, S1(D), "%spatch_embed.proj.bias", V);
    for (int i = 0; i < vc->depth; i++) {
        eva_block_w *k = &e->blocks[i];
        k->norm1_w = bind(&b, 1, S1(D), "%sblocks.%d.norm1.weight", V, i);
        k->norm1_b = bind(&b, 1, S1(D), "%sblocks.%d.norm1.bias", V, i);
        k->q_w = bind(&b, 2, S2(D, D), "%sblocks.%d.attn.q_proj.weight", V, i);
        k->q_b = bind(&b, 1, S1(D), "%sblocks.%d.attn.q_proj.bias", V, i);
        k->k_w = bind(&b, 2, S2(D, D), "%sblocks.%d.attn.k_proj.weight", V, i);
        k->v_w = bind(&b, 2, S2(D, D), "%sblocks.%d.attn.v_proj.weight", V, i);
        k->v_b = bind(&b, 1, S1(D), "%sblocks.%d.attn.v_proj.bias", V, i);
        k->attn_norm_w = bind(&b, 1, S1(D), "%sblocks.%d.attn.norm.weight", V, i);
        k->attn_norm_b = bind(&b, 1, S1(D), "%sblocks.%d.attn.norm.bias", V, i);
        k->proj_w = bind(&b, 2, S2(D, D), "%sblocks.%d.attn.proj.weight", V, i);
        k->proj_b = bind(&b, 1, S1(D), "%sblocks.%d.attn.proj.bias", V, i);
        k->norm2_w = bind(&b, 1, S1(D), "%sblocks.%d.norm2.weight", V, i);
        k->norm2_b = bind(&b, 1, S1(D), "%sblocks.%d.norm2.bias", V, i);
        k->fc1_g_w = bind(&b, 2, S2(F, D), "%sblocks.%d.mlp.fc1_g.weight", V, i);
        k->fc1_g_b = bind(&b, 1, S1(F), "%sblocks.%d.mlp.fc1_g.bias", V, i);
        k->fc1_x_w = bind(&b, 2, S2(F, D), "%sblocks.%d.mlp.fc1_x.weight", V, i);
        k->fc1_x_b = bind(&b, 1, S1(F), "%sblocks.%d.mlp.fc1_x.bias", V, i);
        k->mlp_norm_w = bind(&b, 1, S1(F), "%sblocks.%d.mlp.norm.weight", V, i);
        k->mlp_norm_b = bind(&b, 1, S1(F), "%sblocks.%d.mlp.norm.bias", V, i);
        k->fc2_w = bind(&b, 2, S2(D, F), "%sblocks.%d.mlp.fc2.weight", V, i);
        k->fc2_b = bind(&b, 1, S1(D), "%sblocks.%d.mlp.fc2.bias", V, i);
    }
    e->norm_w = bind(&b, 1, S1(D), "%snorm.weight", V);
    e->norm_b = bind(&b, 1, S1(D), "%snorm.bias", V);
    e->neck_w = bind(&b, 2, S2(dim, D), "vision_encoder.neck.linear.weight");

    const char *T = "text_encoder.backbone.model.";
    int64_t H = tc->hidden_size, I = tc->intermediate_size;
    t->word = bind(&b, 2, S2(tc->vocab_size, H), "%sembeddings.word_embeddings.weight", T);
    t->pos = bind(&b, 2, S2(tc->max_position_embeddings, H), "%sembeddings.position_embeddings.weight", T);
    t->type = bind(&b, 2, S2(tc->type_vocab_size, H), "%sembeddings.token_type_embeddings.weight", T);
    t->emb_ln_w = bind(&b, 1, S1(H), "%sembeddings.LayerNorm.weight", T);
    t->emb_ln_b = bind(&b, 1, S1(H), "%sembeddings.LayerNorm.bias", T);
    for (int i = 0; i < tc->num_hidden_layers; i++) {
        bert_layer_w *l = &t->layers[i];
        const char *L = "encoder.layer";
        l->q_w = bind(&b, 2, S2(H, H), "%s%s.%d.attention.self.query.weight", T, L, i);
        l->q_b = bind(&b, 1, S1(H), "%s%s.%d.attention.self.query.bias", T, L, i);
        l->k_w = bind(&b, 2, S2(H, H), "%s%s.%d.attention.self.key.weight", T, L, i);
        l->k_b = bind(&b, 1, S1(H), "%s%s.%d.attention.self.key.bias", T, L, i);
        l->v_w = bind(&b, 2, S2(H, H), "%s%s.%d.attention.self.value.weight", T, L, i);
        l->v_b = bind(&b, 1, S1(H), "%s%s.%d.attention.self.value.bias", T, L, i);
        l->ao_w = bind(&b, 2, S2(H, H), "%s%s.%d.attention.output.dense.weight", T, L, i);
        l->ao_b = bind(&b, 1, S1(H), "%s%s.%d.attention.output.dense.bias", T, L, i);
        l->ao_ln_w = bind(&b, 1, S1(H), "%s%s.%d.attention.output.LayerNorm.weight", T, L, i);
        l->ao_ln_b = bind(&b, 1, S1(H), "%s%s.%d.attention.output.LayerNorm.bias", T, L, i);
        l->inter_w = bind(&b, 2, S2(I, H), "%s%s.%d.intermediate.dense.weight", T, L, i);
        l->inter_b = bind(&b, 1, S1(I), "%s%s.%d.intermediate.dense.bias", T, L, i);
        l->out_w = bind(&b, 2, S2(H, I), "%s%s.%d.output.dense.weight", T, L, i);
        l->out_b = bind(&b, 1, S1(H), "%s%s.%d.output.dense.bias", T, L, i);
        l->out_ln_w = bind(&b, 1, S1(H), "%s%s.%d.output.LayerNorm.weight", T, L, i);
        l->out_ln_b = bind(&b, 1, S1(H), "%s%s.%d.output.LayerNorm.bias", T, L, i);
    }
    t->neck_w = bind(&b, 2, S2(dim, H), "text_encoder.neck.linear.weight");
    const float *temp = bind(&b, 0, NULL, "itc_loss_fn.temperature");
    if (b.rc) return b.rc;
    m->temperature = *temp;
    if (!(m->temperature > 0) || !(m->temperature < 1e6))
        return jc_err(err, JACLIP_ERR_NUMERIC, "%s: itc_loss_fn.temperature is %g; it must be a positive number",
                      m->st.path, (double)m->temperature);
    return JACLIP_OK;
}
