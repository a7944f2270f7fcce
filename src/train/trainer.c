/*
 * trainer.c — `jaclip train`'s engine: the loop over optimizer steps (micro-batches from the
 * background loader, gradient accumulation, AdamW), logging (stdout lines and OUT/log.jsonl),
 * periodic zero-shot evaluation on a held-out split, NaN/Inf detection, and checkpoints.
 * With --accum N the N micro-batches of a step are one contrastive batch of N × batch pairs
 * (jc_clip_step_accum, accum.c), not N separate losses.
 *
 * A checkpoint directory is a model directory `jaclip embed` loads unchanged (config.json,
 * preprocessor_config.json, spiece.model, model.safetensors) plus optimizer.safetensors
 * (AdamW moments, keys "adam.m.<param>" / "adam.v.<param>") and trainer_state.json (step,
 * seed and the options that shape the data order). Resuming restores all of it and restarts
 * the loader at the next micro-batch, so the losses continue exactly as without the break.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/safetensors.h"
#include "train/data.h"
#include "train/train.h"

jc_train_opts jc_train_default_opts(void)
{
    jc_train_opts o = {0};
    o.split = "train";
    o.eval_split = "test";
    o.epochs = 1;
    o.batch = 64;
    o.accum = 1;
    o.lr = 5e-4;
    o.min_lr = 0;
    o.warmup_frac = 0.05;
    o.warmup = -1;
    o.weight_decay = 0.1;
    o.clip = 1.0;
    o.beta1 = 0.9;
    o.beta2 = 0.98;
    o.eps = 1e-6;
    o.seed = 1;
    o.log_every = 10;
    o.eval_every = 0;
    o.ckpt_every = 500;
    return o;
}

jaclip_status jc_train_opts_from_json(const char *path, jc_train_opts *o, char ***owned, int *n_owned,
                                      jaclip_err *err)
{
    char *txt;
    size_t len;
    jaclip_status rc = jc_read_file(path, 1 << 20, &txt, &len, err);
    if (rc) return rc;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        char key[64];
        snprintf(key, sizeof key, "%s", it->string);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        const char **sv = NULL;
        double *dv = NULL;
        int *iv = NULL;
        int64_t *lv = NULL;
        bool *bv = NULL;
#define S_(k) else if (strcmp(key, #k) == 0) sv = &o->k;
#define D_(k) else if (strcmp(key, #k) == 0) dv = &o->k;
#define I_(k) else if (strcmp(key, #k) == 0) iv = &o->k;
#define L_(k) else if (strcmp(key, #k) == 0) lv = &o->k;
#define B_(k) else if (strcmp(key, #k) == 0) bv = &o->k;
        if (0) {}
        S_(model) S_(tokenizer) S_(data) S_(split) S_(eval_data) S_(eval_split) S_(out) S_(resume)
        D_(epochs) D_(lr) D_(min_lr) D_(warmup_frac) D_(weight_decay) D_(clip) D_(beta1) D_(beta2) D_(eps)
        I_(batch) I_(accum) I_(log_every) I_(eval_every) I_(ckpt_every) I_(threads) I_(eval_samples)
        L_(steps) L_(warmup) L_(stop_after)
        B_(scratch) B_(hflip) B_(quiet)
        else if (strcmp(key, "seed") == 0) {
            if (!cJSON_IsNumber(it)) goto bad;
            o->seed = (uint64_t)it->valuedouble;
            continue;
        } else {
            jaclip_status st = jc_err(err, JACLIP_ERR_FORMAT, "%s: unknown option \"%s\" (see jaclip train --help)",
                                      path, it->string);
            cJSON_Delete(j);
            return st;
        }
#undef S_
#undef D_
#undef I_
#undef L_
#undef B_
        if (sv) {
            if (!cJSON_IsString(it)) goto bad;
            char **nv = realloc(*owned, sizeof **owned * (size_t)(*n_owned + 1));
            if (!nv) continue;
            *owned = nv;
            nv[(*n_owned)++] = jc_strdup(it->valuestring);
            *sv = nv[*n_owned - 1];
        } else if (bv) {
            if (!cJSON_IsBool(it)) goto bad;
            *bv = cJSON_IsTrue(it);
        } else {
            if (!cJSON_IsNumber(it)) goto bad;
            if (dv) *dv = it->valuedouble;
            if (iv) *iv = (int)it->valuedouble;
            if (lv) *lv = (int64_t)it->valuedouble;
        }
        continue;
    bad:;
        jaclip_status st = jc_err(err, JACLIP_ERR_FORMAT, "%s: option \"%s\" has the wrong type", path, it->string);
        cJSON_Delete(j);
        return st;
    }
    cJSON_Delete(j);
    return JACLIP_OK;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */
