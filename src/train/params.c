/*
 * params.c — the trainable parameters of CLYP in one fp32 buffer: the table of Hugging Face
 * key names and shapes (the same keys and order model/weights.c binds), random
 * initialisation, loading from and saving to safetensors. Gradients and AdamW moments use
 * the same offsets, so a parameter's gradient is at g + (p - w).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/safetensors.h"
#include "kernels/ops.h"
#include "train/train.h"

typedef struct layout {
    jc_clip *c;
    float *base; /* NULL: first pass (build the table) */
    int i;
} layout;

static float *P(layout *L, bool decay, int ndim, int64_t a, int64_t b, int64_t c3, int64_t d, const char *fmt, ...)
{
    jc_clip *c = L->c;
    if (!L->base) {
        jc_param *p = &c->params[c->n_params++];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        int64_t sh[4] = {a, b, c3, d};
        p->ndim = ndim;
        p->n = 1;
        for (int k = 0; k < ndim; k++) {
            p->shape[k] = sh[k];
            p->n *= (size_t)sh[k];
        }
        p->off = c->total;
        c->total += (p->n + 15) & ~(size_t)15; /* 64-byte aligned tensors */
        p->decay = decay;
        return NULL;
    }
    return L->base + c->params[L->i++].off;
}

/* Walks the model's parameters in file order. decay: weight matrices only. */
static void walk(layout *L)
{
    jc_clip *c = L->c;
    const jc_vision_config *vc = &c->cfg.vision;
    const jc_text_config *tc = &c->cfg.text;
    int64_t D = vc->embed_dim, F = vc->mlp_hidden, ps = vc->patch_size, g = vc->img_size / vc->patch_size;
    int64_t dim = c->dim;
    const char *V = "vision_encoder.backbone.";
    eva_w *e = &c->vis;
    e->cls = P(L, false, 3, 1, 1, D, 0, "%scls_token", V);
    e->pos = P(L, false, 3, 1, g * g + 1, D, 0, "%spos_embed", V);
    e->patch_w = P(L, true, 4, D, 3, ps, ps, "%spatch_embed.proj.weight", V);
    e->patch_b = P(L, false, 1, D, 0, 0, 0, "%spatch_embed.proj.bias", V);
    for (int i = 0; i < vc->depth; i++) {
        eva_block_w *k = &e->blocks[i];
        k->norm1_w = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.norm1.weight", V, i);
        k->norm1_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.norm1.bias", V, i);
        k->q_w = P(L, true, 2, D, D, 0, 0, "%sblocks.%d.attn.q_proj.weight", V, i);
        k->q_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.attn.q_proj.bias", V, i);
        k->k_w = P(L, true, 2, D, D, 0, 0, "%sblocks.%d.attn.k_proj.weight", V, i);
        k->v_w = P(L, true, 2, D, D, 0, 0, "%sblocks.%d.attn.v_proj.weight", V, i);
        k->v_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.attn.v_proj.bias", V, i);
        k->attn_norm_w = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.attn.norm.weight", V, i);
        k->attn_norm_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.attn.norm.bias", V, i);
        k->proj_w = P(L, true, 2, D, D, 0, 0, "%sblocks.%d.attn.proj.weight", V, i);
        k->proj_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.attn.proj.bias", V, i);
        k->norm2_w = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.norm2.weight", V, i);
        k->norm2_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.norm2.bias", V, i);
        k->fc1_g_w = P(L, true, 2, F, D, 0, 0, "%sblocks.%d.mlp.fc1_g.weight", V, i);
        k->fc1_g_b = P(L, false, 1, F, 0, 0, 0, "%sblocks.%d.mlp.fc1_g.bias", V, i);
        k->fc1_x_w = P(L, true, 2, F, D, 0, 0, "%sblocks.%d.mlp.fc1_x.weight", V, i);
        k->fc1_x_b = P(L, false, 1, F, 0, 0, 0, "%sblocks.%d.mlp.fc1_x.bias", V, i);
        k->mlp_norm_w = P(L, false, 1, F, 0, 0, 0, "%sblocks.%d.mlp.norm.weight", V, i);
        k->mlp_norm_b = P(L, false, 1, F, 0, 0, 0, "%sblocks.%d.mlp.norm.bias", V, i);
        k->fc2_w = P(L, true, 2, D, F, 0, 0, "%sblocks.%d.mlp.fc2.weight", V, i);
        k->fc2_b = P(L, false, 1, D, 0, 0, 0, "%sblocks.%d.mlp.fc2.bias", V, i);
    }
    e->norm_w = P(L, false, 1, D, 0, 0, 0, "%snorm.weight", V);
    e->norm_b = P(L, false, 1, D, 0, 0, 0, "%snorm.bias", V);
    e->neck_w = P(L, true, 2, dim, D, 0, 0, "vision_encoder.neck.linear.weight");

    const char *T = "text_encoder.backbone.model.";
    int64_t H = tc->hidden_size, I = tc->intermediate_size;
    bert_w *t = &c->txt;
    t->word = P(L, false, 2, tc->vocab_size, H, 0, 0, "%sembeddings.word_embeddings.weight", T);
    t->pos = P(L, false, 2, tc->max_position_embeddings, H, 0, 0, "%sembeddings.position_embeddings.weight", T);
    t->type = P(L, false, 2, tc->type_vocab_size, H, 0, 0, "%sembeddings.token_type_embeddings.weight", T);
    t->emb_ln_w = P(L, false, 1, H, 0, 0, 0, "%sembeddings.LayerNorm.weight", T);
    t->emb_ln_b = P(L, false, 1, H, 0, 0, 0, "%sembeddings.LayerNorm.bias", T);
    for (int i = 0; i < tc->num_hidden_layers; i++) {
        bert_layer_w *l = &t->layers[i];
        const char *E = "encoder.layer";
        l->q_w = P(L, true, 2, H, H, 0, 0, "%s%s.%d.attention.self.query.weight", T, E, i);
        l->q_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.self.query.bias", T, E, i);
        l->k_w = P(L, true, 2, H, H, 0, 0, "%s%s.%d.attention.self.key.weight", T, E, i);
        l->k_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.self.key.bias", T, E, i);
        l->v_w = P(L, true, 2, H, H, 0, 0, "%s%s.%d.attention.self.value.weight", T, E, i);
        l->v_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.self.value.bias", T, E, i);
        l->ao_w = P(L, true, 2, H, H, 0, 0, "%s%s.%d.attention.output.dense.weight", T, E, i);
        l->ao_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.output.dense.bias", T, E, i);
        l->ao_ln_w = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.output.LayerNorm.weight", T, E, i);
        l->ao_ln_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.attention.output.LayerNorm.bias", T, E, i);
        l->inter_w = P(L, true, 2, I, H, 0, 0, "%s%s.%d.intermediate.dense.weight", T, E, i);
        l->inter_b = P(L, false, 1, I, 0, 0, 0, "%s%s.%d.intermediate.dense.bias", T, E, i);
        l->out_w = P(L, true, 2, H, I, 0, 0, "%s%s.%d.output.dense.weight", T, E, i);
        l->out_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.output.dense.bias", T, E, i);
        l->out_ln_w = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.output.LayerNorm.weight", T, E, i);
        l->out_ln_b = P(L, false, 1, H, 0, 0, 0, "%s%s.%d.output.LayerNorm.bias", T, E, i);
    }
    t->neck_w = P(L, true, 2, dim, H, 0, 0, "text_encoder.neck.linear.weight");
    c->temperature = P(L, false, 0, 0, 0, 0, 0, "itc_loss_fn.temperature");
}

