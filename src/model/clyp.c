/*
 * clyp.c — the public model object (include/jaclip.h, section "Model"): loading a Hugging
 * Face snapshot directory (config, weights, preprocessing settings, tokenizer), the
 * embedding entry points, and L2 normalisation. Images are embedded in chunks of
 * EMBED_IMAGE_CHUNK and texts in packed chunks, so activation memory stays small next to
 * the mapped weights however many inputs a call gets.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "model/model.h"

#define EMBED_IMAGE_CHUNK 4
#define EMBED_TEXT_CHUNK 32

jaclip_model_params jaclip_model_default_params(void)
{
    jaclip_model_params p = {.tokenizer_path = NULL, .n_threads = 0, .pool = NULL, .allow_unknown_config = 0};
    return p;
}

void jaclip_model_free(jaclip_model *m)
{
    if (!m) return;
    model_lin_free(m);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->vis.blocks);
    free(m->txt.layers);
    free(m->rope_sin);
    free(m->rope_cos);
    jc_st_close(&m->st);
    if (m->tok) jaclip_tokenizer_free(m->tok);
    if (m->own_pool) jaclip_pool_free(m->pool);
    free(m->dir);
    free(m);
}

jaclip_status jaclip_model_load(const char *dir, const jaclip_model_params *p, jaclip_model **out, jaclip_err *err)
{
    *out = NULL;
    jaclip_model_params dp = jaclip_model_default_params();
    if (!p) p = &dp;
    if (!dir || !jc_is_dir(dir))
        return jc_err(err, JACLIP_ERR_IO, "%s: model directory not found (expected config.json, model.safetensors, "
                                          "preprocessor_config.json, spiece.model)", dir ? dir : "(null)");
    jaclip_model *m = jc_calloc(1, sizeof *m);
    if (!m) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jaclip_status rc = JACLIP_OK;
    m->dir = jc_strdup(dir);
    char *wpath = jc_path_join(dir, "model.safetensors");
    char *tpath = p->tokenizer_path ? jc_strdup(p->tokenizer_path) : jc_path_join(dir, "spiece.model");
    if (!m->dir || !wpath || !tpath) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    m->cfg.allow_unknown_keys = p->allow_unknown_config != 0;
    if (!rc) rc = jc_config_load(dir, &m->cfg, err);
    if (!rc && !jc_file_exists(tpath))
        rc = jc_err(err, JACLIP_ERR_IO,
                    "%s: tokenizer not found (put rinna's spiece.model in the model directory or pass --tokenizer "
                    "FILE; scripts/download-model.sh fetches it)",
                    tpath);
    if (!rc) rc = jc_st_open(wpath, &m->st, err);
    if (!rc) {
        m->dim = m->cfg.vision_neck_out;
        rc = model_bind_weights(m, err);
    }
    if (!rc) {
        const jc_vision_config *vc = &m->cfg.vision;
        int g = vc->img_size / vc->patch_size, hd = vc->embed_dim / vc->num_heads;
        m->rope_sin = jc_malloc_array((size_t)g * g * hd, sizeof(float));
        m->rope_cos = jc_malloc_array((size_t)g * g * hd, sizeof(float));
        if (!m->rope_sin || !m->rope_cos) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        else rope_table(m->rope_sin, m->rope_cos, g, vc->ref_feat_shape[0], vc->ref_feat_shape[1], hd);
    }
    if (!rc) {
        m->image = jaclip_image_default_params();
        m->image.image_size = m->cfg.image_size;
        rc = jaclip_image_set_normalization(&m->image, m->cfg.normalization_type, err);
    }
    if (!rc) {
        rc = jaclip_tokenizer_load(tpath, &m->tok, err);
    }
    if (!rc) {
        if (p->pool) {
            m->pool = p->pool;
        } else {
            rc = jaclip_pool_create(p->n_threads, &m->pool, err);
            m->own_pool = rc == JACLIP_OK;
        }
    }
    if (!rc) rc = model_lin_build(m, err);
    free(wpath);
    free(tpath);
    if (rc) {
        jaclip_model_free(m);
        return rc;
    }
    *out = m;
    return JACLIP_OK;
}

int jaclip_model_dim(const jaclip_model *m) { return m->dim; }
float jaclip_model_temperature(const jaclip_model *m) { return m->temperature; }
const jaclip_image_params *jaclip_model_image_params(const jaclip_model *m) { return &m->image; }
const jaclip_tokenizer *jaclip_model_tokenizer(const jaclip_model *m) { return m->tok; }

static jaclip_status check_finite(const float *x, size_t n, const char *what, jaclip_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return jc_err(err, JACLIP_ERR_NUMERIC, "%s: non-finite value at index %zu", what, i);
    return JACLIP_OK;
}

jaclip_status jaclip_embed_pixels(jaclip_model *m, const float *chw, int n, float *out, jaclip_err *err)
{
    if (!m || (n > 0 && (!chw || !out)) || n < 0) return jc_err(err, JACLIP_ERR_ARG, "jaclip_embed_pixels: bad arguments");
    size_t per = (size_t)3 * m->cfg.image_size * m->cfg.image_size;
    for (int i = 0; i < n; i += EMBED_IMAGE_CHUNK) {
        int b = n - i < EMBED_IMAGE_CHUNK ? n - i : EMBED_IMAGE_CHUNK;
        jaclip_status rc = eva_forward(m, chw + (size_t)i * per, b, out + (size_t)i * m->dim, err);
        if (rc) return rc;
    }
    return check_finite(out, (size_t)n * m->dim, "image features", err);
}

/* Packs rows [r0, r1) of ids with their lengths and runs the text tower. */
static jaclip_status embed_packed(jaclip_model *m, const int32_t *const *rows, const int *lens, int n, float *out,
                                  jaclip_err *err)
{
    for (int i = 0; i < n; i += EMBED_TEXT_CHUNK) {
        int b = n - i < EMBED_TEXT_CHUNK ? n - i : EMBED_TEXT_CHUNK;
        int seg[EMBED_TEXT_CHUNK + 1];
        seg[0] = 0;
        for (int s = 0; s < b; s++) {
            int L = lens[i + s];
            if (L < 1 || L > m->cfg.text.max_position_embeddings)
                return jc_err(err, JACLIP_ERR_LIMIT, "text %d has %d tokens; the model takes 1 to %d", i + s, L,
                              m->cfg.text.max_position_embeddings);
            seg[s + 1] = seg[s] + L;
        }
        int32_t *ids = jc_malloc_array((size_t)seg[b], sizeof *ids);
        if (!ids) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        for (int s = 0; s < b; s++) memcpy(ids + seg[s], rows[i + s], (size_t)lens[i + s] * sizeof *ids);
        jaclip_status rc = bert_forward(m, ids, seg, b, out + (size_t)i * m->dim, err);
        free(ids);
        if (rc) return rc;
    }
    return check_finite(out, (size_t)n * m->dim, "text features", err);
}