static jaclip_status copy_file(const char *from, const char *to, jaclip_err *err)
{
    char *buf;
    size_t len;
    jaclip_status rc = jc_read_file(from, (size_t)1 << 30, &buf, &len, err);
    if (rc) return rc;
    rc = jc_write_file_atomic(to, buf, len, err);
    free(buf);
    return rc;
}

static jaclip_status copy_into(const char *from, const char *dir, const char *name, jaclip_err *err)
{
    char *to = jc_path_join(dir, name);
    jaclip_status rc = strcmp(from, to) == 0 ? JACLIP_OK : copy_file(from, to, err);
    free(to);
    return rc;
}

typedef struct trainer {
    const jc_train_opts *o;
    jaclip_pool *pool;
    jaclip_tokenizer *tok;
    char *tok_path;
    jc_clyp_config cfg;
    jaclip_image_params ip;
    jc_clip *c;
    jc_adamw opt;
    jc_dataset train, eval;
    bool have_eval;
    FILE *log;
} trainer;

static jaclip_status save_checkpoint(trainer *t, jaclip_err *err)
{
    const jc_train_opts *o = t->o;
    jaclip_status rc = jc_mkdirs(o->out, err);
    char *p;
    if (!rc) {
        p = jc_path_join(o->model, "config.json");
        rc = copy_into(p, o->out, "config.json", err);
        free(p);
    }
    if (!rc) {
        p = jc_path_join(o->model, "preprocessor_config.json");
        rc = copy_into(p, o->out, "preprocessor_config.json", err);
        free(p);
    }
    if (!rc) rc = copy_into(t->tok_path, o->out, "spiece.model", err);
    if (!rc) {
        p = jc_path_join(o->out, "model.safetensors");
        rc = jc_clip_save_tensors(t->c, t->c->w, NULL, p, err);
        free(p);
    }
    /* the optimizer moments: m and v as one file, keys prefixed */
    if (!rc) {
        p = jc_path_join(o->out, "optimizer.m.safetensors");
        rc = jc_clip_save_tensors(t->c, t->opt.m, "adam.m.", p, err);
        free(p);
    }
    if (!rc) {
        p = jc_path_join(o->out, "optimizer.v.safetensors");
        rc = jc_clip_save_tensors(t->c, t->opt.v, "adam.v.", p, err);
        free(p);
    }
    if (!rc) { /* written last: a checkpoint is complete once its state names the step */
        char js[512];
        int n = snprintf(js, sizeof js,
                         "{\n  \"step\": %lld,\n  \"total_steps\": %lld,\n  \"seed\": %llu,\n  \"batch\": %d,\n"
                         "  \"accum\": %d,\n  \"hflip\": %s\n}\n",
                         (long long)t->opt.step, (long long)t->opt.total_steps, (unsigned long long)o->seed, o->batch,
                         o->accum, o->hflip ? "true" : "false");
        p = jc_path_join(o->out, "trainer_state.json");
        rc = jc_write_file_atomic(p, js, (size_t)n, err);
        free(p);
    }
    return rc;
}