static void read_temperature_limits(jc_clip *c, const char *dir)
{
    c->temp_min = 0.01, c->temp_max = 1000.0, c->temp_init = 0.07; /* CLYP v1 defaults (model-spec 2) */
    if (!dir) return;
    char *path = jc_path_join(dir, "config.json"), *txt = NULL;
    size_t len;
    if (path && jc_read_file(path, 1 << 24, &txt, &len, NULL) == JACLIP_OK) {
        cJSON *j = cJSON_Parse(txt);
        const cJSON *x;
        if ((x = cJSON_GetObjectItemCaseSensitive(j, "temperature_min")) && cJSON_IsNumber(x)) c->temp_min = x->valuedouble;
        if ((x = cJSON_GetObjectItemCaseSensitive(j, "temperature_max")) && cJSON_IsNumber(x)) c->temp_max = x->valuedouble;
        if ((x = cJSON_GetObjectItemCaseSensitive(j, "temperature_init")) && cJSON_IsNumber(x))
            c->temp_init = x->valuedouble;
        cJSON_Delete(j);
    }
    free(txt);
    free(path);
}

jaclip_status jc_clip_create(const jc_clyp_config *cfg, const char *cfg_dir, jaclip_pool *pool, jc_clip **out,
                             jaclip_err *err)
{
    *out = NULL;
    jc_clip *c = jc_calloc(1, sizeof *c);
    if (!c) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    c->cfg = *cfg;
    c->dim = cfg->vision_neck_out;
    c->pool = pool;
    read_temperature_limits(c, cfg_dir);
    if (cfg->text_neck_out != cfg->vision_neck_out) {
        free(c);
        return jc_err(err, JACLIP_ERR_FORMAT, "the two necks differ in width (%d vs %d)", cfg->vision_neck_out,
                      cfg->text_neck_out);
    }
    int np = 8 + 21 * cfg->vision.depth + 6 + 16 * cfg->text.num_hidden_layers + 2;
    c->params = jc_calloc((size_t)np, sizeof *c->params);
    c->vis.blocks = jc_calloc((size_t)cfg->vision.depth, sizeof *c->vis.blocks);
    c->txt.layers = jc_calloc((size_t)cfg->text.num_hidden_layers, sizeof *c->txt.layers);
    jaclip_status rc = JACLIP_OK;
    if (!c->params || !c->vis.blocks || !c->txt.layers) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    if (!rc) {
        layout L = {c, NULL, 0};
        walk(&L);
        c->w = jc_malloc_aligned(c->total * sizeof(float));
        c->g = jc_malloc_aligned(c->total * sizeof(float));
        if (!c->w || !c->g) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory for %zu parameters", c->total);
    }
    if (!rc) {
        memset(c->w, 0, c->total * sizeof(float));
        memset(c->g, 0, c->total * sizeof(float));
        layout L = {c, c->w, 0};
        walk(&L);
        const jc_vision_config *vc = &cfg->vision;
        int g = vc->img_size / vc->patch_size, hd = vc->embed_dim / vc->num_heads;
        c->rope_sin = jc_malloc_array((size_t)g * g * hd, sizeof(float));
        c->rope_cos = jc_malloc_array((size_t)g * g * hd, sizeof(float));
        if (!c->rope_sin || !c->rope_cos) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        else rope_table(c->rope_sin, c->rope_cos, g, vc->ref_feat_shape[0], vc->ref_feat_shape[1], hd);
    }
    if (rc) {
        jc_clip_free(c);
        return rc;
    }
    *out = c;
    return JACLIP_OK;
}

