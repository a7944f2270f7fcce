/*
 * eval_run.c — the evaluation protocols of algorithms.md §6, producing CLIP_benchmark's
 * result JSON.
 *
 * Zero-shot (§6.1): w_c = norm(mean_m norm(f_txt(template_m(c)))), x = norm(f_img(img)),
 * logits = x . w_c; acc1, acc5, mean_per_class_recall (metrics.c). "none" uses the bare
 * class name as the only text; "both" evaluates both and reports the better acc1 as the
 * seed does, keeping the two results beside it.
 * Retrieval (§6.2): several captions per image; image_retrieval_recall@K (text->image) and
 * text_retrieval_recall@K (image->text), and their R@1 mean (the STAIR score).
 * Image and caption features go through the feature cache (eval_cache.c).
 */
#include "tasks/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tasks/index.h"

jc_eval_params jc_eval_default_params(void)
{
    jc_eval_params p;
    memset(&p, 0, sizeof p);
    p.split = "test";
    p.ks[0] = 1, p.ks[1] = 5, p.ks[2] = 10;
    p.n_k = 3;
    p.ties = JC_TIES_GOLD_LAST;
    return p;
}

typedef struct embed_ctx {
    jaclip_model *m;
    const jc_image_set *s;
    const char *const *texts;
    jaclip_pool *pool;
    jc_progress *prog;
} embed_ctx;

static jaclip_status image_rows(void *vc, int64_t from, int64_t to, float *out, jaclip_err *err)
{
    embed_ctx *c = vc;
    return jc_embed_image_set(c->m, c->s, from, to, c->pool, out, NULL, c->prog, err);
}

static jaclip_status text_rows(void *vc, int64_t from, int64_t to, float *out, jaclip_err *err)
{
    embed_ctx *c = vc;
    return jc_embed_text_list(c->m, c->texts + from, to - from, out, c->prog, err);
}

/* Identity of a set of keys (order matters) plus the sizes of in-shard images. */
static uint64_t set_hash(const jc_image_set *s, int64_t n)
{
    uint64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        h = jc_hash64(h, s->keys[i], strlen(s->keys[i]) + 1);
        h = jc_hash64(h, &s->size[i], sizeof s->size[i]);
    }
    return h;
}

static char *make_id(const char *kind, const jc_image_set *s, int64_t n, const char *model_id, uint64_t extra)
{
    size_t len = strlen(kind) + strlen(s->source ? s->source : "") + strlen(model_id) + 128;
    char *id = malloc(len);
    char *real = s->source ? realpath(s->source, NULL) : NULL;
    if (id)
        snprintf(id, len, "%s source=%s n=%lld keys=%016llx extra=%016llx %s", kind, real ? real : s->source ? s->source : "",
                 (long long)n, (unsigned long long)set_hash(s, n), (unsigned long long)extra, model_id);
    free(real);
    return id;
}

/* Image features of the first n images of s, through the cache, with a progress line. */
static jaclip_status image_features(const jc_eval_params *p, jaclip_model *m, jaclip_pool *pool, const jc_image_set *s,
                                    int64_t n, const char *model_id, float *out, jaclip_err *err)
{
    char *id = make_id("images", s, n, model_id, 0);
    if (!id) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jc_progress prog;
    jc_progress_start(&prog, "embedding images", "img", n, p->quiet);
    embed_ctx c = {.m = m, .s = s, .pool = pool, .prog = &prog};
    int64_t reused;
    jaclip_status st = jc_cache_features(p->cache_root, id, n, jaclip_model_dim(m), (const char *const *)s->keys, image_rows, &c, out, &reused, err);
    if (reused && !p->quiet) fprintf(stderr, "%lld of %lld image features came from the cache\n", (long long)reused, (long long)n);
    jc_progress_finish(&prog);
    free(id);
    return st;
}

static jaclip_status save_npy(const char *dir, const char *name, const char *descr, int64_t rows, int64_t cols,
                              const void *data, jaclip_err *err)
{
    char *p = jc_path_join(dir, name);
    if (!p) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    int64_t shape[2] = {rows, cols};
    jaclip_status st = jc_npy_write(p, descr, shape, cols ? 2 : 1, data, err);
    free(p);
    return st;
}

/* CLIP_benchmark datasets name their task in ROOT/dataset_type.txt; running the other
 * evaluation on them would fail later with a less helpful message (no .cls / no .txt). */