static jaclip_status load_moments(trainer *t, const char *dir, const char *file, const char *prefix, float *buf,
                                  jaclip_err *err)
{
    char *p = jc_path_join(dir, file);
    jc_safetensors st;
    jaclip_status rc = jc_st_open(p, &st, err);
    free(p);
    for (int i = 0; !rc && i < t->c->n_params; i++) {
        const jc_param *q = &t->c->params[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, q->name);
        const float *src;
        float *owned;
        rc = jc_st_get_f32(&st, name, q->ndim, q->shape, &src, &owned, err);
        if (!rc) memcpy(buf + q->off, src, q->n * sizeof(float));
        if (!rc) free(owned);
    }
    if (!rc || st.path) jc_st_close(&st);
    return rc;
}

static jaclip_status load_resume(trainer *t, jaclip_err *err)
{
    const char *d = t->o->resume;
    char *p = jc_path_join(d, "trainer_state.json"), *txt = NULL;
    size_t len;
    jaclip_status rc = jc_read_file(p, 1 << 16, &txt, &len, err);
    free(p);
    if (rc) return jc_err_prefix(err, "--resume %s", d);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step"), *sd = cJSON_GetObjectItemCaseSensitive(j, "seed"),
                *b = cJSON_GetObjectItemCaseSensitive(j, "batch"), *a = cJSON_GetObjectItemCaseSensitive(j, "accum");
    if (!cJSON_IsNumber(s) || !cJSON_IsNumber(sd) || !cJSON_IsNumber(b) || !cJSON_IsNumber(a)) {
        cJSON_Delete(j);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s/trainer_state.json: missing step/seed/batch/accum", d);
    }
    if ((uint64_t)sd->valuedouble != t->o->seed || (int)b->valuedouble != t->o->batch ||
        (int)a->valuedouble != t->o->accum) {
        rc = jc_err(err, JACLIP_ERR_ARG,
                    "%s was trained with seed %llu, batch %d, accum %d; resume with the same values (got %llu, %d, %d)",
                    d, (unsigned long long)sd->valuedouble, (int)b->valuedouble, (int)a->valuedouble,
                    (unsigned long long)t->o->seed, t->o->batch, t->o->accum);
    }
    t->opt.step = (int64_t)s->valuedouble;
    cJSON_Delete(j);
    if (rc) return rc;
    p = jc_path_join(d, "model.safetensors");
    rc = jc_clip_load_weights(t->c, p, err);
    free(p);
    if (!rc) rc = load_moments(t, d, "optimizer.m.safetensors", "adam.m.", t->opt.m, err);
    if (!rc) rc = load_moments(t, d, "optimizer.v.safetensors", "adam.v.", t->opt.v, err);
    return rc;
}