jaclip_status jaclip_embed_tokens(jaclip_model *m, const jaclip_token_batch *b, float *out, jaclip_err *err)
{
    if (!m || !b || b->n < 0 || (b->n > 0 && (!b->ids || !out || b->len < 1)))
        return jc_err(err, JACLIP_ERR_ARG, "jaclip_embed_tokens: bad arguments");
    if (b->n == 0) return JACLIP_OK;
    const int32_t **rows = jc_malloc_array((size_t)b->n, sizeof *rows);
    int *lens = jc_malloc_array((size_t)b->n, sizeof *lens);
    jaclip_status rc = (!rows || !lens) ? jc_err(err, JACLIP_ERR_NOMEM, "out of memory") : JACLIP_OK;
    for (int i = 0; !rc && i < b->n; i++) {
        rows[i] = b->ids + (size_t)i * b->len;
        int L;
        if (b->lengths) {
            L = b->lengths[i];
        } else if (b->mask) { /* the real tokens are the leading run of mask 1s */
            L = 0;
            while (L < b->len && b->mask[(size_t)i * b->len + L]) L++;
        } else {
            L = b->len;
        }
        if (L < 1 || L > b->len) rc = jc_err(err, JACLIP_ERR_ARG, "token batch row %d has length %d (row size %d)", i, L, b->len);
        /* position ids other than 0..L-1 are not what CLYP feeds; refuse them rather than ignore */
        for (int t = 0; !rc && b->positions && t < L; t++)
            if (b->positions[(size_t)i * b->len + t] != t)
                rc = jc_err(err, JACLIP_ERR_UNSUPPORTED, "token batch row %d: position ids must be 0..len-1", i);
        lens[i] = L;
    }
    if (!rc) rc = embed_packed(m, rows, lens, b->n, out, err);
    free(rows);
    free(lens);
    return rc;
}

jaclip_status jaclip_embed_texts(jaclip_model *m, const char *const *texts, int n, float *out, jaclip_err *err)
{
    if (!m || n < 0 || (n > 0 && (!texts || !out))) return jc_err(err, JACLIP_ERR_ARG, "jaclip_embed_texts: bad arguments");
    if (!m->tok) return jc_err(err, JACLIP_ERR_ARG, "no tokenizer loaded");
    int32_t *ids = jc_malloc_array((size_t)(n > 0 ? n : 1) * JACLIP_MAX_TEXT_LEN, sizeof *ids);
    const int32_t **rows = jc_malloc_array((size_t)(n > 0 ? n : 1), sizeof *rows);
    int *lens = jc_malloc_array((size_t)(n > 0 ? n : 1), sizeof *lens);
    jaclip_status rc = (!ids || !rows || !lens) ? jc_err(err, JACLIP_ERR_NOMEM, "out of memory") : JACLIP_OK;
    /* CLYP truncates to 77 ids; a small model with fewer positions truncates to what it has */
    int max_ids = m->cfg.text.max_position_embeddings < JACLIP_MAX_TEXT_LEN ? m->cfg.text.max_position_embeddings
                                                                            : JACLIP_MAX_TEXT_LEN;
    for (int i = 0; !rc && i < n; i++) {
        rows[i] = ids + (size_t)i * JACLIP_MAX_TEXT_LEN;
        rc = jaclip_tokenize(m->tok, texts[i], strlen(texts[i]), ids + (size_t)i * JACLIP_MAX_TEXT_LEN, max_ids,
                             &lens[i], err);
        if (rc) jc_err_prefix(err, "text %d", i);
    }
    if (!rc && n > 0) rc = embed_packed(m, rows, lens, n, out, err);
    free(ids);
    free(rows);
    free(lens);
    return rc;
}

void jaclip_l2_normalize(float *x, int n, int dim)
{
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)r[j] * r[j];
        double nr = sqrt(s);
        float inv = (float)(1.0 / (nr > 1e-12 ? nr : 1e-12));
        for (int j = 0; j < dim; j++) r[j] *= inv;
    }
}