static jaclip_status check_dataset_type(const char *root, const char *want, const char *other_cmd, jaclip_err *err)
{
    char *p = jc_path_join(root, "dataset_type.txt");
    if (!p) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    char *t = NULL;
    size_t len;
    jaclip_status st = JACLIP_OK;
    if (jc_file_exists(p) && jc_read_file(p, 4096, &t, &len, NULL) == JACLIP_OK) {
        while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ')) t[--len] = 0;
        if (len && strcmp(t, want) != 0)
            st = jc_err(err, JACLIP_ERR_ARG, "%s says '%s', not '%s': use `jaclip eval %s`", p, t, want, other_cmd);
    }
    free(t);
    free(p);
    return st;
}

static cJSON *result_object(const jc_eval_params *p, const char *task, const char *dataset)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "dataset", dataset);
    cJSON_AddStringToObject(r, "model", p->model_dir);
    cJSON_AddStringToObject(r, "task", task);
    cJSON_AddStringToObject(r, "language", "ja");
    return r;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isnan(v)) cJSON_AddNullToObject(o, k); /* JSON has no NaN; CLIP_benchmark writes NaN for acc5 < 5 classes */
    else cJSON_AddNumberToObject(o, k, v);
}

/* Class weights (n_classes x dim) from templates (each with {c}); texts go through the cache. */
static jaclip_status class_weights(const jc_eval_params *p, jaclip_model *m, jaclip_pool *pool, char **names, int n_cls,
                                   char **tmpl, int n_tmpl, const char *model_id, float *w, float **txt_out,
                                   jaclip_err *err)
{
    int dim = jaclip_model_dim(m);
    int64_t nt = (int64_t)n_cls * n_tmpl;
    char **texts = calloc((size_t)nt, sizeof *texts);
    float *tf = jc_malloc_array((size_t)nt * (size_t)dim, sizeof(float));
    jaclip_status st = (!texts || !tf) ? jc_err(err, JACLIP_ERR_NOMEM, "out of memory") : JACLIP_OK;
    uint64_t h = 0;
    for (int c = 0; c < n_cls && !st; c++)
        for (int t = 0; t < n_tmpl && !st; t++) {
            char *s = jc_format_template(tmpl[t], names[c]);
            if (!s) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            else {
                texts[(size_t)c * n_tmpl + t] = s;
                h = jc_hash64(h, s, strlen(s) + 1);
            }
        }
    if (!st) {
        size_t len = strlen(model_id) + 64;
        char *id = malloc(len);
        if (!id) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        else {
            snprintf(id, len, "texts n=%lld hash=%016llx %s", (long long)nt, (unsigned long long)h, model_id);
            jc_progress prog;
            jc_progress_start(&prog, "embedding class texts", "txt", nt, p->quiet);
            embed_ctx c = {.m = m, .texts = (const char *const *)texts, .pool = pool, .prog = &prog};
            int64_t reused;
            st = jc_cache_features(p->cache_root, id, nt, dim, (const char *const *)texts, text_rows, &c, tf, &reused, err);
            jc_progress_finish(&prog);
            free(id);
        }
    }
    for (int c = 0; c < n_cls && !st; c++) {
        float *wc = w + (size_t)c * dim;
        memset(wc, 0, (size_t)dim * sizeof(float));
        for (int t = 0; t < n_tmpl; t++)
            for (int d = 0; d < dim; d++) wc[d] += tf[((size_t)c * n_tmpl + t) * dim + d];
        for (int d = 0; d < dim; d++) wc[d] /= (float)n_tmpl;
        jc_normalize_row(wc, dim);
    }
    for (int64_t i = 0; texts && i < nt; i++) free(texts[i]);
    free(texts);
    if (!st && txt_out) *txt_out = tf;
    else free(tf);
    return st;
}