/* ---- zero-shot evaluation ------------------------------------------------------------------- */
static jaclip_status zeroshot(trainer *t, double *top1, jaclip_err *err)
{
    const jc_dataset *ds = &t->eval;
    jc_clip *c = t->c;
    int dim = c->dim, C = ds->n_classes, M = ds->n_templates;
    int n = t->o->eval_samples > 0 && t->o->eval_samples < ds->n ? t->o->eval_samples : ds->n;
    const int CH = 64;
    int S = t->ip.image_size;
    float *W = calloc((size_t)C * dim, sizeof(float)), *f = malloc(sizeof(float) * (size_t)CH * dim);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)CH * JACLIP_MAX_TEXT_LEN);
    int *seg = malloc(sizeof(int) * (CH + 1));
    float *chw = malloc(sizeof(float) * (size_t)CH * 3 * S * S);
    uint8_t *rgb = malloc((size_t)S * S * 3);
    int *lab = malloc(sizeof(int) * CH);
    jaclip_status rc = (W && f && ids && seg && chw && rgb && lab) ? JACLIP_OK : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    /* class weights: mean over templates of normalised text features, normalised */
    for (int k = 0; !rc && k < C; k++) {
        for (int m0 = 0; !rc && m0 < M; m0 += CH) {
            int b = M - m0 < CH ? M - m0 : CH;
            seg[0] = 0;
            for (int q = 0; !rc && q < b; q++) {
                const char *tpl = ds->templates[m0 + q], *name = ds->classnames[k];
                char cap[1024];
                size_t o = 0;
                for (const char *p = tpl; *p && o + strlen(name) + 2 < sizeof cap;)
                    if (strncmp(p, "{c}", 3) == 0) memcpy(cap + o, name, strlen(name)), o += strlen(name), p += 3;
                    else cap[o++] = *p++;
                cap[o] = 0;
                int L;
                rc = jaclip_tokenize(t->tok, cap, o, ids + seg[q], JACLIP_MAX_TEXT_LEN, &L, err);
                seg[q + 1] = seg[q] + L;
            }
            if (!rc) rc = jc_clip_embed_texts(c, ids, seg, b, f, err);
            if (rc) break;
            jaclip_l2_normalize(f, b, dim);
            for (int q = 0; q < b; q++)
                for (int e = 0; e < dim; e++) W[(size_t)k * dim + e] += f[(size_t)q * dim + e];
        }
    }
    if (!rc) jaclip_l2_normalize(W, C, dim);
    int64_t correct = 0;
    for (int i0 = 0; !rc && i0 < n; i0 += CH) {
        int b = n - i0 < CH ? n - i0 : CH;
        for (int q = 0; !rc && q < b; q++) {
            rc = jc_dataset_pixels(ds, i0 + q, &t->ip, false, rgb, chw + (size_t)q * 3 * S * S, err);
            lab[q] = ds->s[i0 + q].cls;
        }
        if (!rc) rc = jc_clip_embed_images(c, chw, b, f, err);
        for (int q = 0; !rc && q < b; q++) {
            int best = 0;
            double bv = -INFINITY;
            for (int k = 0; k < C; k++) {
                double s = 0;
                for (int e = 0; e < dim; e++) s += (double)f[(size_t)q * dim + e] * W[(size_t)k * dim + e];
                if (s > bv) bv = s, best = k;
            }
            correct += best == lab[q];
        }
    }
    *top1 = n > 0 ? (double)correct / n : 0;
    free(W), free(f), free(ids), free(seg), free(chw), free(rgb), free(lab);
    return rc;
}

static void fmt_time(char *b, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) snprintf(b, n, "?");
    else if (s >= 3600) snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static jaclip_status run_eval(trainer *t, int64_t step, jaclip_err *err)
{
    double t0 = jc_now(), top1;
    jaclip_status rc = zeroshot(t, &top1, err);
    if (rc) return jc_err_prefix(err, "zero-shot evaluation on %s/%s", t->eval.root, t->eval.split);
    int n = t->o->eval_samples > 0 && t->o->eval_samples < t->eval.n ? t->o->eval_samples : t->eval.n;
    printf("eval step %lld  zero-shot top-1 %.2f%% on %d images of %s/%s (%d classes x %d templates)  %.0fs\n",
           (long long)step, 100 * top1, n, t->eval.root, t->eval.split, t->eval.n_classes, t->eval.n_templates,
           jc_now() - t0);
    fflush(stdout);
    if (t->log) {
        fprintf(t->log, "{\"step\": %lld, \"zeroshot_top1\": %.6f, \"eval_images\": %d}\n", (long long)step, top1, n);
        fflush(t->log);
    }
    return JACLIP_OK;
}

/* ---- micro-batches kept for the accumulation's second pass ---------------------------------- */
typedef struct kept_batch {
    jc_batch b;
    size_t cap_pix, cap_ids;
    int cap_seg;
} kept_batch;

