/*
 * eval_embed.c — images and texts through the model in batches, for evaluation, index
 * building and search queries. Decoding + letterboxing (the slow, per-image part) runs on
 * the thread pool one image per task; the towers then run on the same pool inside the
 * model. Features come out L2-normalised, as every consumer (metrics, index) wants them.
 */
#include "tasks/eval.h"

#include <stdlib.h>
#include <string.h>

#include "tasks/index.h"

#define IMAGE_BATCH 32
#define TEXT_BATCH 64

jaclip_status jc_eval_model_load(const char *dir, const char *tokenizer, jaclip_pool *pool, jaclip_model **out,
                                 jaclip_err *err)
{
    jaclip_model_params p = jaclip_model_default_params();
    p.tokenizer_path = tokenizer;
    p.pool = pool;
    return jaclip_model_load(dir, &p, out, err);
}

typedef struct decode_ctx {
    const jc_image_set *s;
    int64_t first;
    const jaclip_image_params *ip;
    int side;
    uint8_t *rgb;     /* n_threads * side*side*3 */
    float *chw;       /* batch * 3*side*side */
    jaclip_status *st; /* batch */
    jaclip_err *errs; /* batch */
} decode_ctx;

static void decode_task(void *vc, int task, int thread)
{
    decode_ctx *c = vc;
    int64_t i = c->first + task;
    size_t plane = (size_t)c->side * (size_t)c->side;
    uint8_t *rgb = c->rgb + (size_t)thread * plane * 3;
    jaclip_err *e = &c->errs[task];
    if (c->s->data && c->s->data[i])
        c->st[task] = jaclip_image_letterbox_mem(c->s->data[i], c->s->size[i], c->s->keys[i], c->ip, rgb, e);
    else
        c->st[task] = jaclip_image_letterbox_file(c->s->keys[i], c->ip, rgb, e);
    if (c->st[task] == JACLIP_OK)
        jaclip_image_normalize(rgb, c->side, c->ip->mean, c->ip->std, c->chw + (size_t)task * plane * 3);
}

jaclip_status jc_embed_image_set(jaclip_model *m, const jc_image_set *s, int64_t from, int64_t to, jaclip_pool *pool,
                                 float *out, uint8_t *ok, jc_progress *prog, jaclip_err *err)
{
    const jaclip_image_params *ip = jaclip_model_image_params(m);
    int dim = jaclip_model_dim(m), side = ip->image_size;
    int nt = pool ? jaclip_pool_size(pool) : 1;
    size_t plane = (size_t)side * (size_t)side;
    decode_ctx c = {.s = s, .ip = ip, .side = side};
    c.rgb = jc_malloc_array((size_t)nt * plane * 3, 1);
    c.chw = jc_malloc_array((size_t)IMAGE_BATCH * plane * 3, sizeof(float));
    c.st = calloc(IMAGE_BATCH, sizeof *c.st);
    c.errs = calloc(IMAGE_BATCH, sizeof *c.errs);
    float *feat = jc_malloc_array((size_t)IMAGE_BATCH * (size_t)dim, sizeof(float));
    jaclip_status st = JACLIP_OK;
    if (!c.rgb || !c.chw || !c.st || !c.errs || !feat) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    for (int64_t b0 = from; b0 < to && !st; b0 += IMAGE_BATCH) {
        int nb = (int)(to - b0 < IMAGE_BATCH ? to - b0 : IMAGE_BATCH);
        c.first = b0;
        jc_pool_run(pool, nb, decode_task, &c);
        /* pack the decoded images to the front so the towers see only real ones */
        int good = 0;
        for (int i = 0; i < nb; i++) {
            if (c.st[i] != JACLIP_OK) {
                if (!ok) {
                    st = jc_err(err, c.st[i], "%s", c.errs[i].msg);
                    break;
                }
                jc_warn("skipping %s: %s", s->keys[b0 + i], c.errs[i].msg);
                continue;
            }
            if (good != i) memmove(c.chw + (size_t)good * plane * 3, c.chw + (size_t)i * plane * 3, plane * 3 * sizeof(float));
            good++;
        }
        if (st) break;
        if (good) {
            st = jaclip_embed_pixels(m, c.chw, good, feat, err);
            if (st) {
                jc_err_prefix(err, "images %s .. %s", s->keys[b0], s->keys[b0 + nb - 1]);
                break;
            }
        }
        int g = 0;
        for (int i = 0; i < nb; i++) {
            float *row = out + (size_t)(b0 - from + i) * (size_t)dim;
            if (c.st[i] == JACLIP_OK) {
                memcpy(row, feat + (size_t)g++ * (size_t)dim, (size_t)dim * sizeof(float));
                jc_normalize_row(row, dim);
            } else {
                memset(row, 0, (size_t)dim * sizeof(float));
            }
            if (ok) ok[b0 - from + i] = c.st[i] == JACLIP_OK;
        }
        if (prog) jc_progress_add(prog, nb);
    }
    free(c.rgb);
    free(c.chw);
    free(c.st);
    free(c.errs);
    free(feat);
    return st;
}

jaclip_status jc_embed_text_list(jaclip_model *m, const char *const *texts, int64_t n, float *out, jc_progress *prog,
                                 jaclip_err *err)
{
    int dim = jaclip_model_dim(m);
    for (int64_t i = 0; i < n; i += TEXT_BATCH) {
        int nb = (int)(n - i < TEXT_BATCH ? n - i : TEXT_BATCH);
        jaclip_status st = jaclip_embed_texts(m, texts + i, nb, out + (size_t)i * (size_t)dim, err);
        if (st) {
            jc_err_prefix(err, "texts %lld..%lld ('%s' ...)", (long long)i, (long long)(i + nb - 1), texts[i]);
            return st;
        }
        for (int k = 0; k < nb; k++) jc_normalize_row(out + (size_t)(i + k) * (size_t)dim, dim);
        if (prog) jc_progress_add(prog, nb);
    }
    return JACLIP_OK;
}

jaclip_status jc_embed_query(const char *model_dir, const char *tokenizer, const char *text, const char *image,
                             jaclip_pool *pool, float *out, int dim, jaclip_err *err)
{
    jaclip_model *m = NULL;
    jaclip_status st = jc_eval_model_load(model_dir, tokenizer, pool, &m, err);
    if (st) return st;
    if (jaclip_model_dim(m) != dim) {
        st = jc_err(err, JACLIP_ERR_MISMATCH, "%s: model features have dim %d but the index holds dim %d", model_dir,
                    jaclip_model_dim(m), dim);
    } else if (text) {
        st = jc_embed_text_list(m, &text, 1, out, NULL, err);
    } else {
        jc_image_set s;
        st = jc_image_set_from_files(&image, 1, &s, err);
        if (!st) st = jc_embed_image_set(m, &s, 0, 1, pool, out, NULL, NULL, err);
        jc_image_set_free(&s);
    }
    jaclip_model_free(m);
    return st;
}