jaclip_status jc_eval_zeroshot(const jc_eval_params *p, cJSON **result, jaclip_err *err)
{
    *result = NULL;
    if (!p->model_dir || !p->dataset_root) return jc_err(err, JACLIP_ERR_ARG, "zero-shot needs a model and a dataset");
    char **names = NULL, **tmpl = NULL;
    int n_cls = 0, n_tmpl = 0;
    jc_image_set s = {0};
    jaclip_pool *pool = NULL;
    jaclip_model *m = NULL;
    float *img = NULL, *logits = NULL, *w = NULL;
    int32_t *target = NULL;
    char *model_id = NULL, *tpath = NULL;
    cJSON *res = NULL;
    jaclip_status st = check_dataset_type(p->dataset_root, "classification", "retrieval", err);
    if (!st) st = jc_read_classnames(p->dataset_root, &names, &n_cls, err);
    if (st) goto done;
    if (p->template_mode != JC_TEMPLATES_NONE) {
        tpath = p->templates ? jc_strdup(p->templates) : jc_path_join(p->dataset_root, "zeroshot_classification_templates.txt");
        if (!tpath) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (!jc_file_exists(tpath)) {
            st = jc_err(err, JACLIP_ERR_IO, "%s: missing (give --templates FILE, or --templates none for bare class names)", tpath);
            goto done;
        }
        if ((st = jc_read_templates(tpath, &tmpl, &n_tmpl, err))) goto done;
    }
    if ((st = jc_image_set_from_split(p->dataset_root, p->split, JC_NEED_CLS, n_cls, &s, err))) goto done;
    int64_t n = p->limit > 0 && p->limit < s.n ? p->limit : s.n;
    if ((st = jaclip_pool_create(p->n_threads, &pool, err))) goto done;
    if ((st = jc_eval_model_load(p->model_dir, p->tokenizer, pool, &m, err))) goto done;
    int dim = jaclip_model_dim(m);
    model_id = jc_model_identity(p->model_dir, p->tokenizer);
    img = jc_malloc_array((size_t)n, (size_t)dim * sizeof(float));
    logits = jc_malloc_array((size_t)n, (size_t)n_cls * sizeof(float));
    w = jc_malloc_array((size_t)n_cls, (size_t)dim * sizeof(float));
    target = jc_malloc_array((size_t)n, sizeof(int32_t));
    res = result_object(p, "zeroshot_classification", p->dataset_root);
    if (!model_id || !img || !logits || !w || !target || !res) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(target, s.label, (size_t)n * sizeof(int32_t));
    if ((st = image_features(p, m, pool, &s, n, model_id, img, err))) goto done;
    if (p->save_features) {
        if ((st = jc_mkdirs(p->save_features, err))) goto done;
        if ((st = save_npy(p->save_features, "images.npy", "<f4", n, dim, img, err))) goto done;
        if ((st = save_npy(p->save_features, "labels.npy", "<i4", n, 0, target, err))) goto done;
    }
    cJSON_AddNumberToObject(res, "n_images", (double)n);
    cJSON_AddNumberToObject(res, "n_classes", n_cls);
    jc_zeroshot_metrics best = {0};
    const char *best_name = NULL;
    jc_simd simd = jc_simd_level();
    for (int pass = 0; pass < 2; pass++) {
        bool with = pass == 0;
        if (with && p->template_mode == JC_TEMPLATES_NONE) continue;
        if (!with && p->template_mode == JC_TEMPLATES_FILE) continue;
        char *bare[1] = {"{c}"};
        float *tf = NULL;
        st = class_weights(p, m, pool, names, n_cls, with ? tmpl : bare, with ? n_tmpl : 1, model_id, w,
                           p->save_features ? &tf : NULL, err);
        if (st) goto done;
        if (p->save_features) {
            st = save_npy(p->save_features, with ? "texts_templates.npy" : "texts_none.npy", "<f4",
                          (int64_t)n_cls * (with ? n_tmpl : 1), dim, tf, err);
            free(tf);
            if (st) goto done;
        }
        for (int64_t i = 0; i < n; i++)
            jc_dot_rows_f32(simd, img + (size_t)i * dim, w, n_cls, dim, logits + (size_t)i * n_cls);
        jc_zeroshot_metrics z;
        if ((st = jc_zeroshot_metrics_compute(logits, n, n_cls, target, p->ties, &z, err))) goto done;
        cJSON *mo = cJSON_CreateObject();
        add_num(mo, "acc1", z.acc1);
        add_num(mo, "acc5", z.acc5);
        add_num(mo, "mean_per_class_recall", z.mean_per_class_recall);
        cJSON_AddItemToObject(res, with ? "metrics_templates" : "metrics_no_templates", mo);
        if (!best_name || z.acc1 > best.acc1) {
            best = z;
            best_name = with ? "templates" : "none";
        }
    }
    cJSON *mo = cJSON_CreateObject();
    add_num(mo, "acc1", best.acc1);
    add_num(mo, "acc5", best.acc5);
    add_num(mo, "mean_per_class_recall", best.mean_per_class_recall);
    cJSON_AddItemToObject(res, "metrics", mo);
    cJSON_AddStringToObject(res, "templates", p->template_mode == JC_TEMPLATES_BOTH ? "both" : p->template_mode == JC_TEMPLATES_NONE ? "none" : tpath);
    cJSON_AddStringToObject(res, "best", best_name);
    cJSON_AddNumberToObject(res, "n_templates", n_tmpl);
    *result = res;
    res = NULL;
done:
    cJSON_Delete(res);
    jc_free_strings(names, n_cls);
    jc_free_strings(tmpl, n_tmpl);
    jc_image_set_free(&s);
    jaclip_model_free(m);
    jaclip_pool_free(pool);
    free(img);
    free(logits);
    free(w);
    free(target);
    free(model_id);
    free(tpath);
    return st;
}