static jaclip_status keep_batch(kept_batch *k, const jc_batch *b, int image_size, jaclip_err *err)
{
    size_t np = (size_t)b->B * 3 * image_size * image_size, ni = (size_t)b->seg[b->B];
    if (np > k->cap_pix) {
        free(k->b.pixels);
        k->b.pixels = malloc(np * sizeof(float));
        k->cap_pix = k->b.pixels ? np : 0;
    }
    if (ni > k->cap_ids) {
        free(k->b.ids);
        k->b.ids = malloc(ni * sizeof(int32_t));
        k->cap_ids = k->b.ids ? ni : 0;
    }
    if (b->B + 1 > k->cap_seg) {
        free(k->b.seg);
        k->b.seg = malloc(sizeof(int) * (size_t)(b->B + 1));
        k->cap_seg = k->b.seg ? b->B + 1 : 0;
    }
    if ((np && !k->b.pixels) || (ni && !k->b.ids) || !k->b.seg)
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory keeping a micro-batch of %d pairs", b->B);
    k->b.B = b->B;
    memcpy(k->b.pixels, b->pixels, np * sizeof(float));
    memcpy(k->b.ids, b->ids, ni * sizeof(int32_t));
    memcpy(k->b.seg, b->seg, sizeof(int) * (size_t)(b->B + 1));
    return JACLIP_OK;
}

/* ---- the run -------------------------------------------------------------------------------- */
static jaclip_status setup(trainer *t, jaclip_err *err)
{
    const jc_train_opts *o = t->o;
    if (!o->model || !o->data || !o->out)
        return jc_err(err, JACLIP_ERR_ARG, "--model DIR, --data ROOT and --out DIR are required");
    if (o->batch < 2 || o->accum < 1)
        return jc_err(err, JACLIP_ERR_ARG, "--batch must be >= 2 (contrastive pairs need negatives), --accum >= 1");
    if (!(o->lr > 0) || o->min_lr < 0 || o->clip < 0 || o->weight_decay < 0 || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return jc_err(err, JACLIP_ERR_ARG, "optimizer settings out of range (lr > 0, 0 <= beta < 1, eps > 0, ...)");
    jaclip_status rc = jaclip_pool_create(o->threads, &t->pool, err);
    if (!rc) rc = jc_config_load(o->model, &t->cfg, err);
    if (rc) return rc;
    if (t->cfg.image_size != t->cfg.vision.img_size)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: preprocessor image_size %d differs from the vision img_size %d",
                      o->model, t->cfg.image_size, t->cfg.vision.img_size);
    t->ip = jaclip_image_default_params();
    t->ip.image_size = t->cfg.image_size;
    rc = jaclip_image_set_normalization(&t->ip, t->cfg.normalization_type, err);
    t->tok_path = o->tokenizer ? jc_strdup(o->tokenizer) : jc_path_join(o->model, "spiece.model");
    if (!rc && !jc_file_exists(t->tok_path))
        rc = jc_err(err, JACLIP_ERR_IO, "%s: tokenizer not found (pass --tokenizer FILE)", t->tok_path);
    if (!rc) rc = jaclip_tokenizer_load(t->tok_path, &t->tok, err);
    if (!rc) rc = jc_clip_create(&t->cfg, o->model, t->pool, &t->c, err);
    if (rc) return rc;
    t->opt = (jc_adamw){.lr = o->lr, .min_lr = o->min_lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
                        .weight_decay = o->weight_decay, .clip_norm = o->clip};
    t->opt.m = jc_malloc_aligned(t->c->total * sizeof(float));
    t->opt.v = jc_malloc_aligned(t->c->total * sizeof(float));
    if (!t->opt.m || !t->opt.v) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the optimizer state");
    memset(t->opt.m, 0, t->c->total * sizeof(float));
    memset(t->opt.v, 0, t->c->total * sizeof(float));
    char *wp = jc_path_join(o->model, "model.safetensors");
    if (o->resume) {
        rc = load_resume(t, err);
    } else if (!o->scratch && jc_file_exists(wp)) {
        rc = jc_clip_load_weights(t->c, wp, err);
    } else {
        jc_clip_init_random(t->c, o->seed);
    }
    free(wp);
    if (!rc) rc = jc_dataset_open(o->data, o->split, &t->train, err);
    if (!rc && o->eval_data) {
        rc = jc_dataset_open(o->eval_data, o->eval_split, &t->eval, err);
        if (!rc && (t->eval.n_classes == 0 || t->eval.n_templates == 0 || t->eval.s[0].cls < 0))
            rc = jc_err(err, JACLIP_ERR_FORMAT,
                        "%s/%s: zero-shot evaluation needs class labels (.cls), classnames.txt and "
                        "zeroshot_classification_templates.txt",
                        o->eval_data, o->eval_split);
        t->have_eval = rc == JACLIP_OK;
    }
    if (rc) return rc;
    int64_t per = jc_loader_per_epoch(&t->train, o->batch);
    if (per < 1)
        return jc_err(err, JACLIP_ERR_ARG, "%s/%s has %d samples, fewer than one batch of %d", o->data, o->split,
                      t->train.n, o->batch);
    t->opt.total_steps = o->steps > 0 ? o->steps : (int64_t)ceil(o->epochs * (double)per / o->accum);
    if (t->opt.total_steps < 1) t->opt.total_steps = 1;
    t->opt.warmup = o->warmup >= 0 ? o->warmup : (int64_t)(o->warmup_frac * (double)t->opt.total_steps);
    if (t->opt.step > t->opt.total_steps)
        return jc_err(err, JACLIP_ERR_ARG, "%s is at step %lld, past the %lld steps of this run", o->resume,
                      (long long)t->opt.step, (long long)t->opt.total_steps);
    return JACLIP_OK;
}