void jc_clip_free(jc_clip *c)
{
    if (!c) return;
    free(c->params);
    free(c->vis.blocks);
    free(c->txt.layers);
    jc_free_aligned(c->w);
    jc_free_aligned(c->g);
    free(c->rope_sin);
    free(c->rope_cos);
    jc_scratch_free(&c->scratch);
    jc_free_aligned(c->act);
    free(c);
}

const jc_param *jc_clip_find(const jc_clip *c, const char *name)
{
    for (int i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].name, name) == 0) return &c->params[i];
    return NULL;
}

/* splitmix64 + Box-Muller: a small deterministic generator for initialisation */
static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return ((double)(sm64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double trunc_normal(uint64_t *s)
{
    for (;;) { /* truncated at ±2 standard deviations (timm / BERT initialisers) */
        double z = sqrt(-2.0 * log(unif(s))) * cos(6.283185307179586 * unif(s));
        if (fabs(z) <= 2.0) return z;
    }
}

void jc_clip_init_random(jc_clip *c, uint64_t seed)
{
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
    for (int i = 0; i < c->n_params; i++) {
        const jc_param *p = &c->params[i];
        float *x = c->w + p->off;
        const char *n = p->name;
        size_t nl = strlen(n);
        bool is_bias = nl > 5 && strcmp(n + nl - 5, ".bias") == 0;
        bool is_norm = strstr(n, "norm") || strstr(n, "LayerNorm");
        if (p->ndim == 0) {
            x[0] = (float)c->temp_init;
        } else if (is_bias) {
            memset(x, 0, p->n * sizeof(float));
        } else if (is_norm) {
            for (size_t k = 0; k < p->n; k++) x[k] = 1.0f;
        } else {
            /* matrices: std 1/sqrt(fan_in) (so that small widths still pass signal; a fixed 0.02
             * leaves the class token of a 16-wide tower input-independent and training collapses
             * to constant features); embeddings, class token and positions: 0.02 */
            double std = 0.02;
            if (p->decay) {
                size_t fan_in = p->n / (size_t)p->shape[0];
                std = 1.0 / sqrt((double)fan_in);
            }
            for (size_t k = 0; k < p->n; k++) x[k] = (float)(std * trunc_normal(&s));
        }
    }
}

jaclip_status jc_clip_load_weights(jc_clip *c, const char *path, jaclip_err *err)
{
    jc_safetensors st;
    jaclip_status rc = jc_st_open(path, &st, err);
    if (rc) return rc;
    for (int i = 0; !rc && i < c->n_params; i++) {
        const jc_param *p = &c->params[i];
        const float *src;
        float *owned;
        rc = jc_st_get_f32(&st, p->name, p->ndim, p->shape, &src, &owned, err);
        if (rc) break;
        memcpy(c->w + p->off, src, p->n * sizeof(float));
        free(owned);
    }
    jc_st_close(&st);
    return rc;
}

jaclip_status jc_clip_save_tensors(const jc_clip *c, const float *buf, const char *prefix, const char *path,
                                   jaclip_err *err)
{
    cJSON *h = cJSON_CreateObject();
    size_t off = 0;
    char name[256];
    for (int i = 0; i < c->n_params; i++) {
        const jc_param *p = &c->params[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < p->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)p->shape[k]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + p->n * 4)));
        off += p->n * 4;
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", p->name);
        cJSON_AddItemToObject(h, name, e);
    }
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!js) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    size_t hl = strlen(js), pad = (8 - hl % 8) % 8;
    uint64_t n = hl + pad;
    jc_atomic_file af;
    jaclip_status rc = jc_atomic_open(path, &af, err);
    if (rc) {
        free(js);
        return rc;
    }
    uint8_t le[8];
    for (int k = 0; k < 8; k++) le[k] = (uint8_t)(n >> (8 * k));
    bool ok = fwrite(le, 1, 8, af.f) == 8 && fwrite(js, 1, hl, af.f) == hl;
    for (size_t k = 0; ok && k < pad; k++) ok = fputc(' ', af.f) != EOF;
    for (int i = 0; ok && i < c->n_params; i++) /* little-endian hosts only (x86-64, aarch64) */
        ok = fwrite(buf + c->params[i].off, 4, c->params[i].n, af.f) == c->params[i].n;
    free(js);
    if (!ok) {
        jc_atomic_abort(&af);
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed", path);
    }
    return jc_atomic_commit(&af, err);
}