jaclip_status jc_eval_retrieval(const jc_eval_params *p, cJSON **result, jaclip_err *err)
{
    *result = NULL;
    if (!p->model_dir) return jc_err(err, JACLIP_ERR_ARG, "retrieval needs a model");
    jc_image_set s = {0};
    jaclip_pool *pool = NULL;
    jaclip_model *m = NULL;
    float *img = NULL, *txt = NULL;
    int64_t *text_image = NULL;
    char *model_id = NULL, *tid = NULL;
    cJSON *res = NULL;
    jaclip_status st;
    if (p->captions) st = jc_image_set_from_coco(p->images_dir ? p->images_dir : ".", p->captions, p->image_list, &s, err);
    else if (p->dataset_root) {
        st = check_dataset_type(p->dataset_root, "retrieval", "zeroshot", err);
        if (!st) st = jc_image_set_from_split(p->dataset_root, p->split, JC_NEED_TXT, 0, &s, err);
    }
    else st = jc_err(err, JACLIP_ERR_ARG, "retrieval needs --dataset ROOT, or --images DIR --captions FILE.json");
    if (st) goto done;
    int64_t n = p->limit > 0 && p->limit < s.n ? p->limit : s.n;
    int64_t n_txt = s.cap_first[n];
    if ((st = jaclip_pool_create(p->n_threads, &pool, err))) goto done;
    if ((st = jc_eval_model_load(p->model_dir, p->tokenizer, pool, &m, err))) goto done;
    int dim = jaclip_model_dim(m);
    model_id = jc_model_identity(p->model_dir, p->tokenizer);
    img = jc_malloc_array((size_t)n, (size_t)dim * sizeof(float));
    txt = jc_malloc_array((size_t)n_txt, (size_t)dim * sizeof(float));
    text_image = jc_malloc_array((size_t)n_txt, sizeof(int64_t));
    res = result_object(p, "zeroshot_retrieval", p->captions ? p->captions : p->dataset_root);
    tid = model_id ? make_id("captions", &s, n, model_id, (uint64_t)n_txt) : NULL;
    if (!model_id || !img || !txt || !text_image || !res || !tid) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = s.cap_first[i]; t < s.cap_first[i + 1]; t++) text_image[t] = i;
    if ((st = image_features(p, m, pool, &s, n, model_id, img, err))) goto done;
    {
        jc_progress prog;
        jc_progress_start(&prog, "embedding captions", "txt", n_txt, p->quiet);
        embed_ctx c = {.m = m, .texts = (const char *const *)s.caps, .pool = pool, .prog = &prog};
        int64_t reused;
        st = jc_cache_features(p->cache_root, tid, n_txt, dim, (const char *const *)s.caps, text_rows, &c, txt, &reused, err);
        jc_progress_finish(&prog);
        if (st) goto done;
    }
    if (p->save_features) {
        if ((st = jc_mkdirs(p->save_features, err))) goto done;
        if ((st = save_npy(p->save_features, "images.npy", "<f4", n, dim, img, err))) goto done;
        if ((st = save_npy(p->save_features, "texts.npy", "<f4", n_txt, dim, txt, err))) goto done;
        if ((st = save_npy(p->save_features, "text_image.npy", "<i8", n_txt, 0, text_image, err))) goto done;
    }
    jc_retrieval_metrics rm;
    {
        jc_progress prog;
        jc_progress_start(&prog, "ranking", "caption", n_txt, p->quiet);
        st = jc_retrieval_metrics_compute(img, n, txt, n_txt, dim, text_image, p->ks, p->n_k, p->ties, pool, &prog, &rm, err);
        jc_progress_finish(&prog);
        if (st) goto done;
    }
    cJSON *mo = cJSON_CreateObject();
    char k[64];
    double r1_i = NAN, r1_t = NAN;
    for (int q = 0; q < rm.n_k; q++) {
        snprintf(k, sizeof k, "image_retrieval_recall@%d", rm.k[q]);
        add_num(mo, k, rm.t2i[q]);
        snprintf(k, sizeof k, "text_retrieval_recall@%d", rm.k[q]);
        add_num(mo, k, rm.i2t[q]);
        if (rm.k[q] == 1) r1_i = rm.t2i[q], r1_t = rm.i2t[q];
    }
    if (!isnan(r1_i)) add_num(mo, "mean_recall@1", 0.5 * (r1_i + r1_t));
    cJSON_AddItemToObject(res, "metrics", mo);
    cJSON_AddNumberToObject(res, "n_images", (double)n);
    cJSON_AddNumberToObject(res, "n_captions", (double)n_txt);
    *result = res;
    res = NULL;
done:
    cJSON_Delete(res);
    jc_image_set_free(&s);
    jaclip_model_free(m);
    jaclip_pool_free(pool);
    free(img);
    free(txt);
    free(text_image);
    free(model_id);
    free(tid);
    return st;
}