static void teardown(trainer *t)
{
    if (t->log) fclose(t->log);
    jc_dataset_close(&t->train);
    if (t->have_eval || t->eval.root) jc_dataset_close(&t->eval);
    jc_free_aligned(t->opt.m);
    jc_free_aligned(t->opt.v);
    jc_clip_free(t->c);
    if (t->tok) jaclip_tokenizer_free(t->tok);
    free(t->tok_path);
    if (t->pool) jaclip_pool_free(t->pool);
}

jaclip_status jc_train_run(const jc_train_opts *o, jaclip_err *err)
{
    trainer t = {.o = o};
    jc_loader *L = NULL;
    jaclip_status rc = setup(&t, err);
    if (!rc) rc = jc_mkdirs(o->out, err);
    if (!rc) {
        char *p = jc_path_join(o->out, "log.jsonl");
        t.log = fopen(p, o->resume ? "a" : "w");
        if (!t.log) rc = jc_err(err, JACLIP_ERR_IO, "%s: cannot open for writing", p);
        free(p);
    }
    int64_t start = t.opt.step, total = t.opt.total_steps;
    if (!rc) {
        size_t np = 0;
        for (int i = 0; i < t.c->n_params; i++) np += t.c->params[i].n;
        printf("train: %zu parameters; %d samples in %s/%s, %lld micro-batches of %d per epoch; %lld steps of "
               "%d x %d pairs (contrastive batch %d; %.2f epochs); lr %g, warm-up %lld, weight decay %g, clip %g%s\n",
               np, t.train.n, o->data, o->split, (long long)jc_loader_per_epoch(&t.train, o->batch), o->batch,
               (long long)total, o->accum, o->batch, o->accum * o->batch,
               (double)total * o->accum / jc_loader_per_epoch(&t.train, o->batch),
               o->lr, (long long)t.opt.warmup, o->weight_decay, o->clip, o->resume ? "; resumed" : "");
        if (o->resume) printf("resume: continuing at step %lld from %s\n", (long long)start, o->resume);
        fflush(stdout);
        jc_loader_opts lo = {.ds = &t.train, .tok = t.tok, .image = t.ip, .micro_batch = o->batch, .seed = o->seed,
                             .hflip = o->hflip, .first = start * o->accum};
        rc = jc_loader_start(&lo, &L, err);
    }
    double t0 = jc_now(), tlog = t0;
    int64_t done_since_log = 0;
    int64_t stop_at = o->stop_after > 0 && start + o->stop_after < total ? start + o->stop_after : total;
    /* --accum N: the N micro-batches of a step form one contrastive batch (accum.c); they are
     * kept (copied off the loader) for the second, backward pass */
    kept_batch *kept = NULL;
    const jc_batch **mb = NULL;
    if (!rc) {
        kept = o->accum > 1 ? calloc((size_t)o->accum, sizeof *kept) : NULL;
        mb = calloc((size_t)o->accum, sizeof *mb);
        if ((o->accum > 1 && !kept) || !mb) rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    for (int64_t step = start; !rc && step < stop_at; step++) {
        double loss = 0, acc = 0;
        for (int a = 0; !rc && a < o->accum; a++) {
            const jc_batch *b = NULL;
            rc = jc_loader_next(L, &b, err);
            if (!rc && kept) {
                rc = keep_batch(&kept[a], b, t.ip.image_size, err);
                b = &kept[a].b;
            }
            mb[a] = b;
        }
        jc_step_out so = {0};
        if (!rc) rc = jc_clip_step_accum(t.c, mb, o->accum, true, 1.0f, &so, err);
        if (!rc && !isfinite(so.loss))
            rc = jc_err(err, JACLIP_ERR_NUMERIC,
                        "step %lld: the loss is %s (contrastive batch of %d pairs, temperature %g, lr %g); "
                        "stopping without overwriting the last checkpoint",
                        (long long)step + 1, isnan(so.loss) ? "NaN" : "Inf", o->accum * o->batch,
                        (double)*t.c->temperature, jc_lr_at(&t.opt, step));
        loss = so.loss;
        acc = so.acc_i2t;
        if (rc) break;
        double lr = jc_lr_at(&t.opt, step);
        double gn = jc_adamw_step(&t.opt, t.c);
        done_since_log++;
        int64_t s1 = step + 1;
        fprintf(t.log, "{\"step\": %lld, \"loss\": %.9g, \"batch_acc\": %.4f, \"temperature\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g}\n",
                (long long)s1, loss, acc, (double)*t.c->temperature, lr, gn);
        if ((o->log_every > 0 && s1 % o->log_every == 0) || s1 == stop_at) {
            double now = jc_now(), ips = done_since_log * (double)o->batch * o->accum / (now - tlog);
            char eta[32], el[32];
            fmt_time(eta, sizeof eta, (double)(total - s1) * o->batch * o->accum / ips);
            fmt_time(el, sizeof el, now - t0);
            printf("step %lld/%lld  loss %.4f  batch-acc %.3f  temperature %.4f  lr %.3g  |g| %.3g  %.1f img/s  "
                   "elapsed %s  ETA %s\n",
                   (long long)s1, (long long)total, loss, acc, (double)*t.c->temperature, lr, gn, ips, el, eta);
            fflush(stdout);
            fflush(t.log);
            tlog = now;
            done_since_log = 0;
        }
        if (t.have_eval && o->eval_every > 0 && s1 % o->eval_every == 0 && s1 != total) rc = run_eval(&t, s1, err);
        if (!rc && ((o->ckpt_every > 0 && s1 % o->ckpt_every == 0) || s1 == stop_at)) rc = save_checkpoint(&t, err);
    }
    jc_loader_stop(L);
    for (int a = 0; kept && a < o->accum; a++) free(kept[a].b.pixels), free(kept[a].b.ids), free(kept[a].b.seg);
    free(kept);
    free(mb);
    if (!rc && t.have_eval && t.opt.step == total) rc = run_eval(&t, total, err);
    if (!rc) printf("done: step %lld/%lld, checkpoint in %s (jaclip embed --model %s ...)\n", (long long)t.opt.step,
                    (long long)total, o->out, o->out);
    teardown(&t);
    return rc;
}
